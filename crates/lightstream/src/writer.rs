//! [`TableWriter`]: sends a schema, tables and the end-of-stream marker.
//!
//! The writer drives the core's [`IpcStreamEncoder`]. On byte transports each
//! encoded message goes out with vectored writes whose slices borrow the
//! table's own buffers: column data is never copied into a frame first (the
//! kernel's copy into the socket is the only one). A WebSocket message must
//! own its payload, so there each IPC message is assembled once into the
//! message it travels in.
//!
//! Every write waits for the transport to accept the bytes, so a slow reader
//! slows the writer down and nothing queues up in memory.

use std::any::Any;
use std::io::IoSlice;
use std::sync::Arc;

use lightstream_core::minarrow::Table;
use lightstream_core::{EncodedMessage, IpcStreamEncoder, Schema, WriteOptions};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};

/// How long a QUIC writer's `finish` waits for the peer's acknowledgement.
#[cfg(feature = "quic")]
const QUIC_ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Any byte sink a writer can own.
pub(crate) type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

pub(crate) enum Sink {
    Bytes(BoxWrite),
    #[cfg(feature = "quic")]
    Quic(quinn::SendStream),
    #[cfg(feature = "websocket")]
    Messages(crate::websocket::BoxWebSocket),
}

/// Writes one Arrow IPC stream: the schema, then tables (with their
/// dictionaries, as replacements or deltas where they changed), then the
/// end-of-stream marker on [`TableWriter::finish`].
///
/// Created by [`crate::Connection::writer`], [`TableWriter::from_async_write`]
/// or a transport module. The schema message is sent with the first table (or
/// by `finish` for a stream without tables). Dropping a writer without
/// `finish` leaves the stream without its end marker, which readers report
/// as a truncated stream.
pub struct TableWriter {
    sink: Sink,
    encoder: IpcStreamEncoder,
    peer: String,
    schema_sent: bool,
    tables: u64,
    rows: u64,
    bytes: u64,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("peer", &self.peer)
            .field("tables", &self.tables)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl TableWriter {
    /// Writes an Arrow IPC stream of `schema` to any byte sink (a socket, a
    /// pipe, a file, a QUIC stream). `peer` names it in errors.
    pub fn from_async_write<W>(
        inner: W,
        peer: impl Into<String>,
        schema: Arc<Schema>,
        options: WriteOptions,
    ) -> Result<TableWriter>
    where
        W: AsyncWrite + Send + Unpin + 'static,
    {
        Self::new(
            Sink::Bytes(Box::new(inner)),
            peer.into(),
            schema,
            options,
            None,
        )
    }

    pub(crate) fn new(
        sink: Sink,
        peer: String,
        schema: Arc<Schema>,
        options: WriteOptions,
        guard: Option<Box<dyn Any + Send + Sync>>,
    ) -> Result<TableWriter> {
        Ok(TableWriter {
            sink,
            encoder: IpcStreamEncoder::new(schema, options)?,
            peer,
            schema_sent: false,
            tables: 0,
            rows: 0,
            bytes: 0,
            _guard: guard,
        })
    }

    /// The schema every table must match.
    pub fn schema(&self) -> &Arc<Schema> {
        self.encoder.schema()
    }

    /// Who the tables go to, as errors name it.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Tables written so far.
    pub fn tables_written(&self) -> u64 {
        self.tables
    }

    /// Rows written so far.
    pub fn rows_written(&self) -> u64 {
        self.rows
    }

    /// Bytes of the IPC stream written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    async fn send_schema(&mut self) -> Result<()> {
        if !self.schema_sent {
            let m = self.encoder.schema_message()?;
            send(&mut self.sink, &self.peer, &m).await?;
            self.bytes += m.len() as u64;
            self.schema_sent = true;
        }
        Ok(())
    }

    /// Sends `table` (and any dictionary messages it needs). Returns when the
    /// transport has accepted the bytes. The table must match the schema.
    pub async fn write(&mut self, table: &Table) -> Result<()> {
        self.send_schema().await?;
        let messages = self.encoder.encode_table(table)?;
        for m in &messages {
            send(&mut self.sink, &self.peer, m).await?;
            self.bytes += m.len() as u64;
        }
        self.tables += 1;
        self.rows += table.n_rows as u64;
        Ok(())
    }

    /// Sends the end-of-stream marker and closes the sending side: TCP and
    /// Unix sockets shut down their write half, a QUIC stream is finished and
    /// waits until the peer has acknowledged every byte, a WebSocket sends its
    /// closing handshake. Returns the number of bytes written.
    pub async fn finish(mut self) -> Result<u64> {
        self.send_schema().await?;
        let end = self.encoder.end_of_stream();
        send(&mut self.sink, &self.peer, &end).await?;
        self.bytes += end.len() as u64;
        let peer = &self.peer;
        let ctx = || format!("closing the stream to {peer}");
        match &mut self.sink {
            Sink::Bytes(w) => {
                w.flush().await.map_err(|e| Error::io(ctx(), e))?;
                w.shutdown().await.map_err(|e| Error::io(ctx(), e))?;
            }
            #[cfg(feature = "quic")]
            Sink::Quic(s) => {
                s.finish()
                    .map_err(|e| Error::Protocol(format!("{}: {e}", ctx())))?;
                // Wait (boundedly) for the peer to acknowledge every byte. A
                // peer that read the whole stream and exited at once may never
                // send its last ACK; then, as with TCP, the bytes were all sent
                // and finish() succeeds after the wait.
                match tokio::time::timeout(QUIC_ACK_WAIT, s.stopped()).await {
                    Err(_elapsed) => {}
                    Ok(Ok(None)) => {}
                    Ok(Ok(Some(code))) => {
                        return Err(Error::Protocol(format!(
                            "{peer} stopped the QUIC stream (code {code}) before reading all of it"
                        )));
                    }
                    Ok(Err(e)) => return Err(Error::Protocol(format!("{}: {e}", ctx()))),
                }
            }
            #[cfg(feature = "websocket")]
            Sink::Messages(s) => {
                use futures_util::{SinkExt, StreamExt};
                s.close().await.map_err(|e| ws_error(ctx(), e))?;
                // Complete the closing handshake: wait (briefly) for the
                // peer's Close, discarding anything it still sends.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                    while let Some(Ok(m)) = s.next().await {
                        if m.is_close() {
                            break;
                        }
                    }
                })
                .await;
            }
        }
        Ok(self.bytes)
    }
}

/// Sends one encoded message over `sink`.
async fn send(sink: &mut Sink, peer: &str, m: &EncodedMessage<'_>) -> Result<()> {
    let ctx = || format!("writing to {peer}");
    match sink {
        Sink::Bytes(w) => write_all_vectored(w, m)
            .await
            .map_err(|e| Error::io(ctx(), e)),
        #[cfg(feature = "quic")]
        Sink::Quic(s) => write_all_vectored(s, m)
            .await
            .map_err(|e| Error::io(ctx(), e)),
        #[cfg(feature = "websocket")]
        Sink::Messages(s) => {
            use futures_util::SinkExt;
            let payload = tokio_tungstenite::tungstenite::Bytes::from(m.to_vec());
            s.send(tokio_tungstenite::tungstenite::Message::Binary(payload))
                .await
                .map_err(|e| ws_error(ctx(), e))
        }
    }
}

#[cfg(feature = "websocket")]
pub(crate) fn ws_error(context: String, e: tokio_tungstenite::tungstenite::Error) -> Error {
    match e {
        tokio_tungstenite::tungstenite::Error::Io(e) => Error::io(context, e),
        e => Error::Protocol(format!("WebSocket error while {context}: {e}")),
    }
}

/// Writes every byte of `m` with vectored writes whose slices borrow the
/// message's buffers (falls back to one slice per call where the sink does
/// not do vectored writes).
async fn write_all_vectored<W>(w: &mut W, m: &EncodedMessage<'_>) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut slices = m.io_slices();
    let mut bufs: &mut [IoSlice<'_>] = &mut slices;
    IoSlice::advance_slices(&mut bufs, 0);
    let vectored = w.is_write_vectored();
    while !bufs.is_empty() {
        let n = if vectored {
            w.write_vectored(bufs).await?
        } else {
            w.write(&bufs[0]).await?
        };
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "the connection accepted no more bytes",
            ));
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TableReader;
    use lightstream_core::ReadOptions;
    use lightstream_core::minarrow::{
        Array, ArrowType, Field, FieldArray, FloatArray, IntegerArray, Table, Vec64, fa_i64, tbl,
    };

    fn numeric_table(n: usize) -> Table {
        let col = |name: &str, dtype: ArrowType, array: Array| FieldArray {
            field: Arc::new(Field {
                name: name.to_string(),
                dtype,
                nullable: false,
                metadata: Default::default(),
            }),
            array,
            null_count: 0,
        };
        let a: Vec64<i64> = (0..n as i64).collect();
        let b: Vec64<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
        Table::new(
            "t".to_string(),
            Some(vec![
                col(
                    "a",
                    ArrowType::Int64,
                    Array::from_int64(IntegerArray::from_vec64(a, None)),
                ),
                col(
                    "b",
                    ArrowType::Float64,
                    Array::from_float64(FloatArray::from_vec64(b, None)),
                ),
            ]),
        )
    }

    #[tokio::test]
    async fn a_small_pipe_carries_a_large_table_without_buffering_it() {
        // A 4 KiB pipe: every write must wait for the reader (backpressure).
        let (tx, rx) = tokio::io::duplex(4096);
        let n = 200_000;
        let t = numeric_table(n);
        let schema = Arc::new(Schema::from_table(&t));
        let sent = t.clone();
        let writer = tokio::spawn(async move {
            let mut w =
                TableWriter::from_async_write(tx, "pipe", schema, WriteOptions::default()).unwrap();
            w.write(&sent).await.unwrap();
            w.write(&sent).await.unwrap();
            w.finish().await.unwrap()
        });
        let r = TableReader::from_async_read(rx, "pipe", ReadOptions::default())
            .await
            .unwrap();
        let tables = r.read_all().await.unwrap();
        let bytes = writer.await.unwrap();
        assert!(bytes > 2 * 16 * n as u64);
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[1].n_rows, n);
        let expect: Vec<i64> = (0..n as i64).collect();
        match &tables[1].cols[0].array {
            lightstream_core::minarrow::Array::NumericArray(
                lightstream_core::minarrow::NumericArray::Int64(a),
            ) => assert_eq!(a.data.as_slice(), &expect[..]),
            other => panic!("unexpected column {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_stream_with_no_tables_still_has_its_schema() {
        let (tx, rx) = tokio::io::duplex(1024);
        let t = tbl!("t", fa_i64!("a", 1));
        let schema = Arc::new(Schema::from_table(&t));
        let w = TableWriter::from_async_write(tx, "pipe", schema, WriteOptions::default()).unwrap();
        w.finish().await.unwrap();
        let r = TableReader::from_async_read(rx, "pipe", ReadOptions::default())
            .await
            .unwrap();
        assert_eq!(r.schema().fields[0].name, "a");
        assert!(r.read_all().await.unwrap().is_empty());
    }
}
