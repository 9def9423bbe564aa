//! Column type inference for CSV: which Arrow type fits every non-null cell
//! of a column in the first rows.
//!
//! The order of preference is pyarrow's: int64, bool, date32, time32[s],
//! timestamp[s], timestamp[ns], float64, string; a column whose cells are all
//! null becomes a nullable string column (pyarrow: `null`). Timestamps with a
//! zone (`Z` or an offset) are `timestamp[.., tz=UTC]` and do not mix with
//! zone-less ones (a mix is a string column, as in pyarrow). Only decides the
//! type; converting cells is `builders.rs`.

use minarrow::{ArrowType, TimeUnit};

use super::text::{parse_date, parse_f64, parse_i64, parse_time, parse_timestamp};

const INT: u16 = 1 << 0;
const BOOL: u16 = 1 << 1;
const DATE: u16 = 1 << 2;
const TIME: u16 = 1 << 3;
const TS_S: u16 = 1 << 4;
const TS_NS: u16 = 1 << 5;
const TSZ_S: u16 = 1 << 6;
const TSZ_NS: u16 = 1 << 7;
const FLOAT: u16 = 1 << 8;
const ALL: u16 = (1 << 9) - 1;

/// Candidate types of one column, narrowed cell by cell.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inference {
    candidates: u16,
    seen_value: bool,
}

impl Inference {
    pub(crate) fn new() -> Self {
        Inference {
            candidates: ALL,
            seen_value: false,
        }
    }

    /// Narrows by one non-null cell.
    pub(crate) fn observe(&mut self, cell: &[u8], bools: &BoolValues) {
        self.seen_value = true;
        if self.candidates == 0 {
            return;
        }
        self.candidates &= kinds_of(cell, bools, self.candidates);
    }

    /// The inferred type (and whether it came from an all-null column).
    pub(crate) fn result(&self) -> (ArrowType, bool) {
        if !self.seen_value {
            return (ArrowType::String, true);
        }
        let c = self.candidates;
        let t = if c & INT != 0 {
            ArrowType::Int64
        } else if c & BOOL != 0 {
            ArrowType::Boolean
        } else if c & DATE != 0 {
            ArrowType::Date32
        } else if c & TIME != 0 {
            ArrowType::Time32(TimeUnit::Seconds)
        } else if c & TS_S != 0 {
            ArrowType::Timestamp(TimeUnit::Seconds, None)
        } else if c & TS_NS != 0 {
            ArrowType::Timestamp(TimeUnit::Nanoseconds, None)
        } else if c & TSZ_S != 0 {
            ArrowType::Timestamp(TimeUnit::Seconds, Some("UTC".to_string()))
        } else if c & TSZ_NS != 0 {
            ArrowType::Timestamp(TimeUnit::Nanoseconds, Some("UTC".to_string()))
        } else if c & FLOAT != 0 {
            ArrowType::Float64
        } else {
            ArrowType::String
        };
        (t, false)
    }
}

/// The true / false spellings of boolean cells. Spellings of up to 7 bytes
/// are also kept as one `u64` each (bytes and length) in a small
/// open-addressed table, so that a short cell is usually matched with one
/// multiply and one compare.
#[derive(Debug, Clone)]
pub(crate) struct BoolValues {
    truthy: Vec<Vec<u8>>,
    falsy: Vec<Vec<u8>>,
    /// (key, value) slots, a power of two of them, at most half full;
    /// [`NO_KEY`] marks an empty slot.
    short: Vec<(u64, bool)>,
    /// Every short key is in its first slot ([`slot`]), so one probe
    /// answers (the table is grown up to 1,024 slots to get there).
    direct: bool,
}

/// No short key has a length byte above 7.
const NO_KEY: u64 = u64::MAX;

/// The first slot to probe for `k` in a table of `mask + 1` slots.
#[inline]
fn slot(k: u64, mask: usize) -> usize {
    (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize & mask
}

/// A cell of at most 7 bytes as one integer: the bytes, then the length in the top byte.
#[inline]
fn short_key(b: &[u8]) -> Option<u64> {
    if b.len() > 7 {
        return None;
    }
    let n = b.len();
    // Overlapping loads, ORed in place (a byte read twice lands on itself).
    let v = match b {
        [] => 0,
        [a, ..] if n < 4 => {
            let mid = u64::from(b[n / 2]) << (8 * (n / 2));
            u64::from(*a) | mid | u64::from(b[n - 1]) << (8 * (n - 1))
        }
        _ => {
            let lo = b.first_chunk::<4>().map_or(0, |c| u32::from_le_bytes(*c));
            let hi = b.last_chunk::<4>().map_or(0, |c| u32::from_le_bytes(*c));
            u64::from(lo) | u64::from(hi) << (8 * (n - 4))
        }
    };
    Some(v | (n as u64) << 56)
}

impl BoolValues {
    pub(crate) fn new(truthy: Vec<Vec<u8>>, falsy: Vec<Vec<u8>>) -> Self {
        let n = truthy.len() + falsy.len();
        let mut size = (2 * n).next_power_of_two().max(8);
        loop {
            let mut short = vec![(NO_KEY, false); size];
            let mask = size - 1;
            let mut direct = true;
            // True spellings first: a spelling in both lists is true.
            let spellings = truthy.iter().map(|t| (t, true));
            for (t, value) in spellings.chain(falsy.iter().map(|f| (f, false))) {
                let Some(k) = short_key(t) else { continue };
                let mut i = slot(k, mask);
                while short[i].0 != NO_KEY && short[i].0 != k {
                    i = (i + 1) & mask;
                    direct = false;
                }
                if short[i].0 == NO_KEY {
                    short[i] = (k, value);
                }
            }
            if direct || size >= 1024 {
                return BoolValues {
                    short,
                    truthy,
                    falsy,
                    direct,
                };
            }
            size *= 2;
        }
    }

    /// The value `cell` spells, if any. Inlined: with a table of one probe
    /// ([`Self::direct`]) a short cell costs a key, a multiply and a compare.
    #[inline(always)]
    pub(crate) fn parse(&self, cell: &[u8]) -> Option<bool> {
        match short_key(cell) {
            Some(k) if self.direct => {
                let i = slot(k, self.short.len() - 1);
                // Not in its first slot: not a spelling (a short cell
                // cannot equal a long spelling).
                self.short
                    .get(i)
                    .and_then(|&(key, v)| (key == k).then_some(v))
            }
            Some(k) => self.probe(k),
            None => self.parse_long(cell),
        }
    }

    /// A short key by linear probing.
    #[inline(never)]
    fn probe(&self, k: u64) -> Option<bool> {
        let mask = self.short.len() - 1;
        let mut i = slot(k, mask);
        loop {
            let &(key, value) = self.short.get(i)?;
            if key == k {
                return Some(value);
            }
            if key == NO_KEY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// A cell of more than 7 bytes, against the spellings.
    #[inline(never)]
    fn parse_long(&self, cell: &[u8]) -> Option<bool> {
        if self.truthy.iter().any(|t| t == cell) {
            Some(true)
        } else if self.falsy.iter().any(|f| f == cell) {
            Some(false)
        } else {
            None
        }
    }
}

/// The candidate kinds `cell` parses as, looking only at those still in `wanted`.
fn kinds_of(cell: &[u8], bools: &BoolValues, wanted: u16) -> u16 {
    let mut k = 0;
    if wanted & BOOL != 0 && bools.parse(cell).is_some() {
        k |= BOOL;
    }
    if wanted & (INT | FLOAT) != 0 && parse_i64(cell).is_some() {
        return k | INT | FLOAT;
    }
    if wanted & (DATE | TS_S | TS_NS | TSZ_S | TSZ_NS) != 0 && cell.len() >= 10 {
        if parse_date(cell).is_some() {
            return k | DATE | TS_S | TS_NS;
        }
        if let Some(ts) = parse_timestamp(cell) {
            return k | match (ts.has_zone, ts.has_fraction) {
                (false, false) => TS_S | TS_NS,
                (false, true) => TS_NS,
                (true, false) => TSZ_S | TSZ_NS,
                (true, true) => TSZ_NS,
            };
        }
    }
    if wanted & TIME != 0
        && let Some(t) = parse_time(cell)
        && !t.has_fraction
    {
        return k | TIME;
    }
    if wanted & FLOAT != 0 && parse_f64(cell).is_some() {
        k |= FLOAT;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_spellings() {
        let v = |l: &[&str]| l.iter().map(|s| s.as_bytes().to_vec()).collect();
        let long_t = "yes-indeed";
        let t: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        let mut truthy: Vec<&str> = t.iter().map(String::as_str).collect();
        truthy.extend(["", "both", long_t]);
        let b = BoolValues::new(v(&truthy), v(&["f", "both", "F", "nope-long-one"]));
        // The same answers with one probe and with linear probing.
        let mut probing = b.clone();
        probing.direct = false;
        for b in [&b, &probing] {
            for s in &truthy {
                assert_eq!(b.parse(s.as_bytes()), Some(true), "{s}");
            }
            for s in ["f", "F", "nope-long-one"] {
                assert_eq!(b.parse(s.as_bytes()), Some(false), "{s}");
            }
            for s in ["t20", "x", "yes-indee", "both ", "ff", "\u{e9}"] {
                assert_eq!(b.parse(s.as_bytes()), None, "{s}");
            }
        }
        // pyarrow's spellings get a table of one probe.
        let default = BoolValues::new(
            v(crate::csv::DEFAULT_TRUE_VALUES),
            v(crate::csv::DEFAULT_FALSE_VALUES),
        );
        assert!(default.direct);
        assert_eq!(default.parse(b"true"), Some(true));
        assert_eq!(default.parse(b"FALSE"), Some(false));
        assert_eq!(default.parse(b"tru"), None);
        let none = BoolValues::new(Vec::new(), Vec::new());
        assert_eq!(none.parse(b"true"), None);
        assert_eq!(none.parse(b""), None);
    }

    #[test]
    fn short_keys_are_bytes_then_length() {
        let text = b"\xFFa1Tb0\x80z";
        for n in 0..=8 {
            for start in 0..=text.len() - n {
                let b = &text[start..start + n];
                let want = (n <= 7).then(|| {
                    let mut k = (n as u64) << 56;
                    for (i, &c) in b.iter().enumerate() {
                        k |= u64::from(c) << (8 * i);
                    }
                    k
                });
                assert_eq!(short_key(b), want, "{b:?}");
            }
        }
    }

    fn infer(cells: &[&str]) -> ArrowType {
        let bools = BoolValues::new(
            vec![
                b"1".to_vec(),
                b"true".to_vec(),
                b"True".to_vec(),
                b"TRUE".to_vec(),
            ],
            vec![
                b"0".to_vec(),
                b"false".to_vec(),
                b"False".to_vec(),
                b"FALSE".to_vec(),
            ],
        );
        let mut inf = Inference::new();
        for c in cells {
            inf.observe(c.as_bytes(), &bools);
        }
        inf.result().0
    }

    #[test]
    fn preference_order_is_pyarrows() {
        assert_eq!(infer(&["1", "-2"]), ArrowType::Int64);
        assert_eq!(infer(&["1", "2.5"]), ArrowType::Float64);
        assert_eq!(infer(&["1", "x"]), ArrowType::String);
        assert_eq!(infer(&["1", "true"]), ArrowType::Boolean);
        assert_eq!(infer(&["0", "1"]), ArrowType::Int64);
        assert_eq!(infer(&["True", "FALSE"]), ArrowType::Boolean);
        assert_eq!(infer(&["tRUE"]), ArrowType::String);
        assert_eq!(infer(&["2020-01-01"]), ArrowType::Date32);
        assert_eq!(infer(&["12:34"]), ArrowType::Time32(TimeUnit::Seconds));
        assert_eq!(infer(&["12:34:56.5"]), ArrowType::String);
        assert_eq!(
            infer(&["2020-01-01", "2020-01-01 12:00"]),
            ArrowType::Timestamp(TimeUnit::Seconds, None)
        );
        assert_eq!(
            infer(&["2020-01-01T12:00:00.5"]),
            ArrowType::Timestamp(TimeUnit::Nanoseconds, None)
        );
        assert_eq!(
            infer(&["2020-01-01T12:00:00Z", "2020-01-01T12:00:00+01:00"]),
            ArrowType::Timestamp(TimeUnit::Seconds, Some("UTC".into()))
        );
        assert_eq!(
            infer(&["2020-01-01T12:00:00Z", "2020-01-01T12:00:00"]),
            ArrowType::String
        );
        assert_eq!(infer(&["inf", "1e5"]), ArrowType::Float64);
        assert_eq!(infer(&["9223372036854775808"]), ArrowType::Float64);
        assert_eq!(infer(&[]), ArrowType::String);
    }
}
