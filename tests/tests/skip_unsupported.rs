//! Columns minarrow cannot hold, against pyarrow (issue 19): pyarrow writes streams and
//! files (uncompressed, LZ4, ZSTD) whose supported columns (int64, string, dictionary
//! string, timestamp) sit between list, large list, list view, fixed-size list, struct,
//! map, binary, large binary, fixed-size binary, binary/string view, dictionary of
//! binary, list of dictionary strings, sparse/dense union, run-end encoded and float16
//! columns (`tests/python/unsupported_oracle.py`). Every read path
//! (`read_ipc`, `read_ipc_shared`, `read_stream`, the push decoder fed in small chunks, `IpcFileReader`,
//! `read_file`) must:
//! - with `ReadOptions::skip_unsupported`, give exactly the supported columns with
//!   pyarrow's values, and name the others (with their Arrow types) in `skipped()`;
//! - with a projection by name, give those columns in the order asked, pyarrow's values;
//! - with neither, fail `Unsupported` naming the first unsupported column and its type.

use std::sync::Arc;

use lightstream_core::minarrow::Table;
use lightstream_core::{
    ErrorKind, FieldInfo, IpcFileReader, Projection, ReadOptions, Result, Schema, aligned_copy,
    read_file, read_ipc, read_ipc_shared, read_stream,
};
use lightstream_tests::drive::decode_pushing;
use lightstream_tests::interop::{TempDir, diff_against_doc, os, read_json, run_python};

/// The skipped columns, with the Arrow type names the decoder gives them.
const SKIPPED: &[(&str, &str)] = &[
    ("l", "List<Int32>"),
    ("ll", "LargeList<Utf8>"),
    ("lv", "ListView<Int16>"),
    ("fl", "FixedSizeList<Float64>(2)"),
    ("st", "Struct<a: Int32, b: Utf8>"),
    ("m", "Map<Struct<key: Utf8, value: Int32>>"),
    ("bin", "Binary"),
    ("lbin", "LargeBinary"),
    ("fsb", "FixedSizeBinary(3)"),
    ("bv", "BinaryView"),
    ("sv", "Utf8View"),
    ("dbin", "Dictionary<Int32, Binary>"),
    ("ldict", "List<Dictionary<Int16, Utf8>>"),
    ("su", "Union<x: Int32, y: Utf8>"),
    ("du", "Union<x: Int32, y: Utf8>"),
    ("ree", "RunEndEncoded<Int32, Utf8>"),
    ("h", "Float16"),
];

type Read = (Arc<Schema>, Vec<Table>, Vec<FieldInfo>);

/// Every read path's result for `bytes` (a stream or a file) with `options`.
fn read_all_ways(
    bytes: &[u8],
    file: bool,
    options: &ReadOptions,
) -> Vec<(&'static str, Result<Read>)> {
    let o = || options.clone();
    let mut out: Vec<(&'static str, Result<Read>)> = vec![(
        "read_ipc",
        read_ipc(bytes, o()).map(|r| (r.schema, r.tables, r.skipped)),
    )];
    let shared = aligned_copy(bytes);
    out.push((
        "read_ipc_shared",
        read_ipc_shared(shared.clone(), o()).map(|r| (r.schema, r.tables, r.skipped)),
    ));
    if file {
        out.push((
            "IpcFileReader",
            IpcFileReader::new(shared.clone(), o()).and_then(|r| {
                let tables = (0..r.num_batches())
                    .map(|i| r.read_batch(i))
                    .collect::<Result<Vec<_>>>()?;
                Ok((r.schema().clone(), tables, r.skipped().to_vec()))
            }),
        ));
        let skipped = IpcFileReader::new(shared.clone(), o()).map(|r| r.skipped().to_vec());
        out.push((
            "read_file",
            read_file(shared, o()).and_then(|(s, t)| Ok((s, t, skipped?))),
        ));
    } else {
        out.push((
            "push (13-byte chunks)",
            decode_pushing(bytes, 13, o()).map(|d| (d.schema, d.tables, d.skipped)),
        ));
        out.push((
            "read_stream",
            read_stream(shared, o()).map(|(s, t)| (s, t, Vec::new())),
        ));
    }
    out
}

#[test]
fn unsupported_columns_are_skipped_and_named_and_the_rest_equals_pyarrow() {
    let dir = TempDir::new("skip-unsupported");
    run_python("unsupported_oracle.py", &[os(dir.path())]);
    let manifest = read_json(&dir.path().join("manifest.json"));
    let cases = manifest["cases"].as_array().expect("manifest.cases");
    assert_eq!(cases.len(), 6, "stream and file, three compressions");
    let mut problems = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let file = case["format"] == "file";
        let path = dir.path().join(name);
        let bytes = std::fs::read(&path).unwrap();
        let supported = read_json(&dir.path().join(format!("{name}.supported.json")));
        let projected = read_json(&dir.path().join(format!("{name}.projected.json")));
        let expected_skipped: Vec<&str> = case["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            expected_skipped,
            SKIPPED.iter().map(|s| s.0).collect::<Vec<_>>(),
            "{name}: the oracle's unsupported columns"
        );

        // skip_unsupported (and Projection::Supported, its shorthand).
        for options in [
            ReadOptions {
                skip_unsupported: true,
                ..ReadOptions::default()
            },
            ReadOptions {
                projection: Some(Projection::Supported),
                ..ReadOptions::default()
            },
        ] {
            for (how, read) in read_all_ways(&bytes, file, &options) {
                let label = format!("{name} [{how}, {:?}]", options.projection);
                match read {
                    Ok((schema, tables, skipped)) => {
                        problems.extend(diff_against_doc(&label, &supported, &schema, &tables));
                        if how == "read_stream" {
                            continue; // no decoder to ask
                        }
                        let got: Vec<(&str, &str)> = skipped
                            .iter()
                            .map(|f| (f.name.as_str(), f.arrow_type.as_str()))
                            .collect();
                        if got != SKIPPED {
                            problems.push(format!("{label}: skipped {got:?}"));
                        }
                    }
                    Err(e) => problems.push(format!("{label}: {e}")),
                }
            }
        }

        // A projection by name, in the order given (and with skip_unsupported, a named
        // unsupported column is dropped and reported).
        for (columns, skip_unsupported) in [(vec!["s", "i"], false), (vec!["s", "m", "i"], true)] {
            let options = ReadOptions {
                projection: Some(Projection::Names(
                    columns.iter().map(|c| c.to_string()).collect(),
                )),
                skip_unsupported,
                ..ReadOptions::default()
            };
            for (how, read) in read_all_ways(&bytes, file, &options) {
                let label = format!("{name} [{how}, {columns:?}]");
                match read {
                    Ok((schema, tables, skipped)) => {
                        problems.extend(diff_against_doc(&label, &projected, &schema, &tables));
                        let names: Vec<&str> = skipped.iter().map(|f| f.name.as_str()).collect();
                        let want: &[&str] = if skip_unsupported && how != "read_stream" {
                            &["m"]
                        } else {
                            &[]
                        };
                        if names != want {
                            problems.push(format!("{label}: skipped {names:?}"));
                        }
                    }
                    Err(e) => problems.push(format!("{label}: {e}")),
                }
            }
        }

        // Neither: the first unsupported column, named with its type.
        for (how, read) in read_all_ways(&bytes, file, &ReadOptions::default()) {
            match read {
                Err(e)
                    if e.kind() == ErrorKind::Unsupported
                        && e.location().field.as_deref() == Some("l")
                        && e.location().arrow_type.as_deref() == Some("List<Int32>")
                        && e.message().contains("skip_unsupported") => {}
                Err(e) => problems.push(format!("{name} [{how}]: wrong error {:?}: {e}", e.kind())),
                Ok(_) => problems.push(format!("{name} [{how}]: read unsupported columns")),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
