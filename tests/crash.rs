//! The crash test: concurrent writers record every acknowledged write while the server is killed
//! with SIGKILL at random moments; after each restart every acknowledged write must be there (with
//! its TTL as the same absolute deadline), a write in flight at the kill must be entirely there or
//! entirely absent (all of a multi-key write's keys, or none), and nothing that was never sent may
//! appear.
//!
//! The writers use every write family: SET (plain, PX, EXAT, PXAT), MSET and MSETNX across shards,
//! INCR/INCRBY, APPEND, DEL, RENAME across shards and within a slot, EXPIRE/PEXPIRE/PERSIST; one
//! writer works in database 1. Each writer owns its keys, so its model of them is exact and its
//! replies can be predicted. The shard count changes between some restarts, so recovery must
//! route every key by slot into the new layout.
//!
//! `KEEL_CRASH_CYCLES` sets the number of kill cycles (default 6, for CI; hundreds locally).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Server;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const WRITERS: usize = 5;
/// This writer works in database 1 (`SELECT 1`), the others in database 0.
const DB1_WRITER: usize = WRITERS - 1;
const KEYS_PER_WRITER: usize = 40;
const COUNTERS_PER_WRITER: usize = 8;
/// TTLs are long so that nothing expires during the test: a key with a TTL must survive.
const TTL_MS: u64 = 3_600_000;
/// Shard count after each restart, by cycle (cycle `c` restarts into `[(c + 1) % len]`): it
/// changes 3 -> 2 -> 4, then stays at 4 once, so both re-routing and same-layout restarts run.
const SHARD_LAYOUTS: [usize; 4] = [3, 2, 4, 4];
/// Tolerance on a deadline: the server's clock reading for a command is only known to lie between
/// the test's readings around it, give or take this.
const CLOCK_SLACK_MS: u64 = 25;

/// When a key expires, in unix ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deadline {
    None,
    /// Somewhere in `lo..=hi` (an absolute deadline has `lo == hi`; a relative TTL spans the time
    /// between sending the command and its reply).
    Within(u64, u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    value: String,
    deadline: Deadline,
}

/// A key's state: `None` = absent.
type State = Option<Entry>;

/// The acknowledged state of one writer's keys (a key never written is absent).
type Model = HashMap<String, State>;

/// The reply a write must get, as the model predicts it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expected {
    Ok,
    Int(i64),
}

/// One write, with the state of every key it may change once it has happened.
#[derive(Clone, Debug)]
struct Write {
    args: Vec<String>,
    reply: Expected,
    after: Vec<(String, State)>,
    /// The deadlines in `after` were set relative to the server's clock (EXPIRE, SET PX).
    relative_ttl: bool,
}

/// What a key looks like on the server.
#[derive(Debug)]
struct Observed {
    value: Option<String>,
    expire_at_ms: i64,
    ttl_ms: i64,
}

/// The last of a writer's string keys share one slot (a `{tag}`): a RENAME between two of them is
/// logged as the move itself, not the value.
const TAGGED_KEYS_PER_WRITER: usize = 8;

fn key(writer: usize, n: usize) -> String {
    match n >= KEYS_PER_WRITER - TAGGED_KEYS_PER_WRITER {
        true => format!("{{w{writer}}}:key:{n}"),
        false => format!("w{writer}:key:{n}"),
    }
}

fn counter(writer: usize, n: usize) -> String {
    format!("w{writer}:ctr:{n}")
}

fn writer_keys(writer: usize) -> Vec<String> {
    let strings = (0..KEYS_PER_WRITER).map(|n| key(writer, n));
    strings
        .chain((0..COUNTERS_PER_WRITER).map(|n| counter(writer, n)))
        .collect()
}

fn db_of(writer: usize) -> usize {
    if writer == DB1_WRITER {
        1
    } else {
        0
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn state(model: &Model, k: &str) -> State {
    model.get(k).cloned().flatten()
}

fn matches(expected: &State, seen: &Observed) -> bool {
    let Some(entry) = expected else {
        return seen.value.is_none();
    };
    if seen.value.as_deref() != Some(entry.value.as_str()) {
        return false;
    }
    match entry.deadline {
        Deadline::None => seen.expire_at_ms == -1,
        Deadline::Within(lo, hi) => {
            let lo = lo.saturating_sub(CLOCK_SLACK_MS) as i64;
            let hi = (hi + CLOCK_SLACK_MS) as i64;
            seen.ttl_ms > 0 && (lo..=hi).contains(&seen.expire_at_ms)
        }
    }
}

/// Plans the next write from the model (what the writer knows is on the server).
struct Planner<'a> {
    rng: StdRng,
    writer: usize,
    model: &'a Model,
}

impl Planner<'_> {
    fn plan(&mut self, value: String, now_ms: u64) -> Write {
        match self.rng.gen_range(0..100) {
            0..=19 => self.set(value, Deadline::None, vec![], false),
            20..=27 => {
                let ttl_ms = TTL_MS + self.rng.gen_range(0..60_000);
                let at = now_ms + ttl_ms;
                let args = vec!["PX".into(), ttl_ms.to_string()];
                self.set(value, Deadline::Within(at, at), args, true)
            }
            28..=32 => {
                let at_s = now_ms / 1000 + TTL_MS / 1000 + self.rng.gen_range(0..60);
                let args = vec!["EXAT".into(), at_s.to_string()];
                self.set(
                    value,
                    Deadline::Within(at_s * 1000, at_s * 1000),
                    args,
                    false,
                )
            }
            33..=35 => {
                let at = now_ms + TTL_MS + self.rng.gen_range(0..60_000);
                let args = vec!["PXAT".into(), at.to_string()];
                self.set(value, Deadline::Within(at, at), args, false)
            }
            36..=47 => self.mset(value),
            48..=53 => self.msetnx(value),
            54..=63 => self.incr(),
            64..=71 => self.append(value),
            72..=79 => self.del(),
            80..=89 => self.rename(value, now_ms),
            90..=95 => self.expire(now_ms),
            _ => self.persist(),
        }
    }

    fn string_key(&mut self) -> String {
        key(self.writer, self.rng.gen_range(0..KEYS_PER_WRITER))
    }

    fn any_key(&mut self) -> String {
        let keys = writer_keys(self.writer);
        keys.choose(&mut self.rng).unwrap().clone()
    }

    /// `count` distinct string keys; with `prefer_absent`, absent ones where there are enough.
    fn distinct_keys(&mut self, count: usize, prefer_absent: bool) -> Vec<String> {
        let mut pool: Vec<String> = (0..KEYS_PER_WRITER).map(|n| key(self.writer, n)).collect();
        if prefer_absent {
            let absent: Vec<String> = pool
                .iter()
                .filter(|k| state(self.model, k).is_none())
                .cloned()
                .collect();
            if absent.len() >= count {
                pool = absent;
            }
        }
        pool.choose_multiple(&mut self.rng, count)
            .cloned()
            .collect()
    }

    fn set(&mut self, value: String, deadline: Deadline, opts: Vec<String>, rel: bool) -> Write {
        let k = self.string_key();
        let mut args = vec!["SET".into(), k.clone(), value.clone()];
        args.extend(opts);
        let after = vec![(k, Some(Entry { value, deadline }))];
        write(args, Expected::Ok, after, rel)
    }

    fn mset(&mut self, value: String) -> Write {
        let count = self.rng.gen_range(2..=4);
        let mut args = vec!["MSET".to_string()];
        let mut after = Vec::new();
        for (i, k) in self.distinct_keys(count, false).into_iter().enumerate() {
            let v = format!("{value}-{i}");
            args.extend([k.clone(), v.clone()]);
            after.push((k, Some(no_ttl(v))));
        }
        write(args, Expected::Ok, after, false)
    }

    /// MSETNX sets all its keys only when none exists.
    fn msetnx(&mut self, value: String) -> Write {
        let (count, prefer_absent) = (self.rng.gen_range(2..=3), self.rng.gen_bool(0.7));
        let keys = self.distinct_keys(count, prefer_absent);
        let any_exists = keys.iter().any(|k| state(self.model, k).is_some());
        let mut args = vec!["MSETNX".to_string()];
        let mut after = Vec::new();
        for (i, k) in keys.into_iter().enumerate() {
            let v = format!("{value}-nx{i}");
            args.extend([k.clone(), v.clone()]);
            let next = if any_exists {
                state(self.model, &k)
            } else {
                Some(no_ttl(v))
            };
            after.push((k, next));
        }
        write(args, Expected::Int(!any_exists as i64), after, false)
    }

    /// INCR/INCRBY keep the key's TTL.
    fn incr(&mut self) -> Write {
        let k = counter(self.writer, self.rng.gen_range(0..COUNTERS_PER_WRITER));
        let old = state(self.model, &k);
        let current: i64 = old.as_ref().map_or(0, |e| e.value.parse().unwrap());
        let by: i64 = if self.rng.gen_bool(0.5) {
            1
        } else {
            self.rng.gen_range(-100..100)
        };
        let args = if by == 1 {
            vec!["INCR".into(), k.clone()]
        } else {
            vec!["INCRBY".into(), k.clone(), by.to_string()]
        };
        let deadline = old.map_or(Deadline::None, |e| e.deadline);
        let value = (current + by).to_string();
        let after = vec![(k, Some(Entry { value, deadline }))];
        write(args, Expected::Int(current + by), after, false)
    }

    /// APPEND keeps the key's TTL.
    fn append(&mut self, value: String) -> Write {
        let k = self.string_key();
        let suffix = format!("+{value}");
        let next = match state(self.model, &k) {
            Some(e) => Entry {
                value: e.value + &suffix,
                deadline: e.deadline,
            },
            None => no_ttl(suffix.clone()),
        };
        let reply = Expected::Int(next.value.len() as i64);
        write(
            vec!["APPEND".into(), k.clone(), suffix],
            reply,
            vec![(k, Some(next))],
            false,
        )
    }

    fn del(&mut self) -> Write {
        let k = self.any_key();
        let existed = state(self.model, &k).is_some();
        let args = vec!["DEL".into(), k.clone()];
        write(args, Expected::Int(existed as i64), vec![(k, None)], false)
    }

    /// RENAME moves the value and its TTL; source and destination usually sit on different shards,
    /// but a tagged source goes to a tagged destination, in its slot.
    fn rename(&mut self, value: String, now_ms: u64) -> Write {
        let existing: Vec<String> = (0..KEYS_PER_WRITER)
            .map(|n| key(self.writer, n))
            .filter(|k| state(self.model, k).is_some())
            .collect();
        let Some(src) = existing.choose(&mut self.rng).cloned() else {
            return self.plan(value, now_ms);
        };
        let tagged = KEYS_PER_WRITER - TAGGED_KEYS_PER_WRITER..KEYS_PER_WRITER;
        let dst = loop {
            let k = match src.starts_with('{') {
                true => key(self.writer, self.rng.gen_range(tagged.clone())),
                false => self.string_key(),
            };
            if k != src {
                break k;
            }
        };
        let moved = state(self.model, &src);
        let args = vec!["RENAME".into(), src.clone(), dst.clone()];
        write(args, Expected::Ok, vec![(src, None), (dst, moved)], false)
    }

    fn expire(&mut self, now_ms: u64) -> Write {
        let k = self.any_key();
        let (args, ttl_ms) = if self.rng.gen_bool(0.5) {
            let s = TTL_MS / 1000 + self.rng.gen_range(0..60);
            (vec!["EXPIRE".into(), k.clone(), s.to_string()], s * 1000)
        } else {
            let ms = TTL_MS + self.rng.gen_range(0..60_000);
            (vec!["PEXPIRE".into(), k.clone(), ms.to_string()], ms)
        };
        let at = now_ms + ttl_ms;
        let next = state(self.model, &k).map(|e| Entry {
            value: e.value,
            deadline: Deadline::Within(at, at),
        });
        let reply = Expected::Int(next.is_some() as i64);
        write(args, reply, vec![(k, next)], true)
    }

    fn persist(&mut self) -> Write {
        let k = self.any_key();
        let old = state(self.model, &k);
        let had_ttl = old.as_ref().is_some_and(|e| e.deadline != Deadline::None);
        let next = old.map(|e| no_ttl(e.value));
        let args = vec!["PERSIST".into(), k.clone()];
        write(args, Expected::Int(had_ttl as i64), vec![(k, next)], false)
    }
}

fn no_ttl(value: String) -> Entry {
    Entry {
        value,
        deadline: Deadline::None,
    }
}

fn write(args: Vec<String>, reply: Expected, after: Vec<(String, State)>, rel: bool) -> Write {
    Write {
        args,
        reply,
        after,
        relative_ttl: rel,
    }
}

impl Write {
    /// A relative TTL's deadline is the server's clock when it ran the command plus the TTL: at
    /// the latest, the clock when the reply came (or the connection failed).
    fn widen_deadlines(&mut self, elapsed_ms: u64) {
        if !self.relative_ttl {
            return;
        }
        for (_, entry) in &mut self.after {
            if let Some(Entry {
                deadline: Deadline::Within(_, hi),
                ..
            }) = entry
            {
                *hi += elapsed_ms;
            }
        }
    }

    fn apply(self, model: &mut Model) {
        for (k, v) in self.after {
            model.insert(k, v);
        }
    }
}

fn reply_matches(expected: &Expected, reply: &redis::Value) -> bool {
    match (expected, reply) {
        (Expected::Ok, redis::Value::Okay) => true,
        (Expected::Ok, redis::Value::SimpleString(s)) => s == "OK",
        (Expected::Int(n), redis::Value::Int(m)) => n == m,
        _ => false,
    }
}

/// Runs writes until `stop` or a failed connection (the kill); returns the write in flight when
/// the connection failed. A wrong reply fails the test.
fn write_until_killed(
    port: u16,
    writer: usize,
    seed: u64,
    model: &mut Model,
    stop: &AtomicBool,
) -> Option<Write> {
    let url = format!("redis://127.0.0.1:{port}/{}", db_of(writer));
    let mut con = redis::Client::open(url).unwrap().get_connection().ok()?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sequence = 0u64;
    while !stop.load(Ordering::Relaxed) {
        sequence += 1;
        let value = format!("w{writer}-s{seed}-{sequence}");
        let sent_ms = unix_ms();
        let planner_rng = StdRng::seed_from_u64(rng.gen());
        let mut w = Planner {
            rng: planner_rng,
            writer,
            model,
        }
        .plan(value, sent_ms);
        let mut cmd = redis::cmd(&w.args[0]);
        cmd.arg(&w.args[1..]);
        let result: redis::RedisResult<redis::Value> = cmd.query(&mut con);
        w.widen_deadlines(unix_ms() - sent_ms);
        match result {
            Ok(reply) => {
                assert!(
                    reply_matches(&w.reply, &reply),
                    "writer {writer}: {:?} replied {reply:?}, the model expects {:?}",
                    w.args,
                    w.reply
                );
                w.apply(model);
            }
            // A reply from the server (an error string) is a wrong reply, not the kill.
            Err(e) if e.code().is_some() => panic!("writer {writer}: {:?} failed: {e}", w.args),
            Err(_) => return Some(w),
        }
    }
    None
}

/// Reads value, PEXPIRETIME and PTTL of `keys` in one pipeline.
fn observe(con: &mut redis::Connection, keys: &[String]) -> HashMap<String, Observed> {
    let mut pipe = redis::pipe();
    for k in keys {
        pipe.cmd("GET")
            .arg(k)
            .cmd("PEXPIRETIME")
            .arg(k)
            .cmd("PTTL")
            .arg(k);
    }
    let values: Vec<redis::Value> = pipe.query(con).unwrap();
    keys.iter()
        .zip(values.chunks(3))
        .map(|(k, v)| {
            let seen = Observed {
                value: redis::from_redis_value(&v[0]).unwrap(),
                expire_at_ms: redis::from_redis_value(&v[1]).unwrap(),
                ttl_ms: redis::from_redis_value(&v[2]).unwrap(),
            };
            (k.clone(), seen)
        })
        .collect()
}

/// Checks one writer's keys after a restart and folds the in-doubt write into the model if it
/// turned out durable.
fn check_writer(
    con: &mut redis::Connection,
    writer: usize,
    model: &mut Model,
    in_doubt: Option<Write>,
) {
    let actual = observe(con, &writer_keys(writer));
    let doubtful: HashSet<&String> = in_doubt
        .iter()
        .flat_map(|w| w.after.iter().map(|(k, _)| k))
        .collect();
    for (k, seen) in &actual {
        if !doubtful.contains(k) {
            let expected = state(model, k);
            assert!(
                matches(&expected, seen),
                "key {k}: acknowledged state {expected:?} lost or changed, found {seen:?}"
            );
        }
    }
    let Some(w) = in_doubt else {
        return;
    };
    let applied = w.after.iter().all(|(k, v)| matches(v, &actual[k]));
    let absent = w
        .after
        .iter()
        .all(|(k, _)| matches(&state(model, k), &actual[k]));
    let found: Vec<(&String, &Observed)> = w.after.iter().map(|(k, _)| (k, &actual[k])).collect();
    assert!(
        applied || absent,
        "write in flight at the kill is partly applied: {w:?}, found {found:?}"
    );
    if applied {
        w.apply(model);
    }
}

/// Every key in each database must be one its writers have acknowledged, and vice versa.
fn check_no_strangers(server: &Server, models: &[Model]) {
    for db in 0..2 {
        let url = format!("redis://127.0.0.1:{}/{db}", server.port);
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        let all: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
        for k in &all {
            // "w<writer>:..." or "{w<writer>}:...".
            let writer = k.trim_start_matches('{')[1..].split([':', '}']).next();
            let writer: usize = writer.unwrap().parse().unwrap();
            assert_eq!(db_of(writer), db, "key {k} in the wrong database");
            assert!(
                state(&models[writer], k).is_some(),
                "key {k} in db {db} was never acknowledged"
            );
        }
        let acknowledged: usize = (0..WRITERS)
            .filter(|&w| db_of(w) == db)
            .map(|w| models[w].values().filter(|v| v.is_some()).count())
            .sum();
        assert_eq!(
            all.len(),
            acknowledged,
            "db {db}: keys present vs keys acknowledged"
        );
    }
}

#[test]
fn every_acknowledged_write_survives_sigkill_and_in_flight_writes_are_all_or_nothing() {
    let cycles: usize = common::crash_cycles(6);
    let mut server = Server::start(SHARD_LAYOUTS[0], &[]);
    let mut models: Vec<Model> = (0..WRITERS).map(|_| Model::new()).collect();
    let mut rng = StdRng::seed_from_u64(0x6b65656c);
    let mut acknowledged_total = 0;
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = std::mem::take(&mut models)
            .into_iter()
            .enumerate()
            .map(|(w, mut model)| {
                let (stop, port, seed) = (stop.clone(), server.port, (cycle * WRITERS + w) as u64);
                thread::spawn(move || {
                    let in_doubt = write_until_killed(port, w, seed, &mut model, &stop);
                    (model, in_doubt)
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(rng.gen_range(150..600)));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        let results: Vec<(Model, Option<Write>)> =
            writers.into_iter().map(|t| t.join().unwrap()).collect();
        let shards = SHARD_LAYOUTS[(cycle + 1) % SHARD_LAYOUTS.len()];
        server.set_arg("shards", &shards.to_string());
        server.restart();
        for (w, (mut model, in_doubt)) in results.into_iter().enumerate() {
            let url = format!("redis://127.0.0.1:{}/{}", server.port, db_of(w));
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            check_writer(&mut con, w, &mut model, in_doubt);
            models.push(model);
        }
        check_no_strangers(&server, &models);
        acknowledged_total = models
            .iter()
            .map(|m| m.values().filter(|v| v.is_some()).count())
            .sum();
    }
    assert!(acknowledged_total > 0, "the writers wrote nothing");
}
