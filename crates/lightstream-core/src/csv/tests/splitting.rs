//! Record splitting at every chunking: random documents against csv-core,
//! queued rows rolled back alike in place and copied, characters split
//! across fields.

use super::*;

/// Random documents (quoted and unquoted fields, doubled quotes, delimiters,
/// CR / LF / CRLF inside quotes and as terminators, blank lines, non-ASCII
/// text) read in random chunks give exactly the fields written (an empty
/// unquoted field null, a quoted one the empty string, so every path must
/// know which fields were quoted), and a bad cell reports the line csv-core
/// would count.
#[test]
fn random_documents_split_like_csv_core() {
    let mut x: u64 = 0x1234_5678_9ABC_DEF1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let alphabet: [&str; 9] = ["a", "b", ",", "\"", "\n", "\r", "é", " ", "7"];
    let schema = Schema::new(
        (0..3)
            .map(|i| Arc::new(Field::new(format!("f{i}"), ArrowType::String, true, None)))
            .collect(),
        Default::default(),
    );
    for doc in 0..300 {
        let mut text = Vec::new();
        let mut want: Vec<Vec<Option<String>>> = Vec::new();
        let mut lines = Vec::new();
        for _ in 0..next(40) + 1 {
            if next(8) == 0 {
                text.extend_from_slice(if next(2) == 0 { b"\n" } else { b"\r\n" });
            }
            // The line a row starts on: csv-core counts line feeds.
            lines.push(1 + text.iter().filter(|&&b| b == b'\n').count() as u64);
            let mut row = Vec::new();
            for c in 0..3 {
                let len = next(if doc % 2 == 0 { 4 } else { 12 });
                let mut f = String::new();
                for _ in 0..len {
                    // Mostly plain text, so both paths are exercised.
                    let k = if next(3) == 0 { next(9) } else { next(2) };
                    f.push_str(alphabet[k as usize]);
                }
                if c > 0 {
                    text.push(b',');
                }
                let special = f.contains([',', '"', '\n', '\r']);
                if special || next(10) == 0 || (f.is_empty() && next(2) == 0) {
                    text.push(b'"');
                    text.extend_from_slice(f.replace('"', "\"\"").as_bytes());
                    text.push(b'"');
                    row.push(Some(f));
                } else {
                    text.extend_from_slice(f.as_bytes());
                    row.push((!f.is_empty()).then_some(f));
                }
            }
            match next(3) {
                0 => text.extend_from_slice(b"\r\n"),
                1 => text.push(b'\r'),
                _ => text.push(b'\n'),
            }
            want.push(row);
        }
        let o = CsvReadOptions {
            has_header: false,
            schema: Some(schema.clone()),
            ..opts()
        };
        // Whole, then in random pieces.
        let mut cuts = vec![0, text.len()];
        for _ in 0..next(6) {
            cuts.push(next(text.len() as u64 + 1) as usize);
        }
        cuts.sort();
        let pieces: Vec<&[u8]> = cuts.windows(2).map(|w| &text[w[0]..w[1]]).collect();
        for p in [vec![&text[..]], pieces] {
            let (_, tables, _) = decode_pieces(&p, o.clone()).unwrap();
            let mut got: Vec<Vec<Option<String>>> = Vec::new();
            for t in &tables {
                let cols: Vec<_> = (0..3).map(|c| strs(t, c)).collect();
                for r in 0..t.n_rows {
                    got.push(cols.iter().map(|c| c[r].clone()).collect());
                }
            }
            assert_eq!(
                got,
                want,
                "document {doc}: {:?}",
                String::from_utf8_lossy(&text)
            );
        }
        // Line numbers: make the last row's first field a bad int.
        let bad: Vec<u8> = [&text[..], b"x,y,z\n"].concat();
        let int_schema = schema_of(&[
            ("f0", ArrowType::Int64),
            ("f1", ArrowType::String),
            ("f2", ArrowType::String),
        ]);
        let o = CsvReadOptions {
            has_header: false,
            schema: Some(int_schema),
            ..opts()
        };
        let e = decode_pieces(&[&bad], o).unwrap_err();
        // An empty first field, quoted or not, is a null int (a null token).
        let expected = match want.iter().position(|r| {
            let f = r[0].as_deref().unwrap_or("");
            !f.is_empty() && super::text::parse_i64(f.as_bytes()).is_none()
        }) {
            Some(row) => lines[row],
            None => bad.iter().filter(|&&b| b == b'\n').count() as u64,
        };
        assert_eq!(e.location().line, Some(expected), "document {doc}: {e}");
        assert_eq!(e.location().column, Some(1));
        // A ragged last row: its line counts every line feed before it,
        // quoted ones included.
        let ragged: Vec<u8> = [&text[..], b"a,b,c,d\n"].concat();
        let o = CsvReadOptions {
            has_header: false,
            schema: Some(schema.clone()),
            ..opts()
        };
        let e = decode_pieces(
            &[&ragged[..ragged.len() / 2], &ragged[ragged.len() / 2..]],
            o,
        )
        .unwrap_err();
        let expected = ragged.iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(e.location().line, Some(expected), "document {doc}: {e}");
        assert_eq!(e.location().column, Some(4));
    }
}

#[test]
fn queued_rows_in_place_and_copied_roll_back_alike_at_every_split() {
    // In-place rows, simply quoted rows (copied) and a bad cell in one batch:
    // the rollback rebuilds each row from the chunk or from the copy.
    let input = b"a,b,c\n1,2.5,x\n2,\"3\",\"y,z\"\n3,bad,w\n\"4\",4.5,v\n5,5e1,\"u\"\n";
    let schema = Schema::new(
        vec![
            Arc::new(Field::new("a", ArrowType::Int64, true, None)),
            Arc::new(Field::new("b", ArrowType::Float64, true, None)),
            Arc::new(Field::new("c", ArrowType::String, true, None)),
        ],
        Default::default(),
    );
    for policy in [BadRowPolicy::Skip, BadRowPolicy::Null, BadRowPolicy::Error] {
        let o = CsvReadOptions {
            schema: Some(schema.clone()),
            bad_rows: policy,
            ..opts()
        };
        let r = decode_all_splits(input, o);
        match policy {
            BadRowPolicy::Error => {
                let e = r.unwrap_err();
                assert_eq!((e.location().line, e.location().column), (Some(4), Some(2)));
            }
            _ => {
                let (_, t) = r.unwrap();
                let b: Vec<_> = t.iter().flat_map(|t| f64s(t, 1)).collect();
                let c: Vec<_> = t.iter().flat_map(|t| strs(t, 2)).collect();
                if policy == BadRowPolicy::Skip {
                    assert_eq!(b, vec![Some(2.5), Some(3.0), Some(4.5), Some(50.0)]);
                    assert_eq!(c, vec![s("x"), s("y,z"), s("v"), s("u")]);
                } else {
                    assert_eq!(b, vec![Some(2.5), Some(3.0), None, Some(4.5), Some(50.0)]);
                    assert_eq!(c, vec![s("x"), s("y,z"), s("w"), s("v"), s("u")]);
                }
            }
        }
    }
}

/// Fuzz regression (crates/fuzz `csv`, minimised input `00 00 00 2c 0a c3 2c bc`):
/// the record `\xc3,\xbc` is valid UTF-8 once its fields are joined back to
/// back ("ü"), but each field alone is not. UTF-8 was checked once per record
/// on the joined fields, so both string cells were accepted and the table held
/// invalid UTF-8. Every field must be valid on its own, in every path (in place,
/// csv-core, quoted, a delimiter byte above 0x7f) and under every policy.
#[test]
fn a_character_split_across_fields_is_invalid_utf8() {
    for input in [
        &b",\n\xc3,\xbc"[..],
        b",\n\xc3,\xbc\n",
        b"a,b\n\"\xc3\",\"\xbc\"\n",
        b"a,b\nx,y\n\xc3,\xbc\nz,w\n",
    ] {
        let e = err(input, opts());
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{input:?}: {e}");
        assert!(e.to_string().contains("UTF-8"), "{input:?}: {e}");
        // Nulled or skipped, never kept.
        for policy in [BadRowPolicy::Null, BadRowPolicy::Skip] {
            let o = CsvReadOptions {
                bad_rows: policy,
                ..opts()
            };
            let (_, tables) = decode_all_splits(input, o).unwrap();
            for t in &tables {
                for c in 0..t.cols.len() {
                    if !matches!(t.cols[c].array, Array::TextArray(TextArray::String32(_))) {
                        continue;
                    }
                    // `strs` fails on invalid UTF-8.
                    for v in strs(t, c).into_iter().flatten() {
                        assert!(!v.contains('\u{fffd}'), "{input:?}: {v:?}");
                    }
                }
            }
        }
    }
    // A delimiter byte that is a UTF-8 continuation byte splits "ü" (c3 bc).
    let o = CsvReadOptions {
        delimiter: 0xbc,
        has_header: false,
        ..opts()
    };
    let e = err(b"a\xc3\xbcb\n", o);
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
}

/// The block splitter against csv-core, whole decoder: a document pushed
/// whole goes through the in-place block path for every record it can take;
/// pushed a byte at a time, every record is cut by a chunk end and goes
/// through csv-core. Both (and random chunkings) must give the same tables,
/// error (kind, line, column, text), skipped and nulled counters, under
/// every policy: over quoted, doubled-quote, stray-quote and ragged records,
/// CR / LF / CRLF, blank lines, bad cells, a custom delimiter and quote, and
/// batches cut mid-chunk.
pub(super) mod blocks_against_csv_core {
    use super::*;
    use proptest::prelude::*;

    /// Pushes `pieces` into `d` and finishes it, writing its tables in order
    /// and then its error (if any) into `out`; returns whether it succeeded.
    pub(in super::super) fn drive(d: &mut CsvDecoder, pieces: &[&[u8]], out: &mut String) -> bool {
        // Tables in order, then the error (if any), which ends the input.
        let mut step = |d: &mut CsvDecoder, r: Result<()>| -> bool {
            while let Ok(Some(t)) = d.next_table() {
                *out += &format!("{t:?}\n");
            }
            if let Err(e) = &r {
                *out += &format!("error {:?} {:?} {e}\n", e.kind(), e.location());
            }
            r.is_ok()
        };
        for p in pieces {
            let r = d.push(p);
            if !step(d, r) {
                return false;
            }
        }
        let r = d.finish();
        step(d, r)
    }

    pub(in super::super) fn run(pieces: &[&[u8]], o: &CsvReadOptions) -> String {
        let mut d = match CsvDecoder::new(o.clone()) {
            Ok(d) => d,
            Err(e) => return format!("new: {e:?}"),
        };
        let mut out = String::new();
        drive(&mut d, pieces, &mut out);
        format!(
            "{out}skipped {} nulled {}",
            d.skipped_rows(),
            d.nulled_cells()
        )
    }

    pub(in super::super) fn document() -> impl Strategy<Value = Vec<u8>> {
        let field = prop::sample::select(vec![
            "1",
            "-7",
            "2.5",
            "x",
            "",
            "\"\"",
            "\"q,\"",
            "\"a\nb\"",
            "\"d\"\"q\"",
            "s\"t",
            "\"c\"x",
            "NA",
            "é",
            "\"\r\"",
            "1e3",
        ]);
        // Mostly the right number of fields, so that runs of rows go in place.
        let rec = prop_oneof![
            4 => prop::collection::vec(field.clone(), 3..=3),
            1 => prop::collection::vec(field, 1..5),
        ];
        let term = prop::sample::select(vec!["\n", "\r\n", "\r", "\n\n"]);
        prop::collection::vec((rec, term), 0..40).prop_map(|recs| {
            let mut doc = b"a,b,c\n".to_vec();
            for (fields, t) in recs {
                doc.extend_from_slice(fields.join(",").as_bytes());
                doc.extend_from_slice(t.as_bytes());
            }
            doc
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn whole_and_cut_and_bytewise_agree(
            doc in document(),
            policy in prop::sample::select(vec![BadRowPolicy::Error, BadRowPolicy::Skip, BadRowPolicy::Null]),
            given in any::<bool>(),
            semicolons in any::<bool>(),
            batch_size in prop::sample::select(vec![1usize, 3, 65_536]),
            cuts in prop::collection::vec(0usize..400, 0..4),
        ) {
            // The same document with `;` and `'` for delimiter and quote.
            let doc: Vec<u8> = if semicolons {
                doc.iter().map(|&b| match b { b',' => b';', b'"' => b'\'', b => b }).collect()
            } else {
                doc
            };
            let schema = schema_of(&[
                ("a", ArrowType::Int64),
                ("b", ArrowType::Float64),
                ("c", ArrowType::String),
            ]);
            let o = CsvReadOptions {
                delimiter: if semicolons { b';' } else { b',' },
                quote: if semicolons { b'\'' } else { b'"' },
                schema: given.then_some(schema),
                infer_rows: 2,
                bad_rows: policy,
                batch_size,
                ..opts()
            };
            let whole = run(&[&doc], &o);
            let bytes: Vec<&[u8]> = doc.chunks(1).collect();
            prop_assert_eq!(&run(&bytes, &o), &whole);
            let mut at: Vec<usize> = cuts.iter().map(|&c| c.min(doc.len())).collect();
            at.push(0);
            at.push(doc.len());
            at.sort_unstable();
            let pieces: Vec<&[u8]> = at.windows(2).map(|w| &doc[w[0]..w[1]]).collect();
            prop_assert_eq!(&run(&pieces, &o), &whole);
        }
    }
}

/// Field and row limits on records the block path would take (schema given,
/// so every record after the header is split in place): a record longer than
/// the field limit goes to csv-core, which reports only a field over it.
#[test]
fn limits_hold_on_rows_split_in_place() {
    let o = |field: usize, row: usize| {
        let mut o = CsvReadOptions {
            schema: Some(schema_of(&[
                ("a", ArrowType::Int64),
                ("b", ArrowType::String),
            ])),
            ..opts()
        };
        (o.limits.max_field_bytes, o.limits.max_row_bytes) = (field, row);
        o
    };
    // Each field within 4 bytes, the records 8: fine.
    let (_, t) = one_table(b"a,b\n1234,abcd\n5,\"wxyz\"\n", o(4, 100));
    assert_eq!(strs(&t, 1), vec![s("abcd"), s("wxyz")]);
    for (input, line) in [
        (&b"a,b\n1,ab\n2,cd\n3,12345\n"[..], 4),
        (b"a,b\n1,ab\n2,\"1\n345\"\n", 3),
    ] {
        let e = err(input, o(4, 100));
        assert_eq!(e.kind(), ErrorKind::LimitExceeded, "{e}");
        assert!(
            e.message().starts_with("column \"b\": field is 5 bytes"),
            "{e}"
        );
        assert_eq!(
            (e.location().line, e.location().column),
            (Some(line), Some(2))
        );
    }
    let e = err(b"a,b\n1,ab\n2,cdef\n", o(100, 4));
    assert_eq!(e.kind(), ErrorKind::LimitExceeded, "{e}");
    assert!(e.message().contains("max_row_bytes"), "{e}");
    assert_eq!(e.location().line, Some(3));
}

/// Line feeds inside a quoted field count toward the lines of later records
/// wherever the block edges fall, also when the record that holds them ends
/// in a block with no quote (the splitter's short loop): a ragged record
/// after it is reported on its own line. (The short loop once dropped them.)
#[test]
fn line_feeds_inside_quotes_count_at_every_block_edge() {
    let schema = schema_of(&[
        ("a", ArrowType::Int64),
        ("b", ArrowType::String),
        ("c", ArrowType::String),
    ]);
    for shift in 0..64 {
        // Header, a row that moves the block edges, a row with two quoted
        // line feeds whose record ends 70 bytes after its closing quote, a
        // plain row, and a ragged one on line 7.
        let doc = format!(
            "a,b,c\n0,{},c\n1,\"x\ny\nz\",{}\n2,p,q\n3,r,s,t\n",
            "w".repeat(shift),
            "v".repeat(70)
        );
        let o = CsvReadOptions {
            schema: Some(schema.clone()),
            ..opts()
        };
        let e = decode_pieces(&[doc.as_bytes()], o).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData, "shift {shift}: {e}");
        assert_eq!(
            (e.location().line, e.location().column),
            (Some(7), Some(4)),
            "shift {shift}: {e}"
        );
    }
}
