//! The result's account of a run with several targets or templates: what
//! the requests were (`run.requests`) and each target's figures
//! (`targets`), with every target's histogram in full so that results
//! merge per target as they do overall.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::histogram::HistogramDoc;
use crate::stats::targets::MAX_ROWS;
use crate::stats::{Overflow, TargetRow, TargetStats};
use crate::summary::{Requests, Summary};

/// `run.requests`: present when the run had several targets or templates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestsDoc {
    /// Each target as `METHOD URL`, in the order given.
    pub targets: Vec<String>,
    /// `round-robin` or `random`.
    pub order: String,
    /// The seed of random values and order (`--seed` repeats them).
    pub seed: u64,
    /// Distinct requests pre-built before the start.
    pub pool: usize,
    /// Distinct requests sent (every request, with `{{seq}}`).
    pub distinct_used: u64,
    pub templated: bool,
    /// The targets came from `--targets`.
    pub from_file: bool,
}

impl RequestsDoc {
    pub fn of(r: &Requests) -> RequestsDoc {
        RequestsDoc {
            targets: r.labels.clone(),
            order: r.order.clone(),
            seed: r.seed,
            pool: r.pool,
            distinct_used: r.used,
            templated: r.templated,
            from_file: r.from_file,
        }
    }

    pub fn requests(&self) -> Requests {
        Requests {
            labels: self.targets.clone(),
            order: self.order.clone(),
            seed: self.seed,
            pool: self.pool,
            used: self.distinct_used,
            templated: self.templated,
            from_file: self.from_file,
        }
    }
}

/// One row of `targets`: a target, or the last row holding every target
/// beyond the first 64 (`grouped` of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetDoc {
    /// `METHOD URL`, or `other (N targets)`.
    pub target: String,
    /// Targets this row counts together (0: just the one named).
    pub grouped: usize,
    /// Requests finished: responses and errors (requests never sent, or
    /// aborted, are in no row).
    pub requests: u64,
    pub responses: u64,
    pub errors: u64,
    pub status_codes: BTreeMap<u16, u64>,
    /// Responses whose code was beyond the 8 counted one by one.
    pub other_codes: u64,
    /// Derived from `latency`.
    pub p50_s: f64,
    pub p99_s: f64,
    /// Responses and timeouts, from each request's intended start.
    pub latency: HistogramDoc,
}

/// The `targets` rows of `summary` (none for a run with one target).
pub fn docs_of(summary: &Summary) -> Option<Vec<TargetDoc>> {
    let rows = summary.stats.targets.rows();
    if rows.is_empty() {
        return None;
    }
    let grouped = summary.stats.targets.grouped();
    let docs = rows.iter().zip(&summary.targets).enumerate().map(|(i, (row, shown))| TargetDoc {
        target: shown.label.clone(),
        grouped: if grouped > 0 && i + 1 == rows.len() { grouped } else { 0 },
        requests: shown.requests,
        responses: row.responses,
        errors: row.errors,
        status_codes: shown.codes.iter().copied().collect(),
        other_codes: row.other_codes,
        p50_s: shown.p50_ns as f64 / 1e9,
        p99_s: shown.p99_ns as f64 / 1e9,
        latency: HistogramDoc::of(&row.latency),
    });
    Some(docs.collect())
}

/// The per-target stats `docs` were made from.
pub fn stats_of(docs: &[TargetDoc], targets: usize) -> Result<TargetStats, String> {
    if docs.len() > MAX_ROWS + 1 {
        return Err(format!("{} target rows; vastar writes at most {}", docs.len(), MAX_ROWS + 1));
    }
    let mut rows = Vec::with_capacity(docs.len());
    for (i, doc) in docs.iter().enumerate() {
        let latency = doc.latency.histogram(&format!("of target {}", i + 1))?;
        let codes: Vec<(u16, u64)> = doc.status_codes.iter().map(|(&c, &n)| (c, n)).collect();
        let coded = codes.iter().try_fold(doc.other_codes, |sum, &(_, n)| sum.checked_add(n));
        if coded != Some(doc.responses) || doc.responses.checked_add(doc.errors) != Some(doc.requests) {
            return Err(format!("target {}: its counts do not add up", i + 1));
        }
        let row = TargetRow::rebuilt((doc.responses, doc.errors), &codes, doc.other_codes, latency)
            .map_err(|Overflow| format!("target {}: its counts overflow", i + 1))?;
        rows.push(row);
    }
    Ok(TargetStats::from_rows(targets.max(docs.len()), rows))
}
