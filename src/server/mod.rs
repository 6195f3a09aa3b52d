//! A small, fast HTTP/1.1 server built into the binary, over TCP or TLS.
//!
//! It gives a newcomer something real to benchmark (`vastar --demo`), and is
//! the target of the integration tests and benches (`vastar serve`). It
//! answers every request with the same pre-built response (a body of a chosen
//! size, framed by Content-Length or chunked), honours keep-alive, pipelining,
//! `Connection: close` and request bodies, and counts the requests it
//! answered so tests can compare both sides' totals. Requests are read by
//! the sans-I/O parser in [`crate::http::request_head`]; [`transport`]
//! moves the bytes (through a rustls session with `--tls`, which also
//! counts full and resumed handshakes). With [`ServerOptions::http2`] it
//! speaks HTTP/2 too ([`h2`]: h2c with prior knowledge, or h2 by ALPN),
//! giving the same answer. With [`ServerOptions::llm`] its connections are
//! served by [`llm`] instead: a mock LLM endpoint.

pub mod h2;
mod llm;
mod transport;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

pub use llm::{LlmOptions, MAX_TOKENS as LLM_MAX_TOKENS};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use transport::{TlsCounts, Transport};

use crate::http::head::Status;
use crate::http::{ChunkedDecoder, RequestBody, parse_request_head};

/// How the server answers.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Size of every response body.
    pub body_bytes: usize,
    /// Frame the body with `Transfer-Encoding: chunked` instead of Content-Length.
    pub chunked: bool,
    /// Threads, each with its own event loop accepting on the same socket.
    pub threads: usize,
    /// Serve HTTPS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Be a mock LLM (OpenAI-compatible streaming) instead; `body_bytes`
    /// and `chunked` then do not apply.
    pub llm: Option<LlmOptions>,
    /// Speak HTTP/2 too: to clients that start with its preface, and under
    /// TLS to those that choose `h2` by ALPN (offered before `http/1.1`).
    /// Not with `chunked` (HTTP/2 has no chunked framing); with `llm`, the
    /// mock answers over HTTP/2 too.
    pub http2: bool,
    /// HTTP/2: send GOAWAY after this many streams on a connection and
    /// close it once they are answered (nginx's `keepalive_requests`).
    pub max_streams_per_connection: Option<u32>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            body_bytes: 5,
            chunked: false,
            threads: 1,
            tls: None,
            llm: None,
            http2: false,
            max_streams_per_connection: None,
        }
    }
}

/// A running server; stops when dropped.
pub struct Server {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    tls_counts: Arc<TlsCounts>,
    stop: Arc<Notify>,
    threads: Vec<JoinHandle<()>>,
}

/// What every connection of the server shares.
struct Shared {
    answers: Answers,
    requests: Arc<AtomicU64>,
    tls: Option<Arc<rustls::ServerConfig>>,
    tls_counts: Arc<TlsCounts>,
    llm: Option<llm::Mock>,
    h2: Option<H2Answer>,
}

/// What HTTP/2 connections answer with besides the body.
struct H2Answer {
    /// The response head's HPACK block, encoded once.
    block: Vec<u8>,
    stream_limit: Option<u32>,
}

/// The two pre-built answers.
struct Answers {
    full: Vec<u8>,
    head_only: Vec<u8>,
}

impl Answers {
    fn new(options: &ServerOptions) -> Self {
        let full = response(options.body_bytes, options.chunked);
        let head_end = full.windows(4).position(|w| w == b"\r\n\r\n").map_or(full.len(), |i| i + 4);
        Answers { head_only: full[..head_end].to_vec(), full }
    }

    /// The body of an answer framed by Content-Length.
    fn body(&self) -> &[u8] {
        &self.full[self.head_only.len()..]
    }
}

/// A complete `200 OK` response with a body of `body_bytes` 'x', framed by
/// Content-Length or, with `chunked`, by 16 KiB chunks. Also the benchmark
/// matrix's target answer.
pub fn response(body_bytes: usize, chunked: bool) -> Vec<u8> {
    let body = vec![b'x'; body_bytes];
    let mut out = b"HTTP/1.1 200 OK\r\nServer: vastar\r\nContent-Type: text/plain\r\n".to_vec();
    if chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        for chunk in body.chunks(16 * 1024) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    } else {
        out.extend_from_slice(format!("Content-Length: {body_bytes}\r\n\r\n").as_bytes());
        out.extend_from_slice(&body);
    }
    out
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and starts serving.
    pub fn start(addr: SocketAddr, options: ServerOptions) -> io::Result<Server> {
        if options.http2 && options.chunked {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "HTTP/2 without chunked bodies"));
        }
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let tls_counts = Arc::new(TlsCounts::default());
        let stop = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            answers: Answers::new(&options),
            requests: requests.clone(),
            tls: options.tls.as_ref().map(|tls| alpn(tls, options.http2)),
            tls_counts: tls_counts.clone(),
            llm: options.llm.as_ref().map(llm::Mock::new),
            h2: options.http2.then(|| H2Answer {
                block: h2::response_block(options.body_bytes),
                stream_limit: options.max_streams_per_connection,
            }),
        });
        let mut threads = Vec::new();
        for i in 0..options.threads.max(1) {
            let listener = listener.try_clone()?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (shared, stop) = (shared.clone(), stop.clone());
            let thread = std::thread::Builder::new().name(format!("vastar-server-{i}")).spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else { return };
                    let serving = async {
                        if shared.llm.is_some() {
                            llm::serve(listener, shared).await;
                        } else {
                            accept_loop(listener, shared, None).await;
                        }
                    };
                    tokio::select! {
                        _ = serving => {}
                        _ = stop.notified() => {}
                    }
                });
            })?;
            threads.push(thread);
        }
        Ok(Server { addr, requests, tls_counts, stop, threads })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// TLS handshakes completed so far: (full, resumed).
    pub fn handshakes(&self) -> (u64, u64) {
        (self.tls_counts.full.load(Ordering::Relaxed), self.tls_counts.resumed.load(Ordering::Relaxed))
    }

    /// Blocks until the server is stopped from elsewhere (for `vastar serve`).
    pub fn wait(mut self) {
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // notify_one stores a permit, so a thread not yet waiting still stops.
        for _ in 0..self.threads.len() {
            self.stop.notify_one();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// `config`, offering `h2` first by ALPN when `http2`.
fn alpn(config: &Arc<rustls::ServerConfig>, http2: bool) -> Arc<rustls::ServerConfig> {
    if !http2 {
        return config.clone();
    }
    let mut config = rustls::ServerConfig::clone(config);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Accepts connections and serves each in its own task; those of the mock
/// LLM hand their streams to `pacer`, this thread's, if it has one.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, pacer: Option<llm::Inbox>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let transport = match &shared.tls {
                    None => Transport::Plain,
                    Some(config) => match Transport::tls(config) {
                        Ok(transport) => transport,
                        Err(_) => continue,
                    },
                };
                if shared.llm.is_some() {
                    tokio::spawn(llm::serve_connection(stream, transport, shared.clone(), pacer.clone()));
                } else if shared.h2.is_some() {
                    tokio::spawn(h2::serve_connection(stream, transport, shared.clone()));
                } else {
                    tokio::spawn(serve_connection(stream, transport, shared.clone(), Vec::new()));
                }
            }
            // Out of descriptors or similar: let connections finish, then retry.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
}

/// How to answer a request once its body has been read.
#[derive(Clone, Copy, Debug)]
struct Answer {
    head_method: bool,
    close: bool,
}

/// Where a connection is between requests.
enum Pending {
    Head,
    Length { left: u64, head: Answer },
    Chunked { decoder: ChunkedDecoder, head: Answer },
}

/// Serves an HTTP/1.1 connection; `buf` holds what was read of it already.
async fn serve_connection(mut stream: TcpStream, mut transport: Transport, shared: Arc<Shared>, mut buf: Vec<u8>) {
    let (answers, requests) = (&shared.answers, &shared.requests);
    let _ = stream.set_nodelay(true);
    buf.reserve(8 * 1024);
    let mut unread = !buf.is_empty();
    // The replies owed, in order: slices of the pre-built answers, never
    // copied per request (a copy per connection held 256 KiB bodies 5000
    // times over, 1.3 GB, and made the server the bottleneck of its tests).
    let mut out: Vec<&[u8]> = Vec::new();
    let mut joined: Vec<u8> = Vec::new();
    let mut pending = Pending::Head;
    loop {
        if !std::mem::take(&mut unread) {
            match transport.read(&mut stream, &mut buf, &shared.tls_counts).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        let mut pos = 0;
        let mut close = false;
        while !close {
            let answered = match &mut pending {
                Pending::Head => match parse_request_head(&buf[pos..]) {
                    Ok(Status::Partial) => break,
                    Err(_) => {
                        out.push(BAD_REQUEST);
                        close = true;
                        None
                    }
                    Ok(Status::Complete(request)) => {
                        let head_method = request.method.slice(&buf[pos..]) == b"HEAD";
                        let head = Answer { head_method, close: request.close };
                        pos += request.len;
                        pending = match request.body {
                            RequestBody::Length(left) => Pending::Length { left, head },
                            RequestBody::Chunked => Pending::Chunked { decoder: ChunkedDecoder::new(), head },
                        };
                        None
                    }
                },
                Pending::Length { left, head } => {
                    let take = (*left).min((buf.len() - pos) as u64);
                    *left -= take;
                    pos += take as usize;
                    if *left > 0 {
                        break;
                    }
                    Some(*head)
                }
                Pending::Chunked { decoder, head } => match decoder.decode(&buf[pos..]) {
                    Ok(d) => {
                        pos += d.consumed;
                        if !d.done {
                            break;
                        }
                        Some(*head)
                    }
                    Err(_) => {
                        out.push(BAD_REQUEST);
                        close = true;
                        None
                    }
                },
            };
            if let Some(head) = answered {
                requests.fetch_add(1, Ordering::Relaxed);
                out.push(if head.head_method { &answers.head_only } else { &answers.full });
                close = head.close;
                pending = Pending::Head;
            }
        }
        buf.drain(..pos);
        if !write_replies(&mut stream, &mut transport, &mut out, &mut joined).await {
            return;
        }
        if close {
            transport.close(&mut stream).await;
            return;
        }
    }
}

const BAD_REQUEST: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Pipelined replies up to this size are joined into one write.
const JOIN_BYTES: usize = 64 * 1024;

/// Writes the replies owed, straight from the answers; small pipelined
/// replies joined into one write. False if the peer is gone.
async fn write_replies(
    stream: &mut TcpStream,
    transport: &mut Transport,
    out: &mut Vec<&[u8]>,
    joined: &mut Vec<u8>,
) -> bool {
    let total: usize = out.iter().map(|reply| reply.len()).sum();
    let mut written = Ok(());
    if out.len() > 1 && total <= JOIN_BYTES {
        joined.clear();
        out.iter().for_each(|reply| joined.extend_from_slice(reply));
        written = transport.write(stream, joined).await;
    } else {
        for reply in out.iter() {
            written = transport.write(stream, reply).await;
            if written.is_err() {
                break;
            }
        }
    }
    out.clear();
    written.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_framed_as_asked() {
        let plain = Answers::new(&ServerOptions { body_bytes: 3, ..ServerOptions::default() });
        assert!(plain.full.ends_with(b"Content-Length: 3\r\n\r\nxxx"));
        assert!(plain.head_only.ends_with(b"Content-Length: 3\r\n\r\n"));
        let chunked = Answers::new(&ServerOptions { body_bytes: 20_000, chunked: true, ..ServerOptions::default() });
        assert!(chunked.full.ends_with(b"\r\n0\r\n\r\n"));
        let mut reader = crate::http::ResponseReader::new();
        reader.start(false);
        match reader.feed(&chunked.full) {
            Ok(crate::http::Feed::Done(r)) => assert_eq!((r.status, r.body_bytes, r.reusable), (200, 20_000, true)),
            other => panic!("{other:?}"),
        }
    }
}
