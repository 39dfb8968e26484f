//! COMMAND: the command table described to clients, in Redis 7's reply shapes (clients read
//! `COMMAND` for key positions and `redis-cli` reads `COMMAND DOCS` at start).

use bytes::Bytes;

use super::spec::*;
use super::table::{arity_error, unknown_subcommand_error};
use super::{syntax_error, CommandSpec, Keys, Run};
use crate::keyspace::pattern::glob_match;
use crate::protocol::Reply;
use crate::shard::Ctx;

const COMMAND_FLAGS: u32 = LOADING | STALE;
const COMMAND_ACL: &[&str] = &["@slow", "@connection"];

const fn sub(name: &'static str, arity: i32, summary: &'static str, run: Run) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: COMMAND_FLAGS,
        acl: COMMAND_ACL,
        group: "server",
        summary,
        since: "2.8.13",
        run,
        ..BASE
    }
}

static SUBCOMMANDS: &[CommandSpec] = &[
    sub(
        "command|count",
        2,
        "Returns a count of commands.",
        Run::Local(count),
    ),
    CommandSpec {
        since: "7.0.0",
        complexity: "O(N) where N is the number of commands to look up",
        ..sub(
            "command|docs",
            -2,
            "Returns documentary information about one, multiple or all commands.",
            Run::Local(docs),
        )
    },
    CommandSpec {
        complexity: "O(N) where N is the number of arguments to the command",
        ..sub(
            "command|getkeys",
            -4,
            "Extracts the key names from an arbitrary command.",
            Run::Local(getkeys),
        )
    },
    CommandSpec {
        since: "7.0.0",
        complexity: "O(N) where N is the number of arguments to the command",
        ..sub(
            "command|getkeysandflags",
            -4,
            "Extracts the key names and access flags for an arbitrary command.",
            Run::Local(getkeysandflags),
        )
    },
    CommandSpec {
        complexity: "O(N) where N is the number of commands to look up",
        ..sub(
            "command|info",
            -2,
            "Returns information about one, multiple or all commands.",
            Run::Local(info),
        )
    },
    CommandSpec {
        since: "7.0.0",
        complexity: "O(N) where N is the total number of Redis commands",
        ..sub(
            "command|list",
            -2,
            "Returns a list of command names.",
            Run::Local(list),
        )
    },
    CommandSpec {
        since: "5.0.0",
        ..sub(
            "command|help",
            2,
            "Returns helpful text about the different subcommands.",
            Run::Local(help),
        )
    },
];

/// COMMAND dispatches its subcommands itself instead of being a `Run::Parent`, because a bare
/// `COMMAND` (no subcommand) is valid and lists every command.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "command",
    arity: -1,
    flags: COMMAND_FLAGS,
    acl: COMMAND_ACL,
    group: "server",
    summary: "Returns detailed information about all commands.",
    since: "2.8.13",
    complexity: "O(N) where N is the total number of Redis commands",
    run: Run::Local(command),
    subcommands: SUBCOMMANDS,
    ..BASE
}];

fn command(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(name) = args.get(1) else {
        return Reply::Array(super::all().map(info_reply).collect());
    };
    let Some(sub) = SUBCOMMANDS
        .iter()
        .find(|s| s.name.as_bytes()["command|".len()..].eq_ignore_ascii_case(name))
    else {
        return unknown_subcommand_error("command", name);
    };
    if !sub.arity_ok(args.len()) {
        return arity_error(sub.name);
    }
    match sub.run {
        Run::Local(run) => run(ctx, args),
        _ => unreachable!("COMMAND's subcommands run locally"),
    }
}

/// A command or subcommand (`parent|sub`) by name, case-insensitively.
fn find(name: &[u8]) -> Option<&'static CommandSpec> {
    let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    match name.split_once('|') {
        None => super::lookup(name.as_bytes()),
        Some((parent, _)) => super::lookup(parent.as_bytes())?
            .subcommands
            .iter()
            .find(|s| s.name == name),
    }
}

/// Every command and subcommand, parents first.
fn every_name() -> impl Iterator<Item = &'static CommandSpec> {
    super::all().flat_map(|c| std::iter::once(c).chain(c.subcommands))
}

fn count(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Int(super::all().count() as i64)
}

fn info(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return Reply::Array(super::all().map(info_reply).collect());
    }
    Reply::Array(
        args[2..]
            .iter()
            .map(|name| find(name).map_or(Reply::Nil, info_reply))
            .collect(),
    )
}

fn statuses(names: &[&'static str]) -> Reply {
    Reply::Set(names.iter().map(|n| Reply::Status(n)).collect())
}

fn pair(name: &str, value: Reply) -> (Reply, Reply) {
    (Reply::bulk_str(name), value)
}

/// One command's `COMMAND INFO` entry: name, arity, flags, first key, last key, step, ACL
/// categories, tips, key specifications, subcommands.
fn info_reply(spec: &CommandSpec) -> Reply {
    let (first, last, step) = match spec.keys {
        Keys::Range { first, last, step }
        | Keys::Parsed {
            first, last, step, ..
        } => (first, last, step),
        Keys::None => (0, 0, 0),
    };
    let flags = spec.flag_names();
    // Redis answers an empty set, but an array when there are subcommands.
    let subcommands = if spec.subcommands.is_empty() {
        Reply::Set(Vec::new())
    } else {
        Reply::Array(spec.subcommands.iter().map(info_reply).collect())
    };
    Reply::Array(vec![
        Reply::bulk_str(spec.name),
        Reply::Int(spec.arity as i64),
        statuses(&flags),
        Reply::Int(first as i64),
        Reply::Int(last as i64),
        Reply::Int(step as i64),
        statuses(spec.acl),
        Reply::Set(Vec::new()),
        Reply::Set(key_specs(spec)),
        subcommands,
    ])
}

/// How the keys are accessed, as key-spec flags. The table records read/write per command, not
/// per key, so every key of a command gets its command's access.
fn key_flags(spec: &CommandSpec) -> &'static [&'static str] {
    if spec.is_write() {
        &["RW", "update"]
    } else if spec.flags & READONLY != 0 {
        &["RO", "access"]
    } else {
        &["RO"]
    }
}

/// Redis 7 key specifications: where the keys begin and how to find the rest.
fn key_specs(spec: &CommandSpec) -> Vec<Reply> {
    let search = |kind: &str, spec: Vec<(Reply, Reply)>| {
        Reply::Map(vec![
            pair("type", Reply::bulk_str(kind)),
            pair("spec", Reply::Map(spec)),
        ])
    };
    let (begin, find) = match spec.keys {
        // Keys found by parsing show only their fixed range (Redis adds keynum/keyword specs).
        Keys::None | Keys::Parsed { first: 0, .. } => return Vec::new(),
        Keys::Range { first, last, step }
        | Keys::Parsed {
            first, last, step, ..
        } => (
            search("index", vec![pair("index", Reply::Int(first as i64))]),
            search(
                "range",
                vec![
                    // Relative to the first key; negative counts from the end.
                    pair(
                        "lastkey",
                        Reply::Int(if last < 0 { last } else { last - first } as i64),
                    ),
                    pair("keystep", Reply::Int(step as i64)),
                    pair("limit", Reply::Int(0)),
                ],
            ),
        ),
    };
    vec![Reply::Map(vec![
        pair("flags", statuses(key_flags(spec))),
        pair("begin_search", begin),
        pair("find_keys", find),
    ])]
}

fn docs(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let specs: Vec<&'static CommandSpec> = if args.len() == 2 {
        super::all().collect()
    } else {
        args[2..].iter().filter_map(|name| find(name)).collect()
    };
    Reply::Map(
        specs
            .into_iter()
            .map(|spec| (Reply::bulk_str(spec.name), docs_reply(spec)))
            .collect(),
    )
}

/// One command's `COMMAND DOCS` entry; empty fields are left out, as Redis does.
fn docs_reply(spec: &CommandSpec) -> Reply {
    let mut fields = Vec::new();
    for (name, value) in [
        ("summary", spec.summary),
        ("since", spec.since),
        ("group", spec.group),
        ("complexity", spec.complexity),
    ] {
        if !value.is_empty() {
            fields.push(pair(name, Reply::bulk_str(value)));
        }
    }
    if !spec.subcommands.is_empty() {
        fields.push(pair(
            "subcommands",
            Reply::Map(
                spec.subcommands
                    .iter()
                    .map(|s| (Reply::bulk_str(s.name), docs_reply(s)))
                    .collect(),
            ),
        ));
    }
    Reply::Map(fields)
}

/// The table entry `COMMAND GETKEYS` describes, and the indexes of its keys.
fn keys_of(command: &[Bytes]) -> Result<(&'static CommandSpec, Vec<usize>), Reply> {
    let invalid = || Reply::error("ERR Invalid command specified");
    let bad_arity = || Reply::error("ERR Invalid number of arguments specified for command");
    let mut spec = super::lookup(&command[0]).ok_or_else(invalid)?;
    if matches!(spec.run, Run::Parent) {
        let sub_name = command.get(1).ok_or_else(bad_arity)?;
        spec = spec
            .subcommands
            .iter()
            .find(|s| s.name.as_bytes()[spec.name.len() + 1..].eq_ignore_ascii_case(sub_name))
            .ok_or_else(invalid)?;
    }
    if !spec.arity_ok(command.len()) {
        return Err(bad_arity());
    }
    let keys: Vec<usize> = spec
        .key_indexes(command)
        .into_iter()
        .filter(|&i| i < command.len())
        .collect();
    if keys.is_empty() {
        return Err(Reply::error("ERR The command has no key arguments"));
    }
    Ok((spec, keys))
}

fn getkeys(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let command = &args[2..];
    match keys_of(command) {
        Ok((_, keys)) => Reply::Array(
            keys.into_iter()
                .map(|i| Reply::Bulk(command[i].clone()))
                .collect(),
        ),
        Err(e) => e,
    }
}

fn getkeysandflags(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let command = &args[2..];
    match keys_of(command) {
        Ok((spec, keys)) => Reply::Array(
            keys.into_iter()
                .map(|i| {
                    Reply::Array(vec![
                        Reply::Bulk(command[i].clone()),
                        statuses(key_flags(spec)),
                    ])
                })
                .collect(),
        ),
        Err(e) => e,
    }
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`, subcommands included.
fn list(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let names = |keep: &dyn Fn(&CommandSpec) -> bool| {
        Reply::Array(
            every_name()
                .filter(|c| keep(c))
                .map(|c| Reply::bulk_str(c.name))
                .collect(),
        )
    };
    match &args[2..] {
        [] => names(&|_| true),
        [by, kind, value] if by.eq_ignore_ascii_case(b"filterby") => {
            match kind.to_ascii_lowercase().as_slice() {
                b"module" => Reply::Array(Vec::new()),
                b"aclcat" => names(&|c| {
                    c.acl.iter().any(|cat| {
                        cat.trim_start_matches('@')
                            .as_bytes()
                            .eq_ignore_ascii_case(value)
                    })
                }),
                b"pattern" => names(&|c| glob_match(value, c.name.as_bytes(), true)),
                _ => syntax_error(),
            }
        }
        _ => syntax_error(),
    }
}

const HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

fn help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    super::client::help_reply(HELP)
}
