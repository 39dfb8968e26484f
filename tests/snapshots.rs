//! Snapshots: SAVE/BGSAVE write each shard's keyspace as of one journal LSN; after a SIGKILL the
//! server comes back from the snapshots plus the journal after them, and the journal before them
//! is deleted or kept as spare segments for reuse.

mod common;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{info_field, wait_bgsave_done, Server};
use redis::Commands;

const SHARDS: usize = 3;

/// These tests restart servers on the port they started on; run in parallel, one test's client
/// connections can take another's freed port (ephemeral range), so they run one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The shards' files named `prefix...`, temporaries (`*.tmp`) left out.
fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    files_where(dir, |name| {
        name.starts_with(prefix) && !name.ends_with(".tmp")
    })
}

fn files_where(dir: &Path, picked: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for shard in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        if !shard.file_name().to_string_lossy().starts_with("shard-") {
            continue;
        }
        for f in std::fs::read_dir(shard.path())
            .unwrap()
            .filter_map(Result::ok)
        {
            if picked(&f.file_name().to_string_lossy()) {
                found.push(f.path());
            }
        }
    }
    found.sort();
    found
}

/// Sets `prefix<i>` to `value(i)` for `i` in `0..n`, pipelined.
fn populate(con: &mut redis::Connection, prefix: &str, n: usize, value: fn(usize) -> String) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for &i in chunk {
            pipe.set(format!("{prefix}{i}"), value(i)).ignore();
        }
        let _: () = pipe.query(con).unwrap();
    }
}

fn big_value(i: usize) -> String {
    format!("{i}-{}", "x".repeat(200))
}

#[test]
fn save_then_sigkill_keeps_every_key_and_ttl() {
    let _serial = serial();
    let mut server = Server::start(SHARDS, &[]);
    let mut con = server.client();
    for i in 0..500 {
        let _: () = con.set(format!("k{i}"), i).unwrap();
    }
    let _: () = con.set_ex("ttl", "v", 1000).unwrap();
    let _: () = redis::cmd("SELECT").arg(3).query(&mut con).unwrap();
    let _: () = con.set("in-db3", "yes").unwrap();
    let before: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    thread::sleep(Duration::from_millis(1100));
    let ok: String = redis::cmd("SAVE").query(&mut con).unwrap();
    assert_eq!(ok, "OK");
    let after: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    assert!(after > before, "LASTSAVE moved: {before} -> {after}");
    assert_eq!(files(&server.dir, "snapshot-").len(), SHARDS);
    drop(con);
    server.kill9();
    server.restart();
    let mut con = server.client();
    for i in 0..500 {
        let v: i64 = con.get(format!("k{i}")).unwrap();
        assert_eq!(v, i as i64);
    }
    let ttl: i64 = con.ttl("ttl").unwrap();
    assert!((990..=1000).contains(&ttl), "ttl {ttl}");
    let _: () = redis::cmd("SELECT").arg(3).query(&mut con).unwrap();
    let v: String = con.get("in-db3").unwrap();
    assert_eq!(v, "yes");
    assert!(server.log().contains("records/s"));
}

#[test]
fn bgsave_under_concurrent_writes_keeps_every_acknowledged_write() {
    let _serial = serial();
    let mut server = Server::start(SHARDS, &[]);
    let mut con = server.client();
    populate(&mut con, "pre", 20_000, big_value);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (stop, url) = (stop.clone(), server.url());
            thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut acked = Vec::new();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    // Overwrites of old keys, deletes and cross-shard MSETs during the snapshot.
                    let key = format!("pre{}", (n * 7 + w) % 20_000);
                    let value = format!("w{w}-{n}");
                    let _: () = redis::cmd("MSET")
                        .arg(&key)
                        .arg(&value)
                        .arg(format!("new{w}-{n}"))
                        .arg(&value)
                        .query(&mut con)
                        .unwrap();
                    let _: () = con
                        .del(format!("pre{}", (n * 13 + w + 5000) % 20_000))
                        .unwrap();
                    acked.push((key, value, n));
                    n += 1;
                }
                acked
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let reply: String = redis::cmd("BGSAVE").query(&mut con).unwrap();
    assert_eq!(reply, "Background saving started");
    wait_bgsave_done(&mut con);
    thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<Vec<(String, String, usize)>> =
        writers.into_iter().map(|w| w.join().unwrap()).collect();
    let expected: Vec<(String, Option<String>)> = {
        let mut con = server.client();
        (0..20_000)
            .map(|i| {
                let k = format!("pre{i}");
                let v: Option<String> = con.get(&k).unwrap();
                (k, v)
            })
            .collect()
    };
    drop(con);
    server.kill9();
    server.restart();
    let mut con = server.client();
    for (k, v) in &expected {
        let got: Option<String> = con.get(k).unwrap();
        assert_eq!(&got, v, "key {k}");
    }
    for (w, writes) in acked.iter().enumerate() {
        assert!(!writes.is_empty());
        for (_, value, n) in writes {
            let got: Option<String> = con.get(format!("new{w}-{n}")).unwrap();
            assert_eq!(got.as_deref(), Some(value.as_str()));
        }
    }
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status"), "ok");
}

#[test]
fn bgsave_while_one_runs_is_refused_and_aliases_reply() {
    let _serial = serial();
    let server = Server::start(SHARDS, &["--auto-aof-rewrite-percentage", "0"]);
    let mut con = server.client();
    populate(&mut con, "k", 100_000, |i| i.to_string());
    let first: String = redis::cmd("BGSAVE").query(&mut con).unwrap();
    assert_eq!(first, "Background saving started");
    let second: redis::RedisResult<String> = redis::cmd("BGSAVE").query(&mut con);
    assert!(second
        .unwrap_err()
        .to_string()
        .contains("Background save already in progress"));
    wait_bgsave_done(&mut con);
    let rewrite: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    assert_eq!(rewrite, "Background append only file rewriting started");
    wait_bgsave_done(&mut con);
    assert_eq!(info_field(&mut con, "aof_rewrites"), "2");
    assert_eq!(info_field(&mut con, "rdb_changes_since_last_save"), "0");
}

#[test]
fn journal_segments_before_a_snapshot_are_deleted() {
    let _serial = serial();
    let mut server = Server::start(SHARDS, &[]);
    let mut con = server.client();
    populate(&mut con, "k", 30_000, big_value);
    let before = files(&server.dir, "journal-").len();
    assert!(before > 2 * SHARDS, "{before} segments");
    let _: String = redis::cmd("SAVE").query(&mut con).unwrap();
    let _: () = con.set("after", "1").unwrap();
    let _: String = redis::cmd("SAVE").query(&mut con).unwrap();
    let after = files(&server.dir, "journal-").len();
    assert!(after <= SHARDS, "{before} segments before, {after} after");
    assert_eq!(files(&server.dir, "snapshot-").len(), SHARDS);
    drop(con);
    server.restart();
    let mut con = server.client();
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 30_001);
}

#[test]
fn segments_a_snapshot_made_redundant_are_zeroed_and_reused() {
    let _serial = serial();
    let args = [
        "--journal-segment-size",
        "1mb",
        "--auto-aof-rewrite-percentage",
        "0",
    ];
    let mut server = Server::start(SHARDS, &args);
    let mut con = server.client();
    // About 2 MB of journal a shard: two or three 1 MB segments each.
    populate(&mut con, "a", 30_000, big_value);
    let _: String = redis::cmd("SAVE").query(&mut con).unwrap();
    let spares = files_where(&server.dir, |name| name.starts_with("journal-spare-"));
    assert!(
        !spares.is_empty() && spares.len() <= 2 * SHARDS,
        "{} spare segments",
        spares.len()
    );
    assert_eq!(info_field(&mut con, "journal_segments_recycled"), "0");
    populate(&mut con, "b", 45_000, big_value);
    let recycled: u64 = info_field(&mut con, "journal_segments_recycled")
        .parse()
        .unwrap();
    assert!(recycled > 0, "no segment was reused");
    drop(con);
    server.kill9();
    server.restart();
    // A reused segment still holding its earlier batches past the journal's end would have been
    // cut at this restart as a torn tail, and the cut bytes kept as `*.cut`.
    let cut = files_where(&server.dir, |name| name.ends_with(".cut"));
    assert!(cut.is_empty(), "{cut:?}");
    let mut con = server.client();
    for (prefix, n) in [("a", 30_000), ("b", 45_000)] {
        for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
            let keys: Vec<String> = chunk.iter().map(|i| format!("{prefix}{i}")).collect();
            let values: Vec<Option<String>> = con.mget(&keys).unwrap();
            for (&i, value) in chunk.iter().zip(values) {
                assert_eq!(value, Some(big_value(i)), "{prefix}{i}");
            }
        }
    }
}

/// One writer's SETs until `stop`: the last acknowledged value of each key, and the write in
/// flight when the server died (either outcome is right for it).
type Acked = (HashMap<String, String>, Option<(String, String)>);

fn set_until_stopped(url: String, w: usize, cycle: usize, stop: &AtomicBool) -> Acked {
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    let mut acked = HashMap::new();
    for n in 0.. {
        let key = format!("w{w}-{}", n % 3000);
        let value = format!("{cycle}-{n}-{}", "v".repeat(200));
        match con.set::<_, _, ()>(&key, &value) {
            Ok(()) => acked.insert(key, value),
            Err(_) => return (acked, Some((key, value))),
        };
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    (acked, None)
}

#[test]
fn sigkill_while_segments_are_reused_loses_no_acknowledged_write() {
    let _serial = serial();
    let cycles = common::crash_cycles(4);
    // A snapshot every megabyte of journal, and 1 MB segments: segments are made redundant,
    // kept as spares, zeroed and reused all the time the writers run.
    let args = [
        "--journal-segment-size",
        "1mb",
        "--auto-aof-rewrite-min-size",
        "1mb",
        "--auto-aof-rewrite-percentage",
        "1",
    ];
    let mut server = Server::start(2, &args);
    let mut model: HashMap<String, String> = HashMap::new();
    let mut rng_state = 0x6b65656cu64;
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (stop, url) = (stop.clone(), server.url());
                thread::spawn(move || set_until_stopped(url, w, cycle, &stop))
            })
            .collect();
        // Until this run has reused a segment (a debug build needs a few seconds), then a random
        // while longer.
        let mut con = server.client();
        let deadline = Instant::now() + Duration::from_secs(60);
        while info_field(&mut con, "journal_segments_recycled") == "0" {
            assert!(
                Instant::now() < deadline,
                "cycle {cycle}: no segment reused in 60 s"
            );
            thread::sleep(Duration::from_millis(20));
        }
        rng_state = rng_state.wrapping_mul(6364136223846793005).wrapping_add(1);
        thread::sleep(Duration::from_millis((rng_state >> 33) % 400));
        drop(con);
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        let results: Vec<Acked> = writers.into_iter().map(|t| t.join().unwrap()).collect();
        server.restart();
        let mut con = server.client();
        let mut in_doubt = HashMap::new();
        for (acked, in_flight) in results {
            model.extend(acked);
            in_doubt.extend(in_flight);
        }
        for (key, value) in model.iter_mut() {
            let got: Option<String> = con.get(key).unwrap();
            let got = got.unwrap_or_else(|| panic!("cycle {cycle}: {key} is gone"));
            if &got != value {
                assert_eq!(Some(&got), in_doubt.get(key), "cycle {cycle}: {key}");
                *value = got;
            }
        }
    }
}

fn corrupt(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_corrupted_only_snapshot_refuses_start_naming_the_file() {
    let _serial = serial();
    let mut server = Server::start(SHARDS, &[]);
    let mut con = server.client();
    for i in 0..2000 {
        let _: () = con.set(format!("k{i}"), i).unwrap();
    }
    let _: String = redis::cmd("SAVE").query(&mut con).unwrap();
    drop(con);
    server.kill9();
    let victim = files(&server.dir, "snapshot-").remove(1);
    corrupt(&victim);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.restart()));
    let message = result
        .err()
        .and_then(|e| e.downcast_ref::<String>().cloned())
        .expect("start must fail");
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    assert!(message.contains(&name), "{message}");
}

#[test]
fn a_snapshot_file_left_unfinished_by_a_crash_is_deleted_at_start() {
    let _serial = serial();
    let mut server = Server::start(SHARDS, &[]);
    let mut con = server.client();
    populate(&mut con, "k", 1000, big_value);
    drop(con);
    server.kill9();
    // What a crash in the middle of a snapshot leaves: its file under the unpublished name.
    let unfinished = server
        .dir
        .join("shard-1")
        .join(format!("snapshot-{:020}.kss.tmp", 7));
    std::fs::write(&unfinished, vec![7u8; 1 << 20]).unwrap();
    server.restart();
    assert!(
        !unfinished.exists(),
        "{} is still there",
        unfinished.display()
    );
    let n: i64 = redis::cmd("DBSIZE").query(&mut server.client()).unwrap();
    assert_eq!(n, 1000);
}

/// Every field of Redis 7's `INFO persistence` (monitoring reads them by name), and what the last
/// start loaded.
#[test]
fn info_persistence_has_every_redis_field_and_counts_what_the_start_loaded() {
    const REDIS_FIELDS: &[&str] = &[
        "loading",
        "async_loading",
        "current_cow_peak",
        "current_cow_size",
        "current_cow_size_age",
        "current_fork_perc",
        "current_save_keys_processed",
        "current_save_keys_total",
        "rdb_changes_since_last_save",
        "rdb_bgsave_in_progress",
        "rdb_last_save_time",
        "rdb_last_bgsave_status",
        "rdb_last_bgsave_time_sec",
        "rdb_current_bgsave_time_sec",
        "rdb_saves",
        "rdb_last_cow_size",
        "rdb_last_load_keys_expired",
        "rdb_last_load_keys_loaded",
        "aof_enabled",
        "aof_rewrite_in_progress",
        "aof_rewrite_scheduled",
        "aof_last_rewrite_time_sec",
        "aof_current_rewrite_time_sec",
        "aof_last_bgrewrite_status",
        "aof_rewrites",
        "aof_rewrites_consecutive_failures",
        "aof_last_write_status",
        "aof_last_cow_size",
        "module_fork_in_progress",
        "module_fork_last_cow_size",
    ];
    let _serial = serial();
    let mut server = Server::start(SHARDS, &[]);
    let mut con = server.client();
    populate(&mut con, "k", 500, big_value);
    let _: () = redis::cmd("SET")
        .arg("short-lived")
        .arg("1")
        .arg("PX")
        .arg(200)
        .query(&mut con)
        .unwrap();
    let _: String = redis::cmd("SAVE").query(&mut con).unwrap();
    assert_eq!(info_field(&mut con, "rdb_saves"), "1");
    drop(con);
    server.kill9();
    thread::sleep(Duration::from_millis(300));
    server.restart();
    let mut con = server.client();
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query(&mut con)
        .unwrap();
    let names: Vec<&str> = info.lines().filter_map(|l| l.split(':').next()).collect();
    for field in REDIS_FIELDS {
        assert!(names.contains(field), "no {field} in {info}");
    }
    assert_eq!(info_field(&mut con, "rdb_last_load_keys_loaded"), "500");
    // The same layout as before: the directories were replayed side by side.
    assert!(!server.log().contains("replaying them in order"));
    assert_eq!(info_field(&mut con, "rdb_last_load_keys_expired"), "1");
    assert_eq!(
        info_field(&mut con, "aof_rewrites_consecutive_failures"),
        "0"
    );
}

#[test]
fn a_corrupted_newest_snapshot_falls_back_to_the_previous_one() {
    let _serial = serial();
    let mut server = Server::start(SHARDS, &[]);
    let mut con = server.client();
    for i in 0..2000 {
        let _: () = con.set(format!("k{i}"), i).unwrap();
    }
    let _: String = redis::cmd("SAVE").query(&mut con).unwrap();
    let older = files(&server.dir, "snapshot-");
    let _: () = con.set("later", "1").unwrap();
    drop(con);
    server.kill9();
    // A newer snapshot that was damaged (the crash came before the older one was deleted).
    let newer = older[0].with_file_name(format!("snapshot-{:020}.kss", u64::MAX / 2));
    std::fs::copy(&older[0], &newer).unwrap();
    corrupt(&newer);
    server.restart();
    let mut con = server.client();
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 2001);
    assert!(server.log().contains("falling back"));
}

#[test]
fn changing_shards_after_a_snapshot_keeps_every_key() {
    let _serial = serial();
    let mut server = Server::start(SHARDS, &[]);
    let mut con = server.client();
    for i in 0..3000 {
        let _: () = con.set(format!("k{i}"), i).unwrap();
    }
    let _: String = redis::cmd("SAVE").query(&mut con).unwrap();
    let _: () = con.set("tail", "t").unwrap();
    drop(con);
    server.kill9();
    for shards in [2, 4, 3] {
        server.set_arg("shards", &shards.to_string());
        server.restart();
        let mut con = server.client();
        let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(n, 3001, "with {shards} shards");
        // Directories of another layout hold keys of other shards: no side-by-side replay.
        assert!(server.log().contains("replaying them in order"));
        // A snapshot in the new layout must not lose keys of other shards' old journals.
        let _: String = redis::cmd("SAVE").query(&mut con).unwrap();
        drop(con);
        server.kill9();
    }
    server.restart();
    let mut con = server.client();
    for i in 0..3000 {
        let v: i64 = con.get(format!("k{i}")).unwrap();
        assert_eq!(v, i as i64);
    }
}

#[test]
fn a_key_deleted_after_a_reshard_and_snapshotted_is_not_resurrected() {
    let _serial = serial();
    let mut server = Server::start(SHARDS, &[]);
    let mut con = server.client();
    for i in 0..300 {
        let _: () = con.set(format!("k{i}"), i).unwrap();
    }
    drop(con);
    server.kill9();
    server.set_arg("shards", "2");
    server.restart();
    let mut con = server.client();
    for i in 0..150 {
        let _: () = con.del(format!("k{i}")).unwrap();
    }
    let _: String = redis::cmd("SAVE").query(&mut con).unwrap();
    drop(con);
    server.kill9();
    server.restart();
    let mut con = server.client();
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 150);
    let gone: Option<i64> = con.get("k0").unwrap();
    assert_eq!(gone, None);
}

#[test]
fn an_automatic_snapshot_starts_when_the_journal_grows() {
    let _serial = serial();
    let server = Server::start(
        SHARDS,
        &[
            "--auto-aof-rewrite-min-size",
            "1mb",
            "--auto-aof-rewrite-percentage",
            "100",
        ],
    );
    let mut con = server.client();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    while files(&server.dir, "snapshot-").is_empty() {
        assert!(Instant::now() < deadline, "no automatic snapshot");
        let mut pipe = redis::pipe();
        for _ in 0..200 {
            pipe.set(format!("k{i}"), big_value(i)).ignore();
            i += 1;
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    let rewrites: i64 = info_field(&mut con, "aof_rewrites").parse().unwrap();
    let _ = rewrites;
    let value: redis::Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("auto-aof-rewrite-min-size")
        .query(&mut con)
        .unwrap();
    assert!(format!("{value:?}").contains("1048576"), "{value:?}");
}

/// Keys of every kind, some with TTLs, some in another database, spread over the shards; checks
/// that a server holds exactly them.
struct Dataset {
    strings: usize,
}

/// TTL given to the `t*` and `ht*` keys, in seconds.
const DATASET_TTL_S: i64 = 1000;
const DATASET_COLLECTIONS: usize = 40;

impl Dataset {
    /// A server of `SHARDS` shards (no automatic snapshots) holding a dataset.
    fn on_new_server(strings: usize) -> (Server, Dataset) {
        let server = Server::start(SHARDS, &["--auto-aof-rewrite-percentage", "0"]);
        let data = Dataset::write(&mut server.client(), strings);
        (server, data)
    }

    fn write(con: &mut redis::Connection, strings: usize) -> Dataset {
        populate(con, "k", strings, big_value);
        let mut pipe = redis::pipe();
        for i in 0..DATASET_COLLECTIONS {
            pipe.set_ex(format!("t{i}"), i, DATASET_TTL_S as u64)
                .ignore();
            pipe.hset_multiple(format!("h{i}"), &[("a", i), ("b", i + 1)])
                .ignore();
            pipe.hset(format!("ht{i}"), "f", i).ignore();
            pipe.expire(format!("ht{i}"), DATASET_TTL_S).ignore();
            pipe.sadd(format!("s{i}"), &[i, i + 1, i + 2]).ignore();
            pipe.rpush(format!("l{i}"), &[i, i + 1]).ignore();
            pipe.zadd(format!("z{i}"), "m", i).ignore();
        }
        pipe.cmd("SELECT").arg(2).ignore();
        for i in 0..DATASET_COLLECTIONS {
            pipe.set(format!("db2-{i}"), i).ignore();
        }
        pipe.cmd("SELECT").arg(0).ignore();
        let _: () = pipe.query(con).unwrap();
        Dataset { strings }
    }

    fn keys_in_db0(&self) -> usize {
        self.strings + 6 * DATASET_COLLECTIONS
    }

    fn check(&self, con: &mut redis::Connection, context: &str) {
        let n: usize = redis::cmd("DBSIZE").query(con).unwrap();
        assert_eq!(n, self.keys_in_db0(), "{context}: DBSIZE");
        let keys: Vec<String> = (0..self.strings).map(|i| format!("k{i}")).collect();
        for chunk in keys.chunks(1000) {
            let got: Vec<Option<String>> = redis::cmd("MGET").arg(chunk).query(con).unwrap();
            for (key, value) in chunk.iter().zip(got) {
                let i: usize = key[1..].parse().unwrap();
                assert_eq!(value, Some(big_value(i)), "{context}: {key}");
            }
        }
        for i in 0..DATASET_COLLECTIONS {
            let t: i64 = con.get(format!("t{i}")).unwrap();
            assert_eq!(t, i as i64, "{context}: t{i}");
            for key in [format!("t{i}"), format!("ht{i}")] {
                let ttl: i64 = con.ttl(&key).unwrap();
                assert!(
                    (DATASET_TTL_S - 120..=DATASET_TTL_S).contains(&ttl),
                    "{context}: TTL of {key} is {ttl}"
                );
            }
            let h: Vec<(String, usize)> = con.hgetall(format!("h{i}")).unwrap();
            assert_eq!(h, vec![("a".into(), i), ("b".into(), i + 1)], "{context}");
            let ht: usize = con.hget(format!("ht{i}"), "f").unwrap();
            assert_eq!(ht, i, "{context}");
            let mut s: Vec<usize> = con.smembers(format!("s{i}")).unwrap();
            s.sort();
            assert_eq!(s, vec![i, i + 1, i + 2], "{context}");
            let l: Vec<usize> = con.lrange(format!("l{i}"), 0, -1).unwrap();
            assert_eq!(l, vec![i, i + 1], "{context}");
            let z: Option<f64> = con.zscore(format!("z{i}"), "m").unwrap();
            assert_eq!(z, Some(i as f64), "{context}");
        }
        let _: () = redis::cmd("SELECT").arg(2).query(con).unwrap();
        let n: usize = redis::cmd("DBSIZE").query(con).unwrap();
        assert_eq!(n, DATASET_COLLECTIONS, "{context}: DBSIZE of db 2");
        let _: () = redis::cmd("SELECT").arg(0).query(con).unwrap();
    }
}

/// Journal segments and snapshots of `dir/shard-<shard>`, as (first LSN, snapshot LSN) lists.
fn shard_files(dir: &Path, shard: usize) -> (Vec<u64>, Vec<u64>) {
    let (mut segments, mut snapshots) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(dir.join(format!("shard-{shard}"))) else {
        return (segments, snapshots);
    };
    for name in entries.filter_map(Result::ok).map(|e| e.file_name()) {
        let name = name.to_string_lossy();
        let lsn = |prefix: &str, suffix: &str| {
            name.strip_prefix(prefix)?
                .strip_suffix(suffix)?
                .parse::<u64>()
                .ok()
        };
        if let Some(lsn) = lsn("journal-", ".seg") {
            segments.push(lsn);
        }
        if let Some(lsn) = lsn("snapshot-", ".kss") {
            snapshots.push(lsn);
        }
    }
    (segments, snapshots)
}

/// `shard-<i>` directory indexes under `dir`, and whether any other directory is there.
fn shard_dirs(dir: &Path) -> (Vec<usize>, bool) {
    let (mut shards, mut other) = (Vec::new(), false);
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        match name.strip_prefix("shard-").and_then(|i| i.parse().ok()) {
            Some(i) => shards.push(i),
            None => other = true,
        }
    }
    shards.sort();
    (shards, other)
}

/// Whether the data directory holds only the current layout's files: one directory per shard,
/// each with one snapshot and no journal segment wholly before it.
fn converged(dir: &Path, shards: usize) -> bool {
    let (dirs, other) = shard_dirs(dir);
    dirs == (0..shards).collect::<Vec<_>>()
        && !other
        && (0..shards).all(|i| {
            let (segments, snapshots) = shard_files(dir, i);
            snapshots.len() == 1 && segments.iter().filter(|&&s| s <= snapshots[0]).count() <= 1
        })
}

fn wait_converged(server: &Server, shards: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !converged(&server.dir, shards) {
        let (dirs, _) = shard_dirs(&server.dir);
        let files: Vec<_> = (0..dirs.len())
            .map(|i| shard_files(&server.dir, i))
            .collect();
        assert!(
            Instant::now() < deadline,
            "no convergence to {shards} shards: dirs {dirs:?}, files {files:?}\n{}",
            server.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn after_a_shards_change_old_journals_and_directories_are_deleted_and_every_key_stays() {
    let _serial = serial();
    let (mut server, data) = Dataset::on_new_server(20_000);
    assert!(files(&server.dir, "journal-").len() > 2 * SHARDS);
    server.kill9();

    server.set_arg("shards", "2");
    server.restart();
    wait_converged(&server, 2);
    let mut con = server.client();
    data.check(&mut con, "3 -> 2 shards");
    let _: () = con.set_ex("written-with-2", "yes", 500).unwrap();
    drop(con);
    server.kill9();

    server.set_arg("shards", "4");
    server.restart();
    let mut con = server.client();
    let later: String = con.get("written-with-2").unwrap();
    assert_eq!(later, "yes");
    let ttl: i64 = con.ttl("written-with-2").unwrap();
    assert!((400..=500).contains(&ttl), "TTL {ttl}");
    let _: () = con.del("written-with-2").unwrap();
    data.check(&mut con, "2 -> 4 shards");
    wait_converged(&server, 4);
    drop(con);
    server.kill9();

    // Converged: the next start finds nothing of another layout and keeps everything. (A
    // directory renamed away by a cleanup that a crash cut short is deleted at start.)
    let leftover = server.dir.join("superseded-shard-7");
    std::fs::create_dir(&leftover).unwrap();
    std::fs::write(leftover.join("journal-00000000000000000001.seg"), b"x").unwrap();
    server.restart();
    let mut con = server.client();
    data.check(&mut con, "4 shards again");
    assert!(!server.log().contains("another `shards` layout"));
    assert!(!leftover.exists());
}

#[test]
fn a_crash_once_the_new_layout_is_snapshotted_loses_no_key() {
    let _serial = serial();
    let (mut server, data) = Dataset::on_new_server(10_000);
    // Each SIGKILL lands a little later after every shard's new snapshot is published: before,
    // during or after the deletions.
    let rounds = [(2, 0), (4, 40), (2, 80), (4, 120), (2, 200)];
    for (shards, delay_ms) in rounds {
        let before: Vec<Vec<u64>> = (0..shards).map(|i| shard_files(&server.dir, i).1).collect();
        server.kill9();
        server.set_arg("shards", &shards.to_string());
        server.restart();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(0..shards).all(|i| {
            let (_, snapshots) = shard_files(&server.dir, i);
            snapshots.iter().any(|s| !before[i].contains(s))
        }) {
            assert!(Instant::now() < deadline, "no snapshots: {}", server.log());
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(Duration::from_millis(delay_ms));
        server.kill9();
        eprintln!(
            "killed {delay_ms} ms after the snapshots: {:?}",
            shard_dirs(&server.dir)
        );
        server.restart();
        let mut con = server.client();
        data.check(
            &mut con,
            &format!("killed {delay_ms} ms after the snapshots"),
        );
    }
    wait_converged(&server, 2);
}

/// A slot of many keys (one `{hash tag}`) is written out a range of key hashes at a time, and a
/// write copies out only the keys it changes first; the snapshot must still show one point in
/// time. List pushes are journaled as deltas: a snapshot showing a push made after its LSN would
/// get that push twice from the replay after it.
/// Runs a BGSAVE to its end while one client sends `write(pipe, n)` for n = 0, 1, 2...
/// (pipelined, so that many writes land while the walk runs); returns how many it sent.
fn bgsave_under_writes(
    server: &Server,
    con: &mut redis::Connection,
    write: fn(&mut redis::Pipeline, usize),
) -> usize {
    const BATCH: usize = 50;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, url) = (stop.clone(), server.url());
        thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let mut pipe = redis::pipe();
                for n in n..n + BATCH {
                    write(&mut pipe, n);
                }
                let _: () = pipe.query(&mut con).unwrap();
                n += BATCH;
            }
            n
        })
    };
    thread::sleep(Duration::from_millis(50));
    let reply: String = redis::cmd("BGSAVE").query(con).unwrap();
    assert_eq!(reply, "Background saving started");
    wait_bgsave_done(con);
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().unwrap();
    assert!(writes > 0);
    writes
}

/// Else the restart could have replayed the whole journal and never read the snapshot.
fn assert_snapshot_replaced_journal_start(server: &Server) {
    let journal = files(&server.dir, "journal-");
    assert!(
        !journal
            .iter()
            .any(|f| f.ends_with("journal-00000000000000000001.seg")),
        "the snapshot replaced the journal's start: {journal:?}"
    );
}

#[test]
fn a_big_slot_is_snapshotted_at_one_point_in_time_under_writes() {
    const KEYS: usize = 60_000;
    const LISTS: usize = 50;
    let _serial = serial();
    let mut server = Server::start(1, &[]);
    let mut con = server.client();
    populate(&mut con, "{big}:k", KEYS, big_value);
    let writes = bgsave_under_writes(&server, &mut con, |pipe, n| {
        pipe.rpush(format!("{{big}}:list{}", n % LISTS), n).ignore();
        pipe.set(format!("{{big}}:k{}", n * 7 % KEYS), n).ignore();
        pipe.del(format!("{{big}}:k{}", (n * 13 + 5) % KEYS))
            .ignore();
        pipe.set(format!("{{big}}:new{n}"), n).ignore();
    });
    // The one writer's operations in order give the exact expected state.
    let mut strings: Vec<Option<String>> = (0..KEYS).map(|i| Some(big_value(i))).collect();
    let mut lists: Vec<Vec<String>> = vec![Vec::new(); LISTS];
    for n in 0..writes {
        lists[n % LISTS].push(n.to_string());
        strings[n * 7 % KEYS] = Some(n.to_string());
        strings[(n * 13 + 5) % KEYS] = None;
    }
    drop(con);
    server.kill9();
    server.restart();
    let mut con = server.client();
    for (j, expected) in lists.iter().enumerate() {
        let got: Vec<String> = con.lrange(format!("{{big}}:list{j}"), 0, -1).unwrap();
        assert_eq!(&got, expected, "list {j}");
    }
    for (i, expected) in strings.iter().enumerate() {
        let got: Option<String> = con.get(format!("{{big}}:k{i}")).unwrap();
        assert_eq!(&got, expected, "key {i}");
    }
    let live = strings.iter().flatten().count();
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(dbsize, live + writes + LISTS.min(writes));
    assert_snapshot_replaced_journal_start(&server);
}

/// A snapshot writes a big collection out in parts while writes to it go on: a write to a list
/// or sorted set has what it replaces written out first, and a hash's or set's parts show the
/// writes they saw, which replay makes again. Restored after a crash, each holds exactly what
/// the acknowledged writes made of it: a part written after a write would have the restart apply
/// that write twice (list pushes) or miss elements (pops shift the rest; a sorted set's removed
/// members; a hash's or set's elements moved by a write).
#[test]
fn big_collections_are_snapshotted_at_one_point_in_time_under_writes_to_them() {
    const ELEMENTS: usize = 100_000;
    let _serial = serial();
    let mut server = Server::start(1, &[]);
    let mut con = server.client();
    let mut list: VecDeque<String> = (0..ELEMENTS).map(|i| format!("e{i}")).collect();
    let mut board: HashMap<String, f64> =
        (0..ELEMENTS).map(|i| (format!("m{i}"), i as f64)).collect();
    let mut hash: HashMap<String, String> = (0..ELEMENTS)
        .map(|i| (format!("f{i}"), format!("v{i}")))
        .collect();
    let mut set: HashSet<String> = (0..ELEMENTS).map(|i| format!("s{i}")).collect();
    for chunk in (0..ELEMENTS).collect::<Vec<_>>().chunks(5000) {
        let mut pipe = redis::pipe();
        for &i in chunk {
            pipe.rpush("{l}list", format!("e{i}")).ignore();
            pipe.zadd("{z}board", format!("m{i}"), i).ignore();
            pipe.hset("{h}hash", format!("f{i}"), format!("v{i}"))
                .ignore();
            pipe.sadd("{s}set", format!("s{i}")).ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    let writes = bgsave_under_writes(&server, &mut con, |pipe, n| {
        pipe.rpush("{l}list", format!("n{n}")).ignore();
        if n % 3 == 0 {
            pipe.lpop("{l}list", None).ignore();
        }
        pipe.zincr("{z}board", format!("m{}", n * 7 % ELEMENTS), 1)
            .ignore();
        pipe.zrem("{z}board", format!("m{}", n * 17 % ELEMENTS))
            .ignore();
        pipe.zadd("{z}board", format!("new{n}"), n).ignore();
        pipe.hset("{h}hash", format!("f{}", n * 11 % ELEMENTS), n)
            .ignore();
        pipe.hdel("{h}hash", format!("f{}", n * 19 % ELEMENTS))
            .ignore();
        pipe.hset("{h}hash", format!("new{n}"), n).ignore();
        pipe.sadd("{s}set", format!("n{n}")).ignore();
        pipe.srem("{s}set", format!("s{}", n * 13 % ELEMENTS))
            .ignore();
    });
    // The one writer's operations in order give the exact expected state.
    for n in 0..writes {
        list.push_back(format!("n{n}"));
        if n % 3 == 0 {
            list.pop_front();
        }
        *board.entry(format!("m{}", n * 7 % ELEMENTS)).or_default() += 1.0;
        board.remove(&format!("m{}", n * 17 % ELEMENTS));
        board.insert(format!("new{n}"), n as f64);
        hash.insert(format!("f{}", n * 11 % ELEMENTS), n.to_string());
        hash.remove(&format!("f{}", n * 19 % ELEMENTS));
        hash.insert(format!("new{n}"), n.to_string());
        set.insert(format!("n{n}"));
        set.remove(&format!("s{}", n * 13 % ELEMENTS));
    }
    drop(con);
    server.kill9();
    server.restart();
    let mut con = server.client();
    let got: Vec<String> = con.lrange("{l}list", 0, -1).unwrap();
    assert!(list == got, "the list differs ({} elements)", got.len());
    let got: Vec<(String, f64)> = con.zrange_withscores("{z}board", 0, -1).unwrap();
    assert_eq!(got.into_iter().collect::<HashMap<_, _>>(), board);
    let got: HashMap<String, String> = con.hgetall("{h}hash").unwrap();
    assert_eq!(got, hash);
    let got: HashSet<String> = con.smembers("{s}set").unwrap();
    assert_eq!(got, set);
    assert_snapshot_replaced_journal_start(&server);
}

/// A string longer than a snapshot part (1 MiB) is written out in parts while writes to it go on
/// without waiting (APPEND and SETRANGE change it in place; a SET replaces another). After a
/// crash, the restart loads the parts, replays the journal after them, and each string holds
/// what the acknowledged writes made of it, its TTL kept.
#[test]
fn long_strings_are_snapshotted_in_parts_under_writes_and_restored_after_a_crash() {
    const LEN: usize = (5 << 20) + 3;
    fn blob(seed: usize) -> Vec<u8> {
        (0..LEN)
            .map(|j| b'a' + ((seed + j * 7) % 26) as u8)
            .collect()
    }
    let _serial = serial();
    let mut server = Server::start(1, &[]);
    let mut con = server.client();
    let mut grown = blob(0);
    let _: () = con.set("{s}grown", &grown).unwrap();
    let _: () = con.set_ex("{s}kept", blob(1), 1000).unwrap();
    let _: () = con.set("{s}replaced", blob(2)).unwrap();
    let writes = bgsave_under_writes(&server, &mut con, |pipe, n| {
        pipe.append("{s}grown", format!("<{n}>")).ignore();
        pipe.cmd("SETRANGE")
            .arg("{s}grown")
            .arg(n * 7919 % LEN)
            .arg("#")
            .ignore();
        if n == 0 {
            pipe.set("{s}replaced", "short").ignore();
        }
    });
    for n in 0..writes {
        grown.extend(format!("<{n}>").bytes());
        grown[n * 7919 % LEN] = b'#';
    }
    drop(con);
    server.kill9();
    server.restart();
    let mut con = server.client();
    let got: Vec<u8> = con.get("{s}grown").unwrap();
    assert!(
        got == grown,
        "the grown string differs ({} bytes)",
        got.len()
    );
    let got: Vec<u8> = con.get("{s}kept").unwrap();
    assert!(
        got == blob(1),
        "the kept string differs ({} bytes)",
        got.len()
    );
    let ttl: i64 = con.ttl("{s}kept").unwrap();
    assert!((900..=1000).contains(&ttl), "TTL {ttl}");
    let got: String = con.get("{s}replaced").unwrap();
    assert_eq!(got, "short");
    assert_snapshot_replaced_journal_start(&server);
}

/// A snapshot writes a big stream out in parts (its counters and consumer groups in the first,
/// before any write; ranges of entry IDs after), and writes to it do not wait: the later parts
/// may show some of them, which replay makes up for. Restored after a crash, the stream holds
/// exactly what the acknowledged writes made of it: its entries, counters and pending entries.
#[test]
fn a_big_stream_is_snapshotted_at_one_point_in_time_under_writes_to_it() {
    const ENTRIES: usize = 50_000;
    const READ: usize = 1000;
    let _serial = serial();
    let mut server = Server::start(1, &[]);
    let mut con = server.client();
    for chunk in (0..ENTRIES).collect::<Vec<_>>().chunks(5000) {
        let mut pipe = redis::pipe();
        for &i in chunk {
            pipe.cmd("XADD")
                .arg("{x}stream")
                .arg(format!("{}-0", i + 1))
                .arg("f")
                .arg(i)
                .ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", "{x}stream", "g", "0"])
        .query(&mut con)
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg(&["GROUP", "g", "c", "COUNT", &READ.to_string()])
        .arg(&["STREAMS", "{x}stream", ">"])
        .query(&mut con)
        .unwrap();
    let writes = bgsave_under_writes(&server, &mut con, |pipe, n| {
        pipe.cmd("XADD")
            .arg("{x}stream")
            .arg(format!("{}-0", ENTRIES + n + 1))
            .arg("f")
            .arg(ENTRIES + n)
            .ignore();
        pipe.cmd("XACK")
            .arg(&["{x}stream", "g", &format!("{}-0", n % READ + 1)])
            .ignore();
        if n % 5 == 0 {
            pipe.cmd("XDEL")
                .arg("{x}stream")
                .arg(format!("{}-0", n * 13 % ENTRIES + 1))
                .ignore();
        }
    });
    // The one writer's operations in order give the exact expected state.
    let mut entries: std::collections::BTreeMap<usize, usize> =
        (0..ENTRIES).map(|i| (i + 1, i)).collect();
    let mut pending: HashSet<usize> = (1..=READ).collect();
    let mut max_deleted = 0;
    for n in 0..writes {
        entries.insert(ENTRIES + n + 1, ENTRIES + n);
        pending.remove(&(n % READ + 1));
        if n % 5 == 0 {
            let id = n * 13 % ENTRIES + 1;
            if entries.remove(&id).is_some() {
                max_deleted = max_deleted.max(id);
            }
        }
    }
    drop(con);
    server.kill9();
    server.restart();
    let mut con = server.client();
    assert_stream_entries(&mut con, "{x}stream", &entries);
    let info: HashMap<String, redis::Value> = redis::cmd("XINFO")
        .arg(&["STREAM", "{x}stream"])
        .query(&mut con)
        .unwrap();
    let field = |name: &str| -> String { redis::from_redis_value(&info[name]).unwrap() };
    assert_eq!(field("entries-added"), (ENTRIES + writes).to_string());
    assert_eq!(field("max-deleted-entry-id"), format!("{max_deleted}-0"));
    assert_eq!(
        field("last-generated-id"),
        format!("{}-0", ENTRIES + writes)
    );
    let got: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(&["{x}stream", "g", "-", "+", "1000000"])
        .query(&mut con)
        .unwrap();
    let got: HashSet<usize> = got
        .iter()
        .map(|(id, _, _, _)| id.trim_end_matches("-0").parse().unwrap())
        .collect();
    assert_eq!(got, pending);
    assert_snapshot_replaced_journal_start(&server);
}

/// A big hash, set and stream that RENAME moves from key to key while a snapshot writes them out
/// (each rename from where the last one put it) come back after a crash holding exactly what the
/// acknowledged writes made of them: the snapshot reads their later parts where they went, and
/// replay makes up for the writes those parts saw.
#[test]
fn big_hashes_sets_and_streams_renamed_during_a_snapshot_come_back_whole() {
    const ELEMENTS: usize = 50_000;
    /// Where the renames put a value after the first `n` writes.
    fn at(kind: &str, n: usize) -> String {
        format!("{{{kind}}}at{}", n % 2)
    }
    let _serial = serial();
    let mut server = Server::start(1, &[]);
    let mut con = server.client();
    for chunk in (0..ELEMENTS).collect::<Vec<_>>().chunks(5000) {
        let mut pipe = redis::pipe();
        for &i in chunk {
            pipe.hset(at("h", 0), format!("f{i}"), i).ignore();
            pipe.sadd(at("s", 0), format!("s{i}")).ignore();
            pipe.cmd("XADD")
                .arg(at("x", 0))
                .arg(format!("{}-0", i + 1))
                .arg("f")
                .arg(i)
                .ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    let writes = bgsave_under_writes(&server, &mut con, |pipe, n| {
        let (h, s, x) = (at("h", n), at("s", n), at("x", n));
        pipe.hset(&h, format!("f{}", n * 11 % ELEMENTS), n).ignore();
        pipe.hdel(&h, format!("f{}", n * 19 % ELEMENTS)).ignore();
        pipe.sadd(&s, format!("n{n}")).ignore();
        pipe.srem(&s, format!("s{}", n * 13 % ELEMENTS)).ignore();
        pipe.cmd("XADD")
            .arg(&x)
            .arg(format!("{}-0", ELEMENTS + n + 1))
            .arg("f")
            .arg(ELEMENTS + n)
            .ignore();
        pipe.cmd("XDEL")
            .arg(&x)
            .arg(format!("{}-0", n * 7 % ELEMENTS + 1))
            .ignore();
        for (from, kind) in [(h, "h"), (s, "s"), (x, "x")] {
            pipe.rename(from, at(kind, n + 1)).ignore();
        }
    });
    // The one writer's operations in order give the exact expected state.
    let mut hash: HashMap<String, String> = (0..ELEMENTS)
        .map(|i| (format!("f{i}"), i.to_string()))
        .collect();
    let mut set: HashSet<String> = (0..ELEMENTS).map(|i| format!("s{i}")).collect();
    let mut entries: std::collections::BTreeMap<usize, usize> =
        (0..ELEMENTS).map(|i| (i + 1, i)).collect();
    for n in 0..writes {
        hash.insert(format!("f{}", n * 11 % ELEMENTS), n.to_string());
        hash.remove(&format!("f{}", n * 19 % ELEMENTS));
        set.insert(format!("n{n}"));
        set.remove(&format!("s{}", n * 13 % ELEMENTS));
        entries.insert(ELEMENTS + n + 1, ELEMENTS + n);
        entries.remove(&(n * 7 % ELEMENTS + 1));
    }
    drop(con);
    server.kill9();
    server.restart();
    let mut con = server.client();
    for kind in ["h", "s", "x"] {
        let left: bool = con.exists(at(kind, writes + 1)).unwrap();
        assert!(!left, "{kind}: a value is left where it was renamed from");
    }
    let got: HashMap<String, String> = con.hgetall(at("h", writes)).unwrap();
    assert!(got == hash, "the hash differs ({} fields)", got.len());
    let got: HashSet<String> = con.smembers(at("s", writes)).unwrap();
    assert!(got == set, "the set differs ({} members)", got.len());
    assert_stream_entries(&mut con, &at("x", writes), &entries);
    assert_snapshot_replaced_journal_start(&server);
}

/// That stream `key` holds exactly `entries`: ID `<id>-0` with field `f` set to the value.
fn assert_stream_entries(
    con: &mut redis::Connection,
    key: &str,
    entries: &std::collections::BTreeMap<usize, usize>,
) {
    let got: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg(&[key, "-", "+"])
        .query(con)
        .unwrap();
    let expected: Vec<(String, Vec<String>)> = entries
        .iter()
        .map(|(id, v)| (format!("{id}-0"), vec!["f".to_string(), v.to_string()]))
        .collect();
    assert!(
        got == expected,
        "{key}: the entries differ ({} of them)",
        got.len()
    );
}
