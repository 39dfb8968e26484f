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
        ("An", "A"),
        ("Anm", "Am"),
        ("KEAnm", "AKEm"),
        ("nmgE", "gnEm"),
        ("mK", "Km"),
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
    // A plain SET over a key past its deadline finds it expired too.
    for key in &keys {
        c.call(&["SET", key, "1", "PX", "20"]);
    }
    std::thread::sleep(Duration::from_millis(60));
    for key in &keys {
        c.call(&["SET", key, "2"]);
        expect_events(&mut sub, &[("expired", key)]);
        assert_eq!(c.call(&["PTTL", key]), R::Int(-1));
    }
}

/// A server (Keel or the reference Redis) with a writer and a keyevent subscriber, for comparing
/// the events that the same commands publish.
struct Side {
    conn: Conn,
    sub: Conn,
}

impl Side {
    fn at_port(port: u16) -> Side {
        Side::with_flags(port, "EA")
    }

    fn with_flags(port: u16, flags: &str) -> Side {
        let mut conn = Conn::at_port(port);
        set_flags(&mut conn, flags);
        let mut sub = Conn::at_port(port);
        sub.cmd("PSUBSCRIBE __keyevent@0__:*");
        Side { conn, sub }
    }

    /// Runs `command` (keys of one shard, with `sentinel` on that shard too) and returns the events
    /// it published, in order: everything before the sentinel's own `set`.
    fn events_one_shard(&mut self, command: &[&str], sentinel: &str) -> (R, Vec<(String, String)>) {
        let reply = self.conn.call(command);
        self.conn.call(&["SET", sentinel, "1"]);
        let mut events = Vec::new();
        loop {
            let event = next_event(&mut self.sub);
            if event == ("set".to_string(), sentinel.to_string()) {
                return (reply, events);
            }
            events.push(event);
        }
    }

    /// Runs `command` (keys on several shards) and returns the events it published, sorted: events
    /// of different shards have no order. A sentinel on every shard (in `sentinels`) marks the end.
    fn events_any_shard(
        &mut self,
        command: &[&str],
        sentinels: &[String],
    ) -> (R, Vec<(String, String)>) {
        let reply = self.conn.call(command);
        for key in sentinels {
            self.conn.call(&["SET", key, "1"]);
        }
        let mut left: Vec<&String> = sentinels.iter().collect();
        let mut events = Vec::new();
        while !left.is_empty() {
            let event = next_event(&mut self.sub);
            match left
                .iter()
                .position(|k| event == ("set".to_string(), k.to_string()))
            {
                Some(i) => {
                    left.remove(i);
                }
                None => events.push(event),
            }
        }
        events.sort();
        (reply, events)
    }
}

/// Runs each of `commands` (keys on several shards) on Keel and on Redis, and checks that both give
/// the same reply and publish the same events.
fn assert_same_events_any_shard(
    keel: &mut Side,
    redis: &mut Side,
    commands: &[Vec<&str>],
    sentinels: &[String],
) {
    for command in commands {
        let (keel_reply, keel_events) = keel.events_any_shard(command, sentinels);
        let (redis_reply, redis_events) = redis.events_any_shard(command, sentinels);
        assert_eq!(keel_reply, redis_reply, "reply of {command:?}");
        assert_eq!(keel_events, redis_events, "events of {command:?}");
    }
}

/// Lists, streams, bitmaps and HyperLogLogs publish the events redis-server publishes for the same
/// commands (names, keys, order, and none where Redis sends none).
#[test]
fn collection_families_publish_what_redis_publishes() {
    let Some(reference) = common::reference::Reference::start() else {
        return;
    };
    let server = server();
    let mut keel = Side::at_port(server.port);
    let mut redis = Side::at_port(reference.port);
    let commands: &[&str] = &[
        // Lists.
        "RPUSH {t}l a b c d e",
        "LPUSH {t}l z",
        "LPUSHX {t}none x",
        "LINSERT {t}l BEFORE a q",
        "LINSERT {t}l BEFORE nope q",
        "LSET {t}l 0 w",
        "LPOP {t}l",
        "RPOP {t}l 2",
        "LPOP {t}none 2",
        "LTRIM {t}l 0 -1",
        "LTRIM {t}none 0 1",
        "LREM {t}l 0 nope",
        "LREM {t}l 0 q",
        "LMOVE {t}l {t}m LEFT RIGHT",
        "RPOPLPUSH {t}m {t}l",
        "LMOVE {t}l {t}l LEFT RIGHT",
        "LMOVE {t}none {t}l LEFT RIGHT",
        "LPOP {t}l 5",
        "RPUSH {t}y 1 2",
        "LTRIM {t}y 5 10",
        "RPUSH {t}m a b",
        "LMPOP 2 {t}none {t}m LEFT COUNT 5",
        "RPUSH {t}x 1",
        "BLPOP {t}x 0",
        "RPUSH {t}x 1",
        "BLMOVE {t}x {t}x2 RIGHT LEFT 0",
        "BRPOPLPUSH {t}x2 {t}x 0",
        // Streams.
        "XADD {t}s 1-1 f v",
        "XADD {t}s 2-1 f v",
        "XDEL {t}s 1-1",
        "XDEL {t}s 9-9",
        "XTRIM {t}s MAXLEN 5",
        "XTRIM {t}s MAXLEN 0",
        "XGROUP CREATE {t}s g 0",
        "XGROUP SETID {t}s g 0",
        "XGROUP CREATECONSUMER {t}s g c",
        "XGROUP CREATECONSUMER {t}s g c",
        "XGROUP DELCONSUMER {t}s g c",
        "XGROUP DELCONSUMER {t}s g nobody",
        "XGROUP DESTROY {t}s g",
        "XGROUP DESTROY {t}s g",
        "XADD {t}s 6-1 f v",
        "XGROUP CREATE {t}s g 0",
        "XREADGROUP GROUP g c STREAMS {t}s >",
        "XREADGROUP GROUP g c0 STREAMS {t}s >",
        "XREADGROUP GROUP g c1 STREAMS {t}s 0",
        "XCLAIM {t}s g d 0 6-1",
        "XAUTOCLAIM {t}s g e 0 0",
        "XACK {t}s g 6-1",
        "XADD {t}s MAXLEN 0 7-1 f v",
        "XADD {t}none NOMKSTREAM * f v",
        "XGROUP CREATE {t}s2 g $ MKSTREAM",
        // Bitmaps.
        "SETBIT {t}b 3 1",
        "SETBIT {t}b 3 1",
        "BITFIELD {t}b SET u8 0 5 GET u8 0",
        "BITFIELD {t}b GET u8 0",
        "BITFIELD {t}b OVERFLOW FAIL INCRBY u8 0 300",
        "BITFIELD {t}b OVERFLOW FAIL INCRBY u8 0 300 INCRBY u8 0 1",
        "BITFIELD {t}b INCRBY u8 0 0",
        "BITFIELD {t}b SET u8 0 6",
        "BITFIELD {t}b OVERFLOW FAIL INCRBY u8 100 300",
        "BITFIELD {t}b4 SET u8 0 0",
        "SETBIT {t}b 1000 0",
        "SETBIT {t}b5 20 0",
        "BITOP AND {t}d {t}b {t}b",
        "BITOP AND {t}e {t}none",
        "BITOP AND {t}d {t}none",
        // HyperLogLogs.
        "PFADD {t}h a",
        "PFADD {t}h a",
        "PFADD {t}h2",
        "PFMERGE {t}h3 {t}h {t}h2",
        "PFMERGE {t}h3",
        "PFCOUNT {t}h3",
    ];
    for command in commands {
        let words: Vec<&str> = command.split(' ').collect();
        let (keel_reply, keel_events) = keel.events_one_shard(&words, "{t}sentinel");
        let (redis_reply, redis_events) = redis.events_one_shard(&words, "{t}sentinel");
        assert!(
            !matches!(redis_reply, R::Err(_)),
            "{command}: {redis_reply:?}"
        );
        assert_eq!(keel_reply, redis_reply, "reply of {command}");
        assert_eq!(keel_events, redis_events, "events of {command}");
    }
}

/// Commands whose keys live on several shards publish Redis's events from each key's shard:
/// RENAME's rename_from/rename_to, COPY's copy_to, the *STORE commands' store events, moves' pop
/// and push.
#[test]
fn cross_shard_commands_publish_what_redis_publishes() {
    let Some(reference) = common::reference::Reference::start() else {
        return;
    };
    let server = server();
    let mut keel = Side::at_port(server.port);
    let mut redis = Side::at_port(reference.port);
    let k = key_per_shard("k", SHARDS);
    let sentinels = key_per_shard("sentinel", SHARDS);
    let commands: Vec<Vec<&str>> = vec![
        vec!["SET", &k[0], "v"],
        vec!["RENAME", &k[0], &k[1]],
        vec!["RENAMENX", &k[1], &k[2]],
        vec!["COPY", &k[2], &k[0]],
        vec!["COPY", &k[0], &k[1], "REPLACE"],
        vec!["DEL", &k[0], &k[1], &k[2]],
        vec!["SADD", &k[0], "a", "b"],
        vec!["SADD", &k[1], "b", "c"],
        vec!["SUNIONSTORE", &k[2], &k[0], &k[1]],
        vec!["SINTERSTORE", &k[2], &k[0], &k[1]],
        vec!["SDIFFSTORE", &k[2], &k[1], &k[1]],
        vec!["SMOVE", &k[0], &k[1], "a"],
        vec!["DEL", &k[0], &k[1]],
        vec!["RPUSH", &k[0], "x"],
        vec!["LMOVE", &k[0], &k[1], "LEFT", "RIGHT"],
        vec!["RPOPLPUSH", &k[1], &k[0]],
        vec!["LMPOP", "2", &k[2], &k[0], "RIGHT"],
        vec!["SETBIT", &k[0], "1", "1"],
        vec!["BITOP", "OR", &k[1], &k[0], &k[2]],
        vec!["BITOP", "AND", &k[1], &k[2]],
        vec!["DEL", &k[0]],
        vec!["PFADD", &k[0], "a"],
        vec!["PFMERGE", &k[1], &k[0], &k[2]],
    ];
    assert_same_events_any_shard(&mut keel, &mut redis, &commands, &sentinels);
}

/// Under `appendfsync always` an event is held until the write it announces is durable (so a
/// subscriber never hears of a change a crash could take back); held events still all arrive, in
/// the order of the writes, from every shard.
#[test]
fn with_the_journal_on_events_arrive_in_write_order() {
    let server = Server::start(SHARDS, &[]);
    let mut c = Conn::new(&server);
    set_flags(&mut c, "E$g");
    let mut sub = keyevent_subscriber(&server);
    for key in key_per_shard("durable", SHARDS) {
        c.send(&["SET", &key, "v"]);
        c.send(&["APPEND", &key, "w"]);
        c.send(&["DEL", &key]);
        for _ in 0..3 {
            c.read();
        }
        expect_events(&mut sub, &[("set", &key), ("append", &key), ("del", &key)]);
    }
}

/// `new` is published when a key is added to a database, before the command's own event, and
/// not when a key is overwritten or changed; on every shard.
#[test]
fn new_precedes_the_event_of_the_command_that_adds_the_key() {
    let server = server();
    let mut c = Conn::new(&server);
    set_flags(&mut c, "E$hlszgn");
    let mut sub = keyevent_subscriber(&server);
    for key in key_per_shard("n", SHARDS) {
        // Hash tags keep every key on `key`'s shard, whose events come in order.
        let (h, l, s, z) = (
            format!("{{{key}}}:h"),
            format!("{{{key}}}:l"),
            format!("{{{key}}}:s"),
            format!("{{{key}}}:z"),
        );
        for command in [
            vec!["SET", &key, "1"],
            vec!["SET", &key, "2"],
            vec!["APPEND", &key, "x"],
            vec!["HSET", &h, "f", "v"],
            vec!["HSET", &h, "g", "v"],
            vec!["LPUSH", &l, "a"],
            vec!["LPUSH", &l, "b"],
            vec!["SADD", &s, "a"],
            vec!["SADD", &s, "b"],
            vec!["ZADD", &z, "1", "a"],
            vec!["ZADD", &z, "2", "b"],
        ] {
            c.call(&command);
        }
        expect_events(
            &mut sub,
            &[
                ("new", &key),
                ("set", &key),
                ("set", &key),
                ("append", &key),
                ("new", &h),
                ("hset", &h),
                ("hset", &h),
                ("new", &l),
                ("lpush", &l),
                ("lpush", &l),
                ("new", &s),
                ("sadd", &s),
                ("sadd", &s),
                ("new", &z),
                ("zadd", &z),
                ("zadd", &z),
            ],
        );
    }
}

/// A key created by a cross-shard MSET or RENAME is announced `new` (by the shard that now holds
/// it), each before its own event; an MSET overwriting a key announces no `new` for it.
#[test]
fn cross_shard_mset_and_rename_announce_their_new_keys() {
    let server = server();
    let mut c = Conn::new(&server);
    let k = key_per_shard("x", SHARDS);
    c.call(&["SET", &k[2], "old"]);
    set_flags(&mut c, "Egn$");
    let mut sub = keyevent_subscriber(&server);
    c.call(&["MSET", &k[0], "1", &k[1], "2", &k[2], "3"]);
    let events: Vec<_> = (0..5).map(|_| next_event(&mut sub)).collect();
    // Events of different shards have no order; each key's own events do.
    let first_of = |events: &[(String, String)], event: &str, key: &str| {
        events
            .iter()
            .position(|e| *e == (event.to_string(), key.to_string()))
            .unwrap_or_else(|| panic!("no {event} {key} in {events:?}"))
    };
    for key in &k[..2] {
        assert!(first_of(&events, "new", key) < first_of(&events, "set", key));
    }
    first_of(&events, "set", &k[2]);
    let sentinel = format!("{}:sentinel", k[2]);
    c.call(&["SET", &sentinel, "1"]);
    expect_events(&mut sub, &[("new", &sentinel), ("set", &sentinel)]);

    c.call(&["DEL", &k[1]]);
    expect_events(&mut sub, &[("del", &k[1])]);
    c.call(&["RENAME", &k[0], &k[1]]);
    let events: Vec<_> = (0..3).map(|_| next_event(&mut sub)).collect();
    assert!(first_of(&events, "new", &k[1]) < first_of(&events, "rename_to", &k[1]));
    first_of(&events, "rename_from", &k[0]);
}

/// `keymiss` is published for each missing key a read looks up (EXISTS included, as Redis
/// does), not for a write's lookups nor for keys that exist.
#[test]
fn keymiss_is_published_by_reads_of_missing_keys_only() {
    let server = server();
    let mut c = Conn::new(&server);
    set_flags(&mut c, "Em");
    let mut sub = keyevent_subscriber(&server);
    for key in key_per_shard("m", SHARDS) {
        let other = format!("{key}:other");
        c.call(&["SET", &other, "v"]);
        for command in [
            vec!["GET", &key],
            vec!["GET", &other],
            vec!["HGET", &key, "f"],
            vec!["LRANGE", &key, "0", "-1"],
            vec!["SMEMBERS", &key],
            vec!["ZSCORE", &key, "a"],
            vec!["EXISTS", &key],
            vec!["MGET", &key, &other, &key],
            // Writes: no keymiss.
            vec!["DEL", &key],
            vec!["LPUSHX", &key, "a"],
            vec!["HDEL", &key, "f"],
            vec!["INCR", &key],
            vec!["DEL", &key],
            vec!["STRLEN", &key],
        ] {
            c.call(&command);
        }
        let expected = [
            ("keymiss", &key),
            ("keymiss", &key),
            ("keymiss", &key),
            ("keymiss", &key),
            ("keymiss", &key),
            ("keymiss", &key),
            ("keymiss", &key),
            ("keymiss", &key),
            ("keymiss", &key),
        ];
        expect_events(&mut sub, &expected.map(|(e, k)| (e, k.as_str())));
    }
}

/// Neither `new` nor `keymiss` is published unless asked for by its own letter: `A` includes
/// neither.
#[test]
fn new_and_keymiss_are_off_unless_named() {
    let server = server();
    let mut c = Conn::new(&server);
    let mut sub = keyevent_subscriber(&server);
    for flags in ["EA", "E$g", "En", "Em"] {
        set_flags(&mut c, flags);
        for key in key_per_shard(&format!("off{flags}"), SHARDS) {
            c.call(&["GET", &key]);
            c.call(&["SET", &key, "v"]);
            c.call(&["DEL", &key]);
            let expected: &[(&str, &str)] = match flags {
                "En" => &[("new", &key)],
                "Em" => &[("keymiss", &key)],
                _ => &[("set", &key), ("del", &key)],
            };
            expect_events(&mut sub, expected);
            // Nothing else came: the next event is the sentinel's, on the same shard.
            set_flags(&mut c, "E$");
            c.call(&["SET", &key, "sentinel"]);
            expect_events(&mut sub, &[("set", &key)]);
            set_flags(&mut c, flags);
        }
    }
}

/// `new` and `keymiss` match redis-server's for the same commands: which commands publish them,
/// and their order among the commands' own events.
#[test]
fn new_and_keymiss_publish_what_redis_publishes() {
    let Some(reference) = common::reference::Reference::start() else {
        return;
    };
    let server = server();
    let mut keel = Side::with_flags(server.port, "EAnm");
    let mut redis = Side::with_flags(reference.port, "EAnm");
    let commands: &[&str] = &[
        "SET {t}a 1",
        "SET {t}a 2",
        "GET {t}a",
        "GET {t}none",
        "MGET {t}a {t}none {t}no2 {t}none",
        "EXISTS {t}none {t}a",
        "TYPE {t}none",
        "TTL {t}none",
        "STRLEN {t}none",
        "OBJECT ENCODING {t}none",
        "GETDEL {t}none",
        "SET {t}g v GET",
        "SET {t}g w GET",
        "GETSET {t}gs v",
        "INCR {t}i",
        "APPEND {t}ap x",
        "MSET {t}m1 1 {t}m2 2 {t}a 3",
        "MSETNX {t}q1 1 {t}q2 2",
        "HSET {t}h f v g w",
        "HGET {t}nh f",
        "HGETALL {t}nh",
        "HINCRBY {t}h2 f 1",
        "LPUSH {t}l a b",
        "LRANGE {t}nl 0 -1",
        "LPOP {t}nl",
        "LMOVE {t}l {t}l2 LEFT LEFT",
        "SADD {t}s a",
        "SMEMBERS {t}ns",
        "SINTER {t}s {t}ns",
        "SUNIONSTORE {t}d {t}s {t}ns",
        "SMOVE {t}s {t}s2 a",
        "ZADD {t}z 1 a",
        "ZSCORE {t}nz a",
        "ZRANGE {t}nz 0 -1",
        "ZUNIONSTORE {t}zd 2 {t}z {t}nz",
        "RENAME {t}a {t}b",
        "SET {t}a 1",
        "RENAME {t}a {t}c",
        "SET {t}a 1",
        "RENAME {t}a {t}c",
        "COPY {t}c {t}e",
        "COPY {t}c {t}e REPLACE",
        "COPY {t}c {t}e",
        "COPY {t}none {t}e",
        "MOVE {t}e 1",
        "DEL {t}none",
        "EXPIRE {t}none 10",
        "SORT {t}nl",
        "BITOP OR {t}bo {t}nb",
        "PFMERGE {t}pf {t}np",
        "PFCOUNT {t}np",
        "XADD {t}x 1-1 f v",
        "XRANGE {t}nx - +",
        "XREAD STREAMS {t}x {t}nx 0 0",
        "XREAD STREAMS {t}nx {t}x $ $",
        "XGROUP CREATE {t}x g 0",
        "XREADGROUP GROUP g c STREAMS {t}x {t}nx > >",
        "XREADGROUP GROUP g c STREAMS {t}nx {t}ny > >",
        "SORT {t}nl STORE {t}sd",
        "SORT {t}l STORE {t}sd",
        "SORT_RO {t}nl",
        "SINTERCARD 2 {t}s2 {t}ns",
        "ZUNION 2 {t}nz {t}z",
        "HRANDFIELD {t}nh",
        "GETEX {t}none",
        "TOUCH {t}none {t}gs",
        "DUMP {t}none",
        "PTTL {t}none",
        "GETRANGE {t}none 0 1",
        "BITCOUNT {t}none",
        "GEOPOS {t}none a",
        "XINFO STREAM {t}none",
        "ZRANGESTORE {t}zr {t}nz 0 -1",
        "SDIFFSTORE {t}d {t}ns {t}s2",
        "GEOSEARCHSTORE {t}gd {t}none FROMLONLAT 0 0 BYRADIUS 1 km",
        "GEORADIUS {t}none 0 0 1 km STORE {t}gd",
        "GEOADD {t}geo 0 0 a",
        "GEORADIUS {t}geo 0 0 1 km STORE {t}gd",
        "GEORADIUS {t}geo 0 0 1 km",
        "GEORADIUS {t}none 0 0 1 km",
        "GEORADIUSBYMEMBER {t}none a 1 km",
    ];
    for command in commands {
        let words: Vec<&str> = command.split(' ').collect();
        let (keel_reply, keel_events) = keel.events_one_shard(&words, "{t}sentinel");
        let (redis_reply, redis_events) = redis.events_one_shard(&words, "{t}sentinel");
        assert_eq!(keel_reply, redis_reply, "reply of {command}");
        assert_eq!(keel_events, redis_events, "events of {command}");
    }
}

/// Cross-shard commands publish `new` and `keymiss` as Redis does, each from its key's shard.
#[test]
fn cross_shard_new_and_keymiss_publish_what_redis_publishes() {
    let Some(reference) = common::reference::Reference::start() else {
        return;
    };
    let server = server();
    let mut keel = Side::with_flags(server.port, "EAnm");
    let mut redis = Side::with_flags(reference.port, "EAnm");
    let k = key_per_shard("k", SHARDS);
    let n = key_per_shard("none", SHARDS);
    let sentinels = key_per_shard("sentinel", SHARDS);
    let commands: Vec<Vec<&str>> = vec![
        vec!["MSET", &k[0], "1", &k[1], "2"],
        vec!["MSET", &k[0], "1", &k[1], "2", &k[2], "3"],
        vec!["MGET", &k[0], &n[1], &n[2], &n[1]],
        vec!["EXISTS", &n[0], &k[1], &n[2]],
        vec!["DEL", &k[1], &k[2]],
        vec!["RENAME", &k[0], &k[1]],
        vec!["RENAMENX", &k[1], &k[2]],
        vec!["COPY", &k[2], &k[0]],
        vec!["COPY", &k[2], &k[0], "REPLACE"],
        vec!["COPY", &k[2], &k[0]],
        vec!["RENAME", &k[0], &k[2]],
        vec!["RENAME", &n[0], &k[1]],
        vec!["COPY", &n[0], &k[1]],
        vec!["SADD", &k[1], "a"],
        vec!["SUNIONSTORE", &n[0], &k[1], &n[2]],
        vec!["SINTER", &k[1], &n[2]],
        vec!["MSETNX", &n[1], "1", &n[2], "2"],
        vec!["COPY", &n[0], &k[1], "DB", "1"],
        vec!["SUNION", &n[0], &k[1], &n[2]],
        vec!["SINTERCARD", "2", &n[0], &k[1]],
        vec!["ZADD", &k[0], "1", "a"],
        vec!["ZUNIONSTORE", &k[2], "2", &k[0], &n[1]],
        vec!["ZUNION", "2", &n[0], &n[1]],
        vec!["LMOVE", &n[0], &n[1], "LEFT", "LEFT"],
        vec!["PFMERGE", &k[2], &n[0], &n[1]],
        vec!["PFCOUNT", &k[2], &n[0]],
        vec!["BITOP", "OR", &k[0], &n[1], &n[2]],
    ];
    assert_same_events_any_shard(&mut keel, &mut redis, &commands, &sentinels);
}

/// Under `appendfsync always` `new` is held with the write it announces, and arrives in order
/// with the command's own events; a read's `keymiss` follows.
#[test]
fn with_the_journal_on_new_and_keymiss_arrive_in_order() {
    let server = Server::start(SHARDS, &[]);
    let mut c = Conn::new(&server);
    set_flags(&mut c, "E$gnm");
    let mut sub = keyevent_subscriber(&server);
    for key in key_per_shard("durable", SHARDS) {
        c.send(&["SET", &key, "v"]);
        c.send(&["DEL", &key]);
        c.send(&["GET", &key]);
        for _ in 0..3 {
            c.read();
        }
        expect_events(
            &mut sub,
            &[
                ("new", &key),
                ("set", &key),
                ("del", &key),
                ("keymiss", &key),
            ],
        );
    }
}
