//! The snapshot file: one shard's keyspace as of one journal LSN.
//!
//! ```text
//! header   [u8; 8] MAGIC, u32 format version, u32 shard index, u16 slot_lo, u16 slot_hi,
//!          u64 epoch (the run), u64 lsn (the last journal record it covers),
//!          u32 tag count, then per tag: u64 epoch, u16 origin, u64 seq
//! entries  any number of frames:
//!          u8 ENTRY, u8 db, u32 len, a journal PUT payload (`journal::effect`): one key, or the
//!            first part of a big collection's;
//!          u8 PART, u8 db, u32 len, a journal DELTA payload: more elements of the big collection
//!            the last ENTRY of that key put (format version 2 on);
//!          a payload of 4 GiB or more (a stream, which is written whole) has the kind's high bit
//!            (`LONG`) set and a u64 len instead (format version 3 on);
//!          a big stream's later parts are DELTAs of one `Restore` op (format version 4 on)
//! trailer  u8 END, u64 frame count, u32 CRC32C of every byte before it
//! ```
//!
//! The tags name the cross-shard transactions whose part this shard's journal held up to `lsn`:
//! that part is now inside the snapshot, so recovery counts it as present when it decides which
//! transactions are complete. Little endian throughout. Only a whole file whose CRC matches
//! counts.

use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::{Buf, Bytes};

use crate::journal::effect::{self, Effect, Listed, PartBounds, DELTA, PUT};
use crate::journal::Lsn;
use crate::keyspace::stream::StreamId;
use crate::keyspace::Entry;

pub const MAGIC: [u8; 8] = *b"KEELSNAP";
/// Version 2 added PART frames, version 3 LONG ones, version 4 streams' `Restore` parts; older
/// files still load.
pub const VERSION: u32 = 4;
const VERSION_MIN: u32 = 1;
const ENTRY: u8 = 1;
const PART: u8 = 2;
const END: u8 = 0;
/// Set in a frame's kind when its length is a u64.
const LONG: u8 = 0x80;
/// The header up to and including its transaction count, and one transaction in its list.
const HEADER_FIXED_BYTES: usize = 40;
const TXN_BYTES: usize = 18;

/// A cross-shard transaction's identity across runs: (epoch, origin shard, sequence).
pub type TxnKey = (u64, u16, u64);

#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub shard: u32,
    pub slots: Range<u16>,
    pub epoch: u64,
    pub lsn: Lsn,
    pub txns: Vec<TxnKey>,
}

impl Header {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.shard.to_le_bytes());
        out.extend_from_slice(&self.slots.start.to_le_bytes());
        out.extend_from_slice(&self.slots.end.to_le_bytes());
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.extend_from_slice(&self.lsn.to_le_bytes());
        out.extend_from_slice(&(self.txns.len() as u32).to_le_bytes());
        for &(epoch, origin, seq) in &self.txns {
            out.extend_from_slice(&epoch.to_le_bytes());
            out.extend_from_slice(&origin.to_le_bytes());
            out.extend_from_slice(&seq.to_le_bytes());
        }
    }

    fn decode(buf: &mut Bytes) -> Result<Header, String> {
        if buf.len() < HEADER_FIXED_BYTES || buf[..8] != MAGIC {
            return Err("not a snapshot file (bad magic)".into());
        }
        buf.advance(8);
        let version = buf.get_u32_le();
        if !(VERSION_MIN..=VERSION).contains(&version) {
            return Err(format!(
                "snapshot format version {version}, expected {VERSION_MIN} to {VERSION}"
            ));
        }
        let shard = buf.get_u32_le();
        let slots = buf.get_u16_le()..buf.get_u16_le();
        let (epoch, lsn) = (buf.get_u64_le(), buf.get_u64_le());
        let count = buf.get_u32_le() as usize;
        if buf.len() < count * TXN_BYTES {
            return Err("truncated transaction list".into());
        }
        let txns = (0..count)
            .map(|_| (buf.get_u64_le(), buf.get_u16_le(), buf.get_u64_le()))
            .collect();
        Ok(Header {
            shard,
            slots,
            epoch,
            lsn,
            txns,
        })
    }
}

/// Appends one key's entry.
pub fn encode_entry(db: u8, key: &[u8], entry: &Entry, out: &mut Vec<u8>) {
    framed(ENTRY, db, out, |out| {
        effect::encode_put(key, &entry.value, entry.expire_at_ms(), out)
    })
}

/// Appends a part of a big sorted set or list given element by element (see
/// `effect::encode_listed_part`): its entry when `first`, else a frame adding them. `entry` is
/// the stored one, for its type, encoding and deadline. Returns the elements it holds.
pub fn encode_listed_part<'a>(
    db: u8,
    key: &[u8],
    entry: &Entry,
    first: bool,
    elements: impl Iterator<Item = Listed<'a>>,
    bounds: PartBounds,
    out: &mut Vec<u8>,
) -> usize {
    framed_part(db, entry, first, out, |deadline, out| {
        effect::encode_listed_part(key, &entry.value, deadline, elements, bounds, out)
    })
}

/// Appends a part of a big stream, its entries after `after` (see `effect::encode_stream_part`):
/// its entry when `after` is `None`, else a frame putting them back. Returns how many entries
/// and the last one's ID.
pub fn encode_stream_part(
    db: u8,
    key: &[u8],
    entry: &Entry,
    after: Option<StreamId>,
    bounds: PartBounds,
    out: &mut Vec<u8>,
) -> (usize, Option<StreamId>) {
    framed_part(db, entry, after.is_none(), out, |deadline, out| {
        effect::encode_stream_part(key, &entry.value, deadline, after, bounds, out)
    })
}

/// Appends a part of a long string, its bytes from `from` on (see `effect::encode_string_part`):
/// its entry when `from` is 0, else a frame writing them at their offset. Returns how many.
pub fn encode_string_part(
    db: u8,
    key: &[u8],
    entry: &Entry,
    from: usize,
    bytes_max: usize,
    out: &mut Vec<u8>,
) -> usize {
    framed_part(db, entry, from == 0, out, |deadline, out| {
        effect::encode_string_part(key, &entry.value, deadline, from, bytes_max, out)
    })
}

/// Appends a part of `entry`, a value written out in parts: its entry when `first`, else a frame
/// adding to it. `payload` writes it, given the deadline an entry carries (`None` for a frame).
fn framed_part<T>(
    db: u8,
    entry: &Entry,
    first: bool,
    out: &mut Vec<u8>,
    payload: impl FnOnce(Option<Option<u64>>, &mut Vec<u8>) -> T,
) -> T {
    let kind = if first { ENTRY } else { PART };
    let deadline = first.then(|| entry.expire_at_ms());
    framed(kind, db, out, |out| payload(deadline, out))
}

/// Appends a frame of `kind` whose payload `payload` writes.
fn framed<T>(kind: u8, db: u8, out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    framed_up_to(kind, db, out, payload, u32::MAX as usize)
}

/// `framed`, with a u32 length for payloads up to `short_max` bytes, else a `LONG` frame.
fn framed_up_to<T>(
    kind: u8,
    db: u8,
    out: &mut Vec<u8>,
    payload: impl FnOnce(&mut Vec<u8>) -> T,
    short_max: usize,
) -> T {
    let kind_at = out.len();
    out.push(kind);
    out.push(db);
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let written = payload(out);
    let len = out.len() - len_at - 4;
    if len <= short_max {
        out[len_at..len_at + 4].copy_from_slice(&(len as u32).to_le_bytes());
    } else {
        // Rare (a stream of gigabytes): the payload moves up by 4 bytes for the wider length.
        out[kind_at] |= LONG;
        out.splice(len_at..len_at + 4, (len as u64).to_le_bytes());
    }
    written
}

/// The trailer, given the frame count and the CRC32C of every byte written before it.
pub fn trailer(entries: u64, crc_so_far: u32) -> Vec<u8> {
    let mut out = vec![END];
    out.extend_from_slice(&entries.to_le_bytes());
    let crc = crc32c::crc32c_append(crc_so_far, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// One frame read back from a snapshot: a key's `Put`, or a `Delta` adding a part to the last.
pub struct SnapshotEntry {
    pub db: u8,
    pub effect: Effect,
}

/// A snapshot file whose CRC, entry framing and entry count `check` verified. Its entries are
/// read back from the file one at a time (`for_each_entry`): loading a snapshot never holds
/// more of it in memory than one read buffer and one entry, so a restart does not need twice the
/// dataset's memory.
pub struct Checked {
    pub path: PathBuf,
    pub header: Header,
    /// Frames: keys, and parts of big collections.
    pub frames: u64,
    pub bytes: u64,
}

/// Bytes read from a snapshot file at once.
const READ_BUFFER_BYTES: usize = 8 << 20;

/// Reads a whole snapshot file once, checking its CRC, the framing of every entry and the
/// trailer's count; the error names the file and what is wrong. Entries are not decoded here: a
/// file with a matching CRC and an undecodable entry (a bug, not damage) fails the load instead.
pub fn check(path: &Path) -> Result<Checked, String> {
    let mut reader = EntryReader::open(path)?;
    while reader.next_entry()?.is_some() {}
    Ok(Checked {
        path: path.to_path_buf(),
        header: reader.header,
        frames: reader.entries_read,
        bytes: reader.file_bytes,
    })
}

impl Checked {
    /// Reads the file again and hands every entry to `each`, decoded, in file order.
    pub fn for_each_entry(
        &self,
        mut each: impl FnMut(SnapshotEntry) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut reader = EntryReader::open(&self.path)?;
        while let Some((frame, db)) = reader.next_entry()? {
            // Its own allocation: a value decoded from it (e.g. a hash's fields) may keep it.
            let payload = Bytes::copy_from_slice(&reader.payload);
            let kind = if frame == PART { DELTA } else { PUT };
            let effect = Effect::decode(kind, payload)
                .ok_or_else(|| reader.fail(format!("bad entry #{}", reader.entries_read - 1)))?;
            each(SnapshotEntry { db, effect })?;
        }
        Ok(())
    }
}

/// A snapshot file read front to back through a buffer, its CRC computed on the way.
struct EntryReader {
    path: PathBuf,
    file: std::io::BufReader<std::fs::File>,
    file_bytes: u64,
    read_bytes: u64,
    crc: u32,
    header: Header,
    entries_read: u64,
    /// The last entry's payload (the buffer is reused from entry to entry).
    payload: Vec<u8>,
}

impl EntryReader {
    fn open(path: &Path) -> Result<EntryReader, String> {
        let fail = |what: String| format!("snapshot {}: {what}", path.display());
        let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
        let file_bytes = file.metadata().map_err(|e| fail(e.to_string()))?.len();
        let mut reader = EntryReader {
            path: path.to_path_buf(),
            file: std::io::BufReader::with_capacity(READ_BUFFER_BYTES, file),
            file_bytes,
            read_bytes: 0,
            crc: 0,
            header: Header {
                shard: 0,
                slots: 0..0,
                epoch: 0,
                lsn: 0,
                txns: Vec::new(),
            },
            entries_read: 0,
            payload: Vec::new(),
        };
        let mut head = vec![0; HEADER_FIXED_BYTES];
        reader.read(&mut head)?;
        let txn_count = u32::from_le_bytes(head[36..40].try_into().expect("4 bytes")) as u64;
        if txn_count * TXN_BYTES as u64 > reader.unread() {
            return Err(reader.fail("truncated transaction list".into()));
        }
        head.resize(HEADER_FIXED_BYTES + txn_count as usize * TXN_BYTES, 0);
        reader.read(&mut head[HEADER_FIXED_BYTES..])?;
        reader.header = Header::decode(&mut Bytes::from(head)).map_err(|e| reader.fail(e))?;
        Ok(reader)
    }

    /// Reads the next frame, leaving its payload in `self.payload`, and returns its kind and
    /// database; None after the trailer, once the frame count and the CRC matched.
    fn next_entry(&mut self) -> Result<Option<(u8, u8)>, String> {
        let [frame] = self.read_array()?;
        match (frame & !LONG, frame) {
            (ENTRY | PART, _) => {
                let [db] = self.read_array()?;
                let len = if frame & LONG == 0 {
                    u32::from_le_bytes(self.read_array()?) as u64
                } else {
                    u64::from_le_bytes(self.read_array()?)
                };
                if len > self.unread() {
                    return Err(self.fail("truncated entry".into()));
                }
                let mut payload = std::mem::take(&mut self.payload);
                payload.resize(len as usize, 0);
                let read = self.read(&mut payload);
                self.payload = payload;
                read?;
                self.entries_read += 1;
                Ok(Some((frame & !LONG, db)))
            }
            (_, END) => {
                let count = u64::from_le_bytes(self.read_array()?);
                if count != self.entries_read {
                    return Err(self.fail(format!(
                        "trailer says {count} entries, found {}",
                        self.entries_read
                    )));
                }
                let computed = self.crc;
                if u32::from_le_bytes(self.read_array()?) != computed {
                    return Err(self.fail("CRC mismatch (incomplete or damaged)".into()));
                }
                if self.unread() != 0 {
                    return Err(self.fail("bytes after the trailer".into()));
                }
                Ok(None)
            }
            _ => Err(self.fail("malformed entry list".into())),
        }
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0; N];
        self.read(&mut out)?;
        Ok(out)
    }

    /// Fills `out` from the file and adds it to the CRC.
    fn read(&mut self, out: &mut [u8]) -> Result<(), String> {
        use std::io::Read;
        if out.len() as u64 > self.unread() {
            return Err(self.fail("truncated (incomplete or damaged)".into()));
        }
        self.file
            .read_exact(out)
            .map_err(|e| self.fail(e.to_string()))?;
        self.crc = crc32c::crc32c_append(self.crc, out);
        self.read_bytes += out.len() as u64;
        Ok(())
    }

    fn unread(&self) -> u64 {
        self.file_bytes - self.read_bytes
    }

    fn fail(&self, what: String) -> String {
        format!("snapshot {}: {what}", self.path.display())
    }
}

/// `snapshot-<lsn, 20 digits>.kss`.
pub fn file_name(lsn: Lsn) -> String {
    format!("snapshot-{lsn:020}.kss")
}

/// The published snapshot files in `dir`, newest (highest LSN) first.
pub fn list(dir: &Path) -> Result<Vec<(Lsn, PathBuf)>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
    };
    let mut found: Vec<(Lsn, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let lsn = name.strip_prefix("snapshot-")?.strip_suffix(".kss")?;
            Some((lsn.parse().ok()?, e.path()))
        })
        .collect();
    found.sort_by(|a, b| b.cmp(a));
    Ok(found)
}

/// Deletes what snapshots that were never published left in `dir` (`snapshot-*.kss.tmp`: a crash
/// came while one was written); returns how many. Recovery runs this before reading: such a file
/// is never read, and it can be as big as the dataset.
pub fn delete_unpublished(dir: &Path) -> Result<usize, String> {
    use crate::runtime::file;
    let doomed = file::files_named(dir, |name| {
        name.starts_with("snapshot-") && name.ends_with(".kss.tmp")
    })
    .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for path in &doomed {
        file::delete(path).map_err(|e| format!("cannot delete {}: {e}", path.display()))?;
    }
    Ok(doomed.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Value;

    fn write_snapshot(dir: &Path, entries: u64, declared: u64) -> (PathBuf, Header, Vec<u8>) {
        let header = Header {
            shard: 2,
            slots: 100..200,
            epoch: 7,
            lsn: 42,
            txns: vec![(7, 1, 9)],
        };
        let mut out = Vec::new();
        header.encode(&mut out);
        for i in 0..entries {
            let entry = Entry::new(Value::Int(i as i64), Some(99));
            encode_entry(3, &Bytes::from(format!("k{i}")), &entry, &mut out);
        }
        let crc = crc32c::crc32c(&out);
        out.extend(trailer(declared, crc));
        let path = dir.join(file_name(42));
        std::fs::write(&path, &out).unwrap();
        (path, header, out)
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("keel-snap-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_written_file_loads_back_entry_by_entry_and_a_flipped_byte_is_refused() {
        let dir = temp_dir();
        let (path, header, mut out) = write_snapshot(&dir, 3, 3);
        let checked = check(&path).unwrap();
        assert_eq!(checked.header, header);
        assert_eq!((checked.frames, checked.bytes), (3, out.len() as u64));
        let mut keys = Vec::new();
        checked
            .for_each_entry(|entry| {
                assert_eq!(entry.db, 3);
                let Effect::Put { key, .. } = entry.effect else {
                    panic!("not a key")
                };
                keys.push(key);
                Ok(())
            })
            .unwrap();
        assert_eq!(keys, ["k0", "k1", "k2"]);
        assert_eq!(list(&dir).unwrap(), vec![(42, path.clone())]);
        out[45] ^= 1;
        std::fs::write(&path, &out).unwrap();
        assert!(matches!(check(&path), Err(e) if e.contains("CRC")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn files_of_older_format_versions_load_and_a_newer_one_is_refused_by_name() {
        let dir = temp_dir();
        let (path, _, mut out) = write_snapshot(&dir, 2, 2);
        let mut with_version = |version: u32| {
            out[8..12].copy_from_slice(&version.to_le_bytes());
            let crc_at = out.len() - 4;
            let crc = crc32c::crc32c(&out[..crc_at]);
            out[crc_at..].copy_from_slice(&crc.to_le_bytes());
            std::fs::write(&path, &out).unwrap();
            check(&path).map(|checked| checked.frames)
        };
        assert_eq!(with_version(1), Ok(2));
        assert_eq!(with_version(VERSION), Ok(2));
        let newer = with_version(VERSION + 1).unwrap_err();
        assert!(
            newer.contains(&format!("format version {}", VERSION + 1)),
            "{newer}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_payload_over_the_short_length_goes_in_a_long_frame_that_loads_back() {
        let dir = temp_dir();
        let header = Header {
            shard: 0,
            slots: 0..16384,
            epoch: 1,
            lsn: 5,
            txns: Vec::new(),
        };
        let mut out = Vec::new();
        header.encode(&mut out);
        let values = [
            "short",
            "a value over the 16 bytes a short frame may hold here",
        ];
        for (i, text) in values.iter().enumerate() {
            let entry = Entry::new(Value::string(text.as_bytes()), None);
            let key = format!("k{i}");
            let write =
                |out: &mut Vec<u8>| effect::encode_put(key.as_bytes(), &entry.value, None, out);
            framed_up_to(ENTRY, 2, &mut out, write, 16 + key.len());
        }
        let crc = crc32c::crc32c(&out);
        out.extend(trailer(2, crc));
        let path = dir.join(file_name(5));
        std::fs::write(&path, &out).unwrap();
        let mut read = Vec::new();
        check(&path)
            .unwrap()
            .for_each_entry(|entry| {
                let Effect::Put { key, value, .. } = entry.effect else {
                    panic!("not a key")
                };
                read.push((entry.db, key, value));
                Ok(())
            })
            .unwrap();
        let expected: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, text)| {
                (
                    2,
                    Bytes::from(format!("k{i}")),
                    Value::string(text.as_bytes()),
                )
            })
            .collect();
        assert_eq!(read, expected);
        // One frame of each length: the long one is 4 bytes longer and flagged.
        let long_at = out.iter().rposition(|&b| b == ENTRY | LONG).unwrap();
        assert!(long_at > HEADER_FIXED_BYTES);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_cut_file_or_a_wrong_count_is_refused_without_reading_past_the_end() {
        let dir = temp_dir();
        let (path, _, out) = write_snapshot(&dir, 2, 3);
        assert!(matches!(check(&path), Err(e) if e.contains("trailer says 3 entries, found 2")));
        let (path, _, out_ok) = write_snapshot(&dir, 2, 2);
        assert_ne!(out, out_ok);
        for cut in [10, 60, out_ok.len() - 1] {
            std::fs::write(&path, &out_ok[..cut]).unwrap();
            assert!(check(&path).is_err(), "cut at {cut} accepted");
        }
        // A damaged length field must not make the reader allocate what it says.
        let mut huge = out_ok.clone();
        let first_len_at = 40 + 18 + 2;
        huge[first_len_at..first_len_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &huge).unwrap();
        assert!(matches!(check(&path), Err(e) if e.contains("truncated")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
