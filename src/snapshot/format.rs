//! The snapshot file: one shard's keyspace as of one journal LSN.
//!
//! ```text
//! header   [u8; 8] MAGIC, u32 format version, u32 shard index, u16 slot_lo, u16 slot_hi,
//!          u64 epoch (the run), u64 lsn (the last journal record it covers),
//!          u32 tag count, then per tag: u64 epoch, u16 origin, u64 seq
//! entries  u8 ENTRY, u8 db, u32 len, a journal PUT payload (`journal::effect`), any number
//! trailer  u8 END, u64 entry count, u32 CRC32C of every byte before it
//! ```
//!
//! The tags name the cross-shard transactions whose part this shard's journal held up to `lsn`:
//! that part is now inside the snapshot, so recovery counts it as present when it decides which
//! transactions are complete. Little endian throughout. Only a whole file whose CRC matches
//! counts.

use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::{Buf, Bytes};

use crate::journal::effect::{self, Effect, PUT};
use crate::journal::Lsn;
use crate::keyspace::Entry;

pub const MAGIC: [u8; 8] = *b"KEELSNAP";
pub const VERSION: u32 = 1;
const ENTRY: u8 = 1;
const END: u8 = 0;
/// END, entry count, CRC.
const TRAILER_BYTES: usize = 1 + 8 + 4;

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
        if buf.len() < 40 || buf[..8] != MAGIC {
            return Err("not a snapshot file (bad magic)".into());
        }
        buf.advance(8);
        let version = buf.get_u32_le();
        if version != VERSION {
            return Err(format!(
                "snapshot format version {version}, expected {VERSION}"
            ));
        }
        let shard = buf.get_u32_le();
        let slots = buf.get_u16_le()..buf.get_u16_le();
        let (epoch, lsn) = (buf.get_u64_le(), buf.get_u64_le());
        let count = buf.get_u32_le() as usize;
        if buf.len() < count * 18 {
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

/// Appends one key's entry; returns the bytes added.
pub fn encode_entry(db: u8, key: &[u8], entry: &Entry, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.push(ENTRY);
    out.push(db);
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    effect::encode_put(key, &entry.value, entry.expire_at_ms(), out);
    let len = (out.len() - len_at - 4) as u32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    out.len() - start
}

/// The trailer, given the entry count and the CRC32C of every byte written before it.
pub fn trailer(entries: u64, crc_so_far: u32) -> Vec<u8> {
    let mut out = vec![END];
    out.extend_from_slice(&entries.to_le_bytes());
    let crc = crc32c::crc32c_append(crc_so_far, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// One key read back from a snapshot.
pub struct SnapshotEntry {
    pub db: u8,
    pub effect: Effect,
}

/// A complete, checked snapshot file.
pub struct Loaded {
    pub path: PathBuf,
    pub header: Header,
    pub entries: Vec<SnapshotEntry>,
    pub bytes: u64,
}

/// Reads and checks a whole snapshot file; the error names the file and what is wrong.
pub fn load(path: &Path) -> Result<Loaded, String> {
    let fail = |what: String| format!("snapshot {}: {what}", path.display());
    let data = crate::runtime::file::read_file(path).map_err(|e| fail(e.to_string()))?;
    if data.len() < TRAILER_BYTES {
        return Err(fail("too short".into()));
    }
    let (body, crc) = data.split_at(data.len() - 4);
    let crc = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    if crc32c::crc32c(body) != crc {
        return Err(fail("CRC mismatch (incomplete or damaged)".into()));
    }
    let bytes = data.len() as u64;
    let mut buf = Bytes::from(data);
    buf.truncate(buf.len() - 4);
    let header = Header::decode(&mut buf).map_err(fail)?;
    let mut entries = Vec::new();
    loop {
        match buf.first() {
            Some(&ENTRY) if buf.len() >= 6 => {
                buf.advance(1);
                let db = buf.get_u8();
                let len = buf.get_u32_le() as usize;
                if buf.len() < len {
                    return Err(fail("truncated entry".into()));
                }
                let effect = Effect::decode(PUT, buf.split_to(len))
                    .ok_or_else(|| fail(format!("bad entry #{}", entries.len())))?;
                entries.push(SnapshotEntry { db, effect });
            }
            Some(&END) if buf.len() == TRAILER_BYTES - 4 => {
                buf.advance(1);
                let count = buf.get_u64_le();
                if count != entries.len() as u64 {
                    return Err(fail(format!(
                        "trailer says {count} entries, found {}",
                        entries.len()
                    )));
                }
                return Ok(Loaded {
                    path: path.to_path_buf(),
                    header,
                    entries,
                    bytes,
                });
            }
            _ => return Err(fail("malformed entry list".into())),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Value;

    #[test]
    fn a_written_file_loads_back_and_a_flipped_byte_is_refused() {
        let header = Header {
            shard: 2,
            slots: 100..200,
            epoch: 7,
            lsn: 42,
            txns: vec![(7, 1, 9)],
        };
        let mut out = Vec::new();
        header.encode(&mut out);
        let entry = Entry::new(Value::Int(5), Some(99));
        encode_entry(3, &Bytes::from("k"), &entry, &mut out);
        let crc = crc32c::crc32c(&out);
        out.extend(trailer(1, crc));
        let dir = std::env::temp_dir().join(format!("keel-snap-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(file_name(42));
        std::fs::write(&path, &out).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.header, header);
        assert_eq!(loaded.entries.len(), 1);
        assert_eq!(loaded.entries[0].db, 3);
        assert_eq!(list(&dir).unwrap(), vec![(42, path.clone())]);
        out[45] ^= 1;
        std::fs::write(&path, &out).unwrap();
        assert!(matches!(load(&path), Err(e) if e.contains("CRC")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
