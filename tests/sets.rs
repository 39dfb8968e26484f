//! The set family (SADD, SREM, SPOP, SINTER, SUNIONSTORE, SSCAN, ...) with Redis 7's replies and
//! errors, on 3 shards so that multi-key commands cross shards; and sets surviving a SIGKILL.

mod common;

use std::collections::BTreeSet;

use common::collection_scan::{self, Family};
use common::resp::R::{self, Int, Nil};
use common::resp::{bulk, err, key_per_shard, Conn, SYNTAX, WRONGTYPE};
use common::Server;

const SHARDS: usize = 3;

fn server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no"])
}

/// The members of an array or set reply, as a sorted set of strings.
fn members(reply: R) -> BTreeSet<String> {
    match reply {
        R::Array(items) | R::Set(items) => items
            .into_iter()
            .map(|item| match item {
                R::Bulk(b) => String::from_utf8(b).unwrap(),
                other => panic!("not a member: {other:?}"),
            })
            .collect(),
        other => panic!("not a collection: {other:?}"),
    }
}

fn set_of(words: &str) -> BTreeSet<String> {
    words.split_whitespace().map(String::from).collect()
}

impl Conn {
    fn members(&mut self, line: &str) -> BTreeSet<String> {
        members(self.cmd(line))
    }
}

#[test]
fn sadd_srem_count_members_and_the_last_srem_deletes_the_key() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("SADD s a b c a"), Int(3));
    assert_eq!(c.cmd("SADD s c d"), Int(1));
    assert_eq!(c.cmd("SADD s a"), Int(0));
    assert_eq!(c.cmd("TYPE s"), R::Status("set".into()));
    assert_eq!(c.cmd("SCARD s"), Int(4));
    assert_eq!(c.members("SMEMBERS s"), set_of("a b c d"));
    assert_eq!(c.cmd("SISMEMBER s a"), Int(1));
    assert_eq!(c.cmd("SISMEMBER s z"), Int(0));
    assert_eq!(
        c.cmd("SMISMEMBER s a z d"),
        R::Array(vec![Int(1), Int(0), Int(1)])
    );
    assert_eq!(c.cmd("SREM s a z"), Int(1));
    assert_eq!(c.cmd("SREM s z"), Int(0));
    assert_eq!(c.cmd("SREM s b c d"), Int(3));
    assert_eq!(c.cmd("EXISTS s"), Int(0));
    assert_eq!(c.cmd("TYPE s"), R::Status("none".into()));
    // A missing key reads as the empty set.
    assert_eq!(c.cmd("SCARD s"), Int(0));
    assert_eq!(c.cmd("SMEMBERS s"), R::Array(vec![]));
    assert_eq!(c.cmd("SISMEMBER s a"), Int(0));
    assert_eq!(c.cmd("SMISMEMBER s a"), R::Array(vec![Int(0)]));
    assert_eq!(c.cmd("SREM s a"), Int(0));
    // Binary-safe members.
    assert_eq!(c.call(&[&b"SADD"[..], b"bin", b"a\0b\r\n", b""]), Int(2));
    assert_eq!(c.call(&[&b"SISMEMBER"[..], b"bin", b"a\0b\r\n"]), Int(1));
    assert_eq!(c.call(&[&b"SISMEMBER"[..], b"bin", b""]), Int(1));
    assert_eq!(
        c.cmd("SADD s"),
        err("ERR wrong number of arguments for 'sadd' command")
    );
}

#[test]
fn set_commands_on_other_types_and_string_commands_on_sets_answer_wrongtype() {
    let server = server();
    let mut c = Conn::new(&server);
    let [str_key, set_key, other] = [0, 1, 2].map(|i| key_per_shard("k", SHARDS)[i].clone());
    c.cmd(&format!("SET {str_key} v"));
    c.cmd(&format!("SADD {set_key} m"));
    for line in [
        format!("SADD {str_key} m"),
        format!("SREM {str_key} m"),
        format!("SMEMBERS {str_key}"),
        format!("SISMEMBER {str_key} m"),
        format!("SMISMEMBER {str_key} m"),
        format!("SCARD {str_key}"),
        format!("SPOP {str_key}"),
        format!("SRANDMEMBER {str_key} 2"),
        format!("SSCAN {str_key} 0"),
        format!("SMOVE {set_key} {str_key} m"),
        format!("SMOVE {str_key} {set_key} m"),
        format!("SMOVE {set_key} {str_key} absent"),
        format!("SINTER {set_key} {str_key}"),
        format!("SINTER {other} {str_key}"),
        format!("SUNION {set_key} {str_key}"),
        format!("SDIFF {set_key} {str_key}"),
        format!("SINTERCARD 2 {set_key} {str_key}"),
        format!("SUNIONSTORE {other} {set_key} {str_key}"),
        format!("GET {set_key}"),
        format!("APPEND {set_key} x"),
    ] {
        assert_eq!(c.cmd(&line), err(WRONGTYPE), "{line}");
    }
    // A missing source is 0 before the destination's type is looked at, as in Redis: across
    // shards and on one.
    assert_eq!(c.cmd(&format!("SMOVE {other} {str_key} m")), Int(0));
    c.cmd("SET {t}text v");
    assert_eq!(c.cmd("SMOVE {t}missing {t}text m"), Int(0));
    // Nothing changed.
    assert_eq!(c.cmd(&format!("GET {str_key}")), bulk("v"));
    assert_eq!(c.members(&format!("SMEMBERS {set_key}")), set_of("m"));
    assert_eq!(c.cmd(&format!("EXISTS {other}")), Int(0));
}

#[test]
fn spop_removes_random_members_and_deletes_the_emptied_key() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("SPOP none"), Nil);
    assert_eq!(c.cmd("SPOP none 3"), R::Array(vec![]));
    c.cmd("SADD s a b c d e");
    let R::Bulk(one) = c.cmd("SPOP s") else {
        panic!("SPOP without count replies a bulk");
    };
    let one = String::from_utf8(one).unwrap();
    assert!(set_of("a b c d e").contains(&one));
    assert_eq!(c.cmd(&format!("SISMEMBER s {one}")), Int(0));
    let two = c.members("SPOP s 2");
    assert_eq!(two.len(), 2);
    assert_eq!(c.cmd("SCARD s"), Int(2));
    assert_eq!(c.cmd("SPOP s 0"), R::Array(vec![]));
    let rest = c.members("SPOP s 10");
    assert_eq!(rest.len(), 2);
    let all: BTreeSet<String> = [one].into_iter().chain(two).chain(rest).collect();
    assert_eq!(all, set_of("a b c d e"));
    assert_eq!(c.cmd("EXISTS s"), Int(0));
    for line in ["SPOP s -1", "SPOP s x"] {
        assert_eq!(
            c.cmd(line),
            err("ERR value is out of range, must be positive")
        );
    }
    assert_eq!(c.cmd("SPOP s 1 2"), err(SYNTAX));
    // The largest count pops the whole set.
    c.cmd("SADD big x y");
    assert_eq!(c.members("SPOP big 9223372036854775807"), set_of("x y"));
    assert_eq!(c.cmd("EXISTS big"), Int(0));
}

/// A big set (`hashtable`) has its random members drawn one by one, not found by a walk over it:
/// each is one of its members, SRANDMEMBER's distinct for a positive count, SPOP's distinct and
/// gone, and the pops together empty it exactly.
#[test]
fn random_picks_from_a_big_set_are_its_members_and_spop_empties_it_exactly() {
    const MEMBERS: usize = 20_000;
    let server = server();
    let mut con = server.client();
    let all: BTreeSet<String> = (0..MEMBERS).map(|i| format!("m{i}")).collect();
    common::fill(&mut con, "SADD", "big", MEMBERS, |i| vec![format!("m{i}")]);
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("OBJECT ENCODING big"), bulk("hashtable"));
    let some = c.members("SRANDMEMBER big 100");
    assert_eq!(some.len(), 100, "distinct");
    assert!(some.is_subset(&all));
    let R::Array(repeated) = c.cmd("SRANDMEMBER big -1000") else {
        panic!("array");
    };
    assert_eq!(repeated.len(), 1000);
    assert!(members(R::Array(repeated)).is_subset(&all));
    let mut popped = BTreeSet::new();
    let mut pop = |reply: R| {
        let items = match reply {
            R::Array(items) => items,
            Nil => Vec::new(),
            one => vec![one],
        };
        for item in items {
            let R::Bulk(member) = item else {
                panic!("not a member: {item:?}");
            };
            let member = String::from_utf8(member).unwrap();
            assert!(all.contains(&member), "{member} is not a member");
            assert!(popped.insert(member), "popped twice");
        }
    };
    // Counts small enough to draw one by one, until the set is small enough to walk.
    while c.cmd("EXISTS big") == Int(1) {
        pop(c.cmd("SPOP big 37"));
        pop(c.cmd("SPOP big"));
    }
    assert_eq!(popped, all);
}

#[test]
fn srandmember_counts_distinct_when_positive_and_repeats_when_negative() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("SRANDMEMBER none"), Nil);
    assert_eq!(c.cmd("SRANDMEMBER none 2"), R::Array(vec![]));
    assert_eq!(c.cmd("SRANDMEMBER none -2"), R::Array(vec![]));
    c.cmd("SADD s a b c");
    let R::Bulk(one) = c.cmd("SRANDMEMBER s") else {
        panic!("SRANDMEMBER without count replies a bulk");
    };
    assert!(set_of("a b c").contains(&String::from_utf8(one).unwrap()));
    let R::Array(two) = c.cmd("SRANDMEMBER s 2") else {
        panic!("array");
    };
    assert_eq!(two.len(), 2);
    assert_eq!(members(R::Array(two)).len(), 2, "distinct");
    assert_eq!(c.members("SRANDMEMBER s 10"), set_of("a b c"));
    // The largest count: the whole set, not an allocation for that many.
    assert_eq!(
        c.members("SRANDMEMBER s 9223372036854775807"),
        set_of("a b c")
    );
    assert_eq!(c.cmd("SRANDMEMBER s 0"), R::Array(vec![]));
    let R::Array(many) = c.cmd("SRANDMEMBER s -20") else {
        panic!("array");
    };
    assert_eq!(many.len(), 20);
    assert!(members(R::Array(many)).is_subset(&set_of("a b c")));
    // Reading never removes.
    assert_eq!(c.cmd("SCARD s"), Int(3));
    assert_eq!(
        c.cmd("SRANDMEMBER s -9223372036854775808"),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        c.cmd("SRANDMEMBER s x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.cmd("SRANDMEMBER s 1 2"), err(SYNTAX));
}

#[test]
fn object_encoding_reports_intset_listpack_and_hashtable_by_contents() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("SADD s 1 2 3");
    assert_eq!(c.cmd("OBJECT ENCODING s"), bulk("intset"));
    c.cmd("SADD s a");
    assert_eq!(c.cmd("OBJECT ENCODING s"), bulk("listpack"));
    let long = "x".repeat(65);
    c.cmd(&format!("SADD long {long}"));
    assert_eq!(c.cmd("OBJECT ENCODING long"), bulk("hashtable"));
    let ints: Vec<String> = (0..512).map(|i| i.to_string()).collect();
    c.cmd(&format!("SADD ints {}", ints.join(" ")));
    assert_eq!(c.cmd("OBJECT ENCODING ints"), bulk("intset"));
    c.cmd("SADD ints 512");
    assert_eq!(c.cmd("OBJECT ENCODING ints"), bulk("hashtable"));
    let words: Vec<String> = (0..128).map(|i| format!("w{i}")).collect();
    c.cmd(&format!("SADD words {}", words.join(" ")));
    assert_eq!(c.cmd("OBJECT ENCODING words"), bulk("listpack"));
    c.cmd("SADD words w128");
    assert_eq!(c.cmd("OBJECT ENCODING words"), bulk("hashtable"));
}

#[test]
fn smove_moves_a_member_between_shards_and_deletes_an_emptied_source() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("mv", SHARDS);
    let (src, dst) = (&keys[0], &keys[1]);
    c.cmd(&format!("SADD {src} a b"));
    assert_eq!(c.cmd(&format!("SMOVE {src} {dst} z")), Int(0));
    assert_eq!(c.cmd(&format!("SMOVE none {dst} a")), Int(0));
    assert_eq!(c.cmd(&format!("SMOVE {src} {dst} a")), Int(1));
    assert_eq!(c.members(&format!("SMEMBERS {src}")), set_of("b"));
    assert_eq!(c.members(&format!("SMEMBERS {dst}")), set_of("a"));
    assert_eq!(c.cmd(&format!("SMOVE {src} {dst} b")), Int(1));
    assert_eq!(c.cmd(&format!("EXISTS {src}")), Int(0));
    assert_eq!(c.members(&format!("SMEMBERS {dst}")), set_of("a b"));
    // Same key: 1 when a member, nothing changes.
    assert_eq!(c.cmd(&format!("SMOVE {dst} {dst} a")), Int(1));
    assert_eq!(c.cmd(&format!("SMOVE {dst} {dst} z")), Int(0));
    assert_eq!(c.members(&format!("SMEMBERS {dst}")), set_of("a b"));
    // Same shard.
    c.cmd("SADD {t}x a");
    assert_eq!(c.cmd("SMOVE {t}x {t}y a"), Int(1));
    assert_eq!(c.cmd("EXISTS {t}x"), Int(0));
    assert_eq!(c.members("SMEMBERS {t}y"), set_of("a"));
}

#[test]
fn sinter_sunion_sdiff_combine_sets_on_every_shard() {
    let server = server();
    let mut c = Conn::new(&server);
    let [a, b, d] = [0, 1, 2].map(|i| key_per_shard("alg", SHARDS)[i].clone());
    c.cmd(&format!("SADD {a} 1 2 3 4 x"));
    c.cmd(&format!("SADD {b} 2 3 y"));
    c.cmd(&format!("SADD {d} 3 4 z"));
    assert_eq!(c.members(&format!("SINTER {a} {b} {d}")), set_of("3"));
    assert_eq!(c.members(&format!("SINTER {a} {b}")), set_of("2 3"));
    assert_eq!(c.members(&format!("SINTER {a}")), set_of("1 2 3 4 x"));
    assert_eq!(c.members(&format!("SINTER {a} {b} missing")), set_of(""));
    assert_eq!(
        c.members(&format!("SUNION {a} {b} {d} missing")),
        set_of("1 2 3 4 x y z")
    );
    assert_eq!(c.members(&format!("SDIFF {a} {b} {d}")), set_of("1 x"));
    assert_eq!(
        c.members(&format!("SDIFF {a} missing")),
        set_of("1 2 3 4 x")
    );
    assert_eq!(c.members(&format!("SDIFF missing {a}")), set_of(""));
    assert_eq!(c.members(&format!("SDIFF {a} {a}")), set_of(""));
    // Same shard (hash tags) takes the single-shard path.
    c.cmd("SADD {h}1 a b c");
    c.cmd("SADD {h}2 b c d");
    assert_eq!(c.members("SINTER {h}1 {h}2"), set_of("b c"));
    assert_eq!(c.members("SUNION {h}1 {h}2"), set_of("a b c d"));
    assert_eq!(c.members("SDIFF {h}1 {h}2"), set_of("a"));
}

#[test]
fn store_forms_overwrite_any_destination_and_delete_it_when_empty() {
    let server = server();
    let mut c = Conn::new(&server);
    let [a, b, dst] = [0, 1, 2].map(|i| key_per_shard("st", SHARDS)[i].clone());
    c.cmd(&format!("SADD {a} 1 2 3"));
    c.cmd(&format!("SADD {b} 2 3 4"));
    c.cmd(&format!("SET {dst} string EX 100"));
    assert_eq!(c.cmd(&format!("SUNIONSTORE {dst} {a} {b}")), Int(4));
    assert_eq!(c.cmd(&format!("TYPE {dst}")), R::Status("set".into()));
    assert_eq!(c.cmd(&format!("TTL {dst}")), Int(-1));
    assert_eq!(c.members(&format!("SMEMBERS {dst}")), set_of("1 2 3 4"));
    assert_eq!(c.cmd(&format!("SINTERSTORE {dst} {a} {b}")), Int(2));
    assert_eq!(c.members(&format!("SMEMBERS {dst}")), set_of("2 3"));
    assert_eq!(c.cmd(&format!("SDIFFSTORE {dst} {a} {b}")), Int(1));
    assert_eq!(c.members(&format!("SMEMBERS {dst}")), set_of("1"));
    // The destination may be a source.
    assert_eq!(c.cmd(&format!("SUNIONSTORE {a} {a} {b}")), Int(4));
    assert_eq!(c.members(&format!("SMEMBERS {a}")), set_of("1 2 3 4"));
    // An empty result deletes the destination.
    assert_eq!(c.cmd(&format!("SINTERSTORE {dst} {a} missing")), Int(0));
    assert_eq!(c.cmd(&format!("EXISTS {dst}")), Int(0));
    c.cmd(&format!("SADD {dst} x"));
    assert_eq!(c.cmd(&format!("SDIFFSTORE {dst} {b} {a}")), Int(0));
    assert_eq!(c.cmd(&format!("EXISTS {dst}")), Int(0));
    // A wrong-typed source changes nothing.
    c.cmd(&format!("SET {dst} v"));
    assert_eq!(c.cmd(&format!("SUNIONSTORE {b} {a} {dst}")), err(WRONGTYPE));
    assert_eq!(c.members(&format!("SMEMBERS {b}")), set_of("2 3 4"));
    // Same shard.
    c.cmd("SADD {h}1 a b");
    assert_eq!(c.cmd("SUNIONSTORE {h}d {h}1 {h}2"), Int(2));
    assert_eq!(c.cmd("SINTERSTORE {h}d {h}1 {h}2"), Int(0));
    assert_eq!(c.cmd("EXISTS {h}d"), Int(0));
}

#[test]
fn sintercard_counts_the_intersection_up_to_its_limit() {
    let server = server();
    let mut c = Conn::new(&server);
    let [a, b, d] = [0, 1, 2].map(|i| key_per_shard("ic", SHARDS)[i].clone());
    c.cmd(&format!("SADD {a} 1 2 3 4 5"));
    c.cmd(&format!("SADD {b} 2 3 4 5 6"));
    c.cmd(&format!("SADD {d} 3 4 5 7"));
    assert_eq!(c.cmd(&format!("SINTERCARD 3 {a} {b} {d}")), Int(3));
    assert_eq!(c.cmd(&format!("SINTERCARD 2 {a} {b}")), Int(4));
    assert_eq!(c.cmd(&format!("SINTERCARD 2 {a} {b} LIMIT 2")), Int(2));
    assert_eq!(c.cmd(&format!("SINTERCARD 2 {a} {b} limit 0")), Int(4));
    assert_eq!(c.cmd(&format!("SINTERCARD 1 {a}")), Int(5));
    assert_eq!(c.cmd(&format!("SINTERCARD 2 {a} missing")), Int(0));
    c.cmd("SADD {h}1 a b c");
    c.cmd("SADD {h}2 b c d");
    assert_eq!(c.cmd("SINTERCARD 2 {h}1 {h}2"), Int(2));
    assert_eq!(c.cmd("SINTERCARD 2 {h}1 {h}2 LIMIT 1"), Int(1));
    for (line, error) in [
        ("SINTERCARD 0 a", "ERR numkeys should be greater than 0"),
        ("SINTERCARD x a", "ERR numkeys should be greater than 0"),
        (
            "SINTERCARD 3 a b",
            "ERR Number of keys can't be greater than number of args",
        ),
        ("SINTERCARD 1 a LIMIT -1", "ERR LIMIT can't be negative"),
        ("SINTERCARD 1 a LIMIT", SYNTAX),
        ("SINTERCARD 1 a foo 1", SYNTAX),
    ] {
        assert_eq!(c.cmd(line), err(error), "{line}");
    }
}

#[test]
fn sscan_returns_every_matching_member_in_one_pass() {
    let server = server();
    let mut c = Conn::new(&server);
    let words: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    c.cmd(&format!("SADD s {} other", words.join(" ")));
    assert_eq!(c.cmd("OBJECT ENCODING s"), bulk("listpack"));
    let R::Array(mut reply) = c.cmd("SSCAN s 0 COUNT 10") else {
        panic!("array");
    };
    let found = members(reply.pop().unwrap());
    assert_eq!(reply, vec![bulk("0")]);
    assert_eq!(found.len(), 101);
    let R::Array(mut reply) = c.cmd("SSCAN s 0 MATCH m1?") else {
        panic!("array");
    };
    assert_eq!(
        members(reply.pop().unwrap()),
        set_of("m10 m11 m12 m13 m14 m15 m16 m17 m18 m19")
    );
    assert_eq!(
        c.cmd("SSCAN none 0"),
        R::Array(vec![bulk("0"), R::Array(vec![])])
    );
    assert_eq!(c.cmd("SSCAN s x"), err("ERR invalid cursor"));
    assert_eq!(c.cmd("SSCAN s 0 COUNT 0"), err(SYNTAX));
    assert_eq!(c.cmd("SSCAN s 0 MATCH"), err(SYNTAX));
    assert_eq!(
        c.cmd("SSCAN s 0 COUNT x"),
        err("ERR value is not an integer or out of range")
    );
}

#[test]
fn resp3_replies_sets_for_smembers_sinter_and_spop_with_count() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("HELLO 3");
    let [a, b] = [0, 1].map(|i| key_per_shard("r3", SHARDS)[i].clone());
    c.cmd(&format!("SADD {a} x y"));
    c.cmd(&format!("SADD {b} y z"));
    let smembers = c.cmd(&format!("SMEMBERS {a}"));
    assert!(matches!(smembers, R::Set(_)), "{smembers:?}");
    assert_eq!(members(smembers), set_of("x y"));
    assert!(matches!(c.cmd(&format!("SINTER {a} {b}")), R::Set(items) if items == vec![bulk("y")]));
    assert!(matches!(c.cmd(&format!("SUNION {a} {b}")), R::Set(items) if items.len() == 3));
    assert!(matches!(c.cmd(&format!("SPOP {a} 1")), R::Set(items) if items.len() == 1));
    assert!(matches!(c.cmd(&format!("SRANDMEMBER {b} 1")), R::Array(items) if items.len() == 1));
    assert_eq!(c.cmd("SPOP none"), Nil);
}

#[test]
fn rename_moves_a_set_across_shards() {
    let server = server();
    let mut c = Conn::new(&server);
    let [a, b] = [0, 1].map(|i| key_per_shard("rn", SHARDS)[i].clone());
    c.cmd(&format!("SADD {a} 1 two 3"));
    assert_eq!(c.cmd(&format!("RENAME {a} {b}")), R::Status("OK".into()));
    assert_eq!(c.members(&format!("SMEMBERS {b}")), set_of("1 two 3"));
    assert_eq!(c.cmd(&format!("EXISTS {a}")), Int(0));
}

#[test]
fn sets_written_across_shards_survive_sigkill_exactly_as_acknowledged() {
    let mut server = Server::start(SHARDS, &[]);
    let keys = key_per_shard("dur", SHARDS);
    let expected = {
        let mut c = Conn::new(&server);
        c.cmd(&format!("SADD {} a b c d", keys[0]));
        c.cmd(&format!("SADD {} c d e", keys[1]));
        c.cmd(&format!("SREM {} a", keys[0]));
        assert_eq!(
            c.cmd(&format!("SUNIONSTORE {} {} {}", keys[2], keys[0], keys[1])),
            Int(4)
        );
        c.cmd(&format!("SADD {} 1 2 3 4 5", keys[1]));
        let popped = c.members(&format!("SPOP {} 3", keys[1]));
        assert_eq!(popped.len(), 3);
        assert_eq!(c.cmd(&format!("SMOVE {} {} b", keys[0], keys[1])), Int(1));
        c.cmd("SADD gone x");
        c.cmd("SREM gone x");
        keys.iter()
            .map(|k| c.members(&format!("SMEMBERS {k}")))
            .collect::<Vec<_>>()
    };
    server.kill9();
    server.restart();
    let mut c = Conn::new(&server);
    for (key, before) in keys.iter().zip(&expected) {
        assert_eq!(&c.members(&format!("SMEMBERS {key}")), before, "{key}");
    }
    assert_eq!(expected[2], set_of("b c d e"));
    assert_eq!(c.cmd("EXISTS gone"), Int(0));
    // A snapshot holds sets too: SAVE, change one set after it, SIGKILL again.
    assert_eq!(c.cmd("SAVE"), R::Status("OK".into()));
    c.cmd(&format!("SADD {} after-save", keys[2]));
    drop(c);
    server.kill9();
    server.restart();
    let mut c = Conn::new(&server);
    assert_eq!(c.members(&format!("SMEMBERS {}", keys[0])), expected[0]);
    assert_eq!(c.members(&format!("SMEMBERS {}", keys[1])), expected[1]);
    assert_eq!(
        c.members(&format!("SMEMBERS {}", keys[2])),
        set_of("b c d e after-save")
    );
}

#[test]
fn smove_across_shards_is_atomic_for_concurrent_sunion_and_sintercard() {
    const MEMBERS: usize = 40;
    const ROUNDS: usize = 5;
    let server = server();
    let [a, b] = [0, 1].map(|i| key_per_shard("atom", SHARDS)[i].clone());
    let mut c = Conn::new(&server);
    let all: Vec<String> = (0..MEMBERS).map(|i| format!("m{i}")).collect();
    c.cmd(&format!("SADD {a} {}", all.join(" ")));
    let mover = {
        let mut m = Conn::new(&server);
        let (a, b, all) = (a.clone(), b.clone(), all.clone());
        std::thread::spawn(move || {
            for round in 0..ROUNDS {
                let (from, to) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
                for member in &all {
                    assert_eq!(m.cmd(&format!("SMOVE {from} {to} {member}")), Int(1));
                }
            }
        })
    };
    loop {
        // Every member is in exactly one of the two sets at every instant.
        assert_eq!(c.members(&format!("SUNION {a} {b}")).len(), MEMBERS);
        assert_eq!(c.cmd(&format!("SINTERCARD 2 {a} {b}")), Int(0));
        if mover.is_finished() {
            break;
        }
    }
    mover.join().unwrap();
    assert_eq!(c.cmd(&format!("SCARD {b}")), Int(MEMBERS as i64));
    assert_eq!(c.cmd(&format!("EXISTS {a}")), Int(0));
}

const SSCAN: Family = Family {
    scan: "SSCAN",
    add: "SADD k m{i}",
    remove: "SREM k m{i}",
    stride: 1,
    encoding: "hashtable",
};

#[test]
fn sscan_on_a_big_collection_returns_about_count_per_step_and_every_element() {
    let server = server();
    collection_scan::returns_about_count_per_step_and_every_element(
        &mut Conn::new(&server),
        &SSCAN,
    );
}

#[test]
fn sscan_returns_every_element_present_throughout_while_others_come_and_go() {
    let server = server();
    collection_scan::returns_every_element_present_throughout(&mut Conn::new(&server), &SSCAN);
}

#[test]
fn sscan_match_filters_each_step_and_a_bad_cursor_is_an_error() {
    let server = server();
    let mut c = Conn::new(&server);
    collection_scan::match_filters_each_step_and_a_bad_cursor_is_an_error(&mut c, &SSCAN);
}
