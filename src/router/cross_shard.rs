//! Commands whose keys live on several shards, run as transactions over the shards' key locks
//! (see `shard::locks` for why this cannot deadlock).

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::commands::{CommandSpec, CrossShard, Keys, SplitMerge};
use crate::protocol::Reply;
use crate::server::client::Client;
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
        };
        let mut replies = self.shard.exec_on(to, vec![req], Some(step)).await;
        replies
            .pop()
            .unwrap_or(Reply::error("ERR shard did not answer"))
    }

    /// Runs one request per shard in parallel, then releases every shard's locks. Ends the
    /// transaction.
    ///
    /// The writes are logged as one journal record per shard, each naming how many parts the
    /// transaction has, so that replay applies all of them or none. Locks are released only once
    /// every part is durable: until then nobody can see (and act on) a transaction that a crash
    /// could still take back.
    pub async fn run_and_finish(self, parts: Vec<(usize, Request)>) -> Vec<Reply> {
        let step = TxnStep {
            id: self.id,
            release: false,
            parts: parts.iter().filter(|(_, req)| req.spec.is_write()).count() as u16,
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

/// Runs a multi-key command as one part per shard (each with its own keys and their values),
/// atomically, and merges the parts' replies.
async fn split(
    client: &mut Client,
    spec: &'static CommandSpec,
    merge: SplitMerge,
    args: Vec<Bytes>,
) -> Reply {
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
