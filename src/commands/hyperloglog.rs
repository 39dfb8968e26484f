//! HyperLogLog commands (Redis's hyperloglog.c): PFADD, PFCOUNT, PFMERGE and PFDEBUG. An HLL is a
//! string in Redis's exact representation (`keyspace::hyperloglog`), so its bytes, its counts and
//! its cached cardinality are the ones Redis would have after the same commands.
//!
//! Multi-key PFCOUNT and PFMERGE with keys on several shards run as transactions: every key is
//! locked, each HLL's registers are read on its shard, merged here, and PFMERGE's write goes in
//! the transaction's last step.

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::spec::*;
use super::{wrong_type, CommandSpec, Keys};
use crate::keyspace::hyperloglog::{self as hll, Encoding, REGISTERS, SPARSE_BYTES_MAX_DEFAULT};
use crate::keyspace::{string_range, Delta, Value};
use crate::protocol::Reply;
use crate::pubsub::notify::class;
use crate::router::Txn;
use crate::server::client::Client;
use crate::shard::{Ctx, Request};

const HLL_READ: &[&str] = &["@read", "@hyperloglog", "@slow"];
const HLL_WRITE_FAST: &[&str] = &["@write", "@hyperloglog", "@fast"];
const HLL_WRITE_SLOW: &[&str] = &["@write", "@hyperloglog", "@slow"];
const HLL_DEBUG: &[&str] = &["@write", "@hyperloglog", "@admin", "@slow", "@dangerous"];

/// A sparse HLL that would grow beyond this many bytes turns dense (Redis's default
/// `hll-sparse-max-bytes`; Keel does not make it configurable).
const SPARSE_BYTES_MAX: usize = SPARSE_BYTES_MAX_DEFAULT;

const HLL: CommandSpec = CommandSpec {
    keys: KEY1,
    group: "hyperloglog",
    since: "2.8.9",
    ..BASE
};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "pfadd",
        arity: -2,
        flags: WRITE | DENYOOM | FAST,
        acl: HLL_WRITE_FAST,
        summary: "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
        complexity: "O(1) to add every element.",
        run: keyed(pfadd),
        ..HLL
    },
    CommandSpec {
        name: "pfcount",
        arity: -2,
        flags: READONLY,
        keys: ALL_KEYS,
        acl: HLL_READ,
        summary: "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
        complexity: "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.",
        run: coordinated(pfcount, pfcount_across),
        ..HLL
    },
    CommandSpec {
        name: "pfmerge",
        arity: -2,
        flags: WRITE | DENYOOM,
        keys: ALL_KEYS,
        acl: HLL_WRITE_SLOW,
        summary: "Merges one or more HyperLogLog values into a single key.",
        complexity: "O(N) to merge N HyperLogLogs, but with high constant times.",
        run: coordinated(pfmerge, pfmerge_across),
        ..HLL
    },
    CommandSpec {
        name: "pfdebug",
        arity: 3,
        flags: WRITE | DENYOOM | ADMIN,
        keys: Keys::Range {
            first: 2,
            last: 2,
            step: 1,
        },
        acl: HLL_DEBUG,
        summary: "Internal commands for debugging HyperLogLog values.",
        complexity: "N/A",
        run: keyed(pfdebug),
        ..HLL
    },
];

fn not_an_hll() -> Reply {
    Reply::error("WRONGTYPE Key is not a valid HyperLogLog string value.")
}

fn corrupt() -> Reply {
    Reply::error("INVALIDOBJ Corrupted HLL object detected")
}

/// The HLL at `key`: `Ok(None)` when missing; WRONGTYPE for another type, Redis's HLL WRONGTYPE
/// for a string that is not an HLL.
fn read_hll(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    let now = ctx.now_ms;
    match ctx.db().get(key, now).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Str { bytes, .. }) if hll::encoding_of(bytes).is_some() => {
            Ok(Some(bytes.to_bytes()))
        }
        Some(Value::Str { .. } | Value::Int(_)) => Err(not_an_hll()),
        Some(_) => Err(wrong_type()),
    }
}

/// Stores the changed HLL under `key`: whole when new (`old` is `None`), else as the byte range
/// that changed (a few bytes for a dense HLL), keeping the key's TTL.
fn write_hll(ctx: &mut Ctx, key: &[u8], old: Option<Bytes>, new: Vec<u8>) {
    let now = ctx.now_ms;
    let Some(old) = old else {
        ctx.db().insert(key, Value::raw_string(new, true), None);
        return;
    };
    let Some((offset, bytes, to_end)) = string_range::diff(&old, &new) else {
        return;
    };
    drop(old); // So that the change can reuse the value's buffer.
    let (offset, bytes) = (offset as u64, Bytes::from(bytes));
    let delta = match to_end {
        false => Delta::StrWrite { offset, bytes },
        true => Delta::StrReplaceTail { offset, bytes },
    };
    let written = ctx.db().apply(key, delta, now);
    debug_assert!(written.is_ok(), "write_hll on a non-string");
}

// ---------------------------------------------------------------------------------------------
// PFADD

/// PFADD key [element ...]: 1 when a register changed or the key was created. A corrupt HLL is
/// an error and is left unchanged.
fn pfadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let old = attempt!(read_hll(ctx, key));
    let mut hll = old.as_deref().map_or_else(hll::empty, <[u8]>::to_vec);
    let mut updated = old.is_none();
    for element in &args[2..] {
        match hll::add(&mut hll, element, SPARSE_BYTES_MAX) {
            Ok(changed) => updated |= changed,
            Err(hll::Corrupt) => return corrupt(),
        }
    }
    if updated {
        hll::invalidate_count(&mut hll);
        write_hll(ctx, key, old, hll);
        ctx.notify(class::STRING, "pfadd", key);
    }
    Reply::Int(updated as i64)
}

// ---------------------------------------------------------------------------------------------
// PFCOUNT

/// PFCOUNT key [key ...] with every key on this shard.
fn pfcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 2 {
        let mut max = Box::new([0u8; REGISTERS]);
        for key in &args[1..] {
            attempt!(merge_key(ctx, key, &mut max));
        }
        return Reply::Int(hll::estimate(&max) as i64);
    }
    let key = &args[1];
    let Some(bytes) = attempt!(read_hll(ctx, key)) else {
        return Reply::Int(0);
    };
    if let Some(count) = hll::cached_count(&bytes) {
        return Reply::Int(count as i64);
    }
    let Ok(count) = hll::count(&bytes) else {
        return corrupt();
    };
    // Cache the count in the HLL's header, as Redis does (visible in its bytes).
    let mut updated = bytes.to_vec();
    hll::store_count(&mut updated, count);
    write_hll(ctx, key, Some(bytes), updated);
    Reply::Int(count as i64)
}

/// Raises `max` to the registers of the HLL at `key` (nothing when missing); `Ok(true)` when the
/// HLL is dense.
fn merge_key(ctx: &mut Ctx, key: &[u8], max: &mut [u8; REGISTERS]) -> Result<bool, Reply> {
    let Some(bytes) = read_hll(ctx, key)? else {
        return Ok(false);
    };
    hll::merge_into(&bytes, max).map_err(|_| corrupt())?;
    Ok(hll::encoding_of(&bytes) == Some(Encoding::Dense))
}

/// One key's registers for a cross-shard plan: nil when missing, else a bulk of one byte (1 when
/// dense) then one byte per register; or the HLL errors. Private.
static REGISTERS_STEP: CommandSpec = CommandSpec {
    name: "hll-registers-step",
    arity: 2,
    flags: READONLY,
    acl: HLL_READ,
    run: keyed(registers_step),
    ..HLL
};

fn registers_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut max = [0u8; REGISTERS];
    let Some(bytes) = attempt!(read_hll(ctx, &args[1])) else {
        return Reply::Nil;
    };
    if hll::merge_into(&bytes, &mut max).is_err() {
        return corrupt();
    }
    let dense = hll::encoding_of(&bytes) == Some(Encoding::Dense);
    let mut out = Vec::with_capacity(1 + REGISTERS);
    out.push(dense as u8);
    out.extend_from_slice(&max);
    Reply::Bulk(Bytes::from(out))
}

/// Reads every key's registers under `txn`'s locks and merges them: the maximum registers and
/// whether any HLL was dense; or the first error.
async fn fetch_merged(
    txn: &Txn<'_>,
    keys: &[Bytes],
    resp3: bool,
) -> Result<(Box<[u8; REGISTERS]>, bool), Reply> {
    let reads = keys.iter().map(|key| {
        let args = vec![Bytes::from_static(b"hll-registers-step"), key.clone()];
        txn.run_for_key(key, &REGISTERS_STEP, args, resp3)
    });
    let mut max = Box::new([0u8; REGISTERS]);
    let mut dense = false;
    for reply in futures::future::join_all(reads).await {
        match reply {
            Reply::Nil => {}
            Reply::Bulk(b) if b.len() == 1 + REGISTERS => {
                dense |= b[0] == 1;
                for (m, &r) in max.iter_mut().zip(&b[1..]) {
                    *m = (*m).max(r);
                }
            }
            Reply::Error(_) => return Err(reply),
            _ => return Err(Reply::error("ERR malformed hll step reply")),
        }
    }
    Ok((max, dense))
}

fn pfcount_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let (shard, db, resp3) = (&client.shard, client.db(), client.resp3());
        let txn = Txn::lock(shard, db, &args[1..]).await;
        let merged = fetch_merged(&txn, &args[1..], resp3).await;
        txn.finish().await;
        let (max, _) = attempt!(merged);
        Reply::Int(hll::estimate(&max) as i64)
    })
}

// ---------------------------------------------------------------------------------------------
// PFMERGE

/// PFMERGE destkey [sourcekey ...] with every key on this shard. The destination is one of the
/// sources.
fn pfmerge(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut max = Box::new([0u8; REGISTERS]);
    let mut dense = false;
    for key in &args[1..] {
        dense |= attempt!(merge_key(ctx, key, &mut max));
    }
    store_merged(ctx, &args[1], dense, &max)
}

/// Raises the destination's registers to `max` (creating it), dense first if any source was;
/// the destination is always marked changed and its cached count stale, as in Redis.
fn store_merged(ctx: &mut Ctx, dst: &[u8], dense: bool, max: &[u8; REGISTERS]) -> Reply {
    let old = attempt!(read_hll(ctx, dst));
    let mut hll = old.as_deref().map_or_else(hll::empty, <[u8]>::to_vec);
    if dense && hll::make_dense(&mut hll).is_err() {
        return corrupt();
    }
    for (index, &value) in max.iter().enumerate() {
        if value > 0 && hll::raise(&mut hll, index, value, SPARSE_BYTES_MAX).is_err() {
            return corrupt();
        }
    }
    hll::invalidate_count(&mut hll);
    write_hll(ctx, dst, old, hll);
    // PFMERGE announces its destination as `pfadd`, as Redis does.
    ctx.notify(class::STRING, "pfadd", dst);
    Reply::ok()
}

/// PFMERGE's write across shards: `hll-merge-store-step dst dense(0|1) registers`. Private.
static MERGE_STORE_STEP: CommandSpec = CommandSpec {
    name: "hll-merge-store-step",
    arity: 4,
    flags: WRITE,
    acl: HLL_WRITE_SLOW,
    run: keyed(merge_store_step),
    ..HLL
};

fn merge_store_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Ok(max) = <&[u8; REGISTERS]>::try_from(args[3].as_ref()) else {
        return Reply::error("ERR malformed hll merge step");
    };
    store_merged(ctx, &args[1], args[2].as_ref() == b"1", max)
}

fn pfmerge_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let (shard, db, resp3) = (&client.shard, client.db(), client.resp3());
        let txn = Txn::lock(shard, db, &args[1..]).await;
        let (max, dense) = match fetch_merged(&txn, &args[1..], resp3).await {
            Ok(merged) => merged,
            Err(error) => {
                txn.finish().await;
                return error;
            }
        };
        let dst = &args[1];
        let step_args = vec![
            Bytes::from_static(b"hll-merge-store-step"),
            dst.clone(),
            Bytes::from_static(if dense { b"1" } else { b"0" }),
            Bytes::copy_from_slice(&max[..]),
        ];
        let write = Request {
            spec: &MERGE_STORE_STEP,
            db,
            resp3,
            args: step_args,
        };
        let mut replies = txn.run_and_finish(vec![(shard.owner_of(dst), write)]).await;
        replies
            .pop()
            .unwrap_or(Reply::error("ERR shard did not answer"))
    })
}

// ---------------------------------------------------------------------------------------------
// PFDEBUG

/// PFDEBUG GETREG|ENCODING|TODENSE|DECODE key
fn pfdebug(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (sub, key) = (args[1].to_ascii_lowercase(), &args[2]);
    let Some(bytes) = attempt!(read_hll(ctx, key)) else {
        return Reply::error("ERR The specified key does not exist");
    };
    let encoding = hll::encoding_of(&bytes);
    match sub.as_slice() {
        b"encoding" => Reply::Status(match encoding {
            Some(Encoding::Dense) => "dense",
            _ => "sparse",
        }),
        b"getreg" | b"todense" => {
            let registers = attempt!(hll::registers(&bytes).map_err(|_| corrupt()));
            let was_sparse = encoding == Some(Encoding::Sparse);
            if was_sparse {
                // Both turn a sparse HLL dense, as in Redis.
                let mut dense = bytes.to_vec();
                attempt!(hll::make_dense(&mut dense).map_err(|_| corrupt()));
                write_hll(ctx, key, Some(bytes), dense);
            }
            if sub.as_slice() == b"todense" {
                return Reply::Int(was_sparse as i64);
            }
            Reply::Array(registers.iter().map(|&r| Reply::Int(r as i64)).collect())
        }
        b"decode" => match hll::decode_sparse(&bytes) {
            Some(text) => Reply::Bulk(Bytes::from(text)),
            None => Reply::error("ERR HLL encoding is not sparse"),
        },
        _ => Reply::error(format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(&args[1])
        )),
    }
}
