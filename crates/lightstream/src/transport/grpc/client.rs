//! The Flight client: [`FlightClient`] and the `grpc://` / `grpc+tls://`
//! connections of [`crate::connect`].
//!
//! One HTTP/2 connection per client: tonic's `Channel` over our own TCP
//! connect and, for `grpc+tls://`, our own TLS handshake (the application's
//! `ClientOptions.tls` with ALPN `h2`), so certificate errors are the same
//! [`Error::Tls`] as on `tls://`. Every call is a raw HTTP/2 request on the
//! channel: tonic's client codec would copy each FlightData, and it panics
//! on a malformed `grpc-status-details-bin` header from a server, so the
//! client reads statuses and frames itself.
//!
//! What it is not: a Flight SQL client, Flight's older handshake payloads
//! (only the basic-auth `Handshake` of [`FlightClient::handshake_basic`]) or
//! `DoExchange`.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, TE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use lightstream_core::flight::{FlightSide, FlightToIpc, GRPC_PREFIX_LEN, grpc_prefix};
use lightstream_core::{DecodeLimits, ErrorKind, ReadOptions, Schema};
use prost::Message;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::body::Body;
use tonic::transport::Channel;
use tower::{Service, ServiceExt};

use super::sink::FlightSink;
use super::{GRPC_CONTENT_TYPE, batch_body_limit, max_flight_data, method_path};
use crate::ClientOptions;
use crate::connection::{Connection, Link, Pending};
use crate::endpoint::Endpoint;
use crate::error::{Error, FlightCode, Result};
use crate::flight::{FlightDescriptor, FlightInfo, FlightOptions, proto};
use crate::reader::{Input, TableReader};
use crate::writer::{Limit, MessageSink, SendError, SinkFuture, TableWriter};

mod endpoints;

/// Any stream HTTP/2 runs over (TCP, TLS).
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A client of one Flight server: the unary calls, and `DoGet` / `DoPut` as
/// a [`crate::TableReader`] / [`crate::TableWriter`], all on one HTTP/2
/// connection (calls may run at the same time: clone the client).
#[derive(Clone)]
pub struct FlightClient {
    channel: Channel,
    /// The server's URL, as errors name it.
    peer: String,
    /// The server's URL (no flight name): whose host a location must share
    /// for the token to go along ([`FlightOptions::send_token_to_locations`]).
    server: Endpoint,
    flight: FlightOptions,
    /// `authorization` of every call (`Bearer <token>`): from
    /// `ClientOptions::token`, or the server's answer to a handshake.
    /// Never shown (`Debug` leaves it out; errors never quote it).
    authorization: Option<HeaderValue>,
    /// How it connected, to open connections to an endpoint's locations.
    options: ClientOptions,
}

impl std::fmt::Debug for FlightClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightClient")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl FlightClient {
    /// Connects to a `grpc://` or `grpc+tls://` endpoint: TCP, the TLS
    /// handshake for `grpc+tls://` (`options.tls`, as for `tls://`), and the
    /// HTTP/2 handshake. `options.flight` holds the limits of its calls.
    pub async fn connect(endpoint: &Endpoint, options: &ClientOptions) -> Result<FlightClient> {
        let hostport = endpoint.grpc_hostport().ok_or_else(|| {
            Error::Config(format!(
                "{endpoint} is not a grpc:// or grpc+tls:// URL (a Flight client needs one)"
            ))
        })?;
        // The flight the URL names goes into the options, not into the
        // name of the server errors give.
        let flight = options.flight.with_url(endpoint)?;
        let peer = endpoint.without_flight_name().to_string();
        let authorization = match &options.token {
            Some(token) => Some(bearer_value(token, &peer)?),
            None => None,
        };
        let tls = matches!(endpoint, Endpoint::GrpcTls { .. });
        let first = open(&hostport, tls, options, &peer).await?;
        // The connector hands tonic the stream opened above, so that its
        // errors are ours (an untrusted certificate is `Error::Tls`); a
        // reconnect after the connection dropped opens a new one.
        let first = Arc::new(Mutex::new(Some(first)));
        let again = Reconnect {
            hostport: hostport.clone(),
            tls,
            options: options.clone(),
            peer: peer.clone(),
        };
        let connector = tower::service_fn(move |_: http::Uri| {
            let first = first.lock().ok().and_then(|mut f| f.take());
            let again = again.clone();
            async move {
                let io = match first {
                    Some(io) => io,
                    None => open(&again.hostport, tls, &again.options, &again.peer).await?,
                };
                Ok::<_, Error>(TokioIo::new(io))
            }
        });
        let scheme = if tls { "https" } else { "http" };
        let channel = tonic::transport::Endpoint::from_shared(format!("{scheme}://{hostport}"))
            .map_err(|e| Error::Config(format!("{peer}: {e}")))?
            .max_frame_size(MAX_FRAME_BYTES)
            .connect_with_connector(connector)
            .await
            .map_err(|e| Error::Protocol(format!("HTTP/2 with {peer}: {e}")))?;
        Ok(FlightClient {
            channel,
            peer,
            server: endpoint.without_flight_name(),
            flight,
            authorization,
            options: options.clone(),
        })
    }

    /// `Handshake` with HTTP basic authentication, as pyarrow's
    /// `authenticate_basic_token` and Arrow C++'s `AuthenticateBasicToken`
    /// do it: `user` and `password` go in the call's `authorization:
    /// Basic ...` header, and the bearer token the server answers with (its
    /// `authorization` header) is sent with every later call of this client
    /// and of its clones made afterwards. A refusal is [`Error::Flight`]
    /// (`Unauthenticated`); a server that answers OK without a token is
    /// [`Error::Protocol`]. Neither the password nor the token is ever put
    /// in an error or a log.
    pub async fn handshake_basic(&mut self, user: &str, password: &str) -> Result<()> {
        let rpc = format!("Handshake (user {user:?})");
        let credentials = super::auth::basic_value(user, password).ok_or_else(|| {
            Error::Config(format!(
                "{}: {rpc}: the user name or password has a character no header may carry",
                self.peer
            ))
        })?;
        let empty = Body::new(Full::new(Bytes::new()));
        let answer = self
            .call_as("Handshake", &rpc, empty, Some(&credentials))
            .await?;
        let headers = answer.headers.clone();
        self.messages(&rpc, answer).await?;
        let mut token = headers.get(AUTHORIZATION).cloned().ok_or_else(|| {
            Error::Protocol(format!(
                "{}: {rpc}: the server answered OK without an authorization header (a token)",
                self.peer
            ))
        })?;
        token.set_sensitive(true);
        self.authorization = Some(token);
        Ok(())
    }

    /// The server's URL.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// `ListFlights`: every flight the server lists for `criteria` (empty:
    /// all of them).
    pub async fn list_flights(&self, criteria: Bytes) -> Result<Vec<FlightInfo>> {
        let rpc = "ListFlights".to_string();
        let request = proto::Criteria {
            expression: criteria,
        };
        let answers = self.unary("ListFlights", &rpc, &request).await?;
        answers
            .into_iter()
            .map(|bytes| FlightInfo::from_proto(self.decode(&rpc, bytes)?))
            .collect()
    }

    /// `GetFlightInfo`: how to fetch the flight `descriptor` names (its
    /// schema, endpoints and tickets, sizes).
    pub async fn get_flight_info(&self, descriptor: &FlightDescriptor) -> Result<FlightInfo> {
        let rpc = format!("GetFlightInfo {descriptor}");
        let request = proto::FlightDescriptor::from(descriptor);
        let bytes = self.one(&rpc, self.unary("GetFlightInfo", &rpc, &request).await?)?;
        FlightInfo::from_proto(self.decode(&rpc, bytes)?)
    }

    /// `GetSchema`: the schema of the flight `descriptor` names.
    pub async fn get_schema(&self, descriptor: &FlightDescriptor) -> Result<Arc<Schema>> {
        let rpc = format!("GetSchema {descriptor}");
        let request = proto::FlightDescriptor::from(descriptor);
        let bytes = self.one(&rpc, self.unary("GetSchema", &rpc, &request).await?)?;
        let answer: proto::SchemaResult = self.decode(&rpc, bytes)?;
        Ok(Arc::new(lightstream_core::flight::read_schema_bytes(
            &answer.schema,
        )?))
    }

    /// `DoGet`: the stream of `ticket` as a [`TableReader`]; returns once
    /// its schema has arrived. A ticket the server refuses is
    /// [`Error::Flight`] (an unknown one is usually [`FlightCode::NotFound`]).
    pub async fn do_get(&self, ticket: Bytes, options: ReadOptions) -> Result<TableReader> {
        let input = self.do_get_input(ticket, options.limits, None).await?;
        TableReader::open(input, self.peer.clone(), options).await
    }

    /// [`FlightClient::do_get`], and the `app_metadata` the server sent
    /// along: each arrives on the receiver once the reader has read the
    /// FlightData that carried it (an empty `app_metadata` is not sent,
    /// protobuf leaves it out). Drain it as you read tables, or drop it.
    pub async fn do_get_with_metadata(
        &self,
        ticket: Bytes,
        options: ReadOptions,
    ) -> Result<(TableReader, AppMetadataReceiver)> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let input = self.do_get_input(ticket, options.limits, Some(tx)).await?;
        let reader = TableReader::open(input, self.peer.clone(), options).await?;
        Ok((reader, rx))
    }

    /// The response body of `DoGet` as the reader's byte input.
    async fn do_get_input(
        &self,
        ticket: Bytes,
        limits: DecodeLimits,
        metadata: Option<AppMetadataSender>,
    ) -> Result<Input> {
        let rpc = format!("DoGet \"{}\"", Shown(&ticket));
        let request = proto::Ticket { ticket };
        let answer = self.call("DoGet", &rpc, framed(&request)).await?;
        let read = self.answer_read(answer.body, answer.status_seen, rpc, &limits, metadata)?;
        Ok(Input::Bytes(Box::new(read)))
    }

    /// The body of a DoGet or DoExchange answer as the reader's bytes
    /// (`status_seen`: a trailers-only OK, no body); `rpc` names the call in
    /// errors.
    fn answer_read<B>(
        &self,
        body: B,
        status_seen: bool,
        rpc: String,
        limits: &DecodeLimits,
        metadata: Option<AppMetadataSender>,
    ) -> Result<FlightRead<B>> {
        let max = self
            .flight
            .max_message_bytes
            .map_or_else(|| max_flight_data(limits), |m| m as u64);
        let mut translator = FlightToIpc::new(max.min(u64::from(u32::MAX)));
        let mut state = ReadState::Body;
        if status_seen {
            // OK and no body (a trailers-only answer): the stream is what
            // came, nothing; the reader says a schema is missing.
            translator.end(true)?;
            state = ReadState::Draining;
        }
        Ok(FlightRead {
            body,
            translator,
            chunk: Bytes::new(),
            state,
            peer: self.peer.clone(),
            rpc,
            on_end: None,
            metadata,
        })
    }

    /// The record batch body limit of this client's `DoPut`s
    /// ([`FlightOptions::max_flight_data_bytes`]).
    fn max_batch_body(&self) -> Option<usize> {
        batch_body_limit(
            self.flight
                .max_flight_data_bytes
                .unwrap_or(Some(crate::flight::DEFAULT_MAX_FLIGHT_DATA_BYTES)),
        )
    }

    /// `DoPut`: a [`TableWriter`] streaming `schema` and its tables to the
    /// flight `descriptor` names, and the handle of the server's answers
    /// (its `PutResult`s). The writer's `finish` waits for the server's
    /// status: a refusal is [`Error::Flight`] there.
    pub async fn do_put(
        &self,
        descriptor: &FlightDescriptor,
        schema: Arc<Schema>,
        options: lightstream_core::WriteOptions,
    ) -> Result<(TableWriter, PutResults)> {
        let (sink, results) = self.do_put_sink(descriptor);
        let mut writer = TableWriter::new(Box::new(sink), self.peer.clone(), schema, options)?;
        writer.set_max_batch_body(self.max_batch_body());
        Ok((writer, results))
    }

    /// `DoExchange`: a [`TableWriter`] streaming `schema` and its tables to
    /// the flight `descriptor` names (the first FlightData carries it), and
    /// a [`Connection`] whose [`Connection::reader`] reads the server's
    /// answer stream; it returns once the answer's schema has arrived, so
    /// write first what the server needs before it answers (an echo server
    /// answers after our schema and first table), or read on another task.
    /// The writer's `finish` ends our stream; the answer ends with the
    /// server's status (a refusal is [`Error::Flight`] there, and the
    /// writer's next write fails quoting it).
    pub async fn do_exchange(
        &self,
        descriptor: &FlightDescriptor,
        schema: Arc<Schema>,
        options: lightstream_core::WriteOptions,
    ) -> Result<(TableWriter, Connection)> {
        let rpc = format!("DoExchange {descriptor}");
        let encoded = Bytes::from(proto::FlightDescriptor::from(descriptor).encode_to_vec());
        let (body, inner) = crate::http::channel();
        let client = self.clone();
        let call_rpc = rpc.clone();
        let (refusal, refused) = tokio::sync::watch::channel(None);
        let call = tokio::spawn(async move {
            let answer = client.call("DoExchange", &call_rpc, Body::new(body)).await;
            if let Err(e) = &answer {
                let _ = refusal.send(Some(e.to_string()));
            }
            answer
        });
        let sink = ExchangeSink {
            data: FlightSink::new(inner, Some(encoded)),
            end: ExchangeRefusal(refused),
        };
        let mut writer = TableWriter::new(Box::new(sink), self.peer.clone(), schema, options)?;
        writer.set_max_batch_body(self.max_batch_body());
        let answer = ExchangeAnswer {
            client: self.clone(),
            call,
            rpc,
        };
        Ok((writer, Connection::new(answer, self.peer.clone())))
    }

    /// The sink of a `DoPut` to `descriptor`: the request body is fed by
    /// the writer, the call runs on a task of its own.
    fn do_put_sink(&self, descriptor: &FlightDescriptor) -> (PutSink, PutResults) {
        let rpc = format!("DoPut {descriptor}");
        let encoded = Bytes::from(proto::FlightDescriptor::from(descriptor).encode_to_vec());
        let (body, inner) = crate::http::channel();
        let client = self.clone();
        let call_rpc = rpc.clone();
        let call = tokio::spawn(async move {
            let answer = client.call("DoPut", &call_rpc, Body::new(body)).await?;
            let answers = client.messages(&call_rpc, answer).await?;
            answers
                .into_iter()
                .map(|bytes| {
                    let result: proto::PutResult = client.decode(&call_rpc, bytes)?;
                    Ok(result.app_metadata)
                })
                .collect::<Result<Vec<Bytes>>>()
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sink = PutSink {
            data: FlightSink::new(inner, Some(encoded)),
            end: PutCall {
                call: Some(call),
                results: Some(tx),
                peer: self.peer.clone(),
                rpc,
            },
        };
        (sink, PutResults(rx))
    }

    /// The largest control message (FlightInfo, SchemaResult) accepted.
    fn max_control_bytes(&self) -> usize {
        self.flight
            .max_message_bytes
            .unwrap_or(DecodeLimits::DEFAULT.max_metadata_bytes)
    }

    /// A call whose answer is whole messages (the unary calls and
    /// `ListFlights`): the messages, at most [`Self::max_control_bytes`] in
    /// all, once the server's OK status has come.
    async fn unary(&self, method: &str, rpc: &str, request: &impl Message) -> Result<Vec<Bytes>> {
        let answer = self.call(method, rpc, framed(request)).await?;
        self.messages(rpc, answer).await
    }

    /// The whole messages of an answer, at most [`Self::max_control_bytes`]
    /// in all, once the server's OK status has come.
    async fn messages(&self, rpc: &str, answer: Answer) -> Result<Vec<Bytes>> {
        let Answer {
            mut body,
            status_seen,
            ..
        } = answer;
        if status_seen {
            return Ok(Vec::new());
        }
        let limit = self.max_control_bytes();
        let mut buf = BytesMut::new();
        let mut messages = Vec::new();
        loop {
            let frame = match body.frame().await {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => return Err(self.cut(rpc, messages.len() as u64, &cause(&e))),
                None => return Err(self.cut(rpc, messages.len() as u64, "no trailers")),
            };
            let frame = match frame.into_data() {
                Ok(data) => {
                    if buf.len().saturating_add(data.len()) > limit.saturating_add(GRPC_PREFIX_LEN)
                    {
                        return Err(Error::Codec(lightstream_core::Error::new(
                            ErrorKind::LimitExceeded,
                            format!(
                                "{}: the answer to {rpc} is over the limit of {limit} bytes \
                                 (FlightOptions::max_message_bytes)",
                                self.peer
                            ),
                        )));
                    }
                    buf.extend_from_slice(&data);
                    while buf.len() >= GRPC_PREFIX_LEN {
                        let len = prefix_len(&buf[..GRPC_PREFIX_LEN], limit, &self.peer, rpc)?;
                        if buf.len() < GRPC_PREFIX_LEN + len {
                            break;
                        }
                        buf.advance(GRPC_PREFIX_LEN);
                        messages.push(buf.split_to(len).freeze());
                    }
                    continue;
                }
                Err(frame) => frame,
            };
            let Ok(trailers) = frame.into_trailers() else {
                continue;
            };
            self.check(rpc, &trailers, messages.len() as u64)?;
            if !buf.is_empty() {
                return Err(self.cut(rpc, messages.len() as u64, "a message cut short"));
            }
            return Ok(messages);
        }
    }

    /// Exactly one answer.
    fn one(&self, rpc: &str, mut answers: Vec<Bytes>) -> Result<Bytes> {
        if answers.len() != 1 {
            return Err(Error::Protocol(format!(
                "{}: {rpc}: {} answers, expected one",
                self.peer,
                answers.len()
            )));
        }
        Ok(answers.remove(0))
    }

    /// A control message from its bytes.
    fn decode<M: Message + Default>(&self, rpc: &str, bytes: Bytes) -> Result<M> {
        M::decode(bytes).map_err(|e| {
            Error::Codec(lightstream_core::Error::new(
                ErrorKind::Malformed,
                format!(
                    "{}: the answer to {rpc} is not valid protobuf: {e}",
                    self.peer
                ),
            ))
        })
    }

    /// Sends one call (`method` of FlightService; `rpc` names it in
    /// errors) with `body`; the response body once its headers say it is
    /// gRPC. A trailers-only response with an error status is that error.
    async fn call(&self, method: &str, rpc: &str, body: Body) -> Result<Answer> {
        self.call_as(method, rpc, body, self.authorization.as_ref())
            .await
    }

    /// [`Self::call`] with `authorization` as the call's credentials.
    async fn call_as(
        &self,
        method: &str,
        rpc: &str,
        body: Body,
        authorization: Option<&HeaderValue>,
    ) -> Result<Answer> {
        let request = Request::builder()
            .method(Method::POST)
            .version(http::Version::HTTP_2)
            .uri(method_path(method))
            .header(CONTENT_TYPE, HeaderValue::from_static(GRPC_CONTENT_TYPE))
            .header(TE, HeaderValue::from_static("trailers"));
        let request = match authorization {
            Some(value) => request.header(AUTHORIZATION, value.clone()),
            None => request,
        }
        .body(body)
        .map_err(|e| Error::Config(format!("{}: {rpc}: {e}", self.peer)))?;
        let failed = |e: &dyn std::fmt::Display| {
            Error::Protocol(format!("{}: {rpc}: HTTP/2 failed: {e}", self.peer))
        };
        let response: Response<Body> = self
            .channel
            .clone()
            .ready()
            .await
            .map_err(|e| failed(&e))?
            .call(request)
            .await
            .map_err(|e| failed(&e))?;
        let (head, body) = response.into_parts();
        if head.status != StatusCode::OK {
            return Err(Error::Protocol(format!(
                "{}: {rpc}: the server answered HTTP {}, not gRPC",
                self.peer, head.status
            )));
        }
        let grpc = head
            .headers
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(GRPC_CONTENT_TYPE.as_bytes()));
        if !grpc {
            return Err(Error::Protocol(format!(
                "{}: {rpc}: the answer's content type is {:?}, not application/grpc",
                self.peer,
                head.headers.get(CONTENT_TYPE)
            )));
        }
        // Trailers-only: the status is in the headers, and no body follows.
        let status_seen = head.headers.contains_key(GRPC_STATUS);
        if status_seen {
            self.check(rpc, &head.headers, 0)?;
        }
        Ok(Answer {
            body,
            status_seen,
            headers: head.headers,
        })
    }

    /// `Ok` when `headers` (trailers, or the headers of a trailers-only
    /// answer) hold `grpc-status: 0`; [`Error::Flight`] for another status;
    /// a truncated stream when there is none.
    fn check(&self, rpc: &str, headers: &HeaderMap, messages: u64) -> Result<()> {
        match status_of(headers) {
            None => Err(self.cut(rpc, messages, "trailers without grpc-status")),
            Some((FlightCode::Ok, _)) => Ok(()),
            Some((code, message)) => Err(Error::Flight {
                peer: self.peer.clone(),
                rpc: rpc.to_string(),
                code,
                message,
            }),
        }
    }

    /// A call whose answer ended without a gRPC status.
    fn cut(&self, rpc: &str, messages: u64, how: &str) -> Error {
        truncated(&self.peer, rpc, messages, how)
    }
}

/// The answers of a `DoPut` ([`FlightClient::do_put`]): the
/// `app_metadata` of each `PutResult` the server sent, once the writer
/// finished.
#[derive(Debug)]
pub struct PutResults(tokio::sync::oneshot::Receiver<Vec<Bytes>>);

impl PutResults {
    /// The `app_metadata` of every `PutResult`, in order; an error when
    /// the writer did not finish (it failed or was dropped: its own error
    /// says why).
    pub async fn app_metadata(self) -> Result<Vec<Bytes>> {
        self.0.await.map_err(|_| {
            Error::Protocol(
                "the DoPut did not finish: no PutResults (see the writer's error)".to_string(),
            )
        })
    }
}

/// The writing side of a client call whose request is a FlightData stream
/// (`DoPut`, `DoExchange`): FlightData into the request body (a
/// [`FlightSink`], the first message carrying the descriptor); when the body
/// is gone, or ends, what the call says is `E`'s business.
struct RequestSink<E> {
    data: FlightSink,
    end: E,
}

/// How a client call with a FlightData request explains a body that failed
/// and what its writer's `finish` waits for.
trait RequestEnd: Send {
    /// Why sending failed with `e` (the body is gone: the call ended): the
    /// call's own error (a status, a reset) when it has one, else `e`.
    fn why(&mut self, e: SendError) -> SinkFuture<'_, SendError>;

    /// The call's outcome once the body ended (`ended`), at most `limit`.
    fn finish(
        &mut self,
        ended: Result<()>,
        limit: Option<std::time::Duration>,
    ) -> SinkFuture<'_, Result<()>>;

    /// The writer gave up.
    fn abort(&mut self) {}
}

impl<E: RequestEnd> MessageSink for RequestSink<E> {
    fn send<'a>(
        &'a mut self,
        message: &'a lightstream_core::EncodedMessage<'_>,
        limit: Option<Limit>,
    ) -> SinkFuture<'a, std::result::Result<(), SendError>> {
        Box::pin(async move {
            match self.data.send(message, limit).await {
                Err(e @ (SendError::Io(_) | SendError::Failed(_))) => Err(self.end.why(e).await),
                other => other,
            }
        })
    }

    fn send_shared<'a>(
        &'a mut self,
        messages: &'a [Bytes],
        limit: Option<Limit>,
    ) -> SinkFuture<'a, std::result::Result<(), SendError>> {
        Box::pin(async move {
            match self.data.send_shared(messages, limit).await {
                Err(e @ (SendError::Io(_) | SendError::Failed(_))) => Err(self.end.why(e).await),
                other => other,
            }
        })
    }

    fn abort<'a>(&'a mut self, peer: &'a str, reason: &'a str) -> SinkFuture<'a, ()> {
        Box::pin(async move {
            // The body fails: h2 resets the stream, the server sees a cut
            // stream, never a short valid one.
            self.data.abort(peer, reason).await;
            self.end.abort();
        })
    }

    fn finish<'a>(
        &'a mut self,
        peer: &'a str,
        limit: Option<std::time::Duration>,
    ) -> SinkFuture<'a, Result<()>> {
        Box::pin(async move {
            let ended = self.data.finish(peer, limit).await;
            self.end.finish(ended, limit).await
        })
    }
}

/// A `DoPut`'s writer side: `finish` ends the body and waits for the
/// server's answer, its `PutResult`s going to [`PutResults`].
type PutSink = RequestSink<PutCall>;

/// The call of a `DoPut`, running on a task of its own.
struct PutCall {
    /// The call, answering with the PutResults' app_metadata.
    call: Option<tokio::task::JoinHandle<Result<Vec<Bytes>>>>,
    results: Option<tokio::sync::oneshot::Sender<Vec<Bytes>>>,
    peer: String,
    rpc: String,
}

impl PutCall {
    /// The call's outcome (at most `limit`).
    async fn answer(&mut self, limit: Option<std::time::Duration>) -> Result<Vec<Bytes>> {
        let Some(call) = self.call.take() else {
            return Err(Error::Protocol(format!(
                "{}: {} ended already",
                self.peer, self.rpc
            )));
        };
        let waited = match limit {
            Some(limit) => tokio::time::timeout(limit, call)
                .await
                .map_err(|_| Error::Timeout {
                    stalled: format!("no answer from {}", self.peer),
                    after: limit,
                    context: format!("waiting for the status of {}", self.rpc),
                })?,
            None => call.await,
        };
        waited.map_err(|e| Error::Protocol(format!("{}: {}: {e}", self.peer, self.rpc)))?
    }
}

impl RequestEnd for PutCall {
    fn why(&mut self, e: SendError) -> SinkFuture<'_, SendError> {
        Box::pin(async move {
            let Some(call) = self.call.as_ref() else {
                return e;
            };
            // The body was dropped as the call was ending: give it a moment.
            let limit = (!call.is_finished()).then_some(std::time::Duration::from_secs(1));
            match self.answer(limit).await {
                Err(status) => SendError::Failed(status),
                Ok(_) => e,
            }
        })
    }

    fn finish(
        &mut self,
        ended: Result<()>,
        limit: Option<std::time::Duration>,
    ) -> SinkFuture<'_, Result<()>> {
        Box::pin(async move {
            let answer = self.answer(limit).await;
            let results = match (ended, answer) {
                // The server's status says more than a body it stopped reading.
                (_, Err(e)) | (Err(e), Ok(_)) => return Err(e),
                (Ok(()), Ok(results)) => results,
            };
            if let Some(tx) = self.results.take() {
                let _ = tx.send(results);
            }
            Ok(())
        })
    }

    fn abort(&mut self) {
        if let Some(call) = self.call.take() {
            call.abort();
        }
    }
}

/// A client `DoExchange`'s writer side: when the body is gone because the
/// server refused the call, the writer's error says so, with the server's
/// status (the answer's reader gets the status itself); `finish` ends our
/// stream only.
type ExchangeSink = RequestSink<ExchangeRefusal>;

/// The error of a `DoExchange` call that failed before its answer began.
struct ExchangeRefusal(tokio::sync::watch::Receiver<Option<String>>);

impl RequestEnd for ExchangeRefusal {
    fn why(&mut self, e: SendError) -> SinkFuture<'_, SendError> {
        Box::pin(async move {
            // The body is dropped as the call ends: give its error a moment.
            let waited = tokio::time::timeout(
                std::time::Duration::from_secs(1),
                self.0.wait_for(Option::is_some),
            )
            .await;
            match waited {
                Ok(Ok(refusal)) => SendError::Failed(Error::Protocol(format!(
                    "the call ended: {}",
                    refusal.as_deref().unwrap_or_default()
                ))),
                _ => e,
            }
        })
    }

    fn finish(
        &mut self,
        ended: Result<()>,
        _: Option<std::time::Duration>,
    ) -> SinkFuture<'_, Result<()>> {
        Box::pin(std::future::ready(ended))
    }
}

/// The body of an answer whose headers said it is gRPC.
struct Answer {
    body: Body,
    /// The headers held the status already, OK (a trailers-only answer):
    /// the body is empty.
    status_seen: bool,
    /// The answer's headers (gRPC's initial metadata).
    headers: HeaderMap,
}

/// An answer that ended without a gRPC status (a server that died, a reset
/// stream): kind `Truncated`, never a short valid stream.
fn truncated(peer: &str, rpc: &str, messages: u64, how: &str) -> Error {
    Error::Codec(lightstream_core::Error::new(
        ErrorKind::Truncated,
        format!(
            "Flight stream from {peer} ({rpc}) ended without a gRPC status after {messages} \
             messages ({how})"
        ),
    ))
}

/// Why a body stopped, in a few words: the innermost error of `e`'s chain
/// (an I/O error such as a reset connection, an HTTP/2 error), not the
/// debug text of every layer above it (tonic's status, hyper's error).
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(source) = inner.source() {
        inner = source;
    }
    let text = inner.to_string();
    match text.char_indices().nth(STATUS_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

/// The `grpc-status` header.
const GRPC_STATUS: &str = "grpc-status";
/// The longest server message an [`Error::Flight`] quotes, in characters.
const STATUS_MESSAGE_CHARS: usize = 200;

/// The status in `headers`: its code, and the message (Arrow's
/// `x-arrow-status-message-bin` when present, else the first line of the
/// percent-decoded `grpc-message`), at most [`STATUS_MESSAGE_CHARS`].
/// `None` without `grpc-status`. Nothing in them can make this fail.
fn status_of(headers: &HeaderMap) -> Option<(FlightCode, String)> {
    let code = headers.get(GRPC_STATUS)?;
    let code = std::str::from_utf8(code.as_bytes())
        .ok()
        .and_then(|c| c.trim().parse::<i32>().ok())
        .map_or(FlightCode::Unknown, FlightCode::from_i32);
    let arrow = headers.get("x-arrow-status-message-bin").and_then(|v| {
        use base64::Engine as _;
        let text = v.as_bytes();
        let text = text
            .strip_suffix(b"==")
            .or(text.strip_suffix(b"="))
            .unwrap_or(text);
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(text)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    });
    let message = arrow.unwrap_or_else(|| {
        headers
            .get("grpc-message")
            .map(|v| percent_decode(v.as_bytes()))
            .unwrap_or_default()
    });
    let first = message.lines().next().unwrap_or_default().trim();
    // pyarrow quotes a KeyError's message (its repr): one pair is dropped.
    let first = first
        .strip_prefix('"')
        .and_then(|m| m.strip_suffix('"'))
        .unwrap_or(first);
    Some((code, first.chars().take(STATUS_MESSAGE_CHARS).collect()))
}

/// gRPC's percent-encoding of `grpc-message` undone (lossy UTF-8).
fn percent_decode(text: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let decoded = match text.get(i..i + 3) {
            Some([b'%', h, l]) => hex(*h).zip(hex(*l)).map(|(h, l)| (h * 16 + l) as u8),
            _ => None,
        };
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(text[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The length of the gRPC message whose prefix is `prefix`: uncompressed
/// (flag 0) and at most `limit` bytes, or an error naming the call.
fn prefix_len(prefix: &[u8], limit: usize, peer: &str, rpc: &str) -> Result<usize> {
    let error = |kind, what: String| {
        Error::Codec(lightstream_core::Error::new(
            kind,
            format!("{peer}: the answer to {rpc}: {what}"),
        ))
    };
    match prefix {
        [0, a, b, c, d] => {
            let len = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
            if len > limit {
                return Err(error(
                    ErrorKind::LimitExceeded,
                    format!(
                        "a gRPC message of {len} bytes is over the limit of {limit} \
                         (FlightOptions::max_message_bytes)"
                    ),
                ));
            }
            Ok(len)
        }
        [1, ..] => Err(error(
            ErrorKind::Unsupported,
            "compressed gRPC messages are not supported".into(),
        )),
        _ => Err(error(
            ErrorKind::Malformed,
            format!("bad gRPC message prefix {prefix:?}"),
        )),
    }
}

/// One gRPC message (prefix and encoded `message`) as a request body.
fn framed(message: &impl Message) -> Body {
    let len = message.encoded_len();
    let mut buf = Vec::with_capacity(GRPC_PREFIX_LEN + len);
    // A control message is far below 4 GiB (its fields are the caller's).
    buf.extend_from_slice(&grpc_prefix(u32::try_from(len).unwrap_or(u32::MAX)));
    message.encode_raw(&mut buf);
    Body::new(Full::new(Bytes::from(buf)))
}

/// Bytes as escaped ASCII, at most 64 bytes of them (a ticket in errors).
struct Shown<'a>(&'a [u8]);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cut = self.0.len() > 64;
        write!(f, "{}", self.0[..self.0.len().min(64)].escape_ascii())?;
        if cut {
            write!(f, "...")?;
        }
        Ok(())
    }
}

/// The largest HTTP/2 frame the client accepts (its SETTINGS_MAX_FRAME_SIZE;
/// HTTP/2's default is 16 KiB). A FlightData body is gathered out of its DATA
/// frames in one copy whatever their size, but each frame costs a parse and a
/// poll: a 32 MB body from pyarrow's server comes in 1,969 frames at 16 KiB,
/// 49 at 1 MiB (29 at 16 MiB, where grpc's own writes of about 1 MB cut them).
/// 1 MiB takes most of that gain while h2 holds at most 1 MiB of a frame
/// before handing it on (benches/README.md, Flight).
const MAX_FRAME_BYTES: u32 = 1 << 20;

/// The body of a `DoGet` answer (or, on a server, of a `DoPut` request) as
/// a plain Arrow IPC byte stream, for the reader: DATA frames go through
/// the core's [`FlightToIpc`] straight into the place the reader reads to
/// (a body's aligned memory). How the stream ends: an answer's trailers'
/// status decides; a request body ends complete at its end. Errors travel
/// inside `io::Error` and come back out typed ([`Error::reading`]).
pub(crate) struct FlightRead<B = Body> {
    body: B,
    translator: FlightToIpc,
    /// What is left of the last DATA frame.
    chunk: Bytes,
    state: ReadState,
    peer: String,
    /// The call, as errors name it.
    rpc: String,
    /// A request body's (a server's `DoPut`): told whether the body was
    /// read to its end, when the stream ends or the reader drops it.
    on_end: Option<tokio::sync::oneshot::Sender<bool>>,
    /// Where the `app_metadata` goes (the application asked for it).
    metadata: Option<AppMetadataSender>,
}

/// The `app_metadata` of a DoGet ([`FlightClient::do_get_with_metadata`])
/// or of a DoPut a server reads ([`crate::flight::PutMetadata`]).
pub type AppMetadataReceiver = tokio::sync::mpsc::UnboundedReceiver<AppMetadata>;
pub(crate) type AppMetadataSender = tokio::sync::mpsc::UnboundedSender<AppMetadata>;

/// The `app_metadata` of one FlightData (of a DoGet's answer, or of a
/// DoPut's upload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppMetadata {
    /// Which FlightData carried it, from 0 (the schema); dictionary batches
    /// count too.
    pub message: u64,
    /// The bytes as sent.
    pub bytes: Bytes,
}

/// Where a [`FlightRead`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// Reading the body.
    Body,
    /// The OK status came: writing what the translator still owes (the
    /// end-of-stream marker).
    Draining,
    /// Nothing more.
    Done,
}

impl<B> FlightRead<B> {
    /// A request body (a server's `DoPut` or `DoExchange`, `rpc`) as the
    /// reader's input, taking FlightData of at most `max` bytes; `on_end`
    /// learns whether the body was read to its end, `metadata` gets the
    /// FlightData's `app_metadata`.
    pub(crate) fn request(
        body: B,
        max: u64,
        peer: String,
        rpc: &str,
        on_end: tokio::sync::oneshot::Sender<bool>,
        metadata: Option<AppMetadataSender>,
    ) -> FlightRead<B> {
        FlightRead {
            body,
            translator: FlightToIpc::new(max.min(u64::from(u32::MAX))),
            chunk: Bytes::new(),
            state: ReadState::Body,
            peer,
            rpc: rpc.to_string(),
            on_end: Some(on_end),
            metadata,
        }
    }

    fn fail(&mut self, e: Error) -> Poll<std::io::Result<()>> {
        self.state = ReadState::Done;
        self.ended(false);
        Poll::Ready(Err(std::io::Error::other(e)))
    }

    /// Tells a request's `on_end` how it ended.
    fn ended(&mut self, read_all: bool) {
        if let Some(tx) = self.on_end.take() {
            let _ = tx.send(read_all);
        }
    }
}

impl<B> Drop for FlightRead<B> {
    /// A request body dropped before its end was not read to it.
    fn drop(&mut self) {
        self.ended(false);
    }
}

impl<B> FlightRead<B> {
    fn cut(&mut self, how: &str) -> Poll<std::io::Result<()>> {
        let e = truncated(&self.peer, &self.rpc, self.translator.messages(), how);
        self.fail(e)
    }
}

impl<B> AsyncRead for FlightRead<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            match this.state {
                ReadState::Done => return Poll::Ready(Ok(())),
                ReadState::Draining => {
                    if this.translator.drain(buf) > 0 {
                        return Poll::Ready(Ok(()));
                    }
                    this.state = ReadState::Done;
                    this.ended(true);
                }
                ReadState::Body if !this.chunk.is_empty() => {
                    let before = buf.filled().len();
                    let used = match this.translator.translate(&this.chunk, buf) {
                        Ok(used) => used,
                        Err(e) => return this.fail(Error::Codec(e)),
                    };
                    this.chunk.advance(used);
                    // Side items are taken as they come, so that they never
                    // pile up in the translator: app_metadata to the
                    // application when it asked for it, the rest dropped.
                    while let Some(side) = this.translator.take_side() {
                        if let (Some(tx), FlightSide::AppMetadata { message, bytes }) =
                            (&this.metadata, side)
                        {
                            let _ = tx.send(AppMetadata { message, bytes });
                        }
                    }
                    if buf.filled().len() > before {
                        return Poll::Ready(Ok(()));
                    }
                    if used == 0 {
                        // The contract: input is consumed whenever there is room.
                        return this.fail(Error::Protocol(format!(
                            "{}: {}: the Flight translator made no progress",
                            this.peer, this.rpc
                        )));
                    }
                }
                ReadState::Body => match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => this.chunk = data,
                        Err(frame) => {
                            let Ok(trailers) = frame.into_trailers() else {
                                continue;
                            };
                            match status_of(&trailers) {
                                None => return this.cut("trailers without grpc-status"),
                                Some((FlightCode::Ok, _)) => {
                                    if let Err(e) = this.translator.end(true) {
                                        return this.fail(Error::Codec(e));
                                    }
                                    this.state = ReadState::Draining;
                                }
                                Some((code, message)) => {
                                    let e = Error::Flight {
                                        peer: this.peer.clone(),
                                        rpc: this.rpc.clone(),
                                        code,
                                        message,
                                    };
                                    return this.fail(e);
                                }
                            }
                        }
                    },
                    Some(Err(e)) => {
                        let e: Box<dyn std::error::Error + Send + Sync> = e.into();
                        return this.cut(&cause(&*e));
                    }
                    // A request body (no trailers) is complete at its end.
                    None if this.on_end.is_some() => {
                        if let Err(e) = this.translator.end(true) {
                            return this.fail(Error::Codec(e));
                        }
                        this.state = ReadState::Draining;
                    }
                    None => return this.cut("no trailers"),
                },
            }
        }
    }
}

/// `Bearer <token>` as a header value, marked sensitive (HTTP/2 never
/// indexes it); a token no header may carry is a configuration error that
/// does not quote it.
fn bearer_value(token: &str, peer: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        Error::Config(format!(
            "{peer}: the token (ClientOptions::token) has a character no HTTP header may carry"
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Connects to a `grpc://` or `grpc+tls://` endpoint for [`crate::connect`]:
/// the connection's reader runs `DoGet` with `options.flight.ticket`, its
/// writer `DoPut` with the descriptor of `options.flight`.
pub(crate) async fn connect(endpoint: &Endpoint, options: &ClientOptions) -> Result<Connection> {
    let client = FlightClient::connect(endpoint, options).await?;
    let peer = client.peer.clone();
    Ok(Connection::new(Call(client), peer))
}

/// A connection whose call starts with the reader (`DoGet`) or the writer
/// (`DoPut`).
struct Call(FlightClient);

impl Link for Call {
    fn input(self: Box<Self>, peer: String, limits: DecodeLimits) -> Pending<'static, Input> {
        Box::pin(async move {
            if let Some(ticket) = self.0.flight.ticket.clone() {
                return self.0.do_get_input(ticket, limits, None).await;
            }
            // A descriptor: GetFlightInfo, then every endpoint in order.
            let descriptor = self.0.flight.descriptor().ok_or_else(|| {
                Error::Config(format!(
                    "{peer}: reading a Flight needs a ticket (grpc://host:port/?ticket=T, \
                     ClientOptions::flight.ticket, or the CLI's --ticket) or a descriptor \
                     (/?path=a/b, /?cmd=C: every endpoint GetFlightInfo lists)"
                ))
            })?;
            self.0.read_flight_input(&descriptor, limits).await
        })
    }

    fn sink(self: Box<Self>, peer: String) -> Pending<'static, Box<dyn MessageSink>> {
        let sink = match self.0.flight.descriptor() {
            Some(descriptor) => {
                Ok(Box::new(self.0.do_put_sink(&descriptor).0) as Box<dyn MessageSink>)
            }
            None => Err(Error::Config(format!(
                "{peer}: writing a Flight needs a descriptor (grpc://host:port/?path=a/b or \
                 ?cmd=C, ClientOptions::flight.path or .cmd, or the CLI's --path)"
            ))),
        };
        Box::pin(std::future::ready(sink))
    }

    fn max_batch_body(&self) -> Option<usize> {
        self.0.max_batch_body()
    }
}

/// The answer of a client's `DoExchange` ([`FlightClient::do_exchange`]):
/// the call, running on a task of its own while the writer feeds it.
struct ExchangeAnswer {
    client: FlightClient,
    call: tokio::task::JoinHandle<Result<Answer>>,
    rpc: String,
}

impl Link for ExchangeAnswer {
    fn input(self: Box<Self>, peer: String, limits: DecodeLimits) -> Pending<'static, Input> {
        Box::pin(async move {
            let answer = self
                .call
                .await
                .map_err(|e| Error::Protocol(format!("{peer}: {}: {e}", self.rpc)))??;
            let read = self.client.answer_read(
                answer.body,
                answer.status_seen,
                self.rpc,
                &limits,
                None,
            )?;
            Ok(Input::Bytes(Box::new(read)) as Input)
        })
    }

    fn sink(self: Box<Self>, peer: String) -> Pending<'static, Box<dyn MessageSink>> {
        Box::pin(std::future::ready(Err(Error::Config(format!(
            "{peer}: {}: this is the answer, read it (write with the TableWriter of \
             FlightClient::do_exchange)",
            self.rpc
        )))))
    }
}

/// What the connector needs to open another connection.
#[derive(Clone)]
struct Reconnect {
    hostport: String,
    tls: bool,
    options: ClientOptions,
    peer: String,
}

/// TCP to `hostport` and, with `tls`, the TLS handshake offering ALPN `h2`
/// (gRPC servers such as Arrow C++'s require it).
async fn open(
    hostport: &str,
    tls: bool,
    options: &ClientOptions,
    peer: &str,
) -> Result<Box<dyn Io>> {
    if tls {
        #[cfg(feature = "tls")]
        {
            let mut config = match &options.tls {
                Some(c) => c.as_ref().clone(),
                None => crate::tls::client_config()?.as_ref().clone(),
            };
            config.alpn_protocols = vec![b"h2".to_vec()];
            let stream = crate::transport::tls::client_stream(
                hostport,
                Some(&Arc::new(config)),
                options.handshake_timeout,
                peer,
            )
            .await?;
            return Ok(Box::new(stream));
        }
        #[cfg(not(feature = "tls"))]
        return Err(Error::Config(format!(
            "{peer}: Flight over TLS was not compiled in (lightstream's `flight` and `tls` features)"
        )));
    }
    let _ = options;
    let tcp = tokio::net::TcpStream::connect(hostport)
        .await
        .map_err(|e| Error::io(format!("connecting to {peer}"), e))?;
    let _ = tcp.set_nodelay(true);
    Ok(Box::new(tcp))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The headers of pyarrow's trailers-only answer to an unknown ticket,
    /// as captured (tests/data/flight/nope.headers).
    fn captured() -> HeaderMap {
        let text = include_str!("../../../../../tests/data/flight/nope.headers");
        let mut map = HeaderMap::new();
        for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let (name, value) = line.split_once(": ").expect("name: value");
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).expect("a name"),
                HeaderValue::from_str(value).expect("a value"),
            );
        }
        map
    }

    #[test]
    fn statuses_read_arrows_message_first_then_grpc_message() {
        let mut map = captured();
        let (code, message) = status_of(&map).expect("a status");
        assert_eq!(code, FlightCode::NotFound);
        assert_eq!(message, "no such ticket: b'nope'");
        // Without Arrow's header: the first line of grpc-message, decoded.
        map.remove("x-arrow-status-message-bin");
        let (_, message) = status_of(&map).expect("a status");
        assert_eq!(
            message,
            "\"no such ticket: b'nope'\". Detail: Python exception: Traceback (most recent \
             call last):"
        );
        map.insert(
            "grpc-message",
            HeaderValue::from_str(&"x%41%zz".repeat(100)).expect("a value"),
        );
        let (_, message) = status_of(&map).expect("a status");
        assert_eq!(message.chars().count(), STATUS_MESSAGE_CHARS);
        assert!(message.starts_with("xA%zzxA%zz"), "{message}");
    }

    #[test]
    fn hostile_status_headers_are_statuses_never_panics() {
        let mut map = HeaderMap::new();
        assert!(status_of(&map).is_none());
        map.insert("grpc-status", HeaderValue::from_static("banana"));
        map.insert(
            "grpc-status-details-bin",
            HeaderValue::from_static("!!!not base64"),
        );
        map.insert(
            "x-arrow-status-message-bin",
            HeaderValue::from_static("@@@"),
        );
        map.insert("grpc-message", HeaderValue::from_static("%E2%28%A1 %"));
        let (code, message) = status_of(&map).expect("a status");
        assert_eq!(code, FlightCode::Unknown);
        assert_eq!(message, "\u{FFFD}(\u{FFFD} %");
        map.insert("grpc-status", HeaderValue::from_static("99"));
        assert_eq!(status_of(&map).expect("a status").0, FlightCode::Other(99));
    }

    #[test]
    fn prefixes_are_checked_before_anything_is_kept() {
        let ok = prefix_len(&[0, 0, 0, 1, 0], 256, "p", "r").expect("256 bytes");
        assert_eq!(ok, 256);
        let e = prefix_len(&[0, 0xff, 0xff, 0xff, 0xff], 1 << 20, "p", "r").unwrap_err();
        assert_eq!(e.codec_kind(), Some(ErrorKind::LimitExceeded), "{e}");
        let e = prefix_len(&[1, 0, 0, 0, 1], 256, "p", "r").unwrap_err();
        assert_eq!(e.codec_kind(), Some(ErrorKind::Unsupported), "{e}");
        assert!(e.to_string().contains("compressed gRPC messages"), "{e}");
        let e = prefix_len(&[7, 0, 0, 0, 1], 256, "p", "r").unwrap_err();
        assert_eq!(e.codec_kind(), Some(ErrorKind::Malformed), "{e}");
    }
}
