//! Accuracy: the open-model `--rate` mode sees a server stall that a closed
//! loop hides, keeps its rate, puts timeouts at their limit, and connect
//! timeouts end attempts that would otherwise hang. Every case runs on
//! every backend.
#![allow(unsafe_code, reason = "pinning and limits of the child under test")]

mod common;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::{Reply, Scripted, accounted, assert_follows, config, each_backend, run, run_within, send};
use vastar::engine::Outcome;
use vastar::stats::ErrorKind;

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A server that answers at once, except that from 1 s to 2 s after its
/// first request it answers nothing until the 2 s mark (a 1-second stall,
/// as a stop-the-world pause would cause).
fn stalling_server() -> Scripted {
    let first: Arc<OnceLock<Instant>> = Arc::default();
    Scripted::start(move |_| {
        let first = *first.get_or_init(Instant::now);
        let (stall_from, stall_to) = (first + Duration::from_secs(1), first + Duration::from_secs(2));
        let now = Instant::now();
        if now >= stall_from && now < stall_to {
            std::thread::sleep(stall_to - now);
        }
        send(OK)
    })
}

fn p99_ms(outcome: &Outcome) -> (f64, f64) {
    let s = &outcome.stats;
    (s.corrected.percentile_ns(99.0) as f64 / 1e6, s.latency.percentile_ns(99.0) as f64 / 1e6)
}

#[test]
fn a_stall_shows_in_the_corrected_tail_of_a_rate_run_and_hides_in_a_closed_loop() {
    each_backend(|backend| {
        // 3 s at 200 req/s on 4 connections: the 200 requests due during the
        // stall wait for it, so about 1/3 of all requests waited 0..1 s and
        // the corrected p99 sits near the full stall.
        let server = stalling_server();
        let open = run(config(&["--rate", "200", "-c", "4", "-z", "3s"], &server.url("/")), backend);
        accounted(&open);
        let (corrected, uncorrected) = p99_ms(&open);
        assert!((800.0..1300.0).contains(&corrected), "rate run: corrected p99 {corrected} ms");
        // Only the 4 requests on the wire during the stall saw it from the send.
        assert!(uncorrected < 100.0, "rate run: uncorrected p99 {uncorrected} ms");

        // The same stall under a closed loop: a handful of slow samples among
        // thousands, so p99 says everything was fast.
        let server = stalling_server();
        let closed = run(config(&["-c", "4", "-z", "3s"], &server.url("/")), backend);
        let (corrected, uncorrected) = p99_ms(&closed);
        assert!(closed.stats.responses > 2_000, "closed loop: {} responses", closed.stats.responses);
        assert!(corrected < 100.0 && uncorrected < 100.0, "closed loop: p99 {corrected} / {uncorrected} ms");
    });
}

#[test]
fn the_rate_is_kept_within_one_percent_at_1k_and_10k() {
    each_backend(|backend| {
        let server = vastar::server::Server::start("127.0.0.1:0".parse().unwrap(), Default::default()).unwrap();
        let url = format!("http://{}/", server.addr());
        for rate in [1_000.0, 10_000.0] {
            let outcome = run(config(&["--rate", &rate.to_string(), "-c", "50", "-z", "2s"], &url), backend);
            let achieved = outcome.achieved_rate(rate);
            assert!((achieved - rate).abs() / rate < 0.01, "{rate} req/s asked, {achieved:.1} achieved");
            let (responses, errors, aborted) = accounted(&outcome);
            let expected = 2.0 * rate;
            let issued = (responses + errors + aborted) as f64;
            assert!((issued - expected).abs() / expected < 0.01, "{issued} issued in 2 s at {rate}/s");
            assert_eq!(errors, 0);
        }
    });
}

#[test]
fn a_counted_rate_run_accounts_for_every_request() {
    each_backend(|backend| {
        let server = Scripted::start(|_| send(OK));
        let outcome = run(config(&["--rate", "2000", "-n", "500", "-c", "5"], &server.url("/")), backend);
        assert_eq!(accounted(&outcome), (500, 0, 0));
        assert_eq!(server.requests(), 500);
        // 500 requests at 2000/s: the last starts at about 249.5 ms.
        assert!((0.23..0.30).contains(&outcome.last_start.as_secs_f64()), "{:?}", outcome.last_start);
    });
}

#[test]
fn a_ramp_sends_what_its_shape_asks_for_in_every_interval() {
    each_backend(|backend| {
        let server = Scripted::start(|_| send(OK));
        let args = ["--rate", "100..2000", "-z", "4s", "-c", "20", "--interval", "1s"];
        let outcome = run(config(&args, &server.url("/")), backend);
        // Its integral: 4200 requests due before the deadline.
        assert_follows(&outcome, &vastar::stats::Shape::ramp(100.0, 2000.0, 4.0).unwrap());
    });
}

#[test]
fn timeouts_sit_at_their_limit_in_the_corrected_distribution() {
    each_backend(|backend| {
        // A server that never answers; 2 connections at 20 req/s with a
        // 300 ms timeout counted from each request's intended start: requests
        // queue for a connection and are sent with what is left of their
        // 300 ms, so every one of them ends 300 ms after it was due.
        let server = Scripted::start(|_| Reply::Silent);
        let args = ["--rate", "20", "-c", "2", "-t", "300ms", "-z", "1500ms"];
        let outcome = run_within(Duration::from_secs(10), config(&args, &server.url("/")), backend);
        let s = &outcome.stats;
        let timeouts = s.error_count(ErrorKind::Timeout);
        assert!(timeouts >= 20, "{timeouts} timeouts");
        assert_eq!(s.corrected.count(), timeouts, "every timeout is in the corrected distribution");
        let (low, high) = (s.corrected.min_ns() as f64 / 1e6, s.corrected.max_ns() as f64 / 1e6);
        assert!(low >= 299.0 && high < 360.0, "timeouts at {low}..{high} ms");
        assert_eq!(s.latency.count(), 0, "no response, no uncorrected latency");
    });
}

#[test]
fn requests_that_cannot_be_sent_in_time_are_counted_never_skipped() {
    each_backend(|backend| {
        // Nothing listens: every connect is refused and the connection backs
        // off (up to 500 ms), longer than the 100 ms timeout. The requests
        // due meanwhile expire waiting for a connection: counted as unsent
        // timeouts. Every request due in the 2 s is accounted for.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/");
        let args = ["--rate", "100", "-c", "1", "-t", "100ms", "-z", "2s"];
        let outcome = run_within(Duration::from_secs(10), config(&args, &url), backend);
        let s = &outcome.stats;
        let (responses, errors, aborted) = accounted(&outcome);
        assert_eq!(responses, 0);
        assert!((195..=201).contains(&(errors + aborted)), "{errors} errors + {aborted} aborted of 200 due");
        assert!(s.unsent > 100, "{} never sent", s.unsent);
        assert_eq!(s.error_count(ErrorKind::Timeout), s.unsent);
        assert!(s.error_count(ErrorKind::ConnectRefused) > 0);
    });
}

#[test]
fn the_binary_reports_a_rate_run() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vastar"))
        .args(["--demo", "--rate", "500", "-z", "1200ms", "-c", "5", "--no-color"])
        .output()
        .expect("the binary runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(report.contains("req/s sent of 500.00 target"), "{report}");
    assert!(report.contains("Response time distribution (corrected"), "{report}");
    assert!(report.contains("corrected: from each request's intended start"), "{report}");
    assert!(report.contains("send lag:") && report.contains("connect:"), "{report}");
}

/// Cases that need Linux: a listen backlog of 0, CPU affinity.
#[cfg(target_os = "linux")]
mod linux {
    use super::*;

    /// A listener that never accepts, its backlog full: further connection
    /// attempts get no answer at all, as with a black-holed address.
    fn full_backlog() -> (std::net::SocketAddr, Vec<std::net::TcpStream>) {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket calls on a descriptor this function owns; the
        // listener is leaked on purpose (it must outlive the test's clients).
        let addr = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) },
                sin_zero: [0; 8],
            };
            let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            assert_eq!(libc::bind(fd, (&sin as *const libc::sockaddr_in).cast(), len), 0);
            assert_eq!(libc::listen(fd, 0), 0);
            let listener = std::net::TcpListener::from_raw_fd(fd);
            let addr = listener.local_addr().unwrap();
            std::mem::forget(listener);
            addr
        };
        let mut fillers = Vec::new();
        for _ in 0..8 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(stream) => fillers.push(stream),
                Err(_) => return (addr, fillers),
            }
        }
        panic!("the backlog of {addr} never filled");
    }

    #[test]
    fn connect_timeout_ends_attempts_to_a_listener_that_never_answers() {
        let (addr, _fillers) = full_backlog();
        each_backend(|backend| {
            let url = format!("http://{addr}/");
            let args = ["-n", "4", "-c", "2", "--connect-timeout", "300ms", "-t", "5s"];
            let begun = Instant::now();
            let outcome = run_within(Duration::from_secs(10), config(&args, &url), backend);
            let took = begun.elapsed();
            let s = &outcome.stats;
            assert_eq!(accounted(&outcome), (0, 4, 0));
            assert_eq!(s.error_count(ErrorKind::ConnectTimeout), 4, "{:?}", s.errors().collect::<Vec<_>>());
            assert_eq!(s.preconnect_failures, 2);
            // Pre-connect (300 ms), then two attempts per connection (300 ms each).
            assert!(took < Duration::from_secs(3), "took {took:?}");
            let (low, high) = (s.corrected.min_ns() as f64 / 1e6, s.corrected.max_ns() as f64 / 1e6);
            assert!(low >= 299.0 && high < 400.0, "connect timeouts at {low}..{high} ms");
        });
    }

    fn pin_to(cpu: usize) {
        // SAFETY: the set lives on the stack for the call.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
        }
    }

    /// The binary on one CPU that a busy loop of the test also runs on: the
    /// generator's core is saturated, and the report must say so.
    #[test]
    fn a_saturated_generator_core_is_diagnosed() {
        use std::os::unix::process::CommandExt;
        use std::sync::atomic::{AtomicBool, Ordering};
        let cpu = *vastar::cpu_busy::allowed_cpus().last().expect("some CPU");
        let stop = Arc::new(AtomicBool::new(false));
        let hog = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                pin_to(cpu);
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        };
        for backend in ["auto", "portable"] {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_vastar"));
            command.args(["--demo", "-z", "1500ms", "-c", "10", "--no-color", "--backend", backend]);
            // SAFETY: only an async-signal-safe syscall runs between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    pin_to(cpu);
                    Ok(())
                })
            };
            let out = command.output().expect("the binary runs");
            let report = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{backend}: {}", String::from_utf8_lossy(&out.stderr));
            assert!(report.contains("  Generator: "), "{backend}: no generator warning in\n{report}");
            assert!(report.contains("% busy"), "{report}");
        }
        stop.store(true, Ordering::Relaxed);
        hog.join().unwrap();
    }
}

#[test]
fn a_worker_that_spins_for_its_starts_still_reaps_its_responses() {
    each_backend(|backend| {
        // One worker (the run's thread pinned to one CPU) at 12,000 req/s:
        // its starts are 83 us apart, closer than SPIN_AHEAD, so it spins
        // between them all the time. A fast server answers in microseconds;
        // if the spinning did not also collect responses, every connection
        // would stay busy until the next sleep and each request would wait
        // behind all the others (100 connections / 12,000 req/s = 8.3 ms).
        let server = Scripted::start(|_| send(OK));
        let url = server.url("/");
        let outcome = std::thread::spawn(move || {
            let pinned = common::pin_current_thread(1);
            (pinned, run(config(&["--rate", "12000", "-c", "100", "-z", "2s"], &url), backend))
        });
        let (pinned, outcome) = outcome.join().unwrap();
        if !pinned {
            eprintln!("fewer than 2 CPUs: the single-worker case is not reachable here");
            return;
        }
        let p50_ms = outcome.stats.corrected.percentile_ns(50.0) as f64 / 1e6;
        assert!(p50_ms < 2.0, "{}: corrected p50 {p50_ms:.2} ms at 12,000 req/s", backend.name());
        accounted(&outcome);
    });
}
