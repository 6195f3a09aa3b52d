//! The report's Streaming section: what the event streams came to, shown
//! only when some response streamed or reported tokens. The time to first
//! token, the inter-token latency and the time per output token get one
//! row each here, in place of a section of their own.

use std::io::{self, Write};

use crate::stats::metrics::{ITL, TPOT, TTFT};
use crate::summary::streaming::StreamFigure;
use crate::summary::{StreamingSummary, Summary, TokenSource};
use crate::term::Style;

/// The metrics this section shows (the metric sections leave them out).
pub const SHOWN: [usize; 3] = [TTFT, ITL, TPOT];

pub fn section(out: &mut impl Write, summary: &Summary, style: &Style) -> io::Result<()> {
    let Some(s) = &summary.streaming else { return Ok(()) };
    writeln!(out, "{}", style.bold("Streaming:"))?;
    if s.responses > 0 {
        writeln!(out, "  Streamed responses:\t{} ({:.1} events each)", s.responses, s.events_per_response)?;
    }
    let source = match s.token_source {
        TokenSource::Usage => "from the server's usage",
        TokenSource::Events => "one per event with content; the server sent no usage",
        TokenSource::Mixed => "from usage where the server sent it, else one per event",
    };
    writeln!(out, "  Output tokens:\t{} ({source})", s.output_tokens)?;
    writeln!(out, "  Output tokens/sec:\t{:.2}", s.output_tokens_per_sec)?;
    if let Some(g) = &s.goodput {
        writeln!(
            out,
            "  Goodput:\t{:.2} requests/sec ({} requests, {:.1}%, under {})",
            g.per_sec, g.requests, g.share_percent, g.expr
        )?;
    }
    figures(out, s)?;
    writeln!(out)
}

fn figures(out: &mut impl Write, s: &StreamingSummary) -> io::Result<()> {
    let rows = [("TTFT", &s.ttft), ("ITL", &s.itl), ("TPOT", &s.tpot)];
    if rows.iter().all(|(_, f)| f.count == 0) {
        return Ok(());
    }
    writeln!(out, "  {:<6}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}", "", "mean", "p50", "p90", "p95", "p99", "max")?;
    for (name, f) in rows.iter().filter(|(_, f)| f.count > 0) {
        write!(out, "  {name:<6}{:>11}", ms(f.mean_ns))?;
        for ns in [f.p50_ns, f.p90_ns, f.p95_ns, f.p99_ns, f.max_ns] {
            write!(out, "{:>11}", ms(ns as f64))?;
        }
        writeln!(out)?;
    }
    let unmeasured = rows.iter().filter(|(_, f): &&(&str, &StreamFigure)| f.count == 0).map(|(name, _)| *name);
    let unmeasured: Vec<&str> = unmeasured.collect();
    if !unmeasured.is_empty() {
        writeln!(out, "  ({} not measured: no response had two or more tokens)", unmeasured.join(", "))?;
    }
    Ok(())
}

/// Nanoseconds as milliseconds, for the table.
fn ms(ns: f64) -> String {
    format!("{:.2} ms", ns / 1e6)
}
