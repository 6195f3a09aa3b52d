//! The one summary of a run that every output renders: the text report,
//! the JSON result and the HTML report. It is computed once from the
//! merged stats and the run's facts ([`RunInfo`]); the renderers only
//! format it, so a number can never differ between two outputs.
//!
//! [`insight`] holds the judgments (ratios with verdicts, warnings, the
//! generator's self-diagnosis); [`assertion`] the `--assert` thresholds.
//! This module depends on [`crate::stats`] only.

pub mod assertion;
pub mod insight;
pub mod metrics;
pub mod streaming;

use std::time::Duration;

use crate::stats::{ErrorKind, Histogram, Timeline, WorkerStats};
pub use assertion::{Assertion, Checked};
pub use insight::{GeneratorCpu, Grade, Ratio};
pub use metrics::MetricSummary;
pub use streaming::{StreamingSummary, TokenSource};

/// Facts about the run that are not latency measurements.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub elapsed: Duration,
    pub backend: String,
    pub workers: usize,
    pub connections: usize,
    /// The run was cut short by a signal (Ctrl-C).
    pub interrupted: bool,
    /// Under `--rate`: the target and achieved requests per second.
    pub rate: Option<Rate>,
    /// Name resolution: time taken and addresses found (none for an IP).
    pub dns: Option<(Duration, usize)>,
    pub load: GeneratorCpu,
    /// A merge of several results: how many, and how far apart they started.
    pub merged: Option<Merged>,
    /// `--stages` of connections: how many were active when (from the start).
    pub stages: Option<crate::stats::Concurrency>,
    /// `--warmup`: how long the warm-up ran before the measured run (whose
    /// requests are counted in the stats' `warmup`, and nowhere else).
    pub warmup: Option<Duration>,
    /// Several targets or templates: what the requests were.
    pub requests: Option<Requests>,
    /// `--goodput`: the limits a good request stayed under.
    pub goodput: Option<crate::stats::Goodput>,
    /// The HTTP version the run spoke.
    pub protocol: Protocol,
    /// The forward proxy the run went through, as shown (no password), and how.
    pub proxy: Option<String>,
}

/// The HTTP version a run spoke.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    #[default]
    Http1,
    /// `--http2`, with at most this many streams in flight per connection
    /// (`--streams`; `None` for a merge of runs with different counts).
    Http2 { streams: Option<usize> },
}

impl Protocol {
    /// Its name in the report and the JSON document.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::Http2 { .. } => "HTTP/2",
        }
    }

    /// The protocol called `name`, with `streams` per connection over HTTP/2.
    pub fn from_name(name: &str, streams: Option<usize>) -> Option<Protocol> {
        match name {
            "HTTP/1.1" => Some(Protocol::Http1),
            "HTTP/2" => Some(Protocol::Http2 { streams }),
            _ => None,
        }
    }

    /// What the report says of it: `HTTP/2, 10 streams per connection`.
    pub fn describe(self) -> String {
        match self {
            Protocol::Http2 { streams: Some(1) } => "HTTP/2, 1 stream per connection".into(),
            Protocol::Http2 { streams: Some(n) } => format!("HTTP/2, {n} streams per connection"),
            other => other.name().into(),
        }
    }
}

/// The runs of the unit tests.
#[cfg(test)]
impl RunInfo {
    /// A closed-loop run of `elapsed` on one worker and one connection,
    /// nothing else known; tests change the fields they need.
    pub fn sample(elapsed: Duration) -> RunInfo {
        RunInfo {
            elapsed,
            backend: "test".into(),
            workers: 1,
            connections: 1,
            interrupted: false,
            rate: None,
            dns: None,
            load: GeneratorCpu::default(),
            merged: None,
            stages: None,
            warmup: None,
            requests: None,
            goodput: None,
            protocol: Protocol::Http1,
            proxy: None,
        }
    }
}

/// What a run's requests were, when not one pre-built request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requests {
    /// Each target, as `METHOD URL`.
    pub labels: Vec<String>,
    /// `round-robin` or `random`.
    pub order: String,
    pub seed: u64,
    /// Distinct requests pre-built before the start.
    pub pool: usize,
    /// Distinct requests sent (with `{{seq}}`: every request).
    pub used: u64,
    pub templated: bool,
    pub from_file: bool,
}

/// One row of the per-target table.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetSummary {
    /// `METHOD URL`, or for the last row of a long list `other (N targets)`.
    pub label: String,
    pub requests: u64,
    pub responses: u64,
    pub errors: u64,
    /// (status, count), in the order first seen.
    pub codes: Vec<(u16, u64)>,
    /// Responses with a code beyond those counted one by one.
    pub other_codes: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
}

/// The per-target rows of `stats`, named from `labels`.
pub fn targets(stats: &WorkerStats, labels: &[String]) -> Vec<TargetSummary> {
    let rows = stats.targets.rows();
    let grouped = stats.targets.grouped();
    rows.iter()
        .enumerate()
        .map(|(i, row)| TargetSummary {
            label: match labels.get(i) {
                _ if grouped > 0 && i + 1 == rows.len() => format!("other ({grouped} targets)"),
                Some(label) => label.clone(),
                None => format!("target {}", i + 1),
            },
            requests: row.requests(),
            responses: row.responses,
            errors: row.errors,
            codes: row.codes().collect(),
            other_codes: row.other_codes,
            p50_ns: row.latency.percentile_ns(50.0),
            p99_ns: row.latency.percentile_ns(99.0),
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Merged {
    pub parts: usize,
    pub start_spread: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rate {
    /// Requests per second asked for (a shape's mean after the warm-up).
    pub target: f64,
    pub achieved: f64,
    /// `--rate FROM..TO`, `--stages`: the shape the target followed, from
    /// the start (the warm-up included).
    pub shape: Option<crate::stats::Shape>,
    /// `--arrivals poisson`, `--burstiness`: how the gaps were drawn.
    pub arrivals: Option<String>,
}

impl Rate {
    /// Requests per second the schedule asked for between `t0` and `t1`
    /// seconds after the start (a shape's mean over that span).
    pub fn target_between(&self, t0: f64, t1: f64) -> f64 {
        match &self.shape {
            Some(shape) if t1 > t0 => (shape.due_by(t1) - shape.due_by(t0)) / (t1 - t0),
            Some(shape) => shape.rate_at(t0),
            None => self.target,
        }
    }

    /// The highest rate asked for at any time.
    pub fn peak(&self) -> f64 {
        self.shape.as_ref().map_or(self.target, crate::stats::Shape::peak)
    }
}

/// A rate shape in words: `1000 req/s for 30 s, 1000 → 5000 req/s over
/// 60 s`; with `warmup`, its first segment is the warm-up, and says so.
pub fn describe_shape(shape: &crate::stats::Shape, warmup: bool) -> String {
    let parts = shape.segments().iter().map(|s| {
        if s.from == s.to {
            format!("{} req/s for {} s", round(s.from), round(s.over_s))
        } else {
            format!("{} → {} req/s over {} s", round(s.from), round(s.to), round(s.over_s))
        }
    });
    join_stages(parts, warmup)
}

/// Connection stages in words: `50 connections for 30 s, 200 for 60 s`;
/// with `warmup`, the first stage is the warm-up, and says so.
pub fn describe_stages(stages: &crate::stats::Concurrency, warmup: bool) -> String {
    let parts = stages.stages.iter().enumerate().map(|(i, &(over_s, count))| {
        let unit = if i == 0 { if count == 1 { " connection" } else { " connections" } } else { "" };
        format!("{count}{unit} for {} s", round(over_s))
    });
    join_stages(parts, warmup)
}

fn join_stages(parts: impl Iterator<Item = String>, warmup: bool) -> String {
    let parts: Vec<String> =
        parts.enumerate().map(|(i, part)| if i == 0 && warmup { format!("{part} (warm-up)") } else { part }).collect();
    parts.join(", ")
}

/// A number with at most three decimals and no trailing zeros.
fn round(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Relative difference from which corrected and uncorrected percentiles
/// are both shown.
pub const DIFFERENT: f64 = 0.03;

/// Percentiles shown in the distribution: hey's plus the far tail.
pub const PERCENTILES: [f64; 9] = [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99];

/// Rows of the latency histogram.
pub const HISTOGRAM_ROWS: usize = 11;

/// One percentile, corrected and uncorrected, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentile {
    pub p: f64,
    pub corrected_ns: u64,
    pub uncorrected_ns: u64,
}

/// Everything derived from one run's stats that an output shows.
#[derive(Clone, Debug)]
pub struct Summary<'a> {
    pub stats: &'a WorkerStats,
    pub info: &'a RunInfo,
    /// Responses per second over the run.
    pub requests_per_sec: f64,
    /// Body bytes per response.
    pub size_per_request: u64,
    /// [`PERCENTILES`] of the corrected and the uncorrected distributions.
    pub percentiles: Vec<Percentile>,
    /// The uncorrected figures differ enough (or there were timeouts) to be shown too.
    pub uncorrected_differs: bool,
    /// Insight ratios of the corrected distribution (none without samples).
    pub ratios: Vec<Ratio>,
    /// Insight warnings: failures, a missed rate, the generator's load, samples.
    pub warnings: Vec<String>,
    /// The corrected histogram in [`HISTOGRAM_ROWS`] rows: (lower edge, count).
    pub histogram: Vec<(u64, u64)>,
    /// The write phase was observed (io_uring does not observe its sends).
    pub write_measured: bool,
    /// What completed in each interval (a run's, or a merge of runs that
    /// all had one).
    pub timeline: Option<&'a Timeline>,
    /// `--assert` thresholds, checked.
    pub assertions: Vec<Checked>,
    /// Per target, when the run had several (none otherwise).
    pub targets: Vec<TargetSummary>,
    /// Every named metric, in the order of [`crate::stats::METRICS`] (those
    /// without samples too).
    pub metrics: Vec<MetricSummary>,
    /// What the event streams came to (none when nothing streamed).
    pub streaming: Option<StreamingSummary>,
}

impl<'a> Summary<'a> {
    pub fn new(stats: &'a WorkerStats, info: &'a RunInfo) -> Summary<'a> {
        let elapsed = info.elapsed.as_secs_f64();
        let (corrected, uncorrected) = (&stats.corrected, &stats.latency);
        let percentiles: Vec<Percentile> = PERCENTILES
            .iter()
            .map(|&p| Percentile {
                p,
                corrected_ns: corrected.percentile_ns(p),
                uncorrected_ns: uncorrected.percentile_ns(p),
            })
            .collect();
        let uncorrected_differs = corrected.count() != uncorrected.count()
            || percentiles.iter().any(|q| {
                let (a, b) = (q.corrected_ns as f64, q.uncorrected_ns as f64);
                (a - b).abs() > DIFFERENT * b.max(1.0)
            });
        Summary {
            stats,
            info,
            requests_per_sec: if elapsed > 0.0 { stats.responses as f64 / elapsed } else { 0.0 },
            size_per_request: stats.body_bytes.checked_div(stats.responses).unwrap_or(0),
            percentiles,
            uncorrected_differs,
            ratios: ratios(corrected),
            warnings: warnings(stats, info),
            histogram: histogram_rows(corrected),
            write_measured: stats.write.count > 0 || stats.wait.count == 0,
            timeline: None,
            assertions: Vec::new(),
            targets: targets(stats, info.requests.as_ref().map_or(&[], |r| &r.labels)),
            metrics: metrics::metrics(stats, &PERCENTILES),
            streaming: None,
        }
        .with_streaming()
    }

    /// The summary with what the event streams came to.
    fn with_streaming(self) -> Summary<'a> {
        let streaming = StreamingSummary::of(self.stats, self.info, &self.metrics);
        Summary { streaming, ..self }
    }

    /// The summary with `assertions` checked against it.
    pub fn with_assertions(mut self, assertions: &[Assertion]) -> Summary<'a> {
        self.assertions = assertions.iter().map(|a| a.check(&self)).collect();
        self
    }

    /// Every threshold passed (true without any).
    pub fn passed(&self) -> bool {
        self.assertions.iter().all(|a| a.pass)
    }

    /// The summary with the run's timeline.
    pub fn with_timeline(self, timeline: Option<&'a Timeline>) -> Summary<'a> {
        Summary { timeline, ..self }
    }

    /// Why requests were aborted, for the report's wording.
    pub fn aborted_when(&self) -> &'static str {
        match (self.info.interrupted, self.info.rate.is_some()) {
            (true, _) => "in flight when interrupted",
            (false, true) => "in flight or waiting for a connection at the deadline",
            (false, false) => "in flight at the deadline",
        }
    }
}

/// Every warning line of the Insight section.
fn warnings(stats: &WorkerStats, info: &RunInfo) -> Vec<String> {
    let non_2xx = stats.statuses().filter(|(code, _)| !(200..300).contains(code)).map(|(_, n)| n).sum();
    let counts = insight::Counts {
        issued: stats.issued(),
        errors: stats.total_errors(),
        timeouts: stats.error_count(ErrorKind::Timeout),
        responses: stats.responses,
        non_2xx,
    };
    let mut warnings = insight::warnings(counts);
    warnings.extend(info.rate.as_ref().and_then(|r| insight::rate_warning(r.target, r.achieved)));
    warnings.extend(insight::load_warning(&info.load, info.elapsed));
    warnings.extend(insight::sample_warnings(stats.corrected.count(), info.elapsed));
    warnings
}

/// The Insight ratios of a distribution (none without samples).
fn ratios(latency: &Histogram) -> Vec<Ratio> {
    if latency.count() == 0 {
        return Vec::new();
    }
    let p = |q| latency.percentile_ns(q);
    insight::ratios(p(50.0), p(95.0), p(99.0), p(99.9)).to_vec()
}

/// Counts per row: [`HISTOGRAM_ROWS`] equal-width rows from fastest to
/// slowest, each counting latencies in [lower edge, next edge) and the last
/// one up to the slowest. Empty without samples.
pub fn histogram_rows(latency: &Histogram) -> Vec<(u64, u64)> {
    if latency.count() == 0 {
        return Vec::new();
    }
    let (min, max) = (latency.min_ns(), latency.max_ns());
    let span = u128::from(max - min);
    let rows = HISTOGRAM_ROWS as u128;
    let mut out: Vec<(u64, u64)> = (0..rows).map(|i| (min + (span * i / rows) as u64, 0)).collect();
    for (value, count) in latency.buckets() {
        let row = (u128::from(value - min) * rows).checked_div(span).map_or(0, |r| r.min(rows - 1) as usize);
        out[row].1 += count;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_rows_split_the_range_evenly() {
        let mut stats = WorkerStats::new();
        // Values below 256 ns are recorded exactly.
        for ns in 100..=210u64 {
            stats.latency.record(ns);
        }
        let rows = histogram_rows(&stats.latency);
        let (edges, counts): (Vec<u64>, Vec<u64>) = rows.into_iter().unzip();
        assert_eq!(edges, (0..11).map(|i| 100 + 10 * i).collect::<Vec<u64>>());
        assert_eq!(counts, vec![10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 11]);
        assert_eq!(counts.iter().sum::<u64>(), stats.latency.count());
    }

    #[test]
    fn a_single_latency_fills_the_first_row() {
        let mut stats = WorkerStats::new();
        for _ in 0..5 {
            stats.latency.record(1_000_000);
        }
        let (edges, counts): (Vec<u64>, Vec<u64>) = histogram_rows(&stats.latency).into_iter().unzip();
        assert_eq!(edges, vec![1_000_000; 11]);
        assert_eq!(counts[0], 5);
    }

    #[test]
    fn percentiles_of_an_exact_set() {
        let mut stats = WorkerStats::new();
        for ns in 1..=200u64 {
            stats.latency.record(ns);
        }
        let want =
            [(10.0, 20), (25.0, 50), (50.0, 100), (75.0, 150), (90.0, 180), (95.0, 190), (99.0, 198), (99.9, 200)];
        for (p, ns) in want {
            assert_eq!(stats.latency.percentile_ns(p), ns, "p{p}");
        }
    }

    #[test]
    fn an_empty_distribution_has_no_rows_ratios_or_percentiles_beyond_zero() {
        let stats = WorkerStats::new();
        let info = RunInfo::sample(Duration::ZERO);
        let summary = Summary::new(&stats, &info);
        assert!(summary.histogram.is_empty() && summary.ratios.is_empty());
        assert_eq!((summary.requests_per_sec, summary.size_per_request), (0.0, 0));
        assert!(summary.percentiles.iter().all(|q| q.corrected_ns == 0 && q.uncorrected_ns == 0));
        assert!(summary.write_measured, "nothing was left unmeasured");
    }
}
