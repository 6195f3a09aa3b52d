//! Named distributions measured beside the latency: the time to the first
//! byte of the response body, and for event streams the time to the first
//! token, the gaps between tokens and the time per output token.
//!
//! One table, [`METRICS`], says what each is; everything else goes over
//! the table: a request carries one optional value per metric
//! ([`Samples`]), the stats keep one histogram per metric ([`Metrics`],
//! allocated before the run) and each interval of the timeline a sparse
//! copy ([`SparseMetrics`]), and the summary, the report, the result file
//! and its merge, the HTML report, `diff` and `--assert` (`ttfb.p99<50ms`)
//! read them by name. A new metric is a row of the table and the code that
//! measures it (in `engine::connection`, when a stream ends), nothing else.
//!
//! Every metric is of successful responses (of any status): a request that
//! failed has no sample. Values are durations in nanoseconds.

use super::histogram::{Histogram, Overflow, Phase};
use super::sparse::Sparse;

/// One named distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    /// Its name in result files, `--assert` and `diff`: lower case, no dots.
    pub id: &'static str,
    /// Its name for people.
    pub label: &'static str,
    /// The unit of its values.
    pub unit: &'static str,
    /// What it measures, in one line.
    pub meaning: &'static str,
    /// A response has at most one value (else one per event).
    pub per_response: bool,
}

/// Time to first byte: the index of its row in [`METRICS`].
pub const TTFB: usize = 0;
/// Time to first token.
pub const TTFT: usize = 1;
/// Inter-token latency: the gaps between content events.
pub const ITL: usize = 2;
/// Time per output token.
pub const TPOT: usize = 3;

/// Every metric, in the order the outputs list them.
pub const METRICS: [Metric; 4] = [
    Metric {
        id: "ttfb",
        label: "Time to first byte",
        unit: "ns",
        meaning: "from each request's intended start to the first byte of the response body \
                  (to the end of its head when it has no body)",
        per_response: true,
    },
    Metric {
        id: "ttft",
        label: "Time to first token",
        unit: "ns",
        meaning: "from each streamed request's intended start to its first event with content",
        per_response: true,
    },
    Metric {
        id: "itl",
        label: "Inter-token latency",
        unit: "ns",
        meaning: "the gap between consecutive events with content, one value per gap",
        per_response: false,
    },
    Metric {
        id: "tpot",
        label: "Time per output token",
        unit: "ns",
        meaning: "per streamed response, (last content event - first) / (output tokens - 1); \
                  none with a single token",
        per_response: true,
    },
];

/// The index in [`METRICS`] of the metric named `id`.
pub fn find(id: &str) -> Option<usize> {
    METRICS.iter().position(|m| m.id == id)
}

/// The names of every metric, for messages: `ttfb, ...`.
pub fn names() -> String {
    METRICS.iter().map(|m| m.id).collect::<Vec<_>>().join(", ")
}

/// One request's value of each metric, in nanoseconds.
///
/// Kept as plain numbers with [`Samples::UNMEASURED`] for "no value", not
/// as `Option`s: recording them is on every response's path, and a
/// straight compare per metric is what it should cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Samples([u64; METRICS.len()]);

impl Default for Samples {
    fn default() -> Self {
        Samples([Samples::UNMEASURED; METRICS.len()])
    }
}

impl Samples {
    /// The value of a metric that was not measured. No duration a run can
    /// take reaches it (it is 584 years); a measurement that did is clamped
    /// one below.
    pub const UNMEASURED: u64 = u64::MAX;

    /// Sets the value of metric `metric` (an index in [`METRICS`]).
    #[inline]
    pub fn set(&mut self, metric: usize, ns: u64) {
        self.0[metric] = ns.min(Self::UNMEASURED - 1);
    }

    pub fn get(&self, metric: usize) -> Option<u64> {
        Some(self.0[metric]).filter(|&ns| ns != Self::UNMEASURED)
    }
}

/// One value of type `T` per metric, in the order of [`METRICS`]: the
/// stats' histograms ([`Metrics`]), an interval's ([`SparseMetrics`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerMetric<T>([T; METRICS.len()]);

/// One histogram per metric, allocated once.
pub type Metrics = PerMetric<Histogram>;

/// One sparse histogram per metric (an interval's).
pub type SparseMetrics = PerMetric<Sparse>;

impl<T> PerMetric<T> {
    /// The value of metric `metric` (an index in [`METRICS`]).
    pub fn get(&self, metric: usize) -> &T {
        &self.0[metric]
    }

    /// Replaces the value of metric `metric` (when reading a result file).
    pub fn set(&mut self, metric: usize, value: T) {
        self.0[metric] = value;
    }

    /// Each metric with its value, in the order of [`METRICS`].
    pub fn iter(&self) -> impl Iterator<Item = (&'static Metric, &T)> + '_ {
        METRICS.iter().zip(&self.0)
    }
}

impl Metrics {
    /// Records a request's samples: one histogram record per value, no allocation.
    #[inline]
    pub fn record(&mut self, samples: &Samples) {
        for metric in 0..METRICS.len() {
            let ns = samples.0[metric];
            if ns != Samples::UNMEASURED {
                self.0[metric].record(ns);
            }
        }
    }

    /// Records one value of metric `metric` (one of many per response).
    #[inline]
    pub fn record_one(&mut self, metric: usize, ns: u64) {
        self.0[metric].record(ns);
    }

    /// Records a group of values of metric `metric` that share a histogram
    /// bucket (see [`super::DeferredValues`]).
    #[inline]
    pub fn record_group(&mut self, metric: usize, group: &Phase) {
        self.0[metric].record_group(group);
    }

    /// Adds `other`'s values. On overflow (only corrupt or hostile result
    /// files get there) `self` is left partly merged and must be dropped.
    pub fn merge(&mut self, other: &Metrics) -> Result<(), Overflow> {
        self.0.iter_mut().zip(&other.0).try_for_each(|(a, b)| a.merge(b))
    }

    /// The values, as sparse histograms.
    pub fn sparse(&self) -> SparseMetrics {
        PerMetric(std::array::from_fn(|i| Sparse::of(&self.0[i])))
    }

    /// Empties every histogram, keeping their memory.
    pub fn clear(&mut self) {
        for histogram in self.0.iter_mut().filter(|h| h.count() > 0) {
            histogram.clear();
        }
    }
}

impl SparseMetrics {
    /// Adds `other`'s values.
    pub fn add(&mut self, other: &SparseMetrics) -> Result<(), Overflow> {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            if b.count() > 0 {
                *a = a.merged(b)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_fit_the_assert_syntax() {
        for (i, metric) in METRICS.iter().enumerate() {
            assert_eq!(find(metric.id), Some(i));
            let plain = metric.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            assert!(plain && !metric.id.is_empty(), "{}: lower case, digits and _ only", metric.id);
            assert!(!metric.label.is_empty() && !metric.meaning.is_empty() && metric.unit == "ns");
        }
        assert_eq!(METRICS[TTFB].id, "ttfb");
        assert_eq!(find("nope"), None);
        assert!(names().contains("ttfb"));
    }

    #[test]
    fn samples_land_in_their_metric_and_merge() {
        let (mut a, mut b, mut all) = (Metrics::default(), Metrics::default(), Metrics::default());
        for i in 0..1_000u64 {
            let mut samples = Samples::default();
            if i % 3 != 0 {
                samples.set(TTFB, i * 1_000);
            }
            let half = if i % 2 == 0 { &mut a } else { &mut b };
            half.record(&samples);
            all.record(&samples);
        }
        assert_eq!(all.get(TTFB).count(), 666, "requests without a value have no sample");
        let mut edge = Samples::default();
        assert_eq!(edge.get(TTFB), None);
        edge.set(TTFB, 0);
        assert_eq!(edge.get(TTFB), Some(0), "zero is a value");
        edge.set(TTFB, u64::MAX);
        assert_eq!(edge.get(TTFB), Some(u64::MAX - 1), "the largest value stays a value");
        a.merge(&b).unwrap();
        assert_eq!(a, all);
        let (mut sparse, whole) = (a.sparse(), all.sparse());
        assert_eq!(sparse.get(TTFB).count(), 666);
        sparse.add(&whole).unwrap();
        assert_eq!(sparse.get(TTFB).percentile_ns(50.0), whole.get(TTFB).percentile_ns(50.0));
        assert_eq!(sparse.get(TTFB).count(), 1_332);
        a.clear();
        assert_eq!(a, Metrics::default());
    }
}
