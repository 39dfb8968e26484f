//! Every command Keel answers, one module per family, registered in one table.

pub mod table;

/// `?` for command functions that return a `Reply`: an `Err(reply)` becomes the reply. Defined
/// before the family modules so that each of them can use it.
macro_rules! attempt {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(reply) => return reply,
        }
    };
}

mod bitmaps;
mod client;
mod cluster;
mod config;
mod connection;
mod debug;
mod dump;
mod expire;
mod geo;
mod hashes;
mod hyperloglog;
mod info;
mod introspection;
mod keyspace;
mod latency;
mod lists;
mod persistence;
mod pubsub;
mod replication;
mod scan_args;
mod server;
mod sets;
mod slowlog;
mod sort;
mod streams;
mod strings;
mod transactions;
mod zsets;

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::protocol::Reply;
use table::{arity_error, unknown_command_error, unknown_subcommand_error};

/// What a blocking command is queued as inside MULTI: the non-blocking step (and its arguments)
/// that answers as Redis does there, or the error its arguments get.
pub type InMulti = Result<(&'static CommandSpec, Vec<Bytes>), Reply>;

/// The non-blocking form of blocking command `spec` (or of WAIT, which waits without the flag)
/// for a MULTI queue (`server::transaction`); `None` when its family has none.
pub fn in_multi(spec: &CommandSpec, args: &[Bytes]) -> Option<InMulti> {
    lists::in_multi(spec.name, args)
        .or_else(|| streams::in_multi(spec.name, args))
        .or_else(|| zsets::in_multi(spec.name, args))
        .or_else(|| replication::in_multi(spec.name, args))
}
pub use table::{flag, CommandSpec, CrossShard, Keys, Run, SplitMerge};

/// The families, in `COMMAND`'s order.
static FAMILIES: &[&[CommandSpec]] = &[
    strings::COMMANDS,
    hashes::COMMANDS,
    sets::COMMANDS,
    zsets::COMMANDS,
    geo::COMMANDS,
    lists::COMMANDS,
    streams::COMMANDS,
    bitmaps::COMMANDS,
    hyperloglog::COMMANDS,
    pubsub::COMMANDS,
    keyspace::COMMANDS,
    dump::COMMANDS,
    sort::COMMANDS,
    expire::COMMANDS,
    connection::COMMANDS,
    server::COMMANDS,
    replication::COMMANDS,
    persistence::COMMANDS,
    cluster::COMMANDS,
    client::COMMANDS,
    info::COMMANDS,
    config::COMMANDS,
    debug::COMMANDS,
    introspection::COMMANDS,
    latency::COMMANDS,
    slowlog::COMMANDS,
    transactions::COMMANDS,
];

/// Every top-level command.
pub fn all() -> impl Iterator<Item = &'static CommandSpec> {
    FAMILIES.iter().copied().flatten()
}

/// Longest command name we look up; longer names are unknown.
const NAME_BYTES_MAX: usize = 64;

type Index = HashMap<&'static [u8], &'static CommandSpec, ahash::RandomState>;

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| all().map(|c| (c.name.as_bytes(), c)).collect())
}

/// True for names of commands in the table (not the private steps commands send to shards).
pub fn is_public(name: &str) -> bool {
    match name.split_once('|') {
        None => lookup(name.as_bytes()).is_some(),
        Some((parent, _)) => {
            lookup(parent.as_bytes()).is_some_and(|p| p.subcommands.iter().any(|s| s.name == name))
        }
    }
}

/// Finds a top-level command by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    if let Some(spec) = LAST_FOUND.get().and_then(|last| last.spec_if_named(name)) {
        return Some(spec);
    }
    if name.len() > NAME_BYTES_MAX {
        return None;
    }
    let mut lower = [0u8; NAME_BYTES_MAX];
    for (dst, src) in lower.iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    let spec = index().get(&lower[..name.len()]).copied()?;
    if let Some(found) = Found::new(name, spec) {
        LAST_FOUND.set(Some(found));
    }
    Some(spec)
}

thread_local! {
    /// The name this thread (a shard) found last, as the client spelled it: clients mostly send
    /// one command over and over, and comparing its name costs less than hashing it again
    /// (1.5% less of the shard's core, in a profile of durable SETs at pipeline 16).
    static LAST_FOUND: Cell<Option<Found>> = const { Cell::new(None) };
}

/// Names up to this long are remembered (every command's name is shorter).
const FOUND_NAME_BYTES_MAX: usize = 24;

/// A name as a client spelled it, and the command it named.
#[derive(Clone, Copy)]
struct Found {
    name: [u8; FOUND_NAME_BYTES_MAX],
    len: u8,
    spec: &'static CommandSpec,
}

impl Found {
    fn new(name: &[u8], spec: &'static CommandSpec) -> Option<Found> {
        let mut found = Found {
            name: [0; FOUND_NAME_BYTES_MAX],
            len: u8::try_from(name.len()).ok()?,
            spec,
        };
        found.name.get_mut(..name.len())?.copy_from_slice(name);
        Some(found)
    }

    fn spec_if_named(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        (self.name[..self.len as usize] == *name).then_some(self.spec)
    }
}

/// The table entry that runs `args` (the subcommand's, for commands that have them), with arity
/// checked; or the exact error Redis gives.
pub fn resolve(args: &[Bytes]) -> Result<&'static CommandSpec, Reply> {
    let spec = lookup(&args[0]).ok_or_else(|| unknown_command_error(args))?;
    if !matches!(spec.run, Run::Parent) {
        return if spec.arity_ok(args.len()) {
            Ok(spec)
        } else {
            Err(arity_error(spec.name))
        };
    }
    let Some(sub_name) = args.get(1) else {
        return Err(arity_error(spec.name));
    };
    let sub = spec
        .subcommands
        .iter()
        .find(|s| s.name.as_bytes()[spec.name.len() + 1..].eq_ignore_ascii_case(sub_name))
        .ok_or_else(|| unknown_subcommand_error(spec.name, sub_name))?;
    if sub.arity_ok(args.len()) {
        Ok(sub)
    } else {
        Err(arity_error(sub.name))
    }
}

/// Shorthands that keep the family tables readable.
pub mod spec {
    use super::table::*;
    use bytes::Bytes;

    /// Defaults for the fields most entries leave alone.
    pub const BASE: CommandSpec = CommandSpec {
        name: "",
        arity: 1,
        flags: 0,
        keys: Keys::None,
        acl: &[],
        group: "generic",
        summary: "",
        since: "1.0.0",
        complexity: "O(1)",
        run: Run::Parent,
        subcommands: &[],
    };

    /// One key, the first argument.
    pub const KEY1: Keys = Keys::Range {
        first: 1,
        last: 1,
        step: 1,
    };
    /// Every argument is a key.
    pub const ALL_KEYS: Keys = Keys::Range {
        first: 1,
        last: -1,
        step: 1,
    };
    /// Key, value, key, value...
    pub const KEY_VALUE_PAIRS: Keys = Keys::Range {
        first: 1,
        last: -1,
        step: 2,
    };
    /// `numkeys key...` from the first argument (SINTERCARD, LMPOP, ZMPOP, ZUNION...).
    pub const NUMKEYS_KEYS: Keys = Keys::Parsed {
        first: 0,
        last: 0,
        step: 0,
        find: |args| numkeys_keys(args, 1),
    };
    /// `destination numkeys key...` (ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE).
    pub const DEST_NUMKEYS_KEYS: Keys = Keys::Parsed {
        first: 1,
        last: 1,
        step: 1,
        find: |args| {
            let mut keys = vec![1];
            keys.extend(numkeys_keys(args, 2));
            keys
        },
    };

    /// The positions of the keys that follow a `numkeys` argument at `at`; none when it is not
    /// a positive number, and only those present when it names more than there are.
    pub fn numkeys_keys(args: &[Bytes], at: usize) -> Vec<usize> {
        let Some(Ok(numkeys)) = args.get(at).map(|n| super::parse_numkeys(n)) else {
            return Vec::new();
        };
        let last = at.saturating_add(numkeys).min(args.len().saturating_sub(1));
        (at + 1..=last).collect()
    }

    /// The position of `dst`, the key a `STORE`-like option (one of `options`, lowercase) names:
    /// the last such option's, as the commands' parsers keep the last one.
    pub fn option_key(args: &[Bytes], options: &[&[u8]], dst: &[u8]) -> Option<usize> {
        (2..args.len()).rev().find(|&i| {
            args[i] == dst && options.contains(&args[i - 1].to_ascii_lowercase().as_slice())
        })
    }

    /// Source and destination keys (RENAME, COPY).
    pub const TWO_KEYS: Keys = Keys::Range {
        first: 1,
        last: 2,
        step: 1,
    };

    pub const fn keyed(exec: ShardFn) -> Run {
        Run::Keyed {
            exec,
            cross: CrossShard::Never,
        }
    }

    pub const fn split(exec: ShardFn, merge: SplitMerge) -> Run {
        Run::Keyed {
            exec,
            cross: CrossShard::Split(merge),
        }
    }

    pub const fn coordinated(exec: ShardFn, plan: ClientFn) -> Run {
        Run::Keyed {
            exec,
            cross: CrossShard::Coordinated(plan),
        }
    }

    /// A command that only groups its subcommands (CLIENT, CONFIG, LATENCY, ...), described as
    /// Redis describes such containers.
    pub const fn container(
        name: &'static str,
        group: &'static str,
        summary: &'static str,
        since: &'static str,
        subcommands: &'static [CommandSpec],
    ) -> CommandSpec {
        CommandSpec {
            name,
            arity: -2,
            acl: &["@slow"],
            group,
            summary,
            since,
            complexity: "Depends on subcommand.",
            subcommands,
            ..BASE
        }
    }

    /// A private step a command runs on a shard (on every shard, or the one owning a slot). It is
    /// in no family's table, so clients cannot call it.
    pub const fn shard_step(name: &'static str, exec: ShardFn) -> CommandSpec {
        CommandSpec {
            name,
            run: Run::Local(exec),
            ..BASE
        }
    }

    pub use super::table::flag::*;
}

/// Parses an integer argument as Redis does, with its error text.
pub fn parse_i64(arg: &[u8]) -> Result<i64, Reply> {
    // Redis's string2ll: canonical decimal only ("007", "+5", " 5" are refused).
    crate::keyspace::parse_canonical_i64(arg)
        .ok_or_else(|| Reply::error("ERR value is not an integer or out of range"))
}

/// The `numkeys` of LMPOP, ZMPOP, SINTERCARD...: a positive integer.
pub fn parse_numkeys(arg: &[u8]) -> Result<usize, Reply> {
    match parse_i64(arg) {
        Ok(n) if n > 0 => Ok(n as usize),
        _ => Err(Reply::error("ERR numkeys should be greater than 0")),
    }
}

/// A pop count (SPOP, LPOP/RPOP, ZPOPMIN/ZPOPMAX): a non-negative integer.
pub fn parse_pop_count(arg: &[u8]) -> Result<usize, Reply> {
    match parse_i64(arg) {
        Ok(n) if n >= 0 => Ok(n as usize),
        _ => Err(Reply::error("ERR value is out of range, must be positive")),
    }
}

/// A negative SRANDMEMBER/ZRANDMEMBER/HRANDFIELD count may repeat elements, so its reply is not
/// bounded by the collection: counts beyond this many are refused rather than building a reply
/// that could exhaust memory. (Redis itself refuses only beyond LONG_MAX/2.)
pub const RANDOM_REPEATS_MAX: u64 = 1 << 24;

/// Up to `count` distinct items of `items` (of which there are `len`), chosen at random.
/// `choose_multiple` reserves room for its whole count up front, so the count is capped at `len`
/// first: `SPOP s 9223372036854775807` once stopped the shard with a capacity overflow.
pub fn choose_distinct<T>(items: impl Iterator<Item = T>, len: usize, count: u64) -> Vec<T> {
    use rand::seq::IteratorRandom;
    items.choose_multiple(&mut rand::thread_rng(), count.min(len as u64) as usize)
}

/// The count of SRANDMEMBER, ZRANDMEMBER and HRANDFIELD: Redis's range (±i64::MAX), and a
/// negative (repeating) count at most `RANDOM_REPEATS_MAX`.
pub fn parse_random_count(arg: &[u8]) -> Result<i64, Reply> {
    let n = parse_i64(arg)?;
    if n == i64::MIN {
        return Err(Reply::error(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if n < 0 && n.unsigned_abs() > RANDOM_REPEATS_MAX {
        return Err(Reply::error(format!(
            "ERR negative count is limited to {RANDOM_REPEATS_MAX} members"
        )));
    }
    Ok(n)
}

pub fn wrong_type() -> Reply {
    Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value")
}

pub fn syntax_error() -> Reply {
    Reply::error("ERR syntax error")
}
