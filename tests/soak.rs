//! Soak: 60 s at c = 1000 on each backend. Memory at the end must be within
//! 10% of memory after 5 s (nothing grows with the number of requests), and
//! the server's count must agree with vastar's (read from `-o json`). Ignored by default (two
//! minutes); run it with
//! `cargo test --release --test soak -- --ignored --nocapture`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vastar::result::ResultDoc;
use vastar::server::{Server, ServerOptions};

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "takes two minutes; run explicitly"]
fn sixty_seconds_at_c1000_keeps_memory_flat_and_counts_exact() {
    for backend in ["io-uring", "portable"] {
        if backend == "io-uring" && !common::io_uring_usable() {
            continue;
        }
        let server = Server::start("127.0.0.1:0".parse().unwrap(), ServerOptions::default()).unwrap();
        let url = format!("http://{}/", server.addr());
        let child = Command::new(env!("CARGO_BIN_EXE_vastar"))
            .args(["-z", "60s", "-c", "1000", "--backend", backend, "-o", "json", "--quiet", &url])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let begun = Instant::now();
        std::thread::sleep(Duration::from_secs(5));
        let early = rss_kb(pid);
        std::thread::sleep(Duration::from_secs(54));
        let late = rss_kb(pid);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success() && begun.elapsed() < Duration::from_secs(75), "{backend}: {:?}", out.status);
        let doc = ResultDoc::parse(&String::from_utf8_lossy(&out.stdout)).expect("a result document");
        let (responses, aborted, errors) = (doc.counts.responses, doc.counts.aborted, doc.counts.errors);
        let ok = doc.status_codes.get(&200).copied().unwrap_or(0);
        let served = server.requests();
        println!(
            "{backend}: RSS {early} KiB at 5 s, {late} KiB at 59 s; {responses} responses, {aborted} aborted, {served} served"
        );
        assert!(late as f64 <= early as f64 * 1.10, "{backend}: memory grew from {early} to {late} KiB");
        assert!(
            responses > 0 && ok == responses && errors == 0,
            "{backend}: {responses} responses, {ok} 200s, {errors} errors"
        );
        // Every response vastar counted was served; the server may also have
        // answered requests that were still in flight (aborted) at the end.
        assert!((responses..=responses + aborted).contains(&served), "{backend}: served {served}, counted {responses}");
    }
}
