//! Writing to a raw misbehaving peer on every transport, on loopback only.
//!
//! - A peer that stops reading while we write: our writer fails instead of
//!   hanging.
//! - A peer that never reads: our writer blocks without our heap growing
//!   (counted by this binary's global allocator), and the write timeout ends
//!   it with `Error::Timeout`.
//!
//! Pass criteria are outcomes and memory bounds; the only times are generous
//! upper bounds. Shared helpers: `common/mod.rs`.

// The transports' features: `required-features` in Cargo.toml.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::*;
use lightstream::Error;

// ------------------------------------------------------------------ writing

#[test]
fn a_peer_that_stops_reading_while_we_write_fails_the_writer() {
    run("stops reading", async {
        let dir = temp_dir("stops-reading");
        let big = table(0, BIG_ROWS);
        for t in ALL {
            let (l, ep, client) = raw_listener(t, &dir).await;
            let peer = tokio::spawn(async move {
                let mut p = l.accept().await;
                p.read_some(100_000).await;
                // Keep a QUIC connection up; the others close their socket.
                p.stop_reading();
                if matches!(p, RawPeer::Quic { .. }) {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                drop(p);
            });
            let mut w = our_writer(&ep, &client).await;
            let outcome = within("the writer fails", 10, async {
                for _ in 0..256 {
                    w.write(&big).await?;
                }
                Ok::<_, Error>(())
            })
            .await;
            let err = outcome.expect_err("256 MiB cannot all go to a peer that stopped reading");
            match &err {
                Error::Io { context, .. } => {
                    assert!(context.contains("writing to"), "{t:?}: {err}")
                }
                Error::Protocol(m) if t == Transport::WebSocket => {
                    assert!(m.contains("WebSocket"), "{err}")
                }
                _ => panic!("{t:?}: unexpected error {err}"),
            }
            eprintln!("{t:?} stopped reading: {err}");
            // The writer is unusable now, and says so.
            let again = w.write(&big).await.expect_err("broken writer");
            assert!(
                again.to_string().contains("earlier write failed"),
                "{again}"
            );
            drop(w);
            peer.abort();
        }
    });
}

#[test]
fn a_peer_that_never_reads_blocks_the_writer_without_growing_memory() {
    run("never reads", async {
        let dir = temp_dir("never-reads");
        let big = table(0, BIG_ROWS);
        for t in ALL {
            // Without a write timeout: the writer waits (and holds nothing).
            let (l, ep, client) = raw_listener(t, &dir).await;
            let peer = never_reading_peer(l);
            let mut w = our_writer(&ep, &client).await;
            assert_eq!(w.write_timeout(), None, "no timeout by default");
            let baseline = heap_baseline();
            let blocked = tokio::time::timeout(Duration::from_millis(500), async {
                for _ in 0..64 {
                    w.write(&big).await?;
                }
                Ok::<_, Error>(())
            })
            .await;
            assert!(
                blocked.is_err(),
                "{t:?}: 64 MiB to a peer that never reads must block"
            );
            let growth = heap_growth(baseline);
            let written = w.bytes_written();
            assert!(written < 48 << 20, "{t:?}: {written} bytes went out");
            assert!(
                growth < 32 << 20,
                "{t:?}: the heap grew by {growth} bytes while blocked ({written} written)"
            );
            drop(w);
            peer.abort();

            // With one: the write fails with the timeout.
            let (l, ep, client) = raw_listener(t, &dir).await;
            let peer = never_reading_peer(l);
            let mut w = our_writer(&ep, &client).await;
            w.set_write_timeout(Some(Duration::from_millis(300)));
            let baseline = heap_baseline();
            let outcome = within("the write timeout", 10, async {
                for _ in 0..64 {
                    w.write(&big).await?;
                }
                Ok::<_, Error>(())
            })
            .await;
            let err = outcome.expect_err("timed out");
            assert!(err.is_timeout(), "{t:?}: {err}");
            let msg = err.to_string();
            // The message in flight was not all taken: "took no data" or,
            // when the socket buffers took its first bytes, "took N of M bytes".
            assert!(
                msg.contains(" took ") && msg.contains(" for 300 ms while writing table "),
                "{msg}"
            );
            let growth = heap_growth(baseline);
            assert!(growth < 32 << 20, "{t:?}: the heap grew by {growth} bytes");
            eprintln!(
                "{t:?}: blocked after {} MiB written, heap growth {} KiB: {msg}",
                w.bytes_written() >> 20,
                growth >> 10
            );
            let again = w.write(&big).await.expect_err("broken writer");
            assert!(!again.is_timeout(), "{again}");
            drop(w);
            peer.abort();
        }
    });
}
