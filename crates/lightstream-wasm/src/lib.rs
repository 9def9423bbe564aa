//! # lightstream-wasm
//!
//! The browser shell of Lightstream. Bytes of Arrow IPC streams and files
//! reach wasm from JavaScript three ways, each copied exactly once into
//! 64-byte aligned wasm memory and decoded there by `lightstream-core`:
//!
//! - [`decode`]: a whole stream or file already in a `Uint8Array` /
//!   `ArrayBuffer` (e.g. from `fetch`);
//! - [`stream::connect`]: a WebSocket speaking docs/websocket-protocol.md,
//!   one IPC message per binary message;
//! - [`stream::read_stream`] / [`decoder::StreamDecoder`]: chunks of any size.
//!
//! CSV text becomes the same tables through `csv::decode_csv`
//! (`decodeCsv`) and `csv::CsvDecoder` (the core's push CSV codec), with the
//! default feature `csv` (left out of the npm package's decode-only module).
//!
//! The resulting [`Table`]s' numeric columns are zero-copy typed-array views
//! for JavaScript ([`Column::to_array`]); strings and dictionaries become JS
//! strings in one pass.
//!
//! Modules: `csv` (CSV documents and the CSV push decoder), [`decoder`]
//! (the one-copy push decoder), [`stream`] (WebSocket and `ReadableStream`
//! sources), [`table`] (tables, schema objects, rows,
//! re-encoding), [`column`](mod@column) (values, typed arrays, validity) and `js`
//! (small JavaScript helpers for building arrays of strings). Every index and
//! option coming from JavaScript is checked; bad input becomes a JS `Error`,
//! never a panic.

pub mod column;
#[cfg(feature = "csv")]
pub mod csv;
pub mod decoder;
mod js;
pub mod parts;
pub mod stream;
pub mod table;

use std::sync::Arc;

use js_sys::{Array, Reflect, Uint8Array};
use lightstream_core::minarrow::{Table as MTable, Vec64};
use lightstream_core::{ReadOptions, Schema, SharedBuffer, read_ipc, read_ipc_shared};
use wasm_bindgen::prelude::*;

pub use column::Column;
#[cfg(feature = "csv")]
pub use csv::{CsvDecoder, decode_csv};
pub use decoder::StreamDecoder;
pub use lightstream_core;
pub use parts::export_parts;
pub use stream::{TableStream, connect, read_stream as read_stream_js};
pub use table::Table;

/// Decodes a whole IPC stream or IPC file (detected by its `ARROW1` magic)
/// into its schema and tables with [`lightstream_core::read_ipc`]: each
/// message body is copied once into 64-byte aligned memory (each buffer moved
/// to a 64-byte boundary) and the tables' buffers point into those copies.
pub fn decode_tables(bytes: &[u8]) -> lightstream_core::Result<(Arc<Schema>, Vec<MTable>)> {
    let read = read_ipc(bytes, ReadOptions::default())?;
    Ok((read.schema, read.tables))
}

/// Decodes a whole IPC stream or file that is already in aligned memory.
pub fn decode_shared(
    shared: SharedBuffer,
    options: ReadOptions,
) -> lightstream_core::Result<(Arc<Schema>, Vec<MTable>)> {
    let read = read_ipc_shared(shared, options)?;
    Ok((read.schema, read.tables))
}

/// Copies a JS byte array straight into new 64-byte aligned wasm memory (one
/// copy, no intermediate buffer).
pub fn copy_from_js(bytes: &Uint8Array) -> SharedBuffer {
    use decoder::Chunk;
    let n = bytes.len();
    let mut v: Vec64<u8> = Vec64::with_capacity(n);
    bytes.copy_out(0, &mut v.spare_capacity_mut()[..n]);
    // SAFETY: `copy_out` initialized the first `n` bytes of spare capacity.
    unsafe { v.set_len(n) };
    SharedBuffer::from_vec64(v)
}

/// `decode(bytes: Uint8Array | ArrayBuffer, options?): Table[]` — decodes an Arrow IPC
/// stream or file. The bytes are copied once into aligned wasm memory and
/// the tables' buffers point into that copy. `options.maxMessageBytes` caps
/// one message's metadata and its body, as for `connect` (default: bodies
/// up to 1 GiB); `options.compactDictionaries` gives each table only the
/// dictionary values its rows use; `options.columns` reads only the named
/// columns; `options.skipUnsupported` leaves out the columns the package
/// cannot decode (see [`decoder::options_read`]), and the array's `skipped`
/// property names them (`[{name, type}]`).
///
/// Throws an `Error` carrying the core's message on malformed, truncated or
/// unsupported input.
#[wasm_bindgen(js_name = decode, unchecked_return_type = "Table[]")]
pub fn decode_js(bytes: JsValue, options: JsValue) -> Result<Array, JsError> {
    let (tables, skipped) = decode_read(&bytes, &options)?;
    let out: Array = tables.into_iter().map(JsValue::from).collect();
    let skipped: JsValue = decoder::skipped_to_js(&skipped)?.into();
    Reflect::set(&out, &"skipped".into(), &skipped)
        .map_err(|_| JsError::new("decode: cannot set skipped"))?;
    Ok(out)
}

/// [`decode_js`] for Rust callers: the tables without the `skipped` list.
pub fn decode(bytes: JsValue, options: JsValue) -> Result<Vec<Table>, JsError> {
    decode_read(&bytes, &options).map(|(tables, _)| tables)
}

/// The tables of `decode` and the fields it skipped.
fn decode_read(
    bytes: &JsValue,
    options: &JsValue,
) -> Result<(Vec<Table>, Vec<lightstream_core::FieldInfo>), JsError> {
    let bytes = decoder::js_bytes(bytes, "decode")?;
    let options = decoder::options_read(options)?;
    let read = read_ipc_shared(copy_from_js(&bytes), options).map_err(|e| decoder::js_error(&e))?;
    let schema = read.schema;
    let tables = read
        .tables
        .into_iter()
        .map(|t| Table::new(schema.clone(), t))
        .collect();
    Ok((tables, read.skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightstream_core::minarrow::{fa_i32, fa_str32, tbl};
    use lightstream_core::{ErrorKind, WriteOptions, write_file, write_stream};

    fn sample() -> (Schema, MTable) {
        let t = tbl!(
            "t",
            fa_i32!("id", 1, 2, 3),
            fa_str32!("name", "a", "b", "c")
        );
        (Schema::from_table(&t), t)
    }

    #[test]
    fn decodes_stream_and_file() {
        let (schema, t) = sample();
        let stream =
            write_stream(&schema, std::slice::from_ref(&t), &WriteOptions::default()).unwrap();
        let file = write_file(&schema, &[t], &WriteOptions::default()).unwrap();
        for bytes in [stream, file] {
            let (s, tables) = decode_tables(&bytes).unwrap();
            assert_eq!(s.fields.len(), 2);
            assert_eq!(tables.len(), 1);
            assert_eq!(tables[0].n_rows, 3);
        }
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(decode_tables(b"definitely not arrow").is_err());
        let (schema, t) = sample();
        let stream = write_stream(&schema, &[t], &WriteOptions::default()).unwrap();
        for cut in [1, 8, stream.len() / 2, stream.len() - 1] {
            let e = decode_tables(&stream[..cut]).unwrap_err();
            assert!(!e.to_string().is_empty());
        }
        let e = decode_tables(b"ARROW1\0\0garbage").unwrap_err();
        assert_ne!(e.kind(), ErrorKind::Io);
    }
}
