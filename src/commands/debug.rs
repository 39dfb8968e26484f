//! DEBUG (the subset tests and tools use) and MEMORY.

use bytes::Bytes;

use super::client::help_reply;
use super::server::all_ok;
use super::spec::*;
use super::{parse_i64, syntax_error, CommandSpec, Keys, Run};
use crate::keyspace::{Change, Value};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::shard::Ctx;
use crate::snapshot::{reload, Header};
use futures::future::LocalBoxFuture;

const DEBUG_FLAGS: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
const DEBUG_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

/// The key right after a subcommand's name (`DEBUG OBJECT key`, `MEMORY USAGE key`).
const SUBCOMMAND_KEY: Keys = Keys::Range {
    first: 2,
    last: 2,
    step: 1,
};

/// Longest `DEBUG SLEEP`; longer requests sleep this long.
const DEBUG_SLEEP_S_MAX: f64 = 3600.0;
/// What a key costs besides its value in `MEMORY USAGE`: the hash table entry, the key's header
/// and the expiry slot, roughly as Redis counts its dictEntry, robj and sds headers.
const KEY_OVERHEAD_BYTES: usize = 48;

const fn debug_sub(name: &'static str, arity: i32, keys: Keys, run: Run) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: DEBUG_FLAGS,
        keys,
        acl: DEBUG_ACL,
        group: "server",
        summary: "A container for debugging commands.",
        complexity: "Depends on subcommand.",
        run,
        ..BASE
    }
}

static DEBUG_SUBCOMMANDS: &[CommandSpec] = &[
    debug_sub(
        "debug|sleep",
        3,
        Keys::None,
        Run::Broadcast {
            exec: sleep,
            merge: all_ok,
        },
    ),
    debug_sub("debug|object", 3, SUBCOMMAND_KEY, keyed(object)),
    debug_sub(
        "debug|reload",
        -2,
        Keys::None,
        Run::Broadcast {
            exec: reload,
            merge: all_ok,
        },
    ),
    debug_sub(
        "debug|set-active-expire",
        3,
        Keys::None,
        Run::Client(set_active_expire),
    ),
    debug_sub("debug|panic", 2, Keys::None, Run::Local(panic)),
    debug_sub("debug|help", 2, Keys::None, Run::Local(debug_help)),
];

static MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "memory|usage",
        arity: -3,
        flags: READONLY,
        keys: SUBCOMMAND_KEY,
        acl: &["@read", "@slow"],
        group: "server",
        summary: "Estimates the memory usage of a key.",
        since: "4.0.0",
        complexity: "O(N) where N is the number of samples.",
        run: keyed(memory_usage),
        ..BASE
    },
    CommandSpec {
        name: "memory|help",
        arity: 2,
        flags: LOADING | STALE,
        acl: &["@slow"],
        group: "server",
        summary: "Returns helpful text about the different subcommands.",
        since: "4.0.0",
        run: Run::Local(memory_help),
        ..BASE
    },
];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        subcommands: DEBUG_SUBCOMMANDS,
        ..debug_sub("debug", -2, Keys::None, Run::Parent)
    },
    container(
        "memory",
        "server",
        "A container for memory diagnostics commands.",
        "4.0.0",
        MEMORY_SUBCOMMANDS,
    ),
];

/// `DEBUG SLEEP seconds`: stops every shard (each runs this at once) for that long, as Redis
/// stops its one thread. Like Redis's `strtod`, a non-number sleeps 0.
fn sleep(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let seconds = std::str::from_utf8(&args[2])
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(0.0)
        .min(DEBUG_SLEEP_S_MAX);
    std::thread::sleep(std::time::Duration::from_secs_f64(seconds));
    Reply::ok()
}

/// `DEBUG PANIC`: panics on the connection's shard, as Redis's crashes the server; the panic
/// aborts the process (`main::abort_on_panic`).
fn panic(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    panic!("DEBUG PANIC");
}

/// `DEBUG RELOAD`: every shard (each runs this at once) saves its keyspace in the snapshot format
/// to a temporary file in its directory and loads it back (`snapshot::reload`), as Redis saves
/// and reloads its RDB. Redis's options (MERGE, NOFLUSH, NOSAVE) are refused.
fn reload(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 2 {
        return Reply::error("ERR DEBUG RELOAD options (MERGE, NOFLUSH, NOSAVE) are not supported");
    }
    let shard = ctx.shard;
    let dir = crate::server::shard_dir(&shard.config.borrow().dir, shard.id);
    let header = Header {
        shard: shard.id as u32,
        slots: ctx.keyspace.dbs[0].slot_range(),
        epoch: 0,
        lsn: 0,
        txns: Vec::new(),
    };
    // A running snapshot must have everything before the keyspace is emptied and loaded back.
    shard.snapshot_write_out_all(ctx.keyspace);
    // An unpublished snapshot's name: a start after a crash in the middle deletes it.
    let path = dir.join("snapshot-reload.kss.tmp");
    let reloaded = std::fs::create_dir_all(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))
        .and_then(|()| reload::round_trip(ctx.keyspace, header, &path, ctx.now_ms));
    match reloaded {
        Ok(keys) => {
            log::info!(
                "shard {}: DEBUG RELOAD saved and loaded back {keys} keys",
                shard.id
            );
            // Redis empties its databases before loading: WATCHed keys that existed are touched.
            let flushed: Vec<_> = (0..ctx.keyspace.dbs.len())
                .map(|db| (db, Change::Flush))
                .collect();
            shard
                .watches
                .borrow_mut()
                .touch(ctx.keyspace, &[], &flushed);
            Reply::ok()
        }
        Err(e) => {
            log::warn!("shard {}: DEBUG RELOAD failed: {e}", shard.id);
            Reply::error("ERR Error trying to load the RDB dump, check server logs.")
        }
    }
}

/// Bytes Redis's RDB format would take for a string: a length prefix, or a short int encoding.
fn serialized_len(value: &Value) -> usize {
    match value {
        Value::Int(n) if i8::try_from(*n).is_ok() => 2,
        Value::Int(n) if i16::try_from(*n).is_ok() => 3,
        Value::Int(n) if i32::try_from(*n).is_ok() => 5,
        _ => {
            let len = value.as_string().map_or(0, |b| b.len());
            let prefix = match len {
                0..=63 => 1,
                64..=16383 => 2,
                _ => 5,
            };
            prefix + len
        }
    }
}

fn object(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let Some(entry) = ctx.db().get(&args[2], now) else {
        return Reply::error("ERR no such key");
    };
    Reply::StatusOwned(format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:0 lru_seconds_idle:0",
        &entry.value,
        entry.value.encoding(),
        serialized_len(&entry.value)
    ))
}

/// Private: turns this shard's active expiry on or off (`[name, 0|1]`).
static SET_ACTIVE_EXPIRE_SHARD: CommandSpec =
    shard_step("debug|set-active-expire-shard", set_active_expire_shard);

/// `DEBUG SET-ACTIVE-EXPIRE 0|1` on every shard of the node, even from a cluster shard port.
fn set_active_expire(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let shard_args = [
            Bytes::from_static(SET_ACTIVE_EXPIRE_SHARD.name.as_bytes()),
            args[2].clone(),
        ];
        let replies = client
            .shard
            .broadcast(&SET_ACTIVE_EXPIRE_SHARD, client.db(), false, &shard_args)
            .await;
        all_ok(replies, &args)
    })
}

/// Like Redis's `atoi`, anything not a number is 0 (off).
fn set_active_expire_shard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let on = parse_i64(&args[1]).unwrap_or(0) != 0;
    ctx.shard.active_expire.set(on);
    Reply::ok()
}

const DEBUG_HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "RELOAD",
    "    Save every shard's keyspace in the snapshot format and load it back.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "PANIC",
    "    Panic the server (it aborts).",
    "HELP",
    "    Prints this help.",
];

fn debug_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(DEBUG_HELP)
}

/// `MEMORY USAGE key [SAMPLES count]`. Values are not sampled (strings have no parts), so the
/// count is checked and otherwise ignored.
fn memory_usage(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    for option in args[3..].chunks(2) {
        match option {
            [name, count] if name.eq_ignore_ascii_case(b"samples") => match parse_i64(count) {
                Err(e) => return e,
                Ok(n) if n < 0 => return syntax_error(),
                Ok(_) => {}
            },
            _ => return syntax_error(),
        }
    }
    let key = &args[2];
    let now = ctx.now_ms;
    match ctx.db().get(key, now) {
        Some(entry) => {
            Reply::Int((entry.value.memory_bytes() + key.len() + KEY_OVERHEAD_BYTES) as i64)
        }
        None => Reply::Nil,
    }
}

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

fn memory_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(MEMORY_HELP)
}
