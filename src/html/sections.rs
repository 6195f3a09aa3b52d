//! The report's tables: the summary side by side, the 11-level histogram
//! in the text report's colors, status codes and errors, phases, insight
//! and thresholds, and what each run was (command, backend, machine).

use std::fmt::Write;

use super::svg::{escape, short};
use super::{Run, TimeUnit};
use crate::report::GRADIENT;
use crate::summary::{Grade, Summary};

pub(super) fn ms(ns: f64) -> String {
    format!("{:.3} ms", ns / 1e6)
}

/// A table with a header row of run labels (with their color) and one row
/// per (name, cells).
pub(super) fn table(runs: &[Run], rows: &[(String, Vec<String>)]) -> String {
    let mut html = String::from("<table class=\"num\"><tr><th></th>");
    for run in runs {
        let _ = write!(
            html,
            "<th><span class=\"swatch\" style=\"background:{}\"></span>{}</th>",
            run.color,
            escape(&run.label)
        );
    }
    html.push_str("</tr>");
    for (name, cells) in rows {
        let _ = write!(html, "<tr><td>{}</td>", escape(name));
        for cell in cells {
            let _ = write!(html, "<td>{cell}</td>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

/// The figures of the text report's Summary, one column per run.
pub fn summary(runs: &[Run]) -> String {
    let summaries: Vec<Summary> = runs.iter().map(|r| Summary::new(&r.stats, &r.info)).collect();
    type Cell = fn(&Run, &Summary) -> String;
    let figures: [(&str, Cell); 13] = [
        ("Requests/sec", |_, s| format!("<b>{:.2}</b>", s.requests_per_sec)),
        ("Total time", |r, _| {
            let cut = if r.info.interrupted { " (interrupted)" } else { "" };
            format!("{:.3} s{cut}", r.info.elapsed.as_secs_f64())
        }),
        ("Responses", |r, _| r.stats.responses.to_string()),
        ("Errors", |r, _| {
            let completed = (r.stats.responses + r.stats.total_errors()).max(1);
            format!("{} ({:.3}%)", r.stats.total_errors(), 100.0 * r.stats.total_errors() as f64 / completed as f64)
        }),
        ("Aborted (not errors)", |r, _| r.stats.aborted.to_string()),
        ("Average", |r, _| ms(r.stats.corrected.mean_ns())),
        ("Fastest", |r, _| ms(r.stats.corrected.min_ns() as f64)),
        ("p50", |_, s| ms(percentile(s, 50.0))),
        ("p90", |_, s| ms(percentile(s, 90.0))),
        ("p99", |_, s| ms(percentile(s, 99.0))),
        ("p99.9", |_, s| ms(percentile(s, 99.9))),
        ("Slowest", |r, _| ms(r.stats.corrected.max_ns() as f64)),
        ("Size/response", |_, s| format!("{} bytes", s.size_per_request)),
    ];
    let mut rows: Vec<(String, Vec<String>)> = figures
        .iter()
        .map(|(name, cell)| (name.to_string(), runs.iter().zip(&summaries).map(|(r, s)| cell(r, s)).collect()))
        .collect();
    let connections = |r: &Run| match &r.info.stages {
        Some(stages) => crate::summary::describe_stages(stages, r.info.warmup.is_some()),
        None => r.info.connections.to_string(),
    };
    rows.push(("Connections".into(), runs.iter().map(connections).collect()));
    if runs.iter().any(|r| r.info.warmup.is_some()) {
        let warmup = |r: &Run| match r.info.warmup {
            Some(w) => {
                let counts = &r.doc.run.warmup;
                let responses = counts.map_or(0, |c| c.responses);
                format!("{:.1} s, {responses} responses not counted", w.as_secs_f64())
            }
            None => "none".to_string(),
        };
        rows.push(("Warm-up".into(), runs.iter().map(warmup).collect()));
    }
    if runs.iter().any(|r| r.info.rate.is_some()) {
        let rate = |r: &Run| match &r.info.rate {
            None => "closed loop".to_string(),
            Some(rate) => match &rate.shape {
                Some(shape) => format!(
                    "{} req/s: {}",
                    short(rate.target),
                    crate::summary::describe_shape(shape, r.info.warmup.is_some())
                ),
                None => format!("{} req/s", short(rate.target)),
            },
        };
        rows.push(("Target rate (--rate)".into(), runs.iter().map(rate).collect()));
    }
    if runs.iter().any(|r| r.doc.tls.is_some()) {
        let tls = |r: &Run| {
            r.doc
                .tls
                .as_ref()
                .map_or("—".into(), |t| escape(&format!("{}, {}, {}", t.version, t.cipher_suite, t.group)))
        };
        rows.push(("TLS".into(), runs.iter().map(tls).collect()));
    }
    format!(
        "<h2>Summary</h2>{}<p class=\"muted\">Latency is corrected for coordinated omission: measured from each request's intended start.</p>",
        table(runs, &rows)
    )
}

fn percentile(summary: &Summary, p: f64) -> f64 {
    summary.percentiles.iter().find(|q| q.p == p).map_or(0.0, |q| q.corrected_ns as f64)
}

/// A 256-color cube index (16..=231) as CSS.
fn cube_rgb(index: u8) -> String {
    let i = index.saturating_sub(16);
    let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * u32::from(v) };
    format!("rgb({},{},{})", level(i / 36), level((i / 6) % 6), level(i % 6))
}

/// The text report's 11-row histogram, per run.
pub fn histograms(runs: &[Run]) -> String {
    let mut html =
        String::from("<h2>Histogram</h2><div id=\"histogram\" style=\"display:flex;flex-wrap:wrap;gap:24px\">");
    for run in runs {
        let rows = Summary::new(&run.stats, &run.info).histogram;
        let peak = rows.iter().map(|&(_, n)| n).max().unwrap_or(0).max(1);
        let unit = TimeUnit::for_max(rows.last().map_or(0.0, |&(edge, _)| edge as f64 / 1e9));
        let _ = write!(html, "<table class=\"histogram num\"><tr><th colspan=\"3\">{}</th></tr>", escape(&run.label));
        for (i, &(edge, count)) in rows.iter().enumerate() {
            let width = 240.0 * count as f64 / peak as f64;
            let color = cube_rgb(GRADIENT[i.min(GRADIENT.len() - 1)]);
            let _ = write!(
                html,
                "<tr><td>{}</td><td style=\"text-align:left\"><span class=\"bar\" style=\"width:{width:.0}px;background:{color}\"></span></td><td>{count}</td></tr>",
                unit.text(edge as f64 / 1e9)
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</div>");
    html
}

/// A table per named metric that any run has samples of: its count,
/// average, extremes and percentiles, one column per run (see
/// [`crate::stats::metrics`]; a new metric shows here without a change).
pub fn metrics(runs: &[Run]) -> String {
    let summaries: Vec<Summary> = runs.iter().map(|r| Summary::new(&r.stats, &r.info)).collect();
    let mut html = String::new();
    for (i, metric) in crate::stats::METRICS.iter().enumerate() {
        let of_runs: Vec<&crate::summary::MetricSummary> = summaries.iter().map(|s| &s.metrics[i]).collect();
        if of_runs.iter().all(|m| m.count == 0) {
            continue;
        }
        let row = |name: &str, cell: &dyn Fn(&crate::summary::MetricSummary) -> String| {
            let cells = of_runs.iter().map(|m| if m.count == 0 { "—".to_string() } else { cell(m) });
            (name.to_string(), cells.collect::<Vec<_>>())
        };
        let counted = if metric.per_response { "Responses" } else { "Values" };
        let mut rows = vec![row(counted, &|m| m.count.to_string()), row("Average", &|m| ms(m.mean_ns))];
        rows.push(row("Fastest", &|m| ms(m.min_ns as f64)));
        for (k, &(p, _)) in of_runs[0].percentiles.iter().enumerate() {
            rows.push(row(&format!("p{p}"), &|m| ms(m.percentiles[k].1 as f64)));
        }
        rows.push(row("Slowest", &|m| ms(m.max_ns as f64)));
        let _ = write!(
            html,
            "<h2>{} ({})</h2><div id=\"metric-{}\">{}</div><p class=\"muted\">{}.</p>",
            escape(metric.label),
            escape(metric.id),
            escape(metric.id),
            table(runs, &rows),
            escape(&capitalized(metric.meaning))
        );
    }
    html
}

/// `text` with its first letter in upper case.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

/// Status codes and error categories, per run.
pub fn outcomes(runs: &[Run]) -> String {
    let mut names: Vec<String> = Vec::new();
    for run in runs {
        let codes = run.stats.statuses().map(|(code, _)| format!("[{code}]"));
        let errors = run.stats.errors().map(|(kind, _)| kind.label().to_string());
        for name in codes.chain(errors) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let count = |run: &Run, name: &str| -> u64 {
        let code = run.stats.statuses().find(|(code, _)| format!("[{code}]") == name).map(|(_, n)| n);
        code.or_else(|| run.stats.errors().find(|(k, _)| k.label() == name).map(|(_, n)| n)).unwrap_or(0)
    };
    let rows: Vec<(String, Vec<String>)> =
        names.iter().map(|name| (name.clone(), runs.iter().map(|r| count(r, name).to_string()).collect())).collect();
    format!("<h2>Status codes and errors</h2>{}", table(runs, &rows))
}

/// Average time of each phase of a request, with bars (fastest and
/// slowest in the tooltip).
pub fn phases(runs: &[Run]) -> String {
    type Pick = fn(&Run) -> Option<crate::stats::Phase>;
    let phases: [(&str, Pick); 6] = [
        ("connect", |r| Some(r.stats.connect).filter(|p| p.count > 0)),
        ("proxy tunnel", |r| Some(r.stats.tunnel).filter(|p| p.count > 0)),
        ("TLS handshake", |r| Some(r.stats.tls.handshake).filter(|p| p.count > 0)),
        ("request write", |r| Some(r.stats.write).filter(|p| p.count > 0)),
        ("response wait", |r| Some(r.stats.wait).filter(|p| p.count > 0)),
        ("response read", |r| Some(r.stats.read).filter(|p| p.count > 0)),
    ];
    let peak = runs
        .iter()
        .flat_map(|r| phases.iter().filter_map(move |(_, pick)| pick(r)))
        .map(|p| p.mean_ns())
        .max()
        .unwrap_or(1)
        .max(1);
    let rows: Vec<(String, Vec<String>)> = phases
        .iter()
        .filter(|(_, pick)| runs.iter().any(|r| pick(r).is_some()))
        .map(|(name, pick)| {
            let cells = runs.iter().map(|run| match pick(run) {
                None => "—".to_string(),
                Some(p) => format!(
                    "<span title=\"fastest {}, slowest {}, {} times\"><span class=\"bar\" style=\"width:{:.0}px;background:{}\"></span> {}</span>",
                    ms(p.min_ns() as f64),
                    ms(p.max_ns as f64),
                    p.count,
                    160.0 * p.mean_ns() as f64 / peak as f64,
                    run.color,
                    ms(p.mean_ns() as f64)
                ),
            });
            (name.to_string(), cells.collect())
        })
        .collect();
    format!("<h2>Phases (average)</h2><div id=\"phases\">{}</div>", table(runs, &rows))
}

/// Insight ratios and warnings, and the thresholds checked when the
/// result was written.
pub fn insight(runs: &[Run]) -> String {
    let mut html = String::from("<h2>Insight</h2>");
    for run in runs {
        let summary = Summary::new(&run.stats, &run.info);
        let _ = write!(html, "<h3>{}</h3><table class=\"num\">", escape(&run.label));
        for r in &summary.ratios {
            let class = match r.grade {
                Grade::Good => "pass",
                Grade::Fair => "",
                Grade::Poor => "fail",
            };
            let _ = write!(
                html,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"{class}\">{}</td></tr>",
                escape(r.name),
                escape(r.formula),
                short(r.value),
                escape(r.verdict)
            );
        }
        html.push_str("</table>");
        for warning in &summary.warnings {
            let _ = write!(html, "<p class=\"fail\">{}</p>", escape(warning));
        }
        for a in &run.doc.assertions {
            let (class, verdict) = if a.pass { ("pass", "pass") } else { ("fail", "FAIL") };
            let _ = write!(
                html,
                "<p><span class=\"{class}\">{verdict}</span> <code>{}</code> measured {}</p>",
                escape(&a.expr),
                escape(&a.shown)
            );
        }
    }
    html
}

/// What each run was: command line, target, times, backend, machine.
pub fn runs(runs: &[Run]) -> String {
    let mut html = String::from("<h2>Runs</h2>");
    for run in runs {
        let doc = run.doc;
        let _ = write!(
            html,
            "<h3><span class=\"swatch\" style=\"background:{}\"></span>{}</h3><table>",
            run.color,
            escape(&run.label)
        );
        let mut row = |name: &str, value: String| {
            let _ = write!(html, "<tr><td>{name}</td><td style=\"text-align:left\">{value}</td></tr>");
        };
        row("command", format!("<code>{}</code>", escape(&doc.command.join(" "))));
        row("target", escape(&format!("{} {}", doc.target.method, doc.target.url)));
        row("time (UTC)", escape(&format!("{} to {}", doc.start_utc, doc.end_utc)));
        row(
            "backend",
            escape(&format!("{}; {} workers, {} connections", doc.run.backend, doc.run.workers, doc.run.connections)),
        );
        if doc.run.protocol != crate::summary::Protocol::Http1.name() {
            let protocol = crate::summary::Protocol::from_name(&doc.run.protocol, doc.run.streams_per_connection);
            row("protocol", escape(&protocol.map_or_else(|| doc.run.protocol.clone(), |p| p.describe())));
        }
        if let Some(proxy) = &doc.run.proxy {
            row("proxy", escape(proxy));
        }
        if let Some(m) = &doc.machine {
            row(
                "machine",
                escape(&format!("{}: {} {}, kernel {}, {} CPUs", m.hostname, m.os, m.arch, m.kernel, m.cpus)),
            );
        }
        if let Some(busy) = doc.run.load.own_busy {
            row("generator load", format!("{:.0}% of {} cores", busy * 100.0, doc.run.load.cores));
        }
        if !doc.parts.is_empty() {
            row("merged from", format!("{} results", doc.parts.len()));
        }
        html.push_str("</table>");
    }
    html
}

/// Each target's figures, one table per run that had several targets.
pub fn targets(runs: &[Run]) -> String {
    let mut html = String::new();
    for run in runs {
        let labels = run.info.requests.as_ref().map_or(&[][..], |r| &r.labels[..]);
        let rows = crate::summary::targets(&run.stats, labels);
        if rows.is_empty() {
            continue;
        }
        let of = if runs.len() > 1 { format!(": {}", escape(&run.label)) } else { String::new() };
        let _ = write!(
            html,
            "<h2>Targets{of}</h2><table class=\"num\"><tr><th>Target</th><th>Requests</th><th>Errors</th>\
             <th>p50</th><th>p99</th><th>Status codes</th></tr>"
        );
        for row in rows {
            let codes: Vec<String> = row.codes.iter().map(|(code, n)| format!("{code}: {n}")).collect();
            let latency = |ns: u64| if row.responses > 0 { ms(ns as f64) } else { "-".into() };
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&row.label),
                row.requests,
                row.errors,
                latency(row.p50_ns),
                latency(row.p99_ns),
                escape(&codes.join(", "))
            );
        }
        html.push_str("</table>");
    }
    html
}
