//! Keyspace notifications (`notify-keyspace-events`): a command that changes a key calls
//! `ctx.notify(class, event, key)` with Redis's event name, and the shard that made the change
//! publishes `__keyspace@<db>__:<key>` → event and `__keyevent@<db>__:<event>` → key to
//! subscribers on every shard. Expiry (lazy and active) publishes `expired` by itself.
//!
//! With `appendfsync always`, an event waits for the write it announces to be durable: a
//! subscriber must never hear of a change that a crash could take back. Events are held while a
//! command runs and released by `Shard::log_changes` with the LSN the command's records got, in
//! order, by one task per shard (`Held`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use super::Kind;
use crate::config::pubsub::notify::{EXPIRED, GENERIC, KEYEVENT, KEYSPACE};
use crate::journal::{FsyncMode, Lsn};
use crate::keyspace::Keyspace;
use crate::shard::{Ctx, Shard};

pub use crate::config::pubsub::notify as class;

impl Ctx<'_> {
    /// Publishes keyspace event `event` (of `class`, a `class::*` bit) for `key` in this command's
    /// database, if `notify-keyspace-events` asks for it. Keys that expired during the command are
    /// announced first, as Redis announces them when it finds them.
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        if !enabled(self.shard, class) {
            return;
        }
        publish_expired(self.shard, self.keyspace);
        notify_key(self.shard, self.db, class, event, key);
    }
}

/// Publishes `event` for elements removed from the collection at `key`, then `del` if that left
/// it empty (deleted), as Redis's collection commands do.
pub fn notify_removal(ctx: &mut Ctx, class: u32, event: &str, key: &[u8]) {
    if !enabled(ctx.shard, class | GENERIC) {
        return;
    }
    ctx.notify(class, event, key);
    let now = ctx.now_ms;
    if !ctx.db().contains(key, now) {
        ctx.notify(GENERIC, "del", key);
    }
}

fn enabled(shard: &Shard, class: u32) -> bool {
    let flags = shard.config.borrow().notify_keyspace_events;
    flags & class != 0 && flags & (KEYSPACE | KEYEVENT) != 0
}

/// Publishes one keyspace event for `key` of database `db`.
pub fn notify_key(shard: &Shard, db: usize, class: u32, event: &str, key: &[u8]) {
    let flags = shard.config.borrow().notify_keyspace_events;
    if flags & class == 0 {
        return;
    }
    let mut held = shard.pubsub.held.events.borrow_mut();
    if flags & KEYSPACE != 0 {
        let channel = channel_name("__keyspace@", db, key);
        held.push((channel, Bytes::copy_from_slice(event.as_bytes())));
    }
    if flags & KEYEVENT != 0 {
        let channel = channel_name("__keyevent@", db, event.as_bytes());
        held.push((channel, Bytes::copy_from_slice(key)));
    }
}

/// One event as published: channel and message.
type Event = (Bytes, Bytes);

/// Events waiting for the command that made them to be logged, then for its records to be
/// durable.
#[derive(Default)]
pub struct Held {
    /// Events of the command running now.
    events: RefCell<Vec<Event>>,
    /// Released events with the LSN they wait for, oldest first.
    waiting: RefCell<VecDeque<(Lsn, Vec<Event>)>>,
    draining: Cell<bool>,
}

/// Releases the events the last command made, to be published once `lsn` (its records' LSN, 0
/// for none) is durable; at once without `appendfsync always` or when nothing waits before them.
pub fn release(shard: &Shard, lsn: Lsn) {
    let held = &shard.pubsub.held;
    if held.events.borrow().is_empty() {
        return;
    }
    let events = std::mem::take(&mut *held.events.borrow_mut());
    let always = shard
        .journal
        .as_ref()
        .is_some_and(|j| j.fsync_mode() == FsyncMode::Always);
    let lsn = if always { lsn } else { 0 };
    if lsn == 0 && held.waiting.borrow().is_empty() {
        return publish(shard, &events);
    }
    held.waiting.borrow_mut().push_back((lsn, events));
    if !held.draining.replace(true) {
        crate::runtime::spawn_local(drain(shard.rc())).detach();
    }
}

/// How long to wait before asking again whether a failing journal wrote an event's records.
const JOURNAL_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Publishes the waiting events in order, each batch once its LSN is durable. While the journal
/// cannot be written they wait: the records stay queued and become durable once it can.
async fn drain(shard: Rc<Shard>) {
    let held = &shard.pubsub.held;
    loop {
        let Some((lsn, events)) = held.waiting.borrow_mut().pop_front() else {
            held.draining.set(false);
            return;
        };
        while shard.wait_durable(lsn).await.is_err() {
            crate::runtime::sleep(JOURNAL_RETRY_DELAY).await;
        }
        publish(&shard, &events);
    }
}

fn publish(shard: &Shard, events: &[Event]) {
    for (channel, message) in events {
        shard.pubsub.publish(shard, Kind::Channel, channel, message);
    }
}

fn channel_name(prefix: &str, db: usize, suffix: &[u8]) -> Bytes {
    let mut name = BytesMut::with_capacity(prefix.len() + 8 + suffix.len());
    name.put_slice(prefix.as_bytes());
    name.put_slice(itoa::Buffer::new().format(db).as_bytes());
    name.put_slice(b"__:");
    name.put_slice(suffix);
    name.freeze()
}

/// Publishes `expired` for the keys that expired since the last call, and keeps the databases
/// recording expired keys exactly while those events are on. The shard calls it after every
/// command and every active-expiry pass.
pub fn publish_expired(shard: &Shard, keyspace: &mut Keyspace) {
    let on = enabled(shard, EXPIRED);
    // Every database records or none does: the first tells which.
    if !on && !keyspace.dbs.first().is_some_and(|db| db.notifies_expired()) {
        return;
    }
    for (db_index, db) in keyspace.dbs.iter_mut().enumerate() {
        if db.notifies_expired() != on {
            db.set_notify_expired(on);
        }
        if on {
            for key in db.take_expired() {
                notify_key(shard, db_index, EXPIRED, "expired", &key);
            }
        }
    }
}
