//! A key as the keyspace stores it: short keys (most keys) live inside the hash table's bucket,
//! longer ones in one exact-size heap box. A lookup then compares the key without a second cache
//! miss, and inserting a short key allocates nothing; the bucket is 8 bytes smaller than with a
//! `Bytes` handle.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Keys up to this many bytes are stored inline (the enum stays 24 bytes).
const INLINE_BYTES_MAX: usize = 22;

#[derive(Clone)]
pub enum StoredKey {
    Inline {
        len: u8,
        bytes: [u8; INLINE_BYTES_MAX],
    },
    Heap(Box<[u8]>),
}

impl StoredKey {
    pub fn new(key: &[u8]) -> StoredKey {
        if key.len() <= INLINE_BYTES_MAX {
            let mut bytes = [0; INLINE_BYTES_MAX];
            bytes[..key.len()].copy_from_slice(key);
            StoredKey::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            StoredKey::Heap(key.into())
        }
    }
}

impl Deref for StoredKey {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            StoredKey::Inline { len, bytes } => &bytes[..*len as usize],
            StoredKey::Heap(bytes) => bytes,
        }
    }
}

impl Borrow<[u8]> for StoredKey {
    fn borrow(&self) -> &[u8] {
        self
    }
}

/// Hashes as the key's bytes do, so that maps keyed by `StoredKey` are searched with `&[u8]`.
impl Hash for StoredKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl PartialEq for StoredKey {
    fn eq(&self, other: &StoredKey) -> bool {
        **self == **other
    }
}

impl Eq for StoredKey {}

impl Ord for StoredKey {
    fn cmp(&self, other: &StoredKey) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl PartialOrd for StoredKey {
    fn partial_cmp(&self, other: &StoredKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_keys_read_back_and_hash_as_their_bytes() {
        assert_eq!(std::mem::size_of::<StoredKey>(), 24);
        let hash = |bytes: &[u8]| ahash::RandomState::with_seeds(1, 2, 3, 4).hash_one(bytes);
        let hash_key = |key: &StoredKey| ahash::RandomState::with_seeds(1, 2, 3, 4).hash_one(key);
        for len in [0, 1, INLINE_BYTES_MAX, INLINE_BYTES_MAX + 1, 1000] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let key = StoredKey::new(&bytes);
            assert_eq!(&*key, &bytes[..]);
            assert_eq!(hash_key(&key), hash(&bytes));
            assert_eq!(
                matches!(key, StoredKey::Inline { .. }),
                len <= INLINE_BYTES_MAX
            );
        }
    }
}
