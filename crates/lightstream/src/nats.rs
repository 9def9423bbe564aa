//! Live feeds over NATS (feature `nats`): the settings of `nats://` and
//! `nats+tls://` connections ([`NatsOptions`], in
//! [`crate::ClientOptions::nats`]). docs/nats.md has the whole story.
//!
//! A [`crate::TableWriter`] on a `nats://` connection publishes one Arrow IPC
//! stream on the URL's subject, one IPC message per NATS message (larger ones
//! in parts); a [`crate::TableReader`] subscribes. In JetStream mode (the
//! default) the feed is kept in a stream (`LS_<subject>`, created by the
//! writer), so a reader that joins late gets the stream's schema and its
//! dictionaries (from the writer's last restate point), then the record
//! batches published from the moment it joined; in core mode a joiner asks
//! the writer to restate.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> lightstream::Result<()> {
//! use lightstream::minarrow::{fa_i64, tbl};
//! use lightstream::{ClientOptions, ReadOptions, Schema, WriteOptions};
//!
//! let url = "nats://127.0.0.1:4222/feeds.ticks".parse()?;
//! let table = tbl!("t", fa_i64!("n", 1, 2, 3));
//! let conn = lightstream::connect(&url, &ClientOptions::default()).await?;
//! let mut writer = conn.writer(Schema::from_table(&table).into(), WriteOptions::default()).await?;
//! writer.write(&table).await?;
//! writer.finish().await?;
//! let conn = lightstream::connect(&url, &ClientOptions::default()).await?;
//! let tables = conn.reader(ReadOptions::default()).await?.read_all().await?;
//! assert_eq!(tables[0].n_rows, 3);
//! # Ok(()) }
//! ```
//!
//! [`crate::Connection::nats_counters`] gives the connection's
//! [`NatsCounters`] (before it becomes a writer or a reader): what its
//! writer published or its reader received, as [`NatsStats`], read without
//! locks at any time, also after the writer finished.
//!
//! What it is not: a NATS client (that is async-nats, the NATS project's own)
//! or a server; `bind(nats://…)` is a configuration error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use crate::endpoint::{NatsMode, NatsQuery};

/// Where a JetStream stream keeps its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NatsStorage {
    /// On disk: the feed survives a server restart (the default).
    #[default]
    File,
    /// In memory: faster, lost when the server restarts.
    Memory,
}

/// What a reader does when messages of its stream are missing (a gap in
/// `Ls-Seq`: core NATS dropped some, or the stream's retention overtook it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnGap {
    /// Fail with [`crate::NatsProblem::Gap`] (the default: a table reader
    /// never hands on a stream with holes in it silently).
    #[default]
    Fail,
    /// Go on with the messages that came (a relay that prefers a live feed
    /// with a hole to no feed), counting the lost ones.
    Skip,
}

/// Settings of `nats://` and `nats+tls://` connections; the URL's query
/// ([`NatsQuery`]) overrides them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsOptions {
    /// Core NATS or JetStream (the default).
    pub mode: NatsMode,
    /// The JetStream stream; `None`: `LS_<subject with . as _>`.
    pub stream: Option<String>,
    /// A writer creates the stream when it is missing (the default); with
    /// `false` a missing stream is [`crate::NatsProblem::StreamConfig`].
    pub create_stream: bool,
    /// How long a stream the writer creates keeps messages (default 1 h).
    pub max_age: Duration,
    /// How many bytes it keeps (default 1 GiB).
    pub max_bytes: u64,
    /// Where it keeps them (default on file).
    pub storage: NatsStorage,
    /// Its de-duplication window for retried publishes (default 2 min; at
    /// most `max_age`, which the server requires: a longer one is cut to it).
    pub duplicate_window: Duration,
    /// A writer restates the schema and every dictionary (a restate point,
    /// where a late joiner starts) after this many bytes of messages
    /// (default 64 MiB)...
    pub restate_bytes: u64,
    /// ...or this long (default 30 s), whichever comes first; in core mode
    /// also when a joiner asks (`SUBJECT.join`). docs/nats.md.
    pub restate_every: Duration,
    /// How long a reader waits to join: until it has a stream's schema (the
    /// stream's start or a restate point), in both modes. JetStream: for
    /// the stream to exist, then for a restate point in it (an empty
    /// stream, or one whose restate points are gone, waits for the
    /// publisher's next one); core: for a publisher to answer `S.join` or
    /// start a stream. Past it, [`crate::NatsProblem::JoinTimeout`].
    /// `Some(10 s)` by default (a reader wants a bounded error when no
    /// publisher runs); `None` waits for ever (a relay started before its
    /// publisher: the CLI's `relay` waits, `recv` keeps the default).
    pub join_timeout: Option<Duration>,
    /// What a reader does about missing messages.
    pub on_gap: OnGap,
    /// JetStream reader: resume after bookmark `NAME` (lossless across a
    /// reader's restart) instead of joining live. The reader records the
    /// last message it handed on every second and when dropped, in stream
    /// `LS_BOOKMARKS` (subject `ls.bookmark.<stream>.<NAME>`); without a
    /// bookmark yet, it joins live. A bookmark whose message the stream no
    /// longer holds is [`crate::NatsProblem::ResumeTooOld`].
    pub resume: Option<String>,
    /// JetStream writer: publishes in flight before the writer waits for
    /// their acknowledgements (default 64)...
    pub max_unacked: usize,
    /// ...or bytes of them (default 64 MiB; one publish is always let go,
    /// whatever its size): the writer holds what is in flight, to send it
    /// again after a server restart, so this bounds its memory.
    pub max_unacked_bytes: u64,
    /// Core reader: NATS messages the client may queue for it (each at most
    /// the server's `max_payload`; default 256). Past it the client drops
    /// messages, which the reader sees as a gap.
    pub max_pending_messages: usize,
    /// The connection's name, as the server's monitoring shows it.
    pub name: Option<String>,
}

impl Default for NatsOptions {
    fn default() -> NatsOptions {
        NatsOptions {
            mode: NatsMode::JetStream,
            stream: None,
            create_stream: true,
            max_age: Duration::from_secs(3600),
            max_bytes: 1 << 30,
            storage: NatsStorage::File,
            duplicate_window: Duration::from_secs(120),
            restate_bytes: 64 << 20,
            restate_every: Duration::from_secs(30),
            join_timeout: Some(Duration::from_secs(10)),
            on_gap: OnGap::Fail,
            resume: None,
            max_unacked: 64,
            max_unacked_bytes: 64 << 20,
            max_pending_messages: 256,
            name: None,
        }
    }
}

impl NatsOptions {
    /// These options with what `query` sets.
    pub(crate) fn with_query(&self, query: &NatsQuery) -> NatsOptions {
        let mut o = self.clone();
        if let Some(m) = query.mode {
            o.mode = m;
        }
        if let Some(s) = &query.stream {
            o.stream = Some(s.clone());
        }
        if let Some(r) = &query.resume {
            o.resume = Some(r.clone());
        }
        if let Some(a) = query.max_age {
            o.max_age = a;
        }
        if let Some(b) = query.max_bytes {
            o.max_bytes = b;
        }
        if let Some(r) = query.restate_every {
            o.restate_every = r;
        }
        o
    }
}

/// What one `nats://` connection's writer or reader has done, for metrics
/// ([`NatsCounters::stats`]). A writer fills the first group of counters,
/// a reader the second; `messages` and `bytes` are both's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsStats {
    /// IPC messages published (writer: the stream's own, restated ones
    /// not counted) or handed to the reader (reader: restated schema and
    /// dictionaries counted, as the reader gets them).
    pub messages: u64,
    /// Their bytes, counted once however many parts carried them.
    pub bytes: u64,
    /// Writer: IPC messages (restated ones too) larger than the server's
    /// `max_payload`, sent in parts.
    pub split: u64,
    /// Writer: the NATS messages that carried those parts.
    pub parts: u64,
    /// Writer: restate points sent (schema and dictionaries again, for
    /// joiners).
    pub restates: u64,
    /// Writer (JetStream): NATS messages published again because their
    /// acknowledgement failed (a server restart).
    pub resent: u64,
    /// Writer (core): joiners' requests on `S.join` answered by a restate.
    pub joins_answered: u64,
    /// Reader: times it started at a restate point rather than a stream's
    /// start.
    pub restate_joins: u64,
    /// Reader (JetStream): times it recreated its consumer (after a server
    /// restart or a stall).
    pub consumers_recreated: u64,
    /// Reader: gaps in the feed it went on past ([`OnGap::Skip`]).
    pub gaps_skipped: u64,
    /// Reader: messages lost in those gaps.
    pub messages_lost: u64,
    /// Reader: NATS messages on the subject without our headers, skipped.
    pub foreign_skipped: u64,
}

/// The live counters of one `nats://` connection
/// ([`crate::Connection::nats_counters`]): cloning shares them; reading
/// takes no lock (atomics), so a monitoring task may read them while the
/// writer or reader runs.
#[derive(Debug, Clone, Default)]
pub struct NatsCounters(Arc<Counters>);

/// The atomics behind [`NatsCounters`], one per [`NatsStats`] field.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub messages: AtomicU64,
    pub bytes: AtomicU64,
    pub split: AtomicU64,
    pub parts: AtomicU64,
    pub restates: AtomicU64,
    pub resent: AtomicU64,
    pub joins_answered: AtomicU64,
    pub restate_joins: AtomicU64,
    pub consumers_recreated: AtomicU64,
    pub gaps_skipped: AtomicU64,
    pub messages_lost: AtomicU64,
    pub foreign_skipped: AtomicU64,
}

impl Counters {
    /// Adds `n` to `counter` (counters only grow; no ordering with other
    /// memory is needed).
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl NatsCounters {
    /// The counters as they stand.
    pub fn stats(&self) -> NatsStats {
        let c = &self.0;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NatsStats {
            messages: get(&c.messages),
            bytes: get(&c.bytes),
            split: get(&c.split),
            parts: get(&c.parts),
            restates: get(&c.restates),
            resent: get(&c.resent),
            joins_answered: get(&c.joins_answered),
            restate_joins: get(&c.restate_joins),
            consumers_recreated: get(&c.consumers_recreated),
            gaps_skipped: get(&c.gaps_skipped),
            messages_lost: get(&c.messages_lost),
            foreign_skipped: get(&c.foreign_skipped),
        }
    }

    /// The atomics, for the writer and reader that count.
    pub(crate) fn counters(&self) -> &Counters {
        &self.0
    }
}
