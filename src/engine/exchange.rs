//! The per-connection state machine, without I/O.
//!
//! A backend owns the socket and moves bytes; this machine decides what to do
//! with them: when to (re)connect, what to send, when a response is complete,
//! whether to follow a redirect, whether a failure on a reused connection is
//! a stale keep-alive to retry, and how the request is recorded. Time comes in
//! as arguments, so both backends behave identically and the logic is tested
//! without sockets.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::http::reader::Truncated;
use crate::http::request::resolve_location;
use crate::http::{Feed, HttpError, RequestSpec, Response, ResponseReader};
use crate::stats::{ErrorKind, Record, nanos};

/// Redirect hops followed before a request counts as failed (as Go's client, so hey).
pub const MAX_REDIRECTS: u8 = 10;

/// Longest pause between connection attempts after repeated connect failures.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// What every request of a run looks like (shared, read-only).
#[derive(Clone, Debug)]
pub struct Template {
    pub spec: RequestSpec,
    /// `spec.build()`, once: every connection sends these bytes.
    pub request: Bytes,
    pub keepalive: bool,
    pub follow_redirects: bool,
    /// Origin of the target, to keep redirects on the same host and port.
    pub host: String,
    pub port: u16,
}

impl Template {
    pub fn new(spec: RequestSpec, keepalive: bool, follow_redirects: bool, host: String, port: u16) -> Self {
        Template { request: spec.build(), spec, keepalive, follow_redirects, host, port }
    }
}

/// What the backend must do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Close the socket if there is one, open a new one, then call `on_connect`.
    Connect,
    /// Write all of [`Exchange::request`], then call `on_sent`.
    Send,
    /// Read, then call `on_data`, `on_eof` or `on_recv_error`.
    Recv,
    /// The request is over: record it; close the socket unless `keep_conn`.
    Finish(Finished),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Finished {
    pub record: Record,
    pub keep_conn: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Idle,
    Connecting,
    Sending,
    Receiving,
}

/// Methods that may be retried after a stale keep-alive connection
/// (RFC 9110 §9.2.2; Go's client, and so hey, retries the same set).
fn replayable(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// One connection's request cycle. Reused for every request on the slot.
#[derive(Debug)]
pub struct Exchange {
    reader: ResponseReader,
    stage: Stage,
    connected: bool,
    /// The open connection has already carried a complete response.
    reused: bool,
    /// Request of the current redirect hop, when not the template's.
    hop: Option<(RequestSpec, Bytes)>,
    hops: u8,
    retried: bool,
    connect_failures: u32,
    /// When the request was meant to start (the schedule's time under
    /// `--rate`; the actual start otherwise).
    intended: Instant,
    started: Instant,
    mark: Instant,
    first_byte: Option<Instant>,
    write_ns: u64,
    /// Every send of this request was seen to complete (see `on_sent_unobserved`).
    write_observed: bool,
    wait_ns: u64,
    read_ns: u64,
    wire_bytes: u64,
    body_bytes: u64,
}

impl Exchange {
    /// A machine for a slot whose socket is already open (`connected`) or not.
    pub fn new(connected: bool, now: Instant) -> Self {
        Exchange {
            reader: ResponseReader::new(),
            stage: Stage::Idle,
            connected,
            reused: false,
            hop: None,
            hops: 0,
            retried: false,
            connect_failures: 0,
            intended: now,
            started: now,
            mark: now,
            first_byte: None,
            write_ns: 0,
            write_observed: true,
            wait_ns: 0,
            read_ns: 0,
            wire_bytes: 0,
            body_bytes: 0,
        }
    }

    /// Pause before the next request after connect failures, so that a
    /// refused or unreachable target is not hammered in a busy loop.
    pub fn backoff(&self) -> Option<Duration> {
        match self.connect_failures {
            0 => None,
            n => Some(Duration::from_millis(1 << (n - 1).min(9)).min(MAX_BACKOFF)),
        }
    }

    /// Starts a request that was meant to start at `intended` (≤ `now`).
    pub fn begin(&mut self, intended: Instant, now: Instant) -> Action {
        self.hop = None;
        self.hops = 0;
        self.retried = false;
        self.intended = intended.min(now);
        self.started = now;
        (self.write_ns, self.wait_ns, self.read_ns, self.wire_bytes, self.body_bytes) = (0, 0, 0, 0, 0);
        self.write_observed = true;
        self.next_hop(now)
    }

    /// The bytes to send for the current hop.
    pub fn request<'a>(&'a self, template: &'a Template) -> &'a [u8] {
        self.hop.as_ref().map_or(&template.request[..], |(_, bytes)| &bytes[..])
    }

    /// The bytes of the current redirect hop, when it is not the template's
    /// request (a backend that hands buffers to the kernel keeps them alive).
    pub fn hop_request(&self) -> Option<&Bytes> {
        self.hop.as_ref().map(|(_, bytes)| bytes)
    }

    /// The server closed the idle connection (or sent bytes nobody asked
    /// for): the next request must open a new one.
    pub fn connection_lost(&mut self) {
        self.connected = false;
        self.reused = false;
    }

    fn method<'a>(&'a self, template: &'a Template) -> &'a str {
        self.hop.as_ref().map_or(&template.spec.method, |(spec, _)| &spec.method)
    }

    pub fn on_connect(&mut self, result: Result<(), ErrorKind>, now: Instant) -> Action {
        match result {
            Ok(()) => {
                self.connected = true;
                self.reused = false;
                self.connect_failures = 0;
                self.mark = now;
                self.stage = Stage::Sending;
                Action::Send
            }
            Err(kind) => {
                self.connect_failures = self.connect_failures.saturating_add(1);
                self.finish(Err(kind), now)
            }
        }
    }

    /// The request was handed to the kernel together with the receive, and
    /// only a failure of the send will come back (io_uring): the time it
    /// took is not observed, so the write phase is not measured; it is part
    /// of the wait.
    pub fn on_sent_unobserved(&mut self, now: Instant, template: &Template) -> Action {
        self.write_observed = false;
        self.on_sent(Ok(()), now, template)
    }

    pub fn on_sent(&mut self, result: Result<(), ErrorKind>, now: Instant, template: &Template) -> Action {
        match result {
            Ok(()) => {
                self.write_ns += nanos(now - self.mark);
                self.mark = now;
                self.first_byte = None;
                self.reader.start(self.method(template) == "HEAD");
                self.stage = Stage::Receiving;
                Action::Recv
            }
            Err(kind) if self.may_retry(template, false) && kind == ErrorKind::Reset => self.retry(now),
            Err(kind) => self.finish(Err(kind), now),
        }
    }

    pub fn on_data(&mut self, data: &[u8], now: Instant, template: &Template) -> Action {
        if self.first_byte.is_none() {
            self.first_byte = Some(now);
            self.wait_ns += nanos(now - self.mark);
        }
        match self.reader.feed(data) {
            Ok(Feed::NeedMore) => Action::Recv,
            Ok(Feed::Done(response)) => self.complete(response, now, template),
            Err(e) => self.finish(Err(http_error_kind(e)), now),
        }
    }

    pub fn on_eof(&mut self, now: Instant, template: &Template) -> Action {
        match self.reader.eof() {
            Ok(response) => self.complete(response, now, template),
            Err(Truncated::BeforeResponse) if self.may_retry(template, false) => self.retry(now),
            Err(Truncated::BeforeResponse) => self.finish(Err(ErrorKind::ClosedBeforeResponse), now),
            Err(Truncated::MidResponse) => self.finish(Err(ErrorKind::Incomplete), now),
            Err(Truncated::Invalid(e)) => self.finish(Err(http_error_kind(e)), now),
        }
    }

    pub fn on_recv_error(&mut self, kind: ErrorKind, now: Instant, template: &Template) -> Action {
        let got_bytes = self.reader.bytes_received() > 0;
        if kind == ErrorKind::Reset && self.may_retry(template, got_bytes) {
            return self.retry(now);
        }
        self.finish(Err(kind), now)
    }

    /// The request's deadline passed; the backend has closed the socket.
    pub fn on_timeout(&mut self, now: Instant) -> Finished {
        let kind = if self.stage == Stage::Connecting { ErrorKind::ConnectTimeout } else { ErrorKind::Timeout };
        match self.finish(Err(kind), now) {
            Action::Finish(finished) => finished,
            _ => unreachable!("finish always finishes"),
        }
    }

    /// A reused connection that failed before any byte of the response came
    /// back was most likely closed by the server while idle: retry once on a
    /// fresh connection, for methods that are safe to replay.
    fn may_retry(&self, template: &Template, got_bytes: bool) -> bool {
        self.reused && !self.retried && !got_bytes && replayable(self.method(template))
    }

    fn retry(&mut self, now: Instant) -> Action {
        self.retried = true;
        self.connected = false;
        self.next_hop(now)
    }

    /// Sends the current hop, connecting first when needed.
    fn next_hop(&mut self, now: Instant) -> Action {
        self.mark = now;
        if self.connected {
            self.stage = Stage::Sending;
            Action::Send
        } else {
            self.stage = Stage::Connecting;
            Action::Connect
        }
    }

    fn complete(&mut self, response: Response, now: Instant, template: &Template) -> Action {
        if let Some(first) = self.first_byte {
            self.read_ns += nanos(now - first);
        }
        self.wire_bytes += response.wire_bytes;
        self.body_bytes += response.body_bytes;
        self.connected = response.reusable && template.keepalive;
        self.reused = self.connected;
        if template.follow_redirects && matches!(response.status, 301 | 302 | 303 | 307 | 308) {
            let target = self.reader.location().and_then(|loc| {
                let current = self.hop.as_ref().map_or(&template.spec.target, |(spec, _)| &spec.target);
                resolve_location(loc, &template.host, template.port, current)
            });
            if let Some(target) = target {
                if self.hops >= MAX_REDIRECTS {
                    return self.finish(Err(ErrorKind::TooManyRedirects), now);
                }
                self.hops += 1;
                let spec =
                    self.hop.as_ref().map_or(&template.spec, |(spec, _)| spec).redirected(response.status, &target);
                let bytes = spec.build();
                self.hop = Some((spec, bytes));
                return self.next_hop(now);
            }
        }
        self.finish(Ok(response.status), now)
    }

    fn finish(&mut self, result: Result<u16, ErrorKind>, now: Instant) -> Action {
        let mut wire_bytes = self.wire_bytes;
        if result.is_err() {
            self.connected = false;
            self.reused = false;
            if self.stage == Stage::Receiving {
                wire_bytes += self.reader.bytes_received();
            }
        }
        self.stage = Stage::Idle;
        let ns = Duration::from_nanos;
        Action::Finish(Finished {
            record: Record {
                result,
                latency: now - self.started,
                queued: self.started - self.intended,
                write: self.write_observed.then(|| ns(self.write_ns)),
                wait: ns(self.wait_ns),
                read: ns(self.read_ns),
                wire_bytes,
                body_bytes: self.body_bytes,
            },
            keep_conn: self.connected,
        })
    }
}

fn http_error_kind(e: HttpError) -> ErrorKind {
    match e {
        HttpError::HeadTooLarge => ErrorKind::HeadTooLarge,
        _ => ErrorKind::InvalidResponse,
    }
}

#[cfg(test)]
#[path = "exchange_tests.rs"]
mod tests;
