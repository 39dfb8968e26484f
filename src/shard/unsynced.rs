//! The marks behind "no dirty reads": which keys have a write that may not be durable yet, so
//! that a read of one of them waits for that write while reads of other keys answer at once.
//!
//! A key is marked by a 64-bit hash of its database and name, in a direct-mapped table of
//! [`MARK_SLOTS`] LSNs: a write stores its LSN in its key's slot, a read waits for the LSN in
//! its key's slot when that is not durable yet. One store per write, with nothing to forget as
//! writes become durable (an exact map of marks, forgotten in write order, cost the shard about
//! 3% of its core at full speed). Keys sharing a slot only make a read wait for a sync it did not
//! need: with W writes in flight, a read of a key written by none of them waits with odds of
//! at most about W / `MARK_SLOTS`. Measured (`bench-harness/false-waits.sh`, INFO persistence
//! `journal_reads_waited`): 0.08% of reads with 25 clients writing at pipeline 1, 0.12% with 50,
//! 1.1% with 25 at pipeline 16. While the disk is full, such a read answers MISCONF as the
//! refused write's own key does. LSNs only grow, so a slot always holds the latest write to any of
//! its keys, and waiting for it covers every earlier one. FLUSHDB, FLUSHALL and SWAPDB change
//! every key, so they set one mark that every read waits for.

use std::hash::BuildHasher;

use crate::journal::Lsn;
use crate::keyspace::KeyHasher;

/// Slots in the table of marks: 128 KiB a shard, which stays in the core's cache. At 512 KiB,
/// the store of each write's mark missed it and held up the stores after it (about 5% of a
/// durable SET's CPU at pipeline 16).
const MARK_SLOTS: usize = 1 << 14;

pub struct UnsyncedWrites {
    /// The LSN of the latest write to any key whose mark falls in each slot.
    latest: Box<[Lsn]>,
    /// Keys the command being logged wrote, marked when it has its LSN (`commit`).
    staged: Vec<KeyMark>,
    staged_keyspace_wide: bool,
    /// LSN of the latest keyspace-wide write.
    keyspace_wide: Lsn,
}

impl Default for UnsyncedWrites {
    fn default() -> UnsyncedWrites {
        UnsyncedWrites {
            latest: vec![0; MARK_SLOTS].into_boxed_slice(),
            staged: Vec::new(),
            staged_keyspace_wide: false,
            keyspace_wide: 0,
        }
    }
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

    /// Marks what the command being logged wrote as written at `lsn`, which is later than every
    /// LSN marked before.
    pub fn commit(&mut self, lsn: Lsn) {
        for key in self.staged.drain(..) {
            self.latest[key.slot()] = lsn;
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
        keys.map(|key| self.latest[KeyMark::new(db, key).slot()])
            .chain([self.keyspace_wide])
            .filter(|&lsn| lsn > durable)
            .max()
            .unwrap_or(0)
    }
}

/// What marks a key: a hash of its database and name.
#[derive(Clone, Copy)]
pub struct KeyMark(u64);

impl KeyMark {
    pub fn new(db: usize, key: &[u8]) -> KeyMark {
        KeyMark(KeyHasher.hash_one((db, key)))
    }

    fn slot(self) -> usize {
        self.0 as usize % MARK_SLOTS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(marks: &UnsyncedWrites, key: &[u8], durable: Lsn) -> Lsn {
        marks.read_wait_lsn(0, [key].into_iter(), durable)
    }

    fn write(marks: &mut UnsyncedWrites, keys: &[&[u8]], lsn: Lsn) {
        for key in keys {
            marks.stage_key(KeyMark::new(0, key));
        }
        marks.commit(lsn);
    }

    /// Two keys whose marks fall in different slots.
    fn apart() -> (Vec<u8>, Vec<u8>) {
        let a = b"a".to_vec();
        let b = (0..)
            .map(|i: u32| format!("b{i}").into_bytes())
            .find(|b| KeyMark::new(0, b).slot() != KeyMark::new(0, &a).slot())
            .unwrap();
        (a, b)
    }

    #[test]
    fn a_read_waits_for_the_keys_latest_write_until_it_is_durable() {
        let mut marks = UnsyncedWrites::default();
        let (a, b) = apart();
        write(&mut marks, &[&a, &b], 2);
        write(&mut marks, &[&a], 3);
        assert_eq!(wait_for(&marks, &a, 0), 3);
        assert_eq!(wait_for(&marks, &b, 0), 2);
        // LSNs 1 and 2 durable: b is clean, a still waits for its second write.
        assert_eq!(wait_for(&marks, &a, 2), 3);
        assert_eq!(wait_for(&marks, &b, 2), 0);
        assert_eq!(wait_for(&marks, &a, 3), 0);
        // The same key in another database is another mark.
        assert_eq!(marks.read_wait_lsn(1, [&a[..]].into_iter(), 0), 0);
        // A keyspace-wide write makes every read wait for it.
        marks.stage_keyspace_wide();
        marks.commit(5);
        assert_eq!(wait_for(&marks, b"z", 4), 5);
        assert_eq!(wait_for(&marks, b"z", 5), 0);
    }

    #[test]
    fn keys_sharing_a_slot_wait_for_the_later_write() {
        let mut marks = UnsyncedWrites::default();
        let a = b"a".to_vec();
        let twin = (0..)
            .map(|i: u32| format!("t{i}").into_bytes())
            .find(|t| KeyMark::new(0, t).slot() == KeyMark::new(0, &a).slot())
            .unwrap();
        write(&mut marks, &[&a], 4);
        write(&mut marks, &[&twin], 7);
        // a waits longer than it needs (for 7, not 4), never less.
        assert_eq!(wait_for(&marks, &a, 3), 7);
        assert_eq!(wait_for(&marks, &a, 7), 0);
    }
}
