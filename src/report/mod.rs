//! The report printed after a run, section by section in the reference's
//! order: summary, response time distribution, insight, histogram, status
//! codes, errors, phase details.
//!
//! Latency figures are corrected for coordinated omission: measured from
//! each request's intended start, with timeouts at their limit. In a closed
//! loop without timeouts that is the plain latency; when the two differ by
//! more than [`DIFFERENT`] the uncorrected figures are shown next to them.
//!
//! A pure function of a stats snapshot, the run's facts and a [`Style`],
//! written to any `impl Write`: with the style switched off the text carries
//! the same information without escape codes, and tests compare it byte for
//! byte.

pub mod insight;

use std::io::{self, Write};
use std::time::Duration;

use crate::stats::{ErrorKind, Histogram, Phase, WorkerStats};
use crate::term::Style;
use insight::{Counts, Grade, Load};

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
    pub load: Load,
    /// A merge of several results: how many, and how far apart they started.
    pub merged: Option<Merged>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Merged {
    pub parts: usize,
    pub start_spread: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub target: f64,
    pub achieved: f64,
}

/// Relative difference from which corrected and uncorrected percentiles
/// are both shown.
pub const DIFFERENT: f64 = 0.03;

/// Percentiles shown in the distribution: hey's plus the far tail.
pub const PERCENTILES: [f64; 9] = [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99];

/// Percentiles repeated in milliseconds and highlighted, with their colors.
const HIGHLIGHTS: [(f64, u8); 4] = [(50.0, 34), (95.0, 226), (99.0, 208), (99.9, 196)];

/// The 11-step gradient of the histogram: 256-color cube indexes along
/// (0,1,0) → (0,4,0) → (1,5,0) → (5,5,0) → (5,1,0) → (4,0,0) → (2,0,0),
/// dark green through yellow to dark red (index = 16 + 36r + 6g + b).
pub const GRADIENT: [u8; 11] = [22, 28, 34, 40, 82, 154, 226, 214, 202, 160, 88];

/// Rows of the histogram.
pub const HISTOGRAM_ROWS: usize = 11;

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Writes the whole report.
pub fn render(out: &mut impl Write, stats: &WorkerStats, info: &RunInfo, style: &Style) -> io::Result<()> {
    summary(out, stats, info, style)?;
    distribution(out, stats, info, style)?;
    insight(out, stats, info, style)?;
    histogram(out, &stats.corrected, style)?;
    statuses(out, stats)?;
    errors(out, stats, info)?;
    details(out, stats, info)
}

/// Whether the uncorrected percentiles differ enough to be shown too.
fn uncorrected_differs(stats: &WorkerStats) -> bool {
    let (c, u) = (&stats.corrected, &stats.latency);
    c.count() != u.count()
        || PERCENTILES.iter().any(|&p| {
            let (a, b) = (c.percentile_ns(p) as f64, u.percentile_ns(p) as f64);
            (a - b).abs() > DIFFERENT * b.max(1.0)
        })
}

fn summary(out: &mut impl Write, stats: &WorkerStats, info: &RunInfo, style: &Style) -> io::Result<()> {
    let lat = &stats.corrected;
    let elapsed = info.elapsed.as_secs_f64();
    let rps = requests_per_sec(stats, info);
    let per_request = stats.body_bytes.checked_div(stats.responses).unwrap_or(0);
    writeln!(out, "{}", style.bold("Summary:"))?;
    writeln!(out, "  Total:        {elapsed:.4} secs{}", if info.interrupted { " (interrupted)" } else { "" })?;
    writeln!(out, "  Slowest:      {:.4} secs", secs(lat.max_ns()))?;
    writeln!(out, "  Fastest:      {:.4} secs", secs(lat.min_ns()))?;
    writeln!(out, "  Average:      {:.4} secs", lat.mean_ns() / 1e9)?;
    writeln!(out, "  Requests/sec: {}", style.bold(&format!("{rps:.2}")))?;
    if let Some(rate) = info.rate {
        let share = 100.0 * rate.achieved / rate.target;
        writeln!(out, "  Rate:         {:.2} req/s sent of {:.2} target ({share:.1}%)", rate.achieved, rate.target)?;
    }
    writeln!(out, "  Total data:   {} bytes", stats.body_bytes)?;
    writeln!(out, "  Size/request: {per_request} bytes")?;
    if stats.aborted > 0 {
        writeln!(out, "  Aborted:      {} {} (not counted as errors)", stats.aborted, aborted_when(info))?;
    }
    let plural = if info.workers == 1 { "" } else { "s" };
    writeln!(
        out,
        "  Backend:      {}, {} worker{plural} x {} connections",
        info.backend, info.workers, info.connections
    )?;
    if let Some(merged) = info.merged {
        let spread = merged.start_spread.as_secs_f64() * 1e3;
        writeln!(out, "  Merged:       {} results, started within {spread:.1} ms of each other", merged.parts)?;
    }
    writeln!(out)
}

fn aborted_when(info: &RunInfo) -> &'static str {
    match (info.interrupted, info.rate.is_some()) {
        (true, _) => "in flight when interrupted",
        (false, true) => "in flight or waiting for a connection at the deadline",
        (false, false) => "in flight at the deadline",
    }
}

fn distribution(out: &mut impl Write, stats: &WorkerStats, info: &RunInfo, style: &Style) -> io::Result<()> {
    if stats.corrected.count() == 0 {
        return Ok(());
    }
    let both = uncorrected_differs(stats);
    let title = match (both, info.rate.is_some()) {
        (true, _) => "Response time distribution (corrected; [uncorrected]):",
        (false, true) => "Response time distribution (corrected; uncorrected within 3%):",
        (false, false) => "Response time distribution:",
    };
    writeln!(out, "{}", style.bold(title))?;
    for p in PERCENTILES {
        let ns = stats.corrected.percentile_ns(p);
        write!(out, "  {p:>6.2}% in {:.4} secs", secs(ns))?;
        if both {
            write!(out, " [{:.4}]", secs(stats.latency.percentile_ns(p)))?;
        }
        match HIGHLIGHTS.iter().find(|(h, _)| *h == p) {
            Some(&(_, color)) => {
                let ms = |ns: u64| ns as f64 / 1e6;
                let text = match both {
                    true => format!("({:.2}ms [{:.2}ms])", ms(ns), ms(stats.latency.percentile_ns(p))),
                    false => format!("({:.2}ms)", ms(ns)),
                };
                writeln!(out, " {}", style.paint(color, &text))?
            }
            None => writeln!(out)?,
        }
    }
    if both || info.rate.is_some() {
        writeln!(out, "  corrected: from each request's intended start, timeouts included at their limit")?;
    }
    if both {
        writeln!(out, "  [uncorrected]: from the actual send, responses only (what a closed-loop tool reports)")?;
    }
    writeln!(out)
}

/// Every warning line of the Insight section.
pub fn warnings(stats: &WorkerStats, info: &RunInfo) -> Vec<String> {
    let non_2xx = stats.statuses().filter(|(code, _)| !(200..300).contains(code)).map(|(_, n)| n).sum();
    let counts = Counts {
        issued: stats.issued(),
        errors: stats.total_errors(),
        timeouts: stats.error_count(ErrorKind::Timeout),
        responses: stats.responses,
        non_2xx,
    };
    let mut warnings = insight::warnings(counts);
    warnings.extend(info.rate.and_then(|r| insight::rate_warning(r.target, r.achieved)));
    warnings.extend(insight::load_warning(&info.load, info.elapsed));
    warnings.extend(insight::sample_warnings(stats.corrected.count(), info.elapsed));
    warnings
}

/// The Insight section's ratios, from the corrected distribution (none without samples).
pub fn ratios(stats: &WorkerStats) -> Vec<insight::Ratio> {
    let lat = &stats.corrected;
    if lat.count() == 0 {
        return Vec::new();
    }
    let p = |q| lat.percentile_ns(q);
    insight::ratios(p(50.0), p(95.0), p(99.0), p(99.9)).to_vec()
}

/// Responses per second over the run.
pub fn requests_per_sec(stats: &WorkerStats, info: &RunInfo) -> f64 {
    let elapsed = info.elapsed.as_secs_f64();
    if elapsed > 0.0 { stats.responses as f64 / elapsed } else { 0.0 }
}

fn insight(out: &mut impl Write, stats: &WorkerStats, info: &RunInfo, style: &Style) -> io::Result<()> {
    let warnings = warnings(stats, info);
    let ratios = ratios(stats);
    if ratios.is_empty() && warnings.is_empty() {
        return Ok(());
    }
    writeln!(out, "{}", style.bold("Insight:"))?;
    for ratio in ratios {
        let color = match ratio.grade {
            Grade::Good => 34,
            Grade::Fair => 214,
            Grade::Poor => 196,
        };
        let label = format!("{} {}", ratio.name, ratio.formula);
        writeln!(out, "  {label:<24} = {:.1}x -- {}", ratio.value, style.paint(color, ratio.verdict))?;
    }
    for line in warnings {
        writeln!(out, "  {}", style.paint(196, &line))?;
    }
    writeln!(out)
}

/// Counts per row: 11 equal-width rows from fastest to slowest, each
/// counting latencies in [lower edge, next edge) and the last one up to the
/// slowest. Returns (lower edges, counts).
pub fn histogram_rows(latency: &Histogram) -> (Vec<u64>, Vec<u64>) {
    let (min, max) = (latency.min_ns(), latency.max_ns());
    let span = u128::from(max - min);
    let rows = HISTOGRAM_ROWS as u128;
    let edges = (0..rows).map(|i| min + (span * i / rows) as u64).collect();
    let mut counts = vec![0; HISTOGRAM_ROWS];
    for (value, count) in latency.buckets() {
        let row = (u128::from(value - min) * rows).checked_div(span).map_or(0, |r| r.min(rows - 1) as usize);
        counts[row] += count;
    }
    (edges, counts)
}

fn histogram(out: &mut impl Write, latency: &Histogram, style: &Style) -> io::Result<()> {
    if latency.count() == 0 {
        return Ok(());
    }
    let (edges, counts) = histogram_rows(latency);
    let count_width = counts.iter().max().map_or(1, |m| m.to_string().len());
    let prefix = 2 + 6 + 2 + count_width + 3;
    let bar_room = style.width.saturating_sub(prefix + 1).clamp(10, 100);
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    let block = if style.unicode { "\u{2588}" } else { "#" };
    writeln!(out, "{}", style.bold("Response time histogram:"))?;
    for (row, (&edge, &count)) in edges.iter().zip(&counts).enumerate() {
        let len = if count == 0 { 0 } else { ((count as u128 * bar_room as u128 / most as u128) as usize).max(1) };
        let bar = style.paint(GRADIENT[row], &block.repeat(len));
        writeln!(out, "  {:.4} [{count:>count_width$}] |{bar}", secs(edge))?;
    }
    writeln!(out)
}

fn statuses(out: &mut impl Write, stats: &WorkerStats) -> io::Result<()> {
    writeln!(out, "Status code distribution:")?;
    for (code, count) in stats.statuses() {
        writeln!(out, "  [{code}] {count} responses")?;
    }
    if stats.responses == 0 {
        writeln!(out, "  (no responses)")?;
    }
    writeln!(out)
}

fn errors(out: &mut impl Write, stats: &WorkerStats, info: &RunInfo) -> io::Result<()> {
    if stats.total_errors() == 0 {
        return Ok(());
    }
    writeln!(out, "Error distribution:")?;
    for (kind, count) in stats.errors() {
        writeln!(out, "  [{count}] {}", kind.label())?;
    }
    if stats.unsent > 0 {
        writeln!(out, "  ({} of the timeouts were never sent: every connection was busy)", stats.unsent)?;
    }
    if stats.aborted > 0 {
        writeln!(out, "  [{}] aborted {} (not errors)", stats.aborted, aborted_when(info))?;
    }
    writeln!(out)
}

fn details(out: &mut impl Write, stats: &WorkerStats, info: &RunInfo) -> io::Result<()> {
    let in_secs = |ns: u64| format!("{:.4} secs", secs(ns));
    let line_in = |out: &mut dyn Write, name: &str, p: &Phase, value: &dyn Fn(u64) -> String| {
        write!(out, "  {name:<11}{}, {}, {}", value(p.mean_ns()), value(p.min_ns()), value(p.max_ns))
    };
    let line = |out: &mut dyn Write, name: &str, p: &Phase| line_in(out, name, p, &in_secs);
    writeln!(out, "Details (average, fastest, slowest):")?;
    if stats.write.count == 0 && stats.wait.count > 0 {
        writeln!(out, "  req write: not measured (io_uring sends and arms the receive at once; in resp wait)")?;
    } else {
        line(out, "req write:", &stats.write)?;
        writeln!(out)?;
    }
    for (name, phase) in [("resp wait:", &stats.wait), ("resp read:", &stats.read)] {
        line(out, name, phase)?;
        writeln!(out)?;
    }
    if stats.connect.count > 0 {
        let p = |q| secs(stats.connect_latency.percentile_ns(q));
        line(out, "connect:", &stats.connect)?;
        let count = stats.connect.count;
        let plural = if count == 1 { "" } else { "s" };
        writeln!(out, " ({count} new connection{plural}; p50 {:.4}, p99 {:.4} secs)", p(50.0), p(99.0))?;
    }
    if stats.send_lag.count > 0 {
        // Microseconds: the lag is far below what four decimals of a second show.
        line_in(out, "send lag:", &stats.send_lag, &|ns| format!("{:.1} us", ns as f64 / 1e3))?;
        writeln!(out, " (generator's own timer error; part of the corrected latency)")?;
    }
    if let Some((took, addresses)) = info.dns {
        let plural = if addresses == 1 { "" } else { "es" };
        writeln!(
            out,
            "  DNS lookup: {:.4} secs ({addresses} address{plural}, once before the run)",
            took.as_secs_f64()
        )?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
