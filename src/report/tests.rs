//! Report tests: whole-report snapshots from hand-made stats (no timing in
//! them), with and without colors, and the histogram and percentile math.
//! `UPDATE_SNAPSHOTS=1 cargo test` rewrites the snapshot files after a
//! deliberate change; review the diff before committing it.

use std::time::Duration;

use super::*;
use crate::stats::metrics::TTFB;
use crate::stats::{ErrorKind, Record, WorkerStats};
use crate::summary::{GeneratorCpu, HISTOGRAM_ROWS, Rate, RunInfo};

fn record(result: Result<u16, ErrorKind>, latency_us: u64) -> Record {
    let d = Duration::from_micros(latency_us);
    let r = Record::sample(result, d).phased(Some(d / 20), d * 3 / 4, d / 5);
    r.sized(120, if result.is_ok() { 58 } else { 0 }).measured(TTFB, d * 4 / 5)
}

/// A fixed, made-up run: 2000 responses between 1 and 60 ms with a slow tail,
/// a few non-2xx, some errors and aborted requests.
fn sample() -> (WorkerStats, RunInfo) {
    let mut stats = WorkerStats::new();
    for i in 0..2000u64 {
        let base = 1_000 + (i * 7919) % 40_000;
        let latency = if i % 100 == 0 { base + 20_000 } else { base };
        let status = match i % 250 {
            0 => 503,
            1 => 404,
            _ => 200,
        };
        stats.record(&record(Ok(status), latency));
        if latency % 97 == 0 {
            stats.connected(150_000 + latency);
        }
    }
    // Timeouts end at the (made-up) 65 ms limit; the reset ends at once.
    for (kind, at_us) in [(ErrorKind::Timeout, 65_000), (ErrorKind::Timeout, 65_000), (ErrorKind::Reset, 0)] {
        stats.record(&record(Err(kind), at_us));
    }
    stats.aborted = 7;
    let info = RunInfo {
        backend: "portable (tokio)".into(),
        workers: 2,
        connections: 300,
        dns: Some((Duration::from_micros(1200), 2)),
        load: GeneratorCpu { own: Some(0.42), cores: 2, cores_busy: Some(0.55) },
        ..RunInfo::sample(Duration::from_millis(3250))
    };
    (stats, info)
}

/// A made-up `--rate` run against a server that stalled: 10,000 requests at
/// 1000 req/s, 1 ms each, except that for 200 ms the server answered nothing;
/// the 200 requests due then waited for a connection (up to 200 ms), and 5
/// timed out waiting. Corrected and uncorrected percentiles differ.
fn rate_sample() -> (WorkerStats, RunInfo) {
    let mut stats = WorkerStats::new();
    for i in 0..10_000u64 {
        let mut r = record(Ok(200), 1_000);
        if (5_000..5_200).contains(&i) {
            r.queued = Duration::from_micros((5_200 - i) * 1_000);
            r = r.measured(TTFB, r.queued + Duration::from_micros(800));
        }
        stats.record(&r);
        stats.started += 1;
        stats.send_lag.record(20_000 + i % 50 * 1_000);
    }
    for _ in 0..5 {
        // Expired waiting for a connection: never sent, at the 300 ms limit.
        let mut expired = record(Err(ErrorKind::Timeout), 0);
        expired.queued = Duration::from_millis(300);
        stats.record(&expired);
        stats.unsent += 1;
    }
    stats.connected(90_000);
    let info = RunInfo {
        backend: "io_uring (defer-taskrun, multishot recv, incremental buffer ring)".into(),
        workers: 2,
        connections: 50,
        rate: Some(Rate { target: 1000.0, achieved: 999.5, shape: None, arrivals: None }),
        load: GeneratorCpu { own: Some(0.96), cores: 2, cores_busy: Some(0.99) },
        ..RunInfo::sample(Duration::from_millis(10_002))
    };
    (stats, info)
}

fn rendered(stats: &WorkerStats, info: &RunInfo, style: &Style) -> String {
    let mut out = Vec::new();
    render(&mut out, &Summary::new(stats, info), style).unwrap();
    String::from_utf8(out).unwrap()
}

fn check_snapshot(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/report/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if expected != actual {
        let first = expected.lines().zip(actual.lines()).position(|(a, b)| a != b);
        panic!("{name} differs (first differing line {first:?}); actual report:\n{actual}");
    }
}

#[test]
fn plain_report_snapshot() {
    let (stats, info) = sample();
    let text = rendered(&stats, &info, &Style::plain());
    assert!(!text.contains('\x1b') && text.is_ascii(), "plain text has no escapes and no non-ASCII");
    check_snapshot("plain.txt", &text);
}

#[test]
fn rate_report_snapshot() {
    let (stats, info) = rate_sample();
    let text = rendered(&stats, &info, &Style::plain());
    check_snapshot("rate.txt", &text);
    // Corrected figures lead; the uncorrected ones follow in brackets.
    assert!(text.contains("Response time distribution (corrected; [uncorrected]):"), "{text}");
    assert!(text.contains("Rate:         999.50 req/s sent of 1000.00 target (100.0%)"));
    assert!(text.contains("Generator: vastar kept its 2 cores 96% busy"));
    assert!(text.contains("(5 of the timeouts were never sent: every connection was busy)"));
    assert!(text.contains("send lag:"));
}

#[test]
fn identical_distributions_print_one_column() {
    let (stats, _) = sample();
    let (_, mut info) = rate_sample();
    info.load = GeneratorCpu::default();
    let mut clean = WorkerStats::new();
    for v in 1..=5000u64 {
        clean.record(&record(Ok(200), 1_000 + v));
    }
    let text = rendered(&clean, &info, &Style::plain());
    assert!(text.contains("Response time distribution (corrected; uncorrected within 3%):"), "{text}");
    assert!(!text.contains("secs ["), "{text}");
    // Timeouts make them differ even in a closed loop.
    let text = rendered(&stats, &sample().1, &Style::plain());
    assert!(text.contains("(corrected; [uncorrected])"), "{text}");
}

#[test]
fn colored_report_snapshot() {
    let (stats, info) = sample();
    let style = Style { color: true, unicode: true, width: 100 };
    let text = rendered(&stats, &info, &style);
    for color in GRADIENT {
        assert!(text.contains(&format!("\x1b[38;5;{color}m")), "gradient color {color} is used");
    }
    check_snapshot("color.txt", &text);
}

#[test]
fn colors_carry_no_information_the_plain_text_lacks() {
    let (stats, info) = sample();
    let colored = rendered(&stats, &info, &Style { color: true, unicode: false, width: 80 });
    let mut stripped = String::new();
    let mut in_escape = false;
    for ch in colored.chars() {
        match (in_escape, ch) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, c) => stripped.push(c),
        }
    }
    assert_eq!(stripped, rendered(&stats, &info, &Style::plain()));
}

#[test]
fn sections_come_in_the_reference_order() {
    let (stats, info) = sample();
    let text = rendered(&stats, &info, &Style::plain());
    let order = [
        "Summary:",
        "Response time distribution",
        "Insight:",
        "Response time histogram:",
        "Time to first byte (ttfb):",
        "Status code distribution:",
        "Error distribution:",
        "Details (average, fastest, slowest):",
    ];
    let positions: Vec<usize> = order.iter().map(|s| text.find(s).unwrap_or_else(|| panic!("no {s}"))).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}

#[test]
fn bars_fit_the_width_and_fall_back_to_ascii() {
    let (stats, info) = sample();
    for width in [40, 80, 200] {
        let style = Style { color: false, unicode: true, width };
        let text = rendered(&stats, &info, &style);
        let hist = text.split("Response time histogram:\n").nth(1).unwrap();
        for line in hist.lines().take(HISTOGRAM_ROWS) {
            assert!(line.chars().count() <= width.max(30), "{width}: {line}");
        }
    }
    let text = rendered(&stats, &info, &Style::plain());
    assert!(text.contains("|#"));
}

#[test]
fn an_interrupted_run_says_so() {
    let (stats, mut info) = sample();
    info.interrupted = true;
    let text = rendered(&stats, &info, &Style::plain());
    assert!(text.contains("(interrupted)") && text.contains("7 in flight when interrupted"));
}

#[test]
fn a_run_without_responses_still_reports() {
    let mut stats = WorkerStats::new();
    stats.record(&record(Err(ErrorKind::ConnectRefused), 0));
    let (_, info) = sample();
    let text = rendered(&stats, &info, &Style::plain());
    assert!(text.contains("(no responses)") && text.contains("[1] connection refused"));
    assert!(text.contains("Errors: 100.0% of requests failed"));
    assert!(!text.contains("Response time histogram"));
    assert!(!text.contains("Time to first byte"), "a metric without samples has no section");
}

/// A backend that cannot observe its sends (io_uring) leaves the write
/// phase empty; Details says so instead of printing zeros as if measured.
#[test]
fn an_unobserved_write_phase_is_named_not_measured() {
    let mut stats = WorkerStats::new();
    for latency in [1_000, 2_000, 3_000] {
        stats.record(&Record { write: None, ..record(Ok(200), latency) });
    }
    let (_, info) = sample();
    let text = rendered(&stats, &info, &Style::plain());
    assert_eq!(stats.write.count, 0);
    assert!(text.contains("  req write: not measured ("), "{text}");
    assert!(text.contains("  resp wait: "), "{text}");
    let (measured, info) = sample();
    assert!(rendered(&measured, &info, &Style::plain()).contains("  req write: 0.00"));
}

#[test]
fn tls_runs_name_what_was_negotiated_and_time_the_handshakes() {
    let (mut stats, info) = sample();
    let handshake = |ns, resumed| crate::stats::Handshake {
        ns,
        resumed,
        version: "TLS 1.3",
        suite: "TLS13_AES_128_GCM_SHA256",
        group: "X25519",
    };
    for (ns, resumed) in [(2_000_000, false), (1_000_000, true), (600_000, true)] {
        stats.tls.record(&handshake(ns, resumed));
    }
    let text = rendered(&stats, &info, &Style::plain());
    assert!(text.contains("\n  TLS:          TLS 1.3, TLS13_AES_128_GCM_SHA256, X25519\n"), "{text}");
    let line = "\n  handshake: 0.0012 secs, 0.0006 secs, 0.0020 secs (3 TLS handshakes: 1 full, 2 resumed)\n";
    assert!(text.contains(line), "{text}");
    let (plain, _) = sample();
    let text = rendered(&plain, &info, &Style::plain());
    assert!(!text.contains("TLS") && !text.contains("handshake"), "http:// runs show no TLS lines");
}

#[test]
fn assertions_end_the_report_with_their_verdicts() {
    let (stats, info) = sample();
    let list = crate::summary::assertion::parse_list("p99<100ms,errors<0.1%,status:503==8,rps>=500").unwrap();
    let summary = Summary::new(&stats, &info).with_assertions(&list);
    let mut out = Vec::new();
    render(&mut out, &summary, &Style::plain()).unwrap();
    let text = String::from_utf8(out).unwrap();
    let tail: Vec<&str> = text.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
    check_snapshot("assertions.txt", &(tail.join("\n") + "\n"));
    assert!(!summary.passed(), "errors < 0.1% fails: 3 errors in 2003 requests");
    assert!(summary.assertions.iter().filter(|a| !a.pass).all(|a| a.text == "errors<0.1%"), "{tail:?}");
}

/// The Streaming section: counts, rates and one row per token metric, in
/// place of their own sections; absent from a run that streamed nothing.
#[test]
fn streams_get_their_own_section() {
    use crate::stats::counters::{EVENTS, GOOD, STREAMED, TOKENS, TOKENS_FROM_USAGE};
    use crate::stats::metrics::{ITL, TPOT, TTFT};
    let mut stats = WorkerStats::new();
    let ms = Duration::from_millis;
    for i in 0..100u64 {
        let r = Record::sample(Ok(200), ms(425)).measured(TTFB, ms(1)).measured(TTFT, ms(80 + i % 5));
        let r = r.measured(TPOT, ms(15)).counted(STREAMED, 1).counted(EVENTS, 25).counted(TOKENS, 24);
        stats.record(&r.counted(TOKENS_FROM_USAGE, 1).counted(GOOD, u32::from(i < 90)));
        (0..23).for_each(|_| stats.metrics.record_one(ITL, 15_000_000));
    }
    let goodput = crate::stats::Goodput { ttft: Some(ms(84)), ..Default::default() };
    let info = RunInfo { goodput: Some(goodput), ..RunInfo::sample(Duration::from_secs(4)) };
    let mut out = Vec::new();
    render(&mut out, &Summary::new(&stats, &info), &Style::plain()).unwrap();
    let text = String::from_utf8(out).unwrap();
    let section = &text[text.find("Streaming:").expect("a Streaming section")..];
    let section = &section[..section.find("\n\n").unwrap()];
    for line in [
        "  Streamed responses:\t100 (25.0 events each)",
        "  Output tokens:\t2400 (from the server's usage)",
        "  Output tokens/sec:\t600.00",
        "  Goodput:\t22.50 requests/sec (90 requests, 90.0%, under ttft<84ms)",
        "               mean        p50        p90        p95        p99        max",
        "  TTFT     82.00 ms   82.05 ms   84.00 ms   84.00 ms   84.00 ms   84.00 ms",
        "  ITL      15.00 ms   15.00 ms   15.00 ms   15.00 ms   15.00 ms   15.00 ms",
        "  TPOT     15.00 ms   15.00 ms   15.00 ms   15.00 ms   15.00 ms   15.00 ms",
    ] {
        assert!(section.lines().any(|l| l == line), "{line:?} in\n{section}");
    }
    assert!(text.contains("Time to first byte (ttfb):") && !text.contains("(ttft):"), "no section of its own:\n{text}");
    let (plain, info) = sample();
    let mut out = Vec::new();
    render(&mut out, &Summary::new(&plain, &info), &Style::plain()).unwrap();
    assert!(!String::from_utf8(out).unwrap().contains("Streaming"));
}
