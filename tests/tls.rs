//! HTTPS end to end, on every backend, against the built-in server over TLS
//! and against small hand-driven TLS servers that misbehave: exact counts,
//! handshakes (full, resumed, versions, client certificates), certificate
//! verification with its early stop, and faults during the handshake and
//! the response.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::{accounted, config, each_backend, raw_server, reset, run, run_within};
use vastar::server::{Server, ServerOptions};
use vastar::stats::ErrorKind;
use vastar::tls::{SelfSigned, self_signed, server_config};

/// A fresh certificate for localhost, 127.0.0.1 and ::1, valid from `at`.
fn certificate(at: SystemTime) -> SelfSigned {
    self_signed(at).unwrap()
}

fn tls_config(cert: &SelfSigned, client_ca: Option<&str>) -> Arc<rustls::ServerConfig> {
    server_config(cert.identity(), client_ca.map(str::as_bytes)).unwrap()
}

fn tls_server(cert: &SelfSigned, client_ca: Option<&str>) -> Server {
    let options = ServerOptions { tls: Some(tls_config(cert, client_ca)), ..ServerOptions::default() };
    Server::start("127.0.0.1:0".parse().unwrap(), options).unwrap()
}

/// Writes `text` to a file of this test process and returns its path.
fn file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("vastar-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn requests_over_tls_are_counted_exactly_with_and_without_keepalive() {
    let cert = certificate(SystemTime::now());
    let ca = file("keepalive-ca.pem", &cert.cert_pem());
    each_backend(|backend| {
        let server = tls_server(&cert, None);
        let url = format!("https://127.0.0.1:{}/", server.addr().port());
        let outcome = run(config(&["-n", "3000", "-c", "20", "--cacert", &ca], &url), backend);
        assert_eq!(accounted(&outcome), (3000, 0, 0));
        assert_eq!(server.requests(), 3000);
        let tls = &outcome.stats.tls;
        assert_eq!((tls.handshake.count, tls.resumed), (20, 0), "one full handshake per connection, before the start");
        assert_eq!(server.handshakes(), (20, 0));
        let negotiated = tls.negotiated.as_ref().expect("the handshakes' choice is kept");
        assert_eq!(negotiated.version, "TLS 1.3");
        assert_eq!(outcome.stats.body_bytes, 5 * 3000);

        let server = tls_server(&cert, None);
        let url = format!("https://localhost:{}/", server.addr().port());
        let outcome = run(config(&["-n", "300", "-c", "10", "--cacert", &ca, "--disable-keepalive"], &url), backend);
        assert_eq!(accounted(&outcome), (300, 0, 0));
        assert_eq!((server.requests(), server.handshakes()), (300, (300, 0)));
        assert_eq!(outcome.stats.tls.handshake.count, 300);
    });
}

#[test]
fn large_bodies_over_tls_arrive_whole_without_waiting_for_bytes_that_never_come() {
    // 1 MiB bodies engage the receive low-water mark, which over TLS must
    // leave room for the record the session may hold: a mark one byte too
    // high would stall each response until -t.
    let cert = certificate(SystemTime::now());
    let ca = file("large-ca.pem", &cert.cert_pem());
    each_backend(|backend| {
        for (body_bytes, chunked) in [(1 << 20, false), (300_000, true), (100_000, false)] {
            let tls = Some(tls_config(&cert, None));
            let options = ServerOptions { body_bytes, chunked, tls, ..ServerOptions::default() };
            let server = Server::start("127.0.0.1:0".parse().unwrap(), options).unwrap();
            let url = format!("https://127.0.0.1:{}/", server.addr().port());
            let outcome = run(config(&["-n", "60", "-c", "6", "-t", "5s", "--cacert", &ca], &url), backend);
            assert_eq!(accounted(&outcome), (60, 0, 0), "{body_bytes} bytes, chunked {chunked}");
            assert_eq!(outcome.stats.body_bytes, 60 * body_bytes as u64);
            assert!(outcome.stats.latency.max_ns() < 2_000_000_000, "no response waited for a timeout");
        }
    });
}

#[test]
fn tls_resume_resumes_nearly_every_reconnect() {
    let cert = certificate(SystemTime::now());
    let ca = file("resume-ca.pem", &cert.cert_pem());
    each_backend(|backend| {
        for version in ["1.3", "1.2"] {
            let server = tls_server(&cert, None);
            let url = format!("https://127.0.0.1:{}/", server.addr().port());
            let args = ["-n", "400", "-c", "4", "--cacert", &ca, "--disable-keepalive", "--tls-resume"];
            let outcome = run(config(&[&args[..], &["--tls-version", version]].concat(), &url), backend);
            assert_eq!(accounted(&outcome), (400, 0, 0));
            let (full, resumed) = server.handshakes();
            assert_eq!(full + resumed, 400);
            assert!(resumed * 10 > 9 * (400 - 4), "TLS {version}: {resumed} of 400 resumed");
            let tls = &outcome.stats.tls;
            assert_eq!((tls.resumed, tls.full()), (resumed, full), "the report counts what the server saw");
            assert_eq!(tls.negotiated.as_ref().unwrap().version, format!("TLS {version}"));
        }
        // Many connections reconnecting at once: every one still finds a
        // ticket (rustls's own cache keeps 8 per server, which left most
        // of them to full handshakes).
        let server = tls_server(&cert, None);
        let url = format!("https://127.0.0.1:{}/", server.addr().port());
        let args = ["-n", "1280", "-c", "64", "--cacert", &ca, "--disable-keepalive", "--tls-resume"];
        assert_eq!(accounted(&run(config(&args, &url), backend)), (1280, 0, 0));
        let (full, resumed) = server.handshakes();
        assert!(full <= 64 + 8, "{full} full handshakes for 64 connections ({resumed} resumed)");
    });
}

#[test]
fn a_server_that_requires_a_client_certificate_gets_one_with_cert_and_key() {
    let cert = certificate(SystemTime::now());
    let client = certificate(SystemTime::now());
    let ca = file("mtls-ca.pem", &cert.cert_pem());
    let (client_cert, client_key) = (file("client.pem", &client.cert_pem()), file("client.key", &client.key_pem()));
    each_backend(|backend| {
        let server = tls_server(&cert, Some(&client.cert_pem()));
        let url = format!("https://127.0.0.1:{}/", server.addr().port());
        let with = ["-n", "200", "-c", "4", "--cacert", &ca, "--cert", &client_cert, "--key", &client_key];
        assert_eq!(accounted(&run(config(&with, &url), backend)), (200, 0, 0));
        let outcome = run(config(&["-n", "20", "-c", "2", "--cacert", &ca], &url), backend);
        assert_eq!(accounted(&outcome), (0, 20, 0), "refused by the server without a certificate");
        assert_eq!(outcome.stats.error_count(ErrorKind::TlsAlert), 20);
        assert_eq!(server.requests(), 200);
    });
}

/// Runs `args` against `url` and returns the one-line error of the early stop.
fn refused(args: &[&str], url: &str, backend: &'static dyn vastar::engine::Backend) -> String {
    let begun = Instant::now();
    let error = vastar::benchmark_on(&config(args, url), backend).expect_err("verification fails").to_string();
    assert!(begun.elapsed() < Duration::from_secs(5), "the run stops at once, not after -n requests");
    assert!(!error.contains('\n'), "{error}");
    error
}

#[test]
fn untrusted_expired_and_misnamed_certificates_stop_the_run_unless_k() {
    let year = Duration::from_secs(365 * 24 * 3600);
    let good = certificate(SystemTime::now());
    let expired = certificate(SystemTime::now() - 20 * year);
    let early = certificate(SystemTime::now() + year);
    let (good_ca, expired_ca, early_ca) = (
        file("good.pem", &good.cert_pem()),
        file("expired.pem", &expired.cert_pem()),
        file("early.pem", &early.cert_pem()),
    );
    each_backend(|backend| {
        let server = tls_server(&good, None);
        let port = server.addr().port();
        let url = format!("https://127.0.0.1:{port}/");
        let many = ["-n", "100000", "-c", "50"];
        let error = refused(&[&many[..], &["--cacert", &fixture("other-ca.pem")]].concat(), &url, backend);
        assert!(error.contains("unknown authority") && error.contains("--cacert") && error.contains("-k"), "{error}");
        let error = refused(&many, &url, backend);
        assert!(error.contains("unknown authority"), "the system's roots do not know a self-signed one: {error}");
        let misnamed = format!("https://wrong.example:{port}/");
        let error = refused(
            &[&many[..], &["--cacert", &good_ca, "--connect-to", &format!("127.0.0.1:{port}")]].concat(),
            &misnamed,
            backend,
        );
        assert!(error.contains("not valid for this host name"), "{error}");
        for (flags, url) in [
            (vec!["-k"], url.clone()),
            (vec!["-k", "--connect-to", &format!("127.0.0.1:{port}")], misnamed.clone()),
            (vec!["--cacert", &good_ca], url.clone()),
        ] {
            let outcome = run(config(&[&["-n", "40", "-c", "4"][..], &flags].concat(), &url), backend);
            assert_eq!(accounted(&outcome), (40, 0, 0), "{flags:?}");
        }
        for (made, ca, why) in [(&expired, &expired_ca, "expired"), (&early, &early_ca, "not valid yet")] {
            let server = tls_server(made, None);
            let url = format!("https://127.0.0.1:{}/", server.addr().port());
            let error = refused(&[&many[..], &["--cacert", ca]].concat(), &url, backend);
            assert!(error.contains(why), "{error}");
            assert_eq!(accounted(&run(config(&["-n", "8", "-c", "2", "-k"], &url), backend)), (8, 0, 0));
        }
    });
}

/// A TLS server driven by hand on a thread per connection: after the
/// handshake and one request, `then` decides how the answer goes out.
fn scripted_tls(then: fn(rustls::StreamOwned<rustls::ServerConnection, TcpStream>)) -> SocketAddr {
    let config = tls_config(&certificate(SystemTime::now()), None);
    raw_server(move |stream| {
        let conn = rustls::ServerConnection::new(config.clone()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, stream);
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        then(tls);
    })
}

/// A server that reads the ClientHello, then does `then`.
fn after_client_hello(then: fn(TcpStream)) -> SocketAddr {
    raw_server(move |mut stream| {
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf);
        then(stream);
    })
}

/// `-n n -c c -k` against `addr` over https.
fn run_insecure(
    addr: SocketAddr,
    n: u64,
    c: u64,
    backend: &'static dyn vastar::engine::Backend,
) -> vastar::engine::Outcome {
    let url = format!("https://127.0.0.1:{}/", addr.port());
    run(config(&["-n", &n.to_string(), "-c", &c.to_string(), "-k"], &url), backend)
}

#[test]
fn a_close_without_close_notify_after_a_complete_response_is_no_error() {
    each_backend(|backend| {
        let addr = scripted_tls(|mut tls| {
            let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            let _ = tls.flush();
            // FIN without close_notify.
            let _ = tls.sock.shutdown(std::net::Shutdown::Both);
        });
        assert_eq!(accounted(&run_insecure(addr, 60, 3, backend)), (60, 0, 0));
    });
}

#[test]
fn faults_in_the_middle_of_a_response_are_counted_not_hung() {
    each_backend(|backend| {
        // RST after half the body.
        let addr = scripted_tls(|mut tls| {
            let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf!");
            let _ = tls.flush();
            reset(tls.sock);
        });
        assert_eq!(accounted(&run_insecure(addr, 20, 2, backend)), (0, 20, 0));
        // A record cut short, then FIN.
        let addr = scripted_tls(|mut tls| {
            tls.conn.writer().write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
            let mut records = Vec::new();
            tls.conn.write_tls(&mut records).unwrap();
            let _ = tls.sock.write_all(&records[..records.len() / 2]);
            let _ = tls.sock.shutdown(std::net::Shutdown::Both);
        });
        assert_eq!(accounted(&run_insecure(addr, 20, 2, backend)), (0, 20, 0));
    });
}

#[test]
fn a_large_body_paused_in_the_middle_of_a_record_still_completes() {
    // While the pause lasts, part of a record sits undecrypted in the
    // client's session: the bytes still to come are fewer than the body
    // bytes still due, and a receive low-water mark that ignored that
    // would sleep until the server closes (1.5 s after the last byte).
    each_backend(|backend| {
        let addr = scripted_tls(|mut tls| {
            tls.conn.set_buffer_limit(None);
            let body = vec![b'x'; 200_000];
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            tls.conn.writer().write_all(head.as_bytes()).unwrap();
            tls.conn.writer().write_all(&body).unwrap();
            let mut records = Vec::new();
            while tls.conn.wants_write() {
                tls.conn.write_tls(&mut records).unwrap();
            }
            let cut = 100_000 + 8_000; // inside the seventh record
            let _ = tls.sock.write_all(&records[..cut]);
            std::thread::sleep(Duration::from_millis(300));
            let _ = tls.sock.write_all(&records[cut..]);
            std::thread::sleep(Duration::from_millis(1500));
            let _ = tls.sock.shutdown(std::net::Shutdown::Both);
        });
        let url = format!("https://127.0.0.1:{}/", addr.port());
        let outcome = run(config(&["-n", "4", "-c", "2", "-k", "--disable-keepalive"], &url), backend);
        assert_eq!(accounted(&outcome), (4, 0, 0));
        let slowest = Duration::from_nanos(outcome.stats.latency.max_ns());
        assert!(slowest < Duration::from_millis(1200), "a response waited for the close: {slowest:?}");
    });
}

#[test]
fn broken_handshakes_fail_fast_with_their_reason() {
    each_backend(|backend| {
        // Not TLS at all: an HTTP answer where the ServerHello belongs.
        let plain = after_client_hello(|mut stream| {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        });
        let outcome = run_insecure(plain, 10, 2, backend);
        assert_eq!(accounted(&outcome), (0, 10, 0));
        assert_eq!(outcome.stats.error_count(ErrorKind::TlsProtocol), 10);
        // RST right after the ClientHello.
        let outcome = run_insecure(after_client_hello(reset), 10, 2, backend);
        assert_eq!(accounted(&outcome), (0, 10, 0));
        assert_eq!(outcome.stats.error_count(ErrorKind::Reset), 10);
        // A server that never answers the ClientHello: the connect limit ends it.
        let silent = after_client_hello(|_stream| std::thread::sleep(Duration::from_secs(5)));
        let url = format!("https://127.0.0.1:{}/", silent.port());
        let begun = Instant::now();
        let outcome = run_within(
            Duration::from_secs(10),
            config(&["-n", "4", "-c", "2", "-k", "--connect-timeout", "300ms"], &url),
            backend,
        );
        assert_eq!(accounted(&outcome), (0, 4, 0));
        assert_eq!(outcome.stats.error_count(ErrorKind::ConnectTimeout), 4);
        assert!(begun.elapsed() < Duration::from_secs(4), "{:?}", begun.elapsed());
    });
}
