//! [`FlightSink`]: a writer's IPC messages as the FlightData messages of
//! a gRPC body (a server's `DoGet` response, a client's `DoPut` request).
//!
//! Each IPC message becomes one FlightData: a small head made by the core
//! (`flight_data_head`: gRPC prefix, descriptor on the first, the IPC
//! metadata as `data_header`, the `data_body` tag and length), then the
//! body as separate `Bytes` that h2 writes behind it. A hub's shared
//! messages are sliced, not copied; a `TableWriter`'s bodies, which borrow
//! the table, are copied once, in pieces of at most 1 MiB, each once the
//! body's one slot is free (the loop `ArrowBody`'s sink uses too:
//! `writer::OneSlot::send`). The IPC
//! end-of-stream marker is not sent: a gRPC stream ends with its status.
//!
//! What it is not: the body (that is `ArrowBody`'s channel, with gRPC
//! trailers for a response), or batch splitting (a message goes as one
//! FlightData, however large).

use std::time::Duration;

use bytes::Bytes;
use lightstream_core::EncodedMessage;

use crate::error::Error;
use crate::http::BodySink;
use crate::writer::{Copies, Limit, MessageSink, SendError, SinkFuture};

/// The largest piece of a borrowed message body copied at once.
const CHUNK_BYTES: usize = crate::http::CHUNK_BYTES;

/// A `DoGet` response's writer: each IPC message becomes one FlightData,
/// a small head and the body after it (see the module doc). The IPC
/// end-of-stream marker is not sent: the trailers end the stream.
pub(crate) struct FlightSink {
    /// The body's one-slot channel (a response's `finish` sends the
    /// trailers).
    inner: BodySink,
    /// The encoded `FlightDescriptor` the first FlightData carries (a
    /// `DoPut`'s).
    descriptor: Option<Bytes>,
}

impl FlightSink {
    /// A sink writing into `inner` (an `ArrowBody` channel), the first
    /// message carrying `descriptor`.
    pub(crate) fn new(inner: BodySink, descriptor: Option<Bytes>) -> FlightSink {
        FlightSink { inner, descriptor }
    }

    /// The `FlightData` head of an IPC message with metadata `header`
    /// (padding included) and a body of `body_len` bytes.
    fn head(&mut self, header: &[u8], body_len: usize) -> Result<Bytes, SendError> {
        let descriptor = self.descriptor.take();
        lightstream_core::flight::flight_data_head(descriptor.as_deref(), header, &[], body_len)
            .map(Bytes::from)
            .map_err(|e| SendError::Failed(Error::Codec(e)))
    }
}

impl MessageSink for FlightSink {
    fn send<'a>(
        &'a mut self,
        m: &'a EncodedMessage<'_>,
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let slices = m.io_slices();
            let Some((first, body)) = slices.split_first() else {
                return Ok(());
            };
            // The head: continuation and length (8 bytes), then the
            // metadata with its padding. A message with no metadata is the
            // end-of-stream marker.
            let header = first.get(8..).unwrap_or_default();
            if header.is_empty() {
                return Ok(());
            }
            let total = m.body_len();
            let head = self.head(header, total)?;
            let body = Copies::new(body.iter().map(|s| &s[..]), total, CHUNK_BYTES);
            self.inner.send_parts(&[head], body, limit).await
        })
    }

    fn send_shared<'a>(
        &'a mut self,
        messages: &'a [Bytes],
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            for m in messages {
                let (header, body) = lightstream_core::flight::split_encapsulated(m)
                    .map_err(|e| SendError::Failed(Error::Codec(e)))?;
                if header.is_empty() {
                    continue; // the end-of-stream marker
                }
                let head = self.head(&m[header], body.len())?;
                if body.is_empty() {
                    self.inner.send_shared(&[head], limit).await?;
                } else {
                    self.inner
                        .send_shared(&[head, m.slice(body)], limit)
                        .await?;
                }
            }
            Ok(())
        })
    }

    fn abort<'a>(&'a mut self, peer: &'a str, reason: &'a str) -> SinkFuture<'a, ()> {
        self.inner.abort(peer, reason)
    }

    fn finish<'a>(
        &'a mut self,
        peer: &'a str,
        limit: Option<Duration>,
    ) -> SinkFuture<'a, crate::Result<()>> {
        self.inner.finish(peer, limit)
    }
}
