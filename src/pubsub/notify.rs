//! Keyspace notifications (`notify-keyspace-events`): a command that changes a key calls
//! `ctx.notify(class, event, key)` with Redis's event name, and the shard that made the change
//! publishes `__keyspace@<db>__:<key>` → event and `__keyevent@<db>__:<event>` → key to
//! subscribers on every shard. Expiry (lazy and active) publishes `expired` by itself.

use bytes::{BufMut, Bytes, BytesMut};

use super::Kind;
use crate::config::pubsub::notify::{EXPIRED, GENERIC, KEYEVENT, KEYSPACE};
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
    if flags & KEYSPACE != 0 {
        let channel = channel_name("__keyspace@", db, key);
        let payload = Bytes::copy_from_slice(event.as_bytes());
        shard
            .pubsub
            .publish(shard, Kind::Channel, &channel, &payload);
    }
    if flags & KEYEVENT != 0 {
        let channel = channel_name("__keyevent@", db, event.as_bytes());
        let payload = Bytes::copy_from_slice(key);
        shard
            .pubsub
            .publish(shard, Kind::Channel, &channel, &payload);
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
