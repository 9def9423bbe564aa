//! Chunk-parallel CSV reading (`lightstream::csv::CsvFileOptions::threads`):
//! a memory-mapped file read on 2 and 3 threads, cut into pieces of a few
//! bytes to a few KiB so that cuts fall everywhere, gives exactly what one
//! thread gives: the values in order, the error (text, line, column) and the
//! bad-row counters; only the table boundaries may differ. Files: RFC 4180
//! quoting (delimiters, quotes and line breaks inside fields), LF, CRLF, CR
//! and mixed terminators, a BOM, stray quotes (which send the rest to one
//! thread), bad rows under each policy, a file smaller than a piece, a record
//! longer than a piece, no header. The RFC files are also read by pyarrow
//! (tests/python/csv_oracle.py `infer`) and must give its values.

use std::path::Path;

use lightstream::csv::{BadRowPolicy, CsvFileOptions, CsvLimits, CsvReadOptions, CsvReader};
use lightstream_core::Schema;
use lightstream_core::minarrow::{ArrowType, Field};
use lightstream_tests::interop::{
    Rng, TempDir, diff_docs, expect_doc, merge_batches, os, read_json, run_python,
};
use serde_json::Value;

/// What a reader gave: all rows as one document, the error, the counters,
/// and how many tables carried them.
#[derive(Debug, PartialEq)]
struct Outcome {
    doc: Value,
    error: Option<String>,
    skipped: u64,
    nulled: u64,
    tables: usize,
}

fn read(path: &Path, options: &CsvReadOptions, threads: usize, piece_bytes: usize) -> Outcome {
    let file = CsvFileOptions {
        threads,
        piece_bytes,
    };
    let mut reader = match CsvReader::open_with(path, options.clone(), file) {
        Ok(r) => r,
        Err(e) => {
            return Outcome {
                doc: Value::Null,
                error: Some(e.to_string()),
                skipped: 0,
                nulled: 0,
                tables: 0,
            };
        }
    };
    let schema: Schema = (**reader.schema()).clone();
    let mut tables = Vec::new();
    let mut error = None;
    for t in reader.by_ref() {
        match t {
            Ok(t) => tables.push(t),
            Err(e) => error = Some(e.to_string()),
        }
    }
    Outcome {
        doc: merge_batches(&expect_doc("csv", &schema, &tables, false).unwrap()),
        error,
        skipped: reader.skipped_rows(),
        nulled: reader.nulled_cells(),
        tables: tables.len(),
    }
}

/// Reads `text` on 1 thread, then on 2 and 3 in pieces of several sizes:
/// all equal but for the number of tables. Returns the 1-thread outcome
/// and the largest number of tables a parallel read gave.
fn agree(dir: &TempDir, name: &str, text: &[u8], options: &CsvReadOptions) -> (Outcome, usize) {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let one = read(&path, options, 1, 1 << 20);
    let mut most = 0;
    for threads in [2, 3] {
        for piece in [1, 7, 64, 300, 4096] {
            let mut got = read(&path, options, threads, piece);
            most = most.max(got.tables);
            got.tables = one.tables;
            assert_eq!(
                got, one,
                "{name}: {threads} threads, pieces of {piece} bytes"
            );
        }
    }
    (one, most)
}

/// Picks a record's terminator.
type Terminator = dyn Fn(&mut Rng) -> &'static str;

/// `rows` records: an int, a float, a string with every kind of quoting,
/// a bool; `term` picks each record's terminator.
fn records(seed: u64, rows: usize, term: &Terminator) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let strings = [
        "plain",
        "\"comma, inside\"",
        "\"quote \"\" inside\"",
        "\"line\nbreak\"",
        "\"crlf\r\nbreak\"",
        "\"cr\rbreak\"",
        "Łódź 日本",
        "\"\"",
        "",
        "\"\n\"",
    ];
    (0..rows)
        .map(|r| {
            let i = if rng.chance(0.1) {
                String::new()
            } else {
                (r as i64 * 7 - 300).to_string()
            };
            let f = format!("{}.{}", rng.below(1000), rng.below(100));
            let s = strings[rng.below(strings.len() as u64) as usize];
            let b = ["true", "false", ""][rng.below(3) as usize];
            format!("{i},{f},{s},{b}{}", term(&mut rng)).into_bytes()
        })
        .collect()
}

/// A header and `records`, after a BOM if asked.
fn document(bom: bool, records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = if bom {
        b"\xEF\xBB\xBF".to_vec()
    } else {
        Vec::new()
    };
    out.extend_from_slice(b"i,f,s,b\n");
    out.extend_from_slice(&records.concat());
    out
}

/// pyarrow reads the file (inferring types) to the same values.
fn assert_pyarrow_agrees(dir: &TempDir, name: &str, ours: &Outcome) {
    let path = dir.path().join(name);
    let doc = dir.path().join(format!("{name}.json"));
    run_python(
        "csv_oracle.py",
        &[os("infer".as_ref()), os(&path), os(&doc)],
    );
    let theirs = merge_batches(&read_json(&doc));
    let diffs = diff_docs(name, &theirs, &ours.doc);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn rfc_files_read_alike_on_every_thread_count_and_like_pyarrow() {
    let dir = TempDir::new("csv-threads-rfc");
    let o = CsvReadOptions {
        infer_rows: 50,
        ..Default::default()
    };
    let cases: [(&str, bool, &Terminator); 4] = [
        ("lf.csv", false, &|_| "\n"),
        ("crlf.csv", true, &|_| "\r\n"),
        ("cr.csv", false, &|_| "\r"),
        ("mixed.csv", true, &|r| {
            ["\n", "\r\n", "\r"][r.below(3) as usize]
        }),
    ];
    for (seed, (name, bom, term)) in cases.into_iter().enumerate() {
        let text = document(bom, &records(seed as u64, 400, term));
        let (one, most) = agree(&dir, name, &text, &o);
        assert_eq!(one.error, None);
        assert_eq!(one.doc["batches"][0]["num_rows"], 400, "{name}");
        // The pieces were parsed apart (more tables than one thread's one).
        assert_eq!(one.tables, 1);
        assert!(most > 10, "{name}: {most} tables");
        assert_pyarrow_agrees(&dir, name, &one);
    }
}

#[test]
fn stray_quotes_send_the_rest_to_one_thread_with_the_same_result() {
    let dir = TempDir::new("csv-threads-stray");
    let o = CsvReadOptions {
        infer_rows: 20,
        ..Default::default()
    };
    let rows = records(7, 200, &|_| "\n");
    // Each stray quote after the inference rows, where pieces are parsed apart.
    for (k, stray) in [
        &b"5,1.5,x\"y,true\n"[..],
        b"5,1.5,\"x\"y,true\n",
        b"5,1.5,\"\n",
    ]
    .into_iter()
    .enumerate()
    {
        let mut text = document(false, &rows[..120]);
        text.extend_from_slice(stray);
        text.extend_from_slice(&rows[120..].concat());
        let (one, most) = agree(&dir, &format!("stray{k}.csv"), &text, &o);
        assert!(most > 1);
        if k < 2 {
            // Read literally, as csv-core and pyarrow read them.
            assert_eq!(one.error, None, "{one:?}");
            assert_eq!(one.doc["batches"][0]["num_rows"], 201);
        }
    }
    // A stray quote that leaves no record boundary by parity for longer
    // than the longest record the limits allow: the rest goes to one
    // thread without waiting for a worker to report it.
    let mut text = document(false, &rows[..120]);
    text.extend_from_slice(b"5,1.5,x\"y,true\n");
    for i in 0..300 {
        text.extend_from_slice(format!("{i},2.5,plain,false\n").as_bytes());
    }
    let small = CsvReadOptions {
        limits: CsvLimits {
            max_row_bytes: 64,
            max_columns: 8,
            ..Default::default()
        },
        ..o.clone()
    };
    let (one, _) = agree(&dir, "stray-long.csv", &text, &small);
    assert_eq!(one.error, None, "{one:?}");
    assert_eq!(one.doc["batches"][0]["num_rows"], 421);
}

#[test]
fn bad_rows_give_the_same_error_and_counters_under_every_policy() {
    let dir = TempDir::new("csv-threads-bad");
    let mut rows = records(11, 300, &|_| "\n");
    rows.insert(250, b"1,2.0,x,true,extra\n".to_vec());
    rows.insert(180, b"1,2.0\n".to_vec());
    rows.insert(100, b"oops,1.0,x,true\n".to_vec());
    let text = document(false, &rows);
    // The physical line of "oops": 1 + the line feeds before it.
    let at = text.windows(4).position(|w| w == b"oops").unwrap();
    let line = 1 + text[..at].iter().filter(|&&b| b == b'\n').count();
    for policy in [BadRowPolicy::Error, BadRowPolicy::Skip, BadRowPolicy::Null] {
        let o = CsvReadOptions {
            infer_rows: 20,
            bad_rows: policy,
            ..Default::default()
        };
        let (one, most) = agree(&dir, &format!("bad-{policy:?}.csv"), &text, &o);
        assert!(most > 1);
        match policy {
            BadRowPolicy::Error => {
                let e = one.error.expect("an error");
                assert!(e.contains(&format!("line {line}, column 1")), "{e}");
                // Every row before the bad one was delivered.
                assert_eq!(one.doc["batches"][0]["num_rows"], 100);
            }
            BadRowPolicy::Skip => {
                assert_eq!(one.error, None);
                assert_eq!((one.skipped, one.nulled), (3, 0));
            }
            BadRowPolicy::Null => {
                // The extra field is still an error; "oops" and two padded cells are nulls.
                assert!(one.error.is_some());
                assert_eq!((one.skipped, one.nulled), (0, 3));
            }
        }
    }
}

#[test]
fn small_files_long_records_and_no_header_read_alike() {
    let dir = TempDir::new("csv-threads-small");
    let o = CsvReadOptions::default();
    // Smaller than one piece, a header alone, nothing at all.
    let (one, _) = agree(&dir, "small.csv", b"a,b\n1,x\n2,\"y\nz\"\n", &o);
    assert_eq!(one.doc["batches"][0]["num_rows"], 2);
    let (one, _) = agree(&dir, "header.csv", b"a,b\n", &o);
    assert_eq!(one.error, None);
    let (one, _) = agree(&dir, "empty.csv", b"", &o);
    assert_eq!(one.error, None);
    // A record longer than a piece: a 10 KB quoted field of many lines.
    let long = format!("\"{}\"", "ab,\"\"\n".repeat(2000));
    let mut text = b"a,b\n".to_vec();
    for i in 0..50 {
        let s = if i == 25 { long.as_str() } else { "x" };
        text.extend_from_slice(format!("{i},{s}\n").as_bytes());
    }
    let o2 = CsvReadOptions {
        infer_rows: 5,
        ..Default::default()
    };
    let (one, most) = agree(&dir, "long.csv", &text, &o2);
    assert_eq!(one.error, None);
    assert_eq!(one.doc["batches"][0]["num_rows"], 50);
    assert!(most > 1);
    // No header, a given schema: the first piece still goes through the
    // first decoder (which strips the BOM).
    let schema = Schema::new(
        vec![
            std::sync::Arc::new(Field::new("n", ArrowType::Int64, true, None)),
            std::sync::Arc::new(Field::new("s", ArrowType::String, true, None)),
        ],
        Default::default(),
    );
    let mut text = b"\xEF\xBB\xBF".to_vec();
    for i in 0..200 {
        text.extend_from_slice(format!("{i},\"v{i}\"\r\n").as_bytes());
    }
    let given = CsvReadOptions {
        has_header: false,
        schema: Some(schema),
        ..Default::default()
    };
    let (one, most) = agree(&dir, "noheader.csv", &text, &given);
    assert_eq!(one.error, None);
    assert_eq!(one.doc["batches"][0]["columns"][0]["values"][0], "0");
    assert!(most > 1);
}
