//! Reading a flight by its descriptor: `GetFlightInfo`, then the ticket of
//! each endpoint redeemed where its `locations` say (this connection, or the
//! first location that connects), the answers joined into one stream.
//!
//! The join is done on the gRPC bodies, before the core's `FlightToIpc`: the
//! DATA frames of each answer pass through untouched (no copy), except that
//! the first FlightData of every answer after the first, its schema, is
//! checked against the first answer's and dropped, and the OK trailers of
//! every answer but the last lead on to the next. A later answer's
//! dictionary batches replace the dictionaries of the one before, as in any
//! IPC stream.
//!
//! What it is not: parallel reading of endpoints, or `PollFlightInfo`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::Frame;
use lightstream_core::flight::GRPC_PREFIX_LEN;
use lightstream_core::{DecodeLimits, ErrorKind, ReadOptions, Schema};
use prost::Message;
use tokio::io::{AsyncRead, ReadBuf};
use tonic::body::Body;

use super::{Answer, FlightClient, Shown, status_of};
use crate::endpoint::Endpoint;
use crate::error::{Error, FlightCode, Result};
use crate::flight::{FlightDescriptor, FlightEndpoint, proto};
use crate::reader::{Input, TableReader};

/// The location scheme that means "this connection" (Flight 15+).
const REUSE_CONNECTION: &str = "arrow-flight-reuse-connection:";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl FlightClient {
    /// The client on which `endpoint`'s ticket is redeemed: this one when it
    /// names no location or `arrow-flight-reuse-connection://`, else a new
    /// connection to the first of its `grpc://`, `grpc+tcp://` or
    /// `grpc+tls://` locations that connects (with this client's
    /// `ClientOptions`: TLS and limits). The token (given or from a
    /// handshake) goes along only to a location on this server's host that
    /// does not drop TLS, unless
    /// [`crate::flight::FlightOptions::send_token_to_locations`]: a server may name
    /// any host. Fails with the last location's error, or [`Error::Config`]
    /// when none is a gRPC URL.
    pub async fn endpoint_client(&self, endpoint: &FlightEndpoint) -> Result<FlightClient> {
        if endpoint.locations.is_empty()
            || endpoint
                .locations
                .iter()
                .any(|l| l.starts_with(REUSE_CONNECTION))
        {
            return Ok(self.clone());
        }
        let mut options = self.options.clone();
        options.flight.ticket = None;
        options.flight.path = None;
        options.flight.cmd = None;
        let mut last = None;
        for location in &endpoint.locations {
            let Ok(url) = location.parse::<Endpoint>() else {
                continue;
            };
            if url.grpc_hostport().is_none() {
                continue;
            }
            let trusted =
                self.flight.send_token_to_locations || same_server_host(&self.server, &url);
            let mut options = options.clone();
            if !trusted {
                options.token = None;
            }
            match FlightClient::connect(&url.without_flight_name(), &options).await {
                Ok(mut client) => {
                    // A token from a handshake goes where a given one would.
                    client.authorization = if trusted {
                        self.authorization.clone()
                    } else {
                        None
                    };
                    return Ok(client);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            Error::Config(format!(
                "{}: the endpoint of ticket \"{}\" names no grpc://, grpc+tcp:// or grpc+tls:// \
                 location: {:?}",
                self.peer,
                Shown(&endpoint.ticket),
                endpoint.locations
            ))
        }))
    }

    /// `DoGet` of `endpoint`'s ticket where its locations say
    /// ([`FlightClient::endpoint_client`]).
    pub async fn read_endpoint(
        &self,
        endpoint: &FlightEndpoint,
        options: ReadOptions,
    ) -> Result<TableReader> {
        let client = self.endpoint_client(endpoint).await?;
        client.do_get(endpoint.ticket.clone(), options).await
    }

    /// The whole flight `descriptor` names: `GetFlightInfo`, then every
    /// endpoint in the order listed ([`FlightClient::read_endpoint`]), as one
    /// stream of tables. Every endpoint's schema must be the first's (else an
    /// error of kind `Schema` when the reader reaches it); a flight without
    /// endpoints is [`Error::Protocol`].
    pub async fn read_flight(
        &self,
        descriptor: &FlightDescriptor,
        options: ReadOptions,
    ) -> Result<TableReader> {
        let input = self.read_flight_input(descriptor, options.limits).await?;
        TableReader::open(input, self.peer.clone(), options).await
    }

    /// [`FlightClient::read_flight`] as the reader's input.
    pub(crate) async fn read_flight_input(
        &self,
        descriptor: &FlightDescriptor,
        limits: DecodeLimits,
    ) -> Result<Input> {
        let info = self.get_flight_info(descriptor).await?;
        let rpc = format!("GetFlightInfo {descriptor}, then DoGet of each endpoint");
        let mut endpoints: VecDeque<FlightEndpoint> = info.endpoints.into();
        let first = endpoints.pop_front().ok_or_else(|| {
            Error::Protocol(format!(
                "{}: GetFlightInfo {descriptor}: the flight lists no endpoints: nothing to read",
                self.peer
            ))
        })?;
        let answer = open(self.clone(), first).await?;
        let failed = Arc::new(Mutex::new(None));
        let joined = Joined {
            client: self.clone(),
            endpoints,
            index: 0,
            current: None,
            opening: None,
            first: First::Collecting(BytesMut::new()),
            schema: None,
            failed: failed.clone(),
            max: self.max_control_bytes(),
            ended: false,
        }
        .with_answer(answer);
        let read = self.answer_read(joined, false, rpc, &limits, None)?;
        Ok(Input::Bytes(Box::new(TypedRead {
            inner: read,
            failed,
        })))
    }
}

/// `endpoint`'s DoGet answer, on the client its locations say.
async fn open(client: FlightClient, endpoint: FlightEndpoint) -> Result<Answer> {
    let client = client.endpoint_client(&endpoint).await?;
    let rpc = format!("DoGet \"{}\"", Shown(&endpoint.ticket));
    let request = proto::Ticket {
        ticket: endpoint.ticket,
    };
    client.call("DoGet", &rpc, super::framed(&request)).await
}

/// Where the first FlightData of the current answer is.
enum First {
    /// Its bytes so far (the schema message: small).
    Collecting(BytesMut),
    /// Seen (and checked).
    Done,
}

/// The DoGet answers of a flight's endpoints as one gRPC body.
struct Joined {
    client: FlightClient,
    /// The endpoints not opened yet.
    endpoints: VecDeque<FlightEndpoint>,
    /// The current answer's endpoint, from 0.
    index: usize,
    current: Option<Body>,
    opening: Option<Pin<Box<dyn Future<Output = Result<Answer>> + Send>>>,
    first: First,
    /// The first endpoint's schema message (`data_header`), and the schema
    /// read from it when minarrow holds its types.
    schema: Option<(Bytes, Option<Schema>)>,
    /// The typed error the body failed with, for [`TypedRead`].
    failed: Arc<Mutex<Option<Error>>>,
    /// The largest first message collected.
    max: usize,
    ended: bool,
}

impl Joined {
    fn with_answer(mut self, answer: Answer) -> Joined {
        self.start(answer);
        self
    }

    /// The answer of the current endpoint arrived.
    fn start(&mut self, answer: Answer) {
        self.first = First::Collecting(BytesMut::new());
        if answer.status_seen {
            // A trailers-only OK: no messages; the next endpoint, or the end.
            self.first = First::Done;
            self.current = Some(Body::new(http_body_util::StreamBody::new(
                futures_util::stream::iter([Ok::<_, std::convert::Infallible>(Frame::trailers(
                    answer.headers,
                ))]),
            )));
        } else {
            self.current = Some(answer.body);
        }
    }

    /// The body fails with `e` (kept for [`TypedRead`]).
    fn fail(&mut self, e: Error) -> Poll<Option<std::result::Result<Frame<Bytes>, BoxError>>> {
        let text = e.to_string();
        if let Ok(mut slot) = self.failed.lock() {
            *slot = Some(e);
        }
        self.ended = true;
        Poll::Ready(Some(Err(text.into())))
    }

    /// A DATA frame of the current answer: what of it goes on (`None`:
    /// nothing, it is part of a later answer's schema message). The first
    /// FlightData of each answer is collected (at most `max` bytes) to
    /// check its schema; it goes on for the first answer only.
    fn data(&mut self, data: Bytes) -> Result<Option<Bytes>> {
        let mut buf = match std::mem::replace(&mut self.first, First::Done) {
            First::Collecting(buf) => buf,
            First::Done => return Ok(Some(data)),
        };
        let mut used = 0;
        let whole = loop {
            let target = match buf.get(..GRPC_PREFIX_LEN) {
                None => GRPC_PREFIX_LEN,
                Some(p) => {
                    let len = u32::from_be_bytes([p[1], p[2], p[3], p[4]]) as usize;
                    if len > self.max {
                        return Err(self.mismatch(&format!(
                            "its first FlightData is {len} bytes, over the limit of {} for a \
                             schema",
                            self.max
                        )));
                    }
                    GRPC_PREFIX_LEN + len
                }
            };
            if buf.len() >= target {
                break target;
            }
            let take = (target - buf.len()).min(data.len() - used);
            if take == 0 {
                // Not whole yet: the rest comes in later frames.
                self.first = First::Collecting(buf);
                return Ok((self.index == 0).then_some(data));
            }
            buf.extend_from_slice(&data[used..used + take]);
            used += take;
        };
        let header = proto::FlightData::decode(&buf[GRPC_PREFIX_LEN..whole])
            .map_err(|e| self.mismatch(&format!("its first FlightData is not protobuf: {e}")))?
            .data_header;
        let schema = schema_of(&header);
        match &self.schema {
            None => {
                self.schema = Some((header, schema));
                Ok(Some(data))
            }
            Some((first, first_schema)) => {
                let same = match (first_schema, &schema) {
                    (Some(a), Some(b)) => a == b,
                    _ => *first == header,
                };
                if !same {
                    return Err(self.mismatch("its schema is not the first endpoint's"));
                }
                // The messages after the schema, uncopied.
                Ok(Some(data.slice(used..)))
            }
        }
    }

    fn mismatch(&self, what: &str) -> Error {
        Error::Codec(lightstream_core::Error::new(
            ErrorKind::Schema,
            format!(
                "{}: endpoint {} of the flight: {what}",
                self.client.peer,
                self.index + 1
            ),
        ))
    }
}

/// The schema of a Schema message's flatbuffer (`data_header`), when
/// minarrow holds its types.
fn schema_of(header: &[u8]) -> Option<Schema> {
    let len = u32::try_from(header.len()).ok()?;
    let mut bytes = Vec::with_capacity(8 + header.len());
    bytes.extend_from_slice(&[0xFF; 4]);
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(header);
    lightstream_core::flight::read_schema_bytes(&bytes).ok()
}

/// An error status as trailers.
fn status_trailers(code: FlightCode, message: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    let _ = tonic::Status::new(tonic::Code::from(code.as_i32()), message).add_header(&mut map);
    map
}

impl http_body::Body for Joined {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            if let Some(opening) = this.opening.as_mut() {
                let answer = ready!(opening.as_mut().poll(cx));
                this.opening = None;
                match answer {
                    Ok(answer) => this.start(answer),
                    // A refusal keeps its status (the endpoint named).
                    Err(Error::Flight {
                        code,
                        message,
                        rpc,
                        peer,
                    }) => {
                        this.ended = true;
                        let message =
                            format!("endpoint {} ({peer} {rpc}): {message}", this.index + 1);
                        return Poll::Ready(Some(Ok(Frame::trailers(status_trailers(
                            code, &message,
                        )))));
                    }
                    Err(e) => return this.fail(e),
                }
            }
            let Some(current) = this.current.as_mut() else {
                return Poll::Ready(None);
            };
            let frame = match ready!(Pin::new(current).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
                None => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
            };
            let frame = match frame.into_data() {
                Ok(data) => match this.data(data) {
                    Ok(Some(data)) if !data.is_empty() => {
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    Ok(_) => continue,
                    Err(e) => return this.fail(e),
                },
                Err(frame) => frame,
            };
            let Ok(trailers) = frame.into_trailers() else {
                continue;
            };
            let ok = matches!(status_of(&trailers), Some((FlightCode::Ok, _)));
            if ok && let Some(next) = this.endpoints.pop_front() {
                this.index += 1;
                this.current = None;
                this.opening = Some(Box::pin(open(this.client.clone(), next)));
                continue;
            }
            this.ended = true;
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
    }
}

/// A reader's input whose errors are the joined body's typed ones (a
/// schema that does not agree, an endpoint that cannot be reached), not
/// the "stream ended" the body's failure looks like to `FlightRead`.
struct TypedRead<R> {
    inner: R,
    failed: Arc<Mutex<Option<Error>>>,
}

impl<R: AsyncRead + Unpin> AsyncRead for TypedRead<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match ready!(Pin::new(&mut this.inner).poll_read(cx, buf)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => {
                let typed = this.failed.lock().ok().and_then(|mut slot| slot.take());
                Poll::Ready(Err(match typed {
                    Some(typed) => std::io::Error::other(typed),
                    None => e,
                }))
            }
        }
    }
}

/// Whether `location` is on `server`'s host (any port; the host as written,
/// ignoring ASCII case) without going from TLS to plain text: where a
/// client's token may follow an endpoint's location by default.
fn same_server_host(server: &Endpoint, location: &Endpoint) -> bool {
    match (server, location) {
        (
            Endpoint::Grpc { host: a, .. },
            Endpoint::Grpc { host: b, .. } | Endpoint::GrpcTls { host: b, .. },
        )
        | (Endpoint::GrpcTls { host: a, .. }, Endpoint::GrpcTls { host: b, .. }) => {
            a.eq_ignore_ascii_case(b)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Endpoint {
        s.parse().unwrap()
    }

    #[test]
    fn a_token_follows_a_location_on_the_same_host_that_keeps_tls() {
        let plain = url("grpc://Flight.example:8815");
        let tls = url("grpc+tls://flight.example:8815");
        assert!(same_server_host(&plain, &url("grpc://flight.example:9000")));
        assert!(same_server_host(
            &plain,
            &url("grpc+tcp://FLIGHT.example:1")
        ));
        assert!(same_server_host(
            &plain,
            &url("grpc+tls://flight.example:443")
        ));
        assert!(same_server_host(
            &tls,
            &url("grpc+tls://flight.example:9000")
        ));
        // TLS to plain text, another host, another spelling of the host.
        assert!(!same_server_host(&tls, &url("grpc://flight.example:8815")));
        assert!(!same_server_host(&plain, &url("grpc://evil.example:8815")));
        assert!(!same_server_host(
            &url("grpc://127.0.0.1:1"),
            &url("grpc://localhost:1")
        ));
    }
}
