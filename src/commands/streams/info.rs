//! XINFO STREAM [FULL], GROUPS and CONSUMERS.

use super::*;
use crate::commands::client::help_reply;

// ---- XINFO ----------------------------------------------------------------------------------

fn field(name: &'static str, value: Reply) -> (Reply, Reply) {
    (Reply::Bulk(Bytes::from_static(name.as_bytes())), value)
}

fn opt_int(n: Option<i64>) -> Reply {
    n.map_or(Reply::Nil, Reply::Int)
}

fn entry_or_nil(entry: Option<(&StreamId, &Fields)>) -> Reply {
    entry.map_or(Reply::Nil, |(id, f)| entry_reply(id, f))
}

/// Redis's radix tree counts: keys are listpack nodes (NODE_ENTRIES per node here), nodes one
/// more (an approximation: Keel has no radix tree).
fn radix_counts(stream: &Stream) -> (i64, i64) {
    let keys = stream.len().div_ceil(NODE_ENTRIES) as i64;
    (keys, keys + 1)
}

fn stream_header(stream: &Stream) -> Vec<(Reply, Reply)> {
    let (keys, nodes) = radix_counts(stream);
    let first_id = stream.first().map_or(StreamId::MIN, |(id, _)| *id);
    vec![
        field("length", Reply::Int(stream.len() as i64)),
        field("radix-tree-keys", Reply::Int(keys)),
        field("radix-tree-nodes", Reply::Int(nodes)),
        field("last-generated-id", id_reply(stream.last_id)),
        field("max-deleted-entry-id", id_reply(stream.max_deleted)),
        field("entries-added", Reply::Int(stream.entries_added as i64)),
        field("recorded-first-entry-id", id_reply(first_id)),
    ]
}

pub(super) fn xinfo_stream(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[2];
    let mut full_count = None;
    match &args[3..] {
        [] => {}
        [full] if full.eq_ignore_ascii_case(b"FULL") => full_count = Some(INFO_FULL_COUNT_DEFAULT),
        [full, name, n]
            if full.eq_ignore_ascii_case(b"FULL") && name.eq_ignore_ascii_case(b"COUNT") =>
        {
            let n = attempt!(parse_i64(n));
            full_count = Some(if n <= 0 { usize::MAX } else { n as usize });
        }
        _ => {
            return Reply::error(
                "ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP.",
            )
        }
    }
    let now = ctx.now_ms;
    let Some(stream) = attempt!(find_stream(ctx, key)) else {
        return Reply::error("ERR no such key");
    };
    let mut map = stream_header(stream);
    match full_count {
        None => {
            map.push(field("groups", Reply::Int(stream.groups.len() as i64)));
            map.push(field("first-entry", entry_or_nil(stream.first())));
            map.push(field("last-entry", entry_or_nil(stream.last())));
        }
        Some(count) => {
            let entries = stream.range(StreamId::MIN, StreamId::MAX).take(count);
            let entries = entries.map(|(id, f)| entry_reply(id, f)).collect();
            map.push(field("entries", Reply::Array(entries)));
            let groups = stream
                .groups
                .iter()
                .map(|(name, g)| group_full(stream, name, g, count, now));
            map.push(field("groups", Reply::Array(groups.collect())));
        }
    }
    Reply::Map(map)
}

fn group_full(stream: &Stream, name: &Bytes, group: &Group, count: usize, _now: u64) -> Reply {
    let pel = group.pel.iter().take(count).map(|(id, p)| {
        Reply::Array(vec![
            id_reply(*id),
            Reply::Bulk(p.consumer.clone()),
            Reply::Int(p.delivery_ms as i64),
            Reply::Int(p.delivery_count as i64),
        ])
    });
    let consumers = group.consumers.iter().map(|(cname, c)| {
        let pending = c.pel.iter().take(count).map(|id| {
            let p = &group.pel[id];
            Reply::Array(vec![
                id_reply(*id),
                Reply::Int(p.delivery_ms as i64),
                Reply::Int(p.delivery_count as i64),
            ])
        });
        Reply::Map(vec![
            field("name", Reply::Bulk(cname.clone())),
            field("seen-time", Reply::Int(c.seen_ms as i64)),
            field("pel-count", Reply::Int(c.pel.len() as i64)),
            field("pending", Reply::Array(pending.collect())),
        ])
    });
    Reply::Map(vec![
        field("name", Reply::Bulk(name.clone())),
        field("last-delivered-id", id_reply(group.last_id)),
        field(
            "entries-read",
            opt_int(group.entries_read.map(|n| n as i64)),
        ),
        field("lag", opt_int(stream.lag(group))),
        field("pel-count", Reply::Int(group.pel.len() as i64)),
        field("pending", Reply::Array(pel.collect())),
        field("consumers", Reply::Array(consumers.collect())),
    ])
}

pub(super) fn xinfo_groups(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(stream) = attempt!(find_stream(ctx, &args[2])) else {
        return Reply::error("ERR no such key");
    };
    let groups = stream.groups.iter().map(|(name, g)| {
        Reply::Map(vec![
            field("name", Reply::Bulk(name.clone())),
            field("consumers", Reply::Int(g.consumers.len() as i64)),
            field("pending", Reply::Int(g.pel.len() as i64)),
            field("last-delivered-id", id_reply(g.last_id)),
            field("entries-read", opt_int(g.entries_read.map(|n| n as i64))),
            field("lag", opt_int(stream.lag(g))),
        ])
    });
    Reply::Array(groups.collect())
}

pub(super) fn xinfo_consumers(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group) = (&args[2], &args[3]);
    let now = ctx.now_ms;
    let Some(stream) = attempt!(find_stream(ctx, key)) else {
        return Reply::error("ERR no such key");
    };
    let Some(g) = stream.groups.get(group) else {
        return no_such_group(key, group);
    };
    let consumers = g.consumers.iter().map(|(name, c)| {
        Reply::Map(vec![
            field("name", Reply::Bulk(name.clone())),
            field("pending", Reply::Int(c.pel.len() as i64)),
            field("idle", Reply::Int(now.saturating_sub(c.seen_ms) as i64)),
        ])
    });
    Reply::Array(consumers.collect())
}

pub(super) fn xinfo_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(&[
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
        "HELP",
        "    Prints this help.",
    ])
}
