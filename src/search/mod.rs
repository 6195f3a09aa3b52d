//! `--find-max`: the highest open-model rate at which the server still
//! meets an SLO, found by runs of one step each.
//!
//! The rate climbs from a start by a factor until a step fails the SLO,
//! then bisects (geometrically) between the highest passing and the lowest
//! failing rate until they are within the precision asked for. A step is
//! judged on its whole length, so one slow interval does not end the climb;
//! a failure is the step's, sustained over it. The search also stops when
//! the generator, not the server, is what limits the step (its cores are
//! saturated, it could not send the rate, or all its connections were busy
//! while the server itself answered within the SLO): then it says so
//! instead of reporting a server limit. This module decides; running the
//! steps and rendering them live elsewhere ([`crate::run`], [`render`]).

pub mod render;

use crate::summary::Checked;

/// How the search proceeds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// The first step's rate, requests per second.
    pub start: f64,
    /// Each climbing step's rate over the one before (> 1).
    pub factor: f64,
    /// Bisection ends when the failing rate is within this fraction above
    /// the passing one (0.05: 5%).
    pub precision: f64,
    /// No step asks for more than this.
    pub ceiling: f64,
}

/// Which part of the search a step belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Climb,
    Bisect,
}

/// What limited a step that did not pass.
#[derive(Clone, Debug, PartialEq)]
pub enum Limit {
    /// The server broke the SLO.
    Server,
    /// The generator could not load the server as asked: the reason.
    Generator(String),
}

/// One step's measurements and verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub phase: Phase,
    /// Requests per second asked for.
    pub target: f64,
    /// Requests per second sent.
    pub achieved: f64,
    /// The step's measured length, seconds.
    pub seconds: f64,
    pub responses: u64,
    pub errors: u64,
    /// Corrected latency percentiles, nanoseconds.
    pub p50_ns: u64,
    pub p99_ns: u64,
    /// The SLO's thresholds, checked.
    pub checks: Vec<Checked>,
    /// `None`: the step passed.
    pub limit: Option<Limit>,
    /// Too few samples for a percentile of the SLO to mean much, even
    /// after lengthening the step: a note saying so.
    pub thin: Option<String>,
}

impl Step {
    pub fn passed(&self) -> bool {
        self.limit.is_none()
    }
}

/// Why the search ended.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    /// Bisected to within the precision.
    Found,
    /// Even the first step failed the SLO.
    LowestFails,
    /// The generator limited a step (the reason is that step's).
    Generator,
    /// Every step passed up to the highest rate allowed.
    Ceiling,
    /// Ctrl-C.
    Interrupted,
}

/// The search's state: the steps so far and the bounds they set.
#[derive(Clone, Debug)]
pub struct Search {
    params: Params,
    pub steps: Vec<Step>,
    /// Highest rate that passed.
    pub passing: Option<f64>,
    /// Lowest rate the server failed.
    pub failing: Option<f64>,
    ended: Option<End>,
}

impl Search {
    pub fn new(params: Params) -> Search {
        Search { params, steps: Vec::new(), passing: None, failing: None, ended: None }
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The next step's rate and phase; `None` once the search has ended.
    pub fn next_step(&mut self) -> Option<(f64, Phase)> {
        if self.ended.is_some() {
            return None;
        }
        let next = match (self.passing, self.failing) {
            (_, None) => {
                let rate = self.steps.last().map_or(self.params.start, |s| s.target * self.params.factor);
                if self.steps.last().is_some_and(|s| s.target >= self.params.ceiling) {
                    Err(End::Ceiling)
                } else {
                    Ok((rate.min(self.params.ceiling), Phase::Climb))
                }
            }
            (None, Some(_)) => Err(End::LowestFails),
            (Some(low), Some(high)) if high <= low * (1.0 + self.params.precision) => Err(End::Found),
            (Some(low), Some(high)) => Ok(((low * high).sqrt(), Phase::Bisect)),
        };
        next.map_err(|end| self.ended = Some(end)).ok()
    }

    /// Adds a finished step.
    pub fn record(&mut self, step: Step) {
        match &step.limit {
            None => self.passing = Some(self.passing.map_or(step.target, |p| p.max(step.target))),
            Some(Limit::Server) => self.failing = Some(self.failing.map_or(step.target, |f| f.min(step.target))),
            Some(Limit::Generator(_)) => self.ended = Some(End::Generator),
        }
        self.steps.push(step);
    }

    /// Ctrl-C: the search ends with what it found so far.
    pub fn interrupt(&mut self) {
        self.ended = Some(End::Interrupted);
    }

    /// Why it ended (`None` while it runs).
    pub fn end(&self) -> Option<&End> {
        self.ended.as_ref()
    }

    /// The step whose generator limit ended the search.
    pub fn generator_limit(&self) -> Option<(&Step, &str)> {
        self.steps.iter().find_map(|s| match &s.limit {
            Some(Limit::Generator(why)) => Some((s, why.as_str())),
            _ => None,
        })
    }
}

/// Share of the asked rate below which a step was not really run at it.
pub const SENT_ENOUGH: f64 = 0.95;

/// What a step's run showed, for [`limit_of`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evidence {
    /// Requests per second asked for and sent.
    pub rate: f64,
    pub achieved: f64,
    /// vastar's share of the time of the cores it could use, and how many.
    pub own_busy: Option<f64>,
    pub cores: usize,
    pub connections: usize,
    /// The SLO held on the corrected latency (what users arriving on
    /// schedule saw).
    pub met: bool,
    /// Whether the SLO held on the latency from each actual send (the
    /// server's own); `None` when it reads no latency or was met anyway.
    pub met_from_send: Option<bool>,
}

/// Who limited a step (`None`: it passed). The generator, when its cores
/// were saturated while it sent too little, when it sent too little, or
/// when the SLO broke only because requests queued for its connections
/// while the server answered each within it; else the server.
pub fn limit_of(e: &Evidence) -> Option<Limit> {
    let (rate, achieved) = (e.rate, e.achieved);
    let short = achieved < SENT_ENOUGH * rate;
    if let (true, Some(own)) = (short, e.own_busy.filter(|&own| own >= crate::summary::insight::BUSY_SHARE)) {
        let cores = e.cores;
        let why = format!(
            "vastar kept its {cores} core(s) {:.0}% busy and sent {achieved:.0} of {rate:.0} req/s",
            own * 100.0
        );
        return Some(Limit::Generator(why));
    }
    if !e.met {
        if e.met_from_send == Some(true) {
            return Some(Limit::Generator(format!(
                "all {} connections were busy and requests queued in vastar, while the server answered each within \
                 the SLO: rerun with more connections (-c) to learn whether it can take more",
                e.connections
            )));
        }
        return Some(Limit::Server);
    }
    short.then(|| Limit::Generator(format!("vastar sent only {achieved:.0} of {rate:.0} req/s")))
}

/// Samples a percentile needs beyond it to mean something.
pub const SAMPLES_BEYOND: f64 = 100.0;

/// Longest a step is lengthened to, in multiples of the step asked for.
pub const MAX_LENGTHENING: f64 = 6.0;

/// A step's length for `rate` given the configured `step_s` and the
/// highest percentile `p` the SLO reads: long enough for
/// [`SAMPLES_BEYOND`] samples beyond it, at most [`MAX_LENGTHENING`] times
/// `step_s`. Also whether even that is too short.
pub fn step_length(rate: f64, step_s: f64, p: Option<f64>) -> (f64, bool) {
    let Some(p) = p.filter(|&p| p < 100.0) else { return (step_s, false) };
    let needed_s = SAMPLES_BEYOND / (1.0 - p / 100.0) / rate;
    let length = needed_s.clamp(step_s, step_s * MAX_LENGTHENING);
    (length, needed_s > length)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params { start: 100.0, factor: 2.0, precision: 0.05, ceiling: 1e7 }
    }

    fn step(phase: Phase, target: f64, limit: Option<Limit>) -> Step {
        let (p50_ns, p99_ns, checks, thin) = (0, 0, Vec::new(), None);
        Step {
            phase,
            target,
            achieved: target,
            seconds: 1.0,
            responses: 1,
            errors: 0,
            p50_ns,
            p99_ns,
            checks,
            limit,
            thin,
        }
    }

    /// Runs a search against a server that fails above `capacity`.
    fn against(capacity: f64, generator_max: f64) -> Search {
        let mut search = Search::new(params());
        while let Some((rate, phase)) = search.next_step() {
            let limit = if rate > generator_max {
                Some(Limit::Generator("its cores were saturated".into()))
            } else if rate > capacity {
                Some(Limit::Server)
            } else {
                None
            };
            search.record(step(phase, rate, limit));
            assert!(search.steps.len() < 60, "the search ends");
        }
        search
    }

    #[test]
    fn it_climbs_then_bisects_to_the_capacity() {
        for capacity in [150.0, 333.0, 1000.0, 4321.0, 77_777.0] {
            let search = against(capacity, f64::INFINITY);
            let (low, high) = (search.passing.unwrap(), search.failing.unwrap());
            assert!(low <= capacity && high > capacity && high <= low * 1.05, "{capacity}: {low}..{high}");
            assert_eq!(search.end(), Some(&End::Found));
            let climbs = search.steps.iter().take_while(|s| s.phase == Phase::Climb).count();
            assert!(search.steps[climbs..].iter().all(|s| s.phase == Phase::Bisect), "{capacity}");
            // Climbing doubles: log2(capacity / 100) steps and one failure; bisecting halves the log gap.
            assert!(search.steps.len() <= climbs + 5, "{capacity}: {} steps", search.steps.len());
        }
    }

    #[test]
    fn a_failing_first_step_and_the_generator_end_it() {
        let search = against(50.0, f64::INFINITY);
        assert_eq!((search.end(), search.passing, search.steps.len()), (Some(&End::LowestFails), None, 1));
        let search = against(1e6, 1000.0);
        assert_eq!(search.end(), Some(&End::Generator));
        assert_eq!((search.passing, search.failing), (Some(800.0), None));
        assert_eq!(search.generator_limit().map(|(s, _)| s.target), Some(1600.0));
        let mut capped = Search::new(Params { ceiling: 500.0, ..params() });
        while let Some((rate, phase)) = capped.next_step() {
            capped.record(step(phase, rate, None));
        }
        let rates: Vec<f64> = capped.steps.iter().map(|s| s.target).collect();
        assert_eq!((rates, capped.end()), (vec![100.0, 200.0, 400.0, 500.0], Some(&End::Ceiling)));
    }

    #[test]
    fn a_step_is_the_servers_fault_only_when_the_server_broke_the_slo() {
        let base = Evidence {
            rate: 1000.0,
            achieved: 999.0,
            own_busy: Some(0.5),
            cores: 2,
            connections: 50,
            met: true,
            met_from_send: None,
        };
        let generator = |e: &Evidence| match limit_of(e) {
            Some(Limit::Generator(why)) => why,
            other => panic!("{e:?}: {other:?}"),
        };
        assert_eq!(limit_of(&base), None);
        assert_eq!(limit_of(&Evidence { met: false, met_from_send: Some(false), ..base }), Some(Limit::Server));
        assert_eq!(limit_of(&Evidence { met: false, ..base }), Some(Limit::Server), "an SLO without latency");
        let queued = generator(&Evidence { met: false, met_from_send: Some(true), ..base });
        assert!(queued.starts_with("all 50 connections were busy"), "{queued}");
        let saturated = generator(&Evidence { achieved: 700.0, own_busy: Some(0.97), met: false, ..base });
        assert_eq!(saturated, "vastar kept its 2 core(s) 97% busy and sent 700 of 1000 req/s");
        let short = generator(&Evidence { achieved: 900.0, ..base });
        assert_eq!(short, "vastar sent only 900 of 1000 req/s");
        // Busy cores that still sent the rate are no excuse.
        assert_eq!(limit_of(&Evidence { own_busy: Some(0.99), met: false, ..base }), Some(Limit::Server));
    }

    #[test]
    fn steps_are_lengthened_for_thin_percentiles() {
        assert_eq!(step_length(1000.0, 5.0, None), (5.0, false));
        assert_eq!(step_length(1000.0, 5.0, Some(90.0)), (5.0, false));
        // p99 at 1000 req/s: 10,000 samples take 10 s.
        let (length, thin) = step_length(1000.0, 5.0, Some(99.0));
        assert!((length - 10.0).abs() < 1e-9 && !thin, "{length}");
        // p99.9 at 100 req/s: 1000 s wanted, 30 s allowed.
        assert_eq!(step_length(100.0, 5.0, Some(99.9)), (30.0, true));
    }
}
