//! Recovery replays the journals run by run: after many restarts, each run writing over the
//! keys of the earlier ones (plain writes, cross-shard MSETs and MULTI/EXEC, hash deltas,
//! deletes), with the number of shards changed between some of them, every key holds the value
//! of its last acknowledged write.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use common::{int, run, Server};

/// Keys each run writes; most are written again by later runs.
const STRING_KEYS: usize = 240;
const MSET_KEYS: usize = 90;
const HASH_KEYS: usize = 8;
/// Values this long make the journals span several of the tests' 1 MB segments.
const VALUE_PAD_BYTES: usize = 2000;

/// What the server must hold.
#[derive(Default)]
struct Model {
    strings: BTreeMap<String, String>,
    hashes: HashMap<String, BTreeMap<String, String>>,
}

impl Model {
    fn check(&self, con: &mut redis::Connection, context: &str) {
        for (key, expected) in &self.strings {
            let got: Option<String> = redis::cmd("GET").arg(key).query(con).unwrap();
            assert_eq!(got.as_ref(), Some(expected), "{key} {context}");
        }
        for (key, expected) in &self.hashes {
            let got: BTreeMap<String, String> = redis::cmd("HGETALL").arg(key).query(con).unwrap();
            assert_eq!(&got, expected, "{key} {context}");
        }
        let keys = self.strings.len() + self.hashes.len();
        assert_eq!(int(con, &["DBSIZE"]), keys as i64, "{context}");
    }
}

fn value(round: usize, i: usize) -> String {
    format!("r{round}:{i}:{}", "v".repeat(VALUE_PAD_BYTES))
}

/// One run's writes: every kind of record the replay must order against the other runs'.
fn write_round(con: &mut redis::Connection, model: &mut Model, round: usize) {
    for i in (0..STRING_KEYS).filter(|i| !(i + round).is_multiple_of(3)) {
        let (key, value) = (format!("k:{i}"), value(round, i));
        run(con, &["SET", &key, &value]);
        model.strings.insert(key, value);
    }
    for i in (round..STRING_KEYS).step_by(7) {
        let key = format!("k:{i}");
        run(con, &["DEL", &key]);
        model.strings.remove(&key);
    }
    // Cross-shard MSETs: one transaction part per shard touched.
    for j in 0..30 {
        let mut args = vec!["MSET".to_string()];
        for x in 0..4 {
            let key = format!("m:{}", (j * 4 + x + round) % MSET_KEYS);
            let value = value(round, j);
            args.extend([key.clone(), value.clone()]);
            model.strings.insert(key, value);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(con, &args);
    }
    // MULTI/EXEC over several shards, deleting a key another run wrote.
    for j in 0..15 {
        let (set_key, del_key) = (
            format!("t:{j}"),
            format!("m:{}", (j * 5 + round) % MSET_KEYS),
        );
        let value = value(round, j);
        redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&set_key)
            .arg(&value)
            .cmd("DEL")
            .arg(&del_key)
            .cmd("INCR")
            .arg("counter")
            .query::<redis::Value>(con)
            .unwrap();
        model.strings.insert(set_key, value);
        model.strings.remove(&del_key);
        let counter = model.strings.entry("counter".into()).or_insert("0".into());
        *counter = (counter.parse::<u64>().unwrap() + 1).to_string();
    }
    // Hash deltas: a field added per run, the one of two runs ago removed.
    for h in 0..HASH_KEYS {
        let key = format!("h:{h}");
        let fields = model.hashes.entry(key.clone()).or_default();
        run(
            con,
            &["HSET", &key, &format!("f{round}"), &format!("{round}")],
        );
        fields.insert(format!("f{round}"), format!("{round}"));
        if round >= 2 {
            run(con, &["HDEL", &key, &format!("f{}", round - 2)]);
            fields.remove(&format!("f{}", round - 2));
        }
    }
}

/// Journal segment files in every shard directory under `dir`.
fn journal_segments(dir: &Path) -> usize {
    let files_in = |d: PathBuf| {
        std::fs::read_dir(d)
            .unwrap()
            .map(|f| f.unwrap().file_name())
    };
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .flat_map(files_in)
        .filter(|name| name.to_string_lossy().ends_with(".seg"))
        .count()
}

#[test]
fn many_runs_with_shards_changes_replay_to_every_last_write() {
    // No automatic snapshots: the journals keep every run (a shards change still snapshots).
    let layouts = [3, 3, 3, 2, 2, 4, 4, 4, 3];
    let mut server = Server::start(layouts[0], &["--auto-aof-rewrite-percentage", "0"]);
    let mut model = Model::default();
    for (round, &shards) in layouts.iter().enumerate() {
        if round > 0 {
            server.set_arg("shards", &shards.to_string());
            server.restart();
        }
        let mut con = server.client();
        model.check(
            &mut con,
            &format!("after restart {round} ({shards} shards)"),
        );
        write_round(&mut con, &mut model, round);
        model.check(&mut con, &format!("in run {round}"));
    }
    server.restart();
    model.check(&mut server.client(), "after the last restart");
    // Else this test would not read runs back across segment boundaries.
    let segments = journal_segments(&server.dir);
    assert!(segments > server.shards, "{segments} journal segments");
    assert!(
        server.log().contains("records/s"),
        "the load line is logged: {}",
        server.log()
    );
}

/// `used_memory_rss` of `INFO memory`, in bytes.
fn rss_bytes(con: &mut redis::Connection) -> i64 {
    let info: String = redis::cmd("INFO").arg("memory").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory_rss:"))
        .expect("used_memory_rss")
        .parse()
        .unwrap()
}

/// Recovery reads each journal segment whole (64 MB at the default size) and frees it after:
/// the server must give that memory back rather than keep it (it kept all 64 MB before).
#[test]
fn restart_from_the_journal_gives_back_what_the_segments_were_read_into() {
    let mut server = Server::start(1, &["--journal-segment-size", "64mb"]);
    let mut con = server.client();
    for i in 0..200 {
        let pairs: Vec<String> = (0..10)
            .flat_map(|j| [format!("k:{i}:{j}"), "v".into()])
            .collect();
        redis::cmd("MSET")
            .arg(&pairs)
            .query::<()>(&mut con)
            .unwrap();
    }
    let before = rss_bytes(&mut con);
    server.restart();
    let mut con = server.client();
    assert_eq!(int(&mut con, &["DBSIZE"]), 2000);
    let after = rss_bytes(&mut con);
    assert!(
        after < before + 32 * 1024 * 1024,
        "RSS {before} bytes before the restart, {after} after"
    );
}
