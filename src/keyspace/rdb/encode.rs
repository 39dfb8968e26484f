//! Keel values to RDB objects (one type byte, then the object), in encodings that both Redis 7.0
//! (RDB 10) and 7.2 (RDB 11) load: strings as Redis writes them (short integers in the integer
//! encodings, no compression), collections in the plain types (list, set, hash, zset_2 with binary
//! scores), which every Redis converts to its own encodings on load, and streams as listpacks v2
//! (see `stream`).

use super::read::{ENC_INT16, ENC_INT32, ENC_INT8};
use super::stream;
use super::types::*;
use crate::keyspace::Value;

/// Redis tries the integer encodings only for strings up to this long (`rdbSaveRawString`).
const INT_ENCODING_CHARS_MAX: usize = 11;
const LEN_ENCODED_BYTE: u8 = 0xc0;

pub fn object(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Int(n) => {
            out.push(STRING);
            int_string(*n, out);
        }
        Value::Str { bytes, .. } => {
            out.push(STRING);
            string(bytes, out);
        }
        Value::List(list) => {
            out.push(LIST);
            len(list.len() as u64, out);
            list.iter().for_each(|e| string(e, out));
        }
        Value::Set(members) => {
            out.push(SET);
            len(members.len() as u64, out);
            members.iter().for_each(|m| string(m, out));
        }
        Value::Hash(hash) => {
            out.push(HASH);
            len(hash.len() as u64, out);
            for (field, value) in hash.iter() {
                string(field, out);
                string(value, out);
            }
        }
        Value::ZSet(zset) => {
            out.push(ZSET_2);
            len(zset.len() as u64, out);
            for (member, score) in zset.iter() {
                string(member, out);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        Value::Stream(s) => stream::encode(s, out),
    }
}

/// A length: 6 bits, 14 bits (big endian), or a marker byte then 32 or 64 bits big endian.
pub fn len(n: u64, out: &mut Vec<u8>) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A string, in an integer encoding when it is the canonical text of a small enough integer.
pub fn string(bytes: &[u8], out: &mut Vec<u8>) {
    if bytes.len() <= INT_ENCODING_CHARS_MAX {
        if let Some(n) = crate::keyspace::parse_canonical_i64(bytes) {
            if int_encoding(n, out) {
                return;
            }
        }
    }
    len(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// An integer string: an integer encoding when it fits 32 bits, else its decimal text.
fn int_string(n: i64, out: &mut Vec<u8>) {
    if !int_encoding(n, out) {
        let text = itoa::Buffer::new().format(n).as_bytes().to_vec();
        len(text.len() as u64, out);
        out.extend_from_slice(&text);
    }
}

/// Writes `n` in the smallest integer encoding; false when it needs more than 32 bits.
fn int_encoding(n: i64, out: &mut Vec<u8>) -> bool {
    if let Ok(n) = i8::try_from(n) {
        out.extend_from_slice(&[LEN_ENCODED_BYTE | ENC_INT8, n as u8]);
    } else if let Ok(n) = i16::try_from(n) {
        out.push(LEN_ENCODED_BYTE | ENC_INT16);
        out.extend_from_slice(&n.to_le_bytes());
    } else if let Ok(n) = i32::try_from(n) {
        out.push(LEN_ENCODED_BYTE | ENC_INT32);
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        return false;
    }
    true
}
