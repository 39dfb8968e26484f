//! Starting a real `keel` binary for integration tests, on free loopback ports with its own data
//! directory, and talking to it over real sockets.
#![allow(dead_code)] // Each test binary uses a different part of this helper.

pub mod collection_scan;
pub mod reference;
pub mod resp;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub struct Server {
    pub port: u16,
    pub dir: PathBuf,
    pub shards: usize,
    args: Vec<String>,
    child: Option<Child>,
}

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A port such that `port..port + span` are all free right now.
fn free_ports(span: u16) -> u16 {
    for _ in 0..200 {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        if port as u32 + span as u32 >= 65535 {
            continue;
        }
        if (port..port + span).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return port;
        }
    }
    panic!("no free port range of {span}");
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "keel-test-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Server {
    /// Starts `keel` with `shards` shards and extra `--directive value` arguments.
    pub fn start(shards: usize, extra: &[&str]) -> Server {
        let cluster = extra
            .windows(2)
            .any(|w| w[0] == "--cluster-enabled" && w[1] == "yes");
        let port = free_ports(if cluster { shards as u16 + 1 } else { 1 });
        let dir = temp_dir();
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--dir".into(),
            dir.display().to_string(),
            "--shards".into(),
            shards.to_string(),
            // Small journal segments keep tests' disk use and start-up time low.
            "--journal-segment-size".into(),
            "1mb".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut server = Server {
            port,
            dir,
            shards,
            args,
            child: None,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.join("keel.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start keel");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut buf = [0u8; 7];
                    if s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                        return;
                    }
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("keel exited at start ({status}): {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("keel did not start listening: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("keel.log")).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).unwrap();
        let con = client.get_connection().expect("connect to keel");
        con.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        con
    }

    /// A raw socket for protocol-level tests.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    /// Kills the server with SIGKILL (no shutdown work at all) and waits for it to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill9();
        self.wait_port_free();
        self.launch();
    }

    /// A killed keel's listening socket can outlive the reaped process for a moment (its io_uring
    /// is torn down asynchronously), and the new one would fail to bind: wait until it is gone.
    fn wait_port_free(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpListener::bind(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "port {} stays busy", self.port);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sets `--name value` for the next `restart` (replacing an earlier value), e.g. to change
    /// `--shards` between restarts.
    pub fn set_arg(&mut self, name: &str, value: &str) {
        let flag = format!("--{name}");
        match self.args.iter().rposition(|a| *a == flag) {
            Some(i) => self.args[i + 1] = value.to_string(),
            None => self.args.extend([flag, value.to_string()]),
        }
        if name == "shards" {
            self.shards = value.parse().expect("shard count");
        }
    }

    /// Waits for the process to exit on its own (SHUTDOWN, SIGTERM); returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        self.wait_exit_status(timeout)
            .and_then(|status| status.code())
    }

    /// How the server ended, if it did within `timeout`.
    pub fn wait_exit_status(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut()?.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failing test shows where its server's threads were (where gdb is installed) and what
        // the server logged: a request left unanswered for 30 s, seen a few times under heavy
        // load, left nothing else to go on.
        if std::thread::panicking() {
            if let Some(child) = &self.child {
                let pid = child.id().to_string();
                let backtraces = Command::new("gdb")
                    .args(["-batch", "-p", &pid, "-ex", "thread apply all bt 25"])
                    .output();
                if let Ok(out) = backtraces {
                    eprintln!("keel's threads:\n{}", String::from_utf8_lossy(&out.stdout));
                }
            }
            eprintln!("keel's log ({}):\n{}", self.dir.display(), self.log());
        }
        self.kill9();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A plain TCP connection speaking raw RESP.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Raw { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        self.stream.read_exact(&mut buf).unwrap();
        buf
    }

    /// Sends `bytes` and reads until `expected.len()` bytes came back; returns them as text.
    pub fn roundtrip(&mut self, bytes: &[u8], expected_len: usize) -> String {
        self.send(bytes);
        String::from_utf8_lossy(&self.read_exact(expected_len)).into_owned()
    }

    /// Reads until the peer closes; returns everything read.
    pub fn read_to_close(&mut self) -> String {
        let mut all = Vec::new();
        let _ = self.stream.read_to_end(&mut all);
        String::from_utf8_lossy(&all).into_owned()
    }
}

/// Runs a command given as words; panics with the command on an error reply.
pub fn run(con: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs a command that must reply an integer.
pub fn int(con: &mut redis::Connection, args: &[&str]) -> i64 {
    match run(con, args) {
        redis::Value::Int(n) => n,
        other => panic!("{args:?}: expected an integer, got {other:?}"),
    }
}

/// The full error text (code and detail) of a command that must fail.
pub fn error(con: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    match cmd.query::<redis::Value>(con) {
        Ok(v) => panic!("{args:?}: expected an error, got {v:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

/// Encodes a command as a RESP multibulk request.
pub fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{}\r\n", a.len(), a).as_bytes());
    }
    out
}

/// A field of `INFO persistence`.
pub fn info_field(con: &mut redis::Connection, name: &str) -> String {
    info_section_field(con, "persistence", name)
}

/// A field of `INFO <section>`.
pub fn info_section_field(con: &mut redis::Connection, section: &str, name: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .to_string()
}

/// Makes `key` a collection of `n` elements with `command` (HSET, SADD, ZADD...), 1000 elements a
/// call; element `i` is the arguments `element(i)`.
pub fn fill(
    con: &mut redis::Connection,
    command: &str,
    key: &str,
    n: usize,
    element: impl Fn(usize) -> Vec<String>,
) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut cmd = redis::cmd(command);
        cmd.arg(key);
        for &i in chunk {
            cmd.arg(element(i));
        }
        let _: () = cmd.query(con).unwrap();
    }
}

/// Waits until no BGSAVE runs.
pub fn wait_bgsave_done(con: &mut redis::Connection) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(con, "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Kill cycles a crash test runs: `KEEL_CRASH_CYCLES` (hundreds in a long local run), else
/// `default` (a CI-sized few).
pub fn crash_cycles(default: usize) -> usize {
    std::env::var("KEEL_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
