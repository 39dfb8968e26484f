//! CONFIG: reading and changing the configuration at run time. Every shard keeps its own copy of
//! the configuration, so `CONFIG SET` checks the change once and then applies it on every shard
//! (private spec `config|set-shard`).

use std::collections::HashSet;

use bytes::Bytes;
use futures::future::{ready, LocalBoxFuture};

use super::client::help_reply;
use super::server::all_ok;
use super::spec::*;
use super::{syntax_error, CommandSpec, Run};
use crate::config::Config;
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::shard::Ctx;

const CONFIG_FLAGS: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
const CONFIG_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

const fn config_sub(
    name: &'static str,
    arity: i32,
    summary: &'static str,
    run: Run,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: CONFIG_FLAGS,
        acl: CONFIG_ACL,
        group: "server",
        summary,
        since: "2.0.0",
        run,
        ..BASE
    }
}

static SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec {
        complexity: "O(N) when N is the number of configuration parameters provided",
        ..config_sub(
            "config|get",
            -3,
            "Returns the effective values of configuration parameters.",
            Run::Local(get),
        )
    },
    CommandSpec {
        complexity: "O(N) when N is the number of configuration parameters provided",
        ..config_sub(
            "config|set",
            -4,
            "Sets configuration parameters in-flight.",
            Run::Client(set),
        )
    },
    config_sub(
        "config|resetstat",
        2,
        "Resets the server's statistics.",
        Run::Client(resetstat),
    ),
    CommandSpec {
        since: "2.8.0",
        ..config_sub(
            "config|rewrite",
            2,
            "Persists the effective configuration to file.",
            Run::Local(rewrite),
        )
    },
    CommandSpec {
        flags: LOADING | STALE,
        acl: &["@slow"],
        since: "5.0.0",
        ..config_sub(
            "config|help",
            2,
            "Returns helpful text about the different subcommands.",
            Run::Local(help),
        )
    },
];

pub static COMMANDS: &[CommandSpec] = &[container(
    "config",
    "server",
    "A container for server configuration commands.",
    "2.0.0",
    SUBCOMMANDS,
)];

/// Private: applies `[name, directive, value, directive, value...]` to this shard's configuration.
/// The coordinator checked the values first, so this cannot fail half-way.
static SET_SHARD: CommandSpec = shard_step("config|set-shard", set_shard);

/// Private: resets this shard's statistics. `CONFIG RESETSTAT` resets every shard's, even from a
/// cluster shard port, because INFO reports the whole node.
static RESETSTAT_SHARD: CommandSpec = shard_step("config|resetstat-shard", resetstat_shard);

fn is_glob(pattern: &[u8]) -> bool {
    pattern.iter().any(|c| matches!(c, b'*' | b'?' | b'['))
}

fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let config = ctx.shard.config.borrow();
    let mut seen = HashSet::new();
    let mut pairs = Vec::new();
    for pattern in &args[2..] {
        for (name, value) in config.get_matching(pattern) {
            if seen.insert(name) {
                // Redis echoes an exact name as it was asked for.
                let shown = if is_glob(pattern) {
                    Reply::bulk_str(name)
                } else {
                    Reply::Bulk(pattern.clone())
                };
                pairs.push((shown, Reply::bulk_str(&value)));
            }
        }
    }
    Reply::Map(pairs)
}

/// The error for one argument of `CONFIG SET`.
fn set_failed(name: &str, why: &str) -> Reply {
    Reply::error(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
    ))
}

/// Checks `CONFIG SET`'s pairs as Redis does: every name known, mutable and given once, then every
/// value valid (tried on a copy of the configuration).
fn check_set(config: &Config, pairs: &[Bytes]) -> Result<(), Reply> {
    let mut seen = HashSet::new();
    for pair in pairs.chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]);
        match Config::is_mutable(&name) {
            None => {
                return Err(Reply::error(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                )))
            }
            Some(false) => return Err(set_failed(&name, "can't set immutable config")),
            Some(true) => {}
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(set_failed(&name, "duplicate parameter"));
        }
    }
    let mut trial = config.clone();
    for pair in pairs.chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]);
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        trial.set(&name, &[value]).map_err(|e| {
            // `Config::set` says "bad value for 'name': why"; Redis names the argument itself.
            let why = e.split_once("': ").map_or(e.as_str(), |(_, why)| why);
            set_failed(&name, why)
        })?;
    }
    Ok(())
}

fn set(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    if !args.len().is_multiple_of(2) {
        return Box::pin(ready(syntax_error()));
    }
    if let Err(e) = check_set(&client.shard.config.borrow(), &args[2..]) {
        return Box::pin(ready(e));
    }
    Box::pin(async move {
        let mut shard_args = vec![Bytes::from_static(SET_SHARD.name.as_bytes())];
        shard_args.extend_from_slice(&args[2..]);
        let replies = client
            .shard
            .broadcast(&SET_SHARD, client.db(), false, &shard_args)
            .await;
        all_ok(replies, &args)
    })
}

fn set_shard(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut config = ctx.shard.config.borrow_mut();
    for pair in args[1..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]);
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        if let Err(e) = config.set(&name, &[value]) {
            return set_failed(&name, &e);
        }
    }
    Reply::ok()
}

fn resetstat(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let replies = client
            .shard
            .broadcast(&RESETSTAT_SHARD, client.db(), false, &args)
            .await;
        all_ok(replies, &args)
    })
}

fn resetstat_shard(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.shard.stats.borrow_mut().reset();
    Reply::ok()
}

fn rewrite(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let Some(path) = ctx.shard.node.config_file.clone() else {
        return Reply::error("ERR The server is running without a config file");
    };
    match rewrite_file(&path, &ctx.shard.config.borrow()) {
        Ok(()) => Reply::ok(),
        Err(e) => Reply::error(format!("ERR Rewriting config file: {e}")),
    }
}

/// Rewrites the config file with the running values: a line setting a directive is replaced by
/// its current value (later duplicates dropped), directives that differ from their default and
/// are not in the file are appended, and everything else (comments, blank lines) is kept. The new
/// file replaces the old one atomically.
fn rewrite_file(path: &str, config: &Config) -> std::io::Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let current = config.get_matching(b"*");
    let defaults = Config::default().get_matching(b"*");
    let line_for = |name: &str| {
        let value = current
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v);
        format!("{name} {}", quote_config_value(value))
    };
    let mut written = HashSet::new();
    let mut out = String::new();
    for line in old.lines() {
        let word = line.split_whitespace().next().unwrap_or("");
        let known = current.iter().find(|(n, _)| n.eq_ignore_ascii_case(word));
        match known {
            Some((name, _)) if written.insert(*name) => out.push_str(&line_for(name)),
            Some(_) => continue,
            None => out.push_str(line),
        }
        out.push('\n');
    }
    for ((name, value), (_, default)) in current.iter().zip(&defaults) {
        if value != default && !written.contains(name) {
            out.push_str(&line_for(name));
            out.push('\n');
        }
    }
    let tmp = format!("{path}.rewrite.tmp");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(out.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Quotes a value for the config file when it would not read back as one word list otherwise.
fn quote_config_value(value: &str) -> String {
    if value.is_empty() || value.contains(['"', '\'', '#']) {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        value.to_string()
    }
}

const HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(HELP)
}
