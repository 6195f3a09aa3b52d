//! The engine on virtual time: the run's [`Policy`] and one [`Connection`]
//! machine per slot, driven against a scripted server ([`Script`]) by a
//! queue of timed events, with no socket and no clock. Time moves only
//! from one event to the next, so a run of minutes takes milliseconds and
//! every latency is exact: the behaviour checks that loopback timing made
//! approximate (timeouts, stalls, retries, keep-alive limits, redirects,
//! rate schedules, pacing) are tested here to the nanosecond.
//!
//! It plays one worker of a backend: connections are opened before the
//! start (as [`super::lifecycle`] does when keep-alive is on), the clock
//! starts when all are open, slots start as the policy says, and at the end
//! the requests never completed are counted as aborted, as a real run
//! counts them. Bytes sent arrive at once; the script decides when the
//! server answers.

mod script;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::connection::{Connection, Event, Io, Outgoing};
use super::plan::{Address, Plan, Until};
use super::policy::{Next, Policy, SlotTiming};
use super::requests::RequestSet;
use super::shared::Shared;
use crate::stats::{ErrorKind, Timeline, WorkerStats};
pub use script::{Arrival, Script, ServerStep, response};

/// What a simulated run measured, and what its server saw.
#[derive(Debug)]
pub struct SimOutcome {
    pub stats: WorkerStats,
    pub timeline: Timeline,
    /// From the start (all connections open) to the end of the run.
    pub elapsed: Duration,
    /// Connects the server accepted (pre-connects included).
    pub accepted: u64,
    /// Every request the server received, in order.
    pub arrivals: Vec<Arrival>,
}

/// Something due at an instant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    /// The slot's connect attempt on socket `socket` completes (or fails).
    Connected { slot: usize, socket: u64, result: Result<(), ErrorKind> },
    /// The server's step for the slot's socket.
    Server { slot: usize, socket: u64, step: usize },
    /// The slot's machine asked to be told about this instant.
    Timeout { slot: usize },
    /// The policy asked the slot to come back now.
    Wake { slot: usize },
}

/// One connection slot of the simulated worker.
struct SimSlot {
    conn: Connection,
    timing: SlotTiming,
    /// The socket open now (`None`: closed).
    socket: Option<u64>,
    requests_on_socket: u64,
    /// The instant a [`Due::Timeout`] is queued for.
    timeout_armed: Option<Instant>,
}

/// The simulation's state: virtual time, what is due, the slots.
struct Sim<'a> {
    policy: Policy<'a>,
    plan: &'a Plan,
    script: Script,
    origin: Instant,
    now: Instant,
    queue: BinaryHeap<Reverse<(Instant, u64, Due)>>,
    sequence: u64,
    slots: Vec<SimSlot>,
    /// Server steps waiting for their instant, by [`Due::Server`]'s `step`.
    steps: Vec<Option<ServerStep>>,
    sockets: u64,
    accepted: u64,
    arrivals: Vec<Arrival>,
    /// [`Due::Wake`]s queued.
    wakes: usize,
}

/// Runs `plan` (its `connections` slots as one worker) against `script`.
pub fn run(plan: Plan, script: Script) -> SimOutcome {
    // HTTP/2 runs on virtual time are the HTTP/2 machine's harness
    // (connection/h2/harness.rs), which drives the backends' `Streams`.
    assert!(plan.h2_streams.is_none(), "the HTTP/1.1 simulation runs HTTP/1.1 plans only");
    let connections = plan.connections;
    let shared = Shared::new(plan, 1);
    let origin = Instant::now();
    let limits = shared.plan.limits();
    let slots = (0..connections)
        .map(|_| SimSlot {
            conn: Connection::new(None, limits).with_progress_events(),
            timing: SlotTiming::default(),
            socket: None,
            requests_on_socket: 0,
            timeout_armed: None,
        })
        .collect();
    let mut sim = Sim {
        policy: Policy::new(&shared, 0, connections),
        plan: &shared.plan,
        script,
        origin,
        now: origin,
        queue: BinaryHeap::new(),
        sequence: 0,
        slots,
        steps: Vec::new(),
        sockets: 0,
        accepted: 0,
        arrivals: Vec::new(),
        wakes: 0,
    };
    sim.preconnect();
    let start = sim.now;
    sim.policy.begin(start);
    for slot in 0..connections {
        sim.start_next(slot);
    }
    let end = sim.policy.end();
    sim.turn(end);
    let finished = sim.now;
    sim.policy.close_timeline();
    let mut stats = std::mem::take(&mut sim.policy.stats);
    stats.aborted += sim.policy.abandoned(finished);
    stats.warmup.aborted += sim.policy.warm_abandoned();
    let warmup = shared.plan.warmup;
    let timeline = std::mem::replace(&mut *shared.timeline.lock().unwrap(), Timeline::new(shared.plan.interval));
    SimOutcome {
        stats,
        timeline,
        elapsed: finished.saturating_duration_since(start).saturating_sub(warmup),
        accepted: sim.accepted,
        arrivals: sim.arrivals,
    }
}

impl Sim<'_> {
    fn at(&mut self, at: Instant, due: Due) {
        self.sequence += 1;
        self.queue.push(Reverse((at, self.sequence, due)));
    }

    /// Opens every slot's connection before the start, as a worker does
    /// when connections are kept alive; the clock starts once all are open
    /// (or the pre-connect limit ended the openings).
    fn preconnect(&mut self) {
        if !self.plan.requests.keepalive {
            return;
        }
        let until = self.now + self.plan.preconnect_timeout;
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

    /// Handles what is due, in order, until nothing is in flight or waiting
    /// (as a worker's loop ends), or `end` comes.
    fn turn(&mut self, end: Option<Instant>) {
        while self.policy.in_flight > 0 || self.wakes > 0 {
            let Some(Reverse((at, _, due))) = self.queue.pop() else {
                // Nothing will ever happen again: a -z run waits out its time.
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
    }

    /// An event that no longer means anything: for a socket since closed,
    /// or a deadline the machine no longer has.
    fn is_stale(&self, at: Instant, due: &Due) -> bool {
        match *due {
            Due::Connected { slot, socket, .. } | Due::Server { slot, socket, .. } => {
                self.slots[slot].socket != Some(socket)
            }
            Due::Timeout { slot } => self.slots[slot].timeout_armed != Some(at),
            Due::Wake { .. } => false,
        }
    }

    fn handle(&mut self, due: Due) {
        let now = self.now;
        match due {
            Due::Connected { slot, result, .. } => {
                if result.is_ok() {
                    self.accepted += 1;
                    self.policy.connected(self.script.connect_latency, now);
                }
                self.slots[slot].conn.handle_connected(result, now);
            }
            Due::Server { slot, step, .. } => {
                let Some(step) = self.steps[step].take() else { return };
                let (conn, requests) = (&mut self.slots[slot].conn, &self.plan.requests);
                match step {
                    ServerStep::Send(_, bytes) => conn.handle_data(&bytes, now, requests),
                    ServerStep::Close(_) => conn.handle_eof(now, requests),
                    ServerStep::Reset(_) => conn.handle_io_error(ErrorKind::Reset, now, requests),
                }
            }
            Due::Timeout { slot } => {
                self.slots[slot].timeout_armed = None;
                self.slots[slot].conn.handle_timeout(now);
            }
            Due::Wake { slot } => {
                self.wakes -= 1;
                return self.start_next(slot);
            }
        }
        let slot = match due {
            Due::Connected { slot, .. } | Due::Server { slot, .. } | Due::Timeout { slot } | Due::Wake { slot } => slot,
        };
        self.drive(slot);
    }

    /// Starts the slot's next request if the policy says so now, and
    /// carries out what it asks for.
    fn start_next(&mut self, slot: usize) {
        if self.begin_next(slot) {
            self.drive(slot);
        }
    }

    fn begin_next(&mut self, slot: usize) -> bool {
        let now = self.now;
        match self.policy.next(&mut self.slots[slot].timing, now) {
            Next::Retire => false,
            Next::Wait(at) => {
                self.wakes += 1;
                self.at(at, Due::Wake { slot });
                false
            }
            Next::Start { intended, pick } => {
                self.slots[slot].conn.start(pick, intended, now, &self.plan.requests);
                true
            }
        }
    }

    /// Carries out the machine's I/O and handles its events, as a backend
    /// does after every input.
    fn drive(&mut self, slot: usize) {
        let now = self.now;
        loop {
            if let Some(io) = self.slots[slot].conn.poll_io(&self.plan.requests) {
                self.carry_out(slot, io);
                continue;
            }
            match self.slots[slot].conn.poll_event() {
                None => break,
                Some(Event::Finished { finished, .. }) => {
                    let backoff = self.slots[slot].conn.backoff();
                    self.policy.finish(&mut self.slots[slot].timing, &finished, backoff, now);
                    self.begin_next(slot);
                }
                Some(Event::Opened(opened)) => self.policy.opened(&opened),
                Some(Event::Sample { metric, values, at, .. }) => {
                    self.policy.sampled(&self.slots[slot].timing, metric, &values, at);
                }
                Some(Event::Head { .. } | Event::Body { .. }) => {}
            }
        }
        let deadline = self.slots[slot].conn.poll_timeout();
        if deadline != self.slots[slot].timeout_armed {
            self.slots[slot].timeout_armed = deadline;
            if let Some(at) = deadline {
                self.at(at, Due::Timeout { slot });
            }
        }
    }

    fn carry_out(&mut self, slot: usize, io: Io) {
        let now = self.now;
        match io {
            Io::Close => self.slots[slot].socket = None,
            Io::Connect => {
                let socket = self.sockets;
                self.sockets += 1;
                (self.slots[slot].socket, self.slots[slot].requests_on_socket) = (Some(socket), 0);
                // The attempt's own limit (--connect-timeout), as a backend's connect has.
                let latency = self.script.connect_latency;
                let (after, result) = match (self.script.refuse, self.plan.connect_timeout) {
                    (Some(kind), _) => (latency, Err(kind)),
                    (None, Some(limit)) if latency > limit => (limit, Err(ErrorKind::ConnectTimeout)),
                    (None, _) => (latency, Ok(())),
                };
                self.at(now + after, Due::Connected { slot, socket, result });
            }
            Io::Transmit(outgoing) => {
                let bytes = match outgoing {
                    Outgoing::Request(entry) => self.plan.requests.pool.entry(entry).bytes.to_vec(),
                    Outgoing::Bytes(bytes) => bytes.to_vec(),
                };
                // Bytes for a socket that is not there fail as a backend's write would.
                let sent = match self.slots[slot].socket {
                    Some(_) => {
                        self.arrive(slot, bytes);
                        Ok(())
                    }
                    None => Err(ErrorKind::Io),
                };
                self.slots[slot].conn.handle_sent(sent, now, &self.plan.requests);
            }
        }
    }

    /// The server receives a request and queues its answer.
    fn arrive(&mut self, slot: usize, bytes: Vec<u8>) {
        let Some(socket) = self.slots[slot].socket else { return };
        let nth_on_socket = self.slots[slot].requests_on_socket;
        self.slots[slot].requests_on_socket += 1;
        let arrival = Arrival { slot, socket, nth_on_socket, at: self.now - self.origin, bytes };
        for step in self.script.answer(&arrival) {
            let (ServerStep::Send(after, _) | ServerStep::Close(after) | ServerStep::Reset(after)) = step;
            self.steps.push(Some(step));
            let step = self.steps.len() - 1;
            self.at(self.now + after, Due::Server { slot, socket, step });
        }
        self.arrivals.push(arrival);
    }
}

/// A plan for `connections` slots that stops as `until` says, with the
/// defaults of the command line; the tests set the fields they need.
pub fn plan(connections: usize, until: Until) -> Plan {
    let spec = crate::http::RequestSpec {
        method: "GET".into(),
        target: "/".into(),
        defaults: vec![("Host".into(), "sim".into())],
        user: vec![],
        body: bytes::Bytes::new(),
    };
    let pool = std::sync::Arc::new(crate::http::Pool::single(spec.build()));
    Plan {
        addrs: vec![Address::Tcp(([127, 0, 0, 1], 80).into())],
        requests: RequestSet::new(pool, true, true, "sim".into(), 80),
        connections,
        until,
        qps_per_connection: None,
        rate: None,
        timeout: None,
        connect_timeout: None,
        preconnect_timeout: Duration::from_secs(10),
        start_at: None,
        interval: Duration::from_secs(1),
        shape: None,
        stages: None,
        warmup: Duration::ZERO,
        goodput: None,
        arrivals: Default::default(),
        h2_streams: None,
    }
}

#[cfg(test)]
mod tests;
