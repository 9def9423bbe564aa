//! minarrow tables -> encapsulated IPC messages.
//!
//! An [`EncodedMessage`] is the message prefix and flatbuffer metadata (owned,
//! small) followed by body chunks that borrow the table's own column buffers,
//! so writing a table copies no column data: a shell hands the chunks to a
//! vectored write. Every buffer is padded to the configured alignment (64 by
//! default) and the metadata is padded so that each body starts aligned in the
//! output. Dictionaries are tracked per id across tables: unchanged ones are
//! not resent, grown ones go out as deltas, changed ones as replacements, or,
//! where dictionaries may only grow (the IPC file format, or a stream with
//! [`WriteOptions::unify_dictionaries`]), unified by a [`DictionaryUnifier`]
//! and sent as deltas of only their new values.

use std::collections::HashMap;
use std::io::{IoSlice, Write};
use std::ops::Range;
use std::sync::Arc;

use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};
use minarrow::Table;

use super::body::{BodyBuilder, Chunk, check_table, dictionary_values, mismatch, write_column};
use super::compression::Compression;
use super::schema::{DictionaryEncoding, Schema};
use super::schema_write::write_schema;
use super::unify::DictionaryUnifier;
use crate::buffers::{ALIGNMENT, padded_len};
use crate::error::{Error, Result};
use crate::fbs;
use crate::framing::ipc::{END_OF_STREAM, write_prefix};

/// Options for writing IPC streams and files.
///
/// ```
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{read_ipc, write_stream, Compression, ReadOptions, Schema, WriteOptions};
///
/// let table = tbl!("t", fa_i64!("n", @slice &[7i64; 4096][..]));
/// let schema = Schema::from_table(&table);
/// let plain = write_stream(&schema, &[table.clone()], &WriteOptions::default())?;
/// // Zstd bodies, 8-byte alignment as pyarrow writes (the `zstd` feature, on by default).
/// let options =
///     WriteOptions { compression: Compression::Zstd, alignment: 8, ..Default::default() };
/// let small = write_stream(&schema, &[table.clone()], &options)?;
/// assert!(small.len() < plain.len() / 10);
/// assert_eq!(read_ipc(&small, ReadOptions::default())?.tables[0].cols, table.cols);
/// # Ok::<(), lightstream_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Body compression.
    pub compression: Compression,
    /// Alignment of every body buffer and of each message body in the output:
    /// 64 (default) or 8 (what pyarrow writes); any power of two from 8 up.
    pub alignment: usize,
    /// Send grown dictionaries as deltas (otherwise as replacements; an IPC
    /// file, which cannot replace a dictionary, then refuses to grow one).
    pub allow_delta_dictionaries: bool,
    /// Streams: keep one dictionary per id that only grows (see
    /// [`DictionaryUnifier`]): each table's dictionary values are added to it,
    /// its keys rewritten to address it, and only new values are sent, as
    /// deltas. Off (the default), a table whose dictionary changed sends it
    /// as a replacement, which the stream format allows. IPC files always
    /// unify (the file format cannot replace a dictionary).
    pub unify_dictionaries: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compression: Compression::None,
            alignment: ALIGNMENT,
            allow_delta_dictionaries: true,
            unify_dictionaries: false,
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

/// What kind of message an encoder produced (the file format records blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageKind {
    Dictionary,
    RecordBatch,
}

/// How an encoder sends dictionaries from table to table.
enum Dictionaries {
    /// Each table's dictionaries as they are: unchanged ones are not resent,
    /// grown ones go out as deltas (when allowed), changed ones as
    /// replacements. `sent` holds the values last sent, by id (a delta
    /// appends to them: it costs its own values, not the whole dictionary).
    AsGiven { sent: HashMap<i64, Vec<String>> },
    /// One dictionary per id that only grows; `sent` is how many of its
    /// values have gone out, by id.
    Unified {
        unifier: DictionaryUnifier,
        sent: HashMap<i64, usize>,
    },
}

/// What sending one table's dictionaries changes, applied once the whole
/// table has been encoded (so that a table that fails leaves no trace).
enum Sent {
    /// A whole dictionary went out (the first one, or a replacement).
    Values(i64, Vec<String>),
    /// These values were appended to the dictionary last sent, as a delta.
    Appended(i64, Vec<String>),
    Len(i64, usize),
}

/// Encodes the messages of one stream or file (schema, dictionaries, record
/// batches): the state shared by the stream and file encoders, the write-side
/// counterpart of `MessageDecoder`.
pub(crate) struct MessageEncoder {
    pub schema: Arc<Schema>,
    pub options: WriteOptions,
    dictionaries: Dictionaries,
    /// Bytes written so far (where the next message starts).
    pub position: usize,
    /// Dictionaries may only grow (the file format): they are unified, and
    /// grow only by deltas.
    append_only: bool,
}

impl MessageEncoder {
    /// `append_only`: the output cannot replace a dictionary (an IPC file).
    pub fn new(
        schema: Arc<Schema>,
        options: WriteOptions,
        position: usize,
        append_only: bool,
    ) -> Result<MessageEncoder> {
        if options.alignment < 8 || !options.alignment.is_power_of_two() {
            return Err(Error::schema(format!(
                "alignment must be a power of two of at least 8, not {}",
                options.alignment
            )));
        }
        options.compression.check_available()?;
        schema.check_consistent()?;
        let dictionaries = if append_only || options.unify_dictionaries {
            Dictionaries::Unified {
                unifier: DictionaryUnifier::new(schema.clone())?,
                sent: HashMap::new(),
            }
        } else {
            Dictionaries::AsGiven {
                sent: HashMap::new(),
            }
        };
        Ok(MessageEncoder {
            schema,
            options,
            dictionaries,
            position,
            append_only,
        })
    }

    /// Frames flatbuffer `metadata` and `body` as one message at `position`
    /// (which it advances).
    fn frame<'a>(
        position: &mut usize,
        alignment: usize,
        metadata: &[u8],
        body: Vec<Chunk<'a>>,
        body_len: usize,
    ) -> Result<EncodedMessage<'a>> {
        let start = *position + 8 + metadata.len();
        let padded = padded_len(start, alignment)
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
        *position += m.len();
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
        Self::frame(
            &mut self.position,
            self.options.alignment,
            &meta,
            Vec::new(),
            0,
        )
    }

    /// A dictionary batch of `values` at `position` (which it advances).
    pub(crate) fn dictionary_message<S: AsRef<str>>(
        options: &WriteOptions,
        position: &mut usize,
        enc: &DictionaryEncoding,
        values: &[S],
        is_delta: bool,
    ) -> Result<EncodedMessage<'static>> {
        let mut body = BodyBuilder::new(options.alignment, options.compression);
        let n = values.len();
        body.node(n, 0);
        body.buffer(Chunk::Owned(Vec::new()))?;
        let total: usize = values.iter().map(|s| s.as_ref().len()).sum();
        let mut data = Vec::with_capacity(total);
        if enc.large_values {
            let mut offsets = Vec::with_capacity((n + 1) * 8);
            offsets.extend_from_slice(&0i64.to_le_bytes());
            for s in values {
                data.extend_from_slice(s.as_ref().as_bytes());
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
                data.extend_from_slice(s.as_ref().as_bytes());
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
        Self::frame(position, options.alignment, &meta, chunks, body_len)
    }

    /// The dictionary messages `table` needs before its record batch, and
    /// what sending them changes.
    fn dictionaries(
        &mut self,
        table: &Table,
        sent_now: &mut Vec<Sent>,
    ) -> Result<Vec<EncodedMessage<'static>>> {
        let MessageEncoder {
            schema,
            options,
            dictionaries,
            position,
            append_only,
        } = self;
        let mut out = Vec::new();
        match dictionaries {
            Dictionaries::Unified { unifier, sent } => {
                let mut done: Vec<i64> = Vec::new();
                for (i, fa) in table.cols.iter().enumerate() {
                    let Some(enc) = schema.dictionary(i) else {
                        continue;
                    };
                    if done.contains(&enc.id) {
                        continue;
                    }
                    done.push(enc.id);
                    let values = unifier.values(enc.id);
                    let (from, is_delta) = match sent.get(&enc.id) {
                        None => (0, false),
                        Some(&n) if n >= values.len() => continue,
                        Some(&n) if options.allow_delta_dictionaries => (n, true),
                        Some(&n) if *append_only => {
                            return Err(Error::schema(format!(
                                "column \"{}\": its dictionary (id {}) grows from {n} to {} \
                                 values, and an IPC file can only grow a dictionary with a \
                                 delta, which WriteOptions::allow_delta_dictionaries turns off",
                                fa.field.name,
                                enc.id,
                                values.len()
                            )));
                        }
                        Some(_) => (0, false),
                    };
                    out.push(Self::dictionary_message(
                        options,
                        position,
                        enc,
                        &values[from..],
                        is_delta,
                    )?);
                    sent_now.push(Sent::Len(enc.id, values.len()));
                }
            }
            Dictionaries::AsGiven { sent } => {
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
                    match sent.get(&enc.id) {
                        Some(prev) if prev.as_slice() == values => {}
                        Some(prev)
                            if options.allow_delta_dictionaries
                                && values.len() > prev.len()
                                && values.starts_with(prev) =>
                        {
                            let new = &values[prev.len()..];
                            out.push(Self::dictionary_message(options, position, enc, new, true)?);
                            // Only the new values are kept: N deltas cost the
                            // values they add, not N copies of the dictionary.
                            sent_now.push(Sent::Appended(enc.id, new.to_vec()));
                        }
                        _ => {
                            out.push(Self::dictionary_message(
                                options, position, enc, values, false,
                            )?);
                            sent_now.push(Sent::Values(enc.id, values.to_vec()));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Dictionary batches (as needed) and the record batch of `table`. On an
    /// error the encoder is left as it was before the call.
    pub fn encode_table<'t>(
        &mut self,
        table: &'t Table,
    ) -> Result<Vec<(MessageKind, EncodedMessage<'t>)>> {
        self.encode_rows(table, 0..table.n_rows)
    }

    /// Dictionary batches `table` needs (as needed: all of them, whichever
    /// rows are sent) and a record batch of its rows `rows`, borrowing the
    /// column buffers' byte ranges. On an error the encoder is left as it was
    /// before the call.
    pub fn encode_rows<'t>(
        &mut self,
        table: &'t Table,
        rows: Range<usize>,
    ) -> Result<Vec<(MessageKind, EncodedMessage<'t>)>> {
        if rows.start > rows.end || rows.end > table.n_rows {
            return Err(Error::schema(format!(
                "rows {rows:?} are not rows of a table of {} rows",
                table.n_rows
            )));
        }
        let start = self.position;
        let mut sent_now = Vec::new();
        let result = self.encode_rows_at(table, rows, &mut sent_now);
        if result.is_err() {
            self.position = start;
            return result;
        }
        for s in sent_now {
            match (&mut self.dictionaries, s) {
                (Dictionaries::AsGiven { sent }, Sent::Values(id, values)) => {
                    sent.insert(id, values);
                }
                (Dictionaries::AsGiven { sent }, Sent::Appended(id, values)) => {
                    sent.entry(id).or_default().extend(values);
                }
                (Dictionaries::Unified { sent, .. }, Sent::Len(id, len)) => {
                    sent.insert(id, len);
                }
                _ => {}
            }
        }
        result
    }

    fn encode_rows_at<'t>(
        &mut self,
        table: &'t Table,
        rows: Range<usize>,
        sent_now: &mut Vec<Sent>,
    ) -> Result<Vec<(MessageKind, EncodedMessage<'t>)>> {
        check_table(&self.schema, table)?;
        let mut remapped = match &mut self.dictionaries {
            Dictionaries::Unified { unifier, .. } => unifier.unify_keys(table, rows.clone())?,
            Dictionaries::AsGiven { .. } => Vec::new(),
        };
        let mut out: Vec<(MessageKind, EncodedMessage<'t>)> = self
            .dictionaries(table, sent_now)?
            .into_iter()
            .map(|m| (MessageKind::Dictionary, m))
            .collect();
        let mut body = BodyBuilder::new(self.options.alignment, self.options.compression);
        for (i, fa) in table.cols.iter().enumerate() {
            let dict_len = dictionary_values(fa).map(<[String]>::len);
            let keys = remapped.get_mut(i).and_then(Option::take);
            let enc = self.schema.dictionary(i);
            write_column(
                &mut body,
                fa,
                table.n_rows,
                rows.clone(),
                dict_len,
                enc,
                keys,
            )?;
        }
        let meta = Self::message_bytes(
            fbs::MessageHeader::RecordBatch,
            |fbb| Ok(body.build(fbb, rows.len()).as_union_value()),
            body.len,
        )?;
        let body_len = body.len;
        let m = Self::frame(
            &mut self.position,
            self.options.alignment,
            &meta,
            body.chunks,
            body_len,
        )?;
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
    inner: MessageEncoder,
}

impl IpcStreamEncoder {
    /// An encoder for tables of `schema`.
    pub fn new(schema: Arc<Schema>, options: WriteOptions) -> Result<Self> {
        Ok(IpcStreamEncoder {
            inner: MessageEncoder::new(schema, options, 0, false)?,
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

    /// Dictionary batches as needed (replacement or delta, or with
    /// [`WriteOptions::unify_dictionaries`] deltas only), then the record
    /// batch. On an error the encoder is as it was: the next table can follow.
    pub fn encode_table<'t>(&mut self, table: &'t Table) -> Result<Vec<EncodedMessage<'t>>> {
        self.encode_rows(table, 0..table.n_rows)
    }

    /// As [`encode_table`](Self::encode_table), with a record batch of only
    /// the rows `rows` of `table` (the dictionaries are the table's, sent as
    /// needed): how a table too large for one message goes out as several.
    /// Column data is borrowed as for a whole table; what a row range
    /// changes is copied, small: string offsets rebased to 0 and, when the
    /// range does not start on a multiple of 8, validity and boolean bits
    /// shifted (one bit per row). Rows past the table are an
    /// [`ErrorKind::Schema`](crate::ErrorKind::Schema) error (an API misuse).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use lightstream_core::minarrow::{fa_i32, fa_str32, tbl};
    /// use lightstream_core::{IpcStreamEncoder, ReadOptions, Schema, WriteOptions, read_ipc};
    ///
    /// let table = tbl!("t", fa_i32!("x", 1, 2, 3, 4, 5), fa_str32!("s", "a", "bb", "c", "dd", "e"));
    /// let mut enc = IpcStreamEncoder::new(Arc::new(Schema::from_table(&table)), WriteOptions::default())?;
    /// let mut out = enc.schema_message()?.to_vec();
    /// for m in enc.encode_rows(&table, 0..2)?.into_iter().chain(enc.encode_rows(&table, 2..5)?) {
    ///     m.append_to(&mut out);
    /// }
    /// enc.end_of_stream().append_to(&mut out);
    /// let back = read_ipc(&out, ReadOptions::default())?.tables;
    /// assert_eq!(back[1].cols, table.slice_clone(2, 3).cols);
    /// # Ok::<(), lightstream_core::Error>(())
    /// ```
    pub fn encode_rows<'t>(
        &mut self,
        table: &'t Table,
        rows: Range<usize>,
    ) -> Result<Vec<EncodedMessage<'t>>> {
        Ok(self
            .inner
            .encode_rows(table, rows)?
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
