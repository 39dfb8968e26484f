//! Redis's HyperLogLog string representation, byte for byte, so that an HLL moves between Keel and
//! Redis (GET/SET, DUMP/RESTORE) and counts the same.
//!
//! Layout: a 16-byte header (`HYLL`, the encoding byte, 3 unused bytes, the cached cardinality as
//! a little-endian u64 whose top bit marks the cache stale), then 16384 6-bit registers, either
//!
//! - dense: packed least significant bit first, 12288 bytes; or
//! - sparse: run-length opcodes, `00xxxxxx` (1..=64 zero registers), `01xxxxxx yyyyyyyy` (1..=16384
//!   zero registers, 14 bits) and `1vvvvvxx` (1..=4 registers of value 1..=32).
//!
//! A sparse HLL turns dense when a register needs a value above 32 or when growing would take it
//! beyond `sparse_bytes_max` bytes (Redis's `hll-sparse-max-bytes`). Every step that decides the
//! exact bytes (how a run is split, which neighbours are merged, when to turn dense) follows
//! Redis's algorithm, because the bytes are visible to clients.

/// Bits of the hash that pick a register (Redis's HLL_P).
const INDEX_BITS: u32 = 14;
/// The remaining hash bits, whose run of trailing zeros is counted (HLL_Q).
const PATTERN_BITS: usize = 64 - INDEX_BITS as usize;
pub const REGISTERS: usize = 1 << INDEX_BITS;
const REGISTER_BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << REGISTER_BITS) - 1;
pub const HEADER_BYTES: usize = 16;
/// The exact length of a dense HLL.
pub const DENSE_BYTES: usize = HEADER_BYTES + (REGISTERS * REGISTER_BITS).div_ceil(8);
/// Redis's default `hll-sparse-max-bytes`: a sparse HLL that would grow beyond this turns dense.
pub const SPARSE_BYTES_MAX_DEFAULT: usize = 3000;

const MAGIC: &[u8; 4] = b"HYLL";
const ENCODING_AT: usize = 4;
const CARD_AT: usize = 8;
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
/// The top bit of the cardinality's last byte: set when the cached value is stale.
const CARD_STALE_BIT: u8 = 1 << 7;

/// Seed Redis gives MurmurHash64A for HLL elements.
const HASH_SEED: u64 = 0xadc8_3b19;

const SPARSE_VAL_VALUE_MAX: u8 = 32;
const SPARSE_VAL_RUN_MAX: usize = 4;
const SPARSE_ZERO_RUN_MAX: usize = 64;
const SPARSE_XZERO_RUN_MAX: usize = REGISTERS;
/// How many opcodes after an update are scanned for adjacent equal values to merge.
const SPARSE_MERGE_SCAN_OPCODES: usize = 5;

/// 0.5 / ln(2): the estimator's constant for an infinite number of registers.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// A string that is an HLL by its header whose registers cannot be decoded.
#[derive(Debug, PartialEq)]
pub struct Corrupt;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Encoding {
    Dense,
    Sparse,
}

/// The encoding of `bytes` if it is an HLL by Redis's checks (magic, known encoding, exact dense
/// length); `None` for any other string.
pub fn encoding_of(bytes: &[u8]) -> Option<Encoding> {
    if bytes.len() < HEADER_BYTES || &bytes[..4] != MAGIC {
        return None;
    }
    match bytes[ENCODING_AT] {
        DENSE if bytes.len() == DENSE_BYTES => Some(Encoding::Dense),
        SPARSE => Some(Encoding::Sparse),
        _ => None,
    }
}

/// A new, empty HLL: sparse, all registers zero, cached cardinality 0 (valid).
pub fn empty() -> Vec<u8> {
    let mut hll = vec![0; HEADER_BYTES];
    hll[..4].copy_from_slice(MAGIC);
    hll[ENCODING_AT] = SPARSE;
    push_zero_run(&mut hll, REGISTERS);
    hll
}

// ---------------------------------------------------------------------------------------------
// Hashing

/// MurmurHash64A (Austin Appleby), reading 8-byte blocks little-endian as Redis does on x86-64.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let mut k = u64::from_le_bytes(block.try_into().expect("8-byte block"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate() {
            h ^= (byte as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element updates and the value it offers: one more than the trailing zeros of
/// the hash's upper bits (at most `PATTERN_BITS + 1`).
pub fn register_for(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, HASH_SEED);
    let index = (hash as usize) & (REGISTERS - 1);
    let pattern = (hash >> INDEX_BITS) | (1 << PATTERN_BITS);
    (index, pattern.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------------------------------------
// The cached cardinality

/// The cached cardinality, unless stale.
pub fn cached_count(hll: &[u8]) -> Option<u64> {
    let card: [u8; 8] = hll[CARD_AT..HEADER_BYTES].try_into().ok()?;
    (card[7] & CARD_STALE_BIT == 0).then(|| u64::from_le_bytes(card))
}

pub fn store_count(hll: &mut [u8], count: u64) {
    hll[CARD_AT..HEADER_BYTES].copy_from_slice(&count.to_le_bytes());
}

/// Marks the cache stale, leaving the old value's other bits as they are (as Redis does).
pub fn invalidate_count(hll: &mut [u8]) {
    hll[HEADER_BYTES - 1] |= CARD_STALE_BIT;
}

// ---------------------------------------------------------------------------------------------
// Dense registers

fn dense_get(registers: &[u8], index: usize) -> u8 {
    let bit = index * REGISTER_BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let low = registers[byte] as u16;
    let high = registers.get(byte + 1).copied().unwrap_or(0) as u16;
    (((low | high << 8) >> shift) as u8) & REGISTER_MAX
}

fn dense_put(registers: &mut [u8], index: usize, value: u8) {
    let bit = index * REGISTER_BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let mask = (REGISTER_MAX as u16) << shift;
    let word = (value as u16) << shift;
    registers[byte] = (registers[byte] & !(mask as u8)) | word as u8;
    if let Some(next) = registers.get_mut(byte + 1) {
        *next = (*next & !((mask >> 8) as u8)) | (word >> 8) as u8;
    }
}

/// Raises register `index` of a dense HLL to `value`; true if it changed.
fn dense_raise(hll: &mut [u8], index: usize, value: u8) -> bool {
    let registers = &mut hll[HEADER_BYTES..];
    if dense_get(registers, index) >= value {
        return false;
    }
    dense_put(registers, index, value);
    true
}

// ---------------------------------------------------------------------------------------------
// Sparse opcodes

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    /// A run of zero registers, as a one-byte ZERO (`long: false`) or two-byte XZERO opcode.
    Zeros { run: usize, long: bool },
    /// A run of registers holding `value`.
    Val { value: u8, run: usize },
}

impl Op {
    /// The opcode at the start of `bytes`, or `None` when it is cut short.
    fn decode(bytes: &[u8]) -> Option<Op> {
        let first = *bytes.first()?;
        Some(match first >> 6 {
            0b00 => Op::Zeros {
                run: (first & 0x3f) as usize + 1,
                long: false,
            },
            0b01 => Op::Zeros {
                run: ((((first & 0x3f) as usize) << 8) | *bytes.get(1)? as usize) + 1,
                long: true,
            },
            _ => Op::Val {
                value: ((first >> 2) & 0x1f) + 1,
                run: (first & 0x3) as usize + 1,
            },
        })
    }

    fn bytes(self) -> usize {
        match self {
            Op::Zeros { long: true, .. } => 2,
            _ => 1,
        }
    }

    fn run(self) -> usize {
        match self {
            Op::Zeros { run, .. } | Op::Val { run, .. } => run,
        }
    }
}

fn val_opcode(value: u8, run: usize) -> u8 {
    debug_assert!((1..=SPARSE_VAL_VALUE_MAX).contains(&value));
    debug_assert!((1..=SPARSE_VAL_RUN_MAX).contains(&run));
    0x80 | ((value - 1) << 2) | (run - 1) as u8
}

/// Appends one opcode for `run` zero registers: ZERO when it fits, else XZERO.
fn push_zero_run(out: &mut Vec<u8>, run: usize) {
    debug_assert!((1..=SPARSE_XZERO_RUN_MAX).contains(&run));
    if run <= SPARSE_ZERO_RUN_MAX {
        out.push((run - 1) as u8);
    } else {
        out.push(0x40 | ((run - 1) >> 8) as u8);
        out.push((run - 1) as u8);
    }
}

/// Walks a sparse HLL's opcodes in order: (position, first register, opcode). Stops at the first
/// opcode that is cut short; callers check that the runs cover exactly `REGISTERS`.
fn sparse_ops(hll: &[u8]) -> impl Iterator<Item = (usize, usize, Op)> + '_ {
    let mut pos = HEADER_BYTES;
    let mut first = 0;
    std::iter::from_fn(move || {
        let op = Op::decode(hll.get(pos..)?)?;
        let item = (pos, first, op);
        pos += op.bytes();
        first += op.run();
        Some(item)
    })
}

/// Calls `each(first register, run, value)` for every run; fails unless the runs cover exactly
/// the registers. An XZERO cut short by the end of the string counts as Redis counts it, with
/// the string's terminating zero for its second byte: `APPEND` of one byte to a full HLL makes it
/// corrupt.
fn for_each_run(hll: &[u8], mut each: impl FnMut(usize, usize, u8)) -> Result<(), Corrupt> {
    let (mut covered, mut end) = (0, HEADER_BYTES);
    for (pos, first, op) in sparse_ops(hll) {
        let (run, value) = match op {
            Op::Zeros { run, .. } => (run, 0),
            Op::Val { value, run } => (run, value),
        };
        if first + run > REGISTERS {
            return Err(Corrupt);
        }
        each(first, run, value);
        (covered, end) = (first + run, pos + op.bytes());
    }
    if let Some(&cut_short) = hll.get(end) {
        covered += (((cut_short & 0x3f) as usize) << 8) + 1;
    }
    if covered == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Rewrites a sparse HLL as dense, keeping its header (and cached cardinality).
fn sparse_to_dense(hll: &mut Vec<u8>) -> Result<(), Corrupt> {
    let mut dense = vec![0; DENSE_BYTES];
    dense[..HEADER_BYTES].copy_from_slice(&hll[..HEADER_BYTES]);
    dense[ENCODING_AT] = DENSE;
    let registers = &mut dense[HEADER_BYTES..];
    for_each_run(hll, |first, run, value| {
        if value > 0 {
            (first..first + run).for_each(|i| dense_put(registers, i, value));
        }
    })?;
    *hll = dense;
    Ok(())
}

/// Raises register `index` of a sparse HLL to `value`, splitting the run that holds it; turns the
/// HLL dense when the value does not fit an opcode or the HLL would outgrow `sparse_bytes_max`.
fn sparse_raise(
    hll: &mut Vec<u8>,
    index: usize,
    value: u8,
    sparse_bytes_max: usize,
) -> Result<bool, Corrupt> {
    if value > SPARSE_VAL_VALUE_MAX {
        return promote_and_raise(hll, index, value);
    }
    let mut prev = None;
    let mut found = None;
    for (pos, first, op) in sparse_ops(hll) {
        if index < first + op.run() {
            found = Some((pos, first, op));
            break;
        }
        prev = Some(pos);
    }
    let (pos, first, op) = found.ok_or(Corrupt)?;
    match op {
        Op::Val { value: old, .. } if old >= value => return Ok(false),
        Op::Val { run: 1, .. }
        | Op::Zeros {
            run: 1,
            long: false,
        } => {
            hll[pos] = val_opcode(value, 1);
        }
        _ => {
            let replacement = split_run(op, first, index, value);
            let growth = replacement.len() as isize - op.bytes() as isize;
            if growth > 0 && hll.len() + growth as usize > sparse_bytes_max {
                return promote_and_raise(hll, index, value);
            }
            hll.splice(pos..pos + op.bytes(), replacement);
        }
    }
    merge_equal_neighbours(hll, prev.unwrap_or(HEADER_BYTES));
    invalidate_count(hll);
    Ok(true)
}

/// The opcodes (up to 5 bytes) that replace run `op` (starting at register `first`) once register
/// `index` in it holds `value`: the part before, the register, the part after.
fn split_run(op: Op, first: usize, index: usize, value: u8) -> Vec<u8> {
    let last = first + op.run() - 1;
    let mut out = Vec::with_capacity(5);
    let push_part = |out: &mut Vec<u8>, run: usize| match op {
        Op::Zeros { .. } => push_zero_run(out, run),
        Op::Val { value: old, .. } => out.push(val_opcode(old, run)),
    };
    if index != first {
        push_part(&mut out, index - first);
    }
    out.push(val_opcode(value, 1));
    if index != last {
        push_part(&mut out, last - index);
    }
    out
}

/// After an update, merges adjacent VAL opcodes of equal value whose runs fit one opcode, looking
/// at a few opcodes from `pos` (the opcode before the updated one) as Redis does.
fn merge_equal_neighbours(hll: &mut Vec<u8>, mut pos: usize) {
    let mut scans_left = SPARSE_MERGE_SCAN_OPCODES;
    while pos < hll.len() && scans_left > 0 {
        scans_left -= 1;
        let Some(op) = Op::decode(&hll[pos..]) else {
            return;
        };
        if let Op::Val { value, run } = op {
            let next = hll.get(pos + 1).and_then(|&b| Op::decode(&[b]));
            if let Some(Op::Val {
                value: next_value,
                run: next_run,
            }) = next
            {
                if next_value == value && run + next_run <= SPARSE_VAL_RUN_MAX {
                    hll[pos + 1] = val_opcode(value, run + next_run);
                    hll.remove(pos);
                    // Stay here: the merged run may merge with the next one too.
                    continue;
                }
            }
        }
        pos += op.bytes();
    }
}

fn promote_and_raise(hll: &mut Vec<u8>, index: usize, value: u8) -> Result<bool, Corrupt> {
    sparse_to_dense(hll)?;
    let changed = dense_raise(hll, index, value);
    assert!(changed, "a register that needed promotion must change");
    Ok(changed)
}

// ---------------------------------------------------------------------------------------------
// Operations on an HLL string (already checked with `encoding_of`)

/// Raises register `index` to `value` in either encoding; true if it changed. A dense HLL's
/// cache is left to the caller; a sparse one's is marked stale on change.
pub fn raise(
    hll: &mut Vec<u8>,
    index: usize,
    value: u8,
    sparse_bytes_max: usize,
) -> Result<bool, Corrupt> {
    match encoding_of(hll).ok_or(Corrupt)? {
        Encoding::Dense => Ok(dense_raise(hll, index, value)),
        Encoding::Sparse => sparse_raise(hll, index, value, sparse_bytes_max),
    }
}

/// PFADD's step for one element; true if a register changed.
pub fn add(hll: &mut Vec<u8>, element: &[u8], sparse_bytes_max: usize) -> Result<bool, Corrupt> {
    let (index, value) = register_for(element);
    raise(hll, index, value, sparse_bytes_max)
}

/// Turns a sparse HLL dense (a dense one is left as it is).
pub fn make_dense(hll: &mut Vec<u8>) -> Result<(), Corrupt> {
    match encoding_of(hll).ok_or(Corrupt)? {
        Encoding::Dense => Ok(()),
        Encoding::Sparse => sparse_to_dense(hll),
    }
}

/// Raises every register of `max` to at least this HLL's (PFMERGE, multi-key PFCOUNT).
pub fn merge_into(hll: &[u8], max: &mut [u8; REGISTERS]) -> Result<(), Corrupt> {
    match encoding_of(hll).ok_or(Corrupt)? {
        Encoding::Dense => {
            let registers = &hll[HEADER_BYTES..];
            for (i, slot) in max.iter_mut().enumerate() {
                *slot = (*slot).max(dense_get(registers, i));
            }
            Ok(())
        }
        Encoding::Sparse => for_each_run(hll, |first, run, value| {
            for slot in &mut max[first..first + run] {
                *slot = (*slot).max(value);
            }
        }),
    }
}

/// The register values of an HLL, one byte each.
pub fn registers(hll: &[u8]) -> Result<Box<[u8; REGISTERS]>, Corrupt> {
    let mut out = Box::new([0; REGISTERS]);
    merge_into(hll, &mut out)?;
    Ok(out)
}

/// The estimated cardinality, computed (the cache is not read).
pub fn count(hll: &[u8]) -> Result<u64, Corrupt> {
    Ok(estimate(&*registers(hll)?))
}

/// A sparse HLL's opcodes as PFDEBUG DECODE prints them (`z:` ZERO, `Z:` XZERO, `v:value,run`);
/// `None` for a dense HLL.
pub fn decode_sparse(hll: &[u8]) -> Option<String> {
    if encoding_of(hll)? != Encoding::Sparse {
        return None;
    }
    let words: Vec<String> = sparse_ops(hll)
        .map(|(_, _, op)| match op {
            Op::Zeros { run, long: false } => format!("z:{run}"),
            Op::Zeros { run, long: true } => format!("Z:{run}"),
            Op::Val { value, run } => format!("v:{value},{run}"),
        })
        .collect();
    Some(words.join(" "))
}

// ---------------------------------------------------------------------------------------------
// The estimator

/// The cardinality estimate from register values: Otmar Ertl's improved raw estimator ("New
/// cardinality estimation algorithms for HyperLogLog sketches", 2017), computed in the same order
/// as Redis so that the rounded result is identical.
pub fn estimate(registers: &[u8; REGISTERS]) -> u64 {
    let mut histogram = [0u32; PATTERN_BITS + 2];
    for &r in registers.iter() {
        histogram[r as usize] += 1;
    }
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histogram[PATTERN_BITS + 1] as f64) / m);
    for &h in histogram[1..=PATTERN_BITS].iter().rev() {
        z += h as f64;
        z *= 0.5;
    }
    z += m * sigma(histogram[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hll_is_sparse_header_and_one_xzero() {
        let hll = empty();
        assert_eq!(&hll[..], b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert_eq!(encoding_of(&hll), Some(Encoding::Sparse));
        assert_eq!(cached_count(&hll), Some(0));
        assert_eq!(count(&hll), Ok(0));
    }

    #[test]
    fn murmur64a_hashes_empty_input_to_zero_and_tells_inputs_apart() {
        // Byte-exact agreement with Redis's hash is checked end to end by tests/hyperloglog.rs.
        assert_eq!(murmur64a(b"", 0), 0);
        assert_ne!(
            murmur64a(b"hello", HASH_SEED),
            murmur64a(b"hellp", HASH_SEED)
        );
    }

    #[test]
    fn dense_registers_round_trip_at_every_byte_alignment() {
        let mut hll = empty();
        sparse_to_dense(&mut hll).unwrap();
        assert_eq!(hll.len(), DENSE_BYTES);
        for i in [0, 1, 2, 3, 4, 5, 16382, 16383] {
            assert!(dense_raise(&mut hll, i, 63 - i as u8 % 7));
        }
        for i in [0, 1, 2, 3, 4, 5, 16382, 16383] {
            assert_eq!(dense_get(&hll[HEADER_BYTES..], i), 63 - i as u8 % 7);
        }
        assert_eq!(dense_get(&hll[HEADER_BYTES..], 6), 0);
    }

    #[test]
    fn sparse_and_dense_count_the_same() {
        let mut sparse = empty();
        for i in 0..500 {
            add(
                &mut sparse,
                format!("e{i}").as_bytes(),
                SPARSE_BYTES_MAX_DEFAULT,
            )
            .unwrap();
        }
        assert_eq!(encoding_of(&sparse), Some(Encoding::Sparse));
        let mut dense = sparse.clone();
        make_dense(&mut dense).unwrap();
        assert_eq!(registers(&sparse), registers(&dense));
        let n = count(&sparse).unwrap();
        assert_eq!(count(&dense).unwrap(), n);
        assert!((490..=510).contains(&n), "{n}");
    }

    #[test]
    fn sparse_turns_dense_beyond_its_byte_limit() {
        let mut hll = empty();
        let mut i = 0;
        while encoding_of(&hll) == Some(Encoding::Sparse) {
            assert!(hll.len() <= SPARSE_BYTES_MAX_DEFAULT);
            add(
                &mut hll,
                format!("e{i}").as_bytes(),
                SPARSE_BYTES_MAX_DEFAULT,
            )
            .unwrap();
            i += 1;
        }
        assert_eq!(hll.len(), DENSE_BYTES);
    }

    #[test]
    fn truncated_sparse_is_corrupt() {
        let mut hll = empty();
        hll.pop();
        assert_eq!(count(&hll), Err(Corrupt));
        let mut short = empty();
        short[HEADER_BYTES + 1] = 0; // An XZERO of 0x3f01 registers: too few.
        assert_eq!(count(&short), Err(Corrupt));
    }
}
