//! Commands whose keys live on several shards, run as transactions over the shards' key locks
//! (see `shard::locks` for why this cannot deadlock).
//!
//! A coordinated command queued in a cross-shard MULTI, or a keyed command that routes itself
//! (`Run::Client`: SINTERCARD, LMPOP, ZUNION, SORT...) queued in any MULTI, runs its usual plan
//! inside the EXEC (`within_exec`): there a `Txn` takes no locks (the EXEC holds every key
//! already), `exec_on_owner` runs as a part of the EXEC instead of waiting for its locks, and
//! writes are logged under the EXEC's transaction tag, one record on each shard the EXEC counted
//! for the command (see `router::exec_steps`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::rc::Rc;

use bytes::Bytes;

use crate::commands::{CommandSpec, CrossShard, Keys, SplitMerge};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::shard::multi::WatchCheck;
use crate::shard::{Request, Shard, TxnId, TxnStep};

pub async fn run(
    client: &mut Client,
    spec: &'static CommandSpec,
    cross: CrossShard,
    args: Vec<Bytes>,
) -> Reply {
    match cross {
        CrossShard::Split(merge) => split(client, spec, merge, args).await,
        CrossShard::Coordinated(plan) => plan(client, args).await,
        CrossShard::Never => Reply::error("CROSSSLOT Keys in request don't hash to the same slot"),
    }
}

/// A cross-shard transaction in progress: its keys are locked on every shard it touches until
/// `finish` (or the last `run_and_finish`).
pub struct Txn<'a> {
    shard: &'a Shard,
    id: TxnId,
    db: usize,
    /// Shards holding locks for this transaction, ascending.
    shards: Vec<usize>,
    /// Set when this is a coordinated command's plan running inside an EXEC.
    exec: Option<Rc<InExec>>,
}

/// A coordinated command running inside a cross-shard EXEC, which holds the locks of all its
/// keys and has counted, before running anything, the journal records the command logs: exactly
/// one on each of `shards`.
pub struct InExec {
    /// The EXEC's transaction: its id, and its total count of records.
    pub step: TxnStep,
    /// The shards that log one record for this command (its keys' shards when it writes, none
    /// when it only reads), ascending.
    pub shards: Vec<usize>,
    /// The command's records are logged (a second batch of writes would break the count).
    logged: Cell<bool>,
}

impl InExec {
    pub fn new(step: TxnStep, shards: Vec<usize>) -> Rc<InExec> {
        Rc::new(InExec {
            step,
            shards,
            logged: Cell::new(false),
        })
    }

    /// Logs the command's records if its plan did not (it ended without running anything), so
    /// that the EXEC's count holds.
    pub async fn log_rest(&self, shard: &Shard) {
        if !self.logged.replace(true) {
            let step = TxnStep {
                log_empty: true,
                ..self.step
            };
            let calls = self
                .shards
                .iter()
                .map(|&to| shard.run_part_on(to, Vec::new(), Some(step), WatchCheck::None));
            futures::future::join_all(calls).await;
        }
    }
}

thread_local! {
    /// The EXEC a coordinated plan polled on this thread runs inside (see `within_exec`).
    static IN_EXEC: RefCell<Option<Rc<InExec>>> = const { RefCell::new(None) };
}

/// Runs `plan` (a coordinated command's future) inside an EXEC: every `Txn` it starts joins the
/// EXEC instead of locking. The scope is set only while `plan` is polled (a shard is one thread
/// and a poll runs to its end), so other connections' commands on this shard never see it.
pub async fn within_exec<F: Future>(scope: Rc<InExec>, plan: F) -> F::Output {
    let mut plan = std::pin::pin!(plan);
    poll_fn(|cx| {
        let outer = IN_EXEC.with(|s| s.replace(Some(scope.clone())));
        let polled = plan.as_mut().poll(cx);
        IN_EXEC.with(|s| *s.borrow_mut() = outer);
        polled
    })
    .await
}

/// The EXEC the current plan runs inside, if any.
fn current_exec() -> Option<Rc<InExec>> {
    IN_EXEC.with(|s| s.borrow().clone())
}

/// True while a plan runs inside an EXEC (`within_exec`).
pub fn in_exec() -> bool {
    IN_EXEC.with(|s| s.borrow().is_some())
}

/// Runs a self-routing command's requests on `to`, the one shard owning all its keys. Outside an
/// EXEC they wait for other transactions' locks, as any command; inside one they run under the
/// EXEC's locks (waiting for them would never end) and log their writes as the record the EXEC
/// counted there for the command.
pub async fn exec_on_owner(shard: &Shard, to: usize, reqs: Vec<Request>) -> Vec<Reply> {
    match current_exec() {
        Some(exec) => run_in_exec(shard, &exec, reqs.into_iter().map(|r| (to, r)).collect()).await,
        None => shard.exec_on(to, reqs, None).await,
    }
}

impl<'a> Txn<'a> {
    /// Locks `keys` (in `db`) on their shards, in ascending shard order.
    pub async fn lock(shard: &'a Shard, db: usize, keys: &[Bytes]) -> Txn<'a> {
        let keys: Vec<(usize, Bytes)> = keys.iter().map(|k| (db, k.clone())).collect();
        Txn::lock_in_dbs(shard, db, &keys).await
    }

    /// `lock` for keys of several databases (a MULTI with SELECT inside); `db` is the one
    /// `run_for_key` uses.
    pub async fn lock_in_dbs(shard: &'a Shard, db: usize, keys: &[(usize, Bytes)]) -> Txn<'a> {
        if let Some(exec) = current_exec() {
            // The EXEC locked every key of every queued command before running any of them.
            return Txn {
                shard,
                id: exec.step.id,
                db,
                shards: exec.shards.clone(),
                exec: Some(exec),
            };
        }
        let id = shard.locks.new_txn(shard.id);
        let mut by_shard: BTreeMap<usize, Vec<(usize, Bytes)>> = BTreeMap::new();
        for (key_db, key) in keys {
            by_shard
                .entry(shard.owner_of(key))
                .or_default()
                .push((*key_db, key.clone()));
        }
        for (&to, keys) in &by_shard {
            shard.lock_on(to, id, keys.clone()).await;
        }
        Txn {
            shard,
            id,
            db,
            shards: by_shard.into_keys().collect(),
            exec: None,
        }
    }

    pub fn db(&self) -> usize {
        self.db
    }

    /// The step for a part of this transaction run by a caller that logs `parts` records in all
    /// (MULTI/EXEC runs its parts itself, each as one record).
    pub fn step(&self, parts: u16) -> TxnStep {
        TxnStep {
            id: self.id,
            release: false,
            parts,
            log_empty: false,
        }
    }

    /// Runs one read-only command (under this transaction's locks) on the shard that owns `key`.
    /// Writes go in `run_and_finish`, so that the transaction is logged as one unit.
    pub async fn run_for_key(
        &self,
        key: &[u8],
        spec: &'static CommandSpec,
        args: Vec<Bytes>,
        resp3: bool,
    ) -> Reply {
        assert!(
            !spec.is_write(),
            "a transaction's writes go in run_and_finish"
        );
        let to = self.shard.owner_of(key);
        let req = Request {
            spec,
            db: self.db,
            resp3,
            args,
        };
        let step = TxnStep {
            id: self.id,
            release: false,
            parts: 0,
            log_empty: false,
        };
        let mut replies = self.shard.exec_on(to, vec![req], Some(step)).await;
        replies
            .pop()
            .unwrap_or(Reply::error("ERR shard did not answer"))
    }

    /// The multi-key pops (LMPOP, ZMPOP and their blocking forms) over keys of several shards:
    /// asks each of `keys` in order for its length with `len` (a `[name, key]` read step), and
    /// pops the first non-empty one with `pop(key)` as the transaction's last step. Ends the
    /// transaction; `None` when every key was empty, an error from a `len` step as it came.
    pub async fn pop_first_nonempty(
        self,
        keys: &[Bytes],
        len: &'static CommandSpec,
        pop: impl Fn(&Bytes) -> Request,
        resp3: bool,
    ) -> Option<Reply> {
        for key in keys {
            let args = vec![Bytes::from_static(len.name.as_bytes()), key.clone()];
            match self.run_for_key(key, len, args, resp3).await {
                Reply::Int(0) => continue,
                Reply::Int(_) => {
                    let owner = self.shard.owner_of(key);
                    let mut replies = self.run_and_finish(vec![(owner, pop(key))]).await;
                    return Some(
                        replies
                            .pop()
                            .unwrap_or(Reply::error("ERR shard did not answer")),
                    );
                }
                error => {
                    self.finish().await;
                    return Some(error);
                }
            }
        }
        self.finish().await;
        None
    }

    /// Runs one request per shard in parallel, then releases every shard's locks. Ends the
    /// transaction.
    ///
    /// The writes are logged as one journal record per shard, each naming how many parts the
    /// transaction has, so that replay applies all of them or none. Locks are released only once
    /// every part is durable: until then nobody can see (and act on) a transaction that a crash
    /// could still take back.
    pub async fn run_and_finish(self, parts: Vec<(usize, Request)>) -> Vec<Reply> {
        if let Some(exec) = &self.exec {
            return run_in_exec(self.shard, exec, parts).await;
        }
        let step = TxnStep {
            id: self.id,
            release: false,
            parts: parts.iter().filter(|(_, req)| req.spec.is_write()).count() as u16,
            log_empty: false,
        };
        let calls = parts
            .into_iter()
            .map(|(to, req)| self.shard.exec_on(to, vec![req], Some(step)));
        let replies = futures::future::join_all(calls).await;
        let releases = self
            .shards
            .iter()
            .map(|&to| self.shard.release_on(to, self.id));
        futures::future::join_all(releases).await;
        replies
            .into_iter()
            .map(|mut r| r.pop().unwrap_or(Reply::error("ERR shard did not answer")))
            .collect()
    }

    /// Releases every lock without running anything more.
    pub async fn finish(self) {
        self.run_and_finish(Vec::new()).await;
    }
}

/// `run_and_finish` inside an EXEC: each shard's requests run as one part, and each shard the
/// EXEC counted for this command logs exactly one record (empty when nothing was written there).
/// Reads alone log nothing, and leave the records to a later call (or `InExec::log_rest`). The
/// locks stay with the EXEC.
async fn run_in_exec(shard: &Shard, exec: &InExec, parts: Vec<(usize, Request)>) -> Vec<Reply> {
    if !parts.is_empty() && parts.iter().all(|(_, req)| !req.spec.is_write()) {
        return read_in_exec(shard, exec, parts).await;
    }
    let outside = |to: usize, req: &Request| req.spec.is_write() && !exec.shards.contains(&to);
    let counted_already = exec.logged.replace(true);
    let mut replies: Vec<Reply> = Vec::with_capacity(parts.len());
    // For each shard: its requests, and their positions among `parts`.
    let mut by_shard: BTreeMap<usize, (Vec<Request>, Vec<usize>)> = BTreeMap::new();
    if !counted_already {
        for &to in &exec.shards {
            by_shard.entry(to).or_default();
        }
    }
    for (position, (to, req)) in parts.into_iter().enumerate() {
        replies.push(Reply::error("ERR shard did not answer"));
        if req.spec.is_write() && counted_already || outside(to, &req) {
            // A write the EXEC did not count a record for: running it would tear the
            // transaction's unit after a crash, so it is refused.
            replies[position] = Reply::error("ERR this write cannot run inside a transaction");
            continue;
        }
        let (reqs, positions) = by_shard.entry(to).or_default();
        reqs.push(req);
        positions.push(position);
    }
    let calls = by_shard
        .into_iter()
        .map(|(to, (reqs, positions))| async move {
            let step = TxnStep {
                log_empty: !counted_already && exec.shards.contains(&to),
                ..exec.step
            };
            let part = shard
                .run_part_on(to, reqs, Some(step), WatchCheck::None)
                .await;
            (positions, part.unwrap_or_default())
        });
    for (positions, part) in futures::future::join_all(calls).await {
        for (position, reply) in positions.into_iter().zip(part) {
            replies[position] = reply;
        }
    }
    replies
}

/// Reads inside an EXEC, each on its shard under the EXEC's locks, in parallel.
async fn read_in_exec(shard: &Shard, exec: &InExec, parts: Vec<(usize, Request)>) -> Vec<Reply> {
    let step = TxnStep {
        log_empty: false,
        ..exec.step
    };
    let calls = parts.into_iter().map(|(to, req)| async move {
        let part = shard
            .run_part_on(to, vec![req], Some(step), WatchCheck::None)
            .await;
        part.and_then(|mut replies| replies.pop())
            .unwrap_or(Reply::error("ERR shard did not answer"))
    });
    futures::future::join_all(calls).await
}

/// Runs a multi-key command as one part per shard (each with its own keys and their values),
/// atomically, and merges the parts' replies.
async fn split(
    client: &mut Client,
    spec: &'static CommandSpec,
    merge: SplitMerge,
    args: Vec<Bytes>,
) -> Reply {
    if !spec.key_groups_complete(&args) {
        return crate::commands::table::arity_error(spec.name);
    }
    let shard = client.shard.clone();
    let step = match spec.keys {
        Keys::Range { step, .. } => step.max(1) as usize,
        _ => 1,
    };
    let key_indexes = spec.key_indexes(&args);
    // For each shard: its part's arguments, and the positions (in key order) of its keys.
    let mut parts: BTreeMap<usize, (Vec<Bytes>, Vec<usize>)> = BTreeMap::new();
    for (position, &k) in key_indexes.iter().enumerate() {
        let (part_args, positions) = parts
            .entry(shard.owner_of(&args[k]))
            .or_insert_with(|| (vec![args[0].clone()], Vec::new()));
        part_args.extend_from_slice(&args[k..(k + step).min(args.len())]);
        positions.push(position);
    }
    let keys: Vec<Bytes> = key_indexes.iter().map(|&k| args[k].clone()).collect();
    let (db, resp3) = (client.db(), client.resp3());
    let txn = Txn::lock(&shard, db, &keys).await;
    let mut positions = Vec::new();
    let mut requests = Vec::new();
    for (to, (part_args, part_positions)) in parts {
        positions.push(part_positions);
        requests.push((
            to,
            Request {
                spec,
                db,
                resp3,
                args: part_args,
            },
        ));
    }
    let replies = txn.run_and_finish(requests).await;
    if let Some(error) = replies.iter().find(|r| r.is_error()) {
        return error.clone();
    }
    match merge {
        SplitMerge::AllOk => Reply::ok(),
        SplitMerge::Sum => Reply::Int(
            replies
                .iter()
                .map(|r| if let Reply::Int(n) = r { *n } else { 0 })
                .sum(),
        ),
        SplitMerge::PerKey => {
            let mut merged: Vec<Reply> = (0..key_indexes.len()).map(|_| Reply::Nil).collect();
            for (reply, part_positions) in replies.into_iter().zip(positions) {
                if let Reply::Array(items) = reply {
                    for (item, position) in items.into_iter().zip(part_positions) {
                        merged[position] = item;
                    }
                }
            }
            Reply::Array(merged)
        }
    }
}
