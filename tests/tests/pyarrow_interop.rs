//! Interop with pyarrow (Arrow C++, the reference implementation), both ways.
//!
//! - pyarrow -> Lightstream: `tests/python/pyarrow_write.py` writes IPC streams and files
//!   (every supported type, nulls, metadata, slices, several batches, dictionary
//!   replacement and deltas, uncompressed / ZSTD / LZ4_FRAME) plus the expected values as
//!   JSON; Lightstream reads each with `read_stream` / `read_file`, from aligned and from
//!   misaligned memory, with `IpcStreamDecoder::push` in small chunks, with `push_shared`
//!   and with `IpcFileReader` in random order, and every value is compared. Streams read
//!   from shared memory (`read_stream`, `push_shared`) must be read in place: every
//!   buffer borrowed from the input except `Decimal128` values not 16-byte aligned there,
//!   with `bytes_borrowed` / `bytes_copied` saying exactly that.
//! - Lightstream -> pyarrow: minarrow tables of every supported type are written with every
//!   `Compression` and alignments 64 and 8; `tests/python/pyarrow_verify.py` opens each
//!   with pyarrow, runs `validate(full=True)`, compares schema and values with the JSON
//!   written next to it, and checks that every buffer lies at a multiple of the alignment.
//!
//! pyarrow must be installed (`python3 -m pip install pyarrow`): without it these tests
//! fail with that instruction; they never skip.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lightstream_core::minarrow::{SharedBuffer, Table};
use lightstream_core::{
    Compression, ErrorKind, IpcFileEncoder, IpcFileReader, IpcStreamEncoder, Projection,
    ReadOptions, Schema, WriteOptions, aligned_copy, is_ipc_file, read_file, read_stream,
    write_file, write_stream,
};
use lightstream_tests::drive::{column_buffers, decode_push_shared, decode_pushing};
use lightstream_tests::interop::{
    DICT_CHANGES, DICT_GROWTH, TempDir, dictionary_tables, diff_against_doc, expect_doc,
    interop_all_types, os, read_json, run_python, write_case,
};
use serde_json::{Value, json};

/// Every Arrow type Lightstream supports, as pyarrow names it: the pyarrow corpus must
/// contain each one (so a shrunken corpus cannot pass quietly).
const REQUIRED_TYPES: &[&str] = &[
    "null",
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float",
    "double",
    "string",
    "large_string",
    "dictionary<values=string, indices=int8, ordered=0>",
    "dictionary<values=string, indices=int16, ordered=0>",
    "dictionary<values=string, indices=int32, ordered=0>",
    "dictionary<values=string, indices=int64, ordered=0>",
    "dictionary<values=string, indices=uint8, ordered=0>",
    "dictionary<values=string, indices=uint16, ordered=0>",
    "dictionary<values=string, indices=uint32, ordered=0>",
    "dictionary<values=string, indices=uint64, ordered=0>",
    "dictionary<values=large_string, indices=int32, ordered=0>",
    "date32[day]",
    "date64[ms]",
    "time32[s]",
    "time32[ms]",
    "time64[us]",
    "time64[ns]",
    "timestamp[s]",
    "timestamp[ms]",
    "timestamp[us]",
    "timestamp[ns]",
    "timestamp[s, tz=UTC]",
    "timestamp[ns, tz=Europe/Paris]",
    "duration[s]",
    "duration[ms]",
    "duration[us]",
    "duration[ns]",
    "decimal32(9, 2)",
    "decimal64(18, 4)",
    "decimal128(38, 10)",
];

/// `bytes` in 64-byte aligned memory.
fn aligned(bytes: &[u8]) -> SharedBuffer {
    aligned_copy(bytes)
}

/// `bytes` starting one byte past a 64-byte boundary: every body is misaligned, so the
/// reader must copy (never reject, never misread).
fn misaligned(bytes: &[u8]) -> SharedBuffer {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.push(0xAA);
    v.extend_from_slice(bytes);
    let buf = aligned_copy(&v).slice(1..);
    assert_eq!(
        buf.as_slice().as_ptr() as usize % 8,
        1,
        "test setup: not misaligned"
    );
    buf
}

type Decoded = lightstream_core::Result<(Arc<Schema>, Vec<Table>)>;

/// Compares one way of reading a case with its expectation; records every difference.
fn record(problems: &mut Vec<String>, label: &str, how: &str, doc: &Value, result: Decoded) {
    match result {
        Ok((schema, tables)) => problems.extend(diff_against_doc(
            &format!("{label} [{how}]"),
            doc,
            &schema,
            &tables,
        )),
        Err(e) => problems.push(format!("{label} [{how}]: {e}")),
    }
}

/// Names of the fields a decoder reports as unsupported, from (name, supported) pairs.
fn unsupported_names<'a>(fields: impl IntoIterator<Item = (&'a str, bool)>) -> Vec<String> {
    fields
        .into_iter()
        .filter(|(_, supported)| !supported)
        .map(|(name, _)| name.to_string())
        .collect()
}

fn check_stream(
    label: &str,
    bytes: &[u8],
    doc: &Value,
    opts: &ReadOptions,
    unsupported: &[String],
    problems: &mut Vec<String>,
) {
    if is_ipc_file(bytes) {
        problems.push(format!("{label}: is_ipc_file says a stream is a file"));
    }
    record(
        problems,
        label,
        "read_stream aligned",
        doc,
        read_stream(aligned(bytes), opts.clone()),
    );
    record(
        problems,
        label,
        "read_stream misaligned",
        doc,
        read_stream(misaligned(bytes), opts.clone()),
    );
    let chunks: &[usize] = if bytes.len() > 100_000 {
        &[7, 4096]
    } else {
        &[1, 3, 64, 1000]
    };
    for &chunk in chunks {
        let how = format!("push in {chunk}-byte chunks");
        match decode_pushing(bytes, chunk, opts.clone()) {
            Ok(d) => {
                if !d.saw_end {
                    problems.push(format!(
                        "{label} [{how}]: no End item for pyarrow's end-of-stream marker"
                    ));
                }
                if unsupported_names(d.fields.iter().map(|f| (f.name.as_str(), f.supported)))
                    != unsupported
                {
                    problems.push(format!(
                        "{label} [{how}]: fields() reports unsupported {:?}, expected {unsupported:?}",
                        unsupported_names(d.fields.iter().map(|f| (f.name.as_str(), f.supported)))
                    ));
                }
                record(problems, label, &how, doc, Ok(d.into_pair()));
            }
            Err(e) => record(problems, label, &how, doc, Err(e)),
        }
    }
    // Read in place: pyarrow pads to 8, so every buffer is borrowed from the input but
    // Decimal128 values at an odd multiple of 8 (i128 needs 16), which alone are copied.
    let input = aligned(bytes);
    let compressed = !label.contains(".none.");
    if let Ok((_, tables)) = read_stream(input.clone(), opts.clone()) {
        let (_, _, misplaced) = placement(input.as_slice(), &tables, compressed);
        if !misplaced.is_empty() {
            problems.push(format!(
                "{label} [read_stream aligned]: copied {misplaced:?}"
            ));
        }
    }
    match decode_push_shared(&input, opts.clone()) {
        Ok(d) => {
            let (inside, copied, misplaced) = placement(input.as_slice(), &d.tables, compressed);
            if !misplaced.is_empty() {
                problems.push(format!("{label} [push_shared]: copied {misplaced:?}"));
            }
            if (d.bytes_borrowed, d.bytes_copied) != (inside, copied) {
                problems.push(format!(
                    "{label} [push_shared]: counters say {} bytes borrowed and {} copied; the \
                     tables hold {inside} bytes in the input, and {copied} of Decimal128 outside",
                    d.bytes_borrowed, d.bytes_copied
                ));
            }
            record(problems, label, "push_shared", doc, Ok(d.into_pair()));
        }
        Err(e) => record(problems, label, "push_shared", doc, Err(e)),
    }
}

/// Where the buffers of tables decoded from `input` lie: bytes inside `input`, bytes of
/// Decimal128 values outside it (copied: not 16-byte aligned there), and the other
/// buffers outside it, which an uncompressed stream must not have (a validity mask
/// made for keys that point at null dictionary entries aside). Compressed buffers are
/// decompressed into new memory: neither borrowed nor copied.
fn placement(input: &[u8], tables: &[Table], compressed: bool) -> (u64, u64, Vec<String>) {
    let (mut inside, mut copied, mut misplaced) = (0, 0, Vec::new());
    for (i, t) in tables.iter().enumerate() {
        for b in column_buffers(t) {
            if b.inside(input) {
                inside += b.len as u64;
            } else if compressed {
            } else if b.decimal128 {
                copied += b.len as u64;
            } else if b.what != "validity" {
                misplaced.push(format!("table {i} column {} {}", b.column, b.what));
            }
        }
    }
    (inside, copied, misplaced)
}

fn check_file(
    label: &str,
    bytes: &[u8],
    doc: &Value,
    opts: &ReadOptions,
    unsupported: &[String],
    problems: &mut Vec<String>,
) {
    if !is_ipc_file(bytes) {
        problems.push(format!("{label}: is_ipc_file says a file is not one"));
    }
    record(
        problems,
        label,
        "read_file aligned",
        doc,
        read_file(aligned(bytes), opts.clone()),
    );
    record(
        problems,
        label,
        "read_file misaligned",
        doc,
        read_file(misaligned(bytes), opts.clone()),
    );
    // Random access, last batch first.
    let random_access = IpcFileReader::new(aligned(bytes), opts.clone()).and_then(|r| {
        if unsupported_names(r.fields().iter().map(|f| (f.name.as_str(), f.supported)))
            != unsupported
        {
            return Err(lightstream_core::Error::new(
                ErrorKind::Unsupported,
                format!(
                    "fields() reports unsupported {:?}, expected {unsupported:?}",
                    unsupported_names(r.fields().iter().map(|f| (f.name.as_str(), f.supported)))
                ),
            ));
        }
        if let Some(footer) = doc.get("footer_metadata") {
            let expected: BTreeMap<String, String> =
                serde_json::from_value(footer.clone()).expect("footer_metadata is a string map");
            if r.metadata() != &expected {
                return Err(lightstream_core::Error::new(
                    ErrorKind::Schema,
                    format!("footer metadata {:?}, expected {expected:?}", r.metadata()),
                ));
            }
        }
        let n = r.num_batches();
        let mut tables: Vec<_> = (0..n)
            .rev()
            .map(|i| r.read_batch(i))
            .collect::<Result<_, _>>()?;
        tables.reverse();
        Ok((r.schema().clone(), tables))
    });
    record(
        problems,
        label,
        "IpcFileReader last batch first",
        doc,
        random_access,
    );
}

#[test]
fn lightstream_reads_what_pyarrow_writes() {
    let dir = TempDir::new("pyarrow-write");
    run_python("pyarrow_write.py", &[os(dir.path())]);
    let manifest = read_json(&dir.path().join("manifest.json"));
    let cases = manifest["cases"].as_array().expect("manifest.cases");
    assert!(
        cases.len() >= 53,
        "pyarrow_write.py wrote only {} cases",
        cases.len()
    );

    let mut seen_types = BTreeSet::new();
    let mut seen_cases = BTreeSet::new();
    let mut problems = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("case name");
        let format = case["format"].as_str().expect("case format");
        let bytes = std::fs::read(dir.path().join(case["data"].as_str().unwrap())).unwrap();
        let doc = read_json(&dir.path().join(case["expect"].as_str().unwrap()));
        for f in doc["schema"]["fields"].as_array().unwrap() {
            seen_types.insert(f["type"].as_str().unwrap().to_string());
        }
        seen_cases.insert(name.to_string());
        let projection: Option<Vec<usize>> = case
            .get("projection")
            .map(|p| serde_json::from_value(p.clone()).expect("projection is a list of indices"));
        let unsupported: Vec<String> = case
            .get("unsupported_fields")
            .map(|p| {
                serde_json::from_value(p.clone()).expect("unsupported_fields is a list of names")
            })
            .unwrap_or_default();
        let opts = ReadOptions {
            projection: projection.clone().map(Projection::Indices),
            ..ReadOptions::default()
        };
        match format {
            "stream" => check_stream(name, &bytes, &doc, &opts, &unsupported, &mut problems),
            "file" => check_file(name, &bytes, &doc, &opts, &unsupported, &mut problems),
            other => panic!("unknown format {other:?} in the manifest"),
        }
        if !unsupported.is_empty() {
            // Without the projection an unsupported column is an error that names it.
            let whole = if format == "stream" {
                read_stream(aligned(&bytes), ReadOptions::default()).map(|_| ())
            } else {
                read_file(aligned(&bytes), ReadOptions::default()).map(|_| ())
            };
            match whole {
                Ok(()) => problems.push(format!(
                    "{name}: read without a projection succeeded despite columns {unsupported:?}"
                )),
                Err(e)
                    if e.kind() != ErrorKind::Unsupported
                        || !unsupported.iter().any(|f| e.to_string().contains(&format!("{f:?}"))) =>
                {
                    problems.push(format!(
                        "{name}: reading unsupported columns {unsupported:?} should fail as Unsupported naming one, got {:?}: {e}",
                        e.kind()
                    ))
                }
                Err(_) => {}
            }
        }
    }

    let missing: Vec<_> = REQUIRED_TYPES
        .iter()
        .filter(|t| !seen_types.contains(**t))
        .collect();
    assert!(
        missing.is_empty(),
        "the pyarrow corpus lacks types {missing:?}"
    );
    for required in [
        "all_types.none.stream",
        "all_types.zstd.file",
        "all_types.lz4.stream",
        "sliced.lz4.file",
        "dict_replacement.zstd.stream",
        "dict_delta.none.stream",
        "dict_delta.lz4.file",
        "dict_delta_then_replace.none.stream",
        "empty.none.stream",
        "big.zstd.stream",
        "dict_null_values.lz4.file",
        "unsupported_projected.zstd.stream",
        "unsupported_projected.none.file",
        "v4.none.file",
        "legacy_framing.none.stream",
        "legacy_framing.none.file",
        "batch_metadata.none.stream",
    ] {
        assert!(
            seen_cases.contains(required),
            "the pyarrow corpus lacks case {required}"
        );
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) reading pyarrow's output:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn compression_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Lz4Frame => "lz4",
        Compression::Zstd => "zstd",
    }
}

/// The stream as `IpcStreamEncoder` produces it message by message (vectored writes).
fn stream_via_encoder(
    schema: &Schema,
    tables: &[lightstream_core::minarrow::Table],
    options: WriteOptions,
) -> Vec<u8> {
    let mut enc = IpcStreamEncoder::new(Arc::new(schema.clone()), options).expect("encoder");
    let mut out = Vec::new();
    let schema_msg = enc.schema_message().expect("schema message");
    assert_eq!(schema_msg.len(), schema_msg.to_vec().len());
    schema_msg.write_to(&mut out).unwrap();
    for t in tables {
        for m in enc.encode_table(t).expect("encode_table") {
            let sliced: usize = m.io_slices().iter().map(|s| s.len()).sum();
            assert_eq!(sliced, m.len(), "io_slices do not add up to len()");
            m.write_to(&mut out).unwrap();
        }
    }
    enc.end_of_stream().write_to(&mut out).unwrap();
    out
}

fn file_via_encoder(
    schema: &Schema,
    tables: &[lightstream_core::minarrow::Table],
    options: WriteOptions,
) -> Vec<u8> {
    let mut enc = IpcFileEncoder::new(Arc::new(schema.clone()), options).expect("file encoder");
    let mut out = Vec::new();
    enc.begin().expect("begin").write_to(&mut out).unwrap();
    for t in tables {
        for m in enc.encode_table(t).expect("encode_table") {
            m.write_to(&mut out).unwrap();
        }
    }
    out.extend(enc.finish().expect("finish"));
    out
}

/// Tables shaped the way other code may hand them to the writer, each with the
/// expectation of what pyarrow must read:
/// - `string_offsets_not_zero`: a string column whose offsets start at 5 (a window over
///   a larger data buffer, as a zero-copy slice would be);
/// - `null_column_count_zero`: a Null column built with `FieldArray::new` (null_count 0);
/// - `empty_dictionary`: an all-null categorical column over an empty dictionary;
/// - `bool_trailing_bits`: boolean values and validity with garbage bits past the length.
fn edge_cases() -> Vec<(&'static str, Schema, Vec<Table>, Value)> {
    use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
    use lightstream_core::minarrow::{
        Array, ArrowType, Bitmask, BooleanArray, CategoricalArray, Field, FieldArray, IntegerArray,
        StringArray, Vec64,
    };
    let table = |cols: Vec<FieldArray>, n: usize| {
        let mut t = Table::new("edge".to_string(), Some(cols));
        t.n_rows = n;
        t
    };
    let mut out = Vec::new();

    let s = StringArray::<u32>::new(
        Vec64::from(b"xxxxxhelloworld!".to_vec()),
        Some(Bitmask::from_bools(&[true, false, true])),
        Vec64::from(vec![5u32, 10, 10, 15]),
    );
    let t = table(
        vec![FieldArray::new(
            Field::new("s", ArrowType::String, true, None),
            Array::from_string32(s),
        )],
        3,
    );
    let schema = Schema::from_table(&t);
    let doc = expect_doc("stream", &schema, std::slice::from_ref(&t), true).unwrap();
    out.push(("string_offsets_not_zero", schema, vec![t], doc));

    let ints = FieldArray::new(
        Field::new("i", ArrowType::Int32, false, None),
        Array::from_int32(IntegerArray::<i32>::from_vec(vec![1, 2, 3], None)),
    );
    let nulls = FieldArray::new(Field::new("n", ArrowType::Null, true, None), Array::Null);
    assert_eq!(
        nulls.null_count, 0,
        "test setup: FieldArray::new counts no nulls in Array::Null"
    );
    let t = table(vec![ints, nulls], 3);
    let schema = Schema::from_table(&t);
    let mut counted = t.clone();
    counted.cols[1].null_count = 3;
    let doc = expect_doc("stream", &schema, &[counted], true).unwrap();
    out.push(("null_column_count_zero", schema, vec![t], doc));

    let c = CategoricalArray::<u32>::new(
        Vec64::from(vec![0u32, 0]),
        Vec64::new(),
        Some(Bitmask::from_bools(&[false, false])),
    );
    let t = table(
        vec![FieldArray::new(
            Field::new(
                "c",
                ArrowType::Dictionary(CategoricalIndexType::UInt32),
                true,
                None,
            ),
            Array::from_categorical32(c),
        )],
        2,
    );
    let schema = Schema::from_table(&t);
    let doc = expect_doc("stream", &schema, std::slice::from_ref(&t), true).unwrap();
    out.push(("empty_dictionary", schema, vec![t], doc));

    let b = BooleanArray::new(
        Bitmask::new(Vec64::from(vec![0b1111_1010u8]), 3),
        Some(Bitmask::new(Vec64::from(vec![0b1111_1101u8]), 3)),
    );
    let t = table(
        vec![FieldArray::new(
            Field::new("b", ArrowType::Boolean, true, None),
            Array::from_bool(b),
        )],
        3,
    );
    let schema = Schema::from_table(&t);
    let doc = expect_doc("stream", &schema, std::slice::from_ref(&t), true).unwrap();
    out.push(("bool_trailing_bits", schema, vec![t], doc));
    out
}

#[test]
fn pyarrow_reads_what_lightstream_writes() {
    let dir = TempDir::new("pyarrow-verify");
    let mut manifest = Vec::new();
    let (schema, tables) = interop_all_types();
    let (dict_schema, dict_tables) = dictionary_tables(&DICT_CHANGES);
    let (growth_schema, growth_tables) = dictionary_tables(&DICT_GROWTH);

    for compression in [Compression::None, Compression::Lz4Frame, Compression::Zstd] {
        let comp = compression_name(compression);
        for alignment in [64usize, 8] {
            let options = WriteOptions {
                compression,
                alignment,
                ..WriteOptions::default()
            };
            let tag = format!("{comp}.a{alignment}");

            let stream = write_stream(&schema, &tables, &options).expect("write_stream all types");
            assert!(
                stream == stream_via_encoder(&schema, &tables, options),
                "all_types.{tag}: IpcStreamEncoder and write_stream produce different bytes"
            );
            let doc = expect_doc("stream", &schema, &tables, true).unwrap();
            manifest.push(write_case(
                dir.path(),
                &format!("all_types.{tag}.stream"),
                "stream",
                &stream,
                &doc,
                alignment,
                comp,
            ));

            let file = write_file(&schema, &tables, &options).expect("write_file all types");
            assert!(
                file == file_via_encoder(&schema, &tables, options),
                "all_types.{tag}: IpcFileEncoder and write_file produce different bytes"
            );
            let doc = expect_doc("file", &schema, &tables, true).unwrap();
            manifest.push(write_case(
                dir.path(),
                &format!("all_types.{tag}.file"),
                "file",
                &file,
                &doc,
                alignment,
                comp,
            ));

            // Dictionaries that grow, stay, are replaced and grow again (stream only).
            let stream = write_stream(&dict_schema, &dict_tables, &options)
                .expect("write_stream dictionaries");
            let doc = expect_doc("stream", &dict_schema, &dict_tables, true).unwrap();
            manifest.push(write_case(
                dir.path(),
                &format!("dict_changes.{tag}.stream"),
                "stream",
                &stream,
                &doc,
                alignment,
                comp,
            ));

            // Growing dictionaries in a file (deltas). pyarrow applies every delta of a
            // file before the first batch, so per-batch dictionaries are not compared.
            let file = write_file(&growth_schema, &growth_tables, &options)
                .expect("write_file growing dictionaries");
            let doc = expect_doc("file", &growth_schema, &growth_tables, false).unwrap();
            manifest.push(write_case(
                dir.path(),
                &format!("dict_growth.{tag}.file"),
                "file",
                &file,
                &doc,
                alignment,
                comp,
            ));
        }

        // Grown dictionaries resent as replacements when deltas are off.
        let no_delta = WriteOptions {
            compression,
            allow_delta_dictionaries: false,
            ..WriteOptions::default()
        };
        let stream = write_stream(&dict_schema, &dict_tables, &no_delta)
            .expect("write_stream without deltas");
        let doc = expect_doc("stream", &dict_schema, &dict_tables, true).unwrap();
        manifest.push(write_case(
            dir.path(),
            &format!("dict_changes_no_delta.{comp}.stream"),
            "stream",
            &stream,
            &doc,
            64,
            comp,
        ));
    }

    for (name, schema, tables, doc) in edge_cases() {
        for (format, alignment) in [("stream", 64), ("file", 8)] {
            let options = WriteOptions {
                alignment,
                ..WriteOptions::default()
            };
            let bytes = if format == "stream" {
                write_stream(&schema, &tables, &options)
            } else {
                write_file(&schema, &tables, &options)
            }
            .unwrap_or_else(|e| panic!("{name}: write_{format}: {e}"));
            let mut doc = doc.clone();
            doc["format"] = json!(format);
            manifest.push(write_case(
                dir.path(),
                &format!("edge.{name}.{format}"),
                format,
                &bytes,
                &doc,
                alignment,
                "none",
            ));
        }
    }

    // Schema only, no batches.
    let empty_opts = WriteOptions::default();
    let stream = write_stream(&schema, &[], &empty_opts).expect("empty stream");
    let doc = expect_doc("stream", &schema, &[], true).unwrap();
    manifest.push(write_case(
        dir.path(),
        "empty.stream",
        "stream",
        &stream,
        &doc,
        64,
        "none",
    ));
    let file = write_file(&schema, &[], &empty_opts).expect("empty file");
    let doc = expect_doc("file", &schema, &[], true).unwrap();
    manifest.push(write_case(
        dir.path(),
        "empty.file",
        "file",
        &file,
        &doc,
        64,
        "none",
    ));

    // A replaced dictionary cannot go into an IPC file as it is: the writer unifies the
    // dictionaries (the values, not the dictionaries, must come back).
    let bytes = write_file(&dict_schema, &dict_tables, &WriteOptions::default())
        .unwrap_or_else(|e| panic!("write_file with a replaced dictionary: {e}"));
    let doc = expect_doc("file", &dict_schema, &dict_tables, false).unwrap();
    manifest.push(write_case(
        dir.path(),
        "dict_changes.file",
        "file",
        &bytes,
        &doc,
        64,
        "none",
    ));

    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec_pretty(&json!({ "cases": manifest })).unwrap(),
    )
    .unwrap();
    let out = run_python("pyarrow_verify.py", &[os(dir.path())]);
    assert!(
        out.contains(&format!("{} case(s) verified", manifest.len())),
        "pyarrow_verify.py did not verify every case:\n{out}"
    );
}

/// pyarrow -> Lightstream -> pyarrow: every table Lightstream decoded from pyarrow's corpus
/// (zero-copy slices of the input, dictionaries after deltas and replacements) is written
/// again and pyarrow must find exactly the original schema (types down to the signedness
/// of dictionary indices, metadata) and values.
#[test]
fn pyarrow_reads_what_lightstream_reencodes_from_pyarrow() {
    let source = TempDir::new("pyarrow-source");
    run_python("pyarrow_write.py", &[os(source.path())]);
    let target = TempDir::new("pyarrow-reencoded");
    let manifest = read_json(&source.path().join("manifest.json"));
    let mut out = Vec::new();
    for case in manifest["cases"].as_array().expect("manifest.cases") {
        let name = case["name"].as_str().unwrap();
        let format = case["format"].as_str().unwrap();
        let bytes = std::fs::read(source.path().join(case["data"].as_str().unwrap())).unwrap();
        let doc = read_json(&source.path().join(case["expect"].as_str().unwrap()));
        let opts = ReadOptions {
            projection: case
                .get("projection")
                .map(|p| Projection::Indices(serde_json::from_value(p.clone()).unwrap())),
            ..ReadOptions::default()
        };
        let options = WriteOptions {
            compression: if name.contains("zstd") {
                Compression::Zstd
            } else {
                Compression::None
            },
            ..WriteOptions::default()
        };
        let comp = compression_name(options.compression);
        let reencoded = if format == "stream" {
            let (schema, tables) = read_stream(aligned(&bytes), opts)
                .unwrap_or_else(|e| panic!("{name}: read_stream: {e}"));
            write_stream(&schema, &tables, &options)
        } else {
            let (schema, tables) = read_file(aligned(&bytes), opts)
                .unwrap_or_else(|e| panic!("{name}: read_file: {e}"));
            write_file(&schema, &tables, &options)
        }
        .unwrap_or_else(|e| panic!("{name}: writing the decoded tables again: {e}"));
        out.push(write_case(
            target.path(),
            &format!("reencoded.{name}"),
            format,
            &reencoded,
            &doc,
            64,
            comp,
        ));
    }
    std::fs::write(
        target.path().join("manifest.json"),
        serde_json::to_vec_pretty(&json!({ "cases": out })).unwrap(),
    )
    .unwrap();
    let report = run_python("pyarrow_verify.py", &[os(target.path())]);
    assert!(
        report.contains(&format!("{} case(s) verified", out.len())),
        "pyarrow_verify.py did not verify every case:\n{report}"
    );
}

/// pyarrow writes a stream whose batches were dictionary-encoded one by one
/// (`dictionary_encode()` per batch: a replacement dictionary with every batch), which
/// pyarrow's own file writer refuses. Lightstream's file writer unifies the dictionaries
/// into one per field that grows by deltas; pyarrow opens the file, `validate(full=True)`
/// passes and every value equals the original (`tests/python/dict_per_batch.py`). A stream
/// written with `unify_dictionaries` is checked the same way. The CLI's `convert` is
/// checked against the same script in `crates/lightstream-cli/tests/files.rs`.
#[test]
fn per_batch_dictionaries_become_a_file_pyarrow_reads() {
    let dir = TempDir::new("dict-per-batch");
    let stream = dir.path().join("per_batch.arrows");
    let expect = dir.path().join("expect.json");
    let arg = |s: &'static str| std::ffi::OsStr::new(s);
    run_python(
        "dict_per_batch.py",
        &[arg("write"), os(&stream), os(&expect)],
    );
    let bytes = std::fs::read(&stream).unwrap();
    let (schema, tables) = read_stream(aligned(&bytes), ReadOptions::default()).unwrap();
    let zstd_8 = WriteOptions {
        compression: Compression::Zstd,
        alignment: 8,
        ..WriteOptions::default()
    };
    let unify = WriteOptions {
        unify_dictionaries: true,
        ..WriteOptions::default()
    };
    for (name, bytes) in [
        (
            "file.arrow",
            write_file(&schema, &tables, &WriteOptions::default()),
        ),
        ("file_zstd_8.arrow", write_file(&schema, &tables, &zstd_8)),
        ("unified.arrows", write_stream(&schema, &tables, &unify)),
    ] {
        let bytes = bytes.unwrap_or_else(|e| panic!("{name}: {e}"));
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = run_python("dict_per_batch.py", &[arg("check"), os(&path), os(&expect)]);
        assert!(out.contains("ok: 7 batches, 19 rows"), "{name}: {out}");
    }
}
