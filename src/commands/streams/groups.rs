//! Consumer groups: XGROUP, XACK, XPENDING, XCLAIM and XAUTOCLAIM.

use super::*;
use crate::commands::client::help_reply;

// ---- XGROUP ---------------------------------------------------------------------------------

fn key_must_exist() -> Reply {
    Reply::error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
}

/// `ENTRIESREAD n`: `None` for -1 (unknown).
fn parse_entries_read(arg: &[u8]) -> Result<Option<u64>, Reply> {
    match parse_i64(arg)? {
        -1 => Ok(None),
        n if n >= 0 => Ok(Some(n as u64)),
        _ => Err(Reply::error(
            "ERR value for ENTRIESREAD must be positive or -1",
        )),
    }
}

/// A group's new last-delivered ID: `$` is the stream's last ID.
fn group_id(stream: Option<&Stream>, arg: &[u8]) -> Result<StreamId, Reply> {
    if arg == b"$" {
        return Ok(stream.map_or(StreamId::MIN, |s| s.last_id));
    }
    parse_strict_id(arg)
}

pub(super) fn xgroup_create(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group) = (&args[2], &args[3]);
    let mut mkstream = false;
    let mut entries_read = None;
    let mut i = 5;
    while i < args.len() {
        match args[i].to_ascii_uppercase().as_slice() {
            b"MKSTREAM" => mkstream = true,
            b"ENTRIESREAD" if i + 1 < args.len() => {
                i += 1;
                entries_read = attempt!(parse_entries_read(&args[i]));
            }
            _ => {
                return Reply::error(
                    "ERR unknown subcommand or wrong number of arguments for 'create'. Try XGROUP HELP.",
                )
            }
        }
        i += 1;
    }
    let stream = attempt!(find_stream(ctx, key));
    if stream.is_none() && !mkstream {
        return key_must_exist();
    }
    let last_id = attempt!(group_id(stream, &args[4]));
    if stream.is_some_and(|s| s.groups.contains_key(group)) {
        return Reply::error("BUSYGROUP Consumer Group name already exists");
    }
    let op = StreamOp::CreateGroup {
        group: group.clone(),
        last_id,
        entries_read,
    };
    apply(ctx, key, op);
    ctx.notify(class::STREAM, "xgroup-create", key);
    Reply::ok()
}

pub(super) fn xgroup_setid(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group) = (&args[2], &args[3]);
    let entries_read = match &args[5..] {
        [] => None,
        [name, n] if name.eq_ignore_ascii_case(b"ENTRIESREAD") => {
            attempt!(parse_entries_read(n))
        }
        _ => return syntax_error(),
    };
    let Some(stream) = attempt!(find_stream(ctx, key)) else {
        return key_must_exist();
    };
    if !stream.groups.contains_key(group) {
        return no_such_group(key, group);
    }
    let last_id = attempt!(group_id(Some(stream), &args[4]));
    let op = StreamOp::SetGroupId {
        group: group.clone(),
        last_id,
        entries_read,
    };
    apply(ctx, key, op);
    ctx.notify(class::STREAM, "xgroup-setid", key);
    Reply::ok()
}

pub(super) fn xgroup_destroy(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group) = (&args[2], &args[3]);
    let Some(stream) = attempt!(find_stream(ctx, key)) else {
        return key_must_exist();
    };
    if !stream.groups.contains_key(group) {
        return Reply::Int(0);
    }
    apply(ctx, key, StreamOp::DestroyGroup(group.clone()));
    ctx.notify(class::STREAM, "xgroup-destroy", key);
    Reply::Int(1)
}

pub(super) fn xgroup_createconsumer(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group, consumer) = (&args[2], &args[3], &args[4]);
    let Some(stream) = attempt!(find_stream(ctx, key)) else {
        return key_must_exist();
    };
    let Some(g) = stream.groups.get(group) else {
        return no_such_group(key, group);
    };
    if g.consumers.contains_key(consumer) {
        return Reply::Int(0);
    }
    touch_consumer(ctx, key, group, consumer);
    Reply::Int(1)
}

pub(super) fn xgroup_delconsumer(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group, consumer) = (&args[2], &args[3], &args[4]);
    let Some(stream) = attempt!(find_stream(ctx, key)) else {
        return key_must_exist();
    };
    let Some(g) = stream.groups.get(group) else {
        return no_such_group(key, group);
    };
    let Some(c) = g.consumers.get(consumer) else {
        return Reply::Int(0);
    };
    let pending = c.pel.len() as i64;
    let op = StreamOp::DeleteConsumer {
        group: group.clone(),
        consumer: consumer.clone(),
    };
    apply(ctx, key, op);
    ctx.notify(class::STREAM, "xgroup-delconsumer", key);
    Reply::Int(pending)
}

pub(super) fn xgroup_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(&[
        "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
        "HELP",
        "    Prints this help.",
    ])
}

// ---- XACK, XPENDING -------------------------------------------------------------------------

pub(super) fn xack(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group) = (&args[1], &args[2]);
    let ids: Vec<StreamId> = attempt!(args[3..].iter().map(|a| parse_id(a)).collect());
    let Some(stream) = attempt!(find_stream(ctx, key)) else {
        return Reply::Int(0);
    };
    let Some(g) = stream.groups.get(group) else {
        return Reply::Int(0);
    };
    let mut acked: Vec<StreamId> = ids
        .into_iter()
        .filter(|id| g.pel.contains_key(id))
        .collect();
    acked.sort();
    acked.dedup();
    let count = acked.len() as i64;
    if count > 0 {
        let op = StreamOp::Ack {
            group: group.clone(),
            ids: acked,
        };
        apply(ctx, key, op);
    }
    Reply::Int(count)
}

pub(super) fn xpending(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group_name) = (&args[1], &args[2]);
    if args.len() != 3 && !(6..=9).contains(&args.len()) {
        return syntax_error();
    }
    let now = ctx.now_ms;
    let mut idle_ms = 0;
    let mut i = 3;
    if args.len() > 3 && args[3].eq_ignore_ascii_case(b"IDLE") {
        idle_ms = attempt!(parse_i64(&args[4]));
        if args.len() < 8 {
            return syntax_error();
        }
        i = 5;
    }
    let extended = if args.len() > 3 {
        let count = attempt!(parse_i64(&args[i + 2])).max(0) as usize;
        let start = attempt!(parse_bound(&args[i], true));
        let end = attempt!(parse_bound(&args[i + 1], false));
        Some((start, end, count, args.get(i + 3)))
    } else {
        None
    };
    let (_, group) = attempt!(find_group(ctx, key, group_name, ""));
    let Some((start, end, count, consumer)) = extended else {
        return pending_summary(group);
    };
    let pel: Box<dyn Iterator<Item = &StreamId>> = match consumer {
        Some(name) => match group.consumers.get(name) {
            Some(c) if start <= end => Box::new(c.pel.range(start..=end)),
            _ => return Reply::Array(Vec::new()),
        },
        None if start <= end => Box::new(group.pel.range(start..=end).map(|(id, _)| id)),
        None => return Reply::Array(Vec::new()),
    };
    let rows = pel
        .map(|id| (id, &group.pel[id]))
        .filter(|(_, p)| now.saturating_sub(p.delivery_ms) as i64 >= idle_ms)
        .take(count)
        .map(|(id, p)| {
            Reply::Array(vec![
                id_reply(*id),
                Reply::Bulk(p.consumer.clone()),
                Reply::Int(now.saturating_sub(p.delivery_ms) as i64),
                Reply::Int(p.delivery_count as i64),
            ])
        });
    Reply::Array(rows.collect())
}

fn pending_summary(group: &Group) -> Reply {
    let (Some((first, _)), Some((last, _))) =
        (group.pel.first_key_value(), group.pel.last_key_value())
    else {
        return Reply::Array(vec![Reply::Int(0), Reply::Nil, Reply::Nil, Reply::NilArray]);
    };
    let consumers = group
        .consumers
        .iter()
        .filter(|(_, c)| !c.pel.is_empty())
        .map(|(name, c)| {
            Reply::Array(vec![
                Reply::Bulk(name.clone()),
                Reply::Bulk(Bytes::from(c.pel.len().to_string())),
            ])
        });
    Reply::Array(vec![
        Reply::Int(group.pel.len() as i64),
        id_reply(*first),
        id_reply(*last),
        Reply::Array(consumers.collect()),
    ])
}

// ---- XCLAIM, XAUTOCLAIM ---------------------------------------------------------------------

/// XCLAIM's options after its IDs.
struct ClaimOptions {
    delivery_ms: u64,
    retry_count: Option<u64>,
    force: bool,
    justid: bool,
    last_id: Option<StreamId>,
}

impl ClaimOptions {
    fn parse(args: &[Bytes], now_ms: u64) -> Result<ClaimOptions, Reply> {
        let mut options = ClaimOptions {
            delivery_ms: now_ms,
            retry_count: None,
            force: false,
            justid: false,
            last_id: None,
        };
        let mut delivery: Option<i64> = None;
        let mut i = 0;
        while i < args.len() {
            let name = args[i].to_ascii_uppercase();
            let value = args.get(i + 1);
            let number = |what: &str| {
                value.and_then(|v| parse_i64(v).ok()).ok_or_else(|| {
                    Reply::error(format!("ERR Invalid {what} option argument for XCLAIM"))
                })
            };
            match name.as_slice() {
                b"FORCE" => options.force = true,
                b"JUSTID" => options.justid = true,
                b"IDLE" if value.is_some() => {
                    delivery = Some(now_ms as i64 - number("IDLE")?);
                    i += 1;
                }
                b"TIME" if value.is_some() => {
                    delivery = Some(number("TIME")?);
                    i += 1;
                }
                b"RETRYCOUNT" if value.is_some() => {
                    let n = number("RETRYCOUNT")?;
                    options.retry_count = (n >= 0).then_some(n as u64);
                    i += 1;
                }
                b"LASTID" if value.is_some() => {
                    options.last_id = Some(parse_strict_id(&args[i + 1])?);
                    i += 1;
                }
                _ => {
                    return Err(Reply::error(format!(
                        "ERR Unrecognized XCLAIM option '{}'",
                        String::from_utf8_lossy(&args[i])
                    )))
                }
            }
            i += 1;
        }
        // A time in the future or before the epoch is now, as in Redis.
        if let Some(at) = delivery {
            if (0..=now_ms as i64).contains(&at) {
                options.delivery_ms = at as u64;
            }
        }
        Ok(options)
    }
}

fn parse_min_idle(arg: &[u8], command: &str) -> Result<u64, Reply> {
    parse_i64(arg)
        .map(|n| n.max(0) as u64)
        .map_err(|_| Reply::error(format!("ERR Invalid min-idle-time argument for {command}")))
}

pub(super) fn xclaim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group_name, consumer) = (&args[1], &args[2], &args[3]);
    let now = ctx.now_ms;
    attempt!(find_group(ctx, key, group_name, ""));
    let min_idle = attempt!(parse_min_idle(&args[4], "XCLAIM"));
    let ids_end = args[5..]
        .iter()
        .position(|a| parse_strict_id(a).is_err())
        .map_or(args.len(), |p| p + 5);
    let ids: Vec<StreamId> = args[5..ids_end]
        .iter()
        .map(|a| parse_strict_id(a).expect("checked"))
        .collect();
    let options = attempt!(ClaimOptions::parse(&args[ids_end..], now));
    let (stream, group) = attempt!(find_group(ctx, key, group_name, ""));
    let mut gone = Vec::new();
    let mut claimed = Vec::new();
    let mut replies = Vec::new();
    for id in ids {
        let pending = group.pel.get(&id);
        let Some(fields) = stream.get(&id) else {
            if pending.is_some() {
                gone.push(id);
            }
            continue;
        };
        let count = match pending {
            None if !options.force => continue,
            // A PEL entry made by FORCE starts as delivered once.
            None => 1,
            Some(p) if now.saturating_sub(p.delivery_ms) < min_idle => continue,
            Some(p) => p.delivery_count,
        };
        let count = match options.retry_count {
            Some(n) => n,
            None if options.justid => count,
            None => count + 1,
        };
        claimed.push((id, count));
        replies.push(match options.justid {
            true => id_reply(id),
            false => entry_reply(&id, fields),
        });
    }
    let raise_last = options.last_id.filter(|id| *id > group.last_id);
    let entries_read = group.entries_read;
    if let Some(last_id) = raise_last {
        let op = StreamOp::SetGroupId {
            group: group_name.clone(),
            last_id,
            entries_read,
        };
        apply(ctx, key, op);
    }
    settle_claims(
        ctx,
        key,
        group_name,
        consumer,
        options.delivery_ms,
        claimed,
        gone,
    );
    Reply::Array(replies)
}

/// Logs a claim: entries gone from the stream leave the PEL; claimed ones move to `consumer`.
fn settle_claims(
    ctx: &mut Ctx,
    key: &Bytes,
    group: &Bytes,
    consumer: &Bytes,
    delivery_ms: u64,
    claimed: Vec<(StreamId, u64)>,
    gone: Vec<StreamId>,
) {
    if !gone.is_empty() {
        let ids = gone;
        apply(
            ctx,
            key,
            StreamOp::Ack {
                group: group.clone(),
                ids,
            },
        );
    }
    if claimed.is_empty() {
        return;
    }
    touch_consumer(ctx, key, group, consumer);
    let deliver = StreamOp::Deliver {
        group: group.clone(),
        consumer: consumer.clone(),
        delivery_ms,
        entries: claimed,
    };
    apply(ctx, key, deliver);
}

pub(super) fn xautoclaim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, group_name, consumer) = (&args[1], &args[2], &args[3]);
    let now = ctx.now_ms;
    attempt!(find_group(ctx, key, group_name, ""));
    let min_idle = attempt!(parse_min_idle(&args[4], "XAUTOCLAIM"));
    let start = attempt!(parse_bound(&args[5], true));
    let mut count = AUTOCLAIM_COUNT_DEFAULT;
    let mut justid = false;
    let mut i = 6;
    while i < args.len() {
        match args[i].to_ascii_uppercase().as_slice() {
            b"JUSTID" => justid = true,
            b"COUNT" if i + 1 < args.len() => {
                i += 1;
                let max = i64::MAX / AUTOCLAIM_ATTEMPTS_FACTOR;
                count = match parse_i64(&args[i]) {
                    Ok(n) if (1..=max).contains(&n) => n,
                    _ => return Reply::error("ERR COUNT must be > 0"),
                };
            }
            _ => return syntax_error(),
        }
        i += 1;
    }
    let (stream, group) = attempt!(find_group(ctx, key, group_name, ""));
    let mut attempts = count * AUTOCLAIM_ATTEMPTS_FACTOR;
    let mut claimed = Vec::new();
    let mut gone = Vec::new();
    let mut replies = Vec::new();
    let mut pel = group.pel.range(start..).peekable();
    while attempts > 0 && (claimed.len() as i64) < count {
        let Some((id, pending)) = pel.next() else {
            break;
        };
        attempts -= 1;
        let Some(fields) = stream.get(id) else {
            gone.push(*id);
            continue;
        };
        if now.saturating_sub(pending.delivery_ms) < min_idle {
            continue;
        }
        let delivery_count = pending.delivery_count + u64::from(!justid);
        claimed.push((*id, delivery_count));
        replies.push(match justid {
            true => id_reply(*id),
            false => entry_reply(id, fields),
        });
    }
    let next = pel.next().map_or(StreamId::MIN, |(id, _)| *id);
    let deleted = gone.iter().map(|id| id_reply(*id)).collect();
    settle_claims(ctx, key, group_name, consumer, now, claimed, gone);
    Reply::Array(vec![
        id_reply(next),
        Reply::Array(replies),
        Reply::Array(deleted),
    ])
}
