//! Starting and stopping the node: listeners, one pinned executor per shard, signals.

pub mod client;
mod connection;
pub mod logging;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use crate::config::Config;
use crate::runtime::{self, executor, mesh, net::BoundSocket, net::Listener};
use crate::shard::{Node, Shard, ShardMsg};

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
        let thread = executor::spawn_pinned(&format!("S{id}"), cpu, move || async move {
            let (main, own) = listeners().unwrap_or_else(|e| panic!("shard {id}: listener: {e}"));
            run_shard(id, node, config, ends, main, own).await
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
    log::warn!("Received {signal}, shutting down. Keel is now ready to exit, bye bye...");
    Ok(())
}

async fn run_shard(
    id: usize,
    node: Arc<Node>,
    config: Config,
    ends: mesh::MeshEnds<ShardMsg>,
    main_listeners: Vec<Listener>,
    own_listeners: Vec<Listener>,
) {
    let (senders, receivers) = ends.connect().await;
    let shard = Rc::new(Shard::new(id, node, config, senders));
    for rx in receivers {
        runtime::spawn_local(shard.clone().serve_peer(rx)).detach();
    }
    runtime::spawn_local(shard.clone().cron()).detach();
    let accepts = main_listeners
        .into_iter()
        .map(|l| (l, false))
        .chain(own_listeners.into_iter().map(|l| (l, true)))
        .map(|(listener, cluster_port)| accept_loop(shard.clone(), listener, cluster_port));
    futures::future::join_all(accepts).await;
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
            BoundSocket::bind(addr)
                .map_err(|e| format!("Could not create server TCP listening socket {addr}: {e}"))
        })
        .collect()
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
