//! What the database keeps for a snapshot while it writes a big value out in parts and writes go
//! on changing it (`snapshot::parts`): for each change to a key it names (`Db::keep`), the members
//! the change replaces, as they were (sorted sets), the elements pushed and popped (lists), a
//! value that a command removes or replaces, whole (any type), and where RENAME or MOVE put one.
//! The snapshot takes them after each command (`Db::take_kept`) and writes out first what it has
//! not written yet.

use std::collections::HashSet;

use bytes::Bytes;

use super::db::{Entry, KeyHasher};
use super::{Delta, List, ListEdit, Value};

/// What one change replaced in a kept key.
pub enum Kept {
    /// Members a change set or removed, with their scores just before (`None`: not there).
    Members {
        key: Bytes,
        old: Vec<(Bytes, Option<f64>)>,
    },
    /// The value a command removed or replaced (the key is no longer kept). Also the list as it
    /// was before an edit in its middle (LSET, LINSERT, LREM), which parts cannot follow.
    Whole { key: Bytes, entry: Entry },
    /// A value RENAME or MOVE moved, unchanged, to key `to` of database `to_db` (the key is no
    /// longer kept): its later parts are read there.
    Moved { key: Bytes, to_db: usize, to: Bytes },
    /// The ends of a list a change pushed to or popped from.
    ListEnds { key: Bytes, change: ListEnds },
}

/// What a change did at the ends of a list.
pub enum ListEnds {
    /// This many elements pushed at the head.
    PushedLeft(usize),
    /// Elements popped from the head, head first.
    PoppedLeft(Vec<Bytes>),
    /// Elements popped from the tail, tail first, and the list's length before.
    PoppedRight {
        elements: Vec<Bytes>,
        len_before: usize,
    },
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

    /// Before `delta` changes `entry` at a kept `key`: keeps what a snapshot needs of it.
    pub fn before_delta(&mut self, key: &[u8], entry: &Entry, delta: &Delta) {
        if !self.keeps(key) {
            return;
        }
        match (&entry.value, delta) {
            (Value::ZSet(zset), Delta::ZSetAdd(_) | Delta::ZSetRem(_)) => {
                // Copied: a delta's members may be slices of a client's request buffer.
                let as_was = |member: &Bytes| (Bytes::copy_from_slice(member), zset.score(member));
                let old = match delta {
                    Delta::ZSetAdd(entries) => entries.iter().map(|(m, _)| as_was(m)).collect(),
                    Delta::ZSetRem(members) => members.iter().map(as_was).collect(),
                    _ => unreachable!("matched above"),
                };
                let key = Bytes::copy_from_slice(key);
                self.kept.push(Kept::Members { key, old });
            }
            (Value::List(list), Delta::List(edit)) => self.before_list_edit(key, entry, list, edit),
            _ => {}
        }
    }

    fn before_list_edit(&mut self, key: &[u8], entry: &Entry, list: &List, edit: &ListEdit) {
        let len = list.len();
        let head = |n: usize| list.range(0, n).cloned().collect();
        // Tail first, as they are popped.
        let tail = |from: usize| list.range(from.min(len), len).rev().cloned().collect();
        let mut ends = |change| {
            let key = Bytes::copy_from_slice(key);
            self.kept.push(Kept::ListEnds { key, change });
        };
        match edit {
            ListEdit::PushLeft(items) => ends(ListEnds::PushedLeft(items.len())),
            ListEdit::PushRight(_) => {}
            ListEdit::PopLeft(n) => ends(ListEnds::PoppedLeft(head(*n))),
            ListEdit::PopRight(n) => ends(ListEnds::PoppedRight {
                elements: tail(len.saturating_sub(*n)),
                len_before: len,
            }),
            ListEdit::Trim(start, end) => {
                let end = (*end).min(len);
                let start = (*start).min(end);
                ends(ListEnds::PoppedLeft(head(start)));
                ends(ListEnds::PoppedRight {
                    elements: tail(end),
                    len_before: len - start,
                });
            }
            ListEdit::Set(..) | ListEdit::Insert(..) | ListEdit::Remove { .. } => {
                self.whole(key, entry.clone())
            }
        }
    }

    /// A kept `key`'s value was moved to `to` in database `to_db` (RENAME, MOVE): the snapshot
    /// reads it there from now on (and has the database keep that key instead).
    pub fn moved(&mut self, key: &[u8], to_db: usize, to: &[u8]) {
        self.keys.remove(key);
        self.kept.push(Kept::Moved {
            key: Bytes::copy_from_slice(key),
            to_db,
            to: Bytes::copy_from_slice(to),
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
