//! The CSV encoder: [`Table`]s in, CSV bytes out, one table at a time with
//! the header written once.
//!
//! Quoting follows RFC 4180 through `csv-core` (a field is quoted when it holds
//! the delimiter, the quote, `\r` or `\n`; quotes inside are doubled). A null
//! is the `null` text unquoted (by default nothing: an empty field, and in a
//! one-column file an empty line) and a string that could be taken for one
//! (the empty string, the `null` text, pyarrow's default null tokens such as
//! `NA`) is quoted, so a reader that lets quoting count
//! ([`super::StringNulls::Unquoted`]) tells them apart. Every value is written
//! in a form pyarrow's `read_csv` reads back to the same value given the
//! column type (see `docs/csv.md`). Not a pretty-printer and not a reader; it
//! refuses types with no text form (intervals, views).

use std::sync::Arc;

use csv_core::{QuoteStyle, Writer, WriterBuilder};
use minarrow::{Array, ArrowType, Bitmask, NumericArray, Table, TemporalArray, TextArray};

use super::nulls::NullTokens;
use super::text::{write_f32, write_f64};
use super::{CsvWriteOptions, DEFAULT_NULL_VALUES};
use crate::display::{
    ValueStyle, pyarrow_type_name, unit_digits, write_date, write_decimal, write_i64,
    write_time_of_day, write_timestamp, write_u64,
};
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::Schema;

/// Streaming CSV encoder for tables of one schema.
///
/// The header goes out with the first table; each table's rows are appended
/// to the caller's buffer, ready to write wherever it goes.
///
/// ```
/// use lightstream_core::csv::{CsvEncoder, CsvWriteOptions};
/// use lightstream_core::minarrow::{fa_f64_opt, fa_str32, tbl};
/// use lightstream_core::Schema;
///
/// let a = tbl!("t", fa_str32!("sym", "x", "a,b"), fa_f64_opt!("px", Some(1.5), None::<f64>));
/// let b = tbl!("t", fa_str32!("sym", "", "y"), fa_f64_opt!("px", Some(2.0), Some(-0.5)));
/// let options = CsvWriteOptions { crlf: true, ..Default::default() };
/// let mut encoder = CsvEncoder::new(&Schema::from_table(&a), options)?;
/// let mut out = Vec::new();
/// for table in [&a, &b] {
///     encoder.encode_table(table, &mut out)?;
/// }
/// encoder.finish(&mut out)?;
/// // Quoted only where needed; a null is empty, an empty string is `""`.
/// assert_eq!(out, b"sym,px\r\nx,1.5\r\n\"a,b\",\r\n\"\",2.0\r\ny,-0.5\r\n");
/// # Ok::<(), lightstream_core::Error>(())
/// ```
#[derive(Debug)]
pub struct CsvEncoder {
    schema: Arc<Schema>,
    options: CsvWriteOptions,
    quoting: Writer,
    /// Texts a reader may take for a null ([`DEFAULT_NULL_VALUES`] and the
    /// `null` option): string values equal to one are quoted.
    null_like: NullTokens,
    header_written: bool,
    /// Whether any byte of the document has been written: a first field that
    /// starts with a UTF-8 byte order mark is quoted, since readers drop a
    /// BOM at the very start of a document.
    started: bool,
    scratch: Vec<u8>,
}

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

impl CsvEncoder {
    /// An encoder for tables of `schema`. Fails when a field's type has no
    /// CSV text form, or when the delimiter and quote are unusable.
    pub fn new(schema: &Schema, options: CsvWriteOptions) -> Result<Self> {
        if options.delimiter == options.quote {
            return Err(Error::schema("the CSV delimiter and quote must differ"));
        }
        if matches!(options.delimiter, b'\r' | b'\n') || matches!(options.quote, b'\r' | b'\n') {
            return Err(Error::schema(
                "the CSV delimiter and quote cannot be a line break",
            ));
        }
        for f in &schema.fields {
            match &f.dtype {
                ArrowType::Interval(_) | ArrowType::Utf8View | ArrowType::Duration32(_) => {
                    return Err(Error::unsupported(format!(
                        "CSV cannot write columns of type {}",
                        pyarrow_type_name(&f.dtype, None)
                    ))
                    .in_field(&f.name, pyarrow_type_name(&f.dtype, None)));
                }
                _ => {}
            }
        }
        let quoting = WriterBuilder::new()
            .delimiter(options.delimiter)
            .quote(options.quote)
            .quote_style(QuoteStyle::Necessary)
            .build();
        let mut null_like: Vec<String> =
            DEFAULT_NULL_VALUES.iter().map(|s| s.to_string()).collect();
        null_like.push(options.null.clone());
        Ok(CsvEncoder {
            schema: Arc::new(schema.clone()),
            null_like: NullTokens::new(&null_like),
            options,
            quoting,
            header_written: false,
            started: false,
            scratch: Vec::with_capacity(64),
        })
    }

    /// The schema tables must have.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Appends the CSV of `table` (and the header, before the first table) to `out`.
    ///
    /// Values are formatted straight into `out`; only text columns (and, with
    /// an unusual delimiter or quote such as `.` or `1`, the others) are
    /// scanned for bytes that need quoting, and a field that needs it is
    /// rewritten quoted in place.
    pub fn encode_table(&mut self, table: &Table, out: &mut Vec<u8>) -> Result<()> {
        self.header(out);
        let cols = self.columns(table)?;
        let ncols = cols.len();
        let (d, q) = (self.options.delimiter, self.options.quote);
        let plain_needs_check = PLAIN_TEXT_BYTES.contains(&d) || PLAIN_TEXT_BYTES.contains(&q);
        let check: Vec<bool> = cols
            .iter()
            .map(|c| c.is_text() || plain_needs_check)
            .collect();
        // The null text, quoted once if it needs it. An empty one in a
        // one-column file makes an empty line: that is how pyarrow, Polars
        // and we write a null there, and how Polars and we read it back
        // (pyarrow skips it unless `ignore_empty_lines=False`).
        let mut null = Vec::new();
        let null_text = self.options.null.clone();
        self.put(null_text.as_bytes(), false, &mut null);
        let eol: &[u8] = if self.options.crlf { b"\r\n" } else { b"\n" };
        for row in 0..table.n_rows {
            for (c, col) in cols.iter().enumerate() {
                if c > 0 {
                    out.push(d);
                }
                let valid =
                    !matches!(col.values, Values::Null) && col.valid.is_none_or(|m| m.get(row));
                if !valid {
                    out.extend_from_slice(&null);
                    continue;
                }
                let start = out.len();
                let force_quotes = col
                    .format(row, out)
                    .map_err(|what| self.value_error(c, row, what))?;
                let field = &out[start..];
                let first_of_document = !self.started && row == 0 && c == 0;
                if force_quotes
                    || (ncols == 1 && field.is_empty())
                    || (first_of_document && field.starts_with(BOM))
                    || (check[c] && self.quoting.should_quote(field))
                    // A string that reads as a null unquoted.
                    || (col.is_text() && self.null_like.is_null(field))
                {
                    self.scratch.clear();
                    self.scratch.extend_from_slice(field);
                    out.truncate(start);
                    let scratch = std::mem::take(&mut self.scratch);
                    self.put(&scratch, true, out);
                    self.scratch = scratch;
                }
            }
            out.extend_from_slice(eol);
            self.started = true;
        }
        Ok(())
    }

    /// Ends the document: writes the header if no table was written.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.header(out);
        Ok(())
    }

    fn header(&mut self, out: &mut Vec<u8>) {
        if self.header_written {
            return;
        }
        self.header_written = true;
        if !self.options.header || self.schema.fields.is_empty() {
            return;
        }
        let schema = self.schema.clone();
        let single = schema.fields.len() == 1;
        for (i, f) in schema.fields.iter().enumerate() {
            if i > 0 {
                out.push(self.options.delimiter);
            }
            let bom = i == 0 && f.name.as_bytes().starts_with(BOM);
            self.put(f.name.as_bytes(), bom || (single && f.name.is_empty()), out);
        }
        self.terminate(out);
        self.started = true;
    }

    fn terminate(&self, out: &mut Vec<u8>) {
        if self.options.crlf {
            out.extend_from_slice(b"\r\n");
        } else {
            out.push(b'\n');
        }
    }

    /// Writes one field, quoted (with doubled quotes) when it needs it or when forced.
    fn put(&self, field: &[u8], force_quotes: bool, out: &mut Vec<u8>) {
        if !force_quotes && !self.quoting.should_quote(field) {
            out.extend_from_slice(field);
            return;
        }
        let q = self.options.quote;
        out.push(q);
        let mut input = field;
        while !input.is_empty() {
            let start = out.len();
            out.resize(start + 2 * input.len() + 2, 0);
            let (_, nin, nout) = csv_core::quote(input, &mut out[start..], q, b'\\', true);
            out.truncate(start + nout);
            input = &input[nin..];
        }
        out.push(q);
    }

    fn value_error(&self, col: usize, row: usize, what: String) -> Error {
        let f = &self.schema.fields[col];
        Error::new(
            ErrorKind::InvalidData,
            format!(
                "row {} (0-based in the table), column {} ({:?}): {what}",
                row,
                col + 1,
                f.name
            ),
        )
        .in_field(&f.name, pyarrow_type_name(&f.dtype, None))
    }

    fn columns<'t>(&self, table: &'t Table) -> Result<Vec<ColumnRef<'t>>> {
        if table.cols.len() != self.schema.fields.len() {
            return Err(Error::schema(format!(
                "table has {} columns but the CSV encoder's schema has {}",
                table.cols.len(),
                self.schema.fields.len()
            )));
        }
        let mut out = Vec::with_capacity(table.cols.len());
        for (fa, field) in table.cols.iter().zip(&self.schema.fields) {
            let r = ColumnRef::new(&field.dtype, &fa.array, table.n_rows).ok_or_else(|| {
                Error::schema(format!(
                    "column {:?} holds {} data, not the schema's {}",
                    field.name,
                    pyarrow_type_name(&fa.field.dtype, None),
                    pyarrow_type_name(&field.dtype, None)
                ))
                .in_field(&field.name, pyarrow_type_name(&field.dtype, None))
            })?;
            out.push(r);
        }
        Ok(out)
    }
}

/// Every byte the text of a non-text value can hold (integers, floats with
/// `inf` / `NaN` / exponents, booleans, dates, times, timestamps, decimals):
/// with a delimiter and quote outside this set such values never need quotes.
const PLAIN_TEXT_BYTES: &[u8] = b"0123456789+-.:eEinfNaTZtruls";

/// One column's values, borrowed from the table, and how to write them.
struct ColumnRef<'t> {
    values: Values<'t>,
    valid: Option<&'t Bitmask>,
}

enum Values<'t> {
    Null,
    Bool(&'t Bitmask),
    I8(&'t [i8]),
    I16(&'t [i16]),
    I32(&'t [i32]),
    I64(&'t [i64]),
    U8(&'t [u8]),
    U16(&'t [u16]),
    U32(&'t [u32]),
    U64(&'t [u64]),
    F32(&'t [f32]),
    F64(&'t [f64]),
    Str32(&'t [u32], &'t [u8]),
    Str64(&'t [u64], &'t [u8]),
    Cat8(&'t [u8], &'t [String]),
    Cat16(&'t [u16], &'t [String]),
    Cat32(&'t [u32], &'t [String]),
    Cat64(&'t [u64], &'t [String]),
    Date32(&'t [i32]),
    Date64(&'t [i64]),
    Time32(&'t [i32], u32),
    Time64(&'t [i64], u32),
    /// Values, fraction digits, and whether the column has a time zone.
    Timestamp(&'t [i64], u32, bool),
    Duration32(&'t [i32]),
    Duration64(&'t [i64]),
    Dec32(&'t [i32], i8),
    Dec64(&'t [i64], i8),
    Dec128(&'t [i128], i8),
}

impl<'t> ColumnRef<'t> {
    /// `None` when the array does not hold `dtype` data or is shorter than `rows`.
    fn new(dtype: &ArrowType, array: &'t Array, rows: usize) -> Option<Self> {
        use ArrowType as T;
        let (values, valid): (Values<'t>, Option<&'t Bitmask>) = match (dtype, array) {
            (T::Null, Array::Null) => (Values::Null, None),
            (T::Boolean, Array::BooleanArray(a)) => (Values::Bool(&a.data), a.null_mask.as_ref()),
            (_, Array::NumericArray(n)) => match (dtype, n) {
                (T::Int8, NumericArray::Int8(a)) => (Values::I8(&a.data), a.null_mask.as_ref()),
                (T::Int16, NumericArray::Int16(a)) => (Values::I16(&a.data), a.null_mask.as_ref()),
                (T::Int32, NumericArray::Int32(a)) => (Values::I32(&a.data), a.null_mask.as_ref()),
                (T::Int64, NumericArray::Int64(a)) => (Values::I64(&a.data), a.null_mask.as_ref()),
                (T::UInt8, NumericArray::UInt8(a)) => (Values::U8(&a.data), a.null_mask.as_ref()),
                (T::UInt16, NumericArray::UInt16(a)) => {
                    (Values::U16(&a.data), a.null_mask.as_ref())
                }
                (T::UInt32, NumericArray::UInt32(a)) => {
                    (Values::U32(&a.data), a.null_mask.as_ref())
                }
                (T::UInt64, NumericArray::UInt64(a)) => {
                    (Values::U64(&a.data), a.null_mask.as_ref())
                }
                (T::Float32, NumericArray::Float32(a)) => {
                    (Values::F32(&a.data), a.null_mask.as_ref())
                }
                (T::Float64, NumericArray::Float64(a)) => {
                    (Values::F64(&a.data), a.null_mask.as_ref())
                }
                (T::Decimal32(_, s), NumericArray::Decimal32(a)) => {
                    (Values::Dec32(&a.data, *s), a.null_mask.as_ref())
                }
                (T::Decimal64(_, s), NumericArray::Decimal64(a)) => {
                    (Values::Dec64(&a.data, *s), a.null_mask.as_ref())
                }
                (T::Decimal128(_, s), NumericArray::Decimal128(a)) => {
                    (Values::Dec128(&a.data, *s), a.null_mask.as_ref())
                }
                _ => return None,
            },
            (_, Array::TextArray(t)) => match (dtype, t) {
                (T::String, TextArray::String32(a)) => {
                    (Values::Str32(&a.offsets, &a.data), a.null_mask.as_ref())
                }
                (T::LargeString, TextArray::String64(a)) => {
                    (Values::Str64(&a.offsets, &a.data), a.null_mask.as_ref())
                }
                (T::Dictionary(_), TextArray::Categorical8(a)) => (
                    Values::Cat8(&a.data, &a.unique_values),
                    a.null_mask.as_ref(),
                ),
                (T::Dictionary(_), TextArray::Categorical16(a)) => (
                    Values::Cat16(&a.data, &a.unique_values),
                    a.null_mask.as_ref(),
                ),
                (T::Dictionary(_), TextArray::Categorical32(a)) => (
                    Values::Cat32(&a.data, &a.unique_values),
                    a.null_mask.as_ref(),
                ),
                (T::Dictionary(_), TextArray::Categorical64(a)) => (
                    Values::Cat64(&a.data, &a.unique_values),
                    a.null_mask.as_ref(),
                ),
                _ => return None,
            },
            (_, Array::TemporalArray(TemporalArray::Datetime32(a))) => {
                let v: &'t [i32] = &a.data;
                let values = match dtype {
                    T::Date32 => Values::Date32(v),
                    T::Time32(u) => Values::Time32(v, unit_digits(u)),
                    T::Duration32(_) => Values::Duration32(v),
                    _ => return None,
                };
                (values, a.null_mask.as_ref())
            }
            (_, Array::TemporalArray(TemporalArray::Datetime64(a))) => {
                let v: &'t [i64] = &a.data;
                let values = match dtype {
                    T::Date64 => Values::Date64(v),
                    T::Time64(u) => Values::Time64(v, unit_digits(u)),
                    T::Timestamp(u, tz) => Values::Timestamp(v, unit_digits(u), tz.is_some()),
                    T::Duration64(_) => Values::Duration64(v),
                    _ => return None,
                };
                (values, a.null_mask.as_ref())
            }
            _ => return None,
        };
        let r = ColumnRef { values, valid };
        (r.len().is_none_or(|n| n >= rows) && valid.is_none_or(|m| m.len() >= rows)).then_some(r)
    }

    /// Whether the values are text (strings, dictionaries), which can hold any byte.
    fn is_text(&self) -> bool {
        matches!(
            self.values,
            Values::Str32(..)
                | Values::Str64(..)
                | Values::Cat8(..)
                | Values::Cat16(..)
                | Values::Cat32(..)
                | Values::Cat64(..)
        )
    }

    /// Number of values, `None` for the null column.
    fn len(&self) -> Option<usize> {
        Some(match &self.values {
            Values::Null => return None,
            Values::Bool(b) => b.len(),
            Values::I8(v) => v.len(),
            Values::I16(v) => v.len(),
            Values::I32(v) | Values::Date32(v) | Values::Time32(v, _) | Values::Duration32(v) => {
                v.len()
            }
            Values::I64(v)
            | Values::Date64(v)
            | Values::Time64(v, _)
            | Values::Timestamp(v, ..)
            | Values::Duration64(v) => v.len(),
            Values::U8(v) => v.len(),
            Values::U16(v) => v.len(),
            Values::U32(v) => v.len(),
            Values::U64(v) => v.len(),
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::Str32(o, _) => o.len().saturating_sub(1),
            Values::Str64(o, _) => o.len().saturating_sub(1),
            Values::Cat8(k, _) => k.len(),
            Values::Cat16(k, _) => k.len(),
            Values::Cat32(k, _) => k.len(),
            Values::Cat64(k, _) => k.len(),
            Values::Dec32(v, _) => v.len(),
            Values::Dec64(v, _) => v.len(),
            Values::Dec128(v, _) => v.len(),
        })
    }

    /// Writes the text of the (valid) value at `row`; `Ok(true)` when it must
    /// be quoted even without special bytes (an empty string, so that it
    /// differs from an empty null).
    fn format(&self, row: usize, out: &mut Vec<u8>) -> std::result::Result<bool, String> {
        fn text(s: &[u8], a: usize, b: usize) -> std::result::Result<&[u8], String> {
            s.get(a..b)
                .ok_or_else(|| format!("string offsets {a}..{b} are out of bounds"))
        }
        fn cat<K: Copy + TryInto<usize>>(
            k: K,
            dict: &[String],
        ) -> std::result::Result<&[u8], String> {
            k.try_into()
                .ok()
                .and_then(|i: usize| dict.get(i))
                .map(|s| s.as_bytes())
                .ok_or_else(|| "dictionary key is out of range".to_string())
        }
        let s: &[u8] = match &self.values {
            Values::Null => return Ok(false),
            Values::Bool(b) => {
                out.extend_from_slice(if b.get(row) { b"true" } else { b"false" });
                return Ok(false);
            }
            Values::I8(v) => return num(out, i64::from(v[row])),
            Values::I16(v) => return num(out, i64::from(v[row])),
            Values::I32(v) | Values::Duration32(v) => return num(out, i64::from(v[row])),
            Values::I64(v) | Values::Duration64(v) => return num(out, v[row]),
            Values::U8(v) => return unum(out, u64::from(v[row])),
            Values::U16(v) => return unum(out, u64::from(v[row])),
            Values::U32(v) => return unum(out, u64::from(v[row])),
            Values::U64(v) => return unum(out, v[row]),
            Values::F32(v) => {
                write_f32(out, v[row]);
                return Ok(false);
            }
            Values::F64(v) => {
                write_f64(out, v[row]);
                return Ok(false);
            }
            Values::Str32(o, d) => text(d, o[row] as usize, o[row + 1] as usize)?,
            Values::Str64(o, d) => {
                let a = usize::try_from(o[row]).map_err(|e| e.to_string())?;
                let b = usize::try_from(o[row + 1]).map_err(|e| e.to_string())?;
                text(d, a, b)?
            }
            Values::Cat8(k, dict) => cat(k[row], dict)?,
            Values::Cat16(k, dict) => cat(k[row], dict)?,
            Values::Cat32(k, dict) => cat(k[row], dict)?,
            Values::Cat64(k, dict) => cat(k[row], dict)?,
            Values::Date32(v) => {
                write_date(out, i64::from(v[row]), ValueStyle::Pyarrow);
                return Ok(false);
            }
            Values::Date64(v) => {
                write_date(out, v[row].div_euclid(86_400_000), ValueStyle::Pyarrow);
                return Ok(false);
            }
            Values::Time32(v, digits) => return time(out, i64::from(v[row]), *digits),
            Values::Time64(v, digits) => return time(out, v[row], *digits),
            Values::Timestamp(v, digits, zoned) => {
                // pyarrow writes the UTC instant with a `Z` whatever the zone.
                let tz = zoned.then_some("UTC");
                write_timestamp(out, v[row], *digits, tz, ValueStyle::Pyarrow);
                return Ok(false);
            }
            Values::Dec32(v, s) => {
                write_decimal(out, i128::from(v[row]), *s);
                return Ok(false);
            }
            Values::Dec64(v, s) => {
                write_decimal(out, i128::from(v[row]), *s);
                return Ok(false);
            }
            Values::Dec128(v, s) => {
                write_decimal(out, v[row], *s);
                return Ok(false);
            }
        };
        out.extend_from_slice(s);
        Ok(s.is_empty())
    }
}

fn num(out: &mut Vec<u8>, v: i64) -> std::result::Result<bool, String> {
    write_i64(out, v);
    Ok(false)
}

fn unum(out: &mut Vec<u8>, v: u64) -> std::result::Result<bool, String> {
    write_u64(out, v);
    Ok(false)
}

fn time(out: &mut Vec<u8>, v: i64, digits: u32) -> std::result::Result<bool, String> {
    let per_sec = 10i64.pow(digits);
    if !(0..86_400 * per_sec).contains(&v) {
        return Err(format!("time of day {v} is outside 00:00:00..24:00:00"));
    }
    write_time_of_day(
        out,
        (v / per_sec) as u32,
        (v % per_sec) as u64,
        digits,
        ValueStyle::Pyarrow,
    );
    Ok(false)
}
