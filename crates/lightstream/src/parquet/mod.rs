//! Parquet files <-> minarrow tables (feature `parquet`): [`ParquetWriter`]
//! and [`ParquetReader`], on the parquet crate's low-level column API (no
//! arrow-rs), with Snappy (feature `snappy`) and Zstd (feature `zstd`) pages.
//!
//! - Every flat type the core's IPC codec holds round-trips, with nulls;
//!   categorical (dictionary) columns come back categorical. The Arrow schema
//!   travels in the `ARROW:schema` footer key, as Arrow C++ writes it, so
//!   pyarrow restores dictionary, large_string, time zone, duration and
//!   unsigned types, and so do we.
//! - Memory is bounded: the writer holds one row group of encoded pages, the
//!   reader one batch (at most one row group) of decoded values.
//! - Corrupt or truncated files give [`crate::Error::Parquet`] naming the file
//!   and what failed, never a panic.
//!
//! Not here: nested types (lists, structs, maps) and binary columns, which
//! minarrow does not hold; encryption; bloom filters; predicate push-down.
//! See docs/parquet.md for the type mapping and the design.

mod decode;
mod footer;
mod pages;
mod plan;
mod reader;
mod thrift;
mod types;
mod writer;

pub use reader::{ParquetReadOptions, ParquetReader};
pub use types::ARROW_SCHEMA_KEY;
pub use writer::{ParquetCompression, ParquetWriteOptions, ParquetWriter};
