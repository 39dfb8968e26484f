//! Journal benchmarks (ignored tests). Run with
//! `cargo test --release -- --ignored --nocapture journal::bench`.

use super::*;
use crate::runtime::file::test_support::{run, TempDir};
use std::time::{Duration, Instant};

const PAYLOAD_BYTES: usize = 64 - 20; // 64-byte records, header included

async fn open_fresh(dir: &std::path::Path) -> Journal {
    let recovery = JournalReader::open(dir, 1).unwrap().finish().unwrap();
    Journal::open(
        JournalConfig::new(dir.to_path_buf(), 0, FsyncMode::Always),
        &recovery,
    )
    .await
    .unwrap()
}

#[test]
#[ignore]
fn commit_latency_single_appender() {
    const ROUNDS: usize = 1000;
    let dir = TempDir::new("bench-latency");
    run(async {
        let journal = open_fresh(dir.path()).await;
        for (label, payload_bytes) in [
            ("64 B record", PAYLOAD_BYTES),
            ("4 KiB batch", 4096 - 40 - 20),
        ] {
            let payload = vec![7u8; payload_bytes];
            let mut latencies = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                let start = Instant::now();
                let lsn = journal.append(1, 0, 1, &payload);
                journal.wait_durable(lsn).await.unwrap();
                latencies.push(start.elapsed());
            }
            latencies.sort();
            println!(
                "Always, 1 appender, {label}: append+wait_durable median {:?}, p99 {:?}",
                latencies[ROUNDS / 2],
                latencies[ROUNDS * 99 / 100]
            );
        }
        journal.close().await.unwrap();
    });
}

#[test]
#[ignore]
fn group_commit_throughput() {
    const RUN: Duration = Duration::from_secs(2);
    for appenders in [1usize, 16, 256] {
        let dir = TempDir::new("bench-throughput");
        run(async {
            let journal = open_fresh(dir.path()).await;
            let start = Instant::now();
            let tasks: Vec<_> = (0..appenders)
                .map(|_| {
                    let journal = journal.clone();
                    crate::runtime::spawn_local(async move {
                        let payload = [7u8; PAYLOAD_BYTES];
                        while start.elapsed() < RUN {
                            let lsn = journal.append(1, 0, 1, &payload);
                            journal.wait_durable(lsn).await.unwrap();
                        }
                    })
                })
                .collect();
            futures::future::join_all(tasks).await;
            let elapsed = start.elapsed();
            let stats = journal.stats();
            println!(
                "Always, {appenders:>3} appenders, 64 B records: {:>8.0} records/s, {:>6.0} batches/s, {:.1} records/batch, last sync {} us",
                stats.lsn_durable as f64 / elapsed.as_secs_f64(),
                stats.batches_written as f64 / elapsed.as_secs_f64(),
                stats.lsn_durable as f64 / stats.batches_written as f64,
                stats.sync_latency_us_last,
            );
            journal.close().await.unwrap();
        });
    }
}

/// Append+wait_durable latency across segment rollovers (8 MiB segments,
/// `Always`, one appender, 64 B records: one 4 KiB batch each). Run with
/// `cargo test --release -- --ignored --nocapture rollover_latency`.
#[test]
#[ignore]
fn rollover_latency() {
    const SEGMENT_BYTES: u64 = 8 << 20;
    const ROLLOVERS: u64 = 4;
    let dir = TempDir::new("bench-rollover");
    run(async {
        let recovery = JournalReader::open(dir.path(), 1)
            .unwrap()
            .finish()
            .unwrap();
        let config = JournalConfig {
            segment_bytes: SEGMENT_BYTES,
            ..JournalConfig::new(dir.path().to_path_buf(), 0, FsyncMode::Always)
        };
        let journal = Journal::open(config, &recovery).await.unwrap();
        let payload = [7u8; PAYLOAD_BYTES];
        let mut latencies = Vec::new();
        // Per rollover: the latency of the write that crossed into the new segment.
        let mut at_rollover = Vec::new();
        while journal.stats().segments_created <= ROLLOVERS {
            let segments_before = journal.stats().segments_created;
            let start = Instant::now();
            let lsn = journal.append(1, 0, 1, &payload);
            journal.wait_durable(lsn).await.unwrap();
            let latency = start.elapsed();
            latencies.push(latency);
            if journal.stats().segments_created > segments_before {
                at_rollover.push(latency);
            }
        }
        let mut sorted = latencies.clone();
        sorted.sort();
        let n = sorted.len();
        println!(
            "Always, 1 appender, 64 B records, 8 MiB segments, {} rollovers, {n} writes: \
             median {:?}, p99 {:?}, p99.9 {:?}, max {:?}; at each rollover {:?}; \
             journal sync_latency_us_max {}",
            at_rollover.len(),
            sorted[n / 2],
            sorted[n * 99 / 100],
            sorted[n * 999 / 1000],
            sorted[n - 1],
            at_rollover,
            journal.stats().sync_latency_us_max,
        );
        journal.close().await.unwrap();
    });
}
