//! Helpers for interop tests against Arrow implementations nobody here wrote
//! (pyarrow, arrow-rs).
//!
//! - [`TempDir`]: a unique scratch directory under `std::env::temp_dir()`, removed on drop.
//! - [`run_python`]: runs a script from `tests/python` with `python3` from `PATH`; a missing
//!   `python3` or `pyarrow` is a test failure that says how to install it, never a skip.
//! - Expectation documents: the JSON described in `tests/python/ipc_expect.py` (per batch,
//!   per column, the logical values), written from minarrow tables ([`expect_doc`]) and
//!   compared with decoded tables ([`diff_against_doc`]) or with the document of what
//!   another implementation read ([`diff_docs`]). Types are named as pyarrow prints them
//!   (`lightstream_core::display::pyarrow_type_name`), so both sides compare plain strings.
//! - [`interop_all_types`] / [`dictionary_tables`]: minarrow tables covering every type
//!   Lightstream supports, nulls, metadata, several batches, and dictionaries that grow
//!   ([`DICT_GROWTH`]) or also get replaced ([`DICT_CHANGES`]).
//!
//! Not a general Arrow-to-JSON mapping: it covers exactly Lightstream's types.
//!
//! Split by role: [`python`] (scratch dirs, running the scripts), [`expect`] (the
//! expectation documents and their diffs), [`tables`] (the test data). Everything is
//! re-exported here, so tests import from `lightstream_tests::interop`.

pub mod expect;
pub mod python;
pub mod tables;

pub use expect::*;
pub use python::*;
pub use tables::*;
