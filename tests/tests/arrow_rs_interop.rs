//! Interop with arrow-rs (`arrow-ipc` 60), both ways.
//!
//! - arrow-rs -> Lightstream: RecordBatches of every supported type (all dictionary key
//!   types, timestamps with time zones, decimals, nulls, metadata, a sliced batch) written
//!   with `StreamWriter` / `FileWriter`, uncompressed, LZ4_FRAME and ZSTD, alignment 64
//!   and 8, and with delta / resent dictionaries; read with `read_stream`, pushed in
//!   chunks, and `read_file`; every value compared.
//! - Lightstream -> arrow-rs: minarrow tables written with every `Compression` and
//!   alignments 64 and 8, read with `StreamReader` / `FileReader` (validation on) and
//!   with `StreamDecoder` over 64-byte aligned memory with `require_alignment(true)`,
//!   where every buffer must be a zero-copy slice at a multiple of 64.
//! - The messages Lightstream writes, parsed with arrow-rs's generated flatbuffer code:
//!   bodies and buffers at multiples of the alignment, compression recorded, and exactly
//!   the dictionary batches (replacement or delta) the table sequence calls for.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal32Type, Decimal64Type, Decimal128Type, DurationMicrosecondType,
    DurationMillisecondType, DurationNanosecondType, DurationSecondType, Float32Type, Float64Type,
    Int8Type, Int16Type, Int32Type, Int64Type, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Date64Array, Decimal32Array, Decimal64Array,
    Decimal128Array, DictionaryArray, DurationMicrosecondArray, DurationMillisecondArray,
    DurationNanosecondArray, DurationSecondArray, Float32Array, Float64Array, Int8Array,
    Int16Array, Int32Array, Int64Array, LargeStringArray, NullArray, RecordBatch, StringArray,
    Time32MillisecondArray, Time32SecondArray, Time64MicrosecondArray, Time64NanosecondArray,
    TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow_buffer::{Buffer, MutableBuffer};
use arrow_ipc::reader::{FileReader, StreamDecoder, StreamReader};
use arrow_ipc::writer::{DictionaryHandling, FileWriter, IpcWriteOptions, StreamWriter};
use arrow_ipc::{CompressionType, MessageHeader, MetadataVersion};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, SchemaRef, TimeUnit as ArrowUnit};
use lightstream_core::minarrow::{Table, TimeUnit};
use lightstream_core::{
    Compression, IndexType, IpcStreamEncoder, ReadOptions, Schema, WriteOptions, aligned_copy,
    read_file, read_stream, write_file, write_stream,
};
use lightstream_tests::compare::Cell;
use lightstream_tests::drive::decode_pushing;
use lightstream_tests::interop::{
    ColumnSpec, DICT_CHANGES, DICT_GROWTH, DICT_WORDS, Kind, Rng, all_types_specs, cell_to_json,
    dictionary_tables, diff_against_doc, diff_docs, expect_doc, interop_all_types, random_in,
    slice_rows,
};
use serde_json::{Map, Value, json};

// ------------------------------------------------------------------ arrow-rs data

/// `n` optional values: the extremes first, then random ones in `lo..=hi`; nulls where
/// `valid` says.
fn ints(rng: &mut Rng, valid: &[bool], lo: i128, hi: i128, extremes: &[i128]) -> Vec<Option<i128>> {
    valid
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let x = if i < extremes.len() {
                extremes[i]
            } else {
                random_in(rng, lo, hi)
            };
            v.then_some(x)
        })
        .collect()
}

fn conv<T: TryFrom<i128>>(v: Vec<Option<i128>>) -> Vec<Option<T>>
where
    T::Error: std::fmt::Debug,
{
    v.into_iter()
        .map(|x| x.map(|x| T::try_from(x).expect("value in range")))
        .collect()
}

fn random_string(rng: &mut Rng) -> String {
    const ALPHABET: [&str; 10] = ["a", "Z", " ", "9", "_", "é", "✓", "𝄞", "東", "\u{0}"];
    let n = [0, 1, 4, 17][rng.below(4) as usize];
    (0..n)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize])
        .collect()
}

fn dictionary_of<K: arrow_array::types::ArrowDictionaryKeyType>(
    keys: Vec<Option<i128>>,
    values: ArrayRef,
) -> ArrayRef
where
    K::Native: TryFrom<i128>,
    <K::Native as TryFrom<i128>>::Error: std::fmt::Debug,
    arrow_array::PrimitiveArray<K>: From<Vec<Option<K::Native>>>,
{
    let keys = arrow_array::PrimitiveArray::<K>::from(conv::<K::Native>(keys));
    Arc::new(DictionaryArray::<K>::try_new(keys, values).expect("dictionary"))
}

/// One arrow-rs column of `spec` with `n` rows (nulls at `null_rate`).
fn arrow_column(
    rng: &mut Rng,
    spec: &ColumnSpec,
    n: usize,
    null_rate: f64,
    words: &[String],
) -> ArrayRef {
    let valid: Vec<bool> = (0..n)
        .map(|_| !spec.nullable || !rng.chance(null_rate))
        .collect();
    macro_rules! int_col {
        ($arr:ty, $t:ty) => {{
            let (lo, hi) = (<$t>::MIN as i128, <$t>::MAX as i128);
            Arc::new(<$arr>::from(conv::<$t>(ints(
                rng,
                &valid,
                lo,
                hi,
                &[lo, hi, 0, 1],
            )))) as ArrayRef
        }};
    }
    macro_rules! range_col {
        ($arr:ty, $t:ty, $lo:expr, $hi:expr) => {{ Arc::new(<$arr>::from(conv::<$t>(ints(rng, &valid, $lo, $hi, &[])))) as ArrayRef }};
    }
    match &spec.kind {
        Kind::Bool => {
            let v: Vec<Option<bool>> = valid
                .iter()
                .map(|&ok| ok.then(|| rng.chance(0.5)))
                .collect();
            Arc::new(BooleanArray::from(v))
        }
        Kind::I8 => int_col!(Int8Array, i8),
        Kind::I16 => int_col!(Int16Array, i16),
        Kind::I32 => int_col!(Int32Array, i32),
        Kind::I64 => int_col!(Int64Array, i64),
        Kind::U8 => int_col!(UInt8Array, u8),
        Kind::U16 => int_col!(UInt16Array, u16),
        Kind::U32 => int_col!(UInt32Array, u32),
        Kind::U64 => int_col!(UInt64Array, u64),
        Kind::F32 => {
            let special = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 1.5e-42];
            let v: Vec<Option<f32>> = (0..n)
                .map(|i| {
                    let x = special
                        .get(i)
                        .copied()
                        .unwrap_or_else(|| rng.next_u64() as f32 / 3.0);
                    valid[i].then_some(x)
                })
                .collect();
            Arc::new(Float32Array::from(v))
        }
        Kind::F64 => {
            let special = [
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                -0.0,
                5e-324,
                f64::MAX,
            ];
            let v: Vec<Option<f64>> = (0..n)
                .map(|i| {
                    let x = special
                        .get(i)
                        .copied()
                        .unwrap_or_else(|| f64::from_bits(rng.next_u64() >> 2));
                    valid[i].then_some(x)
                })
                .collect();
            Arc::new(Float64Array::from(v))
        }
        Kind::Utf8 | Kind::LargeUtf8 => {
            let v: Vec<Option<String>> = valid
                .iter()
                .map(|&ok| ok.then(|| random_string(rng)))
                .collect();
            if matches!(spec.kind, Kind::Utf8) {
                Arc::new(StringArray::from(v))
            } else {
                Arc::new(LargeStringArray::from(v))
            }
        }
        Kind::Dict { index, large, .. } => {
            let keys = ints(rng, &valid, 0, words.len() as i128 - 1, &[]);
            let values: ArrayRef = if *large {
                Arc::new(LargeStringArray::from_iter_values(words))
            } else {
                Arc::new(StringArray::from_iter_values(words))
            };
            match index {
                IndexType::Int8 => dictionary_of::<Int8Type>(keys, values),
                IndexType::Int16 => dictionary_of::<Int16Type>(keys, values),
                IndexType::Int32 => dictionary_of::<Int32Type>(keys, values),
                IndexType::Int64 => dictionary_of::<Int64Type>(keys, values),
                IndexType::UInt8 => dictionary_of::<UInt8Type>(keys, values),
                IndexType::UInt16 => dictionary_of::<UInt16Type>(keys, values),
                IndexType::UInt32 => dictionary_of::<UInt32Type>(keys, values),
                IndexType::UInt64 => dictionary_of::<UInt64Type>(keys, values),
            }
        }
        Kind::Date32 => range_col!(Date32Array, i32, -100_000, 100_000),
        Kind::Date64 => {
            let v: Vec<Option<i64>> = conv::<i64>(ints(rng, &valid, -100_000, 100_000, &[]))
                .into_iter()
                .map(|d| d.map(|d| d * 86_400_000))
                .collect();
            Arc::new(Date64Array::from(v))
        }
        Kind::Time32(TimeUnit::Seconds) => range_col!(Time32SecondArray, i32, 0, 86_399),
        Kind::Time32(_) => range_col!(Time32MillisecondArray, i32, 0, 86_399_999),
        Kind::Time64(TimeUnit::Microseconds) => {
            range_col!(Time64MicrosecondArray, i64, 0, 86_399_999_999)
        }
        Kind::Time64(_) => range_col!(Time64NanosecondArray, i64, 0, 86_399_999_999_999),
        Kind::Timestamp(u, tz) => {
            let v = conv::<i64>(ints(rng, &valid, -(10i128.pow(17)), 10i128.pow(17), &[]));
            match u {
                TimeUnit::Seconds => Arc::new(TimestampSecondArray::from(v).with_timezone_opt(*tz)),
                TimeUnit::Milliseconds => {
                    Arc::new(TimestampMillisecondArray::from(v).with_timezone_opt(*tz))
                }
                TimeUnit::Microseconds => {
                    Arc::new(TimestampMicrosecondArray::from(v).with_timezone_opt(*tz))
                }
                _ => Arc::new(TimestampNanosecondArray::from(v).with_timezone_opt(*tz)),
            }
        }
        Kind::Duration(u) => {
            let (lo, hi) = (i64::MIN as i128, i64::MAX as i128);
            let v = conv::<i64>(ints(rng, &valid, lo, hi, &[lo, hi, 0, -1]));
            match u {
                TimeUnit::Seconds => Arc::new(DurationSecondArray::from(v)),
                TimeUnit::Milliseconds => Arc::new(DurationMillisecondArray::from(v)),
                TimeUnit::Microseconds => Arc::new(DurationMicrosecondArray::from(v)),
                _ => Arc::new(DurationNanosecondArray::from(v)),
            }
        }
        Kind::Dec32(p, s) | Kind::Dec64(p, s) | Kind::Dec128(p, s) => {
            let top = 10i128.pow(u32::from(*p)) - 1;
            let v = ints(rng, &valid, -top, top, &[top, -top, 0, 1, -1]);
            match spec.kind {
                Kind::Dec32(..) => Arc::new(
                    Decimal32Array::from(conv::<i32>(v))
                        .with_precision_and_scale(*p, *s)
                        .unwrap(),
                ),
                Kind::Dec64(..) => Arc::new(
                    Decimal64Array::from(conv::<i64>(v))
                        .with_precision_and_scale(*p, *s)
                        .unwrap(),
                ),
                _ => Arc::new(
                    Decimal128Array::from(v)
                        .with_precision_and_scale(*p, *s)
                        .unwrap(),
                ),
            }
        }
        Kind::Null => Arc::new(NullArray::new(n)),
    }
}

/// arrow-rs batches of every supported type: 9, 0, 37 and 130 rows (nulls from the third
/// batch on), plus a slice of the last batch starting at row 3 (non-zero offsets).
fn arrow_all_types() -> (SchemaRef, Vec<RecordBatch>) {
    let specs = all_types_specs();
    let mut rng = Rng::new(1234);
    let words: Vec<Vec<String>> = specs
        .iter()
        .map(|_| {
            let k = 3 + rng.below((DICT_WORDS.len() - 2) as u64) as usize;
            DICT_WORDS[..k].iter().map(|s| s.to_string()).collect()
        })
        .collect();
    let mut schema: Option<SchemaRef> = None;
    let mut batches = Vec::new();
    for (n, rate) in [(9usize, 0.0), (0, 0.0), (37, 0.2), (130, 0.5)] {
        let cols: Vec<ArrayRef> = specs
            .iter()
            .zip(&words)
            .map(|(s, w)| arrow_column(&mut rng, s, n, rate, w))
            .collect();
        let schema = schema
            .get_or_insert_with(|| {
                let fields: Vec<Field> = specs
                    .iter()
                    .zip(&cols)
                    .map(|(s, c)| {
                        let md: HashMap<String, String> = s
                            .metadata
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect();
                        let ordered = matches!(s.kind, Kind::Dict { ordered: true, .. });
                        Field::new(s.name, c.data_type().clone(), s.nullable)
                            .with_metadata(md)
                            .with_dict_is_ordered(ordered)
                    })
                    .collect();
                let md: HashMap<String, String> = [
                    ("producer".to_string(), "arrow-rs".to_string()),
                    ("unicode".to_string(), "héllo ✓".to_string()),
                ]
                .into();
                Arc::new(ArrowSchema::new_with_metadata(fields, md))
            })
            .clone();
        batches.push(RecordBatch::try_new(schema, cols).expect("record batch"));
    }
    let last = batches.last().unwrap().clone();
    batches.push(last.slice(3, last.num_rows() - 10));
    (schema.unwrap(), batches)
}

/// Dictionaries that grow (city), then are replaced (city), in arrow-rs batches.
fn arrow_dictionary_batches() -> (SchemaRef, Vec<RecordBatch>) {
    let schema = Arc::new(ArrowSchema::new(vec![
        Field::new_dictionary("city", DataType::Int32, DataType::Utf8, true),
        Field::new_dictionary("tag", DataType::UInt16, DataType::LargeUtf8, true),
    ]));
    let batch = |city: &[&str], ck: Vec<Option<i32>>, tag: &[&str], tk: Vec<Option<u16>>| {
        let c = DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(ck),
            Arc::new(StringArray::from_iter_values(city)),
        )
        .unwrap();
        let t = DictionaryArray::<UInt16Type>::try_new(
            UInt16Array::from(tk),
            Arc::new(LargeStringArray::from_iter_values(tag)),
        )
        .unwrap();
        RecordBatch::try_new(schema.clone(), vec![Arc::new(c), Arc::new(t)]).unwrap()
    };
    let batches = vec![
        batch(
            &["a", "b"],
            vec![Some(0), None, Some(1)],
            &["x"],
            vec![Some(0), Some(0), None],
        ),
        batch(
            &["a", "b", "c"],
            vec![Some(2), Some(0)],
            &["x", "y"],
            vec![Some(1), Some(0)],
        ),
        batch(
            &["a", "b", "c", "d"],
            vec![Some(3), Some(3), None],
            &["x", "y"],
            vec![None, Some(1), Some(1)],
        ),
        batch(
            &["q", "r"],
            vec![Some(1), Some(0)],
            &["x", "y", "zé"],
            vec![Some(2), Some(2)],
        ),
    ];
    (schema, batches)
}

// ------------------------------------------------------------------ arrow-rs -> cells / JSON

fn unit_name(u: &ArrowUnit) -> &'static str {
    match u {
        ArrowUnit::Second => "s",
        ArrowUnit::Millisecond => "ms",
        ArrowUnit::Microsecond => "us",
        ArrowUnit::Nanosecond => "ns",
    }
}

/// An arrow-rs type named as pyarrow names it (the names the expectation JSON uses).
fn arrow_type_name(field: &Field) -> String {
    let dt = field.data_type();
    match dt {
        DataType::Null => "null".into(),
        DataType::Boolean => "bool".into(),
        DataType::Int8 => "int8".into(),
        DataType::Int16 => "int16".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Utf8 => "string".into(),
        DataType::LargeUtf8 => "large_string".into(),
        DataType::Date32 => "date32[day]".into(),
        DataType::Date64 => "date64[ms]".into(),
        DataType::Time32(u) => format!("time32[{}]", unit_name(u)),
        DataType::Time64(u) => format!("time64[{}]", unit_name(u)),
        DataType::Duration(u) => format!("duration[{}]", unit_name(u)),
        DataType::Timestamp(u, None) => format!("timestamp[{}]", unit_name(u)),
        DataType::Timestamp(u, Some(tz)) => format!("timestamp[{}, tz={tz}]", unit_name(u)),
        DataType::Decimal32(p, s) => format!("decimal32({p}, {s})"),
        DataType::Decimal64(p, s) => format!("decimal64({p}, {s})"),
        DataType::Decimal128(p, s) => format!("decimal128({p}, {s})"),
        DataType::Dictionary(k, v) => format!(
            "dictionary<values={}, indices={}, ordered={}>",
            match v.as_ref() {
                DataType::Utf8 => "string".to_string(),
                DataType::LargeUtf8 => "large_string".to_string(),
                other => format!("{other}"),
            },
            format!("{k}").to_lowercase(),
            u8::from(field.dict_is_ordered().unwrap_or(false))
        ),
        other => format!("arrow-rs:{other}"),
    }
}

fn arrow_cells(a: &dyn Array) -> Vec<Cell> {
    let n = a.len();
    macro_rules! prim {
        ($t:ty, $f:expr) => {{
            let p = a.as_primitive::<$t>();
            (0..n)
                .map(|i| {
                    if p.is_null(i) {
                        Cell::Null
                    } else {
                        $f(p.value(i))
                    }
                })
                .collect()
        }};
    }
    macro_rules! int {
        ($t:ty) => {
            prim!($t, |v| Cell::Int(i128::from(v)))
        };
    }
    match a.data_type() {
        DataType::Null => vec![Cell::Null; n],
        DataType::Boolean => {
            let b = a.as_boolean();
            (0..n)
                .map(|i| {
                    if b.is_null(i) {
                        Cell::Null
                    } else {
                        Cell::Bool(b.value(i))
                    }
                })
                .collect()
        }
        DataType::Int8 => int!(Int8Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int64 => int!(Int64Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt64 => int!(UInt64Type),
        DataType::Float32 => prim!(Float32Type, Cell::F32),
        DataType::Float64 => prim!(Float64Type, Cell::F64),
        DataType::Utf8 => {
            let s = a.as_string::<i32>();
            (0..n)
                .map(|i| {
                    if s.is_null(i) {
                        Cell::Null
                    } else {
                        Cell::Str(s.value(i).to_string())
                    }
                })
                .collect()
        }
        DataType::LargeUtf8 => {
            let s = a.as_string::<i64>();
            (0..n)
                .map(|i| {
                    if s.is_null(i) {
                        Cell::Null
                    } else {
                        Cell::Str(s.value(i).to_string())
                    }
                })
                .collect()
        }
        DataType::Dictionary(_, _) => {
            let d = a.as_any_dictionary();
            let values = arrow_cells(d.values().as_ref());
            arrow_cells(d.keys())
                .into_iter()
                .map(|k| match k {
                    Cell::Int(k) => usize::try_from(k)
                        .ok()
                        .and_then(|k| values.get(k).cloned())
                        .unwrap_or(Cell::Str(format!("<key {k} out of range>"))),
                    _ => Cell::Null,
                })
                .collect()
        }
        DataType::Date32 => int!(Date32Type),
        DataType::Date64 => int!(Date64Type),
        DataType::Time32(ArrowUnit::Second) => int!(Time32SecondType),
        DataType::Time32(_) => int!(Time32MillisecondType),
        DataType::Time64(ArrowUnit::Microsecond) => int!(Time64MicrosecondType),
        DataType::Time64(_) => int!(Time64NanosecondType),
        DataType::Timestamp(ArrowUnit::Second, _) => int!(TimestampSecondType),
        DataType::Timestamp(ArrowUnit::Millisecond, _) => int!(TimestampMillisecondType),
        DataType::Timestamp(ArrowUnit::Microsecond, _) => int!(TimestampMicrosecondType),
        DataType::Timestamp(ArrowUnit::Nanosecond, _) => int!(TimestampNanosecondType),
        DataType::Duration(ArrowUnit::Second) => int!(DurationSecondType),
        DataType::Duration(ArrowUnit::Millisecond) => int!(DurationMillisecondType),
        DataType::Duration(ArrowUnit::Microsecond) => int!(DurationMicrosecondType),
        DataType::Duration(ArrowUnit::Nanosecond) => int!(DurationNanosecondType),
        DataType::Decimal32(..) => int!(Decimal32Type),
        DataType::Decimal64(..) => int!(Decimal64Type),
        DataType::Decimal128(..) => prim!(Decimal128Type, Cell::Int),
        other => panic!("arrow_cells does not cover {other}"),
    }
}

fn string_map<'a>(md: impl Iterator<Item = (&'a String, &'a String)>) -> Value {
    let sorted: BTreeMap<&String, &String> = md.collect();
    Value::Object(
        sorted
            .into_iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect::<Map<String, Value>>(),
    )
}

/// The expectation document of arrow-rs batches (see tests/python/ipc_expect.py).
fn arrow_doc(
    format: &str,
    schema: &ArrowSchema,
    batches: &[RecordBatch],
    check_dictionaries: bool,
) -> Value {
    let types: Vec<String> = schema.fields().iter().map(|f| arrow_type_name(f)).collect();
    let fields: Vec<Value> = schema
        .fields()
        .iter()
        .zip(&types)
        .map(|(f, t)| {
            json!({
                "name": f.name(),
                "type": t,
                "nullable": f.is_nullable(),
                "metadata": string_map(f.metadata().iter()),
            })
        })
        .collect();
    let batches: Vec<Value> = batches
        .iter()
        .map(|b| {
            let cols: Vec<Value> = b
                .columns()
                .iter()
                .zip(&types)
                .map(|(c, t)| {
                    let mut entry = Map::new();
                    let values: Vec<Value> = arrow_cells(c.as_ref())
                        .iter()
                        .map(|x| cell_to_json(t, x))
                        .collect();
                    entry.insert("values".into(), Value::Array(values));
                    if let Some(d) = c.as_any_dictionary_opt() {
                        let words: Vec<Value> = arrow_cells(d.values().as_ref())
                            .into_iter()
                            .map(|x| match x {
                                Cell::Str(s) => Value::from(s),
                                other => Value::from(other.to_string()),
                            })
                            .collect();
                        entry.insert("dictionary".into(), Value::Array(words));
                    }
                    Value::Object(entry)
                })
                .collect();
            json!({"num_rows": b.num_rows(), "columns": cols})
        })
        .collect();
    json!({
        "format": format,
        "check_dictionaries": check_dictionaries,
        "schema": {"metadata": string_map(schema.metadata().iter()), "fields": fields},
        "batches": batches,
    })
}

// ------------------------------------------------------------------ arrow-rs writers / readers

fn arrow_options(
    compression: Option<CompressionType>,
    alignment: usize,
    delta: bool,
) -> IpcWriteOptions {
    IpcWriteOptions::try_new(alignment, false, MetadataVersion::V5)
        .unwrap()
        .try_with_compression(compression)
        .unwrap()
        .with_dictionary_handling(if delta {
            DictionaryHandling::Delta
        } else {
            DictionaryHandling::Resend
        })
}

fn arrow_write_stream(
    schema: &ArrowSchema,
    batches: &[RecordBatch],
    options: IpcWriteOptions,
) -> Vec<u8> {
    let mut w =
        StreamWriter::try_new_with_options(Vec::new(), schema, options).expect("StreamWriter");
    for b in batches {
        w.write(b).expect("StreamWriter::write");
    }
    w.finish().unwrap();
    w.into_inner().unwrap()
}

fn arrow_write_file(
    schema: &ArrowSchema,
    batches: &[RecordBatch],
    options: IpcWriteOptions,
) -> Vec<u8> {
    let mut w = FileWriter::try_new_with_options(Vec::new(), schema, options).expect("FileWriter");
    for b in batches {
        w.write(b).expect("FileWriter::write");
    }
    w.finish().unwrap();
    w.into_inner().unwrap()
}

fn arrow_read_stream(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>), String> {
    let r = StreamReader::try_new(Cursor::new(bytes), None)
        .map_err(|e| format!("StreamReader: {e}"))?;
    let schema = r.schema();
    let batches = r
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("StreamReader: {e}"))?;
    Ok((schema, batches))
}

fn arrow_read_file(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>), String> {
    let r =
        FileReader::try_new(Cursor::new(bytes), None).map_err(|e| format!("FileReader: {e}"))?;
    let schema = r.schema();
    let batches = r
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("FileReader: {e}"))?;
    Ok((schema, batches))
}

fn compression_pairs() -> [(Compression, Option<CompressionType>, &'static str); 3] {
    [
        (Compression::None, None, "none"),
        (
            Compression::Lz4Frame,
            Some(CompressionType::LZ4_FRAME),
            "lz4",
        ),
        (Compression::Zstd, Some(CompressionType::ZSTD), "zstd"),
    ]
}

fn finish(problems: Vec<String>, what: &str) {
    assert!(
        problems.is_empty(),
        "{} problem(s) {what}:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ------------------------------------------------------------------ message walker

/// One IPC message as arrow-rs's flatbuffer code reads it.
#[derive(Debug)]
struct Msg {
    header: MessageHeader,
    /// Absolute offset of the body in the input.
    body_start: usize,
    body_len: usize,
    /// (offset, length) of each buffer in the body.
    buffers: Vec<(i64, i64)>,
    rows: i64,
    /// (dictionary id, isDelta) of a dictionary batch.
    dict: Option<(i64, bool)>,
    codec: Option<CompressionType>,
}

/// Where the messages of an IPC file start: after the magic and its zero padding (to 8
/// bytes as the format asks; arrow-rs pads to its alignment).
fn file_messages_start(bytes: &[u8]) -> usize {
    let mut pos = 8;
    while bytes.get(pos..pos + 4) == Some(&[0u8; 4][..]) {
        pos += 8;
    }
    pos
}

/// The messages of a stream starting at `start` (see [`file_messages_start`] for a file),
/// up to end-of-stream.
fn walk_messages(bytes: &[u8], start: usize) -> Result<Vec<Msg>, String> {
    let mut pos = start;
    let mut out = Vec::new();
    loop {
        let word = |at: usize| -> Result<u32, String> {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                .ok_or_else(|| format!("truncated at byte {at}"))
        };
        if word(pos)? != 0xFFFF_FFFF {
            return Err(format!("no continuation marker at byte {pos}"));
        }
        let len = word(pos + 4)? as usize;
        if len == 0 {
            return Ok(out);
        }
        let meta = bytes
            .get(pos + 8..pos + 8 + len)
            .ok_or_else(|| format!("metadata at {pos} runs past the end"))?;
        let msg = arrow_ipc::root_as_message(meta).map_err(|e| format!("message at {pos}: {e}"))?;
        let body_start = pos + 8 + len;
        let body_len = usize::try_from(msg.bodyLength()).map_err(|_| "negative body length")?;
        let (rb, dict) = match msg.header_type() {
            MessageHeader::RecordBatch => (msg.header_as_record_batch(), None),
            MessageHeader::DictionaryBatch => {
                let d = msg.header_as_dictionary_batch().unwrap();
                (d.data(), Some((d.id(), d.isDelta())))
            }
            _ => (None, None),
        };
        let (buffers, rows, codec) = match rb {
            Some(rb) => (
                rb.buffers()
                    .map(|v| v.iter().map(|b| (b.offset(), b.length())).collect())
                    .unwrap_or_default(),
                rb.length(),
                rb.compression().map(|c| c.codec()),
            ),
            None => (Vec::new(), 0, None),
        };
        out.push(Msg {
            header: msg.header_type(),
            body_start,
            body_len,
            buffers,
            rows,
            dict,
            codec,
        });
        pos = body_start + body_len;
    }
}

/// Alignment and compression of every message Lightstream wrote.
fn check_layout(
    label: &str,
    msgs: &[Msg],
    alignment: usize,
    codec: Option<CompressionType>,
    problems: &mut Vec<String>,
) {
    for (i, m) in msgs.iter().enumerate() {
        if !m.body_start.is_multiple_of(alignment) {
            problems.push(format!(
                "{label}: message {i} ({:?}) body starts at byte {}, not a multiple of {alignment}",
                m.header, m.body_start
            ));
        }
        if !m.body_len.is_multiple_of(8) {
            problems.push(format!(
                "{label}: message {i} body length {} is not a multiple of 8",
                m.body_len
            ));
        }
        for (k, &(off, len)) in m.buffers.iter().enumerate() {
            if !(off as usize).is_multiple_of(alignment) {
                problems.push(format!(
                    "{label}: message {i} ({:?}) buffer {k} at body offset {off}, not a multiple of {alignment}",
                    m.header
                ));
            }
            if off < 0 || len < 0 || (off + len) as usize > m.body_len {
                problems.push(format!(
                    "{label}: message {i} buffer {k} ({off}, {len}) outside a body of {}",
                    m.body_len
                ));
            }
        }
        if matches!(
            m.header,
            MessageHeader::RecordBatch | MessageHeader::DictionaryBatch
        ) && m.codec != codec
        {
            problems.push(format!(
                "{label}: message {i} compression {:?}, expected {codec:?}",
                m.codec
            ));
        }
    }
}

/// The dictionary batches sent before each record batch: (field index, isDelta, rows),
/// sorted by field.
fn dictionary_plan(msgs: &[Msg], schema: &Schema) -> Vec<Vec<(usize, bool, i64)>> {
    let field_of = |id: i64| {
        schema
            .dictionaries
            .iter()
            .position(|d| d.as_ref().map(|d| d.id) == Some(id))
            .unwrap_or(usize::MAX)
    };
    let mut plan = Vec::new();
    let mut pending = Vec::new();
    for m in msgs {
        match (m.header, m.dict) {
            (MessageHeader::DictionaryBatch, Some((id, delta))) => {
                pending.push((field_of(id), delta, m.rows))
            }
            (MessageHeader::RecordBatch, _) => {
                pending.sort();
                plan.push(std::mem::take(&mut pending));
            }
            _ => {}
        }
    }
    plan
}

// ------------------------------------------------------------------ aligned arrow buffers

/// `bytes` in an arrow-rs `Buffer` whose first byte is 64-byte aligned.
fn arrow_aligned(bytes: &[u8]) -> Buffer {
    let mut mb = MutableBuffer::from_len_zeroed(bytes.len() + 64);
    let pad = (64 - mb.as_ptr() as usize % 64) % 64;
    mb.as_slice_mut()[pad..pad + bytes.len()].copy_from_slice(bytes);
    let buf = Buffer::from(mb).slice_with_length(pad, bytes.len());
    assert_eq!(buf.as_ptr() as usize % 64, 0);
    buf
}

/// Every buffer of an array (values, offsets, validity, children) as (what, address, len).
fn arrow_buffers(
    a: &dyn Array,
    path: &str,
    out: &mut Vec<(String, usize, usize, bool)>,
    zero_copy: bool,
) {
    let data = a.to_data();
    for (k, b) in data.buffers().iter().enumerate() {
        out.push((
            format!("{path} buffer {k}"),
            b.as_ptr() as usize,
            b.len(),
            zero_copy,
        ));
    }
    if let Some(n) = data.nulls() {
        out.push((
            format!("{path} validity"),
            n.buffer().as_ptr() as usize,
            n.buffer().len(),
            zero_copy,
        ));
    }
    if let Some(d) = a.as_any_dictionary_opt() {
        // A delta concatenates the dictionary into new memory: alignment only.
        arrow_buffers(
            d.values().as_ref(),
            &format!("{path} dictionary"),
            out,
            false,
        );
    }
}

// ------------------------------------------------------------------ tests

#[test]
fn lightstream_reads_arrow_rs_streams_and_files() {
    let (schema, batches) = arrow_all_types();
    let mut problems = Vec::new();
    for (_, codec, comp) in compression_pairs() {
        for alignment in [64usize, 8] {
            let options = arrow_options(codec, alignment, false);
            let label = format!("arrow-rs all types, {comp}, alignment {alignment}");

            let stream = arrow_write_stream(&schema, &batches, options.clone());
            let doc = arrow_doc("stream", &schema, &batches, true);
            match read_stream(aligned_copy(&stream), ReadOptions::default()) {
                Ok((s, t)) => problems.extend(diff_against_doc(
                    &format!("{label} [read_stream]"),
                    &doc,
                    &s,
                    &t,
                )),
                Err(e) => problems.push(format!("{label} [read_stream]: {e}")),
            }
            match decode_pushing(&stream, 13, ReadOptions::default()) {
                Ok(d) => {
                    let (s, t) = d.into_pair();
                    problems.extend(diff_against_doc(
                        &format!("{label} [push 13]"),
                        &doc,
                        &s,
                        &t,
                    ));
                }
                Err(e) => problems.push(format!("{label} [push 13]: {e}")),
            }
            // Every dictionary case (null entries, signed keys, garbage keys
            // under nulls) read with compact dictionaries: the same values.
            let values_only = arrow_doc("stream", &schema, &batches, false);
            match read_stream(aligned_copy(&stream), compact()) {
                Ok((s, t)) => problems.extend(diff_against_doc(
                    &format!("{label} [compact]"),
                    &values_only,
                    &s,
                    &t,
                )),
                Err(e) => problems.push(format!("{label} [compact]: {e}")),
            }

            let file = arrow_write_file(&schema, &batches, options);
            let doc = arrow_doc("file", &schema, &batches, true);
            match read_file(aligned_copy(&file), ReadOptions::default()) {
                Ok((s, t)) => problems.extend(diff_against_doc(
                    &format!("{label} [read_file]"),
                    &doc,
                    &s,
                    &t,
                )),
                Err(e) => problems.push(format!("{label} [read_file]: {e}")),
            }
        }
    }
    finish(problems, "reading arrow-rs output");
}

#[test]
fn lightstream_reads_arrow_rs_dictionary_deltas_and_replacements() {
    let (schema, batches) = arrow_dictionary_batches();
    let mut problems = Vec::new();
    for (_, codec, comp) in compression_pairs() {
        for delta in [true, false] {
            let label = format!("arrow-rs dictionaries, {comp}, delta {delta}");
            let stream = arrow_write_stream(&schema, &batches, arrow_options(codec, 64, delta));
            // The test must exercise what it says: deltas present exactly when asked for.
            let msgs = walk_messages(&stream, 0).expect("arrow-rs stream parses");
            let deltas = msgs
                .iter()
                .filter(|m| matches!(m.dict, Some((_, true))))
                .count();
            assert_eq!(
                deltas > 0,
                delta,
                "{label}: arrow-rs wrote {deltas} delta dictionary batches"
            );
            let doc = arrow_doc("stream", &schema, &batches, true);
            match read_stream(aligned_copy(&stream), ReadOptions::default()) {
                Ok((s, t)) => problems.extend(diff_against_doc(&label, &doc, &s, &t)),
                Err(e) => problems.push(format!("{label}: {e}")),
            }
            match decode_pushing(&stream, 5, ReadOptions::default()) {
                Ok(d) => {
                    let (s, t) = d.into_pair();
                    problems.extend(diff_against_doc(&format!("{label} [push 5]"), &doc, &s, &t));
                }
                Err(e) => problems.push(format!("{label} [push 5]: {e}")),
            }
            // Batches with fewer rows than dictionary values hold only the
            // values they use: the same values as arrow-rs reads, row by row.
            let values_only = arrow_doc("stream", &schema, &batches, false);
            match read_stream(aligned_copy(&stream), compact()) {
                Ok((s, t)) => problems.extend(diff_against_doc(
                    &format!("{label} [compact]"),
                    &values_only,
                    &s,
                    &t,
                )),
                Err(e) => problems.push(format!("{label} [compact]: {e}")),
            }
        }
    }
    // A file whose dictionaries only grow: arrow-rs writes deltas into it.
    let growth = &batches[..3];
    for (_, codec, comp) in compression_pairs() {
        let label = format!("arrow-rs dictionary file, {comp}, deltas");
        let file = arrow_write_file(&schema, growth, arrow_options(codec, 64, true));
        let msgs = walk_messages(&file, file_messages_start(&file)).expect("arrow-rs file parses");
        let deltas = msgs
            .iter()
            .filter(|m| matches!(m.dict, Some((_, true))))
            .count();
        assert!(
            deltas > 0,
            "{label}: arrow-rs wrote no delta dictionary batches"
        );
        // Per-batch dictionaries of a file depend on when a reader applies deltas.
        let doc = arrow_doc("file", &schema, growth, false);
        match read_file(aligned_copy(&file), ReadOptions::default()) {
            Ok((s, t)) => problems.extend(diff_against_doc(&label, &doc, &s, &t)),
            Err(e) => problems.push(format!("{label}: {e}")),
        }
        match read_file(aligned_copy(&file), compact()) {
            Ok((s, t)) => problems.extend(diff_against_doc(
                &format!("{label} [compact]"),
                &doc,
                &s,
                &t,
            )),
            Err(e) => problems.push(format!("{label} [compact]: {e}")),
        }
    }
    finish(problems, "reading arrow-rs dictionary streams and files");
}

fn compact() -> ReadOptions {
    ReadOptions {
        compact_dictionaries: true,
        ..ReadOptions::default()
    }
}

/// Lightstream's test tables: all types, changing dictionaries (a file unifies them into
/// one per field grown by deltas), growing dictionaries.
fn lightstream_cases() -> Vec<(&'static str, Schema, Vec<Table>)> {
    let (s1, t1) = interop_all_types();
    let (s2, t2) = dictionary_tables(&DICT_CHANGES);
    let (s3, t3) = dictionary_tables(&DICT_GROWTH);
    vec![
        ("all_types", s1, t1),
        ("dict_changes", s2, t2),
        ("dict_growth", s3, t3),
    ]
}

#[test]
fn arrow_rs_reads_what_lightstream_writes() {
    let mut problems = Vec::new();
    for (name, schema, tables) in lightstream_cases() {
        for (compression, _, comp) in compression_pairs() {
            for alignment in [64usize, 8] {
                let options = WriteOptions {
                    compression,
                    alignment,
                    ..WriteOptions::default()
                };
                let label = format!("{name}, {comp}, alignment {alignment}");
                let stream = write_stream(&schema, &tables, &options).expect("write_stream");
                let expected = expect_doc("stream", &schema, &tables, true).unwrap();
                match arrow_read_stream(&stream) {
                    Ok((s, b)) => problems.extend(diff_docs(
                        &format!("{label} [StreamReader]"),
                        &expected,
                        &arrow_doc("stream", &s, &b, true),
                    )),
                    Err(e) => problems.push(format!("{label}: {e}")),
                }
                let file = write_file(&schema, &tables, &options).expect("write_file");
                // arrow-rs applies a file's deltas in footer order, and a file unifies
                // changing dictionaries; compare values only.
                let expected = expect_doc("file", &schema, &tables, false).unwrap();
                match arrow_read_file(&file) {
                    Ok((s, b)) => problems.extend(diff_docs(
                        &format!("{label} [FileReader]"),
                        &expected,
                        &arrow_doc("file", &s, &b, false),
                    )),
                    Err(e) => problems.push(format!("{label}: {e}")),
                }
            }
        }
    }
    finish(problems, "reading Lightstream output with arrow-rs");
}

/// The row ranges of a table of `n` rows the range tests encode: whole, the
/// first and last rows, starts on a byte (0, 8) and inside one (1, 7, 9),
/// single rows, and the empty range at the end.
fn edge_ranges(n: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = vec![0..n, 0..1.min(n), n.saturating_sub(1)..n, n..n];
    for start in [1, 7, 8, 9] {
        for end in [start + 1, n / 2, n.saturating_sub(1), n] {
            if start <= end && end <= n {
                out.push(start..end);
            }
        }
    }
    out
}

/// Row ranges encoded with `IpcStreamEncoder::encode_rows` (the record batches a
/// table too large for one Flight message is cut into) read back by arrow-rs and
/// by our decoder as minarrow's copy of the same rows (`Table::slice_clone`), for
/// every type, uncompressed and zstd, dictionaries as given and unified.
#[test]
fn arrow_rs_reads_row_ranges_lightstream_encodes() {
    let mut problems = Vec::new();
    for (name, schema, tables) in lightstream_cases() {
        for (compression, _, comp) in compression_pairs().into_iter().step_by(2) {
            for unify in [false, true] {
                let options = WriteOptions {
                    compression,
                    unify_dictionaries: unify,
                    ..WriteOptions::default()
                };
                let label = format!("{name}, {comp}, unify {unify}");
                let mut enc = IpcStreamEncoder::new(Arc::new(schema.clone()), options).unwrap();
                let mut stream = enc.schema_message().unwrap().to_vec();
                let mut slices = Vec::new();
                for t in &tables {
                    for rows in edge_ranges(t.n_rows) {
                        for m in enc.encode_rows(t, rows.clone()).unwrap() {
                            m.append_to(&mut stream);
                        }
                        slices.push(slice_rows(t, rows));
                    }
                }
                enc.end_of_stream().append_to(&mut stream);
                // A unified dictionary holds more values than a slice's own.
                let expected = expect_doc("stream", &schema, &slices, !unify).unwrap();
                match arrow_read_stream(&stream) {
                    Ok((s, b)) => problems.extend(diff_docs(
                        &format!("{label} [StreamReader]"),
                        &expected,
                        &arrow_doc("stream", &s, &b, !unify),
                    )),
                    Err(e) => problems.push(format!("{label}: {e}")),
                }
                match read_stream(aligned_copy(&stream), ReadOptions::default()) {
                    Ok((s, back)) => problems.extend(diff_against_doc(
                        &format!("{label} [read_stream]"),
                        &expected,
                        &s,
                        &back,
                    )),
                    Err(e) => problems.push(format!("{label} [read_stream]: {e}")),
                }
            }
        }
    }
    finish(problems, "reading row ranges Lightstream encodes");
}

#[test]
fn arrow_rs_stream_decoder_reads_lightstream_bytes_zero_copy() {
    let mut problems = Vec::new();
    for (name, schema, tables) in lightstream_cases() {
        let stream =
            write_stream(&schema, &tables, &WriteOptions::default()).expect("write_stream");
        let input = arrow_aligned(&stream);
        let (base, end) = (
            input.as_ptr() as usize,
            input.as_ptr() as usize + input.len(),
        );
        let mut decoder = StreamDecoder::new().with_require_alignment(true);
        let mut rest = input.clone();
        let mut batches = Vec::new();
        let mut steps = 0;
        while !rest.is_empty() && steps < 10_000 {
            steps += 1;
            match decoder.decode(&mut rest) {
                Ok(Some(b)) => batches.push(b),
                Ok(None) => {}
                Err(e) => {
                    problems.push(format!("{name}: StreamDecoder (require_alignment): {e}"));
                    break;
                }
            }
        }
        if let Err(e) = decoder.finish() {
            problems.push(format!("{name}: StreamDecoder::finish: {e}"));
        }
        let Some(arrow_schema) = decoder.schema() else {
            problems.push(format!("{name}: StreamDecoder saw no schema"));
            continue;
        };
        problems.extend(diff_docs(
            &format!("{name} [StreamDecoder]"),
            &expect_doc("stream", &schema, &tables, true).unwrap(),
            &arrow_doc("stream", &arrow_schema, &batches, true),
        ));
        for (b, batch) in batches.iter().enumerate() {
            for (c, col) in batch.columns().iter().enumerate() {
                let mut bufs = Vec::new();
                arrow_buffers(
                    col.as_ref(),
                    &format!("batch {b} column {}", arrow_schema.field(c).name()),
                    &mut bufs,
                    true,
                );
                for (what, addr, len, zero_copy) in bufs {
                    if len == 0 {
                        continue;
                    }
                    let inside = addr >= base && addr + len <= end;
                    if !inside && zero_copy {
                        problems.push(format!(
                            "{name}: {what} is not a slice of the input (copied)"
                        ));
                    } else if inside && (addr - base) % 64 != 0 {
                        problems.push(format!(
                            "{name}: {what} at byte {} of the stream, not a multiple of 64",
                            addr - base
                        ));
                    }
                }
            }
        }
    }
    finish(
        problems,
        "decoding Lightstream bytes zero-copy with arrow-rs",
    );
}

#[test]
fn lightstream_messages_are_aligned_and_send_only_needed_dictionaries() {
    let mut problems = Vec::new();
    for (name, schema, tables) in lightstream_cases() {
        for (compression, codec, comp) in compression_pairs() {
            for alignment in [64usize, 8] {
                let options = WriteOptions {
                    compression,
                    alignment,
                    ..WriteOptions::default()
                };
                let label = format!("{name}, {comp}, alignment {alignment}");
                let stream = write_stream(&schema, &tables, &options).expect("write_stream");
                match walk_messages(&stream, 0) {
                    Ok(msgs) => {
                        check_layout(
                            &format!("{label} stream"),
                            &msgs,
                            alignment,
                            codec,
                            &mut problems,
                        );
                        let n = msgs
                            .iter()
                            .filter(|m| m.header == MessageHeader::RecordBatch)
                            .count();
                        if n != tables.len() {
                            problems.push(format!(
                                "{label}: {n} record batches for {} tables",
                                tables.len()
                            ));
                        }
                    }
                    Err(e) => problems.push(format!("{label} stream: {e}")),
                }
                let file = write_file(&schema, &tables, &options).expect("write_file");
                match walk_messages(&file, file_messages_start(&file)) {
                    Ok(msgs) => check_layout(
                        &format!("{label} file"),
                        &msgs,
                        alignment,
                        codec,
                        &mut problems,
                    ),
                    Err(e) => problems.push(format!("{label} file: {e}")),
                }
            }
        }
    }

    // Exactly the dictionary batches the table sequence needs.
    // city (field 0): [a,b] -> [a,b,c,d] -> same -> [q,r] -> [q,r,s]
    // tag  (field 1): [x]   -> [x,y]     -> [x,y,zé] -> same -> same
    let (schema, tables) = dictionary_tables(&DICT_CHANGES);
    let with_deltas = vec![
        vec![(0, false, 2), (1, false, 1)],
        vec![(0, true, 2), (1, true, 1)],
        vec![(1, true, 1)],
        vec![(0, false, 2)],
        vec![(0, true, 1)],
    ];
    let without_deltas = vec![
        vec![(0, false, 2), (1, false, 1)],
        vec![(0, false, 4), (1, false, 2)],
        vec![(1, false, 3)],
        vec![(0, false, 2)],
        vec![(0, false, 3)],
    ];
    for (allow, expected) in [(true, with_deltas), (false, without_deltas)] {
        let options = WriteOptions {
            allow_delta_dictionaries: allow,
            ..WriteOptions::default()
        };
        let stream = write_stream(&schema, &tables, &options).expect("write_stream");
        let plan = dictionary_plan(&walk_messages(&stream, 0).expect("parse"), &schema);
        if plan != expected {
            problems.push(format!(
                "dictionary batches with allow_delta_dictionaries={allow}: (field, isDelta, rows) per table\n  got      {plan:?}\n  expected {expected:?}"
            ));
        }
    }
    // In a file: deltas only.
    let (schema, tables) = dictionary_tables(&DICT_GROWTH);
    let file = write_file(&schema, &tables, &WriteOptions::default()).expect("write_file");
    let plan = dictionary_plan(
        &walk_messages(&file, file_messages_start(&file)).expect("parse"),
        &schema,
    );
    let expected = vec![
        vec![(0, false, 2), (1, false, 1)],
        vec![(0, true, 2), (1, true, 1)],
        vec![(1, true, 1)],
        vec![(0, true, 1)],
    ];
    if plan != expected {
        problems.push(format!(
            "file dictionary batches (field, isDelta, rows) per table\n  got      {plan:?}\n  expected {expected:?}"
        ));
    }
    // Replaced dictionaries in a file (or a stream asked to unify): one dictionary per
    // field, grown by deltas of only the values new to it. city [q,r] after [a,b,c,d]
    // sends q and r; [q,r,s] then sends s.
    let (schema, tables) = dictionary_tables(&DICT_CHANGES);
    let unified = vec![
        vec![(0, false, 2), (1, false, 1)],
        vec![(0, true, 2), (1, true, 1)],
        vec![(1, true, 1)],
        vec![(0, true, 2)],
        vec![(0, true, 1)],
    ];
    let file = write_file(&schema, &tables, &WriteOptions::default()).expect("write_file");
    let unify = WriteOptions {
        unify_dictionaries: true,
        ..WriteOptions::default()
    };
    let stream = write_stream(&schema, &tables, &unify).expect("write_stream");
    for (what, msgs) in [
        ("file", walk_messages(&file, file_messages_start(&file))),
        ("unified stream", walk_messages(&stream, 0)),
    ] {
        let plan = dictionary_plan(&msgs.expect("parse"), &schema);
        if plan != unified {
            problems.push(format!(
                "{what} of replaced dictionaries: (field, isDelta, rows) per table\n  got      {plan:?}\n  expected {unified:?}"
            ));
        }
    }
    finish(problems, "in the layout of Lightstream's messages");
}

// ------------------------------------------------------------------ Arrow Flight (issue 20)
//
// arrow-rs's `arrow-flight` both ways (tests/peers/arrow_flight.rs): its tonic
// server, which sends what `FlightDataEncoderBuilder` makes (dictionaries
// resent as they are, batches over 2 MiB split), read by our
// `connect(grpc://)`; and our `bind(grpc://)` read by its `FlightClient`, and
// fed by our DoPut; its DoPut with app_metadata reading our PutResults.

#[path = "../peers/arrow_flight.rs"]
mod arrow_flight_peer;

use arrow_flight_peer::ArrowFlightPeer;
use futures_util::{StreamExt, TryStreamExt};
use lightstream::flight::{FlightOptions, FlightRequest};
use lightstream_tests::harness::run_bounded;

const FLIGHT_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// An arrow-flight server on loopback serving `flights`; its URL, and a
/// sender that stops it.
async fn start_arrow_flight(
    flights: Vec<(String, Vec<RecordBatch>)>,
) -> (String, ArrowFlightPeer, tokio::sync::oneshot::Sender<()>) {
    let peer = ArrowFlightPeer::new(flights, true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("grpc://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(peer.clone().serve(listener, async {
        let _ = stopped.await;
    }));
    (url, peer, stop)
}

/// Our Flight server on loopback: its listener and port.
async fn bind_lightstream_flight() -> (lightstream::Listener, u16) {
    let listener = lightstream::bind(
        &"grpc://127.0.0.1:0".parse().expect("grpc URL"),
        &lightstream::ServerOptions::default(),
    )
    .await
    .expect("bind grpc://");
    let lightstream::Endpoint::Grpc { port, .. } = listener.local_url().clone() else {
        panic!("not a grpc:// listener: {}", listener.local_url());
    };
    (listener, port)
}

/// A tonic channel to a Flight server on loopback `port`, for arrow-flight's
/// `FlightClient`.
async fn tonic_channel(port: u16) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

fn flight_client_options(flight: FlightOptions) -> lightstream::ClientOptions {
    lightstream::ClientOptions {
        flight,
        ..lightstream::ClientOptions::default()
    }
}

#[test]
fn lightstream_reads_an_arrow_flight_server() {
    let (schema, batches) = arrow_all_types();
    // arrow-flight's encoder sends no FlightData for a batch of no rows
    // (all_types has one): the stream it serves is the others.
    let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
    let (dict_schema, dict_batches) = arrow_dictionary_batches();
    run_bounded(
        "arrow-flight server -> lightstream",
        FLIGHT_LIMIT,
        async move {
            let (url, _peer, stop) = start_arrow_flight(vec![
                ("all_types".into(), batches.clone()),
                ("dictionaries".into(), dict_batches.clone()),
            ])
            .await;
            let endpoint: lightstream::Endpoint = url.parse().expect("grpc URL");
            let mut problems = Vec::new();
            for (ticket, schema, batches) in [
                ("all_types", &schema, &batches),
                ("dictionaries", &dict_schema, &dict_batches),
            ] {
                let options = flight_client_options(FlightOptions {
                    ticket: Some(ticket.into()),
                    ..FlightOptions::default()
                });
                let conn = lightstream::connect(&endpoint, &options)
                    .await
                    .expect("connect");
                let mut reader = conn.reader(ReadOptions::default()).await.expect("DoGet");
                let mut tables = Vec::new();
                while let Some(t) = reader.next().await {
                    tables.push(t.unwrap_or_else(|e| panic!("{ticket}: {e}")));
                }
                let got = reader.schema().as_ref().clone();
                problems.extend(diff_against_doc(
                    &format!("arrow-flight {ticket} [connect grpc://]"),
                    &arrow_doc("stream", schema, batches, true),
                    &got,
                    &tables,
                ));
                assert!(!tables.is_empty(), "{ticket}: no tables");
            }
            // A ticket arrow-flight does not know: its NOT_FOUND, typed.
            let options = flight_client_options(FlightOptions {
                ticket: Some("nope".into()),
                ..FlightOptions::default()
            });
            let refused = match lightstream::connect(&endpoint, &options).await {
                Ok(conn) => conn.reader(ReadOptions::default()).await.err(),
                Err(e) => Some(e),
            };
            match refused {
                Some(lightstream::Error::Flight { code, .. }) => {
                    assert_eq!(code, lightstream::flight::FlightCode::NotFound)
                }
                other => panic!("an unknown ticket: {other:?}"),
            }
            let _ = stop.send(());
            finish(problems, "reading arrow-flight's DoGet");
        },
    );
}

#[test]
fn arrow_flight_reads_a_lightstream_server_and_takes_its_do_put() {
    run_bounded(
        "lightstream server <-> arrow-flight",
        FLIGHT_LIMIT,
        async move {
            let (listener, port) = bind_lightstream_flight().await;
            let cases = Arc::new(lightstream_cases());
            let served = cases.clone();
            tokio::spawn(async move {
                while let Ok(conn) = listener.accept().await {
                    let Some(FlightRequest::DoGet { ticket }) = conn.flight_request().cloned()
                    else {
                        continue;
                    };
                    let Some((_, schema, tables)) = served
                        .iter()
                        .find(|(n, _, _)| n.as_bytes() == ticket.as_ref())
                    else {
                        let _ = conn
                            .reject(lightstream::flight::FlightCode::NotFound, "no such ticket")
                            .await;
                        continue;
                    };
                    let mut w = conn
                        .writer(
                            Arc::new(schema.clone()),
                            lightstream::WriteOptions::default(),
                        )
                        .await
                        .expect("writer");
                    for t in tables {
                        w.write(t).await.expect("write");
                    }
                    w.finish().await.expect("finish");
                }
            });

            let channel = tonic_channel(port).await;
            let mut client = arrow_flight::FlightClient::new(channel.clone());
            let mut problems = Vec::new();
            for (name, schema, tables) in cases.iter() {
                let batches: Vec<RecordBatch> = client
                    .do_get(arrow_flight::Ticket::new(name.to_string()))
                    .await
                    .unwrap_or_else(|e| panic!("{name}: do_get: {e}"))
                    .try_collect()
                    .await
                    .unwrap_or_else(|e| panic!("{name}: reading: {e}"));
                let arrow_schema = batches.first().map(|b| b.schema()).expect("a batch");
                problems.extend(diff_docs(
                    &format!("{name} [arrow-flight FlightClient::do_get]"),
                    &expect_doc("stream", schema, tables, false).unwrap(),
                    &arrow_doc("stream", &arrow_schema, &batches, false),
                ));
            }
            let status = client
                .do_get(arrow_flight::Ticket::new("nope"))
                .await
                .map(|_| ())
                .err();
            assert!(
                matches!(&status, Some(arrow_flight::error::FlightError::Tonic(s)) if s.code() == tonic::Code::NotFound),
                "an unknown ticket: {status:?}"
            );
            finish(problems, "arrow-flight reading Lightstream's DoGet");

            // The other way: our DoPut into arrow-flight's server, values as sent.
            let (schema, tables) = interop_all_types();
            let (url, peer, stop) = start_arrow_flight(Vec::new()).await;
            let options = flight_client_options(FlightOptions {
                path: Some(vec!["uploads".into(), "all_types".into()]),
                ..FlightOptions::default()
            });
            let conn = lightstream::connect(&url.parse().expect("url"), &options)
                .await
                .expect("connect");
            let mut w = conn
                .writer(
                    Arc::new(schema.clone()),
                    lightstream::WriteOptions::default(),
                )
                .await
                .expect("DoPut");
            for t in &tables {
                w.write(t).await.expect("write");
            }
            w.finish().await.expect("finish");
            let puts = peer.puts.lock().expect("puts").clone();
            assert_eq!(puts.len(), 1, "arrow-flight stored {} uploads", puts.len());
            let got = &puts[0];
            let arrow_schema = got.first().map(|b| b.schema()).expect("a batch");
            let problems = diff_docs(
                "all_types [DoPut to arrow-flight]",
                &expect_doc("stream", &schema, &tables, false).unwrap(),
                &arrow_doc("stream", &arrow_schema, got, false),
            );
            let _ = stop.send(());
            finish(problems, "arrow-flight reading Lightstream's DoPut");
        },
    );
}

/// arrow-flight's `FlightClient::do_put` with an `app_metadata` on each
/// record batch's FlightData into our server, which answers each with a
/// `PutResult` naming the message index and echoing the bytes
/// (`Connection::put_metadata`): arrow-flight's result stream reads them
/// back, in order, before the call's OK.
#[test]
fn arrow_flight_do_put_reads_our_put_results() {
    run_bounded(
        "arrow-flight DoPut -> PutResults",
        FLIGHT_LIMIT,
        async move {
            let (listener, port) = bind_lightstream_flight().await;
            let serving = tokio::spawn(async move {
                let mut conn = listener.accept().await.expect("a call");
                let mut put = conn.put_metadata().expect("a DoPut");
                let mut reader = conn.reader(ReadOptions::default()).await.expect("reader");
                let mut rows = 0;
                while let Some(table) = reader.next().await {
                    rows += table.expect("a table").n_rows;
                    while let Ok(m) = put.received.try_recv() {
                        let answer = format!("{}:{}", m.message, String::from_utf8_lossy(&m.bytes));
                        put.results.send(answer.into()).await.expect("a PutResult");
                    }
                }
                rows
            });
            let batches: Vec<RecordBatch> = (0..3i64)
                .map(|i| {
                    let n: ArrayRef = Arc::new(Int64Array::from(vec![2 * i, 2 * i + 1]));
                    RecordBatch::try_from_iter([("n", n)]).expect("a batch")
                })
                .collect();
            let descriptor = arrow_flight::FlightDescriptor::new_path(vec!["uploads".into()]);
            let data: Vec<arrow_flight::FlightData> =
                arrow_flight::encode::FlightDataEncoderBuilder::new()
                    .with_flight_descriptor(Some(descriptor))
                    .build(futures_util::stream::iter(batches.into_iter().map(Ok)))
                    .try_collect()
                    .await
                    .expect("encoding");
            // FlightData 0 is the schema; the batches get app_metadata.
            let data = data.into_iter().enumerate().map(|(i, d)| {
                Ok(if i == 0 {
                    d
                } else {
                    d.with_app_metadata(format!("m{i}"))
                })
            });
            let channel = tonic_channel(port).await;
            let results: Vec<arrow_flight::PutResult> = arrow_flight::FlightClient::new(channel)
                .do_put(futures_util::stream::iter(data))
                .await
                .expect("do_put")
                .try_collect()
                .await
                .expect("the PutResults and OK");
            let got: Vec<String> = results
                .iter()
                .map(|r| String::from_utf8_lossy(&r.app_metadata).into_owned())
                .collect();
            assert_eq!(got, ["1:m1", "2:m2", "3:m3"]);
            assert_eq!(serving.await.expect("the server"), 6);
        },
    );
}

/// FlightData from arrow-flight's own encoder (`FlightDataEncoderBuilder`, at
/// pyarrow's 8-byte alignment), decoded in memory by `FlightDataDecoder` with
/// each `data_body` a `Bytes`, as a program with its own tonic client holds
/// them.
fn arrow_flight_data(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<arrow_flight::FlightData> {
    let options = IpcWriteOptions::try_new(8, false, MetadataVersion::V5).expect("options");
    // Owned: the encoder's stream must not borrow `batches`.
    let input: Vec<Result<RecordBatch, arrow_flight::error::FlightError>> =
        batches.iter().cloned().map(Ok).collect();
    let stream = arrow_flight::encode::FlightDataEncoderBuilder::new()
        .with_dictionary_handling(arrow_flight::encode::DictionaryHandling::Resend)
        .with_options(options)
        .with_max_flight_data_size(usize::MAX)
        .with_schema(schema.clone())
        .build(futures_util::stream::iter(input));
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(stream.try_collect())
        .expect("arrow-flight encodes")
}

/// Each FlightData of `data` through a new `FlightDataDecoder`, its body
/// `shift` bytes past a 64-byte boundary (a `Bytes` slice of aligned memory).
fn decode_flight_data(
    data: &[arrow_flight::FlightData],
    shift: usize,
) -> (
    lightstream_core::flight::FlightDataDecoder,
    Vec<Table>,
    Vec<std::ops::Range<usize>>,
) {
    use lightstream_core::StreamItem;
    let mut decoder = lightstream_core::flight::FlightDataDecoder::new(ReadOptions::default());
    let (mut tables, mut bodies) = (Vec::new(), Vec::new());
    for fd in data {
        let mut padded = vec![0xEE; shift];
        padded.extend_from_slice(&fd.data_body);
        let body = bytes::Bytes::from_owner(aligned_copy(&padded)).slice(shift..);
        bodies.push(body.as_ptr_range().start as usize..body.as_ptr_range().end as usize);
        match decoder.push(&fd.data_header, body) {
            Ok(Some(StreamItem::Table(t))) => tables.push(t),
            Ok(_) => {}
            Err(e) => panic!("FlightData {}: {e}", decoder.messages() - 1),
        }
    }
    (decoder, tables, bodies)
}

#[test]
fn flight_data_decoder_borrows_arrow_flight_bodies_where_aligned() {
    // Shape (b) of the Flight bench: strings and int64, 10% nulls. At
    // alignment 8, the buffers after each 125-byte validity bitmap start
    // off 64-byte boundaries, but every one is aligned for its type.
    let n = 1000;
    let strings: StringArray = (0..n)
        .map(|i| (i % 10 != 3).then(|| format!("s{}", i * 7919 % 1000)))
        .collect();
    let ints: Int64Array = (0..n)
        .map(|i| (i % 10 != 7).then_some(i as i64 * 3))
        .collect();
    let schema: SchemaRef = Arc::new(ArrowSchema::new(vec![
        Field::new("s", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(strings), Arc::new(ints)])
        .expect("batch");
    let batches = vec![batch.clone(), batch];
    let data = arrow_flight_data(&schema, &batches);
    let doc = arrow_doc("stream", &schema, &batches, true);
    let mut problems = Vec::new();

    // Aligned: every buffer is borrowed from the body, nothing copied.
    let (aligned, tables, bodies) = decode_flight_data(&data, 0);
    let got = aligned.schema().expect("schema").as_ref().clone();
    problems.extend(diff_against_doc(
        "arrow-flight (b), aligned",
        &doc,
        &got,
        &tables,
    ));
    let borrowed = aligned.bytes_borrowed();
    assert!(borrowed > 0);
    assert_eq!(aligned.bytes_copied(), 0, "an aligned body was copied");
    let (ints_at, strings_at) = match (&tables[1].cols[1].array, &tables[1].cols[0].array) {
        (
            lightstream_core::minarrow::Array::NumericArray(
                lightstream_core::minarrow::NumericArray::Int64(i),
            ),
            lightstream_core::minarrow::Array::TextArray(
                lightstream_core::minarrow::TextArray::String32(s),
            ),
        ) => (
            i.data.as_slice().as_ptr() as usize,
            s.data.as_slice().as_ptr() as usize,
        ),
        other => panic!("columns {other:?}"),
    };
    let batch_body = bodies.last().expect("bodies");
    assert!(batch_body.contains(&ints_at) && batch_body.contains(&strings_at));
    assert_ne!(
        ints_at % 64,
        0,
        "the int64 buffer should lie off 64 (8-aligned producer)"
    );

    // At offset 1 of a Bytes: only the string bytes (u8, aligned for any
    // address) can stay; bitmaps, offsets and int64 values are each copied
    // once, to 64-byte aligned memory, and counted.
    let (odd, tables, bodies) = decode_flight_data(&data, 1);
    problems.extend(diff_against_doc(
        "arrow-flight (b), offset 1",
        &doc,
        &got,
        &tables,
    ));
    let (kept, copied) = (odd.bytes_borrowed(), odd.bytes_copied());
    assert_eq!(
        kept + copied,
        borrowed,
        "each buffer borrowed or copied once"
    );
    let string_bytes: usize = tables
        .iter()
        .map(|t| match &t.cols[0].array {
            lightstream_core::minarrow::Array::TextArray(
                lightstream_core::minarrow::TextArray::String32(s),
            ) => s.data.len(),
            other => panic!("s is a string column: {other:?}"),
        })
        .sum();
    assert_eq!(kept, string_bytes as u64);
    let lightstream_core::minarrow::Array::NumericArray(
        lightstream_core::minarrow::NumericArray::Int64(i),
    ) = &tables[1].cols[1].array
    else {
        panic!("n is int64")
    };
    let at = i.data.as_slice().as_ptr() as usize;
    assert!(!bodies.iter().any(|b| b.contains(&at)) && at % 64 == 0);

    // Every type, and dictionaries (replacements, deltas): the values
    // arrow-rs encoded, both ways.
    let (all_schema, all) = arrow_all_types();
    // arrow-flight's encoder sends nothing for a batch of no rows.
    let all: Vec<RecordBatch> = all.into_iter().filter(|b| b.num_rows() > 0).collect();
    let (dict_schema, dicts) = arrow_dictionary_batches();
    for (name, schema, batches) in [
        ("all_types", &all_schema, &all),
        ("dictionaries", &dict_schema, &dicts),
    ] {
        let data = arrow_flight_data(schema, batches);
        let doc = arrow_doc("stream", schema, batches, true);
        for shift in [0, 1] {
            let (decoder, tables, _) = decode_flight_data(&data, shift);
            let got = decoder.schema().expect("schema").as_ref().clone();
            problems.extend(diff_against_doc(
                &format!("arrow-flight {name}, body at offset {shift}"),
                &doc,
                &got,
                &tables,
            ));
            if shift == 1 {
                assert!(decoder.bytes_copied() > 0, "{name}");
            } else {
                assert!(decoder.bytes_borrowed() > decoder.bytes_copied(), "{name}");
            }
        }
    }
    finish(problems, "decoding arrow-flight's FlightData in memory");
}
