//! The four subcommands: `schema`, `cat`, `convert`, `example`.
//!
//! What it is for: wiring input, codec, formatting and output together for each
//! command. Each function returns `CliResult`; `main` turns an error into one line
//! on stderr.
//!
//! What it is not: argument parsing (that is `main.rs`, via clap) or I/O plumbing
//! (`input.rs`, `output.rs`).

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use lightstream_core::FieldInfo;

use crate::error::{CliError, CliResult, IoContext};
use crate::example::{self, ExampleBatches};
use crate::format::{align_for, write_value};
use crate::input::{Columns, Format, Input, InputOptions, InputReader, MessageInput, Opened};
use crate::output::{OutputWriter, Target, WriteSettings};
use crate::progress::Progress;
use crate::render::{DEFAULT_WINDOW, TextTable, write_aligned};

/// Metadata values longer than this are shortened by `schema` unless `--full`.
const METADATA_PREVIEW_CHARS: usize = 120;

const STDOUT: &str = "writing to stdout";

fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::with_capacity(1 << 16, io::stdout().lock())
}

/// Prints a note (not an error) on stderr.
fn note(message: &str) {
    let _ = writeln!(io::stderr(), "lightstream: note: {message}");
}

/// `lightstream schema`: fields with their Arrow types, nullability and metadata,
/// then the schema's metadata; for files also the number of record batches.
pub fn schema(input: &Path, from: &InputOptions, full: bool) -> CliResult<()> {
    let reader = InputReader::open_with(&Input::from_arg(input), &Columns::Supported, from)?;
    let mut out = stdout();
    let mut text = String::new();
    render_schema(&reader, full, &mut text);
    out.write_all(text.as_bytes()).context(STDOUT)?;
    out.flush().context(STDOUT)
}

fn render_schema(reader: &InputReader, full: bool, out: &mut String) {
    use std::fmt::Write as _;
    let schema = reader.schema();
    let _ = write!(out, "{}: {}", reader.name(), reader.format().describe());
    if let Some(n) = reader.num_batches() {
        let _ = write!(out, ", {n} record batch{}", if n == 1 { "" } else { "es" });
    }
    if let Some((groups, rows)) = reader.parquet_layout() {
        let _ = write!(
            out,
            ", {groups} row group{}, {rows} row{}",
            if groups == 1 { "" } else { "s" },
            if rows == 1 { "" } else { "s" }
        );
    }
    out.push('\n');

    // Field metadata comes from the decoded schema; skipped fields have none to show.
    let mut field_metadata: Vec<Option<&BTreeMap<String, String>>> =
        vec![None; reader.fields().len()];
    for (column, index) in reader.field_indices().into_iter().enumerate() {
        if let (Some(slot), Some(field)) =
            (field_metadata.get_mut(index), schema.fields.get(column))
        {
            *slot = Some(&field.metadata);
        }
    }
    let _ = writeln!(out, "fields ({}):", reader.fields().len());
    let rows: Vec<Vec<String>> = reader
        .fields()
        .iter()
        .zip(&field_metadata)
        .map(|(info, metadata)| {
            let nullability = if info.nullable {
                "nullable"
            } else {
                "not null"
            };
            let mut notes = Vec::new();
            if !info.supported {
                notes.push("(unsupported: not decoded)".to_string());
            }
            if let Some(metadata) = metadata.filter(|m| !m.is_empty()) {
                notes.push(inline_metadata(metadata, full));
            }
            vec![
                info.name.clone(),
                info.arrow_type.clone(),
                nullability.to_string(),
                notes.join(" "),
            ]
        })
        .collect();
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_aligned(&mut bytes, "  ", &rows);
    out.push_str(&String::from_utf8_lossy(&bytes));

    write_metadata_block(out, "schema metadata", &schema.metadata, full);
    if let Some(footer) = reader.footer_metadata().filter(|m| !m.is_empty()) {
        write_metadata_block(out, "file metadata", footer, full);
    }
}

fn write_metadata_block(
    out: &mut String,
    title: &str,
    metadata: &BTreeMap<String, String>,
    full: bool,
) {
    use std::fmt::Write as _;
    if metadata.is_empty() {
        let _ = writeln!(out, "{title}: none");
        return;
    }
    let _ = writeln!(out, "{title}:");
    for (key, value) in metadata {
        let _ = writeln!(out, "  {:?}: {}", key, quoted(value, full));
    }
}

/// `{"unit": "EUR", ...}`
fn inline_metadata(metadata: &BTreeMap<String, String>, full: bool) -> String {
    let pairs: Vec<String> = metadata
        .iter()
        .map(|(k, v)| format!("{k:?}: {}", quoted(v, full)))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// A value in quotes with escapes; long values are cut short unless `full`.
fn quoted(value: &str, full: bool) -> String {
    let chars = value.chars().count();
    if full || chars <= METADATA_PREVIEW_CHARS {
        return format!("{value:?}");
    }
    let preview: String = value.chars().take(METADATA_PREVIEW_CHARS).collect();
    format!("{preview:?}... ({} bytes; --full shows all)", value.len())
}

/// `lightstream cat`: rows as an aligned text table, reading no further than needed.
pub fn cat(
    input: &Path,
    from: &InputOptions,
    columns: &Columns,
    limit: Option<usize>,
) -> CliResult<()> {
    let mut reader = InputReader::open_with(&Input::from_arg(input), columns, from)?;
    if reader.schema().fields.is_empty() {
        // Rows of no columns would print as blank lines.
        let types: Vec<String> = reader
            .fields()
            .iter()
            .map(|f| format!("{:?} ({})", f.name, f.arrow_type))
            .collect();
        return Err(CliError::msg(format!(
            "{}: nothing to show: {}",
            reader.name(),
            if types.is_empty() {
                "it has no columns".to_string()
            } else {
                format!(
                    "no column has a type lightstream can read yet: {}",
                    types.join(", ")
                )
            }
        )));
    }
    if *columns == Columns::Supported {
        for field in reader.skipped() {
            note(&format!(
                "column {:?} is not shown: its type {} is not supported yet",
                field.name, field.arrow_type
            ));
        }
    }
    let columns = reader
        .schema()
        .fields
        .iter()
        .map(|f| (f.name.clone(), align_for(&f.dtype)))
        .collect();
    let window = limit.map_or(DEFAULT_WINDOW, |l| l.clamp(1, DEFAULT_WINDOW));
    let mut table_text = TextTable::new(stdout(), columns, window);
    let mut printed = 0usize;
    'tables: while limit.is_none_or(|l| printed < l) {
        let table = match reader.next_table() {
            Ok(Some(table)) => table,
            Ok(None) => break,
            Err(err) => {
                // Show the rows decoded before the failure, then report it.
                let mut out = table_text.finish().context(STDOUT)?;
                out.flush().context(STDOUT)?;
                return Err(err);
            }
        };
        for row in 0..table.n_rows {
            if limit.is_some_and(|l| printed >= l) {
                break 'tables;
            }
            let cells = table
                .cols
                .iter()
                .map(|col| {
                    let mut cell = String::new();
                    write_value(&mut cell, &col.array, &col.field.dtype, row);
                    cell
                })
                .collect();
            table_text.push_row(cells).context(STDOUT)?;
            printed += 1;
        }
    }
    let mut out = table_text.finish().context(STDOUT)?;
    out.flush().context(STDOUT)?;
    note_bad_rows(&reader);
    Ok(())
}

/// Says on stderr how many CSV rows `--bad-rows skip|null` dropped or changed,
/// so that nothing is lost silently.
fn note_bad_rows(reader: &InputReader) {
    let Some((skipped, nulled)) = reader.bad_row_counts() else {
        return;
    };
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    if skipped > 0 {
        note(&format!(
            "{}: skipped {skipped} row{} that did not convert (--bad-rows skip)",
            reader.name(),
            plural(skipped)
        ));
    }
    if nulled > 0 {
        note(&format!(
            "{}: {nulled} cell{} that did not convert read as null (--bad-rows null)",
            reader.name(),
            plural(nulled)
        ));
    }
}

/// Names on stderr each column `--skip-unsupported` leaves out, so that
/// nothing is dropped silently.
pub fn note_left_out<'a>(
    name: &str,
    columns: &Columns,
    skipped: impl Iterator<Item = &'a FieldInfo>,
) {
    if *columns != Columns::Supported {
        return;
    }
    for field in skipped {
        note(&format!(
            "{name}: column {:?} ({}) is left out (--skip-unsupported)",
            field.name, field.arrow_type
        ));
    }
}

/// Output options shared by `convert` and `example`.
pub struct OutputOptions {
    /// The format to write; `None` picks it from the output's extension.
    pub format: Option<Format>,
    pub settings: WriteSettings,
}

/// Whether a copy to `format` with `columns` and `settings` touches no
/// value: an IPC stream out, every column, no compression asked for. Then an
/// IPC stream in is copied message by message (any Arrow type passes).
pub fn copies_messages(format: Format, columns: &Columns, settings: &WriteSettings) -> bool {
    format == Format::Stream && *columns == Columns::All && settings.compression.is_none()
}

/// `lightstream convert`: re-encodes tables as they are decoded, in any
/// direction between Arrow IPC file and stream, CSV and Parquet; an IPC
/// stream to an IPC stream with every column and no `--compression` is
/// copied message by message instead, without decoding a value.
pub fn convert(
    input: &Path,
    from: &InputOptions,
    columns: &Columns,
    output: &Path,
    options: &OutputOptions,
) -> CliResult<()> {
    let source = Input::from_arg(input);
    let target = Target::from_arg(output);
    let format = options.format.unwrap_or_else(|| target.default_format());
    let mut reader = if copies_messages(format, columns, &options.settings) {
        match InputReader::open_for_copy(&source, from)? {
            Opened::Messages(messages) => return copy_messages(*messages, &target),
            Opened::Tables(reader) => reader,
        }
    } else {
        InputReader::open_with(&source, columns, from)?
    };
    note_left_out(reader.name(), columns, reader.skipped());
    let mut writer =
        OutputWriter::create(&target, format, reader.schema().clone(), &options.settings)?;
    // On a terminal: rows so far, the share of the input read and the time left.
    let mut progress = Progress::new("converted");
    let mut rows = 0u64;
    while let Some(table) = reader.next_table()? {
        rows += table.n_rows as u64;
        writer.write(&table)?;
        progress.update_done(rows, None, reader.done());
    }
    writer.finish()?;
    progress.finish_done(rows, None);
    note_bad_rows(&reader);
    Ok(())
}

/// `convert` of an IPC stream to an IPC stream: every message as it came.
fn copy_messages(mut input: MessageInput, target: &Target) -> CliResult<()> {
    let mut writer = OutputWriter::create_copy(target, input.schema())?;
    let mut progress = Progress::new("converted");
    while let Some(message) = input.next_message()? {
        writer.write_message(&message)?;
        progress.update_done(input.rows(), None, input.done());
    }
    writer.finish()?;
    progress.finish_done(input.rows(), None);
    Ok(())
}

/// `lightstream example`: writes the generated example table.
pub fn example(output: &Path, rows: usize, options: &OutputOptions) -> CliResult<()> {
    let target = Target::from_arg(output);
    let format = options.format.unwrap_or_else(|| target.default_format());
    let schema = example::schema(rows);
    let mut writer = OutputWriter::create(&target, format, schema.clone(), &options.settings)?;
    for table in ExampleBatches::new(schema, rows) {
        writer.write(&table)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_metadata_values_are_shortened() {
        let long = "x".repeat(500);
        let shown = quoted(&long, false);
        assert!(shown.len() < 200, "{shown}");
        assert!(shown.contains("500 bytes"));
        assert_eq!(quoted(&long, true).len(), 502);
        assert_eq!(quoted("a \"b\"", false), r#""a \"b\"""#);
    }

    #[test]
    fn metadata_inline() {
        let m = BTreeMap::from([
            ("unit".to_string(), "EUR".to_string()),
            ("a".to_string(), "1".to_string()),
        ]);
        assert_eq!(inline_metadata(&m, false), r#"{"a": "1", "unit": "EUR"}"#);
    }
}
