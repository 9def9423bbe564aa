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
//! Bodies are delivered as `SharedBuffer`s. A message that lies wholly inside
//! shared input ([`IpcFrameDecoder::decode_shared`]) keeps its body where it
//! is, a slice of the caller's memory: the batch decoder then borrows every
//! buffer aligned for its type (see [`crate::buffers`]). Any other body is
//! copied once into fresh 64-byte aligned memory (or read straight into it
//! by a shell, [`IpcFrameDecoder::body_sink`]), where it keeps its layout
//! when every buffer starts on an 8-byte boundary (the Arrow format's own
//! alignment, enough for every type: a 64- or 8-aligned producer such as
//! pyarrow); a body with a buffer off that boundary is moved, each buffer to
//! a 64-byte boundary, as it is copied. [`IpcFrameDecoder::set_align_64`]
//! asks for every buffer on a 64-byte boundary instead: bodies that are not
//! are moved as they are copied, shared input included.
//!
//! Most code wants tables, from [`crate::IpcStreamDecoder`]; this layer is for
//! code that routes or counts messages without decoding them:
//!
//! ```
//! use lightstream_core::framing::ipc::{IpcFrame, IpcFrameDecoder};
//! use lightstream_core::framing::FrameDecoder;
//! use lightstream_core::minarrow::{fa_i64, tbl};
//! use lightstream_core::{write_stream, DecodeLimits, Schema, WriteOptions};
//!
//! let table = tbl!("t", fa_i64!("id", 1, 2, 3));
//! let bytes = write_stream(&Schema::from_table(&table), &[table], &WriteOptions::default())?;
//! let frames = IpcFrameDecoder::new(DecodeLimits::default()).decode_all(&bytes)?;
//! // The schema message (no body), one record batch, the end-of-stream marker.
//! let IpcFrame::Message(batch) = &frames[1] else { panic!("a message") };
//! assert_eq!((batch.index, batch.body.len() % 64), (1, 0));
//! assert!(matches!(frames[2], IpcFrame::EndOfStream));
//! # Ok::<(), lightstream_core::Error>(())
//! ```

use minarrow::structs::shared_buffer::SharedBuffer;

use super::{Decoded, FrameDecoder};
use crate::buffers::{ALIGNMENT, AlignedBytes, IN_PLACE_ALIGNMENT, aligned_copy, padded_len};
use crate::error::{Error, ErrorKind, Result};
use crate::fbs;
use crate::limits::{DecodeLimits, wire_len};

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
    /// The body: a slice of the caller's shared input as it lies, or a copy
    /// in 64-byte aligned memory. When a copied body's buffers were not
    /// 64-byte aligned, they were relocated while it was copied in (each
    /// buffer moved to a 64-byte boundary, `metadata`'s buffer offsets
    /// rewritten to match), so it may be longer than the message declared.
    pub body: SharedBuffer,
    /// The body length the message declares (its bytes on the wire).
    pub declared_body_len: usize,
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

/// Reads a message prefix from the first four or eight bytes of `bytes`
/// (`NeedMore` while they are not all there).
pub(crate) fn parse_prefix(bytes: &[u8], limits: &DecodeLimits) -> Result<Prefix> {
    let Some(first) = bytes.first_chunk::<4>() else {
        return Ok(Prefix::NeedMore);
    };
    let (len, size) = if *first == CONTINUATION_MARKER {
        match bytes.get(4..).and_then(<[u8]>::first_chunk::<4>) {
            Some(len) => (i32::from_le_bytes(*len), 8),
            None => return Ok(Prefix::NeedMore),
        }
    } else {
        (i32::from_le_bytes(*first), 4)
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
    if size == 4 && first == b"ARRO" {
        return Err(Error::malformed(
            "this is an Arrow IPC file (it starts with ARROW1), not a stream: read it whole \
             as a file (Rust: read_ipc or IpcFileReader; JavaScript: decode())",
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

/// Where the buffers of a body go when it is copied into aligned memory:
/// each non-empty buffer moves to the next 64-byte boundary, in order, and
/// the padding between them is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relocation {
    /// `(source offset, length, destination offset)` of each non-empty buffer,
    /// in increasing source order.
    segments: Vec<(usize, usize, usize)>,
    /// Length of the relocated body.
    len: usize,
}

impl Relocation {
    /// Copies the segments of `body` (the whole wire body) into place.
    fn apply(&self, body: &[u8]) -> AlignedBytes {
        let mut out = AlignedBytes::with_capacity(self.len);
        for &(src, len, dst) in &self.segments {
            out.extend_zeros(dst - out.len());
            // `plan` made every segment end within the body it was given.
            #[allow(clippy::indexing_slicing)]
            out.extend_from_slice(&body[src..src + len]);
        }
        out.extend_zeros(self.len - out.len());
        out
    }
}

/// Reads a verified message's declared body length (checked against the
/// limits) and, when `base` is given and the message is an uncompressed
/// record or dictionary batch whose buffers would not all land on an `align`
/// boundary (the body starting `base` bytes past a 64-byte boundary), plans
/// a relocation (every buffer moved to a 64-byte boundary) and rewrites the
/// buffer offsets in `metadata` to their relocated places.
///
/// `align` is [`ALIGNMENT`] for readers that want every buffer 64-byte
/// aligned ([`crate::ReadOptions::align_64`]), else [`IN_PLACE_ALIGNMENT`]
/// (8): what every Arrow type needs to be borrowed in place, so the body
/// of an 8-aligned producer (pyarrow) stays where it lands.
///
/// Unusual layouts (unsorted or overlapping buffers, buffers past the body)
/// get no plan: the batch decoder checks them and copies per buffer.
pub(crate) fn inspect(
    metadata: &mut [u8],
    base: Option<usize>,
    align: usize,
    limits: &DecodeLimits,
) -> Result<(usize, Option<Relocation>)> {
    let (body_len, planned) = {
        let message = parse_message(metadata, limits)?;
        let body_len = wire_len(
            message.bodyLength(),
            "message body length",
            limits.max_body_bytes,
        )?;
        let batch = match message.header_type() {
            fbs::MessageHeader::RecordBatch => message.header_as_record_batch(),
            fbs::MessageHeader::DictionaryBatch => {
                message.header_as_dictionary_batch().and_then(|d| d.data())
            }
            _ => None,
        };
        let planned = base
            .and(batch)
            .filter(|b| b.compression().is_none())
            .and_then(|b| b.buffers())
            .and_then(|buffers| {
                let at = buffers.bytes().as_ptr() as usize - metadata.as_ptr() as usize;
                plan(
                    buffers.iter().map(|b| (b.offset(), b.length())),
                    body_len,
                    base.unwrap_or(0),
                    align,
                )
                .map(|p| (p, at))
            });
        (body_len, planned)
    };
    let Some(((relocation, offsets), at)) = planned else {
        return Ok((body_len, None));
    };
    // Each Buffer struct is 16 bytes: offset (i64 LE), then length.
    for (i, dst) in offsets.into_iter().enumerate() {
        let pos = at + 16 * i;
        if let Some(slot) = metadata.get_mut(pos..pos + 8) {
            slot.copy_from_slice(&(dst as i64).to_le_bytes());
        }
    }
    Ok((body_len, Some(relocation)))
}

/// The relocation of buffers `(offset, length)` within a body of `body_len`
/// bytes starting `base` bytes past a 64-byte boundary, with every buffer's
/// new offset (each on a 64-byte boundary); `None` when every buffer already
/// starts on an `align` boundary or the layout is unusual.
fn plan(
    buffers: impl Iterator<Item = (i64, i64)>,
    body_len: usize,
    base: usize,
    align: usize,
) -> Option<(Relocation, Vec<usize>)> {
    let mut segments = Vec::new();
    let mut offsets = Vec::new();
    let mut aligned = true;
    let mut src_end = 0usize;
    let mut dst = 0usize;
    for (off, len) in buffers {
        let (off, len) = (usize::try_from(off).ok()?, usize::try_from(len).ok()?);
        if len == 0 {
            offsets.push(dst);
            continue;
        }
        let end = off.checked_add(len).filter(|&e| e <= body_len)?;
        if off < src_end {
            return None;
        }
        aligned &= (base + off).is_multiple_of(align);
        dst = padded_len(dst, ALIGNMENT)?;
        segments.push((off, len, dst));
        offsets.push(dst);
        dst += len;
        src_end = end;
    }
    if aligned {
        return None;
    }
    let len = padded_len(dst, ALIGNMENT)?;
    Some((Relocation { segments, len }, offsets))
}

/// Bytes holding whole messages, and what may become of their bodies.
#[derive(Clone, Copy)]
pub(crate) enum MessageSource<'a> {
    /// The caller's shared memory: a body is sliced out as it lies, or, with
    /// `align_64` and buffers not all 64-byte aligned, copied and relocated.
    Shared {
        /// The bytes.
        buf: &'a SharedBuffer,
        /// Copy bodies whose buffers are not all 64-byte aligned.
        align_64: bool,
    },
    /// Bytes the tables cannot point into: every body is copied once into
    /// 64-byte aligned memory, each buffer moved to a 64-byte boundary.
    Slice(&'a [u8]),
}

impl MessageSource<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            MessageSource::Shared { buf, .. } => buf.as_slice(),
            MessageSource::Slice(bytes) => bytes,
        }
    }
}

/// Reads the whole message that starts at `offset` of `input` (see [`MessageSource`]
/// for where its body goes). Returns the frame, the offset just past it and
/// the body bytes copied, or `None` if `input` ends before the message does.
pub(crate) fn message_at(
    input: MessageSource<'_>,
    offset: usize,
    index: u64,
    limits: &DecodeLimits,
) -> Result<Option<(IpcFrame, usize, usize)>> {
    let rest = input.bytes().get(offset..).unwrap_or(&[]);
    if rest.len() < 4 {
        return Ok(None);
    }
    let (len, size) = match parse_prefix(rest, limits)? {
        Prefix::NeedMore => return Ok(None),
        Prefix::EndOfStream { size } => {
            return Ok(Some((IpcFrame::EndOfStream, offset + size, 0)));
        }
        Prefix::Metadata { len, size } => (len, size),
    };
    let Some((meta_end, metadata)) = size
        .checked_add(len)
        .and_then(|end| Some((end, rest.get(size..end)?)))
    else {
        return Ok(None);
    };
    let mut metadata = metadata.to_vec();
    let Some((body, body_len, copied)) = body_at(input, offset + meta_end, &mut metadata, limits)?
    else {
        return Ok(None);
    };
    let frame = IpcFrame::Message(RawMessage {
        metadata,
        body,
        declared_body_len: body_len,
        offset: offset as u64,
        index,
    });
    Ok(Some((frame, offset + meta_end + body_len, copied)))
}

/// The body of the message whose `metadata` (verified here) was read, the
/// body starting at offset `at` of `input`: sliced out of shared bytes as it
/// lies, or copied into 64-byte aligned memory (relocated, `metadata`'s
/// buffer offsets rewritten, when its buffers are not aligned as the source
/// asks; see [`MessageSource`]). Returns the body, its declared length and
/// the bytes copied, or `None` if `input` ends before the body does.
fn body_at(
    input: MessageSource<'_>,
    at: usize,
    metadata: &mut [u8],
    limits: &DecodeLimits,
) -> Result<Option<(SharedBuffer, usize, usize)>> {
    let rest = input.bytes().get(at..).unwrap_or(&[]);
    // Where the body would start relative to a 64-byte boundary (as it lies,
    // or at the start of a fresh aligned buffer) and the alignment its
    // buffers need to stay there. `None`: it stays as it lies.
    let (base, align) = match input {
        MessageSource::Shared {
            align_64: false, ..
        } => (None, IN_PLACE_ALIGNMENT),
        MessageSource::Shared { .. } => (Some(rest.as_ptr() as usize % ALIGNMENT), ALIGNMENT),
        MessageSource::Slice(_) => (Some(0), ALIGNMENT),
    };
    let (body_len, relocation) = inspect(metadata, base, align, limits)?;
    let Some(wire) = rest.get(..body_len) else {
        return Ok(None);
    };
    Ok(Some(match (relocation, input) {
        (Some(r), _) => (r.apply(wire).freeze(), body_len, body_len),
        (None, MessageSource::Shared { buf, .. }) => (buf.slice(at..at + body_len), body_len, 0),
        (None, MessageSource::Slice(_)) => (aligned_copy(wire), body_len, body_len),
    }))
}

enum State {
    Prefix,
    Metadata {
        len: usize,
    },
    Body {
        /// Body bytes on the wire.
        len: usize,
        /// Wire bytes received so far.
        got: usize,
        buf: AlignedBytes,
        /// Where misaligned buffers go, and the next segment to fill.
        relocation: Option<(Relocation, usize)>,
    },
    Ended,
}

/// How far a decoder is into the message it is receiving: what a shell shows
/// in a timeout ("reading the body of message 3 (4096 of 65536 bytes)") and
/// checks at the end of a transport message, without parsing error text.
///
/// ```
/// use lightstream_core::framing::ipc::Progress;
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{write_stream, IpcStreamDecoder, ReadOptions, Schema};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let bytes = write_stream(&Schema::from_table(&table), &[table], &Default::default())?;
/// let mut decoder = IpcStreamDecoder::new(ReadOptions::default());
/// let mut input = &bytes[..bytes.len() - 20]; // the connection stalls here
/// while let lightstream_core::Decoded::Frame { consumed, .. } = decoder.push(input)? {
///     input = &input[consumed..];
/// }
/// let progress = decoder.progress();
/// assert_eq!(progress, Progress::Body { got: 52, len: 64 });
/// assert_eq!((progress.is_at_boundary(), progress.bytes_wanted()), (false, 12));
/// # Ok::<(), lightstream_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Between messages: every byte offered so far belongs to complete ones.
    Idle,
    /// Inside a message's prefix: `got` of its 4 or 8 bytes.
    Prefix {
        /// Prefix bytes received.
        got: usize,
    },
    /// Inside a message's metadata (the `Message` flatbuffer).
    Metadata {
        /// Metadata bytes received.
        got: usize,
        /// Metadata bytes the prefix declared.
        len: usize,
    },
    /// Inside a message's body.
    Body {
        /// Body bytes received.
        got: usize,
        /// Body bytes the metadata declared.
        len: usize,
    },
    /// After the end-of-stream marker.
    Ended,
}

impl Progress {
    /// True between messages and after the end-of-stream marker: no message
    /// is half received.
    pub fn is_at_boundary(self) -> bool {
        matches!(self, Progress::Idle | Progress::Ended)
    }

    /// Bytes the decoder needs before it can take a body in place or
    /// complete a message: the rest of a prefix (at most 8 bytes), of the
    /// metadata, or of the body. Zero after the end-of-stream marker.
    pub fn bytes_wanted(self) -> usize {
        match self {
            Progress::Idle => 8,
            Progress::Prefix { got } => 8usize.saturating_sub(got).max(1),
            Progress::Metadata { got, len } | Progress::Body { got, len } => {
                len.saturating_sub(got).max(1)
            }
            Progress::Ended => 0,
        }
    }
}

impl std::fmt::Display for Progress {
    /// The part of a message in flight, e.g. "a message body (4096 of 65536
    /// bytes)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Idle => f.write_str("no message (between messages)"),
            Progress::Prefix { got } => write!(f, "a message prefix ({got} bytes of it)"),
            Progress::Metadata { got, len } => {
                write!(f, "message metadata ({got} of {len} bytes)")
            }
            Progress::Body { got, len } => write!(f, "a message body ({got} of {len} bytes)"),
            Progress::Ended => f.write_str("nothing (after the end-of-stream marker)"),
        }
    }
}

/// Push decoder of encapsulated IPC messages.
pub struct IpcFrameDecoder {
    limits: DecodeLimits,
    align_64: bool,
    /// Bodies keep their wire layout: no buffer is moved (forwarding).
    keep_layout: bool,
    copied: u64,
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
            align_64: false,
            keep_layout: false,
            copied: 0,
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

    /// Whether every body's buffers must start on 64-byte boundaries (off
    /// by default): a body whose buffers are not all 64-byte aligned is
    /// copied into 64-byte aligned memory with each buffer moved to a 64-byte
    /// boundary, shared input included ([`IpcFrameDecoder::decode_shared`]),
    /// and is never offered a [`IpcFrameDecoder::body_sink`]. Off, a body
    /// keeps its layout when each buffer is 8-byte aligned.
    pub fn set_align_64(&mut self, on: bool) {
        self.align_64 = on;
    }

    /// Whether bodies keep the layout they have on the wire (off by
    /// default): on, no buffer is ever moved to a 64-byte boundary (neither
    /// for [`IpcFrameDecoder::set_align_64`] nor while a body is copied in),
    /// so every body and its metadata are byte for byte what the producer
    /// sent. For code that forwards messages rather than decoding them
    /// ([`crate::ipc::IpcMessageDecoder`]); a body copied in still lands in
    /// 64-byte aligned memory.
    pub fn set_keep_layout(&mut self, on: bool) {
        self.keep_layout = on;
    }

    /// Message body bytes copied so far: every body byte offered through
    /// [`FrameDecoder::decode`] (or through `decode_shared` when its message
    /// was not wholly inside one input), and the bodies `set_align_64`
    /// relocated. Bytes written through [`IpcFrameDecoder::body_sink`] are not
    /// copies (the shell's read put them in place).
    pub fn bytes_copied(&self) -> u64 {
        self.copied
    }

    /// Number of messages completed so far (the end-of-stream marker excluded).
    pub fn messages_decoded(&self) -> u64 {
        self.index
    }

    /// True once the end-of-stream marker was read.
    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    /// After the end-of-stream marker, takes the bytes that follow as the
    /// next stream's messages (instead of refusing them). Counters and
    /// offsets go on across streams. Does nothing before the marker.
    pub fn next_stream(&mut self) {
        if self.is_ended() {
            self.state = State::Prefix;
            self.prefix_len = 0;
        }
    }

    /// How far the decoder is into the message it is receiving (that
    /// message's index is [`IpcFrameDecoder::messages_decoded`]).
    pub fn progress(&self) -> Progress {
        match &self.state {
            State::Prefix if self.prefix_len == 0 => Progress::Idle,
            State::Prefix => Progress::Prefix {
                got: self.prefix_len,
            },
            State::Metadata { len } => Progress::Metadata {
                got: self.metadata.len(),
                len: *len,
            },
            State::Body { len, got, .. } => Progress::Body {
                got: *got,
                len: *len,
            },
            State::Ended => Progress::Ended,
        }
    }

    /// Like [`FrameDecoder::decode`], but zero-copy: when a message lies wholly
    /// inside `input`, its body is a slice of `input` rather than a copy.
    pub fn decode_shared(&mut self, input: &SharedBuffer) -> Result<Decoded<IpcFrame>> {
        self.guarded(input.as_slice(), Some(input))
    }

    /// One whole message given apart from any byte stream: its `metadata`
    /// (the `Message` flatbuffer without the 8-byte prefix, as a Flight
    /// `data_header` carries it) and its `body` (at least as long as the
    /// metadata declares; bytes past that are ignored). Taken only between
    /// messages. The body stays where it is, as with
    /// [`IpcFrameDecoder::decode_shared`]: the batch decoder borrows every
    /// buffer aligned for its type and copies the others one by one, or,
    /// with [`IpcFrameDecoder::set_align_64`], the body is copied once into
    /// 64-byte aligned memory when its buffers are not all 64-byte aligned.
    /// It counts in [`IpcFrameDecoder::bytes_consumed`] as its metadata and
    /// declared body.
    pub fn decode_message(&mut self, metadata: &[u8], body: &SharedBuffer) -> Result<IpcFrame> {
        if self.poisoned {
            return Err(Error::malformed(
                "IPC decoder used after an earlier error; start a new decoder",
            ));
        }
        let r = self.message_apart(metadata, body);
        if r.is_err() {
            self.poisoned = true;
        }
        r.map_err(|e| e.at_message(self.index).at_offset(self.consumed))
    }

    fn message_apart(&mut self, metadata: &[u8], body: &SharedBuffer) -> Result<IpcFrame> {
        match self.progress() {
            Progress::Idle => {}
            Progress::Ended => {
                return Err(Error::malformed(
                    "a message follows the end-of-stream marker",
                ));
            }
            inside => {
                return Err(Error::malformed(format!(
                    "a whole message offered while another is half received (in {inside})"
                )));
            }
        }
        if metadata.is_empty() {
            return Err(Error::malformed("a message without metadata"));
        }
        if metadata.len() > self.limits.max_metadata_bytes {
            return Err(Error::limit(
                "message metadata length",
                metadata.len() as u64,
                self.limits.max_metadata_bytes as u64,
            ));
        }
        let mut metadata = metadata.to_vec();
        let source = MessageSource::Shared {
            buf: body,
            align_64: self.align_64 && !self.keep_layout,
        };
        let Some((body, body_len, copied)) = body_at(source, 0, &mut metadata, &self.limits)?
        else {
            let declared = parse_message(&metadata, &self.limits).map_or(0, |m| m.bodyLength());
            return Err(Error::malformed(format!(
                "the body holds {} bytes, fewer than the {declared} its metadata declares",
                body.len()
            )));
        };
        self.message_start = self.consumed;
        self.consumed += (metadata.len() + body_len) as u64;
        self.copied += copied as u64;
        let frame = IpcFrame::Message(RawMessage {
            metadata,
            body,
            declared_body_len: body_len,
            offset: self.message_start,
            index: self.index,
        });
        self.index += 1;
        Ok(frame)
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

    fn emit(
        &mut self,
        metadata: Vec<u8>,
        body: SharedBuffer,
        declared_body_len: usize,
        used: usize,
    ) -> Decoded<IpcFrame> {
        let frame = IpcFrame::Message(RawMessage {
            metadata,
            body,
            declared_body_len,
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

    // Its slices are bounded by the loop's own bookkeeping: `used <= input.len()`,
    // every `take <= available = input.len() - used`, `prefix_len + take <= need <= 8`.
    #[allow(clippy::indexing_slicing)]
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
                            && let Some((frame, end, copied)) = message_at(
                                MessageSource::Shared {
                                    buf: sh,
                                    align_64: self.align_64 && !self.keep_layout,
                                },
                                used,
                                self.index,
                                &self.limits,
                            )?
                        {
                            let n = end - used;
                            self.consumed += n as u64;
                            self.copied += copied as u64;
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
                    // The body goes into fresh 64-byte aligned memory: it
                    // stays as it lands (a socket reads it in place, through
                    // `body_sink`) unless a buffer would be misaligned.
                    let base = (!self.keep_layout).then_some(0);
                    let align = if self.align_64 {
                        ALIGNMENT
                    } else {
                        IN_PLACE_ALIGNMENT
                    };
                    let (body_len, relocation) =
                        inspect(&mut self.metadata, base, align, &self.limits)?;
                    if body_len == 0 {
                        let metadata = std::mem::take(&mut self.metadata);
                        return Ok(self.emit(metadata, SharedBuffer::new(), 0, used));
                    }
                    let target = relocation.as_ref().map_or(body_len, |r| r.len);
                    let reserve = target.min(self.limits.max_eager_reserve.max(input.len() - used));
                    self.state = State::Body {
                        len: body_len,
                        got: 0,
                        buf: AlignedBytes::with_capacity(reserve),
                        relocation: relocation.map(|r| (r, 0)),
                    };
                }
                State::Body {
                    len,
                    got,
                    buf,
                    relocation,
                } => {
                    let take = (*len - *got).min(available);
                    let chunk = &input[used..used + take];
                    match relocation {
                        None => {
                            buf.grow_for(chunk.len(), *len);
                            buf.extend_from_slice(chunk);
                        }
                        Some((r, next)) => {
                            // Padding between segments adds at most 63 bytes each.
                            buf.grow_for(chunk.len() + 64 * r.segments.len(), r.len);
                            scatter(r, next, buf, *got, chunk);
                        }
                    }
                    *got += take;
                    used += take;
                    self.consumed += take as u64;
                    self.copied += take as u64;
                    return Ok(match self.take_completed_body() {
                        Some(frame) => Decoded::Frame {
                            frame,
                            consumed: used,
                        },
                        None => Decoded::NeedMore,
                    });
                }
            }
        }
    }

    /// The message whose body just became complete, if it did; the decoder
    /// then waits for the next message's prefix.
    fn take_completed_body(&mut self) -> Option<IpcFrame> {
        match &self.state {
            State::Body { len, got, .. } if got >= len => {}
            _ => return None,
        }
        let State::Body {
            len,
            mut buf,
            relocation,
            ..
        } = std::mem::replace(&mut self.state, State::Prefix)
        else {
            return None;
        };
        if let Some((r, _)) = relocation {
            buf.extend_zeros(r.len - buf.len());
        }
        let metadata = std::mem::take(&mut self.metadata);
        match self.emit(metadata, buf.freeze(), len, 0) {
            Decoded::Frame { frame, .. } => Some(frame),
            Decoded::NeedMore => None,
        }
    }

    /// While the decoder is receiving a message body whose bytes can stay
    /// where they land (every buffer 8-byte aligned relative to the body, or
    /// 64-byte aligned under [`IpcFrameDecoder::set_align_64`]), a
    /// [`BodySink`] over the 64-byte aligned memory that will hold it.
    /// A shell reads from its socket or file straight into the sink (no copy
    /// after the read), then calls [`IpcFrameDecoder::take_body`].
    ///
    /// `None` in every other state (prefix, metadata, a body that must be
    /// relocated while it is copied in, after an error): offer bytes with
    /// [`FrameDecoder::decode`] instead.
    pub fn body_sink(&mut self) -> Option<BodySink<'_>> {
        if self.poisoned {
            return None;
        }
        match &mut self.state {
            State::Body {
                len,
                got,
                buf,
                relocation: None,
            } if *got < *len => Some(BodySink {
                len: *len,
                got,
                buf,
                consumed: &mut self.consumed,
            }),
            _ => None,
        }
    }

    /// After bytes were written through [`IpcFrameDecoder::body_sink`]: the
    /// message, once its body is complete.
    pub fn take_body(&mut self) -> Option<IpcFrame> {
        if self.poisoned {
            return None;
        }
        self.take_completed_body()
    }
}

/// Writable, 64-byte aligned memory for the rest of a message body, from
/// [`IpcFrameDecoder::body_sink`] or [`crate::IpcStreamDecoder::body_sink`].
///
/// It implements [`bytes::BufMut`], so a shell fills it with its runtime's
/// read-into-`BufMut` call (tokio's `AsyncReadExt::read_buf`, tokio-util's
/// `poll_read_buf`). It never offers more room than the body still needs, so
/// a read into it cannot swallow the next message. Room is reserved as in
/// [`FrameDecoder::decode`]: at most [`DecodeLimits::max_eager_reserve`] before
/// the body's bytes have actually arrived.
pub struct BodySink<'a> {
    len: usize,
    got: &'a mut usize,
    buf: &'a mut AlignedBytes,
    consumed: &'a mut u64,
}

impl BodySink<'_> {
    /// Body bytes still expected.
    pub fn remaining(&self) -> usize {
        self.len - *self.got
    }
}

// SAFETY: `chunk_mut` hands out only spare capacity of the body buffer, cut
// to the bytes the body still needs; `advance_mut(cnt)` is called, per the
// trait's contract, only after the first `cnt` bytes of that chunk were
// initialized, and `assume_written` refuses a `cnt` beyond the capacity.
unsafe impl bytes::BufMut for BodySink<'_> {
    fn remaining_mut(&self) -> usize {
        self.remaining()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        let cnt = cnt.min(self.remaining());
        // SAFETY: the caller initialized the first `cnt` bytes of the chunk,
        // which starts at the buffer's spare capacity.
        unsafe { self.buf.assume_written(cnt) };
        *self.got += cnt;
        *self.consumed += cnt as u64;
    }

    fn chunk_mut(&mut self) -> &mut bytes::buf::UninitSlice {
        let remaining = self.remaining();
        if self.buf.spare_mut().is_empty() && remaining > 0 {
            // Capacity runs out only after the first reservation was filled
            // with real bytes; then room for the rest is made at once.
            self.buf.grow_for(1, self.buf.len() + remaining);
        }
        let spare = self.buf.spare_mut();
        let n = spare.len().min(remaining);
        #[allow(clippy::indexing_slicing)] // n <= spare.len(), the line above
        bytes::buf::UninitSlice::uninit(&mut spare[..n])
    }
}

/// Copies `chunk`, the wire bytes of a body from offset `got` on, into `out`
/// where the relocation puts them; bytes between buffers are dropped.
fn scatter(r: &Relocation, next: &mut usize, out: &mut AlignedBytes, got: usize, chunk: &[u8]) {
    let end = got + chunk.len();
    while let Some(&(src, len, dst)) = r.segments.get(*next) {
        if src >= end {
            break;
        }
        let from = src.max(got);
        let to = (src + len).min(end);
        if from < to {
            let at = dst + (from - src);
            out.extend_zeros(at - out.len());
            // got <= from < to <= end = got + chunk.len()
            #[allow(clippy::indexing_slicing)]
            out.extend_from_slice(&chunk[from - got..to - got]);
        }
        if src + len <= end {
            *next += 1;
        } else {
            break;
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
        match self.progress() {
            Progress::Idle | Progress::Ended => Ok(()),
            inside => truncated(format!("input ended inside {inside}")),
        }
    }

    fn decode_shared(&mut self, input: &SharedBuffer) -> Result<Decoded<IpcFrame>> {
        IpcFrameDecoder::decode_shared(self, input)
    }

    fn body_sink(&mut self) -> Option<BodySink<'_>> {
        IpcFrameDecoder::body_sink(self)
    }

    fn take_body(&mut self) -> Result<Option<IpcFrame>> {
        Ok(IpcFrameDecoder::take_body(self))
    }

    fn bytes_wanted(&self) -> usize {
        self.progress().bytes_wanted()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_need_no_relocation() {
        assert_eq!(
            plan([(0, 10), (64, 3), (128, 0)].into_iter(), 192, 0, ALIGNMENT),
            None
        );
        // The same offsets seen from a body that starts 8 bytes past a boundary.
        assert!(plan([(0, 10), (64, 3)].into_iter(), 192, 8, ALIGNMENT).is_some());
        // A reader content with each buffer aligned for its type (8): an
        // 8-aligned producer's body (pyarrow's) stays as it lies...
        let eight = [(0, 10), (16, 3), (24, 0), (24, 40)];
        assert_eq!(plan(eight.into_iter(), 64, 0, IN_PLACE_ALIGNMENT), None);
        assert_eq!(plan(eight.into_iter(), 64, 8, IN_PLACE_ALIGNMENT), None);
        assert!(plan(eight.into_iter(), 64, 0, ALIGNMENT).is_some());
        // ...and a buffer off an 8-byte boundary moves them all to 64.
        let (r, offsets) =
            plan([(0, 10), (12, 4)].into_iter(), 16, 0, IN_PLACE_ALIGNMENT).expect("a plan");
        assert_eq!((offsets, r.len), (vec![0, 64], 128));
        assert!(plan(eight.into_iter(), 64, 4, IN_PLACE_ALIGNMENT).is_some());
    }

    #[test]
    fn misaligned_buffers_move_to_64_byte_boundaries() {
        let (r, offsets) = plan(
            [(0, 0), (0, 12), (16, 8), (24, 0), (24, 100)].into_iter(),
            128,
            0,
            ALIGNMENT,
        )
        .expect("a plan");
        assert_eq!(r.segments, vec![(0, 12, 0), (16, 8, 64), (24, 100, 128)]);
        assert_eq!(offsets, vec![0, 0, 64, 72, 128]);
        assert_eq!(r.len, 256);
        let body: Vec<u8> = (0..128u8).collect();
        let out = r.apply(&body).freeze();
        assert_eq!(&out.as_slice()[..12], &body[..12]);
        assert_eq!(&out.as_slice()[64..72], &body[16..24]);
        assert_eq!(&out.as_slice()[128..228], &body[24..124]);
        // Scattering any chunking of the wire body gives the same bytes.
        for chunk in [1, 5, 16, 128] {
            let mut buf = AlignedBytes::with_capacity(0);
            let mut next = 0;
            for (k, piece) in body.chunks(chunk).enumerate() {
                scatter(&r, &mut next, &mut buf, k * chunk, piece);
            }
            buf.extend_zeros(r.len - buf.len());
            assert_eq!(buf.freeze().as_slice(), out.as_slice(), "chunk {chunk}");
        }
    }

    #[test]
    fn unusual_layouts_are_left_to_the_batch_decoder() {
        // Overlapping, out of order, past the body, negative.
        assert_eq!(plan([(8, 16), (16, 8)].into_iter(), 64, 0, ALIGNMENT), None);
        assert_eq!(plan([(32, 8), (8, 8)].into_iter(), 64, 0, ALIGNMENT), None);
        assert_eq!(plan([(8, 100)].into_iter(), 64, 0, ALIGNMENT), None);
        assert_eq!(plan([(-8, 8)].into_iter(), 64, 0, ALIGNMENT), None);
    }
}
