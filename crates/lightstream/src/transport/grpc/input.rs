//! [`FlightInput`]: a gRPC body of FlightData messages read as the bytes
//! of a plain Arrow IPC stream, for the reader (`Input::Bytes`).
//!
//! The core's `FlightToIpc` does the translating; this is the loop that
//! feeds it the body's DATA chunks and lets it write straight into the
//! reader's buffer (for bodies, the decoder's aligned body: one copy).
//! The stream gets its end-of-stream marker only when the body ended as
//! it should: a response with trailers `grpc-status: 0` (a client's
//! `DoGet`), or a request body that reached its end (a server's `DoPut`).
//! Anything else ends the bytes without it, so the reader reports a
//! truncated stream, never a short valid one.
//!
//! What it is not: the decoder (the reader's driver decodes what this
//! yields), or the gRPC status of a failed response (the client reads it
//! from the trailers and makes it the error).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::Body;
use lightstream_core::flight::FlightToIpc;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::oneshot;

/// How a body's clean end is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// A request body (server side): its end is the end.
    BodyEnd,
    /// A response body (client side): trailers with `grpc-status: 0`.
    StatusOk,
}

/// A gRPC body of FlightData as an IPC byte stream (see the module doc).
pub(crate) struct FlightInput<B> {
    body: B,
    /// What is left of the body's last DATA chunk.
    chunk: Bytes,
    translator: FlightToIpc,
    ending: Ending,
    /// The `grpc-status` of the trailers, once they came.
    status: Option<u32>,
    /// The body ended (or broke): only queued bytes are left.
    ended: bool,
    /// The stream was translated to its end-of-stream marker.
    complete: bool,
    /// Told at the end (or on drop) whether the body was read to its end.
    on_end: Option<oneshot::Sender<bool>>,
    /// The body ended as a complete stream does (see [`Ending`]).
    clean_end: bool,
}

impl<B> FlightInput<B> {
    /// Reads `body`, accepting FlightData messages of at most
    /// `max_message` bytes; `on_end` learns whether it was read to its end.
    pub(crate) fn new(
        body: B,
        max_message: u64,
        ending: Ending,
        on_end: Option<oneshot::Sender<bool>>,
    ) -> FlightInput<B> {
        FlightInput {
            body,
            chunk: Bytes::new(),
            translator: FlightToIpc::new(max_message),
            ending,
            status: None,
            ended: false,
            complete: false,
            on_end,
            clean_end: false,
        }
    }

    fn finish(&mut self, read_all: bool) {
        if let Some(tx) = self.on_end.take() {
            let _ = tx.send(read_all);
        }
    }

    /// Drops the side items (app_metadata, descriptors): nothing hands
    /// them to the application yet, and kept they would pile up.
    fn drop_side(&mut self) {
        while self.translator.take_side().is_some() {}
    }
}

impl<B> Drop for FlightInput<B> {
    fn drop(&mut self) {
        let read_all = self.complete;
        self.finish(read_all);
    }
}

/// A translator's error, carried through the `io::Error` a reader gets
/// (the reader takes the typed error back out).
fn invalid(e: lightstream_core::Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, crate::Error::Codec(e))
}

impl<B> AsyncRead for FlightInput<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if this.ended {
                let n = this.translator.drain(buf);
                if n == 0 {
                    this.complete = this.clean_end;
                    let read_all = this.complete;
                    this.finish(read_all);
                }
                return Poll::Ready(Ok(()));
            }
            if !this.chunk.is_empty() {
                let before = buf.filled().len();
                let used = this.translator.translate(&this.chunk, buf).map_err(invalid)?;
                this.chunk.advance(used);
                this.drop_side();
                if buf.filled().len() > before {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            match std::task::ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.chunk = data,
                    Err(frame) => {
                        if let Some(trailers) = frame.trailers_ref() {
                            this.status = Some(
                                trailers
                                    .get("grpc-status")
                                    .and_then(|v| v.to_str().ok())
                                    .and_then(|v| v.parse().ok())
                                    .unwrap_or(u32::MAX),
                            );
                        }
                    }
                },
                // Cut (a reset stream, a dropped connection): the bytes
                // end here, without the end-of-stream marker.
                Some(Err(_)) => {
                    this.ended = true;
                    this.translator.end(false).map_err(invalid)?;
                }
                None => {
                    this.ended = true;
                    this.clean_end = this.status_ok();
                    this.translator.end(this.clean_end).map_err(invalid)?;
                }
            }
        }
    }
}

impl<B> FlightInput<B> {
    /// Whether the body ended as a complete stream does.
    fn status_ok(&self) -> bool {
        match self.ending {
            Ending::BodyEnd => self.status.is_none_or(|s| s == 0),
            Ending::StatusOk => self.status == Some(0),
        }
    }
}
