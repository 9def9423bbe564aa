//! CSV encoding: what the writer quotes and refuses, and writer -> reader
//! round trips.

use super::*;

/// Random string columns with nulls, empty strings, null tokens and text
/// needing quotes, written by our writer and read back: the same values, for
/// one column and two, with LF and CRLF, the default and a token null text.
#[test]
fn writer_and_reader_round_trip_nulls_and_empty_strings() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let pool = [
        "", "a", "NA", "null", " ", "x,y", "q\"", "l\nf", "c\r", "\"\"",
    ];
    for doc in 0..40 {
        let ncols = 1 + (doc % 2);
        let rows = 1 + next(12) as usize;
        let cols: Vec<Vec<Option<&str>>> = (0..ncols)
            .map(|_| {
                (0..rows)
                    .map(|_| match next(4) {
                        0 => None,
                        _ => Some(pool[next(pool.len() as u64) as usize]),
                    })
                    .collect()
            })
            .collect();
        let schema = Schema::new(
            (0..ncols)
                .map(|c| Arc::new(Field::new(format!("c{c}"), ArrowType::String, true, None)))
                .collect(),
            Default::default(),
        );
        let table = Table {
            cols: cols
                .iter()
                .zip(&schema.fields)
                .map(|(v, f)| {
                    let valid: Vec<bool> = v.iter().map(Option::is_some).collect();
                    let a = minarrow::StringArray::<u32>::from_vec(
                        v.iter().map(|x| x.unwrap_or("")).collect(),
                        Some(minarrow::Bitmask::from_bools(&valid)),
                    );
                    minarrow::FieldArray::new_arc(
                        f.clone(),
                        Array::TextArray(TextArray::String32(Arc::new(a))),
                    )
                })
                .collect(),
            n_rows: rows,
            name: String::new(),
            metadata: Default::default(),
        };
        // A null written as a token reads back with strings_can_be_null;
        // strings equal to a token (`NA`, `null`) are quoted, so stay text.
        let (null, strings_can_be_null) = if doc % 4 >= 2 {
            ("NA".to_string(), true)
        } else {
            (String::new(), false)
        };
        let w = CsvWriteOptions {
            null,
            crlf: doc % 3 == 0,
            ..CsvWriteOptions::default()
        };
        let text = write_csv(&schema, std::slice::from_ref(&table), &w).unwrap();
        let o = CsvReadOptions {
            schema: Some(schema.clone()),
            strings_can_be_null,
            ..opts()
        };
        let (_, back) = decode_all_splits(&text, o).unwrap();
        let got: Vec<Vec<Option<String>>> = (0..ncols)
            .map(|c| back.iter().flat_map(|t| strs(t, c)).collect())
            .collect();
        let want: Vec<Vec<Option<String>>> = cols
            .iter()
            .map(|v| v.iter().map(|x| x.map(str::to_string)).collect())
            .collect();
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&text));
    }
}

#[test]
fn writer_round_trips_and_quotes() {
    let schema = Schema::new(
        vec![
            Arc::new(Field::new("i", ArrowType::Int64, true, None)),
            Arc::new(Field::new("s", ArrowType::String, true, None)),
            Arc::new(Field::new("f", ArrowType::Float64, true, None)),
            Arc::new(Field::new("b", ArrowType::Boolean, true, None)),
            Arc::new(Field::new(
                "ts",
                ArrowType::Timestamp(TimeUnit::Nanoseconds, Some("UTC".into())),
                true,
                None,
            )),
        ],
        Default::default(),
    );
    let input = "i,s,f,b,ts\n1,\"a,b\",1e300,true,1969-12-31T23:59:59.999999999Z\n,\"q\"\"uote\",-0.1,,\n3,\"two\nlines\",inf,false,2020-01-01T00:00:00Z\n";
    let o = CsvReadOptions {
        schema: Some(schema.clone()),
        ..opts()
    };
    let (_, t) = one_table(input.as_bytes(), o.clone());
    let written = write_csv(
        &schema,
        &[t.clone(), t.clone()],
        &CsvWriteOptions::default(),
    )
    .unwrap();
    let expected_rows = "1,\"a,b\",1e300,true,1969-12-31T23:59:59.999999999Z\n,\"q\"\"uote\",-0.1,,\n3,\"two\nlines\",inf,false,2020-01-01T00:00:00Z\n";
    assert_eq!(
        String::from_utf8(written.clone()).unwrap(),
        format!("i,s,f,b,ts\n{expected_rows}{expected_rows}")
    );
    let (_, back) = read_csv(&written, o).unwrap();
    assert_eq!(back[0].n_rows, 6);
    assert_eq!(
        i64s(&back[0], 0),
        vec![Some(1), None, Some(3), Some(1), None, Some(3)]
    );
    let o = CsvWriteOptions {
        delimiter: b';',
        header: false,
        null: "NA".into(),
        crlf: true,
        ..CsvWriteOptions::default()
    };
    let w = write_csv(&schema, &[t], &o).unwrap();
    assert!(
        String::from_utf8(w)
            .unwrap()
            .starts_with("1;a,b;1e300;true;")
    );
}

#[test]
fn writer_single_column_nulls_and_refusals() {
    let schema = Schema::new(
        vec![Arc::new(Field::new("x", ArrowType::Float64, true, None))],
        Default::default(),
    );
    let o = CsvReadOptions {
        schema: Some(schema.clone()),
        ..opts()
    };
    // An empty line is a null row, and so is `""` (a null token, quoted).
    let (_, t) = one_table(b"x\n1.5\n\n\"\"\n", o.clone());
    assert_eq!(f64s(&t, 0), vec![Some(1.5), None, None]);
    // A null is written as an empty line (as pyarrow and Polars do) and read back.
    let w = write_csv(
        &schema,
        std::slice::from_ref(&t),
        &CsvWriteOptions::default(),
    )
    .unwrap();
    assert_eq!(w, b"x\n1.5\n\n\n");
    let (_, back) = one_table(&w, o.clone());
    assert_eq!(back, t);
    let bad = Schema::new(
        vec![Arc::new(Field::new(
            "iv",
            ArrowType::Interval(minarrow::IntervalUnit::YearMonth),
            true,
            None,
        ))],
        Default::default(),
    );
    let e = CsvEncoder::new(&bad, CsvWriteOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    // A table whose column does not match the schema is refused.
    let mut enc = CsvEncoder::new(&schema, CsvWriteOptions::default()).unwrap();
    let wrong = minarrow::tbl!("t", minarrow::fa_i64!("x", 1));
    let e = enc.encode_table(&wrong, &mut Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Schema);
}

/// Fuzz regression (crates/fuzz `csv`, round trip): an input starting with two
/// byte order marks reads as a first column named "\u{feff}..." (the first BOM
/// is dropped, the second is text). Two bugs: (1) pushed whole, csv-core dropped
/// the second BOM too (it strips one at the start of its first input, after the
/// tokenizer had stripped the first), so the name depended on the chunking;
/// (2) written back unquoted, the name became the document's leading BOM and was
/// dropped on reading, so the header no longer matched the schema. The writer
/// now quotes a document's first field when it starts with a BOM, header name
/// or (without a header) first cell.
#[test]
fn a_leading_byte_order_mark_in_the_first_field_survives_a_round_trip() {
    let (schema, tables) =
        decode_all_splits(b"\xef\xbb\xbf\xef\xbb\xbfa,b\n1,2\n", opts()).unwrap();
    assert_eq!(schema.fields[0].name, "\u{feff}a");
    let text = write_csv(&schema, &tables, &CsvWriteOptions::default()).unwrap();
    assert_eq!(text, b"\"\xef\xbb\xbfa\",b\n1,2\n");
    let again = CsvReadOptions {
        schema: Some((*schema).clone()),
        ..opts()
    };
    let (schema2, _) = read_csv(&text, again).unwrap();
    assert_eq!(schema2.fields[0].name, "\u{feff}a");

    // Without a header: the first cell of the first row.
    let headerless = CsvReadOptions {
        has_header: false,
        ..opts()
    };
    let (schema, tables) =
        decode_all_splits(b"\xef\xbb\xbf\xef\xbb\xbfx,1\ny,2\n", headerless.clone()).unwrap();
    let write = CsvWriteOptions {
        header: false,
        ..CsvWriteOptions::default()
    };
    let text = write_csv(&schema, &tables, &write).unwrap();
    assert_eq!(text, b"\"\xef\xbb\xbfx\",1\ny,2\n");
    let (_, back) = read_csv(&text, headerless).unwrap();
    assert_eq!(strs(&back[0], 0), vec![s("\u{feff}x"), s("y")]);
}
