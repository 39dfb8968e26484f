//! Runs one load test: fetches the slot map in cluster mode, starts one pinned thread per `-t`,
//! prints the live line each second, and merges what the threads measured.

use crate::args::BenchConfig;
use crate::cluster::{NodeAddr, SlotMap};
use crate::engine::Worker;
use crate::stats::{Interval, OpStats, ThreadResult};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

/// The merged outcome of a run.
pub struct RunResult {
    /// Per op type, in the workload's row order.
    pub ops: Vec<OpStats>,
    pub totals: OpStats,
    pub elapsed: Duration,
    pub redirects: u64,
    pub first_error: Option<String>,
}

/// Runs the load described by `cfg` to completion.
pub fn run(cfg: BenchConfig) -> Result<RunResult, String> {
    let cfg = Arc::new(cfg);
    let slots = if cfg.cluster_mode {
        let seed = NodeAddr {
            host: cfg.host.clone(),
            port: cfg.port,
        };
        let map = SlotMap::fetch(&seed)?;
        eprintln!(
            "cluster mode: {} node(s): {}",
            map.nodes.len(),
            map.nodes
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        Some(map)
    } else {
        None
    };
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let abort = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(cfg.threads + 1));
    let mut intervals = Vec::new();
    let mut handles = Vec::new();
    for t in 0..cfg.threads {
        let interval = Arc::new(Mutex::new(Interval::default()));
        intervals.push(interval.clone());
        let (cfg, slots, abort, barrier) =
            (cfg.clone(), slots.clone(), abort.clone(), barrier.clone());
        let core = (!cores.is_empty()).then(|| cores[t % cores.len()]);
        let handle = std::thread::Builder::new()
            .name(format!("load-{t}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                let worker = Worker::new(cfg, t, slots, interval);
                if worker.is_err() {
                    abort.store(true, Ordering::Relaxed);
                }
                barrier.wait();
                worker?.run(&abort)
            })
            .map_err(|e| format!("cannot start load thread: {e}"))?;
        handles.push(handle);
    }
    barrier.wait();
    if !cfg.quiet && !abort.load(Ordering::Relaxed) {
        print_live_lines(&handles, &intervals, &abort);
    }
    let mut results: Vec<ThreadResult> = Vec::new();
    let mut first_failure = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => {
                abort.store(true, Ordering::Relaxed);
                first_failure.get_or_insert(e);
            }
            Err(_) => {
                first_failure.get_or_insert("a load thread panicked".to_string());
            }
        }
    }
    if let Some(e) = first_failure {
        return Err(e);
    }
    Ok(merge(&cfg, results))
}

fn merge(cfg: &BenchConfig, results: Vec<ThreadResult>) -> RunResult {
    let mut ops = vec![OpStats::default(); cfg.workload.op_names().len()];
    let mut totals = OpStats::default();
    let mut elapsed = Duration::ZERO;
    let mut redirects = 0;
    let mut first_error = None;
    for r in results {
        for (row, stats) in ops.iter_mut().zip(&r.ops) {
            row.merge(stats);
            totals.merge(stats);
        }
        elapsed = elapsed.max(r.elapsed);
        redirects += r.redirects;
        first_error = first_error.or(r.first_error);
    }
    RunResult {
        ops,
        totals,
        elapsed,
        redirects,
        first_error,
    }
}

/// Prints one line per second (ops/s, p50, p99 of that second) until every thread has ended.
fn print_live_lines(
    handles: &[std::thread::JoinHandle<Result<ThreadResult, String>>],
    intervals: &[Arc<Mutex<Interval>>],
    abort: &AtomicBool,
) {
    let start = Instant::now();
    let mut tick = 1u64;
    let mut last = start;
    while !handles.iter().all(|h| h.is_finished()) && !abort.load(Ordering::Relaxed) {
        let due = start + Duration::from_secs(tick);
        let now = Instant::now();
        if now < due {
            std::thread::sleep((due - now).min(Duration::from_millis(50)));
            continue;
        }
        let mut sum = Interval::default();
        for shared in intervals {
            let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
            shared.drain_into(&mut sum);
        }
        let secs = now.duration_since(last).as_secs_f64();
        last = now;
        eprintln!(
            "[{:>4} s] {:>12.0} ops/s   p50 {:>8.3} ms   p99 {:>8.3} ms",
            tick,
            sum.ops as f64 / secs,
            sum.hist.value_at_percentile(50.0) as f64 / 1000.0,
            sum.hist.value_at_percentile(99.0) as f64 / 1000.0,
        );
        tick += 1;
    }
}
