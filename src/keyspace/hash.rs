//! The hash type's value: field → value, in Redis's two encodings. Small hashes keep their fields
//! in a vector in insertion order (Redis's `listpack`, which is also the order HGETALL answers in);
//! past the listpack limits they move to a hash map (`hashtable`) and never move back, as in Redis.

use std::collections::HashMap;
use std::hash::BuildHasher;

use bytes::Bytes;

use super::db::KeyHasher;

/// A hash with more fields than this is a `hashtable` (Redis's `hash-max-listpack-entries`).
pub const LISTPACK_ENTRIES_MAX: usize = 128;
/// A hash with a field name or value longer than this is a `hashtable` (`hash-max-listpack-value`).
pub const LISTPACK_VALUE_BYTES_MAX: usize = 64;

/// Approximate bookkeeping bytes per field, for `MEMORY USAGE`.
const PAIR_OVERHEAD_BYTES: usize = 8;
const TABLE_ENTRY_OVERHEAD_BYTES: usize = 48;

#[derive(Clone, Debug)]
pub enum Hash {
    /// `listpack`: pairs in insertion order; new fields go at the end.
    Pairs(Vec<(Bytes, Bytes)>),
    /// `hashtable`.
    Table(HashMap<Bytes, Bytes, KeyHasher>),
}

impl Default for Hash {
    fn default() -> Hash {
        Hash::Pairs(Vec::new())
    }
}

/// Two hashes are equal when they hold the same fields and values, whatever their encodings.
impl PartialEq for Hash {
    fn eq(&self, other: &Hash) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl Hash {
    /// A hash with the given encoding (`listpack` when `listpack`) holding `pairs`; for decoding.
    /// Pairs that break the listpack limits get the `hashtable` encoding whatever was asked.
    pub fn from_pairs(listpack: bool, pairs: Vec<(Bytes, Bytes)>) -> Hash {
        let mut hash = if listpack {
            Hash::Pairs(Vec::with_capacity(pairs.len()))
        } else {
            Hash::Table(HashMap::with_capacity_and_hasher(pairs.len(), KeyHasher))
        };
        for (field, value) in pairs {
            hash.insert(field, value);
        }
        hash
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Pairs(pairs) => pairs.len(),
            Hash::Table(map) => map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_listpack(&self) -> bool {
        matches!(self, Hash::Pairs(_))
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Pairs(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&Bytes> {
        match self {
            Hash::Pairs(pairs) => pairs.iter().find(|(f, _)| f == field).map(|(_, v)| v),
            Hash::Table(map) => map.get(field),
        }
    }

    /// Sets `field` to `value`; true when the field is new. Moves to `hashtable` when the limits
    /// are passed.
    pub fn insert(&mut self, field: Bytes, value: Bytes) -> bool {
        if let Hash::Pairs(pairs) = self {
            let too_long =
                field.len() > LISTPACK_VALUE_BYTES_MAX || value.len() > LISTPACK_VALUE_BYTES_MAX;
            if !too_long {
                if let Some(slot) = pairs.iter_mut().find(|(f, _)| *f == field) {
                    slot.1 = value;
                    return false;
                }
                if pairs.len() < LISTPACK_ENTRIES_MAX {
                    pairs.push((field, value));
                    return true;
                }
            }
            self.convert_to_table();
        }
        let Hash::Table(map) = self else {
            unreachable!("converted above")
        };
        map.insert(field, value).is_none()
    }

    /// Deletes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pairs(pairs) => match pairs.iter().position(|(f, _)| f == field) {
                Some(i) => {
                    pairs.remove(i);
                    true
                }
                None => false,
            },
            Hash::Table(map) => map.remove(field).is_some(),
        }
    }

    fn convert_to_table(&mut self) {
        if let Hash::Pairs(pairs) = self {
            let mut map = HashMap::with_capacity_and_hasher(pairs.len() + 1, KeyHasher);
            map.extend(pairs.drain(..));
            *self = Hash::Table(map);
        }
    }

    /// Every (field, value), in insertion order for a listpack.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&Bytes, &Bytes)> + '_> {
        match self {
            Hash::Pairs(pairs) => Box::new(pairs.iter().map(|(f, v)| (f, v))),
            Hash::Table(map) => Box::new(map.iter()),
        }
    }

    /// One step of HSCAN over a `hashtable`: the cursor is a position in the order of the fields'
    /// hashes (1 and up; 0 starts). Returns at least `count` fields from `cursor` on (all those
    /// sharing the last one's position too) and the next cursor, 0 when done. A field present for
    /// the whole iteration is returned, whatever changes in between. Each call costs O(N log N).
    pub fn scan(&self, cursor: u64, count: usize) -> (Vec<(&Bytes, &Bytes)>, u64) {
        let mut found: Vec<(u64, &Bytes, &Bytes)> = self
            .iter()
            .map(|(f, v)| (scan_position(f), f, v))
            .filter(|(pos, _, _)| *pos >= cursor)
            .collect();
        found.sort_unstable_by_key(|(pos, _, _)| *pos);
        let mut end = count.min(found.len());
        while end > 0 && end < found.len() && found[end].0 == found[end - 1].0 {
            end += 1;
        }
        let next = found.get(end).map_or(0, |(pos, _, _)| *pos);
        found.truncate(end);
        (found.into_iter().map(|(_, f, v)| (f, v)).collect(), next)
    }

    /// Approximate bytes of memory, for `MEMORY USAGE`.
    pub fn memory_bytes(&self) -> usize {
        let overhead = match self {
            Hash::Pairs(_) => PAIR_OVERHEAD_BYTES,
            Hash::Table(_) => TABLE_ENTRY_OVERHEAD_BYTES,
        };
        self.iter()
            .map(|(f, v)| f.len() + v.len() + overhead)
            .sum::<usize>()
            + 16
    }

    /// The same hash with every field and value in its own allocation (see `Value::detached`).
    pub fn detached(self) -> Hash {
        let listpack = self.is_listpack();
        let pairs = self
            .iter()
            .map(|(f, v)| (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)))
            .collect();
        Hash::from_pairs(listpack, pairs)
    }
}

/// A field's HSCAN position: its hash, never 0 (the cursor that starts an iteration).
fn scan_position(field: &[u8]) -> u64 {
    KeyHasher.hash_one(field).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    #[test]
    fn small_hashes_are_listpacks_until_a_limit_is_passed() {
        let mut hash = Hash::default();
        for i in 0..LISTPACK_ENTRIES_MAX {
            assert!(hash.insert(b(&format!("f{i}")), b("v")));
        }
        assert_eq!(hash.encoding(), "listpack");
        assert!(!hash.insert(b("f0"), b("w")));
        assert!(hash.insert(b("one-more"), b("v")));
        assert_eq!(hash.encoding(), "hashtable");
        assert_eq!(hash.get(b"f0"), Some(&b("w")));

        let mut long = Hash::default();
        long.insert(b("f"), Bytes::from(vec![b'x'; LISTPACK_VALUE_BYTES_MAX]));
        assert_eq!(long.encoding(), "listpack");
        long.insert(
            b("f"),
            Bytes::from(vec![b'x'; LISTPACK_VALUE_BYTES_MAX + 1]),
        );
        assert_eq!(long.encoding(), "hashtable");
        assert_eq!(long.len(), 1);
    }

    #[test]
    fn table_scan_visits_every_field_once_across_steps() {
        let pairs = (0..1000).map(|i| (b(&format!("f{i}")), b("v"))).collect();
        let hash = Hash::from_pairs(false, pairs);
        let (mut seen, mut cursor) = (Vec::new(), 0);
        loop {
            let (fields, next) = hash.scan(cursor, 10);
            seen.extend(fields.into_iter().map(|(f, _)| f.clone()));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let returned = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!((returned, seen.len()), (1000, 1000));
    }
}
