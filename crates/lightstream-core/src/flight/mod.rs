//! Arrow Flight's data plane, sans-IO: FlightData gRPC messages to and from
//! a plain Arrow IPC stream (feature `flight`).
//!
//! What it is for: a Flight `DoGet`/`DoPut`/`DoExchange` body is a sequence of
//! gRPC messages (a 5-byte prefix, then a protobuf `FlightData`) whose
//! `data_header` field is an IPC `Message` flatbuffer and whose `data_body`
//! field is that message's body. [`FlightToIpc`] turns such a body, in any
//! chunking, into the bytes of an ordinary IPC stream, passing each body
//! straight from the input chunk into the caller's buffer (the IPC driver's
//! aligned `BodySink`): one copy, and the existing [`crate::IpcStreamDriver`]
//! reads the tables. `app_metadata` and `flight_descriptor` go to a side queue
//! ([`FlightSide`]). The send side is [`flight_data_head`] (everything of one
//! FlightData before its body, so the body can follow uncopied) with
//! [`split_encapsulated`] and [`grpc_prefix`]; [`schema_bytes`] /
//! [`read_schema_bytes`] are the schema form of `FlightInfo.schema` and
//! `SchemaResult.schema`. FlightData already in memory as `Bytes` (a
//! program's own gRPC client) decode with [`FlightDataDecoder`], each body
//! used where it lies.
//!
//! What it is not: gRPC or HTTP/2 (the shell's tonic/h2 does that), the
//! control messages (`Ticket`, `FlightInfo`, ...: prost in the shell), or a
//! second IPC decoder (the header is only read for its `bodyLength`).
//! Compressed gRPC messages (`grpc-encoding`) are refused.

mod data;
mod decoder;
mod grpc;
mod schema;
mod wire;

pub use data::{FlightSide, FlightToIpc, flight_data_head, split_encapsulated};
pub use decoder::FlightDataDecoder;
pub use grpc::{GRPC_PREFIX_LEN, grpc_prefix, read_grpc_prefix};
pub use schema::{read_schema_bytes, schema_bytes};
