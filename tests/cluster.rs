//! Cluster mode: every shard listens on its own port and the node presents itself as a Redis
//! Cluster of primaries, one per shard, that real cluster clients can use.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use common::{resp, Raw, Server};
use redis::cluster_routing::get_slot;
use redis::{Commands, Value};

const SHARDS: usize = 3;
const SLOT_COUNT: usize = 16384;

fn cluster_server() -> Server {
    Server::start(SHARDS, &["--appendonly", "no", "--cluster-enabled", "yes"])
}

fn shard_port(server: &Server, shard: usize) -> u16 {
    server.port + 1 + shard as u16
}

fn connect(port: u16) -> redis::Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let con = client.get_connection().expect("connect to a shard port");
    con.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    con
}

/// How long a test waits for a reply: a server that stops answering fails the test instead of
/// hanging it.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

fn text(value: &Value) -> String {
    match value {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => panic!("expected a string, got {other:?}"),
    }
}

fn int(value: &Value) -> i64 {
    match value {
        Value::Int(n) => *n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn array(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        other => panic!("expected an array, got {other:?}"),
    }
}

/// A key whose slot (by the redis crate's own CRC16, not the server's) lies in `range`.
fn key_in(range: std::ops::RangeInclusive<u16>) -> String {
    (0..)
        .map(|i| format!("k{i}"))
        .find(|k| range.contains(&get_slot(k.as_bytes())))
        .unwrap()
}

/// (first slot, last slot, port, node id) of every range CLUSTER SLOTS lists.
fn slot_ranges(con: &mut redis::Connection) -> Vec<(u16, u16, u16, String)> {
    let reply: Value = redis::cmd("CLUSTER").arg("SLOTS").query(con).unwrap();
    array(&reply)
        .iter()
        .map(|range| {
            let range = array(range);
            assert_eq!(range.len(), 3, "a primary and no replicas: {range:?}");
            let node = array(&range[2]);
            assert_eq!(text(&node[0]), "127.0.0.1");
            (
                int(&range[0]) as u16,
                int(&range[1]) as u16,
                int(&node[1]) as u16,
                text(&node[2]),
            )
        })
        .collect()
}

#[test]
fn cluster_slots_cover_every_slot_once_and_name_the_owning_shard_port() {
    let server = cluster_server();
    let mut con = connect(shard_port(&server, 1));
    let ranges = slot_ranges(&mut con);
    assert_eq!(ranges.len(), SHARDS);
    let mut covered = vec![0u8; SLOT_COUNT];
    let shard_ports: Vec<u16> = (0..SHARDS).map(|i| shard_port(&server, i)).collect();
    for (first, last, port, id) in &ranges {
        assert!(first <= last);
        assert!(shard_ports.contains(port), "port {port} is no shard port");
        assert_eq!(id.len(), 40);
        for slot in *first..=*last {
            covered[slot as usize] += 1;
        }
        // The named port really owns the range: a key of it is served there without MOVED.
        let key = key_in(*first..=*last);
        let mut owner = connect(*port);
        let _: () = owner.set(&key, "v").unwrap();
        let got: String = owner.get(&key).unwrap();
        assert_eq!(got, "v");
    }
    assert!(covered.iter().all(|&n| n == 1), "every slot exactly once");
    let ports: std::collections::HashSet<u16> = ranges.iter().map(|r| r.2).collect();
    assert_eq!(ports.len(), SHARDS, "one range per shard port");
}

#[test]
fn shard_port_answers_moved_with_the_slot_and_owner_port() {
    let server = cluster_server();
    let mut con = connect(shard_port(&server, 0));
    let ranges = slot_ranges(&mut con);
    let mut raw = Raw::connect(shard_port(&server, 0));
    // "foo" hashes to 12182 in the Redis Cluster specification.
    assert_eq!(get_slot(b"foo"), 12182);
    let owner = ranges
        .iter()
        .find(|(first, last, ..)| (*first..=*last).contains(&12182))
        .unwrap();
    assert_ne!(owner.2, shard_port(&server, 0), "test needs foo elsewhere");
    let expected = format!("-MOVED 12182 127.0.0.1:{}\r\n", owner.2);
    assert_eq!(
        raw.roundtrip(&resp(&["GET", "foo"]), expected.len()),
        expected
    );
    // The connection stays usable, and the owner serves the key.
    assert_eq!(raw.roundtrip(&resp(&["PING"]), 7), "+PONG\r\n");
    let mut owner_con = connect(owner.2);
    let _: () = owner_con.set("foo", "bar").unwrap();
}

#[test]
fn shard_port_refuses_cross_slot_keys_but_takes_hash_tagged_ones() {
    let server = cluster_server();
    assert_ne!(get_slot(b"a"), get_slot(b"b"));
    let mut raw = Raw::connect(shard_port(&server, 0));
    let crossslot = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
    assert_eq!(
        raw.roundtrip(&resp(&["MSET", "a", "1", "b", "2"]), crossslot.len()),
        crossslot
    );
    let tag_slot = get_slot(b"t");
    let owner = (0..SHARDS)
        .find(|&i| {
            let start = i * SLOT_COUNT / SHARDS;
            let end = (i + 1) * SLOT_COUNT / SHARDS;
            (start..end).contains(&(tag_slot as usize))
        })
        .unwrap();
    let mut con = connect(shard_port(&server, owner));
    let _: () = redis::cmd("MSET")
        .arg(&["{t}a", "1", "{t}b", "2"])
        .query(&mut con)
        .unwrap();
    let got: Vec<String> = con.mget(&["{t}a", "{t}b"]).unwrap();
    assert_eq!(got, ["1", "2"]);
}

#[test]
fn cluster_client_routes_500_keys_to_their_owning_shards() {
    let server = cluster_server();
    let url = format!("redis://127.0.0.1:{}/", shard_port(&server, 2));
    let client = redis::cluster::ClusterClient::builder(vec![url])
        .response_timeout(REPLY_TIMEOUT)
        .build()
        .unwrap();
    let mut con = client.get_connection().unwrap();
    for i in 0..500 {
        let _: () = con.set(format!("user:{i}"), i).unwrap();
    }
    for i in 0..500 {
        let v: i64 = con.get(format!("user:{i}")).unwrap();
        assert_eq!(v, i);
    }
    // Each shard holds exactly the keys whose slots CLUSTER SLOTS gives it.
    let ranges = slot_ranges(&mut connect(shard_port(&server, 0)));
    let mut expected: HashMap<u16, i64> = HashMap::new();
    for i in 0..500 {
        let slot = get_slot(format!("user:{i}").as_bytes());
        let (_, _, port, _) = ranges
            .iter()
            .find(|(first, last, ..)| (*first..=*last).contains(&slot))
            .unwrap();
        *expected.entry(*port).or_default() += 1;
    }
    assert_eq!(expected.len(), SHARDS, "500 keys reach every shard");
    for (port, count) in expected {
        let n: i64 = redis::cmd("DBSIZE").query(&mut connect(port)).unwrap();
        assert_eq!(n, count, "keys on shard port {port}");
    }
}

/// Runs a Redis tool if it is installed; `None` (with a note) when it is not.
/// How long redis-cli or redis-benchmark may run: a server that stops answering fails the test
/// instead of hanging it.
const TOOL_TIMEOUT_S: &str = "60";

fn run_tool(tool: &str, args: &[String]) -> Option<std::process::Output> {
    if let Err(e) = Command::new(tool).arg("--version").output() {
        println!("skipped: {tool} is not available ({e})");
        return None;
    }
    let output = Command::new("timeout")
        .arg(TOOL_TIMEOUT_S)
        .arg(tool)
        .args(args)
        .output()
        .expect("run timeout(1)");
    assert_ne!(
        output.status.code(),
        Some(124),
        "{tool} {args:?} did not finish in {TOOL_TIMEOUT_S} s"
    );
    Some(output)
}

#[test]
fn redis_cli_in_cluster_mode_follows_moved() {
    let server = cluster_server();
    let port = shard_port(&server, 0).to_string();
    let cli = |args: &[&str]| {
        let mut all = vec!["-c".to_string(), "-p".into(), port.clone()];
        all.extend(args.iter().map(|s| s.to_string()));
        run_tool("redis-cli", &all)
    };
    // "foo" lives on the last shard, so shard 0 redirects.
    let Some(set) = cli(&["set", "foo", "from-cli"]) else {
        return;
    };
    assert_eq!(String::from_utf8_lossy(&set.stdout).trim(), "OK");
    let get = cli(&["get", "foo"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "from-cli");
    let owner: String = server.client().get("foo").unwrap();
    assert_eq!(owner, "from-cli");
}

#[test]
fn redis_benchmark_in_cluster_mode_completes() {
    let server = cluster_server();
    let args: Vec<String> = [
        "--cluster",
        "-p",
        &shard_port(&server, 1).to_string(),
        "-t",
        "set,get",
        "-n",
        "2000",
        "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let Some(out) = run_tool("redis-benchmark", &args) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("Cluster has 3 master nodes"), "{stdout}");
    assert!(
        stdout.contains("SET: ") && stdout.contains("GET: "),
        "{stdout}"
    );
    let n: i64 = redis::cmd("DBSIZE").query(&mut server.client()).unwrap();
    assert!(n > 0, "the benchmark's SETs landed");
}

#[test]
fn main_port_still_serves_every_key_in_cluster_mode() {
    let server = cluster_server();
    let mut con = server.client();
    for i in 0..100 {
        let _: () = con.set(format!("any:{i}"), i).unwrap();
    }
    let _: () = redis::cmd("MSET")
        .arg(&["a", "1", "b", "2"])
        .query(&mut con)
        .unwrap();
    for i in 0..100 {
        let v: i64 = con.get(format!("any:{i}")).unwrap();
        assert_eq!(v, i);
    }
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 102);
}

#[test]
fn cluster_nodes_lists_every_shard_and_marks_the_connected_one_myself() {
    let server = cluster_server();
    for shard in 0..SHARDS {
        let port = shard_port(&server, shard);
        let mut con = connect(port);
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut con).unwrap();
        let myid: String = redis::cmd("CLUSTER").arg("MYID").query(&mut con).unwrap();
        let lines: Vec<&str> = nodes.lines().collect();
        assert_eq!(lines.len(), SHARDS, "{nodes}");
        assert!(nodes.ends_with('\n'));
        let mut mine = 0;
        for (i, line) in lines.iter().enumerate() {
            let fields: Vec<&str> = line.split(' ').collect();
            let p = shard_port(&server, i);
            let start = i * SLOT_COUNT / SHARDS;
            let end = (i + 1) * SLOT_COUNT / SHARDS - 1;
            assert_eq!(fields[1], format!("127.0.0.1:{p}@{}", p + 10000), "{line}");
            assert_eq!(
                &fields[3..8],
                ["-", "0", "0", &(i + 1).to_string(), "connected"]
            );
            assert_eq!(fields[8], format!("{start}-{end}"));
            if fields[2] == "myself,master" {
                mine += 1;
                assert_eq!(p, port, "myself is the shard of this port");
                assert_eq!(fields[0], myid);
            } else {
                assert_eq!(fields[2], "master");
            }
        }
        assert_eq!(mine, 1);
    }
    // On the main port, exactly one shard (the connection's own) is myself.
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut server.client())
        .unwrap();
    assert_eq!(nodes.matches("myself,master").count(), 1);
}

#[test]
fn cluster_info_and_shards_describe_a_healthy_cluster_of_shard_primaries() {
    let server = cluster_server();
    let mut con = connect(shard_port(&server, 1));
    let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
    for line in [
        "cluster_state:ok",
        "cluster_slots_assigned:16384",
        "cluster_slots_ok:16384",
        "cluster_known_nodes:3",
        "cluster_size:3",
        "cluster_current_epoch:3",
        "cluster_my_epoch:2",
        "cluster_stats_messages_sent:0",
        "cluster_stats_messages_received:0",
    ] {
        assert!(info.contains(&format!("{line}\r\n")), "{line} in {info}");
    }
    let shards: Value = redis::cmd("CLUSTER").arg("SHARDS").query(&mut con).unwrap();
    let shards = array(&shards);
    assert_eq!(shards.len(), SHARDS);
    for (i, shard) in shards.iter().enumerate() {
        let shard = array(shard);
        assert_eq!(text(&shard[0]), "slots");
        let slots: Vec<i64> = array(&shard[1]).iter().map(int).collect();
        let start = (i * SLOT_COUNT / SHARDS) as i64;
        let end = ((i + 1) * SLOT_COUNT / SHARDS) as i64 - 1;
        assert_eq!(slots, [start, end]);
        assert_eq!(text(&shard[2]), "nodes");
        let node = array(&array(&shard[3])[0]);
        let fields: HashMap<String, &Value> =
            node.chunks(2).map(|kv| (text(&kv[0]), &kv[1])).collect();
        assert_eq!(int(fields["port"]), shard_port(&server, i) as i64);
        assert_eq!(text(fields["ip"]), "127.0.0.1");
        assert_eq!(text(fields["role"]), "master");
        assert_eq!(text(fields["health"]), "online");
    }
    let myid: String = redis::cmd("CLUSTER").arg("MYID").query(&mut con).unwrap();
    let shardid: String = redis::cmd("CLUSTER")
        .arg("MYSHARDID")
        .query(&mut con)
        .unwrap();
    assert_eq!((myid.len(), shardid.len()), (40, 40));
}

#[test]
fn keyslot_countkeysinslot_and_getkeysinslot_ask_the_owning_shard() {
    let server = cluster_server();
    // Asked on shard 0's port about keys of every shard.
    let mut con = connect(shard_port(&server, 0));
    let mut main = server.client();
    for key in ["foo", "bar", "{user1000}.following", "somekey"] {
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut con)
            .unwrap();
        assert_eq!(slot, get_slot(key.as_bytes()) as i64, "{key}");
    }
    let tags = ["{a}", "{b}", "{c}"];
    for (n, tag) in tags.iter().enumerate() {
        for i in 0..=n {
            let _: () = main.set(format!("{tag}{i}"), i).unwrap();
        }
    }
    for (n, tag) in tags.iter().enumerate() {
        let slot = get_slot(&tag.as_bytes()[1..2]);
        let count: i64 = redis::cmd("CLUSTER")
            .arg("COUNTKEYSINSLOT")
            .arg(slot)
            .query(&mut con)
            .unwrap();
        assert_eq!(count, n as i64 + 1, "slot {slot} of {tag}");
        let mut keys: Vec<String> = redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(slot)
            .arg(100)
            .query(&mut con)
            .unwrap();
        keys.sort();
        let expected: Vec<String> = (0..=n).map(|i| format!("{tag}{i}")).collect();
        assert_eq!(keys, expected);
        let some: Vec<String> = redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(slot)
            .arg(1)
            .query(&mut con)
            .unwrap();
        assert_eq!(some.len(), 1);
    }
    let mut raw = Raw::connect(shard_port(&server, 0));
    for (args, error) in [
        (
            &["CLUSTER", "COUNTKEYSINSLOT", "16384"][..],
            "-ERR Invalid slot",
        ),
        (&["CLUSTER", "COUNTKEYSINSLOT", "-1"], "-ERR Invalid slot"),
        (
            &["CLUSTER", "COUNTKEYSINSLOT", "x"],
            "-ERR value is not an integer or out of range",
        ),
        (
            &["CLUSTER", "GETKEYSINSLOT", "16384", "1"],
            "-ERR Invalid slot or number of keys",
        ),
        (
            &["CLUSTER", "GETKEYSINSLOT", "0", "-1"],
            "-ERR Invalid slot or number of keys",
        ),
        (
            &["CLUSTER", "GETKEYSINSLOT", "0", "x"],
            "-ERR value is not an integer or out of range",
        ),
        (
            &["CLUSTER", "KEYSLOT"],
            "-ERR wrong number of arguments for 'cluster|keyslot' command",
        ),
        (
            &["CLUSTER", "NOPE"],
            "-ERR unknown subcommand 'NOPE'. Try CLUSTER HELP.",
        ),
    ] {
        let expected = format!("{error}\r\n");
        assert_eq!(raw.roundtrip(&resp(args), expected.len()), expected);
    }
}

#[test]
fn readonly_readwrite_and_asking_are_accepted_in_cluster_mode() {
    let server = cluster_server();
    let mut raw = Raw::connect(shard_port(&server, 0));
    for cmd in ["READONLY", "READWRITE", "ASKING"] {
        assert_eq!(raw.roundtrip(&resp(&[cmd]), 5), "+OK\r\n", "{cmd}");
    }
}

#[test]
fn without_cluster_mode_cluster_commands_answer_like_a_standalone_redis() {
    let server = Server::start(SHARDS, &["--appendonly", "no"]);
    let mut raw = server.raw();
    let disabled = "-ERR This instance has cluster support disabled\r\n";
    for args in [
        &["CLUSTER", "SLOTS"][..],
        &["CLUSTER", "SHARDS"],
        &["CLUSTER", "NODES"],
        &["CLUSTER", "MYID"],
        &["CLUSTER", "MYSHARDID"],
        &["CLUSTER", "INFO"],
        &["CLUSTER", "HELP"],
        &["CLUSTER", "KEYSLOT", "foo"],
        &["CLUSTER", "COUNTKEYSINSLOT", "1"],
        &["CLUSTER", "GETKEYSINSLOT", "1", "1"],
        &["READONLY"],
        &["READWRITE"],
        &["ASKING"],
    ] {
        assert_eq!(
            raw.roundtrip(&resp(args), disabled.len()),
            disabled,
            "{args:?}"
        );
    }
    let unknown = "-ERR unknown subcommand 'foo'. Try CLUSTER HELP.\r\n";
    assert_eq!(
        raw.roundtrip(&resp(&["CLUSTER", "foo"]), unknown.len()),
        unknown
    );
}
