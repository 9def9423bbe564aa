//! minarrow tables -> encapsulated IPC messages.
//!
//! An [`EncodedMessage`] is the message prefix and flatbuffer metadata (owned,
//! small) followed by body chunks that borrow the table's own column buffers,
//! so writing a table copies no column data: a shell hands the chunks to a
//! vectored write. Every buffer is padded to the configured alignment (64 by
//! default) and the metadata is padded so that each body starts aligned in the
//! output. Dictionaries are tracked per id across tables: unchanged ones are
//! not resent, grown ones go out as deltas, changed ones as replacements.

use std::collections::HashMap;
use std::io::{IoSlice, Write};
use std::sync::Arc;

use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};
use minarrow::{
    Array, ArrowType, Bitmask, FieldArray, NumericArray, Table, TemporalArray, TextArray, TimeUnit,
};

use super::compression::{Compression, compress_buffer};
use super::read::{KeyInt, OffsetInt, any_key_at_or_above, count_set_bits};
use super::schema::{DictionaryEncoding, Schema, write_schema};
use crate::buffers::{ALIGNMENT, padded_len};
use crate::error::{Error, Result};
use crate::fbs;
use crate::framing::ipc::{END_OF_STREAM, write_prefix};

/// Options for writing IPC streams and files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Body compression.
    pub compression: Compression,
    /// Alignment of every body buffer and of each message body in the output:
    /// 64 (default) or 8 (what pyarrow writes); any power of two from 8 up.
    pub alignment: usize,
    /// Send grown dictionaries as deltas (otherwise as replacements).
    pub allow_delta_dictionaries: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compression: Compression::None,
            alignment: ALIGNMENT,
            allow_delta_dictionaries: true,
        }
    }
}

static ZEROS: [u8; 64] = [0; 64];

#[derive(Debug)]
enum Chunk<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    Zeros(usize),
}

impl Chunk<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Borrowed(b) => b,
            Chunk::Owned(v) => v,
            Chunk::Zeros(n) => &ZEROS[..*n],
        }
    }
}

/// One encapsulated message ready to write: metadata plus body chunks that
/// borrow column buffers from the table they came from.
#[derive(Debug)]
pub struct EncodedMessage<'a> {
    head: Vec<u8>,
    body: Vec<Chunk<'a>>,
    body_len: usize,
}

impl<'a> EncodedMessage<'a> {
    fn raw(bytes: Vec<u8>) -> EncodedMessage<'a> {
        EncodedMessage {
            head: bytes,
            body: Vec::new(),
            body_len: 0,
        }
    }

    pub(crate) fn prepend(&mut self, bytes: &[u8]) {
        self.head.splice(0..0, bytes.iter().copied());
    }

    /// Bytes this message occupies on the wire.
    pub fn len(&self) -> usize {
        self.head.len() + self.body_len
    }

    /// Never true: every message has at least its prefix.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Length of the prefix plus metadata (what an IPC file `Block` calls
    /// `metaDataLength`).
    pub fn metadata_len(&self) -> usize {
        self.head.len()
    }

    /// Length of the body.
    pub fn body_len(&self) -> usize {
        self.body_len
    }

    /// The message as a list of slices, for a vectored write.
    pub fn io_slices(&self) -> Vec<IoSlice<'_>> {
        let mut v = Vec::with_capacity(1 + self.body.len());
        v.push(IoSlice::new(&self.head));
        v.extend(self.body.iter().map(|c| IoSlice::new(c.bytes())));
        v
    }

    /// Writes the message with vectored writes.
    pub fn write_to<W: Write + ?Sized>(&self, w: &mut W) -> std::io::Result<()> {
        let mut slices = self.io_slices();
        let mut bufs: &mut [IoSlice<'_>] = &mut slices;
        while !bufs.is_empty() {
            match w.write_vectored(bufs) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::WriteZero,
                        "failed to write a whole IPC message",
                    ));
                }
                Ok(n) => IoSlice::advance_slices(&mut bufs, n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Appends the message's bytes to `out` (copies the column data).
    pub fn append_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.len());
        out.extend_from_slice(&self.head);
        for c in &self.body {
            out.extend_from_slice(c.bytes());
        }
    }

    /// The message as one vector (copies the column data).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.append_to(&mut out);
        out
    }
}

/// Collects the nodes and buffers of one record batch.
struct BodyBuilder<'a> {
    nodes: Vec<fbs::FieldNode>,
    buffers: Vec<fbs::Buffer>,
    chunks: Vec<Chunk<'a>>,
    len: usize,
    alignment: usize,
    compression: Compression,
}

impl<'a> BodyBuilder<'a> {
    fn new(options: &WriteOptions) -> Self {
        BodyBuilder {
            nodes: Vec::new(),
            buffers: Vec::new(),
            chunks: Vec::new(),
            len: 0,
            alignment: options.alignment,
            compression: options.compression,
        }
    }

    fn node(&mut self, len: usize, nulls: usize) {
        self.nodes
            .push(fbs::FieldNode::new(len as i64, nulls as i64));
    }

    fn buffer(&mut self, chunk: Chunk<'a>) -> Result<()> {
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

    fn bytes(&mut self, b: &'a [u8]) -> Result<()> {
        self.buffer(Chunk::Borrowed(b))
    }

    fn validity(&mut self, mask: Option<&'a Bitmask>, len: usize) -> Result<usize> {
        let Some(mask) = mask else {
            self.buffer(Chunk::Owned(Vec::new()))?;
            return Ok(0);
        };
        let need = len.div_ceil(8);
        let bytes = mask.as_bytes();
        if bytes.len() < need || mask.len() < len {
            return Err(Error::schema(format!(
                "null mask holds {} bits for {len} rows",
                mask.len()
            )));
        }
        let nulls = len - count_set_bits(bytes, len);
        if nulls == 0 {
            self.buffer(Chunk::Owned(Vec::new()))?;
        } else {
            self.bytes(&bytes[..need])?;
        }
        Ok(nulls)
    }

    fn build<'b>(
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

fn pod_bytes<T: bytemuck::Pod>(s: &[T]) -> &[u8] {
    bytemuck::cast_slice(s)
}

fn mismatch(fa: &FieldArray) -> Error {
    Error::schema(format!(
        "column \"{}\" is declared {:?} but holds a different kind of array",
        fa.field.name, fa.field.dtype
    ))
}

/// Adds one column's node and buffers.
fn write_column<'a>(
    body: &mut BodyBuilder<'a>,
    fa: &'a FieldArray,
    rows: usize,
    dict_len: Option<usize>,
    enc: Option<&DictionaryEncoding>,
) -> Result<()> {
    if fa.field.dtype == ArrowType::Null {
        if !matches!(fa.array, Array::Null) {
            return Err(mismatch(fa));
        }
        body.node(rows, rows);
        return Ok(());
    }
    let len = fa.array.len();
    if len != rows {
        return Err(Error::schema(format!(
            "column \"{}\" has {len} rows, the table has {rows}",
            fa.field.name
        )));
    }
    macro_rules! fixed {
        ($arr:expr) => {{
            let nulls = body.validity($arr.null_mask.as_ref(), len)?;
            body.bytes(pod_bytes(&$arr.data.as_slice()[..len]))?;
            nulls
        }};
    }
    let nulls_pos = body.nodes.len();
    body.node(len, 0);
    let dtype = &fa.field.dtype;
    let nulls = match (&fa.array, dtype) {
        (Array::BooleanArray(a), ArrowType::Boolean) => {
            let nulls = body.validity(a.null_mask.as_ref(), len)?;
            let bits = a.data.as_bytes();
            let need = len.div_ceil(8);
            if bits.len() < need {
                return Err(Error::schema("boolean array holds fewer bits than rows"));
            }
            body.bytes(&bits[..need])?;
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
                    let nulls = body.validity(a.null_mask.as_ref(), len)?;
                    let wide: Vec<u8> = a.data.as_slice()[..len]
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
                let nulls = body.validity(a.null_mask.as_ref(), len)?;
                write_strings(
                    body,
                    a.offsets.as_slice(),
                    a.data.as_slice(),
                    len,
                    &fa.field.name,
                )?;
                nulls
            }
            (TextArray::String64(a), ArrowType::LargeString) => {
                let nulls = body.validity(a.null_mask.as_ref(), len)?;
                write_strings(
                    body,
                    a.offsets.as_slice(),
                    a.data.as_slice(),
                    len,
                    &fa.field.name,
                )?;
                nulls
            }
            (TextArray::Categorical8(a), ArrowType::Dictionary(_)) => write_keys(
                body,
                a.data.as_slice(),
                a.null_mask.as_ref(),
                len,
                dict_len,
                enc,
                fa,
            )?,
            (TextArray::Categorical16(a), ArrowType::Dictionary(_)) => write_keys(
                body,
                a.data.as_slice(),
                a.null_mask.as_ref(),
                len,
                dict_len,
                enc,
                fa,
            )?,
            (TextArray::Categorical32(a), ArrowType::Dictionary(_)) => write_keys(
                body,
                a.data.as_slice(),
                a.null_mask.as_ref(),
                len,
                dict_len,
                enc,
                fa,
            )?,
            (TextArray::Categorical64(a), ArrowType::Dictionary(_)) => write_keys(
                body,
                a.data.as_slice(),
                a.null_mask.as_ref(),
                len,
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

fn write_strings<'a, O: OffsetInt>(
    body: &mut BodyBuilder<'a>,
    offsets: &'a [O],
    data: &'a [u8],
    len: usize,
    name: &str,
) -> Result<()> {
    if len == 0 && offsets.is_empty() {
        body.buffer(Chunk::Owned(vec![0u8; std::mem::size_of::<O>()]))?;
        return body.buffer(Chunk::Owned(Vec::new()));
    }
    let offsets = offsets
        .get(..len + 1)
        .ok_or_else(|| Error::schema(format!("string column \"{name}\" has too few offsets")))?;
    let last = offsets[len].to_u64();
    if last > O::MAX || last > data.len() as u64 {
        return Err(Error::schema(format!(
            "string column \"{name}\" has offsets past its data"
        )));
    }
    body.bytes(pod_bytes(offsets))?;
    body.bytes(&data[..last as usize])
}

fn write_keys<'a, K: KeyInt + Into<u64>>(
    body: &mut BodyBuilder<'a>,
    keys: &'a [K],
    mask: Option<&'a Bitmask>,
    len: usize,
    dict_len: Option<usize>,
    enc: Option<&DictionaryEncoding>,
    fa: &FieldArray,
) -> Result<usize> {
    let (dict_len, enc) = match (dict_len, enc) {
        (Some(d), Some(e)) => (d as u64, e),
        _ => return Err(mismatch(fa)),
    };
    if enc.index_type.byte_width() != std::mem::size_of::<K>() {
        return Err(Error::schema(format!(
            "column \"{}\" holds {}-byte keys but its dictionary encoding declares {:?}",
            fa.field.name,
            std::mem::size_of::<K>(),
            enc.index_type
        )));
    }
    let keys = keys.get(..len).ok_or_else(|| mismatch(fa))?;
    let bound = if enc.index_type.is_signed() {
        dict_len.min(1u64 << (enc.index_type.byte_width() * 8 - 1))
    } else {
        dict_len
    };
    if any_key_at_or_above(keys, bound) {
        for (i, &k) in keys.iter().enumerate() {
            let valid = mask.is_none_or(|m| m.get(i));
            if valid && k.into() >= bound {
                return Err(Error::schema(format!(
                    "column \"{}\": key {} at row {i} does not address its dictionary of \
                     {dict_len} values as {:?}",
                    fa.field.name,
                    k.into(),
                    enc.index_type
                )));
            }
        }
    }
    let nulls = body.validity(mask, len)?;
    body.bytes(pod_bytes(keys))?;
    Ok(nulls)
}

/// The dictionary values (and for categoricals only) of a column.
fn dictionary_values(fa: &FieldArray) -> Option<&[String]> {
    match &fa.array {
        Array::TextArray(TextArray::Categorical8(a)) => Some(&a.unique_values),
        Array::TextArray(TextArray::Categorical16(a)) => Some(&a.unique_values),
        Array::TextArray(TextArray::Categorical32(a)) => Some(&a.unique_values),
        Array::TextArray(TextArray::Categorical64(a)) => Some(&a.unique_values),
        _ => None,
    }
}

/// What kind of message an encoder produced (the file format records blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageKind {
    Dictionary,
    RecordBatch,
}

/// The state shared by the stream and file encoders.
pub(crate) struct Encoder {
    pub schema: Arc<Schema>,
    pub options: WriteOptions,
    /// Dictionary values last sent, by id.
    sent: HashMap<i64, Vec<String>>,
    /// Bytes written so far (where the next message starts).
    pub position: usize,
    /// Dictionaries may only grow (the file format).
    pub append_only_dictionaries: bool,
}

impl Encoder {
    pub fn new(schema: Arc<Schema>, options: WriteOptions, position: usize) -> Result<Encoder> {
        if options.alignment < 8 || !options.alignment.is_power_of_two() {
            return Err(Error::schema(format!(
                "alignment must be a power of two of at least 8, not {}",
                options.alignment
            )));
        }
        options.compression.check_available()?;
        schema.check_consistent()?;
        Ok(Encoder {
            schema,
            options,
            sent: HashMap::new(),
            position,
            append_only_dictionaries: false,
        })
    }

    /// Frames flatbuffer `metadata` and `body` as one message at the current position.
    fn frame<'a>(
        &mut self,
        metadata: &[u8],
        body: Vec<Chunk<'a>>,
        body_len: usize,
    ) -> Result<EncodedMessage<'a>> {
        let start = self.position + 8 + metadata.len();
        let padded = padded_len(start, self.options.alignment)
            .ok_or_else(|| Error::schema("stream position overflows"))?;
        let pad = padded - start;
        let mut head = Vec::with_capacity(8 + metadata.len() + pad);
        write_prefix(metadata.len() + pad, &mut head)?;
        head.extend_from_slice(metadata);
        head.resize(head.len() + pad, 0);
        let m = EncodedMessage {
            head,
            body,
            body_len,
        };
        self.position += m.len();
        Ok(m)
    }

    fn message_bytes(
        header_type: fbs::MessageHeader,
        build: impl for<'b> FnOnce(&mut FlatBufferBuilder<'b>) -> Result<WIPOffset<UnionWIPOffset>>,
        body_len: usize,
    ) -> Result<Vec<u8>> {
        let mut fbb = FlatBufferBuilder::with_capacity(1024);
        let header = build(&mut fbb)?;
        let message = fbs::Message::create(
            &mut fbb,
            &fbs::MessageArgs {
                version: fbs::MetadataVersion::V5,
                header_type,
                header: Some(header),
                bodyLength: body_len as i64,
                custom_metadata: None,
            },
        );
        fbb.finish(message, None);
        Ok(fbb.finished_data().to_vec())
    }

    pub fn schema_message(&mut self) -> Result<EncodedMessage<'static>> {
        let schema = self.schema.clone();
        let meta = Self::message_bytes(
            fbs::MessageHeader::Schema,
            |fbb| Ok(write_schema(fbb, &schema)?.as_union_value()),
            0,
        )?;
        self.frame(&meta, Vec::new(), 0)
    }

    fn dictionary_message(
        &mut self,
        enc: &DictionaryEncoding,
        values: &[String],
        is_delta: bool,
    ) -> Result<EncodedMessage<'static>> {
        let mut body = BodyBuilder::new(&self.options);
        let n = values.len();
        body.node(n, 0);
        body.buffer(Chunk::Owned(Vec::new()))?;
        let total: usize = values.iter().map(|s| s.len()).sum();
        let mut data = Vec::with_capacity(total);
        if enc.large_values {
            let mut offsets = Vec::with_capacity((n + 1) * 8);
            offsets.extend_from_slice(&0i64.to_le_bytes());
            for s in values {
                data.extend_from_slice(s.as_bytes());
                offsets.extend_from_slice(&(data.len() as i64).to_le_bytes());
            }
            body.buffer(Chunk::Owned(offsets))?;
        } else {
            if total > i32::MAX as usize {
                return Err(Error::schema(format!(
                    "dictionary {} holds {total} bytes of strings, more than Utf8 offsets allow",
                    enc.id
                )));
            }
            let mut offsets = Vec::with_capacity((n + 1) * 4);
            offsets.extend_from_slice(&0i32.to_le_bytes());
            for s in values {
                data.extend_from_slice(s.as_bytes());
                offsets.extend_from_slice(&(data.len() as i32).to_le_bytes());
            }
            body.buffer(Chunk::Owned(offsets))?;
        }
        body.buffer(Chunk::Owned(data))?;
        let id = enc.id;
        let meta = Self::message_bytes(
            fbs::MessageHeader::DictionaryBatch,
            |fbb| {
                let rb = body.build(fbb, n);
                Ok(fbs::DictionaryBatch::create(
                    fbb,
                    &fbs::DictionaryBatchArgs {
                        id,
                        data: Some(rb),
                        isDelta: is_delta,
                    },
                )
                .as_union_value())
            },
            body.len,
        )?;
        let body_len = body.len;
        let chunks = std::mem::take(&mut body.chunks);
        self.frame(&meta, chunks, body_len)
    }

    /// The dictionary messages `table` needs before its record batch.
    fn dictionaries(&mut self, table: &Table) -> Result<Vec<EncodedMessage<'static>>> {
        let mut out = Vec::new();
        let schema = self.schema.clone();
        let mut seen: HashMap<i64, (&str, &[String])> = HashMap::new();
        for (i, fa) in table.cols.iter().enumerate() {
            let Some(enc) = schema.dictionary(i) else {
                continue;
            };
            let values = dictionary_values(fa).ok_or_else(|| mismatch(fa))?;
            if let Some((other, prev)) = seen.get(&enc.id) {
                if *prev != values {
                    return Err(Error::schema(format!(
                        "columns \"{other}\" and \"{}\" share dictionary id {} but hold \
                         different dictionaries",
                        fa.field.name, enc.id
                    )));
                }
                continue;
            }
            seen.insert(enc.id, (&fa.field.name, values));
            let message = match self.sent.get(&enc.id) {
                None => Some(self.dictionary_message(enc, values, false)?),
                Some(prev) if prev.as_slice() == values => None,
                Some(prev)
                    if self.options.allow_delta_dictionaries
                        && values.len() > prev.len()
                        && values.starts_with(prev) =>
                {
                    let from = prev.len();
                    Some(self.dictionary_message(enc, &values[from..], true)?)
                }
                Some(_) if self.append_only_dictionaries => {
                    return Err(Error::schema(format!(
                        "column \"{}\" replaces dictionary {}; the IPC file format only \
                         allows dictionaries to grow (write a stream instead)",
                        fa.field.name, enc.id
                    )));
                }
                Some(_) => Some(self.dictionary_message(enc, values, false)?),
            };
            if let Some(m) = message {
                out.push(m);
                self.sent.insert(enc.id, values.to_vec());
            }
        }
        Ok(out)
    }

    fn check_table(&self, table: &Table) -> Result<()> {
        let fields = &self.schema.fields;
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

    /// Dictionary batches (as needed) and the record batch of `table`.
    pub fn encode_table<'t>(
        &mut self,
        table: &'t Table,
    ) -> Result<Vec<(MessageKind, EncodedMessage<'t>)>> {
        self.check_table(table)?;
        let mut out: Vec<(MessageKind, EncodedMessage<'t>)> = self
            .dictionaries(table)?
            .into_iter()
            .map(|m| (MessageKind::Dictionary, m))
            .collect();
        let rows = table.n_rows;
        let mut body = BodyBuilder::new(&self.options);
        let schema = self.schema.clone();
        for (i, fa) in table.cols.iter().enumerate() {
            let dict_len = dictionary_values(fa).map(<[String]>::len);
            write_column(&mut body, fa, rows, dict_len, schema.dictionary(i))?;
        }
        let meta = Self::message_bytes(
            fbs::MessageHeader::RecordBatch,
            |fbb| Ok(body.build(fbb, rows).as_union_value()),
            body.len,
        )?;
        let body_len = body.len;
        let m = self.frame(&meta, body.chunks, body_len)?;
        out.push((MessageKind::RecordBatch, m));
        Ok(out)
    }

    pub fn end_of_stream(&mut self) -> EncodedMessage<'static> {
        self.position += END_OF_STREAM.len();
        EncodedMessage::raw(END_OF_STREAM.to_vec())
    }
}

/// Sans-IO encoder of the IPC stream format.
///
/// ```
/// use std::sync::Arc;
/// use lightstream_core::{IpcStreamEncoder, Schema, WriteOptions};
/// use lightstream_core::minarrow::{fa_i32, tbl};
/// let table = tbl!("t", fa_i32!("x", 1, 2, 3));
/// let schema = Arc::new(Schema::from_table(&table));
/// let mut enc = IpcStreamEncoder::new(schema, WriteOptions::default()).unwrap();
/// let mut out = Vec::new();
/// enc.schema_message().unwrap().write_to(&mut out).unwrap();
/// for m in enc.encode_table(&table).unwrap() {
///     m.write_to(&mut out).unwrap();
/// }
/// enc.end_of_stream().write_to(&mut out).unwrap();
/// assert_eq!(out.len() % 8, 0);
/// ```
pub struct IpcStreamEncoder {
    inner: Encoder,
}

impl IpcStreamEncoder {
    /// An encoder for tables of `schema`.
    pub fn new(schema: Arc<Schema>, options: WriteOptions) -> Result<Self> {
        Ok(IpcStreamEncoder {
            inner: Encoder::new(schema, options, 0)?,
        })
    }

    /// The schema being written.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.inner.schema
    }

    /// The schema message; send it first.
    pub fn schema_message(&mut self) -> Result<EncodedMessage<'static>> {
        self.inner.schema_message()
    }

    /// Dictionary batches as needed (replacement or delta), then the record batch.
    pub fn encode_table<'t>(&mut self, table: &'t Table) -> Result<Vec<EncodedMessage<'t>>> {
        Ok(self
            .inner
            .encode_table(table)?
            .into_iter()
            .map(|(_, m)| m)
            .collect())
    }

    /// The end-of-stream marker.
    pub fn end_of_stream(&mut self) -> EncodedMessage<'static> {
        self.inner.end_of_stream()
    }

    /// Bytes produced so far.
    pub fn bytes_written(&self) -> usize {
        self.inner.position
    }
}
