//! Connection commands (PING, ECHO, SELECT, HELLO, AUTH, QUIT, RESET). CLIENT is in `client.rs`.
//!
//! There are no ACL users yet: the only user is Redis's `default` user with `nopass`, so any
//! password authenticates it and no other user exists.

use bytes::Bytes;
use futures::future::{ready, LocalBoxFuture};

use super::spec::*;
use super::{parse_i64, syntax_error, CommandSpec, Run};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::server::REDIS_VERSION;
use crate::shard::Ctx;

const CONNECTION_FAST: &[&str] = &["@fast", "@connection"];
/// Commands a client may send before authenticating, during loading and while busy.
const SESSION_FLAGS: u32 = NOSCRIPT | LOADING | STALE | FAST | NO_AUTH;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "ping",
        arity: -1,
        flags: FAST,
        acl: CONNECTION_FAST,
        group: "connection",
        summary: "Returns the server's liveliness response.",
        run: Run::Local(ping),
        ..BASE
    },
    CommandSpec {
        name: "echo",
        arity: 2,
        flags: FAST,
        acl: CONNECTION_FAST,
        group: "connection",
        summary: "Returns the given string.",
        run: Run::Local(echo),
        ..BASE
    },
    CommandSpec {
        name: "select",
        arity: 2,
        flags: LOADING | STALE | FAST,
        acl: CONNECTION_FAST,
        group: "connection",
        summary: "Changes the selected database.",
        since: "1.0.0",
        run: Run::Client(select),
        ..BASE
    },
    CommandSpec {
        name: "hello",
        arity: -1,
        flags: SESSION_FLAGS,
        acl: CONNECTION_FAST,
        group: "connection",
        summary: "Handshakes with the Redis server.",
        since: "6.0.0",
        run: Run::Client(hello),
        ..BASE
    },
    CommandSpec {
        name: "auth",
        arity: -2,
        flags: SESSION_FLAGS,
        acl: CONNECTION_FAST,
        group: "connection",
        summary: "Authenticates the connection.",
        complexity: "O(N) where N is the number of passwords defined for the user",
        run: Run::Client(auth),
        ..BASE
    },
    CommandSpec {
        name: "quit",
        arity: -1,
        flags: SESSION_FLAGS,
        acl: CONNECTION_FAST,
        group: "connection",
        summary: "Closes the connection.",
        run: Run::Client(quit),
        ..BASE
    },
    CommandSpec {
        name: "reset",
        arity: 1,
        flags: SESSION_FLAGS,
        acl: CONNECTION_FAST,
        group: "connection",
        summary: "Resets the connection.",
        since: "6.2.0",
        run: Run::Client(reset),
        ..BASE
    },
];

fn ping(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match args.len() {
        1 => Reply::Status("PONG"),
        2 => Reply::Bulk(args[1].clone()),
        _ => Reply::error("ERR wrong number of arguments for 'ping' command"),
    }
}

fn echo(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Bulk(args[1].clone())
}

fn select(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    let reply = match parse_i64(&args[1]) {
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

/// Redis's reply to a wrong user or password.
fn wrong_pass() -> Reply {
    Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
}

/// Checks a username/password pair against the users there are: only `default`, without password.
fn authenticate(user: &[u8], _password: &[u8]) -> Result<(), Reply> {
    if user == b"default" {
        Ok(())
    } else {
        Err(wrong_pass())
    }
}

fn auth(_client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    let reply = match args.len() {
        2 => Reply::error(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ),
        3 => authenticate(&args[1], &args[2]).map_or_else(|e| e, |()| Reply::ok()),
        _ => syntax_error(),
    };
    Box::pin(ready(reply))
}

/// What `HELLO` asked for, once its arguments parsed.
struct HelloRequest {
    protover: Option<u8>,
    auth: Option<(Bytes, Bytes)>,
    name: Option<Bytes>,
}

fn parse_hello(args: &[Bytes]) -> Result<HelloRequest, Reply> {
    let mut request = HelloRequest {
        protover: None,
        auth: None,
        name: None,
    };
    let Some(version) = args.get(1) else {
        return Ok(request);
    };
    let version = parse_i64(version)
        .map_err(|_| Reply::error("ERR Protocol version is not an integer or out of range"))?;
    if !(2..=3).contains(&version) {
        return Err(Reply::error("NOPROTO unsupported protocol version"));
    }
    request.protover = Some(version as u8);
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let option = &args[i];
        if option.eq_ignore_ascii_case(b"auth") && more >= 2 {
            request.auth = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 3;
        } else if option.eq_ignore_ascii_case(b"setname") && more >= 1 {
            validate_client_name(&args[i + 1])?;
            request.name = Some(args[i + 1].clone());
            i += 2;
        } else {
            return Err(Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(option)
            )));
        }
    }
    Ok(request)
}

fn hello(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    let reply = parse_hello(&args).and_then(|request| {
        if let Some((user, password)) = &request.auth {
            authenticate(user, password)?;
        }
        let mut info = client.info();
        if let Some(name) = request.name {
            info.name = String::from_utf8_lossy(&name).into_owned();
        }
        if let Some(version) = request.protover {
            info.resp = version;
        }
        Ok(())
    });
    let reply = match reply {
        Ok(()) => hello_map(client),
        Err(e) => e,
    };
    Box::pin(ready(reply))
}

/// The map `HELLO` answers with, in the protocol now selected.
fn hello_map(client: &Client) -> Reply {
    let mode = if client.shard.config.borrow().cluster_enabled {
        "cluster"
    } else {
        "standalone"
    };
    let field = |name: &str, value: Reply| (Reply::bulk_str(name), value);
    Reply::Map(vec![
        field("server", Reply::bulk_str("redis")),
        field("version", Reply::bulk_str(REDIS_VERSION)),
        field("proto", Reply::Int(client.handle.info.borrow().resp as i64)),
        field("id", Reply::Int(client.id() as i64)),
        field("mode", Reply::bulk_str(mode)),
        field("role", Reply::bulk_str("master")),
        field("modules", Reply::Array(Vec::new())),
    ])
}

fn quit(client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    client.close_after_reply = true;
    Box::pin(ready(Reply::ok()))
}

/// Puts the connection back as it was when it connected (Redis's `clearClientConnectionState`):
/// RESP2, database 0, no name, no CLIENT flags, no subscriptions. The library name and version stay.
fn reset(client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    {
        let mut info = client.info();
        info.resp = 2;
        info.db = 0;
        info.name.clear();
        info.no_evict = false;
        info.no_touch = false;
    }
    Box::pin(async move {
        crate::pubsub::forget_client(&client.shard, &client.handle).await;
        client.transaction.discard();
        crate::router::multi_exec::unwatch_all(client).await;
        Reply::Status("RESET")
    })
}

/// Client names, library names and versions are printable ASCII without spaces, because
/// `CLIENT LIST` prints them as space-separated `field=value` words.
pub fn is_valid_client_attr(value: &[u8]) -> bool {
    value.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

pub fn validate_client_name(name: &[u8]) -> Result<(), Reply> {
    if is_valid_client_attr(name) {
        Ok(())
    } else {
        Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}
