//! Figures per target, for runs that send several (a target file, or
//! templates over several URLs): how many requests each got, their status
//! codes, errors and latency.
//!
//! Allocated once per worker before the run, as a fixed number of rows:
//! one per target up to [`crate::stats::targets::MAX_ROWS`], then one
//! "other" row for every target beyond, so recording never allocates and
//! a file of ten thousand targets cannot cost ten thousand histograms.

use super::histogram::{Histogram, Overflow, add};
use super::record::{Record, nanos};
use super::sink::{Ended, Sink};

/// Targets with a row of their own; later ones share the last row.
pub const MAX_ROWS: usize = 64;

/// Distinct status codes counted per target; further codes are counted
/// together (a target rarely answers with more than a few).
pub const CODES: usize = 8;

/// One target's figures (or, in the last row of a long list, the other
/// targets' together).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRow {
    pub responses: u64,
    pub errors: u64,
    /// (status, count), the first [`CODES`] codes seen, in that order.
    codes: [(u16, u64); CODES],
    /// Responses whose code did not fit in `codes`.
    pub other_codes: u64,
    /// Latency from the intended start, as the run's percentiles are.
    pub latency: Histogram,
}

impl TargetRow {
    fn new() -> TargetRow {
        TargetRow { responses: 0, errors: 0, codes: [(0, 0); CODES], other_codes: 0, latency: Histogram::new() }
    }

    /// A row rebuilt from its figures (a result file's).
    pub fn rebuilt(
        (responses, errors): (u64, u64),
        codes: &[(u16, u64)],
        other_codes: u64,
        latency: Histogram,
    ) -> Result<TargetRow, Overflow> {
        let mut row = TargetRow { responses, errors, other_codes, latency, ..TargetRow::new() };
        for &(code, n) in codes {
            row.add_code(code, n)?;
        }
        Ok(row)
    }

    /// Status codes and their counts, in the order first seen.
    pub fn codes(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.codes.iter().copied().filter(|&(code, _)| code != 0)
    }

    /// Adds `n` responses of `code` to the per-code counts.
    pub fn add_code(&mut self, code: u16, n: u64) -> Result<(), Overflow> {
        let slot =
            self.codes.iter().position(|&(c, _)| c == code).or_else(|| self.codes.iter().position(|&(c, _)| c == 0));
        match slot {
            Some(i) => {
                self.codes[i].0 = code;
                add(&mut self.codes[i].1, n)
            }
            None => add(&mut self.other_codes, n),
        }
    }

    /// Requests finished: responses and errors.
    pub fn requests(&self) -> u64 {
        self.responses.saturating_add(self.errors)
    }

    fn merge(&mut self, other: &TargetRow) -> Result<(), Overflow> {
        add(&mut self.responses, other.responses)?;
        add(&mut self.errors, other.errors)?;
        add(&mut self.other_codes, other.other_codes)?;
        for (code, n) in other.codes() {
            self.add_code(code, n)?;
        }
        self.latency.merge(&other.latency)
    }
}

/// The rows of a run with several targets (none with one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetStats {
    rows: Vec<TargetRow>,
    /// Targets of the run (the rows cover them, the last row perhaps several).
    targets: usize,
}

impl TargetStats {
    /// Rows for `targets` targets: none for one.
    pub fn new(targets: usize) -> TargetStats {
        let rows = if targets > 1 { targets.min(MAX_ROWS + 1) } else { 0 };
        TargetStats { rows: (0..rows).map(|_| TargetRow::new()).collect(), targets: if rows > 0 { targets } else { 0 } }
    }

    /// The row of target `target` (from 0).
    fn row(&mut self, target: u16) -> Option<&mut TargetRow> {
        let last = self.rows.len().checked_sub(1)?;
        self.rows.get_mut(usize::from(target).min(last))
    }

    /// Records a finished request of `target`.
    #[inline]
    pub fn record(&mut self, target: u16, r: &Record) {
        let Some(row) = self.row(target) else { return };
        match r.result {
            Ok(status) => {
                row.responses += 1;
                let _ = row.add_code(status, 1);
                row.latency.record(nanos(r.queued + r.latency));
            }
            Err(_) => row.errors += 1,
        }
    }

    /// The rows: one per target, or when there are more than
    /// [`MAX_ROWS`], that many and then one for all the others.
    pub fn rows(&self) -> &[TargetRow] {
        &self.rows
    }

    /// Targets of the run (0 when it had one).
    pub fn targets(&self) -> usize {
        self.targets
    }

    /// Targets counted together in the last row (0 when each has its own).
    pub fn grouped(&self) -> usize {
        if self.targets > MAX_ROWS + 1 { self.targets - MAX_ROWS } else { 0 }
    }

    /// Adds `other`'s rows (from a worker of the same run).
    pub fn merge(&mut self, other: &TargetStats) -> Result<(), Overflow> {
        if self.rows.is_empty() {
            *self = other.clone();
            return Ok(());
        }
        for (a, b) in self.rows.iter_mut().zip(&other.rows) {
            a.merge(b)?;
        }
        Ok(())
    }

    /// Stats of `targets` targets rebuilt from their rows (a result file's).
    pub fn from_rows(targets: usize, rows: Vec<TargetRow>) -> TargetStats {
        TargetStats { rows, targets }
    }
}

/// The rows count the measured requests that were sent (not the
/// warm-up's, nor those that never got a connection).
impl Sink for TargetStats {
    #[inline]
    fn finished(&mut self, ended: &Ended) {
        if let Some(target) = ended.target.filter(|_| !ended.warmup) {
            self.record(target, ended.record);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::ErrorKind;

    fn record(result: Result<u16, ErrorKind>, ms: u64) -> Record {
        Record::sample(result, Duration::from_millis(ms))
    }

    #[test]
    fn one_target_has_no_rows_and_many_share_the_last() {
        assert!(TargetStats::new(1).rows().is_empty());
        let mut few = TargetStats::new(3);
        few.record(2, &record(Ok(200), 5));
        few.record(2, &record(Err(ErrorKind::Timeout), 5));
        assert_eq!(few.rows().len(), 3);
        assert_eq!((few.rows()[2].responses, few.rows()[2].errors, few.grouped()), (1, 1, 0));
        let mut many = TargetStats::new(100);
        assert_eq!((many.rows().len(), many.grouped()), (MAX_ROWS + 1, 100 - MAX_ROWS));
        for target in [63, 64, 99] {
            many.record(target, &record(Ok(200), 1));
        }
        assert_eq!((many.rows()[63].responses, many.rows()[64].responses), (1, 2));
        let exact = TargetStats::new(MAX_ROWS + 1);
        assert_eq!((exact.rows().len(), exact.grouped()), (MAX_ROWS + 1, 0), "65 targets: each its own row");
    }

    #[test]
    fn codes_beyond_the_fixed_slots_are_counted_together_and_rows_merge() {
        let mut a = TargetStats::new(2);
        for code in 200..210 {
            a.record(0, &record(Ok(code), 1));
        }
        a.record(0, &record(Ok(200), 1));
        let row = &a.rows()[0];
        assert_eq!(row.codes().count(), CODES);
        assert_eq!((row.codes().next(), row.other_codes, row.responses), (Some((200, 2)), 2, 11));
        let mut b = TargetStats::new(2);
        b.record(0, &record(Ok(200), 3));
        b.record(1, &record(Ok(404), 3));
        b.merge(&a).unwrap();
        assert_eq!(b.rows()[0].codes().next(), Some((200, 3)));
        assert_eq!((b.rows()[0].requests(), b.rows()[1].requests(), b.rows()[0].latency.count()), (12, 1, 12));
        let mut empty = TargetStats::default();
        empty.merge(&b).unwrap();
        assert_eq!(empty, b);
    }
}
