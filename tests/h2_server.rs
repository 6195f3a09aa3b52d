//! The built-in server over HTTP/2 (`vastar serve --http2`), driven by our
//! own client session over real sockets: many streams on one connection,
//! request bodies and HEAD, GOAWAY after a stream limit with the refused
//! streams sent again, h2 chosen by ALPN under TLS, HTTP/1.1 still served
//! beside it, and h2load (nghttp2, a client vastar did not write) against
//! it. Every test compares both sides' counts exactly.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use vastar::http::h2::hpack::encode_request;
use vastar::http::h2::session::{ResponseHead, Session, SessionEvents, StreamFailure};
use vastar::server::{Server, ServerOptions};
use vastar::tls::{TlsOptions, client_config, self_signed, server_config};

/// What happened to each stream.
#[derive(Default)]
struct Tally {
    status: HashMap<u32, u16>,
    body: HashMap<u32, usize>,
    ended: Vec<u32>,
    failed: Vec<(u32, StreamFailure)>,
}

impl SessionEvents for Tally {
    fn head(&mut self, stream: u32, head: &ResponseHead) {
        self.status.insert(stream, head.status);
    }
    fn data(&mut self, stream: u32, data: &[u8]) {
        *self.body.entry(stream).or_default() += data.len();
    }
    fn end(&mut self, stream: u32) {
        self.ended.push(stream);
    }
    fn failed(&mut self, stream: u32, why: StreamFailure) {
        self.failed.push((stream, why));
    }
}

fn start(options: ServerOptions) -> Server {
    Server::start("127.0.0.1:0".parse().unwrap(), ServerOptions { http2: true, ..options }).unwrap()
}

fn block(method: &str, addr: SocketAddr) -> Vec<u8> {
    let mut block = Vec::new();
    let authority = addr.to_string();
    encode_request(method.as_bytes(), b"http", authority.as_bytes(), b"/", &[(b"user-agent", b"test")], &mut block);
    block
}

/// Sends up to `total` requests (`block` and `body`) on one connection
/// over `io`, at most `concurrency` at a time, until they are done or the
/// connection ends; what happened to each stream.
fn drive(io: &mut (impl Read + Write), block: &[u8], body: &[u8], total: usize, concurrency: usize) -> Tally {
    let mut session = Session::default();
    let mut tally = Tally::default();
    let mut started = 0;
    let mut buf = vec![0; 64 * 1024];
    loop {
        while started < total && session.open_streams() < concurrency && session.start(block, body).is_some() {
            started += 1;
        }
        io.write_all(session.output()).unwrap();
        let n = session.output().len();
        session.output_sent(n);
        let finished = tally.ended.len() + tally.failed.len() == started;
        if session.settings_seen() && finished && (started == total || !session.can_start()) {
            return tally;
        }
        let read = io.read(&mut buf).expect("the server answers within the read timeout");
        if read == 0 {
            return tally;
        }
        session.feed(&buf[..read], &mut tally).expect("the server breaks no rule");
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Every stream of `tally` ended with 200 and `body` bytes.
fn all_answered(tally: &Tally, count: usize, body: usize) {
    assert!(tally.failed.is_empty(), "{:?}", &tally.failed[..tally.failed.len().min(5)]);
    assert_eq!(tally.ended.len(), count);
    for stream in &tally.ended {
        assert_eq!(tally.status.get(stream), Some(&200), "stream {stream}");
        assert_eq!(tally.body.get(stream).copied().unwrap_or(0), body, "stream {stream}");
    }
}

#[test]
fn a_thousand_requests_on_one_connection_ten_streams_at_a_time() {
    let server = start(ServerOptions { body_bytes: 1000, ..ServerOptions::default() });
    let tally = drive(&mut connect(server.addr()), &block("GET", server.addr()), b"", 1000, 10);
    all_answered(&tally, 1000, 1000);
    assert_eq!(server.requests(), 1000);
}

#[test]
fn request_bodies_are_read_and_head_gets_no_body() {
    let server = start(ServerOptions { body_bytes: 30_000, threads: 2, ..ServerOptions::default() });
    // Small enough that the socket buffers hold what both sides write
    // before reading: this client is a simple blocking loop.
    let body = vec![b'b'; 20_000];
    let tally = drive(&mut connect(server.addr()), &block("POST", server.addr()), &body, 50, 5);
    all_answered(&tally, 50, 30_000);
    let tally = drive(&mut connect(server.addr()), &block("HEAD", server.addr()), b"", 50, 50);
    all_answered(&tally, 50, 0);
    assert_eq!(server.requests(), 100);
}

#[test]
fn after_goaway_the_refused_streams_go_again_on_a_new_connection() {
    let limit = 100;
    let server = start(ServerOptions { max_streams_per_connection: Some(limit), ..ServerOptions::default() });
    let (block, total) = (block("GET", server.addr()), 1000);
    let (mut done, mut connections) = (0, 0);
    while done < total {
        let mut stream = connect(server.addr());
        let tally = drive(&mut stream, &block, b"", total - done, 30);
        let refused = tally.failed.iter().filter(|(_, why)| *why == StreamFailure::Refused).count();
        assert_eq!(refused, tally.failed.len(), "only refusals: {:?}", tally.failed);
        let answered = tally.ended.len();
        assert_eq!(answered, limit as usize, "the client always had more to send");
        all_answered(&Tally { failed: Vec::new(), ..tally }, answered, 5);
        done += answered;
        connections += 1;
        // The server closes the connection once its streams are done.
        let mut rest = Vec::new();
        assert!(stream.read_to_end(&mut rest).is_ok(), "closed without a reset");
    }
    assert_eq!(server.requests(), total as u64);
    assert_eq!(connections, total / limit as usize);
}

#[test]
fn over_tls_alpn_picks_h2_and_http_1_1_still_works() {
    let made = self_signed(SystemTime::now()).unwrap();
    let tls = server_config(made.identity(), None).unwrap();
    let server = start(ServerOptions { tls: Some(tls), body_bytes: 20_000, ..ServerOptions::default() });
    let options = TlsOptions { ca_pem: Some(made.cert_pem().into_bytes()), ..TlsOptions::default() };
    let client = |alpn: &[u8]| {
        let mut config = rustls::ClientConfig::clone(&client_config(&options).unwrap());
        config.alpn_protocols = vec![alpn.to_vec()];
        let conn = rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
        rustls::StreamOwned::new(conn, connect(server.addr()))
    };
    let mut h2 = client(b"h2");
    let tally = drive(&mut h2, &block("GET", server.addr()), b"", 200, 10);
    assert_eq!(h2.conn.alpn_protocol(), Some(&b"h2"[..]));
    all_answered(&tally, 200, 20_000);
    let mut http1 = client(b"http/1.1");
    http1.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = http1.read_to_end(&mut answer);
    assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n") && answer.ends_with(&[b'x'; 100]));
    assert_eq!(server.requests(), 201);
}

#[test]
fn http_1_1_is_still_served_on_plain_tcp() {
    let server = start(ServerOptions::default());
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert_eq!(String::from_utf8_lossy(&answer).matches("HTTP/1.1 200 OK").count(), 2);
    assert_eq!(server.requests(), 2);
}

/// Runs h2load with `args` against `url`: its "succeeded" count and its
/// report, or `None` (with a note) when h2load is not installed.
fn h2load(args: &[&str], url: &str) -> Option<(u64, String)> {
    let out = match Command::new("h2load").args(args).arg(url).output() {
        Ok(out) => out,
        Err(_) => {
            let required = std::env::var_os("VASTAR_REQUIRE_H2LOAD").is_some();
            assert!(!required, "VASTAR_REQUIRE_H2LOAD is set but h2load is missing");
            eprintln!("h2load is not installed; skipping (apt-get install nghttp2-client)");
            return None;
        }
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "h2load failed: {text}");
    let line = text.lines().find(|l| l.starts_with("requests:")).expect("h2load prints its requests");
    let succeeded = line.split(", ").find_map(|part| part.strip_suffix(" succeeded"));
    Some((succeeded.expect("a succeeded count").trim().parse().unwrap(), text))
}

#[test]
fn h2load_gets_every_answer_and_the_server_counts_them() {
    let server = start(ServerOptions { body_bytes: 100, ..ServerOptions::default() });
    let url = format!("http://{}/", server.addr());
    let Some((succeeded, report)) = h2load(&["-n", "2000", "-c", "4", "-m", "10"], &url) else { return };
    assert_eq!(succeeded, 2000, "{report}");
    assert_eq!(server.requests(), 2000);
}

#[test]
fn h2load_over_tls_against_vastar_serve() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vastar"))
        .args(["serve", "--http2", "--tls", "--listen", "127.0.0.1:0", "--body-bytes", "1000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("HTTP/1.1 and HTTP/2"), "{line}");
    let url = line.split_whitespace().find(|w| w.starts_with("https://")).unwrap().to_string();
    let succeeded = h2load(&["-n", "2000", "-c", "4", "-m", "10"], &url);
    child.kill().unwrap();
    child.wait().unwrap();
    if let Some((succeeded, report)) = succeeded {
        assert_eq!(succeeded, 2000, "{report}");
    }
}
