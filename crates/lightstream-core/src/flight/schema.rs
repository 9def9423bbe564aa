//! Schema bytes as Flight carries them in `FlightInfo.schema` and
//! `SchemaResult.schema`: an encapsulated IPC Schema message (continuation
//! marker, length, flatbuffer, padding) with no end-of-stream marker. Read
//! with the IPC reader's own prefix and schema code; not a stream decoder.

use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::framing::ipc::{END_OF_STREAM, Prefix, parse_message, parse_prefix};
use crate::ipc::{IpcStreamEncoder, Schema, WriteOptions, check_version, read_schema};
use crate::limits::DecodeLimits;

/// The schema as Flight's `FlightInfo.schema` / `SchemaResult.schema` bytes:
/// continuation marker, length, Schema message (padded to 8), no
/// end-of-stream marker. Fails only where writing the schema to a stream
/// would (an inconsistent schema).
///
/// ```
/// use lightstream_core::flight::{read_schema_bytes, schema_bytes};
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::Schema;
///
/// let schema = Schema::from_table(&tbl!("t", fa_i64!("id", 1)));
/// let bytes = schema_bytes(&schema)?;
/// assert_eq!(&bytes[..4], &[0xFF; 4]);
/// assert_eq!(read_schema_bytes(&bytes)?, schema);
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub fn schema_bytes(schema: &Schema) -> Result<Vec<u8>> {
    let options = WriteOptions {
        alignment: 8,
        ..WriteOptions::default()
    };
    let mut encoder = IpcStreamEncoder::new(Arc::new(schema.clone()), options)?;
    Ok(encoder.schema_message()?.to_vec())
}

/// Reads [`schema_bytes`] back, also in the pre-0.15 form without the
/// continuation marker. Zero padding after the message (fewer than 8 bytes)
/// and an end-of-stream marker (some writers add one) are tolerated; any
/// other trailing byte is an error, as is a length past the end. A field of
/// a type minarrow cannot hold is an `Unsupported` error naming it.
pub fn read_schema_bytes(bytes: &[u8]) -> Result<Schema> {
    let limits = DecodeLimits::DEFAULT;
    if bytes.len() < 4 {
        return Err(Error::new(
            ErrorKind::Truncated,
            format!(
                "schema bytes of {} bytes end inside the message prefix",
                bytes.len()
            ),
        ));
    }
    let (len, size) = match parse_prefix(bytes, &limits)? {
        Prefix::NeedMore => {
            return Err(Error::new(
                ErrorKind::Truncated,
                "schema bytes end inside the message prefix (after the continuation marker)",
            ));
        }
        Prefix::EndOfStream { .. } => {
            return Err(Error::malformed(
                "schema bytes hold an end-of-stream marker, not a Schema message",
            ));
        }
        Prefix::Metadata { len, size } => (len, size),
    };
    let (metadata, rest) = bytes
        .get(size..)
        .and_then(|b| b.split_at_checked(len))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Truncated,
                format!(
                    "the schema message declares {len} bytes of metadata, but {} follow its prefix",
                    bytes.len() - size
                ),
            )
        })?;
    let rest = rest.strip_suffix(&END_OF_STREAM).unwrap_or(rest);
    if rest.len() >= 8 || rest.iter().any(|&b| b != 0) {
        return Err(Error::malformed(format!(
            "{} bytes follow the schema message (only zero padding or an end-of-stream marker \
             may)",
            rest.len()
        )));
    }
    let message = parse_message(metadata, &limits)?;
    check_version(message.version())?;
    let schema = message.header_as_schema().ok_or_else(|| {
        Error::malformed(format!(
            "schema bytes hold a {} message, not a Schema",
            message.header_type().variant_name().unwrap_or("unknown")
        ))
    })?;
    if message.bodyLength() != 0 {
        return Err(Error::malformed(format!(
            "the schema message declares a body of {} bytes",
            message.bodyLength()
        )));
    }
    read_schema(schema, &limits)?.select(None)
}
