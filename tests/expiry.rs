//! Expiry: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with Redis 7's NX/XX/GT/LT), TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME, PERSIST; lazy and active expiry. Keys `a`, `b`, `c` live on shards 2,
//! 0 and 1 of a 3-shard server.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{error, int, run, Server};

/// How long a test waits for a key's deadline to pass before failing.
const EXPIRY_WAIT_MAX: Duration = Duration::from_secs(3);

fn start() -> Server {
    Server::start(3, &["--appendonly", "no"])
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Polls `done` until it holds or `EXPIRY_WAIT_MAX` passes; returns whether it held.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + EXPIRY_WAIT_MAX;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

#[test]
fn ttl_and_pttl_report_missing_persistent_and_expiring_keys() {
    let server = start();
    let mut con = server.client();
    for key in ["a", "b", "c"] {
        assert_eq!(int(&mut con, &["TTL", key]), -2);
        assert_eq!(int(&mut con, &["PTTL", key]), -2);
        run(&mut con, &["SET", key, "v"]);
        assert_eq!(int(&mut con, &["TTL", key]), -1);
        assert_eq!(int(&mut con, &["PTTL", key]), -1);
        assert_eq!(int(&mut con, &["EXPIRE", key, "100"]), 1);
        assert_eq!(
            int(&mut con, &["TTL", key]),
            100,
            "rounded to the nearest second"
        );
        let pttl = int(&mut con, &["PTTL", key]);
        assert!((99_000..=100_000).contains(&pttl), "{pttl}");
        assert_eq!(int(&mut con, &["PEXPIRE", key, "1400"]), 1);
        assert_eq!(int(&mut con, &["TTL", key]), 1, "1.4 s rounds to 1 s");
        assert_eq!(int(&mut con, &["PEXPIRE", key, "1700"]), 1);
        assert_eq!(int(&mut con, &["TTL", key]), 2, "1.7 s rounds to 2 s");
    }
    assert_eq!(int(&mut con, &["EXPIRE", "nokey", "100"]), 0);
    assert_eq!(int(&mut con, &["PEXPIREAT", "nokey", "1"]), 0);
}

#[test]
fn a_key_is_gone_once_its_deadline_passes() {
    let server = start();
    let mut con = server.client();
    for key in ["a", "b", "c"] {
        run(&mut con, &["SET", key, "v"]);
        assert_eq!(int(&mut con, &["PEXPIRE", key, "300"]), 1);
    }
    assert_eq!(int(&mut con, &["EXISTS", "a", "b", "c"]), 3, "not yet");
    let started = Instant::now();
    assert!(eventually(|| int(&mut con, &["EXISTS", "a", "b", "c"]) == 0));
    assert!(started.elapsed() >= Duration::from_millis(100));
    let get: Option<String> = redis::cmd("GET").arg("a").query(&mut con).unwrap();
    assert_eq!(get, None);
    assert_eq!(int(&mut con, &["TTL", "a"]), -2);
}

/// A write to a key whose deadline has passed, before anything removed it, finds no key: the
/// counter, hash, list and sorted set start again from nothing, without the old TTL, and EXPIRE
/// has nothing to set. Active expiry is off, so only the write itself can notice the deadline.
#[test]
fn writes_to_a_key_past_its_deadline_start_from_nothing() {
    let server = start();
    let mut con = server.client();
    run(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    run(&mut con, &["SET", "counter", "10", "PX", "30"]);
    run(&mut con, &["HSET", "hash", "old", "1"]);
    run(&mut con, &["RPUSH", "list", "old"]);
    run(&mut con, &["ZADD", "zset", "5", "m"]);
    run(&mut con, &["SET", "plain", "v"]);
    for key in ["hash", "list", "zset", "plain"] {
        assert_eq!(int(&mut con, &["PEXPIRE", key, "30"]), 1);
    }
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(int(&mut con, &["DBSIZE"]), 5, "nothing removed them yet");
    assert_eq!(int(&mut con, &["INCR", "counter"]), 1);
    assert_eq!(int(&mut con, &["TTL", "counter"]), -1);
    assert_eq!(int(&mut con, &["HSET", "hash", "new", "1"]), 1);
    assert_eq!(int(&mut con, &["HLEN", "hash"]), 1);
    assert_eq!(int(&mut con, &["TTL", "hash"]), -1);
    assert_eq!(int(&mut con, &["RPUSH", "list", "new"]), 1);
    let score: String = redis::cmd("ZINCRBY")
        .arg("zset")
        .arg("2")
        .arg("m")
        .query(&mut con)
        .unwrap();
    assert_eq!(score, "2");
    assert_eq!(int(&mut con, &["EXPIRE", "plain", "100"]), 0);
    assert_eq!(int(&mut con, &["EXISTS", "plain"]), 0);
}

/// DBSIZE counts what the keyspace holds, expired or not, without looking keys up; so DBSIZE
/// dropping to 0 while nobody touches the keys proves the active expiry cycle removed them.
#[test]
fn the_active_cycle_removes_expired_keys_nobody_reads() {
    let server = start();
    let mut con = server.client();
    // One pipeline, and a deadline long enough for it to land before any key expires.
    let mut pipe = redis::pipe();
    for i in 0..300 {
        pipe.cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .arg("PX")
            .arg(700);
    }
    let _: () = pipe.query(&mut con).unwrap();
    run(&mut con, &["SET", "stays", "v"]);
    assert_eq!(int(&mut con, &["DBSIZE"]), 301);
    assert!(
        eventually(|| int(&mut con, &["DBSIZE"]) == 1),
        "DBSIZE stayed at {}",
        int(&mut con, &["DBSIZE"])
    );
}

/// Redis 7's conditions, in the order `redis-server` 7 answers them.
#[test]
fn expire_conditions_nx_xx_gt_lt_follow_redis_7() {
    let server = start();
    let mut con = server.client();
    for key in ["a", "b"] {
        run(&mut con, &["SET", key, "1"]);
        let steps: &[(&[&str], i64)] = &[
            (&["100"], 1),
            (&["50", "GT"], 0),
            (&["200", "GT"], 1),
            (&["300", "LT"], 0),
            (&["10", "LT"], 1),
            (&["20", "XX"], 1),
            (&["20", "NX"], 0),
        ];
        for (opts, expected) in steps {
            let mut args = vec!["EXPIRE", key];
            args.extend_from_slice(opts);
            assert_eq!(int(&mut con, &args), *expected, "{args:?}");
        }
        assert_eq!(int(&mut con, &["TTL", key]), 20);
        assert_eq!(int(&mut con, &["PERSIST", key]), 1);
        // A key without TTL counts as one that never expires: GT always fails, LT succeeds.
        assert_eq!(int(&mut con, &["EXPIRE", key, "10", "GT"]), 0);
        assert_eq!(int(&mut con, &["TTL", key]), -1);
        assert_eq!(int(&mut con, &["EXPIRE", key, "10", "lt"]), 1);
        assert_eq!(int(&mut con, &["TTL", key]), 10);
        assert_eq!(int(&mut con, &["PERSIST", key]), 1);
        assert_eq!(int(&mut con, &["EXPIRE", key, "10", "XX"]), 0);
        assert_eq!(int(&mut con, &["EXPIRE", key, "10", "nx"]), 1);
        assert_eq!(int(&mut con, &["EXPIRE", key, "0", "GT"]), 0);
        assert_eq!(
            int(&mut con, &["EXISTS", key]),
            1,
            "a refused past deadline keeps the key"
        );
        assert_eq!(int(&mut con, &["EXPIRE", key, "-1", "LT"]), 1);
        assert_eq!(int(&mut con, &["EXISTS", key]), 0);
        run(&mut con, &["SET", key, "1"]);
        assert_eq!(int(&mut con, &["EXPIRE", key, "-5", "GT"]), 0);
        assert_eq!(int(&mut con, &["EXISTS", key]), 1);
        assert_eq!(int(&mut con, &["PEXPIRE", key, "-5", "NX"]), 1);
        assert_eq!(int(&mut con, &["EXISTS", key]), 0);
    }
}

#[test]
fn expire_rejects_bad_options_and_overflowing_times() {
    let server = start();
    let mut con = server.client();
    run(&mut con, &["SET", "a", "1"]);
    let nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
    assert_eq!(error(&mut con, &["EXPIRE", "a", "10", "NX", "XX"]), nx);
    assert_eq!(error(&mut con, &["EXPIRE", "a", "10", "GT", "NX"]), nx);
    assert_eq!(
        error(&mut con, &["PEXPIRE", "a", "10", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        error(&mut con, &["EXPIRE", "a", "10", "foo"]),
        "ERR Unsupported option foo"
    );
    // Options are checked before the time.
    assert_eq!(
        error(&mut con, &["EXPIRE", "a", "soon", "foo"]),
        "ERR Unsupported option foo"
    );
    assert_eq!(
        error(&mut con, &["EXPIRE", "a", "soon"]),
        "ERR value is not an integer or out of range"
    );
    let overflows: &[(&str, &str)] = &[
        ("expire", "9223372036854775807"),
        ("expire", "9223372036854775"),
        ("expire", "-9223372036854775808"),
        ("pexpire", "9223372036854775807"),
        ("expireat", "9223372036854776"),
    ];
    for (command, time) in overflows {
        assert_eq!(
            error(&mut con, &[command, "a", time]),
            format!("ERR invalid expire time in '{command}' command")
        );
    }
    assert_eq!(
        int(&mut con, &["TTL", "a"]),
        -1,
        "refused commands change nothing"
    );
    assert_eq!(int(&mut con, &["PEXPIREAT", "a", "9223372036854775807"]), 1);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "a"]), i64::MAX);
    assert_eq!(int(&mut con, &["EXPIRETIME", "a"]), 9223372036854776);
    assert_eq!(int(&mut con, &["EXPIREAT", "a", "9223372036854775"]), 1);
    assert_eq!(int(&mut con, &["EXPIRETIME", "a"]), 9223372036854775);
}

#[test]
fn past_or_negative_times_delete_the_key() {
    let server = start();
    let mut con = server.client();
    let past_ms = (now_ms() - 10_000).to_string();
    let cases: &[&[&str]] = &[
        &["EXPIRE", "a", "-1"],
        &["EXPIRE", "b", "0"],
        &["PEXPIRE", "c", "-100"],
        &["EXPIREAT", "a", "1"],
        &["PEXPIREAT", "b", &past_ms],
    ];
    for args in cases {
        run(&mut con, &["SET", args[1], "v"]);
        assert_eq!(int(&mut con, args), 1, "{args:?}");
        assert_eq!(int(&mut con, &["EXISTS", args[1]]), 0, "{args:?}");
        assert_eq!(
            int(&mut con, &["DBSIZE"]),
            0,
            "{args:?} removes the key at once"
        );
    }
}

#[test]
fn expiretime_reports_the_absolute_deadline() {
    let server = start();
    let mut con = server.client();
    assert_eq!(int(&mut con, &["EXPIRETIME", "a"]), -2);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "a"]), -2);
    run(&mut con, &["SET", "a", "v"]);
    assert_eq!(int(&mut con, &["EXPIRETIME", "a"]), -1);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "a"]), -1);
    // EXPIRETIME rounds to the nearest second, as TTL does in Redis.
    let second = now_ms() / 1000 + 100_000;
    let at_ms = second * 1000 + 123;
    assert_eq!(int(&mut con, &["PEXPIREAT", "c", &at_ms.to_string()]), 0);
    assert_eq!(int(&mut con, &["PEXPIREAT", "a", &at_ms.to_string()]), 1);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "a"]), at_ms);
    assert_eq!(int(&mut con, &["EXPIRETIME", "a"]), second);
    let late_ms = (second * 1000 + 500).to_string();
    assert_eq!(int(&mut con, &["PEXPIREAT", "a", &late_ms]), 1);
    assert_eq!(int(&mut con, &["EXPIRETIME", "a"]), second + 1);
    let at_s = now_ms() / 1000 + 500;
    assert_eq!(int(&mut con, &["EXPIREAT", "a", &at_s.to_string()]), 1);
    assert_eq!(int(&mut con, &["EXPIRETIME", "a"]), at_s);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "a"]), at_s * 1000);
    let before = now_ms();
    assert_eq!(int(&mut con, &["EXPIRE", "a", "30"]), 1);
    let at = int(&mut con, &["PEXPIRETIME", "a"]);
    assert!((before + 30_000..=now_ms() + 30_000).contains(&at), "{at}");
}

#[test]
fn persist_removes_only_an_existing_ttl() {
    let server = start();
    let mut con = server.client();
    assert_eq!(int(&mut con, &["PERSIST", "a"]), 0);
    run(&mut con, &["SET", "a", "v"]);
    assert_eq!(int(&mut con, &["PERSIST", "a"]), 0);
    run(&mut con, &["SET", "a", "v", "PX", "500"]);
    assert_eq!(int(&mut con, &["PERSIST", "a"]), 1);
    assert_eq!(int(&mut con, &["TTL", "a"]), -1);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(int(&mut con, &["EXISTS", "a"]), 1, "a persisted key stays");
}
