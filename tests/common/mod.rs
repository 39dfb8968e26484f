//! Starting a real `keel` binary for integration tests, on free loopback ports with its own data
//! directory, and talking to it over real sockets.
#![allow(dead_code)] // Each test binary uses a different part of this helper.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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
                let log = self.log();
                // Another process's outgoing connection may hold the port for a moment (it is in
                // the ephemeral range): try again.
                if log.contains("Address already in use")
                    && Instant::now() + Duration::from_secs(1) < deadline
                {
                    std::thread::sleep(Duration::from_millis(200));
                    let log_file = std::fs::File::create(self.dir.join("keel.log")).unwrap();
                    self.child = Some(
                        Command::new(env!("CARGO_BIN_EXE_keel"))
                            .args(&self.args)
                            .stdout(Stdio::null())
                            .stderr(log_file)
                            .spawn()
                            .expect("start keel"),
                    );
                    continue;
                }
                panic!("keel exited at start ({status}): {log}");
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
        self.launch();
    }

    /// Changes `--shards` for the next (re)start.
    pub fn set_shards(&mut self, shards: usize) {
        let at = self.args.iter().position(|a| a == "--shards").unwrap() + 1;
        self.args[at] = shards.to_string();
        self.shards = shards;
    }

    /// Waits for the process to exit on its own (SHUTDOWN, SIGTERM); returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut()?.try_wait().unwrap() {
                self.child = None;
                return status.code();
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

/// Encodes a command as a RESP multibulk request.
pub fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{}\r\n", a.len(), a).as_bytes());
    }
    out
}
