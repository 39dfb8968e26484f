//! Recovery: reads a shard's segments back in LSN order.
//!
//! The reader stops at the first spot that is not a sound continuation of the
//! log (a damaged or unwritten batch where one should be, an LSN out of
//! sequence). Whether that spot is a torn tail or corruption is decided by what
//! comes after it: each batch header says which LSN was durable when it was
//! written, so if any later batch says the missing LSN had been durable, the
//! spot lost acknowledged data: corruption, an error naming file and offset.
//! Otherwise it is a torn tail (an interrupted last write, or writes an
//! `EverySec`/`No` journal had not synced): cut off, reported as a warning.
//! Under `Always` every batch is written after the previous one is durable, so
//! this is exactly "a bad record followed by any valid record is corruption".

use super::batch::{BatchHeader, BatchSlot, BATCH_HEADER_BYTES};
use super::record::{self, Lsn, Record};
use super::segment::{list_segments, SegmentHeader, SEGMENT_HEADER_BYTES};
use super::JournalError;
use crate::runtime::file::{self, BLOCK_BYTES};
use bytes::Bytes;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where the writer continues after recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    dir: PathBuf,
    /// The LSN the next append gets: after the last recovered record, and not
    /// below the `from_lsn` the reader was opened with.
    pub next_lsn: Lsn,
    /// Records yielded (those at or after `from_lsn`).
    pub records: u64,
    /// The tail `Journal::open` will cut; log it as a warning.
    pub torn_tail: Option<TornTail>,
}

/// An incomplete last write, cut off at recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub path: PathBuf,
    pub offset: u64,
    pub what: String,
    /// Later segments, holding only unsynced writes, set aside with the tail.
    pub later_segments: Vec<PathBuf>,
}

/// Per segment, what recovery (or `check`) found in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    pub path: PathBuf,
    pub first_lsn: Lsn,
    /// 0 when the segment holds no records.
    pub last_lsn: Lsn,
    pub records: u64,
    /// Bytes of header and batches, up to the end of the last sound batch.
    pub bytes_used: u64,
    pub bytes_total: u64,
}

/// Reads a shard's journal: an iterator of records from `from_lsn` on, then
/// [`JournalReader::finish`] for where to continue.
pub struct JournalReader {
    dir: PathBuf,
    from_lsn: Lsn,
    segments: Vec<(Lsn, PathBuf)>,
    /// Index in `segments` of the next segment to load.
    next_segment: usize,
    current: Option<Loaded>,
    /// The LSN the log must continue with.
    expected_lsn: Lsn,
    /// The pieces read so far of a payload split over several records (`record::CONTINUED`).
    split_payload: Vec<u8>,
    records: u64,
    summaries: Vec<SegmentSummary>,
    outcome: Option<Result<Option<TornTail>, JournalError>>,
    error_yielded: bool,
}

struct Loaded {
    index: usize,
    path: PathBuf,
    bytes: Bytes,
    nonce: u64,
    /// Offset of the next batch.
    batch_offset: usize,
    /// Inside a batch: offset of its next record, end of its body, records left.
    cursor: Option<(usize, usize, u32)>,
}

impl JournalReader {
    /// Reads the journal in `dir` from record `from_lsn` on (1 for all of it;
    /// a snapshot's LSN + 1 to replay after the snapshot). Older segments are
    /// not read at all.
    pub fn open(dir: &Path, from_lsn: Lsn) -> Result<JournalReader, JournalError> {
        assert!(from_lsn > 0, "LSNs start at 1");
        let mut segments = list_segments(dir)?;
        let skip = segments
            .windows(2)
            .take_while(|pair| pair[1].0 <= from_lsn)
            .count();
        segments.drain(..skip);
        let expected_lsn = segments.first().map_or(from_lsn, |s| s.0);
        if expected_lsn > from_lsn {
            let path = segments[0].1.clone();
            let what =
                format!("journal starts at LSN {expected_lsn} but replay needs LSN {from_lsn} on");
            return Err(JournalError::Corrupt {
                path,
                offset: 0,
                what,
            });
        }
        Ok(JournalReader {
            dir: dir.to_path_buf(),
            from_lsn,
            segments,
            next_segment: 0,
            current: None,
            expected_lsn,
            split_payload: Vec::new(),
            records: 0,
            summaries: Vec::new(),
            outcome: None,
            error_yielded: false,
        })
    }

    /// Reads (and checks) whatever the iteration has not, and says where the
    /// writer continues. Corruption is an error naming file and offset.
    pub fn finish(self) -> Result<Recovery, JournalError> {
        self.into_parts().1
    }

    /// What `finish` returns, plus the per-segment summaries `check` reports.
    pub(crate) fn into_parts(mut self) -> (Vec<SegmentSummary>, Result<Recovery, JournalError>) {
        while self.outcome.is_none() {
            self.step();
        }
        let recovery = self
            .outcome
            .take()
            .expect("outcome")
            .map(|torn_tail| Recovery {
                dir: self.dir.clone(),
                next_lsn: self.expected_lsn.max(self.from_lsn),
                records: self.records,
                torn_tail,
            });
        (self.summaries, recovery)
    }

    /// Advances by one record, or records the outcome once the log ends.
    fn step(&mut self) -> Option<Record> {
        match self.advance() {
            Ok(Some(record)) => Some(record),
            Ok(None) => {
                self.outcome = Some(Ok(None));
                None
            }
            Err(Stop::Problem { offset, what }) => {
                self.outcome = Some(self.classify(offset, what));
                None
            }
            Err(Stop::Failed(e)) => {
                self.outcome = Some(Err(e));
                None
            }
        }
    }

    fn advance(&mut self) -> Result<Option<Record>, Stop> {
        loop {
            let Some(current) = &mut self.current else {
                if self.next_segment == self.segments.len() {
                    return Ok(None);
                }
                self.load_next_segment()?;
                continue;
            };
            if let Some((offset, end, left)) = current.cursor {
                if left == 0 {
                    if offset != end {
                        return Err(Stop::at(
                            current.batch_offset,
                            "batch body longer than its records",
                        ));
                    }
                    if !self.split_payload.is_empty() {
                        // The batch is whole (its records' CRCs held), so not a torn write: the
                        // writer never ends a batch there. Refused, never cut.
                        return Err(Stop::Failed(JournalError::Corrupt {
                            path: current.path.clone(),
                            offset: current.batch_offset as u64,
                            what: "the batch that ends here ends inside a payload split over several records"
                                .into(),
                        }));
                    }
                    current.cursor = None;
                    continue;
                }
                let body = current.bytes.slice(..end);
                let (record, next) = record::decode(&body, offset).map_err(|e| {
                    Stop::at(current.batch_offset, format!("record at {offset}: {e}"))
                })?;
                if record.lsn != self.expected_lsn {
                    let what = format!(
                        "record at {offset} has LSN {}, {} expected",
                        record.lsn, self.expected_lsn
                    );
                    return Err(Stop::at(current.batch_offset, what));
                }
                current.cursor = Some((next, end, left - 1));
                self.expected_lsn += 1;
                let summary = self.summaries.last_mut().expect("summary");
                summary.records += 1;
                summary.last_lsn = record.lsn;
                let Some(record) = self.join_split(record) else {
                    continue;
                };
                if record.lsn >= self.from_lsn {
                    self.records += 1;
                    return Ok(Some(record));
                }
                continue;
            }
            self.next_batch()?;
        }
    }

    /// Keeps the piece a `CONTINUED` record holds (None), or returns the record, with the pieces
    /// before it joined in front of its payload. The writer puts every piece of a payload in one
    /// batch, so a batch that ends with pieces pending is corrupt (see `advance`).
    fn join_split(&mut self, mut record: Record) -> Option<Record> {
        if record.kind == record::CONTINUED {
            self.split_payload.extend_from_slice(&record.payload);
            return None;
        }
        if !self.split_payload.is_empty() {
            let mut payload = std::mem::take(&mut self.split_payload);
            payload.extend_from_slice(&record.payload);
            record.payload = Bytes::from(payload);
        }
        Some(record)
    }

    /// Moves to the batch at the current batch offset, or past the segment end.
    fn next_batch(&mut self) -> Result<(), Stop> {
        let current = self.current.as_mut().expect("segment");
        let offset = current.batch_offset;
        if offset >= current.bytes.len() {
            self.current = None;
            return Ok(());
        }
        match BatchHeader::read(&current.bytes[offset..], current.nonce) {
            BatchSlot::Empty => {
                if let Some(later) = later_batch(&current.bytes[offset..], current.nonce) {
                    let what = format!(
                        "unwritten block before the batch at offset {}",
                        offset + later.0
                    );
                    return Err(Stop::at(offset, what));
                }
                self.current = None;
            }
            BatchSlot::Bad(what) => return Err(Stop::at(offset, what)),
            BatchSlot::Batch(header) => {
                if header.first_lsn != self.expected_lsn {
                    let what = format!(
                        "batch starts at LSN {}, {} expected",
                        header.first_lsn, self.expected_lsn
                    );
                    return Err(Stop::at(offset, what));
                }
                let body_start = offset + BATCH_HEADER_BYTES;
                current.cursor = Some((
                    body_start,
                    body_start + header.body_bytes as usize,
                    header.record_count,
                ));
                current.batch_offset = offset + header.padded_bytes(BLOCK_BYTES);
                let summary = self.summaries.last_mut().expect("summary");
                summary.bytes_used = current.batch_offset.min(current.bytes.len()) as u64;
            }
        }
        Ok(())
    }

    fn load_next_segment(&mut self) -> Result<(), Stop> {
        let index = self.next_segment;
        self.next_segment += 1;
        let (name_lsn, path) = self.segments[index].clone();
        // An unreadable segment is not a torn tail: never cut what could not be read.
        let bytes = file::read_file(&path)
            .map_err(|e| Stop::Failed(JournalError::io("reading", &path, &e)))?;
        let bytes = Bytes::from(bytes);
        self.summaries.push(SegmentSummary {
            path: path.clone(),
            first_lsn: name_lsn,
            last_lsn: 0,
            records: 0,
            bytes_used: bytes.len().min(SEGMENT_HEADER_BYTES) as u64,
            bytes_total: bytes.len() as u64,
        });
        let current = Loaded {
            index,
            path,
            bytes,
            nonce: 0,
            batch_offset: SEGMENT_HEADER_BYTES,
            cursor: None,
        };
        self.current = Some(current);
        let current = self.current.as_mut().expect("segment");
        let header = SegmentHeader::decode(&current.bytes).map_err(|what| Stop::at(0, what))?;
        if header.first_lsn != name_lsn || header.first_lsn != self.expected_lsn {
            let what = format!(
                "segment header says first LSN {} (name says {name_lsn}), {} expected",
                header.first_lsn, self.expected_lsn
            );
            return Err(Stop::at(0, what));
        }
        current.nonce = header.nonce;
        Ok(())
    }

    /// Torn tail or corruption? Corruption iff a later batch (anywhere after
    /// the problem) says the LSN missing here had been durable.
    fn classify(&self, offset: usize, what: String) -> Result<Option<TornTail>, JournalError> {
        let current = self.current.as_ref().expect("problem inside a segment");
        let missing = self.expected_lsn;
        let after = (offset + BLOCK_BYTES).next_multiple_of(BLOCK_BYTES);
        let mut proof = None;
        if after < current.bytes.len() && offset >= SEGMENT_HEADER_BYTES {
            proof = durable_proof(&current.bytes[after..], current.nonce, missing)
                .map(|at| (current.path.clone(), after + at));
        }
        for (_, path) in &self.segments[current.index + 1..] {
            if proof.is_some() {
                break;
            }
            let bytes = file::read_file(path).map_err(|e| JournalError::io("reading", path, &e))?;
            // A later segment with a damaged header can prove nothing either way.
            let Ok(header) = SegmentHeader::decode(&bytes) else {
                continue;
            };
            if bytes.len() > SEGMENT_HEADER_BYTES {
                proof = durable_proof(&bytes[SEGMENT_HEADER_BYTES..], header.nonce, missing)
                    .map(|at| (path.clone(), SEGMENT_HEADER_BYTES + at));
            }
        }
        if let Some((proof_path, proof_offset)) = proof {
            let what = format!(
                "{what}; LSN {missing} was durable per the batch at {} offset {proof_offset}",
                proof_path.display()
            );
            return Err(JournalError::Corrupt {
                path: current.path.clone(),
                offset: offset as u64,
                what,
            });
        }
        Ok(Some(TornTail {
            path: current.path.clone(),
            offset: offset as u64,
            what,
            later_segments: self.segments[current.index + 1..]
                .iter()
                .map(|s| s.1.clone())
                .collect(),
        }))
    }
}

impl Iterator for JournalReader {
    type Item = Result<Record, JournalError>;

    /// The next record from `from_lsn` on; after the log's end or a torn tail,
    /// `None`; on corruption, one `Err` and then `None`.
    fn next(&mut self) -> Option<Self::Item> {
        match &self.outcome {
            Some(Err(e)) if !self.error_yielded => {
                self.error_yielded = true;
                Some(Err(e.clone()))
            }
            Some(_) => None,
            None => match self.step() {
                Some(record) => Some(Ok(record)),
                None => self.next(),
            },
        }
    }
}

impl Recovery {
    /// Makes the newest segment durable: after a crash (not a power loss) the
    /// recovered records may still sit in volatile caches, and new batches
    /// will claim them durable.
    pub(crate) fn sync_last_segment(&self) -> Result<(), JournalError> {
        let Some((_, path)) = list_segments(&self.dir)?.pop() else {
            return Ok(());
        };
        let sync = std::fs::File::open(&path).and_then(|f| f.sync_all());
        sync.map_err(|e| JournalError::io("syncing", &path, &e))
    }
}

impl TornTail {
    /// Cuts the log at the tail: the segment is truncated at `offset` (or set
    /// aside whole when its header is torn) and later segments are set aside.
    /// Set-aside bytes are kept as `*.cut` files beside the journal.
    pub fn cut(&self) -> Result<(), JournalError> {
        cut_at(&self.path, self.offset, &self.later_segments)
    }
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "journal torn tail cut at {} offset {}: {}",
            self.path.display(),
            self.offset,
            self.what
        )?;
        if !self.later_segments.is_empty() {
            write!(
                f,
                " ({} later unsynced segment(s) set aside)",
                self.later_segments.len()
            )?;
        }
        Ok(())
    }
}

/// Cuts the log at `path`:`offset`, keeping what it removes as `*.cut` files.
pub(crate) fn cut_at(
    path: &Path,
    offset: u64,
    later_segments: &[PathBuf],
) -> Result<(), JournalError> {
    let aside = |p: &Path| {
        let mut name = p.as_os_str().to_owned();
        name.push(".cut");
        PathBuf::from(name)
    };
    if offset < SEGMENT_HEADER_BYTES as u64 {
        file::rename(path, &aside(path))
            .map_err(|e| JournalError::io("setting aside", path, &e))?;
    } else {
        file::copy(path, &aside(path)).map_err(|e| JournalError::io("copying", path, &e))?;
        file::truncate(path, offset).map_err(|e| JournalError::io("truncating", path, &e))?;
    }
    for later in later_segments {
        file::rename(later, &aside(later))
            .map_err(|e| JournalError::io("setting aside", later, &e))?;
    }
    Ok(())
}

/// Why reading stops.
enum Stop {
    /// The log is unsound at this batch position of the current segment.
    Problem { offset: usize, what: String },
    /// The journal could not be read at all.
    Failed(JournalError),
}

impl Stop {
    fn at(offset: usize, what: impl Into<String>) -> Stop {
        Stop::Problem {
            offset,
            what: what.into(),
        }
    }
}

/// The first sound batch in `blocks` (block-aligned, after an empty block).
fn later_batch(blocks: &[u8], nonce: u64) -> Option<(usize, BatchHeader)> {
    (BLOCK_BYTES..blocks.len())
        .step_by(BLOCK_BYTES)
        .find_map(|at| match BatchHeader::read(&blocks[at..], nonce) {
            BatchSlot::Batch(header) => Some((at, header)),
            _ => None,
        })
}

/// Offset in `blocks` of a sound batch saying `lsn` was durable when written.
fn durable_proof(blocks: &[u8], nonce: u64, lsn: Lsn) -> Option<usize> {
    (0..blocks.len()).step_by(BLOCK_BYTES).find(|&at| {
        matches!(BatchHeader::read(&blocks[at..], nonce), BatchSlot::Batch(h) if h.durable_lsn >= lsn)
    })
}
