//! Test servers on 127.0.0.1:0 and helpers that run vastar against them.
//!
//! `Scripted` is a raw TCP server: it reads each request (head and
//! Content-Length body), records its bytes, and lets the test decide what to
//! write back, byte for byte, so every framing and fault case can be staged.
#![allow(unsafe_code, reason = "SO_LINGER for the reset test server; CPU pinning")]
#![allow(dead_code)]

pub mod nginx;
pub mod proxy;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use clap::Parser;
use vastar::cli::Cli;
use vastar::config::Config;
use vastar::engine::{Backend, Outcome};

/// What the scripted server does with one request.
pub enum Reply {
    /// Write these bytes and keep the connection open.
    Send(Vec<u8>),
    /// Write these bytes, then close (FIN).
    SendClose(Vec<u8>),
    /// Write these bytes, then reset the connection (RST).
    SendReset(Vec<u8>),
    /// Write nothing and keep the connection open.
    Silent,
    /// Write these bytes one per write (then close if the flag is set).
    Drip(Vec<u8>, bool),
}

/// `Reply::Send` of a string.
pub fn send(text: &str) -> Reply {
    Reply::Send(text.as_bytes().to_vec())
}

/// The request as the server saw it: full bytes, and its target.
#[derive(Clone, Debug)]
pub struct Seen {
    pub bytes: Vec<u8>,
    pub target: String,
    /// Index of this request on its connection (0 for the first).
    pub on_connection: usize,
}

type Script = dyn Fn(&Seen) -> Reply + Send + Sync;

pub struct Scripted {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    /// Connections the client has not closed yet.
    pub open: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Scripted {
    pub fn start(script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Scripted {
        Scripted::start_on("127.0.0.1:0", script)
    }

    /// As [`Scripted::start`], listening on `bind` (`"[::1]:0"` for IPv6).
    pub fn start_on(bind: &str, script: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Scripted {
        let listener = TcpListener::bind(bind).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Scripted {
            addr,
            connections: Arc::default(),
            open: Arc::default(),
            requests: Arc::default(),
            seen: Arc::default(),
        };
        let script: Arc<Script> = Arc::new(script);
        let (connections, requests, seen) = (server.connections.clone(), server.requests.clone(), server.seen.clone());
        let open = server.open.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                connections.fetch_add(1, Ordering::SeqCst);
                open.fetch_add(1, Ordering::SeqCst);
                let (script, requests, seen, open) = (script.clone(), requests.clone(), seen.clone(), open.clone());
                std::thread::spawn(move || {
                    serve(stream, &*script, &requests, &seen);
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Waits up to `limit` for the client to have closed every connection;
    /// returns how many are still open.
    pub fn open_after(&self, limit: Duration) -> usize {
        let begun = std::time::Instant::now();
        while self.open.load(Ordering::SeqCst) > 0 && begun.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.open.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, script: &Script, requests: &AtomicUsize, seen: &Mutex<Vec<Seen>>) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    for on_connection in 0.. {
        let request = loop {
            if let Some(len) = request_len(&buf) {
                break buf.drain(..len).collect::<Vec<u8>>();
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let target = String::from_utf8_lossy(&request).split(' ').nth(1).unwrap_or("").to_string();
        let request = Seen { bytes: request, target, on_connection };
        requests.fetch_add(1, Ordering::SeqCst);
        seen.lock().unwrap().push(request.clone());
        match script(&request) {
            Reply::Send(bytes) => {
                if stream.write_all(&bytes).is_err() {
                    return;
                }
            }
            Reply::SendClose(bytes) => {
                let _ = stream.write_all(&bytes);
                let _ = stream.shutdown(std::net::Shutdown::Write);
                // Drain until the client closes, so the FIN is not turned into a RST.
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                while matches!(stream.read(&mut chunk), Ok(n) if n > 0) {}
                return;
            }
            Reply::SendReset(bytes) => {
                let _ = stream.write_all(&bytes);
                reset(stream);
                return;
            }
            Reply::Silent => {}
            Reply::Drip(bytes, close) => {
                for b in bytes {
                    if stream.write_all(&[b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_micros(30));
                }
                if close {
                    let _ = stream.shutdown(std::net::Shutdown::Write);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    while matches!(stream.read(&mut chunk), Ok(n) if n > 0) {}
                    return;
                }
            }
        }
    }
}

/// A raw server: each connection is handed to `handle` on a thread of its own.
pub fn raw_server(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = handle.clone();
            std::thread::spawn(move || handle(stream));
        }
    });
    addr
}

/// Closes with RST (SO_LINGER 0).
pub fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: the fd is open for the duration of the call and `linger` is a
    // valid, correctly sized value for SO_LINGER.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

/// Length of the first complete request in `buf` (head + Content-Length body).
fn request_len(buf: &[u8]) -> Option<usize> {
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&buf[..head]).to_ascii_lowercase();
    let body = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse::<usize>().unwrap_or(0));
    (buf.len() >= head + body).then_some(head + body)
}

/// Parses vastar's command line (without the URL) into a config for `url`.
pub fn config(args: &[&str], url: &str) -> Config {
    let argv = std::iter::once("vastar").chain(args.iter().copied()).chain(std::iter::once(url));
    let cli = Cli::try_parse_from(argv).expect("test arguments parse");
    cli.bench.to_config(url).expect("test arguments are valid")
}

/// Runs a benchmark on `backend`, failing the test if it takes longer than `limit`.
pub fn run_within(limit: Duration, config: Config, backend: &'static dyn Backend) -> Outcome {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(vastar::benchmark_on(&config, backend));
    });
    match rx.recv_timeout(limit) {
        Ok(result) => result.expect("the benchmark runs"),
        Err(_) => panic!("the benchmark did not finish within {limit:?}"),
    }
}

/// Runs with a 20-second limit.
pub fn run(config: Config, backend: &'static dyn Backend) -> Outcome {
    run_within(Duration::from_secs(20), config, backend)
}

/// Runs with a 90-second limit: for the heavier runs (thousands of
/// connections, large bodies) that a debug build on a busy two-CPU machine
/// (a busy loop on one CPU, other test binaries beside) slows down several times.
pub fn run_slow(config: Config, backend: &'static dyn Backend) -> Outcome {
    run_within(Duration::from_secs(90), config, backend)
}

/// Asserts the accounting identity and returns (responses, errors, aborted).
pub fn accounted(outcome: &Outcome) -> (u64, u64, u64) {
    let s = &outcome.stats;
    assert_eq!(s.issued(), s.responses + s.total_errors() + s.aborted);
    (s.responses, s.total_errors(), s.aborted)
}

/// Asserts that a `-z` run under a rate shape sent what the shape asked:
/// its integral (±1) in all, each request sent or, if still waiting for its
/// start at the deadline (a busy CPU can delay the last few), aborted; and
/// in each whole one-second interval within 2% of the shape's share.
pub fn assert_follows(outcome: &Outcome, shape: &vastar::stats::Shape) {
    let due_total = shape.total().round() as u64;
    let (due, sent) = (outcome.stats.issued(), outcome.stats.started);
    assert!(due.abs_diff(due_total) <= 1 && sent <= due && due - sent <= due / 100, "{due} due, {sent} sent");
    let sent: Vec<u64> = outcome.timeline.intervals().iter().map(|i| i.sent).collect();
    for (i, &n) in sent.iter().take(shape.duration_s() as usize).enumerate() {
        let target = shape.due_by(i as f64 + 1.0) - shape.due_by(i as f64);
        assert!((n as f64 - target).abs() <= target * 0.02, "interval {i}: {n} sent, {target} due: {sent:?}");
    }
    accounted(outcome);
}

/// Status codes and counts of a run.
pub fn statuses(outcome: &Outcome) -> Vec<(u16, u64)> {
    outcome.stats.statuses().collect()
}

/// Whether the io_uring backend can run here. When it cannot, the tests
/// that need it skip it with a note, unless `VASTAR_REQUIRE_IO_URING` is set
/// (CI on Linux sets it): then a missing io_uring fails the test instead of
/// letting every io_uring case pass without running.
pub fn io_uring_usable() -> bool {
    match vastar::engine::io_uring() {
        Ok(_) => true,
        Err(why) if std::env::var_os("VASTAR_REQUIRE_IO_URING").is_some() => {
            panic!("VASTAR_REQUIRE_IO_URING is set but io_uring cannot run here: {why}")
        }
        Err(why) => {
            eprintln!("io_uring is not usable here ({why}); its cases are skipped");
            false
        }
    }
}

/// Runs `case` once per compiled backend, naming the backend on failure.
pub fn each_backend(case: impl Fn(&'static dyn Backend)) {
    io_uring_usable();
    for backend in vastar::engine::backends() {
        eprintln!("backend: {}", backend.name());
        case(backend);
    }
}

/// Pins the calling thread (and the threads it starts from now on) to
/// `cpu`, as the benchmarks pin the target and the generator apart. False
/// if the machine has too few CPUs or the pin was refused.
#[cfg(target_os = "linux")]
pub fn pin_current_thread(cpu: usize) -> bool {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) <= cpu {
        return false;
    }
    // SAFETY: the set is built on the stack and only read by the syscall.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// The CPUs this process may use, the least busy over a 200 ms look at
/// `/proc/stat` first: for a test that needs a core to itself whatever
/// else the machine runs.
#[cfg(target_os = "linux")]
pub fn cpus_idlest_first() -> Vec<usize> {
    use vastar::cpu_busy::{CpuTicks, allowed_cpus, parse};
    let cpus = allowed_cpus();
    let read = |cpus: &[usize]| -> Vec<Option<CpuTicks>> {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        cpus.iter().map(|&cpu| parse(&stat, &[cpu])).collect()
    };
    let before = read(&cpus);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let shares: Vec<f64> = (before.iter().zip(read(&cpus)))
        .map(|(a, b)| a.zip(b).and_then(|(a, b)| a.busy_share(&b, std::time::Duration::ZERO)).unwrap_or(1.0))
        .collect();
    let mut order: Vec<usize> = (0..cpus.len()).collect();
    order.sort_by(|&a, &b| shares[a].total_cmp(&shares[b]));
    order.into_iter().map(|i| cpus[i]).collect()
}

/// Runs `job` on a thread pinned to `cpu`; the threads it starts (a
/// server's, a run's workers) stay there too.
pub fn on_cpu<T: Send + 'static>(cpu: usize, job: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        pin_current_thread(cpu);
        job()
    })
    .join()
    .unwrap()
}

/// Elsewhere there is no `/proc/stat` to ask (nor an affinity call).
#[cfg(not(target_os = "linux"))]
pub fn cpus_idlest_first() -> Vec<usize> {
    vec![0]
}

/// Elsewhere threads cannot be pinned (macOS has no affinity call).
#[cfg(not(target_os = "linux"))]
pub fn pin_current_thread(_cpu: usize) -> bool {
    false
}

/// Runs the vastar binary with `args` and collects its output.
pub fn vastar(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_vastar")).args(args).output().expect("the binary runs")
}

/// Asserts that vastar refuses `args` (a URL is added) with exit status 2
/// and one line that contains `why`.
pub fn refused_with_one_line(args: &[&str], why: &str) {
    let out = vastar(&[args, &["http://127.0.0.1:9/"]].concat());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(why) && err.trim_end().lines().count() == 1, "{args:?}: {err}");
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `--backend` value of every backend that can run here.
pub fn backend_flags() -> Vec<&'static str> {
    io_uring_usable();
    vastar::engine::backends()
        .iter()
        .map(|b| if b.name().starts_with("io_uring") { "io-uring" } else { "portable" })
        .collect()
}
