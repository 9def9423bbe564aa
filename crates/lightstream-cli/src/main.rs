//! `lightstream`: inspect, print, convert and generate Arrow IPC files and streams,
//! and stream them over TCP, TLS, Unix sockets, WebSocket, QUIC, HTTP, Arrow
//! Flight and stdio.
//!
//! What it is for: a thin native shell over `lightstream-core` (the codec does all
//! decoding and encoding) and `lightstream` (the transports of `serve`, `recv`,
//! `send` and `listen`); this binary owns the file and stdio I/O, the argument
//! parsing and the text output.
//!
//! Failure policy: every error ends as one line on stderr (`lightstream: ...`) and
//! exit code 1 (2 for a usage error). A closed stdout (`| head`) ends the program
//! quietly with exit code 0. A transfer stopped by Ctrl-C / SIGINT / SIGTERM ends
//! with `lightstream: interrupted` and exit code 130 (`serve` without `--once` is
//! meant to be stopped that way, and exits 0). A panic would be a bug; the hook
//! installed in `main` still reduces it to one line and exit code 101.

mod access;
mod commands;
mod demo;
mod error;
mod example;
mod feed;
mod flight;
mod format;
mod heap;
mod input;
mod network;
mod output;
mod progress;
mod render;
mod rng;
mod threads;

use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use lightstream::Endpoint;
use lightstream::csv::{BadRowPolicy, StringNulls};
use lightstream_core::Compression;

use crate::commands::OutputOptions;
use crate::error::{CliError, CliResult};
use crate::input::{Columns, Format, InputOptions};
use crate::network::{ClientTls, ServerTls};
use crate::output::{Codec, WriteSettings};

#[derive(Parser)]
#[command(
    name = "lightstream",
    version,
    about = "Inspect, print, convert, generate and stream Arrow IPC files and streams, CSV and \
             Parquet",
    long_about = None,
    after_help = "Inputs and outputs may be `-` for stdin/stdout. An input's format is --from, \
                  else its extension (.arrow/.feather IPC file, .arrows IPC stream, .csv/.tsv \
                  CSV, .parquet/.pq Parquet), else its bytes (Parquet, IPC file or IPC \
                  stream).\n\n\
                  URLs of serve, recv, send and listen: tcp://host:port, tls://host:port, \
                  unix:///path/to/socket, ws://host:port/path, wss://host:port/path, \
                  quic://host:port, http(s)://host:port/path, grpc://host:port and \
                  grpc+tls://host:port (Arrow Flight: recv --ticket, send --path, serve offers \
                  each FILE as a flight, listen takes one DoPut), or `-` for stdin/stdout. Port 0 \
                  picks a free port; serve and listen print `listening on <url>` on stderr once \
                  bound.\n\n\
                  TLS (quic://, tls://, wss://, https://, grpc+tls://): servers take --cert/--key (PEM), else make a \
                  self-signed certificate for localhost; clients take --ca FILE (trust its PEM \
                  certificates) or --insecure, else tls:// and wss:// trust the built-in webpki \
                  roots and quic:// asks for one of the two."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the schema: each field's name, Arrow type, nullability and metadata
    Schema {
        /// Arrow IPC file or stream, CSV or Parquet file (`-` for stdin)
        input: PathBuf,
        #[command(flatten)]
        from: InputArgs,
        /// Show long metadata values in full
        #[arg(long)]
        full: bool,
    },
    /// Print rows as an aligned text table
    Cat {
        /// Arrow IPC file or stream, CSV or Parquet file (`-` for stdin)
        input: PathBuf,
        #[command(flatten)]
        from: InputArgs,
        /// Stop after N rows (reads no further than needed)
        #[arg(long, short = 'n', value_name = "N")]
        limit: Option<usize>,
        /// Show only these columns, in this order (comma-separated names);
        /// default: every column lightstream can read (the others are named
        /// on stderr)
        #[arg(long, value_name = "NAMES", value_delimiter = ',')]
        columns: Option<Vec<String>>,
    },
    /// Convert between Arrow IPC file and stream, CSV and Parquet, streaming
    /// (memory stays bounded by a batch, or a row group for Parquet). An IPC
    /// stream to an IPC stream (every column, no --compression) is copied
    /// message by message without decoding, so it carries any Arrow type
    Convert {
        /// Arrow IPC file or stream, CSV or Parquet file (`-` for stdin)
        input: PathBuf,
        /// Output path (`-` for stdout); its extension picks the format
        output: PathBuf,
        #[command(flatten)]
        from: InputArgs,
        #[command(flatten)]
        out: OutputArgs,
        #[command(flatten)]
        columns: ColumnArgs,
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
    /// Listen and send an IPC file or stream, CSV or Parquet file (as an Arrow
    /// IPC stream) to every client that connects, until interrupted; with `-`,
    /// standard input is a live feed (see `relay`). Over grpc:// each FILE is
    /// a flight (ticket: its file name)
    Serve {
        /// Where to listen: tcp://host:port, tls://host:port, unix:///path,
        /// ws://host:port/path, wss://host:port/path, quic://host:port,
        /// http(s)://host:port/path, grpc://host:port, grpc+tls://host:port,
        /// or `-` (stdout); with `-` as the input also nats://host/subject
        /// (publishes the feed on NATS instead of listening)
        #[arg(value_parser = parse_endpoint)]
        url: Endpoint,
        /// Arrow IPC file or stream, CSV or Parquet file to send whole to each
        /// client (grpc://: one or more, each a flight whose ticket is its
        /// file name); `-`: an IPC stream on stdin as a live feed (every
        /// message to every client connected; ends when stdin ends; `relay -
        /// URL`)
        #[arg(required = true, value_name = "INPUT")]
        input: Vec<PathBuf>,
        #[command(flatten)]
        feed: FeedArgs,
        /// Exit after the first client (its failure is then the command's failure)
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        compression: StreamCompressionArgs,
        #[command(flatten)]
        tls: ServerTlsArgs,
        /// Drop a client that takes no data for SECONDS (and one whose
        /// handshake takes longer); 0: wait forever
        #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = parse_timeout)]
        timeout: Timeout,
        #[command(flatten)]
        rate: MinRateArgs,
        #[command(flatten)]
        framing: FramingArgs,
        /// Clients served at once. One more is turned away at once: ws:// and
        /// wss:// answer 503 with Retry-After, other transports close the
        /// connection; one line on stderr each. A client that stops reading
        /// keeps its slot until --timeout drops it
        #[arg(long, value_name = "N", default_value_t = 128,
              value_parser = clap::value_parser!(u32).range(1..=65_536))]
        max_clients: u32,
    },
    /// Fan one live Arrow IPC stream out to every client of a listening URL:
    /// each message read once and shared (never decoded: any Arrow type
    /// passes); late clients get the schema, the dictionaries as they stand,
    /// --replay tables, then live data; ends when the source ends
    Relay {
        /// Where the feed comes from: tcp://, tls://, unix://, ws://, wss://,
        /// quic://, http(s)://, grpc:// (with --ticket), grpc+tls://,
        /// nats:// (connects as a client), an IPC stream file (or an IPC file, CSV or Parquet
        /// file: read as tables), or `-` (an IPC stream on stdin)
        #[arg(value_parser = feed::Source::from_arg)]
        source: feed::Source,
        /// Where to listen: tcp://host:port, tls://host:port, unix:///path,
        /// ws://host:port/path, wss://host:port/path, quic://host:port,
        /// http(s)://host:port/path; or nats://host/subject (publishes the
        /// feed on NATS instead of listening)
        #[arg(value_parser = parse_endpoint)]
        url: Endpoint,
        #[command(flatten)]
        feed: FeedArgs,
        #[command(flatten)]
        tls: ServerTlsArgs,
        #[command(flatten)]
        upstream_tls: ClientTlsArgs,
        #[command(flatten)]
        ticket: flight::TicketArgs,
        /// Upstream ws://, wss://, http(s)://, grpc://, grpc+tls://: send the
        /// bearer token in FILE (its first line that is not empty or a `#`
        /// comment), as `recv --token-file` does (--token-file is the
        /// listening side's)
        #[arg(long = "upstream-token-file", value_name = "FILE")]
        upstream_token_file: Option<PathBuf>,
        /// nats:// source (JetStream): record where the relay is (bookmark
        /// NAME, every second) and, started again with the same NAME, read on
        /// from there: no table lost across a restart (the URL's
        /// `?resume=NAME`). Without it a relay joins the feed live
        #[arg(long, value_name = "NAME")]
        resume: Option<String>,
        /// Drop a client that takes no data for SECONDS (and one whose
        /// handshake takes longer; with --slow block, the longest one client
        /// holds the feed back); 0: wait forever
        #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = parse_timeout)]
        timeout: Timeout,
        /// Clients served at once; one more is turned away at once (ws:// and
        /// wss:// answer 503 with Retry-After, other transports close)
        #[arg(long, value_name = "N", default_value_t = 128,
              value_parser = clap::value_parser!(u32).range(1..=65_536))]
        max_clients: u32,
    },
    /// Connect, receive one stream and write it as an IPC file or stream, CSV
    /// or Parquet. Written as an IPC stream with every column, it is copied
    /// message by message without decoding (any Arrow type passes)
    Recv {
        /// Where to connect: tcp://host:port, tls://host:port, unix:///path,
        /// ws://host:port/path, wss://host:port/path, quic://host:port,
        /// http(s)://host:port/path, grpc://host:port (with --ticket),
        /// grpc+tls://host:port, or `-` (stdin)
        #[arg(value_parser = parse_endpoint)]
        url: Endpoint,
        /// Output path (`-` for stdout)
        output: PathBuf,
        #[command(flatten)]
        to: FormatArgs,
        #[command(flatten)]
        columns: ColumnArgs,
        #[command(flatten)]
        tls: ClientTlsArgs,
        #[command(flatten)]
        ticket: flight::TicketArgs,
        #[command(flatten)]
        token: access::TokenArg,
        /// Fail when no data arrives for SECONDS (also bounds the handshake and
        /// the wait for the schema); default: wait forever
        #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = parse_timeout)]
        timeout: Timeout,
        #[command(flatten)]
        rate: MinRateArgs,
        #[command(flatten)]
        framing: FramingArgs,
    },
    /// Connect and send an IPC file or stream, CSV or Parquet file (as an Arrow
    /// IPC stream)
    Send {
        /// Where to connect: tcp://host:port, tls://host:port, unix:///path,
        /// ws://host:port/path, wss://host:port/path, quic://host:port,
        /// http(s)://host:port/path, grpc://host:port (DoPut),
        /// grpc+tls://host:port, or `-` (stdout)
        #[arg(value_parser = parse_endpoint)]
        url: Endpoint,
        /// Arrow IPC file or stream, CSV or Parquet file to send (`-` for stdin)
        input: PathBuf,
        #[command(flatten)]
        compression: StreamCompressionArgs,
        #[command(flatten)]
        tls: ClientTlsArgs,
        #[command(flatten)]
        descriptor: flight::PathArgs,
        #[command(flatten)]
        token: access::TokenArg,
        /// Fail when the peer takes no data for SECONDS (also bounds the
        /// handshake); default: wait forever
        #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = parse_timeout)]
        timeout: Timeout,
        #[command(flatten)]
        rate: MinRateArgs,
        #[command(flatten)]
        framing: FramingArgs,
    },
    /// Listen, receive one stream from the first client (grpc://: the first
    /// DoPut), write it (IPC file or stream, CSV or Parquet) and exit. Written
    /// as an IPC stream with every column, it is copied message by message
    /// without decoding (any Arrow type passes)
    Listen {
        /// Where to listen: tcp://host:port, tls://host:port, unix:///path,
        /// ws://host:port/path, wss://host:port/path, quic://host:port,
        /// http(s)://host:port/path, grpc://host:port, grpc+tls://host:port,
        /// or `-` (stdin)
        #[arg(value_parser = parse_endpoint)]
        url: Endpoint,
        /// Output path (`-` for stdout)
        output: PathBuf,
        #[command(flatten)]
        to: FormatArgs,
        #[command(flatten)]
        columns: ColumnArgs,
        #[command(flatten)]
        tls: ServerTlsArgs,
        /// Fail when no data arrives for SECONDS once a client is connected
        /// (also bounds its handshake and the wait for the schema); default:
        /// wait forever
        #[arg(long, value_name = "SECONDS", default_value = "0", value_parser = parse_timeout)]
        timeout: Timeout,
        #[command(flatten)]
        rate: MinRateArgs,
        #[command(flatten)]
        framing: FramingArgs,
    },
    /// Serve the browser demo on one port: the page, the npm package, and a
    /// WebSocket stream of generated tables, until interrupted
    Demo(demo::DemoArgs),
}

/// The terms of a live feed (`serve URL -`, `relay`), each client's.
#[derive(Args)]
struct FeedArgs {
    /// Live feed: what happens to a client more than --max-lag behind:
    /// `disconnect` (its stream ends between two messages; one line on
    /// stderr), `skip` (the tables queued for it are dropped and missed
    /// dictionaries re-sent: it goes on from the newest) or `block` (the feed
    /// waits for it: lossless, each write bounded by --timeout) [default:
    /// disconnect]
    #[arg(long, value_name = "POLICY", value_parser = parse_slow)]
    slow: Option<lightstream::hub::SlowPolicy>,
    /// Live feed: bytes of messages that may wait for one client (suffix K, M
    /// or G for KiB, MiB, GiB) [default: 16M]
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    max_lag: Option<usize>,
    /// Live feed: tables a client that connects late first receives from
    /// before it joined (with their dictionaries) [default: 0]
    #[arg(long, value_name = "N")]
    replay: Option<usize>,
    /// Live feed: wait until N clients are connected before reading the
    /// source (a file relayed to a known audience, a test) [default: 0]
    #[arg(long, value_name = "N")]
    wait_for: Option<usize>,
}

impl FeedArgs {
    fn given(&self) -> bool {
        self.slow.is_some()
            || self.max_lag.is_some()
            || self.replay.is_some()
            || self.wait_for.is_some()
    }

    fn options(&self, max_clients: u32, timeout: Timeout) -> feed::FeedOptions {
        let defaults = lightstream::hub::SubscribeOptions::default();
        feed::FeedOptions {
            policy: self.slow.unwrap_or(defaults.policy),
            max_lag: self.max_lag.unwrap_or(defaults.max_lag),
            replay: self.replay.unwrap_or(0),
            wait_for: self.wait_for.unwrap_or(0),
            max_clients,
            timeout: timeout.0,
        }
    }
}

/// `--slow`: a slow-subscriber policy.
fn parse_slow(arg: &str) -> Result<lightstream::hub::SlowPolicy, String> {
    arg.parse().map_err(|e| match e {
        lightstream::Error::Config(message) => message,
        other => other.to_string(),
    })
}

/// A number of bytes: digits with an optional suffix K, M or G (KiB, MiB,
/// GiB; `KiB`, `MB`... and lower case are read the same), at most 1 TiB.
fn parse_size(arg: &str) -> Result<usize, String> {
    let bad = || format!("{arg:?} is not a size: a number of bytes, or with K, M or G (e.g. 16M)");
    let text = arg.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(bad()),
    };
    number
        .checked_mul(1 << shift)
        .filter(|&n| n <= 1 << 40)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("{arg:?} is more than 1 TiB"))
}

#[derive(Args)]
struct OutputArgs {
    #[command(flatten)]
    to: FormatArgs,
    #[command(flatten)]
    compression: CompressionArgs,
    /// Parquet output: the most rows in one row group (default 1048576, as
    /// pyarrow). Writing holds one row group of encoded pages in memory
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    row_group_rows: Option<u64>,
}

/// Which columns `convert`, `recv` and `listen` write. By default every
/// column, and a column whose type lightstream cannot read yet is an error
/// naming it.
#[derive(Args)]
struct ColumnArgs {
    /// Keep only these columns, in this order (comma-separated names, or the
    /// option repeated)
    #[arg(
        long,
        value_name = "NAMES",
        value_delimiter = ',',
        conflicts_with = "skip_unsupported"
    )]
    columns: Option<Vec<String>>,
    /// Leave out the columns whose type lightstream cannot read yet (each is
    /// named on stderr) instead of refusing the input
    #[arg(long)]
    skip_unsupported: bool,
}

impl ColumnArgs {
    fn columns(self) -> Columns {
        match (self.columns, self.skip_unsupported) {
            (Some(names), _) => Columns::Named(names),
            (None, true) => Columns::Supported,
            (None, false) => Columns::All,
        }
    }
}

#[derive(Args)]
struct FormatArgs {
    /// Output format (default: from the output's extension: `.arrow`/`.feather`
    /// file, `.arrows` stream, `.csv`/`.tsv` csv, `.parquet`/`.pq` parquet;
    /// stream otherwise)
    #[arg(long, value_enum, value_name = "FORMAT")]
    to: Option<FormatArg>,
}

#[derive(Args)]
struct CompressionArgs {
    /// Compression: of record batch bodies for Arrow IPC (zstd, lz4; default
    /// none), of pages for Parquet (zstd, snappy; default snappy)
    #[arg(long, value_enum, value_name = "CODEC")]
    compression: Option<CompressionArg>,
}

/// `--framing` of the network commands.
#[derive(Args)]
struct FramingArgs {
    /// How the stream travels on tcp://, tls://, unix:// and `-`: `ipc`, the
    /// Arrow IPC stream format byte for byte; `tlv`, one IPC message per TLV
    /// frame of tag 1 (docs/native-api.md)
    #[arg(long, value_enum, value_name = "FRAMING", default_value_t = FramingArg::Ipc)]
    framing: FramingArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum FramingArg {
    Ipc,
    Tlv,
}

impl FramingArgs {
    fn framing(&self) -> network::Framing {
        match self.framing {
            FramingArg::Ipc => network::Framing::Ipc,
            FramingArg::Tlv => network::Framing::Tlv,
        }
    }
}

/// `--compression` of `serve` and `send`: what goes on the wire is an Arrow
/// IPC stream, so only its body codecs.
#[derive(Args)]
struct StreamCompressionArgs {
    /// Compression of record batch bodies (zstd, lz4; default none)
    #[arg(long, value_enum, value_name = "CODEC")]
    compression: Option<StreamCompressionArg>,
}

#[derive(Clone, Copy, ValueEnum)]
enum StreamCompressionArg {
    None,
    Zstd,
    Lz4,
}

impl StreamCompressionArgs {
    fn compression(&self) -> Compression {
        match self.compression {
            None | Some(StreamCompressionArg::None) => Compression::None,
            Some(StreamCompressionArg::Zstd) => Compression::Zstd,
            Some(StreamCompressionArg::Lz4) => Compression::Lz4Frame,
        }
    }
}

#[derive(Args)]
struct InputArgs {
    /// Input format (default: from the extension, else detected from the bytes)
    #[arg(long, value_enum, value_name = "FORMAT")]
    from: Option<FormatArg>,
    /// CSV input: the field delimiter, one ASCII character or `tab` (default:
    /// tab for .tsv, else comma)
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    delimiter: Option<u8>,
    /// CSV input: the first line is data, not column names (columns are named
    /// f0, f1, ...)
    #[arg(long)]
    no_header: bool,
    /// CSV input: what to do with a row that does not convert (a cell that does
    /// not parse as its column's type, a ragged row): fail naming its line and
    /// column, read the cell as null, or skip the row. Dropped rows and nulled
    /// cells are counted on stderr
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = BadRowsArg::Error)]
    bad_rows: BadRowsArg,
    /// CSV input: how a null differs from an empty string in a text column.
    /// `unquoted`: an empty unquoted field is null and `""` the empty string,
    /// and in a one-column file an empty line is a null row (how Lightstream,
    /// pyarrow and Polars write them). `quoting-ignored`: the earlier reading
    /// (pyarrow's read_csv defaults): every empty text field is an empty
    /// string and blank lines are skipped
    #[arg(long, value_enum, value_name = "RULE", default_value_t = StringNullsArg::Unquoted)]
    string_nulls: StringNullsArg,
    /// Threads that decode a file input (Parquet: the columns of up to N
    /// batches at once, so up to N batches are held decoded; a CSV file: in
    /// pieces, with the values, row order, errors and counts of one thread;
    /// pipes are read by one thread) and, for `convert`, that encode the
    /// columns of Parquet output (the same file as one thread's); 1 decodes
    /// and encodes on one thread [default: every core]
    #[arg(long, value_name = "N")]
    threads: Option<NonZeroUsize>,
}

#[derive(Clone, Copy, ValueEnum)]
enum BadRowsArg {
    Error,
    Null,
    Skip,
}

#[derive(Clone, Copy, ValueEnum)]
enum StringNullsArg {
    Unquoted,
    QuotingIgnored,
}

/// `--min-rate`: see [`network::Patience`].
#[derive(Args)]
struct MinRateArgs {
    /// With --timeout: a message still arriving (or being taken by the peer)
    /// gets more time than --timeout while it moves at least BYTES per second
    /// on average; 0: every message must complete within --timeout
    #[arg(long, value_name = "BYTES", default_value_t = MinRateArgs::DEFAULT)]
    min_rate: u64,
}

impl MinRateArgs {
    const DEFAULT: u64 = 16 * 1024;

    fn with(self, timeout: Timeout) -> network::Patience {
        network::Patience {
            timeout: timeout.0,
            min_rate: Some(self.min_rate).filter(|&r| r > 0),
        }
    }
}

/// `--timeout`: how long a peer may take for one whole IPC message (and a
/// handshake); `None` waits forever.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Timeout(Option<std::time::Duration>);

/// `--timeout SECONDS`: a non-negative number of seconds (fractions allowed, at
/// most a day); 0 means no timeout.
fn parse_timeout(arg: &str) -> Result<Timeout, String> {
    let secs: f64 = arg
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && (0.0..=86_400.0).contains(s))
        .ok_or_else(|| {
            format!("{arg:?} is not a number of seconds from 0 (no timeout) to 86400")
        })?;
    Ok(Timeout(
        (secs > 0.0).then(|| std::time::Duration::from_secs_f64(secs)),
    ))
}

/// `--delimiter`: one ASCII character, or `tab` / `\t`.
fn parse_delimiter(arg: &str) -> Result<u8, String> {
    match arg {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ => match arg.as_bytes() {
            [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' && *b != b'"' => Ok(*b),
            _ => Err(format!(
                "{arg:?} is not a delimiter: give one ASCII character other than a quote \
                 or a newline, or `tab`"
            )),
        },
    }
}

#[derive(Args)]
struct ServerTlsArgs {
    /// quic://, tls://, wss://, https://: the server's certificate chain
    /// (PEM). Without --cert and --key, a self-signed certificate for
    /// localhost, 127.0.0.1 and ::1 is made
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// quic://, tls://, wss://, https://: the private key of --cert (PEM)
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    #[command(flatten)]
    access: access::AccessArgs,
}

#[derive(Args)]
struct ClientTlsArgs {
    /// quic://, tls://, wss://, https://: accept any server certificate
    /// (encrypted, not authenticated: for localhost and tests)
    #[arg(long, conflicts_with = "ca")]
    insecure: bool,
    /// quic://, tls://, wss://, https://: trust the CA or server
    /// certificate(s) in this PEM file (without --ca or --insecure, tls://,
    /// wss:// and https:// trust the built-in webpki roots; quic:// needs one
    /// of the two)
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

/// A URL argument as an [`Endpoint`]; a bad one is a usage error that says why.
/// A live feed published on NATS (`serve nats://… -`, `relay SOURCE
/// nats://…`) has no hub: its readers join, lag and resume on NATS's terms.
fn nats_target_takes_no_hub_flags(url: &Endpoint, given: bool) -> CliResult<()> {
    if given && matches!(url, Endpoint::Nats { .. }) {
        return Err(CliError::usage(format!(
            "--slow, --max-lag, --replay and --wait-for apply to a hub's clients, not to a \
             feed published on {url} (NATS readers join and resume on their own: \
             docs/nats.md)"
        )));
    }
    Ok(())
}

fn parse_endpoint(arg: &str) -> Result<Endpoint, String> {
    arg.parse::<Endpoint>().map_err(|e| match e {
        lightstream::Error::Config(message) => message,
        other => other.to_string(),
    })
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// Arrow IPC stream format
    Stream,
    /// Arrow IPC file format (random access, with footer)
    File,
    /// CSV (RFC 4180)
    Csv,
    /// Apache Parquet
    Parquet,
}

impl FormatArg {
    fn format(self) -> Format {
        match self {
            FormatArg::Stream => Format::Stream,
            FormatArg::File => Format::File,
            FormatArg::Csv => Format::Csv,
            FormatArg::Parquet => Format::Parquet,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum CompressionArg {
    None,
    Zstd,
    Lz4,
    Snappy,
}

impl OutputArgs {
    fn options(&self) -> OutputOptions {
        OutputOptions {
            format: self.to.format(),
            settings: WriteSettings {
                compression: self.compression.codec(),
                delimiter: None,
                row_group_rows: self
                    .row_group_rows
                    .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
                threads: None,
            },
        }
    }
}

impl FormatArgs {
    fn format(&self) -> Option<Format> {
        self.to.map(FormatArg::format)
    }
}

impl InputArgs {
    fn options(&self) -> InputOptions {
        InputOptions {
            from: self.from.map(FormatArg::format),
            delimiter: self.delimiter,
            no_header: self.no_header,
            bad_rows: match self.bad_rows {
                BadRowsArg::Error => BadRowPolicy::Error,
                BadRowsArg::Null => BadRowPolicy::Null,
                BadRowsArg::Skip => BadRowPolicy::Skip,
            },
            string_nulls: match self.string_nulls {
                StringNullsArg::Unquoted => StringNulls::Unquoted,
                StringNullsArg::QuotingIgnored => StringNulls::QuotingIgnored,
            },
            // schema, cat and convert consume batches one by one.
            compact_dictionaries: true,
            threads: self.threads,
        }
    }
}

impl CompressionArgs {
    fn codec(&self) -> Option<Codec> {
        self.compression.map(|c| match c {
            CompressionArg::None => Codec::None,
            CompressionArg::Zstd => Codec::Zstd,
            CompressionArg::Lz4 => Codec::Lz4,
            CompressionArg::Snappy => Codec::Snappy,
        })
    }
}

impl ServerTlsArgs {
    fn tls(self) -> CliResult<ServerTls> {
        let access = if self.access.given() {
            Some(self.access.access(&[])?)
        } else {
            None
        };
        Ok(ServerTls {
            // clap makes --cert and --key require each other.
            cert_key: self.cert.zip(self.key),
            access,
        })
    }
}

impl ClientTlsArgs {
    fn tls(self) -> ClientTls {
        ClientTls {
            insecure: self.insecure,
            ca: self.ca,
            ..ClientTls::default()
        }
    }

    /// With the bearer token of `--token-file` (`recv`, `send`).
    fn with_token(self, token: &access::TokenArg) -> CliResult<ClientTls> {
        Ok(ClientTls {
            token: token.token()?,
            ..self.tls()
        })
    }
}

fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Schema { input, from, full } => commands::schema(&input, &from.options(), full),
        Command::Cat {
            input,
            from,
            limit,
            columns,
        } => {
            let columns = columns.map_or(Columns::Supported, Columns::Named);
            commands::cat(&input, &from.options(), &columns, limit)
        }
        Command::Convert {
            input,
            output,
            from,
            out,
            columns,
        } => {
            let from = from.options();
            let mut out = out.options();
            // `--threads` decodes a file input and encodes Parquet output.
            out.settings.threads = Some(from.decode_threads());
            commands::convert(&input, &from, &columns.columns(), &output, &out)
        }
        Command::Example { output, rows, out } => commands::example(&output, rows, &out.options()),
        Command::Serve {
            url,
            input,
            feed,
            once,
            compression,
            tls,
            timeout,
            rate,
            max_clients,
            framing,
        } => {
            let live = input.iter().any(|i| i.as_os_str() == "-");
            if input.len() > 1 && (live || !flight::is_flight(&url)) {
                return Err(CliError::usage(if live {
                    "`-` (a live feed) is the only input of its `serve`".to_string()
                } else {
                    format!(
                        "several inputs are served over grpc:// and grpc+tls:// only (a \
                         flight each), not over {url}"
                    )
                }));
            }
            if !live {
                if feed.given() {
                    return Err(CliError::usage(
                        "--slow, --max-lag and --replay apply to a live feed (`serve URL -`, \
                         `relay`), not to a file sent whole to each client",
                    ));
                }
                return network::serve(
                    url,
                    &input,
                    network::Admission { once, max_clients },
                    compression.compression(),
                    &tls.tls()?,
                    rate.with(timeout),
                    framing.framing(),
                );
            }
            let refused = [
                (once, "--once"),
                (compression.compression.is_some(), "--compression"),
                (framing.framing() != network::Framing::Ipc, "--framing tlv"),
                (rate.min_rate != MinRateArgs::DEFAULT, "--min-rate"),
            ];
            if let Some((_, flag)) = refused.iter().find(|(given, _)| *given) {
                return Err(CliError::usage(format!(
                    "{flag} does not apply to a live feed (`serve URL -`): its messages go \
                     to every client as they come"
                )));
            }
            nats_target_takes_no_hub_flags(&url, feed.given())?;
            feed::relay(
                feed::Source::Stdin,
                url,
                feed.options(max_clients, timeout),
                &tls.tls()?,
                &ClientTls::default(),
            )
        }
        Command::Relay {
            source,
            url,
            feed,
            tls,
            upstream_tls,
            ticket,
            upstream_token_file,
            resume,
            timeout,
            max_clients,
        } => {
            let token = access::TokenArg {
                token_file: upstream_token_file,
            };
            let mut upstream = upstream_tls.with_token(&token)?;
            upstream.resume = resume;
            match &source {
                feed::Source::Url(endpoint) => {
                    upstream.ticket = flight::ticket_for(endpoint, &ticket)?;
                    upstream.send_token_to_locations = ticket.send_token_to_locations;
                }
                _ if ticket.bytes().is_some() => {
                    return Err(CliError::usage(
                        "--ticket and --ticket-hex apply to a grpc:// or grpc+tls:// source only",
                    ));
                }
                _ => {}
            }
            nats_target_takes_no_hub_flags(&url, feed.given())?;
            feed::relay(
                source,
                url,
                feed.options(max_clients, timeout),
                &tls.tls()?,
                &upstream,
            )
        }
        Command::Recv {
            url,
            output,
            to,
            columns,
            tls,
            ticket,
            token,
            timeout,
            rate,
            framing,
        } => {
            let client = ClientTls {
                ticket: flight::ticket_for(&url, &ticket)?,
                send_token_to_locations: ticket.send_token_to_locations,
                ..tls.with_token(&token)?
            };
            network::recv(
                url,
                &output,
                to.format(),
                &columns.columns(),
                &client,
                rate.with(timeout),
                framing.framing(),
            )
        }
        Command::Send {
            url,
            input,
            compression,
            tls,
            descriptor,
            token,
            timeout,
            rate,
            framing,
        } => {
            let client = ClientTls {
                descriptor_path: flight::descriptor_for(&url, &descriptor, &input)?,
                ..tls.with_token(&token)?
            };
            network::send(
                url,
                &input,
                compression.compression(),
                &client,
                rate.with(timeout),
                framing.framing(),
            )
        }
        Command::Listen {
            url,
            output,
            to,
            columns,
            tls,
            timeout,
            rate,
            framing,
        } => network::listen(
            url,
            &output,
            to.format(),
            &columns.columns(),
            &tls.tls()?,
            rate.with(timeout),
            framing.framing(),
        ),
        Command::Demo(args) => demo::demo(args),
    }
}

#[global_allocator]
static ALLOCATOR: heap::RecycleLargeBlocks = heap::RecycleLargeBlocks;

fn main() -> ExitCode {
    heap::return_large_blocks_to_the_system();
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
        Err(CliError::Usage(message)) => {
            let _ = writeln!(io::stderr(), "lightstream: {}", single_line(&message));
            ExitCode::from(2)
        }
        Err(CliError::Interrupted) => {
            let _ = writeln!(io::stderr(), "lightstream: interrupted");
            ExitCode::from(130)
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
mod tests;
