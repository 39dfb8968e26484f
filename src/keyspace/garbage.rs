//! Big values a database let go of (deleted, replaced, expired, flushed), freed a slice at a time
//! between requests. Freeing a collection of millions of elements at once stops a shard for tens
//! of milliseconds (a 2M-member sorted set: 72 ms here); Redis hands such values to a background
//! thread (lazyfree), and a shard, which has no thread to spare, frees them in steps instead
//! (`Db::free_garbage`, driven by the shard's `lazyfree` task).

use std::collections::VecDeque;

use super::db::Entry;
use super::slot_table::SlotTable;
use super::Value;

/// Collections of at most this many elements are freed at once (well under a millisecond).
const FREE_AT_ONCE_ELEMENTS_MAX: usize = 4096;

/// One thing being freed, a step at a time.
enum Freeing {
    /// A collection: an owning iterator that frees an element per item.
    Elements(Box<dyn Iterator<Item = ()> + Send>),
    /// A slot table FLUSHDB emptied: its entries, one per item (a big value among them is
    /// queued in its turn).
    Entries(Box<dyn Iterator<Item = Entry> + Send>),
}

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
            self.pending
                .push_back(Freeing::Elements(value.into_freeing()));
            self.freed_objects += 1;
        }
    }

    /// Takes a whole slot table (FLUSHDB) to free in steps.
    pub fn discard_table(&mut self, table: SlotTable) {
        if !table.is_empty() {
            let entries = table.into_entries().map(|(_, entry)| entry);
            self.pending.push_back(Freeing::Entries(Box::new(entries)));
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
            let budget = elements - freed;
            let step = match self.pending.front_mut() {
                None => break,
                Some(Freeing::Elements(items)) => items.take(budget).count(),
                Some(Freeing::Entries(entries)) => {
                    let taken: Vec<Entry> = entries.take(budget).collect();
                    let step = taken.len();
                    for entry in taken {
                        self.discard(entry.into_parts().0);
                    }
                    step
                }
            };
            freed += step;
            if step < budget {
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
    fn a_flushed_table_is_freed_key_by_key_and_a_big_value_in_it_in_steps_of_its_own() {
        let mut garbage = Garbage::default();
        garbage.discard_table(SlotTable::default());
        assert_eq!(garbage.pending(), 0, "an empty table is not kept");
        let mut table = SlotTable::default();
        for i in 0..100 {
            let value = if i == 50 { set_of(10_000) } else { set_of(2) };
            let key = super::super::StoredKey::new(format!("k{i}").as_bytes());
            table.insert(key, Entry::new(value, None));
        }
        garbage.discard_table(table);
        assert_eq!(garbage.free_some(60), 60);
        let (mut freed, mut steps) = (60, 0);
        loop {
            let step = garbage.free_some(1000);
            if step == 0 {
                break;
            }
            freed += step;
            steps += 1;
        }
        assert_eq!(freed, 100 + 10_000);
        assert_eq!(steps, 11, "the big set took steps of its own");
        assert_eq!(garbage.freed_objects, 2, "the table, then the set");
        assert_eq!(garbage.pending(), 0);
    }
}
