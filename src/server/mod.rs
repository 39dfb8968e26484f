//! Starting and stopping the node: listeners, one pinned executor per shard, signals.

pub mod client;
mod connection;
pub mod logging;
pub mod outbox;
mod recovery;
pub use recovery::shard_dir;
pub mod reply_mode;
pub mod transaction;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::config::{AppendFsync, Config};
use crate::journal::{effect, FsyncMode, Journal, JournalConfig, JournalError, Recovery};
use crate::keyspace::Keyspace;
use crate::runtime::{self, executor, mesh, net::BoundSocket, net::Listener};
use crate::shard::{Node, Shard, ShardMsg};
use crate::snapshot::Snapshots;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis version Keel answers as (`INFO server`, `HELLO`), so clients enable Redis 7 features.
pub const REDIS_VERSION: &str = "7.2.4";

/// Runs the node until SIGTERM/SIGINT or `SHUTDOWN`; returns the process exit code.
pub fn run(config: Config, config_file: Option<String>) -> i32 {
    match start(config, config_file) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("{e}");
            1
        }
    }
}

fn start(config: Config, config_file: Option<String>) -> Result<(), String> {
    check_limits(&config)?;
    std::fs::create_dir_all(&config.dir).map_err(|e| {
        format!(
            "cannot create data directory '{}': {e}",
            config.dir.display()
        )
    })?;
    let main_sockets = bind_all(&config, config.port)?;
    let shard_sockets: Vec<Vec<BoundSocket>> = if config.cluster_enabled {
        (0..config.shards)
            .map(|i| bind_all(&config, config.shard_port(i)))
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    let main_sockets = Arc::new(main_sockets);
    let shard_sockets = Arc::new(shard_sockets);
    let cpus = executor::available_cpus();
    let node = Arc::new(Node::new(config.shards, cpus, config_file));
    let recovery::Recovered {
        keyspaces,
        journals,
        snapshot_seeds,
        epoch,
        mut old_layout,
    } = recovery::recover(&config, &node.slots)?;
    let mut restored = keyspaces.into_iter().zip(journals).zip(snapshot_seeds);

    log::info!(
        "Keel {VERSION} (Redis {REDIS_VERSION} compatible), pid {}, {} shards, data in {}",
        std::process::id(),
        config.shards,
        config.dir.display()
    );
    // Signals are taken by the main thread only: block them before any shard thread exists, so
    // that every thread inherits the mask.
    let signals = block_shutdown_signals();
    let mut threads = Vec::new();
    let (closed_tx, closed_rx) = mpsc::channel();
    for (id, ends) in mesh::build::<ShardMsg>(config.shards)
        .into_iter()
        .enumerate()
    {
        let cpu = node.cpu_of(id);
        let (node, config) = (node.clone(), config.clone());
        let (main_sockets, shard_sockets) = (main_sockets.clone(), shard_sockets.clone());
        let listeners = move || -> std::io::Result<(Vec<Listener>, Vec<Listener>)> {
            let main = main_sockets
                .iter()
                .map(BoundSocket::listener)
                .collect::<Result<_, _>>()?;
            let own = match shard_sockets.get(id) {
                Some(sockets) => sockets
                    .iter()
                    .map(BoundSocket::listener)
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            };
            Ok((main, own))
        };
        let port = config.cluster_enabled.then(|| config.shard_port(id));
        let ((keyspace, journal), snapshot_seed) = restored.next().expect("one keyspace per shard");
        let data = ShardData {
            keyspace,
            journal,
            snapshot_seed,
            epoch,
            // Shard 0 coordinates the cleanup after a layout change.
            old_layout: old_layout.take(),
            closed: closed_tx.clone(),
        };
        let thread = executor::spawn_pinned(&format!("S{id}"), cpu, move || async move {
            let (main, own) = listeners().unwrap_or_else(|e| panic!("shard {id}: listener: {e}"));
            run_shard(id, node, config, data, ends, main, own).await
        })
        .map_err(|e| format!("cannot start shard {id}: {e}"))?;
        match port {
            Some(port) => log::info!("shard {id} on CPU {cpu}, cluster port {port}"),
            None => log::info!("shard {id} on CPU {cpu}"),
        }
        threads.push(thread);
    }
    for s in main_sockets.iter() {
        log::info!("Ready to accept connections tcp on {}", s.addr);
    }
    let signal = wait_for_signal(&signals);
    log::warn!("Received {signal}, shutting down: flushing every shard's journal");
    SHUTTING_DOWN.store(true, Ordering::Relaxed);
    let deadline = std::time::Instant::now() + SHUTDOWN_FLUSH_TIMEOUT;
    for _ in 0..config.shards {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if closed_rx.recv_timeout(left).is_err() {
            log::warn!("a shard did not close its journal in time");
            break;
        }
    }
    log::warn!("Keel is now ready to exit, bye bye...");
    Ok(())
}

/// Set once by the main thread when the node must stop; shards poll it (off the data path).
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);
/// How long shutdown waits for the shards to flush and close their journals.
const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a shard checks whether the node is shutting down.
const SHUTDOWN_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Waits for shutdown, then writes and syncs what the shard's journal holds, closes it and says so.
async fn close_at_shutdown(shard: Rc<Shard>, closed: mpsc::Sender<usize>) {
    while !SHUTTING_DOWN.load(Ordering::Relaxed) {
        runtime::sleep(SHUTDOWN_POLL_INTERVAL).await;
    }
    if let Some(journal) = &shard.journal {
        if let Err(e) = journal.close().await {
            log::warn!("shard {}: closing the journal: {e}", shard.id);
        }
    }
    let _ = closed.send(shard.id);
}

/// What recovery hands to one shard.
struct ShardData {
    keyspace: Keyspace,
    journal: Option<Recovery>,
    snapshot_seed: recovery::SnapshotSeed,
    epoch: u64,
    old_layout: Option<crate::shard::OldLayout>,
    /// Told once the shard closed its journal at shutdown.
    closed: mpsc::Sender<usize>,
}

async fn run_shard(
    id: usize,
    node: Arc<Node>,
    config: Config,
    data: ShardData,
    ends: mesh::MeshEnds<ShardMsg>,
    main_listeners: Vec<Listener>,
    own_listeners: Vec<Listener>,
) {
    let journal = match data.journal {
        Some(recovery) => match open_journal(id, &config, &node, recovery, data.epoch).await {
            Ok(journal) => Some(journal),
            Err(e) => {
                log::error!("shard {id}: cannot open its journal: {e}");
                std::process::exit(1);
            }
        },
        None => None,
    };
    let (senders, receivers) = ends.connect().await;
    let seed = data.snapshot_seed;
    let snapshots = Snapshots::new(data.epoch, seed.may_trim, seed.txns, node.started_unix_s);
    {
        let mut stats = snapshots.stats.borrow_mut();
        stats.keys_loaded = seed.keys_loaded;
        stats.keys_expired_at_load = seed.keys_expired;
    }
    // The shard's lazyfree task gives the big blocks it frees back to the OS, a piece at a time.
    runtime::memory::unmap_later();
    let shard = Rc::new_cyclic(|me| {
        Shard::new(
            id,
            node,
            config,
            data.keyspace,
            journal,
            snapshots,
            senders,
            me.clone(),
        )
    });
    for rx in receivers {
        runtime::spawn_local(shard.clone().serve_peer(rx)).detach();
    }
    runtime::spawn_local(shard.clone().cron()).detach();
    runtime::spawn_local(close_at_shutdown(shard.clone(), data.closed)).detach();
    if let Some(old) = data.old_layout {
        runtime::spawn_local(shard.clone().converge_layout(old)).detach();
    }
    let accepts = main_listeners
        .into_iter()
        .map(|l| (l, false))
        .chain(own_listeners.into_iter().map(|l| (l, true)))
        .map(|(listener, cluster_port)| accept_loop(shard.clone(), listener, cluster_port));
    futures::future::join_all(accepts).await;
}

/// Opens the shard's journal where recovery left it and starts this run's epoch in it.
async fn open_journal(
    id: usize,
    config: &Config,
    node: &Node,
    recovery: Recovery,
    epoch: u64,
) -> Result<Journal, JournalError> {
    let fsync = match config.appendfsync {
        AppendFsync::Always => FsyncMode::Always,
        AppendFsync::EverySec => FsyncMode::EverySec,
        AppendFsync::No => FsyncMode::No,
    };
    let dir = recovery::shard_dir(&config.dir, id);
    let journal_config = JournalConfig {
        segment_bytes: config.journal_segment_bytes,
        ..JournalConfig::new(dir, id as u32, fsync)
    };
    let journal = Journal::open(journal_config, &recovery).await?;
    let lsn = journal.append(
        node.slots.range(id).start,
        0,
        effect::EPOCH,
        &epoch.to_le_bytes(),
    );
    journal.wait_durable(lsn).await?;
    Ok(journal)
}

/// Most clients one shard serves: its share of `maxclients`.
fn shard_clients_max(shard: &Shard) -> usize {
    shard
        .config
        .borrow()
        .maxclients
        .div_ceil(shard.shard_count())
}

async fn accept_loop(shard: Rc<Shard>, listener: Listener, cluster_port: bool) {
    loop {
        let mut stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(e) => {
                log::warn!("accept: {e}");
                runtime::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        shard.stats.borrow_mut().connections_received += 1;
        if shard.clients.borrow().len() >= shard_clients_max(&shard) {
            shard.stats.borrow_mut().rejected_connections += 1;
            runtime::spawn_local(async move {
                let _ = stream
                    .write_all(b"-ERR max number of clients reached\r\n")
                    .await;
            })
            .detach();
            continue;
        }
        runtime::spawn_local(connection::serve(shard.clone(), stream, cluster_port)).detach();
    }
}

fn bind_all(config: &Config, port: u16) -> Result<Vec<BoundSocket>, String> {
    config
        .bind
        .iter()
        .map(|ip| {
            let addr: SocketAddr = format!("{ip}:{port}")
                .parse()
                .or_else(|_| format!("[{ip}]:{port}").parse())
                .map_err(|_| format!("bad bind address '{ip}'"))?;
            bind_retrying(addr)
                .map_err(|e| format!("Could not create server TCP listening socket {addr}: {e}"))
        })
        .collect()
}

/// How long a start retries a port that is in use. A process killed a moment ago (a crash and an
/// immediate restart by a supervisor) can hold its listening socket for a short while after it
/// died, until the kernel has torn down its io_uring.
const BIND_RETRY: Duration = Duration::from_millis(1500);

fn bind_retrying(addr: SocketAddr) -> std::io::Result<BoundSocket> {
    let deadline = std::time::Instant::now() + BIND_RETRY;
    loop {
        match BoundSocket::bind(addr) {
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

/// Warns (or refuses) when the host's limits are too low for this configuration.
fn check_limits(config: &Config) -> Result<(), String> {
    if let Some(warning) = executor::check_memlock(config.shards)? {
        log::warn!("{warning}");
    }
    let mut fds = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut fds) == 0 {
            let want = (config.maxclients + 32 + 8 * config.shards) as libc::rlim_t;
            if fds.rlim_cur < want {
                let raised = libc::rlimit {
                    rlim_cur: want.min(fds.rlim_max),
                    rlim_max: fds.rlim_max,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &raised);
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut fds);
                if fds.rlim_cur < want {
                    log::warn!(
                        "open file limit is {} but maxclients {} needs {want}; raise LimitNOFILE / ulimit -n (see tuning/README.md)",
                        fds.rlim_cur,
                        config.maxclients
                    );
                }
            }
        }
    }
    Ok(())
}

fn block_shutdown_signals() -> libc::sigset_t {
    // SAFETY: plain libc signal-mask calls on a sigset we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for_signal(set: &libc::sigset_t) -> &'static str {
    let mut signal = 0;
    // SAFETY: sigwait only writes the signal number into `signal`.
    unsafe { libc::sigwait(set, &mut signal) };
    if signal == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}

/// Asks the node to shut down as a SIGTERM would (the `SHUTDOWN` command).
pub fn request_shutdown() {
    // SAFETY: sending a signal to our own process.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGTERM);
    }
}
