//! Limits on what untrusted input may make the decoder allocate or process.
//!
//! Every size, count and length read off the wire is compared with these
//! before anything is allocated for it. The defaults are generous for real
//! data and small enough that a hostile 16-byte header cannot make the decoder
//! reserve gigabytes. Not a rate limiter: time and bandwidth belong to shells.
//!
//! ```
//! use lightstream_core::minarrow::{fa_i64, tbl};
//! use lightstream_core::{read_ipc, write_stream, DecodeLimits, ErrorKind, ReadOptions, Schema};
//!
//! let table = tbl!("t", fa_i64!("id", 1, 2, 3));
//! let bytes = write_stream(&Schema::from_table(&table), &[table], &Default::default())?;
//! let strict = DecodeLimits { max_rows: 2, ..DecodeLimits::default() };
//! let err = read_ipc(&bytes, ReadOptions { limits: strict, ..Default::default() }).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::LimitExceeded);
//! # Ok::<(), lightstream_core::Error>(())
//! ```

/// Bounds applied while decoding Arrow IPC from untrusted bytes.
///
/// Start from the defaults and tighten what your peers never need:
///
/// ```
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{read_ipc, write_stream, DecodeLimits, ReadOptions, Schema};
///
/// // A service whose messages are small: no body over 1 MiB, at most 64 columns.
/// let limits = DecodeLimits { max_body_bytes: 1 << 20, max_columns: 64, ..Default::default() };
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let bytes = write_stream(&Schema::from_table(&table), &[table], &Default::default())?;
/// let read = read_ipc(&bytes, ReadOptions { limits, ..ReadOptions::default() })?;
/// assert_eq!(read.tables[0].n_rows, 3);
/// # Ok::<(), lightstream_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest flatbuffer metadata of one message, in bytes.
    pub max_metadata_bytes: usize,
    /// Largest body of one message, in bytes (as sent, before decompression).
    pub max_body_bytes: usize,
    /// Most bytes all buffers of one message may decompress to. Output is
    /// allocated as it is produced, never from the declared sizes alone.
    pub max_decompressed_bytes: usize,
    /// Most top-level fields (columns) in a schema.
    pub max_columns: usize,
    /// Most rows in one record batch or dictionary batch.
    pub max_rows: usize,
    /// Most bytes a body may reserve up front before its bytes arrive; beyond
    /// this the receive buffer grows only as data actually comes in.
    pub max_eager_reserve: usize,
    /// Most key/value pairs of custom metadata on a schema, field or message.
    pub max_metadata_entries: usize,
    /// Most values a dictionary may hold after deltas are appended.
    pub max_dictionary_values: usize,
    /// Most flatbuffer tables the verifier may visit in one message.
    pub max_flatbuffer_tables: usize,
}

use crate::error::{Error, Result};

/// A length or count read off the wire as `i64` (`what` names it): an error
/// unless it is non-negative and at most `limit`.
pub(crate) fn wire_len(value: i64, what: &str, limit: usize) -> Result<usize> {
    if value < 0 {
        return Err(Error::malformed(format!("{what} is negative ({value})")));
    }
    if value as u64 > limit as u64 {
        return Err(Error::limit(what, value as u64, limit as u64));
    }
    Ok(value as usize)
}

/// `v` as `usize`, saturating on 32-bit targets such as wasm32.
const fn sat(v: u64) -> usize {
    if v > usize::MAX as u64 {
        usize::MAX
    } else {
        v as usize
    }
}

impl DecodeLimits {
    /// The defaults: 64 MiB metadata, 2 GiB bodies, 1 GiB decompressed per message,
    /// 10,000 columns, 2^31 - 1 rows, 64 MiB eager reserve (sizes saturate at
    /// `usize::MAX` on 32-bit targets).
    pub const DEFAULT: DecodeLimits = DecodeLimits {
        max_metadata_bytes: 64 << 20,
        max_body_bytes: sat(2 << 30),
        max_decompressed_bytes: sat(1 << 30),
        max_columns: 10_000,
        max_rows: i32::MAX as usize,
        max_eager_reserve: 64 << 20,
        max_metadata_entries: 100_000,
        max_dictionary_values: i32::MAX as usize,
        max_flatbuffer_tables: 1_000_000,
    };

    /// Tight limits for small messages from peers you trust even less:
    /// 1 MiB metadata, 64 MiB bodies and decompressed sizes, 1,000 columns,
    /// 1,000,000 rows.
    pub const STRICT: DecodeLimits = DecodeLimits {
        max_metadata_bytes: 1 << 20,
        max_body_bytes: 64 << 20,
        max_decompressed_bytes: 64 << 20,
        max_columns: 1_000,
        max_rows: 1_000_000,
        max_eager_reserve: 1 << 20,
        max_metadata_entries: 1_000,
        max_dictionary_values: 1_000_000,
        max_flatbuffer_tables: 100_000,
    };

    /// The largest encapsulated IPC message these limits let through, in
    /// bytes: prefix, metadata and body. What a transport that carries one
    /// IPC message per message of its own (WebSocket, TLV frames) takes as
    /// its largest message.
    pub fn max_message_bytes(&self) -> usize {
        self.max_metadata_bytes
            .saturating_add(self.max_body_bytes)
            .saturating_add(16)
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
