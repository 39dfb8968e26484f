//! A string value's bytes: short ones (many values) inline in the hash table's bucket, longer
//! ones as a shared `Bytes` behind one pointer. GET then copies a short value out of the bucket
//! without another cache miss or a reference count, SET of one allocates nothing, and the value
//! stays small enough for a key, value and deadline to share one cache line. Long values keep what
//! `Bytes` gives them: a reply shares them instead of copying, and APPEND grows them in place.

use std::ops::Deref;

use bytes::Bytes;

/// Up to this many bytes are stored inline (the enum stays 24 bytes).
const INLINE_BYTES_MAX: usize = 22;

#[derive(Clone)]
pub enum StrBytes {
    Inline {
        len: u8,
        bytes: [u8; INLINE_BYTES_MAX],
    },
    Shared(Box<Bytes>),
}

impl StrBytes {
    /// A copy of `bytes` (inline, or in its own allocation).
    pub fn new(bytes: &[u8]) -> StrBytes {
        match inline(bytes) {
            Some(short) => short,
            None => StrBytes::Shared(Box::new(Bytes::copy_from_slice(bytes))),
        }
    }

    /// Takes `vec`'s allocation when the bytes do not fit inline.
    pub fn from_vec(vec: Vec<u8>) -> StrBytes {
        match inline(&vec) {
            Some(short) => short,
            None => StrBytes::Shared(Box::new(Bytes::from(vec))),
        }
    }

    /// The bytes as a `Bytes`: a copy of short ones, a shared handle on long ones.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            StrBytes::Inline { .. } => Bytes::copy_from_slice(self),
            StrBytes::Shared(bytes) => Bytes::clone(bytes),
        }
    }

    /// The bytes as a `Vec`, reusing the allocation when nothing else shares it.
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            StrBytes::Inline { .. } => self.to_vec(),
            StrBytes::Shared(bytes) => Vec::from(*bytes),
        }
    }
}

fn inline(bytes: &[u8]) -> Option<StrBytes> {
    if bytes.len() > INLINE_BYTES_MAX {
        return None;
    }
    let mut inline = [0; INLINE_BYTES_MAX];
    inline[..bytes.len()].copy_from_slice(bytes);
    Some(StrBytes::Inline {
        len: bytes.len() as u8,
        bytes: inline,
    })
}

impl Default for StrBytes {
    fn default() -> StrBytes {
        StrBytes::new(b"")
    }
}

impl Deref for StrBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            StrBytes::Inline { len, bytes } => &bytes[..*len as usize],
            StrBytes::Shared(bytes) => bytes,
        }
    }
}

impl PartialEq for StrBytes {
    fn eq(&self, other: &StrBytes) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for StrBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", Bytes::copy_from_slice(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_bytes_are_inline_and_long_ones_shared() {
        assert_eq!(std::mem::size_of::<StrBytes>(), 24);
        for len in [0, 1, INLINE_BYTES_MAX, INLINE_BYTES_MAX + 1, 1000] {
            let vec: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for bytes in [StrBytes::new(&vec), StrBytes::from_vec(vec.clone())] {
                assert_eq!(&*bytes, &vec[..]);
                assert_eq!(bytes.to_bytes(), vec);
                assert_eq!(
                    matches!(bytes, StrBytes::Inline { .. }),
                    len <= INLINE_BYTES_MAX
                );
                assert_eq!(bytes.into_vec(), vec);
            }
        }
    }
}
