//! `nats://` and `nats+tls://`: a table stream as a live feed on a NATS
//! subject (feature `nats`, on the official async-nats client).
//!
//! [`connect`] opens a NATS connection; its [`crate::Connection`] becomes a
//! writer (publisher: `sink.rs`) or a reader (subscriber: `stream.rs`),
//! through the same seam as every other transport. What goes in each NATS
//! message and how large messages are cut is `wire.rs` (sans-IO).
//!
//! Subjects of the URL's subject `S`: `S.schema` carries the first message of
//! each IPC stream (a late joiner finds the last one with one JetStream
//! "last message on subject" get), `S.msg` every other. A core reader holds
//! one subscription `S.*` so that the two keep their order. In JetStream mode
//! the stream (`LS_<S with . as _>`, or `?stream=`) holds both subjects.
//!
//! What it is not: a listener. NATS has a server already; `bind` refuses.

use std::fmt;
use std::time::Duration;

use lightstream_core::DecodeLimits;

use crate::connection::{Connection, Link, Pending};
use crate::endpoint::Endpoint;
use crate::error::{Error, NatsProblem, Result};
use crate::nats::{NatsCounters, NatsMode, NatsOptions};
use crate::reader::Input;
use crate::transport::ClientOptions;
use crate::writer::MessageSink;

mod sink;
mod stream;
pub(crate) mod wire;

/// How long connecting to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One feed: the URL, its subjects and settings.
#[derive(Clone)]
pub(crate) struct Feed {
    /// The URL, as errors name it.
    pub url: String,
    /// The URL's subject `S`.
    pub subject: String,
    pub options: NatsOptions,
}

impl fmt::Debug for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl Feed {
    /// `S.schema`: the first message of every IPC stream.
    pub(crate) fn schema_subject(&self) -> String {
        format!("{}.schema", self.subject)
    }

    /// `S.msg`: every other message.
    pub(crate) fn msg_subject(&self) -> String {
        format!("{}.msg", self.subject)
    }

    /// The JetStream stream's name.
    pub(crate) fn stream_name(&self) -> String {
        self.options
            .stream
            .clone()
            .unwrap_or_else(|| format!("LS_{}", self.subject.replace('.', "_")))
    }

    /// An [`Error::Nats`] of this feed.
    pub(crate) fn error(&self, problem: NatsProblem) -> Error {
        Error::Nats {
            url: self.url.clone(),
            problem,
        }
    }
}

/// Connects to the NATS server of a `nats://` or `nats+tls://` endpoint.
pub(crate) async fn connect(endpoint: &Endpoint, options: &ClientOptions) -> Result<Connection> {
    let Endpoint::Nats {
        host,
        port,
        tls,
        subject,
        query,
    } = endpoint
    else {
        return Err(Error::Config(format!("{endpoint} is not a nats:// URL")));
    };
    let feed = Feed {
        url: endpoint.to_string(),
        subject: subject.clone(),
        options: options.nats.with_query(query),
    };
    let mut connect = async_nats::ConnectOptions::new()
        .connection_timeout(CONNECT_TIMEOUT)
        // Reconnect for ever (with async-nats' capped backoff): a server
        // restart is waited out; bounded by the reader's idle timeout and
        // the writer's write timeout.
        .max_reconnects(None)
        .subscription_capacity(feed.options.max_pending_messages.max(1));
    if let Some(name) = &feed.options.name {
        connect = connect.name(name);
    }
    if let Some(token) = &options.token {
        connect = connect.token(token.clone());
    }
    if *tls {
        #[cfg(feature = "tls")]
        {
            let config = match &options.tls {
                Some(c) => c.clone(),
                None => crate::tls::client_config()?,
            };
            connect = connect
                .require_tls(true)
                .tls_client_config((*config).clone());
        }
        #[cfg(not(feature = "tls"))]
        return Err(Error::Config(format!(
            "{endpoint}: NATS over TLS was not compiled in (lightstream's `nats` and `tls` \
             features)"
        )));
    }
    let client = connect
        .connect(format!("{host}:{port}"))
        .await
        .map_err(|e| {
            feed.error(NatsProblem::Connect {
                detail: e.to_string(),
            })
        })?;
    // Core NATS keeps nothing: a reader gets what is published after it
    // subscribed, so it subscribes here, before the application starts a
    // publisher (a writer drops the subscription).
    let subscription = match jetstream(&feed) {
        true => None,
        false => Some(stream::subscribe_core(&client, &feed).await?),
    };
    let peer = feed.url.clone();
    Ok(Connection::new(
        NatsLink {
            client,
            feed,
            subscription,
            counters: NatsCounters::default(),
        },
        peer,
    ))
}

/// A NATS connection not yet publishing or reading (in core mode,
/// subscribed already).
struct NatsLink {
    client: async_nats::Client,
    feed: Feed,
    subscription: Option<async_nats::Subscriber>,
    /// What the writer or reader it becomes counts.
    counters: NatsCounters,
}

impl Link for NatsLink {
    fn input(self: Box<Self>, _: String, limits: DecodeLimits) -> Pending<'static, Input> {
        Box::pin(async move {
            let NatsLink {
                client,
                feed,
                subscription,
                counters,
            } = *self;
            let messages = stream::read(client, feed, subscription, limits, counters);
            Ok(Input::Messages(Box::new(messages)))
        })
    }

    fn sink(self: Box<Self>, _: String) -> Pending<'static, Box<dyn MessageSink>> {
        Box::pin(async move {
            let sink = sink::NatsSink::open(self.client, self.feed, self.counters).await?;
            Ok(Box::new(sink) as Box<dyn MessageSink>)
        })
    }

    fn nats_counters(&self) -> Option<NatsCounters> {
        Some(self.counters.clone())
    }
}

/// Whether a feed is carried by JetStream.
pub(crate) fn jetstream(feed: &Feed) -> bool {
    feed.options.mode == NatsMode::JetStream
}

/// The JetStream stream of `feed`, or the error that says why not; `create`:
/// make it when missing (a writer's first publish).
pub(crate) async fn feed_stream(
    js: &async_nats::jetstream::Context,
    feed: &Feed,
    create: bool,
) -> Result<async_nats::jetstream::stream::Stream> {
    use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
    use async_nats::jetstream::stream::{Config, StorageType};
    let name = feed.stream_name();
    let subjects = vec![feed.schema_subject(), feed.msg_subject()];
    let found = match js.get_stream(&name).await {
        Ok(s) => Some(s),
        // 10059: stream not found.
        Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(ref j) if j.error_code().0 == 10059) => {
            None
        }
        Err(e) if matches!(e.kind(), GetStreamErrorKind::Request) => {
            return Err(feed.error(NatsProblem::NoJetStream));
        }
        Err(e) => {
            return Err(feed.error(NatsProblem::StreamConfig {
                detail: e.to_string(),
            }));
        }
    };
    let stream = match found {
        Some(s) => s,
        None if !create => return Err(feed.error(NatsProblem::StreamGone)),
        None => {
            // Refused before it exists: no stream too small is left behind.
            check_room(feed, feed.options.max_bytes, feed.options.max_age)?;
            let config = Config {
                name: name.clone(),
                subjects: subjects.clone(),
                max_age: feed.options.max_age,
                max_bytes: i64::try_from(feed.options.max_bytes).unwrap_or(i64::MAX),
                storage: match feed.options.storage {
                    crate::nats::NatsStorage::File => StorageType::File,
                    crate::nats::NatsStorage::Memory => StorageType::Memory,
                },
                // The server refuses a window longer than max_age (0: no
                // age limit): the window is cut to it.
                duplicate_window: match feed.options.max_age {
                    age if age.is_zero() => feed.options.duplicate_window,
                    age => feed.options.duplicate_window.min(age),
                },
                // Late joiners find the last schema with one direct get.
                allow_direct: true,
                ..Config::default()
            };
            match js.get_or_create_stream(config).await {
                Ok(s) => s,
                Err(e) if matches!(e.kind(), CreateStreamErrorKind::JetStreamUnavailable) => {
                    return Err(feed.error(NatsProblem::NoJetStream));
                }
                Err(e) => {
                    return Err(feed.error(NatsProblem::StreamConfig {
                        detail: e.to_string(),
                    }));
                }
            }
        }
    };
    let config = &stream.cached_info().config;
    if !subjects.iter().all(|s| config.subjects.contains(s)) {
        return Err(feed.error(NatsProblem::StreamConfig {
            detail: format!(
                "stream {name} holds subjects {:?}, not {subjects:?}",
                config.subjects
            ),
        }));
    }
    if !config.allow_direct {
        return Err(feed.error(NatsProblem::StreamConfig {
            detail: format!("stream {name} does not allow direct gets (allow_direct)"),
        }));
    }
    Ok(stream)
}

/// A writer's check that a stream keeping `max_bytes` (0: no limit) for
/// `max_age` (zero: no limit) holds two restate intervals
/// (`restate_bytes`, `restate_every`), so that a joiner always finds its
/// restate point: [`NatsProblem::StreamTooSmall`] if not.
pub(crate) fn check_room(feed: &Feed, max_bytes: u64, max_age: Duration) -> Result<()> {
    use crate::error::StreamLimit;
    let o = &feed.options;
    let limit = if max_bytes > 0 && max_bytes < o.restate_bytes.saturating_mul(2) {
        StreamLimit::Bytes {
            max_bytes,
            restate_bytes: o.restate_bytes,
        }
    } else if !max_age.is_zero() && max_age < o.restate_every.saturating_mul(2) {
        StreamLimit::Age {
            max_age,
            restate_every: o.restate_every,
        }
    } else {
        return Ok(());
    };
    Err(feed.error(NatsProblem::StreamTooSmall {
        stream: feed.stream_name(),
        limit,
    }))
}
