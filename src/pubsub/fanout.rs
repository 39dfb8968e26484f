//! Messages for subscribers on other shards: queued per destination shard and sent as one mesh
//! message per destination with everything queued meanwhile, by one task per destination, so that
//! messages reach each shard in the order they were published here.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bytes::Bytes;

use super::Kind;
use crate::runtime;
use crate::shard::Shard;

/// Deliveries queued for one shard past which new ones are dropped (and logged): reached only if
/// that shard stops taking messages, since each batch is delivered there at once.
const QUEUED_DELIVERIES_MAX: usize = 1_000_000;

/// One published message for the subscribers of one shard.
pub struct Delivery {
    pub kind: Kind,
    pub channel: Bytes,
    pub payload: Bytes,
}

pub struct Fanout {
    queues: Vec<RefCell<Vec<Delivery>>>,
    sending: Vec<Cell<bool>>,
}

impl Fanout {
    pub fn new(shards: usize) -> Fanout {
        Fanout {
            queues: (0..shards).map(|_| RefCell::default()).collect(),
            sending: (0..shards).map(|_| Cell::new(false)).collect(),
        }
    }

    /// Queues `delivery` for shard `to`, starting its sender task if it is idle.
    pub fn enqueue(&self, shard: &Shard, to: usize, delivery: Delivery) {
        {
            let mut queue = self.queues[to].borrow_mut();
            if queue.len() >= QUEUED_DELIVERIES_MAX {
                log::warn!("pub/sub: shard {to} is not taking messages; one dropped");
                return;
            }
            queue.push(delivery);
        }
        // The sender may start running at once: no borrow of the queue is held here.
        if !self.sending[to].replace(true) {
            runtime::spawn_local(send_queued(shard.rc(), to)).detach();
        }
    }
}

/// Sends shard `to` everything queued for it, batch after batch, until the queue is empty.
async fn send_queued(shard: Rc<Shard>, to: usize) {
    let fanout = &shard.pubsub.fanout;
    loop {
        let batch = std::mem::take(&mut *fanout.queues[to].borrow_mut());
        if batch.is_empty() {
            fanout.sending[to].set(false);
            return;
        }
        let task = Box::new(move |there: Rc<Shard>| {
            for delivery in &batch {
                there.pubsub.deliver_here(&there, delivery);
            }
        });
        shard.run_on(to, task).await;
    }
}
