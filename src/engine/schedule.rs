//! The open-model schedule behind `--rate`: when each request is meant to
//! start, whatever the responses do.
//!
//! A closed loop of C connections sends the next request only when a
//! response comes back, so a server stall also stalls the load and the
//! stall hides in a handful of samples (coordinated omission). Here request
//! `i` of a worker is due at a fixed instant. A connection that becomes free
//! claims the next due instant: if it lies ahead the connection sleeps until
//! then; if it already passed, every connection was busy at that moment and
//! the request starts late, its wait counted in the corrected latency. Claims
//! are taken in order, so the backlog of late requests is a first-in,
//! first-out queue that needs no memory: it is the gap between the claim
//! counter and the clock. A request that waited longer than the timeout for
//! a connection is counted as a timeout (never silently skipped).
//!
//! The rate is split over workers by their share of the connections; worker
//! `w` is offset by `w / rate` so that equal shares interleave exactly. A
//! rate that changes (`--rate FROM..TO`, `--stages`) numbers the run's
//! requests instead and puts each where the rate's integral reaches its
//! number ([`Shape`]). With `--arrivals poisson` or `--burstiness` the gaps
//! between due times are drawn at random around the same mean
//! ([`super::arrivals`]), in the same units, so ramps and stages keep them;
//! every worker draws the run's one sequence and takes its part of it.

use std::time::{Duration, Instant};

use super::arrivals::{Arrivals, Gaps, Owner};
pub use crate::stats::Shape;
use crate::stats::{ErrorKind, Record};

/// How long before a scheduled start a worker stops sleeping and spins
/// (still handling I/O) until the instant comes. Waking from a sleep takes
/// tens of microseconds on a virtual machine, and that lateness would count
/// as server latency. Measured here at 100-10,000 req/s, the mean send lag
/// was 40-160 us without spinning, 1-18 us spinning 50 us ahead, and
/// 0.2-8 us spinning 100 us ahead. The spinning is not counted as load in
/// the generator's self-diagnosis.
pub const SPIN_AHEAD: Duration = Duration::from_micros(100);

/// A due time that never comes, in nanoseconds from the start (a century:
/// far enough to be never, near enough not to overflow an `Instant`).
const NEVER_NS: f64 = 100.0 * 365.0 * 86400.0 * 1e9;

/// One worker's share of the whole run's request schedule.
#[derive(Clone, Debug)]
pub struct Schedule {
    start: Instant,
    /// Nanoseconds between this worker's requests.
    period_ns: f64,
    /// Nanoseconds from the start to this worker's first request.
    offset_ns: f64,
    /// Requests whose due time has been handed to a connection.
    claimed: u64,
    /// `--rate FROM..TO`, `--stages`: the shape the due times follow instead.
    shape: Option<Shape>,
    /// `--arrivals poisson`, `--burstiness`: random gaps, and the position
    /// (in the units of offset and period) of the next claim.
    random: Option<Random>,
}

/// The state of a schedule with random gaps: the run's sequence of
/// arrivals, of which this worker takes its part.
#[derive(Clone, Debug)]
struct Random {
    gaps: Gaps,
    owner: Owner,
    /// The run's mean gap, in the units of offset and period.
    run_period: f64,
    /// The run's next arrival: its number and position.
    arrival: u64,
    position: f64,
}

impl Random {
    fn new(mut gaps: Gaps, owner: Owner, run_period: f64) -> Random {
        let position = run_period * gaps.next_gap();
        Random { gaps, owner, run_period, arrival: 0, position }
    }

    /// The position of this worker's next arrival, taken off (infinite if
    /// the worker takes none).
    fn next_owned(&mut self) -> f64 {
        if !self.owner.takes_any() {
            return f64::INFINITY;
        }
        loop {
            let (arrival, position) = (self.arrival, self.position);
            self.arrival += 1;
            self.position += self.run_period * self.gaps.next_gap();
            if self.owner.takes(arrival) {
                return position;
            }
        }
    }
}

/// What a free connection should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Start a request meant for this instant (now, or later: sleep until then).
    At(Instant),
    /// The request meant for this instant waited longer than the timeout for
    /// a connection: record [`Schedule::expired`] for it and claim again.
    Expired(Instant),
}

impl Schedule {
    /// The schedule of worker `index` holding `share` of `connections`
    /// connections, for `rate` requests per second in total.
    pub fn new(start: Instant, rate: f64, index: usize, share: usize, connections: usize) -> Self {
        let worker_rate = rate * share as f64 / connections.max(1) as f64;
        let period_ns = 1e9 / worker_rate;
        Schedule { start, period_ns, offset_ns: index as f64 * 1e9 / rate, claimed: 0, shape: None, random: None }
    }

    /// The same schedule with `arrivals`' gaps: random ones are the run's
    /// sequence, of which `owner` (this worker) takes its part.
    pub fn with_arrivals(self, arrivals: Arrivals, owner: Owner) -> Self {
        match arrivals {
            Arrivals::Even => self,
            Arrivals::Random { burstiness, seed } => {
                let share = super::plan::share_of(owner.connections, owner.workers, owner.worker);
                let run_period = self.period_ns * share as f64 / owner.connections.max(1) as f64;
                let random = Random::new(Gaps::new(burstiness, seed), owner, run_period);
                Schedule { random: Some(random), ..self }
            }
        }
    }

    /// As [`Schedule::new`], for a rate that follows `shape`: the worker's
    /// requests take the run's request numbers `index`, `index + 1/f`,
    /// `index + 2/f` ... (f its share of the connections), which
    /// interleave with the other workers' as with a constant rate.
    pub fn shaped(start: Instant, shape: Shape, index: usize, share: usize, connections: usize) -> Self {
        let share = share as f64 / connections.max(1) as f64;
        Schedule {
            start,
            period_ns: 1.0 / share,
            offset_ns: index as f64,
            claimed: 0,
            shape: Some(shape),
            random: None,
        }
    }

    /// The run's start, which the timetable counts from.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// When this worker's request number `i` is due (with even gaps).
    pub fn due(&self, i: u64) -> Instant {
        self.at(self.offset_ns + i as f64 * self.period_ns)
    }

    /// The instant of `position`, in the units of offset and period.
    fn at(&self, position: f64) -> Instant {
        let ns = match &self.shape {
            // With a shape, offset and period count requests, not nanoseconds.
            Some(shape) => shape.time_of(position) * 1e9,
            None => position,
        };
        // Never, past the end of a shape that ends at rate zero: a century on.
        self.start + Duration::from_nanos(ns.round().min(NEVER_NS) as u64)
    }

    /// Hands the next due instant to a connection that is free at `now`.
    pub fn claim(&mut self, now: Instant, timeout: Option<Duration>) -> Claim {
        let due = match self.random.as_mut() {
            None => self.due(self.claimed),
            Some(random) => {
                let position = random.next_owned();
                self.at(position)
            }
        };
        self.claimed += 1;
        match timeout {
            Some(limit) if due + limit <= now => Claim::Expired(due),
            _ => Claim::At(due),
        }
    }

    /// Requests due from `from` until `end` that no connection claimed: at
    /// a `-z` deadline these were waiting for a connection, and count as
    /// aborted (`from` is the start, or the end of a warm-up).
    pub fn unclaimed_between(&self, from: Instant, end: Instant) -> u64 {
        if let Some(random) = &self.random {
            // Claims are taken in order: the unclaimed ones are those still to draw.
            let (from, end, mut random, mut due) = (self.elapsed(from), self.elapsed(end), random.clone(), 0);
            loop {
                match random.next_owned() {
                    position if position >= end => return due,
                    position => due += u64::from(position >= from),
                }
            }
        }
        self.due_before(end).saturating_sub(self.claimed.max(self.due_before(from)))
    }

    /// How many of this worker's requests are due before `end` (even gaps).
    fn due_before(&self, end: Instant) -> u64 {
        let elapsed = self.elapsed(end);
        let due = if elapsed <= self.offset_ns { 0.0 } else { ((elapsed - self.offset_ns) / self.period_ns).ceil() };
        due as u64
    }

    /// The time from the start to `at`, in the units of offset and period:
    /// nanoseconds, or requests for a shape.
    fn elapsed(&self, at: Instant) -> f64 {
        let elapsed_ns = at.saturating_duration_since(self.start).as_nanos() as f64;
        self.shape.as_ref().map_or(elapsed_ns, |shape| shape.due_by(elapsed_ns / 1e9))
    }

    /// The record of a request that expired waiting for a connection: a
    /// timeout whose corrected latency is the whole timeout.
    pub fn expired(limit: Duration) -> Record {
        Record {
            result: Err(ErrorKind::Timeout),
            latency: Duration::ZERO,
            queued: limit,
            write: None,
            wait: Duration::ZERO,
            read: Duration::ZERO,
            wire_bytes: 0,
            body_bytes: 0,
            metrics: crate::stats::Samples::default(),
            tally: crate::stats::Tally::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn workers_interleave_into_one_even_schedule() {
        let t0 = Instant::now();
        // 1000 req/s over 4 workers of 25 connections each: every 1 ms, round robin.
        let mut all: Vec<Duration> = (0..4)
            .flat_map(|w| {
                let s = Schedule::new(t0, 1000.0, w, 25, 100);
                (0..250).map(move |i| s.due(i) - t0)
            })
            .collect();
        all.sort();
        for (i, at) in all.iter().enumerate() {
            assert_eq!(*at, ms(i as u64), "request {i}");
        }
    }

    #[test]
    fn fractional_rates_are_honoured() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 0.5, 0, 1, 1);
        assert_eq!((s.due(0) - t0, s.due(3) - t0), (ms(0), ms(6000)));
    }

    #[test]
    fn claims_are_taken_in_order_and_expire_after_the_timeout() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, 100.0, 0, 1, 1);
        // Free early: the first two claims lie ahead (or at) now.
        assert_eq!(s.claim(t0, Some(ms(50))), Claim::At(t0));
        assert_eq!(s.claim(t0, Some(ms(50))), Claim::At(t0 + ms(10)));
        // Free only at 75 ms: request 2 (due 20 ms) waited 55 ms > 50 ms.
        let late = t0 + ms(75);
        assert_eq!(s.claim(late, Some(ms(50))), Claim::Expired(t0 + ms(20)));
        assert_eq!(s.claim(late, Some(ms(50))), Claim::At(t0 + ms(30)));
        // Without a timeout nothing expires.
        assert_eq!(s.claim(t0 + ms(900), None), Claim::At(t0 + ms(40)));
    }

    #[test]
    fn the_backlog_at_a_deadline_is_what_was_due_and_unclaimed() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, 100.0, 0, 1, 1);
        assert_eq!(s.unclaimed_between(t0, t0), 0);
        // Due before 100 ms: 0, 10, ..., 90 ms = 10 requests.
        assert_eq!(s.unclaimed_between(t0, t0 + ms(100)), 10);
        for _ in 0..4 {
            s.claim(t0, None);
        }
        assert_eq!(s.unclaimed_between(t0, t0 + ms(100)), 6);
        assert_eq!(s.unclaimed_between(t0, t0 + ms(25)), 0);
    }

    #[test]
    fn a_shaped_schedule_puts_each_request_where_the_rate_integral_reaches_it() {
        let ramp = Shape::ramp(100.0, 2000.0, 4.0).unwrap();
        // A flat ramp is the constant schedule.
        let t0 = Instant::now();
        let flat = Schedule::shaped(t0, Shape::ramp(1000.0, 1000.0, 2.0).unwrap(), 1, 25, 100);
        let constant = Schedule::new(t0, 1000.0, 1, 25, 100);
        for i in [0, 1, 7, 499, 1999] {
            assert_eq!(flat.due(i), constant.due(i), "request {i}");
        }
        // Four workers interleave: every run-wide request number once.
        let mut all: Vec<Instant> = (0..4)
            .flat_map(|w| {
                let s = Schedule::shaped(t0, ramp.clone(), w, 25, 100);
                (0..1050).map(move |i| s.due(i))
            })
            .collect();
        all.sort();
        for (c, at) in all.iter().enumerate() {
            let want = Duration::from_secs_f64(ramp.time_of(c as f64));
            assert!((*at - t0).abs_diff(want) <= Duration::from_nanos(1), "request {c}");
        }
        let s = Schedule::shaped(t0, ramp.clone(), 0, 1, 1);
        assert_eq!(s.unclaimed_between(t0, t0 + ms(4000)), 4200);
        assert_eq!(s.unclaimed_between(t0, t0 + ms(1000)), ramp.due_by(1.0).ceil() as u64);
    }

    #[test]
    fn an_expired_request_sits_at_the_timeout() {
        let r = Schedule::expired(ms(300));
        assert_eq!((r.result, r.queued + r.latency), (Err(ErrorKind::Timeout), ms(300)));
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod random_tests;
