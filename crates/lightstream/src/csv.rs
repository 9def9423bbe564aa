//! CSV files on the native side: a blocking [`CsvReader`] over any
//! `std::io::Read` (tables as an iterator) and a [`CsvWriter`] over any
//! `std::io::Write`.
//!
//! Both are thin: the parsing, inference, conversion and quoting are the
//! core's [`lightstream_core::csv`]; this module only hands bytes to the
//! decoder (a file memory-mapped, a pipe 1 MiB at a time into one buffer:
//! memory stays bounded by the decoder's limits, never by the file size),
//! optionally parses pieces of a file on worker threads ([`CsvFileOptions`]),
//! and writes the encoder's bytes. Not async: CSV files are read
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

#[cfg(feature = "mmap")]
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lightstream_core::Schema;
#[cfg(feature = "mmap")]
use lightstream_core::csv::FrozenSchema;
pub use lightstream_core::csv::{
    BadRowPolicy, CsvLimits, CsvReadOptions, CsvWriteOptions, DEFAULT_FALSE_VALUES,
    DEFAULT_NULL_VALUES, DEFAULT_TRUE_VALUES, StringNulls,
};
use lightstream_core::csv::{CsvDecoder, CsvEncoder};
use lightstream_core::minarrow::Table;

use crate::error::{Error, Result};
#[cfg(feature = "mmap")]
use crate::workers::Workers;

/// The writer's starting buffer.
const WRITE_CHUNK: usize = 64 * 1024;

/// Bytes read from a pipe per call (into one reused buffer), and the
/// default piece of a mapped file.
const CHUNK: usize = 1 << 20;

/// Bytes of a mapped file handed to a decoder per push: the decoder's queue
/// of rows waiting for conversion is bounded by a push, and 64 KiB keeps it
/// small (a 1 MiB push held 0.4 MiB more at its peak) at no measurable cost.
#[cfg(feature = "mmap")]
const PUSH: usize = 64 * 1024;

/// How [`CsvReader::open_with`] and [`CsvReader::from_file`] read a file,
/// beyond the CSV options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvFileOptions {
    /// Threads that parse pieces of a memory-mapped file at once (default
    /// 1: the calling thread parses). With more, the header and the type
    /// inference still run first on the calling thread; then pieces of about
    /// `piece_bytes`, cut at record boundaries by a quote-aware scan, are
    /// parsed by `threads` workers and their tables come back in file order.
    /// Values, row order, errors and the bad-row counters are those of one
    /// thread; the tables are cut at piece ends too, so there are more,
    /// shorter ones. A quote outside RFC 4180 (`a"b`, `"a"b`), which breaks
    /// the scan, sends the rest of the file, from the piece where it was
    /// met, to one thread. Pipes and non-regular files are read by one thread.
    pub threads: usize,
    /// Bytes per piece (default 1 MiB). A record longer than that makes its
    /// piece longer.
    pub piece_bytes: usize,
}

impl Default for CsvFileOptions {
    fn default() -> Self {
        CsvFileOptions {
            threads: 1,
            piece_bytes: CHUNK,
        }
    }
}

/// Reads CSV tables from a byte source, one table of at most
/// `options.batch_size` rows at a time.
///
/// The schema is known when the reader is created (it reads ahead until the
/// decoder has inferred it). Iterating yields `Result<Table>`; after an error
/// (which comes after the tables of every row before the bad one) it yields `None`.
///
/// A file ([`CsvReader::open`], [`CsvReader::from_file`]) is memory-mapped
/// (feature `mmap`, on by default), so it is parsed in place and, with
/// [`CsvFileOptions::threads`], on several threads; it must then not be
/// modified while it is read (as for [`crate::mmap`]).
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
    source: Source<R>,
    #[cfg(feature = "mmap")]
    options: CsvReadOptions,
    /// The decoder of the part read on this thread (all of it with one thread).
    decoder: CsvDecoder,
    /// Pieces parsed on worker threads, after the first decoder's part.
    #[cfg(feature = "mmap")]
    parallel: Option<Parallel>,
    /// Threads for a mapped file; 1 once the reader stays on this thread.
    #[cfg(feature = "mmap")]
    threads: usize,
    #[cfg(feature = "mmap")]
    piece_bytes: usize,
    /// Bad-row counters of decoders and pieces already done.
    skipped: u64,
    nulled: u64,
    schema: Arc<Schema>,
    path: Option<PathBuf>,
    buf: Vec<u8>,
    eof: bool,
    pending_error: Option<Error>,
    done: bool,
}

/// Where the bytes come from.
enum Source<R> {
    Read(R),
    /// A file that cannot be mapped (not a regular file, or no `mmap` feature).
    File(File),
    /// A mapped file: the bytes, where the next piece starts and its line.
    #[cfg(feature = "mmap")]
    Mapped {
        bytes: Bytes,
        pos: usize,
        line: u64,
    },
}

#[cfg(feature = "mmap")]
type Bytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

impl<R: Read> std::fmt::Debug for CsvReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvReader")
            .field("path", &self.path)
            .field("schema", &self.schema)
            .field("skipped_rows", &self.skipped_rows())
            .finish_non_exhaustive()
    }
}

impl CsvReader<File> {
    /// Opens the file at `path` (memory-mapped, one thread). Errors (I/O
    /// and CSV alike) name the file.
    pub fn open(path: impl AsRef<Path>, options: CsvReadOptions) -> Result<Self> {
        Self::open_with(path, options, CsvFileOptions::default())
    }

    /// [`CsvReader::open`] with threads (see [`CsvFileOptions`]).
    pub fn open_with(
        path: impl AsRef<Path>,
        options: CsvReadOptions,
        file: CsvFileOptions,
    ) -> Result<Self> {
        let path = path.as_ref();
        let f =
            File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Self::file_source(f, options, file, Some(path.to_path_buf()))
    }
}

impl<R: Read> CsvReader<R> {
    /// Reads from `source` (wrap it in nothing: the reader does its own
    /// buffering, 1 MiB at a time, on the calling thread).
    pub fn new(source: R, options: CsvReadOptions) -> Result<Self> {
        Self::build(
            Source::Read(source),
            options,
            CsvFileOptions::default(),
            None,
        )
    }

    /// Reads an open file: memory-mapped when it is a regular file (and the
    /// `mmap` feature is on), with [`CsvFileOptions::threads`]; otherwise
    /// read like [`CsvReader::new`]. Errors do not name the file (the caller
    /// knows it). The type parameter is not used: pick any reader type, for
    /// instance the one of the [`CsvReader::new`] readers it sits beside.
    pub fn from_file(
        file: File,
        options: CsvReadOptions,
        file_options: CsvFileOptions,
    ) -> Result<Self> {
        Self::file_source(file, options, file_options, None)
    }

    fn file_source(
        file: File,
        options: CsvReadOptions,
        file_options: CsvFileOptions,
        path: Option<PathBuf>,
    ) -> Result<Self> {
        #[cfg(feature = "mmap")]
        {
            let what = || match &path {
                Some(p) => format!("memory-mapping {}", p.display()),
                None => "memory-mapping the CSV file".to_string(),
            };
            let meta = file.metadata().map_err(|e| Error::io(what(), e))?;
            if meta.is_file() {
                let bytes: Bytes =
                    match crate::mmap::map_opened(&file).map_err(|e| Error::io(what(), e))? {
                        Some(map) => Arc::new(MapBytes(map)),
                        None => Arc::new(Vec::new()),
                    };
                let source = Source::Mapped {
                    bytes,
                    pos: 0,
                    line: 1,
                };
                return Self::build(source, options, file_options, path);
            }
        }
        Self::build(Source::File(file), options, file_options, path)
    }

    fn build(
        source: Source<R>,
        options: CsvReadOptions,
        file: CsvFileOptions,
        path: Option<PathBuf>,
    ) -> Result<Self> {
        #[cfg(not(feature = "mmap"))]
        let _ = (file, &options);
        let decoder =
            CsvDecoder::new(options.clone()).map_err(|e| name_file(e, path.as_deref()))?;
        let buf = match source {
            Source::Read(_) | Source::File(_) => vec![0; CHUNK],
            #[cfg(feature = "mmap")]
            Source::Mapped { .. } => Vec::new(),
        };
        let mut reader = CsvReader {
            source,
            #[cfg(feature = "mmap")]
            options,
            decoder,
            #[cfg(feature = "mmap")]
            parallel: None,
            #[cfg(feature = "mmap")]
            threads: file.threads.max(1),
            #[cfg(feature = "mmap")]
            piece_bytes: file.piece_bytes.max(1),
            skipped: 0,
            nulled: 0,
            schema: Arc::new(Schema::new(Vec::new(), Default::default())),
            path,
            buf,
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
        #[cfg(feature = "mmap")]
        reader.start_parallel();
        Ok(reader)
    }

    /// The columns of every table.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Rows dropped so far under [`BadRowPolicy::Skip`].
    pub fn skipped_rows(&self) -> u64 {
        #[cfg(feature = "mmap")]
        let parallel = self.parallel.as_ref().map_or(0, |p| p.skipped);
        #[cfg(not(feature = "mmap"))]
        let parallel = 0;
        self.skipped + self.decoder.skipped_rows() + parallel
    }

    /// Cells turned into nulls so far under [`BadRowPolicy::Null`].
    pub fn nulled_cells(&self) -> u64 {
        #[cfg(feature = "mmap")]
        let parallel = self.parallel.as_ref().map_or(0, |p| p.nulled);
        #[cfg(not(feature = "mmap"))]
        let parallel = 0;
        self.nulled + self.decoder.nulled_cells() + parallel
    }

    /// For a mapped file: the bytes handed to the parser so far (pieces
    /// still being parsed included) and the file's size.
    pub fn progress(&self) -> Option<(u64, u64)> {
        #[cfg(feature = "mmap")]
        if let Source::Mapped { bytes, pos, .. } = &self.source {
            let at = self.parallel.as_ref().map_or(*pos, |p| p.next);
            return Some((at as u64, (**bytes).as_ref().len() as u64));
        }
        None
    }

    /// Hands the next bytes to the decoder (or finishes it at the end of the input).
    fn fill(&mut self) -> Result<()> {
        let r = match &mut self.source {
            Source::Read(r) => read_chunk(r, &mut self.buf),
            Source::File(f) => read_chunk(f, &mut self.buf),
            #[cfg(feature = "mmap")]
            Source::Mapped { bytes, pos, line } => {
                let all = (**bytes).as_ref();
                if *pos == all.len() {
                    self.eof = true;
                    let r = self.decoder.finish();
                    return r.map_err(|e| name_file(e, self.path.as_deref()));
                }
                let rest = &all[*pos..];
                // While the reader may still go parallel, whole records,
                // so that the next part can start where this one ends.
                let cut = (self.threads > 1)
                    .then(|| {
                        lightstream_core::csv::cut_piece(
                            rest,
                            self.options.quote,
                            self.piece_bytes,
                            max_piece(&self.options, self.piece_bytes),
                        )
                    })
                    .flatten();
                let (len, lfs) = match cut {
                    Some(cut) => cut,
                    None => {
                        // One thread from here on.
                        self.threads = 1;
                        (rest.len().min(CHUNK), 0)
                    }
                };
                let r = push_all(&mut self.decoder, &rest[..len]);
                *pos += len;
                *line += lfs;
                if r.is_err() {
                    self.eof = true;
                }
                return r.map_err(|e| name_file(e, self.path.as_deref()));
            }
        };
        let n = match r {
            Ok(n) => n,
            Err(e) => {
                self.eof = true;
                let what = match &self.path {
                    Some(p) => format!("reading {}", p.display()),
                    None => "reading CSV input".to_string(),
                };
                return Err(Error::io(what, e));
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

    /// Hands the rest of a mapped file to worker threads, when more than one
    /// is allowed and the decoder on this thread has frozen its schema at a
    /// record boundary after the start (where the BOM is stripped) and met
    /// no quote that breaks the boundary scan.
    #[cfg(feature = "mmap")]
    fn start_parallel(&mut self) {
        if self.threads < 2 {
            return;
        }
        if matches!(self.source, Source::Mapped { pos: 0, .. }) && !self.eof {
            // A schema given without a header: the first piece still goes
            // through this decoder, which strips a BOM.
            if let Err(e) = self.fill() {
                self.pending_error = Some(e);
                return;
            }
        }
        let Source::Mapped { bytes, pos, line } = &self.source else {
            return;
        };
        let len = (**bytes).as_ref().len();
        if self.threads < 2
            || self.eof
            || *pos == 0
            || *pos == len
            || self.decoder.met_stray_quote()
        {
            return;
        }
        let Some(frozen) = self.decoder.frozen_schema() else {
            return;
        };
        // The first part ends at a record boundary: its last table comes now.
        if let Err(e) = self.decoder.finish() {
            self.pending_error = Some(name_file(e, self.path.as_deref()));
            return;
        }
        match Parallel::new(
            bytes.clone(),
            *pos,
            *line,
            &self.options,
            frozen,
            self.threads,
            self.piece_bytes,
        ) {
            Ok(p) => self.parallel = Some(p),
            Err(e) => {
                self.pending_error = Some(Error::io("starting the CSV worker threads", e));
                self.eof = true;
            }
        }
    }

    /// From the piece that starts at `pos` on `line` on, one decoder on this thread.
    #[cfg(feature = "mmap")]
    fn continue_serially(&mut self, at: usize, at_line: u64, frozen: &FrozenSchema) -> Result<()> {
        self.skipped = self.skipped_rows();
        self.nulled = self.nulled_cells();
        self.parallel = None;
        self.threads = 1;
        self.decoder = CsvDecoder::for_chunk(self.options.clone(), frozen, at_line)
            .map_err(|e| name_file(e, self.path.as_deref()))?;
        if let Source::Mapped { pos, line, .. } = &mut self.source {
            (*pos, *line) = (at, at_line);
        }
        Ok(())
    }
}

/// One read into `buf`, retried when interrupted.
fn read_chunk(source: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match source.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
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
            #[cfg(feature = "mmap")]
            if let Some(p) = &mut self.parallel {
                match p.next_step() {
                    Step::Table(t) => return Some(Ok(t)),
                    Step::Error(e) => {
                        self.done = true;
                        return Some(Err(name_file(e, self.path.as_deref())));
                    }
                    Step::Panicked(message) => {
                        self.done = true;
                        return Some(Err(Error::Config(format!(
                            "a CSV worker thread panicked: {message}"
                        ))));
                    }
                    Step::End => {
                        self.done = true;
                        return None;
                    }
                    Step::Serial { pos, line } => {
                        let frozen = p.frozen.clone();
                        if let Err(e) = self.continue_serially(pos, line, &frozen) {
                            self.done = true;
                            return Some(Err(e));
                        }
                        continue;
                    }
                }
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

/// The mapping, as the bytes the workers share.
#[cfg(feature = "mmap")]
struct MapBytes(Arc<memmap2::Mmap>);

#[cfg(feature = "mmap")]
impl AsRef<[u8]> for MapBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The longest piece before the reader gives up cutting (no record boundary
/// by quote parity that far: a quote outside RFC 4180 most likely) and
/// reads the rest on one thread: room for the longest record the limits
/// allow (a byte can be a doubled quote, and fields add delimiters).
#[cfg(feature = "mmap")]
fn max_piece(options: &CsvReadOptions, piece_bytes: usize) -> usize {
    let limits = &options.limits;
    piece_bytes
        .saturating_add(limits.max_row_bytes.saturating_mul(2))
        .saturating_add(limits.max_columns.saturating_mul(3))
}

/// Pieces of a mapped file parsed on worker threads, taken in file order.
#[cfg(feature = "mmap")]
struct Parallel {
    bytes: Bytes,
    options: Arc<CsvReadOptions>,
    frozen: FrozenSchema,
    workers: Workers<Piece>,
    /// Where the next piece starts, and its line.
    next: usize,
    next_line: u64,
    piece_bytes: usize,
    max_piece: usize,
    /// No record boundary came within `max_piece` from here: the rest goes
    /// to one thread once the pieces before are taken.
    serial_from: Option<(usize, u64)>,
    /// The tables and then the error of the piece being taken.
    tables: VecDeque<Table>,
    error: Option<lightstream_core::Error>,
    /// Counters of the pieces taken.
    skipped: u64,
    nulled: u64,
}

/// What a worker made of one piece, and where the piece starts in the file
/// (offset and line: where one thread reads on after a stray quote).
#[cfg(feature = "mmap")]
struct Piece {
    start: usize,
    line: u64,
    tables: Vec<Table>,
    error: Option<lightstream_core::Error>,
    skipped: u64,
    nulled: u64,
    stray_quote: bool,
}

#[cfg(feature = "mmap")]
enum Step {
    Table(Table),
    Error(lightstream_core::Error),
    Panicked(String),
    /// Read on from this piece on one thread.
    Serial {
        pos: usize,
        line: u64,
    },
    End,
}

#[cfg(feature = "mmap")]
impl Parallel {
    fn new(
        bytes: Bytes,
        pos: usize,
        line: u64,
        options: &CsvReadOptions,
        frozen: FrozenSchema,
        threads: usize,
        piece_bytes: usize,
    ) -> std::io::Result<Self> {
        Ok(Parallel {
            bytes,
            options: Arc::new(options.clone()),
            frozen,
            workers: Workers::new(threads, threads + 1, "lightstream-csv")?,
            next: pos,
            next_line: line,
            piece_bytes,
            max_piece: max_piece(options, piece_bytes),
            serial_from: None,
            tables: VecDeque::new(),
            error: None,
            skipped: 0,
            nulled: 0,
        })
    }

    /// Cuts pieces and queues them while the window has room.
    fn submit(&mut self) {
        let all = (*self.bytes).as_ref();
        while self.serial_from.is_none() && self.next < all.len() && self.workers.has_room() {
            let rest = &all[self.next..];
            let Some((len, lfs)) = lightstream_core::csv::cut_piece(
                rest,
                self.options.quote,
                self.piece_bytes,
                self.max_piece,
            ) else {
                self.serial_from = Some((self.next, self.next_line));
                break;
            };
            let (bytes, options, frozen) = (
                self.bytes.clone(),
                self.options.clone(),
                self.frozen.clone(),
            );
            let (start, line) = (self.next, self.next_line);
            let job = move || decode_piece(&bytes, start, len, &options, &frozen, line);
            if self.workers.submit(job).is_err() {
                break;
            }
            self.next += len;
            self.next_line += lfs;
        }
    }

    fn next_step(&mut self) -> Step {
        loop {
            if let Some(t) = self.tables.pop_front() {
                return Step::Table(t);
            }
            if let Some(e) = self.error.take() {
                return Step::Error(e);
            }
            self.submit();
            let piece = match self.workers.next() {
                Some(Ok(piece)) => piece,
                Some(Err(panicked)) => return Step::Panicked(panicked.0),
                None => {
                    return match self.serial_from.take() {
                        Some((pos, line)) => Step::Serial { pos, line },
                        None => Step::End,
                    };
                }
            };
            if piece.stray_quote {
                // This piece, and those after it, may be cut off a record
                // boundary: their results are dropped.
                let (pos, line) = (piece.start, piece.line);
                return Step::Serial { pos, line };
            }
            self.skipped += piece.skipped;
            self.nulled += piece.nulled;
            self.tables = piece.tables.into();
            self.error = piece.error;
        }
    }
}

/// Pushes `bytes` into `decoder` [`PUSH`] bytes at a time.
#[cfg(feature = "mmap")]
fn push_all(decoder: &mut CsvDecoder, bytes: &[u8]) -> lightstream_core::Result<()> {
    bytes.chunks(PUSH).try_for_each(|part| decoder.push(part))
}

/// Parses the piece of `len` bytes at `start` (on `line`) on a worker thread.
#[cfg(feature = "mmap")]
fn decode_piece(
    bytes: &Bytes,
    start: usize,
    len: usize,
    options: &CsvReadOptions,
    frozen: &FrozenSchema,
    line: u64,
) -> Piece {
    let mut decoder = match CsvDecoder::for_chunk(options.clone(), frozen, line) {
        Ok(d) => d,
        Err(e) => {
            return Piece {
                start,
                line,
                tables: Vec::new(),
                error: Some(e),
                skipped: 0,
                nulled: 0,
                stray_quote: false,
            };
        }
    };
    let piece = &(**bytes).as_ref()[start..start + len];
    let r = push_all(&mut decoder, piece).and_then(|()| decoder.finish());
    let mut tables = Vec::new();
    while let Ok(Some(t)) = decoder.next_table() {
        tables.push(t);
    }
    Piece {
        start,
        line,
        tables,
        error: r.err(),
        skipped: decoder.skipped_rows(),
        nulled: decoder.nulled_cells(),
        stray_quote: decoder.met_stray_quote(),
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
            buf: Vec::with_capacity(WRITE_CHUNK),
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
