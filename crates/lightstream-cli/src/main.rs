//! `lightstream`: inspect, print, convert and generate Arrow IPC files and streams.
//!
//! What it is for: a thin native shell over `lightstream-core`. The codec does all
//! decoding and encoding; this binary owns the I/O (paths, stdin, stdout), the
//! argument parsing and the text output.
//!
//! Failure policy: every error ends as one line on stderr (`lightstream: ...`) and
//! exit code 1 (2 for a usage error). A closed stdout (`| head`) ends the program
//! quietly with exit code 0. A panic would be a bug; the hook installed in `main`
//! still reduces it to one line and exit code 101.

mod commands;
mod error;
mod example;
mod format;
mod input;
mod output;
mod render;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use lightstream_core::Compression;

use crate::commands::OutputOptions;
use crate::error::{CliError, CliResult};
use crate::input::Format;

#[derive(Parser)]
#[command(
    name = "lightstream",
    version,
    about = "Inspect, print, convert and generate Arrow IPC files and streams",
    long_about = None,
    after_help = "Inputs and outputs may be `-` for stdin/stdout. An input's format (IPC file or \
                  stream) is detected from its bytes."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the schema: each field's name, Arrow type, nullability and metadata
    Schema {
        /// Arrow IPC file or stream (`-` for stdin)
        input: PathBuf,
        /// Show long metadata values in full
        #[arg(long)]
        full: bool,
    },
    /// Print rows as an aligned text table
    Cat {
        /// Arrow IPC file or stream (`-` for stdin)
        input: PathBuf,
        /// Stop after N rows (reads no further than needed)
        #[arg(long, short = 'n', value_name = "N")]
        limit: Option<usize>,
    },
    /// Re-encode an IPC file or stream, as a file or stream, optionally compressed
    Convert {
        /// Arrow IPC file or stream (`-` for stdin)
        input: PathBuf,
        /// Output path (`-` for stdout)
        output: PathBuf,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Write a generated example table (8 columns of common types)
    Example {
        /// Output path (`-` for stdout)
        output: PathBuf,
        /// Number of rows
        #[arg(long, value_name = "N", default_value_t = 1000)]
        rows: usize,
        #[command(flatten)]
        out: OutputArgs,
    },
}

#[derive(Args)]
struct OutputArgs {
    /// Output format (default: from the output's extension, `.arrow` = file,
    /// `.arrows` = stream; stream otherwise)
    #[arg(long, value_enum, value_name = "FORMAT")]
    to: Option<FormatArg>,
    /// Body compression of record batches
    #[arg(long, value_enum, value_name = "CODEC", default_value_t = CompressionArg::None)]
    compression: CompressionArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// Arrow IPC stream format
    Stream,
    /// Arrow IPC file format (random access, with footer)
    File,
}

#[derive(Clone, Copy, ValueEnum)]
enum CompressionArg {
    None,
    Zstd,
    Lz4,
}

impl OutputArgs {
    fn options(&self) -> OutputOptions {
        OutputOptions {
            format: self.to.map(|f| match f {
                FormatArg::Stream => Format::Stream,
                FormatArg::File => Format::File,
            }),
            compression: match self.compression {
                CompressionArg::None => Compression::None,
                CompressionArg::Zstd => Compression::Zstd,
                CompressionArg::Lz4 => Compression::Lz4Frame,
            },
        }
    }
}

fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Schema { input, full } => commands::schema(&input, full),
        Command::Cat { input, limit } => commands::cat(&input, limit),
        Command::Convert { input, output, out } => {
            commands::convert(&input, &output, &out.options())
        }
        Command::Example { output, rows, out } => commands::example(&output, rows, &out.options()),
    }
}

fn main() -> ExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    match run(cli) {
        Ok(()) | Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(CliError::Failed(message)) => {
            let _ = writeln!(io::stderr(), "lightstream: {}", single_line(&message));
            ExitCode::FAILURE
        }
    }
}

/// Help and version go to stdout (exit 0). A usage mistake becomes one line on
/// stderr (exit 2), with clap's hints folded into it.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = write!(io::stdout(), "{}", err.render());
            ExitCode::SUCCESS
        }
        // `lightstream` alone: the help is the most useful answer.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = write!(io::stderr(), "{}", err.render());
            ExitCode::from(2)
        }
        _ => {
            let _ = writeln!(
                io::stderr(),
                "lightstream: {}",
                one_line(&err.render().to_string())
            );
            ExitCode::from(2)
        }
    }
}

/// Clap's multi-line error as one line: the message and its hints, without the
/// usage block.
fn one_line(rendered: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        // The usage block and the generic "try '--help'" add nothing on one line.
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        parts.push(line.strip_prefix("error: ").unwrap_or(line));
    }
    let mut text = String::new();
    for part in &parts {
        if !text.is_empty() {
            text.push_str(if text.ends_with(':') { " " } else { "; " });
        }
        text.push_str(part);
    }
    if parts.len() == 1 {
        text.push_str(" (see `lightstream --help`)");
    }
    text
}

/// Messages from deeper layers (a flatbuffer verifier, the OS) may span lines;
/// stderr gets one.
fn single_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

/// Last resort: a bug that panics still ends as one line and exit code 101.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("unknown failure");
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            io::stderr(),
            "lightstream: internal error: {message}{location} (this is a bug, please report it)"
        );
        std::process::exit(101);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_fit_on_one_line() {
        let err =
            Cli::try_parse_from(["lightstream", "convert", "a", "b", "--compression", "gzip"])
                .err()
                .expect("an invalid value is an error");
        let line = one_line(&err.render().to_string());
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("gzip"), "{line}");
        assert!(line.contains("zstd"), "possible values are listed: {line}");
    }

    #[test]
    fn errors_print_on_one_line() {
        assert_eq!(
            single_line("bad flatbuffer: unaligned.\n\n\twhile verifying\n [message 0]"),
            "bad flatbuffer: unaligned. while verifying [message 0]"
        );
        assert_eq!(single_line("plain"), "plain");
    }

    #[test]
    fn output_options() {
        let cli = Cli::try_parse_from([
            "lightstream",
            "convert",
            "-",
            "-",
            "--to",
            "file",
            "--compression",
            "lz4",
        ])
        .expect("valid arguments");
        let Command::Convert { input, output, out } = cli.command else {
            panic!("convert expected");
        };
        assert_eq!(input, PathBuf::from("-"));
        assert_eq!(output, PathBuf::from("-"));
        let options = out.options();
        assert_eq!(options.format, Some(Format::File));
        assert!(matches!(options.compression, Compression::Lz4Frame));
    }
}
