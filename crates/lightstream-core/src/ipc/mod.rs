//! Arrow IPC: schemas, record batches, dictionaries, the stream and file formats.
//!
//! Built on [`crate::framing::ipc`] for message boundaries. The decoder side
//! turns messages into minarrow tables ([`IpcStreamDecoder`], [`IpcFileReader`]);
//! the encoder side turns tables into messages that borrow the tables' buffers
//! ([`IpcStreamEncoder`], [`IpcFileEncoder`]).

mod compression;
mod file;
mod read;
mod schema;
mod stream;
mod unify;
mod write;

pub use compression::Compression;
#[doc(hidden)]
pub use compression::fuzz_decompress_buffer;
pub use file::{ARROW_MAGIC, IpcFileEncoder, IpcFileReader, is_ipc_file, read_file, write_file};
pub use schema::{DictionaryEncoding, FieldInfo, IndexType, Schema, arrow_type_name};
pub use stream::{IpcStreamDecoder, StreamItem, read_stream, write_stream};
pub use unify::{DictionaryUnifier, unify_dictionaries};
pub use write::{EncodedMessage, IpcStreamEncoder, WriteOptions};

use crate::limits::DecodeLimits;

/// Options for reading IPC streams and files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Bounds on what untrusted input may make the decoder do.
    pub limits: DecodeLimits,
    /// Read only these columns (schema indices), in this order. Columns left
    /// out may be of types minarrow cannot hold.
    pub projection: Option<Vec<usize>>,
}
