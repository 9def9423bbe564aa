//! Parquet files <-> minarrow tables (feature `parquet`): [`ParquetWriter`]
//! and [`ParquetReader`], on the parquet crate's footer and low-level column
//! API (no arrow-rs) and our own page loop and decoders for the common
//! encodings, with Snappy (feature `snappy`) and Zstd (feature `zstd`) pages.
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
//! See [the Parquet guide] for the type mapping and the design.
//!
//! A file on disk, with a dictionary column and Zstd pages:
//!
//! ```
//! use lightstream::minarrow::{fa_cat32, fa_f64, tbl};
//! use lightstream::parquet::{ParquetCompression, ParquetReader, ParquetWriteOptions};
//! use lightstream::parquet::ParquetWriter;
//! use lightstream::Schema;
//!
//! let path = std::env::temp_dir().join(format!("lightstream-doc-{}.parquet", std::process::id()));
//! let table = tbl!("t", fa_cat32!("city", "Oslo", "Lima", "Oslo"), fa_f64!("temp", -3.5, 19.0, 1.0));
//! let file = std::fs::File::create(&path).expect("a temporary file");
//! let options =
//!     ParquetWriteOptions { compression: ParquetCompression::Zstd(3), ..Default::default() };
//! let mut writer = ParquetWriter::new(file, &Schema::from_table(&table), options)?;
//! writer.write(&table)?;
//! writer.finish()?;
//!
//! let mut reader = ParquetReader::open(&path, Default::default())?;
//! assert_eq!(reader.schema().fields, Schema::from_table(&table).fields); // categorical again
//! assert_eq!(reader.next().transpose()?.expect("one table").cols, table.cols);
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), lightstream::Error>(())
//! ```
//!
//! [the Parquet guide]: https://github.com/lightstream-rs/lightstream/blob/main/docs/parquet.md

mod column;
mod decode;
mod encode;
mod footer;
mod pages;
mod parallel;
mod plan;
mod reader;
mod rle;
mod thrift;
mod types;
mod writer;

pub use reader::{ParquetReadOptions, ParquetReader};
pub use types::ARROW_SCHEMA_KEY;
pub use writer::{ParquetCompression, ParquetWriteOptions, ParquetWriter};
