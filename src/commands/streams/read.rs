//! XREAD and XREADGROUP: reads of one or many streams (on one shard or several), blocking reads
//! through `shard::blocking`, and their forms inside MULTI.

use super::*;

// ---- XREAD, XREADGROUP ----------------------------------------------------------------------

/// A parsed XREAD / XREADGROUP: options, keys and their IDs (as given).
struct ReadQuery {
    count: usize,
    /// GROUP group consumer (XREADGROUP).
    group: Option<(Bytes, Bytes)>,
    noack: bool,
    /// BLOCK milliseconds (0: forever).
    block_ms: Option<u64>,
    keys: Vec<Bytes>,
    ids: Vec<Bytes>,
}

impl ReadQuery {
    fn parse(args: &[Bytes], with_group: bool) -> Result<ReadQuery, Reply> {
        let mut query = ReadQuery {
            count: 0,
            group: None,
            noack: false,
            block_ms: None,
            keys: Vec::new(),
            ids: Vec::new(),
        };
        let mut i = 1;
        let streams_at = loop {
            let Some(arg) = args.get(i) else {
                return Err(syntax_error());
            };
            let more = args.len() - i - 1;
            match arg.to_ascii_uppercase().as_slice() {
                b"STREAMS" => break i + 1,
                b"COUNT" if more >= 1 => {
                    query.count = parse_i64(&args[i + 1])?.max(0) as usize;
                    i += 2;
                }
                b"BLOCK" if more >= 1 => {
                    let timeout = parse_i64(&args[i + 1]).map_err(|_| {
                        Reply::error("ERR timeout is not an integer or out of range")
                    })?;
                    if timeout < 0 {
                        return Err(Reply::error("ERR timeout is negative"));
                    }
                    query.block_ms = Some(timeout as u64);
                    i += 2;
                }
                b"GROUP" if with_group && more >= 2 => {
                    query.group = Some((args[i + 1].clone(), args[i + 2].clone()));
                    i += 3;
                }
                b"NOACK" if with_group => {
                    query.noack = true;
                    i += 1;
                }
                _ => return Err(syntax_error()),
            }
        };
        let rest = &args[streams_at..];
        if rest.is_empty() || !rest.len().is_multiple_of(2) {
            let (command, special) = if with_group {
                ("XREADGROUP", '>')
            } else {
                ("XREAD", '$')
            };
            return Err(Reply::error(format!("ERR Unbalanced {command} list of streams: for each stream key an ID or '{special}' must be specified.")));
        }
        if with_group && query.group.is_none() {
            return Err(Reply::error("ERR Missing GROUP option for XREADGROUP"));
        }
        let half = rest.len() / 2;
        query.keys = rest[..half].to_vec();
        query.ids = rest[half..].to_vec();
        for id in &query.ids {
            query.check_id(id)?;
        }
        Ok(query)
    }

    fn check_id(&self, id: &[u8]) -> Result<(), Reply> {
        match (id, self.group.is_some()) {
            (b"$", false) | (b">", true) => Ok(()),
            (b"$", true) => Err(Reply::error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")),
            (b">", false) => Err(Reply::error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")),
            _ => parse_id(id).map(|_| ()),
        }
    }

    /// The arguments of a shard's step for the keys at `positions`.
    fn step_args(&self, name: &'static str, positions: &[usize]) -> Vec<Bytes> {
        let mut args = vec![Bytes::from_static(name.as_bytes())];
        args.push(Bytes::from(self.count.to_string()));
        if let Some((group, consumer)) = &self.group {
            args.push(group.clone());
            args.push(consumer.clone());
            args.push(Bytes::from_static(if self.noack { b"1" } else { b"0" }));
        }
        args.extend(positions.iter().map(|&p| self.keys[p].clone()));
        args.extend(positions.iter().map(|&p| self.ids[p].clone()));
        args
    }
}

/// XREAD on one shard: `xread-step count key... id...`; replies [[key, entries]...] for the keys
/// with entries after their ID.
static XREAD_STEP: CommandSpec = CommandSpec {
    name: "xread-step",
    arity: -4,
    flags: READONLY,
    keys: Keys::None,
    acl: STREAM_READ_SLOW,
    run: keyed(xread_step),
    ..STREAM
};

/// XREADGROUP on one shard: `xreadgroup-step count group consumer noack key... id...`.
static XREADGROUP_STEP: CommandSpec = CommandSpec {
    name: "xreadgroup-step",
    arity: -7,
    flags: WRITE,
    keys: Keys::None,
    acl: STREAM_WRITE_SLOW,
    run: keyed(xreadgroup_step),
    ..STREAM
};

/// Checks, under a transaction's locks, that the key is a stream with the group:
/// `xreadgroup-check key group`.
static XREADGROUP_CHECK: CommandSpec = CommandSpec {
    name: "xreadgroup-check",
    arity: 3,
    flags: READONLY,
    acl: STREAM_READ_SLOW,
    run: keyed(xreadgroup_check),
    ..STREAM
};

fn split_keys(args: &[Bytes]) -> (&[Bytes], &[Bytes]) {
    args.split_at(args.len() / 2)
}

fn xread_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let count = attempt!(parse_i64(&args[1])) as usize;
    let (keys, ids) = split_keys(&args[2..]);
    let mut found = Vec::new();
    for (key, id) in keys.iter().zip(ids) {
        let Some(stream) = attempt!(find_stream(ctx, key)) else {
            continue;
        };
        let after = match id.as_ref() {
            b"$" => stream.last_id,
            _ => attempt!(parse_id(id)),
        };
        let Some(start) = after.next() else {
            continue;
        };
        let entries: Vec<Reply> = stream
            .range(start, StreamId::MAX)
            .take(if count == 0 { usize::MAX } else { count })
            .map(|(id, f)| entry_reply(id, f))
            .collect();
        if !entries.is_empty() {
            found.push(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Array(entries),
            ]));
        }
    }
    Reply::Array(found)
}

fn xreadgroup_check(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let suffix = " in XREADGROUP with GROUP option";
    attempt!(find_group(ctx, &args[1], &args[2], suffix));
    Reply::ok()
}

fn xreadgroup_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let count = attempt!(parse_i64(&args[1])) as usize;
    let count = if count == 0 { usize::MAX } else { count };
    let (group, consumer) = (&args[2], &args[3]);
    let noack = args[4].as_ref() == b"1";
    let (keys, ids) = split_keys(&args[5..]);
    let suffix = " in XREADGROUP with GROUP option";
    for key in keys {
        attempt!(find_group(ctx, key, group, suffix));
    }
    // Redis serves a key (creating the consumer) for a history read, or for `>` when the group
    // has not yet been delivered the stream's last entry.
    let serves: Vec<bool> = keys
        .iter()
        .zip(ids)
        .map(|(key, id)| id.as_ref() != b">" || has_new_for_group(ctx, key, group))
        .collect();
    if !serves.contains(&true) || !ctx.shard.blocking.claim() {
        return Reply::Array(Vec::new());
    }
    let mut found = Vec::new();
    for ((key, id), _) in keys.iter().zip(ids).zip(serves).filter(|(_, s)| *s) {
        touch_consumer(ctx, key, group, consumer);
        let entries = if id.as_ref() == b">" {
            deliver_new(ctx, key, group, consumer, count, noack)
        } else {
            let start = attempt!(parse_id(id));
            Some(deliver_history(ctx, key, group, consumer, start, count))
        };
        if let Some(entries) = entries {
            found.push(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Array(entries),
            ]));
        }
    }
    Reply::Array(found)
}

/// Whether the stream at `key` has an entry after `group`'s last-delivered ID (its last ID is
/// past it; the entries after it may have been deleted since).
fn has_new_for_group(ctx: &mut Ctx, key: &Bytes, group: &Bytes) -> bool {
    find_group(ctx, key, group, "").is_ok_and(|(stream, g)| stream.last_id > g.last_id)
}

/// Delivers up to `count` entries after the group's last-delivered ID to `consumer`; `None` when
/// there are none.
fn deliver_new(
    ctx: &mut Ctx,
    key: &Bytes,
    group_name: &Bytes,
    consumer: &Bytes,
    count: usize,
    noack: bool,
) -> Option<Vec<Reply>> {
    let now = ctx.now_ms;
    let (stream, group) = find_group(ctx, key, group_name, "").ok()?;
    let start = group.last_id.next()?;
    let (mut last_id, mut entries_read) = (group.last_id, group.entries_read);
    let mut replies = Vec::new();
    let mut delivered = Vec::new();
    for (id, fields) in stream.range(start, StreamId::MAX).take(count) {
        entries_read = stream.entries_read_after(entries_read, *id);
        last_id = *id;
        replies.push(entry_reply(id, fields));
        delivered.push((*id, 1));
    }
    if replies.is_empty() {
        return None;
    }
    let set_id = StreamOp::SetGroupId {
        group: group_name.clone(),
        last_id,
        entries_read,
    };
    apply(ctx, key, set_id);
    if !noack {
        let deliver = StreamOp::Deliver {
            group: group_name.clone(),
            consumer: consumer.clone(),
            delivery_ms: now,
            entries: delivered,
        };
        apply(ctx, key, deliver);
    }
    Some(replies)
}

/// Re-delivers `consumer`'s pending entries from `start` on: deleted entries answer as
/// `[id, nil]` and stay as they were.
fn deliver_history(
    ctx: &mut Ctx,
    key: &Bytes,
    group_name: &Bytes,
    consumer: &Bytes,
    start: StreamId,
    count: usize,
) -> Vec<Reply> {
    let now = ctx.now_ms;
    let Ok((stream, group)) = find_group(ctx, key, group_name, "") else {
        return Vec::new();
    };
    let Some(own) = group.consumers.get(consumer) else {
        return Vec::new();
    };
    let mut replies = Vec::new();
    let mut redelivered = Vec::new();
    for id in own.pel.range(start..).take(count) {
        match stream.get(id) {
            Some(fields) => {
                replies.push(entry_reply(id, fields));
                redelivered.push((*id, group.pel[id].delivery_count + 1));
            }
            None => replies.push(Reply::Array(vec![id_reply(*id), Reply::Nil])),
        }
    }
    if !redelivered.is_empty() {
        let op = StreamOp::Deliver {
            group: group_name.clone(),
            consumer: consumer.clone(),
            delivery_ms: now,
            entries: redelivered,
        };
        apply(ctx, key, op);
    }
    replies
}

/// Refuses keys in several slots on a cluster port.
fn check_cluster_slots(client: &Client, keys: &[Bytes]) -> Result<(), Reply> {
    let first = key_slot(&keys[0]);
    if client.cluster_port && keys.iter().any(|k| key_slot(k) != first) {
        return Err(Reply::error(
            "CROSSSLOT Keys in request don't hash to the same slot",
        ));
    }
    Ok(())
}

/// The positions of `keys` grouped by owning shard, in shard order.
fn by_shard(client: &Client, keys: &[Bytes]) -> BTreeMap<usize, Vec<usize>> {
    let mut parts: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (position, key) in keys.iter().enumerate() {
        parts
            .entry(client.shard.owner_of(key))
            .or_default()
            .push(position);
    }
    parts
}

/// Merges the shards' `[[key, entries]...]` replies into argument order: nil when no key has
/// entries, a map in RESP3.
fn merge_reads(query: &ReadQuery, parts: Vec<(Vec<usize>, Reply)>, resp3: bool) -> Reply {
    let mut slots: Vec<Option<Reply>> = (0..query.keys.len()).map(|_| None).collect();
    for (positions, reply) in parts {
        let Reply::Array(found) = reply else {
            return reply;
        };
        // Each part answers for its keys in order, skipping keys without entries.
        let mut positions = positions.into_iter();
        for pair in found {
            let Reply::Array(ref kv) = pair else { continue };
            let Some(Reply::Bulk(key)) = kv.first() else {
                continue;
            };
            if let Some(p) = positions.by_ref().find(|&p| query.keys[p] == *key) {
                slots[p] = Some(pair);
            }
        }
    }
    read_reply(slots.into_iter().flatten().collect(), resp3)
}

/// A read's reply from its `[key, entries]` pairs in argument order: nil when there are none, a
/// map in RESP3.
fn read_reply(found: Vec<Reply>, resp3: bool) -> Reply {
    if found.is_empty() {
        return Reply::NilArray;
    }
    if !resp3 {
        return Reply::Array(found);
    }
    let map = found.into_iter().filter_map(|pair| match pair {
        Reply::Array(mut kv) if kv.len() == 2 => {
            let entries = kv.pop()?;
            Some((kv.pop()?, entries))
        }
        _ => None,
    });
    Reply::Map(map.collect())
}

fn step_request(client: &Client, spec: &'static CommandSpec, args: Vec<Bytes>) -> Request {
    Request {
        spec,
        db: client.db(),
        resp3: client.resp3(),
        args,
    }
}

pub(super) fn xread(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let mut query = attempt!(ReadQuery::parse(&args, false));
        attempt!(check_cluster_slots(client, &query.keys));
        // Inside an EXEC Redis never blocks.
        let Some(block_ms) = query.block_ms.filter(|_| !in_exec()) else {
            return read_now(client, &query).await;
        };
        attempt!(resolve_last_ids(client, &mut query).await);
        let reply = read_now(client, &query).await;
        if reply != Reply::NilArray {
            return reply;
        }
        let waits = query.keys.iter().zip(&query.ids).map(|(key, id)| {
            let args = vec![
                Bytes::from_static(XREAD_SERVE_STEP.name.as_bytes()),
                Bytes::from(query.count.to_string()),
                key.clone(),
                id.clone(),
            ];
            let serve = OnReady::Serve {
                spec: &XREAD_SERVE_STEP,
                args,
            };
            (key.clone(), serve)
        });
        block_read(client, waits.collect(), block_ms).await
    })
}

/// XREAD without waiting: each shard reads its keys, the replies merged in argument order.
async fn read_now(client: &Client, query: &ReadQuery) -> Reply {
    let shard = client.shard.clone();
    let calls = by_shard(client, &query.keys)
        .into_iter()
        .map(|(to, positions)| {
            let req = step_request(
                client,
                &XREAD_STEP,
                query.step_args("xread-step", &positions),
            );
            let shard = &shard;
            async move {
                let reply = exec_on_owner(shard, to, vec![req]).await.pop();
                (
                    positions,
                    reply.unwrap_or(Reply::error("ERR shard did not answer")),
                )
            }
        });
    let parts = futures::future::join_all(calls).await;
    merge_reads(query, parts, client.resp3())
}

pub(super) fn xreadgroup(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let query = attempt!(ReadQuery::parse(&args, true));
        attempt!(check_cluster_slots(client, &query.keys));
        let reply = readgroup_now(client, &query).await;
        let Some(block_ms) = query.block_ms.filter(|_| !in_exec()) else {
            return reply;
        };
        if reply != Reply::NilArray {
            return reply;
        }
        // Only `>` reads come back empty (a history read answers each key), so each key waits
        // for entries new to the group.
        let waits = query.keys.iter().enumerate().map(|(position, key)| {
            let args = query.step_args(XREADGROUP_SERVE_STEP.name, &[position]);
            let serve = OnReady::ServeGone {
                spec: &XREADGROUP_SERVE_STEP,
                args,
            };
            (key.clone(), serve)
        });
        block_read(client, waits.collect(), block_ms).await
    })
}

/// XREADGROUP without waiting: on the keys' one shard, or as a transaction over their shards.
async fn readgroup_now(client: &Client, query: &ReadQuery) -> Reply {
    let shard = client.shard.clone();
    let parts = by_shard(client, &query.keys);
    let step = |positions: &[usize]| {
        let args = query.step_args("xreadgroup-step", positions);
        step_request(client, &XREADGROUP_STEP, args)
    };
    if parts.len() == 1 {
        let (to, positions) = parts.into_iter().next().expect("one part");
        let reply = exec_on_owner(&shard, to, vec![step(&positions)])
            .await
            .pop();
        let reply = reply.unwrap_or(Reply::error("ERR shard did not answer"));
        return merge_reads(query, vec![(positions, reply)], client.resp3());
    }
    // Several shards: lock every key and check every group before any delivery, so that a
    // missing group on one shard delivers nothing on the others.
    let (db, resp3) = (client.db(), client.resp3());
    let txn = Txn::lock(&shard, db, &query.keys).await;
    let (group, _) = query.group.as_ref().expect("parsed with GROUP");
    for key in &query.keys {
        let check = vec![
            Bytes::from_static(b"xreadgroup-check"),
            key.clone(),
            group.clone(),
        ];
        let reply = txn.run_for_key(key, &XREADGROUP_CHECK, check, resp3).await;
        if reply.is_error() {
            txn.finish().await;
            return reply;
        }
    }
    let requests = parts.iter().map(|(&to, positions)| (to, step(positions)));
    let replies = txn.run_and_finish(requests.collect()).await;
    let parts = parts.into_values().zip(replies).collect();
    merge_reads(query, parts, resp3)
}

// ---- Blocking reads, and reads inside MULTI --------------------------------------------------

/// Replaces each `$` of an XREAD BLOCK with its stream's last ID now (0-0 for a missing stream),
/// as Redis fixes it when the command arrives. WRONGTYPE for a key of another type.
async fn resolve_last_ids(client: &Client, query: &mut ReadQuery) -> Result<(), Reply> {
    for (key, id) in query.keys.iter().zip(query.ids.iter_mut()) {
        if id.as_ref() != b"$" {
            continue;
        }
        let args = vec![
            Bytes::from_static(LAST_ID_STEP.name.as_bytes()),
            key.clone(),
        ];
        let req = step_request(client, &LAST_ID_STEP, args);
        let to = client.shard.owner_of(key);
        match client.shard.exec_on(to, vec![req], None).await.pop() {
            Some(Reply::Bulk(last)) => *id = last,
            Some(error) => return Err(error),
            None => return Err(Reply::error("ERR shard did not answer")),
        }
    }
    Ok(())
}

/// The last ID of the stream at a key: `stream-last-id-step key`. Private.
static LAST_ID_STEP: CommandSpec = CommandSpec {
    name: "stream-last-id-step",
    arity: 2,
    flags: READONLY,
    acl: STREAM_READ_FAST,
    run: keyed(last_id_step),
    ..STREAM
};

fn last_id_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let stream = attempt!(find_stream(ctx, &args[1]));
    id_reply(stream.map_or(StreamId::MIN, |s| s.last_id))
}

/// Waits until a key's shard serves the client, BLOCK's milliseconds pass (0: forever), or the
/// client is unblocked; nil on timeout, as Redis.
async fn block_read(client: &Client, waits: Vec<(Bytes, OnReady)>, block_ms: u64) -> Reply {
    let deadline = (block_ms > 0).then(|| Instant::now() + Duration::from_millis(block_ms));
    let wait = Wait {
        db: client.db(),
        resp3: client.resp3(),
        keys: waits,
        deadline,
    };
    match client.shard.block(&client.handle, wait).await {
        Outcome::Served(reply) => reply,
        Outcome::Unblocked { error: true } => {
            Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
        }
        Outcome::Woken(_) | Outcome::TimedOut | Outcome::Unblocked { .. } | Outcome::Closed => {
            Reply::NilArray
        }
    }
}

/// Serves a blocked XREAD on one key: `xread-serve-step count key id`; claims the client only
/// when the stream has entries after `id` (nil otherwise: the client keeps waiting).
static XREAD_SERVE_STEP: CommandSpec = CommandSpec {
    name: "xread-serve-step",
    arity: 4,
    flags: READONLY,
    keys: Keys::Range {
        first: 2,
        last: 2,
        step: 1,
    },
    acl: STREAM_READ_SLOW,
    run: keyed(xread_serve_step),
    ..STREAM
};

fn xread_serve_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let found = match xread_step(ctx, args) {
        Reply::Array(found) if !found.is_empty() => found,
        _ => return Reply::NilArray,
    };
    if !ctx.shard.blocking.claim() {
        return Reply::NilArray;
    }
    read_reply(found, ctx.resp3)
}

/// Serves a blocked XREADGROUP on one key (with ID `>`): `xreadgroup-serve-step count group
/// consumer noack key >`. Runs even when the key is gone, to answer as Redis does when the stream was deleted or
/// the group destroyed while the client waited; otherwise delivers (claiming the client) only
/// when the group has new entries.
static XREADGROUP_SERVE_STEP: CommandSpec = CommandSpec {
    name: "xreadgroup-serve-step",
    arity: 7,
    flags: WRITE,
    keys: Keys::Range {
        first: 5,
        last: 5,
        step: 1,
    },
    acl: STREAM_WRITE_SLOW,
    run: keyed(xreadgroup_serve_step),
    ..STREAM
};

fn xreadgroup_serve_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (group, key) = (&args[2], &args[5]);
    let gone = match find_stream(ctx, key) {
        Ok(Some(stream)) if stream.groups.contains_key(group) => None,
        Ok(Some(_)) => {
            Some("NOGROUP the consumer group this client was blocked on no longer exists")
        }
        Ok(None) | Err(_) => Some("UNBLOCKED the stream key no longer exists"),
    };
    if let Some(error) = gone {
        return match ctx.shard.blocking.claim() {
            true => Reply::error(error),
            false => Reply::NilArray,
        };
    }
    match xreadgroup_step(ctx, args) {
        Reply::Array(found) if !found.is_empty() => read_reply(found, ctx.resp3),
        Reply::Array(_) => Reply::NilArray,
        error => error,
    }
}

/// What XREAD and XREADGROUP are queued as inside MULTI, where Redis never blocks: themselves
/// (they route themselves, so at EXEC they run at their place in the queue, on one shard or
/// several, and do not block there: `router::in_exec`), or the error their arguments get. `None`
/// for other commands.
pub fn in_multi(name: &str, args: &[Bytes]) -> Option<crate::commands::InMulti> {
    let with_group = match name {
        "xread" => false,
        "xreadgroup" => true,
        _ => return None,
    };
    let spec = crate::commands::lookup(name.as_bytes()).expect("in the table");
    Some(ReadQuery::parse(args, with_group).map(|_| (spec, args.to_vec())))
}

/// XREAD's and XREADGROUP's keys: the first half of the arguments after STREAMS.
pub(super) fn read_keys(args: &[Bytes]) -> Vec<usize> {
    let with_group = args[0].eq_ignore_ascii_case(b"xreadgroup");
    match ReadQuery::parse(args, with_group) {
        Ok(query) => {
            let n = query.keys.len();
            (args.len() - 2 * n..args.len() - n).collect()
        }
        Err(_) => Vec::new(),
    }
}
