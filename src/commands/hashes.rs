//! Hash commands (Redis's t_hash.c). Every change is a `Delta` applied through `Db::apply`, so
//! the journal logs the fields that changed; a hash left empty is deleted.

use bytes::Bytes;

use super::scan_args::{parse_cursor, scan_reply, ScanOptions};
use super::spec::*;
use super::strings::long_double::LongDouble;
use super::{parse_i64, parse_random_count, syntax_error, wrong_type, CommandSpec};
use crate::keyspace::{parse_canonical_i64, Delta, Hash, Value};
use crate::protocol::Reply;
use crate::pubsub::notify::{class, notify_removal};
use crate::shard::Ctx;

const HASH_READ: &[&str] = &["@read", "@hash", "@fast"];
const HASH_READ_SLOW: &[&str] = &["@read", "@hash", "@slow"];
const HASH_WRITE: &[&str] = &["@write", "@hash", "@fast"];

const WHOLE_HASH: &str = "O(N) where N is the size of the hash.";

/// A hash command's table entry; the fields that differ are spelled out per command.
const HASH: CommandSpec = CommandSpec {
    keys: KEY1,
    group: "hash",
    since: "2.0.0",
    ..BASE
};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "hset",
        arity: -4,
        flags: WRITE | DENYOOM | FAST,
        acl: HASH_WRITE,
        summary: "Creates or modifies the value of a field in a hash.",
        complexity: "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.",
        run: keyed(hset),
        ..HASH
    },
    CommandSpec {
        name: "hsetnx",
        arity: 4,
        flags: WRITE | DENYOOM | FAST,
        acl: HASH_WRITE,
        summary: "Sets the value of a field in a hash only when the field doesn't exist.",
        run: keyed(hsetnx),
        ..HASH
    },
    CommandSpec {
        name: "hget",
        arity: 3,
        flags: READONLY | FAST,
        acl: HASH_READ,
        summary: "Returns the value of a field in a hash.",
        run: keyed(hget),
        ..HASH
    },
    CommandSpec {
        name: "hmget",
        arity: -3,
        flags: READONLY | FAST,
        acl: HASH_READ,
        summary: "Returns the values of all fields in a hash.",
        complexity: "O(N) where N is the number of fields being requested.",
        run: keyed(hmget),
        ..HASH
    },
    CommandSpec {
        name: "hmset",
        arity: -4,
        flags: WRITE | DENYOOM | FAST,
        acl: HASH_WRITE,
        summary: "Sets the values of multiple fields.",
        complexity: "O(N) where N is the number of fields being set.",
        run: keyed(hmset),
        ..HASH
    },
    CommandSpec {
        name: "hdel",
        arity: -3,
        flags: WRITE | FAST,
        acl: HASH_WRITE,
        summary: "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
        complexity: "O(N) where N is the number of fields to be removed.",
        run: keyed(hdel),
        ..HASH
    },
    CommandSpec {
        name: "hlen",
        arity: 2,
        flags: READONLY | FAST,
        acl: HASH_READ,
        summary: "Returns the number of fields in a hash.",
        run: keyed(hlen),
        ..HASH
    },
    CommandSpec {
        name: "hstrlen",
        arity: 3,
        flags: READONLY | FAST,
        acl: HASH_READ,
        summary: "Returns the length of the value of a field.",
        since: "3.2.0",
        run: keyed(hstrlen),
        ..HASH
    },
    CommandSpec {
        name: "hexists",
        arity: 3,
        flags: READONLY | FAST,
        acl: HASH_READ,
        summary: "Determines whether a field exists in a hash.",
        run: keyed(hexists),
        ..HASH
    },
    CommandSpec {
        name: "hkeys",
        arity: 2,
        flags: READONLY,
        acl: HASH_READ_SLOW,
        summary: "Returns all fields in a hash.",
        complexity: WHOLE_HASH,
        run: keyed(hkeys),
        ..HASH
    },
    CommandSpec {
        name: "hvals",
        arity: 2,
        flags: READONLY,
        acl: HASH_READ_SLOW,
        summary: "Returns all values in a hash.",
        complexity: WHOLE_HASH,
        run: keyed(hvals),
        ..HASH
    },
    CommandSpec {
        name: "hgetall",
        arity: 2,
        flags: READONLY,
        acl: HASH_READ_SLOW,
        summary: "Returns all fields and values in a hash.",
        complexity: WHOLE_HASH,
        run: keyed(hgetall),
        ..HASH
    },
    CommandSpec {
        name: "hincrby",
        arity: 4,
        flags: WRITE | DENYOOM | FAST,
        acl: HASH_WRITE,
        summary: "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
        run: keyed(hincrby),
        ..HASH
    },
    CommandSpec {
        name: "hincrbyfloat",
        arity: 4,
        flags: WRITE | DENYOOM | FAST,
        acl: HASH_WRITE,
        summary: "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
        since: "2.6.0",
        run: keyed(hincrbyfloat),
        ..HASH
    },
    CommandSpec {
        name: "hscan",
        arity: -3,
        flags: READONLY,
        acl: HASH_READ_SLOW,
        summary: "Iterates over fields and values of a hash.",
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        run: keyed(hscan),
        ..HASH
    },
    CommandSpec {
        name: "hrandfield",
        arity: -2,
        flags: READONLY,
        acl: HASH_READ_SLOW,
        summary: "Returns one or more random fields from a hash.",
        since: "6.2.0",
        complexity: "O(N) where N is the number of fields returned",
        run: keyed(hrandfield),
        ..HASH
    },
];

// ---- Access ---------------------------------------------------------------------------------

/// The hash at `key`: `Ok(None)` when missing, `Err(WRONGTYPE)` for another type.
fn find_hash<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<Option<&'c Hash>, Reply> {
    let now = ctx.now_ms;
    match ctx.db().get(key, now).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Hash(hash)) => Ok(Some(hash)),
        Some(_) => Err(wrong_type()),
    }
}

/// `find_hash` for a read command, counted in the keyspace hits and misses as Redis counts them
/// (its write commands are not counted).
fn read_hash<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Result<Option<&'c Hash>, Reply> {
    let shard = ctx.shard;
    let found = find_hash(ctx, key);
    let mut stats = shard.stats.borrow_mut();
    match &found {
        Ok(Some(_)) => stats.keyspace_hits += 1,
        Ok(None) => stats.keyspace_misses += 1,
        Err(_) => {}
    }
    found
}

/// Applies `delta` to the hash at `key` (WRONGTYPE for another type); returns how many fields
/// the hash had before and has after.
fn change_hash(ctx: &mut Ctx, key: &[u8], delta: Delta) -> Result<(usize, usize), Reply> {
    let before = find_hash(ctx, key)?.map_or(0, Hash::len);
    let now = ctx.now_ms;
    ctx.db().apply(key, delta, now).map_err(|_| wrong_type())?;
    let after = find_hash(ctx, key)?.map_or(0, Hash::len);
    Ok((before, after))
}

fn reply_or_error(result: Result<Reply, Reply>) -> Reply {
    match result {
        Ok(reply) | Err(reply) => reply,
    }
}

// ---- Writing --------------------------------------------------------------------------------

/// Sets the field/value pairs in `args[2..]`; returns how many fields are new.
fn set_pairs(ctx: &mut Ctx, args: &[Bytes], command: &str) -> Result<i64, Reply> {
    if !args.len().is_multiple_of(2) {
        return Err(Reply::error(format!(
            "ERR wrong number of arguments for '{command}' command"
        )));
    }
    let pairs = args[2..]
        .chunks_exact(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect();
    let (before, after) = change_hash(ctx, &args[1], Delta::HashSet(pairs))?;
    ctx.notify(class::HASH, "hset", &args[1]);
    Ok((after - before) as i64)
}

fn hset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    reply_or_error(set_pairs(ctx, args, "hset").map(Reply::Int))
}

fn hmset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    reply_or_error(set_pairs(ctx, args, "hmset").map(|_| Reply::ok()))
}

fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match find_hash(ctx, &args[1]) {
        Err(e) => return e,
        Ok(Some(hash)) if hash.get(&args[2]).is_some() => return Reply::Int(0),
        Ok(_) => {}
    }
    let pair = (args[2].clone(), args[3].clone());
    let result = change_hash(ctx, &args[1], Delta::HashSet(vec![pair]));
    if result.is_ok() {
        ctx.notify(class::HASH, "hset", &args[1]);
    }
    reply_or_error(result.map(|_| Reply::Int(1)))
}

fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // Only fields that exist are logged; with none, nothing is journaled.
    let present: Vec<Bytes> = match find_hash(ctx, &args[1]) {
        Err(e) => return e,
        Ok(Some(hash)) => args[2..]
            .iter()
            .filter(|f| hash.get(f).is_some())
            .cloned()
            .collect(),
        Ok(None) => Vec::new(),
    };
    if present.is_empty() {
        return Reply::Int(0);
    }
    let removed = change_hash(ctx, &args[1], Delta::HashDel(present));
    if removed.is_ok() {
        notify_removal(ctx, class::HASH, "hdel", &args[1]);
    }
    reply_or_error(removed.map(|(before, after)| Reply::Int((before - after) as i64)))
}

/// The current value of `field` for an increment: `Ok(None)` when the field (or key) is missing.
fn field_for_increment(ctx: &mut Ctx, key: &[u8], field: &[u8]) -> Result<Option<Bytes>, Reply> {
    Ok(find_hash(ctx, key)?.and_then(|hash| hash.get(field).map(Bytes::copy_from_slice)))
}

fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    reply_or_error(increment_integer(ctx, args))
}

fn increment_integer(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let delta = parse_i64(&args[3])?;
    let current = match field_for_increment(ctx, &args[1], &args[2])? {
        None => 0,
        Some(text) => parse_canonical_i64(&text)
            .ok_or_else(|| Reply::error("ERR hash value is not an integer"))?,
    };
    let sum = current
        .checked_add(delta)
        .ok_or_else(|| Reply::error("ERR increment or decrement would overflow"))?;
    let text = Bytes::copy_from_slice(itoa::Buffer::new().format(sum).as_bytes());
    change_hash(ctx, &args[1], Delta::HashSet(vec![(args[2].clone(), text)]))?;
    ctx.notify(class::HASH, "hincrby", &args[1]);
    Ok(Reply::Int(sum))
}

fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    reply_or_error(increment_float(ctx, args))
}

/// HINCRBYFLOAT: in x87 long double and written as INCRBYFLOAT writes (see `LongDouble`).
fn increment_float(ctx: &mut Ctx, args: &[Bytes]) -> Result<Reply, Reply> {
    let delta = LongDouble::parse(&args[3])
        .ok_or_else(|| Reply::error("ERR value is not a valid float"))?;
    if !delta.is_finite() {
        return Err(Reply::error("ERR value is NaN or Infinity"));
    }
    let current = match field_for_increment(ctx, &args[1], &args[2])? {
        None => LongDouble::ZERO,
        Some(text) => {
            LongDouble::parse(&text).ok_or_else(|| Reply::error("ERR hash value is not a float"))?
        }
    };
    let sum = current.add(delta);
    if !sum.is_finite() {
        return Err(Reply::error("ERR increment would produce NaN or Infinity"));
    }
    let text = Bytes::from(sum.to_human_string());
    change_hash(
        ctx,
        &args[1],
        Delta::HashSet(vec![(args[2].clone(), text.clone())]),
    )?;
    ctx.notify(class::HASH, "hincrbyfloat", &args[1]);
    Ok(Reply::Bulk(text))
}

// ---- Reading --------------------------------------------------------------------------------

fn hget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_hash(ctx, &args[1]) {
        Ok(hash) => hash
            .and_then(|h| h.get(&args[2]))
            .map_or(Reply::Nil, Reply::bulk),
        Err(e) => e,
    }
}

fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_hash(ctx, &args[1]) {
        Ok(hash) => Reply::Array(
            args[2..]
                .iter()
                .map(|f| hash.and_then(|h| h.get(f)).map_or(Reply::Nil, Reply::bulk))
                .collect(),
        ),
        Err(e) => e,
    }
}

/// Replies `f(hash)`, or `missing` when there is no hash at `args[1]`.
fn with_hash(
    ctx: &mut Ctx,
    args: &[Bytes],
    missing: Reply,
    f: impl FnOnce(&Hash) -> Reply,
) -> Reply {
    match read_hash(ctx, &args[1]) {
        Ok(Some(hash)) => f(hash),
        Ok(None) => missing,
        Err(e) => e,
    }
}

fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    with_hash(ctx, args, Reply::Int(0), |h| Reply::Int(h.len() as i64))
}

fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    with_hash(ctx, args, Reply::Int(0), |h| {
        Reply::Int(h.get(&args[2]).map_or(0, |v| v.len() as i64))
    })
}

fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    with_hash(ctx, args, Reply::Int(0), |h| {
        Reply::Int(h.get(&args[2]).is_some() as i64)
    })
}

fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    with_hash(ctx, args, Reply::Array(Vec::new()), |h| {
        Reply::Array(h.iter().map(|(f, _)| Reply::bulk(f)).collect())
    })
}

fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    with_hash(ctx, args, Reply::Array(Vec::new()), |h| {
        Reply::Array(h.iter().map(|(_, v)| Reply::bulk(v)).collect())
    })
}

fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    with_hash(ctx, args, Reply::Map(Vec::new()), |h| {
        Reply::Map(
            h.iter()
                .map(|(f, v)| (Reply::bulk(f), Reply::bulk(v)))
                .collect(),
        )
    })
}

// ---- HSCAN ----------------------------------------------------------------------------------

/// HSCAN key cursor [MATCH pattern] [COUNT count]. A listpack hash is returned whole with cursor
/// 0, as Redis does; a hashtable is walked by `Hash::scan`. MATCH filters after the walk, so a
/// step may return fewer fields than COUNT (or none) with a non-zero cursor.
fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let cursor = attempt!(parse_cursor(&args[2]));
    match read_hash(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return scan_reply(0, Vec::new()),
        Ok(Some(_)) => {}
    }
    let opts = attempt!(ScanOptions::parse(&args[3..], false));
    let (key, keyspace) = (&args[1], &mut *ctx.keyspace);
    let hash = match keyspace.dbs[ctx.db].peek(key).map(|e| &e.value) {
        Some(Value::Hash(hash)) => hash,
        _ => unreachable!("read above"),
    };
    let mut next_cursor = 0;
    let pairs: Vec<(Bytes, &[u8])> = if hash.is_listpack() {
        hash.iter()
            .map(|(f, v)| (Bytes::copy_from_slice(f), v))
            .collect()
    } else {
        let (fields, next) = keyspace.scans.step(ctx.db, key, hash, cursor, opts.count);
        next_cursor = next;
        let with_values = fields.into_iter().map(|f| {
            let value = hash.get(&f).expect("a step returns fields the hash holds");
            (f, value)
        });
        with_values.collect()
    };
    let items = pairs
        .into_iter()
        .filter(|(f, _)| opts.matches(f))
        .flat_map(|(f, v)| [Reply::Bulk(f), Reply::bulk(v)])
        .collect();
    scan_reply(next_cursor, items)
}

// ---- HRANDFIELD -----------------------------------------------------------------------------

/// HRANDFIELD key [count [WITHVALUES]].
fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return with_hash(ctx, args, Reply::Nil, |hash| {
            let picked = hash.random(&mut rand::thread_rng());
            picked.map_or(Reply::Nil, |(field, _)| Reply::bulk(field))
        });
    }
    let count = match parse_random_count(&args[2]) {
        Ok(count) => count,
        // A count past the repeat limit gets the answer Redis gives counts past LONG_MAX/2.
        Err(_) if parse_i64(&args[2]).is_ok_and(|n| n != i64::MIN) => {
            return Reply::error("ERR value is out of range")
        }
        Err(e) => return e,
    };
    let with_values = match &args[3..] {
        [] => false,
        [word] if word.eq_ignore_ascii_case(b"WITHVALUES") => true,
        _ => return syntax_error(),
    };
    let resp3 = ctx.resp3;
    with_hash(ctx, args, Reply::Array(Vec::new()), |hash| {
        let picked = hash.random_pairs(&mut rand::thread_rng(), count);
        random_fields_reply(picked.into_iter(), with_values, resp3)
    })
}

/// Fields alone; or with values, as [field, value] pairs in RESP3 and flat in RESP2, as Redis.
fn random_fields_reply<'a>(
    picked: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    with_values: bool,
    resp3: bool,
) -> Reply {
    let items = picked.flat_map(|(f, v)| {
        let field = Reply::bulk(f);
        let value = Reply::bulk(v);
        match (with_values, resp3) {
            (false, _) => vec![field],
            (true, true) => vec![Reply::Array(vec![field, value])],
            (true, false) => vec![field, value],
        }
    });
    Reply::Array(items.collect())
}
