//! Writing tables to a path or stdout: Arrow IPC file or stream, CSV, Parquet.
//!
//! What it is for: the I/O half of `convert`, `example`, `recv` and `listen`.
//! Tables are written as they arrive and nothing accumulates in memory beyond
//! one table, except for Parquet, which holds at most one row group:
//! - IPC: the codec's encoders produce messages that borrow the tables' column
//!   buffers; each message is written straight into a buffered writer
//!   (`EncodedMessage::write_to`);
//! - IPC stream, copied: whole messages read from an IPC stream
//!   (`IpcMessage`, of any Arrow type) are written as they came, bytes
//!   unchanged ([`OutputWriter::create_copy`]);
//! - CSV: `lightstream::csv::CsvWriter` (the core's encoder);
//! - Parquet: `lightstream::parquet::ParquetWriter`.
//!
//! A path is written through a temporary file next to it and renamed into place on
//! success: a failed run leaves no half-written file behind, and converting a file
//! onto itself does not destroy the input while it is still being read.
//!
//! What it is not: an encoder. Every byte comes from `lightstream-core` or the
//! `lightstream` crate.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lightstream::csv::{CsvWriteOptions, CsvWriter};
use lightstream::parquet::{ParquetCompression, ParquetWriteOptions, ParquetWriter};
use lightstream_core::minarrow::Table;
use lightstream_core::{
    Compression, IpcFileEncoder, IpcMessage, IpcStreamEncoder, Schema, WriteOptions,
};

use crate::error::{CliError, CliResult, CoreContext, IoContext};
use crate::input::{Format, delimiter_for};

/// Where output goes: `-` is stdout, anything else a path.
#[derive(Debug, Clone)]
pub enum Target {
    Stdout,
    Path(PathBuf),
}

impl Target {
    pub fn from_arg(arg: &Path) -> Self {
        if arg.as_os_str() == "-" {
            Target::Stdout
        } else {
            Target::Path(arg.to_path_buf())
        }
    }

    pub fn name(&self) -> String {
        match self {
            Target::Stdout => "<stdout>".to_string(),
            Target::Path(p) => p.display().to_string(),
        }
    }

    /// The format a path's extension asks for (see [`Format::from_extension`]);
    /// an IPC stream for any other name and for stdout.
    pub fn default_format(&self) -> Format {
        match self {
            Target::Path(path) => Format::from_extension(path).unwrap_or(Format::Stream),
            Target::Stdout => Format::Stream,
        }
    }

    fn path(&self) -> Option<&Path> {
        match self {
            Target::Path(path) => Some(path),
            Target::Stdout => None,
        }
    }
}

/// A compression codec as asked for on the command line; which ones a format
/// takes is checked when the output is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Zstd,
    Lz4,
    Snappy,
}

impl Codec {
    fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Zstd => "zstd",
            Codec::Lz4 => "lz4",
            Codec::Snappy => "snappy",
        }
    }

    /// The body compression of Arrow IPC record batches.
    pub fn ipc(self) -> CliResult<Compression> {
        match self {
            Codec::None => Ok(Compression::None),
            Codec::Zstd => Ok(Compression::Zstd),
            Codec::Lz4 => Ok(Compression::Lz4Frame),
            Codec::Snappy => Err(CliError::usage(
                "--compression snappy is for Parquet output; Arrow IPC takes zstd, lz4 or none",
            )),
        }
    }

    /// The page compression of Parquet.
    fn parquet(self) -> CliResult<ParquetCompression> {
        match self {
            Codec::None => Ok(ParquetCompression::None),
            // Level 1, as pyarrow's default for zstd.
            Codec::Zstd => Ok(ParquetCompression::Zstd(1)),
            Codec::Snappy => Ok(ParquetCompression::Snappy),
            Codec::Lz4 => Err(CliError::usage(
                "--compression lz4 is for Arrow IPC output; Parquet takes zstd, snappy or none",
            )),
        }
    }
}

/// How to write, per format. `compression: None` is each format's default:
/// none for Arrow IPC, snappy for Parquet (as pyarrow).
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteSettings {
    pub compression: Option<Codec>,
    /// CSV: the delimiter (default: a tab for `.tsv`, else a comma).
    pub delimiter: Option<u8>,
    /// Parquet: the most rows in one row group (default: the writer's).
    pub row_group_rows: Option<usize>,
    /// Parquet: threads that encode the columns (`None`: one, the writer's
    /// default); `convert` passes its `--threads`.
    pub threads: Option<usize>,
}

type Buffered = BufWriter<Box<dyn Write + Send>>;

/// A path being written via a temporary file (renamed into place by `commit`),
/// or stdout.
struct AtomicOutput {
    name: String,
    /// (temporary file, final path) while a path is being written.
    rename: Option<(PathBuf, PathBuf)>,
}

impl AtomicOutput {
    fn create(target: &Target) -> CliResult<(AtomicOutput, Buffered)> {
        let name = target.name();
        let file: Box<dyn Write + Send> = match target {
            Target::Stdout => {
                return Ok((
                    AtomicOutput { name, rename: None },
                    BufWriter::with_capacity(1 << 16, Box::new(io::stdout())),
                ));
            }
            Target::Path(path) => {
                let context = || format!("cannot create {name}");
                // Devices, pipes and the like are written in place.
                let replaceable = match fs::metadata(path) {
                    Ok(meta) if meta.is_dir() => {
                        return Err(CliError::msg(format!("{name} is a directory")));
                    }
                    Ok(meta) => meta.is_file(),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => true,
                    Err(e) => return Err(CliError::io(context(), e)),
                };
                if replaceable {
                    let temp = temporary_path(path);
                    let file = File::create(&temp).context(context())?;
                    let sink = AtomicOutput {
                        name,
                        rename: Some((temp, path.clone())),
                    };
                    return Ok((sink, BufWriter::with_capacity(1 << 16, Box::new(file))));
                }
                Box::new(File::create(path).context(context())?)
            }
        };
        Ok((
            AtomicOutput { name, rename: None },
            BufWriter::with_capacity(1 << 16, file),
        ))
    }

    fn context(&self) -> String {
        format!("writing {}", self.name)
    }

    /// Flushes, and moves a temporary file into place.
    fn commit(mut self, mut writer: Buffered) -> CliResult<()> {
        writer.flush().context(self.context())?;
        drop(writer);
        if let Some((temp, path)) = self.rename.take()
            && let Err(e) = fs::rename(&temp, &path)
        {
            let _ = fs::remove_file(&temp);
            return Err(CliError::io(self.context(), e));
        }
        Ok(())
    }
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        // Not committed: remove the partial temporary file.
        if let Some((temp, _)) = self.rename.take() {
            let _ = fs::remove_file(temp);
        }
    }
}

/// `dir/.name.lightstream-<pid>.tmp`: next to the target, so the rename stays
/// on one file system.
fn temporary_path(path: &Path) -> PathBuf {
    let mut file_name = OsString::from(".");
    file_name.push(path.file_name().unwrap_or_else(|| "output".as_ref()));
    file_name.push(format!(".lightstream-{}.tmp", std::process::id()));
    path.with_file_name(file_name)
}

/// The encoder of the output format, over the buffered output.
enum FormatEncoder {
    Stream(Buffered, IpcStreamEncoder),
    /// An IPC stream copied message by message.
    Copy(Buffered),
    File(Buffered, IpcFileEncoder),
    Csv(Box<CsvWriter<Buffered>>),
    Parquet(Box<ParquetWriter<Buffered>>),
}

/// Writes tables in one of the four formats as they are given. Not
/// `lightstream::TableWriter`, which sends one IPC stream to a peer.
pub struct OutputWriter {
    sink: AtomicOutput,
    encoder: FormatEncoder,
    /// Flush after every table (stdout: downstream sees each table as it is done).
    flush_each: bool,
}

/// An error of the `lightstream` crate while writing.
fn write_error(context: &str, err: lightstream::Error) -> CliError {
    CliError::net(context, err, false)
}

impl OutputWriter {
    /// Starts the output: writes the schema (and, for a file, the magic).
    pub fn create(
        target: &Target,
        format: Format,
        schema: Arc<Schema>,
        settings: &WriteSettings,
    ) -> CliResult<OutputWriter> {
        let codec = settings.compression;
        if format == Format::Csv && codec.is_some_and(|c| c != Codec::None) {
            return Err(CliError::usage(format!(
                "--compression {}: CSV output is not compressed",
                codec.map_or("none", Codec::name)
            )));
        }
        if format != Format::Parquet && settings.row_group_rows.is_some() {
            return Err(CliError::usage(
                "--row-group-rows: only Parquet output has row groups",
            ));
        }
        let ipc = WriteOptions {
            compression: match format {
                Format::File | Format::Stream => codec.unwrap_or(Codec::None).ipc()?,
                _ => Compression::None,
            },
            ..WriteOptions::default()
        };
        let parquet = match format {
            Format::Parquet => Some(codec.unwrap_or(Codec::Snappy).parquet()?),
            _ => None,
        };
        let (sink, mut writer) = AtomicOutput::create(target)?;
        let context = sink.context();
        let encoder = match format {
            Format::Stream => {
                let mut encoder = IpcStreamEncoder::new(schema, ipc).context(&context)?;
                let message = encoder.schema_message().context(&context)?;
                message.write_to(&mut writer).context(&context)?;
                FormatEncoder::Stream(writer, encoder)
            }
            Format::File => {
                let mut encoder = IpcFileEncoder::new(schema, ipc).context(&context)?;
                let message = encoder.begin().context(&context)?;
                message.write_to(&mut writer).context(&context)?;
                FormatEncoder::File(writer, encoder)
            }
            Format::Csv => {
                let options = CsvWriteOptions {
                    delimiter: settings
                        .delimiter
                        .unwrap_or_else(|| delimiter_for(target.path())),
                    ..CsvWriteOptions::default()
                };
                let csv = CsvWriter::new(writer, &schema, options)
                    .map_err(|e| write_error(&context, e))?;
                FormatEncoder::Csv(Box::new(csv))
            }
            Format::Parquet => {
                let defaults = ParquetWriteOptions::default();
                let options = ParquetWriteOptions {
                    compression: parquet.unwrap_or(ParquetCompression::Snappy),
                    row_group_rows: settings.row_group_rows.unwrap_or(defaults.row_group_rows),
                    threads: settings.threads.unwrap_or(defaults.threads),
                    ..defaults
                };
                let parquet = ParquetWriter::new(writer, &schema, options)
                    .map_err(|e| write_error(&context, e))?;
                FormatEncoder::Parquet(Box::new(parquet))
            }
        };
        let flush_each = matches!(target, Target::Stdout) && format != Format::Parquet;
        Ok(OutputWriter {
            sink,
            encoder,
            flush_each,
        })
    }

    /// Starts an IPC stream copied from another message by message (see
    /// [`OutputWriter::write_message`]): writes its schema message.
    pub fn create_copy(target: &Target, schema: &IpcMessage) -> CliResult<OutputWriter> {
        let (sink, mut writer) = AtomicOutput::create(target)?;
        writer.write_all(schema.bytes()).context(sink.context())?;
        Ok(OutputWriter {
            sink,
            encoder: FormatEncoder::Copy(writer),
            flush_each: matches!(target, Target::Stdout),
        })
    }

    /// Writes one message of a copied stream as it came (a dictionary or
    /// record batch; the end-of-stream marker is `finish`'s).
    pub fn write_message(&mut self, message: &IpcMessage) -> CliResult<()> {
        let context = self.sink.context();
        let FormatEncoder::Copy(writer) = &mut self.encoder else {
            return Err(CliError::msg(
                "internal error: a message written to an output of tables",
            ));
        };
        writer.write_all(message.bytes()).context(&context)?;
        // Downstream sees each record batch as it is done.
        if self.flush_each
            && matches!(
                message.kind(),
                lightstream_core::MessageKind::RecordBatch { .. }
            )
        {
            writer.flush().context(&context)?;
        }
        Ok(())
    }

    /// Encodes one table (with any dictionary batches it needs) and writes it.
    pub fn write(&mut self, table: &Table) -> CliResult<()> {
        let context = self.sink.context();
        let (writer, messages) = match &mut self.encoder {
            FormatEncoder::Copy(_) => {
                return Err(CliError::msg(
                    "internal error: a table written to a copied stream",
                ));
            }
            FormatEncoder::Stream(writer, encoder) => (writer, encoder.encode_table(table)),
            FormatEncoder::File(writer, encoder) => (writer, encoder.encode_table(table)),
            FormatEncoder::Csv(csv) => {
                return csv.write(table).map_err(|e| write_error(&context, e));
            }
            FormatEncoder::Parquet(parquet) => {
                return parquet.write(table).map_err(|e| write_error(&context, e));
            }
        };
        for message in &messages.context(&context)? {
            message.write_to(writer).context(&context)?;
        }
        if self.flush_each {
            writer.flush().context(&context)?;
        }
        Ok(())
    }

    /// Ends the output (end-of-stream marker, file footer, Parquet footer) and
    /// closes it.
    pub fn finish(self) -> CliResult<()> {
        let context = self.sink.context();
        let writer = match self.encoder {
            FormatEncoder::Copy(mut writer) => {
                let end = IpcMessage::end_of_stream();
                writer.write_all(end.bytes()).context(&context)?;
                writer
            }
            FormatEncoder::Stream(mut writer, mut encoder) => {
                let message = encoder.end_of_stream();
                message.write_to(&mut writer).context(&context)?;
                writer
            }
            FormatEncoder::File(mut writer, mut encoder) => {
                let tail = encoder.finish().context(&context)?;
                writer.write_all(&tail).context(&context)?;
                writer
            }
            FormatEncoder::Csv(csv) => csv.finish().map_err(|e| write_error(&context, e))?,
            FormatEncoder::Parquet(parquet) => {
                parquet.finish().map_err(|e| write_error(&context, e))?
            }
        };
        self.sink.commit(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension() {
        let t = |p: &str| Target::from_arg(Path::new(p)).default_format();
        assert_eq!(t("out.arrow"), Format::File);
        assert_eq!(t("dir/OUT.ARROW"), Format::File);
        assert_eq!(t("out.feather"), Format::File);
        assert_eq!(t("out.arrows"), Format::Stream);
        assert_eq!(t("out.csv"), Format::Csv);
        assert_eq!(t("out.TSV"), Format::Csv);
        assert_eq!(t("out.parquet"), Format::Parquet);
        assert_eq!(t("out.pq"), Format::Parquet);
        assert_eq!(t("out.bin"), Format::Stream);
        assert_eq!(t("out"), Format::Stream);
        assert_eq!(t("-"), Format::Stream);
    }

    #[test]
    fn temporary_file_sits_next_to_the_target() {
        let temp = temporary_path(Path::new("/data/out.arrow"));
        assert_eq!(temp.parent(), Some(Path::new("/data")));
        let name = temp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".out.arrow.lightstream-"), "{name}");
    }
}
