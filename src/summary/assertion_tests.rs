use std::time::Duration;

use super::*;
use crate::stats::counters::{GOOD, TOKENS};
use crate::stats::metrics::TTFB;
use crate::stats::{ErrorKind, Record, WorkerStats};
use crate::summary::RunInfo;

/// A request of `latency_ms`, whose body began at half of it, streaming
/// 10 tokens; every other one is good.
fn record(result: Result<u16, ErrorKind>, latency_ms: u64) -> Record {
    let latency = Duration::from_millis(latency_ms);
    let sample = Record::sample(result, latency).measured(TTFB, latency / 2);
    sample.counted(TOKENS, 10).counted(GOOD, u32::from(latency_ms.is_multiple_of(2)))
}

/// 1000 completed requests over 2 s: latencies 1..=990 ms, 990 responses
/// (980 of them 200, 10 of them 503), 10 resets.
fn run() -> (WorkerStats, RunInfo) {
    let mut stats = WorkerStats::new();
    for ms in 1..=990 {
        stats.record(&record(Ok(if ms % 99 == 0 { 503 } else { 200 }), ms));
    }
    for _ in 0..10 {
        stats.record(&record(Err(ErrorKind::Reset), 0));
    }
    (stats, RunInfo::sample(Duration::from_secs(2)))
}

fn check(text: &str) -> Checked {
    let (stats, info) = run();
    let summary = Summary::new(&stats, &info);
    Assertion::parse(text).unwrap().check(&summary)
}

#[test]
fn every_form_passes_and_fails_on_purpose() {
    // (expression that passes, one that fails, the value measured)
    let cases: &[(&str, &str, f64)] = &[
        ("p50<500ms", "p50<490ms", 0.496),
        ("p99.9 <= 1s", "p99.9<=980ms", 0.990),
        ("p100==990ms", "p100>990ms", 0.990),
        ("mean<500ms", "mean>=500ms", 0.4955),
        ("max<1s", "max<0.9s", 0.990),
        ("min>=1ms", "min>1ms", 0.001),
        ("rps>=495", "rps>495", 495.0),
        ("errors<=10", "errors<10", 10.0),
        ("errors<1.1%", "errors<1%", 1.0),
        ("non2xx==10", "non2xx==0", 10.0),
        ("status:503<11", "status:503<10", 10.0),
        ("status:503<=1%", "status:503<1%", 1.0),
        ("status:404==0", "status:404>0", 0.0),
        // A named metric: the time to first byte, half the latency.
        ("ttfb.p50<250ms", "ttfb.p50<240ms", 0.248),
        ("ttfb.p99.9<=495ms", "ttfb.p99.9<490ms", 0.495),
        ("ttfb.mean<=248ms", "ttfb.mean>248ms", 0.24775),
        ("ttfb.min==500us", "ttfb.min>500us", 0.0005),
        ("ttfb.max<0.5s", "ttfb.max<=494ms", 0.495),
        // Named counts: 990 responses of 10 tokens over 2 s; 495 good.
        ("tokens>=9900", "tokens>9900", 9900.0),
        ("tokens_per_sec>4900", "tokens_per_sec>=4951", 4950.0),
        ("good>=49.5%", "good>49.5%", 49.5),
        ("good_per_sec==247.5", "good_per_sec<247", 247.5),
    ];
    for &(passes, fails, value) in cases {
        let good = check(passes);
        assert!(good.pass, "{passes}: {good:?}");
        assert!((good.value - value).abs() <= value * 0.005 + 1e-9, "{passes}: {} vs {value}", good.value);
        let bad = check(fails);
        assert!(!bad.pass, "{fails}: {bad:?}");
    }
    assert_eq!(check("p99 < 20ms").text, "p99<20ms");
    assert_eq!(check("errors<1.1%").shown, "1.000%");
    assert_eq!(check("max<1s").shown, "990.000 ms");
    assert_eq!(check("ttfb.max<1s").shown, "495.000 ms");
    let (latency, ttfb) = (Assertion::parse("p99<1s").unwrap(), Assertion::parse("ttfb.p99.5<1s").unwrap());
    assert_eq!((latency.percentile(), ttfb.percentile()), (Some(99.0), Some(99.5)));
    assert!(latency.reads_latency() && !ttfb.reads_latency(), "a named metric is not the corrected latency");
}

#[test]
fn a_distribution_without_samples_fails_every_threshold_on_it() {
    // Every request refused: no latency and no ttfb, which would read 0.
    let mut stats = WorkerStats::new();
    stats.record(&Record::sample(Err(ErrorKind::ConnectRefused), Duration::ZERO));
    let info = RunInfo::sample(Duration::from_secs(1));
    let summary = Summary::new(&stats, &info);
    for text in ["p99<50ms", "ttfb.p99<50ms", "ttfb.max<1s", "mean>=0s"] {
        let checked = Assertion::parse(text).unwrap().check(&summary);
        assert!(!checked.pass && checked.shown == "no samples", "{text}: {checked:?}");
    }
    assert!(Assertion::parse("errors<=1").unwrap().check(&summary).pass, "counts still read 0 as 0");
}

#[test]
fn lists_split_at_commas() {
    let list = parse_list("p99<20ms, errors<0.1%,rps>=1").unwrap();
    assert_eq!(list.iter().map(|a| a.text.as_str()).collect::<Vec<_>>(), ["p99<20ms", "errors<0.1%", "rps>=1"]);
}

#[test]
fn malformed_expressions_name_themselves_and_the_accepted_forms() {
    let cases = [
        ("p99", "no comparison"),
        ("p99<20", "needs a unit"),
        ("p99<20parsecs", "unknown unit"),
        ("p101<1s", "unknown measure"),
        ("p0<1s", "unknown measure"),
        ("latency<1s", "unknown measure"),
        ("rps>=5%", "plain number"),
        ("errors<5ms", "plain number or a percentage"),
        ("errors<x", "not a number"),
        ("errors<-1", "not a number"),
        ("errors<101%", "out of range"),
        ("status:42<1", "unknown measure"),
        ("status:abc<1", "unknown measure"),
        ("p99=<1s", "unknown comparison"),
        ("p99!=1s", "unknown comparison"),
        ("", "no comparison"),
        ("nope.p99<1s", "unknown metric \"nope\" (known: ttfb"),
        ("ttfb.p101<1s", "ttfb takes .pNN, .mean, .min or .max, not \"p101\""),
        ("ttfb.count<5", "ttfb takes .pNN"),
        ("ttfb.p99<5", "needs a unit"),
        ("ttfb<1s", "unknown measure"),
        ("p99.x<1s", "unknown measure"),
        ("tokens_per_sec>5%", "plain number, not"),
        ("tokens<1s", "plain number or a percentage"),
        ("token_per_sec>1", "unknown measure"),
    ];
    for (text, why) in cases {
        let err = Assertion::parse(text).unwrap_err().to_string();
        assert!(err.contains(why), "{text:?}: {err}");
        assert!(err.starts_with('"') && err.contains(FORMS) && !err.contains('\n'), "{err}");
    }
    assert!(parse_list("p99<1s,").is_err(), "an empty item is an error");
}
