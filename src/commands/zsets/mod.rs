//! Sorted set commands (Redis's t_zset.c): ZADD, ZINCRBY, ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK,
//! ZREVRANK, ZCOUNT, ZLEXCOUNT, the ZRANGE family and ZRANGESTORE, ZREMRANGEBY*, ZPOPMIN/MAX,
//! ZMPOP, ZRANDMEMBER, ZUNION/ZINTER/ZDIFF and their *STORE forms, ZINTERCARD and ZSCAN.
//!
//! Every write first computes a concrete change (members with their absolute new scores, or
//! members to remove) and then applies it in one place (`apply`), so that what is logged is
//! deterministic. Commands naming several keys on several shards run as cross-shard transactions:
//! the sources are read on their shards under the locks, the result is computed here, and the
//! write goes in the transaction's last step.

mod algebra;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::LocalBoxFuture;
use rand::seq::SliceRandom;
use rand::Rng;

use super::lists::parse_timeout;
use super::scan_args::{parse_cursor, scan_reply, ScanOptions};
use super::spec::*;
use super::{
    choose_distinct, parse_i64, parse_numkeys, parse_pop_count, parse_random_count, syntax_error,
    wrong_type, CommandSpec, Keys, Run,
};
use crate::keyspace::zset::{self, ZSet};
use crate::keyspace::{Db, Delta, Value};
use crate::protocol::{format_double, Reply};
use crate::pubsub::notify::{class, notify_removal};
use crate::router::cluster_refusal;
use crate::router::slot::key_slot;
use crate::router::{exec_on_owner, Txn};
use crate::server::client::Client;
use crate::shard::blocking::{OnReady, Outcome, Wait};
use crate::shard::{Ctx, Request};
use algebra::algebra_command;

/// ZRANDMEMBER picks at most this fraction of a sorted set (1/4) by random ranks, O(log N) each;
/// more, by one walk over it.
const RANKED_PICKS_DIVISOR: usize = 4;

const READ_FAST: &[&str] = &["@read", "@sortedset", "@fast"];
const READ_SLOW: &[&str] = &["@read", "@sortedset", "@slow"];
const WRITE_FAST: &[&str] = &["@write", "@sortedset", "@fast"];
const WRITE_SLOW: &[&str] = &["@write", "@sortedset", "@slow"];
const WRITE_BLOCKING: &[&str] = &["@write", "@sortedset", "@slow", "@blocking"];

const RANGE_COMPLEXITY: &str = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.";
const REMOVE_COMPLEXITY: &str = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.";
const UNION_COMPLEXITY: &str = "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.";
const INTER_COMPLEXITY: &str = "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.";
const DIFF_COMPLEXITY: &str = "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.";

const ZSET: CommandSpec = CommandSpec {
    keys: KEY1,
    group: "sorted-set",
    complexity: "O(log(N))",
    ..BASE
};

/// Commands naming their keys through `numkeys` route themselves (see `numkeys_route`).
const NUMKEYS: CommandSpec = CommandSpec {
    keys: NUMKEYS_KEYS,
    flags: MOVABLEKEYS,
    ..ZSET
};

/// The *STORE forms of the set algebra: `destination numkeys key...`.
const DEST_NUMKEYS: CommandSpec = CommandSpec {
    keys: DEST_NUMKEYS_KEYS,
    ..NUMKEYS
};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "zadd",
        arity: -4,
        flags: WRITE | DENYOOM | FAST,
        acl: WRITE_FAST,
        summary: "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
        since: "1.2.0",
        complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        run: keyed(zadd),
        ..ZSET
    },
    CommandSpec {
        name: "zincrby",
        arity: 4,
        flags: WRITE | DENYOOM | FAST,
        acl: WRITE_FAST,
        summary: "Increments the score of a member in a sorted set.",
        since: "1.2.0",
        run: keyed(zincrby),
        ..ZSET
    },
    CommandSpec {
        name: "zrem",
        arity: -3,
        flags: WRITE | FAST,
        acl: WRITE_FAST,
        summary: "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
        since: "1.2.0",
        complexity: "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.",
        run: keyed(zrem),
        ..ZSET
    },
    CommandSpec {
        name: "zcard",
        arity: 2,
        flags: READONLY | FAST,
        acl: READ_FAST,
        summary: "Returns the number of members in a sorted set.",
        since: "1.2.0",
        complexity: "O(1)",
        run: keyed(zcard),
        ..ZSET
    },
    CommandSpec {
        name: "zscore",
        arity: 3,
        flags: READONLY | FAST,
        acl: READ_FAST,
        summary: "Returns the score of a member in a sorted set.",
        since: "1.2.0",
        complexity: "O(1)",
        run: keyed(zscore),
        ..ZSET
    },
    CommandSpec {
        name: "zmscore",
        arity: -3,
        flags: READONLY | FAST,
        acl: READ_FAST,
        summary: "Returns the score of one or more members in a sorted set.",
        since: "6.2.0",
        complexity: "O(N) where N is the number of members being requested.",
        run: keyed(zmscore),
        ..ZSET
    },
    CommandSpec {
        name: "zrank",
        arity: -3,
        flags: READONLY | FAST,
        acl: READ_FAST,
        summary: "Returns the index of a member in a sorted set ordered by ascending scores.",
        since: "2.0.0",
        run: keyed(zrank),
        ..ZSET
    },
    CommandSpec {
        name: "zrevrank",
        arity: -3,
        flags: READONLY | FAST,
        acl: READ_FAST,
        summary: "Returns the index of a member in a sorted set ordered by descending scores.",
        since: "2.0.0",
        run: keyed(zrevrank),
        ..ZSET
    },
    CommandSpec {
        name: "zcount",
        arity: 4,
        flags: READONLY | FAST,
        acl: READ_FAST,
        summary: "Returns the count of members in a sorted set that have scores within a range.",
        since: "2.0.0",
        run: keyed(zcount),
        ..ZSET
    },
    CommandSpec {
        name: "zlexcount",
        arity: 4,
        flags: READONLY | FAST,
        acl: READ_FAST,
        summary: "Returns the number of members in a sorted set within a lexicographical range.",
        since: "2.8.9",
        run: keyed(zlexcount),
        ..ZSET
    },
    CommandSpec {
        name: "zrange",
        arity: -4,
        flags: READONLY,
        acl: READ_SLOW,
        summary: "Returns members in a sorted set within a range of indexes.",
        since: "1.2.0",
        complexity: RANGE_COMPLEXITY,
        run: keyed(zrange),
        ..ZSET
    },
    CommandSpec {
        name: "zrangestore",
        arity: -5,
        flags: WRITE | DENYOOM,
        keys: TWO_KEYS,
        acl: WRITE_SLOW,
        summary: "Stores a range of members from sorted set in a key.",
        since: "6.2.0",
        complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.",
        run: coordinated(zrangestore, zrangestore_across),
        ..ZSET
    },
    CommandSpec {
        name: "zrangebyscore",
        arity: -4,
        flags: READONLY,
        acl: READ_SLOW,
        summary: "Returns members in a sorted set within a range of scores.",
        since: "1.0.5",
        complexity: RANGE_COMPLEXITY,
        run: keyed(zrangebyscore),
        ..ZSET
    },
    CommandSpec {
        name: "zrevrangebyscore",
        arity: -4,
        flags: READONLY,
        acl: READ_SLOW,
        summary: "Returns members in a sorted set within a range of scores in reverse order.",
        since: "2.2.0",
        complexity: RANGE_COMPLEXITY,
        run: keyed(zrevrangebyscore),
        ..ZSET
    },
    CommandSpec {
        name: "zrangebylex",
        arity: -4,
        flags: READONLY,
        acl: READ_SLOW,
        summary: "Returns members in a sorted set within a lexicographical range.",
        since: "2.8.9",
        complexity: RANGE_COMPLEXITY,
        run: keyed(zrangebylex),
        ..ZSET
    },
    CommandSpec {
        name: "zrevrangebylex",
        arity: -4,
        flags: READONLY,
        acl: READ_SLOW,
        summary: "Returns members in a sorted set within a lexicographical range in reverse order.",
        since: "2.8.9",
        complexity: RANGE_COMPLEXITY,
        run: keyed(zrevrangebylex),
        ..ZSET
    },
    CommandSpec {
        name: "zrevrange",
        arity: -4,
        flags: READONLY,
        acl: READ_SLOW,
        summary: "Returns members in a sorted set within a range of indexes in reverse order.",
        since: "1.2.0",
        complexity: RANGE_COMPLEXITY,
        run: keyed(zrevrange),
        ..ZSET
    },
    CommandSpec {
        name: "zremrangebyrank",
        arity: 4,
        flags: WRITE,
        acl: WRITE_SLOW,
        summary: "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
        since: "2.0.0",
        complexity: REMOVE_COMPLEXITY,
        run: keyed(zremrangebyrank),
        ..ZSET
    },
    CommandSpec {
        name: "zremrangebyscore",
        arity: 4,
        flags: WRITE,
        acl: WRITE_SLOW,
        summary: "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
        since: "1.2.0",
        complexity: REMOVE_COMPLEXITY,
        run: keyed(zremrangebyscore),
        ..ZSET
    },
    CommandSpec {
        name: "zremrangebylex",
        arity: 4,
        flags: WRITE,
        acl: WRITE_SLOW,
        summary: "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
        since: "2.8.9",
        complexity: REMOVE_COMPLEXITY,
        run: keyed(zremrangebylex),
        ..ZSET
    },
    CommandSpec {
        name: "zpopmin",
        arity: -2,
        flags: WRITE | FAST,
        acl: WRITE_FAST,
        summary: "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        since: "5.0.0",
        complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        run: keyed(zpopmin),
        ..ZSET
    },
    CommandSpec {
        name: "zpopmax",
        arity: -2,
        flags: WRITE | FAST,
        acl: WRITE_FAST,
        summary: "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        since: "5.0.0",
        complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        run: keyed(zpopmax),
        ..ZSET
    },
    CommandSpec {
        name: "zmpop",
        arity: -4,
        flags: WRITE | MOVABLEKEYS,
        acl: WRITE_SLOW,
        summary: "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
        since: "7.0.0",
        complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        run: Run::Client(zmpop),
        ..NUMKEYS
    },
    CommandSpec {
        name: "bzpopmin",
        arity: -3,
        flags: WRITE | FAST | BLOCKING,
        keys: Keys::Range {
            first: 1,
            last: -2,
            step: 1,
        },
        acl: WRITE_BLOCKING,
        summary: "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        since: "5.0.0",
        run: Run::Client(bzpopmin),
        ..ZSET
    },
    CommandSpec {
        name: "bzpopmax",
        arity: -3,
        flags: WRITE | FAST | BLOCKING,
        keys: Keys::Range {
            first: 1,
            last: -2,
            step: 1,
        },
        acl: WRITE_BLOCKING,
        summary: "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.",
        since: "5.0.0",
        run: Run::Client(bzpopmax),
        ..ZSET
    },
    CommandSpec {
        name: "bzmpop",
        arity: -5,
        flags: WRITE | BLOCKING | MOVABLEKEYS,
        acl: WRITE_BLOCKING,
        summary: "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        since: "7.0.0",
        complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        run: Run::Client(bzmpop),
        keys: Keys::Parsed {
            first: 0,
            last: 0,
            step: 0,
            find: |args| numkeys_keys(args, 2),
        },
        ..NUMKEYS
    },
    CommandSpec {
        name: "zrandmember",
        arity: -2,
        flags: READONLY,
        acl: READ_SLOW,
        summary: "Returns one or more random members from a sorted set.",
        since: "6.2.0",
        complexity: "O(N) where N is the number of members returned",
        run: keyed(zrandmember),
        ..ZSET
    },
    CommandSpec {
        name: "zunion",
        arity: -3,
        flags: READONLY,
        acl: READ_SLOW,
        summary: "Returns the union of multiple sorted sets.",
        since: "6.2.0",
        complexity: UNION_COMPLEXITY,
        run: Run::Client(algebra_command),
        ..NUMKEYS
    },
    CommandSpec {
        name: "zinter",
        arity: -3,
        flags: READONLY,
        acl: READ_SLOW,
        summary: "Returns the intersect of multiple sorted sets.",
        since: "6.2.0",
        complexity: INTER_COMPLEXITY,
        run: Run::Client(algebra_command),
        ..NUMKEYS
    },
    CommandSpec {
        name: "zdiff",
        arity: -3,
        flags: READONLY,
        acl: READ_SLOW,
        summary: "Returns the difference between multiple sorted sets.",
        since: "6.2.0",
        complexity: DIFF_COMPLEXITY,
        run: Run::Client(algebra_command),
        ..NUMKEYS
    },
    CommandSpec {
        name: "zunionstore",
        arity: -4,
        flags: WRITE | DENYOOM | MOVABLEKEYS,
        acl: WRITE_SLOW,
        summary: "Stores the union of multiple sorted sets in a key.",
        since: "2.0.0",
        complexity: UNION_COMPLEXITY,
        run: Run::Client(algebra_command),
        ..DEST_NUMKEYS
    },
    CommandSpec {
        name: "zinterstore",
        arity: -4,
        flags: WRITE | DENYOOM | MOVABLEKEYS,
        acl: WRITE_SLOW,
        summary: "Stores the intersect of multiple sorted sets in a key.",
        since: "2.0.0",
        complexity: INTER_COMPLEXITY,
        run: Run::Client(algebra_command),
        ..DEST_NUMKEYS
    },
    CommandSpec {
        name: "zdiffstore",
        arity: -4,
        flags: WRITE | DENYOOM | MOVABLEKEYS,
        acl: WRITE_SLOW,
        summary: "Stores the difference of multiple sorted sets in a key.",
        since: "6.2.0",
        complexity: DIFF_COMPLEXITY,
        run: Run::Client(algebra_command),
        ..DEST_NUMKEYS
    },
    CommandSpec {
        name: "zintercard",
        arity: -3,
        flags: READONLY,
        acl: READ_SLOW,
        summary: "Returns the number of members of the intersect of multiple sorted sets.",
        since: "7.0.0",
        complexity: "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.",
        run: Run::Client(algebra_command),
        ..NUMKEYS
    },
    CommandSpec {
        name: "zscan",
        arity: -3,
        flags: READONLY,
        acl: READ_SLOW,
        summary: "Iterates over members and scores of a sorted set.",
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        run: keyed(zscan),
        ..ZSET
    },
];

// ---------------------------------------------------------------------------------------------
// Reading, parsing, replying

/// The sorted set at `key`: `None` when the key does not exist, WRONGTYPE for another type.
pub(super) fn read_zset<'a>(
    db: &'a mut Db,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a ZSet>, Reply> {
    match db.get(key, now_ms) {
        None => Ok(None),
        Some(entry) => entry.value.as_zset().map(Some).ok_or_else(wrong_type),
    }
}

/// A score argument (ZADD, ZINCRBY): a float, ±inf allowed, NaN refused.
fn parse_score(arg: &[u8]) -> Result<f64, Reply> {
    parse_float(arg).ok_or_else(|| Reply::error("ERR value is not a valid float"))
}

/// A float as Redis's strtod-based parsers take it: no spaces, no trailing bytes, not NaN.
pub(super) fn parse_float(arg: &[u8]) -> Option<f64> {
    let value: f64 = std::str::from_utf8(arg).ok()?.parse().ok()?;
    (!value.is_nan()).then_some(value)
}

/// A score given back to a shard by a cross-shard plan, in a form that parses to the same bits.
pub(super) fn score_arg(score: f64) -> Bytes {
    Bytes::from(score.to_string())
}

/// A member taken from client arguments, copied so that it does not pin the connection's buffer.
fn owned(member: &[u8]) -> Bytes {
    Bytes::copy_from_slice(member)
}

/// Members with or without their scores: scores follow their member in RESP2, and each pair is
/// its own array in RESP3, as Redis replies.
fn scored_reply(entries: Vec<(Bytes, f64)>, withscores: bool, resp3: bool) -> Reply {
    if !withscores {
        return Reply::Array(entries.into_iter().map(|(m, _)| Reply::Bulk(m)).collect());
    }
    if resp3 {
        return Reply::Array(entries.into_iter().map(pair_reply).collect());
    }
    Reply::Array(
        entries
            .into_iter()
            .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)])
            .collect(),
    )
}

fn pair_reply((member, score): (Bytes, f64)) -> Reply {
    Reply::Array(vec![Reply::Bulk(member), Reply::Double(score)])
}

/// The (member, score) pairs of a flat `[member, score, ...]` reply from a private step.
pub(super) fn pairs_of(reply: Reply) -> Result<Vec<(Bytes, f64)>, Reply> {
    let Reply::Array(items) = reply else {
        return Err(reply);
    };
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(Reply::Bulk(m)), Some(Reply::Double(s))) = (items.next(), items.next()) {
        pairs.push((m, s));
    }
    Ok(pairs)
}

fn flat_pairs(entries: Vec<(Bytes, f64)>) -> Reply {
    scored_reply(entries, true, false)
}

// ---------------------------------------------------------------------------------------------
// Writing

/// One concrete change to a sorted set: deterministic, with absolute scores, so that it reads
/// the same live and at replay.
enum Change {
    /// Set these members to these scores (adding those that are missing).
    Set(Vec<(Bytes, f64)>),
    /// Remove these members (deleting the key once it is empty).
    Remove(Vec<Bytes>),
}

/// Applies `change` to the sorted set at `key`, whose type the caller has checked, as an
/// element-level delta (so that a write to a big sorted set logs only what changed). A change
/// with nothing in it writes nothing.
fn apply(db: &mut Db, key: &[u8], change: Change, now_ms: u64) {
    let delta = match change {
        Change::Set(entries) if entries.is_empty() => return,
        Change::Remove(members) if members.is_empty() => return,
        Change::Set(entries) => Delta::ZSetAdd(entries),
        Change::Remove(members) => Delta::ZSetRem(members),
    };
    let applied = db.apply(key, delta, now_ms);
    assert!(applied.is_ok(), "the caller checked the key's type");
}

/// Replaces `dst` with a sorted set of `entries` (deleting it when there are none), in the
/// encoding Redis would create for that content, announcing `event` (or `del`); replies the
/// cardinality.
pub(super) fn store(ctx: &mut Ctx, dst: &[u8], entries: Vec<(Bytes, f64)>, event: &str) -> Reply {
    let now = ctx.now_ms;
    let db = ctx.db();
    let existed = db.contains(dst, now);
    let len = entries.len() as i64;
    if entries.is_empty() {
        db.delete(dst);
    } else {
        let zset = ZSet::from_entries(true, entries);
        db.insert(dst, Value::ZSet(zset), None);
    }
    match len {
        0 if existed => ctx.notify(class::GENERIC, "del", dst),
        0 => {}
        _ => ctx.notify(class::ZSET, event, dst),
    }
    Reply::Int(len)
}

// ---------------------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM and point reads

/// ZADD's options.
#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

impl AddFlags {
    /// The flags before the first score, and where the score/member pairs start.
    fn parse(args: &[Bytes]) -> Result<(AddFlags, usize), Reply> {
        let mut flags = AddFlags::default();
        let mut i = 2;
        while let Some(arg) = args.get(i) {
            let slot = match arg.to_ascii_lowercase().as_slice() {
                b"nx" => &mut flags.nx,
                b"xx" => &mut flags.xx,
                b"gt" => &mut flags.gt,
                b"lt" => &mut flags.lt,
                b"ch" => &mut flags.ch,
                b"incr" => &mut flags.incr,
                _ => break,
            };
            *slot = true;
            i += 1;
        }
        let elements = args.len() - i;
        if elements == 0 || !elements.is_multiple_of(2) {
            return Err(syntax_error());
        }
        if flags.nx && flags.xx {
            return Err(Reply::error(
                "ERR XX and NX options at the same time are not compatible",
            ));
        }
        if (flags.gt || flags.lt) && (flags.nx || (flags.gt && flags.lt)) {
            return Err(Reply::error(
                "ERR GT, LT, and/or NX options at the same time are not compatible",
            ));
        }
        if flags.incr && elements > 2 {
            return Err(Reply::error(
                "ERR INCR option supports a single increment-element pair",
            ));
        }
        Ok((flags, i))
    }
}

/// What ZADD decided: the change, and the counts and score it replies with.
#[derive(Default)]
struct AddOutcome {
    entries: Vec<(Bytes, f64)>,
    added: i64,
    updated: i64,
    /// INCR: the member's new score, `None` when a condition stopped it.
    incr_score: Option<f64>,
}

/// Decides ZADD's change against the current set, pair by pair (a later pair for the same member
/// sees the earlier one). Members are the request's bytes: applying the delta copies them.
fn plan_add(
    zset: Option<&ZSet>,
    flags: &AddFlags,
    pairs: Vec<(f64, &Bytes)>,
) -> Result<AddOutcome, Reply> {
    let mut out = AddOutcome::default();
    let mut planned: HashMap<&Bytes, usize> = HashMap::new();
    for (score, member) in pairs {
        let current = match planned.get(member) {
            Some(&i) => Some(out.entries[i].1),
            None => zset.and_then(|z| z.score(member)),
        };
        let Some(current) = current else {
            if !flags.xx {
                planned.insert(member, out.entries.len());
                out.entries.push((member.clone(), score));
                out.added += 1;
                out.incr_score = Some(score);
            }
            continue;
        };
        if flags.nx {
            continue;
        }
        let new = if flags.incr { current + score } else { score };
        if new.is_nan() {
            return Err(Reply::error("ERR resulting score is not a number (NaN)"));
        }
        if (flags.gt && new <= current) || (flags.lt && new >= current) {
            continue;
        }
        out.incr_score = Some(new);
        if new != current {
            out.updated += 1;
            match planned.get(member) {
                Some(&i) => out.entries[i].1 = new,
                None => {
                    planned.insert(member, out.entries.len());
                    out.entries.push((member.clone(), new));
                }
            }
        }
    }
    Ok(out)
}

pub(super) fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (flags, first) = attempt!(AddFlags::parse(args));
    let mut pairs = Vec::with_capacity((args.len() - first) / 2);
    for pair in args[first..].chunks(2) {
        pairs.push((attempt!(parse_score(&pair[0])), &pair[1]));
    }
    add(ctx, &args[1], &flags, pairs)
}

fn add(ctx: &mut Ctx, key: &Bytes, flags: &AddFlags, pairs: Vec<(f64, &Bytes)>) -> Reply {
    let now = ctx.now_ms;
    let db = ctx.db();
    let zset = attempt!(read_zset(db, key, now));
    let outcome = attempt!(plan_add(zset, flags, pairs));
    let changed = !outcome.entries.is_empty();
    apply(db, key, Change::Set(outcome.entries), now);
    if changed {
        ctx.notify(class::ZSET, if flags.incr { "zincr" } else { "zadd" }, key);
    }
    if flags.incr {
        return outcome.incr_score.map_or(Reply::Nil, Reply::Double);
    }
    Reply::Int(outcome.added + if flags.ch { outcome.updated } else { 0 })
}

fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let increment = attempt!(parse_score(&args[2]));
    let flags = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    add(ctx, &args[1], &flags, vec![(increment, &args[3])])
}

fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, now) = (&args[1], ctx.now_ms);
    let db = ctx.db();
    let Some(zset) = attempt!(read_zset(db, key, now)) else {
        return Reply::Int(0);
    };
    let mut members: Vec<Bytes> = args[2..]
        .iter()
        .filter(|m| zset.score(m).is_some())
        .map(|m| owned(m))
        .collect();
    members.sort_unstable();
    members.dedup();
    let removed = members.len() as i64;
    apply(db, key, Change::Remove(members), now);
    if removed > 0 {
        notify_removal(ctx, class::ZSET, "zrem", key);
    }
    Reply::Int(removed)
}

fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let zset = attempt!(read_zset(ctx.db(), &args[1], now));
    Reply::Int(zset.map_or(0, ZSet::len) as i64)
}

fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let zset = attempt!(read_zset(ctx.db(), &args[1], now));
    zset.and_then(|z| z.score(&args[2]))
        .map_or(Reply::Nil, Reply::Double)
}

fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let zset = attempt!(read_zset(ctx.db(), &args[1], now));
    let score = |m: &Bytes| {
        zset.and_then(|z| z.score(m))
            .map_or(Reply::Nil, Reply::Double)
    };
    Reply::Array(args[2..].iter().map(score).collect())
}

fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rank(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rank(ctx, args, true)
}

/// ZRANK / ZREVRANK key member [WITHSCORE].
fn rank(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> Reply {
    let withscore = match args {
        [_, _, _] => false,
        [_, _, _, option] if option.eq_ignore_ascii_case(b"withscore") => true,
        _ => return syntax_error(),
    };
    let now = ctx.now_ms;
    // A missing member is a null string, or a null array when a pair was asked for.
    let missing = if withscore {
        Reply::NilArray
    } else {
        Reply::Nil
    };
    let Some(zset) = attempt!(read_zset(ctx.db(), &args[1], now)) else {
        return missing;
    };
    let (Some(rank), Some(score)) = (zset.rank(&args[2]), zset.score(&args[2])) else {
        return missing;
    };
    let rank = if rev { zset.len() - 1 - rank } else { rank } as i64;
    if withscore {
        Reply::Array(vec![Reply::Int(rank), Reply::Double(score)])
    } else {
        Reply::Int(rank)
    }
}

// ---------------------------------------------------------------------------------------------
// Ranges

/// One end of a score range: `1`, `(1` (exclusive), `-inf`, `+inf`.
#[derive(Clone, Copy)]
struct ScoreBound {
    value: f64,
    exclusive: bool,
}

impl ScoreBound {
    fn parse(arg: &[u8]) -> Result<ScoreBound, Reply> {
        let (exclusive, text) = match arg.strip_prefix(b"(") {
            Some(rest) => (true, rest),
            None => (false, arg),
        };
        let value =
            parse_float(text).ok_or_else(|| Reply::error("ERR min or max is not a float"))?;
        Ok(ScoreBound { value, exclusive })
    }

    /// True for scores below this bound taken as a minimum.
    fn below_min(&self, score: f64) -> bool {
        if self.exclusive {
            score <= self.value
        } else {
            score < self.value
        }
    }

    /// True for scores not above this bound taken as a maximum.
    fn within_max(&self, score: f64) -> bool {
        if self.exclusive {
            score < self.value
        } else {
            score <= self.value
        }
    }
}

/// One end of a lexicographical range: `[a`, `(a`, `-` (before everything), `+` (after).
#[derive(Clone)]
enum LexBound {
    Lowest,
    Highest,
    Inclusive(Bytes),
    Exclusive(Bytes),
}

impl LexBound {
    fn parse(arg: &[u8]) -> Result<LexBound, Reply> {
        match arg {
            b"-" => Ok(LexBound::Lowest),
            b"+" => Ok(LexBound::Highest),
            [b'[', rest @ ..] => Ok(LexBound::Inclusive(owned(rest))),
            [b'(', rest @ ..] => Ok(LexBound::Exclusive(owned(rest))),
            _ => Err(Reply::error("ERR min or max not valid string range item")),
        }
    }

    fn below_min(&self, member: &[u8]) -> bool {
        match self {
            LexBound::Lowest => false,
            LexBound::Highest => true,
            LexBound::Inclusive(bound) => member < bound.as_ref(),
            LexBound::Exclusive(bound) => member <= bound.as_ref(),
        }
    }

    fn within_max(&self, member: &[u8]) -> bool {
        match self {
            LexBound::Lowest => false,
            LexBound::Highest => true,
            LexBound::Inclusive(bound) => member <= bound.as_ref(),
            LexBound::Exclusive(bound) => member < bound.as_ref(),
        }
    }
}

/// What a range selects, by rank (ranks count from the top with REV), by score or by member.
enum Bounds {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

#[derive(Clone, Copy, PartialEq)]
enum RangeKind {
    Rank,
    Score,
    Lex,
}

/// A parsed ZRANGE-family query.
struct RangeQuery {
    bounds: Bounds,
    rev: bool,
    /// LIMIT offset count (a negative count: no limit).
    limit: Option<(i64, i64)>,
    withscores: bool,
}

/// How a command of the ZRANGE family reads its arguments.
#[derive(Clone, Copy)]
struct RangeSyntax {
    kind: RangeKind,
    rev: bool,
    /// ZRANGE and ZRANGESTORE take BYSCORE, BYLEX and REV as options.
    general: bool,
    /// ZRANGESTORE refuses WITHSCORES.
    store: bool,
}

impl RangeQuery {
    /// Parses `start stop [options...]` (`args` from the first bound on).
    fn parse(args: &[Bytes], syntax: RangeSyntax) -> Result<RangeQuery, Reply> {
        let (mut kind, mut rev) = (syntax.kind, syntax.rev);
        let (mut limit, mut withscores) = (None, false);
        let mut i = 2;
        while let Some(option) = args.get(i) {
            let option = option.to_ascii_lowercase();
            match option.as_slice() {
                b"withscores" if !syntax.store => withscores = true,
                b"limit" if args.len() > i + 2 => {
                    limit = Some((parse_i64(&args[i + 1])?, parse_i64(&args[i + 2])?));
                    i += 2;
                }
                b"byscore" if syntax.general && kind == RangeKind::Rank => kind = RangeKind::Score,
                b"bylex" if syntax.general && kind == RangeKind::Rank => kind = RangeKind::Lex,
                b"rev" if syntax.general && !rev => rev = true,
                _ => return Err(syntax_error()),
            }
            i += 1;
        }
        if limit.is_some() && kind == RangeKind::Rank {
            return Err(Reply::error(
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            ));
        }
        if withscores && kind == RangeKind::Lex {
            return Err(Reply::error(
                "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            ));
        }
        // Reversed score and lex ranges name the maximum first.
        let (min, max) = match (rev, kind) {
            (true, RangeKind::Score | RangeKind::Lex) => (&args[1], &args[0]),
            _ => (&args[0], &args[1]),
        };
        let bounds = match kind {
            RangeKind::Rank => Bounds::Rank(parse_i64(min)?, parse_i64(max)?),
            RangeKind::Score => Bounds::Score(ScoreBound::parse(min)?, ScoreBound::parse(max)?),
            RangeKind::Lex => Bounds::Lex(LexBound::parse(min)?, LexBound::parse(max)?),
        };
        Ok(RangeQuery {
            bounds,
            rev,
            limit,
            withscores,
        })
    }

    /// The ascending ranks `lo..hi` the bounds cover (empty when `hi <= lo`).
    fn ranks(&self, zset: &ZSet) -> (usize, usize) {
        let len = zset.len() as i64;
        match &self.bounds {
            Bounds::Rank(start, end) => {
                let start = if *start < 0 { start + len } else { *start }.max(0);
                let end = if *end < 0 { end + len } else { *end }.min(len - 1);
                if start > end || start >= len {
                    return (0, 0);
                }
                if self.rev {
                    ((len - 1 - end) as usize, (len - start) as usize)
                } else {
                    (start as usize, end as usize + 1)
                }
            }
            Bounds::Score(min, max) => (
                zset.count_while(|s, _| min.below_min(s)),
                zset.count_while(|s, _| max.within_max(s)),
            ),
            Bounds::Lex(min, max) => (
                zset.count_while(|_, m| min.below_min(m)),
                zset.count_while(|_, m| max.within_max(m)),
            ),
        }
    }

    /// The members selected, in reply order.
    fn select(&self, zset: &ZSet) -> Vec<(Bytes, f64)> {
        let (lo, hi) = self.ranks(zset);
        let covered = hi.saturating_sub(lo);
        let (offset, count) = match self.limit {
            None => (0, covered),
            Some((offset, _)) if offset < 0 => return Vec::new(),
            Some((offset, count)) => (
                offset as usize,
                if count < 0 { covered } else { count as usize },
            ),
        };
        let take = covered.saturating_sub(offset).min(count);
        if take == 0 {
            return Vec::new();
        }
        let first = if self.rev {
            hi - 1 - offset
        } else {
            lo + offset
        };
        zset.iter_from(first, self.rev)
            .take(take)
            .map(|(m, s)| (owned(m), s))
            .collect()
    }
}

/// Runs a ZRANGE-family read: `args` from the key on.
fn range_read(ctx: &mut Ctx, args: &[Bytes], syntax: RangeSyntax) -> Reply {
    let query = attempt!(RangeQuery::parse(&args[2..], syntax));
    let (resp3, now) = (ctx.resp3, ctx.now_ms);
    let Some(zset) = attempt!(read_zset(ctx.db(), &args[1], now)) else {
        return Reply::Array(Vec::new());
    };
    scored_reply(query.select(zset), query.withscores, resp3)
}

const fn syntax(kind: RangeKind, rev: bool) -> RangeSyntax {
    RangeSyntax {
        kind,
        rev,
        general: false,
        store: false,
    }
}

const GENERAL: RangeSyntax = RangeSyntax {
    kind: RangeKind::Rank,
    rev: false,
    general: true,
    store: false,
};

fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_read(ctx, args, GENERAL)
}

fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_read(ctx, args, syntax(RangeKind::Rank, true))
}

fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_read(ctx, args, syntax(RangeKind::Score, false))
}

fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_read(ctx, args, syntax(RangeKind::Score, true))
}

fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_read(ctx, args, syntax(RangeKind::Lex, false))
}

fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    range_read(ctx, args, syntax(RangeKind::Lex, true))
}

fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    count_in(ctx, args, RangeKind::Score)
}

fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    count_in(ctx, args, RangeKind::Lex)
}

fn count_in(ctx: &mut Ctx, args: &[Bytes], kind: RangeKind) -> Reply {
    let query = attempt!(RangeQuery::parse(&args[2..4], syntax(kind, false)));
    let now = ctx.now_ms;
    let Some(zset) = attempt!(read_zset(ctx.db(), &args[1], now)) else {
        return Reply::Int(0);
    };
    let (lo, hi) = query.ranks(zset);
    Reply::Int(hi.saturating_sub(lo) as i64)
}

fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    remove_range(ctx, args, RangeKind::Rank)
}

fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    remove_range(ctx, args, RangeKind::Score)
}

fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    remove_range(ctx, args, RangeKind::Lex)
}

fn remove_range(ctx: &mut Ctx, args: &[Bytes], kind: RangeKind) -> Reply {
    let query = attempt!(RangeQuery::parse(&args[2..4], syntax(kind, false)));
    let (key, now) = (&args[1], ctx.now_ms);
    let db = ctx.db();
    let Some(zset) = attempt!(read_zset(db, key, now)) else {
        return Reply::Int(0);
    };
    let members: Vec<Bytes> = query.select(zset).into_iter().map(|(m, _)| m).collect();
    let removed = members.len() as i64;
    apply(db, key, Change::Remove(members), now);
    if removed > 0 {
        let event = match kind {
            RangeKind::Rank => "zremrangebyrank",
            RangeKind::Score => "zremrangebyscore",
            RangeKind::Lex => "zremrangebylex",
        };
        notify_removal(ctx, class::ZSET, event, key);
    }
    Reply::Int(removed)
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count].
const STORE_SYNTAX: RangeSyntax = RangeSyntax {
    store: true,
    ..GENERAL
};

fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let query = attempt!(RangeQuery::parse(&args[3..], STORE_SYNTAX));
    let now = ctx.now_ms;
    let db = ctx.db();
    let selected = attempt!(read_zset(db, &args[2], now)).map(|z| query.select(z));
    store(ctx, &args[1], selected.unwrap_or_default(), "zrangestore")
}

/// The selected (member, score) pairs of a range of the source, flat: `zset-range-step src min
/// max [options]`, for ZRANGESTORE across shards.
pub(super) static RANGE_STEP: CommandSpec = CommandSpec {
    name: "zset-range-step",
    arity: -4,
    flags: READONLY,
    acl: READ_SLOW,
    run: keyed(range_step),
    ..ZSET
};

fn range_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let query = attempt!(RangeQuery::parse(&args[2..], STORE_SYNTAX));
    let now = ctx.now_ms;
    let zset = attempt!(read_zset(ctx.db(), &args[1], now));
    flat_pairs(zset.map(|z| query.select(z)).unwrap_or_default())
}

/// Replaces a key with a sorted set of the given pairs, announcing `event`: `zset-store-step
/// event dst member score ...`.
pub(super) static STORE_STEP: CommandSpec = CommandSpec {
    name: "zset-store-step",
    arity: -3,
    flags: WRITE,
    keys: Keys::Range {
        first: 2,
        last: 2,
        step: 1,
    },
    acl: WRITE_SLOW,
    run: keyed(store_step),
    ..ZSET
};

fn store_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut entries = Vec::with_capacity(args.len() / 2);
    for pair in args[3..].chunks(2) {
        let [member, score] = pair else {
            return syntax_error();
        };
        entries.push((owned(member), attempt!(parse_score(score))));
    }
    let event = String::from_utf8_lossy(&args[1]).into_owned();
    store(ctx, &args[2], entries, &event)
}

pub(super) fn store_step_args(
    event: &'static str,
    dst: &Bytes,
    entries: Vec<(Bytes, f64)>,
) -> Vec<Bytes> {
    let mut args = vec![
        Bytes::from_static(b"zset-store-step"),
        Bytes::from_static(event.as_bytes()),
        dst.clone(),
    ];
    for (member, score) in entries {
        args.push(member);
        args.push(score_arg(score));
    }
    args
}

pub(super) fn step_request(
    spec: &'static CommandSpec,
    args: Vec<Bytes>,
    db: usize,
    resp3: bool,
) -> Request {
    Request {
        spec,
        db,
        resp3,
        args,
    }
}

/// ZRANGESTORE with its two keys on two shards: the range is read on the source's shard and
/// written on the destination's, under both keys' locks.
fn zrangestore_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        attempt!(RangeQuery::parse(&args[3..], STORE_SYNTAX));
        let (shard, db, resp3) = (&client.shard, client.db(), client.resp3());
        let (dst, src) = (&args[1], &args[2]);
        let txn = Txn::lock(shard, db, &args[1..3]).await;
        let mut read_args = vec![Bytes::from_static(b"zset-range-step")];
        read_args.extend_from_slice(&args[2..]);
        let entries = pairs_of(txn.run_for_key(src, &RANGE_STEP, read_args, resp3).await);
        let entries = match entries {
            Ok(entries) => entries,
            Err(error) => {
                txn.finish().await;
                return error;
            }
        };
        let write = step_request(
            &STORE_STEP,
            store_step_args("zrangestore", dst, entries),
            db,
            resp3,
        );
        let mut replies = txn.run_and_finish(vec![(shard.owner_of(dst), write)]).await;
        replies
            .pop()
            .unwrap_or(Reply::error("ERR shard did not answer"))
    })
}

// ---------------------------------------------------------------------------------------------
// Pops and random members

/// Removes up to `count` members from the low (or `max`: high) end; returns them in pop order.
fn pop(db: &mut Db, key: &[u8], count: usize, max: bool, now_ms: u64) -> Vec<(Bytes, f64)> {
    let Some(Some(zset)) = read_zset(db, key, now_ms).ok() else {
        return Vec::new();
    };
    let start = if max { zset.len().saturating_sub(1) } else { 0 };
    let popped: Vec<(Bytes, f64)> = zset
        .iter_from(start, max)
        .take(count)
        .map(|(m, s)| (owned(m), s))
        .collect();
    let members = popped.iter().map(|(m, _)| m.clone()).collect();
    apply(db, key, Change::Remove(members), now_ms);
    popped
}

fn pop_event(max: bool) -> &'static str {
    if max {
        "zpopmax"
    } else {
        "zpopmin"
    }
}

fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop_command(ctx, args, false)
}

fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    pop_command(ctx, args, true)
}

fn pop_command(ctx: &mut Ctx, args: &[Bytes], max: bool) -> Reply {
    let count = match args {
        [_, _] => None,
        [_, _, count] => Some(attempt!(parse_pop_count(count))),
        _ => return syntax_error(),
    };
    let (key, now, resp3) = (&args[1], ctx.now_ms, ctx.resp3);
    let db = ctx.db();
    attempt!(read_zset(db, key, now));
    let popped = pop(db, key, count.unwrap_or(1), max, now);
    if !popped.is_empty() {
        notify_removal(ctx, class::ZSET, pop_event(max), key);
    }
    // Without a count the reply is one flat pair, whatever the protocol.
    scored_reply(popped, true, resp3 && count.is_some())
}

fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (count, withscores) = match args {
        [_, _] => (None, false),
        [_, _, count] => (Some(attempt!(parse_random_count(count))), false),
        [_, _, count, option] if option.eq_ignore_ascii_case(b"withscores") => {
            (Some(attempt!(parse_random_count(count))), true)
        }
        _ => return syntax_error(),
    };
    let (key, now, resp3) = (&args[1], ctx.now_ms, ctx.resp3);
    let zset = attempt!(read_zset(ctx.db(), key, now));
    let rng = &mut rand::thread_rng();
    let entry = |(m, s): (&[u8], f64)| (owned(m), s);
    // A member by rank: O(log N) in a big sorted set.
    let at_rank = |zset: &ZSet, rank| zset.iter_from(rank, false).next().map(entry);
    let picks = match (zset, count) {
        (None, None) => return Reply::Nil,
        (Some(zset), None) => {
            let pick = at_rank(zset, rng.gen_range(0..zset.len()));
            return pick.map_or(Reply::Nil, |(member, _)| Reply::Bulk(member));
        }
        (None, Some(_)) => Vec::new(),
        (Some(zset), Some(n)) if n >= 0 => {
            let len = zset.len();
            // Few picks go by random ranks; more than a quarter of the set, by one walk.
            let mut picks = match n as u64 <= (len / RANKED_PICKS_DIVISOR) as u64 {
                true => rand::seq::index::sample(rng, len, n as usize)
                    .into_iter()
                    .filter_map(|rank| at_rank(zset, rank))
                    .collect(),
                false => choose_distinct(zset.iter().map(entry), len, n as u64),
            };
            picks.shuffle(rng);
            picks
        }
        (Some(zset), Some(n)) => (0..n.unsigned_abs())
            .filter_map(|_| at_rank(zset, rng.gen_range(0..zset.len())))
            .collect(),
    };
    scored_reply(picks, withscores, resp3)
}

// ---------------------------------------------------------------------------------------------
// Commands naming keys through numkeys: ZMPOP and the set algebra

/// Routes a command whose keys the table cannot describe: to the shard owning all of `keys`
/// (running `step` there), or — on the main port — to `across`, a cross-shard transaction.
pub(super) async fn numkeys_route<'a, F>(
    client: &'a Client,
    keys: &[Bytes],
    step: (&'static CommandSpec, Vec<Bytes>),
    across: F,
) -> Reply
where
    F: FnOnce(&'a Client) -> LocalBoxFuture<'a, Reply>,
{
    let shard = client.shard.clone();
    let first_slot = key_slot(&keys[0]);
    if client.cluster_port && keys.iter().any(|k| key_slot(k) != first_slot) {
        return Reply::error("CROSSSLOT Keys in request don't hash to the same slot");
    }
    let owner = shard.owner_of(&keys[0]);
    if keys.iter().all(|k| shard.owner_of(k) == owner) {
        let req = step_request(step.0, step.1, client.db(), client.resp3());
        let reply = exec_on_owner(&shard, owner, vec![req]).await.pop();
        return reply.unwrap_or(Reply::error("ERR shard did not answer"));
    }
    across(client).await
}

/// ZMPOP numkeys key... MIN|MAX [COUNT count], and the pops of BZPOPMIN, BZPOPMAX and BZMPOP.
struct MultiPop {
    keys: Vec<Bytes>,
    max: bool,
    count: usize,
    shape: PopShape,
}

/// How a multi-key pop replies.
#[derive(Clone, Copy, PartialEq)]
enum PopShape {
    /// ZMPOP, BZMPOP: `[key, [[member, score], ...]]`.
    KeyPairs,
    /// BZPOPMIN, BZPOPMAX: `[key, member, score]`.
    KeyMemberScore,
}

impl PopShape {
    fn name(self) -> &'static [u8] {
        match self {
            PopShape::KeyPairs => b"pairs",
            PopShape::KeyMemberScore => b"one",
        }
    }

    fn reply(self, key: &Bytes, popped: Vec<(Bytes, f64)>) -> Reply {
        match self {
            PopShape::KeyPairs => Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Array(popped.into_iter().map(pair_reply).collect()),
            ]),
            PopShape::KeyMemberScore => {
                let mut items = vec![Reply::Bulk(key.clone())];
                for (member, score) in popped {
                    items.extend([Reply::Bulk(member), Reply::Double(score)]);
                }
                Reply::Array(items)
            }
        }
    }
}

impl MultiPop {
    /// Parses `numkeys key... MIN|MAX [COUNT count]` (`args[0]` is before `numkeys`).
    fn parse(args: &[Bytes]) -> Result<MultiPop, Reply> {
        let numkeys = parse_numkeys(&args[1])?;
        if numkeys > args.len() - 3 {
            return Err(syntax_error());
        }
        let keys = args[2..2 + numkeys].to_vec();
        let max = match args[2 + numkeys].to_ascii_lowercase().as_slice() {
            b"min" => false,
            b"max" => true,
            _ => return Err(syntax_error()),
        };
        let count = match &args[3 + numkeys..] {
            [] => 1,
            [option, count] if option.eq_ignore_ascii_case(b"count") => match parse_i64(count) {
                Ok(n) if n > 0 => n as usize,
                _ => return Err(Reply::error("ERR count should be greater than 0")),
            },
            _ => return Err(syntax_error()),
        };
        let shape = PopShape::KeyPairs;
        Ok(MultiPop {
            keys,
            max,
            count,
            shape,
        })
    }

    /// The query a pop step's arguments (`step_args`) carry.
    fn from_step_args(args: &[Bytes]) -> Option<MultiPop> {
        let shape = if args[3].as_ref() == PopShape::KeyMemberScore.name() {
            PopShape::KeyMemberScore
        } else {
            PopShape::KeyPairs
        };
        Some(MultiPop {
            keys: args[4..].to_vec(),
            max: args[1].as_ref() == b"max",
            count: parse_pop_count(&args[2]).ok()?,
            shape,
        })
    }

    /// `zset-mpop-step min|max count shape key...`.
    fn step_args(&self, keys: &[Bytes]) -> Vec<Bytes> {
        let mut args = vec![
            Bytes::from_static(b"zset-mpop-step"),
            Bytes::from_static(if self.max { b"max" } else { b"min" }),
            Bytes::from(self.count.to_string()),
            Bytes::from_static(self.shape.name()),
        ];
        args.extend_from_slice(keys);
        args
    }
}

/// Pops from the first non-empty of its keys: `zset-mpop-step min|max count shape key...`.
/// Replies as `shape` says, or a null array when every key is empty. When it runs to serve a
/// blocked client (`shard::blocking`), it claims that client before changing anything, and
/// changes nothing if the claim fails.
///
/// BZPOPMIN and BZPOPMAX are queued in MULTI as this step (`in_multi`); when their keys span
/// shards, the EXEC runs its coordinated plan (`mpop_step_across`) at its place in the queue.
static MPOP_STEP: CommandSpec = CommandSpec {
    name: "zset-mpop-step",
    arity: -5,
    flags: WRITE,
    keys: Keys::Range {
        first: 4,
        last: -1,
        step: 1,
    },
    acl: WRITE_SLOW,
    run: coordinated(mpop_step, mpop_step_across),
    ..ZSET
};

fn mpop_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(query) = MultiPop::from_step_args(args) else {
        return syntax_error();
    };
    let now = ctx.now_ms;
    for key in &query.keys {
        if attempt!(read_zset(ctx.db(), key, now)).is_none() {
            continue;
        }
        if !ctx.shard.blocking.claim() {
            return Reply::NilArray;
        }
        let popped = pop(ctx.db(), key, query.count, query.max, now);
        notify_removal(ctx, class::ZSET, pop_event(query.max), key);
        return query.shape.reply(key, popped);
    }
    Reply::NilArray
}

/// The pop step over keys of several shards (a BZPOPMIN or BZPOPMAX queued in MULTI): the pop
/// from the first non-empty key in argument order, under the EXEC's locks, as ZMPOP pops.
fn mpop_step_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let Some(query) = MultiPop::from_step_args(&args) else {
            return syntax_error();
        };
        pop_first(client, &query).await
    })
}

/// The cardinality of a sorted set, or WRONGTYPE: ZCARD as a private step.
static CARD_STEP: CommandSpec = CommandSpec {
    name: "zset-card-step",
    arity: 2,
    flags: READONLY,
    acl: READ_FAST,
    run: keyed(zcard),
    ..ZSET
};

fn zmpop(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let query = attempt!(MultiPop::parse(&args));
        pop_first(client, &query).await
    })
}

/// A pop from the first non-empty of the query's keys, wherever they live: on their one shard,
/// or as a cross-shard transaction.
async fn pop_first(client: &Client, query: &MultiPop) -> Reply {
    let step = (&MPOP_STEP, query.step_args(&query.keys));
    numkeys_route(client, &query.keys, step, |client| {
        Box::pin(mpop_across(client, query))
    })
    .await
}

/// ZMPOP across shards: every key locked, the first non-empty one (in argument order) popped.
async fn mpop_across(client: &Client, query: &MultiPop) -> Reply {
    let (shard, db, resp3) = (&client.shard, client.db(), client.resp3());
    let pop = |key: &Bytes| {
        step_request(
            &MPOP_STEP,
            query.step_args(std::slice::from_ref(key)),
            db,
            resp3,
        )
    };
    Txn::lock(shard, db, &query.keys)
        .await
        .pop_first_nonempty(&query.keys, &CARD_STEP, pop, resp3)
        .await
        .unwrap_or(Reply::NilArray)
}

/// BZPOPMIN/BZPOPMAX/BZMPOP: pops at once if a key has members; otherwise waits (through
/// `shard::blocking`) until a key's shard serves this client with the same pop, the timeout
/// passes (a null array), or `CLIENT UNBLOCK`.
async fn blocking_pop(client: &Client, query: MultiPop, timeout: Option<Duration>) -> Reply {
    if let Some(refusal) = cluster_refusal(client, query.keys.iter().map(|k| &k[..])) {
        return refusal;
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let reply = pop_first(client, &query).await;
    if reply != Reply::NilArray {
        return reply;
    }
    let serve = |key: &Bytes| OnReady::Serve {
        spec: &MPOP_STEP,
        args: query.step_args(std::slice::from_ref(key)),
    };
    let wait = Wait {
        db: client.db(),
        resp3: client.resp3(),
        keys: query.keys.iter().map(|k| (k.clone(), serve(k))).collect(),
        deadline,
    };
    match client.shard.block(&client.handle, wait).await {
        Outcome::Served(reply) => reply,
        Outcome::Unblocked { error: true } => {
            Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
        }
        // Every wait serves through MPOP_STEP, so none is only woken.
        Outcome::Woken(_) | Outcome::TimedOut | Outcome::Unblocked { .. } | Outcome::Closed => {
            Reply::NilArray
        }
    }
}

fn bzpopmin(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    block_pop_one(client, args, false)
}

fn bzpopmax(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    block_pop_one(client, args, true)
}

/// BZPOPMIN and BZPOPMAX: `key... timeout`.
fn block_pop_one(client: &mut Client, args: Vec<Bytes>, max: bool) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let timeout = attempt!(parse_timeout(&args[args.len() - 1]));
        let query = MultiPop {
            keys: args[1..args.len() - 1].to_vec(),
            max,
            count: 1,
            shape: PopShape::KeyMemberScore,
        };
        blocking_pop(client, query, timeout).await
    })
}

/// BZMPOP: `timeout numkeys key... MIN|MAX [COUNT count]`.
fn bzmpop(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let timeout = attempt!(parse_timeout(&args[1]));
        let query = attempt!(MultiPop::parse(&args[1..]));
        blocking_pop(client, query, timeout).await
    })
}

/// BZPOPMIN, BZPOPMAX and BZMPOP inside MULTI: their pop step at once (a transaction never
/// blocks, as in Redis), answered in the blocking form's shape; argument errors at EXEC.
pub fn in_multi(name: &str, args: &[Bytes]) -> Option<super::InMulti> {
    let query = match name {
        "bzpopmin" | "bzpopmax" => parse_timeout(&args[args.len() - 1]).map(|_| MultiPop {
            keys: args[1..args.len() - 1].to_vec(),
            max: name == "bzpopmax",
            count: 1,
            shape: PopShape::KeyMemberScore,
        }),
        // As ZMPOP, which routes itself: its keys may span shards.
        "bzmpop" => {
            return Some(parse_timeout(&args[1]).and_then(|_| {
                MultiPop::parse(&args[1..])?;
                let mut zmpop = args[1..].to_vec();
                zmpop[0] = Bytes::from_static(b"zmpop");
                Ok((super::lookup(b"zmpop").expect("in the table"), zmpop))
            }))
        }
        _ => return None,
    };
    Some(query.map(|q| (&MPOP_STEP, q.step_args(&q.keys))))
}

// ---------------------------------------------------------------------------------------------
// ZSCAN

/// ZSCAN key cursor [MATCH pattern] [COUNT count]. A `listpack` sorted set is returned whole with
/// cursor 0, as Redis does; a `skiplist` is walked about COUNT members a step in the order of
/// `keyspace::scan` (by member, so a member whose score changes mid-iteration is still returned).
/// MATCH filters after the walk. Scores are bulk strings in both protocols, as in Redis.
fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (key, now) = (&args[1], ctx.now_ms);
    let cursor = attempt!(parse_cursor(&args[2]));
    if attempt!(read_zset(ctx.db(), key, now)).is_none() {
        return scan_reply(0, Vec::new());
    }
    let opts = attempt!(ScanOptions::parse(&args[3..], false));
    let keyspace = &mut *ctx.keyspace;
    let entry = keyspace.dbs[ctx.db].peek(key);
    let zset = entry.and_then(|e| e.value.as_zset()).expect("read above");
    let (entries, next): (Vec<(Bytes, f64)>, u64) = if zset.is_listpack() {
        (zset.iter().map(|(m, s)| (owned(m), s)).collect(), 0)
    } else {
        let (members, next) = keyspace.scans.step(ctx.db, key, zset, cursor, opts.count);
        let with_scores = members.into_iter().map(|m| {
            let score = zset
                .score(&m)
                .expect("a step returns members the set holds");
            (m, score)
        });
        (with_scores.collect(), next)
    };
    let items = entries
        .into_iter()
        .filter(|(m, _)| opts.matches(m))
        .flat_map(|(m, s)| [Reply::Bulk(m), Reply::bulk_str(&format_double(s))])
        .collect();
    scan_reply(next, items)
}
