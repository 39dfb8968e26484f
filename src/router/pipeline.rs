//! Runs one read's worth of requests from a client, keeping replies in request order.
//!
//! Commands for this shard run at once; commands for other shards are queued per destination and
//! sent as one message per shard when the batch ends, or earlier when a command needs everything
//! before it done (a cross-shard, broadcast or connection command: a "barrier"). Queued commands
//! touch other shards' keys only, so running this shard's commands first changes no outcome.

use bytes::Bytes;

use super::cross_shard;
use super::slot::key_slot;
use super::warm::Warmer;
use crate::commands::{self, CommandSpec, Run};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::server::transaction;
use crate::server::transaction::crossslot;
use crate::shard::{now_ms as clock_ms, Request};

enum Route {
    Here,
    Shard(usize),
    Barrier,
    Refuse(Reply),
}

pub async fn run_pipeline(client: &mut Client, mut requests: Vec<Vec<Bytes>>) -> Vec<Reply> {
    let shard = client.shard.clone();
    let mut replies: Vec<Option<Reply>> = (0..requests.len()).map(|_| None).collect();
    // The LSN each locally run reply must wait for (remote shards wait before replying).
    let mut lsns = vec![0; requests.len()];
    let mut queued: Vec<Vec<(usize, Request)>> =
        (0..shard.shard_count()).map(|_| Vec::new()).collect();
    let mut any_queued = false;
    let warmer = Warmer::new(client, &requests);
    // One clock read for the commands that run here back to back, again after each wait: the
    // time a batch started is as good as Redis's cached clock.
    let mut now_ms = clock_ms();
    for i in 0..requests.len() {
        warmer.ahead_of(client, &requests, i);
        let args = std::mem::take(&mut requests[i]);
        transaction::show(client);
        let spec = match commands::resolve(&args) {
            Ok(spec) => spec,
            Err(reply) => {
                client.transaction.fail();
                replies[i] = Some(reply);
                continue;
            }
        };
        if let Some(reply) = crate::pubsub::gate(client, spec, &args) {
            replies[i] = Some(reply);
            continue;
        }
        if client.transaction.in_multi() && !transaction::runs_at_once(spec) {
            replies[i] = Some(match route(client, spec, &args) {
                Route::Refuse(reply) => {
                    client.transaction.fail();
                    reply
                }
                _ => transaction::queue(client, spec, args),
            });
            continue;
        }
        client.info().last_command = spec.name;
        let db = client.db();
        let resp3 = client.resp3();
        let route = route(client, spec, &args);
        match route {
            Route::Shard(to) => client.steering.went_to(to),
            _ => client.steering.stay(),
        }
        match route {
            Route::Here => {
                if shard.may_have_to_wait() {
                    let keys: Vec<Bytes> = spec
                        .key_indexes(&args)
                        .into_iter()
                        .map(|k| args[k].clone())
                        .collect();
                    if shard.wait_runnable(db, &keys, None).await {
                        now_ms = clock_ms();
                    }
                }
                let handle = Some(&*client.handle);
                let (reply, lsn) = shard.run_now_for(spec, db, resp3, &args, None, handle, now_ms);
                replies[i] = Some(reply);
                lsns[i] = lsn;
            }
            Route::Shard(to) => {
                queued[to].push((
                    i,
                    Request {
                        spec,
                        db,
                        resp3,
                        args,
                    },
                ));
                any_queued = true;
            }
            Route::Refuse(reply) => replies[i] = Some(reply),
            Route::Barrier => {
                if any_queued {
                    flush(client, &mut queued, &mut replies).await;
                    any_queued = false;
                }
                replies[i] = Some(run_barrier(client, spec, args).await);
                now_ms = clock_ms();
                if client.close_after_reply {
                    // QUIT: Redis reads nothing after it, so later requests get no reply.
                    replies.truncate(i + 1);
                    lsns.truncate(i + 1);
                    break;
                }
            }
        }
    }
    if any_queued {
        flush(client, &mut queued, &mut replies).await;
    }
    transaction::show(client);
    let mut replies: Vec<Reply> = replies
        .into_iter()
        .map(|r| r.expect("every request got a reply"))
        .collect();
    shard.settle(&mut replies, &lsns).await;
    replies
}

fn route(client: &Client, spec: &'static CommandSpec, args: &[Bytes]) -> Route {
    let shard = &client.shard;
    match spec.run {
        Run::Local(_) => Route::Here,
        Run::Broadcast { .. } if client.cluster_port || shard.shard_count() == 1 => Route::Here,
        Run::Broadcast { .. } | Run::Client(_) | Run::Parent => Route::Barrier,
        Run::Keyed { .. } if client.cluster_port => route_in_cluster(client, spec, args),
        // One shard owns every key: no need to hash them here (the keyspace does, once).
        Run::Keyed { .. } if shard.shard_count() == 1 => Route::Here,
        Run::Keyed { .. } => {
            if spec.single_key() {
                return match spec.first_key(args) {
                    Some(key) => to_owner(client, shard.owner_of(key)),
                    None => Route::Here,
                };
            }
            let mut owners = spec
                .key_indexes(args)
                .into_iter()
                .map(|i| shard.owner_of(&args[i]));
            match owners.next() {
                None => Route::Here,
                Some(first) if owners.all(|o| o == first) => to_owner(client, first),
                Some(_) => Route::Barrier,
            }
        }
    }
}

fn to_owner(client: &Client, owner: usize) -> Route {
    if owner == client.shard.id {
        Route::Here
    } else {
        Route::Shard(owner)
    }
}

/// On a cluster shard port the client must have routed already: every key in one slot, owned here.
fn route_in_cluster(client: &Client, spec: &'static CommandSpec, args: &[Bytes]) -> Route {
    let keys = spec.key_indexes(args).into_iter().map(|i| &args[i][..]);
    match cluster_refusal(client, keys) {
        Some(refusal) => Route::Refuse(refusal),
        None => Route::Here,
    }
}

/// What Redis Cluster answers on a cluster shard port when `keys` are not all in one slot that
/// this shard owns: CROSSSLOT or MOVED. `None` when they are, when there are none, and on the
/// main port.
pub fn cluster_refusal<'a>(
    client: &Client,
    keys: impl IntoIterator<Item = &'a [u8]>,
) -> Option<Reply> {
    if !client.cluster_port {
        return None;
    }
    let mut slots = keys.into_iter().map(key_slot);
    let slot = slots.next()?;
    if slots.any(|s| s != slot) {
        return Some(crossslot());
    }
    let owner = client.shard.node.slots.owner(slot);
    if owner == client.shard.id {
        return None;
    }
    let config = client.shard.config.borrow();
    Some(Reply::error(format!(
        "MOVED {slot} {}:{}",
        config.announce_ip(),
        config.shard_port(owner)
    )))
}

/// Sends every queued command to its shard, one message per shard, and waits for all replies.
async fn flush(
    client: &Client,
    queued: &mut [Vec<(usize, Request)>],
    replies: &mut [Option<Reply>],
) {
    let shard = &client.shard;
    let mut calls = Vec::new();
    for (to, batch) in queued.iter_mut().enumerate() {
        if batch.is_empty() {
            continue;
        }
        let (indexes, reqs): (Vec<usize>, Vec<Request>) = std::mem::take(batch).into_iter().unzip();
        calls.push(async move { (indexes, shard.exec_on(to, reqs, None).await) });
    }
    for (indexes, batch_replies) in futures::future::join_all(calls).await {
        let mut batch_replies = batch_replies.into_iter();
        for i in indexes {
            replies[i] = Some(
                batch_replies
                    .next()
                    .unwrap_or(Reply::error("ERR shard did not answer")),
            );
        }
    }
}

async fn run_barrier(client: &mut Client, spec: &'static CommandSpec, args: Vec<Bytes>) -> Reply {
    match spec.run {
        Run::Client(run) => {
            client.shard.stats.borrow_mut().count_command(spec);
            let (started, slowlog_on) = {
                let config = client.shard.config.borrow();
                let started = config
                    .times_commands()
                    .then(|| client.shard.stopwatch.start());
                (started, config.slowlog_log_slower_than_us >= 0)
            };
            // The slow log may keep the arguments, which the command consumes.
            let logged = if slowlog_on { args.clone() } else { Vec::new() };
            let reply = run(client, args).await;
            if let Some(started) = started {
                let elapsed = client.shard.stopwatch.elapsed(started);
                let handle = Some(&*client.handle);
                client.shard.observe_command(spec, &logged, elapsed, handle);
            }
            reply
        }
        Run::Broadcast { merge, .. } => {
            let replies = client
                .shard
                .broadcast(spec, client.db(), client.resp3(), &args)
                .await;
            merge(replies, &args)
        }
        Run::Keyed { cross, .. } => cross_shard::run(client, spec, cross, args).await,
        Run::Local(_) | Run::Parent => unreachable!("not a barrier"),
    }
}
