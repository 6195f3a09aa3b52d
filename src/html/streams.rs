//! The HTML report's part for event streams, shown when a run streamed or
//! reported tokens: a table of what the streams came to (one column per
//! run), output tokens per second over time, and the time to first token
//! over time. The token timings' full distributions are in the metric
//! tables below it.

use std::fmt::Write;

use super::charts::{HEIGHT, WIDTH, hover, latency_scale, longest, rated, seconds};
use super::sections::{ms, table};
use super::svg::{Chart, Scale, escape, short};
use super::{Point, Run};
use crate::summary::{StreamingSummary, Summary};

/// The streams' table and charts; empty when no run streamed.
pub fn section(runs: &[Run]) -> String {
    let summaries: Vec<Option<StreamingSummary>> =
        runs.iter().map(|r| Summary::new(&r.stats, &r.info).streaming).collect();
    if summaries.iter().all(Option::is_none) {
        return String::new();
    }
    let row = |name: &str, cell: &dyn Fn(&StreamingSummary) -> String| {
        let cells = summaries.iter().map(|s| s.as_ref().map_or("—".to_string(), cell));
        (name.to_string(), cells.collect::<Vec<_>>())
    };
    let mut rows = vec![
        row("Streamed responses", &|s| s.responses.to_string()),
        row("Events per response", &|s| format!("{:.1}", s.events_per_response)),
        row("Output tokens", &|s| format!("{} ({})", s.output_tokens, s.token_source.id())),
        row("Output tokens/sec", &|s| format!("{:.2}", s.output_tokens_per_sec)),
        row("TTFT p50 / p99", &|s| format!("{} / {}", ms(s.ttft.p50_ns as f64), ms(s.ttft.p99_ns as f64))),
        row("ITL p50 / p99", &|s| format!("{} / {}", ms(s.itl.p50_ns as f64), ms(s.itl.p99_ns as f64))),
        row("TPOT p50 / p99", &|s| format!("{} / {}", ms(s.tpot.p50_ns as f64), ms(s.tpot.p99_ns as f64))),
    ];
    if summaries.iter().flatten().any(|s| s.goodput.is_some()) {
        rows.push(row("Goodput", &|s| match &s.goodput {
            Some(g) => format!("{:.2} req/s ({:.1}%, {})", g.per_sec, g.share_percent, escape(&g.expr)),
            None => "—".into(),
        }));
    }
    let mut html = String::new();
    let _ = write!(html, "<h2>Streaming</h2><div id=\"streaming\">{}</div>", table(runs, &rows));
    if runs.iter().any(|r| r.points.iter().any(|p| p.tokens > 0 || p.ttft_count > 0)) {
        html.push_str(&tokens_over_time(runs));
        html.push_str(&ttft_over_time(runs));
    }
    html
}

/// Output tokens per second, interval by interval, a line per run.
fn tokens_over_time(runs: &[Run]) -> String {
    let peak = runs.iter().flat_map(rated).map(|p| p.rps(p.tokens)).fold(0.0, f64::max);
    let mut chart = Chart::new(WIDTH, HEIGHT, Scale::Linear { min: 0.0, max: longest(runs) }, Scale::from_zero(peak));
    chart.axes("time since start", "output tokens/sec", &seconds, &|v| short(v));
    let mut legend = Vec::new();
    for run in runs {
        let line: Vec<(f64, f64)> = rated(run).map(|p| (p.mid(), p.rps(p.tokens))).collect();
        chart.line(&line, run.color, None);
        legend.push((run.color.to_string(), None, format!("{} tokens/sec", run.label)));
    }
    hover(&mut chart, runs, &|run, p| format!("{}: {} tokens/s", run.label, short(p.rps(p.tokens))));
    chart.finish("tokens-over-time", "Output tokens per second over time", &legend)
}

/// The time to first token's median and p99, interval by interval.
fn ttft_over_time(runs: &[Run]) -> String {
    let all =
        runs.iter().flat_map(|r| r.points.iter()).filter(|p| p.ttft_count > 0).flat_map(|p| [p.ttft_p50, p.ttft_p99]);
    let (y, unit) = latency_scale(all);
    let mut chart = Chart::new(WIDTH, HEIGHT, Scale::Linear { min: 0.0, max: longest(runs) }, y);
    chart.axes("time since start", &format!("time to first token ({})", unit.name), &seconds, &|v| unit.short(v));
    let mut legend = Vec::new();
    type Pick = fn(&Point) -> f64;
    let lines: [(&str, Pick, Option<&str>); 2] = [("p50", |p| p.ttft_p50, None), ("p99", |p| p.ttft_p99, Some("2 2"))];
    for run in runs {
        for &(name, pick, dash) in &lines {
            let points: Vec<(f64, f64)> =
                rated(run).map(|p| (p.mid(), if p.ttft_count > 0 { pick(p) } else { f64::NAN })).collect();
            chart.line(&points, run.color, dash);
            legend.push((run.color.to_string(), dash, format!("{} TTFT {name}", run.label)));
        }
    }
    hover(&mut chart, runs, &|run, p| {
        format!(
            "{}: TTFT p50 {}, p99 {} ({} responses)",
            run.label,
            unit.text(p.ttft_p50),
            unit.text(p.ttft_p99),
            p.ttft_count
        )
    });
    chart.finish("ttft-over-time", "Time to first token over time", &legend)
}
