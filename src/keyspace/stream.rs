//! The stream type's value (Redis's t_stream.c data model): entries ordered by ID, the stream's
//! counters, and its consumer groups with their pending entries lists (PELs).
//!
//! Entries live in a `BTreeMap<StreamId, fields>`: appends, deletes, point lookups and the start
//! of a range read are O(log n), and a range read then walks in order. (Redis packs entries into
//! listpacks under a radix tree; a B-tree gives the same ordered access without the packing.)
//!
//! Every change goes through `StreamOp::apply`, the one function that changes a stream, live and
//! at replay. Ops are absolute: concrete IDs, times and delivery counts, never "now" or "*".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::{Buf, Bytes};

/// Redis's `stream-node-max-entries`: approximate (`~`) trimming removes entries only in whole
/// runs of this many, as Redis removes whole listpack nodes. Keel has no nodes, so it counts runs
/// from the oldest entry; a stream is trimmed to the same length as Redis only when no entries
/// were deleted from its middle.
pub const NODE_ENTRIES: usize = 100;

/// A stream entry ID: milliseconds and a sequence number, ordered as that pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The ID right after this one, `None` after the last possible ID.
    pub fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId::new(self.ms, seq)),
            None => Some(StreamId::new(self.ms.checked_add(1)?, 0)),
        }
    }

    /// The ID right before this one, `None` before 0-0.
    pub fn prev(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId::new(self.ms, seq)),
            None => Some(StreamId::new(self.ms.checked_sub(1)?, u64::MAX)),
        }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    pub fn to_bytes(self) -> Bytes {
        Bytes::from(self.to_string())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// An entry's fields and values, alternating (field, value, field, value...).
pub type Fields = Box<[Bytes]>;

/// One delivered, not yet acknowledged entry of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub consumer: Bytes,
    /// When it was last delivered (Unix ms).
    pub delivery_ms: u64,
    pub delivery_count: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Consumer {
    /// When the consumer last read or claimed (Unix ms).
    pub seen_ms: u64,
    /// Its own view of the group's PEL: the IDs delivered to it and not acknowledged.
    pub pel: BTreeSet<StreamId>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    pub last_id: StreamId,
    /// How many entries the group has read (Redis's `entries_read`); `None` when unknown (-1).
    pub entries_read: Option<u64>,
    pub pel: BTreeMap<StreamId, Pending>,
    /// By name, in name order (as Redis's radix tree lists them).
    pub consumers: BTreeMap<Bytes, Consumer>,
}

/// A stream. Unlike other collections it is not deleted when its last entry goes: its counters
/// and groups remain.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stream {
    entries: BTreeMap<StreamId, Fields>,
    /// The greatest ID ever added (or set by XSETID): new IDs must be above it.
    pub last_id: StreamId,
    /// How many entries were ever added.
    pub entries_added: u64,
    /// The greatest ID removed by XDEL (trimming does not count).
    pub max_deleted: StreamId,
    /// By name, in name order.
    pub groups: BTreeMap<Bytes, Group>,
}

/// An absolute, deterministic change to a stream (journalled as a delta).
#[derive(Clone, Debug, PartialEq)]
pub enum StreamOp {
    /// Appends an entry with this ID, above the stream's last ID.
    Add {
        id: StreamId,
        fields: Vec<Bytes>,
    },
    /// Deletes these entries (XDEL, which logs only those it deleted).
    Delete(Vec<StreamId>),
    /// Drops every entry with an ID at or below this one (XTRIM, XADD's trimming).
    TrimThrough(StreamId),
    /// Creates a group (MKSTREAM: creating the stream).
    CreateGroup {
        group: Bytes,
        last_id: StreamId,
        entries_read: Option<u64>,
    },
    /// Moves a group's last-delivered ID and read counter.
    SetGroupId {
        group: Bytes,
        last_id: StreamId,
        entries_read: Option<u64>,
    },
    DestroyGroup(Bytes),
    /// Creates the consumer if missing and sets when it was last seen.
    TouchConsumer {
        group: Bytes,
        consumer: Bytes,
        seen_ms: u64,
    },
    /// Deletes a consumer and its pending entries.
    DeleteConsumer {
        group: Bytes,
        consumer: Bytes,
    },
    /// Makes each ID pending for `consumer` (created if missing) as delivered at `delivery_ms`,
    /// with the given delivery count, taking it from any other consumer.
    Deliver {
        group: Bytes,
        consumer: Bytes,
        delivery_ms: u64,
        entries: Vec<(StreamId, u64)>,
    },
    /// Removes these IDs from the group's PEL (XACK, and claims of deleted entries).
    Ack {
        group: Bytes,
        ids: Vec<StreamId>,
    },
    /// Puts entries back as a stream held them, without counting them as added: the later parts
    /// of a big stream in a snapshot (its first part has the counters). Never journaled.
    Restore(Vec<(StreamId, Vec<Bytes>)>),
}

impl Stream {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, id: &StreamId) -> Option<&Fields> {
        self.entries.get(id)
    }

    pub fn first(&self) -> Option<(&StreamId, &Fields)> {
        self.entries.first_key_value()
    }

    pub fn last(&self) -> Option<(&StreamId, &Fields)> {
        self.entries.last_key_value()
    }

    /// Entries with `start <= id <= end`, in ID order.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
    ) -> impl DoubleEndedIterator<Item = (&StreamId, &Fields)> {
        let range = (start <= end).then_some(start..=end);
        range.into_iter().flat_map(|r| self.entries.range(r))
    }

    /// How many entries have an ID below `id`.
    pub fn count_before(&self, id: StreamId) -> usize {
        self.entries.range(..id).count()
    }

    /// The ID of the `n`th entry from the oldest (0-based).
    pub fn nth_id(&self, n: usize) -> Option<StreamId> {
        self.entries.keys().nth(n).copied()
    }

    /// Whether an entry between `start` and `end` (inclusive) was deleted by XDEL, as far as
    /// the stream can tell (Redis's streamRangeHasTombstones).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.entries.is_empty() || self.max_deleted.is_zero() {
            return false;
        }
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// The number of entries added up to `id`, when the stream can know it (Redis's
    /// streamEstimateDistanceFromFirstEverEntry).
    pub fn entries_read_at(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        let first = self.first().map_or(StreamId::MIN, |(id, _)| *id);
        if self.max_deleted.is_zero() || self.max_deleted < first {
            let before_first = self.entries_added - self.entries.len() as u64;
            if id < first {
                return Some(before_first);
            }
            if id == first {
                return Some(before_first + 1);
            }
        }
        None
    }

    /// How many entries `group` has yet to read, when known (XINFO's `lag`).
    pub fn lag(&self, group: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let read = match group.entries_read {
            Some(read) if !self.range_has_tombstones(group.last_id, StreamId::MAX) => Some(read),
            _ => self.entries_read_at(group.last_id),
        };
        read.map(|read| self.entries_added as i64 - read as i64)
    }

    /// A group's read counter (`read`) after it reads the entry `id` (one more than before).
    pub fn entries_read_after(&self, read: Option<u64>, id: StreamId) -> Option<u64> {
        match read {
            Some(read) if !self.range_has_tombstones(id, StreamId::MAX) => Some(read + 1),
            _ if self.entries_added > 0 => self.entries_read_at(id),
            other => other,
        }
    }

    /// Approximate bytes of memory, for `MEMORY USAGE`.
    pub fn memory_bytes(&self) -> usize {
        let entries: usize = self
            .entries
            .values()
            .map(|f| 48 + f.iter().map(|b| b.len() + 32).sum::<usize>())
            .sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(name, g)| 96 + name.len() + g.pel.len() * 64 + g.consumers.len() * 64)
            .sum();
        64 + entries + groups
    }

    /// Applies `op`. Ops that name a missing group or consumer change nothing, so that a replayed
    /// op cannot panic on a journal that disagrees with the stream.
    pub fn apply(&mut self, op: &StreamOp) {
        match op {
            StreamOp::Add { id, fields } => {
                let fields: Fields = fields.iter().map(|f| Bytes::copy_from_slice(f)).collect();
                self.entries.insert(*id, fields);
                self.last_id = self.last_id.max(*id);
                self.entries_added += 1;
            }
            StreamOp::Restore(entries) => {
                for (id, fields) in entries {
                    self.entries.insert(*id, fields.iter().map(owned).collect());
                }
            }
            StreamOp::Delete(ids) => {
                // XDEL logs only IDs it deleted, so each counts even when missing here: replayed
                // over a snapshot whose later parts were written after the entry went.
                for id in ids {
                    self.entries.remove(id);
                    self.max_deleted = self.max_deleted.max(*id);
                }
            }
            StreamOp::TrimThrough(id) => match id.next() {
                Some(after) => self.entries = self.entries.split_off(&after),
                None => self.entries.clear(),
            },
            StreamOp::CreateGroup {
                group,
                last_id,
                entries_read,
            } => {
                self.groups.entry(owned(group)).or_insert_with(|| Group {
                    last_id: *last_id,
                    entries_read: *entries_read,
                    ..Group::default()
                });
            }
            StreamOp::SetGroupId {
                group,
                last_id,
                entries_read,
            } => {
                if let Some(g) = self.groups.get_mut(group) {
                    g.last_id = *last_id;
                    g.entries_read = *entries_read;
                }
            }
            StreamOp::DestroyGroup(group) => {
                self.groups.remove(group);
            }
            StreamOp::TouchConsumer {
                group,
                consumer,
                seen_ms,
            } => {
                if let Some(g) = self.groups.get_mut(group) {
                    g.consumer_mut(consumer).seen_ms = *seen_ms;
                }
            }
            StreamOp::DeleteConsumer { group, consumer } => {
                if let Some(g) = self.groups.get_mut(group) {
                    g.delete_consumer(consumer);
                }
            }
            StreamOp::Deliver {
                group,
                consumer,
                delivery_ms,
                entries,
            } => {
                if let Some(g) = self.groups.get_mut(group) {
                    g.deliver(consumer, *delivery_ms, entries);
                }
            }
            StreamOp::Ack { group, ids } => {
                if let Some(g) = self.groups.get_mut(group) {
                    ids.iter().for_each(|id| {
                        g.ack(id);
                    });
                }
            }
        }
    }
}

impl Group {
    fn consumer_mut(&mut self, name: &Bytes) -> &mut Consumer {
        if !self.consumers.contains_key(name) {
            self.consumers.insert(owned(name), Consumer::default());
        }
        self.consumers.get_mut(name).expect("just inserted")
    }

    fn delete_consumer(&mut self, name: &Bytes) {
        if let Some(consumer) = self.consumers.remove(name) {
            for id in consumer.pel {
                self.pel.remove(&id);
            }
        }
    }

    fn deliver(&mut self, consumer: &Bytes, delivery_ms: u64, entries: &[(StreamId, u64)]) {
        let name = match self.consumers.get_key_value(consumer) {
            Some((name, _)) => name.clone(),
            None => owned(consumer),
        };
        for &(id, delivery_count) in entries {
            let previous = self.pel.insert(
                id,
                Pending {
                    consumer: name.clone(),
                    delivery_ms,
                    delivery_count,
                },
            );
            if let Some(old) = previous.filter(|old| old.consumer != name) {
                if let Some(c) = self.consumers.get_mut(&old.consumer) {
                    c.pel.remove(&id);
                }
            }
            self.consumer_mut(&name).pel.insert(id);
        }
    }

    /// Removes `id` from the PEL; true when it was pending.
    fn ack(&mut self, id: &StreamId) -> bool {
        let Some(pending) = self.pel.remove(id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&pending.consumer) {
            c.pel.remove(id);
        }
        true
    }
}

fn owned(bytes: &Bytes) -> Bytes {
    Bytes::copy_from_slice(bytes)
}

// ---- Wire encoding (journal and snapshots; little endian) -------------------------------------

/// Op tags, in the journal's delta tag space for streams (40–49).
const OP_ADD: u8 = 40;
const OP_DELETE: u8 = 41;
const OP_TRIM_THROUGH: u8 = 42;
const OP_CREATE_GROUP: u8 = 43;
const OP_SET_GROUP_ID: u8 = 44;
const OP_DESTROY_GROUP: u8 = 45;
const OP_TOUCH_CONSUMER: u8 = 46;
const OP_DELETE_CONSUMER: u8 = 47;
const OP_DELIVER: u8 = 48;
const OP_ACK: u8 = 49;
/// `StreamOp::Restore`'s tag, which a snapshot also writes straight from a stream
/// (`effect::encode_stream_part`).
pub const OP_RESTORE: u8 = 50;

/// Whether `tag` is a stream op's delta tag.
pub fn is_op_tag(tag: u8) -> bool {
    (OP_ADD..=OP_RESTORE).contains(&tag)
}

impl StreamOp {
    /// Writes the op's tag byte, then its fields.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            StreamOp::Add { id, fields } => {
                out.push(OP_ADD);
                put_id(*id, out);
                put_list(fields, out);
            }
            StreamOp::Delete(ids) => {
                out.push(OP_DELETE);
                put_ids(ids, out);
            }
            StreamOp::TrimThrough(id) => {
                out.push(OP_TRIM_THROUGH);
                put_id(*id, out);
            }
            StreamOp::CreateGroup {
                group,
                last_id,
                entries_read,
            }
            | StreamOp::SetGroupId {
                group,
                last_id,
                entries_read,
            } => {
                let create = matches!(self, StreamOp::CreateGroup { .. });
                out.push(if create {
                    OP_CREATE_GROUP
                } else {
                    OP_SET_GROUP_ID
                });
                put_bytes(group, out);
                put_id(*last_id, out);
                put_opt(*entries_read, out);
            }
            StreamOp::DestroyGroup(group) => {
                out.push(OP_DESTROY_GROUP);
                put_bytes(group, out);
            }
            StreamOp::TouchConsumer {
                group,
                consumer,
                seen_ms,
            } => {
                out.push(OP_TOUCH_CONSUMER);
                put_bytes(group, out);
                put_bytes(consumer, out);
                put_u64(*seen_ms, out);
            }
            StreamOp::DeleteConsumer { group, consumer } => {
                out.push(OP_DELETE_CONSUMER);
                put_bytes(group, out);
                put_bytes(consumer, out);
            }
            StreamOp::Deliver {
                group,
                consumer,
                delivery_ms,
                entries,
            } => {
                out.push(OP_DELIVER);
                put_bytes(group, out);
                put_bytes(consumer, out);
                put_u64(*delivery_ms, out);
                put_u32(entries.len(), out);
                for &(id, count) in entries {
                    put_id(id, out);
                    put_u64(count, out);
                }
            }
            StreamOp::Ack { group, ids } => {
                out.push(OP_ACK);
                put_bytes(group, out);
                put_ids(ids, out);
            }
            StreamOp::Restore(entries) => {
                out.push(OP_RESTORE);
                put_u32(entries.len(), out);
                for (id, fields) in entries {
                    put_entry(*id, fields, out);
                }
            }
        }
    }

    /// Reads an op whose tag byte was already taken.
    pub fn decode(tag: u8, p: &mut Bytes) -> Option<StreamOp> {
        Some(match tag {
            OP_ADD => StreamOp::Add {
                id: take_id(p)?,
                fields: take_list(p)?,
            },
            OP_DELETE => StreamOp::Delete(take_ids(p)?),
            OP_TRIM_THROUGH => StreamOp::TrimThrough(take_id(p)?),
            OP_CREATE_GROUP => StreamOp::CreateGroup {
                group: take_bytes(p)?,
                last_id: take_id(p)?,
                entries_read: take_opt(p)?,
            },
            OP_SET_GROUP_ID => StreamOp::SetGroupId {
                group: take_bytes(p)?,
                last_id: take_id(p)?,
                entries_read: take_opt(p)?,
            },
            OP_DESTROY_GROUP => StreamOp::DestroyGroup(take_bytes(p)?),
            OP_TOUCH_CONSUMER => StreamOp::TouchConsumer {
                group: take_bytes(p)?,
                consumer: take_bytes(p)?,
                seen_ms: take_u64(p)?,
            },
            OP_DELETE_CONSUMER => StreamOp::DeleteConsumer {
                group: take_bytes(p)?,
                consumer: take_bytes(p)?,
            },
            OP_DELIVER => {
                let group = take_bytes(p)?;
                let consumer = take_bytes(p)?;
                let delivery_ms = take_u64(p)?;
                let count = take_u32(p)? as usize;
                let mut entries = Vec::with_capacity(count.min(p.len() / 24));
                for _ in 0..count {
                    entries.push((take_id(p)?, take_u64(p)?));
                }
                StreamOp::Deliver {
                    group,
                    consumer,
                    delivery_ms,
                    entries,
                }
            }
            OP_ACK => StreamOp::Ack {
                group: take_bytes(p)?,
                ids: take_ids(p)?,
            },
            OP_RESTORE => {
                let count = take_u32(p)? as usize;
                // Each entry takes at least 20 bytes: a corrupt count cannot make a huge allocation.
                let mut entries = Vec::with_capacity(count.min(p.len() / 20));
                for _ in 0..count {
                    entries.push((take_id(p)?, take_list(p)?));
                }
                StreamOp::Restore(entries)
            }
            _ => return None,
        })
    }
}

impl Stream {
    /// The whole stream: last_id, entries_added, max_deleted, entry count, then per entry its ID
    /// and fields; group count, then per group: name, last_id, entries_read (u64::MAX: unknown),
    /// consumer count, per consumer name and seen_ms, PEL count, per pending entry ID, consumer
    /// name, delivery_ms, delivery_count.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_around(out, |out| {
            put_u32(self.entries.len(), out);
            for (id, fields) in &self.entries {
                put_entry(*id, fields, out);
            }
        });
    }

    /// `encode`, with the entries (their count, then each as `put_entry` lays it out) written by
    /// `entries`: a snapshot's first part of a big stream has only its first entries.
    pub fn encode_around(&self, out: &mut Vec<u8>, entries: impl FnOnce(&mut Vec<u8>)) {
        put_id(self.last_id, out);
        put_u64(self.entries_added, out);
        put_id(self.max_deleted, out);
        entries(out);
        put_u32(self.groups.len(), out);
        for (name, group) in &self.groups {
            put_bytes(name, out);
            put_id(group.last_id, out);
            put_opt(group.entries_read, out);
            put_u32(group.consumers.len(), out);
            for (name, consumer) in &group.consumers {
                put_bytes(name, out);
                put_u64(consumer.seen_ms, out);
            }
            put_u32(group.pel.len(), out);
            for (id, pending) in &group.pel {
                put_id(*id, out);
                put_bytes(&pending.consumer, out);
                put_u64(pending.delivery_ms, out);
                put_u64(pending.delivery_count, out);
            }
        }
    }

    /// Reads a whole stream; `None` when malformed or when it does not use all of `p`. Bytes are
    /// copied out, so the stream does not pin the buffer it was decoded from.
    pub fn decode(mut p: Bytes) -> Option<Stream> {
        let p = &mut p;
        let mut stream = Stream {
            last_id: take_id(p)?,
            entries_added: take_u64(p)?,
            max_deleted: take_id(p)?,
            ..Stream::default()
        };
        for _ in 0..take_u32(p)? {
            let id = take_id(p)?;
            let fields = take_list(p)?.iter().map(owned).collect();
            stream.entries.insert(id, fields);
        }
        for _ in 0..take_u32(p)? {
            let name = owned(&take_bytes(p)?);
            let mut group = Group {
                last_id: take_id(p)?,
                entries_read: take_opt(p)?,
                ..Group::default()
            };
            for _ in 0..take_u32(p)? {
                let name = owned(&take_bytes(p)?);
                let seen_ms = take_u64(p)?;
                group.consumer_mut(&name).seen_ms = seen_ms;
            }
            for _ in 0..take_u32(p)? {
                let id = take_id(p)?;
                let consumer = take_bytes(p)?;
                let delivery_ms = take_u64(p)?;
                let count = take_u64(p)?;
                group.deliver(&consumer, delivery_ms, &[(id, count)]);
            }
            stream.groups.insert(name, group);
        }
        p.is_empty().then_some(stream)
    }
}

fn put_u32(n: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put_u64(n: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_id(id: StreamId, out: &mut Vec<u8>) {
    put_u64(id.ms, out);
    put_u64(id.seq, out);
}

fn put_ids(ids: &[StreamId], out: &mut Vec<u8>) {
    put_u32(ids.len(), out);
    ids.iter().for_each(|id| put_id(*id, out));
}

/// `None` is written as u64::MAX (no group can have read that many entries).
fn put_opt(n: Option<u64>, out: &mut Vec<u8>) {
    put_u64(n.unwrap_or(u64::MAX), out);
}

fn put_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    put_u32(bytes.len(), out);
    out.extend_from_slice(bytes);
}

/// One entry as a whole stream and a `Restore` op lay it out: ID, then fields.
pub fn put_entry(id: StreamId, fields: &[Bytes], out: &mut Vec<u8>) {
    put_id(id, out);
    put_list(fields, out);
}

fn put_list(items: &[Bytes], out: &mut Vec<u8>) {
    put_u32(items.len(), out);
    items.iter().for_each(|b| put_bytes(b, out));
}

fn take(p: &mut Bytes, n: usize) -> Option<Bytes> {
    (p.len() >= n).then(|| p.split_to(n))
}

fn take_u32(p: &mut Bytes) -> Option<u32> {
    (p.len() >= 4).then(|| p.get_u32_le())
}

fn take_u64(p: &mut Bytes) -> Option<u64> {
    (p.len() >= 8).then(|| p.get_u64_le())
}

fn take_id(p: &mut Bytes) -> Option<StreamId> {
    Some(StreamId::new(take_u64(p)?, take_u64(p)?))
}

fn take_ids(p: &mut Bytes) -> Option<Vec<StreamId>> {
    let count = take_u32(p)? as usize;
    // Untrusted count: reserve no more than the payload can hold.
    let mut ids = Vec::with_capacity(count.min(p.len() / 16));
    for _ in 0..count {
        ids.push(take_id(p)?);
    }
    Some(ids)
}

fn take_opt(p: &mut Bytes) -> Option<Option<u64>> {
    let n = take_u64(p)?;
    Some((n != u64::MAX).then_some(n))
}

fn take_bytes(p: &mut Bytes) -> Option<Bytes> {
    let len = take_u32(p)? as usize;
    take(p, len)
}

fn take_list(p: &mut Bytes) -> Option<Vec<Bytes>> {
    let count = take_u32(p)? as usize;
    let mut items = Vec::with_capacity(count.min(p.len() / 4));
    for _ in 0..count {
        items.push(take_bytes(p)?);
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn sample_ops() -> Vec<StreamOp> {
        let (g, c) = (b("g"), b("c"));
        vec![
            StreamOp::Add {
                id: StreamId::new(1, 0),
                fields: vec![b("f"), b("v")],
            },
            StreamOp::Add {
                id: StreamId::new(2, 5),
                fields: vec![b(""), b("a\0b")],
            },
            StreamOp::Add {
                id: StreamId::new(3, 0),
                fields: vec![b("x"), b("y")],
            },
            StreamOp::CreateGroup {
                group: g.clone(),
                last_id: StreamId::MIN,
                entries_read: None,
            },
            StreamOp::TouchConsumer {
                group: g.clone(),
                consumer: c.clone(),
                seen_ms: 77,
            },
            StreamOp::Deliver {
                group: g.clone(),
                consumer: c.clone(),
                delivery_ms: 78,
                entries: vec![(StreamId::new(1, 0), 1), (StreamId::new(2, 5), 1)],
            },
            StreamOp::SetGroupId {
                group: g.clone(),
                last_id: StreamId::new(2, 5),
                entries_read: Some(2),
            },
            StreamOp::Deliver {
                group: g.clone(),
                consumer: b("d"),
                delivery_ms: 90,
                entries: vec![(StreamId::new(2, 5), 4)],
            },
            StreamOp::Ack {
                group: g.clone(),
                ids: vec![StreamId::new(1, 0)],
            },
            StreamOp::Delete(vec![StreamId::new(3, 0)]),
            StreamOp::TrimThrough(StreamId::new(2, 0)),
            StreamOp::CreateGroup {
                group: b("g2"),
                last_id: StreamId::MAX,
                entries_read: Some(0),
            },
            StreamOp::DeleteConsumer {
                group: g.clone(),
                consumer: c,
            },
            StreamOp::DestroyGroup(b("g2")),
        ]
    }

    #[test]
    fn ops_round_trip_through_their_encoding() {
        for op in sample_ops().into_iter().chain([restore_op()]) {
            let mut out = Vec::new();
            op.encode(&mut out);
            let mut p = Bytes::from(out);
            let tag = p.get_u8();
            assert!(is_op_tag(tag));
            assert_eq!(StreamOp::decode(tag, &mut p), Some(op));
            assert!(p.is_empty());
        }
    }

    fn restore_op() -> StreamOp {
        StreamOp::Restore(vec![
            (StreamId::new(4, 0), vec![b("f"), b("v")]),
            (StreamId::new(5, 1), vec![b("g"), b("")]),
        ])
    }

    #[test]
    fn a_restore_puts_entries_back_without_counting_them() {
        let mut s = Stream::default();
        for op in sample_ops() {
            s.apply(&op);
        }
        let counters = (s.last_id, s.entries_added, s.max_deleted);
        s.apply(&restore_op());
        assert_eq!((s.last_id, s.entries_added, s.max_deleted), counters);
        let ids: Vec<StreamId> = s
            .range(StreamId::MIN, StreamId::MAX)
            .map(|(id, _)| *id)
            .collect();
        let expected = [
            StreamId::new(2, 5),
            StreamId::new(4, 0),
            StreamId::new(5, 1),
        ];
        assert_eq!(ids, expected);
        assert_eq!(s.get(&StreamId::new(5, 1)).unwrap()[..], [b("g"), b("")]);
    }

    #[test]
    fn ops_keep_counters_and_pels_consistent() {
        let mut s = Stream::default();
        for op in sample_ops() {
            s.apply(&op);
        }
        assert_eq!(s.len(), 1);
        assert_eq!(s.first().unwrap().0, &StreamId::new(2, 5));
        assert_eq!(s.last_id, StreamId::new(3, 0));
        assert_eq!(s.entries_added, 3);
        assert_eq!(s.max_deleted, StreamId::new(3, 0));
        let g = &s.groups[&b("g")];
        assert_eq!(g.pel.len(), 1);
        assert_eq!(g.pel[&StreamId::new(2, 5)].consumer, b("d"));
        assert_eq!(g.pel[&StreamId::new(2, 5)].delivery_count, 4);
        assert!(!g.consumers.contains_key(&b("c")));
        assert_eq!(g.consumers[&b("d")].pel.len(), 1);
        assert!(!s.groups.contains_key(&b("g2")));
    }

    #[test]
    fn whole_streams_round_trip_and_truncations_fail() {
        let mut s = Stream::default();
        for op in sample_ops().into_iter().take(8) {
            s.apply(&op);
        }
        let mut out = Vec::new();
        s.encode(&mut out);
        assert_eq!(Stream::decode(Bytes::from(out.clone())), Some(s));
        for len in 0..out.len() {
            assert_eq!(Stream::decode(Bytes::copy_from_slice(&out[..len])), None);
        }
    }

    #[test]
    fn ids_step_across_their_limits() {
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::new(2, 0).prev(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::MIN.prev(), None);
    }
}
