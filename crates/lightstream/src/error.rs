//! The error type of the native shell.
//!
//! Bytes that are not valid Arrow IPC (or break [`lightstream_core::DecodeLimits`])
//! keep the codec's own error, with its kind and location. Everything the
//! transport adds (a failed connect, a reset socket, a WebSocket or QUIC
//! protocol error, a bad certificate or URL, a timeout) names what was being
//! done and with whom. Parquet files (`lightstream::parquet`, feature `parquet`)
//! report [`Error::Parquet`], naming the file, row group and column.

use std::fmt;

/// Everything that can go wrong while streaming tables.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The bytes were not a valid Arrow IPC stream, broke a decode limit, or
    /// ended in the middle of a message (kind [`lightstream_core::ErrorKind::Truncated`]).
    Codec(lightstream_core::Error),
    /// The transport failed while `context` (for example "reading from tcp 127.0.0.1:9000").
    Io {
        /// What was being done, and with which peer.
        context: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The peer broke the transport's protocol (a text WebSocket message, a
    /// refused handshake, a QUIC stream reset, a connection closed by the peer
    /// with an error code).
    Protocol(String),
    /// A setting was unusable: a URL, a certificate or key, a TLS configuration.
    Config(String),
    /// A Parquet file could not be read or written: the message names the file
    /// (when reading), the row group and column where known, and what failed
    /// (a corrupt footer or page, a type minarrow cannot hold, a value that does
    /// not fit the target type).
    Parquet(String),
}

/// `Result` with the shell's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error while doing `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The codec's error, when this is one.
    pub fn as_codec(&self) -> Option<&lightstream_core::Error> {
        match self {
            Error::Codec(e) => Some(e),
            _ => None,
        }
    }

    /// The codec's error kind, when this is a codec error.
    pub fn codec_kind(&self) -> Option<lightstream_core::ErrorKind> {
        self.as_codec().map(lightstream_core::Error::kind)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Codec(e) => write!(f, "{e}"),
            Error::Io { context, source } => write!(f, "I/O error while {context}: {source}"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::Config(m) => write!(f, "configuration error: {m}"),
            Error::Parquet(m) => write!(f, "parquet error: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Codec(e) => Some(e),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<lightstream_core::Error> for Error {
    fn from(e: lightstream_core::Error) -> Self {
        Error::Codec(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_say_what_was_being_done() {
        let e = Error::io(
            "reading from tcp 127.0.0.1:9",
            std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        );
        assert_eq!(
            e.to_string(),
            "I/O error while reading from tcp 127.0.0.1:9: connection reset"
        );
        assert!(e.codec_kind().is_none());
    }
}
