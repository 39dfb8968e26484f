//! End-to-end runs of the keel-bench binary against small in-process RESP servers, so no
//! redis-server is needed: request counts, the JSON file, open-loop pacing, cluster routing with
//! `-MOVED`, and bad input. Every run is bounded in requests and killed after `RUN_TIMEOUT`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// How a fake server answers one command (its arguments).
type Answer = dyn Fn(&[Vec<u8>]) -> Vec<u8> + Send + Sync;

struct FakeServer {
    port: u16,
    commands: Arc<AtomicU64>,
}

/// Starts a loopback RESP server answering each command with `answer`.
fn fake_server(answer: Arc<Answer>) -> FakeServer {
    fake_server_knowing_port(|_| answer)
}

/// Like `fake_server`, for answers that must name the server's own port.
fn fake_server_knowing_port(make: impl FnOnce(u16) -> Arc<Answer>) -> FakeServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().unwrap().port();
    let answer = make(port);
    let commands = Arc::new(AtomicU64::new(0));
    let counter = commands.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (answer, counter) = (answer.clone(), counter.clone());
            std::thread::spawn(move || serve(stream, &*answer, &counter));
        }
    });
    FakeServer { port, commands }
}

fn serve(mut stream: TcpStream, answer: &Answer, counter: &AtomicU64) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut out = Vec::new();
        let mut used = 0;
        while let Some((len, args)) = parse_command(&buf[used..]) {
            used += len;
            counter.fetch_add(1, Ordering::Relaxed);
            out.extend(answer(&args));
        }
        buf.drain(..used);
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

/// One complete `*N` array of bulk strings at the start of `buf`.
fn parse_command(buf: &[u8]) -> Option<(usize, Vec<Vec<u8>>)> {
    fn line(buf: &[u8], at: usize) -> Option<(usize, usize)> {
        let end = at + buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        let n = std::str::from_utf8(&buf[at + 1..end]).ok()?.parse().ok()?;
        Some((n, end + 2))
    }
    let (count, mut pos) = line(buf, 0)?;
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, start) = line(buf, pos)?;
        if buf.len() < start + len + 2 {
            return None;
        }
        args.push(buf[start..start + len].to_vec());
        pos = start + len + 2;
    }
    Some((pos, args))
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Runs keel-bench with `args`; returns (success, stdout, stderr).
fn keel_bench(args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel-bench"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keel-bench");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > RUN_TIMEOUT {
            child.kill().ok();
            panic!("keel-bench ran past {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "keel-bench-test-{}-{name}.json",
        std::process::id()
    ))
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("JSON file written");
    std::fs::remove_file(path).ok();
    serde_json::from_str(&text).expect("valid JSON")
}

fn plain_answer(args: &[Vec<u8>]) -> Vec<u8> {
    match args[0].as_slice() {
        b"GET" => b"$-1\r\n".to_vec(),
        b"PING" => b"+PONG\r\n".to_vec(),
        _ => b"+OK\r\n".to_vec(),
    }
}

#[test]
fn every_request_is_sent_counted_and_reported_in_memtier_json() {
    let server = fake_server(Arc::new(plain_answer));
    let json = json_path("counts");
    let port = server.port.to_string();
    let (ok, stdout, stderr) = keel_bench(&[
        "-p",
        &port,
        "-t",
        "2",
        "-c",
        "3",
        "-n",
        "100",
        "--pipeline",
        "4",
        "--ratio",
        "1:1",
        "--quiet",
        "--json-out-file",
        json.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(server.commands.load(Ordering::Relaxed), 600);
    assert!(stdout.contains("ALL STATS") && stdout.contains("Totals"));
    assert!(stdout.contains("Request Latency Distribution"));
    let doc = read_json(&json);
    let all = &doc["ALL STATS"];
    assert_eq!(all["Totals"]["Count"], 600);
    assert_eq!(all["Sets"]["Count"], 300);
    assert_eq!(all["Gets"]["Count"], 300);
    assert!(all["Gets"]["Misses/sec"].as_f64().unwrap() > 0.0);
    assert!(all["Totals"]["Percentile Latencies"]["p99.90"].is_number());
    let dist = all["Totals"]["Percentile Distribution"].as_array().unwrap();
    assert!(dist.len() > 5);
    assert_eq!(dist.last().unwrap()["percent"], 100.0);
}

#[test]
fn open_loop_rate_paces_requests_to_the_target() {
    let server = fake_server(Arc::new(plain_answer));
    let json = json_path("rate");
    let port = server.port.to_string();
    // 4 clients x 250 requests at 2000/s in total: about half a second.
    let (ok, _, stderr) = keel_bench(&[
        "-p",
        &port,
        "-t",
        "1",
        "-c",
        "4",
        "-n",
        "250",
        "--rate",
        "2000",
        "--quiet",
        "--hide-histogram",
        "--json-out-file",
        json.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let ops = read_json(&json)["ALL STATS"]["Totals"]["Ops/sec"]
        .as_f64()
        .unwrap();
    assert!((1700.0..=2100.0).contains(&ops), "ops/s {ops}");
}

#[test]
fn cluster_mode_follows_moved_to_the_owning_node() {
    let owner = fake_server(Arc::new(plain_answer));
    let owner_port = owner.port;
    // The seed claims every slot in CLUSTER SLOTS but redirects each keyed command to `owner`.
    let seed = fake_server_knowing_port(|seed_port| {
        Arc::new(move |args: &[Vec<u8>]| {
            if args[0] == b"CLUSTER" {
                return format!(
                    "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:{seed_port}\r\n"
                )
                .into_bytes();
            }
            let slot = crc16(&args[1]) % 16384;
            format!("-MOVED {slot} 127.0.0.1:{owner_port}\r\n").into_bytes()
        })
    });
    let json = json_path("cluster");
    let port = seed.port.to_string();
    let (ok, _, stderr) = keel_bench(&[
        "-p",
        &port,
        "--cluster-mode",
        "-t",
        "1",
        "-c",
        "2",
        "-n",
        "50",
        "--pipeline",
        "2",
        "--quiet",
        "--hide-histogram",
        "--json-out-file",
        json.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let doc = read_json(&json);
    assert_eq!(doc["ALL STATS"]["Totals"]["Count"], 100);
    assert_eq!(doc["ALL STATS"]["Totals"]["Errors"], 0);
    assert_eq!(owner.commands.load(Ordering::Relaxed), 100);
    let redirects = doc["run information"]["Cluster redirects"]
        .as_u64()
        .unwrap();
    assert!(redirects > 0 && redirects <= 100, "redirects {redirects}");
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    for (args, expect) in [
        (vec!["--pipeline", "0"], "--pipeline"),
        (vec!["--ratio", "x"], "--ratio"),
        (vec!["--workload", "nope"], "--workload"),
        (vec!["compare", "--runs", "0"], "--runs"),
    ] {
        let (ok, _, stderr) = keel_bench(&args);
        assert!(!ok, "{args:?} should fail");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (ok, _, stderr) = keel_bench(&["-p", &port.to_string(), "-t", "1", "-c", "1", "-n", "1"]);
    assert!(!ok);
    assert!(stderr.contains("cannot connect"), "{stderr}");
}
