//! Where a finished request goes. Each figure a run keeps is kept by a
//! sink: the worker's totals and warm-up counts ([`super::WorkerStats`]),
//! the per-target rows ([`super::TargetStats`]), the interval in progress
//! of the timeline ([`super::Recorder`]) and the progress line's live
//! counters ([`super::LiveSlot`]). The engine hands a finished request to
//! all of them with one call, [`super::fan_out`], so a new figure is a new
//! sink, or a new field of one, and never a change to the engine.
//!
//! Sinks run on the hot path, once per request: they must not allocate.

use super::histogram::Phase;
use super::record::Record;

/// A finished request, as every sink sees it.
#[derive(Clone, Copy, Debug)]
pub struct Ended<'a> {
    pub record: &'a Record,
    /// The target it was for (its pool entry's); `None` for a request that
    /// was never sent (it timed out waiting for a connection).
    pub target: Option<u16>,
    /// When it ended, in nanoseconds from the run's start (0 before it).
    pub at_ns: u64,
    /// It was meant to start in the warm-up (`--warmup`): the timeline and
    /// the warm-up's own counts keep it, no other figure does.
    pub warmup: bool,
}

/// Values of a metric measured inside a response, of which it has many
/// (its inter-token gaps), as every sink sees them: a group that shares a
/// histogram bucket (see [`super::DeferredValues`]).
#[derive(Clone, Copy, Debug)]
pub struct Sampled {
    /// The metric (an index in [`super::METRICS`]).
    pub metric: usize,
    pub values: Phase,
    /// When they were counted (their response's end), in nanoseconds from
    /// the run's start.
    pub at_ns: u64,
    /// Its request was meant to start in the warm-up.
    pub warmup: bool,
}

/// Something that counts finished requests.
pub trait Sink {
    /// Counts one finished request (without allocating).
    fn finished(&mut self, ended: &Ended);

    /// Counts a value measured inside a response (without allocating);
    /// sinks that keep no metrics ignore it.
    fn sampled(&mut self, _sampled: &Sampled) {}
}
