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
//! What it is not: a NATS client (that is async-nats, the NATS project's own)
//! or a server; `bind(nats://…)` is a configuration error.

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
    /// How long a reader waits for a stream to start (JetStream: for the
    /// stream to exist; core: for a schema), default 10 s.
    pub join_timeout: Duration,
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
    /// their acknowledgements (default 64).
    pub max_unacked: usize,
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
            join_timeout: Duration::from_secs(10),
            on_gap: OnGap::Fail,
            resume: None,
            max_unacked: 64,
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
