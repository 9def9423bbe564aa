//! The push-style CSV decoder: bytes in (any chunking), [`Table`]s out.
//!
//! [`CsvDecoder`] checks the options and drives the two stages: the
//! tokenizer (`tokenizer.rs`: bytes -> records) and the table assembler
//! (`rows.rs`: header, inference, conversion through the column builders of
//! `builders.rs`, batching). It holds at most one record, the inference rows
//! and one table in progress, all bounded by [`CsvLimits`](super::CsvLimits).
//! Not a file reader: shells own the I/O (see `lightstream::csv::CsvReader`).

use std::sync::Arc;

use minarrow::Table;

use super::CsvReadOptions;
use super::builders::Column;
use super::rows::TableAssembler;
use super::tokenizer::Tokenizer;
use crate::display::pyarrow_type_name;
use crate::error::{Error, Result};
use crate::ipc::Schema;

/// Push decoder for CSV. Feed bytes with [`push`](Self::push), call
/// [`finish`](Self::finish) at the end of the input, and take tables with
/// [`next_table`](Self::next_table) whenever convenient; the tables do not
/// depend on how the input was chunked.
///
/// After an error the decoder is spent: every later `push` or `finish` returns
/// the same error. Tables completed before the error stay available, and
/// the rows before a bad row (with [`BadRowPolicy::Error`](super::BadRowPolicy::Error)) are emitted as one
/// last, shorter table so that everything before the error is delivered.
///
/// ```
/// use lightstream_core::csv::{CsvDecoder, CsvReadOptions};
///
/// let text = b"id,name\n1,ada\n2,grace\n3,\"lin\nus\"\n";
/// let mut decoder = CsvDecoder::new(CsvReadOptions { batch_size: 2, ..Default::default() })?;
/// let mut tables = Vec::new();
/// for chunk in text.chunks(5) {
///     decoder.push(chunk)?;
///     while let Some(t) = decoder.next_table()? {
///         tables.push(t);
///     }
/// }
/// decoder.finish()?;
/// while let Some(t) = decoder.next_table()? {
///     tables.push(t);
/// }
/// assert_eq!(tables.iter().map(|t| t.n_rows).collect::<Vec<_>>(), [2, 1]);
/// assert_eq!(decoder.schema().expect("known after the first rows").fields[1].name, "name");
/// # Ok::<(), lightstream_core::Error>(())
/// ```
pub struct CsvDecoder {
    tok: Tokenizer,
    assembler: TableAssembler,
    failed: Option<Error>,
    finished: bool,
}

impl std::fmt::Debug for CsvDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvDecoder")
            .field("schema", &self.assembler.schema)
            .field("skipped_rows", &self.assembler.skipped)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl CsvDecoder {
    /// A decoder with `options`; fails when the options are unusable (equal
    /// delimiter and quote, a zero batch size, a schema with a type that has
    /// no CSV text form).
    pub fn new(options: CsvReadOptions) -> Result<Self> {
        if options.delimiter == options.quote {
            return Err(Error::schema("the CSV delimiter and quote must differ"));
        }
        if matches!(options.delimiter, b'\r' | b'\n') || matches!(options.quote, b'\r' | b'\n') {
            return Err(Error::schema(
                "the CSV delimiter and quote cannot be a line break",
            ));
        }
        if options.batch_size == 0 {
            return Err(Error::schema("batch_size must be at least 1"));
        }
        let limits = &options.limits;
        if limits.max_row_bytes == 0 || limits.max_columns == 0 {
            return Err(Error::schema(
                "max_row_bytes and max_columns must be at least 1",
            ));
        }
        if let Some(schema) = &options.schema {
            for f in &schema.fields {
                Column::check_type(&f.dtype)
                    .map_err(|e| e.in_field(&f.name, pyarrow_type_name(&f.dtype, None)))?;
            }
        }
        let tok = Tokenizer::new(&options);
        let assembler = TableAssembler::new(options);
        Ok(CsvDecoder {
            tok,
            assembler,
            failed: None,
            finished: false,
        })
    }

    /// Offers the next bytes of the CSV input (any length, including zero).
    pub fn push(&mut self, input: &[u8]) -> Result<()> {
        self.check_usable()?;
        if self.finished {
            return Err(Error::schema("push after finish"));
        }
        let r = self.tok.feed(input, false, &mut self.assembler);
        self.record_failure(r)
    }

    /// The input has ended: converts the last record, infers the schema if
    /// that had not happened yet and emits the last table. Fails on a quoted
    /// field still open at the end of the input.
    pub fn finish(&mut self) -> Result<()> {
        self.check_usable()?;
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let r = self
            .tok
            .feed(&[], true, &mut self.assembler)
            .and_then(|()| self.assembler.finish());
        self.record_failure(r)
    }

    /// The next complete table, if one is ready. Tables come out in input order.
    pub fn next_table(&mut self) -> Result<Option<Table>> {
        Ok(self.assembler.tables.pop_front())
    }

    /// The schema, once known: at once when given in the options, otherwise
    /// after `infer_rows` rows (or [`CsvLimits::max_infer_bytes`](super::CsvLimits::max_infer_bytes)) or at `finish`.
    pub fn schema(&self) -> Option<&Arc<Schema>> {
        self.assembler.schema.as_ref()
    }

    /// Rows dropped by [`BadRowPolicy::Skip`](super::BadRowPolicy::Skip) so far.
    pub fn skipped_rows(&self) -> u64 {
        self.assembler.skipped
    }

    /// Cells turned into nulls by [`BadRowPolicy::Null`](super::BadRowPolicy::Null) so far (unparsable
    /// cells and the cells padded onto short rows).
    pub fn nulled_cells(&self) -> u64 {
        self.assembler.nulled
    }

    /// Whether `finish` has been called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn check_usable(&self) -> Result<()> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn record_failure(&mut self, r: Result<()>) -> Result<()> {
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }
}
