//! WebSocket peers written by hand, for tests that need a peer to break the protocol
//! where tungstenite would not: the upgrade request and response, HTTP heads read byte
//! by byte (so nothing after them is consumed), frames built and read by hand, and a
//! frame header declaring 2 GiB (issue 14).
//!
//! The top level works on tokio sockets; [`blocking`] has the same over std sockets
//! for tests that drive a child process (the CLI's). Not a WebSocket implementation:
//! no fragmentation, pings or masking keys other than zero.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A masked binary frame header declaring 2^31 bytes: what a hostile client sends
/// after the handshake (issue 14, item 1).
pub const HUGE_FRAME_FROM_CLIENT: [u8; 14] = [0x82, 0xFF, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0];
/// The same from a server (servers do not mask).
pub const HUGE_FRAME_FROM_SERVER: [u8; 10] = [0x82, 0x7F, 0, 0, 0, 0, 0x80, 0, 0, 0];
/// Bytes sent after a hostile header when a test sends data too.
pub const TRAILING_DATA: usize = 4 << 20;

/// A WebSocket upgrade request for `path` on `host` (RFC 6455's sample key).
pub fn upgrade_request(host: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Reads an HTTP head (up to the blank line) from `s`, byte by byte; panics if the
/// connection closes inside it.
pub async fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).await.expect("read head");
        assert!(n == 1, "connection closed inside the HTTP head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Writes `header` then, with `data`, [`TRAILING_DATA`] zero bytes, ignoring errors
/// (the other side may close first).
pub async fn send_hostile(s: &mut TcpStream, header: &[u8], data: bool) {
    let _ = s.write_all(header).await;
    if data {
        let chunk = vec![0u8; 64 << 10];
        for _ in 0..TRAILING_DATA / chunk.len() {
            if s.write_all(&chunk).await.is_err() {
                break;
            }
        }
    }
}

/// A raw client after the WebSocket handshake (by hand) with `addr` for `path`.
pub async fn raw_ws_client(addr: &str, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&upgrade_request(addr, path))
        .await
        .expect("request");
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// A raw server: the next client of `l`, after the WebSocket handshake by hand.
pub async fn raw_ws_server(l: &TcpListener) -> TcpStream {
    let (mut s, _) = l.accept().await.expect("accept");
    let head = read_head(&mut s).await;
    s.write_all(&switching_protocols(&head))
        .await
        .expect("response");
    s
}

/// The `101 Switching Protocols` answer to the upgrade request `head`.
pub fn switching_protocols(head: &str) -> Vec<u8> {
    let key = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        })
        .expect("key");
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    // Our clients offer the Lightstream subprotocol, and fail a handshake
    // that does not answer it.
    let offered = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("sec-websocket-protocol")
                && value.split(',').any(|p| p.trim() == "lightstream.arrow.v1")
        })
    });
    let protocol = if offered {
        "Sec-WebSocket-Protocol: lightstream.arrow.v1\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{protocol}\r\n"
    )
    .into_bytes()
}

/// A client frame by hand: `first` (FIN, RSV bits, opcode), then the payload masked
/// with the key 0 (so sent as is).
pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![first];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&u16::try_from(n).expect("short payload").to_be_bytes());
        }
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Reads frames from `s` (masked or not) until a Close frame; its status code
/// (`None`: a Close without one, or the connection ended first).
pub async fn close_code(s: &mut TcpStream) -> Option<u16> {
    loop {
        let mut head = [0u8; 2];
        s.read_exact(&mut head).await.ok()?;
        let len = match head[1] & 0x7F {
            126 => u64::from(s.read_u16().await.ok()?),
            127 => s.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut mask = [0u8; 4];
        if head[1] & 0x80 != 0 {
            s.read_exact(&mut mask).await.ok()?;
        }
        assert!(len <= 16 << 20, "a frame of {len} bytes");
        let mut payload = vec![0u8; len as usize];
        s.read_exact(&mut payload).await.ok()?;
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        if head[0] & 0x0F == 0x8 {
            let code = payload.get(..2)?;
            return Some(u16::from_be_bytes([code[0], code[1]]));
        }
    }
}

/// The same peers over std's blocking sockets.
pub mod blocking {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use super::{TRAILING_DATA, switching_protocols, upgrade_request};

    /// Reads an HTTP head (request or response) byte by byte, so that nothing after
    /// it is consumed; panics if the stream ends or fails first.
    pub fn read_head(s: &mut TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                other => panic!("no HTTP head ({other:?}): {head:?}"),
            }
        }
        String::from_utf8_lossy(&head).into_owned()
    }

    /// Sends an upgrade request for `path` to `addr` and reads the response head
    /// (reads bounded by `timeout`); the socket stays open, and unread after the
    /// head, for as long as the returned stream lives.
    pub fn upgrade_and_hold(addr: &str, path: &str, timeout: Duration) -> (TcpStream, String) {
        let mut tcp = TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(timeout)).expect("timeout");
        tcp.write_all(&upgrade_request(addr, path))
            .expect("request");
        let head = read_head(&mut tcp);
        (tcp, head)
    }

    /// A raw server: the next client of `l`, after the WebSocket handshake by
    /// hand (reads bounded by `timeout`).
    pub fn raw_ws_server(l: &TcpListener, timeout: Duration) -> TcpStream {
        let (mut s, _) = l.accept().expect("accept");
        s.set_read_timeout(Some(timeout)).expect("timeout");
        let head = read_head(&mut s);
        s.write_all(&switching_protocols(&head)).expect("response");
        s
    }

    /// Writes `header` then, with `data`, [`TRAILING_DATA`] zero bytes, ignoring
    /// write errors (the other side may close first).
    pub fn send_hostile(s: &mut TcpStream, header: &[u8], data: bool) {
        let _ = s.write_all(header);
        if data {
            let chunk = vec![0u8; 64 << 10];
            for _ in 0..TRAILING_DATA / chunk.len() {
                if s.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
    }
}
