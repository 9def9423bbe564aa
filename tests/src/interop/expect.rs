//! Expectation documents: the JSON described in `tests/python/ipc_expect.py` (per batch,
//! per column, the logical values), written from minarrow tables ([`expect_doc`]) and
//! compared with decoded tables ([`diff_against_doc`]) or with the document of what
//! another implementation read ([`diff_docs`]). Types are named as pyarrow prints them
//! (the core's `pyarrow_type_name`), so both sides compare plain strings.

use std::collections::BTreeMap;
use std::path::Path;

use lightstream_core::display::{pyarrow_index_name, pyarrow_type_name};
use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
use lightstream_core::minarrow::{Array, ArrowType, FieldArray, Table, TextArray};
use lightstream_core::{IndexType, Schema};
use serde_json::{Map, Value, json};

use crate::compare::{Cell, column_cells};

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

/// The expectation document with all batches concatenated into one.
pub fn merge_batches(doc: &serde_json::Value) -> serde_json::Value {
    let mut doc = doc.clone();
    let batches = doc["batches"].as_array().cloned().unwrap_or_default();
    let ncols = batches
        .first()
        .map_or(0, |b| b["columns"].as_array().map_or(0, Vec::len));
    let mut rows = 0;
    let mut cols: Vec<Vec<serde_json::Value>> = vec![Vec::new(); ncols];
    for b in &batches {
        rows += b["num_rows"].as_u64().unwrap_or(0);
        for (c, col) in b["columns"].as_array().into_iter().flatten().enumerate() {
            cols[c].extend(col["values"].as_array().cloned().unwrap_or_default());
        }
    }
    let columns: Vec<serde_json::Value> = cols
        .into_iter()
        .map(|v| serde_json::json!({ "values": v }))
        .collect();
    doc["batches"] = serde_json::json!([{ "num_rows": rows, "columns": columns }]);
    doc
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
