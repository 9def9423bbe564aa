//! Arrow IPC encapsulated-message framing.
//!
//! One message on the wire is:
//!
//! ```text
//! 0xFFFFFFFF | metadata length (i32 LE) | Message flatbuffer (+ padding) | body
//! ```
//!
//! Streams written before Arrow 0.15 omit the 0xFFFFFFFF continuation marker
//! (the first four bytes are the length). The end of a stream is a zero length
//! (`0xFFFFFFFF 0x00000000`, or `0x00000000` in the legacy form), or simply the
//! end of the input after a complete message. The body length comes from the
//! flatbuffer, so this layer verifies the flatbuffer and reads `bodyLength`;
//! what the message means is [`crate::ipc`]'s business.
//!
//! Bodies are delivered as `SharedBuffer`s that start 64-byte aligned: either
//! a slice of the caller's own shared input (zero-copy) or one copy into a
//! fresh aligned buffer.

use minarrow::structs::shared_buffer::SharedBuffer;

use super::{Decoded, FrameDecoder};
use crate::buffers::AlignedBytes;
use crate::error::{Error, ErrorKind, Result};
use crate::fbs;
use crate::limits::DecodeLimits;

/// The continuation marker that starts every modern encapsulated message.
pub const CONTINUATION_MARKER: [u8; 4] = [0xFF; 4];

/// The end-of-stream marker this crate writes.
pub const END_OF_STREAM: [u8; 8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];

/// One framed item of an IPC stream.
#[derive(Debug, Clone)]
pub enum IpcFrame {
    /// A complete message: verified metadata and its body.
    Message(RawMessage),
    /// The end-of-stream marker.
    EndOfStream,
}

/// An encapsulated message, metadata verified, body not yet interpreted.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// The `Message` flatbuffer (with any trailing padding).
    pub metadata: Vec<u8>,
    /// The body; starts 64-byte aligned unless it is a slice of caller input
    /// that was not.
    pub body: SharedBuffer,
    /// Byte offset of the message's first prefix byte in the input.
    pub offset: u64,
    /// Zero-based index of the message in the input.
    pub index: u64,
}

/// How a message starts, from its first four or eight bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefix {
    /// More prefix bytes are needed (the first four were the continuation marker).
    NeedMore,
    /// End-of-stream marker of `size` bytes.
    EndOfStream { size: usize },
    /// Metadata of `len` bytes follows a prefix of `size` bytes.
    Metadata { len: usize, size: usize },
}

/// Reads a message prefix. `bytes` holds at least four bytes.
pub(crate) fn parse_prefix(bytes: &[u8], limits: &DecodeLimits) -> Result<Prefix> {
    let word = |i: usize| i32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let (len, size) = if bytes[..4] == CONTINUATION_MARKER {
        if bytes.len() < 8 {
            return Ok(Prefix::NeedMore);
        }
        (word(4), 8)
    } else {
        (word(0), 4)
    };
    if len == 0 {
        return Ok(Prefix::EndOfStream { size });
    }
    if len < 0 {
        return Err(Error::malformed(format!(
            "message metadata length is negative ({len})"
        )));
    }
    let len = len as usize;
    if size == 4 && bytes[..4] == *b"ARRO" {
        return Err(Error::malformed(
            "this is an Arrow IPC file (it starts with ARROW1), not a stream: read it with \
             IpcFileReader / read_file",
        ));
    }
    if len > limits.max_metadata_bytes && size == 4 {
        return Err(Error::malformed(format!(
            "the input does not start with the 0xFFFFFFFF continuation marker, and read as a \
             pre-0.15 metadata length it is {len} bytes: this does not look like Arrow IPC data"
        )));
    }
    if len > limits.max_metadata_bytes {
        return Err(Error::limit(
            "message metadata length",
            len as u64,
            limits.max_metadata_bytes as u64,
        ));
    }
    Ok(Prefix::Metadata { len, size })
}

/// Verifier options for flatbuffers from untrusted input.
pub(crate) fn verifier_options(limits: &DecodeLimits) -> flatbuffers::VerifierOptions {
    flatbuffers::VerifierOptions {
        max_depth: 64,
        max_tables: limits.max_flatbuffer_tables,
        max_apparent_size: 1 << 31,
        ignore_missing_null_terminator: false,
    }
}

/// A flatbuffers verifier error on one line (its trace spans several).
pub(crate) fn one_line(e: &impl std::fmt::Display) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Verifies a `Message` flatbuffer and returns it.
pub(crate) fn parse_message<'a>(
    metadata: &'a [u8],
    limits: &DecodeLimits,
) -> Result<fbs::Message<'a>> {
    flatbuffers::root_with_opts::<fbs::Message>(&verifier_options(limits), metadata).map_err(|e| {
        Error::malformed(format!(
            "message metadata is not a valid flatbuffer: {}",
            one_line(&e)
        ))
    })
}

/// The body length a verified message declares, checked against the limits.
pub(crate) fn body_length(metadata: &[u8], limits: &DecodeLimits) -> Result<usize> {
    let message = parse_message(metadata, limits)?;
    let len = message.bodyLength();
    if len < 0 {
        return Err(Error::malformed(format!(
            "message body length is negative ({len})"
        )));
    }
    if len as u64 > limits.max_body_bytes as u64 {
        return Err(Error::limit(
            "message body length",
            len as u64,
            limits.max_body_bytes as u64,
        ));
    }
    Ok(len as usize)
}

/// Reads the whole message that starts at `offset` of `buf`, slicing its body
/// out of `buf` (zero-copy). Returns the frame and the offset just past it, or
/// `None` if `buf` ends before the message does.
pub(crate) fn message_at(
    buf: &SharedBuffer,
    offset: usize,
    index: u64,
    limits: &DecodeLimits,
) -> Result<Option<(IpcFrame, usize)>> {
    let bytes = buf.as_slice();
    let rest = bytes.get(offset..).unwrap_or(&[]);
    if rest.len() < 4 {
        return Ok(None);
    }
    let (len, size) = match parse_prefix(rest, limits)? {
        Prefix::NeedMore => return Ok(None),
        Prefix::EndOfStream { size } => return Ok(Some((IpcFrame::EndOfStream, offset + size))),
        Prefix::Metadata { len, size } => (len, size),
    };
    let meta_end = match size.checked_add(len) {
        Some(end) if end <= rest.len() => end,
        _ => return Ok(None),
    };
    let metadata = &rest[size..meta_end];
    let body_len = body_length(metadata, limits)?;
    let body_end = match meta_end.checked_add(body_len) {
        Some(end) if end <= rest.len() => end,
        _ => return Ok(None),
    };
    let body = buf.slice(offset + meta_end..offset + body_end);
    let frame = IpcFrame::Message(RawMessage {
        metadata: metadata.to_vec(),
        body,
        offset: offset as u64,
        index,
    });
    Ok(Some((frame, offset + body_end)))
}

enum State {
    Prefix,
    Metadata { len: usize },
    Body { len: usize, buf: AlignedBytes },
    Ended,
}

/// Push decoder of encapsulated IPC messages.
pub struct IpcFrameDecoder {
    limits: DecodeLimits,
    state: State,
    prefix: [u8; 8],
    prefix_len: usize,
    metadata: Vec<u8>,
    consumed: u64,
    message_start: u64,
    index: u64,
    poisoned: bool,
}

impl IpcFrameDecoder {
    /// A decoder bounded by `limits`.
    pub fn new(limits: DecodeLimits) -> Self {
        IpcFrameDecoder {
            limits,
            state: State::Prefix,
            prefix: [0; 8],
            prefix_len: 0,
            metadata: Vec::new(),
            consumed: 0,
            message_start: 0,
            index: 0,
            poisoned: false,
        }
    }

    /// Total bytes consumed so far.
    pub fn bytes_consumed(&self) -> u64 {
        self.consumed
    }

    /// Number of messages completed so far (the end-of-stream marker excluded).
    pub fn messages_decoded(&self) -> u64 {
        self.index
    }

    /// True once the end-of-stream marker was read.
    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    /// Like [`FrameDecoder::decode`], but zero-copy: when a message lies wholly
    /// inside `input`, its body is a slice of `input` rather than a copy.
    pub fn decode_shared(&mut self, input: &SharedBuffer) -> Result<Decoded<IpcFrame>> {
        self.guarded(input.as_slice(), Some(input))
    }

    fn guarded(
        &mut self,
        input: &[u8],
        shared: Option<&SharedBuffer>,
    ) -> Result<Decoded<IpcFrame>> {
        if self.poisoned {
            return Err(Error::malformed(
                "IPC decoder used after an earlier error; start a new decoder",
            ));
        }
        self.decode_inner(input, shared).map_err(|e| {
            self.poisoned = true;
            e.at_message(self.index).at_offset(self.message_start)
        })
    }

    fn emit(&mut self, metadata: Vec<u8>, body: SharedBuffer, used: usize) -> Decoded<IpcFrame> {
        let frame = IpcFrame::Message(RawMessage {
            metadata,
            body,
            offset: self.message_start,
            index: self.index,
        });
        self.index += 1;
        self.state = State::Prefix;
        Decoded::Frame {
            frame,
            consumed: used,
        }
    }

    fn decode_inner(
        &mut self,
        input: &[u8],
        shared: Option<&SharedBuffer>,
    ) -> Result<Decoded<IpcFrame>> {
        let mut used = 0usize;
        loop {
            let available = input.len() - used;
            match &mut self.state {
                State::Ended => {
                    if available == 0 {
                        return Ok(Decoded::NeedMore);
                    }
                    return Err(Error::malformed("bytes follow the end-of-stream marker"));
                }
                State::Prefix => {
                    if available == 0 {
                        return Ok(Decoded::NeedMore);
                    }
                    if self.prefix_len == 0 {
                        self.message_start = self.consumed;
                        // Fast path: the whole message is inside shared input.
                        if let Some(sh) = shared
                            && let Some((frame, end)) =
                                message_at(sh, used, self.index, &self.limits)?
                        {
                            let n = end - used;
                            self.consumed += n as u64;
                            used = end;
                            return Ok(match frame {
                                IpcFrame::EndOfStream => {
                                    self.state = State::Ended;
                                    Decoded::Frame {
                                        frame: IpcFrame::EndOfStream,
                                        consumed: used,
                                    }
                                }
                                IpcFrame::Message(mut m) => {
                                    m.offset = self.message_start;
                                    self.index += 1;
                                    Decoded::Frame {
                                        frame: IpcFrame::Message(m),
                                        consumed: used,
                                    }
                                }
                            });
                        }
                    }
                    let need = if self.prefix_len >= 4 && self.prefix[..4] == CONTINUATION_MARKER {
                        8
                    } else {
                        4
                    };
                    let take = (need - self.prefix_len).min(available);
                    self.prefix[self.prefix_len..self.prefix_len + take]
                        .copy_from_slice(&input[used..used + take]);
                    self.prefix_len += take;
                    used += take;
                    self.consumed += take as u64;
                    if self.prefix_len < need {
                        continue;
                    }
                    match parse_prefix(&self.prefix[..self.prefix_len], &self.limits)? {
                        Prefix::NeedMore => continue,
                        Prefix::EndOfStream { .. } => {
                            self.prefix_len = 0;
                            self.state = State::Ended;
                            return Ok(Decoded::Frame {
                                frame: IpcFrame::EndOfStream,
                                consumed: used,
                            });
                        }
                        Prefix::Metadata { len, .. } => {
                            self.prefix_len = 0;
                            self.metadata = Vec::with_capacity(len.min(input.len() - used));
                            self.state = State::Metadata { len };
                        }
                    }
                }
                State::Metadata { len } => {
                    let len = *len;
                    let take = (len - self.metadata.len()).min(available);
                    self.metadata.extend_from_slice(&input[used..used + take]);
                    used += take;
                    self.consumed += take as u64;
                    if self.metadata.len() < len {
                        return Ok(Decoded::NeedMore);
                    }
                    let body_len = body_length(&self.metadata, &self.limits)?;
                    if body_len == 0 {
                        let metadata = std::mem::take(&mut self.metadata);
                        return Ok(self.emit(metadata, SharedBuffer::new(), used));
                    }
                    let reserve =
                        body_len.min(self.limits.max_eager_reserve.max(input.len() - used));
                    self.state = State::Body {
                        len: body_len,
                        buf: AlignedBytes::with_capacity(reserve),
                    };
                }
                State::Body { len, buf } => {
                    let take = (*len - buf.len()).min(available);
                    buf.extend_from_slice(&input[used..used + take]);
                    used += take;
                    self.consumed += take as u64;
                    if buf.len() < *len {
                        return Ok(Decoded::NeedMore);
                    }
                    let State::Body { buf, .. } = std::mem::replace(&mut self.state, State::Prefix)
                    else {
                        return Err(Error::malformed("internal: body state lost"));
                    };
                    let metadata = std::mem::take(&mut self.metadata);
                    return Ok(self.emit(metadata, buf.freeze(), used));
                }
            }
        }
    }
}

impl FrameDecoder for IpcFrameDecoder {
    type Frame = IpcFrame;

    fn decode(&mut self, input: &[u8]) -> Result<Decoded<IpcFrame>> {
        self.guarded(input, None)
    }

    fn finish(&self) -> Result<()> {
        let truncated = |what: String| {
            Err(Error::new(ErrorKind::Truncated, what)
                .at_message(self.index)
                .at_offset(self.message_start))
        };
        match &self.state {
            State::Prefix if self.prefix_len > 0 => truncated(format!(
                "input ended inside a message prefix ({} bytes of it)",
                self.prefix_len
            )),
            State::Metadata { len } => truncated(format!(
                "input ended inside message metadata ({} of {} bytes)",
                self.metadata.len(),
                len
            )),
            State::Body { len, buf } => truncated(format!(
                "input ended inside a message body ({} of {} bytes)",
                buf.len(),
                len
            )),
            _ => Ok(()),
        }
    }
}

/// Writes the prefix of a message whose metadata (padding included) is
/// `metadata_len` bytes.
pub(crate) fn write_prefix(metadata_len: usize, out: &mut Vec<u8>) -> Result<()> {
    let len = i32::try_from(metadata_len).map_err(|_| {
        Error::new(
            ErrorKind::Schema,
            format!("message metadata of {metadata_len} bytes does not fit the i32 length prefix"),
        )
    })?;
    out.extend_from_slice(&CONTINUATION_MARKER);
    out.extend_from_slice(&len.to_le_bytes());
    Ok(())
}
