//! Text for Arrow types and values: the one place that names a type and that
//! writes a date, time of day, timestamp, duration or decimal as text.
//!
//! Two renderings, where the crates that use them need both:
//! - type names as arrow-rs spells them ([`arrow_type_name`]:
//!   `Timestamp(Millisecond, "UTC")`, what [`FieldInfo::arrow_type`] and the
//!   browser's `Column.typeName` show) and as pyarrow's `str(type)` does
//!   ([`pyarrow_type_name`]: `timestamp[ms, tz=UTC]`, what CSV error messages
//!   say and what the interop tests compare with pyarrow);
//! - values as pyarrow's CSV writer writes them ([`ValueStyle::Pyarrow`]: the
//!   CSV encoder) and as ISO 8601 for people reading a table
//!   ([`ValueStyle::Iso`]: the CLI's `cat`).
//!
//! Writers append ASCII (plus a zone name as given) to a `Vec<u8>`, so the CSV
//! encoder writes straight into its output. Not here: parsing text into values
//! (`csv/text.rs`), floats (the CSV encoder's shortest round trip and the CLI's
//! table view differ on purpose), time-zone rules.
//!
//! [`FieldInfo::arrow_type`]: crate::ipc::FieldInfo::arrow_type
//!
//! ```
//! use lightstream_core::display::{arrow_type_name, pyarrow_type_name};
//! use lightstream_core::display::{write_timestamp, ValueStyle};
//! use lightstream_core::minarrow::{ArrowType, TimeUnit};
//!
//! let ts = ArrowType::Timestamp(TimeUnit::Milliseconds, Some("UTC".into()));
//! assert_eq!(arrow_type_name(&ts, None), r#"Timestamp(Millisecond, "UTC")"#);
//! assert_eq!(pyarrow_type_name(&ts, None), "timestamp[ms, tz=UTC]");
//!
//! // A UTC column, in each style: fraction digits only when not zero, or always.
//! let (mut csv, mut iso) = (Vec::new(), Vec::new());
//! write_timestamp(&mut csv, 1_500, 3, Some("UTC"), ValueStyle::Pyarrow);
//! write_timestamp(&mut iso, 1_000, 3, Some("UTC"), ValueStyle::Iso);
//! assert_eq!(csv, b"1970-01-01T00:00:01.500Z");
//! assert_eq!(iso, b"1970-01-01T00:00:01.000Z");
//! ```

use minarrow::{ArrowType, TimeUnit};

use crate::ipc::{DictionaryEncoding, IndexType};

// ------------------------------------------------------------------ type names

/// The Arrow name of a minarrow type as arrow-rs spells it (its `DataType`'s
/// `Debug`), e.g. `Timestamp(Millisecond, "UTC")` or `Dictionary<UInt32, Utf8>`;
/// what [`FieldInfo::arrow_type`](crate::ipc::FieldInfo::arrow_type) holds.
pub fn arrow_type_name(dtype: &ArrowType, dictionary: Option<&DictionaryEncoding>) -> String {
    let unit = |u: &TimeUnit| match u {
        TimeUnit::Seconds => "Second",
        TimeUnit::Milliseconds => "Millisecond",
        TimeUnit::Microseconds => "Microsecond",
        TimeUnit::Nanoseconds => "Nanosecond",
        TimeUnit::Days => "Day",
    };
    match dtype {
        ArrowType::Null => "Null".into(),
        ArrowType::Boolean => "Boolean".into(),
        ArrowType::Int8 => "Int8".into(),
        ArrowType::Int16 => "Int16".into(),
        ArrowType::Int32 => "Int32".into(),
        ArrowType::Int64 => "Int64".into(),
        ArrowType::UInt8 => "UInt8".into(),
        ArrowType::UInt16 => "UInt16".into(),
        ArrowType::UInt32 => "UInt32".into(),
        ArrowType::UInt64 => "UInt64".into(),
        ArrowType::Float32 => "Float32".into(),
        ArrowType::Float64 => "Float64".into(),
        ArrowType::String => "Utf8".into(),
        ArrowType::LargeString => "LargeUtf8".into(),
        ArrowType::Dictionary(c) => {
            let (index, large) = match dictionary {
                Some(d) => (d.index_type, d.large_values),
                None => (IndexType::for_categorical(c), false),
            };
            let values = if large { "LargeUtf8" } else { "Utf8" };
            format!("Dictionary<{}, {values}>", index.name())
        }
        ArrowType::Date32 => "Date32".into(),
        ArrowType::Date64 => "Date64".into(),
        ArrowType::Time32(u) => format!("Time32({})", unit(u)),
        ArrowType::Time64(u) => format!("Time64({})", unit(u)),
        ArrowType::Timestamp(u, Some(tz)) => format!("Timestamp({}, \"{tz}\")", unit(u)),
        ArrowType::Timestamp(u, None) => format!("Timestamp({}, None)", unit(u)),
        ArrowType::Duration32(u) | ArrowType::Duration64(u) => format!("Duration({})", unit(u)),
        ArrowType::Decimal32(p, s) => format!("Decimal32({p}, {s})"),
        ArrowType::Decimal64(p, s) => format!("Decimal64({p}, {s})"),
        ArrowType::Decimal128(p, s) => format!("Decimal128({p}, {s})"),
        other => format!("{other:?}"),
    }
}

/// A time unit as Arrow abbreviates it in pyarrow's type names: `s`, `ms`,
/// `us`, `ns` (and `day`).
pub fn unit_abbreviation(u: &TimeUnit) -> &'static str {
    match u {
        TimeUnit::Seconds => "s",
        TimeUnit::Milliseconds => "ms",
        TimeUnit::Microseconds => "us",
        TimeUnit::Nanoseconds => "ns",
        TimeUnit::Days => "day",
    }
}

/// A dictionary index type as pyarrow names it (`int8` ... `uint64`).
pub fn pyarrow_index_name(t: IndexType) -> &'static str {
    match t {
        IndexType::Int8 => "int8",
        IndexType::Int16 => "int16",
        IndexType::Int32 => "int32",
        IndexType::Int64 => "int64",
        IndexType::UInt8 => "uint8",
        IndexType::UInt16 => "uint16",
        IndexType::UInt32 => "uint32",
        IndexType::UInt64 => "uint64",
    }
}

/// The Arrow name of a minarrow type exactly as pyarrow's `str(type)` prints
/// it, e.g. `timestamp[ms, tz=UTC]`, `decimal128(10, 2)` or
/// `dictionary<values=string, indices=int32, ordered=0>`. Without a
/// [`DictionaryEncoding`], a dictionary is named with the unsigned keys of
/// its minarrow width, unordered.
pub fn pyarrow_type_name(dtype: &ArrowType, dictionary: Option<&DictionaryEncoding>) -> String {
    let unit = unit_abbreviation;
    match dtype {
        ArrowType::Null => "null".into(),
        ArrowType::Boolean => "bool".into(),
        ArrowType::Int8 => "int8".into(),
        ArrowType::Int16 => "int16".into(),
        ArrowType::Int32 => "int32".into(),
        ArrowType::Int64 => "int64".into(),
        ArrowType::UInt8 => "uint8".into(),
        ArrowType::UInt16 => "uint16".into(),
        ArrowType::UInt32 => "uint32".into(),
        ArrowType::UInt64 => "uint64".into(),
        ArrowType::Float32 => "float".into(),
        ArrowType::Float64 => "double".into(),
        ArrowType::String => "string".into(),
        ArrowType::LargeString => "large_string".into(),
        ArrowType::Date32 => "date32[day]".into(),
        ArrowType::Date64 => "date64[ms]".into(),
        ArrowType::Time32(u) => format!("time32[{}]", unit(u)),
        ArrowType::Time64(u) => format!("time64[{}]", unit(u)),
        ArrowType::Duration32(u) | ArrowType::Duration64(u) => format!("duration[{}]", unit(u)),
        ArrowType::Timestamp(u, None) => format!("timestamp[{}]", unit(u)),
        ArrowType::Timestamp(u, Some(tz)) => format!("timestamp[{}, tz={tz}]", unit(u)),
        ArrowType::Decimal32(p, s) | ArrowType::Decimal64(p, s) | ArrowType::Decimal128(p, s) => {
            // One format for the three widths: a smaller .wasm than three.
            let bits = match dtype {
                ArrowType::Decimal32(..) => 32,
                ArrowType::Decimal64(..) => 64,
                _ => 128,
            };
            format!("decimal{bits}({p}, {s})")
        }
        ArrowType::Dictionary(c) => {
            let (index, large, ordered) = match dictionary {
                Some(d) => (d.index_type, d.large_values, d.ordered),
                None => (IndexType::for_categorical(c), false, false),
            };
            format!(
                "dictionary<values={}, indices={}, ordered={}>",
                if large { "large_string" } else { "string" },
                pyarrow_index_name(index),
                u8::from(ordered)
            )
        }
        other => format!("{other:?}"),
    }
}

// ------------------------------------------------------------------ values

/// Which text a value gets, where the two renderings differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueStyle {
    /// As pyarrow's CSV writer: fraction digits only when the fraction is not
    /// zero (`00:00:01`, `00:00:01.500`), `Z` after any zoned timestamp (the
    /// value is the UTC instant), years outside 0000..=9999 as plain signed
    /// numbers (`10000-01-01`).
    Pyarrow,
    /// ISO 8601 for people reading a table: every fraction digit of the unit
    /// (`00:00:01.000`), expanded years (`+10000-01-01`, `-0001-01-01`),
    /// `Z` for UTC, fixed offsets (`+05:30`) applied, other zone names kept
    /// in brackets after the UTC instant (`...Z[Europe/Paris]`, RFC 9557).
    Iso,
}

/// Fraction digits of a time unit (seconds and days 0, ms 3, us 6, ns 9).
pub fn unit_digits(unit: &TimeUnit) -> u32 {
    match unit {
        TimeUnit::Seconds | TimeUnit::Days => 0,
        TimeUnit::Milliseconds => 3,
        TimeUnit::Microseconds => 6,
        TimeUnit::Nanoseconds => 9,
    }
}

/// The (year, month, day) of the proleptic Gregorian calendar for a count of
/// days since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Appends a signed integer in decimal.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// "00" to "99", two bytes each.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

#[inline]
fn pair(v: u64) -> [u8; 2] {
    let i = (v % 100) as usize * 2;
    [DIGIT_PAIRS[i], DIGIT_PAIRS[i + 1]]
}

/// Appends an unsigned integer in decimal (two digits per division).
#[inline]
pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&pair(v));
        v /= 100;
    }
    if v >= 10 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&pair(v));
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends a decimal's unscaled integer `v` with `scale` applied (the same
/// in both styles): `(12345, 2)` -> `123.45`, `(-5, 3)` -> `-0.005`,
/// `(12, -2)` -> `1200`, `(0, -3)` -> `0`.
#[inline]
pub fn write_decimal(out: &mut Vec<u8>, v: i128, scale: i8) {
    let mut digits = v.unsigned_abs().to_string().into_bytes();
    if v < 0 {
        out.push(b'-');
    }
    if scale <= 0 {
        out.extend_from_slice(&digits);
        if v != 0 {
            out.extend(std::iter::repeat_n(b'0', usize::from(scale.unsigned_abs())));
        }
        return;
    }
    let scale = scale as usize;
    if digits.len() <= scale {
        let mut padded = vec![b'0'; scale + 1 - digits.len()];
        padded.extend_from_slice(&digits);
        digits = padded;
    }
    let split = digits.len() - scale;
    out.extend_from_slice(&digits[..split]);
    out.push(b'.');
    out.extend_from_slice(&digits[split..]);
}

fn push2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Appends `YYYY-MM-DD` for a day count since the epoch; years outside
/// 0000..=9999 as the style says.
#[inline]
pub fn write_date(out: &mut Vec<u8>, days: i64, style: ValueStyle) {
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        let y = y as u32;
        push2(out, y / 100);
        push2(out, y % 100);
    } else {
        match style {
            ValueStyle::Pyarrow => write_i64(out, y),
            ValueStyle::Iso => {
                out.push(if y < 0 { b'-' } else { b'+' });
                let digits = y.unsigned_abs();
                if digits < 10_000 {
                    // At least four digits after the sign.
                    push2(out, (digits / 100) as u32);
                    push2(out, (digits % 100) as u32);
                } else {
                    write_u64(out, digits);
                }
            }
        }
    }
    out.push(b'-');
    push2(out, m);
    out.push(b'-');
    push2(out, d);
}

/// Appends `HH:MM:SS` and the fraction `sub` (the sub-second part, in units
/// with `digits` fraction digits) as exactly `digits` digits: always under
/// [`ValueStyle::Iso`], only when `sub` is not zero under [`ValueStyle::Pyarrow`].
#[inline]
pub fn write_time_of_day(
    out: &mut Vec<u8>,
    secs_of_day: u32,
    sub: u64,
    digits: u32,
    style: ValueStyle,
) {
    push2(out, secs_of_day / 3600);
    out.push(b':');
    push2(out, secs_of_day / 60 % 60);
    out.push(b':');
    push2(out, secs_of_day % 60);
    let fraction = match style {
        ValueStyle::Pyarrow => sub != 0,
        ValueStyle::Iso => true,
    };
    if fraction && digits > 0 {
        out.push(b'.');
        let mut buf = [b'0'; 9];
        let mut v = sub;
        for i in (0..digits.min(9) as usize).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.extend_from_slice(&buf[..digits.min(9) as usize]);
    }
}

/// Units per second for a unit given as its number of fraction digits.
fn units_per_sec(digits: u32) -> i64 {
    10i64.pow(digits.min(9))
}

/// Appends an ISO 8601 timestamp `YYYY-MM-DDTHH:MM:SS[.fff]` for `v` units
/// (with `digits` fraction digits) since the epoch, in a column whose time
/// zone is `tz` (see [`ValueStyle`] for what each style does with it).
#[inline]
pub fn write_timestamp(
    out: &mut Vec<u8>,
    v: i64,
    digits: u32,
    tz: Option<&str>,
    style: ValueStyle,
) {
    let per_sec = units_per_sec(digits);
    let zone = match style {
        ValueStyle::Pyarrow => tz.map(|_| Zone::Utc),
        ValueStyle::Iso => tz.map(Zone::parse),
    };
    let secs = v.div_euclid(per_sec);
    let sub = v.rem_euclid(per_sec) as u64;
    let (days, sod) = match &zone {
        Some(Zone::Offset { seconds, .. }) => {
            // In i128: the offset can carry the seconds past i64's range;
            // a day count (|secs| / 86,400) is far inside it.
            let s = i128::from(secs) + i128::from(*seconds);
            (s.div_euclid(86_400) as i64, s.rem_euclid(86_400) as u32)
        }
        _ => (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32),
    };
    let (y, m, d) = civil_from_days(days);
    if style == ValueStyle::Pyarrow && sub == 0 && (0..=9999).contains(&y) {
        // The common whole-second case, built in place.
        let y = y as u64;
        let (h, mi, s) = (
            u64::from(sod / 3600),
            u64::from(sod / 60 % 60),
            u64::from(sod % 60),
        );
        let [y1, y2] = pair(y / 100);
        let [y3, y4] = pair(y);
        let [m1, m2] = pair(u64::from(m));
        let [d1, d2] = pair(u64::from(d));
        let [h1, h2] = pair(h);
        let [i1, i2] = pair(mi);
        let [s1, s2] = pair(s);
        out.extend_from_slice(&[
            y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2, b'T', h1, h2, b':', i1, i2, b':', s1, s2,
        ]);
    } else {
        write_date(out, days, style);
        out.push(b'T');
        write_time_of_day(out, sod, sub, digits, style);
    }
    match zone {
        None => {}
        Some(Zone::Utc) => out.push(b'Z'),
        Some(Zone::Offset { text, .. }) => out.extend_from_slice(&text),
        Some(Zone::Named(name)) => {
            out.extend_from_slice(b"Z[");
            out.extend_from_slice(name.as_bytes());
            out.push(b']');
        }
    }
}

/// Appends a time of day of `v` units (`HH:MM:SS` plus the unit's fraction
/// digits, as [`ValueStyle::Iso`]); a value outside one day is not a time
/// and is written as the count with the unit (`90000s`).
pub fn write_time(out: &mut Vec<u8>, v: i64, unit: TimeUnit) {
    let digits = unit_digits(&unit);
    let per_sec = units_per_sec(digits);
    if unit == TimeUnit::Days || !(0..86_400 * per_sec).contains(&v) {
        write_i64(out, v);
        out.extend_from_slice(unit_suffix(unit).as_bytes());
        return;
    }
    write_time_of_day(
        out,
        (v / per_sec) as u32,
        (v % per_sec) as u64,
        digits,
        ValueStyle::Iso,
    );
}

/// Appends a duration of `v` units as `[-][Nd ]HH:MM:SS` plus the unit's
/// fraction digits, e.g. `1d 02:03:04.500` or `-00:00:00.250`.
pub fn write_duration(out: &mut Vec<u8>, v: i64, unit: TimeUnit) {
    let digits = unit_digits(&unit);
    let per_sec = u128::from(units_per_sec(digits).unsigned_abs());
    let magnitude = u128::from(v.unsigned_abs());
    let (secs, sub) = if unit == TimeUnit::Days {
        (magnitude * 86_400, 0)
    } else {
        (magnitude / per_sec, magnitude % per_sec)
    };
    if v < 0 {
        out.push(b'-');
    }
    let days = secs / 86_400;
    if days > 0 {
        out.extend_from_slice(days.to_string().as_bytes());
        out.extend_from_slice(b"d ");
    }
    // Below one day and below one second: both fit.
    write_time_of_day(
        out,
        (secs % 86_400) as u32,
        sub as u64,
        digits,
        ValueStyle::Iso,
    );
}

/// The suffix of a raw count of a unit: `s`, `ms`, `us`, `ns`, `d`.
pub fn unit_suffix(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Seconds => "s",
        TimeUnit::Milliseconds => "ms",
        TimeUnit::Microseconds => "us",
        TimeUnit::Nanoseconds => "ns",
        TimeUnit::Days => "d",
    }
}

/// How a timestamp's zone is written.
#[derive(Debug, PartialEq, Eq)]
enum Zone<'a> {
    Utc,
    /// A fixed offset east of UTC, and its normalised `+HH:MM` text.
    Offset {
        seconds: i32,
        text: [u8; 6],
    },
    Named(&'a str),
}

impl<'a> Zone<'a> {
    fn parse(tz: &'a str) -> Zone<'a> {
        if ["UTC", "Etc/UTC", "Z"]
            .iter()
            .any(|u| tz.eq_ignore_ascii_case(u))
        {
            return Zone::Utc;
        }
        match parse_offset(tz) {
            Some(seconds) => {
                let minutes = seconds.unsigned_abs() / 60;
                let (h, m) = (minutes / 60, minutes % 60);
                let digit = |v: u32| b'0' + (v % 10) as u8;
                Zone::Offset {
                    seconds,
                    text: [
                        if seconds < 0 { b'-' } else { b'+' },
                        digit(h / 10),
                        digit(h),
                        b':',
                        digit(m / 10),
                        digit(m),
                    ],
                }
            }
            None => Zone::Named(tz),
        }
    }
}

/// `+HH:MM`, `-HH:MM`, `+HHMM` or `+HH` as seconds east of UTC.
fn parse_offset(tz: &str) -> Option<i32> {
    let (sign, rest) = match tz.as_bytes().first()? {
        b'+' => (1, &tz[1..]),
        b'-' => (-1, &tz[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 5 {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3_600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).expect("ASCII")
    }

    #[test]
    fn styles_differ_only_where_documented() {
        use ValueStyle::{Iso, Pyarrow};
        assert_eq!(
            text(|o| write_timestamp(o, 1500, 3, None, Pyarrow)),
            "1970-01-01T00:00:01.500"
        );
        assert_eq!(
            text(|o| write_timestamp(o, 2000, 3, None, Pyarrow)),
            "1970-01-01T00:00:02"
        );
        assert_eq!(
            text(|o| write_timestamp(o, 2000, 3, None, Iso)),
            "1970-01-01T00:00:02.000"
        );
        assert_eq!(
            text(|o| write_timestamp(o, 0, 0, Some("+05:30"), Pyarrow)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            text(|o| write_timestamp(o, 0, 0, Some("+05:30"), Iso)),
            "1970-01-01T05:30:00+05:30"
        );
        assert_eq!(
            text(|o| write_timestamp(o, 0, 0, Some("Europe/Paris"), Iso)),
            "1970-01-01T00:00:00Z[Europe/Paris]"
        );
        // Seconds near i64::MAX plus an offset: no overflow.
        assert!(text(|o| write_timestamp(o, i64::MAX, 0, Some("+01:00"), Iso)).ends_with("+01:00"));
        let year_10000 = 2_932_897;
        assert_eq!(text(|o| write_date(o, year_10000, Pyarrow)), "10000-01-01");
        assert_eq!(text(|o| write_date(o, year_10000, Iso)), "+10000-01-01");
        let year_minus_1 = -719_893;
        assert_eq!(text(|o| write_date(o, year_minus_1, Pyarrow)), "-1-01-01");
        assert_eq!(text(|o| write_date(o, year_minus_1, Iso)), "-0001-01-01");
        assert_eq!(text(|o| write_decimal(o, 0, -3)), "0");
        assert_eq!(text(|o| write_decimal(o, -12, -2)), "-1200");
        assert_eq!(text(|o| write_decimal(o, -5, 3)), "-0.005");
    }

    #[test]
    fn offsets_parse_strictly() {
        assert_eq!(parse_offset("+05:30"), Some(19_800));
        assert_eq!(parse_offset("-0800"), Some(-28_800));
        assert_eq!(parse_offset("+01"), Some(3_600));
        assert_eq!(parse_offset("+5:30"), None);
        assert_eq!(parse_offset("+24:00"), None);
        assert_eq!(parse_offset("Europe/Paris"), None);
        assert_eq!(parse_offset("+"), None);
    }

    #[test]
    fn type_names_in_both_spellings() {
        let ts = ArrowType::Timestamp(TimeUnit::Milliseconds, Some("UTC".into()));
        assert_eq!(
            arrow_type_name(&ts, None),
            "Timestamp(Millisecond, \"UTC\")"
        );
        assert_eq!(pyarrow_type_name(&ts, None), "timestamp[ms, tz=UTC]");
        let dict = ArrowType::Dictionary(minarrow::ffi::arrow_dtype::CategoricalIndexType::UInt32);
        assert_eq!(arrow_type_name(&dict, None), "Dictionary<UInt32, Utf8>");
        assert_eq!(
            pyarrow_type_name(&dict, None),
            "dictionary<values=string, indices=uint32, ordered=0>"
        );
        assert_eq!(
            pyarrow_type_name(&ArrowType::Decimal128(10, 2), None),
            "decimal128(10, 2)"
        );
    }
}
