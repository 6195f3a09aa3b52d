//! The run over time: what completed in each interval of the run (one
//! second unless `--interval` says otherwise), so that the warm-up, a
//! stall or a burst of errors shows instead of hiding in the totals.
//!
//! Memory depends on the run's length, never on its request count. A
//! worker counts the interval in progress in a dense histogram it reuses
//! ([`Recorder`]) and hands each finished interval over in sparse form
//! ([`Interval`]: only the non-empty buckets), to be added into the run's
//! one [`Timeline`]. A timeline keeps at most [`MAX_INTERVALS`]: a longer
//! run doubles its interval (adding neighbours, which is exact), so an
//! hours-long run stays within tens of megabytes.
//!
//! Intervals count from the run's start (the clock start, after the
//! connections opened); a request belongs to the interval in which it
//! completed, a connection to the one in which it opened (those opened
//! before the start to the first).

use std::time::Duration;

use super::counters::CounterSums;
use super::histogram::{Histogram, Overflow, Phase, add};
use super::metrics::{Metrics, SparseMetrics};
use super::record::{ErrorKind, Record, nanos};
use super::sink::{Ended, Sampled, Sink};
use super::sparse::Sparse;

/// Shortest interval `--interval` accepts.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// The interval when none is asked for.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Most intervals a timeline keeps; beyond, the interval doubles.
pub const MAX_INTERVALS: usize = 4096;

/// Status classes counted per interval: 1xx to 5xx, then codes above 599.
pub const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// Index in [`CLASSES`] of a status code (100..=999).
pub fn class_of(status: u16) -> usize {
    usize::from(status / 100).clamp(1, CLASSES.len()) - 1
}

/// What completed in one interval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    /// Responses by [`CLASSES`].
    pub statuses: [u64; CLASSES.len()],
    errors: ErrorCounts,
    pub wire_bytes: u64,
    pub body_bytes: u64,
    /// Connections opened.
    pub connections: u64,
    /// Requests sent (started), by when they were sent: the achieved rate.
    pub sent: u64,
    /// Latency from the intended start, of responses and timeouts (the
    /// run's corrected distribution, interval by interval).
    pub latency: Sparse,
    /// The named metrics of the responses.
    pub metrics: SparseMetrics,
    /// The named counts of the responses.
    pub counts: CounterSums,
}

/// Failures by [`ErrorKind`] (a type of its own: arrays of more than 32
/// have no `Default`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct ErrorCounts([u64; ErrorKind::ALL.len()]);

impl Default for ErrorCounts {
    fn default() -> Self {
        ErrorCounts([0; ErrorKind::ALL.len()])
    }
}

impl Interval {
    /// Responses of every class (saturating: a hostile result file cannot
    /// make it wrap, and a saturated sum matches no real count).
    pub fn responses(&self) -> u64 {
        self.statuses.iter().fold(0, |sum, &n| sum.saturating_add(n))
    }

    /// Failures by category, those that happened.
    pub fn errors(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL.into_iter().map(|k| (k, self.errors.0[k.index()])).filter(|&(_, n)| n > 0)
    }

    pub fn add_errors(&mut self, kind: ErrorKind, n: u64) -> Result<(), Overflow> {
        add(&mut self.errors.0[kind.index()], n)
    }

    /// Failures of every category (saturating, as [`Interval::responses`]).
    pub fn total_errors(&self) -> u64 {
        self.errors.0.iter().fold(0, |sum, &n| sum.saturating_add(n))
    }

    /// Adds `other`'s counts and values.
    pub fn add(&mut self, other: &Interval) -> Result<(), Overflow> {
        let pairs = self.statuses.iter_mut().zip(&other.statuses).chain(self.errors.0.iter_mut().zip(&other.errors.0));
        for (a, &b) in pairs {
            add(a, b)?;
        }
        add(&mut self.wire_bytes, other.wire_bytes)?;
        add(&mut self.body_bytes, other.body_bytes)?;
        add(&mut self.connections, other.connections)?;
        add(&mut self.sent, other.sent)?;
        self.latency = self.latency.merged(&other.latency)?;
        self.counts.merge(&other.counts)?;
        self.metrics.add(&other.metrics)
    }
}

/// A worker's side: counts the interval in progress and hands it over,
/// as (its index, its counts), once a later one begins.
#[derive(Debug)]
pub struct Recorder {
    interval_ns: u64,
    index: u64,
    end_ns: u64,
    open: Interval,
    latency: Histogram,
    metrics: Metrics,
    touched: bool,
    /// The interval the last request counted as a [`Sink`] closed, until
    /// [`Recorder::hand_over_closed`] hands it over.
    closed: Option<Done>,
}

/// A finished interval and its place: (index in intervals of the
/// recorder's length, what it counted).
pub type Done = (usize, Interval);

impl Recorder {
    pub fn new(interval: Duration) -> Recorder {
        let interval_ns = nanos(interval).max(1);
        let (open, latency) = (Interval::default(), Histogram::new());
        let metrics = Metrics::default();
        Recorder { interval_ns, index: 0, end_ns: interval_ns, open, latency, metrics, touched: false, closed: None }
    }

    /// Counts a finished request `at_ns` after the start.
    #[inline]
    pub fn record(&mut self, at_ns: u64, r: &Record) -> Option<Done> {
        let done = self.advance(at_ns);
        let open = &mut self.open;
        open.wire_bytes += r.wire_bytes;
        open.body_bytes += r.body_bytes;
        match r.result {
            Ok(status) => {
                open.statuses[class_of(status)] += 1;
                self.latency.record(nanos(r.queued + r.latency));
                self.metrics.record(&r.metrics);
                open.counts.add(&r.tally);
            }
            Err(kind) => {
                open.errors.0[kind.index()] += 1;
                if kind.is_timeout() {
                    self.latency.record(nanos(r.queued + r.latency));
                }
            }
        }
        done
    }

    /// Counts values measured inside a response, which ended `at_ns` after
    /// the start: a group that shares a histogram bucket.
    #[inline]
    pub fn sample(&mut self, at_ns: u64, metric: usize, values: &Phase) -> Option<Done> {
        let done = self.advance(at_ns);
        self.metrics.record_group(metric, values);
        done
    }

    /// Counts a request sent `at_ns` after the start.
    #[inline]
    pub fn sent(&mut self, at_ns: u64) -> Option<Done> {
        let done = self.advance(at_ns);
        self.open.sent += 1;
        done
    }

    /// Counts a connection opened `at_ns` after the start.
    #[inline]
    pub fn connected(&mut self, at_ns: u64) -> Option<Done> {
        let done = self.advance(at_ns);
        self.open.connections += 1;
        done
    }

    /// The interval in progress, when anything was counted in it.
    pub fn finish(&mut self) -> Option<Done> {
        if !std::mem::take(&mut self.touched) {
            return None;
        }
        let mut done = std::mem::take(&mut self.open);
        done.latency = Sparse::of(&self.latency);
        self.latency.clear();
        done.metrics = self.metrics.sparse();
        self.metrics.clear();
        Some((usize::try_from(self.index).unwrap_or(usize::MAX), done))
    }

    #[inline]
    fn advance(&mut self, at_ns: u64) -> Option<Done> {
        let done = if at_ns >= self.end_ns { self.begin(at_ns) } else { None };
        self.touched = true;
        done
    }

    #[cold]
    fn begin(&mut self, at_ns: u64) -> Option<Done> {
        let done = self.finish();
        self.index = at_ns / self.interval_ns;
        self.end_ns = (self.index + 1).saturating_mul(self.interval_ns);
        done
    }
}

/// Every finished request, the warm-up's too, counts in the interval in
/// which it ended; an interval it closes waits for [`Recorder::hand_over_closed`].
impl Sink for Recorder {
    #[inline]
    fn finished(&mut self, ended: &Ended) {
        // An interval is a few hundred bytes: moved only when one closed
        // (about once per interval), never per request.
        if let Some(closed) = self.record(ended.at_ns, ended.record) {
            debug_assert!(self.closed.is_none(), "a closed interval was never handed over");
            self.closed = Some(closed);
        }
    }

    /// The warm-up's values count too, as its requests do.
    #[inline]
    fn sampled(&mut self, sampled: &Sampled) {
        if let Some(closed) = self.sample(sampled.at_ns, sampled.metric, &sampled.values) {
            debug_assert!(self.closed.is_none(), "a closed interval was never handed over");
            self.closed = Some(closed);
        }
    }
}

impl Recorder {
    /// Hands the interval that a request counted as a [`Sink`] closed, if
    /// one did, to `hand_over` (and forgets it).
    #[inline]
    pub fn hand_over_closed(&mut self, hand_over: impl FnOnce(&Done)) {
        if let Some(closed) = &self.closed {
            hand_over(closed);
            self.closed = None;
        }
    }
}

/// The run's intervals, added up from every worker (or every result file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// The recorders' interval; the timeline's is this times 2^shift.
    recorded: Duration,
    shift: u32,
    intervals: Vec<Interval>,
}

impl Timeline {
    /// An empty timeline fed by recorders of `interval`.
    pub fn new(interval: Duration) -> Timeline {
        Timeline { recorded: interval, shift: 0, intervals: Vec::new() }
    }

    /// A timeline read back: `intervals` of `interval` each, from the start.
    pub fn from_intervals(interval: Duration, intervals: Vec<Interval>) -> Timeline {
        let mut timeline = Timeline { recorded: interval, shift: 0, intervals };
        while timeline.intervals.len() > MAX_INTERVALS {
            timeline.coarsen();
        }
        timeline
    }

    /// The length of each interval.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(nanos(self.recorded).saturating_mul(1 << self.shift.min(63)))
    }

    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }

    /// Adds a recorder's finished interval (its index counts intervals of
    /// the recorders' length).
    pub fn add(&mut self, (index, part): &Done) -> Result<(), Overflow> {
        while index >> self.shift >= MAX_INTERVALS {
            self.coarsen();
        }
        let at = index >> self.shift;
        if self.intervals.len() <= at {
            self.intervals.resize_with(at + 1, Interval::default);
        }
        self.intervals[at].add(part)
    }

    /// Forgets counter `counter` (an index in [`super::COUNTERS`]) in every
    /// interval: a merge of runs that counted it differently.
    pub fn forget_counter(&mut self, counter: usize) {
        self.intervals.iter_mut().for_each(|interval| interval.counts.0[counter] = 0);
    }

    /// Adds `other`, which started `offset` intervals of `other`'s length
    /// after this one. The longer interval of the two is kept; it must be
    /// the shorter one times a power of two.
    pub fn merge(&mut self, other: &Timeline, offset: usize) -> Result<(), String> {
        let (mut other, mut offset) = (other.clone(), offset);
        let (mine, theirs) = (self.interval(), other.interval());
        let ratio = |long: Duration, short: Duration| {
            let (long, short) = (long.as_nanos(), short.as_nanos().max(1));
            (long % short == 0 && (long / short).is_power_of_two()).then(|| (long / short).trailing_zeros())
        };
        let mismatch = || {
            format!(
                "their timelines have intervals of {mine:?} and {theirs:?}, which do not divide evenly; \
                 run them with the same --interval"
            )
        };
        if mine < theirs {
            for _ in 0..ratio(theirs, mine).ok_or_else(mismatch)? {
                self.coarsen();
            }
        } else if mine > theirs {
            let doublings = ratio(mine, theirs).ok_or_else(mismatch)?;
            for _ in 0..doublings {
                other.coarsen();
            }
            offset >>= doublings;
        }
        let overflow = |_| "the timelines' counts overflow; are the files corrupt?".to_string();
        for (i, part) in other.intervals.iter().enumerate() {
            let at = offset.checked_add(i).and_then(|n| n.checked_mul(1 << self.shift));
            let at = at.ok_or("the timelines lie too far apart in time")?;
            self.add(&(at, part.clone())).map_err(overflow)?;
        }
        Ok(())
    }

    /// Every interval added up.
    pub fn totals(&self) -> Result<Interval, Overflow> {
        let mut total = Interval::default();
        for part in &self.intervals {
            total.add(part)?;
        }
        Ok(total)
    }

    /// Halves the number of intervals by adding neighbours.
    fn coarsen(&mut self) {
        let fine = std::mem::take(&mut self.intervals);
        let mut pairs = fine.into_iter();
        while let Some(mut first) = pairs.next() {
            if let Some(second) = pairs.next() {
                // A run's counts are far below 2^64; read files were checked.
                let _ = first.add(&second);
            }
            self.intervals.push(first);
        }
        self.shift += 1;
    }
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
