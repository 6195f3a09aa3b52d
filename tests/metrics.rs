//! The named metrics end to end, through the binary, on every backend,
//! with the time to first byte: against a server that sends each
//! response's head at once and its body 50 ms later, ttfb is at least
//! 50 ms and about the latency, and it shows the same in the text report,
//! in `-o json`, after `vastar merge` (counts doubled), in the HTML
//! report, in `vastar diff` and in `--assert ttfb.p99<...`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{backend_flags, raw_server, text, vastar};
use serde_json::Value;

/// How long the server waits between a response's head and its body.
const BODY_DELAY: Duration = Duration::from_millis(50);

/// Answers every request on the connection: the head at once, the body
/// after [`BODY_DELAY`].
fn late_body(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (mut seen, mut chunk) = (Vec::new(), [0u8; 4096]);
    loop {
        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            seen.drain(..end + 4);
            if stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n").is_err() {
                return;
            }
            std::thread::sleep(BODY_DELAY);
            if stream.write_all(b"ok").is_err() {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&chunk[..n]),
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vastar-metrics-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Seconds at percentile `p` of the named metric `id` in a result document.
fn metric_at(doc: &Value, id: &str, p: f64) -> f64 {
    let rows = doc["metrics"][id]["percentiles"].as_array().unwrap_or_else(|| panic!("no metrics.{id}: {doc}"));
    rows.iter().find(|q| q["p"].as_f64() == Some(p)).and_then(|q| q["s"].as_f64()).unwrap()
}

/// The corrected latency at percentile `p`, seconds.
fn latency_at(doc: &Value, p: f64) -> f64 {
    let rows = doc["percentiles"].as_array().unwrap();
    rows.iter().find(|q| q["p"].as_f64() == Some(p)).and_then(|q| q["corrected_s"].as_f64()).unwrap()
}

/// One second against the server, with `--html`: the result document, the
/// text report (stderr) and the file the document was saved in.
fn run(url: &str, backend: &str, dir: &Path, name: &str) -> (Value, String, PathBuf) {
    let html = dir.join(format!("{name}.html"));
    let args = ["-z", "1s", "-c", "4", "--interval", "100ms", "--no-color", "-o", "json", "--backend", backend];
    let out = vastar(&[&args[..], &["--html", path(&html), url]].concat());
    assert!(out.status.success(), "{backend}: {}", text(&out.stderr));
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, &out.stdout).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"metric-ttfb\"") && page.contains("Time to first byte (ttfb)"), "{backend}: HTML");
    (serde_json::from_slice(&out.stdout).unwrap(), text(&out.stderr), file)
}

#[test]
fn the_time_to_first_byte_shows_in_every_output() {
    let url = format!("http://{}/", raw_server(late_body));
    let delay_s = BODY_DELAY.as_secs_f64();
    for backend in backend_flags() {
        let dir = scratch(backend);
        let (doc, report, file) = run(&url, backend, &dir, "a");
        let ttfb = &doc["metrics"]["ttfb"];
        let responses = doc["counts"]["responses"].as_u64().unwrap();
        assert!(responses >= 8, "{backend}: {responses} responses in 1 s at 4 connections");
        assert_eq!(ttfb["histogram"]["count"].as_u64(), Some(responses), "{backend}: one ttfb per response");
        assert!(ttfb["histogram"]["min_ns"].as_u64().unwrap() >= BODY_DELAY.as_nanos() as u64, "{backend}: {ttfb}");
        for p in [10.0, 50.0, 90.0, 99.0] {
            let (first_byte, latency) = (metric_at(&doc, "ttfb", p), latency_at(&doc, p));
            assert!(first_byte >= delay_s, "{backend}: ttfb p{p} = {first_byte} s");
            // The body is the last two bytes: it ends when it begins.
            assert!(
                latency - first_byte <= 0.002 && first_byte <= latency,
                "{backend} p{p}: {first_byte} vs {latency}"
            );
        }
        // The text report: a section with the same figures.
        let section = &report[report.find("Time to first byte (ttfb):").unwrap_or_else(|| panic!("{report}"))..];
        let p99 = format!("{:>6.2}% in {:.4} secs", 99.0, metric_at(&doc, "ttfb", 99.0));
        assert!(section.lines().take(10).any(|l| l.contains(&p99)), "{backend}: {p99:?} in {section}");

        // A merge of two such runs: twice the values, the section in its report.
        let (other, _, other_file) = run(&url, backend, &dir, "b");
        let merged = vastar(&["merge", "-o", "json", path(&file), path(&other_file)]);
        assert!(merged.status.success(), "{}", text(&merged.stderr));
        let merged: Value = serde_json::from_slice(&merged.stdout).unwrap();
        let both = responses + other["counts"]["responses"].as_u64().unwrap();
        assert_eq!(merged["metrics"]["ttfb"]["histogram"]["count"].as_u64(), Some(both), "{backend}");
        assert!(metric_at(&merged, "ttfb", 50.0) >= delay_s);
        let merged_report = text(&vastar(&["merge", path(&file), path(&other_file)]).stdout);
        assert!(merged_report.contains(&format!("({both} responses)")), "{backend}: {merged_report}");

        // diff: a row per ttfb percentile, within noise against itself.
        let out = vastar(&["diff", "--no-color", path(&file), path(&file)]);
        let table = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{table}{}", text(&out.stderr));
        let row = table.lines().find(|l| l.trim_start().starts_with("ttfb.p99 ")).unwrap_or_else(|| panic!("{table}"));
        assert!(row.ends_with("within noise") && row.contains(" ms "), "{backend}: {row}");
        let out = vastar(&["diff", "--no-color", path(&file), path(&other_file)]);
        assert!(text(&out.stdout).lines().any(|l| l.trim_start().starts_with("ttfb.p50 ")), "{}", text(&out.stdout));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn assertions_on_the_time_to_first_byte_pass_or_fail_the_run() {
    let url = format!("http://{}/", raw_server(late_body));
    for backend in backend_flags() {
        let assert =
            |expr: &str| vastar(&["-n", "8", "-c", "4", "--no-color", "--backend", backend, "--assert", expr, &url]);
        let out = assert("ttfb.p99<10ms");
        let report = text(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{backend}: {report}{}", text(&out.stderr));
        assert!(report.contains("FAIL  ttfb.p99<10ms  measured "), "{backend}: {report}");
        let out = assert("ttfb.p99<5s");
        assert_eq!(out.status.code(), Some(0), "{backend}: {}{}", text(&out.stdout), text(&out.stderr));
        assert!(text(&out.stdout).contains("pass  ttfb.p99<5s"), "{}", text(&out.stdout));
    }
    // A name that is no metric: refused before the run, naming the known ones.
    let out = vastar(&["-n", "1", "-c", "1", "--assert", "ttbf.p99<1s", "http://127.0.0.1:9/"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown metric \"ttbf\" (known: ttfb") && stderr.lines().count() == 1, "{stderr}");
}
