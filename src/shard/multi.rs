//! A MULTI/EXEC transaction's part on one shard: its commands for this shard, run back to back
//! with nothing else in between, and logged as ONE journal record (a `TXN_PART`), so that after a
//! crash the part is entirely there or entirely absent (and, with the other shards' parts, so is
//! the transaction: replay applies a transaction only when all its parts are present).
//!
//! Running the whole part synchronously (no await between the commands and the log) also keeps
//! snapshots consistent: a snapshot starts between two tasks, so it sees all of the part or none.

use std::rc::Rc;

use futures::channel::oneshot;

use super::{Request, Shard, TxnStep};
use crate::journal::effect::TxnTag;
use crate::journal::Lsn;
use crate::protocol::Reply;

/// What the part does with its connection's WATCHes on this shard before running.
#[derive(Clone, Copy)]
pub enum WatchCheck {
    /// Nothing watched here (or already checked).
    None,
    /// Check and forget client `id`'s watches here; run nothing when one was touched.
    Client(u64),
}

impl Shard {
    /// Runs `reqs` (all for this shard) as one transaction part and returns their replies once
    /// durable; `None` when a watched key was touched (nothing ran).
    ///
    /// With `txn` the caller holds the cross-shard locks of every key, and the part is logged as
    /// one of the transaction's `txn.parts` records. Without, this is the whole transaction: it
    /// waits until no other transaction holds any of its keys, then runs and logs itself as a
    /// transaction of one part.
    pub async fn run_part(
        &self,
        reqs: Vec<Request>,
        txn: Option<TxnStep>,
        watch: WatchCheck,
    ) -> Option<Vec<Reply>> {
        if txn.is_none() {
            self.wait_keys_free(&reqs).await;
        }
        let replies = self.run_part_now(&reqs, txn, watch)?;
        let (mut replies, lsns): (Vec<Reply>, Vec<Lsn>) = replies.into_iter().unzip();
        self.settle(&mut replies, &lsns).await;
        Some(replies)
    }

    /// `run_part` on shard `to` (here, if it is this shard).
    pub async fn run_part_on(
        &self,
        to: usize,
        reqs: Vec<Request>,
        txn: Option<TxnStep>,
        watch: WatchCheck,
    ) -> Option<Vec<Reply>> {
        if to == self.id {
            return self.run_part(reqs, txn, watch).await;
        }
        let (reply, rx) = oneshot::channel();
        let task = Box::new(move |shard: Rc<Shard>| {
            crate::runtime::spawn_local(async move {
                let _ = reply.send(shard.run_part(reqs, txn, watch).await);
            })
            .detach();
        });
        self.run_on(to, task).await;
        rx.await.unwrap_or_else(|_| Some(Vec::new()))
    }

    /// Waits until no other transaction holds a key of `reqs`: all at once, since waiting for
    /// one key may let another be locked meanwhile.
    async fn wait_keys_free(&self, reqs: &[Request]) {
        while let Some((db, keys)) = reqs.iter().find_map(|req| {
            let keys = req.keys();
            (!self.locks.free_for(req.db, &keys, None)).then_some((req.db, keys))
        }) {
            self.locks.wait_free(db, &keys, None).await;
        }
    }

    /// The synchronous heart of `run_part`: check WATCH, run, log once. Each reply comes with the
    /// LSN it waits for.
    fn run_part_now(
        &self,
        reqs: &[Request],
        txn: Option<TxnStep>,
        watch: WatchCheck,
    ) -> Option<Vec<(Reply, Lsn)>> {
        if let WatchCheck::Client(id) = watch {
            let touched = self
                .watches
                .borrow_mut()
                .check_and_forget(id, super::now_ms());
            if self.journal.is_none() && self.watches.borrow().is_empty() {
                // Changes are recorded only for the journal, or while someone watches.
                self.keyspace.borrow_mut().set_track_changes(false);
            }
            if touched {
                return None;
            }
        }
        let mut keyspace = self.keyspace.borrow_mut();
        let mut replies = Vec::with_capacity(reqs.len());
        // A transaction's commands all see one time, as in Redis.
        let now = super::now_ms();
        for req in reqs {
            let (spec, db, resp3, args) = (req.spec, req.db, req.resp3, &req.args);
            let reply = self.execute(&mut keyspace, spec, db, resp3, args, None, now);
            replies.push((reply, req.spec.is_write()));
        }
        let tag = match txn {
            Some(step) => step.tag(),
            None => {
                let id = self.locks.new_txn(self.id);
                TxnTag {
                    origin: id.origin,
                    seq: id.seq,
                    parts: 1,
                }
            }
        };
        let any_write =
            reqs.iter().any(|r| r.spec.is_write()) || txn.is_some_and(|step| step.log_empty);
        let write_lsn = if any_write {
            self.log_changes(&mut keyspace, Some(tag))
        } else {
            0
        };
        drop(keyspace);
        // Clients blocked on keys the transaction wrote are served once all of it ran.
        self.serve_ready();
        let replies = replies
            .into_iter()
            .zip(reqs)
            .map(|((reply, write), req)| {
                let lsn = if write {
                    write_lsn
                } else {
                    self.read_lsn(req.spec, req.db, &req.args)
                };
                (reply, lsn)
            })
            .collect();
        Some(replies)
    }
}
