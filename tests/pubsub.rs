//! Pub/Sub: Redis 7's replies, delivery to subscribers on every shard, sharded pub/sub, RESP3
//! pushes, and the output-buffer limit that cuts off a subscriber that stops reading.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::resp::{bulk, err, shard_of, Conn, R};
use common::Server;

const SHARDS: usize = 3;

fn server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no"])
}

/// The shard serving a connection: client ids are `seq * 1024 + shard + 1`.
fn shard_of_conn(conn: &mut Conn) -> usize {
    match conn.cmd("CLIENT ID") {
        R::Int(id) => ((id - 1) % 1024) as usize,
        other => panic!("CLIENT ID answered {other:?}"),
    }
}

/// One main-port connection served by each shard, in shard order.
fn conn_per_shard(server: &Server) -> Vec<Conn> {
    let mut found: Vec<Option<Conn>> = (0..SHARDS).map(|_| None).collect();
    for _ in 0..200 {
        let mut conn = Conn::new(server);
        let shard = shard_of_conn(&mut conn);
        if found[shard].is_none() {
            found[shard] = Some(conn);
        }
        if found.iter().all(Option::is_some) {
            return found.into_iter().map(Option::unwrap).collect();
        }
    }
    panic!("connections did not reach every shard");
}

fn frame(items: &[&str]) -> R {
    R::Array(items.iter().map(bulk).collect())
}

/// A confirmation frame `[word, name, count]` (RESP2).
fn confirm(word: &str, name: &str, count: i64) -> R {
    R::Array(vec![bulk(word), bulk(name), R::Int(count)])
}

#[test]
fn subscribed_mode_replies_match_redis() {
    let server = server();
    let mut c = Conn::new(&server);
    c.send(&["SUBSCRIBE", "a", "b"]);
    assert_eq!(c.read(), confirm("subscribe", "a", 1));
    assert_eq!(c.read(), confirm("subscribe", "b", 2));
    assert_eq!(c.cmd("GET x"), err("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"));
    assert_eq!(c.cmd("CONFIG GET x"), err("ERR Can't execute 'config|get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"));
    assert_eq!(c.cmd("PING"), frame(&["pong", ""]));
    assert_eq!(c.cmd("PING hi"), frame(&["pong", "hi"]));
    c.send(&["PSUBSCRIBE", "p*"]);
    assert_eq!(c.read(), confirm("psubscribe", "p*", 3));
    // Shard channels are counted on their own.
    assert_eq!(c.cmd("SSUBSCRIBE s"), confirm("ssubscribe", "s", 1));
    assert_eq!(c.cmd("SUNSUBSCRIBE"), confirm("sunsubscribe", "s", 0));
    assert_eq!(
        c.cmd("SUNSUBSCRIBE"),
        R::Array(vec![bulk("sunsubscribe"), R::Nil, R::Int(0)])
    );
    c.send(&["UNSUBSCRIBE"]);
    let mut left = vec![c.read(), c.read()];
    left.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(
        left,
        vec![
            confirm("unsubscribe", "a", 2),
            confirm("unsubscribe", "b", 1)
        ]
    );
    assert_eq!(c.cmd("PUNSUBSCRIBE p*"), confirm("punsubscribe", "p*", 0));
    // No longer subscribed: every command runs again.
    assert_eq!(c.cmd("PING"), R::Status("PONG".into()));
    assert_eq!(c.cmd("GET x"), R::Nil);
    assert_eq!(
        c.cmd("UNSUBSCRIBE"),
        R::Array(vec![bulk("unsubscribe"), R::Nil, R::Int(0)])
    );
    assert_eq!(
        c.cmd("SUBSCRIBE"),
        err("ERR wrong number of arguments for 'subscribe' command")
    );
}

#[test]
fn publish_reaches_subscribers_on_every_shard_and_counts_them_all() {
    let server = server();
    let mut subs = conn_per_shard(&server);
    for sub in &mut subs {
        assert_eq!(sub.cmd("SUBSCRIBE news"), confirm("subscribe", "news", 1));
    }
    subs[1].cmd("PSUBSCRIBE n*");
    let mut publishers = conn_per_shard(&server);
    for (i, publisher) in publishers.iter_mut().enumerate() {
        let text = format!("from_{i}");
        assert_eq!(publisher.call(&["PUBLISH", "news", &text]), R::Int(4));
        for (shard, sub) in subs.iter_mut().enumerate() {
            assert_eq!(
                sub.read(),
                frame(&["message", "news", &text]),
                "shard {shard}"
            );
            if shard == 1 {
                assert_eq!(sub.read(), frame(&["pmessage", "n*", "news", &text]));
            }
        }
    }
    assert_eq!(publishers[0].cmd("PUBLISH other x"), R::Int(0));
    assert_eq!(publishers[2].cmd("PUBLISH nothing y"), R::Int(1));
    assert_eq!(subs[1].read(), frame(&["pmessage", "n*", "nothing", "y"]));
}

#[test]
fn messages_from_one_publisher_arrive_in_order_on_other_shards() {
    let server = server();
    let mut subs = conn_per_shard(&server);
    for sub in &mut subs {
        sub.cmd("SUBSCRIBE seq");
    }
    let mut publisher = conn_per_shard(&server).remove(0);
    const MESSAGES: usize = 2000;
    // Pipelined, so that many messages are in flight between shards at once.
    for i in 0..MESSAGES {
        publisher.send(&["PUBLISH", "seq", &i.to_string()]);
    }
    for _ in 0..MESSAGES {
        assert_eq!(publisher.read(), R::Int(3));
    }
    for sub in &mut subs {
        for i in 0..MESSAGES {
            assert_eq!(sub.read(), frame(&["message", "seq", &i.to_string()]));
        }
    }
}

#[test]
fn resp3_subscribers_get_push_frames_and_may_run_any_command() {
    let server = server();
    let mut conns = conn_per_shard(&server);
    let mut sub = conns.remove(1);
    assert!(matches!(sub.cmd("HELLO 3"), R::Map(_)));
    let push = |items: Vec<R>| R::Push(items);
    assert_eq!(
        sub.cmd("SUBSCRIBE ch"),
        push(vec![bulk("subscribe"), bulk("ch"), R::Int(1)])
    );
    assert_eq!(sub.cmd("PING"), R::Status("PONG".into()));
    assert_eq!(sub.cmd("SET k v"), R::Status("OK".into()));
    assert_eq!(conns[0].cmd("PUBLISH ch hello"), R::Int(1));
    assert_eq!(
        sub.read(),
        push(vec![bulk("message"), bulk("ch"), bulk("hello")])
    );
    // A push that arrives while the connection is idle is written at once, not at its next
    // request.
    assert_eq!(conns[1].cmd("PUBLISH ch again"), R::Int(1));
    assert_eq!(
        sub.read(),
        push(vec![bulk("message"), bulk("ch"), bulk("again")])
    );
    assert_eq!(sub.cmd("GET k"), bulk("v"));
}

#[test]
fn introspection_counts_subscribers_node_wide_and_forgets_closed_clients() {
    let server = server();
    let mut subs = conn_per_shard(&server);
    subs[0].cmd("SUBSCRIBE a b");
    subs[0].read();
    subs[1].cmd("SUBSCRIBE a");
    subs[2].cmd("PSUBSCRIBE x* y*");
    subs[2].read();
    subs[1].cmd("PSUBSCRIBE x*");
    let mut admin = Conn::new(&server);
    let mut channels = match admin.cmd("PUBSUB CHANNELS") {
        R::Array(names) => names,
        other => panic!("{other:?}"),
    };
    channels.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(channels, vec![bulk("a"), bulk("b")]);
    assert_eq!(admin.cmd("PUBSUB CHANNELS b*"), R::Array(vec![bulk("b")]));
    assert_eq!(
        admin.cmd("PUBSUB NUMSUB a b c"),
        R::Array(vec![
            bulk("a"),
            R::Int(2),
            bulk("b"),
            R::Int(1),
            bulk("c"),
            R::Int(0)
        ])
    );
    assert_eq!(admin.cmd("PUBSUB NUMPAT"), R::Int(2));
    assert_eq!(
        admin.cmd("PUBSUB CHANNELS a b"),
        err("ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.")
    );
    // A closed connection and a RESET one leave nothing behind.
    let closed = subs.remove(0);
    drop(closed);
    // subs[0] is now the shard-1 connection (channel a and pattern x*).
    assert_eq!(subs[0].cmd("RESET"), R::Status("RESET".into()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while admin.cmd("PUBSUB NUMSUB a") != R::Array(vec![bulk("a"), R::Int(0)]) {
        assert!(
            Instant::now() < deadline,
            "the closed client's subscription stayed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(admin.cmd("PUBSUB NUMPAT"), R::Int(2));
    assert_eq!(admin.cmd("PUBLISH x1 m"), R::Int(1));
}

/// A channel name owned by `shard`.
fn channel_on(shard: usize) -> String {
    (0..)
        .map(|i| format!("sch{i}"))
        .find(|c| shard_of(c, SHARDS) == shard)
        .unwrap()
}

#[test]
fn sharded_pubsub_reaches_subscribers_on_other_shards_through_the_slot_owner() {
    let server = server();
    let mut conns = conn_per_shard(&server);
    let channel = channel_on(2);
    // The subscriber's connection lives on shard 0; the channel's slot is shard 2's.
    assert_eq!(
        conns[0].call(&["SSUBSCRIBE", &channel]),
        confirm("ssubscribe", &channel, 1)
    );
    let mut other = conn_per_shard(&server).remove(2);
    other.call(&["SSUBSCRIBE", &channel]);
    assert_eq!(conns[1].call(&["SPUBLISH", &channel, "hi"]), R::Int(2));
    assert_eq!(conns[0].read(), frame(&["smessage", &channel, "hi"]));
    assert_eq!(other.read(), frame(&["smessage", &channel, "hi"]));
    // Plain PUBLISH does not reach shard channels, nor SPUBLISH plain ones.
    assert_eq!(conns[1].call(&["PUBLISH", &channel, "x"]), R::Int(0));
    assert_eq!(
        conns[2].cmd("PUBSUB SHARDCHANNELS"),
        R::Array(vec![bulk(&channel)])
    );
    assert_eq!(
        conns[1].call(&["PUBSUB", "SHARDNUMSUB", &channel, "none"]),
        R::Array(vec![bulk(&channel), R::Int(2), bulk("none"), R::Int(0)])
    );
    assert_eq!(conns[1].cmd("PUBSUB CHANNELS"), R::Array(vec![]));
}

#[test]
fn cluster_port_refuses_shard_channels_of_other_slots() {
    let server = Server::start(SHARDS, &["--appendonly", "no", "--cluster-enabled", "yes"]);
    let cluster_port = server.port + 1;
    let mut shard0 = Conn::at_port(cluster_port);
    let theirs = channel_on(1);
    let slot = redis::cluster_routing::get_slot(theirs.as_bytes());
    assert_eq!(
        shard0.call(&["SSUBSCRIBE", &theirs]),
        err(&format!("MOVED {slot} 127.0.0.1:{}", cluster_port + 1))
    );
    assert_eq!(
        shard0.call(&["SPUBLISH", &theirs, "m"]),
        err(&format!("MOVED {slot} 127.0.0.1:{}", cluster_port + 1))
    );
    let (a, b) = (channel_on(0), format!("{}x", channel_on(0)));
    assert_ne!(
        redis::cluster_routing::get_slot(a.as_bytes()),
        redis::cluster_routing::get_slot(b.as_bytes())
    );
    assert_eq!(
        shard0.call(&["SSUBSCRIBE", &a, &b]),
        err("CROSSSLOT Keys in request don't hash to the same slot")
    );
    assert_eq!(
        shard0.call(&["SSUBSCRIBE", &a]),
        confirm("ssubscribe", &a, 1)
    );
}

#[test]
fn client_output_buffer_limit_reads_and_writes_like_redis() {
    let server = server();
    let mut c = Conn::new(&server);
    let get = |c: &mut Conn| c.cmd("CONFIG GET client-output-buffer-limit");
    assert_eq!(
        get(&mut c),
        R::Array(vec![
            bulk("client-output-buffer-limit"),
            bulk("normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
        ])
    );
    assert_eq!(
        c.call(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 1k 5 normal 1k 0 0"
        ]),
        R::Status("OK".into())
    );
    assert_eq!(
        get(&mut c),
        R::Array(vec![
            bulk("client-output-buffer-limit"),
            bulk("normal 1000 0 0 slave 268435456 67108864 60 pubsub 1048576 1000 5")
        ])
    );
    assert_eq!(
        c.call(&["CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 1k"]),
        err("ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Wrong number of arguments in buffer limit configuration.")
    );
    assert_eq!(
        c.call(&["CONFIG", "SET", "client-output-buffer-limit", "foo 1 1 1"]),
        err("ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Invalid client class specified in buffer limit configuration.")
    );
}

#[test]
fn a_subscriber_that_stops_reading_is_disconnected_and_the_server_keeps_serving() {
    let server = server();
    let mut admin = Conn::new(&server);
    admin.call(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "pubsub 256kb 0 0",
    ]);
    let mut slow = common::Raw::connect(server.port);
    // It subscribes, then never reads again.
    slow.send(&common::resp(&["SUBSCRIBE", "firehose"]));
    let started = Instant::now();
    while admin.cmd("PUBSUB NUMSUB firehose") != R::Array(vec![bulk("firehose"), R::Int(1)]) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "SUBSCRIBE did not land"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let payload = "x".repeat(64 * 1024);
    let mut publisher = conn_per_shard(&server).remove(0);
    // Far more than the socket buffers hold: the rest stays pending in the server until the limit.
    let mut receivers_seen = Vec::new();
    for _ in 0..400 {
        match publisher.call(&["PUBLISH", "firehose", &payload]) {
            R::Int(n) => receivers_seen.push(n),
            other => panic!("{other:?}"),
        }
        if receivers_seen.last() == Some(&0) {
            break;
        }
    }
    assert_eq!(receivers_seen[0], 1);
    assert_eq!(
        receivers_seen.last(),
        Some(&0),
        "the subscriber that never reads was not cut off"
    );
    // Its connection is closed (after what the socket buffers already held).
    slow.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    slow.stream
        .read_to_end(&mut rest)
        .expect("the server closed the connection");
    assert!(rest.len() < 400 * payload.len());
    assert_eq!(admin.cmd("PING"), R::Status("PONG".into()));
    assert_eq!(
        admin.cmd("PUBSUB NUMSUB firehose"),
        R::Array(vec![bulk("firehose"), R::Int(0)])
    );
}

/// INFO's `pubsub_clients` counts subscribed clients on every shard.
#[test]
fn info_counts_pubsub_clients_on_every_shard() {
    let server = server();
    let mut c = Conn::new(&server);
    let count = |c: &mut Conn| -> i64 {
        let R::Bulk(info) = c.cmd("INFO clients") else {
            panic!("INFO is a bulk string");
        };
        let info = String::from_utf8(info).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("pubsub_clients:"))
            .unwrap_or_else(|| panic!("no pubsub_clients in {info}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(count(&mut c), 0);
    let mut subscribers = conn_per_shard(&server);
    for (i, sub) in subscribers.iter_mut().enumerate() {
        sub.cmd(&format!("SUBSCRIBE news{i}"));
    }
    assert_eq!(count(&mut c), SHARDS as i64);
    subscribers[1].cmd("UNSUBSCRIBE");
    assert_eq!(count(&mut c), SHARDS as i64 - 1);
}
