//! Parquet values -> minarrow arrays: the crate's `ColumnReader` path
//! ([`read_column`], for chunks our page decoders do not take) and the
//! conversions both paths share ([`build`]): validity masks, stored values
//! spread over the rows (one generic straight-copy path for INT32 / INT64
//! columns that need no conversion, a checked conversion for the others;
//! [`build_dense`] keeps the buffer our page decoders wrote and spreads it in
//! place), strings checked as UTF-8 and categorical keys ([`TextBuilder`],
//! fed a piece of dictionary indices at a time by [`TextBuilder::push_indexed`]). Not the
//! pages (column.rs), the planning (`plan.rs`) or the file (`reader.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use lightstream_core::display::arrow_type_name;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, Buffer, CategoricalArray, DatetimeArray, DecimalArray,
    FieldArray, FloatArray, Integer, IntegerArray, NumericArray, StringArray, TemporalArray,
    TextArray, TimeUnit, Vec64,
};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, DataType, FixedLenByteArray, Int96};

use super::types::{ColumnPlan, Decode, parquet_error};
use crate::error::Result;

/// Records asked of the parquet crate per `read_records` call.
const READ_CHUNK: usize = 64 * 1024;

/// Stored (non-null) values and, for an optional column, the definition levels.
type Stored<T> = (Vec<T>, Option<Vec<i16>>);

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

/// Which of `n` rows hold a stored value: the validity mask (None when
/// every row does) and the null count. Made from the crate's definition
/// levels ([`validity`]) or straight from a page's (column.rs).
pub(super) struct Rows {
    pub(super) mask: Option<Bitmask>,
    pub(super) nulls: usize,
    pub(super) n: usize,
}

impl Rows {
    /// Validity bits (`n` of them, zero-padded) and how many are set.
    pub(super) fn from_bits(bytes: Vec64<u8>, valid: usize, n: usize) -> Rows {
        let nulls = n - valid.min(n);
        let mask = (nulls > 0).then(|| Bitmask::new(Buffer::from_vec64(bytes), n));
        Rows { mask, nulls, n }
    }

    fn bits(&self) -> Option<&[u8]> {
        self.mask.as_ref().map(|m| m.as_bytes())
    }

    /// Rows that hold a value.
    pub(super) fn valid(&self) -> usize {
        self.n - self.nulls
    }

    /// Whether row `i` holds a value.
    #[inline]
    pub(super) fn is_valid(&self, i: usize) -> bool {
        self.bits().is_none_or(|b| b[i >> 3] >> (i & 7) & 1 == 1)
    }

    /// An error unless `stored` values fill the valid rows exactly.
    fn check(&self, stored: usize) -> Result<()> {
        if stored != self.valid() {
            return Err(parquet_error(format!(
                "{stored} values for {} non-null rows",
                self.valid()
            )));
        }
        Ok(())
    }
}

/// The rows of `defs` (every row valid when the column is required).
fn validity(defs: Option<&[i16]>, max_def: i16, n: usize) -> Rows {
    let Some(defs) = defs else {
        return Rows {
            mask: None,
            nulls: 0,
            n,
        };
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
    Rows::from_bits(bytes, valid, n)
}

/// Spreads the non-null `vals` over the rows (default under nulls), converting each.
fn spread<S, D: Copy + Default>(
    vals: &[S],
    rows: &Rows,
    f: impl Fn(&S) -> Option<D>,
    what: &str,
) -> Result<Vec64<D>> {
    rows.check(vals.len())?;
    let bad = || parquet_error(format!("a stored value does not fit {what}"));
    let mut out: Vec64<D> = Vec64::with_capacity(rows.n);
    if rows.nulls > 0 {
        let mut it = vals.iter();
        for i in 0..rows.n {
            if rows.is_valid(i) {
                let v = it.next().ok_or_else(bad)?;
                out.push(f(v).ok_or_else(bad)?);
            } else {
                out.push(D::default());
            }
        }
    } else {
        for v in vals {
            out.push(f(v).ok_or_else(bad)?);
        }
    }
    Ok(out)
}

/// Spreads the non-null `vals` over the rows (default under nulls) with an
/// infallible conversion: a straight copy when no row is null.
fn spread_copy<S: Copy, D: Copy + Default>(
    vals: &[S],
    rows: &Rows,
    f: impl Fn(S) -> D,
) -> Result<Vec64<D>> {
    rows.check(vals.len())?;
    let mut out: Vec64<D> = Vec64::with_capacity(rows.n);
    if rows.nulls > 0 {
        out.resize(rows.n, D::default());
        let mut it = vals.iter();
        for (i, o) in out.iter_mut().enumerate() {
            if rows.is_valid(i)
                && let Some(&v) = it.next()
            {
                *o = f(v);
            }
        }
    } else {
        out.extend(vals.iter().map(|&v| f(v)));
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
    rows: Rows,
    pre: impl Fn(&S) -> Option<i128>,
) -> Result<FieldArray> {
    let (mask, nulls) = (rows.mask.clone(), rows.nulls);
    let what = arrow_type_name(&plan.field.dtype, None);
    macro_rules! ints {
        ($t:ty) => {
            spread(
                vals,
                &rows,
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
    rows: &Rows,
) -> Result<Option<FieldArray>> {
    let Some(target) = direct_target::<S>(plan) else {
        return Ok(None);
    };
    // One spread_copy call per element type (a closure called from several
    // arms kept the no-null case from compiling to a plain copy: 2.5% more
    // instructions on a whole read), and the values before the mask, as the
    // two near-copies had it (callgrind: the same count as they had).
    if let DirectTarget::Unsigned = target {
        let data = Buffer::from_vec64(spread_copy(vals, rows, S::to_unsigned)?);
        let (null_mask, nulls) = (rows.mask.clone(), rows.nulls);
        let array = IntegerArray { data, null_mask };
        let array = Array::NumericArray(S::unsigned(array));
        return Ok(Some(field_array(plan, array, nulls)));
    }
    // Signed, decimal and temporal targets hold the stored values as they are.
    let data = spread_copy(vals, rows, |v| v)?;
    Ok(Some(same_bits(plan, target, data, rows)))
}

/// How `plan`'s target takes values of `S`'s width as they are, if it does.
fn direct_target<S: StoredInt>(plan: &ColumnPlan) -> Option<DirectTarget> {
    if !int_is_identity(plan) {
        return None;
    }
    S::direct_target(&plan.field.dtype)
}

/// The array of a target that holds the stored values as they are (signed,
/// decimal, temporal; not `Unsigned`, which needs a bit-cast), from `data`
/// already spread over the rows.
fn same_bits<S: StoredInt>(
    plan: &ColumnPlan,
    target: DirectTarget,
    data: Vec64<S>,
    rows: &Rows,
) -> FieldArray {
    let data = Buffer::from_vec64(data);
    let (null_mask, nulls) = (rows.mask.clone(), rows.nulls);
    let array = match target {
        DirectTarget::Decimal(precision, scale) => Array::NumericArray(S::decimal(DecimalArray {
            data,
            null_mask,
            precision,
            scale,
        })),
        DirectTarget::Temporal(time_unit) => Array::TemporalArray(S::temporal(DatetimeArray {
            data,
            null_mask,
            time_unit,
        })),
        DirectTarget::Signed | DirectTarget::Unsigned => {
            Array::NumericArray(S::signed(IntegerArray { data, null_mask }))
        }
    };
    field_array(plan, array, nulls)
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

/// A string column built row by row into one offsets and one data buffer:
/// no allocation per value. Values from a dictionary that was checked as a
/// whole skip the UTF-8 check ([`StrBuilder::push_span`]); the others are
/// checked once over the whole buffer at the end.
pub(super) struct StrBuilder<O> {
    data: Vec64<u8>,
    offsets: Vec64<O>,
    /// Whether a value not yet checked as UTF-8 went in.
    unchecked: bool,
}

impl<O: Integer + Default + StrOffset> StrBuilder<O> {
    pub(super) fn new(n: usize) -> Self {
        let mut offsets: Vec64<O> = Vec64::with_capacity(n + 1);
        offsets.push(O::default());
        StrBuilder {
            data: Vec64::new(),
            offsets,
            unchecked: false,
        }
    }

    /// Room for `bytes` more bytes of values (and the over-copy of
    /// [`StrBuilder::push_span`]).
    pub(super) fn reserve(&mut self, bytes: usize) {
        self.data.reserve(bytes + SHORT);
    }

    fn end(&mut self) -> Result<()> {
        let o = O::offset(self.data.len()).ok_or_else(offsets_overflow)?;
        self.offsets.push(o);
        Ok(())
    }

    /// The next row: `src[a..b]`, known to be UTF-8. A value of up to
    /// [`SHORT`] bytes is copied as `SHORT` bytes and the tail cut off again:
    /// a fixed-size move instead of a `memcpy` call per value (14% of a read
    /// of the bench file went to those calls).
    pub(super) fn push_span(&mut self, src: &[u8], a: usize, b: usize) -> Result<()> {
        copy_span(&mut self.data, src, a, b);
        self.end()
    }

    /// The next row: `bytes`, known to be UTF-8.
    pub(super) fn push_checked(&mut self, bytes: &[u8]) -> Result<()> {
        self.data.extend_from_slice(bytes);
        self.end()
    }

    /// The column (checked as UTF-8 where needed), `rows` giving its validity.
    pub(super) fn finish(self, plan: &ColumnPlan, rows: Rows) -> Result<FieldArray> {
        let n = self.offsets.len() - 1;
        if self.unchecked
            && let Err(e) = std::str::from_utf8(&self.data)
        {
            let at = e.valid_up_to();
            let row = self
                .offsets
                .iter()
                .position(|o| o.to_usize().is_some_and(|u| u > at))
                .map_or(n, |r| r.saturating_sub(1));
            return Err(parquet_error(format!("row {row} is not valid UTF-8")));
        }
        let (offsets, data) = (
            Buffer::from_vec64(self.offsets),
            Buffer::from_vec64(self.data),
        );
        let null_mask = rows.mask;
        let text = O::text(StringArray {
            offsets,
            data,
            null_mask,
        });
        Ok(field_array(plan, Array::TextArray(text), rows.nulls))
    }
}

/// Bytes a short string value is copied as ([`StrBuilder::push_span`]).
const SHORT: usize = 16;

/// The two offset widths of minarrow strings.
pub(super) trait StrOffset: Sized {
    fn offset(len: usize) -> Option<Self>;
    /// `len` as an offset, wrapping: only where the last offset is checked.
    fn wrapping(len: usize) -> Self;
    fn text(a: StringArray<Self>) -> TextArray;
}

impl StrOffset for u32 {
    fn offset(len: usize) -> Option<u32> {
        u32::try_from(len).ok()
    }
    fn wrapping(len: usize) -> u32 {
        len as u32
    }
    fn text(a: StringArray<u32>) -> TextArray {
        TextArray::String32(Arc::new(a))
    }
}

impl StrOffset for u64 {
    fn wrapping(len: usize) -> u64 {
        len as u64
    }
    fn offset(len: usize) -> Option<u64> {
        Some(len as u64)
    }
    fn text(a: StringArray<u64>) -> TextArray {
        TextArray::String64(Arc::new(a))
    }
}

/// The error of string bytes past what the offsets' type holds.
fn offsets_overflow() -> crate::Error {
    parquet_error("strings exceed 32-bit offsets (read as large_string)")
}

/// Appends `src[a..b]` to `data`: a value of up to [`SHORT`] bytes as
/// `SHORT` bytes with the tail cut off again (see
/// [`StrBuilder::push_span`]).
#[inline]
fn copy_span(data: &mut Vec64<u8>, src: &[u8], a: usize, b: usize) {
    let short = src
        .get(a..a + SHORT)
        .and_then(|c| <&[u8; SHORT]>::try_from(c).ok());
    match short {
        Some(chunk) if b - a <= SHORT => {
            let at = data.len();
            data.extend_from_slice(chunk);
            data.truncate(at + (b - a));
        }
        _ => data.extend_from_slice(&src[a..b]),
    }
}

/// A categorical column built row by row: keys in order of first
/// appearance in the batch, one `String` per distinct value.
pub(super) struct CatBuilder<K> {
    index: HashMap<Vec<u8>, K>,
    unique: Vec64<String>,
    keys: Vec64<K>,
    capacity: u64,
    /// Key of each dictionary entry met in this batch (column.rs): a
    /// dictionary index becomes its key without hashing its bytes.
    by_index: Vec<Option<K>>,
    /// Entries of `by_index` that hold a key.
    assigned: usize,
    /// `by_index` without the `Option` (the default where there is no key
    /// yet): what the rows' keys are read from once their entries have keys.
    keys_of: Vec<K>,
    index_type: &'static str,
}

impl<K: Integer + Default> CatBuilder<K> {
    fn new(plan: &ColumnPlan, n: usize) -> Self {
        let bits = plan
            .dictionary
            .map_or(32, |d| d.index_type.byte_width() as u32 * 8);
        let signed = plan.dictionary.is_some_and(|d| d.index_type.is_signed());
        let capacity = if signed {
            1u64 << (bits - 1).min(63)
        } else if bits >= 64 {
            u64::MAX
        } else {
            1u64 << bits
        };
        CatBuilder {
            index: HashMap::new(),
            unique: Vec64::new(),
            keys: Vec64::with_capacity(n),
            capacity,
            by_index: Vec::new(),
            assigned: 0,
            keys_of: Vec::new(),
            index_type: plan.dictionary.map_or("?", |d| d.index_type.name()),
        }
    }

    /// The key of `bytes` (row `row`), added if new.
    fn key(&mut self, bytes: &[u8], row: usize) -> Result<K> {
        if let Some(k) = self.index.get(bytes) {
            return Ok(*k);
        }
        if self.unique.len() as u64 >= self.capacity {
            return Err(parquet_error(format!(
                "more than {} distinct values in one batch do not fit the \
                 dictionary's {} keys (read fewer rows per batch, or without ARROW:schema)",
                self.capacity, self.index_type
            )));
        }
        let s = std::str::from_utf8(bytes)
            .map_err(|_| parquet_error(format!("row {row} is not valid UTF-8")))?;
        let k = K::from_usize(self.unique.len());
        self.unique.push(s.to_string());
        self.index.insert(bytes.to_vec(), k);
        Ok(k)
    }

    /// Entry `i` (below `by_index.len()`) has key `k`.
    fn assign(&mut self, i: usize, k: K) {
        if let (Some(slot), Some(key)) = (self.by_index.get_mut(i), self.keys_of.get_mut(i)) {
            *slot = Some(k);
            *key = k;
            self.assigned += 1;
        }
    }

    /// The next row: entry `i` (bytes `bytes`) of a dictionary of `len` entries.
    pub(super) fn push_entry(&mut self, i: usize, len: usize, bytes: &[u8]) -> Result<()> {
        if self.by_index.len() < len {
            self.by_index.resize(len, None);
            self.keys_of.resize(len, K::default());
        }
        let k = match self.by_index.get(i).copied().flatten() {
            Some(k) => k,
            None => {
                let k = self.key(bytes, self.keys.len())?;
                self.assign(i, k);
                k
            }
        };
        self.keys.push(k);
        Ok(())
    }

    fn finish(self, rows: Rows) -> (CategoricalArray<K>, usize) {
        (
            CategoricalArray {
                data: Buffer::from_vec64(self.keys),
                unique_values: self.unique,
                null_mask: rows.mask,
            },
            rows.nulls,
        )
    }
}

/// Where a dictionary entry's bytes start and end (a page's size is an i32
/// in its header, so `u32` holds any; half the cache of a `usize` pair).
pub(super) type Span = (u32, u32);

/// A dictionary of byte arrays as [`TextBuilder::push_indexed`] reads it: the
/// entries' bytes back to back (column.rs copies them out of the dictionary
/// page), each entry's span in `bytes`, and which entries are not UTF-8 (empty
/// when none; those are checked again as a PLAIN value is, so that the error
/// names the row the crate's path names).
pub(super) struct DictText<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) spans: &'a [Span],
    pub(super) bad: &'a [bool],
}

impl DictText<'_> {
    /// Entry `i`'s span in `bytes` (`i` below the dictionary's length).
    #[inline]
    pub(super) fn span(&self, i: usize) -> (usize, usize) {
        let (a, b) = self.spans[i];
        (a as usize, b as usize)
    }
}

/// The rows a string and a categorical builder take.
trait Entries {
    /// The next row: `bytes`, to be checked as UTF-8.
    fn push(&mut self, bytes: &[u8]) -> Result<()>;
    /// The next row: a null.
    fn push_null(&mut self) -> Result<()>;
    /// The next row: entry `i` of a dictionary of `len` entries, its bytes
    /// `src[a..b]` already checked as UTF-8.
    fn entry(&mut self, i: usize, len: usize, src: &[u8], span: (usize, usize)) -> Result<()>;
    /// One valid row each of the entries `idx` (each below the dictionary's
    /// length), none of them bad.
    fn entries(&mut self, dict: &DictText, idx: &[u32]) -> Result<()> {
        let len = dict.spans.len();
        idx.iter()
            .try_for_each(|&i| self.entry(i as usize, len, dict.bytes, dict.span(i as usize)))
    }
}

impl<O: Integer + Default + StrOffset> Entries for StrBuilder<O> {
    fn push(&mut self, bytes: &[u8]) -> Result<()> {
        // A value that starts with a continuation byte cannot be UTF-8 on
        // its own; with that, one check of the whole buffer at the end covers
        // every value (valid pieces concatenate to valid UTF-8 and back).
        if bytes.first().is_some_and(|&b| (b as i8) < -0x40) {
            return Err(parquet_error(format!(
                "row {} is not valid UTF-8",
                self.offsets.len() - 1
            )));
        }
        self.unchecked = true;
        self.push_checked(bytes)
    }
    #[inline]
    fn push_null(&mut self) -> Result<()> {
        self.end()
    }
    #[inline]
    fn entry(&mut self, _: usize, _: usize, src: &[u8], (a, b): (usize, usize)) -> Result<()> {
        self.push_span(src, a, b)
    }
    /// Two passes. The offsets first: one `extend`, each the running total of
    /// the entries' lengths cast as it is, and the last one checked (offsets
    /// only grow, so they fit when the last one does). Then the bytes, into
    /// room reserved once for them all: each value at its known position
    /// with no length or capacity update per value, a value of up to
    /// [`SHORT`] bytes as one fixed-size copy of `SHORT` bytes when the
    /// dictionary has them (the next value overwrites the excess).
    fn entries(&mut self, dict: &DictText, idx: &[u32]) -> Result<()> {
        let start = self.data.len();
        let mut end = start;
        self.offsets.extend(idx.iter().map(|&i| {
            let (a, b) = dict.span(i as usize);
            end += b - a;
            O::wrapping(end)
        }));
        if O::offset(end).is_none() {
            return Err(offsets_overflow());
        }
        let total = end - start;
        self.data.reserve(total + SHORT);
        let room = &mut self.data.spare_capacity_mut()[..total + SHORT];
        let src = dict.bytes;
        // A value starting at or below `src_short` has `SHORT` bytes in the
        // dictionary; one written at or below `total` has `SHORT` bytes of room.
        let src_short = src.len().checked_sub(SHORT);
        let mut at = 0;
        for &i in idx {
            let (a, b) = dict.span(i as usize);
            let len = b - a;
            if len <= SHORT && src_short.is_some_and(|s| a <= s) && at <= total {
                // SAFETY: `a + SHORT <= src.len()` and `at + SHORT <=
                // room.len()` (`room` is `total + SHORT` long), both checked
                // just above; `src` (the dictionary's values) and `room` (spare
                // capacity of `self.data`) do not overlap; writing bytes
                // into `MaybeUninit<u8>` is always valid.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        src.as_ptr().add(a),
                        room.as_mut_ptr().add(at).cast::<u8>(),
                        SHORT,
                    );
                }
            } else {
                let (Some(to), Some(from)) = (room.get_mut(at..at + len), src.get(a..b)) else {
                    return Err(parquet_error("string values past their reserved room"));
                };
                to.write_copy_of_slice(from);
            }
            at += len;
        }
        if at != total {
            return Err(parquet_error("string values past their reserved room"));
        }
        // SAFETY: the bytes `start..end` are initialised: the loop wrote each
        // value's `len` bytes at `at`, the running total of the lengths
        // before it, so the values cover `0..total` of the spare capacity
        // without a gap (`at` ended at `total`, checked above), and
        // `reserve` made room for `total + SHORT` bytes.
        unsafe { self.data.set_len(end) };
        Ok(())
    }
}

impl<K: Integer + Default> Entries for CatBuilder<K> {
    fn push(&mut self, bytes: &[u8]) -> Result<()> {
        let k = self.key(bytes, self.keys.len())?;
        self.keys.push(k);
        Ok(())
    }
    #[inline]
    fn push_null(&mut self) -> Result<()> {
        self.keys.push(K::default());
        Ok(())
    }
    #[inline]
    fn entry(&mut self, i: usize, len: usize, src: &[u8], (a, b): (usize, usize)) -> Result<()> {
        self.push_entry(i, len, &src[a..b])
    }
    /// Two passes: entries met for the first time get their keys (in row
    /// order, as row by row), then every row's key in one `extend`. The
    /// first pass stops once every entry of the dictionary has its key (a
    /// small dictionary is usually complete after a few hundred rows of a
    /// batch, and stays so for the batch's later pieces).
    fn entries(&mut self, dict: &DictText, idx: &[u32]) -> Result<()> {
        let len = dict.spans.len();
        if self.by_index.len() < len {
            self.by_index.resize(len, None);
            self.keys_of.resize(len, K::default());
        }
        let first = self.keys.len();
        if self.assigned < len {
            for (j, &i) in idx.iter().enumerate() {
                let i = i as usize;
                if self.by_index[i].is_none() {
                    let (a, b) = dict.span(i);
                    let k = self.key(&dict.bytes[a..b], first + j)?;
                    self.assign(i, k);
                    if self.assigned == len {
                        break;
                    }
                }
            }
        }
        let keys_of = &self.keys_of[..];
        (self.keys).extend(idx.iter().map(|&i| keys_of[i as usize]));
        Ok(())
    }
}

/// [`TextBuilder::push_indexed`] for one builder type.
fn indexed<B: Entries>(
    b: &mut B,
    dict: &DictText,
    idx: &[u32],
    valid: Option<(&[u8], usize)>,
    k: usize,
) -> Result<()> {
    let len = dict.spans.len();
    let one = |b: &mut B, i: u32| {
        let i = i as usize;
        let span = dict.span(i);
        if dict.bad.get(i).copied().unwrap_or(false) {
            b.push(&dict.bytes[span.0..span.1])
        } else {
            b.entry(i, len, dict.bytes, span)
        }
    };
    let Some((bits, first)) = valid else {
        if dict.bad.is_empty() {
            return b.entries(dict, idx);
        }
        return idx.iter().try_for_each(|&i| one(b, i));
    };
    let mut it = idx.iter();
    for r in first..first + k {
        let i = if bits[r >> 3] >> (r & 7) & 1 == 1 {
            it.next()
        } else {
            None
        };
        match i {
            Some(&i) => one(b, i)?,
            None => b.push_null()?,
        }
    }
    Ok(())
}

/// A string or categorical column built row by row (column.rs fills it
/// from pages; [`build`] from the crate's values).
pub(super) enum TextBuilder {
    Str32(StrBuilder<u32>),
    Str64(StrBuilder<u64>),
    Cat8(CatBuilder<u8>),
    Cat16(CatBuilder<u16>),
    Cat32(CatBuilder<u32>),
    Cat64(CatBuilder<u64>),
}

/// Calls `$body` with `$b` bound to the builder inside a [`TextBuilder`].
macro_rules! with_text {
    ($t:expr, $b:ident => $body:expr) => {
        match $t {
            TextBuilder::Str32($b) => $body,
            TextBuilder::Str64($b) => $body,
            TextBuilder::Cat8($b) => $body,
            TextBuilder::Cat16($b) => $body,
            TextBuilder::Cat32($b) => $body,
            TextBuilder::Cat64($b) => $body,
        }
    };
}

impl TextBuilder {
    /// The builder of `plan`'s target for `n` rows; None when the target is
    /// not text.
    pub(super) fn new(plan: &ColumnPlan, n: usize) -> Option<Self> {
        Some(match &plan.decode {
            Decode::Utf8 { large: false } => TextBuilder::Str32(StrBuilder::new(n)),
            Decode::Utf8 { large: true } => TextBuilder::Str64(StrBuilder::new(n)),
            Decode::Dictionary(enc) => match enc.index_type.byte_width() {
                1 => TextBuilder::Cat8(CatBuilder::new(plan, n)),
                2 => TextBuilder::Cat16(CatBuilder::new(plan, n)),
                4 => TextBuilder::Cat32(CatBuilder::new(plan, n)),
                _ => TextBuilder::Cat64(CatBuilder::new(plan, n)),
            },
            _ => return None,
        })
    }

    /// Room for `bytes` more bytes of values (string columns).
    pub(super) fn reserve(&mut self, bytes: usize) {
        match self {
            TextBuilder::Str32(b) => b.reserve(bytes),
            TextBuilder::Str64(b) => b.reserve(bytes),
            _ => {}
        }
    }

    /// Bytes of string values so far (0 for a categorical column).
    pub(super) fn data_len(&self) -> usize {
        match self {
            TextBuilder::Str32(b) => b.data.len(),
            TextBuilder::Str64(b) => b.data.len(),
            _ => 0,
        }
    }

    pub(super) fn push(&mut self, bytes: &[u8]) -> Result<()> {
        with_text!(self, b => b.push(bytes))
    }

    pub(super) fn push_null(&mut self) -> Result<()> {
        with_text!(self, b => b.push_null())
    }

    /// Whether the values are strings (not categorical keys).
    pub(super) fn is_strings(&self) -> bool {
        matches!(self, TextBuilder::Str32(_) | TextBuilder::Str64(_))
    }

    /// `k` rows of dictionary entries: `idx` holds the entry of each valid
    /// row, every one below the dictionary's length; `valid` the rows'
    /// validity (bits `first..first + k` of a bitmap), None when every row
    /// is valid. The builder is chosen once for the piece, not per row.
    pub(super) fn push_indexed(
        &mut self,
        dict: &DictText,
        idx: &[u32],
        valid: Option<(&[u8], usize)>,
        k: usize,
    ) -> Result<()> {
        with_text!(self, b => indexed(b, dict, idx, valid, k))
    }

    pub(super) fn finish(self, plan: &ColumnPlan, rows: Rows) -> Result<FieldArray> {
        let (text, nulls) = match self {
            TextBuilder::Str32(b) => return b.finish(plan, rows),
            TextBuilder::Str64(b) => return b.finish(plan, rows),
            TextBuilder::Cat8(b) => {
                let (a, nulls) = b.finish(rows);
                (TextArray::Categorical8(Arc::new(a)), nulls)
            }
            TextBuilder::Cat16(b) => {
                let (a, nulls) = b.finish(rows);
                (TextArray::Categorical16(Arc::new(a)), nulls)
            }
            TextBuilder::Cat32(b) => {
                let (a, nulls) = b.finish(rows);
                (TextArray::Categorical32(Arc::new(a)), nulls)
            }
            TextBuilder::Cat64(b) => {
                let (a, nulls) = b.finish(rows);
                (TextArray::Categorical64(Arc::new(a)), nulls)
            }
        };
        Ok(field_array(plan, Array::TextArray(text), nulls))
    }
}

/// A text column of the crate's byte arrays.
fn text(plan: &ColumnPlan, vals: &[ByteArray], rows: Rows) -> Result<FieldArray> {
    rows.check(vals.len())?;
    let Some(mut b) = TextBuilder::new(plan, rows.n) else {
        return Err(parquet_error(format!(
            "unexpected physical type {}",
            plan.physical
        )));
    };
    b.reserve(vals.iter().map(|v| v.len()).sum());
    let mut it = vals.iter();
    for i in 0..rows.n {
        if rows.is_valid(i) {
            let v = it
                .next()
                .ok_or_else(|| parquet_error("fewer values than rows"))?;
            b.push(v.data())?;
        } else {
            b.push_null()?;
        }
    }
    b.finish(plan, rows)
}

/// Stored (non-null) values of one batch of a column, by physical type.
pub(super) enum Values {
    Bool(Vec<bool>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    I96(Vec<Int96>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Fixed(Vec<FixedLenByteArray>),
    Bytes(Vec<ByteArray>),
}

/// The minarrow array of `plan` from the stored values of the valid `rows`.
pub(super) fn build(plan: &ColumnPlan, vals: Values, rows: Rows) -> Result<FieldArray> {
    let mismatch = || parquet_error(format!("unexpected physical type {}", plan.physical));
    let n = rows.n;
    match vals {
        Values::Bool(vals) => {
            let bits = spread(&vals, &rows, |v| Some(*v), "Boolean")?;
            let mut bytes: Vec64<u8> = Vec64::with_capacity(n.div_ceil(8));
            bytes.resize(n.div_ceil(8), 0);
            for (i, b) in bits.iter().enumerate() {
                if *b {
                    bytes[i / 8] |= 1 << (i % 8);
                }
            }
            let data = Bitmask::new(Buffer::from_vec64(bytes), n);
            let nulls = rows.nulls;
            Ok(field_array(
                plan,
                Array::BooleanArray(Arc::new(BooleanArray::new(data, rows.mask))),
                nulls,
            ))
        }
        Values::I32(vals) => ints(plan, &vals, rows, pre_i32(plan)),
        Values::I64(vals) => ints(plan, &vals, rows, pre_i64(plan)),
        Values::I96(vals) => {
            let to = target_unit(&plan.field.dtype).unwrap_or(TimeUnit::Nanoseconds);
            int_array(plan, &vals, rows, |v: &Int96| {
                rescale(v.to_nanos(), &TimeUnit::Nanoseconds, &to).map(i128::from)
            })
        }
        Values::F32(vals) => Ok(floats(plan, spread_copy(&vals, &rows, |v| v)?, rows)),
        Values::F64(vals) => Ok(floats(plan, spread_copy(&vals, &rows, |v| v)?, rows)),
        Values::Fixed(vals) => {
            if plan.decode != Decode::DecimalBytes {
                return Err(mismatch());
            }
            int_array(plan, &vals, rows, |v| decimal_from_be(v.data()))
        }
        Values::Bytes(vals) => match &plan.decode {
            Decode::DecimalBytes => {
                int_array(plan, &vals, rows, |v: &ByteArray| decimal_from_be(v.data()))
            }
            Decode::Utf8 { .. } | Decode::Dictionary(_) => text(plan, &vals, rows),
            _ => Err(mismatch()),
        },
    }
}

/// Fixed-width values our page decoders (column.rs) wrote straight into a
/// 64-byte aligned buffer (of capacity `n` rows): the valid rows' values, in
/// order.
pub(super) enum Dense {
    I32(Vec64<i32>),
    I64(Vec64<i64>),
    F32(Vec64<f32>),
    F64(Vec64<f64>),
}

/// [`build`] for [`Dense`] values: a target that holds the stored values as
/// they are (floats, and integers [`int_direct`] takes as they are) keeps the
/// buffer itself, spread over the rows in place, so the values are written
/// once and no second buffer is faulted in; the others convert as [`build`]
/// does.
pub(super) fn build_dense(plan: &ColumnPlan, vals: Dense, rows: Rows) -> Result<FieldArray> {
    fn dense_ints<S: StoredInt>(
        plan: &ColumnPlan,
        vals: Vec64<S>,
        rows: Rows,
        pre: impl Fn(&S) -> Option<i128>,
    ) -> Result<FieldArray> {
        match direct_target::<S>(plan) {
            Some(t) if !matches!(t, DirectTarget::Unsigned) => {
                Ok(same_bits(plan, t, spread_in_place(vals, &rows)?, &rows))
            }
            _ => ints(plan, &vals, rows, pre),
        }
    }
    match vals {
        Dense::I32(v) => dense_ints(plan, v, rows, pre_i32(plan)),
        Dense::I64(v) => dense_ints(plan, v, rows, pre_i64(plan)),
        Dense::F32(v) => Ok(floats(plan, spread_in_place(v, &rows)?, rows)),
        Dense::F64(v) => Ok(floats(plan, spread_in_place(v, &rows)?, rows)),
    }
}

/// Spreads `vals` (the valid rows' values, in order) over the rows in place,
/// from the last row back (a value only ever moves up): the type's default
/// under a null. Nothing moves before the last null.
fn spread_in_place<T: Copy + Default>(mut vals: Vec64<T>, rows: &Rows) -> Result<Vec64<T>> {
    rows.check(vals.len())?;
    let Some(bits) = rows.bits() else {
        return Ok(vals);
    };
    let mut j = vals.len();
    vals.resize(rows.n, T::default());
    // Invariant: the values of rows `0..i` are at `0..j`, and `j <= i`; at
    // `j == i` they are in place. The rows of a partial last byte one by
    // one, then eight rows (a byte of the bitmap) at a time: a byte of
    // valid rows moves eight values at once, a byte of nulls fills eight
    // defaults, and a mixed byte goes row by row without a branch on the
    // row's bit (nulls scattered at random defeat the branch predictor).
    let fewer = || parquet_error("fewer values than valid rows");
    let row = |vals: &mut Vec64<T>, j: usize, r: usize, valid: u8| -> Result<usize> {
        let valid = usize::from(valid & 1);
        let j = j.checked_sub(valid).ok_or_else(fewer)?;
        let v = vals.get(j).copied().unwrap_or_default();
        vals[r] = if valid == 1 { v } else { T::default() };
        Ok(j)
    };
    let mut i = rows.n;
    while j < i && i % 8 != 0 {
        i -= 1;
        j = row(&mut vals, j, i, bits[i >> 3] >> (i & 7))?;
    }
    while j < i {
        i -= 8;
        match bits[i >> 3] {
            0xff => {
                j = j.checked_sub(8).ok_or_else(fewer)?;
                vals.copy_within(j..j + 8, i);
            }
            0 => vals[i..i + 8].fill(T::default()),
            byte => {
                for r in (0..8).rev() {
                    j = row(&mut vals, j, i + r, byte >> r)?;
                }
            }
        }
    }
    Ok(vals)
}

/// INT32 and INT64 values of `plan` spread over the rows: [`int_direct`] when
/// the target takes them as they are, else [`int_array`] with `pre`.
fn ints<S: StoredInt>(
    plan: &ColumnPlan,
    vals: &[S],
    rows: Rows,
    pre: impl Fn(&S) -> Option<i128>,
) -> Result<FieldArray> {
    if let Some(a) = int_direct(plan, vals, &rows)? {
        return Ok(a);
    }
    int_array(plan, vals, rows, pre)
}

fn pre_i32(plan: &ColumnPlan) -> impl Fn(&i32) -> Option<i128> + '_ {
    move |v| int_pre(plan, i64::from(*v), 32)
}

fn pre_i64(plan: &ColumnPlan) -> impl Fn(&i64) -> Option<i128> + '_ {
    move |v| int_pre(plan, *v, 64)
}

/// A float column from `data`, already spread over `rows`.
fn floats<T: StoredFloat>(plan: &ColumnPlan, data: Vec64<T>, rows: Rows) -> FieldArray {
    let nulls = rows.nulls;
    let a = T::array(FloatArray {
        data: Buffer::from_vec64(data),
        null_mask: rows.mask,
    });
    field_array(plan, Array::NumericArray(a), nulls)
}

/// A stored Parquet float (FLOAT as `f32`, DOUBLE as `f64`) and its array.
trait StoredFloat: Copy + Default {
    fn array(a: FloatArray<Self>) -> NumericArray;
}

impl StoredFloat for f32 {
    fn array(a: FloatArray<f32>) -> NumericArray {
        NumericArray::Float32(Arc::new(a))
    }
}

impl StoredFloat for f64 {
    fn array(a: FloatArray<f64>) -> NumericArray {
        NumericArray::Float64(Arc::new(a))
    }
}

/// Reads `n` rows of one column and builds its minarrow array.
pub(super) fn read_column(
    reader: &mut ColumnReader,
    plan: &ColumnPlan,
    n: usize,
) -> Result<FieldArray> {
    let md = plan.max_def;
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
    macro_rules! stored {
        ($r:expr, $v:ident) => {{
            let (vals, defs) = read_values($r, md, n)?;
            (Values::$v(vals), validity(defs.as_deref(), md, n))
        }};
    }
    let (vals, rows) = match reader {
        ColumnReader::BoolColumnReader(r) => stored!(r, Bool),
        ColumnReader::Int32ColumnReader(r) => stored!(r, I32),
        ColumnReader::Int64ColumnReader(r) => stored!(r, I64),
        ColumnReader::Int96ColumnReader(r) => stored!(r, I96),
        ColumnReader::FloatColumnReader(r) => stored!(r, F32),
        ColumnReader::DoubleColumnReader(r) => stored!(r, F64),
        ColumnReader::FixedLenByteArrayColumnReader(r) => stored!(r, Fixed),
        ColumnReader::ByteArrayColumnReader(r) => stored!(r, Bytes),
    };
    build(plan, vals, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spreading in place (whole bytes of valid rows moved at once, bytes of
    /// nulls filled, mixed bytes row by row, a partial last byte) equals the
    /// obvious row-by-row spread, for every row count up to 40 and patterns
    /// of all-valid, all-null, alternating and scattered bytes; a value
    /// short of the valid rows is an error, not a panic.
    #[test]
    fn spreading_in_place_equals_row_by_row() {
        let patterns: [fn(usize) -> bool; 6] = [
            |_| true,
            |_| false,
            |i| i % 2 == 0,
            |i| (i / 8) % 2 == 0,
            |i| (i * 7 + 3) % 10 != 0,
            |i| !(5..21).contains(&i),
        ];
        for n in 0..=40 {
            for valid in patterns {
                let bools: Vec<bool> = (0..n).map(valid).collect();
                let mut bits = Vec64::from_slice(&vec![0u8; n.div_ceil(8)]);
                for (i, _) in bools.iter().enumerate().filter(|(_, v)| **v) {
                    bits[i / 8] |= 1 << (i % 8);
                }
                let k = bools.iter().filter(|v| **v).count();
                let rows = Rows::from_bits(bits, k, n);
                let vals: Vec64<i64> = (0..k as i64).map(|v| v * 10 + 1).collect();
                let mut it = vals.iter();
                let want: Vec<i64> = bools
                    .iter()
                    .map(|&v| if v { *it.next().unwrap() } else { 0 })
                    .collect();
                let got = spread_in_place(vals.clone(), &rows).expect("spread");
                assert_eq!(got.as_slice(), want.as_slice(), "n {n}, {bools:?}");
                if k > 0 {
                    let short: Vec64<i64> = vals[1..].iter().copied().collect();
                    assert!(spread_in_place(short, &rows).is_err());
                }
            }
        }
    }

    /// Dictionary entries of the string tests: empty, short, exactly and
    /// just over `SHORT` bytes, multi-byte UTF-8, and a last one with fewer
    /// than `SHORT` bytes after its start.
    const ENTRIES: [&str; 6] = [
        "",
        "a",
        "sixteen-bytes-xx",
        "seventeen-bytes-x",
        "Zürich",
        "x",
    ];

    /// [`ENTRIES`] as a dictionary page's bytes and each entry's span.
    struct TestDict {
        bytes: Vec<u8>,
        spans: Vec<Span>,
    }

    impl TestDict {
        fn new() -> Self {
            let mut bytes = Vec::new();
            let mut spans = Vec::new();
            for e in ENTRIES {
                spans.push((bytes.len() as u32, (bytes.len() + e.len()) as u32));
                bytes.extend_from_slice(e.as_bytes());
            }
            TestDict { bytes, spans }
        }

        fn text(&self) -> DictText<'_> {
            DictText {
                bytes: &self.bytes,
                spans: &self.spans,
                bad: &[],
            }
        }
    }

    /// A batch filled in two pieces (any split) equals the whole: strings
    /// (the second piece written after the first's bytes, values at the
    /// dictionary's end with fewer than `SHORT` bytes after them) and
    /// categorical keys (the first-seen pass that stops once every entry
    /// has its key) against row-by-row `push_entry`.
    #[test]
    fn dictionary_pieces_equal_the_whole_batch() {
        let entries = ENTRIES;
        let d = TestDict::new();
        let (bytes, spans, dict) = (&d.bytes, &d.spans, d.text());
        // Entry 5 first appears late, after many rows of the others.
        let idx: Vec<u32> = (0..60u32)
            .map(|i| {
                if i < 30 {
                    (i * 7) % 5
                } else {
                    (i * 7 + i / 3) % 6
                }
            })
            .collect();
        let want: String = idx.iter().map(|&i| entries[i as usize]).collect();
        let cat = || CatBuilder::<u32> {
            index: HashMap::new(),
            unique: Vec64::new(),
            keys: Vec64::new(),
            capacity: 1 << 32,
            by_index: Vec::new(),
            assigned: 0,
            keys_of: Vec::new(),
            index_type: "uint32",
        };
        let mut slow = cat();
        for &i in &idx {
            let (a, b) = dict.span(i as usize);
            slow.push_entry(i as usize, spans.len(), &bytes[a..b])
                .unwrap();
        }
        for split in [0, 1, 5, 17, 31, 59, 60] {
            let (one, two) = idx.split_at(split);
            let mut s = StrBuilder::<u32>::new(idx.len());
            s.entries(&dict, one).unwrap();
            s.entries(&dict, two).unwrap();
            assert_eq!(s.data.as_slice(), want.as_bytes(), "split {split}");
            let mut at = 0u32;
            let mut offsets = vec![0u32];
            for &i in &idx {
                at += entries[i as usize].len() as u32;
                offsets.push(at);
            }
            assert_eq!(s.offsets.as_slice(), offsets.as_slice(), "split {split}");
            let mut c = cat();
            c.entries(&dict, one).unwrap();
            c.entries(&dict, two).unwrap();
            assert_eq!(c.keys.as_slice(), slow.keys.as_slice(), "split {split}");
            assert_eq!(c.unique.as_slice(), slow.unique.as_slice(), "split {split}");
            assert_eq!(c.assigned, 6);
        }
    }

    /// Dictionary strings of an all-valid piece (one `extend`, offsets cast
    /// and the last checked) equal the row-by-row path's, short values (the
    /// 16-byte over-copy), long ones and empty ones alike.
    #[test]
    fn all_valid_dictionary_strings_equal_row_by_row() {
        let entries = ENTRIES;
        let d = TestDict::new();
        let dict = d.text();
        let idx: Vec<u32> = (0..40u32).map(|i| (i * 7 + i / 3) % 6).collect();
        let ones = vec![0xffu8; 6];
        let mut fast = StrBuilder::<u32>::new(idx.len());
        indexed(&mut fast, &dict, &idx, None, idx.len()).unwrap();
        let mut slow = StrBuilder::<u32>::new(idx.len());
        indexed(&mut slow, &dict, &idx, Some((&ones, 3)), idx.len()).unwrap();
        assert_eq!(fast.data.as_slice(), slow.data.as_slice());
        assert_eq!(fast.offsets.as_slice(), slow.offsets.as_slice());
        let want: String = idx.iter().map(|&i| entries[i as usize]).collect();
        assert_eq!(fast.data.as_slice(), want.as_bytes());
        let last = fast.offsets.as_slice().last().copied();
        assert_eq!(last, Some(want.len() as u32));
    }

    /// `spread_in_place` puts each valid row's value where `spread_copy`
    /// (the copying path) puts it, whatever the nulls' places, and refuses
    /// a count that does not match the valid rows.
    #[test]
    fn spreading_in_place_equals_spreading_by_copy() {
        let patterns: [&[bool]; 7] = [
            &[true; 9],
            &[false; 9],
            &[false, true, true, true, true, true, true, true, true],
            &[true, true, true, true, true, true, true, true, false],
            &[true, false, true, false, false, true, true, false, true],
            &[false, false, true, true, true, true, true, true, true],
            &[true; 0],
        ];
        for valid in patterns {
            let n = valid.len();
            let mut bytes: Vec64<u8> = Vec64::new();
            bytes.resize(n.div_ceil(8), 0);
            for (i, _) in valid.iter().enumerate().filter(|(_, v)| **v) {
                bytes[i / 8] |= 1 << (i % 8);
            }
            let count = valid.iter().filter(|v| **v).count();
            let rows = || Rows::from_bits(bytes.clone(), count, n);
            let vals: Vec<i64> = (1..=count as i64).map(|v| v * 11).collect();
            let mut dense: Vec64<i64> = Vec64::with_capacity(n);
            dense.extend_from_slice(&vals);
            let want = spread_copy(&vals, &rows(), |v| v).unwrap();
            let got = spread_in_place(dense, &rows()).unwrap();
            assert_eq!(got.as_slice(), want.as_slice(), "{valid:?}");
            let expected: Vec<i64> = {
                let mut it = vals.iter();
                valid
                    .iter()
                    .map(|&v| if v { *it.next().unwrap() } else { 0 })
                    .collect()
            };
            assert_eq!(got.as_slice(), expected.as_slice(), "{valid:?}");
            if count < n {
                let mut short: Vec64<i64> = Vec64::new();
                short.extend_from_slice(&vals[..count.saturating_sub(1)]);
                short.push(1);
                short.push(2);
                let err = spread_in_place(short, &rows()).unwrap_err().to_string();
                assert!(err.contains("values for"), "{err}");
            }
        }
    }
}
