//! vastar's HTTP/2 client end to end (`--http2`), on every backend,
//! against the built-in server (`vastar serve --http2`): h2c with prior
//! knowledge and h2 by ALPN over TLS, exact counts with `-n` at several
//! `-c` and `--streams` (the server's own count agrees), GOAWAY crossed
//! thousands of times with nothing lost or sent twice, `-z`, and a server
//! that does not agree to h2 named in one line.

mod common;

use std::net::SocketAddr;

use common::{accounted, config, each_backend, run_slow, statuses, text, vastar};
use vastar::server::{Server, ServerOptions};
use vastar::summary::Protocol;
use vastar::tls::{self_signed, server_config};

fn server(options: ServerOptions) -> Server {
    Server::start(SocketAddr::from(([127, 0, 0, 1], 0)), options).unwrap()
}

fn h2c(limit: Option<u32>) -> Server {
    server(ServerOptions { http2: true, max_streams_per_connection: limit, ..ServerOptions::default() })
}

#[test]
fn exact_counts_over_h2c_at_several_connection_and_stream_counts() {
    each_backend(|backend| {
        for (c, streams, n) in [(1, 1, 300), (2, 10, 1001), (5, 100, 2345), (3, 7, 10)] {
            let srv = h2c(None);
            let url = format!("http://{}/", srv.addr());
            let (c, streams, n) = (c.to_string(), streams.to_string(), n.to_string());
            let outcome = run_slow(config(&["--http2", "--streams", &streams, "-c", &c, "-n", &n], &url), backend);
            let want: u64 = n.parse().unwrap();
            assert_eq!(accounted(&outcome), (want, 0, 0), "-c {c} --streams {streams} -n {n}");
            assert_eq!(statuses(&outcome), vec![(200, want)]);
            assert_eq!(srv.requests(), want, "the server answered each request once");
        }
    });
}

#[test]
fn goaway_after_every_few_streams_is_crossed_thousands_of_times_with_exact_counts() {
    each_backend(|backend| {
        for (limit, c, streams) in [(1, 2, 1), (3, 4, 10), (7, 2, 100)] {
            let srv = h2c(Some(limit));
            let url = format!("http://{}/", srv.addr());
            let args = ["--http2", "--streams", &streams.to_string(), "-c", &c.to_string(), "-n", "5000"];
            let outcome = run_slow(config(&args, &url), backend);
            assert_eq!(accounted(&outcome), (5000, 0, 0), "limit {limit}, -c {c}, --streams {streams}");
            assert_eq!(srv.requests(), 5000, "nothing the server processed was sent twice");
        }
    });
}

#[test]
fn a_duration_run_counts_every_stream_started_once() {
    each_backend(|backend| {
        let srv = h2c(Some(50));
        let url = format!("http://{}/", srv.addr());
        let outcome = run_slow(config(&["--http2", "--streams", "10", "-c", "4", "-z", "300ms"], &url), backend);
        let (responses, errors, aborted) = accounted(&outcome);
        assert!(responses > 0 && errors == 0 && aborted <= 40, "{responses} {errors} {aborted}");
        let served = srv.requests();
        assert!(served >= responses && served <= responses + aborted, "{served} served");
    });
}

/// The open model over HTTP/2: `--stages` sends what each interval asks
/// for, the streams of a connection sharing the schedule's starts, and
/// nothing sent is counted as aborted; `-q` paces each stream (so `-c 2
/// --streams 3 -q 50` asks 300 requests/s).
#[test]
fn stages_and_per_stream_pacing_keep_their_rate_over_h2() {
    use vastar::stats::{Segment, Shape};
    each_backend(|backend| {
        let srv = h2c(Some(500));
        let url = format!("http://{}/", srv.addr());
        let args = ["--http2", "--streams", "4", "-c", "5", "--stages", "1s:300,1s:300..900", "--interval", "1s"];
        let outcome = run_slow(config(&args, &url), backend);
        let seg = |over_s, from, to| Segment { over_s, from, to };
        let shape = Shape::new(vec![seg(1.0, 300.0, 300.0), seg(1.0, 300.0, 900.0)]).unwrap();
        common::assert_follows(&outcome, &shape);
        assert_eq!(accounted(&outcome).1, 0, "no errors across the GOAWAYs");

        let args = ["--http2", "--streams", "3", "-c", "2", "-q", "50", "-z", "2s"];
        let outcome = run_slow(config(&args, &url), backend);
        let (responses, errors, aborted) = accounted(&outcome);
        let issued = (responses + errors + aborted) as f64;
        assert!((issued - 600.0).abs() <= 12.0, "{issued} issued in 2 s at 6 streams x 50/s");
        assert_eq!(errors, 0);
    });
}

/// A TLS server with a fresh self-signed certificate, and the CA file the client trusts.
fn tls_server(http2: bool) -> (Server, std::path::PathBuf) {
    let made = self_signed(std::time::SystemTime::now()).unwrap();
    let tls = server_config(made.identity(), None).unwrap();
    let options = ServerOptions { http2, tls: Some(tls), ..ServerOptions::default() };
    let ca = std::env::temp_dir().join(format!("vastar-h2-ca-{}-{http2}.pem", std::process::id()));
    std::fs::write(&ca, made.cert_pem()).unwrap();
    (server(options), ca)
}

#[test]
fn over_tls_h2_is_negotiated_by_alpn_with_exact_counts() {
    let (srv, ca) = tls_server(true);
    let url = format!("https://localhost:{}/", srv.addr().port());
    each_backend(|backend| {
        let before = srv.requests();
        let args = ["--http2", "--streams", "10", "-c", "3", "-n", "1500", "--cacert", ca.to_str().unwrap()];
        let outcome = run_slow(config(&args, &url), backend);
        assert_eq!(accounted(&outcome), (1500, 0, 0));
        assert_eq!(srv.requests() - before, 1500);
    });
}

#[test]
fn a_server_that_does_not_agree_to_h2_stops_the_run_with_one_line() {
    let (srv, ca) = tls_server(false);
    let url = format!("https://localhost:{}/", srv.addr().port());
    for backend in common::backend_flags() {
        let out =
            vastar(&["--http2", "-n", "20", "-c", "2", "--backend", backend, "--cacert", ca.to_str().unwrap(), &url]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{backend}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{backend}: {err}");
        assert!(err.contains("did not agree to HTTP/2 (h2) in ALPN"), "{backend}: {err}");
    }
    assert_eq!(srv.requests(), 0, "nothing was sent over HTTP/1.1 instead");
}

#[test]
fn the_report_and_json_say_the_protocol_and_hey_h2_is_http2() {
    let srv = h2c(None);
    let url = format!("http://{}/", srv.addr());
    let out = vastar(&["-h2", "--streams", "10", "-c", "2", "-n", "200", "--no-color", &url]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(report.contains("  Protocol:     HTTP/2, 10 streams per connection\n"), "{report}");
    let out = vastar(&["--http2", "-c", "2", "-n", "200", "-o", "json", "--quiet", &url]);
    let json = text(&out.stdout);
    assert!(json.contains("\"protocol\": \"HTTP/2\"") && json.contains("\"streams_per_connection\": 1"), "{json}");
    let doc = vastar::result::ResultDoc::parse(&json).unwrap();
    assert_eq!(doc.run_info().protocol, Protocol::Http2 { streams: Some(1) });
    assert_eq!(srv.requests(), 400);
    let plain = vastar(&["-c", "1", "-n", "5", "--no-color", &url]);
    assert!(!text(&plain.stdout).contains("Protocol:"), "HTTP/1.1 reports stay as they were");
}

#[test]
fn flags_that_make_no_sense_over_h2_are_refused_in_one_line() {
    common::refused_with_one_line(&["--streams", "10"], "--streams: applies to HTTP/2 only: add --http2");
    common::refused_with_one_line(&["--http2", "--streams", "0"], "from 1 to 10000");
    common::refused_with_one_line(&["--http2", "--streams", "many"], "from 1 to 10000");
    common::refused_with_one_line(&["--http2", "--disable-keepalive"], "does not go with --http2");
}

#[test]
fn the_demo_speaks_http2() {
    for extra in [&[][..], &["--tls"][..]] {
        let out =
            vastar(&[&["--demo", "--http2", "--streams", "4", "-c", "2", "-n", "400", "--no-color"], extra].concat());
        let report = text(&out.stdout);
        assert!(out.status.success(), "{extra:?}: {}", text(&out.stderr));
        assert!(report.contains("Protocol:     HTTP/2, 4 streams per connection"), "{report}");
        assert!(report.contains("  [200] 400 responses"), "{report}");
    }
}
