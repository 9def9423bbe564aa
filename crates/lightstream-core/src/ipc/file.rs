//! The IPC file format: `ARROW1`, padding, a stream, a footer that indexes
//! the schema, dictionary blocks and record batch blocks, the footer length,
//! and `ARROW1` again. Random access to any batch.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flatbuffers::FlatBufferBuilder;
use minarrow::Table;
use minarrow::structs::shared_buffer::SharedBuffer;

use super::schema::{FieldInfo, Schema, read_metadata};
use super::schema_write::write_schema;
use super::stream::{MessageDecoder, check_version};
use super::write::{EncodedMessage, MessageEncoder, MessageKind, WriteOptions};
use super::{IpcTables, ReadOptions};
use crate::buffers::Tally;
use crate::error::{Error, Result};
use crate::fbs;
use crate::framing::ipc::{
    IpcFrame, MessageSource, Prefix, RawMessage, message_at, one_line, parse_message, parse_prefix,
    verifier_options,
};
use crate::limits::{DecodeLimits, wire_len};

/// The magic bytes at both ends of an IPC file.
pub const ARROW_MAGIC: &[u8; 6] = b"ARROW1";

/// The magic and its padding, where a file's first message starts.
const ARROW_MAGIC_PADDED: [u8; 8] = *b"ARROW1\0\0";

/// True when `prefix` starts like an IPC file (rather than a stream).
pub fn is_ipc_file(prefix: &[u8]) -> bool {
    prefix.starts_with(ARROW_MAGIC)
}

/// Where one message lies in the file.
#[derive(Debug, Clone, Copy)]
struct BlockInfo {
    offset: usize,
    meta_len: usize,
    body_len: usize,
}

/// Random-access reader of an in-memory (or memory-mapped) IPC file.
///
/// The footer is read once; any batch, or some of its columns, can then be
/// decoded in any order, with each buffer aligned for its type borrowed from
/// `bytes`.
///
/// ```
/// use lightstream_core::minarrow::{fa_f64, fa_i64, tbl};
/// use lightstream_core::{aligned_copy, write_file, IpcFileReader, ReadOptions, Schema};
///
/// let batches: Vec<_> =
///     (0..3).map(|i| tbl!("t", fa_i64!("ts", i, i + 10), fa_f64!("px", 1.5, 2.5))).collect();
/// let bytes = write_file(&Schema::from_table(&batches[0]), &batches, &Default::default())?;
///
/// let file = IpcFileReader::new(aligned_copy(&bytes), ReadOptions::default())?;
/// assert_eq!(file.num_batches(), 3);
/// let last = file.read_batch(2)?;
/// assert_eq!(last.cols[0].array.num().i64().data.as_slice(), [2, 12]);
/// let px = file.column_indices(&["px"])?;
/// let narrow = file.read_batch_columns(0, &px)?;
/// assert_eq!((narrow.cols.len(), narrow.cols[0].field.name.as_str()), (1, "px"));
/// assert!(file.bytes_borrowed() > 0); // read in place, not copied
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub struct IpcFileReader {
    bytes: SharedBuffer,
    schema: Arc<Schema>,
    state: MessageDecoder,
    batches: Vec<BlockInfo>,
    metadata: BTreeMap<String, String>,
    align_64: bool,
    /// Record batch buffer bytes borrowed from `bytes`.
    borrowed: AtomicU64,
    /// Bytes copied: relocated bodies and buffers not aligned for their type.
    copied: AtomicU64,
}

fn block(b: &fbs::Block, footer_start: usize, what: &str, i: usize) -> Result<BlockInfo> {
    let (offset, meta, body) = (b.offset(), b.metaDataLength(), b.bodyLength());
    let end = if offset >= 8 && meta >= 0 && body >= 0 {
        (offset as u64)
            .checked_add(meta as u64)
            .and_then(|e| e.checked_add(body as u64))
    } else {
        None
    };
    match end {
        Some(end) if end <= footer_start as u64 => Ok(BlockInfo {
            offset: offset as usize,
            meta_len: meta as usize,
            body_len: body as usize,
        }),
        _ => Err(Error::malformed(format!(
            "{what} block {i} (offset {offset}, metadata {meta}, body {body}) lies outside \
             the file's {footer_start} bytes of messages"
        ))),
    }
}

/// The message a block points at, read where it lies: its metadata verified
/// in place (no copy) and its body sliced out of the file (no relocation:
/// minarrow borrows every buffer aligned for its type, see
/// [`crate::buffers`]). The same checks as a stream's messages: prefix,
/// metadata and body lengths against the limits, flatbuffer verification,
/// metadata version, the body within the file, and the block's body length.
///
/// `head`, when given, is a copy of the file's bytes from the block's offset
/// on (any length); the prefix and metadata are read from it when it holds
/// them whole, and from `data` otherwise. Either way they are the same
/// bytes, checked the same way. Returns the message and where its body lies
/// in `data`.
fn block_message<'a>(
    data: &'a [u8],
    head: &'a [u8],
    b: BlockInfo,
    limits: &DecodeLimits,
) -> Result<(fbs::Message<'a>, Range<usize>)> {
    let rest = data.get(b.offset..).unwrap_or(&[]);
    // The copy is used only where it is a prefix of `rest`'s length.
    let head = head.get(..rest.len()).unwrap_or(head);
    let past_end = || Error::malformed("block's message runs past the end of the file");
    if rest.len() < 4 {
        return Err(past_end());
    }
    let src = if head.len() >= 8 { head } else { rest };
    let (len, size) = match parse_prefix(src, limits)? {
        Prefix::Metadata { len, size } => (len, size),
        Prefix::EndOfStream { .. } => {
            return Err(Error::malformed("block points at an end-of-stream marker"));
        }
        Prefix::NeedMore => return Err(past_end()),
    };
    let meta_end = size
        .checked_add(len)
        .filter(|&e| e <= rest.len())
        .ok_or_else(past_end)?;
    let metadata = head
        .get(size..meta_end)
        .or_else(|| rest.get(size..meta_end))
        .ok_or_else(past_end)?;
    let m = parse_message(metadata, limits)?;
    let body_len = wire_len(m.bodyLength(), "message body length", limits.max_body_bytes)?;
    let body_end = meta_end
        .checked_add(body_len)
        .filter(|&e| e <= rest.len())
        .ok_or_else(past_end)?;
    if body_len != b.body_len {
        return Err(Error::malformed(format!(
            "block says the body has {} bytes, its message says {body_len}",
            b.body_len
        )));
    }
    check_version(m.version())?;
    Ok((m, b.offset + meta_end..b.offset + body_end))
}

/// The message a block points at, with its metadata copied and its body
/// where `source` puts it (sliced out of shared bytes, or copied into 64-byte
/// aligned memory: see [`MessageSource`]), checked as [`block_message`]
/// checks it. Returns the message and the body bytes copied.
fn block_frame(
    source: MessageSource<'_>,
    b: BlockInfo,
    index: usize,
    limits: &DecodeLimits,
) -> Result<(RawMessage, usize)> {
    match message_at(source, b.offset, index as u64, limits)? {
        Some((IpcFrame::Message(m), _, copied)) if m.declared_body_len == b.body_len => {
            check_version(parse_message(&m.metadata, limits)?.version())?;
            Ok((m, copied))
        }
        Some((IpcFrame::Message(m), _, _)) => Err(Error::malformed(format!(
            "block says the body has {} bytes, its message says {}",
            b.body_len, m.declared_body_len
        ))),
        Some((IpcFrame::EndOfStream, _, _)) => {
            Err(Error::malformed("block points at an end-of-stream marker"))
        }
        None => Err(Error::malformed(
            "block's message runs past the end of the file",
        )),
    }
}

/// Applies dictionary block `i`'s message to `state`: a dictionary batch, and
/// not a replacement (the file format allows only deltas).
fn apply_dictionary(
    state: &mut MessageDecoder,
    m: &fbs::Message<'_>,
    body: &SharedBuffer,
    i: usize,
) -> Result<()> {
    let batch = m.header_as_dictionary_batch().ok_or_else(|| {
        Error::malformed(format!("dictionary block {i} is not a dictionary batch"))
    })?;
    if !batch.isDelta() && state.dicts.contains_key(&batch.id()) {
        return Err(Error::unsupported(format!(
            "dictionary {} is replaced inside an IPC file, which the format does not allow",
            batch.id()
        )));
    }
    state.dictionary(m, body)
}

/// Checks the version of a file's metadata. What counts is each message's
/// own version, checked as it is read; the footer's is only a hint. Arrow
/// C++ before 0.15 wrote some footers without it (so it reads as
/// flatbuffers' default, V1) around V4 messages, so a footer older than V4
/// defers to the schema message the file starts with (offset 8): a file
/// really written before Arrow 0.8 is still refused there, even when it has
/// no batch. A footer newer than V5 is refused outright: its layout may have
/// changed.
fn check_file_version(
    data: &[u8],
    footer: fbs::MetadataVersion,
    limits: &DecodeLimits,
) -> Result<()> {
    if footer >= fbs::MetadataVersion::V4 {
        return check_version(footer);
    }
    let first = BlockInfo {
        offset: ARROW_MAGIC_PADDED.len(),
        meta_len: 0,
        body_len: 0,
    };
    block_message(data, &[], first, limits)
        .map(drop)
        .map_err(|e| e.at_message(0).at_offset(first.offset as u64))
}

/// What a file's footer says, checked against the file: the schema (read into
/// the message decoder), the blocks of dictionaries and record batches, and the
/// footer's custom metadata.
struct Footer {
    state: MessageDecoder,
    schema: Arc<Schema>,
    dictionaries: Vec<BlockInfo>,
    batches: Vec<BlockInfo>,
    metadata: BTreeMap<String, String>,
}

/// Checks both magics, the footer and every block against the file size,
/// and reads the schema.
fn read_footer(data: &[u8], options: ReadOptions) -> Result<Footer> {
    let len = data.len();
    // The file ends with the footer, its length (4 bytes) and the magic (6).
    let trailer = data
        .split_last_chunk::<10>()
        .filter(|_| len >= 8 + 10 && data.starts_with(ARROW_MAGIC) && data.ends_with(ARROW_MAGIC));
    let Some((before, &[a, b, c, d, ..])) = trailer else {
        return Err(Error::malformed(format!(
            "not an Arrow IPC file: {len} bytes without ARROW1 at both ends"
        )));
    };
    let footer_len = i32::from_le_bytes([a, b, c, d]);
    let footer_bytes = usize::try_from(footer_len)
        .ok()
        .filter(|&n| n > 0 && n <= len - 18)
        .and_then(|n| before.get(before.len() - n..));
    let Some(footer_bytes) = footer_bytes else {
        return Err(Error::malformed(format!(
            "footer length {footer_len} does not fit a file of {len} bytes"
        )));
    };
    let footer_start = before.len() - footer_bytes.len();
    if footer_len as u64 > options.limits.max_metadata_bytes as u64 {
        return Err(Error::limit(
            "file footer length",
            footer_len as u64,
            options.limits.max_metadata_bytes as u64,
        ));
    }
    let footer = flatbuffers::root_with_opts::<fbs::Footer>(
        &verifier_options(&options.limits),
        footer_bytes,
    )
    .map_err(|e| {
        Error::malformed(format!(
            "file footer is not a valid flatbuffer: {}",
            one_line(&e)
        ))
    })?;
    check_file_version(data, footer.version(), &options.limits)?;
    let metadata = read_metadata(footer.custom_metadata(), &options.limits, "the footer")?;
    let mut state = MessageDecoder::new(options);
    let schema = footer
        .schema()
        .ok_or_else(|| Error::malformed("file footer has no schema"))?;
    let schema = state.set_schema(schema)?;
    let blocks = |v: Option<flatbuffers::Vector<'_, fbs::Block>>, what: &str| {
        v.into_iter()
            .flat_map(|v| v.iter())
            .enumerate()
            .map(|(i, b)| block(b, footer_start, what, i))
            .collect::<Result<Vec<_>>>()
    };
    Ok(Footer {
        batches: blocks(footer.recordBatches(), "record batch")?,
        dictionaries: blocks(footer.dictionaries(), "dictionary")?,
        state,
        schema,
        metadata,
    })
}

impl IpcFileReader {
    /// Opens an IPC file held in `bytes`: checks both magics, the footer and
    /// every block against the file size, reads the schema and all
    /// dictionaries. [`ReadOptions::align_64`] sets
    /// [`IpcFileReader::set_align_64`].
    pub fn new(bytes: SharedBuffer, options: ReadOptions) -> Result<Self> {
        let align_64 = options.align_64;
        let mut footer = read_footer(bytes.as_slice(), options)?;
        // `read_batch_columns` may ask for any supported column, whatever the
        // projection: every dictionary a supported field uses is kept.
        footer.state.all_dictionaries = true;
        let mut reader = IpcFileReader {
            bytes,
            schema: footer.schema,
            state: footer.state,
            batches: footer.batches,
            metadata: footer.metadata,
            align_64,
            borrowed: AtomicU64::new(0),
            copied: AtomicU64::new(0),
        };
        for (i, b) in footer.dictionaries.iter().enumerate() {
            reader
                .load_dictionary(*b, i)
                .map_err(|e| e.at_offset(b.offset as u64))?;
        }
        Ok(reader)
    }

    fn load_dictionary(&mut self, b: BlockInfo, i: usize) -> Result<()> {
        let limits = *self.state.limits();
        let (m, body) = block_message(self.bytes.as_slice(), &[], b, &limits)?;
        apply_dictionary(&mut self.state, &m, &self.bytes.slice(body), i)
    }

    /// The (projected) schema.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The values of dictionary `id` (every dictionary block applied): the
    /// whole dictionary, where a batch with fewer rows than dictionary values
    /// holds only the values it uses.
    pub fn dictionary(&self, id: i64) -> Option<&[String]> {
        self.state.dicts.get(&id).map(|d| d.strings.as_slice())
    }

    /// Every field of the file as Arrow describes it, supported or not.
    pub fn fields(&self) -> &[FieldInfo] {
        &self.state.infos
    }

    /// The fields left out because minarrow cannot hold them (with
    /// [`ReadOptions::skip_unsupported`] or [`crate::Projection::Supported`]),
    /// in schema order, with their Arrow type names.
    pub fn skipped(&self) -> &[FieldInfo] {
        &self.state.skipped
    }

    /// Footer custom metadata.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Number of record batches.
    pub fn num_batches(&self) -> usize {
        self.batches.len()
    }

    /// Whether [`IpcFileReader::read_batch`] makes every buffer 64-byte
    /// aligned (initially [`ReadOptions::align_64`]).
    ///
    /// Off (the default): each buffer is borrowed from the file's bytes when
    /// it starts aligned for its element type (every buffer of an 8-byte
    /// aligned producer such as pyarrow, except `i128` decimals at an odd
    /// multiple of 8), and copied otherwise. On: a batch whose buffers are
    /// not all 64-byte aligned is copied into 64-byte aligned memory as it is
    /// read, each buffer moved to a 64-byte boundary.
    pub fn set_align_64(&mut self, on: bool) {
        self.align_64 = on;
    }

    /// Bytes of column buffers that the batches read so far use in place, in
    /// the file's bytes (no copy). A batch read twice counts twice.
    pub fn bytes_borrowed(&self) -> u64 {
        self.borrowed.load(Ordering::Relaxed)
    }

    /// Bytes copied by the batches read so far: bodies copied into 64-byte
    /// aligned memory under [`IpcFileReader::set_align_64`], and single
    /// buffers copied because they were not aligned for their type (or
    /// repaired under nulls). Dictionaries (decoded into minarrow's strings
    /// when the file is opened) and decompressed buffers are not counted.
    pub fn bytes_copied(&self) -> u64 {
        self.copied.load(Ordering::Relaxed)
    }

    /// Where record batch `i` lies in the file: the offset of its message
    /// and the length of its metadata and body together, as its block says.
    pub fn batch_range(&self, i: usize) -> Option<(usize, usize)> {
        self.batches
            .get(i)
            .map(|b| (b.offset, b.meta_len + b.body_len))
    }

    /// Decodes record batch `i`.
    pub fn read_batch(&self, i: usize) -> Result<Table> {
        self.read_batch_with_head(i, &[])
    }

    /// Decodes record batch `i`, reading its message prefix and metadata
    /// from `head`, a copy of the file's bytes from the batch's offset (see
    /// [`IpcFileReader::batch_range`]) on, when it holds them whole: a
    /// memory-mapped reader reads them with `pread` to spare the map a page
    /// fault. The body still comes from the reader's bytes; when `head` is
    /// too short the metadata does too. The checks are the same either way.
    pub fn read_batch_with_head(&self, i: usize, head: &[u8]) -> Result<Table> {
        self.read_batch_inner(i, head, &self.state.columns)
    }

    /// The index in [`IpcFileReader::fields`] of each named column, in the
    /// order given, for [`IpcFileReader::read_batch_columns`]. A name the file
    /// does not have is an error of kind [`ErrorKind::Schema`] naming it.
    ///
    /// [`ErrorKind::Schema`]: crate::ErrorKind::Schema
    pub fn column_indices<S: AsRef<str>>(&self, names: &[S]) -> Result<Vec<usize>> {
        self.state.column_indices(names)
    }

    /// Decodes record batch `i` with only `columns` (indices into
    /// [`IpcFileReader::fields`], in the order the table should have them),
    /// whatever projection the reader was opened with: the buffers of the
    /// other columns are not touched. Each column must be of a type minarrow
    /// holds.
    ///
    /// ```
    /// use lightstream_core::minarrow::{fa_i64, fa_str32, tbl};
    /// use lightstream_core::{IpcFileReader, ReadOptions, Schema, WriteOptions, aligned_copy};
    ///
    /// let t = tbl!("t", fa_i64!("id", 1, 2), fa_str32!("name", "a", "b"));
    /// let file = lightstream_core::write_file(&Schema::from_table(&t), &[t], &WriteOptions::default())?;
    /// let reader = IpcFileReader::new(aligned_copy(&file), ReadOptions::default())?;
    /// let names = reader.column_indices(&["name"])?;
    /// let only_names = reader.read_batch_columns(0, &names)?;
    /// assert_eq!(only_names.cols.len(), 1);
    /// assert_eq!(only_names.cols[0].field.name, "name");
    /// # Ok::<(), lightstream_core::Error>(())
    /// ```
    pub fn read_batch_columns(&self, i: usize, columns: &[usize]) -> Result<Table> {
        self.state.check_columns(columns)?;
        self.read_batch_inner(i, &[], columns)
    }

    /// [`IpcFileReader::read_batch_columns`] with the batch's head as in
    /// [`IpcFileReader::read_batch_with_head`].
    pub fn read_batch_columns_with_head(
        &self,
        i: usize,
        head: &[u8],
        columns: &[usize],
    ) -> Result<Table> {
        self.state.check_columns(columns)?;
        self.read_batch_inner(i, head, columns)
    }

    fn read_batch_inner(&self, i: usize, head: &[u8], columns: &[usize]) -> Result<Table> {
        let b = *self.batches.get(i).ok_or_else(|| {
            Error::schema(format!(
                "batch {i} requested but the file has {} batches",
                self.batches.len()
            ))
        })?;
        let limits = self.state.limits();
        let tally = Tally::over(self.bytes.as_slice());
        let run = || {
            if self.align_64 {
                let source = MessageSource::Shared {
                    buf: &self.bytes,
                    align_64: true,
                };
                let (raw, copied) = block_frame(source, b, i, limits)?;
                tally.copy(copied);
                let m = parse_message(&raw.metadata, limits)?;
                return self
                    .state
                    .record_batch_columns(&m, &raw.body, &tally, columns);
            }
            let (m, body) = block_message(self.bytes.as_slice(), head, b, limits)?;
            self.state
                .record_batch_columns(&m, &self.bytes.slice(body), &tally, columns)
        };
        let table = run().map_err(|e| e.at_offset(b.offset as u64))?;
        self.borrowed.fetch_add(tally.borrowed(), Ordering::Relaxed);
        self.copied.fetch_add(tally.copied(), Ordering::Relaxed);
        Ok(table)
    }
}

/// Decodes every batch of an IPC file held in `data`, copying each message
/// body once into 64-byte aligned memory (each buffer moved to a 64-byte
/// boundary), as [`super::IpcStreamDecoder::push`] does.
pub(crate) fn read_file_slice(data: &[u8], options: ReadOptions) -> Result<IpcTables> {
    let mut footer = read_footer(data, options)?;
    let limits = *footer.state.limits();
    let tally = Tally::default();
    for (i, b) in footer.dictionaries.iter().enumerate() {
        let mut read = || -> Result<()> {
            let (raw, copied) = block_frame(MessageSource::Slice(data), *b, i, &limits)?;
            tally.copy(copied);
            let m = parse_message(&raw.metadata, &limits)?;
            apply_dictionary(&mut footer.state, &m, &raw.body, i)
        };
        read().map_err(|e| e.at_offset(b.offset as u64))?;
    }
    let mut tables = Vec::with_capacity(footer.batches.len());
    for (i, b) in footer.batches.iter().enumerate() {
        let read = || -> Result<Table> {
            let (raw, copied) = block_frame(MessageSource::Slice(data), *b, i, &limits)?;
            tally.copy(copied);
            let m = parse_message(&raw.metadata, &limits)?;
            footer.state.record_batch(&m, &raw.body, &tally)
        };
        tables.push(read().map_err(|e| e.at_offset(b.offset as u64))?);
    }
    Ok(IpcTables {
        schema: footer.schema,
        tables,
        skipped: footer.state.skipped,
        bytes_copied: tally.copied(),
    })
}

/// Decodes every batch of an in-memory IPC file./// [`IpcFileReader`] reads one batch at a time.
///
/// ```
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{aligned_copy, read_file, write_file, ReadOptions, Schema, WriteOptions};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let schema = Schema::from_table(&table);
/// let bytes = write_file(&schema, &[table.clone()], &WriteOptions::default())?;
/// let (_schema, tables) = read_file(aligned_copy(&bytes), ReadOptions::default())?;
/// assert_eq!(tables[0].cols, table.cols);
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub fn read_file(bytes: SharedBuffer, options: ReadOptions) -> Result<(Arc<Schema>, Vec<Table>)> {
    let read = read_file_tables(bytes, options)?;
    Ok((read.schema, read.tables))
}

/// Every batch of the file in `bytes`, through an [`IpcFileReader`].
pub(crate) fn read_file_tables(bytes: SharedBuffer, options: ReadOptions) -> Result<IpcTables> {
    let reader = IpcFileReader::new(bytes, options)?;
    let tables = (0..reader.num_batches())
        .map(|i| reader.read_batch(i))
        .collect::<Result<Vec<_>>>()?;
    Ok(IpcTables {
        schema: reader.schema().clone(),
        tables,
        skipped: reader.state.skipped.clone(),
        bytes_copied: reader.bytes_copied(),
    })
}

/// Sans-IO encoder of the IPC file format.
///
/// Messages go out as they are encoded, so a file can be written table by
/// table to any sink; the footer (the index of every block) comes last.
///
/// ```
/// use std::sync::Arc;
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{is_ipc_file, read_ipc, IpcFileEncoder, ReadOptions, Schema};
/// use lightstream_core::WriteOptions;
///
/// let tables = [tbl!("t", fa_i64!("n", 1, 2)), tbl!("t", fa_i64!("n", 3))];
/// let schema = Arc::new(Schema::from_table(&tables[0]));
/// let mut enc = IpcFileEncoder::new(schema, WriteOptions::default())?;
/// let mut out = Vec::new();
/// enc.begin()?.write_to(&mut out).expect("writing to a Vec");
/// for t in &tables {
///     for message in enc.encode_table(t)? {
///         message.write_to(&mut out).expect("writing to a Vec");
///     }
/// }
/// out.extend(enc.finish()?);
/// assert!(is_ipc_file(&out) && out.ends_with(b"ARROW1"));
/// assert_eq!(read_ipc(&out, ReadOptions::default())?.tables[1].n_rows, 1);
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub struct IpcFileEncoder {
    inner: MessageEncoder,
    dictionaries: Vec<fbs::Block>,
    batches: Vec<fbs::Block>,
    begun: bool,
}

impl IpcFileEncoder {
    /// An encoder for tables of `schema`.
    pub fn new(schema: Arc<Schema>, options: WriteOptions) -> Result<Self> {
        let inner = MessageEncoder::new(schema, options, ARROW_MAGIC_PADDED.len(), true)?;
        Ok(IpcFileEncoder {
            inner,
            dictionaries: Vec::new(),
            batches: Vec::new(),
            begun: false,
        })
    }

    /// The magic, its padding and the schema message; write it first.
    pub fn begin(&mut self) -> Result<EncodedMessage<'static>> {
        if self.begun {
            return Err(Error::schema("IpcFileEncoder::begin called twice"));
        }
        self.begun = true;
        let mut m = self.inner.schema_message()?;
        m.prepend(&ARROW_MAGIC_PADDED);
        Ok(m)
    }

    /// Dictionary batches as needed, then the record batch. The file format
    /// cannot replace a dictionary, so dictionaries are unified (see
    /// [`crate::DictionaryUnifier`]): a table whose dictionary differs from
    /// the ones before has its keys rewritten and sends only its new values,
    /// as a delta. On an error the encoder is as it was.
    pub fn encode_table<'t>(&mut self, table: &'t Table) -> Result<Vec<EncodedMessage<'t>>> {
        if !self.begun {
            return Err(Error::schema("IpcFileEncoder::begin must come first"));
        }
        let mut offset = self.inner.position;
        let mut out = Vec::new();
        for (kind, m) in self.inner.encode_table(table)? {
            let meta = i32::try_from(m.metadata_len())
                .map_err(|_| Error::schema("message metadata too large for a file block"))?;
            let b = fbs::Block::new(offset as i64, meta, m.body_len() as i64);
            match kind {
                MessageKind::Dictionary => self.dictionaries.push(b),
                MessageKind::RecordBatch => self.batches.push(b),
            }
            offset += m.len();
            out.push(m);
        }
        Ok(out)
    }

    /// The end-of-stream marker, the footer, its length and the closing magic.
    pub fn finish(&mut self) -> Result<Vec<u8>> {
        if !self.begun {
            return Err(Error::schema("IpcFileEncoder::begin must come first"));
        }
        let mut out = self.inner.end_of_stream().to_vec();
        let mut fbb = FlatBufferBuilder::with_capacity(1024);
        let schema = write_schema(&mut fbb, &self.inner.schema)?;
        let dictionaries = fbb.create_vector(&self.dictionaries);
        let batches = fbb.create_vector(&self.batches);
        let footer = fbs::Footer::create(
            &mut fbb,
            &fbs::FooterArgs {
                version: fbs::MetadataVersion::V5,
                schema: Some(schema),
                dictionaries: Some(dictionaries),
                recordBatches: Some(batches),
                custom_metadata: None,
            },
        );
        fbb.finish(footer, None);
        let footer = fbb.finished_data();
        out.extend_from_slice(footer);
        let len = i32::try_from(footer.len()).map_err(|_| Error::schema("footer too large"))?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(ARROW_MAGIC);
        Ok(out)
    }
}

/// Encodes `tables` as a complete IPC file./// [`IpcFileEncoder`] writes one table at a time.
///
/// ```
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{is_ipc_file, write_file, Schema, WriteOptions};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let bytes = write_file(&Schema::from_table(&table), &[table], &WriteOptions::default())?;
/// assert!(is_ipc_file(&bytes));
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub fn write_file(schema: &Schema, tables: &[Table], options: &WriteOptions) -> Result<Vec<u8>> {
    let mut enc = IpcFileEncoder::new(Arc::new(schema.clone()), *options)?;
    // Encode first (messages borrow the tables), then size the output once.
    let mut messages = vec![enc.begin()?];
    for t in tables {
        messages.extend(enc.encode_table(t)?);
    }
    let tail = enc.finish()?;
    let total = messages.iter().map(EncodedMessage::len).sum::<usize>() + tail.len();
    let mut out = Vec::with_capacity(total);
    for m in &messages {
        m.append_to(&mut out);
    }
    out.extend_from_slice(&tail);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use minarrow::{Array, NumericArray, fa_f64, fa_i64, tbl};

    use super::*;
    use crate::buffers::aligned_copy;

    fn file(alignment: usize) -> SharedBuffer {
        let tables: Vec<Table> = (0..3i64)
            .map(|b| tbl!("t", fa_i64!("n", b, b + 1), fa_f64!("x", 0.5, b as f64)))
            .collect();
        let schema = Schema::from_table(&tables[0]);
        let options = WriteOptions {
            alignment,
            ..WriteOptions::default()
        };
        aligned_copy(&write_file(&schema, &tables, &options).unwrap())
    }

    fn first(t: &Table) -> &[i64] {
        match &t.cols[0].array {
            Array::NumericArray(NumericArray::Int64(a)) => a.data.as_slice(),
            _ => panic!("i64 expected"),
        }
    }

    #[test]
    fn a_head_copy_reads_the_same_batch_as_the_bytes() {
        let bytes = file(64);
        let reader = IpcFileReader::new(bytes.clone(), ReadOptions::default()).unwrap();
        for i in 0..reader.num_batches() {
            let (offset, len) = reader.batch_range(i).unwrap();
            let want = reader.read_batch(i).unwrap();
            // Whole, longer than the message, too short for the metadata, tiny.
            for n in [len, len + 100, 12, 3, 0] {
                let end = (offset + n).min(bytes.len());
                let head = &bytes.as_slice()[offset..end];
                let got = reader.read_batch_with_head(i, head).unwrap();
                assert_eq!(first(&got), first(&want), "batch {i}, head of {n}");
                // The body is still the file's: zero-copy.
                assert!(
                    bytes
                        .as_slice()
                        .as_ptr_range()
                        .contains(&(first(&got).as_ptr() as *const u8))
                );
            }
        }
    }

    #[test]
    fn a_head_of_other_bytes_is_checked_like_the_file() {
        let bytes = file(64);
        let reader = IpcFileReader::new(bytes.clone(), ReadOptions::default()).unwrap();
        let (offset, len) = reader.batch_range(1).unwrap();
        let mut head = bytes.as_slice()[offset..offset + len].to_vec();
        for b in &mut head[8..40] {
            *b = 0xEE;
        }
        assert!(reader.read_batch_with_head(1, &head).is_err());
        // A continuation marker then garbage lengths.
        let junk = [0xFFu8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3];
        assert!(reader.read_batch_with_head(1, &junk).is_err());
    }

    /// `file` with its footer built again with version `v` (V1, the
    /// flatbuffers default, is left out of the footer as Arrow 0.14 did).
    fn with_footer_version(file: &SharedBuffer, v: fbs::MetadataVersion) -> SharedBuffer {
        let data = file.as_slice();
        let len = data.len();
        let footer_len = i32::from_le_bytes(data[len - 10..len - 6].try_into().unwrap()) as usize;
        let footer_start = len - 10 - footer_len;
        let old = flatbuffers::root::<fbs::Footer>(&data[footer_start..len - 10]).unwrap();
        let blocks = |v: Option<flatbuffers::Vector<'_, fbs::Block>>| -> Vec<fbs::Block> {
            v.into_iter().flat_map(|v| v.iter().copied()).collect()
        };
        let (dicts, batches) = (blocks(old.dictionaries()), blocks(old.recordBatches()));
        let schema = {
            let reader = IpcFileReader::new(file.clone(), ReadOptions::default()).unwrap();
            Schema::clone(reader.schema())
        };
        let mut fbb = FlatBufferBuilder::new();
        let schema = write_schema(&mut fbb, &schema).unwrap();
        let (dicts, batches) = (fbb.create_vector(&dicts), fbb.create_vector(&batches));
        let footer = fbs::Footer::create(
            &mut fbb,
            &fbs::FooterArgs {
                version: v,
                schema: Some(schema),
                dictionaries: Some(dicts),
                recordBatches: Some(batches),
                custom_metadata: None,
            },
        );
        fbb.finish(footer, None);
        let mut out = data[..footer_start].to_vec();
        out.extend_from_slice(fbb.finished_data());
        out.extend_from_slice(&(fbb.finished_data().len() as i32).to_le_bytes());
        out.extend_from_slice(ARROW_MAGIC);
        aligned_copy(&out)
    }

    /// `file` with the version of the message at `offset` set to `v` in place.
    fn with_message_version(file: &SharedBuffer, offset: usize, v: i16) -> SharedBuffer {
        let mut data = file.as_slice().to_vec();
        let len = i32::from_le_bytes(data[offset + 4..offset + 8].try_into().unwrap()) as usize;
        let at = {
            let meta = &data[offset + 8..offset + 8 + len];
            let m = flatbuffers::root::<fbs::Message>(meta).unwrap();
            let field = m._tab.vtable().get(fbs::Message::VT_VERSION) as usize;
            assert_ne!(field, 0, "the writer stores the version explicitly");
            offset + 8 + m._tab.loc() + field
        };
        data[at..at + 2].copy_from_slice(&v.to_le_bytes());
        aligned_copy(&data)
    }

    #[test]
    fn a_footer_without_a_version_defers_to_the_messages() {
        // Arrow C++ 0.14 wrote such files: no footer version (V1), V4 messages.
        let bytes = with_footer_version(&file(64), fbs::MetadataVersion::V1);
        let reader = IpcFileReader::new(bytes, ReadOptions::default()).unwrap();
        for i in 0..3 {
            assert_eq!(
                first(&reader.read_batch(i).unwrap()),
                &[i as i64, i as i64 + 1]
            );
        }
        // A footer newer than this reader is still refused.
        let newer = with_footer_version(&file(64), fbs::MetadataVersion(5));
        let e = IpcFileReader::new(newer, ReadOptions::default())
            .err()
            .unwrap();
        assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
    }

    #[test]
    fn messages_older_than_v4_are_refused_whatever_the_footer_says() {
        // The schema message (offset 8) says V3, the footer says nothing.
        let old = with_message_version(&file(64), 8, fbs::MetadataVersion::V3.0);
        let bytes = with_footer_version(&old, fbs::MetadataVersion::V1);
        let e = IpcFileReader::new(bytes, ReadOptions::default())
            .err()
            .unwrap();
        assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
        assert!(e.message().contains("metadata version V3"), "{e}");
        assert_eq!(e.location().byte_offset, Some(8));
        // A V5 footer around a V3 record batch: the batch is refused.
        let bytes = file(64);
        let reader = IpcFileReader::new(bytes.clone(), ReadOptions::default()).unwrap();
        let (offset, _) = reader.batch_range(1).unwrap();
        let old = with_message_version(&bytes, offset, fbs::MetadataVersion::V3.0);
        let reader = IpcFileReader::new(old, ReadOptions::default()).unwrap();
        assert!(reader.read_batch(0).is_ok());
        let e = reader.read_batch(1).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
        assert!(e.message().contains("metadata version V3"), "{e}");
    }

    #[test]
    fn eight_byte_aligned_files_are_borrowed_unless_asked_for_64() {
        let bytes = file(8);
        let inside = |t: &Table| {
            bytes
                .as_slice()
                .as_ptr_range()
                .contains(&(first(t).as_ptr() as *const u8))
        };
        let mut reader = IpcFileReader::new(bytes.clone(), ReadOptions::default()).unwrap();
        for i in 0..3 {
            let t = reader.read_batch(i).unwrap();
            assert_eq!(first(&t), &[i as i64, i as i64 + 1]);
            assert!(inside(&t), "batch {i} copied");
        }
        reader.set_align_64(true);
        for i in 0..3 {
            let t = reader.read_batch(i).unwrap();
            assert_eq!(first(&t), &[i as i64, i as i64 + 1]);
            assert_eq!(first(&t).as_ptr() as usize % 64, 0);
        }
    }
}
