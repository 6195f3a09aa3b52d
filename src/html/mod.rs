//! The HTML report (`vastar plot`, `--html`): one self-contained file that
//! opens from disk in any browser, with no network and no JavaScript. The
//! charts are inline SVG ([`charts`]), hover values are SVG tooltips, and
//! everything else is plain HTML. Several results overlay in one report,
//! one color each, for a before/after comparison at a glance.
//!
//! Every figure comes from the same [`Summary`] the text report and the
//! JSON result render, the named metrics (time to first byte, the token
//! timings of event streams) included. Only the timeline is thinned for
//! display: at most
//! [`MAX_POINTS`] points per run, each the exact sum of consecutive
//! intervals (their percentiles from their added histograms), so an
//! hour-long run stays well under a megabyte.

mod charts;
mod sections;
mod streams;
pub mod svg;

use std::io::{self, Write};

use crate::result::ResultDoc;
use crate::stats::timeline::CLASSES;
use crate::stats::{Interval, Timeline, WorkerStats};
use crate::summary::RunInfo;
use svg::{escape, short};

/// Most points per run in the timeline charts.
pub const MAX_POINTS: usize = 600;

/// Colors of the runs, in order.
const RUN_COLORS: [&str; 8] = ["#3b7dd8", "#e0651e", "#2e9d4a", "#9b4cc2", "#c2a100", "#17a2b8", "#d23b77", "#6b6b6b"];
/// Colors of the status classes, in [`CLASSES`] order.
const CLASS_COLORS: [&str; CLASSES.len()] = ["#8a8a8a", "#2e9d4a", "#3b7dd8", "#e08a1e", "#d23b3b", "#7d4cc2"];

/// A result to show and its name in the report.
pub struct Input<'a> {
    pub label: String,
    pub doc: &'a ResultDoc,
}

/// One result, ready to draw.
struct Run<'a> {
    label: String,
    color: &'static str,
    doc: &'a ResultDoc,
    stats: WorkerStats,
    info: RunInfo,
    points: Vec<Point>,
    /// Nominal length of a point (intervals per point times the interval).
    point_s: f64,
}

/// Consecutive intervals added together, for display.
#[derive(Clone, Debug, Default)]
struct Point {
    t0: f64,
    t1: f64,
    classes: [u64; CLASSES.len()],
    errors: u64,
    sent: u64,
    count: u64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    /// Output tokens of its responses.
    tokens: u64,
    /// Time to first token: values, median and p99 (seconds).
    ttft_count: u64,
    ttft_p50: f64,
    ttft_p99: f64,
}

impl Point {
    fn covered(&self) -> f64 {
        self.t1 - self.t0
    }

    fn mid(&self) -> f64 {
        (self.t0 + self.t1) / 2.0
    }

    fn responses(&self) -> u64 {
        self.classes.iter().sum()
    }

    /// `n` per second of the time the point covers.
    fn rps(&self, n: u64) -> f64 {
        n as f64 / self.covered().max(1e-9)
    }

    fn of(part: &Interval, t0: f64, t1: f64) -> Point {
        let secs = |ns: u64| ns as f64 / 1e9;
        let l = &part.latency;
        let ttft = part.metrics.get(crate::stats::metrics::TTFT);
        Point {
            t0,
            t1,
            classes: part.statuses,
            errors: part.total_errors(),
            sent: part.sent,
            count: l.count(),
            p50: secs(l.percentile_ns(50.0)),
            p90: secs(l.percentile_ns(90.0)),
            p99: secs(l.percentile_ns(99.0)),
            max: secs(l.max_ns()),
            tokens: part.counts.get(crate::stats::counters::TOKENS),
            ttft_count: ttft.count(),
            ttft_p50: secs(ttft.percentile_ns(50.0)),
            ttft_p99: secs(ttft.percentile_ns(99.0)),
        }
    }
}

/// The timeline in at most [`MAX_POINTS`] points, and a point's nominal length.
fn points(timeline: &Timeline, span_s: f64) -> (Vec<Point>, f64) {
    let intervals = timeline.intervals();
    let interval_s = timeline.interval().as_secs_f64();
    let per_point = intervals.len().div_ceil(MAX_POINTS).max(1);
    let points = intervals.chunks(per_point).enumerate().map(|(i, group)| {
        let mut sum = Interval::default();
        for part in group {
            // Counts from one checked document cannot overflow when regrouped.
            let _ = sum.add(part);
        }
        let t0 = (i * per_point) as f64 * interval_s;
        let t1 = (t0 + group.len() as f64 * interval_s).min(span_s.max(t0));
        Point::of(&sum, t0, t1)
    });
    (points.collect(), per_point as f64 * interval_s)
}

/// How a latency axis writes its values.
#[derive(Clone, Copy, Debug)]
struct TimeUnit {
    name: &'static str,
    per_second: f64,
}

impl TimeUnit {
    fn for_max(max_s: f64) -> TimeUnit {
        match max_s {
            m if m < 1e-3 => TimeUnit { name: "µs", per_second: 1e6 },
            m if m < 1.0 => TimeUnit { name: "ms", per_second: 1e3 },
            _ => TimeUnit { name: "s", per_second: 1.0 },
        }
    }

    fn short(&self, seconds: f64) -> String {
        short(seconds * self.per_second)
    }

    fn text(&self, seconds: f64) -> String {
        format!("{} {}", short(seconds * self.per_second), self.name)
    }
}

fn prepare<'a>(inputs: &[Input<'a>]) -> Result<Vec<Run<'a>>, String> {
    let mut runs = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let doc = input.doc;
        let fail = |e: String| format!("{}: {e}", input.label);
        let stats = doc.stats().map_err(fail)?;
        let span_s = doc.end_unix_ns.saturating_sub(doc.start_unix_ns) as f64 / 1e9;
        let (points, point_s) = doc.timeline().map_err(fail)?.map_or((Vec::new(), 1.0), |t| points(&t, span_s));
        let color = RUN_COLORS[i % RUN_COLORS.len()];
        runs.push(Run { label: input.label.clone(), color, doc, stats, info: doc.run_info(), points, point_s });
    }
    Ok(runs)
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#1d1d1f;background:#fff}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}\
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #eee;vertical-align:top}\
th:first-child,td:first-child{text-align:left}.num{font-variant-numeric:tabular-nums}\
code{font:12px ui-monospace,monospace;background:#f4f4f6;padding:2px 4px;border-radius:3px;word-break:break-all}\
.chart{max-width:100%;height:auto}.chart .grid{stroke:#eee}.chart .axis{stroke:#888}\
.chart .tick{font-size:11px;fill:#555}.chart .title{font-size:12px;fill:#333}\
.chart .series{stroke-width:2}.chart .band{opacity:.85}.chart .pt{fill:transparent}.chart .pt:hover{fill:rgba(0,0,0,.06)}\
figure{margin:8px 0}.legend span{margin-right:16px;white-space:nowrap}.legend svg{vertical-align:middle;margin-right:4px}\
.bar{display:inline-block;height:12px;vertical-align:middle}.swatch{display:inline-block;width:10px;height:10px;margin-right:6px}\
.fail{color:#c00;font-weight:600}.pass{color:#1a7f37;font-weight:600}.muted{color:#666}";

/// Writes the report of `inputs` (one result, or several to compare).
pub fn page(out: &mut impl Write, inputs: &[Input]) -> io::Result<()> {
    let runs = prepare(inputs).map_err(io::Error::other)?;
    let names: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
    let title = format!("vastar report: {}", names.join(", "));
    let mut html = String::with_capacity(256 * 1024);
    html.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    html.push_str(&format!("<title>{}</title><style>{STYLE}</style></head><body>", escape(&title)));
    html.push_str(&format!("<h1>{}</h1>", escape(&title)));
    html.push_str(&format!(
        "<p class=\"muted\">Written by vastar {}. Hover over a chart for its values.</p>",
        env!("CARGO_PKG_VERSION")
    ));
    html.push_str(&sections::summary(&runs));
    if runs.iter().any(|r| !r.points.is_empty()) {
        html.push_str("<h2>Over time</h2>");
        html.push_str(&charts::throughput(&runs));
        html.push_str(&charts::latency(&runs));
    } else {
        html.push_str(
            "<h2>Over time</h2><p class=\"muted\">These results hold no timeline (written before vastar kept one).</p>",
        );
    }
    html.push_str("<h2>Latency distribution</h2>");
    html.push_str(&charts::percentile_curve(&runs));
    html.push_str(&sections::histograms(&runs));
    html.push_str(&streams::section(&runs));
    html.push_str(&sections::metrics(&runs));
    html.push_str(&sections::outcomes(&runs));
    html.push_str(&sections::targets(&runs));
    html.push_str(&sections::phases(&runs));
    html.push_str(&sections::insight(&runs));
    html.push_str(&sections::runs(&runs));
    html.push_str("</body></html>\n");
    out.write_all(html.as_bytes())
}
