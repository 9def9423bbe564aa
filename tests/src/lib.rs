//! Shared helpers for Lightstream's cross-crate tests.
//!
//! - [`corpus`]: finds Apache Arrow's `arrow-testing` corpus (`../shared/arrow-testing`)
//!   and lists its gold integration cases and fuzz regression inputs. A missing corpus is a
//!   test failure with a message saying where it was looked for, never a silent skip.
//! - [`integration_json`]: reads Arrow's "integration testing" JSON (the expected values of
//!   the gold files) and says which minarrow type each field should decode to.
//! - [`compare`]: turns decoded minarrow columns into plain values ([`compare::Cell`]s or
//!   JSON) and compares tables, fields and schemas with messages that say what differs.
//! - [`drive`]: pushes bytes through `IpcStreamDecoder` in chunks the way a shell would.
//! - [`interop`]: scratch dirs, running the pyarrow scripts in `tests/python`, the
//!   expected-values JSON shared with them, and minarrow tables of every supported type.
//! - [`harness`]: bounded tokio runs, per-test directories and small int64 tables for the
//!   network tests (also used by `crates/lightstream/tests` and the CLI's tests).
//! - [`nats`]: a real `nats-server` on a free loopback port (JetStream in the test's
//!   directory), restartable on the same port and store; killed when dropped.
//! - [`pki`]: a test CA and a server certificate it signed, as PEM files.
//! - [`raw_ws`]: WebSocket peers written by hand (handshakes, frames, hostile headers).
//!
//! Not a test harness: the tests themselves live in `tests/tests/*.rs`.

pub mod compare;
pub mod corpus;
pub mod drive;
pub mod harness;
pub mod integration_json;
pub mod interop;
pub mod nats;
pub mod pki;
pub mod raw_ws;

pub use compare::{
    Cell, assert_tables_equal, column_cells, column_values_as_json, diff_fields, diff_schemas,
    diff_tables,
};
pub use corpus::{IntegrationCase, arrow_testing_dir, fuzz_inputs, integration_cases};
pub use integration_json::{IntegrationFile, read_integration_json};
