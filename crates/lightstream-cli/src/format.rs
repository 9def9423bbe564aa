//! Human-readable text for single Arrow values, as `lightstream cat` prints them.
//!
//! What it is for: turning one cell of a decoded `minarrow` column into a string
//! (dates as `YYYY-MM-DD`, timestamps as ISO 8601 with the precision of their unit,
//! decimals with their scale applied, ...). The pure functions (`format_date`,
//! `format_timestamp`, `format_decimal`, ...) wrap the core's one set of value
//! formatters (`lightstream_core::display`, in its ISO style); `write_value`
//! dispatches on the column's array and Arrow type.
//!
//! What it is not: a parser, a time-zone database or a locale-aware formatter.
//! Timestamps with a named zone other than UTC are shown as the UTC instant with
//! the zone name attached in brackets (RFC 9557 style), because the CLI carries no
//! zone rules; fixed offsets such as `+05:30` are applied.
//!
//! Nothing here panics on odd data: an index past the end of a buffer prints `?`.

use std::fmt::Write as _;

use lightstream_core::display::{self, ValueStyle};
use minarrow::{
    Array, ArrowType, Bitmask, CategoricalArray, DatetimeArray, DecimalArray, FloatArray, Integer,
    IntegerArray, NumericArray, StringArray, TemporalArray, TextArray, TimeUnit,
};

/// What a null cell prints as.
pub const NULL: &str = "null";

/// Printed when a row index lies outside a column's buffers (a malformed table).
const MISSING: &str = "?";

/// How a column's text lines up in a table: numbers to the right, everything else left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// The alignment that reads best for values of this Arrow type.
pub fn align_for(dtype: &ArrowType) -> Align {
    match dtype {
        ArrowType::Int8
        | ArrowType::Int16
        | ArrowType::Int32
        | ArrowType::Int64
        | ArrowType::UInt8
        | ArrowType::UInt16
        | ArrowType::UInt32
        | ArrowType::UInt64
        | ArrowType::Float32
        | ArrowType::Float64
        | ArrowType::Decimal32(..)
        | ArrowType::Decimal64(..)
        | ArrowType::Decimal128(..)
        | ArrowType::Duration32(_)
        | ArrowType::Duration64(_) => Align::Right,
        _ => Align::Left,
    }
}

/// Appends the text of row `row` of `array` (whose Arrow type is `dtype`) to `out`.
pub fn write_value(out: &mut String, array: &Array, dtype: &ArrowType, row: usize) {
    match array {
        Array::Null => out.push_str(NULL),
        Array::BooleanArray(a) => match cell_state(a.null_mask.as_ref(), row, a.data.len()) {
            Cell::Value => out.push_str(if a.data.get(row) { "true" } else { "false" }),
            other => out.push_str(other.text()),
        },
        Array::NumericArray(n) => write_numeric(out, n, row),
        Array::TextArray(t) => write_text(out, t, row),
        Array::TemporalArray(t) => write_temporal(out, t, dtype, row),
    }
}

/// One cell of `table` as text (for tests that check generated tables).
#[cfg(test)]
pub(crate) fn cell(table: &lightstream_core::minarrow::Table, col: usize, row: usize) -> String {
    let mut out = String::new();
    let c = &table.cols[col];
    write_value(&mut out, &c.array, &c.field.dtype, row);
    out
}

/// Whether a cell holds a value, is null, or lies outside the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Value,
    Null,
    Missing,
}

impl Cell {
    fn text(self) -> &'static str {
        match self {
            Cell::Value => "",
            Cell::Null => NULL,
            Cell::Missing => MISSING,
        }
    }
}

fn cell_state(mask: Option<&Bitmask>, row: usize, len: usize) -> Cell {
    if row >= len {
        return Cell::Missing;
    }
    match mask {
        // A mask shorter than the column is malformed; treat the missing bits as null
        // rather than reading past the mask.
        Some(m) if row >= m.len() || !m.get(row) => Cell::Null,
        _ => Cell::Value,
    }
}

fn write_integer<T: Integer + std::fmt::Display>(
    out: &mut String,
    a: &IntegerArray<T>,
    row: usize,
) {
    match cell_state(a.null_mask.as_ref(), row, a.data.len()) {
        Cell::Value => {
            let _ = write!(out, "{}", a.data[row]);
        }
        other => out.push_str(other.text()),
    }
}

fn write_float<T: Copy + Into<f64> + FloatText>(out: &mut String, a: &FloatArray<T>, row: usize) {
    match cell_state(a.null_mask.as_ref(), row, a.data.len()) {
        Cell::Value => out.push_str(&a.data[row].float_text()),
        other => out.push_str(other.text()),
    }
}

fn write_decimal<T: Copy + Into<i128>>(out: &mut String, a: &DecimalArray<T>, row: usize) {
    match cell_state(a.null_mask.as_ref(), row, a.data.len()) {
        Cell::Value => out.push_str(&format_decimal(a.data[row].into(), a.scale)),
        other => out.push_str(other.text()),
    }
}

fn write_numeric(out: &mut String, n: &NumericArray, row: usize) {
    match n {
        NumericArray::Int8(a) => write_integer(out, a, row),
        NumericArray::Int16(a) => write_integer(out, a, row),
        NumericArray::Int32(a) => write_integer(out, a, row),
        NumericArray::Int64(a) => write_integer(out, a, row),
        NumericArray::UInt8(a) => write_integer(out, a, row),
        NumericArray::UInt16(a) => write_integer(out, a, row),
        NumericArray::UInt32(a) => write_integer(out, a, row),
        NumericArray::UInt64(a) => write_integer(out, a, row),
        NumericArray::Float32(a) => write_float(out, a, row),
        NumericArray::Float64(a) => write_float(out, a, row),
        NumericArray::Decimal32(a) => write_decimal(out, a, row),
        NumericArray::Decimal64(a) => write_decimal(out, a, row),
        NumericArray::Decimal128(a) => write_decimal(out, a, row),
        NumericArray::Null => out.push_str(NULL),
    }
}

fn write_string<T: Integer>(out: &mut String, a: &StringArray<T>, row: usize) {
    let len = a.offsets.len().saturating_sub(1);
    match cell_state(a.null_mask.as_ref(), row, len) {
        Cell::Value => {
            let start = Integer::to_usize(a.offsets[row]);
            let end = Integer::to_usize(a.offsets[row + 1]);
            match a.data.get(start..end) {
                Some(bytes) => push_text(out, &String::from_utf8_lossy(bytes)),
                None => out.push_str(MISSING),
            }
        }
        other => out.push_str(other.text()),
    }
}

fn write_categorical<T: Integer>(out: &mut String, a: &CategoricalArray<T>, row: usize) {
    match cell_state(a.null_mask.as_ref(), row, a.data.len()) {
        Cell::Value => match a.unique_values.get(Integer::to_usize(a.data[row])) {
            Some(s) => push_text(out, s),
            None => out.push_str(MISSING),
        },
        other => out.push_str(other.text()),
    }
}

fn write_text(out: &mut String, t: &TextArray, row: usize) {
    match t {
        TextArray::String32(a) => write_string(out, a, row),
        TextArray::String64(a) => write_string(out, a, row),
        TextArray::Categorical8(a) => write_categorical(out, a, row),
        TextArray::Categorical16(a) => write_categorical(out, a, row),
        TextArray::Categorical32(a) => write_categorical(out, a, row),
        TextArray::Categorical64(a) => write_categorical(out, a, row),
        TextArray::Null => out.push_str(NULL),
    }
}

/// Strings print as they are, except that control characters (a newline, a tab)
/// are escaped so that one row stays on one line.
fn push_text(out: &mut String, s: &str) {
    if !s.chars().any(char::is_control) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

fn write_temporal(out: &mut String, t: &TemporalArray, dtype: &ArrowType, row: usize) {
    let value = match t {
        TemporalArray::Datetime32(a) => raw_temporal(a, row),
        TemporalArray::Datetime64(a) => raw_temporal(a, row),
        TemporalArray::Null => Err(Cell::Null),
    };
    let value = match value {
        Ok(v) => v,
        Err(cell) => {
            out.push_str(cell.text());
            return;
        }
    };
    // The field's Arrow type says what the integer means; the array's own unit is
    // only a fallback for types that carry none.
    let unit_of_array = match t {
        TemporalArray::Datetime32(a) => a.time_unit,
        TemporalArray::Datetime64(a) => a.time_unit,
        TemporalArray::Null => TimeUnit::Days,
    };
    let text = match dtype {
        ArrowType::Date32 => format_date(value, TimeUnit::Days),
        ArrowType::Date64 => format_date(value, TimeUnit::Milliseconds),
        ArrowType::Timestamp(unit, tz) => format_timestamp(value, *unit, tz.as_deref()),
        ArrowType::Time32(unit) | ArrowType::Time64(unit) => format_time(value, *unit),
        ArrowType::Duration32(unit) | ArrowType::Duration64(unit) => format_duration(value, *unit),
        // Intervals and anything unexpected: the raw count with the array's unit.
        _ => format!("{value} {}", display::unit_suffix(unit_of_array)),
    };
    out.push_str(&text);
}

fn raw_temporal<T: Copy + Into<i64>>(a: &DatetimeArray<T>, row: usize) -> Result<i64, Cell> {
    match cell_state(a.null_mask.as_ref(), row, a.data.len()) {
        Cell::Value => Ok(a.data[row].into()),
        other => Err(other),
    }
}

/// Text for a float: the shortest text that reads back as the same value, with a
/// `.0` on whole numbers so a float never looks like an integer, and scientific
/// notation for very large or very small magnitudes.
pub trait FloatText {
    fn float_text(self) -> String;
}

impl FloatText for f64 {
    fn float_text(self) -> String {
        float_text(
            self,
            self.is_finite(),
            self.abs(),
            format!("{self}"),
            format!("{self:e}"),
        )
    }
}

impl FloatText for f32 {
    fn float_text(self) -> String {
        // f32's own Display, not a widening cast: 0.1f32 prints as 0.1.
        let abs = f64::from(self.abs());
        float_text(
            f64::from(self),
            self.is_finite(),
            abs,
            format!("{self}"),
            format!("{self:e}"),
        )
    }
}

fn float_text(value: f64, finite: bool, abs: f64, plain: String, sci: String) -> String {
    if !finite {
        return if value.is_nan() {
            "NaN".to_string()
        } else if value > 0.0 {
            "inf".to_string()
        } else {
            "-inf".to_string()
        };
    }
    if abs != 0.0 && !(1e-5..1e16).contains(&abs) {
        return sci;
    }
    if plain.contains('.') {
        plain
    } else {
        plain + ".0"
    }
}

/// Runs one of the core's byte writers (`lightstream_core::display`, the one
/// set of value formatters) and returns its text.
fn text_of(write: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::with_capacity(32);
    write(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A decimal's unscaled integer `value` with `scale` applied:
/// `(12345, 2)` -> `123.45`, `(-5, 3)` -> `-0.005`, `(12, -2)` -> `1200`.
pub fn format_decimal(value: i128, scale: i8) -> String {
    text_of(|out| display::write_decimal(out, value, scale))
}

/// A date (`YYYY-MM-DD`, ISO 8601 expanded years outside 0000-9999) from days
/// (`Date32`) or milliseconds (`Date64`) since the epoch.
pub fn format_date(value: i64, unit: TimeUnit) -> String {
    let days = match unit {
        TimeUnit::Days => value,
        TimeUnit::Seconds => value.div_euclid(86_400),
        TimeUnit::Milliseconds => value.div_euclid(86_400_000),
        TimeUnit::Microseconds => value.div_euclid(86_400_000_000),
        TimeUnit::Nanoseconds => value.div_euclid(86_400_000_000_000),
    };
    text_of(|out| display::write_date(out, days, ValueStyle::Iso))
}

/// An ISO 8601 timestamp with as many fraction digits as the unit has.
/// - no zone: wall-clock time, no suffix (`2024-03-01T12:00:00.000`)
/// - `UTC` (also `Etc/UTC`, `Z`): `...Z`
/// - a fixed offset (`+05:30`, `-0800`): converted to that offset, `...+05:30`
/// - another zone name: the UTC instant plus the name, `...Z[Europe/Paris]`
pub fn format_timestamp(value: i64, unit: TimeUnit, tz: Option<&str>) -> String {
    let digits = display::unit_digits(&unit);
    text_of(|out| display::write_timestamp(out, value, digits, tz, ValueStyle::Iso))
}

/// A time of day (`HH:MM:SS` plus the unit's fraction digits). Values outside one
/// day are not valid times; they print as the raw count with the unit.
pub fn format_time(value: i64, unit: TimeUnit) -> String {
    text_of(|out| display::write_time(out, value, unit))
}

/// A duration as `[-][Nd ]HH:MM:SS` plus the unit's fraction digits,
/// e.g. `1d 02:03:04.500` or `-00:00:00.250`.
pub fn format_duration(value: i64, unit: TimeUnit) -> String {
    text_of(|out| display::write_duration(out, value, unit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use minarrow::Vec64;
    use std::sync::Arc;

    #[test]
    fn dates() {
        assert_eq!(format_date(0, TimeUnit::Days), "1970-01-01");
        assert_eq!(format_date(19_723, TimeUnit::Days), "2024-01-01");
        assert_eq!(format_date(19_782, TimeUnit::Days), "2024-02-29");
        assert_eq!(format_date(-1, TimeUnit::Days), "1969-12-31");
        assert_eq!(format_date(-719_528, TimeUnit::Days), "0000-01-01");
        assert_eq!(format_date(-719_529, TimeUnit::Days), "-0001-12-31");
        assert_eq!(format_date(2_932_897, TimeUnit::Days), "+10000-01-01");
        assert_eq!(
            format_date(i32::MAX.into(), TimeUnit::Days),
            "+5881580-07-11"
        );
        assert_eq!(
            format_date(i32::MIN.into(), TimeUnit::Days),
            "-5877641-06-23"
        );
        // Date64 counts milliseconds; a value inside a day floors to that day.
        assert_eq!(
            format_date(1_709_251_200_000, TimeUnit::Milliseconds),
            "2024-03-01"
        );
        assert_eq!(format_date(-1, TimeUnit::Milliseconds), "1969-12-31");
    }

    #[test]
    fn timestamps_take_the_precision_of_their_unit() {
        let t = 1_709_294_400; // 2024-03-01T12:00:00Z
        assert_eq!(
            format_timestamp(t, TimeUnit::Seconds, None),
            "2024-03-01T12:00:00"
        );
        assert_eq!(
            format_timestamp(t * 1_000 + 7, TimeUnit::Milliseconds, None),
            "2024-03-01T12:00:00.007"
        );
        assert_eq!(
            format_timestamp(t * 1_000_000 + 123_456, TimeUnit::Microseconds, Some("UTC")),
            "2024-03-01T12:00:00.123456Z"
        );
        assert_eq!(
            format_timestamp(t * 1_000_000_000 + 1, TimeUnit::Nanoseconds, Some("UTC")),
            "2024-03-01T12:00:00.000000001Z"
        );
    }

    #[test]
    fn timestamps_with_zones() {
        let t = 1_709_294_400_000; // 2024-03-01T12:00:00.000Z in ms
        assert_eq!(
            format_timestamp(t, TimeUnit::Milliseconds, Some("Etc/UTC")),
            "2024-03-01T12:00:00.000Z"
        );
        assert_eq!(
            format_timestamp(t, TimeUnit::Milliseconds, Some("+05:30")),
            "2024-03-01T17:30:00.000+05:30"
        );
        assert_eq!(
            format_timestamp(t, TimeUnit::Milliseconds, Some("-0800")),
            "2024-03-01T04:00:00.000-08:00"
        );
        assert_eq!(
            format_timestamp(t, TimeUnit::Milliseconds, Some("+00:00")),
            "2024-03-01T12:00:00.000+00:00"
        );
        assert_eq!(
            format_timestamp(t, TimeUnit::Milliseconds, Some("America/New_York")),
            "2024-03-01T12:00:00.000Z[America/New_York]"
        );
        // An offset that crosses midnight moves the date.
        assert_eq!(
            format_timestamp(0, TimeUnit::Seconds, Some("-01:00")),
            "1969-12-31T23:00:00-01:00"
        );
    }

    #[test]
    fn timestamps_before_the_epoch_floor() {
        assert_eq!(
            format_timestamp(-1, TimeUnit::Milliseconds, None),
            "1969-12-31T23:59:59.999"
        );
        assert_eq!(
            format_timestamp(-1_500_000, TimeUnit::Microseconds, Some("UTC")),
            "1969-12-31T23:59:58.500000Z"
        );
        // The extremes of i64 do not overflow.
        assert_eq!(
            format_timestamp(i64::MIN, TimeUnit::Nanoseconds, None),
            "1677-09-21T00:12:43.145224192"
        );
        assert_eq!(
            format_timestamp(i64::MAX, TimeUnit::Nanoseconds, None),
            "2262-04-11T23:47:16.854775807"
        );
        assert!(format_timestamp(i64::MAX, TimeUnit::Seconds, Some("+14:00")).starts_with('+'));
    }

    #[test]
    fn times_of_day() {
        assert_eq!(format_time(0, TimeUnit::Seconds), "00:00:00");
        assert_eq!(format_time(45_296, TimeUnit::Seconds), "12:34:56");
        assert_eq!(
            format_time(45_296_789, TimeUnit::Milliseconds),
            "12:34:56.789"
        );
        assert_eq!(
            format_time(86_399_999_999, TimeUnit::Microseconds),
            "23:59:59.999999"
        );
        assert_eq!(format_time(1, TimeUnit::Nanoseconds), "00:00:00.000000001");
        assert_eq!(format_time(86_400, TimeUnit::Seconds), "86400s");
        assert_eq!(format_time(-5, TimeUnit::Milliseconds), "-5ms");
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(0, TimeUnit::Seconds), "00:00:00");
        assert_eq!(
            format_duration(93_784_500, TimeUnit::Milliseconds),
            "1d 02:03:04.500"
        );
        assert_eq!(
            format_duration(-250, TimeUnit::Milliseconds),
            "-00:00:00.250"
        );
        assert_eq!(
            format_duration(3_600_000_001, TimeUnit::Microseconds),
            "01:00:00.000001"
        );
        assert_eq!(
            format_duration(i64::MIN, TimeUnit::Nanoseconds),
            "-106751d 23:47:16.854775808"
        );
    }

    #[test]
    fn decimals_apply_their_scale() {
        assert_eq!(format_decimal(12_345, 2), "123.45");
        assert_eq!(format_decimal(5, 3), "0.005");
        assert_eq!(format_decimal(100, 2), "1.00");
        assert_eq!(format_decimal(0, 2), "0.00");
        assert_eq!(format_decimal(42, 0), "42");
        assert_eq!(format_decimal(12, -2), "1200");
        assert_eq!(format_decimal(0, -3), "0");
    }

    #[test]
    fn negative_decimals() {
        assert_eq!(format_decimal(-12_345, 2), "-123.45");
        assert_eq!(format_decimal(-5, 3), "-0.005");
        assert_eq!(format_decimal(-100, 2), "-1.00");
        assert_eq!(format_decimal(-7, 0), "-7");
        assert_eq!(format_decimal(-12, -2), "-1200");
        assert_eq!(
            format_decimal(i128::MIN, 38),
            "-1.70141183460469231731687303715884105728"
        );
        assert_eq!(format_decimal(i128::MAX, 0), i128::MAX.to_string());
    }

    #[test]
    fn floats() {
        assert_eq!(1.5f64.float_text(), "1.5");
        assert_eq!(3.0f64.float_text(), "3.0");
        assert_eq!((-0.25f64).float_text(), "-0.25");
        assert_eq!(0.0f64.float_text(), "0.0");
        assert_eq!(0.1f32.float_text(), "0.1");
        assert_eq!(1e20f64.float_text(), "1e20");
        assert_eq!(1.5e-7f64.float_text(), "1.5e-7");
        assert_eq!(f64::NAN.float_text(), "NaN");
        assert_eq!(f64::INFINITY.float_text(), "inf");
        assert_eq!(f32::NEG_INFINITY.float_text(), "-inf");
    }

    fn text(array: &Array, dtype: &ArrowType, row: usize) -> String {
        let mut out = String::new();
        write_value(&mut out, array, dtype, row);
        out
    }

    #[test]
    fn cells_by_array_type() {
        let mut mask = Bitmask::new_set_all(3, true);
        mask.set(1, false);

        let ints = Array::from_int32(IntegerArray::new(
            Vec64::from(vec![1, 2, -3]),
            Some(mask.clone()),
        ));
        assert_eq!(text(&ints, &ArrowType::Int32, 0), "1");
        assert_eq!(text(&ints, &ArrowType::Int32, 1), "null");
        assert_eq!(text(&ints, &ArrowType::Int32, 2), "-3");
        assert_eq!(text(&ints, &ArrowType::Int32, 3), "?");

        let floats = Array::from_float64(FloatArray::new(
            Vec64::from(vec![2.5, 0.0, 4.0]),
            Some(mask.clone()),
        ));
        assert_eq!(text(&floats, &ArrowType::Float64, 1), "null");
        assert_eq!(text(&floats, &ArrowType::Float64, 2), "4.0");

        let bools =
            Array::BooleanArray(Arc::new(minarrow::BooleanArray::from_slice(&[true, false])));
        assert_eq!(text(&bools, &ArrowType::Boolean, 0), "true");
        assert_eq!(text(&bools, &ArrowType::Boolean, 1), "false");

        let strings = Array::from_string32(StringArray::from_vec(vec!["a b", "", "x\ny"], None));
        assert_eq!(text(&strings, &ArrowType::String, 0), "a b");
        assert_eq!(text(&strings, &ArrowType::String, 1), "");
        assert_eq!(text(&strings, &ArrowType::String, 2), "x\\ny");

        let cities = CategoricalArray::<u32>::new(
            Vec64::from(vec![1u32, 0, 1]),
            vec!["Oslo".to_string(), "Lima".to_string()].into(),
            Some(mask.clone()),
        );
        let cities = Array::TextArray(TextArray::Categorical32(Arc::new(cities)));
        let dict = ArrowType::Dictionary(minarrow::ffi::arrow_dtype::CategoricalIndexType::UInt32);
        assert_eq!(text(&cities, &dict, 0), "Lima");
        assert_eq!(text(&cities, &dict, 1), "null");

        let prices = DecimalArray::<i64>::new(
            Vec64::from(vec![-1_050i64, 0, 99]),
            Some(mask.clone()),
            10,
            2,
        );
        let prices = Array::NumericArray(NumericArray::Decimal64(Arc::new(prices)));
        assert_eq!(text(&prices, &ArrowType::Decimal64(10, 2), 0), "-10.50");
        assert_eq!(text(&prices, &ArrowType::Decimal64(10, 2), 2), "0.99");

        let ts = DatetimeArray::<i64>::new(
            Vec64::from(vec![1_709_294_400_123i64, 0, 0]),
            Some(mask.clone()),
            Some(TimeUnit::Milliseconds),
        );
        let ts = Array::TemporalArray(TemporalArray::Datetime64(Arc::new(ts)));
        let ts_type = ArrowType::Timestamp(TimeUnit::Milliseconds, Some("UTC".to_string()));
        assert_eq!(text(&ts, &ts_type, 0), "2024-03-01T12:00:00.123Z");
        assert_eq!(text(&ts, &ts_type, 1), "null");

        let days =
            DatetimeArray::<i32>::new(Vec64::from(vec![19_783i32]), None, Some(TimeUnit::Days));
        let days = Array::TemporalArray(TemporalArray::Datetime32(Arc::new(days)));
        assert_eq!(text(&days, &ArrowType::Date32, 0), "2024-03-01");

        assert_eq!(text(&Array::Null, &ArrowType::Null, 0), "null");
    }

    #[test]
    fn numbers_align_right() {
        assert_eq!(align_for(&ArrowType::Int64), Align::Right);
        assert_eq!(align_for(&ArrowType::Decimal128(38, 2)), Align::Right);
        assert_eq!(align_for(&ArrowType::String), Align::Left);
        assert_eq!(align_for(&ArrowType::Date32), Align::Left);
    }
}
