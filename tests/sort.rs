//! SORT and SORT_RO: numeric and alphabetic sorts, BY and GET patterns whose keys live on other
//! shards, LIMIT, STORE, Redis's errors; replies compared with the installed redis-server.

mod common;

use common::reference::Reference;
use common::{error, int, run, Server};
use redis::{Connection, Value};

fn setup(con: &mut Connection) {
    for words in [
        &["RPUSH", "nums", "3", "1", "2", "10", "-5", "2.5", "1e1"][..],
        &["RPUSH", "words", "pear", "apple", "fig", "Banana", "apple2"],
        &["RPUSH", "bad", "1", "two", "3"],
        &["SADD", "ids", "1", "2", "3", "4"],
        &["MSET", "w_1", "40", "w_2", "10", "w_3", "30", "w_4", "20"],
        &["MSET", "name_1", "one", "name_2", "two", "name_3", "three"],
        &["HSET", "obj_1", "age", "7", "nick", "a"],
        &["HSET", "obj_2", "age", "5", "nick", "b"],
        &["HSET", "obj_3", "age", "9"],
        &["HSET", "obj_4", "age", "5", "nick", "d"],
        &["SET", "str", "x"],
        &["ZADD", "zs", "3", "c", "1", "a", "2", "b", "0", "d"],
    ] {
        run(con, words);
    }
}

/// Queries whose replies do not depend on a set's iteration order.
const QUERIES: &[&[&str]] = &[
    &["SORT", "nums"],
    &["SORT", "nums", "DESC"],
    &["SORT", "nums", "LIMIT", "1", "3"],
    &["SORT", "nums", "LIMIT", "-2", "2"],
    &["SORT", "nums", "LIMIT", "5", "-1"],
    &["SORT", "nums", "LIMIT", "50", "2"],
    &["SORT", "nums", "LIMIT", "0", "0"],
    &["SORT", "nums", "BY", "nosort"],
    &["SORT", "nums", "BY", "nosort", "DESC", "LIMIT", "1", "2"],
    &["SORT", "words", "ALPHA"],
    &["SORT", "words", "ALPHA", "DESC", "LIMIT", "0", "2"],
    &["SORT", "words"],
    &["SORT", "bad"],
    &["SORT", "ids", "BY", "w_*"],
    &[
        "SORT", "ids", "BY", "w_*", "DESC", "GET", "#", "GET", "name_*",
    ],
    &[
        "SORT",
        "ids",
        "BY",
        "obj_*->age",
        "GET",
        "obj_*->nick",
        "GET",
        "#",
    ],
    &["SORT", "ids", "BY", "name_*", "ALPHA", "GET", "name_*"],
    &["SORT", "ids", "GET", "nokey"],
    &["SORT", "ids", "BY", "missing_*"],
    &["SORT", "ids", "BY", "obj_*->nope"],
    &["SORT", "ids", "GET", "str*", "GET", "obj_*"],
    &["SORT", "missing"],
    &["SORT", "zs", "BY", "nosort"],
    &["SORT", "zs", "BY", "nosort", "DESC", "LIMIT", "1", "2"],
    &["SORT", "zs", "ALPHA", "DESC"],
    &["SORT", "zs", "BY", "nosort", "STORE", "stored"],
    &["LRANGE", "stored", "0", "-1"],
    &["SORT", "str"],
    &["SORT", "nums", "LIMIT", "1"],
    &["SORT", "nums", "LIMIT", "x", "1"],
    &["SORT", "nums", "BOGUS"],
    &["SORT_RO", "nums", "STORE", "dst"],
    &["SORT_RO", "ids", "BY", "w_*", "GET", "name_*"],
    &["SORT", "ids", "STORE", "stored"],
    &["LRANGE", "stored", "0", "-1"],
    &[
        "SORT", "ids", "BY", "w_*", "GET", "name_*", "STORE", "stored",
    ],
    &["LRANGE", "stored", "0", "-1"],
    &["SORT", "missing", "STORE", "stored"],
    &["EXISTS", "stored"],
];

fn reply(con: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    args[1..].iter().for_each(|a| {
        cmd.arg(*a);
    });
    match cmd.query::<Value>(con) {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

#[test]
fn replies_match_redis_with_pattern_keys_on_other_shards() {
    let Some(reference) = Reference::start() else {
        return;
    };
    let mut redis = reference.client();
    let server = Server::start(3, &["--appendonly", "no"]);
    let mut keel = server.client();
    setup(&mut redis);
    setup(&mut keel);
    for query in QUERIES {
        assert_eq!(
            reply(&mut keel, query),
            reply(&mut redis, query),
            "{query:?}"
        );
    }
}

fn strings(con: &mut Connection, args: &[&str]) -> Vec<Option<String>> {
    let mut cmd = redis::cmd(args[0]);
    args[1..].iter().for_each(|a| {
        cmd.arg(*a);
    });
    cmd.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn some(items: &[&str]) -> Vec<Option<String>> {
    items.iter().map(|s| Some(s.to_string())).collect()
}

#[test]
fn sorts_numerically_alphabetically_and_by_other_keys_across_shards() {
    let server = Server::start(3, &["--appendonly", "no"]);
    let mut con = server.client();
    setup(&mut con);
    assert_eq!(
        strings(&mut con, &["SORT", "nums"]),
        some(&["-5", "1", "2", "2.5", "3", "10", "1e1"])
    );
    assert_eq!(
        strings(&mut con, &["SORT", "words", "ALPHA", "LIMIT", "1", "2"]),
        some(&["apple", "apple2"])
    );
    assert_eq!(
        strings(&mut con, &["SORT", "ids", "BY", "w_*"]),
        some(&["2", "4", "3", "1"])
    );
    assert_eq!(
        strings(
            &mut con,
            &[
                "SORT",
                "ids",
                "BY",
                "obj_*->age",
                "DESC",
                "GET",
                "obj_*->nick"
            ]
        ),
        vec![None, Some("a".into()), Some("d".into()), Some("b".into())]
    );
    assert_eq!(
        error(&mut con, &["SORT", "bad"]),
        "ERR One or more scores can't be converted into double"
    );
    assert_eq!(
        error(&mut con, &["SORT", "str"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        error(&mut con, &["SORT_RO", "nums", "STORE", "d"]),
        "ERR syntax error"
    );
}

#[test]
fn store_replaces_the_destination_with_a_list_and_survives_a_restart() {
    let mut server = Server::start(3, &["--appendonly", "yes"]);
    let mut con = server.client();
    setup(&mut con);
    run(&mut con, &["SET", "dst", "old"]);
    let n = int(
        &mut con,
        &["SORT", "ids", "BY", "w_*", "GET", "name_*", "STORE", "dst"],
    );
    assert_eq!(n, 4);
    let stored = some(&["two", "", "three", "one"]);
    assert_eq!(strings(&mut con, &["LRANGE", "dst", "0", "-1"]), stored);
    // A set stored without sorting is sorted alphabetically, so that the result is deterministic.
    assert_eq!(
        int(&mut con, &["SORT", "ids", "BY", "nosort", "STORE", "dst2"]),
        4
    );
    assert_eq!(
        strings(&mut con, &["LRANGE", "dst2", "0", "-1"]),
        some(&["1", "2", "3", "4"])
    );
    assert_eq!(int(&mut con, &["SORT", "missing", "STORE", "dst2"]), 0);
    assert_eq!(int(&mut con, &["EXISTS", "dst2"]), 0);
    server.restart();
    let mut con = server.client();
    assert_eq!(strings(&mut con, &["LRANGE", "dst", "0", "-1"]), stored);
    assert_eq!(int(&mut con, &["EXISTS", "dst2"]), 0);
}

#[test]
fn store_is_atomic_under_concurrent_writes_to_pattern_keys() {
    let server = Server::start(3, &["--appendonly", "no"]);
    let mut con = server.client();
    run(&mut con, &["SADD", "ids", "a", "b", "c", "d"]);
    // The writer keeps every w_* equal to its round number, all four in one MSET.
    let url = server.url();
    let writer = std::thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        for round in 0..300 {
            let r = round.to_string();
            run(
                &mut con,
                &["MSET", "w_a", &r, "w_b", &r, "w_c", &r, "w_d", &r],
            );
        }
    });
    for _ in 0..100 {
        run(
            &mut con,
            &["SORT", "ids", "BY", "w_*", "GET", "w_*", "STORE", "out"],
        );
        let out = strings(&mut con, &["LRANGE", "out", "0", "-1"]);
        assert_eq!(out.len(), 4);
        assert!(out.windows(2).all(|w| w[0] == w[1]), "a torn read: {out:?}");
    }
    writer.join().unwrap();
}

#[test]
fn patterns_are_refused_in_cluster_mode_as_in_redis() {
    let server = Server::start(3, &["--appendonly", "no", "--cluster-enabled", "yes"]);
    let mut con = server.client();
    run(&mut con, &["RPUSH", "l", "3", "1", "2"]);
    assert_eq!(strings(&mut con, &["SORT", "l"]), some(&["1", "2", "3"]));
    assert_eq!(
        strings(&mut con, &["SORT", "l", "BY", "nosort"]),
        some(&["3", "1", "2"])
    );
    assert_eq!(
        error(&mut con, &["SORT", "l", "BY", "w_*"]),
        "ERR BY option of SORT denied in Cluster mode."
    );
    assert_eq!(
        error(&mut con, &["SORT", "l", "GET", "#"]),
        "ERR GET option of SORT denied in Cluster mode."
    );
}
