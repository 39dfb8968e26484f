//! The encoded records waiting for the disk: bytes appended at the back and taken from the
//! front as batches are written. Taking does not move the rest: under load several batches are
//! in flight and tens of KiB are staged behind the one just written, which a `Vec::drain` would
//! shift on every batch. The space in front is reclaimed only once it is at least as large as
//! what follows it, so each byte is moved at most about once.

use std::ops::Deref;

#[derive(Default)]
pub struct Staged {
    buf: Vec<u8>,
    /// Bytes of `buf` already taken.
    taken: usize,
}

impl Staged {
    /// The buffer to append encoded records to (at its end).
    pub fn appender(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Drops the first `bytes` staged bytes.
    pub fn take_front(&mut self, bytes: usize) {
        assert!(bytes <= self.len(), "taking more than is staged");
        self.taken += bytes;
        if self.taken == self.buf.len() {
            self.buf.clear();
            self.taken = 0;
        } else if self.taken >= self.buf.len() - self.taken {
            self.buf.drain(..self.taken);
            self.taken = 0;
        }
    }
}

impl Deref for Staged {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[self.taken..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taking_from_the_front_keeps_the_rest_in_order() {
        let mut staged = Staged::default();
        let mut model = std::collections::VecDeque::new();
        let mut next = 0u8;
        for step in 0..2000usize {
            let appended = step % 7;
            for _ in 0..appended {
                staged.appender().push(next);
                model.push_back(next);
                next = next.wrapping_add(1);
            }
            let take = (step * 5) % (staged.len() + 1);
            staged.take_front(take);
            model.drain(..take);
            assert_eq!(
                &staged[..],
                model.iter().copied().collect::<Vec<_>>().as_slice()
            );
            assert!(staged.taken == 0 || staged.taken < staged.buf.len() - staged.taken);
        }
    }
}
