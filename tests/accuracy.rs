//! Accuracy on real sockets and real timers: the open-model `--rate` mode
//! keeps its rate and shape, accounts for every request, a worker spinning
//! for its starts still reaps its responses, and connect timeouts end
//! attempts that would otherwise hang. Every case runs on every backend.
//! What the schedule does with stalls, timeouts and requests that cannot
//! be sent is checked exactly on virtual time (`engine::sim`).
#![allow(unsafe_code, reason = "pinning and limits of the child under test")]

mod common;

#[cfg(target_os = "linux")]
use std::sync::Arc;
#[cfg(target_os = "linux")]
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
use common::run_within;
use common::{Scripted, accounted, assert_follows, config, each_backend, run, send};
#[cfg(target_os = "linux")]
use vastar::stats::ErrorKind;

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// The CPUs, shared by the tests that time a run and taken whole by the two
/// that pin a thread to a core and keep it busy on purpose: beside a busy
/// loop or another run on its core, a worker gets half a CPU or less, and a
/// timed run falls milliseconds behind its schedule.
static CPUS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Held by a test whose assertions are about time.
fn timed() -> std::sync::RwLockReadGuard<'static, ()> {
    CPUS.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Held by a test that keeps a pinned core busy.
fn whole_cpus() -> std::sync::RwLockWriteGuard<'static, ()> {
    CPUS.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn the_rate_is_kept_within_one_percent_at_1k_and_10k() {
    let _cpus = timed();
    each_backend(|backend| {
        // Server and generator on CPUs of their own where there are two,
        // the generator on the least busy one: with a worker per CPU, a
        // busy loop on one of them would leave that worker's share unsent.
        let cpus = common::cpus_idlest_first();
        let server_cpu = *cpus.get(1).unwrap_or(&cpus[0]);
        let server = common::on_cpu(server_cpu, || {
            vastar::server::Server::start("127.0.0.1:0".parse().unwrap(), Default::default()).unwrap()
        });
        let url = format!("http://{}/", server.addr());
        for rate in [1_000.0, 10_000.0] {
            let url = url.clone();
            let outcome = common::on_cpu(cpus[0], move || {
                run(config(&["--rate", &rate.to_string(), "-c", "50", "-z", "2s"], &url), backend)
            });
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
    let _cpus = timed();
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
    let _cpus = timed();
    each_backend(|backend| {
        let server = Scripted::start(|_| send(OK));
        let args = ["--rate", "100..2000", "-z", "4s", "-c", "20", "--interval", "1s"];
        let outcome = run(config(&args, &server.url("/")), backend);
        // Its integral: 4200 requests due before the deadline.
        assert_follows(&outcome, &vastar::stats::Shape::ramp(100.0, 2000.0, 4.0).unwrap());
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
        let _cpus = timed();
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
        let _cpus = whole_cpus();
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
    let _cpus = whole_cpus();
    each_backend(|backend| {
        // One worker (the run's thread pinned to one CPU) at 12,000 req/s:
        // its starts are 83 us apart, closer than SPIN_AHEAD, so it spins
        // between them all the time. A fast server answers in microseconds;
        // if the spinning did not also collect responses, every connection
        // would stay busy until the next sleep and each request would wait
        // behind all the others (100 connections / 12,000 req/s = 8.3 ms).
        // The worker on the CPU least busy now, the server's threads on
        // another: beside a busy loop, or with the server's wake-ups queued
        // behind its spinning, the worker would fall behind for want of CPU,
        // not of reaping.
        let cpus = common::cpus_idlest_first();
        if cpus.len() < 2 {
            eprintln!("fewer than 2 CPUs to pin to: the single-worker case is not reachable here");
            return;
        }
        let server = common::on_cpu(cpus[1], || Scripted::start(|_| send(OK)));
        let url = server.url("/");
        let outcome =
            common::on_cpu(cpus[0], move || run(config(&["--rate", "12000", "-c", "100", "-z", "2s"], &url), backend));
        let p50_ms = outcome.stats.corrected.percentile_ns(50.0) as f64 / 1e6;
        assert!(p50_ms < 2.0, "{}: corrected p50 {p50_ms:.2} ms at 12,000 req/s", backend.name());
        accounted(&outcome);
    });
}
