//! Bringing the data back at start: every shard directory under `dir` is read (its newest
//! snapshot, then its journal after the snapshot's LSN), checked, and replayed into the keyspaces
//! of the shards that own each key's slot now (so changing `shards` between restarts keeps every
//! key).
//!
//! Order: every run writes an `EPOCH` record first, so records are replayed run by run. Within a
//! run each key belongs to one shard and so to one journal, in LSN order; journals of one run touch
//! disjoint keys, so the order between them does not matter. A snapshot is applied at the start
//! of its run's records: it first clears its slot range (keys deleted before it may still be in
//! older runs' journals of other directories), then inserts its keys; its directory's records
//! after its LSN follow. A cross-shard transaction is applied only when all of its parts are found
//! (a part inside a snapshot counts: the snapshot lists it).
//!
//! When no directory holds keys of another shard (the layout they were written under is the
//! current one), the directories are replayed side by side, a thread each (`parallel`); the first
//! snapshot or record of another shard's slots stops that, and the replay starts over in order.
//!
//! So once every shard of the current layout has published a snapshot of this run, everything
//! from earlier runs in any directory is superseded: recovery finding data of an earlier layout
//! hands it to `shard::relayout`, which takes those snapshots and then deletes the rest.
//!
//! Memory: the journals are read twice, so that they never are in memory whole. The first reading
//! (`runs::scan`) checks every record (CRC, LSN sequence, torn tail or corruption) and keeps only
//! where each run lies in each directory's journal (`RunSpan`: first and last LSN) and which
//! transaction parts exist (`TxnCensus`: keys and counts). The replay then reads each run back
//! (`RunReader`) in epoch order and applies its records one at a time, recording no changes in
//! the keyspaces (those would grow with the journal). What recovery holds is the keyspace being
//! rebuilt, one snapshot read buffer (8 MiB) per directory being loaded, one journal segment
//! (`journal-segment-size`, 64 MB by default) per directory with runs left to replay, and that
//! bookkeeping: a few words per run and per cross-shard transaction.

mod parallel;
mod runs;
mod txns;

use std::collections::{BTreeSet, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::Config;
use crate::journal::effect::{self, decode_txn_part, Effect, Located};
use crate::journal::{JournalReader, Record, Recovery};
use crate::keyspace::Keyspace;
use crate::router::slot::{key_slot, SlotMap};
use crate::shard::{now_ms, relayout, OldLayout};
use crate::snapshot::{format, Checked, TxnKey};
use runs::{RunReader, RunSpan};
use txns::TxnCensus;

/// What recovery hands to the shards.
pub struct Recovered {
    /// One keyspace per shard of the new layout.
    pub keyspaces: Vec<Keyspace>,
    /// Per shard: where its journal continues (`None` with `appendonly no`).
    pub journals: Vec<Option<Recovery>>,
    /// Per shard: what its snapshots need to know.
    pub snapshot_seeds: Vec<SnapshotSeed>,
    /// This run's epoch, to be written first in every shard's journal.
    pub epoch: u64,
    /// What an earlier `shards` layout left on disk (`None` when everything is where it belongs).
    pub old_layout: Option<OldLayout>,
}

/// What a shard's snapshots need from recovery.
#[derive(Default)]
pub struct SnapshotSeed {
    /// Whether everything in the shard's directory is in its current slot range (so that a
    /// snapshot may delete the journal and snapshots before it).
    pub may_trim: bool,
    /// The cross-shard transactions with a part in the shard's directory.
    pub txns: Vec<TxnKey>,
    /// Keys the shard starts with, and keys recovery found expired and dropped (INFO's
    /// `rdb_last_load_keys_*`).
    pub keys_loaded: u64,
    pub keys_expired: u64,
}

pub fn shard_dir(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("shard-{shard}"))
}

/// One shard directory as the first reading found it: its snapshot (until applied) and where
/// its runs lie in its journal.
struct DirPlan {
    index: usize,
    path: PathBuf,
    snapshot: Option<Checked>,
    /// The snapshot's run, kept once the snapshot itself is applied and dropped.
    snapshot_epoch: Option<u64>,
    runs: Vec<RunSpan>,
}

pub fn recover(config: &Config, slots: &SlotMap) -> Result<Recovered, String> {
    let shards = config.shards;
    let (keyspaces, seeds) = empty_shards(config, slots);
    let mut rebuild = Rebuild {
        config,
        slots,
        keyspaces,
        seeds,
        incomplete: HashSet::new(),
    };
    if !config.appendonly {
        return Ok(Recovered {
            keyspaces: rebuild.keyspaces,
            journals: (0..shards).map(|_| None).collect(),
            snapshot_seeds: rebuild.seeds,
            epoch: 1,
            old_layout: None,
        });
    }
    relayout::remove_superseded_dirs(&config.dir);
    let started = Instant::now();
    let mut journals: Vec<Option<Recovery>> = (0..shards).map(|_| None).collect();
    let mut plans = Vec::new();
    let mut orphan_dirs = Vec::new();
    let mut census = TxnCensus::default();
    let (mut records, mut bytes) = (0u64, 0u64);
    for (index, dir, read) in parallel::read_dirs(config, existing_shard_dirs(&config.dir)?) {
        let (plan, recovery, read, dir_census) = read?;
        census.merge(dir_census);
        records += read.0;
        bytes += read.1;
        if index < shards {
            journals[index] = Some(recovery);
        } else {
            // A journal of a shard that no longer exists: nobody reopens it, so cut it here (the
            // replay reads only records before the cut).
            if let Some(torn) = &recovery.torn_tail {
                torn.cut().map_err(|e| e.to_string())?;
            }
            orphan_dirs.push(dir);
        }
        plans.push(plan);
    }
    for plan in &plans {
        for txn in plan.snapshot.iter().flat_map(|s| &s.header.txns) {
            census.count_listed(txn);
        }
    }
    rebuild.incomplete = census.into_incomplete();
    let epochs: BTreeSet<u64> = plans
        .iter()
        .flat_map(|p| p.runs.iter().map(|r| r.epoch).chain(p.snapshot_epoch))
        .collect();
    let side_by_side = parallel::replay(
        config,
        slots,
        &plans,
        &epochs,
        &rebuild.incomplete,
        &mut rebuild.keyspaces,
        &mut rebuild.seeds,
    );
    if let Err(why) = side_by_side {
        log::info!(
            "cannot replay the shard directories side by side ({why}): replaying them in order"
        );
        (rebuild.keyspaces, rebuild.seeds) = empty_shards(config, slots);
        let mut readers: Vec<RunReader> = plans.iter().map(|p| RunReader::new(&p.path)).collect();
        for &epoch in &epochs {
            rebuild.replay_run(epoch, &mut plans, &mut readers)?;
        }
    }
    let Rebuild {
        mut keyspaces,
        mut seeds,
        ..
    } = rebuild;
    let now = now_ms();
    for (ks, seed) in keyspaces.iter_mut().zip(&mut seeds) {
        for db in &mut ks.dbs {
            seed.keys_expired += db.remove_expired(now, usize::MAX) as u64;
            seed.keys_loaded += db.len() as u64;
        }
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
    crate::runtime::memory::return_free_memory();
    let seconds = started.elapsed().as_secs_f64().max(1e-6);
    if records > 0 {
        let keys: usize = keyspaces.iter().flat_map(|k| &k.dbs).map(|d| d.len()).sum();
        log::info!(
            "DB loaded from snapshots and the journal: {records} records (snapshot entries included), {keys} keys, in {:.3} s ({:.0} records/s, {:.1} MB/s)",
            seconds,
            records as f64 / seconds,
            bytes as f64 / seconds / 1e6
        );
    }
    let old_layout = (!orphan_dirs.is_empty() || seeds.iter().any(|s| !s.may_trim))
        .then_some(OldLayout { orphan_dirs });
    Ok(Recovered {
        keyspaces,
        journals,
        snapshot_seeds: seeds,
        epoch: epochs.last().copied().unwrap_or(0) + 1,
        old_layout,
    })
}

/// Every shard's keyspace and seed before anything is replayed.
fn empty_shards(config: &Config, slots: &SlotMap) -> (Vec<Keyspace>, Vec<SnapshotSeed>) {
    let keyspaces = (0..config.shards)
        .map(|i| replay_keyspace(config, slots, i))
        .collect();
    let seeds = (0..config.shards)
        .map(|_| SnapshotSeed {
            may_trim: true,
            ..SnapshotSeed::default()
        })
        .collect();
    (keyspaces, seeds)
}

/// An empty keyspace for shard `index` that records no changes: replay writes nothing to the
/// journal, and recorded changes (every key written, every delta) would grow with the journal.
/// The shard turns recording on when it starts with a journal.
fn replay_keyspace(config: &Config, slots: &SlotMap, index: usize) -> Keyspace {
    let mut keyspace = Keyspace::new(config.databases, slots.range(index));
    keyspace.set_track_changes(false);
    keyspace
}

/// What the first reading of one directory found: its plan, where its journal continues,
/// (records, bytes) read, and its transaction parts.
type DirRead = (DirPlan, Recovery, (u64, u64), TxnCensus);

/// First reading of one shard directory: its newest valid snapshot, and its journal after it,
/// checked, with its runs located and its transaction parts counted.
fn read_dir(config: &Config, index: usize, dir: &Path) -> Result<DirRead, String> {
    let mut census = TxnCensus::default();
    let unpublished = format::delete_unpublished(dir)?;
    if unpublished > 0 {
        log::info!(
            "{}: deleted {unpublished} snapshot file(s) a crash left unfinished",
            dir.display()
        );
    }
    let (snapshot, damaged) = newest_snapshot(dir)?;
    let from_lsn = snapshot.as_ref().map_or(1, |s| s.header.lsn + 1);
    let mut reader = JournalReader::open(dir, from_lsn).map_err(|e| match &damaged {
        Some(bad) => format!("{bad}; the older snapshot cannot be used either: {e}"),
        None => e.to_string(),
    })?;
    let snapshot_epoch = snapshot.as_ref().map(|s| s.header.epoch);
    let scanned = runs::scan(dir, &mut reader, snapshot_epoch.unwrap_or(0), &mut census)?;
    let recovery = reader.finish().map_err(|e| {
        format!(
            "{e}; run `keel check-journal {}` to inspect (and --repair to truncate)",
            config.dir.display()
        )
    })?;
    if let Some(torn) = &recovery.torn_tail {
        log::warn!("{torn}");
    }
    let (snapshot_records, snapshot_bytes) =
        snapshot.as_ref().map_or((0, 0), |s| (s.frames, s.bytes));
    let read = (
        snapshot_records + scanned.records,
        snapshot_bytes + scanned.bytes,
    );
    let plan = DirPlan {
        index,
        path: dir.to_path_buf(),
        snapshot,
        snapshot_epoch,
        runs: scanned.runs,
    };
    Ok((plan, recovery, read, census))
}

/// The newest snapshot in `dir` whose file is whole, and the error of a newer damaged one (it
/// is skipped with a warning when an older one exists, else recovery refuses to start).
fn newest_snapshot(dir: &Path) -> Result<(Option<Checked>, Option<String>), String> {
    let found = format::list(dir)?;
    let mut damaged: Option<String> = None;
    for (i, (_, path)) in found.iter().enumerate() {
        match format::check(path) {
            Ok(loaded) => return Ok((Some(loaded), damaged)),
            Err(e) if i + 1 < found.len() => {
                log::warn!("{e}; falling back to the previous snapshot");
                damaged.get_or_insert(e);
            }
            Err(e) => {
                return Err(match damaged {
                    Some(newer) => format!("{newer}; and {e}"),
                    None => e,
                })
            }
        }
    }
    Ok((None, None))
}

/// The keyspaces being rebuilt, and what the replay learns for the shards' snapshots.
struct Rebuild<'a> {
    config: &'a Config,
    slots: &'a SlotMap,
    keyspaces: Vec<Keyspace>,
    seeds: Vec<SnapshotSeed>,
    /// Transactions whose parts are skipped (`TxnCensus::into_incomplete`).
    incomplete: HashSet<TxnKey>,
}

impl Rebuild<'_> {
    /// Replays run `epoch`: the snapshots taken in it, then every directory's records of it.
    fn replay_run(
        &mut self,
        epoch: u64,
        plans: &mut [DirPlan],
        readers: &mut [RunReader],
    ) -> Result<(), String> {
        for plan in plans.iter_mut() {
            if plan.snapshot_epoch == Some(epoch) {
                if let Some(snapshot) = plan.snapshot.take() {
                    self.apply_snapshot(plan.index, snapshot)?;
                }
            }
        }
        for (plan, reader) in plans.iter().zip(readers.iter_mut()) {
            for run in plan.runs.iter().filter(|r| r.epoch == epoch) {
                reader.read(run, |record| self.apply_record(plan.index, epoch, record))?;
            }
            if plan.runs.iter().all(|r| r.epoch <= epoch) {
                reader.close();
            }
        }
        Ok(())
    }

    /// Puts a snapshot's keys in place: its slot range is emptied first in every database.
    fn apply_snapshot(&mut self, index: usize, snapshot: Checked) -> Result<(), String> {
        if let Some(seed) = self.seeds.get_mut(index) {
            seed.may_trim &= contains(&self.slots.range(index), &snapshot.header.slots);
            seed.txns.extend(&snapshot.header.txns);
        }
        for ks in self.keyspaces.iter_mut() {
            for db in &mut ks.dbs {
                db.clear_slots(snapshot.header.slots.clone());
            }
        }
        let (slots, keyspaces) = (self.slots, &mut self.keyspaces);
        snapshot_effects(self.config, &snapshot, |located| {
            apply(keyspaces, |slot| slots.owner(slot), located)
        })
    }

    /// Applies one journal record of directory `index`, read in run `epoch`.
    fn apply_record(&mut self, index: usize, epoch: u64, record: Record) -> Result<(), String> {
        let (slots, keyspaces) = (self.slots, &mut self.keyspaces);
        let mut seed = self.seeds.get_mut(index);
        let txn = record_effects(self.config, &record, epoch, &self.incomplete, |located| {
            if let Some(seed) = seed.as_mut() {
                seed.may_trim &= contains(&slots.range(index), &effect_slots(&located));
            }
            apply(keyspaces, |slot| slots.owner(slot), located)
        })?;
        if let (Some(seed), Some(txn)) = (seed, txn) {
            seed.txns.push(txn);
        }
        Ok(())
    }
}

/// Hands every entry of `snapshot` to `each`, as the effect that puts its key (or part) in place.
fn snapshot_effects(
    config: &Config,
    snapshot: &Checked,
    mut each: impl FnMut(Located) -> Result<(), String>,
) -> Result<(), String> {
    snapshot.for_each_entry(|entry| {
        check_db(config, entry.db)?;
        // A key, or (`Delta`) more elements of the big collection the last entry of it put.
        let (Effect::Put { key, .. } | Effect::Delta { key, .. }) = &entry.effect else {
            return Err(format!(
                "{}: an entry is not a key",
                snapshot.path.display()
            ));
        };
        each(Located {
            slot: key_slot(key),
            db: entry.db,
            effect: entry.effect,
        })
    })
}

/// Decodes a record of run `epoch` and hands each of its effects to `each` (none for a part of
/// an incomplete transaction); returns the transaction the record is a part of.
fn record_effects(
    config: &Config,
    record: &Record,
    epoch: u64,
    incomplete: &HashSet<TxnKey>,
    mut each: impl FnMut(Located) -> Result<(), String>,
) -> Result<Option<TxnKey>, String> {
    let (txn, effects) = decode(record, epoch, incomplete)?;
    for located in effects {
        check_db(config, located.db)?;
        each(located)?;
    }
    Ok(txn)
}

fn check_db(config: &Config, db: u8) -> Result<(), String> {
    if db as usize >= config.databases {
        return Err(format!(
            "the journal has data for database {db} but 'databases' is {}",
            config.databases
        ));
    }
    Ok(())
}

/// The slots an effect touches.
fn effect_slots(located: &Located) -> Range<u16> {
    match &located.effect {
        Effect::Flush { slots } | Effect::SwapDb { slots, .. } => slots.clone(),
        _ => located.slot..located.slot + 1,
    }
}

fn contains(outer: &Range<u16>, inner: &Range<u16>) -> bool {
    inner.is_empty() || (outer.start <= inner.start && inner.end <= outer.end)
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

/// A record's effects (none for a part of an incomplete transaction), and the transaction it is
/// a part of.
fn decode(
    record: &Record,
    epoch: u64,
    incomplete: &HashSet<TxnKey>,
) -> Result<(Option<TxnKey>, Vec<Located>), String> {
    let bad = || {
        format!(
            "journal record at LSN {} (kind {}) cannot be decoded",
            record.lsn, record.kind
        )
    };
    if record.kind == effect::TXN_PART {
        let (tag, effects) = decode_txn_part(record.payload.clone()).ok_or_else(bad)?;
        let key = (epoch, tag.origin, tag.seq);
        return Ok(if incomplete.contains(&key) {
            (None, Vec::new())
        } else {
            (Some(key), effects)
        });
    }
    let effect = Effect::decode(record.kind, record.payload.clone()).ok_or_else(bad)?;
    Ok((
        None,
        vec![Located {
            slot: record.slot,
            db: record.db,
            effect,
        }],
    ))
}
/// Applies one effect to `keyspaces`, where `owner` names the keyspace of a slot. Expired keys are
/// kept until every record is applied (`purge_expired`): a later delta may change them, as it did
/// when it was logged.
fn apply(
    keyspaces: &mut [Keyspace],
    owner: impl Fn(u16) -> usize,
    located: Located,
) -> Result<(), String> {
    let db = located.db as usize;
    match located.effect {
        Effect::Put {
            key,
            value,
            expire_at_ms,
        } => {
            let target = &mut keyspaces[owner(located.slot)].dbs[db];
            target.insert(&key, value.detached(), expire_at_ms);
        }
        Effect::Delta { key, delta } => {
            // Replay sees the keys as they were when the delta was logged: none expire here.
            let target = &mut keyspaces[owner(located.slot)].dbs[db];
            target.apply(&key, delta, 0).map_err(|_| {
                format!(
                    "a journal record changes key {:?} as another type than it holds",
                    String::from_utf8_lossy(&key)
                )
            })?;
        }
        Effect::Del { key } => {
            keyspaces[owner(located.slot)].dbs[db].delete(&key);
        }
        Effect::Move { key, to_db, to } => {
            let target = &mut keyspaces[owner(located.slot)];
            if to_db as usize >= target.dbs.len() {
                return Err(format!(
                    "a journal record moves a key to database {to_db}, past 'databases'"
                ));
            }
            // After it, `to` holds what `key` held, nothing included.
            if !target.move_key(db, &key, to_db as usize, &to) {
                target.dbs[to_db as usize].delete(&to);
            }
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
    Ok(())
}
