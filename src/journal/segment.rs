//! Segment files: `DIR/journal-<first LSN, 20 digits>.seg`, preallocated to a
//! fixed size. Block 0 is the segment header; batches follow from block 1.
//!
//! The next segment is made ahead of need as `DIR/journal-next.tmp`, all
//! zeros; at rollover, once its first LSN is known, its header is written
//! (durably) and it is renamed to its segment name (the directory synced). So
//! a segment name never points at a half-made file, and recovery ignores (and
//! `Journal::open` deletes) any `journal-*.tmp`.
//!
//! ```text
//! 0  [u8; 8] SEGMENT_MAGIC
//! 8  u32 format version
//! 12 u32 shard index
//! 16 u64 first LSN (equals the name's)
//! 24 u64 segment bytes
//! 32 u64 nonce: random, seeds this segment's batch header CRCs
//! 40 u32 crc32c of bytes 0..40
//! ```

use super::batch::{BatchHeader, BATCH_HEADER_BYTES};
use super::record::{u32_at, u64_at, Lsn};
use super::JournalError;
use crate::runtime::file::{self, AlignedBuf, SegmentFile, BLOCK_BYTES};
use std::cell::Cell;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub const SEGMENT_MAGIC: [u8; 8] = *b"KEELJSEG";
/// Version 2 added the `MOVE` effect; version 1 segments still replay. An older build refuses a
/// version 2 segment rather than stopping at a record kind it does not know.
pub const SEGMENT_FORMAT_VERSION: u32 = 2;
const SEGMENT_FORMAT_VERSION_MIN: u32 = 1;
pub const SEGMENT_HEADER_BYTES: usize = BLOCK_BYTES;
/// Default segment size: a rollover (and its 30-90 ms of pre-zeroing here) every
/// 64 MiB of journal.
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 << 20;
const SEGMENT_HEADER_USED_BYTES: usize = 44;
/// Where the next segment is prepared.
const PREPARED_FILE_NAME: &str = "journal-next.tmp";
/// Spare segments are named `journal-spare-<first LSN, 20 digits>.tmp`.
const SPARE_FILE_PREFIX: &str = "journal-spare-";
/// Spare segments kept at most per shard; further redundant segments are
/// deleted. So the journal's disk holds its live segments, the one being
/// prepared and at most this many more.
const SPARE_SEGMENTS_MAX: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub shard: u32,
    pub first_lsn: Lsn,
    pub size_bytes: u64,
    pub nonce: u64,
}

impl SegmentHeader {
    fn encode(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&SEGMENT_MAGIC);
        out[8..12].copy_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&self.shard.to_le_bytes());
        out[16..24].copy_from_slice(&self.first_lsn.to_le_bytes());
        out[24..32].copy_from_slice(&self.size_bytes.to_le_bytes());
        out[32..40].copy_from_slice(&self.nonce.to_le_bytes());
        let crc = crc32c::crc32c(&out[0..40]);
        out[40..44].copy_from_slice(&crc.to_le_bytes());
    }

    /// Parses and checks a segment header; `Err` says what is wrong with it.
    pub fn decode(buf: &[u8]) -> Result<SegmentHeader, &'static str> {
        if buf.len() < SEGMENT_HEADER_BYTES {
            return Err("segment shorter than its header block");
        }
        if buf[0..8] != SEGMENT_MAGIC {
            return Err("bad segment magic");
        }
        if u32_at(buf, 40) != crc32c::crc32c(&buf[0..40]) {
            return Err("segment header crc mismatch");
        }
        if !(SEGMENT_FORMAT_VERSION_MIN..=SEGMENT_FORMAT_VERSION).contains(&u32_at(buf, 8)) {
            return Err("unknown segment format version");
        }
        Ok(SegmentHeader {
            shard: u32_at(buf, 12),
            first_lsn: u64_at(buf, 16),
            size_bytes: u64_at(buf, 24),
            nonce: u64_at(buf, 32),
        })
    }
}

/// The file name of the segment whose first record is `first_lsn`.
pub fn segment_path(dir: &Path, first_lsn: Lsn) -> PathBuf {
    dir.join(format!("journal-{first_lsn:020}.seg"))
}

/// The file the next segment is prepared in.
pub fn prepared_path(dir: &Path) -> PathBuf {
    dir.join(PREPARED_FILE_NAME)
}

/// Deletes the leftovers of segment preparations and spare segments
/// (`journal-*.tmp`) and of gradual deletions (`*.deleting`, segments or
/// snapshots) in `dir`: never part of the log. Call only while no journal
/// writes to `dir`. Returns how many were deleted.
pub fn delete_temporaries(dir: &Path) -> Result<usize, JournalError> {
    let doomed = file::files_named(dir, |name| {
        (name.starts_with("journal-") && name.ends_with(".tmp"))
            || name.ends_with(file::DELETING_SUFFIX)
    })
    .map_err(|e| JournalError::io("listing", dir, &e))?;
    for path in &doomed {
        file::delete(path).map_err(|e| JournalError::io("deleting", path, &e))?;
    }
    Ok(doomed.len())
}

/// The segments in `dir`, by first LSN (from their names). A missing directory
/// holds none.
pub fn list_segments(dir: &Path) -> Result<Vec<(Lsn, PathBuf)>, JournalError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(JournalError::io("listing", dir, &e)),
    };
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("listing", dir, &e))?;
        let name = entry.file_name();
        let Some(lsn) = name.to_str().and_then(parse_segment_name) else {
            continue;
        };
        segments.push((lsn, entry.path()));
    }
    segments.sort();
    Ok(segments)
}

fn parse_segment_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_prefix("journal-")?.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir` whose records all have LSNs below `lsn`, oldest first: what a durable
/// snapshot at LSN `lsn - 1` makes redundant. Never the newest segment.
pub fn segments_before(dir: &Path, lsn: Lsn) -> Result<Vec<PathBuf>, JournalError> {
    let segments = list_segments(dir)?;
    Ok(segments
        .windows(2)
        .take_while(|pair| pair[1].0 <= lsn)
        .map(|pair| pair[0].1.clone())
        .collect())
}

/// Keeps `segment`, which a snapshot made redundant, as a spare for a later
/// segment preparation, if it is `size_bytes` big and fewer than
/// [`SPARE_SEGMENTS_MAX`] spares wait; returns whether it did (the caller
/// deletes it otherwise).
///
/// Why: deleting a segment and zeroing a new one frees the blocks and
/// allocates them again, and on a file system mounted with `discard` the
/// freeing also sends the device discards that hold up the journal's syncs.
/// A spare's blocks are overwritten with zeros in place instead. The rename is
/// durable before the spare is reused, so a crash never shows a zeroed file
/// under a segment name.
pub fn keep_as_spare(dir: &Path, segment: &Path, size_bytes: u64) -> std::io::Result<bool> {
    let name = segment.file_name().and_then(|name| name.to_str());
    let Some(lsn) = name.and_then(parse_segment_name) else {
        return Ok(false);
    };
    if std::fs::metadata(segment)?.len() != size_bytes || spares(dir)?.len() >= SPARE_SEGMENTS_MAX {
        return Ok(false);
    }
    file::rename(
        segment,
        &dir.join(format!("{SPARE_FILE_PREFIX}{lsn:020}.tmp")),
    )?;
    Ok(true)
}

fn spares(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    file::files_named(dir, |name| {
        name.starts_with(SPARE_FILE_PREFIX) && name.ends_with(".tmp")
    })
}

/// Moves a spare segment, if `dir` has one, to `to`; returns whether it did.
fn take_spare(dir: &Path, to: &Path) -> std::io::Result<bool> {
    let Some(spare) = spares(dir)?.pop() else {
        return Ok(false);
    };
    std::fs::rename(spare, to)?;
    Ok(true)
}

/// A segment file made ahead of need: preallocated and zeroed (block 0
/// included) under [`prepared_path`], waiting for its first LSN.
pub struct PreparedSegment {
    file: SegmentFile,
    recycled: bool,
}

impl PreparedSegment {
    /// Prepares the next segment of `dir` (replacing any earlier preparation),
    /// `size_bytes` big, from a spare segment when there is one (all spares
    /// are `size_bytes` big). Yields to other tasks while zeroing; fails with
    /// ErrorKind::Interrupted (file removed) once `stop` is set.
    pub async fn create(
        dir: &Path,
        size_bytes: u64,
        write_through: bool,
        stop: &Cell<bool>,
    ) -> Result<PreparedSegment, JournalError> {
        let path = prepared_path(dir);
        let (from, to) = (dir.to_path_buf(), path.clone());
        let recycled = match crate::runtime::blocking(move || take_spare(&from, &to)).await {
            Ok(recycled) => recycled,
            Err(e) => {
                log::warn!("{}: reusing a spare segment: {e}", dir.display());
                false
            }
        };
        let file = SegmentFile::prepare(&path, size_bytes, write_through, recycled, stop)
            .await
            .map_err(|e| JournalError::io("preparing", &path, &e))?;
        Ok(PreparedSegment { file, recycled })
    }

    pub fn size_bytes(&self) -> u64 {
        self.file.size_bytes()
    }

    /// Whether this segment was made from a spare (`keep_as_spare`).
    pub fn is_recycled(&self) -> bool {
        self.recycled
    }

    /// Makes this the segment for records from `first_lsn`: writes its header
    /// (durably), then renames it to its segment name, durably. On failure the
    /// file is removed: nothing in it was ever part of the log.
    pub async fn activate(
        mut self,
        shard: u32,
        first_lsn: Lsn,
    ) -> Result<ActiveSegment, JournalError> {
        let header = SegmentHeader {
            shard,
            first_lsn,
            size_bytes: self.file.size_bytes(),
            nonce: rand::random(),
        };
        let mut head = AlignedBuf::zeroed(SEGMENT_HEADER_BYTES);
        header.encode(&mut head.as_bytes_mut()[..SEGMENT_HEADER_USED_BYTES]);
        let path = segment_path(self.file.path().parent().expect("dir"), first_lsn);
        // The header is durable before the name: a crash in between leaves a
        // `.tmp` with a header, never a segment name without one.
        let named = async {
            self.file.write_at(head, 0).await?;
            self.file.sync().await?;
            self.file.rename(&path).await
        };
        if let Err(e) = named.await {
            let error = JournalError::io("activating", &path, &e);
            let _ = self.file.discard().await;
            return Err(error);
        }
        Ok(ActiveSegment {
            file: Rc::new(self.file),
            header,
            write_offset: SEGMENT_HEADER_BYTES as u64,
        })
    }

    /// Closes and removes the prepared file.
    pub async fn discard(self) {
        let _ = self.file.discard().await;
    }
}

/// The segment the writer appends batches to.
pub struct ActiveSegment {
    /// Shared with the writes in flight (`start_batch`).
    file: Rc<SegmentFile>,
    header: SegmentHeader,
    /// Where the next batch goes: always a block boundary.
    write_offset: u64,
}

impl ActiveSegment {
    /// Creates the segment for records from `first_lsn`, at least `size_bytes`
    /// big and big enough for a first batch of `batch_bytes`.
    pub async fn create(
        dir: &Path,
        shard: u32,
        first_lsn: Lsn,
        size_bytes: u64,
        batch_bytes: usize,
        write_through: bool,
    ) -> Result<ActiveSegment, JournalError> {
        let size_bytes = size_bytes.max((SEGMENT_HEADER_BYTES + batch_bytes) as u64);
        let header = SegmentHeader {
            shard,
            first_lsn,
            size_bytes,
            nonce: rand::random(),
        };
        let mut head = AlignedBuf::zeroed(SEGMENT_HEADER_BYTES);
        header.encode(&mut head.as_bytes_mut()[..SEGMENT_HEADER_USED_BYTES]);
        let path = segment_path(dir, first_lsn);
        let file = SegmentFile::create(&path, size_bytes, head, write_through)
            .await
            .map_err(|e| JournalError::io("creating", &path, &e))?;
        Ok(ActiveSegment {
            file: Rc::new(file),
            header,
            write_offset: SEGMENT_HEADER_BYTES as u64,
        })
    }

    pub fn fits(&self, batch_bytes: usize) -> bool {
        self.write_offset + batch_bytes as u64 <= self.file.size_bytes()
    }

    /// The aligned bytes of one batch (header + `body` + zero padding) for
    /// this segment.
    pub fn batch_buffer(&self, header: &BatchHeader, body: &[u8]) -> AlignedBuf {
        AlignedBuf::with_head(header.padded_bytes(BLOCK_BYTES), |buf| {
            header.encode(self.header.nonce, buf);
            let end = BATCH_HEADER_BYTES + body.len();
            buf[BATCH_HEADER_BYTES..end].copy_from_slice(body);
            end
        })
    }

    /// Reserves the next free blocks for a batch from `batch_buffer` and starts writing it there;
    /// returns where it goes and the write, which finishes on its own (several may be in flight).
    /// A write-through segment's write is durable when it finishes.
    pub fn start_batch(
        &mut self,
        buf: AlignedBuf,
    ) -> (
        u64,
        impl Future<Output = Result<(), JournalError>> + 'static,
    ) {
        let len = buf.len();
        assert!(self.fits(len), "batch does not fit its segment");
        let offset = self.write_offset;
        self.write_offset += len as u64;
        let file = self.file.clone();
        let write = async move {
            file.write_at(buf, offset)
                .await
                .map_err(|e| JournalError::io("writing", file.path(), &e))
        };
        (offset, write)
    }

    /// After a failed write: batches go at `offset` again. Every block from there holds only
    /// unacknowledged records, so rewriting them harms nothing.
    pub fn rewind_to(&mut self, offset: u64) {
        assert!(offset <= self.write_offset && offset.is_multiple_of(BLOCK_BYTES as u64));
        self.write_offset = offset;
    }

    /// Everything written to this segment is on stable storage.
    pub async fn sync(&self) -> Result<(), JournalError> {
        self.file
            .sync()
            .await
            .map_err(|e| JournalError::io("syncing", self.file.path(), &e))
    }

    pub fn is_write_through(&self) -> bool {
        self.file.is_write_through()
    }

    /// Closes the segment; every write started on it must have finished.
    pub async fn close(self) -> Result<(), JournalError> {
        let path = self.file.path().to_path_buf();
        let file = Rc::try_unwrap(self.file)
            .unwrap_or_else(|_| panic!("closing a segment with writes in flight"));
        file.close()
            .await
            .map_err(|e| JournalError::io("closing", &path, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::file::test_support::TempDir;

    #[test]
    fn segment_header_round_trips_and_rejects_damage() {
        let header = SegmentHeader {
            shard: 3,
            first_lsn: 42,
            size_bytes: 1 << 20,
            nonce: 99,
        };
        let mut buf = vec![0u8; SEGMENT_HEADER_BYTES];
        header.encode(&mut buf);
        assert_eq!(SegmentHeader::decode(&buf), Ok(header));
        buf[17] ^= 1;
        assert_eq!(
            SegmentHeader::decode(&buf),
            Err("segment header crc mismatch")
        );
    }

    #[test]
    fn segments_of_older_format_versions_decode_and_newer_ones_are_refused() {
        let header = SegmentHeader {
            shard: 0,
            first_lsn: 1,
            size_bytes: 1 << 20,
            nonce: 7,
        };
        let with_version = |version: u32| {
            let mut buf = vec![0u8; SEGMENT_HEADER_BYTES];
            header.encode(&mut buf);
            buf[8..12].copy_from_slice(&version.to_le_bytes());
            let crc = crc32c::crc32c(&buf[0..40]);
            buf[40..44].copy_from_slice(&crc.to_le_bytes());
            SegmentHeader::decode(&buf)
        };
        assert_eq!(with_version(1), Ok(header));
        assert_eq!(with_version(SEGMENT_FORMAT_VERSION), Ok(header));
        assert_eq!(
            with_version(SEGMENT_FORMAT_VERSION + 1),
            Err("unknown segment format version")
        );
    }

    #[test]
    fn leftovers_of_preparations_and_gradual_deletions_are_removed() {
        let dir = TempDir::new("segment-leftovers");
        let kept = segment_path(dir.path(), 1);
        std::fs::write(&kept, b"").unwrap();
        for leftover in [
            "journal-00000000000000000007.tmp",
            "journal-00000000000000000002.seg.deleting",
            "snapshot-00000000000000000005.kss.deleting",
        ] {
            std::fs::write(dir.path().join(leftover), b"").unwrap();
        }
        assert_eq!(delete_temporaries(dir.path()).unwrap(), 3);
        let left: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(left, [kept]);
    }

    #[test]
    fn segments_list_in_lsn_order_and_old_ones_delete() {
        let dir = TempDir::new("segment-list");
        for lsn in [100, 1, 50] {
            std::fs::write(segment_path(dir.path(), lsn), b"").unwrap();
        }
        std::fs::write(dir.path().join("journal-1.seg"), b"").unwrap();
        std::fs::write(dir.path().join("journal-00000000000000000001.seg.cut"), b"").unwrap();
        let lsns: Vec<Lsn> = list_segments(dir.path())
            .unwrap()
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(lsns, [1, 50, 100]);
        // Records 1..=49 are in the first segment, 50..=99 in the second.
        let delete_before = |lsn| {
            let covered = segments_before(dir.path(), lsn).unwrap();
            covered.iter().for_each(|path| file::delete(path).unwrap());
            covered.len()
        };
        assert_eq!(delete_before(50), 1);
        assert_eq!(delete_before(99), 0);
        assert_eq!(delete_before(1000), 1);
        let lsns: Vec<Lsn> = list_segments(dir.path())
            .unwrap()
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(lsns, [100]);
    }
}
