//! Stream commands (Redis 7.0's t_stream.c): XADD XLEN XRANGE XREVRANGE XDEL XTRIM XREAD
//! XREADGROUP XGROUP XACK XPENDING XCLAIM XAUTOCLAIM XINFO.
//!
//! Every change is a `StreamOp` applied through `Db::apply`, so the journal logs what changed
//! (the entry appended with its generated ID, the IDs delivered with their times), never the
//! command. Streams are not deleted when their last entry goes.
//!
//! XREAD and XREADGROUP name their keys after STREAMS, so they route themselves: each shard reads
//! its own keys and the replies are merged in argument order. XREADGROUP over several shards runs
//! as a transaction (every group checked first, then each shard's part), so it delivers all or
//! nothing. With BLOCK, a read that finds nothing waits through `shard::blocking`: each key's
//! shard serves it with the private serve steps below (`$` resolved to the stream's last ID when
//! the command blocks). Inside MULTI they run at once as one-shard steps (`in_multi`).

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
use crate::router::Txn;
use crate::server::client::Client;
use crate::shard::blocking::{OnReady, Outcome, Wait};
use crate::shard::{Ctx, Request};

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
        keys: Keys::None,
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
        keys: Keys::None,
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

fn xread(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let mut query = attempt!(ReadQuery::parse(&args, false));
        attempt!(check_cluster_slots(client, &query.keys));
        let Some(block_ms) = query.block_ms else {
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
                let reply = shard.exec_on(to, vec![req], None).await.pop();
                (
                    positions,
                    reply.unwrap_or(Reply::error("ERR shard did not answer")),
                )
            }
        });
    let parts = futures::future::join_all(calls).await;
    merge_reads(query, parts, client.resp3())
}

fn xreadgroup(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let query = attempt!(ReadQuery::parse(&args, true));
        attempt!(check_cluster_slots(client, &query.keys));
        let reply = readgroup_now(client, &query).await;
        let Some(block_ms) = query.block_ms else {
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
        let reply = shard.exec_on(to, vec![step(&positions)], None).await.pop();
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

/// What XREAD and XREADGROUP are queued as inside MULTI, where Redis never blocks: a step on
/// their keys' one shard (keys on several shards are refused when queued, as other multi-key
/// commands there). `None` for other commands.
pub fn in_multi(name: &str, args: &[Bytes]) -> Option<super::InMulti> {
    let with_group = match name {
        "xread" => false,
        "xreadgroup" => true,
        _ => return None,
    };
    Some(ReadQuery::parse(args, with_group).map(|query| {
        let spec = if with_group {
            &XREADGROUP_IN_MULTI
        } else {
            &XREAD_IN_MULTI
        };
        let mut step = query.step_args(spec.name, &[]);
        for (key, id) in query.keys.iter().zip(&query.ids) {
            step.extend([key.clone(), id.clone()]);
        }
        (spec, step)
    }))
}

/// XREAD inside MULTI: `xread-in-multi count key id [key id ...]`. Private.
static XREAD_IN_MULTI: CommandSpec = CommandSpec {
    name: "xread-in-multi",
    arity: -4,
    flags: READONLY,
    keys: Keys::Range {
        first: 2,
        last: -1,
        step: 2,
    },
    acl: STREAM_READ_SLOW,
    run: keyed(xread_in_multi),
    ..STREAM
};

/// XREADGROUP inside MULTI: `xreadgroup-in-multi count group consumer noack key id [key id
/// ...]`. Private.
static XREADGROUP_IN_MULTI: CommandSpec = CommandSpec {
    name: "xreadgroup-in-multi",
    arity: -7,
    flags: WRITE,
    keys: Keys::Range {
        first: 5,
        last: -1,
        step: 2,
    },
    acl: STREAM_WRITE_SLOW,
    run: keyed(xreadgroup_in_multi),
    ..STREAM
};

/// `head` then the keys of `pairs` (key id key id ...), then their IDs: a read step's layout.
fn unpair(head: &[Bytes], pairs: &[Bytes]) -> Vec<Bytes> {
    let mut args = head.to_vec();
    args.extend(pairs.iter().step_by(2).cloned());
    args.extend(pairs.iter().skip(1).step_by(2).cloned());
    args
}

fn xread_in_multi(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match xread_step(ctx, &unpair(&args[..2], &args[2..])) {
        Reply::Array(found) => read_reply(found, ctx.resp3),
        error => error,
    }
}

fn xreadgroup_in_multi(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match xreadgroup_step(ctx, &unpair(&args[..5], &args[5..])) {
        Reply::Array(found) => read_reply(found, ctx.resp3),
        error => error,
    }
}

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

fn xgroup_create(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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

fn xgroup_setid(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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

fn xgroup_destroy(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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

fn xgroup_createconsumer(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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

fn xgroup_delconsumer(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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

fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|line| Reply::Status(line)).collect())
}

fn xgroup_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help(&[
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

fn xack(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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

fn xpending(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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

fn xclaim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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

fn xautoclaim(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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

fn xinfo_stream(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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

fn xinfo_groups(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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

fn xinfo_consumers(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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

fn xinfo_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help(&[
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
