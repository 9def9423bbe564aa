//! Unix domain sockets: `unix:///path` carries the Arrow IPC stream format
//! byte for byte ([`Connection::from_unix`] wraps a socket you already have).
//!
//! A listener replaces a stale socket file (a server that died leaves one
//! behind) and removes its own when dropped.

use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

use crate::connection::{Acceptor, Connection, Listener, Pending};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

impl Connection {
    /// An existing Unix domain socket connection.
    pub fn from_unix(stream: UnixStream, path: &Path) -> Connection {
        let (r, w) = stream.into_split();
        Connection::from_io(r, w, format!("unix {}", path.display()))
    }
}

/// Connects to the socket at `path` (`endpoint` names it in errors).
pub(crate) async fn connect(path: &Path, endpoint: &Endpoint) -> Result<Connection> {
    let s = UnixStream::connect(path)
        .await
        .map_err(|e| Error::io(format!("connecting to {endpoint}"), e))?;
    Ok(Connection::from_unix(s, path))
}

/// Listens at `path`, replacing a socket file that is already there.
pub(crate) fn bind(path: &Path, endpoint: &Endpoint) -> Result<Listener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        let _ = std::fs::remove_file(path);
    }
    let l = UnixListener::bind(path).map_err(|e| Error::io(format!("binding {endpoint}"), e))?;
    let acceptor = UnixAcceptor {
        listener: l,
        path: path.to_path_buf(),
    };
    Ok(Listener::new(acceptor, Endpoint::Unix(path.to_path_buf())))
}

struct UnixAcceptor {
    listener: UnixListener,
    path: PathBuf,
}

impl Acceptor for UnixAcceptor {
    fn accept<'a>(&'a self, local: &'a Endpoint) -> Pending<'a, Connection> {
        Box::pin(async move {
            let (s, _) = self
                .listener
                .accept()
                .await
                .map_err(|e| Error::io(format!("accepting a connection on {local}"), e))?;
            Ok(Connection::from_unix(s, &self.path))
        })
    }
}

impl Drop for UnixAcceptor {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
