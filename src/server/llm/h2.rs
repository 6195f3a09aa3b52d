//! The mock LLM over HTTP/2 (`vastar serve --http2 --llm`): one
//! connection's answers, without sockets or clocks. Bytes and the instant
//! they arrived go in ([`H2Mock::feed`]), the instant of a wake-up goes in
//! ([`H2Mock::wake`]), and out come the next deadline and the bytes to
//! write; [`io`] only moves them and sleeps.
//!
//! It exists because over HTTP/1.1 every event costs the mock a write of
//! its own (about 10 us on loopback), so one core cannot source 10,000
//! streams of 20 events a second. Here a connection keeps its streams'
//! deadlines in one queue; at a wake-up every event due, of every stream,
//! is framed as DATA into the connection's one output, and leaves in one
//! write. The answers are HTTP/1.1's, event for event: the same schedule
//! (from the arrival of the bytes that completed the request), the same
//! event-stream bytes, JSON answers and refusals, and `/mock/truth`; the
//! truth of a content event is the end of the write that carried it.

#[path = "h2_io.rs"]
pub(super) mod io;

use std::collections::HashMap;
use std::time::Instant;

use super::deadlines::Deadlines;
use super::events::{Endpoint, Usage, closing_events, error_body, unchunked, whole_body};
use super::request::MAX_BODY_BYTES;
use super::truth::Written;
use super::{Decision, Mock, at, decide};
use crate::http::h2::hpack::encode_field;
use crate::server::h2::{Connection, Request};

/// Streams a client may have open at once on one connection (our
/// SETTINGS_MAX_CONCURRENT_STREAMS): more than the plain server's 128, so
/// that a few connections carry thousands of slow streams.
pub const MAX_STREAMS: u32 = 1000;

/// One answer under way: streamed, or answered whole when due.
#[derive(Debug)]
struct Flow {
    endpoint: Endpoint,
    tokens: u32,
    usage: Usage,
    include_usage: bool,
    /// The request's clock: when the bytes that completed it arrived.
    body_complete: Instant,
    whole: bool,
    /// The next content event to queue.
    next: u32,
    /// When the write of the last content event ended.
    last_write: Option<Instant>,
}

/// One HTTP/2 connection of the mock.
pub struct H2Mock {
    conn: Connection<'static>,
    flows: HashMap<u32, Flow>,
    /// Streams by when their next event (or whole answer) is due.
    due: Deadlines<u32>,
    /// The head of every streaming answer, HPACK-encoded once.
    stream_head: Vec<u8>,
    event: Vec<u8>,
    scratch: Vec<u8>,
    written: Vec<u64>,
    truth: Vec<Written>,
}

impl H2Mock {
    /// A connection that sends GOAWAY after `stream_limit` streams, if given.
    pub fn new(stream_limit: Option<u32>) -> H2Mock {
        let mut stream_head = Vec::with_capacity(64);
        for (name, value) in [
            (&b":status"[..], &b"200"[..]),
            (b"server", b"vastar"),
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
        ] {
            encode_field(name, value, &mut stream_head);
        }
        H2Mock {
            conn: Connection::owned(stream_limit, MAX_BODY_BYTES, MAX_STREAMS),
            flows: HashMap::new(),
            due: Deadlines::default(),
            stream_head,
            event: Vec::with_capacity(1024),
            scratch: Vec::new(),
            written: Vec::new(),
            truth: Vec::new(),
        }
    }

    /// Reads bytes that reached the machine at `arrived`: the requests
    /// they complete are answered, or scheduled from that instant.
    pub fn feed(&mut self, mock: &Mock, data: &[u8], arrived: Instant) {
        self.conn.feed(data);
        for stream_id in self.conn.take_gone() {
            // Reset: its events stop; its deadline, when it comes, finds nothing.
            self.flows.remove(&stream_id);
        }
        for request in self.conn.take_requests() {
            self.start(mock, request, arrived);
        }
    }

    fn start(&mut self, mock: &Mock, request: Request, arrived: Instant) {
        let id = request.stream_id;
        if request.too_large {
            let message = format!("the request body is larger than the mock's limit of {MAX_BODY_BYTES} bytes");
            return answer_json(&mut self.conn, id, b"413", &error_body(&message), false);
        }
        let flow = |endpoint, tokens, usage, include_usage, whole| Flow {
            endpoint,
            tokens,
            usage,
            include_usage,
            body_complete: arrived,
            whole,
            next: 0,
            last_write: None,
        };
        match decide(mock, &request.method, &request.path, &request.body) {
            Decision::Json(document) => answer_json(&mut self.conn, id, b"200", &document, false),
            Decision::Refuse { status, message, head_only } => {
                answer_json(&mut self.conn, id, &status.as_bytes()[..3], &error_body(&message), head_only);
            }
            Decision::Whole { endpoint, usage, due } => {
                self.flows.insert(id, flow(endpoint, usage.completion, usage, false, true));
                self.due.put(at(arrived, due), id);
            }
            Decision::Stream { endpoint, tokens, usage } => {
                self.conn.respond(id, &self.stream_head, false);
                let (usage, include_usage) = usage.map_or((Usage::for_body(0, tokens), false), |usage| (usage, true));
                self.flows.insert(id, flow(endpoint, tokens, usage, include_usage, false));
                self.due.put(at(arrived, mock.schedule.due(0)), id);
            }
        }
    }

    /// When [`H2Mock::wake`] is next wanted.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.due.next()
    }

    /// Queues every event (and whole answer) due at `now`.
    pub fn wake(&mut self, mock: &Mock, now: Instant) {
        let schedule = &mock.schedule;
        while let Some((_, id)) = self.due.take_due(now) {
            let Some(flow) = self.flows.get_mut(&id) else { continue };
            if flow.whole {
                let body = whole_body(flow.endpoint, flow.usage);
                self.flows.remove(&id);
                answer_json(&mut self.conn, id, b"200", &body, false);
                continue;
            }
            let (i, events) = (flow.next, schedule.events(flow.tokens));
            let content =
                mock.prebuilt.content(flow.endpoint, i == 0, schedule.tokens_in(i, flow.tokens), &mut self.scratch);
            self.event.clear();
            unchunked(content, &mut self.event);
            let last = i + 1 >= events;
            if last {
                // The last content event and what closes the stream, together.
                unchunked(&closing_events(flow.endpoint, flow.include_usage.then_some(flow.usage)), &mut self.event);
            }
            if !self.conn.send(id, &self.event, last, Some((u64::from(id) << 32) | u64::from(i))) {
                self.flows.remove(&id);
                continue;
            }
            flow.next += 1;
            if !last {
                self.due.put(at(flow.body_complete, schedule.due(flow.next)), id);
            }
        }
    }

    /// Bytes to write now.
    pub fn output(&mut self) -> &[u8] {
        self.conn.output()
    }

    /// `n` bytes of [`H2Mock::output`] were written, the write ending at
    /// `now`: the content events it completed go into the truth.
    pub fn output_sent(&mut self, mock: &Mock, n: usize, now: Instant) {
        self.conn.output_sent(n);
        self.conn.take_written(&mut self.written);
        for mark in self.written.drain(..) {
            let (id, i) = ((mark >> 32) as u32, mark as u32);
            let Some(flow) = self.flows.get_mut(&id) else { continue };
            self.truth.push(match flow.last_write {
                None => Written::First(now.saturating_duration_since(flow.body_complete)),
                Some(previous) => Written::Gap(now.saturating_duration_since(previous)),
            });
            flow.last_write = Some(now);
            if i + 1 >= mock.schedule.events(flow.tokens) {
                self.flows.remove(&id);
            }
        }
        if !self.truth.is_empty() {
            mock.truth.record(&self.truth);
            self.truth.clear();
        }
    }

    /// Answers completed since the last call (each counted once, before
    /// its last bytes go out).
    pub fn take_answered(&mut self) -> u64 {
        self.conn.take_answered()
    }

    /// Whether the connection is finished (see [`Connection::is_done`]).
    pub fn is_done(&self) -> bool {
        self.conn.is_done()
    }

    /// Answers under way (streams and whole answers not yet all written).
    #[cfg(test)]
    fn flows(&self) -> usize {
        self.flows.len()
    }
}

/// Answers `stream_id` at once with a JSON `body` and `status`.
fn answer_json(conn: &mut Connection<'_>, stream_id: u32, status: &[u8], body: &str, head_only: bool) {
    let mut block = Vec::with_capacity(64);
    encode_field(b":status", status, &mut block);
    encode_field(b"server", b"vastar", &mut block);
    encode_field(b"content-type", b"application/json", &mut block);
    encode_field(b"content-length", body.len().to_string().as_bytes(), &mut block);
    let empty = head_only || body.is_empty();
    if conn.respond(stream_id, &block, empty) && !empty {
        conn.send(stream_id, body.as_bytes(), true, None);
    }
}

#[cfg(test)]
#[path = "h2_tests.rs"]
mod tests;
