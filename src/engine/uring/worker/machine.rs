//! What the io_uring worker drives in each slot, as one trait over the two
//! protocols: an HTTP/1.1 [`Connection`] with its one [`SlotTiming`], or an
//! HTTP/2 [`H2Connection`] with its streams' timings ([`Streams`]). The
//! worker is generic over it, so each protocol gets its own monomorphised
//! loop: the HTTP/1.1 one compiles to the same calls as before HTTP/2
//! existed, and the byte moving (sends in order, receives, stamps, buffer
//! starvation, teardown) is written once for both.

use std::time::Instant;

use crate::engine::connection::{Connection, Event, H2Connection, Io};
use crate::engine::lifecycle::Job;
use crate::engine::policy::{Next, Policy, SlotTiming};
use crate::engine::requests::RequestSet;
use crate::engine::streams::{Streams, h2_slot};
use crate::stats::ErrorKind;

/// Bytes of a stamped receive for each stream a connection carries.
const STAMPED_READ_PER_STREAM: usize = 2048;

/// What handling one event asks of the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::engine::uring) enum Handled {
    /// Nothing more.
    Done,
    /// An opening (pre-connect) ended; whether it succeeded.
    Opened(bool),
    /// Wake the slot at this instant to ask the policy again.
    Wake(Instant),
}

/// A slot's protocol machine and the timing of what it carries.
pub(in crate::engine::uring) trait RingMachine: Sized {
    /// Whether the worker hands a slot every receive of a batch of
    /// completions before it drives the machine: then what those bytes
    /// let start leaves in one write, not one per receive.
    const DRIVE_AFTER_BATCH: bool;
    /// Bytes of one stamped receive (event streams) for `job`: memory lent
    /// to the kernel for as long as the connection waits for its next bytes.
    fn stamped_read_bytes(job: &Job) -> usize;
    /// The machine for a new slot of `job`.
    fn for_job(job: &Job) -> Self;
    fn open(&mut self, now: Instant, until: Instant);
    fn is_idle(&self) -> bool;
    fn is_connected(&self) -> bool;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn poll_io(&mut self, requests: &RequestSet) -> Option<Io>;
    fn handle_connected(&mut self, result: Result<(), ErrorKind>, now: Instant);
    fn handle_sent_unobserved(&mut self, now: Instant, requests: &RequestSet);
    fn handle_io_error(&mut self, kind: ErrorKind, now: Instant, requests: &RequestSet);
    fn handle_data(&mut self, data: &[u8], now: Instant, requests: &RequestSet);
    fn handle_stamped_data(&mut self, data: &[u8], now: Instant, arrived: Instant, requests: &RequestSet);
    fn handle_eof(&mut self, now: Instant, requests: &RequestSet);
    fn wants_receive(&self) -> bool;
    fn wants_arrival_stamps(&self) -> bool;
    fn low_water_change(&mut self) -> Option<u32>;
    /// Starts what the policy lets start at `now` (the run has begun):
    /// whether something started, or when to ask again.
    fn begin(&mut self, policy: &mut Policy, now: Instant, requests: &RequestSet) -> Result<bool, Option<Instant>>;
    /// Polls the machine's next event and accounts it with the policy
    /// (`None`: no event); a finished request may start the next one.
    fn handle_event(&mut self, policy: &mut Policy, now: Instant, requests: &RequestSet) -> Option<Handled>;
}

/// An HTTP/1.1 slot: one request at a time.
pub(in crate::engine::uring) struct H1Machine {
    conn: Connection,
    timing: SlotTiming,
}

impl RingMachine for H1Machine {
    /// One request at a time: a batch holds one receive of a slot at most
    /// that ends it, so driving at once costs nothing.
    const DRIVE_AFTER_BATCH: bool = false;
    /// One stream per connection, and perhaps 10,000 connections, each
    /// waiting with its buffer lent: an event is a few hundred bytes (16 KiB
    /// made 10,000 streams take 140 MB, 4 KiB 90 MB, 2 KiB 75 MB); a larger
    /// one takes several receives, each stamped.
    fn stamped_read_bytes(_: &Job) -> usize {
        STAMPED_READ_PER_STREAM
    }
    fn for_job(job: &Job) -> Self {
        let conn =
            Connection::new(job.tls(), job.shared.plan.limits()).with_tunnel(job.shared.plan.requests.tunnel.clone());
        H1Machine { conn, timing: SlotTiming::default() }
    }
    #[inline]
    fn open(&mut self, now: Instant, until: Instant) {
        self.conn.open(now, until);
    }
    #[inline]
    fn is_idle(&self) -> bool {
        self.conn.is_idle()
    }
    #[inline]
    fn is_connected(&self) -> bool {
        self.conn.is_connected()
    }
    #[inline]
    fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }
    #[inline]
    fn handle_timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
    }
    #[inline]
    fn poll_io(&mut self, requests: &RequestSet) -> Option<Io> {
        self.conn.poll_io(requests)
    }
    #[inline]
    fn handle_connected(&mut self, result: Result<(), ErrorKind>, now: Instant) {
        self.conn.handle_connected(result, now);
    }
    #[inline]
    fn handle_sent_unobserved(&mut self, now: Instant, requests: &RequestSet) {
        self.conn.handle_sent_unobserved(now, requests);
    }
    #[inline]
    fn handle_io_error(&mut self, kind: ErrorKind, now: Instant, requests: &RequestSet) {
        self.conn.handle_io_error(kind, now, requests);
    }
    #[inline]
    fn handle_data(&mut self, data: &[u8], now: Instant, requests: &RequestSet) {
        self.conn.handle_data(data, now, requests);
    }
    #[inline]
    fn handle_stamped_data(&mut self, data: &[u8], now: Instant, arrived: Instant, requests: &RequestSet) {
        self.conn.handle_stamped_data(data, now, arrived, requests);
    }
    #[inline]
    fn handle_eof(&mut self, now: Instant, requests: &RequestSet) {
        self.conn.handle_eof(now, requests);
    }
    #[inline]
    fn wants_receive(&self) -> bool {
        self.conn.wants_receive()
    }
    #[inline]
    fn wants_arrival_stamps(&self) -> bool {
        self.conn.wants_arrival_stamps()
    }
    #[inline]
    fn low_water_change(&mut self) -> Option<u32> {
        self.conn.low_water_change()
    }
    #[inline]
    fn begin(&mut self, policy: &mut Policy, now: Instant, requests: &RequestSet) -> Result<bool, Option<Instant>> {
        match policy.next(&mut self.timing, now) {
            Next::Retire => Err(None),
            Next::Wait(at) => Err(Some(at)),
            Next::Start { intended, pick } => {
                self.conn.start(pick, intended, now, requests);
                Ok(true)
            }
        }
    }
    #[inline]
    fn handle_event(&mut self, policy: &mut Policy, now: Instant, requests: &RequestSet) -> Option<Handled> {
        Some(match self.conn.poll_event()? {
            Event::Finished { finished, .. } => {
                policy.finish(&mut self.timing, &finished, self.conn.backoff(), now);
                match self.begin(policy, now, requests) {
                    Err(Some(at)) => Handled::Wake(at),
                    Ok(_) | Err(None) => Handled::Done,
                }
            }
            Event::Opened(opened) => {
                policy.opened(&opened);
                Handled::Opened(opened.result.is_ok())
            }
            Event::Sample { metric, values, at, .. } => {
                policy.sampled(&self.timing, metric, &values, at);
                Handled::Done
            }
            Event::Head { .. } | Event::Body { .. } => Handled::Done,
        })
    }
}

/// An HTTP/2 slot: up to `--streams` streams on one connection.
pub(in crate::engine::uring) struct H2Machine {
    conn: H2Connection,
    streams: Streams,
    /// The run has begun: streams may start.
    begun: bool,
    /// The wake-up queued for the policy, so that one is queued per instant.
    wake: Option<Instant>,
}

impl H2Machine {
    /// Starts streams as the policy says: whether one started, or the wake-up to queue.
    fn fill(&mut self, policy: &mut Policy, now: Instant) -> Result<bool, Option<Instant>> {
        if !self.begun {
            return Err(None);
        }
        let filled = self.streams.fill(policy, &mut self.conn, now);
        if filled.started > 0 {
            return Ok(true);
        }
        match filled.wake {
            Some(at) if self.wake != Some(at) => {
                self.wake = Some(at);
                Err(Some(at))
            }
            _ => Err(None),
        }
    }
}

impl RingMachine for H2Machine {
    /// A server writes each stream's frames as they are ready (nginx: a
    /// write for the head, one for the body), so one batch often holds
    /// several receives of a connection; driven once, the streams they
    /// end are replaced by one send (measured against nginx, -c 10
    /// --streams 10: 0.95 sends per request before).
    const DRIVE_AFTER_BATCH: bool = true;
    /// The events of up to `--streams` streams share the socket: a burst of
    /// them (streams begun together answer together) is taken in one
    /// receive, not one per 2 KiB turn of the loop, which left the server's
    /// writes waiting (at 100 connections x 100 streams, TTFT p90 5-13 ms
    /// over the truth): 2 KiB per stream, at most 64 KiB, so that memory
    /// follows the streams (10,000 connections of one stream lend 20 MB).
    fn stamped_read_bytes(job: &Job) -> usize {
        let streams = job.shared.plan.h2_streams.unwrap_or(1);
        STAMPED_READ_PER_STREAM.saturating_mul(streams).min(64 * 1024)
    }
    fn for_job(job: &Job) -> Self {
        let (conn, streams) = h2_slot(job.shared, job.tls());
        H2Machine { conn, streams, begun: false, wake: None }
    }
    fn open(&mut self, now: Instant, until: Instant) {
        self.conn.open(now, until);
    }
    fn is_idle(&self) -> bool {
        self.conn.is_idle()
    }
    fn is_connected(&self) -> bool {
        self.conn.is_connected()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
    }
    fn poll_io(&mut self, _: &RequestSet) -> Option<Io> {
        self.conn.poll_io()
    }
    fn handle_connected(&mut self, result: Result<(), ErrorKind>, now: Instant) {
        self.conn.handle_connected(result, now);
    }
    fn handle_sent_unobserved(&mut self, now: Instant, _: &RequestSet) {
        self.conn.handle_sent_unobserved(now);
    }
    fn handle_io_error(&mut self, kind: ErrorKind, now: Instant, _: &RequestSet) {
        self.conn.handle_io_error(kind, now);
    }
    fn handle_data(&mut self, data: &[u8], now: Instant, _: &RequestSet) {
        self.conn.handle_data(data, now);
    }
    fn handle_stamped_data(&mut self, data: &[u8], now: Instant, arrived: Instant, _: &RequestSet) {
        self.conn.handle_stamped_data(data, now, arrived);
    }
    fn handle_eof(&mut self, now: Instant, _: &RequestSet) {
        self.conn.handle_eof(now);
    }
    fn wants_receive(&self) -> bool {
        self.conn.wants_receive()
    }
    fn wants_arrival_stamps(&self) -> bool {
        self.conn.wants_arrival_stamps()
    }
    /// No low-water mark over HTTP/2: frames of many streams share the socket.
    fn low_water_change(&mut self) -> Option<u32> {
        None
    }
    fn begin(&mut self, policy: &mut Policy, now: Instant, _: &RequestSet) -> Result<bool, Option<Instant>> {
        self.begun = true;
        if self.wake.is_some_and(|at| at <= now) {
            self.wake = None;
        }
        self.fill(policy, now)
    }
    fn handle_event(&mut self, policy: &mut Policy, now: Instant, _: &RequestSet) -> Option<Handled> {
        let Some(event) = self.conn.poll_event() else {
            // Room may have opened for the next streams.
            return match self.fill(policy, now) {
                Ok(_) => Some(Handled::Done),
                Err(Some(at)) => Some(Handled::Wake(at)),
                Err(None) => None,
            };
        };
        let opened = matches!(&event, Event::Opened(o) if o.result.is_ok());
        match self.streams.event(policy, &self.conn, event, now) {
            true => Some(Handled::Opened(opened)),
            false => Some(Handled::Done),
        }
    }
}
