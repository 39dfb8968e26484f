//! A shard's counters, summed across shards for `INFO`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::commands::CommandSpec;

/// A command table entry as a map key: compared and hashed by address (entries are statics).
#[derive(Clone, Copy)]
pub struct CommandKey(pub &'static CommandSpec);

impl std::fmt::Debug for CommandKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}

impl CommandKey {
    pub fn name(&self) -> &'static str {
        self.0.name
    }
}

impl PartialEq for CommandKey {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for CommandKey {}

impl Hash for CommandKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.0 as *const CommandSpec as usize).hash(state);
    }
}
use std::time::Instant;

#[derive(Default, Debug)]
pub struct Stats {
    pub commands_processed: u64,
    /// Calls per command, keyed by table entry (hashing its address, not its name).
    pub calls_by_command: HashMap<CommandKey, u64, ahash::RandomState>,
    pub connections_received: u64,
    pub rejected_connections: u64,
    /// Main-port connections other shards handed over to this one (`steer-connections`).
    pub connections_adopted: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    /// Reads whose reply waited for a write to be durable (no dirty reads), needlessly or not: a
    /// key sharing its mark with one written (`shard::unsynced`) waits too.
    pub reads_waited_for_sync: u64,
    /// The counters when `rates` were last computed.
    rate_sample: Option<RateSample>,
    rates: Rates,
}

/// Per-second rates for `INFO stats` (`instantaneous_ops_per_sec`, ...).
#[derive(Default, Debug, Clone, Copy)]
pub struct Rates {
    pub ops_per_sec: f64,
    pub input_kbps: f64,
    pub output_kbps: f64,
}

#[derive(Debug, Clone, Copy)]
struct RateSample {
    at: Instant,
    commands: u64,
    net_input_bytes: u64,
    net_output_bytes: u64,
}

/// Rates are averaged over at least this long; asking sooner returns the previous rates.
const RATE_WINDOW_MS_MIN: u128 = 100;

impl Stats {
    pub fn count_command(&mut self, spec: &'static CommandSpec) {
        self.commands_processed += 1;
        *self.calls_by_command.entry(CommandKey(spec)).or_insert(0) += 1;
    }

    pub fn reset(&mut self) {
        *self = Stats::default();
    }

    /// The rates since the previous call (Redis samples in its cron; a shard samples when asked,
    /// so the first call after a start or a reset reports zero).
    pub fn sample_rates(&mut self) -> Rates {
        let now = RateSample {
            at: Instant::now(),
            commands: self.commands_processed,
            net_input_bytes: self.net_input_bytes,
            net_output_bytes: self.net_output_bytes,
        };
        let Some(last) = self.rate_sample else {
            self.rate_sample = Some(now);
            return self.rates;
        };
        let elapsed = now.at.duration_since(last.at);
        if elapsed.as_millis() < RATE_WINDOW_MS_MIN {
            return self.rates;
        }
        let per_sec = |now: u64, then: u64| now.saturating_sub(then) as f64 / elapsed.as_secs_f64();
        self.rates = Rates {
            ops_per_sec: per_sec(now.commands, last.commands),
            input_kbps: per_sec(now.net_input_bytes, last.net_input_bytes) / 1024.0,
            output_kbps: per_sec(now.net_output_bytes, last.net_output_bytes) / 1024.0,
        };
        self.rate_sample = Some(now);
        self.rates
    }
}
