//! EXEC of a queue holding a command that runs its own plan (`multi_exec::own_step`): a
//! coordinated command over several shards (SMOVE, RENAME, MSETNX, SINTERSTORE, LMOVE, BITOP,
//! PFMERGE, the pop steps of BLPOP and BZPOPMIN... whose keys span shards), which reads on one shard and writes on another, or a keyed
//! command that routes itself (`Run::Client` naming keys: SINTERCARD, LMPOP, ZMPOP,
//! ZUNION/ZINTER/ZDIFF[STORE], ZINTERCARD, SORT, GEORADIUS[BYMEMBER], XREAD, XREADGROUP), on one
//! shard or several. Such a queue cannot be cut into one part per shard (`multi_exec`). It runs
//! step by step instead, in queue order:
//!
//! - a run of other data commands is one step, cut into per-shard parts run in parallel, as in
//!   `multi_exec`;
//! - a command with its own plan is one step: its usual plan runs inside the EXEC
//!   (`cross_shard::within_exec`), seeing the transaction's earlier writes and seen by its later
//!   commands. Inside the EXEC its `Txn` joins the EXEC's, and its one-shard requests
//!   (`cross_shard::exec_on_owner`) run as parts of the EXEC.
//!
//! **Locks.** Every key of every queued command is locked once, before anything runs, in ascending
//! shard order (`Txn::lock_in_dbs`), exactly as for any cross-shard command, and released after
//! the last step is durable. Steps take no lock of their own (a plan's `Txn` joins the EXEC's), so
//! the EXEC waits for locks only at its start, in the global order: it cannot deadlock, and no
//! other client sees or changes its keys between steps.
//!
//! **Journal.** Every step logs its records at once, under the EXEC's transaction tag, and every
//! record names the same total count, known before the first step runs: a part step logs one
//! record on each shard where it writes; a coordinated command that writes logs exactly one
//! record on each shard of its keys, empty when it changed nothing there (a plan that wrote on a
//! shard the count left out is refused). The keys are the table's (`CommandSpec::key_indexes`,
//! which parses `numkeys`, STORE options... for the commands that route themselves), so the
//! locks and the count cover every key such a command may touch; SORT with BY/GET patterns that
//! read other keys is refused inside an EXEC over several shards (see `commands::sort`). Replay
//! applies the transaction only when all the counted records are present, so after a crash the
//! EXEC is entirely there or entirely absent. Logging
//! each step as it runs (rather than once at the end) keeps the keyspace and the journal in step
//! for everything else on the shard (other clients' records, blocked clients served, a snapshot
//! starting between two steps).
//!
//! A record names the count in 16 bits: an EXEC whose steps would log more than `u16::MAX`
//! records answers an error and runs nothing.
//!
//! Connection commands naming no key (SELECT, CLIENT, CONFIG...) run after the data steps, with
//! the locks released, as in `multi_exec`. (Blocking commands are queued in their non-blocking
//! forms, `commands::in_multi`: BLPOP, BRPOP, BZPOPMIN, BZPOPMAX as their pop steps, data
//! commands on one shard and coordinated ones, run as their own step, over keys of several;
//! BLMPOP, BZMPOP as LMPOP, ZMPOP; XREAD, XREADGROUP as themselves, which do not block inside an
//! EXEC.)

use std::collections::BTreeMap;

use bytes::Bytes;

use super::cross_shard::{within_exec, InExec, Txn};
use super::multi_exec::{check_watches, cut, finish, own_step, resolve, run_parts, Assembly, Plan};
use crate::commands::table::ClientFn;
use crate::commands::{CommandSpec, CrossShard, Run};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::server::transaction::Queued;
use crate::shard::Shard;

/// One step of the EXEC.
enum Step {
    /// Data commands cut into per-shard parts.
    Parts(Plan),
    /// A command with its own plan (a coordinated command whose keys span shards, or a keyed
    /// command that routes itself), run in database `db`.
    Coordinated {
        spec: &'static CommandSpec,
        plan: ClientFn,
        args: Vec<Bytes>,
        db: usize,
    },
}

/// Runs the queue step by step under the EXEC's locks; a null array when a watched key was
/// touched.
pub async fn exec(client: &mut Client, queued: Vec<Queued>) -> Reply {
    let shard = client.shard.clone();
    let steps = steps(client, queued);
    let records: usize = steps.iter().map(|s| records(&shard, s)).sum();
    let Ok(records) = u16::try_from(records) else {
        super::multi_exec::unwatch_all(client).await;
        return Reply::error(format!(
            "ERR transaction too large: its writes span more than {} journal records",
            u16::MAX
        ));
    };
    let keys = locked_keys(&steps);
    let watched = client.transaction.take_watched();
    let watched_shards = watched.iter().map(|(_, k)| shard.owner_of(k)).collect();
    let txn = Txn::lock_in_dbs(&shard, client.db(), &keys).await;
    if !check_watches(&shard, &watched_shards, client.id()).await {
        txn.finish().await;
        return Reply::NilArray;
    }
    let step = txn.step(records);
    let mut assembly = Vec::new();
    for item in steps {
        match item {
            Step::Parts(Plan { parts, assembly: a }) => {
                let replies = run_parts(&shard, parts, step).await;
                assembly.extend(resolve(a, replies));
            }
            Step::Coordinated {
                spec,
                plan,
                args,
                db,
            } => {
                let scope = InExec::new(step, record_shards(&shard, spec, &args));
                // The plan builds its requests in the client's database: the one this command
                // was queued in (after a queued SELECT), for the time it runs.
                let selected = std::mem::replace(&mut client.info().db, db);
                let reply = within_exec(scope.clone(), plan(client, args)).await;
                client.info().db = selected;
                scope.log_rest(&shard).await;
                assembly.push(Assembly::Done(reply));
            }
        }
    }
    txn.finish().await;
    finish(client, assembly).await
}

/// Cuts the queue into steps: runs of data commands between commands with their own plans.
fn steps(client: &Client, queued: Vec<Queued>) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut db = client.db();
    let mut run = Vec::new();
    for q in queued {
        if !own_step(client, &q) {
            run.push(q);
            continue;
        }
        if !run.is_empty() {
            let (plan, next_db) = cut(client, db, std::mem::take(&mut run));
            steps.push(Step::Parts(plan));
            db = next_db;
        }
        let plan = match q.spec.run {
            Run::Keyed {
                cross: CrossShard::Coordinated(plan),
                ..
            }
            | Run::Client(plan) => plan,
            _ => unreachable!("own_step checked the command's kind"),
        };
        steps.push(Step::Coordinated {
            spec: q.spec,
            plan,
            args: q.args,
            db,
        });
    }
    if !run.is_empty() {
        steps.push(Step::Parts(cut(client, db, run).0));
    }
    steps
}

/// Every (db, key) the steps name.
fn locked_keys(steps: &[Step]) -> Vec<(usize, Bytes)> {
    let mut keys = Vec::new();
    for step in steps {
        match step {
            Step::Parts(plan) => keys.extend(
                plan.parts
                    .values()
                    .flatten()
                    .flat_map(|req| req.keys().into_iter().map(move |k| (req.db, k))),
            ),
            Step::Coordinated { spec, args, db, .. } => {
                keys.extend(
                    spec.key_indexes(args)
                        .into_iter()
                        .map(|i| (*db, args[i].clone())),
                );
            }
        }
    }
    keys
}

/// How many journal records a step logs (see the module comment).
fn records(shard: &Shard, step: &Step) -> usize {
    match step {
        Step::Parts(plan) => plan
            .parts
            .values()
            .filter(|reqs| reqs.iter().any(|r| r.spec.is_write()))
            .count(),
        Step::Coordinated { spec, args, .. } => record_shards(shard, spec, args).len(),
    }
}

/// The shards where a command with its own plan logs one record each: its keys' shards when it
/// writes, none when it only reads.
fn record_shards(shard: &Shard, spec: &CommandSpec, args: &[Bytes]) -> Vec<usize> {
    if !spec.is_write() {
        return Vec::new();
    }
    let shards: BTreeMap<usize, ()> = spec
        .key_indexes(args)
        .into_iter()
        .map(|i| (shard.owner_of(&args[i]), ()))
        .collect();
    shards.into_keys().collect()
}
