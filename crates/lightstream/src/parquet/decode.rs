//! Parquet values -> minarrow arrays: definition levels to validity masks,
//! stored values spread over the rows (one generic straight-copy path for
//! INT32 / INT64 columns that need no conversion, a checked conversion for
//! the others), strings checked as UTF-8, dictionary values interned into
//! categorical columns. Not the planning (`plan.rs`) or the file (`reader.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use lightstream_core::display::arrow_type_name;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, Buffer, CategoricalArray, DatetimeArray, DecimalArray,
    FieldArray, FloatArray, Integer, IntegerArray, NumericArray, StringArray, TemporalArray,
    TextArray, TimeUnit, Vec64,
};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, DataType, Int96};

use super::types::{ColumnPlan, Decode, parquet_error};
use crate::error::Result;

/// Records asked of the parquet crate per `read_records` call.
const READ_CHUNK: usize = 64 * 1024;

/// Stored (non-null) values and, for an optional column, the definition levels.
type Stored<T> = (Vec<T>, Option<Vec<i16>>);

/// Offsets, bytes, validity and null count of a string column.
type StringParts<O> = (Buffer<O>, Buffer<u8>, Option<Bitmask>, usize);

/// Definition levels (when the column is optional) and stored values of `n` rows.
fn read_values<T: DataType>(
    r: &mut ColumnReaderImpl<T>,
    max_def: i16,
    n: usize,
) -> Result<Stored<T::T>> {
    // Buffers grow with what the pages really hold; each call into the crate
    // asks for at most READ_CHUNK records, which bounds what it reserves from
    // a page header's (file-supplied) value count.
    let mut values = Vec::with_capacity(n.min(READ_CHUNK));
    let mut defs = (max_def > 0).then(|| Vec::with_capacity(n.min(READ_CHUNK)));
    let mut got = 0;
    while got < n {
        let want = (n - got).min(READ_CHUNK);
        let (records, _, _) = r.read_records(want, defs.as_mut(), None, &mut values)?;
        if records == 0 {
            break;
        }
        got += records;
    }
    if got != n {
        return Err(parquet_error(format!(
            "the column chunk ended after {got} of {n} rows"
        )));
    }
    if let Some(d) = &defs {
        if d.len() != n {
            return Err(parquet_error(format!(
                "{} definition levels for {n} rows",
                d.len()
            )));
        }
        let valid = d.iter().filter(|&&l| l == max_def).count();
        if valid != values.len() {
            return Err(parquet_error(format!(
                "{} values for {valid} non-null rows",
                values.len()
            )));
        }
    } else if values.len() != n {
        return Err(parquet_error(format!(
            "{} values for {n} rows",
            values.len()
        )));
    }
    Ok((values, defs))
}

/// The validity mask of `defs` (None when every row is valid) and the null count.
fn validity(defs: Option<&[i16]>, max_def: i16, n: usize) -> (Option<Bitmask>, usize) {
    let Some(defs) = defs else {
        return (None, 0);
    };
    // Eight levels to a byte, without a branch per row; the null count falls
    // out of the same pass.
    let mut bytes: Vec64<u8> = Vec64::with_capacity(n.div_ceil(8));
    let mut valid = 0usize;
    for chunk in defs.chunks(8) {
        let mut b = 0u8;
        for (j, &d) in chunk.iter().enumerate() {
            b |= u8::from(d == max_def) << j;
        }
        valid += b.count_ones() as usize;
        bytes.push(b);
    }
    bytes.resize(n.div_ceil(8), 0);
    let nulls = n - valid.min(n);
    if nulls == 0 {
        return (None, 0);
    }
    (Some(Bitmask::new(Buffer::from_vec64(bytes), n)), nulls)
}

/// Spreads the non-null `vals` over `n` rows (default under nulls), converting each.
fn spread<S, D: Copy + Default>(
    vals: &[S],
    defs: Option<&[i16]>,
    max_def: i16,
    n: usize,
    f: impl Fn(&S) -> Option<D>,
    what: &str,
) -> Result<Vec64<D>> {
    let bad = || parquet_error(format!("a stored value does not fit {what}"));
    let mut out: Vec64<D> = Vec64::with_capacity(n);
    match defs {
        Some(defs) if vals.len() != n => {
            let mut it = vals.iter();
            for &d in defs {
                if d == max_def {
                    let v = it.next().ok_or_else(bad)?;
                    out.push(f(v).ok_or_else(bad)?);
                } else {
                    out.push(D::default());
                }
            }
        }
        _ => {
            for v in vals {
                out.push(f(v).ok_or_else(bad)?);
            }
        }
    }
    Ok(out)
}

/// Spreads the non-null `vals` over `n` rows (default under nulls) with an
/// infallible conversion: a straight copy when no row is null.
fn spread_copy<S: Copy, D: Copy + Default>(
    vals: &[S],
    defs: Option<&[i16]>,
    max_def: i16,
    n: usize,
    f: impl Fn(S) -> D,
) -> Result<Vec64<D>> {
    let short = || parquet_error("fewer values than rows");
    let mut out: Vec64<D> = Vec64::with_capacity(n);
    match defs {
        Some(defs) if vals.len() != n => {
            if defs.len() != n {
                return Err(short());
            }
            out.resize(n, D::default());
            let mut it = vals.iter();
            for (o, &d) in out.iter_mut().zip(defs) {
                if d == max_def {
                    *o = f(*it.next().ok_or_else(short)?);
                }
            }
        }
        _ => {
            if vals.len() != n {
                return Err(short());
            }
            out.extend(vals.iter().map(|&v| f(v)));
        }
    }
    Ok(out)
}

fn factor(u: &TimeUnit) -> i64 {
    match u {
        TimeUnit::Seconds => 1,
        TimeUnit::Milliseconds => 1_000,
        TimeUnit::Microseconds => 1_000_000,
        TimeUnit::Nanoseconds => 1_000_000_000,
        TimeUnit::Days => 1,
    }
}

/// Converts a time value from `from` to `to` (exact when finer, floor when coarser).
fn rescale(v: i64, from: &TimeUnit, to: &TimeUnit) -> Option<i64> {
    let (a, b) = (factor(from), factor(to));
    if a == b {
        Some(v)
    } else if b > a {
        v.checked_mul(b / a)
    } else {
        Some(v.div_euclid(a / b))
    }
}

fn target_unit(t: &ArrowType) -> Option<TimeUnit> {
    match t {
        ArrowType::Time32(u)
        | ArrowType::Time64(u)
        | ArrowType::Timestamp(u, _)
        | ArrowType::Duration64(u) => Some(*u),
        ArrowType::Date64 => Some(TimeUnit::Milliseconds),
        _ => None,
    }
}

fn field_array(plan: &ColumnPlan, array: Array, nulls: usize) -> FieldArray {
    FieldArray {
        field: plan.field.clone(),
        array,
        null_count: nulls,
    }
}

/// Integer-like stored values (`pre` reinterprets and rescales each into an
/// i128) as the plan's target array.
fn int_array<S>(
    plan: &ColumnPlan,
    vals: &[S],
    defs: Option<&[i16]>,
    n: usize,
    pre: impl Fn(&S) -> Option<i128>,
) -> Result<FieldArray> {
    let (mask, nulls) = validity(defs, plan.max_def, n);
    let md = plan.max_def;
    let what = arrow_type_name(&plan.field.dtype, None);
    macro_rules! ints {
        ($t:ty) => {
            spread(
                vals,
                defs,
                md,
                n,
                |v| pre(v).and_then(|x| <$t>::try_from(x).ok()),
                &what,
            )?
        };
    }
    macro_rules! num {
        ($variant:ident, $t:ty) => {
            Array::NumericArray(NumericArray::$variant(Arc::new(IntegerArray {
                data: Buffer::from_vec64(ints!($t)),
                null_mask: mask,
            })))
        };
    }
    macro_rules! dec {
        ($variant:ident, $t:ty, $p:expr, $s:expr) => {
            Array::NumericArray(NumericArray::$variant(Arc::new(DecimalArray {
                data: Buffer::from_vec64(ints!($t)),
                null_mask: mask,
                precision: *$p,
                scale: *$s,
            })))
        };
    }
    macro_rules! temporal {
        ($variant:ident, $t:ty, $unit:expr) => {
            Array::TemporalArray(TemporalArray::$variant(Arc::new(DatetimeArray {
                data: Buffer::from_vec64(ints!($t)),
                null_mask: mask,
                time_unit: $unit,
            })))
        };
    }
    let array = match &plan.field.dtype {
        ArrowType::Int8 => num!(Int8, i8),
        ArrowType::Int16 => num!(Int16, i16),
        ArrowType::Int32 => num!(Int32, i32),
        ArrowType::Int64 => num!(Int64, i64),
        ArrowType::UInt8 => num!(UInt8, u8),
        ArrowType::UInt16 => num!(UInt16, u16),
        ArrowType::UInt32 => num!(UInt32, u32),
        ArrowType::UInt64 => num!(UInt64, u64),
        ArrowType::Decimal32(p, s) => dec!(Decimal32, i32, p, s),
        ArrowType::Decimal64(p, s) => dec!(Decimal64, i64, p, s),
        ArrowType::Decimal128(p, s) => dec!(Decimal128, i128, p, s),
        ArrowType::Date32 => temporal!(Datetime32, i32, TimeUnit::Days),
        ArrowType::Date64 => temporal!(Datetime64, i64, TimeUnit::Milliseconds),
        ArrowType::Time32(u) => temporal!(Datetime32, i32, *u),
        ArrowType::Time64(u) | ArrowType::Timestamp(u, _) | ArrowType::Duration64(u) => {
            temporal!(Datetime64, i64, *u)
        }
        other => {
            return Err(parquet_error(format!(
                "integer values cannot become {}",
                arrow_type_name(other, None)
            )));
        }
    };
    Ok(field_array(plan, array, nulls))
}

/// Whether `int_pre` leaves every stored value as it is (a plain integer, or
/// a time already in the target's unit).
fn int_is_identity(plan: &ColumnPlan) -> bool {
    match &plan.decode {
        Decode::Int => true,
        Decode::Rescale { from } => {
            target_unit(&plan.field.dtype).is_some_and(|to| factor(from) == factor(&to))
        }
        _ => false,
    }
}

/// How an Arrow type takes the stored values of an INT32 or INT64 column of
/// its own width as they are (see [`int_direct`]).
enum DirectTarget {
    Signed,
    /// Unsigned integers stored as their signed bit pattern.
    Unsigned,
    Decimal(u8, i8),
    Temporal(TimeUnit),
}

/// A stored Parquet integer (INT32 as `i32`, INT64 as `i64`) and the minarrow
/// arrays of the same width, for the one direct path of both.
trait StoredInt: Integer + Default {
    type Unsigned: Integer + Default;
    fn to_unsigned(self) -> Self::Unsigned;
    /// How `t` takes values of this width as they are, if it does.
    fn direct_target(t: &ArrowType) -> Option<DirectTarget>;
    fn signed(a: IntegerArray<Self>) -> NumericArray;
    fn unsigned(a: IntegerArray<Self::Unsigned>) -> NumericArray;
    fn decimal(a: DecimalArray<Self>) -> NumericArray;
    fn temporal(a: DatetimeArray<Self>) -> TemporalArray;
}

impl StoredInt for i64 {
    type Unsigned = u64;
    fn to_unsigned(self) -> u64 {
        self as u64
    }
    fn direct_target(t: &ArrowType) -> Option<DirectTarget> {
        Some(match t {
            ArrowType::Int64 => DirectTarget::Signed,
            ArrowType::UInt64 => DirectTarget::Unsigned,
            ArrowType::Decimal64(p, s) => DirectTarget::Decimal(*p, *s),
            ArrowType::Date64 => DirectTarget::Temporal(TimeUnit::Milliseconds),
            ArrowType::Time64(u) | ArrowType::Timestamp(u, _) | ArrowType::Duration64(u) => {
                DirectTarget::Temporal(*u)
            }
            _ => return None,
        })
    }
    fn signed(a: IntegerArray<i64>) -> NumericArray {
        NumericArray::Int64(Arc::new(a))
    }
    fn unsigned(a: IntegerArray<u64>) -> NumericArray {
        NumericArray::UInt64(Arc::new(a))
    }
    fn decimal(a: DecimalArray<i64>) -> NumericArray {
        NumericArray::Decimal64(Arc::new(a))
    }
    fn temporal(a: DatetimeArray<i64>) -> TemporalArray {
        TemporalArray::Datetime64(Arc::new(a))
    }
}

impl StoredInt for i32 {
    type Unsigned = u32;
    fn to_unsigned(self) -> u32 {
        self as u32
    }
    fn direct_target(t: &ArrowType) -> Option<DirectTarget> {
        Some(match t {
            ArrowType::Int32 => DirectTarget::Signed,
            ArrowType::UInt32 => DirectTarget::Unsigned,
            ArrowType::Decimal32(p, s) => DirectTarget::Decimal(*p, *s),
            ArrowType::Date32 => DirectTarget::Temporal(TimeUnit::Days),
            ArrowType::Time32(u) => DirectTarget::Temporal(*u),
            _ => return None,
        })
    }
    fn signed(a: IntegerArray<i32>) -> NumericArray {
        NumericArray::Int32(Arc::new(a))
    }
    fn unsigned(a: IntegerArray<u32>) -> NumericArray {
        NumericArray::UInt32(Arc::new(a))
    }
    fn decimal(a: DecimalArray<i32>) -> NumericArray {
        NumericArray::Decimal32(Arc::new(a))
    }
    fn temporal(a: DatetimeArray<i32>) -> TemporalArray {
        TemporalArray::Datetime32(Arc::new(a))
    }
}

/// The fast path of [`int_array`] for an INT32 or INT64 column whose target
/// has the same width and needs no conversion: one straight copy (or
/// bit-cast), no i128 and no per-value fallible conversion. `None` when the
/// plan needs the general path.
fn int_direct<S: StoredInt>(
    plan: &ColumnPlan,
    vals: &[S],
    defs: Option<&[i16]>,
    n: usize,
) -> Result<Option<FieldArray>> {
    if !int_is_identity(plan) {
        return Ok(None);
    }
    let Some(target) = S::direct_target(&plan.field.dtype) else {
        return Ok(None);
    };
    let md = plan.max_def;
    // One spread_copy call per element type (a closure called from several
    // arms kept the no-null case from compiling to a plain copy: 2.5% more
    // instructions on a whole read), and the values before the mask, as the
    // two near-copies had it (callgrind: the same count as they had).
    let (array, nulls) = if let DirectTarget::Unsigned = target {
        let data = Buffer::from_vec64(spread_copy(vals, defs, md, n, S::to_unsigned)?);
        let (null_mask, nulls) = validity(defs, md, n);
        let array = IntegerArray { data, null_mask };
        (Array::NumericArray(S::unsigned(array)), nulls)
    } else {
        // Signed, decimal and temporal targets hold the stored values as they are.
        let data = Buffer::from_vec64(spread_copy(vals, defs, md, n, |v| v)?);
        let (null_mask, nulls) = validity(defs, md, n);
        let array = match target {
            DirectTarget::Decimal(precision, scale) => {
                Array::NumericArray(S::decimal(DecimalArray {
                    data,
                    null_mask,
                    precision,
                    scale,
                }))
            }
            DirectTarget::Temporal(time_unit) => Array::TemporalArray(S::temporal(DatetimeArray {
                data,
                null_mask,
                time_unit,
            })),
            // (Unsigned took the branch above.)
            DirectTarget::Signed | DirectTarget::Unsigned => {
                Array::NumericArray(S::signed(IntegerArray { data, null_mask }))
            }
        };
        (array, nulls)
    };
    Ok(Some(field_array(plan, array, nulls)))
}

/// `pre` for an INT32 / INT64 column: reinterpretation of unsigned bit
/// patterns and time-unit rescaling.
fn int_pre(plan: &ColumnPlan, v: i64, src_bits: u32) -> Option<i128> {
    let t = &plan.field.dtype;
    match (&plan.decode, t) {
        (Decode::Int, ArrowType::UInt32) if src_bits == 32 => Some(i128::from(v as i32 as u32)),
        (Decode::Int, ArrowType::UInt64) => Some(i128::from(v as u64)),
        (Decode::Int, _) => Some(i128::from(v)),
        (Decode::DaysToMillis, _) => Some(i128::from(v) * 86_400_000),
        (Decode::Rescale { from }, _) => {
            let to = target_unit(t)?;
            rescale(v, from, &to).map(i128::from)
        }
        _ => None,
    }
}

fn decimal_from_be(b: &[u8]) -> Option<i128> {
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut buf = if b[0] & 0x80 != 0 {
        [0xffu8; 16]
    } else {
        [0u8; 16]
    };
    buf[16 - b.len()..].copy_from_slice(b);
    Some(i128::from_be_bytes(buf))
}

fn strings<O: Integer + Default>(
    plan: &ColumnPlan,
    vals: &[ByteArray],
    defs: Option<&[i16]>,
    n: usize,
    to_offset: impl Fn(usize) -> Option<O>,
) -> Result<StringParts<O>> {
    let (mask, nulls) = validity(defs, plan.max_def, n);
    let total: usize = vals.iter().map(|v| v.len()).sum();
    let mut data: Vec64<u8> = Vec64::with_capacity(total);
    let mut offsets: Vec64<O> = Vec64::with_capacity(n + 1);
    offsets.push(O::default());
    let too_big = || parquet_error("strings exceed 32-bit offsets (read as large_string)");
    let mut it = vals.iter();
    for i in 0..n {
        let valid = match defs {
            Some(d) if vals.len() != n => d[i] == plan.max_def,
            _ => true,
        };
        if valid {
            let v = it
                .next()
                .ok_or_else(|| parquet_error("fewer values than rows"))?;
            let bytes = v.data();
            // A value that starts with a continuation byte cannot be UTF-8 on
            // its own; with that, one check of the whole buffer below covers
            // every value (valid pieces concatenate to valid UTF-8 and back).
            if bytes.first().is_some_and(|&b| (b as i8) < -0x40) {
                return Err(parquet_error(format!("row {i} is not valid UTF-8")));
            }
            data.extend_from_slice(bytes);
        }
        offsets.push(to_offset(data.len()).ok_or_else(too_big)?);
    }
    if let Err(e) = std::str::from_utf8(&data) {
        let at = e.valid_up_to();
        let row = offsets
            .iter()
            .position(|o| o.to_usize().is_some_and(|u| u > at))
            .map_or(n, |r| r.saturating_sub(1));
        return Err(parquet_error(format!("row {row} is not valid UTF-8")));
    }
    Ok((
        Buffer::from_vec64(offsets),
        Buffer::from_vec64(data),
        mask,
        nulls,
    ))
}

/// log2 of the slots of the categorical address cache (see [`categorical`]).
const PTR_CACHE_BITS: u32 = 11;

fn categorical<K: Integer + Default>(
    plan: &ColumnPlan,
    vals: &[ByteArray],
    defs: Option<&[i16]>,
    n: usize,
    capacity: u64,
) -> Result<(CategoricalArray<K>, usize)> {
    let (mask, nulls) = validity(defs, plan.max_def, n);
    let mut index: HashMap<&[u8], K> = HashMap::new();
    let mut unique: Vec64<String> = Vec64::new();
    let mut keys: Vec64<K> = Vec64::with_capacity(n);
    // Length usize::MAX: no slice has it, so an empty slot never matches.
    let mut cache: Vec<(u64, usize, K)> = vec![(0, usize::MAX, K::default()); 1 << PTR_CACHE_BITS];
    let mut it = vals.iter();
    for i in 0..n {
        let valid = match defs {
            Some(d) if vals.len() != n => d[i] == plan.max_def,
            _ => true,
        };
        if !valid {
            keys.push(K::default());
            continue;
        }
        let v = it
            .next()
            .ok_or_else(|| parquet_error("fewer values than rows"))?;
        let bytes = v.data();
        // Values decoded from a dictionary page share that page's buffer, so a
        // repeated value usually comes back at the same address: a small
        // direct-mapped cache of (address, length) -> key skips hashing its
        // bytes. Every value in `vals` stays alive (and unchanged) for the
        // whole call, so equal address and length mean equal bytes; a miss
        // falls through to the map, which checks and validates as before.
        let addr = bytes.as_ptr() as usize as u64;
        let slot = ((addr ^ bytes.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            >> (64 - PTR_CACHE_BITS)) as usize;
        let cached = &mut cache[slot];
        if cached.0 == addr && cached.1 == bytes.len() {
            keys.push(cached.2);
            continue;
        }
        let key = match index.get(bytes) {
            Some(k) => *k,
            None => {
                if unique.len() as u64 >= capacity {
                    return Err(parquet_error(format!(
                        "more than {capacity} distinct values in one batch do not fit the \
                         dictionary's {} keys (read fewer rows per batch, or without ARROW:schema)",
                        plan.dictionary.map(|d| d.index_type.name()).unwrap_or("?")
                    )));
                }
                let s = std::str::from_utf8(bytes)
                    .map_err(|_| parquet_error(format!("row {i} is not valid UTF-8")))?;
                let k = K::from_usize(unique.len());
                unique.push(s.to_string());
                index.insert(bytes, k);
                k
            }
        };
        *cached = (addr, bytes.len(), key);
        keys.push(key);
    }
    Ok((
        CategoricalArray {
            data: Buffer::from_vec64(keys),
            unique_values: unique,
            null_mask: mask,
        },
        nulls,
    ))
}

/// Reads `n` rows of one column and builds its minarrow array.
pub(super) fn read_column(
    reader: &mut ColumnReader,
    plan: &ColumnPlan,
    n: usize,
) -> Result<FieldArray> {
    let md = plan.max_def;
    let mismatch = || parquet_error(format!("unexpected physical type {}", plan.physical));
    if plan.decode == Decode::Null {
        // Read (and check) the levels, whatever the physical type.
        let skipped = match reader {
            ColumnReader::Int32ColumnReader(r) => r.skip_records(n)?,
            ColumnReader::Int64ColumnReader(r) => r.skip_records(n)?,
            ColumnReader::BoolColumnReader(r) => r.skip_records(n)?,
            ColumnReader::FloatColumnReader(r) => r.skip_records(n)?,
            ColumnReader::DoubleColumnReader(r) => r.skip_records(n)?,
            ColumnReader::ByteArrayColumnReader(r) => r.skip_records(n)?,
            ColumnReader::FixedLenByteArrayColumnReader(r) => r.skip_records(n)?,
            ColumnReader::Int96ColumnReader(r) => r.skip_records(n)?,
        };
        if skipped != n {
            return Err(parquet_error(format!(
                "the column chunk ended after {skipped} of {n} rows"
            )));
        }
        return Ok(FieldArray {
            field: plan.field.clone(),
            array: Array::Null,
            null_count: n,
        });
    }
    match reader {
        ColumnReader::BoolColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            let (mask, nulls) = validity(defs.as_deref(), md, n);
            let bits = spread(&vals, defs.as_deref(), md, n, |v| Some(*v), "Boolean")?;
            let mut bytes: Vec64<u8> = Vec64::with_capacity(n.div_ceil(8));
            bytes.resize(n.div_ceil(8), 0);
            for (i, b) in bits.iter().enumerate() {
                if *b {
                    bytes[i / 8] |= 1 << (i % 8);
                }
            }
            let data = Bitmask::new(Buffer::from_vec64(bytes), n);
            Ok(field_array(
                plan,
                Array::BooleanArray(Arc::new(BooleanArray::new(data, mask))),
                nulls,
            ))
        }
        ColumnReader::Int32ColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            if let Some(a) = int_direct(plan, &vals, defs.as_deref(), n)? {
                return Ok(a);
            }
            int_array(plan, &vals, defs.as_deref(), n, |v: &i32| {
                int_pre(plan, i64::from(*v), 32)
            })
        }
        ColumnReader::Int64ColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            if let Some(a) = int_direct(plan, &vals, defs.as_deref(), n)? {
                return Ok(a);
            }
            int_array(plan, &vals, defs.as_deref(), n, |v: &i64| {
                int_pre(plan, *v, 64)
            })
        }
        ColumnReader::Int96ColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            let to = target_unit(&plan.field.dtype).unwrap_or(TimeUnit::Nanoseconds);
            int_array(plan, &vals, defs.as_deref(), n, |v: &Int96| {
                rescale(v.to_nanos(), &TimeUnit::Nanoseconds, &to).map(i128::from)
            })
        }
        ColumnReader::FloatColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            let (mask, nulls) = validity(defs.as_deref(), md, n);
            let data = spread(&vals, defs.as_deref(), md, n, |v| Some(*v), "Float32")?;
            let a = NumericArray::Float32(Arc::new(FloatArray {
                data: Buffer::from_vec64(data),
                null_mask: mask,
            }));
            Ok(field_array(plan, Array::NumericArray(a), nulls))
        }
        ColumnReader::DoubleColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            let (mask, nulls) = validity(defs.as_deref(), md, n);
            let data = spread(&vals, defs.as_deref(), md, n, |v| Some(*v), "Float64")?;
            let a = NumericArray::Float64(Arc::new(FloatArray {
                data: Buffer::from_vec64(data),
                null_mask: mask,
            }));
            Ok(field_array(plan, Array::NumericArray(a), nulls))
        }
        ColumnReader::FixedLenByteArrayColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            if plan.decode != Decode::DecimalBytes {
                return Err(mismatch());
            }
            int_array(plan, &vals, defs.as_deref(), n, |v| {
                decimal_from_be(v.data())
            })
        }
        ColumnReader::ByteArrayColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            let defs = defs.as_deref();
            match &plan.decode {
                Decode::DecimalBytes => int_array(plan, &vals, defs, n, |v: &ByteArray| {
                    decimal_from_be(v.data())
                }),
                Decode::Utf8 { large: false } => {
                    let (offsets, data, mask, nulls) =
                        strings::<u32>(plan, &vals, defs, n, |l| u32::try_from(l).ok())?;
                    let a = TextArray::String32(Arc::new(StringArray {
                        offsets,
                        data,
                        null_mask: mask,
                    }));
                    Ok(field_array(plan, Array::TextArray(a), nulls))
                }
                Decode::Utf8 { large: true } => {
                    let (offsets, data, mask, nulls) =
                        strings::<u64>(plan, &vals, defs, n, |l| Some(l as u64))?;
                    let a = TextArray::String64(Arc::new(StringArray {
                        offsets,
                        data,
                        null_mask: mask,
                    }));
                    Ok(field_array(plan, Array::TextArray(a), nulls))
                }
                Decode::Dictionary(enc) => {
                    let bits = enc.index_type.byte_width() as u32 * 8;
                    let capacity = if enc.index_type.is_signed() {
                        1u64 << (bits - 1).min(63)
                    } else if bits >= 64 {
                        u64::MAX
                    } else {
                        1u64 << bits
                    };
                    let text = match enc.index_type.byte_width() {
                        1 => {
                            let (a, nulls) = categorical::<u8>(plan, &vals, defs, n, capacity)?;
                            return Ok(field_array(
                                plan,
                                Array::TextArray(TextArray::Categorical8(Arc::new(a))),
                                nulls,
                            ));
                        }
                        2 => {
                            let (a, nulls) = categorical::<u16>(plan, &vals, defs, n, capacity)?;
                            (TextArray::Categorical16(Arc::new(a)), nulls)
                        }
                        4 => {
                            let (a, nulls) = categorical::<u32>(plan, &vals, defs, n, capacity)?;
                            (TextArray::Categorical32(Arc::new(a)), nulls)
                        }
                        _ => {
                            let (a, nulls) = categorical::<u64>(plan, &vals, defs, n, capacity)?;
                            (TextArray::Categorical64(Arc::new(a)), nulls)
                        }
                    };
                    Ok(field_array(plan, Array::TextArray(text.0), text.1))
                }
                _ => Err(mismatch()),
            }
        }
    }
}
