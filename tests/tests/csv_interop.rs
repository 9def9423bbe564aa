//! CSV interop with pyarrow, the oracle (tests/python/csv_oracle.py):
//! (a) pyarrow writes a CSV, we read it: schema (inferred types) and every cell
//!     equal to what pyarrow's own read_csv gives for the same file;
//! (b) we write a CSV of many types, pyarrow reads it with explicit column
//!     types: every cell equal to ours;
//! (c) type inference on tricky columns: our types against pyarrow's;
//! (d) null strings and empty strings in one column (issue 13), both ways, with
//!     pyarrow and with Polars (tests/python/csv_nulls.py), one-column files too.
//!
//! pyarrow reads with `strings_can_be_null=True, quoted_strings_can_be_null=False`
//! throughout: the reading of its own writer's nulls and empty strings, and ours.

use std::sync::Arc;

use lightstream_core::Schema;
use lightstream_core::csv::{CsvReadOptions, CsvWriteOptions, read_csv, write_csv};
use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
use lightstream_core::minarrow::{ArrowType, Field, Table, TimeUnit};
use lightstream_tests::compare::column_values_as_json;
use lightstream_tests::interop::{
    TempDir, diff_docs, expect_doc, field_type_name, merge_batches, os, read_json, run_python,
};

fn assert_no_diffs(diffs: Vec<String>) {
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn we_read_what_pyarrow_writes() {
    let dir = TempDir::new("csv-a");
    let csv = dir.path().join("pyarrow.csv");
    let doc = dir.path().join("pyarrow.json");
    run_python("csv_oracle.py", &[os("write".as_ref()), os(&csv), os(&doc)]);
    let bytes = std::fs::read(&csv).unwrap();
    let (schema, tables) = read_csv(&bytes, CsvReadOptions::default()).expect("read pyarrow's CSV");
    assert_eq!(tables.len(), 1);
    let ours = expect_doc("csv", &schema, &tables, false).unwrap();
    let theirs = read_json(&doc);
    // Types (inferred on both sides) and every cell.
    assert_no_diffs(diff_docs("pyarrow-written CSV", &theirs, &ours));
    // The same with every chunking of 1..=7 bytes.
    for chunk in 1..=7 {
        let mut d = lightstream_core::csv::CsvDecoder::new(CsvReadOptions::default()).unwrap();
        let mut got = Vec::new();
        for piece in bytes.chunks(chunk) {
            d.push(piece).unwrap();
            while let Some(t) = d.next_table().unwrap() {
                got.push(t);
            }
        }
        d.finish().unwrap();
        while let Some(t) = d.next_table().unwrap() {
            got.push(t);
        }
        assert_eq!(got, tables, "chunks of {chunk} bytes");
    }
}

fn field(name: &str, t: ArrowType) -> Arc<Field> {
    Arc::new(Field::new(name, t, true, None))
}

#[test]
fn pyarrow_reads_what_we_write() {
    let schema = Schema::new(
        vec![
            field("i8", ArrowType::Int8),
            field("i16", ArrowType::Int16),
            field("i32", ArrowType::Int32),
            field("i64", ArrowType::Int64),
            field("u8", ArrowType::UInt8),
            field("u32", ArrowType::UInt32),
            field("u64", ArrowType::UInt64),
            field("f32", ArrowType::Float32),
            field("f64", ArrowType::Float64),
            field("b", ArrowType::Boolean),
            field("s", ArrowType::String),
            field("ls", ArrowType::LargeString),
            field("cat", ArrowType::Dictionary(CategoricalIndexType::UInt32)),
            field("d32", ArrowType::Date32),
            field("d64", ArrowType::Date64),
            field("t32", ArrowType::Time32(TimeUnit::Milliseconds)),
            field("t64", ArrowType::Time64(TimeUnit::Nanoseconds)),
            field("ts_s", ArrowType::Timestamp(TimeUnit::Seconds, None)),
            field("ts_ms", ArrowType::Timestamp(TimeUnit::Milliseconds, None)),
            field(
                "ts_us",
                ArrowType::Timestamp(TimeUnit::Microseconds, Some("UTC".into())),
            ),
            field(
                "ts_ns",
                ArrowType::Timestamp(TimeUnit::Nanoseconds, Some("UTC".into())),
            ),
            field("dur", ArrowType::Duration64(TimeUnit::Milliseconds)),
            field("dec", ArrowType::Decimal128(12, 3)),
        ],
        Default::default(),
    );
    // Values written in our own text forms, read with the schema, written again.
    let rows = [
        "-128,-32768,-2147483648,-9223372036854775808,0,0,0,0.1,0.1,true,\"a,b\",\"l\"\"q\",x,1970-01-01,1970-01-01,00:00:00,00:00:00,1970-01-01T00:00:00,1970-01-01T00:00:00,1970-01-01T00:00:00Z,1970-01-01T00:00:00Z,0,0.000",
        "127,32767,2147483647,9223372036854775807,255,4294967295,18446744073709551615,3.4028235e38,1e300,false,\"two\nlines\",Łódź 🎉,y,2020-02-29,2020-02-29,23:59:59.999,23:59:59.999999999,2262-04-11T23:47:16,1969-12-31T23:59:59.999,1969-12-31T23:59:59.999999Z,2262-04-11T23:47:16.854775807Z,-5,-123456789.123",
        ",,,,,,,,,,,,,,,,,,,,,,",
        "1,2,3,4,5,6,7,-1.5e-7,-2.5e-300,true,,\"\",x,0001-01-01,9999-12-31,12:00:00.5,00:00:00.000000001,0001-01-01T00:00:00,9999-12-31T23:59:59.999,2000-01-01T00:00:00.000001Z,1677-09-22T00:00:00.000000001Z,9223372036854775807,0.001",
        "0,0,0,0,0,0,0,inf,-inf,false,\" lead\",trail ,z,1969-12-31,1969-12-31,00:00:01,00:00:01,1969-12-31T23:59:59,1970-01-01T00:00:00.001,1970-01-01T00:00:00.000001Z,1970-01-01T00:00:00.000000001Z,-1,-0.500",
    ];
    let header: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    let text = format!("{}\n{}\n", header.join(","), rows.join("\n"));
    let options = CsvReadOptions {
        schema: Some(schema.clone()),
        batch_size: 2,
        ..CsvReadOptions::default()
    };
    let (read_schema, tables) = read_csv(text.as_bytes(), options).expect("read our text forms");
    assert_eq!(tables.len(), 3);
    let written = write_csv(&read_schema, &tables, &CsvWriteOptions::default()).unwrap();
    // Our reader reads our output back to the same tables.
    let again = read_csv(
        &written,
        CsvReadOptions {
            schema: Some(schema.clone()),
            batch_size: 2,
            ..CsvReadOptions::default()
        },
    )
    .unwrap()
    .1;
    assert_eq!(again, tables);

    let dir = TempDir::new("csv-b");
    let csv = dir.path().join("ours.csv");
    std::fs::write(&csv, &written).unwrap();
    let types: serde_json::Map<String, serde_json::Value> = (0..schema.fields.len())
        .map(|i| {
            (
                schema.fields[i].name.clone(),
                serde_json::Value::String(field_type_name(&read_schema, i)),
            )
        })
        .collect();
    let types_path = dir.path().join("types.json");
    std::fs::write(&types_path, serde_json::to_vec(&types).unwrap()).unwrap();
    let out = dir.path().join("pyarrow.json");
    run_python(
        "csv_oracle.py",
        &[os("read".as_ref()), os(&csv), os(&types_path), os(&out)],
    );
    // One document of all our rows (pyarrow combines into one batch).
    let all: Vec<_> = tables.clone();
    let combined =
        lightstream_tests::interop::expect_doc("csv", &read_schema, &all, false).unwrap();
    let merged = merge_batches(&combined);
    assert_no_diffs(diff_docs(
        "our CSV read by pyarrow",
        &merged,
        &read_json(&out),
    ));
}

#[test]
fn inferred_types_match_pyarrow() {
    let text = "\
ints,floats,big,bool01,bools,dates,date_ts,ts_frac,ts_zone,ts_mixed,times,text,spaced,nulls\n\
1,1,9223372036854775808,1,True,2020-01-01,2020-01-01,2020-01-01T00:00:00.5,2020-01-01T00:00:00Z,2020-01-01T00:00:00Z,12:34,a,\" 5\",\n\
-2,2.5,1,true,false,1999-12-31,2020-01-01 12:00:00,2020-01-01 00:00:00,2020-01-01T00:00:00+05:30,2020-01-01T00:00:00,12:34:56,1,7,NA\n\
,1e5,2,0,FALSE,,2020-01-02T03,,,,,\"\",8,null\n";
    let dir = TempDir::new("csv-c");
    let csv = dir.path().join("infer.csv");
    std::fs::write(&csv, text).unwrap();
    let out = dir.path().join("pyarrow.json");
    run_python("csv_oracle.py", &[os("infer".as_ref()), os(&csv), os(&out)]);
    let theirs = read_json(&out);
    let (schema, tables) = read_csv(text.as_bytes(), CsvReadOptions::default()).unwrap();
    let ours = expect_doc("csv", &schema, &tables, false).unwrap();
    let their_types: Vec<String> = theirs["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap().to_string())
        .collect();
    let our_types: Vec<String> = (0..schema.fields.len())
        .map(|i| field_type_name(&schema, i))
        .collect();
    // All but the last column must agree; an all-null column is `null` in pyarrow
    // and a nullable string column here (documented in docs/csv.md).
    let n = our_types.len();
    assert_eq!(our_types[..n - 1], their_types[..n - 1]);
    assert_eq!(their_types[n - 1], "null");
    assert_eq!(our_types[n - 1], "string");
    // And the values of every column but the last.
    let mut ours_trim = ours.clone();
    let mut theirs_trim = theirs.clone();
    for d in [&mut ours_trim, &mut theirs_trim] {
        d["schema"]["fields"].as_array_mut().unwrap().pop();
        for b in d["batches"].as_array_mut().unwrap() {
            b["columns"].as_array_mut().unwrap().pop();
        }
    }
    assert_no_diffs(diff_docs("inference", &theirs_trim, &ours_trim));
    assert_eq!(
        ours["batches"][0]["columns"][n - 1]["values"],
        serde_json::json!([null, null, null])
    );
}

/// Each column's values over all tables, as `{"name": [values]}` (null: null).
fn columns_json(schema: &Schema, tables: &[Table]) -> serde_json::Value {
    let mut cols = serde_json::Map::new();
    for (c, f) in schema.fields.iter().enumerate() {
        let mut values = Vec::new();
        for t in tables {
            values.extend(column_values_as_json(&t.cols[c], t.n_rows).unwrap());
        }
        cols.insert(f.name.clone(), serde_json::Value::Array(values));
    }
    serde_json::Value::Object(cols)
}

/// Issue 13: `['a', null, '', 'b']` came back from CSV as `['a', '', '', 'b']`.
/// pyarrow and Polars write a null string as an empty unquoted field (in a
/// one-column file an empty line) and an empty string as `""`: we read theirs
/// with the default options (whole and in small chunks), and they read ours
/// (pyarrow with `strings_can_be_null=True, quoted_strings_can_be_null=False,
/// ignore_empty_lines=False`, Polars with its defaults), nulls, empty strings
/// and null-like text (`NA`, `null`) in the same column, first and last rows
/// null, two columns and one.
#[test]
fn nulls_and_empty_strings_round_trip_with_pyarrow_and_polars() {
    for lib in ["pyarrow", "polars"] {
        let dir = TempDir::new(&format!("csv-nulls-{lib}"));
        run_python(
            "csv_nulls.py",
            &[os("write".as_ref()), os(lib.as_ref()), os(dir.path())],
        );
        let want = read_json(&dir.path().join("want.json"));
        let mut written = Vec::new();
        for name in ["two", "one"] {
            let theirs = std::fs::read(dir.path().join(format!("{name}.csv"))).unwrap();
            let (schema, tables) = read_csv(&theirs, CsvReadOptions::default())
                .unwrap_or_else(|e| panic!("read {lib}'s {name}.csv: {e}"));
            assert_eq!(
                columns_json(&schema, &tables),
                want[name],
                "we read {lib}'s {name}.csv:\n{}",
                String::from_utf8_lossy(&theirs)
            );
            for chunk in 1..=3 {
                let mut d =
                    lightstream_core::csv::CsvDecoder::new(CsvReadOptions::default()).unwrap();
                let mut got = Vec::new();
                for piece in theirs.chunks(chunk) {
                    d.push(piece).unwrap();
                    got.extend(std::iter::from_fn(|| d.next_table().unwrap()));
                }
                d.finish().unwrap();
                got.extend(std::iter::from_fn(|| d.next_table().unwrap()));
                assert_eq!(got, tables, "{lib} {name}.csv in chunks of {chunk} bytes");
            }

            let ours = write_csv(&schema, &tables, &CsvWriteOptions::default()).unwrap();
            if name == "one" {
                // A null row is an empty line, as both libraries write it.
                assert!(ours.starts_with(b"s\n\na\n\"\"\n\n"), "{ours:?}");
            }
            std::fs::write(dir.path().join(format!("ours-{name}.csv")), &ours).unwrap();
            written.push((name, ours));
        }
        run_python(
            "csv_nulls.py",
            &[os("read".as_ref()), os(lib.as_ref()), os(dir.path())],
        );
        let read = read_json(&dir.path().join(format!("read-by-{lib}.json")));
        for (name, ours) in written {
            assert_eq!(
                read[name],
                want[name],
                "{lib} reads our {name}.csv:\n{}",
                String::from_utf8_lossy(&ours)
            );
        }
    }
}
