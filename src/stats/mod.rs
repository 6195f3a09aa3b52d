//! What a run measured, in memory that does not grow with the request count.
//!
//! A finished request ([`Record`]) goes to every [`Sink`] of its worker in
//! one call, [`fan_out`]. Two layers: [`Live`] is a block of per-worker
//! atomic counters that the progress display reads while the run goes on
//! (each worker writes only its own cache line, so there is no
//! contention); [`WorkerStats`] is owned by one worker with no
//! synchronisation at all and merged once at the end. Errors are counted in
//! a fixed set of categories, never by free text. The run over time is kept
//! apart, in [`timeline`]: intervals a worker hands over as they end.

pub mod counters;
pub mod deferred;
pub mod goodput;
pub mod histogram;
pub mod load_shape;
pub mod metrics;
mod record;
pub mod sink;
pub mod sparse;
pub mod targets;
pub mod timeline;
pub mod tls;

use std::sync::atomic::{AtomicU64, Ordering};

pub use counters::{COUNTERS, Counter, CounterSums, Tally};
pub use deferred::DeferredValues;
pub use goodput::Goodput;
use histogram::add;
pub use histogram::{Histogram, Overflow, Phase};
pub use load_shape::{Arrivals, Concurrency, Segment, Shape};
pub use metrics::{METRICS, Metric, Metrics, Samples};
pub use record::{ErrorKind, Record, nanos};
pub use sink::{Ended, Sampled, Sink};
pub use sparse::Sparse;
pub use targets::{TargetRow, TargetStats};
pub use timeline::{Interval, Recorder, Timeline};
pub use tls::{Handshake, Negotiated, TlsStats};

/// Lowest and highest status codes that are counted individually.
const STATUS_MIN: u16 = 100;
const STATUS_MAX: u16 = 999;

/// One worker's measurements. Owned by the worker; merged at the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerStats {
    /// Responses, from the actual send (what a closed-loop tool reports).
    pub latency: Histogram,
    /// Responses and timeouts, from the intended send time: what a user
    /// arriving on schedule would have waited (no coordinated omission).
    pub corrected: Histogram,
    pub write: Phase,
    pub wait: Phase,
    pub read: Phase,
    /// Every new connection, including those opened before the clock starts.
    pub connect: Phase,
    pub connect_latency: Histogram,
    /// TLS handshakes (none for http://).
    pub tls: TlsStats,
    /// Tunnels opened through a proxy (CONNECT or SOCKS5), from the TCP
    /// connection to the proxy to the tunnel's opening.
    pub tunnel: Phase,
    /// Under `--rate`: how late the generator started requests that had a
    /// free connection waiting for them (its own timer error).
    pub send_lag: Phase,
    /// Requests that timed out waiting for a free connection and were never sent.
    pub unsent: u64,
    /// Requests started (on time or late): the rate achieved is counted from these.
    pub started: u64,
    statuses: Box<[u64]>,
    errors: [u64; ErrorKind::ALL.len()],
    pub responses: u64,
    pub aborted: u64,
    pub wire_bytes: u64,
    pub body_bytes: u64,
    /// Connections that could not be opened before the run started; the
    /// requests they would have carried are still sent (and counted).
    pub preconnect_failures: u64,
    /// Requests of the warm-up (`--warmup`), kept out of every figure above.
    pub warmup: Warmup,
    /// Per target, when the run has several (requests never sent are in none).
    pub targets: TargetStats,
    /// The named metrics of the responses (see [`metrics`]).
    pub metrics: Metrics,
    /// The named counts of the responses (see [`counters`]).
    pub counts: CounterSums,
}

/// What the warm-up's requests came to: counted, never mixed with the run's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Warmup {
    pub responses: u64,
    pub errors: u64,
    /// In flight when the run ended (a warm-up cut short).
    pub aborted: u64,
}

impl Warmup {
    pub fn record(&mut self, r: &Record) {
        match r.result {
            Ok(_) => self.responses += 1,
            Err(_) => self.errors += 1,
        }
    }

    fn merge(&mut self, other: &Warmup) -> Result<(), Overflow> {
        add(&mut self.responses, other.responses)?;
        add(&mut self.errors, other.errors)?;
        add(&mut self.aborted, other.aborted)
    }
}

impl Default for WorkerStats {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkerStats {
    pub fn new() -> Self {
        WorkerStats {
            latency: Histogram::new(),
            corrected: Histogram::new(),
            write: Phase::default(),
            wait: Phase::default(),
            read: Phase::default(),
            connect: Phase::default(),
            connect_latency: Histogram::new(),
            tls: TlsStats::default(),
            tunnel: Phase::default(),
            send_lag: Phase::default(),
            unsent: 0,
            started: 0,
            statuses: vec![0; usize::from(STATUS_MAX - STATUS_MIN) + 1].into_boxed_slice(),
            errors: [0; ErrorKind::ALL.len()],
            responses: 0,
            aborted: 0,
            wire_bytes: 0,
            body_bytes: 0,
            preconnect_failures: 0,
            warmup: Warmup::default(),
            targets: TargetStats::default(),
            metrics: Metrics::default(),
            counts: CounterSums::default(),
        }
    }

    /// Stats of a run that sends `targets` targets (with a row for each
    /// when there are several).
    pub fn for_targets(targets: usize) -> Self {
        WorkerStats { targets: TargetStats::new(targets), ..Self::new() }
    }

    #[inline]
    pub fn record(&mut self, r: &Record) {
        self.wire_bytes += r.wire_bytes;
        self.body_bytes += r.body_bytes;
        match r.result {
            Ok(status) => {
                self.responses += 1;
                self.add_status(status, 1);
                self.latency.record(nanos(r.latency));
                self.metrics.record(&r.metrics);
                self.counts.add(&r.tally);
                self.corrected.record(nanos(r.queued + r.latency));
                if let Some(write) = r.write {
                    self.write.record(nanos(write));
                }
                self.wait.record(nanos(r.wait));
                self.read.record(nanos(r.read));
            }
            Err(kind) => {
                self.errors[kind.index()] += 1;
                if kind.is_timeout() {
                    self.corrected.record(nanos(r.queued + r.latency));
                }
            }
        }
    }

    /// A connection was opened in `ns`.
    #[inline]
    pub fn connected(&mut self, ns: u64) {
        self.connect.record(ns);
        self.connect_latency.record(ns);
    }

    /// Adds `other`'s counts. On overflow (only corrupt or hostile result
    /// files get there) `self` is left partly merged and must be dropped.
    pub fn merge(&mut self, other: &WorkerStats) -> Result<(), Overflow> {
        self.latency.merge(&other.latency)?;
        self.metrics.merge(&other.metrics)?;
        self.counts.merge(&other.counts)?;
        self.corrected.merge(&other.corrected)?;
        self.connect_latency.merge(&other.connect_latency)?;
        self.tls.merge(&other.tls)?;
        self.warmup.merge(&other.warmup)?;
        self.targets.merge(&other.targets)?;
        for (a, b) in [
            (&mut self.write, &other.write),
            (&mut self.wait, &other.wait),
            (&mut self.read, &other.read),
            (&mut self.connect, &other.connect),
            (&mut self.tunnel, &other.tunnel),
            (&mut self.send_lag, &other.send_lag),
        ] {
            a.merge(b)?;
        }
        for (a, b) in
            self.statuses.iter_mut().zip(other.statuses.iter()).chain(self.errors.iter_mut().zip(&other.errors))
        {
            add(a, *b)?;
        }
        for (a, b) in [
            (&mut self.unsent, other.unsent),
            (&mut self.started, other.started),
            (&mut self.responses, other.responses),
            (&mut self.aborted, other.aborted),
            (&mut self.wire_bytes, other.wire_bytes),
            (&mut self.body_bytes, other.body_bytes),
            (&mut self.preconnect_failures, other.preconnect_failures),
        ] {
            add(a, b)?;
        }
        Ok(())
    }

    /// Responses + errors + aborted, or `None` when that does not fit (a
    /// corrupt result file).
    pub fn checked_issued(&self) -> Option<u64> {
        let errors = self.errors.iter().try_fold(0u64, |sum, &n| sum.checked_add(n))?;
        self.responses.checked_add(errors)?.checked_add(self.aborted)
    }

    /// Status codes that occurred, ascending, with their counts.
    pub fn statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        let codes = STATUS_MIN..=STATUS_MAX;
        codes.zip(self.statuses.iter().copied()).filter(|&(_, n)| n > 0)
    }

    /// Error categories that occurred, in the order of [`ErrorKind::ALL`].
    pub fn errors(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL.into_iter().map(|k| (k, self.errors[k.index()])).filter(|&(_, n)| n > 0)
    }

    /// Adds `n` responses with status `code` to the per-code counts (not to
    /// `responses`: [`WorkerStats::record`] and result files count those).
    #[inline]
    pub fn add_status(&mut self, code: u16, n: u64) {
        let slot = usize::from(code.clamp(STATUS_MIN, STATUS_MAX) - STATUS_MIN);
        self.statuses[slot] += n;
    }

    /// Adds `n` failures of `kind` (when rebuilding stats from a result file).
    pub fn add_errors(&mut self, kind: ErrorKind, n: u64) {
        self.errors[kind.index()] += n;
    }

    pub fn error_count(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()]
    }

    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Requests that were started: responses + errors + aborted.
    pub fn issued(&self) -> u64 {
        self.responses + self.total_errors() + self.aborted
    }
}

/// The measured requests count in the totals, the warm-up's only in the
/// warm-up's counts.
impl Sink for WorkerStats {
    #[inline]
    fn finished(&mut self, ended: &Ended) {
        if ended.warmup {
            self.warmup.record(ended.record);
        } else {
            self.record(ended.record);
        }
    }

    fn sampled(&mut self, sampled: &Sampled) {
        if !sampled.warmup {
            self.metrics.record_group(sampled.metric, &sampled.values);
        }
    }
}

/// The one place a finished request goes: into every sink of the worker
/// that ended it (its totals, its target's row, its live counters and the
/// interval in progress of its share of the timeline). `hand_over`
/// receives the timeline's interval that the request closed, if it closed
/// one, for the run's timeline.
#[inline]
pub fn fan_out(
    ended: &Ended,
    (stats, timeline): (&mut WorkerStats, &mut Recorder),
    mut live: LiveSlot,
    hand_over: impl FnOnce(&timeline::Done),
) {
    stats.finished(ended);
    stats.targets.finished(ended);
    live.finished(ended);
    timeline.finished(ended);
    timeline.hand_over_closed(hand_over);
}

/// The one place values measured inside a response (its inter-token gaps,
/// a group at a time) go: the worker's totals and its interval in progress, as [`fan_out`].
pub fn fan_out_sample(
    sampled: &Sampled,
    (stats, timeline): (&mut WorkerStats, &mut Recorder),
    hand_over: impl FnOnce(&timeline::Done),
) {
    stats.sampled(sampled);
    timeline.sampled(sampled);
    timeline.hand_over_closed(hand_over);
}

/// One worker's live counters, alone on its cache line(s).
#[repr(align(128))]
#[derive(Default, Debug)]
struct WorkerCounters {
    responses: AtomicU64,
    errors: AtomicU64,
    body_bytes: AtomicU64,
    warmup: AtomicU64,
}

/// Live progress counters, one slot per worker. A worker is the only writer
/// of its slot, so it updates with plain load/store (no locked instruction);
/// readers sum the slots.
#[derive(Debug)]
pub struct Live {
    slots: Box<[WorkerCounters]>,
}

/// A reading of [`Live`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveTotals {
    pub responses: u64,
    pub errors: u64,
    pub body_bytes: u64,
    /// Warm-up requests finished (in none of the other counts).
    pub warmup: u64,
}

impl Live {
    pub fn new(workers: usize) -> Self {
        Live { slots: (0..workers).map(|_| WorkerCounters::default()).collect() }
    }

    /// Adds one finished request to worker `w`'s slot. Only worker `w` may call this.
    #[inline]
    pub fn add(&self, w: usize, record: &Record) {
        let slot = &self.slots[w];
        let bump = |a: &AtomicU64, by: u64| a.store(a.load(Ordering::Relaxed) + by, Ordering::Relaxed);
        match record.result {
            Ok(_) => bump(&slot.responses, 1),
            Err(_) => bump(&slot.errors, 1),
        }
        bump(&slot.body_bytes, record.body_bytes);
    }

    /// Counts one finished warm-up request of worker `w` (only worker `w` may call this).
    #[inline]
    pub fn add_warmup(&self, w: usize) {
        let slot = &self.slots[w].warmup;
        slot.store(slot.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Worker `w`'s counters, as a sink (only worker `w` may use it).
    pub fn slot(&self, w: usize) -> LiveSlot<'_> {
        LiveSlot { live: self, worker: w }
    }

    pub fn totals(&self) -> LiveTotals {
        self.slots.iter().fold(LiveTotals::default(), |t, s| LiveTotals {
            responses: t.responses + s.responses.load(Ordering::Relaxed),
            errors: t.errors + s.errors.load(Ordering::Relaxed),
            body_bytes: t.body_bytes + s.body_bytes.load(Ordering::Relaxed),
            warmup: t.warmup + s.warmup.load(Ordering::Relaxed),
        })
    }
}

/// One worker's share of [`Live`], which only that worker writes.
#[derive(Clone, Copy, Debug)]
pub struct LiveSlot<'a> {
    live: &'a Live,
    worker: usize,
}

impl Sink for LiveSlot<'_> {
    #[inline]
    fn finished(&mut self, ended: &Ended) {
        if ended.warmup {
            self.live.add_warmup(self.worker);
        } else {
            self.live.add(self.worker, ended.record);
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
