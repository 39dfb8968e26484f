//! String commands (Redis's t_string.c).

mod lcs;
pub(super) mod long_double;

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::spec::*;
use super::{parse_i64, syntax_error, wrong_type, CommandSpec, SplitMerge};
use crate::keyspace::{parse_canonical_i64, Delta, Value};
use crate::protocol::Reply;
use crate::pubsub::notify::class;
use crate::router::Txn;
use crate::server::client::Client;
use crate::shard::{Ctx, Request};
use long_double::LongDouble;

const STRING_READ: &[&str] = &["@read", "@string", "@fast"];
const STRING_READ_SLOW: &[&str] = &["@read", "@string", "@slow"];
const STRING_WRITE: &[&str] = &["@write", "@string", "@fast"];
const STRING_WRITE_SLOW: &[&str] = &["@write", "@string", "@slow"];

const GETRANGE_COMPLEXITY: &str = "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.";

/// A string command's table entry; the fields that differ are spelled out per command.
const STRING: CommandSpec = CommandSpec {
    keys: KEY1,
    group: "string",
    ..BASE
};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "get",
        arity: 2,
        flags: READONLY | FAST,
        acl: STRING_READ,
        summary: "Returns the string value of a key.",
        run: keyed(get),
        ..STRING
    },
    CommandSpec {
        name: "set",
        arity: -3,
        flags: WRITE | DENYOOM,
        acl: STRING_WRITE_SLOW,
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        run: keyed(set),
        ..STRING
    },
    CommandSpec {
        name: "setnx",
        arity: 3,
        flags: WRITE | DENYOOM | FAST,
        acl: STRING_WRITE,
        summary: "Set the string value of a key only when the key doesn't exist.",
        run: keyed(setnx),
        ..STRING
    },
    CommandSpec {
        name: "setex",
        arity: 4,
        flags: WRITE | DENYOOM,
        acl: STRING_WRITE_SLOW,
        summary: "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        since: "2.0.0",
        run: keyed(setex),
        ..STRING
    },
    CommandSpec {
        name: "psetex",
        arity: 4,
        flags: WRITE | DENYOOM,
        acl: STRING_WRITE_SLOW,
        summary: "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
        since: "2.6.0",
        run: keyed(psetex),
        ..STRING
    },
    CommandSpec {
        name: "mget",
        arity: -2,
        flags: READONLY | FAST,
        keys: ALL_KEYS,
        acl: STRING_READ,
        summary: "Atomically returns the string values of one or more keys.",
        complexity: "O(N) where N is the number of keys to retrieve.",
        run: split(mget, SplitMerge::PerKey),
        ..STRING
    },
    CommandSpec {
        name: "mset",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: KEY_VALUE_PAIRS,
        acl: STRING_WRITE_SLOW,
        summary: "Atomically creates or modifies the string values of one or more keys.",
        since: "1.0.1",
        complexity: "O(N) where N is the number of keys to set.",
        run: split(mset, SplitMerge::AllOk),
        ..STRING
    },
    CommandSpec {
        name: "msetnx",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: KEY_VALUE_PAIRS,
        acl: STRING_WRITE_SLOW,
        summary: "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        since: "1.0.1",
        complexity: "O(N) where N is the number of keys to set.",
        run: coordinated(msetnx, msetnx_across_shards),
        ..STRING
    },
    CommandSpec {
        name: "getset",
        arity: 3,
        flags: WRITE | DENYOOM | FAST,
        acl: STRING_WRITE,
        summary: "Returns the previous string value of a key after setting it to a new value.",
        run: keyed(getset),
        ..STRING
    },
    CommandSpec {
        name: "getdel",
        arity: 2,
        flags: WRITE | FAST,
        acl: STRING_WRITE,
        summary: "Returns the string value of a key after deleting the key.",
        since: "6.2.0",
        run: keyed(getdel),
        ..STRING
    },
    CommandSpec {
        name: "getex",
        arity: -2,
        flags: WRITE | FAST,
        acl: STRING_WRITE,
        summary: "Returns the string value of a key after setting its expiration time.",
        since: "6.2.0",
        run: keyed(getex),
        ..STRING
    },
    CommandSpec {
        name: "append",
        arity: 3,
        flags: WRITE | DENYOOM | FAST,
        acl: STRING_WRITE,
        summary: "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        since: "2.0.0",
        complexity: "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.",
        run: keyed(append),
        ..STRING
    },
    CommandSpec {
        name: "strlen",
        arity: 2,
        flags: READONLY | FAST,
        acl: STRING_READ,
        summary: "Returns the length of a string value.",
        since: "2.2.0",
        run: keyed(strlen),
        ..STRING
    },
    CommandSpec {
        name: "incr",
        arity: 2,
        flags: WRITE | DENYOOM | FAST,
        acl: STRING_WRITE,
        summary: "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        run: keyed(incr),
        ..STRING
    },
    CommandSpec {
        name: "decr",
        arity: 2,
        flags: WRITE | DENYOOM | FAST,
        acl: STRING_WRITE,
        summary: "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        run: keyed(decr),
        ..STRING
    },
    CommandSpec {
        name: "incrby",
        arity: 3,
        flags: WRITE | DENYOOM | FAST,
        acl: STRING_WRITE,
        summary: "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        run: keyed(incrby),
        ..STRING
    },
    CommandSpec {
        name: "decrby",
        arity: 3,
        flags: WRITE | DENYOOM | FAST,
        acl: STRING_WRITE,
        summary: "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        run: keyed(decrby),
        ..STRING
    },
    CommandSpec {
        name: "incrbyfloat",
        arity: 3,
        flags: WRITE | DENYOOM | FAST,
        acl: STRING_WRITE,
        summary: "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        since: "2.6.0",
        run: keyed(incrbyfloat),
        ..STRING
    },
    CommandSpec {
        name: "getrange",
        arity: 4,
        flags: READONLY,
        acl: STRING_READ_SLOW,
        summary: "Returns a substring of the string stored at a key.",
        since: "2.4.0",
        complexity: GETRANGE_COMPLEXITY,
        run: keyed(getrange),
        ..STRING
    },
    CommandSpec {
        name: "setrange",
        arity: 4,
        flags: WRITE | DENYOOM,
        acl: STRING_WRITE_SLOW,
        summary: "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
        since: "2.2.0",
        complexity: "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.",
        run: keyed(setrange),
        ..STRING
    },
    CommandSpec {
        name: "substr",
        arity: 4,
        flags: READONLY,
        acl: STRING_READ_SLOW,
        summary: "Returns a substring from a string value.",
        complexity: GETRANGE_COMPLEXITY,
        run: keyed(getrange),
        ..STRING
    },
    CommandSpec {
        name: "lcs",
        arity: -3,
        flags: READONLY,
        keys: TWO_KEYS,
        acl: STRING_READ_SLOW,
        summary: "Finds the longest common substring.",
        since: "7.0.0",
        complexity: "O(N*M) where N and M are the lengths of s1 and s2, respectively",
        run: coordinated(lcs::lcs, lcs::lcs_across),
        ..STRING
    },
];

/// MSET's and MSETNX's part on one shard of a cross-shard run: set every pair given (the plan has
/// already decided that they are to be set). Private: not in `COMMANDS`.
static SET_PAIRS: CommandSpec = CommandSpec {
    name: "mset",
    arity: -3,
    flags: WRITE | DENYOOM,
    keys: KEY_VALUE_PAIRS,
    acl: STRING_WRITE_SLOW,
    run: keyed(set_pairs),
    ..STRING
};

/// MSETNX's check on one shard of a cross-shard run: how many of the keys exist. Private.
static COUNT_EXISTING: CommandSpec = CommandSpec {
    name: "msetnx",
    arity: -2,
    flags: READONLY,
    keys: ALL_KEYS,
    acl: STRING_READ,
    run: keyed(count_existing),
    ..STRING
};

// ---------------------------------------------------------------------------------------------
// Reading

/// The string at `key`: `Ok(None)` when missing, `Err(WRONGTYPE)` when another type.
pub fn get_string(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    let now = ctx.now_ms;
    match ctx.db().get(key, now) {
        None => Ok(None),
        Some(entry) => entry.value.as_string().map(Some).ok_or_else(wrong_type),
    }
}

/// `get_string` for a read lookup, counted in the keyspace hits and misses as Redis counts them.
pub(super) fn read_string(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    let found = get_string(ctx, key);
    let mut stats = ctx.shard.stats.borrow_mut();
    match &found {
        Ok(Some(_)) => stats.keyspace_hits += 1,
        Ok(None) => stats.keyspace_misses += 1,
        Err(_) => {}
    }
    found
}

fn bulk_or_nil(found: Result<Option<Bytes>, Reply>) -> Reply {
    match found {
        Ok(Some(bytes)) => Reply::Bulk(bytes),
        Ok(None) => Reply::Nil,
        Err(e) => e,
    }
}

fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bulk_or_nil(read_string(ctx, &args[1]))
}

fn mget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // Keys of other types read as nil here, not WRONGTYPE.
    Reply::Array(
        args[1..]
            .iter()
            .map(|key| bulk_or_nil(read_string(ctx, key).or(Ok(None))))
            .collect(),
    )
}

fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let len = match ctx.db().get(&args[1], now).map(|e| &e.value) {
        None => 0,
        Some(Value::Int(n)) => itoa::Buffer::new().format(*n).len(),
        Some(Value::Str { bytes, .. }) => bytes.len(),
        Some(_) => return wrong_type(),
    };
    Reply::Int(len as i64)
}

/// GETRANGE key start end (and SUBSTR): the inclusive byte range, negative offsets counting from
/// the end, clamped to the string.
fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (start, end) = match (parse_i64(&args[2]), parse_i64(&args[3])) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let bytes = match read_string(ctx, &args[1]) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Reply::Bulk(Bytes::new()),
        Err(e) => return e,
    };
    Reply::Bulk(byte_range(&bytes, start, end))
}

fn byte_range(bytes: &Bytes, start: i64, end: i64) -> Bytes {
    let len = bytes.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Bytes::new();
    }
    let from_end = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (start, end) = (from_end(start), from_end(end).min(len - 1));
    if len == 0 || start > end {
        return Bytes::new();
    }
    bytes.slice(start as usize..=end as usize)
}

// ---------------------------------------------------------------------------------------------
// SET and its options

/// The options of SET and GETEX (Redis parses both with one function).
#[derive(Default)]
struct ExtendedOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// The expiry's unit (`EX`, `PX`, `EXAT` or `PXAT`, uppercase) and argument, not yet checked.
    expire: Option<(&'static [u8], Bytes)>,
}

#[derive(Clone, Copy, PartialEq)]
enum OptionsOf {
    Set,
    Getex,
}

const EXPIRE_UNITS: [&[u8]; 4] = [b"EX", b"PX", b"EXAT", b"PXAT"];

/// Parses options as Redis does: an option may repeat (the last expiry wins), but never next to
/// one it excludes; any other word is a syntax error. Expiry values are checked afterwards, so a
/// syntax error anywhere wins over a bad expiry.
fn parse_extended_options(args: &[Bytes], of: OptionsOf) -> Result<ExtendedOptions, Reply> {
    let mut opts = ExtendedOptions::default();
    let set = of == OptionsOf::Set;
    let mut i = 0;
    while i < args.len() {
        let word = args[i].to_ascii_uppercase();
        let unit = EXPIRE_UNITS.iter().find(|u| **u == word.as_slice());
        let other_unit = opts.expire.as_ref().is_some_and(|(u, _)| *u != word);
        match word.as_slice() {
            b"NX" if set && !opts.xx => opts.nx = true,
            b"XX" if set && !opts.nx => opts.xx = true,
            b"GET" if set => opts.get = true,
            b"KEEPTTL" if set && opts.expire.is_none() => opts.keepttl = true,
            b"PERSIST" if !set && opts.expire.is_none() => opts.persist = true,
            _ if unit.is_some()
                && !opts.keepttl
                && !opts.persist
                && !other_unit
                && i + 1 < args.len() =>
            {
                i += 1;
                opts.expire = Some((unit.copied().unwrap_or_default(), args[i].clone()));
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    Ok(opts)
}

/// An absolute deadline in ms from an EX/PX/EXAT/PXAT unit and its argument, with Redis's errors.
pub fn expire_at(unit: &[u8], arg: &[u8], now_ms: u64, command: &str) -> Result<u64, Reply> {
    let n = parse_i64(arg)?;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{command}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let ms = match unit {
        b"EX" | b"EXAT" => n.checked_mul(1000).ok_or_else(invalid)?,
        _ => n,
    };
    let at = match unit {
        b"EX" | b"PX" => ms.checked_add(now_ms as i64).ok_or_else(invalid)?,
        _ => ms,
    };
    Ok(at as u64)
}

/// The deadline the options ask for, if any.
fn options_deadline(
    opts: &ExtendedOptions,
    now_ms: u64,
    command: &str,
) -> Result<Option<u64>, Reply> {
    opts.expire
        .as_ref()
        .map(|(unit, arg)| expire_at(unit, arg, now_ms, command))
        .transpose()
}

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT ts | PXAT ts-ms | KEEPTTL]
fn set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let parsed = parse_extended_options(&args[3..], OptionsOf::Set).and_then(|opts| {
        let deadline = options_deadline(&opts, now, "set")?;
        Ok((opts, deadline))
    });
    let (opts, deadline) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let key = &args[1];
    // With GET, a key of another type is an error and nothing is set.
    let old = if opts.get {
        match read_string(ctx, key) {
            Ok(old) => old,
            Err(e) => return e,
        }
    } else {
        None
    };
    // Plain SET needs nothing of the old value: `store` replaces it in its one lookup.
    let existing_ttl = if opts.nx || opts.xx || opts.keepttl {
        ctx.db().get(key, now).map(|e| e.expire_at_ms())
    } else {
        None
    };
    let applies = !(opts.nx && existing_ttl.is_some() || opts.xx && existing_ttl.is_none());
    if applies {
        let ttl = if opts.keepttl {
            existing_ttl.flatten()
        } else {
            deadline
        };
        store(ctx, key, &args[2], ttl);
        ctx.notify(class::STRING, "set", key);
        if deadline.is_some() {
            ctx.notify(class::GENERIC, "expire", key);
        }
    }
    match (opts.get, applies) {
        (true, _) => old.map_or(Reply::Nil, Reply::Bulk),
        (false, true) => Reply::ok(),
        (false, false) => Reply::Nil,
    }
}

/// Stores `value` with deadline `ttl`; a deadline already past (EXAT/PXAT in the past) leaves the
/// key deleted, as it would be at its next access anyway.
fn store(ctx: &mut Ctx, key: &[u8], value: &[u8], ttl: Option<u64>) {
    let now = ctx.now_ms;
    match ttl {
        Some(at) if at <= now => {
            ctx.db().delete(key);
        }
        _ => ctx.db().overwrite_string(key, value, ttl, now),
    }
}

fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    if ctx.db().contains(&args[1], now) {
        return Reply::Int(0);
    }
    ctx.db().insert(&args[1], Value::string(&args[2]), None);
    ctx.notify(class::STRING, "set", &args[1]);
    Reply::Int(1)
}

fn setex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_with_expiry(ctx, args, b"EX", "setex")
}

fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    set_with_expiry(ctx, args, b"PX", "psetex")
}

/// SETEX/PSETEX key time value
fn set_with_expiry(ctx: &mut Ctx, args: &[Bytes], unit: &[u8], command: &str) -> Reply {
    match expire_at(unit, &args[2], ctx.now_ms, command) {
        Ok(at) => {
            store(ctx, &args[1], &args[3], Some(at));
            ctx.notify(class::STRING, "set", &args[1]);
            ctx.notify(class::GENERIC, "expire", &args[1]);
            Reply::ok()
        }
        Err(e) => e,
    }
}

fn getset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let old = match read_string(ctx, &args[1]) {
        Ok(old) => old,
        Err(e) => return e,
    };
    ctx.db().insert(&args[1], Value::string(&args[2]), None);
    ctx.notify(class::STRING, "set", &args[1]);
    old.map_or(Reply::Nil, Reply::Bulk)
}

fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let found = read_string(ctx, &args[1]);
    if let Ok(Some(_)) = found {
        ctx.db().delete(&args[1]);
        ctx.notify(class::GENERIC, "del", &args[1]);
    }
    bulk_or_nil(found)
}

/// GETEX key [EX s | PX ms | EXAT ts | PXAT ts-ms | PERSIST]
fn getex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let opts = match parse_extended_options(&args[2..], OptionsOf::Getex) {
        Ok(opts) => opts,
        Err(e) => return e,
    };
    let key = &args[1];
    let value = match read_string(ctx, key) {
        Ok(Some(value)) => value,
        other => return bulk_or_nil(other),
    };
    // As in Redis, the expire time is checked only once the key is known to be a string.
    let now = ctx.now_ms;
    let deadline = match options_deadline(&opts, now, "getex") {
        Ok(deadline) => deadline,
        Err(e) => return e,
    };
    let db = ctx.db();
    let event = match deadline {
        Some(at) if at <= now => {
            db.delete(key);
            Some("del")
        }
        Some(at) => {
            db.set_expire(key, Some(at), now);
            Some("expire")
        }
        None if opts.persist => db.set_expire(key, None, now).then_some("persist"),
        None => None,
    };
    if let Some(event) = event {
        ctx.notify(class::GENERIC, event, key);
    }
    Reply::Bulk(value)
}

// ---------------------------------------------------------------------------------------------
// MSET and MSETNX

/// `args` has a name then key/value pairs; an unpaired key is Redis's arity error.
fn pairs_complete(args: &[Bytes], command: &str) -> Result<(), Reply> {
    if args.len() % 2 == 1 {
        Ok(())
    } else {
        Err(Reply::error(format!(
            "ERR wrong number of arguments for '{command}' command"
        )))
    }
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(e) = pairs_complete(args, "mset") {
        return e;
    }
    set_pairs(ctx, args)
}

fn set_pairs(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    for pair in args[1..].chunks_exact(2) {
        ctx.db().insert(&pair[0], Value::string(&pair[1]), None);
        ctx.notify(class::STRING, "set", &pair[0]);
    }
    Reply::ok()
}

fn count_existing(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let db = ctx.db();
    Reply::Int(args[1..].iter().filter(|k| db.contains(k, now)).count() as i64)
}

fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(e) = pairs_complete(args, "msetnx") {
        return e;
    }
    let now = ctx.now_ms;
    let db = ctx.db();
    if args[1..].iter().step_by(2).any(|k| db.contains(k, now)) {
        return Reply::Int(0);
    }
    set_pairs(ctx, args);
    Reply::Int(1)
}

/// Key/value pairs grouped by owning shard, each group as the arguments of one `name` command.
fn pairs_by_shard(client: &Client, name: &Bytes, args: &[Bytes]) -> BTreeMap<usize, Vec<Bytes>> {
    let mut parts: BTreeMap<usize, Vec<Bytes>> = BTreeMap::new();
    for pair in args[1..].chunks_exact(2) {
        parts
            .entry(client.shard.owner_of(&pair[0]))
            .or_insert_with(|| vec![name.clone()])
            .extend_from_slice(pair);
    }
    parts
}

fn keys_of_pairs(args: &[Bytes]) -> Vec<Bytes> {
    args[1..].iter().step_by(2).cloned().collect()
}

/// Sets every part (from `pairs_by_shard`) on its shard and ends the transaction.
async fn set_parts(txn: Txn<'_>, parts: BTreeMap<usize, Vec<Bytes>>, resp3: bool) -> Reply {
    let db = txn.db();
    let requests = parts
        .into_iter()
        .map(|(to, args)| {
            let req = Request {
                spec: &SET_PAIRS,
                db,
                resp3,
                args,
            };
            (to, req)
        })
        .collect();
    let replies = txn.run_and_finish(requests).await;
    replies
        .into_iter()
        .find(Reply::is_error)
        .unwrap_or(Reply::ok())
}

/// MSETNX over several shards: with every key locked, count the existing keys on each shard; set
/// all only if none exists. Nobody can create one of the keys between the check and the set.
fn msetnx_across_shards(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        if let Err(e) = pairs_complete(&args, "msetnx") {
            return e;
        }
        let parts = pairs_by_shard(client, &args[0], &args);
        let resp3 = client.resp3();
        let shard = client.shard.clone();
        let txn = Txn::lock(&shard, client.db(), &keys_of_pairs(&args)).await;
        let checks = parts.values().map(|part| {
            let mut check = vec![part[0].clone()];
            check.extend(part[1..].iter().step_by(2).cloned());
            txn.run_for_key(&part[1], &COUNT_EXISTING, check, resp3)
        });
        let counts = futures::future::join_all(checks).await;
        if let Some(error) = counts.iter().find(|r| r.is_error()) {
            let error = error.clone();
            txn.finish().await;
            return error;
        }
        if counts.iter().any(|r| *r != Reply::Int(0)) {
            txn.finish().await;
            return Reply::Int(0);
        }
        match set_parts(txn, parts, resp3).await {
            Reply::Status(_) => Reply::Int(1),
            error => error,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// In-place changes: APPEND, SETRANGE

/// The longest string APPEND and SETRANGE may make: the configured `proto-max-bulk-len`.
fn string_bytes_max(ctx: &Ctx) -> usize {
    ctx.shard.config.borrow().proto_max_bulk_len
}

fn too_long() -> Reply {
    Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
}

/// Writes `patch` at `offset` of the string at `key` (zero-extending it, creating it when
/// missing, keeping its TTL), logged as that range rather than the whole string.
pub(super) fn write_range(ctx: &mut Ctx, key: &[u8], offset: usize, patch: &[u8]) {
    let now = ctx.now_ms;
    let delta = Delta::StrWrite {
        offset: offset as u64,
        bytes: Bytes::copy_from_slice(patch),
    };
    let written = ctx.db().apply(key, delta, now);
    debug_assert!(written.is_ok(), "write_range on a non-string");
}

fn append(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, tail) = (&args[1], &args[2]);
    let len_max = string_bytes_max(ctx);
    let now = ctx.now_ms;
    // Checked before taking the value, so that an error leaves it untouched.
    let len = match ctx.db().get(key, now).map(|e| e.value.as_string()) {
        None => {
            ctx.db().insert(key, Value::string(tail), None);
            ctx.notify(class::STRING, "append", key);
            return Reply::Int(tail.len() as i64);
        }
        Some(None) => return wrong_type(),
        Some(Some(old)) => old.len() + tail.len(),
    };
    if len > len_max {
        return too_long();
    }
    write_range(ctx, key, len - tail.len(), tail);
    ctx.notify(class::STRING, "append", key);
    Reply::Int(len as i64)
}

/// SETRANGE key offset value: overwrites from `offset`, padding with zero bytes.
fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, patch) = (&args[1], &args[3]);
    let offset = match parse_i64(&args[2]) {
        Ok(n) if n < 0 => return Reply::error("ERR offset is out of range"),
        Ok(n) => n as u64,
        Err(e) => return e,
    };
    let now = ctx.now_ms;
    let old_len = match ctx.db().get(key, now).map(|e| e.value.as_string()) {
        None => None,
        Some(None) => return wrong_type(),
        Some(Some(old)) => Some(old.len()),
    };
    if patch.is_empty() {
        // Nothing to write: no key is created, an existing one is left as it is.
        return Reply::Int(old_len.unwrap_or(0) as i64);
    }
    let end = offset.saturating_add(patch.len() as u64);
    if end > string_bytes_max(ctx) as u64 {
        return too_long();
    }
    write_range(ctx, key, offset as usize, patch);
    ctx.notify(class::STRING, "setrange", key);
    Reply::Int(old_len.unwrap_or(0).max(end as usize) as i64)
}

// ---------------------------------------------------------------------------------------------
// Counters: INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT

fn not_an_integer() -> Reply {
    Reply::error("ERR value is not an integer or out of range")
}

fn incr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    add_to_integer(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    add_to_integer(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match parse_i64(&args[2]) {
        Ok(delta) => add_to_integer(ctx, &args[1], delta),
        Err(e) => e,
    }
}

fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match parse_i64(&args[2]) {
        Ok(i64::MIN) => Reply::error("ERR decrement would overflow"),
        Ok(delta) => add_to_integer(ctx, &args[1], -delta),
        Err(e) => e,
    }
}

/// Adds `delta` to the integer at `key` (0 when missing), keeping its TTL; the result is kept in
/// the `int` encoding.
fn add_to_integer(ctx: &mut Ctx, key: &[u8], delta: i64) -> Reply {
    let now = ctx.now_ms;
    let added = ctx.db().update_value(key, now, |value| {
        let current = match value {
            Value::Int(n) => *n,
            Value::Str { bytes, .. } => parse_canonical_i64(bytes).ok_or_else(not_an_integer)?,
            _ => return Err(wrong_type()),
        };
        let sum = current
            .checked_add(delta)
            .ok_or_else(|| Reply::error("ERR increment or decrement would overflow"))?;
        *value = Value::Int(sum);
        Ok(sum)
    });
    let sum = match added {
        Some(Ok(sum)) => sum,
        Some(Err(refused)) => return refused,
        None => {
            ctx.db().insert(key, Value::Int(delta), None);
            delta
        }
    };
    ctx.notify(class::STRING, "incrby", key);
    Reply::Int(sum)
}

fn not_a_float() -> Reply {
    Reply::error("ERR value is not a valid float")
}

/// INCRBYFLOAT key increment: computed in x87 80-bit long double and written with 17 decimals
/// without trailing zeros, as Redis on x86-64 does, so results read the same ("0.1" + "0.2" is
/// "0.3"). The result is a plain string (never the `int` encoding); the TTL is kept.
fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let now = ctx.now_ms;
    let current = match ctx.db().get(key, now).map(|e| e.value.as_string()) {
        None => Some(LongDouble::ZERO),
        Some(None) => return wrong_type(),
        Some(Some(bytes)) => LongDouble::parse(&bytes),
    };
    let (Some(current), Some(increment)) = (current, LongDouble::parse(&args[2])) else {
        return not_a_float();
    };
    let sum = current.add(increment);
    if !sum.is_finite() {
        return Reply::error("ERR increment would produce NaN or Infinity");
    }
    let text = Bytes::from(sum.to_human_string());
    let value = Value::raw_string(text.to_vec(), false);
    match ctx.db().get_value_mut(key, now) {
        Some(old) => *old = value,
        None => ctx.db().insert(key, value, None),
    }
    ctx.notify(class::STRING, "incrbyfloat", key);
    Reply::Bulk(text)
}
