//! The string family (GET, SET, MSET, INCR, APPEND, SETRANGE, ...) with Redis 7's replies and errors,
//! on 3 shards so that multi-key commands cross shards.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::resp::R::{self, Int, Nil};
use common::resp::{arity, bulk, err, key_per_shard, ok, Conn, NOT_INTEGER, SYNTAX};
use common::Server;

const SHARDS: usize = 3;

fn server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no"])
}

const NOT_FLOAT: &str = "ERR value is not a valid float";

#[test]
fn get_and_set_round_trip_any_bytes_including_one_megabyte() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("GET missing"), Nil);
    assert_eq!(c.cmd("SET k v1"), ok());
    assert_eq!(c.cmd("SET k v2"), ok());
    assert_eq!(c.cmd("GET k"), bulk("v2"));
    let binary: &[u8] = b"a\0b\r\nc\r\n\0";
    assert_eq!(c.call(&[&b"SET"[..], b"bin\0key\r\n", binary]), ok());
    assert_eq!(c.call(&[&b"GET"[..], b"bin\0key\r\n"]), bulk(binary));
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    assert_eq!(c.call(&[&b"SET"[..], b"big", &big]), ok());
    assert_eq!(c.call(&[&b"GET"[..], b"big"]), R::Bulk(big.clone()));
    assert_eq!(c.cmd("STRLEN big"), Int(big.len() as i64));
    assert_eq!(c.cmd("SET empty "), ok());
    assert_eq!(c.cmd("GET empty"), bulk(""));
    assert_eq!(c.cmd("EXISTS empty"), Int(1));
}

#[test]
fn set_nx_xx_and_get_options_decide_and_report_as_redis_does() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("SET k v XX"), Nil);
    assert_eq!(c.cmd("EXISTS k"), Int(0));
    assert_eq!(c.cmd("SET k v NX"), ok());
    assert_eq!(c.cmd("SET k other NX"), Nil);
    assert_eq!(c.cmd("GET k"), bulk("v"));
    assert_eq!(c.cmd("SET k v2 xx"), ok());
    assert_eq!(c.cmd("SET k v3 GET"), bulk("v2"));
    assert_eq!(c.cmd("SET new v GET"), Nil);
    assert_eq!(c.cmd("GET new"), bulk("v"));
    // Redis 7 allows NX with GET: the old value comes back and nothing is set.
    assert_eq!(c.cmd("SET k v4 NX GET"), bulk("v3"));
    assert_eq!(c.cmd("GET k"), bulk("v3"));
    assert_eq!(c.cmd("SET absent v NX GET"), Nil);
    assert_eq!(c.cmd("GET absent"), bulk("v"));
    assert_eq!(c.cmd("SET nothing v XX GET"), Nil);
    assert_eq!(c.cmd("EXISTS nothing"), Int(0));
    assert_eq!(c.cmd("SET k v5 XX GET"), bulk("v3"));
    assert_eq!(c.cmd("GET k"), bulk("v5"));
    // Options may repeat.
    assert_eq!(c.cmd("SET k v6 nx NX"), Nil);
    assert_eq!(c.cmd("SET k v6 get GET"), bulk("v5"));
}

#[test]
fn set_refuses_bad_option_combinations_and_expire_times_without_setting() {
    let server = server();
    let mut c = Conn::new(&server);
    for line in [
        "SET k v NX XX",
        "SET k v XX NX",
        "SET k v EX 10 PX 100",
        "SET k v PX 100 EXAT 10",
        "SET k v KEEPTTL EX 10",
        "SET k v EX 10 KEEPTTL",
        "SET k v EX",
        "SET k v PXAT",
        "SET k v FOO",
        "SET k v PERSIST",
        // A syntax error anywhere wins over a bad expire time.
        "SET k v EX abc NX XX",
    ] {
        assert_eq!(c.cmd(line), err(SYNTAX), "{line}");
    }
    let invalid = err("ERR invalid expire time in 'set' command");
    for line in [
        "SET k v EX 0",
        "SET k v EX -1",
        "SET k v PX 0",
        "SET k v EXAT 0",
        "SET k v PXAT -5",
        "SET k v EX 9223372036854775",
        "SET k v PX 9223372036854775807",
    ] {
        assert_eq!(c.cmd(line), invalid, "{line}");
    }
    assert_eq!(c.cmd("SET k v EX abc"), err(NOT_INTEGER));
    assert_eq!(c.cmd("SET k v EX 1.5"), err(NOT_INTEGER));
    assert_eq!(c.cmd("SET k v PX 9223372036854775808"), err(NOT_INTEGER));
    assert_eq!(c.cmd("EXISTS k"), Int(0));
    // The last of repeated expiries wins; a deadline far away is fine.
    assert_eq!(c.cmd("SET k v EX 1 EX 100"), ok());
    assert_eq!(c.cmd("SET k v PXAT 9223372036854775807"), ok());
    assert_eq!(c.cmd("GET k"), bulk("v"));
}

#[test]
fn set_expiry_options_expire_keep_or_clear_the_ttl() {
    let server = server();
    let mut c = Conn::new(&server);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert_eq!(c.cmd("SET px v PX 150"), ok());
    assert_eq!(c.cmd("SET keep v PX 150"), ok());
    assert_eq!(c.cmd("SET keep v2 KEEPTTL"), ok());
    assert_eq!(c.cmd("SET cleared v PX 150"), ok());
    assert_eq!(c.cmd("SET cleared v2"), ok());
    assert_eq!(c.cmd(&format!("SET pxat v PXAT {}", now_ms + 150)), ok());
    assert_eq!(c.cmd("SET ex v EX 100"), ok());
    assert_eq!(c.cmd("SET counter 1 PX 150"), ok());
    assert_eq!(c.cmd("INCR counter"), Int(2));
    assert_eq!(c.cmd("SET floaty 1 PX 150"), ok());
    assert_eq!(c.cmd("INCRBYFLOAT floaty 1.5"), bulk("2.5"));
    assert_eq!(c.cmd("SET appended a PX 150"), ok());
    assert_eq!(c.cmd("APPEND appended b"), Int(2));
    assert_eq!(c.cmd("SETEX setex 100 v"), ok());
    assert_eq!(c.cmd("PSETEX psetex 150 v"), ok());
    // Deadlines already past leave no key.
    assert_eq!(c.cmd("SET past v EXAT 1"), ok());
    assert_eq!(c.cmd("EXISTS past"), Int(0));
    assert_eq!(c.cmd("SET past v PXAT 1 GET"), Nil);
    assert_eq!(c.cmd("EXISTS past"), Int(0));
    assert_eq!(c.cmd("GET px"), bulk("v"));
    assert_eq!(c.cmd("GET keep"), bulk("v2"));
    std::thread::sleep(Duration::from_millis(300));
    for gone in [
        "px", "keep", "pxat", "counter", "floaty", "appended", "psetex",
    ] {
        assert_eq!(c.cmd(&format!("GET {gone}")), Nil, "{gone}");
    }
    assert_eq!(c.cmd("GET cleared"), bulk("v2"));
    assert_eq!(c.cmd("GET ex"), bulk("v"));
    assert_eq!(c.cmd("GET setex"), bulk("v"));
}

#[test]
fn setnx_setex_and_psetex_reply_and_refuse_as_redis_does() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("SETNX k v"), Int(1));
    assert_eq!(c.cmd("SETNX k w"), Int(0));
    assert_eq!(c.cmd("GET k"), bulk("v"));
    assert_eq!(c.cmd("SETEX k 100 w"), ok());
    assert_eq!(c.cmd("GET k"), bulk("w"));
    assert_eq!(c.cmd("PSETEX k 100000 x"), ok());
    assert_eq!(c.cmd("GET k"), bulk("x"));
    let setex_invalid = err("ERR invalid expire time in 'setex' command");
    let psetex_invalid = err("ERR invalid expire time in 'psetex' command");
    assert_eq!(c.cmd("SETEX k 0 v"), setex_invalid);
    assert_eq!(c.cmd("SETEX k -10 v"), setex_invalid);
    assert_eq!(c.cmd("SETEX k 9223372036854775807 v"), setex_invalid);
    assert_eq!(c.cmd("PSETEX k 0 v"), psetex_invalid);
    assert_eq!(c.cmd("SETEX k abc v"), err(NOT_INTEGER));
    assert_eq!(c.cmd("PSETEX k 1.5 v"), err(NOT_INTEGER));
    assert_eq!(c.cmd("GET k"), bulk("x"));
}

#[test]
fn every_string_command_checks_its_arity() {
    let server = server();
    let mut c = Conn::new(&server);
    let cases = [
        ("get", "GET", "GET a b"),
        ("set", "SET k", "SET k"),
        ("setnx", "SETNX k", "SETNX k v x"),
        ("setex", "SETEX k 10", "SETEX k 10 v x"),
        ("psetex", "PSETEX k 10", "PSETEX k 10 v x"),
        ("mget", "MGET", "MGET"),
        ("mset", "MSET k", "MSET a 1 b"),
        ("msetnx", "MSETNX k", "MSETNX a 1 b"),
        ("getset", "GETSET k", "GETSET k v x"),
        ("getdel", "GETDEL", "GETDEL a b"),
        ("getex", "GETEX", "GETEX"),
        ("append", "APPEND k", "APPEND k v x"),
        ("strlen", "STRLEN", "STRLEN a b"),
        ("incr", "INCR", "INCR a b"),
        ("decr", "DECR", "DECR a b"),
        ("incrby", "INCRBY k", "INCRBY k 1 2"),
        ("decrby", "DECRBY k", "DECRBY k 1 2"),
        ("incrbyfloat", "INCRBYFLOAT k", "INCRBYFLOAT k 1 2"),
        ("getrange", "GETRANGE k 0", "GETRANGE k 0 1 2"),
        ("setrange", "SETRANGE k 0", "SETRANGE k 0 v x"),
        ("substr", "SUBSTR k 0", "SUBSTR k 0 1 2"),
    ];
    for (name, too_few, too_many) in cases {
        assert_eq!(c.cmd(too_few), arity(name), "{too_few}");
        assert_eq!(c.cmd(too_many), arity(name), "{too_many}");
    }
    assert_eq!(c.cmd("DBSIZE"), Int(0));
}

#[test]
fn mset_and_mget_cover_keys_on_every_shard() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("m", SHARDS);
    let (a, b, d) = (&keys[0], &keys[1], &keys[2]);
    assert_eq!(c.cmd(&format!("MSET {a} 1 {b} 2 {d} 3 {a} 4")), ok());
    assert_eq!(
        c.cmd(&format!("MGET {d} missing {a} {b} {a}")),
        R::Array(vec![bulk("3"), Nil, bulk("4"), bulk("2"), bulk("4")])
    );
    // An unpaired key across shards sets nothing at all.
    assert_eq!(c.cmd(&format!("MSET {a} x {b} y {d}")), arity("mset"));
    assert_eq!(
        c.cmd(&format!("MGET {a} {b} {d}")),
        R::Array(vec![bulk("4"), bulk("2"), bulk("3")])
    );
}

#[test]
fn msetnx_across_shards_sets_all_or_nothing() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("n", SHARDS);
    let (a, b, d) = (&keys[0], &keys[1], &keys[2]);
    assert_eq!(c.cmd(&format!("SET {d} taken")), ok());
    assert_eq!(c.cmd(&format!("MSETNX {a} 1 {b} 2 {d} 3")), Int(0));
    assert_eq!(c.cmd(&format!("EXISTS {a} {b}")), Int(0));
    assert_eq!(c.cmd(&format!("GET {d}")), bulk("taken"));
    assert_eq!(c.cmd(&format!("DEL {d}")), Int(1));
    assert_eq!(c.cmd(&format!("MSETNX {a} 1 {b} 2 {d} 3")), Int(1));
    assert_eq!(
        c.cmd(&format!("MGET {a} {b} {d}")),
        R::Array(vec![bulk("1"), bulk("2"), bulk("3")])
    );
    assert_eq!(c.cmd(&format!("MSETNX {a} x {b} y")), Int(0));
    assert_eq!(c.cmd(&format!("GET {a}")), bulk("1"));
    // Same shard (single-shard path): one existing key stops all, duplicates set the last value.
    assert_eq!(c.cmd("MSETNX {t}a 1 {t}b 2 {t}a 3"), Int(1));
    assert_eq!(c.cmd("GET {t}a"), bulk("3"));
    assert_eq!(c.cmd("MSETNX {t}c 1 {t}b 2"), Int(0));
    assert_eq!(c.cmd("EXISTS {t}c"), Int(0));
    assert_eq!(c.cmd(&format!("MSETNX {a}new 1 {b}new")), arity("msetnx"));
    assert_eq!(c.cmd(&format!("EXISTS {a}new")), Int(0));
}

#[test]
fn getset_getdel_and_getex_return_the_value_and_change_the_key() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("GETSET k v1"), Nil);
    assert_eq!(c.cmd("GETSET k v2"), bulk("v1"));
    assert_eq!(c.cmd("GET k"), bulk("v2"));
    assert_eq!(c.cmd("GETDEL k"), bulk("v2"));
    assert_eq!(c.cmd("EXISTS k"), Int(0));
    assert_eq!(c.cmd("GETDEL k"), Nil);

    assert_eq!(c.cmd("GETEX missing"), Nil);
    assert_eq!(c.cmd("GETEX missing EX 10"), Nil);
    assert_eq!(c.cmd("EXISTS missing"), Int(0));
    assert_eq!(c.cmd("SET k v"), ok());
    assert_eq!(c.cmd("GETEX k"), bulk("v"));
    for line in [
        "GETEX k PERSIST EX 10",
        "GETEX k EX 10 PERSIST",
        "GETEX k KEEPTTL",
        "GETEX k NX",
        "GETEX k GET",
        "GETEX k EX 10 PX 10",
        "GETEX k EX",
    ] {
        assert_eq!(c.cmd(line), err(SYNTAX), "{line}");
    }
    let invalid = err("ERR invalid expire time in 'getex' command");
    assert_eq!(c.cmd("GETEX k EX 0"), invalid);
    // The expire time is checked only for an existing key.
    assert_eq!(c.cmd("GETEX missing PX -1"), Nil);
    assert_eq!(c.cmd("GETEX k EXAT abc"), err(NOT_INTEGER));

    // PX sets a TTL, PERSIST removes one, a past PXAT deletes the key.
    assert_eq!(c.cmd("SET short v"), ok());
    assert_eq!(c.cmd("GETEX short PX 150"), bulk("v"));
    assert_eq!(c.cmd("SET kept v"), ok());
    assert_eq!(c.cmd("GETEX kept PX 150"), bulk("v"));
    assert_eq!(c.cmd("GETEX kept PERSIST"), bulk("v"));
    assert_eq!(c.cmd("SET long v PX 150"), ok());
    assert_eq!(c.cmd("GETEX long EX 100 EX 1000"), bulk("v"));
    assert_eq!(c.cmd("GETEX k PXAT 1"), bulk("v"));
    assert_eq!(c.cmd("EXISTS k"), Int(0));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.cmd("GET short"), Nil);
    assert_eq!(c.cmd("GET kept"), bulk("v"));
    assert_eq!(c.cmd("GET long"), bulk("v"));
}

#[test]
fn append_and_strlen_grow_and_measure_strings_binary_safely() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("STRLEN k"), Int(0));
    assert_eq!(c.cmd("APPEND k hello"), Int(5));
    assert_eq!(c.call(&["APPEND", "k", " world"]), Int(11));
    assert_eq!(c.cmd("GET k"), bulk("hello world"));
    assert_eq!(c.cmd("STRLEN k"), Int(11));
    assert_eq!(c.cmd("APPEND k "), Int(11));
    assert_eq!(c.call(&[&b"APPEND"[..], b"k", b"\0\r\n"]), Int(14));
    assert_eq!(c.cmd("GET k"), bulk("hello world\0\r\n"));
    // Integers are strings too.
    assert_eq!(c.cmd("SET n -123"), ok());
    assert_eq!(c.cmd("STRLEN n"), Int(4));
    assert_eq!(c.cmd("APPEND n 4"), Int(5));
    assert_eq!(c.cmd("GET n"), bulk("-1234"));
    assert_eq!(c.cmd("INCR n"), Int(-1233));
    // Many appends build the whole string.
    for i in 0..1000 {
        c.cmd(&format!("APPEND many {}", i % 10));
    }
    let expected: String = (0..1000)
        .map(|i| char::from(b'0' + (i % 10) as u8))
        .collect();
    assert_eq!(c.cmd("GET many"), bulk(expected));
}

#[test]
fn append_and_setrange_refuse_strings_beyond_proto_max_bulk_len() {
    let one_mb = 1024 * 1024;
    let server = Server::start(
        SHARDS,
        &["--appendonly", "no", "--proto-max-bulk-len", "1mb"],
    );
    let mut c = Conn::new(&server);
    let too_long = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    let half = vec![b'x'; one_mb / 2];
    assert_eq!(c.call(&[&b"SET"[..], b"k", &half]), ok());
    assert_eq!(c.call(&[&b"APPEND"[..], b"k", &half]), Int(one_mb as i64));
    assert_eq!(c.cmd("APPEND k y"), too_long);
    assert_eq!(c.cmd("STRLEN k"), Int(one_mb as i64));
    assert_eq!(
        c.cmd(&format!("SETRANGE k {} y", one_mb - 1)),
        Int(one_mb as i64)
    );
    assert_eq!(c.cmd(&format!("SETRANGE k {one_mb} y")), too_long);
    assert_eq!(c.cmd(&format!("SETRANGE new {one_mb} y")), too_long);
    assert_eq!(c.cmd("SETRANGE new 9223372036854775807 y"), too_long);
    assert_eq!(c.cmd("EXISTS new"), Int(0));
    assert_eq!(c.cmd("STRLEN k"), Int(one_mb as i64));

    let default = server_with_default_limit();
    let mut c = Conn::new(&default);
    assert_eq!(c.cmd("SETRANGE k 536870912 y"), too_long);
    assert_eq!(c.cmd("EXISTS k"), Int(0));
}

fn server_with_default_limit() -> Server {
    server()
}

#[test]
fn setrange_overwrites_and_pads_with_zero_bytes() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("SET k Hello_World"), ok());
    assert_eq!(c.cmd("SETRANGE k 6 Redis"), Int(11));
    assert_eq!(c.cmd("GET k"), bulk("Hello_Redis"));
    assert_eq!(c.cmd("SETRANGE k 9 isss"), Int(13));
    assert_eq!(c.cmd("GET k"), bulk("Hello_Redisss"));
    assert_eq!(c.cmd("SETRANGE pad 3 ab"), Int(5));
    assert_eq!(c.cmd("GET pad"), bulk(b"\0\0\0ab"));
    assert_eq!(c.cmd("SETRANGE pad 7 c"), Int(8));
    assert_eq!(c.cmd("GET pad"), bulk(b"\0\0\0ab\0\0c"));
    assert_eq!(c.call(&[&b"SETRANGE"[..], b"pad", b"0", b"\r\n"]), Int(8));
    assert_eq!(c.cmd("GET pad"), bulk(b"\r\n\0ab\0\0c"));
    // Writing nothing creates no key and leaves an existing one alone.
    assert_eq!(c.cmd("SETRANGE none 10 "), Int(0));
    assert_eq!(c.cmd("EXISTS none"), Int(0));
    assert_eq!(c.cmd("SETRANGE k 100 "), Int(13));
    assert_eq!(c.cmd("STRLEN k"), Int(13));
    // Integers are patched as their text.
    assert_eq!(c.cmd("SET n 1234"), ok());
    assert_eq!(c.cmd("SETRANGE n 1 9"), Int(4));
    assert_eq!(c.cmd("INCR n"), Int(1935));
    assert_eq!(c.cmd("SETRANGE k -1 x"), err("ERR offset is out of range"));
    assert_eq!(c.cmd("SETRANGE k abc x"), err(NOT_INTEGER));
    assert_eq!(c.cmd("SETRANGE k 1.0 x"), err(NOT_INTEGER));
    assert_eq!(c.cmd("GET k"), bulk("Hello_Redisss"));
}

#[test]
fn getrange_and_substr_take_inclusive_ranges_with_negative_offsets() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("SET s This_is_a_string"), ok());
    let cases = [
        ("0 3", "This"),
        ("-3 -1", "ing"),
        ("0 -1", "This_is_a_string"),
        ("10 100", "string"),
        ("-100 3", "This"),
        ("-100 -100", "T"),
        ("5 3", ""),
        ("-1 -5", ""),
        ("16 20", ""),
        ("100 200", ""),
        ("-1 -1", "g"),
        ("0 0", "T"),
        ("9223372036854775807 -9223372036854775808", ""),
        (
            "-9223372036854775808 9223372036854775807",
            "This_is_a_string",
        ),
    ];
    for (range, expected) in cases {
        assert_eq!(
            c.cmd(&format!("GETRANGE s {range}")),
            bulk(expected),
            "{range}"
        );
        assert_eq!(
            c.cmd(&format!("SUBSTR s {range}")),
            bulk(expected),
            "{range}"
        );
    }
    assert_eq!(c.cmd("GETRANGE missing 0 -1"), bulk(""));
    assert_eq!(c.cmd("SET empty "), ok());
    assert_eq!(c.cmd("GETRANGE empty 0 -1"), bulk(""));
    assert_eq!(c.cmd("SET n -12345"), ok());
    assert_eq!(c.cmd("GETRANGE n 1 -2"), bulk("1234"));
    assert_eq!(c.call(&[&b"SET"[..], b"b", b"a\0\r\nz"]), ok());
    assert_eq!(c.cmd("GETRANGE b 1 3"), bulk("\0\r\n"));
    assert_eq!(c.cmd("GETRANGE s abc 1"), err(NOT_INTEGER));
    assert_eq!(c.cmd("GETRANGE s 0 1.5"), err(NOT_INTEGER));
}

#[test]
fn incr_decr_family_counts_and_refuses_overflow_and_non_integers() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("INCR n"), Int(1));
    assert_eq!(c.cmd("INCR n"), Int(2));
    assert_eq!(c.cmd("DECR n"), Int(1));
    assert_eq!(c.cmd("INCRBY n 100"), Int(101));
    assert_eq!(c.cmd("DECRBY n 200"), Int(-99));
    assert_eq!(c.cmd("INCRBY n -1"), Int(-100));
    assert_eq!(c.cmd("GET n"), bulk("-100"));
    assert_eq!(c.cmd("DECR fresh"), Int(-1));
    assert_eq!(c.cmd("DECRBY fresh2 5"), Int(-5));
    assert_eq!(c.cmd("SET s 10"), ok());
    assert_eq!(c.cmd("INCRBY s 5"), Int(15));
    assert_eq!(c.cmd("APPEND s 0"), Int(3));
    assert_eq!(c.cmd("INCR s"), Int(151));

    let overflow = err("ERR increment or decrement would overflow");
    assert_eq!(c.cmd("SET max 9223372036854775807"), ok());
    assert_eq!(c.cmd("INCR max"), overflow);
    assert_eq!(c.cmd("INCRBY max 1"), overflow);
    assert_eq!(c.cmd("GET max"), bulk("9223372036854775807"));
    assert_eq!(c.cmd("SET min -9223372036854775808"), ok());
    assert_eq!(c.cmd("DECR min"), overflow);
    assert_eq!(c.cmd("DECRBY min 1"), overflow);
    assert_eq!(c.cmd("INCRBY min -1"), overflow);
    assert_eq!(
        c.cmd("DECRBY min -9223372036854775808"),
        err("ERR decrement would overflow")
    );
    assert_eq!(c.cmd("DECRBY min -9223372036854775807"), Int(-1));

    for bad in [
        "abc",
        "1.5",
        "007",
        " 1",
        "1 ",
        "+1",
        "-0",
        "9223372036854775808",
        "",
    ] {
        assert_eq!(c.call(&["SET", "bad", bad]), ok());
        assert_eq!(c.cmd("INCR bad"), err(NOT_INTEGER), "{bad:?}");
        assert_eq!(c.call(&["INCRBY", "n", bad]), err(NOT_INTEGER), "{bad:?}");
        assert_eq!(c.call(&["DECRBY", "n", bad]), err(NOT_INTEGER), "{bad:?}");
        assert_eq!(c.call(&["GET", "bad"]), bulk(bad));
    }
    assert_eq!(c.cmd("GET n"), bulk("-100"));
}

#[test]
fn incrbyfloat_computes_and_prints_like_redis() {
    let server = server();
    let mut c = Conn::new(&server);
    // (start value or None for a missing key, increment, reply), as Redis 7 on x86-64 replies.
    let cases: &[(Option<&str>, &str, &str)] = &[
        (None, "10.5", "10.5"),
        (Some("10.5"), "0.1", "10.6"),
        (Some("5.0e3"), "2.0e2", "5200"),
        (None, "3.0e3", "3000"),
        (Some("0.1"), "0.2", "0.3"),
        (Some("1"), "-1.1", "-0.1"),
        (Some("3"), "-3.0", "0"),
        (Some("10000"), "0.1", "10000.09999999999999964"),
        (Some("17179869184"), "1.5", "17179869185.5"),
        (Some("1"), "1e20", "100000000000000000000"),
        (Some("1"), "1e-20", "1"),
        (Some("0"), "-0.0", "0"),
        (Some(".5"), "5.", "5.5"),
        (Some("0x10"), "1", "17"),
        (Some("+1"), "1.5e+3", "1501"),
    ];
    for &(start, by, expected) in cases {
        c.cmd("DEL f");
        if let Some(start) = start {
            assert_eq!(c.call(&["SET", "f", start]), ok());
        }
        assert_eq!(
            c.call(&["INCRBYFLOAT", "f", by]),
            bulk(expected),
            "{start:?} + {by}"
        );
        assert_eq!(c.cmd("GET f"), bulk(expected), "{start:?} + {by}");
    }
    // An integer result is still an integer for INCR.
    assert_eq!(c.cmd("SET f 4999.5"), ok());
    assert_eq!(c.cmd("INCRBYFLOAT f 0.5"), bulk("5000"));
    assert_eq!(c.cmd("INCR f"), Int(5001));

    assert_eq!(c.cmd("SET f 1.5"), ok());
    for bad in ["abc", "", " 1", "1 ", "1e", "nan", "1e5000", "1,5"] {
        assert_eq!(
            c.call(&["INCRBYFLOAT", "f", bad]),
            err(NOT_FLOAT),
            "{bad:?}"
        );
    }
    let nan_or_inf = err("ERR increment would produce NaN or Infinity");
    assert_eq!(c.cmd("INCRBYFLOAT f inf"), nan_or_inf);
    assert_eq!(c.cmd("INCRBYFLOAT f -infinity"), nan_or_inf);
    assert_eq!(c.cmd("SET big 1.1e4932"), ok());
    assert_eq!(c.cmd("INCRBYFLOAT big 1.1e4932"), nan_or_inf);
    assert_eq!(c.cmd("GET f"), bulk("1.5"));
    assert_eq!(c.cmd("SET word hello"), ok());
    assert_eq!(c.cmd("INCRBYFLOAT word 1"), err(NOT_FLOAT));
    assert_eq!(c.cmd("GET word"), bulk("hello"));
}

/// Writers MSET three keys on three shards to one value while readers MGET them: every read must
/// see all three equal (no write seen half done).
#[test]
fn mset_across_shards_is_atomic_under_concurrent_mget() {
    let server = server();
    let keys = key_per_shard("atomic", SHARDS);
    let run_for = Duration::from_secs(2);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let mut c = Conn::new(&server);
    assert_eq!(
        c.call(&["MSET", &keys[0], "init", &keys[1], "init", &keys[2], "init"]),
        ok()
    );
    let mut threads = Vec::new();
    for writer in 0..4 {
        let (mut c, keys, stop) = (Conn::new(&server), keys.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let v = format!("w{writer}:{i}");
                let reply = c.call(&["MSET", &keys[0], &v, &keys[1], &v, &keys[2], &v]);
                assert_eq!(reply, ok());
                i += 1;
            }
        }));
    }
    for _ in 0..2 {
        let (mut c, keys) = (Conn::new(&server), keys.clone());
        let (stop, reads) = (stop.clone(), reads.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let R::Array(values) = c.call(&["MGET", &keys[0], &keys[1], &keys[2]]) else {
                    panic!("MGET did not reply with an array");
                };
                assert_eq!(values.len(), 3);
                assert!(
                    values[0] == values[1] && values[1] == values[2],
                    "torn read: {values:?}"
                );
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let start = Instant::now();
    while start.elapsed() < run_for && !threads.iter().any(|t| t.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("a writer or reader failed");
    }
    assert!(
        reads.load(Ordering::Relaxed) > 100,
        "too few reads to mean anything"
    );
    let R::Array(last) = c.call(&["MGET", &keys[0], &keys[1], &keys[2]]) else {
        panic!("MGET did not reply with an array");
    };
    assert_ne!(last[0], bulk("init"), "no writer got through");
}

// ---- LCS ------------------------------------------------------------------------------------

fn int_pair(a: i64, b: i64) -> R {
    R::Array(vec![Int(a), Int(b)])
}

/// The LCS docs' examples, with the keys on one shard (hash tag) and on two shards.
#[test]
fn lcs_answers_the_docs_examples_with_keys_on_one_or_two_shards() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("lcs", SHARDS);
    for (k1, k2) in [("{t}1", "{t}2"), (keys[0].as_str(), keys[2].as_str())] {
        assert_eq!(c.call(&["SET", k1, "ohmytext"]), ok());
        assert_eq!(c.call(&["SET", k2, "mynewtext"]), ok());
        assert_eq!(c.call(&["LCS", k1, k2]), bulk("mytext"));
        assert_eq!(c.call(&["LCS", k1, k2, "LEN"]), Int(6));
        let idx = R::Array(vec![
            bulk("matches"),
            R::Array(vec![
                R::Array(vec![int_pair(4, 7), int_pair(5, 8)]),
                R::Array(vec![int_pair(2, 3), int_pair(0, 1)]),
            ]),
            bulk("len"),
            Int(6),
        ]);
        assert_eq!(c.call(&["LCS", k1, k2, "IDX"]), idx);
        let long_only = R::Array(vec![
            bulk("matches"),
            R::Array(vec![R::Array(vec![int_pair(4, 7), int_pair(5, 8), Int(4)])]),
            bulk("len"),
            Int(6),
        ]);
        let reply = c.call(&["LCS", k1, k2, "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]);
        assert_eq!(reply, long_only);
        // Missing keys are empty strings.
        assert_eq!(c.call(&["LCS", k1, "nokey"]), bulk(""));
        assert_eq!(c.call(&["LCS", "nokey", k2, "LEN"]), Int(0));
    }
}

#[test]
fn lcs_refuses_other_types_and_bad_options_as_redis_does() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("lcs", SHARDS);
    assert_eq!(c.call(&["SET", &keys[0], "abc"]), ok());
    assert_eq!(c.call(&["RPUSH", &keys[1], "x"]), Int(1));
    assert_eq!(c.call(&["RPUSH", "{t}l", "x"]), Int(1));
    assert_eq!(c.call(&["SET", "{t}s", "abc"]), ok());
    let not_strings = err("ERR The specified keys must contain string values");
    assert_eq!(c.call(&["LCS", &keys[0], &keys[1]]), not_strings);
    assert_eq!(c.call(&["LCS", "{t}s", "{t}l"]), not_strings);
    // The type is checked before the options.
    assert_eq!(c.call(&["LCS", &keys[1], "nokey", "BOGUS"]), not_strings);
    assert_eq!(c.call(&["LCS", &keys[0], &keys[2], "BOGUS"]), err(SYNTAX));
    assert_eq!(
        c.call(&["LCS", &keys[0], &keys[2], "MINMATCHLEN"]),
        err(SYNTAX)
    );
    assert_eq!(
        c.call(&["LCS", &keys[0], &keys[2], "MINMATCHLEN", "x"]),
        err(NOT_INTEGER)
    );
    assert_eq!(
        c.call(&["LCS", &keys[0], &keys[2], "LEN", "IDX"]),
        err("ERR If you want both the length and indexes, please just use IDX.")
    );
    assert_eq!(c.cmd("LCS a"), arity("lcs"));
}

#[test]
fn lcs_inside_multi_reads_keys_of_several_shards() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("lcs", SHARDS);
    assert_eq!(c.call(&["SET", &keys[0], "ABCBDAB"]), ok());
    assert_eq!(c.cmd("MULTI"), ok());
    assert_eq!(
        c.call(&["SET", &keys[1], "BDCABA"]),
        R::Status("QUEUED".into())
    );
    assert_eq!(
        c.call(&["LCS", &keys[0], &keys[1]]),
        R::Status("QUEUED".into())
    );
    assert_eq!(
        c.call(&["LCS", &keys[1], &keys[2], "LEN"]),
        R::Status("QUEUED".into())
    );
    assert_eq!(c.cmd("EXEC"), R::Array(vec![ok(), bulk("BDAB"), Int(0)]));
}

/// A table over `LCS_TABLE_BYTES_MAX` (64 MiB: 4 bytes a cell) is refused, not built; one under it
/// is answered.
#[test]
fn lcs_refuses_a_table_over_its_memory_limit() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("lcs", SHARDS);
    // 4097 × 4097 cells × 4 bytes is just over 64 MiB.
    assert_eq!(c.call(&["SETRANGE", &keys[0], "4095", "x"]), Int(4096));
    assert_eq!(c.call(&["SETRANGE", &keys[1], "4095", "x"]), Int(4096));
    let reply = c.call(&["LCS", &keys[0], &keys[1], "LEN"]);
    assert!(
        matches!(&reply, R::Err(e) if e.starts_with("ERR Insufficient memory")),
        "{reply:?}"
    );
    assert_eq!(c.call(&["SETRANGE", &keys[2], "999", "x"]), Int(1000));
    assert_eq!(c.call(&["LCS", &keys[0], &keys[2], "LEN"]), Int(1000));
}

/// LCS's replies, byte for byte, as redis-server gives them (skipped where it is not installed).
#[test]
fn lcs_replies_match_redis_server() {
    let Some(reference) = common::reference::Reference::start() else {
        return;
    };
    let server = server();
    let (mut keel, mut redis) = (Conn::new(&server), Conn::at_port(reference.port));
    let keys = key_per_shard("lcs", SHARDS);
    let (a, b, d) = (&keys[0], &keys[1], &keys[2]);
    let script = [
        format!("SET {a} ohmytext"),
        format!("SET {b} mynewtext"),
        format!("SET {d} ABCBDAB"),
        "SET e BDCABA".to_string(),
        "SET f xxaaxxbbyyaaxx".to_string(),
        "SET g aayyxxbbxxaazz".to_string(),
        format!("LCS {a} {b} IDX MINMATCHLEN 2 WITHMATCHLEN"),
        format!("LCS {d} e IDX WITHMATCHLEN"),
        format!("LCS {d} e"),
        "LCS f g".to_string(),
        "LCS f g IDX".to_string(),
        "LCS f g IDX MINMATCHLEN -3 WITHMATCHLEN".to_string(),
        "LCS f g idx minmatchlen 3 minmatchlen 0".to_string(),
        format!("LCS {a} nokey IDX"),
        format!("LCS {b} f LEN"),
        "LCS f f IDX".to_string(),
    ];
    for line in &script {
        assert_eq!(keel.cmd(line), redis.cmd(line), "{line}");
    }
}

/// SET over a value of the same size takes the bytes in place (no allocation): it must still
/// drop the old TTL unless KEEPTTL, store what `SET` of those bytes would, and be journaled.
#[test]
fn set_over_a_same_size_value_replaces_it_clears_its_ttl_and_survives_a_crash() {
    let mut server = Server::start(1, &[]);
    let value = |tag: &str| format!("{tag:->32}");
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd(&format!("SET k {} EX 100", value("a"))), ok());
    assert_eq!(c.cmd(&format!("SET k {}", value("b"))), ok());
    assert_eq!(c.cmd("GET k"), bulk(value("b")));
    assert_eq!(c.cmd("TTL k"), Int(-1));
    assert_eq!(c.cmd(&format!("SET k {} EX 100", value("c"))), ok());
    assert_eq!(c.cmd(&format!("SET k {} KEEPTTL", value("d"))), ok());
    assert!(matches!(c.cmd("TTL k"), Int(1..=100)));
    assert_eq!(c.cmd("OBJECT ENCODING k"), bulk("embstr"));
    // A value grown by APPEND is stored apart ("raw"); SET makes it a plain one again.
    assert_eq!(c.cmd(&format!("SET g {}", value("e"))), ok());
    assert_eq!(c.cmd("APPEND g x"), Int(33));
    assert_eq!(c.cmd("OBJECT ENCODING g"), bulk("raw"));
    assert_eq!(c.cmd(&format!("SET g {}", value("f") + "x")), ok());
    assert_eq!(c.cmd("OBJECT ENCODING g"), bulk("embstr"));
    assert_eq!(c.cmd(&format!("SET g {}", value("g") + "y")), ok());
    drop(c);
    server.kill9();
    server.restart();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("GET k"), bulk(value("d")));
    assert!(matches!(c.cmd("TTL k"), Int(1..=100)));
    assert_eq!(c.cmd("GET g"), bulk(value("g") + "y"));
}
