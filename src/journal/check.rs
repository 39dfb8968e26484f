//! `keel check-journal DIR [--repair]`: reads journals the way recovery does
//! and reports what each segment holds and the first problem, if any.

use super::reader::{cut_at, JournalReader, SegmentSummary, TornTail};
use super::segment::list_segments;
use super::JournalError;
use std::fmt;
use std::path::{Path, PathBuf};

/// What one segment holds.
pub type SegmentReport = SegmentSummary;

/// The first problem in a shard's journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckProblem {
    /// Recovery would cut this off with a warning.
    TornTail(TornTail),
    /// Recovery would refuse to start.
    Corrupt(JournalError),
}

/// One shard's journal directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardReport {
    pub dir: PathBuf,
    pub segments: Vec<SegmentReport>,
    pub problem: Option<CheckProblem>,
    /// The log was cut at the problem (cut bytes kept as `*.cut` files).
    pub repaired: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    pub shards: Vec<ShardReport>,
}

impl CheckReport {
    /// No problem found (or every problem found was repaired).
    pub fn is_clean(&self) -> bool {
        self.shards
            .iter()
            .all(|s| s.problem.is_none() || s.repaired)
    }
}

/// Checks the journal(s) under `dir`: a server data dir with `shard-<i>/`
/// subdirectories, or one shard's journal dir. With `repair`, cuts each
/// shard's log at its first problem (and only there): the segment is
/// truncated at the bad batch and later segments are set aside.
pub fn check_journal(dir: &Path, repair: bool) -> Result<CheckReport, JournalError> {
    let shard_dirs = shard_dirs(dir)?;
    let mut shards = Vec::with_capacity(shard_dirs.len());
    for shard_dir in shard_dirs {
        shards.push(check_shard(&shard_dir, repair)?);
    }
    Ok(CheckReport { shards })
}

fn shard_dirs(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let entries = std::fs::read_dir(dir).map_err(|e| JournalError::io("listing", dir, &e))?;
    let mut shards = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("listing", dir, &e))?;
        let name = entry.file_name();
        let index = name
            .to_str()
            .and_then(|n| n.strip_prefix("shard-"))
            .and_then(|i| i.parse::<u32>().ok());
        if let Some(index) = index {
            shards.push((index, entry.path()));
        }
    }
    shards.sort();
    if shards.is_empty() {
        return Ok(vec![dir.to_path_buf()]);
    }
    Ok(shards.into_iter().map(|s| s.1).collect())
}

fn check_shard(dir: &Path, repair: bool) -> Result<ShardReport, JournalError> {
    // Segments before a snapshot may have been deleted: check from the oldest kept.
    let oldest_lsn = list_segments(dir)?.first().map_or(1, |s| s.0);
    let (segments, outcome) = JournalReader::open(dir, oldest_lsn)?.into_parts();
    let problem = match outcome {
        Ok(recovery) => recovery.torn_tail.map(CheckProblem::TornTail),
        Err(e @ JournalError::Corrupt { .. }) => Some(CheckProblem::Corrupt(e)),
        Err(e) => return Err(e),
    };
    let mut repaired = false;
    if repair {
        match &problem {
            Some(CheckProblem::TornTail(torn)) => torn.cut()?,
            Some(CheckProblem::Corrupt(JournalError::Corrupt { path, offset, .. })) => {
                let later: Vec<PathBuf> = list_segments(dir)?
                    .into_iter()
                    .map(|s| s.1)
                    .filter(|p| p.as_path() > path.as_path())
                    .collect();
                cut_at(path, *offset, &later)?;
            }
            _ => {}
        }
        repaired = problem.is_some();
    }
    Ok(ShardReport {
        dir: dir.to_path_buf(),
        segments,
        problem,
        repaired,
    })
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for shard in &self.shards {
            writeln!(f, "{}:", shard.dir.display())?;
            for s in &shard.segments {
                let name = s.path.file_name().unwrap_or_default().to_string_lossy();
                let lsns = if s.records == 0 {
                    "no records".to_string()
                } else {
                    format!("LSN {}..={}", s.first_lsn, s.last_lsn)
                };
                writeln!(
                    f,
                    "  {name}: {} records, {lsns}, {} of {} bytes used",
                    s.records, s.bytes_used, s.bytes_total
                )?;
            }
            let action = if shard.repaired {
                " (repaired: cut here)"
            } else {
                ""
            };
            match &shard.problem {
                None => writeln!(f, "  ok")?,
                Some(CheckProblem::TornTail(torn)) => writeln!(
                    f,
                    "  torn tail at {} offset {}: {}{action}",
                    torn.path.display(),
                    torn.offset,
                    torn.what
                )?,
                Some(CheckProblem::Corrupt(e)) => writeln!(f, "  {e}{action}")?,
            }
        }
        Ok(())
    }
}
