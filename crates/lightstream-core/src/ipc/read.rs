//! Record batches and dictionary batches -> minarrow columns.
//!
//! Every FieldNode, buffer offset and length, value offset, dictionary key and
//! string is checked before use. Buffers are sliced out of the message body
//! (zero-copy when aligned for their element type, one copy otherwise: see
//! [`crate::buffers`]); nothing is read past what the checks proved is there.

use std::collections::HashMap;
use std::sync::Arc;

use flatbuffers::Vector;
use minarrow::structs::shared_buffer::SharedBuffer;
use minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, Buffer, CategoricalArray, DatetimeArray, DecimalArray,
    Field, FieldArray, FloatArray, IntegerArray, NumericArray, StringArray, Table, TemporalArray,
    TextArray, TimeUnit, Vec64,
};

use super::ReadOptions;
use super::buffer_types::{KeyInt, OffsetInt, any_key_at_or_above, count_set_bits};
use super::compression::{Compression, decompress_buffer};
use super::schema::{DictionaryEncoding, Layout, WireField, WireSchema};
use crate::buffers::{Tally, bitmap_buffer, typed_buffer};
use crate::error::{Error, Result};
use crate::fbs;
use crate::limits::{DecodeLimits, wire_len};

/// The values of one dictionary, as minarrow categoricals hold them.
#[derive(Debug, Clone, Default)]
pub(crate) struct DictValues {
    pub strings: Vec64<String>,
    /// `Some` when some entries are null: `valid[i]` is false for those.
    pub valid: Option<Vec<bool>>,
}

/// Dictionaries by id, owned by the decoder's state: a delta is appended in
/// place. Each record batch's categoricals get their own copy of the values
/// (minarrow 0.19's `CategoricalArray` owns its `Vec64<String>`).
pub(crate) type Dictionaries = HashMap<i64, DictValues>;

/// Cursor over the nodes and buffers of one `RecordBatch`.
struct BatchCursor<'a> {
    nodes: Option<Vector<'a, fbs::FieldNode>>,
    buffers: Option<Vector<'a, fbs::Buffer>>,
    variadic: Option<Vector<'a, i64>>,
    body: &'a SharedBuffer,
    /// Counts the buffers borrowed from the caller's memory and those copied.
    tally: &'a Tally,
    compression: Option<Compression>,
    budget: usize,
    eager: usize,
    node_i: usize,
    buffer_i: usize,
    variadic_i: usize,
    /// `ReadOptions::compact_dictionaries` (set by `read_record_batch`).
    compact_dictionaries: bool,
}

impl<'a> BatchCursor<'a> {
    fn new(
        batch: &fbs::RecordBatch<'a>,
        body: &'a SharedBuffer,
        limits: &DecodeLimits,
        tally: &'a Tally,
    ) -> Result<Self> {
        let compression = match batch.compression() {
            None => None,
            Some(c) => {
                if c.method() != fbs::BodyCompressionMethod::BUFFER {
                    return Err(Error::unsupported(format!(
                        "body compression method {}",
                        c.method().0
                    )));
                }
                let codec = Compression::from_fb(c.codec())?;
                codec.check_decodable()?;
                Some(codec)
            }
        };
        Ok(BatchCursor {
            nodes: batch.nodes(),
            buffers: batch.buffers(),
            variadic: batch.variadicBufferCounts(),
            body,
            tally,
            compression,
            budget: limits.max_decompressed_bytes,
            eager: limits.max_eager_reserve,
            node_i: 0,
            buffer_i: 0,
            variadic_i: 0,
            compact_dictionaries: false,
        })
    }

    fn node_count(&self) -> usize {
        self.nodes.map_or(0, |v| v.len())
    }

    fn buffer_count(&self) -> usize {
        self.buffers.map_or(0, |v| v.len())
    }

    /// The next FieldNode as (length, null_count).
    fn node(&mut self) -> Result<(usize, usize)> {
        let i = self.node_i;
        if i >= self.node_count() {
            return Err(Error::malformed(format!(
                "record batch has {} field nodes; the schema needs more",
                self.node_count()
            )));
        }
        self.node_i += 1;
        let n = self
            .nodes
            .map(|v| v.get(i))
            .ok_or_else(|| Error::malformed("no field nodes"))?;
        let (len, nulls) = (n.length(), n.null_count());
        if len < 0 || nulls < 0 || nulls > len {
            return Err(Error::malformed(format!(
                "field node {i} has length {len} and null count {nulls}"
            )));
        }
        Ok((len as usize, nulls as usize))
    }

    /// Skips the next buffer, which the column does not use (a validity
    /// bitmap without nulls), checking it as [`BatchCursor::buffer`] does:
    /// bounds, and for a compressed body its decompression.
    fn unused_buffer(&mut self) -> Result<()> {
        if self.compression.is_some() {
            return self.buffer().map(drop);
        }
        self.buffer_range().map(drop)
    }

    /// The next buffer, bounds-checked and decompressed.
    fn buffer(&mut self) -> Result<SharedBuffer> {
        let (offset, end) = self.buffer_range()?;
        let wire = self.body.slice(offset..end);
        match self.compression {
            None => Ok(wire),
            Some(codec) => {
                let i = self.buffer_i - 1;
                decompress_buffer(codec, &wire, &mut self.budget, self.eager)
                    .map_err(|e| Error::new(e.kind(), format!("buffer {i}: {}", e.message())))
            }
        }
    }

    /// Where the next buffer lies in the body, checked against its size.
    fn buffer_range(&mut self) -> Result<(usize, usize)> {
        let i = self.buffer_i;
        if i >= self.buffer_count() {
            return Err(Error::malformed(format!(
                "record batch has {} buffers; the schema needs more",
                self.buffer_count()
            )));
        }
        self.buffer_i += 1;
        let b = self
            .buffers
            .map(|v| v.get(i))
            .ok_or_else(|| Error::malformed("no buffers"))?;
        let (offset, length) = (b.offset(), b.length());
        let end = if offset >= 0 && length >= 0 {
            (offset as u64).checked_add(length as u64)
        } else {
            None
        };
        match end {
            Some(end) if end <= self.body.len() as u64 => {}
            _ => {
                return Err(Error::malformed(format!(
                    "buffer {i} (offset {offset}, length {length}) lies outside the \
                     {}-byte message body",
                    self.body.len()
                )));
            }
        }
        Ok((offset as usize, (offset + length) as usize))
    }

    /// Steps over the field nodes and buffers of a column that is not
    /// decoded (left out by the projection, or of a type minarrow cannot
    /// hold): its buffers are neither sliced nor decompressed. `layout` comes
    /// from walking the field's type tree (`schema::layout`); each of its
    /// view arrays adds the count of variadic data buffers the batch gives.
    /// Every count is checked against what the batch has, so a hostile count
    /// is an error, never an overflow or an allocation.
    fn skip(&mut self, layout: Layout) -> Result<()> {
        let mut buffers = layout.buffers;
        for _ in 0..layout.variadic {
            let i = self.variadic_i;
            let count = self
                .variadic
                .filter(|v| i < v.len())
                .map(|v| v.get(i))
                .ok_or_else(|| {
                    Error::malformed("record batch lacks a variadic buffer count the schema needs")
                })?;
            self.variadic_i += 1;
            buffers = usize::try_from(count)
                .ok()
                .and_then(|n| buffers.checked_add(n))
                .filter(|&n| n <= self.buffer_count())
                .ok_or_else(|| {
                    Error::malformed(format!(
                        "variadic buffer count {count} (entry {i}) is more than the record \
                         batch's {} buffers",
                        self.buffer_count()
                    ))
                })?;
        }
        let nodes_end = self.node_i.checked_add(layout.nodes);
        let buffers_end = self.buffer_i.checked_add(buffers);
        if nodes_end.is_none_or(|n| n > self.node_count())
            || buffers_end.is_none_or(|b| b > self.buffer_count())
        {
            return Err(Error::malformed(format!(
                "record batch has {} field nodes and {} buffers, fewer than the schema needs",
                self.node_count(),
                self.buffer_count()
            )));
        }
        self.node_i += layout.nodes;
        self.buffer_i += buffers;
        Ok(())
    }

    fn finish(&self) -> Result<()> {
        if self.node_i != self.node_count() || self.buffer_i != self.buffer_count() {
            return Err(Error::malformed(format!(
                "record batch has {} field nodes and {} buffers, the schema describes {} and {}",
                self.node_count(),
                self.buffer_count(),
                self.node_i,
                self.buffer_i
            )));
        }
        Ok(())
    }
}

/// Bytes needed for `len` bits.
fn bitmap_bytes(len: usize) -> usize {
    len.div_ceil(8)
}

/// A bitmap of `len` bits from `buf`, checked for size.
fn bitmap(buf: SharedBuffer, len: usize, what: &str, tally: &Tally) -> Result<Bitmask> {
    let need = bitmap_bytes(len);
    if buf.len() < need {
        return Err(Error::malformed(format!(
            "{what} bitmap has {} bytes; {len} rows need {need}",
            buf.len()
        )));
    }
    Ok(Bitmask::new(bitmap_buffer(exactly(buf, need), tally), len))
}

/// The validity mask of a column and its null count, from the cursor's next buffer.
fn validity(
    cur: &mut BatchCursor<'_>,
    len: usize,
    node_nulls: usize,
) -> Result<(Option<Bitmask>, usize)> {
    if node_nulls == 0 {
        cur.unused_buffer()?;
        return Ok((None, 0));
    }
    let buf = cur.buffer()?;
    if buf.is_empty() {
        return Err(Error::malformed(format!(
            "field node says {node_nulls} nulls but the validity bitmap is absent"
        )));
    }
    let mask = bitmap(buf, len, "validity", cur.tally)?;
    let nulls = len - count_set_bits(mask.as_bytes(), len);
    Ok((Some(mask), nulls))
}

/// `len` values of `T` from `buf`.
fn values<T: bytemuck::Pod>(buf: SharedBuffer, len: usize, tally: &Tally) -> Result<Buffer<T>> {
    let size = std::mem::size_of::<T>();
    let need = len
        .checked_mul(size)
        .ok_or_else(|| Error::malformed("value count overflows"))?;
    if buf.len() < need {
        return Err(Error::malformed(format!(
            "values buffer has {} bytes; {len} values of {size} bytes need {need}",
            buf.len()
        )));
    }
    Ok(typed_buffer::<T>(exactly(buf, need), tally))
}

/// The first `n` bytes of `buf` (which holds at least `n`).
fn exactly(buf: SharedBuffer, n: usize) -> SharedBuffer {
    if buf.len() == n { buf } else { buf.slice(..n) }
}

/// One pass over a string column's offsets: whether they never decrease, and
/// whether each falls on a UTF-8 char boundary of `data` (its end counts as
/// one; so does any offset past it, which the caller rejects by bounds). No
/// early exit and no branch but the bounds test of each byte read (issue 19:
/// the two passes this replaces, the second calling a closure per offset,
/// were 24% of the browser build's decode of a string column).
fn offsets_check<O: OffsetInt>(o: &[O], data: &[u8]) -> (bool, bool) {
    let Some(&first) = o.first() else {
        return (true, true);
    };
    let (mut monotonic, mut boundaries, mut prev) = (true, true, first);
    for &x in o {
        monotonic &= prev <= x;
        // An offset beyond usize (a u64 on wasm32) only arises with
        // `monotonic` or the bounds test failing, so the wrapped index is moot.
        let at = x.to_u64() as usize;
        // A UTF-8 continuation byte is 0b10xx_xxxx; anything else starts a char.
        boundaries &= data.get(at).is_none_or(|&b| (b as i8) >= -0x40);
        prev = x;
    }
    (monotonic, boundaries)
}

/// Offsets per block of [`strings`]' checks: 16K strings, a few hundred KB of
/// data, which stays cached between the block's UTF-8 pass and offsets pass.
const STRING_BLOCK: usize = 1 << 14;

/// Offsets and data of a string column, validated: offsets in bounds and
/// non-decreasing, every non-null value valid UTF-8. Null values that are not
/// valid UTF-8 are replaced by empty strings (one copy, rare).
fn strings<O: OffsetInt>(
    offsets_buf: SharedBuffer,
    data_buf: SharedBuffer,
    len: usize,
    mask: Option<&Bitmask>,
    tally: &Tally,
) -> Result<(Buffer<O>, Buffer<u8>)> {
    let offsets: Buffer<O> = if len == 0 && offsets_buf.is_empty() {
        Buffer::from_vec64(Vec64::from_slice(&[O::default()]))
    } else {
        let n = len
            .checked_add(1)
            .ok_or_else(|| Error::malformed("row count overflows"))?;
        values::<O>(offsets_buf, n, tally)?
    };
    let o = offsets.as_slice();
    let (first, last) = match (o.first(), o.last()) {
        (Some(f), Some(l)) => (f.to_u64(), l.to_u64()),
        _ => return Err(Error::malformed("string offsets are empty")),
    };
    let in_bounds = first <= last && last <= O::MAX && last <= data_buf.len() as u64;
    // Sliced to `last` only once it is known to be in bounds: the check below
    // then reads nothing past the column's data.
    let data_all = data_buf.slice(..if in_bounds { last as usize } else { 0 });
    let data = data_all.as_slice();
    let body = data.get(first as usize..).unwrap_or_default();
    // In blocks of offsets, each block's data validated as UTF-8 and then its
    // offsets checked, so that the check's reads of the data hit the cache the
    // UTF-8 pass just filled. Valid blocks, cut at offsets that are char
    // boundaries, make valid data; a cut inside a char fails its block.
    let (mut valid_utf8, mut monotonic, mut boundaries) = (true, true, true);
    // Blocks of STRING_BLOCK + 1 offsets, each sharing its last with the next.
    for start in (0..o.len().saturating_sub(1)).step_by(STRING_BLOCK) {
        let block = o
            .get(start..o.len().min(start + STRING_BLOCK + 1))
            .unwrap_or_default();
        if let (Some(a), Some(b)) = (block.first(), block.last()) {
            // Out of order or out of bounds: `get` is None, and the offsets
            // check below fails too.
            let (a, b) = (a.to_u64() as usize, b.to_u64() as usize);
            valid_utf8 &= data
                .get(a..b)
                .is_some_and(|d| simdutf8::basic::from_utf8(d).is_ok());
        }
        let (m, c) = offsets_check(block, data);
        monotonic &= m;
        boundaries &= c;
    }
    if !(monotonic && in_bounds) {
        return Err(Error::invalid(format!(
            "string offsets are out of order or out of bounds (first {first}, last {last}, \
             data buffer of {} bytes)",
            data_buf.len()
        )));
    }
    if boundaries && valid_utf8 {
        return Ok((offsets, typed_buffer::<u8>(data_all, tally)));
    }
    // Cold path: find the offending value; if only null slots are bad, blank them.
    let mut new_offsets: Vec64<O> = Vec64::with_capacity(len + 1);
    let mut new_data: Vec64<u8> = Vec64::with_capacity(body.len());
    new_offsets.push(O::default());
    // `o` holds `len + 1` offsets, in order and within `data` (checked above).
    for (i, (a, b)) in o.iter().zip(o.iter().skip(1)).enumerate() {
        let s = data
            .get(a.to_u64() as usize..b.to_u64() as usize)
            .ok_or_else(|| Error::invalid("string offsets are out of bounds"))?;
        let is_valid = mask.is_none_or(|m| m.get(i));
        if simdutf8::basic::from_utf8(s).is_err() {
            if is_valid {
                return Err(Error::invalid(format!(
                    "string at row {i} is not valid UTF-8"
                )));
            }
        } else if is_valid {
            new_data.extend_from_slice(s);
        }
        let end = O::from_usize(new_data.len())
            .ok_or_else(|| Error::invalid("string data too large for its offset type"))?;
        new_offsets.push(end);
    }
    // The values are rebuilt: the offsets taken above are not used, the data not borrowed.
    tally.replace(
        bytemuck::cast_slice(offsets.as_slice()),
        new_offsets.len() * std::mem::size_of::<O>(),
    );
    tally.copy(new_data.len());
    Ok((
        Buffer::from_vec64(new_offsets),
        Buffer::from_vec64(new_data),
    ))
}

fn categorical<K: KeyInt>(
    keys_buf: SharedBuffer,
    len: usize,
    mut mask: Option<Bitmask>,
    mut nulls: usize,
    dict: &DictValues,
    enc: &DictionaryEncoding,
    cur: &BatchCursor<'_>,
) -> Result<(CategoricalArray<K>, usize)> {
    let tally = cur.tally;
    let mut keys = values::<K>(keys_buf, len, tally)?;
    let dict_len = dict.strings.len() as u64;
    // Signed keys can only address 0..2^(bits-1); a negative key read as
    // unsigned lands above that bound and is caught with the out-of-range ones.
    let bound = if enc.index_type.is_signed() {
        dict_len.min(1u64 << (enc.index_type.byte_width() * 8 - 1))
    } else {
        dict_len
    };
    let k = keys.as_slice();
    if any_key_at_or_above(k, bound) {
        // Out-of-range keys are an error where the row is valid; under a null
        // they are only garbage, which is zeroed in a copy.
        let mut fixed: Vec64<K> = Vec64::with_capacity(len);
        for (i, &key) in k.iter().enumerate() {
            let valid = mask.as_ref().is_none_or(|m| m.get(i));
            if key.to_u64() < bound {
                fixed.push(key);
            } else if valid {
                let shown = if enc.index_type.is_signed() {
                    signed_key(key.to_u64(), enc.index_type.byte_width()).to_string()
                } else {
                    key.to_u64().to_string()
                };
                return Err(Error::invalid(format!(
                    "dictionary key {shown} at row {i} is out of range for a dictionary of \
                     {dict_len} values (id {})",
                    enc.id
                )));
            } else {
                fixed.push(K::default());
            }
        }
        tally.replace(
            bytemuck::cast_slice(k),
            fixed.len() * std::mem::size_of::<K>(),
        );
        keys = Buffer::from_vec64(fixed);
    }
    if let Some(valid) = &dict.valid {
        let entry_valid = |key: K| valid.get(key.to_u64() as usize).copied().unwrap_or(true);
        // Rows whose key points at a null dictionary entry are null.
        let k = keys.as_slice();
        let hits_null = k
            .iter()
            .enumerate()
            .any(|(i, &key)| !entry_valid(key) && mask.as_ref().is_none_or(|m| m.get(i)));
        if hits_null {
            let mut m = Bitmask::new_set_all(len, true);
            for (i, &key) in k.iter().enumerate() {
                let row_valid = mask.as_ref().is_none_or(|mm| mm.get(i));
                if !row_valid || !entry_valid(key) {
                    m.set(i, false);
                }
            }
            nulls = len - count_set_bits(m.as_bytes(), len);
            if let Some(old) = &mask {
                tally.unused(old.as_bytes());
            }
            mask = Some(m);
        }
    }
    if cur.compact_dictionaries && dict.strings.len() > len {
        // `ReadOptions::compact_dictionaries`, and more dictionary values than
        // rows: the batch gets only the values its rows use (see
        // `used_values`), so it costs its rows, not the whole dictionary again.
        let (used_keys, used) = used_values(keys.as_slice(), mask.as_ref(), &dict.strings)?;
        tally.replace(
            bytemuck::cast_slice(keys.as_slice()),
            used_keys.len() * std::mem::size_of::<K>(),
        );
        return Ok((
            CategoricalArray {
                data: Buffer::from_vec64(used_keys),
                unique_values: used,
                null_mask: mask,
            },
            nulls,
        ));
    }
    Ok((
        CategoricalArray {
            data: keys,
            unique_values: dict.strings.clone(),
            null_mask: mask,
        },
        nulls,
    ))
}

/// The dictionary values the valid rows of `keys` use, in dictionary order,
/// and the keys rewritten to address them (0 under a null). minarrow 0.19's
/// `CategoricalArray` owns its `Vec64<String>`, so handing every batch the
/// whole dictionary would copy it per batch: quadratic for a stream of small
/// batches that each add a delta, and a batch of a few bytes could make the
/// decoder copy a dictionary of millions of values. This costs O(rows log rows).
/// Every key of a valid row must be in range (checked by the caller).
fn used_values<K: KeyInt>(
    keys: &[K],
    mask: Option<&Bitmask>,
    strings: &[String],
) -> Result<(Vec64<K>, Vec64<String>)> {
    let valid = |i: usize| mask.is_none_or(|m| m.get(i));
    // Widened to u64: one sort for every key width (a smaller `.wasm`).
    let mut used: Vec<u64> = keys
        .iter()
        .enumerate()
        .filter(|&(i, _)| valid(i))
        .map(|(_, &k)| k.to_u64())
        .collect();
    used.sort_unstable();
    used.dedup();
    let mut values = Vec64::with_capacity(used.len());
    for &k in &used {
        let s = strings
            .get(k as usize)
            .ok_or_else(|| Error::malformed("dictionary key out of range"))?;
        values.push(s.clone());
    }
    let mut rewritten = Vec64::with_capacity(keys.len());
    for (i, &k) in keys.iter().enumerate() {
        // A key's rank among the used keys is at most the key: it fits `K`.
        let rank = if valid(i) {
            used.binary_search(&k.to_u64()).unwrap_or_else(|at| at)
        } else {
            0
        };
        rewritten.push(
            K::from_u64(rank as u64)
                .ok_or_else(|| Error::malformed("dictionary key out of range"))?,
        );
    }
    Ok((rewritten, values))
}

fn signed_key(raw: u64, width: usize) -> i64 {
    let shift = 64 - width * 8;
    ((raw << shift) as i64) >> shift
}

fn temporal<T: bytemuck::Pod + minarrow::Integer>(
    buf: SharedBuffer,
    len: usize,
    mask: Option<Bitmask>,
    unit: TimeUnit,
    tally: &Tally,
) -> Result<DatetimeArray<T>> {
    Ok(DatetimeArray {
        data: values::<T>(buf, len, tally)?,
        null_mask: mask,
        time_unit: unit,
    })
}

/// Decodes one supported column.
fn read_column(
    cur: &mut BatchCursor<'_>,
    field: &Arc<Field>,
    enc: Option<&DictionaryEncoding>,
    dicts: &Dictionaries,
    rows: usize,
) -> Result<FieldArray> {
    let (len, node_nulls) = cur.node()?;
    if len != rows {
        return Err(Error::malformed(format!(
            "column has {len} rows but its record batch has {rows}"
        )));
    }
    if field.dtype == ArrowType::Null {
        return Ok(FieldArray {
            field: field.clone(),
            array: Array::Null,
            null_count: len,
        });
    }
    let (mask, nulls) = validity(cur, len, node_nulls)?;
    let num = |a: NumericArray| Array::NumericArray(a);
    let array =
        match &field.dtype {
            ArrowType::Boolean => {
                let data = bitmap(cur.buffer()?, len, "boolean values", cur.tally)?;
                Array::BooleanArray(Arc::new(BooleanArray::new(data, mask)))
            }
            ArrowType::Int8 => num(NumericArray::Int8(Arc::new(IntegerArray {
                data: values(cur.buffer()?, len, cur.tally)?,
                null_mask: mask,
            }))),
            ArrowType::Int16 => num(NumericArray::Int16(Arc::new(IntegerArray {
                data: values(cur.buffer()?, len, cur.tally)?,
                null_mask: mask,
            }))),
            ArrowType::Int32 => num(NumericArray::Int32(Arc::new(IntegerArray {
                data: values(cur.buffer()?, len, cur.tally)?,
                null_mask: mask,
            }))),
            ArrowType::Int64 => num(NumericArray::Int64(Arc::new(IntegerArray {
                data: values(cur.buffer()?, len, cur.tally)?,
                null_mask: mask,
            }))),
            ArrowType::UInt8 => num(NumericArray::UInt8(Arc::new(IntegerArray {
                data: values(cur.buffer()?, len, cur.tally)?,
                null_mask: mask,
            }))),
            ArrowType::UInt16 => num(NumericArray::UInt16(Arc::new(IntegerArray {
                data: values(cur.buffer()?, len, cur.tally)?,
                null_mask: mask,
            }))),
            ArrowType::UInt32 => num(NumericArray::UInt32(Arc::new(IntegerArray {
                data: values(cur.buffer()?, len, cur.tally)?,
                null_mask: mask,
            }))),
            ArrowType::UInt64 => num(NumericArray::UInt64(Arc::new(IntegerArray {
                data: values(cur.buffer()?, len, cur.tally)?,
                null_mask: mask,
            }))),
            ArrowType::Float32 => num(NumericArray::Float32(Arc::new(FloatArray {
                data: values(cur.buffer()?, len, cur.tally)?,
                null_mask: mask,
            }))),
            ArrowType::Float64 => num(NumericArray::Float64(Arc::new(FloatArray {
                data: values(cur.buffer()?, len, cur.tally)?,
                null_mask: mask,
            }))),
            ArrowType::Decimal32(p, s) => num(NumericArray::Decimal32(Arc::new(DecimalArray {
                data: values(cur.buffer()?, len, cur.tally)?,
                null_mask: mask,
                precision: *p,
                scale: *s,
            }))),
            ArrowType::Decimal64(p, s) => num(NumericArray::Decimal64(Arc::new(DecimalArray {
                data: values(cur.buffer()?, len, cur.tally)?,
                null_mask: mask,
                precision: *p,
                scale: *s,
            }))),
            ArrowType::Decimal128(p, s) => num(NumericArray::Decimal128(Arc::new(DecimalArray {
                data: values(cur.buffer()?, len, cur.tally)?,
                null_mask: mask,
                precision: *p,
                scale: *s,
            }))),
            ArrowType::String => {
                let offsets = cur.buffer()?;
                let (offsets, data) =
                    strings::<u32>(offsets, cur.buffer()?, len, mask.as_ref(), cur.tally)?;
                Array::TextArray(TextArray::String32(Arc::new(StringArray {
                    offsets,
                    data,
                    null_mask: mask,
                })))
            }
            ArrowType::LargeString => {
                let offsets = cur.buffer()?;
                let (offsets, data) =
                    strings::<u64>(offsets, cur.buffer()?, len, mask.as_ref(), cur.tally)?;
                Array::TextArray(TextArray::String64(Arc::new(StringArray {
                    offsets,
                    data,
                    null_mask: mask,
                })))
            }
            ArrowType::Date32 => Array::TemporalArray(TemporalArray::Datetime32(Arc::new(
                temporal::<i32>(cur.buffer()?, len, mask, TimeUnit::Days, cur.tally)?,
            ))),
            ArrowType::Date64 => Array::TemporalArray(TemporalArray::Datetime64(Arc::new(
                temporal::<i64>(cur.buffer()?, len, mask, TimeUnit::Milliseconds, cur.tally)?,
            ))),
            ArrowType::Time32(u) => Array::TemporalArray(TemporalArray::Datetime32(Arc::new(
                temporal::<i32>(cur.buffer()?, len, mask, *u, cur.tally)?,
            ))),
            ArrowType::Time64(u) | ArrowType::Timestamp(u, _) | ArrowType::Duration64(u) => {
                Array::TemporalArray(TemporalArray::Datetime64(Arc::new(temporal::<i64>(
                    cur.buffer()?,
                    len,
                    mask,
                    *u,
                    cur.tally,
                )?)))
            }
            ArrowType::Dictionary(_) => {
                let enc =
                    enc.ok_or_else(|| Error::malformed("dictionary field without encoding"))?;
                let dict = dicts.get(&enc.id).ok_or_else(|| {
                    Error::malformed(format!(
                        "record batch uses dictionary id {} before any dictionary batch defined it",
                        enc.id
                    ))
                })?;
                let keys = cur.buffer()?;
                let text = match enc.index_type.byte_width() {
                    1 => {
                        let (a, n) = categorical::<u8>(keys, len, mask, nulls, dict, enc, cur)?;
                        return Ok(field_array(
                            field,
                            Array::TextArray(TextArray::Categorical8(Arc::new(a))),
                            n,
                        ));
                    }
                    2 => {
                        let (a, n) = categorical::<u16>(keys, len, mask, nulls, dict, enc, cur)?;
                        (TextArray::Categorical16(Arc::new(a)), n)
                    }
                    4 => {
                        let (a, n) = categorical::<u32>(keys, len, mask, nulls, dict, enc, cur)?;
                        (TextArray::Categorical32(Arc::new(a)), n)
                    }
                    _ => {
                        let (a, n) = categorical::<u64>(keys, len, mask, nulls, dict, enc, cur)?;
                        (TextArray::Categorical64(Arc::new(a)), n)
                    }
                };
                return Ok(field_array(field, Array::TextArray(text.0), text.1));
            }
            other => {
                return Err(Error::unsupported(format!(
                    "minarrow type {other:?} cannot be read"
                )));
            }
        };
    Ok(field_array(field, array, nulls))
}

fn field_array(field: &Arc<Field>, array: Array, null_count: usize) -> FieldArray {
    FieldArray {
        field: field.clone(),
        array,
        null_count,
    }
}

fn batch_rows(batch: &fbs::RecordBatch<'_>, limits: &DecodeLimits) -> Result<usize> {
    wire_len(batch.length(), "record batch length", limits.max_rows)
}

/// Decodes a `RecordBatch` into a table of the `columns` (wire indices, in
/// output order), counting in `tally` the buffers it borrows and copies.
pub(crate) fn read_record_batch(
    batch: &fbs::RecordBatch<'_>,
    body: &SharedBuffer,
    schema: &WireSchema,
    columns: &[usize],
    dicts: &Dictionaries,
    options: &ReadOptions,
    tally: &Tally,
) -> Result<Table> {
    let limits = &options.limits;
    let rows = batch_rows(batch, limits)?;
    let mut cur = BatchCursor::new(batch, body, limits, tally)?;
    cur.compact_dictionaries = options.compact_dictionaries;
    let decode = |cur: &mut BatchCursor<'_>, wf: &WireField| -> Result<FieldArray> {
        let field = wf.field.as_ref().ok_or_else(|| {
            Error::unsupported(format!(
                "Arrow type {} has no minarrow equivalent",
                wf.info.arrow_type
            ))
        });
        field
            .and_then(|f| read_column(cur, f, wf.dictionary.as_ref(), dicts, rows))
            .map_err(|e| e.in_field(&wf.info.name, &wf.info.arrow_type))
    };
    let in_order = columns.is_sorted_by(|a, b| a < b)
        && columns.last().is_none_or(|&c| c < schema.fields.len());
    let cols = if in_order {
        // Every column, or a projection in schema order: decode straight
        // into the table, skipping the columns left out.
        let mut cols = Vec::with_capacity(columns.len());
        let mut wanted = columns.iter().copied().peekable();
        for (i, wf) in schema.fields.iter().enumerate() {
            if wanted.next_if_eq(&i).is_some() {
                cols.push(decode(&mut cur, wf)?);
            } else {
                cur.skip(wf.layout)?;
            }
        }
        cur.finish()?;
        cols
    } else {
        let mut decoded: Vec<Option<FieldArray>> = vec![None; schema.fields.len()];
        let mut wanted = vec![false; schema.fields.len()];
        for &c in columns {
            if let Some(w) = wanted.get_mut(c) {
                *w = true;
            }
        }
        for ((wf, &want), slot) in schema.fields.iter().zip(&wanted).zip(&mut decoded) {
            if !want {
                cur.skip(wf.layout)?;
                continue;
            }
            *slot = Some(decode(&mut cur, wf)?);
        }
        cur.finish()?;
        let mut cols = Vec::with_capacity(columns.len());
        for &c in columns {
            let col = decoded
                .get(c)
                .and_then(|d| d.clone())
                .ok_or_else(|| Error::schema(format!("projection names missing column {c}")))?;
            cols.push(col);
        }
        cols
    };
    Ok(Table {
        cols,
        n_rows: rows,
        name: String::new(),
        metadata: schema.metadata.clone(),
    })
}

/// Applies a `DictionaryBatch` to `dicts`; one that is not `wanted` (only
/// columns not read use it) is checked to belong to the schema and skipped
/// undecoded.
pub(crate) fn read_dictionary_batch(
    batch: &fbs::DictionaryBatch<'_>,
    body: &SharedBuffer,
    schema: &WireSchema,
    dicts: &mut Dictionaries,
    wanted: bool,
    limits: &DecodeLimits,
) -> Result<()> {
    let id = batch.id();
    let Some(wf) = schema
        .fields
        .iter()
        .find(|f| f.dictionary_ids.contains(&id))
    else {
        return Err(Error::malformed(format!(
            "dictionary batch for id {id}, which no field of the schema uses"
        )));
    };
    if !wanted {
        // Only columns that are not read use it: not decoded (nor decompressed).
        return Ok(());
    }
    let Some(enc) = schema
        .fields
        .iter()
        .find_map(|f| f.dictionary.filter(|d| d.id == id))
    else {
        // Only unsupported fields use it: nothing to keep.
        return Ok(());
    };
    let data = batch
        .data()
        .ok_or_else(|| Error::malformed(format!("dictionary batch {id} has no data")))?;
    let rows = batch_rows(&data, limits)?;
    // Dictionary values become minarrow's strings (always new memory): not counted.
    let tally = Tally::default();
    let mut cur = BatchCursor::new(&data, body, limits, &tally)?;
    let (len, node_nulls) = cur.node()?;
    if len != rows {
        return Err(Error::malformed(format!(
            "dictionary {id} has {len} values but its batch says {rows}"
        )));
    }
    let (mask, _) = validity(&mut cur, len, node_nulls)?;
    let offsets = cur.buffer()?;
    let data_buf = cur.buffer()?;
    cur.finish()?;
    let (strings_vec, valid) = if enc.large_values {
        let (o, d) = strings::<u64>(offsets, data_buf, len, mask.as_ref(), &tally)?;
        to_strings(o.as_slice(), d.as_slice(), mask.as_ref())?
    } else {
        let (o, d) = strings::<u32>(offsets, data_buf, len, mask.as_ref(), &tally)?;
        to_strings(o.as_slice(), d.as_slice(), mask.as_ref())?
    };
    let name = &wf.info.name;
    if batch.isDelta() {
        let old = dicts.get_mut(&id).ok_or_else(|| {
            Error::malformed(format!(
                "delta dictionary for id {id} before its first dictionary"
            ))
        })?;
        let old_len = old.strings.len();
        let total = old_len + strings_vec.len();
        if total > limits.max_dictionary_values {
            return Err(Error::limit(
                &format!("dictionary {id} (field \"{name}\") value count"),
                total as u64,
                limits.max_dictionary_values as u64,
            ));
        }
        // Appended in place: a delta costs its own values, not the whole
        // dictionary again (issue 14, item 3).
        old.strings.extend(strings_vec);
        match (&mut old.valid, valid) {
            (None, None) => {}
            (Some(v), None) => v.resize(total, true),
            (v, Some(new)) => {
                let mut all = v.take().unwrap_or_else(|| vec![true; old_len]);
                all.extend(new);
                *v = Some(all);
            }
        }
    } else {
        if strings_vec.len() > limits.max_dictionary_values {
            return Err(Error::limit(
                &format!("dictionary {id} (field \"{name}\") value count"),
                strings_vec.len() as u64,
                limits.max_dictionary_values as u64,
            ));
        }
        dicts.insert(
            id,
            DictValues {
                strings: strings_vec,
                valid,
            },
        );
    }
    Ok(())
}

type StringsAndValidity = (Vec64<String>, Option<Vec<bool>>);

fn to_strings<O: OffsetInt>(
    o: &[O],
    data: &[u8],
    mask: Option<&Bitmask>,
) -> Result<StringsAndValidity> {
    let n = o.len().saturating_sub(1);
    let mut out = Vec64::with_capacity(n);
    for (a, b) in o.iter().zip(o.iter().skip(1)) {
        let s = data
            .get(a.to_u64() as usize..b.to_u64() as usize)
            .ok_or_else(|| Error::malformed("dictionary string out of bounds"))?;
        let s = simdutf8::basic::from_utf8(s)
            .map_err(|_| Error::invalid("dictionary value is not valid UTF-8"))?;
        out.push(s.to_string());
    }
    let valid = mask.map(|m| (0..n).map(|i| m.get(i)).collect());
    Ok((out, valid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bits_at_any_length() {
        let bytes = [0xFFu8, 0x01, 0x80, 0xFF, 0, 0, 0, 0, 0xAA, 0x0F];
        let slow = |len: usize| {
            (0..len)
                .filter(|&i| bytes[i / 8] >> (i % 8) & 1 == 1)
                .count()
        };
        for len in 0..=80 {
            assert_eq!(count_set_bits(&bytes, len), slow(len), "len {len}");
        }
    }

    #[test]
    fn offsets_check_matches_a_plain_reading() {
        // "aé€𝄞": every kind of char, and continuation bytes at 2, 4, 5, 7, 8, 9.
        let data = "aé€𝄞".as_bytes();
        let plain = |o: &[u32]| {
            let monotonic = o.windows(2).all(|w| w[0] <= w[1]);
            let boundaries = o.iter().all(|&x| {
                let x = x as usize;
                x >= data.len() || std::str::from_utf8(data).unwrap().is_char_boundary(x)
            });
            (monotonic, boundaries)
        };
        let top = data.len() as u32 + 2;
        let mut checked = 0;
        for a in 0..top {
            for b in 0..top {
                for c in 0..top {
                    let o = [a, b, c];
                    assert_eq!(offsets_check(&o, data), plain(&o), "{o:?}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 12 * 12 * 12);
        assert_eq!(offsets_check::<u64>(&[], data), (true, true));
        assert_eq!(offsets_check::<u64>(&[u64::MAX], data), (true, true));
    }

    #[test]
    fn signed_keys_sign_extend() {
        assert_eq!(signed_key(0xFF, 1), -1);
        assert_eq!(signed_key(0x7F, 1), 127);
        assert_eq!(signed_key(0xFFFF_FFFE, 4), -2);
    }
}
