//! Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, the sharded
//! SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, and PUBSUB's introspection. The machinery is in
//! `crate::pubsub`.

use bytes::Bytes;
use futures::future::{ready, LocalBoxFuture};

use super::client::help_reply;
use super::spec::*;
use super::{CommandSpec, Run};
use crate::protocol::Reply;
use crate::pubsub::{self, Kind};
use crate::router::cluster_refusal;
use crate::server::client::Client;
use crate::shard::Ctx;

const PUBSUB_SLOW: &[&str] = &["@pubsub", "@slow"];
const PUBSUB_FAST: &[&str] = &["@pubsub", "@fast"];
const SUBSCRIBE_FLAGS: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;

const PUBSUB_CMD: CommandSpec = CommandSpec {
    flags: SUBSCRIBE_FLAGS,
    acl: PUBSUB_SLOW,
    group: "pubsub",
    since: "2.0.0",
    complexity: "O(N) where N is the number of channels to subscribe to.",
    ..BASE
};

const fn pubsub_sub(name: &'static str, summary: &'static str, run: Run) -> CommandSpec {
    CommandSpec {
        name,
        arity: -2,
        flags: PUBSUB | LOADING | STALE,
        acl: PUBSUB_SLOW,
        group: "pubsub",
        summary,
        since: "2.8.0",
        complexity: "O(N) where N is the number of active channels or channels asked for",
        run,
        ..BASE
    }
}

static PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    pubsub_sub(
        "pubsub|channels",
        "Returns the active channels.",
        Run::Local(channels),
    ),
    CommandSpec {
        arity: 2,
        ..pubsub_sub(
            "pubsub|numpat",
            "Returns a count of unique pattern subscriptions.",
            Run::Local(numpat),
        )
    },
    pubsub_sub(
        "pubsub|numsub",
        "Returns a count of subscribers to channels.",
        Run::Local(numsub),
    ),
    CommandSpec {
        since: "7.0.0",
        ..pubsub_sub(
            "pubsub|shardchannels",
            "Returns the active shard channels.",
            Run::Broadcast {
                exec: shardchannels,
                merge: concat,
            },
        )
    },
    CommandSpec {
        since: "7.0.0",
        ..pubsub_sub(
            "pubsub|shardnumsub",
            "Returns the count of subscribers of shard channels.",
            Run::Broadcast {
                exec: shardnumsub,
                merge: sum_counts,
            },
        )
    },
    CommandSpec {
        arity: 2,
        flags: LOADING | STALE,
        ..pubsub_sub(
            "pubsub|help",
            "Returns helpful text about the different subcommands.",
            Run::Local(help),
        )
    },
];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "subscribe",
        arity: -2,
        summary: "Listens for messages published to channels.",
        run: Run::Client(subscribe),
        ..PUBSUB_CMD
    },
    CommandSpec {
        name: "unsubscribe",
        arity: -1,
        summary: "Stops listening to messages posted to channels.",
        run: Run::Client(unsubscribe),
        ..PUBSUB_CMD
    },
    CommandSpec {
        name: "psubscribe",
        arity: -2,
        summary: "Listens for messages published to channels that match one or more patterns.",
        complexity: "O(N) where N is the number of patterns to subscribe to.",
        run: Run::Client(psubscribe),
        ..PUBSUB_CMD
    },
    CommandSpec {
        name: "punsubscribe",
        arity: -1,
        summary: "Stops listening to messages published to channels that match one or more patterns.",
        complexity: "O(N) where N is the number of patterns to unsubscribe.",
        run: Run::Client(punsubscribe),
        ..PUBSUB_CMD
    },
    CommandSpec {
        name: "publish",
        arity: 3,
        flags: PUBSUB | LOADING | STALE | FAST,
        acl: PUBSUB_FAST,
        summary: "Posts a message to a channel.",
        complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
        run: Run::Local(publish),
        ..PUBSUB_CMD
    },
    CommandSpec {
        name: "ssubscribe",
        arity: -2,
        keys: ALL_KEYS,
        since: "7.0.0",
        summary: "Listens for messages published to shard channels.",
        complexity: "O(N) where N is the number of shard channels to subscribe to.",
        run: Run::Client(ssubscribe),
        ..PUBSUB_CMD
    },
    CommandSpec {
        name: "sunsubscribe",
        arity: -1,
        keys: ALL_KEYS,
        since: "7.0.0",
        summary: "Stops listening to messages posted to shard channels.",
        complexity: "O(N) where N is the number of shard channels to unsubscribe.",
        run: Run::Client(sunsubscribe),
        ..PUBSUB_CMD
    },
    CommandSpec {
        name: "spublish",
        arity: 3,
        flags: PUBSUB | LOADING | STALE | FAST,
        keys: KEY1,
        acl: PUBSUB_FAST,
        since: "7.0.0",
        summary: "Post a message to a shard channel",
        complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel.",
        run: keyed(spublish),
        ..PUBSUB_CMD
    },
    container(
        "pubsub",
        "pubsub",
        "A container for Pub/Sub commands.",
        "2.8.0",
        PUBSUB_SUBCOMMANDS,
    ),
];

fn subscribe(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move { pubsub::subscribe(client, Kind::Channel, &args[1..]).await })
}

fn psubscribe(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move { pubsub::subscribe(client, Kind::Pattern, &args[1..]).await })
}

fn ssubscribe(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    if let Err(refused) = check_cluster_slot(client, &args[1..]) {
        return Box::pin(ready(refused));
    }
    Box::pin(async move { pubsub::subscribe(client, Kind::Shard, &args[1..]).await })
}

fn unsubscribe(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    leave(client, Kind::Channel, args)
}

fn punsubscribe(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    leave(client, Kind::Pattern, args)
}

fn sunsubscribe(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    if let Err(refused) = check_cluster_slot(client, &args[1..]) {
        return Box::pin(ready(refused));
    }
    leave(client, Kind::Shard, args)
}

fn leave(client: &mut Client, kind: Kind, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(
        async move { pubsub::unsubscribe(&client.shard, &client.handle, kind, &args[1..]).await },
    )
}

/// On a cluster shard port, shard channels must share one slot, owned by this shard.
fn check_cluster_slot(client: &Client, channels: &[Bytes]) -> Result<(), Reply> {
    match cluster_refusal(client, channels.iter().map(|c| &c[..])) {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

fn publish(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let shard = ctx.shard;
    Reply::Int(
        shard
            .pubsub
            .publish(shard, Kind::Channel, &args[1], &args[2]),
    )
}

fn spublish(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let shard = ctx.shard;
    Reply::Int(shard.pubsub.publish(shard, Kind::Shard, &args[1], &args[2]))
}

/// Redis answers a wrong argument count of some PUBSUB subcommands from the command itself.
fn pubsub_syntax_error(args: &[Bytes]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
        String::from_utf8_lossy(&args[1])
    ))
}

fn active_names(ctx: &Ctx, kind: Kind, args: &[Bytes]) -> Reply {
    if args.len() > 3 {
        return pubsub_syntax_error(args);
    }
    let names = ctx
        .shard
        .pubsub
        .interest
        .borrow()
        .names(kind, args.get(2).map(|p| &p[..]));
    Reply::Array(names.into_iter().map(Reply::Bulk).collect())
}

fn channels(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    active_names(ctx, Kind::Channel, args)
}

/// Each shard lists the shard channels of its own slots.
fn shardchannels(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    active_names(ctx, Kind::Shard, args)
}

fn numpat(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Int(ctx.shard.pubsub.interest.borrow().len(Kind::Pattern) as i64)
}

fn counts(ctx: &Ctx, kind: Kind, args: &[Bytes]) -> Reply {
    let interest = ctx.shard.pubsub.interest.borrow();
    let mut reply = Vec::with_capacity((args.len() - 2) * 2);
    for name in &args[2..] {
        reply.push(Reply::Bulk(name.clone()));
        reply.push(Reply::Int(interest.count(kind, name)));
    }
    Reply::Array(reply)
}

fn numsub(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    counts(ctx, Kind::Channel, args)
}

/// Each shard counts the shard channels of its own slots (0 for others); the merge adds them up.
fn shardnumsub(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    counts(ctx, Kind::Shard, args)
}

fn concat(replies: Vec<Reply>, _args: &[Bytes]) -> Reply {
    let mut all = Vec::new();
    for reply in replies {
        match reply {
            Reply::Array(items) => all.extend(items),
            error => return error,
        }
    }
    Reply::Array(all)
}

fn sum_counts(replies: Vec<Reply>, _args: &[Bytes]) -> Reply {
    let mut total: Option<Vec<Reply>> = None;
    for reply in replies {
        let Reply::Array(items) = reply else {
            return reply;
        };
        match &mut total {
            None => total = Some(items),
            Some(total) => {
                for (sum, item) in total.iter_mut().zip(items) {
                    if let (Reply::Int(a), Reply::Int(b)) = (sum, item) {
                        *a += b;
                    }
                }
            }
        }
    }
    Reply::Array(total.unwrap_or_default())
}

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(HELP)
}
