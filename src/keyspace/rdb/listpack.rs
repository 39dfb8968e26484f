//! Decoding Redis's listpack (the blob inside the listpack RDB types) and intset blobs.
//!
//! A listpack is: total bytes (u32 LE), element count (u16 LE, 65535 = "count it"), the entries,
//! and an end byte 0xFF. Each entry is an encoding byte (with the value or length packed in), its
//! data, then its own length written backwards in 1 to 5 bytes ("backlen").

use super::read::{Malformed, Result};

const HEADER_BYTES: usize = 6;
const END: u8 = 0xff;
/// The count field's value when the count did not fit.
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One listpack element: Redis stores integers as integers; they read back as their text.
pub enum Element<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Element<'_> {
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Element::Int(n) => itoa::Buffer::new().format(*n).as_bytes().to_vec(),
            Element::Str(s) => s.to_vec(),
        }
    }
}

/// Every element of the listpack `blob`, checked whole (header, entries, count, end byte).
pub fn elements(blob: &[u8]) -> Result<Vec<Element<'_>>> {
    if blob.len() < HEADER_BYTES + 1 {
        return Err(Malformed);
    }
    let total = u32::from_le_bytes(blob[0..4].try_into().expect("4 bytes")) as usize;
    let count = u16::from_le_bytes(blob[4..6].try_into().expect("2 bytes"));
    if total != blob.len() || blob[total - 1] != END {
        return Err(Malformed);
    }
    let body = &blob[HEADER_BYTES..total - 1];
    let mut at = 0;
    let mut out = Vec::new();
    while at < body.len() {
        let (element, entry_len) = entry(&body[at..])?;
        at += entry_len;
        let back = backlen_bytes(entry_len);
        if at + back > body.len() {
            return Err(Malformed);
        }
        at += back;
        out.push(element);
    }
    if count != COUNT_UNKNOWN && count as usize != out.len() {
        return Err(Malformed);
    }
    Ok(out)
}

/// Decodes the entry at the start of `bytes`: the element and the bytes of its encoding and data.
fn entry(bytes: &[u8]) -> Result<(Element<'_>, usize)> {
    let first = bytes[0];
    let data = |from: usize, len: usize| bytes.get(from..from + len).ok_or(Malformed);
    let int = |len: usize| -> Result<i64> {
        let raw = data(1, len)?;
        let mut buf = [0u8; 8];
        buf[..len].copy_from_slice(raw);
        // Sign-extend from `len` bytes.
        let shift = 64 - 8 * len as u32;
        Ok((i64::from_le_bytes(buf) << shift) >> shift)
    };
    Ok(match first {
        0x00..=0x7f => (Element::Int(first as i64), 1),
        0x80..=0xbf => {
            let len = (first & 0x3f) as usize;
            (Element::Str(data(1, len)?), 1 + len)
        }
        0xc0..=0xdf => {
            let raw = (((first & 0x1f) as i64) << 8) | *bytes.get(1).ok_or(Malformed)? as i64;
            // A 13-bit two's complement integer.
            let n = if raw >= 1 << 12 { raw - (1 << 13) } else { raw };
            (Element::Int(n), 2)
        }
        0xe0..=0xef => {
            let len = (((first & 0x0f) as usize) << 8) | *bytes.get(1).ok_or(Malformed)? as usize;
            (Element::Str(data(2, len)?), 2 + len)
        }
        0xf0 => {
            let len = u32::from_le_bytes(data(1, 4)?.try_into().expect("4 bytes")) as usize;
            (Element::Str(data(5, len)?), 5 + len)
        }
        0xf1 => (Element::Int(int(2)?), 3),
        0xf2 => (Element::Int(int(3)?), 4),
        0xf3 => (Element::Int(int(4)?), 5),
        0xf4 => (Element::Int(int(8)?), 9),
        _ => return Err(Malformed),
    })
}

/// How many bytes the backwards length of an entry of `len` bytes takes (7 bits per byte).
fn backlen_bytes(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Every integer of an intset blob: encoding width (u32 LE: 2, 4 or 8), count (u32 LE), then the
/// integers, little endian, sorted.
pub fn intset(blob: &[u8]) -> Result<Vec<i64>> {
    if blob.len() < 8 {
        return Err(Malformed);
    }
    let width = u32::from_le_bytes(blob[0..4].try_into().expect("4 bytes")) as usize;
    let count = u32::from_le_bytes(blob[4..8].try_into().expect("4 bytes")) as usize;
    if !matches!(width, 2 | 4 | 8) || count.checked_mul(width) != Some(blob.len() - 8) {
        return Err(Malformed);
    }
    Ok(blob[8..]
        .chunks_exact(width)
        .map(|c| match width {
            2 => i16::from_le_bytes(c.try_into().expect("2 bytes")) as i64,
            4 => i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64,
            _ => i64::from_le_bytes(c.try_into().expect("8 bytes")),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(blob: &[u8]) -> Vec<Vec<u8>> {
        elements(blob)
            .unwrap()
            .iter()
            .map(Element::to_bytes)
            .collect()
    }

    #[test]
    fn decodes_small_ints_13_bit_ints_and_short_strings() {
        // [7-bit 5] [13-bit -2] [6-bit str "ab"], each followed by its backlen.
        let body = [0x05, 0x01, 0xdf, 0xfe, 0x02, 0x82, b'a', b'b', 0x03];
        let mut blob = Vec::new();
        blob.extend_from_slice(&((body.len() + 7) as u32).to_le_bytes());
        blob.extend_from_slice(&3u16.to_le_bytes());
        blob.extend_from_slice(&body);
        blob.push(END);
        assert_eq!(
            texts(&blob),
            [b"5".to_vec(), b"-2".to_vec(), b"ab".to_vec()]
        );
        blob[4] = 4;
        assert!(elements(&blob).is_err(), "a wrong count is refused");
    }

    #[test]
    fn intsets_decode_by_width() {
        let mut blob = vec![4, 0, 0, 0, 2, 0, 0, 0];
        blob.extend_from_slice(&(-7i32).to_le_bytes());
        blob.extend_from_slice(&70000i32.to_le_bytes());
        assert_eq!(intset(&blob).unwrap(), [-7, 70000]);
        assert!(intset(&blob[..11]).is_err());
    }
}
