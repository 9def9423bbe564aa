//! Helpers shared by the end-to-end tests of the `lightstream` binary
//! (`cli.rs`, `files.rs`, `net.rs`, `faults.rs`, `tls.rs`, `demo.rs`, `flight.rs`,
//! `ws_frames.rs`): a fresh directory per test, running the built binary with
//! optional stdin, checking what a user sees, a running process whose stderr
//! is read line by line (`serve` and the URL of its `listening on` line), and
//! a raw WebSocket upgrade.
//!
//! Cross-crate helpers (a test CA, hand-written WebSocket peers, per-test
//! directories) live in the `lightstream-tests` crate (`tests/src`).

// Each test binary uses its own subset.
#![allow(dead_code)]

pub mod feed;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use lightstream_core::minarrow::Table;
use lightstream_core::{ReadOptions, aligned_copy, read_file, read_stream};

// Each test binary uses its own subset.
#[allow(unused_imports)]
pub use lightstream_tests::raw_ws::{
    blocking::{read_head, upgrade_and_hold},
    upgrade_request,
};

/// How long a process may take to print an awaited stderr line.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh, empty directory for one test, under `group`.
pub fn test_dir(group: &str, name: &str) -> PathBuf {
    lightstream_tests::test_dir!(group, name)
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

    /// Exited 0 with nothing on stderr.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        self.assert_exit_ok();
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

    /// Exited 0; stderr may hold lines (a server's `listening on`, notes).
    #[track_caller]
    pub fn assert_exit_ok(&self) -> &Self {
        assert!(
            self.status.success(),
            "exit {:?}, stderr: {}",
            self.status.code(),
            self.stderr
        );
        self
    }
}

pub fn lightstream() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lightstream"))
}

/// `lightstream args` in `dir`, stdin closed.
pub fn lightstream_in(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = lightstream();
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    cmd
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

/// The tables of an IPC file or stream (told apart by the file magic).
pub fn decode(path: &Path) -> Vec<Table> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let bytes = aligned_copy(&bytes);
    let result = if bytes.as_slice().starts_with(b"ARROW1") {
        read_file(bytes, ReadOptions::default()).map(|(_, t)| t)
    } else {
        read_stream(bytes, ReadOptions::default()).map(|(_, t)| t)
    };
    result.unwrap_or_else(|e| panic!("decode {}: {e}", path.display()))
}

pub fn decode_stream(path: &Path) -> Vec<Table> {
    let bytes = fs::read(path).expect("read output");
    read_stream(aligned_copy(&bytes), ReadOptions::default())
        .expect("decode IPC stream")
        .1
}

/// A running process whose stderr is read line by line as it comes (the
/// lines seen so far are kept for failure messages). Killed on drop, so a
/// failing test leaves no server behind.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// The stderr lines read so far.
    pub stderr: Vec<String>,
    stderr_reader: Option<JoinHandle<()>>,
    stdout_reader: Option<JoinHandle<Vec<u8>>>,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr piped; stdout is read to the end on
    /// a thread unless `capture_stdout` is false (then the caller takes
    /// `child.stdout`).
    pub fn start(mut cmd: Command, capture_stdout: bool) -> Proc {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn process");
        let stderr = child.stderr.take().expect("stderr pipe");
        let (tx, lines) = mpsc::channel();
        let stderr_reader = thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdout_reader = capture_stdout.then(|| {
            let mut stdout = child.stdout.take().expect("stdout pipe");
            thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = stdout.read_to_end(&mut bytes);
                bytes
            })
        });
        Proc {
            child,
            lines,
            stderr: Vec::new(),
            stderr_reader: Some(stderr_reader),
            stdout_reader,
        }
    }

    /// `lightstream args` in `dir`, stdout and stderr captured.
    pub fn spawn(dir: &Path, args: &[&str]) -> Proc {
        Proc::start(lightstream_in(dir, args), true)
    }

    /// Waits (at most `timeout`) for a stderr line containing `text`; returns it.
    #[track_caller]
    pub fn wait_for_line(&mut self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stderr.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no stderr line with {text:?} within {timeout:?}; stderr so far: {:?}",
                    self.stderr
                ),
            }
        }
    }

    /// [`Proc::wait_for_line`] within [`LINE_TIMEOUT`].
    #[track_caller]
    pub fn line_with(&mut self, text: &str) -> String {
        self.wait_for_line(text, LINE_TIMEOUT)
    }

    /// Waits for the `listening on <url>` line and returns the URL.
    #[track_caller]
    pub fn url(&mut self) -> String {
        let line = self.line_with("listening on ");
        line.trim_start_matches("listening on ").to_string()
    }

    /// The stderr lines that arrived since the last look, without waiting.
    pub fn new_lines(&mut self) -> Vec<String> {
        let new: Vec<String> = self.lines.try_iter().collect();
        self.stderr.extend(new.iter().cloned());
        new
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the exit (bounded by `timeout`, else killed and failed).
    #[track_caller]
    pub fn exit(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let rest = self.collect_stderr();
                panic!("the process did not exit within {timeout:?}; stderr: {rest}");
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the exit (as [`Proc::exit`]) and returns what the process printed.
    #[track_caller]
    pub fn wait(mut self, timeout: Duration) -> Output {
        let status = self.exit(timeout);
        let stderr = self.collect_stderr();
        let stdout = self
            .stdout_reader
            .take()
            .map(|h| h.join().expect("stdout reader"))
            .unwrap_or_default();
        Output {
            status,
            stdout,
            stderr,
        }
    }

    /// Kills the process and returns its stderr.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.collect_stderr()
    }

    /// Sends SIGTERM (as Ctrl-C's SIGINT, a normal way to stop a server).
    #[track_caller]
    pub fn sigterm(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Sends SIGTERM and waits (bounded by `timeout`) for the exit; returns its
    /// code and stderr.
    #[track_caller]
    pub fn terminate(mut self, timeout: Duration) -> (Option<i32>, String) {
        self.sigterm();
        let status = self.exit(timeout);
        (status.code(), self.collect_stderr())
    }

    /// Every stderr line, one per line, once the process has exited (its pipe
    /// then closes).
    pub fn collect_stderr(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        while let Ok(line) = self.lines.try_recv() {
            self.stderr.push(line);
        }
        let mut text = self.stderr.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        text
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ------------------------------------------------------------------ memory

/// Memory figures of a process from /proc/PID/status, in KiB.
#[derive(Debug, Default, Clone, Copy)]
pub struct Mem {
    pub hwm: u64,
    pub rss: u64,
    pub anon: u64,
    pub file: u64,
}

pub fn mem_of(pid: u32) -> Option<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Some(Mem {
        hwm: field("VmHWM:"),
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
    })
}

/// Samples `pid` every 10 ms until `stop`; returns the peaks.
pub fn sampler(pid: u32, stop: Arc<AtomicBool>) -> JoinHandle<Mem> {
    thread::spawn(move || {
        let mut peak = Mem::default();
        while !stop.load(Ordering::Relaxed) {
            if let Some(m) = mem_of(pid) {
                peak.hwm = peak.hwm.max(m.hwm);
                peak.rss = peak.rss.max(m.rss);
                peak.anon = peak.anon.max(m.anon);
                peak.file = peak.file.max(m.file);
            }
            thread::sleep(Duration::from_millis(10));
        }
        peak
    })
}
