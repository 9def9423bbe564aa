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
//! [`IpcMessageDecoder`] cuts a byte stream into such messages (a
//! [`FrameDecoder`] for the one driver, [`crate::FrameDriver`]), checking the
//! stream's order on the way: the schema first, dictionary batches for ids
//! the schema declares, nothing after the end marker (or, when streams may
//! follow one another, a whole new stream).
//!
//! What it is not: a decoder of values. A message that classifies may still
//! hold buffers a decoder would refuse (bad UTF-8, keys out of range).
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

use std::collections::HashSet;

use minarrow::structs::shared_buffer::SharedBuffer;

use super::drive::MessageProgress;
use super::schema::dictionary_ids;
use super::stream::check_version;
use crate::error::{Error, ErrorKind, Result};
use crate::fbs;
use crate::framing::ipc::{
    BodySink, IpcFrame, IpcFrameDecoder, Prefix, Progress, RawMessage, parse_message, parse_prefix,
    write_prefix,
};
use crate::framing::{Decoded, FrameDecoder};
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
/// add up (a batch's buffer outside its body among them) or metadata that
/// does not verify, `LimitExceeded` past `limits`, `Unsupported` for tensor
/// messages (not part of an Arrow stream) and metadata versions before V4.
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
    check_version(message.version())?;
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
            check_buffers(batch.data(), body_len)?;
            MessageKind::DictionaryBatch {
                id: batch.id(),
                delta: batch.isDelta(),
            }
        }
        fbs::MessageHeader::RecordBatch => {
            let batch = message
                .header_as_record_batch()
                .ok_or_else(|| Error::malformed("record batch message without its header"))?;
            check_buffers(Some(batch), body_len)?;
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

/// Every buffer of a batch must lie inside its body: a forwarder passes
/// the body on unread, so this is the one check its lengths get.
fn check_buffers(batch: Option<fbs::RecordBatch<'_>>, body_len: usize) -> Result<()> {
    let Some(buffers) = batch.and_then(|b| b.buffers()) else {
        return Ok(());
    };
    for (i, b) in buffers.iter().enumerate() {
        let (offset, length) = (b.offset(), b.length());
        let inside = offset >= 0
            && length >= 0
            && offset
                .checked_add(length)
                .is_some_and(|end| end as u64 <= body_len as u64);
        if !inside {
            return Err(Error::malformed(format!(
                "buffer {i} (offset {offset}, length {length}) lies outside the message body \
                 of {body_len} bytes"
            )));
        }
    }
    Ok(())
}

/// Push decoder of an IPC stream into whole encapsulated messages
/// ([`IpcMessage`]: bytes and kind), for forwarding them without decoding
/// their values: a relay, a hub's feed, a stream-to-stream copy. Any valid
/// Arrow stream passes, whatever its types (lists, structs, maps, views).
///
/// Each message's bytes are what the producer sent (prefix, metadata,
/// body), with two exceptions that keep it one valid message: a pre-0.15
/// prefix gains its continuation marker, and metadata is padded with zeros
/// so that the body starts on an 8-byte boundary. Bodies are never moved
/// or rewritten ([`IpcFrameDecoder::set_keep_layout`]).
///
/// Checked: the framing, the metadata flatbuffer and every length against
/// the limits ([`inspect_message`]), and the stream's order: the schema
/// first and once, dictionary batches only for ids the schema declares
/// (nested fields included) with a delta only after its id's first
/// dictionary, nothing after the end-of-stream marker (unless
/// [`IpcMessageDecoder::set_streams_follow`]: then another whole stream).
/// Not checked: the values (a record batch body is never read).
///
/// ```
/// use lightstream_core::framing::FrameDecoder;
/// use lightstream_core::ipc::{IpcMessageDecoder, MessageKind};
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{write_stream, DecodeLimits, Schema};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let bytes = write_stream(&Schema::from_table(&table), &[table], &Default::default())?;
/// let messages = IpcMessageDecoder::new(DecodeLimits::default()).decode_all(&bytes)?;
/// let kinds: Vec<_> = messages.iter().map(|m| m.kind()).collect();
/// assert_eq!(kinds, [MessageKind::Schema, MessageKind::RecordBatch { rows: 3 }, MessageKind::EndOfStream]);
/// // The messages are the stream, byte for byte.
/// let joined: Vec<u8> = messages.iter().flat_map(|m| m.bytes().to_vec()).collect();
/// assert_eq!(joined, bytes);
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub struct IpcMessageDecoder {
    frames: IpcFrameDecoder,
    limits: DecodeLimits,
    /// Every dictionary id the schema declares, once it has arrived.
    dictionary_ids: Option<HashSet<i64>>,
    /// Ids whose first (non-delta) dictionary has arrived.
    dictionaries_seen: HashSet<i64>,
    /// Bytes after an end-of-stream marker start the next stream.
    streams_follow: bool,
    poisoned: bool,
}

impl IpcMessageDecoder {
    /// A decoder bounded by `limits`.
    pub fn new(limits: DecodeLimits) -> Self {
        let mut frames = IpcFrameDecoder::new(limits);
        frames.set_keep_layout(true);
        IpcMessageDecoder {
            frames,
            limits,
            dictionary_ids: None,
            dictionaries_seen: HashSet::new(),
            streams_follow: false,
            poisoned: false,
        }
    }

    /// Whether another stream may follow the end-of-stream marker on the
    /// same input (off by default: bytes after the marker are malformed).
    /// On, the first byte after a marker starts a new stream, checked as a
    /// new decoder would check it: its schema first, its own dictionaries
    /// (the previous stream's schema and dictionaries are forgotten). Until
    /// that byte the decoder is ended ([`IpcMessageDecoder::is_ended`]), so
    /// an input that ends right after a marker ends cleanly; one that ends
    /// inside the next stream is truncated as any stream is. For a producer
    /// that writes several streams back to back (a schema change, a
    /// restart) into one pipe.
    pub fn set_streams_follow(&mut self, on: bool) {
        self.streams_follow = on;
    }

    /// True once the schema message has arrived.
    pub fn has_schema(&self) -> bool {
        self.dictionary_ids.is_some()
    }

    /// How far the decoder is into the message it is receiving.
    pub fn progress(&self) -> Progress {
        self.frames.progress()
    }

    /// Messages completed so far (the end-of-stream marker excluded).
    pub fn messages_decoded(&self) -> u64 {
        self.frames.messages_decoded()
    }

    /// Bytes consumed so far.
    pub fn bytes_consumed(&self) -> u64 {
        self.frames.bytes_consumed()
    }

    /// True once the end-of-stream marker was read.
    pub fn is_ended(&self) -> bool {
        self.frames.is_ended()
    }

    fn guarded(
        &mut self,
        offered: usize,
        step: impl FnOnce(&mut IpcFrameDecoder) -> Result<Decoded<IpcFrame>>,
    ) -> Result<Decoded<IpcMessage>> {
        if self.poisoned {
            return Err(Error::malformed(
                "IPC message decoder used after an earlier error; start a new decoder",
            ));
        }
        if offered > 0 && self.streams_follow && self.frames.is_ended() {
            // The next stream's first byte: its order is checked afresh.
            self.frames.next_stream();
            self.dictionary_ids = None;
            self.dictionaries_seen.clear();
        }
        let r = step(&mut self.frames).and_then(|d| match d {
            Decoded::Frame { frame, consumed } => Ok(Decoded::Frame {
                frame: self.on_frame(frame)?,
                consumed,
            }),
            Decoded::NeedMore => Ok(Decoded::NeedMore),
        });
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    fn on_frame(&mut self, frame: IpcFrame) -> Result<IpcMessage> {
        match frame {
            IpcFrame::EndOfStream => {
                if !self.has_schema() {
                    return Err(Error::malformed(
                        "end-of-stream marker before the schema message",
                    ));
                }
                Ok(IpcMessage::end_of_stream())
            }
            IpcFrame::Message(raw) => self
                .message(&raw)
                .map_err(|e| e.at_message(raw.index).at_offset(raw.offset)),
        }
    }

    /// One message's bytes, whole again, and the stream's order checked.
    fn message(&mut self, raw: &RawMessage) -> Result<IpcMessage> {
        // The prefix is always the modern one; zeros after the flatbuffer
        // (which readers ignore) keep the body 8-byte aligned.
        let meta = raw.metadata.len();
        let padded = meta.next_multiple_of(8);
        let mut bytes = Vec::with_capacity(8 + padded + raw.body.len());
        write_prefix(padded, &mut bytes)?;
        bytes.extend_from_slice(&raw.metadata);
        bytes.resize(8 + padded, 0);
        bytes.extend_from_slice(raw.body.as_slice());
        let message = IpcMessage::new(bytes::Bytes::from(bytes), &self.limits)?;
        match message.kind() {
            MessageKind::Schema => {
                if self.has_schema() {
                    return Err(Error::malformed("a second schema message in one stream"));
                }
                let m = parse_message(&raw.metadata, &self.limits)?;
                let schema = m
                    .header_as_schema()
                    .ok_or_else(|| Error::malformed("schema message without its header"))?;
                let mut ids = HashSet::new();
                if let Some(fields) = schema.fields() {
                    fields.iter().for_each(|f| dictionary_ids(f, &mut ids));
                }
                self.dictionary_ids = Some(ids);
            }
            MessageKind::DictionaryBatch { id, delta } => {
                let Some(ids) = &self.dictionary_ids else {
                    return Err(Error::malformed(
                        "a dictionary batch before the schema message",
                    ));
                };
                if !ids.contains(&id) {
                    return Err(Error::malformed(format!(
                        "dictionary batch for id {id}, which no field of the schema uses"
                    )));
                }
                if delta && !self.dictionaries_seen.contains(&id) {
                    return Err(Error::malformed(format!(
                        "delta dictionary for id {id} before its first dictionary"
                    )));
                }
                self.dictionaries_seen.insert(id);
            }
            MessageKind::RecordBatch { .. } => {
                if !self.has_schema() {
                    return Err(Error::malformed("a record batch before the schema message"));
                }
            }
            MessageKind::EndOfStream => {}
        }
        Ok(message)
    }
}

/// The one driver ([`crate::FrameDriver`]) over an [`IpcMessageDecoder`]: what
/// a shell reads whole messages with, from any input, by the same rules as
/// tables (bodies read straight into aligned memory; one IPC message per
/// transport message with [`crate::FrameDriver::next_in_message`]).
pub type IpcMessageDriver = crate::FrameDriver<IpcMessageDecoder>;

impl IpcMessageDriver {
    /// A driver of a new [`IpcMessageDecoder`] bounded by `limits`, with a
    /// 64 KiB scratch buffer.
    pub fn new(limits: DecodeLimits) -> Self {
        Self::with_decoder(IpcMessageDecoder::new(limits), super::SCRATCH_BYTES)
    }
}

impl MessageProgress for IpcMessageDecoder {
    fn progress(&self) -> Progress {
        IpcMessageDecoder::progress(self)
    }

    fn messages_decoded(&self) -> u64 {
        IpcMessageDecoder::messages_decoded(self)
    }

    fn is_ended(&self) -> bool {
        IpcMessageDecoder::is_ended(self)
    }
}

impl FrameDecoder for IpcMessageDecoder {
    type Frame = IpcMessage;

    fn decode(&mut self, input: &[u8]) -> Result<Decoded<IpcMessage>> {
        self.guarded(input.len(), |frames| frames.decode(input))
    }

    /// The input has ended: `Ok` on a message boundary after the schema,
    /// a [`ErrorKind::Truncated`] error otherwise.
    fn finish(&self) -> Result<()> {
        self.frames.finish()?;
        if !self.has_schema() {
            return Err(Error::new(
                ErrorKind::Truncated,
                "input ended before the stream's schema message",
            ));
        }
        Ok(())
    }

    fn decode_shared(&mut self, input: &SharedBuffer) -> Result<Decoded<IpcMessage>> {
        self.guarded(input.len(), |frames| frames.decode_shared(input))
    }

    fn body_sink(&mut self) -> Option<BodySink<'_>> {
        if self.poisoned {
            return None;
        }
        self.frames.body_sink()
    }

    fn take_body(&mut self) -> Result<Option<IpcMessage>> {
        match self.guarded(0, |frames| {
            Ok(match frames.take_body() {
                Some(frame) => Decoded::Frame { frame, consumed: 0 },
                None => Decoded::NeedMore,
            })
        })? {
            Decoded::Frame { frame, .. } => Ok(Some(frame)),
            Decoded::NeedMore => Ok(None),
        }
    }

    fn bytes_wanted(&self) -> usize {
        self.progress().bytes_wanted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReadInput;
    use crate::ipc::{IpcStreamEncoder, Schema, WriteOptions};
    use minarrow::{fa_cat32, fa_i64, fa_str32, tbl};

    /// A stream with a dictionary that grows by deltas, written with
    /// `alignment` (8: buffers a decoder for tables would move).
    fn dictionary_stream(alignment: usize) -> Vec<u8> {
        let a = tbl!(
            "t",
            fa_i64!("id", 1, 2),
            fa_cat32!("city", "paris", "oslo"),
            fa_str32!("s", "x", "yy")
        );
        let b = tbl!(
            "t",
            fa_i64!("id", 3),
            fa_cat32!("city", "lima"),
            fa_str32!("s", "zzz")
        );
        let options = WriteOptions {
            alignment,
            unify_dictionaries: true,
            ..WriteOptions::default()
        };
        crate::write_stream(&Schema::from_table(&a), &[a, b], &options).unwrap()
    }

    /// Decodes `bytes` into messages through the one driver, `step` bytes
    /// per read.
    fn decode(bytes: &[u8], step: usize) -> Result<Vec<IpcMessage>> {
        decode_with(IpcMessageDecoder::new(DecodeLimits::default()), bytes, step)
    }

    /// [`decode`] with `decoder`.
    fn decode_with(
        decoder: IpcMessageDecoder,
        bytes: &[u8],
        step: usize,
    ) -> Result<Vec<IpcMessage>> {
        struct Trickle<'a>(&'a [u8], usize);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.1).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut d = IpcMessageDriver::with_decoder(decoder, 100);
        let mut input = ReadInput {
            inner: Trickle(bytes, step),
        };
        let mut out = Vec::new();
        while let Some(m) = d.next_item(&mut input).map_err(|e| match e {
            crate::DriveError::Decode(e) => e,
            crate::DriveError::Input(e) => Error::new(ErrorKind::Io, e.to_string()),
        })? {
            out.push(m);
        }
        d.decoder().finish()?;
        Ok(out)
    }

    #[test]
    fn messages_are_the_stream_byte_for_byte_in_any_chunking() {
        for alignment in [64, 8] {
            let bytes = dictionary_stream(alignment);
            for step in [1, 7, 64, 1 << 20] {
                let messages = decode(&bytes, step).unwrap();
                let kinds: Vec<_> = messages.iter().map(|m| m.kind()).collect();
                assert_eq!(
                    kinds,
                    [
                        MessageKind::Schema,
                        MessageKind::DictionaryBatch {
                            id: 0,
                            delta: false
                        },
                        MessageKind::RecordBatch { rows: 2 },
                        MessageKind::DictionaryBatch { id: 0, delta: true },
                        MessageKind::RecordBatch { rows: 1 },
                        MessageKind::EndOfStream,
                    ],
                    "alignment {alignment}, step {step}"
                );
                let joined: Vec<u8> = messages.iter().flat_map(|m| m.bytes().to_vec()).collect();
                assert!(
                    joined == bytes,
                    "alignment {alignment}, step {step}: bytes changed"
                );
            }
            // In memory, shared: the same.
            let mut d =
                IpcMessageDriver::with_decoder(IpcMessageDecoder::new(DecodeLimits::default()), 64);
            let shared = crate::aligned_copy(&bytes);
            let mut input = crate::SharedInput::new(shared, 0);
            let got = d.next_in_memory_items(&mut input);
            let joined: Vec<u8> = got.iter().flat_map(|m| m.bytes().to_vec()).collect();
            assert!(joined == bytes, "shared input, alignment {alignment}");
        }
    }

    impl IpcMessageDriver {
        fn next_in_memory_items(&mut self, input: &mut crate::SharedInput) -> Vec<IpcMessage> {
            let mut out = Vec::new();
            while let Some(m) = self.next_item(input).map_err(Error::from).unwrap() {
                out.push(m);
            }
            out
        }
    }

    #[test]
    fn a_legacy_prefix_gains_its_marker_and_the_body_stays_aligned() {
        let bytes = dictionary_stream(64);
        let messages = decode(&bytes, 1 << 20).unwrap();
        // Rewrite each message with the 4-byte pre-0.15 prefix.
        let mut legacy = Vec::new();
        for m in &messages[..messages.len() - 1] {
            legacy.extend_from_slice(&m.bytes()[4..]);
        }
        legacy.extend_from_slice(&[0; 4]);
        let again = decode(&legacy, 13).unwrap();
        assert_eq!(again.len(), messages.len());
        for (a, b) in again.iter().zip(&messages) {
            assert_eq!(a.kind(), b.kind());
            assert_eq!(a.info().head_len % 8, 0, "{:?}", a.kind());
            assert_eq!(
                &a.bytes()[a.info().head_len..],
                &b.bytes()[b.info().head_len..]
            );
        }
        let tables = crate::read_ipc(
            &again
                .iter()
                .flat_map(|m| m.bytes().to_vec())
                .collect::<Vec<u8>>(),
            crate::ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(tables.tables.len(), 2);
    }

    #[test]
    fn hostile_input_gets_typed_errors() {
        let bytes = dictionary_stream(64);
        let messages = decode(&bytes, 1 << 20).unwrap();
        let kind = |b: &[u8]| decode(b, 1 << 20).unwrap_err().kind();
        // Cut anywhere inside a message: truncated; empty: truncated.
        let ends: Vec<usize> = messages
            .iter()
            .scan(0, |at, m| {
                *at += m.len();
                Some(*at)
            })
            .collect();
        for cut in [
            1,
            5,
            9,
            ends[0] + 3,
            ends[1] - 1,
            ends[2] + 20,
            bytes.len() - 9,
        ] {
            assert_eq!(kind(&bytes[..cut]), ErrorKind::Truncated, "cut at {cut}");
        }
        assert_eq!(kind(&[]), ErrorKind::Truncated);
        // Garbage, and a metadata length past the limit.
        assert_eq!(kind(b"hello world, not arrow"), ErrorKind::Malformed);
        let mut huge = vec![0xFF; 4];
        huge.extend_from_slice(&i32::MAX.to_le_bytes());
        assert_eq!(kind(&huge), ErrorKind::LimitExceeded);
        // A body length past the limit.
        let small = DecodeLimits {
            max_body_bytes: 16,
            ..DecodeLimits::default()
        };
        let mut d = IpcMessageDecoder::new(small);
        let e = d.decode_all(&bytes).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::LimitExceeded, "{e}");
        assert_eq!(e.location().message_index, Some(1), "{e}");
        // Out of order: a record batch or a dictionary first, two schemas,
        // a delta first, bytes after the end marker.
        let m = |i: usize| messages[i].bytes().to_vec();
        for (stream, says) in [
            ([m(2), m(5)].concat(), "record batch before the schema"),
            ([m(1), m(5)].concat(), "dictionary batch before the schema"),
            ([m(0), m(0)].concat(), "second schema"),
            ([m(0), m(3)].concat(), "delta dictionary for id 0 before"),
            (
                [bytes.clone(), m(2)].concat(),
                "bytes follow the end-of-stream marker",
            ),
        ] {
            let e = decode(&stream, 1 << 20).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Malformed, "{e}");
            assert!(e.message().contains(says), "{e}");
        }
        // A dictionary id the schema does not declare.
        let e = inspect_with_id(&messages, 7);
        assert!(e.message().contains("id 7, which no field"), "{e}");
    }

    #[test]
    fn streams_that_follow_one_another_are_each_checked_afresh() {
        let first = dictionary_stream(64);
        let t = tbl!("u", fa_i64!("n", 1, 2), fa_cat32!("other", "a", "b"));
        let options = WriteOptions::default();
        let second = crate::write_stream(&Schema::from_table(&t), &[t], &options).unwrap();
        let both = [first.clone(), second.clone()].concat();
        let following = |bytes: &[u8], step| {
            let mut d = IpcMessageDecoder::new(DecodeLimits::default());
            d.set_streams_follow(true);
            decode_with(d, bytes, step)
        };
        // By default, bytes after the marker are malformed.
        let e = decode(&both, 1 << 20).unwrap_err();
        assert!(
            e.message().contains("bytes follow the end-of-stream"),
            "{e}"
        );
        // Streams may follow: every message of both, as each alone gives
        // them, byte for byte.
        let kinds = |m: Vec<IpcMessage>| m.iter().map(|m| m.kind()).collect::<Vec<_>>();
        let mut expected = kinds(decode(&first, 1 << 20).unwrap());
        expected.extend(kinds(decode(&second, 1 << 20).unwrap()));
        assert_eq!(expected.len(), 10);
        for step in [1, 7, 64, 1 << 20] {
            let messages = following(&both, step).unwrap();
            let joined: Vec<u8> = messages.iter().flat_map(|m| m.bytes().to_vec()).collect();
            assert_eq!(kinds(messages), expected, "step {step}");
            assert!(joined == both, "step {step}: bytes changed");
        }
        // An input that ends right after a marker ends cleanly; one that
        // ends inside the next stream, or before its schema, does not.
        assert_eq!(following(&first, 1 << 20).unwrap().len(), 6);
        for cut in [first.len() + 5, first.len() + 4] {
            let e = following(&both[..cut], 3).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Truncated, "cut at {cut}: {e}");
        }
        // The next stream knows nothing of the last one's schema and
        // dictionaries: a delta before its own first dictionary, a record
        // batch before its schema, a second schema without a marker between.
        let m: Vec<Vec<u8>> = decode(&first, 1 << 20)
            .unwrap()
            .iter()
            .map(|m| m.bytes().to_vec())
            .collect();
        for (next, says) in [
            (
                [m[0].clone(), m[3].clone()].concat(),
                "delta dictionary for id 0 before",
            ),
            (m[2].clone(), "record batch before the schema"),
        ] {
            let e = following(&[first.clone(), next].concat(), 1 << 20).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Malformed, "{e}");
            assert!(e.message().contains(says), "{e}");
        }
        let e = following(&[m[0].clone(), m[0].clone()].concat(), 1 << 20).unwrap_err();
        assert!(e.message().contains("second schema"), "{e}");
    }

    /// The stream with its first dictionary batch re-encoded under `id`.
    fn inspect_with_id(messages: &[IpcMessage], id: i64) -> Error {
        let a = tbl!("t", fa_cat32!("city", "paris"));
        let mut schema = Schema::from_table(&a);
        if let Some(Some(d)) = schema.dictionaries.get_mut(0) {
            d.id = id;
        }
        let mut e = IpcStreamEncoder::new(schema.into(), WriteOptions::default()).unwrap();
        let _ = e.schema_message().unwrap();
        let dict = e.encode_table(&a).unwrap()[0].to_vec();
        let stream = [messages[0].bytes().to_vec(), dict].concat();
        decode(&stream, 1 << 20).unwrap_err()
    }

    #[test]
    fn a_buffer_outside_its_body_is_malformed() {
        let bytes = dictionary_stream(64);
        let messages = decode(&bytes, 1 << 20).unwrap();
        let batch = &messages[2];
        let info = *batch.info();
        // Cut the body short and declare the shorter length: the buffers
        // now reach past it.
        let meta =
            parse_message(&batch.bytes()[8..info.head_len], &DecodeLimits::default()).unwrap();
        let declared = meta.bodyLength();
        let mut bytes = batch.bytes()[..info.head_len].to_vec();
        let pos = bytes
            .windows(8)
            .rposition(|w| w == declared.to_le_bytes())
            .unwrap();
        bytes[pos..pos + 8].copy_from_slice(&8i64.to_le_bytes());
        bytes.extend_from_slice(&batch.bytes()[info.head_len..info.head_len + 8]);
        let e = inspect_message(&bytes, &DecodeLimits::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed, "{e}");
        assert!(
            e.message()
                .contains("lies outside the message body of 8 bytes"),
            "{e}"
        );
    }

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
