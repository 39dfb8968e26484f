//! The list family (LPUSH, LPOP, LRANGE, LPOS, LMOVE, LMPOP, ...) with Redis 7's replies and
//! errors, on 3 shards so that LMOVE/RPOPLPUSH/LMPOP cross shards; and lists surviving a SIGKILL.

mod common;

use common::resp::R::{self, Int, Nil};
use common::resp::{arity, bulk, err, key_per_shard, ok, Conn, NOT_INTEGER, SYNTAX, WRONGTYPE};
use common::Server;

const SHARDS: usize = 3;

fn server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no"])
}

fn bulks(words: &str) -> R {
    R::Array(words.split_whitespace().map(bulk).collect())
}

fn ints(values: &[i64]) -> R {
    R::Array(values.iter().map(|&n| Int(n)).collect())
}

/// Sends one command and returns its raw reply bytes (for the RESP2 null array, `*-1`).
fn raw_reply(server: &Server, line: &str) -> String {
    let mut raw = server.raw();
    let args: Vec<&str> = line.split(' ').collect();
    raw.send(&common::resp(&args));
    String::from_utf8(raw.read_exact(5)).unwrap()
}

#[test]
fn pushes_and_pops_keep_order_and_the_last_pop_deletes_the_key() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("RPUSH l a b"), Int(2));
    assert_eq!(c.cmd("LPUSH l x y"), Int(4));
    assert_eq!(c.cmd("LRANGE l 0 -1"), bulks("y x a b"));
    assert_eq!(c.cmd("TYPE l"), R::Status("list".into()));
    assert_eq!(c.cmd("LPUSHX nol a"), Int(0));
    assert_eq!(c.cmd("RPUSHX l c d"), Int(6));
    assert_eq!(c.cmd("EXISTS nol"), Int(0));
    assert_eq!(c.cmd("LPOP l"), bulk("y"));
    assert_eq!(c.cmd("RPOP l 2"), bulks("d c"));
    assert_eq!(c.cmd("LPOP l 0"), R::Array(vec![]));
    assert_eq!(c.cmd("LLEN l"), Int(3));
    assert_eq!(c.cmd("LPOP l 10"), bulks("x a b"));
    assert_eq!(c.cmd("EXISTS l"), Int(0));
    assert_eq!(c.cmd("LPOP l"), Nil);
    assert_eq!(raw_reply(&server, "LPOP l 2"), "*-1\r\n");
    assert_eq!(
        c.cmd("LPOP l -1"),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(c.cmd("LPOP l 1 2"), arity("lpop"));
    assert_eq!(c.cmd("LLEN l"), Int(0));
}

#[test]
fn wrong_types_and_bad_arguments_get_redis_errors() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("SET s x");
    c.cmd("RPUSH l a");
    for line in [
        "LPUSH s a",
        "RPOP s",
        "LLEN s",
        "LRANGE s 0 1",
        "LINDEX s 0",
        "LSET s 0 a",
        "LREM s 0 a",
        "LTRIM s 0 1",
        "LPOS s a",
        "LINSERT s BEFORE a b",
    ] {
        assert_eq!(c.cmd(line), err(WRONGTYPE), "{line}");
    }
    assert_eq!(c.cmd("LRANGE l x 1"), err(NOT_INTEGER));
    assert_eq!(c.cmd("LINDEX l x"), err(NOT_INTEGER));
    assert_eq!(c.cmd("LREM l x a"), err(NOT_INTEGER));
    assert_eq!(c.cmd("LSET nol 0 a"), err("ERR no such key"));
    assert_eq!(c.cmd("LSET l 5 a"), err("ERR index out of range"));
    assert_eq!(c.cmd("LINSERT l MIDDLE a b"), err(SYNTAX));
    assert_eq!(c.cmd("LRANGE l 0 1 2"), arity("lrange"));
}

#[test]
fn index_range_set_insert_remove_and_trim_follow_redis() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("RPUSH l a b c a d a");
    assert_eq!(c.cmd("LRANGE l -2 100"), bulks("d a"));
    assert_eq!(c.cmd("LRANGE l 4 2"), bulks(""));
    assert_eq!(c.cmd("LINDEX l -1"), bulk("a"));
    assert_eq!(c.cmd("LINDEX l 6"), Nil);
    assert_eq!(c.cmd("LSET l -2 D"), ok());
    assert_eq!(c.cmd("LINSERT l BEFORE c X"), Int(7));
    assert_eq!(c.cmd("LINSERT l after c Y"), Int(8));
    assert_eq!(c.cmd("LINSERT l BEFORE zz X"), Int(-1));
    assert_eq!(c.cmd("LINSERT nol BEFORE a X"), Int(0));
    assert_eq!(c.cmd("LRANGE l 0 -1"), bulks("a b X c Y a D a"));
    assert_eq!(c.cmd("LREM l -2 a"), Int(2));
    assert_eq!(c.cmd("LRANGE l 0 -1"), bulks("a b X c Y D"));
    assert_eq!(c.cmd("LREM l 0 zz"), Int(0));
    assert_eq!(c.cmd("LTRIM l 1 -2"), ok());
    assert_eq!(c.cmd("LRANGE l 0 -1"), bulks("b X c Y"));
    assert_eq!(c.cmd("LTRIM l 5 10"), ok());
    assert_eq!(c.cmd("EXISTS l"), Int(0), "trimming everything deletes");
}

#[test]
fn lpos_finds_ranks_counts_and_respects_maxlen() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("RPUSH l a b c a b c a");
    assert_eq!(c.cmd("LPOS l a"), Int(0));
    assert_eq!(c.cmd("LPOS l a RANK 2"), Int(3));
    assert_eq!(c.cmd("LPOS l a RANK -1"), Int(6));
    assert_eq!(c.cmd("LPOS l a COUNT 0"), ints(&[0, 3, 6]));
    assert_eq!(c.cmd("LPOS l a RANK -2 COUNT 5"), ints(&[3, 0]));
    assert_eq!(c.cmd("LPOS l c COUNT 0 MAXLEN 3"), ints(&[2]));
    assert_eq!(c.cmd("LPOS l zz"), Nil);
    assert_eq!(c.cmd("LPOS l zz COUNT 1"), ints(&[]));
    assert_eq!(c.cmd("LPOS nol a"), Nil);
    assert_eq!(
        c.cmd("LPOS l a RANK 0"),
        err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
    );
    assert_eq!(
        c.cmd("LPOS l a COUNT -1"),
        err("ERR COUNT can't be negative")
    );
    assert_eq!(
        c.cmd("LPOS l a MAXLEN -1"),
        err("ERR MAXLEN can't be negative")
    );
    assert_eq!(c.cmd("LPOS l a RANK"), err(SYNTAX));
    assert_eq!(c.cmd("LPOS l a FOO 1"), err(SYNTAX));
}

#[test]
fn lmove_and_rpoplpush_move_elements_between_shards() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("mv", SHARDS);
    let (a, b) = (&keys[0], &keys[1]);
    c.call(&["RPUSH", a, "1", "2", "3"]);
    assert_eq!(c.call(&["LMOVE", a, b, "LEFT", "RIGHT"]), bulk("1"));
    assert_eq!(c.call(&["RPOPLPUSH", a, b]), bulk("3"));
    assert_eq!(c.call(&["LRANGE", b, "0", "-1"]), bulks("3 1"));
    assert_eq!(c.call(&["LMOVE", a, b, "RIGHT", "LEFT"]), bulk("2"));
    assert_eq!(
        c.call(&["EXISTS", a]),
        Int(0),
        "the source is deleted when empty"
    );
    assert_eq!(c.call(&["LMOVE", a, b, "LEFT", "LEFT"]), Nil);
    assert_eq!(c.call(&["LMOVE", a, b, "UP", "LEFT"]), err(SYNTAX));
    c.call(&["SET", a, "x"]);
    assert_eq!(c.call(&["LMOVE", b, a, "LEFT", "LEFT"]), err(WRONGTYPE));
    assert_eq!(c.call(&["LMOVE", a, b, "LEFT", "LEFT"]), err(WRONGTYPE));
    assert_eq!(
        c.call(&["LRANGE", b, "0", "-1"]),
        bulks("2 3 1"),
        "a failed move moves nothing"
    );
    // Rotation of one list.
    assert_eq!(c.call(&["LMOVE", b, b, "LEFT", "RIGHT"]), bulk("2"));
    assert_eq!(c.call(&["LRANGE", b, "0", "-1"]), bulks("3 1 2"));
}

#[test]
fn lmpop_pops_from_the_first_non_empty_list_across_shards() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("mp", SHARDS);
    c.call(&["RPUSH", &keys[2], "a", "b", "c"]);
    c.call(&["RPUSH", &keys[1], "x"]);
    let reply = c.call(&[
        "LMPOP", "3", &keys[0], &keys[2], &keys[1], "RIGHT", "COUNT", "2",
    ]);
    assert_eq!(reply, R::Array(vec![bulk(&keys[2]), bulks("c b")]));
    let reply = c.call(&["LMPOP", "2", &keys[0], &keys[1], "LEFT"]);
    assert_eq!(reply, R::Array(vec![bulk(&keys[1]), bulks("x")]));
    assert_eq!(
        raw_reply(&server, &format!("LMPOP 1 {} LEFT", keys[1])),
        "*-1\r\n"
    );
    c.call(&["SET", &keys[0], "s"]);
    let reply = c.call(&["LMPOP", "2", &keys[0], &keys[2], "LEFT"]);
    assert_eq!(reply, err(WRONGTYPE));
    assert_eq!(
        c.cmd("LMPOP 0 l LEFT"),
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(c.cmd("LMPOP 2 l LEFT"), err(SYNTAX));
    assert_eq!(
        c.cmd("LMPOP 1 l LEFT COUNT 0"),
        err("ERR count should be greater than 0")
    );
    assert_eq!(c.cmd("LMPOP 1 l LEFT COUNT 1 COUNT 2"), err(SYNTAX));
}

#[test]
fn object_encoding_is_listpack_until_8k_then_quicklist() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("RPUSH l a b c");
    assert_eq!(c.cmd("OBJECT ENCODING l"), bulk("listpack"));
    let big = "v".repeat(1000);
    for _ in 0..9 {
        c.call(&["RPUSH", "l", &big]);
    }
    assert_eq!(c.cmd("OBJECT ENCODING l"), bulk("quicklist"));
    c.cmd("LTRIM l 0 2");
    assert_eq!(c.cmd("OBJECT ENCODING l"), bulk("listpack"));
}

#[test]
fn lists_survive_a_kill_and_restart_with_their_encoding() {
    let mut server = Server::start(SHARDS, &["--appendonly", "yes"]);
    let mut c = Conn::new(&server);
    let keys = key_per_shard("dur", SHARDS);
    c.call(&["RPUSH", &keys[0], "a", "b", "c", "d"]);
    c.call(&["LMOVE", &keys[0], &keys[1], "LEFT", "LEFT"]);
    c.call(&["LSET", &keys[0], "0", "B"]);
    c.call(&["LINSERT", &keys[0], "AFTER", "B", "X"]);
    c.call(&["LREM", &keys[0], "1", "d"]);
    let big = "q".repeat(9000);
    c.call(&["RPUSH", &keys[2], &big]);
    c.call(&["LPUSH", &keys[2], "small"]);
    server.kill9();
    server.restart();
    let mut c = Conn::new(&server);
    assert_eq!(c.call(&["LRANGE", &keys[0], "0", "-1"]), bulks("B X c"));
    assert_eq!(c.call(&["LRANGE", &keys[1], "0", "-1"]), bulks("a"));
    assert_eq!(c.call(&["LINDEX", &keys[2], "0"]), bulk("small"));
    assert_eq!(c.call(&["OBJECT", "ENCODING", &keys[2]]), bulk("quicklist"));
}

fn journal_bytes_written(c: &mut Conn) -> i64 {
    let R::Bulk(info) = c.cmd("INFO persistence") else {
        panic!("INFO did not reply a bulk string");
    };
    String::from_utf8(info)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("journal_bytes_written:"))
        .expect("journal_bytes_written in INFO")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_push_or_pop_on_a_long_list_journals_its_edit_not_the_list() {
    let server = Server::start(SHARDS, &["--appendonly", "yes"]);
    let mut c = Conn::new(&server);
    let element = "e".repeat(20);
    let batch: Vec<&str> = std::iter::once("RPUSH")
        .chain(std::iter::once("queue"))
        .chain(std::iter::repeat_n(element.as_str(), 1000))
        .collect();
    for _ in 0..50 {
        c.call(&batch);
    }
    let list_bytes = 50 * 1000 * 20;
    let before = journal_bytes_written(&mut c);
    for _ in 0..10 {
        c.cmd("LPUSH queue x");
        assert_eq!(c.cmd("RPOP queue"), bulk(&element));
    }
    let logged = journal_bytes_written(&mut c) - before;
    assert!(
        logged < list_bytes / 10,
        "20 edits of a {list_bytes}-byte list logged {logged} bytes"
    );
    assert_eq!(c.cmd("LLEN queue"), Int(50_000));
}
