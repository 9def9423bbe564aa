//! The IPC stream format: a schema message, dictionary and record batches,
//! then an end-of-stream marker (or just the end of the input).

use std::convert::Infallible;
use std::sync::Arc;

use minarrow::Table;
use minarrow::structs::shared_buffer::SharedBuffer;

use super::drive::{ByteInput, IpcStreamDriver, SharedInput};
use super::read::{Dictionaries, read_dictionary_batch, read_record_batch};
use super::schema::{FieldInfo, Schema, WireSchema, read_schema};
use super::write::{EncodedMessage, IpcStreamEncoder, WriteOptions};
use super::{IpcTables, Projection, ReadOptions};
use crate::buffers::Tally;
use crate::error::{Error, ErrorKind, Result};
use crate::fbs;
use crate::framing::ipc::{
    BodySink, IpcFrame, IpcFrameDecoder, Progress, RawMessage, parse_message,
};
use crate::framing::{Decoded, FrameDecoder};
use crate::limits::DecodeLimits;

/// What an [`IpcStreamDecoder`] hands back.
#[derive(Debug, Clone)]
pub enum StreamItem {
    /// The stream's schema (projected, if a projection was asked for).
    Schema(Arc<Schema>),
    /// One record batch as a table.
    Table(Table),
    /// The end-of-stream marker.
    End,
}

/// Decodes the messages of one stream or file (schema, dictionaries, record
/// batches, with the projection): the state shared by the stream decoder and
/// the file reader, the read-side counterpart of `MessageEncoder`.
pub(crate) struct MessageDecoder {
    pub options: ReadOptions,
    pub wire: Option<WireSchema>,
    pub columns: Vec<usize>,
    pub schema: Option<Arc<Schema>>,
    pub infos: Vec<FieldInfo>,
    /// The fields left out because minarrow cannot hold them.
    pub skipped: Vec<FieldInfo>,
    pub dicts: Dictionaries,
    /// Decode the dictionary batches of every supported field, not only
    /// those of the columns read: for the file reader, whose per-call
    /// projections may ask for any column.
    pub all_dictionaries: bool,
}

pub(crate) fn check_version(v: fbs::MetadataVersion) -> Result<()> {
    if v < fbs::MetadataVersion::V4 {
        return Err(Error::unsupported(format!(
            "metadata version V{} (written by Arrow before 0.8); V4 and V5 are supported",
            v.0 + 1
        )));
    }
    if v > fbs::MetadataVersion::V5 {
        return Err(Error::unsupported(format!(
            "metadata version {} is newer than this reader (V5)",
            v.0
        )));
    }
    Ok(())
}

impl MessageDecoder {
    pub fn new(options: ReadOptions) -> Self {
        MessageDecoder {
            options,
            wire: None,
            columns: Vec::new(),
            schema: None,
            infos: Vec::new(),
            skipped: Vec::new(),
            dicts: Dictionaries::new(),
            all_dictionaries: false,
        }
    }

    pub fn limits(&self) -> &DecodeLimits {
        &self.options.limits
    }

    pub fn set_schema(&mut self, s: fbs::Schema<'_>) -> Result<Arc<Schema>> {
        let ws = read_schema(s, &self.options.limits)?;
        self.infos = ws.infos();
        let mut skip_unsupported = self.options.skip_unsupported;
        let mut columns: Vec<usize> = match &self.options.projection {
            None => (0..ws.fields.len()).collect(),
            Some(Projection::Indices(p)) => p.clone(),
            Some(Projection::Names(names)) => self.column_indices(names)?,
            Some(Projection::Supported) => {
                skip_unsupported = true;
                (0..ws.fields.len()).collect()
            }
        };
        self.skipped.clear();
        if skip_unsupported {
            let mut dropped = vec![false; self.infos.len()];
            // An index out of range stays, for `select` to refuse by name.
            columns.retain(|&c| match self.infos.get(c) {
                Some(f) if !f.supported => {
                    if let Some(d) = dropped.get_mut(c) {
                        *d = true;
                    }
                    false
                }
                _ => true,
            });
            // In schema order, each once.
            self.skipped = self
                .infos
                .iter()
                .zip(&dropped)
                .filter(|(_, d)| **d)
                .map(|(f, _)| f.clone())
                .collect();
        }
        let schema = Arc::new(ws.select(Some(&columns))?);
        self.columns = columns;
        self.wire = Some(ws);
        self.schema = Some(schema.clone());
        Ok(schema)
    }

    fn wire(&self, what: &str) -> Result<&WireSchema> {
        self.wire
            .as_ref()
            .ok_or_else(|| Error::malformed(format!("{what} before the schema message")))
    }

    pub fn dictionary(&mut self, m: &fbs::Message<'_>, body: &SharedBuffer) -> Result<()> {
        let batch = m
            .header_as_dictionary_batch()
            .ok_or_else(|| Error::malformed("dictionary batch message without its header"))?;
        let wire = self
            .wire
            .as_ref()
            .ok_or_else(|| Error::malformed("a dictionary batch before the schema message"))?;
        // Only the columns read need it (or any, for the file reader).
        let id = batch.id();
        let wanted = self.all_dictionaries
            || self
                .columns
                .iter()
                .filter_map(|&c| wire.fields.get(c))
                .any(|f| f.dictionary_ids.contains(&id));
        read_dictionary_batch(
            &batch,
            body,
            wire,
            &mut self.dicts,
            wanted,
            &self.options.limits,
        )
    }

    pub fn record_batch(
        &self,
        m: &fbs::Message<'_>,
        body: &SharedBuffer,
        tally: &Tally,
    ) -> Result<Table> {
        self.record_batch_columns(m, body, tally, &self.columns)
    }

    /// [`MessageDecoder::record_batch`] with only `columns` (indices into the
    /// wire schema), whatever projection the state was opened with.
    pub fn record_batch_columns(
        &self,
        m: &fbs::Message<'_>,
        body: &SharedBuffer,
        tally: &Tally,
        columns: &[usize],
    ) -> Result<Table> {
        let batch = m
            .header_as_record_batch()
            .ok_or_else(|| Error::malformed("record batch message without its header"))?;
        let wire = self.wire("a record batch")?;
        read_record_batch(
            &batch,
            body,
            wire,
            columns,
            &self.dicts,
            &self.options,
            tally,
        )
    }

    /// Checks `columns` (indices into the wire schema: in range, of types
    /// minarrow holds) for a per-call projection.
    pub fn check_columns(&self, columns: &[usize]) -> Result<()> {
        self.wire("a projection")?.select(Some(columns)).map(|_| ())
    }

    /// The index in the wire schema of each of `names`, in the order given.
    pub fn column_indices<S: AsRef<str>>(&self, names: &[S]) -> Result<Vec<usize>> {
        names
            .iter()
            .map(|name| {
                let name = name.as_ref();
                self.infos
                    .iter()
                    .position(|f| f.name == name)
                    .ok_or_else(|| {
                        let known: Vec<&str> = self
                            .infos
                            .iter()
                            .take(20)
                            .map(|f| f.name.as_str())
                            .collect();
                        let more = if self.infos.len() > known.len() {
                            ", ..."
                        } else {
                            ""
                        };
                        Error::schema(format!(
                            "no column named {name:?} (the columns are {}{more})",
                            known.join(", ")
                        ))
                    })
            })
            .collect()
    }

    /// Interprets one stream message, counting in `tally` the buffers its
    /// table borrows and copies.
    fn handle(&mut self, raw: &RawMessage, tally: &Tally) -> Result<Option<StreamItem>> {
        let m = parse_message(&raw.metadata, &self.options.limits)?;
        check_version(m.version())?;
        match m.header_type() {
            fbs::MessageHeader::Schema => {
                if self.wire.is_some() {
                    return Err(Error::malformed("a second schema message in one stream"));
                }
                let s = m
                    .header_as_schema()
                    .ok_or_else(|| Error::malformed("schema message without its header"))?;
                Ok(Some(StreamItem::Schema(self.set_schema(s)?)))
            }
            fbs::MessageHeader::DictionaryBatch => {
                self.dictionary(&m, &raw.body)?;
                Ok(None)
            }
            fbs::MessageHeader::RecordBatch => Ok(Some(StreamItem::Table(
                self.record_batch(&m, &raw.body, tally)?,
            ))),
            fbs::MessageHeader::Tensor | fbs::MessageHeader::SparseTensor => Err(
                Error::unsupported("tensor messages are not part of a table stream"),
            ),
            other => Err(Error::malformed(format!(
                "unknown message type {}",
                other.0
            ))),
        }
    }
}

/// Push decoder of the IPC stream format.
///
/// Push bytes as they arrive, in any chunking; each call hands back at most
/// one [`StreamItem`] and says how many bytes it took. Dictionary batches are
/// absorbed (replacements and deltas applied) and surface only through the
/// tables that use them.
///
/// Where table buffers come from: with [`IpcStreamDecoder::push_shared`], a
/// message that lies wholly inside the offered buffer stays there, and each of
/// its buffers aligned for its type is borrowed (see [`crate::buffers`]; every
/// buffer of a 64- or 8-byte aligned producer such as pyarrow, except
/// `Decimal128` values at an odd multiple of 8); [`ReadOptions::align_64`]
/// copies such messages into 64-byte aligned memory instead. Bytes offered
/// with [`IpcStreamDecoder::push`] (or read into
/// [`IpcStreamDecoder::body_sink`]) are copied once into 64-byte aligned
/// memory, keeping the producer's layout when each buffer is 8-byte aligned
/// (each buffer moved to a 64-byte boundary otherwise, or with `align_64`).
/// [`IpcStreamDecoder::bytes_borrowed`] and
/// [`IpcStreamDecoder::bytes_copied`] say which happened.
///
/// Bytes arriving a few at a time (a socket, a browser message): offer them
/// until every one is taken, collecting what comes out.
///
/// ```
/// use lightstream_core::framing::Decoded;
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{IpcStreamDecoder, ReadOptions, Schema, StreamItem, WriteOptions};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let schema = Schema::from_table(&table);
/// let bytes = lightstream_core::write_stream(&schema, &[table], &WriteOptions::default())?;
///
/// let mut decoder = IpcStreamDecoder::new(ReadOptions::default());
/// let mut items = Vec::new();
/// for mut chunk in bytes.chunks(7) {
///     while let Decoded::Frame { frame, consumed } = decoder.push(chunk)? {
///         items.push(frame);
///         chunk = &chunk[consumed..];
///     }
/// }
/// decoder.finish()?; // the input ended on a message boundary
/// assert!(matches!(&items[0], StreamItem::Schema(s) if s.fields[0].name == "id"));
/// let StreamItem::Table(t) = &items[1] else { panic!("expected a table") };
/// assert_eq!(t.cols[0].array.num().i64().data.as_slice(), [1, 2, 3]);
/// assert!(matches!(items[2], StreamItem::End));
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub struct IpcStreamDecoder {
    frames: IpcFrameDecoder,
    state: MessageDecoder,
    poisoned: bool,
    ended: bool,
    /// Record batch buffer bytes borrowed from `push_shared` input.
    borrowed: u64,
    /// Record batch buffer bytes copied one by one (not aligned for their type).
    buffers_copied: u64,
}

impl IpcStreamDecoder {
    /// A decoder with `options` (limits and projection).
    pub fn new(options: ReadOptions) -> Self {
        let mut frames = IpcFrameDecoder::new(options.limits);
        frames.set_align_64(options.align_64);
        IpcStreamDecoder {
            frames,
            state: MessageDecoder::new(options),
            poisoned: false,
            ended: false,
            borrowed: 0,
            buffers_copied: 0,
        }
    }

    /// Bytes of column buffers that the tables read so far use in place, in
    /// the memory of the [`SharedBuffer`]s given to
    /// [`IpcStreamDecoder::push_shared`] (no copy).
    pub fn bytes_borrowed(&self) -> u64 {
        self.borrowed
    }

    /// Bytes the decoder copied so far to make tables: every message body
    /// offered through [`IpcStreamDecoder::push`] (or through `push_shared`
    /// when its message was split across calls), bodies copied to 64-byte
    /// boundaries for [`ReadOptions::align_64`], and single buffers copied
    /// because they were not aligned for their type (or repaired under
    /// nulls). Not counted: metadata (always read into a small buffer),
    /// decompressed buffers, dictionary values (decoded into minarrow's
    /// strings) and body bytes written through
    /// [`IpcStreamDecoder::body_sink`] (put in place by the shell's read).
    pub fn bytes_copied(&self) -> u64 {
        self.frames.bytes_copied() + self.buffers_copied
    }

    /// The (projected) schema, once the schema message has been read.
    pub fn schema(&self) -> Option<&Arc<Schema>> {
        self.state.schema.as_ref()
    }

    /// The values of dictionary `id` as they stand (after every delta read so
    /// far): the whole dictionary, where a decoded batch with fewer rows than
    /// dictionary values holds only the values it uses. `None` for the
    /// dictionary of a column the projection leaves out (its batches are
    /// skipped, not decoded).
    pub fn dictionary(&self, id: i64) -> Option<&[String]> {
        self.state.dicts.get(&id).map(|d| d.strings.as_slice())
    }

    /// The fields left out because minarrow cannot hold them (with
    /// [`ReadOptions::skip_unsupported`] or [`Projection::Supported`]), in
    /// schema order, with their Arrow type names (empty before the schema
    /// message, and when nothing was skipped).
    ///
    /// ```
    /// use lightstream_core::{IpcStreamDecoder, ReadOptions};
    ///
    /// let decoder = IpcStreamDecoder::new(ReadOptions { skip_unsupported: true, ..Default::default() });
    /// assert!(decoder.skipped().is_empty()); // nothing read yet
    /// ```
    pub fn skipped(&self) -> &[FieldInfo] {
        &self.state.skipped
    }

    /// Every field of the stream as Arrow describes it, supported or not
    /// (empty until the schema message has been read).
    pub fn fields(&self) -> &[FieldInfo] {
        &self.state.infos
    }

    /// True once the end-of-stream marker was read.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// True when every byte offered so far belongs to complete messages (no
    /// message is half received). A message-framed transport (WebSocket)
    /// checks this after each of its messages (see
    /// [`crate::FrameDriver::next_in_message`]).
    pub fn is_at_message_boundary(&self) -> bool {
        self.frames.progress().is_at_boundary()
    }

    /// How far the decoder is into the message it is receiving, whose index
    /// is [`IpcStreamDecoder::messages_decoded`].
    pub fn progress(&self) -> Progress {
        self.frames.progress()
    }

    /// Bytes consumed so far.
    pub fn bytes_consumed(&self) -> u64 {
        self.frames.bytes_consumed()
    }

    /// IPC messages completed so far (schema, dictionary and record batches;
    /// the end-of-stream marker excluded): what a shell's idle timeout counts
    /// as progress, since dictionary batches complete without an item.
    pub fn messages_decoded(&self) -> u64 {
        self.frames.messages_decoded()
    }

    /// The input has ended: `Ok` if it ended on a message boundary after the
    /// schema (with or without the end-of-stream marker), otherwise an error
    /// of kind [`ErrorKind::Truncated`] saying how far the last message got.
    pub fn finish(&self) -> Result<()> {
        self.frames.finish()?;
        if self.state.schema.is_none() {
            return Err(Error::new(
                ErrorKind::Truncated,
                "input ended before the stream's schema message",
            ));
        }
        Ok(())
    }

    /// Offers `input`; bodies are copied once into 64-byte aligned memory,
    /// as they lie when every buffer is 8-byte aligned, else (and with
    /// [`ReadOptions::align_64`]) each buffer moved to a 64-byte boundary as
    /// it is copied.
    pub fn push(&mut self, input: &[u8]) -> Result<Decoded<StreamItem>> {
        self.run(input, None)
    }

    /// Offers `input`; a message that lies wholly inside it keeps its body
    /// there, and its buffers aligned for their type are borrowed (see
    /// [`IpcStreamDecoder`]; [`ReadOptions::align_64`] copies instead when
    /// they are not all 64-byte aligned). A message split across calls is
    /// assembled in a copy, as with [`IpcStreamDecoder::push`].
    pub fn push_shared(&mut self, input: &SharedBuffer) -> Result<Decoded<StreamItem>> {
        self.run(input.as_slice(), Some(input))
    }

    /// Offers one whole message given apart from any byte stream: its
    /// `metadata` (the `Message` flatbuffer without its 8-byte prefix: a
    /// Flight `data_header`) and its `body` (a `data_body`; bytes past the
    /// length the metadata declares are ignored), between messages. The body
    /// stays where it is: each buffer aligned for its type is borrowed
    /// ([`IpcStreamDecoder::bytes_borrowed`]), any other copied once into
    /// 64-byte aligned memory ([`IpcStreamDecoder::bytes_copied`]), as with
    /// [`IpcStreamDecoder::push_shared`]. Returns what the message means
    /// (`None` for a dictionary batch). See `flight::FlightDataDecoder`
    /// (feature `flight`) for FlightData given as `Bytes`.
    pub fn push_message(
        &mut self,
        metadata: &[u8],
        body: &SharedBuffer,
    ) -> Result<Option<StreamItem>> {
        self.guarded(|d| {
            let frame = d.frames.decode_message(metadata, body)?;
            d.on_frame(frame, &Tally::over(body.as_slice()))
        })
    }

    fn run(&mut self, input: &[u8], shared: Option<&SharedBuffer>) -> Result<Decoded<StreamItem>> {
        self.guarded(|d| d.run_inner(input, shared))
    }

    /// Runs `f` unless an earlier error poisoned the decoder; an error from
    /// `f` poisons it.
    fn guarded<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.poisoned {
            return Err(Error::malformed(
                "IPC stream decoder used after an earlier error; start a new decoder",
            ));
        }
        let r = f(self);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    fn run_inner(
        &mut self,
        input: &[u8],
        shared: Option<&SharedBuffer>,
    ) -> Result<Decoded<StreamItem>> {
        let mut used = 0;
        while let Some(rest) = input.get(used..).filter(|rest| !rest.is_empty()) {
            let step = match shared {
                Some(sh) if used == 0 => self.frames.decode_shared(sh)?,
                Some(sh) => self.frames.decode_shared(&sh.slice(used..))?,
                None => self.frames.decode(rest)?,
            };
            let Decoded::Frame { frame, consumed } = step else {
                return Ok(Decoded::NeedMore);
            };
            used += consumed;
            // Buffers count as borrowed when they lie in the caller's buffer.
            let tally = match shared {
                Some(_) => Tally::over(input),
                None => Tally::default(),
            };
            if let Some(item) = self.on_frame(frame, &tally)? {
                return Ok(Decoded::Frame {
                    frame: item,
                    consumed: used,
                });
            }
        }
        Ok(Decoded::NeedMore)
    }

    /// What one framed message means (`None` for a dictionary batch).
    fn on_frame(&mut self, frame: IpcFrame, tally: &Tally) -> Result<Option<StreamItem>> {
        match frame {
            IpcFrame::EndOfStream => {
                if self.state.schema.is_none() {
                    return Err(Error::malformed(
                        "end-of-stream marker before the schema message",
                    ));
                }
                self.ended = true;
                Ok(Some(StreamItem::End))
            }
            IpcFrame::Message(raw) => {
                let item = self
                    .state
                    .handle(&raw, tally)
                    .map_err(|e| e.at_message(raw.index).at_offset(raw.offset))?;
                self.borrowed += tally.borrowed();
                self.buffers_copied += tally.copied();
                Ok(item)
            }
        }
    }

    /// While a message body is arriving whose bytes can stay where they land,
    /// aligned memory to read them into, so a shell's read from a socket or
    /// file is the only copy. Write into it (it is a [`bytes::BufMut`]), then
    /// call [`IpcStreamDecoder::take_body`]. `None` means: offer bytes with
    /// [`IpcStreamDecoder::push`] (message prefixes and metadata, bodies that
    /// must be relocated to 64-byte boundaries: a buffer off an 8-byte
    /// boundary, or any off 64 with [`ReadOptions::align_64`]; and after an
    /// error).
    ///
    /// ```
    /// use bytes::BufMut;
    /// use lightstream_core::{IpcStreamDecoder, ReadOptions, Schema, StreamItem, WriteOptions};
    /// use lightstream_core::framing::Decoded;
    /// use lightstream_core::minarrow::{fa_i64, tbl};
    ///
    /// let table = tbl!("t", fa_i64!("n", 1, 2, 3));
    /// let bytes = lightstream_core::write_stream(
    ///     &Schema::from_table(&table), &[table], &WriteOptions::default()).unwrap();
    /// let mut dec = IpcStreamDecoder::new(ReadOptions::default());
    /// let (mut input, mut tables) = (&bytes[..], Vec::new());
    /// while !input.is_empty() {
    ///     if let Some(mut sink) = dec.body_sink() {
    ///         // A socket read would go here; this copies from `input` instead.
    ///         let n = sink.remaining().min(input.len());
    ///         sink.put_slice(&input[..n]);
    ///         input = &input[n..];
    ///         if let Some(StreamItem::Table(t)) = dec.take_body().unwrap() {
    ///             tables.push(t);
    ///         }
    ///         continue;
    ///     }
    ///     // Prefixes and metadata: a few bytes at a time, as from a small buffer.
    ///     let n = input.len().min(16);
    ///     match dec.push(&input[..n]).unwrap() {
    ///         Decoded::Frame { frame, consumed } => {
    ///             input = &input[consumed..];
    ///             if let StreamItem::Table(t) = frame { tables.push(t) }
    ///         }
    ///         Decoded::NeedMore => input = &input[n..],
    ///     }
    /// }
    /// dec.finish().unwrap();
    /// assert_eq!(tables[0].n_rows, 3);
    /// ```
    pub fn body_sink(&mut self) -> Option<BodySink<'_>> {
        if self.poisoned {
            return None;
        }
        self.frames.body_sink()
    }

    /// After bytes were written through [`IpcStreamDecoder::body_sink`]: the
    /// item the message decodes to once its body is complete (`Ok(None)`
    /// while it is not, and for dictionary batches, which are absorbed).
    pub fn take_body(&mut self) -> Result<Option<StreamItem>> {
        self.guarded(|d| match d.frames.take_body() {
            Some(frame) => d.on_frame(frame, &Tally::default()),
            None => Ok(None),
        })
    }
}

impl FrameDecoder for IpcStreamDecoder {
    type Frame = StreamItem;

    fn decode(&mut self, input: &[u8]) -> Result<Decoded<StreamItem>> {
        self.push(input)
    }

    fn finish(&self) -> Result<()> {
        IpcStreamDecoder::finish(self)
    }

    fn decode_shared(&mut self, input: &SharedBuffer) -> Result<Decoded<StreamItem>> {
        self.push_shared(input)
    }

    fn body_sink(&mut self) -> Option<BodySink<'_>> {
        IpcStreamDecoder::body_sink(self)
    }

    fn take_body(&mut self) -> Result<Option<StreamItem>> {
        IpcStreamDecoder::take_body(self)
    }

    fn bytes_wanted(&self) -> usize {
        self.progress().bytes_wanted()
    }
}

/// Decodes a whole in-memory IPC stream. Bodies stay in `bytes`, and every
/// buffer aligned for its type is borrowed (zero-copy), only others copied;
/// [`ReadOptions::align_64`] copies bodies whose buffers are not 64-byte
/// aligned instead (see [`IpcStreamDecoder`]). From a `&[u8]`, use
/// [`crate::read_ipc`]: it copies each body exactly once.
///
/// ```
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{aligned_copy, read_stream, write_stream, ReadOptions, Schema};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let bytes = write_stream(&Schema::from_table(&table), &[table.clone()], &Default::default())?;
/// // A memory map or a receive buffer would already be a SharedBuffer.
/// let (schema, tables) = read_stream(aligned_copy(&bytes), ReadOptions::default())?;
/// assert_eq!(schema.fields[0].name, "id");
/// assert_eq!(tables[0].cols, table.cols); // the same columns (IPC has no table name)
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub fn read_stream(bytes: SharedBuffer, options: ReadOptions) -> Result<(Arc<Schema>, Vec<Table>)> {
    let read = read_stream_input(&mut SharedInput::new(bytes, 0), options)?;
    Ok((read.schema, read.tables))
}

/// Decodes a whole IPC stream from `input` (a slice: each body copied once;
/// a shared buffer: bodies borrowed where aligned).
pub(crate) fn read_stream_input(
    input: &mut dyn ByteInput<Error = Infallible>,
    options: ReadOptions,
) -> Result<IpcTables> {
    let mut driver = IpcStreamDriver::new(options);
    let (schema, tables) = driver.read_all(input)?;
    Ok(IpcTables {
        schema,
        tables,
        skipped: driver.decoder().skipped().to_vec(),
        bytes_copied: driver.decoder().bytes_copied(),
    })
}

/// Encodes `tables` as a complete IPC stream (schema, batches, end-of-stream).
/// The incremental form is [`crate::IpcStreamEncoder`].
///
/// ```
/// use lightstream_core::minarrow::{fa_f64, fa_str32, tbl};
/// use lightstream_core::{read_ipc, write_stream, ReadOptions, Schema, WriteOptions};
///
/// let a = tbl!("t", fa_str32!("sym", "x", "y"), fa_f64!("px", 1.5, 2.5));
/// let b = tbl!("t", fa_str32!("sym", "z"), fa_f64!("px", 3.5));
/// let bytes = write_stream(&Schema::from_table(&a), &[a, b], &WriteOptions::default())?;
/// assert!(!lightstream_core::is_ipc_file(&bytes));
/// let read = read_ipc(&bytes, ReadOptions::default())?;
/// assert_eq!(read.tables.iter().map(|t| t.n_rows).collect::<Vec<_>>(), [2, 1]);
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub fn write_stream(schema: &Schema, tables: &[Table], options: &WriteOptions) -> Result<Vec<u8>> {
    let mut enc = IpcStreamEncoder::new(Arc::new(schema.clone()), *options)?;
    // Encode first (messages borrow the tables), then size the output once.
    let mut messages = vec![enc.schema_message()?];
    for t in tables {
        messages.extend(enc.encode_table(t)?);
    }
    messages.push(enc.end_of_stream());
    let mut out = Vec::with_capacity(messages.iter().map(EncodedMessage::len).sum());
    for m in &messages {
        m.append_to(&mut out);
    }
    Ok(out)
}
