//! The report's account of a run with several targets or templates: one
//! line on what the requests were, and a table of each target's figures.

use std::io::{self, Write};

use crate::summary::{Requests, Summary, TargetSummary};

/// The overview's `Requests:` line.
pub fn requests_line(out: &mut impl Write, requests: &Requests) -> io::Result<()> {
    let n = requests.labels.len();
    let targets = match (n, requests.from_file) {
        (1, _) => "1 target".to_string(),
        (n, true) => format!("{n} targets from --targets, {}", requests.order),
        (n, false) => format!("{n} targets, {}", requests.order),
    };
    let plural = if requests.pool == 1 { "" } else { "s" };
    writeln!(
        out,
        "  Requests:     {targets}; {} pre-built request{plural}, {} distinct sent; seed {}",
        requests.pool, requests.used, requests.seed
    )
}

/// The `Targets:` table (nothing for a run with one target).
pub fn section(out: &mut impl Write, summary: &Summary) -> io::Result<()> {
    if summary.targets.is_empty() {
        return Ok(());
    }
    writeln!(out, "Targets (finished requests; latency from the intended start):")?;
    let codes: Vec<String> = summary.targets.iter().map(codes).collect();
    let width = codes.iter().map(String::len).max().unwrap_or(0).max("Status codes".len());
    writeln!(
        out,
        "  {:>9}  {:>7}  {:>10}  {:>10}  {:<width$}  Target",
        "Requests", "Errors", "p50", "p99", "Status codes"
    )?;
    for (row, codes) in summary.targets.iter().zip(&codes) {
        writeln!(
            out,
            "  {:>9}  {:>7}  {:>10}  {:>10}  {codes:<width$}  {}",
            row.requests,
            row.errors,
            ms(row.p50_ns, row.responses),
            ms(row.p99_ns, row.responses),
            row.label
        )?;
    }
    writeln!(out)
}

/// `200:97 404:3`, and the responses beyond the codes counted one by one.
fn codes(row: &TargetSummary) -> String {
    let mut parts: Vec<String> = row.codes.iter().map(|(code, n)| format!("{code}:{n}")).collect();
    if row.other_codes > 0 {
        parts.push(format!("other:{}", row.other_codes));
    }
    if parts.is_empty() { "-".to_string() } else { parts.join(" ") }
}

fn ms(ns: u64, samples: u64) -> String {
    if samples == 0 { "-".to_string() } else { format!("{:.3} ms", ns as f64 / 1e6) }
}
