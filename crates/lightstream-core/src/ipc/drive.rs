//! [`FrameDriver`]: the one loop that feeds a [`FrameDecoder`] from an
//! input, for every shell and every framing; [`IpcStreamDriver`] is that loop
//! over an [`IpcStreamDecoder`], with the IPC stream's own rules.
//!
//! What it is for: a shell has bytes somewhere (a socket it reads, a
//! JavaScript array it copies out of, a slice or a shared buffer already in
//! memory). It wraps them in a [`ByteInput`] and asks the driver for the next
//! frame (a [`StreamItem`] of an IPC stream; a TLV frame; an application's
//! own). The driver decides where each byte goes, by the decoder's state and
//! what the input is:
//!
//! | decoder wants          | input holds bytes in memory ([`Pending`]) | input must be read ([`ByteInput::poll_read`]) |
//! |------------------------|-------------------------------------------|-----------------------------------------------|
//! | a body that can stay where it lands | decoded where they lie (`decode`, or `decode_shared`: borrowed) | read straight into the body's aligned memory ([`crate::BodySink`]): the read is the only copy |
//! | a prefix, metadata, a body to relocate; anything a decoder without a body sink wants | same | read into the scratch buffer, then decoded |
//!
//! Bytes in the scratch buffer are offered first, then the input's pending
//! bytes, then the input is read; a read that brings nothing is the end of
//! the input (`Ok(None)`). Reads into the scratch buffer may fill it;
//! [`ReadTarget::wanted`] says how much the decoder needs before a body can
//! go in place, for inputs where each read is a copy the input chooses the
//! size of (a JavaScript array). The driver's own memory is the scratch
//! buffer, fixed at construction; a frame's memory is the decoder's, which
//! checks declared lengths against its limits (see [`FrameDecoder`]).
//!
//! One rule for transports that carry IPC messages in messages of their own
//! (WebSocket; HTTP chunks later), [`FrameDriver::next_in_message`]:
//! a transport message holds whole IPC messages (one, as Lightstream's writers
//! send, or several); one that ends inside an IPC message is a
//! [`MessageError::Split`]; an empty one is ignored. Flight is not one of
//! them: its gRPC body is translated into a byte stream as it arrives
//! (`flight::FlightToIpc`, feature `flight`), a [`ByteInput`] like a socket,
//! so that its bodies too are read straight into their aligned memory.
//!
//! What it is not: I/O. It never blocks or waits: an input that must wait
//! (a socket) returns `Poll::Pending` from [`ByteInput::poll_read`], and the
//! shell's runtime polls again. Typed progress for timeouts and errors comes
//! from [`FrameDriver::progress`], never from error text.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::BufMut;
use bytes::buf::UninitSlice;
use minarrow::Table;
use minarrow::structs::shared_buffer::SharedBuffer;

use super::stream::{IpcStreamDecoder, StreamItem};
use super::{ReadOptions, Schema};
use crate::error::{Error, ErrorKind, Result};
use crate::framing::ipc::{BodySink, Progress};
use crate::framing::{Decoded, FrameDecoder};

/// Size of the scratch buffer that prefixes, metadata and bodies to relocate
/// are read into (allocated on the first read that needs it).
pub const SCRATCH_BYTES: usize = 64 * 1024;

/// Largest piece [`ReadTarget::read_from`] zero-fills and reads at once into
/// a body (a `std::io::Read` needs initialized memory).
const READ_STEP: usize = 64 * 1024;

/// Bytes an input holds in memory that the decoder has not been offered yet.
#[derive(Debug)]
pub enum Pending<'a> {
    /// None: the input must be read ([`ByteInput::poll_read`]).
    None,
    /// Memory the tables cannot point into: each body is copied once.
    Slice(&'a [u8]),
    /// Shared memory (a map, a received buffer): a message that lies wholly
    /// inside it keeps its body there, its aligned buffers borrowed.
    Shared(SharedBuffer),
}

/// Where an [`IpcStreamDriver`] gets its bytes: in memory ([`ByteInput::pending`]
/// and [`ByteInput::consume`]) or read on demand ([`ByteInput::poll_read`]),
/// or both (in-memory bytes are offered first).
///
/// The inputs here cover memory ([`SliceInput`], [`SharedInput`]) and blocking
/// readers ([`ReadInput`]); a shell implements it for its own source.
///
/// ```
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{write_stream, IpcStreamDriver, ReadOptions, Schema, SliceInput};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let bytes = write_stream(&Schema::from_table(&table), &[table], &Default::default())?;
/// let mut input = SliceInput::new(&bytes, 0);
/// let (schema, tables) = IpcStreamDriver::new(ReadOptions::default()).read_all(&mut input)?;
/// assert_eq!((schema.fields[0].name.as_str(), tables[0].n_rows), ("id", 3));
/// assert!(input.is_used_up());
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub trait ByteInput {
    /// What a read of the input can fail with (`Infallible` for memory).
    type Error;

    /// Bytes already in memory, offered before anything is read.
    fn pending(&self) -> Pending<'_> {
        Pending::None
    }

    /// The first `n` bytes of [`ByteInput::pending`] were decoded.
    fn consume(&mut self, n: usize) {
        let _ = n;
    }

    /// Writes the input's next bytes into `target` (a [`BufMut`]; at most
    /// its `remaining_mut()`). Writing nothing means the input has ended (or,
    /// for a transport message, is used up). The default writes nothing.
    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        target: &mut ReadTarget<'_>,
    ) -> Poll<Result<(), Self::Error>> {
        let _ = (cx, target);
        Poll::Ready(Ok(()))
    }
}

/// A byte slice as an input: decoded where it lies, each body copied once.
#[derive(Debug, Clone, Copy)]
pub struct SliceInput<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> SliceInput<'a> {
    /// `bytes` from offset `at` on.
    pub fn new(bytes: &'a [u8], at: usize) -> Self {
        SliceInput {
            bytes,
            at: at.min(bytes.len()),
        }
    }

    /// Offset of the first byte not yet decoded.
    pub fn position(&self) -> usize {
        self.at
    }

    /// True once every byte was decoded.
    pub fn is_used_up(&self) -> bool {
        self.at >= self.bytes.len()
    }
}

impl ByteInput for SliceInput<'_> {
    type Error = Infallible;

    fn pending(&self) -> Pending<'_> {
        Pending::Slice(self.bytes.get(self.at..).unwrap_or(&[]))
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.bytes.len());
    }
}

/// A [`SharedBuffer`] as an input: messages that lie wholly inside it keep
/// their bodies there (see [`IpcStreamDecoder::push_shared`]).
#[derive(Debug, Clone)]
pub struct SharedInput {
    bytes: SharedBuffer,
    at: usize,
}

impl SharedInput {
    /// `bytes` from offset `at` on.
    pub fn new(bytes: SharedBuffer, at: usize) -> Self {
        let at = at.min(bytes.len());
        SharedInput { bytes, at }
    }

    /// Offset of the first byte not yet decoded.
    pub fn position(&self) -> usize {
        self.at
    }
}

impl ByteInput for SharedInput {
    type Error = Infallible;

    fn pending(&self) -> Pending<'_> {
        if self.at >= self.bytes.len() {
            return Pending::None;
        }
        Pending::Shared(self.bytes.slice(self.at..))
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.bytes.len());
    }
}

/// A blocking `std::io::Read` (a file, a pipe, stdin) as an input: bodies are
/// read straight into aligned memory (see [`ReadTarget::read_from`]).
#[derive(Debug)]
pub struct ReadInput<R> {
    /// The reader.
    pub inner: R,
}

impl<R: std::io::Read> ByteInput for ReadInput<R> {
    type Error = std::io::Error;

    fn poll_read(
        &mut self,
        _cx: &mut Context<'_>,
        target: &mut ReadTarget<'_>,
    ) -> Poll<Result<(), std::io::Error>> {
        Poll::Ready(target.read_from(&mut self.inner).map(|_| ()))
    }
}

/// Where the driver wants an input's next bytes: the aligned memory of the
/// body being received, or the scratch buffer. A [`BufMut`].
pub struct ReadTarget<'a> {
    place: Place<'a>,
    written: usize,
    wanted: usize,
}

enum Place<'a> {
    Body(BodySink<'a>),
    /// The scratch buffer, grown to `size` on first use.
    Scratch {
        buf: &'a mut Vec<u8>,
        size: usize,
    },
}

impl ReadTarget<'_> {
    /// True when the bytes go straight into a body's aligned memory.
    pub fn is_body(&self) -> bool {
        matches!(self.place, Place::Body(_))
    }

    /// Bytes the decoder needs next: the rest of a prefix, of the metadata
    /// (after which a body may go in place), or of the body. An input whose
    /// every read is a copy it sizes (a JavaScript array) copies at most this
    /// much, so that no body byte passes through the scratch buffer that
    /// could have gone in place; a socket reads what it has. `usize::MAX`
    /// when the decoder gives no hint ([`FrameDecoder::bytes_wanted`]).
    pub fn wanted(&self) -> usize {
        self.wanted
    }

    /// Bytes written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Reads once from `reader` into the target (retrying on `Interrupted`),
    /// returning the bytes read (0: the reader has ended). A body's memory
    /// is zero-filled first, at most 64 KiB per call, since
    /// `std::io::Read` takes initialized memory.
    pub fn read_from<R: std::io::Read + ?Sized>(
        &mut self,
        reader: &mut R,
    ) -> std::io::Result<usize> {
        let n = loop {
            let r = match &mut self.place {
                Place::Scratch { buf, size } => {
                    if buf.len() < *size {
                        buf.resize(*size, 0);
                    }
                    // `written <= size <= buf.len()` (resized just above).
                    #[allow(clippy::indexing_slicing)]
                    reader.read(&mut buf[self.written..*size])
                }
                Place::Body(sink) => {
                    let chunk = sink.chunk_mut();
                    let len = chunk.len().min(READ_STEP);
                    let ptr = chunk.as_mut_ptr();
                    // SAFETY: `ptr` starts `len` writable bytes (a part of
                    // the chunk the sink handed out); they are zero-filled
                    // before being viewed as initialized `u8`s.
                    let dst = unsafe {
                        std::ptr::write_bytes(ptr, 0, len);
                        std::slice::from_raw_parts_mut(ptr, len)
                    };
                    reader.read(dst).map(|n| n.min(len))
                }
            };
            match r {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        // SAFETY: the reader initialized the first `n` bytes of the chunk
        // (they were zero-filled or already initialized besides).
        unsafe { self.advance_mut(n) };
        Ok(n)
    }
}

// SAFETY: `chunk_mut` hands out the body sink's chunk (itself a sound
// `BufMut`) or the unwritten part of the scratch buffer; `advance_mut`
// delegates to the sink or moves the scratch's fill mark, never past the
// buffer's end.
unsafe impl BufMut for ReadTarget<'_> {
    fn remaining_mut(&self) -> usize {
        match &self.place {
            Place::Body(sink) => sink.remaining(),
            Place::Scratch { size, .. } => size - self.written,
        }
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        let cnt = cnt.min(self.remaining_mut());
        if let Place::Body(sink) = &mut self.place {
            // SAFETY: the caller initialized `cnt` bytes of the sink's chunk.
            unsafe { sink.advance_mut(cnt) };
        }
        self.written += cnt;
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        match &mut self.place {
            Place::Body(sink) => sink.chunk_mut(),
            Place::Scratch { buf, size } => {
                if buf.len() < *size {
                    buf.resize(*size, 0);
                }
                // `written <= size <= buf.len()` (resized just above).
                #[allow(clippy::indexing_slicing)]
                UninitSlice::new(&mut buf[self.written..*size])
            }
        }
    }
}

/// What stopped an [`IpcStreamDriver`].
#[derive(Debug)]
pub enum DriveError<E> {
    /// The bytes are not a valid IPC stream (or exceed the limits).
    Decode(Error),
    /// The input failed to read.
    Input(E),
}

impl<E> From<Error> for DriveError<E> {
    fn from(e: Error) -> Self {
        DriveError::Decode(e)
    }
}

impl<E: fmt::Display> fmt::Display for DriveError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriveError::Decode(e) => e.fmt(f),
            DriveError::Input(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for DriveError<E> {}

impl From<DriveError<Infallible>> for Error {
    /// An in-memory input cannot fail to read.
    fn from(e: DriveError<Infallible>) -> Error {
        match e {
            DriveError::Decode(e) => e,
            DriveError::Input(never) => match never {},
        }
    }
}

/// What stopped [`FrameDriver::next_in_message`]: bytes that are not
/// a valid IPC stream, or a transport message that ended inside an IPC
/// message.
#[derive(Debug)]
pub enum MessageError {
    /// The bytes are not a valid IPC stream (or exceed the limits).
    Decode(Error),
    /// The transport message ended inside an IPC message.
    Split {
        /// 1-based number of the transport message.
        transport_message: u64,
        /// 0-based index of the IPC message it cut.
        ipc_message: u64,
        /// How far that IPC message had got.
        progress: Progress,
    },
}

impl From<Error> for MessageError {
    fn from(e: Error) -> Self {
        MessageError::Decode(e)
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::Decode(e) => e.fmt(f),
            MessageError::Split {
                transport_message,
                ipc_message,
                progress,
            } => write!(
                f,
                "message {transport_message} ended inside an Arrow IPC message (IPC message \
                 {ipc_message}, in {progress}); each message must hold whole IPC messages"
            ),
        }
    }
}

impl std::error::Error for MessageError {}

/// A whole stream: its schema and every table.
pub type SchemaAndTables = (Arc<Schema>, Vec<Table>);

/// The driver of an Arrow IPC stream: [`FrameDriver`] over an
/// [`IpcStreamDecoder`], plus the stream's rules (typed progress, one IPC
/// message per transport message, reading a whole stream). It is the one loop
/// every shell feeds its bytes through. It decides where each byte goes (decoded
/// where it lies, read straight into a body's aligned memory, or through a
/// small scratch buffer); [the core API guide] has the whole story.
///
/// A blocking reader (here a `Cursor`; a file, a pipe, stdin alike) read item
/// by item:
///
/// ```
/// use std::io::Cursor;
/// use lightstream_core::minarrow::{fa_i64, tbl};
/// use lightstream_core::{DriveError, IpcStreamDriver, ReadInput, ReadOptions, StreamItem};
/// use lightstream_core::{write_stream, Schema, WriteOptions};
///
/// let table = tbl!("t", fa_i64!("id", 1, 2, 3));
/// let schema = Schema::from_table(&table);
/// let bytes = write_stream(&schema, &[table.clone(), table], &WriteOptions::default())?;
///
/// let mut driver = IpcStreamDriver::new(ReadOptions::default());
/// let mut input = ReadInput { inner: Cursor::new(bytes) };
/// let mut rows = 0;
/// loop {
///     match driver.next_item(&mut input) {
///         Ok(Some(StreamItem::Table(t))) => rows += t.n_rows,
///         Ok(Some(StreamItem::Schema(_))) => {}
///         Ok(Some(StreamItem::End)) | Ok(None) => break,
///         Err(DriveError::Decode(e)) => return Err(e.into()),
///         Err(DriveError::Input(io)) => return Err(io.into()),
///     }
/// }
/// assert_eq!(rows, 6);
/// assert_eq!(driver.decoder().messages_decoded(), 3); // the schema and 2 batches
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [the core API guide]: https://github.com/lightstream-rs/lightstream/blob/main/docs/core-api.md#driving-the-decoder-from-a-transport
pub type IpcStreamDriver = FrameDriver<IpcStreamDecoder>;

/// Drives a [`FrameDecoder`] from a [`ByteInput`]: see the module docs.
pub struct FrameDriver<D> {
    decoder: D,
    scratch: Vec<u8>,
    scratch_size: usize,
    /// `scratch[pos..end]` was read but not yet offered to the decoder.
    pos: usize,
    end: usize,
    reads: u64,
    bytes_read: u64,
    in_place: u64,
    transport_messages: u64,
}

impl<D: FrameDecoder> FrameDriver<D> {
    /// A driver of `decoder` whose scratch buffer (what reads go into when
    /// the decoder has no [`BodySink`] open) holds `scratch_bytes` (at least
    /// 8), allocated on the first read.
    pub fn with_decoder(decoder: D, scratch_bytes: usize) -> Self {
        FrameDriver {
            decoder,
            scratch: Vec::new(),
            scratch_size: scratch_bytes.max(8),
            pos: 0,
            end: 0,
            reads: 0,
            bytes_read: 0,
            in_place: 0,
            transport_messages: 0,
        }
    }

    /// The decoder (for an IPC stream: schema, fields, dictionaries, counters).
    pub fn decoder(&self) -> &D {
        &self.decoder
    }

    /// The decoder, to change its settings between frames.
    pub fn decoder_mut(&mut self) -> &mut D {
        &mut self.decoder
    }

    /// The decoder; bytes read but not yet decoded are dropped.
    pub fn into_decoder(self) -> D {
        self.decoder
    }

    /// Reads of the input that brought bytes.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// Bytes read from the input ([`ByteInput::poll_read`]; in-memory
    /// bytes are not counted).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Of [`IpcStreamDriver::bytes_read`], the bytes read straight into the
    /// aligned memory of a body (no copy after the read).
    pub fn bytes_read_in_place(&self) -> u64 {
        self.in_place
    }

    /// The next frame (for an IPC stream, item) from `input`, or `Ok(None)`
    /// when the input has ended (call [`FrameDecoder::finish`] to check how).
    ///
    /// Inputs are taken as trait objects: every input with the same error
    /// type shares one copy of the loop (a smaller `.wasm`); the dispatch
    /// costs a few calls per read, not per byte.
    #[inline(never)]
    pub fn poll_next<E>(
        &mut self,
        cx: &mut Context<'_>,
        input: &mut dyn ByteInput<Error = E>,
    ) -> Poll<Result<Option<D::Frame>, DriveError<E>>> {
        loop {
            // 1. Bytes read into the scratch buffer earlier, else 2. bytes the
            // input holds in memory, decoded where they lie.
            let (step, offered, from_scratch) = if self.pos < self.end {
                // `pos < end <= scratch.len()`: `end` marks bytes read into it (`advance_mut` caps them).
                #[allow(clippy::indexing_slicing)]
                let b = &self.scratch[self.pos..self.end];
                (self.decoder.decode(b)?, b.len(), true)
            } else {
                match input.pending() {
                    Pending::Slice(b) if !b.is_empty() => (self.decoder.decode(b)?, b.len(), false),
                    Pending::Shared(b) if !b.is_empty() => {
                        (self.decoder.decode_shared(&b)?, b.len(), false)
                    }
                    _ => (Decoded::NeedMore, 0, false),
                }
            };
            if offered > 0 {
                let used = match &step {
                    Decoded::Frame { consumed, .. } => *consumed,
                    Decoded::NeedMore => offered,
                };
                if from_scratch {
                    self.pos += used;
                } else {
                    input.consume(used);
                }
                if let Decoded::Frame { frame, .. } = step {
                    return Poll::Ready(Ok(Some(frame)));
                }
                continue;
            }
            // 3. A read: into the body's aligned memory, or the scratch buffer.
            let wanted = self.decoder.bytes_wanted();
            let mut target = match self.decoder.body_sink() {
                Some(sink) => ReadTarget {
                    wanted: sink.remaining(),
                    place: Place::Body(sink),
                    written: 0,
                },
                None => ReadTarget {
                    place: Place::Scratch {
                        buf: &mut self.scratch,
                        size: self.scratch_size,
                    },
                    written: 0,
                    wanted,
                },
            };
            let polled = input.poll_read(cx, &mut target);
            let (n, in_place) = (target.written, target.is_body());
            match polled {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(DriveError::Input(e))),
                Poll::Pending if n == 0 => return Poll::Pending,
                // Bytes written before `Pending` are kept.
                Poll::Ready(Ok(())) | Poll::Pending => {}
            }
            if n == 0 {
                return Poll::Ready(Ok(None));
            }
            self.reads += 1;
            self.bytes_read += n as u64;
            if in_place {
                self.in_place += n as u64;
                if let Some(item) = self.decoder.take_body()? {
                    return Poll::Ready(Ok(Some(item)));
                }
            } else {
                (self.pos, self.end) = (0, n);
            }
        }
    }

    /// [`IpcStreamDriver::poll_next`] for an input that never waits (memory,
    /// a blocking reader, a JavaScript array). An input that returns
    /// `Poll::Pending` anyway is an error of kind [`ErrorKind::Io`].
    pub fn next_item<E>(
        &mut self,
        input: &mut dyn ByteInput<Error = E>,
    ) -> Result<Option<D::Frame>, DriveError<E>> {
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_next(&mut cx, input) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(DriveError::Decode(Error::new(
                ErrorKind::Io,
                "the input is not ready: a blocking driver call over an input that waits",
            ))),
        }
    }
}

/// What the driver's one-message rule and a shell's timeouts need to know
/// of a decoder of encapsulated IPC messages, whatever it makes of them
/// (tables: [`IpcStreamDecoder`]; the messages themselves:
/// [`crate::ipc::IpcMessageDecoder`]).
pub trait MessageProgress {
    /// How far the decoder is into the message it is receiving.
    fn progress(&self) -> Progress;

    /// IPC messages completed so far (the end-of-stream marker excluded).
    fn messages_decoded(&self) -> u64;

    /// True once the end-of-stream marker was read.
    fn is_ended(&self) -> bool;
}

impl MessageProgress for IpcStreamDecoder {
    fn progress(&self) -> Progress {
        IpcStreamDecoder::progress(self)
    }

    fn messages_decoded(&self) -> u64 {
        IpcStreamDecoder::messages_decoded(self)
    }

    fn is_ended(&self) -> bool {
        IpcStreamDecoder::is_ended(self)
    }
}

/// The rules of IPC messages carried in transport messages, for every
/// decoder of IPC messages.
impl<D: FrameDecoder + MessageProgress> FrameDriver<D> {
    /// How far the decoder is into the message it is receiving.
    pub fn progress(&self) -> Progress {
        self.decoder.progress()
    }

    /// Transport messages used up by [`FrameDriver::next_in_message`].
    pub fn transport_messages(&self) -> u64 {
        self.transport_messages
    }

    /// The next item of one transport message (a WebSocket binary message;
    /// HTTP chunks later; its bytes in memory) that must hold
    /// whole IPC messages: `Ok(None)` once the message is used up, and then
    /// [`MessageError::Split`] if it ended inside an IPC message. An empty
    /// message is used up at once (ignored). Call it again with the rest of
    /// the same message after each item.
    pub fn next_in_message(
        &mut self,
        input: &mut dyn ByteInput<Error = Infallible>,
    ) -> Result<Option<D::Frame>, MessageError> {
        if let Some(item) = self.next_item(input).map_err(Error::from)? {
            return Ok(Some(item));
        }
        self.transport_messages += 1;
        let progress = self.decoder.progress();
        if !progress.is_at_boundary() {
            return Err(MessageError::Split {
                transport_message: self.transport_messages,
                ipc_message: self.decoder.messages_decoded(),
                progress,
            });
        }
        Ok(None)
    }
}

/// The IPC stream's driver. Its methods are not generic, so that every
/// shell shares the one copy compiled in this crate (a generic method is
/// compiled again in each crate that calls it: a larger `.wasm`).
impl IpcStreamDriver {
    /// [`FrameDriver::next_item`] for an input that cannot fail to read
    /// (memory, a JavaScript array): the decoder's errors only. (Another
    /// decoder's driver: `next_item(input).map_err(Error::from)`.)
    pub fn next_in_memory(
        &mut self,
        input: &mut dyn ByteInput<Error = Infallible>,
    ) -> Result<Option<StreamItem>> {
        self.next_item(input).map_err(Error::from)
    }

    /// A driver of a new decoder with `options`, with a 64 KiB scratch buffer.
    pub fn new(options: ReadOptions) -> Self {
        Self::with_scratch(options, SCRATCH_BYTES)
    }

    /// A driver whose scratch buffer (for reads of prefixes, metadata and
    /// bodies to relocate) holds `scratch_bytes` (at least 8).
    pub fn with_scratch(options: ReadOptions, scratch_bytes: usize) -> Self {
        Self::with_decoder(IpcStreamDecoder::new(options), scratch_bytes)
    }

    /// Decodes a whole input: the schema and every table up to the input's
    /// end or its end-of-stream marker, which must be a message boundary
    /// after the schema.
    pub fn read_all(
        &mut self,
        input: &mut dyn ByteInput<Error = Infallible>,
    ) -> Result<SchemaAndTables> {
        let mut tables = Vec::new();
        while let Some(item) = self.next_in_memory(input)? {
            match item {
                StreamItem::Schema(_) => {}
                StreamItem::Table(t) => tables.push(t),
                StreamItem::End => break,
            }
        }
        self.decoder.finish()?;
        let schema = self
            .decoder
            .schema()
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::Truncated, "no schema message"))?;
        Ok((schema, tables))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minarrow::{fa_i64, fa_str32, tbl};
    use crate::{Schema, WriteOptions, write_stream};

    fn stream(alignment: usize) -> Vec<u8> {
        let t = tbl!("t", fa_i64!("n", 1, 2, 3), fa_str32!("s", "a", "bb", "ccc"));
        let tables = vec![t.clone(), t.clone(), t];
        let options = WriteOptions {
            alignment,
            ..WriteOptions::default()
        };
        write_stream(&Schema::from_table(&tables[0]), &tables, &options).unwrap()
    }

    /// A reader that hands out at most `step` bytes per read.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.step).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn every_input_kind_gives_the_same_tables() {
        for alignment in [64, 8] {
            let bytes = stream(alignment);
            let (_, want) = IpcStreamDriver::new(ReadOptions::default())
                .read_all(&mut SliceInput::new(&bytes, 0))
                .unwrap();
            assert_eq!(want.len(), 3);
            let shared = crate::aligned_copy(&bytes);
            let (_, got) = IpcStreamDriver::new(ReadOptions::default())
                .read_all(&mut SharedInput::new(shared, 0))
                .unwrap();
            assert_eq!(got, want);
            for step in [1, 7, 64, 1 << 20] {
                let mut d = IpcStreamDriver::with_scratch(ReadOptions::default(), 100);
                let mut input = ReadInput {
                    inner: Trickle {
                        bytes: &bytes,
                        step,
                    },
                };
                let mut got = Vec::new();
                while let Some(item) = d.next_item(&mut input).unwrap() {
                    if let StreamItem::Table(t) = item {
                        got.push(t);
                    }
                }
                d.decoder().finish().unwrap();
                assert_eq!(got, want, "alignment {alignment}, step {step}");
                assert_eq!(d.bytes_read(), bytes.len() as u64);
                if alignment == 64 && step > 64 {
                    // 64-byte aligned bodies are read in place.
                    assert!(d.bytes_read_in_place() > 0);
                }
            }
        }
    }

    #[test]
    fn any_frame_decoder_runs_through_the_same_loop() {
        use crate::framing::FrameEncoder;
        use crate::framing::tlv::{TlvDecoder, TlvEncoder};
        let mut bytes = Vec::new();
        TlvEncoder.encode((1, &b"hello"[..]), &mut bytes).unwrap();
        TlvEncoder.encode((2, &[7u8; 300][..]), &mut bytes).unwrap();
        for (step, scratch) in [(1, 8), (7, 100), (1 << 20, 64 * 1024)] {
            let mut d = FrameDriver::with_decoder(TlvDecoder::new(1024), scratch);
            let mut input = ReadInput {
                inner: Trickle {
                    bytes: &bytes,
                    step,
                },
            };
            let mut got = Vec::new();
            while let Some(frame) = d.next_item(&mut input).unwrap() {
                got.push((frame.tag, frame.value.len()));
            }
            d.decoder().finish().unwrap();
            assert_eq!(got, [(1, 5), (2, 300)], "step {step}");
            assert_eq!(d.bytes_read(), bytes.len() as u64);
        }
        // In memory, and a declared length over the limit.
        let mut d = FrameDriver::with_decoder(TlvDecoder::new(10), 8);
        let mut input = SliceInput::new(&bytes, 0);
        assert!(d.next_item(&mut input).unwrap().is_some());
        let e = Error::from(d.next_item(&mut input).unwrap_err());
        assert_eq!(e.kind(), ErrorKind::LimitExceeded);
    }

    #[test]
    fn transport_messages_must_hold_whole_ipc_messages() {
        let bytes = stream(64);
        // Where each IPC message ends, from the decoder's own progress.
        let mut ends = Vec::new();
        let mut d = IpcStreamDecoder::new(ReadOptions::default());
        for i in 0..bytes.len() {
            let _ = d.push(&bytes[i..i + 1]).unwrap();
            if d.is_at_message_boundary() {
                ends.push(i + 1);
            }
        }
        assert!(ends.len() >= 5, "{ends:?}");
        // Whole messages, an empty one among them: every table.
        let mut d = IpcStreamDriver::new(ReadOptions::default());
        let (mut tables, mut start) = (0, 0);
        for &end in &ends {
            for message in [&bytes[start..end], &[][..]] {
                let mut input = SliceInput::new(message, 0);
                while let Some(item) = d.next_in_message(&mut input).unwrap() {
                    tables += matches!(item, StreamItem::Table(_)) as usize;
                }
            }
            start = end;
        }
        assert_eq!(tables, 3);
        assert_eq!(d.transport_messages(), 2 * ends.len() as u64);
        assert!(d.decoder().is_ended());

        // The second IPC message cut 5 bytes short: a typed error saying where.
        let mut d = IpcStreamDriver::new(ReadOptions::default());
        let mut first = SliceInput::new(&bytes[..ends[0]], 0);
        while d.next_in_message(&mut first).unwrap().is_some() {}
        let mut cut = SliceInput::new(&bytes[ends[0]..ends[1] - 5], 0);
        let e = loop {
            match d.next_in_message(&mut cut) {
                Ok(Some(_)) => {}
                Ok(None) => panic!("a cut message must be refused"),
                Err(e) => break e,
            }
        };
        match e {
            MessageError::Split {
                transport_message: 2,
                ipc_message: 1,
                progress: Progress::Body { got, len },
            } => assert_eq!(len - got, 5),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn progress_is_typed_at_every_byte() {
        let bytes = stream(64);
        let mut d = IpcStreamDecoder::new(ReadOptions::default());
        assert_eq!(d.progress(), Progress::Idle);
        let _ = d.push(&bytes[..3]).unwrap();
        assert_eq!(d.progress(), Progress::Prefix { got: 3 });
        let _ = d.push(&bytes[3..10]).unwrap();
        assert!(
            matches!(d.progress(), Progress::Metadata { got: 2, len } if len > 2),
            "{:?}",
            d.progress()
        );
        assert!(!d.is_at_message_boundary());
    }
}
