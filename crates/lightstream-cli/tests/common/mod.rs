//! Helpers shared by the end-to-end tests of the `lightstream` binary
//! (`cli.rs`, `files.rs`, `net.rs`, `demo.rs`): a fresh directory per test,
//! running the built binary with optional stdin, checking what a user sees,
//! and a raw WebSocket upgrade.

// Each test binary uses its own subset.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use lightstream_core::minarrow::Table;
use lightstream_core::{ReadOptions, aligned_copy, read_file, read_stream};

/// A fresh, empty directory for one test, under `group`.
pub fn test_dir(group: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(group)
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create test directory");
    dir
}

pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "exit {:?}, stderr: {}",
            self.status.code(),
            self.stderr
        );
        assert!(self.stderr.is_empty(), "unexpected stderr: {}", self.stderr);
        self
    }

    /// Failed with exit code `code`, exactly one `lightstream: ...` line on
    /// stderr and no panic; returns that line.
    #[track_caller]
    pub fn assert_error(&self, code: i32) -> &str {
        assert_eq!(
            self.status.code(),
            Some(code),
            "stdout: {} stderr: {}",
            String::from_utf8_lossy(&self.stdout),
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "stderr: {}", self.stderr);
        assert!(
            !self.stderr.contains("RUST_BACKTRACE"),
            "stderr: {}",
            self.stderr
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line expected, got: {:?}", self.stderr);
        assert!(lines[0].starts_with("lightstream: "), "{}", lines[0]);
        lines[0]
    }

    /// A failure (exit code 1) reported on one line.
    #[track_caller]
    pub fn assert_one_line_error(&self) -> &str {
        self.assert_error(1)
    }
}

pub fn lightstream() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lightstream"))
}

/// Runs the binary with `args` in `dir`, feeding `stdin` if given.
pub fn run_in(dir: &Path, args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    let mut child = lightstream()
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lightstream");
    // Feed stdin from another thread so a full stdout pipe cannot deadlock us.
    let feeder = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        // The child may stop reading early (`cat --limit`); a broken pipe is fine.
        thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        })
    });
    let out = child.wait_with_output().expect("wait for lightstream");
    if let Some(feeder) = feeder {
        feeder.join().expect("stdin feeder");
    }
    Output {
        status: out.status,
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run(dir: &Path, args: &[&str]) -> Output {
    run_in(dir, args, None)
}

pub fn decode_file(path: &Path) -> Vec<Table> {
    let bytes = fs::read(path).expect("read output");
    read_file(aligned_copy(&bytes), ReadOptions::default())
        .expect("decode IPC file")
        .1
}

pub fn decode_stream(path: &Path) -> Vec<Table> {
    let bytes = fs::read(path).expect("read output");
    read_stream(aligned_copy(&bytes), ReadOptions::default())
        .expect("decode IPC stream")
        .1
}

/// A WebSocket upgrade request for `path` on `host`.
pub fn upgrade_request(host: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Sends an upgrade request for `path` to `addr` and reads the response head
/// (reads bounded by `timeout`); the socket stays open, and unread after the
/// head, for as long as the returned stream lives.
pub fn upgrade_and_hold(addr: &str, path: &str, timeout: Duration) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(timeout)).expect("timeout");
    tcp.write_all(&upgrade_request(addr, path))
        .expect("request");
    let head = read_head(&mut tcp);
    (tcp, head)
}

/// Reads an HTTP head (request or response) byte by byte, so that nothing
/// after it is consumed; panics if the stream ends or fails first.
pub fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!("no HTTP head ({other:?}): {head:?}"),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}
