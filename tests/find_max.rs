//! `--find-max` on every backend: against a server of known capacity it
//! finds that capacity; when the generator is what limits (too few
//! connections for a fast server) it says so instead of blaming the
//! server; a first step that fails exits 3; Ctrl-C prints what was found.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Scripted, backend_flags, send, text, vastar};

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A server that serves `capacity` requests per second: each request
/// takes the next slot of a queue that frees one slot every 1/capacity,
/// and waits for it. Below the capacity nothing waits; above it the
/// queue, and so the latency, grows with every request.
fn server_of_capacity(capacity: f64) -> Scripted {
    let next_free = Arc::new(Mutex::new(Instant::now()));
    Scripted::start(move |_| {
        let slot = {
            let mut next = next_free.lock().unwrap();
            let slot = (*next).max(Instant::now());
            *next = slot + Duration::from_secs_f64(1.0 / capacity);
            slot
        };
        std::thread::sleep(slot.saturating_duration_since(Instant::now()));
        send(OK)
    })
}

/// Runs `--find-max -o json` on `backend` with `args`; the exit status,
/// the report on stderr and the search document.
fn search(backend: &str, args: &[&str], url: &str) -> (Option<i32>, String, serde_json::Value) {
    let out = vastar(&[&["--backend", backend, "--find-max", "-o", "json"], args, &[url]].concat());
    let report = text(&out.stderr);
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {report}"));
    (out.status.code(), report, doc)
}

#[test]
fn it_finds_a_known_capacity_within_ten_percent() {
    for backend in backend_flags() {
        let server = server_of_capacity(400.0);
        let args = ["--slo", "p50<40ms", "--find-max-start", "100", "--find-max-step", "2s", "-c", "60"];
        let (status, report, doc) = search(backend, &args, &server.url("/"));
        assert_eq!(status, Some(0), "{backend}: {report}");
        let found = doc["highest_passing_rps"].as_f64().unwrap();
        assert!((360.0..=440.0).contains(&found), "{backend}: found {found} req/s of 400: {}", doc["headline"]);
        assert_eq!(doc["end"], "found", "{backend}");
        let steps = doc["steps"].as_array().unwrap();
        assert!(steps.iter().any(|s| s["limit"] == "server"), "{backend}: the server's limit was met");
        // Bounded: climbing 100, 200, 400, 800, then bisecting a factor of 2 to 5%.
        assert!(steps.len() <= 9, "{backend}: {} steps", steps.len());
        assert!(report.contains("Find max: ") && report.contains("req/s is the highest rate that met p50<40ms"));
    }
}

#[test]
fn too_few_connections_are_the_generators_limit_not_the_servers() {
    for backend in backend_flags() {
        // A fast server, and a single connection: past a few thousand
        // requests a second, requests wait in vastar for the connection.
        let server = Scripted::start(|_| send(OK));
        let climb = ["--find-max-start", "2000", "--find-max-factor", "4", "--find-max-step", "1s"];
        let args = [&["--slo", "p90<5ms", "-c", "1"], &climb[..]].concat();
        let (_, _, doc) = search(backend, &args, &server.url("/"));
        assert_eq!(doc["end"], "generator", "{backend}: {}", doc["headline"]);
        let why = doc["generator_limit"].as_str().unwrap();
        assert!(why.contains("connections were busy") || why.contains("busy and sent"), "{backend}: {why}");
        assert!(doc["headline"].as_str().unwrap().starts_with("the generator, not the server"), "{backend}");
    }
}

#[test]
fn a_first_step_that_fails_exits_3() {
    let server = server_of_capacity(50.0);
    let url = server.url("/");
    let out = vastar(&["--find-max", "--slo", "p50<20ms", "--find-max-step", "1s", "--find-max-start", "200", &url]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.starts_with("Find max: even the first step, 200 req/s, did not meet p50<20ms"), "{report}");
}

#[test]
fn bad_search_flags_are_refused_with_one_line() {
    for (args, why) in [
        (&["--find-max"][..], "--slo"),
        (&["--find-max", "--slo", "p99<"], "--slo: "),
        (&["--find-max", "--slo", "p99<5ms", "-z", "5s"], "cannot be used with"),
        (&["--find-max", "--slo", "p99<5ms", "--rate", "5"], "cannot be used with"),
        (&["--find-max", "--slo", "p99<5ms", "--find-max-factor", "1"], "--find-max-factor: "),
        (&["--find-max", "--slo", "p99<5ms", "--find-max-start", "0"], "--find-max-start: "),
        (&["--find-max", "--slo", "p99<5ms", "--find-max-precision", "90%"], "--find-max-precision: "),
        (&["--find-max", "--slo", "p99<5ms", "--find-max-step", "10ms"], "--find-max-step: "),
        (&["--find-max", "--slo", "p99<5ms", "-o", "csv"], "-o: csv"),
        (&["--slo", "p99<5ms"], "--find-max"),
    ] {
        common::refused_with_one_line(args, why);
    }
}
