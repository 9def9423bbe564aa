//! Reading input (a path or stdin) into tables, one at a time: Arrow IPC files
//! and streams, CSV and Parquet.
//!
//! What it is for: the I/O half of every command that reads. The format is the
//! one asked for (`--from`), else the path's extension (`.csv`, `.tsv`,
//! `.parquet`, `.pq`), else the bytes (`PAR1` is Parquet, `ARROW1` an IPC file,
//! anything else an IPC stream). Memory stays bounded by one batch (one row
//! group for Parquet) whatever the size of the input:
//! - an IPC file on disk is memory-mapped (`lightstream::mmap`) and its batches
//!   borrow the map; an IPC file on stdin is read whole into 64-byte aligned
//!   memory (a pipe cannot be mapped, and the file format needs its footer);
//! - a stream is read through the core's `IpcStreamDriver` (message bodies
//!   straight into 64-byte aligned memory, prefixes and metadata through a
//!   64 KiB scratch buffer), so a reader can also stop after the first tables;
//!   for a copy that touches no value ([`InputReader::open_for_copy`]) it is
//!   read as whole messages instead (the core's `IpcMessageDriver`, the same
//!   loop), of any Arrow type;
//! - CSV is pushed through the core's CSV decoder in 64 KiB chunks
//!   (`lightstream::csv`);
//! - Parquet is memory-mapped and read row group by row group
//!   (`lightstream::parquet`, `ParquetReader::open_mapped`: compressed pages
//!   are decompressed straight from the map); it needs a file, since its
//!   footer comes last.
//!
//! It also chooses columns ([`Columns`]): every column (a type the codec cannot
//! represent refuses the input up front, naming the column), only the supported
//! ones (the others left out, their `FieldInfo` kept for display and notes), or
//! the ones named (`--columns`). IPC and Parquet readers decode only the chosen
//! columns; CSV, which has to parse every field anyway, selects them after.
//!
//! What it is not: a decoder. Every byte is interpreted by `lightstream-core` or
//! the `lightstream` crate.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lightstream::csv::{BadRowPolicy, CsvFileOptions, CsvReadOptions, CsvReader, StringNulls};
use lightstream::parquet::{ParquetReadOptions, ParquetReader};
use std::task::{Context, Poll};

use lightstream_core::bytes::Bytes;
use lightstream_core::framing::FrameDecoder;
use lightstream_core::minarrow::{SharedBuffer, Table, Vec64};
use lightstream_core::{
    ByteInput, DecodeLimits, DriveError, FieldInfo, FrameDriver, IpcFileReader, IpcMessage,
    IpcMessageDriver, IpcStreamDriver, MessageKind, Pending, Projection, ReadOptions, ReadTarget,
    Schema, StreamItem, is_ipc_file,
};

use crate::error::{CliError, CliResult, CoreContext, IoContext};

/// Bytes asked of the source per read.
const CHUNK: usize = 64 * 1024;

/// The length of the `ARROW1` magic that marks an IPC file.
const MAGIC_LEN: usize = 6;

/// The magic at both ends of a Parquet file.
const PARQUET_MAGIC: &[u8] = b"PAR1";

/// The command's input argument: `-` is stdin, anything else a path.
#[derive(Debug, Clone)]
pub enum Input {
    Stdin,
    Path(PathBuf),
}

impl Input {
    pub fn from_arg(arg: &Path) -> Self {
        if arg.as_os_str() == "-" {
            Input::Stdin
        } else {
            Input::Path(arg.to_path_buf())
        }
    }

    /// How error messages name this source.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::Path(p) => p.display().to_string(),
        }
    }

    /// Opens the source; also returns the file's size when it is known.
    fn open(&self) -> CliResult<(Box<dyn Read>, Option<u64>)> {
        match self {
            Input::Stdin => Ok((Box::new(io::stdin().lock()), None)),
            Input::Path(path) => {
                let (file, size) = self.open_file(path)?;
                Ok((Box::new(file), size))
            }
        }
    }

    /// Opens the file at `path` (not a directory); also returns its size
    /// when it is a regular file.
    fn open_file(&self, path: &Path) -> CliResult<(File, Option<u64>)> {
        let file = File::open(path).context(format_args!("cannot open {}", self.name()))?;
        let meta = file
            .metadata()
            .context(format_args!("cannot open {}", self.name()))?;
        if meta.is_dir() {
            return Err(CliError::msg(format!("{} is a directory", self.name())));
        }
        let size = meta.is_file().then_some(meta.len());
        Ok((file, size))
    }
}

/// The format of the file at `path` as [`InputReader::open`] would read it
/// (its extension for CSV and Parquet, else its first bytes: Parquet, IPC
/// file, else IPC stream), without reading past them.
pub fn file_format(path: &Path) -> CliResult<Format> {
    if let Some(f @ (Format::Csv | Format::Parquet)) = Format::from_extension(path) {
        return Ok(f);
    }
    let source = Input::Path(path.to_path_buf());
    let (mut reader, _) = source.open()?;
    let mut head = vec![0u8; MAGIC_LEN];
    let filled = read_at_least(&mut reader, &mut head, MAGIC_LEN)
        .context(format_args!("reading {}", source.name()))?;
    head.truncate(filled);
    Ok(if head.starts_with(PARQUET_MAGIC) {
        Format::Parquet
    } else if is_ipc_file(&head) {
        Format::File
    } else {
        Format::Stream
    })
}

/// The formats the CLI reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Arrow IPC random-access file: `ARROW1`, messages, footer, `ARROW1`.
    File,
    /// Arrow IPC stream: a sequence of messages, read front to back.
    Stream,
    /// Comma- (or otherwise) separated values, RFC 4180.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    pub fn describe(self) -> &'static str {
        match self {
            Format::File => "Arrow IPC file",
            Format::Stream => "Arrow IPC stream",
            Format::Csv => "CSV",
            Format::Parquet => "Parquet file",
        }
    }

    /// The format a file name's extension names, if any: `.arrow` and
    /// `.feather` (the same format) are IPC files, `.arrows` a stream, `.csv`
    /// and `.tsv` CSV, `.parquet` and `.pq` Parquet.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "arrow" | "feather" => Some(Format::File),
            "arrows" => Some(Format::Stream),
            "csv" | "tsv" => Some(Format::Csv),
            "parquet" | "pq" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// The delimiter a CSV path implies: a tab for `.tsv`, else a comma.
pub fn delimiter_for(path: Option<&Path>) -> u8 {
    let tsv = path
        .and_then(|p| p.extension())
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    if tsv { b'\t' } else { b',' }
}

/// How to read an input beyond what its bytes say.
#[derive(Debug, Clone, Default)]
pub struct InputOptions {
    /// The input's format; `None` detects it (extension, then bytes).
    pub from: Option<Format>,
    /// CSV: the field delimiter (default: a tab for `.tsv`, else a comma).
    pub delimiter: Option<u8>,
    /// CSV: the first line is data, not column names.
    pub no_header: bool,
    /// CSV: what to do with rows that do not convert.
    pub bad_rows: BadRowPolicy,
    /// CSV: whether quoting tells a null from an empty string.
    pub string_nulls: StringNulls,
    /// Arrow IPC: each batch gets only the dictionary values it uses
    /// (`ReadOptions::compact_dictionaries`), so a batch costs its rows, not
    /// its dictionary (issue 14, item 3). On for the commands that consume
    /// batches one by one (`cat`, `convert`, `schema`); off where the tables
    /// are sent on (`serve`, `send`), since a compacted batch goes out with a
    /// replacement dictionary instead of the input's deltas.
    pub compact_dictionaries: bool,
    /// Threads that decode a file input (`--threads`); `None`: every core
    /// ([`InputOptions::decode_threads`]). Parquet decodes columns of
    /// several batches at once; a CSV file is memory-mapped and parsed in
    /// pieces on them; 1 decodes on the reading thread alone.
    pub threads: Option<NonZeroUsize>,
}

impl InputOptions {
    /// The decode threads asked for, else as many as the machine has cores
    /// (1 when that cannot be told).
    pub fn decode_threads(&self) -> usize {
        self.threads
            .or_else(|| std::thread::available_parallelism().ok())
            .map_or(1, NonZeroUsize::get)
    }
}

/// Which columns the tables carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Columns {
    /// Every column; one whose type the codec cannot decode refuses the input,
    /// naming it.
    All,
    /// The columns the codec can decode; the others are left out (they stay
    /// listed in `fields()`, and `skipped()` names them).
    Supported,
    /// These columns, in this order (`--columns`); a name the input does not
    /// have, or one whose type the codec cannot decode, is an error.
    Named(Vec<String>),
}

impl Columns {
    /// The projection the codec's readers take for this choice (`None`: all).
    pub fn projection(&self) -> Option<Projection> {
        match self {
            Columns::All => None,
            Columns::Supported => Some(Projection::Supported),
            Columns::Named(names) => Some(Projection::Names(names.clone())),
        }
    }

    /// The indices into `fields` of the columns to keep (`None`: all of them,
    /// as they are), or an error naming what cannot be kept.
    pub fn choose(&self, name: &str, fields: &[FieldInfo]) -> CliResult<Option<Vec<usize>>> {
        match self {
            Columns::All => match first_unsupported(fields) {
                Some(field) => Err(unsupported_error(name, field)),
                None => Ok(None),
            },
            Columns::Supported => Ok(first_unsupported(fields).map(|_| supported_indices(fields))),
            Columns::Named(names) => {
                let mut keep = Vec::with_capacity(names.len());
                for wanted in names {
                    let Some(i) = fields.iter().position(|f| &f.name == wanted) else {
                        let known: Vec<String> =
                            fields.iter().map(|f| format!("{:?}", f.name)).collect();
                        return Err(CliError::msg(format!(
                            "{name}: no column named {wanted:?} (--columns); its columns are {}",
                            known.join(", ")
                        )));
                    };
                    if !fields[i].supported {
                        return Err(unsupported_error(name, &fields[i]));
                    }
                    keep.push(i);
                }
                Ok(Some(keep))
            }
        }
    }
}

/// Tables from the command's input (an Arrow IPC file or stream, CSV or
/// Parquet), in order. Not `lightstream::TableReader`, which reads one IPC
/// stream from a peer.
pub struct InputReader {
    name: String,
    fields: Vec<FieldInfo>,
    schema: Arc<Schema>,
    /// Indices into `fields` of the columns the tables carry, when some were left out.
    projection: Option<Vec<usize>>,
    body: Body,
    /// How far through its input the reader is.
    meter: Meter,
}

/// What progress lines need to say how far a reader got: bytes taken from a
/// stream or CSV source of known size, batches of an IPC file, rows of a
/// Parquet file.
#[derive(Default)]
struct Meter {
    /// Bytes taken from the source so far (streams and CSV).
    read: Option<Arc<AtomicU64>>,
    /// The source's size, when it is a regular file.
    size: Option<u64>,
    /// Rows handed out so far.
    rows: u64,
}

/// A reader that counts the bytes taken from it (for [`Meter`]).
struct Counted {
    inner: Box<dyn Read>,
    read: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// `reader`, counting what is taken from it, with a meter for a source of `size`.
fn counted(reader: Box<dyn Read>, size: Option<u64>) -> (Box<dyn Read>, Meter) {
    let read = Arc::new(AtomicU64::new(0));
    let meter = Meter {
        read: Some(read.clone()),
        size,
        rows: 0,
    };
    (
        Box::new(Counted {
            inner: reader,
            read,
        }),
        meter,
    )
}

enum Body {
    File {
        reader: Box<IpcFileReader>,
        next: usize,
        /// Columns to read when they differ from the reader's own projection.
        columns: Option<Vec<usize>>,
    },
    Stream(Box<StreamInput<IpcStreamDriver>>),
    Csv(Box<CsvReader<Box<dyn Read>>>),
    Parquet(Box<ParquetReader<Bytes>>),
}

impl InputReader {
    /// Opens `source`, detects its format and reads up to and including its schema.
    pub fn open(source: &Input, columns: &Columns) -> CliResult<InputReader> {
        Self::open_with(source, columns, &InputOptions::default())
    }

    /// [`InputReader::open`] with the format and CSV settings given.
    pub fn open_with(
        source: &Input,
        columns: &Columns,
        options: &InputOptions,
    ) -> CliResult<InputReader> {
        match Self::open_any(source, columns, options, false)? {
            Opened::Tables(reader) => Ok(reader),
            Opened::Messages(_) => Err(CliError::msg(
                "internal error: messages opened where tables were asked for",
            )),
        }
    }

    /// Opens `source` for a copy to an IPC stream that touches no value
    /// (every column, no format or compression change): an IPC stream is
    /// read as whole messages, of any Arrow type; any other input as tables.
    pub fn open_for_copy(source: &Input, options: &InputOptions) -> CliResult<Opened> {
        Self::open_any(source, &Columns::All, options, true)
    }

    fn open_any(
        source: &Input,
        columns: &Columns,
        options: &InputOptions,
        copy: bool,
    ) -> CliResult<Opened> {
        let path = match source {
            Input::Path(path) => Some(path.as_path()),
            Input::Stdin => None,
        };
        let by_name = path.and_then(Format::from_extension);
        match options.from.or(by_name) {
            Some(Format::Csv) => {
                return open_csv(source, path, options, columns).map(Opened::Tables);
            }
            Some(Format::Parquet) => {
                return open_parquet(source, columns, options).map(Opened::Tables);
            }
            _ => {}
        }
        let name = source.name();
        let (reader, size) = source.open()?;
        let (mut reader, meter) = counted(reader, size);
        let mut head = vec![0u8; CHUNK];
        let filled = read_at_least(&mut reader, &mut head, MAGIC_LEN)
            .context(format_args!("reading {name}"))?;
        head.truncate(filled);
        if head.is_empty() {
            return Err(CliError::msg(format!(
                "{name} is empty (expected an Arrow IPC file or stream)"
            )));
        }
        if options.from.is_none() && head.starts_with(PARQUET_MAGIC) {
            return open_parquet(source, columns, options).map(Opened::Tables);
        }
        if is_ipc_file(&head) {
            let bytes = match (path, size) {
                // A regular file: map it, so that only the pages of the batches
                // being read are ever in memory.
                (Some(path), Some(_)) => {
                    drop(reader);
                    lightstream::mmap::map_file(path)
                        .map_err(|e| CliError::net(format_args!("reading {name}"), e, false))?
                }
                _ => {
                    let size_hint = size.and_then(|s| usize::try_from(s).ok()).unwrap_or(0);
                    read_to_aligned(reader, &head, size_hint)
                        .context(format_args!("reading {name}"))?
                }
            };
            open_file(name, bytes, columns, options.compact_dictionaries).map(Opened::Tables)
        } else if options.from == Some(Format::File) {
            Err(CliError::msg(format!(
                "{name} is not an Arrow IPC file (it does not start with ARROW1)"
            )))
        } else if copy {
            let mut input = StreamInput {
                source: HeadThenRead {
                    head,
                    at: 0,
                    reader,
                },
                driver: IpcMessageDriver::new(DecodeLimits::default()),
                done: false,
            };
            let schema = input.read_schema_message(&name)?;
            Ok(Opened::Messages(Box::new(MessageInput {
                name,
                input,
                schema,
                meter,
            })))
        } else {
            let mut stream =
                open_stream(name, reader, head, columns, options.compact_dictionaries)?;
            stream.meter = meter;
            Ok(Opened::Tables(stream))
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn format(&self) -> Format {
        match self.body {
            Body::File { .. } => Format::File,
            Body::Stream(_) => Format::Stream,
            Body::Csv(_) => Format::Csv,
            Body::Parquet(_) => Format::Parquet,
        }
    }

    /// Every field of the input, including any the tables leave out.
    pub fn fields(&self) -> &[FieldInfo] {
        &self.fields
    }

    /// The schema of the tables this reader returns.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// For each column of the tables, its index in `fields()`.
    pub fn field_indices(&self) -> Vec<usize> {
        match &self.projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields.len()).collect(),
        }
    }

    /// Fields left out of the tables because their type is not supported.
    pub fn skipped(&self) -> impl Iterator<Item = &FieldInfo> {
        let kept = self.field_indices();
        self.fields
            .iter()
            .enumerate()
            .filter(move |(i, _)| !kept.contains(i))
            .map(|(_, f)| f)
    }

    /// The number of record batches, known up front for IPC files only.
    pub fn num_batches(&self) -> Option<usize> {
        match &self.body {
            Body::File { reader, .. } => Some(reader.num_batches()),
            _ => None,
        }
    }

    /// A Parquet file's row groups and rows, from its footer.
    pub fn parquet_layout(&self) -> Option<(usize, u64)> {
        match &self.body {
            Body::Parquet(reader) => Some((reader.num_row_groups(), reader.num_rows())),
            _ => None,
        }
    }

    /// Custom metadata of an IPC file's footer (empty for streams).
    pub fn footer_metadata(&self) -> Option<&BTreeMap<String, String>> {
        match &self.body {
            Body::File { reader, .. } => Some(reader.metadata()),
            _ => None,
        }
    }

    /// CSV rows dropped, or cells made null, under `--bad-rows skip|null`.
    pub fn bad_row_counts(&self) -> Option<(u64, u64)> {
        match &self.body {
            Body::Csv(reader) => Some((reader.skipped_rows(), reader.nulled_cells())),
            _ => None,
        }
    }

    /// The next table, or `None` at the end of the input.
    pub fn next_table(&mut self) -> CliResult<Option<Table>> {
        let table = self.next_table_unmetered()?;
        if let Some(table) = &table {
            self.meter.rows += table.n_rows as u64;
        }
        Ok(table)
    }

    /// How much of the input has been read, from 0 to 1, when that is known:
    /// batches of an IPC file, rows of a Parquet file, bytes of a stream or
    /// CSV file (not of a pipe).
    pub fn done(&self) -> Option<f64> {
        let fraction =
            |part: u64, whole: u64| (whole > 0).then(|| (part as f64 / whole as f64).min(1.0));
        match &self.body {
            Body::File { reader, next, .. } => fraction(*next as u64, reader.num_batches() as u64),
            Body::Parquet(reader) => fraction(self.meter.rows, reader.num_rows()),
            Body::Csv(reader) if reader.progress().is_some() => {
                reader.progress().and_then(|(at, size)| fraction(at, size))
            }
            Body::Stream(_) | Body::Csv(_) => fraction(
                self.meter.read.as_ref()?.load(Ordering::Relaxed),
                self.meter.size?,
            ),
        }
    }

    fn next_table_unmetered(&mut self) -> CliResult<Option<Table>> {
        match &mut self.body {
            Body::File {
                reader,
                next,
                columns,
            } => {
                if *next >= reader.num_batches() {
                    return Ok(None);
                }
                let i = *next;
                *next += 1;
                let table = match columns {
                    Some(columns) => reader.read_batch_columns(i, columns),
                    None => reader.read_batch(i),
                };
                let table = table.context(format_args!("reading {} (batch {i})", self.name))?;
                Ok(Some(table))
            }
            Body::Stream(input) => input.next_table(&self.name),
            Body::Csv(reader) => {
                let table = reader
                    .next()
                    .transpose()
                    .map_err(|e| file_error(&self.name, e, Naming::Cli))?;
                // CSV parses every field; the chosen columns are picked after.
                Ok(match (table, &self.projection) {
                    (Some(mut table), Some(keep)) => {
                        let mut cols = std::mem::take(&mut table.cols);
                        table.cols = keep.iter().map(|&i| cols[i].clone()).collect();
                        cols.clear();
                        Some(table)
                    }
                    (table, _) => table,
                })
            }
            Body::Parquet(reader) => reader
                .next()
                .transpose()
                .map_err(|e| file_error(&self.name, e, Naming::Reader)),
        }
    }
}

/// Who names the input in a reader's errors.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// The reader was given the path and names it (Parquet, by its label).
    Reader,
    /// The reader was given bytes only (CSV from a `Read`): the CLI names it.
    Cli,
}

/// An error of the `lightstream` crate while reading `name`.
fn file_error(name: &str, err: lightstream::Error, naming: Naming) -> CliError {
    match err {
        lightstream::Error::Parquet(message) => CliError::msg(message),
        lightstream::Error::Codec(e) if naming == Naming::Reader => CliError::msg(e.to_string()),
        other => CliError::net(format_args!("reading {name}"), other, false),
    }
}

fn open_csv(
    source: &Input,
    path: Option<&Path>,
    options: &InputOptions,
    columns: &Columns,
) -> CliResult<InputReader> {
    let name = source.name();
    let csv = CsvReadOptions {
        delimiter: options.delimiter.unwrap_or_else(|| delimiter_for(path)),
        has_header: !options.no_header,
        bad_rows: options.bad_rows,
        string_nulls: options.string_nulls,
        ..CsvReadOptions::default()
    };
    let (reader, meter) = match source {
        // A file is mapped (and parsed on `--threads`); progress comes from
        // the reader.
        Input::Path(path) => {
            let (file, _) = source.open_file(path)?;
            let threads = CsvFileOptions {
                threads: options.decode_threads(),
                ..CsvFileOptions::default()
            };
            let meter = Meter {
                read: None,
                size: None,
                rows: 0,
            };
            (CsvReader::from_file(file, csv, threads), meter)
        }
        Input::Stdin => {
            let (reader, size) = source.open()?;
            let (reader, meter) = counted(reader, size);
            (CsvReader::new(reader, csv), meter)
        }
    };
    let reader = reader.map_err(|e| file_error(&name, e, Naming::Cli))?;
    let fields = schema_fields(reader.schema());
    let projection = columns.choose(&name, &fields)?;
    let schema = match &projection {
        Some(keep) => Arc::new(
            reader
                .schema()
                .project(keep)
                .context(format!("reading {name}"))?,
        ),
        None => reader.schema().clone(),
    };
    Ok(InputReader {
        name,
        fields,
        schema,
        projection,
        body: Body::Csv(Box::new(reader)),
        meter,
    })
}

fn open_parquet(
    source: &Input,
    columns: &Columns,
    options: &InputOptions,
) -> CliResult<InputReader> {
    let name = source.name();
    let Input::Path(path) = source else {
        return Err(CliError::msg(format!(
            "{name}: Parquet is read from a file, not a pipe (its footer comes last)"
        )));
    };
    let open = |options: ParquetReadOptions| {
        ParquetReader::open_mapped(path, options).map_err(|e| file_error(&name, e, Naming::Reader))
    };
    // Every column, from the footer alone: the reader refuses a column
    // minarrow cannot hold unless a projection leaves it out.
    let fields = ParquetReader::fields_of(path, &ParquetReadOptions::default())
        .map_err(|e| file_error(&name, e, Naming::Reader))?;
    let projection = columns.choose(&name, &fields)?;
    let reader = open(ParquetReadOptions {
        projection: projection.clone(),
        threads: options.decode_threads(),
        ..ParquetReadOptions::default()
    })?;
    let schema = reader.schema().clone();
    Ok(InputReader {
        name,
        fields,
        schema,
        projection,
        body: Body::Parquet(Box::new(reader)),
        meter: Meter::default(),
    })
}

/// The `FieldInfo` of each field of a schema (all of them supported).
fn schema_fields(schema: &Schema) -> Vec<FieldInfo> {
    schema
        .fields
        .iter()
        .zip(&schema.dictionaries)
        .map(|(field, dictionary)| FieldInfo::of(field, dictionary.as_ref()))
        .collect()
}

/// Reads into `buf` until at least `min` bytes are there or the source ends.
fn read_at_least(reader: &mut dyn Read, buf: &mut [u8], min: usize) -> io::Result<usize> {
    let mut filled = 0;
    while filled < min.min(buf.len()) {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads the whole source (after `head`, already read) straight into 64-byte
/// aligned memory, so the file reader can slice column buffers out of it without
/// another copy.
fn read_to_aligned(
    mut reader: Box<dyn Read>,
    head: &[u8],
    size_hint: usize,
) -> io::Result<SharedBuffer> {
    // One byte more than the expected size, so the end is seen without growing.
    let mut buf: Vec64<u8> = Vec64::with_capacity(size_hint.max(head.len()).saturating_add(1));
    buf.extend_from_slice(head);
    loop {
        if buf.len() == buf.capacity() {
            let grow = buf.len().max(CHUNK);
            buf.reserve(grow);
        }
        let len = buf.len();
        let cap = buf.capacity();
        buf.resize(cap, 0);
        match reader.read(&mut buf[len..]) {
            Ok(0) => {
                buf.truncate(len);
                break;
            }
            Ok(n) => buf.truncate(len + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(len),
            Err(e) => return Err(e),
        }
    }
    Ok(SharedBuffer::from_vec64(buf))
}

fn supported_indices(fields: &[FieldInfo]) -> Vec<usize> {
    fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.supported)
        .map(|(i, _)| i)
        .collect()
}

fn first_unsupported(fields: &[FieldInfo]) -> Option<&FieldInfo> {
    fields.iter().find(|f| !f.supported)
}

fn unsupported_error(name: &str, field: &FieldInfo) -> CliError {
    CliError::msg(format!(
        "{name}: column {:?} has type {}, which lightstream cannot read yet \
         (--skip-unsupported leaves such columns out, --columns picks columns)",
        field.name, field.arrow_type
    ))
}

fn open_file(
    name: String,
    bytes: SharedBuffer,
    columns: &Columns,
    compact_dictionaries: bool,
) -> CliResult<InputReader> {
    let context = format!("reading {name}");
    // Open with every supported column, which lists all fields whatever their
    // types; other choices read batch by batch with `read_batch_columns`.
    let supported = ReadOptions {
        projection: Some(Projection::Supported),
        compact_dictionaries,
        ..ReadOptions::default()
    };
    let reader = IpcFileReader::new(bytes, supported).context(&context)?;
    let fields = reader.fields().to_vec();
    let projection = columns.choose(&name, &fields)?;
    let opened = supported_indices(&fields);
    let (schema, columns) = match &projection {
        Some(keep) if *keep != opened => {
            // Positions in the opened (supported) schema of the columns kept.
            let at: Vec<usize> = keep
                .iter()
                .filter_map(|i| opened.iter().position(|o| o == i))
                .collect();
            let schema = Arc::new(reader.schema().project(&at).context(&context)?);
            (schema, Some(keep.clone()))
        }
        _ => (reader.schema().clone(), None),
    };
    Ok(InputReader {
        name,
        fields,
        schema,
        projection,
        body: Body::File {
            reader: Box::new(reader),
            next: 0,
            columns,
        },
        meter: Meter::default(),
    })
}

fn open_stream(
    name: String,
    source: Box<dyn Read>,
    head: Vec<u8>,
    columns: &Columns,
    compact_dictionaries: bool,
) -> CliResult<InputReader> {
    // The decoder resolves the choice when the schema arrives; with "all" it
    // keeps the supported columns so that every field is still listed, and the
    // choice below refuses an unsupported one by name.
    let options = ReadOptions {
        projection: Some(columns.projection().unwrap_or(Projection::Supported)),
        compact_dictionaries,
        ..ReadOptions::default()
    };
    let mut input = StreamInput {
        source: HeadThenRead {
            head,
            at: 0,
            reader: source,
        },
        driver: IpcStreamDriver::new(options),
        done: false,
    };
    let outcome = input.read_schema(&name);
    // The fields are known once the schema message was read, even when the
    // decoder then refused the projection.
    let fields = input.driver.decoder().fields().to_vec();
    let projection = if fields.is_empty() {
        None
    } else {
        columns.choose(&name, &fields)?
    };
    let schema = outcome?;
    Ok(InputReader {
        name,
        fields,
        schema,
        projection,
        body: Body::Stream(Box::new(input)),
        meter: Meter::default(),
    })
}

/// The stream's input: the bytes already read to detect the format, then
/// the rest of the source.
struct HeadThenRead {
    head: Vec<u8>,
    at: usize,
    reader: Box<dyn Read>,
}

impl ByteInput for HeadThenRead {
    type Error = io::Error;

    fn pending(&self) -> Pending<'_> {
        Pending::Slice(self.head.get(self.at..).unwrap_or(&[]))
    }

    fn consume(&mut self, n: usize) {
        self.at += n;
    }

    fn poll_read(
        &mut self,
        _cx: &mut Context<'_>,
        target: &mut ReadTarget<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(target.read_from(&mut self.reader).map(|_| ()))
    }
}

/// What [`InputReader::open_for_copy`] opened.
pub enum Opened {
    /// Tables (any input but an IPC stream).
    Tables(InputReader),
    /// The whole messages of an IPC stream.
    Messages(Box<MessageInput>),
}

/// An IPC stream read as whole messages (bytes as they came), for a copy
/// that touches no value.
pub struct MessageInput {
    name: String,
    input: StreamInput<IpcMessageDriver>,
    schema: IpcMessage,
    meter: Meter,
}

impl MessageInput {
    /// The stream's schema message.
    pub fn schema(&self) -> &IpcMessage {
        &self.schema
    }

    /// The next dictionary or record batch message, or `None` at the end of
    /// the stream (its end-of-stream marker, or the end of the input on a
    /// message boundary).
    pub fn next_message(&mut self) -> CliResult<Option<IpcMessage>> {
        let input = &mut self.input;
        while !input.done {
            match input.step(&self.name)? {
                Some(m) if m.kind() == MessageKind::EndOfStream => input.done = true,
                Some(m) => {
                    if let MessageKind::RecordBatch { rows } = m.kind() {
                        self.meter.rows += rows;
                    }
                    return Ok(Some(m));
                }
                None => input.end(&self.name)?,
            }
        }
        Ok(None)
    }

    /// How much of the input has been read, from 0 to 1, when known (a
    /// regular file).
    pub fn done(&self) -> Option<f64> {
        let (read, size) = (
            self.meter.read.as_ref()?.load(Ordering::Relaxed),
            self.meter.size?,
        );
        (size > 0).then(|| (read as f64 / size as f64).min(1.0))
    }

    /// Rows of the record batches read so far, as their messages declare.
    pub fn rows(&self) -> u64 {
        self.meter.rows
    }
}

/// A stream source read through the core's one driver, as tables
/// (`IpcStreamDriver`) or as whole messages (`IpcMessageDriver`).
struct StreamInput<Driver> {
    source: HeadThenRead,
    driver: Driver,
    /// The end-of-stream marker was seen.
    done: bool,
}

impl<D: FrameDecoder> StreamInput<FrameDriver<D>> {
    /// The next item, or `None` at the end of the source.
    fn step(&mut self, name: &str) -> CliResult<Option<D::Frame>> {
        self.driver
            .next_item(&mut self.source)
            .map_err(|e| match e {
                DriveError::Input(e) => CliError::io(format_args!("reading {name}"), e),
                DriveError::Decode(e) => CliError::core(format_args!("reading {name}"), e),
            })
    }

    /// The source ended: the end-of-stream marker is optional, but the
    /// input must end on a message boundary after the schema.
    fn end(&mut self, name: &str) -> CliResult<()> {
        self.driver
            .decoder()
            .finish()
            .context(format_args!("reading {name}"))?;
        self.done = true;
        Ok(())
    }
}

impl StreamInput<IpcMessageDriver> {
    /// Feeds the decoder until the schema message has arrived.
    fn read_schema_message(&mut self, name: &str) -> CliResult<IpcMessage> {
        match self.step(name)? {
            // The decoder refuses anything but the schema first.
            Some(m) if m.kind() == MessageKind::Schema => Ok(m),
            Some(_) => Err(CliError::msg(format!(
                "reading {name}: the stream ended before its schema"
            ))),
            None => {
                // finish() names what is missing (it is never Ok before a schema).
                self.end(name)?;
                Err(CliError::msg(format!(
                    "reading {name}: the stream ended before its schema"
                )))
            }
        }
    }
}

impl StreamInput<IpcStreamDriver> {
    /// Feeds the decoder until the schema message has been decoded.
    fn read_schema(&mut self, name: &str) -> CliResult<Arc<Schema>> {
        match self.step(name)? {
            Some(StreamItem::Schema(schema)) => Ok(schema),
            None => {
                // finish() names what is missing (it is never Ok before a schema).
                self.driver
                    .decoder()
                    .finish()
                    .context(format_args!("reading {name}"))?;
                Err(CliError::msg(format!(
                    "reading {name}: the stream ended before its schema"
                )))
            }
            Some(StreamItem::End) => Err(CliError::msg(format!(
                "reading {name}: the stream ended before its schema"
            ))),
            Some(StreamItem::Table(_)) => Err(CliError::msg(format!(
                "reading {name}: a record batch came before the schema"
            ))),
        }
    }

    fn next_table(&mut self, name: &str) -> CliResult<Option<Table>> {
        while !self.done {
            match self.step(name)? {
                Some(StreamItem::Table(table)) => return Ok(Some(table)),
                Some(StreamItem::End) => self.done = true,
                Some(StreamItem::Schema(_)) => {
                    return Err(CliError::msg(format!(
                        "reading {name}: a second schema message in the stream"
                    )));
                }
                None => self.end(name)?,
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightstream_core::minarrow::{Array, FieldArray, IntegerArray};
    use lightstream_core::{WriteOptions, write_stream};

    #[test]
    fn stream_bodies_are_read_into_place_not_copied_after_the_read() {
        // Two batches of 100,000 i64s (800 KB bodies), 64-byte aligned as
        // Lightstream writes them.
        let tables: Vec<Table> = (0..2i64)
            .map(|b| {
                let values: Vec64<i64> = (0..100_000).map(|i| i * 3 + b).collect();
                let column = FieldArray::from_arr(
                    "n",
                    Array::from_int64(IntegerArray::from_vec64(values, None)),
                );
                Table::new("t", Some(vec![column]))
            })
            .collect();
        let bytes = write_stream(
            &Schema::from_table(&tables[0]),
            &tables,
            &WriteOptions::default(),
        )
        .unwrap();
        let path = std::env::temp_dir().join(format!(
            "lightstream-cli-input-{}.arrows",
            std::process::id()
        ));
        std::fs::write(&path, &bytes).unwrap();
        let mut reader = InputReader::open(&Input::Path(path.clone()), &Columns::All).unwrap();
        let mut got = Vec::new();
        while let Some(t) = reader.next_table().unwrap() {
            got.push(t);
        }
        std::fs::remove_file(&path).unwrap();
        assert_eq!(got.len(), 2);
        for (g, t) in got.iter().zip(&tables) {
            assert!(
                g.n_rows == t.n_rows && g.cols[0].array == t.cols[0].array,
                "values differ"
            );
        }
        let Body::Stream(input) = &reader.body else {
            panic!("read as a stream");
        };
        // At most one 64 KiB read per message went through a buffer and was
        // copied (the head read to detect the format, then the scratch read
        // that brought each message's prefix and metadata with the start of
        // its body); every other body byte was read straight into the
        // decoder's aligned memory. Before the driver, every body byte was
        // read into a 64 KiB chunk and then copied again (1.6 MB here).
        let body_bytes = 2 * 800_000;
        let copied = input.driver.decoder().bytes_copied();
        let in_place = input.driver.bytes_read_in_place();
        let buffered = 3 * CHUNK as u64;
        assert!(
            copied <= buffered,
            "{copied} body bytes copied after the read"
        );
        assert!(
            in_place >= body_bytes - buffered,
            "only {in_place} of {body_bytes} body bytes read in place"
        );
    }
}
