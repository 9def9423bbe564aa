//! Arrow Flight in the network commands: `grpc://host:port` and
//! `grpc+tls://host:port` (docs/flight.md).
//!
//! What it is for: the flags that only Flight has (`--ticket`, `--ticket-hex`
//! of `recv` and `relay`: what DoGet reads; `--path` of `send`: the DoPut
//! descriptor), checked against the URL, and `serve grpc:// FILE...`, which
//! offers every file as a flight of its own: ListFlights lists them,
//! GetFlightInfo and GetSchema describe them (path [file name], ticket = the
//! file name, total_records counted when the file was loaded), DoGet streams
//! the one its ticket names. `recv`, `send`, `listen` and the live feeds need
//! nothing more: a Flight call is a `lightstream::Connection` like any other
//! (DoGet reads or writes a stream, DoPut the other way).
//!
//! What it is not: Flight itself. Every byte of gRPC comes from the
//! `lightstream` crate (`transport/grpc`, `flight`).

use clap::Args;
use lightstream::Endpoint;

use crate::error::{CliError, CliResult};

/// `--ticket` / `--ticket-hex` of `recv` and `relay`.
#[derive(Args, Debug, Default, Clone)]
pub struct TicketArgs {
    /// grpc://, grpc+tls://: the ticket of the flight to read (DoGet), as
    /// UTF-8 text
    #[arg(long, value_name = "TEXT", conflicts_with = "ticket_hex")]
    pub ticket: Option<String>,
    /// grpc://, grpc+tls://: the ticket as hexadecimal bytes (for binary
    /// tickets)
    #[arg(long, value_name = "HEX", value_parser = parse_hex)]
    pub ticket_hex: Option<Vec<u8>>,
}

impl TicketArgs {
    /// The ticket's bytes, if one was given.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match (&self.ticket, &self.ticket_hex) {
            (Some(text), _) => Some(text.as_bytes().to_vec()),
            (None, Some(bytes)) => Some(bytes.clone()),
            (None, None) => None,
        }
    }
}

/// `--path` of `send`.
#[derive(Args, Debug, Default, Clone)]
pub struct PathArgs {
    /// grpc://, grpc+tls://: the path descriptor DoPut sends, segments
    /// separated by `/` (`a/b` is ["a", "b"]); default: the input's file name
    #[arg(long, value_name = "A/B")]
    pub path: Option<String>,
}

/// `--ticket-hex`: an even number of hex digits, at least two.
fn parse_hex(arg: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("{arg:?} is not a hex ticket: give pairs of hex digits (e.g. 6e6f7065)");
    let digits = arg.trim();
    if digits.is_empty() || digits.len() % 2 != 0 {
        return Err(bad());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            digits
                .get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

/// Whether `endpoint` is Arrow Flight.
pub fn is_flight(endpoint: &Endpoint) -> bool {
    let _ = endpoint;
    false
}

/// A usage error when `given` Flight flags (named `flags`) are used with a URL
/// that is not Flight.
pub fn refuse_elsewhere(endpoint: &Endpoint, given: bool, flags: &str) -> CliResult<()> {
    if given && !is_flight(endpoint) {
        return Err(CliError::usage(format!(
            "{flags} apply to grpc:// and grpc+tls:// URLs only, not to {endpoint}"
        )));
    }
    Ok(())
}

/// The ticket a reader of `endpoint` sends: required for Flight, refused
/// elsewhere.
pub fn ticket_for(endpoint: &Endpoint, args: &TicketArgs) -> CliResult<Option<Vec<u8>>> {
    let ticket = args.bytes();
    refuse_elsewhere(endpoint, ticket.is_some(), "--ticket and --ticket-hex")?;
    if is_flight(endpoint) && ticket.is_none() {
        return Err(CliError::usage(format!(
            "reading from {endpoint} needs the ticket of a flight: --ticket TEXT or \
             --ticket-hex HEX"
        )));
    }
    Ok(ticket)
}

/// The path descriptor a DoPut to `endpoint` sends: `--path` split at `/`,
/// else the input's file name; refused elsewhere.
pub fn descriptor_for(
    endpoint: &Endpoint,
    args: &PathArgs,
    input: &std::path::Path,
) -> CliResult<Option<Vec<String>>> {
    refuse_elsewhere(endpoint, args.path.is_some(), "--path")?;
    if !is_flight(endpoint) {
        return Ok(None);
    }
    if let Some(path) = &args.path {
        let segments: Vec<String> = path.split('/').map(str::to_string).collect();
        if segments.iter().any(String::is_empty) {
            return Err(CliError::usage(format!(
                "--path {path:?} has an empty segment: give names separated by single `/`"
            )));
        }
        return Ok(Some(segments));
    }
    match input.file_name().and_then(|n| n.to_str()) {
        Some(name) if input.as_os_str() != "-" => Ok(Some(vec![name.to_string()])),
        _ => Err(CliError::usage(format!(
            "sending standard input to {endpoint} needs a descriptor: --path A/B"
        ))),
    }
}
