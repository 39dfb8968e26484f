//! Journal behaviour end to end: real files in temp dirs, real bytes.

use super::check::CheckProblem;
use super::*;
use crate::runtime::file::fault;
use crate::runtime::file::test_support::{run, TempDir};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SEGMENT_BYTES_SMALL: u64 = 64 * 1024;

fn config(dir: &Path, fsync: FsyncMode) -> JournalConfig {
    JournalConfig {
        segment_bytes: SEGMENT_BYTES_SMALL,
        ..JournalConfig::new(dir.to_path_buf(), 0, fsync)
    }
}

fn recover(dir: &Path, from_lsn: Lsn) -> (Vec<Record>, Result<Recovery, JournalError>) {
    let mut reader = JournalReader::open(dir, from_lsn).unwrap();
    let records = reader.by_ref().map_while(Result::ok).collect();
    (records, reader.finish())
}

async fn open(config: JournalConfig) -> Journal {
    let (_, recovery) = recover(&config.dir, 1);
    Journal::open(config, &recovery.unwrap()).await.unwrap()
}

fn payload(lsn: Lsn) -> Vec<u8> {
    format!("set key:{lsn} value:{}", "v".repeat(lsn as usize % 50)).into_bytes()
}

/// Appends `count` records, each waited for, one batch each.
async fn write_batches(journal: &Journal, count: u64) {
    for _ in 0..count {
        let lsn = journal.append(7, 0, 1, &payload(journal.stats().lsn_appended + 1));
        journal.wait_durable(lsn).await.unwrap();
    }
}

/// Polls `done` every millisecond until it holds or `limit` has passed; the
/// caller's assertion then reports a miss.
async fn poll_until(limit: Duration, done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() && started.elapsed() < limit {
        crate::runtime::sleep(Duration::from_millis(1)).await;
    }
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    segment::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|s| s.1)
        .collect()
}

fn assert_records(records: &[Record], lsns: std::ops::RangeInclusive<Lsn>) {
    let got: Vec<Lsn> = records.iter().map(|r| r.lsn).collect();
    assert_eq!(got, lsns.clone().collect::<Vec<_>>());
    for r in records {
        assert_eq!(
            (r.slot, r.db, r.kind, &r.payload[..]),
            (7, 0, 1, &payload(r.lsn)[..])
        );
    }
}

#[test]
fn appended_records_round_trip_through_recovery() {
    let dir = TempDir::new("journal-roundtrip");
    run(async {
        let journal = open(config(dir.path(), FsyncMode::Always)).await;
        write_batches(&journal, 20).await;
        let big = vec![0x5A; 100_000];
        let lsn = journal.append(16383, 15, 9, &big);
        journal.wait_durable(lsn).await.unwrap();
        journal.close().await.unwrap();
    });
    let (records, recovery) = recover(dir.path(), 1);
    let recovery = recovery.unwrap();
    assert_records(&records[..20], 1..=20);
    let big = &records[20];
    assert_eq!(
        (big.lsn, big.slot, big.db, big.kind, big.payload.len()),
        (21, 16383, 15, 9, 100_000)
    );
    assert_eq!(
        (recovery.next_lsn, recovery.records, recovery.torn_tail),
        (22, 21, None)
    );
}

#[test]
fn group_commit_puts_concurrent_appends_in_few_batches() {
    let dir = TempDir::new("journal-group");
    run(async {
        let journal = open(config(dir.path(), FsyncMode::Always)).await;
        let tasks: Vec<_> = (0..256)
            .map(|_| {
                let journal = journal.clone();
                crate::runtime::spawn_local(async move {
                    for _ in 0..4 {
                        let lsn = journal.append(7, 0, 1, b"x");
                        journal.wait_durable(lsn).await.unwrap();
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
        let stats = journal.stats();
        assert_eq!((stats.lsn_durable, stats.records_pending), (1024, 0));
        // 1024 acknowledged writes; one batch per round of appenders, not per write.
        assert!(
            stats.batches_written <= 16,
            "{} batches",
            stats.batches_written
        );
        journal.close().await.unwrap();
    });
    let (records, recovery) = recover(dir.path(), 1);
    assert_eq!(records.len(), 1024);
    assert_eq!(recovery.unwrap().next_lsn, 1025);
}

/// The data end of the newest segment, from what recovery saw.
fn data_end(dir: &Path) -> (PathBuf, u64) {
    let (summaries, _) = JournalReader::open(dir, 1).unwrap().into_parts();
    let last = summaries.last().unwrap();
    (last.path.clone(), last.bytes_used)
}

fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
    file.sync_all().unwrap();
}

#[test]
fn torn_last_batch_is_cut_with_a_warning_and_writing_resumes() {
    let dir = TempDir::new("journal-torn");
    let (path, end) = run(async {
        let journal = open(config(dir.path(), FsyncMode::Always)).await;
        write_batches(&journal, 5).await;
        journal.close().await.unwrap();
        data_end(dir.path())
    });
    // A sixth batch whose write was interrupted after its first 60 bytes.
    let whole = run(async {
        let scratch = TempDir::new("journal-torn-scratch");
        let journal = open(config(scratch.path(), FsyncMode::Always)).await;
        write_batches(&journal, 6).await;
        journal.close().await.unwrap();
        let (scratch_path, _) = data_end(scratch.path());
        std::fs::read(scratch_path).unwrap()
    });
    // Nonces differ per segment, so copy the scratch batch's bytes only to get
    // garbage shaped like a real partial write.
    patch(&path, end, &whole[end as usize..end as usize + 60]);
    let (records, recovery) = recover(dir.path(), 1);
    assert_records(&records, 1..=5);
    let recovery = recovery.unwrap();
    let torn = recovery.torn_tail.clone().expect("torn tail");
    assert_eq!((torn.path.as_path(), torn.offset), (path.as_path(), end));
    assert!(
        torn.to_string().contains(&format!("offset {end}")),
        "{torn}"
    );
    assert_eq!(recovery.next_lsn, 6);
    run(async {
        let journal = Journal::open(config(dir.path(), FsyncMode::Always), &recovery)
            .await
            .unwrap();
        write_batches(&journal, 3).await;
        journal.close().await.unwrap();
    });
    let (records, recovery) = recover(dir.path(), 1);
    assert_records(&records, 1..=8);
    assert_eq!(recovery.unwrap().torn_tail, None);
    assert!(dir
        .path()
        .join(format!(
            "{}.cut",
            path.file_name().unwrap().to_str().unwrap()
        ))
        .exists());
}

#[test]
fn flipped_byte_in_an_earlier_batch_is_corruption_naming_file_and_offset() {
    let dir = TempDir::new("journal-flip");
    run(async {
        let journal = open(config(dir.path(), FsyncMode::Always)).await;
        write_batches(&journal, 3).await;
        journal.close().await.unwrap();
    });
    let path = segment_files(dir.path())[0].clone();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8192 + 60] ^= 0x01; // inside the second batch's first record
    patch(&path, 8192, &bytes[8192..8192 + 4096]);
    let (records, recovery) = recover(dir.path(), 1);
    assert_records(&records, 1..=1);
    match recovery.unwrap_err() {
        JournalError::Corrupt {
            path: bad,
            offset,
            what,
        } => {
            assert_eq!((bad, offset), (path, 8192));
            assert!(what.contains("crc"), "{what}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn unsynced_hole_under_everysec_is_a_torn_tail_not_corruption() {
    let dir = TempDir::new("journal-hole");
    run(async {
        let journal = open(config(dir.path(), FsyncMode::EverySec)).await;
        for written in 1..=3 {
            journal.append(7, 0, 1, b"x");
            // Each record its own batch: wait for the flusher to write it out
            // before appending the next.
            poll_until(Duration::from_secs(5), || {
                journal.stats().batches_written == written
            })
            .await;
        }
        assert_eq!(journal.stats().batches_written, 3);
        journal.close().await.unwrap();
    });
    // Power loss kept batches 1 and 3 but not 2: nothing after the hole claims
    // LSN 2 was durable (the first sync came at close).
    let path = segment_files(dir.path())[0].clone();
    patch(&path, 8192, &[0u8; 4096]);
    let (records, recovery) = recover(dir.path(), 1);
    assert_eq!(records.len(), 1);
    let recovery = recovery.unwrap();
    assert_eq!(recovery.torn_tail.as_ref().map(|t| t.offset), Some(8192));
    assert_eq!(recovery.next_lsn, 2);
}

#[test]
fn full_segments_roll_over_and_recovery_reads_them_in_order() {
    let dir = TempDir::new("journal-rollover");
    run(async {
        let journal = open(config(dir.path(), FsyncMode::Always)).await;
        write_batches(&journal, 40).await; // 40 one-block batches, 15 per 64 KiB segment
        let huge = vec![1u8; 100_000]; // bigger than a segment: gets its own
        let lsn = journal.append(7, 0, 1, &huge);
        journal.wait_durable(lsn).await.unwrap();
        assert_eq!(journal.stats().segments_created, 4);
        journal.close().await.unwrap();
    });
    let files = segment_files(dir.path());
    let names: Vec<_> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "journal-00000000000000000001.seg",
            "journal-00000000000000000016.seg",
            "journal-00000000000000000031.seg",
            "journal-00000000000000000041.seg"
        ]
    );
    assert!(std::fs::metadata(&files[3]).unwrap().len() > SEGMENT_BYTES_SMALL);
    let (records, recovery) = recover(dir.path(), 1);
    assert_records(&records[..40], 1..=40);
    assert_eq!(records[40].payload.len(), 100_000);
    assert_eq!(recovery.unwrap().next_lsn, 42);
}

#[test]
fn reopened_journal_continues_lsns_in_a_new_segment_without_touching_old_blocks() {
    let dir = TempDir::new("journal-resume");
    run(async {
        let journal = open(config(dir.path(), FsyncMode::Always)).await;
        write_batches(&journal, 4).await;
        journal.close().await.unwrap();
    });
    let first = segment_files(dir.path())[0].clone();
    let before = std::fs::read(&first).unwrap();
    run(async {
        let journal = open(config(dir.path(), FsyncMode::Always)).await;
        write_batches(&journal, 4).await;
        journal.close().await.unwrap();
    });
    assert_eq!(std::fs::read(&first).unwrap(), before);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 2);
    assert!(files[1].ends_with("journal-00000000000000000005.seg"));
    let (records, _) = recover(dir.path(), 1);
    assert_records(&records, 1..=8);
}

#[test]
fn replay_starts_after_a_snapshot_and_old_segments_can_go() {
    let dir = TempDir::new("journal-snapshot");
    run(async {
        let journal = open(config(dir.path(), FsyncMode::Always)).await;
        write_batches(&journal, 40).await; // segments start at 1, 16, 31
        journal.close().await.unwrap();
    });
    let (records, recovery) = recover(dir.path(), 20);
    assert_records(&records, 20..=40);
    assert_eq!(recovery.unwrap().next_lsn, 41);
    // Snapshot holds LSN 19: keep records from 20 on.
    let covered = segments_before(dir.path(), 20).unwrap();
    assert_eq!(covered.len(), 1);
    std::fs::remove_file(&covered[0]).unwrap();
    let (records, _) = recover(dir.path(), 20);
    assert_records(&records, 20..=40);
    assert!(check_journal(dir.path(), false).unwrap().is_clean());
    // A journal that lost records the snapshot does not cover is an error.
    assert!(matches!(
        JournalReader::open(dir.path(), 10),
        Err(JournalError::Corrupt { .. })
    ));
    // A snapshot ahead of the journal: nothing to replay, LSNs continue after it.
    let (records, recovery) = recover(dir.path(), 100);
    assert!(records.is_empty());
    assert_eq!(recovery.unwrap().next_lsn, 100);
}

#[test]
fn failed_writes_fail_their_waiters_then_the_retry_makes_them_durable() {
    let dir = TempDir::new("journal-enospc");
    run(async {
        let journal = open(config(dir.path(), FsyncMode::Always)).await;
        write_batches(&journal, 2).await;
        fault::fail_next(fault::Op::Write, libc::ENOSPC, 2);
        let lsn = journal.append(7, 0, 1, &payload(3));
        match journal.wait_durable(lsn).await.unwrap_err() {
            JournalError::Io { errno, op, .. } => {
                assert_eq!((errno, op), (Some(libc::ENOSPC), "writing"))
            }
            other => panic!("{other}"),
        }
        assert!(journal.check_writable().is_err());
        assert_eq!(
            journal.stats().write_error_last.as_ref().map(|_| ()),
            Some(())
        );
        // The flusher retries; the second retry finds room.
        crate::runtime::sleep(Duration::from_millis(350)).await;
        journal.check_writable().unwrap();
        journal.wait_durable(lsn).await.unwrap();
        let stats = journal.stats();
        assert_eq!((stats.write_errors, stats.lsn_durable), (2, 3));
        write_batches(&journal, 1).await;
        journal.close().await.unwrap();
    });
    fault::clear();
    let (records, recovery) = recover(dir.path(), 1);
    assert_records(&records, 1..=4);
    assert_eq!(recovery.unwrap().torn_tail, None);
}

#[test]
fn everysec_acknowledges_at_once_and_syncs_within_a_second() {
    let dir = TempDir::new("journal-everysec");
    run(async {
        let journal = open(config(dir.path(), FsyncMode::EverySec)).await;
        crate::runtime::sleep(Duration::from_millis(1100)).await;
        let lsn = journal.append(7, 0, 1, b"x");
        journal.wait_durable(lsn).await.unwrap();
        // Idle for over a second: the first batch is synced right away, well before the next
        // second (a quarter of a second allowed, for a loaded machine's slow sync).
        poll_until(Duration::from_millis(250), || {
            journal.stats().lsn_durable == 1
        })
        .await;
        assert_eq!(journal.stats().lsn_durable, 1);
        let lsn = journal.append(7, 0, 1, b"y");
        journal.wait_durable(lsn).await.unwrap();
        crate::runtime::sleep(Duration::from_millis(50)).await;
        let stats = journal.stats();
        assert_eq!(
            (stats.lsn_written, stats.lsn_durable, stats.syncs),
            (2, 1, 1)
        );
        crate::runtime::sleep(Duration::from_millis(1100)).await;
        let stats = journal.stats();
        assert_eq!((stats.lsn_durable, stats.syncs), (2, 2));
        journal.close().await.unwrap();
    });
}

#[test]
fn check_journal_reports_per_shard_and_repair_cuts_at_the_first_problem() {
    let data = TempDir::new("journal-check");
    for shard in 0..2 {
        let dir = data.path().join(format!("shard-{shard}"));
        run(async {
            let journal = open(config(&dir, FsyncMode::Always)).await;
            write_batches(&journal, 20).await;
            journal.close().await.unwrap();
        });
    }
    let bad = segment_files(&data.path().join("shard-1"))[0].clone();
    patch(&bad, 3 * 4096 + 50, b"garbage"); // inside the third batch's record
    let report = check_journal(data.path(), false).unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.shards[0].problem, None);
    assert_eq!(
        report.shards[0]
            .segments
            .iter()
            .map(|s| s.records)
            .sum::<u64>(),
        20
    );
    let Some(CheckProblem::Corrupt(JournalError::Corrupt { path, offset, .. })) =
        &report.shards[1].problem
    else {
        panic!("{report}");
    };
    assert_eq!((path, *offset), (&bad, 3 * 4096));
    assert!(report.to_string().contains("offset 12288"), "{report}");

    let repaired = check_journal(data.path(), true).unwrap();
    assert!(repaired.is_clean() && repaired.shards[1].repaired);
    let after = check_journal(data.path(), false).unwrap();
    assert!(after.is_clean(), "{after}");
    let (records, recovery) = recover(&data.path().join("shard-1"), 1);
    assert_records(&records, 1..=2);
    assert_eq!(recovery.unwrap().next_lsn, 3);
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".tmp"))
        .collect()
}

#[test]
fn many_rollovers_in_a_row_keep_every_record_in_lsn_order() {
    for fsync in [FsyncMode::Always, FsyncMode::No] {
        let dir = TempDir::new("journal-many-rollovers");
        let stats = run(async {
            let config = JournalConfig {
                // The header and three one-block batches per segment.
                segment_bytes: 4 * 4096,
                ..config(dir.path(), fsync)
            };
            let journal = open(config).await;
            if fsync == FsyncMode::Always {
                write_batches(&journal, 300).await;
            } else {
                // `No` acknowledges at once: batches of every size, one
                // bigger than a segment.
                for group in [1, 5, 30, 200, 3, 61] {
                    for _ in 0..group {
                        journal.append(7, 0, 1, &payload(journal.appended_lsn() + 1));
                    }
                    crate::runtime::sleep(Duration::from_millis(5)).await;
                }
            }
            journal.close().await.unwrap();
            journal.stats()
        });
        let segments_min = if fsync == FsyncMode::Always { 100 } else { 3 };
        assert!(
            stats.segments_created >= segments_min,
            "{fsync:?}: {stats:?}"
        );
        if fsync == FsyncMode::Always {
            // Every rollover took the segment prepared for it.
            assert_eq!(stats.segments_prepared, stats.segments_created - 1);
        }
        assert_eq!(temporaries(dir.path()), Vec::<String>::new());
        let (records, recovery) = recover(dir.path(), 1);
        assert_records(&records, 1..=300);
        let recovery = recovery.unwrap();
        assert_eq!((recovery.next_lsn, recovery.torn_tail), (301, None));
        assert!(check_journal(dir.path(), false).unwrap().is_clean());
    }
}

#[test]
fn leftover_prepared_segments_are_ignored_by_recovery_and_deleted_at_open() {
    let dir = TempDir::new("journal-leftover-tmp");
    run(async {
        let journal = open(config(dir.path(), FsyncMode::Always)).await;
        write_batches(&journal, 5).await;
        journal.close().await.unwrap();
    });
    // A crash during a rollover: the prepared file already has its header (a
    // copy of a real segment: read as part of the log, its LSNs would repeat).
    let first = segment_files(dir.path())[0].clone();
    std::fs::copy(&first, dir.path().join("journal-next.tmp")).unwrap();
    std::fs::write(
        dir.path().join("journal-00000000000000000006.seg.tmp"),
        b"x",
    )
    .unwrap();
    let (records, recovery) = recover(dir.path(), 1);
    assert_records(&records, 1..=5);
    assert_eq!(recovery.unwrap().torn_tail, None);
    assert!(check_journal(dir.path(), false).unwrap().is_clean());
    run(async {
        let journal = open(config(dir.path(), FsyncMode::Always)).await;
        assert!(!dir
            .path()
            .join("journal-00000000000000000006.seg.tmp")
            .exists());
        write_batches(&journal, 20).await; // a rollover at LSN 21
        journal.close().await.unwrap();
    });
    assert_eq!(temporaries(dir.path()), Vec::<String>::new());
    let (records, recovery) = recover(dir.path(), 1);
    assert_records(&records, 1..=25);
    assert_eq!(recovery.unwrap().torn_tail, None);
}

#[test]
fn enospc_preparing_and_creating_a_segment_fails_the_write_then_the_retry_succeeds() {
    let dir = TempDir::new("journal-enospc-rollover");
    run(async {
        let journal = open(config(dir.path(), FsyncMode::Always)).await;
        // The background preparation of segment 2 fails, and so does the
        // inline creation the rollover falls back to.
        fault::fail_next(fault::Op::Allocate, libc::ENOSPC, 2);
        write_batches(&journal, 15).await; // fills segment 1
        let lsn = journal.append(7, 0, 1, &payload(16));
        match journal.wait_durable(lsn).await.unwrap_err() {
            JournalError::Io { errno, op, .. } => {
                assert_eq!((errno, op), (Some(libc::ENOSPC), "creating"))
            }
            other => panic!("{other}"),
        }
        assert!(journal.check_writable().is_err());
        crate::runtime::sleep(Duration::from_millis(150)).await;
        journal.wait_durable(lsn).await.unwrap();
        journal.check_writable().unwrap();
        write_batches(&journal, 20).await; // a rollover onto a prepared segment
        let stats = journal.stats();
        assert_eq!((stats.segments_created, stats.segments_prepared), (3, 1));
        journal.close().await.unwrap();
    });
    fault::clear();
    let (records, recovery) = recover(dir.path(), 1);
    assert_records(&records, 1..=36);
    assert_eq!(recovery.unwrap().torn_tail, None);
}

#[test]
fn a_unit_of_records_is_never_split_between_batches() {
    const RECORD_BYTES: usize = 900 << 10;
    let dir = TempDir::new("unit");
    run(async {
        let journal = open(JournalConfig::new(
            dir.path().to_path_buf(),
            0,
            FsyncMode::Always,
        ))
        .await;
        // Alone, the batch size limit would end the first batch after the unit's first record.
        let first = journal.append(7, 0, 1, &vec![1; 3 * RECORD_BYTES]);
        let unit = journal.begin_unit();
        journal.append(7, 0, 1, &vec![2; RECORD_BYTES]);
        let last = journal.append(7, 0, 1, &vec![3; RECORD_BYTES]);
        journal.end_unit(unit);
        const {
            assert!(4 * RECORD_BYTES <= batch::BATCH_BODY_BYTES_MAX);
            assert!(5 * RECORD_BYTES > batch::BATCH_BODY_BYTES_MAX);
        }
        journal.wait_durable(last).await.unwrap();
        assert_eq!(journal.stats().batches_written, 1);
        journal.close().await.unwrap();
        let (records, recovery) = recover(dir.path(), first);
        recovery.unwrap();
        let lsns: Vec<Lsn> = records.iter().map(|r| r.lsn).collect();
        assert_eq!(lsns, (first..=last).collect::<Vec<_>>());
    });
}

#[test]
fn a_payload_over_the_record_maximum_is_written_in_one_batch_and_read_back_whole() {
    const PIECE_BYTES: usize = 900 << 10;
    const { assert!(6 * PIECE_BYTES > batch::BATCH_BODY_BYTES_MAX) };
    let big: Vec<u8> = (0..6 * PIECE_BYTES - 1000)
        .map(|i| (i % 251) as u8)
        .collect();
    let dir = TempDir::new("journal-split");
    let (big_batch, big_lsn) = run(async {
        let journal = open(JournalConfig::new(
            dir.path().to_path_buf(),
            0,
            FsyncMode::Always,
        ))
        .await;
        journal.split_payloads_over(PIECE_BYTES);
        write_batches(&journal, 1).await;
        let big_batch = data_end(dir.path());
        let big_lsn = journal.append(100, 2, 9, &big);
        journal.wait_durable(big_lsn).await.unwrap();
        assert_eq!(
            journal.stats().batches_written,
            2,
            "the pieces took one batch"
        );
        write_batches(&journal, 1).await;
        journal.close().await.unwrap();
        (big_batch, big_lsn)
    });
    // Six pieces, LSNs 2 to 7; the payload reads back as one record with the last LSN.
    assert_eq!(big_lsn, 7);
    let (records, recovery) = recover(dir.path(), 1);
    assert_eq!(recovery.unwrap().next_lsn, 9);
    let lsns: Vec<Lsn> = records.iter().map(|r| r.lsn).collect();
    assert_eq!(lsns, [1, 7, 8]);
    let read = &records[1];
    assert_eq!((read.slot, read.db, read.kind), (100, 2, 9));
    assert!(read.payload[..] == big[..], "payload changed");
    // Replay from inside the pieces still gets the payload whole.
    let (records, _) = recover(dir.path(), 4);
    assert_eq!(records.len(), 2);
    assert!(records[0].payload[..] == big[..]);
    let report = check_journal(dir.path(), false).unwrap();
    assert!(report.is_clean(), "{report}");
    // A damaged piece stops the reading at the batch that holds the payload: no part of it is
    // returned (and the later batch proves it was durable: corruption, not a torn tail).
    let (path, offset) = big_batch;
    patch(&path, offset + 3 * PIECE_BYTES as u64, &[0xEE; 16]);
    let (records, recovery) = recover(dir.path(), 1);
    assert_records(&records, 1..=1);
    match recovery {
        Err(JournalError::Corrupt {
            path: at,
            offset: o,
            ..
        }) => assert_eq!((at, o), (path, offset)),
        other => panic!("expected corruption, got {other:?}"),
    }
}
