//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! The connection's state is `server::transaction` (queueing happens in the pipeline), EXEC's run
//! across shards is `router::multi_exec`, and each shard's WATCH bookkeeping is `shard::watch`.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::spec::*;
use super::{CommandSpec, Run};
use crate::protocol::Reply;
use crate::router::{cluster_refusal, multi_exec};
use crate::server::client::Client;
use crate::server::transaction::{Ending, WATCHED_KEYS_MAX};
use crate::shard::{Ctx, Request};

const TRANSACTION_FAST: &[&str] = &["@fast", "@transaction"];
const TRANSACTION_FLAGS: u32 = NOSCRIPT | LOADING | STALE | FAST;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "multi",
        flags: TRANSACTION_FLAGS,
        acl: TRANSACTION_FAST,
        group: "transactions",
        summary: "Starts a transaction.",
        run: Run::Client(multi),
        ..BASE
    },
    CommandSpec {
        name: "exec",
        flags: NOSCRIPT | LOADING | STALE,
        acl: &["@slow", "@transaction"],
        group: "transactions",
        summary: "Executes all commands in a transaction.",
        complexity: "Depends on commands in the transaction",
        run: Run::Client(exec),
        ..BASE
    },
    CommandSpec {
        name: "discard",
        flags: TRANSACTION_FLAGS,
        acl: TRANSACTION_FAST,
        group: "transactions",
        summary: "Discards a transaction.",
        complexity: "O(N), when N is the number of queued commands",
        run: Run::Client(discard),
        ..BASE
    },
    CommandSpec {
        name: "watch",
        arity: -2,
        flags: TRANSACTION_FLAGS,
        keys: ALL_KEYS,
        acl: TRANSACTION_FAST,
        group: "transactions",
        summary: "Monitors changes to keys to determine the execution of a transaction.",
        since: "2.2.0",
        complexity: "O(1) for every key.",
        run: Run::Client(watch),
        ..BASE
    },
    CommandSpec {
        name: "unwatch",
        flags: TRANSACTION_FLAGS,
        acl: TRANSACTION_FAST,
        group: "transactions",
        summary: "Forgets about watched keys of a transaction.",
        since: "2.2.0",
        run: Run::Client(unwatch),
        ..BASE
    },
];

/// Registers the connection as a watcher of some keys on their shard: args are the client id,
/// then the keys (of the request's database).
static WATCH_STEP: CommandSpec = shard_step("watch-step", watch_step);

fn multi(client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    let reply = if client.transaction.begin() {
        Reply::ok()
    } else {
        Reply::error("ERR MULTI calls can not be nested")
    };
    Box::pin(std::future::ready(reply))
}

fn exec(client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        match client.transaction.end() {
            Ending::NotInMulti => Reply::error("ERR EXEC without MULTI"),
            Ending::Aborted => {
                multi_exec::unwatch_all(client).await;
                Reply::error("EXECABORT Transaction discarded because of previous errors.")
            }
            Ending::Run(queued) => multi_exec::exec(client, queued).await,
        }
    })
}

fn discard(client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        if !client.transaction.discard() {
            return Reply::error("ERR DISCARD without MULTI");
        }
        multi_exec::unwatch_all(client).await;
        Reply::ok()
    })
}

fn unwatch(client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        multi_exec::unwatch_all(client).await;
        Reply::ok()
    })
}

fn watch(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        if client.transaction.in_multi() {
            return Reply::error("ERR WATCH inside MULTI is not allowed");
        }
        // On a cluster port, WATCHed keys must be of one slot served here, as for any keyed command.
        if let Some(refused) = cluster_refusal(client, args[1..].iter().map(|k| &k[..])) {
            return refused;
        }
        let db = client.db();
        let mut by_shard: BTreeMap<usize, Vec<Bytes>> = BTreeMap::new();
        for key in &args[1..] {
            if client.transaction.watched_count() >= WATCHED_KEYS_MAX {
                return Reply::error(format!(
                    "ERR too many watched keys (at most {WATCHED_KEYS_MAX} per connection)"
                ));
            }
            if client.transaction.watch(db, key) {
                by_shard
                    .entry(client.shard.owner_of(key))
                    .or_default()
                    .push(key.clone());
            }
        }
        let id = Bytes::from(client.id().to_string());
        let (shard, resp3) = (client.shard.clone(), client.resp3());
        let calls = by_shard.into_iter().map(|(to, keys)| {
            let mut step_args = vec![Bytes::from_static(b"watch-step"), id.clone()];
            step_args.extend(keys);
            let req = Request {
                spec: &WATCH_STEP,
                db,
                resp3,
                args: step_args,
            };
            let shard = &shard;
            async move { shard.exec_on(to, vec![req], None).await }
        });
        futures::future::join_all(calls).await;
        Reply::ok()
    })
}

fn watch_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(id) = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return Reply::error("ERR bad client id");
    };
    if ctx.shard.journal.is_none() {
        // Changes are recorded for the journal; without one, only while someone watches.
        ctx.keyspace.set_track_changes(true);
    }
    let (db, now) = (ctx.db, ctx.now_ms);
    for key in &args[2..] {
        let (existed, deadline_ms) = match ctx.keyspace.dbs[db].get(key, now) {
            Some(entry) => (true, entry.expire_at_ms()),
            None => (false, None),
        };
        ctx.shard
            .watches
            .borrow_mut()
            .watch(id, db, key.clone(), existed, deadline_ms);
    }
    Reply::ok()
}
