//! [`MessageReader`] and [`MessageWriter`]: an Arrow IPC stream as whole
//! encapsulated messages ([`IpcMessage`]: bytes and kind), for forwarding it
//! without decoding a value (a relay, a hub's feed, a stream-to-stream copy).
//!
//! Any valid Arrow stream passes, whatever its types: lists, structs, maps,
//! binary, views, dictionaries with deltas and replacements. The reader is
//! the [`TableReader`](crate::TableReader)'s machinery (the one driver of the
//! core, the same transports, idle timeout and end-of-input rules) over the
//! core's [`IpcMessageDecoder`] instead of its decoder of tables: framing,
//! metadata and every length are checked against the [`DecodeLimits`], the
//! stream's order too (schema first; dictionaries for ids the schema
//! declares), but no body is read. Each message is what the producer sent,
//! byte for byte (see [`IpcMessageDecoder`] for the two repairs of legacy
//! framing). The writer sends such messages on any transport without a copy
//! ([`IpcMessage`] bytes are shared: vectored writes, WebSocket frames that
//! slice them).
//!
//! What it is not: a decoder. A message may hold values a decoder refuses
//! (invalid UTF-8, keys out of range); its reader downstream says so.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> lightstream::Result<()> {
//! use lightstream::minarrow::{fa_i64, tbl};
//! use lightstream::{DecodeLimits, MessageReader, MessageWriter, Schema};
//! use futures_util::StreamExt;
//!
//! let table = tbl!("t", fa_i64!("id", 1, 2, 3));
//! let bytes = lightstream::write_stream(&Schema::from_table(&table), &[table], &Default::default())?;
//! let mut reader =
//!     MessageReader::from_async_read(std::io::Cursor::new(bytes.clone()), "memory", DecodeLimits::default()).await?;
//! let (out, mut copy) = tokio::io::duplex(1 << 16);
//! let mut writer = MessageWriter::from_async_write(out, "pipe");
//! writer.send(reader.schema()).await?;
//! while let Some(message) = reader.next().await {
//!     writer.send(&message?).await?;
//! }
//! writer.finish().await?; // the end-of-stream marker
//! let mut forwarded = Vec::new();
//! tokio::io::AsyncReadExt::read_to_end(&mut copy, &mut forwarded).await.expect("the pipe");
//! assert_eq!(forwarded, bytes);
//! # Ok(()) }
//! ```

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use lightstream_core::{
    DecodeLimits, ErrorKind, IpcMessage, IpcMessageDecoder, IpcMessageDriver, MessageKind,
};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{Error, Result};
use crate::reader::{Feed, Input, State};
use crate::writer::{ByteSink, Limit, MessageSink, broken_stream};

/// A stream of the [`IpcMessage`]s of one Arrow IPC stream, after its schema.
///
/// Created by [`crate::Connection::message_reader`] or
/// [`MessageReader::from_async_read`] (a blocking reader, a file: the core's
/// [`IpcMessageDriver`] over a `ReadInput`). The schema message has been
/// read by the time you hold one ([`MessageReader::schema`]); the stream
/// yields the dictionary and record batches that follow, in order, and ends
/// after the end-of-stream marker (which it does not yield: a
/// [`MessageWriter`] sends its own on `finish`). An input that stops before
/// the marker is an error of kind [`ErrorKind::Truncated`] (see
/// [`MessageReader::set_require_end_marker`]). After an error the stream ends.
/// Another stream may follow on the same input (a producer that writes
/// several back to back): [`MessageReader::next_stream`] goes on to it.
///
/// Memory: one message at a time (within the limits) plus a small scratch
/// buffer; a message body is read straight into aligned memory, then copied
/// once into the message's own bytes.
pub struct MessageReader {
    feed: Feed<IpcMessageDecoder>,
    schema: IpcMessage,
    bytes: u64,
}

impl std::fmt::Debug for MessageReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReader")
            .field("peer", &self.feed.peer)
            .field("messages", &self.feed.items)
            .finish_non_exhaustive()
    }
}

impl MessageReader {
    /// Reads an Arrow IPC stream from any byte source (a socket, a pipe,
    /// stdin); `peer` names it in errors. Returns once the schema message
    /// has arrived.
    pub async fn from_async_read<R>(
        inner: R,
        peer: impl Into<String>,
        limits: DecodeLimits,
    ) -> Result<MessageReader>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        Self::open(Input::Bytes(Box::new(inner)), peer.into(), limits).await
    }

    /// Reads one Arrow IPC stream from what a transport delivers; returns
    /// once the schema message has arrived.
    pub(crate) async fn open(
        input: Input,
        peer: String,
        limits: DecodeLimits,
    ) -> Result<MessageReader> {
        let mut feed = Feed::new(input, peer, IpcMessageDriver::new(limits), "messages");
        let schema = feed.first().await?;
        // The decoder refuses anything but the schema first.
        if schema.kind() != MessageKind::Schema {
            return Err(feed.no_schema());
        }
        let bytes = schema.len() as u64;
        Ok(MessageReader {
            feed,
            schema,
            bytes,
        })
    }

    /// The stream's schema message.
    pub fn schema(&self) -> &IpcMessage {
        &self.schema
    }

    /// Who the messages come from, as errors name it.
    pub fn peer(&self) -> &str {
        &self.feed.peer
    }

    /// Messages read after the schema (dictionary and record batches).
    pub fn messages_read(&self) -> u64 {
        self.feed.items
    }

    /// Bytes of the messages read so far, the schema's included.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Of the bytes read from a byte transport, those read straight into
    /// aligned memory (message bodies); see [`crate::TableReader::bytes_read_in_place`].
    pub fn bytes_read_in_place(&self) -> u64 {
        self.feed.driver.bytes_read_in_place()
    }

    /// Whether an input that ends without the end-of-stream marker is an
    /// error (`true`, the default); see [`crate::TableReader::set_require_end_marker`].
    pub fn set_require_end_marker(&mut self, require: bool) {
        self.feed.set_require_end_marker(require);
    }

    /// Ends the stream when no IPC message completes for `timeout`; see
    /// [`crate::TableReader::set_idle_timeout`], whose rules these are.
    pub fn set_idle_timeout(&mut self, timeout: Option<Duration>) {
        self.feed.set_idle_timeout(timeout);
    }

    /// The idle timeout (see [`MessageReader::set_idle_timeout`]).
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.feed.idle_timeout()
    }

    /// Lets a large message take longer than the idle timeout while it
    /// arrives at `bytes_per_second`; see [`crate::TableReader::set_min_rate`].
    pub fn set_min_rate(&mut self, bytes_per_second: Option<u64>) {
        self.feed.set_min_rate(bytes_per_second);
    }

    /// Goes on to the next stream of the same input once this one has
    /// ended at its end-of-stream marker (the stream returned `None`): for a
    /// producer that writes several streams back to back (a schema change,
    /// a restart). `Ok(true)` once the next stream's schema message has
    /// arrived: [`MessageReader::schema`] is now its schema and the reader
    /// yields its messages, checked as a new reader would check them (its
    /// own dictionaries; nothing of the last stream is kept). `Ok(false)`
    /// when the input ended right after the marker, or the stream ended
    /// otherwise (an error, an input that stopped without the marker):
    /// nothing follows. A next stream that breaks off before its schema is
    /// an error of kind [`ErrorKind::Truncated`], one that does not start
    /// with its schema [`ErrorKind::Malformed`]. Called while the stream is
    /// still open, it is an error of kind [`ErrorKind::Schema`] (read its
    /// messages to its end first). Counters go on across streams.
    pub async fn next_stream(&mut self) -> Result<bool> {
        match self.feed.state {
            State::Ended => {}
            State::Done => return Ok(false),
            State::Open => {
                return Err(Error::Codec(lightstream_core::Error::new(
                    ErrorKind::Schema,
                    format!(
                        "the stream from {} has not ended yet: read its messages to its \
                         end-of-stream marker before going on to the next stream",
                        self.feed.peer
                    ),
                )));
            }
        }
        self.feed.driver.decoder_mut().set_streams_follow(true);
        self.feed.state = State::Open;
        match std::future::poll_fn(|cx| self.feed.poll_next(cx)).await {
            // The decoder yields the next stream's schema first or fails.
            Some(Ok(schema)) if schema.kind() == MessageKind::Schema => {
                self.bytes += schema.len() as u64;
                self.schema = schema;
                Ok(true)
            }
            Some(Ok(_)) => Err(self.feed.no_schema()),
            Some(Err(e)) => Err(e),
            None => Ok(false),
        }
    }

    /// Reads every remaining message (not the end-of-stream marker).
    pub async fn read_all(mut self) -> Result<Vec<IpcMessage>> {
        let mut messages = Vec::new();
        while let Some(m) = std::future::poll_fn(|cx| self.poll_message(cx)).await {
            messages.push(m?);
        }
        Ok(messages)
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<IpcMessage>>> {
        let feed = &mut self.feed;
        match ready!(feed.poll_next(cx)) {
            Some(Ok(m)) if m.kind() == MessageKind::EndOfStream => {
                feed.state = State::Ended;
                Poll::Ready(None)
            }
            Some(Ok(m)) => {
                feed.items += 1;
                self.bytes += m.len() as u64;
                Poll::Ready(Some(Ok(m)))
            }
            other => Poll::Ready(other),
        }
    }
}

impl Stream for MessageReader {
    type Item = Result<IpcMessage>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<IpcMessage>>> {
        self.get_mut().poll_message(cx)
    }
}

/// Sends whole [`IpcMessage`]s as one Arrow IPC stream, on any transport,
/// without copying them (their bytes are shared).
///
/// Created by [`crate::Connection::message_writer`] or
/// [`MessageWriter::from_async_write`]. It checks the stream's order, not
/// its contents: the schema message first and once, nothing after the
/// end-of-stream marker (an error of kind [`ErrorKind::Malformed`], and
/// nothing is sent). Dictionary batches must come before the record batches
/// that use them, as the messages of any valid stream do in their order.
/// Write timeouts are [`crate::TableWriter`]'s; after a failed write the
/// stream is broken, as there.
pub struct MessageWriter {
    sink: Box<dyn MessageSink>,
    peer: String,
    schema_sent: bool,
    ended: bool,
    broken: bool,
    messages: u64,
    bytes: u64,
    write_timeout: Option<Duration>,
    min_rate: Option<u64>,
}

impl std::fmt::Debug for MessageWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageWriter")
            .field("peer", &self.peer)
            .field("messages", &self.messages)
            .finish_non_exhaustive()
    }
}

/// An error for a message out of the stream's order.
fn out_of_order(what: &str) -> Error {
    Error::Codec(lightstream_core::Error::new(ErrorKind::Malformed, what))
}

impl MessageWriter {
    /// Writes to any byte sink (a socket, a pipe, stdout); `peer` names it in
    /// errors.
    pub fn from_async_write<W>(inner: W, peer: impl Into<String>) -> MessageWriter
    where
        W: AsyncWrite + Send + Unpin + 'static,
    {
        Self::new(Box::new(ByteSink(inner)), peer.into())
    }

    /// Writes into what a transport built.
    pub(crate) fn new(sink: Box<dyn MessageSink>, peer: String) -> MessageWriter {
        MessageWriter {
            sink,
            peer,
            schema_sent: false,
            ended: false,
            broken: false,
            messages: 0,
            bytes: 0,
            write_timeout: None,
            min_rate: None,
        }
    }

    /// Who the messages go to, as errors name it.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Messages sent so far (the schema's and the end marker included).
    pub fn messages_written(&self) -> u64 {
        self.messages
    }

    /// Bytes sent so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Fails a send when the peer does not take the messages within
    /// `timeout`; see [`crate::TableWriter::set_write_timeout`].
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    /// Lets a send take longer than the write timeout while the peer takes
    /// it at `bytes_per_second`; see [`crate::TableWriter::set_min_rate`].
    pub fn set_min_rate(&mut self, bytes_per_second: Option<u64>) {
        self.min_rate = bytes_per_second.filter(|&r| r > 0);
    }

    /// Sends one message; see [`MessageWriter::send_all`].
    pub async fn send(&mut self, message: &IpcMessage) -> Result<()> {
        self.send_all(std::slice::from_ref(message)).await
    }

    /// Sends `messages` in order (vectored writes on byte transports, one
    /// WebSocket message each). An end-of-stream marker among them ends the
    /// stream (then [`MessageWriter::finish`] only closes). The order is
    /// checked before anything is sent.
    pub async fn send_all(&mut self, messages: &[IpcMessage]) -> Result<()> {
        if self.broken {
            return Err(broken_stream(&self.peer));
        }
        let (mut schema_sent, mut ended) = (self.schema_sent, self.ended);
        for m in messages {
            if ended {
                return Err(out_of_order(
                    "a message after the end-of-stream marker; nothing was sent",
                ));
            }
            match (m.kind(), schema_sent) {
                (MessageKind::Schema, true) => {
                    return Err(out_of_order(
                        "a second schema message in one stream; nothing was sent",
                    ));
                }
                (MessageKind::Schema, false) => schema_sent = true,
                (_, false) => {
                    return Err(out_of_order(
                        "a message before the schema message; nothing was sent",
                    ));
                }
                (MessageKind::EndOfStream, true) => ended = true,
                _ => {}
            }
        }
        let shared: Vec<Bytes> = messages.iter().map(|m| m.bytes().clone()).collect();
        let len: usize = shared.iter().map(Bytes::len).sum();
        // Broken until every message is out (an error, or a future dropped
        // part-way, leaves half a message).
        self.broken = true;
        let limit = Limit::new(self.write_timeout, self.min_rate);
        let (peer, sent) = (&self.peer, self.messages);
        self.sink
            .send_shared(&shared, limit)
            .await
            .map_err(|e| e.into_error(peer, len, || format!("writing message {}", sent + 1)))?;
        self.broken = false;
        (self.schema_sent, self.ended) = (schema_sent, ended);
        self.messages += messages.len() as u64;
        self.bytes += len as u64;
        Ok(())
    }

    /// Sends the end-of-stream marker (unless one was sent) and closes the
    /// sending side as [`crate::TableWriter::finish`] does. A stream without
    /// its schema message is refused (no valid stream lacks one). Returns
    /// the bytes written.
    pub async fn finish(mut self) -> Result<u64> {
        if !self.schema_sent {
            return Err(out_of_order(
                "finishing a stream whose schema message was never sent",
            ));
        }
        if !self.ended {
            self.send(&IpcMessage::end_of_stream()).await?;
        }
        self.sink.finish(&self.peer, self.write_timeout).await?;
        Ok(self.bytes)
    }

    /// Ends the stream without its end-of-stream marker, between two
    /// messages, telling the peer `reason` where the transport can (a
    /// WebSocket closes with status 1008): for a forwarder whose source
    /// failed, so that the peer sees a stream that stopped, not one that
    /// ended.
    pub async fn abort(mut self, reason: &str) {
        self.sink.abort(&self.peer, reason).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use lightstream_core::minarrow::{fa_cat32, fa_i64, tbl};
    use lightstream_core::{Schema, WriteOptions, write_stream};

    /// Two tables whose dictionary grows by a delta.
    fn stream() -> Vec<u8> {
        let a = tbl!("t", fa_i64!("id", 1, 2), fa_cat32!("c", "x", "y"));
        let b = tbl!("t", fa_i64!("id", 3), fa_cat32!("c", "z"));
        let options = WriteOptions {
            unify_dictionaries: true,
            ..WriteOptions::default()
        };
        write_stream(&Schema::from_table(&a), &[a, b], &options).unwrap()
    }

    async fn read(bytes: Vec<u8>, limits: DecodeLimits) -> Result<Vec<IpcMessage>> {
        let r = MessageReader::from_async_read(std::io::Cursor::new(bytes), "test", limits).await?;
        r.read_all().await
    }

    #[tokio::test]
    async fn a_stream_passes_through_byte_for_byte_in_any_chunking() {
        let bytes = stream();
        for chunk in [1, 5, 64, 1 << 20] {
            let (mut tx, rx) = tokio::io::duplex(chunk.max(64));
            let b = bytes.clone();
            let feeder = tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                for piece in b.chunks(chunk) {
                    tx.write_all(piece).await.unwrap();
                }
            });
            let mut r = MessageReader::from_async_read(rx, "duplex", DecodeLimits::default())
                .await
                .unwrap();
            let (out, mut back) = tokio::io::duplex(1 << 20);
            let mut w = MessageWriter::from_async_write(out, "out");
            w.send(r.schema()).await.unwrap();
            let mut kinds = Vec::new();
            while let Some(m) = r.next().await {
                let m = m.unwrap();
                kinds.push(m.kind());
                w.send(&m).await.unwrap();
            }
            assert_eq!(
                kinds,
                [
                    MessageKind::DictionaryBatch {
                        id: 0,
                        delta: false
                    },
                    MessageKind::RecordBatch { rows: 2 },
                    MessageKind::DictionaryBatch { id: 0, delta: true },
                    MessageKind::RecordBatch { rows: 1 },
                ],
                "chunk {chunk}"
            );
            assert_eq!(r.messages_read(), 4);
            assert_eq!(r.bytes_read(), bytes.len() as u64 - 8);
            let sent = w.finish().await.unwrap();
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut back, &mut got)
                .await
                .unwrap();
            assert_eq!(sent, bytes.len() as u64);
            assert!(got == bytes, "chunk {chunk}: the bytes changed");
            feeder.await.unwrap();
        }
    }

    #[tokio::test]
    async fn hostile_input_is_a_typed_error() {
        let bytes = stream();
        // Nothing at all: an empty connection, not a stream.
        let e = read(Vec::new(), DecodeLimits::default()).await.unwrap_err();
        assert!(matches!(e, Error::EmptyConnection { .. }), "{e}");
        // Cut inside the last record batch, and before the end marker.
        for cut in [bytes.len() - 20, bytes.len() - 8] {
            let e = read(bytes[..cut].to_vec(), DecodeLimits::default())
                .await
                .unwrap_err();
            assert_eq!(e.codec_kind(), Some(ErrorKind::Truncated), "{e}");
        }
        // Garbage.
        let e = read(b"GET / HTTP/1.1\r\n\r\n".to_vec(), DecodeLimits::default())
            .await
            .unwrap_err();
        assert_eq!(e.codec_kind(), Some(ErrorKind::Malformed), "{e}");
        // A body length past the limit: refused before it is read.
        let small = DecodeLimits {
            max_body_bytes: 16,
            ..DecodeLimits::default()
        };
        let e = read(bytes.clone(), small).await.unwrap_err();
        assert_eq!(e.codec_kind(), Some(ErrorKind::LimitExceeded), "{e}");
        // A metadata length of 2 GiB.
        let mut huge = vec![0xFF; 4];
        huge.extend_from_slice(&i32::MAX.to_le_bytes());
        huge.extend_from_slice(&[0; 64]);
        let e = read(huge, DecodeLimits::default()).await.unwrap_err();
        assert_eq!(e.codec_kind(), Some(ErrorKind::LimitExceeded), "{e}");
    }

    #[tokio::test]
    async fn streams_that_follow_one_another_are_read_one_after_the_other() {
        let first = stream();
        let t = tbl!("u", fa_i64!("n", 7));
        let second = write_stream(&Schema::from_table(&t), &[t], &WriteOptions::default()).unwrap();
        let open = |bytes: Vec<u8>| {
            MessageReader::from_async_read(
                std::io::Cursor::new(bytes),
                "memory",
                DecodeLimits::default(),
            )
        };
        let kinds = async |r: &mut MessageReader| {
            let mut kinds = Vec::new();
            while let Some(m) = r.next().await {
                kinds.push(m.map(|m| m.kind()));
            }
            kinds
        };
        let mut r = open([first.clone(), second.clone()].concat())
            .await
            .unwrap();
        // Not before this stream has ended.
        let e = r.next_stream().await.unwrap_err();
        assert_eq!(e.codec_kind(), Some(ErrorKind::Schema), "{e}");
        let first_schema = r.schema().clone();
        assert_eq!(kinds(&mut r).await.len(), 4);
        assert!(r.next_stream().await.unwrap());
        assert_ne!(r.schema(), &first_schema);
        assert_eq!(&r.schema().bytes()[..], &second[..r.schema().len()]);
        let rest: Vec<_> = kinds(&mut r)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rest, [MessageKind::RecordBatch { rows: 1 }]);
        // The input ended right after the second stream's marker.
        assert!(!r.next_stream().await.unwrap());
        assert_eq!(r.messages_read(), 5);
        assert_eq!(r.bytes_read(), (first.len() + second.len() - 16) as u64);
        // A next stream that breaks off before its schema is whole, and
        // one that does not start with a schema.
        for (next, kind) in [
            (second[..5].to_vec(), ErrorKind::Truncated),
            (first[first_schema.len()..].to_vec(), ErrorKind::Malformed),
        ] {
            let mut r = open([first.clone(), next].concat()).await.unwrap();
            kinds(&mut r).await;
            let e = r.next_stream().await.unwrap_err();
            assert_eq!(e.codec_kind(), Some(kind), "{e}");
        }
        // A stream that stopped without its marker: nothing follows it.
        let mut r = open(first[..first.len() - 8].to_vec()).await.unwrap();
        assert!(kinds(&mut r).await.last().unwrap().is_err());
        assert!(!r.next_stream().await.unwrap());
    }

    #[tokio::test]
    async fn the_writer_keeps_the_stream_in_order() {
        let bytes = stream();
        let mut r = MessageReader::from_async_read(
            std::io::Cursor::new(bytes),
            "memory",
            DecodeLimits::default(),
        )
        .await
        .unwrap();
        let schema = r.schema().clone();
        let first = r.next().await.unwrap().unwrap();
        let malformed = |e: Error, says: &str| {
            assert_eq!(e.codec_kind(), Some(ErrorKind::Malformed), "{e}");
            assert!(e.to_string().contains(says), "{e}");
        };
        let (out, _keep) = tokio::io::duplex(1 << 16);
        let mut w = MessageWriter::from_async_write(out, "out");
        malformed(
            w.send(&first).await.unwrap_err(),
            "before the schema message",
        );
        assert_eq!(w.bytes_written(), 0);
        w.send_all(&[schema.clone(), first.clone()]).await.unwrap();
        malformed(w.send(&schema).await.unwrap_err(), "a second schema");
        w.send(&IpcMessage::end_of_stream()).await.unwrap();
        malformed(w.send(&first).await.unwrap_err(), "after the end-of-stream");
        let (out, _keep) = tokio::io::duplex(1 << 16);
        let w = MessageWriter::from_async_write(out, "out");
        malformed(w.finish().await.unwrap_err(), "never sent");
    }
}
