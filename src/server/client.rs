//! Client connections' state, and each shard's registry of its clients (CLIENT LIST/KILL, idle
//! timeouts).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Instant;

use super::outbox::Outbox;
use super::reply_mode::ReplyMode;
use crate::pubsub::{Kind, Subscriptions};
use crate::runtime::net::shutdown_fd;
use crate::shard::Shard;

/// What `CLIENT LIST`/`INFO` show of a client; updated by the connection as it goes.
#[derive(Clone)]
pub struct ClientInfo {
    pub name: String,
    pub lib_name: String,
    pub lib_ver: String,
    pub db: usize,
    pub resp: u8,
    pub last_command: &'static str,
    pub last_active: Instant,
    pub no_evict: bool,
    pub no_touch: bool,
    /// Commands queued since MULTI; -1 outside MULTI (`multi=`).
    pub multi: i64,
    /// Keys WATCHed (`watch=`).
    pub watch: usize,
    /// CLIENT REPLY's mode: which replies are written.
    pub reply_mode: ReplyMode,
}

/// A client as its shard's registry knows it.
pub struct ClientHandle {
    pub id: u64,
    pub fd: RawFd,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub info: RefCell<ClientInfo>,
    killed: Cell<bool>,
    /// Pushed frames (pub/sub messages) waiting to be written.
    pub outbox: Outbox,
    pub subscriptions: RefCell<Subscriptions>,
}

impl ClientHandle {
    /// Closes the connection from outside its task: its next read ends.
    pub fn kill(&self) {
        self.killed.set(true);
        self.outbox.close();
        shutdown_fd(self.fd);
    }

    pub fn is_killed(&self) -> bool {
        self.killed.get()
    }

    /// Whether the client counts as a pub/sub client (`CLIENT LIST/KILL TYPE pubsub`): it is
    /// subscribed to something, as Redis's `CLIENT_PUBSUB` flag.
    pub fn is_pubsub(&self) -> bool {
        self.subscriptions.borrow().any()
    }

    /// One `CLIENT LIST`/`CLIENT INFO` line, with Redis's fields; `blocked`: the client waits in
    /// a blocking command (flag `b`).
    pub fn describe(&self, blocked: bool) -> String {
        let info = self.info.borrow();
        let subs = self.subscriptions.borrow();
        let cmd = if info.last_command.is_empty() {
            "NULL"
        } else {
            info.last_command
        };
        // Redis's flag letters, in its order.
        let mut flags = String::new();
        if subs.any() {
            flags.push('P');
        }
        if info.multi >= 0 {
            flags.push('x');
        }
        if blocked {
            flags.push('b');
        }
        if info.no_evict {
            flags.push('e');
        }
        if info.no_touch {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} watch={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            info.name,
            self.created.elapsed().as_secs(),
            info.last_active.elapsed().as_secs(),
            flags,
            info.db,
            subs.len(Kind::Channel),
            subs.len(Kind::Pattern),
            subs.len(Kind::Shard),
            info.multi,
            info.watch,
            self.outbox.pending_bytes(),
            cmd,
            info.resp,
            info.lib_name,
            info.lib_ver
        )
    }
}

/// The clients connected to one shard.
pub struct ClientRegistry {
    shard: usize,
    next_seq: u64,
    clients: BTreeMap<u64, Rc<ClientHandle>>,
}

/// Client ids are `seq * ID_STRIDE + shard + 1`: unique across shards with no shared counter.
const ID_STRIDE: u64 = crate::config::SHARDS_MAX as u64;

impl ClientRegistry {
    pub fn new(shard: usize) -> ClientRegistry {
        ClientRegistry {
            shard,
            next_seq: 0,
            clients: BTreeMap::new(),
        }
    }

    pub fn register(
        &mut self,
        fd: RawFd,
        addr: Option<SocketAddr>,
        laddr: Option<SocketAddr>,
    ) -> Rc<ClientHandle> {
        let id = self.next_seq * ID_STRIDE + self.shard as u64 + 1;
        self.next_seq += 1;
        let show = |a: Option<SocketAddr>| a.map_or_else(|| "?".to_string(), |a| a.to_string());
        let handle = Rc::new(ClientHandle {
            id,
            fd,
            addr: show(addr),
            laddr: show(laddr),
            created: Instant::now(),
            info: RefCell::new(ClientInfo {
                name: String::new(),
                lib_name: String::new(),
                lib_ver: String::new(),
                db: 0,
                resp: 2,
                last_command: "",
                last_active: Instant::now(),
                no_evict: false,
                no_touch: false,
                multi: -1,
                watch: 0,
                reply_mode: ReplyMode::default(),
            }),
            killed: Cell::new(false),
            outbox: Outbox::default(),
            subscriptions: RefCell::default(),
        });
        self.clients.insert(id, handle.clone());
        handle
    }

    /// Registers a client handed over by another shard, keeping its id, addresses and state.
    pub fn adopt(&mut self, moved: MovedClient) -> Rc<ClientHandle> {
        let handle = Rc::new(ClientHandle {
            id: moved.id,
            fd: moved.fd,
            addr: moved.addr,
            laddr: moved.laddr,
            created: moved.created,
            info: RefCell::new(moved.info),
            killed: Cell::new(false),
            outbox: Outbox::default(),
            subscriptions: RefCell::default(),
        });
        self.clients.insert(moved.id, handle.clone());
        handle
    }

    pub fn unregister(&mut self, id: u64) {
        self.clients.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Rc<ClientHandle>> {
        self.clients.values()
    }

    /// Closes clients idle for more than `timeout_s` seconds (0: never).
    pub fn close_idle(&self, timeout_s: u64) {
        if timeout_s == 0 {
            return;
        }
        for c in self.clients.values() {
            if c.info.borrow().last_active.elapsed().as_secs() > timeout_s {
                c.kill();
            }
        }
    }
}

/// A client on its way to another shard: everything its registry entry holds, with the new
/// descriptor of its socket.
pub struct MovedClient {
    pub fd: RawFd,
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub info: ClientInfo,
}

impl ClientHandle {
    /// The client's state for the shard it is handed over to, with its socket's new descriptor.
    pub fn moving(&self, fd: RawFd) -> MovedClient {
        MovedClient {
            fd,
            id: self.id,
            addr: self.addr.clone(),
            laddr: self.laddr.clone(),
            created: self.created,
            info: self.info.borrow().clone(),
        }
    }
}

/// Where a main-port client's recent commands went: a run of commands that all went to one
/// other shard makes the connection move there (`steer-connections`).
#[derive(Default)]
pub struct Steering {
    target: Option<usize>,
    streak: u32,
}

/// Commands in a row for one other shard after which a connection moves to it.
pub const STEER_AFTER_COMMANDS: u32 = 256;

impl Steering {
    /// A command ran here, or needed several shards: no reason to move.
    pub fn stay(&mut self) {
        self.target = None;
        self.streak = 0;
    }

    pub fn went_to(&mut self, shard: usize) {
        if self.target == Some(shard) {
            self.streak = self.streak.saturating_add(1);
        } else {
            self.target = Some(shard);
            self.streak = 1;
        }
    }

    /// The shard to move to, once the streak is long enough.
    pub fn destination(&self) -> Option<usize> {
        self.target.filter(|_| self.streak >= STEER_AFTER_COMMANDS)
    }
}

/// A connection's own view: its shard, its registry entry, and per-connection flags.
pub struct Client {
    pub shard: Rc<Shard>,
    pub handle: Rc<ClientHandle>,
    /// Connected to a shard's own port in cluster mode: keys of other shards get MOVED.
    pub cluster_port: bool,
    /// Close once the pending replies are written (QUIT).
    pub close_after_reply: bool,
    pub steering: Steering,
    /// MULTI's queue and the WATCHed keys.
    pub transaction: super::transaction::Transaction,
}

impl Client {
    pub fn id(&self) -> u64 {
        self.handle.id
    }

    pub fn db(&self) -> usize {
        self.handle.info.borrow().db
    }

    pub fn resp3(&self) -> bool {
        self.handle.info.borrow().resp == 3
    }

    pub fn info(&self) -> std::cell::RefMut<'_, ClientInfo> {
        self.handle.info.borrow_mut()
    }
}
