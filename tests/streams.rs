//! The stream family (XADD, XRANGE, XREAD, consumer groups, XCLAIM, XINFO, ...) with Redis 7.0's
//! replies and errors, on 3 shards so that XREAD/XREADGROUP cross shards; and streams with their
//! groups surviving a restart from the journal.

mod common;

use common::resp::R::{self, Int, Nil};
use common::resp::{bulk, err, key_per_shard, ok, Conn, NOT_INTEGER, SYNTAX, WRONGTYPE};
use common::Server;

const SHARDS: usize = 3;
const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

fn server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no"])
}

/// `[id, [field, value...]]`.
fn entry(id: &str, fields: &[&str]) -> R {
    R::Array(vec![bulk(id), R::Array(fields.iter().map(bulk).collect())])
}

fn ids(reply: R) -> Vec<String> {
    let R::Array(items) = reply else {
        panic!("not an array: {reply:?}")
    };
    items
        .into_iter()
        .map(|item| match item {
            R::Array(mut kv) => match kv.remove(0) {
                R::Bulk(id) => String::from_utf8(id).unwrap(),
                other => panic!("not an id: {other:?}"),
            },
            R::Bulk(id) => String::from_utf8(id).unwrap(),
            other => panic!("not an entry: {other:?}"),
        })
        .collect()
}

/// The value of `name` in a flat `[name, value, ...]` reply (RESP2 maps).
fn field(reply: &R, name: &str) -> R {
    let R::Array(items) = reply else {
        panic!("not a map: {reply:?}")
    };
    let at = items
        .chunks(2)
        .position(|kv| kv[0] == bulk(name))
        .unwrap_or_else(|| panic!("no field {name} in {reply:?}"));
    items[at * 2 + 1].clone()
}

#[test]
fn xadd_orders_ids_and_refuses_ids_at_or_below_the_top() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(
        c.cmd("XADD s 0-0 a 1"),
        err("ERR The ID specified in XADD must be greater than 0-0")
    );
    assert_eq!(c.cmd("XADD s 1-1 a 1"), bulk("1-1"));
    let too_small =
        err("ERR The ID specified in XADD is equal or smaller than the target stream top item");
    assert_eq!(c.cmd("XADD s 1-1 a 1"), too_small);
    assert_eq!(c.cmd("XADD s 1-0 a 1"), too_small);
    assert_eq!(c.cmd("XADD s 1-* b 2"), bulk("1-2"));
    assert_eq!(c.cmd("XADD s 5-* c 3"), bulk("5-0"));
    assert_eq!(c.cmd("XADD s 4-* c 3"), too_small);
    assert_eq!(c.cmd("XADD s 6 d 4"), bulk("6-0"));
    assert_eq!(c.cmd("XADD s abc a 1"), err(INVALID_ID));
    assert_eq!(
        c.cmd("XADD s 7-0 a"),
        err("ERR wrong number of arguments for 'xadd' command")
    );
    // `*` takes the wall clock, above any small explicit ID.
    let R::Bulk(auto) = c.cmd("XADD s * e 5") else {
        panic!("no id")
    };
    let auto = String::from_utf8(auto).unwrap();
    let ms: u64 = auto.split('-').next().unwrap().parse().unwrap();
    assert!(ms > 1_600_000_000_000, "{auto}");
    assert_eq!(c.cmd("XLEN s"), Int(5));
    assert_eq!(
        ids(c.cmd("XRANGE s - +")),
        vec!["1-1", "1-2", "5-0", "6-0", auto.as_str()]
    );
    assert_eq!(
        c.cmd("XADD s 18446744073709551615-18446744073709551615 z 1"),
        bulk("18446744073709551615-18446744073709551615")
    );
    assert_eq!(
        c.cmd("XADD s * a 1"),
        err("ERR The stream has exhausted the last possible ID, unable to add more items")
    );
    assert_eq!(c.cmd("XADD nokey NOMKSTREAM * a 1"), Nil);
    assert_eq!(c.cmd("EXISTS nokey"), Int(0));
    assert_eq!(c.cmd("TYPE s"), R::Status("stream".into()));
    assert_eq!(c.cmd("OBJECT ENCODING s"), bulk("stream"));
    c.cmd("SET str x");
    assert_eq!(c.cmd("XADD str * a 1"), err(WRONGTYPE));
    assert_eq!(c.cmd("XLEN str"), err(WRONGTYPE));
    assert_eq!(c.cmd("XRANGE str - +"), err(WRONGTYPE));
}

#[test]
fn xrange_and_xrevrange_take_exclusive_bounds_counts_and_partial_ids() {
    let server = server();
    let mut c = Conn::new(&server);
    for id in ["1-1", "1-2", "2-0", "3-5"] {
        c.cmd(&format!("XADD s {id} f {id}"));
    }
    assert_eq!(
        c.cmd("XRANGE s 1 1 COUNT 5"),
        R::Array(vec![
            entry("1-1", &["f", "1-1"]),
            entry("1-2", &["f", "1-2"])
        ])
    );
    assert_eq!(ids(c.cmd("XRANGE s (1-1 +")), vec!["1-2", "2-0", "3-5"]);
    assert_eq!(ids(c.cmd("XRANGE s - (3-5")), vec!["1-1", "1-2", "2-0"]);
    assert_eq!(ids(c.cmd("XREVRANGE s + - COUNT 2")), vec!["3-5", "2-0"]);
    assert_eq!(ids(c.cmd("XREVRANGE s (3-5 (1-1")), vec!["2-0", "1-2"]);
    assert_eq!(c.cmd("XRANGE s - + COUNT 0"), R::Array(vec![]));
    assert_eq!(c.cmd("XRANGE s 3 1"), R::Array(vec![]));
    assert_eq!(c.cmd("XRANGE nokey - +"), R::Array(vec![]));
    assert_eq!(
        c.cmd("XRANGE s (18446744073709551615-18446744073709551615 +"),
        err("ERR invalid start ID for the interval")
    );
    assert_eq!(
        c.cmd("XRANGE s 0 (0-0"),
        err("ERR invalid end ID for the interval")
    );
    assert_eq!(c.cmd("XRANGE s (- +"), err(INVALID_ID));
    assert_eq!(c.cmd("XRANGE s -1 +"), err(INVALID_ID));
    assert_eq!(c.cmd("XRANGE s - + COUNT x"), err(NOT_INTEGER));
    assert_eq!(c.cmd("XRANGE s - + LIMIT 1"), err(SYNTAX));
}

#[test]
fn a_stream_emptied_by_xdel_or_xtrim_stays_with_its_counters() {
    let server = server();
    let mut c = Conn::new(&server);
    for id in ["1-1", "2-1", "3-1"] {
        c.cmd(&format!("XADD s {id} f v"));
    }
    assert_eq!(c.cmd("XDEL s 2-1 9-9 2-1"), Int(1));
    assert_eq!(c.cmd("XDEL s x"), err(INVALID_ID));
    assert_eq!(c.cmd("XDEL nokey 1-1"), Int(0));
    assert_eq!(c.cmd("XDEL s 1-1 3-1"), Int(2));
    assert_eq!(c.cmd("XLEN s"), Int(0));
    assert_eq!(c.cmd("EXISTS s"), Int(1));
    let info = c.cmd("XINFO STREAM s");
    assert_eq!(field(&info, "length"), Int(0));
    assert_eq!(field(&info, "last-generated-id"), bulk("3-1"));
    assert_eq!(field(&info, "max-deleted-entry-id"), bulk("3-1"));
    assert_eq!(field(&info, "entries-added"), Int(3));
    assert_eq!(field(&info, "first-entry"), Nil);
    // The top ID is remembered: a smaller one is still refused.
    assert!(matches!(c.cmd("XADD s 2-0 f v"), R::Err(_)));
    assert_eq!(c.cmd("XADD s 4-0 f v"), bulk("4-0"));
    assert_eq!(c.cmd("XTRIM s MAXLEN 0"), Int(1));
    assert_eq!(c.cmd("EXISTS s"), Int(1));
    // Trimming does not move max-deleted-entry-id.
    assert_eq!(
        field(&c.cmd("XINFO STREAM s"), "max-deleted-entry-id"),
        bulk("3-1")
    );
}

#[test]
fn trimming_exact_and_approximate_with_limits() {
    let server = server();
    let mut c = Conn::new(&server);
    for i in 1..=250 {
        c.cmd(&format!("XADD s {i}-0 f v"));
    }
    // `~` removes whole nodes of 100 entries only: 250 → 150 for MAXLEN ~ 120.
    assert_eq!(c.cmd("XTRIM s MAXLEN ~ 120"), Int(100));
    assert_eq!(c.cmd("XLEN s"), Int(150));
    assert_eq!(c.cmd("XTRIM s MAXLEN ~ 120"), Int(0));
    assert_eq!(c.cmd("XTRIM s MAXLEN = 120"), Int(30));
    assert_eq!(ids(c.cmd("XRANGE s - + COUNT 1")), vec!["131-0"]);
    assert_eq!(c.cmd("XTRIM s MINID 200"), Int(69));
    assert_eq!(ids(c.cmd("XRANGE s - + COUNT 1")), vec!["200-0"]);
    // XADD trims after adding; LIMIT caps approximate trimming.
    assert_eq!(c.cmd("XADD s MAXLEN 3 300-0 f v"), bulk("300-0"));
    assert_eq!(ids(c.cmd("XRANGE s - +")), vec!["249-0", "250-0", "300-0"]);
    assert_eq!(c.cmd("XTRIM s MAXLEN ~ 0 LIMIT 2"), Int(0));
    assert_eq!(c.cmd("XTRIM s MAXLEN ~ 0"), Int(3));
    assert_eq!(
        c.cmd("XTRIM s MAXLEN 1 LIMIT 5"),
        err("ERR syntax error, LIMIT cannot be used without the special ~ option")
    );
    assert_eq!(
        c.cmd("XADD s LIMIT 5 * a 1"),
        err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
    );
    assert_eq!(
        c.cmd("XADD s MAXLEN -1 * a 1"),
        err("ERR The MAXLEN argument must be >= 0.")
    );
    assert_eq!(
        c.cmd("XADD s MAXLEN 1 MINID 1 * a 1"),
        err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
    );
    assert_eq!(c.cmd("XTRIM s FOO 1"), err(SYNTAX));
    assert_eq!(c.cmd("XTRIM nokey MAXLEN 0"), Int(0));
}

#[test]
fn xread_merges_keys_on_every_shard_in_argument_order() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("x", SHARDS);
    for (i, key) in keys.iter().enumerate() {
        c.cmd(&format!("XADD {key} {}-1 n {i}", i + 1));
        c.cmd(&format!("XADD {key} {}-2 n {i}", i + 1));
    }
    let line = format!(
        "XREAD COUNT 1 STREAMS {} {} {} nokey 0 0 0 0",
        keys[2], keys[0], keys[1]
    );
    let expected: Vec<R> = [2, 0, 1]
        .iter()
        .map(|&i| {
            R::Array(vec![
                bulk(&keys[i]),
                R::Array(vec![entry(&format!("{}-1", i + 1), &["n", &i.to_string()])]),
            ])
        })
        .collect();
    assert_eq!(c.cmd(&line), R::Array(expected));
    // `$` means "after the last entry": nothing new yet.
    let line = format!("XREAD STREAMS {} {} $ $", keys[0], keys[1]);
    assert_eq!(c.cmd(&line), Nil);
    let line = format!("XREAD STREAMS {} {} 1-1 $", keys[0], keys[1]);
    assert_eq!(
        c.cmd(&line),
        R::Array(vec![R::Array(vec![
            bulk(&keys[0]),
            R::Array(vec![entry("1-2", &["n", "0"])])
        ])])
    );
    assert_eq!(
        c.cmd("XREAD STREAMS s s 0"),
        err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.")
    );
    assert_eq!(c.cmd("XREAD FOO STREAMS s 0"), err(SYNTAX));
    assert_eq!(c.cmd("XREAD STREAMS s x"), err(INVALID_ID));
    c.cmd("SET str x");
    assert_eq!(c.cmd("XREAD STREAMS str 0"), err(WRONGTYPE));
}

#[test]
fn consumer_groups_deliver_once_track_pending_and_ack() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(
        c.cmd("XGROUP CREATE s g $"),
        err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
    );
    assert_eq!(c.cmd("XGROUP CREATE s g $ MKSTREAM"), ok());
    assert_eq!(
        c.cmd("XGROUP CREATE s g $"),
        err("BUSYGROUP Consumer Group name already exists")
    );
    for id in ["1-0", "2-0", "3-0"] {
        c.cmd(&format!("XADD s {id} f {id}"));
    }
    assert_eq!(
        c.cmd("XREADGROUP GROUP g alice COUNT 2 STREAMS s >"),
        R::Array(vec![R::Array(vec![
            bulk("s"),
            R::Array(vec![
                entry("1-0", &["f", "1-0"]),
                entry("2-0", &["f", "2-0"])
            ])
        ])])
    );
    assert_eq!(
        ids(field_1(c.cmd("XREADGROUP GROUP g bob STREAMS s >"))),
        vec!["3-0"]
    );
    assert_eq!(c.cmd("XREADGROUP GROUP g bob STREAMS s >"), Nil);
    // History: the consumer's own pending entries from an ID on.
    assert_eq!(
        ids(field_1(c.cmd("XREADGROUP GROUP g alice STREAMS s 0"))),
        vec!["1-0", "2-0"]
    );
    assert_eq!(
        c.cmd("XPENDING s g"),
        R::Array(vec![
            Int(3),
            bulk("1-0"),
            bulk("3-0"),
            R::Array(vec![
                R::Array(vec![bulk("alice"), bulk("2")]),
                R::Array(vec![bulk("bob"), bulk("1")]),
            ])
        ])
    );
    let R::Array(rows) = c.cmd("XPENDING s g - + 10 alice") else {
        panic!()
    };
    let R::Array(row) = &rows[0] else { panic!() };
    assert_eq!(
        (row[0].clone(), row[1].clone(), row[3].clone()),
        (bulk("1-0"), bulk("alice"), Int(2))
    );
    assert_eq!(c.cmd("XACK s g 1-0 1-0 9-0"), Int(1));
    assert_eq!(c.cmd("XACK s g x"), err(INVALID_ID));
    assert_eq!(c.cmd("XACK s nog 2-0"), Int(0));
    // A deleted pending entry reads back as [id, nil].
    c.cmd("XDEL s 2-0");
    assert_eq!(
        field_1(c.cmd("XREADGROUP GROUP g alice STREAMS s 0")),
        R::Array(vec![R::Array(vec![bulk("2-0"), Nil])])
    );
    let group = first(c.cmd("XINFO GROUPS s"));
    assert_eq!(field(&group, "consumers"), Int(2));
    assert_eq!(field(&group, "pending"), Int(2));
    assert_eq!(field(&group, "last-delivered-id"), bulk("3-0"));
    assert_eq!(field(&group, "entries-read"), Int(3));
    assert_eq!(field(&group, "lag"), Int(0));
    assert_eq!(
        c.cmd("XREADGROUP GROUP nog c STREAMS s >"),
        err("NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option")
    );
    assert_eq!(
        c.cmd("XREADGROUP GROUP g c STREAMS s $"),
        err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")
    );
    assert_eq!(
        c.cmd("XPENDING nokey g"),
        err("NOGROUP No such key 'nokey' or consumer group 'g'")
    );
    assert_eq!(c.cmd("XPENDING s g - +"), err(SYNTAX));
    assert_eq!(c.cmd("XGROUP CREATECONSUMER s g carol"), Int(1));
    assert_eq!(c.cmd("XGROUP CREATECONSUMER s g carol"), Int(0));
    assert_eq!(c.cmd("XGROUP DELCONSUMER s g alice"), Int(1));
    assert_eq!(
        c.cmd("XGROUP DELCONSUMER s nog alice"),
        err("NOGROUP No such consumer group 'nog' for key name 's'")
    );
    assert_eq!(c.cmd("XGROUP SETID s g 0 ENTRIESREAD 0"), ok());
    // XDEL left a tombstone after the group's ID: the lag cannot be known.
    assert_eq!(field(&first(c.cmd("XINFO GROUPS s")), "lag"), Nil);
    assert_eq!(c.cmd("XGROUP DESTROY s g"), Int(1));
    assert_eq!(c.cmd("XGROUP DESTROY s g"), Int(0));
}

fn first(reply: R) -> R {
    let R::Array(mut items) = reply else {
        panic!("not an array: {reply:?}")
    };
    items.remove(0)
}

/// The entries of the first key of an XREAD-style reply.
fn field_1(reply: R) -> R {
    let R::Array(mut kv) = first(reply) else {
        panic!("not a pair")
    };
    kv.remove(1)
}

#[test]
fn xreadgroup_across_shards_delivers_all_or_nothing() {
    let server = server();
    let mut c = Conn::new(&server);
    let keys = key_per_shard("q", SHARDS);
    for key in &keys[..2] {
        c.cmd(&format!("XADD {key} 1-0 f v"));
        assert_eq!(c.cmd(&format!("XGROUP CREATE {key} g 0")), ok());
    }
    c.cmd(&format!("XADD {} 1-0 f v", keys[2]));
    let line = format!(
        "XREADGROUP GROUP g c STREAMS {} {} {} > > >",
        keys[0], keys[1], keys[2]
    );
    assert!(matches!(c.cmd(&line), R::Err(e) if e.starts_with("NOGROUP")));
    // Nothing was delivered on the shards whose group exists.
    assert_eq!(
        c.cmd(&format!("XPENDING {} g", keys[0])),
        R::Array(vec![Int(0), Nil, Nil, Nil])
    );
    c.cmd(&format!("XGROUP CREATE {} g 0", keys[2]));
    let R::Array(found) = c.cmd(&line) else {
        panic!()
    };
    let order: Vec<R> = found.into_iter().map(first).collect();
    assert_eq!(order, keys.iter().map(bulk).collect::<Vec<_>>());
    for key in &keys {
        assert_eq!(c.cmd(&format!("XACK {key} g 1-0")), Int(1));
    }
}

#[test]
fn xclaim_and_xautoclaim_move_pending_entries() {
    let server = server();
    let mut c = Conn::new(&server);
    for id in ["1-0", "2-0", "3-0"] {
        c.cmd(&format!("XADD s {id} f {id}"));
    }
    c.cmd("XGROUP CREATE s g 0");
    c.cmd("XREADGROUP GROUP g a STREAMS s >");
    // Not idle long enough: nothing moves.
    assert_eq!(c.cmd("XCLAIM s g b 100000 1-0"), R::Array(vec![]));
    assert_eq!(
        c.cmd("XCLAIM s g b 0 1-0"),
        R::Array(vec![entry("1-0", &["f", "1-0"])])
    );
    assert_eq!(
        c.cmd("XCLAIM s g b 0 2-0 JUSTID RETRYCOUNT 7"),
        R::Array(vec![bulk("2-0")])
    );
    let R::Array(rows) = c.cmd("XPENDING s g - + 10") else {
        panic!()
    };
    let summary: Vec<(R, R, R)> = rows
        .iter()
        .map(|r| {
            let R::Array(r) = r else { panic!() };
            (r[0].clone(), r[1].clone(), r[3].clone())
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (bulk("1-0"), bulk("b"), Int(2)),
            (bulk("2-0"), bulk("b"), Int(7)),
            (bulk("3-0"), bulk("a"), Int(1)),
        ]
    );
    // A deleted entry leaves the PEL when claimed; FORCE creates a PEL entry.
    c.cmd("XDEL s 3-0");
    c.cmd("XADD s 4-0 f 4-0");
    assert_eq!(
        c.cmd("XAUTOCLAIM s g c 0 0 COUNT 10"),
        R::Array(vec![
            bulk("0-0"),
            R::Array(vec![
                entry("1-0", &["f", "1-0"]),
                entry("2-0", &["f", "2-0"])
            ]),
            R::Array(vec![bulk("3-0")]),
        ])
    );
    assert_eq!(c.cmd("XCLAIM s g d 0 4-0 JUSTID"), R::Array(vec![]));
    assert_eq!(
        c.cmd("XCLAIM s g d 0 4-0 FORCE JUSTID"),
        R::Array(vec![bulk("4-0")])
    );
    assert_eq!(
        c.cmd("XAUTOCLAIM s g e 0 0 COUNT 1 JUSTID"),
        R::Array(vec![
            bulk("2-0"),
            R::Array(vec![bulk("1-0")]),
            R::Array(vec![])
        ])
    );
    assert_eq!(
        c.cmd("XCLAIM s g b x 1-0"),
        err("ERR Invalid min-idle-time argument for XCLAIM")
    );
    assert_eq!(
        c.cmd("XCLAIM s g b 0 1-0 BOGUS"),
        err("ERR Unrecognized XCLAIM option 'BOGUS'")
    );
    assert_eq!(
        c.cmd("XAUTOCLAIM s g b 0 0 COUNT 0"),
        err("ERR COUNT must be > 0")
    );
    assert_eq!(
        c.cmd("XCLAIM nokey g b 0 1-0"),
        err("NOGROUP No such key 'nokey' or consumer group 'g'")
    );
}

#[test]
fn xinfo_answers_in_redis_shapes() {
    let server = server();
    let mut c = Conn::new(&server);
    c.cmd("XADD s 1-0 a 1");
    c.cmd("XADD s 2-0 b 2");
    c.cmd("XGROUP CREATE s g 0");
    c.cmd("XREADGROUP GROUP g c COUNT 1 STREAMS s >");
    let info = c.cmd("XINFO STREAM s");
    let R::Array(items) = &info else { panic!() };
    let names: Vec<R> = items.chunks(2).map(|kv| kv[0].clone()).collect();
    let expected = [
        "length",
        "radix-tree-keys",
        "radix-tree-nodes",
        "last-generated-id",
        "max-deleted-entry-id",
        "entries-added",
        "recorded-first-entry-id",
        "groups",
        "first-entry",
        "last-entry",
    ];
    assert_eq!(names, expected.iter().map(bulk).collect::<Vec<_>>());
    assert_eq!(field(&info, "first-entry"), entry("1-0", &["a", "1"]));
    assert_eq!(field(&info, "last-entry"), entry("2-0", &["b", "2"]));
    assert_eq!(field(&info, "groups"), Int(1));
    let full = c.cmd("XINFO STREAM s FULL COUNT 1");
    assert_eq!(
        field(&full, "entries"),
        R::Array(vec![entry("1-0", &["a", "1"])])
    );
    let group = first(field(&full, "groups"));
    assert_eq!(field(&group, "pel-count"), Int(1));
    assert_eq!(field(&group, "lag"), Int(1));
    let consumer = first(field(&group, "consumers"));
    assert_eq!(field(&consumer, "name"), bulk("c"));
    assert_eq!(field(&consumer, "pel-count"), Int(1));
    let consumer = first(c.cmd("XINFO CONSUMERS s g"));
    assert_eq!(field(&consumer, "pending"), Int(1));
    assert_eq!(c.cmd("XINFO STREAM nokey"), err("ERR no such key"));
    assert_eq!(
        c.cmd("XINFO CONSUMERS s nog"),
        err("NOGROUP No such consumer group 'nog' for key name 's'")
    );
    assert_eq!(
        c.cmd("XINFO STREAM s BOGUS"),
        err("ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP.")
    );
    // RESP3: maps.
    c.cmd("HELLO 3");
    assert!(matches!(c.cmd("XINFO STREAM s"), R::Map(_)));
    assert!(matches!(c.cmd("XREAD STREAMS s 0"), R::Map(_)));
}

#[test]
fn streams_groups_and_pels_survive_a_restart() {
    let mut server = Server::start(SHARDS, &["--appendonly", "yes"]);
    let mut c = Conn::new(&server);
    for i in 1..=5 {
        c.cmd(&format!("XADD s {i}-0 f {i}"));
    }
    c.cmd("XGROUP CREATE s g 0");
    c.cmd("XGROUP CREATE s other $");
    c.cmd("XREADGROUP GROUP g a COUNT 3 STREAMS s >");
    c.cmd("XACK s g 2-0");
    c.cmd("XCLAIM s g b 0 3-0 RETRYCOUNT 5");
    c.cmd("XDEL s 4-0");
    c.cmd("XTRIM s MINID 2");
    c.cmd("XGROUP CREATECONSUMER s g idle");
    let before: Vec<R> = ["XRANGE s - +", "XPENDING s g - + 10", "XINFO GROUPS s"]
        .iter()
        .map(|line| c.cmd(line))
        .collect();
    let stream_before = c.cmd("XINFO STREAM s FULL");
    drop(c);
    server.restart();
    let mut c = Conn::new(&server);
    let after: Vec<R> = ["XRANGE s - +", "XPENDING s g - + 10", "XINFO GROUPS s"]
        .iter()
        .map(|line| c.cmd(line))
        .collect();
    // Idle times in XPENDING move with the clock: compare everything else.
    let strip_idle = |r: &R| -> Vec<R> {
        let R::Array(rows) = r else { panic!() };
        rows.iter()
            .map(|row| {
                let R::Array(row) = row else { panic!() };
                R::Array(vec![row[0].clone(), row[1].clone(), row[3].clone()])
            })
            .collect()
    };
    assert_eq!(after[0], before[0]);
    assert_eq!(strip_idle(&after[1]), strip_idle(&before[1]));
    assert_eq!(after[2], before[2]);
    assert_eq!(c.cmd("XINFO STREAM s FULL"), stream_before);
    assert_eq!(
        c.cmd("XADD s 5-0 f v"),
        err("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    );
}

// ---- XSETID ---------------------------------------------------------------------------------

#[test]
fn xsetid_refuses_as_redis_7_0_does() {
    let server = Server::start(3, &["--appendonly", "no"]);
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("XADD s 5-1 a b"), bulk("5-1"));
    assert_eq!(
        c.cmd("XSETID s 1-1"),
        err("ERR The ID specified in XSETID is smaller than the target stream top item")
    );
    assert_eq!(c.cmd("XSETID nokey 1-1"), err("ERR no such key"));
    assert_eq!(
        c.cmd("XSETID s 5-1 ENTRIESADDED -1"),
        err("ERR entries_added must be positive")
    );
    assert_eq!(
        c.cmd("XSETID s 5-1 ENTRIESADDED 0"),
        err("ERR The entries_added specified in XSETID is smaller than the target stream length")
    );
    assert_eq!(
        c.cmd("XSETID s 5-1 MAXDELETEDID 6-0"),
        err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
    );
    assert_eq!(c.cmd("XSETID s 5-1 ENTRIESADDED"), err(SYNTAX));
    assert_eq!(c.cmd("XSETID s 5-1 BOGUS 1"), err(SYNTAX));
    assert_eq!(c.cmd("XSETID s 5-1 ENTRIESADDED x"), err(NOT_INTEGER));
    assert_eq!(
        c.cmd("XSETID s +"),
        err("ERR Invalid stream ID specified as stream command argument")
    );
    assert_eq!(c.cmd("SET str x"), ok());
    assert_eq!(c.cmd("XSETID str 9-0"), err(WRONGTYPE));
    // Nothing above changed the stream.
    let info = c.cmd("XINFO STREAM s");
    assert_eq!(field(&info, "last-generated-id"), bulk("5-1"));
    assert_eq!(field(&info, "entries-added"), Int(1));
    assert_eq!(field(&info, "max-deleted-entry-id"), bulk("0-0"));
}

/// XSETID moves the ID that XADD must exceed (`*` and `ms-*` too), and sets the counters XINFO
/// shows.
#[test]
fn xsetid_moves_the_last_id_that_xadd_builds_on() {
    let server = server();
    let mut c = Conn::new(&server);
    assert_eq!(c.cmd("XADD s 5-1 a b"), bulk("5-1"));
    assert_eq!(c.cmd("XSETID s 7-3"), ok());
    assert_eq!(
        c.cmd("XADD s 7-3 a b"),
        err("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    );
    assert_eq!(c.cmd("XADD s 7-* a b"), bulk("7-4"));
    // An ID in the future: `*` cannot use the clock and takes the next sequence.
    let future = "99999999999999";
    assert_eq!(
        c.cmd(&format!(
            "XSETID s {future}-5 ENTRIESADDED 40 MAXDELETEDID 6-0"
        )),
        ok()
    );
    assert_eq!(c.cmd("XADD s * a b"), bulk(format!("{future}-6")));
    let info = c.cmd("XINFO STREAM s");
    assert_eq!(
        field(&info, "last-generated-id"),
        bulk(format!("{future}-6"))
    );
    assert_eq!(field(&info, "entries-added"), Int(41));
    assert_eq!(field(&info, "max-deleted-entry-id"), bulk("6-0"));
    // An empty stream may go below its old last ID.
    assert_eq!(c.cmd("XADD e 9-0 a b"), bulk("9-0"));
    assert_eq!(c.cmd("XDEL e 9-0"), Int(1));
    assert_eq!(c.cmd("XSETID e 3"), ok());
    assert_eq!(c.cmd("XADD e 4-0 a b"), bulk("4-0"));
}

/// XSETID is journalled: after SIGKILL and a restart the stream keeps the IDs and counters set.
#[test]
fn xsetid_survives_sigkill_and_restart() {
    let mut server = Server::start(SHARDS, &["--appendonly", "yes"]);
    let mut c = Conn::new(&server);
    let keys = key_per_shard("xs", SHARDS);
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(c.call(&["XADD", key, "1-1", "f", "v"]), bulk("1-1"));
        let id = format!("{}-{}", 100 + i, i);
        let reply = c.call(&[
            "XSETID",
            key,
            &id,
            "ENTRIESADDED",
            "7",
            "MAXDELETEDID",
            "1-5",
        ]);
        assert_eq!(reply, ok());
    }
    drop(c);
    server.kill9();
    server.restart();
    let mut c = Conn::new(&server);
    for (i, key) in keys.iter().enumerate() {
        let info = c.call(&["XINFO", "STREAM", key]);
        assert_eq!(
            field(&info, "last-generated-id"),
            bulk(format!("{}-{}", 100 + i, i))
        );
        assert_eq!(field(&info, "entries-added"), Int(7));
        assert_eq!(field(&info, "max-deleted-entry-id"), bulk("1-5"));
        assert_eq!(field(&info, "length"), Int(1));
        assert_eq!(
            c.call(&["XADD", key, &format!("{}-*", 100 + i), "f", "v"]),
            bulk(format!("{}-{}", 100 + i, i + 1))
        );
    }
}
