//! Machine-readable results end to end, through the binary: the JSON
//! document against the text report of the same run, exact merges of
//! parallel runs, merge refusals, stdin input, CSV, and `--start-at`.
//! Every run-producing case runs on every backend.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Scripted, backend_flags, send, text, vastar};
use serde_json::Value;
use vastar::result::ResultDoc;
use vastar::stats::WorkerStats;

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vastar-results-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_json_document_matches_the_text_report_of_the_same_run() {
    for backend in backend_flags() {
        let out = vastar(&["--demo", "-n", "3000", "-c", "10", "-o", "json", "--backend", backend]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let json: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
        for field in ["schema", "schema_version", "command", "target", "start_utc", "end_utc", "run", "summary"] {
            assert!(json.get(field).is_some(), "{backend}: no {field}");
        }
        for field in ["counts", "status_codes", "errors", "percentiles", "insight", "phases", "histograms"] {
            assert!(json.get(field).is_some(), "{backend}: no {field}");
        }
        assert_eq!((json["schema"].as_str(), json["schema_version"].as_u64()), (Some("vastar.result"), Some(1)));
        assert_eq!(json["counts"]["responses"], 3000);
        assert_eq!(json["status_codes"]["200"], 3000);
        assert!(json["command"].as_array().unwrap().iter().any(|a| a == "json"));
        assert!(json["run"]["backend"].as_str().unwrap().starts_with(&backend[..2]), "{}", json["run"]["backend"]);
        let doc = ResultDoc::parse(&text(&out.stdout)).unwrap();
        assert_eq!(doc.stats().unwrap().corrected.count(), 3000);

        // The report on stderr carries the same figures...
        let stderr = text(&out.stderr);
        let report = &stderr[stderr.find("Summary:").expect("the report is on stderr")..];
        assert!(report.contains(&format!("Requests/sec: {:.2}", doc.summary.requests_per_sec)), "{report}");
        assert!(report.contains("[200] 3000 responses"));
        for p in &doc.percentiles {
            assert!(report.contains(&format!("{:>6.2}% in {:.4} secs", p.p, p.corrected_s)), "p{} in {report}", p.p);
        }
        // ...and the report rebuilt from the document is the same text.
        let dir = scratch(backend);
        let file = dir.join("run.json");
        std::fs::write(&file, &out.stdout).unwrap();
        let rebuilt = vastar(&["merge", file.to_str().unwrap()]);
        assert!(rebuilt.status.success(), "{}", text(&rebuilt.stderr));
        assert_eq!(text(&rebuilt.stdout), report);
    }
}

#[test]
fn four_parallel_runs_merge_exactly() {
    for backend in backend_flags() {
        let server = Scripted::start(|_| send(OK));
        let url = server.url("/items");
        let children: Vec<_> = (0..4)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_vastar"))
                    .args(["-n", "1500", "-c", "5", "-o", "json", "--quiet", "--backend", backend, &url])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let dir = scratch(&format!("merge-{backend}"));
        let mut files = Vec::new();
        let mut parts = Vec::new();
        for (i, child) in children.into_iter().enumerate() {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success() && out.stderr.is_empty(), "--quiet run: {}", text(&out.stderr));
            let file = dir.join(format!("part{i}.json"));
            std::fs::write(&file, &out.stdout).unwrap();
            files.push(file.to_str().unwrap().to_string());
            parts.push(ResultDoc::parse(&text(&out.stdout)).unwrap());
        }
        let mut args = vec!["merge", "-o", "json"];
        args.extend(files.iter().map(String::as_str));
        let out = vastar(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let merged = ResultDoc::parse(&text(&out.stdout)).unwrap();

        // Counts: the parts add up, and to what the server saw.
        assert_eq!(merged.counts.responses, 6000);
        assert_eq!(server.requests(), 6000);
        assert_eq!(parts.iter().map(|p| p.counts.responses).sum::<u64>(), 6000);
        assert_eq!(merged.parts.len(), 4);
        // Histograms: the merged one is the bucket-wise sum, so its
        // percentiles are those of the combined histogram.
        let mut combined = WorkerStats::new();
        for part in &parts {
            combined.merge(&part.stats().unwrap()).unwrap();
        }
        let stats = merged.stats().unwrap();
        assert_eq!(stats, combined);
        for p in &merged.percentiles {
            assert_eq!(p.corrected_s, combined.corrected.percentile_ns(p.p) as f64 / 1e9, "p{}", p.p);
        }
        let min = parts.iter().map(|p| p.histograms.uncorrected.min_ns).min().unwrap();
        assert_eq!(merged.histograms.uncorrected.min_ns, min);
        // Requests/sec over the union of the windows.
        let start = parts.iter().map(|p| p.start_unix_ns).min().unwrap();
        let end = parts.iter().map(|p| p.end_unix_ns).max().unwrap();
        let union: u64 = merged.run.windows_ns.iter().map(|w| w[1] - w[0]).sum();
        assert!(union <= end - start && merged.start_unix_ns == start && merged.end_unix_ns == end);
        let expected = 6000.0 / (union as f64 / 1e9);
        let got = merged.summary.requests_per_sec;
        assert!((got - expected).abs() < expected * 1e-12, "{got} req/s, expected {expected}");
        // The text report of the merge says what it is.
        let mut args = vec!["merge"];
        args.extend(files.iter().map(String::as_str));
        let report = text(&vastar(&args).stdout);
        assert!(report.contains("Merged:       4 results, started within"), "{report}");
        assert!(report.contains("[200] 6000 responses"), "{report}");
    }
}

#[test]
fn merge_reads_standard_input_and_refuses_what_does_not_belong_together() {
    let (a, b) = (Scripted::start(|_| send(OK)), Scripted::start(|_| send(OK)));
    let run = |url: &str| {
        let out = vastar(&["-n", "20", "-c", "2", "-o", "json", "--quiet", url]);
        assert!(out.status.success());
        text(&out.stdout)
    };
    let (one, two, other) = (run(&a.url("/")), run(&a.url("/")), run(&b.url("/")));
    let dir = scratch("refusals");
    let write = |name: &str, content: &str| {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_string()
    };

    // Two documents one after the other on stdin, as collected logs are.
    let mut child = Command::new(env!("CARGO_BIN_EXE_vastar"))
        .args(["merge", "-o", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), format!("{one}{two}").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(ResultDoc::parse(&text(&out.stdout)).unwrap().counts.responses, 40);

    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![write("one.json", &one), write("other.json", &other)], "different targets"),
        (
            vec![write("v2.json", &one.replacen("\"schema_version\": 1", "\"schema_version\": 2", 1))],
            "schema version 2",
        ),
        (vec![write("garbage.json", "crash: out of memory\n")], "garbage.json\": not JSON"),
        (vec![write("empty.json", "")], "empty.json\": no result in it"),
        (vec![dir.join("missing.json").to_str().unwrap().to_string()], "cannot read"),
    ];
    for (files, needle) in cases {
        let mut args = vec!["merge"];
        args.extend(files.iter().map(String::as_str));
        let out = vastar(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle) && err.lines().count() == 1, "{args:?}: {err}");
    }
    let forced = vastar(&["merge", "--force", &write("one.json", &one), &write("other.json", &other)]);
    assert!(forced.status.success() && text(&forced.stdout).contains("[200] 40 responses"));
}

#[test]
fn csv_prints_the_percentile_table() {
    let out = vastar(&["--demo", "-n", "500", "-c", "5", "-o", "csv"]);
    assert!(out.status.success());
    let csv = text(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "percentile,corrected_seconds,uncorrected_seconds");
    assert_eq!(lines.len(), 10, "{csv}");
    assert!(lines[1..].iter().all(|l| l.split(',').nth(1).unwrap().parse::<f64>().is_ok()), "{csv}");
    assert!(text(&out.stderr).contains("Summary:"), "the report goes to stderr");
}

#[test]
fn runs_started_at_one_moment_start_together() {
    for backend in backend_flags() {
        let server = Scripted::start(|_| send(OK));
        let url = server.url("/");
        let at = SystemTime::now() + Duration::from_millis(1500);
        let at_secs = format!("{:.6}", at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64());
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_vastar"))
                    .args([
                        "-n",
                        "50",
                        "-c",
                        "5",
                        "-o",
                        "json",
                        "--quiet",
                        "--start-at",
                        &at_secs,
                        "--backend",
                        backend,
                    ])
                    .arg(&url)
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            let doc = ResultDoc::parse(&text(&out.stdout)).unwrap();
            let start_at = doc.start_at.expect("the document records --start-at");
            // Started on time (to a few ms on a busy machine), not before.
            assert!((0.0..50.0).contains(&start_at.late_ms), "{backend}: {} ms late", start_at.late_ms);
            assert!(doc.start_unix_ns >= start_at.requested_unix_ns);
            // The connections were opened while waiting, before the start.
            assert_eq!(doc.phases.connect.count, 5);
            assert_eq!(doc.counts.responses, 50);
        }
    }
    let passed = vastar(&["--demo", "-n", "10", "-c", "1", "--start-at", "2026-01-01T00:00:00Z"]);
    assert!(passed.status.success());
    assert!(text(&passed.stderr).contains("passed") && text(&passed.stderr).contains("starting at once"));
    let wrong = vastar(&["--demo", "--start-at", "noon"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(text(&wrong.stderr).contains("--start-at: \"noon\" is neither unix seconds nor an RFC 3339 time"));
}
