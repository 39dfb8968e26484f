//! XSETID: sets a stream's last ID, and with Redis 7's options its entries-added counter and its
//! greatest deleted ID (what a replica or a restore needs to carry a stream's counters over).
//!
//! The change is logged as the whole stream (a `get_value_mut` write): XSETID is rare, and its
//! three counters have no element-level delta of their own.

use bytes::Bytes;

use super::{find_stream, parse_strict_id};
use crate::commands::{parse_i64, syntax_error, wrong_type};
use crate::keyspace::stream::StreamId;
use crate::keyspace::Value;
use crate::protocol::Reply;
use crate::pubsub::notify::class;
use crate::shard::Ctx;

/// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id], checked in Redis 7.0's order.
pub(super) fn xsetid(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let id = attempt!(parse_strict_id(&args[2]));
    let (entries_added, max_deleted) = attempt!(parse_options(args, id));
    let Some(stream) = attempt!(find_stream(ctx, key)) else {
        return Reply::error("ERR no such key");
    };
    if let Some((top, _)) = stream.last() {
        if id < *top {
            return Reply::error(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added.is_some_and(|n| n < stream.len() as u64) {
            return Reply::error(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    let now = ctx.now_ms;
    let Some(Value::Stream(stream)) = ctx.db().get_value_mut(key, now) else {
        return wrong_type();
    };
    stream.last_id = id;
    if let Some(n) = entries_added {
        stream.entries_added = n;
    }
    if let Some(max_deleted) = max_deleted.filter(|m| !m.is_zero()) {
        stream.max_deleted = max_deleted;
    }
    ctx.notify(class::STREAM, "xsetid", key);
    Reply::ok()
}

/// ENTRIESADDED and MAXDELETEDID (the last of each wins, as in Redis).
fn parse_options(args: &[Bytes], id: StreamId) -> Result<(Option<u64>, Option<StreamId>), Reply> {
    let (mut entries_added, mut max_deleted) = (None, None);
    let mut i = 3;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return Err(syntax_error());
        };
        if args[i].eq_ignore_ascii_case(b"ENTRIESADDED") {
            let n = parse_i64(value)?;
            if n < 0 {
                return Err(Reply::error("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if args[i].eq_ignore_ascii_case(b"MAXDELETEDID") {
            let max = parse_strict_id(value)?;
            if id < max {
                return Err(Reply::error(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            max_deleted = Some(max);
        } else {
            return Err(syntax_error());
        }
        i += 2;
    }
    Ok((entries_added, max_deleted))
}
