//! The report's sections for the named metrics (see
//! [`crate::stats::metrics`]): one per metric that has samples, its
//! percentiles in the distribution's format, then its mean and extremes
//! and what it measures. Written from the table, so a new metric shows
//! here without a change.

use std::io::{self, Write};

use super::format::{percentile_line, secs};
use crate::summary::{MetricSummary, Summary};
use crate::term::Style;

/// A section per metric with samples, in the order of the table.
/// (The Streaming section shows the token metrics, [`super::streaming::SHOWN`].)
pub fn sections(out: &mut impl Write, summary: &Summary, style: &Style) -> io::Result<()> {
    let in_streaming = |i: &usize| summary.streaming.is_some() && super::streaming::SHOWN.contains(i);
    let shown = summary.metrics.iter().enumerate().filter(|(i, m)| m.count > 0 && !in_streaming(i));
    for (_, metric) in shown {
        section(out, metric, style)?;
    }
    Ok(())
}

fn section(out: &mut impl Write, m: &MetricSummary, style: &Style) -> io::Result<()> {
    writeln!(out, "{}", style.bold(&format!("{} ({}):", m.metric.label, m.metric.id)))?;
    for &(p, ns) in &m.percentiles {
        percentile_line(out, p, ns)?;
        writeln!(out)?;
    }
    let plural = if m.count == 1 { "" } else { "s" };
    writeln!(
        out,
        "  average {:.4} secs, fastest {:.4} secs, slowest {:.4} secs ({} response{plural})",
        m.mean_ns / 1e9,
        secs(m.min_ns),
        secs(m.max_ns),
        m.count
    )?;
    writeln!(out, "  {}", m.metric.meaning)?;
    writeln!(out)
}
