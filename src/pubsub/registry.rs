//! The subscribers connected to this shard, by channel, pattern and shard channel.

use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;

use super::Kind;
use crate::server::client::ClientHandle;

type Subscribers = HashMap<Bytes, Vec<Rc<ClientHandle>>, ahash::RandomState>;

#[derive(Default)]
pub struct Registry {
    by_kind: [Subscribers; 3],
}

impl Registry {
    pub fn add(&mut self, kind: Kind, name: Bytes, client: Rc<ClientHandle>) {
        self.by_kind[kind as usize]
            .entry(name)
            .or_default()
            .push(client);
    }

    pub fn remove(&mut self, kind: Kind, name: &[u8], client_id: u64) {
        let map = &mut self.by_kind[kind as usize];
        if let Some(list) = map.get_mut(name) {
            list.retain(|c| c.id != client_id);
            if list.is_empty() {
                map.remove(name);
            }
        }
    }

    /// The clients subscribed to `name`, in subscription order.
    pub fn subscribers(&self, kind: Kind, name: &[u8]) -> &[Rc<ClientHandle>] {
        self.by_kind[kind as usize]
            .get(name)
            .map_or(&[], |list| list.as_slice())
    }

    /// Every pattern with subscribers here, and those subscribers.
    pub fn patterns(&self) -> impl Iterator<Item = (&Bytes, &[Rc<ClientHandle>])> {
        self.by_kind[Kind::Pattern as usize]
            .iter()
            .map(|(p, list)| (p, list.as_slice()))
    }
}
