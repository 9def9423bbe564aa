//! Conformance against Apache Arrow's gold integration files (`../shared/arrow-testing`).
//!
//! Every case of the producers `cpp-21.0.0`, `2.0.0-compression`, `4.0.0-shareddict` and
//! `1.0.0-bigendian` (from the shared corpus), and `0.14.1`, `0.17.1` and `1.0.0-littleendian`
//! (vendored in `tests/data/arrow-testing-legacy`; `generated_decimal256` left out) is read
//! as a stream (`read_stream`, `IpcStreamDecoder::push_shared`) and as a file
//! (`IpcFileReader`, `read_file`), from 64-byte aligned memory, (stream and file again)
//! from a buffer one byte off, with `ReadOptions::align_64`, and from a byte slice
//! (`read_ipc`), and checked against its integration JSON:
//! - every field of a type minarrow holds: schema (names, types, nullability, metadata,
//!   dictionary encodings) and every value, nulls included, must equal the JSON;
//! - otherwise the error must be `Unsupported` and name an unsupported field and its Arrow
//!   type, and a read projected onto the supported fields must give their exact values;
//! - big-endian data: correct values or a clear big-endian refusal, never wrong values.
//!
//! Also: pushing every stream in chunks of 1, 7, 64 and 4096 bytes gives exactly what
//! `read_stream` gives. The expected classification of every case is pinned in
//! `EXPECTED_FULL` / `EXPECTED_PROJECTED` so that a regression shows up by name.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};

use lightstream_core::minarrow::{Field, Table};
use lightstream_core::{
    Error, ErrorKind, IpcFileReader, ReadOptions, Schema, aligned_copy, read_file, read_ipc,
    read_stream,
};
use lightstream_tests::compare::{column_cells, describe_dictionary, diff_cells, diff_fields};
use lightstream_tests::corpus::{IntegrationCase, integration_cases, producer_cases};
use lightstream_tests::drive::{
    FieldSummary, decode_push_shared, decode_pushing, diff_decodes, misaligned_copy, read_options,
};
use lightstream_tests::integration_json::{
    IntegrationFile, JsonField, UnsupportedType, dictionary_values_are_large, expected_cells,
    expected_type, normalize,
};

/// Cases whose every field minarrow holds: they must decode fully, values checked.
/// (Little-endian producers only; big-endian cases may also be refused.)
const EXPECTED_FULL: &[(&str, &str)] = &[
    ("cpp-21.0.0", "generated_datetime"),
    ("cpp-21.0.0", "generated_decimal"),
    ("cpp-21.0.0", "generated_decimal32"),
    ("cpp-21.0.0", "generated_decimal64"),
    ("cpp-21.0.0", "generated_dictionary_unsigned"),
    ("cpp-21.0.0", "generated_duration"),
    ("cpp-21.0.0", "generated_null"),
    ("cpp-21.0.0", "generated_null_trivial"),
    ("cpp-21.0.0", "generated_primitive"),
    ("cpp-21.0.0", "generated_primitive_no_batches"),
    ("cpp-21.0.0", "generated_primitive_zerolength"),
    ("2.0.0-compression", "generated_lz4"),
    ("2.0.0-compression", "generated_uncompressible_lz4"),
    ("2.0.0-compression", "generated_uncompressible_zstd"),
    ("2.0.0-compression", "generated_zstd"),
    ("4.0.0-shareddict", "generated_shared_dict"),
    ("1.0.0-bigendian", "generated_datetime"),
    ("1.0.0-bigendian", "generated_decimal"),
    ("1.0.0-bigendian", "generated_dictionary_unsigned"),
    ("1.0.0-bigendian", "generated_null"),
    ("1.0.0-bigendian", "generated_null_trivial"),
    ("0.14.1", "generated_datetime"),
    ("0.14.1", "generated_decimal"),
    ("1.0.0-littleendian", "generated_datetime"),
    ("1.0.0-littleendian", "generated_decimal"),
    ("1.0.0-littleendian", "generated_dictionary_unsigned"),
    ("1.0.0-littleendian", "generated_null"),
    ("1.0.0-littleendian", "generated_null_trivial"),
];

/// Cases with some unsupported fields: the full read must fail `Unsupported`, and the read
/// projected onto these (supported) columns must decode with values checked.
const EXPECTED_PROJECTED: &[(&str, &str, &[usize])] = &[
    ("cpp-21.0.0", "generated_binary", &[2, 3]),
    ("cpp-21.0.0", "generated_binary_no_batches", &[2, 3]),
    ("cpp-21.0.0", "generated_binary_zerolength", &[2, 3]),
    // list_with_odd_values is a List<Int32>.
    ("cpp-21.0.0", "generated_custom_metadata", &[0, 1, 2]),
    // dict2 is Dictionary<Int16, Int64>: minarrow dictionaries hold strings only.
    ("cpp-21.0.0", "generated_dictionary", &[0, 1]),
    ("cpp-21.0.0", "generated_duplicate_fieldnames", &[0, 1]),
    ("cpp-21.0.0", "generated_extension", &[1]),
    ("cpp-21.0.0", "generated_large_binary", &[2, 3]),
    ("cpp-21.0.0", "generated_run_end_encoded", &[4]),
    ("1.0.0-bigendian", "generated_custom_metadata", &[0, 1, 2]),
    ("1.0.0-bigendian", "generated_dictionary", &[0, 1]),
    ("1.0.0-bigendian", "generated_duplicate_fieldnames", &[0, 1]),
    ("1.0.0-bigendian", "generated_extension", &[1]),
    ("1.0.0-bigendian", "generated_interval", &[0, 1, 2, 3]),
    (
        "1.0.0-bigendian",
        "generated_primitive",
        &[
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 24, 25,
        ],
    ),
    (
        "1.0.0-bigendian",
        "generated_primitive_large_offsets",
        &[2, 3],
    ),
    (
        "1.0.0-bigendian",
        "generated_primitive_no_batches",
        &[
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 24, 25,
        ],
    ),
    (
        "1.0.0-bigendian",
        "generated_primitive_zerolength",
        &[
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 24, 25,
        ],
    ),
    ("0.14.1", "generated_dictionary", &[0, 1]),
    ("0.14.1", "generated_interval", &[0, 1, 2, 3]),
    ("0.14.1", "generated_primitive", PRIMITIVE_SUPPORTED),
    (
        "0.14.1",
        "generated_primitive_no_batches",
        PRIMITIVE_SUPPORTED,
    ),
    (
        "0.14.1",
        "generated_primitive_zerolength",
        PRIMITIVE_SUPPORTED,
    ),
    (
        "1.0.0-littleendian",
        "generated_primitive",
        PRIMITIVE_SUPPORTED,
    ),
    (
        "1.0.0-littleendian",
        "generated_primitive_no_batches",
        PRIMITIVE_SUPPORTED,
    ),
    (
        "1.0.0-littleendian",
        "generated_primitive_zerolength",
        PRIMITIVE_SUPPORTED,
    ),
    (
        "1.0.0-littleendian",
        "generated_custom_metadata",
        &[0, 1, 2],
    ),
    ("1.0.0-littleendian", "generated_dictionary", &[0, 1]),
    (
        "1.0.0-littleendian",
        "generated_duplicate_fieldnames",
        &[0, 1],
    ),
    ("1.0.0-littleendian", "generated_extension", &[1]),
    ("1.0.0-littleendian", "generated_interval", &[0, 1, 2, 3]),
    (
        "1.0.0-littleendian",
        "generated_primitive_large_offsets",
        &[2, 3],
    ),
];

/// The fields of `generated_primitive*` minarrow holds (Binary and FixedSizeBinary are not).
const PRIMITIVE_SUPPORTED: &[usize] = &[
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 24, 25,
];

/// How one read of one case turned out (all read paths must agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Decoded and every value checked against the JSON.
    Decoded,
    /// Refused with an `Unsupported` error naming an unsupported field and its type.
    UnsupportedNamed,
    /// Refused because the data is big-endian (big-endian producer only).
    RefusedBigEndian,
    /// Something was wrong; see the case's failures.
    Failed,
}

#[derive(Debug)]
struct CaseReport {
    label: String,
    producer: String,
    name: String,
    /// Indices of the fields minarrow holds.
    supported: Vec<usize>,
    n_fields: usize,
    full: Outcome,
    projected: Option<Outcome>,
    /// The full read's error from `read_stream`, if any (printed by the summary).
    error: Option<String>,
    failures: Vec<String>,
}

type Pair = (Arc<Schema>, Vec<Table>);

/// The readers run on each case: name and result.
fn read_paths(
    stream: &lightstream_core::minarrow::SharedBuffer,
    file: &lightstream_core::minarrow::SharedBuffer,
    projection: Option<&[usize]>,
    fields_seen: &mut Vec<(&'static str, Vec<FieldSummary>)>,
) -> Vec<(&'static str, Result<Pair, Error>)> {
    let mut out = Vec::new();
    out.push((
        "read_stream",
        read_stream(stream.clone(), read_options(projection)),
    ));
    out.push((
        "IpcStreamDecoder::push_shared",
        decode_push_shared(stream, read_options(projection)).map(|d| {
            fields_seen.push(("IpcStreamDecoder::fields", d.fields.clone()));
            d.into_pair()
        }),
    ));
    out.push((
        "IpcFileReader",
        IpcFileReader::new(file.clone(), read_options(projection)).and_then(|r| {
            fields_seen.push(("IpcFileReader::fields", FieldSummary::of(r.fields())));
            let tables = (0..r.num_batches())
                .map(|i| r.read_batch(i))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((r.schema().clone(), tables))
        }),
    ));
    out.push((
        "read_file",
        read_file(file.clone(), read_options(projection)),
    ));
    out.push((
        "read_stream of a buffer at +1",
        read_stream(
            misaligned_copy(stream.as_slice(), 1),
            read_options(projection),
        ),
    ));
    out.push((
        "read_file of a buffer at +1",
        read_file(
            misaligned_copy(file.as_slice(), 1),
            read_options(projection),
        ),
    ));
    let align_64 = || ReadOptions {
        align_64: true,
        ..read_options(projection)
    };
    out.push((
        "read_stream with align_64",
        read_stream(stream.clone(), align_64()),
    ));
    out.push((
        "read_file with align_64",
        read_file(file.clone(), align_64()),
    ));
    for (source, bytes) in [
        ("read_ipc of the stream", stream),
        ("read_ipc of the file", file),
    ] {
        let read = read_ipc(bytes.as_slice(), read_options(projection));
        out.push((source, read.map(|r| (r.schema, r.tables))));
    }
    out
}

fn index_type_name(bits: u32, signed: bool) -> String {
    format!("{}Int{bits}", if signed { "" } else { "U" })
}

/// Checks a decoded schema and tables against the JSON, for the fields in `selected`.
fn check_decoded(
    json: &IntegrationFile,
    selected: &[usize],
    (schema, tables): &Pair,
    ctx: &str,
    failures: &mut Vec<String>,
) {
    let mut fail = |m: String| failures.push(format!("{ctx}: {m}"));
    let jfields: Vec<&JsonField> = selected.iter().map(|&i| &json.schema.fields[i]).collect();
    let expected_fields: Vec<Field> = jfields
        .iter()
        .map(|f| Field {
            name: f.name.clone(),
            dtype: expected_type(f).expect("selected fields are supported"),
            nullable: f.nullable,
            metadata: f.metadata.clone(),
        })
        .collect();

    // Schema.
    if schema.fields.len() != expected_fields.len() {
        fail(format!(
            "schema has {} fields, expected {}",
            schema.fields.len(),
            expected_fields.len()
        ));
        return;
    }
    for (i, (a, e)) in schema.fields.iter().zip(&expected_fields).enumerate() {
        for d in diff_fields(a, e) {
            fail(format!("schema field {i} ({:?}): {d}", e.name));
        }
    }
    if schema.metadata != json.schema.metadata {
        fail(format!(
            "schema metadata {:?}, expected {:?}",
            schema.metadata, json.schema.metadata
        ));
    }
    if schema.dictionaries.len() != expected_fields.len() {
        fail(format!(
            "schema has {} dictionary entries for {} fields",
            schema.dictionaries.len(),
            expected_fields.len()
        ));
    } else {
        for (i, f) in jfields.iter().enumerate() {
            let expected = match &f.dictionary {
                None => "none".to_string(),
                Some(d) => format!(
                    "id {} index {} large_values {} ordered {}",
                    d.id,
                    index_type_name(d.index_bit_width, d.index_signed),
                    dictionary_values_are_large(f),
                    d.ordered
                ),
            };
            let actual = describe_dictionary(schema.dictionaries[i].as_ref());
            if actual != expected {
                fail(format!(
                    "field {i} ({:?}) dictionary encoding: {actual}, expected {expected}",
                    f.name
                ));
            }
        }
    }

    // Tables.
    if tables.len() != json.batches.len() {
        fail(format!(
            "{} tables, expected {} batches",
            tables.len(),
            json.batches.len()
        ));
        return;
    }
    for (b, (table, batch)) in tables.iter().zip(&json.batches).enumerate() {
        if table.n_rows != batch.count {
            fail(format!(
                "batch {b}: {} rows, expected {}",
                table.n_rows, batch.count
            ));
            continue;
        }
        if !table.name.is_empty() {
            fail(format!(
                "batch {b}: table name {:?}, expected \"\"",
                table.name
            ));
        }
        if table.metadata != json.schema.metadata {
            fail(format!(
                "batch {b}: table metadata {:?}, expected the schema's {:?}",
                table.metadata, json.schema.metadata
            ));
        }
        if table.cols.len() != selected.len() {
            fail(format!(
                "batch {b}: {} columns, expected {}",
                table.cols.len(),
                selected.len()
            ));
            continue;
        }
        for (c, (col, &src)) in table.cols.iter().zip(selected).enumerate() {
            let jf = &json.schema.fields[src];
            let label = format!("batch {b} column {c} ({:?})", jf.name);
            for d in diff_fields(&col.field, &expected_fields[c]) {
                fail(format!("{label}: field {d}"));
            }
            let Some(jcol) = batch.columns.get(src) else {
                fail(format!("{label}: the JSON batch has no column {src}"));
                continue;
            };
            let expected = match expected_cells(json, jf, jcol) {
                Ok(e) => e,
                Err(e) => {
                    fail(format!("{label}: cannot read the expected values: {e}"));
                    continue;
                }
            };
            match column_cells(col, table.n_rows) {
                Ok(actual) => {
                    if let Err(d) = diff_cells(&actual, &expected) {
                        fail(format!("{label}: {d}"));
                    }
                }
                Err(e) => fail(format!("{label}: malformed column: {e}")),
            }
        }
    }
}

fn mentions_big_endian(e: &Error) -> bool {
    let t = normalize(&e.to_string());
    t.contains("bigendian") || t.contains("endianness")
}

/// Whether `e` names one of the unsupported fields and that field's Arrow type.
fn names_unsupported(e: &Error, unsupported: &[(&JsonField, &UnsupportedType)]) -> bool {
    let loc = e.location();
    let type_text = normalize(&format!(
        "{} {}",
        e.message(),
        loc.arrow_type.as_deref().unwrap_or("")
    ));
    unsupported.iter().any(|(f, u)| {
        let named = loc.field.as_deref() == Some(f.name.as_str())
            || e.message().contains(&format!("\"{}\"", f.name))
            || e.message().contains(&format!("'{}'", f.name))
            || e.message().contains(&format!("`{}`", f.name));
        named && u.keywords.iter().any(|k| type_text.contains(k.as_str()))
    })
}

/// Checks `fields()` of a reader against the JSON: every field, supported or not.
fn check_field_infos(
    json: &IntegrationFile,
    support: &[Result<lightstream_core::minarrow::ArrowType, UnsupportedType>],
    source: &str,
    infos: &[FieldSummary],
    failures: &mut Vec<String>,
) {
    if infos.len() != json.schema.fields.len() {
        failures.push(format!(
            "{source}: {} fields, expected {}",
            infos.len(),
            json.schema.fields.len()
        ));
        return;
    }
    for (i, (info, f)) in infos.iter().zip(&json.schema.fields).enumerate() {
        let want_supported = support[i].is_ok();
        if info.name != f.name || info.nullable != f.nullable || info.supported != want_supported {
            failures.push(format!(
                "{source}: field {i} is {info:?}, expected name {:?} nullable {} supported {}",
                f.name, f.nullable, want_supported
            ));
        }
        if let Err(u) = &support[i] {
            let t = normalize(&info.arrow_type);
            if !u.keywords.iter().any(|k| t.contains(k.as_str())) {
                failures.push(format!(
                    "{source}: field {i} ({:?}) arrow_type {:?} does not name its type {}",
                    f.name, info.arrow_type, u.description
                ));
            }
        }
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

fn check_case(case: &IntegrationCase) -> CaseReport {
    let json = case.load_json();
    let support: Vec<_> = json.schema.fields.iter().map(expected_type).collect();
    let supported: Vec<usize> = (0..support.len()).filter(|&i| support[i].is_ok()).collect();
    let unsupported: Vec<(&JsonField, &UnsupportedType)> = json
        .schema
        .fields
        .iter()
        .zip(&support)
        .filter_map(|(f, s)| s.as_ref().err().map(|u| (f, u)))
        .collect();
    let all_supported = unsupported.is_empty();
    let big_endian = case.is_big_endian();
    let stream = aligned_copy(&case.stream_bytes());
    let file = aligned_copy(&case.file_bytes());
    let mut failures = Vec::new();

    // Full read.
    let mut infos = Vec::new();
    let mut outcomes = Vec::new();
    let mut error = None;
    for (source, result) in read_paths(&stream, &file, None, &mut infos) {
        let ctx = format!("{} via {source}", case.label());
        if let (None, Err(e)) = (&error, &result) {
            error = Some(e.to_string());
        }
        let outcome = match &result {
            Ok(pair) if all_supported => {
                let before = failures.len();
                check_decoded(&json, &supported, pair, &ctx, &mut failures);
                if failures.len() == before {
                    Outcome::Decoded
                } else {
                    Outcome::Failed
                }
            }
            Ok(_) => {
                failures.push(format!(
                    "{ctx}: decoded although these fields are unsupported: {}",
                    unsupported
                        .iter()
                        .map(|(f, u)| format!("{:?} ({})", f.name, u.description))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                Outcome::Failed
            }
            Err(e)
                if big_endian
                    && matches!(e.kind(), ErrorKind::Unsupported | ErrorKind::Malformed)
                    && mentions_big_endian(e) =>
            {
                Outcome::RefusedBigEndian
            }
            Err(e) if !all_supported && e.kind() == ErrorKind::Unsupported => {
                if names_unsupported(e, &unsupported) {
                    Outcome::UnsupportedNamed
                } else {
                    failures.push(format!(
                        "{ctx}: the Unsupported error does not name an unsupported field and its \
                         Arrow type (unsupported: {}): {e} (location {:?})",
                        unsupported
                            .iter()
                            .map(|(f, u)| format!("{:?} {}", f.name, u.description))
                            .collect::<Vec<_>>()
                            .join(", "),
                        e.location()
                    ));
                    Outcome::Failed
                }
            }
            Err(e) => {
                failures.push(format!(
                    "{ctx}: {}: {e} (kind {:?})",
                    if all_supported {
                        "every field is supported, yet decoding failed"
                    } else {
                        "expected an Unsupported error"
                    },
                    e.kind()
                ));
                Outcome::Failed
            }
        };
        outcomes.push((source, outcome));
    }
    if all_supported {
        for (source, fields) in &infos {
            check_field_infos(&json, &support, source, fields, &mut failures);
        }
    }
    let full = agree(&case.label(), "full read", &outcomes, &mut failures);

    // Projected read onto the supported fields.
    let projected = if all_supported || supported.is_empty() {
        None
    } else {
        let mut infos = Vec::new();
        let mut outcomes = Vec::new();
        for (source, result) in read_paths(&stream, &file, Some(&supported), &mut infos) {
            let ctx = format!(
                "{} via {source} with projection {supported:?}",
                case.label()
            );
            let outcome = match &result {
                Ok(pair) => {
                    let before = failures.len();
                    check_decoded(&json, &supported, pair, &ctx, &mut failures);
                    if failures.len() == before {
                        Outcome::Decoded
                    } else {
                        Outcome::Failed
                    }
                }
                Err(e)
                    if big_endian
                        && matches!(e.kind(), ErrorKind::Unsupported | ErrorKind::Malformed)
                        && mentions_big_endian(e) =>
                {
                    Outcome::RefusedBigEndian
                }
                Err(e) => {
                    failures.push(format!(
                        "{ctx}: the supported columns failed to decode: {e} (kind {:?})",
                        e.kind()
                    ));
                    Outcome::Failed
                }
            };
            outcomes.push((source, outcome));
        }
        for (source, fields) in &infos {
            check_field_infos(&json, &support, source, fields, &mut failures);
        }
        Some(agree(
            &case.label(),
            "projected read",
            &outcomes,
            &mut failures,
        ))
    };

    CaseReport {
        label: case.label(),
        producer: case.producer.clone(),
        name: case.name.clone(),
        supported,
        n_fields: support.len(),
        full,
        projected,
        error,
        failures,
    }
}

/// The common outcome of all read paths; disagreement is a failure.
fn agree(
    label: &str,
    what: &str,
    outcomes: &[(&str, Outcome)],
    failures: &mut Vec<String>,
) -> Outcome {
    if outcomes.iter().any(|(_, o)| *o == Outcome::Failed) {
        return Outcome::Failed;
    }
    let first = outcomes[0].1;
    if outcomes.iter().any(|(_, o)| *o != first) {
        failures.push(format!(
            "{label}: the read paths disagree on the {what}: {outcomes:?}"
        ));
        return Outcome::Failed;
    }
    first
}

fn run_case(case: &IntegrationCase) -> CaseReport {
    match catch_unwind(AssertUnwindSafe(|| check_case(case))) {
        Ok(r) => r,
        Err(p) => CaseReport {
            label: case.label(),
            producer: case.producer.clone(),
            name: case.name.clone(),
            supported: Vec::new(),
            n_fields: 0,
            full: Outcome::Failed,
            projected: None,
            error: None,
            failures: vec![format!("{}: PANIC: {}", case.label(), panic_text(p))],
        },
    }
}

/// Every case's report, computed once per test binary.
fn reports() -> &'static [CaseReport] {
    static REPORTS: OnceLock<Vec<CaseReport>> = OnceLock::new();
    REPORTS.get_or_init(|| integration_cases().iter().map(run_case).collect())
}

fn assert_producer_clean(producer: &str) {
    // Listing the producer here fails clearly when its directory is missing.
    let n = producer_cases(producer).len();
    let reports: Vec<&CaseReport> = reports()
        .iter()
        .filter(|r| r.producer == producer)
        .collect();
    assert_eq!(reports.len(), n);
    let failures: Vec<&String> = reports.iter().flat_map(|r| &r.failures).collect();
    assert!(
        failures.is_empty(),
        "{} problem(s) in {producer}:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|f| format!("- {f}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn gold_cpp_21_0_0() {
    assert_producer_clean("cpp-21.0.0");
}

#[test]
fn gold_2_0_0_compression() {
    assert_producer_clean("2.0.0-compression");
}

#[test]
fn gold_4_0_0_shareddict() {
    assert_producer_clean("4.0.0-shareddict");
}

#[test]
fn gold_1_0_0_bigendian() {
    assert_producer_clean("1.0.0-bigendian");
}

/// Arrow C++ 0.14.1: pre-0.15 message prefixes (no continuation marker), V4 metadata, and
/// footers that leave the version out (read as V1) in three of its files.
#[test]
fn gold_0_14_1() {
    assert_producer_clean("0.14.1");
}

#[test]
fn gold_0_17_1() {
    assert_producer_clean("0.17.1");
}

#[test]
fn gold_1_0_0_littleendian() {
    assert_producer_clean("1.0.0-littleendian");
}

/// Prints what became of every case and pins the classification and outcomes.
#[test]
fn gold_summary() {
    let reports = reports();
    println!(
        "{:<50} {:>6}  {:<18} projected read",
        "case", "fields", "full read"
    );
    for r in reports {
        println!(
            "{:<50} {:>2}/{:<3}  {:<18} {}",
            r.label,
            r.supported.len(),
            r.n_fields,
            format!("{:?}", r.full),
            match r.projected {
                None => String::new(),
                Some(o) => format!("{o:?} {:?}", r.supported),
            }
        );
        if let Some(e) = &r.error {
            println!("    error: {e}");
        }
    }

    let full: BTreeMap<(&str, &str), ()> = EXPECTED_FULL.iter().map(|&k| (k, ())).collect();
    let projected: BTreeMap<(&str, &str), &[usize]> = EXPECTED_PROJECTED
        .iter()
        .map(|&(p, n, cols)| ((p, n), cols))
        .collect();
    let mut problems = Vec::new();
    for r in reports {
        let key = (r.producer.as_str(), r.name.as_str());
        let be = r.producer.contains("bigendian");
        let ok_full = |o: Outcome| o == Outcome::Decoded || (be && o == Outcome::RefusedBigEndian);
        if full.contains_key(&key) {
            if r.supported.len() != r.n_fields {
                problems.push(format!(
                    "{}: listed as fully supported but only fields {:?} of {} are",
                    r.label, r.supported, r.n_fields
                ));
            }
            if !ok_full(r.full) {
                problems.push(format!(
                    "{}: expected a full decode, got {:?}",
                    r.label, r.full
                ));
            }
        } else if let Some(cols) = projected.get(&key) {
            if r.supported != *cols {
                problems.push(format!(
                    "{}: expected supported fields {cols:?}, the JSON says {:?}",
                    r.label, r.supported
                ));
            }
            let ok_err =
                r.full == Outcome::UnsupportedNamed || (be && r.full == Outcome::RefusedBigEndian);
            if !ok_err {
                problems.push(format!(
                    "{}: expected an Unsupported error naming the field, got {:?}",
                    r.label, r.full
                ));
            }
            if !r.projected.is_some_and(ok_full) {
                problems.push(format!(
                    "{}: expected the projection {cols:?} to decode, got {:?}",
                    r.label, r.projected
                ));
            }
        } else {
            if !r.supported.is_empty() {
                problems.push(format!(
                    "{}: not listed, yet fields {:?} are supported: add it to EXPECTED_*",
                    r.label, r.supported
                ));
            }
            let ok_err =
                r.full == Outcome::UnsupportedNamed || (be && r.full == Outcome::RefusedBigEndian);
            if !ok_err {
                problems.push(format!(
                    "{}: expected an Unsupported error naming the field, got {:?}",
                    r.label, r.full
                ));
            }
        }
    }
    for &(p, n) in EXPECTED_FULL {
        if !reports.iter().any(|r| r.producer == p && r.name == n) {
            problems.push(format!("{p}/{n} is listed but not in the corpus"));
        }
    }
    for &(p, n, _) in EXPECTED_PROJECTED {
        if !reports.iter().any(|r| r.producer == p && r.name == n) {
            problems.push(format!("{p}/{n} is listed but not in the corpus"));
        }
    }
    let decoded_fully = reports
        .iter()
        .filter(|r| r.full == Outcome::Decoded)
        .count();
    println!(
        "{} cases, {decoded_fully} decoded fully with values checked",
        reports.len()
    );
    assert!(
        problems.is_empty(),
        "{} summary problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Pushing a stream in chunks gives exactly what `read_stream` gives.
#[test]
fn chunked_push_matches_read_stream() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for case in integration_cases() {
        let bytes = case.stream_bytes();
        let shared = aligned_copy(&bytes);
        let json = case.load_json();
        let supported: Vec<usize> = json
            .schema
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| expected_type(f).is_ok())
            .map(|(i, _)| i)
            .collect();
        let mut projections: Vec<Option<&[usize]>> = vec![None];
        if !supported.is_empty() && supported.len() < json.schema.fields.len() {
            projections.push(Some(&supported));
        }
        for projection in projections {
            let result = catch_unwind(AssertUnwindSafe(|| {
                let reference = read_stream(shared.clone(), read_options(projection));
                let mut out = Vec::new();
                for chunk in [1usize, 7, 64, 4096] {
                    let pushed = decode_pushing(&bytes, chunk, read_options(projection))
                        .map(|d| d.into_pair());
                    out.push((
                        format!("push in {chunk}-byte chunks"),
                        diff_decodes(&pushed, &reference),
                    ));
                }
                let shared_push =
                    decode_push_shared(&shared, read_options(projection)).map(|d| d.into_pair());
                out.push((
                    "push_shared".to_string(),
                    diff_decodes(&shared_push, &reference),
                ));
                out
            }));
            match result {
                Ok(diffs) => {
                    for (how, d) in diffs {
                        checked += 1;
                        if let Err(d) = d {
                            problems.push(format!(
                                "{} (projection {projection:?}) {how}: {d}",
                                case.label()
                            ));
                        }
                    }
                }
                Err(p) => problems.push(format!(
                    "{} (projection {projection:?}): PANIC: {}",
                    case.label(),
                    panic_text(p)
                )),
            }
        }
    }
    println!("{checked} chunked decodes compared with read_stream");
    assert!(
        problems.is_empty(),
        "{} chunked-push problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// A missing corpus must fail, not skip: the locator panics with a clear message.
#[test]
fn missing_corpus_fails_loudly() {
    let result = catch_unwind(|| {
        lightstream_tests::corpus::arrow_testing_dir_at(std::path::Path::new(
            "/nonexistent/arrow-testing",
        ))
    });
    let err = result.expect_err("a missing corpus must panic");
    let msg = panic_text(err);
    assert!(
        msg.contains("/nonexistent/arrow-testing") && msg.contains("LIGHTSTREAM_ARROW_TESTING"),
        "unclear message: {msg}"
    );
}
