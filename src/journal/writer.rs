//! `Journal`: the group-commit writer of one shard.
//!
//! `append` encodes a record into memory and returns its LSN; the flusher task
//! takes everything appended since the last flush as one batch, written with
//! one aligned write (durable on return for `Always`: the segment is O_DSYNC).
//! Appends made while a batch is in flight form the next batch. Under
//! `appendfsync always` up to [`BATCHES_IN_FLIGHT_MAX`] batches are written at
//! once; replies are still released in LSN order, and recovery stops at the
//! first hole a crash left among them, so "LSN n durable" implies "every LSN
//! below n durable".

use super::batch::{BatchHeader, BATCH_BODY_BYTES_MAX, BATCH_HEADER_BYTES};
use super::reader::Recovery;
use super::record::{self, Lsn};
use super::segment::{
    self, ActiveSegment, PreparedSegment, SEGMENT_BYTES_DEFAULT, SEGMENT_HEADER_BYTES,
};
use super::staged::Staged;
use super::JournalError;
use crate::runtime::file::BLOCK_BYTES;
use futures_lite::future;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// When acknowledged writes are on stable storage (Redis's appendfsync).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncMode {
    /// `wait_durable` resolves once the record is on stable storage.
    Always,
    /// `wait_durable` returns at once; the flusher writes every batch and syncs
    /// at least once a second.
    EverySec,
    /// `wait_durable` returns at once; the flusher writes every batch and
    /// syncs only at segment rollover and close.
    No,
}

/// Appended bytes allowed to wait for the disk. Past it `check_writable` fails
/// (the server refuses writes) until the flusher catches up; `append` itself
/// never refuses, since the write it records has already happened in memory.
pub const PENDING_BYTES_MAX: usize = 1 << 30;
const EVERYSEC_INTERVAL: Duration = Duration::from_secs(1);
/// Pause between retries of a failed batch (ENOSPC, EIO), so a full disk is
/// probed ten times a second rather than in a hot loop.
const RETRY_DELAY: Duration = Duration::from_millis(100);

#[derive(Clone, Debug)]
pub struct JournalConfig {
    /// This shard's journal directory (created if missing).
    pub dir: PathBuf,
    pub shard: u32,
    pub fsync: FsyncMode,
    /// Size of each preallocated segment; a batch that does not fit starts a
    /// new one, sized up for a batch bigger than this.
    pub segment_bytes: u64,
}

impl JournalConfig {
    pub fn new(dir: PathBuf, shard: u32, fsync: FsyncMode) -> JournalConfig {
        JournalConfig {
            dir,
            shard,
            fsync,
            segment_bytes: SEGMENT_BYTES_DEFAULT,
        }
    }
}

/// Counters for INFO persistence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Last LSN handed out by `append`.
    pub lsn_appended: Lsn,
    pub lsn_written: Lsn,
    pub lsn_durable: Lsn,
    pub records_pending: u64,
    pub bytes_pending: u64,
    /// Bytes written to segments, batch headers and block padding included.
    pub bytes_written: u64,
    pub batches_written: u64,
    /// Durability points: fdatasyncs, or O_DSYNC batch writes under `Always`.
    pub syncs: u64,
    pub sync_latency_us_last: u64,
    pub sync_latency_us_max: u64,
    pub segments_created: u64,
    /// Of those, the ones made ahead of need (the rest were created inline at
    /// rollover, stalling the writes waiting on it).
    pub segments_prepared: u64,
    /// Of those, the ones made from a spare segment (`Journal::keep_as_spare`).
    pub segments_recycled: u64,
    pub write_errors: u64,
    /// The failure of the latest attempt, until a later attempt succeeds.
    pub write_error_last: Option<JournalError>,
}

/// Handle to a shard's journal; clones share it. Lives on one executor.
#[derive(Clone)]
pub struct Journal {
    inner: Rc<Inner>,
}

struct Inner {
    config: JournalConfig,
    state: RefCell<State>,
}

struct State {
    next_lsn: Lsn,
    /// Encoded records after `lsn_written`, oldest first.
    staged: Staged,
    staged_records: u64,
    waiters: Vec<Rc<Waiter>>,
    /// Byte ranges of `staged` holding a unit of several records (`begin_unit`), oldest first:
    /// a batch never ends inside one.
    units: VecDeque<Range<usize>>,
    flusher_waker: Option<Waker>,
    closing: bool,
    closed: Option<Result<(), JournalError>>,
    close_wakers: Vec<Waker>,
    stats: JournalStats,
    /// A payload over this many bytes is split over several records (`record::CONTINUED`).
    record_payload_max: usize,
}

/// Where a unit of records begins (`Journal::begin_unit`).
pub struct UnitStart {
    offset: usize,
    records: u64,
}

struct Waiter {
    lsn: Lsn,
    result: RefCell<Option<Result<(), JournalError>>>,
    waker: RefCell<Option<Waker>>,
}

impl Journal {
    /// Opens the journal for writing after recovery: cuts the torn tail the
    /// reader found (if any), makes the recovered records durable, creates a
    /// fresh segment for `recovery.next_lsn` (recovered blocks are never
    /// written again) and spawns the flusher on the current executor. Deletes
    /// leftover segment preparations (`journal-*.tmp`).
    pub async fn open(config: JournalConfig, recovery: &Recovery) -> Result<Journal, JournalError> {
        assert!(
            config.segment_bytes >= 2 * BLOCK_BYTES as u64
                && config.segment_bytes.is_multiple_of(BLOCK_BYTES as u64)
        );
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| JournalError::io("creating", &config.dir, &e))?;
        if let Some(torn) = &recovery.torn_tail {
            torn.cut()?;
        }
        recovery.sync_last_segment()?;
        segment::delete_temporaries(&config.dir)?;
        let next_lsn = recovery.next_lsn;
        assert!(next_lsn > 0);
        let write_through = config.fsync == FsyncMode::Always;
        let segment = ActiveSegment::create(
            &config.dir,
            config.shard,
            next_lsn,
            config.segment_bytes,
            0,
            write_through,
        )
        .await?;
        let stats = JournalStats {
            lsn_appended: next_lsn - 1,
            lsn_written: next_lsn - 1,
            lsn_durable: next_lsn - 1,
            segments_created: 1,
            ..JournalStats::default()
        };
        let state = State {
            next_lsn,
            staged: Staged::default(),
            staged_records: 0,
            waiters: Vec::new(),
            units: VecDeque::new(),
            flusher_waker: None,
            closing: false,
            closed: None,
            close_wakers: Vec::new(),
            stats,
            record_payload_max: record::RECORD_PAYLOAD_BYTES_MAX,
        };
        let inner = Rc::new(Inner {
            config,
            state: RefCell::new(state),
        });
        crate::runtime::spawn_local(Flusher::new(inner.clone(), segment).run()).detach();
        Ok(Journal { inner })
    }

    /// Whether the server may execute a write now (Redis answers `-MISCONF`
    /// otherwise): the latest flush did not fail, the backlog is under
    /// [`PENDING_BYTES_MAX`], and the journal is open.
    pub fn check_writable(&self) -> Result<(), JournalError> {
        let state = self.inner.state.borrow();
        if state.closing {
            return Err(JournalError::Closed);
        }
        if let Some(e) = &state.stats.write_error_last {
            return Err(e.clone());
        }
        if state.staged.len() > PENDING_BYTES_MAX {
            return Err(JournalError::Backlog {
                bytes_pending: state.staged.len() as u64,
            });
        }
        Ok(())
    }

    /// Records one write's effect and returns its LSN. Cheap and synchronous:
    /// the record is only in memory until the flusher writes it. A payload
    /// over `RECORD_PAYLOAD_BYTES_MAX` takes several records, written by one
    /// batch, and the LSN returned is the last one's. Panics on a slot >=
    /// 16384 or a closed journal.
    pub fn append(&self, slot: u16, db: u8, kind: u8, payload: &[u8]) -> Lsn {
        self.append_with(slot, db, kind, |out| out.extend_from_slice(payload))
    }

    /// `append` with the payload encoded by `write_payload` straight into the journal's buffer.
    pub fn append_with(
        &self,
        slot: u16,
        db: u8,
        kind: u8,
        write_payload: impl FnOnce(&mut Vec<u8>),
    ) -> Lsn {
        let mut state = self.inner.state.borrow_mut();
        assert!(!state.closing, "append to a closed journal");
        let first_lsn = state.next_lsn;
        let start = state.staged.len();
        let max = state.record_payload_max;
        let records = record::encode(
            state.staged.appender(),
            first_lsn,
            (slot, db, kind),
            write_payload,
            max,
        );
        if records > 1 {
            // The pieces of one payload are one unit: a crash keeps all of them or none.
            let end = state.staged.len();
            state.units.push_back(start..end);
        }
        let lsn = first_lsn + records - 1;
        state.next_lsn = lsn + 1;
        state.staged_records += records;
        state.stats.lsn_appended = lsn;
        if let Some(waker) = state.flusher_waker.take() {
            waker.wake();
        }
        lsn
    }

    /// Splits payloads over `bytes` (instead of `RECORD_PAYLOAD_BYTES_MAX`), so that tests
    /// exercise split records without writing hundreds of MB.
    #[cfg(test)]
    pub fn split_payloads_over(&self, bytes: usize) {
        self.inner.state.borrow_mut().record_payload_max = bytes;
    }

    /// Starts a unit: the records appended from now until `end_unit` are written by one batch
    /// (one write, durable all together), so that a crash never keeps only some of the records
    /// of one command, e.g. of an MSET of several keys.
    pub fn begin_unit(&self) -> UnitStart {
        let state = self.inner.state.borrow();
        UnitStart {
            offset: state.staged.len(),
            records: state.staged_records,
        }
    }

    pub fn end_unit(&self, start: UnitStart) {
        let mut state = self.inner.state.borrow_mut();
        // One record is indivisible already; only units of several need to be remembered.
        if state.staged_records > start.records + 1 {
            let end = state.staged.len();
            state.units.push_back(start.offset..end);
        }
    }

    /// Resolves when record `lsn` is acknowledged-safe under the fsync mode:
    /// on stable storage for `Always` (and then so is every record before it);
    /// at once for `EverySec` and `No`. Fails if the batch holding the record
    /// failed (the record stays queued and is retried), or, for the lazy modes,
    /// if the latest flush failed.
    pub async fn wait_durable(&self, lsn: Lsn) -> Result<(), JournalError> {
        let waiter = {
            let mut state = self.inner.state.borrow_mut();
            assert!(lsn < state.next_lsn, "waiting for LSN {lsn} never appended");
            if lsn <= state.stats.lsn_durable {
                return Ok(());
            }
            if state.closed.is_some() {
                return Err(JournalError::Closed);
            }
            if self.inner.config.fsync != FsyncMode::Always {
                return state.stats.write_error_last.clone().map_or(Ok(()), Err);
            }
            let waiter = Rc::new(Waiter {
                lsn,
                result: RefCell::new(None),
                waker: RefCell::new(None),
            });
            state.waiters.push(waiter.clone());
            waiter
        };
        future::poll_fn(|cx| match waiter.result.borrow_mut().take() {
            Some(result) => Poll::Ready(result),
            None => {
                *waiter.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// The highest LSN known to be on stable storage (cheap; for the hot path).
    pub fn durable_lsn(&self) -> Lsn {
        self.inner.state.borrow().stats.lsn_durable
    }

    /// The highest LSN appended so far.
    pub fn appended_lsn(&self) -> Lsn {
        self.inner.state.borrow().stats.lsn_appended
    }

    /// The directory the journal's segments are in.
    pub fn dir(&self) -> &std::path::Path {
        &self.inner.config.dir
    }

    /// Keeps `segment`, which a durable snapshot made redundant, as a spare that a later segment
    /// reuses (see `segment::keep_as_spare`); false when the caller should delete it instead.
    pub async fn keep_as_spare(&self, segment: &Path) -> bool {
        let config = &self.inner.config;
        let (dir, path, size_bytes) = (
            config.dir.clone(),
            segment.to_path_buf(),
            config.segment_bytes,
        );
        match crate::runtime::blocking(move || segment::keep_as_spare(&dir, &path, size_bytes))
            .await
        {
            Ok(kept) => kept,
            Err(e) => {
                log::warn!("keeping {} as a spare segment: {e}", segment.display());
                false
            }
        }
    }

    pub fn fsync_mode(&self) -> FsyncMode {
        self.inner.config.fsync
    }

    pub fn stats(&self) -> JournalStats {
        let state = self.inner.state.borrow();
        JournalStats {
            records_pending: state.staged_records,
            bytes_pending: state.staged.len() as u64,
            ..state.stats.clone()
        }
    }

    /// Writes and syncs everything appended, stops the flusher and closes the
    /// segment. A failed final flush is returned, not retried.
    pub async fn close(&self) -> Result<(), JournalError> {
        {
            let mut state = self.inner.state.borrow_mut();
            state.closing = true;
            if let Some(waker) = state.flusher_waker.take() {
                waker.wake();
            }
        }
        future::poll_fn(|cx| {
            let mut state = self.inner.state.borrow_mut();
            match &state.closed {
                Some(result) => Poll::Ready(result.clone()),
                None => {
                    state.close_wakers.push(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl State {
    /// Hands `result` to every waiter at or below `lsn`.
    fn resolve_waiters(&mut self, lsn: Lsn, result: Result<(), JournalError>) {
        self.waiters.retain(|waiter| {
            if waiter.lsn > lsn {
                return true;
            }
            *waiter.result.borrow_mut() = Some(result.clone());
            if let Some(waker) = waiter.waker.borrow_mut().take() {
                waker.wake();
            }
            false
        });
    }

    /// Forgets the units among the first `bytes` of `staged`, which a batch has just written,
    /// and shifts the others' offsets to the shortened buffer.
    fn drop_units_before(&mut self, bytes: usize) {
        while self.units.front().is_some_and(|unit| unit.end <= bytes) {
            self.units.pop_front();
        }
        for unit in &mut self.units {
            debug_assert!(unit.start >= bytes, "a batch ended inside a unit");
            unit.start -= bytes;
            unit.end -= bytes;
        }
    }

    fn record_sync(&mut self, started: Instant) {
        let us = started.elapsed().as_micros() as u64;
        self.stats.syncs += 1;
        self.stats.sync_latency_us_last = us;
        self.stats.sync_latency_us_max = self.stats.sync_latency_us_max.max(us);
    }

    /// Whether a batch ending at byte `offset` of `staged` would split a unit.
    fn inside_unit(&self, offset: usize) -> bool {
        self.units
            .iter()
            .any(|unit| unit.start < offset && offset < unit.end)
    }

    fn mark_durable(&mut self, lsn: Lsn) {
        assert!(lsn >= self.stats.lsn_durable && lsn <= self.stats.lsn_written);
        self.stats.lsn_durable = lsn;
        self.resolve_waiters(lsn, Ok(()));
    }
}

/// A batch chosen from the staged records: the first `body_bytes` of them.
struct BatchPlan {
    first_lsn: Lsn,
    record_count: u32,
    body_bytes: usize,
}

/// Resolves when records beyond the first `submitted` staged bytes arrive.
async fn more_records(inner: &Inner, submitted: usize) {
    future::poll_fn(|cx| {
        let mut state = inner.state.borrow_mut();
        if state.staged.len() > submitted {
            return Poll::Ready(());
        }
        state.flusher_waker = Some(cx.waker().clone());
        Poll::Pending
    })
    .await
}

/// The next segment, being made by a task of its own while the flusher writes
/// into the active one.
struct Preparing {
    /// Resolves when the segment is ready (or its preparation failed).
    task: Pin<Box<dyn Future<Output = Result<PreparedSegment, JournalError>>>>,
    size_bytes: u64,
    /// Set to make the task give up (at close).
    stop: Rc<Cell<bool>>,
}

impl Preparing {
    fn start(config: &JournalConfig) -> Preparing {
        let stop = Rc::new(Cell::new(false));
        let (dir, size_bytes) = (config.dir.clone(), config.segment_bytes);
        let write_through = config.fsync == FsyncMode::Always;
        let task_stop = stop.clone();
        let task = crate::runtime::spawn_local(async move {
            PreparedSegment::create(&dir, size_bytes, write_through, &task_stop).await
        });
        Preparing {
            task: Box::pin(task),
            size_bytes,
            stop,
        }
    }

    /// Stops the preparation and removes what it made.
    async fn cancel(mut self) {
        self.stop.set(true);
        if let Ok(prepared) = self.task.as_mut().await {
            prepared.discard().await;
        }
    }
}

/// Batches a write-through journal (`appendfsync always`) keeps in flight at once: a batch does not
/// wait for the previous one's write, so a commit costs about one device write instead of up to
/// two. Replies are still released in LSN order, and the reader tells a hole left by a crash
/// among unacknowledged batches from corruption (a batch header names what was durable when it was
/// written). Two, not more: every batch costs a fixed submission and completion (on the 2-core
/// VM, about 15 µs of the shard's core and 30 µs of the core taking the disk's interrupts), so
/// more batches in flight only made them smaller. Against four (`bench-harness/ab.sh`, durable
/// SET, 50 clients), two gave at pipeline 1 1.00-1.06x the throughput, 3-5% less CPU a command
/// and a fifth lower p99 (a slow batch holds fewer behind it); at pipeline 16, 1.01-1.03x. Three
/// was slower than two at both (0.95x, 0.96x), and so was one at pipeline 1 (0.93x), where each
/// batch then waits out the previous one's sync.
const BATCHES_IN_FLIGHT_MAX: usize = 2;

/// A batch being written.
struct InFlight {
    first_lsn: Lsn,
    record_count: u32,
    body_bytes: usize,
    padded_bytes: usize,
    offset: u64,
    started: Instant,
    write: crate::runtime::Task<Result<(), JournalError>>,
}

/// What the flusher waits for while batches are in flight.
enum Event {
    Written(Result<(), JournalError>),
    MoreRecords,
}

/// The single task that writes batches and syncs; owns the active segment.
struct Flusher {
    inner: Rc<Inner>,
    /// Oldest first.
    in_flight: std::collections::VecDeque<InFlight>,
    /// Staged bytes (from the front) and the last LSN that batches in flight cover.
    submitted_bytes: usize,
    lsn_submitted: Lsn,
    /// Where the batch whose write failed began: the retry starts there.
    rewind_offset: Option<u64>,
    /// The next batch does not fit the segment: it waits for the writes in flight, then rolls over.
    waiting_for_rollover: bool,
    /// None after a failed rollover, until the retry creates the new one.
    segment: Option<ActiveSegment>,
    /// The segment to roll over to, made in the background. None after a
    /// rollover that took it, until the next one starts.
    next: Option<Preparing>,
    last_sync: Cell<Instant>,
}

impl Flusher {
    fn new(inner: Rc<Inner>, segment: ActiveSegment) -> Flusher {
        let next = Some(Preparing::start(&inner.config));
        let lsn_submitted = inner.state.borrow().stats.lsn_written;
        Flusher {
            in_flight: std::collections::VecDeque::new(),
            submitted_bytes: 0,
            lsn_submitted,
            rewind_offset: None,
            waiting_for_rollover: false,
            inner,
            segment: Some(segment),
            next,
            last_sync: Cell::new(Instant::now()),
        }
    }

    async fn run(mut self) {
        loop {
            let mut outcome = self.start_batches().await;
            if outcome.is_ok() && !self.in_flight.is_empty() {
                outcome = self.finish_oldest_batch().await;
            }
            if outcome.is_ok() && self.in_flight.is_empty() {
                if self.sync_due() {
                    outcome = self.sync().await;
                }
                let (closing, drained) = {
                    let state = self.inner.state.borrow();
                    (state.closing, state.staged.is_empty())
                };
                if outcome.is_ok() && closing && drained {
                    let result = self.sync().await;
                    return self.finish(result).await;
                }
                if outcome.is_ok() && drained {
                    self.wait_for_work().await;
                }
            }
            if let Err(e) = outcome {
                self.abandon_batches(e.clone()).await;
                if self.inner.state.borrow().closing {
                    return self.finish(Err(e)).await;
                }
                crate::runtime::sleep(RETRY_DELAY).await;
            }
        }
    }

    fn depth(&self) -> usize {
        match &self.segment {
            Some(segment) if segment.is_write_through() => BATCHES_IN_FLIGHT_MAX,
            _ => 1,
        }
    }

    /// Starts writing batches of the staged records, as many as may be in flight. A batch that
    /// does not fit the segment waits until the segment's writes are done, then rolls over.
    async fn start_batches(&mut self) -> Result<(), JournalError> {
        self.waiting_for_rollover = false;
        while self.in_flight.len() < self.depth() {
            let Some(plan) = self.plan_batch() else {
                return Ok(());
            };
            let padded = (BATCH_HEADER_BYTES + plan.body_bytes).next_multiple_of(BLOCK_BYTES);
            if !self.segment.as_ref().is_some_and(|s| s.fits(padded)) {
                if !self.in_flight.is_empty() {
                    self.waiting_for_rollover = true;
                    return Ok(());
                }
                self.roll_over(plan.first_lsn, padded).await?;
            }
            self.start_batch(plan, padded);
        }
        Ok(())
    }

    fn start_batch(&mut self, plan: BatchPlan, padded_bytes: usize) {
        let segment = self.segment.as_mut().expect("segment after rollover");
        let buf = {
            // The staged bytes are stable while batches are in flight: appends only extend
            // `staged`, and only this task drains it.
            let state = self.inner.state.borrow();
            let body = &state.staged[self.submitted_bytes..self.submitted_bytes + plan.body_bytes];
            let header = BatchHeader::for_body(
                plan.first_lsn,
                state.stats.lsn_durable,
                plan.record_count,
                body,
            );
            segment.batch_buffer(&header, body)
        };
        let (offset, write) = segment.start_batch(buf);
        self.submitted_bytes += plan.body_bytes;
        self.lsn_submitted = plan.first_lsn + plan.record_count as u64 - 1;
        self.in_flight.push_back(InFlight {
            first_lsn: plan.first_lsn,
            record_count: plan.record_count,
            body_bytes: plan.body_bytes,
            padded_bytes,
            offset,
            started: Instant::now(),
            write: crate::runtime::spawn_local(write),
        });
    }

    /// Waits for the oldest batch in flight to be written (returning early, with it still in
    /// flight, when new records could start another batch), and acknowledges its records.
    async fn finish_oldest_batch(&mut self) -> Result<(), JournalError> {
        // Only wake for new records when they could start a batch: waking for nothing would spin
        // without ever letting the executor reap the write's completion.
        let may_start_more = self.in_flight.len() < self.depth() && !self.waiting_for_rollover;
        let event = {
            let head = self.in_flight.front_mut().expect("a batch in flight");
            let written = async { Event::Written((&mut head.write).await) };
            if may_start_more {
                let (inner, submitted) = (&self.inner, self.submitted_bytes);
                let more = async move {
                    more_records(inner, submitted).await;
                    Event::MoreRecords
                };
                future::or(written, more).await
            } else {
                written.await
            }
        };
        let Event::Written(result) = event else {
            return Ok(());
        };
        let batch = self.in_flight.pop_front().expect("a batch in flight");
        if let Err(e) = result {
            self.rewind_offset = Some(batch.offset);
            return Err(e);
        }
        let write_through = self.segment.as_ref().is_some_and(|s| s.is_write_through());
        let mut state = self.inner.state.borrow_mut();
        let last_lsn = batch.first_lsn + batch.record_count as u64 - 1;
        assert_eq!(
            batch.first_lsn,
            state.stats.lsn_written + 1,
            "batch out of LSN order"
        );
        state.staged.take_front(batch.body_bytes);
        state.drop_units_before(batch.body_bytes);
        self.submitted_bytes -= batch.body_bytes;
        state.staged_records -= batch.record_count as u64;
        state.stats.lsn_written = last_lsn;
        state.stats.bytes_written += batch.padded_bytes as u64;
        state.stats.batches_written += 1;
        state.stats.write_error_last = None;
        if write_through {
            state.record_sync(batch.started);
            state.mark_durable(last_lsn);
        }
        Ok(())
    }

    /// After a failed write, rollover or sync: waits out the other writes in flight, fails the
    /// waiters of every record appended so far (they are retried, but their clients hear of the
    /// failure now), and rewinds so that the retry writes them again from the first failed
    /// batch's blocks (which, like every block after them, hold nothing acknowledged).
    async fn abandon_batches(&mut self, e: JournalError) {
        let attempted_lsn = self.inner.state.borrow().stats.lsn_appended;
        let mut rewind_to = self.rewind_offset.take();
        while let Some(batch) = self.in_flight.pop_front() {
            let _ = batch.write.await;
            rewind_to.get_or_insert(batch.offset);
        }
        if let (Some(offset), Some(segment)) = (rewind_to, self.segment.as_mut()) {
            segment.rewind_to(offset);
        }
        self.submitted_bytes = 0;
        self.lsn_submitted = self.inner.state.borrow().stats.lsn_written;
        self.fail(e, attempted_lsn);
    }

    /// Returns when records are staged, the journal is closing, or an
    /// `EverySec` sync is due.
    async fn wait_for_work(&self) {
        let sync_at = self
            .sync_pending()
            .then(|| self.last_sync.get() + EVERYSEC_INTERVAL);
        let work = future::poll_fn(|cx| {
            let mut state = self.inner.state.borrow_mut();
            if !state.staged.is_empty() || state.closing {
                return Poll::Ready(());
            }
            state.flusher_waker = Some(cx.waker().clone());
            Poll::Pending
        });
        match sync_at {
            None => work.await,
            Some(at) => {
                let timer = crate::runtime::sleep(at.saturating_duration_since(Instant::now()));
                future::or(work, timer).await
            }
        }
    }

    fn sync_pending(&self) -> bool {
        let state = self.inner.state.borrow();
        self.inner.config.fsync == FsyncMode::EverySec
            && state.stats.lsn_durable < state.stats.lsn_written
    }

    fn sync_due(&self) -> bool {
        self.sync_pending() && self.last_sync.get().elapsed() >= EVERYSEC_INTERVAL
    }

    /// Picks the oldest staged records, up to [`BATCH_BODY_BYTES_MAX`] (at least
    /// one record), going past it rather than ending inside a unit.
    fn plan_batch(&self) -> Option<BatchPlan> {
        let state = self.inner.state.borrow();
        let unsubmitted = &state.staged[self.submitted_bytes..];
        let mut body_bytes = 0;
        let mut record_count = 0u32;
        while body_bytes < unsubmitted.len() {
            let len = record::padded_len_at(&unsubmitted[body_bytes..]);
            if record_count > 0
                && body_bytes + len > BATCH_BODY_BYTES_MAX
                && !state.inside_unit(self.submitted_bytes + body_bytes)
            {
                break;
            }
            body_bytes += len;
            record_count += 1;
        }
        (record_count > 0).then(|| BatchPlan {
            first_lsn: self.lsn_submitted + 1,
            record_count,
            body_bytes,
        })
    }

    /// Seals the current segment (synced, so a later segment never holds data
    /// newer than a hole in an older one) and starts the next: the prepared
    /// one if it is big enough and its preparation succeeds, else one created
    /// here (a stall of tens of milliseconds for a big segment). Then starts
    /// preparing the one after.
    async fn roll_over(&mut self, first_lsn: Lsn, batch_bytes: usize) -> Result<(), JournalError> {
        if self.segment.is_some() {
            self.sync().await?;
            let segment = self.segment.take().expect("segment");
            segment.close().await?;
        }
        let inner = self.inner.clone();
        let config = &inner.config;
        let mut segment = None;
        let mut recycled = false;
        if let Some(prepared) = self.take_prepared(batch_bytes).await {
            recycled = prepared.is_recycled();
            // A failed activation removed the file; the inline path reports
            // the error if it persists.
            segment = prepared.activate(config.shard, first_lsn).await.ok();
        }
        let prepared = segment.is_some();
        let segment = match segment {
            Some(segment) => segment,
            None => {
                ActiveSegment::create(
                    &config.dir,
                    config.shard,
                    first_lsn,
                    config.segment_bytes,
                    batch_bytes,
                    config.fsync == FsyncMode::Always,
                )
                .await?
            }
        };
        self.segment = Some(segment);
        let mut state = inner.state.borrow_mut();
        state.stats.segments_created += 1;
        state.stats.segments_prepared += prepared as u64;
        state.stats.segments_recycled += (prepared && recycled) as u64;
        if self.next.is_none() {
            self.next = Some(Preparing::start(config));
        }
        Ok(())
    }

    /// The prepared segment, if it can hold a first batch of `batch_bytes`
    /// (a bigger batch gets a segment of its own, created inline). Waits for
    /// a preparation still in flight: it has less left to do than an inline
    /// creation would.
    async fn take_prepared(&mut self, batch_bytes: usize) -> Option<PreparedSegment> {
        let preparing = self.next.as_mut()?;
        if preparing.size_bytes < (SEGMENT_HEADER_BYTES + batch_bytes) as u64 {
            return None;
        }
        let result = preparing.task.as_mut().await;
        self.next = None;
        let prepared = result.ok()?;
        assert!(prepared.size_bytes() >= (SEGMENT_HEADER_BYTES + batch_bytes) as u64);
        Some(prepared)
    }

    /// Makes everything written durable (a no-op for write-through segments,
    /// whose writes already are).
    async fn sync(&self) -> Result<(), JournalError> {
        let Some(segment) = &self.segment else {
            return Ok(());
        };
        let written = self.inner.state.borrow().stats.lsn_written;
        if segment.is_write_through() || written == self.inner.state.borrow().stats.lsn_durable {
            return Ok(());
        }
        let started = Instant::now();
        segment.sync().await?;
        self.last_sync.set(Instant::now());
        let mut state = self.inner.state.borrow_mut();
        state.record_sync(started);
        state.mark_durable(written);
        Ok(())
    }

    /// Fails the waiters of records up to `attempted_lsn` (the batch that just
    /// failed); the records stay staged and go out again with the next batch.
    fn fail(&self, e: JournalError, attempted_lsn: Lsn) {
        let mut state = self.inner.state.borrow_mut();
        state.stats.write_errors += 1;
        state.stats.write_error_last = Some(e.clone());
        state.resolve_waiters(attempted_lsn, Err(e));
    }

    async fn finish(mut self, result: Result<(), JournalError>) {
        if let Some(next) = self.next.take() {
            next.cancel().await;
        }
        let closed = match self.segment.take() {
            Some(segment) => segment.close().await,
            None => Ok(()),
        };
        let mut state = self.inner.state.borrow_mut();
        let result = result.and(closed);
        state.resolve_waiters(Lsn::MAX, Err(JournalError::Closed));
        state.closed = Some(result);
        for waker in state.close_wakers.drain(..) {
            waker.wake();
        }
    }
}
