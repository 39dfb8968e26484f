//! Generic keyspace commands (Redis's db.c and expire.c): DEL, EXISTS, TYPE, KEYS, SCAN, ...

use bytes::Bytes;

use super::spec::*;
use super::{CommandSpec, SplitMerge};
use crate::protocol::Reply;
use crate::shard::Ctx;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "del",
        arity: -2,
        flags: WRITE,
        keys: ALL_KEYS,
        acl: &["@keyspace", "@write", "@slow"],
        summary: "Deletes one or more keys.",
        complexity: "O(N) where N is the number of keys that will be removed.",
        run: split(del, SplitMerge::Sum),
        ..BASE
    },
    CommandSpec {
        name: "exists",
        arity: -2,
        flags: READONLY | FAST,
        keys: ALL_KEYS,
        acl: &["@keyspace", "@read", "@fast"],
        summary: "Determines whether one or more keys exist.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of keys to check.",
        run: split(exists, SplitMerge::Sum),
        ..BASE
    },
];

fn del(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    Reply::Int(args[1..].iter().filter(|k| db.remove(k).is_some()).count() as i64)
}

fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let db = ctx.db();
    Reply::Int(args[1..].iter().filter(|k| db.contains(k, now)).count() as i64)
}
