//! The command table: the single description of every command (name, arity, flags, keys, ACL
//! categories, docs, and how it runs). Routing, `COMMAND`, the journal's "is this a write" and ACLs
//! all read it.

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use crate::protocol::Reply;
use crate::server::client::Client;
use crate::shard::Ctx;

/// Command flags, as `COMMAND INFO` prints them.
pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const FAST: u32 = 1 << 9;
    pub const NO_AUTH: u32 = 1 << 10;
    pub const MOVABLEKEYS: u32 = 1 << 11;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MOVABLEKEYS, "movablekeys"),
    ];
}

/// Runs on one shard against its keyspace.
pub type ShardFn = fn(&mut Ctx, &[Bytes]) -> Reply;
/// Combines the replies of every shard for a broadcast command, in shard order.
pub type MergeFn = fn(Vec<Reply>, &[Bytes]) -> Reply;
/// Runs with the client connection; may talk to other shards.
pub type ClientFn = for<'a> fn(&'a mut Client, Vec<Bytes>) -> LocalBoxFuture<'a, Reply>;

/// How a command runs.
#[derive(Clone, Copy)]
pub enum Run {
    /// Runs on the shard that owns its keys. When the keys span shards, `cross` says how.
    Keyed { exec: ShardFn, cross: CrossShard },
    /// Keyless; runs on the connection's own shard.
    Local(ShardFn),
    /// Runs on every shard (only the connection's own on a cluster shard port), then merged.
    Broadcast { exec: ShardFn, merge: MergeFn },
    /// Needs the connection (SELECT, HELLO, CLIENT, ...).
    Client(ClientFn),
    /// Has subcommands; the table entry of the subcommand runs.
    Parent,
}

/// What a keyed command does when its keys live on several shards (main port only; a cluster
/// port answers CROSSSLOT instead).
#[derive(Clone, Copy)]
pub enum CrossShard {
    /// Only one key, or keys that must share a shard: never split.
    Never,
    /// Split the keys (with their `key_step` arguments) by shard, run each part under the
    /// cross-shard locks (atomic), and merge.
    Split(SplitMerge),
    /// A custom coordinated plan (RENAME, MSETNX, ...).
    Coordinated(ClientFn),
}

#[derive(Clone, Copy, Debug)]
pub enum SplitMerge {
    /// Replies are arrays with one element per key: reassemble them in key order (MGET).
    PerKey,
    /// Replies are integers: add them up (DEL, EXISTS).
    Sum,
    /// Every part answers +OK or an error: the first error, or +OK (MSET).
    AllOk,
}

/// Finds the key positions of a command's arguments (args[0] is the name) by reading them, for
/// keys no fixed range describes (after a `numkeys`, after `STREAMS`, a `STORE` option).
/// Malformed arguments give the keys found so far (the command itself answers the error).
pub type KeysFn = fn(&[Bytes]) -> Vec<usize>;

/// Where the keys are among the arguments.
#[derive(Clone, Copy)]
pub enum Keys {
    None,
    /// `first..=last` (negative `last` counts from the end) every `step` arguments.
    Range {
        first: i32,
        last: i32,
        step: i32,
    },
    /// A MOVABLEKEYS command's keys, found by `find` (Redis's `getkeys_proc`). `first`,
    /// `last`, `step` are only what `COMMAND INFO` shows (Redis's legacy key range).
    Parsed {
        first: i32,
        last: i32,
        step: i32,
        find: KeysFn,
    },
}

pub struct CommandSpec {
    /// Lowercase; `parent|sub` for subcommands.
    pub name: &'static str,
    /// Redis arity: N means exactly N arguments (with the name), -N at least N.
    pub arity: i32,
    pub flags: u32,
    pub keys: Keys,
    pub acl: &'static [&'static str],
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    pub run: Run,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    pub fn is_write(&self) -> bool {
        self.flags & flag::WRITE != 0
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    /// Indexes of the key arguments in `args` (args[0] is the command name).
    pub fn key_indexes(&self, args: &[Bytes]) -> Vec<usize> {
        match self.keys {
            Keys::None => Vec::new(),
            Keys::Range { first, last, step } => {
                let argc = args.len() as i32;
                let last = if last < 0 {
                    argc + last
                } else {
                    last.min(argc - 1)
                };
                (first..=last)
                    .step_by(step.max(1) as usize)
                    .map(|i| i as usize)
                    .collect()
            }
            Keys::Parsed { find, .. } => find(args)
                .into_iter()
                .filter(|&i| i > 0 && i < args.len())
                .collect(),
        }
    }

    /// The first key argument, if any: enough to route single-key commands without allocating.
    pub fn first_key<'a>(&self, args: &'a [Bytes]) -> Option<&'a Bytes> {
        match self.keys {
            Keys::None => None,
            Keys::Range { first, .. } => args.get(first as usize),
            Keys::Parsed { find, .. } => find(args).first().and_then(|&i| args.get(i)),
        }
    }

    /// False when keys come in groups (`step` > 1 up to the last argument: key/value pairs) and
    /// the last group is short: such a command must not be split by key, or one shard's part
    /// would run while another's fails.
    pub fn key_groups_complete(&self, args: &[Bytes]) -> bool {
        match self.keys {
            Keys::Range { first, last, step } if step > 1 && last < 0 => {
                let grouped = args.len().saturating_sub(first as usize);
                grouped.is_multiple_of(step as usize)
            }
            _ => true,
        }
    }

    /// True when the command can only ever name one key.
    pub fn single_key(&self) -> bool {
        matches!(self.keys, Keys::Range { first, last, .. } if first == last)
    }

    pub fn flag_names(&self) -> Vec<&'static str> {
        flag::NAMES
            .iter()
            .filter(|(bit, _)| self.flags & bit != 0)
            .map(|(_, name)| *name)
            .collect()
    }

    /// The function that runs this command on a shard, for commands that can be sent to one.
    pub fn shard_fn(&self) -> Option<ShardFn> {
        match self.run {
            Run::Keyed { exec, .. } | Run::Local(exec) | Run::Broadcast { exec, .. } => Some(exec),
            Run::Client(_) | Run::Parent => None,
        }
    }
}

/// The wrong-arity error, with the command's full name as Redis prints it.
pub fn arity_error(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// Redis's reply to an unknown command: its name and the start of its arguments.
pub fn unknown_command_error(args: &[Bytes]) -> Reply {
    let mut text = format!(
        "ERR unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(&args[0][..args[0].len().min(128)])
    );
    for arg in args.iter().skip(1) {
        if text.len() >= 128 + 60 {
            break;
        }
        text.push_str(&format!(
            "'{}' ",
            String::from_utf8_lossy(&arg[..arg.len().min(128)])
        ));
    }
    Reply::error(text)
}

pub fn unknown_subcommand_error(parent: &str, sub: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)]),
        parent.to_ascii_uppercase()
    ))
}
