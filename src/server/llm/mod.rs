//! The built-in server's mock LLM mode (`vastar serve --llm`, `vastar
//! --demo --llm`): OpenAI-compatible `POST /v1/chat/completions` and
//! `POST /v1/completions` that stream tokens on an exact schedule.
//!
//! It exists to be a known truth: the first content event is written
//! `ttft` after the request's body was complete (when its last bytes
//! reached the machine, by the kernel's receive stamp where there is one,
//! so a late wake-up of the mock is part of its answer's time) and the
//! next ones `itl` apart, on absolute deadlines, so a client's time to first token and
//! inter-token latency can be checked against what was really sent, and
//! an LLM gateway or proxy can be load-tested without a GPU behind it.
//! What it really sent (timers fire late on a busy machine) is kept in
//! [`truth`] and answered at `GET /mock/truth` (`DELETE` also starts a
//! new record, to leave a warm-up out).
//!
//! It has its own connection loop, apart from the plain server's: it parses
//! JSON bodies and waits on timers, which the plain server's hot path
//! (one pre-built answer per request) must not pay for. A task per
//! connection reads its requests; the events of all the streams of a
//! server thread are written by that thread's [`pacer`] (one queue of
//! deadlines, one timer, a nonblocking write per event, pre-built events),
//! except over TLS, where each connection's task writes its own. Over
//! HTTP/2 (`--http2`) each connection's task paces its own streams ([`h2`]):
//! every event due at a wake-up, of every stream, leaves in one write.

mod alarm;
mod deadlines;
mod events;
mod h2;
mod pacer;
mod request;
#[cfg(test)]
mod tests;
mod truth;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::sleep_until;

use super::Shared;
use super::transport::Transport;
use events::{Endpoint, Prebuilt, STREAM_HEAD, Schedule, Usage, closing_events, error_answer, whole_answer};
pub(super) use pacer::Inbox;
use pacer::{Handback, Paced};
pub use request::MAX_TOKENS;
use request::{MAX_BODY_BYTES, Received, Refusal, read_ask, take_request};

/// How the mock LLM answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LlmOptions {
    /// From the request's body being complete to the first content event.
    pub ttft: Duration,
    /// Between content events.
    pub itl: Duration,
    /// Tokens per answer when the request gives no `max_tokens`.
    pub tokens: u32,
    /// Tokens per content event.
    pub tokens_per_event: u32,
}

impl Default for LlmOptions {
    fn default() -> Self {
        LlmOptions { ttft: Duration::from_millis(80), itl: Duration::from_millis(15), tokens: 24, tokens_per_event: 1 }
    }
}

/// The mock's settings and its pre-built events, shared by its connections.
pub(super) struct Mock {
    schedule: Schedule,
    default_tokens: u32,
    prebuilt: Prebuilt,
    truth: truth::Truth,
}

impl Mock {
    pub(super) fn new(options: &LlmOptions) -> Mock {
        let tokens_per_event = options.tokens_per_event.max(1);
        Mock {
            schedule: Schedule { ttft: options.ttft, itl: options.itl, tokens_per_event },
            default_tokens: options.tokens.clamp(1, MAX_TOKENS),
            prebuilt: Prebuilt::new(tokens_per_event),
            truth: truth::Truth::default(),
        }
    }
}

/// Serves the mock on one server thread: its connections, and a pacer that
/// writes their streams' events (without one, if it cannot have its
/// alarm, each connection's task writes its own).
pub(super) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    match pacer::pacer(shared.clone()) {
        Some((inbox, pacer)) => {
            tokio::select! {
                () = super::accept_loop(listener, shared, Some(inbox)) => {}
                () = pacer.run() => {}
            }
        }
        None => super::accept_loop(listener, shared, None).await,
    }
}

/// One connection, served as HTTP/2 ([`h2`]) if the server speaks it and
/// the client does (ALPN, or else the preface), else as HTTP/1.1.
pub(super) async fn serve_connection(
    mut stream: TcpStream,
    mut transport: Transport,
    shared: Arc<Shared>,
    pacer: Option<Inbox>,
) {
    let _ = stream.set_nodelay(true);
    // A request's clock starts when its last bytes reached the machine, not
    // when this task got round to reading them.
    crate::sock::stamp::enable(std::os::fd::AsRawFd::as_raw_fd(&stream));
    let start = Instant::now();
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    let mut arrived = None;
    while shared.h2.is_some() {
        match transport.read_stamped(&mut stream, &mut buf, &shared.tls_counts).await {
            Ok((0, _)) | Err(_) => return,
            Ok((_, stamp)) => arrived = stamp,
        }
        match super::h2::speaks_h2(&buf, transport.alpn()) {
            None => continue,
            Some(true) => return h2::io::serve(stream, transport, shared, buf, arrived).await,
            Some(false) => break,
        }
    }
    serve_http1(stream, transport, shared, pacer, Received1 { buf, arrived, start }).await;
}

/// What an HTTP/1.1 connection starts with: the bytes read so far, when
/// they arrived, and when the connection was accepted.
struct Received1 {
    buf: Vec<u8>,
    arrived: Option<Instant>,
    start: Instant,
}

/// An HTTP/1.1 connection: requests in order (pipelined ones wait their
/// turn), each answered when its schedule says: by the thread's pacer over
/// plain TCP, by this task over TLS (its sessions are not shared with the
/// pacer).
async fn serve_http1(
    mut stream: TcpStream,
    mut transport: Transport,
    shared: Arc<Shared>,
    pacer: Option<Inbox>,
    first: Received1,
) {
    let Some(mock) = &shared.llm else { return };
    let Received1 { mut buf, mut arrived, start } = first;
    // Stamps never put a request before the connection or the one before it.
    let mut earliest = start;
    loop {
        let (received, used) = match take_request(&buf) {
            Ok(Some(taken)) => taken,
            Ok(None) => match transport.read_stamped(&mut stream, &mut buf, &shared.tls_counts).await {
                Ok((0, _)) | Err(_) => return,
                Ok((_, stamp)) => {
                    arrived = stamp;
                    continue;
                }
            },
            Err(refusal) => {
                let _ = transport.write(&mut stream, &refused(refusal)).await;
                transport.close(&mut stream).await;
                return;
            }
        };
        // A request pipelined behind this one starts when it is read.
        let body_complete = arrived.take().map_or_else(Instant::now, |at: Instant| at.max(earliest));
        earliest = body_complete;
        buf.drain(..used);
        let mut replier = Replier { stream: &mut stream, transport: &mut transport, requests: &shared.requests };
        let streaming = match answer(&mut replier, mock, &received, body_complete).await {
            Ok(streaming) => streaming,
            Err(_) => return,
        };
        if let Some(streaming) = streaming {
            stream = match (&transport, &pacer) {
                (Transport::Plain, Some(inbox)) => match paced(stream, inbox, mock, streaming).await {
                    Some(stream) => stream,
                    None => return,
                },
                _ => {
                    let mut replier =
                        Replier { stream: &mut stream, transport: &mut transport, requests: &shared.requests };
                    if stream_in_task(&mut replier, mock, streaming).await.is_err() {
                        return;
                    }
                    stream
                }
            };
        }
        if received.close {
            transport.close(&mut stream).await;
            return;
        }
    }
}

/// The answer to a request that could not be read.
fn refused(refusal: Refusal) -> Vec<u8> {
    match refusal {
        Refusal::Malformed => error_answer("400 Bad Request", "the request is not valid HTTP/1.1", false, true),
        Refusal::TooLarge => {
            let message = format!("the request body is larger than the mock's limit of {MAX_BODY_BYTES} bytes");
            error_answer("413 Content Too Large", &message, false, true)
        }
    }
}

/// Where a connection's answers go.
struct Replier<'a> {
    stream: &'a mut TcpStream,
    transport: &'a mut Transport,
    requests: &'a AtomicU64,
}

impl Replier<'_> {
    /// Writes part of an answer.
    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.transport.write(self.stream, bytes).await
    }

    /// Writes the rest of an answer, counting the request first (as the
    /// plain server does), so a client never sees an answer not yet counted.
    async fn finish(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.write(bytes).await
    }
}

/// A streaming answer whose head is written: its events are owed.
struct Streaming {
    endpoint: Endpoint,
    tokens: u32,
    /// The usage chunk, when asked for.
    usage: Option<Usage>,
    body_complete: Instant,
}

/// What a request gets, decided from its method, target and body alike
/// over HTTP/1.1 and HTTP/2.
enum Decision {
    /// A JSON document at once (`/mock/truth`).
    Json(String),
    /// An error: its status line (`404 Not Found`) and message; without
    /// the body with `head_only`.
    Refuse { status: &'static str, message: String, head_only: bool },
    /// One JSON document, `due` after the request.
    Whole { endpoint: Endpoint, usage: Usage, due: Duration },
    /// An event stream of `tokens` tokens, with the usage chunk when asked.
    Stream { endpoint: Endpoint, tokens: u32, usage: Option<Usage> },
}

fn decide(mock: &Mock, method: &[u8], target: &[u8], body: &[u8]) -> Decision {
    if target == TRUTH_PATH && matches!(method, b"GET" | b"DELETE") {
        // DELETE answers the same and starts a new record: a benchmark's
        // truth then leaves out its warm-up, as the client's figures do.
        let document = if method == b"GET" { mock.truth.document() } else { mock.truth.take() };
        return Decision::Json(document.to_string());
    }
    let Some(endpoint) = Endpoint::of(method, target) else {
        let (method_text, target) = (String::from_utf8_lossy(method), String::from_utf8_lossy(target));
        let target: String = target.chars().take(200).collect();
        let message = format!(
            "no such endpoint: {method_text} {target}; the mock serves POST /v1/chat/completions and POST \
             /v1/completions (and GET or DELETE /mock/truth)"
        );
        return Decision::Refuse { status: "404 Not Found", message, head_only: method == b"HEAD" };
    };
    let ask = match read_ask(body, mock.default_tokens) {
        Ok(ask) => ask,
        Err(message) => return Decision::Refuse { status: "400 Bad Request", message, head_only: false },
    };
    let usage = Usage::for_body(body.len(), ask.tokens);
    if !ask.stream {
        return Decision::Whole { endpoint, usage, due: mock.schedule.whole_due(ask.tokens) };
    }
    Decision::Stream { endpoint, tokens: ask.tokens, usage: ask.include_usage.then_some(usage) }
}

/// Writes the answer to one request, when it is due; of a streaming
/// answer, only the head, and returns what its events need.
async fn answer(
    out: &mut Replier<'_>,
    mock: &Mock,
    received: &Received,
    body_complete: Instant,
) -> io::Result<Option<Streaming>> {
    let bytes = match decide(mock, &received.method, &received.target, &received.body) {
        Decision::Json(document) => json_answer(&document, received.close),
        Decision::Refuse { status, message, head_only } => error_answer(status, &message, head_only, received.close),
        Decision::Whole { endpoint, usage, due } => {
            sleep_until(at(body_complete, due).into()).await;
            whole_answer(endpoint, usage)
        }
        Decision::Stream { endpoint, tokens, usage } => {
            out.write(STREAM_HEAD).await?;
            return Ok(Some(Streaming { endpoint, tokens, usage, body_complete }));
        }
    };
    out.finish(&bytes).await?;
    Ok(None)
}

/// Hands a stream to the thread's pacer, and writes for it what a full
/// socket buffer held up; the connection back when all is written, `None`
/// if the peer is gone.
async fn paced(stream: TcpStream, pacer: &Inbox, mock: &Mock, streaming: Streaming) -> Option<TcpStream> {
    let Streaming { endpoint, tokens, usage, body_complete } = streaming;
    let mut paced = Paced::new(stream, endpoint, tokens, usage, body_complete);
    loop {
        match pacer.pace(paced).await {
            Handback::Done(stream) => return Some(stream),
            Handback::Failed => return None,
            Handback::Blocked(mut held, rest) => {
                held.socket().write_all(&rest).await.ok()?;
                mock.truth.record(&[held.wrote(Instant::now())]);
                if held.finished(&mock.schedule) {
                    return Some(held.into_socket());
                }
                paced = held;
            }
        }
    }
}

/// Writes a stream's events from the connection's own task, each when it
/// is due on tokio's timer (over TLS, or without a pacer).
async fn stream_in_task(out: &mut Replier<'_>, mock: &Mock, streaming: Streaming) -> io::Result<()> {
    let Streaming { endpoint, tokens: asked, usage, body_complete } = streaming;
    let mut scratch = Vec::new();
    let mut last = Vec::new();
    let events = mock.schedule.events(asked);
    let mut written = None;
    for i in 0..events {
        sleep_until(at(body_complete, mock.schedule.due(i)).into()).await;
        let tokens = mock.schedule.tokens_in(i, asked);
        let event = mock.prebuilt.content(endpoint, i == 0, tokens, &mut scratch);
        if i + 1 < events {
            out.write(event).await?;
            written = Some(record_truth(&mock.truth, body_complete, written));
        } else {
            last.extend_from_slice(event);
        }
    }
    // The last content event and what closes the stream, in one write.
    last.extend_from_slice(&closing_events(endpoint, usage));
    out.finish(&last).await?;
    record_truth(&mock.truth, body_complete, written);
    Ok(())
}

/// Where the mock's own figures are read.
const TRUTH_PATH: &[u8] = b"/mock/truth";

/// Records a content event just written (the previous one at `previous`,
/// if any) in the mock's truth: the time it was written.
fn record_truth(truth: &truth::Truth, body_complete: Instant, previous: Option<Instant>) -> Instant {
    let now = Instant::now();
    match previous {
        None => truth.first(now - body_complete),
        Some(previous) => truth.gap(now - previous),
    }
    now
}

/// A `200 OK` answer with a JSON body.
fn json_answer(body: &str, close: bool) -> Vec<u8> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "HTTP/1.1 200 OK\r\nServer: vastar\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{connection}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `start + offset`, or far ahead when that cannot be represented.
fn at(start: Instant, offset: Duration) -> Instant {
    start.checked_add(offset).unwrap_or_else(|| start + Duration::from_secs(100 * 365 * 86_400))
}
