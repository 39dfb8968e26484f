//! The per-shard journal: every write's effect, in LSN order, durable before
//! the write is acknowledged (per the fsync policy), read back at startup.
//!
//! - `record`: one write's effect, framed and checksummed.
//! - `batch`: what one flush writes, on fresh blocks.
//! - `segment`: the preallocated files batches go into.
//! - `staged`: the encoded records waiting for the disk.
//! - `writer`: `Journal`, the group-commit writer and its flusher task.
//! - `reader`: recovery, `JournalReader`.
//! - `check`: `keel check-journal DIR [--repair]`.

mod batch;
mod check;
pub mod effect;
mod reader;
mod record;
mod segment;
mod staged;
mod writer;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod tests;

pub use check::check_journal;
pub use reader::{JournalReader, Recovery};
pub use record::{Lsn, Record};
pub use segment::segments_before;
pub use writer::{FsyncMode, Journal, JournalConfig};

use std::fmt;
use std::path::{Path, PathBuf};

/// Journal failures, with the file and offset they concern. Cloneable: one
/// failed batch fails every waiter in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalError {
    /// A file operation failed (`errno` kept: ENOSPC vs EIO matter to operators).
    Io {
        op: &'static str,
        path: PathBuf,
        errno: Option<i32>,
        message: String,
    },
    /// Bytes that were durable are damaged or missing: not a torn tail.
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    /// More than [`PENDING_BYTES_MAX`] bytes are waiting for the disk.
    Backlog {
        bytes_pending: u64,
    },
    Closed,
}

impl JournalError {
    pub(crate) fn io(op: &'static str, path: &Path, e: &std::io::Error) -> JournalError {
        JournalError::Io {
            op,
            path: path.to_path_buf(),
            errno: e.raw_os_error(),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io {
                op, path, message, ..
            } => {
                write!(f, "journal {op} {}: {message}", path.display())
            }
            JournalError::Corrupt { path, offset, what } => {
                write!(
                    f,
                    "journal corrupt at {} offset {offset}: {what}",
                    path.display()
                )
            }
            JournalError::Backlog { bytes_pending } => {
                write!(
                    f,
                    "journal backlog: {bytes_pending} bytes waiting for the disk"
                )
            }
            JournalError::Closed => write!(f, "journal closed"),
        }
    }
}

impl std::error::Error for JournalError {}
