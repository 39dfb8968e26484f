//! Bitmap commands (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO) with Redis 7's
//! replies and errors, on 3 shards so that BITOP crosses shards; replies compared with the
//! installed redis-server where there is one; bitmap writes journaled as byte ranges.

mod common;

use common::reference::Reference;
use common::resp::R::{self, Array, Int, Nil};
use common::resp::{bulk, err, key_per_shard, ok, Conn, NOT_INTEGER, SYNTAX, WRONGTYPE};
use common::{info_field, Server};

const SHARDS: usize = 3;
const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

fn server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no"])
}

fn ints(values: &[i64]) -> R {
    Array(values.iter().map(|&n| Int(n)).collect())
}

#[test]
fn setbit_replies_the_old_bit_and_grows_the_string_with_zero_bytes() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("SETBIT b 7 1"), Int(0));
    assert_eq!(c.cmd("SETBIT b 7 1"), Int(1));
    assert_eq!(c.cmd("GET b"), bulk([0x01]));
    assert_eq!(c.cmd("SETBIT b 17 1"), Int(0));
    assert_eq!(c.cmd("GET b"), bulk([0x01, 0x00, 0x40]));
    assert_eq!(c.cmd("SETBIT b 7 0"), Int(1));
    assert_eq!(c.cmd("GET b"), bulk([0x00, 0x00, 0x40]));
    assert_eq!(c.cmd("GETBIT b 17"), Int(1));
    assert_eq!(c.cmd("GETBIT b 16"), Int(0));
    assert_eq!(c.cmd("GETBIT b 1000"), Int(0));
    assert_eq!(c.cmd("GETBIT missing 0"), Int(0));
    assert_eq!(c.cmd("OBJECT ENCODING b"), bulk("raw"));
    // An int-encoded string is read as its digits and becomes raw once written.
    assert_eq!(c.cmd("SET n 1"), ok()); // '1' is 0x31 = 0b0011_0001
    assert_eq!(c.cmd("GETBIT n 2"), Int(1));
    assert_eq!(c.cmd("SETBIT n 6 1"), Int(0));
    assert_eq!(c.cmd("GET n"), bulk("3"));
    assert_eq!(c.cmd("OBJECT ENCODING n"), bulk("raw"));
    // A TTL survives a SETBIT.
    assert_eq!(c.cmd("EXPIRE b 100"), Int(1));
    assert_eq!(c.cmd("SETBIT b 0 1"), Int(0));
    assert!(matches!(c.cmd("TTL b"), Int(1..=100)));
}

#[test]
fn bit_offsets_stop_at_the_string_size_limit() {
    let server = Server::start(
        SHARDS,
        &["--appendonly", "no", "--proto-max-bulk-len", "1mb"],
    );
    let mut c = Conn::new(&server);
    let last = 8 * 1024 * 1024 - 1;
    assert_eq!(c.cmd(&format!("SETBIT b {last} 1")), Int(0));
    assert_eq!(c.cmd("STRLEN b"), Int(1024 * 1024));
    assert_eq!(c.cmd(&format!("SETBIT b {} 1", last + 1)), err(BAD_OFFSET));
    assert_eq!(c.cmd(&format!("GETBIT b {}", last + 1)), err(BAD_OFFSET));
    assert_eq!(c.cmd(&format!("GETBIT b {last}")), Int(1));
    assert_eq!(c.cmd("CONFIG SET proto-max-bulk-len 512mb"), ok());
    // Redis's own limit with the default: bit 2^32 - 1 is the last one.
    assert_eq!(c.cmd("GETBIT b 4294967295"), Int(0));
    assert_eq!(c.cmd("GETBIT b 4294967296"), err(BAD_OFFSET));
    assert_eq!(c.cmd("BITFIELD b GET u8 4294967288"), ints(&[0]));
    assert_eq!(c.cmd("BITFIELD b GET u8 4294967296"), err(BAD_OFFSET));
    assert_eq!(c.cmd("BITFIELD b GET i64 #67108863"), ints(&[0]));
    assert_eq!(c.cmd("BITFIELD b GET i64 #67108864"), err(BAD_OFFSET));
    assert_eq!(c.cmd("SETBIT b -1 1"), err(BAD_OFFSET));
    assert_eq!(c.cmd("SETBIT b 9223372036854775808 1"), err(BAD_OFFSET));
    assert_eq!(c.cmd("SETBIT b 01 1"), err(BAD_OFFSET));
    assert_eq!(
        c.cmd("SETBIT b 0 2"),
        err("ERR bit is not an integer or out of range")
    );
    assert_eq!(
        c.cmd("SETBIT b 0 01"),
        err("ERR bit is not an integer or out of range")
    );
    assert_eq!(c.cmd("BITFIELD b GET u8 #"), err(BAD_OFFSET));
    assert_eq!(c.cmd("BITFIELD b GET u8 #-1"), err(BAD_OFFSET));
    assert_eq!(
        c.cmd("BITFIELD b GET i64 #9223372036854775807"),
        err(BAD_OFFSET)
    );
}

#[test]
fn bitcount_counts_byte_and_bit_ranges_with_negative_indexes() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("SET s foobar"), ok());
    assert_eq!(c.cmd("BITCOUNT s"), Int(26));
    assert_eq!(c.cmd("BITCOUNT s 0 0"), Int(4));
    assert_eq!(c.cmd("BITCOUNT s 1 1"), Int(6));
    assert_eq!(c.cmd("BITCOUNT s 1 1 BYTE"), Int(6));
    assert_eq!(c.cmd("BITCOUNT s 5 30 BIT"), Int(17));
    assert_eq!(c.cmd("BITCOUNT s -2 -1"), Int(7));
    assert_eq!(c.cmd("BITCOUNT s -8 -1 bit"), Int(4));
    assert_eq!(c.cmd("BITCOUNT s -1 -2"), Int(0));
    assert_eq!(c.cmd("BITCOUNT s 3 1"), Int(0));
    assert_eq!(c.cmd("BITCOUNT s -100 100"), Int(26));
    assert_eq!(c.cmd("BITCOUNT s 0"), err(SYNTAX));
    assert_eq!(c.cmd("BITCOUNT s 0 1 WORD"), err(SYNTAX));
    assert_eq!(c.cmd("BITCOUNT s 0 1 BIT x"), err(SYNTAX));
    assert_eq!(c.cmd("BITCOUNT s a 1"), err(NOT_INTEGER));
    assert_eq!(c.cmd("BITCOUNT missing"), Int(0));
    assert_eq!(c.call(&["SET", "empty", ""]), ok());
    assert_eq!(c.cmd("BITCOUNT empty"), Int(0));
    assert_eq!(c.cmd("BITCOUNT empty 0 -1 BIT"), Int(0));
}

#[test]
fn bitpos_finds_set_and_clear_bits_and_clear_bits_past_an_open_end() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.call(&[&b"SET"[..], b"k", b"\xff\xf0\x00"]), ok());
    assert_eq!(c.cmd("BITPOS k 0"), Int(12));
    assert_eq!(c.cmd("BITPOS k 1 2"), Int(-1));
    assert_eq!(c.cmd("BITPOS k 0 2"), Int(16));
    assert_eq!(c.cmd("BITPOS k 1 -3"), Int(0));
    assert_eq!(c.cmd("BITPOS k 0 7 15 BIT"), Int(12));
    assert_eq!(c.cmd("BITPOS k 1 13 -1 bit"), Int(-1));
    assert_eq!(c.cmd("BITPOS k 1 3 1 BIT"), Int(-1));
    assert_eq!(c.call(&[&b"SET"[..], b"ones", b"\xff\xff"]), ok());
    // No clear bit in the string: without an end, the bit just past it; with an end, none.
    assert_eq!(c.cmd("BITPOS ones 0"), Int(16));
    assert_eq!(c.cmd("BITPOS ones 0 1"), Int(16));
    assert_eq!(c.cmd("BITPOS ones 0 0 -1"), Int(-1));
    assert_eq!(c.cmd("BITPOS ones 0 0 15 BIT"), Int(-1));
    // A missing key is all clear bits; an empty string has no bits at all.
    assert_eq!(c.cmd("BITPOS missing 0"), Int(0));
    assert_eq!(c.cmd("BITPOS missing 1"), Int(-1));
    assert_eq!(c.call(&["SET", "empty", ""]), ok());
    assert_eq!(c.cmd("BITPOS empty 0"), Int(-1));
    assert_eq!(
        c.cmd("BITPOS k 2"),
        err("ERR The bit argument must be 1 or 0.")
    );
    assert_eq!(c.cmd("BITPOS k x"), err(NOT_INTEGER));
    assert_eq!(c.cmd("BITPOS k 1 0 1 WORD"), err(SYNTAX));
    assert_eq!(c.cmd("BITPOS k 1 0 1 BIT x"), err(SYNTAX));
    // A set bit deep in a large bitmap is found (whole bytes are skipped).
    assert_eq!(c.cmd("SETBIT big 800001 1"), Int(0));
    assert_eq!(c.cmd("BITPOS big 1"), Int(800001));
    assert_eq!(c.cmd("BITPOS big 1 100001 -1 BIT"), Int(800001));
}

#[test]
fn bitop_combines_keys_on_every_shard_and_stores_the_result_atomically() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("bop", SHARDS);
    let (a, b, dst) = (&keys[0], &keys[1], &keys[2]);
    assert_eq!(c.call(&[&b"SET"[..], a.as_bytes(), b"\xf0\x0f\xaa"]), ok());
    assert_eq!(c.call(&[&b"SET"[..], b.as_bytes(), b"\xff\x01"]), ok());
    assert_eq!(c.cmd(&format!("BITOP AND {dst} {a} {b}")), Int(3));
    assert_eq!(c.cmd(&format!("GET {dst}")), bulk([0xf0, 0x01, 0x00]));
    assert_eq!(c.cmd(&format!("BITOP or {dst} {a} {b} missing")), Int(3));
    assert_eq!(c.cmd(&format!("GET {dst}")), bulk([0xff, 0x0f, 0xaa]));
    assert_eq!(c.cmd(&format!("BITOP XOR {dst} {a} {b}")), Int(3));
    assert_eq!(c.cmd(&format!("GET {dst}")), bulk([0x0f, 0x0e, 0xaa]));
    assert_eq!(c.cmd(&format!("BITOP NOT {dst} {b}")), Int(2));
    assert_eq!(c.cmd(&format!("GET {dst}")), bulk([0x00, 0xfe]));
    // The destination may be a source; the result replaces it and drops its TTL.
    assert_eq!(c.cmd(&format!("EXPIRE {a} 100")), Int(1));
    assert_eq!(c.cmd(&format!("BITOP AND {a} {a} {b}")), Int(3));
    assert_eq!(c.cmd(&format!("TTL {a}")), Int(-1));
    // Only missing sources: the destination is deleted.
    assert_eq!(c.cmd(&format!("BITOP OR {dst} nokey1 nokey2")), Int(0));
    assert_eq!(c.cmd(&format!("EXISTS {dst}")), Int(0));
    assert_eq!(
        c.cmd(&format!("BITOP NOT {dst} {a} {b}")),
        err("ERR BITOP NOT must be called with a single source key.")
    );
    assert_eq!(c.cmd(&format!("BITOP NAND {dst} {a}")), err(SYNTAX));
    assert_eq!(c.cmd(&format!("SADD {b} m")), err(WRONGTYPE));
    assert_eq!(c.cmd("SADD set m"), Int(1));
    assert_eq!(c.cmd(&format!("BITOP AND {dst} {a} set")), err(WRONGTYPE));
    assert_eq!(c.cmd(&format!("EXISTS {dst}")), Int(0));
    assert_eq!(c.cmd(&format!("BITOP AND set {a}")), Int(3));
    assert_eq!(c.cmd("TYPE set"), R::Status("string".into()));
}

#[test]
fn bitfield_gets_sets_and_increments_with_every_overflow_mode() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(
        c.cmd("BITFIELD f SET i8 0 100 INCRBY i8 0 100 GET u8 0"),
        ints(&[0, -56, 200])
    );
    assert_eq!(
        c.cmd("BITFIELD f OVERFLOW SAT INCRBY i8 0 -100 OVERFLOW FAIL INCRBY i8 0 -300 GET i8 0"),
        Array(vec![Int(-128), Nil, Int(-128)])
    );
    assert_eq!(
        c.cmd("BITFIELD f SET u4 #3 15 GET u4 #3 GET u16 0 INCRBY u2 #0 1"),
        ints(&[0, 15, 32783, 3])
    );
    assert_eq!(
        c.cmd("BITFIELD f OVERFLOW SAT SET u8 0 -1 GET u8 0 OVERFLOW WRAP SET u8 0 256 GET u8 0"),
        ints(&[192, 255, 255, 0])
    );
    assert_eq!(
        c.cmd("BITFIELD g SET i64 5 -1 GET u63 5 INCRBY i64 5 -9223372036854775807"),
        ints(&[0, 9223372036854775807, -9223372036854775808])
    );
    assert_eq!(
        c.cmd("BITFIELD g OVERFLOW WRAP INCRBY i64 5 -1 OVERFLOW SAT INCRBY i64 5 1 INCRBY i64 5 9223372036854775807"),
        ints(&[9223372036854775807, 9223372036854775807, 9223372036854775807])
    );
    // A FAILed write still makes the string reach the field, as Redis does.
    assert_eq!(
        c.cmd("BITFIELD h OVERFLOW FAIL INCRBY u2 100 10"),
        Array(vec![Nil])
    );
    assert_eq!(c.cmd("STRLEN h"), Int(13));
    // GETs alone never create the key.
    assert_eq!(c.cmd("BITFIELD none GET u8 0 GET i4 #2"), ints(&[0, 0]));
    assert_eq!(c.cmd("EXISTS none"), Int(0));
    assert_eq!(c.cmd("BITFIELD none"), Array(vec![]));
    assert_eq!(
        c.cmd("BITFIELD_RO f GET u8 0 OVERFLOW SAT GET i4 #1"),
        ints(&[0, 0])
    );
}

#[test]
fn bitfield_rejects_bad_types_offsets_values_and_writes_in_bitfield_ro() {
    let server = server();
    let mut c = Conn::new(&server);
    for bad in ["u64", "i65", "i0", "U8", "x8", "u08", "i"] {
        assert_eq!(
            c.cmd(&format!("BITFIELD k GET {bad} 0")),
            err(BAD_TYPE),
            "{bad}"
        );
    }
    assert_eq!(c.cmd("BITFIELD k GET i64 0"), ints(&[0]));
    assert_eq!(c.cmd("BITFIELD k GET u8 x"), err(BAD_OFFSET));
    assert_eq!(c.cmd("BITFIELD k SET u8 0 x"), err(NOT_INTEGER));
    assert_eq!(
        c.cmd("BITFIELD k OVERFLOW maybe"),
        err("ERR Invalid OVERFLOW type specified")
    );
    assert_eq!(c.cmd("BITFIELD k GET u8"), err(SYNTAX));
    assert_eq!(c.cmd("BITFIELD k INCRBY u8 0"), err(SYNTAX));
    assert_eq!(c.cmd("BITFIELD k GET u8 0 OVERFLOW"), err(SYNTAX));
    assert_eq!(c.cmd("BITFIELD k FROB u8 0"), err(SYNTAX));
    let ro = "ERR BITFIELD_RO only supports the GET subcommand";
    assert_eq!(c.cmd("BITFIELD_RO k SET u8 0 1"), err(ro));
    assert_eq!(c.cmd("BITFIELD_RO k GET u8 0 INCRBY u8 0 1"), err(ro));
    // The field's type and offset are checked before the read-only rule, as in Redis.
    assert_eq!(c.cmd("BITFIELD_RO k SET i99 0 1"), err(BAD_TYPE));
    assert_eq!(c.cmd("BITFIELD_RO k SET u8 x 1"), err(BAD_OFFSET));
    // Nothing was written by any of the failed commands.
    assert_eq!(c.cmd("EXISTS k"), Int(0));
}

#[test]
fn every_bitmap_command_refuses_other_types() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("SADD s m"), Int(1));
    for cmd in [
        "SETBIT s 0 1",
        "GETBIT s 0",
        "BITCOUNT s",
        "BITPOS s 1",
        "BITOP AND d s",
        "BITFIELD s GET u8 0",
        "BITFIELD s SET u8 0 1",
        "BITFIELD s",
        "BITFIELD_RO s GET u8 0",
    ] {
        assert_eq!(c.cmd(cmd), err(WRONGTYPE), "{cmd}");
    }
    // Argument errors come before the type check.
    assert_eq!(c.cmd("SETBIT s x 1"), err(BAD_OFFSET));
    assert_eq!(c.cmd("BITCOUNT s 0"), err(SYNTAX));
}

/// Every reply of a command sequence, on Keel and on redis-server: they must be identical.
#[test]
fn replies_and_bytes_match_redis_server() {
    let Some(reference) = Reference::start() else {
        return;
    };
    let server = server();
    let (mut keel, mut redis) = (Conn::new(&server), Conn::at_port(reference.port));
    let script = [
        "SETBIT b 7 1",
        "SETBIT b 100 1",
        "SETBIT b 3 0",
        "GET b",
        "BITCOUNT b 1 -1",
        "BITCOUNT b 7 100 BIT",
        "BITCOUNT b -5 -1 bit",
        "BITPOS b 1 1",
        "BITPOS b 0 0 -1 BIT",
        "BITPOS b 1 -3 -1 BIT",
        "SET s foobar",
        "BITOP AND {t}d1 b s",
        "BITOP OR d2 b s nokey",
        "BITOP XOR d3 b s",
        "BITOP NOT d4 s",
        "MGET {t}d1 d2 d3 d4",
        "BITFIELD f SET i8 0 100 INCRBY i8 0 100 GET u8 0",
        "BITFIELD f OVERFLOW SAT INCRBY i8 0 100 OVERFLOW FAIL INCRBY i8 0 -300 GET i8 0",
        "BITFIELD f SET u4 #3 15 GET u4 #3 GET u16 0 INCRBY u63 0 -1",
        "BITFIELD f SET i64 5 -1 GET i64 5 GET u63 5 INCRBY i64 5 -9223372036854775807",
        "BITFIELD f OVERFLOW WRAP INCRBY i64 5 -9223372036854775807",
        "BITFIELD f OVERFLOW SAT SET u8 0 -1 SET u3 70 9 INCRBY u63 4 -1",
        "GET f",
        "BITFIELD g OVERFLOW FAIL INCRBY u2 100 10",
        "GET g",
        "SET n 12345",
        "SETBIT n 3 1",
        "OBJECT ENCODING n",
        "SETRANGE r 5 abc",
        "APPEND r tail",
        "SETRANGE r 1 X",
        "GET r",
    ];
    for line in script {
        assert_eq!(keel.cmd(line), redis.cmd(line), "{line}");
    }
}

/// SETBIT on a big bitmap logs the byte it changes, not the bitmap; after a SIGKILL the journal
/// replays every change.
#[test]
fn setbit_on_a_large_bitmap_logs_a_byte_and_replays_after_sigkill() {
    let mut server = Server::start(SHARDS, &[]);
    let mut c = Conn::new(&server);
    let mut con = server.client();
    const BITMAP_BITS: u64 = 8 * 1024 * 1024; // 1 MB
    const WRITES: u64 = 200;
    assert_eq!(c.cmd(&format!("SETBIT big {} 1", BITMAP_BITS - 1)), Int(0));
    let before: u64 = info_field(&mut con, "journal_bytes_written")
        .parse()
        .unwrap();
    for i in 0..WRITES {
        assert_eq!(c.cmd(&format!("SETBIT big {} 1", i * 997)), Int(0));
    }
    assert_eq!(c.cmd("SETRANGE big 10 hello"), Int(1024 * 1024));
    assert_eq!(c.cmd("APPEND big !"), Int(1024 * 1024 + 1));
    assert_eq!(c.cmd("BITFIELD big SET u8 #20 255"), ints(&[0]));
    let grown: u64 = info_field(&mut con, "journal_bytes_written")
        .parse::<u64>()
        .unwrap()
        - before;
    // Each write is one small record (a batch is padded to 4 KiB at most); the whole bitmap
    // would be 1 MB per write.
    assert!(
        grown <= (WRITES + 3) * 16 * 1024,
        "journal grew {grown} bytes"
    );
    let expected = c.cmd("GET big");
    let count = c.cmd("BITCOUNT big");
    server.restart();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("GET big"), expected);
    assert_eq!(c.cmd("BITCOUNT big"), count);
    assert_eq!(c.cmd("GETBIT big 997"), Int(1));
}
