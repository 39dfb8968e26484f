//! The x87 80-bit extended float ("long double" on x86-64), in software, for INCRBYFLOAT.
//!
//! Redis parses with `strtold`, adds in long double and prints with `%.17Lf` minus trailing zeros.
//! Doing the same in f64 would print "0.30000000000000004" for 0.1 + 0.2 where Redis prints "0.3",
//! so this module keeps the 64-bit mantissa and rounds exactly as the hardware and glibc do
//! (round half to even at every step), using a small big-integer type for the exact conversions.

use std::cmp::Ordering;

/// Bits in the mantissa (the x87 format stores its leading bit explicitly).
const MANTISSA_BITS: i64 = 64;
/// Largest binary exponent of a finite value, as in `1.m × 2^e`.
const EXPONENT_MAX: i64 = 16383;
/// Exponent of the least significant mantissa bit of the smallest subnormal (2^-16445).
const LSB_EXPONENT_MIN: i64 = -16382 - (MANTISSA_BITS - 1);
/// Decimal places `%.17Lf` prints.
const PRINTED_DECIMALS: u32 = 17;
/// Redis refuses float arguments of this many bytes or more (MAX_LONG_DOUBLE_CHARS).
const TEXT_BYTES_MAX: usize = 5 * 1024;
/// Decimal exponents beyond these are certain overflow / underflow (long double spans about
/// 1e-4951 to 1e4932); they are cut there so that no huge power of ten is ever computed.
const DECIMAL_EXPONENT_MAX: i64 = 4933;
const DECIMAL_EXPONENT_MIN: i64 = -4952;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Zero,
    /// `mantissa × 2^exponent`; `mantissa` has its top bit set unless the value is subnormal.
    Finite {
        mantissa: u64,
        exponent: i64,
    },
    Infinite,
    NaN,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LongDouble {
    negative: bool,
    kind: Kind,
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble {
        negative: false,
        kind: Kind::Zero,
    };

    pub fn is_finite(&self) -> bool {
        matches!(self.kind, Kind::Zero | Kind::Finite { .. })
    }

    /// Parses as Redis's `string2ld`: `strtold`'s syntax (decimal, hex `0x1.8p3`, `inf`), the whole
    /// text and nothing else, no leading space; NaN, overflow and underflow to zero are refused.
    pub fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= TEXT_BYTES_MAX || text[0].is_ascii_whitespace() {
            return None;
        }
        let (negative, body) = match text[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let lower = body.to_ascii_lowercase();
        match lower.as_slice() {
            b"inf" | b"infinity" => Some(LongDouble {
                negative,
                kind: Kind::Infinite,
            }),
            [b'0', b'x', hex @ ..] => {
                let (n, shift) = parse_hex(hex)?;
                if n.is_zero() {
                    return Some(LongDouble::ZERO.with_sign(negative));
                }
                in_range(round(negative, n, shift, false))
            }
            _ => parse_decimal(&lower, negative),
        }
    }

    fn with_sign(self, negative: bool) -> LongDouble {
        LongDouble { negative, ..self }
    }

    /// The correctly rounded sum.
    pub fn add(self, other: LongDouble) -> LongDouble {
        use Kind::*;
        match (self.kind, other.kind) {
            (NaN, _) | (_, NaN) => self.with_kind(NaN),
            (Infinite, Infinite) if self.negative != other.negative => self.with_kind(NaN),
            (Infinite, _) => self,
            (_, Infinite) => other,
            (Zero, Zero) => LongDouble {
                negative: self.negative && other.negative,
                kind: Zero,
            },
            (Zero, _) => other,
            (_, Zero) => self,
            (Finite { .. }, Finite { .. }) => add_finite(self, other),
        }
    }

    fn with_kind(self, kind: Kind) -> LongDouble {
        LongDouble { kind, ..self }
    }

    /// `%.17Lf` without trailing zeros (and without a trailing dot, and "-0" as "0"): Redis's
    /// `ld2string(.., LD_STR_HUMAN)`.
    pub fn to_human_string(self) -> String {
        let (mantissa, exponent) = match self.kind {
            Kind::Zero => return "0".into(),
            Kind::Infinite => return if self.negative { "-inf" } else { "inf" }.into(),
            Kind::NaN => return "nan".into(),
            Kind::Finite { mantissa, exponent } => (mantissa, exponent),
        };
        let mut scaled = Big::from_u128(mantissa as u128);
        scaled.mul_pow10(PRINTED_DECIMALS as usize);
        let scaled = if exponent >= 0 {
            scaled.shl(exponent as usize)
        } else {
            scaled.shr_round_half_even((-exponent) as usize)
        };
        let mut digits = scaled.to_decimal();
        let decimals = PRINTED_DECIMALS as usize;
        if digits.len() <= decimals {
            digits = format!("{}{digits}", "0".repeat(decimals + 1 - digits.len()));
        }
        let (int_part, frac_part) = digits.split_at(digits.len() - decimals);
        let frac_part = frac_part.trim_end_matches('0');
        let mut text = String::with_capacity(digits.len() + 2);
        let is_zero = int_part == "0" && frac_part.is_empty();
        if self.negative && !is_zero {
            text.push('-');
        }
        text.push_str(int_part);
        if !frac_part.is_empty() {
            text.push('.');
            text.push_str(frac_part);
        }
        text
    }
}

/// Decimal `strtold` syntax: digits with an optional dot (at least one digit), then an optional
/// exponent `e[+-]digits`.
fn parse_decimal(text: &[u8], negative: bool) -> Option<LongDouble> {
    let (mantissa_text, exponent_text) = match text.iter().position(|&b| b == b'e') {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let dot = mantissa_text.iter().position(|&b| b == b'.');
    let (int_digits, frac_digits) = match dot {
        Some(i) => (&mantissa_text[..i], &mantissa_text[i + 1..]),
        None => (mantissa_text, &mantissa_text[..0]),
    };
    let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if int_digits.len() + frac_digits.len() == 0
        || !all_digits(int_digits)
        || !all_digits(frac_digits)
    {
        return None;
    }
    let exponent = match exponent_text {
        None => 0,
        Some(e) => parse_exponent(e)?,
    };
    let digits = int_digits
        .iter()
        .chain(frac_digits)
        .skip_while(|&&b| b == b'0');
    let significant: Vec<u8> = digits.copied().collect();
    if significant.is_empty() {
        return Some(LongDouble::ZERO.with_sign(negative));
    }
    // value = significant × 10^scale
    let scale = exponent.saturating_sub(frac_digits.len() as i64);
    let magnitude = scale.saturating_add(significant.len() as i64);
    if !(DECIMAL_EXPONENT_MIN..=DECIMAL_EXPONENT_MAX).contains(&magnitude) {
        return None;
    }
    let mut n = Big::default();
    for chunk in significant.chunks(9) {
        let value = chunk
            .iter()
            .fold(0u32, |acc, d| acc * 10 + (d - b'0') as u32);
        n.mul_small_add(10u32.pow(chunk.len() as u32), value);
    }
    if scale >= 0 {
        n.mul_pow10(scale as usize);
        return in_range(round(negative, n, 0, false));
    }
    // n / 10^-scale, with enough quotient bits to round correctly; the remainder is the sticky bit.
    let mut divisor = Big::from_u128(1);
    divisor.mul_pow10((-scale) as usize);
    let extra = (divisor.bit_len() + MANTISSA_BITS as usize + 2).saturating_sub(n.bit_len());
    let (quotient, inexact) = n.shl(extra).div_rem(&divisor);
    in_range(round(negative, quotient, -(extra as i64), inexact))
}

/// A non-zero number that rounded to zero or infinity is out of range: `strtold`'s ERANGE, which
/// Redis refuses.
fn in_range(rounded: LongDouble) -> Option<LongDouble> {
    rounded
        .is_finite()
        .then_some(rounded)
        .filter(|v| v.kind != Kind::Zero)
}

/// A decimal exponent with optional sign; huge ones saturate (they overflow or underflow anyway).
fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits.iter().fold(0i64, |acc, d| {
        acc.saturating_mul(10).saturating_add((d - b'0') as i64)
    });
    Some(if negative { -magnitude } else { magnitude })
}

/// Hex `strtold` syntax after `0x`: hex digits with an optional dot, then an optional binary
/// exponent `p[+-]digits`. Returns the digits as an integer and its power of two.
fn parse_hex(text: &[u8]) -> Option<(Big, i64)> {
    let (mantissa_text, exponent_text) = match text.iter().position(|&b| b == b'p') {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let dot = mantissa_text.iter().position(|&b| b == b'.');
    let (int_digits, frac_digits) = match dot {
        Some(i) => (&mantissa_text[..i], &mantissa_text[i + 1..]),
        None => (mantissa_text, &mantissa_text[..0]),
    };
    let all_hex = |s: &[u8]| s.iter().all(u8::is_ascii_hexdigit);
    if int_digits.len() + frac_digits.len() == 0 || !all_hex(int_digits) || !all_hex(frac_digits) {
        return None;
    }
    // Cut like decimal exponents: far beyond the range the result is infinite or zero anyway.
    let binary_exponent_limit = 4 * TEXT_BYTES_MAX as i64 + 2 * EXPONENT_MAX;
    let exponent = match exponent_text {
        None => 0,
        Some(e) => parse_exponent(e)?.clamp(-binary_exponent_limit, binary_exponent_limit),
    };
    let mut n = Big::default();
    for &d in int_digits.iter().chain(frac_digits) {
        let value = (d as char).to_digit(16).unwrap_or(0);
        n.mul_small_add(16, value);
    }
    Some((n, exponent - 4 * frac_digits.len() as i64))
}

/// Rounds `n × 2^shift` (plus a little more when `sticky`) to a long double, half to even,
/// producing subnormals, zero or infinity where the range ends.
fn round(negative: bool, n: Big, shift: i64, sticky: bool) -> LongDouble {
    if n.is_zero() {
        return LongDouble {
            negative,
            kind: Kind::Zero,
        };
    }
    let natural = shift + n.bit_len() as i64 - MANTISSA_BITS;
    let mut exponent = natural.max(LSB_EXPONENT_MIN);
    let drop = exponent - shift;
    let mut mantissa = if drop <= 0 {
        n.shl((-drop) as usize).low_u128()
    } else {
        let drop = drop as usize;
        let kept = n.shr(drop).low_u128();
        let half = n.bit(drop - 1);
        let rest = sticky || n.any_bit_below(drop - 1);
        kept + (half && (rest || kept & 1 == 1)) as u128
    };
    if mantissa >> MANTISSA_BITS != 0 {
        mantissa >>= 1;
        exponent += 1;
    }
    let kind = if mantissa == 0 {
        Kind::Zero
    } else if exponent + MANTISSA_BITS - 1 > EXPONENT_MAX {
        Kind::Infinite
    } else {
        Kind::Finite {
            mantissa: mantissa as u64,
            exponent,
        }
    };
    LongDouble { negative, kind }
}

/// Adds two finite non-zero values exactly at 63 bits below the larger exponent's mantissa, the
/// smaller one's lost bits kept as a sticky bit, then rounds once.
fn add_finite(a: LongDouble, b: LongDouble) -> LongDouble {
    let parts = |x: LongDouble| match x.kind {
        Kind::Finite { mantissa, exponent } => (mantissa as u128, exponent),
        _ => unreachable!("add_finite takes finite values"),
    };
    let ((mut big, big_exp), (mut small, small_exp)) = (parts(a), parts(b));
    let (mut big_neg, mut small_neg) = (a.negative, b.negative);
    if small_exp > big_exp {
        std::mem::swap(&mut big, &mut small);
        std::mem::swap(&mut big_neg, &mut small_neg);
    }
    let gap = (big_exp.max(small_exp) - big_exp.min(small_exp)) as u32;
    const GUARD_BITS: u32 = 63;
    let base = big_exp.max(small_exp) - GUARD_BITS as i64;
    let big = big << GUARD_BITS;
    let small = if gap <= GUARD_BITS {
        small << (GUARD_BITS - gap)
    } else {
        let dropped = gap - GUARD_BITS;
        let lost = dropped >= 128 || small & ((1u128 << dropped) - 1) != 0;
        (small.checked_shr(dropped).unwrap_or(0)) | lost as u128
    };
    let (negative, sum) = if big_neg == small_neg {
        (big_neg, big + small)
    } else {
        match big.cmp(&small) {
            Ordering::Greater => (big_neg, big - small),
            Ordering::Less => (small_neg, small - big),
            // x + (-x) is +0 in round-to-nearest.
            Ordering::Equal => (false, 0),
        }
    };
    round(negative, Big::from_u128(sum), base, false)
}

/// A non-negative big integer: 32-bit limbs, least significant first, no high zero limbs.
#[derive(Clone, Debug, Default, PartialEq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(mut n: u128) -> Big {
        let mut limbs = Vec::new();
        while n != 0 {
            limbs.push(n as u32);
            n >>= 32;
        }
        Big(limbs)
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn bit_len(&self) -> usize {
        self.0
            .last()
            .map_or(0, |top| 32 * self.0.len() - top.leading_zeros() as usize)
    }

    fn bit(&self, i: usize) -> bool {
        self.0
            .get(i / 32)
            .is_some_and(|limb| limb >> (i % 32) & 1 == 1)
    }

    fn any_bit_below(&self, i: usize) -> bool {
        let (whole, part) = (i / 32, i % 32);
        self.0.iter().take(whole).any(|&l| l != 0)
            || part > 0
                && self
                    .0
                    .get(whole)
                    .is_some_and(|l| l & ((1 << part) - 1) != 0)
    }

    /// The low 128 bits.
    fn low_u128(&self) -> u128 {
        self.0
            .iter()
            .take(4)
            .enumerate()
            .fold(0, |acc, (i, &l)| acc | (l as u128) << (32 * i))
    }

    /// `self = self × m + a`.
    fn mul_small_add(&mut self, m: u32, a: u32) {
        let mut carry = a as u64;
        for limb in &mut self.0 {
            let v = *limb as u64 * m as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn mul_pow10(&mut self, mut n: usize) {
        while n > 0 {
            let step = n.min(9);
            self.mul_small_add(10u32.pow(step as u32), 0);
            n -= step;
        }
    }

    fn shl(&self, bits: usize) -> Big {
        let (whole, part) = (bits / 32, bits % 32);
        let mut limbs = vec![0u32; whole];
        let mut carry = 0u32;
        for &l in &self.0 {
            limbs.push(if part == 0 { l } else { l << part | carry });
            carry = if part == 0 { 0 } else { l >> (32 - part) };
        }
        limbs.push(carry);
        let mut out = Big(limbs);
        out.trim();
        out
    }

    fn shr(&self, bits: usize) -> Big {
        let (whole, part) = (bits / 32, bits % 32);
        let src = self.0.get(whole..).unwrap_or(&[]);
        let limbs = (0..src.len())
            .map(|i| {
                let high = src.get(i + 1).copied().unwrap_or(0);
                if part == 0 {
                    src[i]
                } else {
                    src[i] >> part | high << (32 - part)
                }
            })
            .collect();
        let mut out = Big(limbs);
        out.trim();
        out
    }

    fn shr_round_half_even(&self, bits: usize) -> Big {
        let mut q = self.shr(bits);
        let half = bits > 0 && self.bit(bits - 1);
        let rest = bits > 1 && self.any_bit_below(bits - 1);
        if half && (rest || q.bit(0)) {
            q.mul_small_add(1, 1);
        }
        q
    }

    fn cmp_to(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// `self -= other`, where `self >= other`.
    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let v = *limb as i64 - other.0.get(i).copied().unwrap_or(0) as i64 - borrow;
            *limb = v.rem_euclid(1 << 32) as u32;
            borrow = (v < 0) as i64;
        }
        debug_assert_eq!(borrow, 0, "subtraction went below zero");
        self.trim();
    }

    /// Quotient, and whether the remainder is non-zero (binary long division: only the few
    /// conversions INCRBYFLOAT needs, on numbers of at most a few thousand digits).
    fn div_rem(&self, divisor: &Big) -> (Big, bool) {
        let bits = self.bit_len();
        let mut quotient = vec![0u32; bits.div_ceil(32)];
        let mut rest = Big::default();
        for i in (0..bits).rev() {
            rest = rest.shl(1);
            if self.bit(i) {
                rest.mul_small_add(1, 1);
            }
            if rest.cmp_to(divisor) != Ordering::Less {
                rest.sub_assign(divisor);
                quotient[i / 32] |= 1 << (i % 32);
            }
        }
        let mut quotient = Big(quotient);
        quotient.trim();
        (quotient, !rest.is_zero())
    }

    fn to_decimal(&self) -> String {
        const CHUNK: u64 = 1_000_000_000;
        let mut n = self.0.clone();
        let mut chunks = Vec::new();
        while !n.is_empty() {
            let mut rem = 0u64;
            for limb in n.iter_mut().rev() {
                let v = rem << 32 | *limb as u64;
                *limb = (v / CHUNK) as u32;
                rem = v % CHUNK;
            }
            while n.last() == Some(&0) {
                n.pop();
            }
            chunks.push(rem);
        }
        let Some((top, rest)) = chunks.split_last() else {
            return "0".into();
        };
        let mut text = top.to_string();
        for chunk in rest.iter().rev() {
            text.push_str(&format!("{chunk:09}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(current: &str, by: &str) -> String {
        let sum = LongDouble::parse(current.as_bytes())
            .unwrap()
            .add(LongDouble::parse(by.as_bytes()).unwrap());
        sum.to_human_string()
    }

    /// Each triple was read from Redis 7.0 on x86-64: `SET k a; INCRBYFLOAT k b`.
    #[test]
    fn sums_print_as_redis_prints_them() {
        let cases = [
            ("0.1", "0.2", "0.3"),
            ("10000", "0.1", "10000.09999999999999964"),
            ("1", "-1.1", "-0.1"),
            ("0.3", "1e20", "100000000000000000000"),
            ("123456789.123", "0.001", "123456789.12399999999615829"),
            ("0", "5.0e3", "5000"),
            ("1.5", "0e99999", "1.5"),
            ("0x10", "1", "17"),
            ("1e-4940", "0", "0"),
            ("3", "-3.0", "0"),
            ("0", "-0.0", "0"),
            ("1.1", "2.2", "3.3"),
            ("0.1", "-0.3", "-0.2"),
            ("1e-17", "0", "0.00000000000000001"),
            ("5e-18", "0", "0"),
            ("6e-18", "0", "0.00000000000000001"),
            ("2.5", "1e-30", "2.5"),
            ("9007199254740993", "0", "9007199254740993"),
            ("18446744073709551617", "0", "18446744073709551616"),
            ("18446744073709551615", "0", "18446744073709551615"),
            ("36893488147419103231", "0", "36893488147419103232"),
            ("0x1p-3", "0", "0.125"),
            ("0x1.8p1", "1", "4"),
            ("-5", "3", "-2"),
            ("-2.5", "2.5", "0"),
            ("3.14159265358979323846264338327950288", "0", "3.14159265358979324"),
            ("1", "1e-19", "1"),
            ("99999999999999999999", "1", "100000000000000000000"),
            ("0.000001", "0.0000001", "0.0000011"),
            ("1e30", "-1e30", "0"),
            ("1e25", "1.5", "10000000000000000000000000"),
            ("-1e-20", "0", "0"),
            (".5", "5.", "5.5"),
            ("+.5", "0X1P4", "16.5"),
            ("1.5e+3", "0", "1500"),
            ("1e-4945", "1", "1"),
            ("1e308", "1e308", "199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905456510092687857156096"),
            ("1e300", "1", "1000000000000000000008997324079559193870523944273290747938260082321265646596180935755849152083750497190350372508614274835903592556184672983913096260520748646287327135641843653294084255107606016789726652932370030551382947620994540294772781889620606179267611627097410650567187386105690089424915104006144"),
        ];
        for (current, by, expected) in cases {
            assert_eq!(incr(current, by), expected, "{current} + {by}");
        }
    }

    #[test]
    fn huge_values_print_all_their_digits() {
        let text = incr("0", "-1e4932");
        assert_eq!(text.len(), 4934);
        assert!(text.starts_with("-10000000000000000000060189493879638913238"));
        assert!(text.ends_with("6622720"));
    }

    #[test]
    fn parse_refuses_what_strtold_and_redis_refuse() {
        for bad in [
            "", "1e", "1e+", ".", "-", "1_0", "0x", "0xg", "nan", "1 ", " 1", "1e5000", "1e-5000",
            "1e-4960", "abc", "--1", "1e1.5",
        ] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        for infinite in ["inf", "-INF", "infinity", "+Infinity"] {
            let v = LongDouble::parse(infinite.as_bytes()).unwrap();
            assert!(!v.is_finite(), "{infinite}");
        }
        assert_eq!(LongDouble::parse(&vec![b'1'; TEXT_BYTES_MAX]), None);
    }

    #[test]
    fn opposite_infinities_make_nan() {
        let inf = LongDouble::parse(b"inf").unwrap();
        let minus_inf = LongDouble::parse(b"-inf").unwrap();
        assert!(!inf.add(minus_inf).is_finite());
        assert!(!inf.add(LongDouble::ZERO).is_finite());
    }

    #[test]
    fn sums_past_the_range_overflow_to_infinity() {
        let max = LongDouble::parse(b"1.18973149535723176502e4932").unwrap();
        assert!(max.is_finite());
        assert!(!max.add(max).is_finite());
    }
}
