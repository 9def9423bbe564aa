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
    pub ticket_hex: Option<HexBytes>,
    /// grpc+tls://, grpc://: send the token (--token-file) to every server a
    /// flight's endpoint locations name; by default only to those on the
    /// server's own host (without dropping TLS): a server may name any host
    #[arg(long)]
    pub send_token_to_locations: bool,
}

/// The bytes of `--ticket-hex` (a type of its own: clap reads a `Vec` as
/// repeated values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

impl TicketArgs {
    /// The ticket's bytes, if one was given.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match (&self.ticket, &self.ticket_hex) {
            (Some(text), _) => Some(text.as_bytes().to_vec()),
            (None, Some(HexBytes(bytes))) => Some(bytes.clone()),
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
fn parse_hex(arg: &str) -> Result<HexBytes, String> {
    let bad = || format!("{arg:?} is not a hex ticket: give pairs of hex digits (e.g. 6e6f7065)");
    let digits = arg.trim();
    // from_str_radix alone would take a sign ("+1").
    if digits.is_empty() || digits.len() % 2 != 0 || !digits.bytes().all(|b| b.is_ascii_hexdigit())
    {
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
        .collect::<Result<Vec<u8>, String>>()
        .map(HexBytes)
}

/// Whether `endpoint` is Arrow Flight.
pub fn is_flight(endpoint: &Endpoint) -> bool {
    matches!(endpoint, Endpoint::Grpc { .. } | Endpoint::GrpcTls { .. })
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

/// The ticket a reader of `endpoint` sends: `--ticket` / `--ticket-hex`, or
/// none when the URL names the flight (`/?ticket=T`, or a descriptor
/// `/?path=a/b` read through GetFlightInfo); one of them is required for
/// Flight, both is a usage error, and the flags are refused elsewhere.
pub fn ticket_for(endpoint: &Endpoint, args: &TicketArgs) -> CliResult<Option<Vec<u8>>> {
    let ticket = args.bytes();
    refuse_elsewhere(endpoint, ticket.is_some(), "--ticket and --ticket-hex")?;
    if !is_flight(endpoint) {
        return Ok(ticket);
    }
    match (endpoint.flight_name(), &ticket) {
        (Some(name), Some(_)) => Err(CliError::usage(format!(
            "{endpoint} names its flight (`{name}`): drop --ticket / --ticket-hex, or the \
             URL's query"
        ))),
        (None, None) => Err(CliError::usage(format!(
            "reading from {endpoint} needs the ticket of a flight: --ticket TEXT, \
             --ticket-hex HEX, or in the URL: {endpoint}/?ticket=TEXT (or /?path=A/B to read \
             every endpoint GetFlightInfo lists)"
        ))),
        _ => Ok(ticket),
    }
}

/// The path descriptor a DoPut to `endpoint` sends: `--path` split at `/`,
/// else none when the URL names a descriptor (`/?path=a/b`, `/?cmd=C`),
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
    match endpoint.flight_name() {
        Some(lightstream::FlightName::Ticket(_)) => {
            return Err(CliError::usage(format!(
                "{endpoint} names a ticket, which is for reading: a DoPut needs a descriptor \
                 (/?path=A/B or --path A/B)"
            )));
        }
        Some(name) if args.path.is_some() => {
            return Err(CliError::usage(format!(
                "{endpoint} names its descriptor (`{name}`): drop --path, or the URL's query"
            )));
        }
        Some(_) => return Ok(None),
        None => {}
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
            "sending standard input to {endpoint} needs a descriptor: --path A/B, or \
             {endpoint}/?path=A/B"
        ))),
    }
}

/// Which Flight call a command takes: `serve` and the live feeds take
/// DoGet (they write), `listen` takes DoPut (it reads).
#[cfg(feature = "flight")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    Gets,
    Puts,
}

/// `conn` when it is the call `takes` wants (or not a Flight call at all);
/// a Flight call of the other kind is answered `UNIMPLEMENTED` (one line on
/// stderr) and `None` returned. A DoPut that is taken is named on stderr.
#[cfg(feature = "flight")]
pub async fn admit(conn: lightstream::Connection, takes: Takes) -> Option<lightstream::Connection> {
    use lightstream::flight::{FlightCode, FlightRequest};
    let peer = conn.peer().to_string();
    let (wanted, refusal) = match conn.flight_request() {
        None => return Some(conn),
        Some(FlightRequest::DoGet { .. }) => (
            takes == Takes::Gets,
            "this server takes one DoPut (lightstream listen); it serves no flights",
        ),
        Some(FlightRequest::DoPut { descriptor }) => {
            if takes == Takes::Puts {
                crate::network::report(&CliError::msg(format!(
                    "note: DoPut of {descriptor} from {peer}"
                )));
            }
            (
                takes == Takes::Puts,
                "this server serves flights (DoGet); it takes no DoPut",
            )
        }
        Some(_) => (false, "this server answers DoGet or DoPut only"),
    };
    if wanted {
        return Some(conn);
    }
    crate::network::report(&CliError::msg(format!("client {peer} refused: {refusal}")));
    let _ = conn.reject(FlightCode::Unimplemented, refusal).await;
    None
}

/// One flight of `serve grpc://`: a file loaded once, named by its file name.
#[cfg(feature = "flight")]
struct ServedFlight {
    name: String,
    served: crate::network::Served,
}

/// The answers of `serve grpc://` to ListFlights, GetFlightInfo and
/// GetSchema: one flight per file.
#[cfg(feature = "flight")]
struct Files(Vec<lightstream::flight::FlightInfo>);

#[cfg(feature = "flight")]
impl lightstream::flight::FlightCatalog for Files {
    fn list_flights<'a>(
        &'a self,
        _criteria: &'a [u8],
    ) -> lightstream::flight::CatalogFuture<'a, Vec<lightstream::flight::FlightInfo>> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }

    fn get_flight_info<'a>(
        &'a self,
        descriptor: &'a lightstream::flight::FlightDescriptor,
    ) -> lightstream::flight::CatalogFuture<'a, lightstream::flight::FlightInfo> {
        let found = self
            .0
            .iter()
            .find(|info| info.descriptor.as_ref() == Some(descriptor))
            .cloned()
            .ok_or_else(|| lightstream::Error::Flight {
                peer: String::new(),
                rpc: format!("GetFlightInfo {descriptor}"),
                code: lightstream::flight::FlightCode::NotFound,
                message: format!("no flight {descriptor}: this server has {}", self.names()),
            });
        Box::pin(std::future::ready(found))
    }
}

#[cfg(feature = "flight")]
impl Files {
    fn names(&self) -> String {
        let names: Vec<String> = self
            .0
            .iter()
            .filter_map(|info| info.descriptor.as_ref().map(ToString::to_string))
            .collect();
        names.join(", ")
    }
}

/// `serve grpc://HOST:PORT FILE...`: every file a flight (see the module
/// doc); DoGet calls are served like `serve`'s clients on other transports
/// (`--max-clients`, `--timeout`, `--once`).
#[cfg(feature = "flight")]
pub fn serve(
    endpoint: Endpoint,
    inputs: &[std::path::PathBuf],
    admission: crate::network::Admission,
    compression: lightstream_core::Compression,
    mut server: lightstream::ServerOptions,
    patience: crate::network::Patience,
) -> CliResult<()> {
    use std::sync::Arc;

    use lightstream::flight::{FlightDescriptor, FlightEndpoint, FlightInfo};

    let mut flights: Vec<ServedFlight> = Vec::new();
    for input in inputs {
        let name = input
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                CliError::usage(format!(
                    "{} has no file name to name its flight by",
                    input.display()
                ))
            })?
            .to_string();
        if flights.iter().any(|f| f.name == name) {
            return Err(CliError::usage(format!(
                "two inputs are named {name:?}: each flight is named by its file name"
            )));
        }
        let served = crate::network::Served::load(
            input,
            compression,
            patience,
            crate::network::Framing::Ipc,
        )?;
        flights.push(ServedFlight { name, served });
    }
    let infos = flights
        .iter()
        .map(|f| FlightInfo {
            schema: Some(f.served.schema()),
            descriptor: Some(FlightDescriptor::Path(vec![f.name.clone()])),
            endpoints: vec![FlightEndpoint {
                ticket: f.name.clone().into_bytes().into(),
                locations: Vec::new(),
                app_metadata: Default::default(),
            }],
            total_records: Some(f.served.rows()),
            total_bytes: None,
            ordered: false,
            app_metadata: Default::default(),
        })
        .collect();
    server.flight_catalog = Some(Arc::new(Files(infos)));
    let flights = Arc::new(flights);
    let crate::network::Admission { once, max_clients } = admission;
    let on_signal = if once {
        Err(CliError::Interrupted)
    } else {
        Ok(())
    };
    crate::network::run_until_signal(
        async move {
            let listener = crate::network::bind(&endpoint, &server).await?;
            if once {
                loop {
                    let conn = listener.accept().await.map_err(|e| {
                        CliError::net(format!("accepting on {}", listener.local_url()), e, false)
                    })?;
                    if serve_call(&flights, conn).await? {
                        let _ = listener.close(crate::network::CLOSE_GRACE).await;
                        return Ok(());
                    }
                }
            }
            let clients = Arc::new(tokio::sync::Semaphore::new(max_clients as usize));
            crate::network::accept_clients(&listener, clients, max_clients, |conn| {
                let flights = flights.clone();
                async move {
                    let peer = conn.peer().to_string();
                    if let Err(err) = serve_call(&flights, conn).await {
                        crate::network::report(&CliError::msg(format!(
                            "client {peer} failed: {err}"
                        )));
                    }
                }
            })
            .await
        },
        on_signal,
    )
}

/// One Flight call of `serve grpc://`: the DoGet of a known ticket streams
/// that file (`true` once sent); an unknown ticket is `NOT_FOUND`, a DoPut
/// `UNIMPLEMENTED` (`false`, one line on stderr).
#[cfg(feature = "flight")]
async fn serve_call(flights: &[ServedFlight], conn: lightstream::Connection) -> CliResult<bool> {
    use lightstream::flight::{FlightCode, FlightRequest};
    let Some(conn) = admit(conn, Takes::Gets).await else {
        return Ok(false);
    };
    let ticket = match conn.flight_request() {
        Some(FlightRequest::DoGet { ticket }) => ticket.clone(),
        _ => return Ok(false),
    };
    match flights
        .iter()
        .find(|f| f.name.as_bytes() == ticket.as_ref())
    {
        Some(flight) => flight.served.send_to(conn, false).await,
        None => {
            let names: Vec<&str> = flights.iter().map(|f| f.name.as_str()).collect();
            let message = format!(
                "no flight with ticket \"{}\" (tickets: {})",
                ticket.escape_ascii(),
                names.join(", ")
            );
            crate::network::report(&CliError::msg(format!(
                "client {} refused: {message}",
                conn.peer()
            )));
            let _ = conn.reject(FlightCode::NotFound, &message).await;
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(s: &str) -> Endpoint {
        s.parse().expect("valid URL")
    }

    #[test]
    fn hex_tickets_are_pairs_of_hex_digits() {
        assert_eq!(parse_hex("6e6f7065"), Ok(HexBytes(b"nope".to_vec())));
        assert_eq!(parse_hex("00FF"), Ok(HexBytes(vec![0, 255])));
        for bad in ["", "6", "zz", "6e6", "é1", "+1"] {
            assert!(parse_hex(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_ticket_is_required_over_flight_and_refused_elsewhere() {
        let grpc = endpoint("grpc://127.0.0.1:8815");
        let text = TicketArgs {
            ticket: Some("t".into()),
            ticket_hex: None,
            send_token_to_locations: false,
        };
        assert_eq!(ticket_for(&grpc, &text).ok(), Some(Some(b"t".to_vec())));
        let Err(CliError::Usage(m)) = ticket_for(&grpc, &TicketArgs::default()) else {
            panic!("a ticket is required");
        };
        assert!(m.contains("--ticket TEXT"), "{m}");
        let Err(CliError::Usage(m)) = ticket_for(&endpoint("tcp://h:1"), &text) else {
            panic!("no ticket over tcp");
        };
        assert!(m.contains("grpc:// and grpc+tls:// URLs only"), "{m}");
        assert_eq!(
            ticket_for(&endpoint("tcp://h:1"), &TicketArgs::default()).ok(),
            Some(None)
        );
        // The URL may name the flight instead; not both.
        for url in ["grpc://h:1/?ticket=t", "grpc://h:1/?path=a/b"] {
            assert_eq!(
                ticket_for(&endpoint(url), &TicketArgs::default()).ok(),
                Some(None),
                "{url}"
            );
            let Err(CliError::Usage(m)) = ticket_for(&endpoint(url), &text) else {
                panic!("URL and --ticket: {url}");
            };
            assert!(m.contains("names its flight"), "{m}");
        }
    }

    #[test]
    fn the_put_descriptor_is_the_path_or_the_file_name() {
        let grpc = endpoint("grpc+tls://localhost:1");
        let path = |p: &str| PathArgs {
            path: Some(p.into()),
        };
        let file = std::path::Path::new("dir/data.arrow");
        assert_eq!(
            descriptor_for(&grpc, &path("a/b"), file).ok(),
            Some(Some(vec!["a".to_string(), "b".to_string()]))
        );
        assert_eq!(
            descriptor_for(&grpc, &PathArgs::default(), file).ok(),
            Some(Some(vec!["data.arrow".to_string()]))
        );
        for bad in ["a//b", "/a", ""] {
            assert!(
                matches!(
                    descriptor_for(&grpc, &path(bad), file),
                    Err(CliError::Usage(_))
                ),
                "{bad:?}"
            );
        }
        let stdin = std::path::Path::new("-");
        assert!(matches!(
            descriptor_for(&grpc, &PathArgs::default(), stdin),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            descriptor_for(&endpoint("ws://h:1/"), &path("a"), file),
            Err(CliError::Usage(_))
        ));
        // A URL's descriptor is the library's to send; a ticket is no descriptor.
        let named = endpoint("grpc://h:1/?path=x/y");
        assert_eq!(
            descriptor_for(&named, &PathArgs::default(), stdin).ok(),
            Some(None)
        );
        for (url, args) in [
            ("grpc://h:1/?path=x/y", path("a")),
            ("grpc://h:1/?ticket=t", PathArgs::default()),
        ] {
            assert!(
                matches!(
                    descriptor_for(&endpoint(url), &args, file),
                    Err(CliError::Usage(_))
                ),
                "{url}"
            );
        }
    }
}
