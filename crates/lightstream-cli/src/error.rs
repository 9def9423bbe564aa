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
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Failed(message) => f.write_str(message),
            CliError::BrokenPipe => f.write_str("output closed"),
        }
    }
}

/// `No such file or directory` rather than `No such file or directory (os error 2)`.
fn plain_io_error(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    }
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
    fn os_error_codes_are_dropped() {
        let err = CliError::io("reading x", io::Error::from_raw_os_error(2));
        let text = err.to_string();
        assert!(text.starts_with("reading x: "), "{text}");
        assert!(!text.contains("os error"), "{text}");
    }
}
