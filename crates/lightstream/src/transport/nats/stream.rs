//! The subscriber: NATS messages of a feed back into whole IPC messages for
//! the reader's one driver, on a task of its own that feeds a small bounded
//! channel (the reader's pace is the task's).
//!
//! Core NATS: one subscription on `S.*` (so that schema and other messages
//! keep their order); a reader without a schema asks for a restate on
//! `S.join` and starts at the first restated schema or stream start.
//! JetStream: the join reads the stream's last restate point (a direct get
//! of the last `S.schema` message), then consumes from there with an
//! ordered consumer: schema and dictionaries pass, record batches published
//! before the join are dropped, everything after passes. The consumer pulls
//! about [`PULL_BYTES`] at a time (async-nats' default of 500 messages is
//! gigabytes of large messages). It is recreated by us from the last stream
//! sequence + 1 after an error, or when nothing came and it is gone from the
//! server (async-nats' own does not recover from a server restart): no gap,
//! no duplicate.
//!
//! Every message goes through the same checks: foreign messages (no
//! `Ls-Stream`) are skipped and counted, parts are reassembled within the
//! reader's limits (`wire::Reassembler`), message numbers must follow each
//! other (`wire::Sequencer`; a gap is [`NatsProblem::Gap`] or skipped, per
//! [`OnGap`]), and a stream that starts again without its end marker is
//! [`NatsProblem::PublisherRestarted`].
//!
//! What it is not: a decoder. Messages go on as bytes; the reader checks them.

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::stream::DirectGetErrorKind;
use bytes::Bytes;
use futures_util::StreamExt;
use lightstream_core::{DecodeLimits, IpcMessage, MessageKind};
use tokio::sync::mpsc;

use super::wire::{LsHeaders, Reassembler, Sequencer, Step};
use super::{Feed, feed_stream};
use crate::error::{Error, NatsProblem, Result};
use crate::nats::{Counters, NatsCounters, OnGap};
use crate::reader::{MessageStream, Violation};

/// Whole messages waiting for the reader.
const CHANNEL_MESSAGES: usize = 8;

/// With no message for this long, a JetStream reader checks whether the
/// stream moved on without it and its consumer is gone from the server (a
/// consumer lost in a server restart).
const STALL_CHECK: Duration = Duration::from_secs(2);

/// What a JetStream reader asks the server for at a time (see [`pull_batch`]):
/// well under nats-server's default `max_pending` (64 MB) for one connection.
/// With 24 MB messages, pulls of 4 (256 MiB asked) made transfers through a
/// memory stream take 6.7-53 s instead of 0.8 s (benches/nats.rs).
const PULL_BYTES: usize = 32 << 20;

/// How often a core reader without a schema asks the publisher to restate.
const JOIN_ASK_EVERY: Duration = Duration::from_secs(1);

/// How often a resumable reader writes its bookmark (when it moved).
const BOOKMARK_EVERY: Duration = Duration::from_secs(1);

/// The JetStream stream of every reader's bookmark (one message per
/// subject `ls.bookmark.<stream>.<name>`: key-value semantics without the
/// KV API, which async-nats 0.52 cannot use on a 2.9 server).
pub(crate) const BOOKMARKS: &str = "LS_BOOKMARKS";

/// A message for the reader and its JetStream stream sequence (0 in core).
type Delivery = Result<(Bytes, u64)>;

/// The reader's side of a feed.
pub(crate) struct NatsMessages {
    rx: mpsc::Receiver<Delivery>,
    /// The stream sequence of the last message handed to the reader (what
    /// a resumable reader's bookmark records).
    delivered: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
    /// Messages and bytes handed on are counted here.
    counters: NatsCounters,
}

impl MessageStream for NatsMessages {
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        self.rx.poll_recv(cx).map(|m| {
            m.map(|d| {
                d.map(|(bytes, seq)| {
                    self.delivered.store(seq, Ordering::Release);
                    let c = self.counters.counters();
                    Counters::add(&c.messages, 1);
                    Counters::add(&c.bytes, bytes.len() as u64);
                    bytes
                })
            })
        })
    }

    /// NATS has no way to tell a publisher why: the subscription just ends.
    fn poll_refuse(&mut self, _: &mut Context<'_>, _: Violation, _: &str) -> Poll<()> {
        self.task.abort();
        Poll::Ready(())
    }

    fn unit(&self) -> &'static str {
        "NATS message"
    }
}

/// The core subscription of `feed` (`S.*`), in place on the server when
/// this returns.
pub(crate) async fn subscribe_core(
    client: &async_nats::Client,
    feed: &Feed,
) -> Result<async_nats::Subscriber> {
    let connect = |e: &dyn std::fmt::Display| {
        feed.error(NatsProblem::Connect {
            detail: e.to_string(),
        })
    };
    let subscription = client
        .subscribe(format!("{}.*", feed.subject))
        .await
        .map_err(|e| connect(&e))?;
    // The server has the subscription once the flush comes back.
    client.flush().await.map_err(|e| connect(&e))?;
    Ok(subscription)
}

/// Reads `feed`: from `subscription` (core NATS) or by joining its
/// JetStream stream. The task ends when the reader is dropped (a resumable
/// reader writes its bookmark first).
pub(crate) fn read(
    client: async_nats::Client,
    feed: Feed,
    subscription: Option<async_nats::Subscriber>,
    limits: DecodeLimits,
    counters: NatsCounters,
) -> NatsMessages {
    let (tx, rx) = mpsc::channel(CHANNEL_MESSAGES);
    let delivered = Arc::new(AtomicU64::new(0));
    let order = Order::new(feed, limits, counters.clone());
    let handed = delivered.clone();
    let task = tokio::spawn(async move {
        let result = match subscription {
            Some(s) => receive_core(client, s, order, &tx).await,
            None => consume(client, order, &tx, &handed).await,
        };
        if let Err(e) = result {
            let _ = tx.send(Err(e)).await;
        }
    });
    NatsMessages {
        rx,
        delivered,
        task,
        counters,
    }
}

/// Core NATS: every message of the subscription, in order. Until it has a
/// schema the reader asks the publisher for a restate (`S.join`, every
/// [`JOIN_ASK_EVERY`]), for at most the join timeout.
async fn receive_core(
    client: async_nats::Client,
    mut subscription: async_nats::Subscriber,
    mut order: Order,
    tx: &mpsc::Sender<Delivery>,
) -> Result<()> {
    let join = format!("{}.join", order.feed.subject);
    let deadline = join_deadline(&order.feed);
    let mut ask = tokio::time::interval(JOIN_ASK_EVERY);
    loop {
        let m = tokio::select! {
            m = subscription.next() => m,
            _ = ask.tick(), if !order.joined => {
                if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    return Err(order.feed.error(NatsProblem::JoinTimeout));
                }
                // Best effort: a lost request is asked again.
                let _ = client.publish(join.clone(), Bytes::new()).await;
                continue;
            }
            () = tx.closed() => return Ok(()),
        };
        let Some(m) = m else { return Ok(()) };
        if m.subject.as_str() == join {
            continue;
        }
        match order.take(m.headers.as_ref(), m.payload, None)? {
            Took::Message(bytes) => {
                if tx.send(Ok((bytes, 0))).await.is_err() {
                    return Ok(());
                }
            }
            Took::Nothing => {}
            Took::End => return Ok(()),
        }
    }
}

/// A resumable reader's bookmark: where it is kept, and what it last said.
struct Bookmark {
    js: async_nats::jetstream::Context,
    subject: String,
    written: u64,
    at: tokio::time::Instant,
}

impl Bookmark {
    /// The bookmark `name` of `feed` (its stream created when missing), and
    /// the stream sequence it holds, if any.
    async fn open(
        js: &async_nats::jetstream::Context,
        feed: &Feed,
        name: &str,
    ) -> Result<(Bookmark, Option<u64>)> {
        use async_nats::jetstream::stream::Config;
        let bad = |e: &dyn std::fmt::Display| {
            feed.error(NatsProblem::StreamConfig {
                detail: format!("bookmarks ({BOOKMARKS}): {e}"),
            })
        };
        let stream = js
            .get_or_create_stream(Config {
                name: BOOKMARKS.to_string(),
                subjects: vec!["ls.bookmark.>".to_string()],
                max_messages_per_subject: 1,
                allow_direct: true,
                ..Config::default()
            })
            .await
            .map_err(|e| bad(&e))?;
        let subject = format!("ls.bookmark.{}.{name}", feed.stream_name());
        let held = match stream.direct_get_last_for_subject(&subject).await {
            Ok(m) => Some(
                std::str::from_utf8(&m.payload)
                    .ok()
                    .and_then(|t| t.parse::<u64>().ok())
                    .ok_or_else(|| bad(&format!("bookmark {subject} is not a number")))?,
            ),
            Err(e) if matches!(e.kind(), DirectGetErrorKind::NotFound) => None,
            Err(e) => return Err(bad(&e)),
        };
        let bookmark = Bookmark {
            js: js.clone(),
            subject,
            written: held.unwrap_or(0),
            at: tokio::time::Instant::now(),
        };
        Ok((bookmark, held))
    }

    /// Records `seq` when it moved (and, unless `now`, a second has passed).
    async fn write(&mut self, seq: u64, now: bool) {
        if seq <= self.written || (!now && self.at.elapsed() < BOOKMARK_EVERY) {
            return;
        }
        let published = self
            .js
            .publish(self.subject.clone(), seq.to_string().into())
            .await;
        if let Ok(ack) = published {
            if now {
                let _ = tokio::time::timeout(Duration::from_secs(2), ack.into_future()).await;
            }
            self.written = seq;
            self.at = tokio::time::Instant::now();
        }
    }
}

/// JetStream: join at the stream's last schema (or resume after the
/// bookmark), then consume, recreating the ordered consumer from where it
/// stopped whenever it fails.
async fn consume(
    client: async_nats::Client,
    mut order: Order,
    tx: &mpsc::Sender<Delivery>,
    delivered: &AtomicU64,
) -> Result<()> {
    let feed = order.feed.clone();
    let js = async_nats::jetstream::new(client);
    let deadline = join_deadline(&feed);
    // Whether the reader started before the feed's stream existed: then every
    // message in the stream came after the join, and none is skipped.
    let mut before_the_stream = false;
    let stream = loop {
        match feed_stream(&js, &feed, false).await {
            Ok(s) => break s,
            Err(Error::Nats {
                problem: NatsProblem::StreamGone,
                ..
            }) if deadline.is_none_or(|d| tokio::time::Instant::now() < d) => {
                before_the_stream = true;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(Error::Nats {
                problem: NatsProblem::StreamGone,
                ..
            }) => return Err(feed.error(NatsProblem::JoinTimeout)),
            Err(e) => return Err(e),
        }
    };
    let stream_error = |e: &dyn std::fmt::Display| {
        feed.error(NatsProblem::StreamConfig {
            detail: e.to_string(),
        })
    };
    let (mut bookmark, held) = match &feed.options.resume {
        Some(name) => {
            let (b, held) = Bookmark::open(&js, &feed, name).await?;
            (Some(b), held)
        }
        None => (None, None),
    };
    let mut next = match held {
        // Resume: from the schema of the bookmarked message's stream,
        // dropping the record batches up to the bookmark.
        Some(b) => {
            let m = match stream.direct_get(b).await {
                Ok(m) => m,
                Err(e) if matches!(e.kind(), DirectGetErrorKind::NotFound) => {
                    return Err(feed.error(NatsProblem::ResumeTooOld));
                }
                Err(e) => return Err(stream_error(&e)),
            };
            let start = if m.subject.as_str() == feed.schema_subject() {
                // A schema (the stream's or a restated one): start there.
                first_part(&order, &m)?
            } else {
                let h = LsHeaders::parse(|name| m.headers.get(name).map(|v| v.as_str()))
                    .map_err(|e| order.framing(e.into_core()))?;
                h.and_then(|h| h.base).ok_or_else(|| {
                    stream_error(&format!("message {b} is not the feed's (no Ls-Base)"))
                })?
            };
            let first = stream.get_info().await.map_err(|e| stream_error(&e))?;
            if start < first.state.first_sequence {
                return Err(feed.error(NatsProblem::ResumeTooOld));
            }
            order.joined_at = b;
            start
        }
        // A reader that started before the stream existed: the whole stream,
        // from its first message (the feed's schema).
        None if before_the_stream => {
            let now = stream.get_info().await.map_err(|e| stream_error(&e))?;
            order.joined_at = 0;
            now.state.first_sequence.max(1)
        }
        // Jump to live: from the last schema, dropping the record batches
        // stored before the join. The stream's state is read first: a schema
        // published between the two reads is after the join, so it is read,
        // not skipped with the batches before it.
        None => {
            let now = stream.get_info().await.map_err(|e| stream_error(&e))?;
            let last_schema = match stream
                .direct_get_last_for_subject(feed.schema_subject())
                .await
            {
                Ok(m) => Some(first_part(&order, &m)?),
                Err(e) if matches!(e.kind(), DirectGetErrorKind::NotFound) => None,
                Err(e) => return Err(stream_error(&e)),
            };
            order.joined_at = now.state.last_sequence;
            last_schema.unwrap_or(now.state.last_sequence + 1)
        }
    };
    let result = async {
        let mut first = true;
        loop {
            if !std::mem::take(&mut first) {
                Counters::add(&order.counters.counters().consumers_recreated, 1);
            }
            let consumer = stream
                .create_consumer(OrderedConfig {
                    deliver_policy: DeliverPolicy::ByStartSequence {
                        start_sequence: next,
                    },
                    max_batch: pull_batch(js.client().max_payload()),
                    ..OrderedConfig::default()
                })
                .await;
            let (name, mut messages) = match consumer {
                Ok(c) => (c.cached_info().name.clone(), c.messages().await.ok()),
                Err(_) => (String::new(), None),
            };
            while let Some(ms) = messages.as_mut() {
                if let Some(b) = bookmark.as_mut() {
                    b.write(delivered.load(Ordering::Acquire), false).await;
                }
                // Not joined yet: wait no longer than the join deadline.
                let wait = match deadline.filter(|_| !order.joined) {
                    Some(d) => {
                        STALL_CHECK.min(d.saturating_duration_since(tokio::time::Instant::now()))
                    }
                    None => STALL_CHECK,
                };
                let waited = tokio::select! {
                    m = tokio::time::timeout(wait, ms.next()) => m,
                    () = tx.closed() => return Ok(()),
                };
                let m = match waited {
                    Ok(Some(Ok(m))) => m,
                    Ok(Some(Err(_)) | None) => break,
                    Err(_)
                        if !order.joined
                            && deadline.is_some_and(|d| tokio::time::Instant::now() >= d) =>
                    {
                        return Err(feed.error(NatsProblem::JoinTimeout));
                    }
                    Err(_) => {
                        // Nothing came: fine if nothing was published, or
                        // if the consumer is still on the server (a large
                        // message on its way, a busy machine: its own
                        // heartbeats tell it from a dead one). Lost only when
                        // the stream moved on and the consumer is gone (a
                        // server restart).
                        match stream.get_info().await {
                            Ok(info) if info.state.last_sequence < next => continue,
                            Ok(_) if stream.consumer_info(&name).await.is_ok() => continue,
                            _ => break,
                        }
                    }
                };
                let Ok(info) = m.info() else { continue };
                let seq = info.stream_sequence;
                if seq < next {
                    continue; // a redelivery after a recreate
                }
                next = seq + 1;
                let message = m.message;
                let took = order.take(message.headers.as_ref(), message.payload, Some(seq))?;
                if !order.joined && deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    // Messages, but none to start with (no restate point).
                    return Err(feed.error(NatsProblem::JoinTimeout));
                }
                match took {
                    Took::Message(bytes) => {
                        if tx.send(Ok((bytes, seq))).await.is_err() {
                            return Ok(());
                        }
                    }
                    Took::Nothing => {}
                    Took::End => return Ok(()),
                }
            }
            // The consumer failed (a server restart): wait for the stream
            // to be back, then go on from `next`. The old consumer is
            // deleted if it is still there, so that the server stops
            // sending its pull's messages to nobody.
            drop(messages);
            if !name.is_empty() {
                let _ = tokio::time::timeout(STALL_CHECK, stream.delete_consumer(&name)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if tx.is_closed() {
                return Ok(());
            }
        }
    }
    .await;
    if let Some(b) = bookmark.as_mut() {
        b.write(delivered.load(Ordering::Acquire), true).await;
    }
    result
}

/// The most messages one pull of the ordered consumer asks for: about
/// [`PULL_BYTES`] of `max_payload`-sized messages, at least one, at most
/// async-nats' own 500.
fn pull_batch(max_payload: usize) -> i64 {
    (PULL_BYTES / max_payload.max(1)).clamp(1, 500) as i64
}

/// When a reader that has no schema yet gives up ([`NatsOptions::join_timeout`]
/// from now; `None`: never). The same rule in both modes.
///
/// [`NatsOptions::join_timeout`]: crate::nats::NatsOptions::join_timeout
fn join_deadline(feed: &Feed) -> Option<tokio::time::Instant> {
    feed.options
        .join_timeout
        .map(|t| tokio::time::Instant::now() + t)
}

/// The stream sequence of the first part of the message whose part `m` is
/// (one publisher's parts are consecutive in the stream).
fn first_part(order: &Order, m: &async_nats::jetstream::message::StreamMessage) -> Result<u64> {
    let h = LsHeaders::parse(|name| m.headers.get(name).map(|v| v.as_str()))
        .map_err(|e| order.framing(e.into_core()))?;
    let k = h.and_then(|h| h.part).map_or(1, |(k, _, _)| u64::from(k));
    Ok(m.sequence.saturating_sub(k - 1))
}

/// What one NATS message gave.
enum Took {
    /// A whole message for the reader.
    Message(Bytes),
    /// Nothing yet (a part, a foreign or dropped message).
    Nothing,
    /// The publisher ended the stream without its end marker.
    End,
}

/// The checks every message of a feed goes through.
struct Order {
    feed: Feed,
    limits: DecodeLimits,
    parts: Reassembler,
    sequence: Sequencer,
    /// The current stream's end marker has not come yet.
    open: bool,
    /// JetStream: record batches at or before this stream sequence were
    /// published before the reader joined.
    joined_at: u64,
    /// The reader has its stream's schema (the stream's start, or a restate
    /// point); until then it drops what it cannot start with.
    joined: bool,
    /// The restate point it joined at, `(stream, n)`, while its restated
    /// dictionaries come.
    restating: Option<(u64, u64)>,
    /// Messages without our headers, skipped.
    foreign: u64,
    /// What the reader counts ([`crate::nats::NatsStats`]).
    counters: NatsCounters,
}

impl Order {
    fn new(feed: Feed, limits: DecodeLimits, counters: NatsCounters) -> Order {
        Order {
            parts: Reassembler::new(&limits),
            feed,
            limits,
            sequence: Sequencer::default(),
            open: false,
            joined_at: 0,
            joined: false,
            restating: None,
            foreign: 0,
            counters,
        }
    }

    fn framing(&self, e: lightstream_core::Error) -> Error {
        Error::Framing {
            peer: self.feed.url.clone(),
            source: e,
        }
    }

    /// The whole message once its last part came (see [`Reassembler`]).
    fn whole(&mut self, h: &LsHeaders, payload: Bytes) -> Result<Option<Bytes>> {
        let whole = self.parts.push(h, payload);
        whole.map_err(|e| self.framing(e.into_core()))
    }

    /// What a whole message is (`None`: not an IPC message; the reader's
    /// driver will say why).
    fn kind(&self, bytes: &Bytes) -> Option<MessageKind> {
        IpcMessage::new(bytes.clone(), &self.limits)
            .ok()
            .map(|m| m.kind())
    }

    /// One NATS message (`stream_seq`: its JetStream sequence).
    fn take(
        &mut self,
        headers: Option<&HeaderMap>,
        payload: Bytes,
        stream_seq: Option<u64>,
    ) -> Result<Took> {
        let parsed = LsHeaders::parse(|name| headers?.get(name).map(|v| v.as_str()));
        let h = match parsed {
            Ok(Some(h)) => h,
            Ok(None) => {
                // Not ours (a stray `nats pub`): skipped, so that it cannot
                // cut every subscriber off.
                self.foreign += 1;
                Counters::add(&self.counters.counters().foreign_skipped, 1);
                if self.foreign.is_power_of_two() {
                    eprintln!(
                        "lightstream: {}: skipped {} NATS message(s) without Ls-Stream headers",
                        self.feed.url, self.foreign
                    );
                }
                return Ok(Took::Nothing);
            }
            Err(e) => return Err(self.framing(e.into_core())),
        };
        if let Some(n) = h.restate {
            // Restates are for joiners: a reader in step drops them (all but
            // the one it joined at), before putting their parts together.
            let ours = self.restating == Some((h.stream, n));
            if self.joined && !ours {
                return Ok(Took::Nothing);
            }
            let Some(bytes) = self.whole(&h, payload)? else {
                return Ok(Took::Nothing);
            };
            if ours {
                return Ok(Took::Message(bytes)); // a restated dictionary
            }
            if self.kind(&bytes) != Some(MessageKind::Schema) {
                return Ok(Took::Nothing);
            }
            // Join here: the stream as it stood after message n.
            self.sequence.join(h.stream, n + 1);
            (self.open, self.joined, self.restating) = (true, true, Some((h.stream, n)));
            Counters::add(&self.counters.counters().restate_joins, 1);
            return Ok(Took::Message(bytes));
        }
        self.restating = None;
        if h.abort.is_some() {
            // Only the stream being read can be aborted.
            if self.open && self.sequence.stream() == Some(h.stream) {
                return Ok(Took::End);
            }
            return Ok(Took::Nothing);
        }
        let Some(bytes) = self.whole(&h, payload)? else {
            return Ok(Took::Nothing);
        };
        match self.sequence.step(h.stream, h.seq) {
            Step::Next => {}
            Step::Old => return Ok(Took::Nothing),
            Step::NewStream if h.seq != 0 => {
                // Joined in the middle of a stream (core NATS): wait for
                // the next stream's schema.
                self.sequence.end();
                return Ok(Took::Nothing);
            }
            Step::NewStream if self.open => {
                return Err(self.feed.error(NatsProblem::PublisherRestarted));
            }
            Step::NewStream => (self.open, self.joined) = (true, true),
            Step::Gap { expected, got } => match self.feed.options.on_gap {
                OnGap::Fail => return Err(self.feed.error(NatsProblem::Gap { expected, got })),
                OnGap::Skip => {
                    let c = self.counters.counters();
                    Counters::add(&c.gaps_skipped, 1);
                    Counters::add(&c.messages_lost, got - expected);
                }
            },
        }
        if bytes[..] == [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0] {
            self.open = false;
            self.sequence.end();
        } else if stream_seq.is_some_and(|s| s <= self.joined_at)
            && matches!(self.kind(&bytes), Some(MessageKind::RecordBatch { .. }))
        {
            return Ok(Took::Nothing);
        }
        Ok(Took::Message(bytes))
    }
}
