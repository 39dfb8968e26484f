//! Bringing the data back at start: every shard journal under `dir` is read, checked, and replayed
//! into the keyspaces of the shards that own each record's slot now (so changing `shards` between
//! restarts keeps every key).
//!
//! Order: every run writes an `EPOCH` record first, so records are replayed run by run. Within a
//! run each key belongs to one shard and so to one journal, in LSN order; journals of one run touch
//! disjoint keys, so the order between them does not matter. A cross-shard transaction is applied
//! only when all of its parts are found.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::Config;
use crate::journal::effect::{self, decode_epoch, decode_txn_part, Effect, Located};
use crate::journal::{JournalReader, Record, Recovery};
use crate::keyspace::Keyspace;
use crate::router::slot::SlotMap;
use crate::shard::now_ms;

/// What recovery hands to the shards.
pub struct Recovered {
    /// One keyspace per shard of the new layout.
    pub keyspaces: Vec<Keyspace>,
    /// Per shard: where its journal continues (`None` with `appendonly no`).
    pub journals: Vec<Option<Recovery>>,
    /// This run's epoch, to be written first in every shard's journal.
    pub epoch: u64,
}

pub fn shard_dir(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("shard-{shard}"))
}

pub fn recover(config: &Config, slots: &SlotMap) -> Result<Recovered, String> {
    let shards = config.shards;
    let mut keyspaces: Vec<Keyspace> = (0..shards)
        .map(|i| Keyspace::new(config.databases, slots.range(i)))
        .collect();
    if !config.appendonly {
        return Ok(Recovered {
            keyspaces,
            journals: (0..shards).map(|_| None).collect(),
            epoch: 1,
        });
    }
    let started = Instant::now();
    let mut journals: Vec<Option<Recovery>> = (0..shards).map(|_| None).collect();
    // epoch -> each journal's records of that run.
    let mut runs: BTreeMap<u64, Vec<Vec<Record>>> = BTreeMap::new();
    let (mut records, mut bytes) = (0u64, 0u64);
    for (index, dir) in existing_shard_dirs(&config.dir)? {
        let mut reader = JournalReader::open(&dir, 1).map_err(|e| e.to_string())?;
        let mut epoch = 0;
        let mut run = Vec::new();
        for record in &mut reader {
            let record = record.map_err(|e| e.to_string())?;
            records += 1;
            bytes += record.payload.len() as u64;
            if record.kind == effect::EPOCH {
                runs.entry(epoch)
                    .or_default()
                    .push(std::mem::take(&mut run));
                epoch = decode_epoch(record.payload.clone()).ok_or_else(|| {
                    format!(
                        "journal {}: bad EPOCH record at LSN {}",
                        dir.display(),
                        record.lsn
                    )
                })?;
            } else {
                run.push(record);
            }
        }
        runs.entry(epoch).or_default().push(run);
        let recovery = reader.finish().map_err(|e| {
            format!(
                "{e}; run `keel check-journal {}` to inspect (and --repair to truncate)",
                config.dir.display()
            )
        })?;
        if let Some(torn) = &recovery.torn_tail {
            log::warn!("{torn}");
        }
        if index < shards {
            journals[index] = Some(recovery);
        } else if let Some(torn) = &recovery.torn_tail {
            // A journal of a shard that no longer exists: nobody reopens it, so cut it here.
            torn.cut().map_err(|e| e.to_string())?;
        }
    }
    let complete = complete_transactions(&runs);
    let now = now_ms();
    for (&epoch, run) in &runs {
        for record in run.iter().flatten() {
            for located in decode(record, epoch, &complete)? {
                if located.db as usize >= config.databases {
                    return Err(format!(
                        "the journal has data for database {} but 'databases' is {}",
                        located.db, config.databases
                    ));
                }
                apply(&mut keyspaces, slots, located, now);
            }
        }
    }
    for ks in &mut keyspaces {
        ks.take_changes();
    }
    for (index, journal) in journals.iter_mut().enumerate() {
        if journal.is_none() {
            let dir = shard_dir(&config.dir, index);
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let reader = JournalReader::open(&dir, 1).map_err(|e| e.to_string())?;
            *journal = Some(reader.finish().map_err(|e| e.to_string())?);
        }
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-6);
    if records > 0 {
        let keys: usize = keyspaces.iter().flat_map(|k| &k.dbs).map(|d| d.len()).sum();
        log::info!(
            "DB loaded from the journal: {records} records, {keys} keys, in {:.3} s ({:.0} records/s, {:.1} MB/s)",
            seconds,
            records as f64 / seconds,
            bytes as f64 / seconds / 1e6
        );
    }
    Ok(Recovered {
        keyspaces,
        journals,
        epoch: runs.keys().next_back().copied().unwrap_or(0) + 1,
    })
}

/// `shard-<i>` directories under `dir`, by index.
fn existing_shard_dirs(dir: &Path) -> Result<Vec<(usize, PathBuf)>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
    };
    let mut dirs: Vec<(usize, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let index = name.strip_prefix("shard-")?.parse().ok()?;
            Some((index, e.path()))
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

type TxnKey = (u64, u16, u64);

/// The cross-shard transactions (epoch, origin, seq) whose every part is in the journals.
fn complete_transactions(runs: &BTreeMap<u64, Vec<Vec<Record>>>) -> HashMap<TxnKey, bool> {
    let mut found: HashMap<TxnKey, (u16, u16)> = HashMap::new();
    for (&epoch, run) in runs {
        for record in run.iter().flatten().filter(|r| r.kind == effect::TXN_PART) {
            if let Some((tag, _)) = decode_txn_part(record.payload.clone()) {
                let entry = found
                    .entry((epoch, tag.origin, tag.seq))
                    .or_insert((0, tag.parts));
                entry.0 += 1;
            }
        }
    }
    let complete: HashMap<TxnKey, bool> = found
        .into_iter()
        .map(|(k, (n, parts))| (k, n >= parts))
        .collect();
    let dropped = complete.values().filter(|c| !**c).count();
    if dropped > 0 {
        log::warn!("{dropped} cross-shard transactions were not complete in the journals (never acknowledged); not applied");
    }
    complete
}

fn decode(
    record: &Record,
    epoch: u64,
    complete: &HashMap<TxnKey, bool>,
) -> Result<Vec<Located>, String> {
    let bad = || {
        format!(
            "journal record at LSN {} (kind {}) cannot be decoded",
            record.lsn, record.kind
        )
    };
    if record.kind == effect::TXN_PART {
        let (tag, effects) = decode_txn_part(record.payload.clone()).ok_or_else(bad)?;
        let is_complete = complete.get(&(epoch, tag.origin, tag.seq)) == Some(&true);
        return Ok(if is_complete { effects } else { Vec::new() });
    }
    let effect = Effect::decode(record.kind, record.payload.clone()).ok_or_else(bad)?;
    Ok(vec![Located {
        slot: record.slot,
        db: record.db,
        effect,
    }])
}

fn apply(keyspaces: &mut [Keyspace], slots: &SlotMap, located: Located, now: u64) {
    let db = located.db as usize;
    match located.effect {
        Effect::Put {
            key,
            value,
            expire_at_ms,
        } => {
            let target = &mut keyspaces[slots.owner(located.slot)].dbs[db];
            if expire_at_ms.is_some_and(|at| at <= now) {
                target.remove(&key);
            } else {
                target.insert(&key, value.detached(), expire_at_ms);
            }
        }
        Effect::Del { key } => {
            keyspaces[slots.owner(located.slot)].dbs[db].remove(&key);
        }
        Effect::Flush { slots: range } => {
            for ks in keyspaces.iter_mut() {
                ks.dbs[db].clear_slots(range.clone());
            }
        }
        Effect::SwapDb {
            other_db,
            slots: range,
        } => {
            for ks in keyspaces.iter_mut() {
                let (a, b) = (db.min(other_db as usize), db.max(other_db as usize));
                if a != b {
                    let (low, high) = ks.dbs.split_at_mut(b);
                    low[a].swap_slots(&mut high[0], range.clone());
                }
            }
        }
    }
}
