//! The live feeds against the real binary, with pyarrow as the producer and
//! as every subscriber (`tests/python/feed_peer.py`): `producer | lightstream
//! serve tcp://127.0.0.1:0 - ...`, and `relay` chained behind it.
//!
//! The producer writes only when told (one command per line on its stdin),
//! and a subscriber says when it has its schema and each batch, so every
//! join point is known without timing assumptions. Every wait is bounded.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::time::Duration;

mod common;
use common::Proc;

/// The longest any one wait may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(30);

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/feed_peer.py")
}

fn python(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(script())
        .args(args)
        .current_dir(dir);
    cmd
}

/// `feed_peer.py produce | lightstream serve tcp://127.0.0.1:0 - ARGS`.
struct Feed {
    dir: PathBuf,
    producer: Proc,
    control: Option<ChildStdin>,
    serve: Proc,
    /// `127.0.0.1:PORT`
    addr: String,
}

impl Feed {
    fn start(name: &str, args: &[&str]) -> Feed {
        let dir = common::test_dir("lightstream-feed", name);
        let mut cmd = python(&dir, &["produce", "feed.arrows"]);
        cmd.stdin(Stdio::piped());
        let mut producer = Proc::start(cmd, false);
        let control = producer.child.stdin.take();
        let stdout = producer.child.stdout.take().expect("producer stdout");
        let mut all = vec!["serve", "tcp://127.0.0.1:0", "-"];
        all.extend_from_slice(args);
        let mut cmd = common::lightstream_in(&dir, &all);
        cmd.stdin(Stdio::from(stdout));
        let mut serve = Proc::start(cmd, true);
        let addr = serve.url().trim_start_matches("tcp://").to_string();
        Feed {
            dir,
            producer,
            control,
            serve,
            addr,
        }
    }

    /// Tells the producer `command`; with `tables N`, waits until it wrote them.
    fn say(&mut self, command: &str) {
        let control = self.control.as_mut().expect("producer running");
        writeln!(control, "{command}").expect("tell the producer");
        control.flush().expect("tell the producer");
        if let Some(n) = command.strip_prefix("tables ") {
            let n: usize = n.parse().expect("a count");
            for _ in 0..n {
                self.producer.wait_for_line("emitted", TIMEOUT);
            }
        }
    }

    /// A pyarrow subscriber writing what it reads to `out`, once it has joined
    /// (it has the schema: the hub queued it on joining; a feed that has no
    /// table yet has no schema either: pyarrow writes it with the first).
    fn subscribe(&self, out: &str, slow: bool) -> Proc {
        let mut sub = self.connect(out, slow);
        sub.wait_for_line("schema", TIMEOUT);
        sub
    }

    /// A pyarrow subscriber, started (not known to have joined yet).
    fn connect(&self, out: &str, slow: bool) -> Proc {
        let mut args = vec!["subscribe", self.addr.as_str(), out];
        if slow {
            args.push("--slow");
        }
        Proc::start(python(&self.dir, &args), true)
    }

    /// Ends the feed (`end`, or what `command` does) and waits for `serve`.
    fn finish(mut self, command: &str) -> (common::Output, FeedDir) {
        self.say(command);
        drop(self.control.take());
        let out = self.serve.wait(TIMEOUT);
        let _ = self.producer.exit(TIMEOUT);
        (out, FeedDir(self.dir))
    }
}

/// The test directory after the feed ended, for the checks.
struct FeedDir(PathBuf);

impl FeedDir {
    /// `feed_peer.py check feed.arrows GOT MODE`: (start index, tables).
    #[track_caller]
    fn check(&self, got: &str, mode: &str) -> (usize, usize) {
        let out = python(&self.0, &["check", "feed.arrows", got, mode])
            .output()
            .expect("python3 with pyarrow");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{got} ({mode}): {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let field = |name: &str| -> usize {
            let at = text.find(&format!("\"{name}\": ")).expect(name) + name.len() + 4;
            text[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse().ok())
                .unwrap_or(usize::MAX)
        };
        (field("start"), field("count"))
    }
}

/// Waits for a subscriber's end (`end N` on stderr, exit 0).
#[track_caller]
fn ended(sub: Proc) -> String {
    let out = sub.wait(TIMEOUT);
    assert!(out.status.success(), "{}", out.stderr);
    out.stderr
}

#[test]
fn late_joiners_get_schema_dictionaries_replay_and_live_tables() {
    let mut feed = Feed::start("late", &["--replay", "3"]);
    // Joined before the third table (the first two are within the replay
    // window, whenever it joined before): the whole feed.
    let mut first = feed.connect("first.arrows", false);
    feed.say("tables 2");
    first.wait_for_line("schema", TIMEOUT);
    // Joins at points chosen by a fixed-seed generator; the dictionary is
    // replaced every fourth table and grows by deltas in between, so each
    // joiner gets a different dictionary state.
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    let mut late = Vec::new();
    let mut emitted = 2;
    for i in 0..3 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let n = 2 + (rng % 5) as usize;
        feed.say(&format!("tables {n}"));
        emitted += n;
        let name = format!("late{i}.arrows");
        let sub = feed.subscribe(&name, false);
        late.push((name, sub, emitted));
    }
    feed.say("tables 4");
    let (out, dir) = feed.finish("end");
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stderr.contains("lightstream:"), "{}", out.stderr);

    ended(first);
    assert_eq!(dir.check("first.arrows", "suffix"), (0, emitted + 4));
    for (name, sub, emitted_before) in late {
        ended(sub);
        // The replay window: the last 3 tables from before it joined.
        let (start, count) = dir.check(&name, "suffix");
        assert_eq!(start, emitted_before - 3, "{name}");
        assert_eq!(count, 3 + (emitted + 4 - emitted_before), "{name}");
    }
}

#[test]
fn a_feed_cut_in_the_middle_of_a_message_ends_every_subscriber_cleanly() {
    let mut feed = Feed::start("cut", &["--replay", "5"]);
    let mut sub = feed.connect("got.arrows", false);
    feed.say("tables 5");
    sub.wait_for_line("schema", TIMEOUT);
    let (out, dir) = feed.finish("cut");
    // The command says what was wrong and fails...
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("<stdin>"), "{}", out.stderr);
    // ...and the subscriber got every whole table and the end marker.
    ended(sub);
    let (start, count) = dir.check("got.arrows", "prefix-of-suffix");
    assert_eq!((start, count), (0, 5));
}

#[test]
fn a_second_stream_on_stdin_ends_the_feed_at_the_first_end_marker() {
    let mut feed = Feed::start("two-streams", &["--replay", "3"]);
    let mut sub = feed.connect("got.arrows", false);
    feed.say("tables 3");
    sub.wait_for_line("schema", TIMEOUT);
    feed.say("next");
    feed.say("tables 2");
    let (out, dir) = feed.finish("end");
    assert!(out.status.success(), "{}", out.stderr);
    ended(sub);
    // The first stream, whole and ended; the second is not forwarded.
    assert_eq!(dir.check("got.arrows", "prefix-of-suffix"), (0, 3));
}

#[test]
fn a_subscriber_that_disconnects_mid_message_costs_the_others_nothing() {
    let mut feed = Feed::start("leaver", &["--replay", "3"]);
    let mut healthy = feed.connect("healthy.arrows", false);
    // A raw client that reads a little of the stream and goes away.
    let mut leaver = std::net::TcpStream::connect(&feed.addr).expect("connect");
    leaver
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    feed.say("tables 3");
    healthy.wait_for_line("schema", TIMEOUT);
    let mut some = [0u8; 100];
    std::io::Read::read_exact(&mut leaver, &mut some).expect("a few bytes");
    drop(leaver);
    feed.say("tables 3");
    let (out, dir) = feed.finish("end");
    assert!(out.status.success(), "{}", out.stderr);
    ended(healthy);
    assert_eq!(dir.check("healthy.arrows", "suffix"), (0, 6));
}
