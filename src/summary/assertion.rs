//! Pass/fail thresholds for CI (`--assert p99<20ms`): a run, a merge or a
//! diff ends with each threshold, the value measured and the verdict, and
//! exits 3 when one fails. Expressions are parsed before anything runs, so
//! a typo is a usage error, never a silent pass.
//!
//! Latency thresholds read the corrected distribution (the one the
//! report's Summary and percentiles show); `NAME.p99`, `NAME.mean`,
//! `NAME.min` and `NAME.max` read a named metric's instead (`ttfb.p99<50ms`,
//! any metric of [`crate::stats::METRICS`]). A named count reads its total
//! (`tokens>1000`, or a share: `good>=90%`) or its rate (`tokens_per_sec`),
//! any counter of [`crate::stats::COUNTERS`]. Percentages are of the
//! requests that completed: responses plus errors (aborted ones never
//! completed).

use std::fmt;

use super::Summary;

/// The forms `--assert` accepts, for error messages and help.
pub const FORMS: &str = "p99<20ms, p99.9<=100ms, mean<5ms, max<1s, ttfb.p99<50ms, ttft.p99<500ms, rps>=50000, \
     errors<0.1%, non2xx==0, status:503<10, tokens_per_sec>1000, good>=90%";

/// One threshold, as parsed from its expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Assertion {
    /// The expression as written (spaces removed).
    pub text: String,
    metric: Measured,
    op: Op,
    limit: f64,
    /// The limit is a share of the completed requests.
    percent: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Measured {
    /// A figure of a distribution of durations, nanoseconds.
    Latency(Source, Stat),
    Rps,
    Errors,
    Non2xx,
    Status(u16),
    /// A named count's total: its index in [`crate::stats::COUNTERS`].
    Count(usize),
    /// A named count per second of the run.
    PerSec(usize),
}

/// Which distribution a latency threshold reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// The corrected latency.
    Corrected,
    /// A named metric: its index in [`crate::stats::METRICS`].
    Named(usize),
}

/// A figure of a distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stat {
    /// The value at a percentile (0 < p <= 100).
    Percentile(f64),
    Mean,
    Min,
    Max,
}

impl Stat {
    fn parse(name: &str) -> Option<Stat> {
        Some(match name {
            "mean" | "avg" => Stat::Mean,
            "min" => Stat::Min,
            "max" => Stat::Max,
            _ => {
                let p: f64 = name.strip_prefix('p')?.parse().ok()?;
                return (p > 0.0 && p <= 100.0).then_some(Stat::Percentile(p));
            }
        })
    }

    fn of(self, values: &crate::stats::Histogram) -> f64 {
        match self {
            Stat::Percentile(p) => values.percentile_ns(p) as f64,
            Stat::Mean => values.mean_ns(),
            Stat::Min => values.min_ns() as f64,
            Stat::Max => values.max_ns() as f64,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

/// A threshold checked against a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    pub text: String,
    /// The value measured, in the unit of the metric: seconds for latency,
    /// requests/second, a count, or a percentage.
    pub value: f64,
    /// `value` written for people (`12.41 ms`, `0.012%`, `17`).
    pub shown: String,
    pub pass: bool,
}

/// A malformed expression: the message names it and the accepted forms
/// (the caller adds the flag's name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadAssertion(pub String);

impl fmt::Display for BadAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses a `--assert` value: one expression or several separated by commas.
pub fn parse_list(text: &str) -> Result<Vec<Assertion>, BadAssertion> {
    text.split(',').map(Assertion::parse).collect()
}

fn latency_unit_ns(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        _ => return None,
    })
}

impl Assertion {
    pub fn parse(text: &str) -> Result<Assertion, BadAssertion> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let bad = |why: &str| BadAssertion(format!("{compact:?}: {why}; accepted forms: {FORMS}"));
        let at = compact.find(['<', '>', '=', '!']).ok_or_else(|| bad("no comparison (<, <=, >, >=, ==)"))?;
        let (name, rest) = compact.split_at(at);
        let (op, value) = match rest.as_bytes() {
            [b'<', b'=', ..] => (Op::Le, &rest[2..]),
            [b'>', b'=', ..] => (Op::Ge, &rest[2..]),
            [b'=', b'=', ..] => (Op::Eq, &rest[2..]),
            [b'<', ..] => (Op::Lt, &rest[1..]),
            [b'>', ..] => (Op::Gt, &rest[1..]),
            _ => return Err(bad("unknown comparison; use <, <=, >, >= or ==")),
        };
        let metric = metric(name).map_err(|why| bad(&why))?;
        let split = value.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(value.len());
        let (number, unit) = value.split_at(split);
        let number: f64 = number.parse().map_err(|_| bad("the limit is not a number"))?;
        let latency = matches!(metric, Measured::Latency(..));
        let (limit, percent) = match (latency, unit) {
            (true, "") => return Err(bad("a latency limit needs a unit (ns, us, ms, s, m)")),
            (true, unit) => {
                (number * latency_unit_ns(unit).ok_or_else(|| bad(&format!("unknown unit {unit:?}")))?, false)
            }
            (false, "%") if !matches!(metric, Measured::Rps | Measured::PerSec(_)) => (number, true),
            (false, "") => (number, false),
            (false, unit) => {
                return Err(bad(&format!("{name} takes a plain number{}, not {unit:?}", percent_note(metric))));
            }
        };
        if !limit.is_finite() || (percent && number > 100.0) {
            return Err(bad("the limit is out of range"));
        }
        Ok(Assertion { text: compact, metric, op, limit, percent })
    }

    /// The percentile this threshold reads, if it reads one (`p99` or
    /// `ttfb.p99` → 99).
    pub fn percentile(&self) -> Option<f64> {
        match self.metric {
            Measured::Latency(_, Stat::Percentile(p)) => Some(p),
            _ => None,
        }
    }

    /// Whether this threshold reads the corrected latency (a percentile,
    /// mean, min or max of it; not of a named metric).
    pub fn reads_latency(&self) -> bool {
        matches!(self.metric, Measured::Latency(Source::Corrected, _))
    }

    /// Checks the threshold against a run's summary.
    pub fn check(&self, summary: &Summary) -> Checked {
        let stats = summary.stats;
        let completed = (stats.responses + stats.total_errors()) as f64;
        let count = |n: u64| if self.percent { 100.0 * n as f64 / completed.max(1.0) } else { n as f64 };
        let distribution = match self.metric {
            Measured::Latency(Source::Corrected, _) => Some(&stats.corrected),
            Measured::Latency(Source::Named(i), _) => Some(stats.metrics.get(i)),
            _ => None,
        };
        // A threshold on a distribution without a sample cannot pass: an
        // empty histogram reads 0, which would pass any `<` limit.
        if distribution.is_some_and(|h| h.count() == 0) {
            return Checked { text: self.text.clone(), value: 0.0, shown: "no samples".into(), pass: false };
        }
        let measured = match self.metric {
            Measured::Latency(_, stat) => stat.of(distribution.unwrap_or(&stats.corrected)),
            Measured::Rps => summary.requests_per_sec,
            Measured::Errors => count(stats.total_errors()),
            Measured::Non2xx => {
                count(stats.statuses().filter(|(code, _)| !(200..300).contains(code)).map(|(_, n)| n).sum())
            }
            Measured::Status(code) => count(stats.statuses().filter(|&(c, _)| c == code).map(|(_, n)| n).sum()),
            Measured::Count(i) => count(stats.counts.get(i)),
            Measured::PerSec(i) => {
                let elapsed = summary.info.elapsed.as_secs_f64();
                if elapsed > 0.0 { stats.counts.get(i) as f64 / elapsed } else { 0.0 }
            }
        };
        let pass = match self.op {
            Op::Lt => measured < self.limit,
            Op::Le => measured <= self.limit,
            Op::Gt => measured > self.limit,
            Op::Ge => measured >= self.limit,
            Op::Eq => measured == self.limit,
        };
        let latency = matches!(self.metric, Measured::Latency(..));
        let (value, shown) = match (latency, self.metric, self.percent) {
            (true, ..) => (measured / 1e9, format!("{:.3} ms", measured / 1e6)),
            (_, Measured::Rps, _) => (measured, format!("{measured:.2} req/s")),
            (_, Measured::PerSec(_), _) => (measured, format!("{measured:.2}/s")),
            (_, _, true) => (measured, format!("{measured:.3}%")),
            _ => (measured, format!("{measured}")),
        };
        Checked { text: self.text.clone(), value, shown, pass }
    }
}

fn percent_note(metric: Measured) -> &'static str {
    if matches!(metric, Measured::Rps | Measured::PerSec(_)) { "" } else { " or a percentage" }
}

/// What `name` measures, or why it measures nothing.
fn metric(name: &str) -> Result<Measured, String> {
    let unknown = || format!("unknown measure {name:?}");
    if let Some(stat) = Stat::parse(name) {
        return Ok(Measured::Latency(Source::Corrected, stat));
    }
    Ok(match name {
        "rps" => Measured::Rps,
        "errors" => Measured::Errors,
        "non2xx" => Measured::Non2xx,
        _ => {
            let counter = |id: &str| crate::stats::counters::find(id);
            if let Some(i) = counter(name) {
                return Ok(Measured::Count(i));
            }
            if let Some(i) = name.strip_suffix("_per_sec").and_then(counter) {
                return Ok(Measured::PerSec(i));
            }
            if let Some(code) = name.strip_prefix("status:") {
                let code: u16 = code.parse().map_err(|_| unknown())?;
                return (100..=999).contains(&code).then_some(Measured::Status(code)).ok_or_else(unknown);
            }
            // A named metric: NAME.p99, NAME.mean, NAME.min, NAME.max.
            let (id, stat) = name.split_once('.').ok_or_else(unknown)?;
            let Some(index) = crate::stats::metrics::find(id) else {
                if Stat::parse(id).is_some() {
                    return Err(unknown());
                }
                return Err(format!("unknown metric {id:?} (known: {})", crate::stats::metrics::names()));
            };
            let stat =
                Stat::parse(stat).ok_or_else(|| format!("{id} takes .pNN, .mean, .min or .max, not {stat:?}"))?;
            Measured::Latency(Source::Named(index), stat)
        }
    })
}

#[cfg(test)]
#[path = "assertion_tests.rs"]
mod tests;
