//! The crash test for collections: writers change hashes, sets, lists and sorted sets (SMOVE,
//! LMOVE, BLPOP and ZUNIONSTORE across shards included), and transfer in MULTI/EXEC (SMOVE and
//! RENAME across shards inside)
//! while the server is killed with SIGKILL at random moments. After each restart every acknowledged
//! change must be there, and the change in flight at the kill must be entirely there or entirely
//! absent.
//!
//! `KEEL_CRASH_CYCLES` sets the number of kill cycles (default 4).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::Server;
use rand::{Rng, SeedableRng};

const HASHES: usize = 6;
const SETS: usize = 6;
const ZSETS: usize = 6;
const LISTS: usize = 4;

/// The acknowledged contents of every collection: hashes as field → value, sets as members.
#[derive(Clone, Default, Debug, PartialEq)]
struct Model {
    hashes: BTreeMap<String, BTreeMap<String, String>>,
    sets: BTreeMap<String, BTreeSet<String>>,
    /// Sorted sets as member → score (whole numbers, so they print exactly).
    zsets: BTreeMap<String, BTreeMap<String, i64>>,
    lists: BTreeMap<String, Vec<String>>,
}

fn hash_key(n: usize) -> String {
    format!("h:{n}")
}

fn set_key(n: usize) -> String {
    format!("s:{n}")
}

fn zset_key(n: usize) -> String {
    format!("z:{n}")
}

/// Removes the lowest (score, member) of a model sorted set, deleting it when emptied.
fn pop_min_model(zsets: &mut BTreeMap<String, BTreeMap<String, i64>>, key: &str) {
    let Some(zset) = zsets.get_mut(key) else {
        return;
    };
    let lowest = zset
        .iter()
        .min_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)))
        .map(|(m, _)| m.clone());
    if let Some(member) = lowest {
        zset.remove(&member);
    }
    if zset.is_empty() {
        zsets.remove(key);
    }
}

/// A sorted set change: ZADD, ZINCRBY, ZREM, ZPOPMIN, ZUNIONSTORE of two sorted sets into a third,
/// or ZMPOP over two (usually on different shards: atomic across them).
fn plan_zset(after: &mut Model, rng: &mut impl Rng, counter: u64) -> Vec<String> {
    let key = zset_key(rng.gen_range(0..ZSETS));
    let member = format!("m{}", rng.gen_range(0..10));
    match rng.gen_range(0..6) {
        4 => {
            pop_min_model(&mut after.zsets, &key);
            vec!["ZPOPMIN".into(), key]
        }
        5 => {
            let other = zset_key(rng.gen_range(0..ZSETS));
            let first = [&key, &other]
                .into_iter()
                .find(|k| after.zsets.contains_key(*k))
                .cloned();
            if let Some(first) = first {
                pop_min_model(&mut after.zsets, &first);
            }
            vec!["ZMPOP".into(), "2".into(), key, other, "MIN".into()]
        }
        0 => {
            let score = counter as i64 % 1000;
            let zset = after.zsets.entry(key.clone()).or_default();
            zset.insert(member.clone(), score);
            vec!["ZADD".into(), key, score.to_string(), member]
        }
        1 => {
            let by = rng.gen_range(-5..10);
            let zset = after.zsets.entry(key.clone()).or_default();
            *zset.entry(member.clone()).or_default() += by;
            vec!["ZINCRBY".into(), key, by.to_string(), member]
        }
        2 => {
            if let Some(zset) = after.zsets.get_mut(&key) {
                zset.remove(&member);
                if zset.is_empty() {
                    after.zsets.remove(&key);
                }
            }
            vec!["ZREM".into(), key, member]
        }
        3 => {
            let (a, b) = (
                zset_key(rng.gen_range(0..ZSETS)),
                zset_key(rng.gen_range(0..ZSETS)),
            );
            // AGGREGATE MAX keeps scores small: sums would double them, and past 2^53 the
            // model's integers and the server's doubles would part ways.
            let mut union = after.zsets.get(&a).cloned().unwrap_or_default();
            for (m, s) in after.zsets.get(&b).cloned().unwrap_or_default() {
                union.entry(m).and_modify(|v| *v = (*v).max(s)).or_insert(s);
            }
            if union.is_empty() {
                after.zsets.remove(&key);
            } else {
                after.zsets.insert(key.clone(), union);
            }
            vec![
                "ZUNIONSTORE".into(),
                key,
                "2".into(),
                a,
                b,
                "AGGREGATE".into(),
                "MAX".into(),
            ]
        }
        _ => unreachable!("six kinds of change"),
    }
}

fn list_key(n: usize) -> String {
    format!("l:{n}")
}

/// Pops up to `count` elements from one end of a model list, deleting it when emptied.
fn pop_model(lists: &mut BTreeMap<String, Vec<String>>, key: &str, left: bool, count: usize) {
    if let Some(list) = lists.get_mut(key) {
        for _ in 0..count.min(list.len()) {
            if left {
                list.remove(0);
            } else {
                list.pop();
            }
        }
        if list.is_empty() {
            lists.remove(key);
        }
    }
}

/// A list change: pushes, pops, a move between two lists (usually on two shards), a trim, or a
/// blocking pop from the first non-empty of two lists.
fn plan_list(after: &mut Model, rng: &mut impl Rng, counter: u64) -> Vec<String> {
    let key = list_key(rng.gen_range(0..LISTS));
    let left = rng.gen_bool(0.5);
    match rng.gen_range(0..5) {
        0 | 1 => {
            let list = after.lists.entry(key.clone()).or_default();
            let e = format!("e{counter}");
            if left {
                list.insert(0, e.clone());
            } else {
                list.push(e.clone());
            }
            vec![if left { "LPUSH" } else { "RPUSH" }.into(), key, e]
        }
        2 => {
            let count = rng.gen_range(1..3);
            pop_model(&mut after.lists, &key, left, count);
            let name = if left { "LPOP" } else { "RPOP" };
            vec![name.into(), key, count.to_string()]
        }
        3 => {
            let to = list_key(rng.gen_range(0..LISTS));
            let moved = after.lists.get(&key).and_then(|l| l.first().cloned());
            if let Some(e) = moved {
                pop_model(&mut after.lists, &key, true, 1);
                after.lists.entry(to.clone()).or_default().push(e);
            }
            vec!["LMOVE".into(), key, to, "LEFT".into(), "RIGHT".into()]
        }
        _ => {
            let other = list_key(rng.gen_range(0..LISTS));
            let first = [&key, &other]
                .into_iter()
                .find(|k| after.lists.contains_key(*k))
                .cloned();
            if let Some(k) = first {
                pop_model(&mut after.lists, &k, true, 1);
            }
            vec!["BLPOP".into(), key, other, "0.01".into()]
        }
    }
}

/// One change: its command, and the model after it if it is acknowledged.
struct Change {
    args: Vec<String>,
    after: Model,
}

fn plan(model: &Model, rng: &mut impl Rng, counter: u64) -> Change {
    let mut after = model.clone();
    let args = match rng.gen_range(0..12) {
        6..=8 => plan_list(&mut after, rng, counter),
        9..=11 => plan_zset(&mut after, rng, counter),
        0 | 1 => {
            let (k, f) = (
                hash_key(rng.gen_range(0..HASHES)),
                format!("f{}", rng.gen_range(0..8)),
            );
            let v = format!("v{counter}");
            after
                .hashes
                .entry(k.clone())
                .or_default()
                .insert(f.clone(), v.clone());
            vec!["HSET".into(), k, f, v]
        }
        2 => {
            let (k, f) = (
                hash_key(rng.gen_range(0..HASHES)),
                format!("f{}", rng.gen_range(0..8)),
            );
            if let Some(h) = after.hashes.get_mut(&k) {
                h.remove(&f);
                if h.is_empty() {
                    after.hashes.remove(&k);
                }
            }
            vec!["HDEL".into(), k, f]
        }
        3 => {
            let (k, m) = (
                set_key(rng.gen_range(0..SETS)),
                format!("m{}", rng.gen_range(0..12)),
            );
            after.sets.entry(k.clone()).or_default().insert(m.clone());
            vec!["SADD".into(), k, m]
        }
        4 => {
            let (k, m) = (
                set_key(rng.gen_range(0..SETS)),
                format!("m{}", rng.gen_range(0..12)),
            );
            if let Some(s) = after.sets.get_mut(&k) {
                s.remove(&m);
                if s.is_empty() {
                    after.sets.remove(&k);
                }
            }
            vec!["SREM".into(), k, m]
        }
        _ => {
            // SMOVE between two sets, usually on different shards: atomic across them.
            let (from, to) = (
                set_key(rng.gen_range(0..SETS)),
                set_key(rng.gen_range(0..SETS)),
            );
            let m = format!("m{}", rng.gen_range(0..12));
            if from != to && after.sets.get(&from).is_some_and(|s| s.contains(&m)) {
                let source = after.sets.get_mut(&from).unwrap();
                source.remove(&m);
                if source.is_empty() {
                    after.sets.remove(&from);
                }
                after.sets.entry(to.clone()).or_default().insert(m.clone());
            }
            vec!["SMOVE".into(), from, to, m]
        }
    };
    Change { args, after }
}

/// Writes until the kill; returns the acknowledged model and the state the change in flight
/// would have made.
fn write_until_killed(
    port: u16,
    seed: u64,
    mut model: Model,
    stop: &AtomicBool,
) -> (Model, Option<Model>) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let Ok(mut con) = client.get_connection() else {
        return (model, None);
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut counter = 0;
    while !stop.load(Ordering::Relaxed) {
        counter += 1;
        let change = plan(&model, &mut rng, counter);
        let mut cmd = redis::cmd(&change.args[0]);
        for arg in &change.args[1..] {
            cmd.arg(arg);
        }
        match cmd.query::<redis::Value>(&mut con) {
            Ok(_) => model = change.after,
            Err(e) if e.code().is_some() => panic!("{:?} failed: {e}", change.args),
            Err(_) => return (model, Some(change.after)),
        }
    }
    (model, None)
}

/// What the server holds now.
fn observe(con: &mut redis::Connection) -> Model {
    let mut seen = Model::default();
    for n in 0..HASHES {
        let h: BTreeMap<String, String> =
            redis::cmd("HGETALL").arg(hash_key(n)).query(con).unwrap();
        if !h.is_empty() {
            seen.hashes.insert(hash_key(n), h);
        }
    }
    for n in 0..SETS {
        let s: BTreeSet<String> = redis::cmd("SMEMBERS").arg(set_key(n)).query(con).unwrap();
        if !s.is_empty() {
            seen.sets.insert(set_key(n), s);
        }
    }
    for n in 0..ZSETS {
        let z: Vec<(String, i64)> = redis::cmd("ZRANGE")
            .arg(zset_key(n))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(con)
            .unwrap();
        if !z.is_empty() {
            seen.zsets.insert(zset_key(n), z.into_iter().collect());
        }
    }
    for n in 0..LISTS {
        let l: Vec<String> = redis::cmd("LRANGE")
            .arg(list_key(n))
            .arg(0)
            .arg(-1)
            .query(con)
            .unwrap();
        if !l.is_empty() {
            seen.lists.insert(list_key(n), l);
        }
    }
    seen
}

#[test]
fn acknowledged_collection_changes_survive_sigkill_and_in_flight_ones_are_all_or_nothing() {
    let cycles: usize = common::crash_cycles(4);
    let mut server = Server::start(3, &[]);
    let mut model = Model::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x636f6c6c);
    let mut changes_acknowledged = false;
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (stop, port, model) = (stop.clone(), server.port, model.clone());
            thread::spawn(move || write_until_killed(port, cycle as u64, model, &stop))
        };
        thread::sleep(Duration::from_millis(rng.gen_range(150..500)));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        let (acknowledged, in_flight) = writer.join().unwrap();
        changes_acknowledged |= acknowledged != model;
        server.restart();
        let seen = observe(&mut server.client());
        match in_flight {
            Some(applied) if seen == applied => model = applied,
            _ => {
                assert_eq!(
                    seen, acknowledged,
                    "cycle {cycle}: acknowledged changes lost, or a change half applied"
                );
                model = acknowledged;
            }
        }
    }
    assert!(changes_acknowledged, "the writer changed nothing");
}

/// Big collections under SIGKILL while snapshots write them out: one hash, set, sorted set and
/// list of `ELEMENTS` each (past the 4096 elements at which a snapshot writes a collection out in
/// parts), one writer changing them, and BGSAVE after BGSAVE, so that restarts load snapshots
/// taken while the writes went on. Every acknowledged change must be there after each restart.
/// Writes to the sorted set land while a snapshot writes it out; those to the others wait for
/// it, so nothing of theirs overlaps. This guards the whole path end to end; the copy-on-write
/// itself is checked by `snapshot::writer`'s unit tests and `tests/snapshots.rs`.
mod big {
    use super::*;

    const ELEMENTS: usize = 30_000;

    /// One change to one of the big collections.
    enum Op {
        ZIncr(usize),
        ZRem(usize),
        ZAddNew(u64),
        RPush(u64),
        LPop,
        RPop,
        HSet(usize, u64),
        HDel(usize),
        SAdd(u64),
        SRem(usize),
        /// The sorted set replaced by its lowest `KEPT_ON_REPLACE` members (ZRANGESTORE onto
        /// itself): a snapshot writing it out goes on in the old set, and the old one is freed
        /// in steps.
        ZReplace,
    }

    const KEPT_ON_REPLACE: usize = 5000;

    fn plan(rng: &mut impl Rng, counter: u64) -> Op {
        let old = rng.gen_range(0..ELEMENTS);
        if rng.gen_range(0..200) == 0 {
            return Op::ZReplace;
        }
        match rng.gen_range(0..10) {
            0 => Op::ZIncr(old),
            1 => Op::ZRem(old),
            2 => Op::ZAddNew(counter),
            3 => Op::RPush(counter),
            4 => Op::LPop,
            5 => Op::RPop,
            6 => Op::HSet(old, counter),
            7 => Op::HDel(old),
            8 => Op::SAdd(counter),
            _ => Op::SRem(old),
        }
    }

    fn args(op: &Op) -> Vec<String> {
        let (z, l, h, s) = (zset_key(0), list_key(0), hash_key(0), set_key(0));
        let strings = |items: &[&str]| items.iter().map(|i| i.to_string()).collect();
        match op {
            Op::ZIncr(i) => strings(&["ZINCRBY", &z, "1", &format!("m{i}")]),
            Op::ZRem(i) => strings(&["ZREM", &z, &format!("m{i}")]),
            Op::ZAddNew(n) => strings(&["ZADD", &z, &n.to_string(), &format!("new{n}")]),
            Op::RPush(n) => strings(&["RPUSH", &l, &format!("new{n}")]),
            Op::LPop => strings(&["LPOP", &l]),
            Op::RPop => strings(&["RPOP", &l]),
            Op::HSet(i, n) => strings(&["HSET", &h, &format!("f{i}"), &n.to_string()]),
            Op::HDel(i) => strings(&["HDEL", &h, &format!("f{i}")]),
            Op::SAdd(n) => strings(&["SADD", &s, &format!("new{n}")]),
            Op::SRem(i) => strings(&["SREM", &s, &format!("m{i}")]),
            Op::ZReplace => {
                let last = (KEPT_ON_REPLACE - 1).to_string();
                strings(&["ZRANGESTORE", &z, &z, "0", &last])
            }
        }
    }

    fn apply(model: &mut Model, op: &Op) {
        let (z, l, h, s) = (zset_key(0), list_key(0), hash_key(0), set_key(0));
        match op {
            Op::ZIncr(i) => {
                *model
                    .zsets
                    .entry(z)
                    .or_default()
                    .entry(format!("m{i}"))
                    .or_default() += 1
            }
            Op::ZRem(i) => {
                model.zsets.entry(z).or_default().remove(&format!("m{i}"));
            }
            Op::ZAddNew(n) => {
                model
                    .zsets
                    .entry(z)
                    .or_default()
                    .insert(format!("new{n}"), *n as i64);
            }
            Op::RPush(n) => model.lists.entry(l).or_default().push(format!("new{n}")),
            Op::LPop => pop_model(&mut model.lists, &l, true, 1),
            Op::RPop => pop_model(&mut model.lists, &l, false, 1),
            Op::HSet(i, n) => {
                model
                    .hashes
                    .entry(h)
                    .or_default()
                    .insert(format!("f{i}"), n.to_string());
            }
            Op::HDel(i) => {
                model.hashes.entry(h).or_default().remove(&format!("f{i}"));
            }
            Op::SAdd(n) => {
                model.sets.entry(s).or_default().insert(format!("new{n}"));
            }
            Op::SRem(i) => {
                model.sets.entry(s).or_default().remove(&format!("m{i}"));
            }
            Op::ZReplace => {
                let zset = model.zsets.entry(z).or_default();
                let mut lowest: Vec<(i64, String)> =
                    zset.iter().map(|(m, score)| (*score, m.clone())).collect();
                lowest.sort();
                lowest.truncate(KEPT_ON_REPLACE);
                *zset = lowest.into_iter().map(|(score, m)| (m, score)).collect();
            }
        }
    }

    /// The collections as first written, in the model and on the server.
    fn populate(con: &mut redis::Connection) -> Model {
        let mut model = Model::default();
        let range = |prefix: &'static str| (0..ELEMENTS).map(move |i| format!("{prefix}{i}"));
        model
            .zsets
            .insert(zset_key(0), range("m").zip(0..).collect());
        model.lists.insert(list_key(0), range("e").collect());
        model
            .hashes
            .insert(hash_key(0), range("f").map(|f| (f, "0".into())).collect());
        model.sets.insert(set_key(0), range("m").collect());
        for chunk in (0..ELEMENTS).collect::<Vec<_>>().chunks(5000) {
            let mut pipe = redis::pipe();
            for &i in chunk {
                pipe.zadd(zset_key(0), format!("m{i}"), i).ignore();
                pipe.rpush(list_key(0), format!("e{i}")).ignore();
                pipe.hset(hash_key(0), format!("f{i}"), "0").ignore();
                pipe.sadd(set_key(0), format!("m{i}")).ignore();
            }
            let _: () = pipe.query(con).unwrap();
        }
        model
    }

    /// Sends changes in pipelines of `BATCH` until the server goes away; returns the model of
    /// what was acknowledged and the pipeline in flight then (any first part of it may be in).
    fn write_until_killed(
        port: u16,
        seed: u64,
        mut model: Model,
        stop: &AtomicBool,
    ) -> (Model, Vec<Op>) {
        const BATCH: usize = 20;
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let Ok(mut con) = client.get_connection() else {
            return (model, Vec::new());
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut counter = seed << 32;
        while !stop.load(Ordering::Relaxed) {
            let ops: Vec<Op> = (0..BATCH)
                .map(|_| {
                    counter += 1;
                    plan(&mut rng, counter)
                })
                .collect();
            let mut pipe = redis::pipe();
            for op in &ops {
                let args = args(op);
                let mut cmd = redis::cmd(&args[0]);
                for arg in &args[1..] {
                    cmd.arg(arg);
                }
                pipe.add_command(cmd).ignore();
            }
            match pipe.query::<()>(&mut con) {
                Ok(()) => ops.iter().for_each(|op| apply(&mut model, op)),
                Err(e) if e.code().is_some() => panic!("a change failed: {e}"),
                Err(_) => return (model, ops),
            }
        }
        (model, Vec::new())
    }

    /// BGSAVE after BGSAVE until the server goes away.
    fn snapshot_until_killed(port: u16, stop: &AtomicBool) {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let Ok(mut con) = client.get_connection() else {
            return;
        };
        while !stop.load(Ordering::Relaxed) {
            // Refused while one runs (an error reply): the next try comes a little later.
            if let Err(e) = redis::cmd("BGSAVE").query::<redis::Value>(&mut con) {
                if e.code().is_none() {
                    return;
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn big_collections_keep_every_acknowledged_change_across_sigkill_during_snapshots() {
        let cycles: usize = common::crash_cycles(4);
        let mut server = Server::start(1, &[]);
        let mut model = populate(&mut server.client());
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x6269_6773);
        let mut snapshots_loaded = 0;
        for cycle in 0..cycles {
            let stop = Arc::new(AtomicBool::new(false));
            let writer = {
                let (stop, port, model) = (stop.clone(), server.port, model.clone());
                thread::spawn(move || write_until_killed(port, cycle as u64, model, &stop))
            };
            let saver = {
                let (stop, port) = (stop.clone(), server.port);
                thread::spawn(move || snapshot_until_killed(port, &stop))
            };
            thread::sleep(Duration::from_millis(rng.gen_range(300..900)));
            server.kill9();
            stop.store(true, Ordering::Relaxed);
            let (acknowledged, in_flight) = writer.join().unwrap();
            saver.join().unwrap();
            let published = std::fs::read_dir(server.dir.join("shard-0"))
                .unwrap()
                .filter_map(|e| e.unwrap().file_name().into_string().ok())
                .any(|name| name.starts_with("snapshot-") && name.ends_with(".kss"));
            snapshots_loaded += usize::from(published);
            server.restart();
            let seen = observe(&mut server.client());
            // What was acknowledged, then each longer first part of the pipeline in flight.
            let mut applied = acknowledged;
            let mut matched = seen == applied;
            for op in &in_flight {
                apply(&mut applied, op);
                matched |= seen == applied;
            }
            assert!(
                matched,
                "cycle {cycle}: acknowledged changes lost, or a change half applied"
            );
            model = seen;
        }
        // Recovery starts from the newest published snapshot.
        assert!(snapshots_loaded > 0, "no restart had a snapshot to load");
    }
}

/// Streams under SIGKILL: writers XADD to streams on every shard, read them through a consumer
/// group and acknowledge. What the server holds after a restart is compared with what was
/// acknowledged: every acknowledged entry is there, every acknowledged XACK is gone from the PEL,
/// and every delivered, unacknowledged entry is still pending (give or take the one in flight).
mod streams {
    use super::*;

    const STREAMS: usize = 3;

    fn stream_key(n: usize) -> String {
        format!("x:{n}")
    }

    /// Per stream: entries (id → value) and the group's pending IDs.
    #[derive(Clone, Default, Debug, PartialEq)]
    struct Acked {
        entries: BTreeMap<String, BTreeMap<String, String>>,
        pending: BTreeMap<String, BTreeSet<String>>,
    }

    enum InFlight {
        None,
        /// An XADD of this value to this stream.
        Add(String, String),
        /// An XREADGROUP on this stream (may have delivered one entry).
        Read(String),
        /// An XACK of this ID.
        Ack(String, String),
    }

    fn write_until_killed(
        port: u16,
        seed: u64,
        mut acked: Acked,
        stop: &AtomicBool,
    ) -> (Acked, InFlight) {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let Ok(mut con) = client.get_connection() else {
            return (acked, InFlight::None);
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut counter = 0u64;
        while !stop.load(Ordering::Relaxed) {
            counter += 1;
            let key = stream_key(rng.gen_range(0..STREAMS));
            let pending = acked.pending.entry(key.clone()).or_default();
            let step = rng.gen_range(0..3);
            if step == 0 || (step == 2 && pending.is_empty()) {
                let value = format!("v{seed}-{counter}");
                let reply: redis::RedisResult<String> = redis::cmd("XADD")
                    .arg(&key)
                    .arg("*")
                    .arg("f")
                    .arg(&value)
                    .query(&mut con);
                match reply {
                    Ok(id) => {
                        acked.entries.entry(key).or_default().insert(id, value);
                    }
                    Err(e) if e.code().is_some() => panic!("XADD failed: {e}"),
                    Err(_) => return (acked, InFlight::Add(key, value)),
                }
            } else if step == 1 {
                let reply: redis::RedisResult<redis::Value> = redis::cmd("XREADGROUP")
                    .arg(&["GROUP", "g", "c", "COUNT", "1", "STREAMS", &key, ">"])
                    .query(&mut con);
                match reply {
                    Ok(value) => {
                        if let Some(id) = first_id(&value) {
                            pending.insert(id);
                        }
                    }
                    Err(e) if e.code().is_some() => panic!("XREADGROUP failed: {e}"),
                    Err(_) => return (acked, InFlight::Read(key)),
                }
            } else {
                let id = pending.iter().next().unwrap().clone();
                let reply: redis::RedisResult<i64> = redis::cmd("XACK")
                    .arg(&key)
                    .arg("g")
                    .arg(&id)
                    .query(&mut con);
                match reply {
                    Ok(1) => {
                        pending.remove(&id);
                    }
                    Ok(n) => panic!("XACK of pending {id} answered {n}"),
                    Err(e) if e.code().is_some() => panic!("XACK failed: {e}"),
                    Err(_) => return (acked, InFlight::Ack(key, id)),
                }
            }
        }
        (acked, InFlight::None)
    }

    /// The ID of the one entry an XREADGROUP COUNT 1 reply carries.
    fn first_id(value: &redis::Value) -> Option<String> {
        use redis::Value::{Array, BulkString};
        let Array(streams) = value else { return None };
        let Array(pair) = streams.first()? else {
            return None;
        };
        let Array(entries) = pair.get(1)? else {
            return None;
        };
        let Array(entry) = entries.first()? else {
            return None;
        };
        match entry.first()? {
            BulkString(id) => Some(String::from_utf8(id.clone()).unwrap()),
            _ => None,
        }
    }

    fn observe(con: &mut redis::Connection) -> Acked {
        let mut seen = Acked::default();
        for n in 0..STREAMS {
            let key = stream_key(n);
            let entries: Vec<(String, BTreeMap<String, String>)> = redis::cmd("XRANGE")
                .arg(&key)
                .arg("-")
                .arg("+")
                .query(con)
                .unwrap();
            let entries = entries.into_iter().map(|(id, f)| (id, f["f"].clone()));
            seen.entries.insert(key.clone(), entries.collect());
            let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
                .arg(&[key.as_str(), "g", "-", "+", "100000"])
                .query(con)
                .unwrap();
            seen.pending
                .insert(key, rows.into_iter().map(|r| r.0).collect());
        }
        seen
    }

    /// Checks `seen` against `acked` allowing for the change in flight.
    fn check(cycle: usize, acked: &Acked, seen: &Acked, in_flight: &InFlight) {
        for n in 0..STREAMS {
            let key = stream_key(n);
            let (want, got) = (&acked.entries[&key], &seen.entries[&key]);
            for (id, value) in want {
                assert_eq!(
                    got.get(id),
                    Some(value),
                    "cycle {cycle}: acknowledged {key} {id} lost"
                );
            }
            let extra: Vec<&String> = got.keys().filter(|id| !want.contains_key(*id)).collect();
            match in_flight {
                InFlight::Add(k, value) if *k == key && extra.len() == 1 => {
                    assert_eq!(
                        &got[extra[0]], value,
                        "cycle {cycle}: {key} gained a stranger"
                    );
                }
                _ => assert!(
                    extra.is_empty(),
                    "cycle {cycle}: {key} has unacknowledged {extra:?}"
                ),
            }
            let want = &acked.pending[&key];
            let got = &seen.pending[&key];
            let missing: Vec<&String> = want.difference(got).collect();
            let added: Vec<&String> = got.difference(want).collect();
            match in_flight {
                InFlight::Ack(k, id) if *k == key => {
                    assert!(
                        missing.is_empty() || missing == vec![id],
                        "cycle {cycle}: {key} PEL lost {missing:?}"
                    );
                }
                _ => assert!(
                    missing.is_empty(),
                    "cycle {cycle}: {key} PEL lost {missing:?}"
                ),
            }
            match in_flight {
                InFlight::Read(k) if *k == key => {
                    assert!(added.len() <= 1, "cycle {cycle}: {added:?}")
                }
                _ => assert!(
                    added.is_empty(),
                    "cycle {cycle}: {key} PEL gained {added:?}"
                ),
            }
        }
    }

    #[test]
    fn acknowledged_stream_entries_deliveries_and_acks_survive_sigkill() {
        let cycles: usize = common::crash_cycles(4);
        let mut server = Server::start(3, &[]);
        {
            let mut con = server.client();
            for n in 0..STREAMS {
                let _: () = redis::cmd("XGROUP")
                    .arg(&["CREATE", &stream_key(n), "g", "$", "MKSTREAM"])
                    .query(&mut con)
                    .unwrap();
            }
        }
        let mut acked = observe(&mut server.client());
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x7374726d);
        let mut progressed = false;
        for cycle in 0..cycles {
            let stop = Arc::new(AtomicBool::new(false));
            let writer = {
                let (stop, port, acked) = (stop.clone(), server.port, acked.clone());
                thread::spawn(move || write_until_killed(port, cycle as u64, acked, &stop))
            };
            thread::sleep(Duration::from_millis(rng.gen_range(150..500)));
            server.kill9();
            stop.store(true, Ordering::Relaxed);
            let (now_acked, in_flight) = writer.join().unwrap();
            progressed |= now_acked != acked;
            server.restart();
            let seen = observe(&mut server.client());
            check(cycle, &now_acked, &seen, &in_flight);
            acked = seen;
        }
        assert!(progressed, "the writer changed nothing");
    }
}

const ACCOUNTS: usize = 6;
const ACCOUNT_START: i64 = 1000;
const TOKENS: usize = 4;

fn account_key(n: usize) -> String {
    format!("acct:{n}")
}

/// The set of the tokens account `n` holds.
fn tokens_key(n: usize) -> String {
    format!("tokens:{n}")
}

/// The one baton key, named after the account that holds it.
fn baton_key(n: usize) -> String {
    format!("baton:{n}")
}

/// What the transfer transactions change: balances, which account holds each token (moved by
/// SMOVE), and which account holds the baton (moved by RENAME) — the last two are coordinated
/// cross-shard commands inside the EXEC.
#[derive(Clone, Debug, PartialEq)]
struct Accounts {
    balances: Vec<i64>,
    tokens: Vec<usize>,
    baton: usize,
}

impl Accounts {
    fn start() -> Accounts {
        Accounts {
            balances: vec![ACCOUNT_START; ACCOUNTS],
            tokens: (0..TOKENS).map(|t| t % ACCOUNTS).collect(),
            baton: 0,
        }
    }
}

/// Transfers between accounts (on several shards) in MULTI/EXEC until the kill: an amount, a
/// token (SMOVE) and the baton (RENAME) move from one account to another in one transaction.
/// Returns the acknowledged state and the one the transaction in flight would have made.
fn transfer_until_killed(
    port: u16,
    seed: u64,
    mut state: Accounts,
    stop: &AtomicBool,
) -> (Accounts, Option<Accounts>) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let Ok(mut con) = client.get_connection() else {
        return (state, None);
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    while !stop.load(Ordering::Relaxed) {
        let token = rng.gen_range(0..TOKENS);
        let from = state.tokens[token];
        let to = (from + rng.gen_range(1..ACCOUNTS)) % ACCOUNTS;
        let amount: i64 = rng.gen_range(1..50);
        let mut after = state.clone();
        after.balances[from] -= amount;
        after.balances[to] += amount;
        after.tokens[token] = to;
        after.baton = to;
        let result: redis::RedisResult<(i64, i64, i64, String)> = redis::pipe()
            .atomic()
            .cmd("DECRBY")
            .arg(account_key(from))
            .arg(amount)
            .cmd("INCRBY")
            .arg(account_key(to))
            .arg(amount)
            .cmd("SMOVE")
            .arg(tokens_key(from))
            .arg(tokens_key(to))
            .arg(format!("t{token}"))
            .cmd("RENAME")
            .arg(baton_key(state.baton))
            .arg(baton_key(to))
            .query(&mut con);
        match result {
            Ok(replies) => {
                let expected = (after.balances[from], after.balances[to], 1, "OK".into());
                assert_eq!(replies, expected, "EXEC's replies");
                state = after;
            }
            Err(e) if e.code().is_some() => panic!("transfer failed: {e}"),
            Err(_) => return (state, Some(after)),
        }
    }
    (state, None)
}

fn observe_accounts(con: &mut redis::Connection) -> Accounts {
    let get = |con: &mut redis::Connection, key: String| -> Option<i64> {
        redis::cmd("GET").arg(key).query(con).unwrap()
    };
    let balances = (0..ACCOUNTS)
        .map(|n| get(con, account_key(n)).unwrap_or(0))
        .collect();
    let mut tokens = vec![usize::MAX; TOKENS];
    for n in 0..ACCOUNTS {
        let held: Vec<String> = redis::cmd("SMEMBERS")
            .arg(tokens_key(n))
            .query(con)
            .unwrap();
        for t in held {
            let t: usize = t[1..].parse().unwrap();
            assert_eq!(tokens[t], usize::MAX, "token {t} in two sets");
            tokens[t] = n;
        }
    }
    let batons: Vec<usize> = (0..ACCOUNTS)
        .filter(|&n| get(con, baton_key(n)).is_some())
        .collect();
    assert_eq!(batons.len(), 1, "the baton is at {batons:?}");
    Accounts {
        balances,
        tokens,
        baton: batons[0],
    }
}

#[test]
fn acknowledged_cross_shard_transactions_survive_sigkill_and_in_flight_ones_are_all_or_nothing() {
    let cycles: usize = common::crash_cycles(4);
    let mut server = Server::start(3, &[]);
    let mut state = Accounts::start();
    {
        let mut con = server.client();
        for n in 0..ACCOUNTS {
            let _: () = redis::cmd("SET")
                .arg(account_key(n))
                .arg(ACCOUNT_START)
                .query(&mut con)
                .unwrap();
        }
        for (t, &n) in state.tokens.iter().enumerate() {
            let _: i64 = redis::cmd("SADD")
                .arg(tokens_key(n))
                .arg(format!("t{t}"))
                .query(&mut con)
                .unwrap();
        }
        let _: () = redis::cmd("SET")
            .arg(baton_key(state.baton))
            .arg(1)
            .query(&mut con)
            .unwrap();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6d756c74);
    let mut transfers_acknowledged = false;
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (stop, port, state) = (stop.clone(), server.port, state.clone());
            thread::spawn(move || transfer_until_killed(port, cycle as u64, state, &stop))
        };
        thread::sleep(Duration::from_millis(rng.gen_range(150..500)));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        let (acknowledged, in_flight) = writer.join().unwrap();
        transfers_acknowledged |= acknowledged != state;
        server.restart();
        let seen = observe_accounts(&mut server.client());
        assert_eq!(
            seen.balances.iter().sum::<i64>(),
            ACCOUNT_START * ACCOUNTS as i64,
            "cycle {cycle}: a transaction half applied: {seen:?}"
        );
        match in_flight {
            Some(applied) if seen == applied => state = applied,
            _ => {
                assert_eq!(
                    seen, acknowledged,
                    "cycle {cycle}: acknowledged transfers lost, or the one in flight torn"
                );
                state = acknowledged;
            }
        }
    }
    assert!(transfers_acknowledged, "the writer transferred nothing");
}

/// The bitmap and HyperLogLog workload: SETBIT, BITFIELD INCRBY, SETRANGE, cross-shard BITOP and
/// PFADD under SIGKILL. Bitmaps are checked byte for byte; an HLL is checked by its registers
/// against a fresh HLL of the acknowledged elements.
mod bitmaps_and_hll {
    use super::*;

    const BITMAPS: usize = 4;
    const HLLS: usize = 3;

    #[derive(Clone, Default, Debug, PartialEq)]
    struct Model {
        bitmaps: BTreeMap<String, Vec<u8>>,
        hlls: BTreeMap<String, Vec<String>>,
    }

    fn bitmap_key(n: usize) -> String {
        format!("b:{n}")
    }

    fn hll_key(n: usize) -> String {
        format!("p:{n}")
    }

    /// Writes `patch` at `offset` of a model bitmap, zero-extending it.
    fn write(bytes: &mut Vec<u8>, offset: usize, patch: &[u8]) {
        if bytes.len() < offset + patch.len() {
            bytes.resize(offset + patch.len(), 0);
        }
        bytes[offset..offset + patch.len()].copy_from_slice(patch);
    }

    fn plan(model: &Model, rng: &mut impl Rng, counter: u64) -> (Vec<String>, Model) {
        let mut after = model.clone();
        let key = bitmap_key(rng.gen_range(0..BITMAPS));
        let args = match rng.gen_range(0..6) {
            0 => {
                let (offset, bit) = (rng.gen_range(0..400usize), rng.gen_range(0..2u8));
                let bytes = after.bitmaps.entry(key.clone()).or_default();
                let mut byte = bytes.get(offset / 8).copied().unwrap_or(0);
                let mask = 0x80 >> (offset % 8);
                byte = if bit == 1 { byte | mask } else { byte & !mask };
                write(bytes, offset / 8, &[byte]);
                vec!["SETBIT".into(), key, offset.to_string(), bit.to_string()]
            }
            1 => {
                let field = rng.gen_range(0..50usize);
                let bytes = after.bitmaps.entry(key.clone()).or_default();
                let byte = bytes.get(field).copied().unwrap_or(0).wrapping_add(1);
                write(bytes, field, &[byte]);
                let field = format!("#{field}");
                vec![
                    "BITFIELD".into(),
                    key,
                    "INCRBY".into(),
                    "u8".into(),
                    field,
                    "1".into(),
                ]
            }
            2 => {
                let offset = rng.gen_range(0..40usize);
                let patch = format!("r{}", counter % 100);
                write(
                    after.bitmaps.entry(key.clone()).or_default(),
                    offset,
                    patch.as_bytes(),
                );
                vec!["SETRANGE".into(), key, offset.to_string(), patch]
            }
            3 => {
                let (a, b) = (
                    bitmap_key(rng.gen_range(0..BITMAPS)),
                    bitmap_key(rng.gen_range(0..BITMAPS)),
                );
                let empty = Vec::new();
                let (x, y) = (
                    after.bitmaps.get(&a).unwrap_or(&empty),
                    after.bitmaps.get(&b).unwrap_or(&empty),
                );
                let len = x.len().max(y.len());
                let or: Vec<u8> = (0..len)
                    .map(|i| x.get(i).copied().unwrap_or(0) | y.get(i).copied().unwrap_or(0))
                    .collect();
                match or.is_empty() {
                    true => after.bitmaps.remove(&key),
                    false => after.bitmaps.insert(key.clone(), or),
                };
                vec!["BITOP".into(), "OR".into(), key, a, b]
            }
            _ => {
                let key = hll_key(rng.gen_range(0..HLLS));
                let element = format!("e{counter}");
                after
                    .hlls
                    .entry(key.clone())
                    .or_default()
                    .push(element.clone());
                vec!["PFADD".into(), key, element]
            }
        };
        (args, after)
    }

    fn write_until_killed(
        port: u16,
        seed: u64,
        mut model: Model,
        stop: &AtomicBool,
    ) -> (Model, Option<Model>) {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let Ok(mut con) = client.get_connection() else {
            return (model, None);
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut counter = 0;
        while !stop.load(Ordering::Relaxed) {
            counter += 1;
            let (args, after) = plan(&model, &mut rng, counter);
            let mut cmd = redis::cmd(&args[0]);
            for arg in &args[1..] {
                cmd.arg(arg);
            }
            match cmd.query::<redis::Value>(&mut con) {
                Ok(_) => model = after,
                Err(e) if e.code().is_some() => panic!("{args:?} failed: {e}"),
                Err(_) => return (model, Some(after)),
            }
        }
        (model, None)
    }

    /// The registers of the HLL at `key` (none when missing).
    fn registers(con: &mut redis::Connection, key: &str) -> Option<Vec<i64>> {
        redis::cmd("PFDEBUG").arg("GETREG").arg(key).query(con).ok()
    }

    /// Whether the server holds exactly what `model` says.
    fn holds(con: &mut redis::Connection, model: &Model) -> bool {
        for n in 0..BITMAPS {
            let key = bitmap_key(n);
            let seen: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(con).unwrap();
            if seen.as_ref() != model.bitmaps.get(&key) {
                return false;
            }
        }
        for n in 0..HLLS {
            let key = hll_key(n);
            let expected = model.hlls.get(&key).map(|elements| {
                let scratch = format!("{{{key}}}scratch");
                let _: () = redis::cmd("DEL").arg(&scratch).query(con).unwrap();
                let _: i64 = redis::cmd("PFADD")
                    .arg(&scratch)
                    .arg(elements)
                    .query(con)
                    .unwrap();
                registers(con, &scratch).unwrap()
            });
            if registers(con, &key) != expected {
                return false;
            }
        }
        true
    }

    #[test]
    fn acknowledged_bitmap_and_hll_writes_survive_sigkill_and_in_flight_ones_are_all_or_nothing() {
        let cycles: usize = common::crash_cycles(4);
        let mut server = Server::start(3, &[]);
        let mut model = Model::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x6269_7473);
        let mut changes_acknowledged = false;
        for cycle in 0..cycles {
            let stop = Arc::new(AtomicBool::new(false));
            let writer = {
                let (stop, port, model) = (stop.clone(), server.port, model.clone());
                thread::spawn(move || write_until_killed(port, cycle as u64, model, &stop))
            };
            thread::sleep(Duration::from_millis(rng.gen_range(150..500)));
            server.kill9();
            stop.store(true, Ordering::Relaxed);
            let (acknowledged, in_flight) = writer.join().unwrap();
            changes_acknowledged |= acknowledged != model;
            server.restart();
            let mut con = server.client();
            model = match in_flight {
                Some(applied) if holds(&mut con, &applied) => applied,
                _ => {
                    assert!(
                        holds(&mut con, &acknowledged),
                        "cycle {cycle}: acknowledged changes lost, or a change half applied"
                    );
                    acknowledged
                }
            };
        }
        assert!(changes_acknowledged, "the writer changed nothing");
    }
}
