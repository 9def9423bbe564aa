//! `--allow-origin` and `--token-file`: who may open a stream on a
//! browser-facing server command (`serve`, `relay` and `demo` over
//! `ws://`, `wss://`, `http://`, `https://`), as one
//! [`lightstream::http::Access`]; and `--token-file` of the clients
//! (`recv`, `send`): the token they send.
//!
//! What it is for: the flags, their help text and their defaults, shared by
//! every command that takes them. What it is not: the check itself (the
//! library's `Access::check`).

use std::path::PathBuf;

use clap::Args;
use lightstream::http::{Access, Origins, TokenCheck};

use crate::error::{CliError, CliResult};

/// The access flags of a server command.
#[derive(Args, Clone, Debug, Default)]
pub struct AccessArgs {
    /// ws://, wss://, http://, https://: let pages of this origin
    /// (`https://app.example.com`) connect; repeat for more; `*` for any
    /// page. Without it, a browser page may connect only from the server's
    /// own host (`Origin` naming the host of `Host`, any port); clients that
    /// send no `Origin` (curl, pyarrow, `lightstream recv`) always may
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// ws://, wss://, http://, https://, grpc://, grpc+tls://: require a
    /// bearer token, one of the lines of FILE (empty lines and `#` comments
    /// skipped; letters, digits and -._~+ etc., base64url fits). Clients send
    /// `Authorization: Bearer TOKEN` (Flight: on every call, else
    /// UNAUTHENTICATED); browsers' WebSockets the subprotocol
    /// `lightstream.token.TOKEN`
    #[arg(long = "token-file", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

impl AccessArgs {
    /// Whether any access flag was given.
    pub fn given(&self) -> bool {
        !self.allow_origin.is_empty() || self.token_file.is_some()
    }

    /// The policy the flags say; `own` are the server's own origins, added
    /// to an `--allow-origin` list (a list does not trust `Host`, so the
    /// page the server itself serves must be on it).
    pub fn access(&self, own: &[String]) -> CliResult<Access> {
        let origins = if self.allow_origin.iter().any(|o| o == "*") {
            if self.allow_origin.len() > 1 {
                return Err(CliError::usage(
                    "--allow-origin '*' allows every origin: give it alone",
                ));
            }
            Origins::Any
        } else if self.allow_origin.is_empty() {
            Origins::SameHost
        } else {
            let mut list = Vec::new();
            for o in &self.allow_origin {
                list.push(origin(o)?);
            }
            list.extend(own.iter().cloned());
            Origins::List(list)
        };
        let token = match &self.token_file {
            None => None,
            Some(path) => Some(
                TokenCheck::from_file(path).map_err(|e| CliError::net("--token-file", e, false))?,
            ),
        };
        Ok(Access {
            origins,
            token,
            ..Access::default()
        })
    }
}

/// `--token-file` of a client command.
#[derive(Args, Clone, Debug, Default)]
pub struct TokenArg {
    /// ws://, wss://, http://, https://, grpc://, grpc+tls://: send the
    /// bearer token in FILE (its first line that is not empty or a `#`
    /// comment): `Authorization: Bearer TOKEN` over HTTP and on every Flight
    /// call, the subprotocol `lightstream.token.TOKEN` over WebSocket
    #[arg(long = "token-file", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

impl TokenArg {
    /// The token of the file, checked as a server checks its tokens
    /// (characters a browser could send); `None` without the flag.
    pub fn token(&self) -> CliResult<Option<String>> {
        let Some(path) = &self.token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::io(format!("reading the token file {}", path.display()), e))?;
        let token = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or_default();
        TokenCheck::tokens([token]).map_err(|e| {
            let e = lightstream::Error::Config(format!("token file {}: {e}", path.display()));
            CliError::net("--token-file", e, false)
        })?;
        Ok(Some(token.to_string()))
    }
}

/// An `--allow-origin` value as browsers send it: `scheme://host[:port]`,
/// no path.
fn origin(o: &str) -> CliResult<String> {
    let o = o.trim_end_matches('/');
    let rest = o
        .strip_prefix("http://")
        .or_else(|| o.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains('/') => Ok(o.to_ascii_lowercase()),
        _ => Err(CliError::usage(format!(
            "--allow-origin {o:?} is not an origin: give scheme://host[:port], as in \
             https://app.example.com or http://localhost:8080"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(origins: &[&str]) -> AccessArgs {
        AccessArgs {
            allow_origin: origins.iter().map(|s| s.to_string()).collect(),
            token_file: None,
        }
    }

    #[test]
    fn origins_default_to_same_host_and_lists_add_our_own() {
        let own = ["http://127.0.0.1:8080".to_string()];
        assert_eq!(args(&[]).access(&own).unwrap().origins, Origins::SameHost);
        assert_eq!(args(&["*"]).access(&own).unwrap().origins, Origins::Any);
        assert_eq!(
            args(&["https://App.example.com/"])
                .access(&own)
                .unwrap()
                .origins,
            Origins::List(vec![
                "https://app.example.com".to_string(),
                "http://127.0.0.1:8080".to_string()
            ])
        );
        assert!(args(&["app.example.com"]).access(&own).is_err());
        assert!(args(&["https://a.example/path"]).access(&own).is_err());
        assert!(args(&["*", "https://a.example"]).access(&own).is_err());
    }

    #[test]
    fn a_client_takes_the_first_token_of_its_file() {
        let path = std::env::temp_dir().join(format!("ls-client-token-{}", std::process::id()));
        std::fs::write(&path, "# mine\n\n  abc-DEF_1  \nsecond\n").unwrap();
        let arg = TokenArg {
            token_file: Some(path.clone()),
        };
        assert_eq!(arg.token().unwrap().as_deref(), Some("abc-DEF_1"));
        std::fs::write(&path, "has space\n").unwrap();
        assert!(arg.token().is_err());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(TokenArg::default().token().unwrap(), None);
    }

    #[test]
    fn a_missing_token_file_is_an_error_that_names_it() {
        let a = AccessArgs {
            token_file: Some("/nonexistent/tokens".into()),
            ..AccessArgs::default()
        };
        let e = a.access(&[]).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/tokens"), "{e}");
    }
}
