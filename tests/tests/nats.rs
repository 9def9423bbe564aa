//! Live feeds over a real NATS server (issue 22): the harness itself
//! (tests/src/nats.rs), then lightstream's `nats://` endpoints against
//! Debian's `nats-server` on loopback. Every wait is bounded.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::Duration;

use lightstream_tests::nats::{NatsConfig, NatsServer};
use lightstream_tests::test_dir;

/// The INFO line a NATS server greets a client with, as JSON.
fn server_info(port: u16) -> serde_json::Value {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to nats-server");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .expect("the server's INFO line");
    let json = line
        .strip_prefix("INFO ")
        .unwrap_or_else(|| panic!("not an INFO line: {line:?}"));
    serde_json::from_str(json.trim()).expect("INFO is JSON")
}

#[test]
fn harness_starts_configures_and_restarts_the_server_on_its_port() {
    let dir = test_dir!("nats", "harness");
    let mut server = NatsServer::start(&dir, NatsConfig::default());
    let port = server.port();
    assert_ne!(port, 0);
    let info = server_info(port);
    assert_eq!(info["max_payload"], 65536, "{info}");
    assert_eq!(info["jetstream"], true, "{info}");
    assert_eq!(info["headers"], true, "{info}");
    let first_id = info["server_id"].clone();

    server.restart();
    assert_eq!(server.port(), port);
    let info = server_info(port);
    assert_eq!(info["max_payload"], 65536, "{info}");
    assert_ne!(info["server_id"], first_id, "a new process answers");
    assert!(
        dir.join("js").is_dir(),
        "JetStream's store is in the test directory"
    );
    drop(server);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "dropping the harness stops the server"
    );
}

#[test]
fn harness_starts_core_only_servers_with_the_default_payload() {
    let dir = test_dir!("nats", "harness_core");
    let server = NatsServer::start(
        &dir,
        NatsConfig {
            jetstream: false,
            max_payload: None,
        },
    );
    let info = server_info(server.port());
    assert_eq!(info["max_payload"], 1 << 20, "{info}");
    assert!(info.get("jetstream").is_none_or(|j| j == false), "{info}");
}
