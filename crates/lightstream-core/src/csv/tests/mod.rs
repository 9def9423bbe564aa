//! Unit tests of the CSV decoder and encoder: RFC 4180 quoting, chunking
//! independence, inference, null tokens, bad-row policies, limits and the
//! text form of every type. Interop with pyarrow lives in `tests/tests/csv_interop.rs`.
//!
//! `decoding.rs`: the reader's rules; `encoding.rs`: the writer and round
//! trips; `splitting.rs`: random documents in random chunks against csv-core;
//! `chunks.rs`: [`scan_boundary`] cuts decoded by [`CsvDecoder::for_chunk`]
//! against one decoder over the whole input.
//! The helpers below are shared by all three.

use std::sync::Arc;

use minarrow::ffi::arrow_dtype::CategoricalIndexType;
use minarrow::{Array, ArrowType, Field, NumericArray, Table, TemporalArray, TextArray, TimeUnit};

use super::*;

mod chunks;
mod decoding;
mod encoding;
mod splitting;
use crate::error::ErrorKind;

/// A schema of nullable fields.
fn schema_of(fields: &[(&str, ArrowType)]) -> Schema {
    Schema::new(
        fields
            .iter()
            .map(|(n, t)| Arc::new(Field::new(*n, t.clone(), true, None)))
            .collect(),
        Default::default(),
    )
}

fn opts() -> CsvReadOptions {
    CsvReadOptions::default()
}

/// Decodes `input` pushed in the given pieces.
fn decode_pieces(pieces: &[&[u8]], o: CsvReadOptions) -> Result<(Arc<Schema>, Vec<Table>, u64)> {
    let mut d = CsvDecoder::new(o)?;
    let mut tables = Vec::new();
    for p in pieces {
        d.push(p)?;
        while let Some(t) = d.next_table()? {
            tables.push(t);
        }
    }
    d.finish()?;
    while let Some(t) = d.next_table()? {
        tables.push(t);
    }
    Ok((
        d.schema().cloned().expect("schema"),
        tables,
        d.skipped_rows(),
    ))
}

/// Decodes whole, then at every split point and byte by byte: all identical.
fn decode_all_splits(input: &[u8], o: CsvReadOptions) -> Result<(Arc<Schema>, Vec<Table>)> {
    let whole = decode_pieces(&[input], o.clone());
    for i in 0..=input.len() {
        let split = decode_pieces(&[&input[..i], &input[i..]], o.clone());
        assert_eq!(
            format!("{split:?}"),
            format!("{whole:?}"),
            "split at {i} differs for {:?}",
            String::from_utf8_lossy(input)
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let bytewise = decode_pieces(&bytes, o);
    assert_eq!(format!("{bytewise:?}"), format!("{whole:?}"));
    whole.map(|(s, t, _)| (s, t))
}

fn strs(t: &Table, c: usize) -> Vec<Option<String>> {
    let fa = &t.cols[c];
    let Array::TextArray(TextArray::String32(a)) = &fa.array else {
        panic!("not a string column: {:?}", fa.field.dtype)
    };
    (0..t.n_rows)
        .map(|i| {
            a.null_mask.as_ref().is_none_or(|m| m.get(i)).then(|| {
                String::from_utf8(a.data[a.offsets[i] as usize..a.offsets[i + 1] as usize].to_vec())
                    .unwrap()
            })
        })
        .collect()
}

fn i64s(t: &Table, c: usize) -> Vec<Option<i64>> {
    let fa = &t.cols[c];
    let (data, mask): (&[i64], _) = match &fa.array {
        Array::NumericArray(NumericArray::Int64(a)) => (&a.data, a.null_mask.as_ref()),
        Array::TemporalArray(TemporalArray::Datetime64(a)) => (&a.data, a.null_mask.as_ref()),
        _ => panic!("not an i64 column: {:?}", fa.field.dtype),
    };
    (0..t.n_rows)
        .map(|i| mask.is_none_or(|m| m.get(i)).then(|| data[i]))
        .collect()
}

fn i32s(t: &Table, c: usize) -> Vec<Option<i32>> {
    let fa = &t.cols[c];
    let Array::TemporalArray(TemporalArray::Datetime32(a)) = &fa.array else {
        panic!("not an i32 temporal column: {:?}", fa.field.dtype)
    };
    (0..t.n_rows)
        .map(|i| {
            a.null_mask
                .as_ref()
                .is_none_or(|m| m.get(i))
                .then(|| a.data[i])
        })
        .collect()
}

fn f64s(t: &Table, c: usize) -> Vec<Option<f64>> {
    let fa = &t.cols[c];
    let Array::NumericArray(NumericArray::Float64(a)) = &fa.array else {
        panic!("not a f64 column: {:?}", fa.field.dtype)
    };
    (0..t.n_rows)
        .map(|i| {
            a.null_mask
                .as_ref()
                .is_none_or(|m| m.get(i))
                .then(|| a.data[i])
        })
        .collect()
}

fn bools(t: &Table, c: usize) -> Vec<Option<bool>> {
    let fa = &t.cols[c];
    let Array::BooleanArray(a) = &fa.array else {
        panic!("not a bool column: {:?}", fa.field.dtype)
    };
    (0..t.n_rows)
        .map(|i| {
            a.null_mask
                .as_ref()
                .is_none_or(|m| m.get(i))
                .then(|| a.data.get(i))
        })
        .collect()
}

fn one_table(input: &[u8], o: CsvReadOptions) -> (Arc<Schema>, Table) {
    let (s, mut t) = decode_all_splits(input, o).expect("decode");
    assert_eq!(t.len(), 1, "expected one table");
    (s, t.remove(0))
}

fn err(input: &[u8], o: CsvReadOptions) -> crate::Error {
    decode_all_splits(input, o).expect_err("expected an error")
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}
