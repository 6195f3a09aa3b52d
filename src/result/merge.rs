//! Merging results from several runs (several machines) into the result one
//! run would have given: counts add, histograms add bucket by bucket (so
//! every percentile is exact, not an average of percentiles), minima and
//! maxima are global, and the run's time is the union of the parts' time
//! windows, over which Requests/sec is computed. Timelines add up interval
//! by interval, aligned by the wall clock.

use std::time::Duration;

use super::{Meta, Part, ResultDoc, Target};
use crate::stats::{Timeline, WorkerStats};
use crate::summary::{GeneratorCpu, Protocol, Rate, RunInfo};
use crate::wallclock;

const OVERFLOW: &str = "the results' totals do not fit in 64 bits; are the files corrupt?";

/// Union of `[start, end]` intervals: sorted, overlaps joined.
pub fn union(mut windows: Vec<[u64; 2]>) -> Vec<[u64; 2]> {
    windows.sort_unstable();
    let mut joined: Vec<[u64; 2]> = Vec::with_capacity(windows.len());
    for [start, end] in windows {
        match joined.last_mut() {
            Some(last) if start <= last[1] => last[1] = last[1].max(end),
            _ => joined.push([start, end.max(start)]),
        }
    }
    joined
}

/// The parts a document stands for: itself, or the parts it was merged from.
fn parts_of(doc: &ResultDoc) -> Vec<Part> {
    if !doc.parts.is_empty() {
        return doc.parts.clone();
    }
    vec![Part {
        command: doc.command.clone(),
        start_utc: doc.start_utc.clone(),
        end_utc: doc.end_utc.clone(),
        start_unix_ns: doc.start_unix_ns,
        end_unix_ns: doc.end_unix_ns,
    }]
}

/// The wall-clock windows a document measured: a single run's span
/// without its warm-up (a merged document's windows are already so).
fn measured_windows(doc: &ResultDoc) -> Vec<[u64; 2]> {
    let mut windows = doc.run.windows_ns.clone();
    if let (true, Some(warmup), Some(first)) = (doc.parts.is_empty(), doc.run.warmup, windows.first_mut()) {
        let warmup_ns = Duration::try_from_secs_f64(warmup.seconds).map_or(u64::MAX, crate::stats::nanos);
        first[0] = first[0].saturating_add(warmup_ns).min(first[1]);
    }
    windows
}

fn describe(t: &Target) -> String {
    format!("{} {}", t.method, t.url)
}

/// Merges `docs` into one result (one document is returned as it is).
/// The rates of runs that all had one, added up; their arrivals when all
/// drew them the same way.
fn merged_rate(rates: &[Rate]) -> Rate {
    let arrivals = rates.first().and_then(|first| first.arrivals.clone());
    Rate {
        target: rates.iter().map(|r| r.target).sum(),
        achieved: rates.iter().map(|r| r.achieved).sum(),
        shape: None,
        arrivals: arrivals.filter(|a| rates.iter().all(|r| r.arrivals.as_ref() == Some(a))),
    }
}

/// Whether every run judged good requests by the same `--goodput` limits
/// (only then do they add up); different limits are refused unless `force`.
fn same_goodput(docs: &[ResultDoc], force: bool) -> Result<bool, String> {
    let same = docs.windows(2).all(|w| w[0].run.goodput == w[1].run.goodput);
    if !same && !force {
        return Err("the results judged goodput by different --goodput limits; add --force to merge them anyway, \
                    without goodput"
            .into());
    }
    Ok(same)
}

/// Different targets are refused unless `force`.
pub fn merge(docs: &[ResultDoc], force: bool, command: Vec<String>) -> Result<ResultDoc, String> {
    let first = docs.first().ok_or("nothing to merge")?;
    if let [only] = docs {
        only.stats()?;
        return Ok(only.clone());
    }
    if let Some(other) = docs.iter().find(|d| d.target != first.target).filter(|_| !force) {
        return Err(format!(
            "the results are for different targets ({} and {}); add --force to merge them anyway",
            describe(&first.target),
            describe(&other.target)
        ));
    }
    // Per-target rows add up row by row only over the same list of targets.
    let targets_of = |d: &ResultDoc| d.run.requests.as_ref().map(|r| r.targets.clone());
    let same_targets = docs.iter().all(|d| targets_of(d) == targets_of(first));
    if !same_targets && !force {
        return Err("the results sent different lists of targets (--targets); add --force to merge them anyway, \
                    without per-target figures"
            .into());
    }
    let mut stats = WorkerStats::new();
    for (i, doc) in docs.iter().enumerate() {
        let part = doc.stats().map_err(|e| format!("result {}: {e}", i + 1))?;
        stats.merge(&part).map_err(|_| format!("result {}: its counts overflow the merged totals", i + 1))?;
    }
    if !same_targets {
        stats.targets = crate::stats::TargetStats::default();
    }
    let same_goodput = same_goodput(docs, force)?;
    if !same_goodput {
        stats.counts.0[crate::stats::counters::GOOD] = 0;
    }
    let windows = union(docs.iter().flat_map(measured_windows).collect());
    let elapsed_ns = windows.iter().try_fold(0u64, |sum, w| sum.checked_add(w[1] - w[0])).ok_or(OVERFLOW)?;
    let infos: Vec<RunInfo> = docs.iter().map(ResultDoc::run_info).collect();
    let protocol = merged_protocol(&infos)?;
    let mut backends: Vec<&str> = Vec::new();
    for info in &infos {
        if !backends.contains(&info.backend.as_str()) {
            backends.push(&info.backend);
        }
    }
    let rates: Option<Vec<Rate>> = infos.iter().map(|i| i.rate.clone()).collect();
    let max = |f: fn(&RunInfo) -> Option<f64>| infos.iter().filter_map(f).reduce(f64::max);
    let parts: Vec<Part> = docs.iter().flat_map(parts_of).collect();
    let info = RunInfo {
        elapsed: Duration::from_nanos(elapsed_ns),
        backend: backends.join(" + "),
        workers: infos.iter().try_fold(0usize, |sum, i| sum.checked_add(i.workers)).ok_or(OVERFLOW)?,
        connections: infos.iter().try_fold(0usize, |sum, i| sum.checked_add(i.connections)).ok_or(OVERFLOW)?,
        interrupted: infos.iter().any(|i| i.interrupted),
        rate: rates.as_deref().map(merged_rate),
        dns: infos.iter().filter_map(|i| i.dns).max_by_key(|d| d.0),
        load: GeneratorCpu {
            own: max(|i| i.load.own),
            cores: infos.iter().try_fold(0usize, |sum, i| sum.checked_add(i.load.cores)).ok_or(OVERFLOW)?,
            cores_busy: max(|i| i.load.cores_busy),
        },
        merged: super::merged(&parts),
        stages: None,
        // The longest, so that the timeline's warm-up counts are read back.
        warmup: infos.iter().filter_map(|i| i.warmup).max(),
        requests: infos.iter().find_map(|i| i.requests.clone()).filter(|_| same_targets),
        goodput: infos.iter().find_map(|i| i.goodput).filter(|_| same_goodput),
        protocol,
        // Kept when every run went through the same proxy.
        proxy: infos
            .first()
            .and_then(|i| i.proxy.clone())
            .filter(|p| infos.iter().all(|i| i.proxy.as_ref() == Some(p))),
    };
    let requested: Vec<u64> = docs.iter().filter_map(|d| d.start_at.as_ref().map(|s| s.requested_unix_ns)).collect();
    let same_start_at = requested.len() == docs.len() && requested.windows(2).all(|w| w[0] == w[1]);
    let meta = Meta {
        command,
        target: first.target.clone(),
        start: wallclock::from_unix_ns(windows.first().map_or(0, |w| w[0])),
        start_at: requested.first().filter(|_| same_start_at).map(|&ns| wallclock::from_unix_ns(ns)),
        parts,
        windows_ns: windows,
        machine: None,
    };
    let mut timeline = timeline(docs, meta.windows_ns.first().map_or(0, |w| w[0]))?;
    if let Some(timeline) = timeline.as_mut().filter(|_| !same_goodput) {
        timeline.forget_counter(crate::stats::counters::GOOD);
    }
    Ok(ResultDoc::new(&crate::summary::Summary::new(&stats, &info).with_timeline(timeline.as_ref()), meta))
}

/// The documents' timelines added up, aligned by wall clock: each starts
/// at its own document's start, rounded to the nearest interval of the
/// merged timeline, which begins at `start_unix_ns`. None unless every
/// document has one (a timeline of some parts would not add up to the
/// merged counts).
fn timeline(docs: &[ResultDoc], start_unix_ns: u64) -> Result<Option<Timeline>, String> {
    let mut merged: Option<Timeline> = None;
    for (i, doc) in docs.iter().enumerate() {
        let Some(part) = doc.timeline().map_err(|e| format!("result {}: {e}", i + 1))? else { return Ok(None) };
        let interval_ns = part.interval().as_nanos().max(1);
        let late_ns = u128::from(doc.start_unix_ns.saturating_sub(start_unix_ns));
        let offset = usize::try_from((late_ns + interval_ns / 2) / interval_ns).map_err(|_| OVERFLOW)?;
        let merged = merged.get_or_insert_with(|| Timeline::new(part.interval()));
        merged.merge(&part, offset).map_err(|e| format!("result {} cannot be merged: {e}", i + 1))?;
    }
    Ok(merged)
}

/// The protocol of results to merge: they must all have spoken the same
/// one (HTTP/1.1 and HTTP/2 figures do not add up to one run's); over
/// HTTP/2 the streams per connection are kept when all runs used the same.
fn merged_protocol(infos: &[RunInfo]) -> Result<Protocol, String> {
    let first = infos.first().map(|i| i.protocol).unwrap_or_default();
    if let Some(other) = infos.iter().map(|i| i.protocol).find(|p| p.name() != first.name()) {
        return Err(format!(
            "the results spoke different protocols ({} and {}); merge runs of one protocol",
            first.name(),
            other.name()
        ));
    }
    Ok(match first {
        Protocol::Http2 { streams } if infos.iter().all(|i| i.protocol == first) => Protocol::Http2 { streams },
        Protocol::Http2 { .. } => Protocol::Http2 { streams: None },
        Protocol::Http1 => Protocol::Http1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_join_where_they_overlap() {
        assert_eq!(union(vec![[5, 9], [1, 3], [2, 4], [9, 12], [20, 21]]), vec![[1, 4], [5, 12], [20, 21]]);
        assert_eq!(union(vec![]), Vec::<[u64; 2]>::new());
    }
}
