//! The sorted set family (ZADD, ZRANGE and its variants, ZPOP*, ZMPOP, the set algebra, ZSCAN, ...)
//! with Redis 7's replies and errors, on 3 shards so that multi-key commands cross shards; the
//! listpack → skiplist conversion; and sorted sets surviving a SIGKILL.

mod common;

use common::collection_scan::{self, Family};
use common::resp::R::{self, Int, Nil};
use common::resp::{bulk, err, key_per_shard, split, words, Conn, NOT_INTEGER, SYNTAX, WRONGTYPE};
use common::{resp, Server};
use rand::{Rng, SeedableRng};

const SHARDS: usize = 3;
const NOT_FLOAT: &str = "ERR value is not a valid float";
const RANGE_NOT_FLOAT: &str = "ERR min or max is not a float";
const BAD_LEX: &str = "ERR min or max not valid string range item";

fn server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no"])
}

impl Conn {
    fn words(&mut self, line: &str) -> Vec<String> {
        words(self.cmd(line))
    }
}

#[test]
fn zadd_counts_added_members_and_ch_counts_updates_too() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("ZADD z 1 a 2 b 3 c"), Int(3));
    assert_eq!(c.cmd("ZADD z 1 a 5 b 4 d"), Int(1));
    assert_eq!(c.cmd("ZADD z CH 1 a 6 b 7 e"), Int(2));
    assert_eq!(
        c.cmd("ZADD z 9 x 10 x"),
        Int(1),
        "a later pair for the same member wins"
    );
    assert_eq!(c.cmd("ZSCORE z x"), bulk("10"));
    assert_eq!(c.cmd("TYPE z"), R::Status("zset".into()));
    assert_eq!(c.cmd("ZCARD z"), Int(6));
    assert_eq!(c.cmd("ZCARD missing"), Int(0));
    assert_eq!(c.words("ZRANGE z 0 -1"), split("a c d b e x"));
}

#[test]
fn zadd_nx_xx_gt_lt_conditions_and_their_conflicts() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("ZADD z 5 a");
    assert_eq!(c.cmd("ZADD z NX 1 a 1 b"), Int(1));
    assert_eq!(c.cmd("ZSCORE z a"), bulk("5"));
    assert_eq!(c.cmd("ZADD z XX CH 2 b 1 c"), Int(1));
    assert_eq!(c.cmd("EXISTS c"), Int(0));
    assert_eq!(c.cmd("ZSCORE z c"), Nil);
    assert_eq!(c.cmd("ZADD z GT CH 4 a 3 b"), Int(1));
    assert_eq!(c.words("ZRANGE z 0 -1 WITHSCORES"), split("b 3 a 5"));
    assert_eq!(c.cmd("ZADD z LT CH 9 a 1 b 0 n"), Int(2));
    assert_eq!(c.words("ZRANGE z 0 -1 WITHSCORES"), split("n 0 b 1 a 5"));
    assert_eq!(c.cmd("ZADD z XX GT 1 missing"), Int(0));
    assert_eq!(c.cmd("ZSCORE z missing"), Nil);
    for (line, error) in [
        (
            "ZADD z NX XX 1 a",
            "ERR XX and NX options at the same time are not compatible",
        ),
        (
            "ZADD z GT LT 1 a",
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            "ZADD z NX GT 1 a",
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            "ZADD z INCR 1 a 2 b",
            "ERR INCR option supports a single increment-element pair",
        ),
        ("ZADD z 1 a 2", SYNTAX),
        (
            "ZADD z CH",
            "ERR wrong number of arguments for 'zadd' command",
        ),
        ("ZADD z x a", NOT_FLOAT),
        ("ZADD z nan a", NOT_FLOAT),
        ("ZADD z 1 a NaN b", NOT_FLOAT),
    ] {
        assert_eq!(c.cmd(line), err(error), "{line}");
    }
    assert_eq!(c.cmd("ZCARD z"), Int(3), "a refused ZADD changes nothing");
}

#[test]
fn incr_and_zincrby_reply_the_new_score_and_refuse_nan() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("ZINCRBY z 2.5 a"), bulk("2.5"));
    assert_eq!(c.cmd("ZINCRBY z 14.5 a"), bulk("17"));
    assert_eq!(c.cmd("ZADD z INCR -20 a"), bulk("-3"));
    assert_eq!(c.cmd("ZADD z NX INCR 1 a"), Nil);
    assert_eq!(c.cmd("ZADD z XX INCR 1 new"), Nil);
    assert_eq!(c.cmd("ZADD z GT INCR -1 a"), Nil);
    assert_eq!(c.cmd("ZADD z LT INCR -1 a"), bulk("-4"));
    assert_eq!(c.cmd("ZINCRBY z inf a"), bulk("inf"));
    assert_eq!(
        c.cmd("ZINCRBY z -inf a"),
        err("ERR resulting score is not a number (NaN)")
    );
    assert_eq!(c.cmd("ZSCORE z a"), bulk("inf"));
    assert_eq!(c.cmd("ZINCRBY z x a"), err(NOT_FLOAT));
    assert_eq!(c.cmd("ZADD z -inf b 0.1 c 1e20 d -0 e"), Int(4));
    assert_eq!(
        c.words("ZRANGE z 0 -1 WITHSCORES"),
        split("b -inf e 0 c 0.1 d 1e+20 a inf")
    );
    assert_eq!(
        c.cmd("ZMSCORE z a nope b"),
        R::Array(vec![bulk("inf"), Nil, bulk("-inf")])
    );
}

#[test]
fn ranks_count_from_either_end_with_scores_on_request() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("ZADD z 1 a 2 b 3 c 3 d");
    assert_eq!(c.cmd("ZRANK z a"), Int(0));
    assert_eq!(c.cmd("ZRANK z d"), Int(3));
    assert_eq!(c.cmd("ZREVRANK z d"), Int(0));
    assert_eq!(c.cmd("ZREVRANK z a"), Int(3));
    assert_eq!(c.cmd("ZRANK z nope"), Nil);
    assert_eq!(c.cmd("ZRANK missing a"), Nil);
    assert_eq!(
        c.cmd("ZRANK z c WITHSCORE"),
        R::Array(vec![Int(2), bulk("3")])
    );
    assert_eq!(
        c.cmd("ZREVRANK z b withscore"),
        R::Array(vec![Int(2), bulk("2")])
    );
    assert_eq!(c.cmd("ZRANK z a foo"), err(SYNTAX));
}

#[test]
fn zrange_by_rank_score_and_lex_with_rev_and_limit() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("ZADD z 1 a 2 b 3 c 4 d 5 e");
    assert_eq!(c.words("ZRANGE z 0 -1"), split("a b c d e"));
    assert_eq!(c.words("ZRANGE z -2 -1"), split("d e"));
    assert_eq!(c.words("ZRANGE z 1 100"), split("b c d e"));
    assert_eq!(c.words("ZRANGE z 3 1"), split(""));
    assert_eq!(c.words("ZRANGE z 10 20"), split(""));
    assert_eq!(c.words("ZRANGE z 0 1 REV WITHSCORES"), split("e 5 d 4"));
    assert_eq!(c.words("ZREVRANGE z 1 2"), split("d c"));
    assert_eq!(c.words("ZRANGE z (1 3 BYSCORE"), split("b c"));
    assert_eq!(
        c.words("ZRANGE z -inf +inf BYSCORE LIMIT 1 2"),
        split("b c")
    );
    assert_eq!(
        c.words("ZRANGE z -inf +inf BYSCORE LIMIT 3 -1"),
        split("d e")
    );
    assert_eq!(c.words("ZRANGE z -inf +inf BYSCORE LIMIT -1 2"), split(""));
    assert_eq!(c.words("ZRANGE z -inf +inf BYSCORE LIMIT 0 0"), split(""));
    assert_eq!(
        c.words("ZRANGE z (5 (1 BYSCORE REV WITHSCORES"),
        split("d 4 c 3 b 2")
    );
    assert_eq!(c.words("ZRANGE z 5 1 BYSCORE REV LIMIT 1 1"), split("d"));
    assert_eq!(c.words("ZRANGEBYSCORE z 2 (4 WITHSCORES"), split("b 2 c 3"));
    assert_eq!(c.words("ZRANGEBYSCORE z (2 (3"), split(""));
    assert_eq!(c.words("ZRANGEBYSCORE z 4 2"), split(""));
    assert_eq!(c.words("ZREVRANGEBYSCORE z +inf 4 LIMIT 0 1"), split("e"));
    assert_eq!(c.cmd("ZCOUNT z (1 3"), Int(2));
    assert_eq!(c.cmd("ZCOUNT z -inf +inf"), Int(5));
    assert_eq!(c.cmd("ZCOUNT missing -inf +inf"), Int(0));
    assert_eq!(c.words("ZRANGE missing 0 -1"), split(""));

    c.cmd("ZADD l 0 a 0 b 0 c 0 d 0 e 0 f");
    assert_eq!(c.words("ZRANGE l [b (e BYLEX"), split("b c d"));
    assert_eq!(c.words("ZRANGEBYLEX l - +"), split("a b c d e f"));
    assert_eq!(c.words("ZRANGEBYLEX l (a [c LIMIT 1 5"), split("c"));
    assert_eq!(c.words("ZREVRANGEBYLEX l + (c LIMIT 1 2"), split("e d"));
    assert_eq!(c.words("ZRANGE l + - BYLEX REV LIMIT 0 2"), split("f e"));
    assert_eq!(c.words("ZRANGEBYLEX l + -"), split(""));
    assert_eq!(c.cmd("ZLEXCOUNT l [b +"), Int(5));
    assert_eq!(c.cmd("ZLEXCOUNT l (f +"), Int(0));
}

#[test]
fn range_syntax_errors_match_redis() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("ZADD z 1 a 2 b");
    for (line, error) in [
        (
            "ZRANGE z 0 1 LIMIT 0 1",
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ),
        (
            "ZREVRANGE z 0 1 LIMIT 0 1",
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ),
        (
            "ZRANGE z - + BYLEX WITHSCORES",
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ),
        ("ZRANGE z 0 1 BYLEX BYSCORE", SYNTAX),
        ("ZRANGE z 0 1 REV REV", SYNTAX),
        ("ZRANGEBYSCORE z 0 1 REV", SYNTAX),
        ("ZRANGEBYSCORE z 0 1 LIMIT 0", SYNTAX),
        ("ZRANGEBYSCORE z 0 1 LIMIT x 1", NOT_INTEGER),
        ("ZRANGE z x 1", NOT_INTEGER),
        ("ZRANGEBYSCORE z (1 x", RANGE_NOT_FLOAT),
        ("ZRANGEBYSCORE z nan 1", RANGE_NOT_FLOAT),
        ("ZCOUNT z a b", RANGE_NOT_FLOAT),
        ("ZRANGEBYLEX z a b", BAD_LEX),
        ("ZLEXCOUNT z [a b", BAD_LEX),
        ("ZREMRANGEBYLEX z a +", BAD_LEX),
        ("ZREMRANGEBYRANK z x 1", NOT_INTEGER),
        ("ZREMRANGEBYSCORE z x 1", RANGE_NOT_FLOAT),
    ] {
        assert_eq!(c.cmd(line), err(error), "{line}");
    }
}

#[test]
fn removals_delete_the_key_with_its_last_member() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("ZADD z 1 a 2 b 3 c 4 d 5 e 6 f");
    assert_eq!(c.cmd("ZREM z a nope a"), Int(1));
    assert_eq!(c.cmd("ZREM z nope"), Int(0));
    assert_eq!(c.cmd("ZREM missing a"), Int(0));
    assert_eq!(c.cmd("ZREMRANGEBYRANK z 0 0"), Int(1));
    assert_eq!(c.cmd("ZREMRANGEBYSCORE z (3 4"), Int(1));
    assert_eq!(c.words("ZRANGE z 0 -1"), split("c e f"));
    assert_eq!(c.cmd("ZREMRANGEBYLEX z - [c"), Int(1));
    assert_eq!(c.cmd("ZREMRANGEBYRANK z -1 -1"), Int(1));
    assert_eq!(c.cmd("ZREMRANGEBYSCORE z -inf +inf"), Int(1));
    assert_eq!(c.cmd("EXISTS z"), Int(0));
    c.cmd("ZADD z 1 a");
    assert_eq!(c.cmd("ZREM z a"), Int(1));
    assert_eq!(c.cmd("EXISTS z"), Int(0));
}

#[test]
fn pops_take_from_either_end_and_delete_the_emptied_key() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("ZADD z 1 a 2 b 3 c 4 d");
    assert_eq!(c.words("ZPOPMIN z"), split("a 1"));
    assert_eq!(c.words("ZPOPMAX z 2"), split("d 4 c 3"));
    assert_eq!(c.words("ZPOPMIN z 0"), split(""));
    assert_eq!(
        c.cmd("ZPOPMIN z -1"),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(
        c.cmd("ZPOPMIN z x"),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(c.words("ZPOPMIN z 10"), split("b 2"));
    assert_eq!(c.cmd("EXISTS z"), Int(0));
    assert_eq!(c.words("ZPOPMIN z"), split(""));
    assert_eq!(c.words("ZPOPMAX z 3"), split(""));
}

#[test]
fn zmpop_pops_from_the_first_non_empty_key_across_shards() {
    let server = server();
    let mut c = Conn::new(&server);
    let [a, b, d] = [0, 1, 2].map(|i| key_per_shard("mp", SHARDS)[i].clone());
    c.cmd(&format!("ZADD {b} 1 x 2 y 3 z"));
    c.cmd(&format!("ZADD {d} 7 q"));
    let pair = |m: &str, s: &str| R::Array(vec![bulk(m), bulk(s)]);
    assert_eq!(
        c.cmd(&format!("ZMPOP 3 {a} {b} {d} MIN")),
        R::Array(vec![bulk(&b), R::Array(vec![pair("x", "1")])])
    );
    assert_eq!(
        c.cmd(&format!("ZMPOP 3 {a} {b} {d} MAX COUNT 5")),
        R::Array(vec![
            bulk(&b),
            R::Array(vec![pair("z", "3"), pair("y", "2")])
        ])
    );
    assert_eq!(c.cmd(&format!("EXISTS {b}")), Int(0));
    assert_eq!(
        c.cmd(&format!("ZMPOP 2 {a} {d} MIN")),
        R::Array(vec![bulk(&d), R::Array(vec![pair("q", "7")])])
    );
    assert_eq!(c.cmd(&format!("ZMPOP 3 {a} {b} {d} MIN")), Nil);
    c.cmd(&format!("SET {a} v"));
    c.cmd(&format!("ZADD {b} 1 x"));
    assert_eq!(c.cmd(&format!("ZMPOP 2 {a} {b} MIN")), err(WRONGTYPE));
    assert_eq!(c.cmd(&format!("ZCARD {b}")), Int(1));
    c.cmd("ZADD {h}1 1 a");
    assert_eq!(
        c.cmd("ZMPOP 2 {h}2 {h}1 MAX"),
        R::Array(vec![bulk("{h}1"), R::Array(vec![pair("a", "1")])])
    );
    for (line, error) in [
        ("ZMPOP 0 z MIN", "ERR numkeys should be greater than 0"),
        ("ZMPOP x z MIN", "ERR numkeys should be greater than 0"),
        ("ZMPOP 1 z FOO", SYNTAX),
        ("ZMPOP 3 z MIN", SYNTAX),
        (
            "ZMPOP 1 z MIN COUNT 0",
            "ERR count should be greater than 0",
        ),
        ("ZMPOP 1 z MIN COUNT", SYNTAX),
    ] {
        assert_eq!(c.cmd(line), err(error), "{line}");
    }
}

#[test]
fn zrandmember_is_distinct_for_positive_counts_and_repeats_for_negative() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("ZADD z 1 a 2 b 3 c");
    assert!(
        matches!(c.cmd("ZRANDMEMBER z"), R::Bulk(m) if [&b"a"[..], b"b", b"c"].contains(&&m[..]))
    );
    assert_eq!(c.cmd("ZRANDMEMBER missing"), Nil);
    assert_eq!(c.words("ZRANDMEMBER missing 3"), split(""));
    for count in ["10", "9223372036854775807"] {
        let mut all = c.words(&format!("ZRANDMEMBER z {count}"));
        all.sort();
        assert_eq!(all, split("a b c"), "count {count}");
    }
    let repeated = c.words("ZRANDMEMBER z -10 WITHSCORES");
    assert_eq!(repeated.len(), 20);
    for pair in repeated.chunks(2) {
        let expected = match pair[0].as_str() {
            "a" => "1",
            "b" => "2",
            _ => "3",
        };
        assert_eq!(pair[1], expected);
    }
    assert_eq!(c.cmd("ZRANDMEMBER z x"), err(NOT_INTEGER));
    assert_eq!(c.cmd("ZRANDMEMBER z 1 foo"), err(SYNTAX));
}

/// A big sorted set (`skiplist`) has its random members picked by rank: each is one of its
/// members with its own score, distinct for a positive count, few or many.
#[test]
fn zrandmember_on_a_big_sorted_set_picks_its_members_with_their_scores() {
    const MEMBERS: usize = 20_000;
    let server = server();
    let mut con = server.client();
    common::fill(&mut con, "ZADD", "big", MEMBERS, |i| {
        vec![i.to_string(), format!("m{i}")]
    });
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("OBJECT ENCODING big"), bulk("skiplist"));
    let is_member = |m: &str| m[1..].parse::<usize>().is_ok_and(|i| i < MEMBERS);
    let R::Bulk(one) = c.cmd("ZRANDMEMBER big") else {
        panic!("ZRANDMEMBER without count is not a bulk");
    };
    assert!(is_member(&String::from_utf8(one).unwrap()));
    // Up to a quarter (by rank) and more (a walk): distinct members, each with its score.
    for count in [5_000, 15_000] {
        let picked = c.words(&format!("ZRANDMEMBER big {count} WITHSCORES"));
        assert_eq!(picked.len(), 2 * count);
        let distinct: std::collections::BTreeSet<_> = picked.chunks(2).map(|p| &p[0]).collect();
        assert_eq!(distinct.len(), count);
        for pair in picked.chunks(2) {
            assert!(is_member(&pair[0]), "{}", pair[0]);
            assert_eq!(pair[1], pair[0][1..], "the score of {}", pair[0]);
        }
    }
    let repeated = c.words("ZRANDMEMBER big -1000");
    assert_eq!(repeated.len(), 1000);
    assert!(repeated.iter().all(|m| is_member(m)));
}

#[test]
fn union_inter_diff_combine_sorted_sets_and_plain_sets_across_shards() {
    let server = server();
    let mut c = Conn::new(&server);
    let [a, b, s] = [0, 1, 2].map(|i| key_per_shard("alg", SHARDS)[i].clone());
    c.cmd(&format!("ZADD {a} 1 a 2 b 3 c"));
    c.cmd(&format!("ZADD {b} 10 b 20 c 30 d"));
    c.cmd(&format!("SADD {s} c d e"));
    assert_eq!(
        c.words(&format!("ZUNION 2 {a} {b} WITHSCORES")),
        split("a 1 b 12 c 23 d 30")
    );
    assert_eq!(
        c.words(&format!(
            "ZUNION 2 {a} {b} WEIGHTS 2 1 AGGREGATE MAX WITHSCORES"
        )),
        split("a 2 b 10 c 20 d 30")
    );
    assert_eq!(
        c.words(&format!("ZINTER 3 {a} {b} {s} AGGREGATE MIN WITHSCORES")),
        split("c 1")
    );
    assert_eq!(c.words(&format!("ZINTER 2 {a} {b}")), split("b c"));
    assert_eq!(
        c.words(&format!("ZDIFF 2 {b} {a} WITHSCORES")),
        split("d 30")
    );
    assert_eq!(c.words(&format!("ZDIFF 2 {a} missing")), split("a b c"));
    assert_eq!(c.cmd(&format!("ZINTERCARD 2 {a} {b}")), Int(2));
    assert_eq!(c.cmd(&format!("ZINTERCARD 2 {a} {b} LIMIT 1")), Int(1));
    assert_eq!(c.cmd(&format!("ZINTERCARD 3 {a} {b} {s}")), Int(1));
    // inf * 0 and inf + -inf are 0, as in Redis.
    c.cmd("ZADD {i}1 inf x");
    c.cmd("ZADD {i}2 -inf x");
    assert_eq!(c.words("ZUNION 2 {i}1 {i}2 WITHSCORES"), split("x 0"));
    assert_eq!(c.words("ZUNION 1 {i}1 WEIGHTS 0 WITHSCORES"), split("x 0"));
    c.cmd("SET str v");
    assert_eq!(c.cmd(&format!("ZUNION 2 {a} str")), err(WRONGTYPE));
    for (line, error) in [
        (
            "ZUNIONSTORE d 0 z",
            "ERR at least 1 input key is needed for 'zunionstore' command",
        ),
        (
            "ZINTERCARD 0 z",
            "ERR at least 1 input key is needed for 'zintercard' command",
        ),
        ("ZUNIONSTORE d 2 z", SYNTAX),
        ("ZUNIONSTORE d x z", NOT_INTEGER),
        ("ZUNION 1 z WEIGHTS 1 2", SYNTAX),
        ("ZUNION 1 z WEIGHTS x", "ERR weight value is not a float"),
        ("ZUNION 1 z AGGREGATE foo", SYNTAX),
        ("ZUNION 1 z AGGREGATE", SYNTAX),
        ("ZDIFF 1 z WEIGHTS 1", SYNTAX),
        ("ZINTERSTORE d 1 z WITHSCORES", SYNTAX),
        ("ZINTERCARD 1 z LIMIT -1", "ERR LIMIT can't be negative"),
        ("ZINTERCARD 1 z WEIGHTS 1", SYNTAX),
    ] {
        assert_eq!(c.cmd(line), err(error), "{line}");
    }
}

#[test]
fn stores_replace_the_destination_on_any_shard_and_delete_it_when_empty() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("st", SHARDS);
    let (a, b, dst) = (&keys[0], &keys[1], &keys[2]);
    c.cmd(&format!("ZADD {a} 1 a 2 b 3 c"));
    c.cmd(&format!("ZADD {b} 10 b 20 c 30 d"));
    c.cmd(&format!("SET {dst} old"));
    assert_eq!(c.cmd(&format!("ZUNIONSTORE {dst} 2 {a} {b}")), Int(4));
    assert_eq!(
        c.words(&format!("ZRANGE {dst} 0 -1 WITHSCORES")),
        split("a 1 b 12 c 23 d 30")
    );
    assert_eq!(
        c.cmd(&format!("ZINTERSTORE {dst} 2 {a} {b} WEIGHTS 1 0.5")),
        Int(2)
    );
    assert_eq!(
        c.words(&format!("ZRANGE {dst} 0 -1 WITHSCORES")),
        split("b 7 c 13")
    );
    assert_eq!(c.cmd(&format!("ZDIFFSTORE {dst} 2 {a} {b}")), Int(1));
    assert_eq!(
        c.words(&format!("ZRANGE {dst} 0 -1 WITHSCORES")),
        split("a 1")
    );
    assert_eq!(c.cmd(&format!("ZDIFFSTORE {dst} 2 {a} {a}")), Int(0));
    assert_eq!(c.cmd(&format!("EXISTS {dst}")), Int(0));
    assert_eq!(
        c.cmd(&format!("ZRANGESTORE {dst} {b} (10 +inf BYSCORE")),
        Int(2)
    );
    assert_eq!(
        c.words(&format!("ZRANGE {dst} 0 -1 WITHSCORES")),
        split("c 20 d 30")
    );
    assert_eq!(c.cmd(&format!("ZRANGESTORE {dst} {b} 0 0 REV")), Int(1));
    assert_eq!(c.words(&format!("ZRANGE {dst} 0 -1")), split("d"));
    assert_eq!(c.cmd(&format!("ZRANGESTORE {dst} missing 0 -1")), Int(0));
    assert_eq!(c.cmd(&format!("EXISTS {dst}")), Int(0));
    assert_eq!(
        c.cmd(&format!("ZRANGESTORE {dst} {a} 0 -1 WITHSCORES")),
        err(SYNTAX)
    );
    c.cmd(&format!("SET {a} str"));
    assert_eq!(
        c.cmd(&format!("ZUNIONSTORE {dst} 2 {a} {b}")),
        err(WRONGTYPE)
    );
    assert_eq!(
        c.cmd(&format!("ZRANGESTORE {dst} {a} 0 -1")),
        err(WRONGTYPE)
    );
    assert_eq!(c.cmd(&format!("EXISTS {dst}")), Int(0));
    // Same shard.
    c.cmd("ZADD {h}1 1 a 2 b");
    assert_eq!(c.cmd("ZUNIONSTORE {h}d 2 {h}1 {h}2"), Int(2));
    assert_eq!(c.cmd("ZRANGESTORE {h}e {h}1 1 1"), Int(1));
    assert_eq!(c.words("ZRANGE {h}e 0 -1"), split("b"));
}

#[test]
fn wrong_types_answer_wrongtype_both_ways() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("SET s v");
    c.cmd("ZADD z 1 a");
    for line in [
        "ZADD s 1 a",
        "ZINCRBY s 1 a",
        "ZREM s a",
        "ZCARD s",
        "ZSCORE s a",
        "ZRANK s a",
        "ZRANGE s 0 -1",
        "ZRANGEBYLEX s - +",
        "ZCOUNT s -inf +inf",
        "ZPOPMIN s",
        "ZRANDMEMBER s",
        "ZSCAN s 0",
        "ZREMRANGEBYRANK s 0 -1",
        "GET z",
        "SADD z a",
    ] {
        assert_eq!(c.cmd(line), err(WRONGTYPE), "{line}");
    }
    assert_eq!(
        c.cmd("ZADD s x a"),
        err(NOT_FLOAT),
        "scores are parsed first"
    );
}

#[test]
fn object_encoding_moves_to_skiplist_past_the_listpack_limits_and_stays() {
    let server = server();
    let mut c = Conn::new(&server);
    let members: Vec<String> = (0..128).map(|i| format!("{i} m{i}")).collect();
    c.cmd(&format!("ZADD z {}", members.join(" ")));
    assert_eq!(c.cmd("OBJECT ENCODING z"), bulk("listpack"));
    c.cmd("ZADD z 1000 one-more");
    assert_eq!(c.cmd("OBJECT ENCODING z"), bulk("skiplist"));
    c.cmd("ZREM z one-more");
    assert_eq!(c.cmd("OBJECT ENCODING z"), bulk("skiplist"));
    assert_eq!(c.words("ZRANGE z 0 2"), split("m0 m1 m2"));
    c.cmd(&format!("ZADD long 1 {}", "x".repeat(64)));
    assert_eq!(c.cmd("OBJECT ENCODING long"), bulk("listpack"));
    c.cmd(&format!("ZADD long 1 {}", "y".repeat(65)));
    assert_eq!(c.cmd("OBJECT ENCODING long"), bulk("skiplist"));
    // A store creates the encoding its result's size calls for.
    assert_eq!(c.cmd("ZRANGESTORE small z 0 9"), Int(10));
    assert_eq!(c.cmd("OBJECT ENCODING small"), bulk("listpack"));
}

/// A leaderboard big enough for the skiplist encoding, checked against a model after random
/// updates: ranks, ranges by rank and by score.
#[test]
fn a_large_leaderboard_answers_ranks_and_ranges_like_a_sorted_model() {
    let server = server();
    let mut c = Conn::new(&server);
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut model: std::collections::BTreeMap<String, i64> = Default::default();
    for batch in 0..20 {
        let mut args = vec!["ZADD".to_string(), "board".into()];
        for _ in 0..200 {
            let (player, score) = (
                format!("p{}", rng.gen_range(0..2000)),
                rng.gen_range(0..500),
            );
            args.extend([score.to_string(), player.clone()]);
            model.insert(player, score);
        }
        c.call(&args);
        if batch % 5 == 4 {
            let player = format!("p{}", rng.gen_range(0..2000));
            if model.remove(&player).is_some() {
                assert_eq!(c.call(&["ZREM", "board", &player]), Int(1));
            }
        }
    }
    let mut sorted: Vec<(i64, &String)> = model.iter().map(|(p, s)| (*s, p)).collect();
    sorted.sort();
    assert_eq!(c.cmd("ZCARD board"), Int(sorted.len() as i64));
    for rank in [0, 1, sorted.len() / 2, sorted.len() - 1] {
        let (score, player) = sorted[rank];
        assert_eq!(c.call(&["ZRANK", "board", player]), Int(rank as i64));
        assert_eq!(
            c.call(&["ZREVRANK", "board", player]),
            Int((sorted.len() - 1 - rank) as i64)
        );
        assert_eq!(
            c.call(&["ZSCORE", "board", player]),
            bulk(score.to_string())
        );
    }
    let expected: Vec<String> = sorted[100..110]
        .iter()
        .map(|(_, p)| p.to_string())
        .collect();
    assert_eq!(c.words("ZRANGE board 100 109"), expected);
    let expected: Vec<String> = sorted
        .iter()
        .rev()
        .take(5)
        .map(|(_, p)| p.to_string())
        .collect();
    assert_eq!(c.words("ZREVRANGE board 0 4"), expected);
    let in_range = sorted
        .iter()
        .filter(|(s, _)| (100..=200).contains(s))
        .count();
    assert_eq!(c.cmd("ZCOUNT board 100 200"), Int(in_range as i64));
    let expected: Vec<String> = sorted
        .iter()
        .filter(|(s, _)| *s > 250)
        .skip(3)
        .take(4)
        .map(|(_, p)| p.to_string())
        .collect();
    assert_eq!(c.words("ZRANGEBYSCORE board (250 +inf LIMIT 3 4"), expected);
}

#[test]
fn zscan_returns_every_matching_member_with_its_score() {
    let server = server();
    let mut c = Conn::new(&server);
    let members: Vec<String> = (0..100).map(|i| format!("{i} m{i}")).collect();
    c.cmd(&format!("ZADD z {} 0.5 other", members.join(" ")));
    assert_eq!(c.cmd("OBJECT ENCODING z"), bulk("listpack"));
    let R::Array(mut reply) = c.cmd("ZSCAN z 0 COUNT 10") else {
        panic!("array");
    };
    let found = words(reply.pop().unwrap());
    assert_eq!(reply, vec![bulk("0")]);
    assert_eq!(found.len(), 202);
    assert_eq!(
        words(c.cmd("ZSCAN z 0 MATCH oth*").into_array().pop().unwrap()),
        split("other 0.5")
    );
    assert_eq!(c.cmd("ZSCAN z x"), err("ERR invalid cursor"));
    assert_eq!(c.cmd("ZSCAN z 0 COUNT 0"), err(SYNTAX));
    assert_eq!(c.cmd("ZSCAN z 0 MATCH"), err(SYNTAX));
}

trait IntoArray {
    fn into_array(self) -> Vec<R>;
}

impl IntoArray for R {
    fn into_array(self) -> Vec<R> {
        match self {
            R::Array(items) => items,
            other => panic!("not an array: {other:?}"),
        }
    }
}

#[test]
fn resp3_replies_doubles_and_nests_member_score_pairs() {
    let server = server();
    let mut raw = server.raw();
    raw.send(&resp(&["HELLO", "3"]));
    let mut hello = Vec::new();
    // Skip HELLO's map: read until the PING that follows answers.
    raw.send(&resp(&["PING"]));
    while !hello.ends_with(b"+PONG\r\n") {
        hello.extend(raw.read_exact(1));
    }
    let cases: [(&[&str], &str); 8] = [
        (&["ZADD", "z", "1", "a", "2.5", "b"], ":2\r\n"),
        (&["ZSCORE", "z", "b"], ",2.5\r\n"),
        (&["ZINCRBY", "z", "1", "a"], ",2\r\n"),
        (
            &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
            "*2\r\n*2\r\n$1\r\na\r\n,2\r\n*2\r\n$1\r\nb\r\n,2.5\r\n",
        ),
        (&["ZRANK", "z", "b", "WITHSCORE"], "*2\r\n:1\r\n,2.5\r\n"),
        (
            &["ZSCAN", "z", "0"],
            "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$3\r\n2.5\r\n",
        ),
        (&["ZPOPMAX", "z"], "*2\r\n$1\r\nb\r\n,2.5\r\n"),
        (&["ZPOPMIN", "z", "1"], "*1\r\n*2\r\n$1\r\na\r\n,2\r\n"),
    ];
    for (args, expected) in cases {
        assert_eq!(
            raw.roundtrip(&resp(args), expected.len()),
            expected,
            "{args:?}"
        );
    }
}

#[test]
fn sorted_sets_survive_sigkill_and_snapshots_with_their_encodings() {
    let mut server = Server::start(SHARDS, &[]);
    let mut c = Conn::new(&server);
    let members: Vec<String> = (0..300).map(|i| format!("{i}.5 m{i}")).collect();
    c.cmd(&format!("ZADD big {}", members.join(" ")));
    c.cmd("ZADD small 1 a -inf b inf c");
    c.cmd("ZINCRBY small 0.25 a");
    c.cmd("ZREM big m7");
    let keys = key_per_shard("cs", SHARDS);
    c.cmd(&format!("ZADD {} 1 x 2 y", keys[0]));
    assert_eq!(
        c.cmd(&format!("ZUNIONSTORE {} 2 {} small", keys[1], keys[0])),
        Int(5)
    );
    let check = |c: &mut Conn, card: i64, last: &str| {
        assert_eq!(c.cmd("ZCARD big"), Int(card));
        assert_eq!(c.cmd("OBJECT ENCODING big"), bulk("skiplist"));
        assert_eq!(c.cmd("OBJECT ENCODING small"), bulk("listpack"));
        assert_eq!(c.cmd("ZSCORE big m7"), Nil);
        assert_eq!(c.cmd("ZRANK big m8"), Int(7));
        assert_eq!(
            c.words("ZRANGE small 0 -1 WITHSCORES"),
            split("b -inf a 1.25 c inf")
        );
        assert_eq!(
            c.words(&format!("ZRANGE {} 0 -1", keys[1])),
            split("b x a y c")
        );
        assert_eq!(c.words("ZRANGE big -1 -1 WITHSCORES"), split(last));
    };
    check(&mut c, 299, "m299 299.5");
    server.kill9();
    server.restart();
    let mut c = Conn::new(&server);
    check(&mut c, 299, "m299 299.5");
    assert_eq!(c.cmd("SAVE"), R::Status("OK".into()));
    c.cmd("ZADD big 1000 top");
    server.kill9();
    server.restart();
    let mut c = Conn::new(&server);
    check(&mut c, 300, "top 1000");
}

/// ZADD, ZINCRBY, ZREM and ZPOPMIN on a big leaderboard log the members they change (absolute
/// scores), not the whole sorted set; and replay after SIGKILL rebuilds the same scores.
#[test]
fn writes_to_a_big_leaderboard_log_only_the_changed_members() {
    const PLAYERS: usize = 20_000;
    const WRITES: usize = 100;
    /// One small record per write, padded per batch; the whole set would be ~500 KB each time.
    const JOURNAL_BYTES_PER_WRITE_MAX: usize = 16 * 1024;
    let mut server = Server::start(1, &[]);
    let mut c = Conn::new(&server);
    for chunk in (0..PLAYERS).collect::<Vec<_>>().chunks(1000) {
        let mut args = vec!["ZADD".to_string(), "board".into()];
        for i in chunk {
            args.extend([i.to_string(), format!("player-{i}")]);
        }
        c.call(&args);
    }
    let mut con = server.client();
    let journal_bytes = |con: &mut redis::Connection| -> usize {
        common::info_field(con, "journal_bytes_written")
            .parse()
            .unwrap()
    };
    let before = journal_bytes(&mut con);
    for i in 0..WRITES {
        c.call(&["ZADD", "board", "0.5", &format!("new-{i}")]);
        c.call(&["ZINCRBY", "board", "100000", &format!("player-{i}")]);
        c.call(&["ZREM", "board", &format!("player-{}", PLAYERS - 1 - i)]);
        c.cmd("ZPOPMIN board");
    }
    let grown = journal_bytes(&mut con) - before;
    assert!(
        grown <= 4 * WRITES * JOURNAL_BYTES_PER_WRITE_MAX,
        "journal grew {grown} bytes for {WRITES} x 4 small writes"
    );
    let top = c.words("ZREVRANGE board 0 2 WITHSCORES");
    assert_eq!(
        top,
        split("player-99 100099 player-98 100098 player-97 100097")
    );
    server.kill9();
    server.restart();
    let mut c = Conn::new(&server);
    assert_eq!(c.words("ZREVRANGE board 0 2 WITHSCORES"), top);
    assert_eq!(c.cmd("ZCARD board"), Int((PLAYERS - WRITES) as i64));
    assert_eq!(
        c.cmd("ZSCORE board new-0"),
        Nil,
        "popped: 0.5 was the lowest"
    );
    assert_eq!(c.cmd("ZRANK board player-100"), Int(0));
}

/// Sorted set writes announce Redis's keyspace events, with `del` when a key is emptied.
#[test]
fn writes_publish_redis_keyspace_events() {
    let server = server();
    let mut c = Conn::new(&server);
    let mut sub = Conn::new(&server);
    assert_eq!(
        c.cmd("CONFIG SET notify-keyspace-events Egz"),
        R::Status("OK".into())
    );
    sub.cmd("PSUBSCRIBE __keyevent@0__:*");
    let keys = key_per_shard("ev", SHARDS);
    let (a, dst) = (&keys[0], &keys[1]);
    let commands = [
        format!("ZADD {a} 1 x 2 y"),
        format!("ZADD {a} 1 x"),
        format!("ZINCRBY {a} 1 x"),
        format!("ZUNIONSTORE {dst} 1 {a}"),
        format!("ZREM {a} x"),
        format!("ZPOPMAX {a}"),
        format!("ZRANGESTORE {dst} {a} 0 -1"),
    ];
    for command in &commands {
        c.cmd(command);
    }
    let expected = [
        ("zadd", a),
        ("zincr", a),
        ("zunionstore", dst),
        ("zrem", a),
        ("zpopmax", a),
        ("del", a),
        ("del", dst),
    ];
    for (event, key) in expected {
        let R::Array(message) = sub.read() else {
            panic!("not a message");
        };
        assert_eq!(
            message[2..],
            [bulk(format!("__keyevent@0__:{event}")), bulk(key)],
            "{event}"
        );
    }
}

/// The reply bytes of `[key, member, score]` in RESP2.
fn key_member_score(key: &str, member: &str, score: &str) -> String {
    let bulk = |s: &str| format!("${}\r\n{s}\r\n", s.len());
    format!("*3\r\n{}{}{}", bulk(key), bulk(member), bulk(score))
}

#[test]
fn bzpopmin_and_bzpopmax_pop_at_once_or_wait_for_a_zadd_on_any_shard() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("bz", SHARDS);
    let (a, b) = (&keys[0], &keys[1]);
    c.cmd(&format!("ZADD {b} 1 x 2 y"));
    assert_eq!(
        c.cmd(&format!("BZPOPMIN {a} {b} 0")),
        R::Array(vec![bulk(b), bulk("x"), bulk("1")])
    );
    assert_eq!(
        c.cmd(&format!("BZPOPMAX {a} {b} 0")),
        R::Array(vec![bulk(b), bulk("y"), bulk("2")])
    );
    assert_eq!(c.cmd(&format!("EXISTS {b}")), Int(0));

    let mut blocked = server.raw();
    blocked.send(&resp(&["BZPOPMAX", a, b, "5"]));
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(c.cmd(&format!("ZADD {b} 3 p 4 q")), Int(2));
    let expected = key_member_score(b, "q", "4");
    assert_eq!(
        String::from_utf8(blocked.read_exact(expected.len())).unwrap(),
        expected
    );
    assert_eq!(
        c.words(&format!("ZRANGE {b} 0 -1")),
        split("p"),
        "served once"
    );

    let started = std::time::Instant::now();
    assert_eq!(c.cmd(&format!("BZPOPMIN {a} 0.2")), Nil);
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    for (line, error) in [
        ("BZPOPMIN k x", "ERR timeout is not a float or out of range"),
        ("BZPOPMIN k -1", "ERR timeout is negative"),
        ("BZMPOP 0 0 k MIN", "ERR numkeys should be greater than 0"),
        ("BZMPOP 0 1 k FOO", SYNTAX),
        (
            "BZMPOP 0 1 k MIN COUNT 0",
            "ERR count should be greater than 0",
        ),
    ] {
        assert_eq!(c.cmd(line), err(error), "{line}");
    }
    c.cmd("SET str v");
    assert_eq!(c.cmd("BZPOPMIN str 0"), err(WRONGTYPE));
}

#[test]
fn bzmpop_waits_on_several_shards_and_pops_a_count_from_the_first_fed() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("bm", SHARDS);
    let mut blocked = server.raw();
    blocked.send(&resp(&[
        "BZMPOP", "5", "3", &keys[0], &keys[1], &keys[2], "MIN", "COUNT", "2",
    ]));
    std::thread::sleep(std::time::Duration::from_millis(100));
    c.cmd(&format!("ZADD {} 3 c 1 a 2 b", keys[2]));
    let pair = |m: &str, s: &str| format!("*2\r\n$1\r\n{m}\r\n$1\r\n{s}\r\n");
    let expected = format!(
        "*2\r\n${}\r\n{}\r\n*2\r\n{}{}",
        keys[2].len(),
        keys[2],
        pair("a", "1"),
        pair("b", "2")
    );
    assert_eq!(
        String::from_utf8(blocked.read_exact(expected.len())).unwrap(),
        expected
    );
    assert_eq!(c.words(&format!("ZRANGE {} 0 -1", keys[2])), split("c"));
    assert_eq!(
        c.cmd(&format!("BZMPOP 0.05 2 {} {} MAX", keys[0], keys[1])),
        Nil
    );
}

#[test]
fn blocking_pops_inside_multi_pop_at_once_or_answer_null_as_redis() {
    let server = server();
    let mut c = Conn::new(&server);
    // `{z}` keeps both keys on one shard: a multi-key command inside MULTI needs one shard.
    assert_eq!(c.cmd("ZADD {z}1 1 a 2 b"), Int(2));
    assert_eq!(c.cmd("MULTI"), R::Status("OK".into()));
    for command in [
        "BZPOPMIN {z}1 0",
        "BZPOPMAX {z}2 0",
        "BZMPOP 0 2 {z}2 {z}1 MAX COUNT 5",
        "BZPOPMIN {z}1 x",
    ] {
        assert_eq!(c.cmd(command), R::Status("QUEUED".into()), "{command}");
    }
    // As redis-server 7.0.15 answers the same transaction (never blocking).
    assert_eq!(
        c.cmd("EXEC"),
        R::Array(vec![
            R::Array(vec![bulk("{z}1"), bulk("a"), bulk("1")]),
            Nil,
            R::Array(vec![
                bulk("{z}1"),
                R::Array(vec![R::Array(vec![bulk("b"), bulk("2")])]),
            ]),
            err("ERR timeout is not a float or out of range"),
        ])
    );
    assert_eq!(c.cmd("EXISTS {z}1"), Int(0));
}

const ZSCAN: Family = Family {
    scan: "ZSCAN",
    add: "ZADD k {i} m{i}",
    remove: "ZREM k m{i}",
    stride: 2,
    encoding: "skiplist",
};

#[test]
fn zscan_on_a_big_collection_returns_about_count_per_step_and_every_element() {
    let server = server();
    collection_scan::returns_about_count_per_step_and_every_element(
        &mut Conn::new(&server),
        &ZSCAN,
    );
}

#[test]
fn zscan_returns_every_element_present_throughout_while_others_come_and_go() {
    let server = server();
    collection_scan::returns_every_element_present_throughout(&mut Conn::new(&server), &ZSCAN);
}

#[test]
fn zscan_match_filters_each_step_and_a_bad_cursor_is_an_error() {
    let server = server();
    let mut c = Conn::new(&server);
    collection_scan::match_filters_each_step_and_a_bad_cursor_is_an_error(&mut c, &ZSCAN);
}
