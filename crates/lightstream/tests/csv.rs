//! The native CSV reader and writer on real files: a round trip, a file of
//! many batches read with a bounded number of rows per table, and errors that
//! name the file and line.

#![cfg(feature = "csv")]

use std::path::PathBuf;
use std::sync::Arc;

use lightstream::csv::{BadRowPolicy, CsvReadOptions, CsvReader, CsvWriteOptions, CsvWriter};
use lightstream::minarrow::{Array, ArrowType, NumericArray, Table, TextArray};
use lightstream::{Error, Schema};

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lightstream-csv-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn ints(t: &Table, c: usize) -> Vec<Option<i64>> {
    let Array::NumericArray(NumericArray::Int64(a)) = &t.cols[c].array else {
        panic!("not int64")
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

fn strings(t: &Table, c: usize) -> Vec<String> {
    let Array::TextArray(TextArray::String32(a)) = &t.cols[c].array else {
        panic!("not string")
    };
    (0..t.n_rows)
        .map(|i| {
            String::from_utf8(a.data[a.offsets[i] as usize..a.offsets[i + 1] as usize].to_vec())
                .unwrap()
        })
        .collect()
}

#[test]
fn file_round_trip() {
    let src = temp_path("round_trip_in.csv");
    std::fs::write(
        &src,
        "id,name,score\n1,\"Smith, J\",2.5\n2,\"say \"\"x\"\"\",\n3,Łódź,-1e-7\n",
    )
    .unwrap();
    let reader = CsvReader::open(&src, CsvReadOptions::default()).unwrap();
    let schema: Arc<Schema> = reader.schema().clone();
    assert_eq!(schema.fields[0].dtype, ArrowType::Int64);
    assert_eq!(schema.fields[2].dtype, ArrowType::Float64);
    let tables: Vec<Table> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(tables.len(), 1);
    assert_eq!(
        strings(&tables[0], 1),
        vec!["Smith, J", "say \"x\"", "Łódź"]
    );

    let dst = temp_path("round_trip_out.csv");
    let mut w = CsvWriter::create(&dst, &schema, CsvWriteOptions::default()).unwrap();
    for t in &tables {
        w.write(t).unwrap();
    }
    w.finish().unwrap();
    assert_eq!(
        std::fs::read_to_string(&dst).unwrap(),
        "id,name,score\n1,\"Smith, J\",2.5\n2,\"say \"\"x\"\"\",\n3,Łódź,-1e-7\n"
    );
    let again: Vec<Table> = CsvReader::open(&dst, CsvReadOptions::default())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(again, tables);
}

#[test]
fn large_file_in_bounded_batches() {
    let path = temp_path("large.csv");
    let mut text = String::from("n,label\n");
    let rows = 250_000;
    for i in 0..rows {
        text.push_str(&format!("{i},row number {i}\n"));
    }
    std::fs::write(&path, &text).unwrap();
    let options = CsvReadOptions {
        batch_size: 10_000,
        ..CsvReadOptions::default()
    };
    let reader = CsvReader::open(&path, options).unwrap();
    let mut seen = 0i64;
    let mut tables = 0;
    for t in reader {
        let t = t.unwrap();
        assert!(t.n_rows <= 10_000);
        let n = ints(&t, 0);
        assert_eq!(n.first().copied().flatten(), Some(seen));
        seen += t.n_rows as i64;
        assert_eq!(n.last().copied().flatten(), Some(seen - 1));
        tables += 1;
    }
    assert_eq!(seen, rows);
    assert_eq!(tables, 25);
}

#[test]
fn errors_name_the_file_and_line() {
    let path = temp_path("bad.csv");
    let mut text = String::from("a,b\n");
    for i in 0..20_000 {
        text.push_str(&format!("{i},{i}\n"));
    }
    text.push_str("oops,1\n");
    std::fs::write(&path, &text).unwrap();
    let options = CsvReadOptions {
        infer_rows: 100,
        batch_size: 5_000,
        ..CsvReadOptions::default()
    };
    let mut good_rows = 0;
    let mut error = None;
    for t in CsvReader::open(&path, options.clone()).unwrap() {
        match t {
            Ok(t) => good_rows += t.n_rows,
            Err(e) => error = Some(e),
        }
    }
    // Every row before the bad one is delivered, then the error.
    assert_eq!(good_rows, 20_000);
    let e = error.expect("an error");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!(
            "{}: column \"a\": cannot read \"oops\" as int64 [line 20002, column 1, field \"a\" (int64)]",
            path.display()
        )),
        "{msg}"
    );
    let loc = e.as_codec().expect("a codec error").location();
    assert_eq!((loc.line, loc.column), (Some(20002), Some(1)));
    assert_eq!(
        e.codec_kind(),
        Some(lightstream::lightstream_core::ErrorKind::InvalidData)
    );

    // Skip counts what it drops.
    let skip = CsvReadOptions {
        bad_rows: BadRowPolicy::Skip,
        ..options
    };
    let mut r = CsvReader::open(&path, skip).unwrap();
    let rows: usize = r.by_ref().map(|t| t.unwrap().n_rows).sum();
    assert_eq!(rows, 20_000);
    assert_eq!(r.skipped_rows(), 1);

    let missing = temp_path("does-not-exist.csv");
    let e = CsvReader::open(&missing, CsvReadOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
    assert!(e.to_string().contains("does-not-exist.csv"), "{e}");

    let open_quote = temp_path("open_quote.csv");
    std::fs::write(&open_quote, "a\n\"never closed\n").unwrap();
    let err = CsvReader::open(&open_quote, CsvReadOptions::default())
        .and_then(|r| r.collect::<Result<Vec<_>, _>>())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("open_quote.csv: column \"a\": quoted field is not closed"),
        "{err}"
    );
    assert!(err.to_string().contains("[line 2, column 1, "), "{err}");
}
