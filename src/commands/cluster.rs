//! Cluster commands (Redis's cluster.c family): CLUSTER SLOTS/SHARDS/NODES/..., READONLY,
//! READWRITE, ASKING.
//!
//! With `cluster-enabled yes` the node presents itself as a Redis Cluster in which every shard is a
//! primary listening on its own port (`shard_port(i)`) and owning its contiguous slot range. There
//! is no cluster bus and there are no replicas: the topology is fixed for the life of the process,
//! so every epoch and message counter below is a constant.

use bytes::Bytes;
use futures::future::{ready, LocalBoxFuture};

use super::spec::*;
use super::{parse_i64, CommandSpec, Run};
use crate::config::Config;
use crate::protocol::Reply;
use crate::router::slot::{key_slot, SLOT_COUNT};
use crate::server::client::Client;
use crate::shard::{Ctx, Request, Shard};

const CLUSTER_ACL: &[&str] = &["@slow"];
const CONNECTION_FAST: &[&str] = &["@fast", "@connection"];

/// A `cluster|sub` entry; all of them share everything but name, arity, docs and run.
const SUB: CommandSpec = CommandSpec {
    flags: LOADING | STALE,
    acl: CLUSTER_ACL,
    group: "cluster",
    since: "3.0.0",
    ..BASE
};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "cluster",
        arity: -2,
        group: "cluster",
        summary: "A container for Redis Cluster commands.",
        since: "3.0.0",
        complexity: "Depends on subcommand.",
        run: Run::Parent,
        subcommands: CLUSTER_SUBCOMMANDS,
        ..BASE
    },
    CommandSpec {
        name: "readonly",
        arity: 1,
        flags: FAST | LOADING | STALE,
        acl: CONNECTION_FAST,
        group: "cluster",
        summary: "Enables read-only queries for a connection to a Redis Cluster replica node.",
        since: "3.0.0",
        run: Run::Local(ok_in_cluster),
        ..BASE
    },
    CommandSpec {
        name: "readwrite",
        arity: 1,
        flags: FAST | LOADING | STALE,
        acl: CONNECTION_FAST,
        group: "cluster",
        summary: "Enables read-write queries for a connection to a Reids Cluster replica node.",
        since: "3.0.0",
        run: Run::Local(ok_in_cluster),
        ..BASE
    },
    CommandSpec {
        name: "asking",
        arity: 1,
        flags: FAST,
        acl: CONNECTION_FAST,
        group: "cluster",
        summary: "Signals that a cluster client is following an -ASK redirect.",
        since: "3.0.0",
        run: Run::Local(ok_in_cluster),
        ..BASE
    },
];

static CLUSTER_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "cluster|slots",
        arity: 2,
        summary: "Returns the mapping of cluster slots to nodes.",
        complexity: "O(N) where N is the total number of Cluster nodes",
        run: Run::Local(slots),
        ..SUB
    },
    CommandSpec {
        name: "cluster|shards",
        arity: 2,
        summary: "Returns the mapping of cluster slots to shards.",
        since: "7.0.0",
        complexity: "O(N) where N is the total number of cluster nodes",
        run: Run::Local(shards),
        ..SUB
    },
    CommandSpec {
        name: "cluster|nodes",
        arity: 2,
        summary: "Returns the cluster configuration for a node.",
        complexity: "O(N) where N is the total number of Cluster nodes",
        run: Run::Local(nodes),
        ..SUB
    },
    CommandSpec {
        name: "cluster|myid",
        arity: 2,
        summary: "Returns the ID of a node.",
        run: Run::Local(myid),
        ..SUB
    },
    CommandSpec {
        name: "cluster|myshardid",
        arity: 2,
        summary: "Returns the shard ID of a node.",
        since: "7.2.0",
        run: Run::Local(myid),
        ..SUB
    },
    CommandSpec {
        name: "cluster|info",
        arity: 2,
        summary: "Returns information about the state of a node.",
        run: Run::Local(info),
        ..SUB
    },
    CommandSpec {
        name: "cluster|keyslot",
        arity: 3,
        summary: "Returns the hash slot for a key.",
        complexity: "O(N) where N is the number of bytes in the key",
        run: Run::Local(keyslot),
        ..SUB
    },
    CommandSpec {
        name: "cluster|countkeysinslot",
        arity: 3,
        flags: STALE,
        summary: "Returns the number of keys in a hash slot.",
        run: Run::Client(countkeysinslot),
        ..SUB
    },
    CommandSpec {
        name: "cluster|getkeysinslot",
        arity: 4,
        flags: STALE,
        summary: "Returns the key names in a hash slot.",
        complexity: "O(N) where N is the number of requested keys",
        run: Run::Client(getkeysinslot),
        ..SUB
    },
    CommandSpec {
        name: "cluster|help",
        arity: 2,
        summary: "Returns helpful text about the different subcommands.",
        since: "5.0.0",
        run: Run::Local(help),
        ..SUB
    },
];

/// Private: counts the keys of one slot on the shard that owns it. Args: `[name, slot]`.
static COUNT_IN_SLOT: CommandSpec = CommandSpec {
    name: "cluster|countkeysinslot",
    run: Run::Local(count_in_slot_here),
    ..SUB
};

/// Private: lists up to `count` keys of one slot on the shard that owns it. Args:
/// `[name, slot, count]`.
static KEYS_IN_SLOT: CommandSpec = CommandSpec {
    name: "cluster|getkeysinslot",
    run: Run::Local(keys_in_slot_here),
    ..SUB
};

fn cluster_disabled() -> Reply {
    Reply::error("ERR This instance has cluster support disabled")
}

/// The answer when cluster mode is off, as a non-cluster Redis gives it; `None` when it is on.
fn refuse_unless_cluster(shard: &Shard) -> Option<Reply> {
    (!shard.config.borrow().cluster_enabled).then(cluster_disabled)
}

/// READONLY, READWRITE, ASKING: there are no replicas and no slot migrations, so each is a no-op.
fn ok_in_cluster(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    refuse_unless_cluster(ctx.shard).unwrap_or_else(Reply::ok)
}

/// One primary of the presented cluster: a shard, as clients see it.
struct ClusterNode<'a> {
    id: &'a str,
    ip: String,
    port: u16,
    slots: std::ops::Range<u16>,
    /// Each shard gets its own config epoch (1-based), as `redis-cli --cluster create` leaves them.
    epoch: usize,
}

impl ClusterNode<'_> {
    /// The cluster bus port Redis would use: port + 10000, or 0 where that does not exist.
    fn bus_port(&self) -> u16 {
        self.port.checked_add(10000).unwrap_or(0)
    }

    /// The last slot, inclusive, as CLUSTER replies print ranges.
    fn last_slot(&self) -> u16 {
        self.slots.end - 1
    }
}

fn cluster_nodes(shard: &Shard) -> Vec<ClusterNode<'_>> {
    let config = shard.config.borrow();
    (0..shard.shard_count())
        .map(|i| cluster_node(shard, &config, i))
        .collect()
}

fn cluster_node<'a>(shard: &'a Shard, config: &Config, i: usize) -> ClusterNode<'a> {
    ClusterNode {
        id: &shard.node.node_ids[i],
        ip: config.announce_ip(),
        port: config.shard_port(i),
        slots: shard.node.slots.range(i),
        epoch: i + 1,
    }
}

fn slots(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if let Some(refused) = refuse_unless_cluster(ctx.shard) {
        return refused;
    }
    let ranges = cluster_nodes(ctx.shard)
        .into_iter()
        .map(|node| {
            Reply::Array(vec![
                Reply::Int(node.slots.start.into()),
                Reply::Int(node.last_slot().into()),
                Reply::Array(vec![
                    Reply::bulk_str(&node.ip),
                    Reply::Int(node.port.into()),
                    Reply::bulk_str(node.id),
                    // Extra networking metadata (hostname); none here.
                    Reply::Map(Vec::new()),
                ]),
            ])
        })
        .collect();
    Reply::Array(ranges)
}

fn shards(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if let Some(refused) = refuse_unless_cluster(ctx.shard) {
        return refused;
    }
    let field = |name: &str, value: Reply| (Reply::bulk_str(name), value);
    let shards = cluster_nodes(ctx.shard)
        .into_iter()
        .map(|node| {
            let description = Reply::Map(vec![
                field("id", Reply::bulk_str(node.id)),
                field("port", Reply::Int(node.port.into())),
                field("ip", Reply::bulk_str(&node.ip)),
                field("endpoint", Reply::bulk_str(&node.ip)),
                field("role", Reply::bulk_str("master")),
                field("replication-offset", Reply::Int(0)),
                field("health", Reply::bulk_str("online")),
            ]);
            Reply::Map(vec![
                field(
                    "slots",
                    Reply::Array(vec![
                        Reply::Int(node.slots.start.into()),
                        Reply::Int(node.last_slot().into()),
                    ]),
                ),
                field("nodes", Reply::Array(vec![description])),
            ])
        })
        .collect();
    Reply::Array(shards)
}

/// CLUSTER NODES: one line per node, `\n`-terminated, the connection's own shard marked `myself`.
fn nodes(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if let Some(refused) = refuse_unless_cluster(ctx.shard) {
        return refused;
    }
    let me = ctx.shard.id;
    let mut text = String::new();
    for (i, node) in cluster_nodes(ctx.shard).iter().enumerate() {
        let flags = if i == me { "myself,master" } else { "master" };
        let range = if node.slots.len() == 1 {
            node.slots.start.to_string()
        } else {
            format!("{}-{}", node.slots.start, node.last_slot())
        };
        text.push_str(&format!(
            "{} {}:{}@{} {flags} - 0 0 {} connected {range}\n",
            node.id,
            node.ip,
            node.port,
            node.bus_port(),
            node.epoch
        ));
    }
    Reply::Verbatim(text)
}

/// CLUSTER MYID, and CLUSTER MYSHARDID: each shard of the presented cluster holds exactly one
/// node, so the node's id serves as its shard's id too (unique, and stable while the node runs).
fn myid(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if let Some(refused) = refuse_unless_cluster(ctx.shard) {
        return refused;
    }
    Reply::bulk_str(&ctx.shard.node.node_ids[ctx.shard.id])
}

fn info(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if let Some(refused) = refuse_unless_cluster(ctx.shard) {
        return refused;
    }
    let nodes = ctx.shard.shard_count();
    let fields: &[(&str, usize)] = &[
        ("cluster_slots_assigned", SLOT_COUNT),
        ("cluster_slots_ok", SLOT_COUNT),
        ("cluster_slots_pfail", 0),
        ("cluster_slots_fail", 0),
        ("cluster_known_nodes", nodes),
        ("cluster_size", nodes),
        ("cluster_current_epoch", nodes),
        ("cluster_my_epoch", ctx.shard.id + 1),
        ("cluster_stats_messages_sent", 0),
        ("cluster_stats_messages_received", 0),
        ("total_cluster_links_buffer_limit_exceeded", 0),
    ];
    let mut text = String::from("cluster_state:ok\r\n");
    for (name, value) in fields {
        text.push_str(&format!("{name}:{value}\r\n"));
    }
    Reply::Verbatim(text)
}

fn keyslot(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Some(refused) = refuse_unless_cluster(ctx.shard) {
        return refused;
    }
    Reply::Int(key_slot(&args[2]).into())
}

/// Parses a slot number as COUNTKEYSINSLOT/GETKEYSINSLOT do: `None` when out of range.
fn parse_slot(arg: &[u8]) -> Result<Option<u16>, Reply> {
    let slot = parse_i64(arg)?;
    Ok(u16::try_from(slot)
        .ok()
        .filter(|&s| (s as usize) < SLOT_COUNT))
}

/// Runs one private request on the shard owning `slot` and returns its reply.
async fn ask_owner(
    client: &Client,
    slot: u16,
    spec: &'static CommandSpec,
    args: Vec<Bytes>,
) -> Reply {
    let owner = client.shard.node.slots.owner(slot);
    let request = Request {
        spec,
        db: client.db(),
        resp3: client.resp3(),
        args,
    };
    client
        .shard
        .exec_on(owner, vec![request], None)
        .await
        .pop()
        .unwrap_or(Reply::error("ERR shard did not answer"))
}

fn countkeysinslot(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    if let Some(refused) = refuse_unless_cluster(&client.shard) {
        return Box::pin(ready(refused));
    }
    let slot = match parse_slot(&args[2]) {
        Err(e) => return Box::pin(ready(e)),
        Ok(None) => return Box::pin(ready(Reply::error("ERR Invalid slot"))),
        Ok(Some(slot)) => slot,
    };
    Box::pin(async move { ask_owner(client, slot, &COUNT_IN_SLOT, args).await })
}

fn getkeysinslot(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    if let Some(refused) = refuse_unless_cluster(&client.shard) {
        return Box::pin(ready(refused));
    }
    // Redis parses both numbers before checking either's range.
    let parsed = parse_slot(&args[2]).and_then(|slot| Ok((slot, parse_i64(&args[3])?)));
    let slot = match parsed {
        Err(e) => return Box::pin(ready(e)),
        Ok((Some(slot), count)) if count >= 0 => slot,
        Ok(_) => return Box::pin(ready(Reply::error("ERR Invalid slot or number of keys"))),
    };
    Box::pin(async move { ask_owner(client, slot, &KEYS_IN_SLOT, args).await })
}

/// The slot argument of a private request, already checked by the coordinator.
fn checked_slot(args: &[Bytes]) -> u16 {
    let slot = parse_slot(&args[2]).ok().flatten();
    slot.expect("the coordinator checked the slot")
}

fn count_in_slot_here(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let slot = checked_slot(args);
    Reply::Int(ctx.db().keys_in_slot_count(slot) as i64)
}

fn keys_in_slot_here(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let slot = checked_slot(args);
    let count = parse_i64(&args[3]).map_or(0, |n| n.max(0) as usize);
    let keys = ctx.db().keys_in_slot(slot, count);
    Reply::Array(keys.into_iter().map(Reply::Bulk).collect())
}

const HELP_LINES: &[&str] = &[
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MYID",
    "    Return the node id.",
    "MYSHARDID",
    "    Return the node's shard id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port@cport[,hostname]> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "HELP",
    "    Prints this help.",
];

fn help(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if let Some(refused) = refuse_unless_cluster(ctx.shard) {
        return refused;
    }
    Reply::Array(HELP_LINES.iter().map(|&line| Reply::Status(line)).collect())
}
