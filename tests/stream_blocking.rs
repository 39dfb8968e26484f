//! XREAD BLOCK and XREADGROUP BLOCK on the shared blocking machinery: `$` fixed when the command
//! blocks, timeouts, keys on every shard, waiters served in arrival order and exactly once, a
//! deleted stream or destroyed group while blocked; and blocking commands inside MULTI, compared
//! with redis-server.

mod common;

use std::time::{Duration, Instant};

use common::resp::{bulk, err, key_per_shard, ok, Conn, R};
use common::Server;

const SHARDS: usize = 3;

fn server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no"])
}

fn entry(id: &str) -> R {
    R::Array(vec![bulk(id), R::Array(vec![bulk("f"), bulk("v")])])
}

/// `[[key, [entry...]]]`: a read's reply for one key.
fn read_of(key: &str, ids: &[&str]) -> R {
    R::Array(vec![R::Array(vec![
        bulk(key),
        R::Array(ids.iter().map(|id| entry(id)).collect()),
    ])])
}

/// Waits until `count` clients are blocked (flag `b` in CLIENT LIST, from every shard).
fn wait_blocked(c: &mut Conn, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let R::Bulk(list) = c.cmd("CLIENT LIST") else {
            panic!("CLIENT LIST")
        };
        let list = String::from_utf8(list).unwrap();
        if list.matches(" flags=b ").count() == count {
            return;
        }
        assert!(Instant::now() < deadline, "not {count} blocked: {list}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn xread_block_times_out_and_dollar_is_fixed_when_it_blocks() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("XADD s 1-1 f v");
    let start = Instant::now();
    assert_eq!(c.cmd("XREAD BLOCK 100 STREAMS s $"), R::Nil);
    assert!(start.elapsed() >= Duration::from_millis(100));
    // Data already there answers at once, BLOCK or not.
    assert_eq!(c.cmd("XREAD BLOCK 0 STREAMS s 0"), read_of("s", &["1-1"]));
    let mut waiter = Conn::new(&server);
    waiter.send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut c, 1);
    c.cmd("XADD s 2-1 f v");
    assert_eq!(waiter.read(), read_of("s", &["2-1"]));
    assert_eq!(
        c.cmd("XREAD BLOCK -1 STREAMS s $"),
        err("ERR timeout is negative")
    );
    assert_eq!(
        c.cmd("XREAD BLOCK x STREAMS s $"),
        err("ERR timeout is not an integer or out of range")
    );
    c.cmd("SET str x");
    assert_eq!(
        c.cmd("XREAD BLOCK 0 STREAMS str $"),
        err(common::resp::WRONGTYPE)
    );
}

#[test]
fn xread_block_waits_on_keys_of_every_shard_and_a_deleted_stream() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("s", SHARDS);
    for (i, key) in keys.iter().enumerate() {
        let mut waiter = Conn::new(&server);
        let mut args = vec!["XREAD", "COUNT", "5", "BLOCK", "0", "STREAMS"];
        args.extend(keys.iter().map(String::as_str));
        args.extend(["$"; SHARDS]);
        waiter.send(&args);
        wait_blocked(&mut c, 1);
        let id = format!("{}-1", i + 1);
        c.call(&["XADD", key, &id, "f", "v"]);
        assert_eq!(waiter.read(), read_of(key, &[&id]));
        wait_blocked(&mut c, 0);
    }
    // XREAD keeps waiting when its stream is deleted, and is served when it comes back with
    // entries after the ID fixed when it blocked (1-1 here).
    let mut waiter = Conn::new(&server);
    waiter.call(&["CLIENT", "SETNAME", "w"]);
    waiter.send(&["XREAD", "BLOCK", "0", "STREAMS", &keys[0], "$"]);
    wait_blocked(&mut c, 1);
    c.call(&["DEL", &keys[0]]);
    c.call(&["XADD", &keys[0], "1-0", "f", "v"]);
    wait_blocked(&mut c, 1);
    c.call(&["XADD", &keys[0], "9-9", "f", "v"]);
    assert_eq!(waiter.read(), read_of(&keys[0], &["9-9"]));
}

#[test]
fn xreadgroup_block_serves_waiters_in_order_exactly_once() {
    let server = server();
    let mut c = Conn::new(&server);
    let key = &key_per_shard("q", SHARDS)[2];
    c.call(&["XGROUP", "CREATE", key, "g", "$", "MKSTREAM"]);
    let mut waiters: Vec<Conn> = (0..3).map(|_| Conn::new(&server)).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        let consumer = format!("c{i}");
        w.send(&[
            "XREADGROUP",
            "GROUP",
            "g",
            &consumer,
            "COUNT",
            "1",
            "BLOCK",
            "0",
            "STREAMS",
            key,
            ">",
        ]);
        wait_blocked(&mut c, i + 1);
    }
    // Three entries at once: each waiter gets one, first blocked first served.
    let mut pipeline = Conn::new(&server);
    for id in ["1-1", "2-1", "3-1"] {
        pipeline.send(&["XADD", key, id, "f", "v"]);
    }
    for id in ["1-1", "2-1", "3-1"] {
        assert_eq!(pipeline.read(), bulk(id));
    }
    for (w, id) in waiters.iter_mut().zip(["1-1", "2-1", "3-1"]) {
        assert_eq!(w.read(), read_of(key, &[id]));
    }
    let pending = c.call(&["XPENDING", key, "g", "-", "+", "10"]);
    let R::Array(pending) = pending else {
        panic!("{pending:?}")
    };
    let owners: Vec<R> = pending
        .iter()
        .map(|p| match p {
            R::Array(fields) => fields[1].clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(owners, vec![bulk("c0"), bulk("c1"), bulk("c2")]);
    assert_eq!(
        c.call(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "x",
            "BLOCK",
            "50",
            "STREAMS",
            key,
            ">"
        ]),
        R::Nil
    );
}

#[test]
fn xreadgroup_block_answers_a_deleted_stream_and_a_destroyed_group_as_redis() {
    let server = server();
    let mut c = Conn::new(&server);
    let key = &key_per_shard("d", SHARDS)[1];
    c.call(&["XGROUP", "CREATE", key, "g", "$", "MKSTREAM"]);
    let mut waiter = Conn::new(&server);
    let read = [
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "0",
        "STREAMS",
        key,
        ">",
    ];
    waiter.send(&read);
    wait_blocked(&mut c, 1);
    c.call(&["DEL", key]);
    assert_eq!(
        waiter.read(),
        err("UNBLOCKED the stream key no longer exists")
    );
    c.call(&["XGROUP", "CREATE", key, "g", "$", "MKSTREAM"]);
    waiter.send(&read);
    wait_blocked(&mut c, 1);
    c.call(&["XGROUP", "DESTROY", key, "g"]);
    assert_eq!(
        waiter.read(),
        err("NOGROUP the consumer group this client was blocked on no longer exists")
    );
    // CLIENT UNBLOCK ends the wait with nil (TIMEOUT) or the UNBLOCKED error.
    c.call(&["XGROUP", "CREATE", key, "g", "$"]);
    let id = match waiter.cmd("CLIENT ID") {
        R::Int(id) => id.to_string(),
        other => panic!("{other:?}"),
    };
    waiter.send(&read);
    wait_blocked(&mut c, 1);
    assert_eq!(c.call(&["CLIENT", "UNBLOCK", &id, "ERROR"]), R::Int(1));
    assert_eq!(
        waiter.read(),
        err("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    );
}

/// Blocking commands inside MULTI answer at once as their non-blocking forms, with Redis's
/// replies (null shapes included), and argument errors come at EXEC.
#[test]
fn blocking_commands_inside_multi_answer_as_redis() {
    let Some(reference) = common::reference::Reference::start() else {
        return;
    };
    let server = server();
    let script: &[&str] = &[
        "MULTI",
        "BLPOP {t}a {t}b 0",
        "BLMOVE {t}a {t}b LEFT RIGHT 0",
        "BRPOPLPUSH {t}a {t}b 0",
        "BLMPOP 0 2 {t}a {t}b LEFT",
        "XREAD BLOCK 0 STREAMS {t}s $",
        "XREAD BLOCK 0 STREAMS {t}s 0",
        "BLPOP {t}a x",
        "XREAD BLOCK 0 STREAMS {t}s",
        "RPUSH {t}a 1 2 3 4",
        "BLPOP {t}a {t}b 0",
        "BRPOP {t}b {t}a 0",
        "BLMOVE {t}a {t}b LEFT RIGHT 0",
        "BLMPOP 0 1 {t}b RIGHT COUNT 3",
        "XADD {t}s 1-1 f v",
        "XREAD BLOCK 0 STREAMS {t}s 0",
        "XREAD BLOCK 0 STREAMS {t}s $",
        "XGROUP CREATE {t}s g 0",
        "XREADGROUP GROUP g c BLOCK 0 STREAMS {t}s >",
        "XREADGROUP GROUP g c BLOCK 0 STREAMS {t}s >",
        "XREADGROUP GROUP g c STREAMS {t}s 0",
        "EXEC",
        "MULTI",
        "XREAD STREAMS {t}s {t}none 0 0",
        "XREADGROUP GROUP nogroup c STREAMS {t}s >",
        "EXEC",
    ];
    let mut keel = Conn::new(&server);
    let mut redis = Conn::at_port(reference.port);
    for line in script {
        let (k, r) = (keel.cmd(line), redis.cmd(line));
        assert_eq!(k, r, "{line}");
    }
    // A MULTI's blocking command never waits, even for keys on other shards of one command.
    let keys = key_per_shard("m", SHARDS);
    assert_eq!(keel.cmd("MULTI"), ok());
    keel.call(&["BLPOP", &keys[0], "0"]);
    keel.call(&["XREAD", "BLOCK", "0", "STREAMS", &keys[1], "$"]);
    assert_eq!(keel.cmd("EXEC"), R::Array(vec![R::Nil, R::Nil]));
}
