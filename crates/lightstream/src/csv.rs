//! CSV files on the native side: a blocking [`CsvReader`] over any
//! `std::io::Read` (tables as an iterator) and a [`CsvWriter`] over any
//! `std::io::Write`.
//!
//! Both are thin: the parsing, inference, conversion and quoting are the
//! core's [`lightstream_core::csv`]; this module only reads 64 KiB chunks into
//! the decoder (memory stays bounded by the decoder's limits, never by the
//! file size) and writes the encoder's bytes. Not async: CSV files are read
//! from disk or pipes, where blocking reads are the simple, fast path; wrap
//! it in `tokio::task::spawn_blocking` to use it from async code.
//!
//! CSV in, an Arrow IPC stream out (the same tables a peer would receive):
//!
//! ```
//! use lightstream::csv::{CsvReadOptions, CsvReader};
//! use lightstream::{read_ipc, write_stream, ReadOptions, WriteOptions};
//!
//! let text = "city,temp\nOslo,-3.5\nLima,19\n";
//! let reader = CsvReader::new(text.as_bytes(), CsvReadOptions::default())?;
//! let schema = reader.schema().clone();
//! let tables = reader.collect::<lightstream::Result<Vec<_>>>()?;
//! let ipc = write_stream(&schema, &tables, &WriteOptions::default())?;
//! assert_eq!(read_ipc(&ipc, ReadOptions::default())?.tables[0].n_rows, 2);
//! # Ok::<(), lightstream::Error>(())
//! ```
//!
//! Files, type inference and every difference from pyarrow:
//! [the native API guide](https://github.com/lightstream-rs/lightstream/blob/main/docs/native-api.md#csv-files-lightstreamcsv-feature-csv)
//! and [the CSV guide](https://github.com/lightstream-rs/lightstream/blob/main/docs/csv.md).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lightstream_core::Schema;
pub use lightstream_core::csv::{
    BadRowPolicy, CsvLimits, CsvReadOptions, CsvWriteOptions, DEFAULT_FALSE_VALUES,
    DEFAULT_NULL_VALUES, DEFAULT_TRUE_VALUES, StringNulls,
};
use lightstream_core::csv::{CsvDecoder, CsvEncoder};
use lightstream_core::minarrow::Table;

use crate::error::{Error, Result};

/// Bytes read from the source per call.
const CHUNK: usize = 64 * 1024;

/// Reads CSV tables from a byte source, one table of at most
/// `options.batch_size` rows at a time.
///
/// The schema is known when the reader is created (it reads ahead until the
/// decoder has inferred it). Iterating yields `Result<Table>`; after an error
/// (which comes after every table completed before the bad row) it yields `None`.
///
/// ```
/// use lightstream::csv::{CsvReadOptions, CsvReader};
///
/// let text = "id,ok\n1,true\n2,false\n3,maybe\n";
/// let options = CsvReadOptions { batch_size: 1, infer_rows: 1, ..Default::default() };
/// let mut reader = CsvReader::new(text.as_bytes(), options)?;
/// assert_eq!(reader.schema().fields[1].name, "ok");
/// assert_eq!(reader.next().transpose()?.map(|t| t.n_rows), Some(1));
/// assert_eq!(reader.next().transpose()?.map(|t| t.n_rows), Some(1));
/// // `maybe` is not a boolean: the error names the line and column, then the reader ends.
/// let err = reader.next().expect("an error").unwrap_err();
/// assert!(err.to_string().contains("line 4, column 2"), "{err}");
/// assert!(reader.next().is_none());
/// # Ok::<(), lightstream::Error>(())
/// ```
pub struct CsvReader<R: Read> {
    source: R,
    decoder: CsvDecoder,
    schema: Arc<Schema>,
    path: Option<PathBuf>,
    buf: Vec<u8>,
    eof: bool,
    pending_error: Option<Error>,
    done: bool,
}

impl<R: Read> std::fmt::Debug for CsvReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvReader")
            .field("path", &self.path)
            .field("schema", &self.schema)
            .field("skipped_rows", &self.decoder.skipped_rows())
            .finish_non_exhaustive()
    }
}

impl CsvReader<File> {
    /// Opens the file at `path`. Errors (I/O and CSV alike) name the file.
    pub fn open(path: impl AsRef<Path>, options: CsvReadOptions) -> Result<Self> {
        let path = path.as_ref();
        let file =
            File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Self::build(file, options, Some(path.to_path_buf()))
    }
}

impl<R: Read> CsvReader<R> {
    /// Reads from `source` (wrap it in nothing: the reader does its own 64 KiB buffering).
    pub fn new(source: R, options: CsvReadOptions) -> Result<Self> {
        Self::build(source, options, None)
    }

    fn build(source: R, options: CsvReadOptions, path: Option<PathBuf>) -> Result<Self> {
        let decoder = CsvDecoder::new(options).map_err(|e| name_file(e, path.as_deref()))?;
        let mut reader = CsvReader {
            source,
            decoder,
            schema: Arc::new(Schema::new(Vec::new(), Default::default())),
            path,
            buf: vec![0; CHUNK],
            eof: false,
            pending_error: None,
            done: false,
        };
        // Read until the schema is known (given, inferred, or the input ended).
        while reader.decoder.schema().is_none() && !reader.eof {
            if let Err(e) = reader.fill() {
                if reader.decoder.schema().is_none() {
                    return Err(e);
                }
                reader.pending_error = Some(e);
            }
        }
        if let Some(s) = reader.decoder.schema() {
            reader.schema = s.clone();
        }
        Ok(reader)
    }

    /// The columns of every table.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Rows dropped so far under [`BadRowPolicy::Skip`].
    pub fn skipped_rows(&self) -> u64 {
        self.decoder.skipped_rows()
    }

    /// Cells turned into nulls so far under [`BadRowPolicy::Null`].
    pub fn nulled_cells(&self) -> u64 {
        self.decoder.nulled_cells()
    }

    /// Reads one chunk into the decoder (or finishes it at the end of the input).
    fn fill(&mut self) -> Result<()> {
        let n = loop {
            match self.source.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.eof = true;
                    let what = match &self.path {
                        Some(p) => format!("reading {}", p.display()),
                        None => "reading CSV input".to_string(),
                    };
                    return Err(Error::io(what, e));
                }
            }
        };
        let r = if n == 0 {
            self.eof = true;
            self.decoder.finish()
        } else {
            self.decoder.push(&self.buf[..n])
        };
        r.map_err(|e| {
            self.eof = true;
            name_file(e, self.path.as_deref())
        })
    }
}

impl<R: Read> Iterator for CsvReader<R> {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Result<Table>> {
        loop {
            if self.done {
                return None;
            }
            // Tables the decoder completed come first, even those before an error.
            match self.decoder.next_table() {
                Ok(Some(t)) => return Some(Ok(t)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(name_file(e, self.path.as_deref())));
                }
            }
            if let Some(e) = self.pending_error.take() {
                self.done = true;
                return Some(Err(e));
            }
            if self.eof {
                self.done = true;
                return None;
            }
            if let Err(e) = self.fill() {
                self.pending_error = Some(e);
            }
        }
    }
}

/// Prefixes a codec error's message with the file it came from, keeping its
/// kind and location.
fn name_file(e: lightstream_core::Error, path: Option<&Path>) -> Error {
    let Some(path) = path else {
        return Error::Codec(e);
    };
    let mut named =
        lightstream_core::Error::new(e.kind(), format!("{}: {}", path.display(), e.message()));
    let loc = e.location();
    if let Some(field) = &loc.field {
        named = named.in_field(field, loc.arrow_type.as_deref().unwrap_or("unknown"));
    }
    if let Some(m) = loc.message_index {
        named = named.at_message(m);
    }
    if let Some(o) = loc.byte_offset {
        named = named.at_offset(o);
    }
    if let Some(l) = loc.line {
        named = named.at_line(l);
    }
    if let Some(c) = loc.column {
        named = named.at_column(c);
    }
    Error::Codec(named)
}

/// Writes tables as CSV to a byte sink: the header once, then each table's rows.
///
/// ```
/// use lightstream::csv::{CsvWriteOptions, CsvWriter};
/// use lightstream::minarrow::{fa_f64, fa_str32, tbl};
/// use lightstream::Schema;
///
/// let table = tbl!("t", fa_str32!("city", "Oslo", "Lima"), fa_f64!("temp", -3.5, 19.0));
/// let options = CsvWriteOptions { delimiter: b'\t', ..Default::default() };
/// let mut writer = CsvWriter::new(Vec::new(), &Schema::from_table(&table), options)?;
/// writer.write(&table)?;
/// let bytes = writer.finish()?;
/// assert_eq!(String::from_utf8(bytes).unwrap(), "city\ttemp\nOslo\t-3.5\nLima\t19.0\n");
/// # Ok::<(), lightstream::Error>(())
/// ```
pub struct CsvWriter<W: Write> {
    sink: W,
    encoder: CsvEncoder,
    buf: Vec<u8>,
    path: Option<PathBuf>,
}

impl<W: Write> std::fmt::Debug for CsvWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl CsvWriter<std::io::BufWriter<File>> {
    /// Creates (or truncates) the file at `path`.
    pub fn create(
        path: impl AsRef<Path>,
        schema: &Schema,
        options: CsvWriteOptions,
    ) -> Result<Self> {
        let path = path.as_ref();
        let file =
            File::create(path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        let mut w = Self::new(std::io::BufWriter::new(file), schema, options)?;
        w.path = Some(path.to_path_buf());
        Ok(w)
    }
}

impl<W: Write> CsvWriter<W> {
    /// A writer of tables of `schema` into `sink`.
    pub fn new(sink: W, schema: &Schema, options: CsvWriteOptions) -> Result<Self> {
        Ok(CsvWriter {
            sink,
            encoder: CsvEncoder::new(schema, options)?,
            buf: Vec::with_capacity(CHUNK),
            path: None,
        })
    }

    /// Writes one table's rows (and the header before the first).
    pub fn write(&mut self, table: &Table) -> Result<()> {
        self.buf.clear();
        self.encoder.encode_table(table, &mut self.buf)?;
        self.flush_buf()
    }

    /// Writes the header if no table was written, flushes, and returns the sink.
    pub fn finish(mut self) -> Result<W> {
        self.buf.clear();
        self.encoder.finish(&mut self.buf)?;
        self.flush_buf()?;
        let what = self.context();
        self.sink.flush().map_err(|e| Error::io(what, e))?;
        Ok(self.sink)
    }

    fn context(&self) -> String {
        match &self.path {
            Some(p) => format!("writing {}", p.display()),
            None => "writing CSV output".to_string(),
        }
    }

    fn flush_buf(&mut self) -> Result<()> {
        if let Err(e) = self.sink.write_all(&self.buf) {
            return Err(Error::io(self.context(), e));
        }
        Ok(())
    }
}

/// Reads a whole CSV file into memory-light tables: the schema and every table.
pub fn read_csv_file(
    path: impl AsRef<Path>,
    options: CsvReadOptions,
) -> Result<(Arc<Schema>, Vec<Table>)> {
    let reader = CsvReader::open(path, options)?;
    let schema = reader.schema().clone();
    let tables = reader.collect::<Result<Vec<_>>>()?;
    Ok((schema, tables))
}
