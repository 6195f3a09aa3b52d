//! The machine-readable result (`-o json`): every figure of the report, plus
//! everything needed to rebuild the report exactly: the full histograms
//! (sparse bucket counts with exact count, sum, min and max), phase sums,
//! status and error counts, and the time windows the run covered. Several
//! results merge exactly ([`merge`]): counts add, histograms add bucket by
//! bucket, and rates are taken over the union of the time windows.
//!
//! The format is documented field by field in `src/result/schema.md`, next
//! to this file; [`SCHEMA_VERSION`] changes whenever a field changes meaning
//! or disappears (adding a field does not change it).

pub mod counters;
mod facts;
mod histogram;
pub mod json;
pub mod merge;
pub mod metrics;
mod read;
pub mod streaming;
pub mod targets;
pub mod timeline;
mod tls;

pub use facts::{AssertionDoc, Dns, GeneratorCpuDoc, MachineDoc, RampDoc, RateDoc, StageDoc, WarmupDoc};
pub use histogram::{HistogramDoc, HistogramFormat};
pub use tls::TlsDoc;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::stats::{Phase, WorkerStats};
use crate::summary::{Merged, RunInfo, Summary};
use crate::wallclock;

/// Value of the `schema` field.
pub const SCHEMA: &str = "vastar.result";
/// Version of the format this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// A result file: one run, or a merge of several.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultDoc {
    pub schema: String,
    pub schema_version: u32,
    pub vastar_version: String,
    /// The command line that produced this document.
    pub command: Vec<String>,
    pub target: Target,
    pub start_utc: String,
    pub end_utc: String,
    pub start_unix_ns: u64,
    pub end_unix_ns: u64,
    /// `--start-at`: the moment asked for and how late the run started.
    pub start_at: Option<StartAt>,
    /// The results a merge was made of (empty for a single run).
    pub parts: Vec<Part>,
    pub run: Run,
    pub summary: SummaryDoc,
    pub counts: Counts,
    /// Responses by status code.
    pub status_codes: BTreeMap<u16, u64>,
    /// Failures by category id (`timeout`, `connect_refused`, ...).
    pub errors: BTreeMap<String, u64>,
    pub percentiles: Vec<Percentile>,
    pub insight: Insight,
    /// `--assert` thresholds and their verdicts (empty without any).
    #[serde(default)]
    pub assertions: Vec<AssertionDoc>,
    pub phases: Phases,
    pub connect_percentiles: ConnectPercentiles,
    pub histograms: Histograms,
    /// The named metrics by name (`ttfb`), each with its histogram (absent
    /// in documents written before vastar kept them).
    #[serde(default, deserialize_with = "metrics::known")]
    pub metrics: BTreeMap<String, metrics::MetricDoc>,
    /// The named counts by name (`tokens`), those that counted something
    /// (absent in documents written before vastar kept them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "counters::known")]
    pub counters: BTreeMap<String, u64>,
    /// Derived: what the event streams said (absent when no response
    /// streamed or reported tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<streaming::StreamingDoc>,
    /// `https://`: the handshakes and what they negotiated (absent or
    /// null for `http://`, and in results written before TLS existed).
    #[serde(default)]
    pub tls: Option<TlsDoc>,
    /// The machine that ran it (absent in older documents and in merges).
    #[serde(default)]
    pub machine: Option<MachineDoc>,
    /// The run interval by interval (absent or null in results written
    /// before vastar kept one, and in merges of such results).
    #[serde(default)]
    pub timeline: Option<timeline::TimelineDoc>,
    /// Per target, for a run with several (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<targets::TargetDoc>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub url: String,
    pub method: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartAt {
    pub requested_utc: String,
    pub requested_unix_ns: u64,
    /// Actual start minus the requested moment, by this machine's clock.
    pub late_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub command: Vec<String>,
    pub start_utc: String,
    pub end_utc: String,
    pub start_unix_ns: u64,
    pub end_unix_ns: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub backend: String,
    pub workers: usize,
    pub connections: usize,
    /// Length of the union of `windows_ns`: the run's total time.
    pub elapsed_ns: u64,
    /// The wall-clock intervals `[start, end]` the run (or the merged runs) covered.
    pub windows_ns: Vec<[u64; 2]>,
    pub interrupted: bool,
    /// `--rate`: requests per second asked for and sent.
    pub rate: Option<RateDoc>,
    pub dns: Option<Dns>,
    pub load: GeneratorCpuDoc,
    /// `--stages` of connections (absent otherwise and in older documents).
    #[serde(default)]
    pub connection_stages: Option<Vec<StageDoc>>,
    /// `--warmup` (absent otherwise and in older documents).
    #[serde(default)]
    pub warmup: Option<WarmupDoc>,
    /// Several targets or templates: what the requests were (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<targets::RequestsDoc>,
    /// `--goodput`: the limits requests were judged by (absent without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<streaming::GoodputLimitsDoc>,
    /// `HTTP/1.1` or `HTTP/2` (documents from before HTTP/2 were HTTP/1.1).
    #[serde(default = "http1_name")]
    pub protocol: String,
    /// Over HTTP/2: the most streams in flight per connection (`--streams`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams_per_connection: Option<usize>,
    /// The forward proxy and how it was used (`http://user:***@host:3128,
    /// CONNECT tunnel`; absent without one). Never a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
}

fn http1_name() -> String {
    crate::summary::Protocol::Http1.name().into()
}

/// The report's Summary section (derived; ignored when read back).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryDoc {
    pub total_s: f64,
    pub slowest_s: f64,
    pub fastest_s: f64,
    pub average_s: f64,
    pub requests_per_sec: f64,
    pub total_data_bytes: u64,
    pub size_per_request_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub responses: u64,
    pub errors: u64,
    pub aborted: u64,
    pub started: u64,
    pub unsent: u64,
    pub preconnect_failures: u64,
    pub wire_bytes: u64,
    pub body_bytes: u64,
}

/// One row of the distribution (derived).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentile {
    pub p: f64,
    pub corrected_s: f64,
    pub uncorrected_s: f64,
}

/// The Insight section (derived).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Insight {
    pub ratios: Vec<RatioDoc>,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatioDoc {
    pub name: String,
    pub formula: String,
    pub value: f64,
    pub verdict: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    pub write: PhaseDoc,
    pub wait: PhaseDoc,
    pub read: PhaseDoc,
    pub connect: PhaseDoc,
    pub send_lag: PhaseDoc,
    /// Tunnels opened through a proxy (absent without one, and in older documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<PhaseDoc>,
}

/// Count, sum, min and max of one phase, in nanoseconds (min is 0 when empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseDoc {
    pub count: u64,
    pub sum_ns: u128,
    pub min_ns: u64,
    pub max_ns: u64,
}

/// Connect-time percentiles (derived).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectPercentiles {
    pub p50_s: f64,
    pub p99_s: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    pub format: HistogramFormat,
    /// Responses and timeouts, from each request's intended start.
    pub corrected: HistogramDoc,
    /// Responses, from the actual send.
    pub uncorrected: HistogramDoc,
    pub connect: HistogramDoc,
}

impl Run {
    fn of(info: &RunInfo, windows_ns: Vec<[u64; 2]>, warmup: &crate::stats::Warmup) -> Run {
        Run {
            backend: info.backend.clone(),
            workers: info.workers,
            connections: info.connections,
            elapsed_ns: crate::stats::nanos(info.elapsed),
            windows_ns,
            interrupted: info.interrupted,
            rate: info.rate.as_ref().map(|r| {
                let segments = r.shape.as_ref().map(|shape| shape.segments());
                RateDoc {
                    target: r.target,
                    achieved: r.achieved,
                    ramp: segments.filter(|s| s.len() == 1).map(|s| RampDoc::of(&s[0])),
                    stages: segments.map(|s| s.iter().map(RampDoc::of).collect()),
                    arrivals: r.arrivals.clone(),
                }
            }),
            dns: info.dns.map(|(took, addresses)| Dns { seconds: took.as_secs_f64(), addresses }),
            load: GeneratorCpuDoc { own_busy: info.load.own, cores: info.load.cores, cores_busy: info.load.cores_busy },
            connection_stages: info.stages.as_ref().map(|stages| {
                stages.stages.iter().map(|&(over_s, connections)| StageDoc { over_s, connections }).collect()
            }),
            warmup: info.warmup.map(|w| WarmupDoc::of(w, warmup)),
            requests: info.requests.as_ref().map(targets::RequestsDoc::of),
            protocol: info.protocol.name().into(),
            streams_per_connection: match info.protocol {
                crate::summary::Protocol::Http2 { streams } => streams,
                crate::summary::Protocol::Http1 => None,
            },
            goodput: info.goodput.as_ref().map(streaming::GoodputLimitsDoc::of),
            proxy: info.proxy.clone(),
        }
    }
}

impl Phases {
    fn of(stats: &WorkerStats) -> Phases {
        Phases {
            write: PhaseDoc::of(&stats.write),
            wait: PhaseDoc::of(&stats.wait),
            read: PhaseDoc::of(&stats.read),
            connect: PhaseDoc::of(&stats.connect),
            send_lag: PhaseDoc::of(&stats.send_lag),
            tunnel: (stats.tunnel.count > 0).then(|| PhaseDoc::of(&stats.tunnel)),
        }
    }
}

impl Histograms {
    fn of(stats: &WorkerStats) -> Histograms {
        Histograms {
            format: HistogramFormat::current(),
            corrected: HistogramDoc::of(&stats.corrected),
            uncorrected: HistogramDoc::of(&stats.latency),
            connect: HistogramDoc::of(&stats.connect_latency),
        }
    }
}

impl PhaseDoc {
    fn of(p: &Phase) -> Self {
        PhaseDoc { count: p.count, sum_ns: p.sum_ns, min_ns: p.min_ns(), max_ns: p.max_ns }
    }

    fn phase(&self) -> Phase {
        let min_ns = if self.count == 0 { u64::MAX } else { self.min_ns };
        Phase { count: self.count, sum_ns: self.sum_ns, min_ns, max_ns: self.max_ns }
    }
}

/// Facts about a run that the stats do not hold.
#[derive(Clone, Debug)]
pub struct Meta {
    pub command: Vec<String>,
    pub target: Target,
    /// Wall-clock time of the common start (of a single run).
    pub start: SystemTime,
    /// `--start-at`: the moment asked for.
    pub start_at: Option<SystemTime>,
    pub parts: Vec<Part>,
    /// For a merge: the union of the parts' windows (empty for one run:
    /// `[start, start + elapsed]`).
    pub windows_ns: Vec<[u64; 2]>,
    /// The machine (of a single run).
    pub machine: Option<MachineDoc>,
}

/// The run facts of the unit tests.
#[cfg(test)]
impl Meta {
    /// A single run of `GET url` that started `start_s` seconds after 1970.
    pub fn sample(start_s: u64, url: &str) -> Meta {
        Meta {
            command: vec!["vastar".into(), url.into()],
            target: Target { url: url.into(), method: "GET".into() },
            start: wallclock::from_unix_ns(start_s * 1_000_000_000),
            start_at: None,
            parts: vec![],
            windows_ns: vec![],
            machine: None,
        }
    }
}

/// What the report says of a merge of `parts` (nothing for a single run):
/// how many, and how far apart their starts were.
pub fn merged(parts: &[Part]) -> Option<Merged> {
    let starts = parts.iter().map(|p| p.start_unix_ns);
    let spread = starts.clone().max()? - starts.min()?;
    Some(Merged { parts: parts.len(), start_spread: Duration::from_nanos(spread) })
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The wall-clock windows a document covers: a merge's, or a single run's
/// span from its start, any warm-up included (the timeline covers it;
/// merges leave the warm-up out).
fn windows_of(meta: &Meta, info: &RunInfo) -> Vec<[u64; 2]> {
    if !meta.windows_ns.is_empty() {
        return meta.windows_ns.clone();
    }
    let start = wallclock::unix_ns(meta.start);
    vec![[start, start + crate::stats::nanos(info.warmup.unwrap_or_default() + info.elapsed)]]
}

impl StartAt {
    /// `--start-at at`, for a run that started at `start_unix_ns`.
    fn of(at: SystemTime, start_unix_ns: u64) -> StartAt {
        StartAt {
            requested_utc: wallclock::format_rfc3339(at),
            requested_unix_ns: wallclock::unix_ns(at),
            late_ms: (start_unix_ns as f64 - wallclock::unix_ns(at) as f64) / 1e6,
        }
    }
}

impl SummaryDoc {
    fn of(summary: &Summary) -> SummaryDoc {
        let (stats, lat) = (summary.stats, &summary.stats.corrected);
        SummaryDoc {
            total_s: summary.info.elapsed.as_secs_f64(),
            slowest_s: secs(lat.max_ns()),
            fastest_s: secs(lat.min_ns()),
            average_s: lat.mean_ns() / 1e9,
            requests_per_sec: summary.requests_per_sec,
            total_data_bytes: stats.body_bytes,
            size_per_request_bytes: summary.size_per_request,
        }
    }
}

impl Counts {
    fn of(stats: &WorkerStats) -> Counts {
        Counts {
            responses: stats.responses,
            errors: stats.total_errors(),
            aborted: stats.aborted,
            started: stats.started,
            unsent: stats.unsent,
            preconnect_failures: stats.preconnect_failures,
            wire_bytes: stats.wire_bytes,
            body_bytes: stats.body_bytes,
        }
    }
}

impl Percentile {
    fn all_of(summary: &Summary) -> Vec<Percentile> {
        let row = |q: &crate::summary::Percentile| Percentile {
            p: q.p,
            corrected_s: secs(q.corrected_ns),
            uncorrected_s: secs(q.uncorrected_ns),
        };
        summary.percentiles.iter().map(row).collect()
    }
}

impl Insight {
    fn of(summary: &Summary) -> Insight {
        let ratios = summary.ratios.iter().map(|r| RatioDoc {
            name: r.name.into(),
            formula: r.formula.into(),
            value: r.value,
            verdict: r.verdict.into(),
        });
        Insight { ratios: ratios.collect(), warnings: summary.warnings.clone() }
    }
}

impl ConnectPercentiles {
    fn of(stats: &WorkerStats) -> ConnectPercentiles {
        let connect = &stats.connect_latency;
        ConnectPercentiles { p50_s: secs(connect.percentile_ns(50.0)), p99_s: secs(connect.percentile_ns(99.0)) }
    }
}

impl ResultDoc {
    /// The document of a run (or a merge): the same [`Summary`] the text
    /// report renders, plus the stats in full and the run's metadata.
    pub fn new(summary: &Summary, meta: Meta) -> ResultDoc {
        let (stats, info) = (summary.stats, summary.info);
        let windows_ns = windows_of(&meta, info);
        let start_unix_ns = windows_ns.iter().map(|w| w[0]).min().unwrap_or(0);
        let end_unix_ns = windows_ns.iter().map(|w| w[1]).max().unwrap_or(0);
        let timeline = summary.timeline.map(|t| {
            let span = Duration::from_nanos(end_unix_ns - start_unix_ns);
            timeline::TimelineDoc::of(t, span, info.rate.as_ref(), info.warmup.unwrap_or_default())
        });
        ResultDoc {
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            vastar_version: env!("CARGO_PKG_VERSION").into(),
            command: meta.command,
            target: meta.target,
            start_utc: wallclock::format_rfc3339(wallclock::from_unix_ns(start_unix_ns)),
            end_utc: wallclock::format_rfc3339(wallclock::from_unix_ns(end_unix_ns)),
            start_unix_ns,
            end_unix_ns,
            start_at: meta.start_at.map(|at| StartAt::of(at, start_unix_ns)),
            parts: meta.parts,
            run: Run::of(info, windows_ns, &stats.warmup),
            summary: SummaryDoc::of(summary),
            counts: Counts::of(stats),
            status_codes: stats.statuses().collect(),
            errors: stats.errors().map(|(k, n)| (k.id().to_string(), n)).collect(),
            percentiles: Percentile::all_of(summary),
            insight: Insight::of(summary),
            assertions: ResultDoc::assertions_of(summary),
            phases: Phases::of(stats),
            connect_percentiles: ConnectPercentiles::of(stats),
            histograms: Histograms::of(stats),
            metrics: metrics::docs_of(&summary.metrics, &stats.metrics),
            counters: counters::docs_of(&stats.counts),
            streaming: summary.streaming.as_ref().map(streaming::StreamingDoc::of),
            tls: TlsDoc::of(&stats.tls),
            machine: meta.machine,
            timeline,
            targets: targets::docs_of(summary),
        }
    }

    /// The percentile table as CSV (`-o csv`).
    pub fn csv(&self) -> String {
        let mut out = String::from("percentile,corrected_seconds,uncorrected_seconds\n");
        for p in &self.percentiles {
            out.push_str(&format!("{},{:.9},{:.9}\n", p.p, p.corrected_s, p.uncorrected_s));
        }
        out
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "streaming_tests.rs"]
mod streaming_tests;
