//! Streaming sources in headless Chrome (wasm-bindgen-test): the push decoder
//! `StreamDecoder`, `readStream` over a real `ReadableStream`, `connect`'s
//! failure path on a refused loopback port, and the JavaScript-side string,
//! dictionary and boolean builders of `toArray` on awkward values (a leading
//! byte-order mark, characters outside the BMP, nulls, empty strings).
//!
//! The WebSocket success path needs a native server: the Playwright tests in
//! tests/browser/ run it against `lightstream serve ws://...`.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array as JsArray, Function, Object, Promise, Reflect, Uint8Array};
use lightstream_core::minarrow::{
    Array, CategoricalArray, FieldArray, Table as MTable, Vec64, fa_bool_opt, fa_cat32_opt, fa_i64,
    fa_str32_opt, fa_str64_opt, tbl,
};
use lightstream_core::{Compression, Schema, WriteOptions, write_stream};
use lightstream_wasm::{StreamDecoder, Table, connect, decode, read_stream_js};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn tables() -> Vec<MTable> {
    (0..3i64)
        .map(|b| {
            tbl!(
                "t",
                fa_i64!("n", b * 10, b * 10 + 1, b * 10 + 2, b * 10 + 3),
                fa_str32_opt!(
                    "s",
                    Some("\u{feff}bom first"),
                    None::<&str>,
                    Some(""),
                    Some("astral 😀 𝄞 é")
                ),
                fa_str64_opt!("l", Some("large"), Some("ü"), None::<&str>, Some("z")),
                fa_cat32_opt!("d", Some("red"), None::<&str>, Some("blue"), Some("red")),
                fa_bool_opt!("b", Some(true), Some(false), None::<bool>, Some(true))
            )
        })
        .collect()
}

fn stream(options: &WriteOptions) -> Vec<u8> {
    let t = tables();
    write_stream(&Schema::from_table(&t[0]), &t, options).expect("write_stream")
}

fn prop(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).expect("Reflect::get")
}

fn check_table(t: &Table, batch: i64) {
    assert_eq!(t.num_rows(), 4);
    let n = t.column("n".into()).map_err(JsValue::from).unwrap();
    assert_eq!(
        n.get(3).map_err(JsValue::from).unwrap(),
        JsValue::from(batch * 10 + 3)
    );

    let s: JsArray = t
        .column("s".into())
        .and_then(|c| c.to_array(JsValue::UNDEFINED))
        .map_err(JsValue::from)
        .unwrap()
        .dyn_into()
        .unwrap();
    assert_eq!(s.get(0).as_string().as_deref(), Some("\u{feff}bom first"));
    assert!(s.get(1).is_null());
    assert_eq!(s.get(2).as_string().as_deref(), Some(""));
    assert_eq!(s.get(3).as_string().as_deref(), Some("astral 😀 𝄞 é"));

    let l: JsArray = t
        .column("l".into())
        .and_then(|c| c.to_array(JsValue::UNDEFINED))
        .map_err(JsValue::from)
        .unwrap()
        .dyn_into()
        .unwrap();
    assert_eq!(l.get(1).as_string().as_deref(), Some("ü"));
    assert!(l.get(2).is_null());
    assert_eq!(l.get(3).as_string().as_deref(), Some("z"));

    let d = t.column("d".into()).map_err(JsValue::from).unwrap();
    let values: JsArray = d
        .to_array(JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap()
        .dyn_into()
        .unwrap();
    let got: Vec<Option<String>> = values.iter().map(|v| v.as_string()).collect();
    assert_eq!(
        got,
        vec![
            Some("red".into()),
            None,
            Some("blue".into()),
            Some("red".into())
        ]
    );

    let b = t.column("b".into()).map_err(JsValue::from).unwrap();
    let values: JsArray = b
        .to_array(JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap()
        .dyn_into()
        .unwrap();
    assert_eq!(values.get(0), JsValue::TRUE);
    assert_eq!(values.get(1), JsValue::FALSE);
    assert!(values.get(2).is_null());
    assert_eq!(values.get(3), JsValue::TRUE);
    let bits = b.bitmap().map_err(JsValue::from).unwrap().to_vec();
    assert_eq!(bits[0] & 0b1011, 0b1001);
    assert!(t.column("n".into()).unwrap().bitmap().is_err());
}

#[wasm_bindgen_test]
fn stream_decoder_takes_any_chunking_with_every_layout() {
    for alignment in [64, 8] {
        for compression in [Compression::None, Compression::Lz4Frame] {
            let bytes = stream(&WriteOptions {
                alignment,
                compression,
                ..WriteOptions::default()
            });
            for step in [1usize, 5, 64, 1000, bytes.len()] {
                let mut dec = StreamDecoder::new(JsValue::UNDEFINED)
                    .map_err(JsValue::from)
                    .unwrap();
                assert!(dec.schema().unwrap().is_null());
                let mut got = Vec::new();
                for chunk in bytes.chunks(step) {
                    // Half the chunks as ArrayBuffer, half as Uint8Array.
                    let js = Uint8Array::from(chunk);
                    let arg: JsValue = if chunk.len() % 2 == 0 {
                        js.buffer().into()
                    } else {
                        js.into()
                    };
                    got.extend(dec.push(arg).map_err(JsValue::from).unwrap());
                }
                dec.finish().map_err(JsValue::from).unwrap();
                assert!(dec.ended());
                assert_eq!(dec.bytes_read(), bytes.len() as f64);
                assert_eq!(got.len(), 3, "step {step}");
                for (i, t) in got.iter().enumerate() {
                    check_table(t, i as i64);
                }
                let schema: JsArray = dec.schema().unwrap().dyn_into().unwrap();
                assert_eq!(schema.length(), 5);
            }
        }
    }
}

#[wasm_bindgen_test]
fn stream_decoder_errors_are_js_errors() {
    let mut dec = StreamDecoder::new(JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    let e = dec
        .push(Uint8Array::from(&b"\xff\xff\xff\xff\x10\0\0\0garbage garbage!"[..]).into())
        .err()
        .map(JsValue::from)
        .expect("garbage must fail");
    assert!(e.is_instance_of::<js_sys::Error>());
    // Not bytes at all.
    let mut dec = StreamDecoder::new(JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    assert!(dec.push(JsValue::from_str("text")).is_err());
    // A truncated stream fails at finish.
    let bytes = stream(&WriteOptions::default());
    let mut dec = StreamDecoder::new(JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    dec.push(Uint8Array::from(&bytes[..bytes.len() - 8]).into())
        .map_err(JsValue::from)
        .unwrap();
    let e = dec.finish().err().map(JsValue::from).expect("truncated");
    let msg = js_sys::Error::from(e).message().as_string().unwrap();
    assert!(msg.contains("end-of-stream"), "{msg}");
    // A limit on the message size.
    assert!(StreamDecoder::new(JsValue::from(-1.0)).is_err());
    let mut dec = StreamDecoder::new(JsValue::from(64.0))
        .map_err(JsValue::from)
        .unwrap();
    assert!(dec.push(Uint8Array::from(&bytes[..]).into()).is_err());
}

/// A `ReadableStream` that hands out `bytes` in chunks of `step`.
fn readable(bytes: &[u8], step: usize) -> web_sys::ReadableStream {
    let chunks = JsArray::new();
    for c in bytes.chunks(step) {
        chunks.push(&Uint8Array::from(c));
    }
    let make = Function::new_with_args(
        "chunks",
        "let i = 0; return new ReadableStream({ pull(c) { \
           if (i < chunks.length) c.enqueue(chunks[i++]); else c.close(); } });",
    );
    make.call1(&JsValue::UNDEFINED, &chunks)
        .unwrap()
        .dyn_into()
        .unwrap()
}

async fn next(stream: &lightstream_wasm::TableStream) -> Result<Option<Table>, JsValue> {
    let r = JsFuture::from(stream.next()).await?;
    if prop(&r, "done").as_bool() == Some(true) {
        return Ok(None);
    }
    Ok(Some(table_from_js(prop(&r, "value"))))
}

/// The Rust `Table` behind a JS `Table` object (takes it over from JS).
fn table_from_js(v: JsValue) -> Table {
    use wasm_bindgen::convert::TryFromJsValue;
    Table::try_from_js_value(v).expect("a Table")
}

#[wasm_bindgen_test]
async fn read_stream_yields_every_table_in_order() {
    for alignment in [64, 8] {
        let bytes = stream(&WriteOptions {
            alignment,
            compression: Compression::Lz4Frame,
            ..WriteOptions::default()
        });
        for step in [3usize, 100, 4096] {
            let s = read_stream_js(readable(&bytes, step), JsValue::UNDEFINED)
                .map_err(JsValue::from)
                .unwrap();
            assert!(s.schema().unwrap().is_null());
            let mut batch = 0;
            while let Some(t) = next(&s).await.unwrap() {
                check_table(&t, batch);
                batch += 1;
            }
            assert_eq!(batch, 3);
            assert_eq!(s.tables_read(), 3.0);
            assert_eq!(s.rows_read(), 12.0);
            assert_eq!(s.bytes_read(), bytes.len() as f64);
            assert!(s.schema().unwrap().is_object());
            // Finished: stays done.
            assert!(next(&s).await.unwrap().is_none());
        }
    }
}

#[wasm_bindgen_test]
async fn read_stream_rejects_truncated_and_garbage_input() {
    let bytes = stream(&WriteOptions::default());
    let s = read_stream_js(
        readable(&bytes[..bytes.len() - 100], 50),
        JsValue::UNDEFINED,
    )
    .map_err(JsValue::from)
    .unwrap();
    let mut got = 0;
    let err = loop {
        match next(&s).await {
            Ok(Some(_)) => got += 1,
            Ok(None) => panic!("a truncated stream must not end cleanly"),
            Err(e) => break e,
        }
    };
    assert!(got < 3);
    assert!(err.is_instance_of::<js_sys::Error>());
    // After the error the stream is finished.
    assert!(next(&s).await.unwrap().is_none());

    let s = read_stream_js(
        readable(b"this is not an Arrow IPC stream at all", 7),
        JsValue::UNDEFINED,
    )
    .map_err(JsValue::from)
    .unwrap();
    let e = next(&s).await.err().expect("garbage must reject");
    let msg = js_sys::Error::from(e).message().as_string().unwrap();
    assert!(!msg.is_empty());
}

#[wasm_bindgen_test]
async fn read_stream_close_ends_iteration() {
    let bytes = stream(&WriteOptions::default());
    let s = read_stream_js(readable(&bytes, 64), JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    assert!(next(&s).await.unwrap().is_some());
    s.close();
    assert!(next(&s).await.unwrap().is_none());
    let r = JsFuture::from(s.return_()).await.unwrap();
    assert_eq!(prop(&r, "done").as_bool(), Some(true));
}

#[wasm_bindgen_test]
async fn connect_to_a_refused_loopback_port_rejects_with_an_error() {
    // Port 9 (discard) has no listener here: the browser reports a failed
    // connection, and connect() must reject rather than hang.
    let options = Object::new();
    Reflect::set(&options, &"timeoutMs".into(), &JsValue::from_f64(10_000.0)).unwrap();
    let p: Promise = connect("ws://127.0.0.1:9/".into(), options.into()).unwrap();
    let e = JsFuture::from(p).await.expect_err("must reject");
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(prop(&e, "kind").as_string().as_deref(), Some("Connect"));
    let msg = js_sys::Error::from(e).message().as_string().unwrap();
    assert!(msg.contains("127.0.0.1:9"), "{msg}");

    // Bad arguments fail at once.
    // (Relative and http(s) URLs are valid for WebSocket; other schemes are not.)
    assert!(connect("ftp://127.0.0.1/".into(), JsValue::UNDEFINED).is_err());
    let bad = Object::new();
    Reflect::set(&bad, &"maxMessageBytes".into(), &JsValue::from_f64(0.5)).unwrap();
    assert!(connect("ws://127.0.0.1:9/".into(), bad.into()).is_err());
}

/// A new `AbortController` (through `Reflect`: the crate has no web-sys
/// feature for it) and its `signal`.
fn abort_controller() -> (JsValue, JsValue) {
    let ctor: Function = Reflect::get(&js_sys::global(), &"AbortController".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    let ac = Reflect::construct(&ctor, &JsArray::new()).unwrap();
    let signal = Reflect::get(&ac, &"signal".into()).unwrap();
    (ac, signal)
}

fn abort(ac: &JsValue) {
    let f: Function = Reflect::get(ac, &"abort".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    f.call0(ac).unwrap();
}

#[wasm_bindgen_test]
async fn connect_takes_an_abort_signal() {
    // Aborted before the call: refused at once, kind Aborted.
    let (ac, signal) = abort_controller();
    abort(&ac);
    let options = Object::new();
    Reflect::set(&options, &"signal".into(), &signal).unwrap();
    let e = connect("ws://127.0.0.1:9/".into(), options.into()).expect_err("aborted");
    assert_eq!(prop(&e, "kind").as_string().as_deref(), Some("Aborted"));

    // Aborted while connecting: the promise rejects with kind Aborted (not the
    // refused port's Connect, which would come later).
    let (ac, signal) = abort_controller();
    let options = Object::new();
    Reflect::set(&options, &"signal".into(), &signal).unwrap();
    let p: Promise = connect("ws://127.0.0.1:9/".into(), options.into()).unwrap();
    abort(&ac);
    let e = JsFuture::from(p).await.expect_err("must reject");
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(prop(&e, "kind").as_string().as_deref(), Some("Aborted"));

    // Not a signal: refused at once.
    let options = Object::new();
    Reflect::set(&options, &"signal".into(), &JsValue::from_f64(5.0)).unwrap();
    let e = connect("ws://127.0.0.1:9/".into(), options.into()).expect_err("not a signal");
    assert_eq!(prop(&e, "kind").as_string().as_deref(), Some("Unsupported"));
}

/// Regression: `toArray()` of a string or dictionary column with nulls used
/// to read its validity through a view of wasm memory made before the
/// function's own allocations; when those grew memory, the view detached and
/// every row read as null. Grows memory on purpose during `toArray` (large
/// columns in a fresh decode) and checks every value against `get(i)`.
#[wasm_bindgen_test]
fn to_array_survives_memory_growth_during_the_call() {
    use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
    use lightstream_core::minarrow::{
        Array, ArrowType, Bitmask, CategoricalArray, FieldArray, StringArray, TextArray, Vec64,
    };
    use std::sync::Arc;
    let memory = || {
        wasm_bindgen::memory()
            .dyn_into::<js_sys::WebAssembly::Memory>()
            .unwrap()
            .buffer()
            .dyn_into::<js_sys::ArrayBuffer>()
            .unwrap()
            .byte_length()
    };
    let mut grew = false;
    for rows in [50_000usize, 200_000, 800_000] {
        // Mixed ASCII and non-ASCII values (both string paths of toArray).
        let text: Vec<String> = (0..rows)
            .map(|i| {
                if i % 5 == 0 {
                    format!("é{i}")
                } else {
                    format!("v{i}")
                }
            })
            .collect();
        let text_valid: Vec<bool> = (0..rows).map(|i| i % 13 != 0).collect();
        let keys: Vec64<u32> = (0..rows).map(|i| (i % 3) as u32).collect();
        let keys_valid: Vec<bool> = (0..rows).map(|i| i % 7 != 0).collect();
        let s = FieldArray::from_parts(
            "s",
            ArrowType::String,
            Some(true),
            None,
            Array::TextArray(TextArray::String32(Arc::new(StringArray::from_vec(
                text.iter().map(String::as_str).collect(),
                Some(Bitmask::from_bools(&text_valid)),
            )))),
        );
        let d = FieldArray::from_parts(
            "d",
            ArrowType::Dictionary(CategoricalIndexType::UInt32),
            Some(true),
            None,
            Array::TextArray(TextArray::Categorical32(Arc::new(CategoricalArray::new(
                keys,
                Vec64::from(vec!["a".to_string(), "b".into(), "c".into()]),
                Some(Bitmask::from_bools(&keys_valid)),
            )))),
        );
        let t = MTable {
            cols: vec![s, d],
            n_rows: rows,
            name: String::new(),
            metadata: Default::default(),
        };
        let bytes = write_stream(
            &Schema::from_table(&t),
            std::slice::from_ref(&t),
            &WriteOptions::default(),
        )
        .unwrap();
        drop(t);
        let mut tables =
            lightstream_wasm::decode(Uint8Array::from(&bytes[..]).into(), JsValue::UNDEFINED)
                .map_err(JsValue::from)
                .unwrap();
        drop(bytes);
        let table = tables.remove(0);
        for name in ["s", "d"] {
            let c = table.column(name.into()).map_err(JsValue::from).unwrap();
            // Use up the allocator's free memory, so toArray's own
            // allocations must grow it.
            let mut hog: Vec<Vec<u8>> = Vec::new();
            for _ in 0..100_000 {
                let m = memory();
                hog.push(vec![1u8; 1 << 16]);
                if memory() > m {
                    break;
                }
            }
            let before = memory();
            let values: JsArray = c
                .to_array(JsValue::UNDEFINED)
                .map_err(JsValue::from)
                .unwrap()
                .dyn_into()
                .unwrap();
            grew |= memory() > before;
            drop(hog);
            let nulls = values.iter().filter(|v| v.is_null()).count();
            assert_eq!(nulls, c.null_count(), "{name} with {rows} rows");
            for i in (0..rows).step_by(997) {
                assert_eq!(
                    values.get(i as u32),
                    c.get(i).map_err(JsValue::from).unwrap()
                );
            }
        }
    }
    assert!(
        grew,
        "the test must grow wasm memory during toArray to mean anything"
    );
}

/// `n` one-row tables; table `i` holds the dictionary `value-0..=i` and key
/// `i`: written with deltas, each batch adds one value (a live feed).
fn delta_stream(n: usize) -> Vec<u8> {
    let all: Vec<String> = (0..n).map(|i| format!("value-{i}")).collect();
    let tables: Vec<MTable> = (0..n)
        .map(|i| {
            let dict = Vec64::from(all[..=i].to_vec());
            let array = CategoricalArray::<u32>::new(Vec64::from_slice(&[i as u32]), dict, None);
            let column = FieldArray::from_arr("city", Array::from_categorical32(array));
            MTable::new("t", Some(vec![column]))
        })
        .collect();
    write_stream(
        &Schema::from_table(&tables[0]),
        &tables,
        &WriteOptions::default(),
    )
    .expect("write_stream")
}

#[wasm_bindgen_test]
fn compact_dictionaries_is_an_option_of_decode_and_stream_decoder() {
    let bytes = delta_stream(20);
    for compact in [false, true] {
        let options = Object::new();
        Reflect::set(
            &options,
            &"compactDictionaries".into(),
            &JsValue::from(compact),
        )
        .unwrap();
        let decoded = decode(Uint8Array::from(&bytes[..]).into(), options.clone().into())
            .map_err(JsValue::from)
            .unwrap();
        let mut dec = StreamDecoder::new(options.into())
            .map_err(JsValue::from)
            .unwrap();
        let pushed = dec
            .push(Uint8Array::from(&bytes[..]).into())
            .map_err(JsValue::from)
            .unwrap();
        for tables in [decoded, pushed] {
            assert_eq!(tables.len(), 20);
            for (i, t) in tables.iter().enumerate() {
                let city = t.column("city".into()).map_err(JsValue::from).unwrap();
                let dict = city.dictionary().map_err(JsValue::from).unwrap();
                // Compact: the one value the row uses; otherwise the whole
                // dictionary as it stands after table i's delta.
                assert_eq!(dict.length() as usize, if compact { 1 } else { i + 1 });
                let values: JsArray = city
                    .to_array(JsValue::UNDEFINED)
                    .map_err(JsValue::from)
                    .unwrap()
                    .dyn_into()
                    .unwrap();
                assert_eq!(values.get(0).as_string(), Some(format!("value-{i}")));
            }
        }
    }
    let bad = Object::new();
    Reflect::set(&bad, &"compactDictionaries".into(), &JsValue::from(1)).unwrap();
    assert!(StreamDecoder::new(bad.into()).is_err());
}

#[wasm_bindgen_test]
fn a_token_that_cannot_be_a_subprotocol_is_refused_before_connecting() {
    for bad in ["", "has space", "comma,separated", "caf\u{e9}", "a\"b"] {
        let options = Object::new();
        Reflect::set(&options, &"token".into(), &bad.into()).unwrap();
        let e = connect("ws://127.0.0.1:9/".into(), options.into()).expect_err(bad);
        assert_eq!(
            prop(&e, "kind").as_string().as_deref(),
            Some("Token"),
            "{bad:?}"
        );
        let msg = js_sys::Error::from(e).message().as_string().unwrap();
        assert!(msg.contains("token"), "{msg}");
        if !bad.is_empty() {
            assert!(!msg.contains(bad), "the message repeats the token: {msg}");
        }
    }
    let options = Object::new();
    Reflect::set(&options, &"token".into(), &JsValue::from_f64(42.0)).unwrap();
    assert!(connect("ws://127.0.0.1:9/".into(), options.into()).is_err());
    // base64url (and a JWT's dots) go through.
    let good = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.Zm9vYmFy-_~";
    assert_eq!(
        lightstream_wasm::stream::check_token_js(good.into()).unwrap(),
        good
    );
}

#[wasm_bindgen_test]
async fn a_read_stream_that_ends_early_rejects_as_truncated() {
    let bytes = stream(&WriteOptions::default());
    let s = read_stream_js(readable(&bytes[..bytes.len() - 8], 64), JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    let e = loop {
        match next(&s).await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("a stream without its end-of-stream marker ended cleanly"),
            Err(e) => break e,
        }
    };
    assert_eq!(prop(&e, "kind").as_string().as_deref(), Some("Truncated"));
}
