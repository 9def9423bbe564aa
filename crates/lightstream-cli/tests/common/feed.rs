//! The pyarrow side of the live feed tests (`feed.rs`, `nats_feed.rs`):
//! `tests/python/feed_peer.py` as a producer that writes only when told, as
//! subscribers that say when they have their schema and each batch, and its
//! `check` of what a subscriber got against what was fed. Every wait is
//! bounded by [`TIMEOUT`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::time::Duration;

use super::Proc;

/// The longest any one wait may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/feed_peer.py")
}

pub fn python(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(script())
        .args(args)
        .current_dir(dir);
    cmd
}

/// `feed_peer.py produce feed.arrows`, obeying what it is told (`say`).
pub struct Producer {
    pub proc: Proc,
    control: Option<ChildStdin>,
}

impl Producer {
    /// The producer, its stdout left for the caller to take; `args` are
    /// `produce`'s options (`--rows N`, `--period P`).
    pub fn start(dir: &Path, args: &[&str]) -> Producer {
        let mut all = vec!["produce", "feed.arrows"];
        all.extend_from_slice(args);
        let mut cmd = python(dir, &all);
        cmd.stdin(Stdio::piped());
        let mut proc = Proc::start(cmd, false);
        let control = proc.child.stdin.take();
        Producer { proc, control }
    }

    pub fn stdout(&mut self) -> Stdio {
        Stdio::from(self.proc.child.stdout.take().expect("producer stdout"))
    }

    /// Tells the producer `command`; with `tables N`, waits until it wrote them.
    pub fn say(&mut self, command: &str) {
        self.tell(command);
        if let Some(n) = command.strip_prefix("tables ") {
            self.wait_emitted(
                n.split(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("a count"),
            );
        }
    }

    /// Tells the producer `command` and goes on.
    pub fn tell(&mut self, command: &str) {
        let control = self.control.as_mut().expect("producer running");
        writeln!(control, "{command}").expect("tell the producer");
        control.flush().expect("tell the producer");
    }

    /// Waits until the producer wrote `n` more tables.
    pub fn wait_emitted(&mut self, n: usize) {
        for _ in 0..n {
            self.proc.wait_for_line("emitted", TIMEOUT);
        }
    }

    /// Tells it `command` (`end`, `cut`) and waits for it to exit.
    pub fn finish(&mut self, command: &str) {
        self.say(command);
        drop(self.control.take());
        let _ = self.proc.exit(TIMEOUT);
    }
}

/// `feed_peer.py subscribe SOURCE OUT FLAGS` in `dir`.
pub fn subscriber(dir: &Path, source: &str, out: &str, flags: &[&str]) -> Proc {
    let mut args = vec!["subscribe", source, out];
    args.extend_from_slice(flags);
    let mut cmd = python(dir, &args);
    if flags.contains(&"--gate") {
        cmd.stdin(Stdio::piped());
    }
    Proc::start(cmd, true)
}

/// The test directory after the feed ended, for the checks.
pub struct FeedDir(pub PathBuf);

impl FeedDir {
    /// `feed_peer.py check feed.arrows GOT MODE`: (start index, tables); a
    /// start of `usize::MAX` when GOT has no table.
    #[track_caller]
    pub fn check(&self, got: &str, mode: &str) -> (usize, usize) {
        check(&self.0, got, mode).0
    }

    /// A subscriber cut off (its gate, if any, opened first): whole tables
    /// from the feed's start, fewer than the `published`, then a stream that
    /// stopped (cut inside a message, or between two without the end
    /// marker); never a table that differs.
    #[track_caller]
    pub fn cut_short(&self, got: &str, mut sub: Proc, published: usize) {
        drop(sub.child.stdin.take());
        cut_off(sub);
        let (start, count) = self.check(got, "prefix-of-suffix");
        assert!(count < published, "{got}: {count} tables");
        assert!(count == 0 || start == 0, "{got}: starts at {start}");
    }

    /// The feed's index of every table in GOT (`check ... gaps`).
    #[track_caller]
    pub fn indices(&self, got: &str) -> Vec<usize> {
        check(&self.0, got, "gaps").1
    }
}

/// `feed_peer.py check feed.arrows GOT MODE` in `dir`: (start, count) as
/// [`FeedDir::check`], and the feed's index of every table in GOT.
#[track_caller]
pub fn check(dir: &Path, got: &str, mode: &str) -> ((usize, usize), Vec<usize>) {
    let text = lightstream_tests::harness::python_script(
        dir,
        "feed_peer.py",
        &["check", "feed.arrows", got, mode],
    );
    let field = |name: &str| -> usize {
        let at = text.find(&format!("\"{name}\": ")).expect(name) + name.len() + 4;
        text[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|d| d.parse().ok())
            .unwrap_or(usize::MAX)
    };
    let at = text.find("\"indices\": [").expect("indices") + 12;
    let indices = text[at..text[at..].find(']').expect("]") + at]
        .split(", ")
        .filter_map(|i| i.parse().ok())
        .collect();
    ((field("start"), field("count")), indices)
}

/// Waits for a subscriber's end (`end N` on stderr, exit 0: it read the
/// end-of-stream marker).
#[track_caller]
pub fn ended(sub: Proc) -> String {
    let out = sub.wait(TIMEOUT);
    assert!(out.status.success(), "{}", out.stderr);
    out.stderr
}

/// Waits for a subscriber whose stream was cut: exit 3, `error ...` (a read
/// that failed, or a stream that stopped without its end marker).
#[track_caller]
pub fn cut_off(sub: Proc) -> String {
    let out = sub.wait(TIMEOUT);
    assert_eq!(out.status.code(), Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("\nerror "), "{}", out.stderr);
    out.stderr
}

pub fn first_seq(k: usize, rows: usize) -> usize {
    1 + k * rows
}

/// `lightstream recv URL -` piped into a pyarrow subscriber writing `out`:
/// (recv, subscriber).
pub fn recv_into_pyarrow(dir: &Path, url: &str, out: &str) -> (Proc, Proc) {
    let mut recv = Proc::start(super::lightstream_in(dir, &["recv", url, "-"]), false);
    let stdout = recv.child.stdout.take().expect("recv stdout");
    let mut cmd = python(dir, &["subscribe", "-", out]);
    cmd.stdin(Stdio::from(stdout));
    (recv, Proc::start(cmd, true))
}
