//! The CSV push decoder: options from the first two bytes (bad-row policy,
//! header, delimiter, string nulls, inferred or given schema, small batches), the rest
//! pushed in the chunking the next bytes choose. Every table is read to its
//! last value, then written back with `CsvEncoder`, which must not fail or
//! panic, and the text it writes must read back under the same schema.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use lightstream_core::Schema;
use lightstream_core::csv::{
    BadRowPolicy, CsvDecoder, CsvEncoder, CsvReadOptions, CsvWriteOptions, StringNulls, read_csv,
};
use lightstream_core::minarrow::{ArrowType, Field, Table, TimeUnit};
use lightstream_fuzz::{Chunks, check_table};

/// Column types a given schema is drawn from.
fn column_type(b: u8) -> ArrowType {
    use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType as C;
    match b % 16 {
        0 => ArrowType::Int64,
        1 => ArrowType::Float64,
        2 => ArrowType::Boolean,
        3 => ArrowType::String,
        4 => ArrowType::Date32,
        5 => ArrowType::Timestamp(TimeUnit::Microseconds, None),
        6 => ArrowType::Timestamp(TimeUnit::Nanoseconds, Some("UTC".into())),
        7 => ArrowType::Time32(TimeUnit::Milliseconds),
        8 => ArrowType::Time64(TimeUnit::Nanoseconds),
        9 => ArrowType::UInt8,
        10 => ArrowType::Int16,
        11 => ArrowType::Float32,
        12 => ArrowType::Decimal128(10, 3),
        13 => ArrowType::Dictionary(C::UInt32),
        14 => ArrowType::LargeString,
        _ => ArrowType::Date64,
    }
}

fn decode(options: CsvReadOptions, pieces: &[&[u8]]) -> (Option<Arc<Schema>>, Vec<Table>) {
    let Ok(mut dec) = CsvDecoder::new(options) else {
        return (None, Vec::new());
    };
    let mut tables = Vec::new();
    let mut failed = false;
    for piece in pieces {
        if dec.push(piece).is_err() {
            failed = true;
            // An error sticks.
            assert!(dec.push(b"1\n").is_err(), "usable after an error");
        }
        while let Ok(Some(t)) = dec.next_table() {
            tables.push(t);
        }
        if failed {
            break;
        }
    }
    if !failed {
        let _ = dec.finish();
    }
    while let Ok(Some(t)) = dec.next_table() {
        tables.push(t);
    }
    let _ = (dec.skipped_rows(), dec.nulled_cells());
    (dec.schema().cloned(), tables)
}

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let (a, b) = (*a, *b);
    let mut options = CsvReadOptions {
        bad_rows: match a % 3 {
            0 => BadRowPolicy::Error,
            1 => BadRowPolicy::Null,
            _ => BadRowPolicy::Skip,
        },
        has_header: a & 4 == 0,
        delimiter: b",;\t|"[usize::from(a >> 3) & 3],
        strings_can_be_null: a & 32 != 0,
        string_nulls: if b & 0x40 != 0 {
            StringNulls::QuotingIgnored
        } else {
            StringNulls::Unquoted
        },
        batch_size: if a & 64 != 0 { 3 } else { 65_536 },
        infer_rows: if a & 128 != 0 { 2 } else { 10_000 },
        ..CsvReadOptions::default()
    };
    let (mut chunks, rest) = Chunks::split(rest);
    if b & 0x80 != 0 {
        // A given schema of up to 4 columns named a, b, c, d.
        let n = usize::from(b & 3) + 1;
        let types = rest.iter().copied().chain(std::iter::repeat(0)).take(n);
        let fields = types
            .enumerate()
            .map(|(i, t)| {
                Arc::new(Field::new(
                    ["a", "b", "c", "d"][i],
                    column_type(t),
                    true,
                    None,
                ))
            })
            .collect();
        options.schema = Some(Schema::new(fields, Default::default()));
    }
    let pieces = chunks.pieces(rest);
    let (schema, tables) = decode(options.clone(), &pieces);
    for t in &tables {
        check_table(t);
    }
    let Some(schema) = schema else {
        return;
    };
    // Write back what was read: never an error for tables the decoder made.
    let write = CsvWriteOptions {
        delimiter: options.delimiter,
        header: options.has_header,
        ..CsvWriteOptions::default()
    };
    let mut enc = CsvEncoder::new(&schema, write).expect("an encoder for a decoded schema");
    let mut text = Vec::new();
    for t in &tables {
        enc.encode_table(t, &mut text)
            .expect("encode a decoded table");
    }
    enc.finish(&mut text).expect("finish the CSV text");
    // ... and the text reads back under the same schema.
    let again = CsvReadOptions {
        schema: Some((*schema).clone()),
        bad_rows: BadRowPolicy::Error,
        ..options
    };
    if let Err(e) = read_csv(&text, again) {
        panic!(
            "written CSV does not read back: {e}\n{}",
            String::from_utf8_lossy(&text)
        );
    }
});
