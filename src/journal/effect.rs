//! What a journal record says: the effect a write had, in a replayable form (the final state of
//! each key it touched, never the command), so that replay is deterministic whatever the command
//! was (INCRBYFLOAT, relative expiries, random choices).
//!
//! Payload layouts (little endian) by record kind:
//! - `PUT`: key_len u32, key, expire_at_ms i64 (-1: none), value (see `encode_value`).
//! - `DEL`: key.
//! - `FLUSH`: slot_lo u16, slot_hi u16 — the database (record header) is emptied in those slots.
//! - `SWAPDB`: other_db u8, slot_lo u16, slot_hi u16 — swaps with the header's database.
//! - `TXN_PART`: origin u16, seq u64, parts u16, count u32, then `count` nested effects, each
//!   kind u8, slot u16, db u8, len u32, payload. One shard's part of a cross-shard transaction;
//!   replay applies a transaction only if all `parts` parts are in the journals.
//! - `EPOCH`: epoch u64 — written first by every run, so replay can order runs.
//! - `DELTA`: key_len u32, key, delta tag u8, then the delta (see `encode_delta`): an
//!   element-level change to the key's collection.
//! - `MOVE`: key_len u32, key, to_db u8, to — the key's value and deadline move to key `to` of
//!   database `to_db`, replacing what it held (RENAME and MOVE within one slot, so that both keys
//!   have one owner whatever the number of shards).
//!
//! Kind 255 is the journal's own (`record::CONTINUED`): the reader joins such records into the
//! record that follows them, so a payload here is never cut short by the record size limit.

use bytes::{Buf, Bytes};

use crate::keyspace::stream::{self, Stream, StreamId, StreamOp};
use crate::keyspace::{Delta, Hash, List, ListEdit, SetMembers, Value, ZSet};

pub const PUT: u8 = 1;
pub const DEL: u8 = 2;
pub const FLUSH: u8 = 3;
pub const SWAPDB: u8 = 4;
pub const TXN_PART: u8 = 5;
pub const EPOCH: u8 = 6;
pub const DELTA: u8 = 7;
pub const MOVE: u8 = 8;

const VALUE_INT: u8 = 0;
const VALUE_STR: u8 = 1;
const VALUE_STR_RAW: u8 = 2;
/// A hash: count u32, then per field: field_len u32, field, value_len u32, value. The two tags
/// keep the encoding (`OBJECT ENCODING`) across a restart.
const VALUE_HASH_LISTPACK: u8 = 3;
const VALUE_HASH_TABLE: u8 = 4;
/// A set: count u32, then per member: len u32, bytes.
const VALUE_SET: u8 = 5;
/// A sorted set: count u32, then per member in ascending order: len u32, bytes, score f64 (its
/// bits). The two tags keep the encoding (`OBJECT ENCODING`) across a restart.
const VALUE_ZSET_LISTPACK: u8 = 7;
const VALUE_ZSET_SKIPLIST: u8 = 8;
/// A list: flags u8 (bit 0: `quicklist`, which is sticky in Redis and so kept across a restart),
/// count u32, then per element, head first: len u32, bytes.
const VALUE_LIST: u8 = 6;
const LIST_FLAG_QUICKLIST: u8 = 1;
/// A stream: see `Stream::encode`.
const VALUE_STREAM: u8 = 9;

/// Delta tags. Hash fields set: count u32, then per pair: field_len u32, field, value_len u32,
/// value. The others: count u32, then per element: len u32, bytes.
const DELTA_HASH_SET: u8 = 1;
const DELTA_HASH_DEL: u8 = 2;
const DELTA_SET_ADD: u8 = 3;
const DELTA_SET_REM: u8 = 4;
/// Sorted sets: count u32, then per member: len u32, bytes, score f64 (its bits).
const DELTA_ZSET_ADD: u8 = 20;
/// Sorted sets: a list of members (as `DELTA_SET_REM`).
const DELTA_ZSET_REM: u8 = 21;
/// List edits. Pushes: count u32, then per element: len u32, bytes. Pops: n u64. Set and insert:
/// index u64, len u32, element. Trim: start u64, end u64. Remove: count i64, len u32, element.
const DELTA_LIST_PUSH_LEFT: u8 = 10;
const DELTA_LIST_PUSH_RIGHT: u8 = 11;
const DELTA_LIST_POP_LEFT: u8 = 12;
const DELTA_LIST_POP_RIGHT: u8 = 13;
const DELTA_LIST_SET: u8 = 14;
const DELTA_LIST_INSERT: u8 = 15;
const DELTA_LIST_TRIM: u8 = 16;
const DELTA_LIST_REMOVE: u8 = 17;
// Stream ops use tags 40–49: see `StreamOp::encode`.
/// String ranges (strings and bitmaps: tags 30–39): offset u64, then len u32, bytes.
const DELTA_STR_WRITE: u8 = 30;
const DELTA_STR_REPLACE_TAIL: u8 = 31;

#[derive(Debug, PartialEq)]
pub enum Effect {
    Put {
        key: Bytes,
        value: Value,
        expire_at_ms: Option<u64>,
    },
    Del {
        key: Bytes,
    },
    Flush {
        slots: std::ops::Range<u16>,
    },
    SwapDb {
        other_db: u8,
        slots: std::ops::Range<u16>,
    },
    Delta {
        key: Bytes,
        delta: Delta,
    },
    Move {
        key: Bytes,
        to_db: u8,
        to: Bytes,
    },
}

/// One effect with the slot and database its record header carries.
#[derive(Debug, PartialEq)]
pub struct Located {
    pub slot: u16,
    pub db: u8,
    pub effect: Effect,
}

impl Effect {
    pub fn kind(&self) -> u8 {
        match self {
            Effect::Put { .. } => PUT,
            Effect::Del { .. } => DEL,
            Effect::Flush { .. } => FLUSH,
            Effect::SwapDb { .. } => SWAPDB,
            Effect::Delta { .. } => DELTA,
            Effect::Move { .. } => MOVE,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Effect::Put {
                key,
                value,
                expire_at_ms,
            } => encode_put(key, value, *expire_at_ms, out),
            Effect::Del { key } => out.extend_from_slice(key),
            Effect::Flush { slots } => {
                out.extend_from_slice(&slots.start.to_le_bytes());
                out.extend_from_slice(&slots.end.to_le_bytes());
            }
            Effect::SwapDb { other_db, slots } => {
                out.push(*other_db);
                out.extend_from_slice(&slots.start.to_le_bytes());
                out.extend_from_slice(&slots.end.to_le_bytes());
            }
            Effect::Delta { key, delta } => {
                put_bytes(key, out);
                encode_delta(delta, out);
            }
            Effect::Move { key, to_db, to } => {
                put_bytes(key, out);
                out.push(*to_db);
                out.extend_from_slice(to);
            }
        }
    }

    /// Decodes one effect of `kind`; `None` when the payload is malformed (a bug or a format
    /// mismatch, since the record's CRC already matched).
    pub fn decode(kind: u8, mut payload: Bytes) -> Option<Effect> {
        Some(match kind {
            PUT => {
                let key_len = take_u32(&mut payload)? as usize;
                let key = take(&mut payload, key_len)?;
                let expire = take_u64(&mut payload)? as i64;
                Effect::Put {
                    key,
                    expire_at_ms: (expire >= 0).then_some(expire as u64),
                    value: decode_value(payload)?,
                }
            }
            DEL => Effect::Del { key: payload },
            FLUSH => Effect::Flush {
                slots: take_u16(&mut payload)?..take_u16(&mut payload)?,
            },
            SWAPDB => Effect::SwapDb {
                other_db: take(&mut payload, 1)?[0],
                slots: take_u16(&mut payload)?..take_u16(&mut payload)?,
            },
            DELTA => {
                let key = take_bytes(&mut payload)?;
                let delta = decode_delta(&mut payload)?;
                if !payload.is_empty() {
                    return None;
                }
                Effect::Delta { key, delta }
            }
            MOVE => Effect::Move {
                key: take_bytes(&mut payload)?,
                to_db: take(&mut payload, 1)?[0],
                to: payload,
            },
            _ => return None,
        })
    }
}

/// A cross-shard transaction's identity: coordinating shard and its sequence number (unique within
/// one run; runs are told apart by `EPOCH` records).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TxnTag {
    pub origin: u16,
    pub seq: u64,
    pub parts: u16,
}

/// One shard's part of a cross-shard transaction (a `TXN_PART` payload), its effects encoded in
/// place as the command's changes are logged, so that a big collection is neither cloned nor
/// held as one effect (see `encode_listed_part`).
pub struct TxnPartEncoder {
    out: Vec<u8>,
    count: u32,
}

/// Where a `TXN_PART` payload holds its effect count: after origin u16, seq u64, parts u16.
const TXN_COUNT_AT: usize = 12;

impl TxnPartEncoder {
    pub fn new(tag: TxnTag) -> TxnPartEncoder {
        let mut out = Vec::new();
        out.extend_from_slice(&tag.origin.to_le_bytes());
        out.extend_from_slice(&tag.seq.to_le_bytes());
        out.extend_from_slice(&tag.parts.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        TxnPartEncoder { out, count: 0 }
    }

    /// Adds an effect of `kind` whose payload `write_payload` appends.
    pub fn push(&mut self, slot: u16, db: u8, kind: u8, write_payload: impl FnOnce(&mut Vec<u8>)) {
        self.out.push(kind);
        self.out.extend_from_slice(&slot.to_le_bytes());
        self.out.push(db);
        let len_at = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        write_payload(&mut self.out);
        // One write brings at most 2 GiB (`proto-max-bulk-len`, `client-query-buffer-limit`),
        // and a collection logged whole comes in parts. A stream is logged whole: one of 4 GiB
        // or more in a cross-shard transaction (a RENAME) is a limit this layout does not lift.
        let len = u32::try_from(self.out.len() - len_at - 4)
            .expect("an effect in a transaction's part under 4 GiB");
        self.out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.out[TXN_COUNT_AT..TXN_COUNT_AT + 4].copy_from_slice(&self.count.to_le_bytes());
        self.out
    }
}

pub fn decode_txn_part(mut payload: Bytes) -> Option<(TxnTag, Vec<Located>)> {
    let tag = take_txn_tag(&mut payload)?;
    let count = take_u32(&mut payload)?;
    let mut effects = Vec::new();
    for _ in 0..count {
        let kind = take(&mut payload, 1)?[0];
        let slot = take_u16(&mut payload)?;
        let db = take(&mut payload, 1)?[0];
        let len = take_u32(&mut payload)? as usize;
        let effect = Effect::decode(kind, take(&mut payload, len)?)?;
        effects.push(Located { slot, db, effect });
    }
    Some((tag, effects))
}

/// Only the transaction a `TXN_PART` payload is a part of, its effects left undecoded.
pub fn decode_txn_tag(mut payload: Bytes) -> Option<TxnTag> {
    take_txn_tag(&mut payload)
}

fn take_txn_tag(payload: &mut Bytes) -> Option<TxnTag> {
    Some(TxnTag {
        origin: take_u16(payload)?,
        seq: take_u64(payload)?,
        parts: take_u16(payload)?,
    })
}

pub fn decode_epoch(mut payload: Bytes) -> Option<u64> {
    take_u64(&mut payload)
}

fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Int(n) => {
            out.push(VALUE_INT);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::Str { bytes, raw } => {
            out.push(if *raw { VALUE_STR_RAW } else { VALUE_STR });
            out.extend_from_slice(bytes);
        }
        Value::Stream(s) => {
            out.push(VALUE_STREAM);
            s.encode(out);
        }
        Value::Hash(_) | Value::Set(_) | Value::ZSet(_) | Value::List(_) => {
            encode_collection_head(value, out);
            encode_elements(value, out);
        }
    }
}

/// A collection's value tag (and a list's flags): what precedes its elements.
fn encode_collection_head(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Hash(hash) => out.push(if hash.is_listpack() {
            VALUE_HASH_LISTPACK
        } else {
            VALUE_HASH_TABLE
        }),
        Value::Set(_) => out.push(VALUE_SET),
        Value::ZSet(zset) => out.push(if zset.is_listpack() {
            VALUE_ZSET_LISTPACK
        } else {
            VALUE_ZSET_SKIPLIST
        }),
        Value::List(list) => {
            out.push(VALUE_LIST);
            out.push(if list.is_quicklist() {
                LIST_FLAG_QUICKLIST
            } else {
                0
            });
        }
        Value::Int(_) | Value::Str { .. } | Value::Stream(_) => {
            unreachable!("only collections are encoded element by element")
        }
    }
}

/// How much of a collection one part holds: at most `elements` elements, and none past the one
/// that brings it to `bytes` bytes.
#[derive(Clone, Copy, Debug)]
pub struct PartBounds {
    pub elements: usize,
    pub bytes: usize,
}

impl PartBounds {
    pub const WHOLE: PartBounds = PartBounds {
        elements: usize::MAX,
        bytes: usize::MAX,
    };
}

/// Every element of collection `value`: count u32, then the elements in the layout a `PUT` and
/// the delta that adds them share.
fn encode_elements(value: &Value, out: &mut Vec<u8>) {
    const WHOLE: PartBounds = PartBounds::WHOLE;
    match value {
        Value::Hash(hash) => encode_counted(hash.iter(), WHOLE, out, |(f, v), out| {
            put_bytes(f, out);
            put_bytes(v, out);
        }),
        Value::Set(members) => {
            encode_counted(members.iter(), WHOLE, out, |m, out| put_bytes(m, out))
        }
        Value::ZSet(zset) => encode_counted(zset.iter(), WHOLE, out, put_member),
        Value::List(list) => encode_counted(list.iter(), WHOLE, out, |e, out| put_bytes(e, out)),
        Value::Int(_) | Value::Str { .. } | Value::Stream(_) => {
            unreachable!("only collections are encoded element by element")
        }
    };
}

/// A sorted set's member and score, as its `PUT` and `DELTA_ZSET_ADD` hold them.
fn put_member((member, score): (&[u8], f64), out: &mut Vec<u8>) {
    put_bytes(member, out);
    out.extend_from_slice(&score.to_bits().to_le_bytes());
}

/// Count u32, then `items` each encoded by `put`, as far as `bounds` allow; returns how many.
fn encode_counted<T>(
    items: impl Iterator<Item = T>,
    bounds: PartBounds,
    out: &mut Vec<u8>,
    mut put: impl FnMut(T, &mut Vec<u8>),
) -> usize {
    let count_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let start = out.len();
    let mut count = 0;
    for item in items {
        put(item, out);
        count += 1;
        if count >= bounds.elements || out.len() - start >= bounds.bytes {
            break;
        }
    }
    out[count_at..start].copy_from_slice(&(count as u32).to_le_bytes());
    count
}

fn decode_value(mut payload: Bytes) -> Option<Value> {
    let tag = take(&mut payload, 1)?[0];
    Some(match tag {
        VALUE_INT => Value::Int(take_u64(&mut payload)? as i64),
        VALUE_STR | VALUE_STR_RAW => Value::decoded_string(&payload, tag == VALUE_STR_RAW),
        VALUE_HASH_LISTPACK | VALUE_HASH_TABLE => {
            let count = take_u32(&mut payload)? as usize;
            // Each pair takes at least 8 bytes: a corrupt count cannot make a huge allocation.
            let mut pairs = Vec::with_capacity(count.min(payload.len() / 8));
            for _ in 0..count {
                let field_len = take_u32(&mut payload)? as usize;
                let field = take(&mut payload, field_len)?;
                let value_len = take_u32(&mut payload)? as usize;
                pairs.push((field, take(&mut payload, value_len)?));
            }
            if !payload.is_empty() {
                return None;
            }
            Value::Hash(Hash::from_pairs(tag == VALUE_HASH_LISTPACK, pairs))
        }
        VALUE_SET => Value::Set(Box::new(decode_set_members(payload)?)),
        VALUE_ZSET_LISTPACK | VALUE_ZSET_SKIPLIST => {
            let entries = decode_zset_entries(payload)?;
            Value::ZSet(ZSet::from_entries(tag == VALUE_ZSET_LISTPACK, entries))
        }
        VALUE_LIST => Value::List(Box::new(decode_list(payload)?)),
        VALUE_STREAM => Value::Stream(Box::new(Stream::decode(payload)?)),
        _ => return None,
    })
}

/// Each member is copied into its own allocation, so that a set does not pin the buffer it was
/// decoded from (a journal segment, a snapshot).
fn decode_set_members(mut payload: Bytes) -> Option<SetMembers> {
    let count = take_u32(&mut payload)? as usize;
    // The count is untrusted until the members are read: cap the reservation by what can fit.
    let mut members = SetMembers::with_capacity(count.min(payload.len() / 4));
    for _ in 0..count {
        let len = take_u32(&mut payload)? as usize;
        members.insert(Bytes::copy_from_slice(&take(&mut payload, len)?));
    }
    (payload.is_empty() && !members.is_empty()).then_some(members)
}

/// A sorted set's (member, score) pairs, each member in its own allocation (see
/// `decode_set_members`). A NaN score or an empty set is malformed.
fn decode_zset_entries(mut payload: Bytes) -> Option<Vec<(Bytes, f64)>> {
    let count = take_u32(&mut payload)? as usize;
    // Each entry takes at least 12 bytes: a corrupt count cannot make a huge allocation.
    let mut entries = Vec::with_capacity(count.min(payload.len() / 12));
    for _ in 0..count {
        let len = take_u32(&mut payload)? as usize;
        let member = Bytes::copy_from_slice(&take(&mut payload, len)?);
        let score = f64::from_bits(take_u64(&mut payload)?);
        if score.is_nan() {
            return None;
        }
        entries.push((member, score));
    }
    (payload.is_empty() && !entries.is_empty()).then_some(entries)
}

/// A list's elements are copied by `List::from_items`, so the list does not pin the buffer.
fn decode_list(mut payload: Bytes) -> Option<List> {
    let flags = take(&mut payload, 1)?[0];
    let count = take_u32(&mut payload)? as usize;
    // The count is untrusted until the elements are read: cap the reservation by what can fit.
    let mut elements = Vec::with_capacity(count.min(payload.len() / 4));
    for _ in 0..count {
        let len = take_u32(&mut payload)? as usize;
        elements.push(take(&mut payload, len)?);
    }
    let quicklist = flags & LIST_FLAG_QUICKLIST != 0;
    (payload.is_empty() && !elements.is_empty()).then(|| List::from_items(elements, quicklist))
}

/// A `PUT` payload, from borrowed parts (a snapshot encodes stored entries without copying them).
pub fn encode_put(key: &[u8], value: &Value, expire_at_ms: Option<u64>, out: &mut Vec<u8>) {
    put_bytes(key, out);
    put_deadline(expire_at_ms, out);
    encode_value(value, out);
}

/// A `PUT`'s deadline: i64 Unix ms, -1 for none.
fn put_deadline(expire_at_ms: Option<u64>, out: &mut Vec<u8>) {
    out.extend_from_slice(&expire_at_ms.map_or(-1, |t| t as i64).to_le_bytes());
}

/// One element of a collection, for `encode_listed_part`.
pub enum Listed<'a> {
    /// A hash's field and value.
    Field(&'a [u8], &'a [u8]),
    /// A sorted set's member and score.
    Member(&'a [u8], f64),
    /// A list's item or a set's member.
    Item(&'a [u8]),
}

/// Every element of collection `value` (`None` for other values), in the order its `PUT` lists
/// them.
pub fn listed_elements(value: &Value) -> Option<Box<dyn Iterator<Item = Listed<'_>> + '_>> {
    Some(match value {
        Value::Hash(hash) => Box::new(hash.iter().map(|(f, v)| Listed::Field(f, v))),
        Value::Set(members) => Box::new(members.iter().map(|m| Listed::Item(m))),
        Value::ZSet(zset) => Box::new(zset.iter().map(|(m, s)| Listed::Member(m, s))),
        Value::List(list) => Box::new(list.iter().map(|e| Listed::Item(e))),
        Value::Int(_) | Value::Str { .. } | Value::Stream(_) => return None,
    })
}

/// A part of collection `value` written out element by element, as far as `bounds` allow: the
/// `PUT` that starts it (`first`: with this deadline; the encoding is the value's), or a `DELTA`
/// that adds them (fields set, members added, items pushed on the right). Returns how many.
pub fn encode_listed_part<'a>(
    key: &[u8],
    value: &Value,
    first: Option<Option<u64>>,
    elements: impl Iterator<Item = Listed<'a>>,
    bounds: PartBounds,
    out: &mut Vec<u8>,
) -> usize {
    put_bytes(key, out);
    match first {
        Some(expire_at_ms) => {
            put_deadline(expire_at_ms, out);
            encode_collection_head(value, out);
        }
        None => out.push(match value {
            Value::Hash(_) => DELTA_HASH_SET,
            Value::Set(_) => DELTA_SET_ADD,
            Value::ZSet(_) => DELTA_ZSET_ADD,
            Value::List(_) => DELTA_LIST_PUSH_RIGHT,
            Value::Int(_) | Value::Str { .. } | Value::Stream(_) => {
                unreachable!("only collections are written element by element")
            }
        }),
    }
    encode_counted(elements, bounds, out, |element, out| match element {
        Listed::Field(field, value) => {
            put_bytes(field, out);
            put_bytes(value, out);
        }
        Listed::Member(member, score) => put_member((member, score), out),
        Listed::Item(item) => put_bytes(item, out),
    })
}

/// A part of big stream `value` written out in parts, its entries after `after` (from the first
/// when `None`), as many as `bounds` allow: the `PUT` that starts it (`first`: with this
/// deadline; its counters and groups are the whole stream's), or a `Restore` op that puts them
/// back. Returns how many entries and the last one's ID.
pub fn encode_stream_part(
    key: &[u8],
    value: &Value,
    first: Option<Option<u64>>,
    after: Option<StreamId>,
    bounds: PartBounds,
    out: &mut Vec<u8>,
) -> (usize, Option<StreamId>) {
    let Value::Stream(stream) = value else {
        unreachable!("only streams are written out entry by entry")
    };
    let from = after.map_or(Some(StreamId::MIN), StreamId::next);
    let mut last = None;
    let entries = from
        .into_iter()
        .flat_map(|from| stream.range(from, StreamId::MAX))
        .inspect(|(id, _)| last = Some(**id));
    let put_entries = |out: &mut Vec<u8>| {
        encode_counted(entries, bounds, out, |(id, fields), out| {
            stream::put_entry(*id, fields, out)
        })
    };
    put_bytes(key, out);
    let count = match first {
        Some(expire_at_ms) => {
            put_deadline(expire_at_ms, out);
            out.push(VALUE_STREAM);
            let mut count = 0;
            stream.encode_around(out, |out| count = put_entries(out));
            count
        }
        None => {
            out.push(stream::OP_RESTORE);
            put_entries(out)
        }
    };
    (count, last)
}

/// A part of long string `value` written out in parts, its bytes from `from` on, at most
/// `bytes_max` of them: the `PUT` that starts it (`first`: with this deadline), or a `DELTA`
/// that writes them at their offset. Returns how many bytes.
pub fn encode_string_part(
    key: &[u8],
    value: &Value,
    first: Option<Option<u64>>,
    from: usize,
    bytes_max: usize,
    out: &mut Vec<u8>,
) -> usize {
    let Value::Str { bytes, raw } = value else {
        unreachable!("only strings are written out byte by byte")
    };
    let part = &bytes[from..bytes.len().min(from + bytes_max)];
    put_bytes(key, out);
    match first {
        Some(expire_at_ms) => {
            put_deadline(expire_at_ms, out);
            out.push(if *raw { VALUE_STR_RAW } else { VALUE_STR });
            out.extend_from_slice(part);
        }
        None => put_range(DELTA_STR_WRITE, from as u64, part, out),
    }
    part.len()
}

fn encode_delta(delta: &Delta, out: &mut Vec<u8>) {
    match delta {
        Delta::HashSet(pairs) => {
            out.push(DELTA_HASH_SET);
            out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
            for (field, value) in pairs {
                put_bytes(field, out);
                put_bytes(value, out);
            }
        }
        Delta::HashDel(elements) => put_list(DELTA_HASH_DEL, elements, out),
        Delta::SetAdd(elements) => put_list(DELTA_SET_ADD, elements, out),
        Delta::SetRem(elements) => put_list(DELTA_SET_REM, elements, out),
        Delta::ZSetAdd(entries) => {
            out.push(DELTA_ZSET_ADD);
            out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
            for (member, score) in entries {
                put_bytes(member, out);
                out.extend_from_slice(&score.to_bits().to_le_bytes());
            }
        }
        Delta::ZSetRem(elements) => put_list(DELTA_ZSET_REM, elements, out),
        Delta::List(edit) => encode_list_edit(edit, out),
        Delta::Stream(op) => op.encode(out),
        Delta::StrWrite { offset, bytes } => put_range(DELTA_STR_WRITE, *offset, bytes, out),
        Delta::StrReplaceTail { offset, bytes } => {
            put_range(DELTA_STR_REPLACE_TAIL, *offset, bytes, out)
        }
    }
}

fn encode_list_edit(edit: &ListEdit, out: &mut Vec<u8>) {
    let put_u64 = |n: u64, out: &mut Vec<u8>| out.extend_from_slice(&n.to_le_bytes());
    match edit {
        ListEdit::PushLeft(elements) => put_list(DELTA_LIST_PUSH_LEFT, elements, out),
        ListEdit::PushRight(elements) => put_list(DELTA_LIST_PUSH_RIGHT, elements, out),
        ListEdit::PopLeft(n) => {
            out.push(DELTA_LIST_POP_LEFT);
            put_u64(*n as u64, out);
        }
        ListEdit::PopRight(n) => {
            out.push(DELTA_LIST_POP_RIGHT);
            put_u64(*n as u64, out);
        }
        ListEdit::Set(index, element) => {
            out.push(DELTA_LIST_SET);
            put_u64(*index as u64, out);
            put_bytes(element, out);
        }
        ListEdit::Insert(index, element) => {
            out.push(DELTA_LIST_INSERT);
            put_u64(*index as u64, out);
            put_bytes(element, out);
        }
        ListEdit::Trim(start, end) => {
            out.push(DELTA_LIST_TRIM);
            put_u64(*start as u64, out);
            put_u64(*end as u64, out);
        }
        ListEdit::Remove { count, element } => {
            out.push(DELTA_LIST_REMOVE);
            put_u64(*count as u64, out);
            put_bytes(element, out);
        }
    }
}

/// The list edit of delta `tag` (10..=17), its tag already read.
fn decode_list_edit(tag: u8, payload: &mut Bytes) -> Option<ListEdit> {
    let size = |n: u64| usize::try_from(n).ok();
    Some(match tag {
        DELTA_LIST_PUSH_LEFT => ListEdit::PushLeft(take_list(payload)?),
        DELTA_LIST_PUSH_RIGHT => ListEdit::PushRight(take_list(payload)?),
        DELTA_LIST_POP_LEFT => ListEdit::PopLeft(size(take_u64(payload)?)?),
        DELTA_LIST_POP_RIGHT => ListEdit::PopRight(size(take_u64(payload)?)?),
        DELTA_LIST_SET => ListEdit::Set(size(take_u64(payload)?)?, take_bytes(payload)?),
        DELTA_LIST_INSERT => ListEdit::Insert(size(take_u64(payload)?)?, take_bytes(payload)?),
        DELTA_LIST_TRIM => ListEdit::Trim(size(take_u64(payload)?)?, size(take_u64(payload)?)?),
        DELTA_LIST_REMOVE => ListEdit::Remove {
            count: take_u64(payload)? as i64,
            element: take_bytes(payload)?,
        },
        _ => return None,
    })
}

fn decode_delta(payload: &mut Bytes) -> Option<Delta> {
    let tag = take(payload, 1)?[0];
    Some(match tag {
        DELTA_HASH_SET => {
            let count = take_u32(payload)? as usize;
            // Each pair takes at least 8 bytes: a corrupt count cannot make a huge allocation.
            let mut pairs = Vec::with_capacity(count.min(payload.len() / 8));
            for _ in 0..count {
                pairs.push((take_bytes(payload)?, take_bytes(payload)?));
            }
            Delta::HashSet(pairs)
        }
        DELTA_HASH_DEL => Delta::HashDel(take_list(payload)?),
        DELTA_SET_ADD => Delta::SetAdd(take_list(payload)?),
        DELTA_SET_REM => Delta::SetRem(take_list(payload)?),
        DELTA_ZSET_ADD => {
            let count = take_u32(payload)? as usize;
            // Each entry takes at least 12 bytes: a corrupt count cannot make a huge allocation.
            let mut entries = Vec::with_capacity(count.min(payload.len() / 12));
            for _ in 0..count {
                let member = take_bytes(payload)?;
                let score = f64::from_bits(take_u64(payload)?);
                if score.is_nan() {
                    return None;
                }
                entries.push((member, score));
            }
            Delta::ZSetAdd(entries)
        }
        DELTA_ZSET_REM => Delta::ZSetRem(take_list(payload)?),
        DELTA_LIST_PUSH_LEFT..=DELTA_LIST_REMOVE => Delta::List(decode_list_edit(tag, payload)?),
        tag if stream::is_op_tag(tag) => Delta::Stream(StreamOp::decode(tag, payload)?),
        DELTA_STR_WRITE => Delta::StrWrite {
            offset: take_u64(payload)?,
            bytes: take_bytes(payload)?,
        },
        DELTA_STR_REPLACE_TAIL => Delta::StrReplaceTail {
            offset: take_u64(payload)?,
            bytes: take_bytes(payload)?,
        },
        _ => return None,
    })
}

/// `tag`, count u32, then per element: len u32, bytes.
fn put_list(tag: u8, elements: &[Bytes], out: &mut Vec<u8>) {
    out.push(tag);
    out.extend_from_slice(&(elements.len() as u32).to_le_bytes());
    for element in elements {
        put_bytes(element, out);
    }
}

fn take_list(payload: &mut Bytes) -> Option<Vec<Bytes>> {
    let count = take_u32(payload)? as usize;
    let mut elements = Vec::with_capacity(count.min(payload.len() / 4));
    for _ in 0..count {
        elements.push(take_bytes(payload)?);
    }
    Some(elements)
}

/// `tag`, offset u64, then len u32, bytes.
fn put_range(tag: u8, offset: u64, bytes: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    out.extend_from_slice(&offset.to_le_bytes());
    put_bytes(bytes, out);
}

/// len u32, bytes.
fn put_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn take_bytes(payload: &mut Bytes) -> Option<Bytes> {
    let len = take_u32(payload)? as usize;
    take(payload, len)
}

fn take(payload: &mut Bytes, n: usize) -> Option<Bytes> {
    (payload.len() >= n).then(|| payload.split_to(n))
}

fn take_u16(payload: &mut Bytes) -> Option<u16> {
    (payload.len() >= 2).then(|| payload.get_u16_le())
}

fn take_u32(payload: &mut Bytes) -> Option<u32> {
    (payload.len() >= 4).then(|| payload.get_u32_le())
}

fn take_u64(payload: &mut Bytes) -> Option<u64> {
    (payload.len() >= 8).then(|| payload.get_u64_le())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_round_trip() {
        let effects = [
            Effect::Put {
                key: Bytes::from("k"),
                value: Value::Int(-7),
                expire_at_ms: Some(123),
            },
            Effect::Put {
                key: Bytes::from("k2"),
                value: Value::raw_string(b"a\0b".to_vec(), true),
                expire_at_ms: None,
            },
            Effect::Put {
                key: Bytes::from("long"),
                value: Value::raw_string(vec![b'x'; 100], false),
                expire_at_ms: None,
            },
            Effect::Put {
                key: Bytes::from("set"),
                value: Value::Set(Box::new(
                    ["a", "", "12", "b\0c"]
                        .into_iter()
                        .map(Bytes::from)
                        .collect(),
                )),
                expire_at_ms: Some(9),
            },
            Effect::Del {
                key: Bytes::from("gone"),
            },
            Effect::Put {
                key: Bytes::from("h"),
                value: Value::Hash(Hash::from_pairs(
                    true,
                    vec![
                        (Bytes::from("f"), Bytes::from("v")),
                        (Bytes::from(""), Bytes::from("a\0b")),
                    ],
                )),
                expire_at_ms: None,
            },
            Effect::Flush { slots: 10..20 },
            Effect::SwapDb {
                other_db: 3,
                slots: 0..16384,
            },
            Effect::Move {
                key: Bytes::from("{t}from"),
                to_db: 2,
                to: Bytes::from("{t}to\0"),
            },
            Effect::Move {
                key: Bytes::new(),
                to_db: 0,
                to: Bytes::new(),
            },
            Effect::Delta {
                key: Bytes::from("h"),
                delta: Delta::HashSet(vec![
                    (Bytes::from("f"), Bytes::from("")),
                    (Bytes::from("a\0b"), Bytes::from("v")),
                ]),
            },
            Effect::Delta {
                key: Bytes::from("h"),
                delta: Delta::HashDel(vec![Bytes::from("f"), Bytes::new()]),
            },
            Effect::Delta {
                key: Bytes::from(""),
                delta: Delta::SetAdd(vec![Bytes::from("m")]),
            },
            Effect::Delta {
                key: Bytes::from("s"),
                delta: Delta::SetRem(vec![]),
            },
            Effect::Delta {
                key: Bytes::from("z"),
                delta: Delta::ZSetAdd(vec![
                    (Bytes::from("m"), 1.5),
                    (Bytes::new(), f64::NEG_INFINITY),
                    (Bytes::from("a\0b"), f64::INFINITY),
                ]),
            },
            Effect::Delta {
                key: Bytes::from("z"),
                delta: Delta::ZSetRem(vec![Bytes::from("m"), Bytes::new()]),
            },
            Effect::Delta {
                key: Bytes::from("x"),
                delta: Delta::Stream(StreamOp::Ack {
                    group: Bytes::from("g"),
                    ids: vec![stream::StreamId::new(1, 2)],
                }),
            },
            Effect::Put {
                key: Bytes::from("x"),
                value: Value::Stream(Box::default()),
                expire_at_ms: None,
            },
            Effect::Delta {
                key: Bytes::from("bits"),
                delta: Delta::StrWrite {
                    offset: (1 << 32) + 7,
                    bytes: Bytes::from_static(b"\x80\0"),
                },
            },
            Effect::Delta {
                key: Bytes::from("hll"),
                delta: Delta::StrReplaceTail {
                    offset: 16,
                    bytes: Bytes::new(),
                },
            },
        ];
        for e in effects {
            let mut out = Vec::new();
            e.encode(&mut out);
            assert_eq!(Effect::decode(e.kind(), Bytes::from(out)), Some(e));
        }
    }

    #[test]
    fn hashes_round_trip_with_their_fields_order_and_encoding() {
        let listpack = Hash::from_pairs(
            true,
            (0..10)
                .map(|i| (Bytes::from(format!("f{i}")), Bytes::from(format!("{i}"))))
                .collect(),
        );
        let table = Hash::from_pairs(false, vec![(Bytes::from("k"), Bytes::from(vec![7u8; 300]))]);
        for hash in [listpack, table, Hash::default()] {
            let mut out = Vec::new();
            encode_value(&Value::Hash(hash.clone()), &mut out);
            let Some(Value::Hash(decoded)) = decode_value(Bytes::from(out)) else {
                panic!("hash did not decode");
            };
            assert_eq!(decoded.encoding(), hash.encoding());
            let order = |h: &Hash| {
                h.iter()
                    .map(|(f, v)| (f.to_vec(), v.to_vec()))
                    .collect::<Vec<_>>()
            };
            if hash.is_listpack() {
                assert_eq!(order(&decoded), order(&hash));
            }
            assert_eq!(decoded, hash);
        }
    }

    #[test]
    fn sorted_sets_round_trip_with_their_scores_and_encoding() {
        let small = ZSet::from_entries(
            true,
            vec![
                (Bytes::from("a"), 1.5),
                (Bytes::from(""), f64::NEG_INFINITY),
                (Bytes::from("b\0c"), -0.0),
            ],
        );
        let big = ZSet::from_entries(
            true,
            (0..200)
                .map(|i| (Bytes::from(format!("m{i}")), i as f64 * 0.1))
                .collect(),
        );
        for zset in [small, big] {
            let mut out = Vec::new();
            encode_value(&Value::ZSet(zset.clone()), &mut out);
            let Some(Value::ZSet(decoded)) = decode_value(Bytes::from(out.clone())) else {
                panic!("sorted set did not decode");
            };
            assert_eq!(decoded.encoding(), zset.encoding());
            assert_eq!(decoded, zset);
            let bits = |z: &ZSet| {
                z.iter()
                    .map(|(m, s)| (Bytes::copy_from_slice(m), s.to_bits()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&decoded), bits(&zset));
            for len in 1..out.len().min(40) {
                assert_eq!(decode_value(Bytes::copy_from_slice(&out[..len])), None);
            }
        }
    }

    #[test]
    fn list_deltas_round_trip_with_tags_10_to_17() {
        let edits = [
            ListEdit::PushLeft(vec![Bytes::from("a"), Bytes::new()]),
            ListEdit::PushRight(vec![Bytes::from("b\0c")]),
            ListEdit::PopLeft(3),
            ListEdit::PopRight(1 << 40),
            ListEdit::Set(7, Bytes::from("s")),
            ListEdit::Insert(0, Bytes::from("i")),
            ListEdit::Trim(2, 9),
            ListEdit::Remove {
                count: -2,
                element: Bytes::from("r"),
            },
        ];
        for (i, edit) in edits.into_iter().enumerate() {
            let effect = Effect::Delta {
                key: Bytes::from("list"),
                delta: Delta::List(edit),
            };
            let mut out = Vec::new();
            effect.encode(&mut out);
            assert_eq!(out[4 + 4], 10 + i as u8, "tag after key_len and key");
            assert_eq!(
                Effect::decode(effect.kind(), Bytes::from(out)),
                Some(effect)
            );
        }
    }

    #[test]
    fn lists_round_trip_with_their_order_and_sticky_encoding() {
        let small = List::from_items(["a", "", "7", "b\0c"].map(Bytes::from), false);
        let sticky = List::from_items([Bytes::from("x")], true);
        for list in [small, sticky] {
            let mut out = Vec::new();
            encode_value(&Value::List(Box::new(list.clone())), &mut out);
            assert_eq!(out[0], 6, "lists use value tag 6");
            let Some(Value::List(decoded)) = decode_value(Bytes::from(out.clone())) else {
                panic!("list did not decode");
            };
            assert_eq!(*decoded, list);
            assert_eq!(decoded.encoding(), list.encoding());
            for len in 1..out.len() {
                assert_eq!(decode_value(Bytes::copy_from_slice(&out[..len])), None);
            }
        }
    }

    #[test]
    fn truncated_hashes_do_not_decode() {
        let hash = Hash::from_pairs(true, vec![(Bytes::from("f"), Bytes::from("v"))]);
        let mut out = Vec::new();
        encode_value(&Value::Hash(hash), &mut out);
        for len in 1..out.len() {
            assert_eq!(decode_value(Bytes::copy_from_slice(&out[..len])), None);
        }
    }

    #[test]
    fn transaction_parts_round_trip() {
        let tag = TxnTag {
            origin: 2,
            seq: 99,
            parts: 3,
        };
        let effects = vec![
            Located {
                slot: 5,
                db: 1,
                effect: Effect::Del {
                    key: Bytes::from("x"),
                },
            },
            Located {
                slot: 16383,
                db: 0,
                effect: Effect::Put {
                    key: Bytes::from("y"),
                    value: Value::Int(7),
                    expire_at_ms: Some(12),
                },
            },
        ];
        let mut part = TxnPartEncoder::new(tag);
        for e in &effects {
            part.push(e.slot, e.db, e.effect.kind(), |out| e.effect.encode(out));
        }
        assert_eq!(
            decode_txn_part(Bytes::from(part.finish())),
            Some((tag, effects))
        );
        let empty = TxnPartEncoder::new(tag).finish();
        assert_eq!(decode_txn_part(Bytes::from(empty)), Some((tag, Vec::new())));
    }
}
