//! Keel: a Redis-compatible, durable, thread-per-core in-memory database.
//!
//! A request travels top to bottom through the modules: `server` (sockets, connections) →
//! `protocol` (RESP) → `router` (which shard owns the keys) → `shard` (the owner's executor) →
//! `commands` (what the command does) → `keyspace` (the data).

/// mimalloc (version 2: see Cargo.toml) for all but big blocks (`RemapWhenBig`): every command
/// allocates a few small buffers (arguments, keys, values, journal records); glibc's malloc spent
/// a quarter of the server's time in them under durable writes.
// Not under Miri, which cannot run mimalloc's C code (`keyspace/slot_table.rs` is checked there).
#[cfg_attr(not(miri), global_allocator)]
static ALLOCATOR: runtime::memory::RemapWhenBig = runtime::memory::RemapWhenBig;

mod commands;
mod config;
mod journal;
mod keyspace;
mod protocol;
mod pubsub;
mod router;
mod runtime;
mod server;
mod shard;
mod snapshot;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("-v" | "--version") => {
            println!(
                "Keel v={} (Redis {} compatible)",
                server::VERSION,
                server::REDIS_VERSION
            );
            return;
        }
        Some("-h" | "--help") => {
            println!("Usage: keel [/path/to/keel.conf] [--directive value ...]");
            println!("       keel check-journal DIR [--repair]");
            println!("       keel --version");
            return;
        }
        Some("check-journal") => std::process::exit(check_journal(&args[1..])),
        _ => {}
    }
    let config = match config::Config::from_args(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("*** FATAL CONFIG ERROR *** {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = server::logging::init(config.loglevel, &config.logfile) {
        eprintln!("*** FATAL CONFIG ERROR *** {e}");
        std::process::exit(1);
    }
    abort_on_panic();
    let config_file = args.first().filter(|a| !a.starts_with("--")).cloned();
    std::process::exit(server::run(config, config_file));
}

/// A panic in any thread ends the whole process, as an assertion does in Redis: a shard thread
/// that stopped would leave its slots unanswered ("shard did not answer") while the rest of the
/// server ran on. A supervisor's restart recovers every acknowledged write from the journals.
fn abort_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        log::error!(
            "panic in thread {:?}: aborting",
            std::thread::current().name()
        );
        std::process::abort();
    }));
}

/// `keel check-journal DIR [--repair]`: reports each shard journal under DIR (a data directory or
/// one shard's directory); with `--repair`, truncates at the first bad record.
fn check_journal(args: &[String]) -> i32 {
    let (dirs, flags): (Vec<&String>, Vec<&String>) =
        args.iter().partition(|a| !a.starts_with("--"));
    let repair = flags.iter().any(|f| *f == "--repair");
    let (Some(dir), 1, true) = (
        dirs.first(),
        dirs.len(),
        flags.iter().all(|f| *f == "--repair"),
    ) else {
        eprintln!("Usage: keel check-journal DIR [--repair]");
        return 2;
    };
    match journal::check_journal(std::path::Path::new(dir), repair) {
        Ok(report) => {
            print!("{report}");
            if report.is_clean() {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("check-journal: {e}");
            2
        }
    }
}
