//! A shard's snapshot bookkeeping: the snapshot in progress (if any), what the last one achieved
//! (for LASTSAVE, INFO and the automatic trigger), and the cross-shard transactions whose part
//! the shard's journal holds (a snapshot lists them; see `format`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use super::format::TxnKey;
use super::writer::SnapshotRun;
use crate::journal::Lsn;

/// Most transaction tags a shard remembers for its snapshots. Past it the oldest are forgotten;
/// a forgotten transaction is still complete at recovery unless another shard's part of it is
/// in that shard's journal tail and this shard's part only in a snapshot (then it is dropped).
pub const TXN_TAGS_MAX: usize = 1_000_000;

/// What the last snapshots did, for LASTSAVE, INFO and the automatic trigger.
#[derive(Clone, Debug, Default)]
pub struct SnapshotStats {
    /// Sequence number of the last snapshot started, and of the last one that ended.
    pub started_seq: u64,
    pub ended_seq: u64,
    /// Whether the last one that ended succeeded.
    pub last_failed: bool,
    /// When the last successful snapshot completed (Unix seconds).
    pub last_save_unix_s: u64,
    pub last_duration_s: i64,
    /// Successful snapshots in this run.
    pub completed: u64,
    /// The journal LSN the last successful snapshot covers.
    pub last_lsn: Lsn,
    /// Size of the last successful snapshot (the base of the growth percentage).
    pub last_bytes: u64,
    /// The journal's bytes written when the last successful snapshot started.
    pub journal_bytes_base: u64,
    /// Snapshots that failed since the last one that succeeded.
    pub failures_in_a_row: u64,
    /// Keys this shard started with, and keys recovery found expired and dropped.
    pub keys_loaded: u64,
    pub keys_expired_at_load: u64,
}

pub struct Snapshots {
    running: RefCell<Option<SnapshotRun>>,
    is_running: Cell<bool>,
    /// Whether the running snapshot still walks the keyspace, so writes must copy what they
    /// change first. False once the walk is done: the run then only waits for the journal and
    /// trims files, which takes a while (gradual deletes) but needs nothing from writes.
    walking: Cell<bool>,
    /// The journal's bytes written when the running snapshot started.
    journal_bytes_at_start: Cell<u64>,
    pub stats: RefCell<SnapshotStats>,
    /// Cross-shard transactions with a part in this shard's journal: (LSN, key); LSN 0 for
    /// those recovered at start (older than any snapshot of this run).
    txns: RefCell<VecDeque<(Lsn, TxnKey)>>,
    /// This run's epoch.
    pub epoch: u64,
    /// Whether a snapshot may delete the journal before it and the older snapshots: only when
    /// every key they hold is in this shard's current slot range (not so after a `shards` change:
    /// keys now owned by other shards would be lost). Set once every shard of the new layout has
    /// snapshotted (`shard::relayout`).
    pub may_trim: Cell<bool>,
}

impl Snapshots {
    pub fn new(
        epoch: u64,
        may_trim: bool,
        recovered_txns: Vec<TxnKey>,
        started_unix_s: u64,
    ) -> Snapshots {
        let mut txns: VecDeque<(Lsn, TxnKey)> =
            recovered_txns.into_iter().map(|t| (0, t)).collect();
        while txns.len() > TXN_TAGS_MAX {
            txns.pop_front();
        }
        Snapshots {
            running: RefCell::new(None),
            is_running: Cell::new(false),
            walking: Cell::new(false),
            journal_bytes_at_start: Cell::new(0),
            stats: RefCell::new(SnapshotStats {
                last_save_unix_s: started_unix_s,
                last_duration_s: -1,
                ..SnapshotStats::default()
            }),
            txns: RefCell::new(txns),
            epoch,
            may_trim: Cell::new(may_trim),
        }
    }

    pub fn is_running(&self) -> bool {
        self.is_running.get()
    }

    pub fn is_walking(&self) -> bool {
        self.walking.get()
    }

    /// The running snapshot has written out every slot.
    pub fn walk_done(&self) {
        self.walking.set(false);
    }

    pub fn running(&self) -> std::cell::RefMut<'_, Option<SnapshotRun>> {
        self.running.borrow_mut()
    }

    /// Makes `run` the snapshot in progress; returns its sequence number.
    pub fn begin(&self, run: SnapshotRun, journal_bytes: u64) -> u64 {
        assert!(!self.is_running(), "one snapshot at a time");
        *self.running.borrow_mut() = Some(run);
        self.is_running.set(true);
        self.walking.set(true);
        self.journal_bytes_at_start.set(journal_bytes);
        let mut stats = self.stats.borrow_mut();
        stats.started_seq += 1;
        stats.started_seq
    }

    /// Ends the snapshot in progress, successful or not.
    pub fn end(&self, ok: bool) -> Option<SnapshotRun> {
        let run = self.running.borrow_mut().take();
        self.is_running.set(false);
        self.walking.set(false);
        let mut stats = self.stats.borrow_mut();
        stats.ended_seq = stats.started_seq;
        stats.last_failed = !ok;
        stats.failures_in_a_row = if ok { 0 } else { stats.failures_in_a_row + 1 };
        if let (true, Some(run)) = (ok, &run) {
            stats.last_save_unix_s = crate::shard::now_ms() / 1000;
            stats.last_duration_s = run.started.elapsed().as_secs() as i64;
            stats.completed += 1;
            stats.last_lsn = run.header.lsn;
            stats.last_bytes = run.bytes;
            stats.journal_bytes_base = self.journal_bytes_at_start.get();
        }
        run
    }

    /// Remembers that this shard journaled a part of transaction `txn` at `lsn`.
    pub fn note_txn(&self, lsn: Lsn, txn: TxnKey) {
        let mut txns = self.txns.borrow_mut();
        if txns.len() == TXN_TAGS_MAX {
            txns.pop_front();
        }
        txns.push_back((lsn, txn));
    }

    /// The transactions with a part journaled at or before `lsn`.
    pub fn txns_up_to(&self, lsn: Lsn) -> Vec<TxnKey> {
        self.txns
            .borrow()
            .iter()
            .filter(|(at, _)| *at <= lsn)
            .map(|(_, t)| *t)
            .collect()
    }

    /// Whether the journal grew enough since the last snapshot for an automatic one:
    /// by more than `min_bytes` and by `percentage` percent of the last snapshot's size
    /// (0 turns automatic snapshots off).
    pub fn wants_auto(&self, journal_bytes: u64, min_bytes: u64, percentage: u64) -> bool {
        if percentage == 0 || self.is_running() {
            return false;
        }
        let stats = self.stats.borrow();
        let growth = journal_bytes.saturating_sub(stats.journal_bytes_base);
        growth > min_bytes && growth * 100 >= percentage * stats.last_bytes.max(1)
    }
}
