//! Replication commands (Redis's replication.c): WAIT and ROLE, answered as a primary with no
//! replicas, which is what Keel is until it has replication.
//!
//! Durability does not depend on WAIT here: every write Keel acknowledges is already in its
//! shard's journal on local disk (fsynced as `appendfsync` says) before its reply is sent, so
//! WAIT has nothing to wait for locally; it only reports how many replicas acknowledged, none.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::spec::*;
use super::{parse_i64, CommandSpec, InMulti, Run};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::shard::blocking::{Outcome, Wait};
use crate::shard::Ctx;

/// Replicas that acknowledged a write: Keel has none yet.
const REPLICAS_ACKED: i64 = 0;
/// The replication offset ROLE and `INFO replication` report: no replication stream yet.
const REPLICATION_OFFSET: i64 = 0;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "wait",
        arity: 3,
        flags: NOSCRIPT,
        acl: &["@slow", "@connection"],
        group: "generic",
        summary: "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
        since: "3.0.0",
        run: Run::Client(wait),
        ..BASE
    },
    CommandSpec {
        name: "role",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST,
        acl: &["@admin", "@fast", "@dangerous"],
        group: "server",
        summary: "Returns the replication role.",
        since: "2.8.12",
        run: Run::Local(role),
        ..BASE
    },
];

/// WAIT queued in MULTI: Redis answers at once there, so it is queued as this step. Private.
static WAIT_IN_MULTI: CommandSpec = shard_step("wait", wait_at_once);

/// WAIT's form inside MULTI (`commands::in_multi`); `None` for other commands.
pub fn in_multi(name: &str, args: &[Bytes]) -> Option<InMulti> {
    (name == "wait").then(|| Ok((&WAIT_IN_MULTI, args.to_vec())))
}

/// `numreplicas timeout`, checked as Redis checks them: the wait in milliseconds, `None` for 0
/// (forever).
fn parse_wait(args: &[Bytes]) -> Result<(i64, Option<Duration>), Reply> {
    let replicas = parse_i64(&args[1])?;
    let timeout_ms = parse_i64(&args[2])
        .map_err(|_| Reply::error("ERR timeout is not an integer or out of range"))?;
    if timeout_ms < 0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    Ok((
        replicas,
        (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms as u64)),
    ))
}

/// WAIT numreplicas timeout. Enough replicas (asking for none): the count at once. Otherwise, as
/// Redis with too few replicas, the client waits for the timeout (0: until it disconnects or
/// CLIENT UNBLOCK), then gets the count. The wait is a timer on this connection's blocked-client
/// ticket (`Shard::block` with no keys): the shard serves everyone else meanwhile.
fn wait(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let (replicas, timeout) = attempt!(parse_wait(&args));
        if replicas <= REPLICAS_ACKED {
            return Reply::Int(REPLICAS_ACKED);
        }
        let wait = Wait {
            db: client.db(),
            resp3: client.resp3(),
            keys: Vec::new(),
            deadline: timeout.map(|t| Instant::now() + t),
        };
        match client.shard.block(&client.handle, wait).await {
            Outcome::Unblocked { error: true } => {
                Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
            }
            _ => Reply::Int(REPLICAS_ACKED),
        }
    })
}

fn wait_at_once(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    attempt!(parse_wait(args));
    Reply::Int(REPLICAS_ACKED)
}

/// ROLE: a primary at offset 0 with no replicas.
fn role(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Array(vec![
        Reply::bulk_str("master"),
        Reply::Int(REPLICATION_OFFSET),
        Reply::Array(Vec::new()),
    ])
}
