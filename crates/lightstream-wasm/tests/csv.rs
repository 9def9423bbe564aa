//! CSV through the JS-facing API in headless Chrome (wasm-bindgen-test):
//! `decodeCsv` on a string and on bytes, every inferred type read back
//! through `Table` / `Column` as JavaScript sees them, `CsvDecoder` fed in odd
//! chunk sizes (strings and bytes, cut inside UTF-8 characters and quoted
//! fields) giving the same tables, bad rows as `Error`s naming the line, the
//! `badRows` policies' counters and the checking of options.
//!
//! Run: `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p lightstream-wasm --target wasm32-unknown-unknown`
#![cfg(all(target_arch = "wasm32", feature = "csv"))]

use js_sys::{
    Array as JsArray, BigInt64Array, Float64Array, Int32Array, Object, Reflect, Uint8Array,
};
use lightstream_wasm::{Column, CsvDecoder, Table, decode_csv};
use wasm_bindgen::{JsCast, JsError, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const CSV: &str = "id,price,ok,day,ts,name,note\n\
1,1.5,true,2024-01-02,2024-01-02T03:04:05,\"a, b\",x\n\
2,,false,2024-02-29,2024-02-29 23:59:59,\"line1\nline2\",\n\
3,-2.25,,1999-12-31,1970-01-01T00:00:00,\"say \"\"hi\"\" ✓\",NA\r\n\
4,1e3,TRUE,1970-01-01,1969-12-31T23:59:59,héllo,\n";

fn opts(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

/// The message of the JS `Error` that `r` must be.
#[track_caller]
fn err<T>(r: Result<T, JsError>) -> String {
    let Err(e) = r else {
        panic!("expected an Error");
    };
    let v = JsValue::from(e);
    let e: js_sys::Error = v.dyn_into().expect("a JS Error");
    String::from(e.message())
}

fn col(t: &Table, name: &str) -> Column {
    t.column(JsValue::from_str(name))
        .map_err(JsValue::from)
        .expect("column")
}

fn get(c: &Column, i: usize) -> JsValue {
    c.get(i).map_err(JsValue::from).expect("get")
}

fn to_array(c: &Column) -> JsValue {
    c.to_array(JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .expect("toArray")
}

fn strings(c: &Column) -> Vec<Option<String>> {
    let a: JsArray = to_array(c).dyn_into().expect("Array");
    a.iter().map(|v| v.as_string()).collect()
}

fn decode(input: JsValue, options: JsValue) -> Vec<Table> {
    decode_csv(input, options)
        .map_err(JsValue::from)
        .expect("decodeCsv")
}

fn ipc(t: &Table) -> Vec<u8> {
    t.to_ipc().map_err(JsValue::from).expect("toIPC").to_vec()
}

fn check(t: &Table) {
    assert_eq!(t.num_rows(), 4);
    let expected = [
        ("id", "Int64"),
        ("price", "Float64"),
        ("ok", "Boolean"),
        ("day", "Date32"),
        ("ts", "Timestamp(Second, None)"),
        ("name", "Utf8"),
        ("note", "Utf8"),
    ];
    let schema = t.schema().map_err(JsValue::from).expect("schema");
    assert_eq!(schema.length() as usize, expected.len());
    for (i, (name, ty)) in expected.iter().enumerate() {
        let f = schema.get(i as u32);
        let prop = |k: &str| Reflect::get(&f, &k.into()).unwrap().as_string();
        assert_eq!(prop("name").as_deref(), Some(*name));
        assert_eq!(prop("type").as_deref(), Some(*ty), "{name}");
        assert_eq!(col(t, name).type_name(), *ty);
    }

    let c = col(t, "id");
    let a: BigInt64Array = to_array(&c).dyn_into().expect("BigInt64Array");
    assert_eq!(a.to_vec(), vec![1, 2, 3, 4]);
    assert_eq!(get(&c, 3), JsValue::from(4i64));
    assert_eq!(c.null_count(), 0);

    let c = col(t, "price");
    assert_eq!(c.null_count(), 1);
    let a: Float64Array = to_array(&c).dyn_into().expect("Float64Array");
    assert_eq!(a.get_index(0), 1.5);
    assert_eq!(a.get_index(2), -2.25);
    assert_eq!(a.get_index(3), 1000.0);
    assert!(get(&c, 1).is_null());
    assert!(!c.is_valid(1).map_err(JsValue::from).unwrap());

    let c = col(t, "ok");
    assert_eq!(c.null_count(), 1);
    let a: JsArray = to_array(&c).dyn_into().expect("Array");
    let bools: Vec<Option<bool>> = a.iter().map(|v| v.as_bool()).collect();
    assert_eq!(bools, [Some(true), Some(false), None, Some(true)]);
    assert!(a.get(2).is_null());

    let c = col(t, "day");
    let a: Int32Array = to_array(&c).dyn_into().expect("Int32Array");
    assert_eq!(a.to_vec(), vec![19724, 19782, 10956, 0]);
    assert_eq!(get(&c, 1), JsValue::from_f64(19782.0));

    let c = col(t, "ts");
    let a: BigInt64Array = to_array(&c).dyn_into().expect("BigInt64Array");
    assert_eq!(a.to_vec(), vec![1_704_164_645, 1_709_251_199, 0, -1]);

    let c = col(t, "name");
    assert_eq!(
        strings(&c),
        [
            Some("a, b".into()),
            Some("line1\nline2".into()),
            Some("say \"hi\" ✓".into()),
            Some("héllo".into())
        ]
    );
    assert_eq!(get(&c, 2).as_string().as_deref(), Some("say \"hi\" ✓"));

    // Strings do not take null tokens by default (pyarrow's default); an
    // empty unquoted field is null (stringNulls: 'unquoted').
    let c = col(t, "note");
    assert_eq!(c.null_count(), 2);
    assert_eq!(
        strings(&c),
        [Some("x".into()), None, Some("NA".into()), None]
    );
}

#[wasm_bindgen_test]
fn decode_csv_reads_every_type_from_a_string_and_from_bytes() {
    let tables = decode(JsValue::from_str(CSV), JsValue::UNDEFINED);
    assert_eq!(tables.len(), 1);
    check(&tables[0]);
    let rows = tables[0].to_rows(None).map_err(JsValue::from).unwrap();
    assert_eq!(rows.length(), 4);

    let bytes = Uint8Array::from(CSV.as_bytes());
    let from_bytes = decode(bytes.clone().into(), JsValue::NULL);
    check(&from_bytes[0]);
    assert_eq!(ipc(&from_bytes[0]), ipc(&tables[0]));
    let from_buffer = decode(bytes.buffer().into(), JsValue::UNDEFINED);
    assert_eq!(ipc(&from_buffer[0]), ipc(&tables[0]));
}

#[wasm_bindgen_test]
fn options_change_the_reading() {
    let text = "a;b\n1;NA\n2;\n";
    let o = opts(&[
        ("delimiter", ";".into()),
        ("stringsCanBeNull", JsValue::TRUE),
        ("header", JsValue::FALSE),
    ]);
    let t = &decode(text.into(), o)[0];
    assert_eq!(t.num_rows(), 3);
    assert_eq!(col(t, "f0").type_name(), "Utf8");
    assert_eq!(col(t, "f1").null_count(), 2);

    let o = opts(&[
        ("nullValues", JsArray::of1(&"-".into()).into()),
        ("batchSize", JsValue::from_f64(1.0)),
        ("quote", "'".into()),
    ]);
    let tables = decode("a,b\n1,'x,y'\n-,z\n".into(), o);
    assert_eq!(tables.len(), 2);
    assert!(get(&col(&tables[1], "a"), 0).is_null());
    assert_eq!(
        get(&col(&tables[0], "b"), 0).as_string().as_deref(),
        Some("x,y")
    );
}

#[wasm_bindgen_test]
fn string_nulls_tell_a_null_from_an_empty_string() {
    let some = |s: &str| Some(s.to_string());
    // An empty unquoted field is null, `""` the empty string (as pyarrow and
    // Polars write them); a quoted token stays text.
    let text = "s,i\na,1\n,2\n\"\",3\n\"NA\",4\nNA,5\n";
    let t = &decode(text.into(), opts(&[("stringsCanBeNull", JsValue::TRUE)]))[0];
    assert_eq!(
        strings(&col(t, "s")),
        [some("a"), None, some(""), some("NA"), None]
    );
    // One column: an empty line is a null row, chunked or not.
    let one = "s\na\n\n\"\"\n\n";
    let t = &decode(one.into(), JsValue::UNDEFINED)[0];
    assert_eq!(strings(&col(t, "s")), [some("a"), None, some(""), None]);
    let mut dec = CsvDecoder::new(JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    let mut tables = Vec::new();
    for piece in ["s\na\r", "\n\r\n", "\"\"\r\n\r\n"] {
        tables.extend(dec.push(piece.into()).map_err(JsValue::from).unwrap());
    }
    tables.extend(dec.finish().map_err(JsValue::from).unwrap());
    assert_eq!(
        strings(&col(&tables[0], "s")),
        [some("a"), None, some(""), None]
    );
    // The earlier reading: quoting not seen, blank lines skipped.
    let old = || opts(&[("stringNulls", "quoting-ignored".into())]);
    let t = &decode(text.into(), old())[0];
    assert_eq!(
        strings(&col(t, "s")),
        [some("a"), some(""), some(""), some("NA"), some("NA")]
    );
    let t = &decode(one.into(), old())[0];
    assert_eq!(strings(&col(t, "s")), [some("a"), some("")]);
}

#[wasm_bindgen_test]
fn chunked_pushes_give_the_same_tables() {
    let options = || opts(&[("batchSize", JsValue::from_f64(3.0))]);
    let whole: Vec<Vec<u8>> = decode(CSV.into(), options()).iter().map(ipc).collect();
    assert_eq!(whole.len(), 2);
    let bytes = CSV.as_bytes();
    for step in [1, 2, 3, 5, 7, 13, 64, bytes.len()] {
        // Bytes, cut anywhere (inside `✓` and `é` too).
        let mut dec = CsvDecoder::new(options()).map_err(JsValue::from).unwrap();
        let mut got = Vec::new();
        for (i, piece) in bytes.chunks(step).enumerate() {
            let chunk = Uint8Array::from(piece);
            let chunk: JsValue = if i % 2 == 0 {
                chunk.into()
            } else {
                chunk.buffer().into()
            };
            got.extend(dec.push(chunk).map_err(JsValue::from).unwrap());
        }
        assert!(!dec.finished());
        got.extend(dec.finish().map_err(JsValue::from).unwrap());
        assert!(dec.finished());
        assert!(dec.finish().map_err(JsValue::from).unwrap().is_empty());
        assert!(!dec.schema().map_err(JsValue::from).unwrap().is_null());
        assert_eq!(
            got.iter().map(ipc).collect::<Vec<_>>(),
            whole,
            "step {step}"
        );

        // Strings, cut at character boundaries.
        let chars: Vec<char> = CSV.chars().collect();
        let mut dec = CsvDecoder::new(options()).map_err(JsValue::from).unwrap();
        let mut got = Vec::new();
        for piece in chars.chunks(step) {
            let s: String = piece.iter().collect();
            got.extend(dec.push(s.into()).map_err(JsValue::from).unwrap());
        }
        got.extend(dec.finish().map_err(JsValue::from).unwrap());
        assert_eq!(
            got.iter().map(ipc).collect::<Vec<_>>(),
            whole,
            "chars {step}"
        );
    }
}

#[wasm_bindgen_test]
fn bad_rows_are_errors_with_the_line() {
    let text = "a,b\n1,2\n3,4\n5,6,7\n8,9\n";
    let e = err(decode_csv(text.into(), JsValue::UNDEFINED));
    assert!(e.contains("line 4"), "{e}");
    assert!(e.contains("expected 2 fields"), "{e}");

    // A cell that does not parse as the inferred type names line and column.
    let o = || opts(&[("inferRows", JsValue::from_f64(1.0))]);
    let e = err(decode_csv("a,b\n1,2\n3,x\n".into(), o()));
    assert!(e.contains("line 3") && e.contains("column 2"), "{e}");

    // The push decoder throws too; the rows before the error stay available.
    let mut dec = CsvDecoder::new(JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    // (Rows still held for type inference are checked by `finish`.)
    let (e, mut good) = match dec.push(text.into()) {
        Err(e) => (err::<()>(Err(e)), Vec::new()),
        Ok(tables) => (err(dec.finish()), tables),
    };
    assert!(e.contains("line 4"), "{e}");
    good.extend(dec.take_tables().map_err(JsValue::from).unwrap());
    assert_eq!(good.iter().map(|t| t.num_rows()).sum::<usize>(), 2);
    assert!(dec.take_tables().map_err(JsValue::from).unwrap().is_empty());
    // The decoder is spent: the same error again.
    let again = err(dec.push("1,2\n".into()));
    assert_eq!(again, e);

    // A quoted field left open.
    let mut dec = CsvDecoder::new(JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    dec.push("a,b\n1,\"open".into())
        .map_err(JsValue::from)
        .unwrap();
    let e = err(dec.finish());
    assert!(e.contains("line 2"), "{e}");
}

#[wasm_bindgen_test]
fn bad_row_policies_count() {
    let text = "a,b\n1,2\n3,4,5\nx,6\n7\n8,9\n";
    let o = opts(&[
        ("badRows", "skip".into()),
        ("inferRows", JsValue::from_f64(1.0)),
    ]);
    let mut dec = CsvDecoder::new(o).map_err(JsValue::from).unwrap();
    let mut tables = dec.push(text.into()).map_err(JsValue::from).unwrap();
    tables.extend(dec.finish().map_err(JsValue::from).unwrap());
    assert_eq!(dec.skipped_rows(), 3.0);
    assert_eq!(dec.nulled_cells(), 0.0);
    let ids: Vec<i64> = tables
        .iter()
        .flat_map(|t| {
            let a: BigInt64Array = to_array(&col(t, "a")).dyn_into().unwrap();
            a.to_vec()
        })
        .collect();
    assert_eq!(ids, [1, 8]);

    let o = opts(&[
        ("badRows", "null".into()),
        ("inferRows", JsValue::from_f64(1.0)),
    ]);
    let mut dec = CsvDecoder::new(o).map_err(JsValue::from).unwrap();
    let mut tables = dec
        .push("a,b\n1,2\nx,6\n7\n".into())
        .map_err(JsValue::from)
        .unwrap();
    tables.extend(dec.finish().map_err(JsValue::from).unwrap());
    assert_eq!(dec.nulled_cells(), 2.0);
    assert_eq!(dec.skipped_rows(), 0.0);
    assert_eq!(col(&tables[0], "a").null_count(), 1);
    assert_eq!(col(&tables[0], "b").null_count(), 1);
}

#[wasm_bindgen_test]
fn wrong_arguments_and_options_are_errors() {
    let cases: Vec<(JsValue, &str)> = vec![
        (opts(&[("delimiter", "ab".into())]), "delimiter"),
        (opts(&[("delimiter", JsValue::from_f64(44.0))]), "delimiter"),
        (opts(&[("quote", "é".into())]), "quote"),
        (opts(&[("header", "yes".into())]), "header"),
        (opts(&[("nullValues", "NA".into())]), "nullValues"),
        (
            opts(&[("nullValues", JsArray::of1(&JsValue::from_f64(1.0)).into())]),
            "nullValues",
        ),
        (opts(&[("batchSize", JsValue::from_f64(0.0))]), "batchSize"),
        (opts(&[("batchSize", JsValue::from_f64(1.5))]), "batchSize"),
        (opts(&[("inferRows", "10".into())]), "inferRows"),
        (opts(&[("badRows", "drop".into())]), "badRows"),
        (
            opts(&[("stringsCanBeNull", JsValue::from_f64(1.0))]),
            "stringsCanBeNull",
        ),
        (opts(&[("stringNulls", "never".into())]), "stringNulls"),
        (opts(&[("stringNulls", JsValue::TRUE)]), "stringNulls"),
        (
            opts(&[("hasHeader", JsValue::TRUE)]),
            "unknown option \"hasHeader\"",
        ),
        ("comma".into(), "options must be an object"),
        // Equal delimiter and quote: the core refuses them.
        (opts(&[("delimiter", "\"".into())]), "differ"),
    ];
    for (o, want) in cases {
        let e = err(decode_csv("a\n1\n".into(), o.clone()));
        assert!(e.contains(want), "{want}: {e}");
        let e = err(CsvDecoder::new(o));
        assert!(e.contains(want), "{want}: {e}");
    }
    let e = err(decode_csv(JsValue::from_f64(1.0), JsValue::UNDEFINED));
    assert!(
        e.contains("expected a string, a Uint8Array or an ArrayBuffer"),
        "{e}"
    );
    let mut dec = CsvDecoder::new(JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    let e = err(dec.push(JsValue::NULL));
    assert!(e.contains("CsvDecoder.push"), "{e}");

    // Empty input: no tables, no error.
    assert!(decode("".into(), JsValue::UNDEFINED).is_empty());
}

#[wasm_bindgen_test]
fn the_readme_example_holds() {
    let csv =
        "id,price,day,name\n1,9.5,2024-01-02,\"Smith, J.\"\n2,,2024-01-03,\"say \"\"hi\"\"\"\n";
    let tables = decode(csv.into(), JsValue::UNDEFINED);
    let t = &tables[0];
    let types: Vec<String> = t
        .columns()
        .map_err(JsValue::from)
        .unwrap()
        .iter()
        .map(|c| c.type_name())
        .collect();
    assert_eq!(types, ["Int64", "Float64", "Date32", "Utf8"]);
    let price = col(t, "price");
    assert!(to_array(&price).is_instance_of::<Float64Array>());
    assert_eq!(price.null_count(), 1);
    assert_eq!(
        get(&col(t, "name"), 1).as_string().as_deref(),
        Some("say \"hi\"")
    );
}
