//! `vastar diff` through the binary, on every backend: a result compared
//! with itself is within noise everywhere; a server made 3 ms slower is
//! judged worse, and `--fail-on-regression` turns that into exit 3, also
//! when the runs are too short to judge their noise; bad input is a
//! one-line usage error.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Scripted, backend_flags, send, text, vastar};

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vastar-compare-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs 2 s against `url` and saves the result as `file`.
fn result(url: &str, backend: &str, file: &PathBuf) -> String {
    let args = ["-z", "2s", "-c", "4", "--interval", "200ms", "-o", "json", "--quiet", "--backend", backend, url];
    let out = vastar(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(file, &out.stdout).unwrap();
    file.to_str().unwrap().to_string()
}

fn verdict(table: &str, figure: &str) -> &'static str {
    let line =
        table.lines().find(|l| l.trim_start().starts_with(&format!("{figure} "))).unwrap_or_else(|| panic!("{table}"));
    let verdicts = ["within noise", "better", "worse", "changed", "unknown"];
    verdicts.into_iter().find(|v| line.ends_with(v)).unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn a_slower_server_is_worse_and_a_result_equals_itself() {
    let fast = Scripted::start(|_| send(OK));
    let slow = Scripted::start(|_| {
        std::thread::sleep(Duration::from_millis(3));
        send(OK)
    });
    for backend in backend_flags() {
        let dir = scratch(backend);
        let base = result(&fast.url("/"), backend, &dir.join("fast.json"));
        let new = result(&slow.url("/"), backend, &dir.join("slow.json"));

        let out = vastar(&["diff", "--no-color", &base, &base]);
        let table = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{table}{}", text(&out.stderr));
        // requests/sec, 9 percentiles, the same 9 of each named metric with
        // samples (ttfb: a plain server streams no tokens), error rate,
        // bytes/request.
        let figures = 12 + vastar::summary::PERCENTILES.len();
        assert_eq!(table.matches("within noise").count(), figures, "{table}");

        let out = vastar(&["diff", "--no-color", &base, &new, "--fail-on-regression", "10"]);
        let table = text(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{backend}: {table}{}", text(&out.stderr));
        for figure in ["requests/sec", "p50", "p90"] {
            assert_eq!(verdict(&table, figure), "worse", "{backend} {figure}: {table}");
        }
        assert!(table.contains("blocks of intervals"), "{table}");

        let out = vastar(&["diff", "--markdown", &new, &base]);
        assert_eq!(out.status.code(), Some(0), "no --fail-on-regression: exit 0");
        let md = text(&out.stdout);
        assert!(md.contains("| requests/sec |") && md.contains("| **better** |"), "{md}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Runs the built-in server for 1 s with `extra` flags and saves the
/// result as `file`: one interval, too few for a noise verdict.
fn short_demo(extra: &[&str], file: &PathBuf) -> String {
    let args = [&["--demo", "-z", "1s", "-c", "2", "-o", "json", "--quiet", "--backend", "portable"], extra].concat();
    let out = vastar(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(file, &out.stdout).unwrap();
    file.to_str().unwrap().to_string()
}

#[test]
fn runs_too_short_for_noise_fail_on_the_change_alone() {
    let dir = scratch("short");
    let base = short_demo(&[], &dir.join("base.json"));
    // 2 connections at 5 requests/sec each: a fraction of the base's rate.
    let new = short_demo(&["-q", "5"], &dir.join("new.json"));

    let out = vastar(&["diff", "--no-color", &base, &new, "--fail-on-regression", "10"]);
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{table}{}", text(&out.stderr));
    assert_eq!(verdict(&table, "requests/sec"), "unknown", "{table}");
    assert!(table.contains("\nnoise could not be judged (too few intervals): judged on the change alone\n"), "{table}");
    assert!(table.contains("--fail-on-regression 10%: regression in requests/sec -"), "{table}");

    let out = vastar(&["diff", "--markdown", &base, &new, "--fail-on-regression", "10"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("noise could not be judged (too few intervals)"));

    let out = vastar(&["diff", "--no-color", &base, &new]);
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "no --fail-on-regression: exit 0\n{table}");
    assert!(!table.contains("noise could not be judged"), "{table}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_a_usage_error() {
    let server = Scripted::start(|_| send(OK));
    let dir = scratch("bad");
    let one = result(&server.url("/"), "portable", &dir.join("one.json"));
    let two = dir.join("two.json");
    let both = [std::fs::read(&one).unwrap(), std::fs::read(&one).unwrap()].concat();
    std::fs::write(&two, both).unwrap();
    let two = two.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["diff", &one, &one, "--fail-on-regression", "-1"], "--fail-on-regression"),
        (&["diff", &one, two], "holds 2 results; merge them first"),
        (&["diff", &one, "/nonexistent/new.json"], "cannot read"),
        (&["diff", &one, &one, "--assert", "p99"], "--assert"),
    ];
    for (args, why) in cases {
        let out = vastar(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(why) && stderr.lines().count() == 1, "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
