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
    BadRowPolicy, CsvDecoder, CsvEncoder, CsvReadOptions, CsvWriteOptions, read_csv,
};
use lightstream_core::minarrow::Table;
use lightstream_fuzz::csv::read_options;
use lightstream_fuzz::{Chunks, check_table};

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
    let (mut chunks, rest) = Chunks::split(rest);
    let options = read_options(a, b, rest);
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
