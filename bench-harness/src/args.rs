//! The load generator's command line, in memtier_benchmark's vocabulary, parsed into a
//! validated [`BenchConfig`]. Bad input yields a message naming the flag, never a panic.

use crate::keys::KeyPattern;
use crate::limits::*;
use crate::workload::Workload;
use std::path::PathBuf;
use std::time::Duration;

/// Everything one load run needs.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub host: String,
    pub port: u16,
    pub threads: usize,
    /// Connections per thread.
    pub clients: usize,
    /// Requests per client; `u64::MAX` when `test_time` is set.
    pub requests: u64,
    pub test_time: Option<Duration>,
    /// SET:GET weights for the default workload.
    pub ratio: (u32, u32),
    pub pipeline: usize,
    pub data_size: usize,
    pub key_prefix: String,
    /// Key pattern for writes, then for reads.
    pub key_pattern: (KeyPattern, KeyPattern),
    pub key_min: u64,
    pub key_max: u64,
    pub distinct_client_seed: bool,
    pub randomize: bool,
    pub cluster_mode: bool,
    pub print_percentiles: Vec<f64>,
    pub json_out_file: Option<PathBuf>,
    pub hide_histogram: bool,
    /// Total open-loop request rate across all clients, requests per second.
    pub rate: Option<u64>,
    pub workload: Workload,
    /// Suppress the live per-second line.
    pub quiet: bool,
}

impl Default for BenchConfig {
    /// memtier_benchmark's defaults.
    fn default() -> Self {
        BenchConfig {
            host: "127.0.0.1".into(),
            port: 6379,
            threads: 4,
            clients: 50,
            requests: 10_000,
            test_time: None,
            ratio: (1, 10),
            pipeline: 1,
            data_size: 32,
            key_prefix: "memtier-".into(),
            key_pattern: (KeyPattern::Random, KeyPattern::Random),
            key_min: 0,
            key_max: 10_000_000,
            distinct_client_seed: false,
            randomize: false,
            cluster_mode: false,
            print_percentiles: vec![50.0, 99.0, 99.9],
            json_out_file: None,
            hide_histogram: false,
            rate: None,
            workload: Workload::MemtierMix,
            quiet: false,
        }
    }
}

pub const USAGE: &str = "\
keel-bench: a memtier_benchmark-compatible load generator for Redis-protocol servers

USAGE:
  keel-bench [OPTIONS]            run load against one server (or cluster)
  keel-bench compare [OPTIONS]    start redis-server and keel, run the same load on each
  keel-bench compare --help       options of compare

OPTIONS (memtier_benchmark's names and defaults):
  -s, --server HOST          server host (default 127.0.0.1)
  -p, --port PORT            server port (default 6379)
  -t, --threads N            load threads, each pinned to its own core (default 4)
  -c, --clients N            connections per thread (default 50)
  -n, --requests N           requests per client (default 10000)
      --test-time SECS       run for SECS seconds instead of a request count
      --ratio SET:GET        SET:GET ratio for the default workload (default 1:10)
      --pipeline N           requests in flight per client (default 1)
  -d, --data-size BYTES      value size (default 32)
      --key-prefix STR       key prefix (default \"memtier-\")
      --key-pattern W:R      key pattern for writes:reads; R random, S sequential,
                             G gaussian, P parallel (client's slice of the range) (default R:R)
      --key-minimum N        lowest key index (default 0)
      --key-maximum N        highest key index (default 10000000; workloads other than
                             the default pick a smaller one unless given)
      --distinct-client-seed give each client its own random seed
      --randomize            seed from the clock instead of a fixed seed
      --cluster-mode         read CLUSTER SLOTS, route keys by hash slot, follow -MOVED/-ASK
      --print-percentiles L  comma-separated percentiles (default 50,99,99.9)
      --json-out-file F      write the results as JSON (memtier's layout, plus the
                             full HDR percentile distribution)
      --hide-histogram       don't print the latency distribution
      --rate N               open loop: N requests/s in total across all clients; latency is
                             measured from each request's intended send time
      --workload NAME        memtier (default SET:GET mix), durable-write, orderbook,
                             leaderboard, session
      --quiet                no live per-second line
  -h, --help                 this text
";

/// Splits `--name=value` and `-xVALUE` forms, then hands out values for flags that need one.
pub struct ArgCursor {
    args: Vec<String>,
    pos: usize,
    inline: Option<String>,
}

impl ArgCursor {
    pub fn new(args: Vec<String>) -> ArgCursor {
        ArgCursor {
            args,
            pos: 0,
            inline: None,
        }
    }

    /// The next flag name, e.g. `--port` or `-p`; `Err` for a stray positional argument.
    pub fn next_flag(&mut self) -> Result<Option<String>, String> {
        if let Some(v) = self.inline.take() {
            return Err(format!("unexpected value {v:?}"));
        }
        let Some(arg) = self.args.get(self.pos).cloned() else {
            return Ok(None);
        };
        self.pos += 1;
        if let Some(long) = arg.strip_prefix("--") {
            if let Some((name, value)) = long.split_once('=') {
                self.inline = Some(value.to_string());
                return Ok(Some(format!("--{name}")));
            }
            return Ok(Some(arg));
        }
        if arg.starts_with('-') && arg.len() > 1 {
            let (name, rest) = arg.split_at(2);
            if !rest.is_empty() {
                self.inline = Some(rest.trim_start_matches('=').to_string());
            }
            return Ok(Some(name.to_string()));
        }
        Err(format!("unexpected argument {arg:?}"))
    }

    /// The value of the flag just returned by `next_flag`.
    pub fn value(&mut self, flag: &str) -> Result<String, String> {
        if let Some(v) = self.inline.take() {
            return Ok(v);
        }
        let v = self
            .args
            .get(self.pos)
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value"))?;
        self.pos += 1;
        Ok(v)
    }

    /// Refuses an inline value given to a flag that takes none (`--hide-histogram=1`).
    pub fn no_value(&mut self, flag: &str) -> Result<(), String> {
        match self.inline.take() {
            Some(v) => Err(format!("{flag} takes no value (got {v:?})")),
            None => Ok(()),
        }
    }
}

/// Parses a number and checks it lies in `min..=max`.
pub fn number<T>(flag: &str, text: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let v: T = text
        .trim()
        .parse()
        .map_err(|_| format!("{flag}: {text:?} is not a valid number"))?;
    if v < min || v > max {
        return Err(format!("{flag}: {v} is out of range {min}..={max}"));
    }
    Ok(v)
}

fn parse_ratio(text: &str) -> Result<(u32, u32), String> {
    let (s, g) = text
        .split_once(':')
        .ok_or_else(|| format!("--ratio: expected SET:GET, got {text:?}"))?;
    let s = number("--ratio", s, 0u32, 1_000_000)?;
    let g = number("--ratio", g, 0u32, 1_000_000)?;
    if s == 0 && g == 0 {
        return Err("--ratio: 0:0 sends nothing".into());
    }
    Ok((s, g))
}

fn parse_key_pattern(text: &str) -> Result<(KeyPattern, KeyPattern), String> {
    let (w, r) = text
        .split_once(':')
        .ok_or_else(|| format!("--key-pattern: expected e.g. R:R or S:S, got {text:?}"))?;
    Ok((KeyPattern::parse(w)?, KeyPattern::parse(r)?))
}

fn parse_percentiles(text: &str) -> Result<Vec<f64>, String> {
    let list: Vec<f64> = text
        .split(',')
        .map(|p| number("--print-percentiles", p, 0.0f64, 100.0))
        .collect::<Result<_, _>>()?;
    if list.is_empty() || list.len() > PRINT_PERCENTILES_MAX {
        return Err(format!(
            "--print-percentiles: give 1 to {PRINT_PERCENTILES_MAX} percentiles"
        ));
    }
    Ok(list)
}

/// What the command line asked for.
pub enum Parsed {
    Run(Box<BenchConfig>),
    Help,
}

/// Parses the load generator's flags (everything after the program name).
pub fn parse(args: Vec<String>) -> Result<Parsed, String> {
    let mut c = BenchConfig::default();
    let mut key_max_given = false;
    let mut cur = ArgCursor::new(args);
    while let Some(flag) = cur.next_flag()? {
        let f = flag.as_str();
        match f {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-s" | "--server" => c.host = cur.value(f)?,
            "-p" | "--port" => c.port = number(f, &cur.value(f)?, 1u16, u16::MAX)?,
            "-t" | "--threads" => c.threads = number(f, &cur.value(f)?, 1, THREADS_MAX)?,
            "-c" | "--clients" => c.clients = number(f, &cur.value(f)?, 1, CLIENTS_PER_THREAD_MAX)?,
            "-n" | "--requests" => {
                let v = cur.value(f)?;
                if v == "allkeys" {
                    return Err("-n allkeys is not supported; give a request count".into());
                }
                c.requests = number(f, &v, 1u64, u64::MAX / 2)?;
            }
            "--test-time" => {
                let secs = number(f, &cur.value(f)?, 1u64, TEST_TIME_SECS_MAX)?;
                c.test_time = Some(Duration::from_secs(secs));
            }
            "--ratio" => c.ratio = parse_ratio(&cur.value(f)?)?,
            "--pipeline" => c.pipeline = number(f, &cur.value(f)?, 1, PIPELINE_MAX)?,
            "-d" | "--data-size" => {
                c.data_size = number(f, &cur.value(f)?, 1, DATA_SIZE_BYTES_MAX)?
            }
            "--key-prefix" => c.key_prefix = cur.value(f)?,
            "--key-pattern" => c.key_pattern = parse_key_pattern(&cur.value(f)?)?,
            "--key-minimum" => c.key_min = number(f, &cur.value(f)?, 0u64, u64::MAX / 2)?,
            "--key-maximum" => {
                c.key_max = number(f, &cur.value(f)?, 0u64, u64::MAX / 2)?;
                key_max_given = true;
            }
            "--distinct-client-seed" => {
                cur.no_value(f)?;
                c.distinct_client_seed = true
            }
            "--randomize" => {
                cur.no_value(f)?;
                c.randomize = true
            }
            "--cluster-mode" => {
                cur.no_value(f)?;
                c.cluster_mode = true
            }
            "--hide-histogram" => {
                cur.no_value(f)?;
                c.hide_histogram = true
            }
            "--quiet" => {
                cur.no_value(f)?;
                c.quiet = true
            }
            "--print-percentiles" => c.print_percentiles = parse_percentiles(&cur.value(f)?)?,
            "--json-out-file" => c.json_out_file = Some(PathBuf::from(cur.value(f)?)),
            "--rate" => c.rate = Some(number(f, &cur.value(f)?, 1u64, RATE_PER_SEC_MAX)?),
            "--workload" => c.workload = Workload::parse(&cur.value(f)?)?,
            other => return Err(format!("unknown option {other:?} (see --help)")),
        }
    }
    if !key_max_given {
        c.key_max = c.workload.default_key_maximum().unwrap_or(c.key_max);
    }
    if c.key_min > c.key_max {
        return Err(format!(
            "--key-minimum {} is above --key-maximum {}",
            c.key_min, c.key_max
        ));
    }
    if c.test_time.is_some() {
        c.requests = u64::MAX; // as in memtier, --test-time overrides -n
    }
    if c.workload == Workload::DurableWrite {
        c.ratio = (1, 0);
    }
    if c.host.is_empty() {
        return Err("--server: empty host".into());
    }
    Ok(Parsed::Run(Box::new(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<BenchConfig, String> {
        match parse(args.iter().map(|s| s.to_string()).collect())? {
            Parsed::Run(c) => Ok(*c),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn memtier_command_lines_carry_over() {
        let c = run(&[
            "-s",
            "127.0.0.1",
            "-p6380",
            "--threads=2",
            "-c",
            "50",
            "--ratio=1:1",
            "--pipeline",
            "16",
            "--key-pattern=S:R",
            "--hide-histogram",
            "--print-percentiles",
            "50,99.99",
        ])
        .unwrap();
        assert_eq!(c.port, 6380);
        assert_eq!(c.threads, 2);
        assert_eq!(c.ratio, (1, 1));
        assert_eq!(c.pipeline, 16);
        assert_eq!(c.key_pattern, (KeyPattern::Sequential, KeyPattern::Random));
        assert_eq!(c.print_percentiles, vec![50.0, 99.99]);
    }

    #[test]
    fn bad_values_name_the_flag() {
        assert!(run(&["--pipeline", "0"])
            .unwrap_err()
            .contains("--pipeline"));
        assert!(run(&["--pipeline", "99999"])
            .unwrap_err()
            .contains("--pipeline"));
        assert!(run(&["-p", "http"]).unwrap_err().contains("-p"));
        assert!(run(&["--ratio", "1-10"]).unwrap_err().contains("--ratio"));
        assert!(run(&["--key-pattern", "X:R"]).is_err());
        assert!(run(&["--bogus"]).unwrap_err().contains("--bogus"));
        assert!(run(&["--threads"]).unwrap_err().contains("needs a value"));
        assert!(run(&["--key-minimum", "5", "--key-maximum", "4"]).is_err());
        assert!(run(&["--hide-histogram=yes"]).is_err());
        assert!(run(&["stray"]).is_err());
    }

    #[test]
    fn durable_write_sends_only_sets() {
        let c = run(&["--workload", "durable-write"]).unwrap();
        assert_eq!(c.ratio, (1, 0));
    }
}
