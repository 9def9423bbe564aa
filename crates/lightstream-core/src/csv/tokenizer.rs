//! Bytes -> records, within the row and column limits. Once the schema is
//! known, records whose fields are unquoted or simply quoted are split in
//! place, 64 bytes at a time ([`blocks`](super::blocks)), and their cells go
//! straight into the assembler's queue as chunk offsets. Anything else (a
//! doubled quote, a quote inside an unquoted field, text after a closing
//! quote, a record cut by the end of a pushed chunk, the header and the rows
//! buffered for inference) goes through the `csv-core` state machine, which
//! unquotes it into a buffer and hands it as a [`Record`] to the
//! [`TableAssembler`]. Both paths note which fields were quoted, since under
//! [`StringNulls::Unquoted`](super::StringNulls::Unquoted) that tells a null
//! from an empty string. Not the conversion of records to tables (`rows.rs`).

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use super::CsvReadOptions;
use super::blocks::{BLOCK, Classifier, QuoteCarry};
use super::rows::{InPlaceDue, Record, TableAssembler, shorten};
use crate::error::{Error, ErrorKind, Result};

/// Splits the input into records, within the row and column limits: records
/// without quotes in place, the others with csv-core.
pub(super) struct Tokenizer {
    rdr: Reader,
    classifier: Classifier,
    quote: u8,
    /// Whether the last record (or blank line) ended with a CR, so that an
    /// LF right after it is the rest of a CRLF, not an empty line.
    after_cr: bool,
    /// Line feeds consumed by the in-place path (csv-core counts its own).
    fast_lines: u64,
    /// Whether csv-core has read any input (the first record always goes
    /// through it).
    core_started: bool,
    rec: Vec<u8>,
    rec_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    /// The first bytes of the input while a UTF-8 BOM is still possible.
    bom: Option<Vec<u8>>,
    scan: QuoteScan,
    max_row_bytes: usize,
    max_field_bytes: usize,
    max_columns: usize,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Tokenizer {
    /// A tokenizer for `options` (already checked by the decoder).
    pub(super) fn new(options: &CsvReadOptions) -> Self {
        let limits = &options.limits;
        let mut rdr = ReaderBuilder::new()
            .delimiter(options.delimiter)
            .quote(options.quote)
            .build();
        // The tokenizer strips a leading BOM itself, even one split across
        // pushes. csv-core would strip another at the start of its first
        // input, so a second BOM (text) vanished or not depending on the
        // chunking. A read with no room for output marks csv-core as started
        // without consuming or changing anything.
        let _ = rdr.read_record(b"\0", &mut [], &mut []);
        Tokenizer {
            rdr,
            classifier: Classifier::new(options.delimiter, options.quote),
            quote: options.quote,
            after_cr: false,
            fast_lines: 0,
            core_started: false,
            rec: vec![0; 4096.min(limits.max_row_bytes + 1)],
            rec_len: 0,
            ends: vec![0; 64.min(limits.max_columns + 1)],
            ends_len: 0,
            bom: Some(Vec::new()),
            scan: QuoteScan::new(options.quote, options.delimiter),
            max_row_bytes: limits.max_row_bytes,
            max_field_bytes: limits.max_field_bytes,
            max_columns: limits.max_columns,
        }
    }

    /// A tokenizer for a chunk that starts a record after the start of the
    /// input, on physical line `first_line`: no BOM to strip, and line
    /// numbers counted from there.
    pub(super) fn for_chunk(options: &CsvReadOptions, first_line: u64) -> Self {
        let mut tok = Self::new(options);
        tok.bom = None;
        tok.fast_lines = first_line.saturating_sub(1);
        tok
    }

    /// Whether a quote outside RFC 4180 was met (see [`QuoteScan`]).
    pub(super) fn met_stray_quote(&self) -> bool {
        self.scan.stray
    }

    pub(super) fn feed(
        &mut self,
        input: &[u8],
        eof: bool,
        assembler: &mut TableAssembler,
    ) -> Result<()> {
        if let Some(mut head) = self.bom.take() {
            // Strip a UTF-8 BOM at the very start, even when it arrives split.
            let want = BOM.len() - head.len();
            let take = want.min(input.len());
            head.extend_from_slice(&input[..take]);
            if head.len() < BOM.len() && !eof && BOM.starts_with(&head) {
                self.bom = Some(head);
                return Ok(());
            }
            if head.as_slice() == BOM {
                return self.feed_records(&input[take..], eof, assembler);
            }
            // Not a BOM: the held bytes are data.
            let held = head.len() - take;
            let prefix = head[..held].to_vec();
            if !prefix.is_empty() {
                self.feed_records(&prefix, false, assembler)?;
            }
            return self.feed_records(input, eof, assembler);
        }
        self.feed_records(input, eof, assembler)
    }

    /// The physical line (1-based) the next input byte is on.
    fn line(&self) -> u64 {
        self.rdr.line() + self.fast_lines
    }

    /// Whether no byte of the next record has been consumed yet.
    fn at_record_start(&self) -> bool {
        self.rec_len == 0
            && self.ends_len == 0
            && self.scan.state == ScanState::FieldStart
            && self.scan.field == 0
    }

    /// Consumes the line breaks at `pos`, where a record would start (see
    /// [`Self::line_break`]); returns where the next record starts.
    fn line_breaks(
        &mut self,
        input: &[u8],
        mut pos: usize,
        assembler: &mut TableAssembler,
    ) -> Result<usize> {
        while let Some(&b @ (b'\n' | b'\r')) = input.get(pos) {
            self.line_break(b, input, assembler)?;
            pos += 1;
        }
        Ok(pos)
    }

    /// A CR or LF where a record would start: the LF of the CRLF that ended
    /// the last record, or an empty line. An empty line is skipped (as
    /// csv-core and pyarrow skip blank lines), except in a file of one column
    /// read with [`StringNulls::Unquoted`](super::StringNulls::Unquoted), where it is that column's only
    /// way to write a null: a record of one empty unquoted field. Both
    /// splitting paths come here, so they agree; csv-core never sees a line
    /// break at the start of a record.
    fn line_break(&mut self, b: u8, chunk: &[u8], assembler: &mut TableAssembler) -> Result<()> {
        let crlf_tail = b == b'\n' && self.after_cr;
        self.after_cr = b == b'\r';
        if !crlf_tail && assembler.empty_line_is_record() {
            let rec = Record {
                bytes: &[],
                ends: &[0],
                quoted: &[],
                sep: 0,
                last_line: self.line(),
                ascii: true,
                at: None,
            };
            assembler.record(&rec, chunk)?;
        }
        self.fast_lines += u64::from(b == b'\n');
        Ok(())
    }

    /// Splits and queues the records of `input`, then converts the queued
    /// rows (which may point into `input`, so they never outlive this call).
    fn feed_records(
        &mut self,
        input: &[u8],
        eof: bool,
        assembler: &mut TableAssembler,
    ) -> Result<()> {
        match self.split_records(input, eof, assembler) {
            Ok(()) => assembler.convert_pending(input),
            Err(e) => {
                // The rows queued before the bad record are delivered
                // before its error (unless one of them is bad: that error
                // comes first), as they would be had the input been cut
                // into pieces between them and it.
                assembler.convert_pending(input)?;
                Err(e)
            }
        }
    }

    fn split_records(
        &mut self,
        input: &[u8],
        eof: bool,
        assembler: &mut TableAssembler,
    ) -> Result<()> {
        if !eof && input.is_empty() {
            // csv-core reads an empty input as the end of the input.
            return Ok(());
        }
        if eof && self.scan.in_quotes() {
            return Err(self.unterminated(assembler));
        }
        let mut pos = 0;
        loop {
            if self.at_record_start() {
                pos = self.line_breaks(input, pos, assembler)?;
                if self.core_started {
                    pos = self.block_records(input, pos, assembler)?;
                }
                if pos == input.len() && !eof {
                    return Ok(());
                }
                self.scan.line = self.line();
            }
            // One record (or the rest of the input) through csv-core.
            let rec_start = pos;
            loop {
                let (res, nin, nout, nend) = self.rdr.read_record(
                    &input[pos..],
                    &mut self.rec[self.rec_len..],
                    &mut self.ends[self.ends_len..],
                );
                self.core_started = true;
                pos += nin;
                self.rec_len += nout;
                self.ends_len += nend;
                match res {
                    ReadRecordResult::InputEmpty => {
                        self.scan.advance(&input[rec_start..pos]);
                        return Ok(());
                    }
                    ReadRecordResult::OutputFull => self.grow_rec()?,
                    ReadRecordResult::OutputEndsFull => self.grow_ends()?,
                    ReadRecordResult::Record => {
                        self.check_columns()?;
                        // The rest of the record, for which fields were quoted.
                        self.scan.advance(&input[rec_start..pos]);
                        let line_after = self.line();
                        let last = (pos > rec_start).then(|| input[pos - 1]);
                        self.after_cr = last == Some(b'\r');
                        let ended_on_nl = last == Some(b'\n');
                        self.emit(assembler, input, line_after - u64::from(ended_on_nl))?;
                        self.scan.reset(line_after);
                        break;
                    }
                    ReadRecordResult::End => return Ok(()),
                }
            }
        }
    }

    /// Splits the records from `pos` in place, 64 bytes at a time
    /// ([`blocks`](super::blocks)), writing their cells straight into the
    /// assembler's queue (see `rows::InPlace`): no per-record call. Takes
    /// unquoted fields and fields quoted without a quote inside; returns
    /// where it stopped, at the start of a record for csv-core: one with a
    /// doubled quote, a quote inside an unquoted field or text after a
    /// closing quote, one the input cuts off, one with the wrong number of
    /// fields or over a limit (csv-core and the assembler then report or
    /// apply the policy exactly as for any record).
    ///
    /// Fields are found by quote parity, which matches csv-core for every
    /// record taken here: a field's quotes are checked at its end (none, or
    /// exactly its first and last byte), and a record whose quotes are
    /// anything else goes back whole to csv-core, which starts again at its
    /// first byte with its own state.
    ///
    /// A block with no quote that starts outside quotes and after no quote
    /// of the field it continues (most blocks) takes the short loop: each
    /// structural byte ends an unquoted field, with no quote bookkeeping.
    /// The field count is checked at a record's end, and once a block for
    /// the record in progress, so that record holds at most a block's
    /// fields more than a row. The queue's cells, row count and batch bytes
    /// are held in a local [`Run`] while blocks are split (so that they stay
    /// in registers) and handed back before anything calls the assembler.
    fn block_records(
        &mut self,
        input: &[u8],
        pos: usize,
        assembler: &mut TableAssembler,
    ) -> Result<usize> {
        let Some(ncols) = assembler.begin_in_place(input)? else {
            return Ok(pos);
        };
        if ncols == 0 || ncols > self.max_columns {
            // No column to fill, or every record of the right length is
            // over the column limit (csv-core reports it).
            return Ok(pos);
        }
        let mut run = Run::take(assembler, pos);
        let r = self.split_blocks(input, ncols, assembler, &mut run);
        run.give_back(assembler);
        r
    }

    /// [`Self::block_records`]' loop over the blocks, the queue in `run`.
    fn split_blocks(
        &mut self,
        input: &[u8],
        ncols: usize,
        assembler: &mut TableAssembler,
        run: &mut Run,
    ) -> Result<usize> {
        let empty_is_record = assembler.empty_line_is_record();
        let quote = self.quote;
        let mut due = assembler.in_place_due(ncols);
        let n = input.len();
        let mut carry = QuoteCarry::default();
        let mut block = run.rec_start;
        while block < n {
            let m = self.classifier.split_at(input, block);
            if carry.quote_free(m.quote) && run.field_quotes == 0 {
                // No quote: every structural byte ends an unquoted field.
                let mut structural = m.structural;
                while structural != 0 {
                    let bit = structural.trailing_zeros();
                    structural &= structural - 1;
                    let p = block + bit as usize;
                    run.cells.push((run.field_start, p));
                    run.field_start = p + 1;
                    if m.delim >> bit & 1 == 1 {
                        continue;
                    }
                    if p == run.rec_start {
                        // A line break where a record would start: no cell.
                        run.cells.pop();
                        self.block_line_break(input, p, empty_is_record, assembler, run)?;
                        if empty_is_record {
                            due = assembler.in_place_due(ncols);
                        }
                        continue;
                    }
                    // (Line feeds inside quotes only in earlier blocks.)
                    let newlines = run.rec_lfs;
                    if !self.end_record(input, p, ncols, newlines, assembler, run, &mut due)? {
                        return Ok(run.give_up(assembler, ncols));
                    }
                }
            } else {
                let inside = carry.inside(m.quote);
                let mut structural = m.structural & !inside;
                // Quote and LF bits not yet counted into a field / record.
                // Only the LFs inside quotes are counted here (the others
                // are line breaks, counted as such), so a block with no byte
                // inside quotes needs no LF mask.
                let mut quotes = m.quote;
                let mut lfs = if inside == 0 {
                    0
                } else {
                    self.classifier.lf_at(input, block) & inside
                };
                while structural != 0 {
                    let bit = structural.trailing_zeros();
                    structural &= structural - 1;
                    let p = block + bit as usize;
                    let below = (1u64 << bit) - 1;
                    let fq = run.field_quotes + (quotes & below).count_ones();
                    quotes &= !below;
                    run.field_quotes = 0;
                    let is_delim = m.delim >> bit & 1 == 1;
                    if !is_delim && p == run.rec_start {
                        // A line break where a record would start.
                        lfs &= !below;
                        self.block_line_break(input, p, empty_is_record, assembler, run)?;
                        if empty_is_record {
                            due = assembler.in_place_due(ncols);
                        }
                        continue;
                    }
                    let fs = run.field_start;
                    let cell = if fq == 0 {
                        (fs, p)
                    } else if fq == 2
                        && p >= fs + 2
                        && input.get(fs) == Some(&quote)
                        && input.get(p - 1) == Some(&quote)
                    {
                        let i = run.rows * ncols + (run.cells.len() - run.rec_cells);
                        assembler.in_place.set_quoted(i);
                        run.quoted_fields += 1;
                        (fs + 1, p - 1)
                    } else {
                        return Ok(run.give_up(assembler, ncols));
                    };
                    run.cells.push(cell);
                    run.field_start = p + 1;
                    if is_delim {
                        continue;
                    }
                    // Line feeds inside the record's quoted fields (the bits
                    // of earlier terminators are cleared).
                    let newlines = run.rec_lfs + u64::from((lfs & below).count_ones());
                    lfs &= !below;
                    if !self.end_record(input, p, ncols, newlines, assembler, run, &mut due)? {
                        return Ok(run.give_up(assembler, ncols));
                    }
                }
                run.field_quotes += quotes.count_ones();
                run.rec_lfs += u64::from(lfs.count_ones());
            }
            if run.cells.len() - run.rec_cells > ncols {
                // More fields than columns.
                return Ok(run.give_up(assembler, ncols));
            }
            block += BLOCK;
        }
        // The input ends inside the record at `rec_start` (if any): csv-core keeps it.
        Ok(run.give_up(assembler, ncols).min(n))
    }

    /// The end of the record at `run.rec_start`, whose last cell ends at
    /// the line break at `p` and whose quoted fields hold `newlines` line
    /// feeds: queues it, or returns `false` when csv-core must read it (the
    /// wrong number of fields, or longer than a field may be: no field can
    /// be longer than its record, and csv-core reports a field over the
    /// limit as always). Converts the queue when it is due.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn end_record(
        &mut self,
        input: &[u8],
        p: usize,
        ncols: usize,
        newlines: u64,
        assembler: &mut TableAssembler,
        run: &mut Run,
        due: &mut InPlaceDue,
    ) -> Result<bool> {
        if run.cells.len() - run.rec_cells != ncols {
            return Ok(false);
        }
        let raw = p - run.rec_start;
        // The bytes of the cells: the record's, less its delimiters and the
        // quotes around its quoted fields (as csv-core would unquote it).
        let content = raw - (ncols - 1) - 2 * run.quoted_fields;
        if content > self.max_row_bytes.min(self.max_field_bytes) {
            return Ok(false);
        }
        if run.rows == 0 {
            assembler.in_place.base_pos = run.rec_start;
            assembler.in_place.base_line = self.line();
        }
        run.rows += 1;
        // A record with a quoted field counts as csv-core's copy would.
        let bytes = if run.quoted_fields == 0 { raw } else { content };
        run.batch_bytes += bytes + 8 * ncols;
        let b = input.get(p).copied();
        self.fast_lines += newlines + u64::from(b == Some(b'\n'));
        self.after_cr = b == Some(b'\r');
        (run.rec_start, run.field_start) = (p + 1, p + 1);
        (run.rec_cells, run.quoted_fields, run.rec_lfs) = (run.cells.len(), 0, 0);
        if due.reached(run.rows, run.batch_bytes) {
            run.give_back(assembler);
            let r = assembler.convert_pending(input);
            *due = assembler.in_place_due(ncols);
            run.take_back(assembler);
            r?;
        }
        Ok(true)
    }

    /// A CR or LF where a record would start, met by [`Self::block_records`]:
    /// the rest of a CRLF, or an empty line ([`Self::line_break`]).
    #[inline(never)]
    fn block_line_break(
        &mut self,
        input: &[u8],
        p: usize,
        empty_is_record: bool,
        assembler: &mut TableAssembler,
        run: &mut Run,
    ) -> Result<()> {
        let b = input.get(p).copied().unwrap_or(b'\n');
        (run.rec_start, run.field_start) = (p + 1, p + 1);
        if empty_is_record {
            run.give_back(assembler);
            // The empty record is queued as a copied row: convert it, so
            // the queue holds in-place rows only again.
            let r = self
                .line_break(b, input, assembler)
                .and_then(|()| assembler.begin_in_place(input).map(drop));
            run.take_back(assembler);
            return r;
        }
        self.fast_lines += u64::from(b == b'\n');
        self.after_cr = b == b'\r';
        Ok(())
    }

    fn emit(&mut self, assembler: &mut TableAssembler, chunk: &[u8], last_line: u64) -> Result<()> {
        let rec = Record {
            bytes: &self.rec[..self.rec_len],
            ends: &self.ends[..self.ends_len],
            quoted: &self.scan.quoted,
            sep: 0,
            last_line,
            ascii: false,
            at: None,
        };
        let r = assembler.record(&rec, chunk);
        self.rec_len = 0;
        self.ends_len = 0;
        r
    }

    fn check_columns(&self) -> Result<()> {
        if self.ends_len > self.max_columns {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!(
                    "a record has more than {} fields (CsvLimits::max_columns)",
                    self.max_columns
                ),
            )
            .at_line(self.line()));
        }
        Ok(())
    }

    fn grow_rec(&mut self) -> Result<()> {
        if self.rec.len() > self.max_row_bytes {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!(
                    "a record is longer than {} bytes (CsvLimits::max_row_bytes)",
                    self.max_row_bytes
                ),
            )
            .at_line(self.line()));
        }
        let new_len = (self.rec.len() * 2).min(self.max_row_bytes + 1);
        self.rec.resize(new_len, 0);
        Ok(())
    }

    fn grow_ends(&mut self) -> Result<()> {
        if self.ends.len() > self.max_columns {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!(
                    "a record has more than {} fields (CsvLimits::max_columns)",
                    self.max_columns
                ),
            )
            .at_line(self.line()));
        }
        let new_len = (self.ends.len() * 2).min(self.max_columns + 1);
        self.ends.resize(new_len, 0);
        Ok(())
    }

    fn unterminated(&self, assembler: &TableAssembler) -> Error {
        let col = self.scan.field;
        let (name, ty) = assembler.column_label(col);
        let start = if self.ends_len > 0 {
            self.ends[self.ends_len - 1]
        } else {
            0
        };
        let text = String::from_utf8_lossy(&self.rec[start.min(self.rec_len)..self.rec_len]);
        let e = Error::new(
            ErrorKind::Truncated,
            format!(
                "column {name:?}: quoted field is not closed at the end of the input; it begins {}",
                shorten(text.as_bytes()),
            ),
        );
        e.at_cell(self.scan.open_line, col as u64 + 1)
            .in_field(&name, ty)
    }
}

/// The in-place queue and the record in progress while
/// [`Tokenizer::block_records`] splits blocks: the assembler's cells, row
/// count and batch bytes moved out of it (so that the loop keeps them in
/// registers instead of reloading them after every cell it writes), and
/// handed back ([`Run::give_back`]) before the assembler is called.
struct Run {
    cells: Vec<(usize, usize)>,
    rows: usize,
    batch_bytes: usize,
    rec_start: usize,
    field_start: usize,
    /// `cells.len()` where the record in progress began.
    rec_cells: usize,
    /// Quotes of the field in progress in earlier blocks.
    field_quotes: u32,
    /// Line feeds inside quotes of the record in progress in earlier blocks.
    rec_lfs: u64,
    /// Quoted fields of the record in progress.
    quoted_fields: usize,
}

impl Run {
    /// The assembler's in-place queue, a record starting at `pos`.
    fn take(assembler: &mut TableAssembler, pos: usize) -> Self {
        let cells = std::mem::take(&mut assembler.pend_cells);
        Run {
            rec_cells: cells.len(),
            cells,
            rows: assembler.in_place.rows,
            batch_bytes: assembler.pend_batch_bytes,
            rec_start: pos,
            field_start: pos,
            field_quotes: 0,
            rec_lfs: 0,
            quoted_fields: 0,
        }
    }

    fn give_back(&mut self, assembler: &mut TableAssembler) {
        assembler.pend_cells = std::mem::take(&mut self.cells);
        assembler.in_place.rows = self.rows;
        assembler.pend_batch_bytes = self.batch_bytes;
    }

    /// The queue again after the assembler was called at a record start.
    fn take_back(&mut self, assembler: &mut TableAssembler) {
        self.cells = std::mem::take(&mut assembler.pend_cells);
        self.rows = assembler.in_place.rows;
        self.batch_bytes = assembler.pend_batch_bytes;
        self.rec_cells = self.cells.len();
    }

    /// Leaves the record at `rec_start` to csv-core: forgets the cells of it
    /// already queued. Returns `rec_start`.
    fn give_up(&mut self, assembler: &mut TableAssembler, ncols: usize) -> usize {
        let kept = self.rows * ncols;
        self.cells.truncate(kept);
        assembler.in_place.clear_from(kept);
        self.rec_cells = kept;
        self.rec_start
    }
}

/// Follows the quoting of a record csv-core reads (which may span pushed
/// chunks): so that a quote left open at the end of the input is an error
/// rather than silently closed (csv-core prefers "a parse over no parse"),
/// and to note which fields were quoted (csv-core does not say).
#[derive(Debug, Clone)]
struct QuoteScan {
    quote: u8,
    delimiter: u8,
    state: ScanState,
    field: usize,
    line: u64,
    open_line: u64,
    /// Indices of the record's fields that start with a quote, ascending.
    quoted: Vec<usize>,
    /// Whether a quote outside RFC 4180 was met: one inside an unquoted
    /// field, or text after a closing quote. csv-core reads it literally,
    /// so from there on quote parity no longer tells where records end.
    stray: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanState {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

impl QuoteScan {
    fn new(quote: u8, delimiter: u8) -> Self {
        QuoteScan {
            quote,
            delimiter,
            state: ScanState::FieldStart,
            field: 0,
            line: 1,
            open_line: 1,
            quoted: Vec::new(),
            stray: false,
        }
    }

    fn reset(&mut self, line: u64) {
        self.state = ScanState::FieldStart;
        self.field = 0;
        self.line = line;
        self.quoted.clear();
    }

    fn in_quotes(&self) -> bool {
        self.state == ScanState::Quoted
    }

    fn advance(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let newline = b == b'\n' || b == b'\r';
            self.state = match self.state {
                ScanState::Quoted if b == self.quote => ScanState::QuoteInQuoted,
                ScanState::Quoted => ScanState::Quoted,
                ScanState::QuoteInQuoted if b == self.quote => ScanState::Quoted,
                ScanState::QuoteInQuoted if b != self.delimiter && !newline => {
                    self.stray = true;
                    ScanState::Unquoted
                }
                ScanState::Unquoted if b == self.quote => {
                    self.stray = true;
                    ScanState::Unquoted
                }
                ScanState::FieldStart if b == self.quote => {
                    self.open_line = self.line;
                    self.quoted.push(self.field);
                    ScanState::Quoted
                }
                _ if b == self.delimiter => {
                    self.field += 1;
                    ScanState::FieldStart
                }
                _ if newline => {
                    self.field = 0;
                    ScanState::FieldStart
                }
                _ => ScanState::Unquoted,
            };
            if b == b'\n' {
                self.line += 1;
            }
        }
    }
}
