//! The report's charts, as inline SVG: requests/sec over time by status
//! class, latency percentiles over time, and the percentile curve of the
//! whole distribution. Several runs overlay with one color each.

use super::svg::{Chart, Scale, short};
use super::{CLASS_COLORS, Point, Run, TimeUnit};
use crate::stats::timeline::CLASSES;

pub(super) const WIDTH: f64 = 960.0;
pub(super) const HEIGHT: f64 = 300.0;
const ERROR_COLOR: &str = "#a00000";
const TARGET_COLOR: &str = "#222222";

/// A point covering less than this share of its nominal length (the run's
/// last, cut short by the deadline) has too little time for a rate.
const MIN_COVERED: f64 = 0.25;

pub(super) fn longest(runs: &[Run]) -> f64 {
    runs.iter().filter_map(|r| r.points.last().map(|p| p.t1)).fold(1.0, f64::max)
}

pub(super) fn seconds(v: f64) -> String {
    format!("{}s", short(v))
}

/// Points that cover enough time to be drawn (a sliver at the end, a few
/// responses that completed after the deadline, would be noise).
pub(super) fn rated<'r>(run: &'r Run) -> impl Iterator<Item = &'r Point> {
    run.points.iter().filter(|p| p.covered() >= MIN_COVERED * run.point_s)
}

/// The line that marks the end of a warm-up.
const WARMUP_COLOR: &str = "#8e44ad";

/// Requests/sec over time: one run stacks its status classes; several
/// runs draw their totals. Errors are marked where they happened.
pub fn throughput(runs: &[Run]) -> String {
    let peak = runs.iter().flat_map(rated).map(|p| p.rps((p.responses() + p.errors).max(p.sent))).fold(0.0, f64::max);
    let asked = runs.iter().filter_map(|r| r.info.rate.as_ref()).map(crate::summary::Rate::peak);
    let peak = asked.fold(peak, f64::max);
    let mut chart = Chart::new(WIDTH, HEIGHT, Scale::Linear { min: 0.0, max: longest(runs) }, Scale::from_zero(peak));
    chart.axes("time since start", "requests/sec", &seconds, &|v| short(v));
    let mut legend = Vec::new();
    if let [run] = runs {
        let points: Vec<&Point> = rated(run).collect();
        let xs: Vec<f64> = points.iter().map(|p| p.mid()).collect();
        let mut lower = vec![0.0; points.len()];
        for (class, name) in CLASSES.iter().enumerate().filter(|(c, _)| points.iter().any(|p| p.classes[*c] > 0)) {
            let upper: Vec<f64> = points.iter().zip(&lower).map(|(p, low)| low + p.rps(p.classes[class])).collect();
            chart.band(&xs, &lower, &upper, CLASS_COLORS[class]);
            legend.push((CLASS_COLORS[class].to_string(), None, format!("{name} responses")));
            lower = upper;
        }
    } else {
        for run in runs {
            let line: Vec<(f64, f64)> = rated(run).map(|p| (p.mid(), p.rps(p.responses()))).collect();
            chart.line(&line, run.color, None);
            legend.push((run.color.to_string(), None, format!("{} responses/sec", run.label)));
        }
    }
    for run in runs.iter().filter(|run| run.info.rate.is_some()) {
        // --rate: what the schedule asked for, and what was sent.
        let rate = run.info.rate.as_ref().map_or(0.0, |r| r.target);
        let target: Vec<(f64, f64)> = rated(run)
            .map(|p| (p.mid(), run.info.rate.as_ref().map_or(rate, |r| r.target_between(p.t0, p.t1))))
            .collect();
        let sent: Vec<(f64, f64)> = rated(run).map(|p| (p.mid(), p.rps(p.sent))).collect();
        let label = if runs.len() > 1 { format!("{} ", run.label) } else { String::new() };
        chart.line(&target, TARGET_COLOR, Some("6 4"));
        chart.line(&sent, run.color, Some("1 2"));
        legend.push((TARGET_COLOR.to_string(), Some("6 4"), format!("{label}target (--rate)")));
        legend.push((run.color.to_string(), Some("1 2"), format!("{label}sent/sec")));
    }
    if let Some(end) = runs.iter().filter_map(|r| r.info.warmup).max() {
        // Left of this line the requests were the warm-up's, not counted.
        let x = end.as_secs_f64();
        chart.line(&[(x, 0.0), (x, peak)], WARMUP_COLOR, Some("2 3"));
        legend.push((WARMUP_COLOR.to_string(), Some("2 3"), "end of the warm-up".to_string()));
    }
    for run in runs {
        for p in rated(run).filter(|p| p.errors > 0) {
            let tip = format!("{}: {} errors at {}–{}", run.label, p.errors, seconds(p.t0), seconds(p.t1));
            chart.marker(p.mid(), p.rps(p.errors), ERROR_COLOR, &tip);
        }
    }
    if runs.iter().any(|r| r.points.iter().any(|p| p.errors > 0)) {
        legend.push((ERROR_COLOR.to_string(), Some("2 2"), "errors/sec (marked)".to_string()));
    }
    hover(&mut chart, runs, &|run, p| {
        let classes: Vec<String> = (CLASSES.iter().zip(p.classes))
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name} {}", short(p.rps(n))))
            .collect();
        format!("{}: {} req/s ({}), {} errors", run.label, short(p.rps(p.responses())), classes.join(", "), p.errors)
    });
    chart.finish("throughput", "Requests per second over time", &legend)
}

/// One hover column per point of the longest run, listing every run's
/// values at that time.
pub(super) fn hover(chart: &mut Chart, runs: &[Run], text: &dyn Fn(&Run, &Point) -> String) {
    let Some(densest) = runs.iter().max_by_key(|r| r.points.len()) else { return };
    let columns = densest.points.iter().map(|column| {
        let lines: Vec<String> = runs
            .iter()
            .filter_map(|run| {
                run.points.iter().find(|p| p.t0 <= column.mid() && column.mid() < p.t1).map(|p| text(run, p))
            })
            .collect();
        (column.t0, column.t1, format!("{}–{}\n{}", seconds(column.t0), seconds(column.t1), lines.join("\n")))
    });
    chart.hover(&columns.collect::<Vec<_>>());
}

/// A latency axis: log when the values span more than two decades.
pub(super) fn latency_scale(values: impl Iterator<Item = f64>) -> (Scale, TimeUnit) {
    let (min, max) = values.filter(|v| *v > 0.0).fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let unit = TimeUnit::for_max(max);
    let scale = if max > 0.0 && max / min > 100.0 { Scale::log(min, max) } else { Scale::from_zero(max) };
    (scale, unit)
}

/// p50, p90, p99 and max per interval (several runs: p50 and p99 each).
pub fn latency(runs: &[Run]) -> String {
    let all = runs.iter().flat_map(|r| r.points.iter()).flat_map(|p| [p.p50, p.max]);
    let (y, unit) = latency_scale(all);
    let mut chart = Chart::new(WIDTH, HEIGHT, Scale::Linear { min: 0.0, max: longest(runs) }, y);
    chart.axes("time since start", &format!("latency ({})", unit.name), &seconds, &|v| unit.short(v));
    let mut legend = Vec::new();
    let single = runs.len() == 1;
    type Pick = fn(&Point) -> f64;
    let lines: [(&str, Pick, &str, Option<&str>); 4] = [
        ("p50", |p| p.p50, "#2e9d4a", None),
        ("p90", |p| p.p90, "#c2a100", Some("6 3")),
        ("p99", |p| p.p99, "#e0651e", Some("2 2")),
        ("max", |p| p.max, "#d23b3b", Some("1 3")),
    ];
    for run in runs {
        for &(name, pick, color, dash) in &lines {
            if !single && !matches!(name, "p50" | "p99") {
                continue;
            }
            let points: Vec<(f64, f64)> =
                rated(run).map(|p| (p.mid(), if p.count > 0 { pick(p) } else { f64::NAN })).collect();
            let color = if single { color } else { run.color };
            chart.line(&points, color, dash);
            let label = if single { name.to_string() } else { format!("{} {name}", run.label) };
            legend.push((color.to_string(), dash, label));
        }
    }
    hover(&mut chart, runs, &|run, p| {
        let [a, b, c, d] = [p.p50, p.p90, p.p99, p.max].map(|v| unit.text(v));
        format!("{}: p50 {a}, p90 {b}, p99 {c}, max {d} ({} values)", run.label, p.count)
    });
    chart.finish("latency-over-time", "Latency percentiles over time", &legend)
}

/// "Nines" for the percentile curve: x = -log10(1 - q).
fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-9).log10()
}

/// The percentile `n` nines up: 0%, 90%, 99%, 99.9% ...
fn nines_label(n: u32) -> String {
    match n {
        0 => "0%".into(),
        1 => "90%".into(),
        n => format!("99{}{}%", if n > 2 { "." } else { "" }, "9".repeat(n as usize - 2)),
    }
}

/// Dash patterns of the named metrics' curves, in the order of the table.
const METRIC_DASHES: [&str; 3] = ["6 4", "2 3", "10 3 2 3"];

/// The corrected latency and the named metrics with samples of `run`.
fn distributions<'a>(run: &'a Run) -> impl Iterator<Item = &'a crate::stats::Histogram> + 'a {
    let metrics = run.stats.metrics.iter().map(|(_, h)| h).filter(|h| h.count() > 0);
    std::iter::once(&run.stats.corrected).chain(metrics)
}

/// The whole distribution as a percentile curve (as HdrHistogram plots):
/// x in nines (90%, 99%, 99.9% ...), latency on a log scale; the named
/// metrics' curves (time to first byte) are drawn dashed beside it.
pub fn percentile_curve(runs: &[Run]) -> String {
    let top = runs.iter().map(|r| (r.stats.corrected.count().max(10) as f64).log10().min(6.0)).fold(1.0, f64::max);
    let values = runs.iter().flat_map(distributions).flat_map(|h| [h.min_ns(), h.max_ns()]).map(|ns| ns as f64 / 1e9);
    let (min, max) = values.filter(|v| *v > 0.0).fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let unit = TimeUnit::for_max(max);
    let mut chart = Chart::new(WIDTH, HEIGHT, Scale::Linear { min: 0.0, max: top.ceil() }, Scale::log(min, max));
    chart.x_ticks((0..=top.ceil() as u32).map(f64::from).collect());
    let percent = |x: f64| nines_label(x.round() as u32);
    chart.axes("percentile", &format!("latency ({})", unit.name), &percent, &|v| unit.short(v));
    let mut legend = Vec::new();
    for run in runs {
        let h = &run.stats.corrected;
        if h.count() == 0 {
            continue;
        }
        let curve = |h: &crate::stats::Histogram| -> Vec<(f64, f64)> {
            let steps = 240;
            (0..=steps)
                .map(|i| top * i as f64 / steps as f64)
                .map(|x| (x, h.percentile_ns(100.0 * (1.0 - 10f64.powf(-x))) as f64 / 1e9))
                .collect()
        };
        chart.line(&curve(h), run.color, None);
        legend.push((run.color.to_string(), None, run.label.clone()));
        for (i, (metric, values)) in run.stats.metrics.iter().enumerate().filter(|(_, (_, h))| h.count() > 0) {
            let dash = METRIC_DASHES[i % METRIC_DASHES.len()];
            chart.line(&curve(values), run.color, Some(dash));
            legend.push((run.color.to_string(), Some(dash), format!("{}: {}", run.label, metric.id)));
        }
        for p in [50.0, 90.0, 99.0, 99.9, 99.99].into_iter().filter(|p| nines(p / 100.0) <= top) {
            let v = h.percentile_ns(p) as f64 / 1e9;
            chart.marker(nines(p / 100.0), v, run.color, &format!("{}: p{p} = {}", run.label, unit.text(v)));
        }
    }
    chart.finish("percentile-curve", "Latency by percentile (corrected; named metrics dashed)", &legend)
}
