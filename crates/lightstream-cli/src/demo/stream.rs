//! The demo's live feed: one generator publishing to a [`Hub`], and every
//! WebSocket client (every open page) subscribed to it.
//!
//! What it is for: the one tick generator task ([`publish_ticks`]: a table
//! every `--interval-ms`, each encoded once whatever the number of pages)
//! and handing each upgraded socket to the library's WebSocket transport
//! (`lightstream::websocket::connection` over tokio-tungstenite, with the
//! library's write-only limits: the client may send control frames of at
//! most 64 KiB, anything else ends its stream with one line) and to
//! [`Hub::subscribe_until`] ([`subscribe`]). Every page sees the same rows
//! under the same sequence numbers; a page opened later joins mid-stream
//! (the schema, the `symbol` dictionary as it stands, the last
//! [`REPLAY_TABLES`] tables, then live tables).
//!
//! Flow control: with `--interval-ms` above 0 the feed goes on at its pace
//! and a page more than [`MAX_LAG`] behind skips to the newest tables (the
//! hub re-sends the dictionary it missed: its stream stays valid); with 0 the
//! feed goes as fast as the slowest page reads (lossless: the hub's `block`
//! policy). Nobody watching: the generator waits for the first page. A page
//! that takes nothing for 30 s is dropped. A client that closes (or sends
//! anything at all: the stream is one-way) gets the end-of-stream marker and
//! a Close.
//!
//! What it is not: the generator (`ticks.rs`) or the HTTP side (`http.rs`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use lightstream::hub::{Hub, HubOptions, SlowPolicy, SubscribeOptions};
use lightstream_core::WriteOptions;
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::ticks::Ticks;
use super::{Failure, fail};
use crate::error::{CliError, CliResult};

/// How long a WebSocket client may take no data before it is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Tables a page opened later receives from before it joined, so that it
/// shows rows at once (half a second of the default feed).
pub(super) const REPLAY_TABLES: usize = 5;
/// Bytes a page may fall behind before it skips to the newest tables (about
/// 40 tables of the default 2,000 rows).
pub(super) const MAX_LAG: usize = 4 << 20;

/// The demo's hub: a replay window of [`REPLAY_TABLES`].
pub(super) fn feed() -> Hub {
    Hub::new(HubOptions {
        replay_tables: REPLAY_TABLES,
        ..HubOptions::default()
    })
}

/// The one generator: a table of `rows` ticks every `interval` (back to
/// back with zero) while at least one page watches; runs until the demo ends.
pub(super) async fn publish_ticks(hub: Hub, rows: usize, interval: Duration) -> CliResult<()> {
    let mut ticks = Ticks::new(rows, interval);
    let mut publisher = hub
        .publisher(ticks.schema.clone(), WriteOptions::default())
        .map_err(|e| CliError::net("starting the demo feed", e, false))?;
    let mut ticker = (!interval.is_zero()).then(|| {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker
    });
    loop {
        hub.wait_for_subscribers(1).await;
        match &mut ticker {
            Some(ticker) => {
                ticker.tick().await;
            }
            // Without subscribers under `block`, publishing never waits:
            // let the other tasks run.
            None => tokio::task::yield_now().await,
        }
        let table = ticks.next_table(now_ms());
        publisher
            .write(&table)
            .await
            .map_err(|e| CliError::net("publishing the demo feed", e, false))?;
    }
}

/// Subscribes one WebSocket client to the feed until it goes away.
/// `upgraded`: the connection after the `101`; `watch`: a second handle on
/// the same socket, which tells when the client closes (or sends anything,
/// which on this one-way stream means it is done) while the hub writes to
/// the WebSocket.
pub(super) async fn subscribe(
    upgraded: Upgraded,
    watch: TcpStream,
    peer: SocketAddr,
    hub: Hub,
    interval: Duration,
) -> Result<(), Failure> {
    let name = format!("ws {peer}");
    // The socket itself (so that `watch` sees what it sees) and what hyper
    // read past the request head, if anything: then the client has already
    // sent something, and its stream ends at once.
    let parts = upgraded
        .downcast::<TokioIo<TcpStream>>()
        .map_err(|_| fail("internal error: the upgraded connection is not a TCP socket"))?;
    let early = !parts.read_buf.is_empty();
    let ws = WebSocketStream::from_partially_read(
        parts.io.into_inner(),
        parts.read_buf.to_vec(),
        Role::Server,
        // The stream only writes: it reads control frames, nothing larger.
        Some(lightstream::websocket::write_only_config()),
    )
    .await;
    let conn = lightstream::websocket::connection(ws, Role::Server, name.clone());
    let options = SubscribeOptions {
        policy: if interval.is_zero() {
            SlowPolicy::Block
        } else {
            SlowPolicy::Skip
        },
        max_lag: MAX_LAG,
        write_timeout: Some(WRITE_TIMEOUT),
    };
    let left = AtomicBool::new(false);
    let closing = async {
        if !early {
            let mut probe = [0u8; 1];
            let _ = watch.peek(&mut probe).await;
        }
        left.store(true, Ordering::Relaxed);
    };
    let started = Instant::now();
    match hub.subscribe_until(conn, options, closing).await {
        Ok(stats) => {
            crate::feed::say_sent(&stats, started.elapsed());
            Ok(())
        }
        // A client that sent data (or a frame header declaring more than a
        // control frame) is dropped with one line; a client already gone
        // (the socket failed after it closed) is not.
        Err(lightstream::Error::Io { .. }) if left.load(Ordering::Relaxed) => Ok(()),
        Err(e) => Err(fail(
            CliError::net(format!("sending to {name}"), e, false).to_string(),
        )),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
