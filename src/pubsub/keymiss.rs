//! Which key lookups of a command announce a `keymiss` event when the key is missing.
//!
//! Redis fires `keymiss` from its read lookups (`lookupKeyRead*`), not from the lookups a write
//! makes before changing a key. So read-only commands announce a miss for each missing key they
//! name (EXISTS, TYPE and TTL included), except the introspection that looks without announcing
//! (OBJECT, MEMORY USAGE); and a few writes announce misses of the keys they only read: the
//! sources of the *STORE commands, BITOP, COPY and SORT, the key of GETDEL, GETEX, GETSET and
//! SET ... GET, every key of PFMERGE. (Checked against redis-server 7.0.15.)
//!
//! Keel's cross-shard plans run private steps; those that read a key on behalf of a command that
//! announces misses are read-only steps and follow the read rule, while the ones that only check
//! a key on behalf of a write (LMOVE's peek, MSETNX's count, RENAME's dump) are listed as silent.

use bytes::Bytes;

use crate::commands::spec::READONLY;
use crate::commands::CommandSpec;

/// When a command's misses are known: before it runs (a write, which may create or delete the
/// keys it reads) or after (a read, which changes nothing, so that the misses follow the
/// `expired` events of its lookups as in Redis).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Phase {
    Before,
    /// Before, announcing only the first miss: the command refuses at it (XREADGROUP's NOGROUP).
    BeforeFirstMiss,
    After,
}

/// The argument indexes of the keys `spec` reads with a miss-announcing lookup, and when to look.
pub fn read_keys(spec: &CommandSpec, args: &[Bytes]) -> Option<(Phase, Vec<usize>)> {
    let keys = || spec.key_indexes(args);
    let first = || keys().into_iter().take(1).collect();
    let all_but_first = || keys().into_iter().skip(1).collect();
    let before = match spec.name {
        // Introspection, and steps that check a key for a write that announces no miss.
        "object|encoding" | "object|freq" | "object|idletime" | "object|refcount"
        | "memory|usage" | "exists-step" | "dump-step" | "msetnx" | "list-peek-step"
        | "list-len-step" | "zset-card-step" => return None,
        "sort-ro-step" | "sort-source-step" => return Some((Phase::After, first())),
        // `xread-step count key... id...`: the keys are the first half after the count. Redis's
        // XREAD looks each key up twice (to resolve its ID, then to read), announcing two misses.
        "xread-step" => {
            let streams = 2..2 + args.len().saturating_sub(2) / 2;
            return Some((Phase::After, streams.clone().chain(streams).collect()));
        }
        // `xreadgroup-step count group consumer noack key... id...`.
        "xreadgroup-step" => {
            let streams = 5..5 + args.len().saturating_sub(5) / 2;
            return Some((Phase::BeforeFirstMiss, streams.collect()));
        }
        "getdel" | "getex" | "getset" | "copy" | "sort-step" | "georadius"
        | "georadiusbymember" => first(),
        "set" if args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get")) => first(),
        "sunionstore" | "sinterstore" | "sdiffstore" | "zunionstore" | "zinterstore"
        | "zdiffstore" | "zrangestore" | "geosearchstore" | "bitop" => all_but_first(),
        // ZUNIONSTORE & co. on one shard: the store step's first key is the destination.
        "zset-algebra-step" if spec.is_write() => all_but_first(),
        "pfmerge" => keys(),
        _ if spec.flags & READONLY != 0 => return Some((Phase::After, keys())),
        _ => return None,
    };
    Some((Phase::Before, before))
}
