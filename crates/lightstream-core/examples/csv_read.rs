//! Measurement harness for the CSV decoder on one thread (issue 21): reads a
//! file into memory, pushes it in 1 MiB slices and counts rows. Run under
//! callgrind to count the decoder's instructions without the CLI's I/O:
//! `csv_read FILE [--given]` (`--given`: the schema given, as inferred from
//! the lines of the first 1 MiB, instead of inferred by the decoder).
//! Not a tool for users (the CLI's `convert` is).

use lightstream_core::csv::{CsvDecoder, CsvReadOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: csv_read FILE [--given]")?;
    let given = args.next().as_deref() == Some("--given");
    let bytes = std::fs::read(path)?;
    // The given schema is the one inferred from the first 1 MiB (about 1% of
    // the bench file's instructions).
    let schema = if given {
        let mut first = CsvDecoder::new(CsvReadOptions::default())?;
        // Whole lines only: a record cut in two would be a bad row.
        let head = &bytes[..bytes.len().min(1 << 20)];
        let end = head
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(head.len(), |p| p + 1);
        first.push(&head[..end])?;
        first.finish()?;
        first.schema().map(|s| (**s).clone())
    } else {
        None
    };
    let mut decoder = CsvDecoder::new(CsvReadOptions {
        schema,
        ..Default::default()
    })?;
    let (mut rows, mut tables) = (0, 0);
    for chunk in bytes.chunks(1 << 20) {
        decoder.push(chunk)?;
        while let Some(t) = decoder.next_table()? {
            rows += t.n_rows;
            tables += 1;
        }
    }
    decoder.finish()?;
    while let Some(t) = decoder.next_table()? {
        rows += t.n_rows;
        tables += 1;
    }
    println!("{rows} rows in {tables} tables");
    Ok(())
}
