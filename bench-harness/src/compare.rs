//! `keel-bench compare`: starts redis-server and keel with equivalent settings, pins them and
//! the load to separate cores, runs the same load against each in turn `--runs` times, and
//! reports medians, Keel/Redis ratios, a JSON file and an SVG of the latency distributions.

use crate::args::{self, number, ArgCursor, Parsed};
use crate::cpu_time::{cores_idle_seconds, process_cpu_seconds};
use crate::figures::{self, Figures};
use crate::server::{self, Persistence, RunningServer, ServerKind, ServerSpec};
use crate::svg;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Most `--runs`.
const RUNS_MAX: usize = 100;
/// Most `--shards`.
const SHARDS_MAX: usize = 1024;
/// Test time `compare` adds when neither `-n` nor `--test-time` is given, seconds.
const DEFAULT_TEST_TIME_SECS: &str = "5";
/// Slack past the test time before a load run is killed as hung.
const LOAD_GRACE_SECS: u64 = 120;
/// Limit on a load run given as a request count rather than a time.
const LOAD_COUNTED_RUN_SECS_MAX: u64 = 3600;

pub const USAGE: &str = "\
keel-bench compare: the same load against redis-server and keel, side by side

USAGE: keel-bench compare [COMPARE OPTIONS] [LOAD OPTIONS]

COMPARE OPTIONS:
  --keel-bin PATH        keel server binary (default <repo>/target/release/keel)
  --redis-bin PATH       redis-server binary (default: redis-server on PATH; if absent,
                         Debian's package is installed with apt-get install -y redis-server)
  --servers LIST         which servers to start, in order (default redis,keel)
  --persistence MODE     none (default): redis --appendonly no --save '' / keel --appendonly no
                         always: both --appendonly yes --appendfsync always
                         everysec: both --appendonly yes --appendfsync everysec
  --shards N             keel --shards N (default 1)
  --runs N               runs per server; medians are reported (default 5)
  --target HOST:PORT     measure an already running server instead of starting any
  --memtier PATH         drive the load with this memtier_benchmark binary
  --out-dir DIR          where results go (default $TMPDIR/keel-compare-<unix time>)

LOAD OPTIONS: any of `keel-bench --help` except -s, -p, --json-out-file and --cluster-mode.
compare adds --test-time 5 when neither -n nor --test-time is given, and -t <load cores>
when -t is not given. Results: compare.json, compare.svg, and per-run JSON and logs.
";

/// Load flags that take no value (everything else the load parser knows takes one).
const LOAD_SWITCHES: &[&str] = &[
    "--distinct-client-seed",
    "--randomize",
    "--cluster-mode",
    "--hide-histogram",
    "--quiet",
];

/// What `compare` was asked to do.
#[derive(Debug)]
struct CompareConfig {
    keel_bin: PathBuf,
    redis_bin: Option<PathBuf>,
    servers: Vec<ServerKind>,
    persistence: Persistence,
    shards: usize,
    runs: usize,
    target: Option<(String, u16)>,
    memtier: Option<PathBuf>,
    out_dir: PathBuf,
    /// The load flags exactly as given, validated.
    load_args: Vec<String>,
    load_threads: Option<usize>,
    load_has_duration: bool,
}

fn parse(argv: Vec<String>) -> Result<Option<CompareConfig>, String> {
    let mut cc = CompareConfig {
        keel_bin: repo_root().join("target/release/keel"),
        redis_bin: None,
        servers: vec![ServerKind::Redis, ServerKind::Keel],
        persistence: Persistence::None,
        shards: 1,
        runs: 5,
        target: None,
        memtier: None,
        out_dir: std::env::temp_dir().join(format!("keel-compare-{}", unix_secs())),
        load_args: Vec::new(),
        load_threads: None,
        load_has_duration: false,
    };
    let mut cur = ArgCursor::new(argv);
    while let Some(flag) = cur.next_flag()? {
        let f = flag.as_str();
        match f {
            "-h" | "--help" => return Ok(None),
            "--keel-bin" => cc.keel_bin = PathBuf::from(cur.value(f)?),
            "--redis-bin" => cc.redis_bin = Some(PathBuf::from(cur.value(f)?)),
            "--servers" => cc.servers = parse_servers(&cur.value(f)?)?,
            "--persistence" => cc.persistence = Persistence::parse(&cur.value(f)?)?,
            "--shards" => cc.shards = number(f, &cur.value(f)?, 1, SHARDS_MAX)?,
            "--runs" => cc.runs = number(f, &cur.value(f)?, 1, RUNS_MAX)?,
            "--target" => cc.target = Some(parse_target(&cur.value(f)?)?),
            "--memtier" => cc.memtier = Some(PathBuf::from(cur.value(f)?)),
            "--out-dir" => cc.out_dir = PathBuf::from(cur.value(f)?),
            "-s" | "--server" | "-p" | "--port" | "--json-out-file" | "--cluster-mode" => {
                return Err(format!(
                    "{f} is set by compare itself (use --target HOST:PORT for another server)"
                ))
            }
            "--print-percentiles" => {
                return Err("--print-percentiles: compare always reports 50, 99, 99.9".into())
            }
            _ if LOAD_SWITCHES.contains(&f) => {
                cur.no_value(f)?;
                cc.load_args.push(flag);
            }
            _ => {
                let value = cur.value(f)?;
                match f {
                    "-t" | "--threads" => cc.load_threads = Some(number(f, &value, 1, 1024)?),
                    "-n" | "--requests" | "--test-time" => cc.load_has_duration = true,
                    _ => {}
                }
                cc.load_args.push(flag);
                cc.load_args.push(value);
            }
        }
    }
    // Validate the load flags with the load generator's own parser.
    if let Parsed::Help = args::parse(cc.load_args.clone())? {
        return Ok(None);
    }
    if cc.memtier.is_some() {
        for own in ["--workload", "--rate", "--quiet"] {
            if cc.load_args.iter().any(|a| a == own) {
                return Err(format!(
                    "{own} is keel-bench's own; memtier_benchmark has none"
                ));
            }
        }
    }
    Ok(Some(cc))
}

fn parse_servers(text: &str) -> Result<Vec<ServerKind>, String> {
    let list: Vec<ServerKind> = text
        .split(',')
        .map(|s| match s.trim() {
            "redis" => Ok(ServerKind::Redis),
            "keel" => Ok(ServerKind::Keel),
            other => Err(format!("--servers: unknown server {other:?} (redis, keel)")),
        })
        .collect::<Result<_, _>>()?;
    if list.is_empty() || list.len() > 2 || (list.len() == 2 && list[0] == list[1]) {
        return Err("--servers: give redis, keel, or both".into());
    }
    Ok(list)
}

fn parse_target(text: &str) -> Result<(String, u16), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("--target: expected HOST:PORT, got {text:?}"))?;
    if host.is_empty() {
        return Err("--target: empty host".into());
    }
    Ok((
        host.to_string(),
        number("--target port", port, 1u16, u16::MAX)?,
    ))
}

/// The workspace root: the nearest ancestor of the working directory whose Cargo.toml declares
/// `[workspace]`, else the one this binary was built from.
fn repo_root() -> PathBuf {
    let from_cwd = std::env::current_dir().ok().and_then(|cwd| {
        cwd.ancestors()
            .find(|dir| {
                std::fs::read_to_string(dir.join("Cargo.toml"))
                    .is_ok_and(|text| text.contains("[workspace]"))
            })
            .map(Path::to_path_buf)
    });
    from_cwd.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Which cores the servers and the load get, and why.
struct CorePlan {
    server: Option<String>,
    /// The load's cores (empty when the load is not pinned).
    load_cores: Vec<usize>,
    note: String,
}

fn cpu_list(cores: &[usize]) -> String {
    cores
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Servers get the first `shards` cores, the load the next `load_threads` (all the rest when
/// `-t` is not given); with too few cores each side still gets at least one.
fn plan_cores(shards: usize, load_threads: Option<usize>, starts_servers: bool) -> CorePlan {
    let cores: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let unpinned = |note: String| CorePlan {
        server: None,
        load_cores: Vec::new(),
        note,
    };
    if server::which("taskset").is_none() {
        return unpinned("taskset not found: nothing pinned".into());
    }
    if !starts_servers {
        return unpinned("--target: the server is not ours to pin; load unpinned".into());
    }
    if cores.len() < 2 {
        return unpinned(format!(
            "only {} core(s) available: server and load share them, nothing pinned",
            cores.len()
        ));
    }
    let server_n = shards.min(cores.len() - 1);
    let load_n = load_threads
        .unwrap_or(usize::MAX)
        .min(cores.len() - server_n);
    let server = &cores[..server_n];
    let load = &cores[server_n..server_n + load_n];
    let mut note = format!(
        "{} cores: servers on core(s) {} ({} shard(s)), load on core(s) {}",
        cores.len(),
        cpu_list(server),
        shards,
        cpu_list(load)
    );
    if server_n < shards || load_threads.is_some_and(|t| load_n < t) {
        note.push_str(&format!(
            "; too few cores for {shards} shard(s) and {} load thread(s) on cores of their own, so threads share cores",
            load_threads.map_or("the".to_string(), |t| t.to_string())
        ));
    }
    CorePlan {
        server: Some(cpu_list(server)),
        load_cores: load.to_vec(),
        note,
    }
}

/// redis-server from `--redis-bin`, PATH, or else Debian's package.
fn find_redis(given: &Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(path) = given {
        return if server::is_executable(path) {
            Ok(path.clone())
        } else {
            Err(format!(
                "--redis-bin {} is not an executable",
                path.display()
            ))
        };
    }
    if let Some(path) = server::which("redis-server") {
        return Ok(path);
    }
    eprintln!("redis-server is not on PATH: installing Debian's package (apt-get install -y redis-server)");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "redis-server"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let _ = Command::new("apt-get").arg("update").status();
        install();
    }
    server::which("redis-server").ok_or_else(|| {
        "redis-server is not installed and `apt-get install -y redis-server` failed; \
         install it or pass --redis-bin"
            .to_string()
    })
}

/// One thing to measure: a server we started, or `--target`.
struct Subject {
    label: String,
    host: String,
    port: u16,
    /// None for `--target`, whose CPU time is not measured.
    server: Option<RunningServer>,
}

fn start_subjects(cc: &CompareConfig, plan: &CorePlan) -> Result<Vec<Subject>, String> {
    if let Some((host, port)) = &cc.target {
        return Ok(vec![Subject {
            label: format!("{host}:{port}"),
            host: host.clone(),
            port: *port,
            server: None,
        }]);
    }
    // Check every binary before starting anything.
    let mut specs = Vec::new();
    for kind in &cc.servers {
        let binary = match kind {
            ServerKind::Redis => find_redis(&cc.redis_bin)?,
            ServerKind::Keel => {
                if !server::is_executable(&cc.keel_bin) {
                    return Err(format!(
                        "keel binary not found (or not executable) at {}: build it with \
                         `cargo build --release -p keel`, pass --keel-bin PATH, or measure \
                         redis alone with --servers redis",
                        cc.keel_bin.display()
                    ));
                }
                cc.keel_bin.clone()
            }
        };
        specs.push(ServerSpec {
            kind: *kind,
            binary,
            persistence: cc.persistence,
            shards: cc.shards,
            cpu_list: plan.server.clone(),
            log_path: cc.out_dir.join(format!("{}-server.log", kind.name())),
        });
    }
    let mut subjects = Vec::new();
    for spec in &specs {
        let running = RunningServer::start(spec)?;
        subjects.push(Subject {
            label: spec.kind.name().to_string(),
            host: "127.0.0.1".into(),
            port: running.port,
            server: Some(running),
        });
    }
    Ok(subjects)
}

/// Runs the load once against `subject`; returns the figures read from its JSON output.
fn run_load(
    cc: &CompareConfig,
    plan: &CorePlan,
    subject: &Subject,
    run: usize,
) -> Result<Figures, String> {
    let stem = format!("{}-run{run}", subject.label.replace([':', '/'], "_"));
    let json_path = cc.out_dir.join(format!("{stem}.json"));
    let log_path = cc.out_dir.join(format!("{stem}.log"));
    let exe = match &cc.memtier {
        Some(path) => path.clone(),
        None => std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?,
    };
    let mut load_args = cc.load_args.clone();
    if !cc.load_has_duration {
        load_args.extend(["--test-time".into(), DEFAULT_TEST_TIME_SECS.into()]);
    }
    if cc.load_threads.is_none() {
        let n = plan.load_cores.len().max(1);
        load_args.extend(["-t".into(), n.to_string()]);
    }
    load_args.extend([
        "-s".into(),
        subject.host.clone(),
        "-p".into(),
        subject.port.to_string(),
        "--json-out-file".into(),
        json_path.display().to_string(),
        "--hide-histogram".into(),
        "--print-percentiles".into(),
        "50,99,99.9".into(),
    ]);
    if cc.memtier.is_none() && !load_args.iter().any(|a| a == "--quiet") {
        load_args.push("--quiet".into());
    }
    let mut command = if plan.load_cores.is_empty() {
        Command::new(&exe)
    } else {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(cpu_list(&plan.load_cores)).arg(&exe);
        c
    };
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_err = log.try_clone().map_err(|e| format!("log file: {e}"))?;
    command
        .args(&load_args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    let server_pid = subject.server.as_ref().map(RunningServer::pid);
    let server_cpu_before = server_pid.and_then(process_cpu_seconds);
    let load_idle_before = cores_idle_seconds(&plan.load_cores);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start load {}: {e}", exe.display()))?;
    let limit = load_time_limit(&load_args);
    let started = Instant::now();
    // The load's CPU time as last seen before it exited: up to one poll interval short.
    let mut load_cpu = 0.0;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("load run: {e}"))? {
            break status;
        }
        load_cpu = process_cpu_seconds(child.id()).unwrap_or(load_cpu);
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "load against {} ran past {} s and was stopped; see {}",
                subject.label,
                limit.as_secs(),
                log_path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        return Err(format!(
            "load against {} failed ({status}); last lines of {}:\n{}",
            subject.label,
            log_path.display(),
            server::log_tail(&log_path)
        ));
    }
    let text = std::fs::read_to_string(&json_path)
        .map_err(|e| format!("cannot read {}: {e}", json_path.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not JSON: {e}", json_path.display()))?;
    let mut figures =
        figures::from_json(&doc).map_err(|e| format!("{}: {e}", json_path.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    if let (Some(before), Some(after)) =
        (server_cpu_before, server_pid.and_then(process_cpu_seconds))
    {
        figures.server_cores = (after - before) / seconds;
    }
    figures.load_cores = load_cpu / seconds;
    if !plan.load_cores.is_empty() {
        let load_idle_after = cores_idle_seconds(&plan.load_cores);
        if let (Some(before), Some(after)) = (load_idle_before, load_idle_after) {
            figures.load_cores_idle = (after - before) / seconds / plan.load_cores.len() as f64;
        }
    }
    Ok(figures)
}

fn load_time_limit(load_args: &[String]) -> Duration {
    let test_time = load_args
        .windows(2)
        .find(|w| w[0] == "--test-time")
        .and_then(|w| w[1].parse::<u64>().ok());
    Duration::from_secs(match test_time {
        Some(secs) => secs + LOAD_GRACE_SECS,
        None => LOAD_COUNTED_RUN_SECS_MAX,
    })
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// `keel-bench compare`.
pub fn main(argv: Vec<String>) -> Result<(), String> {
    let Some(cc) = parse(argv)? else {
        print!("{USAGE}");
        return Ok(());
    };
    std::fs::create_dir_all(&cc.out_dir)
        .map_err(|e| format!("cannot create {}: {e}", cc.out_dir.display()))?;
    let plan = plan_cores(cc.shards, cc.load_threads, cc.target.is_none());
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("machine: {nproc} cores, {}", cpu_model());
    eprintln!("pinning: {}", plan.note);
    let subjects = start_subjects(&cc, &plan)?;
    let mut per_subject: Vec<Vec<Figures>> = vec![Vec::new(); subjects.len()];
    for run in 1..=cc.runs {
        for (i, subject) in subjects.iter().enumerate() {
            let f = run_load(&cc, &plan, subject, run)?;
            eprintln!(
                "run {run}/{} {:<8} {:>12.0} ops/s  p50 {:.3}  p99 {:.3}  p99.9 {:.3} ms  \
                 cores busy: server {:.2}, load {:.2} (load cores idle {:.2})",
                cc.runs,
                subject.label,
                f.ops_per_sec,
                f.p50_ms,
                f.p99_ms,
                f.p999_ms,
                f.server_cores,
                f.load_cores,
                f.load_cores_idle
            );
            per_subject[i].push(f);
        }
    }
    let medians: Vec<Figures> = per_subject
        .iter()
        .map(|runs| figures::median_of(runs).expect("at least one run"))
        .collect();
    let labels: Vec<String> = subjects.iter().map(|s| s.label.clone()).collect();
    drop(subjects); // stops the servers before the report is written
    print!("{}", table(&cc, &labels, &per_subject, &medians));
    let doc = report_json(&cc, &plan, nproc, &labels, &per_subject, &medians);
    let json_path = cc.out_dir.join("compare.json");
    let text = serde_json::to_string_pretty(&doc).map_err(|e| format!("JSON: {e}"))?;
    std::fs::write(&json_path, text)
        .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
    let series: Vec<svg::Series> = labels
        .iter()
        .zip(&medians)
        .map(|(label, m)| svg::Series {
            label: format!("{label} (median run, {:.0} ops/s)", m.ops_per_sec),
            points: m.distribution.clone(),
        })
        .collect();
    let title = format!(
        "Latency by percentile: {} load, persistence {}",
        describe_load(&cc),
        cc.persistence.name()
    );
    let svg_path = cc.out_dir.join("compare.svg");
    std::fs::write(&svg_path, svg::render(&title, &series))
        .map_err(|e| format!("cannot write {}: {e}", svg_path.display()))?;
    println!("\nwrote {} and {}", json_path.display(), svg_path.display());
    Ok(())
}

fn describe_load(cc: &CompareConfig) -> String {
    let words = cc.load_args.join(" ");
    if words.is_empty() {
        "default memtier".into()
    } else {
        words
    }
}

type Metric = fn(&Figures) -> f64;

/// The reported metrics, in table order.
const METRICS: [(&str, Metric); 8] = [
    ("ops/s", |f| f.ops_per_sec),
    ("avg ms", |f| f.avg_ms),
    ("p50 ms", |f| f.p50_ms),
    ("p99 ms", |f| f.p99_ms),
    ("p99.9 ms", |f| f.p999_ms),
    ("server cores", |f| f.server_cores),
    ("load cores", |f| f.load_cores),
    ("load idle", |f| f.load_cores_idle),
];

/// Median over runs of `get(second's run i) / get(first's run i)`: runs i of the two servers
/// ran back to back, so this ratio shrugs off a noisy stretch that hit both.
fn paired_ratio(runs: &[Vec<Figures>], get: Metric) -> f64 {
    let ratios: Vec<f64> = runs[0]
        .iter()
        .zip(&runs[1])
        .map(|(a, b)| safe_ratio(get(b), get(a)))
        .collect();
    figures::median(&ratios)
}

fn table(
    cc: &CompareConfig,
    labels: &[String],
    runs: &[Vec<Figures>],
    medians: &[Figures],
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nMedians of {} run(s); load: {}; persistence: {}",
        cc.runs,
        describe_load(cc),
        cc.persistence.name()
    );
    let two = medians.len() == 2;
    let mut header = format!("{:<12}", "metric");
    for l in labels {
        let _ = write!(header, "{l:>16}");
    }
    if two {
        let _ = write!(header, "{:>14}", format!("{}/{}", labels[1], labels[0]));
        let _ = write!(header, "{:>16}", "paired median");
    }
    let _ = writeln!(out, "{header}\n{}", "-".repeat(header.len()));
    for (name, get) in METRICS {
        let mut line = format!("{name:<12}");
        for m in medians {
            let v = get(m);
            if !v.is_finite() {
                let _ = write!(line, "{:>16}", "-");
            } else if name == "ops/s" {
                let _ = write!(line, "{v:>16.0}");
            } else {
                let _ = write!(line, "{v:>16.3}");
            }
        }
        if two {
            let ratio = safe_ratio(get(&medians[1]), get(&medians[0]));
            let _ = write!(line, "{ratio:>13.2}x{:>15.2}x", paired_ratio(runs, get));
        }
        let _ = writeln!(out, "{line}");
    }
    if two {
        let _ = writeln!(
            out,
            "(ratio: of the medians; paired median: median over runs of run-i ratios)"
        );
    }
    out
}

fn safe_ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

fn report_json(
    cc: &CompareConfig,
    plan: &CorePlan,
    nproc: usize,
    labels: &[String],
    runs: &[Vec<Figures>],
    medians: &[Figures],
) -> serde_json::Value {
    let figures_json = |f: &Figures| {
        json!({"ops_per_sec": f.ops_per_sec, "avg_ms": f.avg_ms, "p50_ms": f.p50_ms,
               "p99_ms": f.p99_ms, "p99_9_ms": f.p999_ms,
               "server_cores_busy": f.server_cores, "load_cores_busy": f.load_cores,
               "load_cores_idle": f.load_cores_idle})
    };
    let mut servers = serde_json::Map::new();
    for ((label, runs), median) in labels.iter().zip(runs).zip(medians) {
        let mut m = figures_json(median);
        m["distribution"] = json!(median
            .distribution
            .iter()
            .map(|(p, ms)| json!({"percent": p, "<=msec": ms}))
            .collect::<Vec<_>>());
        servers.insert(
            label.clone(),
            json!({"runs": runs.iter().map(figures_json).collect::<Vec<_>>(), "median": m}),
        );
    }
    let ratios = (medians.len() == 2).then(|| {
        let r = |get: fn(&Figures) -> f64| safe_ratio(get(&medians[1]), get(&medians[0]));
        json!({
            "of": format!("{}/{}", labels[1], labels[0]),
            "ops_per_sec": r(|f| f.ops_per_sec),
            "p50": r(|f| f.p50_ms),
            "p99": r(|f| f.p99_ms),
            "p99_9": r(|f| f.p999_ms),
            "paired_median": {
                "ops_per_sec": paired_ratio(runs, |f| f.ops_per_sec),
                "p50": paired_ratio(runs, |f| f.p50_ms),
                "p99": paired_ratio(runs, |f| f.p99_ms),
                "p99_9": paired_ratio(runs, |f| f.p999_ms),
            },
        })
    });
    json!({
        "machine": {"nproc": nproc, "cpu_model": cpu_model()},
        "configuration": {
            "persistence": cc.persistence.name(),
            "shards": cc.shards,
            "runs": cc.runs,
            "load_args": cc.load_args,
            "load_tool": cc.memtier.as_ref().map_or("keel-bench".to_string(), |p| p.display().to_string()),
            "pinning": plan.note,
            "keel_bin": cc.keel_bin.display().to_string(),
        },
        "servers": servers,
        "ratios": ratios,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<CompareConfig, String> {
        parse(args.iter().map(|s| s.to_string()).collect()).map(|c| c.expect("not a help request"))
    }

    #[test]
    fn load_flags_pass_through_and_are_validated() {
        let cc = parsed(&[
            "--runs",
            "3",
            "-c",
            "10",
            "--pipeline=16",
            "--hide-histogram",
        ])
        .unwrap();
        assert_eq!(cc.runs, 3);
        assert_eq!(
            cc.load_args,
            vec!["-c", "10", "--pipeline", "16", "--hide-histogram"]
        );
        assert!(parsed(&["--pipeline", "0"]).is_err());
        assert!(parsed(&["-p", "6379"])
            .unwrap_err()
            .contains("set by compare"));
        assert!(parsed(&["--servers", "redis,redis"]).is_err());
        assert!(parsed(&["--persistence", "sometimes"]).is_err());
        assert!(parsed(&["--target", "nohost"]).is_err());
        assert!(parsed(&["--memtier", "/x", "--workload", "session"]).is_err());
    }

    #[test]
    fn missing_keel_binary_is_a_clear_error() {
        let cc = parsed(&["--servers", "keel", "--keel-bin", "/nonexistent/keel"]).unwrap();
        let plan = CorePlan {
            server: None,
            load_cores: Vec::new(),
            note: String::new(),
        };
        let err = start_subjects(&cc, &plan).err().expect("must fail");
        assert!(err.contains("keel binary not found"), "{err}");
        assert!(err.contains("/nonexistent/keel"));
    }

    #[test]
    fn load_runs_are_bounded_in_time() {
        let args: Vec<String> = ["--test-time", "5"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            load_time_limit(&args),
            Duration::from_secs(5 + LOAD_GRACE_SECS)
        );
    }
}
