//! Schema bytes as Flight carries them in `FlightInfo.schema` and
//! `SchemaResult.schema`: an encapsulated IPC Schema message (continuation
//! marker, length, flatbuffer, padding) with no end-of-stream marker. Read
//! with the IPC reader's own prefix and schema code; not a stream decoder.

use crate::error::Result;
use crate::ipc::Schema;

/// The schema as Flight's `FlightInfo.schema` / `SchemaResult.schema` bytes:
/// continuation marker, length, Schema message (padded to 8), no
/// end-of-stream marker. Fails only where writing the schema to a stream
/// would (an inconsistent schema).
pub fn schema_bytes(schema: &Schema) -> Result<Vec<u8>> {
    let _ = schema;
    todo!()
}

/// Reads [`schema_bytes`] back, also in the pre-0.15 form without the
/// continuation marker. Zero padding after the message and an end-of-stream
/// marker (some writers add one) are tolerated; any other trailing byte is
/// an error, as is a length that does not fit.
pub fn read_schema_bytes(bytes: &[u8]) -> Result<Schema> {
    let _ = bytes;
    todo!()
}
