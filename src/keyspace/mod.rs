//! A shard's keyspace: its databases, each split by hash slot, with expiry.

mod db;
pub mod pattern;
mod value;

pub use db::{Db, Entry};
pub use value::{parse_canonical_i64, Value};

use std::ops::Range;

/// All the databases (`SELECT`able) of one shard, covering the shard's slots only.
pub struct Keyspace {
    pub dbs: Vec<Db>,
}

impl Keyspace {
    pub fn new(databases: usize, slots: Range<u16>) -> Keyspace {
        Keyspace {
            dbs: (0..databases).map(|_| Db::new(slots.clone())).collect(),
        }
    }
}
