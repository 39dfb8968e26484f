//! The generic keyspace commands: DEL, UNLINK, EXISTS, TOUCH, TYPE, KEYS, SCAN, RANDOMKEY, RENAME,
//! RENAMENX, COPY, MOVE, SWAPDB, FLUSHDB, FLUSHALL, OBJECT — with keys on several shards.
//!
//! Key placement with 3 shards (slots 0..5461, 5461..10922, 10922..16384), from the Redis Cluster
//! hash: `a` is in slot 15495 (shard 2), `b` in 3300 (shard 0), `c` in 7365 (shard 1). Keys with
//! the same `{tag}` share a shard.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{error, int, run, Server};
use redis::{Connection, Value};

fn start() -> Server {
    Server::start(3, &["--appendonly", "no"])
}

/// A bulk string reply, or None for nil.
fn bulk(con: &mut Connection, args: &[&str]) -> Option<String> {
    match run(con, args) {
        Value::Nil => None,
        Value::BulkString(b) => Some(String::from_utf8(b).unwrap()),
        other => panic!("{args:?}: expected a bulk string, got {other:?}"),
    }
}

fn strings(value: Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::BulkString(b) => String::from_utf8(b).unwrap(),
                other => panic!("expected a bulk string, got {other:?}"),
            })
            .collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

fn set_many(con: &mut Connection, keys: &[String]) {
    for chunk in keys.chunks(100) {
        let mut cmd = redis::cmd("MSET");
        for k in chunk {
            cmd.arg(k).arg(k);
        }
        let _: () = cmd.query(con).unwrap();
    }
}

/// One SCAN call: the next cursor and the keys.
fn scan_once(con: &mut Connection, cursor: &str, opts: &[&str]) -> (String, Vec<String>) {
    let mut args = vec!["SCAN", cursor];
    args.extend_from_slice(opts);
    match run(con, &args) {
        Value::Array(mut parts) if parts.len() == 2 => {
            let keys = strings(parts.pop().unwrap());
            let Value::BulkString(cursor) = parts.pop().unwrap() else {
                panic!("the cursor must be a bulk string");
            };
            (String::from_utf8(cursor).unwrap(), keys)
        }
        other => panic!("SCAN: unexpected reply {other:?}"),
    }
}

/// A full SCAN iteration: every key returned (with repeats), and how many calls it took.
fn scan_all(con: &mut Connection, opts: &[&str]) -> (Vec<String>, usize) {
    let (mut cursor, mut all, mut calls) = ("0".to_string(), Vec::new(), 0);
    loop {
        let (next, keys) = scan_once(con, &cursor, opts);
        calls += 1;
        all.extend(keys);
        if next == "0" {
            return (all, calls);
        }
        assert!(calls < 100_000, "SCAN does not end");
        cursor = next;
    }
}

#[test]
fn del_unlink_exists_and_touch_count_keys_on_every_shard() {
    let server = start();
    let mut con = server.client();
    run(&mut con, &["MSET", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(int(&mut con, &["EXISTS", "a", "b", "c", "nokey", "a"]), 4);
    assert_eq!(int(&mut con, &["TOUCH", "a", "b", "nokey", "b"]), 3);
    assert_eq!(int(&mut con, &["DEL", "a", "b", "nokey", "a"]), 2);
    assert_eq!(int(&mut con, &["UNLINK", "c", "c"]), 1);
    assert_eq!(int(&mut con, &["EXISTS", "a", "b", "c"]), 0);
    assert_eq!(int(&mut con, &["DBSIZE"]), 0);
}

#[test]
fn del_does_not_count_a_key_that_already_expired() {
    let server = start();
    let mut con = server.client();
    run(&mut con, &["SET", "a", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(int(&mut con, &["DEL", "a"]), 0);
    assert_eq!(int(&mut con, &["EXISTS", "a"]), 0);
}

#[test]
fn type_names_the_value_type_or_none() {
    let server = start();
    let mut con = server.client();
    run(&mut con, &["SET", "a", "1"]);
    assert_eq!(
        run(&mut con, &["TYPE", "a"]),
        Value::SimpleString("string".into())
    );
    assert_eq!(
        run(&mut con, &["TYPE", "nokey"]),
        Value::SimpleString("none".into())
    );
}

#[test]
fn keys_gathers_matches_from_every_shard() {
    let server = start();
    let mut con = server.client();
    let users: Vec<String> = (0..40).map(|i| format!("user:{i}")).collect();
    let others: Vec<String> = (0..40).map(|i| format!("other:{i}")).collect();
    set_many(&mut con, &users);
    set_many(&mut con, &others);
    run(&mut con, &["SET", "user:gone", "x", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    let mut found = strings(run(&mut con, &["KEYS", "user:*"]));
    found.sort();
    let mut expected = users.clone();
    expected.sort();
    assert_eq!(found, expected, "expired keys are not listed");
    assert_eq!(strings(run(&mut con, &["KEYS", "*"])).len(), 80);
    let mut one_digit = strings(run(&mut con, &["KEYS", "other:?"]));
    one_digit.sort();
    assert_eq!(
        one_digit,
        (0..10).map(|i| format!("other:{i}")).collect::<Vec<_>>()
    );
    assert!(strings(run(&mut con, &["KEYS", "nothing*"])).is_empty());
}

#[test]
fn randomkey_returns_existing_keys_from_all_shards_and_nil_when_empty() {
    let server = start();
    let mut con = server.client();
    assert_eq!(run(&mut con, &["RANDOMKEY"]), Value::Nil);
    run(&mut con, &["MSET", "a", "1", "b", "2", "c", "3"]);
    let mut seen = HashSet::new();
    for _ in 0..60 {
        let key = bulk(&mut con, &["RANDOMKEY"]).expect("a key");
        assert!(["a", "b", "c"].contains(&key.as_str()), "{key}");
        seen.insert(key);
    }
    assert!(seen.len() > 1, "RANDOMKEY always picked {seen:?}");
}

#[test]
fn scan_returns_every_key_of_every_shard_exactly_once() {
    let server = start();
    let mut con = server.client();
    let keys: Vec<String> = (0..2000).map(|i| format!("key:{i}")).collect();
    set_many(&mut con, &keys);
    let (found, calls) = scan_all(&mut con, &[]);
    let unique: HashSet<&String> = found.iter().collect();
    assert_eq!(unique.len(), 2000);
    assert_eq!(found.len(), 2000, "no key is returned twice");
    assert!(unique.iter().all(|k| keys.contains(k)));
    // The default COUNT is 10: many small pages, not one big one.
    assert!((100..=300).contains(&calls), "{calls} calls");
}

#[test]
fn scan_match_type_and_count_filter_and_size_pages() {
    let server = start();
    let mut con = server.client();
    let keys: Vec<String> = (0..2000).map(|i| format!("key:{i}")).collect();
    set_many(&mut con, &keys);

    let (mut matched, _) = scan_all(&mut con, &["MATCH", "key:1?"]);
    matched.sort();
    let mut expected: Vec<String> = (10..20).map(|i| format!("key:{i}")).collect();
    expected.sort();
    assert_eq!(matched, expected);

    let (strings_only, _) = scan_all(&mut con, &["TYPE", "STRING"]);
    assert_eq!(strings_only.len(), 2000);
    let (lists, _) = scan_all(&mut con, &["TYPE", "list"]);
    assert!(lists.is_empty());
    let (unknown, _) = scan_all(&mut con, &["TYPE", "nosuchtype"]);
    assert!(unknown.is_empty());

    // A COUNT larger than the keyspace: one call per shard.
    let (all, calls) = scan_all(&mut con, &["COUNT", "100000", "MATCH", "*"]);
    assert_eq!((all.len(), calls), (2000, 3));
    let (all, calls) = scan_all(&mut con, &["COUNT", "100"]);
    assert_eq!(all.len(), 2000);
    assert!((10..=30).contains(&calls), "{calls} calls");
}

#[test]
fn scan_rejects_bad_cursors_and_options() {
    let server = start();
    let mut con = server.client();
    run(&mut con, &["SET", "b", "1"]); // shard 0, the first a scan visits
    for cursor in ["abc", "-1", "18446744073709551616", " 5"] {
        assert_eq!(
            error(&mut con, &["SCAN", cursor]),
            "ERR invalid cursor",
            "{cursor:?}"
        );
    }
    assert_eq!(
        error(&mut con, &["SCAN", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut con, &["SCAN", "0", "COUNT", "ten"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(error(&mut con, &["SCAN", "0", "MATCH"]), "ERR syntax error");
    assert_eq!(
        error(&mut con, &["SCAN", "0", "FOO", "bar"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut con, &["SCAN"]),
        "ERR wrong number of arguments for 'scan' command"
    );
    // As in Redis, an empty cursor is 0, and `+` and leading zeros are accepted.
    assert_eq!(scan_once(&mut con, "", &["COUNT", "100000"]).1, vec!["b"]);
    assert_eq!(
        scan_once(&mut con, "+00", &["COUNT", "100000"]).1,
        vec!["b"]
    );
    // A cursor past the last slot ends the iteration.
    let (next, keys) = scan_once(&mut con, "18446744073709551615", &[]);
    assert_eq!((next.as_str(), keys.len()), ("0", 0));
}

#[test]
fn scan_returns_keys_present_throughout_despite_concurrent_writes() {
    let server = start();
    let mut con = server.client();
    let stable: Vec<String> = (0..1000).map(|i| format!("stable:{i}")).collect();
    set_many(&mut con, &stable);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut con = server.client();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _: () = redis::cmd("SET")
                    .arg(format!("churn:{i}"))
                    .arg(i)
                    .query(&mut con)
                    .unwrap();
                if i % 2 == 1 {
                    let _: i64 = redis::cmd("DEL")
                        .arg(format!("churn:{}", i - 1))
                        .query(&mut con)
                        .unwrap();
                }
                i += 1;
            }
            i
        })
    };
    for _ in 0..3 {
        let (found, _) = scan_all(&mut con, &["COUNT", "20"]);
        let found: HashSet<String> = found.into_iter().collect();
        let missing: Vec<&String> = stable.iter().filter(|k| !found.contains(*k)).collect();
        assert!(missing.is_empty(), "SCAN missed {missing:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().unwrap();
    assert!(writes > 0, "the writer ran alongside the scans");
}

/// Key pairs on one shard and on two shards, so that both the local and the coordinated paths run.
const PAIRS: [(&str, &str); 2] = [("{t}src", "{t}dst"), ("a", "b")];

#[test]
fn rename_moves_value_and_ttl_and_overwrites_the_destination() {
    let server = start();
    let mut con = server.client();
    for (src, dst) in PAIRS {
        run(&mut con, &["SET", src, "v1", "EX", "100"]);
        run(&mut con, &["SET", dst, "old"]);
        assert_eq!(run(&mut con, &["RENAME", src, dst]), Value::Okay);
        assert_eq!(bulk(&mut con, &["GET", dst]).as_deref(), Some("v1"));
        assert_eq!(int(&mut con, &["EXISTS", src]), 0);
        let ttl = int(&mut con, &["TTL", dst]);
        assert!(
            (99..=100).contains(&ttl),
            "{src}->{dst}: the TTL moves along, got {ttl}"
        );
        assert_eq!(error(&mut con, &["RENAME", src, dst]), "ERR no such key");
        assert_eq!(run(&mut con, &["RENAME", dst, dst]), Value::Okay);
        assert_eq!(bulk(&mut con, &["GET", dst]).as_deref(), Some("v1"));
        run(&mut con, &["DEL", dst]);
    }
}

#[test]
fn renamenx_only_renames_onto_a_missing_key() {
    let server = start();
    let mut con = server.client();
    for (src, dst) in PAIRS {
        run(&mut con, &["SET", src, "v1"]);
        run(&mut con, &["SET", dst, "v2"]);
        assert_eq!(int(&mut con, &["RENAMENX", src, dst]), 0);
        assert_eq!(bulk(&mut con, &["GET", src]).as_deref(), Some("v1"));
        assert_eq!(bulk(&mut con, &["GET", dst]).as_deref(), Some("v2"));
        assert_eq!(int(&mut con, &["RENAMENX", src, src]), 0);
        run(&mut con, &["DEL", dst]);
        assert_eq!(int(&mut con, &["RENAMENX", src, dst]), 1);
        assert_eq!(bulk(&mut con, &["GET", dst]).as_deref(), Some("v1"));
        assert_eq!(int(&mut con, &["EXISTS", src]), 0);
        assert_eq!(error(&mut con, &["RENAMENX", src, dst]), "ERR no such key");
        assert_eq!(
            error(&mut con, &["RENAMENX", src, "nokey"]),
            "ERR no such key"
        );
        run(&mut con, &["DEL", dst]);
    }
}

/// While one client renames `a` to `b` and back (two shards), another reading both atomically
/// always finds exactly one of them.
#[test]
fn rename_across_shards_is_atomic_under_concurrent_mget() {
    let server = start();
    let mut con = server.client();
    run(&mut con, &["SET", "a", "v"]);
    let stop = Arc::new(AtomicBool::new(false));
    let renamer = {
        let stop = stop.clone();
        let mut con = server.client();
        std::thread::spawn(move || {
            let mut renames = 0;
            while !stop.load(Ordering::Relaxed) {
                let (from, to) = if renames % 2 == 0 {
                    ("a", "b")
                } else {
                    ("b", "a")
                };
                let _: () = redis::cmd("RENAME")
                    .arg(from)
                    .arg(to)
                    .query(&mut con)
                    .unwrap();
                renames += 1;
            }
            renames
        })
    };
    let mut reads = 0;
    let mut counts: HashMap<usize, usize> = HashMap::new();
    while reads < 2000 {
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg("a")
            .arg("b")
            .query(&mut con)
            .unwrap();
        *counts.entry(values.iter().flatten().count()).or_default() += 1;
        reads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let renames = renamer.join().unwrap();
    assert!(
        renames > 10,
        "the renamer ran alongside ({renames} renames)"
    );
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        vec![1],
        "{counts:?}"
    );
}

#[test]
fn copy_duplicates_value_and_ttl_and_honours_replace() {
    let server = start();
    let mut con = server.client();
    for (src, dst) in PAIRS {
        run(&mut con, &["SET", src, "v1", "EX", "100"]);
        assert_eq!(int(&mut con, &["COPY", src, dst]), 1);
        assert_eq!(bulk(&mut con, &["GET", dst]).as_deref(), Some("v1"));
        assert_eq!(bulk(&mut con, &["GET", src]).as_deref(), Some("v1"));
        assert!(int(&mut con, &["TTL", dst]) > 90, "the TTL is copied");
        run(&mut con, &["SET", src, "v2"]);
        assert_eq!(int(&mut con, &["COPY", src, dst]), 0);
        assert_eq!(bulk(&mut con, &["GET", dst]).as_deref(), Some("v1"));
        assert_eq!(int(&mut con, &["COPY", src, dst, "REPLACE"]), 1);
        assert_eq!(bulk(&mut con, &["GET", dst]).as_deref(), Some("v2"));
        assert_eq!(
            int(&mut con, &["TTL", dst]),
            -1,
            "REPLACE drops the old TTL"
        );
        assert_eq!(int(&mut con, &["COPY", "nokey", dst, "REPLACE"]), 0);
        run(&mut con, &["DEL", src, dst]);
    }
}

#[test]
fn copy_rejects_bad_options() {
    let server = start();
    let mut con = server.client();
    run(&mut con, &["SET", "a", "1"]);
    let same = "ERR source and destination objects are the same";
    assert_eq!(error(&mut con, &["COPY", "a", "a"]), same);
    assert_eq!(error(&mut con, &["COPY", "a", "a", "DB", "0"]), same);
    for dst in ["{a}x", "b"] {
        assert_eq!(
            error(&mut con, &["COPY", "a", dst, "DB", "99"]),
            "ERR DB index is out of range"
        );
        assert_eq!(
            error(&mut con, &["COPY", "a", dst, "DB", "one"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error(&mut con, &["COPY", "a", dst, "FOO"]),
            "ERR syntax error"
        );
        assert_eq!(
            error(&mut con, &["COPY", "a", dst, "DB"]),
            "ERR syntax error"
        );
    }
}

/// Database 1's content is read by swapping it with database 0 (SELECT is another family's).
fn in_db1<T>(con: &mut Connection, f: impl FnOnce(&mut Connection) -> T) -> T {
    assert_eq!(run(con, &["SWAPDB", "0", "1"]), Value::Okay);
    let result = f(con);
    assert_eq!(run(con, &["SWAPDB", "0", "1"]), Value::Okay);
    result
}

#[test]
fn copy_to_another_database_on_the_same_or_another_shard() {
    let server = start();
    let mut con = server.client();
    run(&mut con, &["SET", "a", "v1"]);
    assert_eq!(int(&mut con, &["COPY", "a", "a", "DB", "1"]), 1);
    assert_eq!(int(&mut con, &["COPY", "a", "b", "DB", "1"]), 1);
    assert_eq!(int(&mut con, &["COPY", "a", "b", "DB", "1"]), 0);
    run(&mut con, &["SET", "a", "v2"]);
    assert_eq!(int(&mut con, &["COPY", "a", "b", "DB", "1", "REPLACE"]), 1);
    let copies = in_db1(&mut con, |con| {
        (
            bulk(con, &["GET", "a"]),
            bulk(con, &["GET", "b"]),
            int(con, &["DBSIZE"]),
        )
    });
    assert_eq!(copies, (Some("v1".into()), Some("v2".into()), 2));
    assert_eq!(
        int(&mut con, &["EXISTS", "b"]),
        0,
        "database 0 is unchanged"
    );
}

#[test]
fn move_sends_a_key_to_another_database() {
    let server = start();
    let mut con = server.client();
    for key in ["a", "b", "c"] {
        run(&mut con, &["SET", key, key, "EX", "100"]);
        assert_eq!(int(&mut con, &["MOVE", key, "1"]), 1);
        assert_eq!(int(&mut con, &["EXISTS", key]), 0);
    }
    run(&mut con, &["SET", "a", "again"]);
    assert_eq!(int(&mut con, &["MOVE", "a", "1"]), 0, "the target has it");
    assert_eq!(int(&mut con, &["MOVE", "nokey", "1"]), 0);
    let moved = in_db1(&mut con, |con| {
        (
            bulk(con, &["GET", "c"]),
            int(con, &["TTL", "c"]),
            int(con, &["DBSIZE"]),
        )
    });
    assert_eq!(moved.0.as_deref(), Some("c"));
    assert!(moved.1 > 90, "the TTL moves along");
    assert_eq!(moved.2, 3);
    assert_eq!(bulk(&mut con, &["GET", "a"]).as_deref(), Some("again"));
    assert_eq!(
        error(&mut con, &["MOVE", "a", "0"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        error(&mut con, &["MOVE", "a", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        error(&mut con, &["MOVE", "a", "-1"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        error(&mut con, &["MOVE", "a", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        error(&mut con, &["MOVE", "a", "2147483648"]),
        "ERR value is out of range, value must between -2147483648 and 2147483647"
    );
}

#[test]
fn swapdb_swaps_every_shard_and_checks_indexes() {
    let server = start();
    let mut con = server.client();
    run(&mut con, &["MSET", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(run(&mut con, &["SWAPDB", "0", "1"]), Value::Okay);
    assert_eq!(int(&mut con, &["DBSIZE"]), 0);
    assert_eq!(run(&mut con, &["SWAPDB", "1", "0"]), Value::Okay);
    assert_eq!(int(&mut con, &["EXISTS", "a", "b", "c"]), 3);
    assert_eq!(
        error(&mut con, &["SWAPDB", "x", "0"]),
        "ERR invalid first DB index"
    );
    assert_eq!(
        error(&mut con, &["SWAPDB", "0", "x"]),
        "ERR invalid second DB index"
    );
    assert_eq!(
        error(&mut con, &["SWAPDB", "0", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        error(&mut con, &["SWAPDB", "-1", "0"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        int(&mut con, &["DBSIZE"]),
        3,
        "a refused SWAPDB changes nothing"
    );
}

#[test]
fn flushdb_empties_the_current_database_and_flushall_every_database() {
    let server = start();
    let mut con = server.client();
    let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
    set_many(&mut con, &keys);
    run(&mut con, &["SET", "in1", "x"]);
    assert_eq!(int(&mut con, &["MOVE", "in1", "1"]), 1);
    assert_eq!(error(&mut con, &["FLUSHDB", "LATER"]), "ERR syntax error");
    assert_eq!(
        error(&mut con, &["FLUSHDB", "ASYNC", "SYNC"]),
        "ERR syntax error"
    );
    assert_eq!(
        int(&mut con, &["DBSIZE"]),
        300,
        "a refused FLUSHDB changes nothing"
    );
    assert_eq!(run(&mut con, &["FLUSHDB", "async"]), Value::Okay);
    assert_eq!(int(&mut con, &["DBSIZE"]), 0);
    assert_eq!(in_db1(&mut con, |con| int(con, &["DBSIZE"])), 1);
    set_many(&mut con, &keys);
    assert_eq!(error(&mut con, &["FLUSHALL", "NOW"]), "ERR syntax error");
    assert_eq!(run(&mut con, &["FLUSHALL", "SYNC"]), Value::Okay);
    assert_eq!(int(&mut con, &["DBSIZE"]), 0);
    assert_eq!(in_db1(&mut con, |con| int(con, &["DBSIZE"])), 0);
    set_many(&mut con, &keys[..3]);
    assert_eq!(run(&mut con, &["FLUSHALL"]), Value::Okay);
    assert_eq!(int(&mut con, &["DBSIZE"]), 0);
}

#[test]
fn object_reports_encoding_refcount_and_help() {
    let server = start();
    let mut con = server.client();
    run(&mut con, &["MSET", "a", "1", "b", "10000", "c", "hello"]);
    run(&mut con, &["SET", "long", &"x".repeat(45)]);
    assert_eq!(
        bulk(&mut con, &["OBJECT", "ENCODING", "a"]).as_deref(),
        Some("int")
    );
    assert_eq!(
        bulk(&mut con, &["object", "encoding", "c"]).as_deref(),
        Some("embstr")
    );
    assert_eq!(
        bulk(&mut con, &["OBJECT", "ENCODING", "long"]).as_deref(),
        Some("raw")
    );
    assert_eq!(run(&mut con, &["OBJECT", "ENCODING", "nokey"]), Value::Nil);
    // Small integers are shared objects in Redis.
    assert_eq!(int(&mut con, &["OBJECT", "REFCOUNT", "a"]), 2147483647);
    assert_eq!(int(&mut con, &["OBJECT", "REFCOUNT", "b"]), 1);
    assert_eq!(run(&mut con, &["OBJECT", "REFCOUNT", "nokey"]), Value::Nil);
    assert_eq!(int(&mut con, &["OBJECT", "IDLETIME", "c"]), 0);
    assert!(error(&mut con, &["OBJECT", "FREQ", "c"])
        .starts_with("ERR An LFU maxmemory policy is not selected"));
    assert_eq!(run(&mut con, &["OBJECT", "FREQ", "nokey"]), Value::Nil);
    let Value::Array(help) = run(&mut con, &["OBJECT", "HELP"]) else {
        panic!("OBJECT HELP is an array");
    };
    assert_eq!(
        help[0],
        Value::SimpleString(
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into()
        )
    );
    assert_eq!(
        error(&mut con, &["OBJECT", "FOO", "a"]),
        "ERR unknown subcommand 'FOO'. Try OBJECT HELP."
    );
    assert_eq!(
        error(&mut con, &["OBJECT", "ENCODING"]),
        "ERR wrong number of arguments for 'object|encoding' command"
    );
}

#[test]
fn scan_on_a_cluster_shard_port_covers_only_that_shards_keys() {
    let server = Server::start(3, &["--appendonly", "no", "--cluster-enabled", "yes"]);
    let mut con = server.client();
    let keys: Vec<String> = (0..600).map(|i| format!("key:{i}")).collect();
    set_many(&mut con, &keys);
    let mut union = HashSet::new();
    for shard in 0..3u16 {
        let url = format!("redis://127.0.0.1:{}/", server.port + 1 + shard);
        let mut shard_con = redis::Client::open(url).unwrap().get_connection().unwrap();
        let (found, _) = scan_all(&mut shard_con, &["COUNT", "50"]);
        assert_eq!(
            found.len() as i64,
            int(&mut shard_con, &["DBSIZE"]),
            "shard {shard}"
        );
        assert!(found.len() < 600, "shard {shard} sees only its own keys");
        union.extend(found);
    }
    assert_eq!(union.len(), 600);
}

/// One hash slot of tens of thousands of keys (one `{tag}`): its table grows and shrinks by moving
/// keys a step at a time while commands run, and every key stays readable, deletable and scanned
/// exactly once throughout (lookups and SCAN see both tables of a move).
#[test]
fn one_slot_of_many_keys_grows_and_shrinks_keeping_every_key() {
    let server = start();
    let mut con = server.client();
    let keys: Vec<String> = (0..60_000).map(|i| format!("{{big}}:{i}")).collect();
    set_many(&mut con, &keys);
    assert_eq!(int(&mut con, &["DBSIZE"]), 60_000);
    for chunk in keys.chunks(500).step_by(7) {
        let got: Vec<Option<String>> = redis::cmd("MGET").arg(chunk).query(&mut con).unwrap();
        let expected: Vec<Option<String>> = chunk.iter().map(|k| Some(k.clone())).collect();
        assert_eq!(got, expected);
    }
    // Deleting all but 10,000 shrinks the table; SCANs meanwhile see each key once.
    let (doomed, kept) = keys.split_at(50_000);
    for (i, chunk) in doomed.chunks(1000).enumerate() {
        let mut del = redis::cmd("DEL");
        del.arg(chunk);
        assert_eq!(del.query::<i64>(&mut con).unwrap(), 1000);
        let (scanned, _) = scan_all(&mut con, &["COUNT", "1000"]);
        let unique: HashSet<&String> = scanned.iter().collect();
        assert_eq!(unique.len(), scanned.len(), "SCAN repeated a key");
        assert_eq!(scanned.len(), 60_000 - 1000 * (i + 1));
    }
    assert_eq!(int(&mut con, &["DBSIZE"]), 10_000);
    let left: HashSet<String> = scan_all(&mut con, &[]).0.into_iter().collect();
    assert_eq!(left, kept.iter().cloned().collect());
    assert_eq!(int(&mut con, &["EXISTS", &doomed[123], &kept[456]]), 1);
}

#[test]
fn activerehashing_is_a_config_directive() {
    let server = start();
    let mut con = server.client();
    let get = |con: &mut Connection| -> Vec<String> {
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("activerehashing")
            .query(con)
            .unwrap()
    };
    assert_eq!(get(&mut con), ["activerehashing", "yes"]);
    run(&mut con, &["CONFIG", "SET", "activerehashing", "no"]);
    assert_eq!(get(&mut con), ["activerehashing", "no"]);
    assert!(
        error(&mut con, &["CONFIG", "SET", "activerehashing", "maybe"]).contains("activerehashing")
    );
}

/// Waits until no shard has a big value left to free; returns how many were handed over.
fn wait_lazyfree_done(con: &mut Connection) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while common::info_section_field(con, "memory", "lazyfree_pending_objects") != "0" {
        assert!(std::time::Instant::now() < deadline, "still freeing");
        std::thread::sleep(Duration::from_millis(20));
    }
    common::info_section_field(con, "memory", "lazyfreed_objects")
        .parse()
        .unwrap()
}

/// Big collections that DEL, UNLINK, an overwrite, expiry or FLUSHALL let go of are gone at once
/// for clients and freed in steps behind them (INFO's lazyfree counters show it), and their
/// keys can be used again meanwhile.
#[test]
fn big_values_let_go_of_are_freed_in_steps_and_their_keys_are_free_at_once() {
    const ELEMENTS: usize = 20_000;
    let server = start();
    let mut con = server.client();
    let fill = |con: &mut Connection, key: &str| {
        for chunk in (0..ELEMENTS).collect::<Vec<_>>().chunks(5000) {
            let mut add = vec!["ZADD", key];
            let members: Vec<String> = chunk.iter().map(|i| format!("m{i}")).collect();
            for member in &members {
                add.extend(["1", member.as_str()]);
            }
            run(con, &add);
        }
        assert_eq!(int(con, &["ZCARD", key]), ELEMENTS as i64);
    };
    assert_eq!(
        common::info_section_field(&mut con, "memory", "lazyfreed_objects"),
        "0"
    );
    for key in ["a", "b", "c", "{a}2", "{a}3"] {
        fill(&mut con, key);
    }
    assert_eq!(int(&mut con, &["DEL", "a"]), 1);
    assert_eq!(int(&mut con, &["UNLINK", "b"]), 1);
    run(&mut con, &["SET", "c", "now a string"]);
    assert_eq!(int(&mut con, &["PEXPIRE", "{a}2", "1"]), 1);
    // Used again before the old values are freed.
    assert_eq!(int(&mut con, &["ZADD", "a", "5", "x"]), 1);
    assert_eq!(
        bulk(&mut con, &["GET", "c"]).as_deref(),
        Some("now a string")
    );
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(int(&mut con, &["EXISTS", "{a}2"]), 0);
    assert_eq!(wait_lazyfree_done(&mut con), 4);
    assert_eq!(strings(run(&mut con, &["ZRANGE", "a", "0", "-1"])), ["x"]);
    // FLUSHALL lets go of every database's tables on every shard (those holding keys).
    run(&mut con, &["FLUSHALL"]);
    assert_eq!(int(&mut con, &["DBSIZE"]), 0);
    assert!(wait_lazyfree_done(&mut con) > 4);
}

/// The memory big values held goes back to the OS once they are deleted: the big blocks a shard
/// frees are unmapped a step at a time, and the few it keeps for its next big blocks are given
/// back once it stops using them (a server holding on to them kept 40 MB of these 80).
#[test]
fn the_memory_of_big_values_deleted_goes_back_to_the_os() {
    const VALUES: usize = 8;
    const VALUE_BYTES: usize = 10_000_000;
    let server = Server::start(1, &["--appendonly", "no"]);
    let mut con = server.client();
    let rss = |con: &mut Connection| -> usize {
        common::info_section_field(con, "memory", "used_memory_rss")
            .parse()
            .unwrap()
    };
    let value = vec![b'x'; VALUE_BYTES];
    for i in 0..VALUES {
        redis::cmd("SET")
            .arg(format!("big{i}"))
            .arg(&value)
            .query::<()>(&mut con)
            .unwrap();
    }
    let with_values = rss(&mut con);
    let keys: Vec<String> = (0..VALUES).map(|i| format!("big{i}")).collect();
    let deleted: usize = redis::cmd("DEL").arg(&keys).query(&mut con).unwrap();
    assert_eq!(deleted, VALUES);
    let expected_drop = VALUES * VALUE_BYTES * 3 / 4;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = rss(&mut con);
        if now + expected_drop <= with_values {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "RSS {with_values} bytes with the values, still {now} after deleting them"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
