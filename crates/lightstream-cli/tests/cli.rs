//! End-to-end tests of the `lightstream` binary: each test runs the built binary in
//! its own temporary directory and checks what a user would see (stdout, stderr,
//! exit code), and decodes written files with `lightstream-core` to compare tables.

use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use lightstream_core::{ReadOptions, aligned_copy, read_stream};

mod common;
use common::{decode_file, decode_stream, lightstream, run, run_in};

/// A fresh, empty directory for one test.
fn test_dir(name: &str) -> PathBuf {
    common::test_dir("lightstream-cli", name)
}

/// The data lines of `cat` output (after the header and the rule).
fn data_rows(cat_output: &str) -> Vec<&str> {
    cat_output.lines().skip(2).collect()
}

/// Splits an aligned row into its cells (cells in the example contain single spaces
/// at most, columns are separated by two or more).
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn schema_lists_every_field_of_the_example() {
    let dir = test_dir("schema");
    run(&dir, &["example", "data.arrow"]).assert_success();
    let out = run(&dir, &["schema", "data.arrow"]);
    let text = out.assert_success().stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "data.arrow: Arrow IPC file, 4 record batches",
        "{text}"
    );
    let expected = [
        ("id", "Int64", "not null"),
        ("name", "Utf8", "not null"),
        ("city", "Dictionary<Int32, Utf8>", "not null"),
        ("price", "Float64", "nullable"),
        ("qty", "Int32", "not null"),
        ("in_stock", "Boolean", "not null"),
        ("ts", "Timestamp(Millisecond, \"UTC\")", "not null"),
        ("day", "Date32", "not null"),
    ];
    assert_eq!(lines[1], "fields (8):");
    for (line, (name, arrow_type, nullability)) in lines[2..10].iter().zip(expected) {
        let cells = cells(line);
        assert_eq!(&cells[..3], &[name, arrow_type, nullability], "{line}");
    }
    assert!(
        lines[5].ends_with(r#"{"unit": "EUR"}"#),
        "field metadata: {}",
        lines[5]
    );
    assert_eq!(lines[10], "schema metadata:");
    assert!(
        text.contains(r#"  "generator": "lightstream example""#),
        "{text}"
    );
    assert!(text.contains(r#"  "rows": "1000""#), "{text}");

    // A stream has no batch count up front; the fields are the same.
    run(&dir, &["example", "data.arrows", "--rows", "10"]).assert_success();
    let stream = run(&dir, &["schema", "data.arrows"])
        .assert_success()
        .stdout_text();
    assert!(
        stream.starts_with("data.arrows: Arrow IPC stream\n"),
        "{stream}"
    );
    assert_eq!(stream.lines().nth(8), lines.get(8).copied());
}

#[test]
fn cat_limit_prints_exactly_that_many_rows() {
    let dir = test_dir("cat-limit");
    run(&dir, &["example", "data.arrow"]).assert_success();
    let text = run(&dir, &["cat", "data.arrow", "--limit", "5"])
        .assert_success()
        .stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        cells(lines[0]),
        [
            "id", "name", "city", "price", "qty", "in_stock", "ts", "day"
        ]
    );
    assert!(
        lines[1].chars().all(|c| c == '-' || c == ' '),
        "{}",
        lines[1]
    );
    let rows = data_rows(&text);
    assert_eq!(rows.len(), 5, "{text}");
    let expected_first = EXAMPLE_FIRST_ROWS;
    for (row, expected) in rows.iter().zip(expected_first) {
        assert_eq!(cells(row), expected, "{text}");
    }
    // Columns line up: every line has the same offset for the `ts` column.
    let ts_at = lines[0].find("ts").expect("ts header");
    for row in &rows {
        assert_eq!(&row[ts_at..ts_at + 4], "2024", "{text}");
    }

    // The same rows from a stream, and from stdin.
    run(&dir, &["example", "data.arrows"]).assert_success();
    let from_stream = run(&dir, &["cat", "data.arrows", "-n", "5"])
        .assert_success()
        .stdout_text();
    assert_eq!(from_stream, text);
    let bytes = fs::read(dir.join("data.arrows")).unwrap();
    let from_stdin = run_in(&dir, &["cat", "-", "--limit", "5"], Some(bytes))
        .assert_success()
        .stdout_text();
    assert_eq!(from_stdin, text);
}

/// The first five rows of `lightstream example`, as `cat` prints them (pyarrow
/// reads the same values from the file).
const EXAMPLE_FIRST_ROWS: [[&str; 8]; 5] = [
    [
        "1",
        "Ken Johnson",
        "Santiago",
        "null",
        "268",
        "true",
        "2024-01-01T00:42:36.367Z",
        "2024-01-01",
    ],
    [
        "2",
        "Grace Lovelace",
        "Santiago",
        "395.23",
        "177",
        "true",
        "2024-01-01T01:27:29.183Z",
        "2024-01-01",
    ],
    [
        "3",
        "John Allen",
        "Oslo",
        "194.17",
        "77",
        "true",
        "2024-01-01T02:39:54.778Z",
        "2024-01-01",
    ],
    [
        "4",
        "Grace Hopper",
        "Osaka",
        "479.03",
        "493",
        "true",
        "2024-01-01T03:28:19.895Z",
        "2024-01-01",
    ],
    [
        "5",
        "Frances Allen",
        "Osaka",
        "309.94",
        "350",
        "true",
        "2024-01-01T04:42:54.899Z",
        "2024-01-01",
    ],
];

#[test]
fn cat_prints_all_rows_with_nulls() {
    let dir = test_dir("cat-all");
    run(&dir, &["example", "data.arrows", "--rows", "700"]).assert_success();
    let text = run(&dir, &["cat", "data.arrows"])
        .assert_success()
        .stdout_text();
    let rows = data_rows(&text);
    assert_eq!(rows.len(), 700);
    assert_eq!(cells(rows[699])[0], "700");
    let nulls = rows.iter().filter(|r| r.contains(" null ")).count();
    assert!(nulls > 20, "about one price in ten is null, got {nulls}");
    // --limit 0: just the header.
    let header = run(&dir, &["cat", "data.arrows", "--limit", "0"])
        .assert_success()
        .stdout_text();
    assert_eq!(header.lines().count(), 2);
}

#[test]
fn convert_round_trips_with_every_compression() {
    let dir = test_dir("convert");
    run(&dir, &["example", "orig.arrow", "--rows", "1000"]).assert_success();
    let original = decode_file(&dir.join("orig.arrow"));
    assert_eq!(original.len(), 4);
    let original_cat = run(&dir, &["cat", "orig.arrow"])
        .assert_success()
        .stdout_text();
    let mut sizes = Vec::new();
    for codec in ["none", "zstd", "lz4"] {
        let stream = format!("{codec}.arrows");
        let file = format!("{codec}.arrow");
        run(
            &dir,
            &["convert", "orig.arrow", &stream, "--compression", codec],
        )
        .assert_success();
        run(&dir, &["convert", &stream, &file, "--compression", codec]).assert_success();
        assert_eq!(
            &fs::read(dir.join(&file)).unwrap()[..6],
            b"ARROW1",
            "{file} is an IPC file"
        );

        assert_eq!(decode_stream(&dir.join(&stream)), original, "{stream}");
        assert_eq!(decode_file(&dir.join(&file)), original, "{file}");
        let cat = run(&dir, &["cat", &file]).assert_success().stdout_text();
        assert_eq!(cat, original_cat, "{file}");
        sizes.push(fs::metadata(dir.join(&file)).unwrap().len());
    }
    assert!(sizes[1] < sizes[0], "zstd output is smaller: {sizes:?}");
    assert!(sizes[2] < sizes[0], "lz4 output is smaller: {sizes:?}");

    // --to overrides the extension; file -> file and stream -> stream work too.
    run(
        &dir,
        &["convert", "zstd.arrow", "plain.arrows", "--to", "file"],
    )
    .assert_success();
    assert_eq!(decode_file(&dir.join("plain.arrows")), original);
    run(&dir, &["convert", "none.arrows", "copy.arrows"]).assert_success();
    assert_eq!(decode_stream(&dir.join("copy.arrows")), original);
}

#[test]
fn convert_onto_itself() {
    let dir = test_dir("convert-in-place");
    run(&dir, &["example", "data.arrows", "--rows", "600"]).assert_success();
    let before = decode_stream(&dir.join("data.arrows"));
    run(
        &dir,
        &[
            "convert",
            "data.arrows",
            "data.arrows",
            "--compression",
            "zstd",
        ],
    )
    .assert_success();
    assert_eq!(decode_stream(&dir.join("data.arrows")), before);
    // No temporary files are left behind.
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["data.arrows"]);
}

#[test]
fn stdin_and_stdout_pipe() {
    let dir = test_dir("pipes");
    let stream = run(&dir, &["example", "-", "--rows", "300"])
        .assert_success()
        .stdout
        .clone();
    assert!(
        !stream.starts_with(b"ARROW1"),
        "stdout defaults to a stream"
    );

    let file = run_in(
        &dir,
        &["convert", "-", "-", "--to", "file", "--compression", "lz4"],
        Some(stream.clone()),
    );
    let file = file.assert_success().stdout.clone();
    assert!(file.starts_with(b"ARROW1"));

    let back = run_in(&dir, &["convert", "-", "-"], Some(file.clone()))
        .assert_success()
        .stdout
        .clone();
    let (_, from_stream) = read_stream(aligned_copy(&stream), ReadOptions::default()).unwrap();
    let (_, round_tripped) = read_stream(aligned_copy(&back), ReadOptions::default()).unwrap();
    assert_eq!(round_tripped, from_stream);

    let schema = run_in(&dir, &["schema", "-"], Some(file))
        .assert_success()
        .stdout_text();
    assert!(
        schema.starts_with("<stdin>: Arrow IPC file, 2 record batches\n"),
        "{schema}"
    );
}

#[test]
fn cat_stops_reading_once_the_limit_is_printed() {
    let dir = test_dir("cat-streaming");
    run(&dir, &["example", "data.arrows", "--rows", "2000"]).assert_success();
    let bytes = fs::read(dir.join("data.arrows")).unwrap();

    // The writer keeps stdin open and never sends the end of the stream: `cat`
    // must print its rows and exit without waiting for more input.
    let mut child = lightstream()
        .args(["cat", "-", "--limit", "3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let half = bytes[..bytes.len() / 2].to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&half);
        // Hold the pipe open for a while, as a live producer would.
        thread::sleep(Duration::from_secs(20));
        drop(stdin);
    });
    let status = wait_with_timeout(&mut child, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "cat --limit waited for the whole input"
    );
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(data_rows(&out).len(), 3, "{out}");
    drop(writer); // detached; it ends on its own

    // A stream cut short is still fine up to the limit, and an error without it.
    let cut = &bytes[..bytes.len() - 100];
    fs::write(dir.join("cut.arrows"), cut).unwrap();
    run(&dir, &["cat", "cut.arrows", "--limit", "5"]).assert_success();
    let err = run(&dir, &["cat", "cut.arrows"]);
    let line = err.assert_one_line_error();
    assert!(line.contains("cut.arrows"), "{line}");
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn closed_stdout_ends_quietly() {
    let dir = test_dir("broken-pipe");
    run(&dir, &["example", "big.arrows", "--rows", "50000"]).assert_success();
    for args in [
        &["cat", "big.arrows"][..],
        &["convert", "big.arrows", "-"][..],
        &["example", "-", "--rows", "200000"][..],
    ] {
        let mut child = lightstream()
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read a little, then hang up, like `| head -c 100`.
        let mut first = [0u8; 100];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        let status = wait_with_timeout(&mut child, Duration::from_secs(30))
            .expect("exits after the pipe closes");
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(
            status.success(),
            "{args:?}: exit {:?}, stderr: {stderr}",
            status.code()
        );
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn bad_input_is_one_line_on_stderr() {
    let dir = test_dir("errors");
    run(&dir, &["example", "data.arrow"]).assert_success();
    run(&dir, &["example", "data.arrows"]).assert_success();
    let file = fs::read(dir.join("data.arrow")).unwrap();
    let stream = fs::read(dir.join("data.arrows")).unwrap();

    fs::write(
        dir.join("garbage.bin"),
        b"this is not an Arrow IPC stream, just text\n".repeat(50),
    )
    .unwrap();
    fs::write(dir.join("half.arrow"), &file[..file.len() / 2]).unwrap();
    fs::write(dir.join("half.arrows"), &stream[..stream.len() / 2]).unwrap();
    fs::write(dir.join("tiny.arrows"), &stream[..3]).unwrap();
    fs::write(dir.join("empty.arrows"), b"").unwrap();
    let mut bad_magic = file.clone();
    let end = bad_magic.len();
    bad_magic[end - 6..].copy_from_slice(b"ARROW2");
    fs::write(dir.join("bad-footer.arrow"), bad_magic).unwrap();

    for (args, mention) in [
        (&["cat", "garbage.bin"][..], "garbage.bin"),
        (&["schema", "garbage.bin"][..], "garbage.bin"),
        (&["cat", "half.arrow"][..], "half.arrow"),
        (&["schema", "half.arrow"][..], "half.arrow"),
        (&["convert", "half.arrows", "out.arrow"][..], "half.arrows"),
        (&["cat", "tiny.arrows"][..], "tiny.arrows"),
        (&["cat", "empty.arrows"][..], "empty"),
        (&["cat", "bad-footer.arrow"][..], "bad-footer.arrow"),
        (&["cat", "missing.arrow"][..], "missing.arrow"),
        (&["schema", "."][..], "directory"),
        (
            &["convert", "data.arrow", "no-such-dir/out.arrows"][..],
            "no-such-dir",
        ),
    ] {
        let out = run(&dir, args);
        let line = out.assert_one_line_error();
        assert!(line.contains(mention), "{args:?}: {line}");
    }
    // A continuation marker followed by garbage: the flatbuffer verifier's
    // multi-line message still ends up on one line.
    let mut marked = vec![0xFF, 0xFF, 0xFF, 0xFF, 0x18, 0, 0, 0];
    marked.extend_from_slice(b"garbagegarbagegarbage...");
    let out = run_in(&dir, &["schema", "-"], Some(marked));
    assert!(out.assert_one_line_error().contains("<stdin>"));

    let out = run_in(
        &dir,
        &["cat", "-"],
        Some(stream[..stream.len() / 2].to_vec()),
    );
    assert!(out.assert_one_line_error().contains("<stdin>"));

    // A failed conversion leaves no output behind.
    assert!(!dir.join("out.arrow").exists());
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("lightstream"))
        .collect();
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

#[test]
fn usage_errors_exit_2_on_one_line() {
    let dir = test_dir("usage");
    for args in [
        &["cat"][..],
        &["convert", "a", "b", "--compression", "gzip"][..],
        &["frobnicate"][..],
    ] {
        let out = run(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(out.stderr.starts_with("lightstream: "), "{}", out.stderr);
    }
    let help = run(&dir, &["--help"]);
    assert!(help.assert_success().stdout_text().contains("convert"));
}
