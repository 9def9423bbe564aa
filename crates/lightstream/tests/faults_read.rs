//! Reading from a raw misbehaving peer on every transport (raw TCP and Unix
//! sockets, raw tungstenite, raw quinn), on loopback only.
//!
//! - A peer killed mid-message: the tables before it arrive intact, then the
//!   read ends with `Truncated` or an I/O error, within bounded time.
//! - Half-open: a peer that ends its sending side without the end-of-stream
//!   marker (`Truncated`).
//! - A peer that goes quiet, mid-message or between messages: the idle
//!   timeout ends the read with `Error::Timeout`; without it the read is
//!   still pending. A dropped reader closes the connection at once.
//!
//! Pass criteria are outcomes; the only times are generous upper bounds
//! ("ended within 5 s"). Shared helpers: `common/mod.rs`.

// The transports' features: `required-features` in Cargo.toml.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use lightstream::Error;
use lightstream_core::ErrorKind;

// ------------------------------------------------------------------ reading

#[test]
fn a_peer_killed_mid_message_ends_the_read_after_the_tables_before_it() {
    run("killed mid-message", async {
        let dir = temp_dir("killed");
        for t in ALL {
            let (l, ep, client) = raw_listener(t, &dir).await;
            let msgs = messages(3, ROWS);
            let (read_tx, read_rx) = tokio::sync::oneshot::channel::<()>();
            let peer = tokio::spawn(async move {
                let mut p = l.accept().await;
                p.send(&msgs[..3]).await; // schema, tables 0 and 1
                p.send_half(&msgs[3]).await;
                // A reset discards unread bytes: die once they were read.
                let _ = read_rx.await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                p.kill();
            });
            let mut r = reader_within(&ep, &client).await;
            for i in 0..2 {
                let got = within("table", 5, r.next()).await;
                check(&got.expect("a table").expect("intact"), i, ROWS);
            }
            let _ = read_tx.send(());
            let err = within("error", 5, r.next())
                .await
                .expect("an error, not a clean end")
                .expect_err("cut off");
            assert_cut_off(t, &err);
            eprintln!("{t:?} killed: {err}");
            assert!(within("end", 5, r.next()).await.is_none(), "{t:?}");
            peer.await.expect("peer");
        }
    });
}

#[test]
fn a_peer_that_ends_sending_without_the_end_marker_is_truncated() {
    run("half-closed", async {
        let dir = temp_dir("half-closed");
        for t in ALL {
            // At a message boundary: "closed ... without the end-of-stream marker".
            let (l, ep, client) = raw_listener(t, &dir).await;
            let msgs = messages(2, ROWS);
            let (gone_tx, gone) = tokio::sync::oneshot::channel();
            let peer = tokio::spawn(async move {
                let mut p = l.accept().await;
                p.send(&msgs[..3]).await;
                p.end_sending().await;
                // Half-open: still there until the reader has gone.
                p.closed(gone).await;
            });
            let r = reader_within(&ep, &client).await;
            let mut r = r;
            for i in 0..2 {
                next_table_is(&mut r, i, ROWS).await;
            }
            let err = within("error", 5, r.next())
                .await
                .expect("error")
                .expect_err("cut");
            assert_eq!(err.codec_kind(), Some(ErrorKind::Truncated), "{t:?}: {err}");
            assert!(
                err.to_string()
                    .contains("after 2 tables without the end-of-stream marker"),
                "{t:?}: {err}"
            );
            drop(r);
            let _ = gone_tx.send(());
            within("peer sees the close", 5, peer).await.expect("peer");

            // Inside a message (byte transports: the FIN cuts a record batch).
            if t == Transport::WebSocket {
                continue;
            }
            let (l, ep, client) = raw_listener(t, &dir).await;
            let msgs = messages(2, ROWS);
            tokio::spawn(async move {
                let mut p = l.accept().await;
                p.send(&msgs[..2]).await;
                p.send_half(&msgs[2]).await;
                p.end_sending().await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
            let mut r = reader_within(&ep, &client).await;
            next_table_is(&mut r, 0, ROWS).await;
            let err = within("error", 5, r.next())
                .await
                .expect("error")
                .expect_err("cut");
            assert_eq!(err.codec_kind(), Some(ErrorKind::Truncated), "{t:?}: {err}");
            assert!(
                err.to_string().contains("closed the connection early"),
                "{t:?}: {err}"
            );
        }
    });
}

#[test]
fn the_idle_timeout_ends_a_read_from_a_peer_gone_quiet() {
    run("idle timeout", async {
        let dir = temp_dir("idle");
        let after = Duration::from_millis(300);
        for t in ALL {
            for mid_message in [true, false] {
                let (l, ep, client) = raw_listener(t, &dir).await;
                let msgs = messages(2, ROWS);
                let (gone_tx, gone) = tokio::sync::oneshot::channel();
                let peer = tokio::spawn(async move {
                    let mut p = l.accept().await;
                    p.send(&msgs[..2]).await; // schema, table 0
                    if mid_message {
                        p.send_half(&msgs[2]).await;
                    }
                    // Then nothing, until the reader goes away.
                    p.closed(gone).await;
                });
                let mut r = reader_within(&ep, &client).await;
                assert_eq!(r.idle_timeout(), None, "no timeout by default");
                r.set_idle_timeout(Some(after));
                next_table_is(&mut r, 0, ROWS).await;
                let err = within("the timeout", 5, r.next())
                    .await
                    .expect("an error")
                    .expect_err("timed out");
                assert!(err.is_timeout(), "{t:?}: {err}");
                let msg = err.to_string();
                let Error::Timeout { after: a, .. } = &err else {
                    panic!("{t:?}: {err}")
                };
                assert_eq!(*a, after);
                // Over WebSocket a message is seen only once whole.
                let stalled = if t == Transport::WebSocket {
                    "no complete WebSocket message from "
                } else {
                    "no data from "
                };
                // Part of a message may arrive after the wait began (it
                // does not restart the timer): then the error says so.
                let partial = mid_message && msg.starts_with("no complete IPC message from ");
                assert!(msg.starts_with(stalled) || partial, "{msg}");
                assert!(msg.contains(" for 300 ms while "), "{msg}");
                // A WebSocket frame cut in half is tungstenite's to hold: the
                // decoder waits at a message boundary.
                let expect = if mid_message && t != Transport::WebSocket {
                    "reading the body of message 2 ("
                } else {
                    "waiting for the next message (after 1 tables)"
                };
                assert!(msg.contains(expect), "{t:?} mid {mid_message}: {msg}");
                assert!(within("end", 5, r.next()).await.is_none());
                // Dropped, the reader closes the connection at once.
                drop(r);
                let _ = gone_tx.send(());
                within("the peer sees the close", 5, peer)
                    .await
                    .expect("peer");
            }
        }
    });
}

#[test]
fn without_an_idle_timeout_a_quiet_peer_leaves_the_read_pending() {
    run("no idle timeout", async {
        let dir = temp_dir("no-idle");
        for t in ALL {
            let (l, ep, client) = raw_listener(t, &dir).await;
            let msgs = messages(2, ROWS);
            let (gone_tx, gone) = tokio::sync::oneshot::channel();
            let peer = tokio::spawn(async move {
                let mut p = l.accept().await;
                p.send(&msgs[..2]).await;
                p.send_half(&msgs[2]).await;
                p.closed(gone).await;
            });
            let mut r = reader_within(&ep, &client).await;
            next_table_is(&mut r, 0, ROWS).await;
            let pending = tokio::time::timeout(Duration::from_millis(500), r.next()).await;
            assert!(pending.is_err(), "{t:?}: the read should still wait");
            drop(r);
            let _ = gone_tx.send(());
            within("the peer sees the close", 5, peer)
                .await
                .expect("peer");
        }
    });
}
