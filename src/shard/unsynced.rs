//! The marks behind "no dirty reads": which keys have a write that may not be durable yet, so
//! that a read of one of them waits for that write while reads of other keys answer at once.
//!
//! A key is marked by a 64-bit hash of its database and name, not by a copy of the name: one
//! hash-map store of two integers per write, no allocation. Two keys sharing a hash (odds of
//! about n/2^64 for n marked keys) only make a read wait for a sync it did not need. FLUSHDB,
//! FLUSHALL and SWAPDB change every key, so they set one mark that every read waits for.
//!
//! Marks are forgotten in write order as the journal makes writes durable, at each new write, so
//! the map holds about the writes in flight (hundreds), not every key written since the cron
//! last ran (tens of thousands at full speed, each a cache miss to store).

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use crate::journal::Lsn;
use crate::keyspace::KeyHasher;

#[derive(Default)]
pub struct UnsyncedWrites {
    /// Hash of (db, key) -> LSN of the key's latest write.
    by_key: HashMap<u64, Lsn, KeyHasher>,
    /// Every mark stored in `by_key`, oldest write first (a key written twice is here twice).
    in_write_order: VecDeque<(Lsn, u64)>,
    /// Keys the command being logged wrote, marked when it has its LSN (`commit`).
    staged: Vec<KeyMark>,
    staged_keyspace_wide: bool,
    /// LSN of the latest keyspace-wide write.
    keyspace_wide: Lsn,
}

impl UnsyncedWrites {
    /// Notes that the command being logged wrote `key`.
    pub fn stage_key(&mut self, key: KeyMark) {
        self.staged.push(key);
    }

    /// Notes that the command being logged changed every key (FLUSHDB, FLUSHALL, SWAPDB).
    pub fn stage_keyspace_wide(&mut self) {
        self.staged_keyspace_wide = true;
    }

    /// Marks what the command being logged wrote as written at `lsn`, first forgetting the marks
    /// of writes up to `durable`.
    pub fn commit(&mut self, lsn: Lsn, durable: Lsn) {
        self.forget_durable(durable);
        for key in self.staged.drain(..) {
            self.by_key.insert(key.0, lsn);
            self.in_write_order.push_back((lsn, key.0));
        }
        if std::mem::take(&mut self.staged_keyspace_wide) {
            self.keyspace_wide = lsn;
        }
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

    /// Forgets the marks of writes up to `durable` (a key's mark stays while a later write of
    /// it is not durable).
    pub fn forget_durable(&mut self, durable: Lsn) {
        while let Some(&(lsn, key)) = self.in_write_order.front() {
            if lsn > durable {
                break;
            }
            self.in_write_order.pop_front();
            if self.by_key.get(&key) == Some(&lsn) {
                self.by_key.remove(&key);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(marks: &UnsyncedWrites, key: &[u8], durable: Lsn) -> Lsn {
        marks.read_wait_lsn(0, [key].into_iter(), durable)
    }

    fn write(marks: &mut UnsyncedWrites, keys: &[&[u8]], lsn: Lsn, durable: Lsn) {
        for key in keys {
            marks.stage_key(KeyMark::new(0, key));
        }
        marks.commit(lsn, durable);
    }

    #[test]
    fn a_mark_lasts_until_the_keys_latest_write_is_durable() {
        let mut marks = UnsyncedWrites::default();
        write(&mut marks, &[b"a", b"b"], 2, 0);
        write(&mut marks, &[b"a"], 3, 0);
        assert_eq!(wait_for(&marks, b"a", 0), 3);
        // LSNs 1 and 2 durable: b is forgotten, a still waits for its second write.
        marks.forget_durable(2);
        assert_eq!(marks.by_key.len(), 1);
        assert_eq!(wait_for(&marks, b"a", 2), 3);
        assert_eq!(wait_for(&marks, b"b", 2), 0);
        // A new write forgets what became durable before it is marked.
        write(&mut marks, &[b"c"], 4, 3);
        assert_eq!(marks.by_key.len(), 1);
        assert_eq!(marks.in_write_order.len(), 1);
        assert_eq!(wait_for(&marks, b"a", 3), 0);
        assert_eq!(wait_for(&marks, b"c", 3), 4);
        // A keyspace-wide write makes every read wait for it.
        marks.stage_keyspace_wide();
        marks.commit(5, 4);
        assert_eq!(wait_for(&marks, b"z", 4), 5);
        assert_eq!(wait_for(&marks, b"z", 5), 0);
    }
}
