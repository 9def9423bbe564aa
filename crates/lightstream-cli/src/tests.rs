//! Unit tests of the command line's parsing: flags, defaults, usage errors.

use super::*;
use clap::CommandFactory;

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn usage_errors_fit_on_one_line() {
    let err = Cli::try_parse_from(["lightstream", "convert", "a", "b", "--compression", "gzip"])
        .err()
        .expect("an invalid value is an error");
    let line = one_line(&err.render().to_string());
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains("gzip"), "{line}");
    assert!(line.contains("zstd"), "possible values are listed: {line}");
}

#[test]
fn errors_print_on_one_line() {
    assert_eq!(
        single_line("bad flatbuffer: unaligned.\n\n\twhile verifying\n [message 0]"),
        "bad flatbuffer: unaligned. while verifying [message 0]"
    );
    assert_eq!(single_line("plain"), "plain");
}

#[test]
fn output_options() {
    let cli = Cli::try_parse_from([
        "lightstream",
        "convert",
        "-",
        "-",
        "--to",
        "file",
        "--compression",
        "lz4",
        "--from",
        "csv",
        "--delimiter",
        "tab",
        "--bad-rows",
        "skip",
        "--string-nulls",
        "quoting-ignored",
        "--threads",
        "3",
    ])
    .expect("valid arguments");
    let Command::Convert {
        input,
        output,
        from,
        out,
        columns,
    } = cli.command
    else {
        panic!("convert expected");
    };
    assert_eq!(input, PathBuf::from("-"));
    assert_eq!(output, PathBuf::from("-"));
    assert_eq!(columns.columns(), Columns::All);
    let options = out.options();
    assert_eq!(options.format, Some(Format::File));
    assert_eq!(options.settings.compression, Some(Codec::Lz4));
    let from = from.options();
    assert_eq!(from.from, Some(Format::Csv));
    assert_eq!(from.delimiter, Some(b'\t'));
    assert!(!from.no_header);
    assert_eq!(from.bad_rows, BadRowPolicy::Skip);
    assert_eq!(from.string_nulls, StringNulls::QuotingIgnored);
    assert_eq!(from.decode_threads(), 3);
}

#[test]
fn delimiters() {
    assert_eq!(parse_delimiter(";"), Ok(b';'));
    assert_eq!(parse_delimiter("|"), Ok(b'|'));
    assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
    assert_eq!(parse_delimiter("\t"), Ok(b'\t'));
    for bad in ["", ";;", "\"", "\n", "é"] {
        assert!(parse_delimiter(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn network_commands_parse_urls_and_flags() {
    let cli = Cli::try_parse_from([
        "lightstream",
        "serve",
        "tcp://127.0.0.1:0",
        "data.arrow",
        "--once",
        "--compression",
        "zstd",
    ])
    .expect("valid arguments");
    let Command::Serve {
        url,
        input,
        feed,
        once,
        compression,
        tls,
        timeout,
        rate,
        max_clients,
        framing,
    } = cli.command
    else {
        panic!("serve expected");
    };
    // At most 128 clients at once unless told otherwise.
    assert_eq!(max_clients, 128);
    assert!(!feed.given());
    // The Arrow IPC stream format byte for byte unless told otherwise.
    assert_eq!(framing.framing(), network::Framing::Ipc);
    assert_eq!(url, Endpoint::Tcp("127.0.0.1:0".into()));
    assert_eq!(input, vec![PathBuf::from("data.arrow")]);
    assert!(once);
    assert!(matches!(compression.compression(), Compression::Zstd));
    assert!(tls.tls().unwrap().cert_key.is_none());
    // serve drops a client that takes no data for a minute unless told otherwise.
    assert_eq!(timeout, Timeout(Some(std::time::Duration::from_secs(60))));
    // ... or that takes a message at under 16 KiB/s once the minute is up.
    let patience = rate.with(timeout);
    assert_eq!(patience.min_rate, Some(16 * 1024));

    let cli = Cli::try_parse_from([
        "lightstream",
        "recv",
        "quic://localhost:4433",
        "-",
        "--to",
        "file",
        "--ca",
        "ca.pem",
    ])
    .expect("valid arguments");
    let Command::Recv {
        url,
        output,
        to,
        tls,
        timeout,
        ..
    } = cli.command
    else {
        panic!("recv expected");
    };
    assert_eq!(timeout, Timeout(None));
    assert_eq!(url, Endpoint::Quic("localhost:4433".into()));
    assert_eq!(output, PathBuf::from("-"));
    assert_eq!(to.format(), Some(Format::File));
    let tls = tls.tls();
    assert_eq!(tls.ca, Some(PathBuf::from("ca.pem")));
    assert!(!tls.insecure);

    let cli = Cli::try_parse_from([
        "lightstream",
        "listen",
        "unix:///tmp/s.sock",
        "out.arrows",
        "--cert",
        "c.pem",
        "--key",
        "k.pem",
    ])
    .expect("valid arguments");
    let Command::Listen { url, tls, .. } = cli.command else {
        panic!("listen expected");
    };
    assert_eq!(url, Endpoint::Unix("/tmp/s.sock".into()));
    assert_eq!(
        tls.tls().unwrap().cert_key,
        Some((PathBuf::from("c.pem"), PathBuf::from("k.pem")))
    );

    for (url, want) in [
        ("tls://127.0.0.1:0", Endpoint::Tls("127.0.0.1:0".into())),
        (
            "wss://localhost:0/t",
            Endpoint::SecureWebSocket("wss://localhost:0/t".into()),
        ),
    ] {
        let cli = Cli::try_parse_from([
            "lightstream",
            "serve",
            url,
            "f.arrows",
            "--cert",
            "c.pem",
            "--key",
            "k.pem",
        ])
        .expect("valid arguments");
        let Command::Serve { url, tls, .. } = cli.command else {
            panic!("serve expected");
        };
        assert_eq!(url, want);
        assert!(tls.tls().unwrap().cert_key.is_some());
    }
    let cli = Cli::try_parse_from(["lightstream", "send", "wss://h:1/", "-", "--insecure"])
        .expect("valid arguments");
    let Command::Send { tls, .. } = cli.command else {
        panic!("send expected");
    };
    assert!(tls.tls().insecure);

    let cli = Cli::try_parse_from(["lightstream", "send", "-", "-"]).expect("stdio both ways");
    assert!(matches!(
        cli.command,
        Command::Send {
            url: Endpoint::Stdio,
            ..
        }
    ));
}

#[test]
fn bad_network_arguments_are_usage_errors() {
    let error = |args: &[&str]| {
        let err = Cli::try_parse_from(args).err().expect("a usage error");
        one_line(&err.render().to_string())
    };
    let line = error(&["lightstream", "recv", "ftp://x:1", "out"]);
    assert!(line.contains("unknown scheme"), "{line}");
    let line = error(&["lightstream", "recv", "tcp://x", "out"]);
    assert!(line.contains("missing :port"), "{line}");
    let line = error(&["lightstream", "serve", "quic://x:1", "f", "--cert", "c.pem"]);
    assert!(line.contains("--key"), "{line}");
    // serve and send put an Arrow IPC stream on the wire: snappy (a Parquet
    // codec) is not offered, and clap names the codecs that are.
    for command in ["serve", "send"] {
        let line = error(&[
            "lightstream",
            command,
            "tcp://x:1",
            "f",
            "--compression",
            "snappy",
        ]);
        assert!(
            line.contains("[possible values: none, zstd, lz4]"),
            "{line}"
        );
    }
    for bad in ["-1", "abc", "inf", "90000"] {
        let flag = format!("--timeout={bad}");
        let line = error(&["lightstream", "recv", "tcp://x:1", "out", &flag]);
        assert!(line.contains("is not a number of seconds"), "{bad}: {line}");
    }
    let ok = |arg: &str| parse_timeout(arg).expect("valid");
    assert_eq!(ok("0"), Timeout(None));
    assert_eq!(
        ok("2.5"),
        Timeout(Some(std::time::Duration::from_millis(2500)))
    );
    let line = error(&[
        "lightstream",
        "send",
        "quic://x:1",
        "f",
        "--insecure",
        "--ca",
        "ca.pem",
    ]);
    assert!(line.contains("--ca"), "{line}");
    let line = error(&[
        "lightstream",
        "recv",
        "tcp://x:1",
        "out",
        "--compression",
        "lz4",
    ]);
    assert!(
        line.contains("--compression"),
        "recv writes uncompressed: {line}"
    );
}

#[test]
fn sizes_take_k_m_g_suffixes() {
    assert_eq!(parse_size("0"), Ok(0));
    assert_eq!(parse_size("4096"), Ok(4096));
    assert_eq!(parse_size("64K"), Ok(64 << 10));
    assert_eq!(parse_size("16M"), Ok(16 << 20));
    assert_eq!(parse_size("16MiB"), Ok(16 << 20));
    assert_eq!(parse_size("2g"), Ok(2 << 30));
    for bad in ["", "M", "1.5M", "-1", "12X", "16 Mo"] {
        assert!(parse_size(bad).is_err(), "{bad:?}");
    }
    assert!(parse_size("2048G").unwrap_err().contains("1 TiB"));
}

#[test]
fn relay_and_a_live_serve_take_the_feed_options() {
    let cli = Cli::try_parse_from([
        "lightstream",
        "relay",
        "tcp://127.0.0.1:9000",
        "ws://127.0.0.1:0/",
        "--slow",
        "skip",
        "--max-lag",
        "1M",
        "--replay",
        "3",
    ])
    .expect("valid arguments");
    let Command::Relay {
        source, url, feed, ..
    } = cli.command
    else {
        panic!("relay expected");
    };
    assert!(matches!(source, crate::feed::Source::Url(_)));
    assert_eq!(url.to_string(), "ws://127.0.0.1:0/");
    let options = feed.options(7, Timeout(None));
    assert_eq!(options.policy, lightstream::hub::SlowPolicy::Skip);
    assert_eq!(
        (options.max_lag, options.replay, options.max_clients),
        (1 << 20, 3, 7)
    );
    assert!(
        Cli::try_parse_from(["lightstream", "relay", "-", "tcp://h:1", "--slow", "drop"]).is_err()
    );
}
