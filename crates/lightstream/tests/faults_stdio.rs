//! The pipes stdio uses, to and from a child process (`sh -c`) that
//! misbehaves: cut off mid-message, gone quiet, never reading. Each ends in a
//! documented error within a generous bound. Shared helpers: `common/mod.rs`.

// The transports' features: `required-features` in Cargo.toml.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use lightstream::{Error, ReadOptions, TableReader, TableWriter, WriteOptions};
use lightstream_core::ErrorKind;

// ------------------------------------------------------------------ pipes (stdio)

/// A child process (`sh -c script`) with piped stdin and stdout, killed
/// when dropped.
fn child(script: &str) -> tokio::process::Child {
    tokio::process::Command::new("sh")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sh")
}

#[test]
fn pipes_to_and_from_a_child_process_fail_cleanly() {
    run("pipes", async {
        let dir = temp_dir("pipes");
        let msgs = messages(2, ROWS);
        let mut partial = msgs[..2].concat();
        partial.extend_from_slice(&msgs[2][..msgs[2].len() / 2]);
        let file = dir.join("partial.arrows");
        std::fs::write(&file, &partial).expect("write");
        let script = format!("cat '{}'; exec sleep 30", file.display());

        // A writer that goes quiet mid-message: the idle timeout.
        let mut c = child(&script);
        let stdout = c.stdout.take().expect("stdout");
        let mut r = within(
            "reader",
            5,
            TableReader::from_async_read(stdout, "child", ReadOptions::default()),
        )
        .await
        .expect("reader");
        r.set_idle_timeout(Some(Duration::from_millis(300)));
        next_table_is(&mut r, 0, ROWS).await;
        let err = within("timeout", 5, r.next())
            .await
            .expect("e")
            .expect_err("timeout");
        assert!(err.is_timeout(), "{err}");
        assert!(
            err.to_string()
                .contains("no data from child for 300 ms while reading the body of message 2"),
            "{err}"
        );
        drop(r);

        // The same writer killed: the pipe ends mid-message.
        let mut c = child(&script);
        let stdout = c.stdout.take().expect("stdout");
        let mut r = within(
            "reader",
            5,
            TableReader::from_async_read(stdout, "child", ReadOptions::default()),
        )
        .await
        .expect("reader");
        next_table_is(&mut r, 0, ROWS).await;
        let pending = tokio::time::timeout(Duration::from_millis(300), r.next()).await;
        assert!(pending.is_err(), "no timeout set: still waiting");
        c.start_kill().expect("kill");
        let err = within("error", 5, r.next())
            .await
            .expect("e")
            .expect_err("cut");
        assert_eq!(err.codec_kind(), Some(ErrorKind::Truncated), "{err}");
        assert!(
            err.to_string()
                .contains("child closed the connection early"),
            "{err}"
        );
        let _ = c.wait().await;

        // A reader that never reads (a child that sleeps): the write timeout.
        let big = table(0, BIG_ROWS);
        let mut c = child("exec sleep 30");
        let stdin = c.stdin.take().expect("stdin");
        let mut w =
            TableWriter::from_async_write(stdin, "child", schema(), WriteOptions::default())
                .expect("writer");
        w.set_write_timeout(Some(Duration::from_millis(300)));
        let baseline = heap_baseline();
        let err = within("write timeout", 10, async {
            for _ in 0..64 {
                w.write(&big).await?;
            }
            Ok::<_, Error>(())
        })
        .await
        .expect_err("a pipe holds 64 KiB");
        assert!(err.is_timeout(), "{err}");
        assert!(heap_growth(baseline) < 32 << 20);
        drop(w);

        // A reader that dies while we write: a broken pipe.
        let mut c = child("exec sleep 30");
        let stdin = c.stdin.take().expect("stdin");
        let mut w =
            TableWriter::from_async_write(stdin, "child", schema(), WriteOptions::default())
                .expect("writer");
        let kill = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            c.start_kill().expect("kill");
        };
        let write = async {
            for _ in 0..64 {
                w.write(&big).await?;
            }
            Ok::<_, Error>(())
        };
        let (err, ()) = within("broken pipe", 10, async { tokio::join!(write, kill) }).await;
        let err = err.expect_err("the reader died");
        match &err {
            Error::Io { source, .. } => {
                assert_eq!(source.kind(), std::io::ErrorKind::BrokenPipe, "{err}")
            }
            _ => panic!("{err}"),
        }
        let _ = c.wait().await;
    });
}
