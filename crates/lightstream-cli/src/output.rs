//! Writing tables as an Arrow IPC file or stream to a path or stdout.
//!
//! What it is for: the I/O half of `convert` and `example`. The codec's encoders
//! produce messages that borrow the tables' column buffers; each message is written
//! straight into a buffered writer (`EncodedMessage::write_to`), table by table, so
//! nothing accumulates in memory.
//!
//! A path is written through a temporary file next to it and renamed into place on
//! success: a failed run leaves no half-written file behind, and converting a file
//! onto itself does not destroy the input while it is still being read.
//!
//! What it is not: an encoder. Every byte comes from `lightstream-core`.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lightstream_core::minarrow::Table;
use lightstream_core::{IpcFileEncoder, IpcStreamEncoder, Schema, WriteOptions};

use crate::error::{CliError, CliResult, CoreContext, IoContext};
use crate::input::Format;

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

    /// The format a path's extension asks for: `.arrow` (and `.feather`, the same
    /// format) is a file, anything else (`.arrows`, stdout) a stream.
    pub fn default_format(&self) -> Format {
        let Target::Path(path) = self else {
            return Format::Stream;
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext)
                if ext.eq_ignore_ascii_case("arrow") || ext.eq_ignore_ascii_case("feather") =>
            {
                Format::File
            }
            _ => Format::Stream,
        }
    }
}

/// A byte sink that is either stdout or a path being written via a temporary file.
struct Sink {
    writer: BufWriter<Box<dyn Write>>,
    name: String,
    /// (temporary file, final path) while a path is being written.
    rename: Option<(PathBuf, PathBuf)>,
}

impl Sink {
    fn create(target: &Target) -> CliResult<Sink> {
        let name = target.name();
        match target {
            Target::Stdout => Ok(Sink {
                writer: BufWriter::with_capacity(1 << 16, Box::new(io::stdout().lock())),
                name,
                rename: None,
            }),
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
                let (file, rename) = if replaceable {
                    let temp = temporary_path(path);
                    let file = File::create(&temp).context(context())?;
                    (file, Some((temp, path.clone())))
                } else {
                    (File::create(path).context(context())?, None)
                };
                Ok(Sink {
                    writer: BufWriter::with_capacity(1 << 16, Box::new(file)),
                    name,
                    rename,
                })
            }
        }
    }

    fn context(&self) -> String {
        format!("writing {}", self.name)
    }

    /// Flushes, and moves a temporary file into place.
    fn commit(mut self) -> CliResult<()> {
        self.writer.flush().context(self.context())?;
        if let Some((temp, path)) = self.rename.take()
            && let Err(e) = fs::rename(&temp, &path)
        {
            let _ = fs::remove_file(&temp);
            return Err(CliError::io(self.context(), e));
        }
        Ok(())
    }
}

impl Drop for Sink {
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

enum Encoder {
    Stream(IpcStreamEncoder),
    File(IpcFileEncoder),
}

/// Encodes tables into an IPC file or stream as they are given.
pub struct TableWriter {
    sink: Sink,
    encoder: Encoder,
    /// Flush after every table (stdout: downstream sees each table as it is done).
    flush_each: bool,
}

impl TableWriter {
    /// Starts the output: writes the schema (and, for a file, the magic).
    pub fn create(
        target: &Target,
        format: Format,
        schema: Arc<Schema>,
        options: WriteOptions,
    ) -> CliResult<TableWriter> {
        let mut sink = Sink::create(target)?;
        let context = sink.context();
        let encoder = match format {
            Format::Stream => {
                let mut encoder = IpcStreamEncoder::new(schema, options).context(&context)?;
                let message = encoder.schema_message().context(&context)?;
                message.write_to(&mut sink.writer).context(&context)?;
                Encoder::Stream(encoder)
            }
            Format::File => {
                let mut encoder = IpcFileEncoder::new(schema, options).context(&context)?;
                let message = encoder.begin().context(&context)?;
                message.write_to(&mut sink.writer).context(&context)?;
                Encoder::File(encoder)
            }
        };
        let flush_each = matches!(target, Target::Stdout);
        Ok(TableWriter {
            sink,
            encoder,
            flush_each,
        })
    }

    /// Encodes one table (with any dictionary batches it needs) and writes it.
    pub fn write(&mut self, table: &Table) -> CliResult<()> {
        let context = self.sink.context();
        let messages = match &mut self.encoder {
            Encoder::Stream(encoder) => encoder.encode_table(table),
            Encoder::File(encoder) => encoder.encode_table(table),
        }
        .context(&context)?;
        for message in &messages {
            message.write_to(&mut self.sink.writer).context(&context)?;
        }
        if self.flush_each {
            self.sink.writer.flush().context(&context)?;
        }
        Ok(())
    }

    /// Ends the output (end-of-stream marker, or the file footer) and closes it.
    pub fn finish(mut self) -> CliResult<()> {
        let context = self.sink.context();
        match &mut self.encoder {
            Encoder::Stream(encoder) => {
                let message = encoder.end_of_stream();
                message.write_to(&mut self.sink.writer).context(&context)?;
            }
            Encoder::File(encoder) => {
                let tail = encoder.finish().context(&context)?;
                self.sink.writer.write_all(&tail).context(&context)?;
            }
        }
        self.sink.commit()
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
