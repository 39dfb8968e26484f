//! Coordinated cross-shard commands (SMOVE, RENAME, MSETNX, SINTERSTORE, LMOVE, COPY...) inside
//! MULTI/EXEC on the main port, with keys on 3 shards: they run in queue order, see the
//! transaction's earlier writes, stay isolated from other clients, honour WATCH, and survive a
//! restart as one unit.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::resp::R::{self, Array, Int, Nil};
use common::resp::{bulk, key_per_shard, ok, queued, transaction, Conn};
use common::Server;

const SHARDS: usize = 3;

#[test]
fn coordinated_commands_run_in_order_and_see_the_transactions_earlier_writes() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    let k = key_per_shard("k", SHARDS);
    let reply = transaction(
        &mut c,
        &[
            format!("SADD {} m n", k[0]),
            format!("SMOVE {} {} m", k[0], k[1]),
            format!("SISMEMBER {} m", k[1]),
            format!("RENAME {} {}", k[1], k[2]),
            format!("SMEMBERS {}", k[2]),
            format!("EXISTS {}", k[1]),
            format!("SINTERSTORE {} {} {}", k[1], k[0], k[2]),
            format!("SUNIONSTORE {} {} {}", k[1], k[0], k[2]),
            format!("MSETNX {}x 1 {}x 2", k[0], k[2]),
            format!("MSETNX {}x 3 {}x 4", k[1], k[2]),
            format!("RPUSH {}l a b", k[0]),
            format!("LMOVE {}l {}l LEFT RIGHT", k[0], k[1]),
            format!("LRANGE {}l 0 -1", k[1]),
            format!("SINTER {} {}", k[0], k[2]),
        ],
    );
    assert_eq!(
        reply,
        Array(vec![
            Int(2),
            Int(1),
            Int(1),
            ok(),
            Array(vec![bulk("m")]),
            Int(0),
            Int(0),
            Int(2),
            Int(1),
            Int(0),
            Int(2),
            bulk("a"),
            Array(vec![bulk("a")]),
            Array(vec![]),
        ])
    );
    assert_eq!(c.cmd(&format!("SCARD {}", k[1])), Int(2));
    assert_eq!(c.cmd(&format!("GET {}x", k[2])), bulk("2"));
    assert_eq!(c.cmd(&format!("GET {}x", k[1])), Nil);
}

#[test]
fn a_coordinated_command_runs_in_the_database_a_queued_select_chose() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    let k = key_per_shard("k", SHARDS);
    let reply = transaction(
        &mut c,
        &[
            "SELECT 1".into(),
            format!("SET {} v", k[0]),
            format!("RENAME {} {}", k[0], k[1]),
            format!("COPY {} {} DB 2", k[1], k[2]),
        ],
    );
    assert_eq!(reply, Array(vec![ok(), ok(), ok(), Int(1)]));
    assert_eq!(c.cmd(&format!("GET {}", k[1])), bulk("v"));
    assert_eq!(c.cmd("SELECT 2"), ok());
    assert_eq!(c.cmd(&format!("GET {}", k[2])), bulk("v"));
    assert_eq!(c.cmd("SELECT 0"), ok());
    assert_eq!(c.cmd(&format!("EXISTS {} {}", k[0], k[1])), Int(0));
}

#[test]
fn a_coordinated_command_that_fails_or_does_nothing_leaves_the_transaction_running() {
    let server = Server::start(SHARDS, &["--appendonly", "yes"]);
    let mut c = Conn::new(&server);
    let k = key_per_shard("k", SHARDS);
    let reply = transaction(
        &mut c,
        &[
            format!("RENAME {} {}", k[0], k[1]),
            format!("SMOVE {} {} m", k[0], k[1]),
            format!("SET {} s", k[2]),
            format!("SMOVE {} {} m", k[2], k[1]),
            format!("GET {}", k[2]),
        ],
    );
    let Array(replies) = reply else {
        panic!("EXEC answered {reply:?}");
    };
    assert_eq!(replies[0], R::Err("ERR no such key".into()));
    assert_eq!(replies[1], Int(0));
    assert_eq!(replies[2], ok());
    assert!(matches!(&replies[3], R::Err(e) if e.starts_with("WRONGTYPE")));
    assert_eq!(replies[4], bulk("s"));
}

#[test]
fn a_watched_key_touched_before_exec_cancels_a_transaction_with_a_coordinated_command() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    let mut other = Conn::new(&server);
    let k = key_per_shard("k", SHARDS);
    assert_eq!(c.cmd(&format!("SET {} v", k[0])), ok());
    assert_eq!(c.cmd(&format!("WATCH {}", k[2])), ok());
    assert_eq!(other.cmd(&format!("SET {} changed", k[2])), ok());
    assert_eq!(c.cmd("MULTI"), ok());
    assert_eq!(c.cmd(&format!("RENAME {} {}", k[0], k[1])), queued());
    assert_eq!(c.cmd("EXEC"), Nil);
    assert_eq!(c.cmd(&format!("GET {}", k[0])), bulk("v"));
}

/// A member moves s0 -> s1 -> s2 in one transaction and back s2 -> s0 in another; readers check
/// all three sets in one transaction: the member is always in exactly one, and never in s1 (the
/// first transaction's middle state).
#[test]
fn other_clients_never_see_a_transactions_middle_state() {
    const ROUNDS: usize = 300;
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let s = key_per_shard("s", SHARDS);
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd(&format!("SADD {} m", s[0])), Int(1));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (done, s) = (done.clone(), s.clone());
        let mut r = Conn::new(&server);
        thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) {
                let members: Vec<String> = s.iter().map(|k| format!("SISMEMBER {k} m")).collect();
                let seen = transaction(&mut r, &members);
                assert!(
                    seen == Array(vec![Int(1), Int(0), Int(0)])
                        || seen == Array(vec![Int(0), Int(0), Int(1)]),
                    "read {seen:?}"
                );
                reads += 1;
            }
            reads
        })
    };
    for _ in 0..ROUNDS {
        let forth = [
            format!("SMOVE {} {} m", s[0], s[1]),
            format!("SMOVE {} {} m", s[1], s[2]),
        ];
        assert_eq!(transaction(&mut c, &forth), Array(vec![Int(1), Int(1)]));
        let back = [format!("SMOVE {} {} m", s[2], s[0])];
        assert_eq!(transaction(&mut c, &back), Array(vec![Int(1)]));
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}

#[test]
fn a_transaction_with_coordinated_commands_is_all_there_after_a_restart() {
    let mut server = Server::start(SHARDS, &["--appendonly", "yes"]);
    let k = key_per_shard("k", SHARDS);
    {
        let mut c = Conn::new(&server);
        assert_eq!(c.cmd(&format!("SADD {} a b", k[0])), Int(2));
        let reply = transaction(
            &mut c,
            &[
                format!("SMOVE {} {} a", k[0], k[1]),
                format!("RENAME {} {}", k[0], k[2]),
                format!("SMOVE {} {} missing", k[2], k[1]),
                format!("SET {}x 1", k[1]),
            ],
        );
        assert_eq!(reply, Array(vec![Int(1), ok(), Int(0), ok()]));
    }
    server.kill9();
    server.restart();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd(&format!("SMEMBERS {}", k[1])), Array(vec![bulk("a")]));
    assert_eq!(c.cmd(&format!("SMEMBERS {}", k[2])), Array(vec![bulk("b")]));
    assert_eq!(c.cmd(&format!("EXISTS {}", k[0])), Int(0));
    assert_eq!(c.cmd(&format!("GET {}x", k[1])), bulk("1"));
}

#[test]
fn mset_splits_by_shard_inside_multi_and_a_short_pair_sets_nothing() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    let k = key_per_shard("k", SHARDS);
    let arity = R::Err("ERR wrong number of arguments for 'mset' command".into());
    let short = format!("MSET {} 1 {} 2 {}", k[0], k[1], k[2]);
    assert_eq!(c.cmd(&short), arity);
    assert_eq!(c.cmd(&format!("EXISTS {} {}", k[0], k[1])), Int(0));
    let reply = transaction(
        &mut c,
        &[short, format!("MSET {} 1 {} 2 {} 3", k[0], k[1], k[2])],
    );
    assert_eq!(reply, Array(vec![arity, ok()]));
    let values = c.cmd(&format!("MGET {} {} {}", k[0], k[1], k[2]));
    assert_eq!(values, Array(vec![bulk("1"), bulk("2"), bulk("3")]));
}
