//! One client connection: read bytes, parse requests, run them as a pipeline, write the replies in
//! order, repeat.

use std::rc::Rc;
use std::time::Instant;

use bytes::BytesMut;

use super::client::{Client, ClientHandle, MovedClient, Steering};
use super::outbox::{self, Input};
use super::reply_mode;
use crate::protocol::{parse_request, ParseLimits, Reply};
use crate::router;
use crate::runtime;
use crate::runtime::net::Stream;
use crate::shard::Shard;

/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// An output buffer that grew past this (a huge reply) is freed after use rather than kept.
const OUTPUT_KEEP_BYTES_MAX: usize = 1024 * 1024;

/// Serves a connection accepted by this shard.
pub async fn serve(shard: Rc<Shard>, stream: Stream, cluster_port: bool) {
    let handle = shard.clients.borrow_mut().register(
        stream.raw_fd(),
        stream.peer_addr(),
        stream.local_addr(),
    );
    serve_registered(shard, stream, handle, cluster_port).await;
}

/// Serves a main-port connection another shard handed over to this one.
async fn adopt(shard: Rc<Shard>, moved: MovedClient) {
    // SAFETY: the descriptor was duplicated for this shard alone by `hand_over`.
    let stream = match unsafe { Stream::adopt(moved.fd) } {
        Ok(stream) => stream,
        Err(e) => {
            log::warn!("cannot take over a connection from another shard: {e}");
            return;
        }
    };
    let handle = shard.clients.borrow_mut().adopt(moved);
    shard.stats.borrow_mut().connections_adopted += 1;
    serve_registered(shard, stream, handle, false).await;
}

async fn serve_registered(
    shard: Rc<Shard>,
    mut stream: Stream,
    handle: Rc<ClientHandle>,
    cluster_port: bool,
) {
    let id = handle.id;
    let mut client = Client {
        shard: shard.clone(),
        handle,
        cluster_port,
        close_after_reply: false,
        steering: Steering::default(),
        transaction: Default::default(),
    };
    match serve_client(&mut client, &mut stream).await {
        Ok(Some(to)) => hand_over(&client, &stream, to).await,
        Ok(None) => {}
        Err(reason) => log::debug!("client {id} closed: {reason}"),
    }
    router::multi_exec::unwatch_all(&mut client).await;
    crate::pubsub::forget_client(&shard, &client.handle).await;
    shard.clients.borrow_mut().unregister(id);
}

/// Moves the connection to shard `to`: the new shard adopts a duplicate of the socket, this one
/// drops its own. Nothing is in flight: every reply was written and no input is left unparsed.
async fn hand_over(client: &Client, stream: &Stream, to: usize) {
    let fd = match stream.duplicate_fd() {
        Ok(fd) => fd,
        Err(e) => {
            log::warn!("client {}: cannot move to shard {to}: {e}", client.id());
            return;
        }
    };
    let moved = client.handle.moving(fd);
    let task = Box::new(move |shard: Rc<Shard>| {
        runtime::spawn_local(adopt(shard, moved)).detach();
    });
    client.shard.run_on(to, task).await;
}

/// Runs the connection until it closes (`Ok(None)`) or should move to another shard
/// (`Ok(Some(shard))`).
async fn serve_client(client: &mut Client, stream: &mut Stream) -> Result<Option<usize>, String> {
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    let mut input = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut output = Vec::with_capacity(READ_CHUNK_BYTES);
    loop {
        let outbox = &client.handle.outbox;
        let n = match outbox::next_input(stream, &mut chunk, outbox).await {
            Ok(Input::Read(n)) => n,
            Ok(Input::Pushed) => {
                let written = outbox.write_to(stream).await?;
                client.shard.stats.borrow_mut().net_output_bytes += written as u64;
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        if n == 0 || client.handle.is_killed() {
            return Err("connection closed".into());
        }
        input.extend_from_slice(&chunk[..n]);
        let (limits, query_limit) = {
            let config = client.shard.config.borrow();
            (
                ParseLimits {
                    bulk_bytes_max: config.proto_max_bulk_len,
                },
                config.client_query_buffer_limit,
            )
        };
        if input.len() > query_limit {
            log::warn!(
                "closing client {}: query buffer over client-query-buffer-limit",
                client.id()
            );
            return Err("query buffer limit".into());
        }
        let mut requests = Vec::new();
        let mut protocol_error = None;
        loop {
            match parse_request(&mut input, limits) {
                Ok(Some(args)) if args.is_empty() => {}
                Ok(Some(args)) => requests.push(args),
                Ok(None) => break,
                Err(e) => {
                    protocol_error = Some(e);
                    break;
                }
            }
        }
        client.info().last_active = Instant::now();
        {
            let mut stats = client.shard.stats.borrow_mut();
            stats.net_input_bytes += n as u64;
        }
        let switches = reply_mode::switches_of(&requests);
        let replies = router::run_pipeline(client, requests).await;
        // HELLO's own reply is already in the protocol it selects, as in Redis. Encoding the whole
        // batch in the protocol current after it differs only for pipelines that switch mid-way.
        let resp3 = client.resp3();
        let mut mode = client.info().reply_mode;
        if mode.is_on() && switches.is_none() {
            for reply in &replies {
                reply.encode(&mut output, resp3);
            }
        } else {
            for (i, reply) in replies.iter().enumerate() {
                let switch = switches.as_ref().and_then(|s| s.get(i).copied().flatten());
                if mode.pass(switch, reply) {
                    reply.encode(&mut output, resp3);
                }
            }
            client.info().reply_mode = mode;
        }
        if let Some(e) = &protocol_error {
            Reply::error(e.reply_text()).encode(&mut output, resp3);
        }
        if !output.is_empty() {
            client.shard.stats.borrow_mut().net_output_bytes += output.len() as u64;
            stream.write_all(&output).await.map_err(|e| e.to_string())?;
            output.clear();
            if output.capacity() > OUTPUT_KEEP_BYTES_MAX {
                output = Vec::with_capacity(READ_CHUNK_BYTES);
            }
        }
        if let Some(e) = protocol_error {
            return Err(format!("protocol error: {}", e.0));
        }
        if client.close_after_reply {
            return Ok(None);
        }
        if let Some(to) = client.steering.destination() {
            // A transaction's state stays with the connection's task: no move mid-MULTI/WATCH.
            let steer = !client.cluster_port
                && input.is_empty()
                && client.transaction.is_idle()
                && !client.handle.subscriptions.borrow().any()
                && client.shard.config.borrow().steer_connections;
            if steer {
                return Ok(Some(to));
            }
        }
    }
}
