//! Property tests: tables written by Lightstream read back identical.
//!
//! Random schemas (1-8 columns of every type minarrow holds, random nullability, field and
//! schema metadata with non-ASCII text) and random tables (0-300 rows, random nulls, random
//! strings, dictionaries with random values) go through `write_stream` / `write_file` with
//! every `Compression` and alignments 64 and 8, and come back through `read_stream`,
//! `read_file`, `IpcFileReader` and a misaligned buffer with equal values, schema and
//! metadata. Streams of several tables whose dictionaries are replaced or grow (deltas)
//! must read back table by table. Case counts are modest so the suite stays fast.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, Buffer, CategoricalArray, DatetimeArray, DecimalArray,
    Field, FieldArray, FloatArray, Integer, IntegerArray, NumericArray, StringArray, Table,
    TemporalArray, TextArray, TimeUnit, Vec64,
};
use lightstream_core::{
    Compression, ErrorKind, IpcFileReader, Schema, WriteOptions, aligned_copy, read_file,
    read_stream, write_file, write_stream,
};
use lightstream_tests::compare::{diff_schemas, diff_tables};
use lightstream_tests::drive::{decode_pushing, misaligned_copy, read_options};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// `PROPTEST_CASES` when set (for a longer run), else `default` (keeps the suite fast).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const COMPRESSIONS: [Compression; 3] =
    [Compression::None, Compression::Lz4Frame, Compression::Zstd];
const ALIGNMENTS: [usize; 2] = [64, 8];

// ---------------------------------------------------------------------------------------
// Column kinds and values
// ---------------------------------------------------------------------------------------

/// The logical contents of one column.
#[derive(Debug, Clone)]
enum ColData {
    Null,
    Bool(Vec<Option<bool>>),
    Int(Vec<Option<i128>>),
    F32(Vec<Option<f32>>),
    F64(Vec<Option<f64>>),
    Str(Vec<Option<String>>),
    Dict {
        values: Vec<String>,
        keys: Vec<Option<usize>>,
    },
}

/// One column: its field and its values.
#[derive(Debug, Clone)]
struct ColSpec {
    field: Field,
    data: ColData,
}

fn time_unit() -> impl Strategy<Value = TimeUnit> {
    prop_oneof![
        Just(TimeUnit::Seconds),
        Just(TimeUnit::Milliseconds),
        Just(TimeUnit::Microseconds),
        Just(TimeUnit::Nanoseconds),
    ]
}

/// Every type minarrow holds (docs/core-api.md's mapping table).
fn arrow_type() -> impl Strategy<Value = ArrowType> {
    prop_oneof![
        Just(ArrowType::Null),
        Just(ArrowType::Boolean),
        Just(ArrowType::Int8),
        Just(ArrowType::Int16),
        Just(ArrowType::Int32),
        Just(ArrowType::Int64),
        Just(ArrowType::UInt8),
        Just(ArrowType::UInt16),
        Just(ArrowType::UInt32),
        Just(ArrowType::UInt64),
        Just(ArrowType::Float32),
        Just(ArrowType::Float64),
        Just(ArrowType::String),
        Just(ArrowType::LargeString),
        Just(ArrowType::Dictionary(CategoricalIndexType::UInt8)),
        Just(ArrowType::Dictionary(CategoricalIndexType::UInt16)),
        Just(ArrowType::Dictionary(CategoricalIndexType::UInt32)),
        Just(ArrowType::Dictionary(CategoricalIndexType::UInt64)),
        Just(ArrowType::Date32),
        Just(ArrowType::Date64),
        prop_oneof![Just(TimeUnit::Seconds), Just(TimeUnit::Milliseconds)]
            .prop_map(ArrowType::Time32),
        prop_oneof![Just(TimeUnit::Microseconds), Just(TimeUnit::Nanoseconds)]
            .prop_map(ArrowType::Time64),
        (
            time_unit(),
            prop_oneof![
                Just(None),
                Just(Some("UTC".to_string())),
                Just(Some("Europe/Paris".to_string())),
                Just(Some("+05:30".to_string())),
            ]
        )
            .prop_map(|(u, tz)| ArrowType::Timestamp(u, tz)),
        time_unit().prop_map(ArrowType::Duration64),
        (1u8..=9)
            .prop_flat_map(|p| (Just(p), -2i8..=p as i8))
            .prop_map(|(p, s)| ArrowType::Decimal32(p, s)),
        (1u8..=18)
            .prop_flat_map(|p| (Just(p), -2i8..=p as i8))
            .prop_map(|(p, s)| ArrowType::Decimal64(p, s)),
        (1u8..=38)
            .prop_flat_map(|p| (Just(p), -2i8..=p as i8))
            .prop_map(|(p, s)| ArrowType::Decimal128(p, s)),
    ]
}

/// Arbitrary text, non-ASCII, control characters and the empty string included.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::string::string_regex(&format!("(?s).{{0,{max}}}")).expect("regex"),
        1 => proptest::string::string_regex(&format!("[a-zé€矢😀 ]{{0,{max}}}")).expect("regex"),
        1 => Just(String::new()),
    ]
}

fn metadata() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(text(8), text(12), 0..3)
}

fn field() -> impl Strategy<Value = Field> {
    (
        proptest::string::string_regex("[a-zA-Z_é矢 0-9]{0,10}").expect("regex"),
        arrow_type(),
        any::<bool>(),
        metadata(),
    )
        .prop_map(|(name, dtype, nullable, metadata)| {
            // A Null column is all nulls, so it is nullable.
            let nullable = nullable || dtype == ArrowType::Null;
            Field {
                name,
                dtype,
                nullable,
                metadata,
            }
        })
}

/// `n` values from `value`, a fraction of them null when `nullable`.
fn optional<T: std::fmt::Debug + Clone + 'static>(
    value: impl Strategy<Value = T> + 'static,
    nullable: bool,
    n: usize,
) -> BoxedStrategy<Vec<Option<T>>> {
    if nullable {
        prop::collection::vec(prop_oneof![1 => Just(None), 3 => value.prop_map(Some)], n).boxed()
    } else {
        prop::collection::vec(value.prop_map(Some), n).boxed()
    }
}

fn decimal_values(precision: u8) -> impl Strategy<Value = i128> {
    let bound = 10i128.pow(precision as u32) - 1;
    prop_oneof![Just(bound), Just(-bound), Just(0i128), -bound..=bound,]
}

fn int_range(dtype: &ArrowType) -> (i128, i128) {
    match dtype {
        ArrowType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        ArrowType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        ArrowType::Int32 | ArrowType::Date32 => (i32::MIN.into(), i32::MAX.into()),
        ArrowType::UInt8 => (0, u8::MAX.into()),
        ArrowType::UInt16 => (0, u16::MAX.into()),
        ArrowType::UInt32 => (0, u32::MAX.into()),
        ArrowType::UInt64 => (0, u64::MAX.into()),
        ArrowType::Time32(TimeUnit::Seconds) => (0, 86_399),
        ArrowType::Time32(_) => (0, 86_399_999),
        ArrowType::Time64(TimeUnit::Microseconds) => (0, 86_399_999_999),
        ArrowType::Time64(_) => (0, 86_399_999_999_999),
        _ => (i64::MIN.into(), i64::MAX.into()),
    }
}

fn ints(dtype: &ArrowType) -> BoxedStrategy<i128> {
    let (lo, hi) = int_range(dtype);
    prop_oneof![1 => Just(lo), 1 => Just(hi), 1 => Just(0i128), 6 => lo..=hi].boxed()
}

/// Values for a column of `field` with `n` rows.
fn column_data(field: &Field, n: usize) -> BoxedStrategy<ColData> {
    let nullable = field.nullable;
    match &field.dtype {
        ArrowType::Null => Just(ColData::Null).boxed(),
        ArrowType::Boolean => optional(any::<bool>(), nullable, n)
            .prop_map(ColData::Bool)
            .boxed(),
        ArrowType::Float32 => optional(any::<f32>(), nullable, n)
            .prop_map(ColData::F32)
            .boxed(),
        ArrowType::Float64 => optional(any::<f64>(), nullable, n)
            .prop_map(ColData::F64)
            .boxed(),
        ArrowType::String | ArrowType::LargeString => optional(text(12), nullable, n)
            .prop_map(ColData::Str)
            .boxed(),
        ArrowType::Dictionary(_) => dictionary_data(nullable, n, 0..24),
        ArrowType::Decimal32(p, _) | ArrowType::Decimal64(p, _) | ArrowType::Decimal128(p, _) => {
            optional(decimal_values(*p), nullable, n)
                .prop_map(ColData::Int)
                .boxed()
        }
        other => optional(ints(other), nullable, n)
            .prop_map(ColData::Int)
            .boxed(),
    }
}

/// A dictionary of distinct random values and `n` keys into it.
fn dictionary_data(
    nullable: bool,
    n: usize,
    sizes: std::ops::Range<usize>,
) -> BoxedStrategy<ColData> {
    let min = if n > 0 {
        sizes.start.max(1)
    } else {
        sizes.start
    };
    prop::collection::btree_set(text(10), min..sizes.end.max(min + 1))
        .prop_flat_map(move |set| {
            let values: Vec<String> = set.into_iter().collect();
            let len = values.len();
            let keys = if len == 0 {
                Just(vec![None; n]).boxed()
            } else {
                optional(0..len, nullable, n)
            };
            (Just(values), keys)
        })
        .prop_map(|(values, keys)| ColData::Dict { values, keys })
        .boxed()
}

// ---------------------------------------------------------------------------------------
// Building minarrow tables
// ---------------------------------------------------------------------------------------

fn mask_of<T>(values: &[Option<T>], force: bool) -> Option<Bitmask> {
    let valid: Vec<bool> = values.iter().map(Option::is_some).collect();
    (force || valid.iter().any(|v| !v)).then(|| Bitmask::from_bools(&valid))
}

fn buffer<T>(v: Vec<T>) -> Buffer<T> {
    Buffer::from(Vec64::from(v))
}

fn prim<T: Copy + Default, U: Copy>(values: &[Option<U>], f: impl Fn(U) -> T) -> Buffer<T> {
    buffer(
        values
            .iter()
            .map(|v| v.map(&f).unwrap_or_default())
            .collect(),
    )
}

fn strings<O: TryFrom<usize> + Copy>(values: &[Option<String>]) -> (Buffer<O>, Buffer<u8>)
where
    <O as TryFrom<usize>>::Error: std::fmt::Debug,
{
    let mut offsets = vec![O::try_from(0).unwrap()];
    let mut data = Vec::new();
    for v in values {
        if let Some(s) = v {
            data.extend_from_slice(s.as_bytes());
        }
        offsets.push(O::try_from(data.len()).unwrap());
    }
    (buffer(offsets), buffer(data))
}

fn categorical<K: TryFrom<usize> + Copy + Default + Integer>(
    values: &[String],
    keys: &[Option<usize>],
    mask: Option<Bitmask>,
) -> CategoricalArray<K>
where
    <K as TryFrom<usize>>::Error: std::fmt::Debug,
{
    let codes: Vec<K> = keys
        .iter()
        .map(|k| k.map(|k| K::try_from(k).unwrap()).unwrap_or_default())
        .collect();
    CategoricalArray::new_unchecked(Vec64::from(codes), Vec64::from(values.to_vec()), mask)
}

/// The minarrow column for `spec` with `n` rows. `force_mask` adds an all-valid null mask
/// to columns without nulls (readers must treat both the same).
fn build_column(spec: &ColSpec, n: usize, force_mask: bool) -> FieldArray {
    let f = spec.field.clone();
    let dtype = f.dtype.clone();
    let array = match (&spec.data, &dtype) {
        (ColData::Null, _) => {
            return FieldArray {
                field: Arc::new(f),
                array: Array::Null,
                null_count: n,
            };
        }
        (ColData::Bool(v), _) => {
            let bits =
                Bitmask::from_bools(&v.iter().map(|b| b.unwrap_or(false)).collect::<Vec<_>>());
            Array::BooleanArray(Arc::new(BooleanArray::new(bits, mask_of(v, force_mask))))
        }
        (ColData::F32(v), _) => Array::NumericArray(NumericArray::Float32(Arc::new(FloatArray {
            data: prim(v, |x| x),
            null_mask: mask_of(v, force_mask),
        }))),
        (ColData::F64(v), _) => Array::NumericArray(NumericArray::Float64(Arc::new(FloatArray {
            data: prim(v, |x| x),
            null_mask: mask_of(v, force_mask),
        }))),
        (ColData::Str(v), ArrowType::String) => {
            let (offsets, data) = strings::<u32>(v);
            Array::TextArray(TextArray::String32(Arc::new(StringArray {
                offsets,
                data,
                null_mask: mask_of(v, force_mask),
            })))
        }
        (ColData::Str(v), _) => {
            let (offsets, data) = strings::<u64>(v);
            Array::TextArray(TextArray::String64(Arc::new(StringArray {
                offsets,
                data,
                null_mask: mask_of(v, force_mask),
            })))
        }
        (ColData::Dict { values, keys }, ArrowType::Dictionary(width)) => {
            let mask = mask_of(keys, force_mask);
            Array::TextArray(match width {
                CategoricalIndexType::UInt8 => {
                    TextArray::Categorical8(Arc::new(categorical::<u8>(values, keys, mask)))
                }
                CategoricalIndexType::UInt16 => {
                    TextArray::Categorical16(Arc::new(categorical::<u16>(values, keys, mask)))
                }
                CategoricalIndexType::UInt32 => {
                    TextArray::Categorical32(Arc::new(categorical::<u32>(values, keys, mask)))
                }
                CategoricalIndexType::UInt64 => {
                    TextArray::Categorical64(Arc::new(categorical::<u64>(values, keys, mask)))
                }
            })
        }
        (ColData::Int(v), t) => {
            let mask = mask_of(v, force_mask);
            macro_rules! int {
                ($variant:ident, $ty:ty) => {
                    Array::NumericArray(NumericArray::$variant(Arc::new(IntegerArray {
                        data: prim(v, |x| x as $ty),
                        null_mask: mask,
                    })))
                };
            }
            macro_rules! dec {
                ($variant:ident, $ty:ty, $p:expr, $s:expr) => {
                    Array::NumericArray(NumericArray::$variant(Arc::new(DecimalArray {
                        data: prim(v, |x| x as $ty),
                        null_mask: mask,
                        precision: *$p,
                        scale: *$s,
                    })))
                };
            }
            macro_rules! temporal {
                ($variant:ident, $ty:ty, $unit:expr) => {
                    Array::TemporalArray(TemporalArray::$variant(Arc::new(DatetimeArray {
                        data: prim(v, |x| x as $ty),
                        null_mask: mask,
                        time_unit: $unit,
                    })))
                };
            }
            match t {
                ArrowType::Int8 => int!(Int8, i8),
                ArrowType::Int16 => int!(Int16, i16),
                ArrowType::Int32 => int!(Int32, i32),
                ArrowType::Int64 => int!(Int64, i64),
                ArrowType::UInt8 => int!(UInt8, u8),
                ArrowType::UInt16 => int!(UInt16, u16),
                ArrowType::UInt32 => int!(UInt32, u32),
                ArrowType::UInt64 => int!(UInt64, u64),
                ArrowType::Decimal32(p, s) => dec!(Decimal32, i32, p, s),
                ArrowType::Decimal64(p, s) => dec!(Decimal64, i64, p, s),
                ArrowType::Decimal128(p, s) => dec!(Decimal128, i128, p, s),
                ArrowType::Date32 => temporal!(Datetime32, i32, TimeUnit::Days),
                ArrowType::Date64 => temporal!(Datetime64, i64, TimeUnit::Milliseconds),
                ArrowType::Time32(u) => temporal!(Datetime32, i32, *u),
                ArrowType::Time64(u) | ArrowType::Duration64(u) | ArrowType::Timestamp(u, _) => {
                    temporal!(Datetime64, i64, *u)
                }
                other => panic!("no integer layout for {other:?}"),
            }
        }
        (data, t) => panic!("column data {data:?} does not fit type {t:?}"),
    };
    FieldArray::new_arc(Arc::new(f), array)
}

fn build_table(
    cols: &[ColSpec],
    n: usize,
    metadata: &BTreeMap<String, String>,
    force_mask: bool,
) -> Table {
    Table {
        cols: cols
            .iter()
            .map(|c| build_column(c, n, force_mask))
            .collect(),
        n_rows: n,
        name: String::new(),
        metadata: metadata.clone(),
    }
}

fn schema_of(fields: &[Field], metadata: &BTreeMap<String, String>) -> Schema {
    Schema::new(
        fields.iter().cloned().map(Arc::new).collect(),
        metadata.clone(),
    )
}

// ---------------------------------------------------------------------------------------
// Round-trip checks
// ---------------------------------------------------------------------------------------

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

fn check_pair(
    how: &str,
    schema: &Schema,
    tables: &[Table],
    got: lightstream_core::Result<(Arc<Schema>, Vec<Table>)>,
) -> Result<(), TestCaseError> {
    let (s, t) = got.map_err(|e| fail(format!("{how}: read failed: {e}")))?;
    diff_schemas(&s, schema).map_err(|d| fail(format!("{how}: schema differs:\n{d}")))?;
    if t.len() != tables.len() {
        return Err(fail(format!(
            "{how}: {} tables read back, {} written",
            t.len(),
            tables.len()
        )));
    }
    for (i, (a, e)) in t.iter().zip(tables).enumerate() {
        diff_tables(a, e).map_err(|d| fail(format!("{how}: table {i} differs:\n{d}")))?;
    }
    Ok(())
}

/// Whether the IPC file writer can hold `tables`. It unifies each dictionary column's
/// dictionaries into one that only grows (replaced dictionaries included), so it can
/// unless the unified dictionary outgrows the column's key type, or, with `allow_growth`
/// off (no deltas), grows at all after the first table.
fn dictionaries_fit_file(tables: &[Vec<ColSpec>], allow_growth: bool) -> bool {
    let Some(first) = tables.first() else {
        return true;
    };
    (0..first.len()).all(|c| {
        let mut unified: BTreeSet<&str> = BTreeSet::new();
        let mut capacity = u128::MAX;
        for (t, table) in tables.iter().enumerate() {
            let (ColData::Dict { values, .. }, ArrowType::Dictionary(width)) =
                (&table[c].data, &table[c].field.dtype)
            else {
                return true;
            };
            capacity = match width {
                CategoricalIndexType::UInt8 => 1 << 8,
                CategoricalIndexType::UInt16 => 1 << 16,
                _ => u128::MAX,
            };
            let before = unified.len();
            unified.extend(values.iter().map(String::as_str));
            if t > 0 && !allow_growth && unified.len() > before {
                return false;
            }
        }
        unified.len() as u128 <= capacity
    })
}

/// `write_file`, which must succeed when `must_work`; otherwise it may refuse with
/// `ErrorKind::Schema` (see [`dictionaries_fit_file`]), giving `None`.
fn write_file_checked(
    schema: &Schema,
    tables: &[Table],
    options: &WriteOptions,
    must_work: bool,
    how: &str,
) -> Result<Option<Vec<u8>>, TestCaseError> {
    match write_file(schema, tables, options) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if !must_work && e.kind() == ErrorKind::Schema => Ok(None),
        Err(e) => Err(fail(format!("write_file ({how}): {e}"))),
    }
}

/// Writes `tables` every way and reads them back every way. `file_must_work`: the
/// dictionaries only grow, so the file format can hold the tables.
fn roundtrip_everywhere(
    schema: &Schema,
    tables: &[Table],
    file_must_work: bool,
) -> Result<(), TestCaseError> {
    for compression in COMPRESSIONS {
        for alignment in ALIGNMENTS {
            let options = WriteOptions {
                compression,
                alignment,
                ..WriteOptions::default()
            };
            let how = format!("{compression:?}, alignment {alignment}");

            let stream = write_stream(schema, tables, &options)
                .map_err(|e| fail(format!("write_stream ({how}): {e}")))?;
            prop_assert!(
                stream.len() % 8 == 0,
                "stream ({how}) is {} bytes, not a multiple of 8",
                stream.len()
            );
            check_pair(
                &format!("read_stream ({how})"),
                schema,
                tables,
                read_stream(aligned_copy(&stream), read_options(None)),
            )?;
            check_pair(
                &format!("read_stream of a misaligned buffer ({how})"),
                schema,
                tables,
                read_stream(misaligned_copy(&stream, 1), read_options(None)),
            )?;

            let Some(file) = write_file_checked(schema, tables, &options, file_must_work, &how)?
            else {
                continue;
            };
            prop_assert!(file.starts_with(b"ARROW1") && file.ends_with(b"ARROW1"));
            check_pair(
                &format!("read_file ({how})"),
                schema,
                tables,
                read_file(aligned_copy(&file), read_options(None)),
            )?;
            let reader = IpcFileReader::new(misaligned_copy(&file, 1), read_options(None))
                .map_err(|e| fail(format!("IpcFileReader on a misaligned buffer ({how}): {e}")))?;
            prop_assert_eq!(reader.num_batches(), tables.len());
            let read: Vec<Table> = (0..reader.num_batches())
                .map(|i| reader.read_batch(i))
                .collect::<Result<_, _>>()
                .map_err(|e| fail(format!("IpcFileReader::read_batch ({how}): {e}")))?;
            check_pair(
                &format!("IpcFileReader ({how})"),
                schema,
                tables,
                Ok((reader.schema().clone(), read)),
            )?;
        }
    }
    Ok(())
}

/// One generated table: its columns, its row count, and whether columns without nulls
/// still carry an (all-valid) null mask.
type TableSpec = (Vec<ColSpec>, usize, bool);

/// A schema (fields and metadata) and 1-3 tables of 0-300 rows for it.
fn schema_and_tables()
-> impl Strategy<Value = (Vec<Field>, BTreeMap<String, String>, Vec<TableSpec>)> {
    (prop::collection::vec(field(), 1..=8), metadata()).prop_flat_map(|(fields, meta)| {
        let table = {
            let fields = fields.clone();
            (0usize..=300, any::<bool>()).prop_flat_map(move |(n, force)| {
                let cols: Vec<BoxedStrategy<ColSpec>> = fields
                    .iter()
                    .map(|f| {
                        let f2 = f.clone();
                        column_data(f, n)
                            .prop_map(move |data| ColSpec {
                                field: f2.clone(),
                                data,
                            })
                            .boxed()
                    })
                    .collect();
                (cols, Just(n), Just(force))
            })
        };
        (
            Just(fields),
            Just(meta),
            prop::collection::vec(table, 1..=3),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    /// Random schemas and tables survive every writer, compression and alignment.
    #[test]
    fn random_tables_roundtrip((fields, meta, tables) in schema_and_tables()) {
        let schema = schema_of(&fields, &meta);
        let specs: Vec<Vec<ColSpec>> = tables.iter().map(|(cols, _, _)| cols.clone()).collect();
        let tables: Vec<Table> = tables
            .iter()
            .map(|(cols, n, force)| build_table(cols, *n, &meta, *force))
            .collect();
        roundtrip_everywhere(&schema, &tables, dictionaries_fit_file(&specs, true))?;
    }

    /// Reading with a projection (any subset, any order) gives exactly those columns.
    #[test]
    fn projection_selects_columns(
        (fields, meta, tables) in schema_and_tables(),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let schema = schema_of(&fields, &meta);
        let specs: Vec<Vec<ColSpec>> = tables.iter().map(|(cols, _, _)| cols.clone()).collect();
        let tables: Vec<Table> = tables
            .iter()
            .map(|(cols, n, force)| build_table(cols, *n, &meta, *force))
            .collect();
        let mut projection: Vec<usize> = Vec::new();
        for p in picks {
            let i = p.index(fields.len());
            if !projection.contains(&i) {
                projection.push(i);
            }
        }
        let expected_schema = schema
            .project(&projection)
            .map_err(|e| fail(format!("Schema::project({projection:?}): {e}")))?;
        let expected_tables: Vec<Table> = tables
            .iter()
            .map(|t| Table {
                cols: projection.iter().map(|&i| t.cols[i].clone()).collect(),
                n_rows: t.n_rows,
                name: String::new(),
                metadata: t.metadata.clone(),
            })
            .collect();
        let stream = write_stream(&schema, &tables, &WriteOptions::default())
            .map_err(|e| fail(format!("write_stream: {e}")))?;
        check_pair(
            &format!("read_stream with projection {projection:?}"),
            &expected_schema,
            &expected_tables,
            read_stream(aligned_copy(&stream), read_options(Some(&projection))),
        )?;
        check_pair(
            &format!("push in 7-byte chunks with projection {projection:?}"),
            &expected_schema,
            &expected_tables,
            decode_pushing(&stream, 7, read_options(Some(&projection))).map(|d| d.into_pair()),
        )?;
        let file = write_file_checked(
            &schema,
            &tables,
            &WriteOptions::default(),
            dictionaries_fit_file(&specs, true),
            "default options",
        )?;
        if let Some(file) = file {
            check_pair(
                &format!("read_file with projection {projection:?}"),
                &expected_schema,
                &expected_tables,
                read_file(aligned_copy(&file), read_options(Some(&projection))),
            )?;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Dictionaries that change between tables
// ---------------------------------------------------------------------------------------

/// How the next table's dictionary relates to the previous one.
#[derive(Debug, Clone, Copy)]
enum DictStep {
    /// The same values.
    Same,
    /// The previous values followed by new ones (a delta on the wire).
    Grow,
    /// Unrelated values (a replacement on the wire).
    Replace,
}

fn dict_step() -> impl Strategy<Value = DictStep> {
    prop_oneof![
        Just(DictStep::Same),
        Just(DictStep::Grow),
        Just(DictStep::Replace)
    ]
}

/// Dictionary columns over 2-5 tables whose dictionaries stay, grow or get replaced.
fn evolving_dictionaries() -> impl Strategy<Value = (Vec<Field>, Vec<(Vec<ColSpec>, usize)>)> {
    let dict_field = (
        prop_oneof![
            Just(CategoricalIndexType::UInt8),
            Just(CategoricalIndexType::UInt16),
            Just(CategoricalIndexType::UInt32),
            Just(CategoricalIndexType::UInt64),
        ],
        any::<bool>(),
    )
        .prop_map(|(w, nullable)| (ArrowType::Dictionary(w), nullable));
    (
        prop::collection::vec(dict_field, 1..=3),
        prop::collection::vec((dict_step(), 0usize..=60), 2..=5),
        prop::collection::vec(prop::collection::btree_set(text(10), 1..30), 20),
        any::<u64>(),
    )
        .prop_map(|(dict_fields, steps, pools, seed)| {
            let mut fields: Vec<Field> = dict_fields
                .iter()
                .enumerate()
                .map(|(i, (t, nullable))| Field {
                    name: format!("dict{i}"),
                    dtype: t.clone(),
                    nullable: *nullable,
                    metadata: BTreeMap::new(),
                })
                .collect();
            fields.push(Field {
                name: "row".into(),
                dtype: ArrowType::Int64,
                nullable: false,
                metadata: BTreeMap::new(),
            });
            // Deterministic key choice from the seed (xorshift).
            let mut state = seed | 1;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let mut pool_iter = pools.into_iter().cycle();
            let mut current: Vec<Vec<String>> = dict_fields
                .iter()
                .map(|_| pool_iter.next().unwrap().into_iter().collect())
                .collect();
            let mut tables = Vec::new();
            let mut row = 0i128;
            for (t, (step, n)) in steps.iter().enumerate() {
                if t > 0 {
                    for values in current.iter_mut() {
                        match step {
                            DictStep::Same => {}
                            DictStep::Grow => {
                                for v in pool_iter.next().unwrap() {
                                    if !values.contains(&v) {
                                        values.push(v);
                                    }
                                }
                            }
                            DictStep::Replace => {
                                *values = pool_iter.next().unwrap().into_iter().collect();
                            }
                        }
                    }
                }
                let mut cols: Vec<ColSpec> = fields[..dict_fields.len()]
                    .iter()
                    .zip(&current)
                    .map(|(f, values)| {
                        let keys = (0..*n)
                            .map(|_| {
                                let r = next();
                                if f.nullable && r % 5 == 0 {
                                    None
                                } else {
                                    Some((r >> 8) as usize % values.len())
                                }
                            })
                            .collect();
                        ColSpec {
                            field: f.clone(),
                            data: ColData::Dict {
                                values: values.clone(),
                                keys,
                            },
                        }
                    })
                    .collect();
                cols.push(ColSpec {
                    field: fields[dict_fields.len()].clone(),
                    data: ColData::Int(
                        (0..*n)
                            .map(|_| {
                                row += 1;
                                Some(row)
                            })
                            .collect(),
                    ),
                });
                tables.push((cols, *n));
            }
            (fields, tables)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), ..ProptestConfig::default() })]

    /// Streams whose dictionaries are kept, grown (deltas) or replaced read back table by
    /// table, with deltas allowed or not, every compression.
    #[test]
    fn dictionary_replacement_and_delta_roundtrip((fields, tables) in evolving_dictionaries()) {
        let meta = BTreeMap::new();
        let schema = schema_of(&fields, &meta);
        let specs: Vec<Vec<ColSpec>> = tables.iter().map(|(cols, _)| cols.clone()).collect();
        let tables: Vec<Table> = tables
            .iter()
            .map(|(cols, n)| build_table(cols, *n, &meta, false))
            .collect();
        for compression in COMPRESSIONS {
            for allow_delta in [true, false] {
                let options = WriteOptions {
                    compression,
                    allow_delta_dictionaries: allow_delta,
                    ..WriteOptions::default()
                };
                let how = format!("{compression:?}, deltas allowed: {allow_delta}");
                let stream = write_stream(&schema, &tables, &options)
                    .map_err(|e| fail(format!("write_stream ({how}): {e}")))?;
                check_pair(
                    &format!("read_stream ({how})"),
                    &schema,
                    &tables,
                    read_stream(aligned_copy(&stream), read_options(None)),
                )?;
                check_pair(
                    &format!("push in 64-byte chunks ({how})"),
                    &schema,
                    &tables,
                    decode_pushing(&stream, 64, read_options(None)).map(|d| d.into_pair()),
                )?;
                // The file format cannot replace a dictionary: the writer unifies them
                // into one that grows by deltas, so it must write every sequence when
                // deltas are allowed and, without deltas, those whose dictionaries never
                // grow; what it writes must read back value for value.
                let file = write_file_checked(
                    &schema,
                    &tables,
                    &options,
                    dictionaries_fit_file(&specs, allow_delta),
                    &how,
                )?;
                if let Some(file) = file {
                    check_pair(
                        &format!("read_file ({how})"),
                        &schema,
                        &tables,
                        read_file(aligned_copy(&file), read_options(None)),
                    )?;
                }
            }
        }
    }
}

/// Growing a dictionary sends only the new values when deltas are allowed.
#[test]
fn grown_dictionary_is_sent_as_a_delta() {
    let field = Field {
        name: "city".into(),
        dtype: ArrowType::Dictionary(CategoricalIndexType::UInt32),
        nullable: false,
        metadata: BTreeMap::new(),
    };
    let base: Vec<String> = (0..200)
        .map(|i| format!("city number {i:04} {}", "x".repeat(40)))
        .collect();
    let mut grown = base.clone();
    grown.push("Zürich".into());
    let keys = |len: usize| (0..len).map(|i| Some(i % len)).collect::<Vec<_>>();
    let t1 = vec![ColSpec {
        field: field.clone(),
        data: ColData::Dict {
            values: base.clone(),
            keys: keys(base.len()),
        },
    }];
    let t2 = vec![ColSpec {
        field: field.clone(),
        data: ColData::Dict {
            values: grown.clone(),
            keys: keys(grown.len()),
        },
    }];
    let meta = BTreeMap::new();
    let schema = schema_of(std::slice::from_ref(&field), &meta);
    let tables = vec![
        build_table(&t1, base.len(), &meta, false),
        build_table(&t2, grown.len(), &meta, false),
    ];
    let write = |allow: bool| {
        write_stream(
            &schema,
            &tables,
            &WriteOptions {
                allow_delta_dictionaries: allow,
                ..WriteOptions::default()
            },
        )
        .expect("write_stream")
    };
    let with_delta = write(true);
    let without = write(false);
    for (how, bytes) in [("delta", &with_delta), ("replacement", &without)] {
        let (s, t) = read_stream(aligned_copy(bytes), read_options(None)).expect(how);
        diff_schemas(&s, &schema).unwrap_or_else(|d| panic!("{how}: {d}"));
        assert_eq!(t.len(), 2, "{how}");
        for (a, e) in t.iter().zip(&tables) {
            diff_tables(a, e).unwrap_or_else(|d| panic!("{how}: {d}"));
        }
    }
    // The replacement resends ~200 * 56 bytes of values; the delta sends one.
    assert!(
        with_delta.len() + 8_000 < without.len(),
        "a grown dictionary does not seem to be sent as a delta: {} bytes with deltas, {} without",
        with_delta.len(),
        without.len()
    );
}
