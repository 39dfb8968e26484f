//! SORT and SORT_RO (Redis's sort.c): the elements of a list, set or sorted set, sorted
//! numerically or lexicographically, by themselves or by the values of other keys (`BY pattern`),
//! projected through other keys (`GET pattern`), limited, and returned or stored as a list.
//!
//! A sort runs in steps: read the source's elements, fetch the keys its patterns name, sort, then
//! reply or store. On one shard (or when every key involved is on the source's shard) all steps
//! run there at once. Otherwise, on the main port, the pattern keys may live on other shards: the
//! source, destination and every pattern key are locked (`Txn`), the elements re-read under the
//! locks, the pattern keys fetched shard by shard, and the STORE written as the transaction's one
//! write, so that the sort sees, and replaces, one consistent state.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::spec::*;
use super::{syntax_error, wrong_type, CommandSpec, Keys, Run};
use crate::keyspace::{Db, List, Value};
use crate::protocol::Reply;
use crate::pubsub::notify::class;
use crate::router::{exec_on_owner, in_exec, Txn};
use crate::server::client::Client;
use crate::shard::{Ctx, Request, Shard};

/// How often a cross-shard sort re-reads its source when it changed between the unlocked read
/// (which names the keys to lock) and the locked one. After the last attempt the sort goes on with
/// what it read under the locks; pattern keys it had not locked are then read unlocked.
const LOCK_ATTEMPTS_MAX: usize = 3;

const SORT_COMPLEXITY: &str = "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).";

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "sort",
        arity: -2,
        flags: WRITE | DENYOOM | MOVABLEKEYS,
        keys: Keys::Parsed {
            first: 1,
            last: 1,
            step: 1,
            find: sort_keys,
        },
        acl: &[
            "@write",
            "@set",
            "@sortedset",
            "@list",
            "@slow",
            "@dangerous",
        ],
        group: "generic",
        summary:
            "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
        complexity: SORT_COMPLEXITY,
        run: Run::Client(sort),
        ..BASE
    },
    CommandSpec {
        name: "sort_ro",
        arity: -2,
        flags: READONLY,
        keys: KEY1,
        acl: &[
            "@read",
            "@set",
            "@sortedset",
            "@list",
            "@slow",
            "@dangerous",
        ],
        group: "generic",
        summary: "Returns the sorted elements of a list, a set, or a sorted set.",
        since: "7.0.0",
        complexity: SORT_COMPLEXITY,
        run: Run::Client(sort_ro),
        ..BASE
    },
];

/// SORT's keys: the source, and the destination of a STORE option. (Keys that BY and GET
/// patterns name depend on the data, as in Redis: they are not among them.)
fn sort_keys(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    let store = Query::parse(args.get(2..).unwrap_or_default(), false, false)
        .ok()
        .and_then(|q| q.store);
    keys.extend(store.and_then(|dst| option_key(args, &[b"store"], &dst)));
    keys
}

// ---- The query ------------------------------------------------------------------------------

/// A parsed SORT.
#[derive(Clone, Debug)]
struct Query {
    /// `BY` with a `*` in it (a pattern to sort by); `None` sorts by the elements themselves.
    by: Option<Bytes>,
    /// `BY` without a `*` (conventionally `nosort`): keep the source's order.
    dont_sort: bool,
    /// `LIMIT offset count`, as given.
    limit: Option<(i64, i64)>,
    gets: Vec<Bytes>,
    desc: bool,
    alpha: bool,
    store: Option<Bytes>,
}

impl Query {
    /// Parses the options after the key, as Redis does: STORE is a syntax error for SORT_RO, and
    /// in cluster mode BY (with a pattern) and GET are refused.
    fn parse(args: &[Bytes], readonly: bool, cluster: bool) -> Result<Query, Reply> {
        let mut q = Query {
            by: None,
            dont_sort: false,
            limit: None,
            gets: Vec::new(),
            desc: false,
            alpha: false,
            store: None,
        };
        let mut i = 0;
        while i < args.len() {
            let left = args.len() - i - 1;
            match args[i].to_ascii_lowercase().as_slice() {
                b"asc" => q.desc = false,
                b"desc" => q.desc = true,
                b"alpha" => q.alpha = true,
                b"limit" if left >= 2 => {
                    q.limit = Some((
                        super::parse_i64(&args[i + 1])?,
                        super::parse_i64(&args[i + 2])?,
                    ));
                    i += 2;
                }
                b"store" if left >= 1 && !readonly => {
                    q.store = Some(args[i + 1].clone());
                    i += 1;
                }
                b"by" if left >= 1 => {
                    let pattern = &args[i + 1];
                    if pattern.contains(&b'*') {
                        if cluster {
                            return Err(Reply::error(
                                "ERR BY option of SORT denied in Cluster mode.",
                            ));
                        }
                        q.by = Some(pattern.clone());
                        q.dont_sort = false;
                    } else {
                        q.dont_sort = true;
                    }
                    i += 1;
                }
                b"get" if left >= 1 => {
                    if cluster {
                        return Err(Reply::error(
                            "ERR GET option of SORT denied in Cluster mode.",
                        ));
                    }
                    q.gets.push(args[i + 1].clone());
                    i += 1;
                }
                _ => return Err(syntax_error()),
            }
            i += 1;
        }
        Ok(q)
    }

    /// Whether sorting or projecting reads keys other than the source.
    fn reads_other_keys(&self) -> bool {
        (!self.dont_sort && self.by.is_some()) || self.gets.iter().any(|g| g.as_ref() != b"#")
    }
}

/// What a pattern names for one element.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Lookup {
    /// `#`: the element itself.
    Element,
    /// A string key, or (`->field`) a field of a hash key.
    Key { key: Bytes, field: Option<Bytes> },
    /// No `*` in the pattern: nothing (nil).
    Nothing,
}

/// Substitutes `element` for the first `*` of `pattern`; a `->field` after the `*` names a hash
/// field (Redis's `lookupKeyByPattern`).
fn lookup(pattern: &[u8], element: &[u8]) -> Lookup {
    if pattern == b"#" {
        return Lookup::Element;
    }
    let Some(star) = pattern.iter().position(|&b| b == b'*') else {
        return Lookup::Nothing;
    };
    let rest = &pattern[star + 1..];
    let arrow = rest.windows(2).position(|w| w == b"->");
    let (suffix, field) = match arrow {
        Some(at) if at + 2 < rest.len() => {
            (&rest[..at], Some(Bytes::copy_from_slice(&rest[at + 2..])))
        }
        _ => (rest, None),
    };
    let mut key = Vec::with_capacity(star + element.len() + suffix.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(suffix);
    Lookup::Key {
        key: Bytes::from(key),
        field,
    }
}

/// The type of the source key, which decides how "do not sort" orders it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    List,
    Set,
    ZSet,
}

/// The source's elements: a list's in order, a sorted set's by ascending score, a set's in its
/// iteration order. A missing key is an empty list.
#[derive(Clone, Debug, PartialEq)]
struct Source {
    kind: Kind,
    elements: Vec<Bytes>,
}

impl Source {
    fn read(db: &mut Db, key: &[u8], now_ms: u64) -> Result<Source, Reply> {
        let Some(entry) = db.get(key, now_ms) else {
            return Ok(Source {
                kind: Kind::List,
                elements: Vec::new(),
            });
        };
        match &entry.value {
            Value::List(list) => Ok(Source {
                kind: Kind::List,
                elements: list.iter().cloned().collect(),
            }),
            Value::Set(members) => Ok(Source {
                kind: Kind::Set,
                elements: members.iter().cloned().collect(),
            }),
            Value::ZSet(zset) => Ok(Source {
                kind: Kind::ZSet,
                elements: zset
                    .iter()
                    .map(|(m, _)| Bytes::copy_from_slice(m))
                    .collect(),
            }),
            _ => Err(wrong_type()),
        }
    }
}

/// Every key lookup the query needs for these elements (BY first, then GETs).
fn lookups<'a>(q: &'a Query, elements: &'a [Bytes]) -> impl Iterator<Item = Lookup> + 'a {
    let by = (!q.dont_sort).then_some(q.by.as_ref()).flatten();
    elements.iter().flat_map(move |e| {
        by.into_iter()
            .chain(q.gets.iter())
            .map(|p| lookup(p, e))
            .filter(|l| matches!(l, Lookup::Key { .. }))
    })
}

/// Reads one looked-up key: a string's value or a hash's field; nil for a missing key, another
/// type, or a missing field.
fn read_lookup(db: &mut Db, key: &[u8], field: Option<&[u8]>, now_ms: u64) -> Option<Bytes> {
    let value = &db.get(key, now_ms)?.value;
    match (field, value) {
        (None, value) => value.as_string(),
        (Some(field), Value::Hash(hash)) => hash.get(field).map(Bytes::copy_from_slice),
        (Some(_), _) => None,
    }
}

// ---- Sorting --------------------------------------------------------------------------------

/// The sorted (and limited, and projected) output: one entry per element without GET, one per
/// element and GET otherwise; nil where a GET found nothing.
fn run_query(
    q: &Query,
    source: Source,
    mut fetch: impl FnMut(&Bytes, Option<&Bytes>) -> Option<Bytes>,
) -> Result<Vec<Option<Bytes>>, Reply> {
    let mut q = q.clone();
    // A set has no order of its own: stored, it is sorted so that the result is deterministic.
    if q.dont_sort && source.kind == Kind::Set && q.store.is_some() {
        (q.dont_sort, q.alpha, q.by) = (false, true, None);
    }
    let mut elements = source.elements;
    if q.dont_sort {
        if q.desc && source.kind != Kind::Set {
            elements.reverse();
        }
    } else {
        elements = sorted(&q, elements, &mut fetch)?;
    }
    let range = limit_range(q.limit, elements.len());
    let mut out = Vec::new();
    for element in &elements[range] {
        if q.gets.is_empty() {
            out.push(Some(element.clone()));
        }
        for get in &q.gets {
            out.push(match lookup(get, element) {
                Lookup::Element => Some(element.clone()),
                Lookup::Key { key, field } => fetch(&key, field.as_ref()),
                Lookup::Nothing => None,
            });
        }
    }
    Ok(out)
}

/// LIMIT as Redis clamps it: a negative offset is 0, a negative count is "to the end".
fn limit_range(limit: Option<(i64, i64)>, len: usize) -> std::ops::Range<usize> {
    let Some((offset, count)) = limit else {
        return 0..len;
    };
    let start = (offset.max(0) as u64).min(len as u64) as usize;
    let end = if count < 0 {
        len
    } else {
        (start as u64).saturating_add(count as u64).min(len as u64) as usize
    };
    start..end
}

/// What an element sorts by.
enum SortKey {
    Score(f64),
    Text(Option<Bytes>),
}

fn sorted(
    q: &Query,
    elements: Vec<Bytes>,
    fetch: &mut impl FnMut(&Bytes, Option<&Bytes>) -> Option<Bytes>,
) -> Result<Vec<Bytes>, Reply> {
    let mut keyed = Vec::with_capacity(elements.len());
    for element in elements {
        let by_value = match &q.by {
            None => Some(element.clone()),
            Some(pattern) => match lookup(pattern, &element) {
                Lookup::Element => Some(element.clone()),
                Lookup::Key { key, field } => fetch(&key, field.as_ref()),
                Lookup::Nothing => None,
            },
        };
        let key = if q.alpha {
            SortKey::Text(by_value)
        } else {
            // A missing BY key sorts as 0, as in Redis.
            let score = by_value.map_or(Some(0.0), |v| parse_score(&v));
            SortKey::Score(score.ok_or_else(|| {
                Reply::error("ERR One or more scores can't be converted into double")
            })?)
        };
        keyed.push((key, element));
    }
    let by_pattern = q.by.is_some();
    keyed.sort_by(|(ka, ea), (kb, eb)| {
        let cmp = match (ka, kb) {
            // Equal scores fall back to the elements, so that the order is deterministic.
            (SortKey::Score(a), SortKey::Score(b)) => a
                .partial_cmp(b)
                .unwrap_or(Ordering::Equal)
                .then_with(|| ea.cmp(eb)),
            // Without BY the text is the element; with BY, a missing value sorts first.
            (SortKey::Text(a), SortKey::Text(b)) if by_pattern => a.cmp(b),
            (SortKey::Text(_), SortKey::Text(_)) => ea.cmp(eb),
            _ => Ordering::Equal,
        };
        if q.desc {
            cmp.reverse()
        } else {
            cmp
        }
    });
    Ok(keyed.into_iter().map(|(_, e)| e).collect())
}

/// A score as Redis's `strtod` reads it for SORT: leading spaces allowed, the whole rest must be
/// a number, not NaN and not out of range; the empty string is 0.
fn parse_score(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text).ok()?.trim_start();
    if text.is_empty() {
        return Some(0.0);
    }
    let score: f64 = text.parse().ok()?;
    let spelled_infinite = text
        .trim_start_matches(['+', '-'])
        .to_ascii_lowercase()
        .starts_with("inf");
    if score.is_nan() || (score.is_infinite() && !spelled_infinite) {
        return None;
    }
    Some(score)
}

fn output_reply(out: Vec<Option<Bytes>>) -> Reply {
    Reply::Array(
        out.into_iter()
            .map(|e| e.map_or(Reply::Nil, Reply::Bulk))
            .collect(),
    )
}

/// Replaces `dst` with a list of `out` (nil as the empty string), or deletes it when `out` is
/// empty; replies the list's length.
fn store(ctx: &mut Ctx, dst: &Bytes, out: Vec<Option<Bytes>>) -> Reply {
    let len = out.len();
    if out.is_empty() {
        if ctx.db().delete(dst) {
            ctx.notify(class::GENERIC, "del", dst);
        }
    } else {
        let items = out.into_iter().map(|e| e.unwrap_or_default());
        ctx.db().insert(
            dst,
            Value::List(Box::new(List::from_items(items, false))),
            None,
        );
        ctx.notify(class::LIST, "sortstore", dst);
    }
    Reply::Int(len as i64)
}

// ---- Running it -----------------------------------------------------------------------------

fn sort(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move { sort_generic(client, args, false).await })
}

fn sort_ro(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move { sort_generic(client, args, true).await })
}

/// Runs a whole SORT on the source's shard: `sort-step key dst-or-key option...` (the
/// destination is an argument so that the step waits for its lock too).
static SORT_STEP: CommandSpec = CommandSpec {
    name: "sort-step",
    arity: -3,
    flags: WRITE,
    keys: TWO_KEYS,
    run: keyed(sort_step),
    ..BASE
};

/// The same, for a sort that stores nothing.
static SORT_RO_STEP: CommandSpec = CommandSpec {
    name: "sort-ro-step",
    arity: -3,
    flags: READONLY,
    keys: TWO_KEYS,
    run: keyed(sort_step),
    ..BASE
};

/// The source's kind and elements, for a cross-shard sort: `sort-source-step key`.
static SOURCE_STEP: CommandSpec = CommandSpec {
    name: "sort-source-step",
    arity: 2,
    flags: READONLY,
    keys: KEY1,
    run: keyed(source_step),
    ..BASE
};

/// Reads pattern keys under a cross-shard sort's locks: `sort-fetch-step (key field|"")...`,
/// one reply per key (nil when missing). Keyless, so that it does not wait on the locks its own
/// transaction holds, nor on others' locks (for keys it could not lock, see LOCK_ATTEMPTS_MAX).
static FETCH_STEP: CommandSpec = shard_step("sort-fetch-step", fetch_step);

/// Stores a cross-shard sort's result: `sort-store-step dst element...`.
static STORE_STEP: CommandSpec = CommandSpec {
    name: "sort-store-step",
    arity: -2,
    flags: WRITE,
    keys: KEY1,
    run: keyed(store_step),
    ..BASE
};

async fn sort_generic(client: &mut Client, args: Vec<Bytes>, readonly: bool) -> Reply {
    let cluster = client.shard.config.borrow().cluster_enabled;
    let q = match Query::parse(&args[2..], readonly, cluster) {
        Ok(q) => q,
        Err(e) => return e,
    };
    let shard = client.shard.clone();
    let src = &args[1];
    if client.cluster_port {
        let same_slot =
            |k: &Bytes| crate::router::slot::key_slot(k) == crate::router::slot::key_slot(src);
        if !q.store.as_ref().is_none_or(same_slot) {
            return Reply::error("CROSSSLOT Keys in request don't hash to the same slot");
        }
    }
    if shard.shard_count() > 1 && q.reads_other_keys() && in_exec() {
        // The keys a pattern names are known only from the data, after the EXEC locked its
        // keys: they would be read unlocked, so other clients' writes could interleave.
        return Reply::error(
            "ERR SORT with BY or GET patterns that read other keys is not supported inside MULTI across shards",
        );
    }
    let owner = shard.owner_of(src);
    let one_shard = shard.shard_count() == 1
        || (!q.reads_other_keys() && q.store.as_ref().is_none_or(|d| shard.owner_of(d) == owner));
    if one_shard {
        let mut step_args = vec![Bytes::from_static(b"sort-step"), src.clone()];
        step_args.push(q.store.clone().unwrap_or_else(|| src.clone()));
        step_args.extend_from_slice(&args[2..]);
        let spec = if q.store.is_some() {
            &SORT_STEP
        } else {
            &SORT_RO_STEP
        };
        let req = Request {
            spec,
            db: client.db(),
            resp3: client.resp3(),
            args: step_args,
        };
        let reply = exec_on_owner(&shard, owner, vec![req]).await.pop();
        return reply.unwrap_or(Reply::error("ERR shard did not answer"));
    }
    sort_across(client, src, &q).await
}

fn sort_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // The options were checked by the command before it sent this step.
    let q = match Query::parse(&args[3..], false, false) {
        Ok(q) => q,
        Err(e) => return e,
    };
    let now = ctx.now_ms;
    let source = match Source::read(ctx.db(), &args[1], now) {
        Ok(source) => source,
        Err(e) => return e,
    };
    let db = ctx.db();
    let out = match run_query(&q, source, |key, field| {
        read_lookup(db, key, field.map(|f| &f[..]), now)
    }) {
        Ok(out) => out,
        Err(e) => return e,
    };
    match &q.store {
        Some(dst) => store(ctx, dst, out),
        None => output_reply(out),
    }
}

fn source_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    match Source::read(ctx.db(), &args[1], now) {
        Ok(source) => {
            let kind: &'static str = match source.kind {
                Kind::List => "list",
                Kind::Set => "set",
                Kind::ZSet => "zset",
            };
            let mut items = vec![Reply::bulk_str(kind)];
            items.extend(source.elements.into_iter().map(Reply::Bulk));
            Reply::Array(items)
        }
        Err(e) => e,
    }
}

fn fetch_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let db = ctx.db();
    let values = args[1..].chunks_exact(2).map(|pair| {
        let field = (!pair[1].is_empty()).then(|| &pair[1][..]);
        read_lookup(db, &pair[0], field, now).map_or(Reply::Nil, Reply::Bulk)
    });
    Reply::Array(values.collect())
}

fn store_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let out = args[2..].iter().cloned().map(Some).collect();
    store(ctx, &args[1], out)
}

/// A sort whose keys span shards (main port): see the module's description.
async fn sort_across(client: &Client, src: &Bytes, q: &Query) -> Reply {
    let (shard, db, resp3) = (&client.shard, client.db(), client.resp3());
    let source_req = || Request {
        spec: &SOURCE_STEP,
        db,
        resp3,
        args: vec![Bytes::from_static(b"sort-source-step"), src.clone()],
    };
    for attempt in 1..=LOCK_ATTEMPTS_MAX {
        let unlocked = exec_on_owner(shard, shard.owner_of(src), vec![source_req()])
            .await
            .pop();
        let unlocked = match unlocked.map(parse_source) {
            Some(Ok(source)) => source,
            Some(Err(e)) => return e,
            None => return Reply::error("ERR shard did not answer"),
        };
        let mut keys: Vec<Bytes> = vec![src.clone()];
        keys.extend(q.store.iter().cloned());
        keys.extend(lookups(q, &unlocked.elements).filter_map(|l| match l {
            Lookup::Key { key, .. } => Some(key),
            _ => None,
        }));
        let txn = Txn::lock(shard, db, &keys).await;
        let locked = txn
            .run_for_key(src, &SOURCE_STEP, source_req().args, resp3)
            .await;
        let source = match parse_source(locked) {
            Ok(source) => source,
            Err(e) => {
                txn.finish().await;
                return e;
            }
        };
        if source != unlocked && attempt < LOCK_ATTEMPTS_MAX {
            txn.finish().await;
            continue;
        }
        let fetched = fetch_all(shard, &txn, q, &source, resp3).await;
        let out = run_query(q, source, |key, field| {
            fetched
                .get(&(key.clone(), field.cloned()))
                .cloned()
                .flatten()
        });
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                txn.finish().await;
                return e;
            }
        };
        let Some(dst) = &q.store else {
            txn.finish().await;
            return output_reply(out);
        };
        let mut store_args = vec![Bytes::from_static(b"sort-store-step"), dst.clone()];
        store_args.extend(out.into_iter().map(Option::unwrap_or_default));
        let req = Request {
            spec: &STORE_STEP,
            db,
            resp3,
            args: store_args,
        };
        let mut replies = txn.run_and_finish(vec![(shard.owner_of(dst), req)]).await;
        return replies
            .pop()
            .unwrap_or(Reply::error("ERR shard did not answer"));
    }
    unreachable!("the last attempt always finishes")
}

fn parse_source(reply: Reply) -> Result<Source, Reply> {
    let Reply::Array(items) = reply else {
        return Err(reply);
    };
    let mut items = items.into_iter().map(|item| match item {
        Reply::Bulk(b) => b,
        _ => Bytes::new(),
    });
    let kind = match items.next().as_deref() {
        Some(b"set") => Kind::Set,
        Some(b"zset") => Kind::ZSet,
        _ => Kind::List,
    };
    Ok(Source {
        kind,
        elements: items.collect(),
    })
}

/// Every pattern key's value for these elements, fetched under the transaction's locks with one
/// request per shard.
async fn fetch_all(
    shard: &Shard,
    txn: &Txn<'_>,
    q: &Query,
    source: &Source,
    resp3: bool,
) -> HashMap<(Bytes, Option<Bytes>), Option<Bytes>> {
    let mut wanted: Vec<(Bytes, Option<Bytes>)> = lookups(q, &source.elements)
        .filter_map(|l| match l {
            Lookup::Key { key, field } => Some((key, field)),
            _ => None,
        })
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut by_shard: BTreeMap<usize, Vec<(Bytes, Option<Bytes>)>> = BTreeMap::new();
    for lookup in wanted {
        by_shard
            .entry(shard.owner_of(&lookup.0))
            .or_default()
            .push(lookup);
    }
    let calls = by_shard.into_iter().map(|(to, lookups)| {
        let mut args = vec![Bytes::from_static(b"sort-fetch-step")];
        for (key, field) in &lookups {
            args.push(key.clone());
            args.push(field.clone().unwrap_or_default());
        }
        let req = Request {
            spec: &FETCH_STEP,
            db: txn.db(),
            resp3,
            args,
        };
        async move {
            (
                lookups,
                shard.exec_on(to, vec![req], Some(txn.step(0))).await,
            )
        }
    });
    let mut fetched = HashMap::new();
    for (lookups, mut replies) in futures::future::join_all(calls).await {
        let values = match replies.pop() {
            Some(Reply::Array(values)) => values,
            _ => Vec::new(),
        };
        let mut values = values.into_iter();
        for lookup in lookups {
            let value = match values.next() {
                Some(Reply::Bulk(b)) => Some(b),
                _ => None,
            };
            fetched.insert(lookup, value);
        }
    }
    fetched
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(key: &str, field: Option<&str>) -> Lookup {
        Lookup::Key {
            key: Bytes::copy_from_slice(key.as_bytes()),
            field: field.map(|f| Bytes::copy_from_slice(f.as_bytes())),
        }
    }

    #[test]
    fn patterns_substitute_the_first_star_and_split_off_a_hash_field() {
        assert_eq!(lookup(b"#", b"7"), Lookup::Element);
        assert_eq!(lookup(b"w_*", b"7"), key("w_7", None));
        assert_eq!(lookup(b"o_*_x->f", b"7"), key("o_7_x", Some("f")));
        // An arrow with no field after it is part of the key name, as in Redis.
        assert_eq!(lookup(b"o_*->", b"7"), key("o_7->", None));
        assert_eq!(lookup(b"a*b*", b"7"), key("a7b*", None));
        assert_eq!(lookup(b"plain", b"7"), Lookup::Nothing);
    }

    #[test]
    fn limit_clamps_as_redis_does() {
        assert_eq!(limit_range(None, 5), 0..5);
        assert_eq!(limit_range(Some((-3, 2)), 5), 0..2);
        assert_eq!(limit_range(Some((2, -1)), 5), 2..5);
        assert_eq!(limit_range(Some((9, 2)), 5), 5..5);
        assert_eq!(limit_range(Some((1, i64::MAX)), 5), 1..5);
    }

    #[test]
    fn scores_parse_as_strtod_reads_them() {
        assert_eq!(parse_score(b" 2.5"), Some(2.5));
        assert_eq!(parse_score(b""), Some(0.0));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"1e999"), None);
        assert_eq!(parse_score(b"nan"), None);
        assert_eq!(parse_score(b"2x"), None);
    }
}
