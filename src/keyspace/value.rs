//! The values keys hold. Each Redis type is one variant; strings keep Redis's encodings so that
//! `OBJECT ENCODING` answers as Redis does.

use bytes::Bytes;

pub use super::hash::Hash;

/// Strings up to this length are `embstr` in Redis (OBJ_ENCODING_EMBSTR_SIZE_LIMIT).
const EMBSTR_BYTES_MAX: usize = 44;
/// Redis only tries the `int` encoding for strings up to 20 characters.
const INT_ENCODING_CHARS_MAX: usize = 20;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string that is the canonical text of an i64 (`int` encoding).
    Int(i64),
    /// Any other string. `raw` is set once it was changed in place (APPEND, SETRANGE), because Redis
    /// then reports `raw` whatever its length.
    Str { bytes: Bytes, raw: bool },
    /// A hash (field → value).
    Hash(Hash),
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
            bytes: Bytes::copy_from_slice(bytes),
            raw: false,
        }
    }

    /// The same value in its own allocation: for values decoded out of a larger buffer (a journal
    /// segment, a message), so that they do not keep that whole buffer alive.
    pub fn detached(self) -> Value {
        match self {
            Value::Str { bytes, raw } => Value::Str {
                bytes: Bytes::copy_from_slice(&bytes),
                raw,
            },
            Value::Hash(hash) => Value::Hash(hash.detached()),
            other => other,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Str { .. } => "string",
            Value::Hash(_) => "hash",
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str { raw: true, .. } => "raw",
            Value::Str { bytes, .. } if bytes.len() <= EMBSTR_BYTES_MAX => "embstr",
            Value::Str { .. } => "raw",
            Value::Hash(hash) => hash.encoding(),
        }
    }

    /// The string's bytes, or `None` for a non-string value (WRONGTYPE).
    pub fn as_string(&self) -> Option<Bytes> {
        match self {
            Value::Int(n) => Some(Bytes::copy_from_slice(
                itoa::Buffer::new().format(*n).as_bytes(),
            )),
            Value::Str { bytes, .. } => Some(bytes.clone()),
            Value::Hash(_) => None,
        }
    }

    /// Approximate bytes of memory this value takes, for `MEMORY USAGE` and `INFO memory`.
    pub fn memory_bytes(&self) -> usize {
        match self {
            Value::Int(_) => 16,
            Value::Str { bytes, .. } => 16 + bytes.len(),
            Value::Hash(hash) => hash.memory_bytes(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_pick_redis_encodings() {
        assert_eq!(Value::string(b"123").encoding(), "int");
        assert_eq!(Value::string(b"0123").encoding(), "embstr");
        assert_eq!(Value::string(b"-0").encoding(), "embstr");
        assert_eq!(Value::string(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(Value::string(&[b'a'; 45]).encoding(), "raw");
        assert_eq!(Value::string(b"9223372036854775808").encoding(), "embstr");
    }
}
