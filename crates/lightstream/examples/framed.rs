//! A framing of your own over TCP: records with a 2-byte big-endian length
//! prefix, read and written through `lightstream::framed`.
//!
//! `cargo run -p lightstream --example framed`
//!
//! The framer is the core's two small traits: a push `FrameDecoder` (bytes in
//! any chunking in, "need more" or a frame out) and a `FrameEncoder`. The
//! same framer runs over any byte stream: a Unix socket, TLS, stdin, a QUIC
//! stream, or `Connection::into_framed` for any of Lightstream's byte URLs.

use futures_util::StreamExt;
use lightstream::framed::{FramedByteStream, FramedSink};
use lightstream::lightstream_core::framing::{Decoded, FrameDecoder, FrameEncoder};
use lightstream::lightstream_core::{Error, ErrorKind, Result};

/// Records of at most 65535 bytes, each after its length as a big-endian u16.
#[derive(Default)]
struct U16Prefixed {
    /// The prefix bytes received so far.
    prefix: Vec<u8>,
    /// The record being received, once its prefix is whole.
    record: Option<(usize, Vec<u8>)>,
}

impl FrameDecoder for U16Prefixed {
    type Frame = Vec<u8>;

    fn decode(&mut self, input: &[u8]) -> Result<Decoded<Vec<u8>>> {
        let mut used = 0;
        if self.record.is_none() {
            let take = (2 - self.prefix.len()).min(input.len());
            self.prefix.extend_from_slice(&input[..take]);
            used += take;
            if self.prefix.len() < 2 {
                return Ok(Decoded::NeedMore);
            }
            let len = u16::from_be_bytes([self.prefix[0], self.prefix[1]]) as usize;
            self.prefix.clear();
            // A u16 cannot declare more than 64 KiB: no limit to check, and
            // nothing is reserved before the bytes arrive.
            self.record = Some((len, Vec::new()));
        }
        let Some((len, mut record)) = self.record.take() else {
            return Ok(Decoded::NeedMore);
        };
        let take = (len - record.len()).min(input.len() - used);
        record.extend_from_slice(&input[used..used + take]);
        used += take;
        if record.len() < len {
            self.record = Some((len, record));
            return Ok(Decoded::NeedMore);
        }
        Ok(Decoded::Frame {
            frame: record,
            consumed: used,
        })
    }

    fn finish(&self) -> Result<()> {
        match &self.record {
            None if self.prefix.is_empty() => Ok(()),
            None => Err(Error::new(
                ErrorKind::Truncated,
                "input ended inside a prefix",
            )),
            Some((len, got)) => Err(Error::new(
                ErrorKind::Truncated,
                format!("input ended after {} of {len} record bytes", got.len()),
            )),
        }
    }
}

impl FrameEncoder<&[u8]> for U16Prefixed {
    fn encode(&mut self, record: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let len = u16::try_from(record.len()).map_err(|_| {
            Error::new(
                ErrorKind::LimitExceeded,
                format!("a record of {} bytes (at most 65535)", record.len()),
            )
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(record);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> lightstream::Result<()> {
    let records: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        Vec::new(),
        vec![b'x'; 65535],
        b"goodbye".to_vec(),
    ];

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("listening on tcp://{addr}");

    // Server: send every record, then close.
    let sent = records.clone();
    let server = tokio::spawn(async move {
        let (socket, peer) = listener.accept().await?;
        let mut sink =
            FramedSink::new(socket, U16Prefixed::default(), 64 * 1024).with_peer(peer.to_string());
        for record in &sent {
            sink.send(&record[..]).await?;
        }
        let bytes = sink.finish().await?;
        println!("server: sent {} records, {bytes} bytes", sent.len());
        Ok::<_, lightstream::Error>(())
    });

    // Client: read records until the server closes between two of them.
    let socket = tokio::net::TcpStream::connect(addr).await?;
    let mut frames = FramedByteStream::new(socket, U16Prefixed::default(), 64 * 1024)
        .with_peer(format!("tcp {addr}"));
    let mut received = Vec::new();
    while let Some(record) = frames.next().await {
        received.push(record?);
    }
    println!(
        "client: {} records, {} bytes",
        received.len(),
        frames.bytes_read()
    );
    server.await.expect("server task")?;

    assert_eq!(received, records, "the records sent, in order");
    assert_eq!(
        frames.bytes_read(),
        records.iter().map(|r| 2 + r.len() as u64).sum::<u64>()
    );
    println!("ok");
    Ok(())
}
