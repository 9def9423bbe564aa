//! [`FlightDataDecoder`]: FlightData messages already in memory, as `Bytes`,
//! to tables, each body used where it lies.
//!
//! What it is for: a program that receives FlightData itself (its own tonic
//! client, arrow-flight's `FlightData`, a recorded stream) and wants
//! Lightstream's tables from them without copying the bodies. Each
//! `data_body` becomes the memory its table's buffers point into: every
//! buffer aligned for its type is borrowed, any other copied once into
//! 64-byte aligned memory, and both are counted
//! ([`FlightDataDecoder::bytes_borrowed`], [`FlightDataDecoder::bytes_copied`]).
//!
//! What it is not: a reader of a gRPC body in arbitrary chunks
//! ([`super::FlightToIpc`] does that, for the client and server here), or a
//! second IPC decoder: the messages go to [`IpcStreamDecoder::push_message`].

use std::sync::Arc;

use bytes::Bytes;
use minarrow::structs::shared_buffer::SharedBuffer;

use crate::error::{Error, Result};
use crate::ipc::{IpcStreamDecoder, ReadOptions, Schema, StreamItem};

/// Decodes FlightData given as `data_header` and `data_body` (e.g. the
/// fields of arrow-flight's `FlightData`, or of a prost message of your own),
/// one message at a time, in stream order: the schema, dictionary batches
/// (replacements and deltas), record batches.
///
/// A body is kept, not copied: the tables hold the `Bytes` (reference
/// counted) for as long as they use them.
///
/// ```
/// use lightstream_core::bytes::Bytes;
/// use lightstream_core::flight::{FlightDataDecoder, split_encapsulated};
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{aligned_copy, IpcStreamEncoder, ReadOptions, Schema, StreamItem};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let mut encoder = IpcStreamEncoder::new(Schema::from_table(&table).into(), Default::default())?;
/// let mut messages = vec![encoder.schema_message()?.to_vec()];
/// messages.extend(encoder.encode_table(&table)?.iter().map(|m| m.to_vec()));
///
/// let mut decoder = FlightDataDecoder::new(ReadOptions::default());
/// let mut tables = Vec::new();
/// for message in &messages {
///     // A FlightData's two fields, as a gRPC library hands them over.
///     let (header, body) = split_encapsulated(message)?;
///     let body = Bytes::from_owner(aligned_copy(&message[body]));
///     if let Some(StreamItem::Table(t)) = decoder.push(&message[header], body)? {
///         tables.push(t);
///     }
/// }
/// assert_eq!(tables[0].cols, table.cols);
/// assert_eq!((decoder.bytes_borrowed(), decoder.bytes_copied()), (24, 0));
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub struct FlightDataDecoder {
    decoder: IpcStreamDecoder,
    messages: u64,
}

impl FlightDataDecoder {
    /// A decoder with `options` (limits, projection; `align_64` copies every
    /// body whose buffers are not all 64-byte aligned into 64-byte aligned
    /// memory instead).
    pub fn new(options: ReadOptions) -> Self {
        FlightDataDecoder {
            decoder: IpcStreamDecoder::new(options),
            messages: 0,
        }
    }

    /// Decodes one FlightData from its `data_header` (the IPC `Message`
    /// flatbuffer) and `data_body`: the schema, a table, or `None` (a
    /// dictionary batch, absorbed; a FlightData without a header, such as
    /// one carrying only `app_metadata`). A body longer than its header
    /// declares has its tail ignored; a shorter one is an error. After an
    /// error every call fails.
    pub fn push(&mut self, header: &[u8], body: Bytes) -> Result<Option<StreamItem>> {
        let index = self.messages;
        self.messages += 1;
        if header.is_empty() {
            if body.is_empty() {
                return Ok(None);
            }
            return Err(Error::malformed(format!(
                "FlightData {index} holds a data_body of {} bytes but no data_header",
                body.len()
            )));
        }
        let body = if body.is_empty() {
            SharedBuffer::new()
        } else {
            // The tables hold the `Bytes` themselves: no copy.
            SharedBuffer::from_owner(body)
        };
        self.decoder.push_message(header, &body)
    }

    /// The schema, once its FlightData was decoded.
    pub fn schema(&self) -> Option<&Arc<Schema>> {
        self.decoder.schema()
    }

    /// FlightData messages pushed so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Bytes of column buffers the tables use in place, in the bodies pushed.
    pub fn bytes_borrowed(&self) -> u64 {
        self.decoder.bytes_borrowed()
    }

    /// Bytes copied to make tables: buffers not aligned for their type
    /// (a body at an odd address), and, with `align_64`, bodies moved to
    /// 64-byte boundaries (see [`IpcStreamDecoder::bytes_copied`]).
    pub fn bytes_copied(&self) -> u64 {
        self.decoder.bytes_copied()
    }

    /// The IPC decoder underneath (dictionaries, skipped fields, fields).
    pub fn decoder(&self) -> &IpcStreamDecoder {
        &self.decoder
    }
}
