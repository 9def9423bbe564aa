//! `lightstream serve nats://… -` and `recv nats://…` against a real
//! nats-server (tests/src/nats.rs): a stream published from standard input
//! arrives whole at a subscriber that was in place first, and the hub's flags
//! are refused for a NATS target. Every wait is bounded.

use std::time::Duration;

use lightstream_tests::nats::{NatsConfig, NatsServer};

mod common;
use common::{Proc, decode_stream, run, run_in, test_dir};

const TIMEOUT: Duration = Duration::from_secs(30);

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
