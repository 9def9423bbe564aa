//! `lightstream::framed`: frames of the application's own over TCP, Unix
//! sockets, TLS, a QUIC stream and an in-memory duplex, through the same
//! adapter; hostile lengths and ends of input as typed errors naming the
//! peer. That memory grows only with the bytes that came is checked where
//! the loop lives (lightstream-core's tests/alloc_bounds.rs).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lightstream::framed::{FramedByteStream, FramedSink};
use lightstream::lightstream_core::framing::tlv::{TlvDecoder, TlvEncoder, TlvFrame};
use lightstream::lightstream_core::framing::{Decoded, FrameDecoder, FrameEncoder};
use lightstream::lightstream_core::{self as core, ErrorKind};
use lightstream::{ClientOptions, Error, ServerOptions};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Every test is bounded: a hang fails instead of stalling CI.
async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("{what} took over 10 s"))
}

/// A framer of our own: newline-delimited lines, each at most `max` bytes.
struct Lines {
    line: Vec<u8>,
    max: usize,
}

impl Lines {
    fn new(max: usize) -> Self {
        Lines {
            line: Vec::new(),
            max,
        }
    }
}

impl FrameDecoder for Lines {
    type Frame = String;

    fn decode(&mut self, input: &[u8]) -> core::Result<Decoded<String>> {
        let end = input.iter().position(|&b| b == b'\n');
        let take = end.unwrap_or(input.len());
        if self.line.len() + take > self.max {
            return Err(core::Error::new(
                ErrorKind::LimitExceeded,
                format!("a line over {} bytes", self.max),
            ));
        }
        self.line.extend_from_slice(&input[..take]);
        let Some(end) = end else {
            return Ok(Decoded::NeedMore);
        };
        let line = String::from_utf8(std::mem::take(&mut self.line))
            .map_err(|_| core::Error::new(ErrorKind::InvalidData, "a line that is not UTF-8"))?;
        Ok(Decoded::Frame {
            frame: line,
            consumed: end + 1,
        })
    }

    fn finish(&self) -> core::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        Err(core::Error::new(
            ErrorKind::Truncated,
            format!("a line of {} bytes without its newline", self.line.len()),
        ))
    }
}

impl FrameEncoder<&str> for Lines {
    fn encode(&mut self, line: &str, out: &mut Vec<u8>) -> core::Result<()> {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        Ok(())
    }
}

/// Values of every size class: empty, small, over the 64 KiB read buffer.
fn values() -> Vec<(u8, Vec<u8>)> {
    vec![
        (1, b"hello".to_vec()),
        (0, Vec::new()),
        (255, (0..200_000u32).map(|i| (i % 251) as u8).collect()),
        (7, vec![9; 70]),
    ]
}

/// Sends [`values`] as TLV frames through a sink over `w`, then shuts the
/// stream down.
async fn send_tlv<W: AsyncWrite + Unpin>(w: W) -> lightstream::Result<u64> {
    send_through(FramedSink::new(w, TlvEncoder, 4096).with_peer("test writer")).await
}

/// Sends [`values`] through `sink` (with the Sink trait and the async
/// methods both), then finishes it.
async fn send_through<W: AsyncWrite + Unpin>(
    mut sink: FramedSink<W, TlvEncoder>,
) -> lightstream::Result<u64> {
    let values = values();
    for (tag, value) in &values[..2] {
        sink.send((*tag, &value[..])).await?;
    }
    for (tag, value) in &values[2..] {
        SinkExt::send(&mut sink, (*tag, &value[..])).await?;
    }
    assert_eq!(sink.frames_written(), 4);
    sink.finish().await
}

/// Reads TLV frames to the end and checks they are [`values`].
async fn receive_tlv<R: AsyncRead + Unpin>(r: R, peer: &str) {
    receive_from(FramedByteStream::new(r, TlvDecoder::new(1 << 20), 64 * 1024).with_peer(peer))
        .await
}

/// Reads `frames` to the end and checks they are [`values`].
async fn receive_from<R: AsyncRead + Unpin>(mut frames: FramedByteStream<R, TlvDecoder>) {
    let mut got = Vec::new();
    while let Some(frame) = frames.next().await {
        let TlvFrame { tag, value } = frame.unwrap();
        got.push((tag, value.as_slice().to_vec()));
    }
    assert_eq!(got, values());
    assert_eq!(frames.frames_read(), 4);
    let wire: usize = values().iter().map(|(_, v)| 5 + v.len()).sum();
    assert_eq!(frames.bytes_read(), wire as u64);
    assert!(frames.next().await.is_none(), "ended for good");
}

#[tokio::test]
async fn tcp_loopback_carries_tlv_frames() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let writer = tokio::spawn(async move {
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        send_tlv(s).await.unwrap()
    });
    let (s, _) = listener.accept().await.unwrap();
    bounded("read", receive_tlv(s, "tcp")).await;
    let wire: usize = values().iter().map(|(_, v)| 5 + v.len()).sum();
    assert_eq!(bounded("write", writer).await.unwrap(), wire as u64);
}

#[tokio::test]
async fn unix_loopback_carries_lines_of_a_custom_framer() {
    let (a, b) = tokio::net::UnixStream::pair().unwrap();
    let writer = tokio::spawn(async move {
        let mut sink = FramedSink::new(a, Lines::new(100), 0);
        for line in ["first", "", "third line"] {
            sink.send(line).await.unwrap();
        }
        sink.finish().await.unwrap()
    });
    let frames = FramedByteStream::new(b, Lines::new(100), 64 * 1024).with_peer("unix");
    let lines: Vec<String> = bounded("read", frames.map(Result::unwrap).collect()).await;
    assert_eq!(lines, ["first", "", "third line"]);
    assert_eq!(bounded("write", writer).await.unwrap(), 18);
}

#[tokio::test]
async fn an_in_memory_duplex_gives_the_same_frames_in_any_chunking() {
    for (pipe, buffer) in [(1, 8), (7, 13), (64, 64 * 1024), (1 << 20, 100)] {
        let (a, b) = tokio::io::duplex(pipe);
        let writer = tokio::spawn(send_tlv(a));
        let mut frames = FramedByteStream::new(b, TlvDecoder::new(1 << 20), buffer);
        let mut got = Vec::new();
        while let Some(frame) = bounded("read", frames.next()).await {
            let frame = frame.unwrap();
            got.push((frame.tag, frame.value.as_slice().to_vec()));
        }
        assert_eq!(got, values(), "pipe {pipe}, buffer {buffer}");
        bounded("write", writer).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn connections_of_tcp_and_unix_urls_become_framed_halves() {
    let dir = std::env::temp_dir().join(format!("ls-framed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unix = format!("unix://{}", dir.join("s.sock").display());
    for url in ["tcp://127.0.0.1:0", unix.as_str()] {
        let listener = lightstream::bind(&url.parse().unwrap(), &ServerOptions::default())
            .await
            .unwrap();
        let endpoint = listener.local_url().clone();
        // The server echoes each line back in upper case.
        let server = tokio::spawn(async move {
            let conn = listener.accept().await.unwrap();
            let (mut lines, mut sink) = conn
                .into_framed(Lines::new(64), Lines::new(64), 0)
                .await
                .unwrap();
            while let Some(line) = lines.next().await {
                sink.send(line.unwrap().to_uppercase().as_str())
                    .await
                    .unwrap();
            }
            sink.finish().await.unwrap();
        });
        let conn = lightstream::connect(&endpoint, &ClientOptions::default())
            .await
            .unwrap();
        let (mut lines, mut sink) = conn
            .into_framed(Lines::new(64), Lines::new(64), 0)
            .await
            .unwrap();
        assert!(lines.peer().starts_with(&url[..3]), "{}", lines.peer());
        sink.send("abc").await.unwrap();
        sink.flush().await.unwrap();
        assert_eq!(bounded("echo", lines.next()).await.unwrap().unwrap(), "ABC");
        sink.send("xyz").await.unwrap();
        sink.finish().await.unwrap();
        assert_eq!(bounded("echo", lines.next()).await.unwrap().unwrap(), "XYZ");
        assert!(bounded("end", lines.next()).await.is_none());
        bounded("server", server).await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_tls_connection_runs_its_handshake_then_carries_frames() {
    let (certs, key) = lightstream::tls::self_signed(&["localhost"]).unwrap();
    let roots = certs.clone();
    let server_options = ServerOptions {
        tls: Some(lightstream::tls::server_config(certs, key).unwrap()),
        ..ServerOptions::default()
    };
    let listener = lightstream::bind(&"tls://127.0.0.1:0".parse().unwrap(), &server_options)
        .await
        .unwrap();
    let port = listener
        .local_url()
        .to_string()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let server = tokio::spawn(async move {
        let conn = listener.accept().await.unwrap();
        let (frames, _sink) = conn
            .into_framed(TlvDecoder::new(1 << 20), TlvEncoder, 64 * 1024)
            .await
            .unwrap();
        assert!(
            frames.peer().starts_with("tls 127.0.0.1:"),
            "{}",
            frames.peer()
        );
        receive_from(frames).await;
    });
    let client_options = ClientOptions {
        tls: Some(lightstream::tls::client_config_trusting(&roots).unwrap()),
        ..ClientOptions::default()
    };
    let endpoint = format!("tls://localhost:{port}").parse().unwrap();
    let conn = lightstream::connect(&endpoint, &client_options)
        .await
        .unwrap();
    let (_frames, sink) = conn
        .into_framed(TlvDecoder::new(1 << 20), TlvEncoder, 64 * 1024)
        .await
        .unwrap();
    bounded("send", send_through(sink)).await.unwrap();
    bounded("server", server).await.unwrap();
}

#[tokio::test]
async fn a_quic_stream_carries_frames() {
    let (certs, key) = lightstream::quic::self_signed(&["localhost", "127.0.0.1"]).unwrap();
    let roots = certs.clone();
    let server_options = ServerOptions {
        quic: Some(lightstream::quic::server_config(certs, key).unwrap()),
        ..ServerOptions::default()
    };
    let listener = lightstream::bind(&"quic://127.0.0.1:0".parse().unwrap(), &server_options)
        .await
        .unwrap();
    let endpoint = listener.local_url().clone();
    let server = tokio::spawn(async move {
        let session = listener.accept().await.unwrap().into_quic().await.unwrap();
        let stream = session.connection().accept_uni().await.unwrap();
        receive_tlv(stream, session.peer()).await;
    });
    let client_options = ClientOptions {
        quic: Some(lightstream::quic::client_config_trusting(&roots).unwrap()),
        ..ClientOptions::default()
    };
    let conn = lightstream::connect(&endpoint, &client_options)
        .await
        .unwrap();
    let session = conn.into_quic().await.unwrap();
    let mut stream = session.connection().open_uni().await.unwrap();
    send_tlv(&mut stream).await.unwrap();
    bounded("server", server).await.unwrap();
}

#[tokio::test]
async fn message_transports_have_no_byte_stream_to_frame() {
    let listener = lightstream::bind(
        &"ws://127.0.0.1:0/".parse().unwrap(),
        &ServerOptions::default(),
    )
    .await
    .unwrap();
    let conn = lightstream::connect(listener.local_url(), &ClientOptions::default())
        .await
        .unwrap();
    let e = conn
        .into_framed(Lines::new(8), Lines::new(8), 0)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
    assert!(e.to_string().contains("is not one byte stream"), "{e}");
}

/// Polls a TLV stream over `bytes` (then EOF) to its error.
async fn error_of(bytes: Vec<u8>, max_value: usize) -> Error {
    let (mut a, b) = tokio::io::duplex(64 * 1024);
    let writer = tokio::spawn(async move {
        // The reader may stop early (a refused header): ignore its hang-up.
        let _ = a.write_all(&bytes).await;
    });
    let mut frames =
        FramedByteStream::new(b, TlvDecoder::new(max_value), 64 * 1024).with_peer("hostile peer");
    let mut last = None;
    while let Some(item) = bounded("read", frames.next()).await {
        if let Err(e) = item {
            last = Some(e);
        }
    }
    bounded("write", writer).await.unwrap();
    last.expect("an error")
}

#[tokio::test]
async fn a_frame_declaring_4_gib_is_refused_naming_the_peer() {
    let mut bytes = vec![1, 0xff, 0xff, 0xff, 0xff];
    bytes.extend_from_slice(&[0; 1000]);
    let e = error_of(bytes, 64 << 20).await;
    assert_eq!(e.codec_kind(), Some(ErrorKind::LimitExceeded), "{e}");
    assert!(
        matches!(&e, Error::Framing { peer, .. } if peer == "hostile peer"),
        "{e}"
    );
    assert!(
        e.to_string().contains("framing error from hostile peer"),
        "{e}"
    );
    assert!(
        e.to_string().contains("TLV value length is 4294967295"),
        "{e}"
    );
}

#[tokio::test]
async fn a_frame_cut_by_eof_is_truncated_naming_the_peer() {
    // 64 MiB declared (within the limit), 1000 bytes sent, then EOF.
    let mut bytes = vec![1];
    bytes.extend_from_slice(&(64u32 << 20).to_le_bytes());
    bytes.extend_from_slice(&[7; 1000]);
    let e = error_of(bytes, 128 << 20).await;
    assert_eq!(e.codec_kind(), Some(ErrorKind::Truncated), "{e}");
    assert!(
        e.to_string()
            .contains("TLV frame ended after 1000 of 67108864 value bytes"),
        "{e}"
    );
    assert!(e.to_string().contains("hostile peer"), "{e}");
}

#[tokio::test]
async fn eof_inside_a_header_is_truncated_and_between_frames_is_clean() {
    let mut bytes = Vec::new();
    core::framing::tlv::encode_tlv(3, b"abc", &mut bytes).unwrap();
    // Two bytes of the next header, then EOF.
    bytes.extend_from_slice(&[4, 1]);
    let e = error_of(bytes.clone(), 1024).await;
    assert_eq!(e.codec_kind(), Some(ErrorKind::Truncated), "{e}");
    assert!(e.to_string().contains("after 2 of 5 header bytes"), "{e}");

    // Nothing at all, and whole frames only: clean ends.
    for input in [Vec::new(), bytes[..8].to_vec()] {
        let frames = FramedByteStream::new(&input[..], TlvDecoder::new(1024), 64);
        let got: Vec<_> = frames.collect().await;
        assert_eq!(got.len(), input.len() / 8);
        assert!(got.iter().all(Result::is_ok));
    }
}

#[tokio::test]
async fn a_custom_framer_refusing_a_line_names_the_peer() {
    let input = b"ok\nthis line is far too long\n".to_vec();
    let mut frames = FramedByteStream::new(&input[..], Lines::new(8), 4).with_peer("stdin");
    assert_eq!(frames.next().await.unwrap().unwrap(), "ok");
    let e = frames.next().await.unwrap().unwrap_err();
    assert_eq!(e.codec_kind(), Some(ErrorKind::LimitExceeded), "{e}");
    assert!(
        e.to_string().starts_with("framing error from stdin: "),
        "{e}"
    );
    assert!(
        frames.next().await.is_none(),
        "the stream ends after an error"
    );
}

#[tokio::test]
async fn a_sink_writes_when_its_buffer_fills_and_on_flush() {
    let (a, mut b) = tokio::io::duplex(1 << 20);
    let mut sink = FramedSink::new(a, TlvEncoder, 100);
    sink.send((1u8, &[0u8; 60][..])).await.unwrap();
    // 65 bytes buffered, under 100: nothing written yet.
    assert_eq!(sink.bytes_written(), 0);
    // 130 buffered, over 100: written out.
    sink.send((2u8, &[0u8; 60][..])).await.unwrap();
    assert_eq!(sink.bytes_written(), 130);
    sink.send((3u8, &[][..])).await.unwrap();
    assert_eq!(sink.bytes_written(), 130);
    sink.flush().await.unwrap();
    assert_eq!(sink.bytes_written(), 135);
    drop(sink);
    let mut got = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut b, &mut got)
        .await
        .unwrap();
    assert_eq!(TlvDecoder::default().decode_all(&got).unwrap().len(), 3);
}

/// Two tables; [`columns`] is what travels (IPC does not carry the name).
fn tables() -> Vec<lightstream::minarrow::Table> {
    use lightstream::minarrow::{fa_i64, fa_str32, tbl};
    vec![
        tbl!("t", fa_i64!("n", 1, 2, 3), fa_str32!("s", "a", "bb", "ccc")),
        tbl!("t", fa_i64!("n", 4), fa_str32!("s", "dddd")),
    ]
}

/// The columns and row counts of `tables`.
fn columns(
    tables: &[lightstream::minarrow::Table],
) -> Vec<(usize, Vec<lightstream::minarrow::FieldArray>)> {
    tables.iter().map(|t| (t.n_rows, t.cols.clone())).collect()
}

#[tokio::test]
async fn tables_travel_in_tlv_frames_one_ipc_message_each() {
    let listener = lightstream::bind(
        &"tcp://127.0.0.1:0".parse().unwrap(),
        &ServerOptions::default(),
    )
    .await
    .unwrap();
    let endpoint = listener.local_url().clone();
    let server = tokio::spawn(async move {
        let conn = listener.accept().await.unwrap();
        let schema = std::sync::Arc::new(lightstream::Schema::from_table(&tables()[0]));
        let mut w = conn.tlv_writer(schema, Default::default()).await.unwrap();
        for t in tables() {
            w.write(&t).await.unwrap();
        }
        w.finish().await.unwrap()
    });
    // Read raw: every frame is tag 1 and holds exactly one IPC message.
    let s = tokio::net::TcpStream::connect(endpoint.to_string().trim_start_matches("tcp://"))
        .await
        .unwrap();
    let frames: Vec<TlvFrame> = FramedByteStream::new(s, TlvDecoder::new(1 << 20), 4096)
        .map(Result::unwrap)
        .collect()
        .await;
    let sent = bounded("server", server).await.unwrap();
    // Schema, two record batches, the end-of-stream marker.
    assert_eq!(frames.len(), 4);
    assert!(
        frames
            .iter()
            .all(|f| f.tag == lightstream::framed::TLV_IPC_MESSAGE)
    );
    assert_eq!(
        sent,
        frames.iter().map(|f| f.value.len() as u64).sum::<u64>(),
        "the writer counts IPC bytes, not TLV headers"
    );
    assert_eq!(
        frames[3].value.as_slice(),
        [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]
    );
    let mut stream = Vec::new();
    for f in &frames {
        let mut d = core::IpcStreamDecoder::new(Default::default());
        if !stream.is_empty() {
            // Each frame is one message of the stream so far.
            let _ = d.push(&stream).unwrap();
        }
        assert!(d.is_at_message_boundary());
        stream.extend_from_slice(f.value.as_slice());
    }
    let (_, got) = core::read_stream(core::aligned_copy(&stream), Default::default()).unwrap();
    assert_eq!(columns(&got), columns(&tables()));

    // And the other way: the same frames, read by a TLV reader.
    let mut wire = Vec::new();
    for f in &frames {
        TlvEncoder.encode(f, &mut wire).unwrap();
    }
    let got = read_tlv(wire, Default::default()).await.unwrap();
    assert_eq!(columns(&got), columns(&tables()));
}

/// Tables read by a TLV reader from `wire` (over an in-memory duplex).
async fn read_tlv(
    wire: Vec<u8>,
    options: lightstream::ReadOptions,
) -> lightstream::Result<Vec<lightstream::minarrow::Table>> {
    let (mut a, b) = tokio::io::duplex(4096);
    let writer = tokio::spawn(async move {
        let _ = a.write_all(&wire).await;
    });
    let conn = lightstream::Connection::from_io(b, tokio::io::sink(), "duplex");
    let r = bounded("read", async {
        conn.tlv_reader(options).await?.read_all().await
    })
    .await;
    bounded("write", writer).await.unwrap();
    r
}

#[tokio::test]
async fn tlv_readers_refuse_other_tags_split_messages_and_oversized_frames() {
    let t = &tables()[0];
    let ipc = lightstream::write_stream(
        &lightstream::Schema::from_table(t),
        std::slice::from_ref(t),
        &Default::default(),
    )
    .unwrap();
    // The schema message is the first frame; its length from its prefix.
    let schema_len = 8 + u32::from_le_bytes(ipc[4..8].try_into().unwrap()) as usize;
    let mut schema_frame = Vec::new();
    core::framing::tlv::encode_tlv(1, &ipc[..schema_len], &mut schema_frame).unwrap();

    let mut wrong_tag = schema_frame.clone();
    core::framing::tlv::encode_tlv(9, &ipc[schema_len..], &mut wrong_tag).unwrap();
    let e = read_tlv(wrong_tag, Default::default()).await.unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e}");
    assert!(
        e.to_string().contains("duplex sent a TLV frame of tag 9"),
        "{e}"
    );

    // The record batch cut in two frames.
    let mut split = schema_frame.clone();
    let cut = schema_len + 20;
    core::framing::tlv::encode_tlv(1, &ipc[schema_len..cut], &mut split).unwrap();
    core::framing::tlv::encode_tlv(1, &ipc[cut..], &mut split).unwrap();
    let e = read_tlv(split, Default::default()).await.unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e}");
    assert!(
        e.to_string()
            .contains("TLV frame 2 from duplex ended inside an Arrow IPC message"),
        "{e}"
    );

    // A frame declaring more than one IPC message at the limits' largest.
    let mut huge = schema_frame;
    huge.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0x7f]);
    let options = lightstream::ReadOptions {
        limits: core::DecodeLimits::STRICT,
        ..Default::default()
    };
    let e = read_tlv(huge, options).await.unwrap_err();
    assert_eq!(e.codec_kind(), Some(ErrorKind::LimitExceeded), "{e}");
    assert!(e.to_string().contains("framing error from duplex"), "{e}");

    // Nothing at all (a port probe) is what it is on the byte transports.
    let e = read_tlv(Vec::new(), Default::default()).await.unwrap_err();
    assert!(
        matches!(&e, Error::EmptyConnection { peer } if peer == "duplex"),
        "{e}"
    );
}
