//! When each connection slot starts its next request, and what a worker
//! counts while it runs, without I/O: the other half of the per-connection
//! logic beside [`super::connection::Connection`], written once for every backend.
//!
//! Given the time, [`Policy::next`] answers start now, wait until an
//! instant, or retire. It covers the request budget (tickets), the `--rate`
//! schedule (a claimed start that lies ahead is kept in the slot until it
//! comes), `-q` pacing, the connections `--stages` parks, the warm-up, and
//! the pause after connect failures. It also keeps
//! the worker's tally: requests started and in flight, the last start, the
//! send lag, and every finished request recorded in the worker's stats and
//! the live counters. [`Dialer`] chooses which of the target's addresses a
//! connection tries next.
//!
//! `-q` means the same on every backend: each connection starts at most one
//! request per period, on a grid that begins at the run's start; a tick
//! missed because the previous request was slow is skipped, not made up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::arrivals::Owner;
use super::connection::{Finished, Opened};
use super::plan::{Until, share_of};
use super::schedule::{Claim, Schedule};
use super::shared::Shared;
use crate::stats::{
    Ended, ErrorKind, Handshake, Phase, Recorder, Sampled, WorkerStats, fan_out, fan_out_sample, nanos,
};

/// What a slot does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Start request number `pick` of the run now (see
    /// [`crate::http::Pool::claim`]), meant to start at `intended` (≤ now).
    Start { intended: Instant, pick: u64 },
    /// Ask again at this instant.
    Wait(Instant),
    /// No request is left for this slot.
    Retire,
}

/// One slot's timing state, kept by the backend beside its socket.
#[derive(Clone, Copy, Debug, Default)]
pub struct SlotTiming {
    /// No start before this (the pause after connect failures).
    not_before: Option<Instant>,
    /// Next `-q` tick.
    pace_next: Option<Instant>,
    /// Under `--rate`: a start claimed from the schedule that lay ahead when
    /// claimed, so the slot waits for it and any lateness is the generator's.
    claimed: Option<Instant>,
    /// The request in flight belongs to the warm-up.
    warmup: bool,
}

/// One worker's start policy and tally.
#[derive(Debug)]
pub struct Policy<'a> {
    shared: &'a Shared,
    worker: usize,
    share: usize,
    schedule: Option<Schedule>,
    pace: Option<Duration>,
    pace_origin: Option<Instant>,
    end: Option<Instant>,
    pub stats: WorkerStats,
    /// This worker's share of the run's timeline.
    timeline: Recorder,
    /// Requests started and not yet finished: aborted if the run ends now.
    pub in_flight: u64,
    pub last_start: Option<Instant>,
    /// Time spent spinning before scheduled starts (not load).
    pub spun: Duration,
    /// Under `--rate`: starts claimed from the schedule that slots hold
    /// until their instant, ascending (claims are handed out in order). At
    /// a deadline those already due were neither sent nor unclaimed, and
    /// count as aborted.
    held: VecDeque<Instant>,
    /// Under `--rate -z`: due starts the stopped run refused to send.
    refused_due: u64,
    /// `--stages` of connections: this worker's active connections until
    /// each instant, ascending (after the last, the run is over and none
    /// is parked).
    stages: Vec<(Instant, u64)>,
    /// The end of the warm-up, when there is one.
    warmup_end: Option<Instant>,
    /// Warm-up requests in flight (also in `in_flight`).
    warm_in_flight: u64,
    /// Moving mean of the latencies of the last requests (weight 1/16),
    /// in nanoseconds: 0 before the first ends.
    recent_latency_ns: u64,
}

impl<'a> Policy<'a> {
    /// The policy of worker `worker`, which holds `share` of the connections.
    pub fn new(shared: &'a Shared, worker: usize, share: usize) -> Self {
        Policy {
            shared,
            worker,
            share,
            schedule: None,
            pace: shared.plan.qps_per_connection.and_then(|q| Duration::try_from_secs_f64(1.0 / q).ok()),
            pace_origin: None,
            end: None,
            stats: WorkerStats::for_targets(shared.plan.requests.pool.targets()),
            timeline: Recorder::new(shared.plan.interval),
            in_flight: 0,
            last_start: None,
            spun: Duration::ZERO,
            held: VecDeque::new(),
            refused_due: 0,
            stages: Vec::new(),
            warmup_end: None,
            warm_in_flight: 0,
            recent_latency_ns: 0,
        }
    }

    /// The clock started at `start`: the schedule and the deadline count from it.
    pub fn begin(&mut self, start: Instant) {
        let plan = &self.shared.plan;
        let (worker, share, connections) = (self.worker, self.share, plan.connections.max(1));
        let schedule = match (&plan.shape, plan.rate) {
            (Some(shape), _) => Some(Schedule::shaped(start, shape.clone(), worker, share, connections)),
            (None, Some(rate)) => Some(Schedule::new(start, rate, worker, share, connections)),
            (None, None) => None,
        };
        let owner = Owner { worker, workers: self.shared.workers, connections };
        self.schedule = schedule.map(|s| s.with_arrivals(plan.arrivals, owner));
        if let Some(stages) = &plan.stages {
            let mut end = Duration::ZERO;
            let mut ends = Vec::with_capacity(stages.stages.len());
            for &(over_s, count) in &stages.stages {
                end = end.saturating_add(Duration::from_secs_f64(over_s));
                // The stage's count spread over workers as the connections are.
                let mine = share_of(count, self.shared.workers, worker);
                ends.push((start + end, mine.min(share) as u64));
            }
            self.stages = ends;
        }
        self.warmup_end = (!plan.warmup.is_zero()).then(|| start + plan.warmup);
        self.pace_origin = Some(start);
        self.end = match plan.until {
            Until::Elapsed(d) => Some(start + d),
            Until::Count(_) => None,
        };
    }

    /// When a `-z` run ends (known once the clock started).
    pub fn end(&self) -> Option<Instant> {
        self.end
    }

    /// Whether starts follow a `--rate` schedule (backends spin before them).
    pub fn scheduled(&self) -> bool {
        self.schedule.is_some()
    }

    /// What the slot does next at `now`. On [`Next::Start`] the request is
    /// counted as started and in flight; the backend must later call
    /// [`Policy::finish`] exactly once for it.
    pub fn next(&mut self, slot: &mut SlotTiming, now: Instant) -> Next {
        if let Some(at) = slot.not_before.filter(|&at| at > now) {
            return Next::Wait(at);
        }
        slot.not_before = None;
        if let Some(until) = self.parked(now) {
            return Next::Wait(until);
        }
        let (intended, waited) = match self.intended(slot, now) {
            Ok(start) => start,
            Err(next) => return next,
        };
        let warmup = self.warmup_end.is_some_and(|end| intended < end);
        if warmup {
            // The warm-up takes nothing from the run's request budget.
            if !self.shared.tickets.left() {
                return Next::Retire;
            }
        } else if !self.shared.tickets.take() {
            // A scheduled start before the deadline that the stopped run
            // will not send: still one of the run's requests.
            if self.schedule.is_some() && self.end.is_some() {
                self.refused_due += 1;
            }
            return Next::Retire;
        }
        self.in_flight += 1;
        slot.warmup = warmup;
        if warmup {
            self.warm_in_flight += 1;
        } else {
            if waited {
                self.stats.send_lag.record(nanos(now.saturating_duration_since(intended)));
            }
            self.stats.started += 1;
            self.last_start = Some(now);
        }
        if let Some(done) = self.timeline.sent(self.since_start(now)) {
            self.shared.interval_done(&done);
        }
        Next::Start { intended: intended.min(now), pick: self.shared.plan.requests.pool.claim() }
    }

    /// Under `--stages` of connections, when this worker's active
    /// connections are all busy: the end of the stage (the slot waits,
    /// connected, until then).
    fn parked(&self, now: Instant) -> Option<Instant> {
        let i = self.stages.partition_point(|&(end, _)| end <= now);
        let &(end, active) = self.stages.get(i)?;
        (self.in_flight >= active).then_some(end)
    }

    /// When the request the slot may start now was meant to start, and
    /// whether the slot waited for that instant (so any lateness is the
    /// generator's own); or what to do instead.
    fn intended(&mut self, slot: &mut SlotTiming, now: Instant) -> Result<(Instant, bool), Next> {
        if let Some(schedule) = self.schedule.as_mut() {
            // Asked again before its claimed start (an HTTP/2 connection asks
            // whenever one of its streams ends): the claim stays as it is
            // held, in order.
            if let Some(at) = slot.claimed.filter(|&at| at > now) {
                return Err(Next::Wait(at));
            }
            let (at, waited) = match slot.claimed.take() {
                Some(at) => {
                    if let Ok(i) = self.held.binary_search(&at) {
                        self.held.remove(i);
                    }
                    (at, true)
                }
                // A start already due means every connection was busy: the
                // wait counts as latency, not as the generator's lag.
                None => match claim(
                    self.shared,
                    schedule,
                    (&mut self.stats, &mut self.timeline),
                    (self.worker, self.warmup_end),
                    now,
                ) {
                    Some(at) => (at, at > now),
                    None => return Err(Next::Retire),
                },
            };
            // Due at or after a -z deadline: not part of the run (a start
            // spun towards just past the deadline would otherwise go out).
            if self.end.is_some_and(|end| at >= end) {
                return Err(Next::Retire);
            }
            if at > now {
                slot.claimed = Some(at);
                self.held.push_back(at);
                return Err(Next::Wait(at));
            }
            return Ok((at, waited));
        }
        if let Some(period) = self.pace {
            if !self.shared.tickets.left() {
                return Err(Next::Retire);
            }
            let origin = self.pace_origin.unwrap_or(now);
            let due = slot.pace_next.unwrap_or(origin).max(origin);
            if due > now {
                return Err(Next::Wait(due));
            }
            // The next tick on the grid after `now`; missed ticks are skipped.
            let missed = (now - due).as_nanos() / period.as_nanos().max(1);
            let ahead = u32::try_from(missed + 1).unwrap_or(u32::MAX);
            slot.pace_next = Some(due + period.saturating_mul(ahead));
        }
        Ok((now, false))
    }

    /// Records a finished request; `backoff` is the pause the connection asks
    /// for before the slot's next start (after connect failures).
    pub fn finish(&mut self, slot: &mut SlotTiming, finished: &Finished, backoff: Option<Duration>, now: Instant) {
        let warmup = std::mem::take(&mut slot.warmup);
        self.warm_in_flight -= u64::from(warmup);
        let (at_ns, shared) = (self.since_start(now), self.shared);
        let ended = Ended { record: &finished.record, target: Some(finished.target), at_ns, warmup };
        let sinks = (&mut self.stats, &mut self.timeline);
        fan_out(&ended, sinks, shared.live.slot(self.worker), |done| shared.interval_done(done));
        self.in_flight -= 1;
        let latency_ns = nanos(finished.record.latency);
        self.recent_latency_ns = match self.recent_latency_ns {
            0 => latency_ns,
            mean => mean - mean / 16 + latency_ns / 16,
        };
        slot.not_before = backoff.map(|pause| now + pause);
        self.secured((finished.tunnel, finished.handshake.as_ref()), finished.record.result.err());
    }

    /// The moving mean of the latencies of the last requests (weight 1/16
    /// each); zero before the first ends.
    pub fn recent_latency(&self) -> Duration {
        Duration::from_nanos(self.recent_latency_ns)
    }

    /// Records values measured inside the slot's response, which ended at
    /// `at` (its inter-token gaps, a group that shares a histogram bucket):
    /// `metric` is an index in [`crate::stats::METRICS`].
    pub fn sampled(&mut self, slot: &SlotTiming, metric: usize, values: &Phase, at: Instant) {
        let sampled = Sampled { metric, values: *values, at_ns: self.since_start(at), warmup: slot.warmup };
        let shared = self.shared;
        fan_out_sample(&sampled, (&mut self.stats, &mut self.timeline), |done| shared.interval_done(done));
    }

    /// Records a connection opened at `now` after `took`.
    pub fn connected(&mut self, took: Duration, now: Instant) {
        self.stats.connected(nanos(took));
        if let Some(done) = self.timeline.connected(self.since_start(now)) {
            self.shared.interval_done(&done);
        }
    }

    /// Hands the interval in progress to the run's timeline: the worker
    /// has stopped.
    pub fn close_timeline(&mut self) {
        if let Some(done) = self.timeline.finish() {
            self.shared.interval_done(&done);
        }
    }

    /// Nanoseconds from the clock's start to `now` (0 before it).
    fn since_start(&self, now: Instant) -> u64 {
        self.pace_origin.map_or(0, |start| nanos(now.saturating_duration_since(start)))
    }

    /// Records a connection opened before the start (or its failure).
    pub fn opened(&mut self, opened: &Opened) {
        if opened.result.is_err() {
            self.stats.preconnect_failures += 1;
        }
        self.secured((opened.tunnel, opened.handshake.as_ref()), opened.result.err());
    }

    /// Records an opened proxy tunnel (its time, ns) and a finished TLS
    /// handshake, and stops the run when the first handshakes fail to
    /// verify the server, or the first tunnels are refused (see
    /// [`super::shared::Trust`]).
    fn secured(&mut self, (tunnel, handshake): (Option<u64>, Option<&Handshake>), error: Option<ErrorKind>) {
        if let Some(ns) = tunnel {
            self.stats.tunnel.record(ns);
            self.shared.trust.tunneled();
        }
        if let Some(handshake) = handshake {
            self.stats.tls.record(handshake);
            self.shared.trust.verified();
        }
        // A server that did not agree to h2 will not begin to: the run stops
        // whatever handshakes succeeded before.
        let stop = match error {
            Some(ErrorKind::H2NotNegotiated) => self.shared.trust.refused_always(ErrorKind::H2NotNegotiated),
            Some(kind) if kind.is_proxy_refusal() => self.shared.trust.tunnel_refused(kind),
            Some(kind) => kind.is_tls_verification() && self.shared.trust.refused(kind),
            None => false,
        };
        if stop {
            self.shared.tickets.stop();
            self.shared.abort.fire();
        }
    }

    /// Requests that never completed when the worker stopped at `finished`:
    /// those in flight, and under `--rate` with `-z` those due before the
    /// deadline that were still waiting for a connection.
    pub fn abandoned(&self, finished: Instant) -> u64 {
        let waiting = match (self.schedule.as_ref(), self.end) {
            (Some(schedule), Some(end)) => {
                // Only the measured part's: from the end of any warm-up.
                let (from, by) = (self.warmup_end.unwrap_or(schedule.start()), end.min(finished));
                let held = self.held.iter().filter(|&&at| at >= from && at < by).count() as u64;
                schedule.unclaimed_between(from, by) + held + self.refused_due
            }
            _ => 0,
        };
        self.in_flight - self.warm_in_flight + waiting
    }

    /// Warm-up requests still in flight when the worker stopped.
    pub fn warm_abandoned(&self) -> u64 {
        self.warm_in_flight
    }
}

/// Under `--rate`, for a connection free at `now`: the next scheduled start
/// it claims. Requests that waited longer than the timeout for a connection
/// are recorded on the way as unsent timeouts (each takes a ticket, unless
/// it was due in the warm-up, which ends at `warmup_end`). `None` when no
/// request is left.
fn claim(
    shared: &Shared,
    schedule: &mut Schedule,
    (stats, timeline): (&mut WorkerStats, &mut Recorder),
    (worker, warmup_end): (usize, Option<Instant>),
    now: Instant,
) -> Option<Instant> {
    loop {
        if !shared.tickets.left() {
            return None;
        }
        match schedule.claim(now, shared.plan.timeout) {
            Claim::At(at) => return Some(at),
            Claim::Expired(due) => {
                let record = Schedule::expired(shared.plan.timeout.unwrap_or_default());
                let warmup = warmup_end.is_some_and(|end| due < end);
                if !warmup {
                    if !shared.tickets.take() {
                        return None;
                    }
                    stats.unsent += 1;
                }
                let at_ns = nanos(now.saturating_duration_since(schedule.start()));
                let ended = Ended { record: &record, target: None, at_ns, warmup };
                fan_out(&ended, (stats, timeline), shared.live.slot(worker), |done| shared.interval_done(done));
            }
        }
    }
}

/// Which address a connection tries: the one that accepted last, then the
/// others in turn until each was tried once.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dialer {
    preferred: usize,
}

/// One connection attempt's place in the rotation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempt {
    pub addr: usize,
    tries: usize,
}

impl Dialer {
    /// The first attempt of a new connection.
    pub fn first(&self) -> Attempt {
        Attempt { addr: self.preferred, tries: 1 }
    }

    /// After `attempt` failed: the next address to try, if any is left of `count`.
    pub fn after(&self, attempt: Attempt, count: usize) -> Option<Attempt> {
        (attempt.tries < count).then(|| Attempt { addr: (attempt.addr + 1) % count, tries: attempt.tries + 1 })
    }

    /// `attempt` connected: later connections start there.
    pub fn connected(&mut self, attempt: Attempt) {
        self.preferred = attempt.addr;
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
