//! One snapshot being taken: which slots are written out so far, and the bytes not yet handed to
//! the file.
//!
//! Point in time without fork: the snapshot shows the keyspace as of its start LSN because every
//! slot is written out before anything changes it. The background walk writes slots in order; a
//! write command first writes out the (not yet written) slots of its keys, and a keyspace-wide
//! write (FLUSHALL, SWAPDB) writes out every remaining slot (copy-on-write at slot granularity).
//!
//! A slot of more than `WHOLE_SLOT_KEYS_MAX` keys (one `{hash tag}` can hold millions) would make
//! that one long pause, so it is written out by ranges of key hashes, a step's worth at a time,
//! and a write copies out just the keys it changes first (copy-on-write per key, `PartialSlot`).

use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;

use bytes::Bytes;

use super::format::{self, Header};
use crate::keyspace::{key_hash, KeyHasher, Keyspace, StoredKey};
use crate::router::slot::key_slot;

/// Slots of at most this many keys (all databases together) are written out whole at once: well
/// under a millisecond.
const WHOLE_SLOT_KEYS_MAX: usize = 4096;

/// One past the greatest key hash.
const HASHES_END: u128 = 1 << 64;

/// A big slot being written out by ranges of key hashes (`key_hash`: an order that resizing its
/// tables does not change).
#[derive(Default)]
struct PartialSlot {
    /// Keys hashing below this are written out.
    next_hash: u128,
    /// Keys hashing at or past `next_hash` that a write copied out before changing them, or that
    /// did not exist yet when a write touched them: the walk leaves them out.
    copied: HashSet<StoredKey, KeyHasher>,
}

pub struct SnapshotRun {
    pub header: Header,
    pub started: std::time::Instant,
    /// Per slot of the range: written out already.
    written: Vec<bool>,
    /// Slots of the range not yet written out.
    remaining: usize,
    /// Big slots partly written out.
    partial: HashMap<u16, PartialSlot>,
    /// The walk's next slot.
    cursor: u16,
    /// Encoded bytes not yet handed to the file.
    buffer: Vec<u8>,
    /// CRC32C of every byte handed to the file so far.
    crc: u32,
    pub entries: u64,
    pub bytes: u64,
}

impl SnapshotRun {
    pub fn new(header: Header) -> SnapshotRun {
        let slots = header.slots.len();
        let mut buffer = Vec::new();
        header.encode(&mut buffer);
        SnapshotRun {
            cursor: header.slots.start,
            header,
            started: std::time::Instant::now(),
            written: vec![false; slots],
            remaining: slots,
            partial: HashMap::new(),
            buffer,
            crc: 0,
            entries: 0,
            bytes: 0,
        }
    }

    pub fn is_walked(&self) -> bool {
        self.remaining == 0
    }

    pub fn buffered_bytes(&self) -> usize {
        self.buffer.len()
    }

    fn is_written(&self, slot: u16) -> bool {
        self.written[(slot - self.header.slots.start) as usize]
    }

    fn mark_written(&mut self, slot: u16) {
        self.written[(slot - self.header.slots.start) as usize] = true;
        self.remaining -= 1;
        self.partial.remove(&slot);
    }

    /// Whether `slot` is written out by ranges of hashes rather than whole.
    fn is_big(&self, keyspace: &Keyspace, slot: u16) -> bool {
        self.partial.contains_key(&slot) || slot_keys(keyspace, slot) > WHOLE_SLOT_KEYS_MAX
    }

    /// Writes out the whole of a slot not written out yet; returns the entries written.
    fn write_slot(&mut self, keyspace: &Keyspace, slot: u16, now_ms: u64) -> usize {
        let count = encode_entries(keyspace, slot, 0..=u64::MAX, None, now_ms, &mut self.buffer);
        self.mark_written(slot);
        self.entries += count as u64;
        count
    }

    /// Writes out the next keys of a big slot: the next range of hashes, sized to hold about
    /// `entries_max` of its keys. Returns the entries written and whether the slot is done.
    fn write_slot_part(
        &mut self,
        keyspace: &Keyspace,
        slot: u16,
        entries_max: usize,
        now_ms: u64,
    ) -> (usize, bool) {
        let keys = slot_keys(keyspace, slot);
        let part = self.partial.entry(slot).or_default();
        let span = match entries_max < keys {
            true => (HASHES_END * entries_max as u128 / keys as u128).max(1),
            false => HASHES_END,
        };
        let from = part.next_hash;
        let to = (from + span).min(HASHES_END);
        let hashes = from as u64..=(to - 1) as u64;
        let count = encode_entries(
            keyspace,
            slot,
            hashes,
            Some(&part.copied),
            now_ms,
            &mut self.buffer,
        );
        part.next_hash = to;
        self.entries += count as u64;
        let done = to == HASHES_END;
        if done {
            self.mark_written(slot);
        }
        (count, done)
    }

    /// Copy-on-write of one key of a big slot: writes out its entries (every database) unless the
    /// walk or an earlier write did, and marks it for the walk to leave out.
    fn copy_key(&mut self, keyspace: &Keyspace, slot: u16, key: &[u8], now_ms: u64) {
        let part = self.partial.entry(slot).or_default();
        if (key_hash(key) as u128) < part.next_hash || part.copied.contains(key) {
            return;
        }
        for (db, keys) in keyspace.dbs.iter().enumerate() {
            if let Some(entry) = keys.peek_in_slot(slot, key) {
                if !entry.is_due(now_ms) {
                    format::encode_entry(db as u8, key, entry, &mut self.buffer);
                    self.entries += 1;
                }
            }
        }
        part.copied.insert(StoredKey::new(key));
    }

    /// Copy-on-write before a write command: writes out the slots of `keys`, or just the keys in a
    /// big slot (every remaining slot when the command has no keys: it may touch the whole
    /// keyspace).
    pub fn before_write<'a>(
        &mut self,
        keyspace: &Keyspace,
        mut keys: impl Iterator<Item = &'a Bytes>,
        now_ms: u64,
    ) {
        let Some(first) = keys.next() else {
            self.write_all(keyspace, now_ms);
            return;
        };
        for key in std::iter::once(first).chain(keys) {
            let slot = key_slot(key);
            if !self.header.slots.contains(&slot) || self.is_written(slot) {
                continue;
            }
            if self.is_big(keyspace, slot) {
                self.copy_key(keyspace, slot, key, now_ms);
            } else {
                self.write_slot(keyspace, slot, now_ms);
            }
        }
    }

    fn write_all(&mut self, keyspace: &Keyspace, now_ms: u64) {
        for slot in self.cursor..self.header.slots.end {
            if self.is_written(slot) {
                continue;
            }
            if self.is_big(keyspace, slot) {
                self.write_slot_part(keyspace, slot, usize::MAX, now_ms);
            } else {
                self.write_slot(keyspace, slot, now_ms);
            }
        }
        self.cursor = self.header.slots.end;
    }

    /// The background walk's step: writes out slots in order until at least `entries_max` entries
    /// or `slots_max` slots were visited, or the range is done. A big slot takes as many steps as
    /// its keys need.
    pub fn step(&mut self, keyspace: &Keyspace, entries_max: usize, slots_max: usize, now_ms: u64) {
        let (mut entries, mut slots) = (0, 0);
        while self.cursor < self.header.slots.end && entries < entries_max && slots < slots_max {
            let slot = self.cursor;
            if !self.is_written(slot) {
                if self.is_big(keyspace, slot) {
                    let (count, done) =
                        self.write_slot_part(keyspace, slot, entries_max - entries, now_ms);
                    entries += count;
                    if !done {
                        return;
                    }
                } else {
                    entries += self.write_slot(keyspace, slot, now_ms);
                }
            }
            self.cursor += 1;
            slots += 1;
        }
    }

    /// The buffered bytes, for the file (folded into the CRC).
    pub fn take_chunk(&mut self) -> Vec<u8> {
        let chunk = std::mem::take(&mut self.buffer);
        self.crc = crc32c::crc32c_append(self.crc, &chunk);
        self.bytes += chunk.len() as u64;
        chunk
    }

    /// The last bytes: whatever is buffered, then the trailer. Only once every slot is written.
    pub fn finish(&mut self) -> Vec<u8> {
        assert!(self.is_walked(), "snapshot finished before every slot");
        let mut chunk = self.take_chunk();
        let trailer = format::trailer(self.entries, self.crc);
        self.bytes += trailer.len() as u64;
        chunk.extend(trailer);
        chunk
    }
}

/// Keys of `slot` in all databases.
fn slot_keys(keyspace: &Keyspace, slot: u16) -> usize {
    keyspace
        .dbs
        .iter()
        .map(|db| db.keys_in_slot_count(slot))
        .sum()
}

/// Encodes the entries of `slot` (every database) whose key hashes lie in `hashes`, but for
/// expired ones (replay would drop them anyway: deadlines are absolute) and those in `copied`.
fn encode_entries(
    keyspace: &Keyspace,
    slot: u16,
    hashes: RangeInclusive<u64>,
    copied: Option<&HashSet<StoredKey, KeyHasher>>,
    now_ms: u64,
    out: &mut Vec<u8>,
) -> usize {
    let mut count = 0;
    for (db, keys) in keyspace.dbs.iter().enumerate() {
        for (key, entry) in keys.slot_entries(slot, hashes.clone()) {
            if entry.is_due(now_ms) || copied.is_some_and(|copied| copied.contains(key)) {
                continue;
            }
            format::encode_entry(db as u8, key, entry, out);
            count += 1;
        }
    }
    count
}
