//! Keyspace notifications (`notify-keyspace-events`): a command that changes a key calls
//! `ctx.notify(class, event, key)` with Redis's event name, and the shard that made the change
//! publishes `__keyspace@<db>__:<key>` → event and `__keyevent@<db>__:<event>` → key to
//! subscribers on every shard. Expiry (lazy and active) publishes `expired` by itself.
//!
//! `new` (a key added to a database) and `keymiss` (a read of a missing key) come from the
//! keyspace and the command table rather than from each command: the databases note the keys
//! they add while a command runs with `new` on, and `keymiss::read_keys` says which lookups
//! announce a miss (`CommandEvents`). Neither costs more than a flag check while off.
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

use super::keymiss::{self, Phase};
use super::Kind;
use crate::commands::CommandSpec;
use crate::config::pubsub::notify::{EXPIRED, GENERIC, KEYEVENT, KEYSPACE, KEY_MISS, NEW};
use crate::journal::{FsyncMode, Lsn};
use crate::keyspace::Keyspace;
use crate::shard::{Ctx, Shard};

pub use crate::config::pubsub::notify as class;

impl Ctx<'_> {
    /// Publishes keyspace event `event` (of `class`, a `class::*` bit) for `key` in this command's
    /// database, if `notify-keyspace-events` asks for it. Keys that expired or were added during
    /// the command are announced first, as Redis announces them when it finds or adds them.
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        self.notify_in(self.db, class, event, key);
    }

    /// `notify` for a key of database `db` (MOVE's and COPY's destination).
    pub fn notify_in(&mut self, db: usize, class: u32, event: &str, key: &[u8]) {
        if !enabled(self.shard, class) {
            return;
        }
        publish_expired(self.shard, self.keyspace);
        publish_created(self.shard, self.keyspace);
        notify_key(self.shard, db, class, event, key);
    }
}

/// The `new` and `keymiss` events of one command, from before it runs to after.
pub struct CommandEvents {
    /// The databases note the keys added (`new` is on).
    created: bool,
    /// The keys (argument indexes) whose misses are announced after the command.
    misses_after: Vec<usize>,
}

impl CommandEvents {
    /// Called before a command runs: `None` (after one flag check) unless `new` or `keymiss`
    /// events are on. Announces the misses of a write's reads, which it may be about to create.
    pub fn begin(ctx: &mut Ctx, spec: &CommandSpec, args: &[Bytes]) -> Option<CommandEvents> {
        let flags = ctx.shard.config.borrow().notify_keyspace_events;
        if flags & (NEW | KEY_MISS) == 0 || flags & (KEYSPACE | KEYEVENT) == 0 {
            return None;
        }
        let created = flags & NEW != 0;
        if created {
            ctx.keyspace
                .dbs
                .iter_mut()
                .for_each(|db| db.set_notify_created(true));
        }
        let mut misses_after = Vec::new();
        if flags & KEY_MISS != 0 {
            match keymiss::read_keys(spec, args) {
                Some((Phase::Before, keys)) => announce_misses(ctx, args, &keys, false),
                Some((Phase::BeforeFirstMiss, keys)) => announce_misses(ctx, args, &keys, true),
                Some((Phase::After, keys)) => misses_after = keys,
                None => {}
            }
        }
        Some(CommandEvents {
            created,
            misses_after,
        })
    }

    /// Called after the command ran: announces a read's misses and the keys added that no event
    /// of the command announced yet, and stops noting added keys.
    pub fn end(self, ctx: &mut Ctx, args: &[Bytes]) {
        announce_misses(ctx, args, &self.misses_after, false);
        if self.created {
            publish_expired(ctx.shard, ctx.keyspace);
            publish_created(ctx.shard, ctx.keyspace);
            ctx.keyspace
                .dbs
                .iter_mut()
                .for_each(|db| db.set_notify_created(false));
        }
    }
}

/// Publishes `keymiss` for each of `keys` (argument indexes) that is missing, once per mention
/// (MGET of a missing key twice announces it twice, as Redis does); only the first if
/// `first_only`.
fn announce_misses(ctx: &mut Ctx, args: &[Bytes], keys: &[usize], first_only: bool) {
    let now = ctx.now_ms;
    for key in keys.iter().filter_map(|&i| args.get(i)) {
        if !ctx.db().contains(key, now) {
            publish_expired(ctx.shard, ctx.keyspace);
            notify_key(ctx.shard, ctx.db, KEY_MISS, "keymiss", key);
            if first_only {
                return;
            }
        }
    }
}

/// Publishes `new` for the keys added since the last call, in every database.
fn publish_created(shard: &Shard, keyspace: &mut Keyspace) {
    for (db_index, db) in keyspace.dbs.iter_mut().enumerate() {
        if !db.notifies_created() {
            return;
        }
        for key in db.take_created() {
            notify_key(shard, db_index, NEW, "new", &key);
        }
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
    // Nothing waits while no drain runs (the drain stops only once `waiting` is empty); a batch
    // the drain has taken but not yet published still waits, so `waiting` alone cannot tell.
    if lsn == 0 && !held.draining.get() {
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
