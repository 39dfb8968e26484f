//! The hash type's value: field → value, in Redis's two encodings. Small hashes keep their fields
//! and values in one `Listpack` in insertion order (Redis's `listpack`, which is also the order
//! HGETALL answers in); past the listpack limits they move to a hash map (`hashtable`) and never
//! move back, as in Redis.

use bytes::Bytes;
use rand::Rng;

use super::listpack::Listpack;
use super::scan::Scannable;
use super::table::Table;

/// A hash with more fields than this is a `hashtable` (Redis 7's compiled-in
/// `hash-max-listpack-entries`; its sample redis.conf says 128).
pub const LISTPACK_ENTRIES_MAX: usize = 512;
/// A hash with a field name or value longer than this is a `hashtable` (`hash-max-listpack-value`).
pub const LISTPACK_VALUE_BYTES_MAX: usize = 64;

/// Approximate bookkeeping bytes per field of a `hashtable`, for `MEMORY USAGE`.
const TABLE_ENTRY_OVERHEAD_BYTES: usize = 96;

#[derive(Clone, Debug)]
pub enum Hash {
    /// `listpack`: field, value, field, value... in insertion order; new fields go at the end.
    Packed(Listpack),
    /// `hashtable`. Boxed, one allocation more for a big hash, so that a `Hash` is as small as
    /// a listpack and `Value` holds it inline: a small hash then costs one allocation, not two.
    #[allow(clippy::box_collection)]
    Table(Box<Table<(Bytes, Bytes)>>),
}

impl Default for Hash {
    fn default() -> Hash {
        Hash::Packed(Listpack::default())
    }
}

/// Two hashes are equal when they hold the same fields and values, whatever their encodings.
impl PartialEq for Hash {
    fn eq(&self, other: &Hash) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

/// A listpack field/value pair: where the field starts, the field and the value's start and bytes.
struct PackedPair<'a> {
    field_at: usize,
    field: &'a [u8],
    value_at: usize,
    value: &'a [u8],
}

fn packed_pairs(packed: &Listpack) -> impl Iterator<Item = PackedPair<'_>> {
    let mut elements = packed.elements();
    std::iter::from_fn(move || {
        let (field_at, field) = elements.next()?;
        let (value_at, value) = elements.next()?;
        Some(PackedPair {
            field_at,
            field,
            value_at,
            value,
        })
    })
}

impl Hash {
    /// A hash with the given encoding (`listpack` when `listpack`) holding `pairs`; for decoding.
    /// Pairs that break the listpack limits get the `hashtable` encoding whatever was asked.
    pub fn from_pairs(listpack: bool, pairs: Vec<(Bytes, Bytes)>) -> Hash {
        let mut hash = if listpack {
            Hash::default()
        } else {
            Hash::Table(Box::new(Table::with_capacity(pairs.len())))
        };
        for (field, value) in pairs {
            hash.insert(&field, &value);
        }
        hash
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Packed(packed) => packed.len() / 2,
            Hash::Table(map) => map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Hash::Packed(packed) => packed.is_empty(),
            Hash::Table(map) => map.is_empty(),
        }
    }

    pub fn is_listpack(&self) -> bool {
        matches!(self, Hash::Packed(_))
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Packed(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Packed(packed) => packed_pairs(packed)
                .find(|p| p.field == field)
                .map(|p| p.value),
            Hash::Table(map) => map.get(field).map(|(_, v)| &v[..]),
        }
    }

    /// Sets `field` to `value` (copied); true when the field is new. Moves to `hashtable` when
    /// the limits are passed.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Hash::Packed(packed) = self {
            let too_long =
                field.len() > LISTPACK_VALUE_BYTES_MAX || value.len() > LISTPACK_VALUE_BYTES_MAX;
            if !too_long {
                let (mut count, mut found) = (0, None);
                for pair in packed_pairs(packed) {
                    count += 1;
                    if pair.field == field {
                        found = Some(pair.value_at);
                        break;
                    }
                }
                if let Some(value_at) = found {
                    packed.replace(value_at, value);
                    return false;
                }
                if count < LISTPACK_ENTRIES_MAX {
                    packed.push(field);
                    packed.push(value);
                    return true;
                }
            }
            self.convert_to_table();
        }
        let Hash::Table(map) = self else {
            unreachable!("converted above")
        };
        map.insert((Bytes::copy_from_slice(field), Bytes::copy_from_slice(value)))
            .is_none()
    }

    /// Deletes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Packed(packed) => {
                let found = packed_pairs(packed).find(|p| p.field == field);
                match found.map(|p| p.field_at) {
                    Some(field_at) => {
                        packed.remove(field_at, 2);
                        true
                    }
                    None => false,
                }
            }
            Hash::Table(map) => map.remove(field).is_some(),
        }
    }

    fn convert_to_table(&mut self) {
        if let Hash::Packed(packed) = self {
            let mut map = Table::with_capacity(packed.len() / 2 + 1);
            map.extend(packed_pairs(packed).map(|p| {
                (
                    Bytes::copy_from_slice(p.field),
                    Bytes::copy_from_slice(p.value),
                )
            }));
            *self = Hash::Table(Box::new(map));
        }
    }

    /// A field and its value picked uniformly at random (HRANDFIELD): O(1) on average.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Packed(_) => match self.len() {
                0 => None,
                len => self.iter().nth(rng.gen_range(0..len)),
            },
            Hash::Table(map) => map.random(rng).map(|(f, v)| (&f[..], &v[..])),
        }
    }

    /// HRANDFIELD's picks for `count`: that many distinct fields (all of them for a count past
    /// the length), or `-count` draws that may repeat for a negative count.
    pub fn random_pairs(&self, rng: &mut impl Rng, count: i64) -> Vec<(&[u8], &[u8])> {
        if count < 0 {
            return (0..count.unsigned_abs())
                .filter_map(|_| self.random(rng))
                .collect();
        }
        let count = count.min(self.len() as i64) as usize;
        match self {
            Hash::Packed(_) if count == self.len() => self.iter().collect(),
            Hash::Packed(_) => {
                let pairs: Vec<_> = self.iter().collect();
                let picked = rand::seq::index::sample(rng, pairs.len(), count);
                picked.into_iter().map(|i| pairs[i]).collect()
            }
            Hash::Table(map) => map
                .random_distinct(rng, count)
                .into_iter()
                .map(|(f, v)| (&f[..], &v[..]))
                .collect(),
        }
    }

    /// The table of a `hashtable` hash (a big hash is one), which a snapshot walks by bucket.
    pub fn table(&self) -> Option<&Table<(Bytes, Bytes)>> {
        match self {
            Hash::Packed(_) => None,
            Hash::Table(map) => Some(map),
        }
    }

    /// The hash as an iterator that frees a field per item (see `Value::into_freeing`).
    pub fn into_freeing(self) -> Box<dyn Iterator<Item = ()> + Send> {
        match self {
            Hash::Packed(_) => Box::new(std::iter::empty()),
            Hash::Table(map) => Box::new(map.into_iter().map(drop)),
        }
    }

    /// Every (field, value), in insertion order for a listpack.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Packed(packed) => Box::new(packed_pairs(packed).map(|p| (p.field, p.value))),
            Hash::Table(map) => Box::new(map.iter().map(|(f, v)| (&f[..], &v[..]))),
        }
    }

    /// Approximate bytes of memory, for `MEMORY USAGE`.
    pub fn memory_bytes(&self) -> usize {
        match self {
            Hash::Packed(packed) => packed.byte_len() + 24,
            Hash::Table(_) => {
                self.iter()
                    .map(|(f, v)| f.len() + v.len() + TABLE_ENTRY_OVERHEAD_BYTES)
                    .sum::<usize>()
                    + 48
            }
        }
    }
}

impl Scannable for Hash {
    fn scan_elements(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        Box::new(self.iter().map(|(f, _)| f))
    }

    fn scan_contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_hashes_are_listpacks_until_a_limit_is_passed() {
        let mut hash = Hash::default();
        for i in 0..LISTPACK_ENTRIES_MAX {
            assert!(hash.insert(format!("f{i}").as_bytes(), b"v"));
        }
        assert_eq!(hash.encoding(), "listpack");
        assert!(!hash.insert(b"f0", b"w"));
        assert!(hash.insert(b"one-more", b"v"));
        assert_eq!(hash.encoding(), "hashtable");
        assert_eq!(hash.get(b"f0"), Some(&b"w"[..]));

        let mut long = Hash::default();
        long.insert(b"f", &[b'x'; LISTPACK_VALUE_BYTES_MAX]);
        assert_eq!(long.encoding(), "listpack");
        long.insert(b"f", &[b'x'; LISTPACK_VALUE_BYTES_MAX + 1]);
        assert_eq!(long.encoding(), "hashtable");
        assert_eq!(long.len(), 1);
    }
}
