//! The named metrics (see [`crate::stats::metrics`]) as every output shows
//! them: each one's count, mean, extremes and the run's usual percentiles,
//! computed once here so that the report, the result file and the HTML
//! report print the same numbers.

use super::PERCENTILES;
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
    /// ([`PERCENTILES`] entry, value in nanoseconds); zeros without samples.
    pub percentiles: Vec<(f64, u64)>,
}

impl MetricSummary {
    pub fn of(metric: &'static Metric, values: &Histogram) -> MetricSummary {
        MetricSummary {
            metric,
            count: values.count(),
            mean_ns: values.mean_ns(),
            min_ns: values.min_ns(),
            max_ns: values.max_ns(),
            percentiles: PERCENTILES.iter().map(|&p| (p, values.percentile_ns(p))).collect(),
        }
    }
}

/// Every metric of [`METRICS`], in its order, those without samples too.
pub fn metrics(stats: &WorkerStats) -> Vec<MetricSummary> {
    METRICS.iter().enumerate().map(|(i, metric)| MetricSummary::of(metric, stats.metrics.get(i))).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::metrics::TTFB;
    use crate::stats::{ErrorKind, Record};

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
        let all = metrics(&stats);
        assert_eq!(all.len(), METRICS.len());
        let ttfb = &all[TTFB];
        assert_eq!((ttfb.metric.id, ttfb.count, ttfb.min_ns, ttfb.max_ns), ("ttfb", 100, 1_000_000, 100_000_000));
        assert_eq!(ttfb.mean_ns, 50_500_000.0);
        let p50 = ttfb.percentiles.iter().find(|&&(p, _)| p == 50.0).unwrap().1;
        assert!((p50 as f64 - 50e6).abs() < 50e6 * 0.005, "{p50}");
        assert_eq!(ttfb.percentiles.len(), PERCENTILES.len());
        assert_eq!(metrics(&WorkerStats::new())[TTFB].percentiles[0], (PERCENTILES[0], 0));
    }
}
