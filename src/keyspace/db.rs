//! One database of one shard: a table per hash slot (`slot_table.rs`), so that slots can be
//! counted, listed, scanned and moved whole, and an index of expiry deadlines for the active
//! expiry cycle.

use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::ops::{Range, RangeInclusive};
use std::time::Instant;

use bytes::Bytes;

use super::delta::{Delta, WrongType};
use super::garbage::Garbage;
use super::kept::{Keeping, Kept};
use super::pattern::glob_match;
use super::slot_table::{self, SlotTable};
use super::stored_key::StoredKey;
use super::Value;
use crate::router::slot::key_slot;

/// A zero-sized hasher builder, so that the thousands of per-slot maps cost no seed each. The seed
/// is random per process (hash flooding), drawn once before any shard starts.
#[derive(Clone, Copy, Default)]
pub struct KeyHasher;

static SEED: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();

impl BuildHasher for KeyHasher {
    type Hasher = ahash::AHasher;
    fn build_hasher(&self) -> ahash::AHasher {
        SEED.get_or_init(ahash::RandomState::new).build_hasher()
    }
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry time in Unix milliseconds, `NO_EXPIRY` for none: a plain u64 rather than
    /// an `Option` keeps a table bucket at 64 bytes instead of 72 (about 17 bytes per key).
    expire_at: u64,
}

/// `Entry::expire_at` of a key without a TTL. No deadline reaches it: they are at most
/// `i64::MAX` (Redis's limit, and the journal's encoding).
const NO_EXPIRY: u64 = u64::MAX;

impl Entry {
    pub fn new(value: Value, expire_at_ms: Option<u64>) -> Entry {
        Entry {
            value,
            expire_at: expire_at_ms.map_or(NO_EXPIRY, |at| at.min(NO_EXPIRY - 1)),
        }
    }

    /// Absolute expiry time in Unix milliseconds, if the key has one.
    pub fn expire_at_ms(&self) -> Option<u64> {
        (self.expire_at != NO_EXPIRY).then_some(self.expire_at)
    }

    /// Whether the deadline has passed at `now_ms`.
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.expire_at <= now_ms
    }

    fn set_expire_at_ms(&mut self, expire_at_ms: Option<u64>) {
        self.expire_at = Entry::new(Value::Int(0), expire_at_ms).expire_at;
    }

    /// The value and the deadline, taken apart.
    pub fn into_parts(self) -> (Value, Option<u64>) {
        let expire_at_ms = self.expire_at_ms();
        (self.value, expire_at_ms)
    }
}

/// A change a command made, for the journal: which key (its final state is logged), an
/// element-level change to a key's collection, or that the whole database was emptied.
///
/// Each key change carries the key's hash slot, which the keyspace computed anyway, so that
/// logging it does not hash the key again.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Key {
        key: StoredKey,
        slot: u16,
    },
    Delta {
        key: StoredKey,
        slot: u16,
        /// Boxed: the largest deltas would make every change, SET's included, 128 bytes.
        delta: Box<Delta>,
        /// The delta made the key (it was missing): logged after a delete of it, since replay
        /// may still hold a value that expired here (expiry is not logged).
        created: bool,
    },
    /// `key`'s value and deadline moved to `to` of database `to_db`, in the same slot (RENAME,
    /// MOVE): logged as that move, not as the destination's whole value.
    Moved {
        key: StoredKey,
        slot: u16,
        to_db: usize,
        to: StoredKey,
    },
    Flush,
}

impl Change {
    /// `key`, in hash slot `slot`, changed.
    pub fn key(key: &[u8], slot: u16) -> Change {
        Change::Key {
            key: StoredKey::new(key),
            slot,
        }
    }

    /// `key` as the table stores it, in hash slot `slot`, changed. Where the table holds the key,
    /// a change copies it from there rather than building it from the request's bytes: that
    /// build is a copy of the key's length, and the whole-word moves of the change after it
    /// wait for it to reach the cache (a failed store forwarding), about 4% of the CPU of a
    /// durable SET at pipeline 16.
    pub fn stored(key: &StoredKey, slot: u16) -> Change {
        Change::Key {
            key: key.clone(),
            slot,
        }
    }
}

/// Appends `change` to a command's changes, but for a key change that repeats the last one (a
/// key written twice in a row is logged once, in its final state). Every other change counts,
/// equal ones too: two RPUSH k x in a MULTI push twice.
fn record_in(changes: &mut Vec<Change>, change: Change) {
    if !(matches!(change, Change::Key { .. }) && changes.last() == Some(&change)) {
        changes.push(change);
    }
}

pub struct Db {
    slots: Vec<SlotTable>,
    /// Changes since the shard last took them (`take_changes`), in order.
    changes: Vec<Change>,
    /// Whether changes are recorded at all (not without a journal).
    track_changes: bool,
    first_slot: u16,
    /// (deadline ms, key) for every key with a TTL; kept exactly in step with `Entry::expire_at_ms()`.
    expiry_index: BTreeSet<(u64, StoredKey)>,
    len: usize,
    /// Slot tables (by index) whose resize is still moving keys, for the cron to finish
    /// (`continue_resizes`) when writes, which move a step each, stop before the move does.
    resizing: Vec<usize>,
    /// Keys removed by expiry since the shard last took them, kept only while `expired`
    /// keyspace events are on (`set_notify_expired`).
    expired: Option<Vec<Bytes>>,
    /// Keys added to the database since the shard last took them, kept only while a command runs
    /// with `new` keyspace events on (`set_notify_created`).
    created: Option<Vec<Bytes>>,
    /// Keys whose changes keep what they replace, for a snapshot (`keep`); None when none are.
    keeping: Option<Box<Keeping>>,
    /// Big values let go of, to be freed in steps (`free_garbage`).
    garbage: Garbage,
}

impl Db {
    pub fn new(slots: Range<u16>) -> Db {
        Db {
            slots: slots.clone().map(|_| SlotTable::default()).collect(),
            first_slot: slots.start,
            changes: Vec::new(),
            track_changes: true,
            expiry_index: BTreeSet::new(),
            len: 0,
            resizing: Vec::new(),
            expired: None,
            created: None,
            keeping: None,
            garbage: Garbage::default(),
        }
    }

    /// The hash slot of the slot table at `index` (`slot_index`'s inverse).
    fn slot_at(&self, index: usize) -> u16 {
        self.first_slot + index as u16
    }

    fn slot_index(&self, slot: u16) -> usize {
        let index = slot.wrapping_sub(self.first_slot) as usize;
        assert!(
            index < self.slots.len(),
            "slot {slot} is not owned by this shard"
        );
        index
    }

    /// Prefetches the header of slot table `slot` (16384 of them, rarely all in cache): the first
    /// of the four steps that warm a key ahead of its command (`router::warm`). A key of another
    /// shard is left alone (by every step).
    pub fn warm_slot(&self, slot: u16) {
        if self.owns_slot(slot) {
            slot_table::prefetch(&self.slots[self.slot_index(slot)]);
        }
    }

    /// Prefetches the tag group in `slot` of a key of hash `hash` (`key_hash`), once `warm_slot`
    /// brought in the header that says where it is.
    pub fn warm_tags(&self, slot: u16, hash: u64) {
        if self.owns_slot(slot) {
            self.slots[self.slot_index(slot)].prefetch_tags(hash);
        }
    }

    /// Prefetches the buckets in `slot` that may hold a key of hash `hash`, once `warm_tags`
    /// brought in the tags that say which.
    pub fn warm_buckets(&self, slot: u16, hash: u64) {
        if self.owns_slot(slot) {
            self.slots[self.slot_index(slot)].prefetch_matches(hash);
        }
    }

    /// Prefetches the bytes of `key`'s string value where they live outside its bucket, once
    /// `warm_buckets` brought in the bucket that points at them. SET writes a same-size value over
    /// the old one in place, and that store missing the cache held up the command's later stores.
    pub fn warm_value(&self, slot: u16, hash: u64, key: &[u8]) {
        if self.owns_slot(slot) {
            if let Some(entry) = self.slots[self.slot_index(slot)].get_hashed(hash, key) {
                entry.value.prefetch();
            }
        }
    }

    pub fn owns_slot(&self, slot: u16) -> bool {
        (slot.wrapping_sub(self.first_slot) as usize) < self.slots.len()
    }

    pub fn slot_range(&self) -> Range<u16> {
        self.first_slot..self.first_slot + self.slots.len() as u16
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn expires_len(&self) -> usize {
        self.expiry_index.len()
    }

    /// The index of `key`'s slot table, once `key` is dropped if its deadline has passed: every
    /// change that builds on the old value goes through this first, so it never sees an expired
    /// one, and hashes the key into its slot only here.
    fn live_slot_index(&mut self, key: &[u8], now_ms: u64) -> usize {
        let index = self.slot_index(key_slot(key));
        if self.slots[index].get(key).is_some_and(|e| e.is_due(now_ms)) {
            self.expire(key);
        }
        index
    }

    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        let index = self.slot_index(key_slot(key));
        // One lookup in the common case; the expired case (rare) looks up again to remove.
        match self.slots[index].get(key) {
            Some(entry) if entry.is_due(now_ms) => {
                self.expire(key);
                None
            }
            _ => self.slots[index].get(key),
        }
    }

    /// The value for in-place changes (the key is recorded as changed); expiry is changed only
    /// through `set_expire`.
    pub fn get_value_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Value> {
        let index = self.live_slot_index(key, now_ms);
        let slot = self.slot_at(index);
        let (stored, entry) = self.slots[index].get_key_value_mut(key)?;
        if self.track_changes {
            record_in(&mut self.changes, Change::stored(stored, slot));
        }
        Some(&mut entry.value)
    }

    /// Changes the value at `key` in place with `change`, which may refuse (with an error reply):
    /// the key is recorded as changed only when it did not, so a refused change logs nothing. A
    /// wrong-type INCR on a big list used to log the whole list. `None` when the key is missing.
    pub fn update_value<T, E>(
        &mut self,
        key: &[u8],
        now_ms: u64,
        change: impl FnOnce(&mut Value) -> Result<T, E>,
    ) -> Option<Result<T, E>> {
        let index = self.live_slot_index(key, now_ms);
        let slot = self.slot_at(index);
        let (stored, entry) = self.slots[index].get_key_value_mut(key)?;
        let result = change(&mut entry.value);
        if result.is_ok() && self.track_changes {
            record_in(&mut self.changes, Change::stored(stored, slot));
        }
        Some(result)
    }

    /// The entry as stored, expired or not: for logging a key's final state.
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.peek_in_slot(key_slot(key), key)
    }

    /// `peek` for a caller that knows the key's hash slot already.
    pub fn peek_in_slot(&self, slot: u16, key: &[u8]) -> Option<&Entry> {
        self.slots[self.slot_index(slot)].get(key)
    }

    pub fn tracks_changes(&self) -> bool {
        self.track_changes
    }

    pub fn set_track_changes(&mut self, on: bool) {
        self.track_changes = on;
        self.changes.clear();
    }

    /// Records that `key`, in the slot table at `index`, changed (its final state is logged).
    fn record_key(&mut self, index: usize, key: &[u8]) {
        if self.track_changes {
            self.record(Change::key(key, self.slot_at(index)));
        }
    }

    fn record(&mut self, change: Change) {
        if self.track_changes {
            record_in(&mut self.changes, change);
        }
    }

    /// The changes made since the last call, oldest first.
    pub fn drain_changes(&mut self) -> std::vec::Drain<'_, Change> {
        self.changes.drain(..)
    }

    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    pub fn contains(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.get(key, now_ms).is_some()
    }

    /// Stores `value` under `key`, replacing any value and TTL it had.
    pub fn insert(&mut self, key: &[u8], value: Value, expire_at_ms: Option<u64>) {
        self.replace(key, value, expire_at_ms);
    }

    /// `insert` without a lookup first (SET's one lookup). An old value already past its deadline
    /// counts as expired, and the key as created, as a lookup before `insert` would have found.
    pub fn overwrite(&mut self, key: &[u8], value: Value, expire_at_ms: Option<u64>, now_ms: u64) {
        if self
            .replace(key, value, expire_at_ms)
            .is_some_and(|old_deadline| old_deadline.is_some_and(|at| at <= now_ms))
        {
            self.note_expired(key);
            self.note_created(key);
        }
    }

    /// `overwrite` with a string from a client. A live string of the same size in its own
    /// allocation, keeping its deadline, takes the bytes in place: SET over a same-size value
    /// (sessions, device state, fixed-size records) then allocates and frees nothing.
    pub fn overwrite_string(
        &mut self,
        key: &[u8],
        bytes: &[u8],
        expire_at_ms: Option<u64>,
        now_ms: u64,
    ) {
        let index = self.slot_index(key_slot(key));
        let kept = self.keeping.as_deref().is_some_and(|k| k.keeps(key));
        let slot = self.slot_at(index);
        if let Some((stored, entry)) = self.slots[index].get_key_value_mut(key) {
            let same_deadline = !entry.is_due(now_ms) && entry.expire_at_ms() == expire_at_ms;
            if !kept && same_deadline && entry.value.overwrite_string_in_place(bytes) {
                if self.track_changes {
                    record_in(&mut self.changes, Change::stored(stored, slot));
                }
                return;
            }
        }
        self.overwrite(key, Value::string(bytes), expire_at_ms, now_ms);
    }

    /// `insert`; returns whether it replaced an entry, and that entry's deadline.
    fn replace(
        &mut self,
        key: &[u8],
        value: Value,
        expire_at_ms: Option<u64>,
    ) -> Option<Option<u64>> {
        let index = self.slot_index(key_slot(key));
        let key = StoredKey::new(key);
        if self.track_changes {
            self.record(Change::stored(&key, self.slot_at(index)));
        }
        self.put(index, key, value, expire_at_ms)
    }

    /// `replace` without recording the change, into slot table `index`.
    fn put(
        &mut self,
        index: usize,
        key: StoredKey,
        value: Value,
        expire_at_ms: Option<u64>,
    ) -> Option<Option<u64>> {
        if let Some(at) = expire_at_ms {
            self.expiry_index.insert((at, key.clone()));
        }
        let old = self.slots[index].insert(key.clone(), Entry::new(value, expire_at_ms));
        self.note_resizing(index);
        let old_deadline = old.as_ref().map(Entry::expire_at_ms);
        match old_deadline {
            None => {
                self.len += 1;
                self.note_created(&key);
            }
            Some(Some(at)) if Some(at) != expire_at_ms => {
                self.expiry_index.remove(&(at, key.clone()));
            }
            Some(_) => {}
        }
        if let Some(old) = old {
            self.let_go(&key, old);
        }
        old_deadline
    }

    /// Applies `delta` to the collection at `key` and records it for the journal. A missing key is
    /// created by a delta that adds, and a collection left empty is deleted with its key.
    ///
    /// A created key is logged whole, except for a string made by a range write (SETRANGE,
    /// SETBIT, BITFIELD at an offset: hundreds of MB of zeros for one SETBIT), which is logged as
    /// its delta after a delete (`Change::Delta::created`).
    pub fn apply(&mut self, key: &[u8], delta: Delta, now_ms: u64) -> Result<(), WrongType> {
        let index = self.live_slot_index(key, now_ms);
        let Some((stored, entry)) = self.slots[index].get_key_value_mut(key) else {
            if let Some(mut value) = delta.empty_value() {
                delta.apply_to(&mut value)?;
                if !value.is_empty_collection() {
                    if delta.writes_a_range() {
                        let stored = StoredKey::new(key);
                        self.record(Change::Delta {
                            key: stored.clone(),
                            slot: self.slot_at(index),
                            delta: Box::new(delta),
                            created: true,
                        });
                        self.put(index, stored, value, None);
                    } else {
                        self.insert(key, value, None);
                    }
                }
            }
            return Ok(());
        };
        if let Some(keeping) = self.keeping.as_deref_mut() {
            keeping.before_delta(key, entry, &delta);
        }
        delta.apply_to(&mut entry.value)?;
        if entry.value.is_empty_collection() {
            self.delete(key);
        } else if self.track_changes {
            let (key, slot) = (stored.clone(), self.slot_at(index));
            self.record(Change::Delta {
                key,
                slot,
                delta: Box::new(delta),
                created: false,
            });
        }
        Ok(())
    }

    /// Deletes `key` for a caller that stores its value at `to` in database `to_db` (RENAME,
    /// MOVE: `Keyspace::move_key`), recorded as that move when `as_move` (the caller then stores
    /// it unrecorded, `insert_moved`), else as `key` changed. A snapshot keeping the key is told
    /// (`Keeping::moved`).
    pub(super) fn remove_to(
        &mut self,
        key: &[u8],
        to_db: usize,
        to: &[u8],
        as_move: bool,
    ) -> Option<Entry> {
        let (index, entry) = self.unlink(key)?;
        if as_move {
            self.record(Change::Moved {
                key: StoredKey::new(key),
                slot: self.slot_at(index),
                to_db,
                to: StoredKey::new(to),
            });
        } else {
            self.record_key(index, key);
        }
        if let Some(keeping) = self.keeping.as_deref_mut().filter(|k| k.keeps(key)) {
            keeping.moved(key, to_db, to);
        }
        Some(entry)
    }

    /// Stores a value moved from a key of the same slot at `to`, replacing what it held,
    /// unrecorded: the move was recorded where it came from.
    pub(super) fn insert_moved(&mut self, to: &[u8], value: Value, expire_at_ms: Option<u64>) {
        if let Some((_, old)) = self.unlink(to) {
            self.let_go(to, old);
        }
        let index = self.slot_index(key_slot(to));
        self.put(index, StoredKey::new(to), value, expire_at_ms);
    }

    /// Deletes `key` (recorded as a change), letting go of its value; whether it was there.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        let Some((index, entry)) = self.unlink(key) else {
            return false;
        };
        self.record_key(index, key);
        self.let_go(key, entry);
        true
    }

    /// Lets go of the entry a command removed from `key`: to a snapshot that keeps the key, or
    /// to be freed (in steps, when it is big).
    fn let_go(&mut self, key: &[u8], entry: Entry) {
        match self.keeping.as_deref_mut().filter(|k| k.keeps(key)) {
            Some(keeping) => keeping.whole(key, entry),
            None => self.garbage.discard(entry.into_parts().0),
        }
    }

    /// Deletes `key`, whose deadline has passed (unrecorded: replay expires it by itself).
    fn expire(&mut self, key: &[u8]) {
        if let Some((_, entry)) = self.unlink(key) {
            self.garbage.discard(entry.into_parts().0);
        }
        self.note_expired(key);
    }

    /// Deletes `key` without recording it: for expiry, which replay repeats by itself because
    /// deadlines are absolute. (A kept key is not kept for expiry: a snapshot's copy of it ends
    /// with its deadline, so loading drops it anyway.) Returns the index of the key's slot table
    /// with the entry.
    fn unlink(&mut self, key: &[u8]) -> Option<(usize, Entry)> {
        let index = self.slot_index(key_slot(key));
        let (stored_key, entry) = self.slots[index].remove_entry(key)?;
        self.note_resizing(index);
        self.len -= 1;
        if let Some(at) = entry.expire_at_ms() {
            self.expiry_index.remove(&(at, stored_key));
        }
        Some((index, entry))
    }

    /// Sets or clears the deadline of an existing key; false when the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], expire_at_ms: Option<u64>, now_ms: u64) -> bool {
        let index = self.live_slot_index(key, now_ms);
        let map = &mut self.slots[index];
        let Some(entry) = map.get_mut(key) else {
            return false;
        };
        let old = entry.expire_at_ms();
        entry.set_expire_at_ms(expire_at_ms);
        self.record_key(index, key);
        if old != expire_at_ms {
            let stored_key = StoredKey::new(key);
            if let Some(at) = old {
                self.expiry_index.remove(&(at, stored_key.clone()));
            }
            if let Some(at) = expire_at_ms {
                self.expiry_index.insert((at, stored_key));
            }
        }
        true
    }

    fn note_resizing(&mut self, index: usize) {
        if self.slots[index].is_moving() && !self.resizing.contains(&index) {
            self.resizing.push(index);
        }
    }

    /// Moves keys of resizing tables into their new tables, a few buckets at a time, until
    /// `deadline` (Redis's `activerehashing`). The steps are small because a step may fault in a
    /// fresh page of the new table for each key it moves.
    pub fn continue_resizes(&mut self, deadline: Instant) {
        const STEP_BUCKETS: usize = 128;
        while let Some(&index) = self.resizing.first() {
            if Instant::now() >= deadline {
                break;
            }
            if !self.slots[index].move_some(STEP_BUCKETS) {
                self.resizing.remove(0);
            }
        }
    }

    pub fn clear(&mut self) {
        // A snapshot writes out every key before a command empties a database.
        self.keeping = None;
        for table in self.slots.iter_mut() {
            self.garbage.discard_table(std::mem::take(table));
        }
        self.resizing.clear();
        self.expiry_index.clear();
        self.len = 0;
        self.record(Change::Flush);
    }

    /// Empties the given slots (those this database covers), unrecorded: for replay.
    pub fn clear_slots(&mut self, slots: Range<u16>) {
        for slot in intersect(&slots, &self.slot_range()) {
            self.take_slot(slot);
        }
    }

    /// Removes and returns one slot's whole map, keeping the count and expiry index right.
    fn take_slot(&mut self, slot: u16) -> SlotTable {
        let index = self.slot_index(slot);
        let map = std::mem::take(&mut self.slots[index]);
        self.len -= map.len();
        for (key, entry) in map.iter() {
            if let Some(at) = entry.expire_at_ms() {
                self.expiry_index.remove(&(at, key.clone()));
            }
        }
        map
    }

    /// Exchanges the contents of the given slots with `other` (same slot range), unrecorded: for
    /// replaying SWAPDB.
    pub fn swap_slots(&mut self, other: &mut Db, slots: Range<u16>) {
        for slot in intersect(&slots, &self.slot_range()) {
            let mine = self.take_slot(slot);
            let theirs = other.take_slot(slot);
            for (db, map) in [(&mut *self, theirs), (&mut *other, mine)] {
                for (key, entry) in map.into_entries() {
                    db.insert_unrecorded(key, entry);
                }
            }
        }
        self.changes.clear();
        other.changes.clear();
    }

    fn insert_unrecorded(&mut self, key: StoredKey, entry: Entry) {
        let (value, expire_at_ms) = entry.into_parts();
        self.insert(&key, value, expire_at_ms);
        self.changes.pop();
    }

    /// Frees up to `elements` elements of the big values let go of; returns how many it freed.
    pub fn free_garbage(&mut self, elements: usize) -> usize {
        self.garbage.free_some(elements)
    }

    /// Lets go of a value nothing holds any more (one a snapshot wrote out from).
    pub fn discard(&mut self, value: Value) {
        self.garbage.discard(value);
    }

    /// Big values waiting to be freed, and those handed over since the start.
    pub fn lazyfree_counts(&self) -> (usize, u64) {
        (self.garbage.pending(), self.garbage.freed_objects)
    }

    /// Starts keeping, for a snapshot, what changes to `key` replace (see `kept`).
    pub fn keep(&mut self, key: &[u8]) {
        self.keeping.get_or_insert_default().keep(key);
    }

    /// Stops keeping what changes to `key` replace.
    pub fn stop_keeping(&mut self, key: &[u8]) {
        if let Some(keeping) = self.keeping.as_deref_mut() {
            keeping.stop(key);
            if keeping.is_idle() {
                self.keeping = None;
            }
        }
    }

    /// What changes replaced in kept keys since the last call, oldest first.
    pub fn take_kept(&mut self) -> Vec<Kept> {
        let kept = self.keeping.as_deref_mut().map(Keeping::take);
        if self.keeping.as_deref().is_some_and(Keeping::is_idle) {
            self.keeping = None;
        }
        kept.unwrap_or_default()
    }

    /// Removes up to `max` keys whose deadline is at or before `now_ms`; returns how many.
    pub fn remove_expired(&mut self, now_ms: u64, max: usize) -> usize {
        let mut removed = 0;
        while removed < max {
            let Some((at, key)) = self.expiry_index.first().cloned() else {
                break;
            };
            if at > now_ms {
                break;
            }
            self.expire(&key);
            removed += 1;
        }
        removed
    }

    /// Starts (or stops) keeping the keys that expire, for `expired` keyspace events.
    pub fn set_notify_expired(&mut self, on: bool) {
        self.expired = on.then(Vec::new);
    }

    pub fn notifies_expired(&self) -> bool {
        self.expired.is_some()
    }

    /// The keys that expired since the last call, oldest first.
    pub fn take_expired(&mut self) -> Vec<Bytes> {
        self.expired
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Starts (or stops) keeping the keys added to the database, for `new` keyspace events.
    pub fn set_notify_created(&mut self, on: bool) {
        self.created = on.then(Vec::new);
    }

    pub fn notifies_created(&self) -> bool {
        self.created.is_some()
    }

    /// The keys added since the last call, oldest first.
    pub fn take_created(&mut self) -> Vec<Bytes> {
        self.created
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn note_created(&mut self, key: &[u8]) {
        if let Some(created) = &mut self.created {
            created.push(Bytes::copy_from_slice(key));
        }
    }

    fn note_expired(&mut self, key: &[u8]) {
        if let Some(expired) = &mut self.expired {
            expired.push(Bytes::copy_from_slice(key));
        }
    }

    pub fn keys_in_slot_count(&self, slot: u16) -> usize {
        if self.owns_slot(slot) {
            self.slots[self.slot_index(slot)].len()
        } else {
            0
        }
    }

    pub fn keys_in_slot(&self, slot: u16, count: usize) -> Vec<Bytes> {
        if !self.owns_slot(slot) {
            return Vec::new();
        }
        self.slots[self.slot_index(slot)]
            .keys()
            .take(count)
            .map(|k| Bytes::copy_from_slice(k))
            .collect()
    }

    /// One slot's entries whose `key_hash` lies in `hashes` (`0..=u64::MAX`: all), as stored
    /// (expired ones included): for writing a snapshot.
    pub fn slot_entries(
        &self,
        slot: u16,
        hashes: RangeInclusive<u64>,
    ) -> impl Iterator<Item = (&[u8], &Entry)> {
        let map = self
            .owns_slot(slot)
            .then(|| &self.slots[self.slot_index(slot)]);
        map.into_iter()
            .flat_map(move |m| m.in_hash_range(hashes.clone()))
            .map(|(k, e)| (&k[..], e))
    }

    /// Every live key matching `pattern`.
    pub fn keys(&self, pattern: &[u8], now_ms: u64) -> Vec<Bytes> {
        let all = pattern == b"*";
        self.slots
            .iter()
            .flat_map(|m| m.iter())
            .filter(|(_, e)| !is_expired(e, now_ms))
            .filter(|(k, _)| all || glob_match(pattern, k, false))
            .map(|(k, _)| Bytes::copy_from_slice(k))
            .collect()
    }

    /// Walks whole slots from `cursor_slot` until at least `count` keys were visited or the shard's
    /// range ends. Returns the keys that pass `filter` and the next slot to visit (the range's end
    /// when done). Whole slots are returned at once, so a key present for a whole scan is always
    /// seen, whatever inserts and deletes happen between calls.
    pub fn scan(
        &self,
        cursor_slot: u16,
        count: usize,
        now_ms: u64,
        mut filter: impl FnMut(&[u8], &Entry) -> bool,
    ) -> (Vec<Bytes>, u16) {
        let range = self.slot_range();
        let mut slot = cursor_slot.max(range.start);
        let mut visited = 0;
        let mut keys = Vec::new();
        while slot < range.end && visited < count {
            for (k, e) in self.slots[self.slot_index(slot)].iter() {
                visited += 1;
                if !is_expired(e, now_ms) && filter(k, e) {
                    keys.push(Bytes::copy_from_slice(k));
                }
            }
            slot += 1;
        }
        (keys, slot)
    }

    /// A random live key, or None when the database is empty.
    pub fn random_key(&mut self, now_ms: u64) -> Option<Bytes> {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        // Bounded tries so that a database of only expired keys cannot loop for long.
        for _ in 0..100 {
            if self.len == 0 {
                return None;
            }
            let nonempty: Vec<usize> = (0..self.slots.len())
                .filter(|&i| !self.slots[i].is_empty())
                .collect();
            let map = &self.slots[nonempty[rng.gen_range(0..nonempty.len())]];
            let key = map.keys().nth(rng.gen_range(0..map.len()))?;
            let key = Bytes::copy_from_slice(key);
            if self.get(&key, now_ms).is_some() {
                return Some(key);
            }
        }
        None
    }
}

fn is_expired(entry: &Entry, now_ms: u64) -> bool {
    entry.is_due(now_ms)
}

fn intersect(a: &Range<u16>, b: &Range<u16>) -> Range<u16> {
    a.start.max(b.start)..a.end.min(b.end).max(a.start.max(b.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes into a big slot leave a resize's move under way; the cron's `continue_resizes`
    /// finishes it, and stops at its deadline.
    #[test]
    fn continue_resizes_finishes_the_moves_writes_left() {
        let mut db = Db::new(0..16384);
        let index = db.slot_index(key_slot(b"{t}"));
        let mut n = 0;
        while !db.slots[index].is_moving() || n < 10_000 {
            db.insert(format!("{{t}}{n}").as_bytes(), Value::Int(n), None);
            n += 1;
        }
        db.continue_resizes(Instant::now());
        assert_eq!(db.resizing, [index]);
        assert!(
            db.slots[index].is_moving(),
            "a passed deadline moves nothing"
        );
        db.continue_resizes(Instant::now() + std::time::Duration::from_secs(60));
        assert!(db.resizing.is_empty());
        assert!(!db.slots[index].is_moving());
        for i in 0..n {
            let entry = db.get(format!("{{t}}{i}").as_bytes(), 0);
            assert!(matches!(entry.map(|e| &e.value), Some(Value::Int(v)) if *v == i));
        }
    }
}
