//! What a snapshot needs from the database while it writes a big sorted set out in parts and
//! writes go on changing it (`snapshot::writer`): for each change to a key it names
//! (`Db::keep`), the members the change replaces, as they were, and a value that a command
//! removes or replaces, whole. The snapshot takes them after each command (`Db::take_kept`) and
//! writes out first what it has not written yet.

use std::collections::HashSet;

use bytes::Bytes;

use super::db::{Entry, KeyHasher};
use super::{Delta, Value};

/// What one change replaced in a kept key.
pub enum Kept {
    /// Members a change set or removed, with their scores just before (`None`: not there).
    Members {
        key: Bytes,
        old: Vec<(Bytes, Option<f64>)>,
    },
    /// The value a command removed or replaced (the key is no longer kept).
    Whole { key: Bytes, entry: Entry },
}

/// The keys a database keeps what changes replace of, and what it kept since the last take.
#[derive(Default)]
pub(super) struct Keeping {
    keys: HashSet<Bytes, KeyHasher>,
    kept: Vec<Kept>,
}

impl Keeping {
    pub fn keep(&mut self, key: &[u8]) {
        self.keys.insert(Bytes::copy_from_slice(key));
    }

    pub fn stop(&mut self, key: &[u8]) {
        self.keys.remove(key);
    }

    pub fn is_idle(&self) -> bool {
        self.keys.is_empty() && self.kept.is_empty()
    }

    pub fn keeps(&self, key: &[u8]) -> bool {
        self.keys.contains(key)
    }

    /// Before `delta` changes `value` at a kept `key`: keeps the sorted-set members it touches.
    pub fn before_delta(&mut self, key: &[u8], value: &Value, delta: &Delta) {
        let (Value::ZSet(zset), true) = (value, self.keeps(key)) else {
            return;
        };
        // Copied: a delta's members may be slices of a client's request buffer.
        let as_was = |member: &Bytes| (Bytes::copy_from_slice(member), zset.score(member));
        let old = match delta {
            Delta::ZSetAdd(entries) => entries.iter().map(|(member, _)| as_was(member)).collect(),
            Delta::ZSetRem(members) => members.iter().map(as_was).collect(),
            _ => return,
        };
        self.kept.push(Kept::Members {
            key: Bytes::copy_from_slice(key),
            old,
        });
    }

    /// `entry` of a kept `key` was removed or replaced: keeps it, and the key no longer.
    pub fn whole(&mut self, key: &[u8], entry: Entry) {
        self.keys.remove(key);
        self.kept.push(Kept::Whole {
            key: Bytes::copy_from_slice(key),
            entry,
        });
    }

    pub fn take(&mut self) -> Vec<Kept> {
        std::mem::take(&mut self.kept)
    }
}
