//! The CLI's one error type.
//!
//! What it is for: carrying a failure up to `main` as a single human sentence that
//! says what was being done and what went wrong (`reading data.arrow: truncated: ...`),
//! and telling a closed stdout (`lightstream cat big.arrows | head`) apart from a real
//! failure so the former ends quietly.
//!
//! What it is not: a place for recovery logic. Nothing is retried here.

use std::fmt;
use std::io;

/// Why a command stopped early.
#[derive(Debug)]
pub enum CliError {
    /// A failure to report: printed as `lightstream: <message>`, exit code 1.
    Failed(String),
    /// Arguments that parse but do not fit together (a `quic://` client without
    /// `--insecure` or `--ca`): printed as `lightstream: <message>`, exit code 2,
    /// like clap's own usage errors.
    Usage(String),
    /// Ctrl-C / SIGINT / SIGTERM stopped a transfer before it was complete:
    /// `lightstream: interrupted`, exit code 130.
    Interrupted,
    /// Whoever reads our stdout went away. Not an error for the user: exit quietly.
    BrokenPipe,
}

pub type CliResult<T> = Result<T, CliError>;

impl CliError {
    pub fn msg(message: impl Into<String>) -> Self {
        CliError::Failed(message.into())
    }

    /// An I/O failure while doing `context` (e.g. "reading data.arrow").
    pub fn io(context: impl fmt::Display, err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Failed(format!("{context}: {}", plain_io_error(&err)))
        }
    }

    /// A codec failure while doing `context`.
    pub fn core(context: impl fmt::Display, err: lightstream_core::Error) -> Self {
        CliError::Failed(format!("{context}: {err}"))
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    /// A failure of the network layer while doing `context` (e.g. "receiving from
    /// tcp://127.0.0.1:9000"). Transport errors already say what was being done and
    /// with whom (`reading from tcp 127.0.0.1:9000: Connection reset by peer`), so
    /// they stand alone; codec errors (bad bytes) get the context in front.
    ///
    /// `stdio`: the transport is stdin/stdout, where a broken pipe is a reader of
    /// our stdout going away (quiet), not a failure.
    pub fn net(context: impl fmt::Display, err: lightstream::Error, stdio: bool) -> Self {
        match err {
            lightstream::Error::Io { source, .. }
                if stdio && source.kind() == io::ErrorKind::BrokenPipe =>
            {
                CliError::BrokenPipe
            }
            lightstream::Error::Io {
                context: inner,
                source,
            } => CliError::Failed(format!("{inner}: {}", plain_io_error(&source))),
            lightstream::Error::Protocol(message) | lightstream::Error::Config(message) => {
                CliError::Failed(without_os_error_codes(&message))
            }
            // Already names the peer, how long and what was being done.
            timeout @ lightstream::Error::Timeout { .. } => CliError::Failed(timeout.to_string()),
            // The library's hint names its API; the command line has flags.
            lightstream::Error::Tls {
                peer,
                problem: lightstream::TlsProblem::UntrustedCertificate,
                detail,
            } => CliError::Failed(format!(
                "TLS handshake with {peer} failed: {detail} (the server's certificate is not \
                 signed by a trusted CA: pass that CA with --ca PEM, or --insecure to accept \
                 any certificate)"
            )),
            tls @ lightstream::Error::Tls { .. } => CliError::Failed(tls.to_string()),
            // A gRPC status: names the server, the call and its ticket or
            // descriptor, the code and the server's message.
            flight @ lightstream::Error::Flight { .. } => CliError::Failed(flight.to_string()),
            other => CliError::Failed(format!("{context}: {other}")),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Failed(message) | CliError::Usage(message) => f.write_str(message),
            CliError::Interrupted => f.write_str("interrupted"),
            CliError::BrokenPipe => f.write_str("output closed"),
        }
    }
}

/// `No such file or directory` rather than `No such file or directory (os error 2)`.
pub fn plain_io_error(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    }
}

/// Drops every ` (os error N)` from a message that embeds I/O errors.
fn without_os_error_codes(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(" (os error ") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + " (os error ".len()..];
        match tail.find(')') {
            Some(end) if end > 0 && tail[..end].bytes().all(|b| b.is_ascii_digit()) => {
                rest = &tail[end + 1..];
            }
            _ => {
                out.push_str(" (os error ");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `?` on I/O results with a context, for the common case.
pub trait IoContext<T> {
    fn context(self, context: impl fmt::Display) -> CliResult<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, context: impl fmt::Display) -> CliResult<T> {
        self.map_err(|e| CliError::io(context, e))
    }
}

/// `?` on codec results with a context.
pub trait CoreContext<T> {
    fn context(self, context: impl fmt::Display) -> CliResult<T>;
}

impl<T> CoreContext<T> for lightstream_core::Result<T> {
    fn context(self, context: impl fmt::Display) -> CliResult<T> {
        self.map_err(|e| CliError::core(context, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_is_quiet() {
        let err = CliError::io("writing", io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(matches!(err, CliError::BrokenPipe));
    }

    #[test]
    fn network_errors_read_as_one_sentence() {
        let reset = lightstream::Error::io(
            "reading from tcp 127.0.0.1:9",
            io::Error::from_raw_os_error(104),
        );
        let text = CliError::net("receiving from tcp://127.0.0.1:9", reset, false).to_string();
        assert!(text.starts_with("reading from tcp 127.0.0.1:9: "), "{text}");
        assert!(!text.contains("os error"), "{text}");

        let codec = lightstream::Error::Codec(lightstream_core::Error::new(
            lightstream_core::ErrorKind::Truncated,
            "the stream ended early",
        ));
        let text = CliError::net("receiving from tcp://h:1", codec, false).to_string();
        assert!(text.starts_with("receiving from tcp://h:1: "), "{text}");
        assert!(text.contains("the stream ended early"), "{text}");

        // A closed stdout is quiet on stdio only; elsewhere it is the peer leaving.
        let pipe = || lightstream::Error::io("writing to stdio", io::ErrorKind::BrokenPipe.into());
        assert!(matches!(
            CliError::net("sending", pipe(), true),
            CliError::BrokenPipe
        ));
        assert!(matches!(
            CliError::net("sending", pipe(), false),
            CliError::Failed(_)
        ));
    }

    #[test]
    fn os_error_codes_are_dropped_inside_messages() {
        assert_eq!(
            without_os_error_codes("reading a.pem: No such file (os error 2); again (os error 13)"),
            "reading a.pem: No such file; again"
        );
        assert_eq!(
            without_os_error_codes("plain (os error x)"),
            "plain (os error x)"
        );
        assert_eq!(without_os_error_codes("cut (os error 2"), "cut (os error 2");
    }

    #[test]
    fn os_error_codes_are_dropped() {
        let err = CliError::io("reading x", io::Error::from_raw_os_error(2));
        let text = err.to_string();
        assert!(text.starts_with("reading x: "), "{text}");
        assert!(!text.contains("os error"), "{text}");
    }
}
