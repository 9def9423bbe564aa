//! CSV read in pieces, as the native reader's threads read a mapped file:
//! `csv::cut_piece` cuts the document at record boundaries found by quote
//! parity, and a `CsvDecoder::for_chunk` decoder parses each piece. The
//! pieces' tables, concatenated, must hold the values of one decoder over
//! the whole document, with the same error (kind, message, line, column)
//! and the same bad-row counters; a piece that meets a quote outside RFC
//! 4180 sends the rest to one decoder, as the reader does.
//!
//! Input: the `csv` target's two option bytes, one piece byte (the piece
//! size, 1 to 64 bytes or a few KiB; 0x40: quote `'` instead of `"`; 0x80: a
//! small `max`, so that `cut_piece` gives up on long records), a chunking
//! plan for the pushes ([`Chunks`]), then the text. The pieces are parsed one
//! after another here: the threads themselves are the reader's tests'.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use lightstream_core::Schema;
use lightstream_core::csv::{
    CsvDecoder, CsvEncoder, CsvReadOptions, CsvWriteOptions, FrozenSchema, cut_piece,
};
use lightstream_core::minarrow::Table;
use lightstream_fuzz::csv::read_options;
use lightstream_fuzz::{Chunks, check_table};

/// What reading gave: the schema, the tables in order, the first error and
/// the counters.
#[derive(Default)]
struct Outcome {
    schema: Option<Arc<Schema>>,
    tables: Vec<Table>,
    error: Option<String>,
    skipped: u64,
    nulled: u64,
}

impl Outcome {
    /// Takes a decoder's tables and counters (and its error, if any).
    fn take(&mut self, dec: &mut CsvDecoder, r: lightstream_core::Result<()>) {
        while let Ok(Some(t)) = dec.next_table() {
            check_table(&t);
            self.tables.push(t);
        }
        self.skipped += dec.skipped_rows();
        self.nulled += dec.nulled_cells();
        if let Err(e) = r {
            self.error = Some(format!("{:?}: {e}", e.kind()));
        }
    }

    /// The tables' rows as CSV text (no header): equal values give equal
    /// text whatever the table boundaries.
    fn rows_text(&self, options: &CsvReadOptions) -> Vec<u8> {
        let Some(schema) = &self.schema else {
            return Vec::new();
        };
        let write = CsvWriteOptions {
            delimiter: options.delimiter,
            header: false,
            ..CsvWriteOptions::default()
        };
        let mut enc = CsvEncoder::new(schema, write).expect("an encoder for a decoded schema");
        let mut text = Vec::new();
        for t in &self.tables {
            enc.encode_table(t, &mut text)
                .expect("encode a decoded table");
        }
        enc.finish(&mut text).expect("finish the CSV text");
        text
    }
}

/// Pushes `bytes` in the plan's chunks, then finishes.
fn push_all(dec: &mut CsvDecoder, bytes: &[u8], plan: &mut Chunks) -> lightstream_core::Result<()> {
    plan.pieces(bytes)
        .into_iter()
        .try_for_each(|p| dec.push(p))?;
    dec.finish()
}

/// One decoder over the whole text.
fn whole(options: &CsvReadOptions, text: &[u8], plan: &mut Chunks) -> Outcome {
    let mut out = Outcome::default();
    let Ok(mut dec) = CsvDecoder::new(options.clone()) else {
        return out;
    };
    let r = push_all(&mut dec, text, plan);
    out.schema = dec.schema().cloned();
    out.take(&mut dec, r);
    out
}

/// The text cut into pieces: the header and the inference by one decoder
/// over whole pieces until the schema is known, then a `for_chunk` decoder
/// per piece, as `lightstream::csv::CsvReader` reads a mapped file.
fn in_pieces(
    options: &CsvReadOptions,
    text: &[u8],
    target: usize,
    max: usize,
    plan: &mut Chunks,
) -> Outcome {
    let mut out = Outcome::default();
    let Ok(mut first) = CsvDecoder::new(options.clone()) else {
        return out;
    };
    let (mut pos, mut line) = (0usize, 1u64);
    let mut serial = false;
    while pos < text.len() && !serial && (pos == 0 || first.schema().is_none()) {
        let (len, lfs) = cut_piece(&text[pos..], options.quote, target, max).unwrap_or_else(|| {
            serial = true;
            (text.len() - pos, 0)
        });
        let piece = &text[pos..pos + len];
        if let Err(e) = plan
            .pieces(piece)
            .into_iter()
            .try_for_each(|p| first.push(p))
        {
            out.schema = first.schema().cloned();
            out.take(&mut first, Err(e));
            return out;
        }
        pos += len;
        line += lfs;
    }
    let frozen = first.frozen_schema();
    let go_on = !serial && pos < text.len() && !first.met_stray_quote();
    let (Some(frozen), true) = (frozen, go_on) else {
        // The rest on this decoder.
        let r = push_all(&mut first, &text[pos..], plan);
        out.schema = first.schema().cloned();
        out.take(&mut first, r);
        return out;
    };
    out.schema = Some(frozen.schema().clone());
    let r = first.finish();
    let failed = r.is_err();
    out.take(&mut first, r);
    if failed {
        return out;
    }
    while pos < text.len() {
        let Some((len, lfs)) = cut_piece(&text[pos..], options.quote, target, max) else {
            serially(&mut out, options, &frozen, &text[pos..], line, plan);
            return out;
        };
        let Ok(mut dec) = CsvDecoder::for_chunk(options.clone(), &frozen, line) else {
            panic!("for_chunk refused options that new took");
        };
        let r = push_all(&mut dec, &text[pos..pos + len], plan);
        if dec.met_stray_quote() {
            // This piece may be cut off a record boundary: its results
            // are dropped and the rest is read by one decoder.
            serially(&mut out, options, &frozen, &text[pos..], line, plan);
            return out;
        }
        let failed = r.is_err();
        out.take(&mut dec, r);
        if failed {
            return out;
        }
        pos += len;
        line += lfs;
    }
    out
}

/// The rest of the text, from `line`, by one `for_chunk` decoder.
fn serially(
    out: &mut Outcome,
    options: &CsvReadOptions,
    frozen: &FrozenSchema,
    rest: &[u8],
    line: u64,
    plan: &mut Chunks,
) {
    let Ok(mut dec) = CsvDecoder::for_chunk(options.clone(), frozen, line) else {
        panic!("for_chunk refused options that new took");
    };
    let r = push_all(&mut dec, rest, plan);
    out.take(&mut dec, r);
}

fuzz_target!(|data: &[u8]| {
    let [a, b, p, rest @ ..] = data else {
        return;
    };
    let (mut plan, text) = Chunks::split(rest);
    let mut options = read_options(*a, *b, text);
    if p & 0x40 != 0 {
        options.quote = b'\'';
    }
    // At most about 32 pieces: a `for_chunk` decoder costs about as much to
    // make as 20 KB of text to parse (csv-core builds its state machine), so
    // one-byte pieces of a long input would spend the run making decoders.
    let target = match p & 0x3f {
        n @ 0..=47 => usize::from(n) + 1,
        n => usize::from(n - 47) * 1024,
    }
    .max(text.len() / 32);
    // The reader's own `max` is far above any fuzz input; a small one makes
    // `cut_piece` give up, which the reader answers by reading on serially.
    let max = if p & 0x80 != 0 {
        target + 16
    } else {
        usize::MAX
    };
    let one = whole(&options, text, &mut Chunks::whole());
    let cut = in_pieces(&options, text, target, max, &mut plan);
    assert_eq!(
        one.schema.as_ref().map(|s| &s.fields),
        cut.schema.as_ref().map(|s| &s.fields),
        "schemas differ"
    );
    assert_eq!(one.error, cut.error, "errors differ");
    assert_eq!(
        (one.skipped, one.nulled),
        (cut.skipped, cut.nulled),
        "counters differ"
    );
    let (x, y) = (one.rows_text(&options), cut.rows_text(&options));
    assert!(
        x == y,
        "values differ\none decoder:\n{}\nin pieces:\n{}",
        String::from_utf8_lossy(&x),
        String::from_utf8_lossy(&y)
    );
});
