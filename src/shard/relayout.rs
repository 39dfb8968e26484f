//! Converging after a `shards` change. Recovery routed every key to the shard that owns its slot
//! now, but the files that held them stay: journals and snapshots with keys of other slot ranges
//! (such a shard's snapshots may not trim) and the directories of shards that no longer exist
//! (replayed at every start). Left alone, disk use and restart time would grow without bound.
//!
//! Shard 0 coordinates: every shard takes a snapshot in this run (one started by BGSAVE or the
//! automatic trigger counts too). Such a snapshot covers its shard's whole slot range, and
//! recovery applies a snapshot by clearing its range first, run by run; so once every shard's is
//! published (synced, and its name too), every record and snapshot of earlier runs, in any
//! directory, is superseded. Only then is anything deleted: each shard trims its own directory
//! and may trim after every later snapshot, and each directory of a shard that no longer exists
//! is renamed away in one durable step (a journal missing only some of its files would refuse
//! the next start) and then deleted. A crash at any point leaves either the old files, which
//! recovery still reads correctly, or a renamed directory that the next start deletes.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;

use super::{Shard, ShardTask};
use crate::runtime::{self, file};

/// How often the coordinator asks the shards whether their snapshot of this run is done (and
/// starts another where the last one failed): first after the shortest wait, then twice as long
/// each time up to the longest (so a shard whose snapshots keep failing, e.g. on a full disk,
/// retries every few seconds, not in a tight loop).
const SNAPSHOT_POLL_MS_MIN: u64 = 50;
const SNAPSHOT_POLL_MS_MAX: u64 = 2000;
/// A renamed directory of a shard that no longer exists: `<prefix><old name>`. Recovery never
/// reads it (it is not `shard-<i>`) and deletes it.
const SUPERSEDED_PREFIX: &str = "superseded-";

/// What an earlier `shards` layout left on disk, found by recovery.
#[derive(Debug, Default)]
pub struct OldLayout {
    /// Directories of shards that no longer exist.
    pub orphan_dirs: Vec<PathBuf>,
}

impl Shard {
    /// Shard 0's task after a layout change: waits until every shard has a snapshot of this run,
    /// then deletes what those snapshots superseded.
    pub async fn converge_layout(self: Rc<Self>, old: OldLayout) {
        log::info!(
            "the data directory holds data of another `shards` layout ({} directories of shards that no longer exist): every shard takes a snapshot, then the superseded files are deleted",
            old.orphan_dirs.len()
        );
        let shards = self.shard_count();
        let mut poll_ms = SNAPSHOT_POLL_MS_MIN;
        while !self.all_snapshotted(shards).await {
            runtime::sleep(Duration::from_millis(poll_ms)).await;
            poll_ms = (poll_ms * 2).min(SNAPSHOT_POLL_MS_MAX);
        }
        for to in 0..shards {
            let trimmed = self.on_shard(to, |shard| async move {
                shard.snapshots.may_trim.set(true);
                let lsn = shard.snapshots.stats.borrow().last_lsn;
                shard.trim_after_snapshot(lsn).await;
            });
            if trimmed.await.is_none() {
                log::warn!(
                    "shard {to} did not answer; its old journal stays until its next snapshot"
                );
            }
        }
        let mut removed = 0;
        for dir in &old.orphan_dirs {
            removed += remove_orphan(dir).await as usize;
        }
        log::info!(
            "every shard has a snapshot of the new layout: older journal segments and snapshots deleted, {removed} directories of shards that no longer exist removed"
        );
    }

    /// Whether every shard has published a snapshot in this run; starts one on each shard that
    /// has none and is not taking one.
    async fn all_snapshotted(&self, shards: usize) -> bool {
        let mut all = true;
        for to in 0..shards {
            let done = self.on_shard(to, |shard| async move {
                if shard.snapshots.stats.borrow().completed > 0 {
                    return true;
                }
                if !shard.snapshots.is_running() {
                    log::info!("shard {}: snapshot for the new `shards` layout", shard.id);
                    let _ = shard.start_snapshot();
                }
                false
            });
            all &= done.await.unwrap_or(false);
        }
        all
    }

    /// Runs `work` on shard `to` (this one included) and returns its result; `None` if that
    /// shard went away.
    fn on_shard<R, F, Fut>(&self, to: usize, work: F) -> impl Future<Output = Option<R>> + '_
    where
        R: Send + 'static,
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let task: ShardTask = Box::new(move |shard| {
            runtime::spawn_local(async move {
                let _ = tx.send(work(shard).await);
            })
            .detach();
        });
        async move {
            if to == self.id {
                task(self.me.upgrade().expect("a running shard is in an Rc"));
            } else {
                self.run_on(to, task).await;
            }
            rx.await.ok()
        }
    }
}

/// Renames a superseded shard directory away (durably), then deletes it gradually (it may hold
/// gigabytes of segments, and the shards are serving). Returns whether it is gone; a failure is
/// logged and leaves it for the next start.
async fn remove_orphan(dir: &Path) -> bool {
    let Some(name) = dir.file_name() else {
        return false;
    };
    let mut renamed = std::ffi::OsString::from(SUPERSEDED_PREFIX);
    renamed.push(name);
    let renamed = dir.with_file_name(renamed);
    let (from, to) = (dir.to_path_buf(), renamed.clone());
    if let Err(e) = runtime::blocking(move || file::rename(&from, &to)).await {
        log::warn!("renaming {} away: {e}", dir.display());
        return false;
    }
    match file::delete_dir_gradually(&renamed).await {
        Ok(()) => {
            log::info!("removed {} (a shard that no longer exists)", dir.display());
            true
        }
        Err(e) => {
            log::warn!("deleting {}: {e}", renamed.display());
            false
        }
    }
}

/// Deletes the directories a cleanup renamed away but did not delete (a crash came between):
/// they were renamed only once every shard's snapshot had superseded them. A failure is logged
/// (they are only redundant).
pub fn remove_superseded_dirs(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let is_superseded = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(SUPERSEDED_PREFIX));
        if !is_superseded {
            continue;
        }
        let path = entry.path();
        match file::delete_dir(&path) {
            Ok(()) => log::info!(
                "removed {} (superseded by a `shards` change)",
                path.display()
            ),
            Err(e) => log::warn!("cannot delete {}: {e}", path.display()),
        }
    }
}
