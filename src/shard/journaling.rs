//! The shard's side of durability: after each command, log the effects of what it changed as
//! journal records, and make sure no reply is released before what it shows is durable.
//!
//! - A write's reply waits for its own record (`appendfsync always`).
//! - A read of a key whose latest write is not durable yet waits for that write (no dirty reads:
//!   a reply never shows what a crash could take back; `unsynced.rs` keeps the marks). Reads of
//!   other keys answer at once.
//! - Keyspace-wide reads (KEYS, DBSIZE, ...) wait for everything appended so far.

use std::cell::RefMut;
use std::collections::HashSet;

use bytes::Bytes;

use super::unsynced::{KeyMark, UnsyncedWrites};
use super::Shard;
use crate::journal::effect::{self, Effect, Located, PartBounds, TxnPartEncoder, TxnTag};
use crate::journal::{FsyncMode, Journal, JournalError, Lsn};
use crate::keyspace::{Change, DbChange, Entry, Keyspace, StoredKey};
use crate::protocol::Reply;

/// Bytes of elements in one record of a collection logged whole. A collection has no size limit,
/// so a big one is logged as a PUT of its first elements and DELTAs adding the rest, all in the
/// command's one unit: neither logging nor replay holds it as one payload. (A payload over a
/// record's 513 MiB is split over records too, but copied once more to be split, and joined
/// back whole by replay.)
const COLLECTION_PART_BYTES: usize = 1 << 20;

pub fn misconf(e: &JournalError) -> Reply {
    Reply::error(format!(
        "MISCONF Errors writing to the AOF file: {e}. Commands that may modify the data set are disabled until the journal can be written again."
    ))
}

impl Shard {
    /// `Err` with the MISCONF reply when writes must be refused (the journal cannot be written).
    pub fn check_writable(&self) -> Result<(), Reply> {
        match &self.journal {
            Some(journal) => journal.check_writable().map_err(|e| misconf(&e)),
            None => Ok(()),
        }
    }

    /// Logs what the last command changed; returns the LSN its reply must wait for (0: none).
    /// A part of a cross-shard transaction (`txn`) is logged as one record even when it changed
    /// nothing, so that replay can tell the transaction is complete.
    /// Keyspace events the command made are released to wait for that LSN.
    pub fn log_changes(&self, keyspace: &mut Keyspace, txn: Option<TxnTag>) -> Lsn {
        let lsn = self.append_changes(keyspace, txn);
        crate::pubsub::notify::release(self, lsn);
        lsn
    }

    fn append_changes(&self, keyspace: &mut Keyspace, txn: Option<TxnTag>) -> Lsn {
        if !keyspace.has_changes() && txn.is_none() {
            return 0;
        }
        // The shard's one change buffer, taken for the call and put back: it keeps its capacity.
        let mut changes = self.changes.take();
        let swaps = keyspace.take_changes(&mut changes);
        let lsn = self.log_taken_changes(keyspace, &swaps, &mut changes, txn);
        changes.clear();
        self.changes.replace(changes);
        lsn
    }

    fn log_taken_changes(
        &self,
        keyspace: &Keyspace,
        swaps: &[(usize, usize)],
        changes: &mut Vec<DbChange>,
        txn: Option<TxnTag>,
    ) -> Lsn {
        if !self.watches.borrow().is_empty() {
            // WATCH's "key touched" signal: every write of every command passes here.
            let watches = &mut self.watches.borrow_mut();
            watches.touch(keyspace, swaps, changes);
        }
        let Some(journal) = &self.journal else {
            return 0;
        };
        let range = self.node.slots.range(self.id);
        // Each effect is encoded in place as it is found (a PUT straight from the stored value,
        // not a clone of it): outside a transaction as a record of its own, inside one into the
        // part's one record.
        let unit = journal.begin_unit();
        let mut log = CommandLog {
            journal,
            txn_part: txn.map(TxnPartEncoder::new),
            marks: (journal.fsync_mode() == FsyncMode::Always).then(|| self.unsynced.borrow_mut()),
        };
        for &(db, other) in swaps {
            log.emit(Located {
                slot: range.start,
                db: db as u8,
                effect: Effect::SwapDb {
                    other_db: other as u8,
                    slots: range.clone(),
                },
            });
        }
        // A key logged whole carries every delta the command made to it.
        let whole: HashSet<(usize, StoredKey)> = match changes
            .iter()
            .any(|(_, c)| matches!(c, Change::Delta { .. }))
        {
            true => changes
                .iter()
                .filter_map(|(db, c)| match c {
                    Change::Key { key, .. } => Some((*db, key.clone())),
                    _ => None,
                })
                .collect(),
            false => HashSet::new(),
        };
        for (db, change) in changes.drain(..) {
            let (slot, effect) = match change {
                Change::Flush => (
                    range.start,
                    Effect::Flush {
                        slots: range.clone(),
                    },
                ),
                Change::Key { key, slot } => match keyspace.dbs[db].peek_in_slot(slot, &key) {
                    Some(entry) => {
                        log.put_in_place(db, slot, &key, entry);
                        continue;
                    }
                    None => (
                        slot,
                        Effect::Del {
                            key: Bytes::copy_from_slice(&key),
                        },
                    ),
                },
                Change::Moved {
                    key,
                    slot,
                    to_db,
                    to,
                } => (
                    slot,
                    Effect::Move {
                        key: Bytes::copy_from_slice(&key),
                        to_db: to_db as u8,
                        to: Bytes::copy_from_slice(&to),
                    },
                ),
                Change::Delta { key, .. } if whole.contains(&(db, key.clone())) => continue,
                Change::Delta {
                    key,
                    slot,
                    delta,
                    created,
                } => {
                    let key = Bytes::copy_from_slice(&key);
                    if created {
                        let (db, effect) = (db as u8, Effect::Del { key: key.clone() });
                        log.emit(Located { slot, db, effect });
                    }
                    let delta = *delta;
                    (slot, Effect::Delta { key, delta })
                }
            };
            log.emit(Located {
                slot,
                db: db as u8,
                effect,
            });
        }
        let lsn = match txn.zip(log.txn_part.take()) {
            Some((tag, part)) => {
                let lsn = journal.append(range.start, 0, effect::TXN_PART, &part.finish());
                let key = (self.snapshots.epoch, tag.origin, tag.seq);
                self.snapshots.note_txn(lsn, key);
                lsn
            }
            None => journal.appended_lsn(),
        };
        journal.end_unit(unit);
        if let Some(mut marks) = log.marks {
            marks.commit(lsn);
        }
        lsn
    }
}

/// The journal records of one command being logged.
struct CommandLog<'a> {
    journal: &'a Journal,
    /// Inside a transaction the effects go in the part's one record; outside one each is
    /// appended as a record as it comes.
    txn_part: Option<TxnPartEncoder>,
    /// Where every key written is staged for a no-dirty-reads mark, committed with the command's
    /// LSN (under `appendfsync always` only: otherwise replies never wait).
    marks: Option<RefMut<'a, UnsyncedWrites>>,
}

impl CommandLog<'_> {
    fn emit(&mut self, located: Located) {
        if let Some(marks) = &mut self.marks {
            match &located.effect {
                Effect::Put { key, .. } | Effect::Del { key } | Effect::Delta { key, .. } => {
                    marks.stage_key(KeyMark::new(located.db as usize, key))
                }
                Effect::Move { key, to_db, to } => {
                    marks.stage_key(KeyMark::new(located.db as usize, key));
                    marks.stage_key(KeyMark::new(*to_db as usize, to));
                }
                Effect::Flush { .. } | Effect::SwapDb { .. } => marks.stage_keyspace_wide(),
            }
        }
        let effect = &located.effect;
        self.append(located.slot, located.db, effect.kind(), |out| {
            effect.encode(out)
        });
    }

    /// One effect: a record of its own, or one more in the transaction's part.
    fn append(&mut self, slot: u16, db: u8, kind: u8, write_payload: impl FnOnce(&mut Vec<u8>)) {
        match &mut self.txn_part {
            Some(part) => part.push(slot, db, kind, write_payload),
            None => {
                self.journal.append_with(slot, db, kind, write_payload);
            }
        }
    }

    /// Logs a PUT of `key` encoded straight from its stored entry, without cloning the value
    /// into an `Effect`. A collection's elements go in effects of about `COLLECTION_PART_BYTES`:
    /// a PUT of the first, DELTAs adding the rest.
    fn put_in_place(&mut self, db: usize, slot: u16, key: &[u8], entry: &Entry) {
        let (value, expire_at_ms) = (&entry.value, entry.expire_at_ms());
        match effect::listed_elements(value) {
            None => self.append(slot, db as u8, effect::PUT, |out| {
                effect::encode_put(key, value, expire_at_ms, out)
            }),
            Some(elements) => {
                let mut elements = elements.peekable();
                let bounds = PartBounds {
                    elements: usize::MAX,
                    bytes: COLLECTION_PART_BYTES,
                };
                let mut first = Some(expire_at_ms);
                loop {
                    let kind = if first.is_some() {
                        effect::PUT
                    } else {
                        effect::DELTA
                    };
                    self.append(slot, db as u8, kind, |out| {
                        effect::encode_listed_part(key, value, first, &mut elements, bounds, out);
                    });
                    first = None;
                    if elements.peek().is_none() {
                        break;
                    }
                }
            }
        };
        if let Some(marks) = &mut self.marks {
            marks.stage_key(KeyMark::new(db, key));
        }
    }
}

impl Shard {
    /// False when no read can need to wait (no journal, or everything durable): the common case,
    /// checked before looking at a read's keys.
    pub fn may_have_unsynced_writes(&self) -> bool {
        self.unsynced_lsn() > 0
    }

    /// The LSN a read of `keys` must wait for: the latest not-yet-durable write to any of them.
    pub fn read_wait_lsn<'a>(&self, db: usize, keys: impl Iterator<Item = &'a Bytes>) -> Lsn {
        let Some(journal) = &self.journal else {
            return 0;
        };
        self.unsynced
            .borrow()
            .read_wait_lsn(db, keys.map(|k| &k[..]), journal.durable_lsn())
    }

    /// The LSN a keyspace-wide read must wait for: everything appended.
    pub fn unsynced_lsn(&self) -> Lsn {
        match &self.journal {
            Some(j)
                if j.fsync_mode() == FsyncMode::Always && j.appended_lsn() > j.durable_lsn() =>
            {
                j.appended_lsn()
            }
            _ => 0,
        }
    }

    /// Waits until `lsn` is durable (0: nothing to wait for).
    pub async fn wait_durable(&self, lsn: Lsn) -> Result<(), Reply> {
        match &self.journal {
            Some(journal) if lsn > 0 => journal.wait_durable(lsn).await.map_err(|e| misconf(&e)),
            _ => Ok(()),
        }
    }

    /// Releases replies once durable: on a journal failure, every reply that waited (lsn > 0)
    /// becomes the MISCONF error instead.
    pub async fn settle(&self, replies: &mut [Reply], lsns: &[Lsn]) {
        let max = lsns.iter().copied().max().unwrap_or(0);
        if let Err(e) = self.wait_durable(max).await {
            for (reply, &lsn) in replies.iter_mut().zip(lsns) {
                if lsn > 0 {
                    *reply = e.clone();
                }
            }
        }
    }
}
