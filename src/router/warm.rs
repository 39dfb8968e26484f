//! Warming a pipeline's keys ahead of their commands.
//!
//! Finding a key takes four dependent loads, which mostly miss the cache once a shard holds more
//! keys than its cache: the slot table's header, the tag group, the buckets whose tags match, and
//! the value's bytes (which SET overwrites in place). Prefetched in passes over all of a
//! pipeline's keys, each pass still waited for the lines the pass before had only just asked for.
//! So the steps are staggered by one request: while request `i` runs, its successors get the
//! next step each (the value of `i + 1`, the buckets of `i + 2`, the tags of `i + 3`, the header
//! of `i + 4`), and every step reads lines asked for a whole command earlier.
//!
//! Only the first argument of each request is warmed, the key of most commands; one that is not a
//! key costs a few useless prefetches.

use bytes::Bytes;

use super::slot::key_slot;
use crate::keyspace::key_hash;
use crate::server::client::Client;

/// The steps of warming one key, and so how many requests ahead the first one runs.
const STEPS: usize = 4;

pub struct Warmer {
    /// The slot and hash of each request's first argument; empty when there is nothing to warm.
    keys: Vec<Option<(u16, u64)>>,
}

impl Warmer {
    /// Hashes each request's first argument and warms the first few keys. A single request has
    /// no command to overlap with, so it is not warmed.
    pub fn new(client: &Client, requests: &[Vec<Bytes>]) -> Warmer {
        if requests.len() < 2 {
            return Warmer { keys: Vec::new() };
        }
        let keys = requests
            .iter()
            .map(|args| args.get(1).map(|key| (key_slot(key), key_hash(key))))
            .collect();
        let warmer = Warmer { keys };
        (0..STEPS).for_each(|lead| warmer.step(client, requests, lead));
        warmer
    }

    /// Just before request `i` runs (its successors must still be in `requests`).
    pub fn ahead_of(&self, client: &Client, requests: &[Vec<Bytes>], i: usize) {
        self.step(client, requests, i + STEPS);
    }

    /// The header of key `lead`, the tags of the one before, the buckets of the one before that,
    /// and the value of the one before that.
    fn step(&self, client: &Client, requests: &[Vec<Bytes>], lead: usize) {
        if self.keys.is_empty() {
            return;
        }
        let keyspace = client.shard.keyspace.borrow();
        let db = &keyspace.dbs[client.db()];
        // The request `behind` steps behind `lead`, with its key's slot and hash.
        let key = |behind: usize| {
            let at = lead.checked_sub(behind)?;
            let (slot, hash) = (*self.keys.get(at)?)?;
            Some((at, slot, hash))
        };
        if let Some((_, slot, _)) = key(0) {
            db.warm_slot(slot);
        }
        if let Some((_, slot, hash)) = key(1) {
            db.warm_tags(slot, hash);
        }
        if let Some((_, slot, hash)) = key(2) {
            db.warm_buckets(slot, hash);
        }
        if let Some((at, slot, hash)) = key(3) {
            if let Some(bytes) = requests[at].get(1) {
                db.warm_value(slot, hash, bytes);
            }
        }
    }
}
