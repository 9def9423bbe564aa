//! Bytes -> records, within the row and column limits. Records without
//! quotes are split here, straight from the pushed bytes (8 bytes at a
//! time); a record with simple quotes is unquoted here too; anything else (a
//! doubled quote, a record cut by the end of a pushed chunk, the first
//! record) goes through the `csv-core` state machine, which unquotes it into
//! a buffer. Every path notes which fields were quoted, since under
//! [`StringNulls::Unquoted`](super::StringNulls::Unquoted) that tells a null from an empty string, and
//! hands each [`Record`] to the [`TableAssembler`]. Not the conversion of
//! records to tables (`rows.rs`).

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use super::CsvReadOptions;
use super::rows::{Record, TableAssembler, shorten};
use crate::error::{Error, ErrorKind, Result};

/// Splits the input into records, within the row and column limits: records
/// without quotes in place, the others with csv-core.
pub(super) struct Tokenizer {
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
        let mut special = [false; 256];
        for b in [options.delimiter, options.quote, b'\r', b'\n'] {
            special[usize::from(b)] = true;
        }
        Tokenizer {
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
        }
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
                // A spent decoder never converts them.
                assembler.drop_pending();
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
                    pos = self.fast_records(input, pos, assembler)?;
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

    /// Splits the records from `pos` on that hold no quote byte, in place,
    /// and hands them to `assembler`. Returns where it stopped: the end of the
    /// input, or the start of a record for csv-core (one with a quote, one
    /// the input cuts off, or one over the row or column limits, which
    /// csv-core then reports exactly as it always does).
    ///
    /// Reads 8 bytes at a time: a word's candidate bytes (delimiter, quote
    /// and anything below 14, which holds CR and LF) come out as a bit mask
    /// whose set bits are visited in order and checked against the byte
    /// table (the mask can flag a few extra bytes, never miss one).
    fn fast_records(
        &mut self,
        input: &[u8],
        pos: usize,
        assembler: &mut TableAssembler,
    ) -> Result<usize> {
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
                    assembler.record(&rec, input)?;
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
                    self.line_break(b, input, assembler)?;
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
                assembler.record(&rec, input)?;
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
