//! `--assert` through the binary, on every backend: thresholds that hold
//! exit 0, one that fails exits 3 with the report saying which, the JSON
//! result carries the verdicts, `vastar merge` checks the merged result,
//! and a malformed expression is a one-line usage error before anything
//! runs.

mod common;

use common::{Scripted, backend_flags, send, text, vastar};
use vastar::result::ResultDoc;

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const UNAVAILABLE: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\nno";

#[test]
fn thresholds_pass_or_fail_the_run() {
    // Every tenth request gets a 503.
    let count = std::sync::atomic::AtomicUsize::new(0);
    let server = Scripted::start(move |_| {
        let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        send(if n % 10 == 9 { UNAVAILABLE } else { OK })
    });
    let url = server.url("/");
    for backend in backend_flags() {
        let base = ["-n", "500", "-c", "5", "--no-color", "--backend", backend];
        let mut args = base.to_vec();
        args.extend(["--assert", "p99<10s", "--assert", "errors==0, non2xx<=10%,rps>0", &url]);
        let out = vastar(&args);
        let report = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{backend}: {report}{}", text(&out.stderr));
        assert!(report.contains("Assertions (0 of 4 failed):"), "{report}");

        let mut args = base.to_vec();
        args.extend(["--assert", "status:503==0,p99<10s", &url]);
        let out = vastar(&args);
        let report = text(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{backend}: {report}");
        assert!(report.contains("FAIL  status:503==0  measured 50"), "{report}");
        assert!(report.contains("pass  p99<10s"), "{report}");

        let mut args = base.to_vec();
        args.extend(["--assert", "non2xx<5%", "-o", "json", "--quiet", &url]);
        let out = vastar(&args);
        assert_eq!(out.status.code(), Some(3), "{backend}: {}", text(&out.stderr));
        let doc = ResultDoc::parse(&text(&out.stdout)).unwrap();
        assert_eq!(doc.assertions.len(), 1);
        assert_eq!(
            (doc.assertions[0].expr.as_str(), doc.assertions[0].value, doc.assertions[0].pass),
            ("non2xx<5%", 10.0, false)
        );
    }
}

#[test]
fn merge_checks_the_merged_result() {
    let server = Scripted::start(|_| send(OK));
    let dir = std::env::temp_dir().join(format!("vastar-assert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for i in 0..2 {
        let out = vastar(&["-n", "300", "-c", "3", "-o", "json", "--quiet", &server.url("/")]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let file = dir.join(format!("{i}.json"));
        std::fs::write(&file, &out.stdout).unwrap();
        files.push(file.to_str().unwrap().to_string());
    }
    let merge = |assert: &str| vastar(&["merge", "--no-color", "--assert", assert, &files[0], &files[1]]);
    let out = merge("errors==0,rps>0");
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let out = merge("status:200<600");
    assert_eq!(out.status.code(), Some(3), "600 responses in all: {}", text(&out.stdout));
    assert!(text(&out.stdout).contains("FAIL  status:200<600  measured 600"), "{}", text(&out.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn malformed_expressions_are_usage_errors() {
    for (expr, why) in [("p99<20", "needs a unit"), ("latency<1s", "unknown measure"), ("errors", "no comparison")] {
        // The URL is never contacted: the expression is refused first.
        let out = vastar(&["-n", "1", "-c", "1", "--assert", expr, "http://127.0.0.1:9/"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{expr}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--assert") && stderr.contains(why) && stderr.contains("p99<20ms"), "{stderr}");
    }
    let out = vastar(&["merge", "--assert", "p99<<1s", "/nonexistent.json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--assert"), "{}", text(&out.stderr));
}
