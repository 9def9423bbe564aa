//! A decoded table inside wasm: what the decoders hand to `exportParts`
//! (crate::parts), which copies it out to the page and frees it. JavaScript
//! sees it only as that opaque handle; the page's `Table` is npm/table.js.
//! The Rust methods here (row and column counts, the schema as plain
//! objects, columns, rows, `toIPC`) serve this crate's own tests.

use std::sync::Arc;

use js_sys::{Array as JsArray, Object, Reflect, Uint8Array};
use lightstream_core::minarrow::Table as MTable;
use lightstream_core::{Schema, WriteOptions, write_stream};
use wasm_bindgen::prelude::*;

use crate::column::{Column, arrow_type_name};
use crate::decoder::WireSpan;

/// A decoded table (an opaque handle in JavaScript, consumed by `exportParts`).
#[wasm_bindgen]
pub struct Table {
    schema: Arc<Schema>,
    table: MTable,
    /// The received messages `toIPC` hands on (`keepIpc`), as a JS array.
    wire: Option<JsValue>,
    /// The WebSocket message the table's record batch came in, and where its
    /// body was copied to: what `exportParts` makes views of.
    view: Option<WireView>,
}

/// A received WebSocket message (`event.data`, owned by the stream: nothing
/// else holds it) and the [`WireSpan`] of the record batch body copied out
/// of it into wasm memory. The core decoded and validated that copy, which is
/// byte for byte the message's bytes at the span's offsets.
pub struct WireView {
    pub buffer: js_sys::ArrayBuffer,
    pub span: WireSpan,
}

pub(crate) fn set(obj: &Object, key: &str, value: &JsValue) -> Result<(), JsError> {
    Reflect::set(obj, &JsValue::from_str(key), value)
        .map(|_| ())
        .map_err(|_| JsError::new(&format!("cannot set property \"{key}\"")))
}

/// Which column a JS `column(nameOrIndex)` argument selects.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnKey {
    /// By position.
    Index(f64),
    /// By field name.
    Name(String),
}

/// A schema's fields as JS objects `{name, type, nullable, metadata}`.
pub fn fields_to_js(schema: &Schema) -> Result<JsArray, JsError> {
    let out = JsArray::new();
    for (i, f) in schema.fields.iter().enumerate() {
        let dictionary = schema.dictionaries.get(i).copied().flatten();
        let obj = Object::new();
        set(&obj, "name", &JsValue::from_str(&f.name))?;
        let ty = arrow_type_name(&f.dtype, dictionary.as_ref());
        set(&obj, "type", &JsValue::from_str(&ty))?;
        set(&obj, "nullable", &JsValue::from_bool(f.nullable))?;
        set(&obj, "metadata", &metadata_to_js(&f.metadata)?.into())?;
        out.push(&obj);
    }
    Ok(out)
}

/// Custom metadata as a plain JS object.
pub fn metadata_to_js<'a>(
    metadata: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<Object, JsError> {
    let meta = Object::new();
    for (k, v) in metadata {
        set(&meta, k, &JsValue::from_str(v))?;
    }
    Ok(meta)
}

impl Table {
    /// Wraps a decoded table and the schema it was decoded with.
    pub fn new(schema: Arc<Schema>, table: MTable) -> Table {
        Table {
            schema,
            table,
            wire: None,
            view: None,
        }
    }

    /// The same table with the wire messages it arrived in (see `keepIpc`).
    pub fn with_wire(mut self, wire: Option<JsValue>) -> Table {
        self.wire = wire;
        self
    }

    /// The same table with the message its body may be viewed in.
    pub fn with_view(mut self, view: Option<WireView>) -> Table {
        self.view = view;
        self
    }

    /// The schema, the minarrow table, the kept wire messages and the
    /// message to view (what `exportParts` consumes).
    pub fn into_parts(self) -> (Arc<Schema>, MTable, Option<JsValue>, Option<WireView>) {
        (self.schema, self.table, self.wire, self.view)
    }

    /// The underlying minarrow table.
    pub fn inner(&self) -> &MTable {
        &self.table
    }

    /// The position of the column `key` names, or an error saying why not.
    pub fn resolve(&self, key: &ColumnKey) -> Result<usize, String> {
        let n = self.table.cols.len();
        match key {
            ColumnKey::Index(x) => {
                if x.fract() == 0.0 && *x >= 0.0 && *x < n as f64 {
                    Ok(*x as usize)
                } else {
                    Err(format!(
                        "column index {x} is out of range: the table has {n} columns"
                    ))
                }
            }
            ColumnKey::Name(name) => self
                .table
                .cols
                .iter()
                .position(|c| c.field.name == *name)
                .ok_or_else(|| format!("no column named \"{name}\"")),
        }
    }

    /// Column `i` (checked).
    pub fn column_at(&self, i: usize) -> Result<Column, String> {
        let fa = self
            .table
            .cols
            .get(i)
            .ok_or_else(|| format!("column index {i} is out of range"))?;
        let dictionary = self.schema.dictionaries.get(i).copied().flatten();
        Ok(Column::new(fa, self.table.n_rows, dictionary))
    }

    /// The table as an IPC stream (schema, dictionaries, one batch, EOS).
    pub fn to_ipc_bytes(&self) -> lightstream_core::Result<Vec<u8>> {
        write_stream(
            &self.schema,
            std::slice::from_ref(&self.table),
            &WriteOptions::default(),
        )
    }
}

impl Table {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.table.n_rows
    }

    /// Number of columns.
    pub fn num_columns(&self) -> usize {
        self.table.cols.len()
    }

    /// The schema: an array of `{name, type, nullable, metadata}` plain objects
    /// (`type` is the Arrow type name, `metadata` the field's custom metadata).
    pub fn schema(&self) -> Result<JsArray, JsError> {
        fields_to_js(&self.schema)
    }

    /// The table's (schema-level) custom metadata as a plain object.
    pub fn metadata(&self) -> Result<Object, JsError> {
        metadata_to_js(&self.table.metadata)
    }

    /// A column by position (number) or name (string); throws when there is
    /// no such column.
    pub fn column(&self, key: JsValue) -> Result<Column, JsError> {
        let key = if let Some(x) = key.as_f64() {
            ColumnKey::Index(x)
        } else if let Some(s) = key.as_string() {
            ColumnKey::Name(s)
        } else {
            return Err(JsError::new(
                "column(nameOrIndex): expected a column name (string) or index (number)",
            ));
        };
        self.resolve(&key)
            .and_then(|i| self.column_at(i))
            .map_err(|e| JsError::new(&e))
    }

    /// Every column, in order.
    pub fn columns(&self) -> Result<Vec<Column>, JsError> {
        (0..self.table.cols.len())
            .map(|i| self.column_at(i).map_err(|e| JsError::new(&e)))
            .collect()
    }

    /// The first `limit` rows (all when omitted) as plain objects keyed by
    /// column name, values as `Column.get` gives them.
    pub fn to_rows(&self, limit: Option<usize>) -> Result<JsArray, JsError> {
        let n = limit.map_or(self.table.n_rows, |l| l.min(self.table.n_rows));
        let columns = self.columns()?;
        let out = JsArray::new();
        for i in 0..n {
            let row = Object::new();
            for c in &columns {
                let v = c.cell(i).map_err(|e| JsError::new(&e))?.into_js();
                set(&row, &c.name(), &v)?;
            }
            out.push(&row);
        }
        Ok(out)
    }

    /// The table re-encoded as an Arrow IPC stream (uncompressed, 64-byte
    /// aligned), in a new Uint8Array.
    pub fn to_ipc(&self) -> Result<Uint8Array, JsError> {
        let bytes = self
            .to_ipc_bytes()
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Uint8Array::from(&bytes[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightstream_core::minarrow::{fa_f64, fa_i32, tbl};

    fn table() -> Table {
        let t = tbl!("t", fa_i32!("a", 1, 2), fa_f64!("b", 0.5, 1.5));
        Table::new(Arc::new(Schema::from_table(&t)), t)
    }

    #[test]
    fn resolves_columns_by_index_and_name() {
        let t = table();
        assert_eq!(t.resolve(&ColumnKey::Index(1.0)), Ok(1));
        assert_eq!(t.resolve(&ColumnKey::Name("a".into())), Ok(0));
        for bad in [2.0, -1.0, 0.5, f64::NAN, f64::INFINITY] {
            assert!(t.resolve(&ColumnKey::Index(bad)).is_err(), "{bad}");
        }
        assert!(t.resolve(&ColumnKey::Name("zzz".into())).is_err());
        assert!(t.column_at(2).is_err());
    }

    #[test]
    fn to_ipc_round_trips() {
        let t = table();
        let bytes = t.to_ipc_bytes().unwrap();
        let (_, tables) = crate::decode_tables(&bytes).unwrap();
        assert_eq!(tables.len(), 1);
        assert_eq!(tables[0].n_rows, 2);
        let c = Table::new(t.schema.clone(), tables[0].clone())
            .column_at(1)
            .unwrap();
        assert_eq!(c.cell(1), Ok(crate::column::Cell::Number(1.5)));
    }
}
