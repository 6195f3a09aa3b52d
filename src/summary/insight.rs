//! Automatic reading of the latency distribution: three ratios between
//! percentiles, each with a verdict; warnings about failures; and the
//! generator's self-diagnosis (a missed rate, saturated cores, too few
//! samples or too short a run for the figures printed).
//!
//! The thresholds are anchored on the exponential distribution, the shape of
//! latency in a simple queue (M/M/1 sojourn time). For it, p99/p50 =
//! ln 100 / ln 2 ≈ 6.6, p99/p95 = ln 100 / ln 20 ≈ 1.54 and p99.9/p99 =
//! ln 1000 / ln 100 = 1.5. A service whose latency is mostly fixed work sits
//! well below those; one with stalls (GC, lock convoys, retries, cold caches)
//! sits above them. Each verdict switches exactly at its threshold: a value
//! equal to the threshold gets the worse verdict.

use std::time::Duration;

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

/// Shortfall of the achieved rate below which `--rate` is flagged.
pub const RATE_SHORTFALL: f64 = 0.01;

/// CPU busy share from which the generator may be the bottleneck.
pub const BUSY_SHARE: f64 = 0.9;

/// Runs shorter than this are too short to judge CPU use by clock ticks,
/// and too short for stable figures.
pub const SHORT_RUN: Duration = Duration::from_secs(1);

/// Samples a percentile needs beyond it to mean something.
pub const TAIL_SAMPLES: f64 = 10.0;

/// How busy the generator was.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GeneratorCpu {
    /// vastar's workers' CPU time over the time of the cores they could use (0..=1).
    pub own: Option<f64>,
    /// Cores the workers could use.
    pub cores: usize,
    /// How busy those cores were in total, other processes included (Linux).
    pub cores_busy: Option<f64>,
}

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
            "Errors: {:.1}% of requests failed ({} of {}) -- latency figures leave out failures other than timeouts",
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

/// A `--rate` run that sent fewer requests than asked for.
pub fn rate_warning(target: f64, achieved: f64) -> Option<String> {
    (achieved < target * (1.0 - RATE_SHORTFALL)).then(|| {
        format!(
            "Rate: sent {achieved:.1} req/s of the {target:.1} asked for ({:.1}%) -- too few connections for this \
             rate at this latency (raise -c), or the generator is saturated",
            100.0 * achieved / target
        )
    })
}

/// The generator kept its cores (nearly) saturated: the server may not be
/// what was measured. Not judged on runs shorter than [`SHORT_RUN`].
pub fn load_warning(load: &GeneratorCpu, elapsed: Duration) -> Option<String> {
    if elapsed < SHORT_RUN {
        return None;
    }
    let plural = if load.cores == 1 { "" } else { "s" };
    let cores = load.cores;
    if let Some(own) = load.own.filter(|&own| own >= BUSY_SHARE) {
        return Some(format!(
            "Generator: vastar kept its {cores} core{plural} {:.0}% busy -- results may be limited by the generator, \
             not the server; give it more cores (or move the server off them), use fewer connections per core, or \
             the io_uring backend",
            100.0 * own
        ));
    }
    let busy = load.cores_busy.filter(|&busy| busy >= BUSY_SHARE)?;
    Some(format!(
        "Generator: its {cores} core{plural} were {:.0}% busy, vastar's own share {:.0}% -- other processes (the \
         server?) compete for them and their delays count as latency; pin the server elsewhere (taskset)",
        100.0 * busy,
        100.0 * load.own.unwrap_or(0.0)
    ))
}

/// Percentiles printed without enough samples beyond them, and runs too
/// short for stable figures.
pub fn sample_warnings(samples: u64, elapsed: Duration) -> Vec<String> {
    let mut lines = Vec::new();
    let thin: Vec<String> = [99.0, 99.9, 99.99]
        .into_iter()
        .filter(|p| (samples as f64) * (1.0 - p / 100.0) < TAIL_SAMPLES)
        .map(|p| format!("p{p}"))
        .collect();
    if samples > 0 && !thin.is_empty() {
        lines.push(format!(
            "Samples: {} {} on fewer than {TAIL_SAMPLES} samples beyond {} ({samples} in all) -- about 100000 are \
             needed for a meaningful p99.99; run longer",
            thin.join(", "),
            if thin.len() == 1 { "rests" } else { "rest" },
            if thin.len() == 1 { "it" } else { "each" },
        ));
    }
    if elapsed < SHORT_RUN {
        lines.push(format!(
            "Duration: the run lasted {:.2} s, too short for stable figures -- run for several seconds (-z 10s)",
            elapsed.as_secs_f64()
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

    #[test]
    fn a_missed_rate_is_flagged_past_one_percent() {
        assert_eq!(rate_warning(1000.0, 990.0), None);
        let line = rate_warning(1000.0, 989.0).expect("1.1% short");
        assert!(line.starts_with("Rate: sent 989.0 req/s of the 1000.0 asked for (98.9%)"), "{line}");
    }

    #[test]
    fn a_busy_generator_is_flagged_and_told_apart_from_busy_neighbours() {
        let long = Duration::from_secs(5);
        let calm = GeneratorCpu { own: Some(0.5), cores: 2, cores_busy: Some(0.6) };
        assert_eq!(load_warning(&calm, long), None);
        let saturated = GeneratorCpu { own: Some(0.95), cores: 2, cores_busy: Some(0.97) };
        let line = load_warning(&saturated, long).unwrap();
        assert!(line.starts_with("Generator: vastar kept its 2 cores 95% busy"), "{line}");
        let crowded = GeneratorCpu { own: Some(0.3), cores: 1, cores_busy: Some(0.99) };
        let line = load_warning(&crowded, long).unwrap();
        assert!(line.starts_with("Generator: its 1 core were 99% busy, vastar's own share 30%"), "{line}");
        // Too short to judge by clock ticks.
        assert_eq!(load_warning(&saturated, Duration::from_millis(500)), None);
        // Nothing measured (not Linux, no /proc): no guess.
        assert_eq!(load_warning(&GeneratorCpu::default(), long), None);
    }

    #[test]
    fn thin_tails_and_short_runs_are_flagged() {
        let long = Duration::from_secs(10);
        assert!(sample_warnings(100_000, long).is_empty());
        let lines = sample_warnings(99_999, long);
        assert!(
            lines[0].starts_with("Samples: p99.99 rests on fewer than 10 samples beyond it (99999 in all)"),
            "{lines:?}"
        );
        let lines = sample_warnings(500, long);
        assert!(lines[0].starts_with("Samples: p99, p99.9, p99.99 rest on"), "{lines:?}");
        assert!(sample_warnings(0, long).is_empty());
        let lines = sample_warnings(1_000_000, Duration::from_millis(250));
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("Duration: the run lasted 0.25 s"), "{lines:?}");
    }
}
