//! Runs `--find-max`: one engine run per step, at the rate [`Search`]
//! asks for, each judged against the SLO and told apart into a server
//! limit and a generator limit; then the answer and the table of steps.
//! Ctrl-C ends the step under way (unjudged) and prints what was found.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use super::{Error, output, plan, refused, run_info, run_monitored};
use crate::cli::BenchArgs;
use crate::config::shape::FindMax;
use crate::config::{Config, Output, Stop};
use crate::cpu_busy::CpuTicks;
use crate::engine::{Backend, Engine, Outcome};
use crate::progress::Goal;
use crate::search::render::{self, Asked, Facts, SearchDoc};
use crate::search::{End, Evidence, Phase, Search, Step, limit_of, step_length};
use crate::summary::{RunInfo, Summary};
use crate::term::{self, Style};

/// Searches, prints the outcome, and says how the process should exit.
pub fn find_max(
    args: &BenchArgs,
    config: &Config,
    find: &FindMax,
    addrs: Vec<crate::engine::Address>,
    backend: &'static dyn Backend,
) -> Result<ExitCode, Error> {
    let mut search = Search::new(find.params);
    let percentile = find.slo.iter().filter_map(|a| a.percentile()).reduce(f64::max);
    let draw = term::stderr_is_terminal() && !args.quiet;
    let mut signal = None;
    while let Some((rate, phase)) = search.next_step() {
        // Ctrl-C between two steps: the next one is not started.
        if let Some(received) = crate::signals::received() {
            signal = Some(received);
            search.interrupt();
            break;
        }
        let (length_s, thin) = step_length(rate, find.step.as_secs_f64(), percentile);
        let length = Duration::from_secs_f64(length_s);
        let step = Config {
            rate: Some(rate),
            shape: None,
            stages: None,
            stop: Stop::Duration(length),
            find_max: None,
            ..config.clone()
        };
        if !args.quiet {
            eprintln!("vastar --find-max: step {}: {rate:.0} req/s for {length_s:.1} s", search.steps.len() + 1);
        }
        let engine = Engine::new(plan(&step, addrs.clone())?, backend);
        let ticks = CpuTicks::now();
        let goal = Goal::Duration(length.saturating_add(config.warmup.unwrap_or_default()));
        let (outcome, received) = run_monitored(&engine, goal, draw)?;
        refused(&engine, &step)?;
        if received.is_some() {
            signal = received;
            search.interrupt();
            break;
        }
        let busy = ticks.zip(CpuTicks::now()).and_then(|(before, after)| before.busy_share(&after, outcome.spun));
        let info = run_info(&outcome, &step, false, None, busy);
        let judged = judge(phase, rate, &outcome, &info, find, thin.then(|| thin_note(percentile, length_s)));
        if !args.quiet {
            let verdict = if judged.passed() { "met the SLO" } else { "did not" };
            eprintln!("vastar --find-max: step {}: {verdict}", search.steps.len() + 1);
        }
        search.record(judged);
    }
    print(args, config, find, &search)?;
    Ok(match (signal, search.end(), search.passing) {
        (Some(signal), _, _) => ExitCode::from(128 + signal as u8),
        (None, Some(End::LowestFails), _) | (None, _, None) => ExitCode::from(output::ASSERTION_FAILED),
        _ => ExitCode::SUCCESS,
    })
}

fn thin_note(percentile: Option<f64>, length_s: f64) -> String {
    let p = percentile.unwrap_or(100.0);
    format!(
        "even lengthened to {length_s:.1} s, the step had fewer than {:.0} samples beyond p{p}: its verdict is \
         uncertain (start higher, or use a lower percentile)",
        crate::search::SAMPLES_BEYOND
    )
}

/// One finished step: its figures, the SLO checked, and who limited it.
fn judge(phase: Phase, rate: f64, outcome: &Outcome, info: &RunInfo, find: &FindMax, thin: Option<String>) -> Step {
    let summary = Summary::new(&outcome.stats, info);
    let checks: Vec<_> = find.slo.iter().map(|a| a.check(&summary)).collect();
    let met = checks.iter().all(|c| c.pass);
    let evidence = Evidence {
        rate,
        achieved: info.rate.as_ref().map_or(0.0, |r| r.achieved),
        own_busy: info.load.own,
        cores: info.load.cores,
        connections: info.connections,
        met,
        met_from_send: (!met && find.slo.iter().any(|a| a.reads_latency())).then(|| met_from_send(outcome, info, find)),
    };
    let stats = &outcome.stats;
    Step {
        phase,
        target: rate,
        achieved: evidence.achieved,
        seconds: info.elapsed.as_secs_f64(),
        responses: stats.responses,
        errors: stats.total_errors(),
        p50_ns: stats.corrected.percentile_ns(50.0),
        p99_ns: stats.corrected.percentile_ns(99.0),
        checks,
        limit: limit_of(&evidence),
        thin,
    }
}

/// Whether the SLO holds on the latency the server caused itself: from
/// each actual send, leaving out the wait for one of vastar's connections.
fn met_from_send(outcome: &Outcome, info: &RunInfo, find: &FindMax) -> bool {
    let mut own_latency = outcome.stats.clone();
    own_latency.corrected = own_latency.latency.clone();
    let server_side = Summary::new(&own_latency, info);
    find.slo.iter().all(|a| a.check(&server_side).pass)
}

/// The answer and the table: the report on stdout (or stderr beside
/// `-o json`, whose document goes to stdout).
fn print(args: &BenchArgs, config: &Config, find: &FindMax, search: &Search) -> Result<(), Error> {
    let asked = Asked { slo: &find.slo_text, step_s: find.step.as_secs_f64() };
    let write = |out: &mut dyn Write, style: &Style| -> io::Result<()> {
        let mut buffer = Vec::new();
        render::text(&mut buffer, search, &asked, style)?;
        out.write_all(&buffer)?;
        out.flush()
    };
    let ignore_closed = |r: io::Result<()>| match r {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::Output(e)),
        _ => Ok(()),
    };
    if config.output == Output::Text {
        return ignore_closed(write(&mut io::stdout().lock(), &Style::for_stdout(args.no_color)));
    }
    if !args.quiet {
        let _ = write(&mut io::stderr().lock(), &Style::for_stderr(args.no_color));
    }
    let facts = Facts {
        command: output::command_line(config.proxy.as_ref()),
        url: config.url.display_without_credentials(),
        method: config.request.method.clone(),
    };
    let doc = SearchDoc::new(search, &asked, facts);
    let mut text = serde_json::to_string_pretty(&doc).map_err(|e| Error::Output(io::Error::other(e)))?;
    text.push('\n');
    ignore_closed(io::stdout().lock().write_all(text.as_bytes()))
}
