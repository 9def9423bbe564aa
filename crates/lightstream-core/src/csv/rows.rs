//! Records -> tables: reads the header, buffers the first rows and infers
//! the schema from them (or takes the given one), queues rows for
//! column-at-a-time conversion into the column builders, applies the
//! [`BadRowPolicy`] to rows that do not convert, and cuts tables of at most
//! `batch_size` rows (and `max_batch_bytes`). Holds at most the inference
//! rows, one queue and one table in progress, all bounded by [`CsvLimits`].
//! Not the splitting of bytes into records (`tokenizer.rs`) or the cell
//! conversions themselves (`builders.rs`).

use std::collections::VecDeque;
use std::sync::Arc;

use minarrow::{Field, Table};

use super::builders::{CellError, Column, InPlaceCells, PendingCells, PendingRow};
use super::infer::{BoolValues, Inference};
use super::nulls::NullTokens;
use super::{BadRowPolicy, CsvLimits, CsvReadOptions, StringNulls};
use crate::display::pyarrow_type_name;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::Schema;

/// One record: its unquoted field bytes, the end offset of each field, the
/// number of separator bytes between fields (0 after csv-core unquoted the
/// record into a buffer, 1 when the fields are read in place from the input,
/// delimiters included), the physical line (1-based) of its last byte,
/// whether the bytes are known to be ASCII (so valid UTF-8), where they
/// lie in the pushed chunk when read in place, and which fields were quoted.
pub(super) struct Record<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) ends: &'a [usize],
    /// Indices of the fields that were quoted in the input, ascending.
    pub(super) quoted: &'a [usize],
    pub(super) sep: usize,
    pub(super) last_line: u64,
    pub(super) ascii: bool,
    /// Where `bytes` starts in the chunk being fed, when read in place from it
    /// (the batch queue then keeps offsets instead of a copy).
    pub(super) at: Option<usize>,
}

impl Record<'_> {
    #[inline]
    pub(super) fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1] + self.sep
        }
    }

    pub(super) fn field(&self, i: usize) -> &[u8] {
        &self.bytes[self.start(i)..self.ends[i]]
    }

    pub(super) fn is_quoted(&self, i: usize) -> bool {
        self.quoted.binary_search(&i).is_ok()
    }

    /// Whether every field is valid UTF-8, from one check of the whole
    /// record. A valid record is not enough on its own: its fields may be
    /// joined back to back (`sep` 0, after unquoting) or split at a delimiter
    /// byte above 0x7f, so one character can straddle two fields that are
    /// each invalid ("\xc3" and "\xbc" joined read as "ü"). So every field
    /// must also start and end on a character boundary.
    pub(super) fn fields_are_utf8(&self) -> bool {
        if self.ascii {
            return true;
        }
        if simdutf8::basic::from_utf8(self.bytes).is_err() {
            return false;
        }
        let boundary = |at: usize| self.bytes.get(at).is_none_or(|&b| b & 0xc0 != 0x80);
        (0..self.ends.len()).all(|i| boundary(self.start(i)) && boundary(self.ends[i]))
    }

    /// The physical line on which field `i` starts: the last line minus the
    /// line breaks from that field to the end of the record.
    pub(super) fn line_of(&self, i: usize) -> u64 {
        let start = if i == 0 {
            0
        } else {
            self.ends
                .get(i - 1)
                .map_or(self.bytes.len(), |&e| e + self.sep)
        };
        let breaks = self.bytes[start.min(self.bytes.len())..]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        self.last_line.saturating_sub(breaks).max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    Infer,
    Rows,
}

/// Everything after record splitting: header, inference, conversion, batching.
pub(super) struct TableAssembler {
    given: Option<Arc<Schema>>,
    pub(super) schema: Option<Arc<Schema>>,
    phase: Phase,
    names: Option<Vec<String>>,
    infer_rows: usize,
    infer_bytes: Vec<u8>,
    infer_ends: Vec<usize>,
    /// The quoted fields' indices of every buffered record, back to back.
    infer_quoted: Vec<usize>,
    /// (number of fields, number of quoted fields, last line) per buffered record.
    infer_records: Vec<(usize, usize, u64)>,
    columns: Vec<Column>,
    /// Per column, whether inference saw only nulls (a string column that
    /// then reads null tokens as nulls); empty for a given schema.
    all_null: Vec<bool>,
    rows: usize,
    batch_bytes: usize,
    batch_size: usize,
    needs_utf8: bool,
    /// The delimiter and quote are ASCII (see [`Self::in_place_utf8`]).
    ascii_syntax: bool,
    nulls: NullTokens,
    bools: BoolValues,
    strings_can_be_null: bool,
    string_nulls: StringNulls,
    policy: BadRowPolicy,
    limits: CsvLimits,
    pub(super) tables: VecDeque<Table>,
    pub(super) skipped: u64,
    pub(super) nulled: u64,
    /// Rows waiting for column-at-a-time conversion: the bytes of the rows
    /// not read in place from the pushed chunk, each cell's (start, end) in
    /// those bytes or in the chunk (row-major), and per row what rebuilding
    /// its record needs. Converted at the end of every fed chunk at the latest.
    pend_bytes: Vec<u8>,
    pub(super) pend_cells: Vec<(usize, usize)>,
    /// The quoted fields' indices of the queued rows, back to back.
    pend_quoted: Vec<usize>,
    pend_rows: Vec<PendingRow>,
    /// `batch_bytes` of the pending rows.
    pub(super) pend_batch_bytes: usize,
    /// Rows the tokenizer queued in place (flat, see [`InPlace`]). The queue
    /// holds either these or [`PendingRow`]s, never both, so rows keep their order.
    pub(super) in_place: InPlace,
}

/// Rows the tokenizer split in place from the chunk being fed, written
/// straight into the queue: their cells are `pend_cells` (`ncols` a row,
/// chunk offsets, quoted fields without their quotes) and a bit per cell
/// tells the quoted ones. Nothing per row: a row's line is only needed for an
/// error, and is then counted from `base_line` at chunk offset `base_pos`.
#[derive(Debug, Default)]
pub(super) struct InPlace {
    pub(super) rows: usize,
    /// Bit `row * ncols + column` is set for a quoted cell.
    pub(super) quoted: Vec<u64>,
    /// Where the first queued row starts in the chunk, and its line.
    pub(super) base_pos: usize,
    pub(super) base_line: u64,
}

impl InPlace {
    /// Notes cell `i` (`row * ncols + column`) as quoted.
    #[inline]
    pub(super) fn set_quoted(&mut self, i: usize) {
        let w = i / 64;
        if self.quoted.len() <= w {
            self.quoted.resize(w + 1, 0);
        }
        self.quoted[w] |= 1 << (i % 64);
    }

    /// Forgets the quoted bits of cells `i..` (a record the tokenizer gave up).
    pub(super) fn clear_from(&mut self, i: usize) {
        self.quoted.truncate(i.div_ceil(64));
        if let Some(w) = self.quoted.get_mut(i / 64) {
            *w &= (1u64 << (i % 64)) - 1;
        }
    }

    fn clear(&mut self) {
        self.rows = 0;
        self.quoted.clear();
    }
}

/// When the in-place queue is due for conversion ([`TableAssembler::in_place_due`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct InPlaceDue {
    /// In-place rows.
    rows: usize,
    /// `pend_batch_bytes`.
    batch_bytes: usize,
}

impl InPlaceDue {
    /// Whether a queue of `rows` in-place rows and `batch_bytes` pending
    /// batch bytes is due.
    #[inline(always)]
    pub(super) fn reached(self, rows: usize, batch_bytes: usize) -> bool {
        rows >= self.rows || batch_bytes >= self.batch_bytes
    }
}

/// Most rows converted in one column-at-a-time batch.
const PENDING_ROWS: usize = 4096;
/// Most bytes held for one batch.
const PENDING_BYTES: usize = 1 << 20;
/// Most cells held for one batch (16 bytes each), for very wide records.
const PENDING_CELLS: usize = 1 << 16;

impl TableAssembler {
    pub(super) fn new(o: CsvReadOptions) -> Self {
        let bytes = |v: &[String]| v.iter().map(|s| s.as_bytes().to_vec()).collect();
        let bools = BoolValues::new(bytes(&o.true_values), bytes(&o.false_values));
        let given = o.schema.map(Arc::new);
        let phase = match (o.has_header, &given) {
            (true, _) => Phase::Header,
            (false, Some(_)) => Phase::Rows,
            (false, None) => Phase::Infer,
        };
        let mut assembler = TableAssembler {
            given: given.clone(),
            schema: None,
            phase,
            names: None,
            infer_rows: o.infer_rows,
            infer_bytes: Vec::new(),
            infer_ends: Vec::new(),
            infer_quoted: Vec::new(),
            infer_records: Vec::new(),
            columns: Vec::new(),
            all_null: Vec::new(),
            rows: 0,
            batch_bytes: 0,
            batch_size: o.batch_size,
            needs_utf8: false,
            ascii_syntax: o.delimiter.is_ascii() && o.quote.is_ascii(),
            nulls: NullTokens::new(&o.null_values),
            bools,
            strings_can_be_null: o.strings_can_be_null,
            string_nulls: o.string_nulls,
            policy: o.bad_rows,
            limits: o.limits,
            tables: VecDeque::new(),
            skipped: 0,
            nulled: 0,
            pend_bytes: Vec::new(),
            pend_cells: Vec::new(),
            pend_quoted: Vec::new(),
            pend_rows: Vec::new(),
            pend_batch_bytes: 0,
            in_place: InPlace::default(),
        };
        if let (Some(s), Phase::Rows) = (given, phase) {
            assembler.start(s, &[]);
        }
        assembler
    }

    /// Name and type of column `i` for error messages.
    pub(super) fn column_label(&self, i: usize) -> (String, String) {
        if let Some(c) = self.columns.get(i) {
            return (
                c.field.name.clone(),
                pyarrow_type_name(&c.field.dtype, None),
            );
        }
        let name = self
            .names
            .as_ref()
            .and_then(|n| n.get(i).cloned())
            .or_else(|| {
                self.given
                    .as_ref()
                    .and_then(|s| s.fields.get(i).map(|f| f.name.clone()))
            })
            .unwrap_or_else(|| format!("f{i}"));
        (name, "unknown".to_string())
    }

    fn ncols(&self) -> Option<usize> {
        if let Some(s) = &self.schema {
            return Some(s.fields.len());
        }
        if let Some(n) = &self.names {
            return Some(n.len());
        }
        self.infer_records.first().map(|r| r.0)
    }

    /// Whether an empty line is a record (of one empty unquoted field) rather
    /// than a blank line to skip: in a file of one column (known from the
    /// header, the given schema or the first record) under
    /// [`StringNulls::Unquoted`].
    pub(super) fn empty_line_is_record(&self) -> bool {
        self.string_nulls == StringNulls::Unquoted && self.ncols() == Some(1)
    }

    fn error_at(&self, rec: &Record<'_>, col: usize, kind: ErrorKind, what: &str) -> Error {
        let (name, ty) = self.column_label(col);
        Error::new(kind, format!("column {name:?}: {what}"))
            .at_cell(rec.line_of(col), col as u64 + 1)
            .in_field(&name, ty)
    }

    /// `chunk` is the input being fed (for records read in place from it).
    pub(super) fn record(&mut self, rec: &Record<'_>, chunk: &[u8]) -> Result<()> {
        if self.in_place.rows > 0 {
            // Rows queued in place come first.
            self.convert_pending(chunk)?;
        }
        // No field can be longer than the whole record.
        let fields = if rec.bytes.len() > self.limits.max_field_bytes {
            rec.ends.len()
        } else {
            0
        };
        for i in 0..fields {
            let len = rec.field(i).len();
            if len > self.limits.max_field_bytes {
                return Err(self.error_at(
                    rec,
                    i,
                    ErrorKind::LimitExceeded,
                    &format!(
                        "field is {len} bytes, above the limit of {} (CsvLimits::max_field_bytes)",
                        self.limits.max_field_bytes
                    ),
                ));
            }
        }
        match self.phase {
            Phase::Header => self.header(rec),
            Phase::Infer => {
                // Buffered unquoted, fields back to back (separators dropped).
                if rec.sep == 0 {
                    self.infer_bytes.extend_from_slice(rec.bytes);
                    self.infer_ends.extend_from_slice(rec.ends);
                } else {
                    let base = self.infer_bytes.len();
                    let mut len = 0;
                    for i in 0..rec.ends.len() {
                        let f = rec.field(i);
                        self.infer_bytes.extend_from_slice(f);
                        len += f.len();
                        self.infer_ends.push(len);
                    }
                    debug_assert_eq!(self.infer_bytes.len(), base + len);
                }
                self.infer_quoted.extend_from_slice(rec.quoted);
                self.infer_records
                    .push((rec.ends.len(), rec.quoted.len(), rec.last_line));
                // The text, and 8 bytes per field and quoted field noted.
                let held =
                    self.infer_bytes.len() + 8 * (self.infer_ends.len() + self.infer_quoted.len());
                if self.infer_records.len() >= self.infer_rows
                    || held >= self.limits.max_infer_bytes
                {
                    self.resolve()?;
                }
                Ok(())
            }
            Phase::Rows => self.append(rec, chunk),
        }
    }

    fn header(&mut self, rec: &Record<'_>) -> Result<()> {
        let mut names = Vec::with_capacity(rec.ends.len());
        for i in 0..rec.ends.len() {
            match std::str::from_utf8(rec.field(i)) {
                Ok(s) => names.push(s.to_string()),
                Err(_) => {
                    return Err(self.error_at(
                        rec,
                        i,
                        ErrorKind::InvalidData,
                        &format!("header name is not valid UTF-8: {}", shorten(rec.field(i))),
                    ));
                }
            }
        }
        if let Some(given) = self.given.clone() {
            if names.len() != given.fields.len() {
                return Err(Error::new(
                    ErrorKind::Schema,
                    format!(
                        "the header has {} columns but the given schema has {}",
                        names.len(),
                        given.fields.len()
                    ),
                )
                .at_line(rec.line_of(0)));
            }
            for (i, (n, f)) in names.iter().zip(&given.fields).enumerate() {
                if *n != f.name {
                    return Err(Error::new(
                        ErrorKind::Schema,
                        format!(
                            "the header names {n:?} where the given schema has {:?}",
                            f.name
                        ),
                    )
                    .at_cell(rec.line_of(i), i as u64 + 1)
                    .in_field(&f.name, pyarrow_type_name(&f.dtype, None)));
                }
            }
            self.names = Some(names);
            self.start(given, &[]);
            self.phase = Phase::Rows;
        } else {
            self.names = Some(names);
            self.phase = Phase::Infer;
        }
        Ok(())
    }

    /// Infers the schema from the buffered rows and converts them.
    fn resolve(&mut self) -> Result<()> {
        let ncols = self.ncols().unwrap_or(0);
        let mut inference = vec![Inference::new(); ncols];
        let mut start_end = 0;
        let mut base = 0;
        for &(n, _, _) in &self.infer_records {
            let ends = &self.infer_ends[start_end..start_end + n];
            if n == ncols {
                let mut s = base;
                for (i, &e) in ends.iter().enumerate() {
                    let cell = &self.infer_bytes[s..base + e];
                    s = base + e;
                    if !self.nulls.is_null(cell) {
                        inference[i].observe(cell, &self.bools);
                    }
                }
            }
            base += ends.last().copied().unwrap_or(0);
            start_end += n;
        }
        let names: Vec<String> = match &self.names {
            Some(n) => n.clone(),
            None => (0..ncols).map(|i| format!("f{i}")).collect(),
        };
        let mut all_null = Vec::with_capacity(ncols);
        let fields: Vec<Arc<Field>> = names
            .into_iter()
            .zip(&inference)
            .map(|(name, inf)| {
                let (dtype, empty) = inf.result();
                all_null.push(empty);
                Arc::new(Field {
                    name,
                    dtype,
                    nullable: true,
                    metadata: Default::default(),
                })
            })
            .collect();
        let schema = Arc::new(Schema::new(fields, Default::default()));
        self.start(schema, &all_null);
        self.phase = Phase::Rows;
        // Replay the buffered rows.
        let bytes = std::mem::take(&mut self.infer_bytes);
        let all_ends = std::mem::take(&mut self.infer_ends);
        let all_quoted = std::mem::take(&mut self.infer_quoted);
        let records = std::mem::take(&mut self.infer_records);
        let mut start_end = 0;
        let mut start_quoted = 0;
        let mut byte_base = 0;
        let mut ends_buf: Vec<usize> = Vec::new();
        for (n, nquoted, last_line) in records {
            let ends = &all_ends[start_end..start_end + n];
            let rec_len = ends.last().copied().unwrap_or(0);
            ends_buf.clear();
            ends_buf.extend_from_slice(ends);
            let rec = Record {
                bytes: &bytes[byte_base..byte_base + rec_len],
                ends: &ends_buf,
                quoted: &all_quoted[start_quoted..start_quoted + nquoted],
                sep: 0,
                last_line,
                ascii: false,
                at: None,
            };
            self.row(&rec)?;
            byte_base += rec_len;
            start_end += n;
            start_quoted += nquoted;
        }
        Ok(())
    }

    /// An assembler for a chunk after the header and inference, with the
    /// columns set up exactly as [`Self::frozen`] describes them.
    pub(super) fn for_chunk(o: CsvReadOptions, schema: Arc<Schema>, all_null: &[bool]) -> Self {
        let mut assembler = Self::new(CsvReadOptions {
            has_header: false,
            schema: None,
            ..o
        });
        assembler.start(schema, all_null);
        assembler.phase = Phase::Rows;
        assembler
    }

    /// The schema and the per-column null rule, once the rows phase began.
    pub(super) fn frozen(&self) -> Option<(Arc<Schema>, Vec<bool>)> {
        match (&self.schema, self.phase) {
            (Some(s), Phase::Rows) => Some((s.clone(), self.all_null.clone())),
            _ => None,
        }
    }

    fn start(&mut self, schema: Arc<Schema>, all_null: &[bool]) {
        self.all_null = all_null.to_vec();
        self.columns = schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let all_null = all_null.get(i).copied().unwrap_or(false);
                Column::new(
                    f.clone(),
                    self.strings_can_be_null || all_null,
                    self.string_nulls,
                )
            })
            .collect();
        self.needs_utf8 = self.columns.iter().any(Column::is_text);
        let n = self.reserve_rows();
        for c in &mut self.columns {
            c.reserve(n);
        }
        self.schema = Some(schema);
    }

    /// Queues a record for column-at-a-time conversion ([`Self::convert_pending`]):
    /// the column type is dispatched once per column and batch instead of
    /// once per cell. A record with the wrong number of fields converts the
    /// queue and then goes through [`Self::row`], which applies the policy.
    fn append(&mut self, rec: &Record<'_>, chunk: &[u8]) -> Result<()> {
        let ncols = self.columns.len();
        if rec.ends.len() != ncols {
            self.convert_pending(chunk)?;
            return self.row(rec);
        }
        let utf8_ok = !self.needs_utf8 || rec.fields_are_utf8();
        // Records read in place stay in the chunk; the others are copied.
        let base = match rec.at {
            Some(at) => at,
            None => {
                let base = self.pend_bytes.len();
                self.pend_bytes.extend_from_slice(rec.bytes);
                base
            }
        };
        let mut start = base;
        self.pend_cells.extend(rec.ends.iter().map(|&end| {
            let cell = (start, base + end);
            start = base + end + rec.sep;
            cell
        }));
        let quoted_start = self.pend_quoted.len();
        self.pend_quoted.extend_from_slice(rec.quoted);
        self.pend_rows.push(PendingRow {
            sep: rec.sep,
            last_line: rec.last_line,
            utf8_ok,
            in_chunk: rec.at.is_some(),
            quoted_start,
            quoted_end: self.pend_quoted.len(),
        });
        self.pend_batch_bytes += rec.bytes.len() + 8 * ncols;
        if self.queue_full(self.pend_rows.len()) {
            self.convert_pending(chunk)?;
        }
        Ok(())
    }

    /// The number of columns when the tokenizer may queue rows in place
    /// (the schema is known); converts the queued copied rows first, so the
    /// queue then holds in-place rows only.
    pub(super) fn begin_in_place(&mut self, chunk: &[u8]) -> Result<Option<usize>> {
        if self.phase != Phase::Rows {
            return Ok(None);
        }
        if !self.pend_rows.is_empty() {
            self.convert_pending(chunk)?;
        }
        Ok(Some(self.columns.len()))
    }

    /// When the in-place queue (rows of `ncols` cells) is due for
    /// conversion, worked out once per conversion so that each record is
    /// checked against two numbers ([`InPlaceDue::reached`]) instead of
    /// five bounds: the same answer as [`Self::queue_full`], since between
    /// conversions only the in-place rows, their cells (`ncols` a row)
    /// and their batch bytes grow.
    pub(super) fn in_place_due(&self, ncols: usize) -> InPlaceDue {
        let rows = if self.pend_bytes.len() >= PENDING_BYTES {
            // (Checked after a row is queued, so at the first row.)
            1
        } else {
            self.batch_size
                .saturating_sub(self.rows)
                .min(PENDING_ROWS)
                // The queue holds `ncols` cells a row, all in place.
                .min(PENDING_CELLS.div_ceil(ncols.max(1)))
                .max(1)
        };
        InPlaceDue {
            rows,
            batch_bytes: self.limits.max_batch_bytes.saturating_sub(self.batch_bytes),
        }
    }

    /// Whether the queue, holding `queued` rows, is due for conversion: a
    /// table is complete or a queue bound is reached.
    #[inline]
    pub(super) fn queue_full(&self, queued: usize) -> bool {
        self.rows + queued >= self.batch_size
            || self.batch_bytes + self.pend_batch_bytes >= self.limits.max_batch_bytes
            || queued >= PENDING_ROWS
            || self.pend_bytes.len() >= PENDING_BYTES
            || self.pend_cells.len() >= PENDING_CELLS
    }

    /// Converts the queued rows one column at a time. When a cell does not
    /// convert, the batch is rolled back and its rows go through
    /// [`Self::row`] one by one, so bad-row policies, counters, errors and
    /// the tables emitted are exactly those of row-at-a-time conversion.
    ///
    /// `chunk` is the input the in-place rows point into.
    pub(super) fn convert_pending(&mut self, chunk: &[u8]) -> Result<()> {
        let flat = self.in_place.rows;
        let k = self.pend_rows.len() + flat;
        if k == 0 {
            return Ok(());
        }
        let ncols = self.columns.len();
        let base = self.rows;
        let flat_utf8 = flat > 0 && (!self.needs_utf8 || self.in_place_utf8(chunk));
        let mut ok = true;
        for (c, col) in self.columns.iter_mut().enumerate() {
            let cells = PendingCells {
                chunk,
                bytes: &self.pend_bytes,
                cells: &self.pend_cells,
                quoted: &self.pend_quoted,
                rows: &self.pend_rows,
                in_place: (flat > 0).then_some(InPlaceCells {
                    quoted: &self.in_place.quoted,
                    utf8_ok: flat_utf8,
                }),
                column: c,
                ncols,
            };
            if col.push_cells(&cells, &self.nulls, &self.bools).is_err() {
                ok = false;
                break;
            }
        }
        let bytes = std::mem::take(&mut self.pend_bytes);
        let cells = std::mem::take(&mut self.pend_cells);
        let quoted = std::mem::take(&mut self.pend_quoted);
        let rows = std::mem::take(&mut self.pend_rows);
        let pend_batch_bytes = std::mem::take(&mut self.pend_batch_bytes);
        let mut result = Ok(());
        if ok {
            self.rows += k;
            self.batch_bytes += pend_batch_bytes;
            if self.rows >= self.batch_size || self.batch_bytes >= self.limits.max_batch_bytes {
                self.flush();
            }
        } else {
            for col in &mut self.columns {
                col.truncate(base);
            }
            if flat > 0 {
                let quoted = std::mem::take(&mut self.in_place.quoted);
                result = self.replay_in_place(chunk, &cells, &quoted, flat_utf8);
                self.in_place.quoted = quoted;
            }
            let mut ends = Vec::with_capacity(ncols);
            for (r, row) in rows.iter().enumerate() {
                let cells = &cells[r * ncols..(r + 1) * ncols];
                let (Some(&(first, _)), Some(&(_, last))) = (cells.first(), cells.last()) else {
                    continue;
                };
                ends.clear();
                ends.extend(cells.iter().map(|&(_, e)| e - first));
                let src = if row.in_chunk { chunk } else { &bytes[..] };
                let rec = Record {
                    bytes: &src[first..last],
                    ends: &ends,
                    quoted: &quoted[row.quoted_start..row.quoted_end],
                    sep: row.sep,
                    last_line: row.last_line,
                    ascii: row.utf8_ok,
                    at: None,
                };
                if let Err(e) = self.row(&rec) {
                    result = Err(e);
                    break;
                }
            }
        }
        // Keep the allocations for the next batch.
        self.pend_bytes = bytes;
        self.pend_cells = cells;
        self.pend_quoted = quoted;
        self.pend_rows = rows;
        self.pend_bytes.clear();
        self.pend_cells.clear();
        self.pend_quoted.clear();
        self.pend_rows.clear();
        self.in_place.clear();
        result
    }

    /// Whether every cell queued in place is valid UTF-8, from one check of
    /// the chunk's bytes from the first cell to the last. Cells cut at ASCII
    /// delimiters, quotes and line breaks of valid UTF-8 are valid; with a
    /// delimiter or quote above 0x7f each cell is checked on its own.
    fn in_place_utf8(&self, chunk: &[u8]) -> bool {
        let (Some(&(first, _)), Some(&(_, last))) =
            (self.pend_cells.first(), self.pend_cells.last())
        else {
            return true;
        };
        self.ascii_syntax
            && chunk
                .get(first..last)
                .is_some_and(|b| simdutf8::basic::from_utf8(b).is_ok())
    }

    /// Rolls the rows queued in place through [`Self::row`] one by one (a
    /// cell did not convert): each rebuilt unquoted, fields back to back,
    /// with its last line counted from the queue's base.
    fn replay_in_place(
        &mut self,
        chunk: &[u8],
        cells: &[(usize, usize)],
        quoted_bits: &[u64],
        utf8_ok: bool,
    ) -> Result<()> {
        let ncols = self.columns.len();
        let (mut line, mut at) = (self.in_place.base_line, self.in_place.base_pos);
        let (mut bytes, mut ends, mut quoted) = (Vec::new(), Vec::new(), Vec::new());
        for (r, row) in cells.chunks_exact(ncols.max(1)).enumerate() {
            bytes.clear();
            ends.clear();
            quoted.clear();
            for (c, &(s, e)) in row.iter().enumerate() {
                bytes.extend_from_slice(&chunk[s..e]);
                ends.push(bytes.len());
                let i = r * ncols + c;
                if quoted_bits
                    .get(i / 64)
                    .is_some_and(|w| w >> (i % 64) & 1 == 1)
                {
                    quoted.push(c);
                }
            }
            let end = row.last().map_or(at, |&(_, e)| e);
            line += chunk[at.min(end)..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            at = end;
            let rec = Record {
                bytes: &bytes,
                ends: &ends,
                quoted: &quoted,
                sep: 0,
                last_line: line,
                ascii: utf8_ok,
                at: None,
            };
            self.row(&rec)?;
        }
        Ok(())
    }

    fn row(&mut self, rec: &Record<'_>) -> Result<()> {
        let ncols = self.columns.len();
        let n = rec.ends.len();
        if n > ncols || (n < ncols && self.policy != BadRowPolicy::Null) {
            let what = format!(
                "expected {ncols} fields, found {n}: {}",
                shorten(&record_text(rec))
            );
            if self.policy == BadRowPolicy::Skip {
                self.skipped += 1;
                return Ok(());
            }
            let e = if n > ncols {
                // Point at the first extra field.
                Error::new(ErrorKind::InvalidData, what)
                    .at_cell(rec.line_of(ncols), ncols as u64 + 1)
            } else {
                // Point at the first missing column.
                let (name, ty) = self.column_label(n);
                Error::new(ErrorKind::InvalidData, format!("column {name:?}: {what}"))
                    .at_cell(rec.last_line, n as u64 + 1)
                    .in_field(&name, ty)
            };
            self.flush();
            return Err(e);
        }
        let utf8_ok = !self.needs_utf8 || rec.fields_are_utf8();
        let mut start = 0;
        for i in 0..ncols {
            let cell: &[u8] = if i < n {
                let end = rec.ends[i];
                let c = &rec.bytes[start..end];
                start = end + rec.sep;
                c
            } else {
                // Padding a short row (BadRowPolicy::Null), unless the field
                // cannot hold a null.
                if !self.columns[i].field.nullable {
                    let what = format!(
                        "expected {ncols} fields, found {n}: {}",
                        shorten(&record_text(rec))
                    );
                    return Err(self.not_nullable(rec, i, what));
                }
                self.columns[i].push_null_unchecked();
                self.nulled += 1;
                continue;
            };
            let col = &mut self.columns[i];
            let res = if col
                .null_rule
                .is_null(cell, &self.nulls, || rec.is_quoted(i))
            {
                col.push_null()
            } else {
                col.push(cell, utf8_ok, &self.bools)
            };
            if let Err(err) = res {
                match self.policy {
                    BadRowPolicy::Null if self.columns[i].field.nullable => {
                        self.columns[i].push_null_unchecked();
                        self.nulled += 1;
                    }
                    BadRowPolicy::Null => {
                        let (_, what) = self.cell_what(i, cell, err);
                        return Err(self.not_nullable(rec, i, what));
                    }
                    BadRowPolicy::Skip => {
                        for c in &mut self.columns[..i] {
                            c.truncate(self.rows);
                        }
                        self.skipped += 1;
                        return Ok(());
                    }
                    BadRowPolicy::Error => {
                        for c in &mut self.columns[..i] {
                            c.truncate(self.rows);
                        }
                        let e = self.cell_error(rec, i, cell, err);
                        self.flush();
                        return Err(e);
                    }
                }
            }
        }
        self.rows += 1;
        self.batch_bytes += rec.bytes.len() + 8 * ncols;
        if self.rows >= self.batch_size || self.batch_bytes >= self.limits.max_batch_bytes {
            self.flush();
        }
        Ok(())
    }

    /// A bad cell that BadRowPolicy::Null cannot null: its field is not
    /// nullable. The rows before it are emitted first, as for any error.
    fn not_nullable(&mut self, rec: &Record<'_>, i: usize, what: String) -> Error {
        for c in &mut self.columns[..i] {
            c.truncate(self.rows);
        }
        self.flush();
        let what = if what.starts_with("null ") {
            what
        } else {
            format!("{what}; the field is not nullable, so BadRowPolicy::Null cannot make it null")
        };
        self.error_at(rec, i, ErrorKind::InvalidData, &what)
    }

    fn cell_error(&self, rec: &Record<'_>, i: usize, cell: &[u8], err: CellError) -> Error {
        let (kind, what) = self.cell_what(i, cell, err);
        self.error_at(rec, i, kind, &what)
    }

    fn cell_what(&self, i: usize, cell: &[u8], err: CellError) -> (ErrorKind, String) {
        let ty = pyarrow_type_name(&self.columns[i].field.dtype, None);
        let (kind, what) = match err {
            CellError::Unparsable => (
                ErrorKind::InvalidData,
                format!("cannot read {} as {ty}", shorten(cell)),
            ),
            CellError::InvalidUtf8 => (
                ErrorKind::InvalidData,
                format!("invalid UTF-8 in {}", shorten(cell)),
            ),
            CellError::UnexpectedNull => (
                ErrorKind::InvalidData,
                format!("null {} in a non-nullable column", shorten(cell)),
            ),
            CellError::DictionaryFull => (
                ErrorKind::LimitExceeded,
                format!(
                    "{} is one distinct value too many for {ty} in one table",
                    shorten(cell)
                ),
            ),
            CellError::TooLong => (
                ErrorKind::LimitExceeded,
                format!(
                    "{} does not fit in the 32-bit offsets of a {ty} column; lower CsvLimits::max_batch_bytes",
                    shorten(cell)
                ),
            ),
        };
        (kind, what)
    }

    /// Values to reserve per column for the next table: a batch, at most 64 Ki,
    /// and no more than `max_batch_bytes` over all columns (8 bytes a value).
    fn reserve_rows(&self) -> usize {
        let per_row = 8 * self.columns.len().max(1);
        self.batch_size
            .min(1 << 16)
            .min(self.limits.max_batch_bytes / per_row)
    }

    /// Emits the rows converted so far as a table (if any).
    pub(super) fn flush(&mut self) {
        if self.rows == 0 {
            return;
        }
        let Some(schema) = &self.schema else { return };
        let n = self.reserve_rows();
        let cols = self
            .columns
            .iter_mut()
            .map(|c| {
                let col = c.finish();
                c.reserve(n);
                col
            })
            .collect();
        self.tables.push_back(Table {
            cols,
            n_rows: self.rows,
            name: String::new(),
            metadata: schema.metadata.clone(),
        });
        self.rows = 0;
        self.batch_bytes = 0;
    }

    pub(super) fn finish(&mut self) -> Result<()> {
        // Nothing points into a chunk any more: each feed converted its rows.
        self.convert_pending(&[])?;
        match self.phase {
            Phase::Header => {
                // No record at all.
                let schema = self
                    .given
                    .clone()
                    .unwrap_or_else(|| Arc::new(Schema::new(Vec::new(), Default::default())));
                self.start(schema, &[]);
                self.phase = Phase::Rows;
            }
            Phase::Infer => self.resolve()?,
            Phase::Rows => {}
        }
        self.flush();
        Ok(())
    }
}

/// The record's fields joined by commas, for messages.
fn record_text(rec: &Record<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..rec.ends.len() {
        if i > 0 {
            v.push(b',');
        }
        v.extend_from_slice(rec.field(i));
        if v.len() > 64 {
            break;
        }
    }
    v
}

/// The offending text, quoted and cut to 40 characters.
pub(super) fn shorten(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let mut out: String = s.chars().take(40).collect();
    if s.chars().nth(40).is_some() {
        out.push_str("...");
    }
    format!("{out:?}")
}
