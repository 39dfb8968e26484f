//! The marks behind "no dirty reads": which keys have a write that may not be durable yet, so
//! that a read of one of them waits for that write while reads of other keys answer at once.
//!
//! A key is marked by a 64-bit hash of its database and name, not by a copy of the name: one
//! hash-map store of two integers per write, no allocation. Two keys sharing a hash (odds of
//! about n/2^64 for n marked keys) only make a read wait for a sync it did not need. FLUSHDB,
//! FLUSHALL and SWAPDB change every key, so they set one mark that every read waits for.

use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::journal::Lsn;
use crate::keyspace::KeyHasher;

#[derive(Default)]
pub struct UnsyncedWrites {
    /// Hash of (db, key) -> LSN of the key's latest write.
    by_key: HashMap<u64, Lsn, KeyHasher>,
    /// LSN of the latest keyspace-wide write.
    keyspace_wide: Lsn,
}

impl UnsyncedWrites {
    pub fn note_key(&mut self, key: KeyMark, lsn: Lsn) {
        self.by_key.insert(key.0, lsn);
    }

    pub fn note_keyspace_wide(&mut self, lsn: Lsn) {
        self.keyspace_wide = lsn;
    }

    /// The LSN a read of `keys` in `db` must wait for (0: none), given what is durable.
    pub fn read_wait_lsn<'a>(
        &self,
        db: usize,
        keys: impl Iterator<Item = &'a [u8]>,
        durable: Lsn,
    ) -> Lsn {
        keys.filter_map(|key| self.by_key.get(&KeyMark::new(db, key).0).copied())
            .chain([self.keyspace_wide])
            .filter(|&lsn| lsn > durable)
            .max()
            .unwrap_or(0)
    }

    /// Forgets the marks of writes that are durable now (from the cron), so the map holds only
    /// the writes of the last moments.
    pub fn forget_durable(&mut self, durable: Lsn) {
        self.by_key.retain(|_, lsn| *lsn > durable);
    }
}

/// What marks a key: a hash of its database and name.
#[derive(Clone, Copy)]
pub struct KeyMark(u64);

impl KeyMark {
    pub fn new(db: usize, key: &[u8]) -> KeyMark {
        KeyMark(KeyHasher.hash_one((db, key)))
    }
}
