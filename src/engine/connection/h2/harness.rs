//! The HTTP/2 machine on virtual time, driven as the backends drive it:
//! the run's [`Policy`] through the backends' own [`Streams`] (one
//! `SlotTiming` per stream, `--streams` of them per connection), against a scripted HTTP/2 server that reacts to
//! each frame the client sends with timed steps. Time moves only from one
//! event to the next, so every count and latency is exact.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::outgoing::Outgoing;
use super::super::output::{Event, Io};
use super::{H2Connection, H2Requests};
use crate::engine::plan::Plan;
use crate::engine::policy::Policy;
use crate::engine::shared::Shared;
use crate::engine::streams::Streams;
use crate::http::h2::frame::{self, DEFAULT_MAX_FRAME_BYTES, ErrorCode, PREFACE, flag, kind, setting};
use crate::http::h2::hpack::{Decoder, encode_field};
use crate::http::h2::test_frames::{Sent, frames};
use crate::stats::{ErrorKind, WorkerStats};

/// What the server does, at a delay from the frame it reacts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Send(Vec<u8>),
    /// Closes its side (FIN).
    Close,
    /// Resets the connection.
    Reset,
}

/// What a script sees of the connection a frame came on, and where it
/// puts its answer.
pub(super) struct Ctx<'a> {
    pub(super) socket: u64,
    /// Requests (HEADERS) the socket carried before this frame.
    pub(super) nth: u64,
    /// The request's `:path`, for a HEADERS frame.
    pub(super) path: String,
    /// When the frame arrived (virtual time).
    pub(super) now: Instant,
    steps: &'a mut Vec<(Duration, Step)>,
}

impl Ctx<'_> {
    pub(super) fn send(&mut self, after: Duration, bytes: Vec<u8>) {
        self.steps.push((after, Step::Send(bytes)));
    }

    pub(super) fn step(&mut self, after: Duration, step: Step) {
        self.steps.push((after, step));
    }
}

type OnConnect = Box<dyn FnMut(&mut Ctx)>;
type OnFrame = Box<dyn FnMut(&mut Ctx, &Sent)>;

/// How the server answers.
pub(super) struct Script {
    on_connect: OnConnect,
    on_frame: OnFrame,
}

impl Script {
    /// A server that sends `on_connect`'s steps when a connection opens and
    /// reacts to every client frame with `on_frame`'s.
    pub(super) fn new(
        on_connect: impl FnMut(&mut Ctx) + 'static,
        on_frame: impl FnMut(&mut Ctx, &Sent) + 'static,
    ) -> Script {
        Script { on_connect: Box::new(on_connect), on_frame: Box::new(on_frame) }
    }

    /// A server whose preface allows 100 streams, reacting to every client
    /// frame with `on_frame`'s steps.
    pub(super) fn serving(on_frame: impl FnMut(&mut Ctx, &Sent) + 'static) -> Script {
        let settings = [(setting::MAX_CONCURRENT_STREAMS, 100)];
        Script::new(move |ctx| ctx.send(Duration::ZERO, settings_frame(&settings)), on_frame)
    }

    /// A well-behaved server announcing `settings`, which answers each
    /// complete request with `200` and "ok" after `delay`.
    pub(super) fn answering(delay: Duration, settings: &'static [(u16, u32)]) -> Script {
        Script::new(move |ctx| ctx.send(Duration::ZERO, settings_frame(settings)), move |ctx, f| polite(ctx, f, delay))
    }
}

/// The part of every well-behaved script: SETTINGS acknowledged, and a
/// request answered with `200` and "ok" after `delay` once complete.
pub(super) fn polite(ctx: &mut Ctx, f: &Sent, delay: Duration) {
    polite_settings(ctx, f);
    if request_complete(f) {
        ctx.send(delay, answer(f.stream, 200, "ok"));
    }
}

/// Acknowledges the client's SETTINGS.
pub(super) fn polite_settings(ctx: &mut Ctx, f: &Sent) {
    if f.kind == kind::SETTINGS && f.flags & flag::ACK == 0 {
        let mut ack = Vec::new();
        frame::encode_settings_ack(&mut ack);
        ctx.send(Duration::ZERO, ack);
    }
}

/// The frame ends a request (END_STREAM on HEADERS or DATA).
pub(super) fn request_complete(f: &Sent) -> bool {
    matches!(f.kind, kind::HEADERS | kind::DATA) && f.flags & flag::END_STREAM != 0
}

pub(super) fn settings_frame(params: &[(u16, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_settings(&mut out, params);
    out
}

/// A response head with `fields` after `:status`.
pub(super) fn head(stream: u32, status: u16, fields: &[(&str, &str)], end_stream: bool) -> Vec<u8> {
    let mut block = Vec::new();
    encode_field(b":status", status.to_string().as_bytes(), &mut block);
    for (name, value) in fields {
        encode_field(name.as_bytes(), value.as_bytes(), &mut block);
    }
    let mut out = Vec::new();
    frame::encode_headers(&mut out, stream, &block, end_stream, DEFAULT_MAX_FRAME_BYTES);
    out
}

pub(super) fn data(stream: u32, bytes: &[u8], end_stream: bool) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_data(&mut out, stream, bytes, end_stream, DEFAULT_MAX_FRAME_BYTES);
    out
}

/// A whole answer: head and body.
pub(super) fn answer(stream: u32, status: u16, body: &str) -> Vec<u8> {
    let mut out = head(stream, status, &[("content-length", &body.len().to_string())], false);
    out.extend(data(stream, body.as_bytes(), true));
    out
}

pub(super) fn rst(stream: u32, code: ErrorCode) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_rst_stream(&mut out, stream, code);
    out
}

pub(super) fn goaway(last: u32, code: ErrorCode) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_goaway(&mut out, last, code, b"");
    out
}

/// What a simulated run measured, and what its server received.
pub(super) struct Outcome {
    pub(super) stats: WorkerStats,
    /// From the start to the end of the run.
    pub(super) elapsed: Duration,
    /// Connects the server accepted (pre-connects included).
    pub(super) accepted: u64,
    /// Every frame the server received: (socket, frame).
    pub(super) received: Vec<(u64, Sent)>,
    /// Deliveries read with arrival stamps (the machine asked for them, as
    /// the backends ask it), and without.
    pub(super) reads_stamped: u64,
    pub(super) reads_plain: u64,
}

impl Outcome {
    /// (responses, errors, aborted).
    pub(super) fn tally(&self) -> (u64, u64, u64) {
        (self.stats.responses, self.stats.total_errors(), self.stats.aborted)
    }

    /// Frames of `kind` the server received.
    pub(super) fn count(&self, frame_kind: u8) -> usize {
        self.received.iter().filter(|(_, f)| f.kind == frame_kind).count()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Connected { slot: usize, socket: u64 },
    Server { slot: usize, socket: u64, step: usize },
    Timeout { slot: usize },
    Wake { slot: usize },
}

/// One connection of the simulated worker and its streams' timings.
struct Slot {
    conn: H2Connection,
    streams: Streams,
    /// The policy's wake-up queued for the slot.
    wake: Option<Instant>,
    socket: Option<u64>,
    timeout_armed: Option<Instant>,
}

/// A socket as the server sees it.
#[derive(Default)]
struct PeerSocket {
    preface_seen: bool,
    requests: u64,
}

struct Sim<'a> {
    policy: Policy<'a>,
    script: Script,
    now: Instant,
    queue: BinaryHeap<Reverse<(Instant, u64, Due)>>,
    sequence: u64,
    slots: Vec<Slot>,
    steps: Vec<Option<Step>>,
    sockets: HashMap<u64, PeerSocket>,
    next_socket: u64,
    received: Vec<(u64, Sent)>,
    /// Deliveries with stamps, and without.
    reads: (u64, u64),
    wakes: usize,
    /// Bytes sent are reported unobserved, as io_uring does.
    unobserved: bool,
    /// The clock started: streams may start.
    begun: bool,
}

/// Runs `plan` with `streams` streams per connection against `script`.
pub(super) fn run(plan: Plan, streams: usize, script: Script) -> Outcome {
    run_with(plan, streams, script, false)
}

/// [`run`], with sends reported as io_uring does (`unobserved`) or not.
pub(super) fn run_with(plan: Plan, streams: usize, script: Script, unobserved: bool) -> Outcome {
    let connections = plan.connections;
    let shared = Shared::new(plan, 1);
    let blocks = Arc::new(H2Requests::new(&shared.plan.requests));
    let limits = shared.plan.limits();
    let slots = (0..connections)
        .map(|_| Slot {
            conn: H2Connection::new(None, limits, Arc::clone(&blocks), streams).with_progress_events(),
            streams: Streams::new(streams),
            wake: None,
            socket: None,
            timeout_armed: None,
        })
        .collect();
    let origin = Instant::now();
    let mut sim = Sim {
        policy: Policy::new(&shared, 0, connections),
        script,
        now: origin,
        queue: BinaryHeap::new(),
        sequence: 0,
        slots,
        steps: Vec::new(),
        sockets: HashMap::new(),
        next_socket: 0,
        received: Vec::new(),
        reads: (0, 0),
        wakes: 0,
        unobserved,
        begun: false,
    };
    if shared.plan.requests.keepalive {
        sim.preconnect(shared.plan.preconnect_timeout);
    }
    let start = sim.now;
    sim.policy.begin(start);
    sim.begun = true;
    for slot in 0..connections {
        sim.drive(slot);
    }
    let end = sim.policy.end();
    sim.turn(end);
    let finished = sim.now;
    sim.policy.close_timeline();
    let mut stats = std::mem::take(&mut sim.policy.stats);
    stats.aborted += sim.policy.abandoned(finished);
    let accepted = sim.next_socket;
    let (reads_stamped, reads_plain) = sim.reads;
    Outcome { stats, elapsed: finished - start, accepted, received: sim.received, reads_stamped, reads_plain }
}

impl Sim<'_> {
    fn at(&mut self, at: Instant, due: Due) {
        self.sequence += 1;
        self.queue.push(Reverse((at, self.sequence, due)));
    }

    fn preconnect(&mut self, limit: Duration) {
        let until = self.now + limit;
        for slot in 0..self.slots.len() {
            self.slots[slot].conn.open(self.now, until);
            self.drive(slot);
        }
        while self.slots.iter().any(|s| !s.conn.is_idle()) {
            let Some(Reverse((at, _, due))) = self.queue.pop() else { return };
            if !self.is_stale(at, &due) {
                self.now = at;
                self.handle(due);
            }
        }
    }

    fn turn(&mut self, end: Option<Instant>) {
        // A bound on the steps: a machine that loops fails the test instead of hanging it.
        for _ in 0..10_000_000 {
            if self.policy.in_flight == 0 && self.wakes == 0 {
                return;
            }
            let Some(Reverse((at, _, due))) = self.queue.pop() else {
                self.now = end.unwrap_or(self.now);
                return;
            };
            if self.is_stale(at, &due) {
                continue;
            }
            if let Some(end) = end.filter(|&end| at >= end) {
                self.now = end;
                return;
            }
            self.now = at;
            self.handle(due);
        }
        panic!("the run did not end");
    }

    fn is_stale(&self, at: Instant, due: &Due) -> bool {
        match *due {
            Due::Connected { slot, socket } | Due::Server { slot, socket, .. } => {
                self.slots[slot].socket != Some(socket)
            }
            Due::Timeout { slot } => self.slots[slot].timeout_armed != Some(at),
            Due::Wake { .. } => false,
        }
    }

    fn handle(&mut self, due: Due) {
        let now = self.now;
        let slot = match due {
            Due::Connected { slot, socket } => {
                self.server_connected(slot, socket);
                self.slots[slot].conn.handle_connected(Ok(()), now);
                slot
            }
            Due::Server { slot, step, .. } => {
                let conn = &mut self.slots[slot].conn;
                match self.steps[step].take() {
                    Some(Step::Send(bytes)) if conn.wants_arrival_stamps() => {
                        self.reads.0 += 1;
                        conn.handle_stamped_data(&bytes, now, now);
                    }
                    Some(Step::Send(bytes)) => {
                        self.reads.1 += 1;
                        conn.handle_data(&bytes, now);
                    }
                    Some(Step::Close) => conn.handle_eof(now),
                    Some(Step::Reset) => conn.handle_io_error(ErrorKind::Reset, now),
                    None => {}
                }
                slot
            }
            Due::Timeout { slot } => {
                self.slots[slot].timeout_armed = None;
                self.slots[slot].conn.handle_timeout(now);
                slot
            }
            Due::Wake { slot } => {
                self.wakes -= 1;
                self.slots[slot].wake = None;
                slot
            }
        };
        self.drive(slot);
    }

    /// Starts streams while the connection has room and the policy says
    /// so: whether one started.
    fn fill(&mut self, slot: usize) -> bool {
        if !self.begun {
            return false;
        }
        let s = &mut self.slots[slot];
        let filled = s.streams.fill(&mut self.policy, &mut s.conn, self.now);
        if let Some(at) = filled.wake.filter(|&at| s.wake != Some(at)) {
            s.wake = Some(at);
            self.wakes += 1;
            self.at(at, Due::Wake { slot });
        }
        filled.started > 0
    }

    /// Carries out the machine's I/O and handles its events, starting
    /// streams as room appears, then arms its deadline.
    fn drive(&mut self, slot: usize) {
        let now = self.now;
        loop {
            if let Some(io) = self.slots[slot].conn.poll_io() {
                self.carry_out(slot, io);
                continue;
            }
            if let Some(event) = self.slots[slot].conn.poll_event() {
                self.event(slot, event);
                continue;
            }
            if !self.fill(slot) {
                break;
            }
        }
        let deadline = self.slots[slot].conn.poll_timeout();
        if deadline != self.slots[slot].timeout_armed {
            self.slots[slot].timeout_armed = deadline;
            if let Some(at) = deadline {
                self.at(at.max(now), Due::Timeout { slot });
            }
        }
    }

    fn event(&mut self, slot: usize, event: Event) {
        let s = &mut self.slots[slot];
        match event {
            Event::Head { stream, .. } | Event::Body { stream, .. } => {
                assert!(s.streams.carries(stream), "progress of a stream in flight");
            }
            Event::Finished { stream, .. } => {
                assert!(s.streams.carries(stream), "one end per started stream");
                s.streams.event(&mut self.policy, &s.conn, event, self.now);
            }
            other => {
                s.streams.event(&mut self.policy, &s.conn, other, self.now);
            }
        }
    }

    fn carry_out(&mut self, slot: usize, io: Io) {
        let now = self.now;
        match io {
            Io::Close => self.slots[slot].socket = None,
            Io::Connect => {
                let socket = self.next_socket;
                self.next_socket += 1;
                self.slots[slot].socket = Some(socket);
                self.at(now, Due::Connected { slot, socket });
            }
            Io::Transmit(Outgoing::Bytes(bytes)) => {
                let Some(socket) = self.slots[slot].socket else {
                    return self.slots[slot].conn.handle_sent(Err(ErrorKind::Io), now);
                };
                if self.unobserved {
                    self.slots[slot].conn.handle_sent_unobserved(now);
                } else {
                    self.slots[slot].conn.handle_sent(Ok(()), now);
                }
                self.server_received(slot, socket, &bytes);
            }
            Io::Transmit(Outgoing::Request(_)) => panic!("HTTP/2 sends its own bytes"),
        }
    }

    fn server_connected(&mut self, slot: usize, socket: u64) {
        self.sockets.insert(socket, PeerSocket::default());
        let mut steps = Vec::new();
        let mut ctx = Ctx { socket, nth: 0, path: String::new(), now: self.now, steps: &mut steps };
        (self.script.on_connect)(&mut ctx);
        self.schedule(slot, socket, steps);
    }

    /// The server reads the client's bytes (whole frames, after the
    /// preface on a new connection) and reacts to each frame.
    fn server_received(&mut self, slot: usize, socket: u64, mut bytes: &[u8]) {
        let peer = self.sockets.get_mut(&socket).expect("a connected socket");
        if !peer.preface_seen {
            assert!(bytes.starts_with(PREFACE), "the client's connection preface comes first");
            bytes = &bytes[PREFACE.len()..];
            peer.preface_seen = true;
        }
        for f in frames(bytes) {
            let peer = self.sockets.get_mut(&socket).expect("a connected socket");
            let mut path = String::new();
            if f.kind == kind::HEADERS {
                let mut decoder = Decoder::new(1 << 16);
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                decoder
                    .decode(&f.payload, |n, v| {
                        if n == b":path" {
                            path = text(v);
                        }
                    })
                    .expect("the client's blocks decode alone");
            }
            let nth = peer.requests;
            peer.requests += u64::from(f.kind == kind::HEADERS);
            let mut steps = Vec::new();
            let mut ctx = Ctx { socket, nth, path, now: self.now, steps: &mut steps };
            (self.script.on_frame)(&mut ctx, &f);
            self.received.push((socket, f));
            self.schedule(slot, socket, steps);
        }
    }

    fn schedule(&mut self, slot: usize, socket: u64, steps: Vec<(Duration, Step)>) {
        for (after, step) in steps {
            self.steps.push(Some(step));
            let step = self.steps.len() - 1;
            self.at(self.now + after, Due::Server { slot, socket, step });
        }
    }
}
