//! Starting and stopping the servers `compare` measures: redis-server and keel with equivalent
//! persistence settings, each on a free loopback port with its own temporary directory.

use crate::cluster::{connect_blocking, NodeAddr};
use crate::resp::{blocking_command, Value};
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after it starts.
const STARTUP_TIMEOUT_SECS: u64 = 20;
/// How long a server may take to exit after SIGTERM before it is killed.
const SHUTDOWN_TIMEOUT_SECS: u64 = 10;
/// Lines of a failed server's log shown in the error.
const LOG_TAIL_LINES: usize = 20;

/// The durability both servers are configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// No journal, no snapshots.
    None,
    /// Journal fsynced once a second.
    EverySec,
    /// Journal fsynced before every write is acknowledged.
    Always,
}

impl Persistence {
    pub fn parse(text: &str) -> Result<Persistence, String> {
        match text {
            "none" => Ok(Persistence::None),
            "everysec" => Ok(Persistence::EverySec),
            "always" => Ok(Persistence::Always),
            other => Err(format!(
                "--persistence: unknown mode {other:?} (none, everysec, always)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Persistence::None => "none",
            Persistence::EverySec => "everysec",
            Persistence::Always => "always",
        }
    }

    fn journal_flags(self) -> Vec<String> {
        let flags: &[&str] = match self {
            Persistence::None => &["--appendonly", "no"],
            Persistence::EverySec => &["--appendonly", "yes", "--appendfsync", "everysec"],
            Persistence::Always => &["--appendonly", "yes", "--appendfsync", "always"],
        };
        flags.iter().map(|s| s.to_string()).collect()
    }
}

/// Which server a [`ServerSpec`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Redis,
    Keel,
}

impl ServerKind {
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Redis => "redis",
            ServerKind::Keel => "keel",
        }
    }
}

/// How to start one server.
pub struct ServerSpec {
    pub kind: ServerKind,
    pub binary: PathBuf,
    pub persistence: Persistence,
    pub shards: usize,
    /// `taskset -c` list, or `None` to leave the server unpinned.
    pub cpu_list: Option<String>,
    pub log_path: PathBuf,
}

impl ServerSpec {
    /// The server's own flags for `port` and data directory `dir`.
    pub fn args(&self, port: u16, dir: &Path) -> Vec<String> {
        let mut args = vec![
            "--port".to_string(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.display().to_string(),
        ];
        match self.kind {
            ServerKind::Redis => {
                args.extend(["--save".into(), String::new()]);
                args.extend(self.persistence.journal_flags());
            }
            ServerKind::Keel => {
                args.extend(["--shards".into(), self.shards.to_string()]);
                args.extend(self.persistence.journal_flags());
            }
        }
        args
    }
}

/// A started server; stopped (SIGTERM, then SIGKILL) and its directory removed on drop.
pub struct RunningServer {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl RunningServer {
    /// The server's process (taskset execs it, so the pid is the server's own).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `spec` on a free port and waits until it answers PING.
    pub fn start(spec: &ServerSpec) -> Result<RunningServer, String> {
        let port = free_port(spec.shards)?;
        let dir = std::env::temp_dir().join(format!(
            "keel-compare-{}-{}-{port}",
            std::process::id(),
            spec.kind.name()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let log = File::create(&spec.log_path)
            .map_err(|e| format!("cannot create {}: {e}", spec.log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot share log file: {e}"))?;
        let args = spec.args(port, &dir);
        let mut command = match &spec.cpu_list {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(&spec.binary);
                c
            }
            None => Command::new(&spec.binary),
        };
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let child = command.spawn().map_err(|e| {
            format!(
                "cannot start {} ({}): {e}",
                spec.kind.name(),
                spec.binary.display()
            )
        })?;
        let server = RunningServer { port, child, dir };
        eprintln!(
            "started {} on 127.0.0.1:{port}: {}{} {}",
            spec.kind.name(),
            spec.cpu_list
                .as_ref()
                .map(|c| format!("taskset -c {c} "))
                .unwrap_or_default(),
            spec.binary.display(),
            args.iter()
                .map(|a| if a.is_empty() { "''".into() } else { a.clone() })
                .collect::<Vec<_>>()
                .join(" ")
        );
        server.wait_ready(spec)
    }

    fn wait_ready(mut self, spec: &ServerSpec) -> Result<RunningServer, String> {
        let deadline = Instant::now() + Duration::from_secs(STARTUP_TIMEOUT_SECS);
        let addr = NodeAddr {
            host: "127.0.0.1".into(),
            port: self.port,
        };
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited during startup ({status}); last lines of {}:\n{}",
                    spec.kind.name(),
                    spec.log_path.display(),
                    log_tail(&spec.log_path)
                ));
            }
            if let Ok(mut stream) = connect_blocking(&addr) {
                if let Ok(Value::Simple(pong)) = blocking_command(&mut stream, &[b"PING"]) {
                    if pong == "PONG" {
                        return Ok(self);
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not answer PING on {addr} within {STARTUP_TIMEOUT_SECS} s; last lines of {}:\n{}",
                    spec.kind.name(),
                    spec.log_path.display(),
                    log_tail(&spec.log_path)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: plain kill(2) on the pid of a child we spawned and have not yet reaped.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(SHUTDOWN_TIMEOUT_SECS);
            while let Ok(None) = self.child.try_wait() {
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port that is free, with the next `shards` ports free too (keel's cluster mode
/// puts shard i on port + 1 + i).
fn free_port(shards: usize) -> Result<u16, String> {
    for _ in 0..50 {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("cannot bind a loopback port: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot read bound port: {e}"))?
            .port();
        let neighbours_free = (1..=shards as u32).all(|i| {
            u16::try_from(port as u32 + i)
                .ok()
                .is_some_and(|p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        });
        if neighbours_free {
            return Ok(port);
        }
    }
    Err("found no free loopback port range".into())
}

/// The last lines of a log file, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// `name` on PATH, if there.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_settings_per_persistence_mode() {
        let spec = |kind, persistence| ServerSpec {
            kind,
            binary: "x".into(),
            persistence,
            shards: 2,
            cpu_list: None,
            log_path: "l".into(),
        };
        let redis = spec(ServerKind::Redis, Persistence::None).args(7000, Path::new("/d"));
        assert!(redis.windows(2).any(|w| w == ["--save", ""]));
        assert!(redis.windows(2).any(|w| w == ["--appendonly", "no"]));
        let keel = spec(ServerKind::Keel, Persistence::Always).args(7000, Path::new("/d"));
        assert!(keel.windows(2).any(|w| w == ["--appendfsync", "always"]));
        assert!(keel.windows(2).any(|w| w == ["--shards", "2"]));
        assert!(keel.windows(2).any(|w| w == ["--dir", "/d"]));
    }
}
