//! End-to-end tests of the codec on its own bytes: every supported type
//! round-trips, aligned input is decoded without a copy (pointer identity),
//! misaligned input is copied once and read correctly, legacy framing works,
//! and corrupted or hostile bytes give the documented errors.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use lightstream_core::framing::Decoded;
use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, Buffer, CategoricalArray, DatetimeArray, DecimalArray,
    Field, FieldArray, FloatArray, IntegerArray, NumericArray, StringArray, Table, TemporalArray,
    TextArray, TimeUnit, Vec64,
};
use lightstream_core::{
    Compression, DictionaryEncoding, ErrorKind, IndexType, IpcFileEncoder, IpcFileReader,
    IpcStreamDecoder, IpcStreamEncoder, ReadOptions, Schema, StreamItem, WriteOptions,
    aligned_copy, read_file, read_stream, write_file, write_stream,
};

fn field(name: &str, dtype: ArrowType, nullable: bool) -> Arc<Field> {
    Arc::new(Field {
        name: name.into(),
        dtype,
        nullable,
        metadata: BTreeMap::new(),
    })
}

fn mask(valid: &[bool]) -> Option<Bitmask> {
    Some(Bitmask::from_bools(valid))
}

fn col(f: Arc<Field>, array: Array, nulls: usize) -> FieldArray {
    FieldArray {
        field: f,
        array,
        null_count: nulls,
    }
}

fn strings32(values: &[&str], valid: Option<&[bool]>) -> StringArray<u32> {
    let mut offsets = Vec64::with_capacity(values.len() + 1);
    let mut data = Vec64::new();
    offsets.push(0u32);
    for v in values {
        data.extend_from_slice(v.as_bytes());
        offsets.push(data.len() as u32);
    }
    StringArray {
        offsets: Buffer::from(offsets),
        data: Buffer::from(data),
        null_mask: valid.and_then(mask),
    }
}

/// A table with one column of every supported type, 5 rows, nulls in most.
fn every_type() -> (Schema, Table) {
    let v = [true, false, true, true, false];
    let nulls = 2;
    let mut cols = Vec::new();
    macro_rules! int {
        ($name:expr, $dt:expr, $variant:ident, $vals:expr) => {
            cols.push(col(
                field($name, $dt, true),
                Array::NumericArray(NumericArray::$variant(Arc::new(IntegerArray {
                    data: Buffer::from(Vec64::from_slice(&$vals)),
                    null_mask: mask(&v),
                }))),
                nulls,
            ));
        };
    }
    int!("i8", ArrowType::Int8, Int8, [-128i8, 0, 1, 127, 5]);
    int!("i16", ArrowType::Int16, Int16, [-32768i16, 0, 1, 32767, 5]);
    int!(
        "i32",
        ArrowType::Int32,
        Int32,
        [i32::MIN, 0, 1, i32::MAX, 5]
    );
    int!(
        "i64",
        ArrowType::Int64,
        Int64,
        [i64::MIN, 0, 1, i64::MAX, 5]
    );
    int!("u8", ArrowType::UInt8, UInt8, [0u8, 1, 2, 255, 5]);
    int!("u16", ArrowType::UInt16, UInt16, [0u16, 1, 2, 65535, 5]);
    int!("u32", ArrowType::UInt32, UInt32, [0u32, 1, 2, u32::MAX, 5]);
    int!("u64", ArrowType::UInt64, UInt64, [0u64, 1, 2, u64::MAX, 5]);
    cols.push(col(
        field("f32", ArrowType::Float32, true),
        Array::NumericArray(NumericArray::Float32(Arc::new(FloatArray {
            data: Buffer::from(Vec64::from_slice(&[
                1.5f32,
                f32::NAN,
                -0.0,
                f32::INFINITY,
                2.0,
            ])),
            null_mask: mask(&v),
        }))),
        nulls,
    ));
    cols.push(col(
        field("f64", ArrowType::Float64, false),
        Array::NumericArray(NumericArray::Float64(Arc::new(FloatArray {
            data: Buffer::from(Vec64::from_slice(&[1.5f64, 2.5, -3.25, 1e300, 0.0])),
            null_mask: None,
        }))),
        0,
    ));
    cols.push(col(
        field("bool", ArrowType::Boolean, true),
        Array::BooleanArray(Arc::new(BooleanArray::new(
            Bitmask::from_bools(&[true, true, false, true, false]),
            mask(&v),
        ))),
        nulls,
    ));
    cols.push(col(
        field("utf8", ArrowType::String, true),
        Array::TextArray(TextArray::String32(Arc::new(strings32(
            &["héllo", "", "wörld ✓", "", "z"],
            Some(&v),
        )))),
        nulls,
    ));
    let large = {
        let s = strings32(&["a", "bb", "", "dddd", "€"], None);
        StringArray::<u64> {
            offsets: Buffer::from(Vec64::from_slice(
                &s.offsets
                    .as_slice()
                    .iter()
                    .map(|&o| o as u64)
                    .collect::<Vec<_>>(),
            )),
            data: s.data.clone(),
            null_mask: None,
        }
    };
    cols.push(col(
        field("large_utf8", ArrowType::LargeString, false),
        Array::TextArray(TextArray::String64(Arc::new(large))),
        0,
    ));
    cols.push(col(
        field(
            "dict",
            ArrowType::Dictionary(CategoricalIndexType::UInt32),
            true,
        ),
        Array::TextArray(TextArray::Categorical32(Arc::new(CategoricalArray {
            data: Buffer::from(Vec64::from_slice(&[2u32, 0, 1, 1, 0])),
            unique_values: ["red", "green", "blue"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            null_mask: mask(&v),
        }))),
        nulls,
    ));
    cols.push(col(
        field(
            "dict8",
            ArrowType::Dictionary(CategoricalIndexType::UInt8),
            false,
        ),
        Array::TextArray(TextArray::Categorical8(Arc::new(CategoricalArray {
            data: Buffer::from(Vec64::from_slice(&[0u8, 0, 1, 0, 1])),
            unique_values: ["x", "y"].iter().map(|s| s.to_string()).collect(),
            null_mask: None,
        }))),
        0,
    ));
    macro_rules! temporal {
        ($name:expr, $dt:expr, $variant:ident, $vals:expr, $unit:expr) => {
            cols.push(col(
                field($name, $dt, true),
                Array::TemporalArray(TemporalArray::$variant(Arc::new(DatetimeArray {
                    data: Buffer::from(Vec64::from_slice(&$vals)),
                    null_mask: mask(&v),
                    time_unit: $unit,
                }))),
                nulls,
            ));
        };
    }
    temporal!(
        "date32",
        ArrowType::Date32,
        Datetime32,
        [0i32, 1, -1, 19000, 5],
        TimeUnit::Days
    );
    temporal!(
        "date64",
        ArrowType::Date64,
        Datetime64,
        [0i64, 86_400_000, -86_400_000, 5, 6],
        TimeUnit::Milliseconds
    );
    temporal!(
        "time32",
        ArrowType::Time32(TimeUnit::Milliseconds),
        Datetime32,
        [0i32, 1, 86_399_999, 3, 4],
        TimeUnit::Milliseconds
    );
    temporal!(
        "time64",
        ArrowType::Time64(TimeUnit::Nanoseconds),
        Datetime64,
        [0i64, 1, 86_399_999_999_999, 3, 4],
        TimeUnit::Nanoseconds
    );
    temporal!(
        "ts",
        ArrowType::Timestamp(TimeUnit::Microseconds, Some("Europe/Paris".into())),
        Datetime64,
        [0i64, 1, -1, 1_700_000_000_000_000, 4],
        TimeUnit::Microseconds
    );
    temporal!(
        "ts_naive",
        ArrowType::Timestamp(TimeUnit::Seconds, None),
        Datetime64,
        [0i64, 1, 2, 3, 4],
        TimeUnit::Seconds
    );
    temporal!(
        "duration",
        ArrowType::Duration64(TimeUnit::Nanoseconds),
        Datetime64,
        [0i64, -1, 2, 3, 4],
        TimeUnit::Nanoseconds
    );
    cols.push(col(
        field("dec128", ArrowType::Decimal128(38, 4), true),
        Array::NumericArray(NumericArray::Decimal128(Arc::new(DecimalArray {
            data: Buffer::from(Vec64::from_slice(&[12345i128, -1, i128::MAX / 3, 0, 7])),
            null_mask: mask(&v),
            precision: 38,
            scale: 4,
        }))),
        nulls,
    ));
    cols.push(col(
        field("dec32", ArrowType::Decimal32(9, 2), false),
        Array::NumericArray(NumericArray::Decimal32(Arc::new(DecimalArray {
            data: Buffer::from(Vec64::from_slice(&[100i32, -250, 0, 999_999_999, 1])),
            null_mask: None,
            precision: 9,
            scale: 2,
        }))),
        0,
    ));
    cols.push(col(
        field("dec64", ArrowType::Decimal64(18, -2), false),
        Array::NumericArray(NumericArray::Decimal64(Arc::new(DecimalArray {
            data: Buffer::from(Vec64::from_slice(&[100i64, -250, 0, 5, 1])),
            null_mask: None,
            precision: 18,
            scale: -2,
        }))),
        0,
    ));
    cols.push(col(field("null", ArrowType::Null, true), Array::Null, 5));
    let mut f_meta = (*cols[0].field).clone();
    f_meta.metadata.insert("unit".into(), "kelvin".into());
    cols[0].field = Arc::new(f_meta);
    let mut metadata = BTreeMap::new();
    metadata.insert("origin".into(), "lightstream tests".into());
    metadata.insert("ünïcode".into(), "✓".into());
    let table = Table {
        cols,
        n_rows: 5,
        name: String::new(),
        metadata,
    };
    let mut schema = Schema::from_table(&table);
    // Keep one dictionary with Arrow's default signed keys.
    schema.dictionaries[schema.fields.iter().position(|f| f.name == "dict").unwrap()] =
        Some(DictionaryEncoding {
            id: 7,
            index_type: IndexType::Int32,
            large_values: true,
            ordered: true,
        });
    (schema, table)
}

/// Compares two tables value by value where valid (null slots may differ).
fn assert_same(a: &Table, b: &Table) {
    assert_eq!(a.n_rows, b.n_rows);
    assert_eq!(a.metadata, b.metadata);
    assert_eq!(a.cols.len(), b.cols.len());
    for (x, y) in a.cols.iter().zip(&b.cols) {
        assert_eq!(x.field, y.field, "field {}", x.field.name);
        assert_eq!(x.null_count, y.null_count, "null count of {}", x.field.name);
        for i in 0..a.n_rows {
            assert_eq!(
                value(&x.array, i),
                value(&y.array, i),
                "row {i} of {}",
                x.field.name
            );
        }
    }
}

/// A printable value of row `i` (None = null).
fn value(a: &Array, i: usize) -> Option<String> {
    fn valid(m: &Option<Bitmask>, i: usize) -> bool {
        m.as_ref().is_none_or(|m| m.get(i))
    }
    macro_rules! num {
        ($x:expr) => {
            valid(&$x.null_mask, i).then(|| format!("{:?}", $x.data.as_slice()[i]))
        };
    }
    match a {
        Array::Null => None,
        Array::BooleanArray(b) => valid(&b.null_mask, i).then(|| b.data.get(i).to_string()),
        Array::NumericArray(n) => match n {
            NumericArray::Int8(x) => num!(x),
            NumericArray::Int16(x) => num!(x),
            NumericArray::Int32(x) => num!(x),
            NumericArray::Int64(x) => num!(x),
            NumericArray::UInt8(x) => num!(x),
            NumericArray::UInt16(x) => num!(x),
            NumericArray::UInt32(x) => num!(x),
            NumericArray::UInt64(x) => num!(x),
            NumericArray::Float32(x) => num!(x),
            NumericArray::Float64(x) => num!(x),
            NumericArray::Decimal32(x) => num!(x),
            NumericArray::Decimal64(x) => num!(x),
            NumericArray::Decimal128(x) => num!(x),
            NumericArray::Null => None,
        },
        Array::TemporalArray(t) => match t {
            TemporalArray::Datetime32(x) => num!(x),
            TemporalArray::Datetime64(x) => num!(x),
            TemporalArray::Null => None,
        },
        Array::TextArray(t) => {
            macro_rules! s {
                ($x:expr) => {{
                    let o = $x.offsets.as_slice();
                    valid(&$x.null_mask, i).then(|| {
                        String::from_utf8(
                            $x.data.as_slice()[o[i] as usize..o[i + 1] as usize].to_vec(),
                        )
                        .unwrap()
                    })
                }};
            }
            macro_rules! c {
                ($x:expr) => {
                    valid(&$x.null_mask, i)
                        .then(|| $x.unique_values[$x.data.as_slice()[i] as usize].clone())
                };
            }
            match t {
                TextArray::String32(x) => s!(x),
                TextArray::String64(x) => s!(x),
                TextArray::Categorical8(x) => c!(x),
                TextArray::Categorical16(x) => c!(x),
                TextArray::Categorical32(x) => c!(x),
                TextArray::Categorical64(x) => c!(x),
                TextArray::Null => None,
            }
        }
    }
}

fn options(compression: Compression, alignment: usize) -> WriteOptions {
    WriteOptions {
        compression,
        alignment,
        ..WriteOptions::default()
    }
}

#[test]
fn every_type_round_trips_through_streams_and_files() {
    let (schema, table) = every_type();
    for compression in [Compression::None, Compression::Lz4Frame, Compression::Zstd] {
        for alignment in [64, 8] {
            let o = options(compression, alignment);
            let tables = [table.clone(), table.clone()];
            let bytes = write_stream(&schema, &tables, &o).unwrap();
            let (s, back) = read_stream(aligned_copy(&bytes), ReadOptions::default()).unwrap();
            assert_eq!(*s, schema, "{compression:?}/{alignment}");
            assert_eq!(back.len(), 2);
            assert_same(&back[1], &table);

            let bytes = write_file(&schema, &tables, &o).unwrap();
            let (s, back) = read_file(aligned_copy(&bytes), ReadOptions::default()).unwrap();
            assert_eq!(*s, schema);
            assert_same(&back[0], &table);
        }
    }
}

/// Every body buffer of 64-aligned input is borrowed from it: the column's
/// data pointer lies inside the input allocation.
#[test]
fn aligned_input_is_decoded_without_a_copy() {
    let (schema, table) = every_type();
    let bytes = aligned_copy(&write_stream(&schema, &[table], &WriteOptions::default()).unwrap());
    let range = bytes.as_slice().as_ptr_range();
    let inside = |p: *const u8| range.contains(&p);
    let (_, back) = read_stream(bytes.clone(), ReadOptions::default()).unwrap();
    let t = &back[0];
    let mut checked = 0;
    for c in &t.cols {
        let ptr = match &c.array {
            Array::NumericArray(NumericArray::Int64(a)) => a.data.as_slice().as_ptr() as *const u8,
            Array::NumericArray(NumericArray::Float64(a)) => {
                a.data.as_slice().as_ptr() as *const u8
            }
            Array::NumericArray(NumericArray::Decimal128(a)) => {
                a.data.as_slice().as_ptr() as *const u8
            }
            Array::TemporalArray(TemporalArray::Datetime64(a)) => {
                a.data.as_slice().as_ptr() as *const u8
            }
            Array::TextArray(TextArray::String32(a)) => {
                assert!(inside(a.offsets.as_slice().as_ptr() as *const u8));
                assert!(inside(a.null_mask.as_ref().unwrap().as_bytes().as_ptr()));
                a.data.as_slice().as_ptr()
            }
            Array::TextArray(TextArray::Categorical32(a)) => {
                a.data.as_slice().as_ptr() as *const u8
            }
            Array::BooleanArray(a) => a.data.as_bytes().as_ptr(),
            _ => continue,
        };
        assert!(inside(ptr), "column {} was copied", c.field.name);
        assert_eq!(ptr as usize % 64, 0);
        checked += 1;
    }
    assert!(checked >= 8, "checked {checked} columns");
}

/// 8-aligned input (what pyarrow writes) is read in place where its buffers
/// are aligned for their type, copied buffer by buffer where they are not (an
/// odd address), relocated in one copy with `align_64`, and read correctly.
#[test]
fn misaligned_input_is_borrowed_or_copied_once_and_read_correctly() {
    let (schema, table) = every_type();
    let bytes = write_stream(
        &schema,
        std::slice::from_ref(&table),
        &options(Compression::None, 8),
    )
    .unwrap();
    let i64_data = |t: &Table| {
        let Array::NumericArray(NumericArray::Int64(a)) = &t.cols[3].array else {
            panic!("column 3 is i64")
        };
        a.data.as_slice().as_ptr() as *const u8
    };
    let align_64 = ReadOptions {
        align_64: true,
        ..ReadOptions::default()
    };
    for shift in [1usize, 3, 8, 24] {
        let mut padded = vec![0u8; shift];
        padded.extend_from_slice(&bytes);
        let shared = aligned_copy(&padded).slice(shift..);
        let range = shared.as_slice().as_ptr_range();
        let (_, back) = read_stream(shared.clone(), ReadOptions::default()).unwrap();
        assert_same(&back[0], &table);
        let p = i64_data(&back[0]);
        if shift % 8 == 0 {
            assert!(
                range.contains(&p),
                "8-aligned data is borrowed (shift {shift})"
            );
        } else {
            assert!(!range.contains(&p), "misaligned data must not be borrowed");
            assert_eq!(p as usize % 64, 0);
        }
        let (_, back) = read_stream(shared.clone(), align_64.clone()).unwrap();
        assert_same(&back[0], &table);
        assert!(!range.contains(&i64_data(&back[0])));
        assert_relocated_once(&back[0]);
    }
    // The push path copies the body in once, and every column is a slice of
    // that copy: as it lay (8-aligned buffers, as in shared memory), or
    // moved to 64-byte boundaries in the same pass with `align_64`.
    for (options, align) in [(ReadOptions::default(), 8), (align_64.clone(), 64)] {
        for chunk in [3, 4096, bytes.len()] {
            let mut dec = IpcStreamDecoder::new(options.clone());
            let mut got = None;
            for piece in bytes.chunks(chunk) {
                let mut rest = piece;
                while let Decoded::Frame { frame, consumed } = dec.push(rest).unwrap() {
                    rest = &rest[consumed..];
                    if let StreamItem::Table(t) = frame {
                        got = Some(t);
                    }
                    if rest.is_empty() {
                        break;
                    }
                }
            }
            let t = got.expect("a table");
            assert_same(&t, &table);
            assert_copied_once_at(&t, align);
        }
    }
}

/// Every fixed-width column and string column is a slice of its message's
/// (relocated) body, not a private copy, and starts 64-byte aligned.
fn assert_relocated_once(t: &Table) {
    assert_copied_once_at(t, 64)
}

/// Every fixed-width column and string column is a slice of its message's
/// body (copied once), not a private copy, and starts `align`-byte aligned
/// (a Decimal128 at an odd multiple of 8 is copied alone, to 64).
fn assert_copied_once_at(t: &Table, align: usize) {
    let mut n = 0;
    for c in &t.cols {
        let (shared, ptr) = match &c.array {
            Array::NumericArray(NumericArray::Int64(a)) => {
                (a.data.is_shared(), a.data.as_slice().as_ptr() as usize)
            }
            Array::NumericArray(NumericArray::Int32(a)) => {
                (a.data.is_shared(), a.data.as_slice().as_ptr() as usize)
            }
            Array::NumericArray(NumericArray::Float64(a)) => {
                (a.data.is_shared(), a.data.as_slice().as_ptr() as usize)
            }
            Array::NumericArray(NumericArray::Decimal128(a)) => {
                (a.data.is_shared(), a.data.as_slice().as_ptr() as usize)
            }
            Array::TemporalArray(TemporalArray::Datetime64(a)) => {
                (a.data.is_shared(), a.data.as_slice().as_ptr() as usize)
            }
            Array::TextArray(TextArray::String32(a)) => (
                a.offsets.is_shared() && a.data.is_shared(),
                a.data.as_slice().as_ptr() as usize,
            ),
            _ => continue,
        };
        let decimal_copied = !shared
            && matches!(c.array, Array::NumericArray(NumericArray::Decimal128(_)))
            && ptr % 64 == 0;
        assert!(
            shared || decimal_copied,
            "column {} was copied a second time",
            c.field.name
        );
        assert_eq!(ptr % align, 0, "column {}", c.field.name);
        n += 1;
    }
    assert!(n >= 8);
}

/// Pushing the stream in any chunking gives the same tables; the copying path
/// still lands bodies 64-byte aligned.
#[test]
fn push_decoder_handles_any_chunking() {
    let (schema, table) = every_type();
    let bytes = write_stream(
        &schema,
        &[table.clone(), table.clone()],
        &options(Compression::Zstd, 8),
    )
    .unwrap();
    for chunk in [1, 7, 64, 4096, bytes.len()] {
        let mut dec = IpcStreamDecoder::new(ReadOptions::default());
        let mut tables = Vec::new();
        let mut ended = false;
        for piece in bytes.chunks(chunk) {
            let mut rest = piece;
            while !rest.is_empty() {
                match dec.push(rest).unwrap() {
                    Decoded::Frame { frame, consumed } => {
                        rest = &rest[consumed..];
                        match frame {
                            StreamItem::Table(t) => tables.push(t),
                            StreamItem::End => ended = true,
                            StreamItem::Schema(s) => assert_eq!(*s, schema),
                        }
                    }
                    Decoded::NeedMore => break,
                }
            }
        }
        lightstream_core::framing::FrameDecoder::finish(&dec).unwrap();
        assert!(ended);
        assert_eq!(tables.len(), 2, "chunk {chunk}");
        assert_same(&tables[1], &table);
        let Array::NumericArray(NumericArray::Int64(a)) = &tables[0].cols[3].array else {
            panic!()
        };
        assert_eq!(a.data.as_slice().as_ptr() as usize % 64, 0);
    }
}

/// Rewrites a stream into the pre-0.15 form (no continuation markers).
fn to_legacy(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        assert_eq!(&bytes[i..i + 4], &[0xFF; 4]);
        let len = i32::from_le_bytes(bytes[i + 4..i + 8].try_into().unwrap()) as usize;
        if len == 0 {
            out.extend_from_slice(&[0, 0, 0, 0]);
            break;
        }
        let meta = &bytes[i + 8..i + 8 + len];
        let body_len = {
            // Let the frame decoder read bodyLength out of the flatbuffer.
            let mut d = lightstream_core::framing::ipc::IpcFrameDecoder::new(Default::default());
            match lightstream_core::framing::FrameDecoder::decode(&mut d, &bytes[i..]).unwrap() {
                Decoded::Frame {
                    frame: lightstream_core::framing::ipc::IpcFrame::Message(m),
                    ..
                } => m.body.len(),
                other => panic!("{other:?}"),
            }
        };
        out.extend_from_slice(&(len as i32).to_le_bytes());
        out.extend_from_slice(meta);
        out.extend_from_slice(&bytes[i + 8 + len..i + 8 + len + body_len]);
        i += 8 + len + body_len;
    }
    out
}

#[test]
fn legacy_streams_without_continuation_markers_decode() {
    let (schema, table) = every_type();
    let bytes = write_stream(
        &schema,
        std::slice::from_ref(&table),
        &WriteOptions::default(),
    )
    .unwrap();
    let legacy = to_legacy(&bytes);
    assert!(legacy.len() < bytes.len());
    let (s, back) = read_stream(aligned_copy(&legacy), ReadOptions::default()).unwrap();
    assert_eq!(*s, schema);
    assert_same(&back[0], &table);
    for chunk in [1, 5, 4096] {
        let mut dec = IpcStreamDecoder::new(ReadOptions::default());
        let mut n = 0;
        for piece in legacy.chunks(chunk) {
            let mut rest = piece;
            while let Decoded::Frame { frame, consumed } = dec.push(rest).unwrap() {
                rest = &rest[consumed..];
                if let StreamItem::Table(t) = frame {
                    assert_same(&t, &table);
                    n += 1;
                }
                if rest.is_empty() {
                    break;
                }
            }
        }
        assert_eq!(n, 1);
    }
}

#[test]
fn a_stream_may_end_without_the_end_marker_but_not_mid_message() {
    let (schema, table) = every_type();
    let bytes = write_stream(&schema, &[table], &WriteOptions::default()).unwrap();
    let without_eos = &bytes[..bytes.len() - 8];
    let (_, back) = read_stream(aligned_copy(without_eos), ReadOptions::default()).unwrap();
    assert_eq!(back.len(), 1);
    for cut in [3, 9, 100, without_eos.len() - 1] {
        let err =
            read_stream(aligned_copy(&without_eos[..cut]), ReadOptions::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Truncated, "cut at {cut}: {err}");
    }
    let mut extra = bytes.clone();
    extra.extend_from_slice(b"junk");
    let mut dec = IpcStreamDecoder::new(ReadOptions::default());
    let mut rest = &extra[..];
    let err = loop {
        match dec.push(rest) {
            Ok(Decoded::Frame { consumed, .. }) => rest = &rest[consumed..],
            Ok(Decoded::NeedMore) => panic!("junk after the end marker was accepted"),
            Err(e) => break e,
        }
    };
    assert!(err.to_string().contains("end-of-stream"), "{err}");
}

#[test]
fn a_hostile_header_cannot_make_the_decoder_allocate() {
    // Continuation marker + a 2 GiB metadata length.
    let mut dec = IpcStreamDecoder::new(ReadOptions::default());
    let err = dec
        .push(&[
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0,
        ])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    assert!(
        err.message().contains("metadata length is 2147483647"),
        "{err}"
    );
    // Negative length.
    let err = read_stream(
        aligned_copy(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0x80]),
        ReadOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed);
    // Garbage metadata of a plausible length.
    let mut g = vec![0xFF, 0xFF, 0xFF, 0xFF, 16, 0, 0, 0];
    g.extend_from_slice(&[0xAB; 16]);
    let err = read_stream(aligned_copy(&g), ReadOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed);
    assert!(err.message().contains("flatbuffer"), "{err}");
}

#[test]
fn a_body_larger_than_the_limit_is_refused() {
    let (schema, table) = every_type();
    let bytes = write_stream(&schema, &[table], &WriteOptions::default()).unwrap();
    let limits = lightstream_core::DecodeLimits {
        max_body_bytes: 64,
        ..Default::default()
    };
    let err = read_stream(
        aligned_copy(&bytes),
        ReadOptions {
            limits,
            ..ReadOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    assert_eq!(err.location().message_index, Some(1));
}

/// Splits an encoded stream of one dictionary table into its messages.
fn dictionary_stream(keys: &[u32]) -> (Vec<u8>, usize) {
    let f = field(
        "city",
        ArrowType::Dictionary(CategoricalIndexType::UInt32),
        true,
    );
    let t = Table {
        cols: vec![col(
            f,
            Array::TextArray(TextArray::Categorical32(Arc::new(CategoricalArray {
                data: Buffer::from(Vec64::from_slice(keys)),
                unique_values: ["a", "b", "c"].iter().map(|s| s.to_string()).collect(),
                null_mask: None,
            }))),
            0,
        )],
        n_rows: keys.len(),
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    let mut enc =
        IpcStreamEncoder::new(Arc::new(Schema::from_table(&t)), WriteOptions::default()).unwrap();
    let mut out = enc.schema_message().unwrap().to_vec();
    let msgs = enc.encode_table(&t).unwrap();
    msgs[0].write_to(&mut out).unwrap();
    let keys_at = out.len() + msgs[1].metadata_len();
    msgs[1].write_to(&mut out).unwrap();
    (out, keys_at)
}

#[test]
fn an_out_of_range_dictionary_key_is_an_error_naming_the_field() {
    let (mut bytes, keys_at) = dictionary_stream(&[0, 1, 2]);
    read_stream(aligned_copy(&bytes), ReadOptions::default()).unwrap();
    bytes[keys_at + 4..keys_at + 8].copy_from_slice(&7u32.to_le_bytes());
    let err = read_stream(aligned_copy(&bytes), ReadOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert_eq!(err.location().field.as_deref(), Some("city"));
    assert!(err.message().contains("key 7 at row 1"), "{err}");
}

fn string_stream(values: &[&str], valid: Option<&[bool]>) -> (Vec<u8>, usize) {
    let f = field("s", ArrowType::String, true);
    let arr = strings32(values, valid);
    let nulls = valid.map_or(0, |v| v.iter().filter(|b| !**b).count());
    let t = Table {
        cols: vec![col(
            f,
            Array::TextArray(TextArray::String32(Arc::new(arr))),
            nulls,
        )],
        n_rows: values.len(),
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    let mut enc =
        IpcStreamEncoder::new(Arc::new(Schema::from_table(&t)), WriteOptions::default()).unwrap();
    let mut out = enc.schema_message().unwrap().to_vec();
    let msgs = enc.encode_table(&t).unwrap();
    let body_at = out.len() + msgs[0].metadata_len();
    msgs[0].write_to(&mut out).unwrap();
    (out, body_at)
}

#[test]
fn invalid_utf8_in_a_valid_row_is_an_error() {
    let (mut bytes, body) = string_stream(&["ok", "fine"], None);
    // Validity is empty, offsets occupy 64 padded bytes, data follows.
    bytes[body + 64 + 2] = 0xFF;
    let err = read_stream(aligned_copy(&bytes), ReadOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(err.message().contains("row 1 is not valid UTF-8"), "{err}");
}

#[test]
fn invalid_utf8_under_a_null_is_blanked_not_rejected() {
    let (mut bytes, body) = string_stream(&["ok", "xx", "yes"], Some(&[true, false, true]));
    // Validity (64 padded bytes), offsets (64), then data "okxxyes".
    bytes[body + 128 + 2] = 0xC3; // a lone lead byte inside the null value
    let (_, t) = read_stream(aligned_copy(&bytes), ReadOptions::default()).unwrap();
    assert_eq!(value(&t[0].cols[0].array, 0).as_deref(), Some("ok"));
    assert_eq!(value(&t[0].cols[0].array, 1), None);
    assert_eq!(value(&t[0].cols[0].array, 2).as_deref(), Some("yes"));
}

/// The message of the `InvalidData` error a one-column string stream of
/// `values` (read fine as written) gives once `offsets` (index, value) are
/// written into its offsets buffer and `data` (position, byte) into its data.
fn string_edit_error(values: &[&str], offsets: &[(usize, u32)], data: &[(usize, u8)]) -> String {
    let (mut bytes, body) = string_stream(values, None);
    let (_, t) = read_stream(aligned_copy(&bytes), ReadOptions::default()).unwrap();
    for i in [0, values.len() / 2, values.len() - 1] {
        assert_eq!(value(&t[0].cols[0].array, i).as_deref(), Some(values[i]));
    }
    for &(i, v) in offsets {
        bytes[body + 4 * i..body + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
    }
    // No validity buffer: the data follows the offsets, padded to 64 bytes.
    let data_at = body + (4 * (values.len() + 1)).next_multiple_of(64);
    for &(at, b) in data {
        bytes[data_at + at] = b;
    }
    let err = read_stream(aligned_copy(&bytes), ReadOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    err.message().to_string()
}

fn offsets_edit_error(values: &[&str], offsets: &[(usize, u32)]) -> String {
    string_edit_error(values, offsets, &[])
}

#[test]
fn string_checks_hold_across_blocks() {
    // The core checks strings in blocks of 16,384 offsets (each block's UTF-8,
    // then its offsets): 40,000 values span three, every third one non-ASCII.
    let lead = |i: usize| if i % 3 == 0 { "é" } else { "v" };
    let values: Vec<String> = (0..40_000).map(|i| format!("{}{i}", lead(i))).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let start = |i: usize| refs[..i].iter().map(|s| s.len()).sum::<usize>();
    // The offset where the first two blocks meet, moved inside the é that
    // starts value 16,383 (16,383 is a multiple of 3): both blocks still read
    // as a whole would be valid UTF-8 but for that cut.
    let cut = start(16_383) as u32 + 1;
    let e = offsets_edit_error(&refs, &[(16_384, cut)]);
    assert!(e.contains("row 16383 is not valid UTF-8"), "{e}");
    // The value whose end is that offset: a bad byte in it, and its end
    // before its start (inside value 16,382, "v16382": ASCII, so on a char
    // boundary).
    let e = string_edit_error(&refs, &[], &[(start(16_383) + 2, 0xFF)]);
    assert!(e.contains("row 16383 is not valid UTF-8"), "{e}");
    let e = offsets_edit_error(&refs, &[(16_384, start(16_383) as u32 - 1)]);
    assert!(e.contains("out of order or out of bounds"), "{e}");
    // A bad byte in the middle block's data, in value 30,000.
    let e = string_edit_error(&refs, &[], &[(start(30_000), 0xFF)]);
    assert!(e.contains("row 30000 is not valid UTF-8"), "{e}");
    // Offsets out of order in the last block only.
    let at = start(39_000) as u32;
    let e = offsets_edit_error(&refs, &[(39_000, at + 100)]);
    assert!(e.contains("out of order or out of bounds"), "{e}");
}

#[test]
fn decreasing_offsets_are_an_error() {
    let e = offsets_edit_error(&["ab", "cd"], &[(1, 5), (2, 4)]);
    assert!(
        e.contains("offsets are out of order or out of bounds"),
        "{e}"
    );
}

#[test]
fn an_offset_inside_a_character_is_an_error() {
    // Data "éb" (C3 A9 62) is valid UTF-8 as a whole; offset 1 splits the é.
    let e = offsets_edit_error(&["é", "b"], &[(1, 1)]);
    assert!(e.contains("row 0 is not valid UTF-8"), "{e}");
}

#[test]
fn offsets_past_the_data_are_an_error() {
    // Non-decreasing, but the last is past the data buffer (64 padded bytes).
    let e = offsets_edit_error(&["ab", "cd"], &[(2, 65)]);
    assert!(e.contains("out of bounds (first 0, last 65"), "{e}");
}

#[test]
fn dictionaries_are_sent_once_then_as_deltas_or_replacements() {
    let make = |values: &[&str], keys: &[u32]| Table {
        cols: vec![col(
            field(
                "d",
                ArrowType::Dictionary(CategoricalIndexType::UInt32),
                false,
            ),
            Array::TextArray(TextArray::Categorical32(Arc::new(CategoricalArray {
                data: Buffer::from(Vec64::from_slice(keys)),
                unique_values: values.iter().map(|s| s.to_string()).collect(),
                null_mask: None,
            }))),
            0,
        )],
        n_rows: keys.len(),
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    let t1 = make(&["a", "b"], &[0, 1, 1]);
    let t2 = make(&["a", "b"], &[1, 0]);
    let t3 = make(&["a", "b", "c"], &[2, 2, 0]); // grows: delta
    let t4 = make(&["z"], &[0]); // changes: replacement
    let tables = [t1, t2, t3, t4];
    let schema = Arc::new(Schema::from_table(&tables[0]));
    let mut enc = IpcStreamEncoder::new(schema.clone(), WriteOptions::default()).unwrap();
    let counts: Vec<usize> = tables
        .iter()
        .map(|t| enc.encode_table(t).unwrap().len())
        .collect();
    assert_eq!(counts, [2, 1, 2, 2]);

    let bytes = write_stream(&schema, &tables, &WriteOptions::default()).unwrap();
    let (_, back) = read_stream(aligned_copy(&bytes), ReadOptions::default()).unwrap();
    let cells = |t: &Table| {
        (0..t.n_rows)
            .map(|i| value(&t.cols[0].array, i).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(cells(&back[0]), ["a", "b", "b"]);
    assert_eq!(cells(&back[2]), ["c", "c", "a"]);
    assert_eq!(cells(&back[3]), ["z"]);

    // Files allow deltas but not replacements: the replaced dictionary is unified
    // (z appended as a delta, its key rewritten), the values stay.
    let mut enc = IpcFileEncoder::new(schema.clone(), WriteOptions::default()).unwrap();
    enc.begin().unwrap();
    let counts: Vec<usize> = tables
        .iter()
        .map(|t| enc.encode_table(t).unwrap().len())
        .collect();
    assert_eq!(counts, [2, 1, 2, 2]);
    let bytes = write_file(&schema, &tables, &WriteOptions::default()).unwrap();
    let reader = IpcFileReader::new(aligned_copy(&bytes), ReadOptions::default()).unwrap();
    assert_eq!(reader.num_batches(), 4);
    assert_eq!(cells(&reader.read_batch(3).unwrap()), ["z"]);
    assert_eq!(cells(&reader.read_batch(2).unwrap()), ["c", "c", "a"]);
    assert_eq!(cells(&reader.read_batch(0).unwrap()), ["a", "b", "b"]);
    assert!(reader.read_batch(4).is_err());
}

#[test]
fn projection_reads_a_subset_in_the_asked_order() {
    let (schema, table) = every_type();
    let bytes = write_stream(
        &schema,
        std::slice::from_ref(&table),
        &WriteOptions::default(),
    )
    .unwrap();
    let (s, back) = read_stream(
        aligned_copy(&bytes),
        ReadOptions {
            projection: Some(vec![13, 3].into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(s.fields.len(), 2);
    assert_eq!(s.fields[0].name, "dict");
    assert_eq!(s.dictionaries[0].map(|d| d.id), Some(7));
    assert_eq!(value(&back[0].cols[0].array, 0).as_deref(), Some("blue"));
    assert_eq!(value(&back[0].cols[1].array, 3), Some(i64::MAX.to_string()));
    let err = read_stream(
        aligned_copy(&bytes),
        ReadOptions {
            projection: Some(vec![99].into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema);
}

#[test]
fn a_file_with_bad_footer_or_blocks_is_rejected_at_open() {
    let (schema, table) = every_type();
    let bytes = write_file(&schema, &[table], &WriteOptions::default()).unwrap();
    let n = bytes.len();
    let open = |b: &[u8]| IpcFileReader::new(aligned_copy(b), ReadOptions::default()).map(|_| ());
    open(&bytes).unwrap();
    assert_eq!(
        open(&bytes[..n - 1]).unwrap_err().kind(),
        ErrorKind::Malformed
    );
    let mut bad = bytes.clone();
    bad[n - 10..n - 6].copy_from_slice(&i32::MAX.to_le_bytes());
    assert!(open(&bad).unwrap_err().message().contains("footer length"));
    // Chop the middle out: blocks now point past the messages.
    let mut short = bytes[..64].to_vec();
    short.extend_from_slice(&bytes[n - 2000.min(n - 64)..]);
    assert!(open(&short).is_err());
}

/// The bounds the decoders check by `get` / `split_first_chunk` instead of
/// indexing (the lint `clippy::indexing_slicing` is denied in the core): a
/// file's trailer and footer length at every edge, a compressed buffer shorter
/// than its length prefix, a stream cut inside its prefix. Each is a typed
/// error (or, for a prefix still arriving, a wait), never a panic.
#[test]
fn offsets_and_lengths_at_their_edges_are_typed_errors() {
    let open = |b: &[u8]| IpcFileReader::new(aligned_copy(b), ReadOptions::default()).map(|_| ());
    // Every length around the smallest file: both magics, a footer length, nothing else.
    for n in 0..=24 {
        let mut b = vec![0u8; n];
        for (i, &m) in b"ARROW1".iter().enumerate() {
            if let Some(x) = b.get_mut(i) {
                *x = m;
            }
            if let Some(x) = n.checked_sub(6 - i).and_then(|j| b.get_mut(j)) {
                *x = m;
            }
        }
        assert_eq!(
            open(&b).unwrap_err().kind(),
            ErrorKind::Malformed,
            "{n} bytes"
        );
    }
    // A real file whose footer length is each edge value.
    let (schema, table) = every_type();
    let bytes = write_file(&schema, &[table], &WriteOptions::default()).unwrap();
    let n = bytes.len() as i32;
    for footer_len in [i32::MIN, -1, 0, 1, n - 18, n - 17, n - 10, n, i32::MAX] {
        let mut bad = bytes.clone();
        let at = bad.len() - 10;
        bad[at..at + 4].copy_from_slice(&footer_len.to_le_bytes());
        let err = open(&bad).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Malformed,
            "footer length {footer_len}: {err}"
        );
        if !(1..=n - 18).contains(&footer_len) {
            assert!(
                err.message().contains("does not fit"),
                "footer length {footer_len}: {err}"
            );
        }
    }
    // A compressed buffer of 1 to 7 bytes has no room for its 8-byte length.
    for len in 1..8 {
        let err = lightstream_core::ipc::fuzz_decompress_buffer(
            Compression::Lz4Frame,
            &vec![0xFF; len],
            1 << 20,
            1 << 10,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed, "{len} bytes");
        assert!(
            err.message()
                .contains("shorter than its 8-byte length prefix"),
            "{err}"
        );
    }
    // A stream cut anywhere inside its first prefix: the decoder waits, and
    // ending there is Truncated.
    let stream = write_stream(&schema, &[], &WriteOptions::default()).unwrap();
    for cut in 1..8 {
        let mut dec = IpcStreamDecoder::new(ReadOptions::default());
        assert!(
            matches!(dec.push(&stream[..cut]).unwrap(), Decoded::NeedMore),
            "cut at {cut}"
        );
        assert_eq!(
            dec.finish().unwrap_err().kind(),
            ErrorKind::Truncated,
            "cut at {cut}"
        );
    }
}

#[test]
fn an_array_whose_unit_or_scale_disagrees_with_its_field_is_refused() {
    let ts = Table {
        cols: vec![col(
            field("t", ArrowType::Timestamp(TimeUnit::Seconds, None), false),
            Array::TemporalArray(TemporalArray::Datetime64(Arc::new(DatetimeArray {
                data: Buffer::from(Vec64::from_slice(&[1i64])),
                null_mask: None,
                time_unit: TimeUnit::Milliseconds,
            }))),
            0,
        )],
        n_rows: 1,
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    let err = write_stream(&Schema::from_table(&ts), &[ts], &WriteOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert!(err.message().contains("Milliseconds"), "{err}");

    let dec = Table {
        cols: vec![col(
            field("d", ArrowType::Decimal128(10, 4), false),
            Array::NumericArray(NumericArray::Decimal128(Arc::new(DecimalArray {
                data: Buffer::from(Vec64::from_slice(&[12345i128])),
                null_mask: None,
                precision: 10,
                scale: 2,
            }))),
            0,
        )],
        n_rows: 1,
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    let err =
        write_stream(&Schema::from_table(&dec), &[dec], &WriteOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert!(err.message().contains("Decimal(10, 2)"), "{err}");
}

/// Drives `dec` over `bytes` the way a shell does: message bodies are read
/// straight into `body_sink()` in reads of at most `read` bytes, everything
/// else is pushed from a small buffer. Returns the tables, how many bytes went
/// through the sink, and the address ranges the sink offered.
fn decode_through_sink(
    dec: &mut IpcStreamDecoder,
    bytes: &[u8],
    read: usize,
) -> (Vec<Table>, usize, Vec<std::ops::Range<usize>>) {
    use lightstream_core::bytes::BufMut;
    let (mut input, mut tables, mut via_sink, mut ranges) = (bytes, Vec::new(), 0, Vec::new());
    let take = |item: Option<StreamItem>, tables: &mut Vec<Table>| {
        if let Some(StreamItem::Table(t)) = item {
            tables.push(t)
        }
    };
    while !input.is_empty() {
        if let Some(mut sink) = dec.body_sink() {
            let chunk = sink.chunk_mut();
            let n = chunk.len().min(read).min(input.len());
            let start = chunk.as_mut_ptr() as usize;
            ranges.push(start..start + chunk.len());
            chunk[..n].copy_from_slice(&input[..n]);
            // SAFETY: the first `n` bytes of the chunk were just written.
            unsafe { sink.advance_mut(n) };
            input = &input[n..];
            via_sink += n;
            take(dec.take_body().unwrap(), &mut tables);
            continue;
        }
        let n = input.len().min(64);
        match dec.push(&input[..n]).unwrap() {
            Decoded::Frame { frame, consumed } => {
                input = &input[consumed..];
                take(Some(frame), &mut tables);
            }
            Decoded::NeedMore => input = &input[n..],
        }
    }
    dec.finish().unwrap();
    (tables, via_sink, ranges)
}

#[test]
fn bodies_read_through_the_sink_decode_in_place() {
    let (schema, table) = every_type();
    for compression in [Compression::None, Compression::Zstd] {
        let bytes = write_stream(
            &schema,
            &[table.clone(), table.clone()],
            &options(compression, 64),
        )
        .unwrap();
        for read in [1, 13, 100, 4096, usize::MAX] {
            let mut dec = IpcStreamDecoder::new(ReadOptions::default());
            let (tables, via_sink, ranges) = decode_through_sink(&mut dec, &bytes, read);
            assert_eq!(tables.len(), 2, "read {read}");
            assert_same(&tables[0], &table);
            assert_same(&tables[1], &table);
            assert!(via_sink > 0, "no body went through the sink (read {read})");
            if compression == Compression::None {
                // The column is the memory the "socket read" wrote into.
                let Array::NumericArray(NumericArray::Int64(a)) = &tables[1].cols[3].array else {
                    panic!("column 3 is not int64")
                };
                let p = a.data.as_slice().as_ptr() as usize;
                assert_eq!(p % 64, 0);
                assert!(
                    ranges.iter().any(|r| r.start <= p && p < r.end),
                    "int64 column was copied after the read (read {read})"
                );
            }
        }
    }
}

/// An 8-aligned producer's body (pyarrow's) is read in place, each buffer
/// aligned for its type where it landed; with `align_64` it is relocated to
/// 64-byte boundaries instead (never offered a sink), and decodes the same.
#[test]
fn eight_aligned_bodies_are_read_in_place_unless_align_64() {
    let (schema, table) = every_type();
    let bytes = write_stream(
        &schema,
        std::slice::from_ref(&table),
        &options(Compression::None, 8),
    )
    .unwrap();
    let mut dec = IpcStreamDecoder::new(ReadOptions::default());
    let (tables, via_sink, ranges) = decode_through_sink(&mut dec, &bytes, 4096);
    assert_same(&tables[0], &table);
    // Nothing copied after the read but the body bytes pushed with the
    // metadata, and a Decimal128 buffer at an odd multiple of 8 (i128
    // needs 16), alone.
    let decimal_copied: usize = tables[0]
        .cols
        .iter()
        .filter_map(|c| match &c.array {
            Array::NumericArray(NumericArray::Decimal128(a)) if !a.data.is_shared() => {
                Some(a.data.len() * 16)
            }
            _ => None,
        })
        .sum();
    let pushed = body_bytes(&bytes) - via_sink as u64;
    assert!(pushed < 64, "{pushed}");
    assert_eq!(dec.bytes_copied(), pushed + decimal_copied as u64);
    assert!(via_sink > 0);
    // Without this change the body went through `push` and was relocated:
    // the int64 column is the memory the "socket read" wrote into.
    let Array::NumericArray(NumericArray::Int64(a)) = &tables[0].cols[3].array else {
        panic!("column 3 is not int64")
    };
    let p = a.data.as_slice().as_ptr() as usize;
    assert!(ranges.iter().any(|r| r.start <= p && p < r.end));
    assert_copied_once_at(&tables[0], 8);

    let mut dec = IpcStreamDecoder::new(ReadOptions {
        align_64: true,
        ..ReadOptions::default()
    });
    let (tables, via_sink, _) = decode_through_sink(&mut dec, &bytes, 4096);
    assert_eq!(via_sink, 0, "align_64 relocates 8-aligned bodies");
    assert_same(&tables[0], &table);
    assert_relocated_once(&tables[0]);
}

#[test]
fn the_sink_reserves_no_more_than_the_eager_limit_before_bytes_arrive() {
    use lightstream_core::bytes::BufMut;
    let n = 100_000i64;
    let values: Vec64<i64> = (0..n).collect();
    let t = Table::new(
        "t".to_string(),
        Some(vec![col(
            field("n", ArrowType::Int64, false),
            Array::from_int64(IntegerArray::from_vec64(values, None)),
            0,
        )]),
    );
    let bytes = write_stream(&Schema::from_table(&t), &[t], &WriteOptions::default()).unwrap();
    let limits = lightstream_core::DecodeLimits {
        max_eager_reserve: 4096,
        ..Default::default()
    };
    let mut dec = IpcStreamDecoder::new(ReadOptions {
        limits,
        ..Default::default()
    });
    // Push the schema message and the batch's prefix and metadata only.
    let mut input = &bytes[..];
    while dec.body_sink().is_none() {
        match dec.push(&input[..1]).unwrap() {
            Decoded::Frame { consumed, .. } => input = &input[consumed..],
            Decoded::NeedMore => input = &input[1..],
        }
    }
    let mut sink = dec.body_sink().unwrap();
    assert_eq!(sink.remaining(), 800_000);
    assert!(
        sink.chunk_mut().len() <= 4096,
        "reserved before bytes arrived"
    );
    let (mut tables, _, _) = decode_through_sink(&mut dec, input, usize::MAX);
    let t = tables.pop().unwrap();
    let Array::NumericArray(NumericArray::Int64(a)) = &t.cols[0].array else {
        panic!("not int64")
    };
    assert_eq!(a.data.as_slice()[99_999], 99_999);
}

/// Two batches of a known layout: per batch, the buffers the tables use are an
/// i64 column with nulls (1 validity byte, 40 value bytes), an i32 column without
/// (20 value bytes; its absent validity buffer is not used), a Utf8 column with nulls
/// (1 + 24 offset bytes + 7 data bytes) and a boolean column (1 byte): 94 bytes.
fn known_layout() -> (Schema, Vec<Table>) {
    let v = [true, false, true, true, false];
    let t = Table {
        cols: vec![
            col(
                field("a", ArrowType::Int64, true),
                Array::NumericArray(NumericArray::Int64(Arc::new(IntegerArray {
                    data: Buffer::from(Vec64::from_slice(&[1i64, 2, 3, 4, 5])),
                    null_mask: mask(&v),
                }))),
                2,
            ),
            col(
                field("b", ArrowType::Int32, false),
                Array::NumericArray(NumericArray::Int32(Arc::new(IntegerArray {
                    data: Buffer::from(Vec64::from_slice(&[10i32, 20, 30, 40, 50])),
                    null_mask: None,
                }))),
                0,
            ),
            col(
                field("c", ArrowType::String, true),
                Array::TextArray(TextArray::String32(Arc::new(strings32(
                    &["a", "bb", "", "ccc", "d"],
                    Some(&v),
                )))),
                2,
            ),
            col(
                field("d", ArrowType::Boolean, false),
                Array::BooleanArray(Arc::new(BooleanArray::new(Bitmask::from_bools(&v), None))),
                0,
            ),
        ],
        n_rows: 5,
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    (Schema::from_table(&t), vec![t.clone(), t])
}

/// Bytes of the column buffers one `known_layout` batch uses.
const KNOWN_LAYOUT_BUFFER_BYTES: u64 = (1 + 40) + 20 + (1 + 24 + 7) + 1;

/// Sum of the declared body lengths of the messages in `bytes` (a stream).
fn body_bytes(bytes: &[u8]) -> u64 {
    use lightstream_core::framing::FrameDecoder;
    use lightstream_core::framing::ipc::{IpcFrame, IpcFrameDecoder};
    IpcFrameDecoder::new(Default::default())
        .decode_all(bytes)
        .unwrap()
        .into_iter()
        .map(|f| match f {
            IpcFrame::Message(m) => m.declared_body_len as u64,
            IpcFrame::EndOfStream => 0,
        })
        .sum()
}

/// Every fixed-width and string buffer of `t` starts 64-byte aligned and lies outside `input`.
fn assert_all_copied_to_64(t: &Table, input: &[u8]) {
    assert_all_copied_to(t, input, 64)
}

/// Every fixed-width and string buffer of `t` starts `align`-byte aligned and lies outside `input`.
fn assert_all_copied_to(t: &Table, input: &[u8], align: usize) {
    let range = input.as_ptr_range();
    for c in &t.cols {
        let ptrs: Vec<*const u8> = match &c.array {
            Array::NumericArray(NumericArray::Int64(a)) => vec![a.data.as_slice().as_ptr().cast()],
            Array::NumericArray(NumericArray::Int32(a)) => vec![a.data.as_slice().as_ptr().cast()],
            Array::TextArray(TextArray::String32(a)) => vec![
                a.offsets.as_slice().as_ptr().cast(),
                a.data.as_slice().as_ptr(),
            ],
            Array::BooleanArray(a) => vec![a.data.as_bytes().as_ptr()],
            other => panic!("unexpected column {other:?}"),
        };
        for p in ptrs {
            assert!(!range.contains(&p), "column {} borrowed", c.field.name);
            assert_eq!(p as usize % align, 0, "column {}", c.field.name);
        }
    }
}

fn push_shared_all(
    dec: &mut IpcStreamDecoder,
    bytes: &lightstream_core::SharedBuffer,
) -> Vec<Table> {
    let mut tables = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match dec.push_shared(&bytes.slice(at..)).unwrap() {
            Decoded::Frame { frame, consumed } => {
                at += consumed;
                if let StreamItem::Table(t) = frame {
                    tables.push(t);
                }
            }
            Decoded::NeedMore => break,
        }
    }
    dec.finish().unwrap();
    tables
}

/// The counters on a layout known byte for byte: an 8-byte aligned stream (as pyarrow
/// writes) offered as shared memory is borrowed whole, not one byte copied; pushed as
/// `&[u8]` each body is copied exactly once (as it lay, 8-aligned), and read with
/// `align_64` exactly once, 64-byte aligned.
#[test]
fn counters_say_what_was_borrowed_and_what_copied() {
    let (schema, tables) = known_layout();
    let bytes = write_stream(&schema, &tables, &options(Compression::None, 8)).unwrap();
    let bodies = body_bytes(&bytes);
    // Per batch: 8 + 40 (a), 0 + 24 (b), 8 + 24 + 8 (c), 0 + 8 (d), each padded to 8.
    assert_eq!(bodies, 2 * 120, "the writer's 8-byte layout changed");
    let shared = aligned_copy(&bytes);

    let mut dec = IpcStreamDecoder::new(ReadOptions::default());
    let got = push_shared_all(&mut dec, &shared);
    assert_same(&got[1], &tables[1]);
    assert_eq!(dec.bytes_borrowed(), 2 * KNOWN_LAYOUT_BUFFER_BYTES);
    assert_eq!(dec.bytes_copied(), 0);
    let (_, got) = read_stream(shared.clone(), ReadOptions::default()).unwrap();
    assert_same(&got[0], &tables[0]);

    let align_64 = ReadOptions {
        align_64: true,
        ..ReadOptions::default()
    };
    let mut dec = IpcStreamDecoder::new(align_64.clone());
    let got = push_shared_all(&mut dec, &shared);
    assert_same(&got[0], &tables[0]);
    got.iter()
        .for_each(|t| assert_all_copied_to_64(t, shared.as_slice()));
    assert_eq!((dec.bytes_borrowed(), dec.bytes_copied()), (0, bodies));

    let mut dec = IpcStreamDecoder::new(ReadOptions::default());
    let mut rest = &bytes[..];
    while let Decoded::Frame { consumed, .. } = dec.push(rest).unwrap() {
        rest = &rest[consumed..];
    }
    assert_eq!((dec.bytes_borrowed(), dec.bytes_copied()), (0, bodies));

    // The same batches in an 8-byte aligned file.
    let file = aligned_copy(&write_file(&schema, &tables, &options(Compression::None, 8)).unwrap());
    let mut reader = IpcFileReader::new(file.clone(), ReadOptions::default()).unwrap();
    assert_same(&reader.read_batch(1).unwrap(), &tables[1]);
    assert_eq!(
        (reader.bytes_borrowed(), reader.bytes_copied()),
        (KNOWN_LAYOUT_BUFFER_BYTES, 0)
    );
    reader.set_align_64(true);
    let t = reader.read_batch(0).unwrap();
    assert_same(&t, &tables[0]);
    assert_all_copied_to_64(&t, file.as_slice());
    assert_eq!(
        (reader.bytes_borrowed(), reader.bytes_copied()),
        (KNOWN_LAYOUT_BUFFER_BYTES, 120)
    );
    let reader = IpcFileReader::new(file.clone(), align_64).unwrap();
    reader.read_batch(1).unwrap();
    assert_eq!((reader.bytes_borrowed(), reader.bytes_copied()), (0, 120));
}

/// `read_ipc` copies a `&[u8]` exactly once: the bodies, into 64-byte aligned memory.
#[test]
fn read_ipc_copies_each_body_once() {
    let (schema, tables) = known_layout();
    let stream = write_stream(&schema, &tables, &options(Compression::None, 8)).unwrap();
    let read = lightstream_core::read_ipc(&stream, ReadOptions::default()).unwrap();
    assert_eq!(read.bytes_copied, body_bytes(&stream));
    assert_eq!(*read.schema, schema);
    for (got, want) in read.tables.iter().zip(&tables) {
        assert_same(got, want);
        assert_all_copied_to(got, &stream, 8);
    }
    let align_64 = ReadOptions {
        align_64: true,
        ..ReadOptions::default()
    };
    let read = lightstream_core::read_ipc(&stream, align_64).unwrap();
    assert_eq!(read.bytes_copied, body_bytes(&stream));
    for (got, want) in read.tables.iter().zip(&tables) {
        assert_same(got, want);
        assert_all_copied_to_64(got, &stream);
    }
    let file = write_file(&schema, &tables, &options(Compression::None, 8)).unwrap();
    let read = lightstream_core::read_ipc(&file, ReadOptions::default()).unwrap();
    assert_eq!(read.bytes_copied, 2 * 120);
    assert_eq!(read.tables.len(), 2);
    for (got, want) in read.tables.iter().zip(&tables) {
        assert_same(got, want);
        assert_all_copied_to_64(got, &file);
    }
}

/// A Decimal128 buffer is borrowed only where it is 16-byte aligned (what `i128`
/// needs); at an odd multiple of 8 it alone is copied, and the counters say so.
#[test]
fn only_decimal128_at_an_odd_multiple_of_8_is_copied() {
    let t = Table {
        cols: vec![
            col(
                field("n", ArrowType::Int64, false),
                Array::NumericArray(NumericArray::Int64(Arc::new(IntegerArray {
                    data: Buffer::from(Vec64::from_slice(&[7i64])),
                    null_mask: None,
                }))),
                0,
            ),
            col(
                field("d", ArrowType::Decimal128(38, 2), false),
                Array::NumericArray(NumericArray::Decimal128(Arc::new(DecimalArray {
                    data: Buffer::from(Vec64::from_slice(&[-123_456_789_012_345i128])),
                    null_mask: None,
                    precision: 38,
                    scale: 2,
                }))),
                0,
            ),
        ],
        n_rows: 1,
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    let schema = Schema::from_table(&t);
    let bytes = write_stream(
        &schema,
        std::slice::from_ref(&t),
        &options(Compression::None, 8),
    )
    .unwrap();
    // Offsets in the body: n at 0 (8 bytes), d at 8 (16 bytes). Shifting the input by
    // 8 bytes puts d on a 16-byte boundary in one of the two placements, not the other.
    let mut seen = Vec::new();
    for shift in [0usize, 8] {
        let mut padded = vec![0u8; shift];
        padded.extend_from_slice(&bytes);
        let shared = aligned_copy(&padded).slice(shift..);
        let mut dec = IpcStreamDecoder::new(ReadOptions::default());
        let got = push_shared_all(&mut dec, &shared);
        assert_same(&got[0], &t);
        let counts = (dec.bytes_borrowed(), dec.bytes_copied());
        assert!(
            counts == (8 + 16, 0) || counts == (8, 16),
            "shift {shift}: {counts:?}"
        );
        seen.push(counts);
    }
    assert_ne!(
        seen[0], seen[1],
        "one placement borrows the decimals, the other copies them"
    );
}

/// `encode_rows` of `rows` of `table`, written as a stream after `before`
/// (tables encoded whole first: with unified dictionaries they make the
/// range's keys be rewritten), read back by our decoder: the last table.
fn encoded_rows(
    schema: &Schema,
    before: &[Table],
    table: &Table,
    rows: std::ops::Range<usize>,
    options: WriteOptions,
) -> Table {
    let mut enc = IpcStreamEncoder::new(Arc::new(schema.clone()), options).unwrap();
    let mut out = enc.schema_message().unwrap().to_vec();
    for t in before {
        for m in enc.encode_table(t).unwrap() {
            m.append_to(&mut out);
        }
    }
    for m in enc.encode_rows(table, rows).unwrap() {
        m.append_to(&mut out);
    }
    enc.end_of_stream().append_to(&mut out);
    let (_, mut back) = read_stream(aligned_copy(&out), ReadOptions::default()).unwrap();
    back.pop().unwrap()
}

/// What `Table::slice_clone` (minarrow's copy of the rows) holds, null
/// columns counted as all null as the IPC format counts them.
fn sliced(table: &Table, start: usize, len: usize) -> Table {
    let mut t = table.slice_clone(start, len);
    for c in &mut t.cols {
        if matches!(c.array, Array::Null) {
            c.null_count = len;
        }
    }
    t.metadata = table.metadata.clone();
    t
}

/// Every row range of the every-type table (every start, every length)
/// decodes to the same values as minarrow's copy of those rows.
#[test]
fn every_row_range_of_every_type_decodes_to_the_slice() {
    let (schema, table) = every_type();
    for compression in [Compression::None, Compression::Lz4Frame] {
        for start in 0..=table.n_rows {
            for len in 0..=table.n_rows - start {
                let o = options(compression, 8);
                let back = encoded_rows(&schema, &[], &table, start..start + len, o);
                assert_same(&back, &sliced(&table, start, len));
            }
        }
    }
}

#[test]
fn rows_past_the_table_are_an_error_not_a_panic() {
    let (schema, table) = every_type();
    let mut enc = IpcStreamEncoder::new(Arc::new(schema), WriteOptions::default()).unwrap();
    let backwards = std::ops::Range { start: 3, end: 2 };
    for rows in [0..6, 6..6, backwards] {
        let e = enc.encode_rows(&table, rows.clone()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Schema, "{rows:?}");
        assert_eq!(
            e.message(),
            format!("rows {rows:?} are not rows of a table of 5 rows")
        );
    }
    // The encoder is as it was: the whole table still goes out, dictionaries first.
    assert_eq!(enc.encode_table(&table).unwrap().len(), 3);
}

/// A table of `n` rows from generated columns: i32, bool, utf8, large utf8
/// and a dictionary, each with nulls where the value is `None`.
fn generated_table(
    ints: &[Option<i32>],
    bools: &[Option<bool>],
    strings: &[Option<String>],
    keys: &[Option<u32>],
) -> (Schema, Table) {
    let n = ints.len();
    let valid = |v: Vec<bool>| mask(&v);
    let ints_col = col(
        field("i32", ArrowType::Int32, true),
        Array::NumericArray(NumericArray::Int32(Arc::new(IntegerArray {
            data: Buffer::from(Vec64::from_slice(
                &ints.iter().map(|v| v.unwrap_or(0)).collect::<Vec<_>>(),
            )),
            null_mask: valid(ints.iter().map(Option::is_some).collect()),
        }))),
        ints.iter().filter(|v| v.is_none()).count(),
    );
    let bools_col = col(
        field("bool", ArrowType::Boolean, true),
        Array::BooleanArray(Arc::new(BooleanArray::new(
            Bitmask::from_bools(&bools.iter().map(|v| v.unwrap_or(false)).collect::<Vec<_>>()),
            valid(bools.iter().map(Option::is_some).collect()),
        ))),
        bools.iter().filter(|v| v.is_none()).count(),
    );
    let words: Vec<&str> = strings.iter().map(|s| s.as_deref().unwrap_or("")).collect();
    let string_valid: Vec<bool> = strings.iter().map(Option::is_some).collect();
    let nulls = strings.iter().filter(|v| v.is_none()).count();
    let utf8 = strings32(&words, Some(&string_valid));
    let large = StringArray::<u64> {
        offsets: Buffer::from(Vec64::from_slice(
            &utf8
                .offsets
                .as_slice()
                .iter()
                .map(|&o| o as u64)
                .collect::<Vec<_>>(),
        )),
        data: utf8.data.clone(),
        null_mask: utf8.null_mask.clone(),
    };
    let keys_col = col(
        field(
            "dict",
            ArrowType::Dictionary(CategoricalIndexType::UInt32),
            true,
        ),
        Array::TextArray(TextArray::Categorical32(Arc::new(CategoricalArray {
            data: Buffer::from(Vec64::from_slice(
                &keys.iter().map(|k| k.unwrap_or(0)).collect::<Vec<_>>(),
            )),
            unique_values: ["red", "green", "blue"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            null_mask: valid(keys.iter().map(Option::is_some).collect()),
        }))),
        keys.iter().filter(|v| v.is_none()).count(),
    );
    let cols = vec![
        ints_col,
        bools_col,
        col(
            field("utf8", ArrowType::String, true),
            Array::TextArray(TextArray::String32(Arc::new(utf8))),
            nulls,
        ),
        col(
            field("large", ArrowType::LargeString, true),
            Array::TextArray(TextArray::String64(Arc::new(large))),
            nulls,
        ),
        keys_col,
    ];
    let table = Table {
        cols,
        n_rows: n,
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    (Schema::from_table(&table), table)
}

/// A 2-row table of the generated schema whose dictionary differs, so that
/// a unified encoder rewrites the keys of the table after it.
fn other_dictionary(schema: &Schema) -> Table {
    let (_, mut t) = generated_table(
        &[Some(1), None],
        &[Some(true), None],
        &[Some("x".into()), None],
        &[Some(1), None],
    );
    if let Array::TextArray(TextArray::Categorical32(a)) = &mut t.cols[4].array {
        Arc::make_mut(a).unique_values = ["blue", "violet"].iter().map(|s| s.to_string()).collect();
    }
    for (c, f) in t.cols.iter_mut().zip(&schema.fields) {
        c.field = f.clone();
    }
    t
}

/// Generated columns (see [`generated_table`]) and two row bounds.
type ColumnsAndRange = (
    Vec<Option<i32>>,
    Vec<Option<bool>>,
    Vec<Option<String>>,
    Vec<Option<u32>>,
    usize,
    usize,
);

fn columns_and_range() -> impl Strategy<Value = ColumnsAndRange> {
    (0usize..80).prop_flat_map(|n| {
        (
            prop::collection::vec(prop::option::of(any::<i32>()), n),
            prop::collection::vec(prop::option::of(any::<bool>()), n),
            prop::collection::vec(prop::option::of("[a-zé✓]{0,5}"), n),
            prop::collection::vec(prop::option::of(0u32..3), n),
            0..=n,
            0..=n,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any row range of any table (bitmaps at any bit offset, strings
    /// rebased, dictionary keys as they are or rewritten by a unifier)
    /// decodes to minarrow's copy of those rows.
    #[test]
    fn any_row_range_decodes_to_the_slice(
        (ints, bools, strings, keys, a, b) in columns_and_range(),
        unify in any::<bool>(),
        zstd in any::<bool>(),
    ) {
        let (schema, table) = generated_table(&ints, &bools, &strings, &keys);
        let (start, end) = (a.min(b), a.max(b));
        let options = WriteOptions {
            unify_dictionaries: unify,
            compression: if zstd { Compression::Zstd } else { Compression::None },
            ..WriteOptions::default()
        };
        let before = [other_dictionary(&schema)];
        let back = encoded_rows(&schema, &before, &table, start..end, options);
        assert_same(&back, &sliced(&table, start, end - start));
    }
}

/// A row range whose string offsets go backwards cannot be rebased: an error
/// naming the column, not a wrapped offset on the wire.
#[test]
fn a_row_range_with_decreasing_offsets_is_an_error() {
    let strings = StringArray::<u32> {
        offsets: Buffer::from(Vec64::from_slice(&[0u32, 5, 3, 6])),
        data: Buffer::from(Vec64::from_slice(b"abcdef")),
        null_mask: None,
    };
    let table = Table {
        cols: vec![col(
            field("s", ArrowType::String, false),
            Array::TextArray(TextArray::String32(Arc::new(strings))),
            0,
        )],
        n_rows: 3,
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    let schema = Arc::new(Schema::from_table(&table));
    let mut enc = IpcStreamEncoder::new(schema, WriteOptions::default()).unwrap();
    let e = enc.encode_rows(&table, 1..3).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Schema);
    assert_eq!(e.message(), "string column \"s\" has decreasing offsets");
}
