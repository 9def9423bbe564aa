//! The network subcommands: `serve`, `recv`, `send`, `listen`.
//!
//! What it is for: moving Arrow tables between this process and a peer over any
//! transport of the `lightstream` crate (TCP, TLS, Unix sockets, WebSocket plain
//! and over TLS, QUIC, HTTP and HTTPS, Arrow Flight, stdio), with the same inputs
//! and outputs as the file commands: tables are read
//! with `input.rs` (format detected from the bytes) and written with `output.rs`
//! (format from `--to` or the extension).
//!
//! How it runs: each command builds a multi-threaded tokio runtime and races its
//! work against Ctrl-C / SIGINT / SIGTERM. The blocking file and stdin/stdout I/O
//! of `input.rs` / `output.rs` runs on a thread of its own, connected to the async
//! side by a bounded channel of tables, so a slow disk or pipe never stalls the
//! runtime, memory stays bounded by a couple of tables, and a signal is always
//! noticed. When a signal (or an error) abandons a transfer, its partly written
//! output file is removed and a Unix socket file is unlinked as the listener drops.
//!
//! `serve` reads its input once into shared memory (`Arc`) and gives every client
//! its own task; a client that fails or goes away costs one line on stderr. At
//! most `--max-clients` clients are served at once; one more is turned away at
//! once with one line (ws://, wss://, http:// and https:// answer `503` with
//! `Retry-After`, other transports close the connection). Over http(s):// a
//! client reads with GET (`serve`, `recv`) and writes with POST (`send`,
//! `listen`).
//!
//! `recv` and `listen` writing an IPC stream with every column copy the
//! stream message by message (`lightstream::MessageReader`): no value is
//! decoded, so any valid Arrow stream passes (lists, structs, maps, views,
//! dictionaries with deltas and replacements). Another output format, or
//! `--columns`/`--skip-unsupported`, decodes tables.
//!
//! `--framing tlv` carries the stream in TLV frames (one IPC message per frame,
//! the library's `Connection::tlv_reader` / `tlv_writer`) on the byte
//! transports (tcp, tls, unix, stdio).
//!
//! Arrow Flight (`grpc://`): a DoGet or DoPut call is a `Connection` like any
//! other; what only Flight has (tickets, descriptors, a flight per file of
//! `serve`, refusing the wrong call) is in `flight.rs`.
//!
//! What it is not: a transport or a codec. Every byte on the wire comes from the
//! `lightstream` crate.

use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lightstream::{
    ClientOptions, Connection, Endpoint, MessageReader, ServerOptions, TableReader, TableWriter,
};
use lightstream_core::minarrow::Table;
use lightstream_core::{Compression, Projection, ReadOptions, Schema, WriteOptions};
use tokio::sync::Semaphore;

use crate::commands;
use crate::error::{CliError, CliResult, IoContext};
use crate::input::{self, Columns, Format, Input};
use crate::output::Target;
use crate::progress::{self, Progress};
use crate::threads::{InputThread, OutputThread};

/// The names of the self-signed certificate made when `--cert` is not given.
const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// TLS material of a quic://, tls://, wss:// or https:// server (`serve`,
/// `listen`), and who may open a stream on an http(s):// one.
#[derive(Debug, Default, Clone)]
pub struct ServerTls {
    /// PEM certificate chain and its PEM private key.
    pub cert_key: Option<(PathBuf, PathBuf)>,
    /// `--allow-origin`, `--token-file` (`access.rs`); `None`: not given.
    pub access: Option<lightstream::http::Access>,
}

/// How a quic://, tls:// or wss:// client (`recv`, `send`) checks the server's
/// certificate. Neither flag: tls:// and wss:// trust the webpki roots, quic://
/// is a usage error (it has always required a choice).
#[derive(Debug, Default, Clone)]
pub struct ClientTls {
    /// Accept any certificate (encrypted, not authenticated).
    pub insecure: bool,
    /// Trust the certificates in this PEM file.
    pub ca: Option<PathBuf>,
    /// `--token-file` of `recv`/`send`: the bearer token to send.
    pub token: Option<String>,
    /// grpc://: the ticket DoGet sends (`recv`, `relay`; `--ticket`).
    pub ticket: Option<Vec<u8>>,
    /// grpc://: the path descriptor DoPut sends (`send`; `--path`).
    pub descriptor_path: Option<Vec<String>>,
    /// grpc://: the token goes to every location of a flight's endpoints,
    /// not only those on the server's host (`--send-token-to-locations`).
    pub send_token_to_locations: bool,
    /// nats:// (JetStream) reader: resume after this bookmark (`relay
    /// --resume NAME`, as the URL's `?resume=NAME`).
    pub resume: Option<String>,
}

/// `--timeout` and `--min-rate` of the network commands: how long a peer may
/// take for one whole IPC message (and a handshake, and the schema), and the
/// rate at which a message still arriving (or being taken) earns more time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Patience {
    pub timeout: Option<Duration>,
    pub min_rate: Option<u64>,
}

/// `--framing`: how the Arrow IPC stream travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Framing {
    /// The Arrow IPC stream format, byte for byte (what any Arrow peer reads).
    #[default]
    Ipc,
    /// One IPC message per TLV frame of tag 1 (docs/native-api.md), on the
    /// byte transports only.
    Tlv,
}

impl Framing {
    /// A usage error for `--framing tlv` on a transport that carries
    /// messages or streams of its own.
    fn check(self, endpoint: &Endpoint) -> CliResult<()> {
        let framed_already = matches!(
            endpoint,
            Endpoint::WebSocket(_) | Endpoint::SecureWebSocket(_) | Endpoint::Quic(_)
        );
        if self == Framing::Tlv && framed_already {
            return Err(CliError::usage(format!(
                "--framing tlv applies to tcp://, tls://, unix:// and `-` only, not to \
                 {endpoint}: its transport already carries IPC messages in messages or \
                 streams of its own"
            )));
        }
        Ok(())
    }

    async fn reader(
        self,
        conn: Connection,
        options: ReadOptions,
    ) -> lightstream::Result<TableReader> {
        match self {
            Framing::Ipc => conn.reader(options).await,
            Framing::Tlv => conn.tlv_reader(options).await,
        }
    }

    async fn writer(
        self,
        conn: Connection,
        schema: Arc<Schema>,
        options: WriteOptions,
    ) -> lightstream::Result<TableWriter> {
        match self {
            Framing::Ipc => conn.writer(schema, options).await,
            Framing::Tlv => conn.tlv_writer(schema, options).await,
        }
    }
}

/// How many clients `serve` takes: one (`--once`), or up to `max_clients` at
/// once (`--max-clients`).
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    pub once: bool,
    pub max_clients: u32,
}

/// What a client turned away by `serve` is told to wait (ws://, wss://).
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Clients being turned away at once (a ws:// or wss:// one is answered
/// after its request head, within `TURN_AWAY_TIMEOUT`); beyond this the
/// connection just closes.
const TURNING_AWAY: usize = 16;
const TURN_AWAY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a server that is done (`serve --once`, `listen`) lets the
/// transport finish what it owes its client (an HTTP answer, the end of a
/// response body) before the process exits.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// `serve`: listens on `endpoint` and sends `inputs`' tables to every client
/// (one input, except over Flight: see `flight::serve`).
pub fn serve(
    endpoint: Endpoint,
    inputs: &[PathBuf],
    admission: Admission,
    compression: Compression,
    tls: &ServerTls,
    patience: Patience,
    framing: Framing,
) -> CliResult<()> {
    let Admission { once, max_clients } = admission;
    framing.check(&endpoint)?;
    let server = server_options(&endpoint, tls)?;
    #[cfg(feature = "flight")]
    if crate::flight::is_flight(&endpoint) {
        return crate::flight::serve(endpoint, inputs, admission, compression, server, patience);
    }
    let [input] = inputs else {
        return Err(CliError::usage(format!(
            "serving over {endpoint} takes one input, not {}",
            inputs.len()
        )));
    };
    let served = Arc::new(Served::load(input, compression, patience, framing)?);
    // stdio has exactly one client: this process's stdout.
    let once = once || endpoint == Endpoint::Stdio;
    let on_signal = if once {
        Err(CliError::Interrupted)
    } else {
        Ok(())
    };
    run_until_signal(
        async move {
            let stdio = endpoint == Endpoint::Stdio;
            let listener = bind(&endpoint, &server).await?;
            if once {
                // A connection that ends before its handshake (a port probe) is
                // not the one client, where the transport can tell (ws, wss,
                // tls); plain TCP and Unix sockets cannot tell before writing.
                loop {
                    let conn = accept(&listener).await?;
                    if served.send_to(conn, stdio).await? {
                        // HTTP: the end of the response may still be on its way.
                        let _ = listener.close(CLOSE_GRACE).await;
                        return Ok(());
                    }
                }
            }
            let clients = Arc::new(Semaphore::new(max_clients as usize));
            accept_clients(&listener, clients, max_clients, |conn| {
                let served = served.clone();
                async move {
                    let peer = conn.peer().to_string();
                    if let Err(err) = served.send_to(conn, false).await.map(drop) {
                        report(&CliError::msg(format!("client {peer} failed: {err}")));
                    }
                }
            })
            .await
        },
        on_signal,
    )
}

/// Accepts clients on `listener` until it fails for good: each is served by
/// `serve_one` on a task of its own holding one of `clients`' permits (the
/// `--max-clients` of `serve` and the live feeds; a caller waits for every
/// permit to know that every client is done). With none left, one more is
/// turned away at once with one line on stderr (ws:// and wss:// answer
/// `503` with `Retry-After`, other transports close the connection).
pub(crate) async fn accept_clients<F, Fut>(
    listener: &lightstream::Listener,
    clients: Arc<Semaphore>,
    max_clients: u32,
    serve_one: F,
) -> CliResult<()>
where
    F: Fn(Connection) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let turning_away = Arc::new(Semaphore::new(TURNING_AWAY));
    loop {
        let conn = match listener.accept().await {
            Ok(conn) => conn,
            // Out of file descriptors, a connection aborted before it was
            // accepted: say so and keep serving.
            Err(err @ lightstream::Error::Io { .. }) => {
                report(&CliError::net(listener.local_url(), err, false));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(err) => return Err(CliError::net(listener.local_url(), err, false)),
        };
        let peer = conn.peer().to_string();
        let Ok(slot) = clients.clone().try_acquire_owned() else {
            let reason = format!("busy: {max_clients} clients already (--max-clients)");
            report(&CliError::msg(format!(
                "client {peer} turned away: {reason}"
            )));
            if let Ok(turning) = turning_away.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    let turn_away = conn.turn_away(RETRY_AFTER, &reason);
                    let _ = tokio::time::timeout(TURN_AWAY_TIMEOUT, turn_away).await;
                    drop(turning);
                });
            }
            continue;
        };
        let serving = serve_one(conn);
        tokio::spawn(async move {
            serving.await;
            drop(slot);
        });
    }
}

/// `recv`: connects to `endpoint`, receives one stream and writes it to `output`.
pub fn recv(
    endpoint: Endpoint,
    output: &Path,
    format: Option<Format>,
    columns: &Columns,
    tls: &ClientTls,
    patience: Patience,
    framing: Framing,
) -> CliResult<()> {
    framing.check(&endpoint)?;
    let client = client_options(&endpoint, tls)?;
    let target = Target::from_arg(output);
    run_until_signal(
        async move {
            let conn = lightstream::connect(&endpoint, &client)
                .await
                .map_err(|e| CliError::net(format!("connecting to {endpoint}"), e, false))?;
            let copy = copies(framing, format, columns, &target);
            let reader = open_reader(conn, &endpoint, columns, patience, framing, copy)
                .await?
                .ok_or_else(|| {
                    CliError::msg(if endpoint == Endpoint::Stdio {
                        "reading stdin: it ended before the first byte of a stream".to_string()
                    } else {
                        format!(
                            "receiving from {endpoint}: the server closed the connection \
                             without sending anything"
                        )
                    })
                })?;
            receive(reader, &endpoint, target, format).await
        },
        Err(CliError::Interrupted),
    )
}

/// `send`: connects to `endpoint` and sends `input`'s tables.
pub fn send(
    endpoint: Endpoint,
    input: &Path,
    compression: Compression,
    tls: &ClientTls,
    patience: Patience,
    framing: Framing,
) -> CliResult<()> {
    framing.check(&endpoint)?;
    let client = client_options(&endpoint, tls)?;
    let source = Input::from_arg(input);
    run_until_signal(
        async move {
            let stdio = endpoint == Endpoint::Stdio;
            let context = format!("sending to {endpoint}");
            let net = |e: lightstream::Error| CliError::net(&context, e, stdio);
            // The input first: a missing or broken file is reported before any
            // connection is made.
            let mut input = InputThread::start(source);
            let schema = input.schema().await?;
            let conn = lightstream::connect(&endpoint, &client)
                .await
                .map_err(|e| CliError::net(format!("connecting to {endpoint}"), e, stdio))?;
            let mut writer = bounded(
                patience.timeout,
                &context,
                framing.writer(conn, schema, write_options(compression)),
            )
            .await?
            .map_err(net)?;
            writer.set_write_timeout(patience.timeout);
            writer.set_min_rate(patience.min_rate);
            let mut progress = Progress::new("sent");
            while let Some((table, done)) = input.next().await? {
                writer.write(&table).await.map_err(net)?;
                progress.update_done(writer.rows_written(), Some(writer.bytes_written()), done);
            }
            let rows = writer.rows_written();
            let bytes = writer.finish().await.map_err(net)?;
            progress.finish(rows, bytes);
            Ok(())
        },
        Err(CliError::Interrupted),
    )
}

/// `listen`: listens on `endpoint`, receives one stream from the first client and
/// writes it to `output`.
pub fn listen(
    endpoint: Endpoint,
    output: &Path,
    format: Option<Format>,
    columns: &Columns,
    tls: &ServerTls,
    patience: Patience,
    framing: Framing,
) -> CliResult<()> {
    framing.check(&endpoint)?;
    let server = server_options(&endpoint, tls)?;
    let target = Target::from_arg(output);
    run_until_signal(
        async move {
            let listener = bind(&endpoint, &server).await?;
            // A connection that closes before its first byte (a port probe, a
            // health check) is not the one client: say so and wait for the next.
            let copy = copies(framing, format, columns, &target);
            let reader = loop {
                let conn = accept(&listener).await?;
                // grpc://: the first DoPut; a DoGet is refused.
                #[cfg(feature = "flight")]
                let Some(conn) = crate::flight::admit(conn, crate::flight::Takes::Puts).await
                else {
                    continue;
                };
                let peer = conn.peer().to_string();
                match open_reader(conn, &endpoint, columns, patience, framing, copy).await? {
                    Some(reader) => break reader,
                    None => report(&CliError::msg(format!(
                        "{peer} closed the connection without sending anything; not counted \
                         as the client"
                    ))),
                }
            };
            // The listener stays open (and a Unix socket file in place) until the
            // stream is received; dropping it then removes the socket file.
            let result = receive(reader, &endpoint, target, format).await;
            // HTTP: the answer to the POST goes out before the process ends.
            let _ = listener.close(CLOSE_GRACE).await;
            result
        },
        Err(CliError::Interrupted),
    )
}

/// The tables `serve` sends, loaded once and shared by every client task.
pub(crate) struct Served {
    schema: Arc<Schema>,
    tables: Vec<Table>,
    options: WriteOptions,
    /// `--timeout` and `--min-rate`: a client that takes no whole message
    /// (or does not finish its handshake) in time is dropped.
    patience: Patience,
    framing: Framing,
}

impl Served {
    pub(crate) fn load(
        input: &Path,
        compression: Compression,
        patience: Patience,
        framing: Framing,
    ) -> CliResult<Served> {
        let mut reader = input::InputReader::open(&Input::from_arg(input), &Columns::All)?;
        let schema = reader.schema().clone();
        let mut tables = Vec::new();
        // Every table is read before the first client is served: on a
        // terminal, say how far that got (a live feed on stdin shows rows).
        let mut progress = Progress::new("loaded");
        let mut rows = 0u64;
        while let Some(table) = reader.next_table()? {
            rows += table.n_rows as u64;
            tables.push(table);
            progress.update_done(rows, None, reader.done());
        }
        progress.finish_done(rows, None);
        Ok(Served {
            schema,
            tables,
            options: write_options(compression),
            patience,
            framing,
        })
    }

    /// The schema every client gets.
    #[cfg(feature = "flight")]
    pub(crate) fn schema(&self) -> Arc<Schema> {
        self.schema.clone()
    }

    /// The rows of all tables.
    #[cfg(feature = "flight")]
    pub(crate) fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.n_rows as u64).sum()
    }

    /// Sends every table to one client, then the end of the stream. `false`
    /// (after a line on stderr): the client closed the connection before its
    /// handshake.
    pub(crate) async fn send_to(&self, conn: Connection, stdio: bool) -> CliResult<bool> {
        let peer = conn.peer().to_string();
        let context = format!("sending to {peer}");
        let net = |e: lightstream::Error| CliError::net(&context, e, stdio);
        let started = Instant::now();
        let writer = bounded(
            self.patience.timeout,
            &context,
            self.framing.writer(conn, self.schema.clone(), self.options),
        )
        .await?;
        let mut writer = match writer {
            Err(lightstream::Error::EmptyConnection { .. }) => {
                report(&CliError::msg(format!(
                    "client {peer} closed the connection without sending anything"
                )));
                return Ok(false);
            }
            w => w.map_err(net)?,
        };
        writer.set_write_timeout(self.patience.timeout);
        writer.set_min_rate(self.patience.min_rate);
        for table in &self.tables {
            writer.write(table).await.map_err(net)?;
        }
        let rows = writer.rows_written();
        let bytes = writer.finish().await.map_err(net)?;
        if progress::chatty() {
            let line = progress::summary("sent", rows, bytes, started.elapsed());
            let _ = writeln!(io::stderr(), "lightstream: {line} to {peer}");
        }
        Ok(true)
    }
}

/// `f`, or an error naming `context` when `--timeout` is set and `f` (a
/// handshake, the wait for the schema) takes longer.
async fn bounded<T>(
    timeout: Option<Duration>,
    context: &str,
    f: impl Future<Output = T>,
) -> CliResult<T> {
    match timeout {
        None => Ok(f.await),
        Some(limit) => tokio::time::timeout(limit, f).await.map_err(|_| {
            CliError::msg(format!(
                "{context}: the connection was not ready (handshake, schema) within {} s \
                 (--timeout)",
                limit.as_secs_f64()
            ))
        }),
    }
}

fn write_options(compression: Compression) -> WriteOptions {
    WriteOptions {
        compression,
        ..WriteOptions::default()
    }
}

/// Binds and announces the listener: exactly one `listening on <url>` line on
/// stderr, with the port the system chose for port 0 (scripts and tests read it).
pub(crate) async fn bind(
    endpoint: &Endpoint,
    options: &ServerOptions,
) -> CliResult<lightstream::Listener> {
    // A failure must not read like the announcement: scripts wait for a line
    // starting "listening on", so it says "cannot listen on".
    let listener = lightstream::bind(endpoint, options)
        .await
        .map_err(|e| match e {
            lightstream::Error::Io { source, .. } => CliError::Failed(format!(
                "cannot listen on {endpoint}: {}",
                crate::error::plain_io_error(&source)
            )),
            e => CliError::net(format!("cannot listen on {endpoint}"), e, false),
        })?;
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "listening on {}", listener.local_url());
    let _ = stderr.flush();
    Ok(listener)
}

async fn accept(listener: &lightstream::Listener) -> CliResult<Connection> {
    listener
        .accept()
        .await
        .map_err(|e| CliError::net(format!("accepting on {}", listener.local_url()), e, false))
}

/// Whether `recv`/`listen` copy the stream message by message: an IPC
/// stream out with every column (see [`commands::copies_messages`]), in the
/// IPC framing.
fn copies(framing: Framing, format: Option<Format>, columns: &Columns, target: &Target) -> bool {
    let format = format.unwrap_or_else(|| target.default_format());
    framing == Framing::Ipc
        && commands::copies_messages(format, columns, &crate::output::WriteSettings::default())
}

/// What `recv` and `listen` read: tables, or the whole messages of a stream
/// copied without decoding.
enum Receiving {
    Tables(TableReader),
    Messages(MessageReader),
}

/// Opens the stream `conn` sends, up to its schema, keeping `columns` (or,
/// with `copy`, as whole messages). `None`: the peer closed the connection
/// before its first byte.
async fn open_reader(
    conn: Connection,
    endpoint: &Endpoint,
    columns: &Columns,
    patience: Patience,
    framing: Framing,
    copy: bool,
) -> CliResult<Option<Receiving>> {
    let stdio = *endpoint == Endpoint::Stdio;
    let peer = conn.peer().to_string();
    let context = format!("receiving from {peer}");
    if copy {
        let opening = conn.message_reader(lightstream_core::DecodeLimits::default());
        let mut reader = match bounded(patience.timeout, &context, opening).await? {
            Ok(reader) => reader,
            Err(lightstream::Error::EmptyConnection { .. }) => return Ok(None),
            Err(err) => return Err(CliError::net(&context, err, stdio)),
        };
        reader.set_idle_timeout(patience.timeout);
        reader.set_min_rate(patience.min_rate);
        return Ok(Some(Receiving::Messages(reader)));
    }
    // "All" decodes the supported columns so that an unsupported one is
    // refused below by name, as for files.
    let options = ReadOptions {
        projection: Some(columns.projection().unwrap_or(Projection::Supported)),
        // As for files and streams read from disk (input.rs).
        compact_dictionaries: true,
        ..ReadOptions::default()
    };
    let reader = match bounded(patience.timeout, &context, framing.reader(conn, options)).await? {
        Ok(reader) => reader,
        Err(lightstream::Error::EmptyConnection { .. }) => return Ok(None),
        Err(err) => return Err(CliError::net(&context, err, stdio)),
    };
    columns.choose(&peer, reader.fields())?;
    commands::note_left_out(&peer, columns, {
        let kept: Vec<&str> = reader
            .schema()
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        reader
            .fields()
            .iter()
            .filter(move |f| !kept.contains(&f.name.as_str()))
    });
    let mut reader = reader;
    reader.set_idle_timeout(patience.timeout);
    reader.set_min_rate(patience.min_rate);
    Ok(Some(Receiving::Tables(reader)))
}

/// Receives the stream of `reader` and writes it to `target`, table by
/// table or message by message.
async fn receive(
    reader: Receiving,
    endpoint: &Endpoint,
    target: Target,
    format: Option<Format>,
) -> CliResult<()> {
    let mut reader = match reader {
        Receiving::Tables(reader) => reader,
        Receiving::Messages(reader) => return receive_messages(reader, endpoint, target).await,
    };
    let stdio = *endpoint == Endpoint::Stdio;
    let context = format!("receiving from {}", reader.peer());
    let net = |e: lightstream::Error| CliError::net(&context, e, stdio);
    let format = format.unwrap_or_else(|| target.default_format());
    let mut output = OutputThread::start(target, format, reader.schema().clone());
    let mut progress = Progress::new("received");
    while let Some(table) = reader.next().await {
        let table = table.map_err(net)?;
        progress.update(reader.rows_read(), reader.bytes_read());
        if !output.write(table).await {
            // The output thread stopped (a write failed): its error says why.
            return output.result().await;
        }
    }
    output.finish().await?;
    progress.finish(reader.rows_read(), reader.bytes_read());
    Ok(())
}

/// Receives the stream of `reader` and writes it to `target` as it came.
async fn receive_messages(
    mut reader: MessageReader,
    endpoint: &Endpoint,
    target: Target,
) -> CliResult<()> {
    let stdio = *endpoint == Endpoint::Stdio;
    let context = format!("receiving from {}", reader.peer());
    let net = |e: lightstream::Error| CliError::net(&context, e, stdio);
    let mut output = OutputThread::start_copy(target, reader.schema().clone());
    let mut progress = Progress::new("received");
    let mut rows = 0u64;
    while let Some(message) = reader.next().await {
        let message = message.map_err(net)?;
        if let lightstream_core::MessageKind::RecordBatch { rows: n } = message.kind() {
            rows += n;
        }
        progress.update(rows, reader.bytes_read());
        if !output.write_message(message).await {
            return output.result().await;
        }
    }
    output.finish().await?;
    progress.finish(rows, reader.bytes_read());
    Ok(())
}

/// A one-line report on stderr that does not stop the command.
pub(crate) fn report(err: &CliError) {
    let _ = writeln!(io::stderr(), "lightstream: {err}");
}

/// Runs `work` on a fresh multi-threaded runtime until it ends or a signal
/// arrives; on a signal, `work` is dropped (its destructors clean up) and the
/// result is `on_signal`.
pub(crate) fn run_until_signal<F>(work: F, on_signal: CliResult<()>) -> CliResult<()>
where
    F: Future<Output = CliResult<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async move {
        let signal = interrupted();
        tokio::select! {
            result = work => result,
            () = signal => on_signal,
        }
    });
    // Client tasks still running (`serve`) are cancelled, not waited for.
    runtime.shutdown_background();
    result
}

/// Resolves on Ctrl-C / SIGINT or SIGTERM. The handlers are installed when this
/// is called; if that fails, the signals keep their default effect (ending the
/// process), which is the next best thing.
fn interrupted() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt()).ok();
        let term = signal(SignalKind::terminate()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(int) => {},
                () = wait(term) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Whether `endpoint` runs over TLS (and so takes the TLS flags).
fn uses_tls(endpoint: &Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::Quic(_)
            | Endpoint::Tls(_)
            | Endpoint::SecureWebSocket(_)
            | Endpoint::Https(_)
            | Endpoint::GrpcTls { .. }
            | Endpoint::Nats { tls: true, .. }
    )
}

/// Whether `endpoint` is one a browser can open (and so takes the access
/// flags and a client token).
fn browser_facing(endpoint: &Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::Http(_)
            | Endpoint::Https(_)
            | Endpoint::WebSocket(_)
            | Endpoint::SecureWebSocket(_)
    )
}

/// TLS for a quic://, tls:// or wss:// server: `--cert`/`--key`, or a self-signed
/// certificate for localhost (announced on stderr). `--cert` with another
/// transport is a usage error rather than silently ignored.
pub fn server_options(endpoint: &Endpoint, tls: &ServerTls) -> CliResult<ServerOptions> {
    let mut options = ServerOptions::default();
    match &tls.access {
        Some(access) if browser_facing(endpoint) => options.access = access.clone(),
        // Flight: every call's bearer token. Browsers cannot call gRPC, so
        // there is no Origin to allow.
        Some(access)
            if crate::flight::is_flight(endpoint) && access.origins == Default::default() =>
        {
            options.access.token = access.token.clone();
        }
        Some(access) if crate::flight::is_flight(endpoint) => {
            let _ = access;
            return Err(CliError::usage(format!(
                "--allow-origin applies to ws://, wss://, http:// and https:// URLs only, not \
                 to {endpoint} (browsers cannot call Flight; --token-file applies)"
            )));
        }
        Some(_) => {
            return Err(CliError::usage(format!(
                "--allow-origin and --token-file apply to ws://, wss://, http:// and https:// \
                 URLs only, not to {endpoint}"
            )));
        }
        None => {}
    }
    if !uses_tls(endpoint) {
        if tls.cert_key.is_some() {
            return Err(CliError::usage(format!(
                "--cert and --key apply to quic://, tls://, wss://, https:// and grpc+tls:// \
                 URLs only, not to {endpoint}"
            )));
        }
        return Ok(options);
    }
    let config_error = |e: lightstream::Error| CliError::net("configuring TLS", e, false);
    let (certs, key) = match &tls.cert_key {
        Some((cert, key)) => (
            lightstream::tls::load_certs(cert).map_err(config_error)?,
            lightstream::tls::load_key(key).map_err(config_error)?,
        ),
        None => {
            let _ = writeln!(
                io::stderr(),
                "lightstream: note: no --cert/--key given: using a self-signed certificate \
                 for {} (clients need --insecure)",
                SELF_SIGNED_NAMES.join(", ")
            );
            lightstream::tls::self_signed(&SELF_SIGNED_NAMES).map_err(config_error)?
        }
    };
    if matches!(endpoint, Endpoint::Quic(_)) {
        options.quic = Some(lightstream::quic::server_config(certs, key).map_err(config_error)?);
    } else {
        options.tls = Some(lightstream::tls::server_config(certs, key).map_err(config_error)?);
    }
    Ok(options)
}

/// TLS for a quic://, tls:// or wss:// client: `--insecure` or `--ca FILE`.
/// Without either, tls:// and wss:// trust the webpki roots (Mozilla's root
/// certificates, built in) and quic:// is a usage error. Neither flag applies to
/// other transports.
pub fn client_options(endpoint: &Endpoint, tls: &ClientTls) -> CliResult<ClientOptions> {
    let mut options = ClientOptions::default();
    if let Some(token) = &tls.token {
        let nats = matches!(endpoint, Endpoint::Nats { .. });
        if !browser_facing(endpoint) && !crate::flight::is_flight(endpoint) && !nats {
            return Err(CliError::usage(format!(
                "--token-file applies to ws://, wss://, http://, https://, grpc://, \
                 grpc+tls://, nats:// and nats+tls:// URLs only, not to {endpoint}"
            )));
        }
        options.token = Some(token.clone());
    }
    #[cfg(feature = "flight")]
    if crate::flight::is_flight(endpoint) {
        options.flight = lightstream::flight::FlightOptions {
            ticket: tls.ticket.clone().map(Into::into),
            path: tls.descriptor_path.clone(),
            send_token_to_locations: tls.send_token_to_locations,
            ..lightstream::flight::FlightOptions::default()
        };
    }
    if let Some(name) = &tls.resume {
        let nats = matches!(endpoint, Endpoint::Nats { .. });
        if !nats {
            return Err(CliError::usage(format!(
                "--resume applies to a nats:// or nats+tls:// source only, not to {endpoint}"
            )));
        }
        #[cfg(feature = "nats")]
        {
            options.nats.resume = Some(name.clone());
        }
        #[cfg(not(feature = "nats"))]
        let _ = name;
    }
    // Without Flight, grpc:// fails to connect with the library's word on it.
    #[cfg(not(feature = "flight"))]
    let _ = (
        &tls.ticket,
        &tls.descriptor_path,
        tls.send_token_to_locations,
    );
    if !uses_tls(endpoint) {
        if tls.insecure || tls.ca.is_some() {
            return Err(CliError::usage(format!(
                "--insecure and --ca apply to quic://, tls://, wss://, https://, grpc+tls:// \
                 and nats+tls:// URLs only, not to {endpoint}"
            )));
        }
        return Ok(options);
    }
    let config_error = |e: lightstream::Error| CliError::net("configuring TLS", e, false);
    let quic = matches!(endpoint, Endpoint::Quic(_));
    match (&tls.ca, tls.insecure) {
        (Some(_), true) => {
            return Err(CliError::usage(
                "--insecure and --ca exclude each other: trust the certificates in --ca, \
                 or any certificate with --insecure",
            ));
        }
        (Some(ca), false) => {
            let roots = lightstream::tls::load_certs(ca).map_err(config_error)?;
            if quic {
                options.quic =
                    Some(lightstream::quic::client_config_trusting(&roots).map_err(config_error)?);
            } else {
                options.tls =
                    Some(lightstream::tls::client_config_trusting(&roots).map_err(config_error)?);
            }
        }
        (None, true) => {
            if quic {
                options.quic =
                    Some(lightstream::quic::client_config_insecure().map_err(config_error)?);
            } else {
                options.tls =
                    Some(lightstream::tls::client_config_insecure().map_err(config_error)?);
            }
        }
        // tls:// and wss:// trust the webpki roots (`tls: None`).
        (None, false) if !quic => {}
        (None, false) => {
            return Err(CliError::usage(format!(
                "{endpoint} needs a way to check the server's certificate: --ca FILE (trust \
                 the PEM certificates in FILE) or --insecure (accept any certificate, for \
                 localhost and tests)"
            )));
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(s: &str) -> Endpoint {
        s.parse().expect("valid URL")
    }

    fn usage_message(r: CliResult<impl Sized>) -> String {
        match r {
            Err(CliError::Usage(m)) => m,
            Err(other) => panic!("expected a usage error, got {other:?}"),
            Ok(_) => panic!("expected a usage error, got Ok"),
        }
    }

    #[test]
    fn a_quic_client_must_choose_how_to_trust_the_server() {
        let quic = endpoint("quic://127.0.0.1:4433");
        let m = usage_message(client_options(&quic, &ClientTls::default()));
        assert!(m.contains("--insecure") && m.contains("--ca"), "{m}");
        assert!(m.contains("quic://127.0.0.1:4433"), "{m}");

        let both = ClientTls {
            insecure: true,
            ca: Some("ca.pem".into()),
            ..ClientTls::default()
        };
        assert!(usage_message(client_options(&quic, &both)).contains("exclude each other"));

        let insecure = ClientTls {
            insecure: true,
            ca: None,
            ..ClientTls::default()
        };
        let options = client_options(&quic, &insecure).expect("--insecure is enough");
        assert!(options.quic.is_some());
    }

    #[test]
    fn resume_names_a_nats_readers_bookmark_and_nothing_else() {
        let resume = ClientTls {
            resume: Some("edge-1".into()),
            ..ClientTls::default()
        };
        let m = usage_message(client_options(&endpoint("tcp://127.0.0.1:1"), &resume));
        assert!(m.contains("--resume applies to a nats://"), "{m}");
        #[cfg(feature = "nats")]
        {
            let options = client_options(&endpoint("nats://127.0.0.1:1/feed"), &resume)
                .expect("--resume on nats://");
            assert_eq!(options.nats.resume.as_deref(), Some("edge-1"));
        }
    }

    #[test]
    fn tls_flags_are_refused_where_they_do_not_apply() {
        let tcp = endpoint("tcp://127.0.0.1:1");
        let insecure = ClientTls {
            insecure: true,
            ca: None,
            ..ClientTls::default()
        };
        let m = usage_message(client_options(&tcp, &insecure));
        assert!(
            m.contains("quic://, tls://, wss://, https://, grpc+tls:// and nats+tls:// URLs only"),
            "{m}"
        );
        assert!(
            client_options(&tcp, &ClientTls::default())
                .expect("plain TCP needs no TLS")
                .quic
                .is_none()
        );

        let cert = ServerTls {
            cert_key: Some(("c.pem".into(), "k.pem".into())),
            access: None,
        };
        let m = usage_message(server_options(&endpoint("ws://127.0.0.1:1/"), &cert));
        assert!(m.contains("--cert"), "{m}");
        assert!(
            server_options(&endpoint("-"), &ServerTls::default())
                .expect("stdio needs no TLS")
                .quic
                .is_none()
        );
    }

    #[test]
    fn missing_certificate_files_are_named() {
        let quic = endpoint("quic://127.0.0.1:0");
        let cert = ServerTls {
            cert_key: Some(("/nonexistent/c.pem".into(), "/nonexistent/k.pem".into())),
            access: None,
        };
        let Err(err) = server_options(&quic, &cert) else {
            panic!("no such file");
        };
        assert!(err.to_string().contains("/nonexistent/c.pem"), "{err}");
        let ca = ClientTls {
            insecure: false,
            ca: Some("/nonexistent/ca.pem".into()),
            ..ClientTls::default()
        };
        let Err(err) = client_options(&quic, &ca) else {
            panic!("no such file");
        };
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn a_self_signed_certificate_is_made_without_cert_and_key() {
        let quic = endpoint("quic://127.0.0.1:0");
        let options = server_options(&quic, &ServerTls::default()).expect("self-signed");
        assert!(options.quic.is_some());
        for url in [
            "tls://127.0.0.1:0",
            "wss://127.0.0.1:0/",
            "https://127.0.0.1:0/t",
        ] {
            let options = server_options(&endpoint(url), &ServerTls::default()).expect(url);
            assert!(options.tls.is_some() && options.quic.is_none(), "{url}");
        }
    }

    #[test]
    fn tls_and_wss_clients_trust_the_webpki_roots_by_default() {
        for url in [
            "tls://127.0.0.1:4433",
            "wss://127.0.0.1:4433/t",
            "https://127.0.0.1:4433/t",
        ] {
            let e = endpoint(url);
            let options = client_options(&e, &ClientTls::default()).expect(url);
            assert!(options.tls.is_none() && options.quic.is_none(), "{url}");
            let insecure = ClientTls {
                insecure: true,
                ca: None,
                ..ClientTls::default()
            };
            let options = client_options(&e, &insecure).expect(url);
            assert!(options.tls.is_some() && options.quic.is_none(), "{url}");
            let both = ClientTls {
                insecure: true,
                ca: Some("ca.pem".into()),
                ..ClientTls::default()
            };
            assert!(usage_message(client_options(&e, &both)).contains("exclude each other"));
            let missing = ClientTls {
                insecure: false,
                ca: Some("/nonexistent/ca.pem".into()),
                ..ClientTls::default()
            };
            let Err(err) = client_options(&e, &missing) else {
                panic!("no such file");
            };
            assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        }
    }

    #[test]
    fn a_client_token_goes_to_browser_facing_urls_only() {
        let token = ClientTls {
            token: Some("t0k".to_string()),
            ..ClientTls::default()
        };
        for url in [
            "ws://127.0.0.1:1/",
            "wss://127.0.0.1:1/",
            "http://127.0.0.1:1/",
        ] {
            let options = client_options(&endpoint(url), &token).expect(url);
            assert_eq!(options.token.as_deref(), Some("t0k"), "{url}");
        }
        let m = usage_message(client_options(&endpoint("tcp://127.0.0.1:1"), &token));
        assert!(m.contains("--token-file applies to ws://"), "{m}");
        // Flight sends it on every call.
        let options = client_options(&endpoint("grpc://127.0.0.1:1"), &token).expect("grpc");
        assert_eq!(options.token.as_deref(), Some("t0k"));
    }

    #[test]
    fn access_flags_apply_to_browser_facing_servers_only() {
        let access = ServerTls {
            cert_key: None,
            access: Some(lightstream::http::Access::public()),
        };
        let options = server_options(&endpoint("http://127.0.0.1:0/t"), &access).expect("http");
        assert!(matches!(
            options.access.origins,
            lightstream::http::Origins::Any
        ));
        let m = usage_message(server_options(&endpoint("tcp://127.0.0.1:0"), &access));
        assert!(
            m.contains("--allow-origin and --token-file apply to ws://, wss://, http://"),
            "{m}"
        );
        for url in ["ws://127.0.0.1:0/t", "wss://127.0.0.1:0/t"] {
            let options = server_options(&endpoint(url), &access).expect(url);
            assert!(matches!(
                options.access.origins,
                lightstream::http::Origins::Any
            ));
        }
        // Flight takes the token only: browsers cannot call it.
        let m = usage_message(server_options(&endpoint("grpc://127.0.0.1:0"), &access));
        assert!(m.contains("--allow-origin applies to ws://"), "{m}");
        let token = ServerTls {
            cert_key: None,
            access: Some(lightstream::http::Access {
                token: Some(lightstream::http::TokenCheck::tokens(["t"]).unwrap()),
                ..lightstream::http::Access::default()
            }),
        };
        let options = server_options(&endpoint("grpc://127.0.0.1:0"), &token).expect("grpc");
        assert!(
            options
                .access
                .token
                .is_some_and(|c| c.check("t") && !c.check("u"))
        );
    }

    #[test]
    fn tls_flags_are_refused_on_plaintext_transports() {
        let cert = ServerTls {
            cert_key: Some(("c.pem".into(), "k.pem".into())),
            access: None,
        };
        let ca = ClientTls {
            insecure: false,
            ca: Some("ca.pem".into()),
            ..ClientTls::default()
        };
        for url in [
            "tcp://127.0.0.1:1",
            "ws://127.0.0.1:1/",
            "http://127.0.0.1:1/",
            "unix:///tmp/x.sock",
            "-",
        ] {
            let e = endpoint(url);
            let m = usage_message(server_options(&e, &cert));
            assert!(
                m.contains(
                    "--cert and --key apply to quic://, tls://, wss://, https:// and grpc+tls://"
                ),
                "{m}"
            );
            let m = usage_message(client_options(&e, &ca));
            assert!(m.contains("--insecure and --ca apply to"), "{m}");
        }
    }
}
