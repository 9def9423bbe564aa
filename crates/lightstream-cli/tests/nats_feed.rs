//! `lightstream serve nats://… -`, `recv nats://…` and `relay nats://…`
//! against a real nats-server (tests/src/nats.rs), end to end (issue 22): a
//! pyarrow producer (`tests/python/feed_peer.py`) → `serve nats://… -` →
//! relays on TCP, WebSocket and HTTP → pyarrow subscribers, each of whose
//! streams must equal the feed's suffix from where it joined, dictionaries
//! (deltas and replacements) included; a relay killed (SIGKILL) and
//! restarted, resuming from its bookmark or rejoining live; a slow relay
//! client under the hub's policy; the NATS server killed mid-feed; and the
//! hub's flags refused for a NATS target.
//!
//! The producer writes only when told and subscribers say when they have
//! their schema and each batch (common/feed.rs), so every join point is
//! known without timing assumptions. Every wait is bounded.

use std::path::PathBuf;

use lightstream_tests::nats::{NatsConfig, NatsServer};

mod common;
use common::feed::{
    FeedDir, Producer, TIMEOUT, cut_off, ended, first_seq, recv_into_pyarrow, subscriber,
};
use common::{Proc, decode_stream, run, run_in, test_dir};

#[test]
fn serve_publishes_stdin_on_nats_and_recv_writes_it_out() {
    let dir = test_dir("nats_feed", "serve_recv");
    let server = NatsServer::start(
        &dir.join("server"),
        NatsConfig {
            jetstream: false,
            max_payload: Some(64 << 10),
        },
    );
    run(&dir, &["example", "in.arrows", "--rows", "5000"]).assert_success();
    let url = server.url("cli.feed", "mode=core");
    // Core NATS keeps nothing: the subscriber is in place first.
    let before = server.subscriptions();
    let recv = Proc::spawn(&dir, &["recv", &url, "out.arrows"]);
    server.wait_for_subscriptions(before);
    let input = std::fs::read(dir.join("in.arrows")).expect("in.arrows");
    run_in(&dir, &["serve", &url, "-"], Some(input)).assert_success();
    let out = recv.wait(TIMEOUT);
    out.assert_success();
    // Batches of about 100 KiB went in 64 KiB parts and came back whole.
    let sent = decode_stream(&dir.join("in.arrows"));
    let got = decode_stream(&dir.join("out.arrows"));
    assert_eq!(got.len(), sent.len());
    for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
        lightstream_tests::assert_tables_equal(g, s, &format!("table {i}"));
    }
}

#[test]
fn a_nats_target_refuses_the_hubs_flags() {
    let dir = test_dir("nats_feed", "usage");
    let out = run_in(
        &dir,
        &[
            "serve",
            "nats://127.0.0.1:1/cli.feed",
            "-",
            "--slow",
            "skip",
        ],
        Some(Vec::new()),
    );
    let line = out.assert_error(2);
    assert!(line.contains("apply to a hub's clients"), "{line}");
    let out = run(&dir, &["recv", "nats://127.0.0.1:1/a.*", "out.arrows"]);
    let line = out.assert_error(2);
    assert!(line.contains("wildcards"), "{line}");
}

/// The JetStream stream of the feeds below (`LS_` and the subject).
const STREAM: &str = "LS_e2e_feed";

/// `feed_peer.py produce | lightstream serve nats://…/e2e.feed -` on a
/// server of its own.
struct NatsFeed {
    dir: PathBuf,
    server: NatsServer,
    producer: Producer,
    serve: Proc,
    /// The feed's URL (`nats://127.0.0.1:PORT/e2e.feed[?QUERY]`).
    url: String,
    /// Tables the producer wrote so far.
    published: usize,
}

impl NatsFeed {
    /// A feed of `produce`'s tables (`--rows N`, `--period P`; default 50
    /// rows, the dictionary replaced every fourth table and grown by deltas
    /// in between) published with the URL's `query` (`mode=core`, or empty).
    fn start(name: &str, config: NatsConfig, query: &str, produce: &[&str]) -> NatsFeed {
        let dir = test_dir("nats_feed", name);
        let server = NatsServer::start(&dir.join("server"), config);
        let url = server.url("e2e.feed", query);
        let mut producer = Producer::start(&dir, produce);
        let mut cmd = common::lightstream_in(&dir, &["serve", &url, "-"]);
        cmd.stdin(producer.stdout());
        let serve = Proc::start(cmd, true);
        NatsFeed {
            dir,
            server,
            producer,
            serve,
            url,
            published: 0,
        }
    }

    /// JetStream: the first table, and its stream created (`serve` creates
    /// it once its input has a table), so that relays can join.
    fn begin(&mut self) {
        self.tables(1);
        self.server.wait_for_stream_message(STREAM);
    }

    /// Has the producer write `n` more tables and waits until it did.
    fn tables(&mut self, n: usize) {
        self.producer.say(&format!("tables {n}"));
        self.published += n;
    }

    /// `lightstream relay nats://… LISTEN --wait-for CLIENTS ARGS`, and the
    /// URL it listens on. It reads NATS once its clients are there.
    fn relay(&self, listen: &str, clients: usize, args: &[&str]) -> (Proc, String) {
        let clients = clients.to_string();
        let mut all = vec!["relay", self.url.as_str(), listen, "--wait-for", &clients];
        all.extend_from_slice(args);
        let mut relay = Proc::spawn(&self.dir, &all);
        let url = relay.url();
        (relay, url)
    }

    /// A JetStream relay (as [`NatsFeed::relay`], `--wait-for 1`) and a
    /// pyarrow subscriber of it (see [`subscribe`]), once the relay has
    /// joined the feed (its consumer exists: every table published from
    /// now on reaches the subscriber).
    fn relay_joined(&self, listen: &str, args: &[&str], out: &str) -> (Proc, Proc, Option<Proc>) {
        let before = self.server.consumers(STREAM);
        let (relay, url) = self.relay(listen, 1, args);
        let (sub, recv) = subscribe(&self.dir, &url, out);
        self.server.wait_for_new_consumer(STREAM, &before);
        (relay, sub, recv)
    }

    /// Core NATS: publishes one table at a time until `sub` has one (its
    /// relay asked for a restate on joining, and a core joiner starts at
    /// the first restate that comes); returns how many it took.
    fn tables_until_joined(&mut self, sub: &mut Proc) -> usize {
        for n in 1..=100 {
            self.tables(1);
            std::thread::sleep(std::time::Duration::from_millis(100));
            if sub.new_lines().iter().any(|l| l.starts_with("batch ")) {
                return n;
            }
        }
        panic!("the relay did not join within 100 tables: {:?}", sub.stderr);
    }

    /// Ends the feed (the producer's end marker) and waits for `serve`,
    /// which must succeed.
    fn finish(mut self) -> (FeedDir, NatsServer) {
        self.producer.finish("end");
        let out = self.serve.wait(TIMEOUT);
        assert!(out.status.success(), "serve: {}", out.stderr);
        (FeedDir(self.dir), self.server)
    }
}

/// A pyarrow subscriber of the relay listening on `url`, writing what it
/// reads to `out`: tcp:// and http:// read by pyarrow from the socket or
/// from Python's own HTTP client, ws:// through `lightstream recv ws://… -`
/// (returned too).
fn subscribe(dir: &std::path::Path, url: &str, out: &str) -> (Proc, Option<Proc>) {
    match url.split_once("://") {
        Some(("tcp", addr)) => (subscriber(dir, addr, out, &[]), None),
        Some(("http", _)) => (subscriber(dir, url, out, &[]), None),
        _ => {
            let (recv, sub) = recv_into_pyarrow(dir, url, out);
            (sub, Some(recv))
        }
    }
}

/// Stops a relay of a NATS feed (SIGTERM): after the end marker it waits for
/// the feed's next stream (a schema change, a publisher started again), so
/// it never ends on its own. It must not have failed before.
#[track_caller]
fn stop(relay: Proc) {
    let (code, stderr) = relay.terminate(TIMEOUT);
    assert_eq!(code, Some(0), "relay: {stderr}");
    assert!(!stderr.contains("lightstream:"), "relay: {stderr}");
}

#[test]
fn three_relays_carry_a_nats_feed_to_pyarrow_on_tcp_websocket_and_http() {
    // Tables of about 100 KiB: each crosses NATS (max_payload 64 KiB) in parts.
    let mut feed = NatsFeed::start("relays", NatsConfig::default(), "", &["--rows", "1500"]);
    feed.tables(2);
    // Each relay joins after a few more tables than the one before: a
    // different point of the feed and of its dictionary (replaced every
    // fourth table, grown by deltas in between).
    let mut relays = Vec::new();
    for (i, listen) in [
        "tcp://127.0.0.1:0",
        "ws://127.0.0.1:0/",
        "http://127.0.0.1:0/feed",
    ]
    .into_iter()
    .enumerate()
    {
        let (relay, sub, recv) = feed.relay_joined(listen, &[], &format!("sub{i}.arrows"));
        relays.push((relay, sub, recv, feed.published));
        feed.tables(3);
    }
    feed.tables(2);
    let total = feed.published;
    let (dir, _server) = feed.finish();
    for (i, (relay, sub, recv, joined)) in relays.into_iter().enumerate() {
        ended(sub);
        if let Some(recv) = recv {
            assert!(recv.wait(TIMEOUT).status.success());
        }
        stop(relay);
        // Every table from where it joined to the feed's end, each equal to
        // pyarrow's own (dictionaries compared by value); maybe some that
        // were still on their way to NATS when it joined, never a gap.
        let (start, count) = dir.check(&format!("sub{i}.arrows"), "suffix");
        assert!(
            start <= joined,
            "sub{i}: starts at table {start}, joined after {joined}"
        );
        assert_eq!(start + count, total, "sub{i}");
    }
}

#[test]
fn a_relay_killed_and_restarted_resumes_from_its_bookmark_or_rejoins_live() {
    let mut feed = NatsFeed::start("relay-restart", NatsConfig::default(), "", &[]);
    feed.begin();
    // A watcher of the feed itself, to know when NATS has every table.
    let before = feed.server.consumers(STREAM);
    let (watch_recv, mut watch) = recv_into_pyarrow(&feed.dir, &feed.url, "watch.arrows");
    feed.server.wait_for_new_consumer(STREAM, &before);
    // Two relays: one resuming after its bookmark, one joining live.
    let tcp = "tcp://127.0.0.1:0";
    let resume = ["--resume", "edge-1"];
    let (resuming, mut resumed1, _) = feed.relay_joined(tcp, &resume, "resume1.arrows");
    let (live, mut live1, _) = feed.relay_joined(tcp, &[], "live1.arrows");
    feed.tables(4);
    for sub in [&mut resumed1, &mut live1, &mut watch] {
        sub.wait_for_line(&format!("batch {} ", first_seq(4, 50)), TIMEOUT);
    }
    // The resuming relay recorded where it is (once a second).
    feed.server.wait_for_stream_message("LS_BOOKMARKS");
    resuming.kill();
    live.kill();
    cut_off(resumed1);
    cut_off(live1);
    // Published while both are down; NATS has them all before they restart.
    feed.tables(3);
    watch.wait_for_line(&format!("batch {} ", first_seq(7, 50)), TIMEOUT);
    let (resuming, resumed2, _) = feed.relay_joined(tcp, &resume, "resume2.arrows");
    let (live, live2, _) = feed.relay_joined(tcp, &[], "live2.arrows");
    feed.tables(2);
    let (dir, _server) = feed.finish();
    for sub in [resumed2, live2, watch] {
        ended(sub);
    }
    assert!(watch_recv.wait(TIMEOUT).status.success());
    stop(resuming);
    stop(live);
    // Each joined after the first table, or while it was on its way.
    let joined = |name: &str, mode: &str| {
        let (start, count) = dir.check(name, mode);
        assert!(start <= 1, "{name} starts at table {start}");
        start + count
    };
    assert_eq!(joined("watch.arrows", "suffix"), 10);
    // Each one's client got a valid stream, schema and dictionaries first,
    // to the fifth table.
    assert_eq!(joined("resume1.arrows", "prefix-of-suffix"), 5);
    assert_eq!(joined("live1.arrows", "prefix-of-suffix"), 5);
    // Resumed: from at most what its first life handed on (its bookmark
    // may be up to a second old: a table twice, never a gap)...
    let (start, count) = dir.check("resume2.arrows", "suffix");
    assert!(
        start <= 5,
        "the resumed relay starts at table {start}: a gap"
    );
    assert_eq!(start + count, 10);
    // ...live: from the first table published after it was back.
    assert_eq!(dir.check("live2.arrows", "suffix"), (8, 2));
}

#[test]
fn a_core_nats_relay_restarted_rejoins_live() {
    let config = NatsConfig {
        jetstream: false,
        ..NatsConfig::default()
    };
    let mut feed = NatsFeed::start("relay-core", config, "mode=core", &[]);
    let (relay, url) = feed.relay("tcp://127.0.0.1:0", 1, &[]);
    let (mut first, _) = subscribe(&feed.dir, &url, "first.arrows");
    let skipped = feed.tables_until_joined(&mut first) - 1;
    feed.tables(2);
    first.wait_for_line(&format!("batch {} ", first_seq(skipped + 2, 50)), TIMEOUT);
    relay.kill();
    cut_off(first);
    // Lost for it: core NATS keeps nothing.
    feed.tables(2);
    let down = feed.published;
    let (relay, url) = feed.relay("tcp://127.0.0.1:0", 1, &[]);
    let (mut second, _) = subscribe(&feed.dir, &url, "second.arrows");
    feed.tables_until_joined(&mut second);
    feed.tables(2);
    let total = feed.published;
    let (dir, _server) = feed.finish();
    ended(second);
    stop(relay);
    assert_eq!(dir.check("first.arrows", "prefix-of-suffix"), (skipped, 3));
    // From a table published after it was back (the restate it joined at
    // gave it the dictionaries as they stood), to the end.
    let (start, count) = dir.check("second.arrows", "suffix");
    assert!(
        start >= down,
        "starts at table {start}, before its restart at {down}"
    );
    assert_eq!(start + count, total);
}

#[test]
fn a_relay_client_slower_than_a_nats_feed_follows_the_hubs_policy() {
    // Relayed on a Unix socket (its kernel buffer is fixed, about 208 KiB)
    // under `--slow disconnect --max-lag 96K`: 91 tables of about 6.4 KiB
    // (one dictionary, never replaced), in steps of 9 the healthy
    // subscriber reads.
    let mut feed = NatsFeed::start(
        "relay-slow",
        NatsConfig::default(),
        "",
        &["--rows", "100", "--period", "100000"],
    );
    feed.begin();
    let socket = feed.dir.join("relay.sock");
    let listen = format!("unix://{}", socket.display());
    let before = feed.server.consumers(STREAM);
    let (mut relay, _) = feed.relay(&listen, 2, &["--slow", "disconnect", "--max-lag", "96K"]);
    let addr = format!("unix:{}", socket.display());
    let mut healthy = subscriber(&feed.dir, &addr, "healthy.arrows", &[]);
    let mut stalled = subscriber(&feed.dir, &addr, "stalled.arrows", &["--gate"]);
    feed.server.wait_for_new_consumer(STREAM, &before);
    for done in (9..=90).step_by(9) {
        feed.tables(9);
        healthy.wait_for_line(&format!("batch {} ", first_seq(done, 100)), TIMEOUT);
    }
    // The relay says whom it dropped, and why.
    let line = relay.wait_for_line("dropped:", TIMEOUT);
    assert!(line.contains("slow policy: disconnect"), "{line}");
    let (dir, _server) = feed.finish();
    ended(healthy);
    let (code, stderr) = relay.terminate(TIMEOUT);
    assert_eq!(code, Some(0), "relay: {stderr}");
    // The healthy one: every table from where it joined (the first, or the
    // second when the first had reached NATS before).
    let (start, count) = dir.check("healthy.arrows", "suffix");
    assert!(
        start <= 1 && start + count == 91,
        "healthy: {start}, {count}"
    );
    // The stalled one: cut off (its stream stopped), what it had whole.
    drop(stalled.child.stdin.take());
    cut_off(stalled);
    let (start, count) = dir.check("stalled.arrows", "prefix-of-suffix");
    assert!(start <= 1 && count < 91, "stalled: {start}, {count}");
}

#[test]
fn a_nats_server_killed_mid_feed_costs_a_relays_clients_nothing() {
    let mut feed = NatsFeed::start("server-restart", NatsConfig::default(), "", &[]);
    feed.begin();
    let (relay, mut sub, _) = feed.relay_joined("tcp://127.0.0.1:0", &[], "sub.arrows");
    feed.tables(3);
    sub.wait_for_line(&format!("batch {} ", first_seq(3, 50)), TIMEOUT);
    // SIGKILL, then the same port and store: the publisher re-sends what
    // was not acknowledged, the relay's reader goes on from where it was.
    feed.server.restart();
    feed.tables(3);
    let (dir, server) = feed.finish();
    ended(sub);
    stop(relay);
    let (start, count) = dir.check("sub.arrows", "suffix");
    assert!(
        start <= 1 && start + count == 7,
        "{start}, {count}; server log: {}",
        server.log_tail()
    );
}
