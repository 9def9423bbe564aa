//! Flight's schema bytes (`FlightInfo.schema`, `SchemaResult.schema`) read
//! by `read_schema_bytes`: no panic; a schema it reads writes back with
//! `schema_bytes` and reads again as the same schema.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lightstream_core::flight::{read_schema_bytes, schema_bytes};

fuzz_target!(|data: &[u8]| {
    if let Ok(schema) = read_schema_bytes(data)
        && let Ok(bytes) = schema_bytes(&schema)
    {
        let again = read_schema_bytes(&bytes).expect("our schema bytes read back");
        assert!(again == schema, "schema bytes changed the schema");
    }
});
