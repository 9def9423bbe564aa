//! A real NATS server for the NATS tests (issue 22): Debian's `nats-server`
//! started on a free loopback port, JetStream in the test's own directory.
//!
//! - [`NatsServer::start`] runs `nats-server -a 127.0.0.1 -p -1 --ports_file_dir
//!   <dir> -c <dir>/nats.conf` (JetStream's store in `<dir>/js`, `max_payload`
//!   from [`NatsConfig`]) and reads the port the server chose from its ports
//!   file, waiting at most [`START_WAIT`].
//! - [`NatsServer::restart`] kills it (SIGKILL: a crash, not a clean stop) and
//!   starts it again on the same port and store, for the server-restart tests.
//! - [`NatsServer::subscriptions`]: the server's count of subscriptions (its
//!   monitoring port, `-m -1`), so that a test can wait for a subscriber to be
//!   in place before it publishes, without timing assumptions;
//!   [`NatsServer::stream_messages`] and [`NatsServer::consumers`] the same
//!   for a JetStream stream's messages (a resumable reader's bookmark
//!   written) and consumers (a reader joined).
//! - Dropping it kills the server and waits for it: no process outlives its test.
//!
//! The binary is `LIGHTSTREAM_NATS_SERVER` or `nats-server` on `PATH`. A missing
//! binary is a test failure naming the install step (`bash scripts/setup.sh`),
//! never a skip. Not a client: the tests use `lightstream`'s and async-nats'.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to write its ports file.
pub const START_WAIT: Duration = Duration::from_secs(10);

/// How the server is configured.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// JetStream on (file store under the test directory).
    pub jetstream: bool,
    /// The server's `max_payload` (bytes); `None`: its default (1 MiB).
    pub max_payload: Option<u32>,
}

impl Default for NatsConfig {
    /// JetStream on, `max_payload` 64 KiB: small enough that a few thousand rows
    /// are split into parts.
    fn default() -> NatsConfig {
        NatsConfig {
            jetstream: true,
            max_payload: Some(64 << 10),
        }
    }
}

/// A running `nats-server`; killed when dropped.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
    monitoring: u16,
    config: NatsConfig,
}

/// The server binary to run.
fn binary() -> String {
    std::env::var("LIGHTSTREAM_NATS_SERVER").unwrap_or_else(|_| "nats-server".to_string())
}

impl NatsServer {
    /// Starts a server whose config, store, log and ports file live in `dir`
    /// (created if missing; use a fresh directory per test).
    pub fn start(dir: &Path, config: NatsConfig) -> NatsServer {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("create NATS test directory {}: {e}", dir.display()));
        let mut conf = String::new();
        if let Some(max) = config.max_payload {
            conf.push_str(&format!("max_payload: {max}\n"));
        }
        if config.jetstream {
            // Sized explicitly: otherwise the store's limit comes from free
            // disk. A limit, not an allocation: room for a stream of the
            // writer's default `max_bytes` (1 GiB, which JetStream reserves
            // up front) besides the bookmarks and a test's own streams; in
            // memory, a stream of up to 1 GiB (benches/benches/nats.rs).
            conf.push_str(&format!(
                "jetstream {{\n  store_dir: {:?}\n  max_file_store: 4G\n  max_memory_store: 1G\n}}\n",
                dir.join("js").display().to_string()
            ));
        }
        std::fs::write(dir.join("nats.conf"), conf)
            .unwrap_or_else(|e| panic!("write {}/nats.conf: {e}", dir.display()));
        let mut server = NatsServer {
            child: None,
            dir: dir.to_path_buf(),
            port: 0,
            monitoring: 0,
            config,
        };
        server.spawn(None);
        server
    }

    /// Runs the server on `port` (`None`: a free one) and waits for its ports file.
    fn spawn(&mut self, port: Option<u16>) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("nats-server.log"))
            .unwrap_or_else(|e| panic!("open the NATS server log in {}: {e}", self.dir.display()));
        let port_arg = port.map_or_else(|| "-1".to_string(), |p| p.to_string());
        let monitoring_arg = match self.monitoring {
            0 => "-1".to_string(),
            m => m.to_string(),
        };
        let bin = binary();
        let child = Command::new(&bin)
            .args(["-a", "127.0.0.1", "-p", &port_arg, "-m", &monitoring_arg])
            .arg("--ports_file_dir")
            .arg(&self.dir)
            .arg("-c")
            .arg(self.dir.join("nats.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "{bin} not found: the NATS tests need Debian's nats-server; install it with \
                 `bash scripts/setup.sh` (apt-get install nats-server), or point \
                 LIGHTSTREAM_NATS_SERVER at a nats-server binary"
            ),
            Err(e) => panic!("could not run {bin}: {e}"),
        };
        let ports = self.dir.join(format!("nats-server_{}.ports", child.id()));
        let started = Instant::now();
        let found = loop {
            if let Ok(text) = std::fs::read_to_string(&ports)
                && let Some(ports) = ports_of(&text)
            {
                break ports;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{bin} exited ({status}) before it listened; its log: {}",
                    self.log_tail()
                );
            }
            if started.elapsed() > START_WAIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{bin} wrote no ports file within {START_WAIT:?}; its log: {}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = std::fs::remove_file(&ports);
        (self.port, self.monitoring) = found;
        self.child = Some(child);
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("nats-server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The server's process id while it runs (for its CPU time and memory
    /// in /proc: benches/benches/nats_fanout.rs).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The port the server listens on (loopback).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A page of the server's monitoring port (`/subsz`, `/jsz?streams=true`)
    /// as JSON.
    fn monitor(&self, page: &str) -> serde_json::Value {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.monitoring))
            .expect("connect to nats-server's monitoring port");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        stream
            .write_all(format!("GET {page} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .unwrap_or_else(|e| panic!("ask {page}: {e}"));
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .unwrap_or_else(|e| panic!("the {page} answer: {e}"));
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{page} is not JSON ({e}): {answer}"))
    }

    /// The server's count of subscriptions (`/subsz` on its monitoring
    /// port), including its own internal ones: compare with a count taken
    /// before the subscriber started.
    pub fn subscriptions(&self) -> u64 {
        let json = self.monitor("/subsz");
        json["num_subscriptions"]
            .as_u64()
            .unwrap_or_else(|| panic!("/subsz has no num_subscriptions: {json}"))
    }

    /// What `/jsz` (`?streams=true` or `?consumers=true`: `query`) says of
    /// JetStream stream `name`, if it exists.
    fn stream_detail(&self, name: &str, query: &str) -> Option<serde_json::Value> {
        let json = self.monitor(&format!("/jsz?{query}"));
        let accounts = json["account_details"].as_array()?;
        accounts
            .iter()
            .filter_map(|a| a["stream_detail"].as_array())
            .flatten()
            .find(|s| s["name"] == name)
            .cloned()
    }

    /// How many messages JetStream stream `name` holds; 0 when there is no
    /// such stream.
    pub fn stream_messages(&self, name: &str) -> u64 {
        self.stream_detail(name, "streams=true")
            .and_then(|s| s["state"]["messages"].as_u64())
            .unwrap_or(0)
    }

    /// The names of the consumers of JetStream stream `name`.
    pub fn consumers(&self, name: &str) -> Vec<String> {
        let Some(stream) = self.stream_detail(name, "consumers=true") else {
            return Vec::new();
        };
        let consumers = stream["consumer_detail"].as_array().cloned();
        consumers
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect()
    }

    /// The highest stream sequence the server has delivered to any consumer
    /// of JetStream stream `name` (0: none, or no such stream): what it has
    /// sent towards its readers, read or not.
    pub fn delivered(&self, name: &str) -> u64 {
        let Some(stream) = self.stream_detail(name, "consumers=true") else {
            return 0;
        };
        let consumers = stream["consumer_detail"].as_array().cloned();
        consumers
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["delivered"]["stream_seq"].as_u64())
            .max()
            .unwrap_or(0)
    }

    /// Waits (at most [`START_WAIT`]) for a consumer of JetStream stream
    /// `name` that is not one of `before` (a reader that joined: its start is
    /// fixed once its consumer exists); returns the names now.
    pub fn wait_for_new_consumer(&self, name: &str, before: &[String]) -> Vec<String> {
        let started = Instant::now();
        loop {
            let now = self.consumers(name);
            if now.iter().any(|c| !before.contains(c)) {
                return now;
            }
            assert!(
                started.elapsed() < START_WAIT,
                "no new consumer of JetStream stream {name} within {START_WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (at most [`START_WAIT`]) until JetStream stream `name` holds a
    /// message (a reader's bookmark in `LS_BOOKMARKS`, say).
    pub fn wait_for_stream_message(&self, name: &str) {
        let started = Instant::now();
        while self.stream_messages(name) == 0 {
            assert!(
                started.elapsed() < START_WAIT,
                "no message in JetStream stream {name} within {START_WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (at most [`START_WAIT`]) until the server holds more than
    /// `before` subscriptions.
    pub fn wait_for_subscriptions(&self, before: u64) {
        let started = Instant::now();
        while self.subscriptions() <= before {
            assert!(
                started.elapsed() < START_WAIT,
                "no new subscription on nats-server within {START_WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How it was configured.
    pub fn config(&self) -> &NatsConfig {
        &self.config
    }

    /// `nats://127.0.0.1:PORT` (what async-nats connects to).
    pub fn client_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// A lightstream endpoint URL for `subject`, with `query` (without the `?`)
    /// if not empty: `nats://127.0.0.1:PORT/SUBJECT[?QUERY]`.
    pub fn url(&self, subject: &str, query: &str) -> String {
        let mut url = format!("nats://127.0.0.1:{}/{subject}", self.port);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    /// Stops (SIGSTOP) or continues (SIGCONT) the server: a server that
    /// takes no data and answers nothing, with its connections open.
    pub fn pause(&self, paused: bool) {
        let pid = self.pid().expect("a running server").to_string();
        let signal = if paused { "-STOP" } else { "-CONT" };
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap_or_else(|e| panic!("kill {signal} {pid}: {e}"));
        assert!(status.success(), "kill {signal} {pid}: {status}");
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server (SIGKILL, as a crash) and starts it again on the same
    /// port with the same store: JetStream streams on file survive.
    pub fn restart(&mut self) {
        self.kill();
        // The port is free again once the process is gone; the new server
        // binds it with SO_REUSEADDR, so TIME_WAIT sockets do not block it.
        let port = self.port;
        self.spawn(Some(port));
        assert_eq!(self.port, port, "the restarted server took another port");
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The client and monitoring ports of a ports file:
/// `{"nats":["nats://127.0.0.1:P"],"monitoring":["http://127.0.0.1:M"]}`.
fn ports_of(text: &str) -> Option<(u16, u16)> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let port = |key: &str| -> Option<u16> {
        let url = value.get(key)?.get(0)?.as_str()?;
        url.rsplit_once(':')?.1.parse().ok()
    };
    Some((port("nats")?, port("monitoring")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_files_give_the_ports() {
        assert_eq!(
            ports_of(r#"{"nats":["nats://127.0.0.1:42457"],"monitoring":["http://127.0.0.1:8"]}"#),
            Some((42457, 8))
        );
        assert_eq!(ports_of(r#"{"nats":["nats://127.0.0.1:42457"]}"#), None);
        assert_eq!(ports_of(r#"{"nats":[]}"#), None);
        assert_eq!(ports_of("{\"na"), None);
    }
}
