//! Redis Cluster hash slots: CRC16 (XMODEM) of the key, or of its `{hash tag}`, modulo 16384.

pub const SLOT_COUNT: usize = 16384;

/// The slot a key belongs to, exactly as Redis Cluster computes it.
pub fn key_slot(key: &[u8]) -> u16 {
    (crc16(hash_tag(key)) as usize % SLOT_COUNT) as u16
}

/// The part of the key that is hashed: the text between the first `{` and the next `}` when that
/// text is non-empty, else the whole key.
fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// One byte of the bit-by-bit CRC: the definition the tables are built from.
const fn crc16_byte(mut crc: u16, byte: u8) -> u16 {
    crc ^= (byte as u16) << 8;
    let mut bit = 0;
    while bit < 8 {
        crc = if crc & 0x8000 != 0 {
            (crc << 1) ^ 0x1021
        } else {
            crc << 1
        };
        bit += 1;
    }
    crc
}

/// `TABLES[k][x]`: the CRC of byte `x` followed by `k` zero bytes. The CRC is linear, so eight
/// bytes take eight independent lookups (`TABLES[7]` for the first, with the running CRC folded
/// into the first two) instead of eight dependent ones; keys are hashed several times per command.
const fn crc16_tables() -> [[u16; 256]; 8] {
    let mut tables = [[0u16; 256]; 8];
    let mut i = 0;
    while i < 256 {
        tables[0][i] = crc16_byte(0, i as u8);
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let shorter = tables[k - 1][i];
            tables[k][i] = (shorter << 8) ^ tables[0][(shorter >> 8) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
}

static CRC16_TABLES: [[u16; 256]; 8] = crc16_tables();

fn crc16(bytes: &[u8]) -> u16 {
    let t = &CRC16_TABLES;
    let mut eights = bytes.chunks_exact(8);
    let crc = eights.by_ref().fold(0u16, |crc, b| {
        let [high, low] = crc.to_be_bytes();
        t[7][(high ^ b[0]) as usize]
            ^ t[6][(low ^ b[1]) as usize]
            ^ t[5][b[2] as usize]
            ^ t[4][b[3] as usize]
            ^ t[3][b[4] as usize]
            ^ t[2][b[5] as usize]
            ^ t[1][b[6] as usize]
            ^ t[0][b[7] as usize]
    });
    let mut pairs = eights.remainder().chunks_exact(2);
    let crc = pairs.by_ref().fold(crc, |crc, b| {
        let [high, low] = crc.to_be_bytes();
        t[1][(high ^ b[0]) as usize] ^ t[0][(low ^ b[1]) as usize]
    });
    pairs.remainder().iter().fold(crc, |crc, &b| {
        (crc << 8) ^ t[0][((crc >> 8) as u8 ^ b) as usize]
    })
}

/// Which shard owns which slot: shard `i` owns a contiguous range starting at `i * 16384 / shards`.
#[derive(Clone, Debug)]
pub struct SlotMap {
    owner: Vec<u16>,
    /// `starts[i]`: the first slot of shard `i`; `starts[shards]` is 16384. Looked up, not
    /// computed: a division costs tens of cycles, and every logged write asks for its range.
    starts: Vec<u16>,
}

impl SlotMap {
    pub fn new(shards: usize) -> SlotMap {
        assert!(
            (1..=SLOT_COUNT).contains(&shards),
            "shards must be in 1..=16384"
        );
        let owner = (0..SLOT_COUNT)
            .map(|slot| {
                // The largest i with range_start(i) <= slot.
                let mut i = slot * shards / SLOT_COUNT;
                while i + 1 < shards && Self::range_start(i + 1, shards) <= slot {
                    i += 1;
                }
                while Self::range_start(i, shards) > slot {
                    i -= 1;
                }
                i as u16
            })
            .collect();
        let starts = (0..=shards)
            .map(|i| Self::range_start(i, shards) as u16)
            .collect();
        SlotMap { owner, starts }
    }

    fn range_start(shard: usize, shards: usize) -> usize {
        shard * SLOT_COUNT / shards
    }

    pub fn shards(&self) -> usize {
        self.starts.len() - 1
    }

    pub fn owner(&self, slot: u16) -> usize {
        self.owner[slot as usize] as usize
    }

    /// The slots shard `shard` owns, as a half-open range.
    pub fn range(&self, shard: usize) -> std::ops::Range<u16> {
        self.starts[shard]..self.starts[shard + 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_cluster_spec() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        // Eight and two bytes at a time agree with the bit-by-bit definition, at every length.
        let bitwise = |bytes: &[u8]| bytes.iter().fold(0, |crc, &b| crc16_byte(crc, b));
        let bytes: Vec<u8> = (0..200u32).map(|i| (i * 7919 % 251) as u8).collect();
        for len in 0..bytes.len() {
            assert_eq!(crc16(&bytes[..len]), bitwise(&bytes[..len]), "{len} bytes");
        }
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
    }

    #[test]
    fn every_slot_has_exactly_the_owner_its_range_says() {
        for shards in [1, 2, 3, 7, 14, 16] {
            let map = SlotMap::new(shards);
            for shard in 0..shards {
                for slot in map.range(shard) {
                    assert_eq!(map.owner(slot), shard);
                }
            }
            assert_eq!(map.range(shards - 1).end as usize, SLOT_COUNT);
        }
    }
}
