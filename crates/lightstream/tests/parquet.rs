//! Parquet round trips through `lightstream::parquet` (feature `parquet`):
//! every supported type with nulls, row groups (and tables split across them),
//! projection, batch size, empty files, every compression with dictionary
//! encoding on and off, values that do not fit, refused column types, and
//! corrupt / truncated files (errors naming the file, never a panic).
//!
//! Interop with pyarrow is in tests/tests/parquet_interop.rs.

#![cfg(all(feature = "parquet", feature = "zstd", feature = "snappy"))]

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use lightstream::minarrow::ffi::arrow_dtype::CategoricalIndexType;
use lightstream::minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, CategoricalArray, DatetimeArray, DecimalArray, Field,
    FieldArray, FloatArray, IntegerArray, NumericArray, StringArray, Table, TemporalArray,
    TextArray, TimeUnit, Vec64,
};
use lightstream::parquet::{
    ARROW_SCHEMA_KEY, ParquetCompression, ParquetReadOptions, ParquetReader, ParquetWriteOptions,
    ParquetWriter,
};
use lightstream::{Error, Schema};
use lightstream_core::bytes::Bytes;
use lightstream_core::{DictionaryEncoding, IndexType};
use parquet::file::reader::{ChunkReader, Length};

// ------------------------------------------------------------------ data

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (i128::from(hi) - i128::from(lo) + 1) as u128;
        (i128::from(lo) + (u128::from(self.next()) % span) as i128) as i64
    }
}

const WORDS: &[&str] = &[
    "paris", "tokyo", "", "lima", "zürich", "東京", "quito", "oslo",
];

/// (name, type, nullable, dictionary index type on the wire)
fn all_type_specs() -> Vec<(&'static str, ArrowType, bool, Option<IndexType>)> {
    use ArrowType as T;
    use TimeUnit as U;
    let d = |c| T::Dictionary(c);
    vec![
        ("bool", T::Boolean, true, None),
        ("int8", T::Int8, true, None),
        ("int16", T::Int16, true, None),
        ("int32", T::Int32, true, None),
        ("int32_required", T::Int32, false, None),
        ("int64", T::Int64, true, None),
        ("uint8", T::UInt8, true, None),
        ("uint16", T::UInt16, true, None),
        ("uint32", T::UInt32, true, None),
        ("uint64", T::UInt64, true, None),
        ("float32", T::Float32, true, None),
        ("float64", T::Float64, true, None),
        ("utf8", T::String, true, None),
        ("utf8_required", T::String, false, None),
        ("large_utf8", T::LargeString, true, None),
        (
            "dict_u8",
            d(CategoricalIndexType::UInt8),
            true,
            Some(IndexType::UInt8),
        ),
        (
            "dict_i8",
            d(CategoricalIndexType::UInt8),
            true,
            Some(IndexType::Int8),
        ),
        (
            "dict_i16",
            d(CategoricalIndexType::UInt16),
            true,
            Some(IndexType::Int16),
        ),
        (
            "dict_u32",
            d(CategoricalIndexType::UInt32),
            true,
            Some(IndexType::UInt32),
        ),
        (
            "dict_i32",
            d(CategoricalIndexType::UInt32),
            true,
            Some(IndexType::Int32),
        ),
        (
            "dict_u64",
            d(CategoricalIndexType::UInt64),
            true,
            Some(IndexType::UInt64),
        ),
        ("date32", T::Date32, true, None),
        ("date64", T::Date64, true, None),
        ("time32_s", T::Time32(U::Seconds), true, None),
        ("time32_ms", T::Time32(U::Milliseconds), true, None),
        ("time64_us", T::Time64(U::Microseconds), true, None),
        ("time64_ns", T::Time64(U::Nanoseconds), true, None),
        ("ts_s", T::Timestamp(U::Seconds, None), true, None),
        ("ts_ms", T::Timestamp(U::Milliseconds, None), true, None),
        ("ts_us", T::Timestamp(U::Microseconds, None), true, None),
        ("ts_ns", T::Timestamp(U::Nanoseconds, None), true, None),
        (
            "ts_s_utc",
            T::Timestamp(U::Seconds, Some("UTC".into())),
            true,
            None,
        ),
        (
            "ts_ms_ny",
            T::Timestamp(U::Milliseconds, Some("America/New_York".into())),
            true,
            None,
        ),
        (
            "ts_us_offset",
            T::Timestamp(U::Microseconds, Some("+05:30".into())),
            true,
            None,
        ),
        (
            "ts_ns_paris",
            T::Timestamp(U::Nanoseconds, Some("Europe/Paris".into())),
            true,
            None,
        ),
        ("dur_s", T::Duration64(U::Seconds), true, None),
        ("dur_ms", T::Duration64(U::Milliseconds), true, None),
        ("dur_us", T::Duration64(U::Microseconds), true, None),
        ("dur_ns", T::Duration64(U::Nanoseconds), true, None),
        ("dec32", T::Decimal32(9, 2), true, None),
        ("dec64", T::Decimal64(18, 4), true, None),
        ("dec128", T::Decimal128(38, 10), true, None),
        ("dec128_small", T::Decimal128(5, 0), true, None),
        ("null", T::Null, true, None),
    ]
}

fn all_types_schema() -> Schema {
    let specs = all_type_specs();
    let mut next_id = 0;
    let mut fields = Vec::new();
    let mut dictionaries = Vec::new();
    for (name, t, nullable, index) in specs {
        let md = (name == "int32")
            .then(|| BTreeMap::from([("unit".to_string(), "metres ✓".to_string())]));
        fields.push(Arc::new(Field::new(name, t, nullable, md)));
        dictionaries.push(index.map(|index_type| {
            next_id += 1;
            DictionaryEncoding {
                id: next_id,
                index_type,
                large_values: false,
                ordered: false,
            }
        }));
    }
    Schema {
        fields,
        metadata: BTreeMap::from([("producer".to_string(), "parquet.rs".to_string())]),
        dictionaries,
    }
}

fn mask_of(valid: &[bool]) -> Option<Bitmask> {
    valid.iter().any(|v| !v).then(|| Bitmask::from_bools(valid))
}

fn column(rng: &mut Rng, field: &Arc<Field>, n: usize, null_rate: u64) -> FieldArray {
    let valid: Vec<bool> = (0..n)
        .map(|i| !field.nullable || (null_rate == 0 || rng.below(100) >= null_rate) && i % 17 != 5)
        .collect();
    let mask = mask_of(&valid);
    let nulls = valid.iter().filter(|v| !**v).count();
    macro_rules! ints {
        ($t:ty, $from:ident) => {{
            let v: Vec<$t> = (0..n)
                .map(|i| match i {
                    0 => <$t>::MIN,
                    1 => <$t>::MAX,
                    _ => rng.next() as $t,
                })
                .collect();
            Array::$from(IntegerArray::<$t>::from_vec(v, mask.clone()))
        }};
    }
    let i64s = |rng: &mut Rng, lo: i64, hi: i64| -> Vec64<i64> {
        (0..n).map(|_| rng.range(lo, hi)).collect()
    };
    let dt64 = |v: Vec64<i64>, u: TimeUnit| {
        Array::from_datetime_i64(DatetimeArray::<i64>::new(v, mask.clone(), Some(u)))
    };
    let dt32 = |v: Vec64<i32>, u: TimeUnit| {
        Array::from_datetime_i32(DatetimeArray::<i32>::new(v, mask.clone(), Some(u)))
    };
    let strings = |rng: &mut Rng| -> Vec<String> {
        (0..n)
            .map(|_| {
                let len = rng.below(12) as usize;
                (0..len)
                    .map(|_| ['a', 'Z', '9', 'é', '✓', '𝄞', ' ', '"'][rng.below(8) as usize])
                    .collect()
            })
            .collect()
    };
    let words: Vec64<String> = WORDS.iter().map(|s| s.to_string()).collect();
    let array = match &field.dtype {
        ArrowType::Null => Array::Null,
        ArrowType::Boolean => {
            let v: Vec<bool> = (0..n).map(|_| rng.below(2) == 0).collect();
            Array::from_bool(BooleanArray::new(Bitmask::from_bools(&v), mask.clone()))
        }
        ArrowType::Int8 => ints!(i8, from_int8),
        ArrowType::Int16 => ints!(i16, from_int16),
        ArrowType::Int32 => ints!(i32, from_int32),
        ArrowType::Int64 => ints!(i64, from_int64),
        ArrowType::UInt8 => ints!(u8, from_uint8),
        ArrowType::UInt16 => ints!(u16, from_uint16),
        ArrowType::UInt32 => ints!(u32, from_uint32),
        ArrowType::UInt64 => ints!(u64, from_uint64),
        ArrowType::Float32 => {
            let sp = [f32::NAN, f32::INFINITY, -0.0, f32::MIN_POSITIVE];
            let v: Vec<f32> = (0..n)
                .map(|i| sp.get(i).copied().unwrap_or(rng.next() as u32 as f32 / 7.0))
                .collect();
            Array::from_float32(FloatArray::<f32>::from_vec(v, mask.clone()))
        }
        ArrowType::Float64 => {
            let sp = [f64::NAN, f64::NEG_INFINITY, -0.0, 5e-324, 1e300];
            let v: Vec<f64> = (0..n)
                .map(|i| {
                    sp.get(i)
                        .copied()
                        .unwrap_or(f64::from_bits(rng.next() >> 2))
                })
                .collect();
            Array::from_float64(FloatArray::<f64>::from_vec(v, mask.clone()))
        }
        ArrowType::String => {
            let v = strings(rng);
            Array::from_string32(StringArray::<u32>::from_vec(
                v.iter().map(String::as_str).collect(),
                mask.clone(),
            ))
        }
        ArrowType::LargeString => {
            let v = strings(rng);
            Array::from_string64(StringArray::<u64>::from_vec(
                v.iter().map(String::as_str).collect(),
                mask.clone(),
            ))
        }
        ArrowType::Dictionary(c) => {
            let k = words.len() as u64;
            match c {
                CategoricalIndexType::UInt8 => {
                    Array::from_categorical8(CategoricalArray::<u8>::new(
                        (0..n).map(|_| rng.below(k) as u8).collect::<Vec64<u8>>(),
                        words,
                        mask.clone(),
                    ))
                }
                CategoricalIndexType::UInt16 => {
                    Array::from_categorical16(CategoricalArray::<u16>::new(
                        (0..n).map(|_| rng.below(k) as u16).collect::<Vec64<u16>>(),
                        words,
                        mask.clone(),
                    ))
                }
                CategoricalIndexType::UInt32 => {
                    Array::from_categorical32(CategoricalArray::<u32>::new(
                        (0..n).map(|_| rng.below(k) as u32).collect::<Vec64<u32>>(),
                        words,
                        mask.clone(),
                    ))
                }
                CategoricalIndexType::UInt64 => {
                    Array::from_categorical64(CategoricalArray::<u64>::new(
                        (0..n).map(|_| rng.below(k)).collect::<Vec64<u64>>(),
                        words,
                        mask.clone(),
                    ))
                }
            }
        }
        ArrowType::Date32 => dt32(
            (0..n)
                .map(|_| rng.range(-100_000, 100_000) as i32)
                .collect(),
            TimeUnit::Days,
        ),
        ArrowType::Date64 => dt64(
            (0..n)
                .map(|_| rng.range(-100_000, 100_000) * 86_400_000)
                .collect(),
            TimeUnit::Milliseconds,
        ),
        ArrowType::Time32(TimeUnit::Seconds) => dt32(
            (0..n).map(|_| rng.range(0, 86_399) as i32).collect(),
            TimeUnit::Seconds,
        ),
        ArrowType::Time32(u) => dt32(
            (0..n).map(|_| rng.range(0, 86_399_999) as i32).collect(),
            *u,
        ),
        ArrowType::Time64(TimeUnit::Microseconds) => {
            dt64(i64s(rng, 0, 86_399_999_999), TimeUnit::Microseconds)
        }
        ArrowType::Time64(u) => dt64(i64s(rng, 0, 86_399_999_999_999), *u),
        // Seconds are stored as milliseconds: keep them in range.
        ArrowType::Timestamp(TimeUnit::Seconds, _) => {
            dt64(i64s(rng, -(1 << 40), 1 << 40), TimeUnit::Seconds)
        }
        ArrowType::Timestamp(u, _) => {
            let mut v = i64s(rng, i64::MIN / 2, i64::MAX / 2);
            if n > 1 {
                v[0] = i64::MIN;
                v[1] = i64::MAX;
            }
            dt64(v, *u)
        }
        ArrowType::Duration64(u) => dt64(i64s(rng, i64::MIN, i64::MAX - 1), *u),
        ArrowType::Decimal32(p, s) => {
            Array::NumericArray(NumericArray::Decimal32(Arc::new(DecimalArray {
                data: (0..n)
                    .map(|_| rng.range(-999_999_999, 999_999_999) as i32)
                    .collect::<Vec64<i32>>()
                    .into(),
                null_mask: mask.clone(),
                precision: *p,
                scale: *s,
            })))
        }
        ArrowType::Decimal64(p, s) => {
            Array::NumericArray(NumericArray::Decimal64(Arc::new(DecimalArray {
                data: i64s(rng, -999_999_999_999_999_999, 999_999_999_999_999_999).into(),
                null_mask: mask.clone(),
                precision: *p,
                scale: *s,
            })))
        }
        ArrowType::Decimal128(p, s) => {
            let top = 10i128.pow(u32::from(*p)) - 1;
            let data: Vec64<i128> = (0..n)
                .map(|i| match i {
                    0 => top,
                    1 => -top,
                    _ => ((i128::from(rng.next()) << 64) | i128::from(rng.next())) % (top + 1),
                })
                .collect();
            Array::NumericArray(NumericArray::Decimal128(Arc::new(DecimalArray {
                data: data.into(),
                null_mask: mask.clone(),
                precision: *p,
                scale: *s,
            })))
        }
        other => panic!("no generator for {other:?}"),
    };
    let null_count = if field.dtype == ArrowType::Null {
        n
    } else {
        nulls
    };
    FieldArray {
        field: field.clone(),
        array,
        null_count,
    }
}

fn table(schema: &Schema, n: usize, seed: u64, null_rate: u64) -> Table {
    let mut rng = Rng(seed | 1);
    Table {
        cols: schema
            .fields
            .iter()
            .map(|f| column(&mut rng, f, n, null_rate))
            .collect(),
        n_rows: n,
        name: "t".into(),
        metadata: schema.metadata.clone(),
    }
}

// ------------------------------------------------------------------ comparison

/// Row `i` of a column as text (`None` when null); floats by bit pattern.
fn cell(col: &FieldArray, i: usize) -> Option<String> {
    let valid = |m: &Option<Bitmask>| m.as_ref().is_none_or(|m| m.get(i));
    macro_rules! v {
        ($a:expr) => {
            valid(&$a.null_mask).then(|| format!("{:?}", $a.data.as_slice()[i]))
        };
    }
    match &col.array {
        Array::Null => None,
        Array::BooleanArray(a) => valid(&a.null_mask).then(|| a.data.get(i).to_string()),
        Array::NumericArray(n) => match n {
            NumericArray::Int8(a) => v!(a),
            NumericArray::Int16(a) => v!(a),
            NumericArray::Int32(a) => v!(a),
            NumericArray::Int64(a) => v!(a),
            NumericArray::UInt8(a) => v!(a),
            NumericArray::UInt16(a) => v!(a),
            NumericArray::UInt32(a) => v!(a),
            NumericArray::UInt64(a) => v!(a),
            NumericArray::Float32(a) => {
                valid(&a.null_mask).then(|| a.data.as_slice()[i].to_bits().to_string())
            }
            NumericArray::Float64(a) => {
                valid(&a.null_mask).then(|| a.data.as_slice()[i].to_bits().to_string())
            }
            NumericArray::Decimal32(a) => v!(a),
            NumericArray::Decimal64(a) => v!(a),
            NumericArray::Decimal128(a) => v!(a),
            other => panic!("unexpected {other:?}"),
        },
        Array::TextArray(t) => {
            fn s<O: Copy + Into<u64>>(a: &StringArray<O>, i: usize) -> Option<String> {
                if !a.null_mask.as_ref().is_none_or(|m| m.get(i)) {
                    return None;
                }
                let o = a.offsets.as_slice();
                let (lo, hi) = (o[i].into() as usize, o[i + 1].into() as usize);
                Some(String::from_utf8(a.data.as_slice()[lo..hi].to_vec()).unwrap())
            }
            macro_rules! c {
                ($a:expr) => {
                    valid(&$a.null_mask)
                        .then(|| $a.unique_values[$a.data.as_slice()[i] as usize].clone())
                };
            }
            match t {
                TextArray::String32(a) => s(a, i),
                TextArray::String64(a) => s(a, i),
                TextArray::Categorical8(a) => c!(a),
                TextArray::Categorical16(a) => c!(a),
                TextArray::Categorical32(a) => c!(a),
                TextArray::Categorical64(a) => c!(a),
                #[allow(unreachable_patterns)]
                other => panic!("unexpected {other:?}"),
            }
        }
        Array::TemporalArray(t) => match t {
            TemporalArray::Datetime32(a) => v!(a),
            TemporalArray::Datetime64(a) => v!(a),
            #[allow(unreachable_patterns)]
            other => panic!("unexpected {other:?}"),
        },
        #[allow(unreachable_patterns)]
        other => panic!("unexpected {other:?}"),
    }
}

/// Every row of column `c` over `tables`.
fn cells(tables: &[Table], c: usize) -> Vec<Option<String>> {
    tables
        .iter()
        .flat_map(|t| (0..t.n_rows).map(move |i| cell(&t.cols[c], i)))
        .collect()
}

fn assert_same_values(label: &str, got: &[Table], expected: &[Table], columns: &[usize]) {
    let got_rows: usize = got.iter().map(|t| t.n_rows).sum();
    let want_rows: usize = expected.iter().map(|t| t.n_rows).sum();
    assert_eq!(got_rows, want_rows, "{label}: row count");
    for (k, &c) in columns.iter().enumerate() {
        let (a, b) = (cells(got, k), cells(expected, c));
        let name = &expected[0].cols[c].field.name;
        for (row, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x, y, "{label}: column {name:?}, row {row}");
        }
        for t in got {
            let col = &t.cols[k];
            let nulls = (0..t.n_rows).filter(|&i| cell(col, i).is_none()).count();
            assert_eq!(col.null_count, nulls, "{label}: null_count of {name:?}");
        }
    }
}

fn write(schema: &Schema, tables: &[Table], options: ParquetWriteOptions) -> Bytes {
    let mut w = ParquetWriter::new(Vec::new(), schema, options).expect("writer");
    for t in tables {
        w.write(t).expect("write");
    }
    Bytes::from(w.finish().expect("finish"))
}

fn read_all(bytes: &Bytes, options: ParquetReadOptions) -> (Arc<Schema>, Vec<Table>) {
    let r = ParquetReader::from_bytes(bytes.clone(), "test.parquet", options).expect("open");
    let schema = r.schema().clone();
    let tables = r.collect::<Result<Vec<_>, _>>().expect("read");
    (schema, tables)
}

fn try_read_all(bytes: Bytes, options: ParquetReadOptions) -> Result<usize, Error> {
    let r = ParquetReader::from_bytes(bytes, "bad.parquet", options)?;
    let mut rows = 0;
    for t in r {
        rows += t?.n_rows;
    }
    Ok(rows)
}

// ------------------------------------------------------------------ tests

#[test]
fn every_type_round_trips_with_nulls() {
    let schema = all_types_schema();
    let tables = vec![
        table(&schema, 300, 1, 20),
        table(&schema, 0, 2, 0),
        table(&schema, 77, 3, 0),
    ];
    let bytes = write(&schema, &tables, ParquetWriteOptions::default());
    let (got_schema, got) = read_all(&bytes, ParquetReadOptions::default());
    assert_eq!(
        *got_schema, schema,
        "the schema comes back exactly (ARROW:schema)"
    );
    let all: Vec<usize> = (0..schema.fields.len()).collect();
    assert_same_values("default options", &got, &tables, &all);
    // Categorical columns stay categorical.
    assert!(matches!(
        got[0].cols[15].array,
        Array::TextArray(TextArray::Categorical8(_))
    ));
    assert!(matches!(
        got[0].cols[20].array,
        Array::TextArray(TextArray::Categorical64(_))
    ));
}

#[test]
fn every_compression_with_and_without_dictionaries() {
    let schema = all_types_schema();
    let tables = vec![table(&schema, 500, 11, 30)];
    let all: Vec<usize> = (0..schema.fields.len()).collect();
    for compression in [
        ParquetCompression::None,
        ParquetCompression::Snappy,
        ParquetCompression::Zstd(3),
    ] {
        for dictionary in [true, false] {
            let options = ParquetWriteOptions {
                compression,
                dictionary,
                ..Default::default()
            };
            let bytes = write(&schema, &tables, options);
            let label = format!("{compression:?}, dictionary {dictionary}");
            let (_, got) = read_all(&bytes, ParquetReadOptions::default());
            assert_same_values(&label, &got, &tables, &all);
            // The footer says what we asked for.
            let meta = parquet::file::reader::SerializedFileReader::new(bytes.clone()).unwrap();
            use parquet::file::reader::FileReader;
            let rg = meta.metadata().row_group(0);
            let codec = rg.column(5).compression();
            let want = match compression {
                ParquetCompression::None => parquet::basic::Compression::UNCOMPRESSED,
                ParquetCompression::Snappy => parquet::basic::Compression::SNAPPY,
                ParquetCompression::Zstd(_) => rg.column(5).compression(),
            };
            assert_eq!(codec, want, "{label}");
            if let ParquetCompression::Zstd(_) = compression {
                assert!(
                    matches!(codec, parquet::basic::Compression::ZSTD(_)),
                    "{label}: {codec:?}"
                );
            }
            let utf8 = rg.column(12);
            let has_dict = utf8.dictionary_page_offset().is_some();
            assert_eq!(has_dict, dictionary, "{label}: dictionary page of utf8");
        }
    }
}

/// `ParquetWriteOptions::threads`: 1, 2 and 3 encoder threads write the same
/// bytes (every type, nulls, tables split across row groups, a dictionary
/// that falls back to PLAIN pages mid-chunk), and a write that fails gives
/// the same error (the first failing column's) whatever the threads.
#[test]
fn encoder_threads_write_the_bytes_of_one_thread() {
    let schema = all_types_schema();
    let tables = vec![
        table(&schema, 700, 21, 20),
        table(&schema, 0, 22, 0),
        table(&schema, 1300, 23, 0),
        table(&schema, 450, 24, 100),
    ];
    let all: Vec<usize> = (0..schema.fields.len()).collect();
    for (compression, row_group_rows) in [
        (ParquetCompression::Snappy, 1 << 20),
        (ParquetCompression::Zstd(1), 500),
        (ParquetCompression::None, 333),
    ] {
        let options = |threads| ParquetWriteOptions {
            compression,
            row_group_rows,
            dictionary_page_bytes: 2048,
            data_page_bytes: 4096,
            threads,
            ..Default::default()
        };
        let one = write(&schema, &tables, options(1));
        for threads in [2, 3] {
            let many = write(&schema, &tables, options(threads));
            assert!(
                one == many,
                "{compression:?}, {threads} threads: the file differs from one thread's"
            );
        }
        let (_, got) = read_all(&one, ParquetReadOptions::default());
        assert_same_values(&format!("{compression:?}"), &got, &tables, &all);
    }

    // Nulls in two required columns (the 2nd and the 4th): the 2nd is named.
    let f = |name: &str| Arc::new(Field::new(name, ArrowType::Int64, false, None));
    let fields = vec![f("a"), f("b"), f("c"), f("d")];
    let schema = Schema::new(fields.clone(), BTreeMap::new());
    let col = |field: &Arc<Field>, nulls: bool| FieldArray {
        field: field.clone(),
        array: Array::from_int64(IntegerArray::<i64>::from_vec(
            vec![1, 2, 3],
            nulls.then(|| Bitmask::from_bools(&[true, true, false])),
        )),
        null_count: usize::from(nulls),
    };
    let t = Table {
        cols: vec![
            col(&fields[0], false),
            col(&fields[1], true),
            col(&fields[2], false),
            col(&fields[3], true),
        ],
        n_rows: 3,
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    for threads in [1, 2, 3] {
        let options = ParquetWriteOptions {
            threads,
            ..Default::default()
        };
        let mut w = ParquetWriter::new(Vec::new(), &schema, options).unwrap();
        let e = w.write(&t).unwrap_err().to_string();
        assert!(
            e.contains("\"b\" is not nullable but row 2 is null"),
            "{threads}: {e}"
        );
    }
}

#[test]
fn tables_split_across_row_groups() {
    let schema = all_types_schema();
    let tables = vec![
        table(&schema, 250, 21, 10),
        table(&schema, 30, 22, 10),
        table(&schema, 0, 23, 0),
        table(&schema, 75, 24, 50),
    ];
    let options = ParquetWriteOptions {
        row_group_rows: 100,
        ..Default::default()
    };
    let bytes = write(&schema, &tables, options);
    let r = ParquetReader::from_bytes(bytes.clone(), "rg.parquet", ParquetReadOptions::default())
        .unwrap();
    assert_eq!(r.num_row_groups(), 4);
    assert_eq!(r.num_rows(), 355);
    let got: Vec<Table> = r.collect::<Result<_, _>>().unwrap();
    assert_eq!(
        got.iter().map(|t| t.n_rows).collect::<Vec<_>>(),
        [100, 100, 100, 55]
    );
    let all: Vec<usize> = (0..schema.fields.len()).collect();
    assert_same_values("row groups", &got, &tables, &all);
}

#[test]
fn tables_larger_than_the_writers_scratch() {
    // The writer hands a column to the parquet crate 65,536 rows at a time:
    // a table of 70,001 rows (nulls, strings, categoricals) crosses that edge
    // inside a row group and again at a row group edge at 70,000.
    let full = all_types_schema();
    let keep: Vec<usize> = (0..full.fields.len())
        .filter(|&i| {
            matches!(
                full.fields[i].dtype,
                ArrowType::Boolean
                    | ArrowType::Int32
                    | ArrowType::String
                    | ArrowType::Dictionary(_)
            )
        })
        .collect();
    let schema = full.project(&keep).unwrap();
    let tables = vec![table(&schema, 70_001, 31, 10)];
    let options = ParquetWriteOptions {
        row_group_rows: 70_000,
        ..Default::default()
    };
    let bytes = write(&schema, &tables, options);
    let options = ParquetReadOptions {
        batch_size: usize::MAX,
        ..Default::default()
    };
    let (_, got) = read_all(&bytes, options);
    assert_eq!(
        got.iter().map(|t| t.n_rows).collect::<Vec<_>>(),
        [70_000, 1]
    );
    let all: Vec<usize> = (0..schema.fields.len()).collect();
    assert_same_values("scratch edge", &got, &tables, &all);
}

#[test]
fn projection_and_batch_size() {
    let schema = all_types_schema();
    let tables = vec![table(&schema, 130, 31, 25)];
    let options = ParquetWriteOptions {
        row_group_rows: 50,
        ..Default::default()
    };
    let bytes = write(&schema, &tables, options);
    let projection = vec![15, 0, 43, 12];
    let (got_schema, got) = read_all(
        &bytes,
        ParquetReadOptions {
            projection: Some(projection.clone()),
            batch_size: 7,
            ..Default::default()
        },
    );
    assert_eq!(
        got_schema
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["dict_u8", "bool", "null", "utf8"]
    );
    assert_eq!(
        got_schema.dictionaries[0].unwrap().index_type,
        IndexType::UInt8
    );
    // Batches of 7 that never span a row group: 50 = 7*7 + 1.
    let sizes: Vec<usize> = got.iter().map(|t| t.n_rows).collect();
    assert_eq!(&sizes[..8], [7, 7, 7, 7, 7, 7, 7, 1]);
    assert_eq!(sizes.iter().sum::<usize>(), 130);
    assert!(sizes.iter().all(|&s| s <= 7));
    assert_same_values("projection", &got, &tables, &projection);
    // Out of range.
    let e = ParquetReader::from_bytes(
        bytes,
        "p.parquet",
        ParquetReadOptions {
            projection: Some(vec![99]),
            ..Default::default()
        },
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("projection names column 99"), "{e}");
}

#[test]
fn empty_files_and_zero_row_tables() {
    let schema = all_types_schema();
    for tables in [vec![], vec![table(&schema, 0, 41, 0)]] {
        let bytes = write(&schema, &tables, ParquetWriteOptions::default());
        let r = ParquetReader::from_bytes(bytes, "empty.parquet", ParquetReadOptions::default())
            .unwrap();
        assert_eq!(**r.schema(), schema);
        assert_eq!(r.num_rows(), 0);
        assert_eq!(r.num_row_groups(), 0);
        assert_eq!(r.count(), 0);
    }
}

#[test]
fn arrow_schema_key_is_written_and_can_be_ignored() {
    let schema = all_types_schema();
    let tables = vec![table(&schema, 40, 51, 20)];
    let bytes = write(&schema, &tables, ParquetWriteOptions::default());
    let r = ParquetReader::from_bytes(bytes.clone(), "k.parquet", ParquetReadOptions::default())
        .unwrap();
    let kv = r.key_value_metadata();
    assert!(kv.iter().any(|(k, _)| k == ARROW_SCHEMA_KEY));
    assert!(kv.iter().any(|(k, v)| k == "producer" && v == "parquet.rs"));
    // Without ARROW:schema: the Parquet types.
    let (s, got) = read_all(
        &bytes,
        ParquetReadOptions {
            use_arrow_schema: false,
            ..Default::default()
        },
    );
    let t = |name: &str| {
        s.fields
            .iter()
            .find(|f| f.name == name)
            .unwrap()
            .dtype
            .clone()
    };
    assert_eq!(t("uint32"), ArrowType::UInt32);
    assert_eq!(t("dict_i8"), ArrowType::String);
    assert_eq!(t("large_utf8"), ArrowType::String);
    assert_eq!(t("date64"), ArrowType::Date32);
    assert_eq!(
        t("ts_s"),
        ArrowType::Timestamp(TimeUnit::Milliseconds, None)
    );
    assert_eq!(
        t("ts_ms_ny"),
        ArrowType::Timestamp(TimeUnit::Milliseconds, Some("UTC".into()))
    );
    assert_eq!(t("time32_s"), ArrowType::Time32(TimeUnit::Milliseconds));
    assert_eq!(t("dur_us"), ArrowType::Int64);
    assert_eq!(t("dec32"), ArrowType::Decimal128(9, 2));
    assert_eq!(t("null"), ArrowType::Null);
    // Same values where the type is the same.
    let same: Vec<usize> = ["int8", "uint64", "utf8", "ts_us", "float64", "bool"]
        .iter()
        .map(|n| schema.fields.iter().position(|f| f.name == *n).unwrap())
        .collect();
    let got_same: Vec<Table> = got
        .iter()
        .map(|t| Table {
            cols: same.iter().map(|&c| t.cols[c].clone()).collect(),
            ..t.clone()
        })
        .collect();
    assert_same_values("no ARROW:schema", &got_same, &tables, &same);
}

#[test]
fn values_that_do_not_fit_are_errors_naming_the_column() {
    let field = Arc::new(Field::new(
        "ts",
        ArrowType::Timestamp(TimeUnit::Seconds, None),
        true,
        None,
    ));
    let schema = Schema::new(vec![field.clone()], BTreeMap::new());
    let t = Table {
        cols: vec![FieldArray {
            field,
            array: Array::from_datetime_i64(DatetimeArray::<i64>::new(
                Vec64::from(vec![1, i64::MAX / 10]),
                None,
                Some(TimeUnit::Seconds),
            )),
            null_count: 0,
        }],
        n_rows: 2,
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    let mut w = ParquetWriter::new(Vec::new(), &schema, ParquetWriteOptions::default()).unwrap();
    let e = w.write(&t).unwrap_err().to_string();
    assert!(
        e.contains("\"ts\"") && e.contains("row 1") && e.contains("milliseconds"),
        "{e}"
    );

    // A null in a non-nullable column.
    let f = Arc::new(Field::new("n", ArrowType::Int32, false, None));
    let schema = Schema::new(vec![f.clone()], BTreeMap::new());
    let t = Table {
        cols: vec![FieldArray {
            field: f,
            array: Array::from_int32(IntegerArray::<i32>::from_vec(
                vec![1, 2],
                Some(Bitmask::from_bools(&[true, false])),
            )),
            null_count: 1,
        }],
        n_rows: 2,
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    let mut w = ParquetWriter::new(Vec::new(), &schema, ParquetWriteOptions::default()).unwrap();
    let e = w.write(&t).unwrap_err().to_string();
    assert!(e.contains("\"n\" is not nullable but row 1 is null"), "{e}");

    // Negative decimal scales have no Parquet form.
    let f = Arc::new(Field::new("d", ArrowType::Decimal128(10, -2), true, None));
    let e = ParquetWriter::new(
        Vec::new(),
        &Schema::new(vec![f], BTreeMap::new()),
        ParquetWriteOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("\"d\"") && e.contains("scale"), "{e}");
}

#[test]
fn a_validity_bitmap_shorter_than_the_table_is_an_error() {
    // 100 values but 8 validity bits: the writer read past the bitmap (a panic).
    for nullable in [true, false] {
        let f = Arc::new(Field::new("n", ArrowType::Int32, nullable, None));
        let schema = Schema::new(vec![f.clone()], BTreeMap::new());
        let t = Table {
            cols: vec![FieldArray {
                field: f,
                array: Array::from_int32(IntegerArray::<i32>::from_vec(
                    (0..100).collect(),
                    Some(Bitmask::from_bools(&[true; 8])),
                )),
                null_count: 0,
            }],
            n_rows: 100,
            name: String::new(),
            metadata: BTreeMap::new(),
        };
        let mut w =
            ParquetWriter::new(Vec::new(), &schema, ParquetWriteOptions::default()).unwrap();
        let e = w.write(&t).unwrap_err().to_string();
        assert!(
            e.contains("\"n\": its validity bitmap has 8 bits, fewer than its rows"),
            "{e}"
        );
    }
}

/// A Parquet file with a binary column and a list column, written with the
/// parquet crate directly.
fn file_with_unsupported_columns() -> Bytes {
    use parquet::data_type::{ByteArray, ByteArrayType, Int32Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    let schema = parse_message_type(
        "message m { required int32 a; optional binary blob; optional group l (LIST) { repeated group list { optional int32 element; } } required binary s (UTF8); }",
    )
    .unwrap();
    let mut out = Vec::new();
    let mut w = SerializedFileWriter::new(
        &mut out,
        Arc::new(schema),
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<Int32Type>()
        .write_batch(&[1, 2], None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<ByteArrayType>()
        .write_batch(&[ByteArray::from(vec![0xffu8, 0])], Some(&[1, 0]), None)
        .unwrap();
    c.close().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<Int32Type>()
        .write_batch(&[7], Some(&[3, 0]), Some(&[0, 0]))
        .unwrap();
    c.close().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    c.typed::<ByteArrayType>()
        .write_batch(&[ByteArray::from("x"), ByteArray::from("yz")], None, None)
        .unwrap();
    c.close().unwrap();
    rg.close().unwrap();
    w.close().unwrap();
    Bytes::from(out)
}

#[test]
fn unsupported_columns_are_refused_by_name_and_can_be_projected_away() {
    let bytes = file_with_unsupported_columns();
    let e = ParquetReader::from_bytes(bytes.clone(), "u.parquet", ParquetReadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("u.parquet") && e.contains("\"blob\"") && e.contains("binary"),
        "{e}"
    );
    let e = ParquetReader::from_bytes(
        bytes.clone(),
        "u.parquet",
        ParquetReadOptions {
            projection: Some(vec![2]),
            ..Default::default()
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("\"l\"") && e.contains("nested"), "{e}");
    let r = ParquetReader::from_bytes(
        bytes,
        "u.parquet",
        ParquetReadOptions {
            projection: Some(vec![3, 0]),
            ..Default::default()
        },
    )
    .unwrap();
    let infos = r.fields().to_vec();
    assert_eq!(
        infos.iter().map(|f| f.supported).collect::<Vec<_>>(),
        [true, false, false, true]
    );
    let tables: Vec<Table> = r.collect::<Result<_, _>>().unwrap();
    assert_eq!(
        cells(&tables, 0),
        [Some("x".to_string()), Some("yz".to_string())]
    );
    // The same description from the footer alone, without a projection.
    let path = std::env::temp_dir().join(format!(
        "ls-parquet-unsupported-{}.parquet",
        std::process::id()
    ));
    std::fs::write(&path, file_with_unsupported_columns()).unwrap();
    let described = ParquetReader::fields_of(&path, &ParquetReadOptions::default()).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(described, infos);
    assert_eq!(described[1].name, "blob");
    assert!(
        described[1].arrow_type.contains("BYTE_ARRAY"),
        "{:?}",
        described[1]
    );
    assert_eq!(
        cells(&tables, 1),
        [Some("1".to_string()), Some("2".to_string())]
    );
}

#[test]
fn dictionary_overflowing_its_keys_is_an_error() {
    // 300 distinct values cannot be int8 keys.
    let f = Arc::new(Field::new(
        "d",
        ArrowType::Dictionary(CategoricalIndexType::UInt8),
        true,
        None,
    ));
    let mut schema = Schema::new(vec![f.clone()], BTreeMap::new());
    schema.dictionaries[0] = Some(DictionaryEncoding {
        id: 0,
        index_type: IndexType::Int8,
        large_values: false,
        ordered: false,
    });
    let words: Vec64<String> = (0..200).map(|i| format!("w{i}")).collect();
    let mk = |off: u8| Table {
        cols: vec![FieldArray {
            field: f.clone(),
            array: Array::from_categorical8(CategoricalArray::<u8>::new(
                (0..200u8)
                    .map(|k| k.wrapping_add(off) % 200)
                    .collect::<Vec64<u8>>(),
                words.clone(),
                None,
            )),
            null_count: 0,
        }],
        n_rows: 200,
        name: String::new(),
        metadata: BTreeMap::new(),
    };
    let bytes = write(&schema, &[mk(0)], ParquetWriteOptions::default());
    let e = try_read_all(bytes.clone(), ParquetReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.parquet") && e.contains("\"d\"") && e.contains("Int8"),
        "{e}"
    );
    // Small batches fit.
    assert_eq!(
        try_read_all(
            bytes,
            ParquetReadOptions {
                batch_size: 100,
                ..Default::default()
            }
        )
        .unwrap(),
        200
    );
}

// ------------------------------------------------------------------ hostile input

fn corpus_file() -> Bytes {
    let schema = all_types_schema();
    let tables = vec![table(&schema, 60, 61, 30)];
    write(
        &schema,
        &tables,
        ParquetWriteOptions {
            row_group_rows: 25,
            compression: ParquetCompression::Snappy,
            ..Default::default()
        },
    )
}

fn check_no_panic(label: &str, bytes: Bytes) -> Option<String> {
    let r = catch_unwind(AssertUnwindSafe(|| {
        try_read_all(bytes, ParquetReadOptions::default())
    }));
    match r {
        Err(_) => panic!("{label}: a panic escaped the reader"),
        Ok(Ok(_)) => None,
        Ok(Err(e)) => {
            let m = e.to_string();
            if m.contains("failed on corrupt input") {
                eprintln!("GUARDED {label}: {m}");
            }
            assert!(
                m.contains("bad.parquet"),
                "{label}: error does not name the file: {m}"
            );
            Some(m)
        }
    }
}

#[test]
fn truncated_files_are_errors() {
    let bytes = corpus_file();
    for cut in (0..bytes.len()).step_by(3) {
        let m = check_no_panic(&format!("cut at {cut}"), bytes.slice(..cut));
        assert!(
            m.is_some(),
            "a file cut at {cut} of {} read without error",
            bytes.len()
        );
    }
    let m = check_no_panic("no header", bytes.slice(4..)).unwrap();
    assert!(m.contains("PAR1"), "{m}");
}

/// Every `step`th byte is corrupted (every 5th of the footer, every 107th
/// elsewhere, two flips each, by default: about ten seconds in a debug build
/// on two cores; the footer, where the panics were, keeps the dense stride;
/// `LIGHTSTREAM_SLOW_TESTS=1` takes every 53rd byte of the body).
/// `LIGHTSTREAM_PARQUET_FUZZ_STEP=1` flips every byte three ways (the run that
/// found the panics in `parquet_crate_panics_become_errors`; use `--release`).
fn fuzz_plan() -> (usize, usize, &'static [u8]) {
    match std::env::var("LIGHTSTREAM_PARQUET_FUZZ_STEP")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(step) => (step.max(1), step.max(1), &[0xff, 0x01, 0x80]),
        None if std::env::var_os("LIGHTSTREAM_SLOW_TESTS").is_some_and(|v| v == "1") => {
            (5, 53, &[0xff, 0x80])
        }
        None => (5, 107, &[0xff, 0x80]),
    }
}

#[test]
fn corrupted_bytes_give_errors_not_panics() {
    let bytes = corpus_file();
    let len = bytes.len();
    let mut errors = 0;
    let footer_len = u32::from_le_bytes(bytes[len - 8..len - 4].try_into().unwrap()) as usize;
    let footer_start = len - 8 - footer_len;
    let (footer_step, body_step, flips) = fuzz_plan();
    // Footer (Thrift metadata) and body (page headers and data).
    let offsets = (0..len).filter(|&i| {
        if i >= footer_start {
            (i - footer_start).is_multiple_of(footer_step)
        } else {
            i % body_step == 0
        }
    });
    for at in offsets {
        for &flip in flips {
            let mut b = bytes.to_vec();
            b[at] ^= flip;
            if check_no_panic(&format!("byte {at} ^ {flip:#x}"), Bytes::from(b)).is_some() {
                errors += 1;
            }
        }
    }
    assert!(errors > 100, "only {errors} corruptions were detected");
}

/// Regression: corruptions on which parquet 60.1 panics (found by the test
/// above); the reader's `catch_unwind` turns each into an error naming the
/// file, row group and column. The bytes are `corpus_file()` as the writer made
/// it before it encoded string columns itself (issue 21, W3): the offsets below
/// are positions in that layout, where no single-byte flip of the new layout
/// reaches these panics (a scan of every byte, 0x80 in the footer and 0xff
/// elsewhere, found none).
#[test]
fn parquet_crate_panics_become_errors() {
    let bytes = Bytes::from(
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/parquet-crate-panics-corpus.parquet"
        ))
        .unwrap(),
    );
    let cases = [
        // A footer byte that loses the column chunk's dictionary page offset:
        // "Decoder for dict should have been set" (column/reader/decoder.rs).
        (24909, 0x80, "row group 0, column \"int8\""),
        // A data page byte: "range end index 4 out of range for slice of length 2"
        // (util/bit_util.rs, reading levels).
        (2037, 0xff, "row group 0, column \"utf8_required\""),
        // A page header whose type says DATA_PAGE without a data page header, met
        // while skipping (a null column): "called `Option::unwrap()` on a `None`
        // value" (column/page.rs, PageMetadata from PageHeader).
        (7010, 0xff, "row group 0, column \"null\""),
    ];
    for (at, flip, column) in cases {
        let mut b = bytes.to_vec();
        b[at] ^= flip;
        let m = check_no_panic(&format!("byte {at}"), Bytes::from(b)).expect("an error");
        assert!(m.contains(column), "byte {at}: {m}");
    }
}

#[test]
fn footer_length_past_the_file_is_refused_before_parsing() {
    let mut b = corpus_file().to_vec();
    let len = b.len();
    b[len - 8..len - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let m = check_no_panic("footer length", Bytes::from(b)).unwrap();
    assert!(m.contains("footer claims"), "{m}");
}

#[test]
fn open_names_the_path() {
    let dir = std::env::temp_dir().join(format!("ls-parquet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cut.parquet");
    let bytes = corpus_file();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = ParquetReader::open(&path, ParquetReadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("cut.parquet"), "{e}");
    std::fs::write(&path, &bytes).unwrap();
    let r = ParquetReader::open(&path, ParquetReadOptions::default()).unwrap();
    assert_eq!(r.num_rows(), 60);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A one-column UTF8 file holding `values` as they are (valid UTF-8 or not).
fn utf8_file(values: &[&[u8]]) -> Bytes {
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    let schema = parse_message_type("message m { required binary s (UTF8); }").unwrap();
    let mut out = Vec::new();
    let props = Arc::new(WriterProperties::builder().build());
    let mut w = SerializedFileWriter::new(&mut out, Arc::new(schema), props).unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut c = rg.next_column().unwrap().unwrap();
    let vals: Vec<ByteArray> = values.iter().map(|v| ByteArray::from(v.to_vec())).collect();
    c.typed::<ByteArrayType>()
        .write_batch(&vals, None, None)
        .unwrap();
    c.close().unwrap();
    rg.close().unwrap();
    w.close().unwrap();
    Bytes::from(out)
}

#[test]
fn invalid_utf8_is_an_error_naming_the_row() {
    let ok = utf8_file(&[b"a", "é".as_bytes(), b"", "𝄞".as_bytes()]);
    let (_, tables) = read_all(&ok, ParquetReadOptions::default());
    assert_eq!(cells(&tables, 0)[3].as_deref(), Some("𝄞"));
    // A truncated sequence, a lone continuation byte, a sequence split across values.
    let cases: [(&[&[u8]], usize); 3] = [
        (&[b"a", b"b", &[0xc3]], 2),
        (&[b"a", &[0xa9], b"c"], 1),
        // (rows 1 and 2 are both invalid alone; the first one met is named)
        (&[b"x", &[0xc3], &[0xa9]], 2),
    ];
    for (values, row) in cases {
        let e = try_read_all(utf8_file(values), ParquetReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("row {row} is not valid UTF-8")) && e.contains("\"s\""),
            "{e}"
        );
    }
}

/// Fuzz regression (crates/fuzz `parquet`, libFuzzer timeout): a 1,618-byte
/// file whose first page header has a binary where parquet-format puts the
/// `DictionaryPageHeader` struct (field 7). The parquet crate reads known
/// fields by id whatever their wire type, so it parsed the string as a struct
/// of nested sets and spent minutes skipping them. The page-header check now
/// refuses a known field with the wrong type before the crate reads the chunk.
#[test]
fn a_page_header_field_of_the_wrong_type_is_refused_before_the_crate_spins() {
    let bytes = Bytes::from_static(include_bytes!("data/fuzz-parquet-page-header-hang.parquet"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result =
            ParquetReader::from_bytes(bytes, "hang.parquet", ParquetReadOptions::default())
                .and_then(|r| r.collect::<Result<Vec<_>, _>>());
        let _ = tx.send(result.map(|t| t.len()));
    });
    let result = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the reader must finish, not spin");
    let message = result.expect_err("a corrupt page header").to_string();
    assert!(
        message.contains("hang.parquet: row group 0, column \"city\": page 0 at byte 4: field 7 of a PageHeader has Thrift type 8, where parquet-format has a DictionaryPageHeader struct"),
        "{message}"
    );
}

/// Fuzz regression (crates/fuzz `parquet`, issue 14 item 5): a 679-byte file
/// whose footer gives a schema element a `num_children` of 7473493082427811,
/// which the parquet crate truncates to 879,284,643 and reserves a `Vec` of
/// that many nodes for (7 GB) before reading any of them, so under a memory
/// limit the process aborted ("memory allocation of 7034277144 bytes
/// failed"). The footer walk now refuses the count before the crate parses
/// the footer (an in-range count above the elements that follow is refused
/// too: parquet::footer's unit tests).
#[test]
fn a_footer_declaring_879_million_children_is_refused_before_the_crate_reserves_them() {
    const CHILD: &str = "LIGHTSTREAM_PARQUET_FOOTER_CHILD";
    let bytes = Bytes::from_static(include_bytes!(
        "data/fuzz-parquet-footer-7gb-reserve.parquet"
    ));
    let message =
        match ParquetReader::from_bytes(bytes, "7gb.parquet", ParquetReadOptions::default()) {
            Ok(_) => panic!("a footer declaring 879,284,643 children opened"),
            Err(e) => e.to_string(),
        };
    if std::env::var_os(CHILD).is_some() {
        println!("refused: {message}");
        return;
    }
    assert_eq!(
        message,
        "parquet error: 7gb.parquet: footer: field 5 of a SchemaElement holds \
         7473493082427811, which does not fit an i32 (the parquet crate would truncate it to \
         879284643)"
    );
    // The same in a child process limited to 2 GB of address space, where
    // the 7 GB reservation aborted the whole process.
    #[cfg(target_os = "linux")]
    {
        let exe = std::env::current_exe().expect("the test binary");
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(r#"ulimit -v 2000000 && exec "$0" --exact "$1" --nocapture --test-threads=1"#)
            .arg(exe)
            .arg(
                "a_footer_declaring_879_million_children_is_refused_before_the_crate_reserves_them",
            )
            .env(CHILD, "1")
            .output()
            .expect("running the test binary under ulimit -v");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "under ulimit -v 2000000: {:?}\n{stdout}\n{stderr}",
            out.status
        );
        assert!(
            stdout.contains(
                "refused: parquet error: 7gb.parquet: footer: field 5 of a SchemaElement"
            ),
            "{stdout}\n{stderr}"
        );
    }
}

/// Everything a reader gives until it ends: the tables, then the error that
/// ended it, if one did.
/// (The iterator ends after an error.)
fn read_outcome(bytes: Bytes, options: ParquetReadOptions) -> (Vec<Table>, Option<String>) {
    let items: Vec<Result<Table, Error>> =
        match ParquetReader::from_bytes(bytes, "bad.parquet", options) {
            Ok(reader) => reader.collect(),
            Err(e) => vec![Err(e)],
        };
    let (tables, errors): (Vec<_>, Vec<_>) = items.into_iter().partition(Result::is_ok);
    let error = errors
        .into_iter()
        .find_map(|e| e.err())
        .map(|e| e.to_string());
    (tables.into_iter().filter_map(Result::ok).collect(), error)
}

/// What tells tables apart (floats by bit pattern, so NaN equals NaN): each
/// table's rows, and each column's field, null count and cells.
type TableCells = (usize, Vec<(Arc<Field>, usize, Vec<Option<String>>)>);

fn in_cells(tables: &[Table]) -> Vec<TableCells> {
    tables
        .iter()
        .map(|t| {
            let cols = t.cols.iter().map(|col| {
                let cells = (0..t.n_rows).map(|i| cell(col, i)).collect();
                (col.field.clone(), col.null_count, cells)
            });
            (t.n_rows, cols.collect())
        })
        .collect()
}

fn assert_same_tables(got: &[Table], one: &[Table], label: &str) {
    let rows = |t: &[Table]| t.iter().map(|t| t.n_rows).collect::<Vec<_>>();
    assert_eq!(rows(got), rows(one), "{label}: other batches");
    let (got, one) = (in_cells(got), in_cells(one));
    for (k, (a, b)) in got.iter().zip(&one).enumerate() {
        for (a, b) in a.1.iter().zip(&b.1) {
            assert!(a == b, "{label}: table {k}, column {:?} differs", b.0.name);
        }
    }
}

fn with_threads(threads: usize, options: &ParquetReadOptions) -> ParquetReadOptions {
    ParquetReadOptions {
        threads,
        ..options.clone()
    }
}

/// Threads change nothing a caller sees: with 2 and 3 decode threads every
/// column type (our page decoders and the crate's path), batches cut inside
/// and at row groups, a projection and no column at all give the tables of
/// one thread; and a corrupt byte anywhere in the pages (every 701st) gives
/// the same tables, then the same error, as on one thread.
#[test]
fn threads_give_the_tables_and_errors_of_one_thread() {
    let schema = all_types_schema();
    let tables = vec![table(&schema, 130, 51, 25), table(&schema, 45, 52, 0)];
    let bytes = write(
        &schema,
        &tables,
        ParquetWriteOptions {
            row_group_rows: 50,
            compression: ParquetCompression::Snappy,
            ..Default::default()
        },
    );
    let cases = [
        ParquetReadOptions::default(),
        ParquetReadOptions {
            batch_size: 7,
            ..Default::default()
        },
        ParquetReadOptions {
            batch_size: 20,
            projection: Some(vec![15, 0, 43, 12]),
            ..Default::default()
        },
        ParquetReadOptions {
            batch_size: 30,
            projection: Some(Vec::new()),
            ..Default::default()
        },
    ];
    for options in &cases {
        let (one, err) = read_outcome(bytes.clone(), with_threads(1, options));
        assert_eq!(err, None);
        assert_eq!(one.iter().map(|t| t.n_rows).sum::<usize>(), 175);
        for threads in [2, 3] {
            let (got, err) = read_outcome(bytes.clone(), with_threads(threads, options));
            assert_eq!(err, None, "{threads} threads, {options:?}");
            assert_same_tables(&got, &one, &format!("{threads} threads, {options:?}"));
        }
    }
    let whole: Vec<usize> = (0..schema.fields.len()).collect();
    let (one, _) = read_outcome(bytes.clone(), with_threads(1, &cases[1]));
    assert_same_values("threads", &one, &tables, &whole);

    // Corruptions, up to the footer (which fails on opening, before any thread).
    let len = bytes.len();
    let footer_len = u32::from_le_bytes(bytes[len - 8..len - 4].try_into().unwrap()) as usize;
    let mut errors = 0;
    // About 80 places by default (a few seconds in a debug build);
    // `LIGHTSTREAM_PARQUET_FUZZ_STEP=1` tries every byte.
    let step = match fuzz_plan() {
        (_, 53, _) => 701,
        (_, step, _) => step,
    };
    for at in (4..len - 8 - footer_len).step_by(step) {
        let mut b = bytes.to_vec();
        b[at] ^= 0xff;
        let b = Bytes::from(b);
        let options = &cases[1];
        let one = read_outcome(b.clone(), with_threads(1, options));
        errors += usize::from(one.1.is_some());
        let three = read_outcome(b, with_threads(3, options));
        assert_eq!(three.1, one.1, "byte {at}: another error");
        assert_same_tables(&three.0, &one.0, &format!("3 threads, byte {at}"));
    }
    assert!(errors > 20, "only {errors} corruptions were detected");

    let e = ParquetReader::from_bytes(bytes, "t.parquet", with_threads(0, &cases[0]))
        .err()
        .unwrap();
    assert!(e.to_string().contains("threads must be at least 1"), "{e}");
}

/// A reader like the parquet crate's for `File`: its readers share one
/// offset (as `try_clone`s of a `File` do), so a seek and the read after it
/// are two steps another thread can come between (made likely here by a
/// yield between them).
struct OneOffset {
    bytes: Bytes,
    offset: Arc<Mutex<u64>>,
}

struct OneOffsetRead {
    bytes: Bytes,
    offset: Arc<Mutex<u64>>,
}

impl OneOffset {
    fn seek(&self, at: u64) {
        *self.offset.lock().unwrap() = at;
        std::thread::yield_now();
    }
}

impl std::io::Read for OneOffsetRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut at = self.offset.lock().unwrap();
        let rest = self.bytes.get(*at as usize..).unwrap_or_default();
        let n = buf.len().min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        *at += n as u64;
        Ok(n)
    }
}

impl Length for OneOffset {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
}

impl ChunkReader for OneOffset {
    type T = OneOffsetRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<OneOffsetRead> {
        self.seek(start);
        Ok(OneOffsetRead {
            bytes: self.bytes.clone(),
            offset: Arc::clone(&self.offset),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.seek(start);
        let mut read = OneOffsetRead {
            bytes: self.bytes.clone(),
            offset: Arc::clone(&self.offset),
        };
        let mut out = vec![0; length];
        std::io::Read::read_exact(&mut read, &mut out)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
        Ok(out.into())
    }
}

/// Decode threads over a reader whose reads share one offset, like the
/// parquet crate's `File` reader: reads on several threads must not
/// interleave (they did: "Unexpected struct field type" and "snappy: corrupt
/// input" from `lightstream convert` of a sound file). Several row groups,
/// read three times with 3 threads, give the tables of one thread.
#[test]
fn threads_read_through_a_shared_file_offset() {
    let schema = all_types_schema();
    let tables = vec![table(&schema, 4_000, 61, 10)];
    let bytes = write(
        &schema,
        &tables,
        ParquetWriteOptions {
            row_group_rows: 1_000,
            compression: ParquetCompression::Snappy,
            ..Default::default()
        },
    );
    let options = ParquetReadOptions {
        batch_size: 300,
        ..Default::default()
    };
    let (one, error) = read_outcome(bytes.clone(), options.clone());
    assert_eq!(error, None);
    for round in 0..3 {
        let source = OneOffset {
            bytes: bytes.clone(),
            offset: Arc::new(Mutex::new(0)),
        };
        let reader =
            ParquetReader::from_chunk_reader(source, "file".into(), with_threads(3, &options))
                .unwrap();
        let got: Vec<Table> = reader
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_same_tables(&got, &one, &format!("round {round}"));
    }
}

/// String chunk statistics: exact min / max and null count, except that a min
/// or max longer than 4,096 bytes drops both (as Arrow C++'s
/// `max_statistics_size`) instead of putting the value in the footer.
#[test]
fn string_statistics_and_their_size_limit() {
    use parquet::data_type::AsBytes;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::statistics::Statistics;
    let long = "x".repeat(4097);
    let fits = "y".repeat(4096);
    let col = |name: &str, values: Vec<&str>, valid: Vec<bool>| {
        FieldArray::new(
            Field::new(name, ArrowType::String, true, None),
            Array::from_string32(StringArray::<u32>::from_vec(
                values,
                Some(Bitmask::from_bools(&valid)),
            )),
        )
    };
    let table = Table::new(
        "t",
        Some(vec![
            col(
                "short",
                vec!["b", "", "a", "c"],
                vec![true, false, true, true],
            ),
            col(
                "long",
                vec!["a", &long, "b", ""],
                vec![true, true, true, false],
            ),
            col(
                "limit",
                vec!["a", &fits, "", ""],
                vec![true, true, false, false],
            ),
        ]),
    );
    let bytes = write(
        &Schema::from_table(&table),
        &[table],
        ParquetWriteOptions::default(),
    );
    let r = SerializedFileReader::new(bytes).unwrap();
    let rg = r.metadata().row_group(0);
    let stats = |c: usize| match rg.column(c).statistics() {
        Some(Statistics::ByteArray(s)) => (
            s.min_opt().map(|v| v.as_bytes().to_vec()),
            s.max_opt().map(|v| v.as_bytes().to_vec()),
            s.null_count_opt(),
        ),
        other => panic!("column {c}: {other:?}"),
    };
    assert_eq!(
        stats(0),
        (Some(b"a".to_vec()), Some(b"c".to_vec()), Some(1))
    );
    assert_eq!(stats(1), (None, None, Some(1)));
    assert_eq!(
        stats(2),
        (Some(b"a".to_vec()), Some(fits.into_bytes()), Some(2))
    );
}
