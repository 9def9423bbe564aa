//! The push-style CSV decoder: bytes in (any chunking), [`Table`]s out.
//!
//! Records without quotes are split here, straight from the pushed bytes
//! (8 bytes at a time); a record with a quote, one cut by the end of a pushed
//! chunk, and the first record go through the `csv-core` state machine, which
//! unquotes them into a buffer. This module checks the limits, reads the
//! header, buffers the first rows for type inference, converts each cell
//! straight into the column's `Vec64` buffer and cuts tables of at most
//! `batch_size` rows. It holds at most one record, the inference rows and one
//! table in progress, all bounded by [`CsvLimits`]. Every path notes which
//! fields were quoted, since under [`StringNulls::Unquoted`] that tells a null
//! from an empty string. Not a file reader: shells own the I/O (see
//! `lightstream::csv::CsvReader`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};
use minarrow::ffi::arrow_dtype::CategoricalIndexType;
use minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, CategoricalArray, DatetimeArray, DecimalArray, Field,
    FieldArray, FloatArray, IntegerArray, NumericArray, StringArray, Table, TemporalArray,
    TextArray, TimeUnit, Vec64,
};

use super::infer::{BoolValues, Inference};
use super::text::{
    parse_date, parse_decimal, parse_f32, parse_f64, parse_i64, parse_time, parse_timestamp,
    parse_u64, to_units, unit_digits,
};
use super::{BadRowPolicy, CsvLimits, CsvReadOptions, StringNulls};
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::Schema;

/// Push decoder for CSV. Feed bytes with [`push`](Self::push), call
/// [`finish`](Self::finish) at the end of the input, and take tables with
/// [`next_table`](Self::next_table) whenever convenient; the tables do not
/// depend on how the input was chunked.
///
/// After an error the decoder is spent: every later `push` or `finish` returns
/// the same error. Tables completed before the error stay available, and
/// the rows before a bad row (with [`BadRowPolicy::Error`]) are emitted as one
/// last, shorter table so that everything before the error is delivered.
pub struct CsvDecoder {
    tok: Tokenizer,
    sink: Sink,
    failed: Option<Error>,
    finished: bool,
}

impl std::fmt::Debug for CsvDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvDecoder")
            .field("schema", &self.sink.schema)
            .field("skipped_rows", &self.sink.skipped)
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
        let limits = options.limits.clone();
        if limits.max_row_bytes == 0 || limits.max_columns == 0 {
            return Err(Error::schema(
                "max_row_bytes and max_columns must be at least 1",
            ));
        }
        if let Some(schema) = &options.schema {
            for f in &schema.fields {
                Column::check_type(&f.dtype)
                    .map_err(|e| e.in_field(&f.name, type_name(&f.dtype)))?;
            }
        }
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
        let mut special = [false; 256];
        for b in [options.delimiter, options.quote, b'\r', b'\n'] {
            special[usize::from(b)] = true;
        }
        let tok = Tokenizer {
            rdr,
            special,
            delimiter: options.delimiter,
            quote: options.quote,
            fast_ends: Vec::with_capacity(64.min(limits.max_columns + 1)),
            quoted_bytes: Vec::new(),
            quoted_ends: Vec::new(),
            quoted_fields: Vec::new(),
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
            max_columns: limits.max_columns,
        };
        let sink = Sink::new(options);
        Ok(CsvDecoder {
            tok,
            sink,
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
        let r = self.tok.feed(input, false, &mut self.sink);
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
            .feed(&[], true, &mut self.sink)
            .and_then(|()| self.sink.finish());
        self.record_failure(r)
    }

    /// The next complete table, if one is ready. Tables come out in input order.
    pub fn next_table(&mut self) -> Result<Option<Table>> {
        Ok(self.sink.tables.pop_front())
    }

    /// The schema, once known: at once when given in the options, otherwise
    /// after `infer_rows` rows (or [`CsvLimits::max_infer_bytes`]) or at `finish`.
    pub fn schema(&self) -> Option<&Arc<Schema>> {
        self.sink.schema.as_ref()
    }

    /// Rows dropped by [`BadRowPolicy::Skip`] so far.
    pub fn skipped_rows(&self) -> u64 {
        self.sink.skipped
    }

    /// Cells turned into nulls by [`BadRowPolicy::Null`] so far (unparsable
    /// cells and the cells padded onto short rows).
    pub fn nulled_cells(&self) -> u64 {
        self.sink.nulled
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

// ------------------------------------------------------------------ records

/// One record: its unquoted field bytes, the end offset of each field, the
/// number of separator bytes between fields (0 after csv-core unquoted the
/// record into a buffer, 1 when the fields are read in place from the input,
/// delimiters included), the physical line (1-based) of its last byte,
/// whether the bytes are known to be ASCII (so valid UTF-8), where they
/// lie in the pushed chunk when read in place, and which fields were quoted.
struct Record<'a> {
    bytes: &'a [u8],
    ends: &'a [usize],
    /// Indices of the fields that were quoted in the input, ascending.
    quoted: &'a [usize],
    sep: usize,
    last_line: u64,
    ascii: bool,
    /// Where `bytes` starts in the chunk being fed, when read in place from it
    /// (the batch queue then keeps offsets instead of a copy).
    at: Option<usize>,
}

impl Record<'_> {
    #[inline]
    fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1] + self.sep
        }
    }

    fn field(&self, i: usize) -> &[u8] {
        &self.bytes[self.start(i)..self.ends[i]]
    }

    fn is_quoted(&self, i: usize) -> bool {
        self.quoted.binary_search(&i).is_ok()
    }

    /// Whether every field is valid UTF-8, from one check of the whole
    /// record. A valid record is not enough on its own: its fields may be
    /// joined back to back (`sep` 0, after unquoting) or split at a delimiter
    /// byte above 0x7f, so one character can straddle two fields that are
    /// each invalid ("\xc3" and "\xbc" joined read as "ü"). So every field
    /// must also start and end on a character boundary.
    fn fields_are_utf8(&self) -> bool {
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
    fn line_of(&self, i: usize) -> u64 {
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

/// Splits the input into records, within the row and column limits: records
/// without quotes in place, the others with csv-core.
struct Tokenizer {
    rdr: Reader,
    /// Bytes that end an unquoted field or need csv-core: delimiter, quote, CR, LF.
    special: [bool; 256],
    delimiter: u8,
    quote: u8,
    /// Field ends of the record being split in place.
    fast_ends: Vec<usize>,
    /// A record with simply quoted fields, unquoted (fields back to back),
    /// and the indices of its quoted fields.
    quoted_bytes: Vec<u8>,
    quoted_ends: Vec<usize>,
    quoted_fields: Vec<usize>,
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
    max_columns: usize,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Tokenizer {
    fn feed(&mut self, input: &[u8], eof: bool, sink: &mut Sink) -> Result<()> {
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
                return self.feed_records(&input[take..], eof, sink);
            }
            // Not a BOM: the held bytes are data.
            let held = head.len() - take;
            let prefix = head[..held].to_vec();
            if !prefix.is_empty() {
                self.feed_records(&prefix, false, sink)?;
            }
            return self.feed_records(input, eof, sink);
        }
        self.feed_records(input, eof, sink)
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
    fn line_breaks(&mut self, input: &[u8], mut pos: usize, sink: &mut Sink) -> Result<usize> {
        while let Some(&b @ (b'\n' | b'\r')) = input.get(pos) {
            self.line_break(b, input, sink)?;
            pos += 1;
        }
        Ok(pos)
    }

    /// A CR or LF where a record would start: the LF of the CRLF that ended
    /// the last record, or an empty line. An empty line is skipped (as
    /// csv-core and pyarrow skip blank lines), except in a file of one column
    /// read with [`StringNulls::Unquoted`], where it is that column's only
    /// way to write a null: a record of one empty unquoted field. Both
    /// splitting paths come here, so they agree; csv-core never sees a line
    /// break at the start of a record.
    fn line_break(&mut self, b: u8, chunk: &[u8], sink: &mut Sink) -> Result<()> {
        let crlf_tail = b == b'\n' && self.after_cr;
        self.after_cr = b == b'\r';
        if !crlf_tail && sink.empty_line_is_record() {
            let rec = Record {
                bytes: &[],
                ends: &[0],
                quoted: &[],
                sep: 0,
                last_line: self.line(),
                ascii: true,
                at: None,
            };
            sink.record(&rec, chunk)?;
        }
        self.fast_lines += u64::from(b == b'\n');
        Ok(())
    }

    /// Splits and queues the records of `input`, then converts the queued
    /// rows (which may point into `input`, so they never outlive this call).
    fn feed_records(&mut self, input: &[u8], eof: bool, sink: &mut Sink) -> Result<()> {
        match self.split_records(input, eof, sink) {
            Ok(()) => sink.convert_pending(input),
            Err(e) => {
                // A spent decoder never converts them.
                sink.drop_pending();
                Err(e)
            }
        }
    }

    fn split_records(&mut self, input: &[u8], eof: bool, sink: &mut Sink) -> Result<()> {
        if !eof && input.is_empty() {
            // csv-core reads an empty input as the end of the input.
            return Ok(());
        }
        if eof && self.scan.in_quotes() {
            return Err(self.unterminated(sink));
        }
        let mut pos = 0;
        loop {
            if self.at_record_start() {
                pos = self.line_breaks(input, pos, sink)?;
                if self.core_started {
                    pos = self.fast_records(input, pos, sink)?;
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
                        self.emit(sink, input, line_after - u64::from(ended_on_nl))?;
                        self.scan.reset(line_after);
                        break;
                    }
                    ReadRecordResult::End => return Ok(()),
                }
            }
        }
    }

    /// Splits the records from `pos` on that hold no quote byte, in place,
    /// and hands them to `sink`. Returns where it stopped: the end of the
    /// input, or the start of a record for csv-core (one with a quote, one
    /// the input cuts off, or one over the row or column limits, which
    /// csv-core then reports exactly as it always does).
    ///
    /// Reads 8 bytes at a time: a word's candidate bytes (delimiter, quote
    /// and anything below 14, which holds CR and LF) come out as a bit mask
    /// whose set bits are visited in order and checked against the byte
    /// table (the mask can flag a few extra bytes, never miss one).
    fn fast_records(&mut self, input: &[u8], pos: usize, sink: &mut Sink) -> Result<usize> {
        const LO: u64 = 0x0101_0101_0101_0101;
        const HI: u64 = 0x8080_8080_8080_8080;
        let n = input.len();
        let dd = LO * u64::from(self.delimiter);
        let qq = LO * u64::from(self.quote);
        let mut start = pos;
        let mut bits = 0u64;
        self.fast_ends.clear();
        let mut i = pos;
        'words: while i < n {
            let (w, tail) = match input.get(i..).and_then(<[u8]>::first_chunk::<8>) {
                Some(c) => (u64::from_le_bytes(*c), false),
                None => {
                    let mut c = [0u8; 8];
                    let rest = &input[i..];
                    c[..rest.len()].copy_from_slice(rest);
                    (u64::from_le_bytes(c), true)
                }
            };
            bits |= w;
            // haszero(v) = (v - LO) & !v & HI flags every zero byte and, through
            // the borrow, possibly bytes above one: verified below.
            let x = w ^ dd;
            let y = w ^ qq;
            let mut m = ((x.wrapping_sub(LO) & !x)
                | (y.wrapping_sub(LO) & !y)
                | (w.wrapping_sub(LO * 14) & !w))
                & HI;
            while m != 0 {
                let at = i + (m.trailing_zeros() / 8) as usize;
                m &= m - 1;
                if at < start {
                    continue;
                }
                let Some(&b) = input.get(at) else { break };
                if !self.special[usize::from(b)] {
                    continue;
                }
                if b == self.delimiter {
                    self.fast_ends.push(at - start);
                    if self.fast_ends.len() > self.max_columns {
                        return Ok(start);
                    }
                    continue;
                }
                if b == self.quote {
                    let Some((term, newlines)) = self.quoted_record(input, start) else {
                        return Ok(start);
                    };
                    let last_line = self.line() + newlines;
                    let rec = Record {
                        bytes: &self.quoted_bytes,
                        ends: &self.quoted_ends,
                        quoted: &self.quoted_fields,
                        sep: 0,
                        last_line,
                        ascii: self.quoted_bytes.is_ascii(),
                        at: None,
                    };
                    sink.record(&rec, input)?;
                    self.fast_lines += newlines + u64::from(input[term] == b'\n');
                    self.after_cr = input[term] == b'\r';
                    self.fast_ends.clear();
                    start = term + 1;
                    i = start;
                    bits = 0;
                    continue 'words;
                }
                // CR or LF.
                if at == start {
                    // An empty line (or the LF of a CRLF).
                    self.line_break(b, input, sink)?;
                    start = at + 1;
                    continue;
                }
                self.fast_ends.push(at - start);
                let content = at - start + 1 - self.fast_ends.len();
                if content > self.max_row_bytes {
                    return Ok(start);
                }
                let rec = Record {
                    bytes: &input[start..at],
                    ends: &self.fast_ends,
                    quoted: &[],
                    sep: 1,
                    last_line: self.line(),
                    ascii: bits & HI == 0,
                    at: Some(start),
                };
                sink.record(&rec, input)?;
                self.fast_lines += u64::from(b == b'\n');
                self.after_cr = b == b'\r';
                self.fast_ends.clear();
                start = at + 1;
                bits = w;
            }
            if tail {
                break;
            }
            i += 8;
        }
        // The input ends inside the record at `start` (if any): csv-core keeps it.
        Ok(start.min(n))
    }

    /// Splits the record at `start`, whose fields are unquoted or quoted
    /// without doubled quotes inside, into `quoted_bytes` / `quoted_ends`
    /// (unquoted, back to back, as csv-core would). Returns the index of its
    /// terminator (CR or LF) and the line feeds inside quoted fields; `None`
    /// leaves the record to csv-core (a doubled quote, text after a closing
    /// quote, a quote inside an unquoted field, a record the input cuts off,
    /// or one over the row or column limits).
    fn quoted_record(&mut self, input: &[u8], start: usize) -> Option<(usize, u64)> {
        self.quoted_bytes.clear();
        self.quoted_ends.clear();
        self.quoted_fields.clear();
        let mut newlines = 0u64;
        let mut p = start;
        loop {
            let quoted = input.get(p) == Some(&self.quote);
            if quoted {
                self.quoted_fields.push(self.quoted_ends.len());
            }
            let (field, after) = if quoted {
                let body = p + 1;
                let close = body + input.get(body..)?.iter().position(|&b| b == self.quote)?;
                let field = &input[body..close];
                newlines += field.iter().filter(|&&b| b == b'\n').count() as u64;
                (field, close + 1)
            } else {
                let rest = input.get(p..)?;
                let len = rest.iter().position(|&b| self.special[usize::from(b)])?;
                (&rest[..len], p + len)
            };
            if self.quoted_ends.len() >= self.max_columns
                || self.quoted_bytes.len() + field.len() > self.max_row_bytes
            {
                return None;
            }
            self.quoted_bytes.extend_from_slice(field);
            self.quoted_ends.push(self.quoted_bytes.len());
            match input.get(after) {
                Some(&b) if b == self.delimiter => p = after + 1,
                Some(b'\n' | b'\r') => return Some((after, newlines)),
                // A quote (doubled or inside a field), other text after a
                // closing quote, or the end of the input.
                _ => return None,
            }
        }
    }

    fn emit(&mut self, sink: &mut Sink, chunk: &[u8], last_line: u64) -> Result<()> {
        let rec = Record {
            bytes: &self.rec[..self.rec_len],
            ends: &self.ends[..self.ends_len],
            quoted: &self.scan.quoted,
            sep: 0,
            last_line,
            ascii: false,
            at: None,
        };
        let r = sink.record(&rec, chunk);
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

    fn unterminated(&self, sink: &Sink) -> Error {
        let col = self.scan.field;
        let (name, ty) = sink.column_label(col);
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

// ------------------------------------------------------------------ records -> tables

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    Infer,
    Rows,
}

/// Null tokens, with a quick reject on length and first byte (the writer
/// uses them too, to quote strings a reader would take for a null).
#[derive(Debug)]
pub(crate) struct NullTokens {
    tokens: Vec<Vec<u8>>,
    lengths: u64,
    first: [bool; 256],
    empty: bool,
}

impl NullTokens {
    pub(crate) fn new(values: &[String]) -> Self {
        let mut n = NullTokens {
            tokens: Vec::new(),
            lengths: 0,
            first: [false; 256],
            empty: false,
        };
        for v in values {
            let b = v.as_bytes();
            match b.first() {
                None => n.empty = true,
                Some(&f) => {
                    n.first[usize::from(f)] = true;
                    n.lengths |= 1u64.checked_shl(b.len() as u32).unwrap_or(0);
                    n.tokens.push(b.to_vec());
                }
            }
        }
        n
    }

    #[inline]
    pub(crate) fn is_null(&self, cell: &[u8]) -> bool {
        match cell.first() {
            None => self.empty,
            Some(&f) => {
                if !self.first[usize::from(f)] {
                    return false;
                }
                let len_bit = 1u64.checked_shl(cell.len() as u32).unwrap_or(0);
                if cell.len() < 64 && self.lengths & len_bit == 0 {
                    return false;
                }
                self.tokens.iter().any(|t| t == cell)
            }
        }
    }
}

/// Everything after record splitting: header, inference, conversion, batching.
struct Sink {
    given: Option<Arc<Schema>>,
    schema: Option<Arc<Schema>>,
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
    rows: usize,
    batch_bytes: usize,
    batch_size: usize,
    needs_utf8: bool,
    nulls: NullTokens,
    bools: BoolValues,
    strings_can_be_null: bool,
    string_nulls: StringNulls,
    policy: BadRowPolicy,
    limits: CsvLimits,
    tables: VecDeque<Table>,
    skipped: u64,
    nulled: u64,
    /// Rows waiting for column-at-a-time conversion: the bytes of the rows
    /// not read in place from the pushed chunk, each cell's (start, end) in
    /// those bytes or in the chunk (row-major), and per row what rebuilding
    /// its record needs. Converted at the end of every fed chunk at the latest.
    pend_bytes: Vec<u8>,
    pend_cells: Vec<(usize, usize)>,
    /// The quoted fields' indices of the queued rows, back to back.
    pend_quoted: Vec<usize>,
    pend_rows: Vec<PendingRow>,
    /// `batch_bytes` of the pending rows.
    pend_batch_bytes: usize,
}

/// A row waiting in [`Sink::append`]'s batch.
#[derive(Clone, Copy)]
struct PendingRow {
    sep: usize,
    last_line: u64,
    /// The record's bytes are valid UTF-8 (known ASCII or validated).
    utf8_ok: bool,
    /// Its cells are offsets into the chunk being fed, not into `pend_bytes`.
    in_chunk: bool,
    /// Its quoted fields: `pend_quoted[quoted_start..quoted_end]`.
    quoted_start: usize,
    quoted_end: usize,
}

/// Most rows converted in one column-at-a-time batch.
const PENDING_ROWS: usize = 4096;
/// Most bytes held for one batch.
const PENDING_BYTES: usize = 1 << 20;
/// Most cells held for one batch (16 bytes each), for very wide records.
const PENDING_CELLS: usize = 1 << 16;

enum CellError {
    Unparsable,
    InvalidUtf8,
    UnexpectedNull,
    DictionaryFull,
    TooLong,
}

impl Sink {
    fn new(o: CsvReadOptions) -> Self {
        let bytes = |v: &[String]| v.iter().map(|s| s.as_bytes().to_vec()).collect();
        let bools = BoolValues::new(bytes(&o.true_values), bytes(&o.false_values));
        let given = o.schema.map(Arc::new);
        let phase = match (o.has_header, &given) {
            (true, _) => Phase::Header,
            (false, Some(_)) => Phase::Rows,
            (false, None) => Phase::Infer,
        };
        let mut sink = Sink {
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
            rows: 0,
            batch_bytes: 0,
            batch_size: o.batch_size,
            needs_utf8: false,
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
        };
        if let (Some(s), Phase::Rows) = (given, phase) {
            sink.start(s, &[]);
        }
        sink
    }

    /// Name and type of column `i` for error messages.
    fn column_label(&self, i: usize) -> (String, String) {
        if let Some(c) = self.columns.get(i) {
            return (c.field.name.clone(), type_name(&c.field.dtype));
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
    fn empty_line_is_record(&self) -> bool {
        self.string_nulls == StringNulls::Unquoted && self.ncols() == Some(1)
    }

    fn error_at(&self, rec: &Record<'_>, col: usize, kind: ErrorKind, what: &str) -> Error {
        let (name, ty) = self.column_label(col);
        Error::new(kind, format!("column {name:?}: {what}"))
            .at_cell(rec.line_of(col), col as u64 + 1)
            .in_field(&name, ty)
    }

    /// `chunk` is the input being fed (for records read in place from it).
    fn record(&mut self, rec: &Record<'_>, chunk: &[u8]) -> Result<()> {
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
                    .in_field(&f.name, type_name(&f.dtype)));
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

    fn start(&mut self, schema: Arc<Schema>, all_null: &[bool]) {
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
        if self.rows + self.pend_rows.len() >= self.batch_size
            || self.batch_bytes + self.pend_batch_bytes >= self.limits.max_batch_bytes
            || self.pend_rows.len() >= PENDING_ROWS
            || self.pend_bytes.len() >= PENDING_BYTES
            || self.pend_cells.len() >= PENDING_CELLS
        {
            self.convert_pending(chunk)?;
        }
        Ok(())
    }

    /// Converts the queued rows one column at a time. When a cell does not
    /// convert, the batch is rolled back and its rows go through
    /// [`Self::row`] one by one, so bad-row policies, counters, errors and
    /// the tables emitted are exactly those of row-at-a-time conversion.
    ///
    /// `chunk` is the input the in-place rows point into.
    fn convert_pending(&mut self, chunk: &[u8]) -> Result<()> {
        let k = self.pend_rows.len();
        if k == 0 {
            return Ok(());
        }
        let ncols = self.columns.len();
        let base = self.rows;
        let mut ok = true;
        for (c, col) in self.columns.iter_mut().enumerate() {
            let cells = PendingCells {
                chunk,
                bytes: &self.pend_bytes,
                cells: &self.pend_cells,
                quoted: &self.pend_quoted,
                rows: &self.pend_rows,
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
        result
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
        let ty = type_name(&self.columns[i].field.dtype);
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
    fn flush(&mut self) {
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

    /// Forgets the queued rows (the decoder failed).
    fn drop_pending(&mut self) {
        self.pend_bytes.clear();
        self.pend_cells.clear();
        self.pend_quoted.clear();
        self.pend_rows.clear();
        self.pend_batch_bytes = 0;
    }

    fn finish(&mut self) -> Result<()> {
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
pub(crate) fn shorten(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let mut out: String = s.chars().take(40).collect();
    if s.chars().nth(40).is_some() {
        out.push_str("...");
    }
    format!("{out:?}")
}

/// The Arrow name of a type, as pyarrow prints it.
pub(crate) fn type_name(t: &ArrowType) -> String {
    let unit = |u: &TimeUnit| match u {
        TimeUnit::Seconds => "s",
        TimeUnit::Milliseconds => "ms",
        TimeUnit::Microseconds => "us",
        TimeUnit::Nanoseconds => "ns",
        TimeUnit::Days => "day",
    };
    match t {
        ArrowType::Null => "null".into(),
        ArrowType::Boolean => "bool".into(),
        ArrowType::Int8 => "int8".into(),
        ArrowType::Int16 => "int16".into(),
        ArrowType::Int32 => "int32".into(),
        ArrowType::Int64 => "int64".into(),
        ArrowType::UInt8 => "uint8".into(),
        ArrowType::UInt16 => "uint16".into(),
        ArrowType::UInt32 => "uint32".into(),
        ArrowType::UInt64 => "uint64".into(),
        ArrowType::Float32 => "float".into(),
        ArrowType::Float64 => "double".into(),
        ArrowType::String => "string".into(),
        ArrowType::LargeString => "large_string".into(),
        ArrowType::Date32 => "date32[day]".into(),
        ArrowType::Date64 => "date64[ms]".into(),
        ArrowType::Time32(u) => format!("time32[{}]", unit(u)),
        ArrowType::Time64(u) => format!("time64[{}]", unit(u)),
        ArrowType::Duration32(u) | ArrowType::Duration64(u) => format!("duration[{}]", unit(u)),
        ArrowType::Timestamp(u, None) => format!("timestamp[{}]", unit(u)),
        ArrowType::Timestamp(u, Some(tz)) => format!("timestamp[{}, tz={tz}]", unit(u)),
        ArrowType::Decimal32(p, s) | ArrowType::Decimal64(p, s) | ArrowType::Decimal128(p, s) => {
            format!("decimal({p}, {s})")
        }
        ArrowType::Dictionary(_) => "dictionary<string>".into(),
        other => format!("{other:?}"),
    }
}

// ------------------------------------------------------------------ column builders

/// Bit-packed booleans (values or validity) being built.
#[derive(Default)]
struct Bits {
    bytes: Vec64<u8>,
    len: usize,
}

impl Bits {
    /// `len` set bits.
    fn ones(len: usize) -> Self {
        let mut bytes = Vec64::with_capacity(len.div_ceil(8) + 8);
        bytes.extend(std::iter::repeat_n(0xFFu8, len / 8));
        if len % 8 != 0 {
            bytes.push((1u8 << (len % 8)) - 1);
        }
        Bits { bytes, len }
    }

    #[inline]
    fn push(&mut self, v: bool) {
        if self.len % 8 == 0 {
            self.bytes.push(0);
        }
        if v && let Some(last) = self.bytes.last_mut() {
            *last |= 1 << (self.len % 8);
        }
        self.len += 1;
    }

    fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        self.bytes.truncate(len.div_ceil(8));
        if len % 8 != 0
            && let Some(last) = self.bytes.last_mut()
        {
            *last &= (1u8 << (len % 8)) - 1;
        }
        self.len = len;
    }

    fn count_ones(&self) -> usize {
        self.bytes.iter().map(|b| b.count_ones() as usize).sum()
    }

    fn take(&mut self) -> Bitmask {
        let len = self.len;
        self.len = 0;
        Bitmask::new(std::mem::take(&mut self.bytes), len)
    }
}

enum Values {
    Null(usize),
    Bool(Bits),
    I8(Vec64<i8>),
    I16(Vec64<i16>),
    I32(Vec64<i32>),
    I64(Vec64<i64>),
    U8(Vec64<u8>),
    U16(Vec64<u16>),
    U32(Vec64<u32>),
    U64(Vec64<u64>),
    F32(Vec64<f32>),
    F64(Vec64<f64>),
    Str32 {
        offsets: Vec64<u32>,
        data: Vec64<u8>,
    },
    Str64 {
        offsets: Vec64<u64>,
        data: Vec64<u8>,
    },
    Date32(Vec64<i32>),
    Date64(Vec64<i64>),
    /// Time32 (s or ms): fraction digits of the unit.
    Time32(Vec64<i32>, u32),
    /// Time64 (us or ns).
    Time64(Vec64<i64>, u32),
    /// Timestamp: fraction digits, and whether the column has a time zone.
    Timestamp(Vec64<i64>, u32, bool),
    Duration(Vec64<i64>),
    Dec32(Vec64<i32>, u8, i8),
    Dec64(Vec64<i64>, u8, i8),
    Dec128(Vec64<i128>, u8, i8),
    Dict {
        keys: Vec64<u64>,
        values: Vec64<String>,
        index: HashMap<Box<str>, u64>,
        max: u64,
    },
}

struct Column {
    field: Arc<Field>,
    values: Values,
    /// Values pushed so far (nulls included).
    len: usize,
    /// Validity, built from the first null on (`None`: every value is valid).
    valid: Option<Bits>,
    /// Which cells are null.
    null_rule: NullRule,
}

/// Which cells of a column read as null: the one rule for every conversion
/// path (column at a time and row at a time).
#[derive(Debug, Clone, Copy)]
struct NullRule {
    /// Whether null tokens apply (always in non-text columns; in text columns
    /// with `strings_can_be_null`, or when inference saw only nulls).
    tokens: bool,
    /// A text column read with [`StringNulls::Unquoted`]: a quoted field is
    /// always text, an empty unquoted one always null.
    quoting: bool,
}

impl NullRule {
    /// Whether `cell` is null; `quoted` says whether its field was quoted
    /// (asked only when it matters: an empty cell or a null token).
    #[inline]
    fn is_null(self, cell: &[u8], tokens: &NullTokens, quoted: impl FnOnce() -> bool) -> bool {
        if self.quoting {
            (cell.is_empty() || (self.tokens && tokens.is_null(cell))) && !quoted()
        } else {
            self.tokens && tokens.is_null(cell)
        }
    }
}

fn new_offsets<T: Default>() -> Vec64<T> {
    let mut v = Vec64::new();
    v.push(T::default());
    v
}

impl Column {
    fn check_type(t: &ArrowType) -> Result<()> {
        match t {
            ArrowType::Interval(_) | ArrowType::Utf8View | ArrowType::Duration32(_) => Err(
                Error::unsupported(format!("CSV cannot read columns of type {}", type_name(t))),
            ),
            ArrowType::Timestamp(TimeUnit::Days, _)
            | ArrowType::Time32(TimeUnit::Days | TimeUnit::Microseconds | TimeUnit::Nanoseconds)
            | ArrowType::Time64(TimeUnit::Days | TimeUnit::Seconds | TimeUnit::Milliseconds)
            | ArrowType::Duration64(TimeUnit::Days) => Err(Error::unsupported(format!(
                "{} is not a valid Arrow type",
                type_name(t)
            ))),
            _ => Ok(()),
        }
    }

    fn new(field: Arc<Field>, text_nullable: bool, string_nulls: StringNulls) -> Self {
        let values = match &field.dtype {
            ArrowType::Null => Values::Null(0),
            ArrowType::Boolean => Values::Bool(Bits::default()),
            ArrowType::Int8 => Values::I8(Vec64::new()),
            ArrowType::Int16 => Values::I16(Vec64::new()),
            ArrowType::Int32 => Values::I32(Vec64::new()),
            ArrowType::Int64 => Values::I64(Vec64::new()),
            ArrowType::UInt8 => Values::U8(Vec64::new()),
            ArrowType::UInt16 => Values::U16(Vec64::new()),
            ArrowType::UInt32 => Values::U32(Vec64::new()),
            ArrowType::UInt64 => Values::U64(Vec64::new()),
            ArrowType::Float32 => Values::F32(Vec64::new()),
            ArrowType::Float64 => Values::F64(Vec64::new()),
            ArrowType::LargeString => Values::Str64 {
                offsets: new_offsets(),
                data: Vec64::new(),
            },
            ArrowType::Date32 => Values::Date32(Vec64::new()),
            ArrowType::Date64 => Values::Date64(Vec64::new()),
            ArrowType::Time32(u) => Values::Time32(Vec64::new(), unit_digits(u)),
            ArrowType::Time64(u) => Values::Time64(Vec64::new(), unit_digits(u)),
            ArrowType::Timestamp(u, tz) => {
                Values::Timestamp(Vec64::new(), unit_digits(u), tz.is_some())
            }
            ArrowType::Duration64(_) => Values::Duration(Vec64::new()),
            ArrowType::Decimal32(p, s) => Values::Dec32(Vec64::new(), *p, *s),
            ArrowType::Decimal64(p, s) => Values::Dec64(Vec64::new(), *p, *s),
            ArrowType::Decimal128(p, s) => Values::Dec128(Vec64::new(), *p, *s),
            ArrowType::Dictionary(k) => Values::Dict {
                keys: Vec64::new(),
                values: Vec64::new(),
                index: HashMap::new(),
                max: match k {
                    CategoricalIndexType::UInt8 => u64::from(u8::MAX) + 1,
                    CategoricalIndexType::UInt16 => u64::from(u16::MAX) + 1,
                    CategoricalIndexType::UInt32 => u64::from(u32::MAX) + 1,
                    CategoricalIndexType::UInt64 => u64::MAX,
                },
            },
            // String, and anything check_type let through.
            _ => Values::Str32 {
                offsets: new_offsets(),
                data: Vec64::new(),
            },
        };
        let is_text = matches!(
            values,
            Values::Str32 { .. } | Values::Str64 { .. } | Values::Dict { .. }
        );
        Column {
            field,
            values,
            len: 0,
            valid: None,
            null_rule: NullRule {
                tokens: !is_text || text_nullable,
                quoting: is_text && string_nulls == StringNulls::Unquoted,
            },
        }
    }

    /// Room for `n` more values in the common buffers, so that a table fills
    /// without regrowing them (bounded by the caller).
    fn reserve(&mut self, n: usize) {
        match &mut self.values {
            Values::I32(v) | Values::Date32(v) | Values::Time32(v, _) | Values::Dec32(v, ..) => {
                v.reserve(n)
            }
            Values::I64(v)
            | Values::Date64(v)
            | Values::Time64(v, _)
            | Values::Timestamp(v, ..)
            | Values::Duration(v)
            | Values::Dec64(v, ..) => v.reserve(n),
            Values::F64(v) => v.reserve(n),
            Values::Str32 { offsets, .. } => offsets.reserve(n),
            _ => {}
        }
    }

    fn is_text(&self) -> bool {
        matches!(
            self.values,
            Values::Str32 { .. } | Values::Str64 { .. } | Values::Dict { .. }
        )
    }

    fn push_null(&mut self) -> Result<(), CellError> {
        if !self.field.nullable {
            return Err(CellError::UnexpectedNull);
        }
        self.push_null_unchecked();
        Ok(())
    }

    /// Appends a null (a zero value under a cleared validity bit).
    fn push_null_unchecked(&mut self) {
        match &mut self.values {
            Values::Null(n) => *n += 1,
            Values::Bool(b) => b.push(false),
            Values::I8(v) => v.push(0),
            Values::I16(v) => v.push(0),
            Values::I32(v) | Values::Date32(v) | Values::Time32(v, _) | Values::Dec32(v, ..) => {
                v.push(0)
            }
            Values::I64(v)
            | Values::Date64(v)
            | Values::Time64(v, _)
            | Values::Timestamp(v, ..)
            | Values::Duration(v)
            | Values::Dec64(v, ..) => v.push(0),
            Values::U8(v) => v.push(0),
            Values::U16(v) => v.push(0),
            Values::U32(v) => v.push(0),
            Values::U64(v) => v.push(0),
            Values::F32(v) => v.push(0.0),
            Values::F64(v) => v.push(0.0),
            Values::Dec128(v, ..) => v.push(0),
            Values::Str32 { offsets, data } => {
                // data.len() fits: it did when the last value was pushed.
                let last = offsets.last().copied().unwrap_or(0);
                debug_assert_eq!(last as usize, data.len());
                offsets.push(last);
            }
            Values::Str64 { offsets, .. } => {
                let last = offsets.last().copied().unwrap_or(0);
                offsets.push(last);
            }
            Values::Dict { keys, .. } => keys.push(0),
        }
        let len = self.len;
        self.valid
            .get_or_insert_with(|| Bits::ones(len))
            .push(false);
        self.len += 1;
    }

    /// Converts one non-null cell.
    #[inline]
    fn push(&mut self, cell: &[u8], utf8_ok: bool, bools: &BoolValues) -> Result<(), CellError> {
        use CellError::Unparsable as U;
        fn int<T: TryFrom<i64>>(cell: &[u8]) -> Result<T, CellError> {
            parse_i64(cell)
                .and_then(|v| T::try_from(v).ok())
                .ok_or(CellError::Unparsable)
        }
        fn uint<T: TryFrom<u64>>(cell: &[u8]) -> Result<T, CellError> {
            parse_u64(cell)
                .and_then(|v| T::try_from(v).ok())
                .ok_or(CellError::Unparsable)
        }
        fn fits(v: i128, precision: u8) -> bool {
            10i128
                .checked_pow(u32::from(precision))
                .is_none_or(|lim| v.unsigned_abs() < lim.unsigned_abs())
        }
        match &mut self.values {
            Values::Null(_) => return Err(U),
            Values::Bool(b) => b.push(bools.parse(cell).ok_or(U)?),
            Values::I8(v) => v.push(int(cell)?),
            Values::I16(v) => v.push(int(cell)?),
            Values::I32(v) => v.push(int(cell)?),
            Values::I64(v) => v.push(parse_i64(cell).ok_or(U)?),
            Values::U8(v) => v.push(uint(cell)?),
            Values::U16(v) => v.push(uint(cell)?),
            Values::U32(v) => v.push(uint(cell)?),
            Values::U64(v) => v.push(parse_u64(cell).ok_or(U)?),
            Values::F32(v) => v.push(parse_f32(cell).ok_or(U)?),
            Values::F64(v) => v.push(parse_f64(cell).ok_or(U)?),
            Values::Str32 { offsets, data } => {
                if !utf8_ok && simdutf8::basic::from_utf8(cell).is_err() {
                    return Err(CellError::InvalidUtf8);
                }
                let end = u32::try_from(data.len() + cell.len()).map_err(|_| CellError::TooLong)?;
                data.extend_from_slice(cell);
                offsets.push(end);
            }
            Values::Str64 { offsets, data } => {
                if !utf8_ok && simdutf8::basic::from_utf8(cell).is_err() {
                    return Err(CellError::InvalidUtf8);
                }
                data.extend_from_slice(cell);
                offsets.push(data.len() as u64);
            }
            Values::Date32(v) => v.push(parse_date(cell).ok_or(U)?),
            Values::Date64(v) => {
                let d = parse_date(cell).ok_or(U)?;
                v.push(i64::from(d) * 86_400_000);
            }
            Values::Time32(v, digits) => {
                let t = parse_time(cell).ok_or(U)?;
                let x = to_units(i64::from(t.secs), t.nanos, *digits).ok_or(U)?;
                v.push(i32::try_from(x).map_err(|_| U)?);
            }
            Values::Time64(v, digits) => {
                let t = parse_time(cell).ok_or(U)?;
                v.push(to_units(i64::from(t.secs), t.nanos, *digits).ok_or(U)?);
            }
            Values::Timestamp(v, digits, zoned) => {
                let t = parse_timestamp(cell).ok_or(U)?;
                // A zone-less text in a zoned column (or the reverse) is refused, as in pyarrow.
                if t.has_zone != *zoned && !(cell.len() == 10 && !*zoned) {
                    return Err(U);
                }
                v.push(to_units(t.secs, t.nanos, *digits).ok_or(U)?);
            }
            Values::Duration(v) => v.push(parse_i64(cell).ok_or(U)?),
            Values::Dec32(v, p, s) => {
                let x = parse_decimal(cell, *s).filter(|&x| fits(x, *p)).ok_or(U)?;
                v.push(i32::try_from(x).map_err(|_| U)?);
            }
            Values::Dec64(v, p, s) => {
                let x = parse_decimal(cell, *s).filter(|&x| fits(x, *p)).ok_or(U)?;
                v.push(i64::try_from(x).map_err(|_| U)?);
            }
            Values::Dec128(v, p, s) => {
                let x = parse_decimal(cell, *s).filter(|&x| fits(x, *p)).ok_or(U)?;
                v.push(x);
            }
            Values::Dict {
                keys,
                values,
                index,
                max,
            } => {
                let s = if utf8_ok {
                    std::str::from_utf8(cell).map_err(|_| CellError::InvalidUtf8)?
                } else {
                    simdutf8::basic::from_utf8(cell).map_err(|_| CellError::InvalidUtf8)?
                };
                let key = match index.get(s) {
                    Some(&k) => k,
                    None => {
                        let k = values.len() as u64;
                        if k >= *max {
                            return Err(CellError::DictionaryFull);
                        }
                        index.insert(s.into(), k);
                        values.push(s.to_string());
                        k
                    }
                };
                keys.push(key);
            }
        }
        if let Some(v) = &mut self.valid {
            v.push(true);
        }
        self.len += 1;
        Ok(())
    }

    /// Converts column `cells.column` of the queued rows. `Err` at the first
    /// cell that does not convert (the caller rolls the batch back); null
    /// tokens are honoured as in [`Self::push_null`].
    fn push_cells(
        &mut self,
        cells: &PendingCells<'_>,
        nulls: &NullTokens,
        bools: &BoolValues,
    ) -> Result<(), CellError> {
        let Column {
            field,
            values,
            len,
            valid,
            null_rule,
        } = self;
        let (rule, nullable) = (*null_rule, field.nullable);
        let fast = match values {
            Values::I64(v) => Some(fill(v, valid, len, rule, nullable, nulls, cells, parse_i64)),
            Values::F64(v) => Some(fill(v, valid, len, rule, nullable, nulls, cells, parse_f64)),
            Values::Date32(v) => Some(fill(
                v, valid, len, rule, nullable, nulls, cells, parse_date,
            )),
            Values::Timestamp(v, digits, zoned) => {
                let (digits, zoned) = (*digits, *zoned);
                Some(fill(v, valid, len, rule, nullable, nulls, cells, |cell| {
                    let t = parse_timestamp(cell)?;
                    if t.has_zone != zoned && !(cell.len() == 10 && !zoned) {
                        return None;
                    }
                    to_units(t.secs, t.nanos, digits)
                }))
            }
            Values::Bool(b) => Some((|| {
                for (r, (cell, _)) in cells.iter().enumerate() {
                    if rule.is_null(cell, nulls, || cells.is_quoted(r)) {
                        if !nullable {
                            return Err(CellError::UnexpectedNull);
                        }
                        b.push(false);
                        valid.get_or_insert_with(|| Bits::ones(*len)).push(false);
                    } else {
                        b.push(bools.parse(cell).ok_or(CellError::Unparsable)?);
                        if let Some(m) = valid {
                            m.push(true);
                        }
                    }
                    *len += 1;
                }
                Ok(())
            })()),
            Values::Str32 { offsets, data } => Some((|| {
                for (r, (cell, utf8_ok)) in cells.iter().enumerate() {
                    if rule.is_null(cell, nulls, || cells.is_quoted(r)) {
                        if !nullable {
                            return Err(CellError::UnexpectedNull);
                        }
                        let last = offsets.last().copied().unwrap_or(0);
                        offsets.push(last);
                        valid.get_or_insert_with(|| Bits::ones(*len)).push(false);
                    } else {
                        if !utf8_ok && simdutf8::basic::from_utf8(cell).is_err() {
                            return Err(CellError::InvalidUtf8);
                        }
                        let end = u32::try_from(data.len() + cell.len())
                            .map_err(|_| CellError::TooLong)?;
                        data.extend_from_slice(cell);
                        offsets.push(end);
                        if let Some(m) = valid {
                            m.push(true);
                        }
                    }
                    *len += 1;
                }
                Ok(())
            })()),
            _ => None,
        };
        if let Some(r) = fast {
            return r;
        }
        // Other types: the per-cell conversion.
        for (r, (cell, utf8_ok)) in cells.iter().enumerate() {
            if self.null_rule.is_null(cell, nulls, || cells.is_quoted(r)) {
                self.push_null()?;
            } else {
                self.push(cell, utf8_ok, bools)?;
            }
        }
        Ok(())
    }

    /// Drops values after the first `len` (rolling back a partly converted row).
    fn truncate(&mut self, len: usize) {
        match &mut self.values {
            Values::Null(n) => *n = (*n).min(len),
            Values::Bool(b) => b.truncate(len),
            Values::I8(v) => v.truncate(len),
            Values::I16(v) => v.truncate(len),
            Values::I32(v) | Values::Date32(v) | Values::Time32(v, _) | Values::Dec32(v, ..) => {
                v.truncate(len)
            }
            Values::I64(v)
            | Values::Date64(v)
            | Values::Time64(v, _)
            | Values::Timestamp(v, ..)
            | Values::Duration(v)
            | Values::Dec64(v, ..) => v.truncate(len),
            Values::U8(v) => v.truncate(len),
            Values::U16(v) => v.truncate(len),
            Values::U32(v) => v.truncate(len),
            Values::U64(v) => v.truncate(len),
            Values::F32(v) => v.truncate(len),
            Values::F64(v) => v.truncate(len),
            Values::Dec128(v, ..) => v.truncate(len),
            Values::Str32 { offsets, data } => {
                if offsets.len() > len + 1 {
                    offsets.truncate(len + 1);
                    data.truncate(offsets.last().copied().unwrap_or(0) as usize);
                }
            }
            Values::Str64 { offsets, data } => {
                if offsets.len() > len + 1 {
                    offsets.truncate(len + 1);
                    data.truncate(offsets.last().copied().unwrap_or(0) as usize);
                }
            }
            Values::Dict { keys, .. } => keys.truncate(len),
        }
        if let Some(v) = &mut self.valid {
            v.truncate(len);
        }
        self.len = self.len.min(len);
    }

    /// Moves the built values out as a column, leaving the builder empty.
    fn finish(&mut self) -> FieldArray {
        let len = self.len;
        self.len = 0;
        let (mask, nulls) = match self.valid.take() {
            Some(mut v) => {
                let nulls = len - v.count_ones();
                ((nulls > 0).then(|| v.take()), nulls)
            }
            None => (None, 0),
        };
        let num = |a: NumericArray| Array::NumericArray(a);
        let tmp = |a: TemporalArray| Array::TemporalArray(a);
        let array = match &mut self.values {
            Values::Null(n) => {
                *n = 0;
                Array::Null
            }
            Values::Bool(b) => Array::BooleanArray(Arc::new(BooleanArray::new(b.take(), mask))),
            Values::I8(v) => num(NumericArray::Int8(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::I16(v) => num(NumericArray::Int16(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::I32(v) => num(NumericArray::Int32(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::I64(v) => num(NumericArray::Int64(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::U8(v) => num(NumericArray::UInt8(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::U16(v) => num(NumericArray::UInt16(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::U32(v) => num(NumericArray::UInt32(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::U64(v) => num(NumericArray::UInt64(Arc::new(IntegerArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::F32(v) => num(NumericArray::Float32(Arc::new(FloatArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::F64(v) => num(NumericArray::Float64(Arc::new(FloatArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
            }))),
            Values::Str32 { offsets, data } => {
                let offsets = std::mem::replace(offsets, new_offsets());
                Array::TextArray(TextArray::String32(Arc::new(StringArray {
                    offsets: offsets.into(),
                    data: std::mem::take(data).into(),
                    null_mask: mask,
                })))
            }
            Values::Str64 { offsets, data } => {
                let offsets = std::mem::replace(offsets, new_offsets());
                Array::TextArray(TextArray::String64(Arc::new(StringArray {
                    offsets: offsets.into(),
                    data: std::mem::take(data).into(),
                    null_mask: mask,
                })))
            }
            Values::Date32(v) => tmp(TemporalArray::Datetime32(Arc::new(DatetimeArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
                time_unit: TimeUnit::Days,
            }))),
            Values::Date64(v) => tmp(TemporalArray::Datetime64(Arc::new(DatetimeArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
                time_unit: TimeUnit::Milliseconds,
            }))),
            Values::Time32(v, _) => tmp(TemporalArray::Datetime32(Arc::new(DatetimeArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
                time_unit: field_unit(&self.field.dtype),
            }))),
            Values::Time64(v, _) | Values::Timestamp(v, ..) | Values::Duration(v) => {
                tmp(TemporalArray::Datetime64(Arc::new(DatetimeArray {
                    data: std::mem::take(v).into(),
                    null_mask: mask,
                    time_unit: field_unit(&self.field.dtype),
                })))
            }
            Values::Dec32(v, p, s) => num(NumericArray::Decimal32(Arc::new(DecimalArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
                precision: *p,
                scale: *s,
            }))),
            Values::Dec64(v, p, s) => num(NumericArray::Decimal64(Arc::new(DecimalArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
                precision: *p,
                scale: *s,
            }))),
            Values::Dec128(v, p, s) => num(NumericArray::Decimal128(Arc::new(DecimalArray {
                data: std::mem::take(v).into(),
                null_mask: mask,
                precision: *p,
                scale: *s,
            }))),
            Values::Dict {
                keys,
                values,
                index,
                ..
            } => {
                let keys = std::mem::take(keys);
                let unique_values = std::mem::take(values);
                index.clear();
                let text = match &self.field.dtype {
                    ArrowType::Dictionary(CategoricalIndexType::UInt8) => {
                        TextArray::Categorical8(Arc::new(CategoricalArray {
                            data: keys.iter().map(|&k| k as u8).collect::<Vec64<u8>>().into(),
                            unique_values,
                            null_mask: mask,
                        }))
                    }
                    ArrowType::Dictionary(CategoricalIndexType::UInt16) => {
                        TextArray::Categorical16(Arc::new(CategoricalArray {
                            data: keys
                                .iter()
                                .map(|&k| k as u16)
                                .collect::<Vec64<u16>>()
                                .into(),
                            unique_values,
                            null_mask: mask,
                        }))
                    }
                    ArrowType::Dictionary(CategoricalIndexType::UInt32) => {
                        TextArray::Categorical32(Arc::new(CategoricalArray {
                            data: keys
                                .iter()
                                .map(|&k| k as u32)
                                .collect::<Vec64<u32>>()
                                .into(),
                            unique_values,
                            null_mask: mask,
                        }))
                    }
                    _ => TextArray::Categorical64(Arc::new(CategoricalArray {
                        data: keys.into(),
                        unique_values,
                        null_mask: mask,
                    })),
                };
                Array::TextArray(text)
            }
        };
        FieldArray {
            field: self.field.clone(),
            array,
            null_count: nulls,
        }
    }
}

/// One column of the rows queued in [`Sink::append`].
struct PendingCells<'a> {
    /// The chunk being fed (rows read in place).
    chunk: &'a [u8],
    /// Copied rows.
    bytes: &'a [u8],
    cells: &'a [(usize, usize)],
    /// Quoted fields of the rows (see [`PendingRow::quoted_start`]).
    quoted: &'a [usize],
    rows: &'a [PendingRow],
    column: usize,
    ncols: usize,
}

impl PendingCells<'_> {
    /// Each row's cell in this column, with whether its row is valid UTF-8.
    fn iter(&self) -> impl Iterator<Item = (&[u8], bool)> + '_ {
        self.cells
            .iter()
            .skip(self.column)
            .step_by(self.ncols.max(1))
            .zip(self.rows)
            .map(|(&(s, e), r)| {
                let src = if r.in_chunk { self.chunk } else { self.bytes };
                (&src[s..e], r.utf8_ok)
            })
    }

    /// Whether row `row`'s cell in this column was quoted.
    fn is_quoted(&self, row: usize) -> bool {
        self.rows.get(row).is_some_and(|r| {
            self.quoted[r.quoted_start..r.quoted_end]
                .binary_search(&self.column)
                .is_ok()
        })
    }
}

/// The column-at-a-time loop for fixed-width values: nulls (refused in a
/// non-nullable field), else `parse`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn fill<T: Default>(
    v: &mut Vec64<T>,
    valid: &mut Option<Bits>,
    len: &mut usize,
    rule: NullRule,
    nullable: bool,
    nulls: &NullTokens,
    cells: &PendingCells<'_>,
    parse: impl Fn(&[u8]) -> Option<T>,
) -> Result<(), CellError> {
    for (r, (cell, _)) in cells.iter().enumerate() {
        if rule.is_null(cell, nulls, || cells.is_quoted(r)) {
            if !nullable {
                return Err(CellError::UnexpectedNull);
            }
            v.push(T::default());
            valid.get_or_insert_with(|| Bits::ones(*len)).push(false);
        } else {
            v.push(parse(cell).ok_or(CellError::Unparsable)?);
            if let Some(m) = valid {
                m.push(true);
            }
        }
        *len += 1;
    }
    Ok(())
}

fn field_unit(t: &ArrowType) -> TimeUnit {
    match t {
        ArrowType::Time32(u)
        | ArrowType::Time64(u)
        | ArrowType::Timestamp(u, _)
        | ArrowType::Duration64(u) => *u,
        _ => TimeUnit::Milliseconds,
    }
}
