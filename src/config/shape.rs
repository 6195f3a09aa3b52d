//! The rules for the load's shape over time: `--rate RATE` or `FROM..TO`,
//! `--stages` (rates or connection counts), and `--warmup`. Each is checked
//! against the others here, so a shape that cannot run is refused with one
//! line before anything connects.

use std::time::Duration;

use super::{ConfigError, MAX_CONNECTIONS, MAX_DURATION, MAX_RATE, MIN_DURATION, MIN_RATE, invalid, parse_duration};
use crate::stats::{Concurrency, Segment, Shape};

/// Most stages `--stages` takes.
pub const MAX_STAGES: usize = 1000;

/// The load over time, as the flags ask for it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadPlan {
    /// The open model's rate (a shape's first rate); `None`: a closed loop.
    pub rate: Option<f64>,
    /// A rate that changes (`--rate FROM..TO`, `--stages` of rates).
    pub shape: Option<Shape>,
    /// `--stages` of connection counts.
    pub stages: Option<Concurrency>,
    /// How long the stages last together: the run's duration.
    pub duration: Option<Duration>,
}

/// The load `--rate`, `--stages` and `-q` ask for; `duration` is the valid
/// `-z`, if any.
pub fn load(
    rate: Option<&str>,
    stages: Option<&str>,
    qps: f64,
    duration: Option<Duration>,
) -> Result<LoadPlan, ConfigError> {
    match (rate, stages) {
        (Some(_), Some(_)) => Err(invalid("--stages", "cannot be used with --rate: give the rates in the stages")),
        (Some(text), None) => self::rate(text, duration),
        (None, Some(text)) => self::stages(text, qps),
        (None, None) => Ok(LoadPlan::default()),
    }
}

/// `--find-max`: how the search steps and what it must meet.
#[derive(Clone, Debug, PartialEq)]
pub struct FindMax {
    pub params: crate::search::Params,
    /// `--slo` as given, and parsed.
    pub slo_text: String,
    pub slo: Vec<crate::summary::Assertion>,
    /// Each step's length before any lengthening for thin percentiles.
    pub step: Duration,
}

/// The search's flags as given.
#[derive(Clone, Copy, Debug, Default)]
pub struct SearchFlags<'a> {
    pub slo: Option<&'a str>,
    pub start: &'a str,
    pub factor: &'a str,
    pub precision: &'a str,
    pub step: &'a str,
}

/// Shortest `--find-max-step`: a step must hold a few intervals of samples.
pub const MIN_STEP: Duration = Duration::from_millis(500);

/// `--find-max` with its flags, checked.
pub fn find_max(flags: &SearchFlags<'_>) -> Result<FindMax, ConfigError> {
    let Some(slo_text) = flags.slo else {
        return Err(invalid("--find-max", "needs --slo, the thresholds each step must meet (e.g. --slo 'p99<50ms')"));
    };
    let slo = crate::summary::assertion::parse_list(slo_text).map_err(|e| invalid("--slo", e.0))?;
    let start = one_rate("--find-max-start", flags.start, false)?;
    let factor = match flags.factor.trim().parse::<f64>() {
        Ok(f) if (1.1..=100.0).contains(&f) => f,
        _ => return Err(invalid("--find-max-factor", format!("{:?}: give a factor from 1.1 to 100", flags.factor))),
    };
    let precision = match flags.precision.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.1..=50.0).contains(&p) => p / 100.0,
        _ => {
            let why = format!("{:?}: give a percentage from 0.1% to 50% (e.g. 5%)", flags.precision);
            return Err(invalid("--find-max-precision", why));
        }
    };
    let step = parse_duration("--find-max-step", flags.step, None)?;
    if step < MIN_STEP {
        return Err(invalid("--find-max-step", format!("{:?} is too short; give at least 500ms", flags.step)));
    }
    let params = crate::search::Params { start, factor, precision, ceiling: MAX_RATE };
    Ok(FindMax { params, slo_text: slo_text.to_string(), slo, step })
}

/// `--warmup`: none when absent or zero.
pub fn warmup(text: Option<&str>) -> Result<Option<Duration>, ConfigError> {
    let Some(text) = text else { return Ok(None) };
    let d = parse_duration("--warmup", text, None)?;
    Ok((!d.is_zero()).then_some(d))
}

fn rate_error(flag: &'static str, text: &str) -> ConfigError {
    let why = match flag {
        "--stages" => format!("{text:?} is not a usable rate; give 0 (a pause) or {MIN_RATE} to {MAX_RATE} req/s"),
        _ => format!(
            "{text:?} is not a usable rate; give requests per second for the whole run, {MIN_RATE} to {MAX_RATE}, \
             or FROM..TO to ramp over -z (100..5000)"
        ),
    };
    invalid(flag, why)
}

/// One rate of `--rate`, or of a stage (where 0, a pause, is allowed too).
fn one_rate(flag: &'static str, text: &str, zero: bool) -> Result<f64, ConfigError> {
    match text.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && ((MIN_RATE..=MAX_RATE).contains(&r) || (zero && r == 0.0)) => Ok(r),
        _ => Err(rate_error(flag, text)),
    }
}

/// `--rate RATE`, or `--rate FROM..TO`, a ramp over `-z`.
fn rate(text: &str, duration: Option<Duration>) -> Result<LoadPlan, ConfigError> {
    let Some((from, to)) = text.split_once("..") else {
        return Ok(LoadPlan { rate: Some(one_rate("--rate", text, false)?), ..LoadPlan::default() });
    };
    let (Ok(from), Ok(to)) = (one_rate("--rate", from, false), one_rate("--rate", to, false)) else {
        let why = format!("{text:?}: FROM..TO needs two rates, each {MIN_RATE} to {MAX_RATE} (e.g. 100..5000)");
        return Err(invalid("--rate", why));
    };
    let Some(over) = duration else {
        let why = format!("{text:?} ramps over the run's duration: give it with -z (e.g. -z 60s)");
        return Err(invalid("--rate", why));
    };
    let shape = Shape::ramp(from, to, over.as_secs_f64());
    Ok(LoadPlan { rate: Some(from), shape, ..LoadPlan::default() })
}

/// `--stages "30s:1000,60s:1000..5000"` (rates) or `"30s:c50,60s:c200"`
/// (connections): never both kinds, each stage at least 1 ms.
fn stages(text: &str, qps: f64) -> Result<LoadPlan, ConfigError> {
    let forms = "write DURATION:RATE, DURATION:FROM..TO or DURATION:cCONNECTIONS, comma-separated \
                 (30s:1000,60s:1000..5000 or 30s:c50,60s:c200)";
    let fail = |why: String| invalid("--stages", why);
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() > MAX_STAGES {
        return Err(fail(format!("{} stages is more than the {MAX_STAGES} supported", parts.len())));
    }
    let (mut rates, mut counts, mut total) = (Vec::new(), Vec::new(), Duration::ZERO);
    for part in parts {
        let Some((length, load)) = part.split_once(':') else {
            return Err(fail(format!("{part:?} has no colon; {forms}")));
        };
        let length = parse_duration("--stages", length, None)?;
        if length < MIN_DURATION {
            return Err(fail(format!("{part:?} lasts less than 1ms; give every stage a duration")));
        }
        total = total.saturating_add(length);
        let over_s = length.as_secs_f64();
        if let Some(count) = load.trim().strip_prefix('c') {
            counts.push((over_s, connections(part, count)?));
        } else if let Some((from, to)) = load.split_once("..") {
            let (from, to) = (one_rate("--stages", from, true)?, one_rate("--stages", to, true)?);
            rates.push(Segment { over_s, from, to });
        } else {
            if load.trim().parse::<f64>().is_err() {
                return Err(fail(format!("{part:?}: {forms}")));
            }
            let rate = one_rate("--stages", load, true)?;
            rates.push(Segment { over_s, from: rate, to: rate });
        }
    }
    if total > MAX_DURATION {
        return Err(fail("the stages last more than 366 days together".into()));
    }
    let duration = Some(total);
    match (rates.is_empty(), counts.is_empty()) {
        (false, false) => Err(fail(format!("{text:?} mixes rates and connection counts; use one kind"))),
        (false, true) => {
            if qps != 0.0 {
                return Err(fail("of rates cannot be used with -q: the stages set the rate".into()));
            }
            let first = rates[0].from;
            let shape = Shape::new(rates).ok_or_else(|| fail(format!("{text:?} sends no request at all")))?;
            Ok(LoadPlan { rate: Some(first.max(MIN_RATE)), shape: Some(shape), stages: None, duration })
        }
        _ => Ok(LoadPlan { stages: Some(Concurrency { stages: counts }), duration, ..LoadPlan::default() }),
    }
}

fn connections(part: &str, count: &str) -> Result<usize, ConfigError> {
    match count.trim().parse::<u64>() {
        Ok(c) if (1..=MAX_CONNECTIONS).contains(&c) => Ok(c as usize),
        _ => Err(invalid(
            "--stages",
            format!("{part:?}: give connections as c1 to c{MAX_CONNECTIONS} (for example 30s:c50)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_of_rates_and_of_connections() {
        let load = load(None, Some("2s:1000, 2s:1000..3000,1s:0"), 0.0, None).unwrap();
        let shape = load.shape.unwrap();
        assert_eq!((load.rate, load.duration), (Some(1000.0), Some(Duration::from_secs(5))));
        assert_eq!((shape.segments().len(), shape.total()), (3, 6000.0));
        let load = super::load(None, Some("1s:c5,500ms:c20"), 0.0, None).unwrap();
        assert_eq!(load.stages.unwrap().stages, vec![(1.0, 5), (0.5, 20)]);
        assert_eq!((load.rate, load.duration), (None, Some(Duration::from_millis(1500))));
    }

    #[test]
    fn bad_shapes_say_what_is_wrong() {
        for (rate, stages, why) in [
            (None, Some("30s"), "has no colon"),
            (None, Some("30s:"), "write DURATION:RATE"),
            (None, Some("0s:100"), "less than 1ms"),
            (None, Some("-1s:100"), "ms, s, m or h"),
            (None, Some("10s:-5"), "not a usable rate"),
            (None, Some("10s:100.."), "not a usable rate"),
            (None, Some("10s:0"), "sends no request"),
            (None, Some("10s:c0"), "c1 to c"),
            (None, Some("10s:cx"), "c1 to c"),
            (None, Some("1s:100,1s:c5"), "mixes rates and connection counts"),
            (Some("100"), Some("1s:100"), "cannot be used with --rate"),
            (None, Some("9000h:1"), "the most is 366 days"),
            (None, Some("5000h:1,5000h:1"), "more than 366 days"),
        ] {
            let err = load(rate, stages, 0.0, None).expect_err(why).to_string();
            assert!(err.starts_with("--stages: ") && err.contains(why), "{stages:?}: {err}");
        }
        let many = vec!["1s:1"; MAX_STAGES + 1].join(",");
        let err = stages(&many, 0.0).unwrap_err().to_string();
        assert!(err.contains("more than the 1000 supported"), "{err}");
        let err = load(None, Some("1s:5"), 2.0, None).unwrap_err().to_string();
        assert!(err.contains("-q"), "{err}");
    }

    #[test]
    fn rates_are_bounded_on_both_sides() {
        for r in ["0", "1e-30", "NaN", "-1", "1e12", "", "x"] {
            assert!(one_rate("--rate", r, false).is_err(), "--rate {r}");
        }
        assert_eq!(one_rate("--stages", "0", true), Ok(0.0));
    }

    #[test]
    fn warmups() {
        assert_eq!(warmup(None), Ok(None));
        assert_eq!(warmup(Some("0s")), Ok(None));
        assert_eq!(warmup(Some("10s")), Ok(Some(Duration::from_secs(10))));
        assert!(warmup(Some("10")).unwrap_err().to_string().starts_with("--warmup: "));
    }
}
