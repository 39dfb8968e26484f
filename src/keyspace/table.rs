//! The hash table behind a big hash (`hashtable`), set or sorted set (`skiplist`: its scores by
//! member): elements keyed by bytes (a field and its value, a member), in the open-addressing table std's maps use, with what std's maps do not
//! give: a big table resizes a step at a time, its buckets can be read by index, and it counts the
//! times its elements may have moved.
//!
//! **Resizing a step at a time.** A table that must grow (or shrink) to make room moves its
//! elements into a new table of the new size. Done at once, that stopped the shard for as long
//! as the rehash took: 1.5 s for an HSET that grew a hash of 3.7M fields. So a table of at least
//! `RESIZE_IN_STEPS_FROM` elements keeps the old table beside the new one, as Redis's incremental
//! rehashing does: inserts go to the new table, lookups look in both, and every insert or remove
//! first moves `RESIZE_STEP` elements of the old table, bucket by bucket in index order, until it
//! is empty and dropped.
//!
//! **Buckets by index, and moves.** A snapshot writes a big hash or set out in parts while writes
//! go on changing it (`snapshot::parts`). A part is a range of bucket indexes: while a table
//! resizes, the old table's buckets come first, then the new one's. Setting an element's value
//! moves no element, nor does adding one to a table with room or removing one, nor does a resize
//! step: it moves elements from the old table to the new one, later in bucket order, so a walk
//! that has not reached them yet still meets them (one it had passed it may meet again, which
//! writing an element twice allows). What moves elements behind the walk's back is counted
//! (`moves`), so that the walk starts again from the first bucket: a resize that starts or ends,
//! and a small table's growth or shrink, done at once.

use std::hash::BuildHasher;

use bytes::Bytes;
use hashbrown::{hash_table, HashTable};
use rand::seq::IteratorRandom;
use rand::Rng;

use super::db::KeyHasher;
use crate::runtime::memory::SmallPagesWhenBig;

/// The open-addressing table a `Table` keeps its elements in.
type Buckets<T> = HashTable<T, SmallPagesWhenBig>;

/// An element of a `Table`: what it is looked up by.
pub trait Keyed {
    fn key(&self) -> &[u8];
}

/// A hash's field and value.
impl Keyed for (Bytes, Bytes) {
    fn key(&self) -> &[u8] {
        &self.0
    }
}

/// A sorted set's member and its score.
impl Keyed for (Bytes, f64) {
    fn key(&self) -> &[u8] {
        &self.0
    }
}

/// A set's member.
impl Keyed for Bytes {
    fn key(&self) -> &[u8] {
        self
    }
}

/// A key alone (the members already picked, in `random_distinct`).
impl Keyed for &[u8] {
    fn key(&self) -> &[u8] {
        self
    }
}

#[derive(Clone, Debug)]
pub struct Table<T> {
    /// Where inserts go.
    elements: Buckets<T>,
    /// While a big table resizes: the table before, whose elements move to `elements` a few at a
    /// time.
    resizing: Option<Resizing<T>>,
    /// Resizes that may have moved elements behind a walk's back (see the module's comment).
    moves: u64,
}

#[derive(Clone, Debug)]
struct Resizing<T> {
    old: Buckets<T>,
    /// The old table's buckets below this index are empty: moved.
    next: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Table<T> {
        Table {
            elements: HashTable::new_in(SmallPagesWhenBig),
            resizing: None,
            moves: 0,
        }
    }
}

/// Tables of at most this many buckets are never shrunk.
const SHRINK_BUCKETS_MIN: usize = 64;

/// A table of at least this many elements resizes a step at a time; a smaller one at once (well
/// under a millisecond).
const RESIZE_IN_STEPS_FROM: usize = 4096;

/// Elements of the old table each insert or remove moves while a table resizes. Growing, the new
/// table has room for as many inserts as the old one held elements, so any step of 2 or more ends
/// the move before it fills; a bigger step ends it sooner but costs each write more (an element
/// moved is a hash and two cache misses or so).
const RESIZE_STEP: usize = 4;

/// A resize step visits at most this many buckets per element it is to move: the old table of a
/// shrink is mostly empty.
const RESIZE_VISITS_PER_ELEMENT: usize = 10;

/// A random pick for SPOP, SRANDMEMBER and HRANDFIELD asks for at most this fraction of the
/// elements (1/4, as Redis's SRANDMEMBER) to be drawn one by one; a bigger one is a walk.
const DRAWN_FRACTION_DIVISOR: usize = 4;

fn hash_of(key: &[u8]) -> u64 {
    KeyHasher.hash_one(key)
}

/// What `Table::iter` yields: the new table's elements, then the old one's.
pub type Iter<'a, T> = std::iter::Chain<
    hash_table::Iter<'a, T>,
    std::iter::Flatten<std::option::IntoIter<hash_table::Iter<'a, T>>>,
>;

/// What `Table::into_iter` yields.
pub type IntoIter<T> = std::iter::Chain<
    hash_table::IntoIter<T, SmallPagesWhenBig>,
    std::iter::Flatten<std::option::IntoIter<hash_table::IntoIter<T, SmallPagesWhenBig>>>,
>;

impl<T: Keyed> Table<T> {
    pub fn with_capacity(capacity: usize) -> Table<T> {
        Table {
            elements: HashTable::with_capacity_in(capacity, SmallPagesWhenBig),
            resizing: None,
            moves: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.elements.len() + self.resizing.as_ref().map_or(0, |r| r.old.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, key: &[u8]) -> Option<&T> {
        let hash = hash_of(key);
        let matches = |e: &T| e.key() == key;
        self.elements
            .find(hash, matches)
            .or_else(|| self.resizing.as_ref()?.old.find(hash, matches))
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Adds `element`, or replaces the one with its key; returns the one replaced.
    pub fn insert(&mut self, element: T) -> Option<T> {
        self.resize_step();
        let hash = hash_of(element.key());
        // Not `entry`: it makes room first, which would move the elements of a full table even
        // when the key is there.
        let matches = |e: &T| e.key() == element.key();
        let found = match self.elements.find_mut(hash, matches) {
            Some(found) => Some(found),
            None => self
                .resizing
                .as_mut()
                .and_then(|r| r.old.find_mut(hash, matches)),
        };
        if let Some(found) = found {
            return Some(std::mem::replace(found, element));
        }
        if self.elements.len() == self.elements.capacity() {
            self.make_room();
        }
        self.elements
            .insert_unique(hash, element, |e| hash_of(e.key()));
        None
    }

    /// Removes the element with `key`. A table left less than a tenth full is shrunk to half full
    /// (as Redis's dicts: `HT_MIN_FILL`), so that a big hash or set emptied by HDEL, SREM or
    /// SPOP gives its memory back, and random picks stay O(1).
    pub fn remove(&mut self, key: &[u8]) -> Option<T> {
        self.resize_step();
        let hash = hash_of(key);
        let matches = |e: &T| e.key() == key;
        let removed = match self.elements.find_entry(hash, matches) {
            Ok(found) => found.remove().0,
            Err(_) => {
                let old = &mut self.resizing.as_mut()?.old;
                old.find_entry(hash, matches).ok()?.remove().0
            }
        };
        let buckets = self.elements.num_buckets();
        if self.resizing.is_none() && buckets > SHRINK_BUCKETS_MIN && self.len() * 10 < buckets {
            self.resize_to(self.len() * 2);
        }
        Some(removed)
    }

    /// Before an insert into a table with no room left: grows it (or, when removals left it
    /// full of tombstones, rebuilds it at about the same size).
    fn make_room(&mut self) {
        if self.resizing.is_some() {
            // Writes that were mostly inserts of new elements outran the resize: finish it.
            while self.resizing.is_some() {
                self.resize_step();
            }
            if self.elements.len() < self.elements.capacity() {
                return;
            }
        }
        self.resize_to(self.elements.len() * 2);
    }

    /// Moves the elements to a table with room for `capacity`: at once for a small table, else
    /// a step at a time from now on.
    fn resize_to(&mut self, capacity: usize) {
        debug_assert!(self.resizing.is_none());
        self.moves += 1;
        if self.elements.len() < RESIZE_IN_STEPS_FROM {
            let hasher = |e: &T| hash_of(e.key());
            if capacity > self.elements.capacity() {
                self.elements
                    .reserve(capacity - self.elements.len(), hasher);
            } else {
                self.elements.shrink_to(capacity, hasher);
            }
            return;
        }
        let resized = HashTable::with_capacity_in(capacity, SmallPagesWhenBig);
        let old = std::mem::replace(&mut self.elements, resized);
        self.resizing = Some(Resizing { old, next: 0 });
    }

    /// Moves the next few elements of a resize into the new table; drops the old one once it
    /// is empty.
    fn resize_step(&mut self) {
        let Some(resizing) = &mut self.resizing else {
            return;
        };
        let (mut moved, mut visits) = (0, 0);
        while moved < RESIZE_STEP
            && visits < RESIZE_STEP * RESIZE_VISITS_PER_ELEMENT
            && resizing.next < resizing.old.num_buckets()
        {
            if let Ok(full) = resizing.old.get_bucket_entry(resizing.next) {
                let element = full.remove().0;
                self.elements
                    .insert_unique(hash_of(element.key()), element, |e| hash_of(e.key()));
                moved += 1;
            }
            resizing.next += 1;
            visits += 1;
        }
        if resizing.old.is_empty() {
            // The old table's buckets no longer come first: the indexes of the new one's change.
            self.resizing = None;
            self.moves += 1;
        }
    }

    pub fn iter(&self) -> Iter<'_, T> {
        let old = self.resizing.as_ref().map(|r| r.old.iter());
        self.elements.iter().chain(old.into_iter().flatten())
    }

    /// How many buckets the table has now: the bucket indexes are `0..buckets()`, the old
    /// table's first while it resizes.
    pub fn buckets(&self) -> usize {
        self.old_buckets() + self.elements.num_buckets()
    }

    fn old_buckets(&self) -> usize {
        self.resizing.as_ref().map_or(0, |r| r.old.num_buckets())
    }

    /// The element in bucket `index`, if any.
    pub fn bucket(&self, index: usize) -> Option<&T> {
        match &self.resizing {
            Some(resizing) if index < resizing.old.num_buckets() => resizing.old.get_bucket(index),
            _ => self.elements.get_bucket(index - self.old_buckets()),
        }
    }

    /// An element picked uniformly at random, by drawing buckets until one is full (Redis's
    /// dictGetFairRandomKey): O(1) on average, as a table of more than `SHRINK_BUCKETS_MIN`
    /// buckets is kept at least a tenth full. The old table's buckets already moved are empty
    /// and not drawn.
    pub fn random(&self, rng: &mut impl Rng) -> Option<&T> {
        if self.is_empty() {
            return None;
        }
        let moved = self.resizing.as_ref().map_or(0, |r| r.next);
        loop {
            if let Some(element) = self.bucket(rng.gen_range(moved..self.buckets())) {
                return Some(element);
            }
        }
    }

    /// `count` distinct elements picked uniformly at random (all of them for a count past the
    /// length): drawn one by one when few, else one walk.
    pub fn random_distinct(&self, rng: &mut impl Rng, count: usize) -> Vec<&T> {
        if count.saturating_mul(DRAWN_FRACTION_DIVISOR) > self.len() {
            return self.iter().choose_multiple(rng, count);
        }
        let mut picked: Table<&[u8]> = Table::with_capacity(count);
        let mut chosen = Vec::with_capacity(count);
        while chosen.len() < count {
            let element = self.random(rng).expect("count is below the length");
            if picked.insert(element.key()).is_none() {
                chosen.push(element);
            }
        }
        chosen
    }

    /// A count that changes whenever the elements may have moved behind a walk's back.
    pub fn moves(&self) -> u64 {
        self.moves
    }
}

/// Two tables are equal when they hold the same elements, wherever they keep them.
impl<T: Keyed + PartialEq> PartialEq for Table<T> {
    fn eq(&self, other: &Table<T>) -> bool {
        self.len() == other.len() && self.iter().all(|e| other.get(e.key()) == Some(e))
    }
}

impl<T> IntoIterator for Table<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        let old = self.resizing.map(|r| r.old.into_iter());
        self.elements.into_iter().chain(old.into_iter().flatten())
    }
}

impl<'a, T: Keyed> IntoIterator for &'a Table<T> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Keyed> Extend<T> for Table<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, elements: I) {
        for element in elements {
            self.insert(element);
        }
    }
}

impl<T: Keyed> FromIterator<T> for Table<T> {
    fn from_iter<I: IntoIterator<Item = T>>(elements: I) -> Table<T> {
        let elements = elements.into_iter();
        let mut table = Table::with_capacity(elements.size_hint().0);
        table.extend(elements);
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(i: usize) -> Bytes {
        Bytes::from(format!("member:{i}"))
    }

    /// The elements in bucket order, read bucket by bucket.
    fn by_bucket(table: &Table<Bytes>) -> Vec<Bytes> {
        (0..table.buckets())
            .filter_map(|i| table.bucket(i).cloned())
            .collect()
    }

    #[test]
    fn elements_stay_in_their_buckets_until_an_insert_into_a_full_table() {
        let mut table: Table<Bytes> = (0..1000).map(member).collect();
        let moves = table.moves();
        let before = by_bucket(&table);
        let place = |table: &Table<Bytes>, m: &Bytes| {
            (0..table.buckets()).find(|&i| table.bucket(i) == Some(m))
        };
        let places: Vec<_> = before.iter().map(|m| place(&table, m)).collect();

        // Removes, replacements and inserts while there is room move nothing.
        for i in (0..1000).step_by(3) {
            assert!(table.remove(&member(i)).is_some());
        }
        assert_eq!(table.insert(member(1)), Some(member(1)));
        let mut next = 1000;
        while table.len() < table.elements.capacity() {
            table.insert(member(next));
            next += 1;
        }
        assert_eq!(table.moves(), moves);
        for (m, at) in before.iter().zip(&places) {
            if table.contains(m) {
                assert_eq!(place(&table, m), *at, "{m:?} moved");
            }
        }

        // The next insert finds no room: it is counted.
        table.insert(member(next));
        assert_eq!(table.moves(), moves + 1);
        assert_eq!(by_bucket(&table).len(), table.len());
        assert!(table.contains(&member(next)) && !table.contains(&member(0)));
    }

    /// A table of `RESIZE_IN_STEPS_FROM` elements or more, full, then one insert more: it has
    /// begun to grow a step at a time. Returns it and its element count.
    fn growing_table() -> (Table<Bytes>, usize) {
        let mut table: Table<Bytes> = Table::with_capacity(RESIZE_IN_STEPS_FROM);
        let mut made = 0;
        while table.len() < table.elements.capacity() {
            table.insert(member(made));
            made += 1;
        }
        assert!(made >= RESIZE_IN_STEPS_FROM && table.resizing.is_none());
        table.insert(member(made));
        assert!(
            table.resizing.is_some(),
            "a big full table grows a step at a time"
        );
        (table, made + 1)
    }

    fn old_len(table: &Table<Bytes>) -> usize {
        table.resizing.as_ref().map_or(0, |r| r.old.len())
    }

    #[test]
    fn a_big_table_grows_a_few_elements_per_write_and_finds_every_one_meanwhile() {
        let (mut table, mut made) = growing_table();
        let moves = table.moves();
        let first_old = old_len(&table);
        assert!(
            first_old + 1 >= made - RESIZE_STEP,
            "the growing insert moved a step at most"
        );
        let mut writes = 0;
        while table.resizing.is_some() {
            let before = old_len(&table);
            if writes % 3 == 2 {
                // Removes step the resize as inserts do, and find elements in either table.
                assert_eq!(table.remove(&member(writes)), Some(member(writes)));
            } else {
                assert_eq!(table.insert(member(made)), None);
                made += 1;
            }
            writes += 1;
            assert!(
                before - old_len(&table) <= RESIZE_STEP + 1,
                "a write moved too many"
            );
            if writes % 97 == 0 {
                let removed = |i: usize| i < writes && i % 3 == 2;
                assert!((0..made).all(|i| table.contains(&member(i)) != removed(i)));
                assert_eq!(
                    table.len(),
                    made - (0..writes).filter(|&i| removed(i)).count()
                );
                assert_eq!(table.iter().count(), table.len());
                assert_eq!(by_bucket(&table).len(), table.len());
            }
        }
        assert!(
            writes <= first_old / RESIZE_STEP + 1,
            "{writes} writes for {first_old}"
        );
        assert_eq!(table.moves(), moves + 1, "the end of a resize is counted");
        let removed = |i: usize| i < writes && i % 3 == 2;
        assert!((0..made).all(|i| table.contains(&member(i)) != removed(i)));
        assert_eq!(by_bucket(&table).len(), table.len());
    }

    #[test]
    fn a_walk_by_bucket_meets_every_element_of_a_table_that_grows_meanwhile() {
        let (mut table, made) = growing_table();
        let moves = table.moves();
        let mut met = std::collections::HashSet::new();
        let (mut next, mut added) = (0, 0);
        while next < table.buckets() {
            let end = (next + 50).min(table.buckets());
            met.extend((next..end).filter_map(|i| table.bucket(i).cloned()));
            next = end;
            for _ in 0..3 {
                table.insert(member(made + added));
                added += 1;
            }
            assert_eq!(table.moves(), moves, "the walk ended before the resize did");
        }
        assert!(table.resizing.is_some());
        let missed: Vec<usize> = (0..made).filter(|&i| !met.contains(&member(i))).collect();
        assert!(
            missed.is_empty(),
            "{} missed, e.g. {:?}",
            missed.len(),
            missed.first()
        );
    }

    #[test]
    fn a_big_table_emptied_shrinks_a_step_at_a_time() {
        let mut table: Table<Bytes> = (0..100_000).map(member).collect();
        let mut i = 0;
        while table.resizing.is_none() {
            assert!(table.remove(&member(i)).is_some());
            i += 1;
        }
        assert!(table.len() >= RESIZE_IN_STEPS_FROM && table.len() * 10 < old_buckets(&table));
        while table.resizing.is_some() {
            table.remove(&member(i));
            i += 1;
        }
        assert!((i..100_000).all(|i| table.contains(&member(i))));
        assert!(
            table.buckets() * 4 <= 131_072,
            "{} buckets",
            table.buckets()
        );
    }

    fn old_buckets(table: &Table<Bytes>) -> usize {
        table.resizing.as_ref().map_or(0, |r| r.old.num_buckets())
    }

    #[test]
    fn random_picks_from_a_resizing_table_are_uniform() {
        let rng = &mut rand::thread_rng();
        let (table, made) = growing_table();
        let counts = pick_counts(&table, made * 40, |t| vec![t.random(rng).unwrap()]);
        assert_eq!(counts.len(), made, "every element picked");
        // Each is picked 40 times on average; the spread is about 6.3.
        let (least, most) = (counts.values().min(), counts.values().max());
        assert!(
            *least.unwrap() > 10 && *most.unwrap() < 80,
            "{least:?} {most:?}"
        );
    }

    /// How often each element is picked by `picks` draws of `pick` from `table`.
    fn pick_counts<'a>(
        table: &'a Table<Bytes>,
        draws: usize,
        mut pick: impl FnMut(&'a Table<Bytes>) -> Vec<&'a Bytes>,
    ) -> std::collections::HashMap<&'a Bytes, usize> {
        let mut counts = std::collections::HashMap::new();
        for _ in 0..draws {
            for element in pick(table) {
                *counts.entry(element).or_insert(0) += 1;
            }
        }
        counts
    }

    #[test]
    fn a_table_left_less_than_a_tenth_full_shrinks_and_counts_it_as_a_move() {
        let mut table: Table<Bytes> = (0..100_000).map(member).collect();
        let (buckets, moves) = (table.buckets(), table.moves());
        for i in 0..95_000 {
            assert!(table.remove(&member(i)).is_some());
        }
        assert!(
            table.buckets() * 4 <= buckets,
            "{} of {buckets}",
            table.buckets()
        );
        assert!(table.moves() > moves);
        assert!((95_000..100_000).all(|i| table.contains(&member(i))));
        assert_eq!(by_bucket(&table).len(), 5_000);
    }

    #[test]
    fn random_picks_are_uniform() {
        let rng = &mut rand::thread_rng();
        // 100 elements left of 1000, and of 10000 (the table shrunk on the way).
        for made in [1000, 10_000] {
            let mut table: Table<Bytes> = (0..made).map(member).collect();
            for i in 100..made {
                table.remove(&member(i));
            }
            let counts = pick_counts(&table, 100_000, |t| vec![t.random(rng).unwrap()]);
            assert_eq!(counts.len(), 100, "every element picked ({made})");
            // Each is picked 1000 times on average; the spread is about 32.
            let (least, most) = (counts.values().min(), counts.values().max());
            assert!(
                *least.unwrap() > 700 && *most.unwrap() < 1300,
                "{least:?} {most:?}"
            );
        }
    }

    #[test]
    fn distinct_random_picks_are_distinct_and_uniform() {
        let rng = &mut rand::thread_rng();
        let table: Table<Bytes> = (0..100).map(member).collect();
        // Drawn one by one (5 of 100) and walked (60 of 100).
        for count in [5, 60] {
            let counts = pick_counts(&table, 20_000, |t| {
                let picked = t.random_distinct(rng, count);
                let distinct: std::collections::HashSet<_> = picked.iter().collect();
                assert_eq!((picked.len(), distinct.len()), (count, count));
                picked
            });
            let mean = 20_000 * count / 100;
            for n in counts.values() {
                assert!(n.abs_diff(mean) < mean / 5, "{n} vs {mean} ({count})");
            }
        }
        assert_eq!(table.random_distinct(rng, 500).len(), 100);
        let empty: Table<Bytes> = Table::default();
        assert_eq!(
            (empty.random(rng), empty.random_distinct(rng, 3).len()),
            (None, 0)
        );
    }
}
