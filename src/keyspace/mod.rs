//! A shard's keyspace: its databases, each split by hash slot, with expiry.

mod db;
mod delta;
mod garbage;
mod hash;
pub mod hyperloglog;
mod kept;
pub mod list;
mod listpack;
pub mod pattern;
pub mod rdb;
pub mod scan;
mod slot_table;
mod stored_key;
mod str_bytes;
pub mod stream;
pub mod string_range;
pub mod table;
mod value;
pub mod zset;

pub use db::{Change, Db, Entry, KeyHasher};
pub use delta::Delta;
pub use kept::{Kept, ListEnds};
pub use list::{List, ListEdit};
pub use slot_table::key_hash;
pub use stored_key::StoredKey;
pub use value::{parse_canonical_i64, set_encoding, Hash, SetMembers, Value, ZSet};

use std::ops::Range;

use crate::router::slot::key_slot;

/// A change and the index of the database it was made in.
pub type DbChange = (usize, Change);

/// All the databases (`SELECT`able) of one shard, covering the shard's slots only.
pub struct Keyspace {
    pub dbs: Vec<Db>,
    /// Snapshots that make SSCAN/HSCAN/ZSCAN steps cheap (see `scan`).
    pub scans: scan::ScanSnapshots,
    /// SWAPDBs since the shard last took the changes.
    swaps: Vec<(usize, usize)>,
}

impl Keyspace {
    pub fn new(databases: usize, slots: Range<u16>) -> Keyspace {
        Keyspace {
            dbs: (0..databases).map(|_| Db::new(slots.clone())).collect(),
            scans: scan::ScanSnapshots::default(),
            swaps: Vec::new(),
        }
    }

    /// Turns change recording (for the journal) on or off for every database.
    pub fn set_track_changes(&mut self, on: bool) {
        self.dbs.iter_mut().for_each(|db| db.set_track_changes(on));
    }

    /// Big values waiting to be freed in steps, and those handed over since the start.
    pub fn lazyfree_counts(&self) -> (usize, u64) {
        self.dbs
            .iter()
            .map(Db::lazyfree_counts)
            .fold((0, 0), |(pending, freed), (p, f)| (pending + p, freed + f))
    }

    pub fn tracks_changes(&self) -> bool {
        self.dbs.iter().any(|db| db.tracks_changes())
    }

    /// SWAPDB: exchanges two whole databases (recorded for the journal).
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        self.dbs.swap(a, b);
        self.swaps.push((a, b));
    }

    /// Moves `key`'s value and deadline from database `db` to key `to` of database `to_db`,
    /// replacing whatever `to` held (RENAME, MOVE); false when `key` is missing. Within one slot
    /// the journal logs the move itself, a few bytes; across slots (whose owners may differ
    /// after a change of `shards`) the two keys' final states, the value whole.
    pub fn move_key(&mut self, db: usize, key: &[u8], to_db: usize, to: &[u8]) -> bool {
        let in_one_slot = key_slot(key) == key_slot(to);
        let Some(entry) = self.dbs[db].remove_to(key, to_db, to, in_one_slot) else {
            return false;
        };
        let (value, expire_at_ms) = entry.into_parts();
        let target = &mut self.dbs[to_db];
        if in_one_slot {
            target.insert_moved(to, value, expire_at_ms);
        } else {
            // Redis deletes a destination and adds the key anew (announced `new`).
            target.delete(to);
            target.insert(to, value, expire_at_ms);
        }
        true
    }

    /// Whether any command changed anything since the last `take_changes`.
    pub fn has_changes(&self) -> bool {
        !self.swaps.is_empty() || self.dbs.iter().any(Db::has_changes)
    }

    /// Every change since the last call: returns the swaps, and moves each database's changes
    /// (database by database, each in order) into `out`, which is emptied first. Its capacity,
    /// and the databases', is kept, so logging a write allocates nothing here.
    pub fn take_changes(&mut self, out: &mut Vec<DbChange>) -> Vec<(usize, usize)> {
        out.clear();
        for (i, db) in self.dbs.iter_mut().enumerate() {
            if db.has_changes() {
                out.extend(db.drain_changes().map(|change| (i, change)));
            }
        }
        std::mem::take(&mut self.swaps)
    }
}
