//! [`Hub`]: one live feed, encoded once, sent to every subscriber on any
//! transport, with late joiners and a policy for subscribers that fall behind.
//!
//! A publisher writes tables ([`Hub::publisher`]) or already-encoded IPC
//! messages ([`Hub::publish`], what a relay forwards). Each message is
//! encoded and compressed once into shared bytes (`bytes::Bytes`); every
//! subscriber's queue holds a handle to the same bytes, and its transport
//! sends them without a copy of its own (vectored writes on byte streams,
//! the payload of a WebSocket message, chunks handed to quinn).
//!
//! **A late joiner** ([`Hub::subscribe`], from any [`Connection`]) receives a
//! self-contained Arrow IPC stream: the schema, then every dictionary as it
//! stands (one non-delta dictionary batch per dictionary where the core can
//! merge its deltas, else the first batch and its deltas in order), then the
//! replay window ([`HubOptions::replay_tables`]: the last tables, with the
//! dictionary messages among them), then the live messages from its join
//! point on. Record batch bodies are never decoded, so a feed of types
//! minarrow cannot hold (lists, structs, maps) is served all the same.
//!
//! **A subscriber that falls behind** never slows the others and never grows
//! memory past its [`SubscribeOptions::max_lag`] (bytes queued for it and not
//! yet sent; the join snapshot does not count). Then its [`SlowPolicy`]
//! applies: `Disconnect` (the default) ends its stream between two messages
//! (a WebSocket gets Close status 1008 with the reason, QUIC a stream reset,
//! a byte stream is shut down) and its `subscribe` returns [`Error::Lagged`];
//! a write already under way gets a second to finish, and a peer that takes
//! nothing in that time is cut off where its transport stopped (its reader
//! reports a truncated stream: whole tables, then a typed error, never the
//! end marker);
//! `Skip` drops the tables queued for it and goes on from the newest, first
//! re-sending in full every dictionary whose messages it lost, so what it
//! reads stays one valid stream; `Block` makes the publisher wait (lossless,
//! for pipelines). Messages are shared, so total memory is bounded by the
//! most any one subscriber may hold, not by their sum.
//!
//! **A new schema** while a stream is open ends the stream for every
//! subscriber (the end-of-stream marker, then their connections close) and
//! starts a new one that later subscribers join; [`SchemaChange::Refuse`]
//! makes it an error instead. After the end-of-stream marker the feed is
//! over: later subscribers get the finished stream (schema, dictionaries,
//! replay window, end marker) until a new schema starts the next one.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> lightstream::Result<()> {
//! use lightstream::hub::{Hub, HubOptions, SubscribeOptions};
//! use lightstream::minarrow::{fa_i64, tbl};
//! use lightstream::{Connection, ReadOptions, Schema, TableReader, WriteOptions};
//!
//! let hub = Hub::new(HubOptions::default());
//! // A subscriber on an in-memory pipe (any Connection works: TCP, WebSocket, QUIC...).
//! let (server, client) = tokio::io::duplex(1 << 16);
//! let (read, write) = tokio::io::split(server);
//! let subscription = tokio::spawn(hub.clone().subscribe(
//!     Connection::from_io(read, write, "pipe"),
//!     SubscribeOptions::default(),
//! ));
//! let reader = tokio::spawn(async move {
//!     let r = TableReader::from_async_read(client, "pipe", ReadOptions::default()).await?;
//!     r.read_all().await
//! });
//! hub.wait_for_subscribers(1).await;
//!
//! let table = tbl!("t", fa_i64!("n", 1, 2, 3));
//! let mut publisher = hub.publisher(Schema::from_table(&table).into(), WriteOptions::default())?;
//! publisher.write(&table).await?; // encoded once, whatever the number of subscribers
//! publisher.finish().await?;
//! assert_eq!(reader.await.expect("reader")?[0].cols, table.cols);
//! assert_eq!(subscription.await.expect("subscriber")?.tables_sent, 1);
//! # Ok(()) }
//! ```
//!
//! [The live feeds guide](https://github.com/lightstream-rs/lightstream/blob/main/docs/live-feeds.md)
//! has the model, the CLI recipes and the numbers.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use lightstream_core::minarrow::Table;
use lightstream_core::{
    DecodeLimits, IpcMessage, IpcStreamEncoder, MessageKind, Schema, WriteOptions,
};
use tokio::sync::Notify;

use crate::connection::Connection;
use crate::error::{Error, FeedProblem, Result};
use crate::feed_state::Dictionaries;
use crate::writer::{ABORT_WAIT, Limit, MessageSink};

/// How a hub keeps its feed.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Tables a late joiner receives from before it joined (with the
    /// dictionary messages among them). Default 0: live data only.
    pub replay_tables: usize,
    /// Bytes the replay window may hold at most (older tables leave first).
    /// Default 64 MiB.
    pub replay_bytes: usize,
    /// What a schema different from the open stream's does. Default
    /// [`SchemaChange::EndStreams`].
    pub schema_change: SchemaChange,
    /// Limits every published message is checked against
    /// ([`Hub::publish`] takes bytes from anywhere).
    pub limits: DecodeLimits,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            replay_tables: 0,
            replay_bytes: 64 << 20,
            schema_change: SchemaChange::EndStreams,
            limits: DecodeLimits::default(),
        }
    }
}

/// What a hub does with a new schema while a stream is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaChange {
    /// Every subscriber gets the end-of-stream marker and its connection
    /// closes; the new schema starts the stream later subscribers join.
    #[default]
    EndStreams,
    /// Publishing the schema fails with [`FeedProblem::SchemaChanged`].
    Refuse,
}

/// What happens to a subscriber that falls more than
/// [`SubscribeOptions::max_lag`] bytes behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowPolicy {
    /// End its stream between two messages ([`Error::Lagged`]).
    #[default]
    Disconnect,
    /// Drop the whole tables queued for it and go on from the newest,
    /// re-sending in full every dictionary whose messages were dropped.
    Skip,
    /// Make the publisher wait until it has room (lossless).
    Block,
}

impl std::fmt::Display for SlowPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SlowPolicy::Disconnect => "disconnect",
            SlowPolicy::Skip => "skip",
            SlowPolicy::Block => "block",
        })
    }
}

impl std::str::FromStr for SlowPolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "disconnect" => Ok(SlowPolicy::Disconnect),
            "skip" => Ok(SlowPolicy::Skip),
            "block" => Ok(SlowPolicy::Block),
            other => Err(Error::Config(format!(
                "unknown slow-subscriber policy {other:?} (disconnect, skip or block)"
            ))),
        }
    }
}

/// One subscriber's terms.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    /// What happens when it falls behind. Default `Disconnect`.
    pub policy: SlowPolicy,
    /// Bytes of live messages that may wait for it (the join snapshot does
    /// not count; a single larger message is let through when nothing else
    /// waits). Default 16 MiB.
    pub max_lag: usize,
    /// How long one write may wait for the peer to take bytes (with
    /// `Block`, the bound on how long a dead subscriber can hold the
    /// publisher). Default none.
    pub write_timeout: Option<Duration>,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            policy: SlowPolicy::Disconnect,
            max_lag: 16 << 20,
            write_timeout: None,
        }
    }
}

/// What a hub has done, for metrics ([`Hub::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Subscribers connected now.
    pub subscribers: usize,
    /// Subscribers that ever joined.
    pub joined: u64,
    /// Messages published (schema, dictionaries, tables, end markers).
    pub messages: u64,
    /// Tables (record batches) published.
    pub tables: u64,
    /// Bytes published, counted once however many subscribers got them.
    pub bytes: u64,
    /// Subscribers disconnected by the `Disconnect` policy.
    pub lagged: u64,
    /// Each connected subscriber, in the order they joined.
    pub each: Vec<SubscriberStats>,
}

/// One subscriber's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberStats {
    /// The hub's number for it, in join order.
    pub id: u64,
    /// Who it is, as errors name it.
    pub peer: String,
    /// Its policy.
    pub policy: SlowPolicy,
    /// Bytes of live messages waiting for it.
    pub queued_bytes: u64,
    /// Bytes its transport took.
    pub bytes_sent: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// Tables sent.
    pub tables_sent: u64,
    /// Tables dropped by the `Skip` policy.
    pub tables_dropped: u64,
    /// Times `Skip` re-sent its dictionaries.
    pub resyncs: u64,
}

/// A live feed and its subscribers. Cloning shares it.
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

struct Shared {
    options: HubOptions,
    feed: Mutex<Feed>,
    /// One publisher at a time, so one table's messages stay together.
    publishing: tokio::sync::Mutex<()>,
    /// Wakes [`Hub::wait_for_subscribers`] and [`Hub::wait_until_empty`]
    /// when a subscriber joins or leaves.
    changed: Notify,
}

/// The stream as a late joiner must receive it, and who receives it.
#[derive(Default)]
struct Feed {
    schema: Option<IpcMessage>,
    /// Dictionaries as they stood before the replay window.
    before_window: Dictionaries,
    /// Dictionaries as they stand now.
    now: Dictionaries,
    /// The replay window: dictionary and record batch messages, oldest first.
    window: VecDeque<IpcMessage>,
    window_tables: usize,
    window_bytes: usize,
    ended: bool,
    subscribers: Vec<Arc<Subscriber>>,
    next_id: u64,
    stats: HubStats,
}

/// One subscriber's queue and counters, shared by its task and the publisher.
struct Subscriber {
    id: u64,
    peer: String,
    options: SubscribeOptions,
    queue: Mutex<Queue>,
    /// The subscriber's task waits here for messages.
    ready: Notify,
    /// A `Block` publisher waits here for room.
    room: Notify,
    /// Its task, stuck in a write, learns here that it fell behind.
    kick: Notify,
    bytes_sent: AtomicU64,
    messages_sent: AtomicU64,
    tables_sent: AtomicU64,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    /// Bytes of live messages queued (what `max_lag` bounds).
    live_bytes: usize,
    state: QueueState,
    tables_dropped: u64,
    resyncs: u64,
}

#[derive(Default, PartialEq, Eq)]
enum QueueState {
    #[default]
    Open,
    /// Fell behind under `Disconnect`, with the bytes it had queued.
    Lagged(u64),
    /// Its task has ended.
    Gone,
}

struct Item {
    message: IpcMessage,
    /// Counts towards `live_bytes` (not part of a join snapshot or resync).
    live: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a hub lock leaves no half-updated invariant
    // worth refusing to serve over: every update is a push or a counter.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Messages a subscriber's task takes from its queue at once (one vectored
/// write), and the bytes past which it stops adding more.
const BATCH_MESSAGES: usize = 64;
const BATCH_BYTES: usize = 1 << 20;

impl Hub {
    /// A hub with no feed yet.
    pub fn new(options: HubOptions) -> Hub {
        Hub {
            shared: Arc::new(Shared {
                options,
                feed: Mutex::new(Feed::default()),
                publishing: tokio::sync::Mutex::new(()),
                changed: Notify::new(),
            }),
        }
    }

    /// The hub's options.
    pub fn options(&self) -> &HubOptions {
        &self.shared.options
    }

    /// A publisher of tables of `schema`: each table is encoded (and
    /// compressed) once for every subscriber. Its schema message is
    /// published with the first table (or by `finish`).
    pub fn publisher(&self, schema: Arc<Schema>, options: WriteOptions) -> Result<Publisher> {
        Ok(Publisher {
            hub: self.clone(),
            encoder: IpcStreamEncoder::new(schema, options)?,
            schema_sent: false,
        })
    }

    /// Publishes one encapsulated IPC message (its bytes checked against
    /// [`HubOptions::limits`]; see [`Hub::publish`]).
    pub async fn publish_bytes(&self, bytes: Bytes) -> Result<()> {
        let m = IpcMessage::new(bytes, &self.shared.options.limits)?;
        self.publish(m).await
    }

    /// Publishes one IPC message of the feed to every subscriber: the
    /// schema first, then dictionary and record batches, then (to end the
    /// feed) the end-of-stream marker. Waits only for `Block` subscribers.
    pub async fn publish(&self, message: IpcMessage) -> Result<()> {
        let _one = self.shared.publishing.lock().await;
        self.publish_locked(message).await
    }

    async fn publish_locked(&self, message: IpcMessage) -> Result<()> {
        let kind = message.kind();
        match kind {
            MessageKind::Schema => return self.start(message),
            MessageKind::EndOfStream => {
                let mut feed = lock(&self.shared.feed);
                if feed.schema.is_none() || feed.ended {
                    return Err(Error::Feed(FeedProblem::NotOpen { kind }));
                }
                feed.ended = true;
                self.fan_out(&mut feed, &message);
                return Ok(());
            }
            _ => {}
        }
        // Wait for room at every `Block` subscriber first, without the lock.
        let blocking: Vec<Arc<Subscriber>> = {
            let feed = lock(&self.shared.feed);
            if feed.schema.is_none() || feed.ended {
                return Err(Error::Feed(FeedProblem::NotOpen { kind }));
            }
            feed.subscribers
                .iter()
                .filter(|s| s.options.policy == SlowPolicy::Block)
                .cloned()
                .collect()
        };
        for s in &blocking {
            loop {
                let waiting = pin!(s.room.notified());
                if s.has_room(message.len()) {
                    break;
                }
                waiting.await;
            }
        }
        let mut feed = lock(&self.shared.feed);
        self.fan_out(&mut feed, &message);
        feed.now.apply(&message);
        feed.window_bytes += message.len();
        if matches!(kind, MessageKind::RecordBatch { .. }) {
            feed.window_tables += 1;
            feed.stats.tables += 1;
        }
        feed.window.push_back(message);
        let o = &self.shared.options;
        while feed.window_tables > o.replay_tables || feed.window_bytes > o.replay_bytes {
            let Some(old) = feed.window.pop_front() else {
                break;
            };
            feed.window_bytes -= old.len();
            if matches!(old.kind(), MessageKind::RecordBatch { .. }) {
                feed.window_tables -= 1;
            }
            feed.before_window.apply(&old);
        }
        Ok(())
    }

    /// A schema: the first, the same again, or a new stream.
    fn start(&self, schema: IpcMessage) -> Result<()> {
        let mut feed = lock(&self.shared.feed);
        if let Some(old) = &feed.schema {
            if !feed.ended {
                if old.bytes() == schema.bytes() {
                    return Ok(());
                }
                if self.shared.options.schema_change == SchemaChange::Refuse {
                    return Err(Error::Feed(FeedProblem::SchemaChanged));
                }
                self.fan_out(&mut feed, &IpcMessage::end_of_stream());
            }
            // Subscribers of the old stream end with it; later ones join the new one.
            for s in std::mem::take(&mut feed.subscribers) {
                lock(&s.queue).state.close_after_queue();
                s.ready.notify_one();
            }
        }
        // Whoever joined before any schema waits for this one.
        let waiting = std::mem::take(&mut feed.subscribers);
        let stats = std::mem::take(&mut feed.stats);
        let next_id = feed.next_id;
        *feed = Feed {
            next_id,
            stats,
            subscribers: waiting,
            ..Feed::default()
        };
        feed.fan_out_count(&schema);
        for s in &feed.subscribers {
            lock(&s.queue).items.push_back(Item {
                message: schema.clone(),
                live: false,
            });
            s.ready.notify_one();
        }
        feed.schema = Some(schema);
        Ok(())
    }

    /// Queues `m` for every subscriber, applying each one's policy.
    fn fan_out(&self, feed: &mut Feed, m: &IpcMessage) {
        feed.fan_out_count(m);
        let limits = &self.shared.options.limits;
        let Feed {
            schema,
            now,
            subscribers,
            stats,
            ..
        } = feed;
        for s in subscribers.iter() {
            let mut q = lock(&s.queue);
            if q.state != QueueState::Open {
                continue;
            }
            // The end marker always goes in: it frees the queue, never fills it.
            let end = m.kind() == MessageKind::EndOfStream;
            let over = !end && q.live_bytes > 0 && q.live_bytes + m.len() > s.options.max_lag;
            if over {
                match s.options.policy {
                    // Room was made before the lock was taken.
                    SlowPolicy::Block => {}
                    SlowPolicy::Disconnect => {
                        // What it would have had queued with this message.
                        q.state = QueueState::Lagged((q.live_bytes + m.len()) as u64);
                        q.items.clear();
                        q.live_bytes = 0;
                        stats.lagged += 1;
                        drop(q);
                        s.ready.notify_one();
                        s.kick.notify_one();
                        continue;
                    }
                    SlowPolicy::Skip => {
                        let mut lost: Vec<i64> = Vec::new();
                        let mut tables = 0;
                        q.items.retain(|i| {
                            if !i.live {
                                return true;
                            }
                            match i.message.kind() {
                                MessageKind::RecordBatch { .. } => tables += 1,
                                MessageKind::DictionaryBatch { id, .. } if !lost.contains(&id) => {
                                    lost.push(id)
                                }
                                _ => {}
                            }
                            false
                        });
                        q.live_bytes = 0;
                        q.tables_dropped += tables;
                        if !lost.is_empty()
                            && let Some(schema) = schema
                        {
                            let mut again = Vec::new();
                            now.snapshot(schema, Some(&lost), limits, &mut again);
                            q.resyncs += 1;
                            q.items.extend(again.into_iter().map(|message| Item {
                                message,
                                live: false,
                            }));
                        }
                    }
                }
            }
            if !end {
                q.live_bytes += m.len();
            }
            q.items.push_back(Item {
                message: m.clone(),
                live: !end,
            });
            drop(q);
            s.ready.notify_one();
        }
    }

    /// Serves one subscriber on `connection` (running its handshake first)
    /// until the feed ends (`Ok`, with its counters), it falls behind under
    /// `Disconnect` ([`Error::Lagged`]), or its transport fails. Spawn it
    /// on a task of its own per subscriber; dropping the future removes the
    /// subscriber.
    pub async fn subscribe(
        self,
        connection: Connection,
        options: SubscribeOptions,
    ) -> Result<SubscriberStats> {
        self.subscribe_until(connection, options, std::future::pending())
            .await
    }

    /// [`Hub::subscribe`], and when `leave` resolves (the peer asked to go:
    /// a WebSocket client that sent its Close) the subscriber's stream ends
    /// after the message being sent, with the end-of-stream marker and a
    /// clean close (the WebSocket closing handshake), `Ok`.
    pub async fn subscribe_until(
        self,
        connection: Connection,
        options: SubscribeOptions,
        leave: impl Future<Output = ()>,
    ) -> Result<SubscriberStats> {
        let (sink, peer) = connection.into_sink().await?;
        self.subscribe_sink(sink, peer, options, leave).await
    }

    pub(crate) async fn subscribe_sink(
        self,
        mut sink: Box<dyn MessageSink>,
        peer: String,
        options: SubscribeOptions,
        leave: impl Future<Output = ()>,
    ) -> Result<SubscriberStats> {
        let mut leave = pin!(leave);
        let mut leaving = false;
        let s = self.join(peer, options);
        let _leave = Leave {
            hub: &self,
            s: s.clone(),
        };
        let limit = Limit::new(s.options.write_timeout, None);
        let mut batch: Vec<Bytes> = Vec::with_capacity(BATCH_MESSAGES);
        loop {
            let waiting = pin!(s.ready.notified());
            let taken = {
                let mut q = lock(&s.queue);
                if let QueueState::Lagged(_) = q.state {
                    None
                } else {
                    Some(take(&mut q, &mut batch))
                }
            };
            let Some((live, tables, mut end)) = taken else {
                let e = s.lagged_error();
                sink.abort(&s.peer, &e.to_string()).await;
                return Err(e);
            };
            if leaving && !end {
                // What was taken goes out first (whole messages), then the end.
                batch.push(IpcMessage::end_of_stream().into_bytes());
                end = true;
            }
            if batch.is_empty() && !end {
                tokio::select! {
                    () = waiting => {}
                    () = &mut leave, if !leaving => leaving = true,
                }
                continue;
            }
            if !batch.is_empty() {
                let size: usize = batch.iter().map(Bytes::len).sum();
                let sent = {
                    let mut send = pin!(sink.send_shared(&batch, limit));
                    tokio::select! {
                        sent = &mut send => sent,
                        // It fell behind while this write waits for a peer
                        // that may never read again: a short grace, then go.
                        () = s.kick.notified() => {
                            match tokio::time::timeout(ABORT_WAIT, &mut send).await {
                                Ok(sent) => sent,
                                Err(_) => return Err(s.lagged_error()),
                            }
                        }
                    }
                };
                sent.map_err(|e| e.into_error(&s.peer, size, || "sending the feed".to_string()))?;
                s.bytes_sent.fetch_add(size as u64, Ordering::Relaxed);
                s.messages_sent
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                s.tables_sent.fetch_add(tables, Ordering::Relaxed);
                batch.clear();
                {
                    let mut q = lock(&s.queue);
                    q.live_bytes = q.live_bytes.saturating_sub(live);
                }
                s.room.notify_one();
            }
            if end {
                sink.finish(&s.peer, s.options.write_timeout).await?;
                return Ok(s.stats());
            }
            if !leaving && resolved(leave.as_mut()) {
                leaving = true;
            }
        }
    }

    /// Adds a subscriber whose queue starts with what a late joiner needs.
    fn join(&self, peer: String, options: SubscribeOptions) -> Arc<Subscriber> {
        let mut feed = lock(&self.shared.feed);
        let mut first = Vec::new();
        let limits = &self.shared.options.limits;
        let Feed {
            schema,
            before_window,
            window,
            ended,
            ..
        } = &mut *feed;
        if let Some(schema) = schema {
            first.push(schema.clone());
            before_window.snapshot(schema, None, limits, &mut first);
            first.extend(window.iter().cloned());
            if *ended {
                first.push(IpcMessage::end_of_stream());
            }
        }
        let id = feed.next_id;
        feed.next_id += 1;
        let s = Arc::new(Subscriber {
            id,
            peer,
            options,
            queue: Mutex::new(Queue {
                items: first
                    .into_iter()
                    .map(|message| Item {
                        message,
                        live: false,
                    })
                    .collect(),
                ..Queue::default()
            }),
            ready: Notify::new(),
            room: Notify::new(),
            kick: Notify::new(),
            bytes_sent: AtomicU64::new(0),
            messages_sent: AtomicU64::new(0),
            tables_sent: AtomicU64::new(0),
        });
        feed.subscribers.push(s.clone());
        feed.stats.joined += 1;
        drop(feed);
        self.shared.changed.notify_waiters();
        s
    }

    /// The hub's counters and every connected subscriber's.
    pub fn stats(&self) -> HubStats {
        let feed = lock(&self.shared.feed);
        let mut stats = feed.stats.clone();
        stats.subscribers = feed.subscribers.len();
        stats.each = feed.subscribers.iter().map(|s| s.stats()).collect();
        stats
    }

    /// Subscribers connected now.
    pub fn subscriber_count(&self) -> usize {
        lock(&self.shared.feed).subscribers.len()
    }

    /// Waits until at least `n` subscribers are connected.
    pub async fn wait_for_subscribers(&self, n: usize) {
        self.wait_for(|count| count >= n).await;
    }

    /// Waits until no subscriber is connected (after the end of the feed:
    /// every subscriber has been sent all of it, or has failed).
    pub async fn wait_until_empty(&self) {
        self.wait_for(|count| count == 0).await;
    }

    async fn wait_for(&self, done: impl Fn(usize) -> bool) {
        loop {
            let mut changed = pin!(self.shared.changed.notified());
            changed.as_mut().enable();
            if done(self.subscriber_count()) {
                return;
            }
            changed.await;
        }
    }
}

impl Feed {
    fn fan_out_count(&mut self, m: &IpcMessage) {
        self.stats.messages += 1;
        self.stats.bytes += m.len() as u64;
    }
}

impl QueueState {
    /// The queue's messages are sent, then the subscriber ends.
    fn close_after_queue(&mut self) {
        if *self == QueueState::Open {
            *self = QueueState::Gone;
        }
    }
}

impl Subscriber {
    fn has_room(&self, len: usize) -> bool {
        let q = lock(&self.queue);
        q.state != QueueState::Open
            || q.live_bytes == 0
            || q.live_bytes + len <= self.options.max_lag
    }

    fn lagged_error(&self) -> Error {
        let queued = match lock(&self.queue).state {
            QueueState::Lagged(queued) => queued,
            _ => 0,
        };
        Error::Lagged {
            peer: self.peer.clone(),
            queued,
            max_lag: self.options.max_lag as u64,
        }
    }

    fn stats(&self) -> SubscriberStats {
        let q = lock(&self.queue);
        SubscriberStats {
            id: self.id,
            peer: self.peer.clone(),
            policy: self.options.policy,
            queued_bytes: q.live_bytes as u64,
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            messages_sent: self.messages_sent.load(Ordering::Relaxed),
            tables_sent: self.tables_sent.load(Ordering::Relaxed),
            tables_dropped: q.tables_dropped,
            resyncs: q.resyncs,
        }
    }
}

/// Moves the next messages of `q` into `batch` (at most [`BATCH_MESSAGES`],
/// stopping past [`BATCH_BYTES`] and after an end marker): the live bytes
/// and tables taken, and whether the stream ends with them.
fn take(q: &mut Queue, batch: &mut Vec<Bytes>) -> (usize, u64, bool) {
    let (mut live, mut tables, mut end, mut size) = (0, 0, false, 0);
    while batch.len() < BATCH_MESSAGES && size < BATCH_BYTES {
        let Some(item) = q.items.pop_front() else {
            break;
        };
        size += item.message.len();
        if item.live {
            live += item.message.len();
        }
        match item.message.kind() {
            MessageKind::RecordBatch { .. } => tables += 1,
            MessageKind::EndOfStream => end = true,
            _ => {}
        }
        batch.push(item.message.into_bytes());
        if end {
            break;
        }
    }
    if batch.is_empty() && q.state == QueueState::Gone {
        // The stream was closed under it (a new schema) without its end
        // marker reaching the queue: nothing more comes.
        end = true;
    }
    (live, tables, end)
}

/// Whether `f` has resolved, polled once without waiting.
fn resolved<F: Future>(f: std::pin::Pin<&mut F>) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    f.poll(&mut cx).is_ready()
}

/// Takes a subscriber off the hub when its task ends, however it ends (a
/// dropped future included), and lets a publisher waiting for it go on.
struct Leave<'a> {
    hub: &'a Hub,
    s: Arc<Subscriber>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        {
            let mut q = lock(&self.s.queue);
            q.state = QueueState::Gone;
            q.items.clear();
            q.live_bytes = 0;
        }
        self.s.room.notify_one();
        lock(&self.hub.shared.feed)
            .subscribers
            .retain(|s| !Arc::ptr_eq(s, &self.s));
        self.hub.shared.changed.notify_waiters();
    }
}

/// Writes tables to a [`Hub`]: each table encoded and compressed once.
pub struct Publisher {
    hub: Hub,
    encoder: IpcStreamEncoder,
    schema_sent: bool,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// The hub it publishes to.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    async fn send_schema(&mut self) -> Result<()> {
        if !self.schema_sent {
            let m = self.encoder.schema_message()?;
            self.hub.publish_encoded(m.to_vec()).await?;
            self.schema_sent = true;
        }
        Ok(())
    }

    /// Publishes one table (its dictionary batches, then its record batch)
    /// to every subscriber; waits only for `Block` subscribers.
    pub async fn write(&mut self, table: &Table) -> Result<()> {
        self.send_schema().await?;
        let limits = &self.hub.shared.options.limits;
        let messages = self
            .encoder
            .encode_table(table)?
            .iter()
            .map(|m| IpcMessage::new(Bytes::from(m.to_vec()), limits))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let _one = self.hub.shared.publishing.lock().await;
        for m in messages {
            self.hub.publish_locked(m).await?;
        }
        Ok(())
    }

    /// Ends the feed: every subscriber gets the end-of-stream marker and
    /// its connection closes once it has read everything.
    pub async fn finish(mut self) -> Result<()> {
        self.send_schema().await?;
        self.hub.publish(IpcMessage::end_of_stream()).await
    }
}

impl Hub {
    async fn publish_encoded(&self, bytes: Vec<u8>) -> Result<()> {
        self.publish_bytes(Bytes::from(bytes)).await
    }
}
