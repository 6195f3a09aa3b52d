//! A histogram that keeps only its non-empty buckets, for the many small
//! histograms a run hands over and keeps (each interval of the timeline
//! holds one per distribution): a dense [`Histogram`] is 36 KB whatever it
//! holds, an interval's few hundred buckets are a few kilobytes.

use super::histogram::{Histogram, Overflow, Phase, percentile};

/// A histogram in the layout of [`Histogram`], holding only its non-empty
/// buckets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sparse {
    index: Box<[u16]>,
    counts: Box<[u64]>,
    totals: Phase,
}

impl Sparse {
    pub fn of(h: &Histogram) -> Sparse {
        // Bucket indexes are below histogram::BUCKETS (4608), so they fit in u16.
        let (index, counts): (Vec<u16>, Vec<u64>) = h.raw_buckets().map(|(i, c)| (i as u16, c)).unzip();
        Sparse { index: index.into(), counts: counts.into(), totals: *h.totals() }
    }

    /// Non-empty buckets as (index, count), ascending.
    pub fn buckets(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.index.iter().map(|&i| usize::from(i)).zip(self.counts.iter().copied())
    }

    pub fn count(&self) -> u64 {
        self.totals.count
    }

    pub fn sum_ns(&self) -> u128 {
        self.totals.sum_ns
    }

    /// Smallest value (0 when empty).
    pub fn min_ns(&self) -> u64 {
        self.totals.min_ns()
    }

    pub fn max_ns(&self) -> u64 {
        self.totals.max_ns
    }

    /// As [`Histogram::percentile_ns`].
    pub fn percentile_ns(&self, p: f64) -> u64 {
        let Phase { count, min_ns, max_ns, .. } = self.totals;
        if count == 0 {
            return 0;
        }
        percentile(self.buckets(), count, min_ns, max_ns, p)
    }

    /// The values of both.
    pub fn merged(&self, other: &Sparse) -> Result<Sparse, Overflow> {
        if other.count() == 0 {
            return Ok(self.clone());
        }
        if self.count() == 0 {
            return Ok(other.clone());
        }
        let (mut index, mut counts) = (Vec::new(), Vec::new());
        let (mut a, mut b) = (self.buckets().peekable(), other.buckets().peekable());
        while let Some((i, n)) = match (a.peek().copied(), b.peek().copied()) {
            (Some((i, x)), Some((j, y))) => match i.cmp(&j) {
                std::cmp::Ordering::Less => a.next(),
                std::cmp::Ordering::Greater => b.next(),
                std::cmp::Ordering::Equal => {
                    a.next();
                    b.next();
                    Some((i, x.checked_add(y).ok_or(Overflow)?))
                }
            },
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        } {
            // Indexes come from histograms of histogram::BUCKETS (4608) buckets.
            index.push(i as u16);
            counts.push(n);
        }
        let mut totals = self.totals;
        totals.merge(&other.totals)?;
        Ok(Sparse { index: index.into(), counts: counts.into(), totals })
    }
}
