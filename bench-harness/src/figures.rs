//! The headline figures of one run, read back from a keel-bench or memtier_benchmark JSON file,
//! and their medians over several runs.

use serde_json::Value;

/// What `compare` reports per run. Latencies in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub ops_per_sec: f64,
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// Cores the server kept busy over the run (its CPU seconds over the run's seconds; 1.0: one
    /// core saturated); 0 where not measured.
    pub server_cores: f64,
    /// Cores the load generator kept busy, likewise; near its thread count, the load was the
    /// limit rather than the server.
    pub load_cores: f64,
    /// Share of the load's cores' time that nothing ran there (neither the load nor the kernel's
    /// work, such as the disk's completions, which can land there too); near 0 the load side was
    /// saturated, and the figures show the machine's limit more than the server's. NaN where the
    /// load was not pinned.
    pub load_cores_idle: f64,
    /// (percent, latency ms) points of the whole latency distribution.
    pub distribution: Vec<(f64, f64)>,
}

fn number(v: &Value, what: &str) -> Result<f64, String> {
    v.as_f64()
        .ok_or_else(|| format!("results JSON: {what} is missing or not a number"))
}

/// Reads the "Totals" row of a results file (keel-bench's or memtier's layout).
pub fn from_json(doc: &Value) -> Result<Figures, String> {
    let all = &doc["ALL STATS"];
    let totals = &all["Totals"];
    if totals.is_null() {
        return Err("results JSON has no \"ALL STATS\".Totals".into());
    }
    let pct = &totals["Percentile Latencies"];
    let pick = |keys: &[&str]| -> Result<f64, String> {
        keys.iter()
            .find_map(|k| pct[*k].as_f64())
            .ok_or_else(|| format!("results JSON: Totals percentile {} missing", keys[0]))
    };
    let avg = if totals["Average Latency"].is_number() {
        &totals["Average Latency"]
    } else {
        &totals["Latency"]
    };
    Ok(Figures {
        ops_per_sec: number(&totals["Ops/sec"], "Totals.Ops/sec")?,
        avg_ms: number(avg, "Totals.Latency")?,
        p50_ms: pick(&["p50.00", "p50.0", "p50"])?,
        p99_ms: pick(&["p99.00", "p99.0", "p99"])?,
        p999_ms: pick(&["p99.90", "p99.9"])?,
        server_cores: 0.0,
        load_cores: 0.0,
        load_cores_idle: f64::NAN,
        distribution: distribution(all, totals),
    })
}

/// The Totals distribution keel-bench writes; for memtier files, the biggest per-command
/// distribution array ("GET", "SET", ...) stands in.
fn distribution(all: &Value, totals: &Value) -> Vec<(f64, f64)> {
    let points = |arr: &Vec<Value>| -> Vec<(f64, f64)> {
        arr.iter()
            .filter_map(|p| Some((p["percent"].as_f64()?, p["<=msec"].as_f64()?)))
            .collect()
    };
    if let Some(arr) = totals["Percentile Distribution"].as_array() {
        return points(arr);
    }
    all.as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_array)
        .map(points)
        .max_by_key(Vec::len)
        .unwrap_or_default()
}

/// The median of `values` (mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Per-metric medians over `runs`; the distribution is that of the run with median ops/s.
pub fn median_of(runs: &[Figures]) -> Option<Figures> {
    let pick = |f: fn(&Figures) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let ops = pick(|f| f.ops_per_sec);
    let middle_run = runs.iter().min_by(|a, b| {
        (a.ops_per_sec - ops)
            .abs()
            .total_cmp(&(b.ops_per_sec - ops).abs())
    })?;
    Some(Figures {
        ops_per_sec: ops,
        avg_ms: pick(|f| f.avg_ms),
        p50_ms: pick(|f| f.p50_ms),
        p99_ms: pick(|f| f.p99_ms),
        p999_ms: pick(|f| f.p999_ms),
        server_cores: pick(|f| f.server_cores),
        load_cores: pick(|f| f.load_cores),
        load_cores_idle: pick(|f| f.load_cores_idle),
        distribution: middle_run.distribution.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn median_handles_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn reads_memtier_style_totals() {
        let doc = json!({"ALL STATS": {
            "Totals": {"Ops/sec": 1000.0, "Latency": 0.5,
                "Percentile Latencies": {"p50.00": 0.4, "p99.00": 1.0, "p99.90": 2.0}},
            "GET": [{"<=msec": 0.4, "percent": 50.0}, {"<=msec": 2.0, "percent": 100.0}]
        }});
        let f = from_json(&doc).unwrap();
        assert_eq!((f.ops_per_sec, f.p999_ms), (1000.0, 2.0));
        assert_eq!(f.distribution.len(), 2);
    }

    #[test]
    fn missing_totals_is_an_error_not_a_panic() {
        assert!(from_json(&json!({})).is_err());
        assert!(from_json(&json!({"ALL STATS": {"Totals": {"Ops/sec": "x"}}})).is_err());
    }
}
