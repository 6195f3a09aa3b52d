//! The named metrics (see [`crate::stats::metrics`]) as every output shows
//! them: each one's count, mean, extremes and the run's usual percentiles,
//! computed once here so that the report, the result file and the HTML
//! report print the same numbers.

use crate::stats::{Histogram, METRICS, Metric, WorkerStats};

/// One named metric of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSummary {
    pub metric: &'static Metric,
    /// Responses with a value.
    pub count: u64,
    pub mean_ns: f64,
    pub min_ns: u64,
    pub max_ns: u64,
    /// (percentile, value in nanoseconds), at the run's usual percentiles
    /// ([`super::PERCENTILES`]); zeros without samples.
    pub percentiles: Vec<(f64, u64)>,
}

impl MetricSummary {
    /// The figures of `metric`, whose values are `values`, at `percentiles`.
    pub fn of(metric: &'static Metric, values: &Histogram, percentiles: &[f64]) -> MetricSummary {
        MetricSummary {
            metric,
            count: values.count(),
            mean_ns: values.mean_ns(),
            min_ns: values.min_ns(),
            max_ns: values.max_ns(),
            percentiles: percentiles.iter().map(|&p| (p, values.percentile_ns(p))).collect(),
        }
    }
}

/// Every metric of [`METRICS`] at `percentiles`, in its order, those
/// without samples too.
pub fn metrics(stats: &WorkerStats, percentiles: &[f64]) -> Vec<MetricSummary> {
    let of = |(i, metric)| MetricSummary::of(metric, stats.metrics.get(i), percentiles);
    METRICS.iter().enumerate().map(of).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::metrics::TTFB;
    use crate::stats::{ErrorKind, Record};
    use crate::summary::PERCENTILES;

    #[test]
    fn every_metric_is_summarised_from_successful_responses() {
        let mut stats = WorkerStats::new();
        for ms in 1..=100u64 {
            let d = Duration::from_millis(ms);
            stats.record(&Record::sample(Ok(200), d * 2).measured(TTFB, d));
        }
        // A failed request has no sample, even if one was measured.
        let failed = Record::sample(Err(ErrorKind::Incomplete), Duration::from_secs(1));
        stats.record(&failed.measured(TTFB, Duration::from_secs(1)));
        let all = metrics(&stats, &PERCENTILES);
        assert_eq!(all.len(), METRICS.len());
        let ttfb = &all[TTFB];
        assert_eq!((ttfb.metric.id, ttfb.count, ttfb.min_ns, ttfb.max_ns), ("ttfb", 100, 1_000_000, 100_000_000));
        assert_eq!(ttfb.mean_ns, 50_500_000.0);
        let p50 = ttfb.percentiles.iter().find(|&&(p, _)| p == 50.0).unwrap().1;
        assert!((p50 as f64 - 50e6).abs() < 50e6 * 0.005, "{p50}");
        assert_eq!(ttfb.percentiles.len(), PERCENTILES.len());
        assert_eq!(metrics(&WorkerStats::new(), &PERCENTILES)[TTFB].percentiles[0], (PERCENTILES[0], 0));
    }
}
