//! The crash test: concurrent writers record every acknowledged write while the server is killed
//! with SIGKILL at random moments; after each restart every acknowledged write must be there, a
//! write in flight at the kill must be entirely there or entirely absent, and nothing that was
//! never sent may appear.
//!
//! `KEEL_CRASH_CYCLES` sets the number of kill cycles (default 6, for CI; hundreds locally).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::Server;
use rand::{Rng, SeedableRng};

const WRITERS: usize = 4;
const KEYS_PER_WRITER: usize = 40;

/// The acknowledged state of one writer's keys: `None` = absent.
type Model = HashMap<String, Option<String>>;

/// One write, with the values it sets (`None` = deletes).
#[derive(Clone, Debug)]
struct Write {
    sets: Vec<(String, Option<String>)>,
}

fn key(writer: usize, n: usize) -> String {
    format!("w{writer}:key:{n}")
}

/// Runs writes until `stop` or an error (the kill); returns the write in flight when it failed.
fn write_until_killed(
    port: u16,
    writer: usize,
    seed: u64,
    model: &mut Model,
    stop: &AtomicBool,
) -> Option<Write> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut con = client.get_connection().ok()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut counter = 0u64;
    while !stop.load(Ordering::Relaxed) {
        counter += 1;
        let value = format!("w{writer}-s{seed}-{counter}");
        let write = match rng.gen_range(0..10) {
            0..=4 => Write {
                sets: vec![(key(writer, rng.gen_range(0..KEYS_PER_WRITER)), Some(value))],
            },
            5..=7 => Write {
                // MSET over keys that land on different shards: atomic across shards.
                sets: (0..3)
                    .map(|i| {
                        (
                            key(writer, rng.gen_range(0..KEYS_PER_WRITER)),
                            Some(format!("{value}-{i}")),
                        )
                    })
                    .collect::<HashMap<_, _>>()
                    .into_iter()
                    .collect(),
            },
            _ => Write {
                sets: vec![(key(writer, rng.gen_range(0..KEYS_PER_WRITER)), None)],
            },
        };
        let result: redis::RedisResult<()> = match write.sets.as_slice() {
            [(k, Some(v))] => redis::cmd("SET").arg(k).arg(v).query(&mut con),
            [(k, None)] => redis::cmd("DEL").arg(k).query(&mut con),
            pairs => {
                let mut cmd = redis::cmd("MSET");
                for (k, v) in pairs {
                    cmd.arg(k).arg(v.as_deref().unwrap());
                }
                cmd.query(&mut con)
            }
        };
        match result {
            Ok(()) => {
                for (k, v) in write.sets {
                    model.insert(k, v);
                }
            }
            Err(_) => return Some(write),
        }
    }
    None
}

/// Checks one writer's keys after a restart and folds the in-doubt write into the model if it
/// turned out durable.
fn check_writer(
    con: &mut redis::Connection,
    writer: usize,
    model: &mut Model,
    in_doubt: Option<Write>,
) {
    let keys: Vec<String> = (0..KEYS_PER_WRITER).map(|n| key(writer, n)).collect();
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(con).unwrap();
    let actual: HashMap<String, Option<String>> = keys.into_iter().zip(values).collect();
    let doubtful: HashMap<&String, &Option<String>> = in_doubt
        .as_ref()
        .map(|w| w.sets.iter().map(|(k, v)| (k, v)).collect())
        .unwrap_or_default();
    for (k, v) in &actual {
        let acknowledged = model.get(k).cloned().flatten();
        if !doubtful.contains_key(k) {
            assert_eq!(
                v, &acknowledged,
                "key {k}: acknowledged value lost or changed"
            );
        }
    }
    if let Some(write) = in_doubt {
        let applied = write.sets.iter().all(|(k, v)| &actual[k] == v);
        let absent = write
            .sets
            .iter()
            .all(|(k, _)| actual[k] == model.get(k).cloned().flatten());
        assert!(
            applied || absent,
            "write in flight at the kill is partly applied: {write:?}, found {:?}",
            write
                .sets
                .iter()
                .map(|(k, _)| (k, &actual[k]))
                .collect::<Vec<_>>()
        );
        if applied {
            for (k, v) in write.sets {
                model.insert(k, v);
            }
        }
    }
}

#[test]
fn every_acknowledged_write_survives_sigkill_and_in_flight_writes_are_all_or_nothing() {
    let cycles: usize = std::env::var("KEEL_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let mut server = Server::start(3, &[]);
    let mut models: Vec<Model> = (0..WRITERS).map(|_| Model::new()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b65656c);
    let mut acknowledged_total = 0;
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = std::mem::take(&mut models)
            .into_iter()
            .enumerate()
            .map(|(w, mut model)| {
                let (stop, port, seed) = (stop.clone(), server.port, (cycle * WRITERS + w) as u64);
                thread::spawn(move || {
                    let in_doubt = write_until_killed(port, w, seed, &mut model, &stop);
                    (model, in_doubt)
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(rng.gen_range(150..600)));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        let results: Vec<(Model, Option<Write>)> =
            writers.into_iter().map(|t| t.join().unwrap()).collect();
        server.restart();
        let mut con = server.client();
        for (w, (mut model, in_doubt)) in results.into_iter().enumerate() {
            check_writer(&mut con, w, &mut model, in_doubt);
            models.push(model);
        }
        // Nothing that was never written may appear.
        let all: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
        for k in &all {
            let writer: usize = k[1..k.find(':').unwrap()].parse().unwrap();
            assert!(
                models[writer].contains_key(k),
                "key {k} was never acknowledged"
            );
        }
        acknowledged_total = models
            .iter()
            .map(|m| m.values().filter(|v| v.is_some()).count())
            .sum();
        assert_eq!(
            all.len(),
            acknowledged_total,
            "keys present vs keys acknowledged"
        );
    }
    assert!(acknowledged_total > 0, "the writers wrote nothing");
}
