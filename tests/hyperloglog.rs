//! HyperLogLog (PFADD PFCOUNT PFMERGE PFDEBUG) in Redis's exact representation: the bytes of a
//! key and the counts equal Redis's for the same commands (checked against the installed
//! redis-server where there is one, and against values obtained from it and written down here),
//! on 3 shards so that multi-key PFCOUNT and PFMERGE cross shards.

mod common;

use common::reference::Reference;
use common::resp::R::{self, Int};
use common::resp::{bulk, err, key_per_shard, ok, Conn, WRONGTYPE};
use common::{info_field, Server};

const SHARDS: usize = 3;
const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";
/// The 16-byte header of a sparse HLL with a stale cached count of 0.
const SPARSE_STALE_HEADER: &[u8] = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80";

fn server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no"])
}

fn int(reply: R) -> i64 {
    match reply {
        Int(n) => n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn bytes(reply: R) -> Vec<u8> {
    match reply {
        R::Bulk(b) => b,
        other => panic!("not a bulk: {other:?}"),
    }
}

/// PFADD key e<from>..e<to> in one command.
fn add_range(c: &mut Conn, key: &str, prefix: &str, range: std::ops::Range<usize>) -> R {
    let mut args = vec!["PFADD".to_string(), key.to_string()];
    args.extend(range.map(|i| format!("{prefix}{i}")));
    c.call(&args)
}

#[test]
fn pfadd_creates_a_sparse_hll_with_redis_bytes_and_pfcount_caches_the_count() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("PFADD h a b c"), Int(1));
    assert_eq!(c.cmd("PFADD h a"), Int(0));
    // Bytes obtained from redis-server 7.0.15 after `PFADD h a b c`: stale cache, 11 opcodes.
    let mut expected = SPARSE_STALE_HEADER.to_vec();
    expected.extend_from_slice(b"\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a");
    assert_eq!(c.cmd("GET h"), bulk(&expected));
    assert_eq!(c.cmd("PFCOUNT h"), Int(3));
    // The count is cached in the header (little-endian, stale bit clear), as Redis does.
    expected[8] = 3;
    expected[15] = 0;
    assert_eq!(c.cmd("GET h"), bulk(&expected));
    assert_eq!(c.cmd("PFADD h d"), Int(1));
    assert_eq!(bytes(c.cmd("GET h"))[8..16], [3, 0, 0, 0, 0, 0, 0, 0x80]);
    assert_eq!(c.cmd("PFCOUNT h"), Int(4));
    // PFADD without elements creates an empty HLL (reply 1) or changes nothing (reply 0).
    assert_eq!(c.cmd("PFADD empty"), Int(1));
    let mut empty = SPARSE_STALE_HEADER.to_vec();
    empty.extend_from_slice(b"\x7f\xff");
    assert_eq!(c.cmd("GET empty"), bulk(&empty));
    assert_eq!(c.cmd("PFADD empty"), Int(0));
    assert_eq!(c.cmd("PFCOUNT empty"), Int(0));
    assert_eq!(c.cmd("PFCOUNT missing"), Int(0));
    assert_eq!(c.cmd("PFDEBUG ENCODING h"), R::Status("sparse".into()));
    assert_eq!(c.cmd("PFDEBUG DECODE empty"), bulk("Z:16384"));
}

#[test]
fn counts_equal_the_ones_redis_gave_and_stay_within_the_standard_error() {
    let server = server();
    let mut c = Conn::new(&server);
    // Counts obtained from redis-server 7.0.15 for the same elements.
    add_range(&mut c, "k200", "e", 0..200);
    assert_eq!(c.cmd("PFCOUNT k200"), Int(200));
    assert_eq!(c.cmd("STRLEN k200"), Int(513));
    add_range(&mut c, "k1000", "e", 0..1000);
    assert_eq!(c.cmd("PFCOUNT k1000"), Int(1008));
    for batch in 0..100 {
        add_range(&mut c, "big", "el", batch * 1000..(batch + 1) * 1000);
    }
    assert_eq!(c.cmd("PFDEBUG ENCODING big"), R::Status("dense".into()));
    assert_eq!(c.cmd("STRLEN big"), Int(12304));
    let count = int(c.cmd("PFCOUNT big"));
    assert_eq!(count, 99142);
    // Redis documents a standard error of 0.81%; allow three of them.
    assert!((100_000f64 - count as f64).abs() / 100_000.0 < 3.0 * 0.0081);
}

#[test]
fn a_sparse_hll_turns_dense_past_its_byte_limit() {
    let server = server();
    let mut c = Conn::new(&server);
    let mut i = 0;
    while c.cmd("PFDEBUG ENCODING h") != R::Status("dense".into()) {
        assert!(int(c.cmd("STRLEN h")) <= 3000);
        add_range(&mut c, "h", "x", i..i + 10);
        i += 10;
    }
    assert!(i > 1000, "turned dense after {i} elements");
    assert_eq!(c.cmd("STRLEN h"), Int(12304));
    assert_eq!(c.cmd("PFDEBUG TODENSE h"), Int(0));
    add_range(&mut c, "s", "x", 0..10);
    assert_eq!(c.cmd("PFDEBUG TODENSE s"), Int(1));
    assert_eq!(c.cmd("STRLEN s"), Int(12304));
    assert_eq!(c.cmd("PFCOUNT s"), Int(10));
}

#[test]
fn multi_key_pfcount_and_pfmerge_work_across_shards() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("hll", SHARDS);
    let (a, b, dst) = (&keys[0], &keys[1], &keys[2]);
    add_range(&mut c, a, "e", 0..600);
    add_range(&mut c, b, "e", 400..1000);
    add_range(&mut c, "{union}", "e", 0..1000);
    let union = int(c.cmd("PFCOUNT {union}"));
    assert_eq!(c.cmd(&format!("PFCOUNT {a} {b}")), Int(union));
    assert_eq!(c.cmd(&format!("PFCOUNT {a} {b} missing")), Int(union));
    assert_eq!(c.cmd(&format!("PFMERGE {dst} {a} {b}")), ok());
    assert_eq!(c.cmd(&format!("PFCOUNT {dst}")), Int(union));
    // Merged registers are the same as adding every element to one HLL.
    let merged = bytes(c.cmd(&format!("GET {dst}")));
    let direct = bytes(c.cmd("GET {union}"));
    assert_eq!(merged[16..], direct[16..]);
    // The destination is one of the sources.
    add_range(&mut c, dst, "new", 0..50);
    let before = int(c.cmd(&format!("PFCOUNT {dst}")));
    assert_eq!(c.cmd(&format!("PFMERGE {dst} {a}")), ok());
    assert_eq!(c.cmd(&format!("PFCOUNT {dst}")), Int(before));
    // PFMERGE of nothing creates an empty HLL.
    assert_eq!(c.cmd(&format!("PFMERGE {a}merged")), ok());
    assert_eq!(c.cmd(&format!("PFCOUNT {a}merged")), Int(0));
    // An error on any shard leaves the destination alone.
    assert_eq!(c.cmd(&format!("SET {b} plain")), ok());
    assert_eq!(c.cmd(&format!("PFMERGE {dst} {a} {b}")), err(NOT_HLL));
    assert_eq!(c.cmd(&format!("PFCOUNT {a} {b}")), err(NOT_HLL));
    assert_eq!(c.cmd(&format!("PFCOUNT {dst}")), Int(before));
}

#[test]
fn other_types_strings_and_corrupt_hlls_get_redis_errors() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("SADD set m"), Int(1));
    assert_eq!(c.cmd("SET text hello-this-is-not-an-hll"), ok());
    assert_eq!(c.cmd("SET number 12345"), ok());
    for key in ["text", "number"] {
        assert_eq!(c.cmd(&format!("PFADD {key} a")), err(NOT_HLL));
        assert_eq!(c.cmd(&format!("PFCOUNT {key}")), err(NOT_HLL));
        assert_eq!(c.cmd(&format!("PFMERGE {key} missing")), err(NOT_HLL));
    }
    assert_eq!(c.cmd("PFADD set a"), err(WRONGTYPE));
    assert_eq!(c.cmd("PFCOUNT set"), err(WRONGTYPE));
    // A dense header needs the exact dense length.
    let mut short_dense = b"HYLL\x00\0\0\0\0\0\0\0\0\0\0\0".to_vec();
    short_dense.extend_from_slice(&[0; 100]);
    assert_eq!(c.call(&[&b"SET"[..], b"dense", &short_dense]), ok());
    assert_eq!(c.cmd("PFCOUNT dense"), err(NOT_HLL));
    // A sparse HLL whose opcodes cover too few registers is corrupt, and is left as it was.
    let mut corrupt = SPARSE_STALE_HEADER.to_vec();
    corrupt.push(0x80);
    assert_eq!(c.call(&[&b"SET"[..], b"bad", &corrupt]), ok());
    assert_eq!(c.cmd("PFCOUNT bad"), err(CORRUPT));
    assert_eq!(c.cmd("PFADD bad a b"), err(CORRUPT));
    assert_eq!(c.cmd("PFCOUNT bad missing"), err(CORRUPT));
    assert_eq!(c.cmd("PFMERGE other bad"), err(CORRUPT));
    assert_eq!(c.cmd("GET bad"), bulk(&corrupt));
    assert_eq!(c.cmd("EXISTS other"), Int(0));
    // One byte appended to a valid HLL: an XZERO opcode cut short, which Redis reads with the
    // string's terminating zero as its second byte, and so runs past the last register.
    assert_eq!(c.cmd("PFADD grown a b c"), Int(1));
    assert_eq!(c.cmd("APPEND grown b"), Int(28));
    assert_eq!(c.cmd("PFCOUNT grown"), err(CORRUPT));
    assert_eq!(c.cmd("PFCOUNT grown missing"), err(CORRUPT));
    assert_eq!(c.cmd("PFMERGE other grown"), err(CORRUPT));
    assert_eq!(c.cmd("EXISTS other"), Int(0));
    assert_eq!(
        c.cmd("PFDEBUG GETREG missing"),
        err("ERR The specified key does not exist")
    );
}

/// The same commands on Keel and on redis-server: every reply and every key's bytes are equal,
/// through sparse updates, the turn to dense, cached counts and merges.
#[test]
fn bytes_and_counts_match_redis_server() {
    let Some(reference) = Reference::start() else {
        return;
    };
    let server = server();
    let (mut keel, mut redis) = (Conn::new(&server), Conn::at_port(reference.port));
    let mut script: Vec<Vec<String>> = Vec::new();
    let line = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    for round in 0..40usize {
        let mut add = line("PFADD h");
        add.extend((0..round * 7).map(|i| format!("e{round}-{i}")));
        script.push(add);
        script.push(line("GET h"));
        if round % 3 == 0 {
            script.push(line("PFCOUNT h"));
            script.push(line("GET h"));
        }
        script.push(line(&format!(
            "PFMERGE m{} h m{}",
            round % 4,
            (round + 1) % 4
        )));
        script.push(line(&format!("GET m{}", round % 4)));
        script.push(line("PFCOUNT m0 m1 m2 m3"));
    }
    script.push(line("PFDEBUG ENCODING h"));
    script.push(line("PFDEBUG GETREG m2"));
    script.push(line("GET m2"));
    for args in &script {
        assert_eq!(keel.call(args), redis.call(args), "{}", args[..2].join(" "));
    }
}

/// PFADD to a dense HLL logs the bytes of the registers it changes, not the 12 KB HLL; the
/// journal replays to the same bytes after a SIGKILL.
#[test]
fn pfadd_to_a_dense_hll_logs_a_few_bytes_and_replays_after_sigkill() {
    let mut server = Server::start(SHARDS, &[]);
    let mut c = Conn::new(&server);
    let mut con = server.client();
    for batch in 0..5 {
        add_range(&mut c, "h", "e", batch * 1000..(batch + 1) * 1000);
    }
    assert_eq!(c.cmd("PFDEBUG ENCODING h"), R::Status("dense".into()));
    const ADDS: usize = 300;
    let before: usize = info_field(&mut con, "journal_bytes_written")
        .parse()
        .unwrap();
    for i in 0..ADDS {
        c.cmd(&format!("PFADD h more{i}"));
    }
    let grown = info_field(&mut con, "journal_bytes_written")
        .parse::<usize>()
        .unwrap()
        - before;
    // Logging the whole HLL would be over 12 KB per PFADD.
    assert!(grown < ADDS * 8 * 1024, "journal grew {grown} bytes");
    let count = c.cmd("PFCOUNT h");
    let expected = c.cmd("GET h");
    add_range(&mut c, "sparse", "s", 0..50);
    let sparse = c.cmd("GET sparse");
    server.restart();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("GET h"), expected);
    assert_eq!(c.cmd("PFCOUNT h"), count);
    assert_eq!(c.cmd("GET sparse"), sparse);
}
