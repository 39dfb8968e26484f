//! EXEC: runs a MULTI's queued commands atomically, across shards on the main port.
//!
//! The queue is cut into one part per shard: a command whose keys are on one shard goes to that
//! shard's part; a multi-key command over several shards that splits by key (DEL, EXISTS, MGET,
//! MSET) goes to each of its shards' parts as a piece with that shard's keys; a keyspace-wide
//! command (FLUSHALL, FLUSHDB, DBSIZE, KEYS, RANDOMKEY, SWAPDB) has a piece in every shard's part;
//! a keyless shard command (PING, ECHO, TIME, INFO...) goes to the "home" part. Commands on
//! different shards touch different keys, so running each shard's part in queue order (shards in
//! parallel) gives the same results as running the whole queue in order; a keyspace-wide command
//! sees, on each shard, the transaction's earlier commands there.
//!
//! - One shard (always, on a cluster port): its part is sent there and runs as one uninterrupted
//!   step, logged as one journal record; no cross-shard protocol.
//! - Several shards: every key of every command is locked first (`Txn`, in shard order, so no
//!   deadlock), WATCHes are checked, then the parts run in parallel, each logged as ONE record
//!   naming how many parts the transaction has; locks are released once every part is durable.
//!   Keyspace-wide commands lock no database: on each shard their piece runs inside that shard's
//!   uninterrupted part, but across shards they are no more isolated from other clients than
//!   outside MULTI (a concurrent writer to a key this transaction does not name may be counted by
//!   DBSIZE on one shard and not yet on another). This is a choice: locking a whole database for
//!   the EXEC would need a database-wide lock that every key lock and every command's lock check
//!   (`LockTable::free_for`, today one `is_empty` when nothing is locked) also consults, a cost on
//!   every command for the rare FLUSHALL/KEYS/DBSIZE in a cross-shard MULTI. Their journal
//!   records are still parts of the transaction (a FLUSHALL in an EXEC is there or absent with
//!   the rest after a crash), and on one shard (or a cluster port) the transaction is fully
//!   isolated.
//!
//! Connection commands (`Run::Client` naming no key: SELECT, CLIENT, CONFIG, SCAN, HELLO...) run
//! after the data commands, in queue order, with their replies in place. A SELECT queued before
//! data commands applies to them (its database is taken when the queue is cut).
//!
//! Two kinds of commands do not cut into parts, and a queue holding one runs step by step
//! instead (`exec_steps`), each such command at its place in the queue under the EXEC's locks:
//! coordinated cross-shard commands (SMOVE, RENAME, SINTERSTORE, BLPOP's pop step... over keys of
//! several shards: they read on one shard and write on another; with their keys on one shard they
//! run as usual),
//! and keyed commands that route themselves (`Run::Client` naming keys: SINTERCARD, LMPOP, ZMPOP,
//! ZUNION/ZINTER/ZDIFF[STORE], ZINTERCARD, SORT, GEORADIUS, XREAD, XREADGROUP...), on any number
//! of shards and on a cluster port too.
//!
//! A journal failure during EXEC turns every reply of the EXEC into the MISCONF error: the
//! transaction is one unit, so if one of its records may be lost, all of it may be (replay drops
//! an incomplete transaction), and even its reads showed its own writes.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::cross_shard::Txn;
use super::exec_steps;
use crate::commands::table::{arity_error, MergeFn};
use crate::commands::{flag, CommandSpec, CrossShard, Keys, Run, SplitMerge};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::server::transaction::{crossslot, Queued};
use crate::shard::multi::WatchCheck;
use crate::shard::{Request, Shard, TxnStep};

/// How one queued command's reply is put together from its pieces' replies.
pub(super) enum Assembly {
    /// One piece: (shard, index in that shard's part).
    One(usize, usize),
    /// Pieces by key: (shard, index, positions of its keys), and how to merge.
    Split {
        pieces: Vec<(usize, usize, Vec<usize>)>,
        merge: SplitMerge,
        keys: usize,
    },
    /// One piece per shard, merged in shard order.
    Broadcast {
        pieces: Vec<(usize, usize)>,
        merge: MergeFn,
        args: Vec<Bytes>,
    },
    /// Runs on the connection after the data commands.
    Client(&'static CommandSpec, Vec<Bytes>),
    /// Already answered.
    Done(Reply),
}

/// The queue cut into per-shard parts.
pub(super) struct Plan {
    pub parts: BTreeMap<usize, Vec<Request>>,
    pub assembly: Vec<Assembly>,
}

/// How a multi-key command over several shards splits inside a transaction, if it does.
fn splits(spec: &CommandSpec) -> Option<SplitMerge> {
    match spec.run {
        Run::Keyed {
            cross: CrossShard::Split(merge),
            ..
        } => Some(merge),
        _ => None,
    }
}

/// Refuses, at queue time, a command EXEC could not run atomically on the main port.
pub fn check_queueable(shard: &Shard, spec: &CommandSpec, args: &[Bytes]) -> Result<(), Reply> {
    let never_across = matches!(
        spec.run,
        Run::Keyed {
            cross: CrossShard::Never,
            ..
        }
    );
    if !never_across || spec.single_key() {
        return Ok(());
    }
    let mut owners = spec
        .key_indexes(args)
        .into_iter()
        .map(|i| shard.owner_of(&args[i]));
    let first = owners.next();
    if owners.all(|o| Some(o) == first) {
        Ok(())
    } else {
        Err(crossslot())
    }
}

/// Runs a transaction's queue; a null array when a watched key was touched.
pub async fn exec(client: &mut Client, queued: Vec<Queued>) -> Reply {
    let shard = client.shard.clone();
    if queued.iter().any(|q| own_step(client, q)) {
        return exec_steps::exec(client, queued).await;
    }
    let (
        Plan {
            mut parts,
            assembly,
        },
        _,
    ) = cut(client, client.db(), queued);
    let watched = client.transaction.take_watched();
    let watched_shards: BTreeSet<usize> = watched.iter().map(|(_, k)| shard.owner_of(k)).collect();
    let id = client.id();
    let mut shards: BTreeSet<usize> = parts.keys().copied().collect();
    shards.extend(&watched_shards);
    let replies = if shards.len() <= 1 {
        let to = shards.first().copied().unwrap_or(shard.id);
        let reqs = parts.remove(&to).unwrap_or_default();
        let watch = if watched.is_empty() {
            WatchCheck::None
        } else {
            WatchCheck::Client(id)
        };
        match shard.run_part_on(to, reqs, None, watch).await {
            Some(replies) => BTreeMap::from([(to, replies)]),
            None => return Reply::NilArray,
        }
    } else {
        match run_across(&shard, client.db(), parts, &watched_shards, id).await {
            Some(replies) => replies,
            None => return Reply::NilArray,
        }
    };
    let assembly = resolve(assembly, replies);
    finish(client, assembly).await
}

/// A command that runs its own plan as a step of the EXEC (`exec_steps`): a coordinated
/// command whose keys are on several shards (main port), or a keyed command that routes itself
/// (`Run::Client` with keys: SINTERCARD, LMPOP, ZMPOP, ZUNION..., SORT, GEORADIUS, XREAD...).
pub(super) fn own_step(client: &Client, queued: &Queued) -> bool {
    routes_itself(queued) || !client.cluster_port && coordinated_across(&client.shard, queued)
}

/// A keyed command that needs the connection to route itself (`Run::Client` naming keys; not
/// SSUBSCRIBE, whose "keys" are channels).
fn routes_itself(queued: &Queued) -> bool {
    let spec = queued.spec;
    matches!(spec.run, Run::Client(_))
        && spec.flags & flag::PUBSUB == 0
        && spec.first_key(&queued.args).is_some()
}

/// A coordinated command (its own cross-shard plan) whose keys are on several shards.
fn coordinated_across(shard: &Shard, queued: &Queued) -> bool {
    let Run::Keyed {
        cross: CrossShard::Coordinated(_),
        ..
    } = queued.spec.run
    else {
        return false;
    };
    keys_by_shard(shard, queued.spec, &queued.args).len() > 1
}

/// Cuts the queue into per-shard parts (see the module comment), starting in database `db`;
/// also returns the database a queued SELECT left it in.
pub(super) fn cut(client: &Client, db: usize, queued: Vec<Queued>) -> (Plan, usize) {
    let shard = &client.shard;
    let (mut db, resp3) = (db, client.resp3());
    let home = home_shard(client, &queued);
    let mut parts: BTreeMap<usize, Vec<Request>> = BTreeMap::new();
    let mut add = |to: usize, spec, db, args| {
        let part = parts.entry(to).or_default();
        part.push(Request {
            spec,
            db,
            resp3,
            args,
        });
        part.len() - 1
    };
    let mut assembly = Vec::with_capacity(queued.len());
    for Queued { spec, args } in queued {
        assembly.push(match spec.run {
            Run::Client(_) | Run::Parent => {
                if spec.name == "select" {
                    db = selected_db(client, &args).unwrap_or(db);
                }
                Assembly::Client(spec, args)
            }
            Run::Local(_) => Assembly::One(home, add(home, spec, db, args)),
            Run::Broadcast { .. } if client.cluster_port => {
                Assembly::One(shard.id, add(shard.id, spec, db, args))
            }
            Run::Broadcast { merge, .. } => Assembly::Broadcast {
                pieces: (0..shard.shard_count())
                    .map(|to| (to, add(to, spec, db, args.clone())))
                    .collect(),
                merge,
                args,
            },
            Run::Keyed { .. } => {
                let by_shard = keys_by_shard(shard, spec, &args);
                match (by_shard.len(), splits(spec)) {
                    (0, _) => Assembly::One(home, add(home, spec, db, args)),
                    (1, _) | (_, None) => {
                        let to = *by_shard.keys().next().expect("one shard");
                        Assembly::One(to, add(to, spec, db, args))
                    }
                    (_, Some(_)) if !spec.key_groups_complete(&args) => {
                        Assembly::Done(arity_error(spec.name))
                    }
                    (_, Some(merge)) => {
                        let keys = spec.key_indexes(&args).len();
                        let pieces = by_shard
                            .into_iter()
                            .map(|(to, (piece, positions))| {
                                (to, add(to, spec, db, piece), positions)
                            })
                            .collect();
                        Assembly::Split {
                            pieces,
                            merge,
                            keys,
                        }
                    }
                }
            }
        });
    }
    (Plan { parts, assembly }, db)
}

/// Where keyless commands run: the one shard the data commands use, if there is one (so that a
/// transaction on one shard stays on it), else the connection's.
fn home_shard(client: &Client, queued: &[Queued]) -> usize {
    let shard = &client.shard;
    let mut owners = queued.iter().flat_map(|q| {
        q.spec
            .key_indexes(&q.args)
            .into_iter()
            .map(|i| shard.owner_of(&q.args[i]))
    });
    match owners.next() {
        Some(first) if owners.all(|o| o == first) => first,
        _ => shard.id,
    }
}

/// For each shard holding some of the command's keys: the command's arguments with only those
/// keys (and the arguments each key carries), and the keys' positions in the command.
pub(super) fn keys_by_shard(
    shard: &Shard,
    spec: &CommandSpec,
    args: &[Bytes],
) -> BTreeMap<usize, (Vec<Bytes>, Vec<usize>)> {
    let step = match spec.keys {
        Keys::Range { step, .. } => step.max(1) as usize,
        Keys::None | Keys::Parsed { .. } => 1,
    };
    let key_indexes = spec.key_indexes(args);
    let mut by_shard: BTreeMap<usize, (Vec<Bytes>, Vec<usize>)> = BTreeMap::new();
    for (position, &k) in key_indexes.iter().enumerate() {
        let (piece, positions) = by_shard
            .entry(shard.owner_of(&args[k]))
            .or_insert_with(|| (args[..key_indexes[0]].to_vec(), Vec::new()));
        piece.extend_from_slice(&args[k..(k + step).min(args.len())]);
        positions.push(position);
    }
    // Arguments after the last key's group (none for the splitting commands today) stay with
    // every piece.
    let tail_start = key_indexes
        .last()
        .map_or(args.len(), |&k| (k + step).min(args.len()));
    for (piece, _) in by_shard.values_mut() {
        piece.extend_from_slice(&args[tail_start..]);
    }
    by_shard
}

/// The database a queued SELECT switches to, if it will succeed.
fn selected_db(client: &Client, args: &[Bytes]) -> Option<usize> {
    let n: usize = std::str::from_utf8(args.get(1)?).ok()?.parse().ok()?;
    let databases = client.shard.config.borrow().databases;
    (n < databases && (n == 0 || !client.cluster_port)).then_some(n)
}

/// Runs parts on several shards under the cross-shard locks; `None` when a watched key was
/// touched (nothing ran).
async fn run_across(
    shard: &Shard,
    db: usize,
    parts: BTreeMap<usize, Vec<Request>>,
    watched_shards: &BTreeSet<usize>,
    client_id: u64,
) -> Option<BTreeMap<usize, Vec<Reply>>> {
    let keys: Vec<(usize, Bytes)> = parts
        .values()
        .flatten()
        .flat_map(|req| req.keys().into_iter().map(move |k| (req.db, k)))
        .collect();
    let txn = Txn::lock_in_dbs(shard, db, &keys).await;
    if !check_watches(shard, watched_shards, client_id).await {
        txn.finish().await;
        return None;
    }
    let writers = parts
        .values()
        .filter(|reqs| reqs.iter().any(|r| r.spec.is_write()))
        .count();
    let replies = run_parts(shard, parts, txn.step(writers as u16)).await;
    txn.finish().await;
    Some(replies)
}

/// With every key locked, checks (and forgets) the client's WATCHes everywhere before anything
/// runs; false when a watched key was touched.
pub(super) async fn check_watches(
    shard: &Shard,
    watched_shards: &BTreeSet<usize>,
    client_id: u64,
) -> bool {
    let checks = watched_shards
        .iter()
        .map(|&to| shard.run_part_on(to, Vec::new(), None, WatchCheck::Client(client_id)));
    let checks = futures::future::join_all(checks).await;
    checks.iter().all(Option::is_some)
}

/// Runs each shard's part (in parallel) as a part of the transaction `step`.
pub(super) async fn run_parts(
    shard: &Shard,
    parts: BTreeMap<usize, Vec<Request>>,
    step: TxnStep,
) -> BTreeMap<usize, Vec<Reply>> {
    let runs = parts.into_iter().map(|(to, reqs)| async move {
        let replies = shard
            .run_part_on(to, reqs, Some(step), WatchCheck::None)
            .await;
        (to, replies.unwrap_or_default())
    });
    futures::future::join_all(runs).await.into_iter().collect()
}

/// Puts the data commands' replies together from their parts' replies; connection commands
/// stay to run in `finish`.
pub(super) fn resolve(
    assembly: Vec<Assembly>,
    mut replies: BTreeMap<usize, Vec<Reply>>,
) -> Vec<Assembly> {
    let mut take = |to: usize, i: usize| -> Reply {
        replies
            .get_mut(&to)
            .and_then(|part| part.get_mut(i))
            .map(|r| std::mem::replace(r, Reply::Nil))
            .unwrap_or_else(|| Reply::error("ERR shard did not answer"))
    };
    let mut out = Vec::with_capacity(assembly.len());
    for item in assembly {
        out.push(Assembly::Done(match item {
            Assembly::One(to, i) => take(to, i),
            Assembly::Split {
                pieces,
                merge,
                keys,
            } => {
                let pieces = pieces
                    .into_iter()
                    .map(|(to, i, positions)| (take(to, i), positions))
                    .collect();
                merge_split(merge, pieces, keys)
            }
            Assembly::Broadcast {
                pieces,
                merge,
                args,
            } => merge(
                pieces.into_iter().map(|(to, i)| take(to, i)).collect(),
                &args,
            ),
            Assembly::Done(reply) => reply,
            client @ Assembly::Client(..) => {
                out.push(client);
                continue;
            }
        }));
    }
    out
}

/// EXEC's reply: the data commands' replies, and the connection commands run in their turn; or,
/// when a part of the transaction was not made durable, every reply the MISCONF error.
pub(super) async fn finish(client: &mut Client, assembly: Vec<Assembly>) -> Reply {
    let misconf = assembly.iter().find_map(|item| match item {
        Assembly::Done(Reply::Error(e)) if e.starts_with("MISCONF ") => Some(e.clone()),
        _ => None,
    });
    if let Some(misconf) = misconf {
        let every = assembly.iter().map(|_| Reply::Error(misconf.clone()));
        return Reply::Array(every.collect());
    }
    let mut out = Vec::with_capacity(assembly.len());
    for item in assembly {
        out.push(match item {
            Assembly::Done(reply) => reply,
            Assembly::Client(spec, args) => match spec.run {
                Run::Client(run) => run(client, args).await,
                _ => Reply::error("ERR command cannot run inside MULTI"),
            },
            _ => Reply::error("ERR shard did not answer"),
        });
    }
    Reply::Array(out)
}

fn merge_split(merge: SplitMerge, pieces: Vec<(Reply, Vec<usize>)>, keys: usize) -> Reply {
    if let Some((error, _)) = pieces.iter().find(|(r, _)| r.is_error()) {
        return error.clone();
    }
    match merge {
        SplitMerge::AllOk => Reply::ok(),
        SplitMerge::Sum => Reply::Int(
            pieces
                .iter()
                .map(|(r, _)| if let Reply::Int(n) = r { *n } else { 0 })
                .sum(),
        ),
        SplitMerge::PerKey => {
            let mut merged: Vec<Reply> = (0..keys).map(|_| Reply::Nil).collect();
            for (reply, positions) in pieces {
                if let Reply::Array(items) = reply {
                    for (item, position) in items.into_iter().zip(positions) {
                        merged[position] = item;
                    }
                }
            }
            Reply::Array(merged)
        }
    }
}

/// Tells every shard where the connection watches keys to forget them (DISCARD, UNWATCH, an
/// aborted EXEC, RESET, a closed connection).
pub async fn unwatch_all(client: &mut Client) {
    let watched = client.transaction.take_watched();
    let shard = &client.shard;
    let shards: BTreeSet<usize> = watched.iter().map(|(_, k)| shard.owner_of(k)).collect();
    let id = client.id();
    let calls = shards
        .into_iter()
        .map(|to| shard.run_part_on(to, Vec::new(), None, WatchCheck::Client(id)));
    futures::future::join_all(calls).await;
}
