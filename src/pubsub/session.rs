//! A connection's side of pub/sub: subscribing, unsubscribing, leaving, and the RESP2 subscribed
//! mode that allows only a few commands.

use std::rc::Rc;

use bytes::Bytes;
use futures::channel::oneshot;

use super::{confirmation, Kind};
use crate::commands::CommandSpec;
use crate::protocol::Reply;
use crate::server::client::{Client, ClientHandle};
use crate::shard::Shard;

/// Subscribes the client to `names`; the reply is one confirmation per name. Returns once every
/// shard that publishes to them knows.
pub async fn subscribe(client: &Client, kind: Kind, names: &[Bytes]) -> Reply {
    let shard = &client.shard;
    let mut frames = Vec::with_capacity(names.len());
    let mut added = Vec::new();
    for name in names {
        let (new, count) = {
            let mut subs = client.handle.subscriptions.borrow_mut();
            let new = subs.add(kind, name);
            (new, subs.reply_count(kind))
        };
        if new {
            shard
                .pubsub
                .register(kind, name.clone(), client.handle.clone());
            added.push((name.clone(), 1));
        }
        frames.push(confirmation(kind.subscribe_word(), Some(name), count));
    }
    propagate(shard, kind, added).await;
    Reply::Frames(frames)
}

/// Unsubscribes the client from `names` (from all of its `kind` when empty); one confirmation per
/// name, or a single one with a nil name when there was nothing to leave.
pub async fn unsubscribe(
    shard: &Shard,
    client: &ClientHandle,
    kind: Kind,
    names: &[Bytes],
) -> Reply {
    let names = if names.is_empty() {
        client.subscriptions.borrow().names(kind)
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        let count = client.subscriptions.borrow().reply_count(kind);
        return Reply::Frames(vec![confirmation(kind.unsubscribe_word(), None, count)]);
    }
    let mut frames = Vec::with_capacity(names.len());
    let mut removed = Vec::new();
    for name in names {
        let (gone, count) = {
            let mut subs = client.subscriptions.borrow_mut();
            let gone = subs.remove(kind, &name);
            (gone, subs.reply_count(kind))
        };
        if gone {
            shard.pubsub.unregister(kind, &name, client.id);
        }
        frames.push(confirmation(kind.unsubscribe_word(), Some(&name), count));
        if gone {
            removed.push((name, -1));
        }
    }
    propagate(shard, kind, removed).await;
    Reply::Frames(frames)
}

/// Drops every subscription of a client that resets or goes away.
pub async fn forget_client(shard: &Shard, client: &ClientHandle) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        if client.subscriptions.borrow().len(kind) > 0 {
            unsubscribe(shard, client, kind, &[]).await;
        }
    }
}

/// Tells the shards that count subscriptions of `kind` about this shard's changes, and waits
/// until they applied them: every shard for channels and patterns, the slot's owner for shard
/// channels.
async fn propagate(shard: &Shard, kind: Kind, changes: Vec<(Bytes, i32)>) {
    if changes.is_empty() {
        return;
    }
    let mut per_shard: Vec<Vec<(Bytes, i32)>> = vec![Vec::new(); shard.shard_count()];
    if kind == Kind::Shard {
        for change in changes {
            per_shard[shard.owner_of(&change.0)].push(change);
        }
    } else {
        per_shard.iter_mut().for_each(|p| *p = changes.clone());
    }
    let from = shard.id;
    let calls = per_shard
        .into_iter()
        .enumerate()
        .filter(|(_, changes)| !changes.is_empty())
        .map(|(to, changes)| async move {
            if to == from {
                shard
                    .pubsub
                    .interest
                    .borrow_mut()
                    .apply(kind, from, &changes);
                return;
            }
            let (applied, done) = oneshot::channel();
            let task = Box::new(move |there: Rc<Shard>| {
                there
                    .pubsub
                    .interest
                    .borrow_mut()
                    .apply(kind, from, &changes);
                let _ = applied.send(());
            });
            shard.run_on(to, task).await;
            let _ = done.await;
        });
    futures::future::join_all(calls).await;
}

/// Commands a RESP2 client may send while subscribed.
const SUBSCRIBED_MODE_COMMANDS: &[&str] = &[
    "subscribe",
    "ssubscribe",
    "unsubscribe",
    "sunsubscribe",
    "psubscribe",
    "punsubscribe",
    "ping",
    "quit",
    "reset",
];

/// In RESP2 subscribed mode, the reply for a command that is refused, or for PING (a `pong`
/// array); `None` lets the command run.
pub fn gate(client: &Client, spec: &CommandSpec, args: &[Bytes]) -> Option<Reply> {
    if client.resp3() || !client.handle.subscriptions.borrow().any() {
        return None;
    }
    if spec.name == "ping" && args.len() <= 2 {
        let payload = args.get(1).cloned().unwrap_or_default();
        return Some(Reply::Array(vec![
            Reply::bulk_str("pong"),
            Reply::Bulk(payload),
        ]));
    }
    if SUBSCRIBED_MODE_COMMANDS.contains(&spec.name) {
        return None;
    }
    Some(Reply::error(format!(
        "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        spec.name
    )))
}
