//! LLM streams end to end, on every backend, over HTTP and HTTPS, against
//! the built-in mock (`vastar serve --llm`), whose schedule is known: the
//! counts exact (responses, events, tokens and their source, goodput), the
//! times within bounds a busy machine keeps (the mock's timers fire up to
//! a millisecond late and never early; the exact figures are checked on
//! virtual time in `engine::sim`).

mod common;

use std::time::{Duration, SystemTime};

use common::{accounted, config, each_backend, run};
use vastar::server::{LlmOptions, Server, ServerOptions};
use vastar::stats::counters::{EVENTS, GOOD, STREAMED, TOKENS, TOKENS_FROM_USAGE};
use vastar::stats::metrics::{ITL, TPOT, TTFT};
use vastar::stats::{Histogram, WorkerStats};

const TTFT_MS: u64 = 40;
const ITL_MS: u64 = 5;
const TOKENS_EACH: u64 = 12;

fn mock(tokens_per_event: u32, tls: Option<std::sync::Arc<rustls::ServerConfig>>) -> Server {
    let llm = LlmOptions {
        ttft: Duration::from_millis(TTFT_MS),
        itl: Duration::from_millis(ITL_MS),
        tokens: TOKENS_EACH as u32,
        tokens_per_event,
    };
    Server::start("127.0.0.1:0".parse().unwrap(), ServerOptions { llm: Some(llm), tls, ..ServerOptions::default() })
        .unwrap()
}

/// A chat completion request's flags, streaming, with or without usage.
fn chat(usage: bool, extra: &[&str]) -> Vec<String> {
    let body = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"stream":true,"stream_options":{{"include_usage":{usage}}}}}"#
    );
    let args = ["-n", "60", "-c", "6", "-t", "20s", "-m", "POST", "-T", "application/json", "-d", &body];
    args.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// Whether no value of `h` is below `low` milliseconds and its median is
/// at most `high` (the mock is never early; a busy machine makes it late).
fn within(h: &Histogram, low_ms: f64, high_ms: f64) -> bool {
    let (min, median) = (h.min_ns() as f64 / 1e6, h.percentile_ns(50.0) as f64 / 1e6);
    min >= low_ms && median <= high_ms
}

/// Whether the median of `h` is within `by` milliseconds of `want`: a time
/// per token divides a span that a late first event shortens.
fn median_near(h: &Histogram, want_ms: f64, by_ms: f64) -> bool {
    (h.percentile_ns(50.0) as f64 / 1e6 - want_ms).abs() <= by_ms
}

fn counts(stats: &WorkerStats) -> Vec<u64> {
    [STREAMED, EVENTS, TOKENS, TOKENS_FROM_USAGE, GOOD].iter().map(|&c| stats.counts.get(c)).collect()
}

#[test]
fn a_stream_is_measured_on_every_backend() {
    let server = mock(1, None);
    let url = format!("http://{}/v1/chat/completions", server.addr());
    each_backend(|backend| {
        let args = chat(true, &["--goodput", "ttft<10s"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let outcome = run(config(&args, &url), backend);
        assert_eq!(accounted(&outcome), (60, 0, 0));
        let s = &outcome.stats;
        // 12 content events, the finish chunk and the usage chunk; [DONE] is no event.
        assert_eq!(counts(s), [60, 60 * 14, 60 * TOKENS_EACH, 60, 60]);
        let (ttft, itl, tpot) = (s.metrics.get(TTFT), s.metrics.get(ITL), s.metrics.get(TPOT));
        assert_eq!((ttft.count(), itl.count(), tpot.count()), (60, 60 * 11, 60));
        let ttft_ms = TTFT_MS as f64;
        assert!(within(ttft, ttft_ms, ttft_ms + 10.0), "TTFT {:?}", (ttft.min_ns(), ttft.percentile_ns(50.0)));
        assert!(median_near(tpot, ITL_MS as f64, 1.0), "TPOT {}", tpot.percentile_ns(50.0));
        let gap = itl.percentile_ns(50.0) as f64 / 1e6;
        assert!((gap - ITL_MS as f64).abs() <= 1.5, "ITL median {gap} ms");
    });
}

#[test]
fn without_usage_events_are_counted_and_several_tokens_share_an_event() {
    let server = mock(3, None);
    let url = format!("http://{}/v1/completions", server.addr());
    each_backend(|backend| {
        let args = chat(false, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let outcome = run(config(&args, &url), backend);
        assert_eq!(accounted(&outcome), (60, 0, 0));
        // 12 tokens in 4 content events, then the finish chunk: 4 counted.
        assert_eq!(counts(&outcome.stats), [60, 60 * 5, 60 * 4, 0, 0]);
        // Counted by events, a "token" is an event: ITL apart.
        let tpot = outcome.stats.metrics.get(TPOT);
        assert!(median_near(tpot, ITL_MS as f64, 1.0), "TPOT {}", tpot.percentile_ns(50.0));
    });
}

#[test]
fn streams_over_tls_are_measured_the_same() {
    let cert = vastar::tls::self_signed(SystemTime::now()).unwrap();
    let config_tls = vastar::tls::server_config(cert.identity(), None).unwrap();
    let server = mock(1, Some(config_tls));
    let dir = std::env::temp_dir().join(format!("vastar-streaming-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, cert.cert_pem()).unwrap();
    let url = format!("https://localhost:{}/v1/chat/completions", server.addr().port());
    each_backend(|backend| {
        let args = chat(true, &["--cacert", ca.to_str().unwrap()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let outcome = run(config(&args, &url), backend);
        assert_eq!(accounted(&outcome), (60, 0, 0));
        assert_eq!(counts(&outcome.stats), [60, 60 * 14, 60 * TOKENS_EACH, 60, 0]);
        let ttft = outcome.stats.metrics.get(TTFT);
        assert!(within(ttft, TTFT_MS as f64, TTFT_MS as f64 + 10.0), "TTFT {}", ttft.percentile_ns(50.0));
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stream_flags_are_checked_with_one_line() {
    for (args, why) in [
        (&["--arrivals", "poisson"][..], "need an open model: add --rate"),
        (&["--rate", "10", "--arrivals", "uniform"][..], "use constant or poisson"),
        (&["--rate", "10", "--burstiness", "-1"][..], "above 0 and at most 1000"),
        (&["--rate", "10", "--arrivals", "constant", "--burstiness", "2"][..], "does not go with --arrivals constant"),
        (&["--goodput", "ttft>1s"][..], "NAME<DURATION"),
        (&["--goodput", "itl<1s"][..], "use ttft, tpot or e2e"),
    ] {
        common::refused_with_one_line(args, why);
    }
}

#[test]
fn poisson_arrivals_reach_the_report_and_keep_the_rate() {
    let server = Server::start("127.0.0.1:0".parse().unwrap(), ServerOptions::default()).unwrap();
    let url = format!("http://{}/", server.addr());
    let out = common::vastar(&["-z", "2s", "--rate", "500", "--arrivals", "poisson", "--seed", "4", "-c", "20", &url]);
    let report = common::text(&out.stdout);
    assert!(out.status.success() && report.contains("Arrivals:     poisson (seed 4)"), "{report}");
    // 1000 expected in 2 s, a Poisson count: sd about 32.
    let sent = server.requests();
    assert!(sent.abs_diff(1000) < 4 * 32, "{sent} requests");
}
