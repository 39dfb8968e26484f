//! A shard: one executor's share of the node. It owns a contiguous range of hash slots, the
//! keyspace for them, its clients, and its ends of the cross-shard mesh. Nothing in it is shared
//! with other threads; other shards reach it only by message.

pub mod blocking;
mod journaling;
pub mod latency;
mod lazyfree;
pub mod locks;
pub mod multi;
mod node;
pub mod relayout;
mod serve;
mod snapshotting;
mod stats;
mod unsynced;
pub mod watch;

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use bytes::Bytes;
use futures::channel::oneshot;

pub use locks::{LockTable, TxnId};
pub use node::Node;
pub use relayout::OldLayout;
pub use snapshotting::NotStarted;
pub use stats::Stats;

use crate::commands::{CommandSpec, Run};
use crate::config::Config;
use crate::journal::effect::TxnTag;
use crate::journal::{Journal, Lsn};
use crate::keyspace::{Db, DbChange, Keyspace};
use crate::protocol::Reply;
use crate::pubsub::notify::CommandEvents;
use crate::pubsub::PubSub;
use crate::runtime::mesh::Senders;
use crate::server::client::{ClientHandle, ClientRegistry};
use crate::snapshot::Snapshots;

pub struct Shard {
    pub id: usize,
    pub node: Arc<Node>,
    /// This shard's copy of the configuration; `CONFIG SET` updates every shard's.
    pub config: RefCell<Config>,
    pub keyspace: RefCell<Keyspace>,
    pub locks: LockTable,
    /// Which clients WATCH which of this shard's keys (see `watch`).
    pub watches: RefCell<watch::WatchTable>,
    pub clients: RefCell<ClientRegistry>,
    pub stats: RefCell<Stats>,
    pub latency: RefCell<latency::Latency>,
    pub stopwatch: latency::Stopwatch,
    /// The active expiry cycle runs (`DEBUG SET-ACTIVE-EXPIRE 0` turns it off, for tests).
    pub active_expire: Cell<bool>,
    /// The task freeing big values let go of runs (`lazyfree`).
    freeing_garbage: Cell<bool>,
    /// Clients blocked on this shard's keys, and this shard's blocked clients.
    pub blocking: blocking::Blocking,
    /// This shard's journal; `None` with `appendonly no`.
    pub journal: Option<Journal>,
    /// Keys with a write that may not be durable yet (no dirty reads).
    unsynced: RefCell<unsynced::UnsyncedWrites>,
    /// What the last command changed, being logged (reused, so that logging allocates nothing).
    changes: RefCell<Vec<DbChange>>,
    /// Snapshot in progress and the last ones' outcome.
    pub snapshots: Snapshots,
    pub pubsub: PubSub,
    /// This shard itself, for the tasks it starts (set by `Rc::new_cyclic`).
    me: Weak<Shard>,
    peers: Senders<ShardMsg>,
}

/// What a command running on a shard sees.
pub struct Ctx<'a> {
    pub shard: &'a Shard,
    pub keyspace: &'a mut Keyspace,
    pub db: usize,
    /// For commands whose reply shape differs in RESP3 beyond what the encoder maps (HRANDFIELD).
    pub resp3: bool,
    pub now_ms: u64,
}

impl Ctx<'_> {
    pub fn db(&mut self) -> &mut Db {
        &mut self.keyspace.dbs[self.db]
    }
}

/// One command for a shard to run.
pub struct Request {
    pub spec: &'static CommandSpec,
    pub db: usize,
    pub resp3: bool,
    pub args: Vec<Bytes>,
}

impl Request {
    pub fn keys(&self) -> Vec<Bytes> {
        self.spec
            .key_indexes(&self.args)
            .into_iter()
            .map(|i| self.args[i].clone())
            .collect()
    }
}

/// A cross-shard transaction's part in an `Exec`: run under `id`'s locks, then release them if
/// `release`. Writes are logged as one of the transaction's `parts` journal records.
#[derive(Clone, Copy, Debug)]
pub struct TxnStep {
    pub id: TxnId,
    pub release: bool,
    pub parts: u16,
    /// A `run_part` logs its record even when it holds no write (the transaction counted it
    /// before knowing whether the command would write here: a coordinated command in an EXEC).
    pub log_empty: bool,
}

impl TxnStep {
    fn tag(&self) -> TxnTag {
        TxnTag {
            origin: self.id.origin,
            seq: self.id.seq,
            parts: self.parts,
        }
    }
}

/// Messages between shards.
pub enum ShardMsg {
    /// Run these commands in order and reply with their replies.
    Exec {
        reqs: Vec<Request>,
        txn: Option<TxnStep>,
        reply: oneshot::Sender<Vec<Reply>>,
    },
    /// Lock these (db, key)s for a transaction, replying once they are held.
    Lock {
        txn: TxnId,
        keys: Vec<(usize, Bytes)>,
        reply: oneshot::Sender<()>,
    },
    /// Release a transaction's locks (when it ends without a final `Exec`).
    Release { txn: TxnId },
    /// Run this on the receiving shard's executor (adopting a connection handed over to it).
    Run(ShardTask),
}

/// Work sent to run on another shard.
pub type ShardTask = Box<dyn FnOnce(Rc<Shard>) + Send>;

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Shard {
    // Each part of a shard comes from a different place at start (recovery, mesh, Rc::new_cyclic).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: usize,
        node: Arc<Node>,
        config: Config,
        keyspace: Keyspace,
        journal: Option<Journal>,
        snapshots: Snapshots,
        peers: Senders<ShardMsg>,
        me: Weak<Shard>,
    ) -> Shard {
        let mut keyspace = keyspace;
        keyspace.set_track_changes(journal.is_some());
        let pubsub = PubSub::new(node.slots.shards());
        Shard {
            id,
            keyspace: RefCell::new(keyspace),
            journal,
            unsynced: RefCell::default(),
            changes: RefCell::default(),
            config: RefCell::new(config),
            node,
            locks: LockTable::default(),
            watches: RefCell::new(watch::WatchTable::default()),
            clients: RefCell::new(ClientRegistry::new(id)),
            stats: RefCell::new(Stats::default()),
            latency: RefCell::new(latency::Latency::default()),
            stopwatch: latency::Stopwatch::new(),
            active_expire: Cell::new(true),
            freeing_garbage: Cell::new(false),
            pubsub,
            blocking: blocking::Blocking::default(),
            snapshots,
            me,
            peers,
        }
    }

    /// This shard as an `Rc`, for the tasks it starts.
    pub fn rc(&self) -> Rc<Shard> {
        self.me.upgrade().expect("a running shard is in an Rc")
    }

    pub fn shard_count(&self) -> usize {
        self.node.slots.shards()
    }

    /// The shard that owns `key`.
    pub fn owner_of(&self, key: &[u8]) -> usize {
        self.node.slots.owner(crate::router::slot::key_slot(key))
    }

    /// Runs one command here now and logs what it changed. Returns its reply and the LSN the
    /// reply must wait for before it is released (0: none). The caller has checked that its keys
    /// are not locked by another transaction.
    pub fn run_now(
        &self,
        spec: &'static CommandSpec,
        db: usize,
        resp3: bool,
        args: &[Bytes],
        txn: Option<TxnStep>,
    ) -> (Reply, Lsn) {
        self.run_now_for(spec, db, resp3, args, txn, None, now_ms())
    }

    /// `run_now` for a connection of this shard, which the slow log names, at the time `now_ms`
    /// (read once for commands that run back to back, as Redis caches its clock).
    #[allow(clippy::too_many_arguments)]
    pub fn run_now_for(
        &self,
        spec: &'static CommandSpec,
        db: usize,
        resp3: bool,
        args: &[Bytes],
        txn: Option<TxnStep>,
        client: Option<&ClientHandle>,
        now_ms: u64,
    ) -> (Reply, Lsn) {
        let mut keyspace = self.keyspace.borrow_mut();
        let reply = self.execute(&mut keyspace, spec, db, resp3, args, client, now_ms);
        let txn_tag = txn.filter(|_| spec.is_write()).map(|t| t.tag());
        let mut lsn = self.log_changes(&mut keyspace, txn_tag);
        if lsn == 0 && !spec.is_write() {
            lsn = self.read_lsn(spec, db, args);
        }
        drop(keyspace);
        // Clients blocked on keys this command wrote are served right after it, as in Redis.
        self.serve_ready();
        (reply, lsn)
    }

    /// Runs one command against `keyspace` at the time `now_ms` without logging what it changed:
    /// the caller logs (after this one command, or after a whole transaction's part, as one journal
    /// unit).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn execute(
        &self,
        keyspace: &mut Keyspace,
        spec: &'static CommandSpec,
        db: usize,
        resp3: bool,
        args: &[Bytes],
        client: Option<&ClientHandle>,
        now_ms: u64,
    ) -> Reply {
        let exec = spec
            .shard_fn()
            .expect("only shard commands are run on a shard");
        if spec.is_write() {
            if let Err(misconf) = self.check_writable() {
                return misconf;
            }
            self.snapshot_before_write(keyspace, spec, args);
        }
        let mut ctx = Ctx {
            shard: self,
            keyspace,
            db,
            resp3,
            now_ms,
        };
        let started = self
            .config
            .borrow()
            .times_commands()
            .then(|| self.stopwatch.start());
        let events = CommandEvents::begin(&mut ctx, spec, args);
        let reply = exec(&mut ctx, args);
        if spec.is_write() {
            self.snapshot_after_write(ctx.keyspace);
        }
        if let Some(events) = events {
            events.end(&mut ctx, args);
        }
        crate::pubsub::notify::publish_expired(self, ctx.keyspace);
        if spec.is_write() && self.blocking.has_waiters() {
            let keys = spec.key_indexes(args);
            self.blocking
                .note_write(db, keys.into_iter().map(|i| &args[i]));
        }
        if let Some(started) = started {
            self.observe_command(spec, args, self.stopwatch.elapsed(started), client);
        }
        self.stats.borrow_mut().count_command(spec);
        reply
    }

    /// The LSN a read's reply must wait for (0: none): no dirty reads.
    pub(crate) fn read_lsn(&self, spec: &'static CommandSpec, db: usize, args: &[Bytes]) -> Lsn {
        if !self.may_have_unsynced_writes() {
            return 0;
        }
        let lsn = match spec.run {
            Run::Broadcast { .. } => self.unsynced_lsn(),
            _ => self.read_wait_lsn(db, spec.key_indexes(args).into_iter().map(|i| &args[i])),
        };
        if lsn > 0 {
            self.stats.borrow_mut().reads_waited_for_sync += 1;
        }
        lsn
    }

    /// Whether a command may have to wait for a transaction's locks before it runs
    /// (`wait_runnable`): one load.
    pub(crate) fn may_have_to_wait(&self) -> bool {
        !self.locks.is_empty()
    }

    /// Waits until no transaction but `me` holds one of `keys` (in `db`). Returns whether it
    /// waited.
    pub(crate) async fn wait_runnable(&self, db: usize, keys: &[Bytes], me: Option<TxnId>) -> bool {
        if self.locks.free_for(db, keys, me) {
            return false;
        }
        self.locks.wait_free(db, keys, me).await;
        true
    }

    /// Runs commands here in order, each once its keys are free of other transactions' locks,
    /// and returns their replies once what they show is durable.
    pub async fn exec_batch(&self, reqs: Vec<Request>, txn: Option<TxnStep>) -> Vec<Reply> {
        let me = txn.map(|t| t.id);
        let mut replies = Vec::with_capacity(reqs.len());
        let mut lsns = Vec::with_capacity(reqs.len());
        // One clock read for the commands that run back to back, again after each wait.
        let mut now = now_ms();
        for req in reqs {
            if self.may_have_to_wait() && self.wait_runnable(req.db, &req.keys(), me).await {
                now = now_ms();
            }
            let (reply, lsn) =
                self.run_now_for(req.spec, req.db, req.resp3, &req.args, txn, None, now);
            replies.push(reply);
            lsns.push(lsn);
        }
        self.settle(&mut replies, &lsns).await;
        if let Some(TxnStep {
            id, release: true, ..
        }) = txn
        {
            self.locks.release(id);
        }
        replies
    }

    /// Runs `reqs` on shard `to` (here, if it is this shard) and returns their replies.
    pub async fn exec_on(&self, to: usize, reqs: Vec<Request>, txn: Option<TxnStep>) -> Vec<Reply> {
        if to == self.id {
            return self.exec_batch(reqs, txn).await;
        }
        let (reply, rx) = oneshot::channel();
        self.peers
            .send(to, ShardMsg::Exec { reqs, txn, reply })
            .await;
        rx.await.unwrap_or_default()
    }

    /// Locks keys on shard `to` for `txn`, returning once they are held.
    pub async fn lock_on(&self, to: usize, txn: TxnId, keys: Vec<(usize, Bytes)>) {
        if to == self.id {
            return self.locks.acquire(txn, keys).await;
        }
        let (reply, rx) = oneshot::channel();
        self.peers
            .send(to, ShardMsg::Lock { txn, keys, reply })
            .await;
        let _ = rx.await;
    }

    /// Runs `task` on shard `to`'s executor (never this shard).
    pub async fn run_on(&self, to: usize, task: ShardTask) {
        assert_ne!(to, self.id, "a task for this shard runs here directly");
        self.peers.send(to, ShardMsg::Run(task)).await;
    }

    pub async fn release_on(&self, to: usize, txn: TxnId) {
        if to == self.id {
            self.locks.release(txn);
        } else {
            self.peers.send(to, ShardMsg::Release { txn }).await;
        }
    }

    /// Runs one copy of `spec` with `args` on every shard, replies in shard order.
    pub async fn broadcast(
        &self,
        spec: &'static CommandSpec,
        db: usize,
        resp3: bool,
        args: &[Bytes],
    ) -> Vec<Reply> {
        let calls = (0..self.shard_count()).map(|to| {
            let req = Request {
                spec,
                db,
                resp3,
                args: args.to_vec(),
            };
            self.exec_on(to, vec![req], None)
        });
        futures::future::join_all(calls)
            .await
            .into_iter()
            .map(|mut r| r.pop().unwrap_or(Reply::error("ERR shard did not answer")))
            .collect()
    }
}
