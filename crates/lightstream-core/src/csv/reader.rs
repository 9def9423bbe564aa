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

/// The columns of a decoder whose schema is known (given or inferred), to
/// start [`CsvDecoder::for_chunk`] decoders that convert cells exactly as it
/// does. From [`CsvDecoder::frozen_schema`].
#[derive(Debug, Clone)]
pub struct FrozenSchema {
    schema: Arc<Schema>,
    /// Per column, whether inference saw only nulls (see `rows.rs`).
    all_null: Vec<bool>,
}

impl FrozenSchema {
    /// The schema of the tables.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }
}

impl CsvDecoder {
    /// A decoder with `options`; fails when the options are unusable (equal
    /// delimiter and quote, a zero batch size, a schema with a type that has
    /// no CSV text form).
    pub fn new(options: CsvReadOptions) -> Result<Self> {
        Self::check(&options)?;
        let tok = Tokenizer::new(&options);
        let assembler = TableAssembler::new(options);
        Ok(CsvDecoder {
            tok,
            assembler,
            failed: None,
            finished: false,
        })
    }

    fn check(options: &CsvReadOptions) -> Result<()> {
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
        Ok(())
    }

    /// A decoder for a piece of a CSV input that starts a record after the
    /// header and the inference rows (where [`scan_boundary`](super::scan_boundary)
    /// cut it), on physical line `first_line` of the input: no header, no
    /// inference, no BOM; the columns, null rules and conversions are
    /// `frozen`'s, and errors name lines of the whole input. Parsing the
    /// pieces of an input this way and concatenating the tables gives the
    /// values, errors and counters of one decoder over the whole input
    /// (table boundaries aside) as long as no piece reports
    /// [`met_stray_quote`](Self::met_stray_quote): that piece, and the
    /// ones after it, may have been cut off a record boundary.
    ///
    /// ```
    /// use lightstream_core::csv::{CsvDecoder, CsvReadOptions, scan_boundary};
    ///
    /// let text = b"id,name\n1,ada\n2,\"grace\nhopper\"\n3,lin\n";
    /// let mut first = CsvDecoder::new(CsvReadOptions { infer_rows: 1, ..Default::default() })?;
    /// let cut = scan_boundary(&text[..18], b'"', false);
    /// let end = cut.last_record_end.unwrap(); // after "1,ada\n"
    /// first.push(&text[..end])?;
    /// first.finish()?;
    /// let frozen = first.frozen_schema().unwrap();
    /// let mut rest = CsvDecoder::for_chunk(CsvReadOptions::default(), &frozen, 1 + cut.lf_count)?;
    /// rest.push(&text[end..])?;
    /// rest.finish()?;
    /// assert!(!rest.met_stray_quote());
    /// assert_eq!(rest.next_table()?.unwrap().n_rows, 2);
    /// # Ok::<(), lightstream_core::Error>(())
    /// ```
    pub fn for_chunk(
        options: CsvReadOptions,
        frozen: &FrozenSchema,
        first_line: u64,
    ) -> Result<Self> {
        Self::check(&options)?;
        Ok(CsvDecoder {
            tok: Tokenizer::for_chunk(&options, first_line),
            assembler: TableAssembler::for_chunk(options, frozen.schema.clone(), &frozen.all_null),
            failed: None,
            finished: false,
        })
    }

    /// The schema and column rules for [`for_chunk`](Self::for_chunk)
    /// decoders, once this decoder is past the header and the inference.
    pub fn frozen_schema(&self) -> Option<FrozenSchema> {
        let (schema, all_null) = self.assembler.frozen()?;
        Some(FrozenSchema { schema, all_null })
    }

    /// Whether the input so far held a quote outside RFC 4180: a quote
    /// inside an unquoted field (`a"b`), or text after a closing quote
    /// (`"a"b`). Both are read literally, as csv-core and pyarrow read
    /// them, but they break the quote parity that
    /// [`scan_boundary`](super::scan_boundary) cuts by.
    pub fn met_stray_quote(&self) -> bool {
        self.tok.met_stray_quote()
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
            // The rows converted before the error come out first, whatever
            // stopped the decoder (a bad cell already emitted them): as
            // when the input is read in pieces, where the pieces before
            // the bad one delivered theirs.
            self.assembler.flush();
            self.failed = Some(e.clone());
        }
        r
    }
}
