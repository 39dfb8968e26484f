//! Set commands (Redis's t_set.c): SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP,
//! SRANDMEMBER, SMOVE, SINTER, SINTERCARD, SUNION, SDIFF, their *STORE forms and SSCAN.
//!
//! Multi-key commands whose keys live on several shards run as a cross-shard transaction: every
//! key is locked, each source set is read on its shard, the result is computed here, and any write
//! goes in the transaction's last step so that it is logged as one unit.

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::scan_args::{parse_cursor, scan_reply, ScanOptions};
use super::spec::*;
use super::{
    parse_i64, parse_numkeys, parse_pop_count, parse_random_count, syntax_error, wrong_type,
    CommandSpec, Keys, Run,
};
use crate::keyspace::{set_encoding, Db, Delta, SetMembers, Value};
use crate::protocol::Reply;
use crate::pubsub::notify::{class, notify_removal};
use crate::router::slot::key_slot;
use crate::router::{exec_on_owner, Txn};
use crate::server::client::Client;
use crate::shard::{Ctx, Request};

const SET_READ_FAST: &[&str] = &["@read", "@set", "@fast"];
const SET_READ_SLOW: &[&str] = &["@read", "@set", "@slow"];
const SET_WRITE_FAST: &[&str] = &["@write", "@set", "@fast"];
const SET_WRITE_SLOW: &[&str] = &["@write", "@set", "@slow"];

const INTER_COMPLEXITY: &str =
    "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.";
const UNION_COMPLEXITY: &str = "O(N) where N is the total number of elements in all given sets.";

/// A set command's table entry; the fields that differ are spelled out per command.
const SET: CommandSpec = CommandSpec {
    keys: KEY1,
    group: "set",
    ..BASE
};

/// The destination, then the source keys (SINTERSTORE, SUNIONSTORE, SDIFFSTORE).
const DST_THEN_SOURCES: Keys = ALL_KEYS;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "sadd",
        arity: -3,
        flags: WRITE | DENYOOM | FAST,
        acl: SET_WRITE_FAST,
        summary: "Adds one or more members to a set. Creates the key if it doesn't exist.",
        complexity: "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        run: keyed(sadd),
        ..SET
    },
    CommandSpec {
        name: "srem",
        arity: -3,
        flags: WRITE | FAST,
        acl: SET_WRITE_FAST,
        summary: "Removes one or more members from a set. Deletes the set if the last member was removed.",
        complexity: "O(N) where N is the number of members to be removed.",
        run: keyed(srem),
        ..SET
    },
    CommandSpec {
        name: "smembers",
        arity: 2,
        flags: READONLY,
        acl: SET_READ_SLOW,
        summary: "Returns all members of a set.",
        complexity: "O(N) where N is the set cardinality.",
        run: keyed(smembers),
        ..SET
    },
    CommandSpec {
        name: "sismember",
        arity: 3,
        flags: READONLY | FAST,
        acl: SET_READ_FAST,
        summary: "Determines whether a member belongs to a set.",
        run: keyed(sismember),
        ..SET
    },
    CommandSpec {
        name: "smismember",
        arity: -3,
        flags: READONLY | FAST,
        acl: SET_READ_FAST,
        summary: "Determines whether multiple members belong to a set.",
        since: "6.2.0",
        complexity: "O(N) where N is the number of elements being checked for membership",
        run: keyed(smismember),
        ..SET
    },
    CommandSpec {
        name: "scard",
        arity: 2,
        flags: READONLY | FAST,
        acl: SET_READ_FAST,
        summary: "Returns the number of members in a set.",
        run: keyed(scard),
        ..SET
    },
    CommandSpec {
        name: "spop",
        arity: -2,
        flags: WRITE | FAST,
        acl: SET_WRITE_FAST,
        summary: "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
        complexity: "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
        run: keyed(spop),
        ..SET
    },
    CommandSpec {
        name: "srandmember",
        arity: -2,
        flags: READONLY,
        acl: SET_READ_SLOW,
        summary: "Get one or multiple random members from a set",
        complexity: "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.",
        run: keyed(srandmember),
        ..SET
    },
    CommandSpec {
        name: "smove",
        arity: 4,
        flags: WRITE | FAST,
        keys: TWO_KEYS,
        acl: SET_WRITE_FAST,
        summary: "Moves a member from one set to another.",
        run: coordinated(smove, smove_across),
        ..SET
    },
    CommandSpec {
        name: "sinter",
        arity: -2,
        flags: READONLY,
        keys: ALL_KEYS,
        acl: SET_READ_SLOW,
        summary: "Returns the intersect of multiple sets.",
        complexity: INTER_COMPLEXITY,
        run: coordinated(sinter, sinter_across),
        ..SET
    },
    CommandSpec {
        name: "sintercard",
        arity: -3,
        flags: READONLY | MOVABLEKEYS,
        keys: NUMKEYS_KEYS,
        acl: SET_READ_SLOW,
        summary: "Returns the number of members of the intersect of multiple sets.",
        since: "7.0.0",
        complexity: INTER_COMPLEXITY,
        run: Run::Client(sintercard),
        ..SET
    },
    CommandSpec {
        name: "sunion",
        arity: -2,
        flags: READONLY,
        keys: ALL_KEYS,
        acl: SET_READ_SLOW,
        summary: "Returns the union of multiple sets.",
        complexity: UNION_COMPLEXITY,
        run: coordinated(sunion, sunion_across),
        ..SET
    },
    CommandSpec {
        name: "sdiff",
        arity: -2,
        flags: READONLY,
        keys: ALL_KEYS,
        acl: SET_READ_SLOW,
        summary: "Returns the difference of multiple sets.",
        complexity: UNION_COMPLEXITY,
        run: coordinated(sdiff, sdiff_across),
        ..SET
    },
    CommandSpec {
        name: "sinterstore",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: DST_THEN_SOURCES,
        acl: SET_WRITE_SLOW,
        summary: "Stores the intersect of multiple sets in a key.",
        complexity: INTER_COMPLEXITY,
        run: coordinated(sinterstore, sinterstore_across),
        ..SET
    },
    CommandSpec {
        name: "sunionstore",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: DST_THEN_SOURCES,
        acl: SET_WRITE_SLOW,
        summary: "Stores the union of multiple sets in a key.",
        complexity: UNION_COMPLEXITY,
        run: coordinated(sunionstore, sunionstore_across),
        ..SET
    },
    CommandSpec {
        name: "sdiffstore",
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: DST_THEN_SOURCES,
        acl: SET_WRITE_SLOW,
        summary: "Stores the difference of multiple sets in a key.",
        complexity: UNION_COMPLEXITY,
        run: coordinated(sdiffstore, sdiffstore_across),
        ..SET
    },
    CommandSpec {
        name: "sscan",
        arity: -3,
        flags: READONLY,
        acl: SET_READ_SLOW,
        summary: "Iterates over members of a set.",
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        run: keyed(sscan),
        ..SET
    },
];

/// The set at `key`: `None` when the key does not exist, WRONGTYPE when it holds another type.
fn read_set<'a>(db: &'a mut Db, key: &[u8], now_ms: u64) -> Result<Option<&'a SetMembers>, Reply> {
    match db.get(key, now_ms) {
        None => Ok(None),
        Some(entry) => entry.value.as_set().map(Some).ok_or_else(wrong_type),
    }
}

/// The sets at `keys` (missing ones as `None`), or WRONGTYPE if any key holds another type.
fn read_sets<'a>(
    db: &'a mut Db,
    keys: &[Bytes],
    now_ms: u64,
) -> Result<Vec<Option<&'a SetMembers>>, Reply> {
    for key in keys {
        // Drops the key if it expired, and checks its type.
        read_set(db, key, now_ms)?;
    }
    let db: &'a Db = db;
    Ok(keys
        .iter()
        .map(|key| db.peek(key).and_then(|e| e.value.as_set()))
        .collect())
}

/// A member taken from client arguments, copied so that it does not pin the connection's buffer.
fn owned(member: &[u8]) -> Bytes {
    Bytes::copy_from_slice(member)
}

fn bulks(members: impl IntoIterator<Item = Bytes>) -> Vec<Reply> {
    members.into_iter().map(Reply::Bulk).collect()
}

fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, members, now) = (&args[1], &args[2..], ctx.now_ms);
    let db = ctx.db();
    let before = attempt!(read_set(db, key, now)).map_or(0, |set| set.len());
    attempt!(change_set(db, key, Delta::SetAdd(members.to_vec()), now));
    let after = db
        .peek(key)
        .and_then(|e| e.value.as_set())
        .map_or(0, |set| set.len());
    if after > before {
        ctx.notify(class::SET, "sadd", key);
    }
    Reply::Int((after - before) as i64)
}

fn srem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, members, now) = (&args[1], &args[2..], ctx.now_ms);
    let db = ctx.db();
    let Some(set) = attempt!(read_set(db, key, now)) else {
        return Reply::Int(0);
    };
    let present: Vec<Bytes> = members
        .iter()
        .filter(|m| set.contains(m))
        .cloned()
        .collect();
    let before = set.len();
    attempt!(change_set(db, key, Delta::SetRem(present), now));
    let after = db
        .peek(key)
        .and_then(|e| e.value.as_set())
        .map_or(0, |set| set.len());
    if after < before {
        notify_removal(ctx, class::SET, "srem", key);
    }
    Reply::Int((before - after) as i64)
}

/// Applies `delta` to the set at `key` (WRONGTYPE for another type). A delta that would change
/// nothing is not applied, so that nothing is journaled for it.
fn change_set(db: &mut Db, key: &[u8], delta: Delta, now_ms: u64) -> Result<(), Reply> {
    let changes_nothing = match (&delta, db.peek(key).and_then(|e| e.value.as_set())) {
        (Delta::SetAdd(members), Some(set)) => members.iter().all(|m| set.contains(m)),
        (Delta::SetRem(members), _) => members.is_empty(),
        _ => false,
    };
    if changes_nothing {
        return Ok(());
    }
    db.apply(key, delta, now_ms).map_err(|_| wrong_type())
}

fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let set = attempt!(read_set(ctx.db(), &args[1], now));
    Reply::Set(bulks(set.into_iter().flatten().cloned()))
}

fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let set = attempt!(read_set(ctx.db(), &args[1], now));
    Reply::Int(set.is_some_and(|s| s.contains(&args[2])) as i64)
}

fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let set = attempt!(read_set(ctx.db(), &args[1], now));
    let member_of = |m: &Bytes| Reply::Int(set.is_some_and(|s| s.contains(m)) as i64);
    Reply::Array(args[2..].iter().map(member_of).collect())
}

fn scard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let set = attempt!(read_set(ctx.db(), &args[1], now));
    Reply::Int(set.map_or(0, |s| s.len()) as i64)
}

fn spop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, now) = (&args[1], ctx.now_ms);
    let count = match args {
        [_, _] => None,
        [_, _, count] => Some(attempt!(parse_pop_count(count))),
        _ => return syntax_error(),
    };
    let db = ctx.db();
    let empty = || match count {
        None => Reply::Nil,
        Some(_) => Reply::Set(Vec::new()),
    };
    if attempt!(read_set(db, key, now)).is_none() || count == Some(0) {
        return empty();
    }
    let set = attempt!(read_set(db, key, now)).expect("the set was just read");
    let picks = count.unwrap_or(1).min(set.len());
    let chosen = set.random_distinct(&mut rand::thread_rng(), picks);
    let chosen: Vec<Bytes> = chosen.into_iter().cloned().collect();
    attempt!(change_set(db, key, Delta::SetRem(chosen.clone()), now));
    notify_removal(ctx, class::SET, "spop", key);
    match count {
        None => chosen.into_iter().next().map_or(Reply::Nil, Reply::Bulk),
        Some(_) => Reply::Set(bulks(chosen)),
    }
}

fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, now) = (&args[1], ctx.now_ms);
    let count = match args {
        [_, _] => None,
        [_, _, count] => Some(attempt!(parse_random_count(count))),
        _ => return syntax_error(),
    };
    let set = attempt!(read_set(ctx.db(), key, now));
    let rng = &mut rand::thread_rng();
    match (set, count) {
        (None, None) => Reply::Nil,
        (None, Some(_)) => Reply::Array(Vec::new()),
        (Some(set), None) => set.random(rng).cloned().map_or(Reply::Nil, Reply::Bulk),
        (Some(set), Some(n)) if n >= 0 => {
            let count = n.min(set.len() as i64) as usize;
            Reply::Array(bulks(set.random_distinct(rng, count).into_iter().cloned()))
        }
        (Some(set), Some(n)) => {
            let picks = (0..n.unsigned_abs()).filter_map(|_| set.random(rng).cloned());
            Reply::Array(bulks(picks))
        }
    }
}

fn smove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (src, dst, member, now) = (&args[1], &args[2], &args[3], ctx.now_ms);
    let db = ctx.db();
    // Redis's order: a missing source is 0 whatever the destination holds; then both types.
    let Some(src_set) = attempt!(read_set(db, src, now)) else {
        return Reply::Int(0);
    };
    let in_src = src_set.contains(member);
    attempt!(read_set(db, dst, now));
    if !in_src {
        return Reply::Int(0);
    }
    if src == dst {
        return Reply::Int(1);
    }
    srem(ctx, &[args[0].clone(), src.clone(), member.clone()]);
    sadd(ctx, &[args[0].clone(), dst.clone(), member.clone()]);
    Reply::Int(1)
}

/// How a multi-set command combines its sets.
#[derive(Clone, Copy)]
enum SetOp {
    Inter,
    Union,
    Diff,
}

impl SetOp {
    /// The keyspace event of the *STORE form.
    fn store_event(self) -> &'static str {
        match self {
            SetOp::Inter => "sinterstore",
            SetOp::Union => "sunionstore",
            SetOp::Diff => "sdiffstore",
        }
    }
}

/// The result of `op` over `sets` (missing keys as `None`, which count as empty sets).
fn combine(op: SetOp, sets: &[Option<&SetMembers>]) -> SetMembers {
    match op {
        SetOp::Union => sets
            .iter()
            .flatten()
            .flat_map(|s| s.iter())
            .cloned()
            .collect(),
        SetOp::Diff => {
            let Some(Some(first)) = sets.first() else {
                return SetMembers::default();
            };
            let in_rest = |m: &&Bytes| sets[1..].iter().flatten().any(|s| s.contains(m));
            first.iter().filter(|m| !in_rest(m)).cloned().collect()
        }
        SetOp::Inter => intersection(sets).cloned().collect(),
    }
}

/// The members of every set, walking the smallest.
fn intersection<'a>(sets: &'a [Option<&'a SetMembers>]) -> impl Iterator<Item = &'a Bytes> {
    let all: Option<Vec<&SetMembers>> = sets.iter().copied().collect();
    let mut all = all.unwrap_or_default();
    all.sort_by_key(|s| s.len());
    let (smallest, rest) = match all.split_first() {
        Some((smallest, rest)) => (smallest.iter().collect::<Vec<_>>(), rest.to_vec()),
        None => (Vec::new(), Vec::new()),
    };
    smallest
        .into_iter()
        .filter(move |m| rest.iter().all(|s| s.contains(m)))
}

fn algebra(ctx: &mut Ctx, sources: &[Bytes], op: SetOp) -> Reply {
    let now = ctx.now_ms;
    let sets = attempt!(read_sets(ctx.db(), sources, now));
    Reply::Set(bulks(combine(op, &sets)))
}

fn algebra_store(ctx: &mut Ctx, args: &[Bytes], op: SetOp) -> Reply {
    let (dst, now) = (&args[1], ctx.now_ms);
    let sets = attempt!(read_sets(ctx.db(), &args[2..], now));
    let result = combine(op, &sets);
    store_announced(ctx, dst, result, op.store_event())
}

/// Stores a *STORE's result at `dst` and publishes Redis's keyspace event for it: `event` for a
/// stored set, `del` when an empty result deleted an existing key.
fn store_announced(ctx: &mut Ctx, dst: &[u8], members: SetMembers, event: &str) -> Reply {
    let now = ctx.now_ms;
    let existed = ctx.db().contains(dst, now);
    let reply = store(ctx.db(), dst, members);
    match reply {
        Reply::Int(0) if existed => ctx.notify(class::GENERIC, "del", dst),
        Reply::Int(0) => {}
        _ => ctx.notify(class::SET, event, dst),
    }
    reply
}

/// Replaces `dst` with `members` (deleting it when there are none); replies the cardinality.
fn store(db: &mut Db, dst: &[u8], members: SetMembers) -> Reply {
    let len = members.len() as i64;
    if members.is_empty() {
        db.delete(dst);
    } else {
        db.insert(dst, Value::Set(Box::new(members)), None);
    }
    Reply::Int(len)
}

fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra(ctx, &args[1..], SetOp::Inter)
}

fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra(ctx, &args[1..], SetOp::Union)
}

fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra(ctx, &args[1..], SetOp::Diff)
}

fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra_store(ctx, args, SetOp::Inter)
}

fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra_store(ctx, args, SetOp::Union)
}

fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    algebra_store(ctx, args, SetOp::Diff)
}

/// SINTERCARD's arguments: `numkeys key... [LIMIT limit]`.
struct InterCard {
    keys: Vec<Bytes>,
    /// 0: no limit.
    limit: usize,
}

impl InterCard {
    fn parse(args: &[Bytes]) -> Result<InterCard, Reply> {
        let numkeys = parse_numkeys(&args[1])?;
        if numkeys > args.len() - 2 {
            return Err(Reply::error(
                "ERR Number of keys can't be greater than number of args",
            ));
        }
        let mut limit = 0;
        let mut rest = args[2 + numkeys..].iter();
        while let Some(option) = rest.next() {
            match (option.eq_ignore_ascii_case(b"limit"), rest.next()) {
                (true, Some(value)) => match parse_i64(value)? {
                    n if n < 0 => return Err(Reply::error("ERR LIMIT can't be negative")),
                    n => limit = n as usize,
                },
                _ => return Err(syntax_error()),
            }
        }
        Ok(InterCard {
            keys: args[2..2 + numkeys].to_vec(),
            limit,
        })
    }

    fn count(&self, sets: &[Option<&SetMembers>]) -> Reply {
        let limit = if self.limit == 0 {
            usize::MAX
        } else {
            self.limit
        };
        Reply::Int(intersection(sets).take(limit).count() as i64)
    }
}

/// Runs SINTERCARD on the shard owning all its keys: `sintercard-step limit key...`.
static SINTERCARD_STEP: CommandSpec = CommandSpec {
    name: "sintercard-step",
    arity: -3,
    flags: READONLY,
    keys: Keys::Range {
        first: 2,
        last: -1,
        step: 1,
    },
    acl: SET_READ_SLOW,
    run: keyed(sintercard_step),
    ..SET
};

fn sintercard_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let Ok(limit) = parse_i64(&args[1]) else {
        return syntax_error();
    };
    let query = InterCard {
        keys: args[2..].to_vec(),
        limit: limit as usize,
    };
    let sets = attempt!(read_sets(ctx.db(), &query.keys, now));
    query.count(&sets)
}

/// SINTERCARD names its keys through `numkeys`, which the table's key ranges cannot say, so it
/// routes itself: to the one shard owning every key, or as a cross-shard read.
fn sintercard(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let query = attempt!(InterCard::parse(&args));
        let shard = client.shard.clone();
        let (db, resp3) = (client.db(), client.resp3());
        let first_slot = key_slot(&query.keys[0]);
        if client.cluster_port && query.keys.iter().any(|k| key_slot(k) != first_slot) {
            return Reply::error("CROSSSLOT Keys in request don't hash to the same slot");
        }
        let owner = shard.owner_of(&query.keys[0]);
        if query.keys.iter().all(|k| shard.owner_of(k) == owner) {
            let mut step_args = vec![
                Bytes::from_static(b"sintercard-step"),
                Bytes::from(query.limit.to_string()),
            ];
            step_args.extend(query.keys.iter().cloned());
            let req = Request {
                spec: &SINTERCARD_STEP,
                db,
                resp3,
                args: step_args,
            };
            let reply = exec_on_owner(&shard, owner, vec![req]).await.pop();
            return reply.unwrap_or(Reply::error("ERR shard did not answer"));
        }
        let txn = Txn::lock(&shard, db, &query.keys).await;
        let sets = fetch_sets(&txn, &query.keys, resp3).await;
        txn.finish().await;
        let sets = attempt!(sets);
        query.count(&sets.iter().map(Some).collect::<Vec<_>>())
    })
}

/// The members of a set, for a cross-shard plan: SMEMBERS as a private step (WRONGTYPE for
/// another type, an empty set for a missing key).
static MEMBERS_STEP: CommandSpec = CommandSpec {
    name: "set-members-step",
    arity: 2,
    flags: READONLY,
    acl: SET_READ_SLOW,
    run: keyed(smembers),
    ..SET
};

/// Replaces a key with the set of the given members (deletes it when none): the write of a
/// cross-shard *STORE. `set-store-step key event member...` (`event`: the keyspace event to
/// publish, e.g. `sinterstore`); replies the cardinality.
static STORE_STEP: CommandSpec = CommandSpec {
    name: "set-store-step",
    arity: -3,
    flags: WRITE,
    acl: SET_WRITE_SLOW,
    run: keyed(store_step),
    ..SET
};

/// SMOVE's two writes across shards: SREM from the source and SADD to the destination, whose
/// types the plan has checked under the locks.
static SREM_STEP: CommandSpec = CommandSpec {
    name: "set-srem-step",
    arity: -3,
    flags: WRITE,
    acl: SET_WRITE_FAST,
    run: keyed(srem),
    ..SET
};

static SADD_STEP: CommandSpec = CommandSpec {
    name: "set-sadd-step",
    arity: -3,
    flags: WRITE,
    acl: SET_WRITE_FAST,
    run: keyed(sadd),
    ..SET
};

fn store_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let members = args[3..].iter().map(|m| owned(m)).collect();
    let event = String::from_utf8_lossy(&args[2]).into_owned();
    store_announced(ctx, &args[1], members, &event)
}

/// Reads the sets at `keys` under `txn`'s locks: missing keys as empty sets, or the first error.
async fn fetch_sets(txn: &Txn<'_>, keys: &[Bytes], resp3: bool) -> Result<Vec<SetMembers>, Reply> {
    let reads = keys.iter().map(|key| {
        let args = vec![Bytes::from_static(b"set-members-step"), key.clone()];
        txn.run_for_key(key, &MEMBERS_STEP, args, resp3)
    });
    let mut sets = Vec::with_capacity(keys.len());
    for reply in futures::future::join_all(reads).await {
        match reply {
            Reply::Set(items) => sets.push(
                items
                    .into_iter()
                    .filter_map(|item| match item {
                        Reply::Bulk(member) => Some(member),
                        _ => None,
                    })
                    .collect(),
            ),
            Reply::Error(_) => return Err(reply),
            _ => return Err(Reply::error("ERR malformed set step reply")),
        }
    }
    Ok(sets)
}

fn step_request(spec: &'static CommandSpec, args: Vec<Bytes>, db: usize, resp3: bool) -> Request {
    Request {
        spec,
        db,
        resp3,
        args,
    }
}

/// SINTER, SUNION, SDIFF or their *STORE forms with keys on several shards.
async fn algebra_across(client: &Client, args: &[Bytes], op: SetOp, store: bool) -> Reply {
    let (shard, db, resp3) = (&client.shard, client.db(), client.resp3());
    let sources = if store { &args[2..] } else { &args[1..] };
    let txn = Txn::lock(shard, db, &args[1..]).await;
    let sets = match fetch_sets(&txn, sources, resp3).await {
        Ok(sets) => sets,
        Err(error) => {
            txn.finish().await;
            return error;
        }
    };
    let result = combine(op, &sets.iter().map(Some).collect::<Vec<_>>());
    if !store {
        txn.finish().await;
        return Reply::Set(bulks(result));
    }
    let dst = &args[1];
    let mut store_args = vec![
        Bytes::from_static(b"set-store-step"),
        dst.clone(),
        Bytes::from_static(op.store_event().as_bytes()),
    ];
    store_args.extend(result);
    let write = step_request(&STORE_STEP, store_args, db, resp3);
    let mut replies = txn.run_and_finish(vec![(shard.owner_of(dst), write)]).await;
    replies
        .pop()
        .unwrap_or(Reply::error("ERR shard did not answer"))
}

fn sinter_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move { algebra_across(client, &args, SetOp::Inter, false).await })
}

fn sunion_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move { algebra_across(client, &args, SetOp::Union, false).await })
}

fn sdiff_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move { algebra_across(client, &args, SetOp::Diff, false).await })
}

fn sinterstore_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move { algebra_across(client, &args, SetOp::Inter, true).await })
}

fn sunionstore_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move { algebra_across(client, &args, SetOp::Union, true).await })
}

fn sdiffstore_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move { algebra_across(client, &args, SetOp::Diff, true).await })
}

/// SMOVE with its two keys on two shards: both are locked and type-checked, then the member is
/// removed from the source and added to the destination as one transaction.
fn smove_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let (src, dst, member) = (&args[1], &args[2], &args[3]);
        let (shard, db, resp3) = (&client.shard, client.db(), client.resp3());
        let txn = Txn::lock(shard, db, &args[1..3]).await;
        let (src_set, dst_set) = futures::join!(
            fetch_sets(&txn, &args[1..2], resp3),
            fetch_sets(&txn, &args[2..3], resp3)
        );
        // As `smove`: a missing (empty) source is 0 before the destination's type is checked.
        let checked = src_set.and_then(|mut sets| match sets.pop() {
            Some(set) if !set.is_empty() => dst_set.map(|_| set.contains(member)),
            _ => Ok(false),
        });
        if checked != Ok(true) {
            txn.finish().await;
            return attempt!(checked.map(|_| Reply::Int(0)));
        }
        let step = |spec, key: &Bytes| {
            let args = vec![Bytes::from_static(b"set-step"), key.clone(), member.clone()];
            (shard.owner_of(key), step_request(spec, args, db, resp3))
        };
        let writes = vec![step(&SREM_STEP, src), step(&SADD_STEP, dst)];
        let replies = txn.run_and_finish(writes).await;
        match replies.into_iter().find(Reply::is_error) {
            Some(error) => error,
            None => Reply::Int(1),
        }
    })
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]. An `intset` or `listpack` set is returned
/// whole with cursor 0, as Redis does; a `hashtable` is walked about COUNT members a step in the
/// order of `keyspace::scan`. MATCH filters after the walk, so a step may return fewer members
/// than COUNT (or none) with a non-zero cursor.
fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, now) = (&args[1], ctx.now_ms);
    let cursor = attempt!(parse_cursor(&args[2]));
    if attempt!(read_set(ctx.db(), key, now)).is_none() {
        return scan_reply(0, Vec::new());
    }
    let opts = attempt!(ScanOptions::parse(&args[3..], false));
    let keyspace = &mut *ctx.keyspace;
    let entry = keyspace.dbs[ctx.db].peek(key);
    let set = entry.and_then(|e| e.value.as_set()).expect("read above");
    let (members, next) = if set_encoding(set) == "hashtable" {
        keyspace.scans.step(ctx.db, key, set, cursor, opts.count)
    } else {
        (set.iter().cloned().collect(), 0)
    };
    scan_reply(next, bulks(members.into_iter().filter(|m| opts.matches(m))))
}
