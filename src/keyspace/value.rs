//! The values keys hold. Each Redis type is one variant; strings keep Redis's encodings so that
//! `OBJECT ENCODING` answers as Redis does.

use bytes::Bytes;

pub use super::hash::Hash;
pub use super::list::List;
use super::scan::Scannable;
use super::str_bytes::StrBytes;
use super::stream::Stream;
use super::table::Table;
pub use super::zset::ZSet;

/// Strings up to this length are `embstr` in Redis (OBJ_ENCODING_EMBSTR_SIZE_LIMIT).
const EMBSTR_BYTES_MAX: usize = 44;
/// Redis only tries the `int` encoding for strings up to 20 characters.
const INT_ENCODING_CHARS_MAX: usize = 20;
/// Sets of integers only, up to this many, are `intset` (Redis 7.2's `set-max-intset-entries`).
const SET_INTSET_ENTRIES_MAX: usize = 512;
/// Sets up to this many members, ... (`set-max-listpack-entries`)
const SET_LISTPACK_ENTRIES_MAX: usize = 128;
/// ... each at most this long, are `listpack` (`set-max-listpack-value`).
const SET_LISTPACK_MEMBER_BYTES_MAX: usize = 64;

/// The members of a set value. Never empty while stored: the key is deleted with its last member.
pub type SetMembers = Table<Bytes>;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string that is the canonical text of an i64 (`int` encoding).
    Int(i64),
    /// Any other string, inline when short: GET then copies it out of the table's bucket. `raw` is
    /// set once it was changed in place (APPEND, SETRANGE), because Redis then reports `raw`
    /// whatever its length.
    Str { bytes: StrBytes, raw: bool },
    /// A hash (field → value), inline: a small one is a single allocation, its listpack.
    Hash(Hash),
    /// A set (boxed, so that strings, the common case, stay small).
    Set(Box<SetMembers>),
    /// A sorted set, inline like hashes.
    ZSet(ZSet),
    /// A list (boxed, like sets).
    List(Box<List>),
    /// A stream (boxed: its counters and groups make it large).
    Stream(Box<Stream>),
}

impl Value {
    /// A string value from client bytes, copied so that it does not pin the connection's buffer.
    pub fn string(bytes: &[u8]) -> Value {
        if bytes.len() <= INT_ENCODING_CHARS_MAX {
            if let Some(n) = parse_canonical_i64(bytes) {
                return Value::Int(n);
            }
        }
        Value::Str {
            bytes: StrBytes::new(bytes),
            raw: false,
        }
    }

    /// Asks the CPU to bring in a string's first bytes (a hint, like `slot_table::prefetch`). Those
    /// of a long string are in their own allocation; an inline string's are in its bucket already.
    pub fn prefetch(&self) {
        if let Value::Str { bytes, .. } = self {
            if let Some(first) = bytes.first() {
                super::slot_table::prefetch(first);
            }
        }
    }

    /// Copies `bytes` over a string value that `Value::string(bytes)` would store alike (the
    /// same size in its own allocation), and says whether it did.
    pub fn overwrite_string_in_place(&mut self, bytes: &[u8]) -> bool {
        let Value::Str { bytes: stored, raw } = self else {
            return false;
        };
        let done = stored.overwrite_same_size(bytes);
        *raw &= !done;
        done
    }

    /// A string value read back from a journal record or a snapshot, stored as a client's value
    /// of its size is (one exact-size allocation up to 512 bytes; see `StrBytes`), never
    /// `int`-encoded: the record says which encoding it had.
    pub fn decoded_string(bytes: &[u8], raw: bool) -> Value {
        Value::Str {
            bytes: StrBytes::new(bytes),
            raw,
        }
    }

    /// A string value of exactly these bytes (never `int`-encoded), e.g. a bitmap.
    pub fn raw_string(bytes: Vec<u8>, raw: bool) -> Value {
        Value::Str {
            bytes: StrBytes::from_vec(bytes),
            raw,
        }
    }

    /// The same value in its own allocation: for values decoded out of a larger buffer (a journal
    /// segment, a message), so that they do not keep that whole buffer alive.
    pub fn detached(self) -> Value {
        match self {
            Value::ZSet(zset) => Value::ZSet(zset.detached()),
            other => other,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Str { .. } => "string",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::List(_) => "list",
            Value::Stream(_) => "stream",
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str { raw: true, .. } => "raw",
            Value::Str { bytes, .. } if bytes.len() <= EMBSTR_BYTES_MAX => "embstr",
            Value::Str { .. } => "raw",
            Value::Hash(hash) => hash.encoding(),
            Value::Set(members) => set_encoding(members),
            Value::ZSet(zset) => zset.encoding(),
            Value::List(list) => list.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// Whether this is a collection with no elements left: its key must be deleted.
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Int(_) | Value::Str { .. } => false,
            Value::Hash(hash) => hash.is_empty(),
            Value::Set(members) => members.is_empty(),
            Value::ZSet(zset) => zset.is_empty(),
            Value::List(list) => list.is_empty(),
            // A stream stays when its last entry goes (its counters and groups remain).
            Value::Stream(_) => false,
        }
    }

    /// The value as an iterator that frees an element per item (`garbage`: freed in steps).
    pub fn into_freeing(self) -> Box<dyn Iterator<Item = ()> + Send> {
        match self {
            Value::Hash(hash) => hash.into_freeing(),
            Value::Set(members) => Box::new(members.into_iter().map(drop)),
            Value::ZSet(zset) => zset.into_freeing(),
            Value::List(list) => list.into_freeing(),
            Value::Int(_) | Value::Str { .. } | Value::Stream(_) => {
                drop(self);
                Box::new(std::iter::empty())
            }
        }
    }

    /// The elements of a hash, set, sorted set or list; `None` for a string or a stream.
    pub fn collection_len(&self) -> Option<usize> {
        match self {
            Value::Int(_) | Value::Str { .. } | Value::Stream(_) => None,
            Value::Hash(hash) => Some(hash.len()),
            Value::Set(members) => Some(members.len()),
            Value::ZSet(zset) => Some(zset.len()),
            Value::List(list) => Some(list.len()),
        }
    }

    /// The string's bytes, or `None` for a non-string value (WRONGTYPE).
    pub fn as_string(&self) -> Option<Bytes> {
        match self {
            Value::Int(n) => Some(Bytes::copy_from_slice(
                itoa::Buffer::new().format(*n).as_bytes(),
            )),
            Value::Str { bytes, .. } => Some(bytes.to_bytes()),
            Value::Hash(_) => None,
            Value::Set(_) | Value::ZSet(_) | Value::List(_) | Value::Stream(_) => None,
        }
    }

    /// The set's members, or `None` for a non-set value (WRONGTYPE).
    pub fn as_set(&self) -> Option<&SetMembers> {
        match self {
            Value::Set(members) => Some(members),
            _ => None,
        }
    }

    /// The sorted set, or `None` for another type (WRONGTYPE).
    pub fn as_zset(&self) -> Option<&ZSet> {
        match self {
            Value::ZSet(zset) => Some(zset),
            _ => None,
        }
    }

    /// The list, or `None` for a non-list value (WRONGTYPE).
    pub fn as_list(&self) -> Option<&List> {
        match self {
            Value::List(list) => Some(list),
            _ => None,
        }
    }

    /// Approximate bytes of memory this value takes, for `MEMORY USAGE` and `INFO memory`.
    pub fn memory_bytes(&self) -> usize {
        match self {
            Value::Int(_) => 16,
            Value::Str { bytes, .. } => 16 + bytes.len(),
            Value::Hash(hash) => hash.memory_bytes(),
            // Table overhead, then per member its bytes, handle and hash slot.
            Value::Set(members) => 64 + members.iter().map(|m| m.len() + 40).sum::<usize>(),
            Value::ZSet(zset) => zset.memory_bytes(),
            Value::List(list) => list.memory_bytes(),
            Value::Stream(stream) => stream.memory_bytes(),
        }
    }
}

/// The name Redis 7.2 would report for a set with these members, from its contents. Redis never
/// converts back down (a set that grew to `hashtable` stays so after SREM); Keel reports what the
/// contents would be created as, a documented difference.
pub fn set_encoding(members: &SetMembers) -> &'static str {
    let len = members.len();
    if len <= SET_INTSET_ENTRIES_MAX && members.iter().all(|m| parse_canonical_i64(m).is_some()) {
        "intset"
    } else if len <= SET_LISTPACK_ENTRIES_MAX
        && members
            .iter()
            .all(|m| m.len() <= SET_LISTPACK_MEMBER_BYTES_MAX)
    {
        "listpack"
    } else {
        "hashtable"
    }
}

/// Parses an i64 only when `bytes` is exactly its canonical decimal text (no `+`, no leading zeros,
/// no spaces), as Redis's `string2ll` requires for the int encoding and for INCR.
pub fn parse_canonical_i64(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let n: i64 = text.parse().ok()?;
    let canonical = !matches!(
        text.as_bytes(),
        [b'+', ..] | [b'0', _, ..] | [b'-', b'0', ..]
    );
    canonical.then_some(n)
}

impl Scannable for SetMembers {
    fn scan_elements(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        Box::new(self.iter().map(|m| &m[..]))
    }

    fn scan_contains(&self, member: &[u8]) -> bool {
        self.contains(member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fit_half_a_cache_line() {
        assert!(std::mem::size_of::<Value>() <= 32);
    }

    #[test]
    fn strings_pick_redis_encodings() {
        assert_eq!(Value::string(b"123").encoding(), "int");
        assert_eq!(Value::string(b"0123").encoding(), "embstr");
        assert_eq!(Value::string(b"-0").encoding(), "embstr");
        assert_eq!(Value::string(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(Value::string(&[b'a'; 45]).encoding(), "raw");
        assert_eq!(Value::string(b"9223372036854775808").encoding(), "embstr");
    }

    fn set_of(members: impl IntoIterator<Item = String>) -> Value {
        Value::Set(Box::new(members.into_iter().map(Bytes::from).collect()))
    }

    #[test]
    fn sets_pick_redis_encodings() {
        assert_eq!(set_of((0..512).map(|i| i.to_string())).encoding(), "intset");
        assert_eq!(
            set_of((0..128).map(|i| format!("m{i}"))).encoding(),
            "listpack"
        );
        assert_eq!(
            set_of((0..129).map(|i| format!("m{i}"))).encoding(),
            "hashtable"
        );
        assert_eq!(set_of(["x".repeat(65)]).encoding(), "hashtable");
        assert_eq!(
            set_of((0..513).map(|i| i.to_string())).encoding(),
            "hashtable"
        );
    }
}
