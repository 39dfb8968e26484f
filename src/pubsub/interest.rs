//! Which shards have subscribers for what, with their counts: every shard holds the node-wide
//! table for channels and patterns (so PUBLISH knows at once where to send and how many receive),
//! and each shard the table for the shard channels of its own slots.
//!
//! Subscribing shards send their changes (+1/-1 per client subscription) to the other shards and
//! wait for them to be applied before confirming, so a PUBLISH after a confirmed SUBSCRIBE always
//! finds the subscriber.

use std::collections::HashMap;

use bytes::Bytes;

use super::Kind;
use crate::keyspace::pattern::glob_match;

type Counts = HashMap<Bytes, Box<[u32]>, ahash::RandomState>;

pub struct Interest {
    shards: usize,
    by_kind: [Counts; 3],
}

/// Who receives one message: how many clients, and on which shards.
pub struct Receivers {
    pub clients: i64,
    pub shards: Vec<bool>,
}

impl Interest {
    pub fn new(shards: usize) -> Interest {
        Interest {
            shards,
            by_kind: Default::default(),
        }
    }

    /// Applies shard `from`'s subscription changes.
    pub fn apply(&mut self, kind: Kind, from: usize, changes: &[(Bytes, i32)]) {
        let map = &mut self.by_kind[kind as usize];
        for (name, delta) in changes {
            let counts = map
                .entry(name.clone())
                .or_insert_with(|| vec![0; self.shards].into_boxed_slice());
            counts[from] = counts[from].saturating_add_signed(*delta);
            if counts.iter().all(|&c| c == 0) {
                map.remove(name);
            }
        }
    }

    /// Clients subscribed to `name` on every shard.
    pub fn count(&self, kind: Kind, name: &[u8]) -> i64 {
        self.by_kind[kind as usize]
            .get(name)
            .map_or(0, |c| c.iter().map(|&n| n as i64).sum())
    }

    /// Names with subscribers that match `pattern` (all when `None`).
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.by_kind[kind as usize]
            .keys()
            .filter(|name| pattern.is_none_or(|p| glob_match(p, name, false)))
            .cloned()
            .collect()
    }

    pub fn len(&self, kind: Kind) -> usize {
        self.by_kind[kind as usize].len()
    }

    /// Who receives a message published to `channel` of kind `kind` (a plain or shard channel):
    /// its subscribers and, for plain channels, the subscribers of every matching pattern.
    pub fn receivers(&self, kind: Kind, channel: &[u8]) -> Receivers {
        let mut receivers = Receivers {
            clients: 0,
            shards: vec![false; self.shards],
        };
        let mut add = |counts: &[u32]| {
            for (shard, &n) in counts.iter().enumerate() {
                receivers.clients += n as i64;
                receivers.shards[shard] |= n > 0;
            }
        };
        if let Some(counts) = self.by_kind[kind as usize].get(channel) {
            add(counts);
        }
        if kind == Kind::Channel {
            for (pattern, counts) in &self.by_kind[Kind::Pattern as usize] {
                if glob_match(pattern, channel, false) {
                    add(counts);
                }
            }
        }
        receivers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn receivers_count_channel_and_pattern_subscribers_on_every_shard() {
        let mut interest = Interest::new(3);
        interest.apply(Kind::Channel, 0, &[(b("news"), 1)]);
        interest.apply(Kind::Channel, 2, &[(b("news"), 2)]);
        interest.apply(Kind::Pattern, 1, &[(b("n*"), 1), (b("x*"), 1)]);
        let r = interest.receivers(Kind::Channel, b"news");
        assert_eq!((r.clients, r.shards), (4, vec![true, true, true]));
        interest.apply(Kind::Channel, 2, &[(b("news"), -2)]);
        let r = interest.receivers(Kind::Channel, b"news");
        assert_eq!((r.clients, r.shards), (2, vec![true, true, false]));
        interest.apply(Kind::Channel, 0, &[(b("news"), -1)]);
        assert!(interest.names(Kind::Channel, None).is_empty());
        assert_eq!(interest.len(Kind::Pattern), 2);
    }
}
