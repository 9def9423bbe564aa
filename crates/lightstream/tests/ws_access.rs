//! The built-in `ws://` and `wss://` listeners check
//! [`ServerOptions::access`] on the upgrade request, before any upgrade:
//! a page of a foreign origin gets `403` (cross-site WebSocket hijacking),
//! a missing or wrong token `401` with `WWW-Authenticate: Bearer`, and an
//! allowed request `101` naming the subprotocol `lightstream.arrow.v1` (never
//! the token). The client is tungstenite's own (requests as a browser sends
//! them: `Origin`, the token as a second subprotocol) and ours
//! (`ClientOptions::token`). Loopback only; every wait is bounded.

// `..Options::default()` fills fields that other features add.
#![allow(clippy::needless_update)]

use std::sync::Arc;
use std::time::Duration;

use lightstream::http::{Access, Origins, TokenCheck};
use lightstream::websocket::Role;
use lightstream::{ClientOptions, Error, Listener, ReadOptions, Schema, ServerOptions};
use lightstream_tests::harness::{check_int64_table, int64_table, run_bounded, within};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

const TOKEN: &str = "s3cret-Tok_en";

async fn listener(url: &str, access: Access) -> Listener {
    let options = ServerOptions {
        access,
        ..ServerOptions::default()
    };
    lightstream::bind(&url.parse().expect("url"), &options)
        .await
        .expect("bind")
}

/// The server's side of one client: write table 0 (10 rows), or the error
/// of the upgrade.
async fn serve_one(listener: &Listener) -> lightstream::Result<()> {
    let conn = listener.accept().await?;
    let t = int64_table(0, 10);
    let mut w = conn
        .writer(Arc::new(Schema::from_table(&t)), Default::default())
        .await?;
    w.write(&t).await?;
    w.finish().await.map(drop)
}

/// A browser-like upgrade with tungstenite's client: `Origin` and
/// `Sec-WebSocket-Protocol` as given. The status answered; on `101`, the
/// subprotocol answered and the stream read through.
async fn browser(
    url: &str,
    origin: Option<&str>,
    protocols: Option<&str>,
) -> (StatusCode, Option<String>) {
    let addr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .expect("addr");
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = url.into_client_request().expect("request");
    let headers = request.headers_mut();
    if let Some(o) = origin {
        headers.insert("Origin", HeaderValue::from_str(o).expect("origin"));
    }
    if let Some(p) = protocols {
        headers.insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(p).expect("protocols"),
        );
    }
    match tokio_tungstenite::client_async(request, tcp).await {
        Ok((ws, response)) => {
            let answered = response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.to_str().expect("ascii").to_string());
            let conn = lightstream::websocket::connection(ws, Role::Client, url);
            let tables = conn
                .reader(ReadOptions::default())
                .await
                .expect("reader")
                .read_all()
                .await
                .expect("tables");
            assert_eq!(tables.len(), 1);
            check_int64_table(&tables[0], 0, 10);
            (response.status(), answered)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            if response.status() == StatusCode::UNAUTHORIZED {
                let auth = response.headers().get("WWW-Authenticate");
                assert!(
                    auth.is_some_and(|v| v.as_bytes().starts_with(b"Bearer")),
                    "{auth:?}"
                );
            }
            (response.status(), None)
        }
        Err(e) => panic!("{url}: {e}"),
    }
}

/// An allow-list and a token on `ws://`: each refusal is its HTTP status
/// before the upgrade (the server reports `Error::Upgrade` with it), and
/// only an allowed origin (or none: not a browser) with the right token
/// upgrades.
#[test]
fn a_ws_listener_refuses_foreign_origins_and_bad_tokens_before_the_upgrade() {
    run_bounded("ws:// access", Duration::from_secs(60), async {
        let access = Access {
            origins: Origins::List(vec!["https://app.example".to_string()]),
            token: Some(TokenCheck::tokens([TOKEN]).expect("token")),
            ..Access::default()
        };
        let listener = listener("ws://127.0.0.1:0/feed", access).await;
        let url = listener.local_url().to_string();
        let good = format!("lightstream.arrow.v1, lightstream.token.{TOKEN}");
        let wrong = "lightstream.arrow.v1, lightstream.token.s3cret-Tok_eN";
        let not_ours = format!("chat, lightstream.token.{TOKEN}");
        let cases = [
            // Cross-site WebSocket hijacking: a foreign page, even with the
            // token (a cookie or a leaked token would not help it either).
            (Some("https://evil.example"), Some(good.as_str()), 403),
            (
                Some("https://app.example.evil.example"),
                Some(good.as_str()),
                403,
            ),
            (Some("https://app.example"), None, 401),
            (
                Some("https://app.example"),
                Some("lightstream.arrow.v1"),
                401,
            ),
            (Some("https://app.example"), Some(wrong), 401),
            // Subprotocols offered, ours not among them.
            (Some("https://app.example"), Some(not_ours.as_str()), 400),
            (Some("https://app.example"), Some(good.as_str()), 101),
            (None, Some(good.as_str()), 101),
        ];
        for (origin, protocols, status) in cases {
            let (served, (answered, protocol)) = within("one upgrade", 10, async {
                tokio::join!(serve_one(&listener), browser(&url, origin, protocols))
            })
            .await;
            let what = format!("{origin:?} {protocols:?}");
            assert_eq!(answered.as_u16(), status, "{what}");
            if status == 101 {
                served.expect(&what);
                // The subprotocol answered is ours, never the token.
                assert_eq!(protocol.as_deref(), Some("lightstream.arrow.v1"), "{what}");
            } else {
                match served {
                    Err(Error::Upgrade { status: s, .. }) => assert_eq!(s, status, "{what}"),
                    other => panic!("{what}: {other:?}"),
                }
            }
        }
    });
}

/// The default policy (same host) on `ws://`: a page of the server's own
/// host upgrades, on any port; a page of another site (another host) does
/// not; a client that offers no subprotocol gets none named.
#[test]
fn a_ws_listener_lets_in_its_own_origin_by_default() {
    run_bounded("ws:// default access", Duration::from_secs(60), async {
        let listener = listener("ws://127.0.0.1:0/feed", Access::default()).await;
        let url = listener.local_url().to_string();
        let host = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("host");
        let own = format!("http://{host}");
        let cases = [
            (Some(own.as_str()), None, 101, None),
            (
                Some(own.as_str()),
                Some("lightstream.arrow.v1"),
                101,
                Some("lightstream.arrow.v1"),
            ),
            (None, None, 101, None),
            (Some("https://evil.example"), None, 403, None),
            (Some("http://127.0.0.1:1"), None, 101, None),
            (Some("http://localhost:1"), None, 403, None),
            (Some("http://127.0.0.1.evil.example"), None, 403, None),
        ];
        for (origin, protocols, status, named) in cases {
            let (served, (answered, protocol)) = within("one upgrade", 10, async {
                tokio::join!(serve_one(&listener), browser(&url, origin, protocols))
            })
            .await;
            assert_eq!(answered.as_u16(), status, "{origin:?}");
            assert_eq!(protocol.as_deref(), named, "{origin:?}");
            assert_eq!(served.is_ok(), status == 101, "{origin:?}: {served:?}");
        }
    });
}

/// Our own client over `wss://` (self-signed): `ClientOptions::token` goes
/// as `Authorization: Bearer` (a native client can set headers) and is let
/// in; without it the server answers 401 and the client's error says so.
#[test]
fn our_wss_client_sends_its_token() {
    run_bounded("wss:// token", Duration::from_secs(60), async {
        let (certs, key) = lightstream::tls::self_signed(&["127.0.0.1"]).expect("cert");
        let options = ServerOptions {
            tls: Some(lightstream::tls::server_config(certs, key).expect("config")),
            access: Access {
                token: Some(TokenCheck::tokens([TOKEN]).expect("token")),
                ..Access::default()
            },
            ..ServerOptions::default()
        };
        let listener = lightstream::bind(&"wss://127.0.0.1:0/t".parse().expect("url"), &options)
            .await
            .expect("bind");
        let url = listener.local_url().clone();
        let insecure = lightstream::tls::client_config_insecure().expect("client config");
        for token in [Some(TOKEN), None, Some("wrong")] {
            let client = ClientOptions {
                tls: Some(insecure.clone()),
                token: token.map(str::to_string),
                ..ClientOptions::default()
            };
            let read = async {
                let conn = lightstream::connect(&url, &client).await?;
                conn.reader(ReadOptions::default()).await?.read_all().await
            };
            let (served, read) = within("one wss client", 10, async {
                tokio::join!(serve_one(&listener), read)
            })
            .await;
            match token {
                Some(TOKEN) => {
                    served.expect("served");
                    let tables = read.expect("read");
                    check_int64_table(&tables[0], 0, 10);
                }
                _ => {
                    assert!(
                        matches!(served, Err(Error::Upgrade { status: 401, .. })),
                        "{served:?}"
                    );
                    let e = read.expect_err("refused").to_string();
                    assert!(e.contains("401"), "{token:?}: {e}");
                }
            }
        }
    });
}
