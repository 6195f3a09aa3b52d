//! Diff verdicts on synthetic runs whose differences are known.

use std::time::Duration;

use super::*;
use crate::result::Meta;
use crate::stats::counters::TOKENS;
use crate::stats::metrics::TTFB;
use crate::stats::{ErrorKind, Record, Recorder};
use crate::summary::{PERCENTILES, RunInfo, Summary};
use crate::term::Style;

/// A synthetic run of `seconds` one-second intervals at about 1000
/// responses each, latencies around 2 ms times `slower` (with noise that
/// varies from interval to interval), a share `error_share` of resets;
/// the body of each response begins at half its latency.
fn run(seconds: u64, slower: f64, error_share: f64, seed: u64) -> ResultDoc {
    run_with_ttfb(seconds, slower, error_share, seed, 0.5, 0)
}

/// As [`run`], the body beginning at `ttfb_share` of each latency, each
/// response of `tokens` output tokens.
fn run_with_ttfb(seconds: u64, slower: f64, error_share: f64, seed: u64, ttfb_share: f64, tokens: u32) -> ResultDoc {
    let (mut stats, mut recorder, mut timeline) =
        (WorkerStats::new(), Recorder::new(Duration::from_secs(1)), Timeline::new(Duration::from_secs(1)));
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 1_000_000) as f64 / 1_000_000.0
    };
    // Each request takes its latency of the connection's time: fewer fit
    // in a second when they are slower.
    let per_second = (1000.0 / slower) as u64;
    for second in 0..seconds {
        let drift = 0.9 + 0.2 * next();
        for i in 0..per_second {
            let latency_ns = (2e6 * slower * drift * (0.5 + next() + 3.0 * next().powi(6))) as u64;
            let result = if next() < error_share { Err(ErrorKind::Reset) } else { Ok(200) };
            let latency = Duration::from_nanos(latency_ns);
            let record = Record::sample(result, latency).sized(100, if result.is_ok() { 50 } else { 0 });
            let record = record.measured(TTFB, latency.mul_f64(ttfb_share)).counted(TOKENS, tokens);
            stats.record(&record);
            if let Some(done) = recorder.record(second * 1_000_000_000 + i * 1_000_000_000 / per_second, &record) {
                timeline.add(&done).unwrap();
            }
        }
    }
    timeline.add(&recorder.finish().unwrap()).unwrap();
    let info = RunInfo::sample(Duration::from_secs(seconds));
    let summary = Summary::new(&stats, &info).with_timeline(Some(&timeline));
    ResultDoc::new(&summary, Meta::sample(1_800_000_000, "http://h/"))
}

fn verdicts(diff: &Diff) -> Vec<(String, Verdict)> {
    diff.rows.iter().map(|r| (r.figure.name(), r.verdict)).collect()
}

#[test]
fn identical_runs_are_within_noise() {
    let base = run(30, 1.0, 0.0, 7);
    let diff = diff(&base, &base).unwrap();
    assert_eq!(diff.blocks, [30, 30]);
    assert!(diff.rows.iter().all(|r| r.verdict == Verdict::Noise), "{:?}", verdicts(&diff));
    assert!(diff.rows.iter().all(|r| r.change_pct.is_none_or(|c| c == 0.0)));
    assert_eq!(diff.regressions(0.0).count(), 0);
}

#[test]
fn a_run_20_percent_slower_is_worse() {
    let (base, new) = (run(30, 1.0, 0.0, 7), run(30, 1.2, 0.0, 99));
    let diff = diff(&base, &new).unwrap();
    let row = |name: &str| diff.rows.iter().find(|r| r.figure.name() == name).unwrap().clone();
    for name in ["requests/sec", "p50", "p75", "p90"] {
        assert_eq!(row(name).verdict, Verdict::Worse, "{name}: {:?}", verdicts(&diff));
    }
    let rps = row("requests/sec");
    assert!((rps.change_pct.unwrap() + 16.7).abs() < 1.0, "{rps:?}");
    assert!((row("p50").change_pct.unwrap() - 20.0).abs() < 6.0, "{:?}", row("p50"));
    assert_eq!(row("bytes/request").verdict, Verdict::Noise);
    assert_eq!(row("error rate").verdict, Verdict::Noise);
    assert!(diff.regressions(10.0).any(|r| r.figure == Figure::Rps));
    assert!(
        diff.regressions(50.0).all(|r| matches!(r.figure, Figure::Percentile(p) if p > 99.0)),
        "only tails move that much"
    );
    // The other way round, the same figures are better.
    let back = super::diff(&new, &base).unwrap();
    for name in ["requests/sec", "p50", "p90"] {
        let row = back.rows.iter().find(|r| r.figure.name() == name).unwrap();
        assert_eq!(row.verdict, Verdict::Better, "{name}");
    }
}

#[test]
fn errors_that_appear_are_worse_from_zero() {
    let (base, new) = (run(20, 1.0, 0.0, 7), run(20, 1.0, 0.05, 7));
    let diff = diff(&base, &new).unwrap();
    let errors = diff.rows.iter().find(|r| r.figure == Figure::ErrorRate).unwrap();
    assert_eq!((errors.verdict, errors.change_pct), (Verdict::Worse, None));
    assert!(diff.regressions(1000.0).any(|r| r.figure == Figure::ErrorRate), "from zero counts at any threshold");
}

#[test]
fn too_few_intervals_give_no_verdict() {
    let (base, new) = (run(3, 1.0, 0.0, 7), run(30, 2.0, 0.0, 7));
    let diff = diff(&base, &new).unwrap();
    assert!(diff.rows.iter().all(|r| r.verdict == Verdict::Unknown));
    assert!(diff.note.as_deref().unwrap().contains("too few intervals for a verdict (3 and 30;"), "{:?}", diff.note);
    let mut old = new.clone();
    old.timeline = None;
    assert!(super::diff(&old, &new).unwrap().note.unwrap().contains("without a timeline"));
}

#[test]
fn the_text_and_markdown_tables_hold_every_figure() {
    let (base, new) = (run(10, 1.0, 0.0, 7), run(10, 1.3, 0.0, 9));
    let diff = diff(&base, &new).unwrap();
    let mut text_out = Vec::new();
    render::text(&mut text_out, &diff, ["a.json", "b.json"], &Style::plain()).unwrap();
    let text_out = String::from_utf8(text_out).unwrap();
    let mut md = Vec::new();
    render::markdown(&mut md, &diff, ["a.json", "b.json"]).unwrap();
    let md = String::from_utf8(md).unwrap();
    assert!(text_out.starts_with("b.json against a.json (verdicts: 95% block bootstrap over 10 and 10 blocks"));
    assert!(md.contains("| figure | base | new | change | verdict |\n|---|---:|---:|---:|---|\n"), "{md}");
    for row in &diff.rows {
        let name = row.figure.name();
        assert!(text_out.lines().any(|l| l.trim_start().starts_with(&format!("{name} "))), "{name}:\n{text_out}");
        assert!(md.contains(&format!("| {name} |")), "{name}:\n{md}");
    }
    assert!(md.contains("| **worse** |"), "{md}");
}

/// A row of `figure` from `base` to `new` with `verdict`.
fn row(figure: Figure, verdict: Verdict, base: f64, new: f64) -> Row {
    let change_pct = (base != 0.0).then(|| 100.0 * (new - base) / base);
    Row { figure, base, new, change_pct, verdict }
}

#[test]
fn the_regression_gate_fails_closed_when_noise_is_unknown() {
    use Verdict::*;
    let p99 = Figure::Percentile(99.0);
    // (figure, verdict, base, new, fails at 10%)
    let cases = [
        (Figure::Rps, Unknown, 1000.0, 3.0, true),
        (Figure::Rps, Unknown, 1000.0, 950.0, false),
        (Figure::Rps, Unknown, 1000.0, 1000.0, false),
        (Figure::Rps, Unknown, 1000.0, 5000.0, false),
        (Figure::Rps, Unknown, 0.0, 500.0, false),
        (p99, Unknown, 0.002, 0.003, true),
        (p99, Unknown, 0.002, 0.0021, false),
        (p99, Unknown, 0.003, 0.002, false),
        (Figure::ErrorRate, Unknown, 0.0, 0.5, true),
        (Figure::ErrorRate, Unknown, 0.0, 0.0, false),
        (Figure::ErrorRate, Unknown, 2.0, 1.0, false),
        (Figure::BytesPerRequest, Unknown, 50.0, 5.0, false),
        (Figure::BytesPerRequest, Unknown, 50.0, 500.0, false),
        (Figure::BytesPerRequest, Changed, 50.0, 500.0, false),
        (Figure::Rps, Noise, 1000.0, 3.0, false),
        (p99, Noise, 0.002, 0.02, false),
        (Figure::Rps, Better, 1000.0, 3000.0, false),
        (Figure::Rps, Worse, 1000.0, 800.0, true),
        (Figure::Rps, Worse, 1000.0, 950.0, false),
        (p99, Worse, 0.002, 0.003, true),
        (Figure::ErrorRate, Worse, 0.0, 0.1, true),
    ];
    for (figure, verdict, base, new, fails) in cases {
        let row = row(figure, verdict, base, new);
        assert_eq!(row.regressed(10.0), fails, "{row:?}");
    }
    // At a threshold of 0 any move the worse way fails; none the other way.
    assert!(row(Figure::Rps, Unknown, 1000.0, 999.0).regressed(0.0));
    assert!(!row(Figure::Rps, Unknown, 1000.0, 1001.0).regressed(0.0));
}

#[test]
fn the_gate_says_when_noise_could_not_be_judged() {
    let (base, new) = (run(3, 1.0, 0.0, 7), run(2, 3.0, 0.0, 9));
    let diff = diff(&base, &new).unwrap();
    assert_eq!(diff.unjudged(), Some(Unjudged::TooFewIntervals));
    let names: Vec<String> = diff.regressions(10.0).map(|r| r.figure.name()).collect();
    assert!(names.contains(&"requests/sec".to_string()) && names.contains(&"p50".to_string()), "{names:?}");
    let mut out = Vec::new();
    render::gate(&mut out, &diff, 10.0, false).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("\nnoise could not be judged (too few intervals): judged on the change alone\n"), "{out}");
    assert!(out.contains("--fail-on-regression 10%: regression in requests/sec -66."), "{out}");

    let mut old = base.clone();
    old.timeline = None;
    let diff = super::diff(&old, &old).unwrap();
    assert_eq!((diff.unjudged(), diff.regressions(0.0).count()), (Some(Unjudged::NoTimeline), 0));
    let mut out = Vec::new();
    render::gate(&mut out, &diff, 0.0, true).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(
        out,
        "\nnoise could not be judged (no timeline): judged on the change alone\n\n--fail-on-regression 0%: no regression\n"
    );

    let same = run(10, 1.0, 0.0, 7);
    let diff = super::diff(&same, &same).unwrap();
    let mut out = Vec::new();
    render::gate(&mut out, &diff, 5.0, false).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "\n--fail-on-regression 5%: no regression\n");
}

#[test]
fn a_named_metric_is_compared_like_the_latency_percentiles() {
    // The same latencies, the body beginning later in each response.
    let (base, new) = (run_with_ttfb(30, 1.0, 0.0, 7, 0.5, 0), run_with_ttfb(30, 1.0, 0.0, 7, 0.7, 0));
    let diff = diff(&base, &new).unwrap();
    let row = |name: &str| diff.rows.iter().find(|r| r.figure.name() == name).unwrap_or_else(|| panic!("{name}"));
    for p in PERCENTILES {
        assert_eq!(row(&format!("p{p}")).verdict, Verdict::Noise, "p{p}: {:?}", verdicts(&diff));
        let ttfb = row(&format!("ttfb.p{p}"));
        assert!((ttfb.change_pct.unwrap() - 40.0).abs() < 1.0, "ttfb.p{p}: {ttfb:?}");
    }
    for name in ["ttfb.p50", "ttfb.p90", "ttfb.p99"] {
        assert_eq!(row(name).verdict, Verdict::Worse, "{name}: {:?}", verdicts(&diff));
    }
    let regressions: Vec<&Row> = diff.regressions(30.0).collect();
    assert!(regressions.len() >= 3 && regressions.iter().all(|r| matches!(r.figure, Figure::Metric(..))));
    // Only metrics both results have: none against a result without them.
    let mut old = base.clone();
    old.metrics.clear();
    assert!(super::diff(&old, &new).unwrap().rows.iter().all(|r| !matches!(r.figure, Figure::Metric(..))));
    let mut text = Vec::new();
    render::text(&mut text, &diff, ["a.json", "b.json"], &Style::plain()).unwrap();
    let text = String::from_utf8(text).unwrap();
    let line = text.lines().find(|l| l.trim_start().starts_with("ttfb.p99 ")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.ends_with("worse") && line.contains(" ms "), "{line}");
}

#[test]
fn token_rates_are_compared_when_both_runs_counted_tokens() {
    let (base, same, more) = (
        run_with_ttfb(30, 1.0, 0.0, 7, 0.5, 10),
        run_with_ttfb(30, 1.0, 0.0, 8, 0.5, 10),
        run_with_ttfb(30, 1.0, 0.0, 8, 0.5, 20),
    );
    let rate = |d: &Diff| {
        d.rows
            .iter()
            .find(|r| r.figure == Figure::CounterRate(TOKENS))
            .map(|r| (r.verdict, r.change_pct.unwrap().round()))
    };
    assert_eq!(rate(&diff(&base, &same).unwrap()).map(|r| r.0), Some(Verdict::Noise));
    assert_eq!(rate(&diff(&base, &more).unwrap()), Some((Verdict::Better, 100.0)));
    assert_eq!(Figure::CounterRate(TOKENS).name(), "tokens/sec");
    assert_eq!(rate(&diff(&base, &run(30, 1.0, 0.0, 8)).unwrap()), None, "not when one run counted none");
}
