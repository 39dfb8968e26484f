//! Latency and throughput accounting: one [`OpStats`] per op type per thread, merged at the end;
//! an [`Interval`] per thread feeds the live per-second line.

use crate::limits::{LATENCY_SIGFIGS, LATENCY_US_MAX};
use crate::workload::Outcome;
use hdrhistogram::Histogram;
use std::time::Duration;

/// A latency histogram in microseconds, 1 µs .. `LATENCY_US_MAX`, `LATENCY_SIGFIGS` figures.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGFIGS)
        .expect("histogram bounds are valid constants")
}

/// Totals for one op type.
#[derive(Clone)]
pub struct OpStats {
    pub ops: u64,
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
    /// Request plus reply bytes.
    pub bytes: u64,
    /// Sum of exact latencies, for an unquantised average.
    pub latency_ns_sum: u128,
    pub hist: Histogram<u64>,
}

impl Default for OpStats {
    fn default() -> Self {
        OpStats {
            ops: 0,
            hits: 0,
            misses: 0,
            errors: 0,
            bytes: 0,
            latency_ns_sum: 0,
            hist: new_histogram(),
        }
    }
}

impl OpStats {
    pub fn record(&mut self, latency: Duration, outcome: Outcome, bytes: u64) {
        self.ops += 1;
        self.bytes += bytes;
        self.latency_ns_sum += latency.as_nanos();
        self.hist.saturating_record(latency.as_micros() as u64);
        match outcome {
            Outcome::Hit => self.hits += 1,
            Outcome::Miss => self.misses += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Write => {}
        }
    }

    pub fn merge(&mut self, other: &OpStats) {
        self.ops += other.ops;
        self.hits += other.hits;
        self.misses += other.misses;
        self.errors += other.errors;
        self.bytes += other.bytes;
        self.latency_ns_sum += other.latency_ns_sum;
        self.hist
            .add(&other.hist)
            .expect("histograms share the same bounds");
    }

    /// Average latency in milliseconds (0 when empty).
    pub fn avg_latency_ms(&self) -> f64 {
        if self.ops == 0 {
            0.0
        } else {
            self.latency_ns_sum as f64 / self.ops as f64 / 1e6
        }
    }

    /// Latency at `percentile` (0..=100) in milliseconds.
    pub fn percentile_ms(&self, percentile: f64) -> f64 {
        self.hist.value_at_percentile(percentile) as f64 / 1000.0
    }
}

/// The ops and latencies of one publishing interval.
pub struct Interval {
    pub ops: u64,
    pub hist: Histogram<u64>,
}

impl Default for Interval {
    fn default() -> Self {
        Interval {
            ops: 0,
            hist: new_histogram(),
        }
    }
}

impl Interval {
    pub fn record(&mut self, latency: Duration) {
        self.ops += 1;
        self.hist.saturating_record(latency.as_micros() as u64);
    }

    /// Moves everything in `self` into `into`.
    pub fn drain_into(&mut self, into: &mut Interval) {
        into.ops += self.ops;
        into.hist
            .add(&self.hist)
            .expect("histograms share the same bounds");
        self.ops = 0;
        self.hist.reset();
    }
}

/// What one thread measured.
pub struct ThreadResult {
    pub ops: Vec<OpStats>,
    pub elapsed: Duration,
    pub redirects: u64,
    /// The text of the first error reply seen, to show the user.
    pub first_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counts_and_histograms() {
        let mut a = OpStats::default();
        let mut b = OpStats::default();
        a.record(Duration::from_micros(100), Outcome::Hit, 10);
        b.record(Duration::from_micros(300), Outcome::Miss, 20);
        a.merge(&b);
        assert_eq!((a.ops, a.hits, a.misses, a.bytes), (2, 1, 1, 30));
        assert!((a.avg_latency_ms() - 0.2).abs() < 1e-9);
        assert!((a.percentile_ms(100.0) - 0.3).abs() < 0.001);
    }
}
