//! The report printed after a run, section by section in the reference's
//! order: summary, response time distribution, insight, histogram, the
//! named metrics (time to first byte), streaming (tokens), status codes, errors, phase details.
//!
//! Latency figures are corrected for coordinated omission: measured from
//! each request's intended start, with timeouts at their limit. In a closed
//! loop without timeouts that is the plain latency; when the two differ by
//! more than [`crate::summary::DIFFERENT`] the uncorrected figures are shown
//! next to them.
//!
//! A pure function of the run's [`Summary`] (the model the JSON result
//! renders too) and a [`Style`], written to any `impl Write`: with the
//! style switched off the text carries the same information without escape
//! codes, and tests compare it byte for byte.

mod format;
mod metrics;
mod streaming;
mod targets;

use std::io::{self, Write};

use crate::stats::Phase;
use crate::summary::{Grade, Summary};
use crate::term::Style;
use format::{percentile_line, secs};

/// Percentiles repeated in milliseconds and highlighted, with their colors.
const HIGHLIGHTS: [(f64, u8); 4] = [(50.0, 34), (95.0, 226), (99.0, 208), (99.9, 196)];

/// The 11-step gradient of the histogram: 256-color cube indexes along
/// (0,1,0) → (0,4,0) → (1,5,0) → (5,5,0) → (5,1,0) → (4,0,0) → (2,0,0),
/// dark green through yellow to dark red (index = 16 + 36r + 6g + b).
pub const GRADIENT: [u8; 11] = [22, 28, 34, 40, 82, 154, 226, 214, 202, 160, 88];

/// Writes the whole report.
pub fn render(out: &mut impl Write, summary: &Summary, style: &Style) -> io::Result<()> {
    overview(out, summary, style)?;
    distribution(out, summary, style)?;
    insight(out, summary, style)?;
    histogram(out, summary, style)?;
    metrics::sections(out, summary, style)?;
    streaming::section(out, summary, style)?;
    statuses(out, summary)?;
    targets::section(out, summary)?;
    errors(out, summary)?;
    details(out, summary)?;
    assertions(out, summary, style)
}

/// The `--assert` thresholds, last, where CI logs end.
pub fn assertions(out: &mut impl Write, summary: &Summary, style: &Style) -> io::Result<()> {
    if summary.assertions.is_empty() {
        return Ok(());
    }
    let failed = summary.assertions.iter().filter(|a| !a.pass).count();
    writeln!(out)?;
    writeln!(out, "{}", style.bold(&format!("Assertions ({} of {} failed):", failed, summary.assertions.len())))?;
    let width = summary.assertions.iter().map(|a| a.text.len()).max().unwrap_or(0);
    for a in &summary.assertions {
        let verdict = if a.pass { style.paint(34, "pass") } else { style.paint(196, "FAIL") };
        writeln!(out, "  {verdict}  {:<width$}  measured {}", a.text, a.shown)?;
    }
    Ok(())
}

fn overview(out: &mut impl Write, summary: &Summary, style: &Style) -> io::Result<()> {
    let (stats, info) = (summary.stats, summary.info);
    let lat = &stats.corrected;
    let elapsed = info.elapsed.as_secs_f64();
    writeln!(out, "{}", style.bold("Summary:"))?;
    writeln!(out, "  Total:        {elapsed:.4} secs{}", if info.interrupted { " (interrupted)" } else { "" })?;
    writeln!(out, "  Slowest:      {:.4} secs", secs(lat.max_ns()))?;
    writeln!(out, "  Fastest:      {:.4} secs", secs(lat.min_ns()))?;
    writeln!(out, "  Average:      {:.4} secs", lat.mean_ns() / 1e9)?;
    writeln!(out, "  Requests/sec: {}", style.bold(&format!("{:.2}", summary.requests_per_sec)))?;
    if let Some(rate) = &info.rate {
        let share = 100.0 * rate.achieved / rate.target;
        writeln!(out, "  Rate:         {:.2} req/s sent of {:.2} target ({share:.1}%)", rate.achieved, rate.target)?;
        if let Some(arrivals) = &rate.arrivals {
            writeln!(out, "  Arrivals:     {arrivals}")?;
        }
        if let Some(shape) = &rate.shape {
            let mean = if info.warmup.is_some() { "its mean after the warm-up" } else { "its mean" };
            writeln!(
                out,
                "  Shape:        {} (the target is {mean})",
                crate::summary::describe_shape(shape, info.warmup.is_some())
            )?;
        }
    }
    if let Some(stages) = &info.stages {
        writeln!(out, "  Stages:       {}", crate::summary::describe_stages(stages, info.warmup.is_some()))?;
    }
    if let Some(warmup) = info.warmup {
        let w = &stats.warmup;
        let aborted = if w.aborted > 0 { format!(", {} aborted", w.aborted) } else { String::new() };
        writeln!(
            out,
            "  Warm-up:      {:.1} secs, {} responses and {} errors not counted{aborted}",
            warmup.as_secs_f64(),
            w.responses,
            w.errors
        )?;
    }
    writeln!(out, "  Total data:   {} bytes", stats.body_bytes)?;
    writeln!(out, "  Size/request: {} bytes", summary.size_per_request)?;
    if stats.aborted > 0 {
        writeln!(out, "  Aborted:      {} {} (not counted as errors)", stats.aborted, summary.aborted_when())?;
    }
    let plural = if info.workers == 1 { "" } else { "s" };
    writeln!(
        out,
        "  Backend:      {}, {} worker{plural} x {} connections",
        info.backend, info.workers, info.connections
    )?;
    if let Some(proxy) = &info.proxy {
        writeln!(out, "  Proxy:        {proxy}")?;
    }
    if info.protocol != crate::summary::Protocol::Http1 {
        writeln!(out, "  Protocol:     {}", info.protocol.describe())?;
    }
    if let Some(requests) = &info.requests {
        targets::requests_line(out, requests)?;
    }
    if let Some(tls) = &stats.tls.negotiated {
        writeln!(out, "  TLS:          {}, {}, {}", tls.version, tls.suite, tls.group)?;
    }
    if let Some(merged) = info.merged {
        let spread = merged.start_spread.as_secs_f64() * 1e3;
        writeln!(out, "  Merged:       {} results, started within {spread:.1} ms of each other", merged.parts)?;
    }
    writeln!(out)
}

fn distribution(out: &mut impl Write, summary: &Summary, style: &Style) -> io::Result<()> {
    if summary.stats.corrected.count() == 0 {
        return Ok(());
    }
    let both = summary.uncorrected_differs;
    let rate = summary.info.rate.is_some();
    let title = match (both, rate) {
        (true, _) => "Response time distribution (corrected; [uncorrected]):",
        (false, true) => "Response time distribution (corrected; uncorrected within 3%):",
        (false, false) => "Response time distribution:",
    };
    writeln!(out, "{}", style.bold(title))?;
    for q in &summary.percentiles {
        let (p, ns, raw) = (q.p, q.corrected_ns, q.uncorrected_ns);
        percentile_line(out, p, ns)?;
        if both {
            write!(out, " [{:.4}]", secs(raw))?;
        }
        match HIGHLIGHTS.iter().find(|(h, _)| *h == p) {
            Some(&(_, color)) => {
                let ms = |ns: u64| ns as f64 / 1e6;
                let text = match both {
                    true => format!("({:.2}ms [{:.2}ms])", ms(ns), ms(raw)),
                    false => format!("({:.2}ms)", ms(ns)),
                };
                writeln!(out, " {}", style.paint(color, &text))?
            }
            None => writeln!(out)?,
        }
    }
    if both || rate {
        writeln!(out, "  corrected: from each request's intended start, timeouts included at their limit")?;
    }
    if both {
        writeln!(out, "  [uncorrected]: from the actual send, responses only (what a closed-loop tool reports)")?;
    }
    writeln!(out)
}

fn insight(out: &mut impl Write, summary: &Summary, style: &Style) -> io::Result<()> {
    let (ratios, warnings) = (&summary.ratios, &summary.warnings);
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
        writeln!(out, "  {}", style.paint(196, line))?;
    }
    writeln!(out)
}

fn histogram(out: &mut impl Write, summary: &Summary, style: &Style) -> io::Result<()> {
    if summary.histogram.is_empty() {
        return Ok(());
    }
    let counts: Vec<u64> = summary.histogram.iter().map(|row| row.1).collect();
    let count_width = counts.iter().max().map_or(1, |m| m.to_string().len());
    let prefix = 2 + 6 + 2 + count_width + 3;
    let bar_room = style.width.saturating_sub(prefix + 1).clamp(10, 100);
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    let block = if style.unicode { "\u{2588}" } else { "#" };
    writeln!(out, "{}", style.bold("Response time histogram:"))?;
    for (row, &(edge, count)) in summary.histogram.iter().enumerate() {
        let len = if count == 0 { 0 } else { ((count as u128 * bar_room as u128 / most as u128) as usize).max(1) };
        let bar = style.paint(GRADIENT[row], &block.repeat(len));
        writeln!(out, "  {:.4} [{count:>count_width$}] |{bar}", secs(edge))?;
    }
    writeln!(out)
}

fn statuses(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    let stats = summary.stats;
    writeln!(out, "Status code distribution:")?;
    for (code, count) in stats.statuses() {
        writeln!(out, "  [{code}] {count} responses")?;
    }
    if stats.responses == 0 {
        writeln!(out, "  (no responses)")?;
    }
    writeln!(out)
}

fn errors(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    let stats = summary.stats;
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
        writeln!(out, "  [{}] aborted {} (not errors)", stats.aborted, summary.aborted_when())?;
    }
    writeln!(out)
}

fn details(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    let (stats, info) = (summary.stats, summary.info);
    let in_secs = |ns: u64| format!("{:.4} secs", secs(ns));
    let line_in = |out: &mut dyn Write, name: &str, p: &Phase, value: &dyn Fn(u64) -> String| {
        write!(out, "  {name:<11}{}, {}, {}", value(p.mean_ns()), value(p.min_ns()), value(p.max_ns))
    };
    let line = |out: &mut dyn Write, name: &str, p: &Phase| line_in(out, name, p, &in_secs);
    writeln!(out, "Details (average, fastest, slowest):")?;
    if !summary.write_measured {
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
    if stats.tunnel.count > 0 {
        line(out, "tunnel:", &stats.tunnel)?;
        let count = stats.tunnel.count;
        writeln!(out, " ({count} proxy tunnel{})", if count == 1 { "" } else { "s" })?;
    }
    let tls = &stats.tls;
    if tls.handshake.count > 0 {
        line(out, "handshake:", &tls.handshake)?;
        let count = tls.handshake.count;
        let plural = if count == 1 { "" } else { "s" };
        writeln!(out, " ({count} TLS handshake{plural}: {} full, {} resumed)", tls.full(), tls.resumed)?;
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
