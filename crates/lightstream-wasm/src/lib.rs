//! # lightstream-wasm
//!
//! The browser shell of Lightstream: JavaScript hands over the bytes of an
//! Arrow IPC stream or file, [`decode`] copies them once into 64-byte aligned
//! wasm memory and decodes them with `lightstream-core` into [`Table`]s whose
//! numeric columns JavaScript reads as zero-copy typed-array views
//! ([`Column::to_array`]).
//!
//! Modules: [`table`] (tables, schema objects, rows, re-encoding) and
//! [`column`] (column values, typed arrays, validity). Every index coming from
//! JavaScript is checked; bad input becomes a JS `Error`, never a panic.

pub mod column;
pub mod table;

use std::sync::Arc;

use lightstream_core::minarrow::Table as MTable;
use lightstream_core::{ReadOptions, Schema, aligned_copy, is_ipc_file, read_file, read_stream};
use wasm_bindgen::prelude::*;

pub use column::Column;
pub use lightstream_core;
pub use table::Table;

/// Decodes a whole IPC stream or IPC file (detected by its `ARROW1` magic)
/// into its schema and tables. The bytes are copied once into 64-byte aligned
/// memory; the tables' buffers then point into that copy (no further copies).
pub fn decode_tables(bytes: &[u8]) -> lightstream_core::Result<(Arc<Schema>, Vec<MTable>)> {
    let shared = aligned_copy(bytes);
    if is_ipc_file(bytes) {
        read_file(shared, ReadOptions::default())
    } else {
        read_stream(shared, ReadOptions::default())
    }
}

/// `decode(bytes: Uint8Array): Table[]` — decodes an Arrow IPC stream or file.
///
/// Throws an `Error` carrying the core's message on malformed, truncated or
/// unsupported input (e.g. ZSTD-compressed bodies: this build has LZ4 only).
#[wasm_bindgen]
pub fn decode(bytes: &[u8]) -> Result<Vec<Table>, JsError> {
    let (schema, tables) = decode_tables(bytes).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(tables
        .into_iter()
        .map(|t| Table::new(schema.clone(), t))
        .collect())
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
