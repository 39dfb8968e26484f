//! Transactions (MULTI, EXEC, DISCARD, WATCH, UNWATCH) with Redis 7's replies and errors, on 3
//! shards so that transactions and watched keys span shards.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::resp::R::{self, Array, Int, Nil};
use common::resp::{bulk, err, key_per_shard, ok, queued, transaction, Conn, WRONGTYPE};
use common::Server;

const SHARDS: usize = 3;
const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

fn server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no"])
}

/// EXEC's reply bytes on a raw socket (the test client cannot parse RESP2's null array).
fn exec_bytes(server: &Server, setup: &[&str], expected_len: usize) -> String {
    let mut raw = server.raw();
    let mut bytes = Vec::new();
    for line in setup {
        let words: Vec<&str> = line.split(' ').collect();
        bytes.extend_from_slice(format!("*{}\r\n", words.len()).as_bytes());
        for w in words {
            bytes.extend_from_slice(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
        }
    }
    raw.roundtrip(&bytes, expected_len)
}

#[test]
fn queued_commands_run_in_order_across_shards_and_exec_returns_their_replies() {
    let server = server();
    let mut c = Conn::new(&server);
    let k = key_per_shard("k", SHARDS);
    let reply = transaction(
        &mut c,
        &[
            format!("SET {} a", k[0]),
            format!("SET {} b", k[1]),
            format!("APPEND {} c", k[2]),
            "PING".into(),
            format!("MGET {} {} {} missing", k[0], k[1], k[2]),
            "DBSIZE".into(),
            format!("DEL {} {}", k[0], k[2]),
            format!("EXISTS {} {} {}", k[0], k[1], k[2]),
            format!("MSET {} x {} y", k[0], k[2]),
            format!("GET {}", k[2]),
        ],
    );
    assert_eq!(
        reply,
        Array(vec![
            ok(),
            ok(),
            Int(1),
            R::Status("PONG".into()),
            Array(vec![bulk("a"), bulk("b"), bulk("c"), Nil]),
            Int(3),
            Int(2),
            Int(1),
            ok(),
            bulk("y"),
        ])
    );
    assert_eq!(c.cmd(&format!("GET {}", k[0])), bulk("x"));
    assert_eq!(c.cmd("MULTI"), ok());
    assert_eq!(c.cmd("EXEC"), Array(vec![]));
}

#[test]
fn a_command_refused_while_queueing_makes_exec_abort_and_nothing_runs() {
    let server = server();
    let mut c = Conn::new(&server);
    let k = key_per_shard("k", SHARDS);
    for bad in ["NOSUCHCOMMAND x", "SET onlykey", "GET"] {
        assert_eq!(c.cmd("MULTI"), ok());
        assert_eq!(c.cmd(&format!("SET {} 1", k[1])), queued());
        assert!(matches!(c.cmd(bad), R::Err(e) if e.starts_with("ERR ")));
        assert_eq!(c.cmd(&format!("SET {} 1", k[2])), queued());
        assert_eq!(c.cmd("EXEC"), err(EXECABORT));
        assert_eq!(
            c.cmd(&format!("MGET {} {}", k[1], k[2])),
            Array(vec![Nil, Nil])
        );
    }
    // The transaction is over: a new one runs.
    assert_eq!(
        transaction(&mut c, &[format!("SET {} 1", k[0])]),
        Array(vec![ok()])
    );
}

#[test]
fn runtime_errors_are_in_execs_reply_and_the_other_commands_still_run() {
    let server = server();
    let mut c = Conn::new(&server);
    let k = key_per_shard("k", SHARDS);
    let reply = transaction(
        &mut c,
        &[
            format!("SET {} text", k[0]),
            format!("INCR {}", k[0]),
            format!("SADD {} m", k[1]),
            format!("GET {}", k[1]),
            format!("INCR {}", k[2]),
        ],
    );
    assert_eq!(
        reply,
        Array(vec![
            ok(),
            err("ERR value is not an integer or out of range"),
            Int(1),
            err(WRONGTYPE),
            Int(1),
        ])
    );
    assert_eq!(c.cmd(&format!("GET {}", k[2])), bulk("1"));
}

#[test]
fn misplaced_transaction_commands_answer_redis_errors() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("EXEC"), err("ERR EXEC without MULTI"));
    assert_eq!(c.cmd("DISCARD"), err("ERR DISCARD without MULTI"));
    assert_eq!(c.cmd("MULTI"), ok());
    assert_eq!(c.cmd("MULTI"), err("ERR MULTI calls can not be nested"));
    assert_eq!(
        c.cmd("WATCH x"),
        err("ERR WATCH inside MULTI is not allowed")
    );
    assert_eq!(c.cmd("SET x 1"), queued());
    // Neither error fails the transaction (as in Redis).
    assert_eq!(c.cmd("EXEC"), Array(vec![ok()]));
    assert_eq!(c.cmd("MULTI"), ok());
    assert_eq!(c.cmd("SET x 2"), queued());
    assert_eq!(c.cmd("DISCARD"), ok());
    assert_eq!(c.cmd("GET x"), bulk("1"));
    assert_eq!(
        c.cmd("WATCH"),
        err("ERR wrong number of arguments for 'watch' command")
    );
    assert_eq!(c.cmd("MULTI"), ok());
    assert_eq!(c.cmd("UNWATCH"), queued());
    assert_eq!(c.cmd("EXEC"), Array(vec![ok()]));
}

#[test]
fn another_clients_write_to_a_watched_key_on_any_shard_aborts_exec() {
    let server = server();
    let mut c = Conn::new(&server);
    let mut other = Conn::new(&server);
    let k = key_per_shard("w", SHARDS);
    let target = key_per_shard("t", SHARDS);
    for (i, key) in k.iter().enumerate() {
        assert_eq!(c.cmd(&format!("SET {key} 0")), ok());
        assert_eq!(c.cmd(&format!("WATCH {} {} {}", k[0], k[1], k[2])), ok());
        assert_eq!(other.cmd(&format!("INCR {key}")), Int(1));
        let reply = transaction(&mut c, &[format!("SET {} {i}", target[(i + 1) % SHARDS])]);
        assert_eq!(reply, Nil, "write on shard {i}");
        assert_eq!(
            c.cmd(&format!("EXISTS {}", target[(i + 1) % SHARDS])),
            Int(0)
        );
    }
    // Untouched watched keys let EXEC run, and EXEC forgets them: a later write aborts nothing.
    assert_eq!(c.cmd(&format!("WATCH {} {}", k[0], k[2])), ok());
    assert_eq!(other.cmd(&format!("GET {}", k[0])), bulk("1"));
    let reply = transaction(&mut c, &[format!("INCR {}", k[0])]);
    assert_eq!(reply, Array(vec![Int(2)]));
    assert_eq!(other.cmd(&format!("INCR {}", k[2])), Int(2));
    assert_eq!(
        transaction(&mut c, &[format!("INCR {}", k[2])]),
        Array(vec![Int(3)])
    );
}

#[test]
fn an_element_change_to_a_watched_collection_aborts_exec() {
    let server = server();
    let mut c = Conn::new(&server);
    let mut other = Conn::new(&server);
    assert_eq!(c.cmd("HSET h f 1"), Int(1));
    assert_eq!(c.cmd("SADD s m"), Int(1));
    for write in ["HSET h g 2", "HDEL h g", "SADD s n", "SREM s n"] {
        assert_eq!(c.cmd("WATCH h s"), ok());
        assert_eq!(other.cmd(write), Int(1));
        assert_eq!(
            transaction(&mut c, &["SET done 1".to_string()]),
            Nil,
            "{write}"
        );
    }
}

#[test]
fn unwatch_and_discard_forget_the_watched_keys() {
    let server = server();
    let mut c = Conn::new(&server);
    let mut other = Conn::new(&server);
    let k = key_per_shard("w", SHARDS);
    assert_eq!(c.cmd(&format!("WATCH {} {}", k[1], k[2])), ok());
    assert_eq!(c.cmd("UNWATCH"), ok());
    assert_eq!(other.cmd(&format!("SET {} x", k[1])), ok());
    assert_eq!(
        transaction(&mut c, &["PING".into()]),
        Array(vec![R::Status("PONG".into())])
    );
    assert_eq!(c.cmd(&format!("WATCH {}", k[2])), ok());
    assert_eq!(c.cmd("MULTI"), ok());
    assert_eq!(c.cmd("DISCARD"), ok());
    assert_eq!(other.cmd(&format!("SET {} x", k[2])), ok());
    assert_eq!(
        transaction(&mut c, &["PING".into()]),
        Array(vec![R::Status("PONG".into())])
    );
}

#[test]
fn a_write_inside_a_watchers_own_transaction_does_not_abort_it() {
    let server = server();
    let mut c = Conn::new(&server);
    let k = key_per_shard("w", SHARDS);
    assert_eq!(c.cmd(&format!("WATCH {} {}", k[0], k[1])), ok());
    let reply = transaction(
        &mut c,
        &[format!("SET {} 1", k[0]), format!("SET {} 1", k[1])],
    );
    assert_eq!(reply, Array(vec![ok(), ok()]));
}

#[test]
fn expiry_of_a_watched_key_aborts_exec() {
    let server = server();
    let mut c = Conn::new(&server);
    let k = key_per_shard("e", SHARDS);
    let other_shard = &k[2];
    assert_eq!(c.cmd(&format!("SET {other_shard} v PX 100")), ok());
    assert_eq!(c.cmd(&format!("WATCH {other_shard}")), ok());
    thread::sleep(Duration::from_millis(300));
    assert_eq!(transaction(&mut c, &[format!("SET {} 1", k[0])]), Nil);
    assert_eq!(c.cmd(&format!("EXISTS {}", k[0])), Int(0));
    // A key that had expired already when watched does not abort anything.
    assert_eq!(c.cmd(&format!("WATCH {other_shard}")), ok());
    assert_eq!(
        transaction(&mut c, &[format!("SET {} 1", k[0])]),
        Array(vec![ok()])
    );
}

#[test]
fn flushall_aborts_watchers_of_keys_it_deleted_on_any_shard() {
    let server = server();
    let mut c = Conn::new(&server);
    let mut other = Conn::new(&server);
    let k = key_per_shard("f", SHARDS);
    assert_eq!(c.cmd(&format!("SET {} v", k[1])), ok());
    assert_eq!(c.cmd(&format!("WATCH {}", k[1])), ok());
    assert_eq!(other.cmd("FLUSHALL"), ok());
    assert_eq!(transaction(&mut c, &["PING".into()]), Nil);
    // As in Redis 7: a watched key that did not exist is not changed by emptying the database.
    assert_eq!(c.cmd(&format!("WATCH {}", k[2])), ok());
    assert_eq!(other.cmd("FLUSHDB"), ok());
    assert_eq!(
        transaction(&mut c, &["PING".into()]),
        Array(vec![R::Status("PONG".into())])
    );
    assert_eq!(c.cmd(&format!("SET {} v", k[0])), ok());
    assert_eq!(c.cmd(&format!("WATCH {}", k[0])), ok());
    assert_eq!(other.cmd("SWAPDB 0 1"), ok());
    assert_eq!(transaction(&mut c, &["PING".into()]), Nil);
}

#[test]
fn an_aborted_exec_is_a_null_array_in_resp2_and_null_in_resp3() {
    let server = server();
    let mut other = Conn::new(&server);
    let k = key_per_shard("n", SHARDS);
    let setup = [
        format!("WATCH {}", k[1]),
        format!("SET {} x", k[1]),
        "MULTI".into(),
        "PING".into(),
        "EXEC".into(),
    ];
    let setup: Vec<&str> = setup.iter().map(String::as_str).collect();
    // The connection's own write touches its watch too (before MULTI).
    let reply = exec_bytes(
        &server,
        &setup,
        "+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n".len(),
    );
    assert_eq!(reply, "+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n*-1\r\n");
    let mut c3 = Conn::new(&server);
    assert!(matches!(c3.cmd("HELLO 3"), R::Map(_)));
    assert_eq!(c3.cmd(&format!("WATCH {}", k[2])), ok());
    assert_eq!(other.cmd(&format!("SET {} x", k[2])), ok());
    assert_eq!(transaction(&mut c3, &["PING".into()]), Nil);
}

#[test]
fn select_inside_multi_applies_to_the_commands_after_it() {
    let server = server();
    let mut c = Conn::new(&server);
    let reply = transaction(
        &mut c,
        &[
            "SET k db0".into(),
            "SELECT 1".into(),
            "SET k db1".into(),
            "GET k".into(),
        ],
    );
    assert_eq!(reply, Array(vec![ok(), ok(), ok(), bulk("db1")]));
    assert_eq!(c.cmd("GET k"), bulk("db1"));
    assert_eq!(c.cmd("SELECT 0"), ok());
    assert_eq!(c.cmd("GET k"), bulk("db0"));
}

#[test]
fn a_coordinated_command_over_several_shards_runs_inside_exec() {
    let server = server();
    let mut c = Conn::new(&server);
    let k = key_per_shard("s", SHARDS);
    assert_eq!(c.cmd(&format!("SADD {} m", k[0])), Int(1));
    assert_eq!(
        transaction(&mut c, &[format!("SMOVE {} {} m", k[0], k[1])]),
        Array(vec![Int(1)])
    );
    assert_eq!(c.cmd(&format!("SISMEMBER {} m", k[1])), Int(1));
    // With both keys on one shard ({tag}) it runs there.
    assert_eq!(c.cmd("SADD {t}a m"), Int(1));
    assert_eq!(
        transaction(&mut c, &["SMOVE {t}a {t}b m".into()]),
        Array(vec![Int(1)])
    );
}

/// Transfers move amounts between counters on every shard in MULTI/EXEC; readers read every
/// counter in MULTI/EXEC. The total must never look different.
#[test]
fn concurrent_cross_shard_transfers_never_show_a_torn_total() {
    const TOTAL: i64 = 3000;
    let server = server();
    let k = key_per_shard("acct", SHARDS);
    let mut c = Conn::new(&server);
    for key in &k {
        assert_eq!(c.cmd(&format!("SET {key} {}", TOTAL / SHARDS as i64)), ok());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (mut c, k, stop) = (Conn::new(&server), k.clone(), stop.clone());
            thread::spawn(move || {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let (from, to) = (&k[(n + w) % SHARDS], &k[(n + w + 1) % SHARDS]);
                    let reply = transaction(
                        &mut c,
                        &[format!("DECRBY {from} 7"), format!("INCRBY {to} 7")],
                    );
                    assert!(matches!(&reply, Array(r) if r.len() == 2), "{reply:?}");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut reads = 0;
    for _ in 0..300 {
        let reply = transaction(
            &mut c,
            &k.iter().map(|key| format!("GET {key}")).collect::<Vec<_>>(),
        );
        let Array(values) = reply else {
            panic!("{reply:?}")
        };
        let sum: i64 = values
            .iter()
            .map(|v| match v {
                R::Bulk(b) => std::str::from_utf8(b).unwrap().parse::<i64>().unwrap(),
                other => panic!("{other:?}"),
            })
            .sum();
        assert_eq!(sum, TOTAL, "a transaction was seen half done");
        reads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let transfers: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(transfers > 0 && reads > 0);
    let mget = c.cmd(&format!("MGET {} {} {}", k[0], k[1], k[2]));
    let Array(values) = mget else { panic!() };
    let sum: i64 = values
        .iter()
        .map(|v| match v {
            R::Bulk(b) => std::str::from_utf8(b).unwrap().parse::<i64>().unwrap(),
            _ => 0,
        })
        .sum();
    assert_eq!(sum, TOTAL);
}

#[test]
fn cluster_ports_refuse_keys_of_other_slots_when_queued() {
    let server = Server::start(SHARDS, &["--appendonly", "no", "--cluster-enabled", "yes"]);
    let port = server.port + 1;
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut con = client.get_connection().unwrap();
    let k = key_per_shard("c", SHARDS);
    let run =
        |con: &mut redis::Connection, line: &str| -> Result<redis::Value, redis::RedisError> {
            let words: Vec<&str> = line.split(' ').collect();
            redis::cmd(words[0]).arg(&words[1..]).query(con)
        };
    // Two keys of one slot on shard 0 ({c0} tags), then a key of another slot.
    let (a, b) = (format!("{{{}}}a", k[0]), format!("{{{}}}b", k[0]));
    run(&mut con, "MULTI").unwrap();
    run(&mut con, &format!("SET {a} 1")).unwrap();
    run(&mut con, &format!("SET {b} 1")).unwrap();
    let e = run(&mut con, &format!("SET {} 1", k[1])).unwrap_err();
    assert_eq!(e.code(), Some("MOVED"), "{e}");
    let e = run(&mut con, "EXEC").unwrap_err();
    assert_eq!(e.code(), Some("EXECABORT"), "{e}");
    run(&mut con, "MULTI").unwrap();
    run(&mut con, &format!("SET {a} 1")).unwrap();
    let other_slot_here = (0..)
        .map(|i| format!("x{i}"))
        .find(|key| {
            common::resp::shard_of(key, SHARDS) == 0
                && redis::cluster_routing::get_slot(key.as_bytes())
                    != redis::cluster_routing::get_slot(k[0].as_bytes())
        })
        .unwrap();
    let e = run(&mut con, &format!("SET {other_slot_here} 1")).unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");
    let e = run(&mut con, "EXEC").unwrap_err();
    assert_eq!(e.code(), Some("EXECABORT"), "{e}");
    run(&mut con, "MULTI").unwrap();
    run(&mut con, &format!("SET {a} 2")).unwrap();
    run(&mut con, &format!("GET {b}")).unwrap();
    let v = run(&mut con, "EXEC").unwrap();
    assert_eq!(
        v,
        redis::Value::Array(vec![redis::Value::Okay, redis::Value::Nil])
    );
}
