//! Which cross-shard transactions recovery may apply: those with every part found, in the
//! journals of any directory or listed in a snapshot. Counted by the first reading of the
//! journals; the replay then skips the parts of the others.

use std::collections::{HashMap, HashSet};

use crate::snapshot::TxnKey;

/// Parts found per transaction: keys and counts only, no payloads (some 35 to 75 bytes a
/// transaction, with the hash table's slack, while recovery runs).
#[derive(Default)]
pub struct TxnCensus {
    found: HashMap<TxnKey, Parts>,
}

struct Parts {
    found: u16,
    total: u16,
}

impl TxnCensus {
    /// A part of transaction `key`, which has `total` parts, is in a journal.
    pub fn count_part(&mut self, key: TxnKey, total: u16) {
        self.found
            .entry(key)
            .or_insert(Parts { found: 0, total })
            .found += 1;
    }

    /// Adds the parts another directory's reading found.
    pub fn merge(&mut self, other: TxnCensus) {
        for (key, parts) in other.found {
            self.found
                .entry(key)
                .or_insert(Parts {
                    found: 0,
                    total: parts.total,
                })
                .found += parts.found;
        }
    }

    /// A snapshot lists transaction `key` (it holds the part its shard applied). Counted only
    /// for transactions with a part in the journals: call after every journal is counted.
    pub fn count_listed(&mut self, key: &TxnKey) {
        if let Some(parts) = self.found.get_mut(key) {
            parts.found += 1;
        }
    }

    /// The transactions found in the journals without all their parts (never acknowledged):
    /// their parts are not applied. Logs how many there are.
    pub fn into_incomplete(self) -> HashSet<TxnKey> {
        let incomplete: HashSet<TxnKey> = self
            .found
            .into_iter()
            .filter(|(_, parts)| parts.found < parts.total)
            .map(|(key, _)| key)
            .collect();
        if !incomplete.is_empty() {
            log::warn!(
                "{} cross-shard transactions were not complete in the journals (never acknowledged); not applied",
                incomplete.len()
            );
        }
        incomplete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_is_complete_with_every_part_in_journals_or_snapshots() {
        let mut census = TxnCensus::default();
        census.count_part((1, 0, 7), 2);
        // The other part, found in another directory.
        let mut other = TxnCensus::default();
        other.count_part((1, 0, 7), 2);
        census.merge(other);
        census.count_part((1, 0, 8), 3);
        census.count_part((1, 0, 8), 3);
        census.count_part((2, 0, 7), 2);
        census.count_listed(&(2, 0, 7));
        // Listed by a snapshot, but no part in any journal: nothing to apply, not counted.
        census.count_listed(&(3, 1, 1));
        let incomplete = census.into_incomplete();
        assert_eq!(incomplete, HashSet::from([(1, 0, 8)]));
    }
}
