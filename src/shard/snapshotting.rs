//! The shard's side of snapshots: start one, walk the keyspace slot by slot in a background task
//! (yielding to clients between steps), write out slots before a write changes them, and once the
//! file is published, drop the journal and the snapshots it makes redundant.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;

use super::{now_ms, Shard};
use crate::commands::CommandSpec;
use crate::journal::Lsn;
use crate::keyspace::Keyspace;
use crate::runtime::{self, file::StagedFile};
use crate::snapshot::{format, Header, SnapshotRun};

/// Most entries one background step writes out before yielding to clients.
const STEP_ENTRIES_MAX: usize = 1024;
/// Most slots one background step visits (empty slots cost a little too).
const STEP_SLOTS_MAX: usize = 256;
/// Buffered bytes at which the walk hands a chunk to the file.
const CHUNK_BYTES: usize = 1024 * 1024;
/// How long a snapshot waits for the journal to be durable up to its LSN before it is published
/// (a snapshot must never cover records that a crash could take from the journal: the next run
/// would hand out their LSNs again). Past it the snapshot fails.
const JOURNAL_CATCH_UP_MS_MAX: u64 = 10_000;

/// Why a snapshot did not start.
#[derive(Debug, PartialEq, Eq)]
pub enum NotStarted {
    AlreadyRunning,
    NoJournal,
}

impl Shard {
    /// Starts a snapshot of this shard in the background; returns its sequence number.
    pub fn start_snapshot(&self) -> Result<u64, NotStarted> {
        let journal = self.journal.as_ref().ok_or(NotStarted::NoJournal)?;
        if self.snapshots.is_running() {
            return Err(NotStarted::AlreadyRunning);
        }
        let lsn = journal.appended_lsn();
        let header = Header {
            shard: self.id as u32,
            slots: self.node.slots.range(self.id),
            epoch: self.snapshots.epoch,
            lsn,
            txns: self.snapshots.txns_up_to(lsn),
        };
        let seq = self
            .snapshots
            .begin(SnapshotRun::new(header), journal.stats().bytes_written);
        let me = self.me.upgrade().expect("a running shard is in an Rc");
        // A plain task: its steps pause on a timer, so clients keep the executor. (Task queues of
        // their own, for this and for the journal flusher, have left shards hung with glommio 0.9.)
        runtime::spawn_local(me.take_snapshot()).detach();
        Ok(seq)
    }

    /// Copy-on-write: before a write command runs during a snapshot's walk, writes out the slots
    /// it may change. Cheap when no walk runs.
    pub(super) fn snapshot_before_write(
        &self,
        keyspace: &mut Keyspace,
        spec: &'static CommandSpec,
        args: &[Bytes],
    ) {
        if !self.snapshots.is_walking() {
            return;
        }
        if let Some(run) = self.snapshots.running().as_mut() {
            let keys = spec.key_indexes(args);
            run.before_write(keyspace, keys.iter().map(|&i| &args[i]), now_ms());
        }
    }

    /// After a write command during a snapshot's walk: writes out what it replaced in big sorted
    /// sets being written out (`snapshot::parts`).
    pub(super) fn snapshot_after_write(&self, keyspace: &mut Keyspace) {
        if !self.snapshots.is_walking() {
            return;
        }
        if let Some(run) = self.snapshots.running().as_mut() {
            run.after_write(keyspace);
        }
    }

    /// Writes out everything the running snapshot has not, at once: before a change to the
    /// whole keyspace that is not a write command (DEBUG RELOAD).
    pub(crate) fn snapshot_write_out_all(&self, keyspace: &mut Keyspace) {
        if !self.snapshots.is_walking() {
            return;
        }
        if let Some(run) = self.snapshots.running().as_mut() {
            run.before_write(keyspace, std::iter::empty(), now_ms());
        }
    }

    /// Starts a snapshot when the journal grew past `auto-aof-rewrite-*` (from the cron).
    pub(super) fn maybe_auto_snapshot(&self) {
        let Some(journal) = &self.journal else {
            return;
        };
        let (min_bytes, percentage) = {
            let config = self.config.borrow();
            (
                config.auto_aof_rewrite_min_size,
                config.auto_aof_rewrite_percentage,
            )
        };
        let written = journal.stats().bytes_written;
        if self.snapshots.wants_auto(written, min_bytes, percentage) {
            log::info!("shard {}: starting an automatic snapshot", self.id);
            let _ = self.start_snapshot();
        }
    }

    async fn take_snapshot(self: Rc<Self>) {
        match self.write_snapshot().await {
            Ok(path) => {
                let (lsn, written_s) = {
                    let running = self.snapshots.running();
                    let run = running.as_ref().expect("the snapshot was running");
                    (run.header.lsn, run.started.elapsed().as_secs_f64())
                };
                // The run ends only once the files it made redundant are gone (deleted
                // gradually, so this takes a while): SAVE then returns with the disk trimmed, and
                // no other snapshot can start, and trim, meanwhile.
                self.trim_after_snapshot(lsn).await;
                let run = self.snapshots.end(true).expect("the snapshot was running");
                log::info!(
                    "shard {}: snapshot {} done: {} keys, {} bytes, written in {written_s:.3} s",
                    self.id,
                    path.display(),
                    run.entries(),
                    run.bytes,
                );
            }
            Err(e) => {
                if let Some(run) = self.snapshots.end(false) {
                    run.abandon(&mut self.keyspace.borrow_mut());
                }
                log::warn!("shard {}: snapshot failed: {e}", self.id);
            }
        }
    }

    async fn write_snapshot(&self) -> Result<PathBuf, String> {
        let journal = self.journal.as_ref().expect("snapshots need a journal");
        let lsn = self.snapshot_lsn();
        let path = journal.dir().join(format::file_name(lsn));
        let fail = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut file = StagedFile::create(&path).await.map_err(fail)?;
        loop {
            let (chunk, done) = self.snapshot_step();
            if let Some(chunk) = chunk {
                if let Err(e) = file.append(chunk).await {
                    file.discard();
                    return Err(fail(e));
                }
            }
            if done {
                break;
            }
            runtime::yield_to_others().await;
        }
        if let Err(e) = self.wait_journal_reaches(lsn).await {
            file.discard();
            return Err(e);
        }
        file.publish().await.map_err(fail)
    }

    fn snapshot_lsn(&self) -> Lsn {
        let running = self.snapshots.running();
        running.as_ref().expect("a snapshot is running").header.lsn
    }

    /// One background step: writes out a bounded number of slots; returns a chunk for the file
    /// (when enough is buffered, or the last one) and whether the walk is done.
    fn snapshot_step(&self) -> (Option<Vec<u8>>, bool) {
        let mut keyspace = self.keyspace.borrow_mut();
        let mut running = self.snapshots.running();
        let run = running.as_mut().expect("a snapshot is running");
        run.step(&mut keyspace, STEP_ENTRIES_MAX, STEP_SLOTS_MAX, now_ms());
        if run.is_walked() {
            self.snapshots.walk_done();
            return (Some(run.finish()), true);
        }
        let chunk = (run.buffered_bytes() >= CHUNK_BYTES).then(|| run.take_chunk());
        (chunk, false)
    }

    async fn wait_journal_reaches(&self, lsn: Lsn) -> Result<(), String> {
        let journal = self.journal.as_ref().expect("snapshots need a journal");
        let started = std::time::Instant::now();
        while journal.durable_lsn() < lsn {
            if started.elapsed() > Duration::from_millis(JOURNAL_CATCH_UP_MS_MAX) {
                return Err(format!("the journal is not durable up to LSN {lsn}"));
            }
            runtime::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Keeps the journal segments that the snapshot at `lsn` makes redundant as spares for reuse
    /// (up to `SPARE_SEGMENTS_MAX`) and deletes the rest, and the older snapshots. A failure here
    /// loses nothing (the files are only redundant), so it is logged.
    pub(super) async fn trim_after_snapshot(&self, lsn: Lsn) {
        let journal = self.journal.as_ref().expect("snapshots need a journal");
        let dir = journal.dir().to_path_buf();
        if !self.snapshots.may_trim.get() {
            log::info!(
                "shard {}: keeping the journal and older snapshots (they hold keys of other slot ranges since a `shards` change)",
                self.id
            );
            return;
        }
        let (segments, snapshots) = runtime::blocking(move || {
            let older_snapshots: Vec<PathBuf> = format::list(&dir)
                .unwrap_or_default()
                .into_iter()
                .filter(|&(older, _)| older < lsn)
                .map(|(_, path)| path)
                .collect();
            (
                crate::journal::segments_before(&dir, lsn + 1),
                older_snapshots,
            )
        })
        .await;
        let segments = segments.unwrap_or_else(|e| {
            log::warn!("shard {}: listing journal segments: {e}", self.id);
            Vec::new()
        });
        let (segment_count, snapshot_count) = (segments.len(), snapshots.len());
        let mut doomed = Vec::new();
        for path in segments {
            if !journal.keep_as_spare(&path).await {
                doomed.push(path);
            }
        }
        let spared = segment_count - doomed.len();
        doomed.extend(snapshots);
        let mut deleted = 0;
        for path in &doomed {
            match runtime::file::delete_gradually(path).await {
                Ok(()) => deleted += 1,
                Err(e) => log::warn!("shard {}: deleting {}: {e}", self.id, path.display()),
            }
        }
        if spared + deleted > 0 {
            log::info!(
                "shard {}: {segment_count} redundant journal segments and {snapshot_count} snapshots: {spared} segments kept as spares, {deleted} files deleted",
                self.id
            );
        }
    }
}
