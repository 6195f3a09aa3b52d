//! Automatic reading of the latency distribution: three ratios between
//! percentiles, each with a verdict, and warnings about failures.
//!
//! The thresholds are anchored on the exponential distribution, the shape of
//! latency in a simple queue (M/M/1 sojourn time). For it, p99/p50 =
//! ln 100 / ln 2 ≈ 6.6, p99/p95 = ln 100 / ln 20 ≈ 1.54 and p99.9/p99 =
//! ln 1000 / ln 100 = 1.5. A service whose latency is mostly fixed work sits
//! well below those; one with stalls (GC, lock convoys, retries, cold caches)
//! sits above them. Each verdict switches exactly at its threshold: a value
//! equal to the threshold gets the worse verdict.

/// How good a ratio is, for coloring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grade {
    Good,
    Fair,
    Poor,
}

/// One ratio with its verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Ratio {
    pub name: &'static str,
    pub formula: &'static str,
    pub value: f64,
    pub verdict: &'static str,
    pub grade: Grade,
}

/// A verdict table: (upper limit, verdict, grade) rows in ascending order.
pub type Thresholds = [(f64, &'static str, Grade)];

/// Spread p99/p50. Below 2 the tail is tighter than half an exponential's
/// (latency is dominated by fixed work); below 5 it is still short of
/// queueing-like; up to 10 it is about what a busy queue gives (6.6); from
/// 10 up something else (stalls, a second mode) is adding to the tail.
pub const SPREAD_THRESHOLDS: [(f64, &str, Grade); 3] = [
    (2.0, "good consistency", Grade::Good),
    (5.0, "moderate variance", Grade::Fair),
    (10.0, "high variance (queueing)", Grade::Poor),
];
pub const SPREAD_WORST: &str = "erratic: a second, slower population of requests";

/// Tail p99/p95. An exponential tail gives 1.54: below 1.5 the tail is no
/// heavier than that; up to 3 a minority is clearly slower; from 3 the last
/// percent is dominated by stalls.
pub const TAIL_THRESHOLDS: [(f64, &str, Grade); 2] =
    [(1.5, "clean tail", Grade::Good), (3.0, "noticeable tail", Grade::Fair)];
pub const TAIL_WORST: &str = "heavy tail: the slowest 1% stall";

/// Outliers p99.9/p99. An exponential gives 1.5: below it there are no
/// outliers beyond the tail's own shape; up to 3 a few requests stand out;
/// from 3 up there are severe outliers (timeouts, pauses).
pub const OUTLIER_THRESHOLDS: [(f64, &str, Grade); 2] =
    [(1.5, "no significant outliers", Grade::Good), (3.0, "some outliers", Grade::Fair)];
pub const OUTLIER_WORST: &str = "severe outliers";

/// Share of failed requests (or of timeouts) above which the run is flagged.
pub const FAILURE_SHARE: f64 = 0.01;

/// Share of non-2xx responses above which they "dominate".
pub const NON_2XX_SHARE: f64 = 0.5;

fn judge(value: f64, thresholds: &Thresholds, worst: &'static str) -> (&'static str, Grade) {
    thresholds
        .iter()
        .find(|(limit, ..)| value < *limit)
        .map_or((worst, Grade::Poor), |&(_, verdict, grade)| (verdict, grade))
}

fn ratio(
    name: &'static str,
    formula: &'static str,
    top: u64,
    bottom: u64,
    table: &Thresholds,
    worst: &'static str,
) -> Ratio {
    let value = if bottom == 0 { 1.0 } else { top as f64 / bottom as f64 };
    let (verdict, grade) = judge(value, table, worst);
    Ratio { name, formula, value, verdict, grade }
}

/// The three ratios for percentiles p50, p95, p99 and p99.9 (nanoseconds).
pub fn ratios(p50: u64, p95: u64, p99: u64, p999: u64) -> [Ratio; 3] {
    [
        ratio("Latency spread", "p99/p50", p99, p50, &SPREAD_THRESHOLDS, SPREAD_WORST),
        ratio("Tail ratio", "p99/p95", p99, p95, &TAIL_THRESHOLDS, TAIL_WORST),
        ratio("Outlier ratio", "p99.9/p99", p999, p99, &OUTLIER_THRESHOLDS, OUTLIER_WORST),
    ]
}

/// Counts the warnings are computed from.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub issued: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub responses: u64,
    pub non_2xx: u64,
}

/// Warning lines about failures and statuses (empty when all is well).
pub fn warnings(c: Counts) -> Vec<String> {
    let mut lines = Vec::new();
    let share = |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 / whole as f64 };
    if share(c.errors, c.issued) > FAILURE_SHARE {
        lines.push(format!(
            "Errors: {:.1}% of requests failed ({} of {}) -- latency figures describe only the requests that succeeded",
            100.0 * share(c.errors, c.issued),
            c.errors,
            c.issued
        ));
    }
    if share(c.timeouts, c.issued) > FAILURE_SHARE {
        lines.push(format!(
            "Timeouts: {:.1}% of requests hit the deadline ({}) -- the server is saturated or stalling",
            100.0 * share(c.timeouts, c.issued),
            c.timeouts
        ));
    }
    if share(c.non_2xx, c.responses) > NON_2XX_SHARE {
        lines.push(format!(
            "Status: {:.1}% of responses were not 2xx -- you may be measuring an error page or a rate limiter",
            100.0 * share(c.non_2xx, c.responses)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Just below, at and above every threshold.
    #[test]
    fn verdicts_switch_exactly_at_their_thresholds() {
        let tables: [(&Thresholds, &str); 3] =
            [(&SPREAD_THRESHOLDS, SPREAD_WORST), (&TAIL_THRESHOLDS, TAIL_WORST), (&OUTLIER_THRESHOLDS, OUTLIER_WORST)];
        for (table, worst) in tables {
            for (i, &(limit, verdict, _)) in table.iter().enumerate() {
                assert_eq!(judge(limit - 1e-9, table, worst).0, verdict, "below {limit}");
                let next = table.get(i + 1).map_or(worst, |t| t.1);
                assert_eq!(judge(limit, table, worst).0, next, "at {limit}");
                assert_eq!(judge(limit + 1e-9, table, worst).0, next, "above {limit}");
            }
        }
    }

    #[test]
    fn ratios_use_the_right_percentiles() {
        let [spread, tail, outlier] = ratios(10, 20, 30, 100);
        assert_eq!((spread.value, spread.verdict, spread.grade), (3.0, "moderate variance", Grade::Fair));
        assert_eq!((tail.value, tail.verdict, tail.grade), (1.5, "noticeable tail", Grade::Fair));
        assert!((outlier.value - 3.333).abs() < 1e-3);
        assert_eq!((outlier.verdict, outlier.grade), (OUTLIER_WORST, Grade::Poor));
        let [spread, ..] = ratios(0, 0, 0, 0);
        assert_eq!((spread.value, spread.grade), (1.0, Grade::Good));
    }

    #[test]
    fn warnings_appear_above_their_shares_only() {
        let quiet = Counts { issued: 1000, errors: 10, timeouts: 10, responses: 990, non_2xx: 495 };
        assert!(warnings(quiet).is_empty(), "1% errors and 50% non-2xx are not flagged");
        let loud = Counts { issued: 1000, errors: 11, timeouts: 11, responses: 989, non_2xx: 495 };
        let lines = warnings(loud);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("Errors: 1.1% of requests failed (11 of 1000)"));
        assert!(lines[1].starts_with("Timeouts: 1.1%"));
        assert!(lines[2].starts_with("Status: 50.1% of responses were not 2xx"));
    }
}
