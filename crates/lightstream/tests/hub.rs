//! The hub: late joiners, replay windows, the three slow-subscriber policies,
//! schema changes and metrics, read back with our own reader over pipes, TCP
//! and WebSocket. pyarrow as every subscriber is in the CLI's tests.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lightstream::hub::{Hub, HubOptions, SchemaChange, SlowPolicy, SubscribeOptions};
use lightstream::minarrow::Table;
use lightstream::{
    ClientOptions, Connection, Error, FeedProblem, ReadOptions, Schema, ServerOptions, TableReader,
    WriteOptions,
};
use lightstream_tests::harness::{int64_table, within};
use lightstream_tests::interop::{DICT_CHANGES, dictionary_tables};
use tokio::io::{AsyncReadExt, DuplexStream};
use tokio::task::JoinHandle;

type Subscription = JoinHandle<lightstream::Result<lightstream::hub::SubscriberStats>>;

/// A subscriber on an in-memory pipe of `buffer` bytes: the hub's task and
/// the client's end.
fn pipe(hub: &Hub, options: SubscribeOptions, buffer: usize) -> (Subscription, DuplexStream) {
    let (server, client) = tokio::io::duplex(buffer);
    let (read, write) = tokio::io::split(server);
    let conn = Connection::from_io(read, write, "pipe");
    (tokio::spawn(hub.clone().subscribe(conn, options)), client)
}

async fn read_all(client: DuplexStream) -> lightstream::Result<Vec<Table>> {
    TableReader::from_async_read(client, "pipe", ReadOptions::default())
        .await?
        .read_all()
        .await
}

/// A subscriber on a pipe, once it is the hub's `n`th, reading every table.
async fn joined_reader(hub: &Hub, n: usize) -> JoinHandle<lightstream::Result<Vec<Table>>> {
    let (_, client) = pipe(hub, SubscribeOptions::default(), 1 << 20);
    hub.wait_for_subscribers(n).await;
    tokio::spawn(read_all(client))
}

fn dict_feed() -> (Arc<Schema>, Vec<Table>) {
    let (schema, tables) = dictionary_tables(&DICT_CHANGES);
    (Arc::new(schema), tables)
}

fn cols(tables: &[Table]) -> Vec<Vec<lightstream::minarrow::FieldArray>> {
    tables.iter().map(|t| t.cols.clone()).collect()
}

#[tokio::test]
async fn late_joiners_get_schema_dictionaries_and_the_rest_of_the_feed() {
    within("late joiners", 20, async {
        let (schema, tables) = dict_feed();
        let hub = Hub::new(HubOptions::default());
        let mut p = hub.publisher(schema, WriteOptions::default()).unwrap();
        // One subscriber joins before each table (and one after the last):
        // replacements and deltas of both dictionaries happen in between.
        let mut readers = Vec::new();
        for (k, t) in tables.iter().enumerate() {
            let (sub, client) = pipe(&hub, SubscribeOptions::default(), 1 << 20);
            hub.wait_for_subscribers(k + 1).await;
            readers.push((k, sub, tokio::spawn(read_all(client))));
            p.write(t).await.unwrap();
        }
        let (late, client) = pipe(&hub, SubscribeOptions::default(), 1 << 20);
        hub.wait_for_subscribers(tables.len() + 1).await;
        readers.push((tables.len(), late, tokio::spawn(read_all(client))));
        assert_eq!(hub.stats().tables, tables.len() as u64);
        p.finish().await.unwrap();
        for (k, sub, reader) in readers {
            let got = reader.await.unwrap().unwrap();
            assert_eq!(cols(&got), cols(&tables[k..]), "joined before table {k}");
            let stats = sub.await.unwrap().unwrap();
            assert_eq!(stats.tables_sent, (tables.len() - k) as u64);
            assert_eq!(stats.tables_dropped, 0);
        }
        hub.wait_until_empty().await;
        let stats = hub.stats();
        assert_eq!(
            (stats.subscribers, stats.joined),
            (0, tables.len() as u64 + 1)
        );
    })
    .await;
}

#[tokio::test]
async fn a_replay_window_gives_recent_tables_with_the_dictionaries_they_used() {
    within("replay", 20, async {
        let (schema, tables) = dict_feed();
        let hub = Hub::new(HubOptions {
            replay_tables: 2,
            ..HubOptions::default()
        });
        let mut p = hub.publisher(schema, WriteOptions::default()).unwrap();
        let mut readers = Vec::new();
        for (k, t) in tables.iter().enumerate() {
            let (_, client) = pipe(&hub, SubscribeOptions::default(), 1 << 20);
            hub.wait_for_subscribers(k + 1).await;
            readers.push((k, tokio::spawn(read_all(client))));
            p.write(t).await.unwrap();
        }
        p.finish().await.unwrap();
        for (k, reader) in readers {
            // Joined before table k: the two before it, then k onwards.
            let got = reader.await.unwrap().unwrap();
            assert_eq!(
                cols(&got),
                cols(&tables[k.saturating_sub(2)..]),
                "joined at {k}"
            );
        }
        // After the end: the window and the end marker.
        let (_, client) = pipe(&hub, SubscribeOptions::default(), 1 << 20);
        let got = read_all(client).await.unwrap();
        assert_eq!(cols(&got), cols(&tables[tables.len() - 2..]));
    })
    .await;
}

/// Publishes `n` tables of the dictionary feed, cycling through its steps
/// (so deltas and replacements keep coming), then ends the feed.
async fn publish_cycle(hub: &Hub, n: usize) {
    let (schema, tables) = dict_feed();
    let mut p = hub.publisher(schema, WriteOptions::default()).unwrap();
    for i in 0..n {
        p.write(&tables[i % tables.len()]).await.unwrap();
    }
    p.finish().await.unwrap();
}

#[tokio::test]
async fn disconnect_ends_a_subscriber_that_stops_reading_and_no_one_else() {
    within("disconnect", 30, async {
        let hub = Hub::new(HubOptions::default());
        let slow = SubscribeOptions {
            max_lag: 4096,
            ..SubscribeOptions::default()
        };
        let (stuck, _never_read) = pipe(&hub, slow, 1024);
        let (healthy, client) = pipe(&hub, SubscribeOptions::default(), 1 << 16);
        let reader = tokio::spawn(read_all(client));
        hub.wait_for_subscribers(2).await;
        publish_cycle(&hub, 200).await;
        let got = reader.await.unwrap().unwrap();
        assert_eq!(got.len(), 200);
        assert_eq!(healthy.await.unwrap().unwrap().tables_sent, 200);
        match stuck.await.unwrap() {
            Err(Error::Lagged {
                peer,
                queued,
                max_lag,
            }) => {
                assert_eq!((peer.as_str(), max_lag), ("pipe", 4096));
                // Past the limit with the message that did not fit, by at most one table.
                assert!(queued > 4096 && queued < 4096 + 2048, "{queued}");
            }
            other => panic!("expected Lagged, got {other:?}"),
        }
        assert_eq!(hub.stats().lagged, 1);
    })
    .await;
}

#[tokio::test]
async fn disconnect_over_tcp_gives_whole_tables_then_a_truncated_stream() {
    within("disconnect tcp", 30, async {
        let hub = Hub::new(HubOptions::default());
        let url = "tcp://127.0.0.1:0".parse().unwrap();
        let listener = lightstream::bind(&url, &ServerOptions::default())
            .await
            .unwrap();
        let at = listener.local_url().clone();
        let server_hub = hub.clone();
        let server = tokio::spawn(async move {
            let conn = listener.accept().await.unwrap();
            let options = SubscribeOptions {
                max_lag: 64 << 10,
                ..SubscribeOptions::default()
            };
            server_hub.subscribe(conn, options).await
        });
        let conn = lightstream::connect(&at, &ClientOptions::default())
            .await
            .unwrap();
        hub.wait_for_subscribers(1).await;
        // Publish while the client reads nothing, until the hub gives up on it.
        let (schema, tables) = dict_feed();
        let mut p = hub.publisher(schema, WriteOptions::default()).unwrap();
        let mut i = 0;
        while hub.stats().lagged == 0 {
            p.write(&tables[i % tables.len()]).await.unwrap();
            i += 1;
            assert!(i < 1_000_000, "never lagged");
            // A live feed has gaps between tables; in them the subscriber's
            // task sends what the socket takes.
            tokio::task::yield_now().await;
        }
        assert!(matches!(server.await.unwrap(), Err(Error::Lagged { .. })));
        // What the client can still read is whole tables, then a typed
        // error: the stream stops where the hub gave up (between messages,
        // or inside the one a full socket held when the peer took nothing
        // for the grace period), never with the end marker.
        let mut r = conn.reader(ReadOptions::default()).await.unwrap();
        let mut n = 0;
        let err = loop {
            match r.next().await {
                Some(Ok(_)) => n += 1,
                None => panic!("a lagged stream must not end with the end marker"),
                Some(Err(e)) => break e,
            }
        };
        assert!(n > 0);
        assert_eq!(
            err.codec_kind(),
            Some(lightstream::lightstream_core::ErrorKind::Truncated),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn skip_drops_whole_tables_and_resends_dictionaries_so_the_stream_stays_valid() {
    within("skip", 30, async {
        let (_, tables) = dict_feed();
        let hub = Hub::new(HubOptions::default());
        let slow = SubscribeOptions {
            policy: SlowPolicy::Skip,
            max_lag: 2048,
            ..SubscribeOptions::default()
        };
        let (sub, mut client) = pipe(&hub, slow, 512);
        hub.wait_for_subscribers(1).await;
        let n = 300;
        // Read nothing while the feed runs, then everything that is left.
        let publisher = {
            let hub = hub.clone();
            tokio::spawn(async move { publish_cycle(&hub, n).await })
        };
        publisher.await.unwrap();
        let mut bytes = Vec::new();
        client.read_to_end(&mut bytes).await.unwrap();
        let got = lightstream::read_ipc(&bytes, ReadOptions::default())
            .unwrap()
            .tables;
        let stats = sub.await.unwrap().unwrap();
        assert!(stats.tables_dropped > 0, "{stats:?}");
        assert!(stats.resyncs > 0, "{stats:?}");
        assert_eq!(got.len() as u64 + stats.tables_dropped, n as u64);
        assert_eq!(stats.tables_sent, got.len() as u64);
        // Every table that arrived decodes to one that was published: the
        // dictionaries it uses were re-sent after the tables that carried
        // them were dropped.
        let published = cols(&tables);
        for (i, t) in got.iter().enumerate() {
            assert!(
                published.contains(&t.cols),
                "table {i} is not one that was published"
            );
        }
        // The last table always arrives.
        assert_eq!(
            got.last().unwrap().cols,
            tables[(n - 1) % tables.len()].cols
        );
    })
    .await;
}

#[tokio::test]
async fn block_makes_the_publisher_wait_and_loses_nothing() {
    within("block", 30, async {
        let hub = Hub::new(HubOptions::default());
        let slow = SubscribeOptions {
            policy: SlowPolicy::Block,
            max_lag: 2048,
            ..SubscribeOptions::default()
        };
        let (sub, mut client) = pipe(&hub, slow, 256);
        hub.wait_for_subscribers(1).await;
        // A reader taking 1 KiB every millisecond.
        let reader = tokio::spawn(async move {
            let mut bytes = Vec::new();
            let mut buf = [0u8; 1024];
            loop {
                let n = client.read(&mut buf).await.unwrap();
                if n == 0 {
                    break bytes;
                }
                bytes.extend_from_slice(&buf[..n]);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        publish_cycle(&hub, 60).await;
        let bytes = reader.await.unwrap();
        let got = lightstream::read_ipc(&bytes, ReadOptions::default())
            .unwrap()
            .tables;
        let (_, tables) = dict_feed();
        let expect: Vec<_> = (0..60)
            .map(|i| tables[i % tables.len()].cols.clone())
            .collect();
        assert_eq!(cols(&got), expect);
        let stats = sub.await.unwrap().unwrap();
        assert_eq!((stats.tables_sent, stats.tables_dropped), (60, 0));
    })
    .await;
}

#[tokio::test]
async fn a_new_schema_ends_every_stream_and_starts_the_next() {
    within("schema change", 20, async {
        let hub = Hub::new(HubOptions::default());
        let first = int64_table(0, 10);
        let mut p = hub
            .publisher(Schema::from_table(&first).into(), WriteOptions::default())
            .unwrap();
        let old = joined_reader(&hub, 1).await;
        p.write(&first).await.unwrap();
        let (schema, tables) = dict_feed();
        let mut q = hub.publisher(schema, WriteOptions::default()).unwrap();
        q.write(&tables[0]).await.unwrap();
        // The old subscriber's stream ended cleanly after the old table.
        assert_eq!(cols(&old.await.unwrap().unwrap()), cols(&[first]));
        let new = joined_reader(&hub, 1).await;
        q.write(&tables[1]).await.unwrap();
        q.finish().await.unwrap();
        assert_eq!(cols(&new.await.unwrap().unwrap()), cols(&tables[1..2]));
        // The old publisher's stream is over.
        assert!(matches!(
            p.write(&int64_table(1, 1)).await,
            Err(Error::Feed(FeedProblem::NotOpen { .. }))
        ));
    })
    .await;
}

#[tokio::test]
async fn the_same_schema_goes_on_with_an_open_stream_and_starts_a_new_one_after_its_end() {
    within("same schema", 20, async {
        let hub = Hub::new(HubOptions::default());
        let t: Vec<Table> = (0..4).map(|i| int64_table(i, 3)).collect();
        let schema: Arc<Schema> = Schema::from_table(&t[0]).into();
        let first = joined_reader(&hub, 1).await;
        let mut p = hub
            .publisher(schema.clone(), WriteOptions::default())
            .unwrap();
        p.write(&t[0]).await.unwrap();
        // A publisher that reconnects in the middle of the stream: its
        // schema message is the open stream's, which goes on.
        let mut again = hub
            .publisher(schema.clone(), WriteOptions::default())
            .unwrap();
        again.write(&t[1]).await.unwrap();
        again.finish().await.unwrap();
        assert_eq!(cols(&first.await.unwrap().unwrap()), cols(&t[..2]));
        // After the end marker the same schema starts a new stream.
        hub.wait_until_empty().await;
        let mut restarted = hub.publisher(schema, WriteOptions::default()).unwrap();
        restarted.write(&t[2]).await.unwrap();
        let late = joined_reader(&hub, 1).await;
        restarted.write(&t[3]).await.unwrap();
        restarted.finish().await.unwrap();
        assert_eq!(cols(&late.await.unwrap().unwrap()), cols(&t[3..]));
    })
    .await;
}

#[tokio::test]
async fn a_hub_that_refuses_new_schemas_says_so() {
    let hub = Hub::new(HubOptions {
        schema_change: SchemaChange::Refuse,
        ..HubOptions::default()
    });
    let t = int64_table(0, 3);
    let mut p = hub
        .publisher(Schema::from_table(&t).into(), WriteOptions::default())
        .unwrap();
    p.write(&t).await.unwrap();
    let (schema, tables) = dict_feed();
    let mut q = hub.publisher(schema, WriteOptions::default()).unwrap();
    let err = q.write(&tables[0]).await.unwrap_err();
    assert!(
        matches!(err, Error::Feed(FeedProblem::SchemaChanged)),
        "{err}"
    );
    // Publishing raw messages with no stream open is refused too.
    let fresh = Hub::new(HubOptions::default());
    let err = fresh
        .publish(lightstream::lightstream_core::IpcMessage::end_of_stream())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Feed(FeedProblem::NotOpen { .. })),
        "{err}"
    );
}

#[cfg(feature = "websocket")]
#[tokio::test]
async fn websocket_and_tcp_subscribers_share_one_feed() {
    within("websocket and tcp", 30, async {
        let hub = Hub::new(HubOptions::default());
        let mut urls = Vec::new();
        for url in ["ws://127.0.0.1:0/feed", "tcp://127.0.0.1:0"] {
            let listener = lightstream::bind(&url.parse().unwrap(), &ServerOptions::default())
                .await
                .unwrap();
            urls.push(listener.local_url().clone());
            let hub = hub.clone();
            tokio::spawn(async move {
                while let Ok(conn) = listener.accept().await {
                    tokio::spawn(hub.clone().subscribe(conn, SubscribeOptions::default()));
                }
            });
        }
        let mut readers = Vec::new();
        for url in urls.iter().chain(urls.iter()) {
            let conn = lightstream::connect(url, &ClientOptions::default())
                .await
                .unwrap();
            readers.push(tokio::spawn(async move {
                conn.reader(ReadOptions::default()).await?.read_all().await
            }));
        }
        // A WebSocket subscriber exists once its upgrade is done; wait for all four.
        hub.wait_for_subscribers(4).await;
        let (_, tables) = dict_feed();
        publish_cycle(&hub, 25).await;
        let expect: Vec<_> = (0..25)
            .map(|i| tables[i % tables.len()].cols.clone())
            .collect();
        for r in readers {
            assert_eq!(cols(&r.await.unwrap().unwrap()), expect);
        }
        let stats = hub.stats();
        assert_eq!((stats.joined, stats.tables), (4, 25));
    })
    .await;
}

/// One feed to a subscriber on every other transport at once: Unix socket,
/// TLS, wss and a QUIC stream (TCP and ws are above).
#[cfg(all(feature = "uds", feature = "tls", feature = "quic"))]
#[allow(clippy::needless_update)]
#[tokio::test]
async fn every_transport_subscribes_to_the_same_feed() {
    within("every transport", 30, async {
        let hub = Hub::new(HubOptions::default());
        let (certs, key) = lightstream::tls::self_signed(&["localhost", "127.0.0.1"]).unwrap();
        let server = ServerOptions {
            tls: Some(lightstream::tls::server_config(certs.clone(), key.clone_key()).unwrap()),
            quic: Some(lightstream::quic::server_config(certs.clone(), key).unwrap()),
            ..ServerOptions::default()
        };
        let client = ClientOptions {
            tls: Some(lightstream::tls::client_config_trusting(&certs).unwrap()),
            quic: Some(lightstream::quic::client_config_trusting(&certs).unwrap()),
            ..ClientOptions::default()
        };
        let dir = std::env::temp_dir().join(format!("lightstream-hub-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("feed.sock");
        let _ = std::fs::remove_file(&sock);
        let urls = [
            format!("unix://{}", sock.display()),
            "tls://127.0.0.1:0".to_string(),
            "wss://127.0.0.1:0/feed".to_string(),
            "quic://127.0.0.1:0".to_string(),
        ];
        let mut readers = Vec::new();
        for url in &urls {
            let listener = lightstream::bind(&url.parse().unwrap(), &server)
                .await
                .unwrap();
            let at = listener.local_url().clone();
            let hub = hub.clone();
            tokio::spawn(async move {
                while let Ok(conn) = listener.accept().await {
                    tokio::spawn(hub.clone().subscribe(conn, SubscribeOptions::default()));
                }
            });
            let conn = lightstream::connect(&at, &client).await.unwrap();
            readers.push(tokio::spawn(async move {
                conn.reader(ReadOptions::default()).await?.read_all().await
            }));
        }
        hub.wait_for_subscribers(urls.len()).await;
        let (_, tables) = dict_feed();
        publish_cycle(&hub, 12).await;
        let expect: Vec<_> = (0..12)
            .map(|i| tables[i % tables.len()].cols.clone())
            .collect();
        for (url, r) in urls.iter().zip(readers) {
            assert_eq!(cols(&r.await.unwrap().unwrap()), expect, "{url}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

#[tokio::test]
async fn a_late_joiner_gets_one_full_dictionary_batch_per_dictionary() {
    use lightstream::lightstream_core::framing::FrameDecoder;
    use lightstream::lightstream_core::{IpcMessageDecoder, MessageKind};
    within("merged dictionaries", 20, async {
        let (schema, tables) = dict_feed();
        let hub = Hub::new(HubOptions::default());
        let mut p = hub.publisher(schema, WriteOptions::default()).unwrap();
        // city: [a, b] then a delta [c, d]; tag: [x] then deltas [y], [zé].
        for t in &tables[..3] {
            p.write(t).await.unwrap();
        }
        let (_, mut client) = pipe(&hub, SubscribeOptions::default(), 1 << 20);
        hub.wait_for_subscribers(1).await;
        p.write(&tables[3]).await.unwrap();
        p.finish().await.unwrap();
        let mut bytes = Vec::new();
        client.read_to_end(&mut bytes).await.unwrap();
        let messages = IpcMessageDecoder::new(Default::default())
            .decode_all(&bytes)
            .unwrap();
        let kinds: Vec<MessageKind> = messages.iter().map(|m| m.kind()).collect();
        assert_eq!(
            &kinds[..3],
            &[
                MessageKind::Schema,
                MessageKind::DictionaryBatch {
                    id: 0,
                    delta: false
                },
                MessageKind::DictionaryBatch {
                    id: 1,
                    delta: false
                },
            ]
        );
        // Table 3 replaces city's dictionary; its batch follows.
        assert_eq!(
            &kinds[3..],
            &[
                MessageKind::DictionaryBatch {
                    id: 0,
                    delta: false
                },
                MessageKind::RecordBatch { rows: 3 },
                MessageKind::EndOfStream,
            ]
        );
        let got = lightstream::read_ipc(&bytes, ReadOptions::default())
            .unwrap()
            .tables;
        assert_eq!(cols(&got), cols(&tables[3..4]));
    })
    .await;
}

/// Reads one WebSocket frame a server sent: (fin, opcode, payload). Checks
/// the frame is unmasked, as RFC 6455 requires of a server.
async fn server_frame(s: &mut tokio::net::TcpStream) -> (bool, u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.unwrap();
    assert_eq!(h[1] & 0x80, 0, "a server's frames are unmasked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).await.unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).await.unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.unwrap();
    (h[0] & 0x80 != 0, h[0] & 0x0f, payload)
}

#[cfg(feature = "websocket")]
#[tokio::test]
async fn a_websocket_subscriber_gets_each_message_as_one_binary_message_in_frames_of_1_mib() {
    use lightstream::lightstream_core::IpcMessage;
    use lightstream_tests::raw_ws::raw_ws_client;
    within("raw websocket frames", 30, async {
        let hub = Hub::new(HubOptions::default());
        let listener = lightstream::bind(
            &"ws://127.0.0.1:0/feed".parse().unwrap(),
            &ServerOptions::default(),
        )
        .await
        .unwrap();
        let addr = listener.local_url().to_string();
        let addr = addr
            .trim_start_matches("ws://")
            .trim_end_matches("/feed")
            .to_string();
        let server_hub = hub.clone();
        tokio::spawn(async move {
            let conn = listener.accept().await.unwrap();
            server_hub
                .subscribe(conn, SubscribeOptions::default())
                .await
        });
        let mut s = raw_ws_client(&addr, "/feed").await;
        hub.wait_for_subscribers(1).await;
        // Messages of every header size: under 126 bytes (the end marker),
        // under 64 KiB (the schema, a small table), and 3.2 MB (three frames).
        let big = int64_table(0, 400_000);
        let small = int64_table(1, 10);
        let limits = Default::default();
        let encoded: Vec<IpcMessage> = {
            let mut e = lightstream::lightstream_core::IpcStreamEncoder::new(
                Schema::from_table(&big).into(),
                WriteOptions::default(),
            )
            .unwrap();
            let mut out = vec![e.schema_message().unwrap().to_vec()];
            for t in [&small, &big, &small] {
                out.extend(e.encode_table(t).unwrap().iter().map(|m| m.to_vec()));
            }
            out.push(e.end_of_stream().to_vec());
            out.into_iter()
                .map(|b| IpcMessage::new(b.into(), &limits).unwrap())
                .collect()
        };
        for m in &encoded {
            hub.publish(m.clone()).await.unwrap();
        }
        for m in &encoded {
            let mut message = Vec::new();
            let mut frames = Vec::new();
            loop {
                let (fin, opcode, payload) = server_frame(&mut s).await;
                assert_eq!(opcode, if frames.is_empty() { 2 } else { 0 });
                frames.push(payload.len());
                message.extend_from_slice(&payload);
                if fin {
                    break;
                }
            }
            assert_eq!(&message[..], &m.bytes()[..]);
            assert!(frames.iter().all(|&n| n <= 1 << 20), "{frames:?}");
            assert_eq!(frames.len(), m.len().div_ceil(1 << 20).max(1), "{frames:?}");
        }
    })
    .await;
}
