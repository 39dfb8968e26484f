//! Keyed commands that route themselves (SINTERCARD, LMPOP, ZMPOP, ZUNION/ZINTER/ZDIFF and their
//! STORE forms, ZINTERCARD, SORT, GEORADIUS), and the blocking pops queued as pop steps (BLPOP,
//! BRPOP, BZPOPMIN, BZPOPMAX), inside MULTI/EXEC: they run at their place in the
//! queue, see the transaction's earlier writes and are seen by its later commands, on keys of
//! one shard or several, on a one-shard server and on a cluster port; other clients never
//! interleave with them; and their writes survive a SIGKILL as part of the transaction, or not at
//! all.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::resp::R::{self, Array, Int, Nil};
use common::resp::{bulk, key_per_shard, ok, transaction, Conn, WRONGTYPE};
use common::Server;

const SHARDS: usize = 3;

fn bulks(items: &[&str]) -> R {
    Array(items.iter().map(bulk).collect())
}

/// Keys on three different shards.
fn spread_keys(prefix: &str) -> [String; 3] {
    let k = key_per_shard(prefix, SHARDS);
    [k[0].clone(), k[1].clone(), k[2].clone()]
}

/// Three keys of one slot (so one shard): a shared hash tag.
fn same_slot_keys(prefix: &str) -> [String; 3] {
    ["a", "b", "c"].map(|s| format!("{{{prefix}}}{s}"))
}

/// Each self-routing command runs between the writes queued around it, on keys `k`.
fn check_queue_order(c: &mut Conn, k: &[String; 3]) {
    let [a, b, d] = k;
    assert_eq!(c.cmd(&format!("SADD {a}s x y")), Int(2));
    assert_eq!(c.cmd(&format!("SADD {b}s x")), Int(1));
    let sets = transaction(
        c,
        &[
            format!("SINTERCARD 2 {a}s {b}s"),
            format!("SADD {b}s y"),
            format!("SINTERCARD 2 {a}s {b}s"),
        ],
    );
    assert_eq!(sets, Array(vec![Int(1), Int(1), Int(2)]), "SINTERCARD");

    let lists = transaction(
        c,
        &[
            format!("LPUSH {a}q 1"),
            format!("LMPOP 2 {b}q {a}q LEFT"),
            format!("LPUSH {a}q 2"),
            format!("LMPOP 2 {b}q {a}q LEFT COUNT 5"),
            format!("LMPOP 2 {b}q {a}q LEFT"),
        ],
    );
    let popped = |key: &str, v: &str| Array(vec![bulk(key), bulks(&[v])]);
    assert_eq!(
        lists,
        Array(vec![
            Int(1),
            popped(&format!("{a}q"), "1"),
            Int(1),
            popped(&format!("{a}q"), "2"),
            Nil,
        ]),
        "LMPOP"
    );

    let zpops = transaction(
        c,
        &[
            format!("ZADD {a}z 1 m"),
            format!("ZMPOP 2 {d}z {a}z MIN"),
            format!("ZADD {a}z 2 n"),
            format!("ZMPOP 2 {d}z {a}z MIN"),
            format!("EXISTS {a}z"),
        ],
    );
    let zpopped =
        |m: &str, s: &str| Array(vec![bulk(format!("{a}z")), Array(vec![bulks(&[m, s])])]);
    assert_eq!(
        zpops,
        Array(vec![
            Int(1),
            zpopped("m", "1"),
            Int(1),
            zpopped("n", "2"),
            Int(0)
        ]),
        "ZMPOP"
    );

    let algebra = transaction(
        c,
        &[
            format!("ZADD {a}u 1 p"),
            format!("ZUNION 2 {a}u {b}u"),
            format!("ZADD {b}u 2 p 3 q"),
            format!("ZUNION 2 {a}u {b}u WITHSCORES"),
            format!("ZINTER 2 {a}u {b}u"),
            format!("ZDIFF 2 {b}u {a}u"),
            format!("ZINTERCARD 2 {a}u {b}u"),
            format!("ZUNIONSTORE {d}u 2 {a}u {b}u"),
            format!("ZRANGE {d}u 0 -1 WITHSCORES"),
            format!("ZINTERSTORE {d}u 2 {a}u {b}u"),
            format!("ZCARD {d}u"),
            format!("ZDIFFSTORE {d}u 2 {b}u {a}u"),
            format!("ZRANGE {d}u 0 -1"),
        ],
    );
    assert_eq!(
        algebra,
        Array(vec![
            Int(1),
            bulks(&["p"]),
            Int(2),
            bulks(&["p", "3", "q", "3"]),
            bulks(&["p"]),
            bulks(&["q"]),
            Int(1),
            Int(2),
            bulks(&["p", "3", "q", "3"]),
            Int(1),
            Int(1),
            Int(1),
            bulks(&["q"]),
        ]),
        "set algebra"
    );

    let sorts = transaction(
        c,
        &[
            format!("RPUSH {a}l 3 1"),
            format!("SORT {a}l"),
            format!("RPUSH {a}l 2"),
            format!("SORT_RO {a}l DESC"),
            format!("SORT {a}l STORE {d}l"),
            format!("LRANGE {d}l 0 -1"),
            format!("RPUSH {a}l 0"),
            format!("SORT {a}l LIMIT 0 1"),
        ],
    );
    assert_eq!(
        sorts,
        Array(vec![
            Int(2),
            bulks(&["1", "3"]),
            Int(3),
            bulks(&["3", "2", "1"]),
            Int(3),
            bulks(&["1", "2", "3"]),
            Int(4),
            bulks(&["0"]),
        ]),
        "SORT"
    );

    let geo = transaction(
        c,
        &[
            format!("GEOADD {a}g 13.361389 38.115556 palermo"),
            format!("GEORADIUS {a}g 15 37 200 km STORE {b}g"),
            format!("GEOADD {a}g 15.087269 37.502669 catania"),
            format!("GEORADIUSBYMEMBER {a}g palermo 200 km STORE {b}g"),
            format!("ZCARD {b}g"),
            format!("GEORADIUS {a}g 15 37 200 km ASC"),
        ],
    );
    assert_eq!(
        geo,
        Array(vec![
            Int(1),
            Int(1),
            Int(1),
            Int(2),
            Int(2),
            bulks(&["catania", "palermo"]),
        ]),
        "GEORADIUS"
    );
}

#[test]
fn self_routing_commands_run_in_queue_order_with_keys_on_several_shards() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    check_queue_order(&mut c, &spread_keys("k"));
}

#[test]
fn self_routing_commands_run_in_queue_order_with_keys_on_one_shard() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    check_queue_order(&mut c, &same_slot_keys("t"));
}

#[test]
fn self_routing_commands_run_in_queue_order_on_a_one_shard_server() {
    let server = Server::start(1, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    check_queue_order(&mut c, &spread_keys("k"));
}

#[test]
fn self_routing_commands_run_in_queue_order_on_a_cluster_port() {
    let server = Server::start(SHARDS, &["--appendonly", "no", "--cluster-enabled", "yes"]);
    let k = key_per_shard("c", SHARDS);
    // The keys' slot is on shard 1: its port is the base port + 1 + 1.
    let mut c = Conn::at_port(server.port + 2);
    check_queue_order(&mut c, &same_slot_keys(&k[1]));
}

#[test]
fn blocking_multi_key_pops_inside_multi_run_in_queue_order_across_shards_without_blocking() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    let [a, b, d] = spread_keys("k");
    let reply = transaction(
        &mut c,
        &[
            format!("BLMPOP 0 2 {b} {a} LEFT"),
            format!("RPUSH {a} x y"),
            format!("BLMPOP 0 2 {b} {a} LEFT COUNT 2"),
            format!("BZMPOP 0 2 {b}z {d} MAX"),
            format!("ZADD {d} 1 m 2 n"),
            format!("BZMPOP 0 2 {b}z {d} MAX"),
        ],
    );
    assert_eq!(
        reply,
        Array(vec![
            Nil,
            Int(2),
            Array(vec![bulk(&a), bulks(&["x", "y"])]),
            Nil,
            Int(2),
            Array(vec![bulk(&d), Array(vec![bulks(&["n", "2"])])]),
        ])
    );
}

/// BLPOP, BRPOP, BZPOPMIN and BZPOPMAX inside MULTI run at once, at their place in the queue, as
/// in Redis: each pops from the first non-empty of its keys in argument order, answers a null
/// array when every key is empty, and WRONGTYPE for a key of another type met before a non-empty
/// one. `l` and `z` are the list and sorted-set keys (the third one of each becomes a string).
/// The expected replies are Redis 7.0.15's for the same queue.
fn check_blocking_pops_in_queue_order(c: &mut Conn, l: &[String; 3], z: &[String; 3]) {
    let [a, b, s] = l.each_ref().map(String::as_str);
    let lists = transaction(
        c,
        &[
            format!("BLPOP {a} {b} 0"),
            format!("LPUSH {b} x"),
            format!("BLPOP {a} {b} 0"),
            format!("RPUSH {a} 1 2"),
            format!("RPUSH {b} 3"),
            format!("BRPOP {b} {a} 0"),
            format!("BLPOP {b} {a} 0"),
            format!("SET {s} v"),
            format!("BLPOP {a} {s} {b} 0"),
            format!("BLPOP {a} {s} {b} 0"),
            format!("EXISTS {a} {b}"),
        ],
    );
    assert_eq!(
        lists,
        Array(vec![
            Nil,
            Int(1),
            bulks(&[b, "x"]),
            Int(2),
            Int(1),
            bulks(&[b, "3"]),
            bulks(&[a, "1"]),
            ok(),
            bulks(&[a, "2"]),
            R::Err(WRONGTYPE.into()),
            Int(0),
        ]),
        "BLPOP/BRPOP"
    );

    let [y, w, t] = z.each_ref().map(String::as_str);
    let zsets = transaction(
        c,
        &[
            format!("BZPOPMIN {y} {w} 0"),
            format!("ZADD {w} 1 m 2 n 3 o"),
            format!("BZPOPMIN {y} {w} 0"),
            format!("BZPOPMAX {y} {w} 0"),
            format!("ZADD {y} 5 p"),
            format!("BZPOPMAX {w} {y} 0"),
            format!("BZPOPMIN {w} {y} 0"),
            format!("SET {t} v"),
            format!("BZPOPMAX {y} {t} {w} 0"),
            format!("EXISTS {y} {w}"),
        ],
    );
    assert_eq!(
        zsets,
        Array(vec![
            Nil,
            Int(3),
            bulks(&[w, "m", "1"]),
            bulks(&[w, "o", "3"]),
            Int(1),
            bulks(&[w, "n", "2"]),
            bulks(&[y, "p", "5"]),
            ok(),
            R::Err(WRONGTYPE.into()),
            Int(0),
        ]),
        "BZPOPMIN/BZPOPMAX"
    );
}

#[test]
fn blocking_pops_inside_multi_run_in_queue_order_with_keys_on_several_shards() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    check_blocking_pops_in_queue_order(&mut c, &spread_keys("l"), &spread_keys("z"));
}

#[test]
fn blocking_pops_inside_multi_run_in_queue_order_with_keys_on_one_shard() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    check_blocking_pops_in_queue_order(&mut c, &same_slot_keys("l"), &same_slot_keys("z"));
}

#[test]
fn blocking_pops_inside_multi_run_in_queue_order_on_a_cluster_port() {
    let server = Server::start(SHARDS, &["--appendonly", "no", "--cluster-enabled", "yes"]);
    let k = key_per_shard("c", SHARDS);
    // The keys' slot is on shard 1: its port is the base port + 1 + 1.
    let mut c = Conn::at_port(server.port + 2);
    let lists = same_slot_keys(&k[1]);
    let zsets = lists.clone().map(|key| format!("{key}z"));
    check_blocking_pops_in_queue_order(&mut c, &lists, &zsets);
}

#[test]
fn blocking_pops_inside_multi_with_keys_of_several_slots_are_refused_on_a_cluster_port() {
    let server = Server::start(SHARDS, &["--appendonly", "no", "--cluster-enabled", "yes"]);
    let k = key_per_shard("c", SHARDS);
    let mut c = Conn::at_port(server.port + 2);
    let crossslot = R::Err("CROSSSLOT Keys in request don't hash to the same slot".into());
    for pop in ["BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"] {
        assert_eq!(c.cmd("MULTI"), ok());
        let line = format!("{pop} {{{}}}a {{{}}}b 0", k[1], k[2]);
        assert_eq!(c.cmd(&line), crossslot, "{pop}");
        assert_eq!(
            c.cmd("EXEC"),
            R::Err("EXECABORT Transaction discarded because of previous errors.".into())
        );
    }
}

/// A connection speaking RESP `protocol`, its HELLO reply read.
fn raw_speaking(server_port: u16, protocol: &str) -> common::Raw {
    let mut raw = common::Raw::connect(server_port);
    raw.send(&common::resp(&["HELLO", protocol]));
    raw.send(&common::resp(&["ECHO", "hello-read"]));
    let mut seen = Vec::new();
    while !seen.ends_with(b"hello-read\r\n") {
        seen.extend(raw.read_exact(1));
    }
    raw
}

/// MULTI, `commands`, EXEC on `raw`: the EXEC reply's bytes, which must be `expected_len` long.
fn raw_transaction(raw: &mut common::Raw, commands: &[Vec<&str>], expected_len: usize) -> String {
    raw.send(&common::resp(&["MULTI"]));
    for command in commands {
        raw.send(&common::resp(command));
    }
    raw.send(&common::resp(&["EXEC"]));
    let acks = "+OK\r\n".len() + commands.len() * "+QUEUED\r\n".len();
    let acked = raw.read_exact(acks);
    assert!(
        !acked.contains(&b'-'),
        "{}",
        String::from_utf8_lossy(&acked)
    );
    String::from_utf8(raw.read_exact(expected_len)).unwrap()
}

/// The bytes EXEC answers for blocking pops on empty keys and one pop of a sorted set, in RESP2
/// and RESP3: a null array (`*-1` / `_`) for each empty pop, the score a bulk string in RESP2 and
/// a double in RESP3 (Redis 7.0.15's bytes, checked against the installed `redis-server` when
/// there is one).
#[test]
fn blocking_pops_inside_multi_across_shards_answer_as_redis_in_resp2_and_resp3() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let reference = common::reference::Reference::start();
    let [a, b, _] = spread_keys("l");
    let [y, w, _] = spread_keys("z");
    let commands = [
        vec!["BLPOP", &a, &b, "0"],
        vec!["BRPOP", &b, &a, "0"],
        vec!["BZPOPMIN", &y, &w, "0"],
        vec!["BZPOPMAX", &w, &y, "0"],
        vec!["ZADD", &w, "1.5", "m"],
        vec!["BZPOPMIN", &y, &w, "0"],
    ];
    let popped = format!("*3\r\n${}\r\n{w}\r\n$1\r\nm\r\n", w.len());
    let expected = [
        (
            "2",
            format!("*6\r\n{}:1\r\n{popped}$3\r\n1.5\r\n", "*-1\r\n".repeat(4)),
        ),
        (
            "3",
            format!("*6\r\n{}:1\r\n{popped},1.5\r\n", "_\r\n".repeat(4)),
        ),
    ];
    for (protocol, bytes) in expected {
        let mut ports = vec![server.port];
        ports.extend(reference.as_ref().map(|r| r.port));
        for port in ports {
            let mut raw = raw_speaking(port, protocol);
            let reply = raw_transaction(&mut raw, &commands, bytes.len());
            assert_eq!(reply, bytes, "RESP{protocol} on port {port}");
        }
    }
}

#[test]
fn stream_reads_inside_multi_run_in_queue_order_across_shards() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    let [a, b, _] = spread_keys("k");
    let entry = |id: &str, v: &str| Array(vec![bulk(id), bulks(&["f", v])]);
    let stream = |key: &str, entries: Vec<R>| Array(vec![bulk(key), Array(entries)]);
    let reply = transaction(
        &mut c,
        &[
            format!("XADD {a} 1-1 f 1"),
            format!("XREAD BLOCK 0 STREAMS {a} {b} 0 0"),
            format!("XADD {b} 1-1 f 2"),
            format!("XREAD STREAMS {a} {b} 0 0"),
            format!("XGROUP CREATE {a} g 0"),
            format!("XGROUP CREATE {b} g 0"),
            format!("XREADGROUP GROUP g c BLOCK 0 STREAMS {a} {b} > >"),
            format!("XREADGROUP GROUP g c STREAMS {a} {b} > >"),
            format!("XADD {a} 2-1 f 3"),
            format!("XREADGROUP GROUP g c BLOCK 0 STREAMS {a} {b} > >"),
        ],
    );
    assert_eq!(
        reply,
        Array(vec![
            bulk("1-1"),
            Array(vec![stream(&a, vec![entry("1-1", "1")])]),
            bulk("1-1"),
            Array(vec![
                stream(&a, vec![entry("1-1", "1")]),
                stream(&b, vec![entry("1-1", "2")]),
            ]),
            ok(),
            ok(),
            Array(vec![
                stream(&a, vec![entry("1-1", "1")]),
                stream(&b, vec![entry("1-1", "2")]),
            ]),
            Nil,
            bulk("2-1"),
            Array(vec![stream(&a, vec![entry("2-1", "3")])]),
        ])
    );
    let pending = c.cmd(&format!("XPENDING {a} g"));
    assert_eq!(
        pending,
        Array(vec![
            Int(2),
            bulk("1-1"),
            bulk("2-1"),
            Array(vec![Array(vec![bulk("c"), bulk("2")])]),
        ])
    );
}

#[test]
fn a_touched_watched_key_cancels_an_exec_with_a_self_routing_pop() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    let mut other = Conn::new(&server);
    let [a, b, d] = spread_keys("k");
    assert_eq!(c.cmd(&format!("RPUSH {a} x")), Int(1));
    assert_eq!(c.cmd(&format!("WATCH {d}")), ok());
    assert_eq!(other.cmd(&format!("SET {d} changed")), ok());
    let reply = transaction(&mut c, &[format!("LMPOP 2 {b} {a} LEFT")]);
    assert_eq!(reply, Nil);
    assert_eq!(c.cmd(&format!("LRANGE {a} 0 -1")), bulks(&["x"]));
}

#[test]
fn a_queued_select_applies_to_a_later_self_routing_command() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    let [a, b, _] = spread_keys("k");
    let reply = transaction(
        &mut c,
        &[
            "SELECT 3".into(),
            format!("RPUSH {a} x"),
            format!("LMPOP 2 {b} {a} RIGHT"),
            format!("RPUSH {a} y"),
        ],
    );
    let popped = Array(vec![bulk(&a), bulks(&["x"])]);
    assert_eq!(reply, Array(vec![ok(), Int(1), popped, Int(1)]));
    assert_eq!(c.cmd(&format!("LRANGE {a} 0 -1")), bulks(&["y"]));
    assert_eq!(c.cmd("SELECT 0"), ok());
    assert_eq!(c.cmd(&format!("EXISTS {a}")), Int(0));
}

#[test]
fn sort_by_patterns_across_shards_is_refused_inside_multi_and_the_rest_runs() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    let [a, b, _] = spread_keys("k");
    let reply = transaction(
        &mut c,
        &[
            format!("RPUSH {a} 2 1"),
            format!("SORT {a} BY w_*"),
            format!("SORT {a} GET #"),
            format!("SET {b} v"),
        ],
    );
    let Array(replies) = reply else {
        panic!("EXEC answered {reply:?}");
    };
    assert_eq!(replies[0], Int(2));
    assert!(
        matches!(&replies[1], R::Err(e) if e.contains("not supported inside MULTI")),
        "{:?}",
        replies[1]
    );
    assert_eq!(replies[2], bulks(&["1", "2"]));
    assert_eq!(replies[3], ok());
}

#[test]
fn command_getkeys_finds_the_keys_of_self_routing_commands() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    let keys = |c: &mut Conn, line: &str| c.cmd(&format!("COMMAND GETKEYS {line}"));
    assert_eq!(keys(&mut c, "LMPOP 2 a b LEFT"), bulks(&["a", "b"]));
    assert_eq!(keys(&mut c, "SINTERCARD 2 a b LIMIT 1"), bulks(&["a", "b"]));
    assert_eq!(keys(&mut c, "ZUNIONSTORE d 2 a b"), bulks(&["d", "a", "b"]));
    assert_eq!(keys(&mut c, "SORT s LIMIT 0 1 STORE d"), bulks(&["s", "d"]));
    assert_eq!(
        keys(&mut c, "GEORADIUS g 15 37 200 km STOREDIST d"),
        bulks(&["g", "d"])
    );
}

/// A writer keeps moving one token between two sets on different shards, one EXEC per move; a
/// reader counts it with SISMEMBER and many SINTERCARDs in one EXEC: every count must agree with
/// the first, and the token is always in exactly one set. SINTERCARDs run outside the EXEC's
/// locks (or after its other commands) would see moves that happened in between.
#[test]
fn other_clients_never_interleave_with_a_self_routing_read() {
    const READS: usize = 200;
    const COUNTS_PER_READ: usize = 10;
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let [a, b, _] = spread_keys("k");
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd(&format!("SADD {a} m")), Int(1));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (done, a, b) = (done.clone(), a.clone(), b.clone());
        let mut w = Conn::new(&server);
        thread::spawn(move || {
            let mut moves = 0;
            while !done.load(Ordering::Relaxed) {
                let forth = [format!("SREM {a} m"), format!("SADD {b} m")];
                assert_eq!(transaction(&mut w, &forth), Array(vec![Int(1), Int(1)]));
                let back = [format!("SREM {b} m"), format!("SADD {a} m")];
                assert_eq!(transaction(&mut w, &back), Array(vec![Int(1), Int(1)]));
                moves += 2;
            }
            moves
        })
    };
    let mut reads = vec![format!("SISMEMBER {a} m"), format!("SISMEMBER {b} m")];
    for _ in 0..COUNTS_PER_READ {
        reads.extend([format!("SINTERCARD 1 {a}"), format!("SINTERCARD 1 {b}")]);
    }
    for _ in 0..READS {
        let Array(seen) = transaction(&mut c, &reads) else {
            panic!("EXEC failed");
        };
        assert!(
            seen[..2] == [Int(1), Int(0)] || seen[..2] == [Int(0), Int(1)],
            "read {seen:?}"
        );
        for pair in seen[2..].chunks(2) {
            assert_eq!(pair, &seen[..2], "read {seen:?}");
        }
    }
    done.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
}

/// A thread that pushes 0, 1, 2... to both `a` and `b`, one EXEC per value, until `done`; it
/// returns how many values it pushed.
fn push_pairs_until(
    server: &Server,
    a: &str,
    b: &str,
    done: &Arc<AtomicBool>,
) -> thread::JoinHandle<usize> {
    let (done, a, b) = (done.clone(), a.to_string(), b.to_string());
    let mut w = Conn::new(server);
    thread::spawn(move || {
        let mut pushed = 0;
        while !done.load(Ordering::Relaxed) {
            let push = [format!("RPUSH {a} {pushed}"), format!("RPUSH {b} {pushed}")];
            let reply = transaction(&mut w, &push);
            assert!(matches!(reply, Array(ref r) if r.len() == 2), "{reply:?}");
            pushed += 1;
        }
        pushed
    })
}

/// A writer keeps pushing the same value to two lists on different shards, one EXEC per value;
/// a reader takes LLEN and then pops both lists with LMPOP, many times, in one EXEC: it pops as
/// many as LLEN said, each pair of pops gets the same value or nothing twice, and values come out
/// in order. Pops run outside the EXEC's locks (or after its LLEN) would see other pushes.
#[test]
fn other_clients_never_interleave_with_self_routing_pops() {
    const READS: usize = 200;
    const PAIRS_PER_READ: usize = 10;
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let [a, b, _] = spread_keys("k");
    let done = Arc::new(AtomicBool::new(false));
    let writer = push_pairs_until(&server, &a, &b, &done);
    let mut c = Conn::new(&server);
    let mut pops = vec![format!("LLEN {a}")];
    for _ in 0..PAIRS_PER_READ {
        pops.extend([format!("LMPOP 1 {a} LEFT"), format!("LMPOP 1 {b} LEFT")]);
    }
    let (mut last, mut popped) = (-1, 0);
    for _ in 0..READS {
        let Array(seen) = transaction(&mut c, &pops) else {
            panic!("EXEC failed");
        };
        let Int(length) = seen[0] else {
            panic!("LLEN answered {:?}", seen[0]);
        };
        let pairs = &seen[1..];
        let nonempty = pairs.chunks(2).filter(|p| p[0] != Nil).count();
        assert_eq!(nonempty, (length as usize).min(PAIRS_PER_READ), "{seen:?}");
        for pair in pairs.chunks(2) {
            match pair {
                [Nil, Nil] => {}
                [Array(x), Array(y)] => {
                    assert_eq!(x[1], y[1], "half a push seen: {seen:?}");
                    let v: i64 = match &x[1] {
                        Array(values) => match &values[0] {
                            R::Bulk(v) => String::from_utf8_lossy(v).parse().unwrap(),
                            other => panic!("popped {other:?}"),
                        },
                        other => panic!("popped {other:?}"),
                    };
                    assert!(v > last, "popped {v} after {last}");
                    (last, popped) = (v, popped + 1);
                }
                _ => panic!("half a push seen: {seen:?}"),
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
    assert!(popped > 0, "nothing popped");
}

/// An EXEC of cross-shard BLPOPs, one from each of two lists a writer pushes to together (in its
/// own EXEC), sees both pushes of a round or neither.
#[test]
fn other_clients_never_interleave_with_cross_shard_blpops() {
    const READS: usize = 200;
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let [a, b, empty] = spread_keys("k");
    let done = Arc::new(AtomicBool::new(false));
    let writer = push_pairs_until(&server, &a, &b, &done);
    let mut c = Conn::new(&server);
    let pops = [
        format!("BLPOP {empty} {a} 0"),
        format!("BLPOP {empty} {b} 0"),
    ];
    let mut popped = 0;
    for _ in 0..READS {
        match transaction(&mut c, &pops) {
            Array(pair) if pair == [Nil, Nil] => {}
            Array(pair) => {
                let [Array(x), Array(y)] = &pair[..] else {
                    panic!("half a push seen: {pair:?}");
                };
                assert_eq!((&x[0], &y[0]), (&bulk(&a), &bulk(&b)));
                assert_eq!(x[1], y[1], "half a push seen: {pair:?}");
                popped += 1;
            }
            other => panic!("EXEC answered {other:?}"),
        }
    }
    done.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
    assert!(popped > 0, "nothing popped");
}

/// EXECs each pop one element with LMPOP and one with BLPOP (its keys on two shards), one with
/// ZMPOP and one with BZPOPMIN (its keys on two shards), and count the round with INCR, all on
/// different shards, while the server is killed (several times): after each restart the three
/// agree (no EXEC half there), and every acknowledged EXEC is there.
#[test]
fn self_routing_pops_in_an_exec_survive_a_sigkill_all_or_nothing() {
    const ELEMENTS: usize = 20_000;
    const KILLS: usize = 4;
    let mut server = Server::start(SHARDS, &["--appendonly", "yes"]);
    let [counter, list, zset] = spread_keys("k");
    // `far` is on neither the list's shard nor the sorted set's.
    let [far, empty, _] = spread_keys("e");
    {
        let mut c = Conn::new(&server);
        for chunk in (0..ELEMENTS).collect::<Vec<_>>().chunks(500) {
            let mut push = vec!["RPUSH".to_string(), list.clone()];
            let mut zadd = vec!["ZADD".to_string(), zset.clone()];
            for i in chunk {
                push.push(i.to_string());
                zadd.extend([i.to_string(), format!("m{i}")]);
            }
            assert!(matches!(c.call(&push), Int(_)));
            assert!(matches!(c.call(&zadd), Int(_)));
        }
    }
    let mut rounds_before = 0;
    for kill in 0..KILLS {
        let acked = Arc::new(AtomicUsize::new(0));
        let popper = {
            let (acked, url) = (acked.clone(), server.url());
            let keys = PopKeys {
                empty: empty.clone(),
                far: far.clone(),
                list: list.clone(),
                zset: zset.clone(),
                counter: counter.clone(),
            };
            thread::spawn(move || pop_rounds(&url, keys, &acked))
        };
        thread::sleep(Duration::from_millis(150 + 50 * kill as u64));
        server.kill9();
        popper.join().unwrap();
        let acked = acked.load(Ordering::SeqCst);
        assert!(acked > 0, "no EXEC was acknowledged before kill {kill}");
        server.restart();
        let mut c = Conn::new(&server);
        let Int(left) = c.cmd(&format!("LLEN {list}")) else {
            panic!("LLEN");
        };
        let Int(zleft) = c.cmd(&format!("ZCARD {zset}")) else {
            panic!("ZCARD");
        };
        let rounds = match c.cmd(&format!("GET {counter}")) {
            R::Bulk(n) => String::from_utf8(n).unwrap().parse::<usize>().unwrap(),
            Nil => 0,
            other => panic!("GET {other:?}"),
        };
        assert_eq!(ELEMENTS - left as usize, 2 * rounds, "list pops vs rounds");
        assert_eq!(ELEMENTS - zleft as usize, 2 * rounds, "zset pops vs rounds");
        let new_rounds = rounds - rounds_before;
        assert!(
            new_rounds == acked || new_rounds == acked + 1,
            "{new_rounds} new rounds after {acked} acknowledged"
        );
        // The pops took the elements in order: the next one is the first not popped.
        let next = (2 * rounds).to_string();
        assert_eq!(c.cmd(&format!("LRANGE {list} 0 0")), bulks(&[&next]));
        rounds_before = rounds;
    }
}

/// The keys of `pop_rounds`.
struct PopKeys {
    empty: String,
    far: String,
    list: String,
    zset: String,
    counter: String,
}

/// EXECs of `LMPOP 2 empty list LEFT`, `BLPOP far list 0`, `ZMPOP 1 zset MIN`,
/// `BZPOPMIN far zset 0`, `INCR counter` until the connection fails, counting the acknowledged
/// ones.
fn pop_rounds(url: &str, keys: PopKeys, acked: &AtomicUsize) {
    let PopKeys {
        empty,
        far,
        list,
        zset,
        counter,
    } = keys;
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    loop {
        let reply: redis::RedisResult<redis::Value> = redis::pipe()
            .atomic()
            .cmd("LMPOP")
            .arg(2)
            .arg(&empty)
            .arg(&list)
            .arg("LEFT")
            .cmd("BLPOP")
            .arg(&far)
            .arg(&list)
            .arg(0)
            .cmd("ZMPOP")
            .arg(1)
            .arg(&zset)
            .arg("MIN")
            .cmd("BZPOPMIN")
            .arg(&far)
            .arg(&zset)
            .arg(0)
            .cmd("INCR")
            .arg(&counter)
            .query(&mut con);
        if reply.is_err() {
            return;
        }
        acked.fetch_add(1, Ordering::SeqCst);
    }
}
