//! Fixed-size log-linear latency histogram.
//!
//! Values are nanoseconds. Below 256 ns every value has its own bucket; above,
//! each power of two is split into 128 equal buckets, so a bucket is never
//! wider than 1/128 of its lower bound and the midpoint used as its value is
//! within 0.4% of any value recorded in it (the ≤ 1% the report promises).
//! The bucket array is allocated once and covers up to 2^42 ns (about 73
//! minutes); larger values land in the last bucket while min/max/sum stay
//! exact. Recording is an index computation and an increment: no allocation,
//! so a ten-minute run uses the memory of a ten-second one. Per-worker
//! histograms are merged once at the end by adding counts (as wrk's stats.c).

/// Mantissa bits: 2^7 = 128 buckets per power of two.
const SUB_BITS: u32 = 7;
const SUB_COUNT: u64 = 1 << SUB_BITS;
/// Largest exponent tracked exactly.
const MAX_EXP: u32 = 42;
/// Number of buckets: the linear part plus 128 per octave up to 2^MAX_EXP.
pub const BUCKETS: usize = ((MAX_EXP - SUB_BITS) as usize + 1) * SUB_COUNT as usize;

/// A merge whose sums do not fit in their counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow;

/// `*a += b`, refusing to wrap.
pub(crate) fn add(a: &mut u64, b: u64) -> Result<(), Overflow> {
    *a = a.checked_add(b).ok_or(Overflow)?;
    Ok(())
}

/// Count, sum, minimum and maximum of values in nanoseconds: one phase of
/// a request (as hey's Details), and the totals every histogram keeps
/// beside its buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phase {
    pub count: u64,
    pub sum_ns: u128,
    pub min_ns: u64,
    pub max_ns: u64,
}

impl Default for Phase {
    fn default() -> Self {
        Phase { count: 0, sum_ns: 0, min_ns: u64::MAX, max_ns: 0 }
    }
}

impl Phase {
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds `other`'s values. On overflow (only corrupt or hostile result
    /// files get there) `self` is left partly merged and must be dropped.
    pub fn merge(&mut self, other: &Phase) -> Result<(), Overflow> {
        add(&mut self.count, other.count)?;
        self.sum_ns = self.sum_ns.checked_add(other.sum_ns).ok_or(Overflow)?;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        Ok(())
    }

    pub fn mean_ns(&self) -> u64 {
        if self.count == 0 { 0 } else { (self.sum_ns / u128::from(self.count)) as u64 }
    }

    /// Smallest value recorded (0 when empty).
    pub fn min_ns(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min_ns }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    counts: Box<[u64]>,
    totals: Phase,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Bucket holding `v`.
pub(super) fn bucket_of(v: u64) -> usize {
    if v < 2 * SUB_COUNT {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    if exp >= MAX_EXP {
        return BUCKETS - 1;
    }
    let shift = exp - SUB_BITS;
    (shift as usize) * SUB_COUNT as usize + (v >> shift) as usize
}

/// Lowest value and width of bucket `i`.
fn bucket_range(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < 2 * SUB_COUNT {
        return (i, 1);
    }
    let shift = i / SUB_COUNT - 1;
    let mantissa = i % SUB_COUNT + SUB_COUNT;
    (mantissa << shift, 1 << shift)
}

/// Value at percentile `p` of `count` values in `buckets` ((index, count),
/// ascending), whose exact extremes are `min_ns` and `max_ns`: the value
/// at rank ceil(p% of count), as its bucket's midpoint clamped to the
/// extremes. `count` must be more than 0.
pub(crate) fn percentile(
    buckets: impl Iterator<Item = (usize, u64)>,
    count: u64,
    min_ns: u64,
    max_ns: u64,
    p: f64,
) -> u64 {
    let rank = ((p / 100.0) * count as f64).ceil().clamp(1.0, count as f64) as u64;
    // The extremes are known exactly; only values in between are bucketed.
    if rank == 1 {
        return min_ns;
    }
    if rank == count {
        return max_ns;
    }
    let mut seen = 0;
    for (i, c) in buckets {
        seen += c;
        if seen >= rank {
            let (low, width) = bucket_range(i);
            return (low + width / 2).clamp(min_ns, max_ns);
        }
    }
    max_ns
}

impl Histogram {
    pub fn new() -> Self {
        Histogram { counts: vec![0; BUCKETS].into_boxed_slice(), totals: Phase::default() }
    }

    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.counts[bucket_of(ns)] += 1;
        self.totals.record(ns);
    }

    /// Records a group of values that all fall in one bucket (see
    /// [`super::deferred::DeferredValues`]): as recording each of them.
    #[inline]
    pub fn record_group(&mut self, group: &Phase) {
        if group.count == 0 {
            return;
        }
        debug_assert_eq!(bucket_of(group.min_ns), bucket_of(group.max_ns), "a group shares one bucket");
        self.counts[bucket_of(group.min_ns)] += group.count;
        self.totals.count += group.count;
        self.totals.sum_ns += group.sum_ns;
        self.totals.min_ns = self.totals.min_ns.min(group.min_ns);
        self.totals.max_ns = self.totals.max_ns.max(group.max_ns);
    }

    /// Adds `other`'s values. On overflow (only corrupt or hostile result
    /// files get there) `self` is left partly merged and must be dropped.
    pub fn merge(&mut self, other: &Histogram) -> Result<(), Overflow> {
        // Only the buckets `other` uses are written: the rest of `self`
        // stays untouched memory, never made resident by a merge.
        for (a, &b) in self.counts.iter_mut().zip(other.counts.iter()).filter(|&(_, &b)| b > 0) {
            add(a, b)?;
        }
        self.totals.merge(&other.totals)
    }

    /// Count, sum, minimum and maximum of the values recorded.
    pub fn totals(&self) -> &Phase {
        &self.totals
    }

    pub fn count(&self) -> u64 {
        self.totals.count
    }

    /// Smallest value recorded (0 when empty).
    pub fn min_ns(&self) -> u64 {
        self.totals.min_ns()
    }

    pub fn max_ns(&self) -> u64 {
        self.totals.max_ns
    }

    pub fn mean_ns(&self) -> f64 {
        let Phase { count, sum_ns, .. } = self.totals;
        if count == 0 { 0.0 } else { sum_ns as f64 / count as f64 }
    }

    /// Value at percentile `p` (0..=100): the smallest recorded value such
    /// that at least p% of values are ≤ it, reported as its bucket's midpoint
    /// clamped to the exact min and max. 0 when empty.
    pub fn percentile_ns(&self, p: f64) -> u64 {
        let Phase { count, min_ns, max_ns, .. } = self.totals;
        if count == 0 {
            return 0;
        }
        percentile(self.counts.iter().copied().enumerate(), count, min_ns, max_ns, p)
    }

    /// Non-empty buckets in ascending order, each as (value, count): the
    /// bucket's midpoint clamped to the exact min and max.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let Phase { min_ns, max_ns, .. } = self.totals;
        self.counts.iter().enumerate().filter(|&(_, &c)| c > 0).map(move |(i, &c)| {
            let (low, width) = bucket_range(i);
            ((low + width / 2).clamp(min_ns, max_ns), c)
        })
    }

    /// Non-empty buckets as (index, count), ascending: with count, sum, min
    /// and max, everything needed to rebuild the histogram exactly
    /// ([`Histogram::from_parts`]). The index layout is the one described at
    /// the top of this file (and in `src/result/schema.md`).
    pub fn raw_buckets(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.counts.iter().enumerate().filter(|&(_, &c)| c > 0).map(|(i, &c)| (i, c))
    }

    /// Sum of all values recorded, in nanoseconds.
    pub fn sum_ns(&self) -> u128 {
        self.totals.sum_ns
    }

    /// The histogram whose [`Histogram::raw_buckets`] and totals these are.
    pub fn from_parts(
        buckets: impl IntoIterator<Item = (usize, u64)>,
        sum_ns: u128,
        min_ns: u64,
        max_ns: u64,
    ) -> Result<Histogram, String> {
        let mut h = Histogram::new();
        for (i, c) in buckets {
            let slot = h.counts.get_mut(i).ok_or_else(|| format!("bucket {i} is beyond the last ({})", BUCKETS - 1))?;
            *slot = slot.checked_add(c).ok_or("bucket count overflows")?;
            h.totals.count = h.totals.count.checked_add(c).ok_or("count overflows")?;
        }
        if h.totals.count > 0 {
            if min_ns > max_ns {
                return Err(format!("min {min_ns} ns is above max {max_ns} ns"));
            }
            // Every value lies between the extremes (what clear() relies on).
            let (low, high) = (bucket_of(min_ns), bucket_of(max_ns));
            if let Some((i, _)) = h.raw_buckets().find(|&(i, _)| i < low || i > high) {
                return Err(format!("bucket {i} lies outside min {min_ns} ns .. max {max_ns} ns"));
            }
            h.totals = Phase { count: h.totals.count, sum_ns, min_ns, max_ns };
        }
        Ok(h)
    }

    /// Empties the histogram, keeping its buckets' memory. Every value
    /// lies between the minimum and the maximum, so only their buckets and
    /// those between are zeroed: an interval's histogram clears the few
    /// pages it used, not all of them.
    pub fn clear(&mut self) {
        if self.totals.count > 0 {
            let (low, high) = (bucket_of(self.totals.min_ns), bucket_of(self.totals.max_ns));
            self.counts[low..=high].fill(0);
        }
        self.totals = Phase::default();
    }

    /// How many recorded values are ≤ `ns` (to bucket precision).
    pub fn count_at_or_below(&self, ns: u64) -> u64 {
        let last = bucket_of(ns);
        self.counts[..=last].iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_their_values() {
        let mut prev_end = 0;
        for i in 0..BUCKETS {
            let (low, width) = bucket_range(i);
            assert_eq!(low, prev_end, "bucket {i} starts where the previous ended");
            assert_eq!(bucket_of(low), i);
            assert_eq!(bucket_of(low + width - 1), i);
            prev_end = low + width;
        }
        assert_eq!(prev_end, 1 << MAX_EXP);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn relative_error_stays_under_one_percent_from_one_microsecond() {
        let mut v = 1_000u64;
        while v < (1 << MAX_EXP) {
            let (low, width) = bucket_range(bucket_of(v));
            let mid = low + width / 2;
            let err = (mid as f64 - v as f64).abs() / v as f64;
            assert!(err <= 0.01, "value {v}: midpoint {mid}, error {err}");
            v = v * 1001 / 1000 + 1;
        }
    }

    #[test]
    fn percentiles_of_a_known_set() {
        let mut h = Histogram::new();
        for ms in 1..=100u64 {
            h.record(ms * 1_000_000);
        }
        let close = |got: u64, want_ms: u64| {
            let want = want_ms as f64 * 1e6;
            assert!((got as f64 - want).abs() / want < 0.005, "got {got}, want {want}");
        };
        close(h.percentile_ns(50.0), 50);
        close(h.percentile_ns(90.0), 90);
        close(h.percentile_ns(99.0), 99);
        close(h.percentile_ns(10.0), 10);
        assert_eq!(h.percentile_ns(100.0), 100_000_000);
        assert_eq!(h.percentile_ns(0.0), 1_000_000);
        assert_eq!((h.min_ns(), h.max_ns(), h.count()), (1_000_000, 100_000_000, 100));
        assert_eq!(h.mean_ns(), 50_500_000.0);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in (0..10_000u64).map(|i| i * 7919 % 5_000_000) {
            if v % 2 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
            all.record(v);
        }
        a.merge(&b).unwrap();
        assert_eq!(a, all);
    }

    #[test]
    fn parts_rebuild_the_histogram_exactly() {
        let mut h = Histogram::new();
        for v in (1..5_000u64).map(|i| i * i * 31) {
            h.record(v);
        }
        let rebuilt = Histogram::from_parts(h.raw_buckets(), h.sum_ns(), h.min_ns(), h.max_ns()).unwrap();
        assert_eq!(rebuilt, h);
        assert!(Histogram::from_parts([(BUCKETS, 1)], 0, 0, 0).is_err());
        assert!(Histogram::from_parts([(5, 1)], 5, 9, 3).is_err());
        assert!(Histogram::from_parts([(5, 1), (300, 1)], 5, 5, 300).is_err(), "bucket 300 holds values above 300");
        assert!(Histogram::from_parts([(5, 1), (300, 1)], 5, 5, 1000).is_ok());
        assert_eq!(Histogram::from_parts([], 0, 0, 0).unwrap(), Histogram::new());
    }

    #[test]
    fn clearing_zeroes_every_bucket_used_and_merging_writes_only_those() {
        let (mut h, mut other) = (Histogram::new(), Histogram::new());
        for v in [3, 700, 1_000_000, 5_000_000_000, u64::MAX] {
            h.record(v);
        }
        other.record(42);
        h.merge(&other).unwrap();
        h.clear();
        assert_eq!(h, Histogram::new());
        assert!(h.counts.iter().all(|&c| c == 0));
    }

    #[test]
    fn empty_histogram_reports_zeros() {
        let h = Histogram::new();
        assert_eq!((h.percentile_ns(50.0), h.min_ns(), h.max_ns(), h.mean_ns()), (0, 0, 0, 0.0));
    }

    #[test]
    fn huge_values_keep_exact_extremes() {
        let mut h = Histogram::new();
        h.record(u64::MAX / 2);
        assert_eq!(h.max_ns(), u64::MAX / 2);
        assert_eq!(h.percentile_ns(50.0), u64::MAX / 2);
    }
}
