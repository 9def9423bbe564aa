//! CSV, push-style: bytes of a CSV file in, [`minarrow::Table`]s out
//! ([`CsvDecoder`]), and tables in, CSV bytes out ([`CsvEncoder`]).
//!
//! Records are split in place when they need no unquoting (or only simple
//! quotes) and by the `csv-core` state machine otherwise (RFC 4180 quoting,
//! doubled quotes, delimiters and line breaks inside quoted fields, LF / CRLF /
//! CR line ends); both give the same fields and line numbers. The column types come from a given schema or are inferred
//! from the first rows, with pyarrow's `read_csv` as the reference for what
//! is inferred and how text maps to values; [the CSV guide] lists the rules and
//! every difference from pyarrow.
//!
//! Like the rest of the core this module never performs I/O: a shell reads a
//! file or a socket and pushes the bytes (in any chunking: the tables do not
//! depend on it). It has no threads either, but it lets a shell parse one
//! file on several: [`cut_piece`] cuts it at record boundaries and
//! [`CsvDecoder::for_chunk`] decodes a piece with the columns another decoder
//! inferred (`lightstream::csv` does this). It is not a general CSV toolkit: no comment lines, no escape
//! character other than the doubled quote, no per-column null tokens, and no
//! binary column type (invalid UTF-8 is an error, not a `binary` column).
//!
//! ```
//! use lightstream_core::csv::{CsvReadOptions, CsvWriteOptions, read_csv, write_csv};
//!
//! let (schema, tables) = read_csv(b"id,name\n1,ada\n2,\"grace, hopper\"\n", CsvReadOptions::default()).unwrap();
//! assert_eq!(schema.fields[0].dtype, lightstream_core::minarrow::ArrowType::Int64);
//! assert_eq!(tables[0].n_rows, 2);
//! let text = write_csv(&schema, &tables, &CsvWriteOptions::default()).unwrap();
//! assert_eq!(text, b"id,name\n1,ada\n2,\"grace, hopper\"\n");
//! ```
//!
//! [the CSV guide]: https://github.com/lightstream-rs/lightstream/blob/main/docs/csv.md

mod blocks;
mod builders;
mod infer;
mod nulls;
mod reader;
mod rows;
#[cfg(test)]
mod tests;
mod text;
mod tokenizer;
mod writer;

use std::sync::Arc;

use crate::error::Result;
use crate::ipc::Schema;
use minarrow::Table;

pub use blocks::{Boundary, cut_piece, scan_boundary};
pub use reader::{CsvDecoder, FrozenSchema};
pub use writer::CsvEncoder;

/// How the reader tells a null from text in string (and dictionary)
/// columns: whether quoting counts.
///
/// Writers that keep the two apart (Lightstream's, pyarrow's, Polars') write
/// a null as an empty unquoted field and an empty string as `""`; in a
/// one-column file a null row is an empty line. Non-string
/// columns are the same under both rules: a field equal to a null token is
/// null whether quoted or not (pyarrow's `quoted_strings_can_be_null`), so
/// `""` in an int64 column is null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StringNulls {
    /// Quoting counts (default; how Polars reads): in a string
    /// column an empty unquoted field is null, a quoted field is always text
    /// (`""` is the empty string, `"NA"` the text `NA`), and with
    /// [`CsvReadOptions::strings_can_be_null`] an unquoted null token is null
    /// too (pyarrow's `quoted_strings_can_be_null=False`). In a file of one
    /// column an empty line is a row with an empty unquoted field (null),
    /// not a blank line to skip. Lossless for what Lightstream and pyarrow write.
    #[default]
    Unquoted,
    /// Quoting is not seen (Lightstream's earlier reading, and pyarrow
    /// `read_csv`'s defaults): without `strings_can_be_null` no string cell
    /// is null (empty fields, quoted or not, are the empty string); with it,
    /// every field equal to a null token is null, quoted or not, `""`
    /// included. Blank lines are skipped in every file.
    QuotingIgnored,
}

/// What the decoder does with a row it cannot convert: a cell that does not
/// parse as its column's type, invalid UTF-8, or a row with the wrong number of fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadRowPolicy {
    /// Stop with an error naming the line, column and offending text (default).
    #[default]
    Error,
    /// The unparsable cell becomes null (counted by [`CsvDecoder::nulled_cells`]).
    /// A row with too few fields is padded with nulls (each padded cell counted);
    /// a row with too many fields is still an error, since dropping fields
    /// would lose data without a trace.
    Null,
    /// Drop the whole row; [`CsvDecoder::skipped_rows`] counts them.
    Skip,
}

/// Bounds that keep memory use finite on hostile input. Exceeding the first
/// three is an error ([`crate::ErrorKind::LimitExceeded`]); the last two only
/// end a phase early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvLimits {
    /// Largest field, in bytes after unquoting (default 16 MiB).
    pub max_field_bytes: usize,
    /// Largest record, in bytes after unquoting, delimiters excluded (default 16 MiB).
    pub max_row_bytes: usize,
    /// Most fields in one record (default 10 000).
    pub max_columns: usize,
    /// Type inference stops after this many buffered bytes even when fewer
    /// than `infer_rows` rows were seen (default 64 MiB).
    pub max_infer_bytes: usize,
    /// A table is emitted early once its cells hold this many bytes (default
    /// 64 MiB), so `batch_size` rows of very wide or long records stay bounded.
    pub max_batch_bytes: usize,
}

impl Default for CsvLimits {
    fn default() -> Self {
        CsvLimits {
            max_field_bytes: 16 << 20,
            max_row_bytes: 16 << 20,
            max_columns: 10_000,
            max_infer_bytes: 64 << 20,
            max_batch_bytes: 64 << 20,
        }
    }
}

/// pyarrow's default `null_values` (`pyarrow.csv.ConvertOptions`).
pub const DEFAULT_NULL_VALUES: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
];
/// pyarrow's default `true_values`.
pub const DEFAULT_TRUE_VALUES: &[&str] = &["1", "True", "TRUE", "true"];
/// pyarrow's default `false_values`.
pub const DEFAULT_FALSE_VALUES: &[&str] = &["0", "False", "FALSE", "false"];

/// How to read CSV. `Default` matches pyarrow's `read_csv` defaults where it can.
///
/// ```
/// use lightstream_core::csv::{read_csv, BadRowPolicy, CsvReadOptions};
/// use lightstream_core::minarrow::ArrowType;
///
/// let text = b"ts;px\n1;1.5\n2;oops\n3;NA\n";
/// let options = CsvReadOptions {
///     delimiter: b';',
///     infer_rows: 1, // types from the first row only
///     bad_rows: BadRowPolicy::Null,
///     ..Default::default()
/// };
/// let (schema, tables) = read_csv(text, options)?;
/// assert_eq!(schema.fields[1].dtype, ArrowType::Float64);
/// // `oops` does not parse as a double and became null; `NA` is a null token.
/// assert_eq!((tables[0].n_rows, tables[0].cols[1].null_count), (3, 2));
/// # Ok::<(), lightstream_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CsvReadOptions {
    /// Field delimiter (default `,`).
    pub delimiter: u8,
    /// Quote character (default `"`); a doubled quote inside a quoted field is one quote.
    pub quote: u8,
    /// The first record holds the column names (default true). Without a header
    /// the columns are named `f0`, `f1`, ... (as pyarrow's `autogenerate_column_names`).
    pub has_header: bool,
    /// Cells equal to one of these are null (default [`DEFAULT_NULL_VALUES`],
    /// which includes the empty string and `NaN`/`nan`). Compared byte for byte.
    pub null_values: Vec<String>,
    /// Cells that read as `true` in a boolean column (default [`DEFAULT_TRUE_VALUES`]).
    pub true_values: Vec<String>,
    /// Cells that read as `false` in a boolean column (default [`DEFAULT_FALSE_VALUES`]).
    pub false_values: Vec<String>,
    /// Whether string (and dictionary) columns honour `null_values` (default
    /// false, like pyarrow: `NA` in a string column is the text `NA`). Under
    /// [`StringNulls::Unquoted`] only unquoted fields can match.
    pub strings_can_be_null: bool,
    /// Whether quoting tells a null from text in string columns (default
    /// [`StringNulls::Unquoted`]: an empty unquoted field is null, `""` is
    /// the empty string).
    pub string_nulls: StringNulls,
    /// Most rows per table (default 65 536). Tables can be shorter: the last
    /// one, the one cut by [`CsvLimits::max_batch_bytes`], and the one emitted
    /// just before an error.
    pub batch_size: usize,
    /// The column types. With a header, its names must equal the fields' names
    /// in order. `None`: infer the types from the first rows.
    pub schema: Option<Schema>,
    /// Rows used for type inference (default 10 000; also bounded by
    /// [`CsvLimits::max_infer_bytes`]). A later cell that does not fit the
    /// inferred type is a bad row (see [`BadRowPolicy`]), as in pyarrow.
    pub infer_rows: usize,
    /// What to do with rows that do not convert.
    pub bad_rows: BadRowPolicy,
    /// Memory bounds.
    pub limits: CsvLimits,
}

impl Default for CsvReadOptions {
    fn default() -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        CsvReadOptions {
            delimiter: b',',
            quote: b'"',
            has_header: true,
            null_values: strings(DEFAULT_NULL_VALUES),
            true_values: strings(DEFAULT_TRUE_VALUES),
            false_values: strings(DEFAULT_FALSE_VALUES),
            strings_can_be_null: false,
            string_nulls: StringNulls::Unquoted,
            batch_size: 65_536,
            schema: None,
            infer_rows: 10_000,
            bad_rows: BadRowPolicy::Error,
            limits: CsvLimits::default(),
        }
    }
}

/// How to write CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvWriteOptions {
    /// Field delimiter (default `,`).
    pub delimiter: u8,
    /// Quote character (default `"`). Fields are quoted only when they need it
    /// (they contain the delimiter, the quote, `\r` or `\n`, or are an empty
    /// string, or a string equal to a non-empty `null`).
    pub quote: u8,
    /// Write a header record with the column names (default true).
    pub header: bool,
    /// Text written for a null cell, unquoted (default empty, as pyarrow
    /// writes it; in a one-column file a null row is then an empty line).
    pub null: String,
    /// Record terminator: `\n` (default, as pyarrow) or `\r\n` when true.
    pub crlf: bool,
}

impl Default for CsvWriteOptions {
    fn default() -> Self {
        CsvWriteOptions {
            delimiter: b',',
            quote: b'"',
            header: true,
            null: String::new(),
            crlf: false,
        }
    }
}

/// Reads a whole CSV document held in memory: the schema and the tables.
pub fn read_csv(bytes: &[u8], options: CsvReadOptions) -> Result<(Arc<Schema>, Vec<Table>)> {
    let mut decoder = CsvDecoder::new(options)?;
    let mut tables = Vec::new();
    // Push in pieces so that tables are collected as they complete.
    for chunk in bytes.chunks(1 << 20) {
        decoder.push(chunk)?;
        while let Some(t) = decoder.next_table()? {
            tables.push(t);
        }
    }
    decoder.finish()?;
    while let Some(t) = decoder.next_table()? {
        tables.push(t);
    }
    let schema = decoder
        .schema()
        .cloned()
        .unwrap_or_else(|| Arc::new(Schema::new(Vec::new(), Default::default())));
    Ok((schema, tables))
}

/// Writes the tables (all of `schema`) as one CSV document.
pub fn write_csv(schema: &Schema, tables: &[Table], options: &CsvWriteOptions) -> Result<Vec<u8>> {
    let mut encoder = CsvEncoder::new(schema, options.clone())?;
    let mut out = Vec::new();
    for t in tables {
        encoder.encode_table(t, &mut out)?;
    }
    encoder.finish(&mut out)?;
    Ok(out)
}
