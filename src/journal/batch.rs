//! A batch: what one flush writes, starting on a fresh block. A batch header,
//! then records back to back, then zeros to the end of the last block.
//!
//! ```text
//! 0  u32 crc32c of bytes 4..40, seeded with the segment's nonce
//! 4  u32 BATCH_MAGIC
//! 8  u64 first LSN
//! 16 u64 durable LSN: every record up to it was on stable storage before this
//!        batch was written (what lets recovery tell a torn tail from damage)
//! 24 u32 record count
//! 28 u32 body bytes (records, alignment padding included)
//! 32 u32 crc32c of the body
//! 36 u32 zero
//! ```
//!
//! Seeding the header CRC with a random per-segment nonce means a payload that
//! happens to contain a batch-header-shaped byte string can't pass for a batch.

use super::record::{u32_at, u64_at, Lsn};

pub const BATCH_HEADER_BYTES: usize = 40;
pub const BATCH_MAGIC: u32 = 0x4842_4B4B; // "KKBH"
/// Flushes take at most this many bytes of records at once (a single larger
/// record goes alone); bounds the aligned buffer one flush allocates.
pub const BATCH_BODY_BYTES_MAX: usize = 4 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub first_lsn: Lsn,
    pub durable_lsn: Lsn,
    pub record_count: u32,
    pub body_bytes: u32,
    pub body_crc: u32,
}

/// What the bytes at a batch position hold.
#[derive(Debug, PartialEq, Eq)]
pub enum BatchSlot {
    /// All zeros: nothing was ever written here.
    Empty,
    Batch(BatchHeader),
    /// Neither: a torn or damaged header.
    Bad(&'static str),
}

impl BatchHeader {
    /// The header for `body` (encoded records).
    pub fn for_body(first_lsn: Lsn, durable_lsn: Lsn, record_count: u32, body: &[u8]) -> Self {
        assert!(
            durable_lsn < first_lsn,
            "durable LSN {durable_lsn} >= first {first_lsn}"
        );
        assert!(record_count > 0);
        BatchHeader {
            first_lsn,
            durable_lsn,
            record_count,
            body_bytes: u32::try_from(body.len()).expect("batch body over 4 GiB"),
            body_crc: crc32c::crc32c(body),
        }
    }

    /// Bytes the batch occupies on disk, padded to whole blocks.
    pub fn padded_bytes(&self, block_bytes: usize) -> usize {
        (BATCH_HEADER_BYTES + self.body_bytes as usize).next_multiple_of(block_bytes)
    }

    pub fn encode(&self, nonce: u64, out: &mut [u8]) {
        let out = &mut out[..BATCH_HEADER_BYTES];
        out[4..8].copy_from_slice(&BATCH_MAGIC.to_le_bytes());
        out[8..16].copy_from_slice(&self.first_lsn.to_le_bytes());
        out[16..24].copy_from_slice(&self.durable_lsn.to_le_bytes());
        out[24..28].copy_from_slice(&self.record_count.to_le_bytes());
        out[28..32].copy_from_slice(&self.body_bytes.to_le_bytes());
        out[32..36].copy_from_slice(&self.body_crc.to_le_bytes());
        out[36..40].fill(0);
        let crc = header_crc(nonce, out);
        out[0..4].copy_from_slice(&crc.to_le_bytes());
    }

    /// Reads the batch position at `buf[0..]` (which runs to the segment end)
    /// and, for a sound header, checks the body against its CRC.
    pub fn read(buf: &[u8], nonce: u64) -> BatchSlot {
        if buf.len() < BATCH_HEADER_BYTES {
            return BatchSlot::Bad("batch header cut short by the segment end");
        }
        let head = &buf[..BATCH_HEADER_BYTES];
        if head.iter().all(|&b| b == 0) {
            return BatchSlot::Empty;
        }
        if u32_at(head, 4) != BATCH_MAGIC || u32_at(head, 0) != header_crc(nonce, head) {
            return BatchSlot::Bad("bad batch header");
        }
        let header = BatchHeader {
            first_lsn: u64_at(head, 8),
            durable_lsn: u64_at(head, 16),
            record_count: u32_at(head, 24),
            body_bytes: u32_at(head, 28),
            body_crc: u32_at(head, 32),
        };
        let body_end = BATCH_HEADER_BYTES + header.body_bytes as usize;
        if header.record_count == 0 || header.durable_lsn >= header.first_lsn {
            return BatchSlot::Bad("batch header fields out of range");
        }
        if body_end > buf.len() {
            return BatchSlot::Bad("batch body runs past the segment end");
        }
        if crc32c::crc32c(&buf[BATCH_HEADER_BYTES..body_end]) != header.body_crc {
            return BatchSlot::Bad("batch body crc mismatch (torn or damaged write)");
        }
        BatchSlot::Batch(header)
    }
}

fn header_crc(nonce: u64, head: &[u8]) -> u32 {
    crc32c::crc32c_append(
        crc32c::crc32c(&nonce.to_le_bytes()),
        &head[4..BATCH_HEADER_BYTES],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(nonce: u64, body: &[u8]) -> Vec<u8> {
        let header = BatchHeader::for_body(10, 9, 2, body);
        let mut buf = vec![0u8; header.padded_bytes(4096)];
        header.encode(nonce, &mut buf);
        buf[BATCH_HEADER_BYTES..BATCH_HEADER_BYTES + body.len()].copy_from_slice(body);
        buf
    }

    #[test]
    fn batch_header_round_trips_and_checks_its_body() {
        let buf = batch(77, b"records!");
        let BatchSlot::Batch(h) = BatchHeader::read(&buf, 77) else {
            panic!()
        };
        assert_eq!(
            (h.first_lsn, h.record_count, h.durable_lsn, h.body_bytes),
            (10, 2, 9, 8)
        );
        let mut torn = buf.clone();
        torn[BATCH_HEADER_BYTES + 3] ^= 1;
        assert!(matches!(BatchHeader::read(&torn, 77), BatchSlot::Bad(_)));
    }

    #[test]
    fn batch_from_another_segment_nonce_is_not_a_batch() {
        let buf = batch(77, b"records!");
        assert_eq!(
            BatchHeader::read(&buf, 78),
            BatchSlot::Bad("bad batch header")
        );
        assert_eq!(BatchHeader::read(&[0u8; 4096], 78), BatchSlot::Empty);
    }
}
