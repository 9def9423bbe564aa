//! The Arrow Flight server: `grpc://` and `grpc+tls://` listeners, and
//! [`FlightService`], the tower service behind them that applications can
//! also mount in a tonic `Server` of their own.
//!
//! Each `DoGet` call becomes a [`Connection`] whose writer streams the
//! call's response (one `FlightData` per IPC message, ending with the
//! trailers `grpc-status: 0`); each `DoPut` call becomes a connection whose
//! reader reads the uploaded stream (its `app_metadata` and `PutResult`s:
//! [`Connection::put_metadata`]); each `DoExchange` a connection that
//! [`Connection::split`] cuts into the two. [`Connection::flight_request`]
//! says which, with the ticket or descriptor. One link, `ServedCall`, is
//! behind all of them. `GetFlightInfo`, `GetSchema` and
//! `ListFlights` are answered by the [`FlightCatalog`] of the server's
//! options (`UNIMPLEMENTED` without one); other RPCs are `UNIMPLEMENTED`.
//!
//! How the bytes go: the data RPCs do not pass through tonic's codec (it
//! copies every message into a frame buffer). A `DoGet` response is an
//! [`crate::http::ArrowBody`] with gRPC trailers (one slot between the
//! writer and hyper, so a slow client slows the writer); each FlightData is
//! one small head (`lightstream_core::flight::flight_data_head`) followed by
//! the message body as separate `Bytes`: a hub's shared messages are sliced,
//! not copied; a [`crate::TableWriter`]'s bodies, which borrow the table,
//! are copied once in pieces of at most 1 MiB. The control RPCs are prost
//! messages behind the core's 5-byte gRPC prefix.
//!
//! What it is not: the client (`client.rs`), or a general gRPC router: only
//! `arrow.flight.protocol.FlightService` is answered.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use lightstream_core::flight::{FlightSide, FlightToIpc, GRPC_PREFIX_LEN, grpc_prefix};
use lightstream_core::{DecodeLimits, Schema};
use prost::Message;
use tokio::sync::{mpsc, oneshot};
use tonic::{Code, Status};

use crate::connection::{Connection, Link, Listener, Pending};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::flight::{
    DEFAULT_MAX_FLIGHT_DATA_BYTES, FlightCode, FlightDescriptor, FlightInfo, proto,
};
use crate::reader::Input;
use crate::transport::ServerOptions;
use crate::transport::grpc::auth::FlightAuth;
use crate::transport::grpc::client::{AppMetadataReceiver, AppMetadataSender, FlightRead};
use crate::transport::grpc::sink::FlightSink;
use crate::transport::grpc::{batch_body_limit, max_flight_data};
use crate::transport::http::{Channels, HttpAcceptor, ServerIo, serve_hyper};
#[cfg(feature = "tls")]
use crate::transport::tls::ServerSide;
use crate::writer::MessageSink;

/// The gRPC service name of Arrow Flight.
const SERVICE: &str = "arrow.flight.protocol.FlightService";

/// What a Flight call accepted by a server asks for
/// ([`Connection::flight_request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlightRequest {
    /// `DoGet`: write the stream `ticket` names (or
    /// [`Connection::reject`] it).
    DoGet {
        /// The ticket's bytes as the client sent them.
        ticket: Bytes,
    },
    /// `DoPut`: read the stream the client uploads for `descriptor`
    /// ([`Connection::put_metadata`] for its `app_metadata` and to answer
    /// with `PutResult`s).
    DoPut {
        /// The first FlightData's `flight_descriptor`.
        descriptor: FlightDescriptor,
    },
    /// `DoExchange`: a stream each way. [`Connection::split`] gives the
    /// connection that reads the client's stream and the one that writes
    /// the answer.
    DoExchange {
        /// The first FlightData's `flight_descriptor`.
        descriptor: FlightDescriptor,
    },
}

/// A boxed future of a [`FlightCatalog`] answer.
pub type CatalogFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// What a Flight server says about its flights: `ListFlights`,
/// `GetFlightInfo` and `GetSchema` (set it with
/// [`crate::ServerOptions::flight_catalog`]).
///
/// An `Err` becomes the call's gRPC status: an [`Error::Flight`] keeps its
/// code (say `FlightCode::NotFound` for a descriptor you do not know), any
/// other error is `INTERNAL` with its text.
pub trait FlightCatalog: Send + Sync + 'static {
    /// The flights matching `criteria` (empty: all of them).
    fn list_flights<'a>(&'a self, criteria: &'a [u8]) -> CatalogFuture<'a, Vec<FlightInfo>>;

    /// How to get the flight `descriptor` names.
    fn get_flight_info<'a>(
        &'a self,
        descriptor: &'a FlightDescriptor,
    ) -> CatalogFuture<'a, FlightInfo>;

    /// The schema of the flight `descriptor` names; the default takes it
    /// from [`FlightCatalog::get_flight_info`] (`NOT_FOUND` when it has
    /// none).
    fn get_schema<'a>(
        &'a self,
        descriptor: &'a FlightDescriptor,
    ) -> CatalogFuture<'a, Arc<Schema>> {
        Box::pin(async move {
            self.get_flight_info(descriptor)
                .await?
                .schema
                .ok_or_else(|| Error::Flight {
                    peer: String::new(),
                    rpc: format!("GetSchema {descriptor}"),
                    code: FlightCode::NotFound,
                    message: format!("no schema for {descriptor}"),
                })
        })
    }
}

/// The gRPC status of an error a catalog or an application returned.
fn status_of(e: &Error) -> Status {
    match e {
        Error::Flight { code, message, .. } => Status::new(Code::from(code.as_i32()), message),
        other => Status::internal(other.to_string()),
    }
}

/// The schema bytes of `FlightInfo.schema` and `SchemaResult.schema`.
fn schema_bytes(schema: Option<&Schema>) -> std::result::Result<Bytes, Status> {
    match schema {
        None => Ok(Bytes::new()),
        Some(schema) => lightstream_core::flight::schema_bytes(schema)
            .map(Bytes::from)
            .map_err(|e| Status::internal(format!("encoding the schema: {e}"))),
    }
}

/// A catalog's flight as the wire message.
fn info_to_proto(info: FlightInfo) -> std::result::Result<proto::FlightInfo, Status> {
    info.to_proto()
        .map_err(|e| Status::internal(format!("encoding the flight's schema: {e}")))
}

/// Arrow Flight's `FlightService` as a tower service, for a tonic `Server`
/// of your own (`Server::builder().add_service(service)`, next to your
/// other services) or any HTTP/2 server: `DoGet`, `DoPut` and `DoExchange`
/// calls come out of the [`FlightCalls`] made with it as [`Connection`]s,
/// the catalog answers the rest. [`crate::bind`] on a `grpc://` endpoint runs one on
/// its own server.
#[derive(Clone)]
pub struct FlightService {
    shared: Arc<Shared>,
    /// Who called, for errors and peer names.
    peer: Arc<str>,
}

impl std::fmt::Debug for FlightService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightService")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// The `DoGet`, `DoPut` and `DoExchange` calls of a [`FlightService`], one
/// [`Connection`] each.
#[derive(Debug)]
pub struct FlightCalls {
    incoming: tokio::sync::Mutex<mpsc::Receiver<Connection>>,
}

impl FlightCalls {
    /// The next call (`None` once every clone of the service is gone).
    pub async fn accept(&self) -> Option<Connection> {
        self.incoming.lock().await.recv().await
    }
}

/// What every call of a service needs.
#[derive(Clone)]
struct Shared {
    connections: mpsc::Sender<Connection>,
    catalog: Option<Arc<dyn FlightCatalog>>,
    /// The largest gRPC message accepted: FlightData (checked by the core
    /// at each prefix) and control messages.
    max_message: u64,
    /// The largest control message (`Ticket`, `FlightDescriptor`, ...).
    max_control: usize,
    /// The largest record batch body a `DoGet` answer sends as one
    /// FlightData (see [`FlightService::max_flight_data_bytes`]).
    max_batch_body: Option<usize>,
    /// Who may call (see [`FlightService::auth`]).
    auth: FlightAuth,
}

/// The largest control message (a ticket, a descriptor, criteria) a
/// server reads, and the most of a DoPut it reads before the descriptor.
const MAX_CONTROL_BYTES: usize = 4 << 20;

/// Calls waiting for `accept` beyond which a new one waits.
const ACCEPT_QUEUE: usize = 16;

impl FlightService {
    /// A service answering `ListFlights`, `GetFlightInfo` and `GetSchema`
    /// from `catalog` (`UNIMPLEMENTED` without one), taking FlightData and
    /// control messages as large as `limits` allow; its data calls
    /// (`DoGet`, `DoPut`, `DoExchange`) come out of the [`FlightCalls`].
    pub fn new(
        catalog: Option<Arc<dyn FlightCatalog>>,
        limits: DecodeLimits,
    ) -> (FlightService, FlightCalls) {
        let (connections, incoming) = mpsc::channel(ACCEPT_QUEUE);
        let service = FlightService::with_sender(connections, catalog, limits);
        let calls = FlightCalls {
            incoming: tokio::sync::Mutex::new(incoming),
        };
        (service, calls)
    }

    fn with_sender(
        connections: mpsc::Sender<Connection>,
        catalog: Option<Arc<dyn FlightCatalog>>,
        limits: DecodeLimits,
    ) -> FlightService {
        // gRPC's usual receive limit: a ticket or descriptor is small, and
        // a server should not hold 64 MiB per call for one.
        let max_control = limits.max_metadata_bytes.min(MAX_CONTROL_BYTES);
        let max_message = max_flight_data(&limits);
        FlightService {
            shared: Arc::new(Shared {
                connections,
                catalog,
                max_message,
                max_control,
                max_batch_body: batch_body_limit(Some(DEFAULT_MAX_FLIGHT_DATA_BYTES)),
                auth: FlightAuth::default(),
            }),
            peer: Arc::from("grpc"),
        }
    }

    /// Cuts the record batches of `DoGet` answers into FlightData of at most
    /// about `max` bytes (by rows, as arrow-flight does; a single row over it
    /// goes whole): the default, 2 MiB, suits the 4 MiB receive limit of
    /// tonic, grpc-go and arrow-flight clients. `None` never splits (as
    /// pyarrow's server does: its client takes any size).
    pub fn max_flight_data_bytes(mut self, max: Option<usize>) -> FlightService {
        Arc::make_mut(&mut self.shared).max_batch_body = batch_body_limit(max);
        self
    }

    /// Checks every call's `authorization: Bearer <token>` with `token`
    /// (`UNAUTHENTICATED` before anything is read or streamed), and answers
    /// `Handshake` with `basic` (a user name and password for a token). The
    /// default: neither (every call let in, `Handshake` `UNIMPLEMENTED`).
    pub fn auth(
        mut self,
        token: Option<crate::http::TokenCheck>,
        basic: Option<crate::flight::BasicAuth>,
    ) -> FlightService {
        Arc::make_mut(&mut self.shared).auth = FlightAuth { token, basic };
        self
    }

    /// The same service naming its caller `peer`.
    fn for_peer(&self, peer: String) -> FlightService {
        FlightService {
            shared: self.shared.clone(),
            peer: Arc::from(peer),
        }
    }
}

impl tonic::server::NamedService for FlightService {
    const NAME: &'static str = SERVICE;
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> tower::Service<Request<B>> for FlightService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<tonic::body::Body>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::result::Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (shared, peer) = (self.shared.clone(), self.peer.clone());
        let request = request.map(|b| b.map_err(Into::into).boxed_unsync());
        Box::pin(async move { Ok(route(request, shared, peer).await) })
    }
}

/// A request body, boxed.
type RequestBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// The answer to one call.
async fn route(
    request: Request<RequestBody>,
    shared: Arc<Shared>,
    peer: Arc<str>,
) -> Response<tonic::body::Body> {
    let path = request.uri().path().to_string();
    let Some(rpc) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(SERVICE))
        .and_then(|p| p.strip_prefix('/'))
    else {
        return Status::unimplemented(format!("no service at {path}")).into_http();
    };
    let request = match shared.auth.gate(rpc, request).await {
        Ok(request) => request,
        Err(answer) => return *answer,
    };
    let peer = format!("{peer} {rpc}");
    match rpc {
        "DoGet" => do_get(request, &shared, peer).await,
        "DoPut" => do_upload(request, &shared, peer, false).await,
        "DoExchange" => do_upload(request, &shared, peer, true).await,
        "GetFlightInfo" | "GetSchema" | "ListFlights" => {
            let Some(catalog) = shared.catalog.clone() else {
                return Status::unimplemented(format!("{rpc}: this Flight server has no catalog"))
                    .into_http();
            };
            control(rpc, request, catalog, shared.max_control).await
        }
        other => Status::unimplemented(format!("{other} is not implemented by this Flight server"))
            .into_http(),
    }
}

/// A control RPC answered by the catalog: one request message, the
/// answer's messages (one, or a flight each for `ListFlights`), then the
/// status. The framing is the core's gRPC prefix and prost's encoding, as
/// the client's (tonic's codec is not used: it copies every message into a
/// frame buffer of its own).
async fn control(
    rpc: &str,
    request: Request<RequestBody>,
    catalog: Arc<dyn FlightCatalog>,
    max: usize,
) -> Response<tonic::body::Body> {
    let body = request.into_body();
    let answer = match rpc {
        "GetFlightInfo" => match one_message::<proto::FlightDescriptor>(body, max).await {
            Ok(d) => {
                let descriptor = FlightDescriptor::from_proto(d);
                match catalog.get_flight_info(&descriptor).await {
                    Ok(info) => info_to_proto(info).map(|m| vec![framed(&m)]),
                    Err(e) => Err(status_of(&e)),
                }
            }
            Err(status) => Err(status),
        },
        "GetSchema" => match one_message::<proto::FlightDescriptor>(body, max).await {
            Ok(d) => {
                let descriptor = FlightDescriptor::from_proto(d);
                match catalog.get_schema(&descriptor).await {
                    Ok(schema) => schema_bytes(Some(schema.as_ref()))
                        .map(|schema| vec![framed(&proto::SchemaResult { schema })]),
                    Err(e) => Err(status_of(&e)),
                }
            }
            Err(status) => Err(status),
        },
        _ => match one_message::<proto::Criteria>(body, max).await {
            Ok(criteria) => match catalog.list_flights(&criteria.expression).await {
                Ok(flights) => flights
                    .into_iter()
                    .map(|info| info_to_proto(info).map(|m| framed(&m)))
                    .collect(),
                Err(e) => Err(status_of(&e)),
            },
            Err(status) => Err(status),
        },
    };
    match answer {
        Err(status) => status.into_http(),
        Ok(messages) => {
            let frames = messages
                .into_iter()
                .map(Frame::data)
                .chain([Frame::trailers(trailers(&Status::ok("")))])
                .map(Ok::<_, Infallible>);
            let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
            streaming_response(tonic::body::Body::new(body))
        }
    }
}

/// One gRPC message: the 5-byte prefix and `message`'s protobuf encoding.
fn framed(message: &impl Message) -> Bytes {
    let len = message.encoded_len();
    let mut out = Vec::with_capacity(GRPC_PREFIX_LEN + len);
    // A control message is far below 4 GiB (its parts are limited).
    out.extend_from_slice(&grpc_prefix(u32::try_from(len).unwrap_or(u32::MAX)));
    message.encode_raw(&mut out);
    Bytes::from(out)
}

/// The trailers (or the headers of a trailers-only answer) carrying
/// `status`.
fn trailers(status: &Status) -> HeaderMap {
    let mut trailers = HeaderMap::new();
    // Only a message with bytes no header may carry fails; tonic
    // percent-encodes it, so none does.
    let _ = status.add_header(&mut trailers);
    trailers
}

/// Reads the one gRPC message of a request body (a `Ticket`), at most
/// `max` bytes.
async fn one_message<M: Message + Default>(
    body: RequestBody,
    max: usize,
) -> std::result::Result<M, Status> {
    let mut body = body;
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| Status::invalid_argument(format!("reading the request: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > max.saturating_add(GRPC_PREFIX_LEN) {
                return Err(Status::resource_exhausted(format!(
                    "the request message is over {max} bytes"
                )));
            }
            bytes.extend_from_slice(&data);
        }
    }
    let Some((prefix, message)) = bytes.split_first_chunk::<GRPC_PREFIX_LEN>() else {
        return Err(Status::invalid_argument(
            "the request ended before its gRPC message",
        ));
    };
    let [flag, len @ ..] = *prefix;
    if flag != 0 {
        return Err(Status::unimplemented(
            "compressed gRPC messages are not supported",
        ));
    }
    if u32::from_be_bytes(len) as usize != message.len() {
        return Err(Status::invalid_argument(format!(
            "the request's gRPC message says {} bytes, {} came",
            u32::from_be_bytes(len),
            message.len()
        )));
    }
    M::decode(message).map_err(|e| Status::invalid_argument(format!("a bad request message: {e}")))
}

/// Hands `call` to the application as a connection (named `peer`) and
/// waits for its answer (a response whose body may still be streaming).
async fn hand_over(
    call: ServedCall,
    answered: oneshot::Receiver<Response<tonic::body::Body>>,
    peer: String,
    shared: &Shared,
) -> Response<tonic::body::Body> {
    if shared
        .connections
        .send(Connection::new(call, peer))
        .await
        .is_err()
    {
        return Status::unavailable("the server is closing").into_http();
    }
    answered
        .await
        .unwrap_or_else(|_| Status::unavailable("the server dropped the call").into_http())
}

/// `DoGet`: the ticket, then a connection for the application to write to.
async fn do_get(
    request: Request<RequestBody>,
    shared: &Shared,
    peer: String,
) -> Response<tonic::body::Body> {
    let ticket = match one_message::<proto::Ticket>(request.into_body(), shared.max_control).await {
        Ok(ticket) => ticket.ticket,
        Err(status) => return status.into_http(),
    };
    let (call, answered) = ServedCall::new(FlightRequest::DoGet { ticket }, None, shared);
    hand_over(call, answered, peer, shared).await
}

/// `DoPut` (`exchange` false) and `DoExchange`: the descriptor of the first
/// FlightData, then a connection for the application to read from (and,
/// for `DoExchange`, to write to). A `DoPut`'s response (its `PutResult`s,
/// then `grpc-status`) ends once the reader is done with the request body
/// and the application dropped its [`PutResultSender`].
async fn do_upload(
    request: Request<RequestBody>,
    shared: &Shared,
    peer: String,
    exchange: bool,
) -> Response<tonic::body::Body> {
    let rpc = if exchange { "DoExchange" } else { "DoPut" };
    let mut body = request.into_body();
    let (descriptor, read) = match first_descriptor(&mut body, shared, rpc).await {
        Ok(found) => found,
        Err(status) => return status.into_http(),
    };
    let request = if exchange {
        FlightRequest::DoExchange { descriptor }
    } else {
        FlightRequest::DoPut { descriptor }
    };
    let body = Replay {
        read: read.into(),
        rest: body,
    };
    let upload = Upload::new(body, &peer);
    let (call, answered) = ServedCall::new(request, Some(upload), shared);
    hand_over(call, answered, peer, shared).await
}

/// The Flight method of a request, as errors name it.
impl FlightRequest {
    fn rpc(&self) -> &'static str {
        match self {
            FlightRequest::DoGet { .. } => "DoGet",
            FlightRequest::DoPut { .. } => "DoPut",
            FlightRequest::DoExchange { .. } => "DoExchange",
        }
    }
}

/// A data call waiting for the application: a `DoGet` (it writes), a
/// `DoPut` (it reads), a `DoExchange` (both: [`Connection::split`] it), or
/// one half of a split `DoExchange`. One link for all of them: what it may
/// do follows from what it holds.
struct ServedCall {
    request: FlightRequest,
    /// The call's answer, until it is given; `None` in the reading half of
    /// a `DoExchange`.
    respond: Option<oneshot::Sender<Response<tonic::body::Body>>>,
    /// The request's FlightData stream (`DoPut`, `DoExchange`); `None` in
    /// a `DoGet` and the writing half of a `DoExchange`.
    upload: Option<Upload>,
    /// The largest record batch body sent as one FlightData.
    max_batch_body: Option<usize>,
}

impl ServedCall {
    /// A call asking `request`, with the request stream `upload`, and the
    /// receiver of its answer.
    fn new(
        request: FlightRequest,
        upload: Option<Upload>,
        shared: &Shared,
    ) -> (ServedCall, oneshot::Receiver<Response<tonic::body::Body>>) {
        let (respond, answered) = oneshot::channel();
        let call = ServedCall {
            request,
            respond: Some(respond),
            upload,
            max_batch_body: shared.max_batch_body,
        };
        (call, answered)
    }

    /// A `DoExchange` not split yet.
    fn whole_exchange(&self) -> bool {
        matches!(self.request, FlightRequest::DoExchange { .. })
            && self.respond.is_some()
            && self.upload.is_some()
    }

    /// What the application should do with this call: the error of one
    /// that did the other.
    fn use_it(&self) -> &'static str {
        match (&self.request, self.respond.is_some(), self.upload.is_some()) {
            (FlightRequest::DoGet { .. }, ..) => "DoGet asks for a stream: write to it",
            (FlightRequest::DoPut { .. }, ..) => "DoPut carries a stream: read it",
            (FlightRequest::DoExchange { .. }, true, true) => {
                "DoExchange carries a stream each way: Connection::split it first"
            }
            (FlightRequest::DoExchange { .. }, false, _) => {
                "this is the reading half of a DoExchange: read it"
            }
            (FlightRequest::DoExchange { .. }, true, false) => {
                "this is the writing half of a DoExchange: write to it"
            }
        }
    }
}

/// The request stream of a `DoPut` or `DoExchange`, and the channels of a
/// `DoPut`'s [`PutMetadata`].
struct Upload {
    body: Replay,
    /// Where the FlightData's `app_metadata` goes ([`PutMetadata::received`]).
    metadata: AppMetadataSender,
    /// The application's ends, until it takes them
    /// ([`Connection::put_metadata`]) or the reader starts (then they are
    /// dropped: no `PutResult`s, the `app_metadata` is dropped).
    put: Option<PutMetadata>,
    /// The `PutResult`s the application sends, for the response.
    results: mpsc::Receiver<Bytes>,
}

impl Upload {
    fn new(body: Replay, peer: &str) -> Upload {
        let (metadata, received) = mpsc::unbounded_channel();
        // One slot: a PutResult waits until the one before it went out.
        let (results_tx, results) = mpsc::channel(1);
        Upload {
            body,
            metadata,
            put: Some(PutMetadata {
                received,
                results: PutResultSender {
                    tx: results_tx,
                    peer: Arc::from(peer),
                },
            }),
            results,
        }
    }
}

/// What the application of a `DoPut` exchanges with the client besides the
/// tables ([`Connection::put_metadata`]): the `app_metadata` the client
/// sent with its FlightData, and the `PutResult`s the server answers with
/// (pyarrow's `FlightMetadataReader`, arrow-flight's `do_put` stream).
///
/// The call's status goes to the client once the reader is done with the
/// upload and every [`PutResultSender`] is dropped: drop it when you have
/// answered.
#[derive(Debug)]
#[non_exhaustive]
pub struct PutMetadata {
    /// The `app_metadata` of each FlightData of the upload, as the reader
    /// reads it: [`crate::flight::AppMetadata::message`] counts the schema as 0 and
    /// dictionary batches too (an empty `app_metadata` is not sent). Drain
    /// it as you read tables, or drop it.
    pub received: AppMetadataReceiver,
    /// Sends `PutResult`s.
    pub results: PutResultSender,
}

/// Sends the `PutResult`s of a `DoPut` ([`PutMetadata::results`]), each
/// with its `app_metadata`, before the call's status.
#[derive(Debug, Clone)]
pub struct PutResultSender {
    tx: mpsc::Sender<Bytes>,
    peer: Arc<str>,
}

impl PutResultSender {
    /// Sends one `PutResult` carrying `app_metadata`. Bounded: it waits
    /// while the one before it has not gone to the client yet (one slot), so
    /// a client that does not read its results slows the sender. Fails once
    /// the call ended (the client went away).
    pub async fn send(&self, app_metadata: Bytes) -> Result<()> {
        self.tx.send(app_metadata).await.map_err(|_| {
            Error::Protocol(format!(
                "{}: the DoPut call ended: no more PutResults can go",
                self.peer
            ))
        })
    }
}

/// Answers a call with `status` and no stream (trailers-only); nothing
/// when the call was answered already (the reading half of a `DoExchange`).
fn answer(
    respond: Option<oneshot::Sender<Response<tonic::body::Body>>>,
    status: Status,
) -> Pending<'static, ()> {
    if let Some(respond) = respond {
        let _ = respond.send(status.into_http());
    }
    Box::pin(std::future::ready(Ok(())))
}

/// The application used a call the other way: the client gets
/// `FAILED_PRECONDITION`, the application an error saying `what`.
fn wrong_direction<T: Send + 'static>(
    respond: Option<oneshot::Sender<Response<tonic::body::Body>>>,
    peer: &str,
    what: &str,
) -> Pending<'static, T> {
    if let Some(respond) = respond {
        let _ = respond.send(
            Status::failed_precondition("the server used the call the other way").into_http(),
        );
    }
    let error = Error::Protocol(format!(
        "{peer}: {what} (the application used it the other way)"
    ));
    Box::pin(std::future::ready(Err(error)))
}

impl Link for ServedCall {
    fn input(self: Box<Self>, peer: String, limits: DecodeLimits) -> Pending<'static, Input> {
        let (whole_exchange, use_it) = (self.whole_exchange(), self.use_it());
        let ServedCall {
            request,
            respond,
            upload,
            ..
        } = *self;
        let upload = match upload {
            Some(upload) if !whole_exchange => upload,
            _ => return wrong_direction(respond, &peer, use_it),
        };
        let (ended, outcome) = oneshot::channel();
        // A DoPut is answered now: its PutResults, then its status.
        if let Some(respond) = respond {
            let answer = PutAnswer {
                results: Some(upload.results),
                outcome: Some(outcome),
            };
            let _ = respond.send(streaming_response(tonic::body::Body::new(answer)));
        }
        let input = FlightRead::request(
            upload.body,
            max_flight_data(&limits),
            peer,
            request.rpc(),
            ended,
            Some(upload.metadata),
        );
        Box::pin(std::future::ready(Ok(Input::Bytes(Box::new(input)))))
    }

    fn max_batch_body(&self) -> Option<usize> {
        self.max_batch_body
    }

    fn sink(self: Box<Self>, peer: String) -> Pending<'static, Box<dyn MessageSink>> {
        let use_it = self.use_it();
        let ServedCall {
            respond, upload, ..
        } = *self;
        let respond = match (respond, upload) {
            (Some(respond), None) => respond,
            (respond, _) => return wrong_direction(respond, &peer, use_it),
        };
        let (body, inner) = crate::http::channel_with_trailers(data_trailers);
        let _ = respond.send(streaming_response(tonic::body::Body::new(body)));
        Box::pin(std::future::ready(Ok(
            Box::new(FlightSink::new(inner, None)) as Box<dyn MessageSink>,
        )))
    }

    fn split(self: Box<Self>, peer: String) -> crate::Result<(Box<dyn Link>, Box<dyn Link>)> {
        if !self.whole_exchange() {
            return Err(Error::Config(format!(
                "{peer}: only a Flight DoExchange carries a stream each way (this is a {})",
                self.request.rpc()
            )));
        }
        let ServedCall {
            request,
            respond,
            upload,
            max_batch_body,
        } = *self;
        let reading = ServedCall {
            request: request.clone(),
            respond: None,
            upload,
            max_batch_body,
        };
        let writing = ServedCall {
            request,
            respond,
            upload: None,
            max_batch_body,
        };
        Ok((Box::new(reading), Box::new(writing)))
    }

    fn turn_away(self: Box<Self>, _: String, _: Duration, why: String) -> Pending<'static, ()> {
        answer(self.respond, Status::unavailable(why))
    }

    fn flight_request(&self) -> Option<&FlightRequest> {
        Some(&self.request)
    }

    fn put_metadata(&mut self) -> Option<PutMetadata> {
        match self.request {
            FlightRequest::DoPut { .. } => self.upload.as_mut()?.put.take(),
            _ => None,
        }
    }

    fn reject(self: Box<Self>, code: FlightCode, message: String) -> Pending<'static, ()> {
        answer(
            self.respond,
            Status::new(Code::from(code.as_i32()), message),
        )
    }
}

/// The headers of a gRPC response that streams.
fn streaming_response(body: tonic::body::Body) -> Response<tonic::body::Body> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    response
}

/// The trailers of a `DoGet` or `DoExchange` response: `grpc-status: 0` at
/// its end, or `ABORTED` with the reason it was cut.
fn data_trailers(cut: Option<&str>) -> HeaderMap {
    trailers(&match cut {
        None => Status::ok(""),
        Some(why) => Status::aborted(why),
    })
}

/// Reads the start of a `DoPut` or `DoExchange` (`rpc`) body up to the
/// first FlightData's descriptor (at most `max_control` bytes of it, and
/// never past the first message); returns the descriptor and the chunks
/// read, which the reader reads again.
async fn first_descriptor(
    body: &mut RequestBody,
    shared: &Shared,
    rpc: &str,
) -> std::result::Result<(FlightDescriptor, Vec<Bytes>), Status> {
    let mut translator = FlightToIpc::new(shared.max_message);
    let mut read = Vec::new();
    let mut buffered = 0usize;
    let mut scratch = [0u8; 4096];
    loop {
        while let Some(side) = translator.take_side() {
            if let FlightSide::Descriptor { bytes, .. } = side {
                let descriptor = proto::FlightDescriptor::decode(bytes).map_err(|e| {
                    Status::invalid_argument(format!("{rpc}: a bad flight_descriptor: {e}"))
                })?;
                return Ok((FlightDescriptor::from_proto(descriptor), read));
            }
        }
        if translator.messages() > 0 || buffered > shared.max_control {
            return Err(Status::invalid_argument(format!(
                "{rpc}: the first FlightData has no flight_descriptor"
            )));
        }
        let chunk = match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Some(Err(e)) => return Err(Status::cancelled(format!("{rpc}: {e}"))),
            None => {
                return Err(Status::invalid_argument(format!(
                    "{rpc}: the call ended before its first FlightData"
                )));
            }
        };
        buffered += chunk.len();
        let mut input = &chunk[..];
        while !input.is_empty() {
            let mut out = &mut scratch[..];
            let used = translator
                .translate(input, &mut out)
                .map_err(|e| Status::invalid_argument(format!("{rpc}: {e}")))?;
            input = &input[used..];
            if used == 0 && out.len() == scratch.len() {
                break;
            }
        }
        read.push(chunk);
    }
}

/// A request body with the chunks already read in front of it; it tells
/// the response how the body ended.
struct Replay {
    read: std::collections::VecDeque<Bytes>,
    rest: RequestBody,
}

impl Body for Replay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, BoxError>>> {
        if let Some(chunk) = self.read.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }
}

/// The body of a `DoPut` response: the application's `PutResult`s as they
/// come, then, once its sender is gone, the status once the reader is done
/// with the request (`true`: it read it to its end).
struct PutAnswer {
    /// `None` once every sender is gone.
    results: Option<mpsc::Receiver<Bytes>>,
    outcome: Option<oneshot::Receiver<bool>>,
}

impl Body for PutAnswer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Infallible>>> {
        if let Some(results) = self.results.as_mut() {
            match std::task::ready!(results.poll_recv(cx)) {
                Some(app_metadata) => {
                    let result = framed(&proto::PutResult { app_metadata });
                    return Poll::Ready(Some(Ok(Frame::data(result))));
                }
                None => self.results = None,
            }
        }
        let Some(outcome) = self.outcome.as_mut() else {
            return Poll::Ready(None);
        };
        let read_all = std::task::ready!(Pin::new(outcome).poll(cx)).unwrap_or(false);
        self.outcome = None;
        let status = if read_all {
            Status::ok("")
        } else {
            Status::invalid_argument("the server stopped reading the stream before its end")
        };
        Poll::Ready(Some(Ok(Frame::trailers(trailers(&status)))))
    }

    fn is_end_stream(&self) -> bool {
        self.results.is_none() && self.outcome.is_none()
    }
}

/// Listens on a `grpc://` or `grpc+tls://` endpoint: gRPC over HTTP/2
/// (h2c, or HTTP/2 over TLS by ALPN `h2`), answered by a [`FlightService`]
/// with the options' catalog.
pub(crate) async fn bind(endpoint: &Endpoint, options: &ServerOptions) -> Result<Listener> {
    let hostport = endpoint
        .grpc_hostport()
        .ok_or_else(|| Error::Config(format!("{endpoint} is not a grpc:// URL")))?;
    let secure = matches!(endpoint, Endpoint::GrpcTls { .. });
    #[cfg(feature = "tls")]
    let tls = if secure {
        let side = ServerSide::new(endpoint, &options.tls, options.handshake_timeout)?;
        // The gRPC C++ core (pyarrow) insists on ALPN `h2`.
        Some(side.with_alpn(&[b"h2"]))
    } else {
        None
    };
    #[cfg(not(feature = "tls"))]
    if secure {
        return Err(Error::Config(format!(
            "{endpoint}: Arrow Flight over TLS was not compiled in (lightstream's `flight` and `tls` features)"
        )));
    }
    let (listener, addr) = crate::transport::tcp::listen(&hostport, endpoint).await?;
    let (host, port) = (addr.ip().to_string(), addr.port());
    let host = if addr.is_ipv6() {
        format!("[{host}]")
    } else {
        host
    };
    let local = if secure {
        Endpoint::GrpcTls {
            host,
            port,
            flight: None,
        }
    } else {
        Endpoint::Grpc {
            host,
            port,
            flight: None,
        }
    };
    let scheme = if secure { "grpc+tls" } else { "grpc" };
    let catalog = options.flight_catalog.clone();
    let (token, basic) = (
        options.access.token.clone(),
        options.flight_basic_auth.clone(),
    );
    let max_flight_data = options
        .flight_max_data_bytes
        .unwrap_or(Some(DEFAULT_MAX_FLIGHT_DATA_BYTES));
    let acceptor = HttpAcceptor::spawn(
        listener,
        local.clone(),
        #[cfg(feature = "tls")]
        tls,
        move |io: ServerIo, addr, channels: Channels| {
            let service = FlightService::with_sender(
                channels.connections.clone(),
                catalog.clone(),
                DecodeLimits::default(),
            )
            .max_flight_data_bytes(max_flight_data)
            .auth(token.clone(), basic.clone())
            .for_peer(format!("{scheme} {addr}"));
            serve_grpc(io, service, channels)
        },
    );
    Ok(Listener::new(acceptor, local))
}

/// Serves one connection: HTTP/2 only, with windows that let a stream go
/// faster than HTTP/2's 64 KiB defaults allow.
async fn serve_grpc(io: ServerIo, service: FlightService, channels: Channels) {
    let service = hyper::service::service_fn(move |request| {
        let mut service = service.clone();
        tower::Service::call(&mut service, request)
    });
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
            .http2_only();
    builder
        .http2()
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW);
    serve_hyper(builder, io, service, channels.closing).await;
}

/// HTTP/2 flow-control windows of the server's connections (start values of
/// flight-plan.md §1; a DoPut upload and its acknowledgements).
const STREAM_WINDOW: u32 = 4 << 20;
const CONNECTION_WINDOW: u32 = 8 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use lightstream_core::flight::flight_data_head;
    use lightstream_core::minarrow::{fa_i64, tbl};
    use lightstream_core::{IpcStreamEncoder, WriteOptions};

    /// A call of `rpc` with `body`, answered by a service without a catalog
    /// (the calls are kept, never accepted).
    async fn call(rpc: &str, body: Vec<u8>) -> (Response<tonic::body::Body>, FlightCalls) {
        let (mut service, calls) = FlightService::new(None, DecodeLimits::default());
        let request = Request::builder()
            .uri(format!("/{SERVICE}/{rpc}"))
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let response = tower::Service::call(&mut service, request).await.unwrap();
        (response, calls)
    }

    /// The status of a trailers-only answer.
    fn status(response: &Response<tonic::body::Body>) -> (Code, String) {
        let status = Status::from_header_map(response.headers()).expect("a grpc-status");
        (status.code(), status.message().to_string())
    }

    fn grpc(message: &[u8]) -> Vec<u8> {
        let mut out = grpc_prefix(message.len() as u32).to_vec();
        out.extend_from_slice(message);
        out
    }

    #[tokio::test]
    async fn bad_calls_get_their_status_and_reach_no_application() {
        let (r, calls) = call("DoAction", Vec::new()).await;
        assert_eq!(status(&r).0, Code::Unimplemented);
        let (r, _) = call("DoExchange", Vec::new()).await;
        let (code, message) = status(&r);
        assert_eq!(code, Code::InvalidArgument);
        assert!(message.contains("DoExchange: the call ended"), "{message}");
        let (r, _) = call("GetFlightInfo", Vec::new()).await;
        assert_eq!(status(&r).0, Code::Unimplemented, "no catalog");
        // A compressed ticket, a short one, one over the limit.
        let (r, _) = call("DoGet", vec![1, 0, 0, 0, 0]).await;
        assert_eq!(status(&r).0, Code::Unimplemented);
        let (r, _) = call("DoGet", vec![0, 0, 0, 0, 9, 1]).await;
        assert_eq!(status(&r).0, Code::InvalidArgument, "{:?}", status(&r));
        let (r, _) = call("DoGet", grpc(&vec![0; MAX_CONTROL_BYTES + 1])).await;
        assert_eq!(status(&r).0, Code::ResourceExhausted);
        // A DoPut whose first FlightData has no descriptor.
        let t = tbl!("t", fa_i64!("n", 1, 2));
        let mut encoder =
            IpcStreamEncoder::new(Arc::new(Schema::from_table(&t)), WriteOptions::default())
                .unwrap();
        let schema = encoder.schema_message().unwrap().to_vec();
        let head = flight_data_head(None, &schema[8..], &[], 0).unwrap();
        let (r, _) = call("DoPut", head).await;
        let (code, message) = status(&r);
        assert_eq!(code, Code::InvalidArgument);
        assert!(message.contains("no flight_descriptor"), "{message}");
        // None of them became a connection.
        drop(r);
        assert!(calls.incoming.lock().await.try_recv().is_err());
    }

    /// The FlightData of `t`'s stream, the first carrying the path
    /// descriptor `["a"]`, as a client sends them.
    fn upload(t: &lightstream_core::minarrow::Table) -> Vec<u8> {
        let mut encoder =
            IpcStreamEncoder::new(Arc::new(Schema::from_table(t)), WriteOptions::default())
                .unwrap();
        let descriptor = proto::FlightDescriptor::from(&FlightDescriptor::Path(vec!["a".into()]));
        let mut body = Vec::new();
        let schema = encoder.schema_message().unwrap().to_vec();
        body.extend(
            flight_data_head(Some(&descriptor.encode_to_vec()), &schema[8..], &[], 0).unwrap(),
        );
        for m in encoder.encode_table(t).unwrap() {
            let m = m.to_vec();
            let (header, data) = lightstream_core::flight::split_encapsulated(&m).unwrap();
            body.extend(flight_data_head(None, &m[header], &[], data.len()).unwrap());
            body.extend_from_slice(&m[data]);
        }
        body
    }

    /// A `rpc` call with `body` on a new service, answered on a task of its
    /// own, and the connection it became.
    async fn accepted(
        rpc: &str,
        body: Vec<u8>,
    ) -> (
        tokio::task::JoinHandle<std::result::Result<Response<tonic::body::Body>, Infallible>>,
        Connection,
    ) {
        let (mut service, calls) = FlightService::new(None, DecodeLimits::default());
        let request = Request::builder()
            .uri(format!("/{SERVICE}/{rpc}"))
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let answering = tokio::spawn(tower::Service::call(&mut service, request));
        (answering, calls.accept().await.unwrap())
    }

    /// The data and the status of a response, once it ended.
    async fn collected(response: Response<tonic::body::Body>) -> (Bytes, Code) {
        let collected = response.into_body().collect().await.unwrap();
        let trailers = collected.trailers().cloned().expect("trailers");
        let code = Status::from_header_map(&trailers).unwrap().code();
        (collected.to_bytes(), code)
    }

    #[tokio::test]
    async fn a_do_put_carries_its_descriptor_and_is_answered_ok_once_read() {
        let t = tbl!("t", fa_i64!("n", 1, 2, 3));
        let (answering, conn) = accepted("DoPut", upload(&t)).await;
        assert_eq!(
            conn.flight_request(),
            Some(&FlightRequest::DoPut {
                descriptor: FlightDescriptor::Path(vec!["a".into()])
            })
        );
        let tables = conn
            .reader(lightstream_core::ReadOptions::default())
            .await
            .unwrap()
            .read_all()
            .await
            .unwrap();
        assert_eq!(tables[0].cols, t.cols);
        let (data, code) = collected(answering.await.unwrap().unwrap()).await;
        assert_eq!((data.len(), code), (0, Code::Ok), "no PutResults, OK");
    }

    #[tokio::test]
    async fn a_do_exchange_is_split_and_each_half_goes_one_way() {
        use lightstream_core::ReadOptions;
        let t = tbl!("t", fa_i64!("n", 1, 2, 3));
        let schema = Arc::new(Schema::from_table(&t));
        // Unsplit, it is neither read nor written: the client is told.
        let (answering, conn) = accepted("DoExchange", upload(&t)).await;
        let e = conn.reader(ReadOptions::default()).await.unwrap_err();
        assert!(e.to_string().contains("split it first"), "{e}");
        let response = answering.await.unwrap().unwrap();
        assert_eq!(status(&response).0, Code::FailedPrecondition);
        // Each half the wrong way round.
        let (_, conn) = accepted("DoExchange", upload(&t)).await;
        let (reading, writing) = conn.split().unwrap();
        let e = reading
            .writer(schema.clone(), WriteOptions::default())
            .await;
        assert!(e.unwrap_err().to_string().contains("reading half"));
        let e = writing.reader(ReadOptions::default()).await.unwrap_err();
        assert!(e.to_string().contains("writing half"), "{e}");
        // The right way round: an echo.
        let (answering, conn) = accepted("DoExchange", upload(&t)).await;
        let (reading, writing) = conn.split().unwrap();
        let tables = reading
            .reader(ReadOptions::default())
            .await
            .unwrap()
            .read_all()
            .await
            .unwrap();
        let mut w = writing
            .writer(schema, WriteOptions::default())
            .await
            .unwrap();
        // The answer's body is taken as the writer writes (one slot).
        let writes = tokio::spawn(async move {
            w.write(&tables[0]).await?;
            w.finish().await
        });
        let (data, code) = collected(answering.await.unwrap().unwrap()).await;
        writes.await.unwrap().unwrap();
        assert_eq!(code, Code::Ok);
        let mut translator = FlightToIpc::new(1 << 20);
        let mut ipc = Vec::new();
        // The translator stops before each body: call it again with the rest.
        let mut input = &data[..];
        while !input.is_empty() {
            let used = translator.translate(input, &mut ipc).unwrap();
            assert!(used > 0, "no progress");
            input = &input[used..];
        }
        translator.end(true).unwrap();
        translator.drain(&mut ipc);
        let echoed = lightstream_core::read_ipc(&ipc, ReadOptions::default()).unwrap();
        assert_eq!(echoed.tables[0].cols, t.cols);
    }
}
