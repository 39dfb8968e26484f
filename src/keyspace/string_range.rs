//! Changes to a string value by byte range: the deltas that bitmap writes (SETBIT, BITFIELD),
//! SETRANGE, APPEND and HyperLogLog updates log instead of the whole string.

use super::Value;

/// The string's bytes taken out of `value` for changing (reused when nobody else holds them), or
/// `None` when `value` is not a string.
fn take_bytes(value: &mut Value) -> Option<Vec<u8>> {
    match value {
        Value::Int(n) => Some(itoa::Buffer::new().format(*n).as_bytes().to_vec()),
        Value::Str { bytes, .. } => Some(std::mem::take(bytes).into_vec()),
        _ => None,
    }
}

/// A string changed in place is `raw`, whatever its content, as in Redis.
fn put_bytes(value: &mut Value, bytes: Vec<u8>) {
    *value = Value::raw_string(bytes, true);
}

/// Writes `patch` at byte `offset`, zero-extending the string first when it is shorter than
/// `offset + patch.len()` (an empty patch only extends it to `offset` bytes). False when `value`
/// is not a string.
pub fn write_at(value: &mut Value, offset: usize, patch: &[u8]) -> bool {
    let Some(mut bytes) = take_bytes(value) else {
        return false;
    };
    let end = offset + patch.len();
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    bytes[offset..end].copy_from_slice(patch);
    put_bytes(value, bytes);
    true
}

/// Replaces everything from byte `offset` on with `tail` (zero-extending to `offset` first). False
/// when `value` is not a string.
pub fn replace_tail(value: &mut Value, offset: usize, tail: &[u8]) -> bool {
    let Some(mut bytes) = take_bytes(value) else {
        return false;
    };
    bytes.resize(offset, 0);
    bytes.extend_from_slice(tail);
    put_bytes(value, bytes);
    true
}

/// The smallest change that turns `old` into `new`: `(offset, bytes, to_end)`, where `to_end`
/// says the bytes replace the whole tail (the length changed) rather than overwrite in place.
/// `None` when they are equal.
pub fn diff(old: &[u8], new: &[u8]) -> Option<(usize, Vec<u8>, bool)> {
    let first = old.iter().zip(new).position(|(a, b)| a != b);
    if old.len() != new.len() {
        let from = first.unwrap_or(old.len().min(new.len()));
        return Some((from, new[from..].to_vec(), true));
    }
    let first = first?;
    let last = old.iter().zip(new).rposition(|(a, b)| a != b)?;
    Some((first, new[first..=last].to_vec(), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(bytes: &[u8]) -> Value {
        Value::raw_string(bytes.to_vec(), false)
    }

    #[test]
    fn write_at_zero_extends_and_overwrites() {
        let mut v = string(b"abc");
        assert!(write_at(&mut v, 5, b"xy"));
        assert_eq!(v.as_string().unwrap(), &b"abc\0\0xy"[..]);
        assert!(write_at(&mut v, 1, b"Z"));
        assert_eq!(v.as_string().unwrap(), &b"aZc\0\0xy"[..]);
        assert!(write_at(&mut v, 9, b""));
        assert_eq!(v.as_string().unwrap().len(), 9);
        let mut n = Value::Int(12);
        assert!(write_at(&mut n, 2, b"3"));
        assert_eq!(n.encoding(), "raw");
        assert_eq!(n.as_string().unwrap(), &b"123"[..]);
        assert!(!write_at(&mut Value::Set(Box::default()), 0, b"x"));
    }

    #[test]
    fn replace_tail_truncates_or_extends() {
        let mut v = string(b"abcdef");
        assert!(replace_tail(&mut v, 2, b"X"));
        assert_eq!(v.as_string().unwrap(), &b"abX"[..]);
        assert!(replace_tail(&mut v, 5, b"Y"));
        assert_eq!(v.as_string().unwrap(), &b"abX\0\0Y"[..]);
    }

    #[test]
    fn diff_finds_the_changed_range() {
        assert_eq!(diff(b"abc", b"abc"), None);
        assert_eq!(
            diff(b"abcdef", b"aXcdYf"),
            Some((1, b"XcdY".to_vec(), false))
        );
        assert_eq!(diff(b"abc", b"abcd"), Some((3, b"d".to_vec(), true)));
        assert_eq!(diff(b"abcd", b"aXc"), Some((1, b"Xc".to_vec(), true)));
        assert_eq!(diff(b"abcd", b"ab"), Some((2, Vec::new(), true)));
    }
}
