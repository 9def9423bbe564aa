//! Test data for the interop tests: [`interop_all_types`] / [`dictionary_tables`],
//! minarrow tables covering every type Lightstream supports, nulls, metadata, several
//! batches, and dictionaries that grow ([`DICT_GROWTH`]) or also get replaced
//! ([`DICT_CHANGES`]), from a small deterministic generator ([`Rng`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use lightstream_core::minarrow::ffi::arrow_dtype::CategoricalIndexType;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, CategoricalArray, DatetimeArray, DecimalArray, Field,
    FieldArray, FloatArray, IntegerArray, StringArray, Table, TimeUnit, Vec64,
};
use lightstream_core::{IndexType, Schema};

// ------------------------------------------------------------------ test data

/// A small deterministic generator (xorshift64*), so test data needs no crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// What a generated column holds.
#[derive(Debug, Clone)]
pub enum Kind {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    Utf8,
    LargeUtf8,
    /// Categorical with a key of `key_bits` bits; wire index type and value width.
    Dict {
        key_bits: u32,
        index: IndexType,
        large: bool,
        ordered: bool,
    },
    Date32,
    Date64,
    Time32(TimeUnit),
    Time64(TimeUnit),
    Timestamp(TimeUnit, Option<&'static str>),
    Duration(TimeUnit),
    Dec32(u8, i8),
    Dec64(u8, i8),
    Dec128(u8, i8),
    Null,
}

/// One column of the all-types tables.
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    pub metadata: &'static [(&'static str, &'static str)],
}

fn spec(name: &'static str, kind: Kind) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        nullable: true,
        metadata: &[],
    }
}

fn dict(key_bits: u32, index: IndexType, large: bool) -> Kind {
    Kind::Dict {
        key_bits,
        index,
        large,
        ordered: false,
    }
}

/// Every type Lightstream supports, once or more (all dictionary index types, every
/// time unit, timestamps with and without a time zone, all decimal widths).
pub fn all_types_specs() -> Vec<ColumnSpec> {
    use IndexType as I;
    use TimeUnit as U;
    vec![
        spec("bool", Kind::Bool),
        spec("int8", Kind::I8),
        spec("int16", Kind::I16),
        ColumnSpec {
            metadata: &[("unit", "metres"), ("note", "ünïcödé ✓")],
            ..spec("int32", Kind::I32)
        },
        ColumnSpec {
            nullable: false,
            ..spec("int32_required", Kind::I32)
        },
        spec("int64", Kind::I64),
        spec("uint8", Kind::U8),
        spec("uint16", Kind::U16),
        spec("uint32", Kind::U32),
        spec("uint64", Kind::U64),
        spec("float32", Kind::F32),
        ColumnSpec {
            metadata: &[("empty", "")],
            ..spec("float64", Kind::F64)
        },
        spec("utf8", Kind::Utf8),
        spec("large_utf8", Kind::LargeUtf8),
        ColumnSpec {
            metadata: &[("kind", "city")],
            ..spec("dict_u8", dict(8, I::UInt8, false))
        },
        spec("dict_u16", dict(16, I::UInt16, false)),
        spec("dict_u32", dict(32, I::UInt32, false)),
        spec("dict_u64", dict(64, I::UInt64, false)),
        spec("dict_i8", dict(8, I::Int8, false)),
        spec("dict_i16", dict(16, I::Int16, false)),
        spec("dict_i32", dict(32, I::Int32, false)),
        spec("dict_i64", dict(64, I::Int64, false)),
        spec("dict_i32_large", dict(32, I::Int32, true)),
        spec(
            "dict_i16_ordered",
            Kind::Dict {
                key_bits: 16,
                index: I::Int16,
                large: false,
                ordered: true,
            },
        ),
        spec("date32", Kind::Date32),
        spec("date64", Kind::Date64),
        spec("time32_s", Kind::Time32(U::Seconds)),
        spec("time32_ms", Kind::Time32(U::Milliseconds)),
        spec("time64_us", Kind::Time64(U::Microseconds)),
        spec("time64_ns", Kind::Time64(U::Nanoseconds)),
        spec("ts_s", Kind::Timestamp(U::Seconds, None)),
        spec("ts_ms", Kind::Timestamp(U::Milliseconds, None)),
        spec("ts_us", Kind::Timestamp(U::Microseconds, None)),
        spec("ts_ns", Kind::Timestamp(U::Nanoseconds, None)),
        spec("ts_s_utc", Kind::Timestamp(U::Seconds, Some("UTC"))),
        spec(
            "ts_ms_ny",
            Kind::Timestamp(U::Milliseconds, Some("America/New_York")),
        ),
        spec(
            "ts_us_offset",
            Kind::Timestamp(U::Microseconds, Some("+05:30")),
        ),
        spec(
            "ts_ns_paris",
            Kind::Timestamp(U::Nanoseconds, Some("Europe/Paris")),
        ),
        spec("dur_s", Kind::Duration(U::Seconds)),
        spec("dur_ms", Kind::Duration(U::Milliseconds)),
        spec("dur_us", Kind::Duration(U::Microseconds)),
        spec("dur_ns", Kind::Duration(U::Nanoseconds)),
        spec("dec32", Kind::Dec32(9, 2)),
        spec("dec64", Kind::Dec64(18, 4)),
        spec("dec128", Kind::Dec128(38, 10)),
        spec("dec128_neg_scale", Kind::Dec128(10, -2)),
        spec("null", Kind::Null),
    ]
}

/// The minarrow type of a column kind.
pub fn kind_dtype(kind: &Kind) -> ArrowType {
    match kind {
        Kind::Bool => ArrowType::Boolean,
        Kind::I8 => ArrowType::Int8,
        Kind::I16 => ArrowType::Int16,
        Kind::I32 => ArrowType::Int32,
        Kind::I64 => ArrowType::Int64,
        Kind::U8 => ArrowType::UInt8,
        Kind::U16 => ArrowType::UInt16,
        Kind::U32 => ArrowType::UInt32,
        Kind::U64 => ArrowType::UInt64,
        Kind::F32 => ArrowType::Float32,
        Kind::F64 => ArrowType::Float64,
        Kind::Utf8 => ArrowType::String,
        Kind::LargeUtf8 => ArrowType::LargeString,
        Kind::Dict { key_bits, .. } => ArrowType::Dictionary(match key_bits {
            8 => CategoricalIndexType::UInt8,
            16 => CategoricalIndexType::UInt16,
            32 => CategoricalIndexType::UInt32,
            _ => CategoricalIndexType::UInt64,
        }),
        Kind::Date32 => ArrowType::Date32,
        Kind::Date64 => ArrowType::Date64,
        Kind::Time32(u) => ArrowType::Time32(*u),
        Kind::Time64(u) => ArrowType::Time64(*u),
        Kind::Timestamp(u, tz) => ArrowType::Timestamp(*u, tz.map(str::to_string)),
        Kind::Duration(u) => ArrowType::Duration64(*u),
        Kind::Dec32(p, s) => ArrowType::Decimal32(*p, *s),
        Kind::Dec64(p, s) => ArrowType::Decimal64(*p, *s),
        Kind::Dec128(p, s) => ArrowType::Decimal128(*p, *s),
        Kind::Null => ArrowType::Null,
    }
}

/// The Lightstream schema of column specs: fields, schema metadata and, for
/// categorical columns, the wire index type / value width / ordering asked for.
pub fn specs_schema(specs: &[ColumnSpec], metadata: &BTreeMap<String, String>) -> Schema {
    let fields: Vec<Arc<Field>> = specs
        .iter()
        .map(|s| {
            let md: BTreeMap<String, String> = s
                .metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Arc::new(Field::new(
                s.name,
                kind_dtype(&s.kind),
                s.nullable,
                Some(md),
            ))
        })
        .collect();
    let mut schema = Schema::new(fields, metadata.clone());
    for (i, s) in specs.iter().enumerate() {
        if let Kind::Dict {
            index,
            large,
            ordered,
            ..
        } = &s.kind
        {
            let d = schema.dictionaries[i]
                .as_mut()
                .expect("Schema::new gives every categorical field a DictionaryEncoding");
            d.index_type = *index;
            d.large_values = *large;
            d.ordered = *ordered;
        }
    }
    schema
}

pub const DICT_WORDS: [&str; 8] = [
    "paris", "tokyo", "", "lima", "zürich", "東京", "quito", "oslo",
];

fn random_string(rng: &mut Rng) -> String {
    const ALPHABET: [&str; 13] = [
        "a", "b", "c", "X", "Y", "Z", " ", "0", "9", "_", "é", "✓", "𝄞",
    ];
    let n = [0, 1, 3, 8, 20][rng.below(5) as usize];
    (0..n)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize])
        .collect()
}

fn mask_of(valid: &[bool]) -> Option<Bitmask> {
    if valid.iter().all(|v| *v) {
        None
    } else {
        Some(Bitmask::from_bools(valid))
    }
}

/// `n` values, the first ones the given extremes, the rest from `generate`.
fn with_extremes<T: Copy>(n: usize, extremes: &[T], mut generate: impl FnMut() -> T) -> Vec<T> {
    (0..n)
        .map(|i| {
            if i < extremes.len() {
                extremes[i]
            } else {
                generate()
            }
        })
        .collect()
}

/// Uniform in `lo..=hi` (any i128 range, even wider than `i128::MAX`).
pub fn random_in(rng: &mut Rng, lo: i128, hi: i128) -> i128 {
    let r = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
    let span = (hi.wrapping_sub(lo) as u128).wrapping_add(1);
    let offset = if span == 0 { r } else { r % span };
    lo.wrapping_add(offset as i128)
}

/// Builds the array of one column: `n` rows, nulls with probability `null_rate`
/// (never in non-nullable columns), dictionary `words` for categorical columns.
pub fn make_array(
    rng: &mut Rng,
    spec: &ColumnSpec,
    n: usize,
    null_rate: f64,
    words: &[String],
) -> FieldArray {
    let valid: Vec<bool> = (0..n)
        .map(|_| !spec.nullable || !rng.chance(null_rate))
        .collect();
    let mask = mask_of(&valid);
    macro_rules! ints {
        ($t:ty, $from:ident) => {{
            let v = with_extremes(n, &[<$t>::MIN, <$t>::MAX, 0, 1], || {
                random_in(rng, <$t>::MIN as i128, <$t>::MAX as i128) as $t
            });
            Array::$from(IntegerArray::<$t>::from_vec(v, mask))
        }};
    }
    macro_rules! dict_array {
        ($t:ty, $from:ident) => {{
            let keys: Vec<$t> = (0..n)
                .map(|i| {
                    if valid[i] {
                        rng.below(words.len() as u64) as $t
                    } else {
                        0
                    }
                })
                .collect();
            let values: Vec64<String> = words.to_vec().into();
            Array::$from(CategoricalArray::<$t>::new(Vec64::from(keys), values, mask))
        }};
    }
    let dt64 = |rng: &mut Rng, lo: i128, hi: i128, unit: TimeUnit| {
        let v: Vec<i64> = (0..n).map(|_| random_in(rng, lo, hi) as i64).collect();
        Array::from_datetime_i64(DatetimeArray::<i64>::new(
            Vec64::from(v),
            mask.clone(),
            Some(unit),
        ))
    };
    let dt32 = |rng: &mut Rng, lo: i128, hi: i128, unit: TimeUnit| {
        let v: Vec<i32> = (0..n).map(|_| random_in(rng, lo, hi) as i32).collect();
        Array::from_datetime_i32(DatetimeArray::<i32>::new(
            Vec64::from(v),
            mask.clone(),
            Some(unit),
        ))
    };
    let array = match &spec.kind {
        Kind::Bool => {
            let v: Vec<bool> = (0..n).map(|_| rng.chance(0.5)).collect();
            Array::from_bool(BooleanArray::new(Bitmask::from_bools(&v), mask))
        }
        Kind::I8 => ints!(i8, from_int8),
        Kind::I16 => ints!(i16, from_int16),
        Kind::I32 => ints!(i32, from_int32),
        Kind::I64 => ints!(i64, from_int64),
        Kind::U8 => ints!(u8, from_uint8),
        Kind::U16 => ints!(u16, from_uint16),
        Kind::U32 => ints!(u32, from_uint32),
        Kind::U64 => ints!(u64, from_uint64),
        Kind::F32 => {
            let v = with_extremes(
                n,
                &[
                    f32::NAN,
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    -0.0,
                    f32::MIN_POSITIVE / 4.0,
                    1.5,
                ],
                || (rng.next_u64() % 2_000_000) as f32 / 7.0 - 100_000.0,
            );
            Array::from_float32(FloatArray::<f32>::from_vec(v, mask))
        }
        Kind::F64 => {
            let v = with_extremes(
                n,
                &[
                    f64::NAN,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    -0.0,
                    5e-324,
                    1e300,
                    0.1,
                ],
                || f64::from_bits(rng.next_u64() >> 2) * if rng.chance(0.5) { -1.0 } else { 1.0 },
            );
            Array::from_float64(FloatArray::<f64>::from_vec(v, mask))
        }
        Kind::Utf8 => {
            let v: Vec<String> = (0..n).map(|_| random_string(rng)).collect();
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            Array::from_string32(StringArray::<u32>::from_vec(refs, mask))
        }
        Kind::LargeUtf8 => {
            let v: Vec<String> = (0..n).map(|_| random_string(rng)).collect();
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            Array::from_string64(StringArray::<u64>::from_vec(refs, mask))
        }
        Kind::Dict { key_bits, .. } => match key_bits {
            8 => dict_array!(u8, from_categorical8),
            16 => dict_array!(u16, from_categorical16),
            32 => dict_array!(u32, from_categorical32),
            _ => dict_array!(u64, from_categorical64),
        },
        Kind::Date32 => dt32(rng, -100_000, 100_000, TimeUnit::Days),
        Kind::Date64 => {
            let v: Vec<i64> = (0..n)
                .map(|_| random_in(rng, -100_000, 100_000) as i64 * 86_400_000)
                .collect();
            Array::from_datetime_i64(DatetimeArray::<i64>::new(
                Vec64::from(v),
                mask.clone(),
                Some(TimeUnit::Milliseconds),
            ))
        }
        Kind::Time32(u) => {
            let top = if *u == TimeUnit::Seconds {
                86_400
            } else {
                86_400_000
            };
            dt32(rng, 0, top - 1, *u)
        }
        Kind::Time64(u) => {
            let top: i128 = if *u == TimeUnit::Microseconds {
                86_400_000_000
            } else {
                86_400_000_000_000
            };
            dt64(rng, 0, top - 1, *u)
        }
        Kind::Timestamp(u, _) => dt64(rng, -(10i128.pow(17)), 10i128.pow(17), *u),
        Kind::Duration(u) => dt64(rng, i64::MIN.into(), i64::MAX.into(), *u),
        Kind::Dec32(p, s) => {
            let top = 10i128.pow(u32::from(*p)) - 1;
            let v = with_extremes(n, &[top as i32, -top as i32, 0, 1, -1], || {
                random_in(rng, -top, top) as i32
            });
            Array::from_decimal32(DecimalArray::<i32>::new(Vec64::from(v), mask, *p, *s))
        }
        Kind::Dec64(p, s) => {
            let top = 10i128.pow(u32::from(*p)) - 1;
            let v = with_extremes(n, &[top as i64, -top as i64, 0, 1, -1], || {
                random_in(rng, -top, top) as i64
            });
            Array::from_decimal64(DecimalArray::<i64>::new(Vec64::from(v), mask, *p, *s))
        }
        Kind::Dec128(p, s) => {
            let top = 10i128.pow(u32::from(*p)) - 1;
            let v = with_extremes(n, &[top, -top, 0, 1, -1], || random_in(rng, -top, top));
            Array::from_decimal128(DecimalArray::<i128>::new(Vec64::from(v), mask, *p, *s))
        }
        Kind::Null => Array::Null,
    };
    let md: BTreeMap<String, String> = spec
        .metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let field = Field::new(spec.name, kind_dtype(&spec.kind), spec.nullable, Some(md));
    let mut fa = FieldArray::new(field, array);
    if matches!(spec.kind, Kind::Null) {
        fa.null_count = n;
    }
    fa
}

/// A table of the given columns (fields shared with `schema`), `n_rows` set explicitly
/// (a leading null column has no length of its own), metadata = the schema's.
pub fn make_table(schema: &Schema, mut cols: Vec<FieldArray>, n_rows: usize) -> Table {
    for (c, f) in cols.iter_mut().zip(&schema.fields) {
        assert_eq!(*c.field, **f, "column and schema field differ");
        c.field = f.clone();
    }
    let mut t =
        Table::new_with_metadata("interop".to_string(), Some(cols), schema.metadata.clone());
    t.n_rows = n_rows;
    t
}

/// Rows `rows` of `table` as minarrow copies them (`Table::slice_clone`), the
/// reference for row ranges a writer encodes: null columns counted all null, as
/// the IPC format counts them, and the table's metadata kept.
pub fn slice_rows(table: &Table, rows: std::ops::Range<usize>) -> Table {
    let mut t = table.slice_clone(rows.start, rows.len());
    for c in &mut t.cols {
        if matches!(c.array, Array::Null) {
            c.null_count = rows.len();
        }
    }
    t.metadata = table.metadata.clone();
    t
}

pub const SCHEMA_METADATA: [(&str, &str); 3] = [
    ("producer", "lightstream interop"),
    ("unicode", "héllo ✓ 東京"),
    ("empty", ""),
];

/// Every supported type, four tables (9, 0, 37 and 130 rows; no nulls in the first two,
/// then 20% and 50% nulls), one dictionary per categorical column for all tables.
pub fn interop_all_types() -> (Schema, Vec<Table>) {
    let specs = all_types_specs();
    let metadata: BTreeMap<String, String> = SCHEMA_METADATA
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let schema = specs_schema(&specs, &metadata);
    let mut rng = Rng::new(42);
    let words: Vec<Vec<String>> = specs
        .iter()
        .map(|_| {
            let k = 3 + rng.below((DICT_WORDS.len() - 2) as u64) as usize;
            DICT_WORDS[..k].iter().map(|s| s.to_string()).collect()
        })
        .collect();
    let tables = [(9, 0.0), (0, 0.0), (37, 0.2), (130, 0.5)]
        .iter()
        .map(|&(n, rate)| {
            let cols = specs
                .iter()
                .zip(&words)
                .map(|(s, w)| make_array(&mut rng, s, n, rate, w))
                .collect();
            make_table(&schema, cols, n)
        })
        .collect();
    (schema, tables)
}

/// Tables of one categorical column `city` (Int32 keys on the wire, utf8 values),
/// one `tag` (Int16 keys, large_utf8 values) and an int64 column, whose dictionaries
/// change from table to table as `steps` say (one table per [`DictStep`]).
pub fn dictionary_tables(steps: &[DictStep]) -> (Schema, Vec<Table>) {
    let specs = vec![
        spec("city", dict(32, IndexType::Int32, false)),
        ColumnSpec {
            metadata: &[("k", "v")],
            ..spec("tag", dict(16, IndexType::Int16, true))
        },
        spec("n", Kind::I64),
    ];
    let metadata: BTreeMap<String, String> =
        [("case".to_string(), "dictionaries".to_string())].into();
    let schema = specs_schema(&specs, &metadata);
    let tables = steps
        .iter()
        .map(|s| {
            let n = s.city_keys.len();
            assert_eq!(n, s.tag_keys.len());
            let city_valid: Vec<bool> = s.city_keys.iter().map(Option::is_some).collect();
            let tag_valid: Vec<bool> = s.tag_keys.iter().map(Option::is_some).collect();
            let city = CategoricalArray::<u32>::new(
                Vec64::from(
                    s.city_keys
                        .iter()
                        .map(|k| k.unwrap_or(0))
                        .collect::<Vec<u32>>(),
                ),
                s.city_words
                    .iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .into(),
                mask_of(&city_valid),
            );
            let tag = CategoricalArray::<u16>::new(
                Vec64::from(
                    s.tag_keys
                        .iter()
                        .map(|k| k.unwrap_or(0))
                        .collect::<Vec<u16>>(),
                ),
                s.tag_words
                    .iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .into(),
                mask_of(&tag_valid),
            );
            let nvalid: Vec<bool> = (0..n).map(|i| i % 4 != 0).collect();
            let nums: Vec<i64> = (0..n as i64).map(|i| i * 1000 - 7).collect();
            let cols = vec![
                FieldArray::new((*schema.fields[0]).clone(), Array::from_categorical32(city)),
                FieldArray::new((*schema.fields[1]).clone(), Array::from_categorical16(tag)),
                FieldArray::new(
                    (*schema.fields[2]).clone(),
                    Array::from_int64(IntegerArray::<i64>::from_vec(nums, mask_of(&nvalid))),
                ),
            ];
            make_table(&schema, cols, n)
        })
        .collect();
    (schema, tables)
}

/// One table of [`dictionary_tables`].
#[derive(Clone, Copy)]
pub struct DictStep {
    pub city_words: &'static [&'static str],
    pub tag_words: &'static [&'static str],
    pub city_keys: &'static [Option<u32>],
    pub tag_keys: &'static [Option<u16>],
}

/// Dictionaries that grow (deltas), stay, are replaced, then grow again:
/// city `[a, b]` -> `[a, b, c, d]` (delta) -> same -> `[q, r]` (replacement) ->
/// `[q, r, s]` (delta); tag `[x]` -> `[x, y]` -> `[x, y, zé]` -> same -> same.
pub const DICT_CHANGES: [DictStep; 5] = [
    DictStep {
        city_words: &["a", "b"],
        tag_words: &["x"],
        city_keys: &[Some(0), Some(1), None, Some(1)],
        tag_keys: &[Some(0), Some(0), Some(0), None],
    },
    DictStep {
        city_words: &["a", "b", "c", "d"],
        tag_words: &["x", "y"],
        city_keys: &[Some(3), Some(2), Some(1), Some(0), None],
        tag_keys: &[Some(1), Some(0), Some(1), None, Some(1)],
    },
    DictStep {
        city_words: &["a", "b", "c", "d"],
        tag_words: &["x", "y", "zé"],
        city_keys: &[Some(2), Some(3)],
        tag_keys: &[Some(2), Some(2)],
    },
    DictStep {
        city_words: &["q", "r"],
        tag_words: &["x", "y", "zé"],
        city_keys: &[Some(1), None, Some(0)],
        tag_keys: &[Some(0), Some(1), Some(2)],
    },
    DictStep {
        city_words: &["q", "r", "s"],
        tag_words: &["x", "y", "zé"],
        city_keys: &[Some(2), Some(2), Some(0), Some(1)],
        tag_keys: &[None, Some(1), Some(2), Some(0)],
    },
];

/// Dictionaries that only grow (valid in the IPC file format): the first three steps of
/// [`DICT_CHANGES`] plus a fourth that extends city to `[a, b, c, d, e]`.
pub const DICT_GROWTH: [DictStep; 4] = [
    DICT_CHANGES[0],
    DICT_CHANGES[1],
    DICT_CHANGES[2],
    DictStep {
        city_words: &["a", "b", "c", "d", "e"],
        tag_words: &["x", "y", "zé"],
        city_keys: &[Some(4), Some(0), Some(4)],
        tag_keys: &[Some(0), Some(1), Some(2)],
    },
];
