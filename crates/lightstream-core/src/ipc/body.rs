//! One record batch (or dictionary batch) body: the FieldNodes, the buffer
//! entries and the chunks that borrow the table's own column buffers, each
//! padded to the alignment and compressed when asked. What `write.rs` puts
//! behind a message's metadata, and the column checks (types, units, widths,
//! dictionary keys) that make sure what goes out describes the data.
//!
//! A body holds a range of the table's rows (all of them, or one slice of a
//! table cut to fit a message size limit): fixed-width values and string
//! bytes are borrowed sub-slices of the column buffers; what a range changes
//! is built small and owned: string offsets rebased to 0 (one offset per
//! row), and bitmaps (validity, booleans) shifted down when the range does
//! not start on a byte (one bit per row).

use std::ops::Range;

use flatbuffers::{FlatBufferBuilder, WIPOffset};
use minarrow::{
    Array, ArrowType, Bitmask, FieldArray, NumericArray, Table, TemporalArray, TextArray, TimeUnit,
};

use super::buffer_types::{KeyInt, OffsetInt, RemappedKeys, any_key_at_or_above, count_set_bits};
use super::compression::{Compression, compress_buffer};
use super::schema::{DictionaryEncoding, Schema};
use crate::buffers::padded_len;
use crate::error::{Error, Result};
use crate::fbs;

static ZEROS: [u8; 64] = [0; 64];

#[derive(Debug)]
pub(super) enum Chunk<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    /// Dictionary keys rewritten by a [`DictionaryUnifier`](crate::ipc::DictionaryUnifier).
    Keys(RemappedKeys),
    Zeros(usize),
}

impl Chunk<'_> {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Borrowed(b) => b,
            Chunk::Owned(v) => v,
            Chunk::Keys(k) => k.as_bytes(),
            Chunk::Zeros(n) => &ZEROS[..*n],
        }
    }
}

/// Collects the nodes and buffers of one record batch.
pub(super) struct BodyBuilder<'a> {
    nodes: Vec<fbs::FieldNode>,
    buffers: Vec<fbs::Buffer>,
    pub(super) chunks: Vec<Chunk<'a>>,
    /// Body bytes so far (padding included).
    pub(super) len: usize,
    alignment: usize,
    compression: Compression,
}

impl<'a> BodyBuilder<'a> {
    pub(super) fn new(alignment: usize, compression: Compression) -> Self {
        BodyBuilder {
            nodes: Vec::new(),
            buffers: Vec::new(),
            chunks: Vec::new(),
            len: 0,
            alignment,
            compression,
        }
    }

    pub(super) fn node(&mut self, len: usize, nulls: usize) {
        self.nodes
            .push(fbs::FieldNode::new(len as i64, nulls as i64));
    }

    pub(super) fn buffer(&mut self, chunk: Chunk<'a>) -> Result<()> {
        let chunk = match self.compression {
            Compression::None => chunk,
            codec => Chunk::Owned(compress_buffer(codec, chunk.bytes())?),
        };
        let n = chunk.bytes().len();
        self.buffers
            .push(fbs::Buffer::new(self.len as i64, n as i64));
        let padded = padded_len(n, self.alignment)
            .ok_or_else(|| Error::schema("buffer length overflows"))?;
        if n > 0 {
            self.chunks.push(chunk);
        }
        let mut pad = padded - n;
        while pad > 0 {
            let z = pad.min(ZEROS.len());
            self.chunks.push(Chunk::Zeros(z));
            pad -= z;
        }
        self.len += padded;
        Ok(())
    }

    pub(super) fn bytes(&mut self, b: &'a [u8]) -> Result<()> {
        self.buffer(Chunk::Borrowed(b))
    }

    /// The validity buffer of rows `rows` (none when they are all valid);
    /// returns their null count.
    pub(super) fn validity(
        &mut self,
        mask: Option<&'a Bitmask>,
        rows: Range<usize>,
    ) -> Result<usize> {
        let Some(mask) = mask else {
            self.buffer(Chunk::Owned(Vec::new()))?;
            return Ok(0);
        };
        let len = rows.len();
        let bits = bit_range(mask_bits(mask, rows.end)?, rows)?;
        let nulls = len - count_set_bits(bits.bytes(), len);
        if nulls == 0 {
            self.buffer(Chunk::Owned(Vec::new()))?;
        } else {
            self.buffer(bits)?;
        }
        Ok(nulls)
    }

    pub(super) fn build<'b>(
        &self,
        fbb: &mut FlatBufferBuilder<'b>,
        rows: usize,
    ) -> WIPOffset<fbs::RecordBatch<'b>> {
        let nodes = fbb.create_vector(&self.nodes);
        let buffers = fbb.create_vector(&self.buffers);
        let compression = self.compression.to_fb().map(|codec| {
            fbs::BodyCompression::create(
                fbb,
                &fbs::BodyCompressionArgs {
                    codec,
                    method: fbs::BodyCompressionMethod::BUFFER,
                },
            )
        });
        fbs::RecordBatch::create(
            fbb,
            &fbs::RecordBatchArgs {
                length: rows as i64,
                nodes: Some(nodes),
                buffers: Some(buffers),
                compression,
                variadicBufferCounts: None,
            },
        )
    }
}

/// The bytes of `mask` that hold its first `len` bits, checked to be there.
pub(crate) fn mask_bits(mask: &Bitmask, len: usize) -> Result<&[u8]> {
    let need = len.div_ceil(8);
    match mask.as_bytes().get(..need) {
        Some(bytes) if mask.len() >= len => Ok(bytes),
        _ => Err(Error::schema(format!(
            "null mask holds {} bits for {len} rows",
            mask.len()
        ))),
    }
}

/// Bits `rows` of a bitmap whose `bytes` hold at least `rows.end` bits, as a
/// bitmap of `rows.len()` bits: the bytes themselves when the range starts on
/// a byte, else a copy shifted down (its bits past the range cleared).
fn bit_range(bytes: &[u8], rows: Range<usize>) -> Result<Chunk<'_>> {
    let len = rows.len();
    let first = rows.start / 8;
    let shift = rows.start % 8;
    let short = || {
        Error::schema(format!(
            "a bitmap of {} bytes has no rows {rows:?}",
            bytes.len()
        ))
    };
    if shift == 0 {
        let sub = bytes
            .get(first..first + len.div_ceil(8))
            .ok_or_else(short)?;
        return Ok(Chunk::Borrowed(sub));
    }
    let src = bytes
        .get(first..(rows.start + len).div_ceil(8))
        .ok_or_else(short)?;
    let mut out: Vec<u8> = (0..len.div_ceil(8))
        .map(|i| {
            let lo = src.get(i).map_or(0, |b| b >> shift);
            let hi = src.get(i + 1).map_or(0, |b| b << (8 - shift));
            lo | hi
        })
        .collect();
    if let Some(last) = out.last_mut().filter(|_| len % 8 != 0) {
        *last &= (1u8 << (len % 8)) - 1;
    }
    Ok(Chunk::Owned(out))
}

/// Whether row `i` is valid under mask bits from [`mask_bits`] (`None`: no mask).
pub(crate) fn row_valid(bits: Option<&[u8]>, i: usize) -> bool {
    bits.is_none_or(|b| b.get(i / 8).is_some_and(|x| x >> (i % 8) & 1 == 1))
}

fn pod_bytes<T: bytemuck::Pod>(s: &[T]) -> &[u8] {
    bytemuck::cast_slice(s)
}

pub(crate) fn mismatch(fa: &FieldArray) -> Error {
    Error::schema(format!(
        "column \"{}\" is declared {:?} but holds a different kind of array",
        fa.field.name, fa.field.dtype
    ))
}

/// Adds the node and buffers of rows `rows` of one column of a table of
/// `table_rows` rows. A dictionary column's keys are `remapped` when given (a
/// [`DictionaryUnifier`](crate::ipc::DictionaryUnifier) rewrote those of
/// `rows`), else its own.
pub(super) fn write_column<'a>(
    body: &mut BodyBuilder<'a>,
    fa: &'a FieldArray,
    table_rows: usize,
    rows: Range<usize>,
    dict_len: Option<usize>,
    enc: Option<&DictionaryEncoding>,
    remapped: Option<RemappedKeys>,
) -> Result<()> {
    let len = rows.len();
    if fa.field.dtype == ArrowType::Null {
        if !matches!(fa.array, Array::Null) {
            return Err(mismatch(fa));
        }
        body.node(len, len);
        return Ok(());
    }
    let all = fa.array.len();
    if all != table_rows {
        return Err(Error::schema(format!(
            "column \"{}\" has {all} rows, the table has {table_rows}",
            fa.field.name
        )));
    }
    macro_rules! fixed {
        ($arr:expr) => {{
            let nulls = body.validity($arr.null_mask.as_ref(), rows.clone())?;
            let values = $arr
                .data
                .as_slice()
                .get(rows.clone())
                .ok_or_else(|| mismatch(fa))?;
            body.bytes(pod_bytes(values))?;
            nulls
        }};
    }
    let nulls_pos = body.nodes.len();
    body.node(len, 0);
    let dtype = &fa.field.dtype;
    let nulls = match (&fa.array, dtype) {
        (Array::BooleanArray(a), ArrowType::Boolean) => {
            let nulls = body.validity(a.null_mask.as_ref(), rows.clone())?;
            let bits = a.data.as_bytes();
            if bits.len() < rows.end.div_ceil(8) {
                return Err(Error::schema("boolean array holds fewer bits than rows"));
            }
            body.buffer(bit_range(bits, rows.clone())?)?;
            nulls
        }
        (Array::NumericArray(n), _) => match (n, dtype) {
            (NumericArray::Int8(a), ArrowType::Int8) => fixed!(a),
            (NumericArray::Int16(a), ArrowType::Int16) => fixed!(a),
            (NumericArray::Int32(a), ArrowType::Int32) => fixed!(a),
            (NumericArray::Int64(a), ArrowType::Int64) => fixed!(a),
            (NumericArray::UInt8(a), ArrowType::UInt8) => fixed!(a),
            (NumericArray::UInt16(a), ArrowType::UInt16) => fixed!(a),
            (NumericArray::UInt32(a), ArrowType::UInt32) => fixed!(a),
            (NumericArray::UInt64(a), ArrowType::UInt64) => fixed!(a),
            (NumericArray::Float32(a), ArrowType::Float32) => fixed!(a),
            (NumericArray::Float64(a), ArrowType::Float64) => fixed!(a),
            (NumericArray::Decimal32(a), ArrowType::Decimal32(p, s)) => {
                check_decimal(fa, (a.precision, a.scale), (*p, *s))?;
                fixed!(a)
            }
            (NumericArray::Decimal64(a), ArrowType::Decimal64(p, s)) => {
                check_decimal(fa, (a.precision, a.scale), (*p, *s))?;
                fixed!(a)
            }
            (NumericArray::Decimal128(a), ArrowType::Decimal128(p, s)) => {
                check_decimal(fa, (a.precision, a.scale), (*p, *s))?;
                fixed!(a)
            }
            _ => return Err(mismatch(fa)),
        },
        (Array::TemporalArray(t), _) => {
            let unit = match t {
                TemporalArray::Datetime32(a) => a.time_unit,
                TemporalArray::Datetime64(a) => a.time_unit,
                TemporalArray::Null => return Err(mismatch(fa)),
            };
            check_unit(fa, unit)?;
            match (t, dtype) {
                (TemporalArray::Datetime32(a), ArrowType::Date32 | ArrowType::Time32(_)) => {
                    fixed!(a)
                }
                (
                    TemporalArray::Datetime64(a),
                    ArrowType::Date64
                    | ArrowType::Time64(_)
                    | ArrowType::Timestamp(..)
                    | ArrowType::Duration64(_),
                ) => fixed!(a),
                (TemporalArray::Datetime32(a), ArrowType::Duration32(_)) => {
                    // Arrow durations are 64-bit: widen.
                    let nulls = body.validity(a.null_mask.as_ref(), rows.clone())?;
                    let values = a
                        .data
                        .as_slice()
                        .get(rows.clone())
                        .ok_or_else(|| mismatch(fa))?;
                    let wide: Vec<u8> = values
                        .iter()
                        .flat_map(|&v| (v as i64).to_le_bytes())
                        .collect();
                    body.buffer(Chunk::Owned(wide))?;
                    nulls
                }
                _ => return Err(mismatch(fa)),
            }
        }
        (Array::TextArray(t), _) => match (t, dtype) {
            (TextArray::String32(a), ArrowType::String) => {
                let nulls = body.validity(a.null_mask.as_ref(), rows.clone())?;
                write_strings(
                    body,
                    a.offsets.as_slice(),
                    a.data.as_slice(),
                    rows.clone(),
                    &fa.field.name,
                )?;
                nulls
            }
            (TextArray::String64(a), ArrowType::LargeString) => {
                let nulls = body.validity(a.null_mask.as_ref(), rows.clone())?;
                write_strings(
                    body,
                    a.offsets.as_slice(),
                    a.data.as_slice(),
                    rows.clone(),
                    &fa.field.name,
                )?;
                nulls
            }
            (TextArray::Categorical8(a), ArrowType::Dictionary(_)) => write_keys(
                body,
                Keys::new(a.data.as_slice(), remapped),
                a.null_mask.as_ref(),
                rows.clone(),
                dict_len,
                enc,
                fa,
            )?,
            (TextArray::Categorical16(a), ArrowType::Dictionary(_)) => write_keys(
                body,
                Keys::new(a.data.as_slice(), remapped),
                a.null_mask.as_ref(),
                rows.clone(),
                dict_len,
                enc,
                fa,
            )?,
            (TextArray::Categorical32(a), ArrowType::Dictionary(_)) => write_keys(
                body,
                Keys::new(a.data.as_slice(), remapped),
                a.null_mask.as_ref(),
                rows.clone(),
                dict_len,
                enc,
                fa,
            )?,
            (TextArray::Categorical64(a), ArrowType::Dictionary(_)) => write_keys(
                body,
                Keys::new(a.data.as_slice(), remapped),
                a.null_mask.as_ref(),
                rows.clone(),
                dict_len,
                enc,
                fa,
            )?,
            _ => return Err(mismatch(fa)),
        },
        _ => return Err(mismatch(fa)),
    };
    body.nodes[nulls_pos] = fbs::FieldNode::new(len as i64, nulls as i64);
    Ok(())
}

/// The array's time unit must be the one its field declares: writing it
/// under another unit would silently change every value.
fn check_unit(fa: &FieldArray, unit: TimeUnit) -> Result<()> {
    let declared = match &fa.field.dtype {
        ArrowType::Date32 => TimeUnit::Days,
        ArrowType::Date64 => TimeUnit::Milliseconds,
        ArrowType::Time32(u)
        | ArrowType::Time64(u)
        | ArrowType::Timestamp(u, _)
        | ArrowType::Duration32(u)
        | ArrowType::Duration64(u) => *u,
        _ => return Err(mismatch(fa)),
    };
    if unit != declared {
        return Err(Error::schema(format!(
            "column \"{}\" is declared {:?} but its array holds {unit:?}",
            fa.field.name, fa.field.dtype
        )));
    }
    Ok(())
}

/// The array's precision and scale must be the ones its field declares.
fn check_decimal(fa: &FieldArray, array: (u8, i8), declared: (u8, i8)) -> Result<()> {
    if array != declared {
        return Err(Error::schema(format!(
            "column \"{}\" is declared Decimal({}, {}) but its array holds Decimal({}, {})",
            fa.field.name, declared.0, declared.1, array.0, array.1
        )));
    }
    Ok(())
}

/// The offsets and bytes of strings `rows`: the column's own offsets from
/// row 0, else a copy rebased to start at 0; the bytes are borrowed.
fn write_strings<'a, O: OffsetInt>(
    body: &mut BodyBuilder<'a>,
    offsets: &'a [O],
    data: &'a [u8],
    rows: Range<usize>,
    name: &str,
) -> Result<()> {
    if rows.is_empty() && offsets.is_empty() {
        body.buffer(Chunk::Owned(vec![0u8; std::mem::size_of::<O>()]))?;
        return body.buffer(Chunk::Owned(Vec::new()));
    }
    let too_few = || Error::schema(format!("string column \"{name}\" has too few offsets"));
    let offsets = offsets.get(rows.start..rows.end + 1).ok_or_else(too_few)?;
    let (&first, &last) = offsets.first().zip(offsets.last()).ok_or_else(too_few)?;
    let bytes = usize::try_from(first.to_u64())
        .ok()
        .zip(usize::try_from(last.to_u64()).ok())
        .and_then(|(first, last)| data.get(first..last))
        .filter(|_| last.to_u64() <= O::MAX)
        .ok_or_else(|| {
            Error::schema(format!(
                "string column \"{name}\" has offsets past its data"
            ))
        })?;
    if first.to_u64() == 0 {
        body.bytes(pod_bytes(offsets))?;
    } else {
        // Every offset within first..=last (branch-free, so it vectorises):
        // the subtraction cannot wrap.
        if offsets
            .iter()
            .fold(false, |bad, &o| bad | (o < first) | (o > last))
        {
            return Err(Error::schema(format!(
                "string column \"{name}\" has decreasing offsets"
            )));
        }
        let mut rebased = Vec::with_capacity(std::mem::size_of_val(offsets));
        for &o in offsets {
            rebased.extend_from_slice(bytemuck::bytes_of(&o.minus(first)));
        }
        body.buffer(Chunk::Owned(rebased))?;
    }
    body.bytes(bytes)
}

/// The keys of a dictionary column must be as wide as its encoding declares.
pub(crate) fn check_key_width<K>(fa: &FieldArray, enc: &DictionaryEncoding) -> Result<()> {
    if enc.index_type.byte_width() != std::mem::size_of::<K>() {
        return Err(Error::schema(format!(
            "column \"{}\" holds {}-byte keys but its dictionary encoding declares {:?}",
            fa.field.name,
            std::mem::size_of::<K>(),
            enc.index_type
        )));
    }
    Ok(())
}

/// Key `key` of valid row `row` does not address a dictionary of `dict_len` values.
pub(crate) fn key_out_of_range(
    fa: &FieldArray,
    key: u64,
    row: usize,
    dict_len: usize,
    enc: &DictionaryEncoding,
) -> Error {
    Error::schema(format!(
        "column \"{}\": key {key} at row {row} does not address its dictionary of \
         {dict_len} values as {:?}",
        fa.field.name, enc.index_type
    ))
}

/// The keys a dictionary column is written with.
enum Keys<'a, K> {
    /// The column's own, borrowed, checked against its dictionary.
    Own(&'a [K]),
    /// Rewritten (and checked) by a [`DictionaryUnifier`](crate::ipc::DictionaryUnifier), row for row.
    Remapped(RemappedKeys),
}

impl<'a, K> Keys<'a, K> {
    fn new(own: &'a [K], remapped: Option<RemappedKeys>) -> Self {
        match remapped {
            Some(r) => Keys::Remapped(r),
            None => Keys::Own(own),
        }
    }
}

fn write_keys<'a, K: KeyInt>(
    body: &mut BodyBuilder<'a>,
    keys: Keys<'a, K>,
    mask: Option<&'a Bitmask>,
    rows: Range<usize>,
    dict_len: Option<usize>,
    enc: Option<&DictionaryEncoding>,
    fa: &FieldArray,
) -> Result<usize> {
    let (dict_len, enc) = match (dict_len, enc) {
        (Some(d), Some(e)) => (d, e),
        _ => return Err(mismatch(fa)),
    };
    check_key_width::<K>(fa, enc)?;
    let keys = match keys {
        Keys::Own(keys) => keys,
        Keys::Remapped(remapped) => {
            if remapped.as_bytes().len() != rows.len() * std::mem::size_of::<K>() {
                return Err(mismatch(fa));
            }
            let nulls = body.validity(mask, rows)?;
            body.buffer(Chunk::Keys(remapped))?;
            return Ok(nulls);
        }
    };
    let keys = keys.get(rows.clone()).ok_or_else(|| mismatch(fa))?;
    let bound = if enc.index_type.is_signed() {
        (dict_len as u64).min(1u64 << (enc.index_type.byte_width() * 8 - 1))
    } else {
        dict_len as u64
    };
    if any_key_at_or_above(keys, bound) {
        let bits = mask.map(|m| mask_bits(m, rows.end)).transpose()?;
        for (i, &k) in rows.clone().zip(keys) {
            if row_valid(bits, i) && k.to_u64() >= bound {
                return Err(key_out_of_range(fa, k.to_u64(), i, dict_len, enc));
            }
        }
    }
    let nulls = body.validity(mask, rows)?;
    body.bytes(pod_bytes(keys))?;
    Ok(nulls)
}

/// The dictionary values (and for categoricals only) of a column.
pub(crate) fn dictionary_values(fa: &FieldArray) -> Option<&[String]> {
    match &fa.array {
        Array::TextArray(TextArray::Categorical8(a)) => Some(&a.unique_values),
        Array::TextArray(TextArray::Categorical16(a)) => Some(&a.unique_values),
        Array::TextArray(TextArray::Categorical32(a)) => Some(&a.unique_values),
        Array::TextArray(TextArray::Categorical64(a)) => Some(&a.unique_values),
        _ => None,
    }
}

/// `table` must have the schema's columns, each of the schema's type.
pub(crate) fn check_table(schema: &Schema, table: &Table) -> Result<()> {
    let fields = &schema.fields;
    if table.cols.len() != fields.len() {
        return Err(Error::schema(format!(
            "table has {} columns, the schema {}",
            table.cols.len(),
            fields.len()
        )));
    }
    for (fa, f) in table.cols.iter().zip(fields) {
        if fa.field.dtype != f.dtype {
            return Err(Error::schema(format!(
                "column \"{}\" is {:?}, the schema says {:?}",
                fa.field.name, fa.field.dtype, f.dtype
            )));
        }
    }
    Ok(())
}
