//! The demo's stream: generated tables to one WebSocket client, over the
//! connection hyper upgraded, until the client goes away.
//!
//! What it is for: handing the upgraded socket to the library's WebSocket
//! transport (`lightstream::websocket::connection` over tokio-tungstenite,
//! with the library's write-only limits: the client may send control frames
//! of at most 64 KiB, anything else ends its stream with one line) and
//! pacing the tables.
//!
//! Flow control: a batch goes out every `--interval-ms` (or back to back with
//! 0); each write waits until the socket took the bytes, so a slow client
//! slows its own stream down and nothing queues up in memory. A client that
//! reads nothing for 30 s is dropped. A client that closes (or sends anything
//! at all: the stream is one-way) gets the end-of-stream marker and a Close.
//!
//! What it is not: the generator (`ticks.rs`) or the HTTP side (`http.rs`).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use lightstream_core::WriteOptions;
use tokio::net::TcpStream;
use tokio::time::{MissedTickBehavior, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::ticks::Ticks;
use super::{Failure, Site, fail};
use crate::error::CliError;
use crate::progress;

/// How long one table to a WebSocket client may take to send.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long ending a WebSocket stream (marker, Close, the peer's Close) may take.
const FINISH_TIMEOUT: Duration = Duration::from_secs(6);

/// Sends generated tables to one WebSocket client until it goes away.
/// `upgraded`: the connection after the `101`; `watch`: a second handle on
/// the same socket, which tells when the client closes (or sends anything,
/// which on this one-way stream means it is done) while the writer owns the
/// WebSocket.
pub(super) async fn stream_ticks(
    upgraded: Upgraded,
    watch: TcpStream,
    peer: SocketAddr,
    site: &Site,
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
    let conn = lightstream::websocket::connection(ws, name.clone());
    let net = |e: lightstream::Error| {
        fail(CliError::net(format!("sending to {name}"), e, false).to_string())
    };

    let started = Instant::now();
    let mut ticks = Ticks::new(site.batch_rows, site.interval);
    let mut writer = conn
        .writer(ticks.schema.clone(), WriteOptions::default())
        .await
        .map_err(net)?;
    let mut probe = [0u8; 1];
    let closing = async {
        if !early {
            let _ = watch.peek(&mut probe).await;
        }
    };
    tokio::pin!(closing);
    let mut ticker = (!site.interval.is_zero()).then(|| {
        let mut ticker = tokio::time::interval(site.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker
    });
    loop {
        match &mut ticker {
            Some(ticker) => {
                tokio::select! {
                    biased;
                    _ = &mut closing => break,
                    _ = ticker.tick() => {}
                }
            }
            None => {
                if closing.as_mut().now_or_never().is_some() {
                    break;
                }
            }
        }
        let table = ticks.next_table(now_ms());
        timeout(WRITE_TIMEOUT, writer.write(&table))
            .await
            .map_err(|_| fail(format!("{name} read nothing for {WRITE_TIMEOUT:?}")))?
            .map_err(net)?;
    }
    // The client closed or is closing: end the stream properly if it still
    // listens (end-of-stream marker, Close); if it is gone, that is no failure.
    let rows = writer.rows_written();
    let bytes = writer.bytes_written();
    // A client that sent data (or a frame header declaring more than a
    // control frame) is dropped with one line; a client already gone is not.
    if let Ok(Err(err @ lightstream::Error::Protocol(_))) =
        timeout(FINISH_TIMEOUT, writer.finish()).await
    {
        return Err(fail(err.to_string()));
    }
    if progress::chatty() {
        let line = progress::summary("sent", rows, bytes, started.elapsed());
        let _ = writeln!(io::stderr(), "lightstream: {line} to {name}");
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
