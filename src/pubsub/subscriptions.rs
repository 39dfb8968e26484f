//! What one client is subscribed to: its channels, patterns and shard channels.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::Kind;

#[derive(Default)]
pub struct Subscriptions {
    by_kind: [BTreeSet<Bytes>; 3],
}

impl Subscriptions {
    /// Adds a subscription; false if the client had it already.
    pub fn add(&mut self, kind: Kind, name: &Bytes) -> bool {
        self.by_kind[kind as usize].insert(name.clone())
    }

    /// Removes a subscription; false if the client did not have it.
    pub fn remove(&mut self, kind: Kind, name: &[u8]) -> bool {
        self.by_kind[kind as usize].remove(name)
    }

    pub fn names(&self, kind: Kind) -> Vec<Bytes> {
        self.by_kind[kind as usize].iter().cloned().collect()
    }

    pub fn len(&self, kind: Kind) -> usize {
        self.by_kind[kind as usize].len()
    }

    /// The count subscribe/unsubscribe replies show: channels and patterns together, shard
    /// channels on their own (as Redis 7 counts them).
    pub fn reply_count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel | Kind::Pattern => self.len(Kind::Channel) + self.len(Kind::Pattern),
            Kind::Shard => self.len(Kind::Shard),
        }
    }

    /// Subscribed to anything: a RESP2 client is then in subscribed mode.
    pub fn any(&self) -> bool {
        self.by_kind.iter().any(|s| !s.is_empty())
    }
}
