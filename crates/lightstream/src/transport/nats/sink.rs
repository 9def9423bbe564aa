//! The publisher: a writer's messages as NATS messages on the feed's
//! subjects, cut into parts where the server's `max_payload` requires
//! (`wire.rs` says how).
//!
//! Core NATS: each part is handed to the client (whose bounded channel is
//! the backpressure); `finish` flushes. JetStream: each part is published
//! with a `Nats-Msg-Id` of its own, at most `max_unacked` (and
//! `max_unacked_bytes`) wait for their acknowledgements; when one fails (a server restart), every unacknowledged
//! part is sent again in order with the same id, and the server's
//! de-duplication drops those it had stored already.
//!
//! Restate points: the schema and every dictionary as it stands sent again
//! (`Ls-Restate: n`) after `restate_bytes` or `restate_every`, and in core
//! mode when a joiner asks on `S.join`, so that a late joiner starts there.
//! A restate goes out between two messages (the publisher is behind one
//! lock), never inside one.
//!
//! What it is not: a decoder (messages are classified, never decoded).

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use std::sync::Arc;

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishAckFuture;
use bytes::Bytes;
use futures_util::StreamExt;
use lightstream_core::{DecodeLimits, EncodedMessage, IpcMessage};
use tokio::sync::Mutex;

use super::wire::{self, LsHeaders};
use super::{Feed, check_room, feed_stream, jetstream};
use crate::error::{Error, NatsProblem, Result};
use crate::feed_state::Dictionaries;
use crate::nats::{Counters, NatsCounters};
use crate::writer::{Limit, MessageSink, SendError, SinkFuture};

/// The end-of-stream marker as our writers send it.
const END_MARKER: [u8; 8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];

/// How long a JetStream writer keeps re-sending unacknowledged messages
/// (a server restart) when the writer has no write timeout.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// How long a core publisher waits after a joiner's request before it
/// restates (the joiners that ask meanwhile share the restate).
const JOIN_RESTATE_EVERY: Duration = Duration::from_millis(250);

/// A part published to JetStream and not acknowledged yet: kept to be sent
/// again.
struct InFlight {
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
    ack: Option<PublishAckFuture>,
}

/// The publisher's side of a feed; shared with the task that answers core
/// joiners (a restate goes out between two messages, never inside one).
pub(crate) struct NatsSink {
    publisher: Arc<Mutex<Publisher>>,
    joins: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for NatsSink {
    fn drop(&mut self) {
        if let Some(task) = &self.joins {
            task.abort();
        }
    }
}

/// The IPC stream being published.
#[derive(Clone, Copy)]
struct Open {
    /// Its `Ls-Stream`.
    sid: u64,
    /// The number of its next message.
    seq: u64,
    /// JetStream: the stream sequence of its last restate point (its schema
    /// or a restated schema): `Ls-Base`.
    base: Option<u64>,
}

/// What a late joiner needs of the stream being published.
#[derive(Default)]
struct FeedState {
    schema: Option<IpcMessage>,
    dictionaries: Dictionaries,
    /// Restates sent in this stream.
    restates: u64,
    /// Bytes published since the last restate point.
    since_restate: u64,
    last_restate: Option<Instant>,
}

struct Publisher {
    client: async_nats::Client,
    js: Option<async_nats::jetstream::Context>,
    feed: Feed,
    /// `None` before the first message and after an end marker.
    stream: Option<Open>,
    state: FeedState,
    in_flight: VecDeque<InFlight>,
    /// The payload bytes of `in_flight`.
    in_flight_bytes: u64,
    /// What it counts ([`crate::nats::NatsStats`]).
    counters: NatsCounters,
}

/// A random id for a new IPC stream (std's per-process random keys, the
/// clock and a counter: distinct across restarts and streams).
fn new_stream_id() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(now);
    h.write_u32(std::process::id());
    h.finish()
}

impl NatsSink {
    /// A publisher on `feed` (JetStream: its stream exists or is created;
    /// core: it answers joiners' `S.join` with a restate).
    pub(crate) async fn open(
        client: async_nats::Client,
        feed: Feed,
        counters: NatsCounters,
    ) -> Result<NatsSink> {
        let js = if jetstream(&feed) {
            let js = async_nats::jetstream::new(client.clone());
            let stream = feed_stream(&js, &feed, feed.options.create_stream).await?;
            // The stream found (or made) must hold two restate intervals.
            let config = &stream.cached_info().config;
            let max_bytes = u64::try_from(config.max_bytes).unwrap_or(0);
            check_room(&feed, max_bytes, config.max_age)?;
            Some(js)
        } else {
            None
        };
        let joins = match js {
            Some(_) => None,
            None => Some(
                client
                    .subscribe(format!("{}.join", feed.subject))
                    .await
                    .map_err(|e| {
                        feed.error(NatsProblem::Connect {
                            detail: e.to_string(),
                        })
                    })?,
            ),
        };
        let publisher = Arc::new(Mutex::new(Publisher {
            client,
            js,
            feed,
            stream: None,
            state: FeedState::default(),
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            counters,
        }));
        let joins = joins.map(|requests| tokio::spawn(answer_joins(requests, publisher.clone())));
        Ok(NatsSink { publisher, joins })
    }
}

/// Core NATS: each joiner's `S.join` gets a restate (at most one every
/// [`JOIN_RESTATE_EVERY`]: the joiners that asked meanwhile share it).
async fn answer_joins(mut requests: async_nats::Subscriber, publisher: Arc<Mutex<Publisher>>) {
    while requests.next().await.is_some() {
        tokio::time::sleep(JOIN_RESTATE_EVERY).await;
        // The requests that came meanwhile are answered by this restate.
        let mut asked = 1;
        while let Some(Some(_)) = futures_util::FutureExt::now_or_never(requests.next()) {
            asked += 1;
        }
        let mut p = publisher.lock().await;
        if p.restate().await.is_err() {
            return;
        }
        Counters::add(&p.counters.counters().joins_answered, asked);
    }
}

impl Publisher {
    fn publish_error(&self, detail: impl ToString) -> SendError {
        SendError::Failed(self.feed.error(NatsProblem::Publish {
            detail: detail.to_string(),
        }))
    }

    /// Publishes one whole IPC message of the stream (or an abort: empty,
    /// with `abort`), restating first when one is due.
    async fn publish(&mut self, message: Bytes, abort: Option<&str>) -> Result<(), SendError> {
        let open = *self.stream.get_or_insert_with(|| Open {
            sid: new_stream_id(),
            seq: 0,
            base: None,
        });
        let schema = open.seq == 0 && abort.is_none();
        // Our writers' messages (a MessageWriter's were checked by its
        // reader): classified for the restate state, never decoded.
        let kind = IpcMessage::new(message.clone(), &DecodeLimits::DEFAULT).ok();
        if schema {
            self.state = FeedState {
                schema: kind.clone(),
                ..FeedState::default()
            };
        } else if self.restate_due() {
            self.restate().await?;
        }
        let Some(open) = self.stream else {
            return Ok(());
        };
        if let Some(m) = &kind {
            self.state.dictionaries.apply(m);
        }
        self.state.since_restate += message.len() as u64;
        let whole = LsHeaders {
            stream: open.sid,
            seq: open.seq,
            base: open.base,
            abort: abort.map(str::to_string),
            ..LsHeaders::default()
        };
        let subject = match schema {
            true => self.feed.schema_subject(),
            false => self.feed.msg_subject(),
        };
        let id = format!("{}.{}", wire::stream_id(open.sid), open.seq);
        let first = self
            .send_message(subject, whole, &id, message.clone(), schema)
            .await?;
        let base = match schema {
            true => first,
            false => open.base,
        };
        if schema {
            self.state.last_restate = Some(Instant::now());
        }
        if abort.is_none() {
            let c = self.counters.counters();
            Counters::add(&c.messages, 1);
            Counters::add(&c.bytes, message.len() as u64);
        }
        self.stream = match abort.is_some() || message[..] == END_MARKER {
            true => None,
            false => Some(Open {
                seq: open.seq + 1,
                base,
                ..open
            }),
        };
        Ok(())
    }

    /// Whether the stream is due a restate point (`restate_bytes` of
    /// messages or `restate_every` since the last).
    fn restate_due(&self) -> bool {
        let o = &self.feed.options;
        self.state.since_restate >= o.restate_bytes
            || self
                .state
                .last_restate
                .is_some_and(|t| t.elapsed() >= o.restate_every)
    }

    /// A restate point: the schema again (on `S.schema`) and every
    /// dictionary as it stands (merged where the core can), all marked
    /// `Ls-Restate: n` (the state after message `n`), so that a joiner can
    /// start here. In JetStream the restated schema's stream sequence
    /// becomes the `Ls-Base` of what follows.
    async fn restate(&mut self) -> Result<(), SendError> {
        let (Some(open), Some(schema)) = (self.stream, self.state.schema.clone()) else {
            return Ok(());
        };
        if open.seq == 0 {
            return Ok(());
        }
        let n = open.seq - 1;
        let r = self.state.restates;
        self.state.restates += 1;
        let mut dictionaries = Vec::new();
        self.state
            .dictionaries
            .snapshot(&schema, None, &DecodeLimits::DEFAULT, &mut dictionaries);
        let header = |base| LsHeaders {
            stream: open.sid,
            seq: n,
            restate: Some(n),
            base,
            ..LsHeaders::default()
        };
        let sid = wire::stream_id(open.sid);
        let subject = self.feed.schema_subject();
        let first = self
            .send_message(
                subject,
                header(None),
                &format!("{sid}.r{r}.0"),
                schema.into_bytes(),
                true,
            )
            .await?;
        let base = first.or(open.base);
        for (i, d) in dictionaries.into_iter().enumerate() {
            let id = format!("{sid}.r{r}.{}", i + 1);
            let subject = self.feed.msg_subject();
            self.send_message(subject, header(base), &id, d.into_bytes(), false)
                .await?;
        }
        self.stream = Some(Open { base, ..open });
        self.state.since_restate = 0;
        self.state.last_restate = Some(Instant::now());
        Counters::add(&self.counters.counters().restates, 1);
        Ok(())
    }

    /// Sends one message in as many parts as `max_payload` requires, with
    /// `whole`'s headers (and `Nats-Msg-Id` `id[.part]` in JetStream).
    /// `acked`: JetStream waits for the first part's acknowledgement and
    /// returns its stream sequence (a restate point's `Ls-Base`).
    async fn send_message(
        &mut self,
        subject: String,
        whole: LsHeaders,
        id: &str,
        message: Bytes,
        acked: bool,
    ) -> Result<Option<u64>, SendError> {
        let acked = acked && self.js.is_some();
        if acked {
            self.settle_all(RETRY_FOR).await?;
        }
        let js = self.js.is_some();
        let id = |part: Option<usize>| match part {
            Some(k) => format!("{id}.{k}"),
            None => id.to_string(),
        };
        let wire_len = |h: &LsHeaders, part: Option<usize>| {
            let pairs = h.pairs();
            let msg_id = id(part);
            let extra = js.then_some((wire::MSG_ID, msg_id.as_str()));
            wire::header_wire_len(pairs.iter().map(|(k, v)| (*k, v.as_str())).chain(extra))
        };
        let len = message.len();
        let with_part = |k: usize, n: usize| LsHeaders {
            part: Some((k as u32, n as u32, len as u64)),
            ..whole.clone()
        };
        let parts = wire::plan_parts(
            len,
            self.client.max_payload(),
            wire_len(&whole, None),
            |n| wire_len(&with_part(n, n), Some(n)),
        )
        .map_err(|e| self.publish_error(e))?;
        let n = parts.len();
        if n > 1 {
            let c = self.counters.counters();
            Counters::add(&c.split, 1);
            Counters::add(&c.parts, n as u64);
        }
        for (i, range) in parts.into_iter().enumerate() {
            let (h, part) = if n == 1 {
                (whole.clone(), None)
            } else {
                (with_part(i + 1, n), Some(i + 1))
            };
            let mut headers = HeaderMap::new();
            for (k, v) in h.pairs() {
                headers.insert(k, v.as_str());
            }
            if js {
                headers.insert(wire::MSG_ID, id(part).as_str());
            }
            self.send_part(subject.clone(), headers, message.slice(range))
                .await?;
        }
        match acked {
            true => self.settle_oldest(RETRY_FOR).await,
            false => Ok(None),
        }
    }

    /// Hands one NATS message to the client; JetStream: waits for the
    /// oldest acknowledgements once `max_unacked` are in flight.
    async fn send_part(
        &mut self,
        subject: String,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<(), SendError> {
        let Some(js) = &self.js else {
            return self
                .client
                .publish_with_headers(subject, headers, payload)
                .await
                .map_err(|e| self.publish_error(e));
        };
        let ack = js
            .publish_with_headers(subject.clone(), headers.clone(), payload.clone())
            .await
            .map_err(|e| self.publish_error(e))?;
        self.in_flight_bytes += payload.len() as u64;
        self.in_flight.push_back(InFlight {
            subject,
            headers,
            payload,
            ack: Some(ack),
        });
        let o = &self.feed.options;
        let (most, most_bytes) = (o.max_unacked.max(1), o.max_unacked_bytes);
        while self.in_flight.len() > most
            || (self.in_flight.len() > 1 && self.in_flight_bytes > most_bytes)
        {
            self.settle_oldest(RETRY_FOR).await?;
        }
        Ok(())
    }

    /// Waits for the oldest acknowledgement (its stream sequence); when it
    /// fails, sends every unacknowledged message again (same ids: a
    /// duplicate is acknowledged with its first sequence) for at most
    /// `retry_for`.
    async fn settle_oldest(&mut self, retry_for: Duration) -> Result<Option<u64>, SendError> {
        let started = Instant::now();
        loop {
            let Some(front) = self.in_flight.front_mut() else {
                return Ok(None);
            };
            let failure = match front.ack.take() {
                Some(ack) => match ack.await {
                    Ok(ack) => {
                        if let Some(done) = self.in_flight.pop_front() {
                            self.in_flight_bytes -= done.payload.len() as u64;
                        }
                        return Ok(Some(ack.sequence));
                    }
                    Err(e) => e.to_string(),
                },
                None => "not sent".to_string(),
            };
            if started.elapsed() > retry_for {
                return Err(self.publish_error(format!(
                    "no acknowledgement for {:?} ({failure})",
                    started.elapsed()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let Some(js) = &self.js else {
                return Ok(None);
            };
            // Lost ones are a suffix (one connection, in order): send them
            // all again; the server drops the duplicates by Nats-Msg-Id.
            for f in self.in_flight.iter_mut() {
                f.ack = js
                    .publish_with_headers(f.subject.clone(), f.headers.clone(), f.payload.clone())
                    .await
                    .ok();
            }
            let resent = self.in_flight.len() as u64;
            Counters::add(&self.counters.counters().resent, resent);
        }
    }

    /// Everything in flight acknowledged (JetStream) or flushed (core).
    async fn settle_all(&mut self, retry_for: Duration) -> Result<(), SendError> {
        if self.js.is_none() {
            return self.client.flush().await.map_err(|e| self.publish_error(e));
        }
        while !self.in_flight.is_empty() {
            self.settle_oldest(retry_for).await?;
        }
        Ok(())
    }
}

/// `f` within `limit` (none: unbounded); past it, [`SendError::Stalled`].
async fn bounded<T>(
    limit: Option<Duration>,
    f: impl Future<Output = Result<T, SendError>>,
) -> Result<T, SendError> {
    crate::writer::bounded(limit, f)
        .await
        .unwrap_or_else(|after| Err(SendError::Stalled(after, 0)))
}

impl MessageSink for NatsSink {
    /// The message gathered once into one `Bytes`, then published: the one
    /// copy of column data on this path (the WebSocket sink makes it too).
    /// It cannot be avoided here: async-nats takes one contiguous `Bytes`
    /// per NATS message and keeps it after `publish` returns (its
    /// connection task writes it later), while an encoded message is a head
    /// and body chunks borrowed from the caller's table. After it nothing
    /// is copied: parts are `Bytes::slice`s of that buffer, a JetStream
    /// re-send publishes the same `Bytes`, and async-nats queues payloads of
    /// 4 KiB or more as they are for its vectored writes (it copies smaller
    /// ones, and the headers it serializes, into its write buffer).
    fn send<'a>(
        &'a mut self,
        message: &'a EncodedMessage<'_>,
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let bytes = Bytes::from(message.to_vec());
            let mut p = self.publisher.lock().await;
            bounded(limit.map(|l| l.allowed(0)), p.publish(bytes, None)).await
        })
    }

    /// Each message published as it is (parts slice it): no copy.
    fn send_shared<'a>(
        &'a mut self,
        messages: &'a [Bytes],
        limit: Option<Limit>,
    ) -> SinkFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let mut p = self.publisher.lock().await;
            bounded(limit.map(|l| l.allowed(0)), async {
                for m in messages {
                    p.publish(m.clone(), None).await?;
                }
                Ok(())
            })
            .await
        })
    }

    /// An empty message with `Ls-Abort`: subscribers end the stream without
    /// its end marker (their readers report it cut short).
    fn abort<'a>(&'a mut self, _: &'a str, reason: &'a str) -> SinkFuture<'a, ()> {
        Box::pin(async move {
            let wait = Some(Duration::from_secs(1));
            let mut p = self.publisher.lock().await;
            let _ = bounded(wait, p.publish(Bytes::new(), Some(reason))).await;
            let _ = bounded(wait, p.settle_all(Duration::from_secs(1))).await;
        })
    }

    fn finish<'a>(
        &'a mut self,
        peer: &'a str,
        limit: Option<Duration>,
    ) -> SinkFuture<'a, Result<()>> {
        Box::pin(async move {
            let retry_for = limit.unwrap_or(RETRY_FOR);
            let mut p = self.publisher.lock().await;
            match bounded(limit, p.settle_all(retry_for)).await {
                Ok(()) => Ok(()),
                Err(SendError::Failed(e)) => Err(e),
                Err(SendError::Io(e)) => Err(Error::io(format!("finishing {peer}"), e)),
                Err(SendError::Stalled(after, _)) => Err(Error::Timeout {
                    stalled: format!("{peer} took no data"),
                    after,
                    context: "waiting for the server's acknowledgements".to_string(),
                }),
            }
        })
    }
}
