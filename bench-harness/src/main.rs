//! keel-bench: a memtier_benchmark-compatible load generator for Redis-protocol servers, and
//! `keel-bench compare`, which runs the same load against redis-server and keel side by side.

mod args;
mod cluster;
mod compare;
mod conn;
mod cpu_time;
mod engine;
mod figures;
mod keys;
mod limits;
mod readiness;
mod report;
mod resp;
mod rng;
mod runner;
mod server;
mod stats;
mod svg;
mod workload;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    let outcome = if argv.first().map(String::as_str) == Some("compare") {
        argv.remove(0);
        compare::main(argv)
    } else {
        bench_main(argv)
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel-bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one load test as the command line describes, prints the results, writes the JSON.
fn bench_main(argv: Vec<String>) -> Result<(), String> {
    let cfg = match args::parse(argv)? {
        args::Parsed::Help => {
            print!("{}", args::USAGE);
            return Ok(());
        }
        args::Parsed::Run(cfg) => *cfg,
    };
    eprintln!(
        "keel-bench: {} threads x {} clients, pipeline {}, workload {}, {} against {}:{}{}",
        cfg.threads,
        cfg.clients,
        cfg.pipeline,
        cfg.workload.name(),
        match cfg.test_time {
            Some(t) => format!("{} s", t.as_secs()),
            None => format!("{} requests/client", cfg.requests),
        },
        cfg.host,
        cfg.port,
        match cfg.rate {
            Some(r) => format!(", open loop at {r} req/s"),
            None => String::new(),
        }
    );
    let result = runner::run(cfg.clone())?;
    print!("{}", report::table(&cfg, &result));
    if !cfg.hide_histogram {
        print!("{}", report::histogram_text(&cfg, &result));
    }
    if let Some(path) = &cfg.json_out_file {
        let text = serde_json::to_string_pretty(&report::json(&cfg, &result))
            .map_err(|e| format!("cannot encode JSON: {e}"))?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
