//! Chunk-parallel decoding, without the threads: [`scan_boundary`] against
//! a byte-by-byte walk, and documents cut by [`cut_piece`] and decoded one
//! [`CsvDecoder::for_chunk`] decoder per piece (as `lightstream::csv` does on
//! its workers) against one decoder over the whole document.

use super::splitting::blocks_against_csv_core::{document, drive, run};
use super::*;
use proptest::prelude::*;

/// The last record end, the quote state at the end and the line feeds
/// before that end, by a byte-at-a-time parity walk.
fn boundary_scalar(bytes: &[u8], quote: u8, mut inside: bool) -> Boundary {
    let mut last = None;
    let mut lfs = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == quote {
            inside = !inside;
        }
        if b == b'\n' {
            lfs += 1;
        }
        let ends = !inside
            && (b == b'\n' || (b == b'\r' && bytes.get(i + 1).is_some_and(|&n| n != b'\n')));
        if ends {
            last = Some((i + 1, lfs));
        }
    }
    Boundary {
        last_record_end: last.map(|l| l.0),
        in_quotes_at_end: inside,
        lf_count: last.map_or(lfs, |l| l.1),
    }
}

/// Decodes `doc` as the parallel reader does: one ordinary decoder over
/// pieces of about `size` bytes until its schema is frozen, then one
/// `for_chunk` decoder per piece; a piece that met a stray quote is dropped
/// with everything after it and the rest goes to one `for_chunk` decoder.
/// The output is [`run`]'s.
fn run_chunked(doc: &[u8], o: &CsvReadOptions, size: usize) -> String {
    let mut out = String::new();
    let (mut skipped, mut nulled) = (0, 0);
    let (mut pos, mut line) = (0, 1);
    let mut d = CsvDecoder::new(o.clone()).unwrap();
    let counters = |out: String, s: u64, n: u64| format!("{out}skipped {s} nulled {n}");
    let frozen = loop {
        if let Some(f) = d.frozen_schema().filter(|_| !d.met_stray_quote()) {
            break f;
        }
        if pos == doc.len() || d.met_stray_quote() {
            // All of it through the first decoder.
            drive(&mut d, &[&doc[pos..]], &mut out);
            return counters(out, d.skipped_rows(), d.nulled_cells());
        }
        let (len, lfs) = cut_piece(&doc[pos..], o.quote, size, usize::MAX).unwrap();
        if let Err(e) = d.push(&doc[pos..pos + len]) {
            while let Ok(Some(t)) = d.next_table() {
                out += &format!("{t:?}\n");
            }
            out += &format!("error {:?} {:?} {e}\n", e.kind(), e.location());
            return counters(out, d.skipped_rows(), d.nulled_cells());
        }
        while let Ok(Some(t)) = d.next_table() {
            out += &format!("{t:?}\n");
        }
        (pos, line) = (pos + len, line + lfs);
    };
    // At a record boundary: the first decoder ends here.
    assert!(drive(&mut d, &[], &mut out));
    skipped += d.skipped_rows();
    nulled += d.nulled_cells();
    while pos < doc.len() {
        let (len, lfs) = cut_piece(&doc[pos..], o.quote, size, usize::MAX).unwrap();
        let mut piece = String::new();
        let mut c = CsvDecoder::for_chunk(o.clone(), &frozen, line).unwrap();
        let ok = drive(&mut c, &[&doc[pos..pos + len]], &mut piece);
        if c.met_stray_quote() {
            let mut c = CsvDecoder::for_chunk(o.clone(), &frozen, line).unwrap();
            drive(&mut c, &[&doc[pos..]], &mut out);
            return counters(out, skipped + c.skipped_rows(), nulled + c.nulled_cells());
        }
        out += &piece;
        skipped += c.skipped_rows();
        nulled += c.nulled_cells();
        if !ok {
            break;
        }
        (pos, line) = (pos + len, line + lfs);
    }
    counters(out, skipped, nulled)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `cut_piece` cuts at a record end found by a byte-by-byte parity walk
    /// over the whole input: the last one within `target` bytes when there
    /// is one, and counts the line feeds before it.
    #[test]
    fn cut_piece_cuts_at_the_last_record_end_before_the_target(
        bytes in prop::collection::vec(prop::sample::select(vec![b'a', b',', b'"', b'\n', b'\r']), 0..400),
        target in 1usize..200,
    ) {
        // Record ends by parity (a CR followed by an LF ends at the LF).
        let mut inside = false;
        let mut ends = Vec::new();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'"' {
                inside = !inside;
            }
            let cr_end = b == b'\r' && bytes.get(i + 1).is_some_and(|&n| n != b'\n');
            if !inside && (b == b'\n' || cr_end) {
                ends.push(i + 1);
            }
        }
        let (end, lfs) = cut_piece(&bytes, b'"', target, usize::MAX).unwrap();
        prop_assert_eq!(lfs, bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64);
        if bytes.len() <= target {
            prop_assert_eq!(end, bytes.len());
        } else if let Some(&last) = ends.iter().rev().find(|&&e| e <= target) {
            prop_assert_eq!(end, last);
        } else {
            prop_assert!(end == bytes.len() || ends.contains(&end), "{} not a record end", end);
            prop_assert!(end > target);
        }
    }

    /// The block scan equals a byte-by-byte walk, from either quote state.
    #[test]
    fn scan_boundary_equals_a_parity_walk(
        bytes in prop::collection::vec(prop::sample::select(vec![b'a', b',', b'"', b'\n', b'\r']), 0..300),
        inside in any::<bool>(),
    ) {
        prop_assert_eq!(scan_boundary(&bytes, b'"', inside), boundary_scalar(&bytes, b'"', inside));
    }

    /// Cut into pieces of random sizes and decoded piece by piece, a
    /// document (RFC quoting, stray quotes, blank lines, CR / LF / CRLF,
    /// ragged rows, bad cells, a BOM) gives the tables (one row each, so
    /// their boundaries agree), error and counters of one decoder, under
    /// every policy, with a given or an inferred schema.
    #[test]
    fn pieces_decode_like_one_decoder(
        doc in document(),
        bom in any::<bool>(),
        policy in prop::sample::select(vec![BadRowPolicy::Error, BadRowPolicy::Skip, BadRowPolicy::Null]),
        given in any::<bool>(),
        size in 1usize..80,
    ) {
        let doc = if bom { [&b"\xEF\xBB\xBF"[..], &doc].concat() } else { doc };
        let o = CsvReadOptions {
            schema: given.then(|| schema_of(&[
                ("a", ArrowType::Int64),
                ("b", ArrowType::Float64),
                ("c", ArrowType::String),
            ])),
            infer_rows: 2,
            bad_rows: policy,
            batch_size: 1,
            ..opts()
        };
        prop_assert_eq!(run_chunked(&doc, &o, size), run(&[&doc], &o));
    }
}

#[test]
fn a_stray_quote_is_reported_and_rfc_quotes_are_not() {
    let frozen = |text: &[u8]| {
        let mut d = CsvDecoder::new(opts()).unwrap();
        d.push(text).unwrap();
        d.finish().unwrap();
        d.frozen_schema().unwrap()
    };
    let f = frozen(b"a,b\n1,x\n");
    for (text, stray) in [
        (&b"2,\"q,\"\"r\"\"\n\"\n3,y\r\n"[..], false),
        (b"2,s\"t\n", true),
        (b"2,\"s\"t\n", true),
        (b"2, \"s\"\n", true),
    ] {
        let mut d = CsvDecoder::for_chunk(opts(), &f, 3).unwrap();
        d.push(text).unwrap();
        d.finish().unwrap();
        assert_eq!(
            d.met_stray_quote(),
            stray,
            "{:?}",
            String::from_utf8_lossy(text)
        );
    }
    // The first decoder reports one too (its part is then not cut).
    let mut d = CsvDecoder::new(opts()).unwrap();
    d.push(b"a,b\n1,x\"y\n").unwrap();
    assert!(d.met_stray_quote());
}

#[test]
fn a_chunk_decoder_names_lines_of_the_whole_input_and_keeps_the_column_rules() {
    // Column b saw only nulls during inference: it is a string column in
    // which null tokens stay null, in every chunk decoder too.
    let mut d = CsvDecoder::new(CsvReadOptions {
        infer_rows: 1,
        ..opts()
    })
    .unwrap();
    d.push(b"a,b\n1,NA\n").unwrap();
    let f = d.frozen_schema().unwrap();
    assert_eq!(f.schema().fields[1].dtype, ArrowType::String);
    let mut c = CsvDecoder::for_chunk(opts(), &f, 3).unwrap();
    c.push(b"2,NA\n3,x\n\"4\n\",y\nz,w\n").unwrap_or(());
    let t = c.next_table().unwrap().unwrap();
    assert_eq!(i64s(&t, 0), [Some(2), Some(3)]);
    assert_eq!(strs(&t, 1), [None, s("x")]);
    // The bad int "4\n" starts on line 5 of the whole input.
    let e = c.finish().unwrap_err();
    assert_eq!((e.location().line, e.location().column), (Some(5), Some(1)));
}
