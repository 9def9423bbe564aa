//! Arrow IPC: schemas, record batches, dictionaries, the stream and file formats.
//!
//! Built on [`crate::framing::ipc`] for message boundaries. The decoder side
//! turns messages into minarrow tables ([`IpcStreamDecoder`], [`IpcFileReader`]);
//! the encoder side turns tables into messages that borrow the tables' buffers
//! ([`IpcStreamEncoder`], [`IpcFileEncoder`]).
//!
//! Everything here is also re-exported at the crate root. The two formats
//! hold the same tables: a stream is read front to back as it arrives, a file
//! (`ARROW1` at both ends, a footer indexing every batch) is read in any
//! order. [`read_ipc`] tells them apart.
//!
//! ```
//! use lightstream_core::minarrow::{fa_i64, tbl};
//! use lightstream_core::ipc::{is_ipc_file, read_ipc, write_file, write_stream};
//! use lightstream_core::ipc::{ReadOptions, Schema, WriteOptions};
//!
//! let table = tbl!("t", fa_i64!("id", 1, 2, 3));
//! let schema = Schema::from_table(&table);
//! let stream = write_stream(&schema, &[table.clone()], &WriteOptions::default())?;
//! let file = write_file(&schema, &[table.clone()], &WriteOptions::default())?;
//! assert!(!is_ipc_file(&stream) && is_ipc_file(&file));
//! for bytes in [&stream, &file] {
//!     assert_eq!(read_ipc(bytes, ReadOptions::default())?.tables[0].cols, table.cols);
//! }
//! # Ok::<(), lightstream_core::Error>(())
//! ```
//!
//! The long story (dictionaries, the decoder driver, how Arrow types map to
//! minarrow, what is borrowed and what is copied) is in [the core API guide].
//!
//! [the core API guide]: https://github.com/lightstream-rs/lightstream/blob/main/docs/core-api.md

// The send side indexes the caller's own tables and the buffers it sizes.
#[allow(clippy::indexing_slicing)]
mod body;
mod buffer_types;
mod compression;
mod drive;
mod file;
mod merge;
mod message;
mod read;
mod schema;
mod schema_write;
mod stream;
mod unify;
#[allow(clippy::indexing_slicing)]
mod write;

#[cfg(test)]
mod skip_tests;

pub use crate::display::arrow_type_name;
pub use compression::Compression;
#[doc(hidden)]
pub use compression::fuzz_decompress_buffer;
pub use drive::{
    ByteInput, DriveError, FrameDriver, IpcStreamDriver, MessageError, MessageProgress, Pending,
    ReadInput, ReadTarget, SCRATCH_BYTES, SharedInput, SliceInput,
};
pub use file::{ARROW_MAGIC, IpcFileEncoder, IpcFileReader, is_ipc_file, read_file, write_file};
pub use merge::merge_dictionaries;
pub use message::{
    IpcMessage, IpcMessageDecoder, IpcMessageDriver, MessageInfo, MessageKind, inspect_message,
};
pub use schema::{DictionaryEncoding, FieldInfo, IndexType, Schema};
pub use stream::{IpcStreamDecoder, StreamItem, read_stream, write_stream};
pub use unify::{DictionaryUnifier, unify_dictionaries};
pub use write::{EncodedMessage, IpcStreamEncoder, WriteOptions};
// For the Flight schema bytes (`crate::flight`), which read one Schema message.
#[cfg(feature = "flight")]
pub(crate) use schema::read_schema;
#[cfg(feature = "flight")]
pub(crate) use stream::check_version;

use std::sync::Arc;

use minarrow::Table;

use crate::error::Result;
use crate::limits::DecodeLimits;

/// Options for reading IPC streams and files.
///
/// ```
/// use lightstream_core::minarrow::{fa_f64, fa_i64, fa_str32, tbl};
/// use lightstream_core::{read_ipc, write_stream, DecodeLimits, Projection, ReadOptions, Schema};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2), fa_str32!("sym", "a", "b"), fa_f64!("px", 1.5, 2.5));
/// let bytes = write_stream(&Schema::from_table(&table), &[table], &Default::default())?;
/// let options = ReadOptions {
///     // Only these columns are decoded, in this order.
///     projection: Some(Projection::Names(vec!["px".into(), "id".into()])),
///     limits: DecodeLimits { max_rows: 1_000, ..DecodeLimits::default() },
///     ..ReadOptions::default()
/// };
/// let read = read_ipc(&bytes, options)?;
/// let names: Vec<_> = read.schema.fields.iter().map(|f| f.name.as_str()).collect();
/// assert_eq!(names, ["px", "id"]);
/// # Ok::<(), lightstream_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Bounds on what untrusted input may make the decoder do.
    pub limits: DecodeLimits,
    /// Read only these columns (`None`: all of them, and a column of a type
    /// minarrow cannot hold is an error of kind `Unsupported`, unless
    /// [`ReadOptions::skip_unsupported`]). Columns left out may be of types
    /// minarrow cannot hold: their buffers are neither read nor
    /// decompressed, and their dictionary batches are not decoded. A
    /// `Vec<usize>` converts into [`Projection::Indices`].
    pub projection: Option<Projection>,
    /// Leave out, instead of failing on, the columns (of the projection, or
    /// of the schema when there is none) whose Arrow type minarrow cannot
    /// hold: lists, structs, maps, unions, binary, views, run-end encoded,
    /// dictionaries of non-strings, ... (off by default). Their field nodes
    /// and buffers are skipped by walking the type tree (every count
    /// checked), and `skipped()` on the decoder or reader (or
    /// [`IpcTables::skipped`]) names them with their Arrow types. With no
    /// projection this is [`Projection::Supported`].
    pub skip_unsupported: bool,
    /// Make every buffer 64-byte aligned (off by default).
    ///
    /// Off, readers use every buffer where it is when it is aligned for its
    /// element type: readers over a [`minarrow::SharedBuffer`] (`read_stream`,
    /// [`IpcStreamDecoder::push_shared`], [`IpcFileReader`], `read_file`,
    /// memory maps) borrow it, and a body read from a socket or pushed as
    /// `&[u8]` is copied once, straight into 64-byte aligned memory, keeping
    /// its layout when every buffer is 8-byte aligned. For an 8-byte aligned
    /// producer (pyarrow) that leaves buffers only 8-byte aligned. On, a
    /// message whose buffers are not all 64-byte aligned is copied into
    /// 64-byte aligned memory as it is read, each buffer moved to a 64-byte
    /// boundary, for consumers that want SIMD alignment (minarrow's kernels
    /// take a scalar path otherwise): one copy of in-memory input, and over
    /// a socket a second one after the read (through the reader's scratch
    /// buffer). The IPC file reader over a `&[u8]` (`read_ipc` of a file)
    /// copies each body and moves its buffers to 64 either way.
    pub align_64: bool,
    /// Give a record batch with fewer rows than its dictionary has values
    /// only the values its rows use, in dictionary order, its keys rewritten
    /// to address them (off by default: every batch holds the whole
    /// dictionary as it stands, as arrow-rs and pyarrow give it).
    ///
    /// A minarrow 0.19 `CategoricalArray` owns its `Vec64<String>`, so the
    /// whole dictionary is copied into every batch: N small batches over a
    /// dictionary of D values cost N x D string copies (a stream of one-row
    /// batches that each add a delta, quadratic in N; or a few bytes of
    /// record batch making the decoder copy a dictionary of a million
    /// values). On, a batch costs O(rows log rows) whatever the dictionary's
    /// size. [`IpcStreamDecoder::dictionary`] and [`IpcFileReader::dictionary`]
    /// still give the whole dictionary. The `lightstream` CLI turns it on.
    pub compact_dictionaries: bool,
}

/// Which columns a reader decodes, resolved against the schema when it
/// arrives (so a stream's columns can be chosen before its first byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    /// These columns (indices into the schema), in this order.
    Indices(Vec<usize>),
    /// The columns with these names, in this order; a name the schema does
    /// not have is an error of kind `Schema` naming it (with the first of
    /// equal names taken).
    Names(Vec<String>),
    /// Every column of a type minarrow holds, in schema order; the others are
    /// left out: the same as no projection with
    /// [`ReadOptions::skip_unsupported`] (and `skipped()` names them).
    Supported,
}

impl From<Vec<usize>> for Projection {
    fn from(columns: Vec<usize>) -> Self {
        Projection::Indices(columns)
    }
}

/// What [`read_ipc`] read.
#[derive(Debug, Clone)]
pub struct IpcTables {
    /// The (projected) schema.
    pub schema: Arc<Schema>,
    /// Every record batch, in order.
    pub tables: Vec<Table>,
    /// The fields left out because minarrow cannot hold them (with
    /// [`ReadOptions::skip_unsupported`] or [`Projection::Supported`]), in
    /// schema order.
    pub skipped: Vec<FieldInfo>,
    /// Message body bytes copied: each body once, and nothing else (metadata
    /// aside, which is always read into a small buffer).
    pub bytes_copied: u64,
}

/// Decodes a whole IPC stream or file (told apart by the file's `ARROW1`
/// magic) held in a byte slice, with exactly one copy: each message body is
/// copied once into 64-byte aligned memory, and the tables point into those
/// copies. A stream's bodies keep their layout when every buffer is 8-byte
/// aligned (see [`ReadOptions::align_64`]); a file's, and any with a buffer
/// off 8, have each buffer moved to a 64-byte boundary as they are copied.
/// This is the way from a `Vec<u8>` or `&[u8]` you do not own as a
/// [`SharedBuffer`]; `read_stream(aligned_copy(&bytes))` copies the whole
/// input (and, with `align_64`, each body of a producer that pads to 8 a
/// second time).
///
/// Bytes already in a [`SharedBuffer`] (a memory map, a network buffer) are
/// better read where they lie: [`read_stream`], [`read_file`].
///
/// [`SharedBuffer`]: minarrow::SharedBuffer
///
/// ```
/// use lightstream_core::{read_ipc, write_file, ReadOptions, Schema, WriteOptions};
/// use lightstream_core::minarrow::{fa_i64, tbl};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let bytes = write_file(&Schema::from_table(&table), &[table], &WriteOptions::default()).unwrap();
/// let read = read_ipc(&bytes, ReadOptions::default()).unwrap();
/// assert_eq!(read.tables[0].n_rows, 3);
/// ```
pub fn read_ipc(bytes: &[u8], options: ReadOptions) -> Result<IpcTables> {
    if is_ipc_file(bytes) {
        file::read_file_slice(bytes, options)
    } else {
        stream::read_stream_input(&mut SliceInput::new(bytes, 0), options)
    }
}

/// [`read_ipc`] for bytes already in a [`SharedBuffer`] (a memory map, a
/// buffer the bytes were received or copied into): a stream is read as by
/// [`read_stream`], a file as by [`read_file`], so buffers aligned for their
/// type are borrowed, not copied; the result says what was skipped too.
///
/// [`SharedBuffer`]: minarrow::SharedBuffer
///
/// ```
/// use lightstream_core::{aligned_copy, read_ipc_shared, write_stream, ReadOptions, Schema};
/// use lightstream_core::minarrow::{fa_i64, tbl};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let bytes = write_stream(&Schema::from_table(&table), &[table], &Default::default())?;
/// let read = read_ipc_shared(aligned_copy(&bytes), ReadOptions::default())?;
/// assert_eq!((read.tables[0].n_rows, read.bytes_copied), (3, 0));
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub fn read_ipc_shared(bytes: minarrow::SharedBuffer, options: ReadOptions) -> Result<IpcTables> {
    if is_ipc_file(bytes.as_slice()) {
        file::read_file_tables(bytes, options)
    } else {
        stream::read_stream_input(&mut SharedInput::new(bytes, 0), options)
    }
}
