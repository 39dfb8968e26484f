//! Single values in Redis's RDB object format, with the DUMP footer, so that values move between
//! Keel and Redis with DUMP and RESTORE.
//!
//! A DUMP payload is one RDB object (a type byte, then the object), the RDB version (2 bytes,
//! little endian) and a CRC-64 (8 bytes, little endian) of everything before it.

mod crc64;
mod decode;
mod encode;
mod listpack;
mod lzf;
mod read;
mod stream;
mod types;

use crate::keyspace::Value;

/// The RDB version Keel writes: Redis 7.0's, which Redis 7.0 and 7.2 both load.
pub const RDB_VERSION_WRITTEN: u16 = 10;
/// The newest RDB version Keel reads: Redis 7.2's. Newer payloads are refused, as Redis does.
pub const RDB_VERSION_READ_MAX: u16 = 11;
/// The version (2) and checksum (8) after the object.
const FOOTER_BYTES: usize = 10;

/// Why a payload could not be restored; each is one of Redis's RESTORE errors.
#[derive(Debug, PartialEq)]
pub enum RestoreError {
    /// "DUMP payload version or checksum are wrong".
    VersionOrChecksum,
    /// "Bad data format".
    BadFormat,
}

/// The DUMP payload of `value`.
pub fn dump(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode::object(value, &mut out);
    out.extend_from_slice(&RDB_VERSION_WRITTEN.to_le_bytes());
    let crc = crc64::crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The value in a DUMP payload (from Keel or from Redis 7.0/7.2), with Keel's own encodings.
pub fn restore(payload: &[u8]) -> Result<Value, RestoreError> {
    verify_footer(payload)?;
    let body = &payload[..payload.len() - FOOTER_BYTES];
    // Like Redis, bytes after the object (before the footer) are ignored.
    decode::object(&mut read::Reader::new(body)).map_err(|_| RestoreError::BadFormat)
}

fn verify_footer(payload: &[u8]) -> Result<(), RestoreError> {
    if payload.len() < FOOTER_BYTES {
        return Err(RestoreError::VersionOrChecksum);
    }
    let footer = &payload[payload.len() - FOOTER_BYTES..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    let expected = crc64::crc64(0, &payload[..payload.len() - 8]);
    if version > RDB_VERSION_READ_MAX || crc != expected {
        return Err(RestoreError::VersionOrChecksum);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `DUMP` of `SET k 123` in Redis 7.0.15.
    const REDIS_INT_123: &[u8] = b"\x00\xc0\x7b\x0a\x00\x48\xe2\x53\xe1\x00\x7a\x67\xb9";

    #[test]
    fn strings_dump_byte_for_byte_as_redis() {
        assert_eq!(dump(&Value::string(b"123")), REDIS_INT_123);
        assert_eq!(restore(REDIS_INT_123).unwrap(), Value::Int(123));
    }

    #[test]
    fn a_flipped_bit_or_newer_version_is_refused() {
        let mut payload = dump(&Value::string(b"hello"));
        payload[2] ^= 1;
        assert_eq!(restore(&payload), Err(RestoreError::VersionOrChecksum));
        assert_eq!(restore(b"short"), Err(RestoreError::VersionOrChecksum));
    }

    #[test]
    fn truncated_objects_are_bad_format_never_a_panic() {
        let value = Value::string(&[b'x'; 300]);
        let full = dump(&value);
        let object = &full[..full.len() - FOOTER_BYTES];
        for cut in 0..object.len() {
            let mut payload = object[..cut].to_vec();
            payload.extend_from_slice(&RDB_VERSION_WRITTEN.to_le_bytes());
            let crc = crc64::crc64(0, &payload);
            payload.extend_from_slice(&crc.to_le_bytes());
            assert_eq!(
                restore(&payload),
                Err(RestoreError::BadFormat),
                "cut at {cut}"
            );
        }
    }
}
