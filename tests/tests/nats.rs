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

// ------------------------------------------------------------- the feed --

use std::sync::Arc;

use futures_util::StreamExt;
use lightstream::lightstream_core::ErrorKind;
use lightstream::minarrow::{
    Array, ArrowType, CategoricalArray, Field, FieldArray, IntegerArray, NumericArray, Table, Vec64,
};
use lightstream::{
    ClientOptions, DecodeLimits, Endpoint, Error, MessageWriter, NatsProblem, ReadOptions, Schema,
    TableReader, TableWriter, WriteOptions,
};
use lightstream_tests::assert_tables_equal;
use lightstream_tests::harness::{run_bounded, within};

/// Rows of each table: with the harness's `max_payload` of 64 KiB, each
/// record batch (about 100 KiB) travels in parts.
const ROWS: usize = 4000;

/// Table `i` of the feed: `seq` (int64, `i * ROWS + row`) and `city`
/// (a dictionary of long strings, over 64 KiB, that grows every 4 tables:
/// the feed carries deltas, and a late joiner needs them all).
fn feed_table(i: usize) -> Table {
    let words = 300 + 50 * (i / 4);
    let base = (i * ROWS) as i64;
    let seq: Vec64<i64> = (base..base + ROWS as i64).collect();
    let keys: Vec64<u32> = (0..ROWS)
        .map(|r| ((r * 7 + i * 13) % words) as u32)
        .collect();
    let dict: Vec64<String> = (0..words)
        .map(|w| format!("city-{w}-{}", "x".repeat(200)))
        .collect();
    Table::new(
        "feed".to_string(),
        Some(vec![
            FieldArray::new(
                Field::new("seq", ArrowType::Int64, false, None),
                Array::from_int64(IntegerArray::from_vec64(seq, None)),
            ),
            FieldArray::new(
                Field::new(
                    "city",
                    ArrowType::Dictionary(
                        lightstream::minarrow::ffi::arrow_dtype::CategoricalIndexType::UInt32,
                    ),
                    false,
                    None,
                ),
                Array::from_categorical32(CategoricalArray::new(keys, dict, None)),
            ),
        ]),
    )
}

/// Which feed table `t` is (by its first `seq`).
fn table_index(t: &Table) -> usize {
    match &t.cols[0].array {
        Array::NumericArray(NumericArray::Int64(a)) => a.data.as_slice()[0] as usize / ROWS,
        other => panic!("unexpected column {other:?}"),
    }
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::from_table(&feed_table(0)))
}

/// Grown dictionaries go out as deltas.
fn write_options() -> WriteOptions {
    WriteOptions {
        allow_delta_dictionaries: true,
        unify_dictionaries: true,
        ..WriteOptions::default()
    }
}

async fn connect(url: &str) -> lightstream::Connection {
    let endpoint: Endpoint = url.parse().expect("a nats:// URL");
    within(
        "connect",
        15,
        lightstream::connect(&endpoint, &ClientOptions::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

async fn writer(url: &str) -> TableWriter {
    writer_with(url, ClientOptions::default()).await
}

async fn writer_with(url: &str, options: ClientOptions) -> TableWriter {
    let endpoint: Endpoint = url.parse().expect("a nats:// URL");
    let conn = within("connect", 15, lightstream::connect(&endpoint, &options))
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    let mut w = conn
        .writer(schema(), write_options())
        .await
        .expect("a NATS writer");
    w.set_write_timeout(Some(Duration::from_secs(30)));
    w
}

/// A writer of `table`'s schema (no deltas) on `url`.
async fn writer_of(url: &str, options: &ClientOptions, table: &Table) -> TableWriter {
    let endpoint: Endpoint = url.parse().expect("a nats:// URL");
    within("connect", 15, lightstream::connect(&endpoint, options))
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"))
        .writer(Arc::new(Schema::from_table(table)), WriteOptions::default())
        .await
        .expect("a NATS writer")
}

async fn reader(url: &str) -> TableReader {
    let mut r = within(
        "a reader's schema",
        15,
        connect(url).await.reader(ReadOptions::default()),
    )
    .await
    .expect("a NATS reader");
    r.set_idle_timeout(Some(Duration::from_secs(20)));
    r
}

/// Tables `range` of the feed, written.
async fn write_tables(w: &mut TableWriter, range: std::ops::Range<usize>) {
    for i in range {
        within("a write", 30, w.write(&feed_table(i)))
            .await
            .unwrap_or_else(|e| panic!("writing table {i}: {e}"));
    }
}

/// The next `n` tables of `r`, each equal to the feed's, from table `first`.
async fn expect_tables(r: &mut TableReader, first: usize, n: usize) {
    for i in first..first + n {
        let t = within("a table", 20, r.next())
            .await
            .unwrap_or_else(|| panic!("the stream ended before table {i}"))
            .unwrap_or_else(|e| panic!("reading table {i}: {e}"));
        assert_eq!(table_index(&t), i, "tables arrive in order, none missing");
        assert_tables_equal(&t, &feed_table(i), &format!("table {i}"));
    }
}

/// The rest of `r`'s stream: a suffix of the feed's tables ending at table
/// `end - 1`, with no gap and no duplicate, starting no later than table
/// `join` (everything from `join` on was published after the reader joined;
/// what was published before may or may not have been stored when it
/// joined). Returns where it starts.
async fn expect_suffix(r: &mut TableReader, join: usize, end: usize) -> usize {
    let t = within("a table", 20, r.next())
        .await
        .expect("a table")
        .expect("the first table");
    let first = table_index(&t);
    assert!(
        first <= join,
        "the reader starts at its join point or before: {first}"
    );
    assert_tables_equal(&t, &feed_table(first), &format!("table {first}"));
    expect_tables(r, first + 1, end - first - 1).await;
    expect_end(r).await;
    first
}

/// The end of `r`'s stream.
async fn expect_end(r: &mut TableReader) {
    if let Some(t) = within("the end marker", 20, r.next()).await {
        panic!(
            "expected the end of the stream, got {:?}",
            t.map(|t| table_index(&t))
        );
    }
}

/// Waits until JetStream holds `messages` messages of `stream` (what the
/// writer sent is stored), so that a joiner's join point is known.
async fn wait_stored(server: &NatsServer, stream: &str, messages: u64) {
    let client = async_nats::connect(server.client_url())
        .await
        .expect("async-nats");
    let js = async_nats::jetstream::new(client);
    let mut s = js.get_stream(stream).await.expect("the feed's stream");
    within("messages stored", 20, async {
        loop {
            let info = s.info().await.expect("stream info");
            if info.state.messages >= messages {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[test]
fn core_round_trip_splits_large_messages_and_carries_dictionaries() {
    let dir = test_dir!("nats", "core_round_trip");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.core", "mode=core");
    run_bounded("core round trip", Duration::from_secs(60), async {
        // Core NATS keeps nothing: the reader subscribes (connects) first.
        let conn = connect(&url).await;
        let read = tokio::spawn(async move {
            let mut r = conn
                .reader(ReadOptions::default())
                .await
                .expect("a NATS reader");
            expect_tables(&mut r, 0, 10).await;
            expect_end(&mut r).await;
        });
        let mut w = writer(&url).await;
        write_tables(&mut w, 0..10).await;
        w.finish().await.expect("finish");
        within("the reader", 30, read).await.expect("reader task");
    });
}

#[test]
fn jetstream_late_joiner_gets_schema_dictionaries_then_exactly_the_suffix() {
    let dir = test_dir!("nats", "jetstream_joiner");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.js", "max_bytes=256M");
    run_bounded("JetStream joiner", Duration::from_secs(60), async {
        let mut w = writer(&url).await;
        // 6 tables: schema, the first dictionary, 5 deltas... and 6 batches.
        write_tables(&mut w, 0..6).await;
        let mut joiner = reader(&url).await;
        write_tables(&mut w, 6..12).await;
        w.finish().await.expect("finish");
        // Tables 0..6 were published before the join: the joiner gets the
        // schema and the dictionaries as they stood (first batch + deltas),
        // then the tables stored after its join point, which decode against
        // them: at least 6..12, in order, none twice.
        expect_suffix(&mut joiner, 6, 12).await;
        // A reader from the start of the stream's last schema, joining
        // after the end: the stream's schema and dictionaries, no batches.
        let mut late = reader(&url).await;
        expect_end(&mut late).await;
    });
}

/// The server refuses a duplicate window longer than `max_age` ("duplicates
/// window can not be larger then max age"): the writer cuts its default
/// 2-minute window to a shorter `max_age`.
#[test]
fn a_max_age_shorter_than_the_duplicate_window_still_creates_the_stream() {
    let dir = test_dir!("nats", "short_max_age");
    let server = NatsServer::start(&dir, NatsConfig::default());
    // Restating every 10 s: a 30 s stream holds two restate intervals.
    let url = server.url(
        "feeds.short",
        "max_bytes=256M&max_age=30s&restate_every=10s",
    );
    run_bounded("short max_age", Duration::from_secs(60), async {
        let mut w = writer(&url).await;
        write_tables(&mut w, 0..2).await;
        w.finish().await.expect("finish");
        let client = async_nats::connect(server.client_url())
            .await
            .expect("async-nats");
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("LS_feeds_short").await.expect("the stream");
        let config = stream.info().await.expect("stream info").config.clone();
        assert_eq!(config.max_age, Duration::from_secs(30));
        assert_eq!(config.duplicate_window, Duration::from_secs(30));
    });
}

#[test]
fn jetstream_reader_survives_a_server_restart_mid_feed_without_gap_or_duplicate() {
    let dir = test_dir!("nats", "jetstream_restart");
    let mut server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.restart", "max_bytes=256M");
    run_bounded("JetStream server restart", Duration::from_secs(90), async {
        let mut w = writer(&url).await;
        write_tables(&mut w, 0..1).await;
        // Schema, dictionary, one batch (in parts): all stored.
        wait_stored(&server, "LS_feeds_restart", 3).await;
        let mut r = reader(&url).await;
        write_tables(&mut w, 1..4).await;
        expect_tables(&mut r, 1, 3).await;
        // A crash (SIGKILL) and a restart on the same port and store.
        tokio::task::block_in_place(|| server.restart());
        write_tables(&mut w, 4..9).await;
        within("finish after the restart", 60, w.finish())
            .await
            .expect("finish: every message acknowledged");
        expect_tables(&mut r, 4, 5).await;
        expect_end(&mut r).await;
    });
}

/// The bookmark `name` of the feed's stream, once it holds at least `at_least`.
async fn wait_bookmark(server: &NatsServer, stream: &str, name: &str, at_least: u64) -> u64 {
    let client = async_nats::connect(server.client_url())
        .await
        .expect("async-nats");
    let js = async_nats::jetstream::new(client);
    let bookmarks = js.get_stream("LS_BOOKMARKS").await.expect("the bookmarks");
    let subject = format!("ls.bookmark.{stream}.{name}");
    within("the bookmark", 20, async {
        loop {
            if let Ok(m) = bookmarks
                .direct_get_last_for_subject(subject.as_str())
                .await
            {
                let seq: u64 = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
                if seq >= at_least {
                    return seq;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[test]
fn jetstream_reader_resumes_after_its_bookmark_without_gap_or_duplicate() {
    let dir = test_dir!("nats", "jetstream_resume");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.resume", "max_bytes=256M");
    let resumable = server.url("feeds.resume", "max_bytes=256M&resume=relay-1");
    run_bounded("JetStream resume", Duration::from_secs(60), async {
        let mut w = writer(&url).await;
        write_tables(&mut w, 0..1).await;
        wait_stored(&server, "LS_feeds_resume", 3).await;
        // No bookmark yet: the reader joins live (after table 0).
        let mut r = reader(&resumable).await;
        write_tables(&mut w, 1..6).await;
        expect_tables(&mut r, 1, 2).await;
        // It stops after table 2 (a relay killed); its bookmark is the
        // last message it handed on.
        drop(r);
        let stored_before = {
            let client = async_nats::connect(server.client_url())
                .await
                .expect("async-nats");
            let js = async_nats::jetstream::new(client);
            let mut s = js.get_stream("LS_feeds_resume").await.expect("stream");
            s.info().await.expect("info").state.last_sequence
        };
        let mark = wait_bookmark(&server, "LS_feeds_resume", "relay-1", 1).await;
        assert!(
            mark < stored_before,
            "the bookmark is inside the feed: {mark}"
        );
        write_tables(&mut w, 6..9).await;
        w.finish().await.expect("finish");
        // Resumed: schema and dictionaries again, then exactly table 3 on.
        let mut r = reader(&resumable).await;
        expect_tables(&mut r, 3, 6).await;
        expect_end(&mut r).await;
        drop(r);
        // Without `resume`, a reader joins live: nothing but the end.
        let mut live = reader(&url).await;
        expect_end(&mut live).await;
    });
}

#[test]
fn a_schema_change_is_the_next_stream_with_its_schema_first() {
    let dir = test_dir!("nats", "schema_change");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.change", "mode=core");
    run_bounded("schema change", Duration::from_secs(60), async {
        let conn = connect(&url).await;
        let mut w = writer(&url).await;
        write_tables(&mut w, 0..2).await;
        w.finish().await.expect("finish stream 1");
        // The publisher's next stream has another schema.
        let other = lightstream_tests::harness::int64_table(7, 10);
        let mut w2 = writer_of(&url, &ClientOptions::default(), &other).await;
        within("write", 20, w2.write(&other)).await.expect("write");
        w2.finish().await.expect("finish stream 2");

        let mut m = within(
            "a message reader",
            15,
            conn.message_reader(DecodeLimits::default()),
        )
        .await
        .expect("stream 1");
        let mut batches = 0;
        while let Some(msg) = within("a message", 15, m.next()).await {
            let msg = msg.expect("a message of stream 1");
            batches += usize::from(matches!(
                msg.kind(),
                lightstream::lightstream_core::MessageKind::RecordBatch { .. }
            ));
        }
        assert_eq!(batches, 2, "stream 1's batches");
        assert!(
            within("next stream", 15, m.next_stream())
                .await
                .expect("stream 2")
        );
        let schema = lightstream::lightstream_core::read_ipc(
            &[
                m.schema().bytes().as_ref(),
                &[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0],
            ]
            .concat(),
            ReadOptions::default(),
        )
        .expect("stream 2's schema")
        .schema;
        assert_eq!(schema.fields[0].name, "n", "the new schema comes first");
        let rest = within("stream 2", 15, m.read_all())
            .await
            .expect("stream 2");
        assert_eq!(rest.len(), 1, "stream 2's one batch");
    });
}

/// A writer that restates its schema and dictionaries every 250 KB (about
/// every 2 tables).
fn restating() -> ClientOptions {
    let mut nats = lightstream::nats::NatsOptions::default();
    nats.restate_bytes = 250_000;
    ClientOptions {
        nats,
        ..ClientOptions::default()
    }
}

#[test]
fn jetstream_joiner_starts_at_the_last_restate_point() {
    let dir = test_dir!("nats", "jetstream_restate");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.restate", "max_bytes=256M");
    run_bounded("JetStream restate", Duration::from_secs(60), async {
        let mut w = writer_with(&url, restating()).await;
        write_tables(&mut w, 0..10).await;
        // The stream's last schema message is a restate, well after the start.
        let client = async_nats::connect(server.client_url())
            .await
            .expect("async-nats");
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream("LS_feeds_restate").await.expect("stream");
        let last = within("a restate stored", 20, async {
            loop {
                if let Ok(m) = stream
                    .direct_get_last_for_subject("feeds.restate.schema")
                    .await
                    && m.headers.get("Ls-Restate").is_some()
                {
                    return m;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let n: u64 = last
            .headers
            .get("Ls-Restate")
            .unwrap()
            .as_str()
            .parse()
            .unwrap();
        assert!(
            n > 4 && last.sequence > 10,
            "a restate after message {n}, at {}",
            last.sequence
        );
        let mut joiner = reader(&url).await;
        write_tables(&mut w, 10..14).await;
        w.finish().await.expect("finish");
        // The restated schema and (merged) dictionaries, then the tables
        // stored after the join point: at least 10..14, in order, none twice.
        // (A reader that cannot start at a restate point never gets a schema.)
        expect_suffix(&mut joiner, 10, 14).await;
    });
}

#[test]
fn core_late_joiner_asks_for_a_restate_and_gets_exactly_the_suffix() {
    let dir = test_dir!("nats", "core_joiner");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.corejoin", "mode=core");
    run_bounded("core joiner", Duration::from_secs(60), async {
        // Nobody listens to tables 0..3 (core NATS keeps nothing).
        let mut w = writer(&url).await;
        write_tables(&mut w, 0..3).await;
        // The joiner asks (feeds.corejoin.join); the publisher restates the
        // schema and its dictionaries (with their deltas) for it.
        let mut joiner = reader(&url).await;
        write_tables(&mut w, 3..7).await;
        w.finish().await.expect("finish");
        expect_tables(&mut joiner, 3, 4).await;
        expect_end(&mut joiner).await;
    });
}

#[test]
fn pyarrow_reads_what_a_late_subscriber_hands_on() {
    let dir = test_dir!("nats", "pyarrow");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.py", "max_bytes=256M");
    let out = dir.join("joined.arrows");
    run_bounded(
        "pyarrow reads a joiner's stream",
        Duration::from_secs(60),
        async {
            let mut w = writer(&url).await;
            write_tables(&mut w, 0..5).await;
            wait_stored(&server, "LS_feeds_py", 8).await;
            // A relay's path: whole messages, never decoded, written out.
            let mut messages = within(
                "a message reader",
                15,
                connect(&url).await.message_reader(DecodeLimits::default()),
            )
            .await
            .expect("a NATS message reader");
            write_tables(&mut w, 5..9).await;
            w.finish().await.expect("finish");
            let file = tokio::fs::File::create(&out).await.expect("output file");
            let mut copy = MessageWriter::from_async_write(file, "file");
            copy.send(messages.schema()).await.expect("schema");
            while let Some(m) = within("a message", 20, messages.next()).await {
                copy.send(&m.expect("a message")).await.expect("copy");
            }
            copy.finish().await.expect("finish the copy");
        },
    );
    let summary = lightstream_tests::harness::python_script(
        &dir,
        "stream_summary.py",
        &[out.to_str().expect("a UTF-8 path")],
    );
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("JSON");
    let batches = summary["batches"].as_array().expect("batches");
    let first = batches
        .first()
        .and_then(|b| b["first"]["seq"].as_u64())
        .expect("a first batch") as usize
        / ROWS;
    assert!(
        first <= 5,
        "the joiner's stream starts at its join point, not later: {first}"
    );
    assert_eq!(batches.len(), 9 - first, "exactly the suffix: {summary}");
    for (b, i) in batches.iter().zip(first..) {
        let t = feed_table(i);
        let city = |row: usize| match &t.cols[1].array {
            Array::TextArray(lightstream::minarrow::TextArray::Categorical32(c)) => {
                c.unique_values[c.data[row] as usize].clone()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(b["rows"], ROWS, "batch of table {i}");
        assert_eq!(b["first"]["seq"], (i * ROWS) as u64);
        assert_eq!(b["last"]["seq"], (i * ROWS + ROWS - 1) as u64);
        assert_eq!(
            b["first"]["city"],
            city(0),
            "table {i}: pyarrow decodes the dictionary"
        );
        assert_eq!(b["last"]["city"], city(ROWS - 1), "table {i}");
    }
}

// ----------------------------------------------------- hostile messages --

/// A message a foreign client publishes: the subject's last token, the
/// headers, the payload.
type Published = (&'static str, Vec<(&'static str, String)>, Vec<u8>);

/// What a reader of a core feed says when a foreign client publishes
/// `messages` (subject suffix, headers, payload) on the feed's subjects.
fn hostile(name: &str, messages: Vec<Published>) -> Error {
    let dir = test_dir!("nats", name);
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.hostile", "mode=core");
    let mut got = None;
    run_bounded(name, Duration::from_secs(30), async {
        let conn = connect(&url).await;
        let client = async_nats::connect(server.client_url())
            .await
            .expect("async-nats");
        for (suffix, headers, payload) in messages {
            let mut map = async_nats::HeaderMap::new();
            for (k, v) in headers {
                map.insert(k, v.as_str());
            }
            client
                .publish_with_headers(format!("feeds.hostile.{suffix}"), map, payload.into())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
        let result = within(
            "the reader's verdict",
            15,
            conn.reader(ReadOptions::default()),
        )
        .await;
        got = match result {
            Ok(_) => panic!("{name}: a hostile feed is refused"),
            Err(e) => Some(e),
        };
    });
    got.expect("an error")
}

/// Our headers for message `seq` of stream 1, and `extra`.
fn ours(seq: u64, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("Ls-Stream", "0000000000000001".to_string()),
        ("Ls-Seq", seq.to_string()),
    ];
    h.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    h
}

/// A real schema message of the feed.
fn schema_message() -> Vec<u8> {
    let bytes =
        lightstream::write_stream(&schema(), &[], &WriteOptions::default()).expect("a stream");
    // The stream is the schema message, then the end marker.
    bytes[..bytes.len() - 8].to_vec()
}

#[test]
fn hostile_messages_give_typed_errors() {
    // Garbage without our headers is skipped; then our headers on bytes
    // that are not Arrow IPC: the codec's error.
    let e = hostile(
        "hostile_garbage",
        vec![
            ("msg", vec![], b"hello, not arrow".to_vec()),
            ("schema", vec![("X-Other", "1".into())], vec![0xFF; 100]),
            ("schema", ours(0, &[]), b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        ],
    );
    assert_eq!(e.codec_kind(), Some(ErrorKind::Malformed), "{e}");

    // A schema cut short.
    let schema = schema_message();
    let e = hostile(
        "hostile_truncated",
        vec![("schema", ours(0, &[]), schema[..schema.len() / 2].to_vec())],
    );
    // The reader's one-message rule, as on a WebSocket.
    assert!(matches!(e, Error::Protocol(_)), "{e}");
    assert!(
        e.to_string().contains("ended inside an Arrow IPC message"),
        "{e}"
    );

    // A part that declares 10 GiB: over the reader's limit, refused before
    // anything is reserved.
    let e = hostile(
        "hostile_oversized",
        vec![(
            "schema",
            ours(0, &[("Ls-Part", "1/2"), ("Ls-Size", "10737418240")]),
            vec![0; 100],
        )],
    );
    assert!(matches!(e, Error::Framing { .. }), "{e}");
    assert_eq!(e.codec_kind(), Some(ErrorKind::LimitExceeded), "{e}");
    assert!(e.to_string().contains("10737418240"), "{e}");

    // Parts out of order.
    let size = schema.len().to_string();
    let half = schema.len() / 2;
    let e = hostile(
        "hostile_parts_order",
        vec![
            (
                "schema",
                ours(0, &[("Ls-Part", "2/2"), ("Ls-Size", &size)]),
                schema[half..].to_vec(),
            ),
            (
                "schema",
                ours(0, &[("Ls-Part", "1/2"), ("Ls-Size", &size)]),
                schema[..half].to_vec(),
            ),
        ],
    );
    assert_eq!(e.codec_kind(), Some(ErrorKind::Malformed), "{e}");
    assert!(e.to_string().contains("without its first part"), "{e}");

    // A header in a form no publisher writes.
    let e = hostile(
        "hostile_header",
        vec![(
            "schema",
            ours(0, &[("Ls-Part", "x/y"), ("Ls-Size", "8")]),
            vec![0; 8],
        )],
    );
    assert!(matches!(e, Error::Framing { .. }), "{e}");
    assert!(e.to_string().contains("Ls-Part"), "{e}");
}

#[test]
fn a_stream_cut_by_another_is_a_publisher_restart() {
    let dir = test_dir!("nats", "hostile_restart");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.cut", "mode=core");
    let schema = schema_message();
    run_bounded("publisher restart", Duration::from_secs(30), async {
        let conn = connect(&url).await;
        let client = async_nats::connect(server.client_url())
            .await
            .expect("async-nats");
        for stream in ["0000000000000001", "0000000000000002"] {
            let mut map = async_nats::HeaderMap::new();
            map.insert("Ls-Stream", stream);
            map.insert("Ls-Seq", "0");
            client
                .publish_with_headers("feeds.cut.schema", map, schema.clone().into())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
        // The reader has its schema from stream 1; stream 2 cuts it.
        let mut r = within("a reader", 15, conn.reader(ReadOptions::default()))
            .await
            .expect("stream 1's schema");
        let e = within("the cut", 15, r.next())
            .await
            .expect("an item")
            .expect_err("a cut stream is an error");
        assert!(
            matches!(
                e,
                Error::Nats {
                    problem: NatsProblem::PublisherRestarted,
                    ..
                }
            ),
            "{e}"
        );
    });
}

#[test]
fn a_gap_in_the_message_numbers_is_a_typed_error() {
    let dir = test_dir!("nats", "gap");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.gap", "mode=core");
    let schema = schema_message();
    run_bounded("gap", Duration::from_secs(30), async {
        let conn = connect(&url).await;
        let client = async_nats::connect(server.client_url())
            .await
            .expect("async-nats");
        // Message 0 (the schema), then message 2: message 1 was lost.
        for (seq, subject, payload) in [(0, "schema", schema.clone()), (2, "msg", vec![0; 8])] {
            let mut map = async_nats::HeaderMap::new();
            for (k, v) in ours(seq, &[]) {
                map.insert(k, v.as_str());
            }
            client
                .publish_with_headers(format!("feeds.gap.{subject}"), map, payload.into())
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
        let mut r = within("a reader", 15, conn.reader(ReadOptions::default()))
            .await
            .expect("the schema");
        let e = within("the gap", 15, r.next())
            .await
            .expect("an item")
            .expect_err("a gap is an error");
        assert!(
            matches!(
                e,
                Error::Nats {
                    problem: NatsProblem::Gap {
                        expected: 1,
                        got: 2
                    },
                    ..
                }
            ),
            "{e}"
        );
    });
}

#[test]
fn jetstream_mode_on_a_server_without_jetstream_says_so() {
    let dir = test_dir!("nats", "no_jetstream");
    let server = NatsServer::start(
        &dir,
        NatsConfig {
            jetstream: false,
            max_payload: None,
        },
    );
    let url = server.url("feeds.nojs", "");
    run_bounded("no JetStream", Duration::from_secs(30), async {
        let err = connect(&url)
            .await
            .writer(schema(), write_options())
            .await
            .expect_err("no JetStream");
        assert!(
            matches!(
                err,
                Error::Nats {
                    problem: NatsProblem::NoJetStream,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("?mode=core"), "{err}");
    });
}

#[test]
fn nats_urls_have_no_listener_and_a_missing_server_is_named() {
    run_bounded("no listener", Duration::from_secs(20), async {
        let e: Endpoint = "nats://127.0.0.1:1/feeds.x".parse().unwrap();
        let err = lightstream::bind(&e, &Default::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(err.to_string().contains("NATS has no listener"), "{err}");
        let err = lightstream::connect(&e, &ClientOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Nats {
                    problem: NatsProblem::Connect { .. },
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("nats://127.0.0.1:1/feeds.x: cannot connect"),
            "{err}"
        );
    });
}

// ------------------------------------------- joining, limits, counters --

/// Client options whose readers wait `join` to join (`None`: for ever).
fn joining(join: Option<Duration>) -> ClientOptions {
    let mut nats = lightstream::nats::NatsOptions::default();
    nats.join_timeout = join;
    ClientOptions {
        nats,
        ..ClientOptions::default()
    }
}

/// A reader of `url` with `options`, as `conn.reader()` returns it.
async fn try_reader(url: &str, options: &ClientOptions) -> lightstream::Result<TableReader> {
    let endpoint: Endpoint = url.parse().expect("a nats:// URL");
    let conn = within("connect", 15, lightstream::connect(&endpoint, options))
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    within("a reader's join", 15, conn.reader(ReadOptions::default())).await
}

fn is_join_timeout(r: &lightstream::Result<TableReader>) -> bool {
    matches!(
        r,
        Err(Error::Nats {
            problem: NatsProblem::JoinTimeout,
            ..
        })
    )
}

/// One rule in both modes: a reader with no stream start gives up after
/// `join_timeout`; with `None` it waits for the publisher (a relay started
/// first). JetStream: the stream exists (a writer made it) but holds nothing
/// yet; before the fix such a reader waited for ever.
#[test]
fn jetstream_reader_of_an_empty_stream_gives_up_or_waits_as_configured() {
    let dir = test_dir!("nats", "join_empty_js");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.empty", "max_bytes=256M");
    run_bounded("JetStream join rule", Duration::from_secs(60), async {
        // The writer creates the stream; it writes nothing yet.
        let mut w = writer(&url).await;
        let r = try_reader(&url, &joining(Some(Duration::from_secs(1)))).await;
        assert!(is_join_timeout(&r), "{:?}", r.err());
        // Waiting for ever: the reader joins before the publisher starts,
        // and gets the stream from its schema on, well past 1 s.
        let before = server.consumers("LS_feeds_empty");
        let read = tokio::spawn({
            let url = url.clone();
            async move {
                let mut r = try_reader(&url, &joining(None)).await.expect("a reader");
                r.set_idle_timeout(Some(Duration::from_secs(20)));
                expect_tables(&mut r, 0, 2).await;
                expect_end(&mut r).await;
            }
        });
        server.wait_for_new_consumer("LS_feeds_empty", &before);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        write_tables(&mut w, 0..2).await;
        w.finish().await.expect("finish");
        within("the waiting reader", 20, read)
            .await
            .expect("reader task");
    });
}

/// A JetStream reader started before the feed's stream exists gets the
/// whole feed, however quickly it is published. Before the fix it waited for
/// the stream, then joined at its last sequence: a short feed published in the
/// meantime counted as history and only its schema and end arrived (found by
/// the NATS fan-out bench with a relay started before `serve`).
#[test]
fn jetstream_reader_started_before_the_stream_exists_gets_the_whole_feed() {
    let dir = test_dir!("nats", "before_stream");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.before", "max_bytes=256M");
    run_bounded("early reader", Duration::from_secs(60), async {
        let read = tokio::spawn({
            let url = url.clone();
            async move {
                let mut r = try_reader(&url, &joining(None)).await.expect("a reader");
                r.set_idle_timeout(Some(Duration::from_secs(20)));
                expect_tables(&mut r, 0, 4).await;
                expect_end(&mut r).await;
            }
        });
        // The reader is polling for a stream that does not exist yet.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut w = writer(&url).await;
        write_tables(&mut w, 0..4).await;
        w.finish().await.expect("finish");
        within("the early reader", 20, read)
            .await
            .expect("reader task");
    });
}

#[test]
fn core_reader_with_no_publisher_gives_up_or_waits_as_configured() {
    let dir = test_dir!("nats", "join_empty_core");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.nopub", "mode=core");
    run_bounded("core join rule", Duration::from_secs(60), async {
        let r = try_reader(&url, &joining(Some(Duration::from_secs(1)))).await;
        assert!(is_join_timeout(&r), "{:?}", r.err());
        // A core reader is subscribed once `connect` returns.
        let endpoint: Endpoint = url.parse().expect("a nats:// URL");
        let conn = within(
            "connect",
            15,
            lightstream::connect(&endpoint, &joining(None)),
        )
        .await
        .expect("connect");
        let read = tokio::spawn(async move {
            let mut r = conn.reader(ReadOptions::default()).await.expect("a reader");
            r.set_idle_timeout(Some(Duration::from_secs(20)));
            expect_tables(&mut r, 0, 2).await;
            expect_end(&mut r).await;
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut w = writer(&url).await;
        write_tables(&mut w, 0..2).await;
        w.finish().await.expect("finish");
        within("the waiting reader", 20, read)
            .await
            .expect("reader task");
    });
}

/// The error of a writer on `url` with `options`.
async fn writer_error(url: &str, options: &ClientOptions) -> Error {
    let endpoint: Endpoint = url.parse().expect("a nats:// URL");
    let conn = within("connect", 15, lightstream::connect(&endpoint, options))
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    match conn.writer(schema(), write_options()).await {
        Ok(_) => panic!("{url}: a writer on a stream too small"),
        Err(e) => e,
    }
}

/// A joiner's restate point must still be in the stream: a writer refuses
/// a stream that keeps less than two restate intervals, before creating
/// it, and when it finds one.
#[test]
fn a_writer_refuses_a_stream_too_small_for_two_restate_intervals() {
    use lightstream::StreamLimit;
    let dir = test_dir!("nats", "too_small");
    let server = NatsServer::start(&dir, NatsConfig::default());
    run_bounded("stream too small", Duration::from_secs(60), async {
        let defaults = ClientOptions::default();
        // 1 MiB cannot hold two intervals of 64 MiB (the default).
        let err = writer_error(&server.url("feeds.tiny", "max_bytes=1M"), &defaults).await;
        let Error::Nats {
            problem: NatsProblem::StreamTooSmall { stream, limit },
            ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(stream, "LS_feeds_tiny");
        assert_eq!(
            *limit,
            StreamLimit::Bytes {
                max_bytes: 1 << 20,
                restate_bytes: 64 << 20
            }
        );
        assert!(err.to_string().contains("max_bytes 1048576"), "{err}");
        // 45 s cannot hold two intervals of 30 s.
        let err = writer_error(&server.url("feeds.young", "max_age=45s"), &defaults).await;
        assert!(
            matches!(
                &err,
                Error::Nats {
                    problem: NatsProblem::StreamTooSmall {
                        limit: StreamLimit::Age { max_age, restate_every },
                        ..
                    },
                    ..
                } if *max_age == Duration::from_secs(45) && *restate_every == Duration::from_secs(30)
            ),
            "{err}"
        );
        // Neither was created.
        let client = async_nats::connect(server.client_url())
            .await
            .expect("async-nats");
        let js = async_nats::jetstream::new(client);
        assert!(js.get_stream("LS_feeds_tiny").await.is_err());
        assert!(js.get_stream("LS_feeds_young").await.is_err());
        // An existing stream of 1 MiB: refused when bound to
        // (create_stream false), and when found by a writer that may create.
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "LS_feeds_bound".to_string(),
            subjects: vec![
                "feeds.bound.schema".to_string(),
                "feeds.bound.msg".to_string(),
            ],
            max_bytes: 1 << 20,
            allow_direct: true,
            ..Default::default()
        })
        .await
        .expect("a small stream");
        let mut bind = ClientOptions::default();
        bind.nats.create_stream = false;
        for options in [&bind, &defaults] {
            let err = writer_error(&server.url("feeds.bound", ""), options).await;
            assert!(
                matches!(
                    &err,
                    Error::Nats {
                        problem: NatsProblem::StreamTooSmall {
                            limit: StreamLimit::Bytes {
                                max_bytes: 1048576,
                                ..
                            },
                            ..
                        },
                        ..
                    }
                ),
                "{err}"
            );
        }
        // Restating more often makes the same stream usable.
        let mut often = bind.clone();
        often.nats.restate_bytes = 256 << 10;
        let endpoint: Endpoint = server.url("feeds.bound", "").parse().unwrap();
        let conn = lightstream::connect(&endpoint, &often)
            .await
            .expect("connect");
        conn.writer(schema(), write_options())
            .await
            .expect("a writer restating every 256 KiB fits 1 MiB");
    });
}

/// Table of `rows` int64 values (8 bytes each, no dictionary).
fn ints(rows: usize) -> Table {
    lightstream_tests::harness::int64_table(0, rows)
}

/// The counters after a known feed, on both sides: one record batch of
/// about 144 KB crosses the 64 KiB `max_payload` in 3 parts, and a foreign
/// message on the subject is skipped by the reader.
#[test]
fn nats_stats_count_a_known_feed_exactly() {
    use lightstream::nats::NatsStats;
    let dir = test_dir!("nats", "stats");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.stats", "max_bytes=256M");
    run_bounded("NATS stats", Duration::from_secs(60), async {
        let table = ints(18_000);
        let endpoint: Endpoint = url.parse().unwrap();
        let conn = connect(&url).await;
        let written = conn.nats_counters().expect("a NATS connection's counters");
        let mut w = conn
            .writer(
                Arc::new(Schema::from_table(&table)),
                WriteOptions::default(),
            )
            .await
            .expect("a writer");
        // The reader joins the empty stream, before anything is published.
        let before = server.consumers("LS_feeds_stats");
        let reading = lightstream::connect(&endpoint, &ClientOptions::default())
            .await
            .expect("connect");
        let read = reading.nats_counters().expect("counters");
        let tables = tokio::spawn(async move {
            let r = reading.reader(ReadOptions::default()).await?;
            r.read_all().await
        });
        server.wait_for_new_consumer("LS_feeds_stats", &before);
        // A stranger's message on the feed's subject.
        let client = async_nats::connect(server.client_url())
            .await
            .expect("async-nats");
        let js = async_nats::jetstream::new(client);
        js.publish("feeds.stats.msg", "hello".into())
            .await
            .expect("publish")
            .await
            .expect("stored");
        within("a write", 30, w.write(&table)).await.expect("write");
        let bytes = within("finish", 30, w.finish()).await.expect("finish");
        let tables = within("the reader", 30, tables)
            .await
            .expect("reader task")
            .expect("the tables");
        assert_eq!(tables.len(), 1);
        assert_eq!(tables[0].n_rows, 18_000);
        // Schema, record batch (in 3 parts), end marker.
        assert_eq!(
            written.stats(),
            NatsStats {
                messages: 3,
                bytes,
                split: 1,
                parts: 3,
                ..NatsStats::default()
            }
        );
        assert_eq!(
            read.stats(),
            NatsStats {
                messages: 3,
                bytes,
                foreign_skipped: 1,
                ..NatsStats::default()
            }
        );
    });
}

/// A JetStream reader that stops reading holds a bounded window of the
/// stream, not all of it: the ordered consumer pulls about 32 MiB of
/// `max_payload`-sized messages at a time (here 16 MiB: 2 messages), where
/// async-nats' default pull of 500 messages had the server send a stream of
/// 24 MB messages all at once (12 GB in flight at most). That flood was the
/// 24 MB JetStream stall of benches/nats.rs: a message still queued behind
/// hundreds of MB looked like a lost consumer after 2 s, and each recreated
/// consumer sent everything again on the same connection.
#[test]
fn a_paused_jetstream_reader_holds_a_bounded_window() {
    const TABLES: usize = 40;
    const ROWS: usize = 131_072; // 1 MiB of int64 a table
    let dir = test_dir!("nats", "window");
    let server = NatsServer::start(
        &dir,
        NatsConfig {
            jetstream: true,
            max_payload: Some(16 << 20),
        },
    );
    let url = server.url("feeds.window", "max_bytes=256M");
    run_bounded("a paused reader", Duration::from_secs(60), async {
        let table = |i| lightstream_tests::harness::int64_table(i, ROWS);
        let mut w = writer_of(&url, &ClientOptions::default(), &table(0)).await;
        // The reader joins the empty stream, reads one table, and pauses.
        let before = server.consumers("LS_feeds_window");
        let reading = tokio::spawn({
            let url = url.clone();
            async move {
                let mut r = reader(&url).await;
                let first = r.next().await;
                (r, first)
            }
        });
        server.wait_for_new_consumer("LS_feeds_window", &before);
        for i in 0..TABLES {
            within("a write", 30, w.write(&table(i)))
                .await
                .expect("write");
        }
        within("finish", 30, w.finish()).await.expect("finish");
        // Schema, the tables, the end marker: all stored.
        let stored = server.stream_messages("LS_feeds_window");
        assert_eq!(stored, TABLES as u64 + 2);
        let (mut r, first) = within("the first table", 20, reading)
            .await
            .expect("the reader's task");
        let first = first.expect("a table").expect("table 0");
        assert_tables_equal(&first, &table(0), "table 0");
        // Paused: what the server sent settles at the reader's window
        // (schema, the table read, 8 whole messages in the reader's channel
        // and one waiting for room, then at most 1.5 pulls of 2).
        let mut delivered = server.delivered("LS_feeds_window");
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = server.delivered("LS_feeds_window");
            if now == delivered && now > 0 {
                break;
            }
            delivered = now;
        }
        assert!(
            (2..=16).contains(&delivered),
            "a paused reader was sent {delivered} of {stored} messages"
        );
        for i in 1..TABLES {
            let t = within("a table", 20, r.next())
                .await
                .unwrap_or_else(|| panic!("the stream ended before table {i}"))
                .unwrap_or_else(|e| panic!("reading table {i}: {e}"));
            assert_tables_equal(&t, &table(i), &format!("table {i}"));
        }
        expect_end(&mut r).await;
    });
}

/// A JetStream writer whose server does not acknowledge stops at
/// `max_unacked_bytes` of publishes in flight (it holds them to send again),
/// well before `max_unacked` (64) of them, and goes on when the server does.
#[test]
fn a_jetstream_writer_holds_at_most_max_unacked_bytes_in_flight() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const TABLES: usize = 30;
    let dir = test_dir!("nats", "unacked");
    let server = NatsServer::start(&dir, NatsConfig::default());
    let url = server.url("feeds.unacked", "max_bytes=256M");
    run_bounded("a paused server", Duration::from_secs(60), async {
        // 100 KB a table: 2 parts of the 64 KiB max_payload.
        let table = Arc::new(ints(12_500));
        let mut nats = lightstream::nats::NatsOptions::default();
        nats.max_unacked_bytes = 256 << 10;
        let options = ClientOptions {
            nats,
            ..ClientOptions::default()
        };
        let mut w = writer_of(&url, &options, &table).await;
        // The schema's acknowledgement is awaited: before the pause.
        within("a write", 30, w.write(&table)).await.expect("write");
        server.pause(true);
        let written = Arc::new(AtomicUsize::new(0));
        let writing = tokio::spawn({
            let (table, written) = (table.clone(), written.clone());
            async move {
                for _ in 0..TABLES {
                    w.write(&table).await?;
                    written.fetch_add(1, Ordering::SeqCst);
                }
                w.finish().await
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        let while_paused = written.load(Ordering::SeqCst);
        server.pause(false);
        // 256 KiB is 5 parts of ~50 KB: the writer waits inside table 3.
        assert!(
            while_paused <= 3,
            "{while_paused} tables of 100 KB written with no acknowledgement"
        );
        within("the writer", 30, writing)
            .await
            .expect("the writer's task")
            .expect("the writer finishes once the server acknowledges");
        // Schema, 1 + TABLES tables in 2 parts each, the end marker.
        assert_eq!(
            server.stream_messages("LS_feeds_unacked"),
            2 + 2 * (1 + TABLES as u64)
        );
    });
}
