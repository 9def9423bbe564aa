//! The blocking side of the network commands, on threads of their own.
//!
//! `InputThread` reads a file or stdin with `input.rs` and hands the schema,
//! then each table, to the async side; `OutputThread` takes tables (or the
//! whole messages of a stream copied without decoding) from it and writes
//! them with `output.rs`. Each is connected by a bounded channel of
//! `CHANNEL_TABLES` tables, so a slow disk or pipe never stalls the runtime and
//! memory stays bounded by a couple of tables.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lightstream_core::minarrow::Table;
use lightstream_core::{IpcMessage, Schema};
use tokio::sync::{mpsc, oneshot};

use crate::error::{CliError, CliResult};
use crate::input::{self, Columns, Format, Input};
use crate::output::{self, Target};

/// Tables in flight between the network and the file/stdio thread.
const CHANNEL_TABLES: usize = 2;

/// How long an abandoned output waits for its thread to remove a partial file.
const ABORT_WAIT: Duration = Duration::from_secs(2);

/// What the input thread hands to the async side.
enum Incoming {
    Schema(Arc<Schema>),
    /// A table, and how much of the input has been read after it (0 to 1),
    /// when that is known.
    Table(Table, Option<f64>),
}

/// `input.rs` on a thread of its own: reads a file or stdin (blocking) and hands
/// the schema, then each table, through a bounded channel.
pub(crate) struct InputThread {
    rx: mpsc::Receiver<CliResult<Incoming>>,
}

impl InputThread {
    pub(crate) fn start(source: Input) -> InputThread {
        let (tx, rx) = mpsc::channel(CHANNEL_TABLES);
        // Detached: if the async side gives up, the thread ends at its next
        // send (or with the process, if it is blocked reading stdin).
        std::thread::spawn(move || {
            let mut reader = match input::InputReader::open(&source, &Columns::All) {
                Ok(reader) => reader,
                Err(err) => {
                    let _ = tx.blocking_send(Err(err));
                    return;
                }
            };
            if tx
                .blocking_send(Ok(Incoming::Schema(reader.schema().clone())))
                .is_err()
            {
                return;
            }
            loop {
                let item = match reader.next_table() {
                    Ok(Some(table)) => Ok(Incoming::Table(table, reader.done())),
                    Ok(None) => return,
                    Err(err) => Err(err),
                };
                let failed = item.is_err();
                if tx.blocking_send(item).is_err() || failed {
                    return;
                }
            }
        });
        InputThread { rx }
    }

    pub(crate) async fn schema(&mut self) -> CliResult<Arc<Schema>> {
        match self.rx.recv().await {
            Some(Ok(Incoming::Schema(schema))) => Ok(schema),
            Some(Err(err)) => Err(err),
            Some(Ok(Incoming::Table(..))) | None => Err(CliError::msg(
                "internal error: the input ended before its schema",
            )),
        }
    }

    /// The next table and the share of the input read so far (when known);
    /// `None` once the input has ended cleanly.
    pub(crate) async fn next(&mut self) -> CliResult<Option<(Table, Option<f64>)>> {
        match self.rx.recv().await {
            Some(Ok(Incoming::Table(table, done))) => Ok(Some((table, done))),
            Some(Err(err)) => Err(err),
            Some(Ok(Incoming::Schema(_))) => Err(CliError::msg(
                "internal error: a second schema from the input",
            )),
            None => Ok(None),
        }
    }
}

enum Outgoing {
    Table(Table),
    Message(IpcMessage),
    Finish,
}

/// `output.rs` on a thread of its own: writes the tables it is handed to a file
/// or stdout (blocking). Without an explicit finish (an error or a signal
/// dropped it), the output is abandoned: a partial file is removed.
pub(crate) struct OutputThread {
    tx: Option<mpsc::Sender<Outgoing>>,
    done: Option<oneshot::Receiver<CliResult<()>>>,
    thread: Option<JoinHandle<()>>,
}

impl OutputThread {
    pub(crate) fn start(target: Target, format: Format, schema: Arc<Schema>) -> OutputThread {
        Self::start_with(move || {
            output::OutputWriter::create(&target, format, schema, &output::WriteSettings::default())
        })
    }

    /// An IPC stream copied message by message, starting with `schema`
    /// (see [`output::OutputWriter::create_copy`]); hand it messages with
    /// [`OutputThread::write_message`].
    pub(crate) fn start_copy(target: Target, schema: IpcMessage) -> OutputThread {
        Self::start_with(move || output::OutputWriter::create_copy(&target, &schema))
    }

    fn start_with(
        create: impl FnOnce() -> CliResult<output::OutputWriter> + Send + 'static,
    ) -> OutputThread {
        let (tx, mut rx) = mpsc::channel::<Outgoing>(CHANNEL_TABLES);
        let (done_tx, done) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            let result = (|| {
                let mut writer = create()?;
                while let Some(message) = rx.blocking_recv() {
                    match message {
                        Outgoing::Table(table) => writer.write(&table)?,
                        Outgoing::Message(m) => writer.write_message(&m)?,
                        Outgoing::Finish => return writer.finish(),
                    }
                }
                // Abandoned: dropping the writer removes its temporary file.
                Err(CliError::Interrupted)
            })();
            let _ = done_tx.send(result);
        });
        OutputThread {
            tx: Some(tx),
            done: Some(done),
            thread: Some(thread),
        }
    }

    /// Hands over one table; `false` if the thread has stopped (see `result`).
    pub(crate) async fn write(&mut self, table: Table) -> bool {
        self.hand_over(Outgoing::Table(table)).await
    }

    /// Hands over one message of a copied stream; `false` as for `write`.
    pub(crate) async fn write_message(&mut self, message: IpcMessage) -> bool {
        self.hand_over(Outgoing::Message(message)).await
    }

    async fn hand_over(&mut self, item: Outgoing) -> bool {
        match &self.tx {
            Some(tx) => tx.send(item).await.is_ok(),
            None => false,
        }
    }

    /// Ends the output (end-of-stream marker or file footer, rename into place).
    pub(crate) async fn finish(self) -> CliResult<()> {
        if let Some(tx) = &self.tx {
            // A failed send means the thread already stopped with an error.
            let _ = tx.send(Outgoing::Finish).await;
        }
        self.result().await
    }

    /// How the thread ended.
    pub(crate) async fn result(mut self) -> CliResult<()> {
        self.tx = None;
        match self.done.take() {
            Some(done) => done.await.unwrap_or_else(|_| {
                Err(CliError::msg(
                    "internal error: the output thread ended early",
                ))
            }),
            None => Err(CliError::msg(
                "internal error: the output was already closed",
            )),
        }
    }
}

impl Drop for OutputThread {
    /// Abandoned (error, signal): tell the thread, and give it a moment to remove
    /// a partial file before the process exits. A thread blocked writing to a
    /// stalled stdout is not waited for beyond that.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + ABORT_WAIT;
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}
