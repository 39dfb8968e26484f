//! Reading RDB primitives from a payload: lengths, strings (plain, integer-encoded, LZF), doubles.
//! Every read is bounds-checked; a malformed payload gives `Malformed`, never a panic.

use super::lzf;

/// The payload does not hold a well-formed value ("Bad data format" at the edge).
#[derive(Debug, PartialEq)]
pub struct Malformed;

pub type Result<T> = std::result::Result<T, Malformed>;

/// Length prefixes: the top two bits of the first byte.
const LEN_6BIT: u8 = 0;
const LEN_14BIT: u8 = 1;
const LEN_ENCODED: u8 = 3;
/// After `LEN_32OR64`: which of the two.
const LEN_32BIT_BYTE: u8 = 0x80;
const LEN_64BIT_BYTE: u8 = 0x81;
/// String encodings after `LEN_ENCODED`.
pub const ENC_INT8: u8 = 0;
pub const ENC_INT16: u8 = 1;
pub const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// A length or string as read: lengths of strings may instead say "an encoded string".
enum Len {
    Plain(u64),
    Encoded(u8),
}

pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).ok_or(Malformed)?;
        let slice = self.bytes.get(self.at..end).ok_or(Malformed)?;
        self.at = end;
        Ok(slice)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn len_or_encoding(&mut self) -> Result<Len> {
        let first = self.u8()?;
        Ok(match first >> 6 {
            LEN_6BIT => Len::Plain((first & 0x3f) as u64),
            LEN_14BIT => Len::Plain((((first & 0x3f) as u64) << 8) | self.u8()? as u64),
            LEN_ENCODED => Len::Encoded(first & 0x3f),
            _ if first == LEN_32BIT_BYTE => Len::Plain(u32::from_be_bytes(self.array()?) as u64),
            _ if first == LEN_64BIT_BYTE => Len::Plain(u64::from_be_bytes(self.array()?)),
            _ => return Err(Malformed),
        })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    /// A length (element counts, string lengths).
    pub fn len(&mut self) -> Result<u64> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(Malformed),
        }
    }

    /// A count of elements, each at least `min_bytes` long: refused when the rest of the payload
    /// could not hold that many, so that nothing is allocated for a made-up count.
    pub fn count(&mut self, min_bytes: usize) -> Result<usize> {
        let n = self.len()?;
        if n > (self.remaining() / min_bytes.max(1)) as u64 {
            return Err(Malformed);
        }
        Ok(n as usize)
    }

    /// A string: plain, an integer encoding (as its decimal text) or LZF-compressed.
    pub fn string(&mut self) -> Result<Vec<u8>> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Ok(self
                .take(usize::try_from(n).map_err(|_| Malformed)?)?
                .to_vec()),
            Len::Encoded(ENC_INT8) => Ok(decimal(self.u8()? as i8 as i64)),
            Len::Encoded(ENC_INT16) => Ok(decimal(i16::from_le_bytes(self.array()?) as i64)),
            Len::Encoded(ENC_INT32) => Ok(decimal(i32::from_le_bytes(self.array()?) as i64)),
            Len::Encoded(ENC_LZF) => {
                let compressed_len = self.len()?;
                let len = self.len()?;
                let compressed =
                    self.take(usize::try_from(compressed_len).map_err(|_| Malformed)?)?;
                // LZF expands at most ~ 264/3 per input byte: a bound on what `len` may claim.
                if len == 0 || len > compressed.len() as u64 * 90 {
                    return Err(Malformed);
                }
                lzf::decompress(compressed, len as usize).ok_or(Malformed)
            }
            Len::Encoded(_) => Err(Malformed),
        }
    }

    /// A double in binary form (8 bytes, little endian), as zset_2 stores scores.
    pub fn binary_double(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// A double as text with a one-byte length; 253, 254 and 255 stand for NaN, +inf and -inf
    /// (the old zset type).
    pub fn text_double(&mut self) -> Result<f64> {
        match self.u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            len => {
                let text = std::str::from_utf8(self.take(len as usize)?).map_err(|_| Malformed)?;
                text.parse().map_err(|_| Malformed)
            }
        }
    }
}

fn decimal(n: i64) -> Vec<u8> {
    itoa::Buffer::new().format(n).as_bytes().to_vec()
}
