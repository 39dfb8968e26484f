//! One journal record: the effect of one write, as opaque bytes, with its LSN,
//! slot and db. Layout (little endian), records start 8-byte aligned:
//!
//! ```text
//! 0  u32 crc32c of bytes 4..len
//! 4  u32 len: header + payload bytes (never 0: a zero word means padding)
//! 8  u64 lsn
//! 16 u16 slot
//! 18 u8  db
//! 19 u8  kind
//! 20 payload (len - 20 bytes), then zero padding to the next 8-byte boundary
//! ```
//!
//! A payload over [`RECORD_PAYLOAD_BYTES_MAX`] (a delta adding 600 MB of hash fields, a
//! cross-shard transaction's part holding a big collection) is split over several records with
//! consecutive LSNs: all but the last have kind [`CONTINUED`], the last the write's own kind, and
//! the reader joins them back into one record with the last one's LSN. The writer puts them in
//! one batch, so a crash keeps all of them or none.

use bytes::Bytes;
use std::fmt;

/// Log sequence number: per shard, strictly increasing by one, starting at 1.
pub type Lsn = u64;

/// Cluster hash slots; a record's slot is below this.
pub const SLOT_COUNT: u16 = 16384;
pub const RECORD_HEADER_BYTES: usize = 20;
/// Most payload bytes in one record: room for a 512 MiB bulk string (Redis's
/// proto-max-bulk-len) plus its key and framing. A bigger payload is split
/// (`CONTINUED`). Bounds what a reader allocates for one record it has not
/// checked yet.
pub const RECORD_PAYLOAD_BYTES_MAX: usize = (512 << 20) + (1 << 20);
/// Kind of a record that holds a leading piece of a payload split over several
/// records (not an effect kind: see `effect`).
pub const CONTINUED: u8 = 255;
pub const RECORD_BYTES_MAX: usize = RECORD_HEADER_BYTES + RECORD_PAYLOAD_BYTES_MAX;
/// Records start on this boundary, so a record header never straddles a block.
pub const RECORD_ALIGN_BYTES: usize = 8;

/// A record read back from the journal; `payload` shares the segment's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub lsn: Lsn,
    pub slot: u16,
    pub db: u8,
    pub kind: u8,
    pub payload: Bytes,
}

/// Why bytes are not a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    Truncated { len: usize, available: usize },
    BadLength(u32),
    BadCrc { stored: u32, computed: u32 },
    BadSlot(u16),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Truncated { len, available } => {
                write!(f, "record of {len} bytes truncated to {available}")
            }
            RecordError::BadLength(len) => write!(f, "bad record length {len}"),
            RecordError::BadCrc { stored, computed } => {
                write!(f, "record crc {stored:#010x} != computed {computed:#010x}")
            }
            RecordError::BadSlot(slot) => write!(f, "record slot {slot} out of range"),
        }
    }
}

/// Bytes `encode` appends for a payload of `payload_len` bytes, padding included.
pub fn encoded_len(payload_len: usize) -> usize {
    (RECORD_HEADER_BYTES + payload_len).next_multiple_of(RECORD_ALIGN_BYTES)
}

/// Appends the records of one write to `out`, each padded to [`RECORD_ALIGN_BYTES`]: its
/// payload is appended by `write_payload`, so that it is encoded in place rather than built in a
/// buffer of its own. Returns how many records that took, with LSNs from `lsn` on: one, or more
/// for a payload over `payload_max` bytes (at most [`RECORD_PAYLOAD_BYTES_MAX`]).
pub fn encode(
    out: &mut Vec<u8>,
    lsn: Lsn,
    (slot, db, kind): (u16, u8, u8),
    write_payload: impl FnOnce(&mut Vec<u8>),
    payload_max: usize,
) -> u64 {
    assert!(lsn > 0, "LSN 0 means none");
    assert!(payload_max > 0 && payload_max <= RECORD_PAYLOAD_BYTES_MAX);
    assert!(slot < SLOT_COUNT, "slot {slot} out of range");
    assert!(kind != CONTINUED, "kind {CONTINUED} is the journal's own");
    assert_eq!(out.len() % RECORD_ALIGN_BYTES, 0, "record start unaligned");
    let start = out.len();
    // CRC and length (filled in by `seal`), LSN, slot, database, kind.
    let mut header = [0u8; RECORD_HEADER_BYTES];
    header[8..16].copy_from_slice(&lsn.to_le_bytes());
    header[16..18].copy_from_slice(&slot.to_le_bytes());
    header[18] = db;
    header[19] = kind;
    out.extend_from_slice(&header);
    write_payload(out);
    if out.len() - start - RECORD_HEADER_BYTES <= payload_max {
        seal(out, start);
        return 1;
    }
    // Rare (a payload of hundreds of MB): moved out once, and written back in pieces.
    let payload = out.split_off(start + RECORD_HEADER_BYTES);
    out.truncate(start);
    let pieces = payload.len().div_ceil(payload_max);
    for (i, piece) in payload.chunks(payload_max).enumerate() {
        let at = out.len();
        header[8..16].copy_from_slice(&(lsn + i as u64).to_le_bytes());
        header[19] = if i + 1 == pieces { kind } else { CONTINUED };
        out.extend_from_slice(&header);
        out.extend_from_slice(piece);
        seal(out, at);
    }
    pieces as u64
}

/// Fills in the length and CRC of the record that starts at `out[start]` and ends at the end of
/// `out`, and pads it.
fn seal(out: &mut Vec<u8>, start: usize) {
    let payload_len = out.len() - start - RECORD_HEADER_BYTES;
    let len = (RECORD_HEADER_BYTES + payload_len) as u32;
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    let crc = crc32c::crc32c(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    let padding = encoded_len(payload_len) - (RECORD_HEADER_BYTES + payload_len);
    out.extend_from_slice(&[0; RECORD_ALIGN_BYTES][..padding]);
}

/// The padded length of the record starting at `buf[0]`, from its length word
/// alone (no validation beyond the bounds); for walking encoded records.
pub fn padded_len_at(buf: &[u8]) -> usize {
    (u32_at(buf, 4) as usize).next_multiple_of(RECORD_ALIGN_BYTES)
}

/// Decodes the record at `buf[offset..]`; returns it and the offset of the
/// next record.
pub fn decode(buf: &Bytes, offset: usize) -> Result<(Record, usize), RecordError> {
    let available = buf.len() - offset;
    if available < RECORD_HEADER_BYTES {
        return Err(RecordError::Truncated {
            len: RECORD_HEADER_BYTES,
            available,
        });
    }
    let bytes = &buf[offset..];
    let len = u32_at(bytes, 4);
    if (len as usize) < RECORD_HEADER_BYTES || len as usize > RECORD_BYTES_MAX {
        return Err(RecordError::BadLength(len));
    }
    let len = len as usize;
    if len > available {
        return Err(RecordError::Truncated { len, available });
    }
    let stored = u32_at(bytes, 0);
    let computed = crc32c::crc32c(&bytes[4..len]);
    if stored != computed {
        return Err(RecordError::BadCrc { stored, computed });
    }
    let slot = u16::from_le_bytes([bytes[16], bytes[17]]);
    if slot >= SLOT_COUNT {
        return Err(RecordError::BadSlot(slot));
    }
    let record = Record {
        lsn: u64_at(bytes, 8),
        slot,
        db: bytes[18],
        kind: bytes[19],
        payload: buf.slice(offset + RECORD_HEADER_BYTES..offset + len),
    };
    Ok((record, offset + len.next_multiple_of(RECORD_ALIGN_BYTES)))
}

pub(crate) fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(buf[at..at + 4].try_into().unwrap())
}

pub(crate) fn u64_at(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(buf[at..at + 8].try_into().unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(records: &[(Lsn, &[u8])]) -> Bytes {
        let mut out = Vec::new();
        for &(lsn, payload) in records {
            let write = |o: &mut Vec<u8>| o.extend_from_slice(payload);
            encode(
                &mut out,
                lsn,
                (16383, 3, 7),
                write,
                RECORD_PAYLOAD_BYTES_MAX,
            );
        }
        Bytes::from(out)
    }

    #[test]
    fn records_round_trip_with_alignment_padding() {
        let buf = encoded(&[(1, b"x"), (2, b""), (3, &[0xAB; 1000])]);
        assert_eq!(
            buf.len(),
            encoded_len(1) + encoded_len(0) + encoded_len(1000)
        );
        let (a, next) = decode(&buf, 0).unwrap();
        assert_eq!(
            (a.lsn, a.slot, a.db, a.kind, &a.payload[..]),
            (1, 16383, 3, 7, &b"x"[..])
        );
        assert_eq!(next, 24);
        let (b, next) = decode(&buf, next).unwrap();
        assert_eq!((b.lsn, b.payload.len()), (2, 0));
        let (c, next) = decode(&buf, next).unwrap();
        assert_eq!((c.lsn, &c.payload[..]), (3, &[0xAB; 1000][..]));
        assert_eq!(next, buf.len());
    }

    #[test]
    fn any_flipped_bit_after_the_crc_is_detected() {
        let good = encoded(&[(9, b"payload")]);
        for byte in 4..RECORD_HEADER_BYTES + 7 {
            let mut bad = good.to_vec();
            bad[byte] ^= 0x10;
            assert!(
                decode(&Bytes::from(bad), 0).is_err(),
                "flip at {byte} undetected"
            );
        }
    }

    #[test]
    fn truncated_and_zero_length_records_are_rejected() {
        let good = encoded(&[(9, b"payload")]);
        let cut = Bytes::from(good[..RECORD_HEADER_BYTES + 3].to_vec());
        assert!(matches!(
            decode(&cut, 0),
            Err(RecordError::Truncated { .. })
        ));
        let zeros = Bytes::from(vec![0u8; 64]);
        assert_eq!(decode(&zeros, 0), Err(RecordError::BadLength(0)));
    }

    #[test]
    fn a_payload_over_the_maximum_is_split_over_records_with_consecutive_lsns() {
        let payload: Vec<u8> = (0..250u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        let write = |o: &mut Vec<u8>| o.extend_from_slice(&payload);
        assert_eq!(encode(&mut out, 7, (12, 2, 5), write, 100), 3);
        let buf = Bytes::from(out);
        let (mut offset, mut joined) = (0, Vec::new());
        for (lsn, kind, len) in [(7, CONTINUED, 100), (8, CONTINUED, 100), (9, 5, 50)] {
            let (record, next) = decode(&buf, offset).unwrap();
            assert_eq!(
                (record.lsn, record.kind, record.payload.len()),
                (lsn, kind, len)
            );
            assert_eq!((record.slot, record.db), (12, 2));
            joined.extend_from_slice(&record.payload);
            offset = next;
        }
        assert_eq!((offset, joined), (buf.len(), payload.clone()));
        // At the maximum exactly, one record.
        let mut out = Vec::new();
        let write = |o: &mut Vec<u8>| o.extend_from_slice(&payload[..100]);
        assert_eq!(encode(&mut out, 1, (0, 0, 1), write, 100), 1);
        assert_eq!(out.len(), encoded_len(100));
    }

    #[test]
    #[should_panic(expected = "slot 16384 out of range")]
    fn encoding_a_slot_out_of_range_panics() {
        encode(
            &mut Vec::new(),
            1,
            (SLOT_COUNT, 0, 0),
            |_| {},
            RECORD_PAYLOAD_BYTES_MAX,
        );
    }
}
