//! The live feeds against the real binary, with pyarrow as the producer and
//! as every subscriber (`tests/python/feed_peer.py`): `producer | lightstream
//! serve tcp://127.0.0.1:0 - ...`, and `relay` chained behind it.
//!
//! The producer writes only when told (one command per line on its stdin),
//! and a subscriber says when it has its schema and each batch, so every
//! join point is known without timing assumptions. Every wait is bounded.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

mod common;
use common::Proc;
use common::feed::{FeedDir, Producer, TIMEOUT, ended, first_seq, recv_into_pyarrow, subscriber};

/// `feed_peer.py produce | lightstream serve URL - ARGS`.
struct Feed {
    dir: PathBuf,
    producer: Producer,
    serve: Proc,
    /// Where subscribers connect, as `feed_peer.py subscribe` takes it:
    /// `127.0.0.1:PORT` or `unix:PATH`.
    addr: String,
}

impl Feed {
    /// A feed on `tcp://127.0.0.1:0` of 50-row tables whose dictionary is
    /// replaced every fourth table.
    fn start(name: &str, args: &[&str]) -> Feed {
        Feed::serve(name, false, &[], args)
    }

    /// A feed of `produce`'s tables (`--rows N`: about 64 bytes a row;
    /// `--period P`) on TCP or, with `unix`, on a Unix socket: its kernel
    /// buffer is fixed (about 208 KiB, `net.core.wmem_default`), where a TCP
    /// connection's grows up to `net.ipv4.tcp_wmem`'s maximum (4 MiB on
    /// Linux) in front of `--max-lag`.
    fn serve(name: &str, unix: bool, produce: &[&str], args: &[&str]) -> Feed {
        let dir = common::test_dir("lightstream-feed", name);
        let mut producer = Producer::start(&dir, produce);
        let socket = dir.join("feed.sock");
        let listen = match unix {
            true => format!("unix://{}", socket.display()),
            false => "tcp://127.0.0.1:0".to_string(),
        };
        let mut all = vec!["serve", listen.as_str(), "-"];
        all.extend_from_slice(args);
        let mut cmd = common::lightstream_in(&dir, &all);
        cmd.stdin(producer.stdout());
        let mut serve = Proc::start(cmd, true);
        let url = serve.url();
        let addr = match unix {
            true => format!("unix:{}", socket.display()),
            false => url.trim_start_matches("tcp://").to_string(),
        };
        Feed {
            dir,
            producer,
            serve,
            addr,
        }
    }

    /// Tells the producer `command` (see [`Producer::say`]).
    fn say(&mut self, command: &str) {
        self.producer.say(command);
    }

    /// A pyarrow subscriber writing what it reads to `out`, once it has joined
    /// (it has the schema: the hub queued it on joining; a feed that has no
    /// table yet has no schema either: pyarrow writes it with the first).
    fn subscribe(&self, out: &str) -> Proc {
        let mut sub = self.connect(out, &[]);
        sub.wait_for_line("schema", TIMEOUT);
        sub
    }

    /// A pyarrow subscriber with `subscribe`'s `flags` (`--paced`, `--gate`,
    /// `--rcvbuf N`), started (not known to have joined yet). With `--gate`
    /// its stdin is a pipe: dropping `child.stdin` lets it read.
    fn connect(&self, out: &str, flags: &[&str]) -> Proc {
        subscriber(&self.dir, &self.addr, out, flags)
    }

    /// Subscribers (`out`, `flags` as [`Feed::connect`]) that all joined
    /// before the feed's second table: it publishes its first, and they
    /// wait for the schema. With `--replay 1`, each has the first table
    /// however late it joined before the second.
    fn join_first<const N: usize>(&mut self, subs: &[(&str, &[&str]); N]) -> [Proc; N] {
        let mut procs = subs.map(|(out, flags)| self.connect(out, flags));
        self.say("tables 1");
        for sub in &mut procs {
            sub.wait_for_line("schema", TIMEOUT);
        }
        procs
    }

    /// Ends the feed (`end`, or what `command` does) and waits for `serve`.
    fn finish(mut self, command: &str) -> (common::Output, FeedDir) {
        self.producer.finish(command);
        let out = self.serve.wait(TIMEOUT);
        (out, FeedDir(self.dir))
    }
}

/// `serve` exited 0 and said `n` times that a client was `what` (`dropped:`,
/// `failed:`), each time because of `why`.
#[track_caller]
fn reported(out: &common::Output, what: &str, n: usize, why: &str) {
    assert!(out.status.success(), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains(what)).collect();
    assert_eq!(lines.len(), n, "{}", out.stderr);
    assert!(lines.iter().all(|l| l.contains(why)), "{}", out.stderr);
}

/// A subscriber's `batch FIRST_SEQ BYTES T` lines: (bytes read, time).
fn batch_lines(stderr: &str) -> Vec<(u64, f64)> {
    stderr
        .lines()
        .filter_map(|l| {
            let mut f = l.strip_prefix("batch ")?.split(' ').skip(1);
            Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
        .collect()
}

#[test]
fn late_joiners_get_schema_dictionaries_replay_and_live_tables() {
    let mut feed = Feed::start("late", &["--replay", "3"]);
    // Joined before the third table (the first two are within the replay
    // window, whenever it joined before): the whole feed.
    let mut first = feed.connect("first.arrows", &[]);
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
        let sub = feed.subscribe(&name);
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
fn late_joiners_at_any_moment_of_a_running_feed_get_a_suffix_of_it() {
    let mut feed = Feed::start("joiners-anytime", &[]);
    feed.say("tables 1");
    // The producer writes on (a table every 10 ms, the dictionary replaced
    // every fourth and grown by deltas in between) while subscribers join
    // wherever the machine lets them: in the middle of a table's messages
    // too. No replay window: each gets the dictionaries as they stand.
    feed.producer.tell("tables 60 10");
    let mut rng = 0x2545_F491_4F6C_DD1D_u64;
    let mut subs = Vec::new();
    for i in 0..5 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(rng % 120));
        subs.push((
            format!("any{i}.arrows"),
            feed.connect(&format!("any{i}.arrows"), &[]),
        ));
    }
    for (_, sub) in &mut subs {
        sub.wait_for_line("schema", TIMEOUT);
    }
    feed.producer.wait_emitted(60);
    // Every one of them has joined: at least these two tables are theirs.
    feed.say("tables 2");
    let (out, dir) = feed.finish("end");
    assert!(out.status.success(), "{}", out.stderr);
    for (name, sub) in subs {
        ended(sub);
        let (start, count) = dir.check(&name, "suffix");
        assert_eq!(start + count, 63, "{name}");
    }
}

#[test]
fn a_feed_cut_in_the_middle_of_a_message_ends_every_subscriber_cleanly() {
    let mut feed = Feed::start("cut", &["--replay", "5"]);
    let mut sub = feed.connect("got.arrows", &[]);
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

/// A producer that ends its stream and writes another into the same pipe
/// (`command`: `next`, another schema; `restart`, the same again).
fn streams_one_after_another(name: &str, command: &str) {
    let mut feed = Feed::start(name, &["--replay", "3"]);
    let mut early = feed.connect("early.arrows", &[]);
    feed.say("tables 3");
    early.wait_for_line("schema", TIMEOUT);
    feed.say(command);
    feed.say("tables 2");
    // The early subscriber has the first stream whole with its end marker,
    // and its connection closed (exit 0 after the marker).
    ended(early);
    // One that joins once the next stream began gets it, its replay window
    // (the 2 tables so far) first. One that connected between the streams
    // got the finished first stream (its last 3 tables and the marker):
    // then try again.
    let second = first_seq(3, 50).to_string();
    let late = loop {
        let mut sub = feed.connect("late.arrows", &[]);
        let line = sub.wait_for_line("batch ", TIMEOUT);
        if line.split(' ').nth(1) == Some(second.as_str()) {
            break sub;
        }
        ended(sub);
    };
    feed.say("tables 2");
    let (out, dir) = feed.finish("end");
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stderr.contains("lightstream:"), "{}", out.stderr);
    assert_eq!(dir.check("early.arrows", "prefix-of-suffix"), (0, 3));
    ended(late);
    assert_eq!(dir.check("late.arrows", "suffix"), (3, 4));
}

#[test]
fn a_schema_change_on_stdin_ends_every_stream_and_starts_the_next() {
    streams_one_after_another("two-schemas", "next");
}

#[test]
fn a_producer_that_restarts_with_the_same_schema_starts_a_new_stream() {
    streams_one_after_another("restart", "restart");
}

#[test]
fn a_subscriber_that_disconnects_mid_message_costs_the_others_nothing() {
    let mut feed = Feed::start("leaver", &["--replay", "3"]);
    let mut healthy = feed.connect("healthy.arrows", &[]);
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

/// Rows of the slow-subscriber feeds' tables: about 6.4 KiB each.
const SLOW_ROWS: usize = 100;
/// The slow-subscriber feeds' tables: their dictionary is never replaced,
/// so every dropped table carried a delta that later tables need.
const SLOW_PRODUCE: [&str; 4] = ["--rows", "100", "--period", "100000"];

/// The first seq of table `k` (from 0) of a feed of `rows`-row tables.
/// A feed on a Unix socket under `--slow policy` (and `--replay 1`: whoever
/// joined before the second table gets the first), and three subscribers
/// joined before its second table: a healthy one, one that reads nothing
/// until its gate opens (`stalled.arrows`) and one that reads 1 KiB every
/// 10 ms (`paced.arrows`). Returns (feed, healthy, stalled, paced).
fn slow_feed(name: &str, policy: &str, args: &[&str]) -> (Feed, Proc, Proc, Proc) {
    let mut all = vec!["--slow", policy, "--replay", "1"];
    all.extend_from_slice(args);
    let mut feed = Feed::serve(name, true, &SLOW_PRODUCE, &all);
    let [healthy, stalled, paced] = feed.join_first(&[
        ("healthy.arrows", &[]),
        ("stalled.arrows", &["--gate"]),
        ("paced.arrows", &["--paced"]),
    ]);
    (feed, healthy, stalled, paced)
}

/// Tables a slow feed publishes after its first, in steps of [`STEP`]
/// tables: about 640 KiB, far more than [`MAX_LAG`] and what the kernel
/// holds (a Unix socket's buffer: about 208 KiB).
const MORE: usize = 90;
/// About 64 KiB: less than [`MAX_LAG`], so that a healthy subscriber whose
/// task the machine does not run during a whole step (its queue holds the
/// step) is not taken for a slow one.
const STEP: usize = 9;
const MAX_LAG: &str = "96K";

/// Publishes `more` tables of `rows` rows after the first, letting `healthy`
/// read each step of `step` tables before the next.
fn publish_more(feed: &mut Feed, healthy: &mut Proc, more: usize, step: usize, rows: usize) {
    for done in (step..=more).step_by(step) {
        feed.say(&format!("tables {step}"));
        healthy.wait_for_line(&format!("batch {} ", first_seq(done, rows)), TIMEOUT);
    }
}

#[test]
fn slow_subscribers_are_disconnected_and_the_others_get_the_whole_feed() {
    let (mut feed, mut healthy, stalled, paced) =
        slow_feed("slow-disconnect", "disconnect", &["--max-lag", MAX_LAG]);
    publish_more(&mut feed, &mut healthy, MORE, STEP, SLOW_ROWS);
    let (out, dir) = feed.finish("end");
    // The command says who was dropped, and why.
    reported(&out, "dropped:", 2, "slow policy: disconnect");
    ended(healthy);
    assert_eq!(dir.check("healthy.arrows", "suffix"), (0, MORE + 1));
    dir.cut_short("stalled.arrows", stalled, MORE + 1);
    dir.cut_short("paced.arrows", paced, MORE + 1);
}

#[test]
fn a_tcp_subscriber_that_does_not_read_is_disconnected_once_the_kernel_holds_no_more() {
    // Over TCP the kernel's send buffer grows (up to `net.ipv4.tcp_wmem`'s
    // maximum, 4 MiB on Linux) before `--max-lag` counts: 25 tables of
    // about 320 KiB, in steps of 3 (less than --max-lag, see `STEP`).
    let args = ["--slow", "disconnect", "--max-lag", "1M", "--replay", "1"];
    let mut feed = Feed::serve("slow-tcp", false, &["--rows", "5000"], &args);
    let [mut healthy, stalled] = feed.join_first(&[
        ("healthy.arrows", &[]),
        ("stalled.arrows", &["--gate", "--rcvbuf", "4096"]),
    ]);
    publish_more(&mut feed, &mut healthy, 24, 3, 5000);
    let (out, dir) = feed.finish("end");
    reported(&out, "dropped:", 1, "slow policy: disconnect");
    ended(healthy);
    assert_eq!(dir.check("healthy.arrows", "suffix"), (0, 25));
    dir.cut_short("stalled.arrows", stalled, 25);
}

#[test]
fn slow_subscribers_skip_to_the_newest_tables_and_their_streams_stay_valid() {
    let (mut feed, mut healthy, mut stalled, paced) =
        slow_feed("slow-skip", "skip", &["--max-lag", MAX_LAG]);
    // Every table is published (the healthy one has the last) before the
    // stalled one reads on.
    publish_more(&mut feed, &mut healthy, MORE, STEP, SLOW_ROWS);
    drop(stalled.child.stdin.take());
    let (out, dir) = feed.finish("end");
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stderr.contains("lightstream:"), "{}", out.stderr);
    ended(healthy);
    assert_eq!(dir.check("healthy.arrows", "suffix"), (0, MORE + 1));
    for (name, sub) in [("stalled.arrows", stalled), ("paced.arrows", paced)] {
        // A valid stream to its end marker, for pyarrow alone...
        ended(sub);
        // ...whose tables are the feed's, in order, with some left out,
        // each equal to the published one: its dictionary too, after
        // dropped tables that carried deltas (the dictionary was re-sent).
        let (start, count) = dir.check(name, "gaps");
        assert_eq!(start, 0, "{name}");
        assert!(count < MORE + 1, "{name}: {count} tables");
        let got = dir.indices(name);
        assert!(
            got.windows(2).any(|w| w[1] != w[0] + 1),
            "{name}: no table after a dropped one: {got:?}"
        );
    }
}

#[test]
fn a_blocking_feed_waits_for_its_slow_subscriber() {
    let (mut feed, healthy, mut stalled, paced) =
        slow_feed("slow-block", "block", &["--max-lag", "16K"]);
    // Not this one: it would hold the feed for ever (see the next test).
    drop(stalled.child.stdin.take());
    // About 320 KiB: more than the kernel, --max-lag and a table hold.
    feed.say("tables 49");
    let (out, dir) = feed.finish("end");
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stderr.contains("lightstream:"), "{}", out.stderr);
    let healthy = ended(healthy);
    assert_eq!(dir.check("healthy.arrows", "suffix"), (0, 50));
    ended(stalled);
    assert_eq!(dir.check("stalled.arrows", "suffix"), (0, 50));
    // The slow one got everything...
    let paced = ended(paced);
    assert_eq!(dir.check("paced.arrows", "suffix"), (0, 50));
    // ...and the feed waited for it: when the healthy one had the last
    // table, the slow one had read all but what the kernel (a Unix socket's
    // buffer: about 208 KiB), its --max-lag and the message being sent hold.
    let last = *batch_lines(&healthy).last().expect("healthy batches");
    let paced = batch_lines(&paced);
    let total = paced.last().expect("paced batches").0;
    let table = paced[1].0 - paced[0].0;
    let read_then = paced
        .iter()
        .filter(|(_, t)| *t <= last.1)
        .map(|(b, _)| *b)
        .max()
        .unwrap_or(0);
    let held = (256 << 10) + (16 << 10) + table;
    assert!(
        read_then + held >= total,
        "the slow one had read {read_then} of {total} bytes when the healthy one ended"
    );
}

#[test]
fn a_subscriber_that_does_not_read_holds_a_blocking_feed_at_most_timeout() {
    let mut feed = Feed::serve(
        "slow-block-dead",
        true,
        &SLOW_PRODUCE,
        &[
            "--slow",
            "block",
            "--max-lag",
            "16K",
            "--timeout",
            "1",
            "--replay",
            "1",
        ],
    );
    let [healthy, stalled] =
        feed.join_first(&[("healthy.arrows", &[]), ("stalled.arrows", &["--gate"])]);
    feed.say("tables 49");
    let (out, dir) = feed.finish("end");
    // It held the feed for --timeout, then was cut; the others got it all.
    reported(&out, "failed:", 1, "took no data for 1 s");
    ended(healthy);
    assert_eq!(dir.check("healthy.arrows", "suffix"), (0, 50));
    dir.cut_short("stalled.arrows", stalled, 50);
}

#[test]
fn a_relay_chain_carries_any_arrow_stream_to_websocket_subscribers_and_ends_with_it() {
    // producer | serve tcp:// -  ->  relay tcp:// ws://  ->  recv ws:// - | pyarrow
    // (list, struct, map, large_string and dictionary columns, with deltas
    // and replacements: types the relay never decodes).
    let mut feed = Feed::start("relay-chain", &["--replay", "3"]);
    let upstream = format!("tcp://{}", feed.addr);
    let args = ["relay", &upstream, "ws://127.0.0.1:0/", "--replay", "3"];
    let mut relay = Proc::spawn(&feed.dir, &args);
    let ws = relay.url();
    let (first_recv, mut first) = recv_into_pyarrow(&feed.dir, &ws, "first.arrows");
    // Both joined before the third table (the first two are in both replay
    // windows): the whole feed.
    feed.say("tables 2");
    first.wait_for_line("schema", TIMEOUT);
    feed.say("tables 5");
    // A late joiner, once the relay has published the seventh table: the
    // last 3 from its replay window, then the rest.
    first.wait_for_line(&format!("batch {} ", first_seq(6, 50)), TIMEOUT);
    let (late_recv, mut late) = recv_into_pyarrow(&feed.dir, &ws, "late.arrows");
    late.wait_for_line("schema", TIMEOUT);
    feed.say("tables 3");
    // The upstream ends: the relay's clients get the end marker, and the
    // relay ends, as cleanly as the feed.
    let (out, dir) = feed.finish("end");
    assert!(out.status.success(), "{}", out.stderr);
    let relayed = relay.wait(TIMEOUT);
    assert!(relayed.status.success(), "{}", relayed.stderr);
    assert!(
        !relayed.stderr.contains("lightstream:"),
        "{}",
        relayed.stderr
    );
    for recv in [first_recv, late_recv] {
        let out = recv.wait(TIMEOUT);
        assert!(out.status.success(), "{}", out.stderr);
    }
    ended(first);
    ended(late);
    assert_eq!(dir.check("first.arrows", "suffix"), (0, 10));
    assert_eq!(dir.check("late.arrows", "suffix"), (4, 6));
}

#[test]
fn a_relay_of_files_waits_for_its_audience_and_carries_every_table() {
    // feed.arrows: pyarrow's stream (list, struct, map, large_string and a
    // dictionary with deltas and replacements), written whole first, then
    // relayed message by message to two subscribers that were both there
    // before the file was read (--wait-for 2).
    let dir = common::test_dir("lightstream-feed", "relay-files");
    let mut producer = Producer::start(&dir, &[]);
    // It writes feed.arrows too; what goes to its stdout is not needed.
    let mut stdout = producer.proc.child.stdout.take().expect("producer stdout");
    let drain = std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    producer.say("tables 6");
    producer.finish("end");
    drain.join().expect("drain").expect("the producer's stdout");
    let args = [
        "relay",
        "feed.arrows",
        "tcp://127.0.0.1:0",
        "--wait-for",
        "2",
    ];
    let mut relay = Proc::spawn(&dir, &args);
    let addr = relay.url().trim_start_matches("tcp://").to_string();
    let first = subscriber(&dir, &addr, "first.arrows", &[]);
    let second = subscriber(&dir, &addr, "second.arrows", &[]);
    let out = relay.wait(TIMEOUT);
    assert!(out.status.success(), "{}", out.stderr);
    ended(first);
    ended(second);
    let feed = FeedDir(dir.clone());
    assert_eq!(feed.check("first.arrows", "suffix"), (0, 6));
    assert_eq!(feed.check("second.arrows", "suffix"), (0, 6));

    // An IPC file goes through the table path (decoded, each table encoded
    // once by the hub): `lightstream example`'s file, relayed to `recv`.
    let example = common::lightstream_in(&dir, &["example", "ex.arrow", "--rows", "3000"])
        .output()
        .expect("example");
    assert!(example.status.success());
    let args = ["relay", "ex.arrow", "tcp://127.0.0.1:0", "--wait-for", "1"];
    let mut relay = Proc::spawn(&dir, &args);
    let url = relay.url();
    let recv = Proc::spawn(&dir, &["recv", &url, "got.arrows"]);
    let out = relay.wait(TIMEOUT);
    assert!(out.status.success(), "{}", out.stderr);
    let out = recv.wait(TIMEOUT);
    assert!(out.status.success(), "{}", out.stderr);
    let same = Command::new("python3")
        .current_dir(&dir)
        .args([
            "-c",
            "import pyarrow.ipc as ipc\n\
             a = ipc.open_file('ex.arrow').read_all()\n\
             b = ipc.open_stream('got.arrows').read_all()\n\
             print('rows', b.num_rows, 'equal', a.equals(b))",
        ])
        .output()
        .expect("python3 with pyarrow");
    let same = String::from_utf8_lossy(&same.stdout);
    assert!(same.contains("rows 3000 equal True"), "{same}");
}
