//! gRPC transport: Arrow Flight over HTTP/2 (`grpc://`, `grpc+tls://`;
//! feature `flight`). The public face is [`crate::flight`].
//!
//! tonic carries HTTP/2 (its `Channel` on the client, its accept loop on the
//! server) and the unary calls (GetFlightInfo, GetSchema, ListFlights)
//! through its prost codec. The data calls (DoGet, DoPut) do not use tonic's
//! codec, which copies every message into a buffer of its own: their bodies
//! are raw `http_body` streams of `Bytes`, translated to and from the Arrow
//! IPC stream format by the core's `flight` codec, so that the reader and
//! writer do not change.
//!
//! What it is not: TLS. tonic builds its own rustls configurations and could
//! not take `ClientOptions.tls`; TLS streams are ours (`transport::tls`),
//! handed to tonic as connected streams.

// The scaffold: the calls that use these land in the next commits.
#![allow(
    dead_code,
    reason = "scaffold of issue 20; removed with the client's calls"
)]

pub(crate) mod auth;
pub(crate) mod client;
pub(crate) mod server;
pub(crate) mod sink;

/// The path of a FlightService method.
pub(crate) fn method_path(rpc: &str) -> String {
    format!("/arrow.flight.protocol.FlightService/{rpc}")
}

/// The gRPC content type, as every request and response carries it.
pub(crate) const GRPC_CONTENT_TYPE: &str = "application/grpc";

/// The largest FlightData a reader with `limits` takes: one IPC message
/// plus its app_metadata (as large as its metadata) and a few bytes of
/// protobuf tags, within gRPC's 32-bit length (flight-plan.md §5).
pub(crate) fn max_flight_data(limits: &lightstream_core::DecodeLimits) -> u64 {
    (limits.max_message_bytes() as u64)
        .saturating_add(limits.max_metadata_bytes as u64)
        .saturating_add(64)
        .min(u64::from(u32::MAX))
}

/// The record batch body limit of FlightData of at most `max` bytes: room
/// is left for the head (the IPC metadata, a few hundred bytes a column).
pub(crate) fn batch_body_limit(max: Option<usize>) -> Option<usize> {
    max.map(|max| max - (max / 2).min(64 << 10))
}
