//! Generic keyspace commands (Redis's db.c and object.c): DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN,
//! RANDOMKEY, TOUCH, RENAME, RENAMENX, COPY, MOVE, SWAPDB, FLUSHDB, FLUSHALL, OBJECT. The expiry
//! commands are in `expire`.

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::scan_args::{parse_cursor, scan_reply, ScanOptions};
use super::spec::*;
use super::{parse_i64, syntax_error, CommandSpec, Keys, Run, SplitMerge};
use crate::journal::effect::{self, Effect};
use crate::keyspace::pattern::glob_match;
use crate::protocol::Reply;
use crate::pubsub::notify::class;
use crate::router::slot::SLOT_COUNT;
use crate::router::Txn;
use crate::server::client::Client;
use crate::shard::{Ctx, Request};

const KEYSPACE_READ_FAST: &[&str] = &["@keyspace", "@read", "@fast"];
const KEYSPACE_READ_SLOW: &[&str] = &["@keyspace", "@read", "@slow"];
const KEYSPACE_WRITE_FAST: &[&str] = &["@keyspace", "@write", "@fast"];
const KEYSPACE_WRITE_SLOW: &[&str] = &["@keyspace", "@write", "@slow"];
const KEYSPACE_WRITE_DANGEROUS: &[&str] = &["@keyspace", "@write", "@slow", "@dangerous"];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "del",
        arity: -2,
        flags: WRITE,
        keys: ALL_KEYS,
        acl: KEYSPACE_WRITE_SLOW,
        summary: "Deletes one or more keys.",
        complexity: "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).",
        run: split(del, SplitMerge::Sum),
        ..BASE
    },
    CommandSpec {
        name: "unlink",
        arity: -2,
        flags: WRITE | FAST,
        keys: ALL_KEYS,
        acl: KEYSPACE_WRITE_FAST,
        summary: "Asynchronously deletes one or more keys.",
        since: "4.0.0",
        complexity: "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.",
        run: split(del, SplitMerge::Sum),
        ..BASE
    },
    CommandSpec {
        name: "exists",
        arity: -2,
        flags: READONLY | FAST,
        keys: ALL_KEYS,
        acl: KEYSPACE_READ_FAST,
        summary: "Determines whether one or more keys exist.",
        complexity: "O(N) where N is the number of keys to check.",
        run: split(exists, SplitMerge::Sum),
        ..BASE
    },
    CommandSpec {
        name: "type",
        arity: 2,
        flags: READONLY | FAST,
        keys: KEY1,
        acl: KEYSPACE_READ_FAST,
        summary: "Determines the type of value stored at a key.",
        run: keyed(type_of),
        ..BASE
    },
    CommandSpec {
        name: "keys",
        arity: 2,
        flags: READONLY,
        acl: &["@keyspace", "@read", "@slow", "@dangerous"],
        summary: "Returns all key names that match a pattern.",
        complexity: "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.",
        run: Run::Broadcast {
            exec: keys,
            merge: concat_arrays,
        },
        ..BASE
    },
    CommandSpec {
        name: "scan",
        arity: -2,
        flags: READONLY,
        acl: KEYSPACE_READ_SLOW,
        summary: "Iterates over the key names in the database.",
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        run: Run::Client(scan),
        ..BASE
    },
    CommandSpec {
        name: "randomkey",
        arity: 1,
        flags: READONLY,
        acl: KEYSPACE_READ_SLOW,
        summary: "Returns a random key name from the database.",
        run: Run::Broadcast {
            exec: random_key,
            merge: pick_random,
        },
        ..BASE
    },
    CommandSpec {
        name: "touch",
        arity: -2,
        flags: READONLY | FAST,
        keys: ALL_KEYS,
        acl: KEYSPACE_READ_FAST,
        summary: "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        since: "3.2.1",
        complexity: "O(N) where N is the number of keys that will be touched.",
        run: split(exists, SplitMerge::Sum),
        ..BASE
    },
    CommandSpec {
        name: "rename",
        arity: 3,
        flags: WRITE,
        keys: TWO_KEYS,
        acl: KEYSPACE_WRITE_SLOW,
        summary: "Renames a key and overwrites the destination.",
        run: coordinated(rename, rename_across),
        ..BASE
    },
    CommandSpec {
        name: "renamenx",
        arity: 3,
        flags: WRITE | FAST,
        keys: TWO_KEYS,
        acl: KEYSPACE_WRITE_FAST,
        summary: "Renames a key only when the target key name doesn't exist.",
        run: coordinated(renamenx, renamenx_across),
        ..BASE
    },
    CommandSpec {
        name: "copy",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: TWO_KEYS,
        acl: KEYSPACE_WRITE_SLOW,
        summary: "Copies the value of a key to a new key.",
        since: "6.2.0",
        complexity: "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
        run: coordinated(copy, copy_across),
        ..BASE
    },
    CommandSpec {
        name: "move",
        arity: 3,
        flags: WRITE | FAST,
        keys: KEY1,
        acl: KEYSPACE_WRITE_FAST,
        summary: "Moves a key to another database.",
        run: keyed(move_key),
        ..BASE
    },
    CommandSpec {
        name: "swapdb",
        arity: 3,
        flags: WRITE | FAST,
        acl: &["@keyspace", "@write", "@fast", "@dangerous"],
        group: "server",
        summary: "Swaps two Redis databases.",
        since: "4.0.0",
        complexity: "O(N) where N is the count of clients watching or blocking on keys from both databases.",
        run: Run::Broadcast {
            exec: swapdb,
            merge: all_ok,
        },
        ..BASE
    },
    CommandSpec {
        name: "flushdb",
        arity: -1,
        flags: WRITE,
        acl: KEYSPACE_WRITE_DANGEROUS,
        group: "server",
        summary: "Remove all keys from the current database.",
        complexity: "O(N) where N is the number of keys in the selected database",
        run: Run::Broadcast {
            exec: flushdb,
            merge: all_ok,
        },
        ..BASE
    },
    CommandSpec {
        name: "flushall",
        arity: -1,
        flags: WRITE,
        acl: KEYSPACE_WRITE_DANGEROUS,
        group: "server",
        summary: "Removes all keys from all databases.",
        complexity: "O(N) where N is the total number of keys in all databases",
        run: Run::Broadcast {
            exec: flushall,
            merge: all_ok,
        },
        ..BASE
    },
    CommandSpec {
        name: "object",
        arity: -2,
        acl: &["@slow"],
        summary: "A container for object introspection commands.",
        since: "2.2.3",
        complexity: "Depends on subcommand.",
        run: Run::Parent,
        subcommands: OBJECT_SUBCOMMANDS,
        ..BASE
    },
];

/// OBJECT's subcommands that inspect a key (its second argument).
const OBJECT_OF_KEY: CommandSpec = CommandSpec {
    arity: 3,
    flags: READONLY,
    keys: Keys::Range {
        first: 2,
        last: 2,
        step: 1,
    },
    acl: KEYSPACE_READ_SLOW,
    since: "2.2.3",
    ..BASE
};

static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "object|encoding",
        summary: "Returns the internal encoding of a Redis object.",
        run: keyed(object_encoding),
        ..OBJECT_OF_KEY
    },
    CommandSpec {
        name: "object|freq",
        summary: "Returns the logarithmic access frequency counter of a Redis object.",
        since: "4.0.0",
        run: keyed(object_freq),
        ..OBJECT_OF_KEY
    },
    CommandSpec {
        name: "object|idletime",
        summary: "Returns the time since the last access to a Redis object.",
        run: keyed(object_idletime),
        ..OBJECT_OF_KEY
    },
    CommandSpec {
        name: "object|refcount",
        summary: "Returns the reference count of a value of a key.",
        run: keyed(object_refcount),
        ..OBJECT_OF_KEY
    },
    CommandSpec {
        name: "object|help",
        arity: 2,
        flags: LOADING | STALE,
        acl: &["@keyspace", "@slow"],
        summary: "Returns helpful text about the different subcommands.",
        since: "6.2.0",
        run: Run::Local(object_help),
        ..BASE
    },
];

fn del(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let mut deleted = 0;
    for key in &args[1..] {
        // Looked up first so that an expired key counts as missing, not as deleted.
        let db = ctx.db();
        if db.contains(key, now) && db.delete(key) {
            deleted += 1;
            ctx.notify(class::GENERIC, "del", key);
        }
    }
    Reply::Int(deleted)
}

/// EXISTS and TOUCH: how many of the keys exist, repeated keys counted each time.
fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let db = ctx.db();
    Reply::Int(args[1..].iter().filter(|k| db.contains(k, now)).count() as i64)
}

fn type_of(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    Reply::Status(
        ctx.db()
            .get(&args[1], now)
            .map_or("none", |e| e.value.type_name()),
    )
}

fn keys(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let keys = ctx.db().keys(&args[1], now);
    Reply::Array(keys.into_iter().map(Reply::Bulk).collect())
}

/// Merges every shard's array reply into one.
fn concat_arrays(replies: Vec<Reply>, _args: &[Bytes]) -> Reply {
    let mut all = Vec::new();
    for reply in replies {
        match reply {
            Reply::Array(items) => all.extend(items),
            error @ Reply::Error(_) => return error,
            _ => {}
        }
    }
    Reply::Array(all)
}

fn random_key(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    ctx.db().random_key(now).map_or(Reply::Nil, Reply::Bulk)
}

/// One of the shards' keys, at random; nil when every shard is empty.
fn pick_random(replies: Vec<Reply>, _args: &[Bytes]) -> Reply {
    use rand::seq::SliceRandom;
    let keys: Vec<Reply> = replies
        .into_iter()
        .filter(|r| matches!(r, Reply::Bulk(_)))
        .collect();
    keys.choose(&mut rand::thread_rng())
        .cloned()
        .unwrap_or(Reply::Nil)
}

/// OK when every shard said OK, else the first error.
fn all_ok(replies: Vec<Reply>, _args: &[Bytes]) -> Reply {
    replies
        .into_iter()
        .find(Reply::is_error)
        .unwrap_or(Reply::ok())
}

/// FLUSHDB and FLUSHALL take an optional ASYNC or SYNC; both free memory at once here.
fn flush_mode_ok(args: &[Bytes]) -> Result<(), Reply> {
    match args {
        [_] => Ok(()),
        [_, mode] if mode.eq_ignore_ascii_case(b"async") || mode.eq_ignore_ascii_case(b"sync") => {
            Ok(())
        }
        _ => Err(syntax_error()),
    }
}

fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(e) = flush_mode_ok(args) {
        return e;
    }
    ctx.db().clear();
    Reply::ok()
}

fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if let Err(e) = flush_mode_ok(args) {
        return e;
    }
    ctx.keyspace.dbs.iter_mut().for_each(|db| db.clear());
    Reply::ok()
}

/// SWAPDB runs on every shard; each swaps its part of the two databases.
fn swapdb(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let databases = ctx.keyspace.dbs.len();
    let index = |arg: &[u8], invalid: &'static str| -> Result<usize, Reply> {
        let n = parse_i32(arg, Some(invalid))?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n < databases)
            .ok_or_else(db_out_of_range)
    };
    let pair = index(&args[1], "ERR invalid first DB index")
        .and_then(|a| Ok((a, index(&args[2], "ERR invalid second DB index")?)));
    match pair {
        Ok((a, b)) => {
            ctx.keyspace.swap_dbs(a, b);
            Reply::ok()
        }
        Err(e) => e,
    }
}

/// Parses a 32-bit integer as Redis's getIntFromObjectOrReply does, with `invalid` as the error
/// text when given.
fn parse_i32(arg: &[u8], invalid: Option<&'static str>) -> Result<i32, Reply> {
    let n = parse_i64(arg).map_err(|e| invalid.map_or(e, Reply::error))?;
    i32::try_from(n).map_err(|_| {
        Reply::error(
            invalid.unwrap_or(
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            ),
        )
    })
}

/// A database index argument (MOVE, COPY ... DB).
fn parse_db_index(arg: &[u8], databases: usize) -> Result<usize, Reply> {
    let n = parse_i32(arg, None)?;
    usize::try_from(n)
        .ok()
        .filter(|&n| n < databases)
        .ok_or_else(db_out_of_range)
}

fn db_out_of_range() -> Reply {
    Reply::error("ERR DB index is out of range")
}

fn same_object() -> Reply {
    Reply::error("ERR source and destination objects are the same")
}

fn no_such_key() -> Reply {
    Reply::error("ERR no such key")
}

// ---- SCAN ----------------------------------------------------------------------------------

/// One shard's step of a SCAN: `scan-step slot count pattern type` (empty type: any). Replies
/// `[next slot, [keys]]`.
static SCAN_STEP: CommandSpec = CommandSpec {
    name: "scan-step",
    arity: 5,
    flags: READONLY,
    acl: KEYSPACE_READ_SLOW,
    run: Run::Local(scan_step),
    ..BASE
};

/// The cursor is the next hash slot to visit: 0 starts, and 0 comes back once every slot was
/// visited. Each call walks whole slots of one shard (see `Db::scan`), so a key present for the
/// whole iteration is always returned, whatever changes in between. A cursor past the last slot
/// ends the iteration at once.
fn scan(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        match scan_from(client, &args).await {
            Ok(reply) | Err(reply) => reply,
        }
    })
}

async fn scan_from(client: &Client, args: &[Bytes]) -> Result<Reply, Reply> {
    let cursor = parse_cursor(&args[1])?;
    let opts = ScanOptions::parse(&args[2..], true)?;
    let shard = &client.shard;
    // On a cluster shard port only this shard's slots exist.
    let slots = if client.cluster_port {
        shard.node.slots.range(shard.id)
    } else {
        0..SLOT_COUNT as u16
    };
    let slot = if cursor == 0 {
        slots.start as u64
    } else {
        cursor
    };
    if !(slots.start as u64..slots.end as u64).contains(&slot) {
        return Ok(scan_reply(0, Vec::new()));
    }
    let step = Request {
        spec: &SCAN_STEP,
        db: client.db(),
        resp3: client.resp3(),
        args: vec![
            Bytes::from_static(b"scan-step"),
            Bytes::from(slot.to_string()),
            Bytes::from(opts.count.to_string()),
            opts.pattern.unwrap_or_else(|| Bytes::from_static(b"*")),
            opts.type_name.unwrap_or_default(),
        ],
    };
    let owner = shard.node.slots.owner(slot as u16);
    let reply = shard.exec_on(owner, vec![step], None).await.pop();
    let Some(Reply::Array(mut parts)) = reply else {
        return Err(reply.unwrap_or(Reply::error("ERR shard did not answer")));
    };
    let (Some(Reply::Array(keys)), Some(Reply::Int(next))) = (parts.pop(), parts.pop()) else {
        return Err(Reply::error("ERR malformed scan step reply"));
    };
    let next = if next as u64 >= slots.end as u64 {
        0
    } else {
        next as u64
    };
    Ok(scan_reply(next, keys))
}

fn scan_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (Ok(slot), Ok(count)) = (parse_i64(&args[1]), parse_i64(&args[2])) else {
        return syntax_error();
    };
    let (pattern, type_name) = (&args[3], &args[4]);
    let any_name = pattern.as_ref() == b"*";
    let now = ctx.now_ms;
    let (keys, next) = ctx
        .db()
        .scan(slot as u16, count as usize, now, |key, entry| {
            (type_name.is_empty()
                || type_name.eq_ignore_ascii_case(entry.value.type_name().as_bytes()))
                && (any_name || glob_match(pattern, key, false))
        });
    Reply::Array(vec![
        Reply::Int(next as i64),
        Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
    ])
}

// ---- RENAME, RENAMENX, COPY, MOVE ------------------------------------------------------------

fn rename(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_here(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_here(ctx, args, true)
}

/// RENAME / RENAMENX with both keys on this shard.
fn rename_here(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> Reply {
    let (src, dst) = (&args[1], &args[2]);
    let now = ctx.now_ms;
    let db = ctx.db();
    if !db.contains(src, now) {
        return no_such_key();
    }
    if src == dst {
        return if nx { Reply::Int(0) } else { Reply::ok() };
    }
    if nx && db.contains(dst, now) {
        return Reply::Int(0);
    }
    ctx.keyspace.move_key(ctx.db, src, ctx.db, dst);
    ctx.notify(class::GENERIC, "rename_from", src);
    ctx.notify(class::GENERIC, "rename_to", dst);
    if nx {
        Reply::Int(1)
    } else {
        Reply::ok()
    }
}

/// COPY's options.
struct CopyOptions {
    replace: bool,
    /// The destination database, when given.
    db: Option<usize>,
}

impl CopyOptions {
    fn parse(args: &[Bytes], databases: usize) -> Result<CopyOptions, Reply> {
        let mut opts = CopyOptions {
            replace: false,
            db: None,
        };
        let mut i = 0;
        while i < args.len() {
            if args[i].eq_ignore_ascii_case(b"replace") {
                opts.replace = true;
            } else if args[i].eq_ignore_ascii_case(b"db") && i + 1 < args.len() {
                i += 1;
                opts.db = Some(parse_db_index(&args[i], databases)?);
            } else {
                return Err(syntax_error());
            }
            i += 1;
        }
        Ok(opts)
    }
}

/// COPY source destination [DB n] [REPLACE] with both keys on this shard.
fn copy(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let opts = match CopyOptions::parse(&args[3..], ctx.keyspace.dbs.len()) {
        Ok(opts) => opts,
        Err(e) => return e,
    };
    let (src, dst) = (&args[1], &args[2]);
    let target = opts.db.unwrap_or(ctx.db);
    if target == ctx.db && src == dst {
        return same_object();
    }
    let now = ctx.now_ms;
    let Some(entry) = ctx.db().get(src, now).cloned() else {
        return Reply::Int(0);
    };
    let target_db = &mut ctx.keyspace.dbs[target];
    if !opts.replace && target_db.contains(dst, now) {
        return Reply::Int(0);
    }
    // Redis deletes a destination and adds the key anew (announced `new`).
    target_db.delete(dst);
    let (value, expire_at_ms) = entry.into_parts();
    target_db.insert(dst, value, expire_at_ms);
    ctx.notify_in(target, class::GENERIC, "copy_to", dst);
    Reply::Int(1)
}

/// MOVE key db: the key stays on its shard, only its database changes.
fn move_key(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let target = match parse_db_index(&args[2], ctx.keyspace.dbs.len()) {
        Ok(target) => target,
        Err(e) => return e,
    };
    if target == ctx.db {
        return same_object();
    }
    let (key, now) = (&args[1], ctx.now_ms);
    if !ctx.db().contains(key, now) || ctx.keyspace.dbs[target].contains(key, now) {
        return Reply::Int(0);
    }
    ctx.keyspace.move_key(ctx.db, key, target, key);
    ctx.notify(class::GENERIC, "move_from", key);
    ctx.notify_in(target, class::GENERIC, "move_to", key);
    Reply::Int(1)
}

/// Reads the entry of `key` for a move to another shard: `dump-step key`. Replies the entry
/// encoded as a journal PUT effect (value and absolute expiry), or nil when the key does not exist.
/// RENAME's source lookup announces no `keymiss`.
static DUMP_STEP: CommandSpec = DUMP_STEP_SPEC;

/// The same for COPY, whose source lookup announces a `keymiss` (`copy-dump-step key`).
static COPY_DUMP_STEP: CommandSpec = CommandSpec {
    name: "copy-dump-step",
    ..DUMP_STEP_SPEC
};

const DUMP_STEP_SPEC: CommandSpec = CommandSpec {
    name: "dump-step",
    arity: 2,
    flags: READONLY,
    keys: KEY1,
    acl: KEYSPACE_READ_FAST,
    run: keyed(dump_step),
    ..BASE
};

/// Stores an entry made by `dump-step` under `key`: `put-step key entry replace|nx event`.
/// Replies 1 when stored (and publishes keyspace event `event`: `rename_to`, `copy_to`), 0 when
/// `nx` and the key exists.
static PUT_STEP: CommandSpec = CommandSpec {
    name: "put-step",
    arity: 5,
    flags: WRITE,
    keys: KEY1,
    acl: KEYSPACE_WRITE_SLOW,
    run: keyed(put_step),
    ..BASE
};

/// Deletes the source of a cross-shard RENAME, as one part of its transaction, announcing it as
/// `rename_from`.
static RENAME_FROM_STEP: CommandSpec = CommandSpec {
    name: "rename-from-step",
    arity: 2,
    flags: WRITE,
    keys: KEY1,
    acl: KEYSPACE_WRITE_SLOW,
    run: keyed(rename_from_step),
    ..BASE
};

fn rename_from_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let removed = ctx.db().delete(&args[1]);
    if removed {
        ctx.notify(class::GENERIC, "rename_from", &args[1]);
    }
    Reply::Int(removed as i64)
}

/// How many of the keys exist: EXISTS as one step of a coordinated plan.
static EXISTS_STEP: CommandSpec = CommandSpec {
    name: "exists-step",
    arity: 2,
    flags: READONLY,
    keys: KEY1,
    acl: KEYSPACE_READ_FAST,
    run: keyed(exists),
    ..BASE
};

fn dump_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, now) = (&args[1], ctx.now_ms);
    match ctx.db().get(key, now) {
        None => Reply::Nil,
        Some(entry) => {
            let mut encoded = Vec::new();
            Effect::Put {
                key: key.clone(),
                value: entry.value.clone(),
                expire_at_ms: entry.expire_at_ms(),
            }
            .encode(&mut encoded);
            Reply::Bulk(Bytes::from(encoded))
        }
    }
}

fn put_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, now) = (&args[1], ctx.now_ms);
    let Some(Effect::Put {
        value,
        expire_at_ms,
        ..
    }) = Effect::decode(effect::PUT, args[2].clone())
    else {
        return Reply::error("ERR value in transit between shards is malformed");
    };
    let db = ctx.db();
    if args[3].as_ref() == b"nx" && db.contains(key, now) {
        return Reply::Int(0);
    }
    // Redis deletes a destination and adds the key anew (announced `new`).
    db.delete(key);
    db.insert(key, value.detached(), expire_at_ms);
    let event = String::from_utf8_lossy(&args[4]).into_owned();
    ctx.notify(class::GENERIC, &event, key);
    Reply::Int(1)
}

/// What a cross-shard relocation does with its source and destination.
#[derive(Clone, Copy, PartialEq)]
enum Relocation {
    Rename,
    RenameNx,
    Copy { replace: bool },
}

fn rename_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move { relocate_across(client, &args, Relocation::Rename).await })
}

fn renamenx_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move { relocate_across(client, &args, Relocation::RenameNx).await })
}

fn copy_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let databases = client.shard.config.borrow().databases;
        let opts = match CopyOptions::parse(&args[3..], databases) {
            Ok(opts) => opts,
            Err(e) => return e,
        };
        match opts.db {
            Some(target) if target != client.db() => copy_to_other_db(client, &args, opts).await,
            _ => {
                relocate_across(
                    client,
                    &args,
                    Relocation::Copy {
                        replace: opts.replace,
                    },
                )
                .await
            }
        }
    })
}

/// RENAME, RENAMENX or COPY (same database) with the keys on two shards: both keys are locked,
/// the source's entry taken (or copied) on its shard and stored on the destination's, all under
/// the locks, so that no other command sees the keys half-way.
async fn relocate_across(client: &Client, args: &[Bytes], how: Relocation) -> Reply {
    let (src, dst) = (&args[1], &args[2]);
    let (shard, resp3) = (&client.shard, client.resp3());
    let txn = Txn::lock(shard, client.db(), &[src.clone(), dst.clone()]).await;
    let exists = |key: &Bytes| vec![Bytes::from_static(b"exists-step"), key.clone()];
    if how == Relocation::RenameNx {
        // The destination is checked first so that a refused RENAMENX changes nothing.
        match txn.run_for_key(dst, &EXISTS_STEP, exists(dst), resp3).await {
            Reply::Int(0) => {}
            Reply::Int(_) => {
                let src_exists = txn.run_for_key(src, &EXISTS_STEP, exists(src), resp3).await;
                txn.finish().await;
                return match src_exists {
                    Reply::Int(0) => no_such_key(),
                    Reply::Int(_) => Reply::Int(0),
                    other => other,
                };
            }
            other => {
                txn.finish().await;
                return other;
            }
        }
    }
    let dump_step = match how {
        Relocation::Copy { .. } => &COPY_DUMP_STEP,
        _ => &DUMP_STEP,
    };
    let dump = vec![Bytes::from_static(dump_step.name.as_bytes()), src.clone()];
    let entry = match txn.run_for_key(src, dump_step, dump, resp3).await {
        Reply::Bulk(entry) => entry,
        missing => {
            txn.finish().await;
            return match (missing, how) {
                (Reply::Nil, Relocation::Copy { .. }) => Reply::Int(0),
                (Reply::Nil, _) => no_such_key(),
                (error, _) => error,
            };
        }
    };
    let replace = !matches!(how, Relocation::Copy { replace: false });
    let db = txn.db();
    let event: &'static [u8] = match how {
        Relocation::Copy { .. } => b"copy_to",
        _ => b"rename_to",
    };
    let mut parts = vec![(
        shard.owner_of(dst),
        put_request(dst, entry, replace, db, resp3, event),
    )];
    if !matches!(how, Relocation::Copy { .. }) {
        // The source's deletion is a part of the same transaction: after a crash the key is
        // either at its source or at its destination, never lost or doubled.
        let del = Request {
            spec: &RENAME_FROM_STEP,
            db,
            resp3,
            args: vec![Bytes::from_static(b"rename-from-step"), src.clone()],
        };
        parts.push((shard.owner_of(src), del));
    }
    let mut stored = txn.run_and_finish(parts).await.into_iter();
    match (stored.next(), how) {
        (Some(Reply::Int(_)), Relocation::Rename) => Reply::ok(),
        (Some(reply), _) => reply,
        (None, _) => Reply::error("ERR shard did not answer"),
    }
}

fn put_request(
    dst: &Bytes,
    entry: Bytes,
    replace: bool,
    db: usize,
    resp3: bool,
    event: &'static [u8],
) -> Request {
    let mode: &'static [u8] = if replace { b"replace" } else { b"nx" };
    Request {
        spec: &PUT_STEP,
        db,
        resp3,
        args: vec![
            Bytes::from_static(b"put-step"),
            dst.clone(),
            entry,
            Bytes::from_static(mode),
            Bytes::from_static(event),
        ],
    }
}

/// COPY ... DB n with the keys on two shards and n another database: both keys are locked (each
/// in its own database, in the usual shard order, so no deadlock), the source read, then the copy
/// stored, as one transaction.
async fn copy_to_other_db(client: &Client, args: &[Bytes], opts: CopyOptions) -> Reply {
    let (src, dst) = (&args[1], &args[2]);
    let (shard, resp3) = (&client.shard, client.resp3());
    let target = opts.db.expect("only called with a DB option");
    let keys = [(client.db(), src.clone()), (target, dst.clone())];
    let txn = Txn::lock_in_dbs(shard, client.db(), &keys).await;
    let dump = vec![Bytes::from_static(b"copy-dump-step"), src.clone()];
    let entry = match txn.run_for_key(src, &COPY_DUMP_STEP, dump, resp3).await {
        Reply::Bulk(entry) => entry,
        other => {
            txn.finish().await;
            return if other == Reply::Nil {
                Reply::Int(0)
            } else {
                other
            };
        }
    };
    let put = put_request(dst, entry, opts.replace, target, resp3, b"copy_to");
    let mut stored = txn.run_and_finish(vec![(shard.owner_of(dst), put)]).await;
    stored
        .pop()
        .unwrap_or(Reply::error("ERR shard did not answer"))
}

// ---- OBJECT ---------------------------------------------------------------------------------

/// Redis shares the integer objects below this (OBJ_SHARED_INTEGERS); they report this refcount.
const SHARED_INTEGERS_MAX: i64 = 10_000;
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// Runs `f` on the entry at OBJECT's key, or replies nil when the key does not exist.
fn with_object(
    ctx: &mut Ctx,
    args: &[Bytes],
    f: impl FnOnce(&crate::keyspace::Entry) -> Reply,
) -> Reply {
    let now = ctx.now_ms;
    ctx.db().get(&args[2], now).map_or(Reply::Nil, f)
}

fn object_encoding(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    with_object(ctx, args, |e| Reply::bulk_str(e.value.encoding()))
}

fn object_refcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    with_object(ctx, args, |e| match e.value {
        crate::keyspace::Value::Int(n) if (0..SHARED_INTEGERS_MAX).contains(&n) => {
            Reply::Int(SHARED_REFCOUNT)
        }
        _ => Reply::Int(1),
    })
}

/// Keel does not track access times, so every key reports 0 seconds idle.
fn object_idletime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    with_object(ctx, args, |_| Reply::Int(0))
}

/// Keel has no LFU eviction policy, so, like Redis without one, it tracks no access frequency.
fn object_freq(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    with_object(ctx, args, |_| {
        Reply::error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    })
}

fn object_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    Reply::Array(LINES.iter().map(|line| Reply::Status(line)).collect())
}
