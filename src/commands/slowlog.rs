//! SLOWLOG: the commands that ran at least `slowlog-log-slower-than` µs. Each shard logs the
//! commands it ran; GET merges every shard's entries newest first, LEN adds them up and RESET
//! empties every shard's log (private specs `slowlog|*-shard`).

use bytes::Bytes;
use futures::future::{ready, LocalBoxFuture};

use super::client::help_reply;
use super::server::all_ok;
use super::spec::*;
use super::{parse_i64, CommandSpec, Run};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::shard::Ctx;

/// Entries `SLOWLOG GET` returns without a count.
const GET_COUNT_DEFAULT: usize = 10;

const SLOWLOG_FLAGS: u32 = ADMIN | LOADING | STALE;
const SLOWLOG_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

const fn slowlog_sub(
    name: &'static str,
    arity: i32,
    summary: &'static str,
    run: Run,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: SLOWLOG_FLAGS,
        acl: SLOWLOG_ACL,
        group: "server",
        summary,
        since: "2.2.12",
        run,
        ..BASE
    }
}

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        complexity: "O(N) where N is the number of entries returned",
        ..slowlog_sub(
            "slowlog|get",
            -2,
            "Returns the slow log's entries.",
            Run::Client(get),
        )
    },
    slowlog_sub(
        "slowlog|len",
        2,
        "Returns the number of entries in the slow log.",
        Run::Client(len),
    ),
    slowlog_sub(
        "slowlog|reset",
        2,
        "Clears all entries from the slow log.",
        Run::Client(reset),
    ),
    CommandSpec {
        flags: LOADING | STALE,
        acl: &["@slow"],
        since: "6.2.0",
        ..slowlog_sub(
            "slowlog|help",
            2,
            "Show helpful text about the different subcommands",
            Run::Local(help),
        )
    },
];

pub static COMMANDS: &[CommandSpec] = &[container(
    "slowlog",
    "server",
    "A container for slow log commands.",
    "2.2.12",
    SUBCOMMANDS,
)];

/// Private: this shard's newest `count` entries (all with -1), newest first, each with its
/// unix time in µs appended for the merge.
static GET_SHARD: CommandSpec = shard_step("slowlog|get-shard", get_shard);

/// Private: this shard's entry count.
static LEN_SHARD: CommandSpec = shard_step("slowlog|len-shard", len_shard);

/// Private: empties this shard's log.
static RESET_SHARD: CommandSpec = shard_step("slowlog|reset-shard", reset_shard);

fn done(reply: Reply) -> LocalBoxFuture<'static, Reply> {
    Box::pin(ready(reply))
}

/// `SLOWLOG GET`'s count: `None` for all.
fn parse_count(args: &[Bytes]) -> Result<Option<usize>, Reply> {
    let Some(arg) = args.get(2) else {
        return Ok(Some(GET_COUNT_DEFAULT));
    };
    let refused = || Reply::error("ERR count should be greater than or equal to -1");
    match parse_i64(arg).map_err(|_| refused())? {
        -1 => Ok(None),
        n if n < -1 => Err(refused()),
        n => Ok(Some(n as usize)),
    }
}

fn get(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    if args.len() > 3 {
        return done(super::table::arity_error("slowlog|get"));
    }
    let count = match parse_count(&args) {
        Ok(count) => count,
        Err(e) => return done(e),
    };
    Box::pin(async move {
        let count_arg = count.map_or(-1, |n| n as i64).to_string();
        let shard_args = [
            Bytes::from_static(GET_SHARD.name.as_bytes()),
            Bytes::from(count_arg),
        ];
        let replies = client
            .shard
            .broadcast(&GET_SHARD, 0, false, &shard_args)
            .await;
        merge_entries(replies, count)
    })
}

/// Every shard's entries newest first (by end time, then id), the first `count` of them,
/// without the time each carried for the merge.
fn merge_entries(replies: Vec<Reply>, count: Option<usize>) -> Reply {
    let mut entries: Vec<(i64, i64, Vec<Reply>)> = Vec::new();
    for reply in replies {
        let Reply::Array(shard_entries) = reply else {
            return reply;
        };
        for entry in shard_entries {
            let Reply::Array(mut fields) = entry else {
                continue;
            };
            let (Some(Reply::Int(time_us)), Some(Reply::Int(id))) = (fields.pop(), fields.first())
            else {
                continue;
            };
            entries.push((time_us, *id, fields));
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse((e.0, e.1)));
    entries.truncate(count.unwrap_or(usize::MAX));
    Reply::Array(
        entries
            .into_iter()
            .map(|(_, _, fields)| Reply::Array(fields))
            .collect(),
    )
}

fn get_shard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let count = parse_i64(&args[1]).unwrap_or(-1);
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let latency = ctx.shard.latency.borrow();
    let entries = latency.slowlog.iter().rev().take(count).map(|e| {
        Reply::Array(vec![
            Reply::Int(e.id as i64),
            Reply::Int((e.time_us / 1_000_000) as i64),
            Reply::Int(e.duration_us as i64),
            Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
            Reply::bulk_str(&e.client_addr),
            Reply::bulk_str(&e.client_name),
            Reply::Int(e.time_us as i64),
        ])
    });
    Reply::Array(entries.collect())
}

fn len(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let replies = client
            .shard
            .broadcast(&LEN_SHARD, 0, false, &args[..1])
            .await;
        let mut total = 0;
        for reply in replies {
            match reply {
                Reply::Int(n) => total += n,
                other => return other,
            }
        }
        Reply::Int(total)
    })
}

fn len_shard(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Int(ctx.shard.latency.borrow().slowlog.len() as i64)
}

fn reset(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let replies = client
            .shard
            .broadcast(&RESET_SHARD, 0, false, &args[..1])
            .await;
        all_ok(replies, &args)
    })
}

fn reset_shard(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.shard.latency.borrow_mut().slowlog.clear();
    Reply::ok()
}

const HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return the newest <count> entries of the slow log (default: 10, -1 for all).",
    "    Each entry is: id, unix time, duration in microseconds, arguments,",
    "    client address and port, client name.",
    "LEN",
    "    Return the number of entries in the slow log.",
    "RESET",
    "    Empty the slow log.",
    "HELP",
    "    Print this help.",
];

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(HELP)
}
