//! # lightstream-core
//!
//! The sans-IO Arrow IPC codec of Lightstream: bytes in, [`minarrow`] tables
//! out; tables in, bytes out. It owns framing ([`framing`]: TLV and Arrow
//! encapsulated messages), the IPC stream and file formats ([`ipc`]: schemas,
//! record batches, dictionaries, body compression), 64-byte aligned zero-copy
//! buffers ([`buffers`]) and the limits that keep hostile input bounded
//! ([`DecodeLimits`]). With the `csv` feature (default), [`csv`] reads and
//! writes CSV push-style into the same tables.
//!
//! It never performs I/O, spawns threads or reads a clock, so the same code
//! runs under tokio, over a memory map and in a browser (`wasm32-unknown-unknown`).
//! Shells own the I/O and push bytes in.
//!
//! ```
//! use lightstream_core::{read_ipc, write_stream, ReadOptions, Schema, WriteOptions};
//! use lightstream_core::minarrow::{fa_i64, fa_str32, tbl};
//!
//! let table = tbl!("t", fa_i64!("id", 1, 2, 3), fa_str32!("name", "a", "b", "c"));
//! let schema = Schema::from_table(&table);
//! let bytes: Vec<u8> = write_stream(&schema, &[table], &WriteOptions::default()).unwrap();
//! // From a byte slice: each message body is copied once, into 64-byte aligned memory.
//! let read = read_ipc(&bytes, ReadOptions::default()).unwrap();
//! assert_eq!(read.schema.fields.len(), 2);
//! assert_eq!(read.tables[0].n_rows, 3);
//! ```
//!
//! Bytes already in a [`SharedBuffer`] (a memory map, a receive buffer) are
//! read where they lie by [`read_stream`], [`read_file`] and
//! [`IpcStreamDecoder::push_shared`]: every buffer aligned for its type is
//! borrowed, and [`IpcStreamDecoder::bytes_borrowed`] /
//! [`IpcStreamDecoder::bytes_copied`] say what was.
//!
//! ## Where to start
//!
//! | you have | use |
//! |---|---|
//! | a whole stream or file in memory | [`read_ipc`] (a `&[u8]`); [`read_ipc_shared`], [`read_stream`], [`read_file`] (a [`SharedBuffer`], zero-copy) |
//! | tables to send or store | [`write_stream`], [`write_file`]; table by table: [`IpcStreamEncoder`], [`IpcFileEncoder`] |
//! | bytes arriving in pieces | [`IpcStreamDecoder::push`]; from a reader or a shell's input: [`IpcStreamDriver`] |
//! | one message's metadata and body apart (a Flight `data_header` and `data_body`) | [`IpcStreamDecoder::push_message`]; FlightData as `Bytes`: `flight::FlightDataDecoder` (feature `flight`) |
//! | a large file, read in any order | [`IpcFileReader`] (batches and columns on demand) |
//! | CSV | [`csv::CsvDecoder`], [`csv::CsvEncoder`], [`csv::read_csv`] |
//! | untrusted input | [`DecodeLimits`] in [`ReadOptions`]; each failure is an [`Error`] with an [`ErrorKind`] and a [`Location`] |
//! | a framing of your own | [`framing::FrameDecoder`], [`framing::tlv`] |
//!
//! Each of them has a runnable example. The long story (each type's
//! contract, dictionaries, how Arrow types map to minarrow, what is borrowed
//! and what is copied) is in [the core API guide]; the native shell, with its
//! transports and files, is the [`lightstream`] crate.
//!
//! [the core API guide]: https://github.com/lightstream-rs/lightstream/blob/main/docs/core-api.md
//! [`lightstream`]: https://docs.rs/lightstream

#![warn(missing_docs)]
// Nothing that came off the wire may panic the codec: no unwrap, expect or
// panic outside tests (an invariant the code cannot express is written down
// where it is relied on). Here rather than in Cargo.toml: a crate that inherits
// `[workspace.lints]` cannot add lints of its own there, and tests may unwrap.
// No indexing or slicing either (`get`, `split_first_chunk`, ... instead): a
// site proven in bounds carries `#[allow(clippy::indexing_slicing)]` and the
// reason; the modules allowed below as a whole do not read wire bytes by offset.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing
    )
)]
// "Available on crate feature X only" on feature-gated items (docs.rs and
// `RUSTDOCFLAGS="--cfg docsrs" cargo doc`). On this nightly `doc_cfg` derives
// the badge from each item's `#[cfg]` (it absorbed `doc_auto_cfg`).
#![cfg_attr(docsrs, feature(doc_cfg))]

// With both `zstd` and `zstd-decode` (a workspace build unifies the native
// shell's `zstd` with the browser's `zstd-decode`), the C library decodes and
// ruzstd goes unused; this tells the unused-dependency lint that is intended.
#[cfg(all(feature = "zstd-decode", feature = "zstd"))]
use ruzstd as _;

#[cfg(target_endian = "big")]
compile_error!("lightstream-core supports little-endian targets only");

pub mod buffers;
// Positions the tokenizer found itself, in buffers it owns (its hot loops index
// them; the csv and csv_pieces fuzz targets run them on arbitrary bytes).
#[cfg(feature = "csv")]
#[allow(clippy::indexing_slicing)]
pub mod csv;
// Digits into fixed-size buffers and tables of constant size.
#[allow(clippy::indexing_slicing)]
pub mod display;
pub mod error;
mod fbs;
#[cfg(feature = "flight")]
pub mod flight;
pub mod framing;
pub mod ipc;
pub mod limits;

pub use bytes;
pub use minarrow;

pub use buffers::{ALIGNMENT, aligned_copy};
pub use error::{Error, ErrorKind, Location, Result};
pub use framing::Decoded;
pub use framing::ipc::{BodySink, Progress};
pub use ipc::{
    ARROW_MAGIC, ByteInput, Compression, DictionaryEncoding, DictionaryUnifier, DriveError,
    EncodedMessage, FieldInfo, FrameDriver, IndexType, IpcFileEncoder, IpcFileReader, IpcMessage,
    IpcMessageDecoder, IpcMessageDriver, IpcStreamDecoder, IpcStreamDriver, IpcStreamEncoder,
    IpcTables, MessageError, MessageInfo, MessageKind, MessageProgress, Pending, Projection,
    ReadInput, ReadOptions, ReadTarget, Schema, SharedInput, SliceInput, StreamItem, WriteOptions,
    inspect_message, is_ipc_file, merge_dictionaries, read_file, read_ipc, read_ipc_shared,
    read_stream, unify_dictionaries, write_file, write_stream,
};
pub use limits::DecodeLimits;
pub use minarrow::structs::shared_buffer::SharedBuffer;
