//! [`ParquetReader`]: a Parquet file -> minarrow tables, one batch of one row
//! group at a time.
//!
//! The footer is parsed by the parquet crate (after our own checks of its
//! length against the file and a walk of what it declares, footer.rs), then every column chunk's byte range and counts
//! are checked against the file before any page is read. Values come from the
//! crate's low-level `ColumnReader` (`read_records`), `batch_size` rows at a
//! time, and are copied once into 64-byte aligned minarrow buffers.
//!
//! Hostile input: every call into the crate that touches file bytes runs
//! under [`std::panic::catch_unwind`], so a panic the crate still has on some
//! corrupt input becomes an [`Error::Parquet`](crate::Error::Parquet) naming the
//! file, row group and column (defence in depth; the checks come first).
//! After an error the iterator ends.
//!
//! Not here: the type mapping (types.rs) and writing (writer.rs).

use std::collections::HashMap;
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use lightstream_core::bytes::Bytes;
use lightstream_core::minarrow::{
    Array, ArrowType, Bitmask, BooleanArray, Buffer, CategoricalArray, DatetimeArray, DecimalArray,
    Field, FieldArray, FloatArray, Integer, IntegerArray, NumericArray, StringArray, Table,
    TemporalArray, TextArray, TimeUnit, Vec64,
};
use lightstream_core::{FieldInfo, Schema};
use parquet::basic::Repetition;
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, DataType, Int96};
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{ChunkReader, FileReader, Length};
use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};

use super::types::{
    ARROW_SCHEMA_KEY, ArrowSchemaHint, ColumnPlan, Decode, arrow_type_name, decode_arrow_schema,
    describe_column, hinted_decode, native_type, parquet_error, refuse_column,
};
use super::{footer, pages};
use crate::error::{Error, Result};

/// Options of a [`ParquetReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetReadOptions {
    /// Read only these top-level columns (schema indices), in this order.
    /// Columns left out may be of types minarrow cannot hold.
    pub projection: Option<Vec<usize>>,
    /// Rows per table (default 65,536); a table never spans row groups.
    pub batch_size: usize,
    /// Restore Arrow types from the `ARROW:schema` footer key when it is
    /// present and consistent with the Parquet schema (default on).
    pub use_arrow_schema: bool,
    /// Largest uncompressed size a page (data or dictionary) may declare
    /// (default 256 MiB). The parquet crate reserves a page's declared size
    /// before decompressing it, so every page header of a column chunk is
    /// checked against this before the chunk is read; a page above it is an
    /// [`Error::Parquet`] naming the row group, column and page.
    pub max_page_bytes: usize,
}

impl Default for ParquetReadOptions {
    fn default() -> Self {
        ParquetReadOptions {
            projection: None,
            batch_size: 64 * 1024,
            use_arrow_schema: true,
            max_page_bytes: 256 << 20,
        }
    }
}

struct Cursor {
    row_group: usize,
    readers: Vec<ColumnReader>,
    rows_left: usize,
    first_row: u64,
}

/// Reads a Parquet file as minarrow tables: [`Iterator`] of `Result<Table>`.
pub struct ParquetReader<R: ChunkReader + 'static = File> {
    label: String,
    file: SerializedFileReader<Shared<R>>,
    /// The same bytes the crate reads, for the page-header check.
    source: Arc<R>,
    max_page_bytes: usize,
    schema: Arc<Schema>,
    fields: Vec<FieldInfo>,
    plans: Vec<ColumnPlan>,
    batch_size: usize,
    next_row_group: usize,
    cursor: Option<Cursor>,
    done: bool,
}

/// The caller's reader, shared by the parquet crate and [`pages::check_chunk`].
struct Shared<R>(Arc<R>);

impl<R: ChunkReader> Length for Shared<R> {
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl<R: ChunkReader> ChunkReader for Shared<R> {
    type T = R::T;

    fn get_read(&self, start: u64) -> parquet::errors::Result<R::T> {
        self.0.get_read(start)
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.0.get_bytes(start, length)
    }
}

/// Runs `f`, turning a panic inside the parquet crate into an error.
fn guarded<T>(what: impl FnOnce() -> String, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(parquet_error(format!(
                "{}: the parquet decoder failed on corrupt input ({msg})",
                what()
            )))
        }
    }
}

impl ParquetReader<File> {
    /// Opens the Parquet file at `path` and reads its footer.
    pub fn open(path: impl AsRef<Path>, options: ParquetReadOptions) -> Result<Self> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(format!("opening {label}"), e))?;
        Self::from_chunk_reader(file, label, options)
    }
}

impl ParquetReader<File> {
    /// Every top-level column of the Parquet file at `path` as Arrow describes
    /// it, held or not, reading only the footer: what to leave out with
    /// `projection` when [`ParquetReader::open`] refuses a column.
    pub fn fields_of(
        path: impl AsRef<Path>,
        options: &ParquetReadOptions,
    ) -> Result<Vec<FieldInfo>> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(format!("opening {label}"), e))?;
        let (file, _) = open_footer(file, &label)?;
        let options = ParquetReadOptions {
            projection: Some(Vec::new()),
            ..options.clone()
        };
        Ok(plan_columns(&file, &label, &options)?.0)
    }
}

/// Checks the envelope, walks the footer, parses it (guarded) and checks the
/// metadata.
fn open_footer<R: ChunkReader + 'static>(
    reader: R,
    label: &str,
) -> Result<(SerializedFileReader<Shared<R>>, Arc<R>)> {
    let len = reader.len();
    let footer_len = check_envelope(&reader, len, label)?;
    // What the footer declares, before the crate reserves it.
    footer::check(&reader, len - 8 - footer_len, footer_len)
        .map_err(|m| parquet_error(format!("{label}: footer: {m}")))?;
    let source = Arc::new(reader);
    let reader = Shared(Arc::clone(&source));
    let file = guarded(
        || format!("{label}: reading the footer"),
        || {
            // Page statistics stay unread (the default, made explicit): the
            // crate would size their buffers from file-supplied lengths.
            let props = ReaderProperties::builder()
                .set_read_page_statistics(false)
                .build();
            let options = ReadOptionsBuilder::new()
                .with_reader_properties(props)
                .build();
            SerializedFileReader::new_with_options(reader, options)
                .map_err(|e| parquet_error(format!("{label}: reading the footer: {e}")))
        },
    )?;
    check_metadata(&file, len, label)?;
    Ok((file, source))
}

impl ParquetReader<Bytes> {
    /// Reads a Parquet file held in memory; `label` names it in errors.
    pub fn from_bytes(
        bytes: Bytes,
        label: impl Into<String>,
        options: ParquetReadOptions,
    ) -> Result<Self> {
        Self::from_chunk_reader(bytes, label.into(), options)
    }
}

impl<R: ChunkReader + 'static> ParquetReader<R> {
    /// Reads a Parquet file from any of the parquet crate's [`ChunkReader`]s;
    /// `label` names it in errors. A column minarrow cannot hold (nested,
    /// binary, ...) is an error naming it unless `projection` leaves it out;
    /// [`ParquetReader::fields_of`] lists the columns without that check.
    pub fn from_chunk_reader(
        reader: R,
        label: String,
        options: ParquetReadOptions,
    ) -> Result<Self> {
        if options.batch_size == 0 {
            return Err(parquet_error("batch_size must be at least 1"));
        }
        let (file, source) = open_footer(reader, &label)?;
        let (fields, plans) = plan_columns(&file, &label, &options)?;
        let metadata = {
            let fm = file.metadata().file_metadata();
            let hint = plans.1.as_ref();
            match hint {
                Some(h) => h.metadata.clone(),
                None => fm
                    .key_value_metadata()
                    .map(|kv| {
                        kv.iter()
                            .filter(|k| k.key != ARROW_SCHEMA_KEY)
                            .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        };
        let plans = plans.0;
        let schema = Schema {
            fields: plans.iter().map(|p| p.field.clone()).collect(),
            metadata,
            dictionaries: plans.iter().map(|p| p.dictionary).collect(),
        };
        Ok(ParquetReader {
            label,
            file,
            source,
            max_page_bytes: options.max_page_bytes,
            schema: Arc::new(schema),
            fields,
            plans,
            batch_size: options.batch_size,
            next_row_group: 0,
            cursor: None,
            done: false,
        })
    }

    /// The schema of the tables (projected).
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Every top-level column of the file as Arrow describes it, held or not.
    pub fn fields(&self) -> &[FieldInfo] {
        &self.fields
    }

    /// Rows in the file (the footer's count).
    pub fn num_rows(&self) -> u64 {
        self.file
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| rg.num_rows() as u64)
            .sum()
    }

    /// Row groups in the file.
    pub fn num_row_groups(&self) -> usize {
        self.file.num_row_groups()
    }

    /// The footer's key-value metadata (including `ARROW:schema`, if any).
    pub fn key_value_metadata(&self) -> Vec<(String, String)> {
        self.file
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .map(|kv| {
                kv.iter()
                    .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn open_row_group(&mut self, i: usize) -> Result<Cursor> {
        let label = &self.label;
        let rows = self.file.metadata().row_group(i).num_rows() as usize;
        let first_row: u64 = self.file.metadata().row_groups()[..i]
            .iter()
            .map(|rg| rg.num_rows() as u64)
            .sum();
        let mut readers = Vec::with_capacity(self.plans.len());
        for plan in &self.plans {
            // Page sizes first: the crate reserves what a page header declares.
            let chunk = self.file.metadata().row_group(i).column(plan.leaf);
            let start = chunk
                .dictionary_page_offset()
                .unwrap_or_else(|| chunk.data_page_offset());
            // check_metadata vouched for a non-negative range inside the file.
            pages::check_chunk(
                &*self.source,
                start as u64,
                chunk.compressed_size() as u64,
                self.max_page_bytes,
            )
            .map_err(|m| {
                parquet_error(format!(
                    "{label}: row group {i}, column \"{}\": {m}",
                    plan.field.name
                ))
            })?;
            let file = &self.file;
            let reader = guarded(
                || format!("{label}: row group {i}, column \"{}\"", plan.field.name),
                || {
                    let rg = file.get_row_group(i)?;
                    Ok(rg.get_column_reader(plan.leaf)?)
                },
            )
            .map_err(|e| in_column(e, label, i, &plan.field.name))?;
            readers.push(reader);
        }
        Ok(Cursor {
            row_group: i,
            readers,
            rows_left: rows,
            first_row,
        })
    }

    fn next_table(&mut self) -> Result<Option<Table>> {
        loop {
            if let Some(c) = &self.cursor
                && c.rows_left > 0
            {
                break;
            }
            if self.next_row_group >= self.file.num_row_groups() {
                return Ok(None);
            }
            let i = self.next_row_group;
            self.next_row_group += 1;
            self.cursor = Some(self.open_row_group(i)?);
        }
        let Some(cursor) = self.cursor.as_mut() else {
            return Ok(None);
        };
        let n = cursor.rows_left.min(self.batch_size);
        let mut cols = Vec::with_capacity(self.plans.len());
        for (plan, reader) in self.plans.iter().zip(cursor.readers.iter_mut()) {
            let label = &self.label;
            let rg = cursor.row_group;
            let col = guarded(
                || format!("{label}: row group {rg}, column \"{}\"", plan.field.name),
                || read_column(reader, plan, n),
            )
            .map_err(|e| {
                in_column(e, label, rg, &plan.field.name).with_rows(cursor.first_row, n)
            })?;
            cols.push(col);
        }
        cursor.rows_left -= n;
        cursor.first_row += n as u64;
        Ok(Some(Table {
            cols,
            n_rows: n,
            name: String::new(),
            metadata: self.schema.metadata.clone(),
        }))
    }
}

trait WithRows {
    fn with_rows(self, first: u64, n: usize) -> Self;
}

impl WithRows for Error {
    fn with_rows(self, first: u64, n: usize) -> Self {
        match self {
            Error::Parquet(m) => {
                Error::Parquet(format!("{m} (rows {first}..{})", first + n as u64))
            }
            other => other,
        }
    }
}

/// Prefixes an error from column decoding with the file, row group and column.
fn in_column(e: Error, label: &str, rg: usize, name: &str) -> Error {
    match e {
        Error::Parquet(m) if m.starts_with(label) => Error::Parquet(m),
        Error::Parquet(m) => {
            Error::Parquet(format!("{label}: row group {rg}, column \"{name}\": {m}"))
        }
        other => other,
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::Parquet(e.to_string())
    }
}

impl<R: ChunkReader + 'static> Iterator for ParquetReader<R> {
    type Item = Result<Table>;

    fn next(&mut self) -> Option<Result<Table>> {
        if self.done {
            return None;
        }
        match self.next_table() {
            Ok(Some(t)) => Some(Ok(t)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

// ------------------------------------------------------------------ checks

/// Magic at both ends and a footer length that fits the file, before the
/// parquet crate reads anything; returns the footer length.
fn check_envelope<R: ChunkReader>(reader: &R, len: u64, label: &str) -> Result<u64> {
    let fail = |what: String| parquet_error(format!("{label}: not a Parquet file: {what}"));
    if len < 12 {
        return Err(fail(format!(
            "{len} bytes is shorter than the 12-byte minimum"
        )));
    }
    let head = reader
        .get_bytes(0, 4)
        .map_err(|e| parquet_error(format!("{label}: reading the header: {e}")))?;
    if head.as_ref() != b"PAR1" {
        return Err(fail("no PAR1 magic at the start".into()));
    }
    let tail = reader
        .get_bytes(len - 8, 8)
        .map_err(|e| parquet_error(format!("{label}: reading the footer: {e}")))?;
    if &tail[4..8] != b"PAR1" {
        return Err(fail(
            "no PAR1 magic at the end (truncated, or an encrypted footer)".into(),
        ));
    }
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer > len - 12 {
        return Err(parquet_error(format!(
            "{label}: the footer claims {footer} bytes but the file has only {} after the header",
            len - 12
        )));
    }
    Ok(footer)
}

/// Row counts and column-chunk ranges against the file size and the schema.
fn check_metadata<R: ChunkReader + 'static>(
    file: &SerializedFileReader<R>,
    len: u64,
    label: &str,
) -> Result<()> {
    let md = file.metadata();
    let leaves = md.file_metadata().schema_descr().num_columns();
    let mut total: u64 = 0;
    for (i, rg) in md.row_groups().iter().enumerate() {
        let fail = |what: String| parquet_error(format!("{label}: row group {i}: {what}"));
        if rg.num_rows() < 0 {
            return Err(fail(format!("negative row count {}", rg.num_rows())));
        }
        total = total
            .checked_add(rg.num_rows() as u64)
            .ok_or_else(|| fail("row counts overflow".into()))?;
        if rg.num_columns() != leaves {
            return Err(fail(format!(
                "{} column chunks for a schema of {leaves} columns",
                rg.num_columns()
            )));
        }
        for (j, c) in rg.columns().iter().enumerate() {
            let start = c
                .dictionary_page_offset()
                .unwrap_or_else(|| c.data_page_offset());
            let size = c.compressed_size();
            let name = c.column_path().string();
            if start < 4 || size < 0 || c.num_values() < 0 {
                return Err(fail(format!(
                    "column chunk {j} (\"{name}\") has offset {start}, size {size}, {} values",
                    c.num_values()
                )));
            }
            let end = (start as u64).checked_add(size as u64);
            if end.is_none_or(|e| e > len) {
                return Err(fail(format!(
                    "column chunk {j} (\"{name}\") spans bytes {start}..{start}+{size}, past the end of the {len}-byte file"
                )));
            }
            if c.data_page_offset() < 0 || c.data_page_offset() as u64 >= len {
                return Err(fail(format!(
                    "column chunk {j} (\"{name}\") has data page offset {} outside the file",
                    c.data_page_offset()
                )));
            }
        }
    }
    let claimed = md.file_metadata().num_rows();
    if claimed < 0 || claimed as u64 != total {
        return Err(parquet_error(format!(
            "{label}: the footer says {claimed} rows but its row groups hold {total}"
        )));
    }
    Ok(())
}

/// Maps every top-level field; returns the field descriptions and the
/// projected column plans (and the `ARROW:schema` hint when it was used).
type Planned = (Vec<FieldInfo>, (Vec<ColumnPlan>, Option<ArrowSchemaHint>));

fn plan_columns<R: ChunkReader + 'static>(
    file: &SerializedFileReader<R>,
    label: &str,
    options: &ParquetReadOptions,
) -> Result<Planned> {
    let fm = file.metadata().file_metadata();
    let descr = fm.schema_descr();
    let roots = descr.root_schema().get_fields();
    // Leaf of each root, when the root is a flat primitive column.
    let mut leaf_of: Vec<Option<usize>> = vec![None; roots.len()];
    let mut leaves_of = vec![0usize; roots.len()];
    for leaf in 0..descr.num_columns() {
        let r = descr.get_column_root_idx(leaf);
        if let Some(n) = leaves_of.get_mut(r) {
            *n += 1;
        }
        if let Some(slot) = leaf_of.get_mut(r) {
            *slot = Some(leaf);
        }
    }
    let hint = if options.use_arrow_schema {
        fm.key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == ARROW_SCHEMA_KEY))
            .and_then(|k| k.value.as_deref())
            .and_then(decode_arrow_schema)
    } else {
        None
    };
    // Per root: Ok((field, dictionary, decode)) or Err(why not).
    let mut mapped = Vec::with_capacity(roots.len());
    let mut hint_ok = hint.as_ref().is_some_and(|h| h.names.len() == roots.len());
    for (r, root) in roots.iter().enumerate() {
        let flat = root.is_primitive()
            && leaves_of[r] == 1
            && root.get_basic_info().repetition() != Repetition::REPEATED;
        let col = match (flat, leaf_of[r]) {
            (true, Some(leaf)) => Some(descr.column(leaf)),
            _ => None,
        };
        let native = col.as_ref().map(|c| native_type(c));
        if let (Some(h), Some(c)) = (hint.as_ref(), col.as_ref())
            && hint_ok
        {
            let matches = h.names.get(r).is_some_and(|n| n == root.name());
            let fits = match (&h.fields[r], &native) {
                (Some((f, d)), Some(Ok(nat))) => {
                    hinted_decode(c, &f.dtype, d.as_ref(), nat).is_some()
                }
                (None, _) => true,    // minarrow cannot hold it either way
                (Some(_), _) => true, // the Parquet type is refused anyway
            };
            if !matches || !fits {
                hint_ok = false;
            }
        }
        mapped.push((root.clone(), col, native));
    }
    let hint = if hint_ok { hint } else { None };

    let mut infos = Vec::with_capacity(roots.len());
    let mut plans_all: Vec<std::result::Result<ColumnPlan, String>> =
        Vec::with_capacity(roots.len());
    for (r, (root, col, native)) in mapped.into_iter().enumerate() {
        let name = root.name().to_string();
        let nullable = root.get_basic_info().repetition() != Repetition::REQUIRED;
        let plan: std::result::Result<ColumnPlan, String> = match (col, native) {
            (Some(c), Some(Ok(nat))) => {
                let leaf = leaf_of[r].unwrap_or(0);
                match hint.as_ref().map(|h| &h.fields[r]) {
                    Some(Some((f, d))) => {
                        let decode = hinted_decode(&c, &f.dtype, d.as_ref(), &nat)
                            .ok_or_else(|| refuse_column(label, &c, "inconsistent ARROW:schema"));
                        decode.map(|decode| ColumnPlan {
                            leaf,
                            field: f.clone(),
                            dictionary: *d,
                            decode,
                            physical: c.physical_type(),
                            max_def: c.max_def_level(),
                        })
                    }
                    Some(None) => Err(refuse_column(
                        label,
                        &c,
                        "its Arrow type (ARROW:schema) has no minarrow equivalent",
                    )),
                    None => Ok(ColumnPlan {
                        leaf,
                        field: Arc::new(Field::new(name.clone(), nat.0.clone(), nullable, None)),
                        dictionary: None,
                        decode: nat.1,
                        physical: c.physical_type(),
                        max_def: c.max_def_level(),
                    }),
                }
            }
            (Some(c), Some(Err(why))) => Err(refuse_column(label, &c, &why)),
            _ => Err(format!(
                "{label}: column \"{name}\" is a nested Parquet type (group or repeated field), \
                 which minarrow cannot hold; leave it out with ParquetReadOptions::projection"
            )),
        };
        infos.push(match &plan {
            Ok(p) => FieldInfo {
                name: name.clone(),
                arrow_type: arrow_type_name(&p.field.dtype, p.dictionary.as_ref()),
                nullable: p.field.nullable,
                supported: true,
                metadata: p.field.metadata.clone(),
            },
            Err(_) => FieldInfo {
                name: name.clone(),
                arrow_type: if root.is_primitive() {
                    leaf_of[r]
                        .map(|l| describe_column(&descr.column(l)))
                        .unwrap_or_else(|| "unknown".into())
                } else {
                    format!(
                        "Parquet group ({:?})",
                        root.get_basic_info().logical_type_ref()
                    )
                },
                nullable,
                supported: false,
                metadata: Default::default(),
            },
        });
        plans_all.push(plan);
    }
    let columns: Vec<usize> = match &options.projection {
        Some(p) => p.clone(),
        None => (0..roots.len()).collect(),
    };
    let mut plans = Vec::with_capacity(columns.len());
    for c in columns {
        match plans_all.get(c) {
            None => {
                return Err(parquet_error(format!(
                    "{label}: projection names column {c} but the file has {} columns",
                    roots.len()
                )));
            }
            Some(Err(e)) => return Err(Error::Parquet(e.clone())),
            Some(Ok(p)) => plans.push(p.clone()),
        }
    }
    Ok((infos, (plans, hint)))
}

// ------------------------------------------------------------------ values

/// Records asked of the parquet crate per `read_records` call.
const READ_CHUNK: usize = 64 * 1024;

/// Stored (non-null) values and, for an optional column, the definition levels.
type Stored<T> = (Vec<T>, Option<Vec<i16>>);

/// Offsets, bytes, validity and null count of a string column.
type StringParts<O> = (Buffer<O>, Buffer<u8>, Option<Bitmask>, usize);

/// Definition levels (when the column is optional) and stored values of `n` rows.
fn read_values<T: DataType>(
    r: &mut ColumnReaderImpl<T>,
    max_def: i16,
    n: usize,
) -> Result<Stored<T::T>> {
    // Buffers grow with what the pages really hold; each call into the crate
    // asks for at most READ_CHUNK records, which bounds what it reserves from
    // a page header's (file-supplied) value count.
    let mut values = Vec::with_capacity(n.min(READ_CHUNK));
    let mut defs = (max_def > 0).then(|| Vec::with_capacity(n.min(READ_CHUNK)));
    let mut got = 0;
    while got < n {
        let want = (n - got).min(READ_CHUNK);
        let (records, _, _) = r.read_records(want, defs.as_mut(), None, &mut values)?;
        if records == 0 {
            break;
        }
        got += records;
    }
    if got != n {
        return Err(parquet_error(format!(
            "the column chunk ended after {got} of {n} rows"
        )));
    }
    if let Some(d) = &defs {
        if d.len() != n {
            return Err(parquet_error(format!(
                "{} definition levels for {n} rows",
                d.len()
            )));
        }
        let valid = d.iter().filter(|&&l| l == max_def).count();
        if valid != values.len() {
            return Err(parquet_error(format!(
                "{} values for {valid} non-null rows",
                values.len()
            )));
        }
    } else if values.len() != n {
        return Err(parquet_error(format!(
            "{} values for {n} rows",
            values.len()
        )));
    }
    Ok((values, defs))
}

/// The validity mask of `defs` (None when every row is valid) and the null count.
fn validity(defs: Option<&[i16]>, max_def: i16, n: usize) -> (Option<Bitmask>, usize) {
    let Some(defs) = defs else {
        return (None, 0);
    };
    // Eight levels to a byte, without a branch per row; the null count falls
    // out of the same pass.
    let mut bytes: Vec64<u8> = Vec64::with_capacity(n.div_ceil(8));
    let mut valid = 0usize;
    for chunk in defs.chunks(8) {
        let mut b = 0u8;
        for (j, &d) in chunk.iter().enumerate() {
            b |= u8::from(d == max_def) << j;
        }
        valid += b.count_ones() as usize;
        bytes.push(b);
    }
    bytes.resize(n.div_ceil(8), 0);
    let nulls = n - valid.min(n);
    if nulls == 0 {
        return (None, 0);
    }
    (Some(Bitmask::new(Buffer::from_vec64(bytes), n)), nulls)
}

/// Spreads the non-null `vals` over `n` rows (default under nulls), converting each.
fn spread<S, D: Copy + Default>(
    vals: &[S],
    defs: Option<&[i16]>,
    max_def: i16,
    n: usize,
    f: impl Fn(&S) -> Option<D>,
    what: &str,
) -> Result<Vec64<D>> {
    let bad = || parquet_error(format!("a stored value does not fit {what}"));
    let mut out: Vec64<D> = Vec64::with_capacity(n);
    match defs {
        Some(defs) if vals.len() != n => {
            let mut it = vals.iter();
            for &d in defs {
                if d == max_def {
                    let v = it.next().ok_or_else(bad)?;
                    out.push(f(v).ok_or_else(bad)?);
                } else {
                    out.push(D::default());
                }
            }
        }
        _ => {
            for v in vals {
                out.push(f(v).ok_or_else(bad)?);
            }
        }
    }
    Ok(out)
}

/// Spreads the non-null `vals` over `n` rows (default under nulls) with an
/// infallible conversion: a straight copy when no row is null.
fn spread_copy<S: Copy, D: Copy + Default>(
    vals: &[S],
    defs: Option<&[i16]>,
    max_def: i16,
    n: usize,
    f: impl Fn(S) -> D,
) -> Result<Vec64<D>> {
    let short = || parquet_error("fewer values than rows");
    let mut out: Vec64<D> = Vec64::with_capacity(n);
    match defs {
        Some(defs) if vals.len() != n => {
            if defs.len() != n {
                return Err(short());
            }
            out.resize(n, D::default());
            let mut it = vals.iter();
            for (o, &d) in out.iter_mut().zip(defs) {
                if d == max_def {
                    *o = f(*it.next().ok_or_else(short)?);
                }
            }
        }
        _ => {
            if vals.len() != n {
                return Err(short());
            }
            out.extend(vals.iter().map(|&v| f(v)));
        }
    }
    Ok(out)
}

fn factor(u: &TimeUnit) -> i64 {
    match u {
        TimeUnit::Seconds => 1,
        TimeUnit::Milliseconds => 1_000,
        TimeUnit::Microseconds => 1_000_000,
        TimeUnit::Nanoseconds => 1_000_000_000,
        TimeUnit::Days => 1,
    }
}

/// Converts a time value from `from` to `to` (exact when finer, floor when coarser).
fn rescale(v: i64, from: &TimeUnit, to: &TimeUnit) -> Option<i64> {
    let (a, b) = (factor(from), factor(to));
    if a == b {
        Some(v)
    } else if b > a {
        v.checked_mul(b / a)
    } else {
        Some(v.div_euclid(a / b))
    }
}

fn target_unit(t: &ArrowType) -> Option<TimeUnit> {
    match t {
        ArrowType::Time32(u)
        | ArrowType::Time64(u)
        | ArrowType::Timestamp(u, _)
        | ArrowType::Duration64(u) => Some(*u),
        ArrowType::Date64 => Some(TimeUnit::Milliseconds),
        _ => None,
    }
}

fn field_array(plan: &ColumnPlan, array: Array, nulls: usize) -> FieldArray {
    FieldArray {
        field: plan.field.clone(),
        array,
        null_count: nulls,
    }
}

/// Integer-like stored values (`pre` reinterprets and rescales each into an
/// i128) as the plan's target array.
fn int_array<S>(
    plan: &ColumnPlan,
    vals: &[S],
    defs: Option<&[i16]>,
    n: usize,
    pre: impl Fn(&S) -> Option<i128>,
) -> Result<FieldArray> {
    let (mask, nulls) = validity(defs, plan.max_def, n);
    let md = plan.max_def;
    let what = arrow_type_name(&plan.field.dtype, None);
    macro_rules! ints {
        ($t:ty) => {
            spread(
                vals,
                defs,
                md,
                n,
                |v| pre(v).and_then(|x| <$t>::try_from(x).ok()),
                &what,
            )?
        };
    }
    macro_rules! num {
        ($variant:ident, $t:ty) => {
            Array::NumericArray(NumericArray::$variant(Arc::new(IntegerArray {
                data: Buffer::from_vec64(ints!($t)),
                null_mask: mask,
            })))
        };
    }
    macro_rules! dec {
        ($variant:ident, $t:ty, $p:expr, $s:expr) => {
            Array::NumericArray(NumericArray::$variant(Arc::new(DecimalArray {
                data: Buffer::from_vec64(ints!($t)),
                null_mask: mask,
                precision: *$p,
                scale: *$s,
            })))
        };
    }
    macro_rules! temporal {
        ($variant:ident, $t:ty, $unit:expr) => {
            Array::TemporalArray(TemporalArray::$variant(Arc::new(DatetimeArray {
                data: Buffer::from_vec64(ints!($t)),
                null_mask: mask,
                time_unit: $unit,
            })))
        };
    }
    let array = match &plan.field.dtype {
        ArrowType::Int8 => num!(Int8, i8),
        ArrowType::Int16 => num!(Int16, i16),
        ArrowType::Int32 => num!(Int32, i32),
        ArrowType::Int64 => num!(Int64, i64),
        ArrowType::UInt8 => num!(UInt8, u8),
        ArrowType::UInt16 => num!(UInt16, u16),
        ArrowType::UInt32 => num!(UInt32, u32),
        ArrowType::UInt64 => num!(UInt64, u64),
        ArrowType::Decimal32(p, s) => dec!(Decimal32, i32, p, s),
        ArrowType::Decimal64(p, s) => dec!(Decimal64, i64, p, s),
        ArrowType::Decimal128(p, s) => dec!(Decimal128, i128, p, s),
        ArrowType::Date32 => temporal!(Datetime32, i32, TimeUnit::Days),
        ArrowType::Date64 => temporal!(Datetime64, i64, TimeUnit::Milliseconds),
        ArrowType::Time32(u) => temporal!(Datetime32, i32, *u),
        ArrowType::Time64(u) | ArrowType::Timestamp(u, _) | ArrowType::Duration64(u) => {
            temporal!(Datetime64, i64, *u)
        }
        other => {
            return Err(parquet_error(format!(
                "integer values cannot become {}",
                arrow_type_name(other, None)
            )));
        }
    };
    Ok(field_array(plan, array, nulls))
}

/// Whether `int_pre` leaves every stored value as it is (a plain integer, or
/// a time already in the target's unit).
fn int_is_identity(plan: &ColumnPlan) -> bool {
    match &plan.decode {
        Decode::Int => true,
        Decode::Rescale { from } => {
            target_unit(&plan.field.dtype).is_some_and(|to| factor(from) == factor(&to))
        }
        _ => false,
    }
}

/// The fast path of [`int_array`] for an INT64 column whose target is 64 bits
/// wide and needs no conversion: one straight copy (or bit-cast), no i128 and
/// no per-value fallible conversion. `None` when the plan needs the general path.
fn int64_direct(
    plan: &ColumnPlan,
    vals: &[i64],
    defs: Option<&[i16]>,
    n: usize,
) -> Result<Option<FieldArray>> {
    if !int_is_identity(plan) {
        return Ok(None);
    }
    let md = plan.max_def;
    let temporal = |unit: TimeUnit| -> Result<Array> {
        Ok(Array::TemporalArray(TemporalArray::Datetime64(Arc::new(
            DatetimeArray {
                data: Buffer::from_vec64(spread_copy(vals, defs, md, n, |v| v)?),
                null_mask: None,
                time_unit: unit,
            },
        ))))
    };
    let mut array = match &plan.field.dtype {
        ArrowType::Int64 => Array::NumericArray(NumericArray::Int64(Arc::new(IntegerArray {
            data: Buffer::from_vec64(spread_copy(vals, defs, md, n, |v| v)?),
            null_mask: None,
        }))),
        ArrowType::UInt64 => Array::NumericArray(NumericArray::UInt64(Arc::new(IntegerArray {
            data: Buffer::from_vec64(spread_copy(vals, defs, md, n, |v| v as u64)?),
            null_mask: None,
        }))),
        ArrowType::Decimal64(p, s) => {
            Array::NumericArray(NumericArray::Decimal64(Arc::new(DecimalArray {
                data: Buffer::from_vec64(spread_copy(vals, defs, md, n, |v| v)?),
                null_mask: None,
                precision: *p,
                scale: *s,
            })))
        }
        ArrowType::Date64 => temporal(TimeUnit::Milliseconds)?,
        ArrowType::Time64(u) | ArrowType::Timestamp(u, _) | ArrowType::Duration64(u) => {
            temporal(*u)?
        }
        _ => return Ok(None),
    };
    let (mask, nulls) = validity(defs, md, n);
    set_mask(&mut array, mask);
    Ok(Some(field_array(plan, array, nulls)))
}

/// [`int64_direct`] for INT32 columns with 32-bit targets.
fn int32_direct(
    plan: &ColumnPlan,
    vals: &[i32],
    defs: Option<&[i16]>,
    n: usize,
) -> Result<Option<FieldArray>> {
    if !int_is_identity(plan) {
        return Ok(None);
    }
    let md = plan.max_def;
    let temporal = |unit: TimeUnit| -> Result<Array> {
        Ok(Array::TemporalArray(TemporalArray::Datetime32(Arc::new(
            DatetimeArray {
                data: Buffer::from_vec64(spread_copy(vals, defs, md, n, |v| v)?),
                null_mask: None,
                time_unit: unit,
            },
        ))))
    };
    let mut array = match &plan.field.dtype {
        ArrowType::Int32 => Array::NumericArray(NumericArray::Int32(Arc::new(IntegerArray {
            data: Buffer::from_vec64(spread_copy(vals, defs, md, n, |v| v)?),
            null_mask: None,
        }))),
        ArrowType::UInt32 => Array::NumericArray(NumericArray::UInt32(Arc::new(IntegerArray {
            data: Buffer::from_vec64(spread_copy(vals, defs, md, n, |v| v as u32)?),
            null_mask: None,
        }))),
        ArrowType::Decimal32(p, s) => {
            Array::NumericArray(NumericArray::Decimal32(Arc::new(DecimalArray {
                data: Buffer::from_vec64(spread_copy(vals, defs, md, n, |v| v)?),
                null_mask: None,
                precision: *p,
                scale: *s,
            })))
        }
        ArrowType::Date32 => temporal(TimeUnit::Days)?,
        ArrowType::Time32(u) => temporal(*u)?,
        _ => return Ok(None),
    };
    let (mask, nulls) = validity(defs, md, n);
    set_mask(&mut array, mask);
    Ok(Some(field_array(plan, array, nulls)))
}

/// Puts `mask` on an array just built (and so not yet shared) by the direct paths.
fn set_mask(array: &mut Array, mask: Option<Bitmask>) {
    macro_rules! put {
        ($a:expr) => {
            if let Some(a) = Arc::get_mut($a) {
                a.null_mask = mask;
            }
        };
    }
    match array {
        Array::NumericArray(NumericArray::Int64(a)) => put!(a),
        Array::NumericArray(NumericArray::UInt64(a)) => put!(a),
        Array::NumericArray(NumericArray::Int32(a)) => put!(a),
        Array::NumericArray(NumericArray::UInt32(a)) => put!(a),
        Array::NumericArray(NumericArray::Decimal64(a)) => put!(a),
        Array::NumericArray(NumericArray::Decimal32(a)) => put!(a),
        Array::TemporalArray(TemporalArray::Datetime64(a)) => put!(a),
        Array::TemporalArray(TemporalArray::Datetime32(a)) => put!(a),
        _ => {}
    }
}

/// `pre` for an INT32 / INT64 column: reinterpretation of unsigned bit
/// patterns and time-unit rescaling.
fn int_pre(plan: &ColumnPlan, v: i64, src_bits: u32) -> Option<i128> {
    let t = &plan.field.dtype;
    match (&plan.decode, t) {
        (Decode::Int, ArrowType::UInt32) if src_bits == 32 => Some(i128::from(v as i32 as u32)),
        (Decode::Int, ArrowType::UInt64) => Some(i128::from(v as u64)),
        (Decode::Int, _) => Some(i128::from(v)),
        (Decode::DaysToMillis, _) => Some(i128::from(v) * 86_400_000),
        (Decode::Rescale { from }, _) => {
            let to = target_unit(t)?;
            rescale(v, from, &to).map(i128::from)
        }
        _ => None,
    }
}

fn decimal_from_be(b: &[u8]) -> Option<i128> {
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut buf = if b[0] & 0x80 != 0 {
        [0xffu8; 16]
    } else {
        [0u8; 16]
    };
    buf[16 - b.len()..].copy_from_slice(b);
    Some(i128::from_be_bytes(buf))
}

fn strings<O: Integer + Default>(
    plan: &ColumnPlan,
    vals: &[ByteArray],
    defs: Option<&[i16]>,
    n: usize,
    to_offset: impl Fn(usize) -> Option<O>,
) -> Result<StringParts<O>> {
    let (mask, nulls) = validity(defs, plan.max_def, n);
    let total: usize = vals.iter().map(|v| v.len()).sum();
    let mut data: Vec64<u8> = Vec64::with_capacity(total);
    let mut offsets: Vec64<O> = Vec64::with_capacity(n + 1);
    offsets.push(O::default());
    let too_big = || parquet_error("strings exceed 32-bit offsets (read as large_string)");
    let mut it = vals.iter();
    for i in 0..n {
        let valid = match defs {
            Some(d) if vals.len() != n => d[i] == plan.max_def,
            _ => true,
        };
        if valid {
            let v = it
                .next()
                .ok_or_else(|| parquet_error("fewer values than rows"))?;
            let bytes = v.data();
            // A value that starts with a continuation byte cannot be UTF-8 on
            // its own; with that, one check of the whole buffer below covers
            // every value (valid pieces concatenate to valid UTF-8 and back).
            if bytes.first().is_some_and(|&b| (b as i8) < -0x40) {
                return Err(parquet_error(format!("row {i} is not valid UTF-8")));
            }
            data.extend_from_slice(bytes);
        }
        offsets.push(to_offset(data.len()).ok_or_else(too_big)?);
    }
    if let Err(e) = std::str::from_utf8(&data) {
        let at = e.valid_up_to();
        let row = offsets
            .iter()
            .position(|o| o.to_usize().is_some_and(|u| u > at))
            .map_or(n, |r| r.saturating_sub(1));
        return Err(parquet_error(format!("row {row} is not valid UTF-8")));
    }
    Ok((
        Buffer::from_vec64(offsets),
        Buffer::from_vec64(data),
        mask,
        nulls,
    ))
}

/// log2 of the slots of the categorical address cache (see [`categorical`]).
const PTR_CACHE_BITS: u32 = 11;

fn categorical<K: Integer + Default>(
    plan: &ColumnPlan,
    vals: &[ByteArray],
    defs: Option<&[i16]>,
    n: usize,
    capacity: u64,
) -> Result<(CategoricalArray<K>, usize)> {
    let (mask, nulls) = validity(defs, plan.max_def, n);
    let mut index: HashMap<&[u8], K> = HashMap::new();
    let mut unique: Vec64<String> = Vec64::new();
    let mut keys: Vec64<K> = Vec64::with_capacity(n);
    // Length usize::MAX: no slice has it, so an empty slot never matches.
    let mut cache: Vec<(u64, usize, K)> = vec![(0, usize::MAX, K::default()); 1 << PTR_CACHE_BITS];
    let mut it = vals.iter();
    for i in 0..n {
        let valid = match defs {
            Some(d) if vals.len() != n => d[i] == plan.max_def,
            _ => true,
        };
        if !valid {
            keys.push(K::default());
            continue;
        }
        let v = it
            .next()
            .ok_or_else(|| parquet_error("fewer values than rows"))?;
        let bytes = v.data();
        // Values decoded from a dictionary page share that page's buffer, so a
        // repeated value usually comes back at the same address: a small
        // direct-mapped cache of (address, length) -> key skips hashing its
        // bytes. Every value in `vals` stays alive (and unchanged) for the
        // whole call, so equal address and length mean equal bytes; a miss
        // falls through to the map, which checks and validates as before.
        let addr = bytes.as_ptr() as usize as u64;
        let slot = ((addr ^ bytes.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            >> (64 - PTR_CACHE_BITS)) as usize;
        let cached = &mut cache[slot];
        if cached.0 == addr && cached.1 == bytes.len() {
            keys.push(cached.2);
            continue;
        }
        let key = match index.get(bytes) {
            Some(k) => *k,
            None => {
                if unique.len() as u64 >= capacity {
                    return Err(parquet_error(format!(
                        "more than {capacity} distinct values in one batch do not fit the \
                         dictionary's {} keys (read fewer rows per batch, or without ARROW:schema)",
                        plan.dictionary.map(|d| d.index_type.name()).unwrap_or("?")
                    )));
                }
                let s = std::str::from_utf8(bytes)
                    .map_err(|_| parquet_error(format!("row {i} is not valid UTF-8")))?;
                let k = K::from_usize(unique.len());
                unique.push(s.to_string());
                index.insert(bytes, k);
                k
            }
        };
        *cached = (addr, bytes.len(), key);
        keys.push(key);
    }
    Ok((
        CategoricalArray {
            data: Buffer::from_vec64(keys),
            unique_values: unique,
            null_mask: mask,
        },
        nulls,
    ))
}

/// Reads `n` rows of one column and builds its minarrow array.
fn read_column(reader: &mut ColumnReader, plan: &ColumnPlan, n: usize) -> Result<FieldArray> {
    let md = plan.max_def;
    let mismatch = || parquet_error(format!("unexpected physical type {}", plan.physical));
    if plan.decode == Decode::Null {
        // Read (and check) the levels, whatever the physical type.
        let skipped = match reader {
            ColumnReader::Int32ColumnReader(r) => r.skip_records(n)?,
            ColumnReader::Int64ColumnReader(r) => r.skip_records(n)?,
            ColumnReader::BoolColumnReader(r) => r.skip_records(n)?,
            ColumnReader::FloatColumnReader(r) => r.skip_records(n)?,
            ColumnReader::DoubleColumnReader(r) => r.skip_records(n)?,
            ColumnReader::ByteArrayColumnReader(r) => r.skip_records(n)?,
            ColumnReader::FixedLenByteArrayColumnReader(r) => r.skip_records(n)?,
            ColumnReader::Int96ColumnReader(r) => r.skip_records(n)?,
        };
        if skipped != n {
            return Err(parquet_error(format!(
                "the column chunk ended after {skipped} of {n} rows"
            )));
        }
        return Ok(FieldArray {
            field: plan.field.clone(),
            array: Array::Null,
            null_count: n,
        });
    }
    match reader {
        ColumnReader::BoolColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            let (mask, nulls) = validity(defs.as_deref(), md, n);
            let bits = spread(&vals, defs.as_deref(), md, n, |v| Some(*v), "Boolean")?;
            let mut bytes: Vec64<u8> = Vec64::with_capacity(n.div_ceil(8));
            bytes.resize(n.div_ceil(8), 0);
            for (i, b) in bits.iter().enumerate() {
                if *b {
                    bytes[i / 8] |= 1 << (i % 8);
                }
            }
            let data = Bitmask::new(Buffer::from_vec64(bytes), n);
            Ok(field_array(
                plan,
                Array::BooleanArray(Arc::new(BooleanArray::new(data, mask))),
                nulls,
            ))
        }
        ColumnReader::Int32ColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            if let Some(a) = int32_direct(plan, &vals, defs.as_deref(), n)? {
                return Ok(a);
            }
            int_array(plan, &vals, defs.as_deref(), n, |v: &i32| {
                int_pre(plan, i64::from(*v), 32)
            })
        }
        ColumnReader::Int64ColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            if let Some(a) = int64_direct(plan, &vals, defs.as_deref(), n)? {
                return Ok(a);
            }
            int_array(plan, &vals, defs.as_deref(), n, |v: &i64| {
                int_pre(plan, *v, 64)
            })
        }
        ColumnReader::Int96ColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            let to = target_unit(&plan.field.dtype).unwrap_or(TimeUnit::Nanoseconds);
            int_array(plan, &vals, defs.as_deref(), n, |v: &Int96| {
                rescale(v.to_nanos(), &TimeUnit::Nanoseconds, &to).map(i128::from)
            })
        }
        ColumnReader::FloatColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            let (mask, nulls) = validity(defs.as_deref(), md, n);
            let data = spread(&vals, defs.as_deref(), md, n, |v| Some(*v), "Float32")?;
            let a = NumericArray::Float32(Arc::new(FloatArray {
                data: Buffer::from_vec64(data),
                null_mask: mask,
            }));
            Ok(field_array(plan, Array::NumericArray(a), nulls))
        }
        ColumnReader::DoubleColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            let (mask, nulls) = validity(defs.as_deref(), md, n);
            let data = spread(&vals, defs.as_deref(), md, n, |v| Some(*v), "Float64")?;
            let a = NumericArray::Float64(Arc::new(FloatArray {
                data: Buffer::from_vec64(data),
                null_mask: mask,
            }));
            Ok(field_array(plan, Array::NumericArray(a), nulls))
        }
        ColumnReader::FixedLenByteArrayColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            if plan.decode != Decode::DecimalBytes {
                return Err(mismatch());
            }
            int_array(plan, &vals, defs.as_deref(), n, |v| {
                decimal_from_be(v.data())
            })
        }
        ColumnReader::ByteArrayColumnReader(r) => {
            let (vals, defs) = read_values(r, md, n)?;
            let defs = defs.as_deref();
            match &plan.decode {
                Decode::DecimalBytes => int_array(plan, &vals, defs, n, |v: &ByteArray| {
                    decimal_from_be(v.data())
                }),
                Decode::Utf8 { large: false } => {
                    let (offsets, data, mask, nulls) =
                        strings::<u32>(plan, &vals, defs, n, |l| u32::try_from(l).ok())?;
                    let a = TextArray::String32(Arc::new(StringArray {
                        offsets,
                        data,
                        null_mask: mask,
                    }));
                    Ok(field_array(plan, Array::TextArray(a), nulls))
                }
                Decode::Utf8 { large: true } => {
                    let (offsets, data, mask, nulls) =
                        strings::<u64>(plan, &vals, defs, n, |l| Some(l as u64))?;
                    let a = TextArray::String64(Arc::new(StringArray {
                        offsets,
                        data,
                        null_mask: mask,
                    }));
                    Ok(field_array(plan, Array::TextArray(a), nulls))
                }
                Decode::Dictionary(enc) => {
                    let bits = enc.index_type.byte_width() as u32 * 8;
                    let capacity = if enc.index_type.is_signed() {
                        1u64 << (bits - 1).min(63)
                    } else if bits >= 64 {
                        u64::MAX
                    } else {
                        1u64 << bits
                    };
                    let text = match enc.index_type.byte_width() {
                        1 => {
                            let (a, nulls) = categorical::<u8>(plan, &vals, defs, n, capacity)?;
                            return Ok(field_array(
                                plan,
                                Array::TextArray(TextArray::Categorical8(Arc::new(a))),
                                nulls,
                            ));
                        }
                        2 => {
                            let (a, nulls) = categorical::<u16>(plan, &vals, defs, n, capacity)?;
                            (TextArray::Categorical16(Arc::new(a)), nulls)
                        }
                        4 => {
                            let (a, nulls) = categorical::<u32>(plan, &vals, defs, n, capacity)?;
                            (TextArray::Categorical32(Arc::new(a)), nulls)
                        }
                        _ => {
                            let (a, nulls) = categorical::<u64>(plan, &vals, defs, n, capacity)?;
                            (TextArray::Categorical64(Arc::new(a)), nulls)
                        }
                    };
                    Ok(field_array(plan, Array::TextArray(text.0), text.1))
                }
                _ => Err(mismatch()),
            }
        }
    }
}
