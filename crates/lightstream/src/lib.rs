//! # lightstream
//!
//! Streams Arrow tables between processes over TCP, TLS, Unix domain sockets,
//! stdin/stdout, WebSocket (plain and over TLS) and QUIC, on tokio. It is the native shell around
//! [`lightstream_core`], the sans-IO codec, which it re-exports: tables are
//! [`minarrow`] tables, column buffers are 64-byte aligned end to end.
//!
//! One API for every transport:
//! - [`TableWriter`]: `write(&table)` per table, then `finish()`; the schema,
//!   dictionaries and end-of-stream marker are sent for you.
//! - [`TableReader`]: the schema, then a [`futures_core::Stream`] of
//!   `Result<Table>`.
//! - [`connect`] / [`bind`] + [`Listener::accept`] give a [`Connection`] for
//!   any [`Endpoint`] URL; [`TableReader::from_async_read`],
//!   [`TableWriter::from_async_write`] and [`Connection::from_io`] wrap any
//!   tokio byte stream you already have.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> lightstream::Result<()> {
//! use futures_util::StreamExt;
//! use lightstream::minarrow::{fa_i64, tbl};
//! use lightstream::{ClientOptions, Endpoint, ReadOptions, Schema, ServerOptions, WriteOptions};
//!
//! // Port 0: the system picks a free port; `local_url` says which.
//! let listener = lightstream::bind(&"tcp://127.0.0.1:0".parse()?, &ServerOptions::default()).await?;
//! let endpoint: Endpoint = listener.local_url().clone();
//! let server = tokio::spawn(async move {
//!     let table = tbl!("t", fa_i64!("n", 1, 2, 3));
//!     let schema = std::sync::Arc::new(Schema::from_table(&table));
//!     let conn = listener.accept().await?;
//!     let mut w = conn.writer(schema, WriteOptions::default()).await?;
//!     w.write(&table).await?;
//!     w.finish().await?;
//!     Ok::<(), lightstream::Error>(())
//! });
//! let conn = lightstream::connect(&endpoint, &ClientOptions::default()).await?;
//! let mut reader = conn.reader(ReadOptions::default()).await?;
//! assert_eq!(reader.schema().fields[0].name, "n");
//! while let Some(table) = reader.next().await {
//!     assert_eq!(table?.n_rows, 3);
//! }
//! server.await.expect("server task")?;
//! # Ok(()) }
//! ```
//!
//! Transports are features: `tcp`, `uds`, `stdio`, `websocket`, `quic` and
//! `tls` (`tls://`, and `wss://` with `websocket`; see [`tls`]), all on by
//! default, as are memory-mapped files (`mmap`: [`mmap::MmapFile`],
//! [`mmap::MmapStream`]), Parquet files (`parquet`: [`parquet::ParquetReader`],
//! [`parquet::ParquetWriter`], with `snappy` and `zstd` pages) and the core's
//! `lz4` and `zstd` body compression. CSV files (`csv`: [`csv::CsvReader`],
//! [`csv::CsvWriter`]) use the core's push-style CSV codec.
//!
//! ## Where to start
//!
//! | you want to | use |
//! |---|---|
//! | serve or fetch tables by URL | [`bind`] + [`Listener::accept`], [`connect`]; then [`Connection::writer`] / [`Connection::reader`] |
//! | stream over a socket or pipe you already have | [`TableReader::from_async_read`], [`TableWriter::from_async_write`], [`Connection::from_io`] |
//! | name a transport | [`Endpoint`]: `tcp://`, `tls://`, `unix://`, `ws://`, `wss://`, `quic://`, `grpc://`, `grpc+tls://`, `nats://`, `nats+tls://`, `-` |
//! | bound a silent or slow peer | [`TableReader::set_idle_timeout`], [`TableWriter::set_write_timeout`] |
//! | forward a stream of any Arrow types without decoding it | [`Connection::message_reader`], [`Connection::message_writer`] ([`MessageReader`], [`MessageWriter`]) |
//! | several streams on one connection | [`quic::QuicSession`] |
//! | serve streams from your axum or hyper server | [`http`] ([`http::ArrowBody`], [`http::websocket_upgrade`], [`http::Access`]), [`axum`] |
//! | publish or subscribe to a live feed on NATS / JetStream (`nats://`) | [`nats`] ([`nats::NatsOptions`]; feature `nats`, docs/nats.md) |
//! | read or write an Arrow Flight server's streams (`grpc://`) | [`flight`] ([`flight::FlightClient`], [`flight::FlightOptions`]; feature `flight`) |
//! | certificates | [`tls`] (`tls://`, `wss://`, and the helpers QUIC shares) |
//! | read big Arrow files without loading them | [`mmap::MmapFile`], [`mmap::MmapStream`] |
//! | Parquet or CSV files | [`parquet`], [`csv`] |
//! | bytes in memory, no I/O | the core's [`read_ipc`], [`write_stream`], [`write_file`] (and all of [`lightstream_core`]) |
//! | handle failures | [`Error`]: the codec's error with its location, or what the transport was doing |
//!
//! Each module and main type has a runnable example. The long story (every
//! type's contract, timeouts and faults, what is copied on each transport) is
//! in [the native API guide]; `examples/` holds a program per transport.
//!
//! [the native API guide]: https://github.com/lightstream-rs/lightstream/blob/main/docs/native-api.md

#![warn(missing_docs)]
// "Available on crate feature X only" on feature-gated items (docs.rs and
// `RUSTDOCFLAGS="--cfg docsrs" cargo doc`). On this nightly `doc_cfg` derives
// the badge from each item's `#[cfg]` (it absorbed `doc_auto_cfg`).
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod error;
pub mod framed;
pub mod hub;
pub mod messages;
pub mod reader;
pub mod writer;

mod connection;
mod endpoint;
mod feed_state;
mod transport;
#[cfg(any(feature = "parquet", all(feature = "csv", feature = "mmap")))]
mod workers;

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "csv")]
pub mod csv;
#[cfg(feature = "flight")]
pub mod flight;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "mmap")]
pub mod mmap;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "parquet")]
pub mod parquet;
#[cfg(feature = "quic")]
pub use transport::quic;
#[cfg(any(feature = "tls", feature = "quic"))]
pub use transport::tls;
#[cfg(feature = "websocket")]
pub use transport::websocket;

pub use connection::{Connection, Listener};
pub use endpoint::{Endpoint, FlightName, MAX_URL_FLIGHT_BYTES, NatsMode, NatsQuery};
pub use error::{
    Error, FeedProblem, FlightCode, HttpProblem, NatsProblem, Result, StreamLimit, TlsProblem,
};
pub use messages::{MessageReader, MessageWriter};
pub use reader::TableReader;
#[cfg(feature = "http")]
pub use transport::http::HttpVersion;
pub use transport::{ClientOptions, ServerOptions, bind, connect};
pub use writer::TableWriter;

pub use lightstream_core;
pub use lightstream_core::{
    Compression, DecodeLimits, ReadOptions, Schema, WriteOptions, minarrow, read_ipc, write_file,
    write_stream,
};

/// The Rust examples of the README and of docs/ run as this crate's doctests
/// (`cargo test --doc -p lightstream`), so they cannot drift from the code.
/// API listings there are fenced `rust,ignore`; examples that need a network
/// peer are `no_run` (compiled, not run).
#[cfg(all(
    doctest,
    feature = "tcp",
    feature = "mmap",
    feature = "csv",
    feature = "parquet",
    feature = "tls"
))]
mod docs_examples {
    #[doc = include_str!("../../../README.md")]
    struct Readme;
    #[doc = include_str!("../../../docs/core-api.md")]
    struct CoreApi;
    #[doc = include_str!("../../../docs/native-api.md")]
    struct NativeApi;
    #[doc = include_str!("../../../docs/csv.md")]
    struct Csv;
    #[doc = include_str!("../../../docs/parquet.md")]
    struct Parquet;
    #[doc = include_str!("../../../docs/live-feeds.md")]
    struct LiveFeeds;
}

/// docs/flight.md: its examples need the `flight` feature.
#[cfg(all(doctest, feature = "flight"))]
mod flight_docs {
    #[doc = include_str!("../../../docs/flight.md")]
    struct Flight;
}

/// docs/nats.md: its examples need the `nats` feature.
#[cfg(all(doctest, feature = "nats"))]
mod nats_docs {
    #[doc = include_str!("../../../docs/nats.md")]
    struct Nats;
}

/// docs/web-server.md: its examples need the `axum` feature.
#[cfg(all(doctest, feature = "axum"))]
mod web_server_docs {
    #[doc = include_str!("../../../docs/web-server.md")]
    struct WebServer;
}
