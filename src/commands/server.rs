//! Server commands (Redis's server.c family): DBSIZE, FLUSHDB, FLUSHALL, INFO, CONFIG, ...

use bytes::Bytes;

use super::spec::*;
use super::CommandSpec;
use super::Run;
use crate::protocol::Reply;
use crate::shard::Ctx;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "dbsize",
    arity: 1,
    flags: READONLY | FAST,
    acl: &["@keyspace", "@read", "@fast"],
    group: "server",
    summary: "Returns the number of keys in the database.",
    run: Run::Broadcast {
        exec: dbsize,
        merge: sum_ints,
    },
    ..BASE
}];

fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Int(ctx.db().len() as i64)
}

/// Merges integer replies of every shard by adding them up.
pub fn sum_ints(replies: Vec<Reply>, _args: &[Bytes]) -> Reply {
    if let Some(e) = replies.iter().find(|r| r.is_error()) {
        return e.clone();
    }
    Reply::Int(
        replies
            .iter()
            .map(|r| if let Reply::Int(n) = r { *n } else { 0 })
            .sum(),
    )
}
