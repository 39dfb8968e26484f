//! Pub/Sub: channels, patterns and shard channels, delivered to subscribers on every shard.
//!
//! A subscriber is registered on the shard its connection lives on (`registry`); every shard knows
//! how many subscribers each channel and pattern has on each shard (`interest`), so a PUBLISH runs
//! on the publisher's own shard: it delivers to local subscribers at once, queues one delivery per
//! other shard with receivers (`fanout`) and answers the node-wide receiver count. Shard channels
//! (SSUBSCRIBE/SPUBLISH) are counted on the shard owning the channel's slot only, where SPUBLISH
//! runs. Keyspace notifications (`notify`) publish through the same path.

mod fanout;
mod frame;
mod interest;
mod keymiss;
pub mod notify;
mod registry;
mod session;
mod subscriptions;

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;

pub use frame::confirmation;
pub use session::{forget_client, gate, subscribe, unsubscribe};
pub use subscriptions::Subscriptions;

use crate::config::pubsub::ClientClass;
use crate::keyspace::pattern::glob_match;
use crate::server::client::ClientHandle;
use crate::shard::Shard;
use fanout::{Delivery, Fanout};
use frame::Frame;
use interest::Interest;
use registry::Registry;

/// What a subscription is to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel = 0,
    Pattern = 1,
    Shard = 2,
}

impl Kind {
    pub fn subscribe_word(self) -> &'static str {
        ["subscribe", "psubscribe", "ssubscribe"][self as usize]
    }

    pub fn unsubscribe_word(self) -> &'static str {
        ["unsubscribe", "punsubscribe", "sunsubscribe"][self as usize]
    }
}

/// One shard's pub/sub state.
pub struct PubSub {
    registry: RefCell<Registry>,
    pub interest: RefCell<Interest>,
    fanout: Fanout,
    /// Keyspace events waiting to be published (see `notify`).
    held: notify::Held,
}

impl PubSub {
    pub fn new(shards: usize) -> PubSub {
        PubSub {
            registry: RefCell::default(),
            interest: RefCell::new(Interest::new(shards)),
            fanout: Fanout::new(shards),
            held: notify::Held::default(),
        }
    }

    /// Publishes `payload` to `channel` (a plain or shard channel) from this shard; returns how
    /// many clients receive it, on every shard.
    pub fn publish(&self, shard: &Shard, kind: Kind, channel: &Bytes, payload: &Bytes) -> i64 {
        let receivers = self.interest.borrow().receivers(kind, channel);
        for (to, _) in receivers.shards.iter().enumerate().filter(|(_, &r)| r) {
            let delivery = Delivery {
                kind,
                channel: channel.clone(),
                payload: payload.clone(),
            };
            if to == shard.id {
                self.deliver_here(shard, &delivery);
            } else {
                self.fanout.enqueue(shard, to, delivery);
            }
        }
        receivers.clients
    }

    /// Pushes a published message to this shard's subscribers of its channel and of the patterns
    /// matching it.
    fn deliver_here(&self, shard: &Shard, delivery: &Delivery) {
        let limit = shard.config.borrow().client_output_buffer_limit[ClientClass::PubSub as usize];
        let registry = self.registry.borrow();
        let Delivery {
            kind,
            channel,
            payload,
        } = delivery;
        let word = if *kind == Kind::Shard {
            "smessage"
        } else {
            "message"
        };
        let subscribers = registry.subscribers(*kind, channel);
        if !subscribers.is_empty() {
            let frame = Frame::message(word, channel, payload);
            subscribers.iter().for_each(|c| push(c, &frame, limit));
        }
        if *kind == Kind::Channel {
            for (pattern, subscribers) in registry.patterns() {
                if glob_match(pattern, channel, false) {
                    let frame = Frame::pmessage(pattern, channel, payload);
                    subscribers.iter().for_each(|c| push(c, &frame, limit));
                }
            }
        }
    }

    fn register(&self, kind: Kind, name: Bytes, client: Rc<ClientHandle>) {
        self.registry.borrow_mut().add(kind, name, client);
    }

    fn unregister(&self, kind: Kind, name: &[u8], client_id: u64) {
        self.registry.borrow_mut().remove(kind, name, client_id);
    }
}

/// Queues `frame` for `client`; a client over its output limit is disconnected, as in Redis.
fn push(client: &ClientHandle, frame: &Frame, limit: crate::config::pubsub::OutputLimit) {
    if client.outbox.is_closed() {
        return;
    }
    let resp3 = client.info.borrow().resp == 3;
    if !client.outbox.push(Frame::kind(resp3), &frame.body, limit) {
        log::warn!(
            "closing client {} ({}): pubsub output over client-output-buffer-limit",
            client.id,
            client.addr
        );
        client.kill();
    }
}
