//! Key locks for cross-shard operations.
//!
//! A command whose keys live on several shards runs as a transaction: its coordinator locks the
//! keys on each shard **in ascending shard order**, one shard after the other, then runs its parts
//! and releases. Because every transaction takes its shards in the same global order, no cycle of
//! waiting transactions can form, so there is no deadlock. While a key is locked, every other
//! command that touches it waits, so the transaction's effects appear at once to everybody.
//! Commands that touch no locked key never wait, and when nothing is locked the check is one
//! `is_empty`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::poll_fn;
use std::task::{Poll, Waker};

use bytes::Bytes;

/// A cross-shard transaction: its coordinating shard and a sequence number there, so ids are
/// unique without any shared counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxnId {
    pub origin: u16,
    pub seq: u64,
}

#[derive(Default)]
pub struct LockTable {
    held: RefCell<HashMap<(usize, Bytes), TxnId>>,
    waiters: RefCell<Vec<Waker>>,
    next_seq: Cell<u64>,
}

impl LockTable {
    pub fn new_txn(&self, origin: usize) -> TxnId {
        let seq = self.next_seq.get();
        self.next_seq.set(seq + 1);
        TxnId {
            origin: origin as u16,
            seq,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.held.borrow().is_empty()
    }

    /// True when none of `keys` (in `db`) is locked by a transaction other than `me`.
    pub fn free_for<'a>(
        &self,
        db: usize,
        keys: impl IntoIterator<Item = &'a Bytes>,
        me: Option<TxnId>,
    ) -> bool {
        let held = self.held.borrow();
        if held.is_empty() {
            return true;
        }
        keys.into_iter().all(|k| match held.get(&(db, k.clone())) {
            None => true,
            Some(owner) => Some(*owner) == me,
        })
    }

    /// Waits until `keys` are free for `me`.
    pub async fn wait_free(&self, db: usize, keys: &[Bytes], me: Option<TxnId>) {
        poll_fn(|cx| {
            if self.free_for(db, keys, me) {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Waits for `keys` to be free, then locks them for `txn`.
    pub async fn acquire(&self, txn: TxnId, keys: Vec<(usize, Bytes)>) {
        poll_fn(|cx| {
            let free = {
                let held = self.held.borrow();
                keys.iter()
                    .all(|k| held.get(k).is_none_or(|owner| *owner == txn))
            };
            if free {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        let mut held = self.held.borrow_mut();
        for key in keys {
            held.insert(key, txn);
        }
    }

    /// Releases every key `txn` holds and wakes whoever waited.
    pub fn release(&self, txn: TxnId) {
        self.held.borrow_mut().retain(|_, owner| *owner != txn);
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }
}
