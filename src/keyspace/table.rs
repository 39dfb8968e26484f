//! The hash table behind a big hash (`hashtable`) or set: elements keyed by bytes (a field and
//! its value, a member), in the open-addressing table std's maps use, with what std's maps do not
//! give: its buckets by index, and a count of the times its elements may have moved.
//!
//! Why: a snapshot writes a big hash or set out in parts while writes go on changing it
//! (`snapshot::parts`). A part is a range of buckets. Setting an element's value moves no other,
//! nor does adding one to a table with room or removing one; only an insert into a full table
//! (which grows it, or rehashes it in place) and a removal that leaves it less than a tenth full
//! (which shrinks it) move them, and those are counted (`moves`), so that the walk starts again
//! from the first bucket.

use std::hash::BuildHasher;

use bytes::Bytes;
use hashbrown::HashTable;
use rand::seq::IteratorRandom;
use rand::Rng;

use super::db::KeyHasher;

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
    elements: HashTable<T>,
    /// Inserts that may have moved the elements to other buckets (see the module's comment).
    moves: u64,
}

impl<T> Default for Table<T> {
    fn default() -> Table<T> {
        Table {
            elements: HashTable::new(),
            moves: 0,
        }
    }
}

/// Tables of at most this many buckets are never shrunk.
const SHRINK_BUCKETS_MIN: usize = 64;

/// A random pick for SPOP, SRANDMEMBER and HRANDFIELD asks for at most this fraction of the
/// elements (1/4, as Redis's SRANDMEMBER) to be drawn one by one; a bigger one is a walk.
const DRAWN_FRACTION_DIVISOR: usize = 4;

fn hash_of(key: &[u8]) -> u64 {
    KeyHasher.hash_one(key)
}

impl<T: Keyed> Table<T> {
    pub fn with_capacity(capacity: usize) -> Table<T> {
        Table {
            elements: HashTable::with_capacity(capacity),
            moves: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.elements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    pub fn get(&self, key: &[u8]) -> Option<&T> {
        self.elements.find(hash_of(key), |e| e.key() == key)
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Adds `element`, or replaces the one with its key; returns the one replaced.
    pub fn insert(&mut self, element: T) -> Option<T> {
        let hash = hash_of(element.key());
        // Not `entry`: it makes room first, which would move the elements of a full table even
        // when the key is there.
        if let Some(found) = self.elements.find_mut(hash, |e| e.key() == element.key()) {
            return Some(std::mem::replace(found, element));
        }
        // An insert into a table with no room left grows it or rehashes it in place.
        if self.elements.len() == self.elements.capacity() {
            self.moves += 1;
        }
        self.elements
            .insert_unique(hash, element, |e| hash_of(e.key()));
        None
    }

    /// Removes the element with `key`. A table left less than a tenth full is shrunk to half full
    /// (as Redis's dicts: `HT_MIN_FILL`), so that a big hash or set emptied by HDEL, SREM or
    /// SPOP gives its memory back, and random picks stay O(1).
    pub fn remove(&mut self, key: &[u8]) -> Option<T> {
        let removed = match self.elements.find_entry(hash_of(key), |e| e.key() == key) {
            Ok(found) => found.remove().0,
            Err(_) => return None,
        };
        let buckets = self.buckets();
        if buckets > SHRINK_BUCKETS_MIN && self.len() * 10 < buckets {
            self.moves += 1;
            self.elements
                .shrink_to(self.len() * 2, |e| hash_of(e.key()));
        }
        Some(removed)
    }

    pub fn iter(&self) -> hashbrown::hash_table::Iter<'_, T> {
        self.elements.iter()
    }

    /// How many buckets the table has now: the bucket indexes are `0..buckets()`.
    pub fn buckets(&self) -> usize {
        self.elements.num_buckets()
    }

    /// The element in bucket `index`, if any.
    pub fn bucket(&self, index: usize) -> Option<&T> {
        self.elements.get_bucket(index)
    }

    /// An element picked uniformly at random, by drawing buckets until one is full (Redis's
    /// dictGetFairRandomKey): O(1) on average, as a table of more than `SHRINK_BUCKETS_MIN`
    /// buckets is kept at least a tenth full.
    pub fn random(&self, rng: &mut impl Rng) -> Option<&T> {
        if self.is_empty() {
            return None;
        }
        loop {
            if let Some(element) = self.bucket(rng.gen_range(0..self.buckets())) {
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

    /// A count that changes whenever the elements may have moved to other buckets.
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
    type IntoIter = hashbrown::hash_table::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.elements.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Table<T> {
    type Item = &'a T;
    type IntoIter = hashbrown::hash_table::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.elements.iter()
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
