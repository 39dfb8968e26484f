//! Connection commands (PING, ECHO, SELECT, HELLO, QUIT, RESET) and CLIENT.

use bytes::Bytes;

use super::spec::*;
use super::CommandSpec;
use super::Run;
use crate::protocol::Reply;
use crate::shard::Ctx;

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
