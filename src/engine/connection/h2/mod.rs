//! The HTTP/2 connection machine: one connection carrying many streams,
//! without I/O, in the shape of the HTTP/1.1 [`super::Connection`] so that
//! a backend drives both the same way. Inputs are what happened and when
//! (connected, sent, bytes arrived, the peer closed, a deadline passed);
//! outputs are polled: [`H2Connection::poll_io`] (close, connect, bytes to
//! transmit), [`H2Connection::poll_event`] (stream-tagged events, one
//! [`Event::Finished`] per started stream) and
//! [`H2Connection::poll_timeout`].
//!
//! The protocol is the sans-I/O [`Session`]; this machine adds what a load
//! generator needs around it: the socket's lifecycle (connect, a proxy's
//! tunnel, TLS with ALPN `h2`, the server's SETTINGS awaited), every deadline (each stream's
//! from its intended start; the handshake's; the server's SETTINGS'; the
//! pre-connect limit), the statistics of each stream ([`table`]), and the
//! exact account of a run: a stream the server did not process (above a
//! GOAWAY's last stream id, or REFUSED_STREAM) is not a failure but goes
//! again, on this connection or, after GOAWAY, on the next one, which opens
//! once the old one has finished the streams it keeps. Nothing the server
//! may have processed is ever sent twice.
//!
//! Requests go out as header blocks encoded before the run ([`blocks`]).
//! A same-origin redirect is followed as over HTTP/1.1, its hop a new
//! stream of the same request ([`table`]).
//! Before the server's SETTINGS say how many streams it allows, one stream
//! goes out (the one that asked for the connection); the rest wait for
//! them, so that a small SETTINGS_MAX_CONCURRENT_STREAMS is never exceeded.

mod blocks;
mod failure;
mod setup;
mod table;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::outgoing::Outgoing;
use super::output::{Event, Io, Limits, StreamId};
use super::stream::Stream;
use super::tls_layer::TlsLayer;
use super::tunnel::TunnelLayer;
use crate::engine::requests::TlsTarget;
use crate::http::h2::frame::MAX_WINDOW_BYTES;
use crate::http::h2::session::Session;
use crate::proxy::Opening;
use crate::stats::ErrorKind;
pub use blocks::H2Requests;
use blocks::Scratch;
use table::{H2Stream, Reading, StreamTable};

/// How long the server's SETTINGS may take after the connection is open
/// (TCP, and TLS for `https://`), unless `--connect-timeout` says.
const SETTINGS_WAIT: Duration = Duration::from_secs(10);

/// Longest pause between connection attempts after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// The ALPN protocol id of HTTP/2 over TLS.
const ALPN_H2: &[u8] = b"h2";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// No socket.
    Closed,
    Connecting,
    /// Opening the tunnel through the proxy.
    Tunneling,
    /// The TLS handshake: sending or awaiting its flights.
    Handshaking,
    /// The session runs (the server's SETTINGS may still be awaited).
    Open,
}

/// The I/O asked for, carried out in this order: close, connect, transmit.
#[derive(Clone, Copy, Debug, Default)]
struct IoWanted {
    close: bool,
    connect: bool,
    transmit: bool,
}

/// One HTTP/2 connection and the streams it carries. Reused for every
/// connection of a backend's slot.
#[derive(Debug)]
pub struct H2Connection {
    limits: Limits,
    requests: Arc<H2Requests>,
    /// `--streams`: the most streams in flight at once.
    max_streams: usize,
    stage: Stage,
    session: Option<Session>,
    tls: Option<TlsTarget>,
    tls_layer: Option<Box<TlsLayer>>,
    /// Through a proxy: what opening a tunnel sends, and the tunnel being opened.
    tunnel: Option<Arc<Opening>>,
    tunnel_layer: Option<Box<TunnelLayer>>,
    table: StreamTable,
    next_stream: u64,
    /// Connections in a row that could not be used (not connected, not
    /// secured, no SETTINGS).
    failures: u32,
    /// Opening a connection for no request yet, until this instant.
    opening: Option<Instant>,
    /// The server's SETTINGS must arrive by this instant.
    settings_due: Option<Instant>,
    io: IoWanted,
    scratch: Scratch,
    /// Plaintext to transmit, handed out as [`Bytes`].
    out: BytesMut,
}

impl H2Connection {
    /// A machine with no socket open; `tls` secures its connections (with
    /// ALPN `h2`: see [`crate::tls::with_h2_alpn`]), `limits` gives its
    /// deadlines, `requests` its requests' blocks, `max_streams` the most
    /// streams in flight at once (`--streams`).
    pub fn new(tls: Option<TlsTarget>, limits: Limits, requests: Arc<H2Requests>, max_streams: usize) -> Self {
        H2Connection {
            limits,
            table: StreamTable::new(limits, Arc::clone(&requests)),
            requests,
            max_streams: max_streams.max(1),
            stage: Stage::Closed,
            session: None,
            tls,
            tls_layer: None,
            tunnel: None,
            tunnel_layer: None,
            next_stream: 0,
            failures: 0,
            opening: None,
            settings_due: None,
            io: IoWanted::default(),
            scratch: Scratch::default(),
            out: BytesMut::new(),
        }
    }

    /// The same machine, announcing each response head ([`Event::Head`])
    /// and each DATA frame's body bytes ([`Event::Body`]) as they arrive.
    pub fn with_progress_events(mut self) -> Self {
        self.table.progress_events = true;
        self
    }

    /// The same machine, connecting through a proxy: each new connection
    /// first opens a tunnel with `opening` (none: connect directly).
    pub fn with_tunnel(self, opening: Option<Arc<Opening>>) -> Self {
        H2Connection { tunnel: opening, ..self }
    }

    /// Opens a connection before any request is due (pre-connect):
    /// connect, the TLS handshake, and the server's SETTINGS, by `until`;
    /// ends with [`Event::Opened`].
    pub fn open(&mut self, now: Instant, until: Instant) {
        self.opening = Some(until);
        match self.stage {
            Stage::Closed => self.connect(),
            Stage::Open => self.settle(now),
            Stage::Connecting | Stage::Tunneling | Stage::Handshaking => {}
        }
    }

    /// No stream is in flight and no opening is under way.
    pub fn is_idle(&self) -> bool {
        self.table.streams.is_empty() && self.opening.is_none()
    }

    /// The session runs and the server's SETTINGS arrived.
    pub fn is_connected(&self) -> bool {
        self.session.as_ref().is_some_and(Session::settings_seen)
    }

    /// Streams started and not finished.
    pub fn in_flight(&self) -> usize {
        self.table.streams.len()
    }

    /// Whether a stream may start now: no opening is under way, fewer than
    /// `--streams` are in flight, and the server's SETTINGS_MAX_CONCURRENT_STREAMS
    /// (as it stands now) has room. A start after a GOAWAY waits for the
    /// next connection.
    pub fn can_start(&self) -> bool {
        if self.opening.is_some() || self.table.streams.len() >= self.max_streams {
            return false;
        }
        match &self.session {
            Some(s) if s.settings_seen() && s.goaway().is_none() && s.error().is_none() => {
                self.table.waiting() == 0 && s.can_start()
            }
            _ => true,
        }
    }

    /// Pause before the next start after connections that could not be
    /// used, so that a refusing target is not hammered in a busy loop.
    pub fn backoff(&self) -> Option<Duration> {
        match self.failures {
            0 => None,
            n => Some(Duration::from_millis(1 << (n - 1).min(9)).min(MAX_BACKOFF)),
        }
    }

    /// Starts request number `pick` of the run (see
    /// [`crate::http::Pool::claim`]), meant to start at `intended` (≤
    /// `now`), as a new stream: at once if the connection can carry it,
    /// else when it can. Only when [`H2Connection::can_start`].
    pub fn start(&mut self, pick: u64, intended: Instant, now: Instant) -> StreamId {
        debug_assert!(self.can_start(), "a stream starts only when the connection has room");
        let id = StreamId(self.next_stream);
        self.next_stream += 1;
        let target = self.requests.target(pick);
        let timing = Stream::new(id, intended.min(now), now, self.limits);
        self.table.streams.push(H2Stream::new(timing, pick, target));
        match self.stage {
            Stage::Closed => self.connect(),
            Stage::Open => self.settle(now),
            Stage::Connecting | Stage::Tunneling | Stage::Handshaking => {}
        }
        id
    }

    /// The next I/O to carry out, if any.
    pub fn poll_io(&mut self) -> Option<Io> {
        if std::mem::take(&mut self.io.close) {
            return Some(Io::Close);
        }
        if std::mem::take(&mut self.io.connect) {
            return Some(Io::Connect);
        }
        if !std::mem::take(&mut self.io.transmit) {
            return None;
        }
        let bytes = self.outgoing();
        (!bytes.is_empty()).then_some(Io::Transmit(Outgoing::Bytes(bytes)))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.table.next_event()
    }

    /// When [`H2Connection::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let streams = self.table.streams.iter().filter_map(|s| s.timing.deadline).min();
        [streams, self.setup_due(), self.settings_due, self.opening].into_iter().flatten().min()
    }

    /// A socket read is wanted: the server may send at any time while the
    /// connection is secured or open.
    pub fn wants_receive(&self) -> bool {
        matches!(self.stage, Stage::Tunneling | Stage::Handshaking | Stage::Open)
    }

    /// Everything waiting to be sent, as one buffer (ciphertext over TLS).
    fn outgoing(&mut self) -> Bytes {
        if let Some(tunnel) = self.tunnel_layer.as_mut().filter(|_| self.stage == Stage::Tunneling) {
            return tunnel.take();
        }
        let plain = match self.session.as_mut() {
            Some(session) if self.stage == Stage::Open => {
                let pending = session.output();
                self.out.extend_from_slice(pending);
                let n = pending.len();
                session.output_sent(n);
                self.out.split().freeze()
            }
            _ => Bytes::new(),
        };
        match self.tls_layer.as_mut() {
            None => plain,
            Some(layer) => {
                if !plain.is_empty() {
                    layer.queue(&plain);
                }
                layer.take()
            }
        }
    }

    /// The socket asked for by [`Io::Connect`] connected, or could not.
    pub fn handle_connected(&mut self, result: Result<(), ErrorKind>, now: Instant) {
        if self.stage != Stage::Connecting {
            return;
        }
        if let Err(kind) = result {
            return self.unusable(kind, now);
        }
        if let Some(opening) = &self.tunnel {
            self.tunnel_layer = Some(Box::new(TunnelLayer::new(opening, now)));
            self.stage = Stage::Tunneling;
            self.io.transmit = true;
            return;
        }
        self.secure(now)
    }

    /// The connection reaches the target (directly, or through the open
    /// tunnel): the TLS handshake begins for `https://`, else the session.
    fn secure(&mut self, now: Instant) {
        let Some(target) = &self.tls else { return self.session_ready(now) };
        match TlsLayer::new(target, now) {
            Ok(layer) => {
                self.tls_layer = Some(Box::new(layer));
                self.stage = Stage::Handshaking;
                self.io.transmit = true;
            }
            Err(kind) => self.unusable(kind, now),
        }
    }

    /// The connection is open (and secured): the session starts, with the
    /// streams waiting for it.
    fn session_ready(&mut self, now: Instant) {
        self.session = Some(Session::new(MAX_WINDOW_BYTES));
        self.stage = Stage::Open;
        self.settings_due = Some(now + self.limits.handshake.unwrap_or(SETTINGS_WAIT));
        self.settle(now);
    }

    /// The bytes of an [`Io::Transmit`] were written, or could not be.
    pub fn handle_sent(&mut self, result: Result<(), ErrorKind>, now: Instant) {
        self.sent(result, now, true);
    }

    /// The bytes of an [`Io::Transmit`] were handed to the kernel with the
    /// receive, and only a failure will come back (io_uring): the write
    /// phase of the streams they carried is not measured.
    pub fn handle_sent_unobserved(&mut self, now: Instant) {
        self.sent(Ok(()), now, false);
    }

    fn sent(&mut self, result: Result<(), ErrorKind>, now: Instant, observed: bool) {
        match (result, self.stage) {
            (Ok(()), _) => self.table.streams.iter_mut().for_each(|s| s.sent(now, observed)),
            (Err(kind), Stage::Tunneling | Stage::Handshaking) => self.unusable(kind, now),
            (Err(kind), Stage::Open) => self.lost(Some(kind), now),
            (Err(_), Stage::Closed | Stage::Connecting) => {}
        }
    }

    /// Bytes arrived at `now`.
    pub fn handle_data(&mut self, data: &[u8], now: Instant) {
        self.take_data(data, now, now);
    }

    /// Bytes read at `now` that the kernel stamped as having arrived at
    /// `arrived` (see [`H2Connection::wants_arrival_stamps`]): the stamp
    /// times the events they complete, kept between each stream's start
    /// and `now`, whatever a clock step did to it.
    pub fn handle_stamped_data(&mut self, data: &[u8], now: Instant, arrived: Instant) {
        self.take_data(data, now, arrived.min(now));
    }

    /// Whether the backend should read this connection with the kernel's
    /// receive timestamps: it has streams in flight and one of its streams
    /// has had an event-stream head. The next ones are likely event
    /// streams too, so their reads are stamped from the start (a stream's
    /// head and first events often come in one read).
    pub fn wants_arrival_stamps(&self) -> bool {
        self.table.streamed && self.in_flight() > 0
    }

    fn take_data(&mut self, data: &[u8], now: Instant, events_at: Instant) {
        match self.stage {
            Stage::Tunneling => self.tunnel_data(data, now),
            Stage::Handshaking => self.handshake_data(data, now),
            Stage::Open => self.read(data, now, events_at),
            Stage::Closed | Stage::Connecting => {}
        }
    }

    /// Bytes of the open connection arrived.
    fn read(&mut self, data: &[u8], now: Instant, events_at: Instant) {
        let Some(layer) = self.tls_layer.as_mut() else { return self.read_plain(data, now, events_at) };
        let (Some(session), table) = (self.session.as_mut(), &mut self.table) else { return };
        let mut reading = Reading { table, now, events_at, lost_as: None };
        let received = layer.feed(data, &mut |plain| {
            if !plain.is_empty() {
                // A connection error stays in the session; later bytes are refused.
                let _ = session.feed(plain, &mut reading);
            }
        });
        match received {
            Err(kind) => self.lost(Some(kind), now),
            Ok(received) if received.closed => self.handle_eof(now),
            Ok(_) => self.settle(now),
        }
    }

    /// Plaintext of the open connection arrived.
    fn read_plain(&mut self, data: &[u8], now: Instant, events_at: Instant) {
        let (Some(session), table) = (self.session.as_mut(), &mut self.table) else { return };
        // A connection error stays in the session, which failed its streams.
        let _ = session.feed(data, &mut Reading { table, now, events_at, lost_as: None });
        self.settle(now);
    }

    /// After every input on the open session: a failed session's socket
    /// goes; a GOAWAY's once its last streams ended; the server's SETTINGS
    /// end an opening; streams waiting go out as the server allows; and
    /// what the session has to send is transmitted.
    fn settle(&mut self, now: Instant) {
        let Some(session) = self.session.as_ref() else { return };
        if let Some(error) = session.error() {
            return self.closed_then_reconnect(failure::session_kind(error));
        }
        if session.goaway().is_some() && session.open_streams() == 0 {
            return self.closed_then_reconnect(ErrorKind::ClosedBeforeResponse);
        }
        if session.settings_seen() {
            (self.settings_due, self.failures) = (None, 0);
            if self.opening.take().is_some() {
                self.table.opened(Ok(()));
            }
            self.send_waiting(now);
        } else if session.open_streams() == 0 {
            // One stream goes with the preface; the rest wait for SETTINGS.
            self.send_one(now);
        }
        self.io.transmit |= self.session.as_ref().is_some_and(|s| !s.output().is_empty())
            || self.tls_layer.as_ref().is_some_and(|layer| layer.has_output());
    }

    /// Sends the streams waiting, as many as the server allows now.
    fn send_waiting(&mut self, now: Instant) {
        while self.session.as_ref().is_some_and(Session::can_start) && self.send_one(now) {}
    }

    /// Sends the first stream waiting, if any: whether one went.
    fn send_one(&mut self, now: Instant) -> bool {
        let Some(session) = self.session.as_mut() else { return false };
        let Some(stream) = self.table.streams.iter_mut().find(|s| s.wire.is_none()) else { return false };
        let (block, body) = self.requests.request(stream.pick, stream.hop.as_ref(), &mut self.scratch);
        let Some(wire) = session.start(block, body) else { return false };
        stream.wire = Some(wire);
        stream.in_transmit = true;
        stream.timing.mark = now;
        self.io.transmit = true;
        true
    }

    /// The peer closed its side at `now`: the streams it was carrying end
    /// (those a GOAWAY said it never processed go again, on a new connection).
    pub fn handle_eof(&mut self, now: Instant) {
        match self.stage {
            Stage::Tunneling => self.unusable(ErrorKind::ProxyClosed, now),
            Stage::Handshaking => self.unusable(ErrorKind::ClosedBeforeResponse, now),
            Stage::Open => self.lost(None, now),
            Stage::Closed | Stage::Connecting => {}
        }
    }

    /// A read (or a send whose failure came late) failed with `kind`.
    pub fn handle_io_error(&mut self, kind: ErrorKind, now: Instant) {
        match self.stage {
            Stage::Tunneling | Stage::Handshaking => self.unusable(kind, now),
            Stage::Open => self.lost(Some(kind), now),
            Stage::Closed | Stage::Connecting => {}
        }
    }

    /// Time passed to `now`: whatever deadline of
    /// [`H2Connection::poll_timeout`] is due fails.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_none_or(|at| at > now) {
            return;
        }
        let settings_missing = self.session.as_ref().is_some_and(|s| !s.settings_seen());
        let connecting = matches!(self.stage, Stage::Connecting | Stage::Tunneling | Stage::Handshaking);
        if self.opening.is_some_and(|until| until <= now) {
            let kind = if settings_missing { ErrorKind::H2NoSettings } else { ErrorKind::ConnectTimeout };
            return self.unusable(kind, now);
        }
        if self.settings_due.is_some_and(|at| at <= now) {
            return self.unusable(ErrorKind::H2NoSettings, now);
        }
        if self.setup_due().is_some_and(|at| at <= now) {
            return self.unusable(ErrorKind::ConnectTimeout, now);
        }
        let kind = if connecting {
            ErrorKind::ConnectTimeout
        } else if settings_missing {
            ErrorKind::H2NoSettings
        } else {
            ErrorKind::Timeout
        };
        while let Some(at) = self.table.streams.iter().position(|s| s.timing.deadline.is_some_and(|d| d <= now)) {
            if let (Some(wire), Some(session)) = (self.table.streams[at].wire, self.session.as_mut()) {
                session.cancel(wire);
            }
            self.table.end(at, Err(kind), now, None);
        }
        self.settle(now);
    }

    /// When the tunnel's setup or the TLS handshake under way must end.
    fn setup_due(&self) -> Option<Instant> {
        let limit = self.limits.handshake?;
        match self.stage {
            Stage::Tunneling => self.tunnel_layer.as_ref().map(|layer| layer.began() + limit),
            Stage::Handshaking => self.tls_layer.as_ref().map(|layer| layer.began() + limit),
            _ => None,
        }
    }

    /// Asks for a new socket (closing any).
    fn connect(&mut self) {
        self.drop_socket();
        self.stage = Stage::Connecting;
        self.io.connect = true;
    }

    /// The socket goes, with the session and its TLS.
    fn drop_socket(&mut self) {
        (self.stage, self.session, self.tls_layer, self.settings_due) = (Stage::Closed, None, None, None);
        self.tunnel_layer = None;
        self.io = IoWanted { close: true, connect: false, transmit: false };
    }

    /// The connection could not be made usable (no connect, no TLS, no
    /// h2, no SETTINGS): nothing was processed, and every stream waiting
    /// for it fails with `kind`, as does an opening.
    fn unusable(&mut self, kind: ErrorKind, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.drop_socket();
        if self.opening.take().is_some() {
            self.table.opened(Err(kind));
        }
        self.table.fail_all(kind, now);
    }

    /// The open connection ended (the server closed it, or I/O failed with
    /// `kind`): its streams end as the session says, and those that go
    /// again get a new connection.
    fn lost(&mut self, kind: Option<ErrorKind>, now: Instant) {
        if let Some(session) = self.session.as_mut() {
            session.close(&mut Reading { table: &mut self.table, now, events_at: now, lost_as: kind });
        }
        self.closed_then_reconnect(kind.unwrap_or(ErrorKind::ClosedBeforeResponse));
    }

    /// The session is over: the socket goes, an opening still waiting for
    /// the server's SETTINGS ends with `kind` (a connection that ended
    /// before them counts towards the backoff), and the streams waiting get
    /// a new connection.
    fn closed_then_reconnect(&mut self, kind: ErrorKind) {
        if !self.session.as_ref().is_some_and(Session::settings_seen) {
            self.failures = self.failures.saturating_add(1);
        }
        self.drop_socket();
        if self.opening.take().is_some() {
            self.table.opened(Err(kind));
        }
        if self.table.waiting() > 0 {
            self.connect();
        }
    }
}

#[cfg(test)]
mod driver_tests;
#[cfg(test)]
mod harness;
#[cfg(test)]
mod redirect_tests;
#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod tests;
