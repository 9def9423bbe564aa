//! Plain values out of decoded minarrow columns, and comparisons of tables and schemas.
//!
//! [`column_cells`] reads a `FieldArray` into [`Cell`]s (logical values, nulls included,
//! dictionary keys resolved to strings) and checks on the way that the column is well
//! formed: lengths agree with the table, the null mask and offsets fit their buffers, the
//! array variant and time unit agree with the field's type, `null_count` is right. It never
//! panics on a malformed column; it says what is wrong. [`column_values_as_json`] gives the
//! same values as JSON for comparisons with other implementations.
//!
//! Not a minarrow equality: two tables are equal here when their fields and logical values
//! are, whatever their buffers, padding or dictionary key numbering.

use std::collections::BTreeMap;
use std::fmt;

use lightstream_core::{DictionaryEncoding, IndexType, Schema};
use minarrow::{
    Array, ArrowType, Bitmask, Field, FieldArray, NumericArray, Table, TemporalArray, TextArray,
    TimeUnit,
};
use serde_json::Value;

/// One logical value of a column.
///
/// Integers of every width, temporal values and decimals (unscaled) are [`Cell::Int`];
/// floats compare by bit pattern except that every NaN equals every NaN.
#[derive(Debug, Clone)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i128),
    F32(f32),
    F64(f64),
    Str(String),
}

impl PartialEq for Cell {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Cell::Null, Cell::Null) => true,
            (Cell::Bool(a), Cell::Bool(b)) => a == b,
            (Cell::Int(a), Cell::Int(b)) => a == b,
            (Cell::F32(a), Cell::F32(b)) => {
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
            }
            (Cell::F64(a), Cell::F64(b)) => {
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
            }
            (Cell::Str(a), Cell::Str(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => write!(f, "null"),
            Cell::Bool(b) => write!(f, "{b}"),
            Cell::Int(i) => write!(f, "{i}"),
            Cell::F32(x) => write!(f, "{x:?}f32"),
            Cell::F64(x) => write!(f, "{x:?}f64"),
            Cell::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl Cell {
    /// The cell as JSON: integers as numbers when they fit 64 bits (else decimal strings),
    /// floats widened to f64 (NaN and infinities as `"NaN"`, `"Infinity"`, `"-Infinity"`).
    pub fn to_json(&self) -> Value {
        fn float(x: f64) -> Value {
            if x.is_nan() {
                Value::from("NaN")
            } else if x == f64::INFINITY {
                Value::from("Infinity")
            } else if x == f64::NEG_INFINITY {
                Value::from("-Infinity")
            } else {
                Value::from(x)
            }
        }
        match self {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::from(*b),
            Cell::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    Value::from(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    Value::from(v)
                } else {
                    Value::from(i.to_string())
                }
            }
            Cell::F32(x) => float(*x as f64),
            Cell::F64(x) => float(*x),
            Cell::Str(s) => Value::from(s.as_str()),
        }
    }
}

/// Validity of `n` rows, checking the mask fits.
fn validity(mask: &Option<Bitmask>, n: usize) -> Result<Vec<bool>, String> {
    match mask {
        None => Ok(vec![true; n]),
        Some(m) => {
            if m.len() != n {
                return Err(format!("null mask has {} bits for {n} rows", m.len()));
            }
            if m.bits.len() * 8 < n {
                return Err(format!(
                    "null mask buffer has {} bytes for {n} rows",
                    m.bits.len()
                ));
            }
            Ok((0..n).map(|i| m.get(i)).collect())
        }
    }
}

fn check_len(what: &str, len: usize, n: usize) -> Result<(), String> {
    if len != n {
        return Err(format!("{what} has {len} values for {n} rows"));
    }
    Ok(())
}

fn cells_from<T: Copy>(
    data: &[T],
    mask: &Option<Bitmask>,
    n: usize,
    f: impl Fn(T) -> Cell,
) -> Result<Vec<Cell>, String> {
    check_len("data buffer", data.len(), n)?;
    let valid = validity(mask, n)?;
    Ok((0..n)
        .map(|i| if valid[i] { f(data[i]) } else { Cell::Null })
        .collect())
}

fn string_cells<O: Copy + TryInto<usize>>(
    offsets: &[O],
    data: &[u8],
    mask: &Option<Bitmask>,
    n: usize,
) -> Result<Vec<Cell>, String> {
    if !(offsets.len() == n + 1 || (n == 0 && offsets.is_empty())) {
        return Err(format!("{} offsets for {n} strings", offsets.len()));
    }
    let valid = validity(mask, n)?;
    let off = |i: usize| -> Result<usize, String> {
        offsets[i]
            .try_into()
            .map_err(|_| format!("offset {i} does not fit usize"))
    };
    let mut out = Vec::with_capacity(n);
    for (i, &is_valid) in valid.iter().enumerate() {
        let (start, end) = (off(i)?, off(i + 1)?);
        if start > end {
            return Err(format!("offsets decrease at string {i}: {start} > {end}"));
        }
        if !is_valid {
            out.push(Cell::Null);
            continue;
        }
        let bytes = data.get(start..end).ok_or_else(|| {
            format!(
                "string {i} spans bytes {start}..{end} of a {}-byte buffer",
                data.len()
            )
        })?;
        let s = std::str::from_utf8(bytes).map_err(|e| format!("string {i} is not UTF-8: {e}"))?;
        out.push(Cell::Str(s.to_string()));
    }
    Ok(out)
}

fn categorical_cells<K: Copy + TryInto<usize> + fmt::Debug>(
    keys: &[K],
    values: &[String],
    mask: &Option<Bitmask>,
    n: usize,
) -> Result<Vec<Cell>, String> {
    check_len("key buffer", keys.len(), n)?;
    let valid = validity(mask, n)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if !valid[i] {
            out.push(Cell::Null);
            continue;
        }
        let k = keys[i];
        let v = k
            .try_into()
            .ok()
            .and_then(|k: usize| values.get(k))
            .ok_or_else(|| {
                format!(
                    "row {i}: key {k:?} outside a dictionary of {} values",
                    values.len()
                )
            })?;
        out.push(Cell::Str(v.clone()));
    }
    Ok(out)
}

fn check_unit(dtype: &ArrowType, actual: TimeUnit) -> Result<(), String> {
    let expected = match dtype {
        ArrowType::Date32 => TimeUnit::Days,
        ArrowType::Date64 => TimeUnit::Milliseconds,
        ArrowType::Time32(u)
        | ArrowType::Time64(u)
        | ArrowType::Duration32(u)
        | ArrowType::Duration64(u)
        | ArrowType::Timestamp(u, _) => *u,
        other => return Err(format!("a temporal array under field type {other:?}")),
    };
    if expected != actual {
        return Err(format!(
            "DatetimeArray time unit {actual:?} disagrees with field type {dtype:?}"
        ));
    }
    Ok(())
}

fn check_decimal(dtype: &ArrowType, precision: u8, scale: i8) -> Result<(), String> {
    match dtype {
        ArrowType::Decimal32(p, s) | ArrowType::Decimal64(p, s) | ArrowType::Decimal128(p, s)
            if *p == precision && *s == scale =>
        {
            Ok(())
        }
        other => Err(format!(
            "DecimalArray(precision {precision}, scale {scale}) under field type {other:?}"
        )),
    }
}

/// The minarrow array variant a field type must be held in, as a name.
fn expected_variant(dtype: &ArrowType) -> &'static str {
    use minarrow::ffi::arrow_dtype::CategoricalIndexType as C;
    match dtype {
        ArrowType::Null => "Null",
        ArrowType::Boolean => "Boolean",
        ArrowType::Int8 => "Int8",
        ArrowType::Int16 => "Int16",
        ArrowType::Int32 => "Int32",
        ArrowType::Int64 => "Int64",
        ArrowType::UInt8 => "UInt8",
        ArrowType::UInt16 => "UInt16",
        ArrowType::UInt32 => "UInt32",
        ArrowType::UInt64 => "UInt64",
        ArrowType::Float32 => "Float32",
        ArrowType::Float64 => "Float64",
        ArrowType::Date32 | ArrowType::Time32(_) | ArrowType::Duration32(_) => "Datetime32",
        ArrowType::Date64
        | ArrowType::Time64(_)
        | ArrowType::Duration64(_)
        | ArrowType::Timestamp(_, _) => "Datetime64",
        ArrowType::Interval(_) => "Interval",
        ArrowType::String => "String32",
        ArrowType::LargeString => "String64",
        ArrowType::Utf8View => "Utf8View",
        ArrowType::Decimal32(..) => "Decimal32",
        ArrowType::Decimal64(..) => "Decimal64",
        ArrowType::Decimal128(..) => "Decimal128",
        ArrowType::Dictionary(C::UInt8) => "Categorical8",
        ArrowType::Dictionary(C::UInt16) => "Categorical16",
        ArrowType::Dictionary(C::UInt32) => "Categorical32",
        ArrowType::Dictionary(C::UInt64) => "Categorical64",
    }
}

/// The logical values of a column of a table with `n_rows` rows.
///
/// Errors (never panics) when the column is malformed: wrong length, a mask or offsets
/// outside their buffers, invalid UTF-8, a dictionary key out of range, an array variant
/// or time unit that disagrees with the field type, or a wrong `null_count`.
pub fn column_cells(col: &FieldArray, n_rows: usize) -> Result<Vec<Cell>, String> {
    let n = n_rows;
    let dtype = &col.field.dtype;
    let (variant, cells): (&str, Vec<Cell>) = match &col.array {
        Array::Null => ("Null", vec![Cell::Null; n]),
        Array::BooleanArray(a) => {
            check_len("boolean value bitmap", a.data.len(), n)?;
            if a.data.bits.len() * 8 < n {
                return Err(format!(
                    "boolean value buffer has {} bytes for {n} rows",
                    a.data.bits.len()
                ));
            }
            let valid = validity(&a.null_mask, n)?;
            (
                "Boolean",
                (0..n)
                    .map(|i| {
                        if valid[i] {
                            Cell::Bool(a.data.get(i))
                        } else {
                            Cell::Null
                        }
                    })
                    .collect(),
            )
        }
        Array::NumericArray(num) => match num {
            NumericArray::Int8(a) => (
                "Int8",
                cells_from(&a.data, &a.null_mask, n, |v| Cell::Int(v.into()))?,
            ),
            NumericArray::Int16(a) => (
                "Int16",
                cells_from(&a.data, &a.null_mask, n, |v| Cell::Int(v.into()))?,
            ),
            NumericArray::Int32(a) => (
                "Int32",
                cells_from(&a.data, &a.null_mask, n, |v| Cell::Int(v.into()))?,
            ),
            NumericArray::Int64(a) => (
                "Int64",
                cells_from(&a.data, &a.null_mask, n, |v| Cell::Int(v.into()))?,
            ),
            NumericArray::UInt8(a) => (
                "UInt8",
                cells_from(&a.data, &a.null_mask, n, |v| Cell::Int(v.into()))?,
            ),
            NumericArray::UInt16(a) => (
                "UInt16",
                cells_from(&a.data, &a.null_mask, n, |v| Cell::Int(v.into()))?,
            ),
            NumericArray::UInt32(a) => (
                "UInt32",
                cells_from(&a.data, &a.null_mask, n, |v| Cell::Int(v.into()))?,
            ),
            NumericArray::UInt64(a) => (
                "UInt64",
                cells_from(&a.data, &a.null_mask, n, |v| Cell::Int(v.into()))?,
            ),
            NumericArray::Float32(a) => {
                ("Float32", cells_from(&a.data, &a.null_mask, n, Cell::F32)?)
            }
            NumericArray::Float64(a) => {
                ("Float64", cells_from(&a.data, &a.null_mask, n, Cell::F64)?)
            }
            NumericArray::Decimal32(a) => {
                check_decimal(dtype, a.precision, a.scale)?;
                (
                    "Decimal32",
                    cells_from(&a.data, &a.null_mask, n, |v| Cell::Int(v.into()))?,
                )
            }
            NumericArray::Decimal64(a) => {
                check_decimal(dtype, a.precision, a.scale)?;
                (
                    "Decimal64",
                    cells_from(&a.data, &a.null_mask, n, |v| Cell::Int(v.into()))?,
                )
            }
            NumericArray::Decimal128(a) => {
                check_decimal(dtype, a.precision, a.scale)?;
                (
                    "Decimal128",
                    cells_from(&a.data, &a.null_mask, n, Cell::Int)?,
                )
            }
            NumericArray::Null => return Err("a NumericArray::Null placeholder column".into()),
        },
        Array::TextArray(text) => match text {
            TextArray::String32(a) => (
                "String32",
                string_cells(&a.offsets, &a.data, &a.null_mask, n)?,
            ),
            TextArray::String64(a) => (
                "String64",
                string_cells(&a.offsets, &a.data, &a.null_mask, n)?,
            ),
            TextArray::Categorical8(a) => (
                "Categorical8",
                categorical_cells(a.indices(), a.unique_values(), &a.null_mask, n)?,
            ),
            TextArray::Categorical16(a) => (
                "Categorical16",
                categorical_cells(a.indices(), a.unique_values(), &a.null_mask, n)?,
            ),
            TextArray::Categorical32(a) => (
                "Categorical32",
                categorical_cells(a.indices(), a.unique_values(), &a.null_mask, n)?,
            ),
            TextArray::Categorical64(a) => (
                "Categorical64",
                categorical_cells(a.indices(), a.unique_values(), &a.null_mask, n)?,
            ),
            TextArray::Null => return Err("a TextArray::Null placeholder column".into()),
        },
        Array::TemporalArray(t) => match t {
            TemporalArray::Datetime32(a) => {
                check_unit(dtype, a.time_unit)?;
                (
                    "Datetime32",
                    cells_from(&a.data, &a.null_mask, n, |v| Cell::Int(v.into()))?,
                )
            }
            TemporalArray::Datetime64(a) => {
                check_unit(dtype, a.time_unit)?;
                (
                    "Datetime64",
                    cells_from(&a.data, &a.null_mask, n, |v| Cell::Int(v.into()))?,
                )
            }
            TemporalArray::Null => return Err("a TemporalArray::Null placeholder column".into()),
        },
    };
    let expected = expected_variant(dtype);
    if variant != expected {
        return Err(format!(
            "field type {dtype:?} is held in a {variant} array (expected {expected})"
        ));
    }
    let nulls = cells.iter().filter(|c| matches!(c, Cell::Null)).count();
    if col.null_count != nulls {
        return Err(format!(
            "FieldArray.null_count is {} but the column has {nulls} nulls",
            col.null_count
        ));
    }
    Ok(cells)
}

/// The logical values of a column as JSON (see [`Cell::to_json`]).
pub fn column_values_as_json(col: &FieldArray, n_rows: usize) -> Result<Vec<Value>, String> {
    Ok(column_cells(col, n_rows)?
        .iter()
        .map(Cell::to_json)
        .collect())
}

/// Compares two cell sequences; the error names the first differing rows.
pub fn diff_cells(actual: &[Cell], expected: &[Cell]) -> Result<(), String> {
    if actual.len() != expected.len() {
        return Err(format!(
            "{} values, expected {}",
            actual.len(),
            expected.len()
        ));
    }
    let bad: Vec<usize> = (0..actual.len())
        .filter(|&i| actual[i] != expected[i])
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = bad
        .iter()
        .take(5)
        .map(|&i| format!("row {i}: got {}, expected {}", actual[i], expected[i]))
        .collect();
    Err(format!(
        "{} of {} values differ; {}",
        bad.len(),
        actual.len(),
        shown.join("; ")
    ))
}

/// Differences between two fields (name, type, nullability, metadata).
pub fn diff_fields(actual: &Field, expected: &Field) -> Vec<String> {
    let mut out = Vec::new();
    if actual.name != expected.name {
        out.push(format!(
            "name {:?}, expected {:?}",
            actual.name, expected.name
        ));
    }
    if actual.dtype != expected.dtype {
        out.push(format!(
            "type {:?}, expected {:?}",
            actual.dtype, expected.dtype
        ));
    }
    if actual.nullable != expected.nullable {
        out.push(format!(
            "nullable {}, expected {}",
            actual.nullable, expected.nullable
        ));
    }
    if actual.metadata != expected.metadata {
        out.push(format!(
            "metadata {:?}, expected {:?}",
            actual.metadata, expected.metadata
        ));
    }
    out
}

/// The name of an index type (works whatever traits `IndexType` derives).
pub fn index_type_name(t: &IndexType) -> &'static str {
    #[allow(unreachable_patterns)]
    match t {
        IndexType::Int8 => "Int8",
        IndexType::Int16 => "Int16",
        IndexType::Int32 => "Int32",
        IndexType::Int64 => "Int64",
        IndexType::UInt8 => "UInt8",
        IndexType::UInt16 => "UInt16",
        IndexType::UInt32 => "UInt32",
        IndexType::UInt64 => "UInt64",
        _ => "unknown",
    }
}

/// A dictionary encoding as text, for comparisons and messages.
pub fn describe_dictionary(d: Option<&DictionaryEncoding>) -> String {
    match d {
        None => "none".into(),
        Some(d) => format!(
            "id {} index {} large_values {} ordered {}",
            d.id,
            index_type_name(&d.index_type),
            d.large_values,
            d.ordered
        ),
    }
}

fn diff_metadata(
    what: &str,
    actual: &BTreeMap<String, String>,
    expected: &BTreeMap<String, String>,
) -> Option<String> {
    (actual != expected).then(|| format!("{what} {actual:?}, expected {expected:?}"))
}

/// Differences between two Lightstream schemas: fields, schema metadata, dictionaries.
pub fn diff_schemas(actual: &Schema, expected: &Schema) -> Result<(), String> {
    let mut out = Vec::new();
    if actual.fields.len() != expected.fields.len() {
        out.push(format!(
            "{} fields, expected {}",
            actual.fields.len(),
            expected.fields.len()
        ));
    }
    for (i, (a, e)) in actual.fields.iter().zip(&expected.fields).enumerate() {
        for d in diff_fields(a, e) {
            out.push(format!("field {i} ({:?}): {d}", e.name));
        }
    }
    out.extend(diff_metadata(
        "schema metadata",
        &actual.metadata,
        &expected.metadata,
    ));
    if actual.dictionaries.len() != actual.fields.len() {
        out.push(format!(
            "{} dictionary entries for {} fields",
            actual.dictionaries.len(),
            actual.fields.len()
        ));
    }
    for (i, (a, e)) in actual
        .dictionaries
        .iter()
        .zip(&expected.dictionaries)
        .enumerate()
    {
        let (a, e) = (
            describe_dictionary(a.as_ref()),
            describe_dictionary(e.as_ref()),
        );
        if a != e {
            out.push(format!("field {i} dictionary: {a}, expected {e}"));
        }
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(out.join("\n"))
    }
}

/// Differences between two tables: row and column counts, each column's field and
/// logical values, and the table metadata. Table names are not compared.
pub fn diff_tables(actual: &Table, expected: &Table) -> Result<(), String> {
    let mut out = Vec::new();
    if actual.n_rows != expected.n_rows {
        out.push(format!(
            "{} rows, expected {}",
            actual.n_rows, expected.n_rows
        ));
    }
    if actual.cols.len() != expected.cols.len() {
        out.push(format!(
            "{} columns, expected {}",
            actual.cols.len(),
            expected.cols.len()
        ));
    }
    out.extend(diff_metadata(
        "table metadata",
        &actual.metadata,
        &expected.metadata,
    ));
    for (i, (a, e)) in actual.cols.iter().zip(&expected.cols).enumerate() {
        let label = format!("column {i} ({:?})", e.field.name);
        for d in diff_fields(&a.field, &e.field) {
            out.push(format!("{label}: {d}"));
        }
        let expected_cells = match column_cells(e, expected.n_rows) {
            Ok(c) => c,
            Err(err) => {
                out.push(format!("{label}: the EXPECTED column is malformed: {err}"));
                continue;
            }
        };
        match column_cells(a, actual.n_rows) {
            Ok(cells) => {
                if let Err(d) = diff_cells(&cells, &expected_cells) {
                    out.push(format!("{label}: {d}"));
                }
            }
            Err(err) => out.push(format!("{label}: malformed: {err}")),
        }
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(out.join("\n"))
    }
}

/// Panics with every difference when two tables differ (see [`diff_tables`]).
#[track_caller]
pub fn assert_tables_equal(actual: &Table, expected: &Table, context: &str) {
    if let Err(d) = diff_tables(actual, expected) {
        panic!("{context}: tables differ:\n{d}");
    }
}
