//! Streams in the RDB format (Redis's `RDB_TYPE_STREAM_LISTPACKS*`).
//!
//! The object is: the count of nodes, then per node its master ID (16 bytes, big endian) and a
//! listpack of entries; the stream's length and last ID; (v2+) its first ID, greatest deleted ID
//! and count of entries ever added; then the consumer groups, each with its last delivered ID,
//! (v2+) its entries-read counter, its pending entries list (raw ID, delivery time, delivery
//! count) and its consumers (name, seen time, (v3) active time, and the raw IDs they own).
//!
//! A node's listpack starts with a master entry: live count, deleted count, the master fields and
//! a 0 terminator. Each entry then holds flags, its ID as differences from the master ID, either
//! its values alone (when its fields are the master's) or its own field count, fields and values,
//! and finally its own element count (`lp-count`, so that it can be walked backwards).
//!
//! Keel writes v2, which Redis 7.0 (RDB 10) and later load, and reads v1, v2 and v3.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::encode;
use super::listpack::{self, Element};
use super::read::{Malformed, Reader, Result};
use super::types::*;
use crate::keyspace::stream::{
    Consumer, Fields, Group, Pending, Stream, StreamId, StreamOp, NODE_ENTRIES,
};
use crate::keyspace::Value;

/// Redis's default `stream-node-max-bytes`: an entry that would take its node to this size starts
/// a new node (so a single larger entry gets a node of its own).
const NODE_BYTES_MAX: usize = 4096;
const ID_BYTES: usize = 16;
/// Entry flags.
const FLAG_DELETED: i64 = 1;
const FLAG_SAME_FIELDS: i64 = 2;
/// The elements an entry has besides its fields and values: flags, ms-diff and seq-diff.
const ENTRY_FIXED_ELEMENTS: i64 = 3;
/// Group counters a missing value stands for (Redis writes -1 as an unsigned length).
const ENTRIES_READ_UNKNOWN: u64 = u64::MAX;
/// Counters Redis keeps in signed 64 bits (entries added, entries read): larger ones are malformed.
const SIGNED_MAX: u64 = i64::MAX as u64;
/// The least bytes each repeated part takes in a payload, for bounding counts before allocating.
const NODE_BYTES_MIN: usize = 2 + ID_BYTES;
const GROUP_BYTES_MIN: usize = 5;
const PENDING_BYTES_MIN: usize = ID_BYTES + 8 + 1;
const CONSUMER_BYTES_MIN: usize = 1 + 8 + 1;

// ---- Encoding ---------------------------------------------------------------------------------

/// Writes `stream` as `STREAM_LISTPACKS_2` (type byte included).
///
/// What the format carries and Keel's model does not keep is written as Redis would compute it:
/// XDEL removes an entry from Keel outright, where Redis leaves a tombstone in its node, so every
/// node here says 0 deleted (a node without tombstones, as Redis has before any XDEL; the stream's
/// max deleted ID and entries-added counter, which Keel does keep, carry what XINFO and lag need);
/// the first ID is the first live entry's (0-0 when empty), as Redis records it; nodes are cut
/// where Redis's default node limits would cut them.
pub fn encode(stream: &Stream, out: &mut Vec<u8>) {
    encode_as(stream, STREAM_LISTPACKS_2, out);
}

/// Writes `stream` as stream type `kind` (v1 loses the v2 counters; v3 gives each consumer its
/// seen time as its active time, the only time Keel keeps).
fn encode_as(stream: &Stream, kind: u8, out: &mut Vec<u8>) {
    out.push(kind);
    let nodes = nodes(stream);
    encode::len(nodes.len() as u64, out);
    for (master, blob) in &nodes {
        raw_string(&id_be(*master), out);
        raw_string(blob, out);
    }
    encode::len(stream.len() as u64, out);
    lens_id(stream.last_id, out);
    if kind != STREAM_LISTPACKS {
        lens_id(stream.first().map_or(StreamId::MIN, |(id, _)| *id), out);
        lens_id(stream.max_deleted, out);
        encode::len(stream.entries_added, out);
    }
    encode::len(stream.groups.len() as u64, out);
    for (name, group) in &stream.groups {
        encode::string(name, out);
        lens_id(group.last_id, out);
        if kind != STREAM_LISTPACKS {
            encode::len(group.entries_read.unwrap_or(ENTRIES_READ_UNKNOWN), out);
        }
        group_pel(group, out);
        encode::len(group.consumers.len() as u64, out);
        for (name, consumer) in &group.consumers {
            encode::string(name, out);
            out.extend_from_slice(&consumer.seen_ms.to_le_bytes());
            if kind == STREAM_LISTPACKS_3 {
                out.extend_from_slice(&consumer.seen_ms.to_le_bytes());
            }
            encode::len(consumer.pel.len() as u64, out);
            consumer
                .pel
                .iter()
                .for_each(|id| out.extend_from_slice(&id_be(*id)));
        }
    }
}

/// The entries packed into nodes as Redis packs them (`streamAppendItem`): an entry starts a new
/// node when the current one holds `NODE_ENTRIES` entries, or when the node's bytes plus the
/// entry's field and value bytes would reach `NODE_BYTES_MAX`; a node's master is its first entry.
fn nodes(stream: &Stream) -> Vec<(StreamId, Vec<u8>)> {
    let mut nodes = Vec::new();
    let mut entries = stream.range(StreamId::MIN, StreamId::MAX).peekable();
    while let Some((&master, master_fields)) = entries.next() {
        let names: Vec<&Bytes> = master_fields.iter().step_by(2).collect();
        let mut lp = listpack::Writer::new();
        let names_bytes: usize = names.iter().map(|n| n.len()).sum();
        let mut body = listpack::Writer::new();
        let mut count = 1;
        entry(&mut body, master, master, master_fields, &names);
        let fits = |body: &listpack::Writer, fields: &Fields| {
            let fields_bytes: usize = fields.iter().map(Bytes::len).sum();
            body.bytes_len() + names_bytes + fields_bytes < NODE_BYTES_MAX
        };
        while count < NODE_ENTRIES {
            let Some((&id, fields)) = entries.next_if(|(_, fields)| fits(&body, fields)) else {
                break;
            };
            entry(&mut body, master, id, fields, &names);
            count += 1;
        }
        lp.int(count as i64);
        lp.int(0); // Deleted entries: Keel keeps none.
        lp.int(names.len() as i64);
        names.iter().for_each(|name| lp.bytes(name));
        lp.int(0); // The master entry's terminator.
        nodes.push((master, lp.concat(body).finish()));
    }
    nodes
}

/// Appends one entry, relative to its node's master ID and fields.
fn entry(
    lp: &mut listpack::Writer,
    master: StreamId,
    id: StreamId,
    fields: &[Bytes],
    names: &[&Bytes],
) {
    let same = fields.len() == names.len() * 2
        && fields.iter().step_by(2).zip(names).all(|(f, n)| f == *n);
    lp.int(if same { FLAG_SAME_FIELDS } else { 0 });
    // Differences wrap as Redis's unsigned arithmetic does (a later ms may have a lower seq).
    lp.int(id.ms.wrapping_sub(master.ms) as i64);
    lp.int(id.seq.wrapping_sub(master.seq) as i64);
    let pairs = (fields.len() / 2) as i64;
    if same {
        fields.iter().skip(1).step_by(2).for_each(|v| lp.bytes(v));
        lp.int(pairs + ENTRY_FIXED_ELEMENTS);
    } else {
        lp.int(pairs);
        fields.iter().for_each(|f| lp.bytes(f));
        lp.int(2 * pairs + ENTRY_FIXED_ELEMENTS + 1);
    }
}

fn group_pel(group: &Group, out: &mut Vec<u8>) {
    encode::len(group.pel.len() as u64, out);
    for (id, pending) in &group.pel {
        out.extend_from_slice(&id_be(*id));
        out.extend_from_slice(&pending.delivery_ms.to_le_bytes());
        encode::len(pending.delivery_count, out);
    }
}

/// A string as is (never in an integer encoding: IDs and listpacks are binary).
fn raw_string(bytes: &[u8], out: &mut Vec<u8>) {
    encode::len(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn lens_id(id: StreamId, out: &mut Vec<u8>) {
    encode::len(id.ms, out);
    encode::len(id.seq, out);
}

fn id_be(id: StreamId) -> [u8; ID_BYTES] {
    let mut raw = [0; ID_BYTES];
    raw[..8].copy_from_slice(&id.ms.to_be_bytes());
    raw[8..].copy_from_slice(&id.seq.to_be_bytes());
    raw
}

// ---- Decoding ---------------------------------------------------------------------------------

/// Reads a stream object of type `kind` (its type byte already read). Refused as malformed, where
/// Keel could not keep the stream consistent: entries out of order or above the last ID, a
/// length or entries-added count that disagrees with the entries, pending entries without
/// exactly one consumer, duplicate groups or consumers.
pub fn decode(r: &mut Reader, kind: u8) -> Result<Value> {
    let mut stream = Stream::default();
    for _ in 0..r.count(NODE_BYTES_MIN)? {
        let master = id_from_be(&r.string()?)?;
        node(&r.string()?, master, &mut stream)?;
    }
    let length = r.len()?;
    let last_id = lens_to_id(r)?;
    let (max_deleted, entries_added) = if kind == STREAM_LISTPACKS {
        // v1 has neither: Redis counts what is there and assumes nothing was deleted.
        (StreamId::MIN, length)
    } else {
        let _first_id = lens_to_id(r)?; // Keel derives it from the entries.
        (lens_to_id(r)?, r.len()?)
    };
    let last_entry_above = stream.last().is_some_and(|(id, _)| *id > last_id);
    if length != stream.len() as u64
        || entries_added < length
        || entries_added > SIGNED_MAX
        || last_entry_above
    {
        return Err(Malformed);
    }
    stream.last_id = last_id;
    stream.max_deleted = max_deleted;
    stream.entries_added = entries_added;
    for _ in 0..r.count(GROUP_BYTES_MIN)? {
        let name = Bytes::from(r.string()?);
        let group = group(r, kind, &stream)?;
        if stream.groups.insert(name, group).is_some() {
            return Err(Malformed);
        }
    }
    Ok(Value::Stream(Box::new(stream)))
}

/// Adds a node's live entries to `stream`; they must come after every entry already there.
fn node(blob: &[u8], master: StreamId, stream: &mut Stream) -> Result<()> {
    let elements = listpack::elements(blob)?;
    let mut it = elements.iter();
    let live = count(&mut it, elements.len())?;
    let deleted = count(&mut it, elements.len())?;
    let names_len = count(&mut it, elements.len())?;
    let names: Vec<Bytes> = (0..names_len)
        .map(|_| next_text(&mut it))
        .collect::<Result<_>>()?;
    if int(it.next())? != 0 || live + deleted == 0 {
        return Err(Malformed);
    }
    let (mut live_seen, mut deleted_seen) = (0, 0);
    while let Some(flags) = it.next() {
        let flags = int(Some(flags))?;
        let ms_diff = int(it.next())?;
        let seq_diff = int(it.next())?;
        let same = flags & FLAG_SAME_FIELDS != 0;
        let fields = entry_fields(&mut it, same.then_some(&names[..]), elements.len())?;
        let pairs = (fields.len() / 2) as i64;
        let extra = if same { 0 } else { pairs + 1 };
        if int(it.next())? != pairs + ENTRY_FIXED_ELEMENTS + extra || pairs == 0 {
            return Err(Malformed);
        }
        if flags & FLAG_DELETED != 0 {
            deleted_seen += 1;
            continue;
        }
        let id = StreamId::new(
            master.ms.wrapping_add(ms_diff as u64),
            master.seq.wrapping_add(seq_diff as u64),
        );
        if stream.last().is_some_and(|(last, _)| *last >= id) {
            return Err(Malformed);
        }
        stream.apply(&StreamOp::Add { id, fields });
        live_seen += 1;
    }
    if live_seen != live || deleted_seen != deleted {
        return Err(Malformed);
    }
    Ok(())
}

/// An entry's fields and values: values alone after the node's `master` names, or a count and
/// then fields and values.
fn entry_fields(
    it: &mut std::slice::Iter<Element>,
    master: Option<&[Bytes]>,
    max: usize,
) -> Result<Vec<Bytes>> {
    match master {
        Some(names) => {
            let mut fields = Vec::with_capacity(2 * names.len());
            for name in names {
                fields.push(name.clone());
                fields.push(next_text(it)?);
            }
            Ok(fields)
        }
        None => {
            let pairs = count(it, max)?;
            (0..2 * pairs).map(|_| next_text(it)).collect()
        }
    }
}

/// One consumer group, checked whole: every pending entry has exactly one consumer.
fn group(r: &mut Reader, kind: u8, stream: &Stream) -> Result<Group> {
    let last_id = lens_to_id(r)?;
    let entries_read = if kind == STREAM_LISTPACKS {
        // v1 keeps no counter: Redis estimates it from the stream, as Keel does here.
        stream.entries_read_at(last_id)
    } else {
        Some(r.len()?).filter(|n| *n != ENTRIES_READ_UNKNOWN)
    };
    // Redis keeps the counter signed (-1 for unknown, written as u64::MAX); it may exceed the
    // entries added (XGROUP CREATE ... ENTRIESREAD allows that, and so does Keel).
    if entries_read.is_some_and(|n| n > SIGNED_MAX) {
        return Err(Malformed);
    }
    let mut unowned = BTreeMap::new();
    for _ in 0..r.count(PENDING_BYTES_MIN)? {
        let id = id_from_be(r.take(ID_BYTES)?)?;
        let delivery_ms = millis(r)?;
        if unowned.insert(id, (delivery_ms, r.len()?)).is_some() {
            return Err(Malformed);
        }
    }
    let mut group = Group {
        last_id,
        entries_read,
        ..Group::default()
    };
    for _ in 0..r.count(CONSUMER_BYTES_MIN)? {
        let name = Bytes::from(r.string()?);
        let (name, consumer) = consumer(r, kind, name, &mut unowned, &mut group.pel)?;
        if group.consumers.insert(name, consumer).is_some() {
            return Err(Malformed);
        }
    }
    if !unowned.is_empty() {
        return Err(Malformed);
    }
    Ok(group)
}

/// One consumer; each ID it owns moves from `unowned` into the group's PEL under its name.
fn consumer(
    r: &mut Reader,
    kind: u8,
    name: Bytes,
    unowned: &mut BTreeMap<StreamId, (u64, u64)>,
    pel: &mut BTreeMap<StreamId, Pending>,
) -> Result<(Bytes, Consumer)> {
    let seen_ms = millis(r)?;
    if kind == STREAM_LISTPACKS_3 {
        // Redis 7.2's active time (last successful read); Keel keeps only the seen time.
        millis(r)?;
    }
    let mut consumer = Consumer {
        seen_ms,
        ..Consumer::default()
    };
    for _ in 0..r.count(ID_BYTES)? {
        let id = id_from_be(r.take(ID_BYTES)?)?;
        let (delivery_ms, delivery_count) = unowned.remove(&id).ok_or(Malformed)?;
        let pending = Pending {
            consumer: name.clone(),
            delivery_ms,
            delivery_count,
        };
        pel.insert(id, pending);
        consumer.pel.insert(id);
    }
    Ok((name, consumer))
}

/// A count read from a listpack, at most `max` (the elements there are).
fn count(it: &mut std::slice::Iter<Element>, max: usize) -> Result<usize> {
    let n = int(it.next())?;
    usize::try_from(n)
        .ok()
        .filter(|n| *n <= max)
        .ok_or(Malformed)
}

/// An integer element (or a string holding one, which Redis reads the same way).
fn int(element: Option<&Element>) -> Result<i64> {
    match element.ok_or(Malformed)? {
        Element::Int(n) => Ok(*n),
        Element::Str(s) => crate::keyspace::parse_canonical_i64(s).ok_or(Malformed),
    }
}

/// The next element as bytes (an integer as its text).
fn next_text(it: &mut std::slice::Iter<Element>) -> Result<Bytes> {
    Ok(Bytes::from(it.next().ok_or(Malformed)?.to_bytes()))
}

fn id_from_be(raw: &[u8]) -> Result<StreamId> {
    let raw: &[u8; ID_BYTES] = raw.try_into().map_err(|_| Malformed)?;
    let (ms, seq) = raw.split_at(8);
    Ok(StreamId::new(
        u64::from_be_bytes(ms.try_into().expect("8 bytes")),
        u64::from_be_bytes(seq.try_into().expect("8 bytes")),
    ))
}

fn lens_to_id(r: &mut Reader) -> Result<StreamId> {
    Ok(StreamId::new(r.len()?, r.len()?))
}

/// A time in milliseconds: 8 bytes, little endian (Redis's `rdbSaveMillisecondTime`).
fn millis(r: &mut Reader) -> Result<u64> {
    let raw: [u8; 8] = r.take(8)?.try_into().expect("8 bytes");
    u64::try_from(i64::from_le_bytes(raw)).map_err(|_| Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis 7.0.15's DUMP after `XADD s 1-1 a 1 b x`, `XADD s 1-2 a 2 b y`, `XADD s 2-0 c z`,
    /// `XGROUP CREATE s g 0`, `XREADGROUP GROUP g alice COUNT 2 STREAMS s >`, `XDEL s 1-2`: a
    /// tombstone in the listpack, an entry with its own fields, a pending entry deleted since.
    const REDIS_WITH_TOMBSTONE: &[u8] = b"\x13\x01\x10\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01@@@\x00\x00\x00\x19\x00\x02\x01\x01\x01\x02\x01\x81a\x02\x81b\x02\x00\x01\x02\x01\x00\x01\x00\x01\x01\x01\x81x\x02\x05\x01\x03\x01\x00\x01\x01\x01\x02\x01\x81y\x02\x05\x01\x00\x01\x01\x01\xdf\xff\x02\x01\x01\x81c\x02\x81z\x02\x06\x01\xff\x02\x02\x00\x01\x01\x01\x02\x03\x01\x01g\x01\x02\x02\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01Q\xb7\x1c\x17\xa2\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02Q\xb7\x1c\x17\xa2\x01\x00\x00\x01\x01\x05aliceQ\xb7\x1c\x17\xa2\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\n\x00\x8d\xdb\xcf\x97\x01{Y\t";

    /// Redis 7.0.15's DUMP (its listpack LZF-compressed) after `XADD u 1-1 a 1 b x`,
    /// `XADD u 1-2 a 2 b y`, `XADD u 2-0 c z`, `XADD u 3-0 a 70000 b -5`, `XGROUP CREATE u g 0`,
    /// `XGROUP CREATE u h $ ENTRIESREAD 4`, `XREADGROUP GROUP g alice COUNT 2 STREAMS u >`,
    /// `XREADGROUP GROUP g bob COUNT 1 STREAMS u >`.
    const REDIS_COMPRESSED: &[u8] = b"\x13\x01\x10\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\xc3@K@Q\x11Q\x00\x00\x00\x1f\x00\x04\x01\x00\x01\x02\x01\x81a\x02\x81b\x02@\t\x00\x00 \x01\x05\x01\x01\x81x\x02\x05 \x16@\n \x1c\x00y \x0c@\n\x02\xdf\xff\x02 \x1a\x05c\x02\x81z\x02\x06 \x17\x00\x02@\x10\x06\xf2p\x11\x01\x04\xdf\xfb !\x00\xff\x04\x03\x00\x01\x01\x00\x00\x04\x02\x01g\x02\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01Q\x00 \x17\xa2\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02Q\x00 \x17\xa2\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00b\x00 \x17\xa2\x01\x00\x00\x01\x02\x05aliceQ\x00 \x17\xa2\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x03bobb\x00 \x17\xa2\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01h\x03\x00\x04\x00\x00\n\x00\x7f+*\x0e\xf1\x14\x7f\xc9";

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    /// The stream in a payload's object (footer dropped).
    fn read(payload: &[u8]) -> Result<Stream> {
        let object = &payload[..payload.len() - 10];
        let mut r = Reader::new(object);
        let kind = r.u8()?;
        match decode(&mut r, kind)? {
            Value::Stream(s) => Ok(*s),
            _ => unreachable!("decode makes streams"),
        }
    }

    fn written(stream: &Stream, kind: u8) -> Vec<u8> {
        let mut out = Vec::new();
        encode_as(stream, kind, &mut out);
        out.extend_from_slice(&[0; 10]); // A footer for `read` to drop.
        out
    }

    /// Several nodes' worth of entries with changing field sets, IDs whose seq falls as ms rises,
    /// deletions (max deleted ID), a trim, and two groups with consumers and pending entries.
    fn sample() -> Stream {
        let mut s = Stream::default();
        for i in 0..250u64 {
            let fields = match i % 7 {
                0 => vec![b("other"), b(&i.to_string())],
                _ => vec![
                    b("f"),
                    b(&format!("v{i}")),
                    b("n"),
                    b(&(i as i64 * -1000).to_string()),
                ],
            };
            let id = id(1_000 + i / 3, 10 + (i % 3) * 20);
            s.apply(&StreamOp::Add { id, fields });
        }
        s.apply(&StreamOp::Add {
            id: id(5_000, 0),
            fields: vec![b("big"), Bytes::from(vec![b'x'; 5000])],
        });
        s.apply(&StreamOp::Delete(vec![id(1_001, 50), id(1_010, 10)]));
        s.apply(&StreamOp::TrimThrough(id(1_000, 50)));
        let g = b("g");
        s.apply(&StreamOp::CreateGroup {
            group: g.clone(),
            last_id: id(1_003, 10),
            entries_read: Some(12),
        });
        s.apply(&StreamOp::CreateGroup {
            group: b("idle"),
            last_id: StreamId::MIN,
            entries_read: None,
        });
        s.apply(&StreamOp::TouchConsumer {
            group: g.clone(),
            consumer: b("carol"),
            seen_ms: 5,
        });
        s.apply(&StreamOp::Deliver {
            group: g.clone(),
            consumer: b("alice"),
            delivery_ms: 1_700_000_000_000,
            entries: vec![(id(1_002, 50), 1), (id(1_003, 10), 3)],
        });
        s.apply(&StreamOp::Deliver {
            group: g,
            consumer: b("123"),
            delivery_ms: 1_700_000_000_500,
            entries: vec![(id(1_001, 10), 2)],
        });
        s
    }

    #[test]
    fn redis_payload_with_a_tombstone_decodes() {
        let s = read(REDIS_WITH_TOMBSTONE).unwrap();
        let entries: Vec<_> = s.range(StreamId::MIN, StreamId::MAX).collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(*entries[0].0, id(1, 1));
        assert_eq!(&entries[0].1[..], [b("a"), b("1"), b("b"), b("x")]);
        assert_eq!(*entries[1].0, id(2, 0));
        assert_eq!(&entries[1].1[..], [b("c"), b("z")]);
        assert_eq!(
            (s.last_id, s.max_deleted, s.entries_added),
            (id(2, 0), id(1, 2), 3)
        );
        let g = &s.groups[&b("g")];
        assert_eq!((g.last_id, g.entries_read), (id(1, 2), Some(2)));
        assert_eq!(g.pel.len(), 2);
        assert_eq!(g.pel[&id(1, 2)].consumer, b("alice"));
        assert_eq!(g.pel[&id(1, 2)].delivery_count, 1);
        assert_eq!(g.consumers[&b("alice")].pel.len(), 2);
    }

    #[test]
    fn keel_writes_the_listpacks_and_groups_redis_wrote() {
        let redis = read(REDIS_COMPRESSED).unwrap();
        assert_eq!(redis.len(), 4);
        assert_eq!(redis.groups[&b("h")].entries_read, Some(4));
        assert_eq!(redis.groups[&b("g")].consumers[&b("bob")].pel.len(), 1);
        // Redis compressed its listpack; Keel does not compress. Compare the strings as read.
        let mine = written(&redis, STREAM_LISTPACKS_2);
        let (mut a, mut b) = (Reader::new(REDIS_COMPRESSED), Reader::new(&mine));
        assert_eq!(a.take(2).unwrap(), b.take(2).unwrap(), "type, node count");
        assert_eq!(a.string().unwrap(), b.string().unwrap(), "master ID");
        assert_eq!(a.string().unwrap(), b.string().unwrap(), "listpack");
        let rest = a.remaining() - 10;
        assert_eq!(
            a.take(rest).unwrap(),
            b.take(rest).unwrap(),
            "counters and groups"
        );
    }

    #[test]
    fn streams_round_trip_through_every_version() {
        let s = sample();
        assert!(s.len() > 2 * NODE_ENTRIES);
        for kind in [STREAM_LISTPACKS_2, STREAM_LISTPACKS_3] {
            assert_eq!(read(&written(&s, kind)).unwrap(), s, "type {kind}");
        }
        // v1 has no counters: Redis 7 assumes no deletions and estimates entries read.
        let v1 = read(&written(&s, STREAM_LISTPACKS)).unwrap();
        assert_eq!(v1.range(StreamId::MIN, StreamId::MAX).count(), s.len());
        assert_eq!(
            (v1.entries_added, v1.max_deleted),
            (s.len() as u64, StreamId::MIN)
        );
        assert_eq!(v1.groups[&b("g")].pel, s.groups[&b("g")].pel);
        let empty = Stream::default();
        assert_eq!(read(&written(&empty, STREAM_LISTPACKS_2)).unwrap(), empty);
    }

    #[test]
    fn nodes_split_by_entries_and_bytes() {
        let s = sample();
        let nodes = nodes(&s);
        let counts: Vec<usize> = nodes
            .iter()
            .map(|(_, lp)| match listpack::elements(lp).unwrap()[0] {
                Element::Int(n) => n as usize,
                Element::Str(_) => panic!("counts are integers"),
            })
            .collect();
        let n = s.len() - 1;
        assert_eq!(
            counts,
            [NODE_ENTRIES, NODE_ENTRIES, n - 2 * NODE_ENTRIES, 1]
        );
        let (big_master, big) = nodes.last().unwrap();
        assert_eq!(
            *big_master,
            id(5_000, 0),
            "a large entry gets a node of its own"
        );
        assert!(big.len() > NODE_BYTES_MAX);
    }

    /// A tiny xorshift: reproducible fuzzing without a dependency.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn truncated_and_flipped_payloads_are_malformed_never_a_panic() {
        let keel = written(&sample(), STREAM_LISTPACKS_3);
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for payload in [REDIS_WITH_TOMBSTONE, REDIS_COMPRESSED, &keel[..]] {
            let object_len = payload.len() - 10;
            // Every cut of the small payloads; about 1,000 of the large one.
            for cut in (0..object_len).step_by((object_len / 1_000).max(1)) {
                let mut cut_payload = payload[..cut].to_vec();
                cut_payload.extend_from_slice(&[0; 10]);
                assert!(read(&cut_payload).is_err(), "cut at {cut}");
            }
            for _ in 0..2_000 {
                let mut fuzzed = payload.to_vec();
                for _ in 0..1 + next(&mut state) % 3 {
                    let at = (next(&mut state) % object_len as u64) as usize;
                    fuzzed[at] = next(&mut state) as u8;
                }
                if let Ok(s) = read(&fuzzed) {
                    // Whatever decodes is a stream Keel can use.
                    let _ = s.lag(s.groups.values().next().unwrap_or(&Group::default()));
                    assert!(s.entries_added >= s.len() as u64);
                }
            }
        }
    }
}
