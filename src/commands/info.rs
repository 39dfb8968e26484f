//! INFO: the node's state in Redis's sections and field names. Counters live on each shard, so
//! INFO asks every shard for its report (private spec `info|shard`) and adds them up, whatever port
//! the client is on: INFO always describes the whole node.

use std::fmt::Write;

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::spec::*;
use super::{is_public, CommandSpec, Run};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::server::{REDIS_VERSION, VERSION};
use crate::shard::{Ctx, Shard};

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "info",
    arity: -1,
    flags: LOADING | STALE,
    acl: &["@slow", "@dangerous"],
    group: "server",
    summary: "Returns information and statistics about the server.",
    complexity: "O(1)",
    run: Run::Client(info),
    ..BASE
}];

/// Private: this shard's `ShardReport`.
static INFO_SHARD: CommandSpec = shard_step("info|shard", info_shard);

struct Section {
    /// What `INFO name` asks for.
    name: &'static str,
    /// The `# Title` line.
    title: &'static str,
    /// Printed by `INFO` and `INFO default`.
    default: bool,
}

const fn section(name: &'static str, title: &'static str, default: bool) -> Section {
    Section {
        name,
        title,
        default,
    }
}

/// Sections in the order INFO prints them, whatever order they were asked in.
const SECTIONS: &[Section] = &[
    section("server", "Server", true),
    section("clients", "Clients", true),
    section("memory", "Memory", true),
    section("persistence", "Persistence", true),
    section("stats", "Stats", true),
    section("replication", "Replication", true),
    section("cpu", "CPU", true),
    section("modules", "Modules", true),
    section("commandstats", "Commandstats", false),
    section("errorstats", "Errorstats", true),
    section("cluster", "Cluster", true),
    section("keyspace", "Keyspace", true),
    section("latencystats", "Latencystats", true),
    section("shards", "Shards", true),
];

/// What one shard contributes to INFO.
struct ShardReport {
    shard: i64,
    cpu_core: i64,
    cpu_user_us: i64,
    cpu_sys_us: i64,
    clients: i64,
    commands: i64,
    connections_received: i64,
    rejected_connections: i64,
    keyspace_hits: i64,
    keyspace_misses: i64,
    expired_keys: i64,
    net_input_bytes: i64,
    net_output_bytes: i64,
    blocked_clients: i64,
    blocking_keys: i64,
    pubsub_clients: i64,
    /// Big values waiting to be freed, and those handed over to be freed (`shard::lazyfree`).
    lazyfree_pending: i64,
    lazyfreed: i64,
    ops_per_sec: f64,
    input_kbps: f64,
    output_kbps: f64,
    /// (db, keys, keys with a TTL), for databases holding keys.
    dbs: Vec<(i64, i64, i64)>,
    /// Calls per public command (private steps are not commands clients sent).
    calls: Vec<(String, i64)>,
    journal: JournalReport,
    snapshot: SnapshotReport,
}

/// A shard's snapshot state for `INFO persistence`: in progress, last save (Unix s), last failed,
/// last duration (s), records since the last snapshot, snapshots completed, keys the running
/// one wrote so far, keys in the shard, failures in a row, keys loaded at start, keys found
/// expired at start.
type SnapshotReport = [i64; 11];

fn snapshot_report(shard: &Shard, keys: usize) -> SnapshotReport {
    let stats = shard.snapshots.stats.borrow();
    let appended = shard.journal.as_ref().map_or(0, |j| j.appended_lsn());
    let written = shard
        .snapshots
        .running()
        .as_ref()
        .map_or(0, |run| run.entries());
    [
        i64::from(shard.snapshots.is_running()),
        stats.last_save_unix_s as i64,
        i64::from(stats.last_failed),
        stats.last_duration_s,
        appended.saturating_sub(stats.last_lsn) as i64,
        stats.completed as i64,
        written as i64,
        keys as i64,
        stats.failures_in_a_row as i64,
        stats.keys_loaded as i64,
        stats.keys_expired_at_load as i64,
    ]
}

/// A shard journal's counters for `INFO persistence`, in `JOURNAL_FIELDS` order.
type JournalReport = [i64; JOURNAL_FIELDS.len()];

/// Summed over shards, except `writable` (every shard must be) and the maxima.
const JOURNAL_FIELDS: [&str; 12] = [
    "journal_enabled",
    "journal_writable",
    "journal_bytes_written",
    "journal_batches_written",
    "journal_syncs",
    "journal_sync_latency_us_last",
    "journal_sync_latency_us_max",
    "journal_records_pending",
    "journal_write_errors",
    "journal_segments_created",
    "journal_segments_recycled",
    "journal_reads_waited",
];

/// `reads_waited`: the shard's `Stats::reads_waited_for_sync`.
fn journal_report(shard: &Shard, reads_waited: u64) -> JournalReport {
    let Some(journal) = &shard.journal else {
        return [0; JOURNAL_FIELDS.len()];
    };
    let stats = journal.stats();
    [
        1,
        i64::from(journal.check_writable().is_ok()),
        stats.bytes_written as i64,
        stats.batches_written as i64,
        stats.syncs as i64,
        stats.sync_latency_us_last as i64,
        stats.sync_latency_us_max as i64,
        stats.records_pending as i64,
        stats.write_errors as i64,
        stats.segments_created as i64,
        stats.segments_recycled as i64,
        reads_waited as i64,
    ]
}

impl ShardReport {
    fn gather(shard: &Shard, keyspace: &crate::keyspace::Keyspace) -> ShardReport {
        let (cpu_user_us, cpu_sys_us) = cpu_times_us(libc::RUSAGE_THREAD);
        let (lazyfree_pending, lazyfreed) = keyspace.lazyfree_counts();
        let mut stats = shard.stats.borrow_mut();
        let rates = stats.sample_rates();
        let calls: Vec<(String, i64)> = stats
            .calls_by_command
            .iter()
            .filter(|(key, _)| is_public(key.name()))
            .map(|(key, n)| (key.name().to_string(), *n as i64))
            .collect();
        ShardReport {
            shard: shard.id as i64,
            cpu_core: shard.node.cpu_of(shard.id) as i64,
            cpu_user_us,
            cpu_sys_us,
            clients: shard
                .clients
                .borrow()
                .iter()
                .filter(|c| !c.is_killed())
                .count() as i64,
            commands: calls.iter().map(|(_, n)| n).sum(),
            connections_received: stats.connections_received as i64,
            rejected_connections: stats.rejected_connections as i64,
            keyspace_hits: stats.keyspace_hits as i64,
            keyspace_misses: stats.keyspace_misses as i64,
            expired_keys: stats.expired_keys as i64,
            net_input_bytes: stats.net_input_bytes as i64,
            net_output_bytes: stats.net_output_bytes as i64,
            blocked_clients: shard.blocking.blocked_clients() as i64,
            blocking_keys: shard.blocking.blocking_keys() as i64,
            pubsub_clients: shard
                .clients
                .borrow()
                .iter()
                .filter(|c| !c.is_killed() && c.is_pubsub())
                .count() as i64,
            lazyfree_pending: lazyfree_pending as i64,
            lazyfreed: lazyfreed as i64,
            ops_per_sec: rates.ops_per_sec,
            input_kbps: rates.input_kbps,
            output_kbps: rates.output_kbps,
            dbs: keyspace
                .dbs
                .iter()
                .enumerate()
                .filter(|(_, db)| db.len() > 0)
                .map(|(i, db)| (i as i64, db.len() as i64, db.expires_len() as i64))
                .collect(),
            calls,
            journal: journal_report(shard, stats.reads_waited_for_sync),
            snapshot: snapshot_report(shard, keyspace.dbs.iter().map(|db| db.len()).sum()),
        }
    }

    fn counters(&self) -> [i64; 18] {
        [
            self.shard,
            self.cpu_core,
            self.cpu_user_us,
            self.cpu_sys_us,
            self.clients,
            self.commands,
            self.connections_received,
            self.rejected_connections,
            self.keyspace_hits,
            self.keyspace_misses,
            self.expired_keys,
            self.net_input_bytes,
            self.net_output_bytes,
            self.blocked_clients,
            self.blocking_keys,
            self.pubsub_clients,
            self.lazyfree_pending,
            self.lazyfreed,
        ]
    }

    /// The report as a reply, to cross to the coordinating shard.
    fn to_reply(&self) -> Reply {
        let mut items: Vec<Reply> = self.counters().iter().map(|&n| Reply::Int(n)).collect();
        items.extend([
            Reply::Double(self.ops_per_sec),
            Reply::Double(self.input_kbps),
            Reply::Double(self.output_kbps),
        ]);
        items.push(Reply::Array(
            self.dbs
                .iter()
                .map(|&(db, keys, expires)| {
                    Reply::Array(vec![Reply::Int(db), Reply::Int(keys), Reply::Int(expires)])
                })
                .collect(),
        ));
        items.push(Reply::Array(
            self.calls
                .iter()
                .map(|(name, n)| Reply::Array(vec![Reply::bulk_str(name), Reply::Int(*n)]))
                .collect(),
        ));
        items.push(Reply::Array(
            self.journal.iter().map(|&n| Reply::Int(n)).collect(),
        ));
        items.push(Reply::Array(
            self.snapshot.iter().map(|&n| Reply::Int(n)).collect(),
        ));
        Reply::Array(items)
    }

    /// Reads back `to_reply`'s shape; `None` for anything else (a shard's error reply).
    fn from_reply(reply: &Reply) -> Option<ShardReport> {
        let Reply::Array(items) = reply else {
            return None;
        };
        let [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, ops, inp, out, dbs, calls, journal, snapshot] =
            items.as_slice()
        else {
            return None;
        };
        let int = |r: &Reply| if let Reply::Int(n) = r { *n } else { 0 };
        let float = |r: &Reply| if let Reply::Double(d) = r { *d } else { 0.0 };
        let array = |r: &Reply| match r {
            Reply::Array(items) => items.clone(),
            _ => Vec::new(),
        };
        Some(ShardReport {
            shard: int(c0),
            cpu_core: int(c1),
            cpu_user_us: int(c2),
            cpu_sys_us: int(c3),
            clients: int(c4),
            commands: int(c5),
            connections_received: int(c6),
            rejected_connections: int(c7),
            keyspace_hits: int(c8),
            keyspace_misses: int(c9),
            expired_keys: int(c10),
            net_input_bytes: int(c11),
            net_output_bytes: int(c12),
            blocked_clients: int(c13),
            blocking_keys: int(c14),
            pubsub_clients: int(c15),
            lazyfree_pending: int(c16),
            lazyfreed: int(c17),
            ops_per_sec: float(ops),
            input_kbps: float(inp),
            output_kbps: float(out),
            dbs: array(dbs)
                .iter()
                .map(|db| {
                    let db = array(db);
                    let at = |i: usize| db.get(i).map_or(0, int);
                    (at(0), at(1), at(2))
                })
                .collect(),
            calls: array(calls)
                .iter()
                .filter_map(|call| match array(call).as_slice() {
                    [Reply::Bulk(name), Reply::Int(n)] => {
                        Some((String::from_utf8_lossy(name).into_owned(), *n))
                    }
                    _ => None,
                })
                .collect(),
            journal: {
                let mut counters = [0; JOURNAL_FIELDS.len()];
                for (slot, value) in counters.iter_mut().zip(array(journal)) {
                    *slot = int(&value);
                }
                counters
            },
            snapshot: {
                let mut counters: SnapshotReport = [0; 11];
                for (slot, value) in counters.iter_mut().zip(array(snapshot)) {
                    *slot = int(&value);
                }
                counters
            },
        })
    }
}

fn info_shard(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ShardReport::gather(ctx.shard, ctx.keyspace).to_reply()
}

/// Which sections `INFO args...` prints, as flags in `SECTIONS` order.
fn wanted_sections(args: &[Bytes]) -> Vec<bool> {
    if args.is_empty() {
        return SECTIONS.iter().map(|s| s.default).collect();
    }
    let mut wanted = vec![false; SECTIONS.len()];
    for arg in args {
        let arg = arg.to_ascii_lowercase();
        for (i, section) in SECTIONS.iter().enumerate() {
            wanted[i] |= match arg.as_slice() {
                b"all" | b"everything" => true,
                b"default" => section.default,
                other => other == section.name.as_bytes(),
            };
        }
    }
    wanted
}

fn info(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let wanted = wanted_sections(&args[1..]);
        let replies = client
            .shard
            .broadcast(&INFO_SHARD, 0, false, &[Bytes::from_static(b"info|shard")])
            .await;
        let reports: Vec<ShardReport> =
            replies.iter().filter_map(ShardReport::from_reply).collect();
        let latency_wanted = SECTIONS
            .iter()
            .zip(&wanted)
            .any(|(s, w)| *w && s.name == "latencystats");
        let latency_lines = if latency_wanted {
            match super::latency::merged_histograms(&client.shard).await {
                Ok(merged) => {
                    let percentiles = client
                        .shard
                        .config
                        .borrow()
                        .latency_tracking_info_percentiles
                        .clone();
                    super::latency::percentile_lines(&merged, &percentiles)
                }
                Err(e) => return e,
            }
        } else {
            Vec::new()
        };
        let mut text = String::new();
        for (section, _) in SECTIONS.iter().zip(&wanted).filter(|(_, w)| **w) {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            if section.name == "latencystats" {
                text.push_str("# Latencystats\r\n");
                let mut fields = Fields(&mut text);
                latency_lines.iter().for_each(|(k, v)| fields.add(k, v));
                continue;
            }
            write_section(&mut text, section, &client.shard, &reports);
        }
        Reply::Verbatim(text)
    })
}

/// Sums one counter over every shard.
fn total(reports: &[ShardReport], counter: impl Fn(&ShardReport) -> i64) -> i64 {
    reports.iter().map(counter).sum()
}

fn write_section(out: &mut String, section: &Section, shard: &Shard, reports: &[ShardReport]) {
    out.push_str(&format!("# {}\r\n", section.title));
    let mut fields = Fields(out);
    match section.name {
        "server" => server_section(&mut fields, shard),
        "clients" => clients_section(&mut fields, shard, reports),
        "memory" => memory_section(&mut fields, reports),
        "persistence" => persistence_section(&mut fields, shard, reports),
        "stats" => stats_section(&mut fields, reports),
        "replication" => replication_section(&mut fields, shard),
        "cpu" => cpu_section(&mut fields),
        "commandstats" => commandstats_section(&mut fields, reports),
        "cluster" => fields.add(
            "cluster_enabled",
            u8::from(shard.config.borrow().cluster_enabled),
        ),
        "keyspace" => keyspace_section(&mut fields, shard, reports),
        "shards" => shards_section(&mut fields, reports),
        _ => {} // modules, errorstats: nothing to report yet.
    }
}

/// Appends `name:value\r\n` lines.
struct Fields<'a>(&'a mut String);

impl Fields<'_> {
    fn add(&mut self, name: &str, value: impl std::fmt::Display) {
        let _ = write!(self.0, "{name}:{value}\r\n");
    }
}

fn server_section(f: &mut Fields, shard: &Shard) {
    let node = &shard.node;
    let config = shard.config.borrow();
    let uptime_s = node.started.elapsed().as_secs();
    f.add("redis_version", REDIS_VERSION);
    f.add("keel_version", VERSION);
    f.add("redis_git_sha1", "00000000");
    f.add("redis_git_dirty", 0);
    f.add("redis_build_id", "0");
    let mode = if config.cluster_enabled {
        "cluster"
    } else {
        "standalone"
    };
    f.add("redis_mode", mode);
    f.add("os", os_name());
    f.add("arch_bits", usize::BITS);
    f.add("monotonic_clock", "POSIX clock_gettime");
    f.add("multiplexing_api", "io_uring");
    f.add("process_id", std::process::id());
    f.add("process_supervised", "no");
    f.add("run_id", &node.run_id);
    f.add("tcp_port", config.port);
    f.add("server_time_usec", crate::shard::now_ms() * 1000);
    f.add("uptime_in_seconds", uptime_s);
    f.add("uptime_in_days", uptime_s / 86400);
    f.add("hz", config.hz);
    f.add("configured_hz", config.hz);
    f.add("executable", &node.executable);
    f.add("config_file", node.config_file.as_deref().unwrap_or(""));
    f.add("io_threads_active", 0);
    f.add("keel_shards", shard.shard_count());
    for (i, bind) in config.bind.iter().enumerate() {
        f.add(
            &format!("listener{i}"),
            format!("name=tcp,bind={bind},port={}", config.port),
        );
    }
}

/// `uname -srm`, as Redis prints it.
fn os_name() -> String {
    // SAFETY: uname fills the struct we own; its fields are NUL-terminated C strings.
    unsafe {
        let mut name: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut name) != 0 {
            return std::env::consts::OS.to_string();
        }
        let field = |f: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(f.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        format!(
            "{} {} {}",
            field(&name.sysname),
            field(&name.release),
            field(&name.machine)
        )
    }
}

fn clients_section(f: &mut Fields, shard: &Shard, reports: &[ShardReport]) {
    f.add("connected_clients", total(reports, |r| r.clients));
    f.add("cluster_connections", 0);
    f.add("maxclients", shard.config.borrow().maxclients);
    f.add("client_recent_max_input_buffer", 0);
    f.add("client_recent_max_output_buffer", 0);
    f.add("blocked_clients", total(reports, |r| r.blocked_clients));
    f.add("tracking_clients", 0);
    f.add("pubsub_clients", total(reports, |r| r.pubsub_clients));
    f.add("clients_in_timeout_table", 0);
    f.add("total_blocking_keys", total(reports, |r| r.blocking_keys));
}

/// Memory as the kernel sees the process: Keel has no allocator statistics, so `used_memory` is
/// the resident set size (pages in `/proc/self/statm`) and the peak is the resident high-water
/// mark.
fn memory_section(f: &mut Fields, reports: &[ShardReport]) {
    let page_bytes = sysconf(libc::_SC_PAGESIZE).max(1);
    let rss_bytes = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * page_bytes;
    let peak_bytes = (rusage(libc::RUSAGE_SELF).ru_maxrss.max(0) as u64 * 1024).max(rss_bytes);
    let system_bytes = sysconf(libc::_SC_PHYS_PAGES) * page_bytes;
    f.add("used_memory", rss_bytes);
    f.add("used_memory_human", bytes_to_human(rss_bytes));
    f.add("used_memory_rss", rss_bytes);
    f.add("used_memory_rss_human", bytes_to_human(rss_bytes));
    f.add("used_memory_peak", peak_bytes);
    f.add("used_memory_peak_human", bytes_to_human(peak_bytes));
    f.add(
        "used_memory_peak_perc",
        format!(
            "{:.2}%",
            rss_bytes as f64 * 100.0 / peak_bytes.max(1) as f64
        ),
    );
    f.add("total_system_memory", system_bytes);
    f.add("total_system_memory_human", bytes_to_human(system_bytes));
    f.add("maxmemory", 0);
    f.add("maxmemory_human", "0B");
    f.add("maxmemory_policy", "noeviction");
    f.add("mem_fragmentation_ratio", "1.00");
    f.add("mem_allocator", "libc");
    f.add(
        "lazyfree_pending_objects",
        total(reports, |r| r.lazyfree_pending),
    );
    f.add("lazyfreed_objects", total(reports, |r| r.lazyfreed));
}

fn sysconf(name: libc::c_int) -> u64 {
    // SAFETY: sysconf only reads system constants.
    unsafe { libc::sysconf(name) }.max(0) as u64
}

/// Redis's `bytesToHuman`: bytes below 1K, otherwise two decimals and a unit.
fn bytes_to_human(n: u64) -> String {
    const UNITS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut value = n as f64 / 1024.0;
    for unit in UNITS {
        if value < 1024.0 || unit == "E" {
            return format!("{value:.2}{unit}");
        }
        value /= 1024.0;
    }
    unreachable!("the last unit returns")
}

/// The snapshots' and the journal's state (Redis's RDB and AOF fields: both are snapshots here,
/// so the RDB and AOF rewrite fields agree; then Keel's journal counters summed over shards).
fn persistence_section(f: &mut Fields, shard: &Shard, reports: &[ShardReport]) {
    let snapshot = |i: usize| reports.iter().map(move |r| r.snapshot[i]);
    let in_progress = snapshot(0).max().unwrap_or(0);
    let last_save = snapshot(1)
        .min()
        .unwrap_or(shard.node.started_unix_s as i64);
    let status = if snapshot(2).any(|failed| failed != 0) {
        "err"
    } else {
        "ok"
    };
    let duration = snapshot(3).max().unwrap_or(-1);
    let rewrites = snapshot(5).min().unwrap_or(0);
    // Progress of the snapshots running now, over the keys of their shards.
    let (written, keys): (i64, i64) = reports
        .iter()
        .filter(|r| r.snapshot[0] != 0)
        .fold((0, 0), |(w, k), r| (w + r.snapshot[6], k + r.snapshot[7]));
    f.add("loading", 0);
    f.add("async_loading", 0);
    // No fork, so no copy-on-write memory: a write copies its slot into the snapshot instead.
    f.add("current_cow_peak", 0);
    f.add("current_cow_size", 0);
    f.add("current_cow_size_age", 0);
    let percent = if keys > 0 {
        100.0 * written as f64 / keys as f64
    } else {
        0.0
    };
    f.add("current_fork_perc", format!("{:.2}", percent.min(100.0)));
    f.add("current_save_keys_processed", written);
    f.add("current_save_keys_total", keys);
    f.add("rdb_changes_since_last_save", snapshot(4).sum::<i64>());
    f.add("rdb_bgsave_in_progress", in_progress);
    f.add("rdb_last_save_time", last_save);
    f.add("rdb_last_bgsave_status", status);
    f.add("rdb_last_bgsave_time_sec", duration);
    f.add("rdb_current_bgsave_time_sec", -1);
    f.add("rdb_saves", rewrites);
    f.add("rdb_last_cow_size", 0);
    f.add("rdb_last_load_keys_expired", snapshot(10).sum::<i64>());
    f.add("rdb_last_load_keys_loaded", snapshot(9).sum::<i64>());
    f.add("aof_enabled", u8::from(shard.config.borrow().appendonly));
    f.add("aof_rewrite_in_progress", in_progress);
    f.add("aof_rewrite_scheduled", 0);
    f.add("aof_last_rewrite_time_sec", duration);
    f.add("aof_current_rewrite_time_sec", -1);
    f.add("aof_last_bgrewrite_status", status);
    f.add("aof_rewrites", rewrites);
    f.add(
        "aof_rewrites_consecutive_failures",
        snapshot(8).max().unwrap_or(0),
    );
    let writable = reports
        .iter()
        .all(|r| r.journal[1] == 1 || r.journal[0] == 0);
    f.add("aof_last_write_status", if writable { "ok" } else { "err" });
    f.add("aof_last_cow_size", 0);
    f.add("module_fork_in_progress", 0);
    f.add("module_fork_last_cow_size", 0);
    let appendfsync = format!("{:?}", shard.config.borrow().appendfsync).to_ascii_lowercase();
    f.add("aof_fsync", appendfsync);
    for (i, name) in JOURNAL_FIELDS.iter().enumerate() {
        let value = match *name {
            "journal_writable" => i64::from(writable),
            "journal_enabled" => reports.iter().map(|r| r.journal[i]).max().unwrap_or(0),
            "journal_sync_latency_us_max" | "journal_sync_latency_us_last" => {
                reports.iter().map(|r| r.journal[i]).max().unwrap_or(0)
            }
            _ => total(reports, |r| r.journal[i]),
        };
        f.add(name, value);
    }
}

fn stats_section(f: &mut Fields, reports: &[ShardReport]) {
    let rate = |get: fn(&ShardReport) -> f64| reports.iter().map(get).sum::<f64>();
    f.add(
        "total_connections_received",
        total(reports, |r| r.connections_received),
    );
    f.add("total_commands_processed", total(reports, |r| r.commands));
    f.add(
        "instantaneous_ops_per_sec",
        rate(|r| r.ops_per_sec).round() as i64,
    );
    f.add(
        "total_net_input_bytes",
        total(reports, |r| r.net_input_bytes),
    );
    f.add(
        "total_net_output_bytes",
        total(reports, |r| r.net_output_bytes),
    );
    f.add("total_net_repl_input_bytes", 0);
    f.add("total_net_repl_output_bytes", 0);
    f.add(
        "instantaneous_input_kbps",
        format!("{:.2}", rate(|r| r.input_kbps)),
    );
    f.add(
        "instantaneous_output_kbps",
        format!("{:.2}", rate(|r| r.output_kbps)),
    );
    f.add("instantaneous_input_repl_kbps", "0.00");
    f.add("instantaneous_output_repl_kbps", "0.00");
    f.add(
        "rejected_connections",
        total(reports, |r| r.rejected_connections),
    );
    f.add("sync_full", 0);
    f.add("sync_partial_ok", 0);
    f.add("sync_partial_err", 0);
    f.add("expired_keys", total(reports, |r| r.expired_keys));
    f.add("expired_stale_perc", "0.00");
    f.add("expired_time_cap_reached_count", 0);
    f.add("evicted_keys", 0);
    f.add("evicted_clients", 0);
    f.add("keyspace_hits", total(reports, |r| r.keyspace_hits));
    f.add("keyspace_misses", total(reports, |r| r.keyspace_misses));
    f.add("pubsub_channels", 0);
    f.add("pubsub_patterns", 0);
    f.add("pubsubshard_channels", 0);
    f.add("latest_fork_usec", 0);
    f.add("total_forks", 0);
    f.add("migrate_cached_sockets", 0);
    f.add("total_error_replies", 0);
    f.add("total_reads_processed", 0);
    f.add("total_writes_processed", 0);
}

fn replication_section(f: &mut Fields, shard: &Shard) {
    f.add("role", "master");
    f.add("connected_slaves", 0);
    f.add("master_failover_state", "no-failover");
    f.add("master_replid", &shard.node.run_id);
    f.add("master_replid2", "0".repeat(40));
    f.add("master_repl_offset", 0);
    f.add("second_repl_offset", -1);
    f.add("repl_backlog_active", 0);
    f.add("repl_backlog_size", 1024 * 1024);
    f.add("repl_backlog_first_byte_offset", 0);
    f.add("repl_backlog_histlen", 0);
}

fn rusage(who: libc::c_int) -> libc::rusage {
    // SAFETY: getrusage only writes the struct we own.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    }
}

/// (user, system) CPU time in microseconds, of the process, its children or this thread.
fn cpu_times_us(who: libc::c_int) -> (i64, i64) {
    let usage = rusage(who);
    let us = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    (us(usage.ru_utime), us(usage.ru_stime))
}

/// Seconds with six decimals, as Redis prints CPU times.
fn seconds(us: i64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn cpu_section(f: &mut Fields) {
    let (user, sys) = cpu_times_us(libc::RUSAGE_SELF);
    let (child_user, child_sys) = cpu_times_us(libc::RUSAGE_CHILDREN);
    f.add("used_cpu_sys", seconds(sys));
    f.add("used_cpu_user", seconds(user));
    f.add("used_cpu_sys_children", seconds(child_sys));
    f.add("used_cpu_user_children", seconds(child_user));
}

fn commandstats_section(f: &mut Fields, reports: &[ShardReport]) {
    let mut calls: std::collections::BTreeMap<&str, i64> = Default::default();
    for (name, n) in reports.iter().flat_map(|r| &r.calls) {
        *calls.entry(name).or_default() += n;
    }
    for (name, n) in calls {
        f.add(
            &format!("cmdstat_{name}"),
            format!("calls={n},usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=0"),
        );
    }
}

fn keyspace_section(f: &mut Fields, shard: &Shard, reports: &[ShardReport]) {
    let databases = shard.config.borrow().databases;
    let mut keys = vec![(0i64, 0i64); databases];
    for &(db, n, expires) in reports.iter().flat_map(|r| &r.dbs) {
        if let Some(slot) = keys.get_mut(db as usize) {
            slot.0 += n;
            slot.1 += expires;
        }
    }
    for (db, (n, expires)) in keys.into_iter().enumerate().filter(|(_, (n, _))| *n > 0) {
        f.add(
            &format!("db{db}"),
            format!("keys={n},expires={expires},avg_ttl=0"),
        );
    }
}

/// Keel's own section: each shard's CPU core, CPU time, keys, clients and commands.
fn shards_section(f: &mut Fields, reports: &[ShardReport]) {
    for r in reports {
        let keys: i64 = r.dbs.iter().map(|(_, n, _)| n).sum();
        f.add(
            &format!("shard_{}", r.shard),
            format!(
                "cpu={},keys={keys},clients={},commands={},used_cpu_user={},used_cpu_sys={}",
                r.cpu_core,
                r.clients,
                r.commands,
                seconds(r.cpu_user_us),
                seconds(r.cpu_sys_us)
            ),
        );
    }
}
