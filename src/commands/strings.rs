//! String commands (Redis's t_string.c).

use bytes::Bytes;

use super::spec::*;
use super::{parse_i64, syntax_error, wrong_type, CommandSpec, SplitMerge};
use crate::keyspace::Value;
use crate::protocol::Reply;
use crate::shard::Ctx;

const STRING_READ: &[&str] = &["@read", "@string", "@fast"];
const STRING_WRITE: &[&str] = &["@write", "@string", "@fast"];
const STRING_WRITE_SLOW: &[&str] = &["@write", "@string", "@slow"];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "get",
        arity: 2,
        flags: READONLY | FAST,
        keys: KEY1,
        acl: STRING_READ,
        group: "string",
        summary: "Returns the string value of a key.",
        run: keyed(get),
        ..BASE
    },
    CommandSpec {
        name: "set",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: KEY1,
        acl: &["@write", "@string", "@slow"],
        group: "string",
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        run: keyed(set),
        ..BASE
    },
    CommandSpec {
        name: "mget",
        arity: -2,
        flags: READONLY | FAST,
        keys: ALL_KEYS,
        acl: STRING_READ,
        group: "string",
        summary: "Atomically returns the string values of one or more keys.",
        complexity: "O(N) where N is the number of keys to retrieve.",
        run: split(mget, SplitMerge::PerKey),
        ..BASE
    },
    CommandSpec {
        name: "mset",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: KEY_VALUE_PAIRS,
        acl: STRING_WRITE_SLOW,
        group: "string",
        summary: "Atomically creates or modifies the string values of one or more keys.",
        complexity: "O(N) where N is the number of keys to set.",
        run: split(mset, SplitMerge::Ok),
        ..BASE
    },
];

/// The string at `key`: `Ok(None)` when missing, `Err(WRONGTYPE)` when another type.
pub fn get_string(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    let now = ctx.now_ms;
    match ctx.db().get(key, now) {
        None => Ok(None),
        Some(entry) => entry.value.as_string().map(Some).ok_or_else(wrong_type),
    }
}

fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match get_string(ctx, &args[1]) {
        Ok(Some(bytes)) => {
            ctx.shard.stats.borrow_mut().keyspace_hits += 1;
            Reply::Bulk(bytes)
        }
        Ok(None) => {
            ctx.shard.stats.borrow_mut().keyspace_misses += 1;
            Reply::Nil
        }
        Err(e) => e,
    }
}

/// SET's options, parsed.
#[derive(Default)]
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    expire_at_ms: Option<u64>,
}

fn parse_set_options(args: &[Bytes], now_ms: u64) -> Result<SetOptions, Reply> {
    let mut opts = SetOptions::default();
    let mut i = 0;
    let mut expiry_given = false;
    while i < args.len() {
        let opt = args[i].to_ascii_uppercase();
        match opt.as_slice() {
            b"NX" if !opts.xx => opts.nx = true,
            b"XX" if !opts.nx => opts.xx = true,
            b"GET" => opts.get = true,
            b"KEEPTTL" if !expiry_given => opts.keepttl = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT"
                if !expiry_given && !opts.keepttl && i + 1 < args.len() =>
            {
                expiry_given = true;
                i += 1;
                opts.expire_at_ms = Some(expire_at(&opt, &args[i], now_ms, "set")?);
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

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT ts | PXAT ts-ms | KEEPTTL]
fn set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let opts = match parse_set_options(&args[3..], ctx.now_ms) {
        Ok(opts) => opts,
        Err(e) => return e,
    };
    let key = &args[1];
    let old = if opts.get {
        match get_string(ctx, key) {
            Ok(old) => old,
            Err(e) => return e,
        }
    } else {
        None
    };
    let now = ctx.now_ms;
    let existing = ctx.db().get(key, now).map(|e| e.expire_at_ms);
    let applies = !(opts.nx && existing.is_some() || opts.xx && existing.is_none());
    if applies {
        let ttl = if opts.keepttl {
            existing.flatten()
        } else {
            opts.expire_at_ms
        };
        ctx.db().insert(key, Value::string(&args[2]), ttl);
    }
    match (opts.get, applies) {
        (true, _) => old.map_or(Reply::Nil, Reply::Bulk),
        (false, true) => Reply::ok(),
        (false, false) => Reply::Nil,
    }
}

fn mget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let db = ctx.db();
    Reply::Array(
        args[1..]
            .iter()
            .map(
                |key| match db.get(key, now).and_then(|e| e.value.as_string()) {
                    Some(bytes) => Reply::Bulk(bytes),
                    None => Reply::Nil,
                },
            )
            .collect(),
    )
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() % 2 == 0 {
        return Reply::error("ERR wrong number of arguments for 'mset' command");
    }
    let db = ctx.db();
    for pair in args[1..].chunks(2) {
        db.insert(&pair[0], Value::string(&pair[1]), None);
    }
    Reply::ok()
}
