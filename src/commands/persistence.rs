//! Persistence commands (Redis's rdb.c / aof.c family): SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE.
//! All of them are snapshots (`crate::snapshot`): every shard writes its own, each as of its own
//! journal LSN, and recovery replays each shard's journal after its snapshot.

use std::time::Duration;

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::spec::*;
use super::{CommandSpec, Run};
use crate::protocol::Reply;
use crate::runtime;
use crate::server::client::Client;
use crate::shard::{Ctx, NotStarted};

const SERVER_ADMIN: &[&str] = &["@admin", "@slow", "@dangerous"];

/// How often SAVE looks whether every shard's snapshot is done.
const SAVE_POLL_MS: u64 = 5;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "save",
        arity: 1,
        flags: ADMIN | NOSCRIPT,
        acl: SERVER_ADMIN,
        group: "server",
        summary: "Synchronously saves the database(s) to disk.",
        complexity: "O(N) where N is the total number of keys in all databases",
        run: Run::Client(save),
        ..BASE
    },
    CommandSpec {
        name: "bgsave",
        arity: -1,
        flags: ADMIN | NOSCRIPT,
        acl: SERVER_ADMIN,
        group: "server",
        summary: "Asynchronously saves the database(s) to disk.",
        complexity: "O(1)",
        run: Run::Client(bgsave),
        ..BASE
    },
    CommandSpec {
        name: "bgrewriteaof",
        arity: 1,
        flags: ADMIN | NOSCRIPT,
        acl: SERVER_ADMIN,
        group: "server",
        summary: "Asynchronously rewrites the append-only file to disk.",
        complexity: "O(1)",
        run: Run::Client(bgrewriteaof),
        ..BASE
    },
    CommandSpec {
        name: "lastsave",
        arity: 1,
        flags: LOADING | STALE | FAST,
        acl: &["@admin", "@fast", "@dangerous"],
        group: "server",
        summary: "Returns the Unix timestamp of the last successful save to disk.",
        run: Run::Broadcast {
            exec: lastsave,
            merge: oldest,
        },
        ..BASE
    },
];

/// One shard's step: start a snapshot. Replies its sequence number, or -1 when one is running.
static START_SHARD: CommandSpec = CommandSpec {
    name: "snapshot-start",
    arity: 1,
    flags: ADMIN,
    acl: SERVER_ADMIN,
    run: Run::Local(start_shard),
    ..BASE
};

/// One shard's step: `[started seq, ended seq, last failed 0|1]`.
static STATUS_SHARD: CommandSpec = CommandSpec {
    name: "snapshot-status",
    arity: 1,
    flags: ADMIN,
    acl: SERVER_ADMIN,
    run: Run::Local(status_shard),
    ..BASE
};

fn start_shard(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    match ctx.shard.start_snapshot() {
        Ok(seq) => Reply::Int(seq as i64),
        Err(NotStarted::AlreadyRunning) => Reply::Int(-1),
        Err(NotStarted::NoJournal) => Reply::error("ERR snapshots need appendonly yes"),
    }
}

fn status_shard(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let stats = ctx.shard.snapshots.stats.borrow();
    Reply::Array(vec![
        Reply::Int(stats.started_seq as i64),
        Reply::Int(stats.ended_seq as i64),
        Reply::Int(i64::from(stats.last_failed)),
    ])
}

fn ints(reply: &Reply) -> Vec<i64> {
    match reply {
        Reply::Array(items) => items
            .iter()
            .map(|r| if let Reply::Int(n) = r { *n } else { 0 })
            .collect(),
        _ => Vec::new(),
    }
}

async fn start_everywhere(client: &Client) -> Result<Vec<i64>, Reply> {
    let args = [Bytes::from_static(START_SHARD.name.as_bytes())];
    let replies = client
        .shard
        .broadcast(&START_SHARD, client.db(), false, &args)
        .await;
    replies
        .into_iter()
        .map(|r| match r {
            Reply::Int(n) => Ok(n),
            other => Err(other),
        })
        .collect()
}

async fn statuses(client: &Client) -> Vec<Vec<i64>> {
    let args = [Bytes::from_static(STATUS_SHARD.name.as_bytes())];
    let replies = client
        .shard
        .broadcast(&STATUS_SHARD, client.db(), false, &args)
        .await;
    replies.iter().map(ints).collect()
}

/// SAVE: a snapshot of every shard, started after this command (a shard already taking one
/// finishes it first), replying once all are published.
fn save(client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let shards = client.shard.shard_count();
        let mut seqs: Vec<Option<i64>> = vec![None; shards];
        loop {
            if seqs.iter().any(Option::is_none) {
                let started = match start_everywhere(client).await {
                    Ok(started) => started,
                    Err(e) => return e,
                };
                for (seq, n) in seqs.iter_mut().zip(started) {
                    if seq.is_none() && n > 0 {
                        *seq = Some(n);
                    }
                }
            }
            let status = statuses(client).await;
            let all_ended = seqs
                .iter()
                .zip(&status)
                .all(|(seq, s)| seq.is_some_and(|n| s.get(1).is_some_and(|&ended| ended >= n)));
            if all_ended {
                if status.iter().any(|s| s.get(2) == Some(&1)) {
                    return Reply::error("ERR snapshot failed, see the server log");
                }
                return Reply::ok();
            }
            runtime::sleep(Duration::from_millis(SAVE_POLL_MS)).await;
        }
    })
}

async fn start_background(client: &Client, reply: &'static str) -> Reply {
    match start_everywhere(client).await {
        Err(e) => e,
        Ok(started) if started.iter().any(|&n| n < 0) => {
            Reply::error("ERR Background save already in progress")
        }
        Ok(_) => Reply::Status(reply),
    }
}

/// BGSAVE [SCHEDULE]: starts a snapshot on every shard.
fn bgsave(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        match args.get(1).map(|a| a.to_ascii_lowercase()) {
            None => {}
            Some(a) if a == b"schedule" && args.len() == 2 => {}
            Some(_) => return super::syntax_error(),
        }
        start_background(client, "Background saving started").await
    })
}

/// BGREWRITEAOF: the journal's rewrite is a snapshot (the journal before it is then deleted).
fn bgrewriteaof(client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(start_background(
        client,
        "Background append only file rewriting started",
    ))
}

fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Int(ctx.shard.snapshots.stats.borrow().last_save_unix_s as i64)
}

/// The data set was saved as a whole when the last shard saved: the oldest shard's time.
fn oldest(replies: Vec<Reply>, _args: &[Bytes]) -> Reply {
    if let Some(e) = replies.iter().find(|r| r.is_error()) {
        return e.clone();
    }
    Reply::Int(
        replies
            .iter()
            .filter_map(|r| {
                if let Reply::Int(n) = r {
                    Some(*n)
                } else {
                    None
                }
            })
            .min()
            .unwrap_or(0),
    )
}
