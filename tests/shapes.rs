//! Load shapes on every backend: `--stages` of rates follow their shape
//! interval by interval; `--warmup` keeps its requests out of the results;
//! bad shapes are refused with one line. How `--stages` of connections park
//! and wake connections is checked exactly on virtual time (`engine::sim`).

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use vastar::stats::{Segment, Shape};

use common::{Scripted, accounted, assert_follows, backend_flags, config, each_backend, run, send, text, vastar};

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn rate_stages_send_what_each_interval_asks_for() {
    each_backend(|backend| {
        let server = Scripted::start(|_| send(OK));
        let args = ["--stages", "1s:300,2s:300..1500,1s:1500", "-c", "20", "--interval", "1s"];
        let outcome = run(config(&args, &server.url("/")), backend);
        // Its integral: 300 + (300 + 1500) + 1500 = 3600 requests due.
        let seg = |over_s, from, to| Segment { over_s, from, to };
        let shape = [seg(1.0, 300.0, 300.0), seg(2.0, 300.0, 1500.0), seg(1.0, 1500.0, 1500.0)];
        assert_follows(&outcome, &Shape::new(shape.to_vec()).unwrap());
    });
}

/// A server slow (60 ms) for its first second, then fast.
fn slow_then_fast() -> Scripted {
    let first_request = std::sync::Arc::new(OnceLock::new());
    Scripted::start(move |_| {
        let first = *first_request.get_or_init(Instant::now);
        if first.elapsed() < Duration::from_millis(1000) {
            std::thread::sleep(Duration::from_millis(60));
        }
        send(OK)
    })
}

#[test]
fn a_warmup_is_left_out_of_the_results_and_marked_in_the_timeline() {
    for backend in backend_flags() {
        let server = slow_then_fast();
        let url = server.url("/");
        let out = vastar(&["--backend", backend, "-c", "4", "-z", "1500ms", "--warmup", "1200ms", "-o", "json", &url]);
        assert!(out.status.success(), "{backend}: {}", text(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let p99 = doc["percentiles"].as_array().unwrap().iter().find(|p| p["p"] == 99.0).unwrap()["corrected_s"]
            .as_f64()
            .unwrap();
        assert!(p99 < 0.030, "{backend}: p99 {p99} s includes the slow warm-up");
        let warmup = &doc["run"]["warmup"];
        assert_eq!(warmup["seconds"], 1.2, "{backend}");
        assert!(warmup["responses"].as_u64().unwrap() > 20, "{backend}: {warmup}");
        let intervals = doc["timeline"]["intervals"].as_array().unwrap();
        assert_eq!(intervals[0]["warmup"], true, "{backend}");
        assert!(intervals[0]["p50_s"].as_f64().unwrap() >= 0.055, "{backend}: the timeline shows the slow start");
        assert_eq!(intervals[2]["warmup"], false, "{backend}");
        let report = text(&out.stderr);
        assert!(report.contains("Warm-up:      1.2 secs, "), "{backend}: {report}");
        // The measured run lasts -z after the warm-up.
        let total = doc["summary"]["total_s"].as_f64().unwrap();
        assert!((1.45..1.7).contains(&total), "{backend}: {total} s measured");
    }
}

#[test]
fn a_counted_run_counts_its_requests_after_the_warmup_exactly() {
    each_backend(|backend| {
        let server = Scripted::start(|_| send(OK));
        for args in
            [&["-n", "300", "-c", "3", "--warmup", "300ms"][..], &["--rate", "500", "-n", "300", "--warmup", "300ms"]]
        {
            let outcome = run(config(args, &server.url("/")), backend);
            let (responses, errors, aborted) = accounted(&outcome);
            assert_eq!(responses + errors + aborted, 300, "{args:?}");
            assert!(outcome.stats.warmup.responses > 10, "{args:?}: {:?}", outcome.stats.warmup);
        }
    });
}

#[test]
fn bad_shapes_are_refused_with_one_line() {
    for (args, why) in [
        (&["--stages", "1s:100", "-z", "5s"][..], "cannot be used with"),
        (&["--stages", "1s:100", "-n", "5"], "cannot be used with"),
        (&["--stages", "1s:100", "--rate", "5"], "cannot be used with"),
        (&["--stages", "1s:c5", "-c", "10"], "-c: cannot be used with --stages"),
        (&["--stages", "1s:100,1s:c5"], "mixes rates and connection counts"),
        (&["--stages", "0s:100"], "less than 1ms"),
        (&["--stages", "1s:-3"], "not a usable rate"),
        (&["--rate", "100..", "-z", "1s"], "FROM..TO needs two rates"),
        (&["--rate", "-100", "-z", "1s"], "not a usable rate"),
        (&["--warmup", "soon", "-n", "100"], "--warmup: "),
    ] {
        common::refused_with_one_line(args, why);
    }
}
