//! The hash family (HSET, HGET, HDEL, HINCRBY, HGETALL, HSCAN, HRANDFIELD, ...) with Redis 7's
//! replies and errors, on 3 shards; and hashes surviving a SIGKILL and a snapshot.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::collection_scan::{self, Family};
use common::resp::R::{self, Int, Nil};
use common::resp::{arity, bulk, err, key_per_shard, ok, Conn, NOT_INTEGER, SYNTAX, WRONGTYPE};
use common::Server;

const SHARDS: usize = 3;

fn server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no"])
}

fn bulks(items: &[&str]) -> R {
    R::Array(items.iter().map(bulk).collect())
}

impl Conn {
    fn hgetall(&mut self, key: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let R::Array(items) = self.call(&["HGETALL", key]) else {
            panic!("HGETALL {key} is not an array");
        };
        items
            .chunks(2)
            .map(|pair| match pair {
                [R::Bulk(f), R::Bulk(v)] => (f.clone(), v.clone()),
                other => panic!("bad HGETALL pair {other:?}"),
            })
            .collect()
    }
}

fn strings(reply: R) -> Vec<String> {
    let R::Array(items) = reply else {
        panic!("not an array: {reply:?}");
    };
    items
        .into_iter()
        .map(|r| match r {
            R::Bulk(b) => String::from_utf8(b).unwrap(),
            other => panic!("not a bulk: {other:?}"),
        })
        .collect()
}

#[test]
fn hset_counts_new_fields_and_hget_reads_them_on_every_shard() {
    let server = server();
    let mut c = Conn::new(&server);
    for key in key_per_shard("h", SHARDS) {
        assert_eq!(c.call(&["HSET", &key, "a", "1", "b", "2"]), Int(2));
        assert_eq!(c.call(&["HSET", &key, "a", "x", "c", "3"]), Int(1));
        assert_eq!(c.call(&["HGET", &key, "a"]), bulk("x"));
        assert_eq!(c.call(&["HGET", &key, "nope"]), Nil);
        assert_eq!(c.call(&["TYPE", &key]), R::Status("hash".into()));
    }
    assert_eq!(c.cmd("HGET missing a"), Nil);
    assert_eq!(c.call(&["HSET", "h", "f", "v\0\r\nbinary"]), Int(1));
    assert_eq!(c.cmd("HGET h f"), bulk("v\0\r\nbinary"));
}

#[test]
fn hset_and_hmset_refuse_an_odd_number_of_field_values() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("HSET h a"), arity("hset"));
    assert_eq!(c.cmd("HSET h a 1 b"), arity("hset"));
    assert_eq!(c.cmd("HMSET h a 1 b"), arity("hmset"));
    assert_eq!(c.cmd("EXISTS h"), Int(0));
    assert_eq!(c.cmd("HMSET h a 1 b 2"), ok());
    assert_eq!(c.cmd("HMSET h a 3"), ok());
    assert_eq!(c.cmd("HMGET h a b"), bulks(&["3", "2"]));
    assert_eq!(c.cmd("HGET h"), arity("hget"));
}

#[test]
fn hsetnx_sets_only_a_missing_field() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("HSETNX h f 1"), Int(1));
    assert_eq!(c.cmd("HSETNX h f 2"), Int(0));
    assert_eq!(c.cmd("HSETNX h g 3"), Int(1));
    assert_eq!(c.cmd("HMGET h f g"), bulks(&["1", "3"]));
}

#[test]
fn hmget_answers_nil_for_missing_fields_and_keys() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("HSET h a 1 c 3");
    assert_eq!(
        c.cmd("HMGET h a b c"),
        R::Array(vec![bulk("1"), Nil, bulk("3")])
    );
    assert_eq!(c.cmd("HMGET missing a b"), R::Array(vec![Nil, Nil]));
}

#[test]
fn hdel_counts_removed_fields_and_deletes_the_emptied_hash() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("HSET h a 1 b 2 c 3");
    assert_eq!(c.cmd("HDEL h a nope a"), Int(1));
    assert_eq!(c.cmd("HLEN h"), Int(2));
    assert_eq!(c.cmd("HDEL missing a"), Int(0));
    assert_eq!(c.cmd("HDEL h b c"), Int(2));
    assert_eq!(c.cmd("EXISTS h"), Int(0));
    assert_eq!(c.cmd("TYPE h"), R::Status("none".into()));
    assert_eq!(c.cmd("HLEN h"), Int(0));
}

#[test]
fn hlen_hstrlen_and_hexists_answer_for_fields_and_missing_keys() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("HSET h a hello n 12345 e");
    // A field without a value: the whole HSET is refused.
    assert_eq!(c.cmd("EXISTS h"), Int(0));
    c.cmd("HSET h a hello n 12345");
    assert_eq!(c.cmd("HLEN h"), Int(2));
    assert_eq!(c.cmd("HSTRLEN h a"), Int(5));
    assert_eq!(c.cmd("HSTRLEN h n"), Int(5));
    assert_eq!(c.cmd("HSTRLEN h nope"), Int(0));
    assert_eq!(c.cmd("HSTRLEN missing a"), Int(0));
    assert_eq!(c.cmd("HEXISTS h a"), Int(1));
    assert_eq!(c.cmd("HEXISTS h nope"), Int(0));
    assert_eq!(c.cmd("HEXISTS missing a"), Int(0));
    assert_eq!(c.cmd("HLEN missing"), Int(0));
}

#[test]
fn hkeys_hvals_and_hgetall_list_a_small_hash_in_insertion_order() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("HSET h z 1 a 2 m 3");
    c.cmd("HSET h a 4");
    assert_eq!(c.cmd("HKEYS h"), bulks(&["z", "a", "m"]));
    assert_eq!(c.cmd("HVALS h"), bulks(&["1", "4", "3"]));
    assert_eq!(c.cmd("HGETALL h"), bulks(&["z", "1", "a", "4", "m", "3"]));
    for command in ["HKEYS", "HVALS", "HGETALL"] {
        assert_eq!(c.call(&[command, "missing"]), R::Array(vec![]));
    }
}

#[test]
fn hgetall_is_a_map_in_resp3() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("HSET h a 1 b 2");
    assert!(matches!(c.cmd("HELLO 3"), R::Map(_)));
    assert_eq!(
        c.cmd("HGETALL h"),
        R::Map(vec![(bulk("a"), bulk("1")), (bulk("b"), bulk("2"))])
    );
    assert_eq!(c.cmd("HGETALL missing"), R::Map(vec![]));
    assert_eq!(c.cmd("HGET h nope"), Nil);
}

#[test]
fn hincrby_adds_to_integer_fields_and_refuses_overflow_and_non_integers() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("HINCRBY h n 5"), Int(5));
    assert_eq!(c.cmd("HINCRBY h n -7"), Int(-2));
    assert_eq!(c.cmd("HGET h n"), bulk("-2"));
    c.cmd("HSET h big 9223372036854775807 small -9223372036854775808 s abc sp 007");
    let overflow = err("ERR increment or decrement would overflow");
    assert_eq!(c.cmd("HINCRBY h big 1"), overflow);
    assert_eq!(c.cmd("HINCRBY h small -1"), overflow);
    assert_eq!(c.cmd("HINCRBY h big -1"), Int(9223372036854775806));
    let not_integer = err("ERR hash value is not an integer");
    assert_eq!(c.cmd("HINCRBY h s 1"), not_integer);
    assert_eq!(c.cmd("HINCRBY h sp 1"), not_integer);
    assert_eq!(c.cmd("HINCRBY h n x"), err(NOT_INTEGER));
    assert_eq!(c.cmd("HINCRBY h n 1.5"), err(NOT_INTEGER));
    assert_eq!(c.cmd("HGET h n"), bulk("-2"));
}

#[test]
fn hincrbyfloat_formats_as_redis_and_refuses_non_floats() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("HSET h f 10.50");
    assert_eq!(c.cmd("HINCRBYFLOAT h f 0.1"), bulk("10.6"));
    assert_eq!(c.cmd("HINCRBYFLOAT h f -5"), bulk("5.6"));
    c.cmd("HSET h e 5.0e3");
    assert_eq!(c.cmd("HINCRBYFLOAT h e 2.0e2"), bulk("5200"));
    assert_eq!(c.cmd("HINCRBYFLOAT h new 0.1"), bulk("0.1"));
    assert_eq!(c.cmd("HINCRBYFLOAT h new 0.2"), bulk("0.3"));
    assert_eq!(c.cmd("HGET h new"), bulk("0.3"));
    c.cmd("HSET h s abc");
    assert_eq!(
        c.cmd("HINCRBYFLOAT h s 1"),
        err("ERR hash value is not a float")
    );
    assert_eq!(
        c.cmd("HINCRBYFLOAT h f abc"),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        c.cmd("HINCRBYFLOAT h f inf"),
        err("ERR value is NaN or Infinity")
    );
    assert_eq!(c.cmd("HGET h f"), bulk("5.6"));
}

#[test]
fn hash_commands_on_a_string_and_string_commands_on_a_hash_are_wrongtype() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("SET s v");
    c.cmd("HSET h f v");
    for line in [
        "HSET s f v",
        "HSETNX s f v",
        "HMSET s f v",
        "HGET s f",
        "HMGET s f",
        "HDEL s f",
        "HLEN s",
        "HSTRLEN s f",
        "HEXISTS s f",
        "HKEYS s",
        "HVALS s",
        "HGETALL s",
        "HINCRBY s f 1",
        "HINCRBYFLOAT s f 1",
        "HSCAN s 0",
        "HRANDFIELD s",
        "HRANDFIELD s 2",
        "GET h",
        "APPEND h x",
        "INCR h",
        "STRLEN h",
        "GETRANGE h 0 1",
    ] {
        assert_eq!(c.cmd(line), err(WRONGTYPE), "{line}");
    }
    assert_eq!(c.cmd("GET s"), bulk("v"));
    assert_eq!(c.cmd("HGETALL h"), bulks(&["f", "v"]));
    assert_eq!(c.cmd("SET h now-a-string"), ok());
    assert_eq!(c.cmd("TYPE h"), R::Status("string".into()));
}

#[test]
fn object_encoding_moves_from_listpack_to_hashtable_past_the_limits() {
    let server = server();
    let mut c = Conn::new(&server);
    // redis-server 7.0.15's compiled-in hash-max-listpack-entries is 512.
    for i in 0..512 {
        c.call(&["HSET", "many", &format!("f{i}"), "v"]);
    }
    assert_eq!(c.cmd("OBJECT ENCODING many"), bulk("listpack"));
    c.cmd("HSET many one-more v");
    assert_eq!(c.cmd("OBJECT ENCODING many"), bulk("hashtable"));
    assert_eq!(c.cmd("HLEN many"), Int(513));

    c.call(&["HSET", "long", "f", &"x".repeat(64)]);
    assert_eq!(c.cmd("OBJECT ENCODING long"), bulk("listpack"));
    c.call(&["HSET", "long", "g", &"x".repeat(65)]);
    assert_eq!(c.cmd("OBJECT ENCODING long"), bulk("hashtable"));
    c.cmd("HDEL long g");
    assert_eq!(c.cmd("OBJECT ENCODING long"), bulk("hashtable"));
    assert_eq!(c.cmd("TYPE long"), R::Status("hash".into()));
}

/// Runs a whole HSCAN iteration; returns every (field, value) returned (repeats included).
fn hscan_all(c: &mut Conn, key: &str, options: &[&str]) -> Vec<(String, String)> {
    let (mut cursor, mut seen) = ("0".to_string(), Vec::new());
    for _ in 0..10_000 {
        let mut args = vec!["HSCAN", key, &cursor];
        args.extend_from_slice(options);
        let R::Array(mut parts) = c.call(&args) else {
            panic!("HSCAN did not answer an array");
        };
        let items = strings(parts.pop().unwrap());
        let R::Bulk(next) = parts.pop().unwrap() else {
            panic!("HSCAN cursor is not a bulk");
        };
        seen.extend(
            items
                .chunks(2)
                .map(|pair| (pair[0].clone(), pair[1].clone())),
        );
        cursor = String::from_utf8(next).unwrap();
        if cursor == "0" {
            return seen;
        }
    }
    panic!("HSCAN did not finish");
}

#[test]
fn hscan_returns_every_field_of_small_and_large_hashes() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("HSET small a 1 b 2 ab 3");
    assert_eq!(
        c.cmd("HSCAN small 0"),
        R::Array(vec![bulk("0"), bulks(&["a", "1", "b", "2", "ab", "3"])])
    );
    assert_eq!(
        c.cmd("HSCAN small 0 MATCH a*"),
        R::Array(vec![bulk("0"), bulks(&["a", "1", "ab", "3"])])
    );
    for i in 0..1000 {
        c.call(&["HSET", "large", &format!("f{i}"), &i.to_string()]);
    }
    let seen = hscan_all(&mut c, "large", &["COUNT", "7"]);
    assert_eq!(seen.len(), 1000, "each field exactly once");
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    let expected: BTreeSet<_> = (0..1000)
        .map(|i| (format!("f{i}"), i.to_string()))
        .collect();
    assert_eq!(unique, expected);
    let matched = hscan_all(&mut c, "large", &["MATCH", "f99*"]);
    let fields: BTreeSet<_> = matched.into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        ["f99", "f990", "f991", "f992", "f993", "f994", "f995", "f996", "f997", "f998", "f999"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        c.cmd("HSCAN missing 0"),
        R::Array(vec![bulk("0"), R::Array(vec![])])
    );
    assert_eq!(c.cmd("HSCAN small x"), err("ERR invalid cursor"));
    assert_eq!(c.cmd("HSCAN small 0 COUNT 0"), err(SYNTAX));
    assert_eq!(c.cmd("HSCAN small 0 COUNT x"), err(NOT_INTEGER));
    assert_eq!(c.cmd("HSCAN small 0 MATCH"), err(SYNTAX));
    assert_eq!(c.cmd("HSCAN small 0 FOO bar"), err(SYNTAX));
}

#[test]
fn hrandfield_picks_distinct_or_repeated_fields_by_the_count_sign() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("HSET h a 1 b 2 c 3 d 4 e 5");
    let all: BTreeSet<String> = ["a", "b", "c", "d", "e"].map(String::from).into();
    let R::Bulk(one) = c.cmd("HRANDFIELD h") else {
        panic!("HRANDFIELD without count is not a bulk");
    };
    assert!(all.contains(&String::from_utf8(one).unwrap()));

    let three = strings(c.cmd("HRANDFIELD h 3"));
    let distinct: BTreeSet<_> = three.iter().cloned().collect();
    assert_eq!((three.len(), distinct.len()), (3, 3));
    assert!(distinct.is_subset(&all));

    let everything: BTreeSet<_> = strings(c.cmd("HRANDFIELD h 10")).into_iter().collect();
    assert_eq!(everything, all);

    let repeated = strings(c.cmd("HRANDFIELD h -20"));
    assert_eq!(repeated.len(), 20);
    assert!(repeated.iter().all(|f| all.contains(f)));
    assert_eq!(c.cmd("HRANDFIELD h 0"), R::Array(vec![]));

    let with_values = strings(c.cmd("HRANDFIELD h -6 WITHVALUES"));
    assert_eq!(with_values.len(), 12);
    for pair in with_values.chunks(2) {
        let expected = (pair[0].as_bytes()[0] - b'a' + 1).to_string();
        assert_eq!(pair[1], expected, "value of {}", pair[0]);
    }

    assert_eq!(c.cmd("HRANDFIELD missing"), Nil);
    assert_eq!(c.cmd("HRANDFIELD missing 3"), R::Array(vec![]));
    assert_eq!(c.cmd("HRANDFIELD h 1 foo"), err(SYNTAX));
    assert_eq!(c.cmd("HRANDFIELD h 1 WITHVALUES x"), err(SYNTAX));
    assert_eq!(c.cmd("HRANDFIELD h x"), err(NOT_INTEGER));
    assert_eq!(
        c.cmd("HRANDFIELD h -4611686018427387904 WITHVALUES"),
        err("ERR value is out of range")
    );
}

/// A big hash (`hashtable`) has its random fields drawn one by one, not found by a walk over it:
/// each is one of its fields, with its own value, distinct for a positive count.
#[test]
fn hrandfield_on_a_big_hash_picks_its_fields_with_their_values() {
    const FIELDS: usize = 20_000;
    let server = server();
    let mut con = server.client();
    common::fill(&mut con, "HSET", "big", FIELDS, |i| {
        vec![format!("f{i}"), format!("v{i}")]
    });
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("OBJECT ENCODING big"), bulk("hashtable"));
    let is_field = |f: &str| f[1..].parse::<usize>().is_ok_and(|i| i < FIELDS);
    let R::Bulk(one) = c.cmd("HRANDFIELD big") else {
        panic!("HRANDFIELD without count is not a bulk");
    };
    assert!(is_field(&String::from_utf8(one).unwrap()));
    // Few (drawn one by one) and many (a walk): distinct fields of the hash.
    for count in [100, 15_000] {
        let picked = strings(c.cmd(&format!("HRANDFIELD big {count}")));
        let distinct: BTreeSet<_> = picked.iter().collect();
        assert_eq!((picked.len(), distinct.len()), (count, count));
        assert!(picked.iter().all(|f| is_field(f)));
    }
    let with_values = strings(c.cmd("HRANDFIELD big -1000 WITHVALUES"));
    assert_eq!(with_values.len(), 2000);
    for pair in with_values.chunks(2) {
        assert!(is_field(&pair[0]));
        assert_eq!(pair[1], format!("v{}", &pair[0][1..]));
    }
}

#[test]
fn hrandfield_withvalues_pairs_are_arrays_in_resp3() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("HSET h a 1");
    c.cmd("HELLO 3");
    assert_eq!(
        c.cmd("HRANDFIELD h 1 WITHVALUES"),
        R::Array(vec![bulks(&["a", "1"])])
    );
    assert_eq!(
        c.cmd("HRANDFIELD h -2 WITHVALUES"),
        R::Array(vec![bulks(&["a", "1"]), bulks(&["a", "1"])])
    );
}

#[test]
fn a_hash_renamed_across_shards_keeps_its_fields_and_encoding() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("r", SHARDS);
    c.call(&["HSET", &keys[0], "a", "1", "b", "2"]);
    c.call(&["HSET", &keys[0], "long", &"x".repeat(100)]);
    let before = c.hgetall(&keys[0]);
    assert_eq!(c.call(&["RENAME", &keys[0], &keys[1]]), ok());
    assert_eq!(c.hgetall(&keys[1]), before);
    assert_eq!(c.call(&["OBJECT", "ENCODING", &keys[1]]), bulk("hashtable"));
    assert_eq!(c.call(&["COPY", &keys[1], &keys[2]]), Int(1));
    assert_eq!(c.hgetall(&keys[2]), before);
}

#[test]
fn hashes_survive_sigkill_and_a_snapshot_exactly() {
    let mut server = Server::start(SHARDS, &[]);
    let keys = key_per_shard("d", SHARDS);
    let mut c = Conn::new(&server);
    for key in &keys {
        c.call(&["HSET", key, "a", "1", "b", "2", "c", "3"]);
        c.call(&["HDEL", key, "b"]);
        c.call(&["HINCRBY", key, "a", "41"]);
        c.call(&["HINCRBYFLOAT", key, "f", "0.5"]);
    }
    c.call(&["HSET", &keys[0], "long", &"y".repeat(200)]);
    c.call(&["HSET", "emptied", "x", "1"]);
    c.call(&["HDEL", "emptied", "x"]);
    let expected: Vec<_> = keys.iter().map(|k| c.hgetall(k)).collect();
    assert_eq!(expected[1].get(&b"a"[..]), Some(&b"42".to_vec()));
    assert_eq!(expected[1].get(&b"b"[..]), None);

    server.kill9();
    server.restart();
    let mut c = Conn::new(&server);
    let after_kill: Vec<_> = keys.iter().map(|k| c.hgetall(k)).collect();
    assert_eq!(after_kill, expected);
    assert_eq!(c.call(&["HKEYS", &keys[1]]), bulks(&["a", "c", "f"]));
    assert_eq!(c.call(&["OBJECT", "ENCODING", &keys[0]]), bulk("hashtable"));
    assert_eq!(c.call(&["OBJECT", "ENCODING", &keys[1]]), bulk("listpack"));
    assert_eq!(c.cmd("EXISTS emptied"), Int(0));

    assert_eq!(c.cmd("SAVE"), ok());
    server.restart();
    let mut c = Conn::new(&server);
    let after_save: Vec<_> = keys.iter().map(|k| c.hgetall(k)).collect();
    assert_eq!(after_save, expected);
    assert_eq!(c.call(&["TYPE", &keys[2]]), R::Status("hash".into()));

    // Resharding on restart moves keys to other shards through the same value encoding.
    server.set_arg("shards", "2");
    server.restart();
    let mut c = Conn::new(&server);
    let after_reshard: Vec<_> = keys.iter().map(|k| c.hgetall(k)).collect();
    assert_eq!(after_reshard, expected);
}

/// keyspace_hits and keyspace_misses from INFO stats.
fn hits_and_misses(c: &mut Conn) -> (i64, i64) {
    let R::Bulk(info) = c.cmd("INFO stats") else {
        panic!("INFO is not a bulk");
    };
    let info = String::from_utf8(info).unwrap();
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in INFO"))
            .trim()
            .parse::<i64>()
            .unwrap()
    };
    (field("keyspace_hits"), field("keyspace_misses"))
}

#[test]
fn hash_reads_count_keyspace_hits_and_misses_and_writes_do_not() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("HSET h f 1");
    let before = hits_and_misses(&mut c);
    c.cmd("HGET h f");
    c.cmd("HGET h nope");
    c.cmd("HLEN missing");
    c.cmd("HINCRBY h f 1");
    c.cmd("HDEL missing f");
    let after = hits_and_misses(&mut c);
    assert_eq!((after.0 - before.0, after.1 - before.1), (2, 1));
}

const HSCAN: Family = Family {
    scan: "HSCAN",
    add: "HSET k m{i} v{i}",
    remove: "HDEL k m{i}",
    stride: 2,
    encoding: "hashtable",
};

#[test]
fn hscan_on_a_big_collection_returns_about_count_per_step_and_every_element() {
    let server = server();
    collection_scan::returns_about_count_per_step_and_every_element(
        &mut Conn::new(&server),
        &HSCAN,
    );
}

#[test]
fn hscan_returns_every_element_present_throughout_while_others_come_and_go() {
    let server = server();
    collection_scan::returns_every_element_present_throughout(&mut Conn::new(&server), &HSCAN);
}

#[test]
fn hscan_match_filters_each_step_and_a_bad_cursor_is_an_error() {
    let server = server();
    let mut c = Conn::new(&server);
    collection_scan::match_filters_each_step_and_a_bad_cursor_is_an_error(&mut c, &HSCAN);
}
