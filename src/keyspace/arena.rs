//! A vector that grows by chunks and never moves what it holds: the node arena of a big sorted
//! set's tree (`zset`).
//!
//! A `Vec` grows by doubling, copying every element into the new block: at 4M nodes of a sorted
//! set, a ZADD that grew it copied 224 MB and faulted in 448 MB, and stopped the shard for
//! 300-530 ms. Here the first chunk grows as a `Vec` does, up to `CHUNK_LEN` elements (a copy of
//! at most 56 KiB, and a small set keeps a small block); every later chunk is made whole and
//! never grows, so a push costs at most one chunk's allocation. An index is a chunk and a place
//! in it: one load more than a `Vec`'s.

use std::ops::{Index, IndexMut};

/// Elements per chunk: a power of two, so that an index splits with a shift and a mask.
const CHUNK_LEN: usize = 1024;
const CHUNK_SHIFT: u32 = CHUNK_LEN.trailing_zeros();

#[derive(Clone, Debug)]
pub struct Arena<T> {
    /// Every chunk but the last holds `CHUNK_LEN` elements.
    chunks: Vec<Vec<T>>,
}

impl<T> Default for Arena<T> {
    fn default() -> Arena<T> {
        Arena { chunks: Vec::new() }
    }
}

impl<T> Arena<T> {
    pub fn len(&self) -> usize {
        match self.chunks.last() {
            Some(last) => (self.chunks.len() - 1) * CHUNK_LEN + last.len(),
            None => 0,
        }
    }

    /// Adds `element` at index `len()`.
    pub fn push(&mut self, element: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK_LEN => last.push(element),
            Some(_) => {
                let mut chunk = Vec::with_capacity(CHUNK_LEN);
                chunk.push(element);
                self.chunks.push(chunk);
            }
            None => self.chunks.push(vec![element]),
        }
    }
}

impl<T> Index<usize> for Arena<T> {
    type Output = T;
    fn index(&self, index: usize) -> &T {
        &self.chunks[index >> CHUNK_SHIFT][index & (CHUNK_LEN - 1)]
    }
}

impl<T> IndexMut<usize> for Arena<T> {
    fn index_mut(&mut self, index: usize) -> &mut T {
        &mut self.chunks[index >> CHUNK_SHIFT][index & (CHUNK_LEN - 1)]
    }
}

impl<T> IntoIterator for Arena<T> {
    type Item = T;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<T>>>;
    fn into_iter(self) -> Self::IntoIter {
        self.chunks.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_stay_where_they_were_put_as_the_arena_grows() {
        let mut arena = Arena::default();
        let mut first = None;
        for i in 0..3 * CHUNK_LEN + 5 {
            arena.push(i);
            assert_eq!(arena.len(), i + 1);
            if i == CHUNK_LEN {
                first = Some(&arena[CHUNK_LEN] as *const usize);
            }
        }
        // The second chunk's first element has not moved since it was pushed.
        assert_eq!(first, Some(&arena[CHUNK_LEN] as *const usize));
        arena[7] = 70;
        assert!((0..arena.len()).all(|i| arena[i] == if i == 7 { 70 } else { i }));
        let all: Vec<usize> = arena.into_iter().collect();
        assert_eq!(all.len(), 3 * CHUNK_LEN + 5);
        assert_eq!(
            (all[7], all[CHUNK_LEN], all[3 * CHUNK_LEN + 4]),
            (70, CHUNK_LEN, 3 * CHUNK_LEN + 4)
        );
    }
}
