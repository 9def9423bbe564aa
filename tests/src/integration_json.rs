//! Reader for Arrow's "integration testing" JSON, the expected values of the gold files.
//!
//! The format (documented by Arrow as "Integration Testing" JSON): `schema.fields[]` with
//! `name`, `type`, `nullable`, `children`, optional `dictionary` and `metadata`;
//! `batches[].columns[]` with `name`, `count`, `VALIDITY`, `DATA`, `OFFSET`, `children`;
//! `dictionaries[]` with `id` and `data` (a one-column batch). 64-bit integers and decimals
//! are JSON strings, other integers numbers; floats may be numbers or special strings.
//!
//! This module also says which minarrow [`ArrowType`] each field should decode to (the
//! mapping table of `docs/core-api.md`) and computes the expected [`Cell`]s of a column.
//! Not a general Arrow JSON implementation: nested values are not expanded, because
//! Lightstream does not hold nested types.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use minarrow::ffi::arrow_dtype::CategoricalIndexType;
use minarrow::{ArrowType, TimeUnit};
use serde_json::Value;

use crate::compare::Cell;

/// A whole integration JSON file.
#[derive(Debug, Clone)]
pub struct IntegrationFile {
    pub schema: JsonSchema,
    pub batches: Vec<JsonBatch>,
    /// Dictionary id -> the dictionary's values column.
    pub dictionaries: BTreeMap<i64, JsonColumn>,
}

#[derive(Debug, Clone)]
pub struct JsonSchema {
    pub fields: Vec<JsonField>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct JsonField {
    pub name: String,
    /// `type.name`, e.g. `int`, `utf8`, `timestamp`.
    pub type_name: String,
    /// The whole `type` object.
    pub type_json: Value,
    pub nullable: bool,
    pub children: Vec<JsonField>,
    /// Present when the field is dictionary encoded; the `type` is then the value type.
    pub dictionary: Option<JsonDictionaryEncoding>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonDictionaryEncoding {
    pub id: i64,
    pub index_bit_width: u32,
    pub index_signed: bool,
    pub ordered: bool,
}

#[derive(Debug, Clone)]
pub struct JsonBatch {
    pub count: usize,
    pub columns: Vec<JsonColumn>,
}

#[derive(Debug, Clone)]
pub struct JsonColumn {
    pub name: String,
    pub count: usize,
    /// `VALIDITY` as booleans; `None` when absent.
    pub validity: Option<Vec<bool>>,
    /// `DATA` as written.
    pub data: Option<Vec<Value>>,
    /// `OFFSET` as written.
    pub offset: Option<Vec<Value>>,
    pub children: Vec<JsonColumn>,
}

/// Reads a `.json` or `.json.gz` integration file.
///
/// # Panics
/// When the file cannot be read or is not integration JSON, naming the file.
pub fn read_integration_json(path: &Path) -> IntegrationFile {
    let raw = crate::corpus::read_bytes(path);
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut s)
            .unwrap_or_else(|e| panic!("cannot gunzip {}: {e}", path.display()));
        s
    } else {
        String::from_utf8(raw).unwrap_or_else(|e| panic!("{} is not UTF-8: {e}", path.display()))
    };
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    parse_integration_json(&value)
        .unwrap_or_else(|e| panic!("{} is not integration JSON: {e}", path.display()))
}

/// Parses an integration JSON document.
pub fn parse_integration_json(v: &Value) -> Result<IntegrationFile, String> {
    let schema = v.get("schema").ok_or("no \"schema\"")?;
    let fields = schema
        .get("fields")
        .and_then(Value::as_array)
        .ok_or("no \"schema.fields\"")?
        .iter()
        .map(parse_field)
        .collect::<Result<Vec<_>, _>>()?;
    let metadata = parse_metadata(schema.get("metadata"))?;
    let batches = match v.get("batches") {
        None => Vec::new(),
        Some(b) => b
            .as_array()
            .ok_or("\"batches\" is not an array")?
            .iter()
            .map(parse_batch)
            .collect::<Result<Vec<_>, _>>()?,
    };
    let mut dictionaries = BTreeMap::new();
    if let Some(ds) = v.get("dictionaries") {
        for d in ds.as_array().ok_or("\"dictionaries\" is not an array")? {
            let id = d
                .get("id")
                .and_then(Value::as_i64)
                .ok_or("dictionary without id")?;
            let batch = parse_batch(d.get("data").ok_or("dictionary without data")?)?;
            let column = batch
                .columns
                .into_iter()
                .next()
                .ok_or_else(|| format!("dictionary {id} has no column"))?;
            if dictionaries.insert(id, column).is_some() {
                return Err(format!("dictionary id {id} appears twice"));
            }
        }
    }
    Ok(IntegrationFile {
        schema: JsonSchema { fields, metadata },
        batches,
        dictionaries,
    })
}

fn parse_metadata(v: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let Some(v) = v else { return Ok(out) };
    if v.is_null() {
        return Ok(out);
    }
    for kv in v.as_array().ok_or("metadata is not an array")? {
        let k = kv
            .get("key")
            .and_then(Value::as_str)
            .ok_or("metadata without key")?;
        let val = kv
            .get("value")
            .and_then(Value::as_str)
            .ok_or("metadata without value")?;
        out.insert(k.to_string(), val.to_string());
    }
    Ok(out)
}

fn parse_field(v: &Value) -> Result<JsonField, String> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or("field without name")?
        .to_string();
    let type_json = v
        .get("type")
        .cloned()
        .ok_or_else(|| format!("field {name:?} without type"))?;
    let type_name = type_json
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("field {name:?}: type without name"))?
        .to_string();
    let nullable = v.get("nullable").and_then(Value::as_bool).unwrap_or(true);
    let children = match v.get("children") {
        None | Some(Value::Null) => Vec::new(),
        Some(c) => c
            .as_array()
            .ok_or("children is not an array")?
            .iter()
            .map(parse_field)
            .collect::<Result<Vec<_>, _>>()?,
    };
    let dictionary = match v.get("dictionary") {
        None | Some(Value::Null) => None,
        Some(d) => {
            let id = d
                .get("id")
                .and_then(Value::as_i64)
                .ok_or("dictionary without id")?;
            let index = d.get("indexType").ok_or("dictionary without indexType")?;
            let index_bit_width = index
                .get("bitWidth")
                .and_then(Value::as_u64)
                .ok_or("indexType without bitWidth")? as u32;
            let index_signed = index
                .get("isSigned")
                .and_then(Value::as_bool)
                .ok_or("indexType without isSigned")?;
            let ordered = d.get("isOrdered").and_then(Value::as_bool).unwrap_or(false);
            Some(JsonDictionaryEncoding {
                id,
                index_bit_width,
                index_signed,
                ordered,
            })
        }
    };
    let metadata = parse_metadata(v.get("metadata"))?;
    Ok(JsonField {
        name,
        type_name,
        type_json,
        nullable,
        children,
        dictionary,
        metadata,
    })
}

fn parse_batch(v: &Value) -> Result<JsonBatch, String> {
    let count = v
        .get("count")
        .and_then(Value::as_u64)
        .ok_or("batch without count")? as usize;
    let columns = v
        .get("columns")
        .and_then(Value::as_array)
        .ok_or("batch without columns")?
        .iter()
        .map(parse_column)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(JsonBatch { count, columns })
}

fn parse_column(v: &Value) -> Result<JsonColumn, String> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let count = v
        .get("count")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("column {name:?} without count"))? as usize;
    let validity = match v.get("VALIDITY") {
        None => None,
        Some(a) => Some(
            a.as_array()
                .ok_or("VALIDITY is not an array")?
                .iter()
                .map(|b| match b.as_u64() {
                    Some(0) => Ok(false),
                    Some(1) => Ok(true),
                    _ => b.as_bool().ok_or(format!("bad VALIDITY entry {b}")),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let data = v.get("DATA").and_then(Value::as_array).cloned();
    let offset = v.get("OFFSET").and_then(Value::as_array).cloned();
    let children = match v.get("children") {
        None => Vec::new(),
        Some(c) => c
            .as_array()
            .ok_or("children is not an array")?
            .iter()
            .map(parse_column)
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(JsonColumn {
        name,
        count,
        validity,
        data,
        offset,
        children,
    })
}

/// Why a field cannot be held by minarrow, and the words an error naming its Arrow type
/// may use (lower case, letters and digits only, as [`normalize`] leaves them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedType {
    /// Human description, e.g. `FixedSizeBinary(19)`.
    pub description: String,
    /// Any one of these in the normalized error text names the type.
    pub keywords: Vec<String>,
}

/// Lower case, ASCII letters and digits only: `"Big-Endian"` -> `"bigendian"`.
pub fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn unsupported(description: impl Into<String>, keywords: &[&str]) -> UnsupportedType {
    UnsupportedType {
        description: description.into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
    }
}

fn time_unit(type_json: &Value) -> Result<TimeUnit, UnsupportedType> {
    match type_json.get("unit").and_then(Value::as_str) {
        Some("SECOND") => Ok(TimeUnit::Seconds),
        Some("MILLISECOND") => Ok(TimeUnit::Milliseconds),
        Some("MICROSECOND") => Ok(TimeUnit::Microseconds),
        Some("NANOSECOND") => Ok(TimeUnit::Nanoseconds),
        other => Err(unsupported(format!("time unit {other:?}"), &["unit"])),
    }
}

fn int_width(type_json: &Value) -> Option<(u64, bool)> {
    let w = type_json.get("bitWidth").and_then(Value::as_u64)?;
    let s = type_json.get("isSigned").and_then(Value::as_bool)?;
    Some((w, s))
}

/// The minarrow type a field's values (ignoring any dictionary encoding) decode to.
fn value_type(field: &JsonField) -> Result<ArrowType, UnsupportedType> {
    let t = &field.type_json;
    Ok(match field.type_name.as_str() {
        "null" => ArrowType::Null,
        "bool" => ArrowType::Boolean,
        "int" => match int_width(t) {
            Some((8, true)) => ArrowType::Int8,
            Some((16, true)) => ArrowType::Int16,
            Some((32, true)) => ArrowType::Int32,
            Some((64, true)) => ArrowType::Int64,
            Some((8, false)) => ArrowType::UInt8,
            Some((16, false)) => ArrowType::UInt16,
            Some((32, false)) => ArrowType::UInt32,
            Some((64, false)) => ArrowType::UInt64,
            other => return Err(unsupported(format!("int {other:?}"), &["int"])),
        },
        "floatingpoint" => match t.get("precision").and_then(Value::as_str) {
            Some("SINGLE") => ArrowType::Float32,
            Some("DOUBLE") => ArrowType::Float64,
            Some("HALF") => return Err(unsupported("Float16", &["float16", "halffloat", "half"])),
            other => return Err(unsupported(format!("float {other:?}"), &["float"])),
        },
        "utf8" => ArrowType::String,
        "largeutf8" => ArrowType::LargeString,
        "date" => match t.get("unit").and_then(Value::as_str) {
            Some("DAY") => ArrowType::Date32,
            Some("MILLISECOND") => ArrowType::Date64,
            other => return Err(unsupported(format!("date {other:?}"), &["date"])),
        },
        "time" => {
            let unit = time_unit(t)?;
            match t.get("bitWidth").and_then(Value::as_u64) {
                Some(32) => ArrowType::Time32(unit),
                Some(64) => ArrowType::Time64(unit),
                other => return Err(unsupported(format!("time {other:?}"), &["time"])),
            }
        }
        "timestamp" => ArrowType::Timestamp(
            time_unit(t)?,
            t.get("timezone")
                .and_then(Value::as_str)
                .map(str::to_string),
        ),
        "duration" => ArrowType::Duration64(time_unit(t)?),
        "decimal" => {
            let p = t.get("precision").and_then(Value::as_u64).unwrap_or(0);
            let s = t.get("scale").and_then(Value::as_i64).unwrap_or(0);
            let bits = t.get("bitWidth").and_then(Value::as_u64).unwrap_or(128);
            let (p8, s8) = (p as u8, s as i8);
            match bits {
                32 => ArrowType::Decimal32(p8, s8),
                64 => ArrowType::Decimal64(p8, s8),
                128 => ArrowType::Decimal128(p8, s8),
                _ => {
                    return Err(unsupported(
                        format!("Decimal{bits}({p}, {s})"),
                        &["decimal256", "decimal"],
                    ));
                }
            }
        }
        "interval" => {
            return Err(unsupported(
                format!(
                    "Interval({})",
                    t.get("unit").and_then(Value::as_str).unwrap_or("?")
                ),
                &["interval"],
            ));
        }
        other => {
            let keywords: &[&str] = match other {
                "binary" => &["binary"],
                "largebinary" => &["largebinary", "binary"],
                "fixedsizebinary" => &["fixedsizebinary"],
                "binaryview" => &["binaryview"],
                "utf8view" => &["utf8view", "stringview"],
                "list" => &["list"],
                "largelist" => &["largelist", "list"],
                "fixedsizelist" => &["fixedsizelist"],
                "listview" => &["listview"],
                "largelistview" => &["largelistview", "listview"],
                "struct" => &["struct"],
                "map" => &["map"],
                "union" => &["union"],
                "runendencoded" => &["runendencoded", "runend"],
                _ => &[],
            };
            let mut u = unsupported(other, keywords);
            u.keywords.push(normalize(other));
            return Err(u);
        }
    })
}

/// The minarrow type a field should decode to (docs/core-api.md's mapping), or why the
/// field is unsupported.
pub fn expected_type(field: &JsonField) -> Result<ArrowType, UnsupportedType> {
    let Some(dict) = &field.dictionary else {
        return value_type(field);
    };
    let values = value_type(field);
    match values {
        Ok(ArrowType::String) | Ok(ArrowType::LargeString) => {}
        Ok(other) => {
            return Err(unsupported(
                format!("Dictionary<Int{}, {other:?}>", dict.index_bit_width),
                &["dictionary"],
            ));
        }
        Err(mut u) => {
            u.description = format!("Dictionary<Int{}, {}>", dict.index_bit_width, u.description);
            u.keywords.push("dictionary".into());
            return Err(u);
        }
    }
    Ok(ArrowType::Dictionary(match dict.index_bit_width {
        8 => CategoricalIndexType::UInt8,
        16 => CategoricalIndexType::UInt16,
        32 => CategoricalIndexType::UInt32,
        64 => CategoricalIndexType::UInt64,
        w => {
            return Err(unsupported(
                format!("dictionary index width {w}"),
                &["dictionary"],
            ));
        }
    }))
}

/// Whether the dictionary values of a dictionary-encoded field are LargeUtf8.
pub fn dictionary_values_are_large(field: &JsonField) -> bool {
    field.type_name == "largeutf8"
}

/// Parses an integer written as a JSON number or a string.
pub fn json_int(v: &Value) -> Result<i128, String> {
    if let Some(i) = v.as_i64() {
        return Ok(i as i128);
    }
    if let Some(u) = v.as_u64() {
        return Ok(u as i128);
    }
    if let Some(s) = v.as_str() {
        return s
            .trim()
            .parse::<i128>()
            .map_err(|e| format!("integer string {s:?}: {e}"));
    }
    Err(format!("{v} is not an integer"))
}

/// Parses a float written as a JSON number or a special string.
pub fn json_float(v: &Value) -> Result<f64, String> {
    if let Some(f) = v.as_f64() {
        return Ok(f);
    }
    match v.as_str() {
        Some("NaN") | Some("nan") => Ok(f64::NAN),
        Some("Infinity") | Some("Inf") | Some("inf") | Some("+Infinity") => Ok(f64::INFINITY),
        Some("-Infinity") | Some("-Inf") | Some("-inf") => Ok(f64::NEG_INFINITY),
        Some(s) => s
            .parse::<f64>()
            .map_err(|e| format!("float string {s:?}: {e}")),
        None => Err(format!("{v} is not a float")),
    }
}

fn validity_of(col: &JsonColumn) -> Result<Vec<bool>, String> {
    match &col.validity {
        Some(v) if v.len() == col.count => Ok(v.clone()),
        Some(v) => Err(format!(
            "column {:?}: VALIDITY has {} entries for count {}",
            col.name,
            v.len(),
            col.count
        )),
        None => Ok(vec![true; col.count]),
    }
}

/// Checks a string column's `OFFSET` against the UTF-8 lengths of its `DATA` (a guard on
/// this reader's understanding of the JSON: the offsets are what the IPC file holds).
fn check_offsets(col: &JsonColumn, data: &[Value]) -> Result<(), String> {
    let Some(offsets) = &col.offset else {
        return Err(format!("string column {:?} has no OFFSET", col.name));
    };
    if offsets.len() != data.len() + 1 {
        return Err(format!(
            "column {:?}: {} offsets for {} strings",
            col.name,
            offsets.len(),
            data.len()
        ));
    }
    for (i, v) in data.iter().enumerate() {
        let len = json_int(&offsets[i + 1])? - json_int(&offsets[i])?;
        let s = v
            .as_str()
            .ok_or_else(|| format!("column {:?}: {v} is not a string", col.name))?;
        if len != s.len() as i128 {
            return Err(format!(
                "column {:?} row {i}: OFFSET spans {len} bytes, DATA {s:?} has {}",
                col.name,
                s.len()
            ));
        }
    }
    Ok(())
}

/// Expected cells of a column whose values are not dictionary encoded.
fn value_cells(field: &JsonField, col: &JsonColumn) -> Result<Vec<Cell>, String> {
    let ty = value_type(field).map_err(|u| format!("{} is unsupported", u.description))?;
    if ty == ArrowType::Null {
        return Ok(vec![Cell::Null; col.count]);
    }
    let validity = validity_of(col)?;
    let data = col
        .data
        .as_ref()
        .ok_or_else(|| format!("column {:?} has no DATA", col.name))?;
    if data.len() != col.count {
        return Err(format!(
            "column {:?}: DATA has {} entries for count {}",
            col.name,
            data.len(),
            col.count
        ));
    }
    if matches!(ty, ArrowType::String | ArrowType::LargeString) {
        check_offsets(col, data)?;
    }
    let mut out = Vec::with_capacity(col.count);
    for (i, v) in data.iter().enumerate() {
        if !validity[i] {
            out.push(Cell::Null);
            continue;
        }
        let cell = match &ty {
            ArrowType::Boolean => Cell::Bool(match v {
                Value::Bool(b) => *b,
                other => json_int(other)? != 0,
            }),
            ArrowType::Float32 => Cell::F32(json_float(v)? as f32),
            ArrowType::Float64 => Cell::F64(json_float(v)?),
            ArrowType::String | ArrowType::LargeString => Cell::Str(
                v.as_str()
                    .ok_or_else(|| format!("column {:?}: {v} is not a string", col.name))?
                    .to_string(),
            ),
            // Integers, temporal values and decimals (unscaled) are all integers.
            _ => Cell::Int(json_int(v)?),
        };
        out.push(cell);
    }
    Ok(out)
}

/// The expected cells of `col`, the JSON column of `field` in one batch of `file`.
///
/// Dictionary-encoded columns resolve to their dictionary values; a valid key that points
/// at a null dictionary value is a null.
pub fn expected_cells(
    file: &IntegrationFile,
    field: &JsonField,
    col: &JsonColumn,
) -> Result<Vec<Cell>, String> {
    let Some(dict) = &field.dictionary else {
        return value_cells(field, col);
    };
    let dict_col = file
        .dictionaries
        .get(&dict.id)
        .ok_or_else(|| format!("dictionary {} is not in the JSON", dict.id))?;
    let values = value_cells(field, dict_col)?;
    let validity = validity_of(col)?;
    let data = col
        .data
        .as_ref()
        .ok_or_else(|| format!("column {:?} has no DATA", col.name))?;
    if data.len() != col.count {
        return Err(format!(
            "column {:?}: DATA has {} keys for count {}",
            col.name,
            data.len(),
            col.count
        ));
    }
    let mut out = Vec::with_capacity(col.count);
    for (i, key) in data.iter().enumerate() {
        if !validity[i] {
            out.push(Cell::Null);
            continue;
        }
        let k = json_int(key)?;
        let cell = usize::try_from(k)
            .ok()
            .and_then(|k| values.get(k))
            .ok_or_else(|| {
                format!(
                    "column {:?} row {i}: key {k} outside dictionary {} of {} values",
                    col.name,
                    dict.id,
                    values.len()
                )
            })?;
        out.push(cell.clone());
    }
    Ok(out)
}
