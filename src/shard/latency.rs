//! A shard's latency records: per-command histograms (`LATENCY HISTOGRAM`, `INFO latencystats`),
//! the slow log (`SLOWLOG`) and latency events (`LATENCY LATEST`). Each shard keeps its own; the
//! commands merge every shard's on the connection's shard.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hdrhistogram::Histogram;

use super::stats::CommandKey;
use super::Shard;
use crate::commands::{flag, CommandSpec};
use crate::server::client::ClientHandle;

/// Smallest latency a histogram tells apart, in µs; faster commands count as this.
pub const HISTOGRAM_US_MIN: u64 = 1;
/// Largest latency a histogram holds, in µs (60 s); slower commands count as this.
pub const HISTOGRAM_US_MAX: u64 = 60_000_000;
/// Significant decimal digits each histogram keeps (1% relative error).
pub const HISTOGRAM_SIGFIGS: u8 = 2;

/// Arguments a slow log entry keeps; the last kept one says how many more there were.
pub const SLOWLOG_ARGS_MAX: usize = 32;
/// Bytes of one argument a slow log entry keeps; the rest is replaced by a count.
pub const SLOWLOG_ARG_BYTES_MAX: usize = 128;

/// Samples an event keeps (one per second at most); older ones are dropped.
pub const EVENT_SAMPLES_MAX: usize = 160;

/// Latency events Keel records.
pub const EVENT_COMMAND: &str = "command";
pub const EVENT_FAST_COMMAND: &str = "fast-command";
pub const EVENT_JOURNAL_SYNC: &str = "journal-sync";

/// Times commands for the histograms, the slow log and latency events: two reads per command, so
/// it reads the CPU's invariant time-stamp counter where there is one (about 10 ns a read against
/// 25 for `Instant::now` under a hypervisor's clock), scaled to ns by a calibration `quanta` does
/// once per process; elsewhere the monotonic clock.
pub struct Stopwatch(quanta::Clock);

impl Stopwatch {
    pub fn new() -> Stopwatch {
        Stopwatch(quanta::Clock::new())
    }

    /// A start mark, for `elapsed`.
    pub fn start(&self) -> u64 {
        self.0.raw()
    }

    pub fn elapsed(&self, started: u64) -> Duration {
        self.0.delta(started, self.0.raw())
    }
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(HISTOGRAM_US_MIN, HISTOGRAM_US_MAX, HISTOGRAM_SIGFIGS)
        .expect("histogram bounds are valid constants")
}

/// One slow log entry, as logged on the shard that ran the command.
#[derive(Clone, Debug)]
pub struct SlowEntry {
    /// Unique across shards: a per-shard sequence number interleaved by shard id.
    pub id: u64,
    /// Unix time when the command ended, in µs (orders entries across shards).
    pub time_us: u64,
    pub duration_us: u64,
    pub args: Vec<Bytes>,
    pub client_addr: String,
    pub client_name: String,
}

/// One event's samples: (unix time in s, latency in ms), oldest first, one per second.
#[derive(Clone, Debug, Default)]
pub struct EventSeries {
    pub samples: VecDeque<(u64, u64)>,
    pub max_ms: u64,
}

impl EventSeries {
    /// Adds a sample; a second sample in the same second keeps the larger latency.
    pub fn add(&mut self, time_s: u64, ms: u64) {
        self.max_ms = self.max_ms.max(ms);
        match self.samples.back_mut() {
            Some((t, last)) if *t == time_s => *last = (*last).max(ms),
            _ => {
                if self.samples.len() == EVENT_SAMPLES_MAX {
                    self.samples.pop_front();
                }
                self.samples.push_back((time_s, ms));
            }
        }
    }
}

#[derive(Default)]
pub struct Latency {
    /// Per-command histograms in µs, keyed by table entry (hashing its address, not its name).
    pub histograms: HashMap<CommandKey, Histogram<u64>, ahash::RandomState>,
    /// Newest last.
    pub slowlog: VecDeque<SlowEntry>,
    slowlog_next_seq: u64,
    pub events: HashMap<&'static str, EventSeries>,
    /// The journal's sync count when it was last sampled.
    journal_syncs_seen: u64,
    journal_sync_max_seen_us: u64,
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Latency {
    /// Records one call; allocates only on a command's first call on this shard.
    pub fn record(&mut self, spec: &'static CommandSpec, us: u64) {
        self.histograms
            .entry(CommandKey(spec))
            .or_insert_with(new_histogram)
            .saturating_record(us);
    }

    pub fn add_event(&mut self, name: &'static str, ms: u64) {
        let now_s = unix_now().as_secs();
        self.events.entry(name).or_default().add(now_s, ms);
    }

    /// Logs a slow command, dropping the oldest entries past `max_len`.
    fn log_slow(&mut self, entry: SlowEntry, max_len: usize) {
        self.slowlog.push_back(entry);
        while self.slowlog.len() > max_len {
            self.slowlog.pop_front();
        }
    }

    fn next_slow_id(&mut self, shard: &Shard) -> u64 {
        let id = self.slowlog_next_seq * shard.shard_count() as u64 + shard.id as u64;
        self.slowlog_next_seq += 1;
        id
    }
}

/// The arguments a slow log entry keeps, shortened as Redis shortens them.
pub fn slowlog_args(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(SLOWLOG_ARGS_MAX);
    let mut out = Vec::with_capacity(kept);
    for (i, arg) in args.iter().take(kept).enumerate() {
        if kept < args.len() && i == kept - 1 {
            let more = args.len() - kept + 1;
            out.push(Bytes::from(format!("... ({more} more arguments)")));
        } else if arg.len() > SLOWLOG_ARG_BYTES_MAX {
            let mut short = arg[..SLOWLOG_ARG_BYTES_MAX].to_vec();
            let more = arg.len() - SLOWLOG_ARG_BYTES_MAX;
            short.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
            out.push(Bytes::from(short));
        } else {
            out.push(arg.clone());
        }
    }
    out
}

impl Shard {
    /// Records one command's run time wherever the configuration asks: its histogram, the slow
    /// log, the `command` latency event. `client` is the connection it ran for, when known here.
    pub fn observe_command(
        &self,
        spec: &'static CommandSpec,
        args: &[Bytes],
        elapsed: Duration,
        client: Option<&ClientHandle>,
    ) {
        let config = self.config.borrow();
        let us = elapsed.as_micros() as u64;
        let mut latency = self.latency.borrow_mut();
        if config.latency_tracking {
            latency.record(spec, us);
        }
        let slow_us = config.slowlog_log_slower_than_us;
        // Empty `args`: the caller kept none (the slow log was off when the command started).
        let slow = slow_us >= 0 && us >= slow_us as u64 && !args.is_empty();
        if slow && crate::commands::is_public(spec.name) {
            let entry = SlowEntry {
                id: latency.next_slow_id(self),
                time_us: unix_now().as_micros() as u64,
                duration_us: us,
                args: slowlog_args(args),
                client_addr: client.map(|c| c.addr.clone()).unwrap_or_default(),
                client_name: client
                    .map(|c| c.info.borrow().name.clone())
                    .unwrap_or_default(),
            };
            latency.log_slow(entry, config.slowlog_max_len);
        }
        let threshold_ms = config.latency_monitor_threshold_ms;
        if threshold_ms > 0 && us / 1000 >= threshold_ms {
            let event = if spec.flags & flag::FAST != 0 {
                EVENT_FAST_COMMAND
            } else {
                EVENT_COMMAND
            };
            latency.add_event(event, us / 1000);
        }
    }

    /// Records a `journal-sync` event when a sync since the last look took at least
    /// `latency-monitor-threshold`. Called from the cron: it sees the latest sync and any new
    /// maximum, not every sync in between.
    pub fn sample_journal_latency(&self) {
        let Some(journal) = &self.journal else {
            return;
        };
        let stats = journal.stats();
        let threshold_ms = self.config.borrow().latency_monitor_threshold_ms;
        let mut latency = self.latency.borrow_mut();
        if stats.syncs == latency.journal_syncs_seen {
            return;
        }
        let mut worst_us = stats.sync_latency_us_last;
        if stats.sync_latency_us_max > latency.journal_sync_max_seen_us {
            worst_us = worst_us.max(stats.sync_latency_us_max);
        }
        latency.journal_syncs_seen = stats.syncs;
        latency.journal_sync_max_seen_us = stats.sync_latency_us_max;
        if threshold_ms > 0 && worst_us / 1000 >= threshold_ms {
            latency.add_event(EVENT_JOURNAL_SYNC, worst_us / 1000);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(n: usize, len: usize) -> Vec<Bytes> {
        (0..n).map(|_| Bytes::from(vec![b'x'; len])).collect()
    }

    #[test]
    fn slowlog_args_keep_32_arguments_and_128_bytes_each() {
        let kept = slowlog_args(&args(40, 1));
        assert_eq!(kept.len(), SLOWLOG_ARGS_MAX);
        assert_eq!(kept[31], Bytes::from("... (9 more arguments)"));
        let kept = slowlog_args(&args(2, 130));
        assert_eq!(kept[1].len(), 128 + "... (2 more bytes)".len());
        assert!(kept[1].ends_with(b"... (2 more bytes)"));
        assert_eq!(slowlog_args(&args(32, 3)).len(), 32);
        assert_eq!(slowlog_args(&args(32, 3))[31].len(), 3);
    }

    #[test]
    fn event_series_keeps_one_sample_a_second_and_a_bounded_history() {
        let mut series = EventSeries::default();
        series.add(10, 5);
        series.add(10, 3);
        assert_eq!(series.samples, [(10, 5)]);
        for t in 11..11 + EVENT_SAMPLES_MAX as u64 {
            series.add(t, 1);
        }
        assert_eq!(series.samples.len(), EVENT_SAMPLES_MAX);
        assert_eq!(series.max_ms, 5);
    }
}
