//! CLIENT and its subcommands. Clients live in their shard's registry, so `CLIENT LIST` and
//! `CLIENT KILL` ask every shard (private specs `client|list-shard`, `client|kill-shard`).

use bytes::Bytes;
use futures::future::{ready, LocalBoxFuture};

use super::connection::{is_valid_client_attr, validate_client_name};
use super::spec::*;
use super::{parse_i64, syntax_error, CommandSpec, Run};
use crate::protocol::Reply;
use crate::server::client::{Client, ClientHandle};
use crate::shard::Ctx;

const CLIENT_ADMIN: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
const CONNECTION_SLOW: &[&str] = &["@slow", "@connection"];
const CONNECTION_ADMIN: &[&str] = &["@admin", "@slow", "@dangerous", "@connection"];
const CLIENT_SESSION: u32 = NOSCRIPT | LOADING | STALE;

const fn sub(name: &'static str, arity: i32, summary: &'static str, run: Run) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: CLIENT_SESSION,
        acl: CONNECTION_SLOW,
        group: "connection",
        summary,
        since: "2.4.0",
        run,
        ..BASE
    }
}

static SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "client|id",
        2,
        "Returns the unique client ID of the connection.",
        Run::Client(id),
    ),
    sub(
        "client|setname",
        3,
        "Sets the connection name.",
        Run::Client(setname),
    ),
    sub(
        "client|getname",
        2,
        "Returns the name of the connection.",
        Run::Client(getname),
    ),
    CommandSpec {
        flags: CLIENT_ADMIN,
        acl: CONNECTION_ADMIN,
        complexity: "O(N) where N is the number of client connections",
        ..sub(
            "client|list",
            -2,
            "Lists open connections.",
            Run::Client(list),
        )
    },
    sub(
        "client|info",
        2,
        "Returns information about the connection.",
        Run::Client(info),
    ),
    CommandSpec {
        flags: CLIENT_ADMIN,
        acl: CONNECTION_ADMIN,
        complexity: "O(N) where N is the number of client connections",
        ..sub(
            "client|kill",
            -3,
            "Terminates open connections.",
            Run::Client(kill),
        )
    },
    CommandSpec {
        since: "5.0.0",
        complexity: "O(log N) where N is the number of client connections",
        ..sub(
            "client|unblock",
            -3,
            "Unblocks a client blocked by a blocking command from a different connection.",
            Run::Client(unblock),
        )
    },
    sub(
        "client|setinfo",
        4,
        "Sets information specific to the client or connection.",
        Run::Client(setinfo),
    ),
    CommandSpec {
        since: "3.2.0",
        ..sub(
            "client|reply",
            3,
            "Instructs the server whether to reply to commands.",
            Run::Client(reply),
        )
    },
    sub(
        "client|no-evict",
        3,
        "Sets the client eviction mode of the connection.",
        Run::Client(no_evict),
    ),
    sub(
        "client|no-touch",
        3,
        "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        Run::Client(no_touch),
    ),
    CommandSpec {
        flags: LOADING | STALE,
        acl: CONNECTION_SLOW,
        ..sub(
            "client|help",
            2,
            "Returns helpful text about the different subcommands.",
            Run::Client(help),
        )
    },
];

pub static COMMANDS: &[CommandSpec] = &[container(
    "client",
    "connection",
    "A container for client connection commands.",
    "2.4.0",
    SUBCOMMANDS,
)];

/// Private: this shard's `CLIENT LIST` lines for `[name, filter args...]`, as `[id, line]` pairs.
static LIST_SHARD: CommandSpec = shard_step("client|list-shard", list_shard);

/// Private: kills this shard's clients matching `[name, caller id, filter args...]` (never the
/// caller itself); replies how many.
static KILL_SHARD: CommandSpec = shard_step("client|kill-shard", kill_shard);
/// Private: unblocks `[name, id, error 0|1]` if it is a blocked client of this shard (1 or 0).
static UNBLOCK_SHARD: CommandSpec = shard_step("client|unblock-shard", unblock_shard);

fn done(reply: Reply) -> LocalBoxFuture<'static, Reply> {
    Box::pin(ready(reply))
}

fn id(client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    done(Reply::Int(client.id() as i64))
}

fn setname(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    let reply = match validate_client_name(&args[2]) {
        Ok(()) => {
            client.info().name = String::from_utf8_lossy(&args[2]).into_owned();
            Reply::ok()
        }
        Err(e) => e,
    };
    done(reply)
}

fn getname(client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    let name = client.info().name.clone();
    done(if name.is_empty() {
        Reply::Nil
    } else {
        Reply::bulk_str(&name)
    })
}

fn info(client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    // The client running CLIENT INFO is not blocked.
    done(Reply::Verbatim(client.handle.describe(false) + "\n"))
}

fn setinfo(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    let attr = String::from_utf8_lossy(&args[2]).into_owned();
    let is_name = attr.eq_ignore_ascii_case("lib-name");
    let reply = if !is_name && !attr.eq_ignore_ascii_case("lib-ver") {
        Reply::error(format!("ERR Unrecognized option '{attr}'"))
    } else if !is_valid_client_attr(&args[3]) {
        Reply::error(format!(
            "ERR {attr} cannot contain spaces, newlines or special characters."
        ))
    } else {
        let value = String::from_utf8_lossy(&args[3]).into_owned();
        let mut info = client.info();
        if is_name {
            info.lib_name = value;
        } else {
            info.lib_ver = value;
        }
        Reply::ok()
    };
    done(reply)
}

fn on_off(arg: &[u8]) -> Option<bool> {
    if arg.eq_ignore_ascii_case(b"on") {
        Some(true)
    } else if arg.eq_ignore_ascii_case(b"off") {
        Some(false)
    } else {
        None
    }
}

/// CLIENT REPLY ON|OFF|SKIP: checks the mode and answers +OK; the connection applies the mode as
/// it writes the pipeline's replies in order (`server::reply_mode`), and does not write this +OK
/// for OFF and SKIP.
fn reply(_client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    done(match crate::server::reply_mode::switch_of(&args) {
        Some(_) => Reply::ok(),
        None => syntax_error(),
    })
}

fn no_evict(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    done(match on_off(&args[2]) {
        Some(on) => {
            client.info().no_evict = on;
            Reply::ok()
        }
        None => syntax_error(),
    })
}

fn no_touch(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    done(match on_off(&args[2]) {
        Some(on) => {
            client.info().no_touch = on;
            Reply::ok()
        }
        None => syntax_error(),
    })
}

const HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "    * ID <client-id> [<client-id> ...]",
    "      Return clients with the specified IDs.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
    "HELP",
    "    Prints this help.",
];

/// A help text as Redis sends it: one status line each.
pub fn help_reply(lines: &'static [&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::Status(l)).collect())
}

fn help(_client: &mut Client, _args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    done(help_reply(HELP))
}

/// Redis's client types, as `TYPE` names them.
#[derive(Clone, Copy, PartialEq)]
enum ClientType {
    Normal,
    /// Subscribed to a channel, pattern or shard channel.
    Pubsub,
    /// `master`, `replica`, `slave`: Keel has none of these.
    Replication,
}

impl ClientType {
    fn parse(name: &[u8]) -> Result<ClientType, Reply> {
        let lower = name.to_ascii_lowercase();
        match lower.as_slice() {
            b"normal" => Ok(ClientType::Normal),
            b"pubsub" => Ok(ClientType::Pubsub),
            b"master" | b"replica" | b"slave" => Ok(ClientType::Replication),
            _ => Err(Reply::error(format!(
                "ERR Unknown client type '{}'",
                String::from_utf8_lossy(name)
            ))),
        }
    }

    fn of(client: &ClientHandle) -> ClientType {
        if client.is_pubsub() {
            ClientType::Pubsub
        } else {
            ClientType::Normal
        }
    }
}

/// Which clients `CLIENT LIST` shows.
enum ListFilter {
    All,
    Type(ClientType),
    Ids(Vec<u64>),
}

/// Parses `CLIENT LIST`'s options, `args` starting after `LIST`.
fn parse_list_filter(args: &[Bytes]) -> Result<ListFilter, Reply> {
    match args {
        [] => Ok(ListFilter::All),
        [kw, kind] if kw.eq_ignore_ascii_case(b"type") => {
            Ok(ListFilter::Type(ClientType::parse(kind)?))
        }
        [kw, ids @ ..] if kw.eq_ignore_ascii_case(b"id") && !ids.is_empty() => ids
            .iter()
            .map(|id| {
                parse_i64(id)
                    .map(|n| n as u64)
                    .map_err(|_| Reply::error("ERR Invalid client ID"))
            })
            .collect::<Result<_, _>>()
            .map(ListFilter::Ids),
        _ => Err(syntax_error()),
    }
}

fn list(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        if let Err(e) = parse_list_filter(&args[2..]) {
            return e;
        }
        let mut shard_args = vec![Bytes::from_static(LIST_SHARD.name.as_bytes())];
        shard_args.extend_from_slice(&args[2..]);
        let replies = client
            .shard
            .broadcast(&LIST_SHARD, client.db(), false, &shard_args)
            .await;
        let mut lines: Vec<(i64, Bytes)> = Vec::new();
        for reply in replies {
            let Reply::Array(pairs) = reply else {
                return reply;
            };
            for pair in pairs {
                if let Reply::Array(pair) = pair {
                    if let [Reply::Int(id), Reply::Bulk(line)] = pair.as_slice() {
                        lines.push((*id, line.clone()));
                    }
                }
            }
        }
        lines.sort_by_key(|(id, _)| *id);
        let mut text = String::new();
        for (_, line) in lines {
            text.push_str(&String::from_utf8_lossy(&line));
            text.push('\n');
        }
        Reply::Verbatim(text)
    })
}

fn list_shard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let filter = match parse_list_filter(&args[1..]) {
        Ok(filter) => filter,
        Err(e) => return e,
    };
    let clients = ctx.shard.clients.borrow();
    let lines = clients
        .iter()
        .filter(|c| !c.is_killed())
        .filter(|c| match &filter {
            ListFilter::All => true,
            ListFilter::Type(kind) => ClientType::of(c) == *kind,
            ListFilter::Ids(ids) => ids.contains(&c.id),
        })
        .map(|c| {
            let blocked = ctx.shard.blocking.is_blocked(c.id);
            Reply::Array(vec![
                Reply::Int(c.id as i64),
                Reply::bulk_str(&c.describe(blocked)),
            ])
        })
        .collect();
    Reply::Array(lines)
}

/// Which clients `CLIENT KILL` closes. Every given filter must match.
struct KillFilter {
    /// The old `CLIENT KILL addr` form: replies OK or an error instead of a count.
    old_form: bool,
    id: Option<u64>,
    addr: Option<Bytes>,
    laddr: Option<Bytes>,
    kind: Option<ClientType>,
    /// `USER` named a user Keel has none of.
    match_none: bool,
    skip_me: bool,
}

impl KillFilter {
    /// Parses `CLIENT KILL`'s arguments, `args` starting after `KILL`.
    fn parse(args: &[Bytes]) -> Result<KillFilter, Reply> {
        let mut filter = KillFilter {
            old_form: args.len() == 1,
            id: None,
            addr: None,
            laddr: None,
            kind: None,
            match_none: false,
            skip_me: true,
        };
        if filter.old_form {
            filter.addr = Some(args[0].clone());
            filter.skip_me = false;
            return Ok(filter);
        }
        if !args.len().is_multiple_of(2) {
            return Err(syntax_error());
        }
        for pair in args.chunks(2) {
            let (option, value) = (pair[0].to_ascii_lowercase(), &pair[1]);
            match option.as_slice() {
                b"id" => {
                    let id = parse_i64(value)
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| Reply::error("ERR client-id should be greater than 0"))?;
                    filter.id = Some(id as u64);
                }
                b"type" => filter.kind = Some(ClientType::parse(value)?),
                b"addr" => filter.addr = Some(value.clone()),
                b"laddr" => filter.laddr = Some(value.clone()),
                b"user" if value.as_ref() == b"default" => {}
                b"user" => {
                    return Err(Reply::error(format!(
                        "ERR No such user '{}'",
                        String::from_utf8_lossy(value)
                    )))
                }
                b"skipme" if value.eq_ignore_ascii_case(b"yes") => filter.skip_me = true,
                b"skipme" if value.eq_ignore_ascii_case(b"no") => filter.skip_me = false,
                _ => return Err(syntax_error()),
            }
        }
        Ok(filter)
    }

    fn matches(&self, client: &ClientHandle) -> bool {
        !self.match_none
            && !client.is_killed()
            && self.id.is_none_or(|id| id == client.id)
            && self.kind.is_none_or(|kind| kind == ClientType::of(client))
            && self
                .addr
                .as_ref()
                .is_none_or(|a| a.as_ref() == client.addr.as_bytes())
            && self
                .laddr
                .as_ref()
                .is_none_or(|a| a.as_ref() == client.laddr.as_bytes())
    }
}

fn kill(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let filter = match KillFilter::parse(&args[2..]) {
            Ok(filter) => filter,
            Err(e) => return e,
        };
        let mut shard_args = vec![
            Bytes::from_static(KILL_SHARD.name.as_bytes()),
            Bytes::from(client.id().to_string()),
        ];
        shard_args.extend_from_slice(&args[2..]);
        let replies = client
            .shard
            .broadcast(&KILL_SHARD, client.db(), false, &shard_args)
            .await;
        let mut killed = super::server::sum_ints(replies, &shard_args);
        // The caller is closed only once its reply is out, as Redis does.
        if !filter.skip_me && filter.matches(&client.handle) {
            client.close_after_reply = true;
            if let Reply::Int(n) = &mut killed {
                *n += 1;
            }
        }
        match killed {
            Reply::Int(0) if filter.old_form => Reply::error("ERR No such client"),
            Reply::Int(_) if filter.old_form => Reply::ok(),
            other => other,
        }
    })
}

fn kill_shard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let caller = parse_i64(&args[1]).unwrap_or(0) as u64;
    let filter = match KillFilter::parse(&args[2..]) {
        Ok(filter) => filter,
        Err(e) => return e,
    };
    let clients = ctx.shard.clients.borrow();
    let mut killed = 0;
    for c in clients.iter().filter(|c| c.id != caller) {
        if filter.matches(c) {
            ctx.shard.blocking.cancel(c.id);
            c.kill();
            killed += 1;
        }
    }
    Reply::Int(killed)
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends a blocked command early, as if it timed out (the
/// default) or with the UNBLOCKED error. Replies 1 when the client was blocked.
fn unblock(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        if args.len() > 4 {
            return super::table::arity_error("client|unblock");
        }
        let id = match parse_i64(&args[2]) {
            Ok(id) => id,
            Err(e) => return e,
        };
        let error = match args.get(3) {
            None => false,
            Some(mode) if mode.eq_ignore_ascii_case(b"timeout") => false,
            Some(mode) if mode.eq_ignore_ascii_case(b"error") => true,
            Some(_) => return Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
        };
        let shard_args = [
            Bytes::from_static(UNBLOCK_SHARD.name.as_bytes()),
            Bytes::from(id.to_string()),
            Bytes::from_static(if error { b"1" } else { b"0" }),
        ];
        let replies = client
            .shard
            .broadcast(&UNBLOCK_SHARD, client.db(), false, &shard_args)
            .await;
        super::server::sum_ints(replies, &shard_args)
    })
}

fn unblock_shard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let id = parse_i64(&args[1]).unwrap_or(0) as u64;
    let error = args[2].as_ref() == b"1";
    Reply::Int(ctx.shard.blocking.unblock(id, error) as i64)
}
