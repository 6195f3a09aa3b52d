//! The mock LLM over HTTP/2 (`vastar serve --http2 --llm`) measured by
//! vastar's own HTTP/2 client, on every backend, over h2c and h2 by ALPN:
//! counts exact (responses, events, tokens from the usage), the client's
//! TTFT and ITL near the mock's schedule and near its own truth
//! (`/mock/truth`), the server's count across GOAWAY, and the `-o json`
//! document and `--demo --llm --http2` from the command line. Times are
//! checked with bounds a busy machine keeps (the mock is never early).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime};

use common::{accounted, config, each_backend, run};
use serde_json::Value;
use vastar::server::{LlmOptions, Server, ServerOptions};
use vastar::stats::counters::{EVENTS, STREAMED, TOKENS, TOKENS_FROM_USAGE};
use vastar::stats::metrics::{ITL, TTFT};
use vastar::tls::{TlsOptions, client_config};

const TTFT_MS: f64 = 40.0;
const ITL_MS: f64 = 10.0;
const TOKENS_EACH: u64 = 8;
const BODY: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#;

fn mock(tls: Option<std::sync::Arc<rustls::ServerConfig>>, stream_limit: Option<u32>) -> Server {
    let llm = LlmOptions {
        ttft: Duration::from_secs_f64(TTFT_MS / 1e3),
        itl: Duration::from_secs_f64(ITL_MS / 1e3),
        tokens: TOKENS_EACH as u32,
        tokens_per_event: 1,
    };
    let options = ServerOptions {
        llm: Some(llm),
        tls,
        http2: true,
        max_streams_per_connection: stream_limit,
        ..ServerOptions::default()
    };
    Server::start("127.0.0.1:0".parse().unwrap(), options).unwrap()
}

fn args(extra: &[&'static str]) -> Vec<&'static str> {
    let base = ["--http2", "--streams", "10", "-c", "4", "-n", "200", "-t", "20s", "-m", "POST"];
    base.into_iter().chain(["-T", "application/json", "-d", BODY]).chain(extra.iter().copied()).collect()
}

/// The mock's truth, read over HTTP/1.1 (over TLS when given the CA's
/// PEM), and a new record from now on.
fn take_truth(addr: SocketAddr, ca_pem: Option<&str>) -> Value {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = b"DELETE /mock/truth HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let mut answer = String::new();
    match ca_pem {
        None => {
            let mut stream = stream;
            stream.write_all(request).unwrap();
            stream.read_to_string(&mut answer).unwrap();
        }
        Some(pem) => {
            let options = TlsOptions { ca_pem: Some(pem.as_bytes().to_vec()), ..TlsOptions::default() };
            let config = client_config(&options).unwrap();
            let conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, stream);
            tls.write_all(request).unwrap();
            // The server closes without close_notify at times: what came is enough.
            let mut bytes = Vec::new();
            let _ = tls.read_to_end(&mut bytes);
            answer = String::from_utf8(bytes).unwrap();
        }
    }
    let body = answer.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).unwrap()
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Runs the benchmark on every backend and checks what it read against
/// the mock's truth. The bounds hold on a busy machine: the mock is never
/// early, and late events are late for both sides.
fn measured_against_the_truth(server: &Server, url: &str, extra: &[&'static str], ca_pem: Option<&str>) {
    each_backend(|backend| {
        take_truth(server.addr(), ca_pem);
        let before = server.requests();
        let outcome = run(config(&args(extra), url), backend);
        assert_eq!(accounted(&outcome), (200, 0, 0));
        assert_eq!(server.requests() - before, 200, "the server answered each once");
        let s = &outcome.stats;
        let counts: Vec<u64> = [STREAMED, EVENTS, TOKENS, TOKENS_FROM_USAGE].iter().map(|&c| s.counts.get(c)).collect();
        // 8 content events, the finish chunk and the usage chunk; [DONE] is no event.
        assert_eq!(counts, [200, 200 * (TOKENS_EACH + 2), 200 * TOKENS_EACH, 200]);
        let (ttft, itl) = (s.metrics.get(TTFT), s.metrics.get(ITL));
        assert_eq!((ttft.count(), itl.count()), (200, 200 * (TOKENS_EACH - 1)));
        let truth = take_truth(server.addr(), ca_pem);
        assert_eq!((truth["streams"].as_u64(), truth["itl_ms"]["count"].as_u64()), (Some(200), Some(1400)));
        assert!(truth["ttft_ms"]["min"].as_f64().unwrap() >= TTFT_MS, "the mock is never early: {truth}");
        let (true_ttft, true_itl) =
            (truth["ttft_ms"]["p50"].as_f64().unwrap(), truth["itl_ms"]["p50"].as_f64().unwrap());
        let (ttft_p50, itl_p50) = (ms(ttft.percentile_ns(50.0)), ms(itl.percentile_ns(50.0)));
        assert!(ms(ttft.min_ns()) >= TTFT_MS, "no first token before it was due: {}", ms(ttft.min_ns()));
        assert!((ttft_p50 - true_ttft).abs() <= 10.0, "TTFT p50 {ttft_p50} ms, the mock's {true_ttft} ms");
        assert!((itl_p50 - true_itl).abs() <= 3.0, "ITL p50 {itl_p50} ms, the mock's {true_itl} ms");
    });
}

#[test]
fn h2c_streams_are_measured_exactly_on_every_backend() {
    let server = mock(None, None);
    let url = format!("http://{}/v1/chat/completions", server.addr());
    measured_against_the_truth(&server, &url, &[], None);
}

#[test]
fn h2_over_tls_streams_are_measured_the_same() {
    let cert = vastar::tls::self_signed(SystemTime::now()).unwrap();
    let server = mock(Some(vastar::tls::server_config(cert.identity(), None).unwrap()), None);
    let dir = std::env::temp_dir().join(format!("vastar-llm-h2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, cert.cert_pem()).unwrap();
    let ca: &'static str = Box::leak(ca.to_str().unwrap().to_string().into_boxed_str());
    let url = format!("https://localhost:{}/v1/chat/completions", server.addr().port());
    measured_against_the_truth(&server, &url, &["--cacert", ca], Some(&cert.cert_pem()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// GOAWAY after every 7 streams: the client goes on on new connections,
/// and every request is answered once, streams mid-answer finishing first.
#[test]
fn streams_finish_across_goaway_and_every_request_is_answered_once() {
    let server = mock(None, Some(7));
    let url = format!("http://{}/v1/chat/completions", server.addr());
    each_backend(|backend| {
        let before = server.requests();
        let outcome = run(config(&args(&[]), &url), backend);
        assert_eq!(accounted(&outcome), (200, 0, 0));
        assert_eq!(outcome.stats.counts.get(TOKENS_FROM_USAGE), 200);
        assert_eq!(server.requests() - before, 200);
    });
}

#[test]
fn the_command_line_serves_and_demos_the_mock_over_http2() {
    let server = mock(None, None);
    let url = format!("http://{}/v1/chat/completions", server.addr());
    let mut argv = args(&["-o", "json"]);
    argv.push(&url);
    let out = common::vastar(&argv);
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let streaming = &doc["streaming"];
    assert_eq!((streaming["responses"].as_u64(), streaming["output_tokens"].as_u64()), (Some(200), Some(1600)));
    assert_eq!(streaming["token_source"], "usage");
    let out = common::vastar(&["--demo", "--llm", "--http2", "-n", "40", "-c", "2", "--streams", "5", "-o", "json"]);
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["streaming"]["responses"].as_u64(), Some(40), "{}", doc["streaming"]);
}
