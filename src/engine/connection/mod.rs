//! The connection machine: one connection and the requests (streams) it
//! carries, without I/O, in the shape of quinn-proto's connection.
//!
//! Inputs are what happened, with the time it happened: the socket
//! connected, bytes were sent, bytes arrived, the peer closed, a deadline
//! passed. Outputs are polled: [`Connection::poll_io`] (close, connect,
//! bytes to transmit), [`Connection::poll_event`] (stream-tagged events:
//! response head, body progress, the finished request's record) and
//! [`Connection::poll_timeout`] (the next instant the machine must be told
//! about). The machine owns every deadline of a connection and its streams
//! (the request's, counted from its intended start; the TLS handshake's; the
//! pre-connect limit), so a backend only moves bytes, reports times and
//! wakes it when asked. One limit stays with the backend: each TCP connect
//! attempt's (`--connect-timeout`), part of the single operation that tries
//! one address (a linked timeout on io_uring). vastar has no idle timeout.
//!
//! HTTP/1.1 carries at most one stream at a time. The machine decides when
//! to reconnect, what to send, when a response is complete, whether to
//! follow a redirect, and whether a failure on a reused connection is a
//! stale keep-alive to retry. For `https://` it owns the connection's TLS
//! session ([`tls_layer`]), under the HTTP reader; through a proxy, the
//! tunnel's setup ([`tunnel`]) comes first, under both.

mod between;
mod h2;
mod meter;
mod outbox;
mod outgoing;
mod output;
mod progress;
mod stream;
pub mod tls_layer;
pub mod tunnel;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use super::requests::MAX_REDIRECTS;
use super::requests::{RequestSet, TlsTarget};
use crate::http::reader::Truncated;
use crate::http::request::method_of;
use crate::http::{BodyFormat, Feed, Response, ResponseReader};
use crate::proxy::Opening;
use crate::stats::{ErrorKind, Handshake, nanos};
pub use h2::{H2Connection, H2Requests};
use meter::{BodyFacts, BodyMeter};
use outbox::{Outbox, Pending};
pub use outgoing::Outgoing;
use outgoing::{RequestBytes, replayable};
use output::http_error_kind;
pub use output::{Event, Finished, Io, Limits, Opened, StreamId};
use stream::Stream;
use tls_layer::TlsLayer;
use tunnel::TunnelLayer;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Idle,
    Connecting,
    /// Opening the tunnel through the proxy.
    Tunneling,
    /// The TLS handshake: sending or awaiting its flights.
    Handshaking,
    Sending,
    Receiving,
}

/// One connection: its socket's state as the protocol sees it, its TLS
/// session, and the stream it carries. Reused for every request of a
/// backend's connection slot.
#[derive(Debug)]
pub struct Connection {
    limits: Limits,
    reader: ResponseReader,
    stage: Stage,
    connected: bool,
    /// The open connection has already carried a complete response.
    reused: bool,
    /// Which bytes the stream's request sends.
    request: RequestBytes,
    /// The stream in flight, if one is.
    stream: Option<Stream>,
    next_stream: u64,
    connect_failures: u32,
    /// How this connection is secured (`None`: plain TCP).
    tls: Option<TlsTarget>,
    /// The open connection's TLS session (boxed: over a kilobyte that a
    /// plain connection would carry for nothing).
    tls_layer: Option<Box<TlsLayer>>,
    /// The stream's request bytes were handed to the TLS session.
    queued: bool,
    /// Opening a connection for no request yet ([`Connection::open`]),
    /// until this instant.
    opening: Option<Instant>,
    /// A handshake that ended and is not recorded yet.
    handshake: Option<Handshake>,
    /// Through a proxy: what opening a tunnel sends.
    tunnel: Option<Arc<Opening>>,
    /// The tunnel being opened on this connection.
    tunnel_layer: Option<Box<TunnelLayer>>,
    /// A tunnel that opened and is not recorded yet: how long it took (ns).
    tunneled: Option<u64>,
    /// The socket's receive low-water mark as last asked for.
    low_water: u32,
    /// The I/O and events waiting to be polled.
    outbox: Outbox,
    /// Heads and body progress are announced as events
    /// ([`Connection::with_progress_events`]).
    progress_events: bool,
    /// What response bodies say about tokens.
    body_meter: BodyMeter,
}

impl Connection {
    /// A machine with no socket open; `tls` secures its connections
    /// (`https://`), `limits` gives its deadlines.
    pub fn new(tls: Option<TlsTarget>, limits: Limits) -> Self {
        Connection {
            limits,
            reader: ResponseReader::new(),
            stage: Stage::Idle,
            connected: false,
            reused: false,
            request: RequestBytes::default(),
            stream: None,
            next_stream: 0,
            connect_failures: 0,
            tls,
            tls_layer: None,
            queued: false,
            opening: None,
            handshake: None,
            tunnel: None,
            tunnel_layer: None,
            tunneled: None,
            low_water: 1,
            outbox: Outbox::default(),
            progress_events: false,
            body_meter: BodyMeter::default(),
        }
    }

    /// The same machine, announcing each response head ([`Event::Head`])
    /// and each read's body bytes ([`Event::Body`]) as they arrive. Off by
    /// default: a backend whose caller reads only finished requests does
    /// not pay for two more events per response.
    pub fn with_progress_events(self) -> Self {
        Connection { progress_events: true, ..self }
    }

    /// The same machine, connecting through a proxy: each new connection
    /// first opens a tunnel with `opening` (none: connect directly).
    pub fn with_tunnel(self, opening: Option<Arc<Opening>>) -> Self {
        Connection { tunnel: opening, ..self }
    }

    /// Opens a connection before any request is due (pre-connect): connect,
    /// then the TLS handshake for `https://`, by `until`; ends with
    /// [`Event::Opened`].
    pub fn open(&mut self, now: Instant, until: Instant) {
        self.opening = Some(until);
        self.connected = false;
        self.next_hop(now);
    }

    /// A stream may start now: none is in flight and no opening is under way.
    pub fn is_idle(&self) -> bool {
        self.stream.is_none() && self.opening.is_none()
    }

    /// The socket is open and may carry the next request.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Pause before the next request after connect failures, so that a
    /// refused or unreachable target is not hammered in a busy loop.
    pub fn backoff(&self) -> Option<Duration> {
        match self.connect_failures {
            0 => None,
            n => Some(Duration::from_millis(1 << (n - 1).min(9)).min(MAX_BACKOFF)),
        }
    }

    /// Starts request number `pick` of the run (see
    /// [`crate::http::Pool::claim`]), meant to start at `intended` (≤ `now`),
    /// as a new stream. The connection must be idle ([`Connection::is_idle`]).
    pub fn start(&mut self, pick: u64, intended: Instant, now: Instant, requests: &RequestSet) -> StreamId {
        debug_assert!(self.is_idle(), "HTTP/1.1 carries one stream at a time");
        self.request.pick(pick, &requests.pool);
        self.body_meter.read_usage_in_json(requests.usage_in_json);
        let id = StreamId(self.next_stream);
        self.next_stream += 1;
        self.stream = Some(Stream::new(id, intended.min(now), now, self.limits));
        self.next_hop(now);
        id
    }

    /// The next I/O to carry out, if any.
    pub fn poll_io(&mut self, requests: &RequestSet) -> Option<Io> {
        match self.outbox.next_step()? {
            Pending::Close => Some(Io::Close),
            Pending::Connect => Some(Io::Connect),
            Pending::Transmit => Some(Io::Transmit(self.outgoing(requests))),
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.outbox.next_event()
    }

    /// When [`Connection::handle_timeout`] must be called next, if ever:
    /// the stream's deadline, the handshake's, or the pre-connect limit.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let request = self.stream.as_ref().and_then(|s| s.deadline);
        let handshake = match (&self.tls_layer, self.limits.handshake) {
            (Some(layer), Some(limit)) if self.stage == Stage::Handshaking => Some(layer.began() + limit),
            _ => None,
        };
        let tunnel = match (&self.tunnel_layer, self.limits.handshake) {
            (Some(layer), Some(limit)) if self.stage == Stage::Tunneling => Some(layer.began() + limit),
            _ => None,
        };
        [request, handshake, tunnel, self.opening].into_iter().flatten().min()
    }

    /// A socket read is wanted: a response or a handshake flight is awaited.
    pub fn wants_receive(&self) -> bool {
        matches!(self.stage, Stage::Tunneling | Stage::Handshaking | Stage::Receiving)
    }

    /// The plaintext the stream's current hop sends.
    pub fn request_bytes<'a>(&'a self, requests: &'a RequestSet) -> &'a [u8] {
        self.request.bytes(requests)
    }

    /// The bytes to transmit now: the request (as ciphertext over TLS) or
    /// a handshake flight.
    fn outgoing(&mut self, requests: &RequestSet) -> Outgoing {
        if let Some(tunnel) = self.tunnel_layer.as_mut().filter(|_| self.stage == Stage::Tunneling) {
            return Outgoing::Bytes(tunnel.take());
        }
        let Some(layer) = self.tls_layer.as_mut() else { return self.request.outgoing() };
        if self.stage == Stage::Sending && !self.queued {
            self.queued = true;
            layer.queue(self.request.bytes(requests));
        }
        Outgoing::Bytes(layer.take())
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
        if self.tls_layer.is_some() { left.saturating_sub(TLS_RECORD_BYTES) } else { left }
    }

    /// The receive low-water mark (SO_RCVLOWAT) the socket should have
    /// now, when it differs from the one this returned last: the bytes the
    /// response still certainly needs, so that a large body wakes the
    /// worker a few times instead of once per segment the server wrote
    /// (1 MiB bodies from nginx: 15-35 context switches per response down
    /// to 3-4, 37-41% less CPU per response); 1 byte otherwise.
    pub fn low_water_change(&mut self) -> Option<u32> {
        let due = self.bytes_due();
        // Events are timed as they arrive: a stream's reads never wait for more.
        let batch = due >= LOW_WATER_MIN && !self.body_meter.streaming();
        let want = if batch { due.min(LOW_WATER_MAX) as u32 } else { 1 };
        (want != self.low_water).then(|| {
            self.low_water = want;
            want
        })
    }

    /// The connection cannot carry another request: its socket goes.
    fn drop_connection(&mut self) {
        self.connected = false;
        self.reused = false;
        self.outbox.close();
    }

    fn method<'a>(&'a self, requests: &'a RequestSet) -> &'a [u8] {
        method_of(self.request.bytes(requests))
    }

    /// The connection is open (and secured): send the request, or report
    /// it open when there is none.
    fn ready(&mut self, now: Instant) {
        self.queued = false;
        if self.opening.take().is_some() {
            self.stage = Stage::Idle;
            let (handshake, tunnel) = (self.handshake.take(), self.tunneled.take());
            self.outbox.opened(Opened { result: Ok(()), handshake, tunnel });
            return;
        }
        if let Some(stream) = self.stream.as_mut() {
            stream.mark = now;
        }
        self.stage = Stage::Sending;
        self.outbox.set_transmit(true);
    }

    /// The bytes of an [`Io::Transmit`] were handed to the kernel together
    /// with the receive, and only a failure of the send will come back
    /// (io_uring): the time it took is not observed, so the write phase is
    /// not measured; it is part of the wait.
    pub fn handle_sent_unobserved(&mut self, now: Instant, requests: &RequestSet) {
        if let Some(stream) = self.stream.as_mut() {
            stream.write_observed = false;
        }
        self.handle_sent(Ok(()), now, requests)
    }

    /// The bytes of an [`Io::Transmit`] were written, or could not be.
    pub fn handle_sent(&mut self, result: Result<(), ErrorKind>, now: Instant, requests: &RequestSet) {
        if self.stage == Stage::Tunneling {
            // The proxy's reply is awaited.
            return if let Err(kind) = result {
                self.finish(Err(kind), now)
            };
        }
        if self.stage == Stage::Handshaking {
            return match result {
                Err(kind) => self.finish(Err(kind), now),
                Ok(()) if self.tls_layer.as_ref().is_some_and(|layer| layer.is_handshaking()) => {}
                // The last flight of a handshake that ended before any request.
                Ok(()) => self.ready(now),
            };
        }
        if self.stage != Stage::Sending {
            return;
        }
        match result {
            Ok(()) => {
                let head = self.method(requests) == b"HEAD";
                if let Some(stream) = self.stream.as_mut() {
                    stream.write_ns += nanos(now - stream.mark);
                    stream.mark = now;
                    (stream.first_byte, stream.first_body) = (None, None);
                }
                self.reader.start(head);
                self.body_meter.reset();
                self.stage = Stage::Receiving;
            }
            Err(kind) if self.may_retry(requests, false) && kind == ErrorKind::Reset => self.retry(now),
            Err(kind) => self.finish(Err(kind), now),
        }
    }

    /// Bytes arrived at `now`.
    pub fn handle_data(&mut self, data: &[u8], now: Instant, requests: &RequestSet) {
        self.take_data(data, now, now, requests);
    }

    /// Bytes read at `now` that the kernel stamped as received at
    /// `arrived` (see [`Connection::wants_arrival_stamps`]). The stamp
    /// times the events of an event stream; it is kept between the
    /// stream's start and `now`, whatever a clock step did to it.
    pub fn handle_stamped_data(&mut self, data: &[u8], now: Instant, arrived: Instant, requests: &RequestSet) {
        let floor = self.stream.as_ref().map_or(now, Stream::started);
        self.take_data(data, now, arrived.clamp(floor.min(now), now), requests);
    }

    /// Whether the backend should read this connection with the kernel's
    /// receive timestamps: an event stream is being read, whose events are
    /// timed by when their bytes arrived, not by when a busy or sleeping
    /// client got round to reading them.
    pub fn wants_arrival_stamps(&self) -> bool {
        self.stage == Stage::Receiving && self.reader.body_format() == BodyFormat::EventStream
    }

    /// Bytes read at `now`; the events they complete are timed `events_at`.
    fn take_data(&mut self, data: &[u8], now: Instant, events_at: Instant, requests: &RequestSet) {
        match self.stage {
            Stage::Tunneling => return self.tunnel_data(data, now),
            Stage::Handshaking => return self.handshake_data(data, now),
            Stage::Receiving => {}
            // An answer before the send was reported: the request went out.
            Stage::Sending => self.handle_sent_unobserved(now, requests),
            // Nothing can arrive on a socket that is not connected yet.
            Stage::Connecting => return,
            Stage::Idle => return self.idle_data(data),
        }
        let (reader, body_meter) = (&mut self.reader, &mut self.body_meter);
        let Some(layer) = self.tls_layer.as_mut() else {
            let fed = body_meter.feed(reader, data, events_at);
            self.first_byte_at(now);
            self.announce_progress(now);
            return match fed {
                Ok(Feed::NeedMore) => {}
                Ok(Feed::Done(response)) => self.complete(response, now, requests),
                Err(e) => self.finish(Err(http_error_kind(e)), now),
            };
        };
        let (mut fed, mut plaintext) = (Ok(Feed::NeedMore), false);
        let received = layer.feed(data, &mut |plain| {
            plaintext |= !plain.is_empty();
            if fed.is_ok() && !plain.is_empty() {
                fed = body_meter.feed(reader, plain, events_at);
            }
        });
        // The response's first byte, not a session ticket that came before it.
        if plaintext {
            self.first_byte_at(now);
            self.announce_progress(now);
        }
        match (received, fed) {
            (Err(kind), _) => self.finish(Err(kind), now),
            (_, Err(e)) => self.finish(Err(http_error_kind(e)), now),
            (Ok(received), Ok(Feed::Done(mut response))) => {
                // close_notify came with the response: nothing more will.
                response.reusable &= !received.closed;
                self.complete(response, now, requests)
            }
            (Ok(received), Ok(Feed::NeedMore)) if received.closed => self.handle_eof(now, requests),
            (Ok(_), Ok(Feed::NeedMore)) => {}
        }
    }

    /// The peer closed its side at `now`.
    pub fn handle_eof(&mut self, now: Instant, requests: &RequestSet) {
        match self.stage {
            Stage::Tunneling => return self.finish(Err(ErrorKind::ProxyClosed), now),
            Stage::Handshaking => return self.finish(Err(ErrorKind::ClosedBeforeResponse), now),
            Stage::Receiving => {}
            Stage::Sending => self.handle_sent_unobserved(now, requests),
            Stage::Connecting => return,
            Stage::Idle => return self.drop_connection(),
        }
        match self.reader.eof() {
            Ok(response) => self.complete(response, now, requests),
            Err(Truncated::BeforeResponse) if self.may_retry(requests, false) => self.retry(now),
            Err(Truncated::BeforeResponse) => self.finish(Err(ErrorKind::ClosedBeforeResponse), now),
            Err(Truncated::MidResponse) => self.finish(Err(ErrorKind::Incomplete), now),
            Err(Truncated::Invalid(e)) => self.finish(Err(http_error_kind(e)), now),
        }
    }

    /// A read failed with `kind` at `now`, or a send whose failure the
    /// backend learned only later (io_uring's sends of shared bytes report
    /// nothing but a failure).
    pub fn handle_io_error(&mut self, kind: ErrorKind, now: Instant, requests: &RequestSet) {
        if self.is_idle() {
            return self.drop_connection();
        }
        let got_bytes = self.reader.bytes_received() > 0;
        if kind == ErrorKind::Reset && self.may_retry(requests, got_bytes) {
            return self.retry(now);
        }
        self.finish(Err(kind), now)
    }

    /// Time passed to `now`: whatever deadline of [`Connection::poll_timeout`]
    /// is due fails (a connect or handshake as a connect timeout), and the
    /// socket goes.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_none_or(|at| at > now) {
            return;
        }
        let connecting = matches!(self.stage, Stage::Connecting | Stage::Tunneling | Stage::Handshaking);
        let kind = if connecting { ErrorKind::ConnectTimeout } else { ErrorKind::Timeout };
        self.finish(Err(kind), now)
    }

    /// A reused connection that failed before any byte of the response came
    /// back was most likely closed by the server while idle: retry once on a
    /// fresh connection, for methods that are safe to replay.
    fn may_retry(&self, requests: &RequestSet, got_bytes: bool) -> bool {
        let retried = self.stream.is_some_and(|s| s.retried);
        self.reused && !retried && !got_bytes && replayable(self.method(requests))
    }

    fn retry(&mut self, now: Instant) {
        if let Some(stream) = self.stream.as_mut() {
            stream.retried = true;
        }
        self.connected = false;
        self.next_hop(now)
    }

    /// Sends the current hop, connecting first when needed.
    fn next_hop(&mut self, now: Instant) {
        if let Some(stream) = self.stream.as_mut() {
            stream.mark = now;
        }
        self.queued = false;
        if self.connected {
            self.stage = Stage::Sending;
            self.outbox.set_transmit(true);
        } else {
            (self.tls_layer, self.tunnel_layer) = (None, None);
            self.stage = Stage::Connecting;
            self.outbox.reconnect();
        }
    }

    fn complete(&mut self, response: Response, now: Instant, requests: &RequestSet) {
        let body = self.body_meter.end();
        let Some(stream) = self.stream.as_mut() else { return self.finish(Ok(response.status), now) };
        if let Some(first) = stream.first_byte {
            stream.read_ns += nanos(now - first);
        }
        stream.wire_bytes += response.wire_bytes;
        stream.body_bytes += response.body_bytes;
        let hops = stream.hops;
        self.connected = response.reusable && requests.keepalive;
        self.reused = self.connected;
        let sent = self.request.bytes(requests);
        match requests.next_hop(sent, response.status, self.reader.location(), hops) {
            Ok(None) => {}
            Ok(Some(hop)) => {
                self.request.hop = Some(hop);
                if let Some(stream) = self.stream.as_mut() {
                    (stream.hops, stream.head_seen, stream.body_seen) = (hops + 1, false, 0);
                }
                return self.next_hop(now);
            }
            Err(kind) => {
                // The response was read whole and its bytes counted.
                self.stage = Stage::Idle;
                return self.finish(Err(kind), now);
            }
        }
        match body {
            // A body that says the request failed, though it arrived whole.
            Some(facts) => {
                let verdict = facts.verdict();
                if verdict.is_none() {
                    self.hand_out_gaps(now);
                }
                self.end_stream(verdict.map_or(Ok(response.status), Err), now, Some(facts))
            }
            None => self.finish(Ok(response.status), now),
        }
    }

    /// Ends the stream (or the opening) with `result`; a connection that
    /// cannot be reused is closed.
    fn finish(&mut self, result: Result<u16, ErrorKind>, now: Instant) {
        self.count_tunnel_failure(&result);
        // After a failure nothing more goes over the socket: end_stream drops it.
        self.connected &= result.is_ok();
        self.end_stream(result, now, None)
    }

    /// Ends the stream (or the opening) with `result`, the connection left
    /// as it is unless it cannot be reused; `body` is what the complete
    /// response's body said.
    fn end_stream(&mut self, result: Result<u16, ErrorKind>, now: Instant, body: Option<BodyFacts>) {
        let receiving = self.stage == Stage::Receiving && body.is_none();
        self.stage = Stage::Idle;
        if !self.connected {
            self.drop_connection();
        }
        if self.opening.take().is_some() {
            let result = result.map(|_| ());
            self.outbox.opened(Opened { result, handshake: self.handshake.take(), tunnel: self.tunneled.take() });
            return;
        }
        let Some(stream) = self.stream.take() else { return };
        // A failed response's bytes so far still crossed the wire.
        let partial = if result.is_err() && receiving { self.reader.bytes_received() } else { 0 };
        let record = stream.record(result, now, partial, body.as_ref(), self.limits.goodput.as_ref());
        let (handshake, tunnel) = (self.handshake.take(), self.tunneled.take());
        let finished = Finished { record, handshake, tunnel, target: self.request.target };
        self.outbox.finished(stream.id, finished);
    }
}

#[cfg(test)]
mod tests;
