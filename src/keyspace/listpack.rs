//! A compact sequence of short byte strings in one allocation, like Redis's listpack: each element
//! is its length (one byte) followed by its bytes. Small collections keep their elements here
//! instead of one heap allocation per element, which is most of their memory otherwise.

/// The longest element a listpack holds (its length must fit the one length byte).
const ELEMENT_BYTES_MAX: usize = u8::MAX as usize;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listpack {
    bytes: Vec<u8>,
}

impl Listpack {
    /// The number of elements (counted: listpacks are small).
    pub fn len(&self) -> usize {
        self.elements().count()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Bytes used, for `MEMORY USAGE`.
    pub fn byte_len(&self) -> usize {
        self.bytes.capacity()
    }

    /// Every element with the offset it starts at (its length byte).
    pub fn elements(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let len = *self.bytes.get(at)? as usize;
            let element = (at, &self.bytes[at + 1..at + 1 + len]);
            at += 1 + len;
            Some(element)
        })
    }

    /// Appends `element` (at most `ELEMENT_BYTES_MAX` bytes).
    pub fn push(&mut self, element: &[u8]) {
        self.bytes.push(element_len(element));
        self.bytes.extend_from_slice(element);
        self.fit();
    }

    /// Replaces the element that starts at `offset` with `element`.
    pub fn replace(&mut self, offset: usize, element: &[u8]) {
        let old_end = offset + 1 + self.bytes[offset] as usize;
        let new = std::iter::once(element_len(element)).chain(element.iter().copied());
        self.bytes.splice(offset..old_end, new);
        self.fit();
    }

    /// Moves the bytes into an allocation of exactly their size. (Not `shrink_to_fit`: allocators
    /// shrink a block in place when the new size is at least half the old, so a listpack that just
    /// grew would keep the doubled capacity's block.)
    fn fit(&mut self) {
        if self.bytes.capacity() != self.bytes.len() {
            self.bytes = self.bytes.as_slice().to_vec();
        }
    }

    /// Removes `count` elements starting with the one at `offset`.
    pub fn remove(&mut self, offset: usize, count: usize) {
        let mut end = offset;
        for _ in 0..count {
            end += 1 + self.bytes[end] as usize;
        }
        self.bytes.drain(offset..end);
        self.fit();
    }
}

fn element_len(element: &[u8]) -> u8 {
    assert!(
        element.len() <= ELEMENT_BYTES_MAX,
        "listpack element too long"
    );
    element.len() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(lp: &Listpack) -> Vec<Vec<u8>> {
        lp.elements().map(|(_, e)| e.to_vec()).collect()
    }

    #[test]
    fn push_replace_and_remove_keep_the_other_elements() {
        let mut lp = Listpack::default();
        for e in [&b"a"[..], b"", b"ccc", &[7u8; ELEMENT_BYTES_MAX]] {
            lp.push(e);
        }
        assert_eq!(lp.len(), 4);
        let offset = |lp: &Listpack, i: usize| lp.elements().nth(i).unwrap().0;
        lp.replace(offset(&lp, 1), b"bb");
        assert_eq!(
            contents(&lp)[..3],
            [b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()]
        );
        lp.remove(offset(&lp, 1), 2);
        assert_eq!(contents(&lp), [b"a".to_vec(), vec![7u8; ELEMENT_BYTES_MAX]]);
        lp.remove(0, 2);
        assert!(lp.is_empty());
    }
}
