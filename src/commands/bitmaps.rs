//! Bitmap commands (Redis's bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO. A bitmap is a string; bit 0 is the most significant bit of byte 0.
//!
//! Every write changes a string as "these bytes at this offset, zero-extending" (`write_range`),
//! so that setting one bit of a large bitmap logs a byte, not the bitmap.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::future::LocalBoxFuture;

use super::spec::*;
use super::strings::{get_string, read_string, write_range};
use super::{parse_i64, syntax_error, CommandSpec, Keys};
use crate::keyspace::{parse_canonical_i64, Value};
use crate::protocol::Reply;
use crate::pubsub::notify::class;
use crate::router::Txn;
use crate::server::client::Client;
use crate::shard::{Ctx, Request};

const BITMAP_READ_FAST: &[&str] = &["@read", "@bitmap", "@fast"];
const BITMAP_READ_SLOW: &[&str] = &["@read", "@bitmap", "@slow"];
const BITMAP_WRITE: &[&str] = &["@write", "@bitmap", "@slow"];

/// A bitmap command's table entry; the fields that differ are spelled out per command.
const BITMAP: CommandSpec = CommandSpec {
    keys: KEY1,
    group: "bitmap",
    ..BASE
};

/// BITOP's keys: the destination, then the sources (after the operation's name).
const BITOP_KEYS: Keys = Keys::Range {
    first: 2,
    last: -1,
    step: 1,
};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "setbit",
        arity: 4,
        flags: WRITE | DENYOOM,
        acl: BITMAP_WRITE,
        summary: "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
        since: "2.2.0",
        run: keyed(setbit),
        ..BITMAP
    },
    CommandSpec {
        name: "getbit",
        arity: 3,
        flags: READONLY | FAST,
        acl: BITMAP_READ_FAST,
        summary: "Returns a bit value by offset.",
        since: "2.2.0",
        run: keyed(getbit),
        ..BITMAP
    },
    CommandSpec {
        name: "bitcount",
        arity: -2,
        flags: READONLY,
        acl: BITMAP_READ_SLOW,
        summary: "Counts the number of set bits (population counting) in a string.",
        since: "2.6.0",
        complexity: "O(N)",
        run: keyed(bitcount),
        ..BITMAP
    },
    CommandSpec {
        name: "bitpos",
        arity: -3,
        flags: READONLY,
        acl: BITMAP_READ_SLOW,
        summary: "Finds the first set (1) or clear (0) bit in a string.",
        since: "2.8.7",
        complexity: "O(N)",
        run: keyed(bitpos),
        ..BITMAP
    },
    CommandSpec {
        name: "bitop",
        arity: -4,
        flags: WRITE | DENYOOM,
        keys: BITOP_KEYS,
        acl: BITMAP_WRITE,
        summary: "Performs bitwise operations on multiple strings, and stores the result.",
        since: "2.6.0",
        complexity: "O(N)",
        run: coordinated(bitop, bitop_across),
        ..BITMAP
    },
    CommandSpec {
        name: "bitfield",
        arity: -2,
        flags: WRITE | DENYOOM,
        acl: BITMAP_WRITE,
        summary: "Performs arbitrary bitfield integer operations on strings.",
        since: "3.2.0",
        complexity: "O(1) for each subcommand specified",
        run: keyed(bitfield),
        ..BITMAP
    },
    CommandSpec {
        name: "bitfield_ro",
        arity: -2,
        flags: READONLY | FAST,
        acl: BITMAP_READ_FAST,
        summary: "Performs arbitrary read-only bitfield integer operations on strings.",
        since: "6.0.0",
        complexity: "O(1) for each subcommand specified",
        run: keyed(bitfield_ro),
        ..BITMAP
    },
];

// ---------------------------------------------------------------------------------------------
// Limits

/// The longest string a bitmap write may make: the configured `proto-max-bulk-len` (so the
/// highest bit offset is 8 × that − 1: 2^32 − 1 by default, as in Redis).
fn string_bytes_max(ctx: &Ctx) -> usize {
    ctx.shard.config.borrow().proto_max_bulk_len
}

// ---------------------------------------------------------------------------------------------
// Arguments

fn bad_offset() -> Reply {
    Reply::error("ERR bit offset is not an integer or out of range")
}

/// A bit offset argument below the string size limit; with `width`, `#N` means N × width (the
/// N-th field of that width, BITFIELD's form).
fn parse_bit_offset(arg: &[u8], width: Option<u32>, bytes_max: usize) -> Result<u64, Reply> {
    let (digits, scale) = match (arg, width) {
        ([b'#', rest @ ..], Some(width)) if !rest.is_empty() => (rest, width as i64),
        _ => (arg, 1),
    };
    let offset = parse_canonical_i64(digits)
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(bad_offset)?;
    if offset < 0 || (offset as u64 >> 3) >= bytes_max as u64 {
        return Err(bad_offset());
    }
    Ok(offset as u64)
}

/// BITCOUNT's and BITPOS's range unit.
#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Byte,
    Bit,
}

fn parse_unit(arg: &[u8]) -> Result<Unit, Reply> {
    match arg.to_ascii_uppercase().as_slice() {
        b"BYTE" => Ok(Unit::Byte),
        b"BIT" => Ok(Unit::Bit),
        _ => Err(syntax_error()),
    }
}

/// An inclusive range of `len` units with Redis's negative indexes (from the end) and clamping;
/// `None` when empty.
fn clamp_range(start: i64, end: i64, len: i64) -> Option<(u64, u64)> {
    let from_end = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (start, end) = (from_end(start), from_end(end).min(len - 1));
    (start <= end).then_some((start as u64, end as u64))
}

/// Whether `key` holds a string in the `int` encoding, which a bitmap write turns `raw` even when
/// no bit changes (as Redis does).
fn int_encoded(ctx: &mut Ctx, key: &[u8]) -> bool {
    let now = ctx.now_ms;
    matches!(
        ctx.db().get(key, now).map(|e| &e.value),
        Some(Value::Int(_))
    )
}

/// The value of bit `pos` (0 beyond the end).
fn bit_at(bytes: &[u8], pos: u64) -> bool {
    let byte = bytes.get((pos >> 3) as usize).copied().unwrap_or(0);
    byte & (0x80 >> (pos & 7)) != 0
}

// ---------------------------------------------------------------------------------------------
// SETBIT, GETBIT

fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let offset = attempt!(parse_bit_offset(&args[2], None, string_bytes_max(ctx)));
    let on = match args[3].as_ref() {
        b"0" => false,
        b"1" => true,
        _ => return Reply::error("ERR bit is not an integer or out of range"),
    };
    let byte_at = (offset >> 3) as usize;
    let mask = 0x80u8 >> (offset & 7);
    let (old_byte, len) = match attempt!(get_string(ctx, key)) {
        Some(bytes) => (bytes.get(byte_at).copied().unwrap_or(0), Some(bytes.len())),
        None => (0, None),
    };
    let old = old_byte & mask != 0;
    let grows = len.is_none_or(|len| len <= byte_at);
    if grows || old != on || int_encoded(ctx, key) {
        let new_byte = if on {
            old_byte | mask
        } else {
            old_byte & !mask
        };
        write_range(ctx, key, byte_at, &[new_byte]);
    }
    // Redis 7.0 announces SETBIT when the bit changed or the string was created or grew.
    if grows || old != on {
        ctx.notify(class::STRING, "setbit", key);
    }
    Reply::Int(old as i64)
}

fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let offset = attempt!(parse_bit_offset(&args[2], None, string_bytes_max(ctx)));
    let bytes = attempt!(read_string(ctx, &args[1])).unwrap_or_default();
    Reply::Int(bit_at(&bytes, offset) as i64)
}

// ---------------------------------------------------------------------------------------------
// BITCOUNT, BITPOS

/// Optional `start end [BYTE|BIT]` of BITCOUNT. Arguments are checked before the key is looked
/// up, so bad arguments are an error even for a missing key (as in Redis 7.2).
fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let range = match &args[2..] {
        [] => None,
        [start, end, unit @ ..] if unit.len() <= 1 => {
            let start = attempt!(parse_i64(start));
            let end = attempt!(parse_i64(end));
            let unit = match unit.first() {
                Some(arg) => attempt!(parse_unit(arg)),
                None => Unit::Byte,
            };
            Some((start, end, unit))
        }
        _ => return syntax_error(),
    };
    let bytes = attempt!(read_string(ctx, &args[1])).unwrap_or_default();
    let (first_bit, last_bit) = match range {
        None if bytes.is_empty() => return Reply::Int(0),
        None => (0, bytes.len() as u64 * 8 - 1),
        Some((start, end, _)) if start < 0 && end < 0 && start > end => return Reply::Int(0),
        Some((start, end, unit)) => {
            let len = bytes.len() as i64 * if unit == Unit::Bit { 8 } else { 1 };
            match (clamp_range(start, end, len), unit) {
                (None, _) => return Reply::Int(0),
                (Some((s, e)), Unit::Bit) => (s, e),
                (Some((s, e)), Unit::Byte) => (s * 8, e * 8 + 7),
            }
        }
    };
    Reply::Int(count_ones(&bytes, first_bit, last_bit) as i64)
}

/// Set bits from bit `first` to bit `last` inclusive (both within `bytes`).
fn count_ones(bytes: &[u8], first: u64, last: u64) -> u64 {
    let (first_byte, last_byte) = ((first >> 3) as usize, (last >> 3) as usize);
    let span = &bytes[first_byte..=last_byte];
    let mut ones = popcount(span);
    // Take off the bits of the edge bytes that lie outside the range.
    let before = span[0] & !(0xffu8 >> (first & 7));
    let after = span[span.len() - 1] & ((1u16 << (7 - (last & 7))) - 1) as u8;
    ones -= (before.count_ones() + after.count_ones()) as u64;
    ones
}

fn popcount(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut ones: u64 = (&mut words)
        .map(|w| u64::from_ne_bytes(w.try_into().expect("8 bytes")).count_ones() as u64)
        .sum();
    ones += words
        .remainder()
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum::<u64>();
    ones
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let bit = match attempt!(parse_i64(&args[2])) {
        0 => false,
        1 => true,
        _ => return Reply::error("ERR The bit argument must be 1 or 0."),
    };
    if args.len() > 6 {
        return syntax_error();
    }
    let start = match args.get(3) {
        Some(arg) => attempt!(parse_i64(arg)),
        None => 0,
    };
    let unit = match args.get(5) {
        Some(arg) => attempt!(parse_unit(arg)),
        None => Unit::Byte,
    };
    let end = match args.get(4) {
        Some(arg) => Some(attempt!(parse_i64(arg))),
        None => None,
    };
    let Some(bytes) = attempt!(read_string(ctx, &args[1])) else {
        // A missing key is all clear bits: the first clear bit is 0, there is no set bit.
        return Reply::Int(if bit { -1 } else { 0 });
    };
    let len = bytes.len() as i64 * if unit == Unit::Bit { 8 } else { 1 };
    let Some((start, end_clamped)) = clamp_range(start, end.unwrap_or(len - 1), len) else {
        return Reply::Int(-1);
    };
    let (first_bit, last_bit) = match unit {
        Unit::Bit => (start, end_clamped),
        Unit::Byte => (start * 8, end_clamped * 8 + 7),
    };
    match find_bit(&bytes, bit, first_bit, last_bit) {
        Some(pos) => Reply::Int(pos as i64),
        // Without an end, the string reads as followed by clear bits.
        None if !bit && end.is_none() => Reply::Int(bytes.len() as i64 * 8),
        None => Reply::Int(-1),
    }
}

/// The first bit equal to `bit` from bit `first` to bit `last` inclusive.
fn find_bit(bytes: &[u8], bit: bool, first: u64, last: u64) -> Option<u64> {
    let skip = if bit { 0x00 } else { 0xff };
    let mut pos = first;
    while pos <= last {
        if pos & 7 == 0 && pos + 7 <= last {
            // Skip whole bytes that cannot hold the bit.
            let from = (pos >> 3) as usize;
            let to = ((last + 1) >> 3) as usize;
            let skipped = bytes[from..to]
                .iter()
                .position(|&b| b != skip)
                .unwrap_or(to - from);
            pos += skipped as u64 * 8;
            if skipped == to - from {
                continue;
            }
        }
        if bit_at(bytes, pos) == bit {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// BITOP

#[derive(Clone, Copy)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// The operation, checked against the number of sources.
fn parse_bitop(args: &[Bytes]) -> Result<BitOp, Reply> {
    let op = match args[1].to_ascii_uppercase().as_slice() {
        b"AND" => BitOp::And,
        b"OR" => BitOp::Or,
        b"XOR" => BitOp::Xor,
        b"NOT" => BitOp::Not,
        _ => return Err(syntax_error()),
    };
    if matches!(op, BitOp::Not) && args.len() != 4 {
        return Err(Reply::error(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    Ok(op)
}

/// The result of `op` over the sources (missing keys read as empty strings), as long as the
/// longest; shorter sources read as zero-padded.
fn combine(op: BitOp, sources: &[Bytes]) -> Vec<u8> {
    let len = sources.iter().map(Bytes::len).max().unwrap_or(0);
    let byte = |s: &Bytes, i: usize| s.get(i).copied().unwrap_or(0);
    let mut out = match op {
        BitOp::Not => return sources[0].iter().map(|b| !b).collect(),
        _ => sources[0].to_vec(),
    };
    out.resize(len, 0);
    for source in &sources[1..] {
        for (i, o) in out.iter_mut().enumerate() {
            match op {
                BitOp::And => *o &= byte(source, i),
                BitOp::Or => *o |= byte(source, i),
                BitOp::Xor => *o ^= byte(source, i),
                BitOp::Not => unreachable!("NOT has one source"),
            }
        }
    }
    out
}

/// Replaces `dst` with `bytes` (deleting it when empty), without TTL; replies the length.
fn store_result(ctx: &mut Ctx, dst: &[u8], bytes: Vec<u8>) -> Reply {
    let len = bytes.len() as i64;
    if bytes.is_empty() {
        let now = ctx.now_ms;
        if ctx.db().contains(dst, now) {
            ctx.db().delete(dst);
            ctx.notify(class::GENERIC, "del", dst);
        }
    } else {
        ctx.db().insert(dst, Value::raw_string(bytes, true), None);
        ctx.notify(class::STRING, "set", dst);
    }
    Reply::Int(len)
}

/// BITOP op destkey key [key ...] with every key on this shard.
fn bitop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let op = attempt!(parse_bitop(args));
    let mut sources = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        sources.push(attempt!(read_string(ctx, key)).unwrap_or_default());
    }
    store_result(ctx, &args[2], combine(op, &sources))
}

/// A source of a cross-shard BITOP: the string (empty when missing) or WRONGTYPE. Private.
static READ_STEP: CommandSpec = CommandSpec {
    name: "bitop-read-step",
    arity: 2,
    flags: READONLY,
    acl: BITMAP_READ_SLOW,
    run: keyed(read_step),
    ..BITMAP
};

/// The write of a cross-shard BITOP: `bitop-store-step dst bytes`. Private.
static STORE_STEP: CommandSpec = CommandSpec {
    name: "bitop-store-step",
    arity: 3,
    flags: WRITE,
    acl: BITMAP_WRITE,
    run: keyed(store_step),
    ..BITMAP
};

fn read_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Bulk(attempt!(read_string(ctx, &args[1])).unwrap_or_default())
}

fn store_step(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    store_result(ctx, &args[1], args[2].to_vec())
}

/// BITOP with keys on several shards: every key locked, the sources read on their shards, the
/// result computed here and written in the transaction's last step.
fn bitop_across(client: &mut Client, args: Vec<Bytes>) -> LocalBoxFuture<'_, Reply> {
    Box::pin(async move {
        let op = attempt!(parse_bitop(&args));
        let (shard, db, resp3) = (&client.shard, client.db(), client.resp3());
        let txn = Txn::lock(shard, db, &args[2..]).await;
        let reads = args[3..].iter().map(|key| {
            let step_args = vec![Bytes::from_static(b"bitop-read-step"), key.clone()];
            txn.run_for_key(key, &READ_STEP, step_args, resp3)
        });
        let mut sources = Vec::with_capacity(args.len() - 3);
        for reply in futures::future::join_all(reads).await {
            match reply {
                Reply::Bulk(bytes) => sources.push(bytes),
                other => {
                    txn.finish().await;
                    return match other {
                        Reply::Error(_) => other,
                        _ => Reply::error("ERR malformed bitop step reply"),
                    };
                }
            }
        }
        let dst = &args[2];
        let result = Bytes::from(combine(op, &sources));
        let write = Request {
            spec: &STORE_STEP,
            db,
            resp3,
            args: vec![Bytes::from_static(b"bitop-store-step"), dst.clone(), result],
        };
        let mut replies = txn.run_and_finish(vec![(shard.owner_of(dst), write)]).await;
        replies
            .pop()
            .unwrap_or(Reply::error("ERR shard did not answer"))
    })
}

// ---------------------------------------------------------------------------------------------
// BITFIELD, BITFIELD_RO

/// What SET and INCRBY do when the result does not fit the field.
#[derive(Clone, Copy)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// A field: `i<bits>` (1..=64) or `u<bits>` (1..=63) at a bit offset.
#[derive(Clone, Copy)]
struct Field {
    signed: bool,
    bits: u32,
    offset: u64,
}

enum FieldOp {
    Get(Field),
    Set(Field, i64, Overflow),
    IncrBy(Field, i64, Overflow),
}

fn parse_field_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let invalid = || {
        Reply::error(
            "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let (signed, digits) = match arg {
        [b'i', rest @ ..] => (true, rest),
        [b'u', rest @ ..] => (false, rest),
        _ => return Err(invalid()),
    };
    let bits_max = if signed { 64 } else { 63 };
    match parse_canonical_i64(digits) {
        Some(bits) if (1..=bits_max).contains(&bits) => Ok((signed, bits as u32)),
        _ => Err(invalid()),
    }
}

/// Parses every subcommand before anything runs, with Redis's errors in Redis's order.
fn parse_bitfield(args: &[Bytes], readonly: bool, bytes_max: usize) -> Result<Vec<FieldOp>, Reply> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 2;
    while i < args.len() {
        let rest = args.len() - i - 1;
        let name = args[i].to_ascii_uppercase();
        let needs = match name.as_slice() {
            b"GET" if rest >= 2 => 2,
            b"SET" | b"INCRBY" if rest >= 3 => 3,
            b"OVERFLOW" if rest >= 1 => {
                overflow = match args[i + 1].to_ascii_uppercase().as_slice() {
                    b"WRAP" => Overflow::Wrap,
                    b"SAT" => Overflow::Sat,
                    b"FAIL" => Overflow::Fail,
                    _ => return Err(Reply::error("ERR Invalid OVERFLOW type specified")),
                };
                i += 2;
                continue;
            }
            _ => return Err(syntax_error()),
        };
        let (signed, bits) = parse_field_type(&args[i + 1])?;
        let offset = parse_bit_offset(&args[i + 2], Some(bits), bytes_max)?;
        let field = Field {
            signed,
            bits,
            offset,
        };
        if needs == 2 {
            ops.push(FieldOp::Get(field));
        } else {
            if readonly {
                return Err(Reply::error(
                    "ERR BITFIELD_RO only supports the GET subcommand",
                ));
            }
            let n = parse_i64(&args[i + 3])?;
            ops.push(match name.as_slice() {
                b"SET" => FieldOp::Set(field, n, overflow),
                _ => FieldOp::IncrBy(field, n, overflow),
            });
        }
        i += 1 + needs;
    }
    Ok(ops)
}

/// The string's bytes with the changes a BITFIELD made so far laid over them (so that later
/// subcommands see earlier writes), beyond the end reading as zeros.
struct Overlay {
    base: Bytes,
    changed: BTreeMap<usize, u8>,
}

impl Overlay {
    fn byte(&self, i: usize) -> u8 {
        match self.changed.get(&i) {
            Some(&b) => b,
            None => self.base.get(i).copied().unwrap_or(0),
        }
    }

    /// The field's bits, as the low bits of a u64 (most significant first in the string).
    fn read(&self, field: Field) -> u64 {
        (field.offset..field.offset + field.bits as u64).fold(0, |acc, pos| {
            let byte = self.byte((pos >> 3) as usize);
            (acc << 1) | ((byte >> (7 - (pos & 7))) & 1) as u64
        })
    }

    /// Whether a written byte differs from the base (missing base bytes are zeros).
    fn differs(&self) -> bool {
        self.changed
            .iter()
            .any(|(&at, &b)| self.base.get(at).copied().unwrap_or(0) != b)
    }

    fn write(&mut self, field: Field, bits: u64) {
        for k in 0..field.bits as u64 {
            let pos = field.offset + k;
            let at = (pos >> 3) as usize;
            let mask = 0x80u8 >> (pos & 7);
            let on = (bits >> (field.bits as u64 - 1 - k)) & 1 == 1;
            let byte = self.byte(at);
            self.changed
                .insert(at, if on { byte | mask } else { byte & !mask });
        }
    }

    /// The changed bytes as runs of consecutive bytes: (offset, bytes).
    fn runs(&self) -> Vec<(usize, Vec<u8>)> {
        let mut runs: Vec<(usize, Vec<u8>)> = Vec::new();
        for (&at, &byte) in &self.changed {
            match runs.last_mut() {
                Some((start, bytes)) if *start + bytes.len() == at => bytes.push(byte),
                _ => runs.push((at, vec![byte])),
            }
        }
        runs
    }
}

impl Field {
    /// The field's value from its bits (sign-extended when signed).
    fn value(self, bits: u64) -> i64 {
        if self.signed && self.bits < 64 && bits >> (self.bits - 1) & 1 == 1 {
            (bits | (u64::MAX << self.bits)) as i64
        } else {
            bits as i64
        }
    }

    fn range(self) -> (i128, i128) {
        if self.signed {
            (-(1i128 << (self.bits - 1)), (1i128 << (self.bits - 1)) - 1)
        } else {
            (0, (1i128 << self.bits) - 1)
        }
    }

    /// `value` made to fit the field as `overflow` says; `None` for FAIL when it does not fit.
    fn fit(self, value: i128, overflow: Overflow) -> Option<i64> {
        let (min, max) = self.range();
        if (min..=max).contains(&value) {
            return Some(value as i64);
        }
        match overflow {
            Overflow::Fail => None,
            Overflow::Sat => Some(if value > max { max } else { min } as i64),
            Overflow::Wrap => {
                let low = (value as u128 & ((1u128 << self.bits) - 1)) as u64;
                Some(self.value(low))
            }
        }
    }

    fn mask(self) -> u64 {
        u64::MAX >> (64 - self.bits)
    }
}

/// Runs the subcommands over the overlay; the reply has one element per GET, SET and INCRBY.
fn run_fields(overlay: &mut Overlay, ops: &[FieldOp]) -> Vec<Reply> {
    ops.iter()
        .map(|op| match *op {
            FieldOp::Get(field) => Reply::Int(field.value(overlay.read(field))),
            FieldOp::Set(field, n, overflow) => {
                let old = field.value(overlay.read(field));
                // An unsigned field takes the argument's 64 bits as unsigned, as Redis does.
                let wanted = if field.signed {
                    n as i128
                } else {
                    n as u64 as i128
                };
                match field.fit(wanted, overflow) {
                    Some(new) => {
                        overlay.write(field, new as u64 & field.mask());
                        Reply::Int(old)
                    }
                    None => Reply::Nil,
                }
            }
            FieldOp::IncrBy(field, n, overflow) => {
                let old = field.value(overlay.read(field));
                let old = if field.signed {
                    old as i128
                } else {
                    old as u64 as i128
                };
                match field.fit(old + n as i128, overflow) {
                    Some(new) => {
                        overlay.write(field, new as u64 & field.mask());
                        Reply::Int(new)
                    }
                    None => Reply::Nil,
                }
            }
        })
        .collect()
}

fn bitfield(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bitfield_generic(ctx, args, false)
}

fn bitfield_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bitfield_generic(ctx, args, true)
}

fn bitfield_generic(ctx: &mut Ctx, args: &[Bytes], readonly: bool) -> Reply {
    let key = &args[1];
    let ops = attempt!(parse_bitfield(args, readonly, string_bytes_max(ctx)));
    // The string must reach the last bit any SET or INCRBY names, even one that FAILs (Redis
    // grows it before running them).
    let len_needed = ops
        .iter()
        .filter_map(|op| match op {
            FieldOp::Set(f, ..) | FieldOp::IncrBy(f, ..) => {
                Some(((f.offset + f.bits as u64 - 1) >> 3) as usize + 1)
            }
            FieldOp::Get(_) => None,
        })
        .max();
    let base = match len_needed {
        None => attempt!(read_string(ctx, key)),
        Some(_) => attempt!(get_string(ctx, key)),
    };
    let len = base.as_ref().map(Bytes::len);
    let mut overlay = Overlay {
        base: base.unwrap_or_default(),
        changed: BTreeMap::new(),
    };
    let replies = run_fields(&mut overlay, &ops);
    // Redis 7.0 announces `setbit` when a SET or INCRBY created the string or changed a bit
    // (growing it with zeros alone, as a FAILed INCRBY does, is no change).
    let changed = len_needed.is_some() && (len.is_none() || overlay.differs());
    if let Some(len_needed) = len_needed {
        let runs = overlay.runs();
        drop(overlay); // Let the writes change the string in place.
        if len.is_none_or(|len| len < len_needed) || int_encoded(ctx, key) {
            write_range(ctx, key, len_needed, &[]);
        }
        for (at, bytes) in runs {
            write_range(ctx, key, at, &bytes);
        }
    }
    if changed {
        ctx.notify(class::STRING, "setbit", key);
    }
    Reply::Array(replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(signed: bool, bits: u32) -> Field {
        Field {
            signed,
            bits,
            offset: 0,
        }
    }

    #[test]
    fn fields_wrap_saturate_and_fail_as_redis() {
        let i8f = field(true, 8);
        assert_eq!(i8f.fit(200, Overflow::Wrap), Some(-56));
        assert_eq!(i8f.fit(200, Overflow::Sat), Some(127));
        assert_eq!(i8f.fit(-200, Overflow::Sat), Some(-128));
        assert_eq!(i8f.fit(200, Overflow::Fail), None);
        let u8f = field(false, 8);
        assert_eq!(u8f.fit(u64::MAX as i128, Overflow::Sat), Some(255));
        assert_eq!(u8f.fit(-1, Overflow::Sat), Some(0));
        assert_eq!(u8f.fit(256, Overflow::Wrap), Some(0));
        let i64f = field(true, 64);
        assert_eq!(
            i64f.fit(i64::MAX as i128 + 1, Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(field(false, 63).fit(1 << 63, Overflow::Sat), Some(i64::MAX));
    }

    #[test]
    fn count_ones_trims_the_edge_bytes() {
        let bytes = [0xff, 0xff, 0xff];
        assert_eq!(count_ones(&bytes, 0, 23), 24);
        assert_eq!(count_ones(&bytes, 3, 3), 1);
        assert_eq!(count_ones(&bytes, 5, 17), 13);
    }

    #[test]
    fn find_bit_skips_whole_bytes_and_stops_at_the_end() {
        let mut bytes = vec![0u8; 100];
        bytes[77] = 0x01;
        assert_eq!(find_bit(&bytes, true, 0, 799), Some(77 * 8 + 7));
        assert_eq!(find_bit(&bytes, true, 3, 77 * 8 + 6), None);
        assert_eq!(find_bit(&[0xff, 0xfe], false, 0, 15), Some(15));
        assert_eq!(find_bit(&[0xff, 0xff], false, 0, 15), None);
    }
}
