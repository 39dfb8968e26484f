//! Blocking list pops (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) on 3 shards: timeouts, first
//! blocked first served, clients blocked on keys of several shards, cross-shard BLMOVE, clients
//! that disconnect or are killed or unblocked while blocked, no element lost or handed out twice,
//! and a served pop that survives SIGKILL.

mod common;

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use common::resp::R::{self, Int, Nil};
use common::resp::{bulk, err, key_per_shard, Conn};
use common::Server;

const SHARDS: usize = 3;
/// Time for a command sent on another connection to reach the server and block.
const SETTLE: Duration = Duration::from_millis(150);

fn server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no"])
}

fn pair(key: &str, element: &str) -> R {
    R::Array(vec![bulk(key), bulk(element)])
}

/// A connection whose reply to a blocking command is read later.
struct Pending {
    raw: common::Raw,
}

impl Pending {
    fn start(server: &Server, args: &[&str]) -> Pending {
        let mut raw = server.raw();
        raw.send(&common::resp(args));
        Pending { raw }
    }

    /// One reply line, without its CRLF.
    fn line(&mut self) -> String {
        let mut line = Vec::new();
        while !line.ends_with(b"\r\n") {
            line.extend(self.raw.read_exact(1));
        }
        String::from_utf8(line).unwrap().trim_end().to_string()
    }

    /// The reply's bytes (exactly `len` of them).
    fn reply(mut self, len: usize) -> String {
        String::from_utf8(self.raw.read_exact(len)).unwrap()
    }
}

fn blocked_clients(c: &mut Conn) -> i64 {
    let R::Bulk(info) = c.cmd("INFO clients") else {
        panic!("INFO did not reply a bulk string");
    };
    let info = String::from_utf8(info).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .expect("blocked_clients in INFO")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn timeouts_reply_null_after_waiting_and_bad_timeouts_are_refused() {
    let server = server();
    let mut c = Conn::new(&server);
    let started = Instant::now();
    let pending = Pending::start(&server, &["BLPOP", "none1", "none2", "0.2"]);
    assert_eq!(pending.reply(5), "*-1\r\n");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(200), "waited {waited:?}");
    assert!(waited < Duration::from_secs(2), "waited {waited:?}");
    let pending = Pending::start(&server, &["BLMOVE", "none1", "x", "LEFT", "RIGHT", "0.05"]);
    assert_eq!(pending.reply(5), "*-1\r\n");
    c.cmd("HELLO 3");
    assert_eq!(c.cmd("BRPOPLPUSH none1 x 0.05"), Nil);
    assert_eq!(c.cmd("BLMPOP 0.05 1 none1 LEFT"), Nil);
    assert_eq!(c.cmd("BLPOP k -1"), err("ERR timeout is negative"));
    assert_eq!(
        c.cmd("BLPOP k abc"),
        err("ERR timeout is not a float or out of range")
    );
    assert_eq!(
        c.cmd("BLMPOP 1 0 k LEFT"),
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(c.cmd("BLMOVE a b UP LEFT 0"), err("ERR syntax error"));
}

#[test]
fn data_already_there_is_popped_at_once_in_key_order() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("now", SHARDS);
    c.call(&["RPUSH", &keys[2], "c1", "c2"]);
    c.call(&["RPUSH", &keys[1], "b1"]);
    let reply = c.call(&["BLPOP", &keys[0], &keys[1], &keys[2], "0"]);
    assert_eq!(reply, pair(&keys[1], "b1"));
    let reply = c.call(&["BRPOP", &keys[0], &keys[2], "0"]);
    assert_eq!(reply, pair(&keys[2], "c2"));
    let reply = c.call(&["BLMPOP", "0", "2", &keys[0], &keys[2], "LEFT", "COUNT", "5"]);
    assert_eq!(
        reply,
        R::Array(vec![bulk(&keys[2]), R::Array(vec![bulk("c1")])])
    );
}

#[test]
fn blocked_clients_are_served_first_blocked_first_served() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("fair", SHARDS);
    let key = &keys[1];
    let mut pending = Vec::new();
    for _ in 0..3 {
        pending.push(Pending::start(&server, &["BLPOP", key, "5"]));
        thread::sleep(SETTLE);
    }
    assert_eq!(blocked_clients(&mut c), 3);
    c.call(&["RPUSH", key, "e1", "e2", "e3"]);
    let expected_len = |e: &str| format!("*2\r\n${}\r\n{key}\r\n$2\r\n{e}\r\n", key.len()).len();
    for (i, p) in pending.into_iter().enumerate() {
        let e = format!("e{}", i + 1);
        let reply = p.reply(expected_len(&e));
        assert!(
            reply.ends_with(&format!("{e}\r\n")),
            "client {i} got {reply:?}"
        );
    }
    assert_eq!(c.call(&["EXISTS", key]), Int(0));
    assert_eq!(blocked_clients(&mut c), 0);
}

#[test]
fn a_client_blocked_on_keys_of_several_shards_is_served_once_by_the_first_with_data() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("multi", SHARDS);
    let p = Pending::start(&server, &["BRPOP", &keys[0], &keys[1], &keys[2], "5"]);
    thread::sleep(SETTLE);
    c.call(&["RPUSH", &keys[2], "third"]);
    let expected = format!("*2\r\n${}\r\n{}\r\n$5\r\nthird\r\n", keys[2].len(), keys[2]);
    assert_eq!(p.reply(expected.len()), expected);
    // The client is served: its waiters on the other shards must not take anything more.
    c.call(&["RPUSH", &keys[0], "first"]);
    thread::sleep(SETTLE);
    assert_eq!(
        c.call(&["LRANGE", &keys[0], "0", "-1"]),
        R::Array(vec![bulk("first")])
    );
    assert_eq!(blocked_clients(&mut c), 0);
}

#[test]
fn blmove_across_shards_moves_the_element_when_it_arrives() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("bmv", SHARDS);
    let (src, dst) = (&keys[0], &keys[2]);
    c.call(&["RPUSH", dst, "old"]);
    let p = Pending::start(&server, &["BLMOVE", src, dst, "LEFT", "LEFT", "5"]);
    thread::sleep(SETTLE);
    c.call(&["RPUSH", src, "moved", "stays"]);
    assert_eq!(p.reply("$5\r\nmoved\r\n".len()), "$5\r\nmoved\r\n");
    let list = c.call(&["LRANGE", dst, "0", "-1"]);
    assert_eq!(list, R::Array(vec![bulk("moved"), bulk("old")]));
    assert_eq!(
        c.call(&["LRANGE", src, "0", "-1"]),
        R::Array(vec![bulk("stays")])
    );
    // The same on one shard, served in place (BRPOPLPUSH).
    let p = Pending::start(&server, &["BRPOPLPUSH", src, src, "5"]);
    assert_eq!(p.reply("$5\r\nstays\r\n".len()), "$5\r\nstays\r\n");
}

#[test]
fn a_client_that_disconnects_or_is_killed_while_blocked_takes_nothing() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("gone", SHARDS);
    let dropped = Pending::start(&server, &["BLPOP", &keys[1], "0"]);
    thread::sleep(SETTLE);
    drop(dropped);
    let mut killed = Pending::start(&server, &["CLIENT", "ID"]);
    let id = killed.line()[1..].to_string();
    killed.raw.send(&common::resp(&["BLPOP", &keys[1], "0"]));
    thread::sleep(SETTLE);
    assert_eq!(blocked_clients(&mut c), 1);
    assert_eq!(c.call(&["CLIENT", "KILL", "ID", &id]), Int(1));
    thread::sleep(SETTLE);
    assert_eq!(blocked_clients(&mut c), 0);
    c.call(&["RPUSH", &keys[1], "kept"]);
    thread::sleep(SETTLE);
    assert_eq!(
        c.call(&["LLEN", &keys[1]]),
        Int(1),
        "nobody took the element"
    );
    assert_eq!(killed.raw.read_to_close(), "");
}

#[test]
fn client_unblock_ends_the_wait_as_a_timeout_or_an_error() {
    let server = server();
    let mut c = Conn::new(&server);
    let mut b = Conn::new(&server);
    b.cmd("HELLO 3");
    let Int(id) = b.cmd("CLIENT ID") else {
        panic!("CLIENT ID")
    };
    let handle = thread::spawn(move || {
        let first = b.cmd("BLPOP unblock1 0");
        let second = b.cmd("BLMOVE unblock1 x LEFT LEFT 0");
        (first, second)
    });
    thread::sleep(SETTLE);
    let id = id.to_string();
    assert_eq!(c.call(&["CLIENT", "UNBLOCK", &id]), Int(1));
    thread::sleep(SETTLE);
    assert_eq!(c.call(&["CLIENT", "UNBLOCK", &id, "ERROR"]), Int(1));
    let (first, second) = handle.join().unwrap();
    assert_eq!(first, Nil);
    assert_eq!(second, err("UNBLOCKED client unblocked via CLIENT UNBLOCK"));
    assert_eq!(c.call(&["CLIENT", "UNBLOCK", &id]), Int(0));
    assert_eq!(
        c.cmd("CLIENT UNBLOCK 1 MAYBE"),
        err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    );
}

#[test]
fn concurrent_consumers_on_several_shards_get_every_element_exactly_once() {
    let server = server();
    let keys = key_per_shard("q", SHARDS);
    const CONSUMERS: usize = 6;
    const ELEMENTS: usize = 300;
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|i| {
            let mut c = Conn::new(&server);
            c.cmd("HELLO 3");
            let keys = keys.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                let mut args = vec![if i % 2 == 0 { "BLPOP" } else { "BRPOP" }];
                args.extend(keys.iter().map(String::as_str));
                args.push("0.5");
                loop {
                    match c.call(&args) {
                        R::Array(pair) => match &pair[1] {
                            R::Bulk(e) => got.push(String::from_utf8(e.clone()).unwrap()),
                            other => panic!("bad element {other:?}"),
                        },
                        R::Nil => return got,
                        other => panic!("bad reply {other:?}"),
                    }
                }
            })
        })
        .collect();
    let mut producer = Conn::new(&server);
    thread::sleep(SETTLE);
    for n in 0..ELEMENTS {
        let key = &keys[n % SHARDS];
        assert!(matches!(
            producer.call(&["RPUSH", key, &format!("e{n}")]),
            Int(_)
        ));
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for consumer in consumers {
        for e in consumer.join().unwrap() {
            *seen.entry(e).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), ELEMENTS, "every element was delivered");
    assert!(seen.values().all(|&n| n == 1), "no element twice");
}

#[test]
fn a_served_pop_is_durable_before_its_reply_and_survives_sigkill() {
    let mut server = Server::start(SHARDS, &["--appendonly", "yes"]);
    let mut c = Conn::new(&server);
    let keys = key_per_shard("dur", SHARDS);
    let p = Pending::start(&server, &["BLPOP", &keys[2], "5"]);
    let q = Pending::start(
        &server,
        &["BLMOVE", &keys[0], &keys[1], "LEFT", "RIGHT", "5"],
    );
    thread::sleep(SETTLE);
    c.call(&["RPUSH", &keys[2], "a", "b"]);
    c.call(&["RPUSH", &keys[0], "m"]);
    let expected = format!("*2\r\n${}\r\n{}\r\n$1\r\na\r\n", keys[2].len(), keys[2]);
    assert_eq!(p.reply(expected.len()), expected);
    assert_eq!(q.reply("$1\r\nm\r\n".len()), "$1\r\nm\r\n");
    server.kill9();
    server.restart();
    let mut c = Conn::new(&server);
    assert_eq!(
        c.call(&["LRANGE", &keys[2], "0", "-1"]),
        R::Array(vec![bulk("b")])
    );
    assert_eq!(c.call(&["EXISTS", &keys[0]]), Int(0));
    assert_eq!(
        c.call(&["LRANGE", &keys[1], "0", "-1"]),
        R::Array(vec![bulk("m")])
    );
}
