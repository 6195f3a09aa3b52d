//! Soak: 60 s at c = 1000 on each backend. Memory at the end must be within
//! 10% of memory after 5 s (nothing grows with the number of requests), and
//! the server's count must agree with vastar's. Ignored by default (two
//! minutes); run it with
//! `cargo test --release --test soak -- --ignored --nocapture`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vastar::server::{Server, ServerOptions};

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn number_in(report: &str, prefix: &str, suffix: &str) -> u64 {
    report
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with(prefix) && l.ends_with(suffix))
        .filter_map(|l| l[prefix.len()..l.len() - suffix.len()].trim().parse::<u64>().ok())
        .sum()
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
            .args(["-z", "60s", "-c", "1000", "--backend", backend, &url])
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
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && begun.elapsed() < Duration::from_secs(75), "{report}");
        let responses = number_in(&report, "[200]", "responses");
        let aborted = report
            .lines()
            .find_map(|l| l.trim().strip_prefix("Aborted:"))
            .map_or(0, |rest| rest.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0));
        let served = server.requests();
        println!(
            "{backend}: RSS {early} KiB at 5 s, {late} KiB at 59 s; {responses} responses, {aborted} aborted, {served} served"
        );
        assert!(late as f64 <= early as f64 * 1.10, "{backend}: memory grew from {early} to {late} KiB");
        assert!(responses > 0 && report.lines().all(|l| !l.contains("Error distribution")), "{report}");
        // Every response vastar counted was served; the server may also have
        // answered requests that were still in flight (aborted) at the end.
        assert!((responses..=responses + aborted).contains(&served), "{backend}: served {served}, counted {responses}");
    }
}
