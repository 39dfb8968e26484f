//! Redis's listpack (the blob inside the listpack RDB types, decoded and, for streams, encoded)
//! and intset blobs (decoded).
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

/// Builds a listpack blob element by element, in the encodings Redis picks (`lpAppend`): the
/// smallest integer encoding for integers and for strings that are canonical integers, the
/// shortest length prefix for other strings.
#[derive(Default)]
pub struct Writer {
    body: Vec<u8>,
    count: usize,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    /// The blob's size so far, header and end byte included.
    pub fn bytes_len(&self) -> usize {
        HEADER_BYTES + self.body.len() + 1
    }

    pub fn int(&mut self, n: i64) {
        let start = self.body.len();
        let b = &mut self.body;
        match n {
            0..=127 => b.push(n as u8),
            -4096..=4095 => {
                let raw = (n as u16) & 0x1fff;
                b.extend_from_slice(&[0xc0 | (raw >> 8) as u8, raw as u8]);
            }
            _ if i16::try_from(n).is_ok() => {
                b.push(0xf1);
                b.extend_from_slice(&(n as i16).to_le_bytes());
            }
            -8_388_608..=8_388_607 => {
                b.push(0xf2);
                b.extend_from_slice(&(n as i32).to_le_bytes()[..3]);
            }
            _ if i32::try_from(n).is_ok() => {
                b.push(0xf3);
                b.extend_from_slice(&(n as i32).to_le_bytes());
            }
            _ => {
                b.push(0xf4);
                b.extend_from_slice(&n.to_le_bytes());
            }
        }
        self.end_entry(start);
    }

    /// A string; a canonical integer's text is stored as the integer, as Redis does.
    pub fn bytes(&mut self, s: &[u8]) {
        if s.len() <= INT_TEXT_CHARS_MAX {
            if let Some(n) = crate::keyspace::parse_canonical_i64(s) {
                return self.int(n);
            }
        }
        let start = self.body.len();
        let b = &mut self.body;
        if s.len() < 1 << 6 {
            b.push(0x80 | s.len() as u8);
        } else if s.len() < 1 << 12 {
            b.extend_from_slice(&[0xe0 | (s.len() >> 8) as u8, s.len() as u8]);
        } else {
            b.push(0xf0);
            b.extend_from_slice(&(s.len() as u32).to_le_bytes());
        }
        b.extend_from_slice(s);
        self.end_entry(start);
    }

    /// Appends the backwards length of the entry that starts at `start`.
    fn end_entry(&mut self, start: usize) {
        let len = self.body.len() - start;
        let groups = backlen_bytes(len);
        // Most significant 7-bit group first; every byte but the first has its top bit set.
        for i in (0..groups).rev() {
            let group = ((len >> (7 * i)) & 0x7f) as u8;
            self.body
                .push(if i == groups - 1 { group } else { group | 0x80 });
        }
        self.count += 1;
    }

    /// Appends every element of `other` after this one's.
    pub fn concat(mut self, other: Writer) -> Writer {
        self.body.extend_from_slice(&other.body);
        self.count += other.count;
        self
    }

    /// The blob. Panics past 4 GiB, the format's limit (callers keep nodes far smaller).
    pub fn finish(self) -> Vec<u8> {
        let total = u32::try_from(self.bytes_len()).expect("a listpack holds under 4 GiB");
        // At and above `COUNT_UNKNOWN` entries, readers count them.
        let count = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        let mut blob = Vec::with_capacity(total as usize);
        blob.extend_from_slice(&total.to_le_bytes());
        blob.extend_from_slice(&count.to_le_bytes());
        blob.extend_from_slice(&self.body);
        blob.push(END);
        blob
    }
}

/// Redis tries the integer encodings only for strings up to this long (`lpStringToInt64`).
const INT_TEXT_CHARS_MAX: usize = 20;

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
    fn written_elements_read_back_at_every_encoding_boundary() {
        let ints = [
            0,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32769,
            8_388_607,
            -8_388_609,
            i32::MAX as i64 + 1,
            i64::MIN,
            i64::MAX,
        ];
        let strings = [0, 63, 64, 127, 128, 4095, 4096, 20_000].map(|n| vec![b'a'; n]);
        let mut w = Writer::new();
        ints.iter().for_each(|n| w.int(*n));
        strings.iter().for_each(|s| w.bytes(s));
        w.bytes(b"-12");
        w.bytes(b"007");
        let blob = w.finish();
        let mut expected: Vec<Vec<u8>> = ints.iter().map(|n| n.to_string().into_bytes()).collect();
        expected.extend(strings.iter().cloned());
        expected.extend([b"-12".to_vec(), b"007".to_vec()]);
        assert_eq!(texts(&blob), expected);
        let elements = elements(&blob).unwrap();
        assert!(matches!(
            elements[ints.len() + strings.len()],
            Element::Int(-12)
        ));
        assert!(matches!(
            elements[ints.len() + strings.len() + 1],
            Element::Str(_)
        ));
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
