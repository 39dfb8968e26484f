//! A big collection written out in parts, one per step of the snapshot's walk (`BigValue`):
//! first an entry with some of its elements, then frames that add the rest.
//!
//! Hashes, sets and lists must not change until their last part is out: their parts are ranges
//! of their iteration order, which a change would shift. The shard makes a write to one wait
//! (`SnapshotRun::claim`), and a write that comes without waiting has the rest written out first.
//!
//! Sorted sets (leaderboards, order books: written to all the time) never make a write wait.
//! Their parts follow the set's own order, which a change to one member leaves as it is for the
//! others, and the database keeps, for each change, the members it replaces, as they were
//! (`keyspace::Kept`). Those the walk has not passed yet are written out at once, from what was
//! kept, and the walk leaves them out when it gets there; members added since the snapshot's
//! point are left out too. A command that removes or replaces the whole set hands the old value
//! over (RENAME and MOVE, which keep it, a copy), and the walk goes on in that.

use std::collections::HashSet;

use bytes::Bytes;

use super::format;
use crate::journal::effect::PartBounds;
use crate::keyspace::zset::order;
use crate::keyspace::{Entry, KeyHasher, Keyspace, Value};

/// Collections of at most this many elements are written out whole, like any key.
const WHOLE_VALUE_ELEMENTS_MAX: usize = 4096;
/// A part holds at most this many elements (about a millisecond's worth for a sorted set) ...
const PART_ELEMENTS: usize = 8192;
/// ... and no more elements once it holds this many bytes.
const PART_BYTES_MAX: usize = 1 << 20;
/// A hash or a set starts each part by iterating past the elements before it (std's tables have
/// no cursor), so its parts are at least this fraction of it: at most this many passes over it.
const SKIPPING_PARTS_MAX: usize = 32;

/// Whether `entry` is a collection to write out in parts.
pub fn is_big(entry: &Entry) -> bool {
    entry
        .value
        .collection_len()
        .is_some_and(|len| len > WHOLE_VALUE_ELEMENTS_MAX)
}

/// Encoded frames not yet handed to the file, and how many of each kind were encoded.
#[derive(Default)]
pub struct FrameBuffer {
    pub bytes: Vec<u8>,
    /// Keys written out (a big collection counts once, with its first part).
    pub entries: u64,
    /// Frames that add a part to a big collection.
    pub parts: u64,
}

/// A big collection being written out in parts.
pub struct BigValue {
    pub db: u8,
    slot: u16,
    pub key: Bytes,
    progress: Progress,
}

enum Progress {
    /// A hash, set or list: the elements written out so far, in its iteration order.
    Elements(usize),
    Sorted(Box<SortedProgress>),
}

/// A sorted set that writes go on changing (see the module's comment).
#[derive(Default)]
struct SortedProgress {
    /// Whether its entry (the first part) is out.
    started: bool,
    /// The last member the walk passed, in the set's order.
    passed: Option<(f64, Bytes)>,
    /// Members written out ahead of the walk, or added since the snapshot's point: the walk
    /// leaves them out.
    copied: HashSet<Bytes, KeyHasher>,
    /// Whether the database keeps what changes to it replace (`Db::keep`).
    kept: bool,
    /// The set, once a command removed or replaced it in the database.
    taken: Option<Entry>,
}

impl BigValue {
    pub fn new(db: usize, slot: u16, key: &[u8], entry: &Entry) -> BigValue {
        let progress = match entry.value {
            Value::ZSet(_) => Progress::Sorted(Box::default()),
            _ => Progress::Elements(0),
        };
        BigValue {
            db: db as u8,
            slot,
            key: Bytes::copy_from_slice(key),
            progress,
        }
    }

    /// Whether writes to it must wait until it is written out.
    pub fn holds_writes(&self) -> bool {
        matches!(self.progress, Progress::Elements(_))
    }

    /// Has the database keep what changes to a sorted set replace, from now on.
    pub fn keep_changes(&mut self, keyspace: &mut Keyspace) {
        if let Progress::Sorted(sorted) = &mut self.progress {
            if !sorted.kept && sorted.taken.is_none() {
                keyspace.dbs[self.db as usize].keep(&self.key);
                sorted.kept = true;
            }
        }
    }

    /// Done with (written out, or the snapshot abandoned): the database stops keeping what
    /// changes replace, and a set taken from it is let go of.
    pub fn finish(self, keyspace: &mut Keyspace) {
        if let Progress::Sorted(sorted) = self.progress {
            let db = &mut keyspace.dbs[self.db as usize];
            if sorted.kept {
                db.stop_keeping(&self.key);
            }
            if let Some(taken) = sorted.taken {
                db.discard(taken.into_parts().0);
            }
        }
    }

    /// The sorted set was removed or replaced: the rest is written out from `entry`.
    pub fn take(&mut self, entry: Entry) {
        if let Progress::Sorted(sorted) = &mut self.progress {
            // The database no longer keeps anything for the key.
            sorted.kept = false;
            sorted.taken = Some(entry);
        }
    }

    /// A change replaced these members of the sorted set (`None`: it had no such member): those
    /// the walk has not passed are written out now, and all are left out by the walk.
    pub fn copy_members(
        &mut self,
        keyspace: &Keyspace,
        old: Vec<(Bytes, Option<f64>)>,
        out: &mut FrameBuffer,
    ) {
        let Progress::Sorted(sorted) = &mut self.progress else {
            return;
        };
        let sorted = &mut **sorted;
        let mut members = Vec::new();
        for (member, score) in old {
            // Left out by the walk even when it passed its old place: it may be at a new one.
            let passed = score.is_some_and(|score| sorted.has_passed(score, &member));
            if sorted.copied.insert(member.clone()) && !passed {
                members.extend(score.map(|score| (member, score)));
            }
        }
        if members.is_empty() {
            return;
        }
        let taken = sorted.taken.as_ref();
        let Some(entry) = taken.or_else(|| lookup(keyspace, self.db, self.slot, &self.key)) else {
            return;
        };
        let members = members.iter().map(|(member, score)| (&member[..], *score));
        let first = (!sorted.started).then_some(entry);
        let (db, key) = (self.db, &self.key);
        format::encode_members_part(db, key, first, members, PartBounds::WHOLE, &mut out.bytes);
        sorted.started = true;
        out.count(first.is_some());
    }

    /// Writes out the next part; returns whether it is done (all out, or gone: it expired).
    pub fn write_part(&mut self, keyspace: &Keyspace, now_ms: u64, out: &mut FrameBuffer) -> bool {
        let (db, key) = (self.db, &self.key[..]);
        let stored = lookup(keyspace, db, self.slot, key);
        match &mut self.progress {
            Progress::Sorted(sorted) => {
                // Out of `sorted` while it is written from (moved back after).
                let taken = sorted.taken.take();
                let done = match taken.as_ref().or(stored) {
                    None => true,
                    Some(entry) if entry.is_due(now_ms) => true,
                    Some(entry) => sorted.write_part(db, key, entry, out),
                };
                sorted.taken = taken;
                done
            }
            Progress::Elements(written) => {
                let Some(entry) = stored else {
                    return true;
                };
                if *written == 0 && (entry.is_due(now_ms) || !is_big(entry)) {
                    // Expired, or changed before its first part (which nothing does): as a key.
                    if !entry.is_due(now_ms) {
                        format::encode_entry(db, key, entry, &mut out.bytes);
                        out.count(true);
                    }
                    return true;
                }
                let Some(len) = entry.value.collection_len() else {
                    debug_assert!(false, "a collection half written out became another type");
                    return true;
                };
                let bounds = PartBounds {
                    elements: part_elements(&entry.value, len),
                    bytes: PART_BYTES_MAX,
                };
                let first = *written == 0;
                *written += if first {
                    format::encode_first_part(db, key, entry, bounds, &mut out.bytes)
                } else {
                    format::encode_part(db, key, &entry.value, *written, bounds, &mut out.bytes)
                };
                out.count(first);
                *written >= len
            }
        }
    }
}

impl SortedProgress {
    fn has_passed(&self, score: f64, member: &[u8]) -> bool {
        self.passed
            .as_ref()
            .is_some_and(|(at, last)| order(score, member, *at, last).is_le())
    }

    /// The next members in order past the walk's, but for those copied; returns whether the
    /// walk reached the end of the set.
    fn write_part(&mut self, db: u8, key: &[u8], entry: &Entry, out: &mut FrameBuffer) -> bool {
        let Value::ZSet(zset) = &entry.value else {
            debug_assert!(false, "a sorted set half written out became another type");
            return true;
        };
        let from = match &self.passed {
            None => 0,
            Some((at, last)) => {
                zset.count_while(|score, member| order(score, member, *at, last).is_le())
            }
        };
        let mut passed = None;
        let members = zset
            .iter_from(from, false)
            .inspect(|&(member, score)| passed = Some((score, member)))
            .filter(|(member, _)| !self.copied.contains(*member));
        let bounds = PartBounds {
            elements: PART_ELEMENTS,
            bytes: PART_BYTES_MAX,
        };
        let first = (!self.started).then_some(entry);
        let mark = out.bytes.len();
        let count = format::encode_members_part(db, key, first, members, bounds, &mut out.bytes);
        if count == 0 {
            out.bytes.truncate(mark);
        } else {
            self.started = true;
            out.count(first.is_some());
        }
        let Some((at, last)) = passed else {
            return true;
        };
        let done =
            zset.count_while(|score, member| order(score, member, at, last).is_le()) == zset.len();
        self.passed = Some((at, Bytes::copy_from_slice(last)));
        done
    }
}

impl FrameBuffer {
    /// One frame was encoded: a key's entry (`entry`) or a part.
    fn count(&mut self, entry: bool) {
        if entry {
            self.entries += 1;
        } else {
            self.parts += 1;
        }
    }
}

fn lookup<'a>(keyspace: &'a Keyspace, db: u8, slot: u16, key: &[u8]) -> Option<&'a Entry> {
    keyspace.dbs[db as usize].peek_in_slot(slot, key)
}

/// Elements per part of a hash, set or list of `len` elements (see `SKIPPING_PARTS_MAX`).
fn part_elements(value: &Value, len: usize) -> usize {
    match value {
        Value::Hash(_) | Value::Set(_) => PART_ELEMENTS.max(len.div_ceil(SKIPPING_PARTS_MAX)),
        _ => PART_ELEMENTS,
    }
}
