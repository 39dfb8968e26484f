//! Latency diagnostics on a node of several shards: LATENCY HISTOGRAM, INFO latencystats,
//! SLOWLOG and LATENCY LATEST/HISTORY/RESET, each merging what every shard recorded.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{resp, Server};
use redis::{Connection, Value};

fn start() -> Server {
    Server::start(3, &["--appendonly", "no"])
}

fn config_set(con: &mut Connection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(con)
        .unwrap();
}

/// Sends `n` SETs and `n` GETs over keys that land on every shard.
fn set_and_get(con: &mut Connection, n: usize) {
    for i in 0..n {
        let _: () = redis::cmd("SET")
            .arg(format!("key:{i}"))
            .arg(i)
            .query(con)
            .unwrap();
        let _: Option<String> = redis::cmd("GET")
            .arg(format!("key:{i}"))
            .query(con)
            .unwrap();
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) => items,
        other => panic!("not an array: {other:?}"),
    }
}

/// LATENCY HISTOGRAM's RESP2 reply: command -> (calls, [(bucket upper bound, cumulative)]).
fn histograms(con: &mut Connection, names: &[&str]) -> BTreeMap<String, (i64, Vec<(i64, i64)>)> {
    let reply: Value = redis::cmd("LATENCY")
        .arg("HISTOGRAM")
        .arg(names)
        .query(con)
        .unwrap();
    let mut out = BTreeMap::new();
    for pair in items(&reply).chunks(2) {
        let fields = items(&pair[1]);
        assert_eq!(text(&fields[0]), "calls");
        assert_eq!(text(&fields[2]), "histogram_usec");
        let buckets = items(&fields[3])
            .chunks(2)
            .map(|b| (int(&b[0]), int(&b[1])))
            .collect();
        out.insert(text(&pair[0]), (int(&fields[1]), buckets));
    }
    out
}

fn calls(con: &mut Connection, name: &str) -> i64 {
    histograms(con, &[name]).get(name).map_or(0, |h| h.0)
}

/// Reads whatever arrives within a short quiet period.
fn read_quiet(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn latency_histogram_counts_every_call_with_cumulative_power_of_two_buckets() {
    let server = start();
    let mut con = server.client();
    set_and_get(&mut con, 30);
    let _: Option<String> = redis::cmd("GET").arg("missing").query(&mut con).unwrap();
    let all = histograms(&mut con, &["set", "get"]);
    assert_eq!(all.keys().collect::<Vec<_>>(), ["get", "set"]);
    assert_eq!(all["set"].0, 30);
    assert_eq!(all["get"].0, 31);
    for (calls, buckets) in all.values() {
        assert!(!buckets.is_empty());
        for pair in buckets.windows(2) {
            assert!(
                pair[1].0 > pair[0].0 && pair[1].1 > pair[0].1,
                "{buckets:?}"
            );
        }
        assert!(buckets
            .iter()
            .all(|(bound, _)| (*bound as u64).is_power_of_two()));
        assert_eq!(buckets.last().unwrap().1, *calls);
    }
    // A parent's name asks for its subcommands.
    let _: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("port")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        calls(&mut con, "config"),
        0,
        "no command is called 'config'"
    );
    assert!(histograms(&mut con, &["config"]).contains_key("config|get"));
}

#[test]
fn latency_histogram_is_a_map_of_maps_in_resp3() {
    let server = start();
    let mut con = server.client();
    set_and_get(&mut con, 4);
    let mut raw = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    raw.write_all(&resp(&["HELLO", "3"])).unwrap();
    read_quiet(&mut raw);
    raw.write_all(&resp(&["LATENCY", "HISTOGRAM", "set"]))
        .unwrap();
    let reply = read_quiet(&mut raw);
    let head = "%1\r\n$3\r\nset\r\n%2\r\n$5\r\ncalls\r\n:4\r\n$14\r\nhistogram_usec\r\n%";
    assert!(reply.starts_with(head), "{reply:?}");
    assert!(reply.ends_with(":4\r\n"), "{reply:?}");
}

#[test]
fn info_latencystats_prints_the_configured_percentiles_per_command() {
    let server = start();
    let mut con = server.client();
    set_and_get(&mut con, 10);
    config_set(&mut con, "latency-tracking-info-percentiles", "50 99.9");
    let info: String = redis::cmd("INFO")
        .arg("latencystats")
        .query(&mut con)
        .unwrap();
    assert!(info.starts_with("# Latencystats\r\n"), "{info}");
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix("latency_percentiles_usec_set:"))
        .unwrap_or_else(|| panic!("no set line: {info}"));
    let parts: Vec<&str> = line.split(',').collect();
    assert_eq!(parts.len(), 2, "{line}");
    let value = |p: &str, prefix: &str| -> f64 { p.strip_prefix(prefix).unwrap().parse().unwrap() };
    let (p50, p999) = (value(parts[0], "p50="), value(parts[1], "p99.9="));
    assert!(p50 >= 1.0 && p50 <= p999, "{line}");
    let bad: redis::RedisResult<()> = redis::cmd("CONFIG")
        .arg("SET")
        .arg("latency-tracking-info-percentiles")
        .arg("50 101")
        .query(&mut con);
    assert!(bad.is_err());
}

#[test]
fn latency_tracking_no_stops_recording_and_yes_resumes_it() {
    let server = start();
    let mut con = server.client();
    set_and_get(&mut con, 5);
    config_set(&mut con, "latency-tracking", "no");
    set_and_get(&mut con, 7);
    assert_eq!(calls(&mut con, "set"), 5);
    config_set(&mut con, "latency-tracking", "yes");
    set_and_get(&mut con, 2);
    assert_eq!(calls(&mut con, "set"), 7);
}

/// SLOWLOG GET's entries: (id, unix time, duration, args, client address, client name).
type Entry = (i64, i64, i64, Vec<String>, String, String);

fn slowlog_get(con: &mut Connection, count: &[&str]) -> Vec<Entry> {
    let reply: Value = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(count)
        .query(con)
        .unwrap();
    items(&reply)
        .iter()
        .map(|e| {
            let f = items(e);
            let args = items(&f[3]).iter().map(text).collect();
            (
                int(&f[0]),
                int(&f[1]),
                int(&f[2]),
                args,
                text(&f[4]),
                text(&f[5]),
            )
        })
        .collect()
}

fn slowlog_len(con: &mut Connection) -> i64 {
    redis::cmd("SLOWLOG").arg("LEN").query(con).unwrap()
}

#[test]
fn slowlog_logs_commands_of_every_shard_newest_first() {
    let server = start();
    let mut con = server.client();
    config_set(&mut con, "slowlog-log-slower-than", "0");
    let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut con).unwrap();
    set_and_get(&mut con, 20);
    let entries = slowlog_get(&mut con, &["-1"]);
    let sets: Vec<&Entry> = entries.iter().filter(|e| e.3[0] == "SET").collect();
    assert_eq!(sets.len(), 20);
    let shards: HashSet<i64> = sets.iter().map(|e| e.0 % 3).collect();
    assert_eq!(
        shards.len(),
        3,
        "ids interleave by the shard that logged them"
    );
    assert!(entries.windows(2).all(|w| w[0].1 >= w[1].1), "newest first");
    assert_eq!(entries[0].3, ["GET", "key:19"]);
    assert_eq!(sets[0].3, ["SET", "key:19", "19"]);
    assert_eq!(slowlog_get(&mut con, &[]).len(), 10);
    assert_eq!(slowlog_get(&mut con, &["2"]).len(), 2);
    let len = slowlog_len(&mut con);
    assert!(len >= 41, "{len}");
    let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut con).unwrap();
    // The RESET logs itself once it has emptied the log, as in Redis.
    assert_eq!(slowlog_len(&mut con), 1);
    let bad: redis::RedisResult<Value> = redis::cmd("SLOWLOG").arg("GET").arg("-2").query(&mut con);
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("count should be greater than or equal to -1"));
}

#[test]
fn slowlog_shortens_long_argument_lists_and_long_arguments() {
    let server = start();
    let mut con = server.client();
    config_set(&mut con, "slowlog-log-slower-than", "0");
    let keys: Vec<String> = (0..40).map(|i| format!("{{t}}k{i}")).collect();
    let _: i64 = redis::cmd("DEL").arg(&keys).query(&mut con).unwrap();
    let big = "x".repeat(200);
    let _: () = redis::cmd("SET")
        .arg("{t}big")
        .arg(&big)
        .query(&mut con)
        .unwrap();
    let entries = slowlog_get(&mut con, &["2"]);
    let set = &entries[0].3;
    assert_eq!(set[2], format!("{}... (72 more bytes)", &big[..128]));
    let del = &entries[1].3;
    assert_eq!(del.len(), 32);
    assert_eq!(del[30], "{t}k29");
    assert_eq!(del[31], "... (10 more arguments)");
}

#[test]
fn slowlog_names_the_client_of_commands_run_on_its_shard() {
    let server = start();
    let mut con = server.client();
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("probe")
        .query(&mut con)
        .unwrap();
    config_set(&mut con, "slowlog-log-slower-than", "0");
    let _: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("port")
        .query(&mut con)
        .unwrap();
    let entries = slowlog_get(&mut con, &["1"]);
    assert_eq!(entries[0].3, ["CONFIG", "GET", "port"]);
    assert!(entries[0].4.starts_with("127.0.0.1:"), "{:?}", entries[0]);
    assert_eq!(entries[0].5, "probe");
}

#[test]
fn latency_latest_records_a_command_over_the_threshold() {
    let server = start();
    let mut con = server.client();
    let latest: Value = redis::cmd("LATENCY").arg("LATEST").query(&mut con).unwrap();
    assert!(items(&latest).is_empty());
    config_set(&mut con, "latency-monitor-threshold", "1");
    let _: () = redis::cmd("DEBUG")
        .arg("SLEEP")
        .arg("0.01")
        .query(&mut con)
        .unwrap();
    let latest: Value = redis::cmd("LATENCY").arg("LATEST").query(&mut con).unwrap();
    let rows = items(&latest);
    assert_eq!(rows.len(), 1, "{latest:?}");
    let row = items(&rows[0]);
    assert_eq!(text(&row[0]), "command");
    // 10 ms of sleep, measured in ms: neither less nor wildly more (a mis-scaled stopwatch).
    assert!(
        (10..5000).contains(&int(&row[2])) && int(&row[3]) >= 10,
        "{row:?}"
    );
    let history: Value = redis::cmd("LATENCY")
        .arg("HISTORY")
        .arg("command")
        .query(&mut con)
        .unwrap();
    // LATEST's time is one of the history's samples. Not necessarily the first: on a loaded
    // machine a later command (LATEST itself) can take over 1 ms too, a second later.
    let sample_times: Vec<i64> = items(&history).iter().map(|s| int(&items(s)[0])).collect();
    assert!(
        sample_times.contains(&int(&row[1])),
        "{sample_times:?} {row:?}"
    );
    let doctor: String = redis::cmd("LATENCY").arg("DOCTOR").query(&mut con).unwrap();
    assert!(doctor.contains("command"), "{doctor}");
    // Off first: on a loaded machine any command (RESET itself) can take over 1 ms and be
    // recorded again.
    config_set(&mut con, "latency-monitor-threshold", "0");
    let reset: i64 = redis::cmd("LATENCY").arg("RESET").query(&mut con).unwrap();
    assert_eq!(reset, 1);
    let latest: Value = redis::cmd("LATENCY").arg("LATEST").query(&mut con).unwrap();
    assert!(items(&latest).is_empty());
}
