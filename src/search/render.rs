//! A search's outputs: the text report (the answer in one line, then the
//! table of steps) and its JSON document, both from the same [`Search`].

use std::io::{self, Write};

use serde::Serialize;

use super::{End, Limit, Phase, Search, Step};
use crate::term::Style;

/// What the search was asked, for both outputs.
pub struct Asked<'a> {
    /// The SLO as given (`p99<50ms,errors<1%`).
    pub slo: &'a str,
    /// The configured step length, seconds.
    pub step_s: f64,
}

fn rate(v: f64) -> String {
    let whole = format!("{:.0}", v.round());
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(ns: u64) -> String {
    format!("{:.2} ms", ns as f64 / 1e6)
}

/// The answer, in one line.
pub fn headline(search: &Search, asked: &Asked) -> String {
    let slo = asked.slo;
    let passing = search.passing.map(rate);
    match (search.end(), passing) {
        (Some(End::LowestFails), _) => {
            let first = search.steps.first().map_or(0.0, |s| s.target);
            format!("even the first step, {} req/s, did not meet {slo}: start lower (--find-max-start)", rate(first))
        }
        (Some(End::Generator), passing) => {
            let (step, why) = search.generator_limit().map_or((0.0, ""), |(s, why)| (s.target, why));
            let met = passing.map_or("no rate met the SLO before that".to_string(), |p| format!("{p} req/s met {slo}"));
            format!("the generator, not the server, stopped the search at {} req/s ({why}); {met}", rate(step))
        }
        (Some(End::Ceiling), Some(p)) => format!("every step met {slo}, up to the highest rate allowed, {p} req/s"),
        (Some(End::Interrupted), Some(p)) => {
            format!("interrupted; so far {p} req/s is the highest rate that met {slo}")
        }
        (Some(End::Interrupted), None) => format!("interrupted before any step met {slo}"),
        (_, Some(p)) => {
            let next = search.failing.map_or(String::new(), |f| format!(" ({} req/s did not)", rate(f)));
            format!("{p} req/s is the highest rate that met {slo}{next}")
        }
        (_, None) => format!("no step met {slo}"),
    }
}

fn verdict(step: &Step) -> String {
    match &step.limit {
        None => "pass".into(),
        Some(Limit::Generator(_)) => "generator limit".into(),
        Some(Limit::Server) => {
            let failed: Vec<String> =
                step.checks.iter().filter(|c| !c.pass).map(|c| format!("{} was {}", c.text, c.shown)).collect();
            format!("fail: {}", failed.join(", "))
        }
    }
}

/// The report: the answer, then every step.
pub fn text(out: &mut impl Write, search: &Search, asked: &Asked, style: &Style) -> io::Result<()> {
    writeln!(out, "{} {}", style.bold("Find max:"), headline(search, asked))?;
    writeln!(out)?;
    writeln!(out, "{}", style.bold("Steps:"))?;
    writeln!(
        out,
        "  {:>3}  {:<7} {:>10} {:>10} {:>6} {:>11} {:>11} {:>8}  SLO",
        "#", "phase", "target/s", "sent/s", "secs", "p50", "p99", "errors"
    )?;
    for (i, step) in search.steps.iter().enumerate() {
        let phase = if step.phase == Phase::Climb { "climb" } else { "bisect" };
        let completed = (step.responses + step.errors).max(1) as f64;
        writeln!(
            out,
            "  {:>3}  {phase:<7} {:>10} {:>10} {:>6.1} {:>11} {:>11} {:>7.2}%  {}",
            i + 1,
            rate(step.target),
            rate(step.achieved),
            step.seconds,
            ms(step.p50_ns),
            ms(step.p99_ns),
            100.0 * step.errors as f64 / completed,
            verdict(step)
        )?;
    }
    let notes: Vec<String> = (search.steps.iter().enumerate())
        .filter_map(|(i, s)| {
            let generator = match &s.limit {
                Some(Limit::Generator(why)) => Some(format!("step {}: {why}", i + 1)),
                _ => None,
            };
            let thin = s.thin.as_ref().map(|t| format!("step {}: {t}", i + 1));
            Some([generator, thin].into_iter().flatten().collect::<Vec<_>>().join("; ")).filter(|n| !n.is_empty())
        })
        .collect();
    if !notes.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.bold("Notes:"))?;
        for note in notes {
            writeln!(out, "  {note}")?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "Each step is its own run of {:.1} s or more at a fixed rate, connections opened before its clock starts.",
        asked.step_s
    )
}

/// The search as a JSON document (`-o json`).
#[derive(Serialize)]
pub struct SearchDoc {
    pub schema: &'static str,
    pub schema_version: u32,
    pub vastar_version: &'static str,
    pub command: Vec<String>,
    pub url: String,
    pub method: String,
    pub slo: String,
    pub start_rps: f64,
    pub factor: f64,
    pub precision: f64,
    pub step_s: f64,
    /// `found`, `lowest-fails`, `generator`, `ceiling` or `interrupted`.
    pub end: &'static str,
    pub highest_passing_rps: Option<f64>,
    pub lowest_failing_rps: Option<f64>,
    pub generator_limit: Option<String>,
    /// The answer as the report writes it.
    pub headline: String,
    pub steps: Vec<StepDoc>,
}

#[derive(Serialize)]
pub struct StepDoc {
    pub phase: &'static str,
    pub target_rps: f64,
    pub achieved_rps: f64,
    pub seconds: f64,
    pub responses: u64,
    pub errors: u64,
    pub p50_s: f64,
    pub p99_s: f64,
    pub pass: bool,
    /// `server` or `generator` when the step did not pass.
    pub limit: Option<&'static str>,
    pub why: Option<String>,
    pub checks: Vec<crate::result::AssertionDoc>,
    pub note: Option<String>,
}

/// Where and what the search ran, for its document.
pub struct Facts {
    pub command: Vec<String>,
    pub url: String,
    pub method: String,
}

impl SearchDoc {
    pub fn new(search: &Search, asked: &Asked, facts: Facts) -> SearchDoc {
        let end = match search.end() {
            Some(End::Found) | None => "found",
            Some(End::LowestFails) => "lowest-fails",
            Some(End::Generator) => "generator",
            Some(End::Ceiling) => "ceiling",
            Some(End::Interrupted) => "interrupted",
        };
        let params = search.params();
        SearchDoc {
            schema: "vastar.find-max",
            schema_version: 1,
            vastar_version: env!("CARGO_PKG_VERSION"),
            command: facts.command,
            url: facts.url,
            method: facts.method,
            slo: asked.slo.to_string(),
            start_rps: params.start,
            factor: params.factor,
            precision: params.precision,
            step_s: asked.step_s,
            end,
            highest_passing_rps: search.passing,
            lowest_failing_rps: search.failing,
            generator_limit: search.generator_limit().map(|(_, why)| why.to_string()),
            headline: headline(search, asked),
            steps: search.steps.iter().map(StepDoc::of).collect(),
        }
    }
}

impl StepDoc {
    fn of(step: &Step) -> StepDoc {
        let (limit, why) = match &step.limit {
            None => (None, None),
            Some(Limit::Server) => (Some("server"), None),
            Some(Limit::Generator(why)) => (Some("generator"), Some(why.clone())),
        };
        let checks = step.checks.iter().map(|c| crate::result::AssertionDoc {
            expr: c.text.clone(),
            value: c.value,
            shown: c.shown.clone(),
            pass: c.pass,
        });
        StepDoc {
            phase: if step.phase == Phase::Climb { "climb" } else { "bisect" },
            target_rps: step.target,
            achieved_rps: step.achieved,
            seconds: step.seconds,
            responses: step.responses,
            errors: step.errors,
            p50_s: step.p50_ns as f64 / 1e9,
            p99_s: step.p99_ns as f64 / 1e9,
            pass: step.passed(),
            limit,
            why,
            checks: checks.collect(),
            note: step.thin.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{Params, Search};
    use crate::summary::Checked;

    fn step(phase: Phase, target: f64, limit: Option<Limit>) -> Step {
        let check = Checked { text: "p99<50ms".into(), value: 0.07, shown: "70.00 ms".into(), pass: limit.is_none() };
        Step {
            phase,
            target,
            achieved: target * 0.999,
            seconds: 5.0,
            responses: 5000,
            errors: 5,
            p50_ns: 1_250_000,
            p99_ns: 70_000_000,
            checks: vec![check],
            limit,
            thin: None,
        }
    }

    #[test]
    fn the_report_answers_first_then_lists_every_step() {
        let mut search = Search::new(Params { start: 1000.0, factor: 2.0, precision: 0.05, ceiling: 1e7 });
        search.record(step(Phase::Climb, 1000.0, None));
        search.record(step(Phase::Climb, 2000.0, Some(Limit::Server)));
        search.record(step(Phase::Bisect, 1414.2, None));
        let asked = Asked { slo: "p99<50ms", step_s: 5.0 };
        let mut out = Vec::new();
        text(&mut out, &search, &asked, &Style::plain()).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("Find max: 1,414 req/s is the highest rate that met p99<50ms (2,000 req/s did not)"));
        assert!(out.contains("    2  climb        2,000      1,998    5.0     1.25 ms    70.00 ms    0.10%  fail: p99<50ms was 70.00 ms"), "{out}");
        assert!(out.contains("    3  bisect       1,414"), "{out}");
        let doc = SearchDoc::new(&search, &asked, Facts { command: vec![], url: "u".into(), method: "GET".into() });
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(
            (json["highest_passing_rps"].as_f64(), json["steps"][1]["limit"].as_str()),
            (Some(1414.2), Some("server"))
        );
    }

    #[test]
    fn a_generator_limit_is_not_blamed_on_the_server() {
        let mut search = Search::new(Params { start: 1000.0, factor: 2.0, precision: 0.05, ceiling: 1e7 });
        search.record(step(Phase::Climb, 1000.0, None));
        search.record(step(Phase::Climb, 2000.0, Some(Limit::Generator("its 2 cores were 97% busy".into()))));
        search.next_step();
        let line = headline(&search, &Asked { slo: "p99<50ms", step_s: 5.0 });
        assert_eq!(
            line,
            "the generator, not the server, stopped the search at 2,000 req/s (its 2 cores were 97% busy); 1,000 req/s \
             met p99<50ms"
        );
    }
}
