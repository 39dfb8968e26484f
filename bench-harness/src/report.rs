//! Presents a run: memtier's "ALL STATS" table, the latency distribution, and the JSON file
//! (memtier's layout plus the full HDR percentile distribution of every row).

use crate::args::BenchConfig;
use crate::runner::RunResult;
use crate::stats::OpStats;
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

/// Ticks per half-distance when walking the HDR histogram (HdrHistogram's usual 5).
const DISTRIBUTION_TICKS_PER_HALF: u32 = 5;

/// `99.9` → `"99.9"`, `50` → `"50"`: how memtier labels a percentile column.
fn percentile_label(p: f64) -> String {
    let s = format!("{p:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// The final table, memtier style.
pub fn table(cfg: &BenchConfig, result: &RunResult) -> String {
    let secs = result.elapsed.as_secs_f64();
    let mut header = format!(
        "{:<15}{:>12} {:>12} {:>12} {:>15}",
        "Type", "Ops/sec", "Hits/sec", "Misses/sec", "Avg. Latency"
    );
    for p in &cfg.print_percentiles {
        let _ = write!(
            header,
            " {:>15}",
            format!("p{} Latency", percentile_label(*p))
        );
    }
    let _ = write!(header, " {:>12}", "KB/sec");
    let rule_len = header.len();
    let mut out = String::new();
    let _ = writeln!(out, "\nALL STATS");
    let _ = writeln!(out, "{}", "=".repeat(rule_len));
    let _ = writeln!(out, "{header}");
    let _ = writeln!(out, "{}", "-".repeat(rule_len));
    let names = cfg.workload.op_names();
    let rows = result.ops.iter().zip(names.iter().copied());
    for (stats, name) in rows.chain([(&result.totals, "Totals")]) {
        let is_write_row = stats.hits == 0 && stats.misses == 0;
        let hm = |n: u64| {
            if is_write_row && name != "Totals" {
                "---".to_string()
            } else {
                format!("{:.2}", per_sec(n, secs))
            }
        };
        let mut line = format!(
            "{:<15}{:>12.2} {:>12} {:>12} {:>15.5}",
            name,
            per_sec(stats.ops, secs),
            hm(stats.hits),
            hm(stats.misses),
            stats.avg_latency_ms()
        );
        for p in &cfg.print_percentiles {
            let _ = write!(line, " {:>15.5}", stats.percentile_ms(*p));
        }
        let _ = write!(line, " {:>12.2}", per_sec(stats.bytes, secs) / 1024.0);
        let _ = writeln!(out, "{line}");
    }
    if result.totals.errors > 0 {
        let _ = writeln!(
            out,
            "\nWARNING: {} error replies; first: {}",
            result.totals.errors,
            result.first_error.as_deref().unwrap_or("?")
        );
    }
    if result.redirects > 0 {
        let _ = writeln!(out, "cluster redirects followed: {}", result.redirects);
    }
    out
}

/// The latency distribution of every row (memtier's "Request Latency Distribution").
pub fn histogram_text(cfg: &BenchConfig, result: &RunResult) -> String {
    let mut out = String::from("\nRequest Latency Distribution\n");
    let _ = writeln!(out, "{:<15}{:>12} {:>12}", "Type", "<= msec", "Percent");
    let _ = writeln!(out, "{}", "-".repeat(41));
    for (stats, name) in result.ops.iter().zip(cfg.workload.op_names()) {
        for (percent, ms, _) in distribution(stats) {
            let _ = writeln!(
                out,
                "{:<15}{:>12.3} {:>12.3}",
                name.to_uppercase(),
                ms,
                percent
            );
        }
        if stats.ops > 0 {
            let _ = writeln!(out, "---");
        }
    }
    out
}

/// (percent, latency ms, count in step) points of the full HDR distribution.
pub fn distribution(stats: &OpStats) -> Vec<(f64, f64, u64)> {
    if stats.ops == 0 {
        return Vec::new();
    }
    stats
        .hist
        .iter_quantiles(DISTRIBUTION_TICKS_PER_HALF)
        .map(|v| {
            (
                v.quantile_iterated_to() * 100.0,
                v.value_iterated_to() as f64 / 1000.0,
                v.count_since_last_iteration(),
            )
        })
        .collect()
}

fn row_json(cfg: &BenchConfig, stats: &OpStats, secs: f64) -> Value {
    let mut percentiles = Map::new();
    for p in &cfg.print_percentiles {
        percentiles.insert(format!("p{p:.2}"), json!(stats.percentile_ms(*p)));
    }
    let dist: Vec<Value> = distribution(stats)
        .into_iter()
        .map(|(percent, ms, count)| json!({"percent": percent, "<=msec": ms, "count": count}))
        .collect();
    let (min_ms, max_ms) = if stats.ops == 0 {
        (0.0, 0.0)
    } else {
        (
            stats.hist.min() as f64 / 1000.0,
            stats.hist.max() as f64 / 1000.0,
        )
    };
    json!({
        "Count": stats.ops,
        "Ops/sec": per_sec(stats.ops, secs),
        "Hits/sec": per_sec(stats.hits, secs),
        "Misses/sec": per_sec(stats.misses, secs),
        "Errors": stats.errors,
        "Latency": stats.avg_latency_ms(),
        "Average Latency": stats.avg_latency_ms(),
        "Min Latency": min_ms,
        "Max Latency": max_ms,
        "KB/sec": per_sec(stats.bytes, secs) / 1024.0,
        "Percentile Latencies": percentiles,
        "Percentile Distribution": dist,
    })
}

/// The JSON document `--json-out-file` writes.
pub fn json(cfg: &BenchConfig, result: &RunResult) -> Value {
    let secs = result.elapsed.as_secs_f64();
    let mut all = Map::new();
    for (stats, name) in result.ops.iter().zip(cfg.workload.op_names()) {
        all.insert(name.to_string(), row_json(cfg, stats, secs));
    }
    all.insert("Totals".into(), row_json(cfg, &result.totals, secs));
    json!({
        "configuration": {
            "tool": "keel-bench",
            "server": cfg.host,
            "port": cfg.port,
            "threads": cfg.threads,
            "clients": cfg.clients,
            "requests": cfg.requests,
            "test_time": cfg.test_time.map(|t| t.as_secs()),
            "ratio": format!("{}:{}", cfg.ratio.0, cfg.ratio.1),
            "pipeline": cfg.pipeline,
            "data_size": cfg.data_size,
            "key_prefix": cfg.key_prefix,
            "key_minimum": cfg.key_min,
            "key_maximum": cfg.key_max,
            "cluster_mode": cfg.cluster_mode,
            "rate": cfg.rate,
            "workload": cfg.workload.name(),
        },
        "run information": {
            "Total duration": result.elapsed.as_secs_f64() * 1000.0,
            "Connections": cfg.threads * cfg.clients,
            "Cluster redirects": result.redirects,
            "First error": result.first_error,
        },
        "ALL STATS": all,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_match_memtier() {
        assert_eq!(percentile_label(50.0), "50");
        assert_eq!(percentile_label(99.9), "99.9");
        assert_eq!(percentile_label(99.99), "99.99");
    }
}
