//! Configuration: a redis.conf-style file plus `--directive value` overrides, with Redis's directive
//! names where Redis has one. One table (`DIRECTIVES`) drives parsing, `CONFIG GET` and `CONFIG SET`.

mod directives;
pub mod pubsub;

pub use directives::{AppendFsync, LogLevel};

use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16,
    pub bind: Vec<String>,
    pub dir: PathBuf,
    /// Number of shards (executors); defaults to the CPUs this process may use.
    pub shards: usize,
    pub cluster_enabled: bool,
    /// Port of shard 0 in cluster mode; shard `i` listens on `cluster_port + i`. Default `port + 1`.
    pub cluster_port: Option<u16>,
    /// The address cluster clients are told to connect to (`cluster-announce-ip`); default: bind.
    pub cluster_announce_ip: Option<String>,
    pub databases: usize,
    pub maxclients: usize,
    pub timeout_s: u64,
    pub proto_max_bulk_len: usize,
    pub client_query_buffer_limit: usize,
    pub loglevel: LogLevel,
    pub logfile: String,
    pub appendonly: bool,
    pub appendfsync: AppendFsync,
    /// Size of each preallocated journal segment file.
    pub journal_segment_bytes: u64,
    pub hz: u32,
    /// Move a main-port connection to the shard its commands keep going to.
    pub steer_connections: bool,
    /// Per-command latency histograms (`LATENCY HISTOGRAM`, `INFO latencystats`).
    pub latency_tracking: bool,
    /// Whether the cron moves keys of resizing slot tables (`activerehashing`).
    pub active_rehashing: bool,
    /// The percentiles `INFO latencystats` prints, each in 0..=100.
    pub latency_tracking_info_percentiles: Vec<f64>,
    /// Commands taking at least this long go to the slow log; -1 logs none, 0 logs all.
    pub slowlog_log_slower_than_us: i64,
    /// Entries each shard's slow log keeps; the oldest is dropped past it.
    pub slowlog_max_len: usize,
    /// Events at least this long are recorded for `LATENCY LATEST`; 0 records none.
    pub latency_monitor_threshold_ms: u64,
    /// Automatic snapshots: the journal must have grown by more than this many bytes since the
    /// last snapshot ...
    pub auto_aof_rewrite_min_size: u64,
    /// ... and by this percentage of the last snapshot's size (0: no automatic snapshots).
    pub auto_aof_rewrite_percentage: u64,
    /// Which keyspace events are published (`pubsub::notify` bits).
    pub notify_keyspace_events: u32,
    /// Pending pushed output each client class may have (`client-output-buffer-limit`).
    pub client_output_buffer_limit: pubsub::OutputLimits,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            port: 6379,
            bind: vec!["127.0.0.1".into()],
            dir: PathBuf::from("./data"),
            shards: crate::runtime::executor::available_cpus().len(),
            cluster_enabled: false,
            cluster_port: None,
            cluster_announce_ip: None,
            databases: 16,
            maxclients: 10000,
            timeout_s: 0,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            loglevel: LogLevel::Notice,
            logfile: String::new(),
            appendonly: true,
            appendfsync: AppendFsync::Always,
            journal_segment_bytes: 64 * 1024 * 1024,
            hz: 10,
            steer_connections: true,
            latency_tracking: true,
            active_rehashing: true,
            latency_tracking_info_percentiles: vec![50.0, 99.0, 99.9],
            slowlog_log_slower_than_us: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold_ms: 0,
            auto_aof_rewrite_min_size: 64 * 1024 * 1024,
            auto_aof_rewrite_percentage: 100,
            notify_keyspace_events: 0,
            client_output_buffer_limit: pubsub::DEFAULT_OUTPUT_LIMITS,
        }
    }
}

/// Most shards one node runs (one per core; more would only share cores).
pub const SHARDS_MAX: usize = 1024;

impl Config {
    /// Parses `keel [CONFIG_FILE] [--directive value ...]`, as redis-server does.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut config = Config::default();
        let mut rest = args;
        if let Some(first) = rest.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first)
                    .map_err(|e| format!("cannot read config file '{first}': {e}"))?;
                for (n, line) in text.lines().enumerate() {
                    let words = split_config_line(line).ok_or_else(|| {
                        format!("config file {first}, line {}: unbalanced quotes", n + 1)
                    })?;
                    if let Some((name, values)) = words.split_first() {
                        config
                            .set(name, values)
                            .map_err(|e| format!("config file {first}, line {}: {e}", n + 1))?;
                    }
                }
                rest = &rest[1..];
            }
        }
        let mut i = 0;
        while i < rest.len() {
            let Some(name) = rest[i].strip_prefix("--") else {
                return Err(format!(
                    "unexpected argument '{}': directives are written --name value",
                    rest[i]
                ));
            };
            let mut j = i + 1;
            while j < rest.len() && !rest[j].starts_with("--") {
                j += 1;
            }
            config.set(name, &rest[i + 1..j])?;
            i = j;
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.shards == 0 || self.shards > SHARDS_MAX {
            return Err(format!("'shards' must be between 1 and {SHARDS_MAX}"));
        }
        if self.cluster_enabled && self.cluster_port() as usize + self.shards > 65536 {
            return Err("cluster shard ports would run past 65535".into());
        }
        Ok(())
    }

    /// Sets one directive from its words, by name (case-insensitive).
    pub fn set(&mut self, name: &str, values: &[String]) -> Result<(), String> {
        let directive =
            directives::find(name).ok_or_else(|| format!("unknown directive '{name}'"))?;
        (directive.set)(self, values)
            .map_err(|e| format!("bad value for '{}': {e}", directive.name))
    }

    pub fn cluster_port(&self) -> u16 {
        self.cluster_port.unwrap_or(self.port.wrapping_add(1))
    }

    pub fn shard_port(&self, shard: usize) -> u16 {
        self.cluster_port() + shard as u16
    }

    /// The IP written into `CLUSTER SLOTS`/`NODES` replies.
    pub fn announce_ip(&self) -> String {
        self.cluster_announce_ip.clone().unwrap_or_else(|| {
            match self.bind.first().map(String::as_str) {
                None | Some("0.0.0.0") | Some("*") => "127.0.0.1".into(),
                Some(ip) => ip.into(),
            }
        })
    }

    /// `CONFIG GET`: every (name, value) whose name matches the glob `pattern`.
    pub fn get_matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        directives::DIRECTIVES
            .iter()
            .filter(|d| crate::keyspace::pattern::glob_match(pattern, d.name.as_bytes(), true))
            .map(|d| (d.name, (d.get)(self)))
            .collect()
    }

    /// Whether commands are timed at all: something that reads the time is on.
    pub fn times_commands(&self) -> bool {
        self.latency_tracking
            || self.slowlog_log_slower_than_us >= 0
            || self.latency_monitor_threshold_ms > 0
    }

    /// Whether `CONFIG SET` may change `name` while running.
    pub fn is_mutable(name: &str) -> Option<bool> {
        directives::find(name).map(|d| d.mutable)
    }
}

/// Splits one config line into words; `#` starts a comment; quotes as in redis.conf.
fn split_config_line(line: &str) -> Option<Vec<String>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Some(Vec::new());
    }
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            loop {
                match chars.next()? {
                    q if q == c => break,
                    '\\' if c == '"' => word.push(chars.next()?),
                    other => word.push(other),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn command_line_overrides_use_redis_names_and_units() {
        let c = Config::from_args(&args(
            "--port 7000 --shards 3 --proto-max-bulk-len 1mb --appendfsync everysec",
        ))
        .unwrap();
        assert_eq!(
            (c.port, c.shards, c.proto_max_bulk_len),
            (7000, 3, 1024 * 1024)
        );
        assert_eq!(c.appendfsync, AppendFsync::EverySec);
    }

    #[test]
    fn unknown_directives_and_bad_values_are_refused_by_name() {
        assert!(Config::from_args(&args("--nosuch 1"))
            .unwrap_err()
            .contains("nosuch"));
        assert!(Config::from_args(&args("--port x"))
            .unwrap_err()
            .contains("port"));
        assert!(Config::from_args(&args("--cluster-enabled maybe"))
            .unwrap_err()
            .contains("cluster-enabled"));
        assert!(Config::from_args(&args("--shards 0")).is_err());
    }

    #[test]
    fn one_request_is_allowed_at_most_2gb() {
        for name in ["proto-max-bulk-len", "client-query-buffer-limit"] {
            let at = |size: &str| Config::from_args(&args(&format!("--{name} {size}")));
            assert!(at("2gb").is_ok(), "{name} 2gb");
            assert!(at("1mb").is_ok(), "{name} 1mb");
            assert!(at("2049mb").unwrap_err().contains("at most 2gb"), "{name}");
            assert!(at("1000kb").unwrap_err().contains("at least 1mb"), "{name}");
        }
    }
}
