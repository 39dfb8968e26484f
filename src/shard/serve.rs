//! The shard's own tasks: answering other shards' messages, and its periodic housekeeping (active
//! expiry, moving keys of resizing tables, freeing big values let go of, idle-client timeouts).

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{now_ms, Shard, ShardMsg};
use crate::runtime::{self, mesh::Receiver};

/// Most keys one expiry pass removes per database before yielding to clients.
const EXPIRED_KEYS_PER_PASS_MAX: usize = 200;
/// How long one cron pass may move keys of resizing slot tables (Redis's `activerehashing` spends
/// a millisecond per pass too).
const RESIZE_TIME_PER_PASS: Duration = Duration::from_millis(1);

impl Shard {
    /// Answers messages from one peer shard until it goes away.
    pub async fn serve_peer(self: Rc<Self>, rx: Receiver<ShardMsg>) {
        while let Some(msg) = rx.recv().await {
            self.handle(msg);
        }
    }

    fn handle(self: &Rc<Self>, msg: ShardMsg) {
        match msg {
            ShardMsg::Exec { reqs, txn, reply } => {
                // Anything that may wait for a lock runs in its own task, so that this loop keeps
                // taking messages (the lock holder's release may be the next one).
                let shard = self.clone();
                runtime::spawn_local(async move {
                    let _ = reply.send(shard.exec_batch(reqs, txn).await);
                })
                .detach();
            }
            ShardMsg::Lock { txn, keys, reply } => {
                let shard = self.clone();
                runtime::spawn_local(async move {
                    shard.locks.acquire(txn, keys).await;
                    let _ = reply.send(());
                })
                .detach();
            }
            ShardMsg::Release { txn } => self.locks.release(txn),
            ShardMsg::Run(task) => task(self.clone()),
        }
    }

    /// Periodic work, `hz` times a second, like Redis's serverCron.
    pub async fn cron(self: Rc<Self>) {
        loop {
            let hz = self.config.borrow().hz.max(1);
            runtime::sleep(Duration::from_millis(1000 / hz as u64)).await;
            if self.active_expire.get() {
                self.expire_pass().await;
            }
            if self.config.borrow().active_rehashing {
                let deadline = Instant::now() + RESIZE_TIME_PER_PASS;
                let mut keyspace = self.keyspace.borrow_mut();
                for db in &mut keyspace.dbs {
                    db.continue_resizes(deadline);
                }
            }
            self.maybe_free_garbage();
            runtime::memory::release_idle_kept();
            self.sample_journal_latency();
            self.maybe_auto_snapshot();
            self.clients
                .borrow()
                .close_idle(self.config.borrow().timeout_s);
        }
    }

    /// Removes keys whose TTL has passed, a bounded number at a time.
    async fn expire_pass(&self) {
        let databases = self.keyspace.borrow().dbs.len();
        for db in 0..databases {
            loop {
                let removed = {
                    let mut keyspace = self.keyspace.borrow_mut();
                    let removed =
                        keyspace.dbs[db].remove_expired(now_ms(), EXPIRED_KEYS_PER_PASS_MAX);
                    crate::pubsub::notify::publish_expired(self, &mut keyspace);
                    // Expiry is not logged (replay repeats it): nothing to wait for.
                    crate::pubsub::notify::release(self, 0);
                    removed
                };
                self.stats.borrow_mut().expired_keys += removed as u64;
                if removed < EXPIRED_KEYS_PER_PASS_MAX {
                    break;
                }
                runtime::yield_now().await;
            }
        }
    }
}
