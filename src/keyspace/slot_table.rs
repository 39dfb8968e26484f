//! The keys of one hash slot: an open-addressing hash table built for the keyspace's two needs,
//! memory per key and cache misses per lookup.
//!
//! - **Buckets hold the key and entry inline**, one cache line each, so a lookup that finds its
//!   tag reads one line of data. A byte per bucket (the *tag*: 7 bits of the hash, or empty or
//!   deleted) is probed eight at a time, so buckets are only read on a likely match.
//! - **Capacity grows by steps of 1.14x to 1.25x, not by doubling** (`capacity_for`): the table
//!   stays 60–87% full as it grows, where a power-of-two table falls to 44% after each doubling.
//!   At 64 bytes a bucket, that slack was most of a small key's memory.
//! - **`prefetch`** brings in the tag group and the home bucket of a key ahead of its lookup, so a
//!   pipeline of commands overlaps its cache misses instead of taking them one after another.
//!
//! Probing is linear, by groups of 8 tags read as one `u64` from any bucket (the first 8 tags are
//! mirrored after the last, so a group never wraps). A lookup stops at a group holding an empty
//! bucket. The home bucket is the hash scaled to the capacity (Lemire's multiply-shift), the tag
//! the hash's low 7 bits.

use super::db::{Entry, KeyHasher};
use super::stored_key::StoredKey;
use std::hash::BuildHasher;

/// Tags read and matched at once.
const GROUP: usize = 8;
/// Tag of a bucket never used since the last resize: a probe may stop here.
const EMPTY: u8 = 0xFF;
/// Tag of a bucket whose key was removed: a probe must go on past it.
const DELETED: u8 = 0x80;

const LO_BITS: u64 = 0x0101_0101_0101_0101;
const HI_BITS: u64 = 0x8080_8080_8080_8080;

/// One key and its entry, aligned so that it never straddles two cache lines.
#[repr(align(64))]
#[derive(Default)]
struct Bucket(Option<(StoredKey, Entry)>);

#[derive(Default)]
pub struct SlotTable {
    /// One tag per bucket, then a copy of the first `GROUP` tags. Empty when capacity is 0.
    tags: Box<[u8]>,
    buckets: Box<[Bucket]>,
    len: usize,
    /// Empty buckets that may still be filled before the table must resize (at most 7/8 of the
    /// buckets are ever non-empty, so every probe meets an empty bucket).
    growth_left: usize,
}

fn hash_of(key: &[u8]) -> u64 {
    KeyHasher.hash_one(key)
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

impl SlotTable {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn capacity(&self) -> usize {
        self.buckets.len()
    }

    fn home(&self, hash: u64) -> usize {
        ((hash as u128 * self.capacity() as u128) >> 64) as usize
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
                let index = (at + offset) % capacity;
                if let Some((stored, _)) = &self.buckets[index].0 {
                    if **stored == *key {
                        return Some(index);
                    }
                }
            }
            if match_empty(group) != 0 {
                return None;
            }
            at = (at + GROUP) % capacity;
        }
        None
    }

    /// The first empty or deleted bucket on `hash`'s probe sequence (there is one: see
    /// `growth_left`).
    fn free_bucket(&self, hash: u64) -> usize {
        let capacity = self.capacity();
        let mut at = self.home(hash);
        loop {
            if let Some(offset) = positions(match_empty_or_deleted(self.group_at(at))).next() {
                return (at + offset) % capacity;
            }
            at = (at + GROUP) % capacity;
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        let index = self.find(hash_of(key), key)?;
        self.buckets[index].0.as_ref().map(|(_, entry)| entry)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let index = self.find(hash_of(key), key)?;
        self.buckets[index].0.as_mut().map(|(_, entry)| entry)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(hash_of(key), key).is_some()
    }

    /// Stores `entry` under `key`; returns the entry it replaced (the stored key is kept then).
    pub fn insert(&mut self, key: StoredKey, entry: Entry) -> Option<Entry> {
        let hash = hash_of(&key);
        if let Some(index) = self.find(hash, &key) {
            let (_, old) = self.buckets[index].0.as_mut().expect("found");
            return Some(std::mem::replace(old, entry));
        }
        if self.growth_left == 0 {
            self.resize(capacity_for(self.len + 1));
        }
        self.put(hash, key, entry);
        self.len += 1;
        None
    }

    /// Places a key known to be absent into a free bucket.
    fn put(&mut self, hash: u64, key: StoredKey, entry: Entry) {
        let index = self.free_bucket(hash);
        if self.tags[index] == EMPTY {
            self.growth_left -= 1;
        }
        self.set_tag(index, tag_of(hash));
        self.buckets[index].0 = Some((key, entry));
    }

    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(StoredKey, Entry)> {
        let index = self.find(hash_of(key), key)?;
        let removed = self.buckets[index].0.take();
        self.len -= 1;
        // The bucket may become empty again only if no probe ever passed it, i.e. if no group
        // read from any bucket that covers it was free of empty buckets.
        let capacity = self.capacity();
        let before = match_empty(self.group_at((index + capacity - GROUP) % capacity));
        let after = match_empty(self.group_at(index));
        let full_run = before.leading_zeros() / 8 + after.trailing_zeros() / 8;
        if (full_run as usize) < GROUP {
            self.set_tag(index, EMPTY);
            self.growth_left += 1;
        } else {
            self.set_tag(index, DELETED);
        }
        if self.len == 0 {
            *self = SlotTable::default();
        } else if self.len * 4 < capacity && capacity > GROUP {
            self.resize(capacity_for(self.len));
        }
        removed
    }

    /// Rebuilds the table with `capacity` buckets (dropping deleted tags).
    fn resize(&mut self, capacity: usize) {
        let old = std::mem::take(&mut self.buckets);
        self.tags = vec![EMPTY; capacity + GROUP].into_boxed_slice();
        self.buckets = (0..capacity).map(|_| Bucket::default()).collect();
        self.growth_left = max_len(capacity);
        for (key, entry) in old.into_vec().into_iter().filter_map(|bucket| bucket.0) {
            self.put(hash_of(&key), key, entry);
        }
        self.growth_left = max_len(capacity) - self.len;
    }

    pub fn clear(&mut self) {
        *self = SlotTable::default();
    }

    pub fn iter(&self) -> impl Iterator<Item = (&StoredKey, &Entry)> {
        self.buckets
            .iter()
            .filter_map(|bucket| bucket.0.as_ref().map(|(key, entry)| (key, entry)))
    }

    pub fn keys(&self) -> impl Iterator<Item = &StoredKey> {
        self.iter().map(|(key, _)| key)
    }

    /// Every key and entry, taking them out of the table.
    pub fn into_entries(self) -> impl Iterator<Item = (StoredKey, Entry)> {
        self.buckets
            .into_vec()
            .into_iter()
            .filter_map(|bucket| bucket.0)
    }

    /// Asks the CPU to bring in `key`'s tag group and home bucket (only a hint: any key is fine).
    pub fn prefetch(&self, key: &[u8]) {
        if self.capacity() == 0 {
            return;
        }
        let home = self.home(hash_of(key));
        prefetch(&self.tags[home]);
        prefetch(&self.buckets[home]);
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

    /// Random inserts, overwrites and removes, checked step by step against std's map, through
    /// growth, shrinking, deleted tags and their reuse.
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
        for step in 0..200_000i64 {
            // The key range widens then narrows, so the table grows, churns and shrinks.
            let range = if step < 100_000 { 3_000 } else { 40 };
            let key = format!("key:{}", next() % range).into_bytes();
            match next() % 3 {
                0 | 1 => {
                    let old = table.insert(StoredKey::new(&key), entry(step));
                    assert_eq!(int(old.as_ref()), model.insert(key.clone(), step));
                }
                _ => {
                    let old = table.remove_entry(&key).map(|(k, e)| {
                        assert_eq!(&*k, &key[..]);
                        e
                    });
                    assert_eq!(int(old.as_ref()), model.remove(&key));
                }
            }
            assert_eq!(table.len(), model.len());
            assert_eq!(int(table.get(&key)), model.get(&key).copied());
            assert!(max_len(table.capacity()) >= table.len());
        }
        let mut seen: Vec<_> = table.iter().map(|(k, _)| k.to_vec()).collect();
        seen.sort();
        let mut expected: Vec<_> = model.keys().cloned().collect();
        expected.sort();
        assert_eq!(seen, expected);
        assert!(table.capacity() <= capacity_for(model.len()) * 4);
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
