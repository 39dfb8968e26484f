//! Keyspace notifications (`notify-keyspace-events`): Redis's flag letters, and the events the
//! command families publish, from whichever shard made the change to subscribers on every shard.

mod common;

use std::time::Duration;

use common::resp::{bulk, err, key_per_shard, Conn, R};
use common::Server;

const SHARDS: usize = 3;

fn server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no"])
}

fn set_flags(c: &mut Conn, flags: &str) -> R {
    c.call(&["CONFIG", "SET", "notify-keyspace-events", flags])
}

fn get_flags(c: &mut Conn) -> R {
    match c.cmd("CONFIG GET notify-keyspace-events") {
        R::Array(mut kv) => kv.pop().unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn flags_read_back_as_redis_canonical_letters() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(get_flags(&mut c), bulk(""));
    for (set, shown) in [
        ("KEA", "AKE"),
        ("Kgx$lmn", "g$lxnKm"),
        ("Ag$", "A"),
        ("Egn", "gnE"),
        ("", ""),
    ] {
        assert_eq!(set_flags(&mut c, set), R::Status("OK".into()));
        assert_eq!(get_flags(&mut c), bulk(shown), "after setting {set:?}");
    }
    assert_eq!(
        set_flags(&mut c, "Kq"),
        err("ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    );
}

/// A subscriber to every keyevent channel of db 0; returns (event, key) pairs as they come.
fn keyevent_subscriber(server: &Server) -> Conn {
    let mut sub = Conn::new(server);
    assert_eq!(
        sub.cmd("PSUBSCRIBE __keyevent@0__:*"),
        R::Array(vec![
            bulk("psubscribe"),
            bulk("__keyevent@0__:*"),
            R::Int(1)
        ])
    );
    sub
}

fn next_event(sub: &mut Conn) -> (String, String) {
    match sub.read() {
        R::Array(items) => match &items[..] {
            [R::Bulk(kind), _, R::Bulk(channel), R::Bulk(key)] if kind == b"pmessage" => {
                let channel = String::from_utf8(channel.clone()).unwrap();
                let event = channel.strip_prefix("__keyevent@0__:").unwrap().to_string();
                (event, String::from_utf8(key.clone()).unwrap())
            }
            other => panic!("unexpected frame {other:?}"),
        },
        other => panic!("unexpected frame {other:?}"),
    }
}

fn expect_events(sub: &mut Conn, expected: &[(&str, &str)]) {
    for (event, key) in expected {
        assert_eq!(
            next_event(sub),
            (event.to_string(), key.to_string()),
            "expected {expected:?}"
        );
    }
}

#[test]
fn keyspace_and_keyevent_messages_come_from_every_shard() {
    let server = server();
    let mut c = Conn::new(&server);
    set_flags(&mut c, "KE$");
    let mut sub = Conn::new(&server);
    sub.cmd("PSUBSCRIBE __key*__:*");
    for key in key_per_shard("k", SHARDS) {
        assert_eq!(c.call(&["SET", &key, "v"]), R::Status("OK".into()));
        assert_eq!(
            sub.read(),
            R::Array(vec![
                bulk("pmessage"),
                bulk("__key*__:*"),
                bulk(format!("__keyspace@0__:{key}")),
                bulk("set")
            ])
        );
        assert_eq!(
            sub.read(),
            R::Array(vec![
                bulk("pmessage"),
                bulk("__key*__:*"),
                bulk("__keyevent@0__:set"),
                bulk(&key)
            ])
        );
    }
    // Classes not asked for publish nothing: a generic event is skipped, the next string one shows.
    c.cmd("DEL k0");
    c.cmd("SET k0 again");
    match sub.read() {
        R::Array(items) => assert_eq!(items[3], bulk("set")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn families_publish_redis_event_names() {
    let server = server();
    let mut c = Conn::new(&server);
    set_flags(&mut c, "EA");
    let mut sub = keyevent_subscriber(&server);
    let commands: &[(&str, &[(&str, &str)])] = &[
        ("SET {t}s 1", &[("set", "{t}s")]),
        ("SET {t}s 1 EX 100", &[("set", "{t}s"), ("expire", "{t}s")]),
        ("PERSIST {t}s", &[("persist", "{t}s")]),
        ("INCRBY {t}s 5", &[("incrby", "{t}s")]),
        ("INCRBYFLOAT {t}s 1.5", &[("incrbyfloat", "{t}s")]),
        ("APPEND {t}s x", &[("append", "{t}s")]),
        ("SETRANGE {t}s 0 y", &[("setrange", "{t}s")]),
        ("EXPIRE {t}s 100", &[("expire", "{t}s")]),
        (
            "RENAME {t}s {t}r",
            &[("rename_from", "{t}s"), ("rename_to", "{t}r")],
        ),
        ("COPY {t}r {t}c", &[("copy_to", "{t}c")]),
        ("DEL {t}r {t}c", &[("del", "{t}r"), ("del", "{t}c")]),
        ("HSET {t}h f 1 g 2", &[("hset", "{t}h")]),
        ("HINCRBY {t}h f 2", &[("hincrby", "{t}h")]),
        ("HINCRBYFLOAT {t}h f 0.5", &[("hincrbyfloat", "{t}h")]),
        ("HDEL {t}h f", &[("hdel", "{t}h")]),
        ("HDEL {t}h g", &[("hdel", "{t}h"), ("del", "{t}h")]),
        ("SADD {t}a x y", &[("sadd", "{t}a")]),
        ("SREM {t}a x", &[("srem", "{t}a")]),
        (
            "SMOVE {t}a {t}b y",
            &[("srem", "{t}a"), ("del", "{t}a"), ("sadd", "{t}b")],
        ),
        ("SUNIONSTORE {t}u {t}b", &[("sunionstore", "{t}u")]),
        ("SPOP {t}b", &[("spop", "{t}b"), ("del", "{t}b")]),
        ("EXPIRE {t}u 0", &[("del", "{t}u")]),
    ];
    for (command, events) in commands {
        assert!(!matches!(c.cmd(command), R::Err(_)), "{command} failed");
        expect_events(&mut sub, events);
    }
    // Nothing else was published: the next event is the one a sentinel command makes.
    c.cmd("SET {t}end 1");
    expect_events(&mut sub, &[("set", "{t}end")]);
}

#[test]
fn expired_is_published_for_lazy_and_active_expiry() {
    let server = server();
    let mut c = Conn::new(&server);
    set_flags(&mut c, "Ex");
    let mut sub = keyevent_subscriber(&server);
    // Active expiry: the cycle finds the key by itself.
    c.cmd("SET active 1 PX 50");
    expect_events(&mut sub, &[("expired", "active")]);
    // Lazy expiry: the key is found expired by a command before the cycle sees it.
    c.cmd("DEBUG SET-ACTIVE-EXPIRE 0");
    let keys = key_per_shard("lazy", SHARDS);
    for key in &keys {
        c.call(&["SET", key, "1", "PX", "20"]);
    }
    std::thread::sleep(Duration::from_millis(60));
    for key in &keys {
        assert_eq!(c.call(&["GET", key]), R::Nil);
        expect_events(&mut sub, &[("expired", key)]);
    }
}
