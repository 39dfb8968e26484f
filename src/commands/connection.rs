//! Connection commands (PING, ECHO, SELECT, HELLO, QUIT, RESET) and CLIENT.

use bytes::Bytes;

use super::spec::*;
use super::CommandSpec;
use super::Run;
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::shard::Ctx;
use futures::future::{ready, LocalBoxFuture};

const CONNECTION_FAST: &[&str] = &["@fast", "@connection"];

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "ping",
    arity: -1,
    flags: FAST,
    acl: CONNECTION_FAST,
    group: "connection",
    summary: "Returns the server's liveliness response.",
    run: Run::Local(ping),
    ..BASE
}];

pub static CLIENT_COMMANDS: &[CommandSpec] = &[];

fn ping(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match args.len() {
        1 => Reply::Status("PONG"),
        2 => Reply::Bulk(args[1].clone()),
        _ => Reply::error("ERR wrong number of arguments for 'ping' command"),
    }
}

fn select(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    let reply = match super::parse_i64(&args[1]) {
        Err(_) => Reply::error("ERR value is not an integer or out of range"),
        Ok(_) if client.cluster_port => Reply::error("ERR SELECT is not allowed in cluster mode"),
        Ok(db) if db < 0 || db as usize >= client.shard.config.borrow().databases => {
            Reply::error("ERR DB index is out of range")
        }
        Ok(db) => {
            client.info().db = db as usize;
            Reply::ok()
        }
    };
    Box::pin(ready(reply))
}
