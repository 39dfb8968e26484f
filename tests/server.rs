//! Server commands: INFO, CONFIG, COMMAND, TIME/LASTSAVE, DEBUG, MEMORY and SHUTDOWN, on a node
//! of several shards.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::Server;
use redis::{Commands, Connection, Value};

fn start() -> Server {
    Server::start(3, &["--appendonly", "no"])
}

fn info(con: &mut Connection, sections: &[&str]) -> String {
    redis::cmd("INFO").arg(sections).query(con).unwrap()
}

/// The `field:value` lines of an INFO text.
fn fields(info: &str) -> HashMap<String, String> {
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `connected_clients` once it reads `expected`: the test harness's own probe connection may take
/// a moment to be noticed closed.
fn settled_clients(con: &mut Connection, expected: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let clients = fields(&info(con, &["clients"]))["connected_clients"].clone();
        if clients == expected || std::time::Instant::now() > deadline {
            return clients;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn error_of<T: std::fmt::Debug>(result: redis::RedisResult<T>) -> String {
    let e = result.unwrap_err();
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

#[test]
fn info_prints_redis_sections_and_one_line_per_shard() {
    let server = start();
    let mut con = server.client();
    let all = info(&mut con, &[]);
    for title in [
        "# Server\r\n",
        "# Clients\r\n",
        "# Memory\r\n",
        "# Persistence\r\n",
        "# Stats\r\n",
        "# Replication\r\n",
        "# CPU\r\n",
        "# Keyspace\r\n",
        "# Shards\r\n",
    ] {
        assert!(all.contains(title), "{title} missing");
    }
    assert!(!all.contains("# Commandstats"));
    let f = fields(&all);
    assert_eq!(f["redis_version"], "7.2.4");
    assert_eq!(f["redis_mode"], "standalone");
    assert_eq!(f["tcp_port"], server.port.to_string());
    assert_eq!(f["process_id"], server.pid().to_string());
    assert_eq!(f["role"], "master");
    assert_eq!(f["connected_slaves"], "0");
    assert_eq!(f["aof_enabled"], "0");
    assert_eq!(f["loading"], "0");
    assert!(f["used_memory"].parse::<u64>().unwrap() > 0);
    assert!(f["used_cpu_user"].parse::<f64>().is_ok());
    assert_eq!(settled_clients(&mut con, "1"), "1");
    for shard in 0..3 {
        assert!(
            f[&format!("shard_{shard}")].contains(",keys=0,"),
            "shard_{shard}"
        );
    }

    let server_only = info(&mut con, &["server"]);
    assert!(server_only.starts_with("# Server\r\n"));
    assert!(!server_only.contains("# Clients"));
    let two = info(&mut con, &["CLIENTS", "server"]);
    assert!(two.starts_with("# Server\r\n") && two.contains("\r\n\r\n# Clients\r\n"));
    assert!(info(&mut con, &["everything"]).contains("# Commandstats\r\ncmdstat_"));
    assert_eq!(info(&mut con, &["nosuch"]), "");
}

#[test]
fn info_counts_keys_clients_and_commands_of_every_shard() {
    let server = start();
    let mut con = server.client();
    for i in 0..60 {
        let _: () = con.set(format!("key:{i}"), i).unwrap();
    }
    for i in 0..15 {
        let _: () = redis::cmd("SET")
            .arg(&[format!("ttl:{i}"), i.to_string(), "EX".into(), "100".into()])
            .query(&mut con)
            .unwrap();
    }
    let _: () = redis::pipe()
        .cmd("SELECT")
        .arg(3)
        .cmd("SET")
        .arg("other")
        .arg(1)
        .cmd("SELECT")
        .arg(0)
        .query(&mut con)
        .unwrap();
    let _: Option<String> = con.get("key:1").unwrap();
    let _: Option<String> = con.get("missing").unwrap();
    let mut others: Vec<Connection> = (0..5).map(|_| server.client()).collect();
    for other in &mut others {
        let _: String = redis::cmd("PING").query(other).unwrap();
    }

    let text = info(&mut con, &[]);
    let f = fields(&text);
    assert_eq!(f["db0"], "keys=75,expires=15,avg_ttl=0");
    assert_eq!(f["db3"], "keys=1,expires=0,avg_ttl=0");
    assert_eq!(settled_clients(&mut con, "6"), "6");
    assert_eq!(f["keyspace_hits"], "1");
    assert_eq!(f["keyspace_misses"], "1");
    let commands: u64 = f["total_commands_processed"].parse().unwrap();
    assert!(commands >= 78, "{commands}");
    let connections: u64 = f["total_connections_received"].parse().unwrap();
    assert!(connections >= 6, "{connections}");
    let shard_keys: u64 = (0..3)
        .map(|s| {
            let line = &f[&format!("shard_{s}")];
            let keys = line
                .split(",keys=")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap();
            keys.parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(shard_keys, 76);

    let stats = info(&mut con, &["commandstats"]);
    assert!(stats.contains("cmdstat_set:calls=76,"), "{stats}");
    assert!(
        !stats.contains("-shard"),
        "private steps are not commands: {stats}"
    );
}

#[test]
fn config_set_maxclients_shows_in_config_get_and_info_from_every_shard() {
    let server = start();
    let mut cons: Vec<Connection> = (0..6).map(|_| server.client()).collect();
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxclients", "321"])
        .query(&mut cons[0])
        .unwrap();
    for con in &mut cons {
        let got: HashMap<String, String> = redis::cmd("CONFIG")
            .arg(&["GET", "maxclients"])
            .query(con)
            .unwrap();
        assert_eq!(got["maxclients"], "321");
        assert_eq!(fields(&info(con, &["clients"]))["maxclients"], "321");
    }
    let matched: HashMap<String, String> = redis::cmd("CONFIG")
        .arg(&["GET", "max*", "time*", "hz"])
        .query(&mut cons[0])
        .unwrap();
    assert_eq!(matched.len(), 3, "{matched:?}");
    assert_eq!(matched["timeout"], "0");
}

#[test]
fn config_set_refuses_unknown_immutable_bad_and_duplicate_settings_atomically() {
    let server = start();
    let mut con = server.client();
    let mut config_set = |args: &[&str]| {
        error_of(
            redis::cmd("CONFIG")
                .arg("SET")
                .arg(args)
                .query::<()>(&mut con),
        )
    };
    assert_eq!(
        config_set(&["nosuch", "1"]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    );
    assert_eq!(
        config_set(&["port", "1"]),
        "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
    );
    assert!(config_set(&["timeout", "5", "maxclients", "x"])
        .starts_with("ERR CONFIG SET failed (possibly related to argument 'maxclients') - "));
    assert_eq!(
        config_set(&["hz", "5", "hz", "6"]),
        "ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter"
    );
    assert_eq!(config_set(&["hz", "5", "timeout"]), "ERR syntax error");
    let timeout: HashMap<String, String> = redis::cmd("CONFIG")
        .arg(&["GET", "timeout"])
        .query(&mut con)
        .unwrap();
    assert_eq!(
        timeout["timeout"], "0",
        "a failed CONFIG SET changes nothing"
    );
    assert_eq!(
        error_of(redis::cmd("CONFIG").arg("REWRITE").query::<()>(&mut con)),
        "ERR The server is running without a config file"
    );
}

#[test]
fn config_resetstat_zeroes_every_shards_counters() {
    let server = start();
    let mut con = server.client();
    for i in 0..30 {
        let _: () = con.set(format!("k{i}"), i).unwrap();
    }
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut con)
        .unwrap();
    let f = fields(&info(&mut con, &["stats"]));
    let commands: u64 = f["total_commands_processed"].parse().unwrap();
    assert!(commands < 5, "{commands}");
    assert_eq!(f["total_connections_received"], "0");
}

/// A `keel CONFIG_FILE --directive value...` process (`Server::start` passes no config file).
struct KeelWithConfigFile {
    child: std::process::Child,
    port: u16,
}

impl KeelWithConfigFile {
    fn start(file: &std::path::Path, dir: &std::path::Path) -> KeelWithConfigFile {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_keel"))
            .arg(file)
            .args(["--port", &port.to_string(), "--shards", "3"])
            .args(["--appendonly", "no", "--dir", dir.to_str().unwrap()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        KeelWithConfigFile { child, port }
    }

    fn client(&self) -> Connection {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap();
        for _ in 0..500 {
            if let Ok(con) = client.get_connection() {
                return con;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("keel with a config file did not start");
    }
}

impl Drop for KeelWithConfigFile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn config_rewrite_writes_the_running_values_into_the_config_file() {
    let dir = std::env::temp_dir().join(format!("keel-conf-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keel.conf");
    std::fs::write(&file, "# my settings\ntimeout 7\nhz 10\ntimeout 8\n").unwrap();
    let keel = KeelWithConfigFile::start(&file, &dir);
    let mut con = keel.client();
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "timeout", "9", "maxclients", "77"])
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("CONFIG").arg("REWRITE").query(&mut con).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("# my settings\ntimeout 9\nhz 10\n"),
        "{text}"
    );
    assert_eq!(text.matches("timeout").count(), 1, "{text}");
    assert!(text.contains("\nmaxclients 77\n"), "{text}");
    drop(keel);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn command_info_describes_get_as_redis_does() {
    let server = start();
    let mut con = server.client();
    let reply: Value = redis::cmd("COMMAND")
        .arg(&["INFO", "get", "nosuch"])
        .query(&mut con)
        .unwrap();
    let Value::Array(entries) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(entries[1], Value::Nil);
    let Value::Array(get) = &entries[0] else {
        panic!("{entries:?}")
    };
    assert_eq!(get.len(), 10);
    assert_eq!(get[0], Value::BulkString(b"get".to_vec()));
    assert_eq!(get[1], Value::Int(2));
    let status = |s: &str| Value::SimpleString(s.into());
    assert_eq!(
        get[2],
        Value::Array(vec![status("readonly"), status("fast")])
    );
    assert_eq!(&get[3..6], &[Value::Int(1), Value::Int(1), Value::Int(1)]);
    assert_eq!(
        get[6],
        Value::Array(vec![status("@read"), status("@string"), status("@fast")])
    );
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut con).unwrap();
    let all: Vec<Value> = redis::cmd("COMMAND").query(&mut con).unwrap();
    assert_eq!(all.len() as i64, count);
    let names: Vec<String> = redis::cmd("COMMAND").arg("LIST").query(&mut con).unwrap();
    assert_eq!(
        names.iter().filter(|n| !n.contains('|')).count() as i64,
        count
    );
    assert!(names.contains(&"config|get".to_string()));
    let configs: Vec<String> = redis::cmd("COMMAND")
        .arg(&["LIST", "FILTERBY", "PATTERN", "config|*"])
        .query(&mut con)
        .unwrap();
    assert!(configs.len() >= 4 && configs.iter().all(|n| n.starts_with("config|")));
}

#[test]
fn command_getkeys_and_docs() {
    let server = start();
    let mut con = server.client();
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg(&["GETKEYS", "mset", "a", "1", "b", "2"])
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["a", "b"]);
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg(&["GETKEYS", "memory", "usage", "k"])
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["k"]);
    let getkeys = |con: &mut Connection, args: &[&str]| {
        error_of(
            redis::cmd("COMMAND")
                .arg("GETKEYS")
                .arg(args)
                .query::<Vec<String>>(con),
        )
    };
    assert_eq!(
        getkeys(&mut con, &["nosuch", "x"]),
        "ERR Invalid command specified"
    );
    assert_eq!(
        getkeys(&mut con, &["get", "a", "b"]),
        "ERR Invalid number of arguments specified for command"
    );
    assert_eq!(
        getkeys(&mut con, &["ping", "x"]),
        "ERR The command has no key arguments"
    );
    let docs: HashMap<String, HashMap<String, Value>> = redis::cmd("COMMAND")
        .arg(&["DOCS", "get", "nosuch"])
        .query(&mut con)
        .unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs["get"]["group"], Value::BulkString(b"string".to_vec()));
    assert_eq!(docs["get"]["since"], Value::BulkString(b"1.0.0".to_vec()));
    let config: HashMap<String, HashMap<String, Value>> = redis::cmd("COMMAND")
        .arg(&["DOCS", "config"])
        .query(&mut con)
        .unwrap();
    assert!(config["config"].contains_key("subcommands"));
}

#[test]
fn time_lastsave_and_dbsize() {
    let server = start();
    let mut con = server.client();
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(&mut con).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.abs_diff(now) <= 2 && micros < 1_000_000);
    let lastsave: u64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    assert!(lastsave <= secs && secs - lastsave < 60);
    for i in 0..20 {
        let _: () = con.set(format!("k{i}"), i).unwrap();
    }
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 20);
}

#[test]
fn debug_and_memory_commands() {
    let server = start();
    let mut con = server.client();
    let _: () = redis::cmd("DEBUG")
        .arg(&["SLEEP", "0"])
        .query(&mut con)
        .unwrap();
    let _: () = con.set("num", 12345).unwrap();
    let _: () = con.set("text", "bar").unwrap();
    let object: String = redis::cmd("DEBUG")
        .arg(&["OBJECT", "num"])
        .query(&mut con)
        .unwrap();
    assert!(object.starts_with("Value at:") && object.contains(" encoding:int "));
    assert_eq!(
        error_of(
            redis::cmd("DEBUG")
                .arg(&["OBJECT", "nokey"])
                .query::<String>(&mut con)
        ),
        "ERR no such key"
    );
    let small: i64 = redis::cmd("MEMORY")
        .arg(&["USAGE", "text"])
        .query(&mut con)
        .unwrap();
    let _: () = con.set("text", "x".repeat(1000)).unwrap();
    let big: i64 = redis::cmd("MEMORY")
        .arg(&["USAGE", "text", "SAMPLES", "0"])
        .query(&mut con)
        .unwrap();
    assert!(small > 3 && big >= small + 997, "{small} {big}");
    let missing: Option<i64> = redis::cmd("MEMORY")
        .arg(&["USAGE", "nokey"])
        .query(&mut con)
        .unwrap();
    assert_eq!(missing, None);
    assert_eq!(
        error_of(
            redis::cmd("MEMORY")
                .arg(&["USAGE", "text", "SAMPLES", "-1"])
                .query::<i64>(&mut con)
        ),
        "ERR syntax error"
    );
}

#[test]
fn debug_set_active_expire_reaches_every_shard() {
    let server = start();
    let mut con = server.client();
    let _: () = redis::cmd("DEBUG")
        .arg(&["SET-ACTIVE-EXPIRE", "0"])
        .query(&mut con)
        .unwrap();
    for i in 0..30 {
        let _: () = redis::cmd("SET")
            .arg(&[format!("k{i}"), "v".into(), "PX".into(), "50".into()])
            .query(&mut con)
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(400));
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 30, "no shard expired keys in the background");
    let _: () = redis::cmd("DEBUG")
        .arg(&["SET-ACTIVE-EXPIRE", "1"])
        .query(&mut con)
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn shutdown_makes_the_process_exit_cleanly() {
    let mut server = start();
    let mut con = server.client();
    assert_eq!(
        error_of(redis::cmd("SHUTDOWN").arg("ABORT").query::<()>(&mut con)),
        "ERR No shutdown in progress."
    );
    assert_eq!(
        error_of(
            redis::cmd("SHUTDOWN")
                .arg(&["SAVE", "NOSAVE"])
                .query::<()>(&mut con)
        ),
        "ERR syntax error"
    );
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut con);
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
}

// ---- WAIT, ROLE -----------------------------------------------------------------------------

/// Keel has no replicas: ROLE is a primary at offset 0 with none; WAIT 0 answers 0 at once, and
/// asking for replicas waits for the timeout (on a timer: the shard serves others meanwhile).
#[test]
fn role_and_wait_answer_as_a_primary_without_replicas() {
    let server = start();
    let mut con = server.client();
    let role: Value = redis::cmd("ROLE").query(&mut con).unwrap();
    assert_eq!(
        role,
        Value::Array(vec![
            Value::BulkString(b"master".to_vec()),
            Value::Int(0),
            Value::Array(vec![]),
        ])
    );
    let _: () = con.set("k", "v").unwrap();
    let started = std::time::Instant::now();
    let acked: i64 = redis::cmd("WAIT").arg(0).arg(0).query(&mut con).unwrap();
    assert_eq!(acked, 0);
    assert!(started.elapsed() < Duration::from_millis(200));

    let mut other = server.client();
    let waiter = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let acked: i64 = redis::cmd("WAIT").arg(1).arg(300).query(&mut con).unwrap();
        (acked, started.elapsed())
    });
    // Other clients, on any shard, are served while WAIT waits.
    std::thread::sleep(Duration::from_millis(50));
    for i in 0..20 {
        let _: () = other.set(format!("key{i}"), i).unwrap();
    }
    let (acked, waited) = waiter.join().unwrap();
    assert_eq!(acked, 0);
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");

    let mut con = server.client();
    for (args, expected) in [
        (
            vec!["x", "0"],
            "ERR value is not an integer or out of range",
        ),
        (
            vec!["0", "x"],
            "ERR timeout is not an integer or out of range",
        ),
        (vec!["0", "-1"], "ERR timeout is negative"),
    ] {
        let result: redis::RedisResult<Value> = redis::cmd("WAIT").arg(&args).query(&mut con);
        assert_eq!(error_of(result), expected);
    }
}

/// WAIT with a timeout of 0 and too few replicas blocks as in Redis (forever), until CLIENT
/// UNBLOCK; inside MULTI it answers at once.
#[test]
fn wait_forever_ends_with_client_unblock_and_does_not_block_in_multi() {
    let server = start();
    let mut con = server.client();
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut con).unwrap();
    let waiter = std::thread::spawn(move || {
        let acked: redis::RedisResult<i64> = redis::cmd("WAIT").arg(2).arg(0).query(&mut con);
        (acked, con)
    });
    let mut admin = server.client();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n: i64 = redis::cmd("CLIENT")
            .arg("UNBLOCK")
            .arg(id)
            .query(&mut admin)
            .unwrap();
        if n == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "WAIT never blocked");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (acked, _con) = waiter.join().unwrap();
    assert_eq!(acked.unwrap(), 0);
    let mut raw = server.raw();
    let mut multi = common::resp(&["MULTI"]);
    multi.extend(common::resp(&["WAIT", "1", "0"]));
    multi.extend(common::resp(&["WAIT", "1", "x"]));
    multi.extend(common::resp(&["EXEC"]));
    raw.send(&multi);
    let expected = "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:0\r\n-ERR timeout is not an integer or out of range\r\n";
    assert_eq!(
        String::from_utf8_lossy(&raw.read_exact(expected.len())),
        expected
    );
}
