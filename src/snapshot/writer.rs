//! One snapshot being taken: which slots are written out so far, and the bytes not yet handed to
//! the file.
//!
//! Point in time without fork: the snapshot shows the keyspace as of its start LSN because every
//! slot is written out before anything changes it. The background walk writes slots in order; a
//! write command first writes out the (not yet written) slots of its keys, and a keyspace-wide
//! write (FLUSHALL, SWAPDB) writes out every remaining slot (copy-on-write at slot granularity).

use bytes::Bytes;

use super::format::{self, Header};
use crate::keyspace::Keyspace;
use crate::router::slot::key_slot;

pub struct SnapshotRun {
    pub header: Header,
    pub started: std::time::Instant,
    /// Per slot of the range: written out already.
    written: Vec<bool>,
    /// Slots of the range not yet written out.
    remaining: usize,
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

    /// Writes out `slot` (every database) unless it already is; returns the entries written.
    fn write_slot(&mut self, keyspace: &Keyspace, slot: u16, now_ms: u64) -> usize {
        let index = (slot - self.header.slots.start) as usize;
        if std::mem::replace(&mut self.written[index], true) {
            return 0;
        }
        self.remaining -= 1;
        let mut count = 0;
        for (db, keys) in keyspace.dbs.iter().enumerate() {
            for (key, entry) in keys.slot_entries(slot) {
                // Expired keys are left out: replay would drop them anyway (absolute deadlines).
                if entry.expire_at_ms().is_some_and(|at| at <= now_ms) {
                    continue;
                }
                format::encode_entry(db as u8, key, entry, &mut self.buffer);
                count += 1;
            }
        }
        self.entries += count as u64;
        count
    }

    /// Copy-on-write before a write command: writes out the slots of `keys` (every remaining slot
    /// when the command has no keys: it may touch the whole keyspace).
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
            if self.header.slots.contains(&slot) {
                self.write_slot(keyspace, slot, now_ms);
            }
        }
    }

    fn write_all(&mut self, keyspace: &Keyspace, now_ms: u64) {
        for slot in self.cursor..self.header.slots.end {
            self.write_slot(keyspace, slot, now_ms);
        }
        self.cursor = self.header.slots.end;
    }

    /// The background walk's step: writes out slots in order until at least `entries_max` entries
    /// or `slots_max` slots were visited, or the range is done.
    pub fn step(&mut self, keyspace: &Keyspace, entries_max: usize, slots_max: usize, now_ms: u64) {
        let (mut entries, mut slots) = (0, 0);
        while self.cursor < self.header.slots.end && entries < entries_max && slots < slots_max {
            entries += self.write_slot(keyspace, self.cursor, now_ms);
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
