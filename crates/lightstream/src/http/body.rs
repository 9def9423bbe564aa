//! [`ArrowBody`]: an Arrow IPC stream as an HTTP response body, produced as
//! hyper polls it.
//!
//! A producer (a [`TableWriter`] over tables, a hub subscription, or a
//! transport's `Connection::writer`) hands its encoded messages to a
//! [`MessageSink`] whose other end is the body, through a channel of one
//! slot. The producers of [`ArrowBody::tables`] and [`ArrowBody::subscribe`]
//! run inside `poll_frame` itself (no task of their own): a client that
//! stops reading stops hyper polling, which stops the producer, and at most
//! one chunk (at most [`CHUNK_BYTES`]) waits in the slot. Not here: HTTP
//! routing, headers other than the content type, `Content-Encoding`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use http::HeaderValue;
use http_body::{Body, Frame, SizeHint};
use lightstream_core::minarrow::Table;
use lightstream_core::{EncodedMessage, Schema, WriteOptions};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::hub::{Hub, SubscribeOptions};
use crate::writer::{Copies, Limit, MessageSink, OneSlot, SendError, SinkFuture, TableWriter};

/// The largest piece of an IPC message a body hands hyper at once: a large
/// record batch goes out in pieces of this size, each copied once from the
/// table's buffers just before it is sent, so a body holds one piece, never
/// a whole message. (Messages a hub already encoded go out as they are.)
pub const CHUNK_BYTES: usize = 1 << 20;

/// What a producer hands the body.
enum Piece {
    Data(Bytes),
    /// The end-of-stream marker was sent: the body ends.
    End,
    /// The producer gave up (a hub subscriber that fell behind): the body
    /// fails with this reason.
    Abort(String),
}

type Producer = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// An Arrow IPC stream as an `http_body::Body` (`Data = Bytes`, `Error =
/// lightstream::Error`), for a hyper or axum response.
///
/// Nothing is produced until hyper polls the body, and then one piece at a
/// time: a client that reads slowly slows the tables stream or hub
/// subscription behind it, and the server's memory stays flat. The stream
/// ends with the IPC end-of-stream marker. When producing fails part-way
/// (the tables stream yields an error, a hub subscriber falls behind) the
/// body returns that error, which makes hyper break the response (no
/// terminating chunk on HTTP/1.1, `RST_STREAM` on HTTP/2): the client reads
/// a truncated stream, never a short valid one.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> lightstream::Result<()> {
/// use http_body_util::BodyExt;
/// use lightstream::http::ArrowBody;
/// use lightstream::minarrow::{fa_i64, tbl};
/// use lightstream::{ReadOptions, Schema, WriteOptions};
///
/// let table = tbl!("t", fa_i64!("n", 1, 2, 3));
/// let schema = Schema::from_table(&table).into();
/// let tables = futures_util::stream::iter([Ok(table.clone())]);
/// let body = ArrowBody::tables(schema, tables, WriteOptions::default())?;
/// assert_eq!(body.content_type(), "application/vnd.apache.arrow.stream");
/// // What hyper would send, collected here.
/// let bytes = body.collect().await?.to_bytes();
/// assert_eq!(lightstream::read_ipc(&bytes, ReadOptions::default())?.tables[0].cols, table.cols);
/// # Ok(()) }
/// ```
pub struct ArrowBody {
    rx: mpsc::Receiver<Piece>,
    /// Runs in `poll_frame` (tables, hub subscription); `None` when another
    /// task writes into the sink, or once it has returned.
    producer: Option<Producer>,
    /// What the producer returned, kept until the channel is drained.
    failed: Option<Error>,
    content_type: HeaderValue,
    done: bool,
    /// Makes the trailers a body ends with (gRPC's status), from `None` at
    /// the end of the stream or the reason it was cut; without it a body
    /// ends plainly and a cut one fails.
    trailers: Option<Trailers>,
}

/// The trailers of a body that ends with some (see [`channel_with_trailers`]).
pub(crate) type Trailers = fn(Option<&str>) -> http::HeaderMap;

impl std::fmt::Debug for ArrowBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowBody")
            .field("content_type", &self.content_type)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl ArrowBody {
    /// The stream of `schema`'s tables, encoded with `options` (its
    /// `compression` is IPC body compression: pick it with
    /// [`super::negotiate_compression`]). The schema goes first, the
    /// end-of-stream marker after the last table. An `Err` from `tables`
    /// breaks the response (see the type's doc). Fails at once when the
    /// options cannot encode `schema`.
    pub fn tables<S>(schema: Arc<Schema>, tables: S, options: WriteOptions) -> Result<ArrowBody>
    where
        S: Stream<Item = Result<Table>> + Send + 'static,
    {
        let content_type = super::content_type(options.compression);
        let (mut body, sink) = channel();
        let mut writer = TableWriter::new(Box::new(sink), PEER.to_string(), schema, options)?;
        body.content_type = content_type;
        body.producer = Some(Box::pin(async move {
            let mut tables = std::pin::pin!(tables);
            while let Some(table) = tables.next().await {
                writer.write(&table?).await?;
            }
            writer.finish().await.map(drop)
        }));
        Ok(body)
    }

    /// A subscription to `hub` as a body: the late joiner's stream (schema,
    /// dictionaries, replay window), then the live feed, under `options`
    /// (its slow-subscriber policy applies: with `Disconnect` a client that
    /// falls behind gets a broken response). The subscriber joins when
    /// hyper first polls the body and leaves when the body is dropped (the
    /// client went away). A client that stops reading altogether stops
    /// hyper polling: its subscription then holds no more than `max_lag`,
    /// and with `SlowPolicy::Block` it holds the publisher for as long as
    /// the connection stays up (`write_timeout` cannot run while hyper does
    /// not poll), so prefer `Disconnect` or `Skip` for browsers.
    ///
    /// The content type has no `codecs` parameter: the publisher chose the
    /// feed's compression, and every reader finds it in each message.
    pub fn subscribe(hub: &Hub, options: SubscribeOptions) -> ArrowBody {
        let (mut body, sink) = channel();
        let hub = hub.clone();
        body.producer = Some(Box::pin(async move {
            hub.subscribe_sink(
                Box::new(sink),
                PEER.to_string(),
                options,
                std::future::pending(),
            )
            .await
            .map(drop)
        }));
        body
    }

    /// The `Content-Type` to send with this body (with the `codecs`
    /// parameter of its compression).
    pub fn content_type(&self) -> &HeaderValue {
        &self.content_type
    }

    /// A `200 OK` response with this body and its `Content-Type`, for plain
    /// hyper (axum: return the body, it is `IntoResponse`).
    pub fn into_response(self) -> http::Response<ArrowBody> {
        let mut r = http::Response::new(self);
        let ct = r.body().content_type.clone();
        r.headers_mut().insert(http::header::CONTENT_TYPE, ct);
        r
    }
}

/// How errors name the other end of a body.
const PEER: &str = "the HTTP response";

/// A body and the sink whose messages it carries, for a producer on another
/// task (`http://` endpoints: a `Connection::writer` whose messages become a
/// response). The sink's `finish` ends the body; a sink dropped without it,
/// or aborted, makes the body fail.
pub(crate) fn channel() -> (ArrowBody, BodySink) {
    let (tx, rx) = mpsc::channel(1);
    let body = ArrowBody {
        rx,
        producer: None,
        failed: None,
        content_type: HeaderValue::from_static(super::CONTENT_TYPE),
        done: false,
        trailers: None,
    };
    (
        body,
        BodySink {
            slot: OneSlot::new(tx, gone),
        },
    )
}

/// [`channel`] for a body that always ends with trailers (a gRPC response:
/// its status): `trailers(None)` after the sink's `finish`,
/// `trailers(Some(reason))` when the stream was cut (an abort, a sink
/// dropped before its end) instead of failing the body.
#[cfg(feature = "flight")]
pub(crate) fn channel_with_trailers(trailers: Trailers) -> (ArrowBody, BodySink) {
    let (mut body, sink) = channel();
    body.trailers = Some(trailers);
    (body, sink)
}

/// The writing end of a body: its one slot.
pub(crate) struct BodySink {
    slot: OneSlot<Piece>,
}

impl BodySink {
    /// Sends `shared` as they are, then the bytes of `copies` in pieces
    /// copied as the slot frees (see [`OneSlot::send`]): a FlightData's
    /// head, then its body.
    #[cfg(feature = "flight")]
    pub(crate) async fn send_parts(
        &self,
        shared: &[Bytes],
        copies: Copies<'_>,
        limit: Option<Limit>,
    ) -> Result<(), SendError> {
        self.slot.send(shared, copies, limit, Piece::Data).await
    }
}

/// The body was dropped: hyper gave up on the response (the client left).
fn gone() -> SendError {
    SendError::Io(std::io::Error::new(
        std::io::ErrorKind::BrokenPipe,
        "the client closed the HTTP response",
    ))
}

impl MessageSink for BodySink {
    fn send<'a>(
        &'a mut self,
        m: &'a EncodedMessage<'_>,
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let slices = m.io_slices();
            let copies = Copies::new(slices.iter().map(|s| &s[..]), m.len(), CHUNK_BYTES);
            self.slot.send(&[], copies, limit, Piece::Data).await
        })
    }

    fn send_shared<'a>(
        &'a mut self,
        messages: &'a [Bytes],
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(self.slot.send(messages, Copies::none(), limit, Piece::Data))
    }

    fn abort<'a>(&'a mut self, _: &'a str, reason: &'a str) -> SinkFuture<'a, ()> {
        Box::pin(async move {
            if let Some(tx) = self.slot.take() {
                let _ = tx.try_send(Piece::Abort(reason.to_string()));
            }
        })
    }

    fn finish<'a>(
        &'a mut self,
        peer: &'a str,
        limit: Option<Duration>,
    ) -> SinkFuture<'a, Result<()>> {
        Box::pin(async move {
            let limit = Limit::new(limit, None);
            let permit = self
                .slot
                .slot(limit, tokio::time::Instant::now(), 0)
                .await
                .map_err(|e| e.into_error(peer, 0, || "ending the response".to_string()))?;
            permit.send(Piece::End);
            self.slot.take();
            Ok(())
        })
    }
}

/// The body failed: `why`, or the producer stopped before the end marker.
fn broken(why: &str) -> Error {
    Error::io(
        format!("streaming {PEER}"),
        std::io::Error::new(std::io::ErrorKind::ConnectionAborted, why.to_string()),
    )
}

impl ArrowBody {
    /// The last frame of a stream cut (`why`): the trailers saying so, or
    /// the producer's error (else `why`) for a body without trailers.
    fn cut(&mut self, why: &str) -> Result<Frame<Bytes>> {
        let failed = self.failed.take();
        match self.trailers {
            Some(trailers) => {
                let why = failed.map_or_else(|| why.to_string(), |e| e.to_string());
                Ok(Frame::trailers(trailers(Some(&why))))
            }
            None => Err(failed.unwrap_or_else(|| broken(why))),
        }
    }
}

impl Body for ArrowBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            // What the producer already handed over goes first.
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(Piece::Data(b))) => return Poll::Ready(Some(Ok(Frame::data(b)))),
                Poll::Ready(Some(Piece::End)) => {
                    this.done = true;
                    this.producer = None;
                    return Poll::Ready(this.trailers.map(|t| Ok(Frame::trailers(t(None)))));
                }
                Poll::Ready(Some(Piece::Abort(reason))) => {
                    this.done = true;
                    this.producer = None;
                    return Poll::Ready(Some(
                        this.cut(&format!("the stream was cut off: {reason}")),
                    ));
                }
                Poll::Ready(None) => {
                    // Every sender is gone without the end marker.
                    this.done = true;
                    this.producer = None;
                    return Poll::Ready(Some(
                        this.cut("the stream stopped before its end-of-stream marker"),
                    ));
                }
                Poll::Pending => {}
            }
            // Then the producer runs until it waits for the slot (or the
            // hub, or its tables stream).
            let Some(producer) = this.producer.as_mut() else {
                return Poll::Pending;
            };
            match producer.as_mut().poll(cx) {
                Poll::Pending => {
                    // It may have filled the slot before it waited.
                    if this.rx.is_empty() {
                        return Poll::Pending;
                    }
                }
                Poll::Ready(result) => {
                    // Dropping it drops the sink: the channel drains, then
                    // closes (after its End, or as a failure).
                    this.producer = None;
                    this.failed = result.err();
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{HubOptions, SlowPolicy};
    use http_body_util::BodyExt;
    use lightstream_core::ReadOptions;
    use lightstream_core::minarrow::{fa_i64, tbl};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn publisher(hub: &Hub) -> crate::hub::Publisher {
        let schema = Arc::new(Schema::from_table(&table(0)));
        hub.publisher(schema, WriteOptions::default()).unwrap()
    }

    fn end_marker() -> Bytes {
        lightstream_core::IpcMessage::end_of_stream().into_bytes()
    }

    fn table(from: i64) -> Table {
        tbl!("t", fa_i64!("n", from, from + 1, from + 2))
    }

    fn long_table(n: i64) -> Table {
        use lightstream_core::minarrow::{Array, ArrowType, Field, FieldArray, IntegerArray};
        let data = (0..n).collect();
        let field = Field {
            name: "n".to_string(),
            dtype: ArrowType::Int64,
            nullable: false,
            metadata: Default::default(),
        };
        let col = FieldArray {
            field: Arc::new(field),
            array: Array::from_int64(IntegerArray::from_vec64(data, None)),
            null_count: 0,
        };
        Table::new("t".to_string(), Some(vec![col]))
    }

    fn values(t: &Table) -> Vec<i64> {
        match &t.cols[0].array {
            lightstream_core::minarrow::Array::NumericArray(
                lightstream_core::minarrow::NumericArray::Int64(a),
            ) => a.data.as_slice().to_vec(),
            other => panic!("unexpected column {other:?}"),
        }
    }

    /// Pulls frames until the body ends or fails: the bytes, and the error.
    async fn drain(mut body: ArrowBody) -> (Vec<u8>, Option<Error>) {
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => bytes.extend_from_slice(&f.into_data().unwrap()),
                Err(e) => return (bytes, Some(e)),
            }
        }
        (bytes, None)
    }

    #[tokio::test]
    async fn a_body_of_tables_is_one_ipc_stream_with_its_end_marker() {
        let schema = Arc::new(Schema::from_table(&table(0)));
        let tables = futures_util::stream::iter((0..3).map(|i| Ok(table(i * 10))));
        let body = ArrowBody::tables(schema, tables, WriteOptions::default()).unwrap();
        let (bytes, err) = drain(body).await;
        assert!(err.is_none(), "{err:?}");
        assert!(bytes.ends_with(&end_marker()));
        let read = lightstream_core::read_ipc(&bytes, ReadOptions::default()).unwrap();
        let got: Vec<Vec<i64>> = read.tables.iter().map(values).collect();
        assert_eq!(got, vec![vec![0, 1, 2], vec![10, 11, 12], vec![20, 21, 22]]);
    }

    #[tokio::test]
    async fn a_body_nobody_polls_produces_nothing_and_one_poll_one_piece() {
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = pulled.clone();
        let schema = Arc::new(Schema::from_table(&table(0)));
        let tables = futures_util::stream::iter(0..1000).map(move |i| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(table(i))
        });
        let mut body = ArrowBody::tables(schema, tables, WriteOptions::default()).unwrap();
        tokio::task::yield_now().await;
        assert_eq!(
            pulled.load(Ordering::SeqCst),
            0,
            "produced while nobody polled"
        );
        // One frame: the schema message; the producer then waits in the
        // slot with at most the first table taken from the stream.
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert!(!first.is_empty());
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            pulled.load(Ordering::SeqCst) <= 1,
            "{}",
            pulled.load(Ordering::SeqCst)
        );
        assert!(body.rx.len() <= 1, "at most one piece waits");
        // Each poll then hands over what the producer made for it.
        let second = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert!(!second.is_empty());
        assert!(pulled.load(Ordering::SeqCst) <= 2);
    }

    #[tokio::test]
    async fn an_error_mid_stream_is_an_error_frame_after_whole_tables_and_no_end_marker() {
        let schema = Arc::new(Schema::from_table(&table(0)));
        let tables = futures_util::stream::iter([
            Ok(table(0)),
            Err(Error::Protocol("the database went away".into())),
            Ok(table(10)),
        ]);
        let body = ArrowBody::tables(schema, tables, WriteOptions::default()).unwrap();
        let (bytes, err) = drain(body).await;
        assert_eq!(
            err.expect("an error frame").to_string(),
            Error::Protocol("the database went away".into()).to_string()
        );
        assert!(!bytes.ends_with(&end_marker()));
        // What came is a stream cut after table 1: a reader says truncated.
        let mut r = crate::TableReader::from_async_read(
            std::io::Cursor::new(bytes),
            "body",
            ReadOptions::default(),
        )
        .await
        .unwrap();
        r.set_require_end_marker(true);
        let first = r.next().await.unwrap().unwrap();
        assert_eq!(values(&first), vec![0, 1, 2]);
        let e = r.next().await.unwrap().unwrap_err();
        assert_eq!(
            e.codec_kind(),
            Some(lightstream_core::ErrorKind::Truncated),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_large_message_goes_out_in_pieces() {
        let n = 300_000i64; // 2.4 MB of column data
        let t = long_table(n);
        let schema = Arc::new(Schema::from_table(&t));
        let tables = futures_util::stream::iter([Ok(t)]);
        let mut body = ArrowBody::tables(schema, tables, WriteOptions::default()).unwrap();
        let mut sizes = Vec::new();
        let mut bytes = Vec::new();
        while let Some(f) = body.frame().await {
            let d = f.unwrap().into_data().unwrap();
            sizes.push(d.len());
            bytes.extend_from_slice(&d);
        }
        assert!(sizes.iter().all(|&s| s <= CHUNK_BYTES), "{sizes:?}");
        assert!(sizes.len() >= 4, "{sizes:?}");
        let read = lightstream_core::read_ipc(&bytes, ReadOptions::default()).unwrap();
        assert_eq!(values(&read.tables[0]), (0..n).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_hub_subscription_body_gets_the_feed_and_its_end() {
        let hub = Hub::new(HubOptions::default());
        let body = ArrowBody::subscribe(&hub, SubscribeOptions::default());
        let reading = tokio::spawn(drain(body));
        hub.wait_for_subscribers(1).await;
        let mut p = publisher(&hub);
        p.write(&table(0)).await.unwrap();
        p.write(&table(5)).await.unwrap();
        p.finish().await.unwrap();
        let (bytes, err) = reading.await.unwrap();
        assert!(err.is_none(), "{err:?}");
        let read = lightstream_core::read_ipc(&bytes, ReadOptions::default()).unwrap();
        let got: Vec<Vec<i64>> = read.tables.iter().map(values).collect();
        assert_eq!(got, vec![vec![0, 1, 2], vec![5, 6, 7]]);
        hub.wait_until_empty().await;
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_gets_an_error_frame() {
        let hub = Hub::new(HubOptions::default());
        let options = SubscribeOptions {
            policy: SlowPolicy::Disconnect,
            max_lag: 1,
            write_timeout: None,
        };
        let mut body = ArrowBody::subscribe(&hub, options);
        // Join: poll once (nothing to send yet).
        let waker = std::task::Waker::noop();
        let polled = Pin::new(&mut body).poll_frame(&mut Context::from_waker(waker));
        assert!(polled.is_pending());
        hub.wait_for_subscribers(1).await;
        let mut p = publisher(&hub);
        for i in 0..4 {
            p.write(&table(i)).await.unwrap();
        }
        let (bytes, err) = drain(body).await;
        let err = err.expect("an error frame");
        assert!(matches!(err, Error::Lagged { .. }), "{err:?}");
        assert!(!bytes.ends_with(&end_marker()));
    }

    #[tokio::test]
    async fn a_channel_sink_dropped_before_its_end_breaks_the_body() {
        let (body, sink) = channel();
        let schema = Arc::new(Schema::from_table(&table(0)));
        let writing = tokio::spawn(async move {
            let mut w =
                TableWriter::new(Box::new(sink), "x".into(), schema, WriteOptions::default())?;
            w.write(&table(1)).await?;
            drop(w); // no finish
            Ok::<_, Error>(())
        });
        let (bytes, err) = drain(body).await;
        writing.await.unwrap().unwrap();
        assert!(err.is_some());
        assert!(!bytes.ends_with(&end_marker()));
        assert!(!bytes.is_empty());
    }
}
