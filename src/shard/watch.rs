//! WATCH on one shard: which clients watch which of this shard's keys, and whether a watched key
//! was touched since.
//!
//! The "key touched" signal is generic: every write goes through the keyspace primitives
//! (`Db::insert/remove/set_expire/get_value_mut`, `clear`, `Keyspace::swap_dbs`), which record
//! each change (for the journal); after every command the shard takes those changes
//! (`log_changes`) and hands them to `touch` here before logging them. So any command of any
//! family that writes correctly for the journal invalidates watchers too, with no code of its
//! own. A changed key marks its watchers; an emptied database (FLUSHDB/FLUSHALL) marks the
//! watchers of the keys it had; SWAPDB marks the watchers of keys present in either database.
//!
//! Expiry is not recorded as a change (replay repeats it by itself), so it is checked when the
//! watcher asks (at EXEC): a watched key that was live at WATCH with a deadline that has passed
//! since has expired, or was changed before it did (and is marked already). Either way the
//! transaction fails, as in Redis.
//!
//! Watchers are client ids (unique across shards), so a connection watches keys on any shard;
//! its shard sends `watch`/`check_and_forget` as private steps (see `commands::transactions`).

use std::collections::HashMap;

use bytes::Bytes;

use crate::keyspace::{Change, DbChange, Keyspace};

#[derive(Default)]
pub struct WatchTable {
    /// (db, key) -> ids of the clients watching it.
    watchers: HashMap<(usize, Bytes), Vec<u64>>,
    /// Client id -> what it watches here.
    clients: HashMap<u64, ClientWatch>,
}

#[derive(Default)]
struct ClientWatch {
    keys: Vec<Watched>,
    /// A watched key was changed since it was watched.
    touched: bool,
}

struct Watched {
    db: usize,
    key: Bytes,
    /// The key was live at WATCH (so emptying its database changes it).
    existed: bool,
    /// Its expiry deadline at WATCH, if it was live and had one.
    deadline_ms: Option<u64>,
}

impl WatchTable {
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Client `id` watches `key` in `db`, which is live with `deadline_ms` (`existed`) or not.
    pub fn watch(
        &mut self,
        id: u64,
        db: usize,
        key: Bytes,
        existed: bool,
        deadline_ms: Option<u64>,
    ) {
        let client = self.clients.entry(id).or_default();
        if client.keys.iter().any(|w| w.db == db && w.key == key) {
            return;
        }
        client.keys.push(Watched {
            db,
            key: key.clone(),
            existed,
            deadline_ms,
        });
        self.watchers.entry((db, key)).or_default().push(id);
    }

    /// Stops client `id` watching anything here; returns whether a key it watched changed
    /// (written, deleted, flushed, swapped, or expired by `now_ms`).
    pub fn check_and_forget(&mut self, id: u64, now_ms: u64) -> bool {
        let Some(client) = self.clients.remove(&id) else {
            return false;
        };
        let expired = client
            .keys
            .iter()
            .any(|w| w.deadline_ms.is_some_and(|at| at <= now_ms));
        for w in client.keys {
            let slot = (w.db, w.key);
            if let Some(ids) = self.watchers.get_mut(&slot) {
                ids.retain(|&other| other != id);
                if ids.is_empty() {
                    self.watchers.remove(&slot);
                }
            }
        }
        client.touched || expired
    }

    /// Marks the watchers of what one command (or one transaction's part) changed.
    pub fn touch(&mut self, keyspace: &Keyspace, swaps: &[(usize, usize)], changes: &[DbChange]) {
        for (db, change) in changes {
            match change {
                Change::Key { key, .. } | Change::Delta { key, .. } => self.touch_key(*db, key),
                Change::Moved { key, to_db, to, .. } => {
                    self.touch_key(*db, key);
                    self.touch_key(*to_db, to);
                }
                Change::Flush => self.touch_db(*db, |w| w.existed),
            }
        }
        for &(a, b) in swaps {
            // After the swap each database holds the other's keys: a key present in either
            // (now, or at WATCH) changed.
            let present = |w: &Watched| {
                w.existed
                    || keyspace.dbs[a].peek(&w.key).is_some()
                    || keyspace.dbs[b].peek(&w.key).is_some()
            };
            self.touch_db(a, present);
            self.touch_db(b, present);
        }
    }

    fn touch_key(&mut self, db: usize, key: &[u8]) {
        let Some(ids) = self.watchers.get(&(db, Bytes::copy_from_slice(key))) else {
            return;
        };
        for id in ids {
            if let Some(client) = self.clients.get_mut(id) {
                client.touched = true;
            }
        }
    }

    fn touch_db(&mut self, db: usize, changed: impl Fn(&Watched) -> bool) {
        for client in self.clients.values_mut() {
            if client.keys.iter().any(|w| w.db == db && changed(w)) {
                client.touched = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::slot::key_slot;

    #[test]
    fn a_changed_key_marks_only_its_watchers() {
        let mut table = WatchTable::default();
        table.watch(1, 0, Bytes::from("a"), true, None);
        table.watch(2, 0, Bytes::from("b"), true, None);
        let keyspace = Keyspace::new(1, 0..16384);
        table.touch(&keyspace, &[], &[(0, Change::key(b"a", key_slot(b"a")))]);
        assert!(table.check_and_forget(1, 0));
        assert!(!table.check_and_forget(2, 0));
        assert!(table.is_empty());
    }

    #[test]
    fn flush_marks_watchers_of_keys_that_existed() {
        let mut table = WatchTable::default();
        table.watch(1, 0, Bytes::from("a"), true, None);
        table.watch(2, 0, Bytes::from("missing"), false, None);
        let keyspace = Keyspace::new(1, 0..16384);
        table.touch(&keyspace, &[], &[(0, Change::Flush)]);
        assert!(table.check_and_forget(1, 0));
        assert!(!table.check_and_forget(2, 0));
    }

    #[test]
    fn a_passed_deadline_counts_as_a_change() {
        let mut table = WatchTable::default();
        table.watch(1, 0, Bytes::from("a"), true, Some(100));
        assert!(table.check_and_forget(1, 100));
    }
}
