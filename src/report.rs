//! The text report printed after a run.
//!
//! A pure function of a stats snapshot and the run's facts, written to any
//! `impl Write`, so it can be tested byte for byte.

use std::io::{self, Write};
use std::time::Duration;

use crate::stats::{Phase, WorkerStats};

/// Facts about the run that are not measurements.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub elapsed: Duration,
    pub backend: &'static str,
    pub workers: usize,
    pub connections: usize,
}

/// Percentiles shown in the distribution, as hey plus the far tail.
pub const PERCENTILES: [f64; 9] = [10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99];

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Writes the whole report.
pub fn render(out: &mut impl Write, stats: &WorkerStats, info: &RunInfo) -> io::Result<()> {
    summary(out, stats, info)?;
    distribution(out, stats)?;
    statuses(out, stats)?;
    errors(out, stats)?;
    details(out, stats)
}

fn summary(out: &mut impl Write, stats: &WorkerStats, info: &RunInfo) -> io::Result<()> {
    let lat = &stats.latency;
    let elapsed = info.elapsed.as_secs_f64();
    let rps = if elapsed > 0.0 { stats.responses as f64 / elapsed } else { 0.0 };
    let per_request = stats.body_bytes.checked_div(stats.responses).unwrap_or(0);
    writeln!(out, "Summary:")?;
    writeln!(out, "  Total:        {elapsed:.4} secs")?;
    writeln!(out, "  Slowest:      {:.4} secs", secs(lat.max_ns()))?;
    writeln!(out, "  Fastest:      {:.4} secs", secs(lat.min_ns()))?;
    writeln!(out, "  Average:      {:.4} secs", lat.mean_ns() / 1e9)?;
    writeln!(out, "  Requests/sec: {rps:.2}")?;
    writeln!(out, "  Total data:   {} bytes", stats.body_bytes)?;
    writeln!(out, "  Size/request: {per_request} bytes")?;
    writeln!(
        out,
        "  Backend:      {}, {} worker{} x {} connections",
        info.backend,
        info.workers,
        if info.workers == 1 { "" } else { "s" },
        info.connections
    )?;
    writeln!(out)
}

fn distribution(out: &mut impl Write, stats: &WorkerStats) -> io::Result<()> {
    if stats.latency.count() == 0 {
        return Ok(());
    }
    writeln!(out, "Response time distribution:")?;
    for p in PERCENTILES {
        let ns = stats.latency.percentile_ns(p);
        writeln!(out, "  {p:>6.2}% in {:.4} secs", secs(ns))?;
    }
    writeln!(out)
}

fn statuses(out: &mut impl Write, stats: &WorkerStats) -> io::Result<()> {
    writeln!(out, "Status code distribution:")?;
    for (code, count) in stats.statuses() {
        writeln!(out, "  [{code}] {count} responses")?;
    }
    writeln!(out)
}

fn errors(out: &mut impl Write, stats: &WorkerStats) -> io::Result<()> {
    if stats.total_errors() == 0 && stats.aborted == 0 {
        return Ok(());
    }
    writeln!(out, "Error distribution:")?;
    for (kind, count) in stats.errors() {
        writeln!(out, "  [{count}] {}", kind.label())?;
    }
    if stats.aborted > 0 {
        writeln!(out, "  [{}] aborted in flight at the end of the run", stats.aborted)?;
    }
    writeln!(out)
}

fn details(out: &mut impl Write, stats: &WorkerStats) -> io::Result<()> {
    let line = |out: &mut dyn Write, name: &str, p: &Phase| {
        writeln!(
            out,
            "  {name:<10} {:.4} secs, {:.4} secs, {:.4} secs",
            secs(p.mean_ns()),
            secs(p.min_ns()),
            secs(p.max_ns)
        )
    };
    writeln!(out, "Details (average, fastest, slowest):")?;
    line(out, "req write:", &stats.write)?;
    line(out, "resp wait:", &stats.wait)?;
    line(out, "resp read:", &stats.read)?;
    if stats.connect.count > 0 {
        line(out, "connect:", &stats.connect)?;
        writeln!(out, "  ({} new connections)", stats.connect.count)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{ErrorKind, Record};

    fn record(result: Result<u16, ErrorKind>, ms: u64) -> Record {
        let d = Duration::from_millis(ms);
        Record {
            result,
            latency: d,
            write: d / 10,
            wait: d / 2,
            read: d * 2 / 5,
            wire_bytes: 50,
            body_bytes: if result.is_ok() { 10 } else { 0 },
            connect: Phase::default(),
        }
    }

    #[test]
    fn report_of_a_known_run() {
        let mut stats = WorkerStats::new();
        for ms in [10, 20, 30, 40] {
            stats.record(&record(Ok(200), ms));
        }
        stats.record(&record(Ok(404), 50));
        stats.record(&record(Err(ErrorKind::Timeout), 0));
        stats.aborted = 2;
        let info = RunInfo { elapsed: Duration::from_secs(2), backend: "portable (tokio)", workers: 1, connections: 4 };
        let mut out = Vec::new();
        render(&mut out, &stats, &info).unwrap();
        let text = String::from_utf8(out).unwrap();
        for needle in [
            "  Total:        2.0000 secs\n",
            "  Slowest:      0.0500 secs\n",
            "  Fastest:      0.0100 secs\n",
            "  Average:      0.0300 secs\n",
            "  Requests/sec: 2.50\n",
            "  Total data:   50 bytes\n",
            "  Size/request: 10 bytes\n",
            "  Backend:      portable (tokio), 1 worker x 4 connections\n",
            "   50.00% in 0.0299 secs\n", // bucket midpoint, within 0.4%
            "  [200] 4 responses\n  [404] 1 responses\n",
            "  [1] request timeout\n",
            "  [2] aborted in flight",
            "  resp wait: 0.0150 secs, 0.0050 secs, 0.0250 secs\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(!text.contains("connect:"));
    }
}
