//! Blocked clients: commands that wait for a key to get data (BLPOP, BLMOVE, BZPOPMIN, XREAD
//! BLOCK, ...), and the shards that serve them.
//!
//! A blocked client holds one [`Ticket`]. It registers a waiter with that ticket on each of its
//! keys' shards (FIFO per (db, key)), then waits for an [`Outcome`]. Whoever first *takes* the
//! ticket decides the outcome, exactly once: a key's shard serving it, the client's own deadline
//! or disconnection, or `CLIENT UNBLOCK`. So a client blocked on keys of several shards is served
//! by the first key that gets data, and never twice.
//!
//! A key's shard serves its waiters in arrival order after every write command that named the key
//! (and when a waiter registers, which closes the race with a push that came just before it): for
//! each waiter it runs the waiter's private *serve step* (the non-blocking form of the command,
//! on this key only) through the ordinary write path, so the pop is journaled like any write, and
//! the reply is sent to the client once it is durable. The serve step calls [`Blocking::claim`]
//! once it knows it has something to give and before changing anything; a step that finds nothing
//! (or loses the claim) changes nothing, and the waiter keeps waiting.
//!
//! ## How a type plugs in
//! 1. Write the serve step: a private `CommandSpec` (`WRITE`, keyed) whose function checks the
//!    key has something for the client, then `if !ctx.shard.blocking.claim() { return <nothing> }`,
//!    then does the write and returns the client's reply.
//! 2. In the blocking command (a `Run::Client`): try the non-blocking form; if it finds nothing,
//!    `client.shard.block(&client.handle, Wait { keys: [(key, OnReady::Serve { spec, args })],
//!    .. })` and turn the [`Outcome`] into the reply. Work that a key's shard cannot do alone (a
//!    move to a key of another shard) uses `OnReady::Wake`: the client is woken, retries itself,
//!    then calls `signal_ready` on the key so that the next waiter gets its turn.
//! 3. Nothing to do for readiness: any write command naming a key with waiters makes the shard try
//!    them.
//!
//! Limits: one waiter per (client, key); blocked clients are bounded by `maxclients`.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::oneshot;
use futures::future::{select, Either};

use super::Shard;
use crate::commands::CommandSpec;
use crate::protocol::Reply;
use crate::runtime;
use crate::runtime::net::peer_closed;
use crate::server::client::ClientHandle;

/// How often a blocked client checks that its connection is still open and not killed. A client
/// that disconnected may still be served within this window if the peek of the serving shard
/// misses it (the element then goes to a closed socket, as it can in Redis).
const LIVENESS_CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// What a key's shard does for a waiter when the key may have data.
#[derive(Clone)]
pub enum OnReady {
    /// Run this private step (with these arguments) on the key's shard; it claims the client
    /// and returns the client's reply.
    Serve {
        spec: &'static CommandSpec,
        args: Vec<Bytes>,
    },
    /// As `Serve`, and also when the key is gone: the step answers what a deleted key gets
    /// (XREADGROUP's `UNBLOCKED the stream key no longer exists`).
    ServeGone {
        spec: &'static CommandSpec,
        args: Vec<Bytes>,
    },
    /// Only wake the client (it retries by itself).
    Wake,
}

/// How a blocked client's wait ended.
#[derive(Debug)]
pub enum Outcome {
    /// A key's shard served it: the reply, durable.
    Served(Reply),
    /// This key may have data for an `OnReady::Wake` waiter.
    Woken(Bytes),
    TimedOut,
    /// `CLIENT UNBLOCK` (with ERROR, or TIMEOUT).
    Unblocked {
        error: bool,
    },
    /// The connection closed or was killed.
    Closed,
}

/// What a blocked client waits for.
pub struct Wait {
    pub db: usize,
    pub resp3: bool,
    /// Each key, with what its shard runs to serve the client.
    pub keys: Vec<(Bytes, OnReady)>,
    /// `None`: forever.
    pub deadline: Option<Instant>,
}

/// One blocked wait, shared by the client's shard and its keys' shards (across threads: the
/// only state blocked clients share is this one flag and the reply channel behind it).
///
/// Why shared state and not a message: deciding who serves a client blocked on keys of several
/// shards by asking its shard first would cost every serve a cross-shard round trip (16–50 µs)
/// while the key stays locked. The flag is touched only by blocking commands, never by the plain
/// data path, and the mutex only by the flag's one winner, so it is never contended.
pub struct Ticket {
    taken: AtomicBool,
    outcome: Mutex<Option<oneshot::Sender<Outcome>>>,
    /// The client's socket, for the serving shard's liveness peek.
    fd: RawFd,
}

impl Ticket {
    fn new(fd: RawFd) -> (Arc<Ticket>, oneshot::Receiver<Outcome>) {
        let (tx, rx) = oneshot::channel();
        let ticket = Ticket {
            taken: AtomicBool::new(false),
            outcome: Mutex::new(Some(tx)),
            fd,
        };
        (Arc::new(ticket), rx)
    }

    /// True for the one caller that takes the ticket; false for everybody after it.
    fn take(&self) -> bool {
        !self.taken.swap(true, Ordering::AcqRel)
    }

    fn is_taken(&self) -> bool {
        self.taken.load(Ordering::Acquire)
    }

    /// Delivers the outcome (by the ticket's taker).
    fn send(&self, outcome: Outcome) {
        let sender = self.outcome.lock().map(|mut s| s.take()).unwrap_or(None);
        if let Some(sender) = sender {
            let _ = sender.send(outcome);
        }
    }

    fn same(a: &Arc<Ticket>, b: &Arc<Ticket>) -> bool {
        Arc::ptr_eq(a, b)
    }
}

struct Waiter {
    ticket: Arc<Ticket>,
    on_ready: OnReady,
    resp3: bool,
}

/// A shard's blocking state: waiters on its keys, and its own blocked clients.
#[derive(Default)]
pub struct Blocking {
    /// (db, key) → waiters in arrival order.
    waiters: RefCell<HashMap<(usize, Bytes), VecDeque<Waiter>>>,
    /// Keys with waiters that may have data, to try in order.
    ready: RefCell<VecDeque<(usize, Bytes)>>,
    /// A serve pass is running (serve steps that write keys with waiters queue them instead of
    /// recursing).
    in_pass: Cell<bool>,
    /// The ticket the serve step running now may claim, and whether it did.
    serving: RefCell<Option<Arc<Ticket>>>,
    claimed: Cell<bool>,
    /// This shard's blocked clients by id (CLIENT UNBLOCK, CLIENT KILL, INFO).
    blocked: RefCell<HashMap<u64, Arc<Ticket>>>,
}

impl Blocking {
    /// Called by a serve step once it knows it can serve, before it changes anything: true when
    /// it may go on (the client is now its to serve). Outside a serve it is always true.
    pub fn claim(&self) -> bool {
        match &*self.serving.borrow() {
            None => true,
            Some(ticket) => {
                let won = ticket.take();
                self.claimed.set(won);
                won
            }
        }
    }

    /// Clients of this shard blocked now.
    pub fn blocked_clients(&self) -> usize {
        self.blocked.borrow().len()
    }

    /// Whether client `id` (of this shard) is blocked now.
    pub fn is_blocked(&self, id: u64) -> bool {
        self.blocked.borrow().contains_key(&id)
    }

    /// Keys of this shard with at least one waiter.
    pub fn blocking_keys(&self) -> usize {
        self.waiters.borrow().len()
    }

    /// Ends client `id`'s wait as `CLIENT UNBLOCK` does; false when it was not blocked here.
    pub fn unblock(&self, id: u64, error: bool) -> bool {
        self.end_wait(id, Outcome::Unblocked { error })
    }

    /// Ends client `id`'s wait because it is being killed.
    pub fn cancel(&self, id: u64) -> bool {
        self.end_wait(id, Outcome::Closed)
    }

    fn end_wait(&self, id: u64, outcome: Outcome) -> bool {
        let ticket = self.blocked.borrow().get(&id).cloned();
        match ticket {
            Some(ticket) if ticket.take() => {
                ticket.send(outcome);
                true
            }
            _ => false,
        }
    }

    /// Notes that a write command named these keys: those with waiters are tried after it.
    pub fn note_write<'a>(&self, db: usize, keys: impl Iterator<Item = &'a Bytes>) {
        let waiters = self.waiters.borrow();
        if waiters.is_empty() {
            return;
        }
        let mut ready = self.ready.borrow_mut();
        for key in keys {
            let entry = (db, key.clone());
            if waiters.contains_key(&entry) && !ready.contains(&entry) {
                ready.push_back(entry);
            }
        }
    }

    /// Whether any client waits on a key of this shard (the common case is none: one check).
    pub fn has_waiters(&self) -> bool {
        !self.waiters.borrow().is_empty()
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.borrow().is_empty()
    }

    fn add(&self, db: usize, key: Bytes, waiter: Waiter) {
        let entry = (db, key);
        self.waiters
            .borrow_mut()
            .entry(entry.clone())
            .or_default()
            .push_back(waiter);
        let mut ready = self.ready.borrow_mut();
        if !ready.contains(&entry) {
            ready.push_back(entry);
        }
    }

    fn remove(&self, db: usize, key: &Bytes, ticket: &Arc<Ticket>) {
        let mut waiters = self.waiters.borrow_mut();
        let entry = (db, key.clone());
        if let Some(queue) = waiters.get_mut(&entry) {
            queue.retain(|w| !Ticket::same(&w.ticket, ticket));
            if queue.is_empty() {
                waiters.remove(&entry);
            }
        }
    }

    /// The first waiter on (db, key) whose ticket is still open, dropping taken ones before it.
    fn first_open(
        &self,
        db: usize,
        key: &Bytes,
        skip: usize,
    ) -> Option<(Arc<Ticket>, OnReady, bool)> {
        let mut waiters = self.waiters.borrow_mut();
        let entry = (db, key.clone());
        let queue = waiters.get_mut(&entry)?;
        queue.retain(|w| !w.ticket.is_taken());
        if queue.is_empty() {
            waiters.remove(&entry);
            return None;
        }
        queue
            .get(skip)
            .map(|w| (w.ticket.clone(), w.on_ready.clone(), w.resp3))
    }
}

impl Shard {
    /// Blocks the client of `handle` (a connection of this shard) until one of `wait`'s keys
    /// serves it, its deadline passes, it is unblocked, or its connection closes.
    pub async fn block(&self, handle: &ClientHandle, wait: Wait) -> Outcome {
        let (ticket, mut outcome) = Ticket::new(handle.fd);
        self.blocking
            .blocked
            .borrow_mut()
            .insert(handle.id, ticket.clone());
        for (key, on_ready) in &wait.keys {
            let waiter = Waiter {
                ticket: ticket.clone(),
                on_ready: on_ready.clone(),
                resp3: wait.resp3,
            };
            let (db, key) = (wait.db, key.clone());
            self.on_owner(&key.clone(), move |shard| {
                shard.blocking.add(db, key, waiter);
                shard.serve_ready();
            })
            .await;
        }
        let result = loop {
            let pause = match wait.deadline {
                Some(at) => at
                    .saturating_duration_since(Instant::now())
                    .min(LIVENESS_CHECK_INTERVAL),
                None => LIVENESS_CHECK_INTERVAL,
            };
            let sleep = std::pin::pin!(runtime::sleep(pause));
            if let Either::Left((result, _)) = select(&mut outcome, sleep).await {
                break result.unwrap_or(Outcome::Closed);
            }
            let gone = handle.is_killed() || peer_closed(handle.fd);
            let expired = wait.deadline.is_some_and(|at| Instant::now() >= at);
            if gone || expired {
                if ticket.take() {
                    break if gone {
                        Outcome::Closed
                    } else {
                        Outcome::TimedOut
                    };
                }
                // Somebody took the ticket first: its outcome is on the way.
                break (&mut outcome).await.unwrap_or(Outcome::Closed);
            }
        };
        self.blocking.blocked.borrow_mut().remove(&handle.id);
        for (key, _) in &wait.keys {
            let (db, key, ticket) = (wait.db, key.clone(), ticket.clone());
            self.on_owner(&key.clone(), move |shard| {
                shard.blocking.remove(db, &key, &ticket)
            })
            .await;
        }
        result
    }

    /// Makes the shard owning `key` try its waiters on it (after an `OnReady::Wake` client is done
    /// with the key, so that the next waiter gets its turn).
    pub async fn signal_ready(&self, db: usize, key: Bytes) {
        self.on_owner(&key.clone(), move |shard| {
            shard.blocking.note_write(db, std::iter::once(&key));
            shard.serve_ready();
        })
        .await;
    }

    /// Runs `task` on the shard owning `key`: here at once, or by message.
    async fn on_owner(&self, key: &[u8], task: impl FnOnce(&Shard) + Send + 'static) {
        let owner = self.owner_of(key);
        if owner == self.id {
            task(self);
        } else {
            self.run_on(owner, Box::new(move |shard: Rc<Shard>| task(&shard)))
                .await;
        }
    }

    /// Serves the waiters of every key noted ready, until none is left. Runs after each command
    /// (never inside one: the keyspace is not borrowed here).
    pub fn serve_ready(&self) {
        if !self.blocking.has_ready() || self.blocking.in_pass.replace(true) {
            return;
        }
        loop {
            let next = self.blocking.ready.borrow_mut().pop_front();
            let Some((db, key)) = next else { break };
            self.serve_key(db, key);
        }
        self.blocking.in_pass.set(false);
    }

    /// Offers `key` to its waiters in arrival order, while it has data for them.
    fn serve_key(&self, db: usize, key: Bytes) {
        let mut skip = 0;
        while let Some((ticket, on_ready, resp3)) = self.blocking.first_open(db, &key, skip) {
            let gone_too = matches!(on_ready, OnReady::ServeGone { .. });
            if !gone_too && !self.keyspace.borrow_mut().dbs[db].contains(&key, super::now_ms()) {
                // Later waiters may serve a gone key: look on.
                skip += 1;
                continue;
            }
            if peer_closed(ticket.fd) {
                // Its client is leaving; it cancels its ticket at its next check.
                skip += 1;
                continue;
            }
            match on_ready {
                OnReady::Wake => {
                    if ticket.take() {
                        self.blocking.remove(db, &key, &ticket);
                        ticket.send(Outcome::Woken(key.clone()));
                        // The woken client works on the key now, and signals it when done.
                        return;
                    }
                }
                OnReady::Serve { spec, args } | OnReady::ServeGone { spec, args } => {
                    let request_keys: Vec<Bytes> = spec
                        .key_indexes(&args)
                        .into_iter()
                        .map(|i| args[i].clone())
                        .collect();
                    if !self.locks.free_for(db, &request_keys, None) {
                        self.serve_after_locks(db, key, request_keys);
                        return;
                    }
                    if self.serve_one((db, &key), spec, &args, resp3, &ticket) {
                        self.blocking.remove(db, &key, &ticket);
                    } else {
                        skip += 1;
                    }
                }
            }
        }
    }

    /// Runs one waiter's serve step; true when it claimed (and so served) the waiter. The reply
    /// goes to the client once the pop is durable.
    fn serve_one(
        &self,
        (db, key): (usize, &Bytes),
        spec: &'static CommandSpec,
        args: &[Bytes],
        resp3: bool,
        ticket: &Arc<Ticket>,
    ) -> bool {
        let entry = (db, key.clone());
        let was_ready = self.blocking.ready.borrow().contains(&entry);
        *self.blocking.serving.borrow_mut() = Some(ticket.clone());
        self.blocking.claimed.set(false);
        let (reply, lsn) = self.run_now(spec, db, resp3, args, None);
        *self.blocking.serving.borrow_mut() = None;
        if !self.blocking.claimed.get() {
            // A step that served nothing changed nothing: that its write command named the key
            // is no news (else a waiter with nothing to take, as XREADGROUP on a stream without
            // new entries, would be retried forever).
            if !was_ready {
                self.blocking.ready.borrow_mut().retain(|e| *e != entry);
            }
            return false;
        }
        let Some(me) = self.me.upgrade() else {
            return true;
        };
        if lsn == 0 {
            ticket.send(Outcome::Served(reply));
            return true;
        }
        let ticket = ticket.clone();
        runtime::spawn_local(async move {
            let reply = match me.wait_durable(lsn).await {
                Ok(()) => reply,
                Err(misconf) => misconf,
            };
            ticket.send(Outcome::Served(reply));
        })
        .detach();
        true
    }

    /// A key locked by a cross-shard transaction is served once the transaction releases it.
    fn serve_after_locks(&self, db: usize, key: Bytes, locked: Vec<Bytes>) {
        let Some(me) = self.me.upgrade() else { return };
        runtime::spawn_local(async move {
            me.locks.wait_free(db, &locked, None).await;
            me.blocking.note_write(db, std::iter::once(&key));
            me.serve_ready();
        })
        .detach();
    }
}
