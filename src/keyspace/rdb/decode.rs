//! RDB objects (one type byte, then the object) to Keel values, with Keel's own encodings for
//! what was read (so that `OBJECT ENCODING` answers as Redis would after the same RESTORE).

use bytes::Bytes;

use super::listpack::{self, Element};
use super::read::{Malformed, Reader, Result};
use super::types::*;
use crate::keyspace::hash::{self, Hash};
use crate::keyspace::zset::ZSet;
use crate::keyspace::{List, SetMembers, Value};

/// The least bytes one string takes in a payload (its length byte), for bounding counts.
const STRING_BYTES_MIN: usize = 1;

/// Reads one object (type byte and body) from `r`.
pub fn object(r: &mut Reader) -> Result<Value> {
    match r.u8()? {
        STRING => Ok(Value::string(&r.string()?)),
        LIST => list(strings(r, 1)?),
        LIST_QUICKLIST_2 => list(quicklist(r)?),
        SET => set(strings(r, 1)?),
        SET_INTSET => {
            let ints = listpack::intset(&r.string()?)?;
            set(ints
                .iter()
                .map(|n| itoa::Buffer::new().format(*n).as_bytes().to_vec())
                .collect())
        }
        SET_LISTPACK => set(packed(&r.string()?)?),
        HASH => hash(pairs(strings(r, 2)?)?),
        HASH_LISTPACK => hash(pairs(packed(&r.string()?)?)?),
        ZSET => zset(scored(r, Reader::text_double)?),
        ZSET_2 => zset(scored(r, Reader::binary_double)?),
        ZSET_LISTPACK => zset(packed_scores(&r.string()?)?),
        kind @ (STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3) => {
            super::stream::decode(r, kind)
        }
        _ => Err(Malformed),
    }
}

/// A count (at least 1: Redis refuses empty collections) then that many groups of `per` strings.
fn strings(r: &mut Reader, per: usize) -> Result<Vec<Vec<u8>>> {
    let count = r.count(STRING_BYTES_MIN * per)?;
    if count == 0 {
        return Err(Malformed);
    }
    (0..count * per).map(|_| r.string()).collect()
}

/// Every element of a listpack blob, as bytes.
fn packed(blob: &[u8]) -> Result<Vec<Vec<u8>>> {
    Ok(listpack::elements(blob)?
        .iter()
        .map(Element::to_bytes)
        .collect())
}

/// A quicklist of listpack nodes (or plain nodes, one large element each).
fn quicklist(r: &mut Reader) -> Result<Vec<Vec<u8>>> {
    let nodes = r.count(2)?;
    let mut items = Vec::new();
    for _ in 0..nodes {
        let container = r.len()?;
        let blob = r.string()?;
        match container {
            QUICKLIST_NODE_PLAIN => items.push(blob),
            QUICKLIST_NODE_PACKED => items.extend(packed(&blob)?),
            _ => return Err(Malformed),
        }
    }
    Ok(items)
}

fn list(items: Vec<Vec<u8>>) -> Result<Value> {
    if items.is_empty() {
        return Err(Malformed);
    }
    Ok(Value::List(Box::new(List::from_items(
        items.into_iter().map(Bytes::from),
        false,
    ))))
}

/// A set; duplicate members are malformed (Redis refuses them too).
fn set(members: Vec<Vec<u8>>) -> Result<Value> {
    let count = members.len();
    let set: SetMembers = members.into_iter().map(Bytes::from).collect();
    if count == 0 || set.len() != count {
        return Err(Malformed);
    }
    Ok(Value::Set(Box::new(set)))
}

/// Field, value, field, value...: an even, non-empty number of elements.
fn pairs(flat: Vec<Vec<u8>>) -> Result<Vec<(Bytes, Bytes)>> {
    if flat.is_empty() || !flat.len().is_multiple_of(2) {
        return Err(Malformed);
    }
    let mut it = flat.into_iter().map(Bytes::from);
    Ok(std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect())
}

/// A hash; duplicate fields are malformed.
fn hash(pairs: Vec<(Bytes, Bytes)>) -> Result<Value> {
    let count = pairs.len();
    let hash = Hash::from_pairs(count <= hash::LISTPACK_ENTRIES_MAX, pairs);
    if hash.len() != count {
        return Err(Malformed);
    }
    Ok(Value::Hash(hash))
}

/// A count (at least 1) of members, each followed by its score.
fn scored<'a>(
    r: &mut Reader<'a>,
    score: fn(&mut Reader<'a>) -> Result<f64>,
) -> Result<Vec<(Bytes, f64)>> {
    let count = r.count(STRING_BYTES_MIN * 2)?;
    if count == 0 {
        return Err(Malformed);
    }
    (0..count)
        .map(|_| Ok((Bytes::from(r.string()?), score(r)?)))
        .collect()
}

/// Member, score, member, score... from a listpack; a score is an integer or a double's text.
fn packed_scores(blob: &[u8]) -> Result<Vec<(Bytes, f64)>> {
    let elements = listpack::elements(blob)?;
    if !elements.len().is_multiple_of(2) {
        return Err(Malformed);
    }
    elements
        .chunks_exact(2)
        .map(|pair| {
            let score = match &pair[1] {
                Element::Int(n) => *n as f64,
                Element::Str(text) => std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or(Malformed)?,
            };
            Ok((Bytes::from(pair[0].to_bytes()), score))
        })
        .collect()
}

/// A sorted set; NaN scores and duplicate members are malformed (Redis refuses them too).
fn zset(entries: Vec<(Bytes, f64)>) -> Result<Value> {
    let count = entries.len();
    if count == 0 || entries.iter().any(|(_, score)| score.is_nan()) {
        return Err(Malformed);
    }
    let zset = ZSet::from_entries(true, entries);
    if zset.len() != count {
        return Err(Malformed);
    }
    Ok(Value::ZSet(zset))
}
