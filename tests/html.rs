//! The HTML report, rendered in a real browser (headless Chromium): one run
//! written with `--html` on every backend, a run with errors, three runs
//! overlaid with `vastar plot`, and a synthetic one-hour timeline. Each is
//! checked in the DOM Chromium built (charts present, one hover point per
//! plotted interval, no script) and screenshotted.
//!
//! Chromium is found at /usr/bin/chromium; without it the test says so and
//! passes, unless VASTAR_REQUIRE_CHROMIUM is set (CI sets it).
//! `UPDATE_SCREENSHOTS=1 cargo test --test html` refreshes the picture
//! README shows, tests/screenshots/report.png.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Reply, Scripted, backend_flags, send, text, vastar};
use vastar::result::{Meta, ResultDoc, Target};
use vastar::stats::{Record, Recorder, Timeline, WorkerStats};
use vastar::summary::{GeneratorCpu, RunInfo, Summary};

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

fn chromium() -> Option<&'static str> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists());
    if found.is_none() {
        assert!(
            std::env::var_os("VASTAR_REQUIRE_CHROMIUM").is_none(),
            "VASTAR_REQUIRE_CHROMIUM is set but Chromium is missing"
        );
        eprintln!("Chromium is not installed (apt-get install chromium): the HTML report is not rendered");
    }
    found
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vastar-html-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs headless Chromium on `page` with `args`; returns its stdout and stderr.
fn browser(chromium: &str, page: &Path, args: &[&str]) -> (String, String) {
    let profile = page.with_extension("profile");
    let child = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Read its output while waiting (a full pipe would stall it).
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let out = match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid]).status();
            panic!("chromium did not finish within 90 s on {}", page.display());
        }
    };
    let _ = std::fs::remove_dir_all(&profile);
    (text(&out.stdout), text(&out.stderr))
}

/// Renders `page`: checks the DOM and takes a screenshot; returns the DOM.
fn render(chromium: &str, page: &Path, points: usize) -> String {
    let (dom, stderr) = browser(chromium, page, &["--dump-dom"]);
    for id in ["throughput", "latency-over-time", "percentile-curve", "histogram", "metric-ttfb", "phases"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "{}: no {id} in the DOM", page.display());
    }
    let throughput = &dom[dom.find("id=\"throughput\"").unwrap()..];
    let throughput = &throughput[..throughput.find("</svg>").unwrap()];
    assert_eq!(throughput.matches("class=\"pt\"").count(), points, "hover points of {}", page.display());
    assert!(throughput.contains("class=\"band\"") || throughput.contains("class=\"series\""), "the chart draws data");
    assert!(!dom.contains("<script") && !stderr.contains("Uncaught"), "no script, no script errors: {stderr}");
    let png = page.with_extension("png");
    let shot = format!("--screenshot={}", png.display());
    browser(chromium, page, &[&shot, "--window-size=1100,3200"]);
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(size > 20_000, "{}: screenshot of {size} bytes", png.display());
    dom
}

/// Intervals in a result file.
fn intervals(file: &Path) -> usize {
    let doc = ResultDoc::parse(&std::fs::read_to_string(file).unwrap()).unwrap();
    doc.timeline.expect("a timeline").intervals.len()
}

#[test]
fn one_run_written_with_html_renders_on_every_backend() {
    let Some(chromium) = chromium() else { return };
    let server = Scripted::start(|_| send(OK));
    for backend in backend_flags() {
        let dir = scratch(backend);
        let (page, json) = (dir.join("run.html"), dir.join("run.json"));
        let args = ["-z", "2s", "-c", "4", "--interval", "100ms", "--backend", backend, "-o", "json", "--quiet"];
        let out = vastar(&[&args[..], &["--html", page.to_str().unwrap(), &server.url("/")]].concat());
        assert!(out.status.success(), "{}", text(&out.stderr));
        std::fs::write(&json, &out.stdout).unwrap();
        let dom = render(chromium, &page, intervals(&json));
        assert!(dom.contains("2xx responses") && dom.contains(backend.split('-').next().unwrap()), "{backend}");
        assert!(!dom.contains("id=\"streaming\""), "a plain run has no streaming part");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn an_llm_run_renders_its_streaming_table_and_charts() {
    let Some(chromium) = chromium() else { return };
    let dir = scratch("llm");
    let (page, json) = (dir.join("llm.html"), dir.join("llm.json"));
    let args = ["--demo", "--llm", "-z", "2s", "-c", "8", "--interval", "250ms", "--goodput", "ttft<1s", "-o", "json"];
    let out = vastar(&[&args[..], &["--quiet", "--html", page.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(&json, &out.stdout).unwrap();
    let dom = render(chromium, &page, intervals(&json));
    for id in ["streaming", "tokens-over-time", "ttft-over-time", "metric-ttft", "metric-itl", "metric-tpot"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "no {id} in the DOM");
    }
    for needle in ["Output tokens/sec", "(usage)", "Goodput", "ttft&lt;1s", "TTFT p50"] {
        assert!(dom.contains(needle), "the page shows {needle:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stages_and_a_warmup_render_with_their_target_and_the_warmup_marked() {
    let Some(chromium) = chromium() else { return };
    let server = Scripted::start(|_| send(OK));
    let dir = scratch("stages");
    let (page, json) = (dir.join("stages.html"), dir.join("stages.json"));
    let args = ["--stages", "1s:200,1s:200..600", "--warmup", "500ms", "-c", "4", "--interval", "100ms", "-o", "json"];
    let out = vastar(&[&args[..], &["--quiet", "--html", page.to_str().unwrap(), &server.url("/")]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(&json, &out.stdout).unwrap();
    let dom = render(chromium, &page, intervals(&json));
    for needle in ["end of the warm-up", "target (--rate)", "200 req/s for 0.5 s (warm-up)", "200 → 600 req/s over 1 s"]
    {
        assert!(dom.contains(needle), "the page shows {needle:?}");
    }
    assert!(dom.contains("Warm-up") && dom.contains("responses not counted"), "the warm-up row");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_three_runs_overlaid_and_an_hour_render() {
    let Some(chromium) = chromium() else { return };
    let dir = scratch("plot");
    // A run whose server resets one request in ten mid-response.
    let count = AtomicUsize::new(0);
    let flaky = Scripted::start(move |_| match count.fetch_add(1, Ordering::SeqCst) % 10 {
        9 => Reply::SendReset(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc".to_vec()),
        _ => send(OK),
    });
    let slow = Scripted::start(|_| {
        std::thread::sleep(Duration::from_millis(2));
        send(OK)
    });
    let fast = Scripted::start(|_| send(OK));
    let mut files = Vec::new();
    for (name, server) in [("errors", &flaky), ("slow", &slow), ("fast", &fast)] {
        let out = vastar(&["-z", "2s", "-c", "3", "--interval", "200ms", "-o", "json", "--quiet", &server.url("/")]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, &out.stdout).unwrap();
        files.push(file);
    }
    let plot = |files: &[&PathBuf], page: &Path| {
        let mut args = vec!["plot".to_string(), "--out".into(), page.to_str().unwrap().into()];
        args.extend(files.iter().map(|f| f.to_str().unwrap().to_string()));
        let out = vastar(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "{}", text(&out.stderr));
    };

    let page = dir.join("errors.html");
    plot(&[&files[0]], &page);
    let dom = render(chromium, &page, intervals(&files[0]));
    assert!(dom.contains("class=\"mark\"") && dom.contains("errors at"), "errors are marked");
    assert!(
        dom.contains("connection closed mid-response") || dom.contains("connection reset"),
        "error categories listed"
    );

    let page = dir.join("three.html");
    plot(&[&files[0], &files[1], &files[2]], &page);
    let densest = files.iter().map(|f| intervals(f)).max().unwrap();
    let dom = render(chromium, &page, densest);
    for name in ["errors.json responses/sec", "slow.json responses/sec", "fast.json responses/sec"] {
        assert!(dom.contains(name), "legend names {name}");
    }
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        let keep = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/screenshots/report.png");
        std::fs::create_dir_all(keep.parent().unwrap()).unwrap();
        std::fs::copy(page.with_extension("png"), keep).unwrap();
    }

    let hour = dir.join("hour.json");
    std::fs::write(&hour, serde_json::to_string(&one_hour()).unwrap()).unwrap();
    let page = dir.join("hour.html");
    plot(&[&hour], &page);
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 1_000_000, "a one-hour report is {size} bytes");
    render(chromium, &page, vastar::html::MAX_POINTS);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A synthetic one-hour run at 1 s intervals: latency that swings with
/// the time of the run, a stall at minute 20, an error burst at minute 40.
fn one_hour() -> ResultDoc {
    let second = Duration::from_secs(1);
    let (mut stats, mut recorder, mut timeline) = (WorkerStats::new(), Recorder::new(second), Timeline::new(second));
    for s in 0..3600u64 {
        let per_second = if (1200..1230).contains(&s) { 0 } else { 200 };
        for i in 0..per_second {
            let swing = 1.0 + 0.5 * ((s as f64) / 300.0).sin();
            let latency = Duration::from_micros((2000.0 * swing * (1.0 + (i % 17) as f64 / 5.0)) as u64);
            let failed = (2400..2460).contains(&s) && i % 4 == 0;
            let mut metrics = vastar::stats::Samples::default();
            metrics.set(vastar::stats::metrics::TTFB, vastar::stats::nanos(latency * 3 / 4));
            let record = Record {
                result: if failed {
                    Err(vastar::stats::ErrorKind::Reset)
                } else {
                    Ok(if i % 50 == 0 { 503 } else { 200 })
                },
                latency,
                queued: Duration::ZERO,
                write: None,
                wait: latency,
                read: Duration::ZERO,
                wire_bytes: 80,
                body_bytes: 2,
                metrics,
                tally: vastar::stats::Tally::default(),
            };
            stats.record(&record);
            if let Some(done) = recorder.record(s * 1_000_000_000 + i * 5_000_000, &record) {
                timeline.add(&done).unwrap();
            }
        }
    }
    timeline.add(&recorder.finish().unwrap()).unwrap();
    let info = RunInfo {
        elapsed: Duration::from_secs(3600),
        backend: "synthetic".into(),
        workers: 1,
        connections: 1000,
        interrupted: false,
        rate: None,
        dns: None,
        load: GeneratorCpu { own: None, cores: 1, cores_busy: None },
        merged: None,
        stages: None,
        warmup: None,
        requests: None,
        goodput: None,
        protocol: vastar::summary::Protocol::Http1,
        proxy: None,
    };
    let meta = Meta {
        command: vec!["vastar".into(), "-z".into(), "1h".into()],
        target: Target { url: "http://synthetic/".into(), method: "GET".into() },
        start: vastar::wallclock::from_unix_ns(1_800_000_000_000_000_000),
        start_at: None,
        parts: vec![],
        windows_ns: vec![],
        machine: None,
    };
    ResultDoc::new(&Summary::new(&stats, &info).with_timeline(Some(&timeline)), meta)
}

#[test]
fn a_report_that_cannot_be_written_is_refused_before_the_run() {
    // Port 9 (discard) is never contacted: the path is refused first.
    let out = vastar(&["-n", "1", "-c", "1", "--html", "/nonexistent/dir/r.html", "http://127.0.0.1:9/"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--html: cannot write /nonexistent/dir/r.html") && stderr.lines().count() == 1, "{stderr}");
    let out = vastar(&["plot", "/nonexistent/result.json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cannot read"), "{}", text(&out.stderr));
}
