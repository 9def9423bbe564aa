//! stdin / stdout: `-` carries the Arrow IPC stream format on this
//! process's standard streams ([`Connection::stdio`]). One connection per
//! process: a "listener" hands it out once.

use crate::connection::{Acceptor, Connection, Listener, Pending};
use crate::endpoint::Endpoint;

impl Connection {
    /// This process's stdin (for reading) and stdout (for writing).
    ///
    /// tokio hands stdio to blocking threads one write at a time and has no
    /// vectored writes, so stdout is buffered (1 MiB): the small pieces of a
    /// message (prefix, metadata, padding) go out together, while buffers
    /// larger than that bypass the buffer.
    pub fn stdio() -> Connection {
        let stdout = tokio::io::BufWriter::with_capacity(1 << 20, tokio::io::stdout());
        Connection::from_io(tokio::io::stdin(), stdout, "stdio")
    }
}

/// A "listener" whose one connection is stdin/stdout; a second accept waits
/// forever.
pub(crate) fn bind() -> Listener {
    Listener::new(
        StdioAcceptor(tokio::sync::Mutex::new(false)),
        Endpoint::Stdio,
    )
}

/// Whether the one connection was handed out.
struct StdioAcceptor(tokio::sync::Mutex<bool>);

impl Acceptor for StdioAcceptor {
    fn accept<'a>(&'a self, _: &'a Endpoint) -> Pending<'a, Connection> {
        Box::pin(async move {
            let mut taken = self.0.lock().await;
            if *taken {
                std::future::pending::<()>().await;
            }
            *taken = true;
            Ok(Connection::stdio())
        })
    }
}
