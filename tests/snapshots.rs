//! Snapshots: SAVE/BGSAVE write each shard's keyspace as of one journal LSN; after a SIGKILL the
//! server comes back from the snapshots plus the journal after them, and the journal before them
//! is deleted.

mod common;

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

fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for shard in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        if !shard.file_name().to_string_lossy().starts_with("shard-") {
            continue;
        }
        for f in std::fs::read_dir(shard.path())
            .unwrap()
            .filter_map(Result::ok)
        {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix) && !name.ends_with(".tmp") {
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
