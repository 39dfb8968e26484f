//! Snapshots: a shard's keyspace written to `DIR/shard-<i>/snapshot-<lsn>.kss` as of one journal
//! LSN, so that the journal before it can be deleted and recovery replays only what follows.
//!
//! - `format`: the file (header, entries and parts, trailer with CRC32C), writing helpers and the
//!   loader.
//! - `writer`: `SnapshotRun`, one snapshot in progress: copy-on-write by slot (by key in a big
//!   slot).
//! - `parts`: a big collection written out in parts, step by step, and what writes to it do
//!   meanwhile.
//! - `state`: `Snapshots`, a shard's snapshot bookkeeping and the automatic trigger.
//! - `reload`: `DEBUG RELOAD`'s round trip of a keyspace through a snapshot file.
//!
//! The shard drives them (`shard::snapshotting`); recovery loads them (`server::recovery`).

pub mod format;
mod parts;
pub mod reload;
pub mod state;
pub mod writer;

pub use format::{Checked, Header, TxnKey};
pub use state::Snapshots;
pub use writer::SnapshotRun;
