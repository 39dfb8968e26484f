//! Server commands (Redis's server.c family): DBSIZE, TIME, SHUTDOWN. INFO, CONFIG,
//! DEBUG/MEMORY, COMMAND and persistence (SAVE, LASTSAVE, ...) have their own modules.

use bytes::Bytes;
use futures::future::{ready, LocalBoxFuture};

use super::spec::*;
use super::{syntax_error, CommandSpec, Run};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::shard::Ctx;

const SERVER_ADMIN: &[&str] = &["@admin", "@slow", "@dangerous"];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
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
    },
    CommandSpec {
        name: "time",
        arity: 1,
        flags: LOADING | STALE | FAST,
        acl: &["@fast"],
        group: "server",
        summary: "Returns the server time.",
        since: "2.6.0",
        run: Run::Local(time),
        ..BASE
    },
    CommandSpec {
        name: "shutdown",
        arity: -1,
        flags: ADMIN | NOSCRIPT | LOADING | STALE | NO_AUTH,
        acl: SERVER_ADMIN,
        group: "server",
        summary: "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        complexity: "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
        run: Run::Client(shutdown),
        ..BASE
    },
];

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

/// Merges the replies of every shard to a command that answers OK everywhere.
pub fn all_ok(replies: Vec<Reply>, _args: &[Bytes]) -> Reply {
    replies
        .into_iter()
        .find(Reply::is_error)
        .unwrap_or(Reply::ok())
}

fn time(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        Reply::bulk_str(&now.as_secs().to_string()),
        Reply::bulk_str(&now.subsec_micros().to_string()),
    ])
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`. Shutting down is `server::request_shutdown`,
/// the same path as SIGTERM; whatever the durability layer does at exit happens there, so the
/// options only decide which argument lists are accepted.
fn shutdown(_client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    let (mut save, mut nosave, mut abort, mut other) = (false, false, false, false);
    for arg in &args[1..] {
        match arg.to_ascii_lowercase().as_slice() {
            b"save" => save = true,
            b"nosave" => nosave = true,
            b"now" | b"force" => other = true,
            b"abort" => abort = true,
            _ => return Box::pin(ready(syntax_error())),
        }
    }
    if (abort && (save || nosave || other)) || (save && nosave) {
        return Box::pin(ready(syntax_error()));
    }
    if abort {
        // A shutdown here is never left in progress, so there is never one to abort.
        return Box::pin(ready(Reply::error("ERR No shutdown in progress.")));
    }
    log::warn!("User requested shutdown...");
    crate::server::request_shutdown();
    // As in Redis, a successful SHUTDOWN sends no reply: the connection ends with the process.
    Box::pin(std::future::pending())
}
