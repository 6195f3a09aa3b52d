//! The `timeline` section of a result: the run interval by interval, with
//! each interval's latency histogram in full so that intervals from several
//! machines add up exactly. Its derived figures (rate, percentiles) are
//! there for scripts and charts and are recomputed when read.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::histogram::HistogramDoc;
use crate::stats::Sparse;
use crate::stats::counters::TOKENS;
use crate::stats::metrics::TTFT;
use crate::stats::timeline::{CLASSES, Interval, Timeline};
use crate::stats::{ErrorKind, nanos};
use crate::summary::Rate;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineDoc {
    /// Length of every interval; interval `i` covers
    /// `[start + i * interval, start + (i + 1) * interval)`.
    pub interval_ns: u64,
    pub intervals: Vec<IntervalDoc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntervalDoc {
    /// Derived: the interval's start, in seconds from the run's start.
    #[serde(default)]
    pub t_s: f64,
    /// Responses by status class (`1xx` .. `5xx`, `other`), non-zero only.
    pub statuses: BTreeMap<String, u64>,
    /// Failures by category id, non-zero only.
    pub errors: BTreeMap<String, u64>,
    pub wire_bytes: u64,
    pub body_bytes: u64,
    pub connections: u64,
    /// Requests sent in it (0 in documents written before it was kept).
    #[serde(default)]
    pub sent: u64,
    /// Derived, for `--rate`: the requests per second the schedule asked
    /// for over the interval (the mean of a ramp's part in it).
    #[serde(default)]
    pub target_rps: Option<f64>,
    /// Derived: the interval begins in the warm-up (`--warmup`), whose
    /// requests the run's other figures leave out.
    #[serde(default)]
    pub warmup: bool,
    /// Latency from the intended start of the responses and timeouts.
    pub latency: HistogramDoc,
    /// The named metrics of its responses, by name, the non-empty ones
    /// (absent in documents written before vastar kept them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "super::metrics::known")]
    pub metrics: BTreeMap<String, HistogramDoc>,
    /// The named counts of its responses, by name, those that counted
    /// something.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "super::counters::known")]
    pub counters: BTreeMap<String, u64>,
    /// Derived, for streams: output tokens per second, and the time to
    /// first token's median and p99, seconds (absent without streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_sec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p50_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p99_s: Option<f64>,
    /// Derived: responses per second over the part of the interval the run covered.
    #[serde(default)]
    pub requests_per_sec: f64,
    /// Derived: latency percentiles and maximum, seconds (0 when empty).
    #[serde(default)]
    pub p50_s: f64,
    #[serde(default)]
    pub p90_s: f64,
    #[serde(default)]
    pub p99_s: f64,
    #[serde(default)]
    pub max_s: f64,
}

impl TimelineDoc {
    /// The document of `timeline`, for a run that lasted `span` under
    /// `rate` (`--rate`; none for a closed loop).
    pub fn of(timeline: &Timeline, span: Duration, rate: Option<&Rate>, warmup: Duration) -> TimelineDoc {
        let interval = timeline.interval();
        let intervals = timeline.intervals().iter().enumerate().map(|(i, part)| {
            let begins = interval.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
            let covered = span.saturating_sub(begins).min(interval).as_secs_f64();
            let mut doc = IntervalDoc::of(part, begins, covered);
            let t0 = begins.as_secs_f64();
            doc.target_rps = rate.filter(|_| covered > 0.0).map(|rate| rate.target_between(t0, t0 + covered));
            doc.warmup = begins < warmup;
            doc
        });
        TimelineDoc { interval_ns: nanos(interval), intervals: intervals.collect() }
    }

    /// The timeline this document holds, checked.
    pub fn timeline(&self) -> Result<Timeline, String> {
        if self.interval_ns < 1_000_000 {
            return Err(format!("timeline interval of {} ns is too short", self.interval_ns));
        }
        let intervals = self
            .intervals
            .iter()
            .enumerate()
            .map(|(i, doc)| doc.interval().map_err(|e| format!("timeline interval {i}: {e}")));
        Ok(Timeline::from_intervals(Duration::from_nanos(self.interval_ns), intervals.collect::<Result<_, _>>()?))
    }
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

impl IntervalDoc {
    fn of(part: &Interval, begins: Duration, covered_s: f64) -> IntervalDoc {
        let statuses = CLASSES.iter().zip(part.statuses).filter(|&(_, n)| n > 0);
        let latency = &part.latency;
        let (tokens, ttft) = (part.counts.get(TOKENS), part.metrics.get(TTFT));
        IntervalDoc {
            warmup: false,
            t_s: begins.as_secs_f64(),
            statuses: statuses.map(|(class, n)| (class.to_string(), n)).collect(),
            errors: part.errors().map(|(kind, n)| (kind.id().to_string(), n)).collect(),
            wire_bytes: part.wire_bytes,
            body_bytes: part.body_bytes,
            connections: part.connections,
            sent: part.sent,
            target_rps: None,
            latency: HistogramDoc::of_sparse(latency),
            metrics: super::metrics::interval_docs(&part.metrics),
            counters: super::counters::docs_of(&part.counts),
            tokens_per_sec: (tokens > 0).then(|| if covered_s > 0.0 { tokens as f64 / covered_s } else { 0.0 }),
            ttft_p50_s: (ttft.count() > 0).then(|| secs(ttft.percentile_ns(50.0))),
            ttft_p99_s: (ttft.count() > 0).then(|| secs(ttft.percentile_ns(99.0))),
            requests_per_sec: if covered_s > 0.0 { part.responses() as f64 / covered_s } else { 0.0 },
            p50_s: secs(latency.percentile_ns(50.0)),
            p90_s: secs(latency.percentile_ns(90.0)),
            p99_s: secs(latency.percentile_ns(99.0)),
            max_s: secs(latency.max_ns()),
        }
    }

    fn interval(&self) -> Result<Interval, String> {
        let mut part = Interval::default();
        for (class, &n) in &self.statuses {
            let at =
                CLASSES.iter().position(|c| c == class).ok_or_else(|| format!("unknown status class {class:?}"))?;
            part.statuses[at] = n;
        }
        let overflow = |_| "its counts overflow".to_string();
        let mut timeouts = 0u64;
        for (id, &n) in &self.errors {
            let kind = ErrorKind::from_id(id).ok_or_else(|| format!("unknown error category {id:?}"))?;
            part.add_errors(kind, n).map_err(overflow)?;
            if kind.is_timeout() {
                timeouts = timeouts.checked_add(n).ok_or("its counts overflow")?;
            }
        }
        (part.wire_bytes, part.body_bytes, part.connections) = (self.wire_bytes, self.body_bytes, self.connections);
        part.sent = self.sent;
        // Checked as the run's own histograms are (buckets, count, extremes).
        part.latency = Sparse::of(&self.latency.histogram("latency")?);
        part.metrics = super::metrics::read_interval(&self.metrics, part.responses())?;
        part.counts = super::counters::read(&self.counters)?;
        let expected = part.statuses.iter().try_fold(timeouts, |sum, &n| sum.checked_add(n));
        if expected != Some(part.latency.count()) {
            return Err(format!(
                "its latency histogram holds {} values, not one per response and timeout",
                part.latency.count()
            ));
        }
        Ok(part)
    }
}
