//! The list type's value: a double-ended queue of elements, and the edits that change it.
//!
//! Every change to a stored list is a [`ListEdit`]: absolute and deterministic (push these
//! elements, pop N from the left, set index I, ...), so that applying the same edits to the same
//! list always gives the same list, live or at replay, and so that a write can be logged as its
//! edit instead of the whole list.
//!
//! `OBJECT ENCODING` follows Redis 7.2: a list is `listpack` while its listpack form would fit in
//! one node of `list-max-listpack-size -2` (8 KiB), `quicklist` beyond; a shrinking `quicklist`
//! goes back to `listpack` once it would fill at most half a node. (Redis 7.0 always answers
//! `quicklist`.) The listpack size is estimated from Redis's entry layout, not measured.

use std::collections::VecDeque;

use bytes::Bytes;

use super::value::parse_canonical_i64;

/// A list whose listpack form would exceed this many bytes is a `quicklist`
/// (`list-max-listpack-size -2`).
pub const LISTPACK_BYTES_MAX: usize = 8 * 1024;
/// A `quicklist` that shrinks to at most this many listpack bytes goes back to `listpack`
/// (Redis converts back at half the limit, so that a list at the edge does not flip-flop).
pub const LISTPACK_SHRINK_BYTES_MAX: usize = LISTPACK_BYTES_MAX / 2;
/// A listpack's header (total bytes u32, count u16) and end byte.
const LISTPACK_HEADER_BYTES: usize = 7;
/// Approximate bookkeeping bytes per element, for `MEMORY USAGE`: the `Bytes` handle and its
/// allocation header.
const ELEMENT_OVERHEAD_BYTES: usize = 40;

/// A list value. Never empty while stored: the key is deleted with its last element.
#[derive(Clone, Debug)]
pub struct List {
    items: VecDeque<Bytes>,
    /// Estimated bytes of the same elements as one Redis listpack.
    listpack_bytes: usize,
    /// Reported as `quicklist` (sticky until the list shrinks enough, as in Redis).
    quicklist: bool,
}

impl Default for List {
    fn default() -> List {
        List {
            items: VecDeque::new(),
            listpack_bytes: LISTPACK_HEADER_BYTES,
            quicklist: false,
        }
    }
}

/// Two lists are equal when they hold the same elements in the same order.
impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        self.items == other.items
    }
}

/// One change to a list, absolute and deterministic. Indexes count from the left, from 0, and
/// are within the list when the edit is made (commands resolve negative indexes first).
#[derive(Clone, Debug, PartialEq)]
pub enum ListEdit {
    /// Pushes each element in turn at the head (`LPUSH a b c` leaves `c b a`).
    PushLeft(Vec<Bytes>),
    /// Pushes each element in turn at the tail.
    PushRight(Vec<Bytes>),
    /// Removes this many elements from the head (fewer if the list is shorter).
    PopLeft(usize),
    /// Removes this many elements from the tail.
    PopRight(usize),
    /// Replaces the element at an index.
    Set(usize, Bytes),
    /// Inserts an element so that it ends up at this index (0..=len).
    Insert(usize, Bytes),
    /// Keeps only the elements at `start..end`.
    Trim(usize, usize),
    /// Removes elements equal to `element`: the first `count` from the head when `count > 0`,
    /// the last `-count` from the tail when `count < 0`, all when 0.
    Remove { count: i64, element: Bytes },
}

impl ListEdit {
    /// True for edits that may only add elements (they create a missing list).
    pub fn adds(&self) -> bool {
        matches!(self, ListEdit::PushLeft(_) | ListEdit::PushRight(_))
    }
}

impl List {
    /// A list of `items` in order, with the encoding Redis would give it; `quicklist` forces
    /// that encoding (for decoding a stored list, whose encoding may be sticky).
    pub fn from_items(items: impl IntoIterator<Item = Bytes>, quicklist: bool) -> List {
        let mut list = List::default();
        list.apply(&ListEdit::PushRight(items.into_iter().collect()));
        list.quicklist |= quicklist;
        list
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn is_quicklist(&self) -> bool {
        self.quicklist
    }

    pub fn encoding(&self) -> &'static str {
        if self.quicklist {
            "quicklist"
        } else {
            "listpack"
        }
    }

    pub fn get(&self, index: usize) -> Option<&Bytes> {
        self.items.get(index)
    }

    /// The list as an iterator that frees an element per item (see `Value::into_freeing`).
    pub fn into_freeing(self) -> Box<dyn Iterator<Item = ()> + Send> {
        Box::new(self.items.into_iter().map(drop))
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Bytes> + ExactSizeIterator {
        self.items.iter()
    }

    /// Elements `start..end` (clamped to the list).
    pub fn range(&self, start: usize, end: usize) -> impl DoubleEndedIterator<Item = &Bytes> {
        let end = end.min(self.items.len());
        self.items.range(start.min(end)..end)
    }

    pub fn memory_bytes(&self) -> usize {
        64 + self
            .items
            .iter()
            .map(|e| e.len() + ELEMENT_OVERHEAD_BYTES)
            .sum::<usize>()
    }

    /// Applies one edit. The only function that changes a list, live and at replay.
    pub fn apply(&mut self, edit: &ListEdit) {
        match edit {
            ListEdit::PushLeft(elements) => {
                for e in elements {
                    self.listpack_bytes += listpack_entry_bytes(e);
                    self.items.push_front(Bytes::copy_from_slice(e));
                }
            }
            ListEdit::PushRight(elements) => {
                for e in elements {
                    self.listpack_bytes += listpack_entry_bytes(e);
                    self.items.push_back(Bytes::copy_from_slice(e));
                }
            }
            ListEdit::PopLeft(n) => {
                for _ in 0..*n {
                    let Some(e) = self.items.pop_front() else {
                        break;
                    };
                    self.listpack_bytes -= listpack_entry_bytes(&e);
                }
            }
            ListEdit::PopRight(n) => {
                for _ in 0..*n {
                    let Some(e) = self.items.pop_back() else {
                        break;
                    };
                    self.listpack_bytes -= listpack_entry_bytes(&e);
                }
            }
            ListEdit::Set(index, element) => {
                if let Some(slot) = self.items.get_mut(*index) {
                    self.listpack_bytes -= listpack_entry_bytes(slot);
                    self.listpack_bytes += listpack_entry_bytes(element);
                    *slot = Bytes::copy_from_slice(element);
                }
            }
            ListEdit::Insert(index, element) => {
                let index = (*index).min(self.items.len());
                self.listpack_bytes += listpack_entry_bytes(element);
                self.items.insert(index, Bytes::copy_from_slice(element));
            }
            ListEdit::Trim(start, end) => {
                let end = (*end).min(self.items.len());
                let start = (*start).min(end);
                self.items.truncate(end);
                self.items.drain(..start);
                self.recount();
            }
            ListEdit::Remove { count, element } => {
                self.remove_matching(*count, element);
                self.recount();
            }
        }
        self.update_encoding(edit.adds());
    }

    fn remove_matching(&mut self, count: i64, element: &[u8]) {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let mut removed = 0;
        if count >= 0 {
            self.items.retain(|e| {
                let drop = removed < limit && e == element;
                removed += drop as usize;
                !drop
            });
        } else {
            // From the tail: find the indexes first, then remove them back to front.
            let hits: Vec<usize> = (0..self.items.len())
                .rev()
                .filter(|&i| self.items[i] == element)
                .take(limit)
                .collect();
            for i in hits {
                self.items.remove(i);
            }
        }
    }

    /// How many elements an LREM of `element` with `count` would remove.
    pub fn count_matching(&self, count: i64, element: &[u8]) -> usize {
        let matching = self.items.iter().filter(|e| *e == element).count();
        if count == 0 {
            matching
        } else {
            matching.min(count.unsigned_abs() as usize)
        }
    }

    fn recount(&mut self) {
        self.listpack_bytes = LISTPACK_HEADER_BYTES
            + self
                .items
                .iter()
                .map(|e| listpack_entry_bytes(e))
                .sum::<usize>();
    }

    /// Moves to `quicklist` past the limit when growing, back to `listpack` when shrinking well
    /// under it.
    fn update_encoding(&mut self, growing: bool) {
        if growing {
            self.quicklist |= self.listpack_bytes > LISTPACK_BYTES_MAX;
        } else if self.quicklist && self.listpack_bytes <= LISTPACK_SHRINK_BYTES_MAX {
            self.quicklist = false;
        }
    }
}

/// Bytes one element takes in a Redis listpack: its encoding and data, then its back-length.
fn listpack_entry_bytes(element: &[u8]) -> usize {
    let body = match parse_canonical_i64(element) {
        Some(n) if (0..=127).contains(&n) => 1,
        Some(n) if (-4096..=4095).contains(&n) => 2,
        Some(n) if i16::try_from(n).is_ok() => 3,
        Some(n) if (-(1 << 23)..(1 << 23)).contains(&n) => 4,
        Some(n) if i32::try_from(n).is_ok() => 5,
        Some(_) => 9,
        None if element.len() < 64 => 1 + element.len(),
        None if element.len() < 4096 => 2 + element.len(),
        None => 5 + element.len(),
    };
    let backlen = match body {
        0..=127 => 1,
        128..=16_382 => 2,
        16_383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    };
    body + backlen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> List {
        List::from_items(items.iter().map(|s| Bytes::from(s.to_string())), false)
    }

    fn items(list: &List) -> Vec<String> {
        list.iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    #[test]
    fn edits_change_the_list_as_redis_commands_do() {
        let mut l = list(&["a"]);
        l.apply(&ListEdit::PushLeft(vec![
            Bytes::from("b"),
            Bytes::from("c"),
        ]));
        assert_eq!(items(&l), ["c", "b", "a"]);
        l.apply(&ListEdit::Insert(1, Bytes::from("x")));
        assert_eq!(items(&l), ["c", "x", "b", "a"]);
        l.apply(&ListEdit::Set(3, Bytes::from("z")));
        l.apply(&ListEdit::PopLeft(1));
        assert_eq!(items(&l), ["x", "b", "z"]);
        l.apply(&ListEdit::Trim(1, 3));
        assert_eq!(items(&l), ["b", "z"]);
        l.apply(&ListEdit::PopRight(5));
        assert!(l.is_empty());
    }

    #[test]
    fn remove_counts_from_the_named_end() {
        let base = list(&["a", "b", "a", "c", "a"]);
        let removed = |count| {
            let mut l = base.clone();
            l.apply(&ListEdit::Remove {
                count,
                element: Bytes::from("a"),
            });
            items(&l)
        };
        assert_eq!(removed(1), ["b", "a", "c", "a"]);
        assert_eq!(removed(-2), ["a", "b", "c"]);
        assert_eq!(removed(0), ["b", "c"]);
        assert_eq!(base.count_matching(-2, b"a"), 2);
    }

    #[test]
    fn encoding_moves_to_quicklist_past_8k_and_back_under_half() {
        let mut l = list(&["x"]);
        assert_eq!(l.encoding(), "listpack");
        let big = Bytes::from(vec![b'v'; 1000]);
        l.apply(&ListEdit::PushRight(vec![big; 9]));
        assert_eq!(l.encoding(), "quicklist");
        l.apply(&ListEdit::PopRight(4));
        assert_eq!(l.encoding(), "quicklist", "sticky until half the limit");
        l.apply(&ListEdit::PopRight(2));
        assert_eq!(l.encoding(), "listpack");
        let ints = List::from_items((0..1000).map(|i| Bytes::from(i.to_string())), false);
        assert_eq!(
            ints.encoding(),
            "listpack",
            "small integers take 2-4 bytes each"
        );
    }
}
