//! The per-connection state machine, without I/O.
//!
//! A backend owns the socket and moves bytes; this machine decides what to do
//! with them: when to (re)connect, what to send, when a response is complete,
//! whether to follow a redirect, whether a failure on a reused connection is
//! a stale keep-alive to retry, and how the request is recorded. Time comes in
//! as arguments, so both backends behave identically and the logic is tested
//! without sockets.
//!
//! For `https://` the machine also owns the connection's TLS session
//! ([`Secure`]): after the TCP connect it asks for the handshake's flights
//! to be sent and received, then sends requests as ciphertext, and turns
//! what it receives into plaintext before the HTTP reader sees it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::secure::{Secure, TlsTarget};
use super::sending::Current;
use crate::http::reader::Truncated;
use crate::http::request::{method_of, redirect, resolve_location, target_of};
use crate::http::{Feed, HttpError, Pool, Response, ResponseReader};
use crate::stats::{ErrorKind, Handshake, Record, nanos};

/// Redirect hops followed before a request counts as failed (as Go's client, so hey).
pub const MAX_REDIRECTS: u8 = 10;

/// More than the most ciphertext of one TLS record (16 KiB of plaintext,
/// 256 bytes of expansion, a 5-byte header): what a session may hold
/// undecrypted.
const TLS_RECORD_BYTES: u64 = 17 * 1024;

/// Bytes due below which a receive wakes for every segment: setting the
/// watermark twice costs more than the wake-ups it saves (58 KiB bodies
/// from nginx: 1-7% more CPU per response with a watermark from 8 KiB).
const LOW_WATER_MIN: u64 = 64 * 1024;
/// Highest watermark: the kernel grows the socket's receive buffer to fit it.
const LOW_WATER_MAX: u64 = 256 * 1024;

/// Longest pause between connection attempts after repeated connect failures.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// What the requests of a run look like (shared, read-only).
#[derive(Clone, Debug)]
pub struct Template {
    /// The pre-built requests, picked in turn by each start's number.
    pub pool: Arc<Pool>,
    pub keepalive: bool,
    pub follow_redirects: bool,
    /// Origin of the target, to keep redirects on the same host and port.
    pub host: String,
    pub port: u16,
    /// `https://`: how connections are secured (each worker uses its
    /// [`TlsTarget::for_worker`] copy).
    pub tls: Option<TlsTarget>,
}

impl Template {
    /// The run's requests are `pool`'s.
    pub fn new(pool: Arc<Pool>, keepalive: bool, follow_redirects: bool, host: String, port: u16) -> Self {
        Template { pool, keepalive, follow_redirects, host, port, tls: None }
    }

    /// The same requests over TLS.
    pub fn with_tls(self, tls: TlsTarget) -> Self {
        Template { tls: Some(tls), ..self }
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// What the backend must do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Close the socket if there is one, open a new one, then call `on_connect`.
    Connect,
    /// Write all of [`Exchange::outgoing`], then call `on_sent`.
    Send,
    /// Read, then call `on_data`, `on_eof` or `on_recv_error`.
    Recv,
    /// The request is over: record it; close the socket unless `keep_conn`.
    Finish(Finished),
    /// The connection asked for by [`Exchange::open`] is ready (or failed:
    /// then close the socket).
    Opened(Opened),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Finished {
    pub record: Record,
    pub keep_conn: bool,
    /// A TLS handshake that ended during the request.
    pub handshake: Option<Handshake>,
    /// The target the request was for (its pool entry's).
    pub target: u16,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Opened {
    pub result: Result<(), ErrorKind>,
    pub handshake: Option<Handshake>,
}

/// The bytes of a [`Action::Send`].
#[derive(Clone, Debug, PartialEq)]
pub enum Outgoing {
    /// A pre-built request of the run: this entry of [`Template::pool`].
    Request(usize),
    /// Bytes of this connection: a redirect hop's request, or ciphertext.
    Bytes(Bytes),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Idle,
    Connecting,
    /// The TLS handshake: sending or awaiting its flights.
    Handshaking,
    Sending,
    Receiving,
}

/// Methods that may be retried after a stale keep-alive connection
/// (RFC 9110 §9.2.2; Go's client, and so hey, retries the same set).
fn replayable(method: &[u8]) -> bool {
    matches!(method, b"GET" | b"HEAD" | b"OPTIONS" | b"TRACE")
}

/// One connection's request cycle. Reused for every request on the slot.
#[derive(Debug)]
pub struct Exchange {
    reader: ResponseReader,
    stage: Stage,
    connected: bool,
    /// The open connection has already carried a complete response.
    reused: bool,
    /// Which bytes the current request sends.
    current: Current,
    hops: u8,
    retried: bool,
    connect_failures: u32,
    /// When the request was meant to start (the schedule's time under
    /// `--rate`; the actual start otherwise).
    intended: Instant,
    started: Instant,
    mark: Instant,
    first_byte: Option<Instant>,
    /// When the current hop's response body began (see [`ResponseReader::body_begun`]).
    first_body: Option<Instant>,
    /// How this slot's connections are secured (`None`: plain TCP).
    tls: Option<TlsTarget>,
    /// The open connection's TLS session.
    secure: Option<Secure>,
    /// The current request's bytes were handed to the TLS session.
    queued: bool,
    /// Opening a connection for no request yet ([`Exchange::open`]).
    opening: bool,
    /// A handshake that ended and is not recorded yet.
    handshake: Option<Handshake>,
    /// The socket's receive low-water mark as last asked for.
    low_water: u32,
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
            current: Current::default(),
            hops: 0,
            retried: false,
            connect_failures: 0,
            intended: now,
            started: now,
            mark: now,
            first_byte: None,
            first_body: None,
            tls: None,
            secure: None,
            queued: false,
            opening: false,
            handshake: None,
            low_water: 1,
            write_ns: 0,
            write_observed: true,
            wait_ns: 0,
            read_ns: 0,
            wire_bytes: 0,
            body_bytes: 0,
        }
    }

    /// Secures this slot's connections as `tls` says (`https://`).
    pub fn with_tls(self, tls: Option<TlsTarget>) -> Self {
        Exchange { tls, ..self }
    }

    /// Opens a connection before any request is due (pre-connect): connect,
    /// then the TLS handshake for `https://`; ends with [`Action::Opened`].
    pub fn open(&mut self, now: Instant) -> Action {
        self.opening = true;
        self.connected = false;
        self.next_hop(now)
    }

    /// The connection asked for by [`Exchange::open`] is not ready yet.
    pub fn is_opening(&self) -> bool {
        self.opening
    }

    /// Pause before the next request after connect failures, so that a
    /// refused or unreachable target is not hammered in a busy loop.
    pub fn backoff(&self) -> Option<Duration> {
        match self.connect_failures {
            0 => None,
            n => Some(Duration::from_millis(1 << (n - 1).min(9)).min(MAX_BACKOFF)),
        }
    }

    /// Starts request number `pick` of the run (see [`Pool::claim`]),
    /// meant to start at `intended` (≤ `now`).
    pub fn begin(&mut self, pick: u64, intended: Instant, now: Instant, template: &Template) -> Action {
        self.current.pick(pick, &template.pool);
        self.hops = 0;
        self.retried = false;
        self.intended = intended.min(now);
        self.started = now;
        (self.write_ns, self.wait_ns, self.read_ns, self.wire_bytes, self.body_bytes) = (0, 0, 0, 0, 0);
        self.write_observed = true;
        self.next_hop(now)
    }

    /// The bytes to send for an [`Action::Send`] (a backend that hands
    /// them to the kernel keeps [`Outgoing::Bytes`] alive until sent).
    pub fn outgoing(&mut self, template: &Template) -> Outgoing {
        let Some(secure) = self.secure.as_mut() else { return self.current.outgoing() };
        if self.stage == Stage::Sending && !self.queued {
            self.queued = true;
            secure.queue(self.current.bytes(template));
        }
        Outgoing::Bytes(secure.take())
    }

    /// The bytes to send for the current hop, as plaintext.
    pub fn request<'a>(&'a self, template: &'a Template) -> &'a [u8] {
        self.current.bytes(template)
    }

    /// When the TLS handshake in progress runs out of the connect limit.
    pub fn handshake_deadline(&self, connect_limit: Option<std::time::Duration>) -> Option<Instant> {
        let secure = self.secure.as_ref().filter(|_| self.stage == Stage::Handshaking)?;
        connect_limit.map(|limit| secure.began() + limit)
    }

    /// Bytes the connection will certainly deliver before the response is
    /// complete (a lower bound; 0 when unknown). Over TLS up to one record's
    /// ciphertext may already sit in the session, so a record's worth is
    /// taken off.
    fn bytes_due(&self) -> u64 {
        if self.stage != Stage::Receiving {
            return 0;
        }
        let left = self.reader.body_left().unwrap_or(0);
        if self.secure.is_some() { left.saturating_sub(TLS_RECORD_BYTES) } else { left }
    }

    /// The receive low-water mark (SO_RCVLOWAT) the socket should have
    /// now, when it differs from the one this returned last: the bytes the
    /// response still certainly needs, so that a large body wakes the
    /// worker a few times instead of once per segment the server wrote
    /// (1 MiB bodies from nginx: 15-35 context switches per response down
    /// to 3-4, 37-41% less CPU per response); 1 byte otherwise.
    pub fn low_water_change(&mut self) -> Option<u32> {
        let due = self.bytes_due();
        let want = if due >= LOW_WATER_MIN { due.min(LOW_WATER_MAX) as u32 } else { 1 };
        (want != self.low_water).then(|| {
            self.low_water = want;
            want
        })
    }

    /// Bytes arrived on an idle connection (no request in flight). TLS
    /// messages the server may send at any time (session tickets) are
    /// absorbed; anything else means the connection cannot be reused.
    /// Returns whether it can.
    pub fn on_idle_data(&mut self, data: &[u8]) -> bool {
        let usable = match self.secure.as_mut() {
            Some(secure) if !data.is_empty() => {
                let mut plaintext = false;
                let fed = secure.feed(data, &mut |plain| plaintext |= !plain.is_empty());
                !plaintext && fed.is_ok_and(|received| !received.closed)
            }
            _ => data.is_empty(),
        };
        if !usable {
            self.connection_lost();
        }
        usable
    }

    /// The server closed the idle connection (or sent bytes nobody asked
    /// for): the next request must open a new one.
    pub fn connection_lost(&mut self) {
        self.connected = false;
        self.reused = false;
    }

    fn method<'a>(&'a self, template: &'a Template) -> &'a [u8] {
        method_of(self.request(template))
    }

    pub fn on_connect(&mut self, result: Result<(), ErrorKind>, now: Instant) -> Action {
        if let Err(kind) = result {
            self.connect_failures = self.connect_failures.saturating_add(1);
            return self.finish(Err(kind), now);
        }
        self.connected = true;
        self.reused = false;
        self.connect_failures = 0;
        self.mark = now;
        self.low_water = 1;
        let Some(target) = &self.tls else { return self.ready(now) };
        match Secure::new(target, now) {
            Ok(secure) => {
                self.secure = Some(secure);
                self.stage = Stage::Handshaking;
                Action::Send
            }
            Err(kind) => self.finish(Err(kind), now),
        }
    }

    /// The connection is open (and secured): send the request, or report
    /// it open when there is none.
    fn ready(&mut self, now: Instant) -> Action {
        self.mark = now;
        self.queued = false;
        if self.opening {
            self.opening = false;
            self.stage = Stage::Idle;
            return Action::Opened(Opened { result: Ok(()), handshake: self.handshake.take() });
        }
        self.stage = Stage::Sending;
        Action::Send
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
        if self.stage == Stage::Handshaking {
            return match result {
                Err(kind) => self.finish(Err(kind), now),
                Ok(()) if self.secure.as_ref().is_some_and(Secure::is_handshaking) => Action::Recv,
                // The last flight of a handshake that ended before any request.
                Ok(()) => self.ready(now),
            };
        }
        match result {
            Ok(()) => {
                self.write_ns += nanos(now - self.mark);
                self.mark = now;
                self.first_byte = None;
                self.first_body = None;
                self.reader.start(self.method(template) == b"HEAD");
                self.stage = Stage::Receiving;
                Action::Recv
            }
            Err(kind) if self.may_retry(template, false) && kind == ErrorKind::Reset => self.retry(now),
            Err(kind) => self.finish(Err(kind), now),
        }
    }

    pub fn on_data(&mut self, data: &[u8], now: Instant, template: &Template) -> Action {
        if self.stage == Stage::Handshaking {
            return self.on_handshake_data(data, now);
        }
        let Some(secure) = self.secure.as_mut() else {
            self.first_byte_at(now);
            let fed = self.reader.feed(data);
            self.first_body_at(now);
            return match fed {
                Ok(Feed::NeedMore) => Action::Recv,
                Ok(Feed::Done(response)) => self.complete(response, now, template),
                Err(e) => self.finish(Err(http_error_kind(e)), now),
            };
        };
        let reader = &mut self.reader;
        let (mut fed, mut plaintext) = (Ok(Feed::NeedMore), false);
        let received = secure.feed(data, &mut |plain| {
            plaintext |= !plain.is_empty();
            if fed.is_ok() && !plain.is_empty() {
                fed = reader.feed(plain);
            }
        });
        // The response's first byte, not a session ticket that came before it.
        if plaintext {
            self.first_byte_at(now);
            self.first_body_at(now);
        }
        match (received, fed) {
            (Err(kind), _) => self.finish(Err(kind), now),
            (_, Err(e)) => self.finish(Err(http_error_kind(e)), now),
            (Ok(received), Ok(Feed::Done(mut response))) => {
                // close_notify came with the response: nothing more will.
                response.reusable &= !received.closed;
                self.complete(response, now, template)
            }
            (Ok(received), Ok(Feed::NeedMore)) if received.closed => self.on_eof(now, template),
            (Ok(_), Ok(Feed::NeedMore)) => Action::Recv,
        }
    }

    /// The first byte of the response arrived at `now` (if none had).
    fn first_byte_at(&mut self, now: Instant) {
        if self.first_byte.is_none() {
            self.first_byte = Some(now);
            self.wait_ns += nanos(now - self.mark);
        }
    }

    /// The response's body began by `now`, if it had not before.
    fn first_body_at(&mut self, now: Instant) {
        if self.first_body.is_none() && self.reader.body_begun() {
            self.first_body = Some(now);
        }
    }

    /// A flight of the server's handshake arrived.
    fn on_handshake_data(&mut self, data: &[u8], now: Instant) -> Action {
        let Some(secure) = self.secure.as_mut() else { return self.finish(Err(ErrorKind::TlsOther), now) };
        let mut plaintext = false;
        let fed = secure.feed(data, &mut |plain| plaintext |= !plain.is_empty());
        match fed {
            Err(kind) => return self.finish(Err(kind), now),
            Ok(received) if received.closed => return self.finish(Err(ErrorKind::ClosedBeforeResponse), now),
            // Nothing was asked yet: application data now is not HTTP.
            Ok(_) if plaintext => return self.finish(Err(ErrorKind::InvalidResponse), now),
            Ok(_) => {}
        }
        if secure.is_handshaking() {
            return if secure.has_output() { Action::Send } else { Action::Recv };
        }
        self.handshake = secure.handshake(now);
        if self.opening && secure.has_output() {
            // Finish the handshake before the clock starts.
            return Action::Send;
        }
        // A request goes out with the handshake's last flight.
        self.ready(now)
    }

    pub fn on_eof(&mut self, now: Instant, template: &Template) -> Action {
        if self.stage == Stage::Handshaking {
            return self.finish(Err(ErrorKind::ClosedBeforeResponse), now);
        }
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

    /// The request's deadline (or the connect limit, while connecting or
    /// in the handshake) passed; the backend has closed the socket. Returns
    /// [`Action::Finish`], or [`Action::Opened`] for [`Exchange::open`].
    pub fn on_timeout(&mut self, now: Instant) -> Action {
        let connecting = matches!(self.stage, Stage::Connecting | Stage::Handshaking);
        let kind = if connecting { ErrorKind::ConnectTimeout } else { ErrorKind::Timeout };
        self.finish(Err(kind), now)
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
        self.queued = false;
        if self.connected {
            self.stage = Stage::Sending;
            Action::Send
        } else {
            self.secure = None;
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
                let current = target_of(self.request(template));
                resolve_location(loc, template.scheme(), &template.host, template.port, current)
            });
            if let Some(target) = target {
                if self.hops >= MAX_REDIRECTS {
                    return self.finish(Err(ErrorKind::TooManyRedirects), now);
                }
                self.hops += 1;
                self.current.hop = Some(redirect(self.request(template), response.status, &target));
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
        if self.opening {
            self.opening = false;
            let result = result.map(|_| ());
            return Action::Opened(Opened { result, handshake: self.handshake.take() });
        }
        let ns = Duration::from_nanos;
        let mut metrics = crate::stats::Samples::default();
        if result.is_ok() {
            // A body framed by the close began when the close came, if it was empty.
            let first_body = self.first_body.unwrap_or(now).saturating_duration_since(self.intended);
            metrics.set(crate::stats::metrics::TTFB, nanos(first_body));
        }
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
                metrics,
            },
            keep_conn: self.connected,
            handshake: self.handshake.take(),
            target: self.current.target,
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
