//! The JS-facing API in headless Chrome (wasm-bindgen-test): tables written
//! by lightstream-core (stream and file formats) are decoded by `decode` and
//! every value is read back through `Table` / `Column` as JavaScript sees
//! them; numeric `toArray()` is a view of wasm memory, `toArray(true)` a copy;
//! bad input (garbage, truncation) gives a JS `Error`; pyarrow's ZSTD bodies decode.
//!
//! Run: `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p lightstream-wasm --target wasm32-unknown-unknown`
#![cfg(target_arch = "wasm32")]

use std::collections::BTreeMap;
use std::sync::Arc;

use js_sys::{
    Array as JsArray, BigInt64Array, Float64Array, Int32Array, Object, Reflect, Uint8Array,
    Uint32Array, WebAssembly,
};
use lightstream_core::minarrow::{
    Array, ArrowType, DatetimeArray, FieldArray, Table as MTable, TemporalArray, TimeUnit, Vec64,
    fa_bool_opt, fa_cat32_opt, fa_f64, fa_i32_opt, fa_i64, fa_str32_opt, fa_u8, tbl,
};
use lightstream_core::{Compression, Schema, WriteOptions, write_file, write_stream};
use lightstream_wasm::{Column, Table, decode};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const ROWS: usize = 4;

fn sample() -> (Schema, MTable) {
    let ts = FieldArray::from_parts(
        "ts",
        ArrowType::Timestamp(TimeUnit::Milliseconds, Some("UTC".into())),
        Some(false),
        None,
        Array::TemporalArray(TemporalArray::Datetime64(Arc::new(DatetimeArray {
            data: Vec64::from_slice(&[0i64, 1_700_000_000_000, -1, 86_400_000]).into(),
            null_mask: None,
            time_unit: TimeUnit::Milliseconds,
        }))),
    );
    let mut t = tbl!(
        "t",
        fa_i32_opt!("i32", Some(1), None::<i32>, Some(-3), Some(i32::MAX)),
        fa_i64!("i64", i64::MIN, 0, 5, i64::MAX),
        fa_u8!("u8", 0, 1, 254, 255),
        fa_f64!("f64", 0.5, -1.25, 1e300, 3.0),
        fa_bool_opt!("bool", Some(true), Some(false), None::<bool>, Some(false)),
        fa_str32_opt!(
            "utf8",
            Some("héllo"),
            None::<&str>,
            Some(""),
            Some("wörld ✓")
        ),
        fa_cat32_opt!(
            "dict",
            Some("red"),
            Some("green"),
            None::<&str>,
            Some("red")
        ),
        ts
    );
    t.name = String::new();
    t.metadata = BTreeMap::from([("origin".to_string(), "browser test".to_string())]);
    (Schema::from_table(&t), t)
}

fn stream_bytes() -> Vec<u8> {
    let (schema, t) = sample();
    write_stream(&schema, &[t], &WriteOptions::default()).expect("write_stream")
}

fn prop(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).expect("Reflect::get")
}

fn wasm_buffer() -> JsValue {
    wasm_bindgen::memory()
        .dyn_into::<WebAssembly::Memory>()
        .expect("wasm memory")
        .buffer()
}

fn only_table(bytes: &[u8]) -> Table {
    let mut tables = decode(Uint8Array::from(bytes).into(), JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .expect("decode");
    assert_eq!(tables.len(), 1);
    tables.remove(0)
}

fn col(t: &Table, name: &str) -> Column {
    t.column(JsValue::from_str(name))
        .map_err(JsValue::from)
        .expect("column")
}

fn get(c: &Column, i: usize) -> JsValue {
    c.get(i).map_err(JsValue::from).expect("get")
}

fn to_array(c: &Column, copy: Option<bool>) -> JsValue {
    // Both forms of the argument: `{copy}` (documented) and a bare boolean.
    let options = match copy {
        None => JsValue::UNDEFINED,
        Some(true) => {
            let o = Object::new();
            Reflect::set(&o, &"copy".into(), &JsValue::TRUE).unwrap();
            o.into()
        }
        Some(false) => JsValue::FALSE,
    };
    c.to_array(options).map_err(JsValue::from).expect("toArray")
}

fn big(v: i64) -> JsValue {
    JsValue::from(v)
}

/// Everything `sample()` holds, checked through the JS-facing API.
fn check_sample(t: &Table) {
    assert_eq!(t.num_rows(), ROWS);
    assert_eq!(t.num_columns(), 8);

    // schema: names, Arrow type names, nullability.
    let schema = t.schema().map_err(JsValue::from).expect("schema");
    let expected = [
        ("i32", "Int32", true),
        ("i64", "Int64", false),
        ("u8", "UInt8", false),
        ("f64", "Float64", false),
        ("bool", "Boolean", true),
        ("utf8", "Utf8", true),
        ("dict", "Dictionary<UInt32, Utf8>", true),
        ("ts", "Timestamp(Millisecond, \"UTC\")", false),
    ];
    assert_eq!(schema.length() as usize, expected.len());
    for (i, (name, ty, nullable)) in expected.iter().enumerate() {
        let f = schema.get(i as u32);
        assert_eq!(prop(&f, "name").as_string().as_deref(), Some(*name));
        assert_eq!(prop(&f, "type").as_string().as_deref(), Some(*ty), "{name}");
        assert_eq!(prop(&f, "nullable").as_bool(), Some(*nullable), "{name}");
        assert!(prop(&f, "metadata").is_object());
        let c = t
            .column(JsValue::from_f64(i as f64))
            .map_err(JsValue::from)
            .expect("by index");
        assert_eq!(c.name(), *name);
        assert_eq!(c.type_name(), *ty);
        assert_eq!(c.length(), ROWS);
    }
    assert_eq!(
        prop(
            &t.metadata().map_err(JsValue::from).expect("metadata"),
            "origin"
        )
        .as_string(),
        Some("browser test".into())
    );

    // int32 with a null.
    let c = col(t, "i32");
    assert_eq!(c.null_count(), 1);
    let a: Int32Array = to_array(&c, None).dyn_into().expect("Int32Array");
    assert_eq!(a.length() as usize, ROWS);
    assert_eq!(a.get_index(0), 1);
    assert_eq!(a.get_index(2), -3);
    assert_eq!(a.get_index(3), i32::MAX);
    assert_eq!(get(&c, 0), JsValue::from_f64(1.0));
    assert!(get(&c, 1).is_null());
    assert_eq!(get(&c, 3), JsValue::from_f64(i32::MAX as f64));
    let valid: Vec<bool> = (0..ROWS)
        .map(|i| c.is_valid(i).map_err(JsValue::from).expect("isValid"))
        .collect();
    assert_eq!(valid, [true, false, true, true]);
    let bits: Uint8Array = c.validity().dyn_into().expect("validity");
    assert_eq!(bits.to_vec(), vec![0b1101]);

    // int64: BigInt64Array and BigInt values.
    let c = col(t, "i64");
    assert_eq!(c.null_count(), 0);
    assert!(c.validity().is_null());
    let a: BigInt64Array = to_array(&c, None).dyn_into().expect("BigInt64Array");
    assert_eq!(a.to_vec(), vec![i64::MIN, 0, 5, i64::MAX]);
    assert_eq!(get(&c, 0), big(i64::MIN));
    assert_eq!(get(&c, 3), big(i64::MAX));

    // uint8.
    let c = col(t, "u8");
    let a: Uint8Array = to_array(&c, None).dyn_into().expect("Uint8Array");
    assert_eq!(a.to_vec(), vec![0, 1, 254, 255]);
    assert_eq!(get(&c, 3), JsValue::from_f64(255.0));

    // float64.
    let c = col(t, "f64");
    let a: Float64Array = to_array(&c, None).dyn_into().expect("Float64Array");
    assert_eq!(a.to_vec(), vec![0.5, -1.25, 1e300, 3.0]);
    assert_eq!(get(&c, 1), JsValue::from_f64(-1.25));

    // bool with a null: plain array of booleans / null.
    let c = col(t, "bool");
    assert_eq!(c.null_count(), 1);
    let a: JsArray = to_array(&c, None).dyn_into().expect("Array");
    assert_eq!(a.get(0).as_bool(), Some(true));
    assert_eq!(a.get(1).as_bool(), Some(false));
    assert!(a.get(2).is_null());
    assert_eq!(a.get(3).as_bool(), Some(false));
    assert!(!c.is_valid(2).map_err(JsValue::from).expect("isValid"));

    // utf8 with a null.
    let c = col(t, "utf8");
    assert_eq!(c.null_count(), 1);
    let a: JsArray = to_array(&c, None).dyn_into().expect("Array");
    assert_eq!(a.get(0).as_string().as_deref(), Some("héllo"));
    assert!(a.get(1).is_null());
    assert_eq!(a.get(2).as_string().as_deref(), Some(""));
    assert_eq!(a.get(3).as_string().as_deref(), Some("wörld ✓"));
    assert_eq!(get(&c, 3).as_string().as_deref(), Some("wörld ✓"));

    // dictionary: strings, dictionary values and keys agree.
    let c = col(t, "dict");
    assert_eq!(c.null_count(), 1);
    let a: JsArray = to_array(&c, None).dyn_into().expect("Array");
    let strings: Vec<Option<String>> = (0..ROWS as u32).map(|i| a.get(i).as_string()).collect();
    assert_eq!(
        strings,
        [
            Some("red".into()),
            Some("green".into()),
            None,
            Some("red".into())
        ]
    );
    assert!(a.get(2).is_null());
    let dict = c.dictionary().map_err(JsValue::from).expect("dictionary");
    let keys: Uint32Array = c
        .keys(JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .expect("keys")
        .dyn_into()
        .expect("Uint32Array");
    assert_eq!(
        JsValue::from(keys.buffer()),
        wasm_buffer(),
        "keys() is a view"
    );
    for i in [0u32, 1, 3] {
        assert_eq!(dict.get(keys.get_index(i)).as_string(), strings[i as usize]);
    }
    assert!(col(t, "utf8").dictionary().is_err());
    assert!(col(t, "utf8").keys(JsValue::UNDEFINED).is_err());

    // timestamp: BigInt64Array of the raw values, the unit in `type`.
    let c = col(t, "ts");
    let a: BigInt64Array = to_array(&c, None).dyn_into().expect("BigInt64Array");
    assert_eq!(a.to_vec(), vec![0, 1_700_000_000_000, -1, 86_400_000]);
    assert_eq!(get(&c, 1), big(1_700_000_000_000));

    // toRows: plain objects, with limit.
    let rows = t.to_rows(None).map_err(JsValue::from).expect("toRows");
    assert_eq!(rows.length() as usize, ROWS);
    let r0 = rows.get(0);
    assert_eq!(prop(&r0, "i32"), JsValue::from_f64(1.0));
    assert_eq!(prop(&r0, "i64"), big(i64::MIN));
    assert_eq!(prop(&r0, "utf8").as_string().as_deref(), Some("héllo"));
    assert_eq!(prop(&r0, "dict").as_string().as_deref(), Some("red"));
    assert_eq!(prop(&r0, "bool").as_bool(), Some(true));
    assert!(prop(&rows.get(1), "i32").is_null());
    let r0_obj: &Object = r0.unchecked_ref();
    assert_eq!(Object::keys(r0_obj).length(), 8);
    assert_eq!(
        t.to_rows(Some(2))
            .map_err(JsValue::from)
            .expect("toRows")
            .length(),
        2
    );
    assert_eq!(
        t.to_rows(Some(99))
            .map_err(JsValue::from)
            .expect("toRows")
            .length(),
        4
    );
}

#[wasm_bindgen_test]
fn decodes_a_stream_and_reads_every_value() {
    check_sample(&only_table(&stream_bytes()));
}

#[wasm_bindgen_test]
fn decodes_a_file() {
    let (schema, t) = sample();
    let file = write_file(&schema, &[t.clone(), t], &WriteOptions::default()).expect("write_file");
    let tables = decode(
        Uint8Array::from(&file[..]).buffer().into(),
        JsValue::UNDEFINED,
    )
    .map_err(JsValue::from)
    .expect("decode file");
    assert_eq!(tables.len(), 2);
    for t in &tables {
        check_sample(t);
    }
}

#[wasm_bindgen_test]
fn decodes_lz4_bodies() {
    let (schema, t) = sample();
    let options = WriteOptions {
        compression: Compression::Lz4Frame,
        ..WriteOptions::default()
    };
    let bytes = write_stream(&schema, &[t], &options).expect("write lz4");
    check_sample(&only_table(&bytes));
}

#[wasm_bindgen_test]
fn to_ipc_round_trips_through_decode() {
    let t = only_table(&stream_bytes());
    let ipc = t.to_ipc().map_err(JsValue::from).expect("toIPC");
    assert_ne!(
        JsValue::from(ipc.buffer()),
        wasm_buffer(),
        "toIPC returns a JS-owned copy"
    );
    let again = only_table(&ipc.to_vec());
    check_sample(&again);
    // A second round trip gives the same bytes.
    assert_eq!(
        again
            .to_ipc()
            .map_err(JsValue::from)
            .expect("toIPC")
            .to_vec(),
        ipc.to_vec()
    );
}

#[wasm_bindgen_test]
fn numeric_to_array_is_a_view_and_copy_is_not() {
    let t = only_table(&stream_bytes());
    let memory = wasm_buffer();
    for name in ["i32", "i64", "u8", "f64", "ts"] {
        let c = col(&t, name);
        let view = to_array(&c, None);
        let view_buffer = prop(&view, "buffer");
        assert_eq!(view_buffer, memory, "{name}: toArray() views wasm memory");
        let explicit_view = to_array(&c, Some(false));
        assert_eq!(
            prop(&explicit_view, "buffer"),
            memory,
            "{name}: toArray(false)"
        );
        let copy = to_array(&c, Some(true));
        assert_ne!(
            prop(&copy, "buffer"),
            memory,
            "{name}: toArray(true) is a copy"
        );
        assert_eq!(prop(&copy, "length"), prop(&view, "length"));
    }
    // The view reads the same values as the copy.
    let c = col(&t, "f64");
    let view: Float64Array = to_array(&c, None).unchecked_into();
    let copy: Float64Array = to_array(&c, Some(true)).unchecked_into();
    assert_eq!(view.to_vec(), copy.to_vec());
}

#[wasm_bindgen_test]
fn bad_indices_are_errors_not_panics() {
    let t = only_table(&stream_bytes());
    for key in [
        JsValue::from_str("nope"),
        JsValue::from_f64(8.0),
        JsValue::from_f64(-1.0),
        JsValue::from_f64(0.5),
        JsValue::NULL,
        JsValue::TRUE,
    ] {
        let e = t
            .column(key)
            .err()
            .map(JsValue::from)
            .expect("column() should fail");
        assert!(e.is_instance_of::<js_sys::Error>());
    }
    let c = col(&t, "utf8");
    for i in [ROWS, ROWS + 1, usize::MAX] {
        let e = c
            .get(i)
            .err()
            .map(JsValue::from)
            .expect("get() should fail");
        assert!(e.is_instance_of::<js_sys::Error>());
        let msg = js_sys::Error::from(e)
            .message()
            .as_string()
            .unwrap_or_default();
        assert!(msg.contains("out of range"), "{msg}");
        assert!(c.is_valid(i).is_err());
    }
}

fn decode_error(bytes: &[u8]) -> String {
    let e = decode(Uint8Array::from(bytes).into(), JsValue::UNDEFINED)
        .err()
        .map(JsValue::from)
        .expect("decode should fail");
    assert!(e.is_instance_of::<js_sys::Error>());
    js_sys::Error::from(e)
        .message()
        .as_string()
        .unwrap_or_default()
}

#[wasm_bindgen_test]
fn garbage_and_truncated_input_are_errors() {
    assert!(!decode_error(b"this is not an Arrow IPC stream at all").is_empty());
    assert!(!decode_error(b"ARROW1\0\0not really a file").is_empty());
    let bytes = stream_bytes();
    for cut in [1, 7, 100, bytes.len() / 2, bytes.len() - 9, bytes.len() - 1] {
        assert!(!decode_error(&bytes[..cut]).is_empty(), "cut at {cut}");
    }
    // Empty input: no schema.
    assert!(!decode_error(&[]).is_empty());
}

/// A pyarrow-written stream with ZSTD bodies (int32 `x` = 0..100): the
/// browser build decompresses them with the pure-Rust decoder (ruzstd).
#[wasm_bindgen_test]
fn zstd_bodies_from_pyarrow_decode() {
    let t = only_table(include_bytes!("data/zstd.arrows"));
    assert_eq!(t.num_rows(), 100);
    let a: Int32Array = to_array(&col(&t, "x"), None)
        .dyn_into()
        .expect("Int32Array");
    assert_eq!(a.to_vec(), (0..100).collect::<Vec<i32>>());
}

/// Decimals, a date and an all-null column: raw integers (BigInt where they
/// need 64+ bits), precision / scale / unit in `type`.
#[wasm_bindgen_test]
fn decimals_dates_and_null_columns() {
    use lightstream_core::minarrow::{DecimalArray, NumericArray};
    let dec128 = FieldArray::from_parts(
        "dec128",
        ArrowType::Decimal128(38, 4),
        Some(true),
        None,
        Array::NumericArray(NumericArray::Decimal128(Arc::new(DecimalArray {
            data: Vec64::from_slice(&[12345i128, -1, i128::MAX / 3]).into(),
            null_mask: Some(lightstream_core::minarrow::Bitmask::from_bools(&[
                true, false, true,
            ])),
            precision: 38,
            scale: 4,
        }))),
    );
    let dec32 = FieldArray::from_parts(
        "dec32",
        ArrowType::Decimal32(9, 2),
        Some(false),
        None,
        Array::NumericArray(NumericArray::Decimal32(Arc::new(DecimalArray {
            data: Vec64::from_slice(&[100i32, -250, 999_999_999]).into(),
            null_mask: None,
            precision: 9,
            scale: 2,
        }))),
    );
    let date = FieldArray::from_parts(
        "date",
        ArrowType::Date32,
        Some(false),
        None,
        Array::TemporalArray(TemporalArray::Datetime32(Arc::new(DatetimeArray {
            data: Vec64::from_slice(&[0i32, 19_000, -1]).into(),
            null_mask: None,
            time_unit: TimeUnit::Days,
        }))),
    );
    let null = FieldArray::from_parts("null", ArrowType::Null, Some(true), None, Array::Null);
    let t = MTable {
        cols: vec![dec128, dec32, date, null],
        n_rows: 3,
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    let bytes = write_stream(&Schema::from_table(&t), &[t], &WriteOptions::default())
        .expect("write_stream");
    let t = only_table(&bytes);

    let c = col(&t, "dec128");
    assert_eq!(c.type_name(), "Decimal128(38, 4)");
    assert_eq!(c.null_count(), 1);
    let a: JsArray = to_array(&c, None).dyn_into().expect("Array of BigInt");
    assert_eq!(a.get(0), JsValue::from(12345i128));
    assert!(a.get(1).is_null());
    assert_eq!(a.get(2), JsValue::from(i128::MAX / 3));
    assert_eq!(get(&c, 2), JsValue::from(i128::MAX / 3));

    let c = col(&t, "dec32");
    assert_eq!(c.type_name(), "Decimal32(9, 2)");
    let a: Int32Array = to_array(&c, None).dyn_into().expect("Int32Array");
    assert_eq!(a.to_vec(), vec![100, -250, 999_999_999]);

    let c = col(&t, "date");
    assert_eq!(c.type_name(), "Date32");
    let a: Int32Array = to_array(&c, None).dyn_into().expect("Int32Array");
    assert_eq!(a.to_vec(), vec![0, 19_000, -1]);
    assert_eq!(get(&c, 1), JsValue::from_f64(19_000.0));

    let c = col(&t, "null");
    assert_eq!(c.type_name(), "Null");
    assert_eq!(c.null_count(), 3);
    assert_eq!(
        c.validity()
            .dyn_into::<Uint8Array>()
            .expect("validity")
            .to_vec(),
        vec![0]
    );
    let a: JsArray = to_array(&c, None).dyn_into().expect("Array");
    assert_eq!(a.length(), 3);
    assert!((0..3).all(|i| a.get(i).is_null()));
}

/// The options object `{ key: value, ... }`.
fn options(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).expect("set option");
    }
    o.into()
}

/// A pyarrow stream (ZSTD bodies) whose `l` (list<int32>) and `sv`
/// (string_view) columns the package cannot decode, around `x` (int32
/// 10, 20, 30) and `s` (string): without options it fails naming `l` and the
/// option that reads the rest; `skipUnsupported` reads `x` and `s` and names
/// the others in `skipped`; `columns` reads just those named, in that order.
#[wasm_bindgen_test]
fn unsupported_columns_are_skipped_or_projected_away() {
    let bytes: &[u8] = include_bytes!("data/unsupported.zstd.arrows");
    let e = decode_error(bytes);
    assert!(
        e.contains("\"l\"") && e.contains("List<Int32>") && e.contains("skipUnsupported"),
        "{e}"
    );

    let skip = options(&[("skipUnsupported", JsValue::TRUE)]);
    let out = lightstream_wasm::decode_js(Uint8Array::from(bytes).into(), skip.clone())
        .map_err(JsValue::from)
        .expect("decode with skipUnsupported");
    assert_eq!(out.length(), 1);
    let skipped: JsArray = Reflect::get(&out, &"skipped".into())
        .expect("skipped")
        .dyn_into()
        .expect("an array");
    let described: Vec<(String, String)> = skipped
        .iter()
        .map(|f| {
            let get = |k: &str| Reflect::get(&f, &k.into()).unwrap().as_string().unwrap();
            (get("name"), get("type"))
        })
        .collect();
    assert_eq!(
        described,
        [
            ("l".to_string(), "List<Int32>".to_string()),
            ("sv".to_string(), "Utf8View".to_string())
        ]
    );
    let tables = decode(Uint8Array::from(bytes).into(), skip.clone())
        .map_err(JsValue::from)
        .expect("decode");
    let t = &tables[0];
    assert_eq!(t.num_columns(), 2);
    let x: Int32Array = to_array(&col(t, "x"), None).dyn_into().expect("Int32Array");
    assert_eq!(x.to_vec(), [10, 20, 30]);

    // The push decoder, with a projection by name in the order given.
    let columns: JsValue = ["s", "x"]
        .iter()
        .map(|s| JsValue::from_str(s))
        .collect::<JsArray>()
        .into();
    let mut d = lightstream_wasm::StreamDecoder::new(options(&[("columns", columns)]))
        .map_err(JsValue::from)
        .expect("StreamDecoder");
    let tables = d
        .push(Uint8Array::from(bytes).into())
        .map_err(JsValue::from)
        .expect("push");
    assert_eq!(tables[0].num_columns(), 2);
    let first = tables[0].column_at(0).expect("column 0");
    assert_eq!(first.name(), "s");
    assert_eq!(d.skipped().map_err(JsValue::from).unwrap().length(), 0);

    // A bad `columns` option is a clear error.
    let bad = options(&[("columns", JsValue::from_str("x"))]);
    assert!(lightstream_wasm::StreamDecoder::new(bad).is_err());
}
