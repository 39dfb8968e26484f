//! Element-level changes to collections. A write to a collection is expressed as a `Delta` and
//! applied with `Db::apply`, which logs the delta rather than the collection's whole value, so a
//! write to a big collection costs the journal what it changed, not the collection's size.
//!
//! `Delta::apply_to` is the one function that changes the value, live and at replay, so replay
//! cannot diverge from what clients saw. A delta is absolute and deterministic: members and values
//! as they end up, never "random", "relative to now" or "increment by".

use bytes::Bytes;

use super::stream::{Stream, StreamOp};
use super::zset::ZSet;
use super::{string_range, List, ListEdit, SetMembers, Value};

#[derive(Clone, Debug, PartialEq)]
pub enum Delta {
    /// Sets hash fields to values (creating the hash).
    HashSet(Vec<(Bytes, Bytes)>),
    /// Deletes hash fields.
    HashDel(Vec<Bytes>),
    /// Adds set members (creating the set).
    SetAdd(Vec<Bytes>),
    /// Removes set members.
    SetRem(Vec<Bytes>),
    /// Sets sorted set members to these absolute scores, never NaN (creating the sorted set).
    ZSetAdd(Vec<(Bytes, f64)>),
    /// Removes sorted set members.
    ZSetRem(Vec<Bytes>),
    /// One list edit (push, pop N, set index, insert, trim, remove: see `ListEdit`).
    List(ListEdit),
    /// Changes a stream (see `stream::StreamOp`); a stream op that adds creates the stream.
    Stream(StreamOp),
    /// Writes bytes into a string at a byte offset, zero-extending it (creating the string).
    StrWrite { offset: u64, bytes: Bytes },
    /// Replaces a string's bytes from an offset on, truncating or zero-extending it (creating
    /// the string).
    StrReplaceTail { offset: u64, bytes: Bytes },
}

/// The key holds a value of another type than the delta changes.
#[derive(Debug, PartialEq)]
pub struct WrongType;

impl Delta {
    /// Whether it writes a string's bytes at an offset (the zeros before which it makes on a
    /// missing key need not be logged).
    pub fn writes_a_range(&self) -> bool {
        matches!(self, Delta::StrWrite { .. } | Delta::StrReplaceTail { .. })
    }

    /// The empty collection a delta that adds creates at a missing key; `None` for a delta that
    /// only removes (it changes nothing at a missing key).
    pub fn empty_value(&self) -> Option<Value> {
        match self {
            Delta::HashSet(_) => Some(Value::Hash(super::Hash::default())),
            Delta::SetAdd(_) => Some(Value::Set(Box::default())),
            Delta::ZSetAdd(_) => Some(Value::ZSet(super::ZSet::default())),
            Delta::List(edit) if edit.adds() => Some(Value::List(Box::<List>::default())),
            Delta::Stream(StreamOp::Add { .. } | StreamOp::CreateGroup { .. }) => {
                Some(Value::Stream(Box::default()))
            }
            Delta::StrWrite { .. } | Delta::StrReplaceTail { .. } => {
                Some(Value::raw_string(Vec::new(), true))
            }
            Delta::HashDel(_)
            | Delta::SetRem(_)
            | Delta::ZSetRem(_)
            | Delta::List(_)
            | Delta::Stream(_) => None,
        }
    }

    /// Changes `value`. Elements are copied into their own allocations, so that the value does
    /// not pin the buffer the delta came from (a client's request, a journal segment).
    pub fn apply_to(&self, value: &mut Value) -> Result<(), WrongType> {
        match (self, value) {
            (Delta::HashSet(pairs), Value::Hash(hash)) => {
                for (field, value) in pairs {
                    hash.insert(field, value);
                }
            }
            (Delta::HashDel(fields), Value::Hash(hash)) => {
                for field in fields {
                    hash.remove(field);
                }
            }
            (Delta::SetAdd(members), Value::Set(set)) => add_members(set, members),
            (Delta::SetRem(members), Value::Set(set)) => {
                for member in members {
                    set.remove(member);
                }
            }
            (Delta::ZSetAdd(entries), Value::ZSet(zset)) => zset_add(zset, entries),
            (Delta::ZSetRem(members), Value::ZSet(zset)) => {
                for member in members {
                    zset.remove(member);
                }
            }
            (Delta::List(edit), Value::List(list)) => list.apply(edit),
            (Delta::Stream(op), Value::Stream(stream)) => Stream::apply(stream, op),
            (Delta::StrWrite { offset, bytes }, value) => {
                if !string_range::write_at(value, *offset as usize, bytes) {
                    return Err(WrongType);
                }
            }
            (Delta::StrReplaceTail { offset, bytes }, value) => {
                if !string_range::replace_tail(value, *offset as usize, bytes) {
                    return Err(WrongType);
                }
            }
            _ => return Err(WrongType),
        }
        Ok(())
    }
}

fn add_members(set: &mut SetMembers, members: &[Bytes]) {
    for member in members {
        if !set.contains(member) {
            set.insert(owned(member));
        }
    }
}

fn zset_add(zset: &mut ZSet, entries: &[(Bytes, f64)]) {
    for (member, score) in entries {
        zset.insert(owned(member), *score);
    }
}

fn owned(bytes: &Bytes) -> Bytes {
    Bytes::copy_from_slice(bytes)
}
