//! A string value's bytes, in three forms by size:
//! - short ones (many values) inline in the hash table's bucket: GET copies one out without
//!   another cache miss or a reference count, SET of one allocates nothing, and the value stays
//!   small enough for a key, value and deadline to share one cache line;
//! - medium ones in one exact-size allocation: one allocation to make and free, no reference
//!   count, and a reply copies them (cheaper than sharing at that size);
//! - long ones, and any grown in place (APPEND, SETRANGE), as a shared `Bytes` behind one pointer:
//!   a reply shares them instead of copying, and APPEND grows them with amortised reallocation.

use std::ops::Deref;

use bytes::Bytes;

/// Up to this many bytes are stored inline (the enum stays 24 bytes).
const INLINE_BYTES_MAX: usize = 22;
/// Values from a client up to this many bytes are `Boxed`; longer ones `Shared`.
const BOXED_BYTES_MAX: usize = 512;

#[derive(Clone)]
pub enum StrBytes {
    Inline {
        len: u8,
        bytes: [u8; INLINE_BYTES_MAX],
    },
    Boxed(Box<[u8]>),
    Shared(Box<Bytes>),
}

impl StrBytes {
    /// A copy of `bytes` (inline, or in its own allocation).
    pub fn new(bytes: &[u8]) -> StrBytes {
        match inline(bytes) {
            Some(short) => short,
            None if bytes.len() <= BOXED_BYTES_MAX => StrBytes::Boxed(bytes.into()),
            None => StrBytes::Shared(Box::new(Bytes::copy_from_slice(bytes))),
        }
    }

    /// Copies `bytes` into this value's own allocation when `new` would make one of that very
    /// size (never for inline or shared bytes), and says whether it did.
    pub fn overwrite_same_size(&mut self, bytes: &[u8]) -> bool {
        match self {
            StrBytes::Boxed(stored)
                if stored.len() == bytes.len() && bytes.len() > INLINE_BYTES_MAX =>
            {
                stored.copy_from_slice(bytes);
                true
            }
            _ => false,
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
            StrBytes::Inline { .. } | StrBytes::Boxed(_) => Bytes::copy_from_slice(self),
            StrBytes::Shared(bytes) => Bytes::clone(bytes),
        }
    }

    /// The bytes as a `Vec`, reusing the allocation when nothing else shares it.
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            StrBytes::Inline { .. } => self.to_vec(),
            StrBytes::Boxed(bytes) => bytes.into_vec(),
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
            StrBytes::Boxed(bytes) => bytes,
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
    fn every_form_reads_back_its_bytes() {
        assert_eq!(std::mem::size_of::<StrBytes>(), 24);
        let lens = [0, 1, INLINE_BYTES_MAX, INLINE_BYTES_MAX + 1];
        for len in lens
            .into_iter()
            .chain([BOXED_BYTES_MAX, BOXED_BYTES_MAX + 1])
        {
            let vec: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let new = StrBytes::new(&vec);
            let expected_form = if len <= INLINE_BYTES_MAX {
                "inline"
            } else if len <= BOXED_BYTES_MAX {
                "boxed"
            } else {
                "shared"
            };
            assert_eq!(form(&new), expected_form, "{len} bytes");
            let from_vec = StrBytes::from_vec(vec.clone());
            let expected_form = if len <= INLINE_BYTES_MAX {
                "inline"
            } else {
                "shared"
            };
            assert_eq!(form(&from_vec), expected_form, "{len} bytes");
            for bytes in [new, from_vec] {
                assert_eq!(&*bytes, &vec[..]);
                assert_eq!(bytes.to_bytes(), vec);
                assert_eq!(bytes.into_vec(), vec);
            }
        }
    }

    fn form(bytes: &StrBytes) -> &'static str {
        match bytes {
            StrBytes::Inline { .. } => "inline",
            StrBytes::Boxed(_) => "boxed",
            StrBytes::Shared(_) => "shared",
        }
    }
}
