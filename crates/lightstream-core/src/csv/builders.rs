//! Column builders: one cell's text -> the value in a column's `Vec64`
//! buffer (with its validity bit), a column at a time over the queued rows
//! ([`Column::push_cells`], with fast loops for the common types) or a cell
//! at a time ([`Column::push`]), rolled back by [`Column::truncate`] and
//! moved out as a minarrow column by [`Column::finish`]. Not the splitting
//! of records (`tokenizer.rs`) or what to do with a bad cell (`rows.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use minarrow::ffi::arrow_dtype::CategoricalIndexType;
use minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, CategoricalArray, DatetimeArray, DecimalArray, Field,
    FieldArray, FloatArray, IntegerArray, NumericArray, StringArray, TemporalArray, TextArray,
    TimeUnit, Vec64,
};

use super::StringNulls;
use super::infer::BoolValues;
use super::nulls::{NullRule, NullTokens};
use super::text::{
    DateCache, parse_date, parse_decimal, parse_f32, parse_f64, parse_i64, parse_time,
    parse_timestamp, parse_timestamp_cached, parse_u64, to_units,
};
use crate::display::{pyarrow_type_name, unit_digits};
use crate::error::{Error, Result};

/// Why a cell did not convert (the caller words the error).
pub(super) enum CellError {
    Unparsable,
    InvalidUtf8,
    UnexpectedNull,
    DictionaryFull,
    TooLong,
}

/// A row waiting in [`TableAssembler::append`](super::rows::TableAssembler)'s batch.
#[derive(Clone, Copy)]
pub(super) struct PendingRow {
    pub(super) sep: usize,
    pub(super) last_line: u64,
    /// The record's bytes are valid UTF-8 (known ASCII or validated).
    pub(super) utf8_ok: bool,
    /// Its cells are offsets into the chunk being fed, not into `pend_bytes`.
    pub(super) in_chunk: bool,
    /// Its quoted fields: `pend_quoted[quoted_start..quoted_end]`.
    pub(super) quoted_start: usize,
    pub(super) quoted_end: usize,
}

/// Bit-packed booleans (values or validity) being built.
#[derive(Default)]
struct Bits {
    bytes: Vec64<u8>,
    len: usize,
}

impl Bits {
    /// `len` set bits.
    fn ones(len: usize) -> Self {
        let mut b = Bits {
            bytes: Vec64::with_capacity(len.div_ceil(8) + 8),
            len: 0,
        };
        b.push_ones(len);
        b
    }

    /// Appends `n` set bits: the last byte's free bits, then whole bytes.
    fn push_ones(&mut self, n: usize) {
        let used = self.len % 8;
        let head = if used == 0 { 0 } else { (8 - used).min(n) };
        if head > 0
            && let Some(last) = self.bytes.last_mut()
        {
            *last |= (((1u16 << head) - 1) as u8) << used;
        }
        let rest = n - head;
        self.bytes.extend(std::iter::repeat_n(0xFFu8, rest / 8));
        if rest % 8 != 0 {
            self.bytes.push((1u8 << (rest % 8)) - 1);
        }
        self.len += n;
    }

    /// Appends the low `n` bits of `word` (1 ..= 64; the bits above them
    /// clear) with at most one byte ORed and one slice appended.
    fn push_bits(&mut self, word: u64, n: usize) {
        let used = self.len % 8;
        let bytes = (u128::from(word) << used).to_le_bytes();
        let mut first = 0;
        if used != 0
            && let Some(last) = self.bytes.last_mut()
        {
            *last |= bytes[0];
            first = 1;
        }
        let new_len = self.len + n;
        let more = new_len.div_ceil(8) - self.bytes.len();
        self.bytes.extend_from_slice(&bytes[first..first + more]);
        self.len = new_len;
    }

    #[inline]
    fn push(&mut self, v: bool) {
        if self.len % 8 == 0 {
            self.bytes.push(0);
        }
        if v && let Some(last) = self.bytes.last_mut() {
            *last |= 1 << (self.len % 8);
        }
        self.len += 1;
    }

    fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        self.bytes.truncate(len.div_ceil(8));
        if len % 8 != 0
            && let Some(last) = self.bytes.last_mut()
        {
            *last &= (1u8 << (len % 8)) - 1;
        }
        self.len = len;
    }

    fn count_ones(&self) -> usize {
        self.bytes.iter().map(|b| b.count_ones() as usize).sum()
    }

    fn take(&mut self) -> Bitmask {
        let len = self.len;
        self.len = 0;
        Bitmask::new(std::mem::take(&mut self.bytes), len)
    }
}

enum Values {
    Null(usize),
    Bool(Bits),
    I8(Vec64<i8>),
    I16(Vec64<i16>),
    I32(Vec64<i32>),
    I64(Vec64<i64>),
    U8(Vec64<u8>),
    U16(Vec64<u16>),
    U32(Vec64<u32>),
    U64(Vec64<u64>),
    F32(Vec64<f32>),
    F64(Vec64<f64>),
    Str32 {
        offsets: Vec64<u32>,
        data: Vec64<u8>,
    },
    Str64 {
        offsets: Vec64<u64>,
        data: Vec64<u8>,
    },
    Date32(Vec64<i32>),
    Date64(Vec64<i64>),
    /// Time32 (s or ms): fraction digits of the unit.
    Time32(Vec64<i32>, u32),
    /// Time64 (us or ns).
    Time64(Vec64<i64>, u32),
    /// Timestamp: fraction digits, and whether the column has a time zone.
    Timestamp(Vec64<i64>, u32, bool),
    Duration(Vec64<i64>),
    Dec32(Vec64<i32>, u8, i8),
    Dec64(Vec64<i64>, u8, i8),
    Dec128(Vec64<i128>, u8, i8),
    Dict {
        keys: Vec64<u64>,
        values: Vec64<String>,
        index: HashMap<Box<str>, u64>,
        max: u64,
    },
}

pub(super) struct Column {
    pub(super) field: Arc<Field>,
    values: Values,
    /// Values pushed so far (nulls included).
    len: usize,
    /// Validity, built from the first null on (`None`: every value is valid).
    valid: Option<Bits>,
    /// Which cells are null.
    pub(super) null_rule: NullRule,
}
fn new_offsets<T: Default>() -> Vec64<T> {
    let mut v = Vec64::new();
    v.push(T::default());
    v
}

impl Column {
    pub(super) fn check_type(t: &ArrowType) -> Result<()> {
        match t {
            ArrowType::Interval(_) | ArrowType::Utf8View | ArrowType::Duration32(_) => {
                Err(Error::unsupported(format!(
                    "CSV cannot read columns of type {}",
                    pyarrow_type_name(t, None)
                )))
            }
            ArrowType::Timestamp(TimeUnit::Days, _)
            | ArrowType::Time32(TimeUnit::Days | TimeUnit::Microseconds | TimeUnit::Nanoseconds)
            | ArrowType::Time64(TimeUnit::Days | TimeUnit::Seconds | TimeUnit::Milliseconds)
            | ArrowType::Duration64(TimeUnit::Days) => Err(Error::unsupported(format!(
                "{} is not a valid Arrow type",
                pyarrow_type_name(t, None)
            ))),
            _ => Ok(()),
        }
    }

    pub(super) fn new(field: Arc<Field>, text_nullable: bool, string_nulls: StringNulls) -> Self {
        let values = match &field.dtype {
            ArrowType::Null => Values::Null(0),
            ArrowType::Boolean => Values::Bool(Bits::default()),
            ArrowType::Int8 => Values::I8(Vec64::new()),
            ArrowType::Int16 => Values::I16(Vec64::new()),
            ArrowType::Int32 => Values::I32(Vec64::new()),
            ArrowType::Int64 => Values::I64(Vec64::new()),
            ArrowType::UInt8 => Values::U8(Vec64::new()),
            ArrowType::UInt16 => Values::U16(Vec64::new()),
            ArrowType::UInt32 => Values::U32(Vec64::new()),
            ArrowType::UInt64 => Values::U64(Vec64::new()),
            ArrowType::Float32 => Values::F32(Vec64::new()),
            ArrowType::Float64 => Values::F64(Vec64::new()),
            ArrowType::LargeString => Values::Str64 {
                offsets: new_offsets(),
                data: Vec64::new(),
            },
            ArrowType::Date32 => Values::Date32(Vec64::new()),
            ArrowType::Date64 => Values::Date64(Vec64::new()),
            ArrowType::Time32(u) => Values::Time32(Vec64::new(), unit_digits(u)),
            ArrowType::Time64(u) => Values::Time64(Vec64::new(), unit_digits(u)),
            ArrowType::Timestamp(u, tz) => {
                Values::Timestamp(Vec64::new(), unit_digits(u), tz.is_some())
            }
            ArrowType::Duration64(_) => Values::Duration(Vec64::new()),
            ArrowType::Decimal32(p, s) => Values::Dec32(Vec64::new(), *p, *s),
            ArrowType::Decimal64(p, s) => Values::Dec64(Vec64::new(), *p, *s),
            ArrowType::Decimal128(p, s) => Values::Dec128(Vec64::new(), *p, *s),
            ArrowType::Dictionary(k) => Values::Dict {
                keys: Vec64::new(),
                values: Vec64::new(),
                index: HashMap::new(),
                max: match k {
                    CategoricalIndexType::UInt8 => u64::from(u8::MAX) + 1,
                    CategoricalIndexType::UInt16 => u64::from(u16::MAX) + 1,
                    CategoricalIndexType::UInt32 => u64::from(u32::MAX) + 1,
                    CategoricalIndexType::UInt64 => u64::MAX,
                },
            },
            // String, and anything check_type let through.
            _ => Values::Str32 {
                offsets: new_offsets(),
                data: Vec64::new(),
            },
        };
        let is_text = matches!(
            values,
            Values::Str32 { .. } | Values::Str64 { .. } | Values::Dict { .. }
        );
        Column {
            field,
            values,
            len: 0,
            valid: None,
            null_rule: NullRule {
                tokens: !is_text || text_nullable,
                quoting: is_text && string_nulls == StringNulls::Unquoted,
            },
        }
    }

    /// Room for `n` more values in the common buffers, so that a table fills
    /// without regrowing them (bounded by the caller).
    pub(super) fn reserve(&mut self, n: usize) {
        match &mut self.values {
            Values::I32(v) | Values::Date32(v) | Values::Time32(v, _) | Values::Dec32(v, ..) => {
                v.reserve(n)
            }
            Values::I64(v)
            | Values::Date64(v)
            | Values::Time64(v, _)
            | Values::Timestamp(v, ..)
            | Values::Duration(v)
            | Values::Dec64(v, ..) => v.reserve(n),
            Values::F64(v) => v.reserve(n),
            Values::Str32 { offsets, .. } => offsets.reserve(n),
            _ => {}
        }
    }

    pub(super) fn is_text(&self) -> bool {
        matches!(
            self.values,
            Values::Str32 { .. } | Values::Str64 { .. } | Values::Dict { .. }
        )
    }

    pub(super) fn push_null(&mut self) -> Result<(), CellError> {
        if !self.field.nullable {
            return Err(CellError::UnexpectedNull);
        }
        self.push_null_unchecked();
        Ok(())
    }

    /// Appends a null (a zero value under a cleared validity bit).
    pub(super) fn push_null_unchecked(&mut self) {
        match &mut self.values {
            Values::Null(n) => *n += 1,
            Values::Bool(b) => b.push(false),
            Values::I8(v) => v.push(0),
            Values::I16(v) => v.push(0),
            Values::I32(v) | Values::Date32(v) | Values::Time32(v, _) | Values::Dec32(v, ..) => {
                v.push(0)
            }
            Values::I64(v)
            | Values::Date64(v)
            | Values::Time64(v, _)
            | Values::Timestamp(v, ..)
            | Values::Duration(v)
            | Values::Dec64(v, ..) => v.push(0),
            Values::U8(v) => v.push(0),
            Values::U16(v) => v.push(0),
            Values::U32(v) => v.push(0),
            Values::U64(v) => v.push(0),
            Values::F32(v) => v.push(0.0),
            Values::F64(v) => v.push(0.0),
            Values::Dec128(v, ..) => v.push(0),
            Values::Str32 { offsets, data } => {
                // data.len() fits: it did when the last value was pushed.
                let last = offsets.last().copied().unwrap_or(0);
                debug_assert_eq!(last as usize, data.len());
                offsets.push(last);
            }
            Values::Str64 { offsets, .. } => {
                let last = offsets.last().copied().unwrap_or(0);
                offsets.push(last);
            }
            Values::Dict { keys, .. } => keys.push(0),
        }
        let len = self.len;
        self.valid
            .get_or_insert_with(|| Bits::ones(len))
            .push(false);
        self.len += 1;
    }

    /// Converts one non-null cell.
    #[inline]
    pub(super) fn push(
        &mut self,
        cell: &[u8],
        utf8_ok: bool,
        bools: &BoolValues,
    ) -> Result<(), CellError> {
        use CellError::Unparsable as U;
        fn int<T: TryFrom<i64>>(cell: &[u8]) -> Result<T, CellError> {
            parse_i64(cell)
                .and_then(|v| T::try_from(v).ok())
                .ok_or(CellError::Unparsable)
        }
        fn uint<T: TryFrom<u64>>(cell: &[u8]) -> Result<T, CellError> {
            parse_u64(cell)
                .and_then(|v| T::try_from(v).ok())
                .ok_or(CellError::Unparsable)
        }
        fn fits(v: i128, precision: u8) -> bool {
            10i128
                .checked_pow(u32::from(precision))
                .is_none_or(|lim| v.unsigned_abs() < lim.unsigned_abs())
        }
        match &mut self.values {
            Values::Null(_) => return Err(U),
            Values::Bool(b) => b.push(bools.parse(cell).ok_or(U)?),
            Values::I8(v) => v.push(int(cell)?),
            Values::I16(v) => v.push(int(cell)?),
            Values::I32(v) => v.push(int(cell)?),
            Values::I64(v) => v.push(parse_i64(cell).ok_or(U)?),
            Values::U8(v) => v.push(uint(cell)?),
            Values::U16(v) => v.push(uint(cell)?),
            Values::U32(v) => v.push(uint(cell)?),
            Values::U64(v) => v.push(parse_u64(cell).ok_or(U)?),
            Values::F32(v) => v.push(parse_f32(cell).ok_or(U)?),
            Values::F64(v) => v.push(parse_f64(cell).ok_or(U)?),
            Values::Str32 { offsets, data } => {
                if !utf8_ok && simdutf8::basic::from_utf8(cell).is_err() {
                    return Err(CellError::InvalidUtf8);
                }
                let end = u32::try_from(data.len() + cell.len()).map_err(|_| CellError::TooLong)?;
                data.extend_from_slice(cell);
                offsets.push(end);
            }
            Values::Str64 { offsets, data } => {
                if !utf8_ok && simdutf8::basic::from_utf8(cell).is_err() {
                    return Err(CellError::InvalidUtf8);
                }
                data.extend_from_slice(cell);
                offsets.push(data.len() as u64);
            }
            Values::Date32(v) => v.push(parse_date(cell).ok_or(U)?),
            Values::Date64(v) => {
                let d = parse_date(cell).ok_or(U)?;
                v.push(i64::from(d) * 86_400_000);
            }
            Values::Time32(v, digits) => {
                let t = parse_time(cell).ok_or(U)?;
                let x = to_units(i64::from(t.secs), t.nanos, *digits).ok_or(U)?;
                v.push(i32::try_from(x).map_err(|_| U)?);
            }
            Values::Time64(v, digits) => {
                let t = parse_time(cell).ok_or(U)?;
                v.push(to_units(i64::from(t.secs), t.nanos, *digits).ok_or(U)?);
            }
            Values::Timestamp(v, digits, zoned) => {
                let t = parse_timestamp(cell).ok_or(U)?;
                // A zone-less text in a zoned column (or the reverse) is refused, as in pyarrow.
                if t.has_zone != *zoned && !(cell.len() == 10 && !*zoned) {
                    return Err(U);
                }
                v.push(to_units(t.secs, t.nanos, *digits).ok_or(U)?);
            }
            Values::Duration(v) => v.push(parse_i64(cell).ok_or(U)?),
            Values::Dec32(v, p, s) => {
                let x = parse_decimal(cell, *s).filter(|&x| fits(x, *p)).ok_or(U)?;
                v.push(i32::try_from(x).map_err(|_| U)?);
            }
            Values::Dec64(v, p, s) => {
                let x = parse_decimal(cell, *s).filter(|&x| fits(x, *p)).ok_or(U)?;
                v.push(i64::try_from(x).map_err(|_| U)?);
            }
            Values::Dec128(v, p, s) => {
                let x = parse_decimal(cell, *s).filter(|&x| fits(x, *p)).ok_or(U)?;
                v.push(x);
            }
            Values::Dict {
                keys,
                values,
                index,
                max,
            } => {
                let s = if utf8_ok {
                    std::str::from_utf8(cell).map_err(|_| CellError::InvalidUtf8)?
                } else {
                    simdutf8::basic::from_utf8(cell).map_err(|_| CellError::InvalidUtf8)?
                };
                let key = match index.get(s) {
                    Some(&k) => k,
                    None => {
                        let k = values.len() as u64;
                        if k >= *max {
                            return Err(CellError::DictionaryFull);
                        }
                        index.insert(s.into(), k);
                        values.push(s.to_string());
                        k
                    }
                };
                keys.push(key);
            }
        }
        if let Some(v) = &mut self.valid {
            v.push(true);
        }
        self.len += 1;
        Ok(())
    }

    /// Converts column `cells.column` of the queued rows. `Err` at the first
    /// cell that does not convert (the caller rolls the batch back); null
    /// tokens are honoured as in [`Self::push_null`].
    // Inlined into `TableAssembler::convert_pending` (another module), as
    // it was when both lived in one file: about 1% of a CSV read.
    #[inline]
    pub(super) fn push_cells(
        &mut self,
        cells: &PendingCells<'_>,
        nulls: &NullTokens,
        bools: &BoolValues,
    ) -> Result<(), CellError> {
        let Column {
            field,
            values,
            len,
            valid,
            null_rule,
        } = self;
        let check = NullCheck {
            rule: *null_rule,
            nullable: field.nullable,
            tokens: nulls,
            cells,
        };
        let base = *len;
        let k = cells.rows();
        let fast = match values {
            Values::I64(v) => Some(fill(v, valid, base, check, parse_i64)),
            Values::F64(v) => Some(fill(v, valid, base, check, parse_f64)),
            Values::Date32(v) => Some(fill(v, valid, base, check, parse_date)),
            Values::Timestamp(v, digits, zoned) => {
                let (digits, zoned) = (*digits, *zoned);
                let mut dates = DateCache::default();
                Some(fill(v, valid, base, check, |cell| {
                    let t = parse_timestamp_cached(cell, &mut dates)?;
                    if t.has_zone != zoned && !(cell.len() == 10 && !zoned) {
                        return None;
                    }
                    to_units(t.secs, t.nanos, digits)
                }))
            }
            Values::Bool(b) => {
                // 64 values a word, appended a word at a time.
                let mut gaps = NullRun { valid, base };
                let mut word = 0u64;
                let res = cells.try_each(|r, src, (s, e), _| {
                    let cell = &src[s..e];
                    let bit = if check.is_null(r, cell)? {
                        gaps.null(r);
                        false
                    } else {
                        bools.parse(cell).ok_or(CellError::Unparsable)?
                    };
                    word |= u64::from(bit) << (r % 64);
                    if r % 64 == 63 {
                        b.push_bits(word, 64);
                        word = 0;
                    }
                    Ok(())
                });
                if res.is_ok() && k % 64 != 0 {
                    b.push_bits(word, k % 64);
                }
                Some(res.map(|()| gaps.finish(k)))
            }
            Values::Str32 { offsets, data } => {
                Some(fill_strings(offsets, data, valid, base, check))
            }
            _ => None,
        };
        if let Some(r) = fast {
            if r.is_ok() {
                *len += k;
            }
            return r;
        }
        // Other types: the per-cell conversion.
        cells.try_each(|r, src, (s, e), utf8_ok| {
            let cell = &src[s..e];
            if self.null_rule.is_null(cell, nulls, || cells.is_quoted(r)) {
                self.push_null()
            } else {
                self.push(cell, utf8_ok, bools)
            }
        })
    }

    /// Drops values after the first `len` (rolling back a partly converted row).
    pub(super) fn truncate(&mut self, len: usize) {
        match &mut self.values {
            Values::Null(n) => *n = (*n).min(len),
            Values::Bool(b) => b.truncate(len),
            Values::I8(v) => v.truncate(len),
            Values::I16(v) => v.truncate(len),
            Values::I32(v) | Values::Date32(v) | Values::Time32(v, _) | Values::Dec32(v, ..) => {
                v.truncate(len)
            }
            Values::I64(v)
            | Values::Date64(v)
            | Values::Time64(v, _)
            | Values::Timestamp(v, ..)
            | Values::Duration(v)
            | Values::Dec64(v, ..) => v.truncate(len),
            Values::U8(v) => v.truncate(len),
            Values::U16(v) => v.truncate(len),
            Values::U32(v) => v.truncate(len),
            Values::U64(v) => v.truncate(len),
            Values::F32(v) => v.truncate(len),
            Values::F64(v) => v.truncate(len),
            Values::Dec128(v, ..) => v.truncate(len),
            Values::Str32 { offsets, data } => {
                if offsets.len() > len + 1 {
                    offsets.truncate(len + 1);
                    data.truncate(offsets.last().copied().unwrap_or(0) as usize);
                }
            }
            Values::Str64 { offsets, data } => {
                if offsets.len() > len + 1 {
                    offsets.truncate(len + 1);
                    data.truncate(offsets.last().copied().unwrap_or(0) as usize);
                }
            }
            Values::Dict { keys, .. } => keys.truncate(len),
        }
        if let Some(v) = &mut self.valid {
            v.truncate(len);
        }
        self.len = self.len.min(len);
    }

    /// Moves the built values out as a column, leaving the builder empty.
    pub(super) fn finish(&mut self) -> FieldArray {
        let len = self.len;
        self.len = 0;
        let (mask, nulls) = match self.valid.take() {
            Some(mut v) => {
                let nulls = len - v.count_ones();
                ((nulls > 0).then(|| v.take()), nulls)
            }
            None => (None, 0),
        };
        let num = |a: NumericArray| Array::NumericArray(a);
        let tmp = |a: TemporalArray| Array::TemporalArray(a);
        let array = match &mut self.values {
            Values::Null(n) => {
                *n = 0;
                Array::Null
            }
            Values::Bool(b) => Array::BooleanArray(Arc::new(BooleanArray::new(b.take(), mask))),
            Values::I8(v) => num(NumericArray::Int8(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::I16(v) => num(NumericArray::Int16(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::I32(v) => num(NumericArray::Int32(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::I64(v) => num(NumericArray::Int64(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::U8(v) => num(NumericArray::UInt8(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::U16(v) => num(NumericArray::UInt16(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::U32(v) => num(NumericArray::UInt32(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::U64(v) => num(NumericArray::UInt64(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::F32(v) => num(NumericArray::Float32(Arc::new(FloatArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::F64(v) => num(NumericArray::Float64(Arc::new(FloatArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::Str32 { offsets, data } => {
                let offsets = std::mem::replace(offsets, new_offsets());
                Array::TextArray(TextArray::String32(Arc::new(StringArray {
                    offsets: offsets.into(),
                    data: std::mem::take(data).into(),
                    null_mask: mask,
                })))
            }
            Values::Str64 { offsets, data } => {
                let offsets = std::mem::replace(offsets, new_offsets());
                Array::TextArray(TextArray::String64(Arc::new(StringArray {
                    offsets: offsets.into(),
                    data: std::mem::take(data).into(),
                    null_mask: mask,
                })))
            }
            Values::Date32(v) => tmp(TemporalArray::Datetime32(Arc::new(DatetimeArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
                time_unit: TimeUnit::Days,
            }))),
            Values::Date64(v) => tmp(TemporalArray::Datetime64(Arc::new(DatetimeArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
                time_unit: TimeUnit::Milliseconds,
            }))),
            Values::Time32(v, _) => tmp(TemporalArray::Datetime32(Arc::new(DatetimeArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
                time_unit: field_unit(&self.field.dtype),
            }))),
            Values::Time64(v, _) | Values::Timestamp(v, ..) | Values::Duration(v) => {
                tmp(TemporalArray::Datetime64(Arc::new(DatetimeArray {
                    data: std::mem::take(v).into(),
                    null_mask: mask,
                    time_unit: field_unit(&self.field.dtype),
                })))
            }
            Values::Dec32(v, p, s) => num(NumericArray::Decimal32(Arc::new(DecimalArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
                precision: *p,
                scale: *s,
            }))),
            Values::Dec64(v, p, s) => num(NumericArray::Decimal64(Arc::new(DecimalArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
                precision: *p,
                scale: *s,
            }))),
            Values::Dec128(v, p, s) => num(NumericArray::Decimal128(Arc::new(DecimalArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
                precision: *p,
                scale: *s,
            }))),
            Values::Dict {
                keys,
                values,
                index,
                ..
            } => {
                let keys = std::mem::take(keys);
                let unique_values = std::mem::take(values);
                index.clear();
                let text = match &self.field.dtype {
                    ArrowType::Dictionary(CategoricalIndexType::UInt8) => {
                        TextArray::Categorical8(Arc::new(CategoricalArray {
                            data: keys.iter().map(|&k| k as u8).collect::<Vec64<u8>>().into(),
                            unique_values,
                            null_mask: mask,
                        }))
                    }
                    ArrowType::Dictionary(CategoricalIndexType::UInt16) => {
                        TextArray::Categorical16(Arc::new(CategoricalArray {
                            data: keys
                                .iter()
                                .map(|&k| k as u16)
                                .collect::<Vec64<u16>>()
                                .into(),
                            unique_values,
                            null_mask: mask,
                        }))
                    }
                    ArrowType::Dictionary(CategoricalIndexType::UInt32) => {
                        TextArray::Categorical32(Arc::new(CategoricalArray {
                            data: keys
                                .iter()
                                .map(|&k| k as u32)
                                .collect::<Vec64<u32>>()
                                .into(),
                            unique_values,
                            null_mask: mask,
                        }))
                    }
                    _ => TextArray::Categorical64(Arc::new(CategoricalArray {
                        data: keys.into(),
                        unique_values,
                        null_mask: mask,
                    })),
                };
                Array::TextArray(text)
            }
        };
        FieldArray {
            field: self.field.clone(),
            array,
            null_count: nulls,
        }
    }
}

/// One column of the rows queued in [`TableAssembler::append`](super::rows::TableAssembler).
pub(super) struct PendingCells<'a> {
    /// The chunk being fed (rows read in place).
    pub(super) chunk: &'a [u8],
    /// Copied rows.
    pub(super) bytes: &'a [u8],
    pub(super) cells: &'a [(usize, usize)],
    /// Quoted fields of the rows (see [`PendingRow::quoted_start`]).
    pub(super) quoted: &'a [usize],
    pub(super) rows: &'a [PendingRow],
    /// The rows were queued in place by the tokenizer (`rows` is then empty).
    pub(super) in_place: Option<InPlaceCells<'a>>,
    pub(super) column: usize,
    pub(super) ncols: usize,
}

/// What [`PendingCells`] needs of rows queued in place (`rows.rs`, `InPlace`).
#[derive(Clone, Copy)]
pub(super) struct InPlaceCells<'a> {
    /// Bit `row * ncols + column` set for a quoted cell.
    pub(super) quoted: &'a [u64],
    /// Every cell is valid UTF-8.
    pub(super) utf8_ok: bool,
}

impl<'a> PendingCells<'a> {
    /// The number of queued rows (each has `ncols` cells).
    fn rows(&self) -> usize {
        self.cells.len() / self.ncols.max(1)
    }

    /// Calls `f` on each row's cell in this column, in row order, until it
    /// fails: the row's index, the buffer the cell lies in, the cell's
    /// (start, end) in it, and whether the row is valid UTF-8. The source of
    /// the cells is decided once, not per cell, so every conversion loop
    /// gets its cell with a few loads.
    #[inline(always)]
    fn try_each(
        &self,
        mut f: impl FnMut(usize, &'a [u8], (usize, usize), bool) -> Result<(), CellError>,
    ) -> Result<(), CellError> {
        let column = self.cells.get(self.column..).unwrap_or_default();
        let flat = self.in_place.map(|q| q.utf8_ok);
        // One call site, so that `f` is inlined into the loop.
        for (r, &cell) in column.iter().step_by(self.ncols.max(1)).enumerate() {
            let (src, utf8_ok) = match (flat, self.rows.get(r)) {
                (Some(utf8_ok), _) => (self.chunk, utf8_ok),
                (None, Some(row)) if !row.in_chunk => (self.bytes, row.utf8_ok),
                (None, row) => (self.chunk, row.is_some_and(|row| row.utf8_ok)),
            };
            f(r, src, cell, utf8_ok)?;
        }
        Ok(())
    }

    /// Whether row `row`'s cell in this column was quoted.
    fn is_quoted(&self, row: usize) -> bool {
        if let Some(p) = self.in_place {
            let i = row * self.ncols + self.column;
            return p.quoted.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1);
        }
        self.rows.get(row).is_some_and(|r| {
            self.quoted[r.quoted_start..r.quoted_end]
                .binary_search(&self.column)
                .is_ok()
        })
    }
}

/// Which queued cells of one column are null: its rule and the null
/// tokens, the field's nullability and the cells' quoting.
#[derive(Clone, Copy)]
struct NullCheck<'a> {
    rule: NullRule,
    nullable: bool,
    tokens: &'a NullTokens,
    cells: &'a PendingCells<'a>,
}

impl NullCheck<'_> {
    /// Whether row `r`'s `cell` is null; a null in a non-nullable field is
    /// an error.
    #[inline(always)]
    fn is_null(&self, r: usize, cell: &[u8]) -> Result<bool, CellError> {
        let null = self
            .rule
            .is_null(cell, self.tokens, || self.cells.is_quoted(r));
        if null && !self.nullable {
            return Err(CellError::UnexpectedNull);
        }
        Ok(null)
    }
}

/// The validity of a run of cells from row `base` of a column on, from its
/// nulls as they come: the valid cells before each null, and after the
/// last, are added as whole bytes ([`Bits::push_ones`]), not a bit per cell.
struct NullRun<'a> {
    valid: &'a mut Option<Bits>,
    base: usize,
}

impl NullRun<'_> {
    /// Row `r` of the run (after any earlier null's row) is null.
    fn null(&mut self, r: usize) {
        let m = self.valid.get_or_insert_with(Bits::default);
        m.push_ones((self.base + r).saturating_sub(m.len));
        m.push(false);
    }

    /// The run had `k` rows.
    fn finish(self, k: usize) {
        if let Some(m) = self.valid {
            m.push_ones((self.base + k).saturating_sub(m.len));
        }
    }
}

/// The column-at-a-time loop for fixed-width values: nulls (refused in a
/// non-nullable field), else `parse`, into `v` with room for the run
/// reserved once; on an error `v` is cut back to `base` values.
#[inline]
fn fill<T: Copy + Default>(
    v: &mut Vec64<T>,
    valid: &mut Option<Bits>,
    base: usize,
    check: NullCheck<'_>,
    mut parse: impl FnMut(&[u8]) -> Option<T>,
) -> Result<(), CellError> {
    let cells = check.cells;
    let k = cells.rows();
    v.truncate(base);
    v.reserve(k);
    let mut gaps = NullRun { valid, base };
    let res = cells.try_each(|r, src, (s, e), _| {
        let cell = &src[s..e];
        if check.is_null(r, cell)? {
            gaps.null(r);
            v.push(T::default());
        } else {
            v.push(parse(cell).ok_or(CellError::Unparsable)?);
        }
        Ok(())
    });
    match res {
        Ok(()) => gaps.finish(k),
        Err(_) => v.truncate(base),
    }
    res
}

/// [`fill`] for a `Utf8` column: the run's bytes are counted first, so that
/// the data and the offsets grow once and the 32-bit offsets are checked
/// once; each cell of up to 16 bytes is then copied as one 16-byte move
/// (the bytes after it are overwritten by the next cell or cut at the end).
#[inline]
fn fill_strings(
    offsets: &mut Vec64<u32>,
    data: &mut Vec64<u8>,
    valid: &mut Option<Bits>,
    base: usize,
    check: NullCheck<'_>,
) -> Result<(), CellError> {
    let cells = check.cells;
    let k = cells.rows();
    let start = data.len();
    let mut total = 0;
    let _ = cells.try_each(|_, _, (s, e), _| {
        total += e - s;
        Ok(())
    });
    // Past the 32-bit offsets: the caller's row-at-a-time replay finds the cell.
    u32::try_from(start + total).map_err(|_| CellError::TooLong)?;
    data.resize(start + total + 16, 0);
    offsets.truncate(base + 1);
    offsets.resize(base + 1 + k, 0);
    let offs = &mut offsets[base + 1..];
    let mut gaps = NullRun { valid, base };
    let mut pos = start;
    let res = cells.try_each(|r, src, (s, e), utf8_ok| {
        let cell = &src[s..e];
        if check.is_null(r, cell)? {
            gaps.null(r);
        } else {
            if !utf8_ok && simdutf8::basic::from_utf8(cell).is_err() {
                return Err(CellError::InvalidUtf8);
            }
            let n = cell.len();
            let from = src.get(s..).and_then(<[u8]>::first_chunk::<16>);
            match (from, data.get_mut(pos..).and_then(<[u8]>::first_chunk_mut)) {
                (Some(from), Some(to)) if n <= 16 => *to = *from,
                _ => data[pos..pos + n].copy_from_slice(cell),
            }
            pos += n;
        }
        // Below 2^32: `start + total` is.
        offs[r] = pos as u32;
        Ok(())
    });
    match res {
        Ok(()) => {
            data.truncate(pos);
            gaps.finish(k);
        }
        Err(_) => {
            data.truncate(start);
            offsets.truncate(base + 1);
        }
    }
    res
}

fn field_unit(t: &ArrowType) -> TimeUnit {
    match t {
        ArrowType::Time32(u)
        | ArrowType::Time64(u)
        | ArrowType::Timestamp(u, _)
        | ArrowType::Duration64(u) => *u,
        _ => TimeUnit::Milliseconds,
    }
}

#[cfg(test)]
mod tests {
    use super::Bits;

    /// The bits pushed one at a time, as the reference.
    fn one_by_one(bits: &[bool]) -> Bits {
        let mut b = Bits::default();
        for &v in bits {
            b.push(v);
        }
        b
    }

    /// `push_ones` and `push_bits` after runs of every length 0..=70 (so
    /// every offset in the last byte and whole-word appends) give the bytes
    /// and length of pushing the same bits one by one.
    #[test]
    fn word_and_run_appends_match_bit_pushes() {
        for before in 0..=70usize {
            for n in 0..=70usize {
                let head: Vec<bool> = (0..before).map(|i| i % 3 == 1).collect();
                let mut ones = head.clone();
                ones.extend(std::iter::repeat_n(true, n));
                let mut b = one_by_one(&head);
                b.push_ones(n);
                let want = one_by_one(&ones);
                assert_eq!((b.len, &b.bytes[..]), (want.len, &want.bytes[..]));
                if (1..=64).contains(&n) {
                    let word: u64 = 0x9E37_79B9_7F4A_7C15 & (u64::MAX >> (64 - n));
                    let mut bits = head.clone();
                    bits.extend((0..n).map(|i| word >> i & 1 == 1));
                    let mut b = one_by_one(&head);
                    b.push_bits(word, n);
                    let want = one_by_one(&bits);
                    assert_eq!((b.len, &b.bytes[..]), (want.len, &want.bytes[..]));
                }
            }
        }
        assert_eq!(&Bits::ones(13).bytes[..], [0xFF, 0x1F]);
    }
}
