//! Frames of the application's own over any byte stream: a
//! [`FramedByteStream`] reads frames with a [`FrameDecoder`], a [`FramedSink`]
//! writes them with a [`FrameEncoder`] (tokio-util's `FramedRead` /
//! `FramedWrite`, on the core's traits).
//!
//! What it is for: a protocol that is not an Arrow IPC stream (newline- or
//! length-delimited records, the core's TLV frames, Arrow data inside a
//! framing of your own) over TCP, Unix sockets, TLS, stdio, a QUIC stream or
//! anything else that is an `AsyncRead` / `AsyncWrite`.
//! [`Connection::into_framed`] gives both halves for a [`crate::connect`]ed
//! or accepted peer of a byte transport.
//!
//! The read side runs the core's one decoder loop, [`FrameDriver`], the loop
//! every Arrow IPC reader runs: reads go into its fixed scratch buffer (the
//! `buffer_bytes` given) and the decoder takes what it needs from there, so
//! the adapter never buffers a whole frame. A frame's memory is the
//! decoder's: it must check each declared length against its limit before
//! reserving anything (the core's [`lightstream_core::framing::tlv::TlvDecoder`]
//! does, and reserves only what has arrived). A stream that ends between
//! frames ends cleanly (`None`); one that ends inside a frame yields
//! [`Error::Framing`] of kind `Truncated`. Every error names the peer.
//!
//! Arrow tables in TLV frames: [`Connection::tlv_reader`] and
//! [`Connection::tlv_writer`] carry an Arrow IPC stream with one
//! encapsulated IPC message per TLV frame of tag [`TLV_IPC_MESSAGE`]
//! (docs/native-api.md, "Custom framing"), for peers that frame everything
//! they exchange in TLV. They are a [`crate::TableReader`] and
//! [`crate::TableWriter`] like any other: the TLV frames are a message
//! transport of the seam, as WebSocket messages are.
//!
//! What it is not: a transport. A message transport (WebSocket) has no byte
//! stream to frame.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use lightstream_core::framing::tlv::{TlvDecoder, TlvFrame, tlv_header};
use lightstream_core::framing::{FrameDecoder, FrameEncoder};
use lightstream_core::{
    EncodedMessage, FrameDriver, ReadOptions, Schema, SharedBuffer, WriteOptions,
};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::reader::{AsyncInput, Input, MessageStream, TableReader, Violation, drive_error};
use crate::writer::{
    ByteSink, Limit, MessageSink, SendError, SinkFuture, TableWriter, write_all_slices,
};

pub use crate::reader::BoxRead;
pub use crate::writer::BoxWrite;

/// A [`Stream`] of the frames a [`FrameDecoder`] finds in an `AsyncRead`.
///
/// Reads only when polled, at most `buffer_bytes` at a time, so a slow
/// consumer slows the peer down through the transport's flow control. After
/// an error, or the end of the input, the stream ends.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> lightstream::Result<()> {
/// use futures_util::StreamExt;
/// use lightstream::framed::FramedByteStream;
/// use lightstream::lightstream_core::framing::tlv::{TlvDecoder, encode_tlv};
///
/// let mut bytes = Vec::new();
/// encode_tlv(1, b"hello", &mut bytes)?;
/// let mut frames = FramedByteStream::new(&bytes[..], TlvDecoder::new(1 << 20), 64 * 1024)
///     .with_peer("a slice");
/// let frame = frames.next().await.expect("a frame")?;
/// assert_eq!((frame.tag, frame.value.as_slice()), (1, &b"hello"[..]));
/// assert!(frames.next().await.is_none(), "a clean end between frames");
/// # Ok(()) }
/// ```
pub struct FramedByteStream<R, D> {
    io: R,
    driver: FrameDriver<D>,
    peer: String,
    frames: u64,
    done: bool,
}

impl<R, D> std::fmt::Debug for FramedByteStream<R, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramedByteStream")
            .field("peer", &self.peer)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin, D: FrameDecoder> FramedByteStream<R, D> {
    /// Frames of `decoder` read from `io`, at most `buffer_bytes` per read
    /// (at least 8; 64 KiB suits a socket). Errors call the other end
    /// "peer" until [`FramedByteStream::with_peer`] names it.
    pub fn new(io: R, decoder: D, buffer_bytes: usize) -> Self {
        FramedByteStream {
            io,
            driver: FrameDriver::with_decoder(decoder, buffer_bytes),
            peer: "peer".to_string(),
            frames: 0,
            done: false,
        }
    }

    /// Names the other end in errors (for example `"tcp 127.0.0.1:9000"`).
    pub fn with_peer(mut self, peer: impl Into<String>) -> Self {
        self.peer = peer.into();
        self
    }

    /// Who the frames come from, as errors name it.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The decoder.
    pub fn decoder(&self) -> &D {
        self.driver.decoder()
    }

    /// The decoder, to change its settings between frames.
    pub fn decoder_mut(&mut self) -> &mut D {
        self.driver.decoder_mut()
    }

    /// Frames read so far.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    /// Bytes read from the input so far.
    pub fn bytes_read(&self) -> u64 {
        self.driver.bytes_read()
    }

    /// The byte stream, and the decoder. Bytes read but not yet decoded
    /// are lost.
    pub fn into_parts(self) -> (R, D) {
        let FramedByteStream { io, driver, .. } = self;
        (io, driver.into_decoder())
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<D::Frame>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let peer = &self.peer;
        let polled = ready!(self.driver.poll_next(cx, &mut AsyncInput(&mut self.io)));
        let framing = |source| Error::Framing {
            peer: peer.clone(),
            source,
        };
        let item = match polled {
            Ok(Some(frame)) => {
                self.frames += 1;
                return Poll::Ready(Some(Ok(frame)));
            }
            // The input ended: cleanly between frames, or inside one.
            Ok(None) => self.driver.decoder().finish().err().map(framing),
            Err(e) => Some(
                match drive_error(e, |e| Error::io(format!("reading from {peer}"), e)) {
                    Error::Codec(source) => framing(source),
                    other => other,
                },
            ),
        };
        self.done = true;
        Poll::Ready(item.map(Err))
    }
}

impl<R: AsyncRead + Unpin, D: FrameDecoder + Unpin> Stream for FramedByteStream<R, D> {
    type Item = Result<D::Frame>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_frame(cx)
    }
}

/// Writes the frames a [`FrameEncoder`] makes to an `AsyncWrite`.
///
/// Frames are encoded into a buffer that is written out once it holds
/// `buffer_bytes` (and by [`FramedSink::flush`] and [`FramedSink::finish`]),
/// so memory stays at `buffer_bytes` plus one frame, and a peer that stops
/// reading stops the writer. A `futures` `Sink` too (`SinkExt::send`,
/// `forward`), where, as with tokio-util's `FramedWrite`, a full buffer is
/// written out before the next frame is taken. After a write failed, every
/// later call fails: the stream may end inside a frame.
pub struct FramedSink<W, E> {
    io: W,
    encoder: E,
    buf: Vec<u8>,
    /// `buf[..written]` is on its way already.
    written: usize,
    buffer_bytes: usize,
    peer: String,
    frames: u64,
    bytes: u64,
    broken: bool,
}

impl<W, E> std::fmt::Debug for FramedSink<W, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramedSink")
            .field("peer", &self.peer)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl<W: AsyncWrite + Unpin, E> FramedSink<W, E> {
    /// Frames of `encoder` written to `io` once `buffer_bytes` have
    /// gathered (0: each frame at once). Errors call the other end "peer"
    /// until [`FramedSink::with_peer`] names it.
    pub fn new(io: W, encoder: E, buffer_bytes: usize) -> Self {
        FramedSink {
            io,
            encoder,
            buf: Vec::new(),
            written: 0,
            buffer_bytes,
            peer: "peer".to_string(),
            frames: 0,
            bytes: 0,
            broken: false,
        }
    }

    /// Names the other end in errors (for example `"tcp 127.0.0.1:9000"`).
    pub fn with_peer(mut self, peer: impl Into<String>) -> Self {
        self.peer = peer.into();
        self
    }

    /// Who the frames go to, as errors name it.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The encoder.
    pub fn encoder(&self) -> &E {
        &self.encoder
    }

    /// Frames encoded so far.
    pub fn frames_written(&self) -> u64 {
        self.frames
    }

    /// Bytes handed to the byte stream so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Encodes one frame, and writes the buffer out once it holds
    /// `buffer_bytes` (with 0, every frame at once). The byte stream's own
    /// buffers (TLS) are pushed through by [`FramedSink::flush`].
    pub async fn send<I>(&mut self, item: I) -> Result<()>
    where
        E: FrameEncoder<I>,
    {
        self.encode(item)?;
        std::future::poll_fn(|cx| self.poll_ready_frame(cx)).await
    }

    /// Writes out every buffered frame and flushes the byte stream.
    pub async fn flush(&mut self) -> Result<()> {
        std::future::poll_fn(|cx| self.poll_flush_all(cx)).await
    }

    /// Flushes, then shuts the byte stream down (TCP: FIN; TLS: close_notify).
    pub async fn finish(mut self) -> Result<u64> {
        std::future::poll_fn(|cx| self.poll_close_all(cx)).await?;
        Ok(self.bytes)
    }

    fn encode<I>(&mut self, item: I) -> Result<()>
    where
        E: FrameEncoder<I>,
    {
        self.check()?;
        self.encoder.encode(item, &mut self.buf)?;
        self.frames += 1;
        Ok(())
    }

    fn check(&self) -> Result<()> {
        if self.broken {
            return Err(Error::io(
                format!("writing to {}", self.peer),
                std::io::Error::other(
                    "an earlier write failed, so the stream may end inside a frame and cannot go on",
                ),
            ));
        }
        Ok(())
    }

    fn io_error(&mut self, e: std::io::Error) -> Error {
        self.broken = true;
        Error::io(format!("writing to {}", self.peer), e)
    }

    /// Writes the buffer out.
    fn poll_write_buf(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.check()?;
        while self.written < self.buf.len() {
            let n = match ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf[self.written..])) {
                Ok(0) => {
                    return Poll::Ready(Err(self.io_error(std::io::ErrorKind::WriteZero.into())));
                }
                Ok(n) => n,
                Err(e) => return Poll::Ready(Err(self.io_error(e))),
            };
            self.written += n;
            self.bytes += n as u64;
        }
        self.buf.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    fn poll_ready_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.buf.len() >= self.buffer_bytes.max(1) {
            ready!(self.poll_write_buf(cx))?;
        }
        Poll::Ready(self.check())
    }

    fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        ready!(self.poll_write_buf(cx))?;
        match ready!(Pin::new(&mut self.io).poll_flush(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(self.io_error(e))),
        }
    }

    fn poll_close_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        ready!(self.poll_flush_all(cx))?;
        match ready!(Pin::new(&mut self.io).poll_shutdown(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(self.io_error(e))),
        }
    }
}

impl<W, E, I> futures_sink::Sink<I> for FramedSink<W, E>
where
    W: AsyncWrite + Unpin,
    E: FrameEncoder<I> + Unpin,
{
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_ready_frame(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: I) -> Result<()> {
        self.get_mut().encode(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_flush_all(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_close_all(cx)
    }
}

impl Connection {
    /// The peer as frames of your own: a [`FramedByteStream`] of `decoder`
    /// and a [`FramedSink`] of `encoder`, each buffering `buffer_bytes`,
    /// errors naming the peer. For TLS this runs the handshake first. Any
    /// transport that is one byte stream has them (`tcp://`, `tls://`,
    /// `unix://`, `stdio:`, [`Connection::from_io`]); a WebSocket or QUIC
    /// connection is an [`Error::Config`] (frame a QUIC stream by hand:
    /// `Connection::into_quic`, then `FramedByteStream::new` over a quinn
    /// `RecvStream`, `FramedSink::new` over a `SendStream`).
    pub async fn into_framed<D, E>(
        self,
        decoder: D,
        encoder: E,
        buffer_bytes: usize,
    ) -> Result<(FramedByteStream<BoxRead, D>, FramedSink<BoxWrite, E>)>
    where
        D: FrameDecoder,
    {
        let (read, write, peer) = self.into_byte_stream().await?;
        Ok((
            FramedByteStream::new(read, decoder, buffer_bytes).with_peer(peer.clone()),
            FramedSink::new(write, encoder, buffer_bytes).with_peer(peer),
        ))
    }
}

/// The TLV tag of a frame holding one encapsulated Arrow IPC message (as the
/// IPC stream format has it: continuation marker, length, metadata, body;
/// the end-of-stream marker is a frame of its own). Other tags are refused.
pub const TLV_IPC_MESSAGE: u8 = 1;

/// Read buffer of a TLV reader: what one read of the socket may bring.
const TLV_READ_BYTES: usize = 64 * 1024;

impl Connection {
    /// Reads one Arrow IPC stream sent as TLV frames, one IPC message per
    /// frame of tag [`TLV_IPC_MESSAGE`]; returns once its schema has
    /// arrived. A frame is refused before anything is reserved for it when
    /// its declared length is over one IPC message at `options.limits`'
    /// largest, and a frame that holds anything but whole IPC messages is an
    /// error ([`Error::Protocol`]), as for a WebSocket message. Any
    /// transport that is one byte stream (see [`Connection::into_framed`]).
    pub async fn tlv_reader(self, options: ReadOptions) -> Result<TableReader> {
        let (read, _, peer) = self.into_byte_stream().await?;
        let decoder = TlvDecoder::new(options.limits.max_message_bytes());
        let frames = FramedByteStream::new(read, decoder, TLV_READ_BYTES).with_peer(peer.clone());
        TableReader::open(
            Input::Messages(Box::new(TlvMessages(frames))),
            peer,
            options,
        )
        .await
    }

    /// Writes one Arrow IPC stream of `schema` as TLV frames, one IPC message
    /// per frame of tag [`TLV_IPC_MESSAGE`] (its header and the message go
    /// out in one vectored write; column data is not copied). Any transport
    /// that is one byte stream (see [`Connection::into_framed`]).
    pub async fn tlv_writer(
        self,
        schema: Arc<Schema>,
        options: WriteOptions,
    ) -> Result<TableWriter> {
        let (_, write, peer) = self.into_byte_stream().await?;
        TableWriter::new(Box::new(TlvSink(ByteSink(write))), peer, schema, options)
    }
}

/// TLV frames as the reader's message stream: each frame's value is one
/// message.
struct TlvMessages(FramedByteStream<BoxRead, TlvDecoder>);

/// A TLV value as the payload type of message streams (no copy).
struct Value(SharedBuffer);

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl MessageStream for TlvMessages {
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        let TlvFrame { tag, value } = match ready!(self.0.poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Poll::Ready(Some(Err(e))),
            // Not a byte came (a port probe): what the byte transports say.
            None if self.0.bytes_read() == 0 => {
                let peer = self.0.peer().to_string();
                return Poll::Ready(Some(Err(Error::EmptyConnection { peer })));
            }
            None => return Poll::Ready(None),
        };
        if tag != TLV_IPC_MESSAGE {
            return Poll::Ready(Some(Err(Error::Protocol(format!(
                "{} sent a TLV frame of tag {tag}; Arrow IPC messages come in frames of tag \
                 {TLV_IPC_MESSAGE}",
                self.0.peer()
            )))));
        }
        Poll::Ready(Some(Ok(Bytes::from_owner(Value(value)))))
    }

    /// TLV has no way to tell the peer why: the connection just closes.
    fn poll_refuse(&mut self, _: &mut Context<'_>, _: Violation, _: &str) -> Poll<()> {
        Poll::Ready(())
    }

    fn unit(&self) -> &'static str {
        "TLV frame"
    }
}

/// A byte stream's sink that puts each IPC message in a TLV frame.
struct TlvSink(ByteSink<BoxWrite>);

impl MessageSink for TlvSink {
    fn send<'a>(
        &'a mut self,
        message: &'a EncodedMessage<'_>,
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let header = tlv_header(TLV_IPC_MESSAGE, message.len())
                .map_err(|e| SendError::Failed(Error::Codec(e)))?;
            let mut slices = vec![IoSlice::new(&header)];
            slices.extend(message.io_slices());
            write_all_slices(&mut self.0.0, slices, limit).await
        })
    }

    fn send_shared<'a>(
        &'a mut self,
        messages: &'a [Bytes],
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let headers = messages
                .iter()
                .map(|m| tlv_header(TLV_IPC_MESSAGE, m.len()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| SendError::Failed(Error::Codec(e)))?;
            let slices = headers
                .iter()
                .zip(messages)
                .flat_map(|(h, m)| [IoSlice::new(h), IoSlice::new(m)])
                .collect();
            write_all_slices(&mut self.0.0, slices, limit).await
        })
    }

    fn abort<'a>(&'a mut self, peer: &'a str, reason: &'a str) -> SinkFuture<'a, ()> {
        self.0.abort(peer, reason)
    }

    fn finish<'a>(
        &'a mut self,
        peer: &'a str,
        limit: Option<Duration>,
    ) -> SinkFuture<'a, Result<()>> {
        self.0.finish(peer, limit)
    }
}
