//! Element-level journaling: a write to a collection logs what it changed (a `Delta`), not the
//! whole collection, and replay rebuilds exactly what clients saw — after a SIGKILL, on top of a
//! snapshot, and when a collection was re-created after its TTL passed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::thread;
use std::time::Duration;

use common::{info_field, int, wait_bgsave_done, Server};
use redis::Commands;

const BIG_FIELDS: usize = 20_000;
const FIELD_VALUE: &str = "value-of-forty-bytes-for-every-field-xxx";
const SMALL_WRITES: usize = 200;
/// A single-field write costs at most a few pages of journal (one record, padded to 4 KiB per
/// batch); logging the whole 20,000-field hash would cost over 1 MB each.
const JOURNAL_BYTES_PER_SMALL_WRITE_MAX: usize = 16 * 1024;

fn journal_bytes(con: &mut redis::Connection) -> usize {
    info_field(con, "journal_bytes_written").parse().unwrap()
}

fn fill_hash_and_set(con: &mut redis::Connection, key: &str, set: &str) {
    for chunk in (0..BIG_FIELDS).collect::<Vec<_>>().chunks(1000) {
        let pairs: Vec<(String, &str)> = chunk
            .iter()
            .map(|i| (format!("f{i}"), FIELD_VALUE))
            .collect();
        let _: () = con.hset_multiple(key, &pairs).unwrap();
        let members: Vec<String> = chunk
            .iter()
            .map(|i| format!("member-{i}-{FIELD_VALUE}"))
            .collect();
        let _: () = con.sadd(set, members).unwrap();
    }
}

#[test]
fn single_element_writes_to_big_collections_log_the_element_not_the_collection() {
    let server = Server::start(1, &[]);
    let mut con = server.client();
    fill_hash_and_set(&mut con, "big-hash", "big-set");
    let before = journal_bytes(&mut con);
    for i in 0..SMALL_WRITES {
        let added: i64 = con.hset("big-hash", format!("new{i}"), "v").unwrap();
        assert_eq!(added, 1);
        let _: i64 = con.hdel("big-hash", format!("f{i}")).unwrap();
        let _: i64 = con.sadd("big-set", format!("new{i}")).unwrap();
        let _: i64 = con.srem("big-set", format!("new{i}")).unwrap();
    }
    let grown = journal_bytes(&mut con) - before;
    let bound = 4 * SMALL_WRITES * JOURNAL_BYTES_PER_SMALL_WRITE_MAX;
    assert!(
        grown <= bound,
        "journal grew {grown} bytes for {SMALL_WRITES} x 4 small writes"
    );
    assert_eq!(int(&mut con, &["HLEN", "big-hash"]), BIG_FIELDS as i64);
    assert_eq!(int(&mut con, &["SCARD", "big-set"]), BIG_FIELDS as i64);
}

type State = (BTreeMap<String, String>, BTreeSet<String>, i64);

fn state(con: &mut redis::Connection, hash: &str, set: &str) -> State {
    (
        con.hgetall(hash).unwrap(),
        con.smembers(set).unwrap(),
        con.pttl(hash).unwrap(),
    )
}

#[test]
fn deltas_replayed_after_sigkill_and_on_top_of_a_snapshot_rebuild_every_collection() {
    let mut server = Server::start(3, &[]);
    let mut con = server.client();
    fill_hash_and_set(&mut con, "h", "s");
    let _: bool = con.expire("h", 3600).unwrap();
    let _: () = redis::cmd("BGSAVE").query(&mut con).unwrap();
    wait_bgsave_done(&mut con);
    // After the snapshot: field changes, removals, increments and random pops, each a delta.
    for i in 0..50 {
        let _: i64 = con
            .hset("h", format!("f{i}"), format!("changed{i}"))
            .unwrap();
        let _: i64 = con.hdel("h", format!("f{}", 100 + i)).unwrap();
        let _: i64 = con.hincr("h", "counter", 3).unwrap();
        let _: f64 = redis::cmd("HINCRBYFLOAT")
            .arg("h")
            .arg("float")
            .arg("0.1")
            .query(&mut con)
            .unwrap();
        let _: i64 = con.srem("s", format!("member-{i}-{FIELD_VALUE}")).unwrap();
        let _: Vec<String> = redis::cmd("SPOP").arg("s").arg(2).query(&mut con).unwrap();
        let _: i64 = con.sadd("s", format!("added{i}")).unwrap();
    }
    // A collection emptied by deltas is deleted, and one created by a delta comes back.
    let _: i64 = con.sadd("emptied", "only").unwrap();
    let _: i64 = con.srem("emptied", "only").unwrap();
    let _: i64 = con.hset("fresh", "a", "1").unwrap();
    let before = state(&mut con, "h", "s");
    let fresh: BTreeMap<String, String> = con.hgetall("fresh").unwrap();
    server.kill9();
    server.restart();
    let mut con = server.client();
    let after = state(&mut con, "h", "s");
    assert_eq!(before.0, after.0, "hash fields");
    assert_eq!(before.1, after.1, "set members");
    assert!(
        (after.2 - before.2).abs() < 60_000,
        "TTL {} -> {}",
        before.2,
        after.2
    );
    assert_eq!(int(&mut con, &["EXISTS", "emptied"]), 0);
    let fresh_after: BTreeMap<String, String> = con.hgetall("fresh").unwrap();
    assert_eq!(fresh, fresh_after);
}

#[test]
fn a_collection_recreated_after_its_ttl_passed_comes_back_without_old_elements_or_ttl() {
    let mut server = Server::start(1, &[]);
    let mut con = server.client();
    let _: i64 = con
        .hset_multiple("h", &[("old1", "1"), ("old2", "2")])
        .map(|()| 0)
        .unwrap();
    let _: i64 = con.sadd("s", &["old1", "old2"]).unwrap();
    let _: bool = con.pexpire("h", 100).unwrap();
    let _: bool = con.pexpire("s", 100).unwrap();
    thread::sleep(Duration::from_millis(300));
    // The keys expired (no read touched them), so these writes create new collections.
    let _: i64 = con.hset("h", "new", "3").unwrap();
    let _: i64 = con.sadd("s", "new").unwrap();
    server.kill9();
    server.restart();
    let mut con = server.client();
    let hash: BTreeMap<String, String> = con.hgetall("h").unwrap();
    assert_eq!(hash, BTreeMap::from([("new".to_string(), "3".to_string())]));
    let set: BTreeSet<String> = con.smembers("s").unwrap();
    assert_eq!(set, BTreeSet::from(["new".to_string()]));
    assert_eq!(int(&mut con, &["PTTL", "h"]), -1);
    assert_eq!(int(&mut con, &["PTTL", "s"]), -1);
}

/// SETBIT and SETRANGE far into a missing key log the bytes they write, not the zeros before
/// them. Replay rebuilds the string, and a key that expired here (expiry is not logged) does not
/// lend the write its old bytes.
#[test]
fn a_range_write_creating_a_string_logs_the_range_and_replays_after_sigkill() {
    const BIT: usize = 80_000_000;
    const OFFSET: usize = 5_000_000;
    let mut server = Server::start(1, &[]);
    let mut con = server.client();
    let _: () = redis::cmd("SET")
        .arg(&["old", "0123456789abcdef", "PX", "100"])
        .query(&mut con)
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    let before = journal_bytes(&mut con);
    assert_eq!(int(&mut con, &["SETBIT", "bits", &BIT.to_string(), "1"]), 0);
    let len = int(&mut con, &["SETRANGE", "far", &OFFSET.to_string(), "hello"]);
    assert_eq!(len as usize, OFFSET + 5);
    // The key expired unread: the write makes a new string.
    assert_eq!(int(&mut con, &["SETRANGE", "old", "3", "xy"]), 5);
    let grown = journal_bytes(&mut con) - before;
    // A few small records (a batch is padded to 4 KiB at most), not 15 MB of zeros.
    assert!(grown <= 3 * 16 * 1024, "the journal grew {grown} bytes");
    server.kill9();
    server.restart();
    let mut con = server.client();
    assert_eq!(int(&mut con, &["STRLEN", "bits"]) as usize, BIT / 8 + 1);
    assert_eq!(int(&mut con, &["BITCOUNT", "bits"]), 1);
    assert_eq!(int(&mut con, &["GETBIT", "bits", &BIT.to_string()]), 1);
    let tail: String = con.getrange("far", OFFSET as isize, -1).unwrap();
    assert_eq!(tail, "hello");
    assert_eq!(int(&mut con, &["BITCOUNT", "far"]), 21);
    let old: Vec<u8> = con.get("old").unwrap();
    assert_eq!(old, b"\0\0\0xy");
    assert_eq!(int(&mut con, &["PTTL", "old"]), -1);
}

/// Equal element changes in one transaction are each logged: two `RPUSH l x` push twice and two
/// `LPOP q` pop twice after a SIGKILL too. (The journal once kept only the first of two equal
/// changes in a row, as it rightly does for a key logged whole in its final state.)
#[test]
fn equal_element_changes_in_one_transaction_are_each_replayed_after_sigkill() {
    let mut server = Server::start(1, &[]);
    let mut con = server.client();
    let _: () = con.rpush("{t}l", "a").unwrap();
    let _: () = con.rpush("{t}q", &["1", "2", "3", "4"]).unwrap();
    let _: () = con.sadd("{t}s", "a").unwrap();
    let mut pipe = redis::pipe();
    pipe.atomic()
        .rpush("{t}l", "x")
        .rpush("{t}l", "x")
        .lpush("{t}l", "y")
        .lpush("{t}l", "y")
        .cmd("LINSERT")
        .arg(&["{t}l", "BEFORE", "a", "z"])
        .cmd("LINSERT")
        .arg(&["{t}l", "BEFORE", "a", "z"])
        .lpop("{t}q", None)
        .lpop("{t}q", None)
        .sadd("{t}s", "b")
        .sadd("{t}s", "b");
    let _: redis::Value = pipe.query(&mut con).unwrap();
    let lists = |con: &mut redis::Connection| -> (Vec<String>, Vec<String>, BTreeSet<String>) {
        (
            con.lrange("{t}l", 0, -1).unwrap(),
            con.lrange("{t}q", 0, -1).unwrap(),
            con.smembers("{t}s").unwrap(),
        )
    };
    let before = lists(&mut con);
    assert_eq!(before.0, ["y", "y", "z", "z", "a", "x", "x"]);
    assert_eq!(before.1, ["3", "4"]);
    drop(con);
    server.kill9();
    server.restart();
    let mut con = server.client();
    assert_eq!(lists(&mut con), before);
}

/// A RENAME within one slot (`{tag}` keys) and a MOVE to another database journal the move, a
/// few bytes, not the value whole; after a SIGKILL the value, its TTL and the emptied source come
/// back as clients saw them. A RENAME across slots still logs the value whole.
#[test]
fn a_rename_or_move_within_a_slot_logs_the_move_and_replays_after_sigkill() {
    let mut server = Server::start(1, &[]);
    let mut con = server.client();
    fill_hash_and_set(&mut con, "{r}hash", "{r}set");
    let _: () = con.expire("{r}hash", 1000).unwrap();
    let _: () = con.set("{r}taken", "replaced by the rename").unwrap();
    let before = journal_bytes(&mut con);
    let _: () = con.rename("{r}hash", "{r}taken").unwrap();
    let _: () = con.rename("{r}taken", "{r}renamed").unwrap();
    let moved: bool = redis::cmd("MOVE")
        .arg(&["{r}set", "3"])
        .query(&mut con)
        .unwrap();
    assert!(moved);
    let grown = journal_bytes(&mut con) - before;
    assert!(
        grown <= 3 * JOURNAL_BYTES_PER_SMALL_WRITE_MAX,
        "journal grew {grown} bytes for two RENAMEs and a MOVE of 20,000-element values"
    );
    let _: i64 = con.hset("{r}renamed", "after", "the rename").unwrap();
    let before = journal_bytes(&mut con);
    let _: () = con.rename("{r}renamed", "{elsewhere}hash").unwrap();
    let grown = journal_bytes(&mut con) - before;
    assert!(
        grown > 20 * 1024,
        "across slots the value is logged whole ({grown} bytes)"
    );
    let _: () = con.rename("{elsewhere}hash", "{r}renamed").unwrap();
    drop(con);
    server.kill9();
    server.restart();
    let mut con = server.client();
    for gone in ["{r}hash", "{r}taken", "{r}set", "{elsewhere}hash"] {
        assert_eq!(int(&mut con, &["EXISTS", gone]), 0, "{gone}");
    }
    assert_eq!(
        int(&mut con, &["HLEN", "{r}renamed"]),
        BIG_FIELDS as i64 + 1
    );
    let after: String = con.hget("{r}renamed", "after").unwrap();
    assert_eq!(after, "the rename");
    let ttl = int(&mut con, &["TTL", "{r}renamed"]);
    assert!((990..=1000).contains(&ttl), "TTL {ttl}");
    let _: () = redis::cmd("SELECT").arg(3).query(&mut con).unwrap();
    assert_eq!(int(&mut con, &["SCARD", "{r}set"]), BIG_FIELDS as i64);
}
