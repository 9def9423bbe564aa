//! The live feeds: `lightstream relay SOURCE URL` and `lightstream serve URL -`
//! (which is `relay - URL`).
//!
//! What it is for: one upstream Arrow IPC stream fanned out to every client
//! of a listening URL through a `lightstream::hub::Hub`: each message is read
//! once and its bytes are shared by every client; a client that connects
//! late gets the schema, every dictionary as it stands, the last `--replay`
//! tables, then the live messages; a client that falls more than
//! `--max-lag` bytes behind is dropped, skips to the newest tables, or
//! holds the feed back (`--slow disconnect | skip | block`).
//!
//! Where the messages come from: standard input (`-`), an upstream URL
//! (`tcp://`, `tls://`, `unix://`, `ws://`, `wss://`, `quic://`) or an IPC
//! stream file go message by message through `lightstream::MessageReader`:
//! no value is decoded, so any Arrow type passes (lists, structs, maps,
//! views...) and compressed bodies stay as the producer compressed them. An
//! IPC file, a CSV or a Parquet file goes through the table path instead
//! (`input.rs` on a thread, each table encoded once by the hub's publisher),
//! so its columns must be ones lightstream reads.
//!
//! How it starts: it listens at once; a client that connects before the
//! source's schema has arrived gets it when it comes.
//!
//! Streams one after another: an input may hold several streams back to
//! back (a producer that changed its schema, or restarted, writing on into
//! the same pipe). At each end-of-stream marker every connected client gets
//! the marker and its connection closes; the next stream's schema starts a
//! new stream, which clients that connect later join (even when the schema
//! is the same: a new stream has its own dictionaries). A client that
//! connects between the two gets the finished stream, marker included.
//!
//! How it ends: when the input ends, every client gets the end marker after
//! the last whole message read, no more clients are taken, and the command
//! waits up to [`DRAIN`] for them to read what they have queued. An input
//! that breaks off (standard input closed in the middle of a message, an
//! upstream gone) is reported and ends the command with code 1, after the
//! clients got every whole message read and the end marker: what they hold
//! is a valid stream.
//!
//! A `nats://` target (`serve nats://host/subject -`, `relay SOURCE
//! nats://…`) publishes the source's streams on the subject instead of
//! listening: NATS does the fan-out (docs/nats.md).
//!
//! What it is not: the hub (the library's) or the per-client replay of a
//! file (`serve URL FILE`, network.rs).

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lightstream::hub::{Hub, HubOptions, SlowPolicy, SubscribeOptions, SubscriberStats};
use lightstream::{DecodeLimits, Endpoint, MessageReader, WriteOptions};
use lightstream_core::IpcMessage;
use tokio::sync::Semaphore;

use crate::error::{CliError, CliResult};
use crate::input::{self, Format, Input};
use crate::network::{
    ClientTls, ServerTls, accept_clients, bind, client_options, report, run_until_signal,
    server_options,
};
use crate::progress;
use crate::threads::InputThread;

/// How long clients may take to read what they have queued once the feed
/// has ended; those still reading then are cut off.
pub const DRAIN: Duration = Duration::from_secs(30);

/// Where a live feed's messages come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Standard input: an Arrow IPC stream.
    Stdin,
    /// A file: an IPC stream (message by message), or an IPC file, CSV or
    /// Parquet file (the table path).
    Path(PathBuf),
    /// An upstream server.
    Url(Endpoint),
}

impl Source {
    /// `-`, a URL (anything with `://`), or a path.
    pub fn from_arg(arg: &str) -> Result<Source, String> {
        if arg == "-" {
            Ok(Source::Stdin)
        } else if arg.contains("://") {
            arg.parse::<Endpoint>()
                .map(Source::Url)
                .map_err(|e| match e {
                    lightstream::Error::Config(message) => message,
                    other => other.to_string(),
                })
        } else {
            Ok(Source::Path(PathBuf::from(arg)))
        }
    }

    fn name(&self) -> String {
        match self {
            Source::Stdin => "<stdin>".to_string(),
            Source::Path(path) => path.display().to_string(),
            Source::Url(endpoint) => endpoint.to_string(),
        }
    }
}

/// The terms of a live feed: `--slow`, `--max-lag`, `--replay`,
/// `--max-clients` and `--timeout`.
#[derive(Debug, Clone)]
pub struct FeedOptions {
    pub policy: SlowPolicy,
    pub max_lag: usize,
    pub replay: usize,
    /// Clients to wait for before the source is read.
    pub wait_for: usize,
    pub max_clients: u32,
    /// How long a client may take no data (with `block`: how long it may
    /// hold the feed back); `None`: forever.
    pub timeout: Option<Duration>,
}

/// `relay SOURCE URL` (and `serve URL -`): fans `source` out to every client
/// of `listen` until the feed ends (or a signal, which is a normal way to
/// stop a feed that never ends: exit code 0).
pub fn relay(
    source: Source,
    listen: Endpoint,
    options: FeedOptions,
    server_tls: &ServerTls,
    client_tls: &ClientTls,
) -> CliResult<()> {
    if listen == Endpoint::Stdio {
        return Err(CliError::usage(
            "a live feed serves clients of a listening URL, not `-` (to write one stream \
             to standard output, use `lightstream recv URL -`)",
        ));
    }
    let client = match &source {
        Source::Url(upstream) => {
            #[allow(unused_mut, reason = "changed only with the `nats` feature")]
            let mut options = client_options(upstream, client_tls)?;
            // A relay may start before its publisher: it waits for the
            // feed to start for as long as it runs (`recv` gives up after
            // the library's default join timeout).
            #[cfg(feature = "nats")]
            {
                options.nats.join_timeout = None;
            }
            Some(options)
        }
        _ if client_tls.insecure || client_tls.ca.is_some() || client_tls.token.is_some() => {
            return Err(CliError::usage(
                "--insecure, --ca and --upstream-token-file apply to an upstream URL only",
            ));
        }
        _ => None,
    };
    if matches!(listen, Endpoint::Nats { .. }) {
        return publish_to_nats(source, listen, client);
    }
    let server = server_options(&listen, server_tls)?;
    run_until_signal(
        async move {
            // Listening first: clients may connect before the source has
            // sent its schema (pyarrow writes it with the first batch); they
            // get it when it comes.
            let listener = bind(&listen, &server).await?;
            let hub = Hub::new(HubOptions {
                replay_tables: options.replay,
                ..HubOptions::default()
            });
            let subscribe = SubscribeOptions {
                policy: options.policy,
                max_lag: options.max_lag,
                write_timeout: options.timeout,
            };
            let clients = Arc::new(Semaphore::new(options.max_clients as usize));
            let accepting = {
                let (hub, clients, listener) = (hub.clone(), clients.clone(), &listener);
                async move {
                    accept_clients(listener, clients, options.max_clients, |conn| {
                        serve_client(hub.clone(), conn, subscribe.clone())
                    })
                    .await
                }
            };
            let feeding = async {
                hub.wait_for_subscribers(options.wait_for).await;
                Upstream::open(&source, client.as_ref())
                    .await?
                    .publish(&hub)
                    .await
            };
            let fed = tokio::select! {
                fed = feeding => fed,
                // The listener failed for good.
                accepted = accepting => accepted,
            };
            // The feed has ended (its end marker is queued for every client):
            // no more clients; those connected read what they have, within DRAIN.
            let drained =
                tokio::time::timeout(DRAIN, clients.acquire_many(options.max_clients)).await;
            if drained.is_err() {
                report(&CliError::msg(format!(
                    "{} clients still reading {} s after the feed ended: cut off",
                    hub.subscriber_count(),
                    DRAIN.as_secs()
                )));
            }
            // A client's subscription ends when its last message is handed
            // to its transport, which may still be writing it (HTTP/2: the
            // answer's last frames and a gRPC status): close gracefully, so
            // that what is being answered is finished before the process
            // exits.
            let _ = listener.close(crate::network::CLOSE_GRACE).await;
            fed
        },
        Ok(()),
    )
}

/// `serve nats://… -` and `relay SOURCE nats://…`: publishes the source's
/// streams on the NATS subject, one after the other (each ends with its end
/// marker; the next starts with its schema), instead of listening. NATS
/// fans them out; readers join, lag and resume on their own terms
/// (docs/nats.md), so the hub's flags do not apply.
fn publish_to_nats(
    source: Source,
    target: Endpoint,
    client: Option<lightstream::ClientOptions>,
) -> CliResult<()> {
    run_until_signal(
        async move {
            let upstream = Upstream::open(&source, client.as_ref()).await?;
            let publish_error = |e| CliError::net(format!("publishing to {target}"), e, false);
            let connect = || async {
                lightstream::connect(&target, &lightstream::ClientOptions::default())
                    .await
                    .map_err(|e| CliError::net(format!("connecting to {target}"), e, false))
            };
            match upstream {
                Upstream::Messages(mut reader) => {
                    let context = format!("reading {}", reader.peer());
                    loop {
                        let mut w = connect()
                            .await?
                            .message_writer()
                            .await
                            .map_err(publish_error)?;
                        w.send(reader.schema()).await.map_err(publish_error)?;
                        while let Some(message) = reader.next().await {
                            match message {
                                Ok(m) => w.send(&m).await.map_err(publish_error)?,
                                Err(e) => {
                                    // Readers see the stream cut short.
                                    w.abort("the feed's source broke off").await;
                                    return Err(CliError::net(&context, e, false));
                                }
                            }
                        }
                        w.finish().await.map_err(publish_error)?;
                        match reader.next_stream().await {
                            Ok(true) => {}
                            Ok(false) => return Ok(()),
                            Err(e) => return Err(CliError::net(&context, e, false)),
                        }
                    }
                }
                Upstream::Tables(mut tables, schema) => {
                    let mut w = connect()
                        .await?
                        .writer(schema, WriteOptions::default())
                        .await
                        .map_err(publish_error)?;
                    while let Some((table, _)) = tables.next().await? {
                        w.write(&table).await.map_err(publish_error)?;
                    }
                    w.finish().await.map_err(publish_error)?;
                    Ok(())
                }
            }
        },
        Ok(()),
    )
}

/// One client, subscribed until the feed ends for it; a failure is one line.
async fn serve_client(hub: Hub, conn: lightstream::Connection, options: SubscribeOptions) {
    // grpc://: any DoGet joins the feed; a DoPut is refused.
    #[cfg(feature = "flight")]
    let Some(conn) = crate::flight::admit(conn, crate::flight::Takes::Gets).await else {
        return;
    };
    let peer = conn.peer().to_string();
    let started = std::time::Instant::now();
    match hub.subscribe(conn, options).await {
        Ok(stats) => say_sent(&stats, started.elapsed()),
        // A port probe, a health check.
        Err(lightstream::Error::EmptyConnection { .. }) => {}
        Err(err @ lightstream::Error::Lagged { .. }) => {
            report(&CliError::msg(format!("client {peer} dropped: {err}")));
        }
        Err(err) => report(&CliError::msg(format!(
            "client {peer} failed: {}",
            CliError::net(format!("sending to {peer}"), err, false)
        ))),
    }
}

/// On a terminal: what one subscriber was sent (a line on stderr).
pub(crate) fn say_sent(stats: &SubscriberStats, elapsed: Duration) {
    if progress::chatty() {
        let _ = writeln!(
            io::stderr(),
            "lightstream: sent {} tables ({} bytes) in {:.1} s to {}",
            stats.tables_sent,
            stats.bytes_sent,
            elapsed.as_secs_f64(),
            stats.peer
        );
    }
}

/// An opened source: whole messages, or tables from a file.
enum Upstream {
    Messages(Box<MessageReader>),
    Tables(InputThread, Arc<lightstream::Schema>),
}

impl Upstream {
    async fn open(
        source: &Source,
        client: Option<&lightstream::ClientOptions>,
    ) -> CliResult<Upstream> {
        let name = source.name();
        let context = format!("reading {name}");
        let limits = DecodeLimits::default();
        let reader = match source {
            Source::Stdin => {
                MessageReader::from_async_read(tokio::io::stdin(), name.clone(), limits).await
            }
            Source::Path(path) => match input::file_format(path)? {
                Format::Stream => {
                    let file = tokio::fs::File::open(path)
                        .await
                        .map_err(|e| CliError::io(format!("cannot open {}", path.display()), e))?;
                    MessageReader::from_async_read(file, name.clone(), limits).await
                }
                // An IPC file, CSV or Parquet: tables, encoded once by the hub.
                _ => {
                    let mut tables = InputThread::start(Input::Path(path.clone()));
                    let schema = tables.schema().await?;
                    return Ok(Upstream::Tables(tables, schema));
                }
            },
            Source::Url(endpoint) => {
                let default = lightstream::ClientOptions::default();
                let conn = lightstream::connect(endpoint, client.unwrap_or(&default))
                    .await
                    .map_err(|e| CliError::net(format!("connecting to {endpoint}"), e, false))?;
                conn.message_reader(limits).await
            }
        };
        match reader {
            Ok(reader) => Ok(Upstream::Messages(Box::new(reader))),
            Err(lightstream::Error::EmptyConnection { .. }) => Err(CliError::msg(format!(
                "{context}: it ended before the first byte of a stream"
            ))),
            Err(e) => Err(CliError::net(&context, e, false)),
        }
    }

    /// Publishes every message (or table) to `hub`, then the end marker;
    /// also after an input that broke off, whose error is then returned.
    async fn publish(self, hub: &Hub) -> CliResult<()> {
        let publish_error = |e| CliError::net("publishing the feed", e, false);
        match self {
            Upstream::Messages(mut reader) => {
                let context = format!("reading {}", reader.peer());
                let mut failed = None;
                loop {
                    // A schema after the first ends every subscriber's
                    // stream (they have its end marker) and starts the one
                    // later subscribers join (`SchemaChange::EndStreams`).
                    hub.publish(reader.schema().clone())
                        .await
                        .map_err(publish_error)?;
                    while let Some(message) = reader.next().await {
                        match message {
                            Ok(m) => hub.publish(m).await.map_err(publish_error)?,
                            Err(e) => {
                                failed = Some(CliError::net(&context, e, false));
                                break;
                            }
                        }
                    }
                    hub.publish(IpcMessage::end_of_stream())
                        .await
                        .map_err(publish_error)?;
                    if failed.is_some() {
                        break;
                    }
                    // Another stream may follow on the same input.
                    match reader.next_stream().await {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            failed = Some(CliError::net(&context, e, false));
                            break;
                        }
                    }
                }
                failed.map_or(Ok(()), Err)
            }
            Upstream::Tables(mut tables, schema) => {
                let mut publisher = hub
                    .publisher(schema, WriteOptions::default())
                    .map_err(publish_error)?;
                let mut failed = None;
                loop {
                    match tables.next().await {
                        Ok(Some((table, _))) => {
                            publisher.write(&table).await.map_err(publish_error)?
                        }
                        Ok(None) => break,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                publisher.finish().await.map_err(publish_error)?;
                failed.map_or(Ok(()), Err)
            }
        }
    }
}
