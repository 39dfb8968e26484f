//! The keys of one hash slot: an open-addressing hash table built for the keyspace's two needs,
//! memory per key and cache misses per lookup.
//!
//! - **Buckets hold the key and entry inline**, one cache line each, so a lookup that finds its
//!   tag reads one line of data. A byte per bucket (the *tag*: 7 bits of the hash, or empty or
//!   deleted) is probed eight at a time, so buckets are only read on a likely match.
//! - **Capacity grows by steps of 1.14x to 1.25x, not by doubling** (`capacity_for`): the table
//!   stays 60–87% full as it grows, where a power-of-two table falls to 44% after each doubling.
//!   At 64 bytes a bucket, that slack was most of a small key's memory.
//! - **`prefetch_tags`, then `prefetch_matches`** bring in the tag group and then the buckets
//!   whose tags match a key ahead of its lookup, so a pipeline of commands overlaps its cache
//!   misses instead of taking them one after another.
//! - **A big table resizes a step at a time** (`Moving`), as Redis's incremental rehashing does:
//!   the new table takes every insert, each insert or remove moves the keys of `MOVE_STEP` buckets
//!   of the old one, and the shard's cron moves more when writes stop (`move_some`). A slot of
//!   millions of keys (one `{hash tag}`) used to stop its shard for the whole copy: 370 ms at 1.6M
//!   keys. Lookups look in both tables meanwhile. Bucket arrays are allocated uninitialised (the
//!   tags say which buckets hold a key), so a new table costs no time until it is filled either.
//!
//! Buckets are `MaybeUninit`: a full tag is what says a bucket holds a key. That unsafe code is
//! checked under Miri (`cargo +nightly miri test --bin keel -- slot_table::tests::every_key`;
//! the thresholds shrink under Miri so that it moves tables and releases pages in seconds).
//!
//! Probing is linear, by groups of 8 tags read as one `u64` from any bucket (the first 8 tags are
//! mirrored after the last, so a group never wraps). A lookup stops at a group holding an empty
//! bucket. The home bucket is the hash scaled to the capacity (Lemire's multiply-shift), the tag
//! the hash's low 7 bits.

use super::db::{Entry, KeyHasher};
use super::stored_key::StoredKey;
use crate::runtime::memory;
use std::hash::BuildHasher;
use std::mem::MaybeUninit;
use std::ops::RangeInclusive;

/// Tags read and matched at once.
const GROUP: usize = 8;
/// A resize of a table of at least this many keys moves them a step at a time (a smaller one moves
/// them at once: well under a millisecond).
const MOVE_IN_STEPS_FROM: usize = if cfg!(miri) { 64 } else { 4096 };
/// Buckets of the old table each insert or remove moves the keys of. The move must end before the
/// new table fills: it has room for an eighth more keys at least, so about 9.2 buckets per insert
/// would do.
const MOVE_STEP: usize = 16;
/// Bucket arrays of at least this many buckets (2 MiB) are backed by small pages, and a move gives
/// the pages of the old one back as it goes.
const BIG_ARRAY_BUCKETS: usize = if cfg!(miri) { 128 } else { 32 * 1024 };
/// How much of the old bucket array a move gives back at once.
const RELEASE_BYTES: usize = if cfg!(miri) { 4096 } else { 256 * 1024 };
/// Tag of a bucket never used since the last resize: a probe may stop here.
const EMPTY: u8 = 0xFF;
/// Tag of a bucket whose key was removed: a probe must go on past it.
const DELETED: u8 = 0x80;

const LO_BITS: u64 = 0x0101_0101_0101_0101;
const HI_BITS: u64 = 0x8080_8080_8080_8080;

/// One bucket: a key and its entry when its tag says it is full, else uninitialised. Aligned so
/// that it never straddles two cache lines.
#[repr(align(64))]
struct Bucket(MaybeUninit<(StoredKey, Entry)>);

/// One open-addressing table.
#[derive(Default)]
struct Table {
    /// One tag per bucket, then a copy of the first `GROUP` tags. Empty when capacity is 0.
    tags: Box<[u8]>,
    buckets: Box<[Bucket]>,
    len: usize,
    /// Empty buckets that may still be filled before the table must resize (at most 7/8 of the
    /// buckets are ever non-empty, so every probe meets an empty bucket).
    growth_left: usize,
}

/// The keys of one hash slot: one table, or two while a resize moves keys from the old to the new.
///
/// Aligned to a cache line so that a lookup's one prefetch of it (`Db::warm_slot`) brings all of
/// it in: unaligned, its 56 bytes straddled two lines in half the slots.
#[derive(Default)]
#[repr(align(64))]
pub struct SlotTable {
    /// Takes every insert; holds every key but those a resize has still to move in.
    table: Table,
    moving: Option<Box<Moving>>,
}

/// The table a resize is moving keys out of, in bucket order.
struct Moving {
    from: Table,
    /// The first bucket of `from` not moved yet.
    next: usize,
    /// Buckets of `from` before this one had their memory given back (`release_moved`).
    released: usize,
}

impl Moving {
    fn new(from: Table) -> Moving {
        Moving {
            from,
            next: 0,
            released: 0,
        }
    }

    /// Gives the memory of moved buckets of a big table back to the OS, `RELEASE_BYTES` at a
    /// time: the old table shrinks as the move goes, rather than all at once at its end (freeing
    /// 150 MB of small pages at once took 5-8 ms).
    fn release_moved(&mut self) {
        let chunk = RELEASE_BYTES / std::mem::size_of::<Bucket>();
        if self.from.capacity() < BIG_ARRAY_BUCKETS || self.next - self.released < chunk {
            return;
        }
        let moved = &self.from.buckets[self.released..self.next];
        // SAFETY: these buckets are in the table's own array, and all were vacated (moved out or
        // removed: `next` passed them and nothing is put into an old table), so their contents
        // are never read or dropped again.
        unsafe { memory::discard(moved.as_ptr().cast(), std::mem::size_of_val(moved)) };
        self.released = self.next;
    }
}

fn hash_of(key: &[u8]) -> u64 {
    KeyHasher.hash_one(key)
}

/// The hash a slot table places `key` by, the order of `in_hash_range`.
pub fn key_hash(key: &[u8]) -> u64 {
    hash_of(key)
}

fn tag_of(hash: u64) -> u8 {
    (hash & 0x7F) as u8
}

/// Bit 7 of each byte of the result is set where `group` holds `tag` (rarely also in the byte
/// after a match: candidates are checked against the key anyway).
fn match_tag(group: u64, tag: u8) -> u64 {
    let x = group ^ (LO_BITS * tag as u64);
    x.wrapping_sub(LO_BITS) & !x & HI_BITS
}

fn match_empty(group: u64) -> u64 {
    group & (group << 1) & HI_BITS
}

fn match_empty_or_deleted(group: u64) -> u64 {
    group & HI_BITS
}

/// Byte positions of the set bits of a match, lowest first.
fn positions(mut bits: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let at = bits.trailing_zeros() as usize / 8;
            bits &= bits - 1;
            at
        })
    })
}

/// Most keys a table of `capacity` buckets holds before it resizes.
fn max_len(capacity: usize) -> usize {
    capacity / 8 * 7
}

/// The capacity to resize to for `len` keys: the smallest that holds them with an eighth to spare,
/// among multiples of 8 up to 64 and then 2^k × {1, 1.25, 1.5, 1.75} (the bucket arrays are then
/// exactly the allocator's size classes, which come four to a doubling, so no rounding is wasted).
fn capacity_for(len: usize) -> usize {
    let needed = (len + len / 8 + 1).div_ceil(7) * 8;
    let step = if needed <= 64 {
        GROUP
    } else {
        (1 << needed.ilog2()) / 4
    };
    needed.next_multiple_of(step)
}

impl Table {
    fn with_capacity(capacity: usize) -> Table {
        let buckets = Box::<[Bucket]>::new_uninit_slice(capacity);
        let table = Table {
            tags: vec![EMPTY; capacity + GROUP].into_boxed_slice(),
            // SAFETY: a `Bucket` is only a `MaybeUninit`, which any memory is a valid value of.
            buckets: unsafe { buckets.assume_init() },
            len: 0,
            growth_left: max_len(capacity),
        };
        if capacity >= BIG_ARRAY_BUCKETS {
            // Keys land in random buckets: with 2 MiB pages, the first keys moved into a new table
            // fault in all its pages within a few commands, each fault zeroing 2 MiB (1-5 ms on a
            // VM touching fresh memory; one command met 16). 4 KiB faults spread that over the move.
            memory::prefer_small_pages(&table.buckets);
        }
        table
    }

    fn capacity(&self) -> usize {
        self.buckets.len()
    }

    fn is_full(&self, at: usize) -> bool {
        self.tags[at] & 0x80 == 0
    }

    fn bucket(&self, at: usize) -> &(StoredKey, Entry) {
        assert!(self.is_full(at), "bucket {at} holds no key");
        // SAFETY: a full tag means the bucket was written (`put`) and not read out since (`vacate`).
        unsafe { self.buckets[at].0.assume_init_ref() }
    }

    fn bucket_mut(&mut self, at: usize) -> &mut (StoredKey, Entry) {
        assert!(self.is_full(at), "bucket {at} holds no key");
        // SAFETY: as in `bucket`.
        unsafe { self.buckets[at].0.assume_init_mut() }
    }

    fn home(&self, hash: u64) -> usize {
        ((hash as u128 * self.capacity() as u128) >> 64) as usize
    }

    /// `at % capacity` for an `at` below twice the capacity, as probing makes (a bucket index plus
    /// less than a capacity): a compare, where `%` by a capacity that is not a power of two is a
    /// division, tens of cycles on every probe step.
    fn wrap(&self, at: usize) -> usize {
        let capacity = self.capacity();
        debug_assert!(at < 2 * capacity, "{at} is not below twice {capacity}");
        if at >= capacity {
            at - capacity
        } else {
            at
        }
    }

    fn group_at(&self, at: usize) -> u64 {
        let bytes = self.tags[at..at + GROUP].try_into().expect("a group");
        u64::from_le_bytes(bytes)
    }

    fn set_tag(&mut self, at: usize, tag: u8) {
        self.tags[at] = tag;
        if at < GROUP {
            let capacity = self.capacity();
            self.tags[capacity + at] = tag;
        }
    }

    /// The bucket holding `key`.
    fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let capacity = self.capacity();
        if capacity == 0 {
            return None;
        }
        let tag = tag_of(hash);
        let mut at = self.home(hash);
        for _ in 0..capacity / GROUP {
            let group = self.group_at(at);
            for offset in positions(match_tag(group, tag)) {
                let index = self.wrap(at + offset);
                if self.is_full(index) && *self.bucket(index).0 == *key {
                    return Some(index);
                }
            }
            if match_empty(group) != 0 {
                return None;
            }
            at = self.wrap(at + GROUP);
        }
        None
    }

    /// The first empty or deleted bucket on `hash`'s probe sequence (there is one: see
    /// `growth_left`).
    fn free_bucket(&self, hash: u64) -> usize {
        let mut at = self.home(hash);
        loop {
            if let Some(offset) = positions(match_empty_or_deleted(self.group_at(at))).next() {
                return self.wrap(at + offset);
            }
            at = self.wrap(at + GROUP);
        }
    }

    /// Places a key known to be absent into a free bucket (the caller made sure there is room).
    fn put(&mut self, hash: u64, key: StoredKey, entry: Entry) {
        let index = self.free_bucket(hash);
        if self.tags[index] == EMPTY {
            self.growth_left -= 1;
        }
        self.set_tag(index, tag_of(hash));
        self.buckets[index].0.write((key, entry));
        self.len += 1;
    }

    /// Takes the key out of a full bucket, leaving it deleted: probes go on past it.
    fn vacate(&mut self, at: usize) -> (StoredKey, Entry) {
        assert!(self.is_full(at), "bucket {at} holds no key");
        self.set_tag(at, DELETED);
        self.len -= 1;
        // SAFETY: the bucket was full and its tag now says it is not: it is read out once.
        unsafe { self.buckets[at].0.assume_init_read() }
    }

    /// Takes the key out of a full bucket, making the bucket empty again where no probe can have
    /// passed it.
    fn remove_at(&mut self, at: usize) -> (StoredKey, Entry) {
        // The bucket may become empty again only if no probe ever passed it, i.e. if no group
        // read from any bucket that covers it was free of empty buckets.
        let capacity = self.capacity();
        let before = match_empty(self.group_at(self.wrap(at + capacity - GROUP)));
        let after = match_empty(self.group_at(at));
        let full_run = before.leading_zeros() / 8 + after.trailing_zeros() / 8;
        let removed = self.vacate(at);
        if (full_run as usize) < GROUP {
            self.set_tag(at, EMPTY);
            self.growth_left += 1;
        }
        removed
    }

    fn iter(&self) -> impl Iterator<Item = (&StoredKey, &Entry)> {
        (0..self.capacity())
            .filter(|&at| self.is_full(at))
            .map(|at| {
                let (key, entry) = self.bucket(at);
                (key, entry)
            })
    }

    /// The keys whose hash lies in `hashes`, each once. Their home buckets are a range (the home
    /// grows with the hash); a key sits past its home by at most the run of non-empty buckets after
    /// it, plus up to 7 more (a lookup reads eight tags at once and only then stops at an empty
    /// one). Keys of other hashes met on the way are filtered out.
    fn in_hash_range(
        &self,
        hashes: RangeInclusive<u64>,
    ) -> impl Iterator<Item = (&StoredKey, &Entry)> {
        let every = hashes == (0..=u64::MAX);
        let capacity = self.capacity();
        let (first, mut end) = match capacity {
            0 => (0, 0),
            _ => (self.home(*hashes.start()), self.home(*hashes.end()) + 1),
        };
        while end < first + capacity && self.tags[end % capacity] != EMPTY {
            end += 1;
        }
        end = (end + GROUP - 1).min(first + capacity);
        (first..end)
            .map(move |at| at % capacity)
            .filter(|&at| self.is_full(at))
            .map(|at| self.bucket(at))
            .filter(move |(key, _)| every || hashes.contains(&hash_of(key)))
            .map(|(key, entry)| (key, entry))
    }

    /// Every key and entry, taken out of the table.
    fn drain(mut self) -> impl Iterator<Item = (StoredKey, Entry)> {
        let mut next = 0;
        std::iter::from_fn(move || {
            while next < self.capacity() {
                next += 1;
                if self.is_full(next - 1) {
                    return Some(self.vacate(next - 1));
                }
            }
            None
        })
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        for at in 0..self.capacity() {
            if self.is_full(at) {
                // SAFETY: a full bucket holds a value nothing else will read or drop.
                unsafe { self.buckets[at].0.assume_init_drop() }
            }
        }
    }
}

impl SlotTable {
    pub fn len(&self) -> usize {
        self.table.len + self.moving.as_ref().map_or(0, |m| m.from.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Whether a resize is still moving keys from the old table (`move_some` moves more).
    pub fn is_moving(&self) -> bool {
        self.moving.is_some()
    }

    fn entry(&self, hash: u64, key: &[u8]) -> Option<&Entry> {
        if let Some(at) = self.table.find(hash, key) {
            return Some(&self.table.bucket(at).1);
        }
        let from = &self.moving.as_ref()?.from;
        from.find(hash, key).map(|at| &from.bucket(at).1)
    }

    fn entry_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut Entry> {
        self.key_entry_mut(hash, key).map(|(_, entry)| entry)
    }

    fn key_entry_mut(&mut self, hash: u64, key: &[u8]) -> Option<(&StoredKey, &mut Entry)> {
        let (stored, entry) = match self.table.find(hash, key) {
            Some(at) => self.table.bucket_mut(at),
            None => {
                let from = &mut self.moving.as_mut()?.from;
                let at = from.find(hash, key)?;
                from.bucket_mut(at)
            }
        };
        Some((stored, entry))
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.entry(hash_of(key), key)
    }

    /// `get` for a caller that has the key's hash (`key_hash`) already.
    pub fn get_hashed(&self, hash: u64, key: &[u8]) -> Option<&Entry> {
        self.entry(hash, key)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.entry_mut(hash_of(key), key)
    }

    /// `get_mut`, with the key as stored.
    pub fn get_key_value_mut(&mut self, key: &[u8]) -> Option<(&StoredKey, &mut Entry)> {
        self.key_entry_mut(hash_of(key), key)
    }

    /// Stores `entry` under `key`; returns the entry it replaced (the stored key is kept then).
    pub fn insert(&mut self, key: StoredKey, entry: Entry) -> Option<Entry> {
        let hash = hash_of(&key);
        if let Some(old) = self.entry_mut(hash, &key) {
            return Some(std::mem::replace(old, entry));
        }
        self.make_room();
        self.table.put(hash, key, entry);
        self.move_some(MOVE_STEP);
        None
    }

    /// Makes sure the table can take one more key besides those still to move in, resizing it if
    /// not (after finishing a move still under way: rare, since moves end well before).
    fn make_room(&mut self) {
        let to_move = self.moving.as_ref().map_or(0, |m| m.from.len);
        if self.table.growth_left > to_move {
            return;
        }
        self.move_some(usize::MAX);
        self.resize(capacity_for(self.table.len + 1));
    }

    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(StoredKey, Entry)> {
        let hash = hash_of(key);
        let removed = match self.table.find(hash, key) {
            Some(at) => self.table.remove_at(at),
            None => {
                let from = &mut self.moving.as_mut()?.from;
                let at = from.find(hash, key)?;
                from.vacate(at)
            }
        };
        if self.is_empty() {
            *self = SlotTable::default();
            return Some(removed);
        }
        self.move_some(MOVE_STEP);
        let capacity = self.table.capacity();
        if self.moving.is_none() && self.table.len * 4 < capacity && capacity > GROUP {
            self.resize(capacity_for(self.table.len));
        }
        Some(removed)
    }

    /// Starts using a new table of `capacity` buckets (dropping deleted tags): moves the keys at
    /// once from a small table, a step at a time from a big one. No move may be under way.
    fn resize(&mut self, capacity: usize) {
        debug_assert!(self.moving.is_none(), "a move is under way");
        let from = std::mem::replace(&mut self.table, Table::with_capacity(capacity));
        if from.len < MOVE_IN_STEPS_FROM {
            for (key, entry) in from.drain() {
                self.table.put(hash_of(&key), key, entry);
            }
        } else {
            self.moving = Some(Box::new(Moving::new(from)));
        }
    }

    /// Moves the keys of the next `buckets` buckets of the old table into the new one; returns
    /// whether the move still goes on.
    pub fn move_some(&mut self, buckets: usize) -> bool {
        let Some(moving) = &mut self.moving else {
            return false;
        };
        let end = moving
            .next
            .saturating_add(buckets)
            .min(moving.from.capacity());
        for at in moving.next..end {
            if moving.from.is_full(at) {
                let (key, entry) = moving.from.vacate(at);
                self.table.put(hash_of(&key), key, entry);
            }
        }
        moving.next = end;
        moving.release_moved();
        if moving.from.len == 0 {
            self.moving = None;
        }
        self.moving.is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&StoredKey, &Entry)> {
        let moving = self.moving.iter().flat_map(|m| m.from.iter());
        self.table.iter().chain(moving)
    }

    /// The keys whose `key_hash` lies in `hashes`, each once: a snapshot writes a big slot out
    /// by ranges of hashes, an order that resizes do not change.
    pub fn in_hash_range(
        &self,
        hashes: RangeInclusive<u64>,
    ) -> impl Iterator<Item = (&StoredKey, &Entry)> {
        let moving = self.moving.iter();
        let in_moving = moving.flat_map({
            let hashes = hashes.clone();
            move |m| m.from.in_hash_range(hashes.clone())
        });
        self.table.in_hash_range(hashes).chain(in_moving)
    }

    pub fn keys(&self) -> impl Iterator<Item = &StoredKey> {
        self.iter().map(|(key, _)| key)
    }

    /// Every key and entry, taking them out of the table.
    pub fn into_entries(self) -> impl Iterator<Item = (StoredKey, Entry)> {
        let moving = self.moving.into_iter().flat_map(|m| m.from.drain());
        self.table.drain().chain(moving)
    }

    /// Asks the CPU to bring in the tag group of a key of hash `hash` (`key_hash`; only a hint:
    /// any hash is fine).
    pub fn prefetch_tags(&self, hash: u64) {
        let table = &self.table;
        if table.capacity() == 0 {
            return;
        }
        prefetch(&table.tags[table.home(hash)]);
    }

    /// Asks the CPU to bring in the buckets of `hash`'s first group whose tags match it: the step
    /// after `prefetch_tags`, once the tags are in. The key is in one of them unless it is absent
    /// or probed past its first group; its home bucket alone, a line of its own, missed most
    /// keys of a small table.
    pub fn prefetch_matches(&self, hash: u64) {
        let table = &self.table;
        if table.capacity() == 0 {
            return;
        }
        let home = table.home(hash);
        for offset in positions(match_tag(table.group_at(home), tag_of(hash))) {
            prefetch(&table.buckets[table.wrap(home + offset)]);
        }
    }
}

/// A cache hint for the line holding `value`.
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching only hints the cache; any address is allowed.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(value as *const T as *const i8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Value;
    use std::collections::HashMap;

    fn entry(n: i64) -> Entry {
        Entry::new(Value::Int(n), None)
    }

    fn int(entry: Option<&Entry>) -> Option<i64> {
        entry.map(|e| match e.value {
            Value::Int(n) => n,
            _ => unreachable!(),
        })
    }

    #[test]
    fn bucket_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Bucket>(), 64);
        assert_eq!(std::mem::align_of::<Bucket>(), 64);
    }

    /// Random inserts, overwrites and removes, checked step by step against std's map: growth
    /// (big enough to move in steps), then mostly removes (shrinking in steps), then churn over a
    /// few keys (deleted tags and their reuse).
    #[test]
    fn behaves_like_a_map_through_growth_and_churn() {
        let mut table = SlotTable::default();
        let mut model: HashMap<Vec<u8>, i64> = HashMap::new();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut moves_started = [0; 3];
        for step in 0..360_000i64 {
            let phase = (step / 120_000) as usize;
            let (range, removes_in_ten) = [(60_000, 3), (60_000, 9), (40, 5)][phase];
            let key = format!("key:{}", next() % range).into_bytes();
            let was_moving = table.is_moving();
            if next() % 10 >= removes_in_ten {
                let old = table.insert(StoredKey::new(&key), entry(step));
                assert_eq!(int(old.as_ref()), model.insert(key.clone(), step));
            } else {
                let old = table.remove_entry(&key).map(|(k, e)| {
                    assert_eq!(&*k, &key[..]);
                    e
                });
                assert_eq!(int(old.as_ref()), model.remove(&key));
            }
            if !was_moving && table.is_moving() {
                moves_started[phase] += 1;
            }
            assert_eq!(table.len(), model.len());
            assert_eq!(int(table.get(&key)), model.get(&key).copied());
            assert!(max_len(table.capacity()) >= table.len());
        }
        assert!(
            moves_started[0] >= 3 && moves_started[1] >= 1,
            "{moves_started:?}"
        );
        let mut seen: Vec<_> = table.iter().map(|(k, _)| k.to_vec()).collect();
        seen.sort();
        let mut expected: Vec<_> = model.keys().cloned().collect();
        expected.sort();
        assert_eq!(seen, expected);
        assert!(table.capacity() <= capacity_for(model.len()) * 4);
    }

    /// Each insert moves at most `MOVE_STEP` buckets' keys, and a move always ends before the new
    /// table fills (so no insert ever has to finish one at once).
    #[test]
    fn a_big_table_moves_its_keys_a_step_per_insert() {
        let mut table = SlotTable::default();
        let mut moves = 0;
        for n in 0..200_000usize {
            let was_moving = table.is_moving();
            table.insert(StoredKey::new(format!("k{n}").as_bytes()), entry(n as i64));
            let Some(moving) = &table.moving else {
                continue;
            };
            if !was_moving {
                moves += 1;
                assert!(moving.next <= MOVE_STEP);
                assert!(
                    moving.from.len + MOVE_STEP >= n,
                    "{} of {n} left",
                    moving.from.len
                );
            }
            assert!(table.table.growth_left > moving.from.len);
            if n % 997 == 0 {
                for probe in [0, n / 2, n] {
                    let key = format!("k{probe}");
                    assert_eq!(int(table.get(key.as_bytes())), Some(probe as i64), "{key}");
                }
            }
        }
        assert!(moves >= 10, "{moves} moves");
        assert_eq!(table.len(), 200_000);
    }

    /// While a move is under way, iteration and draining see every key once, and the cron's
    /// `move_some` finishes the move.
    #[test]
    fn every_key_is_seen_once_during_a_move_and_move_some_finishes_it() {
        let mut table = SlotTable::default();
        let mut n = 0usize;
        // Until a move out of a big bucket array has given some of its pages back.
        while table.moving.as_ref().is_none_or(|m| m.released == 0) {
            table.insert(StoredKey::new(format!("k{n}").as_bytes()), entry(n as i64));
            n += 1;
        }
        let mut keys: Vec<_> = table.keys().map(|k| k.to_vec()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
        let mut copy = SlotTable::default();
        for (key, e) in table.iter() {
            copy.insert(key.clone(), entry(int(Some(e)).unwrap()));
        }
        assert!(
            copy.is_moving(),
            "the copy is big enough to move in steps too"
        );
        assert_eq!(copy.into_entries().count(), n);
        assert!(!table.move_some(usize::MAX));
        assert!(!table.is_moving());
        assert_eq!(table.len(), n);
        for i in 0..n {
            assert_eq!(int(table.get(format!("k{i}").as_bytes())), Some(i as i64));
        }
    }

    /// Hash ranges that cover all hashes yield every key exactly once, through growth, moves,
    /// removals (deleted and emptied buckets) and wrap-around at the end of the table.
    #[test]
    fn hash_ranges_partition_the_keys() {
        let mut table = SlotTable::default();
        let check = |table: &SlotTable, pieces: u64| {
            let mut seen: Vec<Vec<u8>> = Vec::new();
            let span = u64::MAX / pieces;
            let mut lo = 0u64;
            loop {
                let hi = lo.saturating_add(span);
                seen.extend(table.in_hash_range(lo..=hi).map(|(k, _)| k.to_vec()));
                if hi == u64::MAX {
                    break;
                }
                lo = hi + 1;
            }
            let mut all: Vec<Vec<u8>> = table.keys().map(|k| k.to_vec()).collect();
            all.sort();
            seen.sort();
            assert_eq!(seen, all, "{pieces} pieces");
        };
        for n in 0..12_000usize {
            table.insert(StoredKey::new(format!("k{n}").as_bytes()), entry(n as i64));
            if n % 3 == 0 {
                table.remove_entry(format!("k{}", n / 2).as_bytes());
            }
            if n % 1000 == 0 || table.is_moving() && n % 97 == 0 {
                for pieces in [1, 7, 100, 5000] {
                    check(&table, pieces);
                }
            }
        }
    }

    #[test]
    fn stays_mostly_full_as_it_grows() {
        let mut table = SlotTable::default();
        for n in 0..10_000 {
            table.insert(StoredKey::new(format!("k{n}").as_bytes()), entry(n));
            if n >= 64 {
                let load = table.len() as f64 / table.capacity() as f64;
                assert!((0.55..=0.875).contains(&load), "load {load} at {n}");
            }
        }
        assert_eq!(table.into_entries().count(), 10_000);
    }
}
