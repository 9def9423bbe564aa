//! What one encapsulated IPC message is, read from its metadata alone: the
//! schema, a dictionary batch (which id, delta or not), a record batch (how
//! many rows), or the end-of-stream marker.
//!
//! For code that forwards messages without decoding their values (a hub
//! fanning a feed out, a relay, a stream-to-stream copy): it needs to know
//! which messages make up the stream's state (the schema and the
//! dictionaries a late joiner must receive first) and which are data, and
//! that every length in the message is true, but not what the columns hold.
//! Record batch bodies are never looked at, so a stream of types minarrow
//! cannot hold (lists, structs, maps, views) is classified all the same.
//!
//! What it is not: a decoder. A message that classifies may still hold
//! buffers a decoder would refuse.
//!
//! ```
//! use lightstream_core::ipc::{MessageKind, inspect_message, write_stream};
//! use lightstream_core::ipc::{IpcStreamEncoder, Schema, WriteOptions};
//! use lightstream_core::minarrow::{fa_i64, tbl};
//! use lightstream_core::DecodeLimits;
//!
//! let table = tbl!("t", fa_i64!("id", 1, 2, 3));
//! let mut encoder = IpcStreamEncoder::new(Schema::from_table(&table).into(), WriteOptions::default())?;
//! let schema = encoder.schema_message()?.to_vec();
//! let batch = encoder.encode_table(&table)?.pop().expect("one batch").to_vec();
//! let limits = DecodeLimits::default();
//! assert_eq!(inspect_message(&schema, &limits)?.kind, MessageKind::Schema);
//! assert_eq!(inspect_message(&batch, &limits)?.kind, MessageKind::RecordBatch { rows: 3 });
//! assert_eq!(inspect_message(&encoder.end_of_stream().to_vec(), &limits)?.kind, MessageKind::EndOfStream);
//! # Ok::<(), lightstream_core::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::fbs;
use crate::framing::ipc::{Prefix, parse_message, parse_prefix};
use crate::limits::{DecodeLimits, wire_len};

/// What an encapsulated IPC message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// The schema: first in every stream.
    Schema,
    /// The values of dictionary `id`: all of them (`delta: false`, a first
    /// dictionary or a replacement) or more to append (`delta: true`).
    DictionaryBatch {
        /// The dictionary id the schema's fields refer to.
        id: i64,
        /// Appends to the dictionary instead of replacing it.
        delta: bool,
    },
    /// A record batch of `rows` rows.
    RecordBatch {
        /// The batch's row count as declared.
        rows: u64,
    },
    /// The end-of-stream marker (`0xFFFFFFFF 00000000`, or the four zero
    /// bytes of pre-0.15 writers).
    EndOfStream,
}

/// One message's kind and where its parts lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInfo {
    /// What the message carries.
    pub kind: MessageKind,
    /// Bytes before the body: prefix plus metadata (and its padding).
    pub head_len: usize,
    /// Length of the body the metadata declares.
    pub body_len: usize,
}

impl MessageInfo {
    /// Bytes the whole message occupies: `head_len + body_len`.
    pub fn len(&self) -> usize {
        self.head_len + self.body_len
    }

    /// True only for a zero-length message, which no valid message is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One whole encapsulated IPC message in shared bytes, classified: what a
/// forwarder holds. Cloning shares the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpcMessage {
    info: MessageInfo,
    bytes: bytes::Bytes,
}

impl IpcMessage {
    /// Classifies `bytes` (one whole message, see [`inspect_message`]).
    pub fn new(bytes: bytes::Bytes, limits: &DecodeLimits) -> Result<IpcMessage> {
        let info = inspect_message(&bytes, limits)?;
        Ok(IpcMessage { info, bytes })
    }

    /// The end-of-stream marker (`0xFFFFFFFF 00000000`).
    pub fn end_of_stream() -> IpcMessage {
        IpcMessage {
            info: MessageInfo {
                kind: MessageKind::EndOfStream,
                head_len: 8,
                body_len: 0,
            },
            bytes: bytes::Bytes::from_static(&crate::framing::ipc::END_OF_STREAM),
        }
    }

    /// What the message carries.
    pub fn kind(&self) -> MessageKind {
        self.info.kind
    }

    /// Its kind and the lengths of its parts.
    pub fn info(&self) -> &MessageInfo {
        &self.info
    }

    /// The whole message as it goes on the wire.
    pub fn bytes(&self) -> &bytes::Bytes {
        &self.bytes
    }

    /// The message's bytes, for sending.
    pub fn into_bytes(self) -> bytes::Bytes {
        self.bytes
    }

    /// Bytes on the wire.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true for a classified message.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Classifies `bytes`, which must hold exactly one whole encapsulated message
/// (prefix, metadata, body) or the end-of-stream marker, checking the prefix,
/// the metadata flatbuffer and every declared length against `limits` and
/// against `bytes.len()`.
///
/// Errors are typed like the decoder's: `Malformed` for lengths that do not
/// add up or metadata that does not verify, `LimitExceeded` past `limits`,
/// `Unsupported` for tensor messages (not part of an Arrow stream).
pub fn inspect_message(bytes: &[u8], limits: &DecodeLimits) -> Result<MessageInfo> {
    if bytes.len() < 4 {
        return Err(Error::malformed(format!(
            "a message of {} bytes is shorter than its prefix",
            bytes.len()
        )));
    }
    let (len, size) = match parse_prefix(bytes, limits)? {
        Prefix::NeedMore => {
            return Err(Error::malformed(
                "a message of 4 bytes ends inside its prefix (the continuation marker)",
            ));
        }
        Prefix::EndOfStream { size } => {
            if bytes.len() != size {
                return Err(Error::malformed(format!(
                    "the end-of-stream marker is {size} bytes, but the message has {} more \
                     after it",
                    bytes.len() - size
                )));
            }
            return Ok(MessageInfo {
                kind: MessageKind::EndOfStream,
                head_len: size,
                body_len: 0,
            });
        }
        Prefix::Metadata { len, size } => (len, size),
    };
    let head_len = size + len;
    let metadata = bytes.get(size..head_len).ok_or_else(|| {
        Error::malformed(format!(
            "the prefix declares {len} bytes of metadata, but the message has {} after it",
            bytes.len() - size
        ))
    })?;
    let message = parse_message(metadata, limits)?;
    let body_len = wire_len(
        message.bodyLength(),
        "message body length",
        limits.max_body_bytes,
    )?;
    if bytes.len() - head_len != body_len {
        return Err(Error::malformed(format!(
            "the metadata declares a body of {body_len} bytes, but the message has {} after \
             its metadata",
            bytes.len() - head_len
        )));
    }
    let kind = match message.header_type() {
        fbs::MessageHeader::Schema => MessageKind::Schema,
        fbs::MessageHeader::DictionaryBatch => {
            let batch = message
                .header_as_dictionary_batch()
                .ok_or_else(|| Error::malformed("dictionary batch message without its header"))?;
            MessageKind::DictionaryBatch {
                id: batch.id(),
                delta: batch.isDelta(),
            }
        }
        fbs::MessageHeader::RecordBatch => {
            let batch = message
                .header_as_record_batch()
                .ok_or_else(|| Error::malformed("record batch message without its header"))?;
            MessageKind::RecordBatch {
                rows: u64::try_from(batch.length()).map_err(|_| {
                    Error::malformed(format!(
                        "record batch row count is negative ({})",
                        batch.length()
                    ))
                })?,
            }
        }
        other => {
            return Err(Error::unsupported(format!(
                "a {} message is not part of an Arrow IPC stream",
                other.variant_name().unwrap_or("unknown")
            )));
        }
    };
    Ok(MessageInfo {
        kind,
        head_len,
        body_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::{IpcStreamEncoder, Schema, WriteOptions};
    use minarrow::{fa_i64, tbl};

    fn messages() -> Vec<Vec<u8>> {
        let table = tbl!("t", fa_i64!("id", 1, 2, 3));
        let mut e =
            IpcStreamEncoder::new(Schema::from_table(&table).into(), WriteOptions::default())
                .unwrap();
        let mut out = vec![e.schema_message().unwrap().to_vec()];
        out.extend(e.encode_table(&table).unwrap().iter().map(|m| m.to_vec()));
        out.push(e.end_of_stream().to_vec());
        out
    }

    #[test]
    fn lengths_must_add_up_to_the_bytes_given() {
        let limits = DecodeLimits::default();
        let m = messages();
        let batch = &m[1];
        let info = inspect_message(batch, &limits).unwrap();
        assert_eq!(info.len(), batch.len());
        assert!(info.body_len > 0);
        // One byte short, one byte long, cut inside the metadata: all malformed.
        for bad in [
            &batch[..batch.len() - 1],
            &[batch.as_slice(), &[0]].concat()[..],
            &batch[..12],
            &batch[..3],
            &batch[..4],
        ] {
            let e = inspect_message(bad, &limits).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Malformed, "{e}");
        }
        // The end marker with bytes after it.
        let e = inspect_message(&[&m[2][..], &[0; 4][..]].concat(), &limits).unwrap_err();
        assert!(e.message().contains("end-of-stream marker"), "{e}");
        let eos = IpcMessage::end_of_stream();
        assert_eq!(IpcMessage::new(eos.bytes().clone(), &limits).unwrap(), eos);
        // Legacy four-byte end marker.
        assert_eq!(
            inspect_message(&[0; 4], &limits).unwrap().kind,
            MessageKind::EndOfStream
        );
    }

    #[test]
    fn body_past_the_limit_is_a_limit_error() {
        let limits = DecodeLimits {
            max_body_bytes: 8,
            ..DecodeLimits::default()
        };
        let m = messages();
        let e = inspect_message(&m[1], &limits).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::LimitExceeded, "{e}");
    }
}
