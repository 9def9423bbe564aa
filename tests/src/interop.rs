//! Helpers for interop tests against Arrow implementations nobody here wrote
//! (pyarrow, arrow-rs).
//!
//! - [`TempDir`]: a unique scratch directory under `std::env::temp_dir()`, removed on drop.
//! - [`run_python`]: runs a script from `tests/python` with `python3` from `PATH`; a missing
//!   `python3` or `pyarrow` is a test failure that says how to install it, never a skip.
//! - Expectation documents: the JSON described in `tests/python/ipc_expect.py` (per batch,
//!   per column, the logical values), written from minarrow tables ([`expect_doc`]) and
//!   compared with decoded tables ([`diff_against_doc`]) or with the document of what
//!   another implementation read ([`diff_docs`]). Types are named as pyarrow prints them
//!   ([`pyarrow_type_name`], the core's), so both sides compare plain strings.
//! - [`interop_all_types`] / [`dictionary_tables`]: minarrow tables covering every type
//!   Lightstream supports, nulls, metadata, several batches, and dictionaries that grow
//!   ([`DICT_GROWTH`]) or also get replaced ([`DICT_CHANGES`]).
//!
//! Not a general Arrow-to-JSON mapping: it covers exactly Lightstream's types.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lightstream_core::display::{pyarrow_index_name, pyarrow_type_name};
use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, CategoricalArray, DatetimeArray, DecimalArray, Field,
    FieldArray, FloatArray, IntegerArray, StringArray, Table, TextArray, TimeUnit, Vec64,
};
use lightstream_core::{IndexType, Schema};
use serde_json::{Map, Value, json};

use crate::compare::{Cell, column_cells};

// ------------------------------------------------------------------ scratch space

/// A fresh directory under the system temp dir, removed (with its contents) on drop.
/// Set `LIGHTSTREAM_KEEP_TEMP=1` to keep it for inspection.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "lightstream-{prefix}-{}-{nanos}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create temp dir {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("LIGHTSTREAM_KEEP_TEMP").is_some() {
            eprintln!("keeping {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ------------------------------------------------------------------ python

/// `tests/python`, where the interop scripts live.
pub fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// The pyarrow version, or a panic saying how to install python3 / pyarrow.
pub fn require_pyarrow() -> String {
    let out = Command::new("python3")
        .args(["-c", "import pyarrow; print(pyarrow.__version__)"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "python3 is required on PATH for the pyarrow interop tests ({e}); \
                 install python3, then `python3 -m pip install pyarrow`"
            )
        });
    if !out.status.success() {
        panic!(
            "pyarrow is required for the pyarrow interop tests: run `python3 -m pip install pyarrow`\n\
             python3 said: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `tests/python/<script>` with `args`; returns its stdout, panics with its
/// stdout and stderr when it exits non-zero.
pub fn run_python(script: &str, args: &[&OsStr]) -> String {
    require_pyarrow();
    let path = python_dir().join(script);
    let out = Command::new("python3")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        panic!(
            "python3 {script} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stdout
}

// ------------------------------------------------------------------ type names

/// Bits of a dictionary index type.
pub fn index_bits(t: &IndexType) -> u32 {
    #[allow(unreachable_patterns)]
    match t {
        IndexType::Int8 | IndexType::UInt8 => 8,
        IndexType::Int16 | IndexType::UInt16 => 16,
        IndexType::Int32 | IndexType::UInt32 => 32,
        IndexType::Int64 | IndexType::UInt64 => 64,
        _ => 0,
    }
}

/// Bits of a minarrow categorical key.
pub fn categorical_bits(t: &CategoricalIndexType) -> u32 {
    match t {
        CategoricalIndexType::UInt8 => 8,
        CategoricalIndexType::UInt16 => 16,
        CategoricalIndexType::UInt32 => 32,
        CategoricalIndexType::UInt64 => 64,
    }
}

/// Types whose values the expectation JSON holds as JSON numbers (the rest of the
/// integer-like types are decimal strings).
fn is_small_int_type(name: &str) -> bool {
    matches!(
        name,
        "int8" | "int16" | "int32" | "uint8" | "uint16" | "uint32" | "date32[day]"
    ) || name.starts_with("time32")
}

fn is_int_like_type(name: &str) -> bool {
    is_small_int_type(name)
        || matches!(name, "int64" | "uint64" | "date64[ms]")
        || name.starts_with("time64")
        || name.starts_with("timestamp")
        || name.starts_with("duration")
        || name.starts_with("decimal")
}

// ------------------------------------------------------------------ cells <-> JSON

fn float_text(x: f64) -> String {
    // `{:?}` is Rust's shortest round-trip form: "NaN", "inf", "-inf", "-0.0", "1e300".
    format!("{x:?}")
}

/// One cell in the expectation format, for a column of pyarrow type `ty`.
pub fn cell_to_json(ty: &str, cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Bool(b) => Value::from(*b),
        Cell::Int(i) if is_small_int_type(ty) => match i64::try_from(*i) {
            Ok(v) => Value::from(v),
            Err(_) => Value::from(i.to_string()),
        },
        Cell::Int(i) => Value::from(i.to_string()),
        Cell::F32(x) => Value::from(float_text(f64::from(*x))),
        Cell::F64(x) => Value::from(float_text(*x)),
        Cell::Str(s) => Value::from(s.as_str()),
    }
}

/// One expected value of a column of pyarrow type `ty`, as a cell.
pub fn json_to_cell(ty: &str, v: &Value) -> Result<Cell, String> {
    if v.is_null() {
        return Ok(Cell::Null);
    }
    let float = |v: &Value| -> Result<f64, String> {
        match v {
            Value::String(s) => s
                .parse::<f64>()
                .map_err(|e| format!("bad float text {s:?}: {e}")),
            Value::Number(n) => n.as_f64().ok_or_else(|| format!("bad float {n}")),
            other => Err(format!("expected a float, got {other}")),
        }
    };
    match ty {
        "bool" => v
            .as_bool()
            .map(Cell::Bool)
            .ok_or_else(|| format!("expected a bool, got {v}")),
        "float" => Ok(Cell::F32(float(v)? as f32)),
        "double" => Ok(Cell::F64(float(v)?)),
        t if is_int_like_type(t) => match v {
            Value::Number(n) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .map(Cell::Int)
                .ok_or_else(|| format!("expected an integer, got {n}")),
            Value::String(s) => s
                .parse::<i128>()
                .map(Cell::Int)
                .map_err(|e| format!("bad integer text {s:?}: {e}")),
            other => Err(format!("expected an integer, got {other}")),
        },
        _ => v
            .as_str()
            .map(|s| Cell::Str(s.to_string()))
            .ok_or_else(|| format!("expected a string for type {ty}, got {v}")),
    }
}

/// The dictionary values of a categorical column, in key order.
pub fn dictionary_values(col: &FieldArray) -> Option<Vec<String>> {
    match &col.array {
        Array::TextArray(TextArray::Categorical8(a)) => Some(a.unique_values().to_vec()),
        Array::TextArray(TextArray::Categorical16(a)) => Some(a.unique_values().to_vec()),
        Array::TextArray(TextArray::Categorical32(a)) => Some(a.unique_values().to_vec()),
        Array::TextArray(TextArray::Categorical64(a)) => Some(a.unique_values().to_vec()),
        _ => None,
    }
}

fn metadata_json(md: &BTreeMap<String, String>) -> Value {
    Value::Object(
        md.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect::<Map<String, Value>>(),
    )
}

/// The pyarrow type name of field `i` of `schema`.
pub fn field_type_name(schema: &Schema, i: usize) -> String {
    let dict = schema.dictionaries.get(i).and_then(Option::as_ref);
    pyarrow_type_name(&schema.fields[i].dtype, dict)
}

/// The expectation document of `tables` written with `schema` (see ipc_expect.py).
pub fn expect_doc(
    format: &str,
    schema: &Schema,
    tables: &[Table],
    check_dictionaries: bool,
) -> Result<Value, String> {
    let fields: Vec<Value> = schema
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            json!({
                "name": f.name,
                "type": field_type_name(schema, i),
                "nullable": f.nullable,
                "metadata": metadata_json(&f.metadata),
            })
        })
        .collect();
    let mut batches = Vec::new();
    for (t, table) in tables.iter().enumerate() {
        let mut cols = Vec::new();
        for (i, col) in table.cols.iter().enumerate() {
            let ty = field_type_name(schema, i);
            let cells = column_cells(col, table.n_rows)
                .map_err(|e| format!("table {t} column {:?}: {e}", col.field.name))?;
            let mut entry = Map::new();
            entry.insert(
                "values".into(),
                Value::Array(cells.iter().map(|c| cell_to_json(&ty, c)).collect()),
            );
            if let Some(d) = dictionary_values(col) {
                entry.insert("dictionary".into(), json!(d));
            }
            cols.push(Value::Object(entry));
        }
        batches.push(json!({"num_rows": table.n_rows, "columns": cols}));
    }
    Ok(json!({
        "format": format,
        "check_dictionaries": check_dictionaries,
        "schema": {"metadata": metadata_json(&schema.metadata), "fields": fields},
        "batches": batches,
    }))
}

fn json_metadata(v: &Value) -> Result<BTreeMap<String, String>, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("metadata is not an object: {v}"))?;
    obj.iter()
        .map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.to_string()))
                .ok_or_else(|| format!("metadata value of {k:?} is not a string"))
        })
        .collect()
}

fn describe_cells(cells: &[Cell]) -> String {
    let shown: Vec<String> = cells.iter().take(12).map(|c| c.to_string()).collect();
    if cells.len() > 12 {
        format!("[{}, ... {} total]", shown.join(", "), cells.len())
    } else {
        format!("[{}]", shown.join(", "))
    }
}

/// Every difference between what Lightstream decoded (`schema`, `tables`) and the
/// expectation document `doc`, each prefixed with `label`.
pub fn diff_against_doc(
    label: &str,
    doc: &Value,
    schema: &Schema,
    tables: &[Table],
) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = diff_against_doc_inner(label, doc, schema, tables, &mut out) {
        out.push(format!("{label}: bad expectation document: {e}"));
    }
    out
}

fn diff_against_doc_inner(
    label: &str,
    doc: &Value,
    schema: &Schema,
    tables: &[Table],
    out: &mut Vec<String>,
) -> Result<(), String> {
    let check_dicts = doc["check_dictionaries"].as_bool().unwrap_or(true);
    let meta = json_metadata(&doc["schema"]["metadata"])?;
    if schema.metadata != meta {
        out.push(format!(
            "{label}: schema metadata {:?}, expected {meta:?}",
            schema.metadata
        ));
    }
    let fields = doc["schema"]["fields"]
        .as_array()
        .ok_or("schema.fields is not an array")?;
    if schema.fields.len() != fields.len() {
        out.push(format!(
            "{label}: {} fields {:?}, expected {}",
            schema.fields.len(),
            schema.fields.iter().map(|f| &f.name).collect::<Vec<_>>(),
            fields.len()
        ));
        return Ok(());
    }
    if schema.dictionaries.len() != schema.fields.len() {
        out.push(format!(
            "{label}: Schema.dictionaries has {} entries for {} fields",
            schema.dictionaries.len(),
            schema.fields.len()
        ));
        return Ok(());
    }
    let mut types = Vec::new();
    for (i, (f, ef)) in schema.fields.iter().zip(fields).enumerate() {
        let ety = ef["type"].as_str().ok_or("field type is not a string")?;
        let ename = ef["name"].as_str().ok_or("field name is not a string")?;
        let actual_ty = field_type_name(schema, i);
        let at = format!("{label}: field {i} ({ename})");
        if f.name != ename {
            out.push(format!("{at}: name {:?}", f.name));
        }
        if actual_ty != ety {
            out.push(format!(
                "{at}: type {actual_ty} (minarrow {:?}, dictionary {:?}), expected {ety}",
                f.dtype, schema.dictionaries[i]
            ));
        }
        if Some(f.nullable) != ef["nullable"].as_bool() {
            out.push(format!(
                "{at}: nullable {}, expected {}",
                f.nullable, ef["nullable"]
            ));
        }
        let emeta = json_metadata(&ef["metadata"])?;
        if f.metadata != emeta {
            out.push(format!(
                "{at}: metadata {:?}, expected {emeta:?}",
                f.metadata
            ));
        }
        if let (ArrowType::Dictionary(k), Some(d)) = (&f.dtype, &schema.dictionaries[i])
            && categorical_bits(k) != index_bits(&d.index_type)
        {
            out.push(format!(
                "{at}: minarrow key type {k:?} does not have the width of the wire index type {}",
                pyarrow_index_name(d.index_type)
            ));
        }
        types.push(ety.to_string());
    }
    let batches = doc["batches"].as_array().ok_or("batches is not an array")?;
    if tables.len() != batches.len() {
        out.push(format!(
            "{label}: {} tables (rows {:?}), expected {} batches",
            tables.len(),
            tables.iter().map(|t| t.n_rows).collect::<Vec<_>>(),
            batches.len()
        ));
        return Ok(());
    }
    for (b, (table, eb)) in tables.iter().zip(batches).enumerate() {
        let at = format!("{label}: batch {b}");
        let n = eb["num_rows"].as_u64().ok_or("num_rows is not a number")? as usize;
        if table.n_rows != n {
            out.push(format!("{at}: {} rows, expected {n}", table.n_rows));
            continue;
        }
        if table.metadata != schema.metadata {
            out.push(format!(
                "{at}: table metadata {:?} is not the schema metadata {:?}",
                table.metadata, schema.metadata
            ));
        }
        let ecols = eb["columns"].as_array().ok_or("columns is not an array")?;
        if table.cols.len() != ecols.len() {
            out.push(format!(
                "{at}: {} columns, expected {}",
                table.cols.len(),
                ecols.len()
            ));
            continue;
        }
        for (c, (col, ec)) in table.cols.iter().zip(ecols).enumerate() {
            let name = &schema.fields[c].name;
            let ty = &types[c];
            let at = format!("{at} column {c} ({name}, {ty})");
            if *col.field != *schema.fields[c] {
                out.push(format!(
                    "{at}: the table's field {:?} differs from the schema's {:?}",
                    col.field, schema.fields[c]
                ));
            }
            let actual = match column_cells(col, table.n_rows) {
                Ok(cells) => cells,
                Err(e) => {
                    out.push(format!("{at}: malformed column: {e}"));
                    continue;
                }
            };
            let evals = ec["values"].as_array().ok_or("values is not an array")?;
            let expected = evals
                .iter()
                .map(|v| json_to_cell(ty, v))
                .collect::<Result<Vec<_>, _>>()?;
            if actual.len() != expected.len() {
                out.push(format!(
                    "{at}: {} values, expected {}",
                    actual.len(),
                    expected.len()
                ));
                continue;
            }
            let bad: Vec<usize> = (0..actual.len())
                .filter(|&r| actual[r] != expected[r])
                .collect();
            for &r in bad.iter().take(5) {
                out.push(format!(
                    "{at} row {r}: got {}, expected {}",
                    actual[r], expected[r]
                ));
            }
            if bad.len() > 5 {
                out.push(format!(
                    "{at}: {} more rows differ; got {}, expected {}",
                    bad.len() - 5,
                    describe_cells(&actual),
                    describe_cells(&expected)
                ));
            }
            if check_dicts && let Some(ed) = ec.get("dictionary") {
                let ed: Vec<String> = serde_json::from_value(ed.clone())
                    .map_err(|e| format!("dictionary is not a list of strings: {e}"))?;
                let ad = dictionary_values(col);
                if ad.as_ref() != Some(&ed) {
                    out.push(format!("{at}: dictionary {ad:?}, expected {ed:?}"));
                }
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ test data

/// A small deterministic generator (xorshift64*), so test data needs no crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// What a generated column holds.
#[derive(Debug, Clone)]
pub enum Kind {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    Utf8,
    LargeUtf8,
    /// Categorical with a key of `key_bits` bits; wire index type and value width.
    Dict {
        key_bits: u32,
        index: IndexType,
        large: bool,
        ordered: bool,
    },
    Date32,
    Date64,
    Time32(TimeUnit),
    Time64(TimeUnit),
    Timestamp(TimeUnit, Option<&'static str>),
    Duration(TimeUnit),
    Dec32(u8, i8),
    Dec64(u8, i8),
    Dec128(u8, i8),
    Null,
}

/// One column of the all-types tables.
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    pub metadata: &'static [(&'static str, &'static str)],
}

fn spec(name: &'static str, kind: Kind) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        nullable: true,
        metadata: &[],
    }
}

fn dict(key_bits: u32, index: IndexType, large: bool) -> Kind {
    Kind::Dict {
        key_bits,
        index,
        large,
        ordered: false,
    }
}

/// Every type Lightstream supports, once or more (all dictionary index types, every
/// time unit, timestamps with and without a time zone, all decimal widths).
pub fn all_types_specs() -> Vec<ColumnSpec> {
    use IndexType as I;
    use TimeUnit as U;
    vec![
        spec("bool", Kind::Bool),
        spec("int8", Kind::I8),
        spec("int16", Kind::I16),
        ColumnSpec {
            metadata: &[("unit", "metres"), ("note", "ünïcödé ✓")],
            ..spec("int32", Kind::I32)
        },
        ColumnSpec {
            nullable: false,
            ..spec("int32_required", Kind::I32)
        },
        spec("int64", Kind::I64),
        spec("uint8", Kind::U8),
        spec("uint16", Kind::U16),
        spec("uint32", Kind::U32),
        spec("uint64", Kind::U64),
        spec("float32", Kind::F32),
        ColumnSpec {
            metadata: &[("empty", "")],
            ..spec("float64", Kind::F64)
        },
        spec("utf8", Kind::Utf8),
        spec("large_utf8", Kind::LargeUtf8),
        ColumnSpec {
            metadata: &[("kind", "city")],
            ..spec("dict_u8", dict(8, I::UInt8, false))
        },
        spec("dict_u16", dict(16, I::UInt16, false)),
        spec("dict_u32", dict(32, I::UInt32, false)),
        spec("dict_u64", dict(64, I::UInt64, false)),
        spec("dict_i8", dict(8, I::Int8, false)),
        spec("dict_i16", dict(16, I::Int16, false)),
        spec("dict_i32", dict(32, I::Int32, false)),
        spec("dict_i64", dict(64, I::Int64, false)),
        spec("dict_i32_large", dict(32, I::Int32, true)),
        spec(
            "dict_i16_ordered",
            Kind::Dict {
                key_bits: 16,
                index: I::Int16,
                large: false,
                ordered: true,
            },
        ),
        spec("date32", Kind::Date32),
        spec("date64", Kind::Date64),
        spec("time32_s", Kind::Time32(U::Seconds)),
        spec("time32_ms", Kind::Time32(U::Milliseconds)),
        spec("time64_us", Kind::Time64(U::Microseconds)),
        spec("time64_ns", Kind::Time64(U::Nanoseconds)),
        spec("ts_s", Kind::Timestamp(U::Seconds, None)),
        spec("ts_ms", Kind::Timestamp(U::Milliseconds, None)),
        spec("ts_us", Kind::Timestamp(U::Microseconds, None)),
        spec("ts_ns", Kind::Timestamp(U::Nanoseconds, None)),
        spec("ts_s_utc", Kind::Timestamp(U::Seconds, Some("UTC"))),
        spec(
            "ts_ms_ny",
            Kind::Timestamp(U::Milliseconds, Some("America/New_York")),
        ),
        spec(
            "ts_us_offset",
            Kind::Timestamp(U::Microseconds, Some("+05:30")),
        ),
        spec(
            "ts_ns_paris",
            Kind::Timestamp(U::Nanoseconds, Some("Europe/Paris")),
        ),
        spec("dur_s", Kind::Duration(U::Seconds)),
        spec("dur_ms", Kind::Duration(U::Milliseconds)),
        spec("dur_us", Kind::Duration(U::Microseconds)),
        spec("dur_ns", Kind::Duration(U::Nanoseconds)),
        spec("dec32", Kind::Dec32(9, 2)),
        spec("dec64", Kind::Dec64(18, 4)),
        spec("dec128", Kind::Dec128(38, 10)),
        spec("dec128_neg_scale", Kind::Dec128(10, -2)),
        spec("null", Kind::Null),
    ]
}

/// The minarrow type of a column kind.
pub fn kind_dtype(kind: &Kind) -> ArrowType {
    match kind {
        Kind::Bool => ArrowType::Boolean,
        Kind::I8 => ArrowType::Int8,
        Kind::I16 => ArrowType::Int16,
        Kind::I32 => ArrowType::Int32,
        Kind::I64 => ArrowType::Int64,
        Kind::U8 => ArrowType::UInt8,
        Kind::U16 => ArrowType::UInt16,
        Kind::U32 => ArrowType::UInt32,
        Kind::U64 => ArrowType::UInt64,
        Kind::F32 => ArrowType::Float32,
        Kind::F64 => ArrowType::Float64,
        Kind::Utf8 => ArrowType::String,
        Kind::LargeUtf8 => ArrowType::LargeString,
        Kind::Dict { key_bits, .. } => ArrowType::Dictionary(match key_bits {
            8 => CategoricalIndexType::UInt8,
            16 => CategoricalIndexType::UInt16,
            32 => CategoricalIndexType::UInt32,
            _ => CategoricalIndexType::UInt64,
        }),
        Kind::Date32 => ArrowType::Date32,
        Kind::Date64 => ArrowType::Date64,
        Kind::Time32(u) => ArrowType::Time32(*u),
        Kind::Time64(u) => ArrowType::Time64(*u),
        Kind::Timestamp(u, tz) => ArrowType::Timestamp(*u, tz.map(str::to_string)),
        Kind::Duration(u) => ArrowType::Duration64(*u),
        Kind::Dec32(p, s) => ArrowType::Decimal32(*p, *s),
        Kind::Dec64(p, s) => ArrowType::Decimal64(*p, *s),
        Kind::Dec128(p, s) => ArrowType::Decimal128(*p, *s),
        Kind::Null => ArrowType::Null,
    }
}

/// The Lightstream schema of column specs: fields, schema metadata and, for
/// categorical columns, the wire index type / value width / ordering asked for.
pub fn specs_schema(specs: &[ColumnSpec], metadata: &BTreeMap<String, String>) -> Schema {
    let fields: Vec<Arc<Field>> = specs
        .iter()
        .map(|s| {
            let md: BTreeMap<String, String> = s
                .metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Arc::new(Field::new(
                s.name,
                kind_dtype(&s.kind),
                s.nullable,
                Some(md),
            ))
        })
        .collect();
    let mut schema = Schema::new(fields, metadata.clone());
    for (i, s) in specs.iter().enumerate() {
        if let Kind::Dict {
            index,
            large,
            ordered,
            ..
        } = &s.kind
        {
            let d = schema.dictionaries[i]
                .as_mut()
                .expect("Schema::new gives every categorical field a DictionaryEncoding");
            d.index_type = *index;
            d.large_values = *large;
            d.ordered = *ordered;
        }
    }
    schema
}

pub const DICT_WORDS: [&str; 8] = [
    "paris", "tokyo", "", "lima", "zürich", "東京", "quito", "oslo",
];

fn random_string(rng: &mut Rng) -> String {
    const ALPHABET: [&str; 13] = [
        "a", "b", "c", "X", "Y", "Z", " ", "0", "9", "_", "é", "✓", "𝄞",
    ];
    let n = [0, 1, 3, 8, 20][rng.below(5) as usize];
    (0..n)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize])
        .collect()
}

fn mask_of(valid: &[bool]) -> Option<Bitmask> {
    if valid.iter().all(|v| *v) {
        None
    } else {
        Some(Bitmask::from_bools(valid))
    }
}

/// `n` values, the first ones the given extremes, the rest from `generate`.
fn with_extremes<T: Copy>(n: usize, extremes: &[T], mut generate: impl FnMut() -> T) -> Vec<T> {
    (0..n)
        .map(|i| {
            if i < extremes.len() {
                extremes[i]
            } else {
                generate()
            }
        })
        .collect()
}

/// Uniform in `lo..=hi` (any i128 range, even wider than `i128::MAX`).
pub fn random_in(rng: &mut Rng, lo: i128, hi: i128) -> i128 {
    let r = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
    let span = (hi.wrapping_sub(lo) as u128).wrapping_add(1);
    let offset = if span == 0 { r } else { r % span };
    lo.wrapping_add(offset as i128)
}

/// Builds the array of one column: `n` rows, nulls with probability `null_rate`
/// (never in non-nullable columns), dictionary `words` for categorical columns.
pub fn make_array(
    rng: &mut Rng,
    spec: &ColumnSpec,
    n: usize,
    null_rate: f64,
    words: &[String],
) -> FieldArray {
    let valid: Vec<bool> = (0..n)
        .map(|_| !spec.nullable || !rng.chance(null_rate))
        .collect();
    let mask = mask_of(&valid);
    macro_rules! ints {
        ($t:ty, $from:ident) => {{
            let v = with_extremes(n, &[<$t>::MIN, <$t>::MAX, 0, 1], || {
                random_in(rng, <$t>::MIN as i128, <$t>::MAX as i128) as $t
            });
            Array::$from(IntegerArray::<$t>::from_vec(v, mask))
        }};
    }
    macro_rules! dict_array {
        ($t:ty, $from:ident) => {{
            let keys: Vec<$t> = (0..n)
                .map(|i| {
                    if valid[i] {
                        rng.below(words.len() as u64) as $t
                    } else {
                        0
                    }
                })
                .collect();
            let values: Vec64<String> = words.to_vec().into();
            Array::$from(CategoricalArray::<$t>::new(Vec64::from(keys), values, mask))
        }};
    }
    let dt64 = |rng: &mut Rng, lo: i128, hi: i128, unit: TimeUnit| {
        let v: Vec<i64> = (0..n).map(|_| random_in(rng, lo, hi) as i64).collect();
        Array::from_datetime_i64(DatetimeArray::<i64>::new(
            Vec64::from(v),
            mask.clone(),
            Some(unit),
        ))
    };
    let dt32 = |rng: &mut Rng, lo: i128, hi: i128, unit: TimeUnit| {
        let v: Vec<i32> = (0..n).map(|_| random_in(rng, lo, hi) as i32).collect();
        Array::from_datetime_i32(DatetimeArray::<i32>::new(
            Vec64::from(v),
            mask.clone(),
            Some(unit),
        ))
    };
    let array = match &spec.kind {
        Kind::Bool => {
            let v: Vec<bool> = (0..n).map(|_| rng.chance(0.5)).collect();
            Array::from_bool(BooleanArray::new(Bitmask::from_bools(&v), mask))
        }
        Kind::I8 => ints!(i8, from_int8),
        Kind::I16 => ints!(i16, from_int16),
        Kind::I32 => ints!(i32, from_int32),
        Kind::I64 => ints!(i64, from_int64),
        Kind::U8 => ints!(u8, from_uint8),
        Kind::U16 => ints!(u16, from_uint16),
        Kind::U32 => ints!(u32, from_uint32),
        Kind::U64 => ints!(u64, from_uint64),
        Kind::F32 => {
            let v = with_extremes(
                n,
                &[
                    f32::NAN,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    -0.0,
                    f32::MIN_POSITIVE / 4.0,
                    1.5,
                ],
                || (rng.next_u64() % 2_000_000) as f32 / 7.0 - 100_000.0,
            );
            Array::from_float32(FloatArray::<f32>::from_vec(v, mask))
        }
        Kind::F64 => {
            let v = with_extremes(
                n,
                &[
                    f64::NAN,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    -0.0,
                    5e-324,
                    1e300,
                    0.1,
                ],
                || f64::from_bits(rng.next_u64() >> 2) * if rng.chance(0.5) { -1.0 } else { 1.0 },
            );
            Array::from_float64(FloatArray::<f64>::from_vec(v, mask))
        }
        Kind::Utf8 => {
            let v: Vec<String> = (0..n).map(|_| random_string(rng)).collect();
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            Array::from_string32(StringArray::<u32>::from_vec(refs, mask))
        }
        Kind::LargeUtf8 => {
            let v: Vec<String> = (0..n).map(|_| random_string(rng)).collect();
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            Array::from_string64(StringArray::<u64>::from_vec(refs, mask))
        }
        Kind::Dict { key_bits, .. } => match key_bits {
            8 => dict_array!(u8, from_categorical8),
            16 => dict_array!(u16, from_categorical16),
            32 => dict_array!(u32, from_categorical32),
            _ => dict_array!(u64, from_categorical64),
        },
        Kind::Date32 => dt32(rng, -100_000, 100_000, TimeUnit::Days),
        Kind::Date64 => {
            let v: Vec<i64> = (0..n)
                .map(|_| random_in(rng, -100_000, 100_000) as i64 * 86_400_000)
                .collect();
            Array::from_datetime_i64(DatetimeArray::<i64>::new(
                Vec64::from(v),
                mask.clone(),
                Some(TimeUnit::Milliseconds),
            ))
        }
        Kind::Time32(u) => {
            let top = if *u == TimeUnit::Seconds {
                86_400
            } else {
                86_400_000
            };
            dt32(rng, 0, top - 1, *u)
        }
        Kind::Time64(u) => {
            let top: i128 = if *u == TimeUnit::Microseconds {
                86_400_000_000
            } else {
                86_400_000_000_000
            };
            dt64(rng, 0, top - 1, *u)
        }
        Kind::Timestamp(u, _) => dt64(rng, -(10i128.pow(17)), 10i128.pow(17), *u),
        Kind::Duration(u) => dt64(rng, i64::MIN.into(), i64::MAX.into(), *u),
        Kind::Dec32(p, s) => {
            let top = 10i128.pow(u32::from(*p)) - 1;
            let v = with_extremes(n, &[top as i32, -top as i32, 0, 1, -1], || {
                random_in(rng, -top, top) as i32
            });
            Array::from_decimal32(DecimalArray::<i32>::new(Vec64::from(v), mask, *p, *s))
        }
        Kind::Dec64(p, s) => {
            let top = 10i128.pow(u32::from(*p)) - 1;
            let v = with_extremes(n, &[top as i64, -top as i64, 0, 1, -1], || {
                random_in(rng, -top, top) as i64
            });
            Array::from_decimal64(DecimalArray::<i64>::new(Vec64::from(v), mask, *p, *s))
        }
        Kind::Dec128(p, s) => {
            let top = 10i128.pow(u32::from(*p)) - 1;
            let v = with_extremes(n, &[top, -top, 0, 1, -1], || random_in(rng, -top, top));
            Array::from_decimal128(DecimalArray::<i128>::new(Vec64::from(v), mask, *p, *s))
        }
        Kind::Null => Array::Null,
    };
    let md: BTreeMap<String, String> = spec
        .metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let field = Field::new(spec.name, kind_dtype(&spec.kind), spec.nullable, Some(md));
    let mut fa = FieldArray::new(field, array);
    if matches!(spec.kind, Kind::Null) {
        fa.null_count = n;
    }
    fa
}

/// A table of the given columns (fields shared with `schema`), `n_rows` set explicitly
/// (a leading null column has no length of its own), metadata = the schema's.
pub fn make_table(schema: &Schema, mut cols: Vec<FieldArray>, n_rows: usize) -> Table {
    for (c, f) in cols.iter_mut().zip(&schema.fields) {
        assert_eq!(*c.field, **f, "column and schema field differ");
        c.field = f.clone();
    }
    let mut t =
        Table::new_with_metadata("interop".to_string(), Some(cols), schema.metadata.clone());
    t.n_rows = n_rows;
    t
}

pub const SCHEMA_METADATA: [(&str, &str); 3] = [
    ("producer", "lightstream interop"),
    ("unicode", "héllo ✓ 東京"),
    ("empty", ""),
];

/// Every supported type, four tables (9, 0, 37 and 130 rows; no nulls in the first two,
/// then 20% and 50% nulls), one dictionary per categorical column for all tables.
pub fn interop_all_types() -> (Schema, Vec<Table>) {
    let specs = all_types_specs();
    let metadata: BTreeMap<String, String> = SCHEMA_METADATA
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let schema = specs_schema(&specs, &metadata);
    let mut rng = Rng::new(42);
    let words: Vec<Vec<String>> = specs
        .iter()
        .map(|_| {
            let k = 3 + rng.below((DICT_WORDS.len() - 2) as u64) as usize;
            DICT_WORDS[..k].iter().map(|s| s.to_string()).collect()
        })
        .collect();
    let tables = [(9, 0.0), (0, 0.0), (37, 0.2), (130, 0.5)]
        .iter()
        .map(|&(n, rate)| {
            let cols = specs
                .iter()
                .zip(&words)
                .map(|(s, w)| make_array(&mut rng, s, n, rate, w))
                .collect();
            make_table(&schema, cols, n)
        })
        .collect();
    (schema, tables)
}

/// Tables of one categorical column `city` (Int32 keys on the wire, utf8 values),
/// one `tag` (Int16 keys, large_utf8 values) and an int64 column, whose dictionaries
/// change from table to table as `steps` say (one table per [`DictStep`]).
pub fn dictionary_tables(steps: &[DictStep]) -> (Schema, Vec<Table>) {
    let specs = vec![
        spec("city", dict(32, IndexType::Int32, false)),
        ColumnSpec {
            metadata: &[("k", "v")],
            ..spec("tag", dict(16, IndexType::Int16, true))
        },
        spec("n", Kind::I64),
    ];
    let metadata: BTreeMap<String, String> =
        [("case".to_string(), "dictionaries".to_string())].into();
    let schema = specs_schema(&specs, &metadata);
    let tables = steps
        .iter()
        .map(|s| {
            let n = s.city_keys.len();
            assert_eq!(n, s.tag_keys.len());
            let city_valid: Vec<bool> = s.city_keys.iter().map(Option::is_some).collect();
            let tag_valid: Vec<bool> = s.tag_keys.iter().map(Option::is_some).collect();
            let city = CategoricalArray::<u32>::new(
                Vec64::from(
                    s.city_keys
                        .iter()
                        .map(|k| k.unwrap_or(0))
                        .collect::<Vec<u32>>(),
                ),
                s.city_words
                    .iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .into(),
                mask_of(&city_valid),
            );
            let tag = CategoricalArray::<u16>::new(
                Vec64::from(
                    s.tag_keys
                        .iter()
                        .map(|k| k.unwrap_or(0))
                        .collect::<Vec<u16>>(),
                ),
                s.tag_words
                    .iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .into(),
                mask_of(&tag_valid),
            );
            let nvalid: Vec<bool> = (0..n).map(|i| i % 4 != 0).collect();
            let nums: Vec<i64> = (0..n as i64).map(|i| i * 1000 - 7).collect();
            let cols = vec![
                FieldArray::new((*schema.fields[0]).clone(), Array::from_categorical32(city)),
                FieldArray::new((*schema.fields[1]).clone(), Array::from_categorical16(tag)),
                FieldArray::new(
                    (*schema.fields[2]).clone(),
                    Array::from_int64(IntegerArray::<i64>::from_vec(nums, mask_of(&nvalid))),
                ),
            ];
            make_table(&schema, cols, n)
        })
        .collect();
    (schema, tables)
}

/// One table of [`dictionary_tables`].
pub struct DictStep {
    pub city_words: &'static [&'static str],
    pub tag_words: &'static [&'static str],
    pub city_keys: &'static [Option<u32>],
    pub tag_keys: &'static [Option<u16>],
}

/// Dictionaries that grow (deltas), stay, are replaced, then grow again:
/// city `[a, b]` -> `[a, b, c, d]` (delta) -> same -> `[q, r]` (replacement) ->
/// `[q, r, s]` (delta); tag `[x]` -> `[x, y]` -> `[x, y, zé]` -> same -> same.
pub const DICT_CHANGES: [DictStep; 5] = [
    DictStep {
        city_words: &["a", "b"],
        tag_words: &["x"],
        city_keys: &[Some(0), Some(1), None, Some(1)],
        tag_keys: &[Some(0), Some(0), Some(0), None],
    },
    DictStep {
        city_words: &["a", "b", "c", "d"],
        tag_words: &["x", "y"],
        city_keys: &[Some(3), Some(2), Some(1), Some(0), None],
        tag_keys: &[Some(1), Some(0), Some(1), None, Some(1)],
    },
    DictStep {
        city_words: &["a", "b", "c", "d"],
        tag_words: &["x", "y", "zé"],
        city_keys: &[Some(2), Some(3)],
        tag_keys: &[Some(2), Some(2)],
    },
    DictStep {
        city_words: &["q", "r"],
        tag_words: &["x", "y", "zé"],
        city_keys: &[Some(1), None, Some(0)],
        tag_keys: &[Some(0), Some(1), Some(2)],
    },
    DictStep {
        city_words: &["q", "r", "s"],
        tag_words: &["x", "y", "zé"],
        city_keys: &[Some(2), Some(2), Some(0), Some(1)],
        tag_keys: &[None, Some(1), Some(2), Some(0)],
    },
];

/// Dictionaries that only grow (valid in the IPC file format): the first three steps of
/// [`DICT_CHANGES`] plus a fourth that extends city to `[a, b, c, d, e]`.
pub const DICT_GROWTH: [DictStep; 4] = [
    DictStep {
        city_words: &["a", "b"],
        tag_words: &["x"],
        city_keys: &[Some(0), Some(1), None, Some(1)],
        tag_keys: &[Some(0), Some(0), Some(0), None],
    },
    DictStep {
        city_words: &["a", "b", "c", "d"],
        tag_words: &["x", "y"],
        city_keys: &[Some(3), Some(2), Some(1), Some(0), None],
        tag_keys: &[Some(1), Some(0), Some(1), None, Some(1)],
    },
    DictStep {
        city_words: &["a", "b", "c", "d"],
        tag_words: &["x", "y", "zé"],
        city_keys: &[Some(2), Some(3)],
        tag_keys: &[Some(2), Some(2)],
    },
    DictStep {
        city_words: &["a", "b", "c", "d", "e"],
        tag_words: &["x", "y", "zé"],
        city_keys: &[Some(4), Some(0), Some(4)],
        tag_keys: &[Some(0), Some(1), Some(2)],
    },
];

/// Writes `bytes` and its expectation document as case `name` into `dir`, and returns
/// the manifest entry (see pyarrow_verify.py).
pub fn write_case(
    dir: &Path,
    name: &str,
    format: &str,
    bytes: &[u8],
    doc: &Value,
    alignment: usize,
    compression: &str,
) -> Value {
    let data = format!(
        "{name}.{}",
        if format == "file" { "arrow" } else { "arrows" }
    );
    let expect = format!("{name}.json");
    std::fs::write(dir.join(&data), bytes).expect("write data file");
    std::fs::write(
        dir.join(&expect),
        serde_json::to_vec_pretty(doc).expect("serialize expectation"),
    )
    .expect("write expectation");
    json!({
        "name": name,
        "format": format,
        "data": data,
        "expect": expect,
        "alignment": alignment,
        "compression": compression,
    })
}

/// Reads and parses a JSON file.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// `OsStr` of a path, for [`run_python`] arguments.
pub fn os(p: &Path) -> &OsStr {
    p.as_os_str()
}

/// Every difference between two expectation documents (`expected` from the writer's
/// tables, `actual` from what another implementation read), each prefixed with `label`.
/// Dictionaries are compared when `expected` says `check_dictionaries`.
pub fn diff_docs(label: &str, expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = diff_docs_inner(label, expected, actual, &mut out) {
        out.push(format!("{label}: bad expectation document: {e}"));
    }
    out
}

fn diff_docs_inner(
    label: &str,
    expected: &Value,
    actual: &Value,
    out: &mut Vec<String>,
) -> Result<(), String> {
    let (es, as_) = (&expected["schema"], &actual["schema"]);
    if es["metadata"] != as_["metadata"] {
        out.push(format!(
            "{label}: schema metadata {}, expected {}",
            as_["metadata"], es["metadata"]
        ));
    }
    let ef = es["fields"].as_array().ok_or("expected fields")?;
    let af = as_["fields"].as_array().ok_or("actual fields")?;
    if ef.len() != af.len() {
        out.push(format!(
            "{label}: {} fields, expected {}",
            af.len(),
            ef.len()
        ));
        return Ok(());
    }
    let mut types = Vec::new();
    for (i, (e, a)) in ef.iter().zip(af).enumerate() {
        for key in ["name", "type", "nullable", "metadata"] {
            if e[key] != a[key] {
                out.push(format!(
                    "{label}: field {i} ({}) {key} {}, expected {}",
                    e["name"], a[key], e[key]
                ));
            }
        }
        types.push(e["type"].as_str().ok_or("field type")?.to_string());
    }
    let eb = expected["batches"].as_array().ok_or("expected batches")?;
    let ab = actual["batches"].as_array().ok_or("actual batches")?;
    if eb.len() != ab.len() {
        out.push(format!(
            "{label}: {} batches, expected {}",
            ab.len(),
            eb.len()
        ));
        return Ok(());
    }
    let check_dicts = expected["check_dictionaries"].as_bool().unwrap_or(true);
    for (b, (e, a)) in eb.iter().zip(ab).enumerate() {
        if e["num_rows"] != a["num_rows"] {
            out.push(format!(
                "{label}: batch {b}: {} rows, expected {}",
                a["num_rows"], e["num_rows"]
            ));
            continue;
        }
        let ec = e["columns"].as_array().ok_or("expected columns")?;
        let ac = a["columns"].as_array().ok_or("actual columns")?;
        for (c, (ecol, acol)) in ec.iter().zip(ac).enumerate() {
            let at = format!(
                "{label}: batch {b} column {c} ({}, {})",
                ef[c]["name"], types[c]
            );
            let ev = ecol["values"].as_array().ok_or("expected values")?;
            let av = acol["values"].as_array().ok_or("actual values")?;
            if ev.len() != av.len() {
                out.push(format!("{at}: {} values, expected {}", av.len(), ev.len()));
                continue;
            }
            let mut bad = 0;
            for (r, (x, y)) in ev.iter().zip(av).enumerate() {
                let (x, y) = (json_to_cell(&types[c], x)?, json_to_cell(&types[c], y)?);
                if x != y {
                    bad += 1;
                    if bad <= 5 {
                        out.push(format!("{at} row {r}: got {y}, expected {x}"));
                    }
                }
            }
            if bad > 5 {
                out.push(format!("{at}: {} more rows differ", bad - 5));
            }
            if check_dicts && ecol.get("dictionary") != acol.get("dictionary") {
                out.push(format!(
                    "{at}: dictionary {:?}, expected {:?}",
                    acol.get("dictionary"),
                    ecol.get("dictionary")
                ));
            }
        }
    }
    Ok(())
}
