//! Reading and replaying the shard directories side by side, a thread each. The first reading
//! (checking every CRC) of one directory never needs another's. The replay does not either when
//! no directory holds keys of another shard (the `shards` layout is the one they were written
//! under): each directory's snapshot and records change only its own shard's keyspace, so a
//! restart takes as long as the biggest directory instead of all of them in turn. A directory
//! written under an earlier layout can hold keys that belong to other shards now; the first such
//! snapshot or record stops the attempt, and recovery replays everything in order instead (as it
//! does after any failure here: the ordered replay gives the definitive answer).

use std::collections::{BTreeSet, HashSet};
use std::ops::Range;
use std::path::PathBuf;

use super::runs::RunReader;
use super::{
    apply, contains, effect_slots, read_dir, record_effects, snapshot_effects, DirPlan, DirRead,
    SnapshotSeed,
};
use crate::config::Config;
use crate::journal::effect::Located;
use crate::keyspace::Keyspace;
use crate::router::slot::SlotMap;
use crate::snapshot::TxnKey;

/// Reads each directory (`read_dir`) on a thread of its own; returns what each found, in the
/// order given.
pub(super) fn read_dirs(
    config: &Config,
    dirs: Vec<(usize, PathBuf)>,
) -> Vec<(usize, PathBuf, Result<DirRead, String>)> {
    side_by_side(dirs, |(index, dir)| {
        let read = read_dir(config, index, &dir);
        (index, dir, read)
    })
}

/// Runs `work` on every item, a thread each, at most as many at once as there are cores (more
/// would not be faster, and each holds a journal segment in memory); returns the results in the
/// items' order.
fn side_by_side<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    let width = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut results = Vec::with_capacity(items.len());
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let wave: Vec<T> = items.by_ref().take(width).collect();
        std::thread::scope(|scope| {
            let threads: Vec<_> = wave
                .into_iter()
                .map(|item| scope.spawn(|| work(item)))
                .collect();
            for thread in threads {
                results.push(
                    thread
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                );
            }
        });
    }
    results
}

/// Replays each of `plans` into its own shard's keyspace and seed, on a thread of its own, run
/// by run as the ordered replay does. Err (the first reason) when some directory holds keys of
/// another shard or its replay failed: then `keyspaces` and `seeds` hold a partial replay, to be
/// started over in order. (A failure may come from the crossing itself: a directory's delta
/// whose key's older records are in another directory.)
pub(super) fn replay(
    config: &Config,
    slots: &SlotMap,
    plans: &[DirPlan],
    epochs: &BTreeSet<u64>,
    incomplete: &HashSet<TxnKey>,
    keyspaces: &mut [Keyspace],
    seeds: &mut [SnapshotSeed],
) -> Result<(), String> {
    if let Some(plan) = plans.iter().find(|plan| plan.index >= keyspaces.len()) {
        return Err(format!("{} is not a shard now", plan.path.display()));
    }
    let targets: Vec<(&DirPlan, &mut Keyspace, &mut SnapshotSeed)> = keyspaces
        .iter_mut()
        .zip(seeds.iter_mut())
        .enumerate()
        .filter_map(|(index, (keyspace, seed))| {
            let plan = plans.iter().find(|plan| plan.index == index)?;
            Some((plan, keyspace, seed))
        })
        .collect();
    let outcomes = side_by_side(targets, |(plan, keyspace, seed)| {
        let mut dir = OwnShard {
            own: slots.range(plan.index),
            keyspace,
        };
        dir.replay(config, plan, epochs, incomplete, seed)
            .map_err(|e| format!("{}: {e}", plan.path.display()))
    });
    outcomes.into_iter().collect()
}

/// One directory's replay into its own shard's keyspace.
struct OwnShard<'a> {
    own: Range<u16>,
    keyspace: &'a mut Keyspace,
}

impl OwnShard<'_> {
    fn replay(
        &mut self,
        config: &Config,
        plan: &DirPlan,
        epochs: &BTreeSet<u64>,
        incomplete: &HashSet<TxnKey>,
        seed: &mut SnapshotSeed,
    ) -> Result<(), String> {
        let mut reader = RunReader::new(&plan.path);
        for &epoch in epochs {
            if let (Some(snapshot), true) = (&plan.snapshot, plan.snapshot_epoch == Some(epoch)) {
                self.check(&snapshot.header.slots)?;
                seed.txns.extend(&snapshot.header.txns);
                for db in &mut self.keyspace.dbs {
                    db.clear_slots(snapshot.header.slots.clone());
                }
                snapshot_effects(config, snapshot, |located| self.apply(located))?;
            }
            for run in plan.runs.iter().filter(|run| run.epoch == epoch) {
                reader.read(run, |record| {
                    let txn = record_effects(config, &record, epoch, incomplete, |located| {
                        self.apply(located)
                    })?;
                    seed.txns.extend(txn);
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, located: Located) -> Result<(), String> {
        self.check(&effect_slots(&located))?;
        apply(std::slice::from_mut(self.keyspace), |_| 0, located)
    }

    /// Fails unless `slots` are this shard's.
    fn check(&self, slots: &Range<u16>) -> Result<(), String> {
        if contains(&self.own, slots) {
            return Ok(());
        }
        Err(format!("slots {slots:?} are another shard's"))
    }
}

#[cfg(test)]
mod tests {
    use super::side_by_side;

    #[test]
    fn side_by_side_runs_every_item_and_keeps_their_order_past_one_wave() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let items: Vec<usize> = (0..3 * cores + 1).collect();
        let doubled: Vec<usize> = items.iter().map(|i| i * 2).collect();
        assert_eq!(side_by_side(items, |i| i * 2), doubled);
    }
}
