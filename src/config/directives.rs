//! The directive table: each directive's name, how to parse it, how to print it, and whether
//! `CONFIG SET` may change it at run time.

use super::pubsub;
use super::Config;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendFsync {
    Always,
    EverySec,
    No,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}

pub struct Directive {
    pub name: &'static str,
    pub set: fn(&mut Config, &[String]) -> Result<(), String>,
    pub get: fn(&Config) -> String,
    pub mutable: bool,
}

pub fn find(name: &str) -> Option<&'static Directive> {
    DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

fn one(values: &[String]) -> Result<&str, String> {
    match values {
        [v] => Ok(v),
        _ => Err(format!("expected one value, got {}", values.len())),
    }
}

fn number<T: std::str::FromStr>(values: &[String]) -> Result<T, String> {
    let v = one(values)?;
    v.parse()
        .map_err(|_| format!("'{v}' is not a valid number"))
}

fn yes_no(values: &[String]) -> Result<bool, String> {
    match one(values)?.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        v => Err(format!("'{v}' must be yes or no")),
    }
}

fn show_bool(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// Redis's memory units: `k`/`m`/`g` are powers of 1000, `kb`/`mb`/`gb` powers of 1024.
pub fn parse_memory(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let n: usize = digits.parse().ok()?;
    let mult = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn memory(values: &[String]) -> Result<usize, String> {
    let v = one(values)?;
    parse_memory(v).ok_or_else(|| format!("'{v}' is not a valid memory size"))
}

/// Most bytes `proto-max-bulk-len` and `client-query-buffer-limit` may allow. Journal records,
/// transaction parts and snapshot frames store an element's or a change's length in 32 bits, so
/// no one write may bring 4 GiB; Redis has no such ceiling.
const REQUEST_BYTES_MAX: usize = 2 << 30;

/// A size limit on what one request may bring: from 1mb to `REQUEST_BYTES_MAX`.
fn request_bytes(values: &[String]) -> Result<usize, String> {
    match memory(values)? {
        n if n < 1 << 20 => Err("must be at least 1mb".into()),
        n if n > REQUEST_BYTES_MAX => Err(
            "must be at most 2gb (Keel stores the length of one write's data in 32 bits)".into(),
        ),
        n => Ok(n),
    }
}

/// Percentiles written as words, or as one quoted string of words (`"50 99 99.9"`).
fn percentiles(values: &[String]) -> Result<Vec<f64>, String> {
    values
        .iter()
        .flat_map(|v| v.split_whitespace())
        .map(|word| match word.parse::<f64>() {
            Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
            _ => Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .to_string(),
            ),
        })
        .collect()
}

pub static DIRECTIVES: &[Directive] = &[
    Directive {
        name: "port",
        set: |c, v| {
            c.port = number(v)?;
            Ok(())
        },
        get: |c| c.port.to_string(),
        mutable: false,
    },
    Directive {
        name: "bind",
        set: |c, v| {
            if v.is_empty() {
                return Err("expected at least one address".into());
            }
            for addr in v {
                addr.parse::<std::net::IpAddr>()
                    .map_err(|_| format!("'{addr}' is not an IP address"))?;
            }
            c.bind = v.to_vec();
            Ok(())
        },
        get: |c| c.bind.join(" "),
        mutable: false,
    },
    Directive {
        name: "dir",
        set: |c, v| {
            c.dir = one(v)?.into();
            Ok(())
        },
        get: |c| c.dir.display().to_string(),
        mutable: false,
    },
    Directive {
        name: "shards",
        set: |c, v| {
            c.shards = number(v)?;
            Ok(())
        },
        get: |c| c.shards.to_string(),
        mutable: false,
    },
    Directive {
        name: "cluster-enabled",
        set: |c, v| {
            c.cluster_enabled = yes_no(v)?;
            Ok(())
        },
        get: |c| show_bool(c.cluster_enabled),
        mutable: false,
    },
    Directive {
        name: "cluster-port",
        set: |c, v| {
            c.cluster_port = Some(number(v)?);
            Ok(())
        },
        get: |c| c.cluster_port().to_string(),
        mutable: false,
    },
    Directive {
        name: "cluster-announce-ip",
        set: |c, v| {
            c.cluster_announce_ip = Some(one(v)?.into());
            Ok(())
        },
        get: |c| c.cluster_announce_ip.clone().unwrap_or_default(),
        mutable: false,
    },
    Directive {
        name: "databases",
        set: |c, v| {
            let n: usize = number(v)?;
            if !(1..=256).contains(&n) {
                return Err("must be between 1 and 256".into());
            }
            c.databases = n;
            Ok(())
        },
        get: |c| c.databases.to_string(),
        mutable: false,
    },
    Directive {
        name: "maxclients",
        set: |c, v| {
            c.maxclients = number(v)?;
            Ok(())
        },
        get: |c| c.maxclients.to_string(),
        mutable: true,
    },
    Directive {
        name: "timeout",
        set: |c, v| {
            c.timeout_s = number(v)?;
            Ok(())
        },
        get: |c| c.timeout_s.to_string(),
        mutable: true,
    },
    Directive {
        name: "proto-max-bulk-len",
        set: |c, v| {
            c.proto_max_bulk_len = request_bytes(v)?;
            Ok(())
        },
        get: |c| c.proto_max_bulk_len.to_string(),
        mutable: true,
    },
    Directive {
        name: "client-query-buffer-limit",
        set: |c, v| {
            c.client_query_buffer_limit = request_bytes(v)?;
            Ok(())
        },
        get: |c| c.client_query_buffer_limit.to_string(),
        mutable: true,
    },
    Directive {
        name: "loglevel",
        set: |c, v| {
            c.loglevel = match one(v)?.to_ascii_lowercase().as_str() {
                "debug" => LogLevel::Debug,
                "verbose" => LogLevel::Verbose,
                "notice" => LogLevel::Notice,
                "warning" => LogLevel::Warning,
                other => {
                    return Err(format!(
                        "'{other}' must be debug, verbose, notice or warning"
                    ))
                }
            };
            Ok(())
        },
        get: |c| format!("{:?}", c.loglevel).to_ascii_lowercase(),
        mutable: false,
    },
    Directive {
        name: "logfile",
        set: |c, v| {
            c.logfile = one(v)?.into();
            Ok(())
        },
        get: |c| c.logfile.clone(),
        mutable: false,
    },
    Directive {
        name: "appendonly",
        set: |c, v| {
            c.appendonly = yes_no(v)?;
            Ok(())
        },
        get: |c| show_bool(c.appendonly),
        mutable: false,
    },
    Directive {
        name: "appendfsync",
        set: |c, v| {
            c.appendfsync = match one(v)?.to_ascii_lowercase().as_str() {
                "always" => AppendFsync::Always,
                "everysec" => AppendFsync::EverySec,
                "no" => AppendFsync::No,
                other => return Err(format!("'{other}' must be always, everysec or no")),
            };
            Ok(())
        },
        get: |c| format!("{:?}", c.appendfsync).to_ascii_lowercase(),
        mutable: false,
    },
    Directive {
        name: "journal-segment-size",
        set: |c, v| {
            let n = memory(v)?;
            if n < 1024 * 1024 || n % 4096 != 0 {
                return Err("must be at least 1mb and a multiple of 4096".into());
            }
            c.journal_segment_bytes = n as u64;
            Ok(())
        },
        get: |c| c.journal_segment_bytes.to_string(),
        mutable: false,
    },
    Directive {
        name: "steer-connections",
        set: |c, v| {
            c.steer_connections = yes_no(v)?;
            Ok(())
        },
        get: |c| show_bool(c.steer_connections),
        mutable: true,
    },
    Directive {
        name: "activerehashing",
        set: |c, v| {
            c.active_rehashing = yes_no(v)?;
            Ok(())
        },
        get: |c| show_bool(c.active_rehashing),
        mutable: true,
    },
    Directive {
        name: "latency-tracking",
        set: |c, v| {
            c.latency_tracking = yes_no(v)?;
            Ok(())
        },
        get: |c| show_bool(c.latency_tracking),
        mutable: true,
    },
    Directive {
        name: "latency-tracking-info-percentiles",
        set: |c, v| {
            c.latency_tracking_info_percentiles = percentiles(v)?;
            Ok(())
        },
        get: |c| {
            let shown: Vec<String> = c
                .latency_tracking_info_percentiles
                .iter()
                .map(|p| p.to_string())
                .collect();
            shown.join(" ")
        },
        mutable: true,
    },
    Directive {
        name: "slowlog-log-slower-than",
        set: |c, v| {
            let us: i64 = number(v)?;
            if us < -1 {
                return Err("must be -1 (off), 0 (log all) or more".into());
            }
            c.slowlog_log_slower_than_us = us;
            Ok(())
        },
        get: |c| c.slowlog_log_slower_than_us.to_string(),
        mutable: true,
    },
    Directive {
        name: "slowlog-max-len",
        set: |c, v| {
            c.slowlog_max_len = number(v)?;
            Ok(())
        },
        get: |c| c.slowlog_max_len.to_string(),
        mutable: true,
    },
    Directive {
        name: "latency-monitor-threshold",
        set: |c, v| {
            c.latency_monitor_threshold_ms = number(v)?;
            Ok(())
        },
        get: |c| c.latency_monitor_threshold_ms.to_string(),
        mutable: true,
    },
    Directive {
        name: "hz",
        set: |c, v| {
            let hz: u32 = number(v)?;
            c.hz = hz.clamp(1, 500);
            Ok(())
        },
        get: |c| c.hz.to_string(),
        mutable: true,
    },
    Directive {
        name: "auto-aof-rewrite-min-size",
        set: |c, v| {
            c.auto_aof_rewrite_min_size = memory(v)? as u64;
            Ok(())
        },
        get: |c| c.auto_aof_rewrite_min_size.to_string(),
        mutable: true,
    },
    Directive {
        name: "auto-aof-rewrite-percentage",
        set: |c, v| {
            c.auto_aof_rewrite_percentage = number(v)?;
            Ok(())
        },
        get: |c| c.auto_aof_rewrite_percentage.to_string(),
        mutable: true,
    },
    Directive {
        name: "notify-keyspace-events",
        set: |c, v| {
            c.notify_keyspace_events = pubsub::parse_notify_flags(&v.join(""))?;
            Ok(())
        },
        get: |c| pubsub::format_notify_flags(c.notify_keyspace_events),
        mutable: true,
    },
    Directive {
        name: "client-output-buffer-limit",
        set: |c, v| pubsub::parse_output_limits(v, &mut c.client_output_buffer_limit),
        get: |c| pubsub::format_output_limits(&c.client_output_buffer_limit),
        mutable: true,
    },
];
