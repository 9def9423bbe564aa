//! End-to-end tests of the file formats of the `lightstream` binary: `convert`
//! in every direction between Arrow IPC file and stream, CSV and Parquet, and
//! `schema` and `cat` on each, with the errors a user sees for bad input and
//! bad option combinations, and the memory bound of a streaming convert.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::{decode_file, decode_stream, lightstream, run, run_in};
use lightstream_core::minarrow::{Array, Table, TextArray};

/// A fresh, empty directory for one test.
fn test_dir(name: &str) -> PathBuf {
    common::test_dir("lightstream-cli-files", name)
}

fn text(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).expect("read text output")
}

#[test]
fn convert_between_all_four_formats() {
    let dir = test_dir("all-four");
    run(&dir, &["example", "orig.arrow", "--rows", "1000"]).assert_success();
    let original_cat = run(&dir, &["cat", "orig.arrow"])
        .assert_success()
        .stdout_text();
    assert_eq!(original_cat.lines().count(), 2 + 1000);

    // Arrow -> Parquet -> Arrow: every value and type comes back (ARROW:schema).
    run(&dir, &["convert", "orig.arrow", "data.parquet"]).assert_success();
    assert_eq!(&fs::read(dir.join("data.parquet")).unwrap()[..4], b"PAR1");
    run(&dir, &["convert", "data.parquet", "back.arrow"]).assert_success();
    let back = decode_file(&dir.join("back.arrow"));
    assert_eq!(back.iter().map(|t| t.n_rows).sum::<usize>(), 1000);
    let original = decode_file(&dir.join("orig.arrow"));
    for (i, (a, b)) in original[0].cols.iter().zip(&back[0].cols).enumerate() {
        assert_eq!(a.field.dtype, b.field.dtype, "column {i} type");
        assert_eq!(a.field.name, b.field.name, "column {i} name");
    }
    let cat_back = run(&dir, &["cat", "back.arrow"])
        .assert_success()
        .stdout_text();
    assert_eq!(cat_back, original_cat);
    // `cat` reads the Parquet file itself, the same rows.
    let cat_parquet = run(&dir, &["cat", "data.parquet"])
        .assert_success()
        .stdout_text();
    assert_eq!(cat_parquet, original_cat);

    // Arrow -> CSV, then CSV -> Arrow stream -> CSV gives the same values: CSV
    // keeps every value it can spell. (Timestamps read back from CSV with a
    // fraction are nanoseconds, as pyarrow infers them: more digits, same instant.)
    run(&dir, &["convert", "orig.arrow", "a.csv"]).assert_success();
    let csv = text(&dir, "a.csv");
    assert_eq!(csv.lines().count(), 1 + 1000);
    assert!(
        csv.starts_with("id,name,city,price,"),
        "header: {:?}",
        csv.lines().next()
    );
    assert_eq!(
        csv.lines().nth(1),
        Some("1,Ken Johnson,Santiago,,268,true,2024-01-01T00:42:36.367Z,2024-01-01")
    );
    run(&dir, &["convert", "a.csv", "b.arrows"]).assert_success();
    run(&dir, &["convert", "b.arrows", "b.csv"]).assert_success();
    let b = text(&dir, "b.csv");
    assert_same_text(
        &b,
        &nanosecond_fractions(&csv),
        "a.csv -> b.arrows -> b.csv",
    );
    let csv = b;
    // CSV -> Parquet -> CSV too.
    run(&dir, &["convert", "a.csv", "c.parquet"]).assert_success();
    run(&dir, &["convert", "c.parquet", "c.csv"]).assert_success();
    assert_same_text(&text(&dir, "c.csv"), &csv, "a.csv -> c.parquet -> c.csv");
    // Parquet -> CSV equals Arrow -> CSV.
    run(&dir, &["convert", "data.parquet", "d.csv"]).assert_success();
    assert_same_text(
        &nanosecond_fractions(&text(&dir, "d.csv")),
        &csv,
        "data.parquet -> d.csv",
    );
    // .tsv: tab separated, read back with the delimiter the extension implies.
    run(&dir, &["convert", "orig.arrow", "e.tsv"]).assert_success();
    let tsv = text(&dir, "e.tsv");
    assert!(tsv.lines().next().unwrap().starts_with("id\tname\tcity\t"));
    run(&dir, &["convert", "e.tsv", "e.csv"]).assert_success();
    assert_same_text(&text(&dir, "e.csv"), &csv, "e.tsv -> e.csv");
}

/// Compares two texts line by line; a failure shows the first differing line,
/// not both texts whole.
#[track_caller]
fn assert_same_text(got: &str, want: &str, what: &str) {
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "{what}: line {}", i + 1);
    }
    assert_eq!(
        got.lines().count(),
        want.lines().count(),
        "{what}: line count"
    );
}

/// Every `...:SS.fffZ` timestamp cell with its fraction padded to nine digits.
fn nanosecond_fractions(csv: &str) -> String {
    let mut out = String::with_capacity(csv.len() * 2);
    for line in csv.lines() {
        let cells: Vec<String> = line
            .split(',')
            .map(|cell| match (cell.rfind('.'), cell.strip_suffix('Z')) {
                (Some(dot), Some(body)) if cell.contains('T') => {
                    let digits = &body[dot + 1..];
                    format!("{}{:0<9}Z", &body[..=dot], digits)
                }
                _ => cell.to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

#[test]
fn parquet_compression_choices() {
    let dir = test_dir("parquet-codecs");
    run(&dir, &["example", "orig.arrow", "--rows", "5000"]).assert_success();
    let original_cat = run(&dir, &["cat", "orig.arrow"])
        .assert_success()
        .stdout_text();
    let mut sizes = Vec::new();
    for codec in ["none", "snappy", "zstd"] {
        let name = format!("{codec}.parquet");
        run(
            &dir,
            &["convert", "orig.arrow", &name, "--compression", codec],
        )
        .assert_success();
        let cat = run(&dir, &["cat", &name]).assert_success().stdout_text();
        assert_eq!(cat, original_cat, "{name}");
        sizes.push(fs::metadata(dir.join(&name)).unwrap().len());
        // And back to an IPC file compressed with each Arrow codec.
        for arrow_codec in ["none", "zstd", "lz4"] {
            let out = format!("{codec}-{arrow_codec}.arrow");
            run(
                &dir,
                &["convert", &name, &out, "--compression", arrow_codec],
            )
            .assert_success();
            let cat = run(&dir, &["cat", &out]).assert_success().stdout_text();
            assert_eq!(cat, original_cat, "{out}");
        }
    }
    assert!(
        sizes[1] < sizes[0],
        "snappy is smaller than none: {sizes:?}"
    );
    assert!(sizes[2] < sizes[0], "zstd is smaller than none: {sizes:?}");
    // The default is snappy, like pyarrow.
    run(&dir, &["convert", "orig.arrow", "default.parquet"]).assert_success();
    assert_eq!(
        fs::read(dir.join("default.parquet")).unwrap(),
        fs::read(dir.join("snappy.parquet")).unwrap()
    );
}

/// `--threads N`: the same output with 1, 2 and 3 decode threads (and the
/// default, every core) from a Parquet file of several row groups, cut into
/// batches; 0 is a usage error.
#[test]
fn parquet_decode_threads_give_the_same_output() {
    let dir = test_dir("parquet-threads");
    run(&dir, &["example", "orig.arrow", "--rows", "5000"]).assert_success();
    run(
        &dir,
        &[
            "convert",
            "orig.arrow",
            "x.parquet",
            "--row-group-rows",
            "1500",
        ],
    )
    .assert_success();
    let mut outputs = Vec::new();
    for threads in [Some("1"), Some("2"), Some("3"), None] {
        let name = format!("t{}.arrows", threads.unwrap_or("default"));
        let mut args = vec!["convert", "x.parquet", name.as_str()];
        if let Some(n) = threads {
            args.extend(["--threads", n]);
        }
        run(&dir, &args).assert_success();
        outputs.push(fs::read(dir.join(&name)).unwrap());
    }
    let tables = decode_stream(&dir.join("t1.arrows"));
    // Row groups of 1,500 rows: 4 tables, the last of 500.
    assert_eq!(
        tables.iter().map(|t| t.n_rows).collect::<Vec<_>>(),
        [1500, 1500, 1500, 500]
    );
    assert!(outputs.iter().all(|o| *o == outputs[0]), "outputs differ");
    let cat = run(&dir, &["cat", "x.parquet", "--threads", "2", "-n", "3"])
        .assert_success()
        .stdout_text();
    assert_eq!(cat.lines().count(), 2 + 3, "{cat}");
    let line = run(
        &dir,
        &["convert", "x.parquet", "y.arrows", "--threads", "0"],
    )
    .assert_error(2)
    .to_string();
    assert!(line.contains("--threads"), "{line}");
}

#[test]
fn codecs_that_do_not_fit_the_format_are_usage_errors() {
    let dir = test_dir("codec-mismatch");
    run(&dir, &["example", "orig.arrow", "--rows", "10"]).assert_success();
    let line = run(
        &dir,
        &["convert", "orig.arrow", "x.parquet", "--compression", "lz4"],
    )
    .assert_error(2)
    .to_string();
    assert!(line.contains("lz4") && line.contains("Parquet"), "{line}");
    let line = run(
        &dir,
        &[
            "convert",
            "orig.arrow",
            "x.arrows",
            "--compression",
            "snappy",
        ],
    )
    .assert_error(2)
    .to_string();
    assert!(
        line.contains("snappy") && line.contains("Arrow IPC"),
        "{line}"
    );
    let line = run(
        &dir,
        &["convert", "orig.arrow", "x.csv", "--compression", "zstd"],
    )
    .assert_error(2)
    .to_string();
    assert!(line.contains("CSV"), "{line}");
    // Nothing was left behind.
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["orig.arrow"]);
}

#[test]
fn schema_of_each_format() {
    let dir = test_dir("schema");
    run(&dir, &["example", "orig.arrow", "--rows", "1000"]).assert_success();
    run(&dir, &["convert", "orig.arrow", "x.parquet"]).assert_success();
    run(&dir, &["convert", "orig.arrow", "x.csv"]).assert_success();

    let parquet = run(&dir, &["schema", "x.parquet"])
        .assert_success()
        .stdout_text();
    let first = parquet.lines().next().unwrap();
    assert_eq!(first, "x.parquet: Parquet file, 1 row group, 1000 rows");
    let arrow = run(&dir, &["schema", "orig.arrow"])
        .assert_success()
        .stdout_text();
    // The same fields, types, nullability and metadata as the IPC file.
    let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&parquet), body(&arrow));

    let csv = run(&dir, &["schema", "x.csv"])
        .assert_success()
        .stdout_text();
    assert!(csv.starts_with("x.csv: CSV\n"), "{csv}");
    for (name, ty) in [
        ("id", "Int64"),
        ("name", "Utf8"),
        ("city", "Utf8"),
        ("price", "Float64"),
    ] {
        assert!(
            csv.lines().any(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.first() == Some(&name) && cells.get(1) == Some(&ty)
            }),
            "{name}: {ty} in {csv}"
        );
    }
}

#[test]
fn csv_from_stdin_and_options() {
    let dir = test_dir("csv-stdin");
    let data = b"a;b;c\n1;x;true\n2;\"y;z\";false\n".to_vec();
    let out = run_in(
        &dir,
        &["cat", "-", "--from", "csv", "--delimiter", ";"],
        Some(data),
    );
    let cat = out.assert_success().stdout_text();
    let lines: Vec<&str> = cat.lines().collect();
    assert_eq!(lines.len(), 4, "{cat}");
    assert!(lines[3].contains("y;z"), "{cat}");
    assert!(
        lines[2].contains("true") && lines[3].contains("false"),
        "{cat}"
    );

    // Headerless: columns are f0, f1, ...
    let out = run_in(
        &dir,
        &["convert", "-", "out.csv", "--from", "csv", "--no-header"],
        Some(b"1,2\n3,4\n".to_vec()),
    );
    out.assert_success();
    assert_eq!(text(&dir, "out.csv"), "f0,f1\n1,2\n3,4\n");

    // Parquet cannot come from a pipe.
    let line = run_in(
        &dir,
        &["cat", "-", "--from", "parquet"],
        Some(b"PAR1".to_vec()),
    )
    .assert_error(1)
    .to_string();
    assert!(line.contains("Parquet") && line.contains("file"), "{line}");
}

/// The values of string column `c` over all tables (`None` for a null).
fn string_column(tables: &[Table], c: usize) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for t in tables {
        let Array::TextArray(TextArray::String32(a)) = &t.cols[c].array else {
            panic!("not a string column: {:?}", t.cols[c].field.dtype);
        };
        for i in 0..t.n_rows {
            let valid = a.null_mask.as_ref().is_none_or(|m| m.get(i));
            let text = &a.data[a.offsets[i] as usize..a.offsets[i + 1] as usize];
            out.push(valid.then(|| String::from_utf8(text.to_vec()).expect("UTF-8")));
        }
    }
    out
}

/// Issue 13: `convert x.arrows x.csv` wrote a null string as `""` and read it
/// back as the empty string. Now CSV -> stream -> CSV keeps both, with two
/// columns and with one (where the null is an empty line), and
/// `--string-nulls quoting-ignored` gives the earlier reading.
#[test]
fn csv_keeps_nulls_and_empty_strings_apart() {
    let dir = test_dir("csv-nulls");
    let some = |s: &str| Some(s.to_string());
    for (name, csv) in [
        ("two", "s,n\na,1\n,2\n\"\",3\nb,4\n"),
        ("one", "s\na\n\n\"\"\nb\n"),
    ] {
        fs::write(dir.join(format!("{name}.csv")), csv).unwrap();
        let arrows = format!("{name}.arrows");
        run(&dir, &["convert", &format!("{name}.csv"), &arrows]).assert_success();
        assert_eq!(
            string_column(&decode_stream(&dir.join(&arrows)), 0),
            [some("a"), None, some(""), some("b")],
            "{name}"
        );
        let back = format!("{name}-back.csv");
        run(&dir, &["convert", &arrows, &back]).assert_success();
        assert_eq!(text(&dir, &back), csv, "{name}");

        let old = format!("{name}-old.arrows");
        run(
            &dir,
            &[
                "convert",
                &format!("{name}.csv"),
                &old,
                "--string-nulls",
                "quoting-ignored",
            ],
        )
        .assert_success();
        let want = if name == "one" {
            // Blank lines skipped.
            vec![some("a"), some(""), some("b")]
        } else {
            vec![some("a"), some(""), some(""), some("b")]
        };
        assert_eq!(string_column(&decode_stream(&dir.join(&old)), 0), want);
    }
}

#[test]
fn bad_csv_rows_fail_or_follow_the_policy() {
    let dir = test_dir("csv-bad-rows");
    // The bad row comes after the rows that type inference looks at (10,000).
    let mut csv = String::from("id,price\n");
    for i in 0..20_000 {
        csv.push_str(&format!("{i},{i}.5\n"));
    }
    csv.push_str("20000,not-a-number\n");
    csv.push_str("20001,20001.5\n");
    fs::write(dir.join("bad.csv"), &csv).unwrap();

    // Default: an error naming the file, line and column; no output file.
    let line = run(&dir, &["convert", "bad.csv", "out.arrow"])
        .assert_error(1)
        .to_string();
    assert!(line.contains("bad.csv"), "{line}");
    assert!(line.contains("20002"), "line number in {line}");
    assert!(line.contains("price"), "column in {line}");
    assert!(line.contains("not-a-number"), "offending text in {line}");
    assert!(!dir.join("out.arrow").exists());

    // skip: the row is dropped and counted on stderr.
    let out = run(
        &dir,
        &["convert", "bad.csv", "skip.arrow", "--bad-rows", "skip"],
    );
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stderr.contains("skipped 1 row"),
        "stderr: {}",
        out.stderr
    );
    let tables = decode_file(&dir.join("skip.arrow"));
    assert_eq!(tables.iter().map(|t| t.n_rows).sum::<usize>(), 20_001);

    // null: the cell is null and counted.
    let out = run(
        &dir,
        &["convert", "bad.csv", "null.csv", "--bad-rows", "null"],
    );
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("1 cell"), "stderr: {}", out.stderr);
    let written = text(&dir, "null.csv");
    assert!(
        written.ends_with("\n20000,\n20001,20001.5\n"),
        "{}",
        &written[written.len() - 100..]
    );
}

#[test]
fn corrupt_and_truncated_inputs_are_one_line_errors() {
    let dir = test_dir("corrupt");
    run(&dir, &["example", "orig.arrow", "--rows", "2000"]).assert_success();
    run(&dir, &["convert", "orig.arrow", "x.parquet"]).assert_success();
    let parquet = fs::read(dir.join("x.parquet")).unwrap();
    let arrow = fs::read(dir.join("orig.arrow")).unwrap();
    for (source, ext) in [(&parquet, "parquet"), (&arrow, "arrow")] {
        for cut in [
            4,
            8,
            100,
            source.len() / 2,
            source.len() - 9,
            source.len() - 1,
        ] {
            let name = format!("cut-{cut}.{ext}");
            fs::write(dir.join(&name), &source[..cut]).unwrap();
            for command in ["cat", "schema"] {
                let out = run(&dir, &[command, &name]);
                let line = out.assert_error(1);
                assert!(line.contains(&name), "{command} {name}: {line}");
            }
            let out = run(&dir, &["convert", &name, "out.csv"]);
            out.assert_error(1);
            assert!(!dir.join("out.csv").exists());
        }
    }
    // Garbage in the middle of a Parquet file: an error, never a panic.
    let mut flipped = parquet.clone();
    let mid = flipped.len() / 3;
    for b in &mut flipped[mid..mid + 64] {
        *b ^= 0x5a;
    }
    fs::write(dir.join("flipped.parquet"), &flipped).unwrap();
    let out = run(&dir, &["convert", "flipped.parquet", "out.arrow"]);
    // Data pages may survive a flip (it can land in a value); what must never
    // happen is a crash or a half-written output.
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{:?} {}",
        out.status,
        out.stderr
    );
    assert!(!out.stderr.contains("panicked") && !out.stderr.contains("internal error"));
}

/// Runs `tests/python/dict_per_batch.py` with `args` in `dir` (python3 and pyarrow
/// required, as for the other pyarrow tests); returns its stdout.
fn dict_per_batch_py(dir: &Path, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/dict_per_batch.py");
    let out = Command::new("python3")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(&script)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("python3 is required for this test ({e})"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "dict_per_batch.py {args:?} failed (pyarrow is required: python3 -m pip install \
         pyarrow):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A stream whose batches were dictionary-encoded one by one (pyarrow's
/// `dictionary_encode()` per batch: a replacement dictionary each time) converts to an
/// IPC file: the dictionaries are unified into one per field grown by deltas, and
/// pyarrow reads the file valid with every original value. Only a unified dictionary
/// too large for its key type is an error, naming the column, key type and count.
#[test]
fn convert_unifies_per_batch_dictionaries_into_a_file() {
    let dir = test_dir("dict-per-batch");
    dict_per_batch_py(&dir, &["write", "s.arrows", "expect.json"]);
    run(&dir, &["convert", "s.arrows", "s.arrow"]).assert_success();
    let out = dict_per_batch_py(&dir, &["check", "s.arrow", "expect.json"]);
    assert!(out.contains("ok: 7 batches, 19 rows"), "{out}");
    // From stdin, as a stream decoded chunk by chunk.
    let stream = fs::read(dir.join("s.arrows")).unwrap();
    run_in(&dir, &["convert", "-", "t.arrow"], Some(stream)).assert_success();
    let out = dict_per_batch_py(&dir, &["check", "t.arrow", "expect.json"]);
    assert!(out.contains("ok: 7 batches, 19 rows"), "{out}");

    // int8 keys, two batches of 100 distinct values each.
    dict_per_batch_py(&dir, &["overflow", "o.arrows"]);
    let out = run(&dir, &["convert", "o.arrows", "o.arrow"]);
    let line = out.assert_one_line_error();
    for part in ["\"tag\"", "Int8", "200 values", "(128)"] {
        assert!(line.contains(part), "{part} missing from: {line}");
    }
    assert!(!dir.join("o.arrow").exists());
    // A stream may replace dictionaries: the same input converts to a stream.
    run(&dir, &["convert", "o.arrows", "o2.arrows"]).assert_success();
}

/// The peak anonymous (heap) memory of `child` while it runs, in bytes, sampled
/// from /proc every few milliseconds. File-backed pages of a memory map are
/// page cache, not counted.
#[cfg(target_os = "linux")]
fn peak_anon_memory(child: &mut std::process::Child, timeout: Duration) -> (u64, ExitStatus) {
    let status_path = format!("/proc/{}/status", child.id());
    let started = Instant::now();
    let mut peak = 0u64;
    loop {
        if let Ok(status) = fs::read_to_string(&status_path) {
            for line in status.lines() {
                if let Some(kb) = line.strip_prefix("RssAnon:") {
                    let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kb * 1024);
                }
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            return (peak, status);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            panic!("lightstream did not finish within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// The numeric table pyarrow users convert most: i64, f64, i64, f64 columns.
fn numeric_batch(rows: usize, seed: u64) -> lightstream_core::minarrow::Table {
    use lightstream_core::minarrow::{Array, Field, FieldArray, FloatArray, IntegerArray, Table};
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        // xorshift64: incompressible values, as real measurements are.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut cols = Vec::new();
    for (i, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
        let array = if i % 2 == 0 {
            let v: Vec<i64> = (0..rows).map(|_| (next() >> 24) as i64).collect();
            Array::from_int64(IntegerArray::from_slice(&v))
        } else {
            let v: Vec<f64> = (0..rows)
                .map(|_| (next() >> 11) as f64 / (1u64 << 53) as f64)
                .collect();
            Array::from_float64(FloatArray::from_slice(&v))
        };
        let field = Field::new(name, array.arrow_type(), false, None);
        cols.push(FieldArray::new(field, array));
    }
    Table::new("t".to_string(), Some(cols))
}

/// Writes `batches` numeric batches of `rows` rows as an IPC stream padded to 8
/// bytes, as pyarrow writes them (so every body is copied while it is read).
fn write_pyarrow_like_stream(path: &Path, batches: usize, rows: usize) -> u64 {
    use lightstream_core::{IpcStreamEncoder, Schema, WriteOptions};
    use std::io::Write as _;
    let first = numeric_batch(rows, 1);
    let schema = std::sync::Arc::new(Schema::from_table(&first));
    let options = WriteOptions {
        alignment: 8,
        ..WriteOptions::default()
    };
    let mut enc = IpcStreamEncoder::new(schema, options).unwrap();
    let mut out = std::io::BufWriter::new(fs::File::create(path).unwrap());
    let mut bytes = Vec::new();
    enc.schema_message().unwrap().append_to(&mut bytes);
    for b in 0..batches {
        let table = if b == 0 {
            first.clone()
        } else {
            numeric_batch(rows, b as u64 + 1)
        };
        for m in enc.encode_table(&table).unwrap() {
            m.append_to(&mut bytes);
        }
        out.write_all(&bytes).unwrap();
        bytes.clear();
    }
    enc.end_of_stream().append_to(&mut bytes);
    out.write_all(&bytes).unwrap();
    out.flush().unwrap();
    fs::metadata(path).unwrap().len()
}

/// Converting an input many times larger than one batch keeps the heap to a
/// few batches (plus one row group for Parquet, on either side), for every
/// input (IPC file, IPC stream from a file and from stdin, CSV, Parquet) and
/// every output. The stream is written as pyarrow writes it (8-byte padding,
/// 4 MiB bodies), the shape that once grew to 526 MB for a 763 MB stream to
/// Parquet (glibc's dynamic mmap threshold; see src/heap.rs).
///
/// The default run converts 50 MB into row groups of 131,072 rows (so that a
/// leak of a few batches stands out), each input format once and each output
/// format once; `LIGHTSTREAM_SLOW_TESTS=1` converts every input to every
/// output, 800 MB (25 batches of 1,000,000 rows) into the default row groups
/// of 1,048,576 rows, and also holds the peak under a fifth of the input.
#[cfg(target_os = "linux")]
#[test]
fn convert_memory_stays_bounded() {
    let slow = std::env::var_os("LIGHTSTREAM_SLOW_TESTS").is_some_and(|v| v == "1");
    let (batches, rows, row_group_rows) = if slow {
        (25, 1_000_000, 1 << 20)
    } else {
        (12, 131_072, 131_072)
    };
    let row_groups = row_group_rows.to_string();
    const ROW_BYTES: u64 = 32;
    let dir = test_dir("bounded");
    let size = write_pyarrow_like_stream(&dir.join("in.arrows"), batches, rows);
    run(&dir, &["convert", "in.arrows", "in.arrow"]).assert_success();
    run(&dir, &["convert", "in.arrows", "in.csv"]).assert_success();
    let to_parquet = [
        "convert",
        "in.arrows",
        "in.parquet",
        "--row-group-rows",
        &row_groups,
    ];
    run(&dir, &to_parquet).assert_success();

    // What the process holds with no batch at all: the schema of the input.
    let mut child = lightstream()
        .args(["schema", "in.arrows"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let (baseline, _) = peak_anon_memory(&mut child, Duration::from_secs(60));

    // A batch as the input delivers it: IPC keeps the producer's batches; CSV
    // and Parquet are read 65,536 rows at a time. A Parquet row group of
    // encoded pages, with the writer's dictionary hash tables, is counted at
    // one and a half times its raw size. Parquet input decodes on every core
    // (the default `--threads`), a batch ahead per thread.
    let threads = thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let total_rows = (batches * rows) as u64;
    let row_group = total_rows.min(row_group_rows) * ROW_BYTES * 3 / 2;
    let mut failures = Vec::new();
    let inputs = [
        ("in.arrow", false, rows as u64),
        ("in.arrows", false, rows as u64),
        ("-", false, rows as u64),
        ("in.csv", false, 65_536),
        ("in.parquet", true, 65_536),
    ];
    let outputs = ["out.arrow", "out.arrows", "out.csv", "out.parquet"];
    // Every input against every output with the slow flag; by default each
    // input and each output once, and Parquet to Parquet (both row groups in
    // memory at once): 20 conversions of a debug build took 85 s of CI.
    let quick = [
        ("in.arrow", "out.parquet"),
        ("in.arrows", "out.csv"),
        ("-", "out.arrows"),
        ("in.csv", "out.arrow"),
        ("in.parquet", "out.parquet"),
    ];
    for (input, parquet_in, batch_rows) in inputs {
        for output in outputs {
            if !slow && !quick.contains(&(input, output)) {
                continue;
            }
            let mut cmd = lightstream();
            cmd.args(["convert", input, output])
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if input == "-" {
                cmd.stdin(fs::File::open(dir.join("in.arrows")).unwrap());
            }
            if output.ends_with(".parquet") {
                cmd.args(["--row-group-rows", &row_groups]);
            }
            let mut child = cmd.spawn().expect("spawn");
            let (peak, status) = peak_anon_memory(&mut child, Duration::from_secs(600));
            assert!(status.success(), "{input} -> {output}: {status:?}");
            let parquet_out = output.ends_with(".parquet");
            let ahead = if parquet_in { threads } else { 0 };
            let limit = baseline
                + (parquet_in as u64 + parquet_out as u64) * row_group
                + (4 + ahead) * batch_rows * ROW_BYTES
                + (8 << 20);
            let limit = if slow { limit.min(size / 5) } else { limit };
            eprintln!(
                "{input} ({size} bytes) -> {output}: peak heap {} MiB (limit {} MiB)",
                peak >> 20,
                limit >> 20
            );
            if peak >= limit {
                failures.push(format!(
                    "{input} -> {output}: peak heap {} MiB, limit {} MiB",
                    peak >> 20,
                    limit >> 20
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Writes, with pyarrow, `mixed.arrows` and `mixed.arrow` (columns a: int64,
/// l: list<int32>, which lightstream cannot read yet, s: utf8) and
/// `lists.arrows` (only the list column).
fn write_mixed_inputs(dir: &Path) {
    let script = "import pyarrow as pa\n\
        t = pa.table({'a': pa.array([1, 2, 3]), 'l': pa.array([[1], [2, 3], None], pa.list_(pa.int32())), 's': ['x', None, 'z']})\n\
        w = pa.ipc.new_stream('mixed.arrows', t.schema); w.write_table(t); w.close()\n\
        w = pa.ipc.new_file('mixed.arrow', t.schema); w.write_table(t); w.close()\n\
        l = t.select(['l'])\n\
        w = pa.ipc.new_stream('lists.arrows', l.schema); w.write_table(l); w.close()\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("python3 with pyarrow is required for this test ({e})"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn column_names(tables: &[Table]) -> Vec<String> {
    tables[0]
        .cols
        .iter()
        .map(|c| c.field.name.clone())
        .collect()
}

/// `convert` takes the same column choice as `cat`, but only when asked and
/// loudly: by default a column it cannot read refuses the input (naming it
/// and the flags); `--skip-unsupported` leaves such columns out, naming each
/// on stderr; `--columns` picks columns by name, in order, from every format.
#[test]
fn convert_chooses_columns_by_name_or_skips_unsupported_ones() {
    let dir = test_dir("columns");
    write_mixed_inputs(&dir);
    for input in ["mixed.arrows", "mixed.arrow"] {
        let out = run(&dir, &["convert", input, "out.arrow"]);
        let line = out.assert_one_line_error();
        assert!(
            line.contains("\"l\"") && line.contains("List<Int32>"),
            "{line}"
        );
        assert!(
            line.contains("--skip-unsupported") && line.contains("--columns"),
            "{line}"
        );

        let out = run(
            &dir,
            &["convert", input, "skip.arrow", "--skip-unsupported"],
        );
        assert!(out.status.success(), "{}", out.stderr);
        assert!(
            out.stderr
                .contains("column \"l\" (List<Int32>) is left out (--skip-unsupported)"),
            "{}",
            out.stderr
        );
        let skipped = decode_file(&dir.join("skip.arrow"));
        assert_eq!(column_names(&skipped), ["a", "s"]);

        run(
            &dir,
            &["convert", input, "named.arrows", "--columns", "s,a"],
        )
        .assert_success();
        let named = decode_stream(&dir.join("named.arrows"));
        assert_eq!(column_names(&named), ["s", "a"]);
        let Array::TextArray(TextArray::String32(s)) = &named[0].cols[0].array else {
            panic!("utf8 expected")
        };
        assert_eq!((s.get_str(0), s.get_str(2)), (Some("x"), Some("z")));
        assert_eq!(named[0].cols[0].array.null_count(), 1);

        let line = run(&dir, &["convert", input, "x.arrow", "--columns", "a,price"])
            .assert_one_line_error()
            .to_string();
        assert!(line.contains("no column named \"price\""), "{line}");
        let line = run(&dir, &["convert", input, "x.arrow", "--columns", "l"])
            .assert_one_line_error()
            .to_string();
        assert!(line.contains("\"l\""), "{line}");
        let out = run(
            &dir,
            &[
                "convert",
                input,
                "x.arrow",
                "--columns",
                "a",
                "--skip-unsupported",
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    }
    // CSV and Parquet pick by name too.
    run(&dir, &["convert", "skip.arrow", "skip.csv"]).assert_success();
    run(&dir, &["convert", "skip.arrow", "skip.parquet"]).assert_success();
    for input in ["skip.csv", "skip.parquet"] {
        run(&dir, &["convert", input, "picked.arrow", "--columns", "s"]).assert_success();
        assert_eq!(
            column_names(&decode_file(&dir.join("picked.arrow"))),
            ["s"],
            "{input}"
        );
    }
}

/// `cat` of a stream none of whose columns it can read says so, instead of
/// printing a blank line per row; `cat --columns` shows the columns named.
#[test]
fn cat_says_when_there_is_nothing_to_show() {
    let dir = test_dir("nothing-to-show");
    write_mixed_inputs(&dir);
    let out = run(&dir, &["cat", "lists.arrows"]);
    let line = out.assert_error(1).to_string();
    assert!(line.contains("nothing to show"), "{line}");
    assert!(line.contains("\"l\" (List<Int32>)"), "{line}");
    assert!(
        out.stdout.iter().all(|b| *b != b'\n'),
        "no blank rows printed"
    );

    let out = run(&dir, &["cat", "mixed.arrows", "--columns", "s"]);
    out.assert_success();
    assert_eq!(out.stdout_text().lines().count(), 2 + 3);
    let text = out.stdout_text();
    assert_eq!(text.lines().next().map(str::trim), Some("s"), "{text}");
}

/// `convert` on a terminal (a pseudo-terminal from util-linux's `script`)
/// shows rows and the share of the input done, and ends with the total; with
/// stderr a pipe it stays silent.
#[test]
fn convert_shows_progress_on_a_terminal_only() {
    let dir = test_dir("progress");
    run(&dir, &["example", "in.arrows", "--rows", "3000"]).assert_success();
    let bin = env!("CARGO_BIN_EXE_lightstream");
    let command = format!("{bin} convert in.arrows out.arrow");
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("run script(1)");
    assert!(out.status.success(), "{out:?}");
    let shown = String::from_utf8_lossy(&out.stdout);
    // The first update comes after the first table; the input is a stream file
    // of known size, so it has a percentage.
    assert!(shown.contains("\rconverted "), "{shown:?}");
    assert!(shown.contains('%'), "{shown:?}");
    assert!(shown.contains("converted 3000 rows in "), "{shown:?}");
    let rows: usize = decode_file(&dir.join("out.arrow"))
        .iter()
        .map(|t| t.n_rows)
        .sum();
    assert_eq!(rows, 3000);

    let quiet = run(&dir, &["convert", "in.arrows", "out2.arrow"]);
    quiet.assert_success();
    assert_eq!(quiet.stderr, "", "no progress into a pipe");
}
