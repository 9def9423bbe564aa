//! Parquet interop with pyarrow (Arrow C++'s Parquet implementation), both ways.
//!
//! - pyarrow -> Lightstream: `tests/python/parquet_oracle.py write` writes the ALL_TYPES
//!   table of pyarrow_write.py as Parquet with pyarrow's defaults, without dictionary
//!   encoding, with zstd / snappy / no compression and in small row groups, plus what
//!   pyarrow itself reads back; `ParquetReader` reads each file and every value, type,
//!   nullability and metadata entry is compared (through `ARROW:schema` the types come
//!   back exactly, including dictionary index types, large_string, time zones, durations,
//!   unsigned integers, timestamp[s], date64 and time32[s]); plus a small file of legacy
//!   INT96 timestamps.
//! - Lightstream -> pyarrow: the interop all-types tables are written by `ParquetWriter`
//!   with every compression, dictionary encoding on and off, in small row groups;
//!   `parquet_oracle.py verify` reads each with `pq.read_table`, checks the values and
//!   types and that the footer shows the codec, row groups and dictionary pages asked for.
//!
//! pyarrow must be installed (`python3 -m pip install pyarrow`): without it these tests
//! fail with that instruction; they never skip.

use std::sync::Arc;

use lightstream::parquet::{
    ParquetCompression, ParquetReadOptions, ParquetReader, ParquetWriteOptions, ParquetWriter,
};
use lightstream_core::Schema;
use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, CategoricalArray, DatetimeArray, Field, FieldArray, FloatArray,
    IntegerArray, StringArray, Table, TemporalArray, TextArray, TimeUnit, Vec64,
};
use lightstream_tests::compare::diff_tables;
use lightstream_tests::interop::{
    TempDir, diff_against_doc, expect_doc, interop_all_types, os, read_json, run_python,
};
use serde_json::{Value, json};

#[test]
fn lightstream_reads_what_pyarrow_writes() {
    let dir = TempDir::new("parquet-from-pyarrow");
    run_python("parquet_oracle.py", &[os("write".as_ref()), os(dir.path())]);
    let manifest = read_json(&dir.path().join("manifest.json"));
    let cases = manifest["cases"].as_array().expect("cases");
    assert_eq!(
        cases.len(),
        12,
        "every pyarrow setting is covered, INT96, and the page decoders' cases"
    );
    let mut problems = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let path = dir.path().join(case["data"].as_str().unwrap());
        let doc = read_json(&dir.path().join(case["expect"].as_str().unwrap()));
        // One table per row group (as the expectation is laid out).
        let options = ParquetReadOptions {
            batch_size: usize::MAX,
            ..Default::default()
        };
        let reader = match ParquetReader::open(&path, options) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{name}: open: {e}"));
                continue;
            }
        };
        assert_eq!(
            reader.num_row_groups() as u64,
            case["row_groups"].as_u64().unwrap(),
            "{name}"
        );
        let schema: Arc<Schema> = reader.schema().clone();
        let tables: Result<Vec<Table>, _> = reader.collect();
        match tables {
            Ok(tables) => problems.extend(diff_against_doc(name, &doc, &schema, &tables)),
            Err(e) => problems.push(format!("{name}: read: {e}")),
        }
        // The page decoders' cases: the same values in batches that cut
        // pages and row groups.
        if let Some(sizes) = case["batch_sizes"].as_array() {
            for size in sizes {
                let size = size.as_u64().unwrap() as usize;
                let doc = read_json(&dir.path().join(format!("{name}.b{size}.json")));
                let options = ParquetReadOptions {
                    batch_size: size,
                    ..Default::default()
                };
                let label = format!("{name} (batches of {size})");
                let reader = ParquetReader::open(&path, options).expect("open");
                let schema: Arc<Schema> = reader.schema().clone();
                match reader.collect::<Result<Vec<Table>, _>>() {
                    Ok(tables) => problems.extend(diff_against_doc(&label, &doc, &schema, &tables)),
                    Err(e) => problems.push(format!("{label}: read: {e}")),
                }
            }
            continue;
        }
        if name == "int96" {
            continue;
        }
        // Small batches and a projection give the same values.
        let options = ParquetReadOptions {
            batch_size: 10,
            projection: Some(vec![16, 0, 12]),
            ..Default::default()
        };
        let reader = ParquetReader::open(&path, options).expect("projected open");
        assert_eq!(reader.schema().fields[0].name, "dict_i16");
        assert!(matches!(
            reader.schema().fields[0].dtype,
            ArrowType::Dictionary(_)
        ));
        let tables: Vec<Table> = reader.collect::<Result<_, _>>().expect("projected read");
        assert!(tables.iter().all(|t| t.n_rows <= 10));
        assert_eq!(
            tables.iter().map(|t| t.n_rows).sum::<usize>(),
            176,
            "{name}"
        );
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Everything a reader gives until it ends: the tables, then the error that
/// ended it, if one did.
fn read_outcome(bytes: &[u8], options: ParquetReadOptions) -> (Vec<Table>, Option<String>) {
    let bytes = lightstream_core::bytes::Bytes::copy_from_slice(bytes);
    outcome(ParquetReader::from_bytes(bytes, "threads.parquet", options))
}

/// Reads `bytes` with 1, 2 and 3 decode threads and checks that 2 and 3 give
/// the tables of 1 (values, schema, batch boundaries) and the same error
/// after them, if any; returns what 1 thread gave.
fn same_with_threads(
    label: &str,
    bytes: &[u8],
    options: &ParquetReadOptions,
) -> (Vec<Table>, Option<String>) {
    let read = |threads| {
        read_outcome(
            bytes,
            ParquetReadOptions {
                threads,
                ..options.clone()
            },
        )
    };
    let one = read(1);
    for threads in [2, 3] {
        let (tables, error) = read(threads);
        let label = format!("{label}, {threads} threads");
        assert_eq!(error, one.1, "{label}: another error");
        assert_eq!(
            tables.iter().map(|t| t.n_rows).collect::<Vec<_>>(),
            one.0.iter().map(|t| t.n_rows).collect::<Vec<_>>(),
            "{label}: other batches"
        );
        for (k, (t, o)) in tables.iter().zip(&one.0).enumerate() {
            if let Err(d) = diff_tables(t, o) {
                panic!("{label}: table {k} differs from 1 thread's:\n{d}");
            }
        }
    }
    one
}

/// `ParquetReadOptions::threads`: on pyarrow's files (several row groups,
/// dictionary and plain columns, nulls, several pages per chunk), 2 and 3
/// decode threads give the tables of one thread, whole, in batches that cut
/// pages and row groups, and projected, and those equal what pyarrow reads;
/// a corrupt page in the middle row group (its data, or its header) gives the
/// same tables, then the same error, as one thread.
#[test]
fn decode_threads_give_the_tables_and_errors_of_one_thread() {
    let dir = TempDir::new("parquet-threads");
    run_python(
        "parquet_oracle.py",
        &[os("threads".as_ref()), os(dir.path())],
    );
    let files = read_json(&dir.path().join("threads.json"));
    for (name, batch_sizes) in [
        ("threads_all_types", [7, 50]),
        ("threads_pages", [999, 4096]),
    ] {
        let file = &files[name];
        let bytes = std::fs::read(dir.path().join(file["data"].as_str().unwrap())).unwrap();
        let doc = read_json(&dir.path().join(file["expect"].as_str().unwrap()));
        let whole = ParquetReadOptions {
            batch_size: usize::MAX,
            ..Default::default()
        };
        let (tables, error) = same_with_threads(name, &bytes, &whole);
        assert_eq!(error, None, "{name}");
        assert_eq!(tables.len() as u64, file["row_groups"].as_u64().unwrap());
        let schema = ParquetReader::from_bytes(bytes.clone().into(), name, whole)
            .unwrap()
            .schema()
            .clone();
        let problems = diff_against_doc(name, &doc, &schema, &tables);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        for batch_size in batch_sizes {
            for projection in [None, Some(vec![3, 0, 1]), Some(vec![])] {
                let options = ParquetReadOptions {
                    batch_size,
                    projection: projection.clone(),
                    ..Default::default()
                };
                let label = format!("{name}, batches of {batch_size}, projection {projection:?}");
                let (tables, error) = same_with_threads(&label, &bytes, &options);
                assert_eq!(error, None, "{label}");
                let rows = tables.iter().map(|t| t.n_rows).sum::<usize>();
                assert_eq!(rows as u64, schema_rows(&bytes), "{label}");
            }
        }
    }

    // Corrupt pages of row group 2 (of 4, 5 batches of 1,000 rows each).
    let file = &files["threads_pages"];
    let bytes = std::fs::read(dir.path().join(file["data"].as_str().unwrap())).unwrap();
    let chunk = |c: usize, key: &str| file["chunks"][2][c][key].as_u64().unwrap() as usize;
    let options = ParquetReadOptions {
        batch_size: 1000,
        ..Default::default()
    };
    // Near the end of column 0's last page: dictionary indices of 0x1ff, out
    // of range, met while the row group's last batch decodes on a worker. Its
    // dictionary page: string lengths past the page, met by the row group's
    // first batch (queued while the batches before it are still decoding).
    // The header of column 1's first data page: refused when the row group
    // opens, on the calling thread.
    let dictionary = chunk(0, "start") + 1000;
    for (what, at, first_bad_table) in [
        ("dictionary page", dictionary..dictionary + 32, 10),
        ("page data", chunk(0, "end") - 40..chunk(0, "end") - 8, 14),
        (
            "page header",
            chunk(1, "data_page")..chunk(1, "data_page") + 1,
            10,
        ),
    ] {
        let mut bad = bytes.clone();
        bad[at].fill(0xff);
        let (tables, error) = same_with_threads(what, &bad, &options);
        let error = error.unwrap_or_else(|| panic!("{what}: no error"));
        assert!(error.contains("row group 2"), "{what}: {error}");
        assert_eq!(tables.len(), first_bad_table, "{what}: {error}");
    }
}

/// Rows in a Parquet file (its footer's count).
fn schema_rows(bytes: &[u8]) -> u64 {
    ParquetReader::from_bytes(bytes.to_vec().into(), "rows", Default::default())
        .unwrap()
        .num_rows()
}

/// Seconds are stored as milliseconds (as pyarrow does): timestamp[s] values beyond
/// +-2^63 ms cannot be written (pyarrow refuses them too), so they are scaled down.
fn parquet_safe(col: &FieldArray) -> FieldArray {
    match (&col.field.dtype, &col.array) {
        (
            ArrowType::Timestamp(TimeUnit::Seconds, _),
            Array::TemporalArray(TemporalArray::Datetime64(a)),
        ) => {
            let data: Vec64<i64> = a.data.as_slice().iter().map(|v| v / 10_000).collect();
            FieldArray {
                array: Array::TemporalArray(TemporalArray::Datetime64(Arc::new(DatetimeArray {
                    data: data.into(),
                    null_mask: a.null_mask.clone(),
                    time_unit: a.time_unit,
                }))),
                ..col.clone()
            }
        }
        _ => col.clone(),
    }
}

fn compression_name(c: ParquetCompression) -> &'static str {
    match c {
        ParquetCompression::None => "uncompressed",
        ParquetCompression::Snappy => "snappy",
        ParquetCompression::Zstd(_) => "zstd",
    }
}

#[test]
fn pyarrow_reads_what_lightstream_writes() {
    let (schema, tables) = interop_all_types();
    // Parquet has no negative decimal scale: that column is left out (and refused: see
    // crates/lightstream/tests/parquet.rs).
    let keep: Vec<usize> = (0..schema.fields.len())
        .filter(|&i| !matches!(schema.fields[i].dtype, ArrowType::Decimal128(_, s) if s < 0))
        .collect();
    assert_eq!(keep.len(), schema.fields.len() - 1);
    let schema = schema.project(&keep).unwrap();
    let tables: Vec<Table> = tables
        .iter()
        .map(|t| Table {
            cols: keep.iter().map(|&c| parquet_safe(&t.cols[c])).collect(),
            ..t.clone()
        })
        .collect();
    let mut cases = Vec::new();
    for compression in [
        ParquetCompression::None,
        ParquetCompression::Snappy,
        ParquetCompression::Zstd(3),
    ] {
        for dictionary in [true, false] {
            for row_group_rows in [1 << 20, 50] {
                let name = format!(
                    "{}_{}_rg{row_group_rows}",
                    compression_name(compression),
                    if dictionary { "dict" } else { "plain" }
                );
                let options = ParquetWriteOptions {
                    compression,
                    dictionary,
                    row_group_rows,
                    ..Default::default()
                };
                cases.push((name, options, None));
            }
        }
    }
    verify_with_pyarrow("parquet-to-pyarrow", &schema, &tables, cases, None);
}

/// Writes `tables` with each case's options, then `parquet_oracle.py verify`
/// reads every file with pyarrow: values, types, codec, row groups, dictionary
/// pages, the string chunks' statistics against pyarrow's own, and a dictionary
/// page no larger than the case's bound (header included) when it gives one.
/// With `chunk_rows` (the tables' size), also the integer chunks' statistics
/// and the pages of every fixed-width chunk against pyarrow's for the same
/// tables and options.
fn verify_with_pyarrow(
    dir: &str,
    schema: &Schema,
    tables: &[Table],
    cases: Vec<(String, ParquetWriteOptions, Option<usize>)>,
    chunk_rows: Option<usize>,
) {
    let rows: usize = tables.iter().map(|t| t.n_rows).sum();
    let dir = TempDir::new(dir);
    let count = cases.len();
    let mut manifest = Vec::new();
    for (name, options, max_dictionary_page_bytes) in cases {
        let (compression, dictionary) = (options.compression, options.dictionary);
        let (row_group_rows, dictionary_page_bytes) =
            (options.row_group_rows, options.dictionary_page_bytes);
        let mut w = ParquetWriter::new(Vec::new(), schema, options).unwrap();
        for t in tables {
            w.write(t).unwrap();
        }
        let bytes = w.finish().unwrap();
        let data = format!("{name}.parquet");
        std::fs::write(dir.path().join(&data), &bytes).unwrap();
        let doc = expect_doc("parquet", schema, tables, false).unwrap();
        let expect = format!("{name}.json");
        std::fs::write(
            dir.path().join(&expect),
            serde_json::to_vec_pretty(&doc).unwrap(),
        )
        .unwrap();
        manifest.push(json!({
            "name": name,
            "data": data,
            "expect": expect,
            "compression": compression_name(compression),
            "dictionary": dictionary,
            "row_groups": rows.div_ceil(row_group_rows),
            "max_dictionary_page_bytes": max_dictionary_page_bytes,
            "row_group_rows": row_group_rows,
            "dictionary_page_bytes": dictionary_page_bytes,
            "chunk_rows": chunk_rows,
        }));
    }
    let manifest: Value = json!({ "cases": manifest });
    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    let out = run_python(
        "parquet_oracle.py",
        &[os("verify".as_ref()), os(dir.path())],
    );
    assert!(out.contains(&format!("verified {count} files")), "{out}");
}

/// A table of `schema` with these columns.
fn table_of(schema: &Schema, arrays: Vec<Array>) -> Table {
    let cols = schema
        .fields
        .iter()
        .zip(arrays)
        .map(|(f, a)| FieldArray::new_arc(f.clone(), a))
        .collect();
    Table::new("t", Some(cols))
}

fn field(name: &str, dtype: ArrowType, nullable: bool) -> Arc<Field> {
    Arc::new(Field::new(name, dtype, nullable, None))
}

/// Rows of the string encoder's cases: table `t` of 3, rows `start..start+n`.
fn string_table(schema: &Schema, t: usize, start: usize, n: usize) -> Table {
    let words = [
        "",
        "a",
        "é",
        "日本語",
        "🦀 crab",
        "b",
        "naïve",
        "",
        "zzz",
        "Ω",
    ];
    let valid: Vec<bool> = (start..start + n).map(|i| i % 7 != 3).collect();
    let text: Vec<String> = (start..start + n)
        .map(|i| {
            format!(
                "{}{}",
                words[i % words.len()],
                if i % 5 == 0 { "" } else { "x" }
            )
        })
        .collect();
    // Unique values: the dictionary passes its limit after a few hundred rows.
    let unique: Vec<String> = (start..start + n).map(|i| format!("v{i:06}-ü")).collect();
    // A categorical with a different dictionary in each table (reordered,
    // overlapping, with unused entries), keys into it.
    let dicts: [&[&str]; 3] = [
        &["red", "green", "blue"],
        &["blue", "cyan", "red", "", "grün"],
        &["magenta", "🦀", "green", "unused"],
    ];
    let dict = dicts[t];
    let used = if t == 2 { 3 } else { dict.len() };
    let keys: Vec64<u32> = (start..start + n)
        .map(|i| ((i * 7) % used) as u32)
        .collect();
    let arrays = vec![
        Array::from_string32(StringArray::<u32>::from_vec(
            text.iter().map(String::as_str).collect(),
            Some(Bitmask::from_bools(&valid)),
        )),
        Array::from_string32(StringArray::<u32>::from_vec(
            vec![""; n],
            Some(Bitmask::from_bools(&vec![false; n])),
        )),
        Array::from_string64(StringArray::<u64>::from_vec(
            unique.iter().map(String::as_str).collect(),
            None,
        )),
        Array::TextArray(TextArray::Categorical32(Arc::new(
            CategoricalArray::<u32>::new(
                keys,
                dict.iter().map(|s| s.to_string()).collect(),
                Some(Bitmask::from_bools(&valid)),
            ),
        ))),
        Array::TextArray(TextArray::Categorical8(Arc::new(
            CategoricalArray::<u8>::new(
                Vec64::from(vec![0u8; n]),
                vec!["only".to_string()].into(),
                Some(Bitmask::from_bools(&vec![false; n])),
            ),
        ))),
    ];
    table_of(schema, arrays)
}

/// The string / categorical encoder (encode.rs) against pyarrow: nulls, empty and
/// non-ASCII strings, all-null columns, a categorical whose tables each bring another
/// dictionary into one row group (and across row groups), and the fallback to PLAIN
/// pages when a dictionary passes `dictionary_page_bytes`.
#[test]
fn pyarrow_reads_our_string_and_categorical_pages() {
    let schema = Schema::new(
        vec![
            field("s", ArrowType::String, true),
            field("all_null", ArrowType::String, true),
            field("unique", ArrowType::LargeString, false),
            field(
                "cat",
                ArrowType::Dictionary(CategoricalIndexType::UInt32),
                true,
            ),
            field(
                "cat_null",
                ArrowType::Dictionary(CategoricalIndexType::UInt8),
                true,
            ),
        ],
        Default::default(),
    );
    // 3 tables of 15,000 rows: data pages of 20,000 rows end inside the tables.
    let tables: Vec<Table> = (0..3)
        .map(|t| string_table(&schema, t, t * 15_000, 15_000))
        .collect();
    let mut cases = Vec::new();
    for (compression, row_group_rows) in [
        (ParquetCompression::None, 1 << 20),
        (ParquetCompression::Snappy, 20_000),
        (ParquetCompression::Zstd(1), 7_000),
    ] {
        let name = compression_name(compression);
        let options = ParquetWriteOptions {
            compression,
            row_group_rows,
            ..Default::default()
        };
        cases.push((format!("{name}_rg{row_group_rows}"), options.clone(), None));
        // A 4 KiB dictionary limit: `unique` falls back to PLAIN after about 300
        // values (checked at most 1,024 rows late, as the crate and pyarrow do).
        let small = ParquetWriteOptions {
            dictionary_page_bytes: 4096,
            data_page_bytes: 8192,
            ..options
        };
        cases.push((
            format!("{name}_rg{row_group_rows}_fallback"),
            small,
            Some(4096 + 1024 * 16 + 64),
        ));
    }
    verify_with_pyarrow("parquet-strings-to-pyarrow", &schema, &tables, cases, None);
}

/// Rows `start..start+n` of the numeric encoder's cases (see below).
fn numeric_table(schema: &Schema, start: usize, n: usize) -> Table {
    let rows = start..start + n;
    let valid: Vec<bool> = rows
        .clone()
        .map(|i| (i * 2_654_435_761) % 10 != 0)
        .collect();
    let mask = || Some(Bitmask::from_bools(&valid));
    let none = || Some(Bitmask::from_bools(&vec![false; n]));
    let special = [
        f64::NAN,
        -0.0,
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -f64::NAN,
    ];
    let float = |i: usize| {
        if i % 97 == 0 {
            special[(i / 97) % special.len()]
        } else {
            ((i * 7919) % 1000) as f64 / 8.0 - 60.0
        }
    };
    let arrays = vec![
        Array::from_int8(IntegerArray::from_vec(
            rows.clone().map(|i| (i % 251) as i8).collect(),
            mask(),
        )),
        Array::from_int16(IntegerArray::from_vec(
            rows.clone().map(|i| (i * 31) as i16).collect(),
            None,
        )),
        Array::from_int32(IntegerArray::from_vec(
            rows.clone()
                .map(|i| ((i * 7919) % 3000) as i32 - 1500)
                .collect(),
            mask(),
        )),
        // Unique: the dictionary gives up at 131,072 entries (or at the small limit).
        Array::from_int64(IntegerArray::from_vec(
            rows.clone()
                .map(|i| i as i64 * 1_000_003 - (1 << 40))
                .collect(),
            None,
        )),
        Array::from_uint8(IntegerArray::from_vec(
            rows.clone().map(|i| (i % 200) as u8).collect(),
            mask(),
        )),
        Array::from_uint16(IntegerArray::from_vec(
            rows.clone().map(|i| (i * 13) as u16).collect(),
            None,
        )),
        Array::from_uint32(IntegerArray::from_vec(
            rows.clone()
                .map(|i| u32::MAX - (i % 5000) as u32 * 3)
                .collect(),
            mask(),
        )),
        Array::from_uint64(IntegerArray::from_vec(
            rows.clone()
                .map(|i| (1 << 63) + (i as u64 % 700) * 11)
                .collect(),
            None,
        )),
        Array::from_float32(FloatArray::from_vec(
            rows.clone().map(|i| float(i) as f32).collect(),
            mask(),
        )),
        Array::from_float64(FloatArray::from_vec(
            rows.clone().map(float).collect(),
            mask(),
        )),
        Array::from_float64(FloatArray::from_vec(vec![0.0; n], none())),
        Array::from_int32(IntegerArray::from_vec(vec![7; n], none())),
        Array::from_datetime_i32(DatetimeArray::new(
            rows.clone()
                .map(|i| (i % 4000) as i32 - 2000)
                .collect::<Vec64<_>>(),
            mask(),
            Some(TimeUnit::Days),
        )),
        Array::from_datetime_i64(DatetimeArray::new(
            rows.clone()
                .map(|i| (i as i64 % 900 - 450) * 86_400_000)
                .collect::<Vec64<_>>(),
            None,
            Some(TimeUnit::Milliseconds),
        )),
        Array::from_datetime_i32(DatetimeArray::new(
            rows.clone()
                .map(|i| (i % 86_400) as i32)
                .collect::<Vec64<_>>(),
            mask(),
            Some(TimeUnit::Seconds),
        )),
        Array::from_datetime_i64(DatetimeArray::new(
            rows.clone()
                .map(|i| i as i64 * 1_000_017)
                .collect::<Vec64<_>>(),
            None,
            Some(TimeUnit::Microseconds),
        )),
        Array::from_datetime_i64(DatetimeArray::new(
            rows.clone()
                .map(|i| (i as i64 % 10_000) * 1_000)
                .collect::<Vec64<_>>(),
            mask(),
            Some(TimeUnit::Seconds),
        )),
    ];
    table_of(schema, arrays)
}

/// Our numeric and temporal encoder (encode.rs) against pyarrow: every type that
/// takes it, nulls, all-null columns, NaN of both signs, -0.0 and infinities,
/// unsigned values above the signed range, a dictionary that falls back to PLAIN
/// mid-chunk (at 64 KiB and at 4 KiB) and none at all. pyarrow reads the
/// values; the integer chunks' statistics equal pyarrow's min / max / null count;
/// and pyarrow, writing the same tables with the same options, gives every
/// fixed-width chunk the same pages (dictionary entries, fallback page, rows and
/// encoding of each page).
#[test]
fn pyarrow_reads_our_numeric_pages_and_writes_the_same() {
    let schema = Schema::new(
        vec![
            field("i8", ArrowType::Int8, true),
            field("i16", ArrowType::Int16, false),
            field("i32", ArrowType::Int32, true),
            field("i64_unique", ArrowType::Int64, false),
            field("u8", ArrowType::UInt8, true),
            field("u16", ArrowType::UInt16, false),
            field("u32", ArrowType::UInt32, true),
            field("u64", ArrowType::UInt64, false),
            field("f32", ArrowType::Float32, true),
            field("f64", ArrowType::Float64, true),
            field("f64_null", ArrowType::Float64, true),
            field("i32_null", ArrowType::Int32, true),
            field("date32", ArrowType::Date32, true),
            field("date64", ArrowType::Date64, false),
            field("time32_s", ArrowType::Time32(TimeUnit::Seconds), true),
            field(
                "ts_us",
                ArrowType::Timestamp(TimeUnit::Microseconds, Some("UTC".into())),
                false,
            ),
            field("ts_s", ArrowType::Timestamp(TimeUnit::Seconds, None), true),
        ],
        Default::default(),
    );
    // 3 tables of 15,000 rows: pages of 20,000 rows end inside the tables;
    // at 64 KiB the unique column falls back after 8,192 values, inside the
    // first table, at 4 KiB most columns do. (pyarrow's 1 MiB fallback on
    // 131,072 INT64 values was checked the same way on the bench's file.)
    const ROWS: usize = 15_000;
    let tables: Vec<Table> = (0..3)
        .map(|t| numeric_table(&schema, t * ROWS, ROWS))
        .collect();
    let mut cases = Vec::new();
    for (compression, row_group_rows, dictionary, dictionary_page_bytes) in [
        (ParquetCompression::Snappy, 1 << 20, true, 1 << 20),
        (ParquetCompression::Snappy, 1 << 20, true, 1 << 16),
        (ParquetCompression::Zstd(1), 25_000, true, 4096),
        (ParquetCompression::None, 1 << 20, false, 1 << 20),
    ] {
        let options = ParquetWriteOptions {
            compression,
            row_group_rows,
            dictionary,
            dictionary_page_bytes,
            ..Default::default()
        };
        let name = format!(
            "{}_rg{row_group_rows}_dict{}",
            compression_name(compression),
            if dictionary { dictionary_page_bytes } else { 0 }
        );
        cases.push((name, options, None));
    }
    verify_with_pyarrow(
        "parquet-numbers-to-pyarrow",
        &schema,
        &tables,
        cases,
        Some(ROWS),
    );
}

/// Everything a reader opened by `open` gives until it ends: the tables,
/// then the error that ended it (an `Error::Parquet`) or of a failed open.
fn outcome<I: Iterator<Item = lightstream::Result<Table>>>(
    open: lightstream::Result<I>,
) -> (Vec<Table>, Option<String>) {
    let reader = match open {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e.to_string())),
    };
    let mut tables = Vec::new();
    for t in reader {
        match t {
            Ok(t) => tables.push(t),
            Err(e) => {
                assert!(matches!(e, lightstream::Error::Parquet(_)), "{e:?}");
                return (tables, Some(e.to_string()));
            }
        }
    }
    (tables, None)
}

/// Asserts that two outcomes hold the same tables (values, batch
/// boundaries) and the same error.
fn assert_same(
    label: &str,
    got: &(Vec<Table>, Option<String>),
    want: &(Vec<Table>, Option<String>),
) {
    assert_eq!(got.1, want.1, "{label}: another error");
    assert_eq!(
        got.0.len(),
        want.0.len(),
        "{label}: another number of tables"
    );
    for (k, (g, w)) in got.0.iter().zip(&want.0).enumerate() {
        if let Err(d) = diff_tables(g, w) {
            panic!("{label}: table {k} differs:\n{d}");
        }
    }
}

/// `ParquetReader::open_mapped` (pages decompressed straight from the map, or
/// used in place when stored uncompressed) gives what `open` (pages read with
/// `pread`) and `from_bytes` give, on every file of pyarrow's oracle cases
/// (v1 and v2 pages, every codec, dictionary fallback, INT96, DELTA_*), whole
/// and (the page decoders' cases) in batches of 7 rows that cut pages and
/// row groups, and those equal
/// what pyarrow reads. A file cut short (its footer gone) or with bytes taken
/// out of its middle (its footer then points past the end) is an
/// `Error::Parquet` from all three, the same one, never a fault.
#[test]
fn mapped_file_and_bytes_inputs_read_alike() {
    let dir = TempDir::new("parquet-mapped");
    run_python("parquet_oracle.py", &[os("write".as_ref()), os(dir.path())]);
    let manifest = read_json(&dir.path().join("manifest.json"));
    let cases = manifest["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 12);
    let three = |path: &std::path::Path, options: &ParquetReadOptions| {
        let label = path.display().to_string();
        let bytes = lightstream_core::bytes::Bytes::from(std::fs::read(path).unwrap());
        (
            outcome(ParquetReader::open(path, options.clone())),
            outcome(ParquetReader::open_mapped(path, options.clone())),
            outcome(ParquetReader::from_bytes(bytes, label, options.clone())),
        )
    };
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let path = dir.path().join(case["data"].as_str().unwrap());
        // Batches that cut pages: on the page decoders' cases (the others
        // are the crate's or one page per chunk; kept to a few seconds).
        let small = case.get("batch_sizes").map(|_| 7);
        for batch_size in std::iter::once(usize::MAX).chain(small) {
            let options = ParquetReadOptions {
                batch_size,
                ..Default::default()
            };
            let label = format!("{name}, batches of {batch_size}");
            let (file, mapped, bytes) = three(&path, &options);
            assert_eq!(file.1, None, "{label}");
            assert!(!file.0.is_empty(), "{label}");
            assert_same(&format!("{label}: mapped"), &mapped, &file);
            assert_same(&format!("{label}: bytes"), &bytes, &file);
            if batch_size == usize::MAX && name != "int96" {
                let doc = read_json(&dir.path().join(case["expect"].as_str().unwrap()));
                let schema = ParquetReader::open_mapped(&path, options)
                    .unwrap()
                    .schema()
                    .clone();
                let problems = diff_against_doc(name, &doc, &schema, &mapped.0);
                assert!(problems.is_empty(), "{label}: {}", problems.join("\n"));
            }
        }
        // Cut short at a few places, and with bytes taken out of the middle.
        let whole = std::fs::read(&path).unwrap();
        let n = whole.len();
        let cut = dir.path().join(format!("{name}.cut.parquet"));
        let mut damaged: Vec<(String, Vec<u8>)> = [n - 1, n - 9, n / 2, 13, 4]
            .into_iter()
            .map(|len| (format!("cut to {len} bytes"), whole[..len].to_vec()))
            .collect();
        let mut gap = whole[..n / 3].to_vec();
        gap.extend_from_slice(&whole[n / 2..]);
        damaged.push(("middle sixth taken out".into(), gap));
        for (what, bytes) in damaged {
            std::fs::write(&cut, &bytes).unwrap();
            let label = format!("{name}, {what}");
            let options = ParquetReadOptions::default();
            let (file, mapped, bytes) = three(&cut, &options);
            let error = mapped
                .1
                .clone()
                .unwrap_or_else(|| panic!("{label}: no error"));
            assert!(
                error.contains(&cut.display().to_string()),
                "{label}: {error}"
            );
            assert_same(&format!("{label}: mapped"), &mapped, &file);
            assert_same(&format!("{label}: bytes"), &bytes, &file);
        }
    }
}
