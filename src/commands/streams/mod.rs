//! Stream commands (Redis 7.0's t_stream.c): XADD XLEN XRANGE XREVRANGE XDEL XTRIM XREAD
//! XREADGROUP XGROUP XACK XPENDING XCLAIM XAUTOCLAIM XINFO XSETID.
//!
//! Every change is a `StreamOp` applied through `Db::apply`, so the journal logs what changed
//! (the entry appended with its generated ID, the IDs delivered with their times), never the
//! command. Streams are not deleted when their last entry goes.
//!
//! XREAD and XREADGROUP name their keys after STREAMS, so they route themselves: each shard reads
//! its own keys and the replies are merged in argument order. XREADGROUP over several shards runs
//! as a transaction (every group checked first, then each shard's part), so it delivers all or
//! nothing. With BLOCK, a read that finds nothing waits through `shard::blocking`: each key's
//! shard serves it with the private serve steps in `read` (`$` resolved to the stream's last ID
//! when the command blocks). Inside MULTI they run at once as one-shard steps (`in_multi`).
//!
//! Here: the command table, IDs, XADD/XTRIM and XLEN/XRANGE/XDEL; `read`: XREAD and XREADGROUP;
//! `groups`: consumer groups (XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM); `info`: XINFO; `setid`: XSETID.

mod groups;
mod info;
mod read;
mod setid;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::spec::*;
use super::{parse_i64, syntax_error, wrong_type, CommandSpec, Keys, Run};
use crate::keyspace::stream::{Fields, Group, Stream, StreamId, StreamOp, NODE_ENTRIES};
use crate::keyspace::{Delta, Value};
use crate::protocol::Reply;
use crate::pubsub::notify::class;
use crate::router::slot::key_slot;
use crate::router::{exec_on_owner, in_exec, Txn};
use crate::server::client::Client;
use crate::shard::blocking::{OnReady, Outcome, Wait};
use crate::shard::{Ctx, Request};
use groups::{
    xack, xautoclaim, xclaim, xgroup_create, xgroup_createconsumer, xgroup_delconsumer,
    xgroup_destroy, xgroup_help, xgroup_setid, xpending,
};
use info::{xinfo_consumers, xinfo_groups, xinfo_help, xinfo_stream};
pub use read::in_multi;
use read::{xread, xreadgroup};
use setid::xsetid;

const STREAM_READ_FAST: &[&str] = &["@read", "@stream", "@fast"];
const STREAM_READ_SLOW: &[&str] = &["@read", "@stream", "@slow"];
const STREAM_WRITE_FAST: &[&str] = &["@write", "@stream", "@fast"];
const STREAM_WRITE_SLOW: &[&str] = &["@write", "@stream", "@slow"];

/// XINFO STREAM FULL's default COUNT (entries and PEL entries listed per group and consumer).
const INFO_FULL_COUNT_DEFAULT: usize = 10;
/// XAUTOCLAIM's default COUNT.
const AUTOCLAIM_COUNT_DEFAULT: i64 = 100;
/// XAUTOCLAIM looks at up to COUNT times this many PEL entries per call (Redis's attempts).
const AUTOCLAIM_ATTEMPTS_FACTOR: i64 = 10;
/// Approximate (`~`) trimming without LIMIT removes at most this many entries per call (Redis:
/// 100 × stream-node-max-entries); the rest goes on later calls.
const APPROX_TRIM_LIMIT_DEFAULT: usize = 100 * NODE_ENTRIES;

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

const STREAM: CommandSpec = CommandSpec {
    keys: KEY1,
    group: "stream",
    since: "5.0.0",
    ..BASE
};

/// XGROUP and XINFO subcommands: the key is their second argument.
const STREAM_SUB: CommandSpec = CommandSpec {
    keys: Keys::Range {
        first: 2,
        last: 2,
        step: 1,
    },
    ..STREAM
};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "xadd",
        arity: -5,
        flags: WRITE | DENYOOM | FAST,
        acl: STREAM_WRITE_FAST,
        summary: "Appends a new message to a stream. Creates the key if it doesn't exist.",
        complexity: "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.",
        run: keyed(xadd),
        ..STREAM
    },
    CommandSpec {
        name: "xlen",
        arity: 2,
        flags: READONLY | FAST,
        acl: STREAM_READ_FAST,
        summary: "Return the number of messages in a stream.",
        run: keyed(xlen),
        ..STREAM
    },
    CommandSpec {
        name: "xrange",
        arity: -4,
        flags: READONLY,
        acl: STREAM_READ_SLOW,
        summary: "Returns the messages from a stream within a range of IDs.",
        complexity: "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
        run: keyed(xrange),
        ..STREAM
    },
    CommandSpec {
        name: "xrevrange",
        arity: -4,
        flags: READONLY,
        acl: STREAM_READ_SLOW,
        summary: "Returns the messages from a stream within a range of IDs in reverse order.",
        complexity: "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
        run: keyed(xrevrange),
        ..STREAM
    },
    CommandSpec {
        name: "xdel",
        arity: -3,
        flags: WRITE | FAST,
        acl: STREAM_WRITE_FAST,
        summary: "Returns the number of messages after removing them from a stream.",
        complexity: "O(1) for each single item to delete in the stream, regardless of the stream size.",
        run: keyed(xdel),
        ..STREAM
    },
    CommandSpec {
        name: "xtrim",
        arity: -4,
        flags: WRITE,
        acl: STREAM_WRITE_SLOW,
        summary: "Deletes messages from the beginning of a stream.",
        since: "5.0.0",
        complexity: "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.",
        run: keyed(xtrim),
        ..STREAM
    },
    CommandSpec {
        name: "xread",
        arity: -4,
        flags: READONLY | BLOCKING | MOVABLEKEYS,
        keys: Keys::Parsed {
            first: 0,
            last: 0,
            step: 0,
            find: read::read_keys,
        },
        acl: STREAM_READ_SLOW,
        summary: "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.",
        complexity: "For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.",
        run: Run::Client(xread),
        ..STREAM
    },
    CommandSpec {
        name: "xreadgroup",
        arity: -7,
        flags: WRITE | BLOCKING | MOVABLEKEYS,
        keys: Keys::Parsed {
            first: 0,
            last: 0,
            step: 0,
            find: read::read_keys,
        },
        acl: STREAM_WRITE_SLOW,
        summary: "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.",
        complexity: "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.",
        run: Run::Client(xreadgroup),
        ..STREAM
    },
    CommandSpec {
        name: "xack",
        arity: -4,
        flags: WRITE | FAST,
        acl: STREAM_WRITE_FAST,
        summary: "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.",
        complexity: "O(1) for each message ID processed.",
        run: keyed(xack),
        ..STREAM
    },
    CommandSpec {
        name: "xpending",
        arity: -3,
        flags: READONLY,
        acl: STREAM_READ_SLOW,
        summary: "Returns the information and entries from a stream consumer group's pending entries list.",
        complexity: "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.",
        run: keyed(xpending),
        ..STREAM
    },
    CommandSpec {
        name: "xclaim",
        arity: -6,
        flags: WRITE | FAST,
        acl: STREAM_WRITE_FAST,
        summary: "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.",
        complexity: "O(log N) with N being the number of messages in the PEL of the consumer group.",
        run: keyed(xclaim),
        ..STREAM
    },
    CommandSpec {
        name: "xautoclaim",
        arity: -6,
        flags: WRITE | FAST,
        acl: STREAM_WRITE_FAST,
        summary: "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.",
        since: "6.2.0",
        complexity: "O(1) if COUNT is small.",
        run: keyed(xautoclaim),
        ..STREAM
    },
    CommandSpec {
        name: "xsetid",
        arity: -3,
        flags: WRITE | DENYOOM | FAST,
        acl: STREAM_WRITE_FAST,
        summary: "An internal command for replicating stream values.",
        run: keyed(xsetid),
        ..STREAM
    },
    container(
        "xgroup",
        "stream",
        "A container for consumer groups commands.",
        "5.0.0",
        XGROUP_SUBCOMMANDS,
    ),
    container(
        "xinfo",
        "stream",
        "A container for stream introspection commands.",
        "5.0.0",
        XINFO_SUBCOMMANDS,
    ),
];

static XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "xgroup|create",
        arity: -5,
        flags: WRITE | DENYOOM,
        acl: STREAM_WRITE_SLOW,
        summary: "Creates a consumer group.",
        run: keyed(xgroup_create),
        ..STREAM_SUB
    },
    CommandSpec {
        name: "xgroup|setid",
        arity: -5,
        flags: WRITE,
        acl: STREAM_WRITE_SLOW,
        summary: "Sets the last-delivered ID of a consumer group.",
        run: keyed(xgroup_setid),
        ..STREAM_SUB
    },
    CommandSpec {
        name: "xgroup|destroy",
        arity: 4,
        flags: WRITE,
        acl: STREAM_WRITE_SLOW,
        summary: "Destroys a consumer group.",
        complexity:
            "O(N) where N is the number of entries in the group's pending entries list (PEL).",
        run: keyed(xgroup_destroy),
        ..STREAM_SUB
    },
    CommandSpec {
        name: "xgroup|createconsumer",
        arity: 5,
        flags: WRITE | DENYOOM,
        acl: STREAM_WRITE_SLOW,
        summary: "Creates a consumer in a consumer group.",
        since: "6.2.0",
        run: keyed(xgroup_createconsumer),
        ..STREAM_SUB
    },
    CommandSpec {
        name: "xgroup|delconsumer",
        arity: 5,
        flags: WRITE,
        acl: STREAM_WRITE_SLOW,
        summary: "Deletes a consumer from a consumer group.",
        run: keyed(xgroup_delconsumer),
        ..STREAM_SUB
    },
    CommandSpec {
        name: "xgroup|help",
        arity: 2,
        flags: LOADING | STALE,
        keys: Keys::None,
        acl: &["@stream", "@slow"],
        summary: "Returns helpful text about the different subcommands.",
        run: Run::Local(xgroup_help),
        ..STREAM
    },
];

static XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "xinfo|stream",
        arity: -3,
        flags: READONLY,
        acl: STREAM_READ_SLOW,
        summary: "Returns information about a stream.",
        run: keyed(xinfo_stream),
        ..STREAM_SUB
    },
    CommandSpec {
        name: "xinfo|groups",
        arity: 3,
        flags: READONLY,
        acl: STREAM_READ_SLOW,
        summary: "Returns a list of the consumer groups of a stream.",
        run: keyed(xinfo_groups),
        ..STREAM_SUB
    },
    CommandSpec {
        name: "xinfo|consumers",
        arity: 4,
        flags: READONLY,
        acl: STREAM_READ_SLOW,
        summary: "Returns a list of the consumers in a consumer group.",
        run: keyed(xinfo_consumers),
        ..STREAM_SUB
    },
    CommandSpec {
        name: "xinfo|help",
        arity: 2,
        flags: LOADING | STALE,
        keys: Keys::None,
        acl: &["@stream", "@slow"],
        summary: "Returns helpful text about the different subcommands.",
        run: Run::Local(xinfo_help),
        ..STREAM
    },
];

// ---- IDs ------------------------------------------------------------------------------------

/// An unsigned decimal as Redis's string2ull takes it (digits only; leading zeros allowed).
fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// `ms-seq` or `ms` (the sequence is then `missing_seq`); `-` and `+` unless `strict`.
fn parse_id_with(arg: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId, Reply> {
    match arg {
        b"-" if !strict => return Ok(StreamId::MIN),
        b"+" if !strict => return Ok(StreamId::MAX),
        _ => {}
    }
    let parsed = match arg.iter().position(|&b| b == b'-') {
        None => parse_u64(arg).map(|ms| StreamId::new(ms, missing_seq)),
        Some(dash) => parse_u64(&arg[..dash])
            .zip(parse_u64(&arg[dash + 1..]))
            .map(|(ms, seq)| StreamId::new(ms, seq)),
    };
    parsed.ok_or_else(|| Reply::error(INVALID_ID))
}

fn parse_id(arg: &[u8]) -> Result<StreamId, Reply> {
    parse_id_with(arg, 0, false)
}

fn parse_strict_id(arg: &[u8]) -> Result<StreamId, Reply> {
    parse_id_with(arg, 0, true)
}

/// A range bound: `(` makes it exclusive; a missing sequence is 0 for a start, max for an end.
fn parse_bound(arg: &[u8], is_start: bool) -> Result<StreamId, Reply> {
    let missing_seq = if is_start { 0 } else { u64::MAX };
    let Some(exclusive) = arg.strip_prefix(b"(") else {
        return parse_id_with(arg, missing_seq, false);
    };
    let id = parse_id_with(exclusive, missing_seq, true)?;
    let (stepped, which) = if is_start {
        (id.next(), "start")
    } else {
        (id.prev(), "end")
    };
    stepped.ok_or_else(|| Reply::error(format!("ERR invalid {which} ID for the interval")))
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

fn entry_reply(id: &StreamId, fields: &[Bytes]) -> Reply {
    Reply::Array(vec![
        id_reply(*id),
        Reply::Array(fields.iter().cloned().map(Reply::Bulk).collect()),
    ])
}

// ---- Access ---------------------------------------------------------------------------------

/// The stream at `key`: `Ok(None)` when missing, WRONGTYPE for another type.
fn find_stream<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<Option<&'c Stream>, Reply> {
    let now = ctx.now_ms;
    match ctx.db().get(key, now).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Stream(stream)) => Ok(Some(stream)),
        Some(_) => Err(wrong_type()),
    }
}

/// Applies `op` to the stream at `key` (the caller has checked its type).
fn apply(ctx: &mut Ctx, key: &[u8], op: StreamOp) {
    let now = ctx.now_ms;
    ctx.db()
        .apply(key, Delta::Stream(op), now)
        .expect("the key was checked to hold a stream");
}

/// Makes sure `consumer` exists in `group` (which exists) and marks it seen now; publishes
/// `xgroup-createconsumer` when it is new, as Redis does wherever it creates a consumer.
fn touch_consumer(ctx: &mut Ctx, key: &Bytes, group: &Bytes, consumer: &Bytes) {
    let existed = find_stream(ctx, key).ok().flatten().is_some_and(|s| {
        s.groups
            .get(group)
            .is_some_and(|g| g.consumers.contains_key(consumer))
    });
    let now = ctx.now_ms;
    let touch = StreamOp::TouchConsumer {
        group: group.clone(),
        consumer: consumer.clone(),
        seen_ms: now,
    };
    apply(ctx, key, touch);
    if !existed {
        ctx.notify(class::STREAM, "xgroup-createconsumer", key);
    }
}

/// The stream and group, or Redis's NOGROUP error (`No such key 'k' or consumer group 'g'`).
fn find_group<'c>(
    ctx: &'c mut Ctx<'_>,
    key: &Bytes,
    group: &Bytes,
    suffix: &str,
) -> Result<(&'c Stream, &'c Group), Reply> {
    let stream = find_stream(ctx, key)?;
    match stream.and_then(|s| Some((s, s.groups.get(group)?))) {
        Some(found) => Ok(found),
        None => Err(Reply::error(format!(
            "NOGROUP No such key '{}' or consumer group '{}'{suffix}",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(group)
        ))),
    }
}

fn no_such_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

// ---- XADD, XTRIM ----------------------------------------------------------------------------

/// How XADD or XTRIM trims.
#[derive(Default)]
struct Trim {
    /// `MAXLEN n` or `MINID id`; `None`: no trimming.
    strategy: Option<Strategy>,
    approx: bool,
    /// LIMIT (0: none given or unlimited).
    limit: Option<usize>,
}

enum Strategy {
    MaxLen(usize),
    MinId(StreamId),
}

impl Trim {
    /// Parses one trimming option at `args[*i]` (advancing `i`); false when it is not one.
    fn parse_option(&mut self, args: &[Bytes], i: &mut usize) -> Result<bool, Reply> {
        let name = args[*i].to_ascii_uppercase();
        let is_maxlen = name == b"MAXLEN";
        if !(is_maxlen || name == b"MINID" || name == b"LIMIT") || *i + 1 >= args.len() {
            return Ok(false);
        }
        *i += 1;
        if name == b"LIMIT" {
            let limit = parse_i64(&args[*i])?;
            if limit < 0 {
                return Err(Reply::error("ERR The LIMIT argument must be >= 0."));
            }
            self.limit = Some(limit as usize);
            *i += 1;
            return Ok(true);
        }
        if self.strategy.is_some() {
            return Err(Reply::error(
                "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
            ));
        }
        if matches!(args[*i].as_ref(), b"~" | b"=") && *i + 1 < args.len() {
            self.approx = args[*i].as_ref() == b"~";
            *i += 1;
        }
        self.strategy = Some(if is_maxlen {
            let n = parse_i64(&args[*i])?;
            if n < 0 {
                return Err(Reply::error("ERR The MAXLEN argument must be >= 0."));
            }
            Strategy::MaxLen(n as usize)
        } else {
            Strategy::MinId(parse_strict_id(&args[*i])?)
        });
        *i += 1;
        Ok(true)
    }

    fn check(&self) -> Result<(), Reply> {
        match (&self.strategy, self.limit, self.approx) {
            (None, Some(_), _) => Err(Reply::error(
                "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
            )),
            (Some(_), Some(_), false) => Err(Reply::error(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            )),
            _ => Ok(()),
        }
    }

    /// The op that trims `stream`, with how many entries it removes; `None` when nothing goes.
    fn op(&self, stream: &Stream) -> Option<(StreamOp, usize)> {
        let target = match self.strategy.as_ref()? {
            Strategy::MaxLen(n) => stream.len().saturating_sub(*n),
            Strategy::MinId(id) => stream.count_before(*id),
        };
        let removed = if self.approx {
            let limit = match self.limit {
                None => APPROX_TRIM_LIMIT_DEFAULT,
                Some(0) => usize::MAX,
                Some(n) => n,
            };
            whole_nodes(stream.len(), target, limit)
        } else {
            target
        };
        let last = stream.nth_id(removed.checked_sub(1)?)?;
        Some((StreamOp::TrimThrough(last), removed))
    }
}

/// How many leading entries approximate trimming removes: whole nodes of `NODE_ENTRIES` (the
/// last one partial), each only if it lies entirely within the first `target` entries and the
/// running total stays within `limit`.
fn whole_nodes(len: usize, target: usize, limit: usize) -> usize {
    let mut removed = 0;
    while removed < len {
        let node = NODE_ENTRIES.min(len - removed);
        if removed + node > target || removed + node > limit {
            break;
        }
        removed += node;
    }
    removed
}

/// How XADD picks the new entry's ID.
enum NewId {
    Auto,
    /// `ms-*`.
    AutoSeq(u64),
    Explicit(StreamId),
}

fn parse_new_id(arg: &[u8]) -> Result<NewId, Reply> {
    if arg == b"*" {
        return Ok(NewId::Auto);
    }
    if let Some(ms) = arg.strip_suffix(b"-*") {
        return parse_u64(ms)
            .map(NewId::AutoSeq)
            .ok_or_else(|| Reply::error(INVALID_ID));
    }
    let id = parse_strict_id(arg)?;
    if id.is_zero() {
        return Err(Reply::error(
            "ERR The ID specified in XADD must be greater than 0-0",
        ));
    }
    Ok(NewId::Explicit(id))
}

/// The ID a new entry gets, from the wall clock for `*`; above the stream's last ID or an error.
fn new_id(how: NewId, last: StreamId, now_ms: u64) -> Result<StreamId, Reply> {
    let too_small = || {
        Reply::error(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        )
    };
    match how {
        NewId::Auto if now_ms > last.ms => Ok(StreamId::new(now_ms, 0)),
        NewId::Auto => last.next().ok_or_else(too_small),
        NewId::AutoSeq(ms) if ms > last.ms => Ok(StreamId::new(ms, 0)),
        NewId::AutoSeq(ms) if ms == last.ms => match last.seq.checked_add(1) {
            Some(seq) => Ok(StreamId::new(ms, seq)),
            None => Err(too_small()),
        },
        NewId::AutoSeq(_) => Err(too_small()),
        NewId::Explicit(id) if id > last => Ok(id),
        NewId::Explicit(_) => Err(too_small()),
    }
}

fn xadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let mut trim = Trim::default();
    let mut nomkstream = false;
    let mut i = 2;
    while i < args.len() {
        if args[i].eq_ignore_ascii_case(b"NOMKSTREAM") {
            nomkstream = true;
            i += 1;
        } else if !attempt!(trim.parse_option(args, &mut i)) {
            break;
        }
    }
    attempt!(trim.check());
    let rest = &args[i.min(args.len())..];
    if rest.len() < 3 || rest.len().is_multiple_of(2) {
        return Reply::error("ERR wrong number of arguments for 'xadd' command");
    }
    let how = attempt!(parse_new_id(&rest[0]));
    let now = ctx.now_ms;
    let last = match attempt!(find_stream(ctx, key)) {
        Some(stream) => stream.last_id,
        None if nomkstream => return Reply::Nil,
        None => StreamId::MIN,
    };
    if last == StreamId::MAX {
        return Reply::error(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        );
    }
    let id = attempt!(new_id(how, last, now));
    let fields = rest[1..].to_vec();
    apply(ctx, key, StreamOp::Add { id, fields });
    ctx.notify(class::STREAM, "xadd", key);
    let stream = find_stream(ctx, key).ok().flatten().expect("just added");
    if let Some((op, removed)) = trim.op(stream) {
        apply(ctx, key, op);
        if removed > 0 {
            ctx.notify(class::STREAM, "xtrim", key);
        }
    }
    id_reply(id)
}

fn xtrim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let mut trim = Trim::default();
    let mut i = 2;
    while i < args.len() {
        if !attempt!(trim.parse_option(args, &mut i)) {
            return syntax_error();
        }
    }
    if trim.strategy.is_none() {
        return syntax_error();
    }
    attempt!(trim.check());
    let Some(stream) = attempt!(find_stream(ctx, key)) else {
        return Reply::Int(0);
    };
    match trim.op(stream) {
        Some((op, removed)) => {
            apply(ctx, key, op);
            if removed > 0 {
                ctx.notify(class::STREAM, "xtrim", key);
            }
            Reply::Int(removed as i64)
        }
        None => Reply::Int(0),
    }
}

// ---- XLEN, XRANGE, XDEL ---------------------------------------------------------------------

fn xlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let stream = attempt!(find_stream(ctx, &args[1]));
    Reply::Int(stream.map_or(0, Stream::len) as i64)
}

fn xrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range(ctx, args, false)
}

fn xrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range(ctx, args, true)
}

fn range(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> Reply {
    let (first, second) = if rev { (3, 2) } else { (2, 3) };
    let start = attempt!(parse_bound(&args[first], true));
    let end = attempt!(parse_bound(&args[second], false));
    let mut count = usize::MAX;
    match &args[4..] {
        [] => {}
        [name, n] if name.eq_ignore_ascii_case(b"COUNT") => {
            count = attempt!(parse_i64(n)).max(0) as usize;
        }
        _ => return syntax_error(),
    }
    let Some(stream) = attempt!(find_stream(ctx, &args[1])) else {
        return Reply::Array(Vec::new());
    };
    let entries = stream.range(start, end);
    let replies: Vec<Reply> = if rev {
        let entries = entries.rev().take(count);
        entries.map(|(id, f)| entry_reply(id, f)).collect()
    } else {
        let entries = entries.take(count);
        entries.map(|(id, f)| entry_reply(id, f)).collect()
    };
    Reply::Array(replies)
}

fn xdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let ids: Vec<StreamId> = attempt!(args[2..].iter().map(|a| parse_strict_id(a)).collect());
    let Some(stream) = attempt!(find_stream(ctx, key)) else {
        return Reply::Int(0);
    };
    let mut present: Vec<StreamId> = ids
        .into_iter()
        .filter(|id| stream.get(id).is_some())
        .collect();
    present.sort();
    present.dedup();
    let deleted = present.len();
    if deleted > 0 {
        apply(ctx, key, StreamOp::Delete(present));
        ctx.notify(class::STREAM, "xdel", key);
    }
    Reply::Int(deleted as i64)
}
