//! Text forms of CSV values: parsing one cell's bytes into an integer, float,
//! boolean, date, time or timestamp, and formatting floats back to text (the
//! other values are written by `crate::display`, shared with the CLI).
//!
//! Pure functions on byte slices, with no allocation on the parse side. Not the
//! CSV tokenizer (`tokenizer.rs`), not type inference (`infer.rs`) and not
//! column building (`builders.rs`).

use std::io::Write as _;

/// Trims ASCII spaces and tabs on both sides (pyarrow does this for numbers).
#[inline]
pub(crate) fn trim_ws(mut b: &[u8]) -> &[u8] {
    // Almost every cell starts and ends with a byte above the space: two
    // compares instead of the loops.
    if let (Some(&f), Some(&l)) = (b.first(), b.last())
        && f > b' '
        && l > b' '
    {
        return b;
    }
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// The leading ASCII digits of the 8 bytes in `w` (first byte least
/// significant, as loaded little-endian): their value and how many there are.
/// Bytes after the first non-digit are ignored.
#[inline(always)]
fn digit_run(w: u64) -> (u64, usize) {
    let x = w.wrapping_sub(0x3030_3030_3030_3030);
    // A byte is a digit when it is 0..=9 after the subtraction; borrows and
    // carries only run upwards, past the first non-digit.
    let bad = (x | x.wrapping_add(0x0606_0606_0606_0606)) & 0xF0F0_F0F0_F0F0_F0F0;
    let n = (bad.trailing_zeros() / 8) as usize;
    if n == 0 {
        return (0, 0);
    }
    // The n digits to the top bytes, zeros (leading zero digits) below.
    let x = x << (8 * (8 - n));
    let x = (x.wrapping_mul(10) + (x >> 8)) & 0x00FF_00FF_00FF_00FF;
    let x = (x.wrapping_mul(100) + (x >> 16)) & 0x0000_FFFF_0000_FFFF;
    ((x.wrapping_mul(10_000) + (x >> 32)) & 0xFFFF_FFFF, n)
}

/// The value of 8 digits whose bytes, minus `'0'` each, are `x` (first
/// digit in the low byte).
#[inline(always)]
fn eight_digits(x: u64) -> u64 {
    let x = (x.wrapping_mul(10) + (x >> 8)) & 0x00FF_00FF_00FF_00FF;
    let x = (x.wrapping_mul(100) + (x >> 16)) & 0x0000_FFFF_0000_FFFF;
    (x.wrapping_mul(10_000) + (x >> 32)) & 0xFFFF_FFFF
}

/// Accumulates the ASCII digits at the start of `b` into `m` (wrapping; the
/// caller bounds the digit count). Returns how many digits there were.
///
/// Eight bytes at a time; a run that ends inside 8 bytes is read from the
/// same word, and a tail of 4 to 7 bytes at the end of `b` as the last 8
/// bytes of `b` shifted down (when `b` has 8).
#[inline(always)]
fn take_digits(b: &[u8], m: &mut u64) -> usize {
    let mut i = 0;
    while let Some(c) = b.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let w = u64::from_le_bytes(*c);
        let x = w.wrapping_sub(0x3030_3030_3030_3030);
        if (x | x.wrapping_add(0x0606_0606_0606_0606)) & 0xF0F0_F0F0_F0F0_F0F0 == 0 {
            *m = m.wrapping_mul(100_000_000).wrapping_add(eight_digits(x));
            i += 8;
        } else {
            let (v, n) = digit_run(w);
            *m = m.wrapping_mul(POW10_U64[n]).wrapping_add(v);
            return i + n;
        }
    }
    let rest = b.len() - i;
    // A tail of 1 to 3 digits costs fewer instructions in the loop below
    // than in `digit_run` (callgrind, 18- and 19-digit ids: 19M more over
    // 1M of them with `digit_run`).
    if rest >= 4
        && let Some(c) = b.last_chunk::<8>()
    {
        let (v, n) = digit_run(u64::from_le_bytes(*c) >> (8 * (8 - rest)));
        *m = m.wrapping_mul(POW10_U64[n]).wrapping_add(v);
        return i + n;
    }
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        *m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    i
}

/// A decimal integer: optional `-`, then ASCII digits; surrounding spaces and
/// tabs are ignored. `None` when malformed or out of the `i64` range.
pub(crate) fn parse_i64(b: &[u8]) -> Option<i64> {
    let b = trim_ws(b);
    let (neg, digits) = match b {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulate negatively so that i64::MIN parses.
    let mut v: i64 = 0;
    if let (Some(hi), Some(lo)) = (
        digits.first_chunk::<8>(),
        digits.get(8..).and_then(<[u8]>::first_chunk::<8>),
    ) && digits.len() <= 19
    {
        // 16 to 19 digits (large ids): both words checked with one branch,
        // then a tail of at most 3 digits; 19 digits cannot wrap a u64.
        let x = u64::from_le_bytes(*hi).wrapping_sub(0x3030_3030_3030_3030);
        let y = u64::from_le_bytes(*lo).wrapping_sub(0x3030_3030_3030_3030);
        let six = 0x0606_0606_0606_0606;
        if (x | x.wrapping_add(six) | y | y.wrapping_add(six)) & 0xF0F0_F0F0_F0F0_F0F0 != 0 {
            return None;
        }
        let mut m = eight_digits(x)
            .wrapping_mul(100_000_000)
            .wrapping_add(eight_digits(y));
        for &c in &digits[16..] {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        }
        return if neg {
            0i64.checked_sub_unsigned(m)
        } else {
            i64::try_from(m).ok()
        };
    }
    if digits.len() <= 19 {
        // At most 19 digits fit in u64 without wrapping.
        let mut m = 0u64;
        if take_digits(digits, &mut m) != digits.len() {
            return None;
        }
        return if neg {
            0i64.checked_sub_unsigned(m)
        } else {
            i64::try_from(m).ok()
        };
    } else {
        for &c in digits {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v.checked_mul(10)?.checked_sub(i64::from(d))?;
        }
    }
    if neg { Some(v) } else { v.checked_neg() }
}

/// A decimal unsigned integer (ASCII digits, surrounding spaces and tabs ignored).
pub(crate) fn parse_u64(b: &[u8]) -> Option<u64> {
    let b = trim_ws(b);
    if b.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// A float as Rust's `f64::from_str` reads it (decimal or exponent notation,
/// optional sign, `inf`, `infinity`, `nan` in any case), surrounding spaces
/// and tabs ignored.
pub(crate) fn parse_f64(b: &[u8]) -> Option<f64> {
    let b = trim_ws(b);
    if let Some(v) = exact_f64(b) {
        return Some(v);
    }
    if b.is_empty() || b.len() > 800 || !b.is_ascii() {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse::<f64>().ok()
}

/// Exact powers of ten in `f64` (10^22 is the largest).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// 10^0 ..= 10^19, all of which fit in u64.
const POW10_U64: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// The common case of [`parse_f64`] without `str` or the general algorithm:
/// `[+-]digits[.digits][(e|E)[+-]digits]` with at most 19 significant digits
/// and a decimal exponent within ±19, converted with a single rounding:
/// - mantissa ≤ 2^53 and |exponent| ≤ 22: both exact in f64, one IEEE
///   multiply or divide rounds (Clinger's fast path);
/// - otherwise Eisel–Lemire ([`eisel_lemire`]): a 64 x 128-bit multiply by
///   a table entry for 5^exponent, no division.
///
/// `None` hands the text to the standard library (other forms, more digits,
/// larger exponents, and everything it rejects).
fn exact_f64(b: &[u8]) -> Option<f64> {
    let (neg, mut s) = match b {
        [b'-', r @ ..] => (true, r),
        [b'+', r @ ..] => (false, r),
        _ => (false, b),
    };
    if let Some((m, exp)) = short_decimal(s) {
        return decimal_to_f64(neg, m, exp);
    }
    // Mantissa digits (leading zeros not counted), with the point.
    let mut m: u64 = 0;
    let mut i = s.iter().take_while(|&&c| c == b'0').count();
    let n_int = take_digits(&s[i..], &mut m);
    i += n_int;
    let mut nd = n_int;
    let mut any = i > 0;
    let mut exp: i32 = 0;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        if n_int == 0 {
            // No significant digit yet: zeros after the point only scale.
            i += s[i..].iter().take_while(|&&c| c == b'0').count();
        }
        let n = take_digits(&s[i..], &mut m);
        nd += n;
        i += n;
        any |= i > frac_start;
        exp = -i32::try_from(i - frac_start).ok()?;
    }
    // Past 19 digits `m` may have wrapped: not ours.
    if !any || nd > 19 {
        return None;
    }
    s = &s[i..];
    if let [b'e' | b'E', r @ ..] = s {
        let (eneg, mut r) = match r {
            [b'-', x @ ..] => (true, x),
            [b'+', x @ ..] => (false, x),
            _ => (false, r),
        };
        if r.is_empty() {
            return None;
        }
        let mut e: i32 = 0;
        while let [c @ b'0'..=b'9', x @ ..] = r {
            if e > 100_000 {
                return None;
            }
            e = e * 10 + i32::from(c - b'0');
            r = x;
        }
        exp += if eneg { -e } else { e };
        s = r;
    }
    if !s.is_empty() {
        return None;
    }
    decimal_to_f64(neg, m, exp)
}

/// `±m · 10^exp` rounded once, for `m` below 10^19 and `exp` within ±19
/// (±(19 + 100,000) for exponents written out: those give `None` from
/// [`eisel_lemire`], which the caller hands to the standard library).
#[inline(always)]
fn decimal_to_f64(neg: bool, m: u64, exp: i32) -> Option<f64> {
    let v = if m == 0 {
        0.0
    } else if m <= 1 << 53 && (-22..=22).contains(&exp) {
        let k = POW10[exp.unsigned_abs() as usize];
        if exp >= 0 { m as f64 * k } else { m as f64 / k }
    } else {
        eisel_lemire(m, exp)?
    };
    Some(if neg { -v } else { v })
}

/// The most common float text, `I.F`: 1 to 7 integer digits, a point and 1
/// to 16 fraction digits, at most 19 digits in all (so the mantissa fits
/// in a u64), nothing else. Read with at most three 8-byte loads and no
/// loop; returns the mantissa and the decimal exponent (minus the fraction
/// digits), or `None` for any other text (the general path reads it).
#[inline(always)]
fn short_decimal(s: &[u8]) -> Option<(u64, i32)> {
    let (int, n_int) = digit_run(u64::from_le_bytes(*s.first_chunk::<8>()?));
    // 8 integer digits may be followed by more: the general path's.
    if n_int == 0 || n_int == 8 || s.get(n_int) != Some(&b'.') {
        return None;
    }
    let frac = &s[n_int + 1..];
    let fl = frac.len();
    if fl == 0 || fl > 16 || n_int + fl > 19 {
        return None;
    }
    let frac_value = if fl < 8 {
        // The last 8 bytes of `s` (it has at least 8), the fraction in
        // their low bytes after the shift, zero bytes (not digits) above.
        let w = u64::from_le_bytes(*s.last_chunk::<8>()?) >> (8 * (8 - fl));
        let (v, n) = digit_run(w);
        (n == fl).then_some(v)?
    } else {
        let (hi, n) = digit_run(u64::from_le_bytes(*frac.first_chunk::<8>()?));
        let rest = fl - 8;
        if n != 8 {
            return None;
        }
        if rest == 0 {
            hi
        } else {
            let w = u64::from_le_bytes(*frac.last_chunk::<8>()?) >> (8 * (8 - rest));
            let (lo, n) = digit_run(w);
            if n != rest {
                return None;
            }
            hi * POW10_U64[rest] + lo
        }
    };
    Some((int * POW10_U64[fl] + frac_value, -(fl as i32)))
}

/// Smallest decimal exponent in [`POW5_128`].
const POW5_MIN: i32 = -19;

/// 5^q for q in -19..=19 as 128 bits (high, low) with the top bit set: 5^q
/// shifted (exact) for q ≥ 0, and floor(2^b / 5^-q) + 1 with b the bit
/// length of 5^-q plus 127 for q < 0. These are the entries of the table of
/// fast_float and of Rust's `core::num::dec2flt` for these exponents
/// (checked by the `pow5_table_entries` test).
const POW5_128: [(u64, u64); 39] = [
    (0xec1e4a7db69561a5, 0x2b31e9e3d06c32e6), // 5^-19
    (0x9392ee8e921d5d07, 0x3aff322e62439fd0), // 5^-18
    (0xb877aa3236a4b449, 0x09befeb9fad487c3), // 5^-17
    (0xe69594bec44de15b, 0x4c2ebe687989a9b4), // 5^-16
    (0x901d7cf73ab0acd9, 0x0f9d37014bf60a11), // 5^-15
    (0xb424dc35095cd80f, 0x538484c19ef38c95), // 5^-14
    (0xe12e13424bb40e13, 0x2865a5f206b06fba), // 5^-13
    (0x8cbccc096f5088cb, 0xf93f87b7442e45d4), // 5^-12
    (0xafebff0bcb24aafe, 0xf78f69a51539d749), // 5^-11
    (0xdbe6fecebdedd5be, 0xb573440e5a884d1c), // 5^-10
    (0x89705f4136b4a597, 0x31680a88f8953031), // 5^-9
    (0xabcc77118461cefc, 0xfdc20d2b36ba7c3e), // 5^-8
    (0xd6bf94d5e57a42bc, 0x3d32907604691b4d), // 5^-7
    (0x8637bd05af6c69b5, 0xa63f9a49c2c1b110), // 5^-6
    (0xa7c5ac471b478423, 0x0fcf80dc33721d54), // 5^-5
    (0xd1b71758e219652b, 0xd3c36113404ea4a9), // 5^-4
    (0x83126e978d4fdf3b, 0x645a1cac083126ea), // 5^-3
    (0xa3d70a3d70a3d70a, 0x3d70a3d70a3d70a4), // 5^-2
    (0xcccccccccccccccc, 0xcccccccccccccccd), // 5^-1
    (0x8000000000000000, 0x0000000000000000), // 5^0
    (0xa000000000000000, 0x0000000000000000), // 5^1
    (0xc800000000000000, 0x0000000000000000), // 5^2
    (0xfa00000000000000, 0x0000000000000000), // 5^3
    (0x9c40000000000000, 0x0000000000000000), // 5^4
    (0xc350000000000000, 0x0000000000000000), // 5^5
    (0xf424000000000000, 0x0000000000000000), // 5^6
    (0x9896800000000000, 0x0000000000000000), // 5^7
    (0xbebc200000000000, 0x0000000000000000), // 5^8
    (0xee6b280000000000, 0x0000000000000000), // 5^9
    (0x9502f90000000000, 0x0000000000000000), // 5^10
    (0xba43b74000000000, 0x0000000000000000), // 5^11
    (0xe8d4a51000000000, 0x0000000000000000), // 5^12
    (0x9184e72a00000000, 0x0000000000000000), // 5^13
    (0xb5e620f480000000, 0x0000000000000000), // 5^14
    (0xe35fa931a0000000, 0x0000000000000000), // 5^15
    (0x8e1bc9bf04000000, 0x0000000000000000), // 5^16
    (0xb1a2bc2ec5000000, 0x0000000000000000), // 5^17
    (0xde0b6b3a76400000, 0x0000000000000000), // 5^18
    (0x8ac7230489e80000, 0x0000000000000000), // 5^19
];

/// `w · 10^q` correctly rounded (nearest, ties to even), for `w ≥ 1` and `q`
/// in -19..=19: the Eisel–Lemire algorithm as Rust's `core::num::dec2flt`
/// (`lemire.rs`) implements it, for `f64`. In this exponent range the
/// 128-bit product is always precise enough (the algorithm's "safe
/// exponent" range is -27..=55) and the result is a normal number, so it
/// never needs the slow path; `None` only guards the range.
fn eisel_lemire(w: u64, q: i32) -> Option<f64> {
    const EXPLICIT_BITS: i32 = 52;
    let &(hi5, lo5) = POW5_128.get(usize::try_from(q - POW5_MIN).ok()?)?;
    if w == 0 {
        return None;
    }
    let full = |a: u64, b: u64| {
        let r = u128::from(a) * u128::from(b);
        (r as u64, (r >> 64) as u64)
    };
    let lz = w.leading_zeros();
    let w = w << lz;
    // The product's top 64 bits, refined by the low half of 5^q only when
    // the bits below the mantissa's rounding bit are all ones.
    let (mut lo, mut hi) = full(w, hi5);
    const MASK: u64 = u64::MAX >> (EXPLICIT_BITS + 3);
    if hi & MASK == MASK {
        let (_, second_hi) = full(w, lo5);
        lo = lo.wrapping_add(second_hi);
        if second_hi > lo {
            hi += 1;
        }
    }
    let upperbit = (hi >> 63) as i32;
    let shift = upperbit + 64 - EXPLICIT_BITS - 3;
    let mut mantissa = hi >> shift;
    // floor(log2(10^q)) + 63, then the f64 exponent bias (1023).
    let power = (q.wrapping_mul(152_170 + 65_536) >> 16) + 63;
    let mut power2 = power + upperbit - lz as i32 + 1023;
    // Exactly halfway between two floats: round to even.
    if lo <= 1 && (-4..=23).contains(&q) && mantissa & 3 == 1 && (mantissa << shift) == hi {
        mantissa &= !1;
    }
    mantissa += mantissa & 1;
    mantissa >>= 1;
    if mantissa >= 2 << EXPLICIT_BITS {
        mantissa = 1 << EXPLICIT_BITS;
        power2 += 1;
    }
    mantissa &= !(1 << EXPLICIT_BITS);
    if !(1..0x7ff).contains(&power2) {
        return None;
    }
    Some(f64::from_bits(mantissa | (power2 as u64) << EXPLICIT_BITS))
}

/// Same as [`parse_f64`], rounded once to `f32` by the standard library.
pub(crate) fn parse_f32(b: &[u8]) -> Option<f32> {
    let b = trim_ws(b);
    if b.is_empty() || b.len() > 800 || !b.is_ascii() {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse::<f32>().ok()
}

/// A decimal number with `scale` digits after the point, as an unscaled i128
/// (`"1.5"` at scale 2 is 150). More fraction digits than `scale` are refused
/// unless they are zeros.
pub(crate) fn parse_decimal(b: &[u8], scale: i8) -> Option<i128> {
    let b = trim_ws(b);
    let (neg, rest) = match b {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, b),
    };
    let (int, frac) = match rest.iter().position(|&c| c == b'.') {
        Some(p) => (&rest[..p], &rest[p + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v: i128 = 0;
    for &c in int {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i128::from(d))?;
    }
    let scale = i32::from(scale);
    let mut used = 0i32;
    for &c in frac {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        if used < scale {
            v = v.checked_mul(10)?.checked_add(i128::from(d))?;
            used += 1;
        } else if d != 0 {
            return None;
        }
    }
    while used < scale {
        v = v.checked_mul(10)?;
        used += 1;
    }
    if scale < 0 {
        let div = 10i128.checked_pow(scale.unsigned_abs())?;
        if v % div != 0 {
            return None;
        }
        v /= div;
    }
    Some(if neg { -v } else { v })
}

/// Days since 1970-01-01 of a proleptic Gregorian date of a 4-digit year
/// (0..=9999), `m` in 1..=12 and `d` in 1..=31: Neri and Schneider's
/// division-free form ("Euclidean affine functions and their application to
/// calendar algorithms", 2023). The year starts in March, shifted by 400
/// years (146,097 days) so that everything stays unsigned; the divisions
/// by constants compile to multiplies.
pub(crate) fn days_from_civil(y: u32, m: u32, d: u32) -> i64 {
    let jan_feb = u32::from(m < 3);
    let y1 = y + 400 - jan_feb;
    let m1 = m + 12 * jan_feb;
    let q1 = y1 / 100;
    let yc = 1461 * y1 / 4 - q1 + q1 / 4;
    let mc = (979 * m1 - 2919) / 32;
    i64::from(yc + mc + d - 1) - (719_468 + 146_097)
}

fn digits2(b: &[u8]) -> Option<u32> {
    match b {
        [a @ b'0'..=b'9', c @ b'0'..=b'9'] => Some(u32::from(a - b'0') * 10 + u32::from(c - b'0')),
        _ => None,
    }
}

fn is_leap(y: u32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` (1..=12) of year `y`; `None` for another month number.
fn days_in_month(y: u32, m: u32) -> Option<u32> {
    Some(match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => return None,
    })
}

/// `YYYY-MM-DD` (exactly) as days since the epoch; the day must exist.
pub(crate) fn parse_date(b: &[u8]) -> Option<i32> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits2(&b[0..2])? * 100 + digits2(&b[2..4])?;
    let m = digits2(&b[5..7])?;
    let d = digits2(&b[8..10])?;
    let max = days_in_month(y, m)?;
    if d == 0 || d > max {
        return None;
    }
    i32::try_from(days_from_civil(y, m, d)).ok()
}

/// A time of day: seconds since midnight, nanoseconds, and whether a
/// fraction was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeOfDay {
    pub secs: u32,
    pub nanos: u32,
    pub has_fraction: bool,
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.f` (1 to 9 fraction digits).
pub(crate) fn parse_time(b: &[u8]) -> Option<TimeOfDay> {
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let h = digits2(&b[0..2])?;
    let m = digits2(&b[3..5])?;
    let mut secs = 0;
    let mut nanos = 0;
    let mut has_fraction = false;
    let rest = &b[5..];
    if !rest.is_empty() {
        if rest.len() < 3 || rest[0] != b':' {
            return None;
        }
        secs = digits2(&rest[1..3])?;
        let rest = &rest[3..];
        if !rest.is_empty() {
            nanos = parse_fraction(rest)?;
            has_fraction = true;
        }
    }
    if h > 23 || m > 59 || secs > 59 {
        return None;
    }
    Some(TimeOfDay {
        secs: h * 3600 + m * 60 + secs,
        nanos,
        has_fraction,
    })
}

/// `.` followed by 1..=9 digits, as nanoseconds.
fn parse_fraction(b: &[u8]) -> Option<u32> {
    let digits = b.strip_prefix(b".")?;
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    let mut v = 0u32;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u32::from(d);
    }
    Some(v * 10u32.pow(9 - digits.len() as u32))
}

/// A parsed timestamp: seconds and nanoseconds since the epoch (UTC when a
/// zone was written), and what the text contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
    pub has_fraction: bool,
    pub has_zone: bool,
}

/// The last valid date (`YYYY-MM-DD` bytes) of the common timestamp form
/// and its days since the epoch: a column of timestamps repeats its dates
/// (the bench file has about 1,800 distinct ones in 1,000,000 rows), so
/// most cells skip the date's checks and calendar arithmetic.
#[derive(Debug, Default)]
pub(crate) struct DateCache {
    /// The date's first 8 bytes, its last 2 and its days (a key of zeros
    /// is never a valid date, so the default is empty).
    key: (u64, u16),
    days: i64,
}

/// ISO 8601: `YYYY-MM-DD`, optionally followed by `T` or a space and
/// `HH`, `HH:MM`, `HH:MM:SS` or `HH:MM:SS.f` (1..=9 digits), optionally followed
/// by `Z` or an offset `+HH`, `+HHMM`, `+HH:MM` (or `-`). Offsets are applied:
/// the result is UTC.
pub(crate) fn parse_timestamp(b: &[u8]) -> Option<Timestamp> {
    parse_timestamp_cached(b, &mut DateCache::default())
}

/// [`parse_timestamp`] remembering the last date in `cache`.
pub(crate) fn parse_timestamp_cached(b: &[u8], cache: &mut DateCache) -> Option<Timestamp> {
    if b.len() < 10 {
        return None;
    }
    // The common `YYYY-MM-DDTHH:MM:SS` (or a space for the T), without
    // searching for a zone.
    if let Ok(c) = <&[u8; 19]>::try_from(b)
        && c[4] == b'-'
        && c[7] == b'-'
        && (c[10] == b'T' || c[10] == b' ')
        && c[13] == b':'
        && c[16] == b':'
    {
        // Every digit position holds '0'..='9' (high nibble 3, low nibble at
        // most 9), 8 bytes at a time: `YYYY-MM-`, `DDTHH:MM`, `HH:MM:SS`.
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&c[i..i + 8]);
            u64::from_le_bytes(w)
        };
        let digits = |w: u64, mask: u64| {
            let (hi, three) = (0xF0F0_F0F0_F0F0_F0F0 & mask, 0x3030_3030_3030_3030 & mask);
            w & hi == three && w.wrapping_add(0x0606_0606_0606_0606) & hi == three
        };
        let (w0, w1, w2) = (word(0), word(8), word(11));
        if !(digits(w0, 0x00FF_FF00_FFFF_FFFF)
            && digits(w1, 0xFFFF_00FF_FF00_FFFF)
            && digits(w2, 0xFFFF_00FF_FF00_FFFF))
        {
            return None;
        }
        // Every two-digit number at once, in the byte of its first digit:
        // the digits' low nibbles (the separators masked off), times 10
        // plus the next byte's. At most 99 a byte, so nothing carries.
        const NIBBLES: u64 = 0x0F0F_0F0F_0F0F_0F0F;
        let pairs = |w: u64, mask: u64| {
            let x = w & NIBBLES & mask;
            x.wrapping_mul(10).wrapping_add(x >> 8)
        };
        let byte = |v: u64, k: u32| ((v >> (8 * k)) & 0xFF) as u32;
        let p0 = pairs(w0, 0x00FF_FF00_FFFF_FFFF);
        let p1 = pairs(w1, 0xFFFF_00FF_FF00_FFFF);
        let p2 = pairs(w2, 0xFFFF_00FF_FF00_FFFF);
        let (h, mi, s) = (byte(p1, 3), byte(p1, 6), byte(p2, 6));
        if h > 23 || mi > 59 || s > 59 {
            return None;
        }
        let key = (w0, u16::from_le_bytes([c[8], c[9]]));
        let days = if cache.key == key {
            cache.days
        } else {
            let y = byte(p0, 0) * 100 + byte(p0, 2);
            let (m, day) = (byte(p0, 5), byte(p1, 0));
            if day == 0 || day > days_in_month(y, m)? {
                return None;
            }
            let days = days_from_civil(y, m, day);
            (cache.key, cache.days) = (key, days);
            days
        };
        return Some(Timestamp {
            secs: days * 86_400 + i64::from(h * 3600 + mi * 60 + s),
            nanos: 0,
            has_fraction: false,
            has_zone: false,
        });
    }
    let days = i64::from(parse_date(&b[..10])?);
    let rest = &b[10..];
    if rest.is_empty() {
        return Some(Timestamp {
            secs: days * 86_400,
            nanos: 0,
            has_fraction: false,
            has_zone: false,
        });
    }
    if rest[0] != b'T' && rest[0] != b' ' {
        return None;
    }
    let rest = &rest[1..];
    // Split the zone off: 'Z' or the last '+'/'-'.
    let (time, zone) = match rest
        .iter()
        .rposition(|&c| c == b'Z' || c == b'+' || c == b'-')
    {
        Some(p) => (&rest[..p], Some(&rest[p..])),
        None => (rest, None),
    };
    let tod = if time.len() == 2 {
        let h = digits2(time)?;
        if h > 23 {
            return None;
        }
        TimeOfDay {
            secs: h * 3600,
            nanos: 0,
            has_fraction: false,
        }
    } else {
        parse_time(time)?
    };
    let offset: i64 = match zone {
        None => 0,
        Some(b"Z") => 0,
        Some(z) => {
            let sign = if z[0] == b'-' { -1 } else { 1 };
            let z = &z[1..];
            let (h, m) = match z.len() {
                2 => (digits2(z)?, 0),
                4 => (digits2(&z[..2])?, digits2(&z[2..])?),
                5 if z[2] == b':' => (digits2(&z[..2])?, digits2(&z[3..])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            sign * i64::from(h * 3600 + m * 60)
        }
    };
    Some(Timestamp {
        secs: days * 86_400 + i64::from(tod.secs) - offset,
        nanos: tod.nanos,
        has_fraction: tod.has_fraction,
        has_zone: zone.is_some(),
    })
}

/// Units per second for a unit given as the number of fraction digits.
fn units_per_sec(digits: u32) -> i64 {
    10i64.pow(digits)
}

/// `secs` + `nanos` in units with `digits` fraction digits (0, 3, 6, 9);
/// `None` on overflow or when precision would be lost.
pub(crate) fn to_units(secs: i64, nanos: u32, digits: u32) -> Option<i64> {
    if digits == 0 {
        return (nanos == 0).then_some(secs);
    }
    let div = 10u32.pow(9 - digits);
    if !nanos.is_multiple_of(div) {
        return None;
    }
    // In i128: near i64::MIN the seconds part alone can be out of range.
    let v = i128::from(secs) * i128::from(units_per_sec(digits)) + i128::from(nanos / div);
    i64::try_from(v).ok()
}

// ------------------------------------------------------------------ formatting

/// Appends the shortest text that reads back as the same `f64` (`NaN`, `inf`, `-inf`
/// for the special values; exponent notation for very large or small magnitudes).
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(if v.is_nan() {
            b"NaN"
        } else if v > 0.0 {
            b"inf"
        } else {
            b"-inf"
        });
        return;
    }
    // ryu's digits are `{:?}`'s (both the shortest round trip, the closest
    // one on ties), and so is its layout, except for magnitudes in
    // [1e-5, 1e-4): ryu writes `0.00001`, `{:?}` writes `1e-5`.
    let a = v.abs();
    if (1e-5..1e-4).contains(&a) {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{v:?}");
        return;
    }
    let mut buf = ryu::Buffer::new();
    out.extend_from_slice(buf.format_finite(v).as_bytes());
}

/// Appends the shortest text that reads back as the same `f32`.
pub(crate) fn write_f32(out: &mut Vec<u8>, v: f32) {
    let _ = write!(out, "{v:?}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::{
        ValueStyle, write_date, write_decimal, write_i64, write_timestamp, write_u64,
    };

    #[test]
    fn integers() {
        assert_eq!(parse_i64(b"42"), Some(42));
        assert_eq!(parse_i64(b" -7\t"), Some(-7));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"+5"), None);
        assert_eq!(parse_i64(b"1_000"), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b""), None);
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5E+3"), Some(1500.0));
        assert_eq!(parse_f64(b".5"), Some(0.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"1d"), None);
        for v in [0.1, -1e300, 5e-324, 1.0, 123456.789, f64::MAX] {
            let mut s = Vec::new();
            write_f64(&mut s, v);
            assert_eq!(parse_f64(&s), Some(v), "{}", String::from_utf8_lossy(&s));
        }
    }

    #[test]
    fn pow5_table_entries() {
        for (i, &(hi, lo)) in POW5_128.iter().enumerate() {
            let q = i as i32 + POW5_MIN;
            let c = u128::from(hi) << 64 | u128::from(lo);
            assert_eq!(c >> 127, 1, "5^{q} is normalised");
            if q >= 0 {
                let p = 5u128.pow(q as u32);
                assert_eq!(c, p << p.leading_zeros(), "5^{q}");
                continue;
            }
            // c = floor(2^b / p) + 1, b = bits(p) + 127: so 0 < c·p - 2^b <= p.
            let p = 5u128.pow(q.unsigned_abs());
            let b = 128 - p.leading_zeros() + 127;
            let (a, l) = (u128::from(hi) * p, u128::from(lo) * p);
            let (bottom, carry) = (a << 64).overflowing_add(l);
            let top = (a >> 64) + u128::from(carry);
            assert_eq!(top, 1u128 << (b - 128), "5^{q}");
            assert!(bottom > 0 && bottom <= p, "5^{q}");
        }
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]
        /// `I.F` texts around the limits of the short path (1 to 8 integer
        /// digits, 0 to 18 fraction digits, 19 digits in all, 8 bytes before
        /// and after the point), with leading zeros, a sign and now and
        /// then a byte that is not a digit: bit for bit what std reads.
        #[test]
        fn short_decimals_match_std_parse(
            int in prop::collection::vec(prop::sample::select(b"0123456789".to_vec()), 1..=8),
            frac in prop::collection::vec(prop::sample::select(b"0000123456789".to_vec()), 0..=18),
            sign in prop::sample::select(vec!["", "-", "+"]),
            junk in prop::option::of((0usize..=27, prop::sample::select(b"e.-x /:".to_vec()))),
        ) {
            let mut t = sign.as_bytes().to_vec();
            t.extend_from_slice(&int);
            t.push(b'.');
            t.extend_from_slice(&frac);
            if let Some((at, c)) = junk {
                let at = at.min(t.len());
                t.insert(at, c);
            }
            let text = String::from_utf8(t).unwrap();
            // (Spaces around a number are trimmed, as pyarrow trims them.)
            let want = text.trim_matches(' ').parse::<f64>().ok().map(f64::to_bits);
            prop_assert_eq!(parse_f64(text.as_bytes()).map(f64::to_bits), want, "{}", text);
        }

        /// Integers of every length 1..=22 (18, 19 and 20 digits around
        /// the `i64` limits, overflow, leading zeros), with or without a
        /// sign, now and then a byte that is not a digit at any place (the
        /// 8-byte loads and their tails): bit for bit what std reads, but
        /// for the `+` sign, which pyarrow's int64 refuses too.
        #[test]
        fn integers_match_std_parse(
            digits in prop_oneof![
                prop::collection::vec(prop::sample::select(b"0123456789".to_vec()), 1..=22),
                (1usize..=22, prop::sample::select(b"09".to_vec())).prop_map(|(n, c)| vec![c; n]),
                (0usize..=3, prop::sample::select(vec![i64::MAX.to_string(), i64::MIN.to_string()[1..].to_string(), "9223372036854775809".to_string(), "18446744073709551616".to_string()]))
                    .prop_map(|(z, m)| [vec![b'0'; z], m.into_bytes()].concat()),
            ],
            sign in prop::sample::select(vec!["", "-", "+"]),
            junk in prop::option::of((0usize..=23, prop::sample::select(b"/:. -+ax\x00\xff".to_vec()))),
        ) {
            let mut t = sign.as_bytes().to_vec();
            t.extend_from_slice(&digits);
            if let Some((at, c)) = junk {
                let at = at.min(t.len());
                t.insert(at, c);
            }
            // (Spaces around a number are trimmed, as pyarrow trims them.)
            let text = String::from_utf8_lossy(&t).into_owned();
            let trimmed = text.trim_matches(' ');
            let want = if trimmed.starts_with('+') { None } else { trimmed.parse::<i64>().ok() };
            prop_assert_eq!(parse_i64(&t), want, "{}", text);
        }

        /// The `YYYY-MM-DDTHH:MM:SS` fast path (and its space form) on any
        /// digits, now and then a byte that is not a digit at any place:
        /// as std reads each number and a calendar counted here another way
        /// (days before the year by the leap-year rule, before the month by
        /// a table), `None` for a day, hour, minute or second out of range.
        #[test]
        fn timestamps_match_std_parse_and_a_calendar(
            y in 0u32..=9999,
            mo in 0u32..=13,
            d in 0u32..=32,
            (h, mi, s) in (0u32..=25, 0u32..=61, 0u32..=61),
            t in prop::sample::select(vec!['T', ' ']),
            // (No `-`, `+` or `Z`: they would make an offset of `SS`.)
            junk in prop::option::of((0usize..19, prop::sample::select(b"/:. Tax\x00".to_vec()))),
        ) {
            let text = format!("{y:04}-{mo:02}-{d:02}{t}{h:02}:{mi:02}:{s:02}");
            let mut b = text.clone().into_bytes();
            if let Some((at, c)) = junk {
                b[at] = c;
            }
            let num = |r: std::ops::Range<usize>| {
                std::str::from_utf8(&b[r]).ok().filter(|x| x.bytes().all(|c| c.is_ascii_digit())).and_then(|x| x.parse::<i64>().ok())
            };
            let shape = b[4] == b'-' && b[7] == b'-' && (b[10] == b'T' || b[10] == b' ') && b[13] == b':' && b[16] == b':';
            let want = (|| {
                if !shape {
                    return None;
                }
                let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
                let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
                let leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
                let lens = [31, if leap(y) { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
                if !(1..=12).contains(&mo) || d < 1 || d > lens[mo as usize - 1] || h > 23 || mi > 59 || s > 59 {
                    return None;
                }
                let leaps_before = |y: i64| { let y = y - 1; y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400) };
                let days = 365 * (y - 1970) + leaps_before(y) - leaps_before(1970)
                    + lens[..mo as usize - 1].iter().sum::<i64>() + d - 1;
                Some(days * 86_400 + h * 3600 + mi * 60 + s)
            })();
            let got = parse_timestamp(&b);
            prop_assert_eq!(got.map(|t| t.secs), want, "{}", String::from_utf8_lossy(&b));
            if let Some(t) = got {
                prop_assert_eq!((t.nanos, t.has_fraction, t.has_zone), (0, false, false));
            }
        }

        /// Eisel–Lemire's cases (mantissas of 16 to 19 digits, so above
        /// 2^53 often, and every exponent it takes), halfway and near-halfway
        /// values included (2^53 + 1 and neighbours scaled), bit for bit as
        /// `str::parse::<f64>` (correctly rounded).
        #[test]
        fn floats_match_std_parse(
            m in prop_oneof![
                1_000_000_000_000_000u64..=u64::MAX / 2,
                (0u64..64).prop_map(|d| (1u64 << 53) + d),
                (0u64..64).prop_map(|d| ((1u64 << 53) + 1) * 1000 + d),
            ],
            digits in 16usize..=19,
            point in 0usize..=19,
            e in -19i32..=19,
            neg in any::<bool>(),
        ) {
            let m = m.to_string();
            let m = &m[..digits.min(m.len())];
            let point = point.min(m.len());
            let t = format!("{}{}.{}e{e}", if neg { "-" } else { "" }, &m[..point], &m[point..]);
            let want = t.parse::<f64>().ok().map(f64::to_bits);
            prop_assert_eq!(parse_f64(t.as_bytes()).map(f64::to_bits), want, "{}", t);
        }
    }

    /// Every date of 0000-01-01..=9999-12-31 is one day after the one
    /// before it, and the epoch is day 0.
    #[test]
    fn days_from_civil_counts_every_day() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(0, 1, 1), -719_528);
        let mut prev = days_from_civil(0, 1, 1) - 1;
        for y in 0..=9999 {
            for m in 1..=12 {
                for d in 1..=days_in_month(y, m).unwrap() {
                    let days = days_from_civil(y, m, d);
                    assert_eq!(days, prev + 1, "{y:04}-{m:02}-{d:02}");
                    prev = days;
                }
            }
        }
        assert_eq!(prev, days_from_civil(9999, 12, 31));
    }

    /// The date cache never changes a result: repeated, new and invalid
    /// dates, bad times after a cached date, through one cache in sequence.
    #[test]
    fn timestamps_with_a_date_cache_read_as_without() {
        let cells = [
            "2024-02-29T10:00:00",
            "2024-02-29T23:59:59",
            "2024-02-29T24:00:00",
            "2024-02-29T1x:00:00",
            "2023-02-29T10:00:00",
            "2023-02-29T10:00:01",
            "2023-02-28 10:00:00",
            "2023-02-28T10:00:00",
            "2023-02-28T10:00:00Z",
            "2023-13-01T00:00:00",
            "2023-02-2xT10:00:00",
            "2023-02-28T00:00:00",
            "1970-01-01T00:00:00",
        ];
        let mut cache = DateCache::default();
        let mut seen = Vec::new();
        for c in cells {
            let got = parse_timestamp_cached(c.as_bytes(), &mut cache);
            assert_eq!(got, parse_timestamp(c.as_bytes()), "{c}");
            seen.push(got.map(|t| t.secs));
        }
        assert_eq!(seen[0], Some(1_709_200_800));
        assert_eq!(
            (seen[2], seen[4], seen[9], seen[10]),
            (None, None, None, None)
        );
        assert_eq!(seen[12], Some(0));
    }

    #[test]
    fn exact_floats_match_std() {
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "-0.0",
            "+.5",
            "1.",
            ".",
            "1e",
            "1e+",
            "e5",
            "1e-19",
            "9999999999999999999",
            "99999999999999999999",
            "0.000000000000000000001",
            "1.7976931348623157e308",
            "4.9e-324",
            "359.85884419903846",
            "561.6358719485534",
            "9007199254740993",
            "9007199254740993e-19",
            "18446744073709551615e19",
            "123456789012345678.9e-19",
            "0.1",
            "1e22",
            "1e23",
            "-1.5E-7",
            "00000.00001e00000",
            "1_0",
            "1..2",
            "--1",
            "inf",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Pseudo-random decimals of every length and exponent the fast path takes.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 20) as usize + 1;
            let mant = format!("{:020}", x >> 3);
            let mant = &mant[mant.len() - digits..];
            let point = (x >> 40) as usize % (digits + 1);
            let e = ((x >> 50) % 50) as i32 - 25;
            let t = format!("{}.{}e{e}", &mant[..point], &mant[point..]);
            texts.push(t);
            texts.push(f64::from_bits(x).to_string());
        }
        for t in &texts {
            let want = t.parse::<f64>().ok();
            let got = parse_f64(t.as_bytes());
            assert_eq!(
                got.map(f64::to_bits),
                want.map(f64::to_bits),
                "{t}: {got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn float_and_integer_text_match_std() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut specials = vec![
            0.0,
            -0.0,
            1.0,
            0.1,
            1e-4,
            1e-5,
            9.99e-5,
            1.5e-5,
            1e-6,
            1e15,
            1e16,
            9999999999999998.0,
            1e21,
            1e22,
            1e23,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            123456.789,
            -1.5e-7,
        ];
        for _ in 0..300_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            specials.push(f64::from_bits(x));
            specials.push((x >> 11) as f64 / (1u64 << (x % 60)) as f64);
        }
        let mut out = Vec::new();
        for v in specials {
            out.clear();
            write_f64(&mut out, v);
            let got = String::from_utf8_lossy(&out).into_owned();
            let want = format!("{v:?}");
            if got != want {
                // An exact tie between two shortest texts (e.g. ...69.25 with
                // 16 digits): ryu rounds the last digit to even, `{:?}` up.
                // Same length, same layout, both read back as `v`.
                assert_eq!(got.len(), want.len(), "{got} vs {want}");
                assert_eq!(got.parse::<f64>().ok(), Some(v), "{got} vs {want}");
                assert_eq!(
                    got[..got.len() - 1],
                    want[..want.len() - 1],
                    "{got} vs {want}"
                );
            }
        }
        for v in [0, 1, 9, 10, 99, 100, 12345, -1, i64::MIN, i64::MAX, 1 << 40] {
            out.clear();
            write_i64(&mut out, v);
            assert_eq!(String::from_utf8_lossy(&out), v.to_string());
        }
        out.clear();
        write_u64(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal(b"1.5", 2), Some(150));
        assert_eq!(parse_decimal(b"-0.01", 2), Some(-1));
        assert_eq!(parse_decimal(b"1.501", 2), None);
        assert_eq!(parse_decimal(b"1.500", 2), Some(150));
        let mut s = Vec::new();
        write_decimal(&mut s, -1, 2);
        assert_eq!(s, b"-0.01");
        s.clear();
        write_decimal(&mut s, 12345, 2);
        assert_eq!(s, b"123.45");
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date(b"1970-01-01"), Some(0));
        assert_eq!(parse_date(b"1969-12-31"), Some(-1));
        assert_eq!(parse_date(b"2020-02-29"), Some(18321));
        assert_eq!(parse_date(b"2019-02-29"), None);
        assert_eq!(parse_date(b"2020-1-1"), None);
        for d in [-700_000, -1, 0, 1, 18321, 2_932_896] {
            let mut s = Vec::new();
            write_date(&mut s, d, ValueStyle::Pyarrow);
            assert_eq!(parse_date(&s).map(i64::from), Some(d));
        }
    }

    #[test]
    fn timestamps() {
        let t = parse_timestamp(b"2020-01-01T12:00:00+01:00").unwrap();
        assert_eq!(t.secs, 1_577_876_400);
        assert!(t.has_zone && !t.has_fraction);
        let t = parse_timestamp(b"1970-01-01 00:00:01.5Z").unwrap();
        assert_eq!((t.secs, t.nanos, t.has_fraction), (1, 500_000_000, true));
        assert_eq!(
            parse_timestamp(b"2020-01-01T12").unwrap().secs,
            1_577_880_000
        );
        assert_eq!(
            parse_timestamp(b"2020-01-01T12:00-0130").unwrap().secs,
            1_577_885_400
        );
        assert!(parse_timestamp(b"2020-01-01X12:00").is_none());
        assert!(parse_timestamp(b"2020-01-01T25:00").is_none());
        assert!(parse_timestamp(b"2020-01-01T12:00:00.1234567890").is_none());
        let mut s = Vec::new();
        write_timestamp(&mut s, -1, 9, Some("UTC"), ValueStyle::Pyarrow);
        assert_eq!(s, b"1969-12-31T23:59:59.999999999Z");
        s.clear();
        write_timestamp(&mut s, 1500, 3, None, ValueStyle::Pyarrow);
        assert_eq!(s, b"1970-01-01T00:00:01.500");
        s.clear();
        write_timestamp(&mut s, 2000, 3, None, ValueStyle::Pyarrow);
        assert_eq!(s, b"1970-01-01T00:00:02");
        assert_eq!(to_units(1, 500_000_000, 3), Some(1500));
        assert_eq!(to_units(1, 500_000_001, 3), None);
        // i64::MIN nanoseconds: the seconds part alone overflows.
        let t = parse_timestamp(b"1677-09-21T00:12:43.145224192Z").unwrap();
        assert_eq!(to_units(t.secs, t.nanos, 9), Some(i64::MIN));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time(b"12:34").unwrap().secs, 45240);
        assert_eq!(parse_time(b"00:00:01.25").unwrap().nanos, 250_000_000);
        assert!(parse_time(b"24:00").is_none());
        assert!(parse_time(b"1:00").is_none());
    }
}
