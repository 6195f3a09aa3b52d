//! The streams of an HTTP/2 connection as the statistics see them: each
//! request in flight with its timing ([`Stream`]), the wire stream that
//! carries it now (none while it waits for a connection, or after the
//! server refused it and before it goes again), and its body's meter; and
//! the events they produce, queued for the backend. The session's
//! [`SessionEvents`] land here, so every way a stream ends turns into
//! exactly one [`Event::Finished`].
//!
//! A response that redirects (on the same origin, with redirects on) does
//! not end its request: the request's next hop waits for a new wire
//! stream, as a request that goes again after a refusal does, while its
//! timing, deadline and byte counts carry on.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::super::meter::{BodyFacts, Meter};
use super::super::output::{Event, Finished, Limits, Opened};
use super::super::stream::Stream;
use super::H2Requests;
use super::failure::{closed_kind, reset_kind, session_kind, stream_kind};
use crate::http::BodyFormat;
use crate::http::h2::session::{ResponseHead, SessionEvents, StreamFailure};
use crate::stats::metrics::ITL;
use crate::stats::{ErrorKind, Handshake};

/// Times a request may be refused (not processed) and sent again before
/// it counts as failed: a server that refuses everything cannot loop us.
pub(super) const MAX_REFUSALS: u8 = 8;

/// HTTP/2 frame header bytes, counted on the wire with each frame's payload.
const FRAME_HEADER_BYTES: u64 = 9;

/// One request of the connection.
#[derive(Debug)]
pub(super) struct H2Stream {
    pub(super) timing: Stream,
    /// The wire stream carrying it on the open session.
    pub(super) wire: Option<u32>,
    /// Its number in the run (which pool entry, which `{{seq}}`).
    pub(super) pick: u64,
    pub(super) target: u16,
    /// The redirect hop it is on (HTTP/1.1 bytes), after the first.
    pub(super) hop: Option<Bytes>,
    /// What follows the response read now, once it is complete: the next
    /// hop, or too many of them.
    next: Option<Result<Bytes, ErrorKind>>,
    /// Refusals in a row with no stream of the connection answered meanwhile.
    refusals: u8,
    /// The table's `answered` at its last refusal.
    answered_then: u64,
    /// Its request went out in a transmit whose send is not reported yet.
    pub(super) in_transmit: bool,
    status: Option<u16>,
    meter: Option<Box<Meter>>,
}

impl H2Stream {
    pub(super) fn new(timing: Stream, pick: u64, target: u16) -> H2Stream {
        H2Stream {
            timing,
            wire: None,
            pick,
            target,
            hop: None,
            next: None,
            refusals: 0,
            answered_then: 0,
            in_transmit: false,
            status: None,
            meter: None,
        }
    }

    /// Its request was written (or, `observed` false, handed to the
    /// kernel with the receive: the write phase is then not measured).
    pub(super) fn sent(&mut self, now: Instant, observed: bool) {
        if std::mem::take(&mut self.in_transmit) {
            let timing = &mut self.timing;
            timing.write_observed &= observed;
            timing.write_ns += crate::stats::nanos(now.saturating_duration_since(timing.mark));
            timing.mark = now;
        }
    }
}

/// The connection's streams and the events waiting to be polled.
#[derive(Debug)]
pub(super) struct StreamTable {
    pub(super) streams: Vec<H2Stream>,
    events: VecDeque<Event>,
    /// A handshake that ended and is not recorded yet.
    pub(super) handshake: Option<Handshake>,
    /// A proxy tunnel that opened and is not recorded yet (ns).
    pub(super) tunnel: Option<u64>,
    limits: Limits,
    /// Heads and body progress are announced as events.
    pub(super) progress_events: bool,
    /// The run's requests: whether JSON answers are read for `usage`, and
    /// where redirects lead.
    requests: Arc<H2Requests>,
    /// Meters of ended streams, for the next ones (their buffers reused).
    spare: Vec<Meter>,
    /// Streams answered so far: a server that answers some is not one that
    /// refuses everything, so refusals start counting again after each.
    answered: u64,
    /// A stream has had an event-stream head: the next ones are likely to
    /// be event streams too (see `H2Connection::wants_arrival_stamps`).
    pub(super) streamed: bool,
}

impl StreamTable {
    pub(super) fn new(limits: Limits, requests: Arc<H2Requests>) -> StreamTable {
        StreamTable {
            streams: Vec::new(),
            events: VecDeque::new(),
            handshake: None,
            tunnel: None,
            limits,
            progress_events: false,
            requests,
            spare: Vec::new(),
            answered: 0,
            streamed: false,
        }
    }

    pub(super) fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Streams waiting for a wire stream.
    pub(super) fn waiting(&self) -> usize {
        self.streams.iter().filter(|s| s.wire.is_none()).count()
    }

    fn position(&self, wire: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.wire == Some(wire))
    }

    /// Announces the end of an opening.
    pub(super) fn opened(&mut self, result: Result<(), ErrorKind>) {
        self.events.push_back(Event::Opened(Opened {
            result,
            handshake: self.handshake.take(),
            tunnel: self.tunnel.take(),
        }));
    }

    /// Ends the stream at `at` with `result` at `now`; `body` is what its
    /// complete body said.
    pub(super) fn end(&mut self, at: usize, result: Result<u16, ErrorKind>, now: Instant, body: Option<BodyFacts>) {
        let mut stream = self.streams.remove(at);
        self.answered += u64::from(result.is_ok());
        if let Some(meter) = stream.meter.take() {
            self.spare.push(*meter);
        }
        let timing = &mut stream.timing;
        if result.is_ok()
            && let Some(first) = timing.first_byte
        {
            timing.read_ns += crate::stats::nanos(now.saturating_duration_since(first));
        }
        let record = timing.record(result, now, 0, body.as_ref(), self.limits.goodput.as_ref());
        let (handshake, tunnel) = (self.handshake.take(), self.tunnel.take());
        let finished = Finished { record, handshake, tunnel, target: stream.target };
        self.events.push_back(Event::Finished { stream: timing.id, finished });
    }

    /// Ends every stream with `kind`: none of them can be carried.
    pub(super) fn fail_all(&mut self, kind: ErrorKind, now: Instant) {
        while !self.streams.is_empty() {
            self.end(0, Err(kind), now, None);
        }
    }

    /// The server did not process the stream at `at`: it goes again on
    /// the next wire stream, unless it was refused too often in a row
    /// (with no stream answered in between: GOAWAYs of a server that
    /// limits the streams per connection refuse streams forever).
    fn refused(&mut self, at: usize, now: Instant) {
        let stream = &mut self.streams[at];
        if stream.answered_then != self.answered {
            (stream.refusals, stream.answered_then) = (0, self.answered);
        }
        if stream.refusals >= MAX_REFUSALS {
            return self.end(at, Err(ErrorKind::H2Refused), now, None);
        }
        stream.refusals += 1;
        (stream.wire, stream.in_transmit, stream.status, stream.next) = (None, false, None, None);
        stream.timing.mark = now;
    }

    /// A response head of the stream at `at`.
    fn head(&mut self, at: usize, head: &ResponseHead, now: Instant) {
        let usage_in_json = self.requests.usage_in_json();
        self.streamed |= head.format == BodyFormat::EventStream;
        let read = head.format == BodyFormat::EventStream || (head.format == BodyFormat::Json && usage_in_json);
        let meter = read.then(|| {
            let mut meter = Box::new(self.spare.pop().unwrap_or_default());
            meter.begin(head.format);
            meter
        });
        let stream = &mut self.streams[at];
        // An answer before the send was reported: the request went out.
        stream.sent(now, false);
        stream.timing.first_byte_at(now);
        stream.timing.first_body_at(now, true);
        stream.timing.wire_bytes += FRAME_HEADER_BYTES;
        (stream.status, stream.meter) = (Some(head.status), meter);
        if let Some(location) = head.location {
            let (pick, hops) = (stream.pick, stream.timing.hops);
            let next = self.requests.next_hop(pick, stream.hop.as_ref(), hops, head.status, location);
            stream.next = next.transpose();
        }
        if self.progress_events {
            self.events.push_back(Event::Head { stream: stream.timing.id, status: head.status, at: now });
        }
    }

    /// Body bytes of the stream at `at`, read at `now`; the events they
    /// complete are timed `events_at`, kept between the stream's start and `now`.
    fn data(&mut self, at: usize, data: &[u8], now: Instant, events_at: Instant) {
        let stream = &mut self.streams[at];
        let bytes = data.len() as u64;
        stream.timing.wire_bytes += FRAME_HEADER_BYTES + bytes;
        stream.timing.body_bytes += bytes;
        if let Some(meter) = stream.meter.as_mut() {
            meter.feed(data, events_at.clamp(stream.timing.started().min(now), now));
        }
        if self.progress_events && bytes > 0 {
            self.events.push_back(Event::Body { stream: stream.timing.id, bytes, at: now });
        }
    }

    /// The stream at `at` has its whole response.
    fn complete(&mut self, at: usize, now: Instant) {
        match self.streams[at].next.take() {
            Some(Ok(hop)) => return self.redirected(at, hop, now),
            // The response was read whole and its bytes counted.
            Some(Err(kind)) => return self.end(at, Err(kind), now, None),
            None => {}
        }
        let stream = &mut self.streams[at];
        let status = stream.status.unwrap_or_default();
        let Some(mut meter) = stream.meter.take() else { return self.end(at, Ok(status), now, None) };
        let facts = meter.end();
        let verdict = facts.verdict();
        if verdict.is_none() {
            // The gaps between content events count only for a response that succeeded.
            for group in meter.token_gaps.groups() {
                self.events.push_back(Event::Sample { stream: stream.timing.id, metric: ITL, values: *group, at: now });
            }
        }
        self.spare.push(*meter);
        self.end(at, verdict.map_or(Ok(status), Err), now, Some(facts))
    }

    /// The stream at `at` was redirected at `now`: its request goes on
    /// with `hop`, waiting for the next wire stream (as a refused one
    /// does); its deadline, timing and byte counts carry on.
    fn redirected(&mut self, at: usize, hop: Bytes, now: Instant) {
        self.answered += 1;
        let stream = &mut self.streams[at];
        if let Some(meter) = stream.meter.take() {
            self.spare.push(*meter);
        }
        let timing = &mut stream.timing;
        if let Some(first) = timing.first_byte.take() {
            timing.read_ns += crate::stats::nanos(now.saturating_duration_since(first));
        }
        (timing.first_body, timing.hops, timing.head_seen, timing.body_seen) = (None, timing.hops + 1, false, 0);
        timing.mark = now;
        (stream.hop, stream.wire, stream.in_transmit, stream.status) = (Some(hop), None, false, None);
    }
}

/// The session's events while bytes are read at `now`.
pub(super) struct Reading<'a> {
    pub(super) table: &'a mut StreamTable,
    pub(super) now: Instant,
    /// When the bytes read arrived (the kernel's stamp, else `now`).
    pub(super) events_at: Instant,
    /// What a stream cut off by the connection's end counts as (`None`:
    /// the server closed it, so by whether its response had begun).
    pub(super) lost_as: Option<ErrorKind>,
}

impl SessionEvents for Reading<'_> {
    fn head(&mut self, stream: u32, head: &ResponseHead) {
        if let Some(at) = self.table.position(stream) {
            self.table.head(at, head, self.now);
        }
    }

    fn data(&mut self, stream: u32, data: &[u8]) {
        if let Some(at) = self.table.position(stream) {
            self.table.data(at, data, self.now, self.events_at);
        }
    }

    fn end(&mut self, stream: u32) {
        if let Some(at) = self.table.position(stream) {
            self.table.complete(at, self.now);
        }
    }

    fn failed(&mut self, stream: u32, why: StreamFailure) {
        let Some(at) = self.table.position(stream) else { return };
        let kind = match why {
            StreamFailure::Refused => return self.table.refused(at, self.now),
            StreamFailure::Reset(code) => reset_kind(code),
            StreamFailure::Connection(error) => session_kind(error),
            StreamFailure::Closed => {
                self.lost_as.unwrap_or_else(|| closed_kind(self.table.streams[at].status.is_some()))
            }
            other => stream_kind(other),
        };
        self.table.end(at, Err(kind), self.now, None);
    }
}
