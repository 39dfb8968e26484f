//! Big values a database let go of (deleted, replaced, expired, flushed), freed a slice at a time
//! between requests. Freeing a collection of millions of elements at once stops a shard for tens
//! of milliseconds (a 2M-member sorted set: 72 ms here); Redis hands such values to a background
//! thread (lazyfree), and a shard, which has no thread to spare, frees them in steps instead
//! (`Db::free_garbage`, driven by the shard's `lazyfree` task).

use std::collections::VecDeque;

use super::slot_table::SlotTable;
use super::Value;

/// Collections of at most this many elements are freed at once (well under a millisecond).
const FREE_AT_ONCE_ELEMENTS_MAX: usize = 4096;

/// One value being freed: an owning iterator that drops an element per item.
type Freeing = Box<dyn Iterator<Item = ()> + Send>;

#[derive(Default)]
pub struct Garbage {
    pending: VecDeque<Freeing>,
    /// Values handed over to be freed in steps, since the start (Redis's `lazyfreed_objects`).
    pub freed_objects: u64,
}

impl Garbage {
    /// Frees `value` now if it is small, else takes it to free in steps.
    pub fn discard(&mut self, value: Value) {
        if value
            .collection_len()
            .is_some_and(|len| len > FREE_AT_ONCE_ELEMENTS_MAX)
        {
            self.pending.push_back(value.into_freeing());
            self.freed_objects += 1;
        }
    }

    /// Takes a whole slot table (FLUSHDB) to free in steps, a key per item.
    pub fn discard_table(&mut self, table: SlotTable) {
        if !table.is_empty() {
            self.pending
                .push_back(Box::new(table.into_entries().map(|(_, entry)| drop(entry))));
            self.freed_objects += 1;
        }
    }

    /// Values waiting to be freed (Redis's `lazyfree_pending_objects`).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Frees up to `elements` elements (or keys of a flushed table); returns how many it freed.
    pub fn free_some(&mut self, elements: usize) -> usize {
        let mut freed = 0;
        while freed < elements {
            let Some(value) = self.pending.front_mut() else {
                break;
            };
            let step = value.take(elements - freed).count();
            freed += step;
            if freed < elements {
                self.pending.pop_front();
            }
        }
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn set_of(n: usize) -> Value {
        let members = (0..n).map(|i| Bytes::from(format!("m{i}")));
        Value::Set(Box::new(members.collect()))
    }

    #[test]
    fn a_big_value_is_freed_in_steps_and_a_small_one_at_once() {
        let mut garbage = Garbage::default();
        garbage.discard(set_of(FREE_AT_ONCE_ELEMENTS_MAX));
        assert_eq!(garbage.pending(), 0, "small: freed at once");
        garbage.discard(set_of(10_000));
        assert_eq!((garbage.pending(), garbage.freed_objects), (1, 1));
        assert_eq!(garbage.free_some(4096), 4096);
        assert_eq!(garbage.free_some(4096), 4096);
        assert_eq!(garbage.pending(), 1);
        assert_eq!(garbage.free_some(4096), 10_000 - 8192);
        assert_eq!(garbage.pending(), 0);
        assert_eq!(garbage.free_some(4096), 0);
    }

    #[test]
    fn a_flushed_table_is_freed_key_by_key_and_an_empty_one_is_not_kept() {
        let mut garbage = Garbage::default();
        garbage.discard_table(SlotTable::default());
        assert_eq!(garbage.pending(), 0);
        let mut table = SlotTable::default();
        for i in 0..100 {
            let key = super::super::StoredKey::new(format!("k{i}").as_bytes());
            table.insert(key, super::super::Entry::new(set_of(2), None));
        }
        garbage.discard_table(table);
        assert_eq!(garbage.free_some(60), 60);
        assert_eq!(garbage.free_some(60), 40);
        assert_eq!(garbage.pending(), 0);
    }
}
