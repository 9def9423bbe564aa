//! The one error type of the codec.
//!
//! Every failure says what was wrong ([`ErrorKind`] plus a sentence) and where
//! ([`Location`]: message index, byte offset, line and column of a text
//! input, field name, Arrow type), so a user
//! looking at a bad stream knows which bytes to blame. Not for I/O errors of a
//! transport: shells wrap those in their own types and keep this one for bytes.
//!
//! ```
//! use lightstream_core::minarrow::{fa_i64, tbl};
//! use lightstream_core::{read_ipc, write_stream, ErrorKind, ReadOptions, Schema};
//!
//! let table = tbl!("t", fa_i64!("id", 1, 2, 3));
//! let bytes = write_stream(&Schema::from_table(&table), &[table], &Default::default())?;
//! // The stream cut off inside its record batch.
//! let err = read_ipc(&bytes[..bytes.len() - 20], ReadOptions::default()).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Truncated);
//! assert_eq!(err.location().message_index, Some(1)); // the batch after the schema
//! assert_eq!(
//!     err.to_string(),
//!     "truncated input: input ended inside a message body (52 of 64 bytes) [message 1, byte offset 128]"
//! );
//! # Ok::<(), lightstream_core::Error>(())
//! ```

use std::fmt;

/// What kind of problem an [`Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not valid Arrow IPC (bad framing, flatbuffer, lengths or offsets).
    Malformed,
    /// Valid Arrow, but a type or feature Lightstream does not hold (lists, structs, ...).
    Unsupported,
    /// A size or count on the wire is above the configured [`crate::DecodeLimits`].
    LimitExceeded,
    /// Well-framed buffers whose contents break the columnar format (bad UTF-8,
    /// out-of-range dictionary key, non-monotonic offsets, ...).
    InvalidData,
    /// The input ended in the middle of a message.
    Truncated,
    /// A compressed buffer could not be decompressed or compressed.
    Compression,
    /// A table does not match the schema it is written with, or an API misuse.
    Schema,
    /// An I/O error from a `std::io::Write` sink the caller supplied.
    Io,
}

impl ErrorKind {
    fn label(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed Arrow IPC",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::LimitExceeded => "limit exceeded",
            ErrorKind::InvalidData => "invalid data",
            ErrorKind::Truncated => "truncated input",
            ErrorKind::Compression => "compression error",
            ErrorKind::Schema => "schema mismatch",
            ErrorKind::Io => "I/O error",
        }
    }
}

/// Where in the input an error was found. Every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// Zero-based index of the IPC message in the stream or file.
    pub message_index: Option<u64>,
    /// Byte offset of the message (or of the offending bytes) in the input.
    pub byte_offset: Option<u64>,
    /// Name of the field (column) being decoded.
    pub field: Option<String>,
    /// The field's Arrow type, as Arrow names it.
    pub arrow_type: Option<String>,
    /// 1-based line of a text input (CSV: the physical line, line breaks
    /// inside quoted fields counted, on which the offending field starts).
    pub line: Option<u64>,
    /// 1-based column of a text input (CSV: the field index in the record).
    pub column: Option<u64>,
}

impl Location {
    fn is_empty(&self) -> bool {
        self.message_index.is_none()
            && self.byte_offset.is_none()
            && self.field.is_none()
            && self.arrow_type.is_none()
            && self.line.is_none()
            && self.column.is_none()
    }
}

/// The error type of `lightstream-core`.
///
/// A kind to match on, a sentence, and where it happened; layers add what
/// they know as the error passes through them.
///
/// ```
/// use lightstream_core::{Error, ErrorKind};
///
/// let err = Error::new(ErrorKind::InvalidData, r#"cannot read "abc" as double"#)
///     .at_cell(5, 2)
///     .in_field("price", "double");
/// assert_eq!(err.location().line, Some(5));
/// assert_eq!(
///     err.to_string(),
///     r#"invalid data: cannot read "abc" as double [line 5, column 2, field "price" (double)]"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// Boxed so that `Result<T, Error>` stays small (clippy's
    /// `result_large_err`): the location holds six optional parts.
    location: Box<Location>,
}

/// `Result` with the codec's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a sentence saying what was wrong.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            location: Box::default(),
        }
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidData, message)
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    pub(crate) fn schema(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Schema, message)
    }

    pub(crate) fn limit(what: &str, value: u64, limit: u64) -> Self {
        Self::new(
            ErrorKind::LimitExceeded,
            format!("{what} is {value}, above the limit of {limit} (see DecodeLimits)"),
        )
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The sentence saying what was wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the error was found.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Sets the message index unless an inner layer already set it.
    pub fn at_message(mut self, index: u64) -> Self {
        self.location.message_index.get_or_insert(index);
        self
    }

    /// Sets the byte offset unless an inner layer already set it.
    pub fn at_offset(mut self, offset: u64) -> Self {
        self.location.byte_offset.get_or_insert(offset);
        self
    }

    /// Sets the 1-based line of a text input unless an inner layer already set it.
    pub fn at_line(mut self, line: u64) -> Self {
        self.location.line.get_or_insert(line);
        self
    }

    /// Sets the 1-based column (field index) of a text input unless an inner
    /// layer already set it.
    pub fn at_column(mut self, column: u64) -> Self {
        self.location.column.get_or_insert(column);
        self
    }

    /// Sets the line and column of a text input (each unless already set).
    pub fn at_cell(self, line: u64, column: u64) -> Self {
        self.at_line(line).at_column(column)
    }

    /// Sets the field name alone (a protobuf field of a Flight message, which
    /// has no Arrow type) unless an inner layer already set it.
    #[cfg_attr(not(feature = "flight"), allow(dead_code))]
    pub(crate) fn at_field(mut self, name: impl Into<String>) -> Self {
        if self.location.field.is_none() {
            self.location.field = Some(name.into());
        }
        self
    }

    /// Sets the field name and its Arrow type unless an inner layer already set them.
    pub fn in_field(mut self, name: &str, arrow_type: impl fmt::Display) -> Self {
        if self.location.field.is_none() {
            self.location.field = Some(name.to_string());
            self.location.arrow_type = Some(arrow_type.to_string());
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.label(), self.message)?;
        if !self.location.is_empty() {
            let mut parts: Vec<String> = Vec::new();
            if let Some(l) = self.location.line {
                parts.push(format!("line {l}"));
            }
            if let Some(c) = self.location.column {
                parts.push(format!("column {c}"));
            }
            if let Some(name) = &self.location.field {
                match &self.location.arrow_type {
                    Some(t) => parts.push(format!("field \"{name}\" ({t})")),
                    None => parts.push(format!("field \"{name}\"")),
                }
            }
            if let Some(i) = self.location.message_index {
                parts.push(format!("message {i}"));
            }
            if let Some(o) = self.location.byte_offset {
                parts.push(format!("byte offset {o}"));
            }
            write!(f, " [{}]", parts.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, e.to_string())
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match e.kind {
            ErrorKind::Truncated => std::io::ErrorKind::UnexpectedEof,
            _ => std::io::ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_what_and_where() {
        let e = Error::invalid("dictionary key 7 is out of range for a dictionary of 3 values")
            .in_field("city", "Dictionary<Int32, Utf8>")
            .at_message(4)
            .at_offset(1024);
        assert_eq!(
            e.to_string(),
            "invalid data: dictionary key 7 is out of range for a dictionary of 3 values \
             [field \"city\" (Dictionary<Int32, Utf8>), message 4, byte offset 1024]"
        );
        assert_eq!(e.kind(), ErrorKind::InvalidData);
    }

    #[test]
    fn display_names_line_and_column() {
        let e = Error::invalid("column \"price\": cannot read \"abc\" as double")
            .at_cell(5, 2)
            .in_field("price", "double");
        assert_eq!(
            e.to_string(),
            "invalid data: column \"price\": cannot read \"abc\" as double \
             [line 5, column 2, field \"price\" (double)]"
        );
        assert_eq!((e.location().line, e.location().column), (Some(5), Some(2)));
        assert!(!e.to_string().contains('\n'));
        let e = Error::invalid("x").at_line(3).at_line(9);
        assert_eq!(e.to_string(), "invalid data: x [line 3]");
    }

    #[test]
    fn inner_location_wins() {
        let e = Error::malformed("x").at_message(1).at_message(9);
        assert_eq!(e.location().message_index, Some(1));
    }
}
