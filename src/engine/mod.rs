//! Runs a benchmark: splits the connections over worker threads, opens them
//! before the clock starts, releases every worker at the same instant, and
//! merges what the workers measured.
//!
//! Backends (how bytes move) sit behind [`Backend`]; everything else — the
//! request budget, the start line, the stop signal, the per-connection state
//! machine in [`exchange`] — is shared, so both backends obey the same rules.

pub mod exchange;
pub mod portable;
pub mod schedule;
#[cfg(target_os = "linux")]
pub mod uring;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::stats::{ErrorKind, Live, WorkerStats};
pub use exchange::Template;
pub use schedule::{Claim, SPIN_AHEAD, Schedule};

/// Most connection attempts in flight at once while pre-connecting, so that
/// a large -c does not overflow the server's accept backlog.
pub const MAX_PARALLEL_CONNECTS: usize = 256;

/// When workers stop taking new requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Until {
    /// This many requests in total, across all connections.
    Count(u64),
    /// Until this much time after the start; requests still in flight then are aborted.
    Elapsed(Duration),
}

/// Everything the engine needs to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Addresses of the target, tried in order when a connect fails.
    pub addrs: Vec<SocketAddr>,
    pub template: Template,
    pub connections: usize,
    pub until: Until,
    /// Most requests per second on each connection; `None` = as fast as possible.
    pub qps_per_connection: Option<f64>,
    /// Requests per second for the whole run on a fixed schedule (open
    /// model, `--rate`); `None` = a closed loop.
    pub rate: Option<f64>,
    /// Deadline on each whole request, counted from its intended start;
    /// `None` = wait forever.
    pub timeout: Option<Duration>,
    /// Limit on each connection attempt; `None` = the system's own.
    pub connect_timeout: Option<Duration>,
    /// Limit on the whole pre-connect phase.
    pub preconnect_timeout: Duration,
    /// Wall-clock moment to start at once connected (`--start-at`).
    pub start_at: Option<SystemTime>,
}

/// A backend failed to run at all (not a request failure: those are counted).
#[derive(Debug)]
pub enum EngineError {
    Runtime(std::io::Error),
    Thread(std::io::Error),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Runtime(e) => write!(f, "cannot start a worker's event loop: {e}"),
            EngineError::Thread(e) => {
                write!(f, "cannot start a worker thread: {e} (is the process or thread limit too low?)")
            }
        }
    }
}

impl std::error::Error for EngineError {}

/// The request budget: a shared atomic ticket counter (never split per
/// worker, so no remainder is lost as in hey), plus the stop flag.
#[derive(Debug)]
pub struct Tickets {
    remaining: AtomicI64,
    counted: bool,
    stopped: AtomicBool,
}

impl Tickets {
    fn new(until: Until) -> Self {
        let remaining = match until {
            Until::Count(n) => i64::try_from(n).unwrap_or(i64::MAX),
            Until::Elapsed(_) => i64::MAX,
        };
        Tickets {
            remaining: AtomicI64::new(remaining),
            counted: matches!(until, Until::Count(_)),
            stopped: AtomicBool::new(false),
        }
    }

    /// Takes the right to send one request.
    #[inline]
    pub fn take(&self) -> bool {
        if self.stopped.load(Ordering::Relaxed) {
            return false;
        }
        !self.counted || self.remaining.fetch_sub(1, Ordering::Relaxed) > 0
    }

    /// Whether a ticket may still be had (without taking it).
    pub fn left(&self) -> bool {
        !self.stopped.load(Ordering::Relaxed) && self.remaining.load(Ordering::Relaxed) > 0
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

/// Where workers wait, connected, until all are ready; then all start at one instant.
#[derive(Debug, Default)]
struct StartLine {
    state: Mutex<(usize, Option<Instant>)>,
    changed: Condvar,
}

impl StartLine {
    /// Reports this worker ready and blocks until the start; returns the start instant.
    fn ready_and_wait(&self) -> Instant {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 += 1;
        self.changed.notify_all();
        loop {
            if let Some(start) = state.1 {
                return start;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits for `workers` ready reports, then starts everyone now.
    fn start_when_ready(&self, workers: usize) -> Instant {
        self.start_at_when_ready(workers, None, &AtomicBool::new(false)).0
    }

    /// Waits for `workers` ready reports and then for the wall clock to
    /// reach `at` (if given; an abort ends the wait), then starts everyone.
    /// Returns the start, as an instant and as wall-clock time.
    fn start_at_when_ready(
        &self,
        workers: usize,
        at: Option<SystemTime>,
        aborted: &AtomicBool,
    ) -> (Instant, SystemTime) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while state.0 < workers {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if let Some(at) = at {
            drop(state);
            wait_for_wall_clock(at, aborted);
            state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        }
        let (start, wall) = (Instant::now(), SystemTime::now());
        state.1 = Some(start);
        self.changed.notify_all();
        (start, wall)
    }
}

/// Sleeps until the wall clock reads `at` (or an abort), spinning the last
/// millisecond so that machines started together start within microseconds
/// of their clocks.
fn wait_for_wall_clock(at: SystemTime, aborted: &AtomicBool) {
    while !aborted.load(Ordering::Acquire) {
        match at.duration_since(SystemTime::now()) {
            Ok(left) if left > Duration::from_millis(2) => {
                std::thread::sleep((left - Duration::from_millis(1)).min(Duration::from_millis(20)))
            }
            Ok(left) if !left.is_zero() => std::hint::spin_loop(),
            _ => return,
        }
    }
}

/// State shared by all workers of one run.
#[derive(Debug)]
pub struct Shared {
    pub plan: Plan,
    pub tickets: Tickets,
    pub live: Live,
    /// Set and fired by [`Engine::abort`]: workers abandon in-flight requests.
    aborted: AtomicBool,
    abort: tokio::sync::Notify,
    pub connect_permits: tokio::sync::Semaphore,
    /// Passed once every worker has its event loop (before anyone connects,
    /// so that connections cannot use up the descriptors a loop needs).
    prepared: StartLine,
    start: StartLine,
}

impl Shared {
    /// Blocks until every worker has created its event loop.
    pub fn prepared_and_wait(&self) {
        self.prepared.ready_and_wait();
    }

    /// Blocks until every worker is connected; returns the common start instant.
    pub fn ready_and_wait(&self) -> Instant {
        self.start.ready_and_wait()
    }

    /// Under `--rate`, for a connection free at `now`: the next scheduled
    /// start it claims. Requests that waited longer than the timeout for a
    /// connection are recorded on the way as unsent timeouts (each takes a
    /// ticket). `None` when no request is left.
    pub fn claim_start(
        &self,
        schedule: &mut Schedule,
        stats: &mut WorkerStats,
        worker: usize,
        now: Instant,
    ) -> Option<Instant> {
        loop {
            if !self.tickets.left() {
                return None;
            }
            match schedule.claim(now, self.plan.timeout) {
                Claim::At(at) => return Some(at),
                Claim::Expired(_) => {
                    if !self.tickets.take() {
                        return None;
                    }
                    let record = Schedule::expired(self.plan.timeout.unwrap_or_default());
                    stats.record(&record);
                    stats.unsent += 1;
                    self.live.add(worker, &record);
                }
            }
        }
    }

    /// Resolves when [`Engine::abort`] has been called.
    pub async fn aborted(&self) {
        let notified = self.abort.notified();
        if self.aborted.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }
}

/// One worker's share of a run.
pub struct Job<'a> {
    pub index: usize,
    pub connections: usize,
    pub shared: &'a Shared,
}

impl Job<'_> {
    /// This worker's part of the `--rate` schedule, if there is one.
    pub fn schedule(&self, start: Instant) -> Option<Schedule> {
        let plan = &self.shared.plan;
        plan.rate.map(|rate| Schedule::new(start, rate, self.index, self.connections, plan.connections))
    }

    /// When a `-z` run ends.
    pub fn end(&self, start: Instant) -> Option<Instant> {
        match self.shared.plan.until {
            Until::Elapsed(d) => Some(start + d),
            Until::Count(_) => None,
        }
    }
}

/// What a worker hands back.
#[derive(Debug)]
pub struct WorkerResult {
    pub stats: WorkerStats,
    /// When its last request ended (or was abandoned).
    pub finished: Instant,
    /// When it last started a request.
    pub last_start: Option<Instant>,
    /// CPU time its thread used from the start to `finished`, spinning excluded.
    pub cpu: Duration,
    /// Time it spun waiting for scheduled starts (`--rate`).
    pub spun: Duration,
}

/// CPU time used so far by the calling thread (user + system).
pub fn thread_cpu() -> Duration {
    // SAFETY: all zeroes is a valid timespec; clock_gettime writes into it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and a valid pointer to a timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A way of moving bytes. Implementations run one worker on the calling
/// thread: create the event loop, call `shared.prepared_and_wait()`, open
/// `job.connections` connections, call `shared.ready_and_wait()`, then work
/// until the plan or a stop ends. Both waits happen exactly once, even when
/// the worker fails, so that the others are never left waiting.
pub trait Backend: Sync {
    /// What the report names: the backend and the features it uses.
    fn name(&self) -> String;
    /// Worker threads for `connections` on `cpus` CPUs.
    fn workers(&self, connections: usize, cpus: usize) -> usize;
    fn run_worker(&self, job: Job<'_>) -> Result<WorkerResult, EngineError>;
}

/// The io_uring backend if this machine allows it, probed once.
#[cfg(target_os = "linux")]
pub fn io_uring() -> Result<&'static dyn Backend, String> {
    static URING: std::sync::OnceLock<Result<uring::Uring, String>> = std::sync::OnceLock::new();
    let probed = URING.get_or_init(|| uring::probe().map(|features| uring::Uring { features }).map_err(|e| e.reason));
    probed.as_ref().map(|b| b as &'static dyn Backend).map_err(Clone::clone)
}

/// The io_uring backend: not on this platform.
#[cfg(not(target_os = "linux"))]
pub fn io_uring() -> Result<&'static dyn Backend, String> {
    Err("io_uring exists only on Linux".to_string())
}

/// The portable backend.
pub fn portable() -> &'static dyn Backend {
    &portable::Portable
}

/// Every backend that can run here, fastest first.
pub fn backends() -> Vec<&'static dyn Backend> {
    io_uring().into_iter().chain(std::iter::once(portable())).collect()
}

/// What a whole run measured.
#[derive(Debug)]
pub struct Outcome {
    pub stats: WorkerStats,
    /// From the common start to the end of the last request.
    pub elapsed: Duration,
    /// From the common start to the last request's start.
    pub last_start: Duration,
    pub workers: usize,
    pub connections: usize,
    pub backend: String,
    /// CPU time of all workers during the run, spinning excluded.
    pub cpu: Duration,
    /// Time the workers spun waiting for scheduled starts (`--rate`).
    pub spun: Duration,
    /// Cores the workers could use: the smaller of workers and available CPUs.
    pub cores: usize,
    /// Wall-clock time of the common start.
    pub started_wall: SystemTime,
}

impl Outcome {
    /// Requests per second actually started under `--rate target`: the
    /// requests sent over the window the schedule covered (up to the last
    /// start, plus the one interval that start opened).
    pub fn achieved_rate(&self, target: f64) -> f64 {
        self.stats.started as f64 / (self.last_start.as_secs_f64() + 1.0 / target)
    }
}

/// One prepared run.
pub struct Engine<'b> {
    shared: Shared,
    backend: &'b dyn Backend,
    workers: usize,
}

/// CPUs this process may use (affinity mask and cgroup quota).
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl<'b> Engine<'b> {
    pub fn new(plan: Plan, backend: &'b dyn Backend) -> Self {
        let workers = backend.workers(plan.connections, available_cpus()).clamp(1, plan.connections.max(1));
        let shared = Shared {
            tickets: Tickets::new(plan.until),
            live: Live::new(workers),
            aborted: AtomicBool::new(false),
            abort: tokio::sync::Notify::new(),
            connect_permits: tokio::sync::Semaphore::new(MAX_PARALLEL_CONNECTS),
            prepared: StartLine::default(),
            start: StartLine::default(),
            plan,
        };
        Engine { shared, backend, workers }
    }

    /// Live counters, for progress display while [`Engine::run`] runs.
    pub fn live(&self) -> &Live {
        &self.shared.live
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// When the clock started (all connections open), once it has.
    pub fn started(&self) -> Option<Instant> {
        self.shared.start.state.lock().unwrap_or_else(|e| e.into_inner()).1
    }

    /// Stops issuing requests; those in flight may still finish.
    pub fn drain(&self) {
        self.shared.tickets.stop();
    }

    /// Stops issuing and abandons requests in flight (counted as aborted).
    pub fn abort(&self) {
        self.shared.tickets.stop();
        self.shared.aborted.store(true, Ordering::Release);
        self.shared.abort.notify_waiters();
    }

    /// Runs to the end of the plan (or [`Engine::stop`]) and merges the results.
    pub fn run(&self) -> Result<Outcome, EngineError> {
        let (workers, connections) = (self.workers, self.shared.plan.connections);
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(workers);
            for index in 0..workers {
                let share = connections / workers + usize::from(index < connections % workers);
                let job = Job { index, connections: share, shared: &self.shared };
                let backend = self.backend;
                let spawned = std::thread::Builder::new()
                    .name(format!("vastar-worker-{index}"))
                    .spawn_scoped(scope, move || backend.run_worker(job));
                match spawned {
                    Ok(handle) => handles.push(handle),
                    Err(e) => {
                        // Release the workers already started, then report.
                        self.abort();
                        self.shared.prepared.start_when_ready(handles.len());
                        self.shared.start.start_when_ready(handles.len());
                        for h in handles {
                            let _ = h.join();
                        }
                        return Err(EngineError::Thread(e));
                    }
                }
            }
            self.shared.prepared.start_when_ready(workers);
            let (start, started_wall) =
                self.shared.start.start_at_when_ready(workers, self.shared.plan.start_at, &self.shared.aborted);
            let mut outcome = Outcome {
                stats: WorkerStats::new(),
                elapsed: Duration::ZERO,
                last_start: Duration::ZERO,
                workers,
                connections,
                backend: self.backend.name(),
                cpu: Duration::ZERO,
                spun: Duration::ZERO,
                cores: workers.min(available_cpus()),
                started_wall,
            };
            let mut failure = None;
            for handle in handles {
                match handle.join() {
                    Ok(Ok(result)) => {
                        // One run's counts stay far below 2^64: the merge cannot overflow.
                        let _ = outcome.stats.merge(&result.stats);
                        outcome.elapsed = outcome.elapsed.max(result.finished.saturating_duration_since(start));
                        let last_start =
                            result.last_start.map_or(Duration::ZERO, |t| t.saturating_duration_since(start));
                        outcome.last_start = outcome.last_start.max(last_start);
                        outcome.cpu += result.cpu;
                        outcome.spun += result.spun;
                    }
                    Ok(Err(e)) => failure = Some(e),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            match failure {
                Some(e) => Err(e),
                None => Ok(outcome),
            }
        })
    }
}

/// Error category of a failed read or write.
pub fn classify(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe => {
            ErrorKind::Reset
        }
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => classify_os(e).unwrap_or(ErrorKind::Io),
    }
}

/// Error category of a failed connect.
pub fn classify_connect(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
        io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
        _ => classify_os(e).unwrap_or(ErrorKind::Io),
    }
}

fn classify_os(e: &io::Error) -> Option<ErrorKind> {
    match e.raw_os_error()? {
        libc::EMFILE | libc::ENFILE => Some(ErrorKind::TooManyOpenFiles),
        libc::EADDRNOTAVAIL => Some(ErrorKind::AddrNotAvailable),
        libc::ENETUNREACH | libc::EHOSTUNREACH => Some(ErrorKind::Unreachable),
        libc::ECONNREFUSED => Some(ErrorKind::ConnectRefused),
        libc::ECONNRESET | libc::EPIPE => Some(ErrorKind::Reset),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_map_to_their_categories() {
        let os = io::Error::from_raw_os_error;
        let cases = [
            (libc::EADDRNOTAVAIL, ErrorKind::AddrNotAvailable, ErrorKind::AddrNotAvailable),
            (libc::EMFILE, ErrorKind::TooManyOpenFiles, ErrorKind::TooManyOpenFiles),
            (libc::ENFILE, ErrorKind::TooManyOpenFiles, ErrorKind::TooManyOpenFiles),
            (libc::ECONNREFUSED, ErrorKind::ConnectRefused, ErrorKind::ConnectRefused),
            (libc::ENETUNREACH, ErrorKind::Unreachable, ErrorKind::Unreachable),
            (libc::EHOSTUNREACH, ErrorKind::Unreachable, ErrorKind::Unreachable),
            (libc::ETIMEDOUT, ErrorKind::ConnectTimeout, ErrorKind::Timeout),
            (libc::ECONNRESET, ErrorKind::Reset, ErrorKind::Reset),
            (libc::EPIPE, ErrorKind::Reset, ErrorKind::Reset),
            (libc::EIO, ErrorKind::Io, ErrorKind::Io),
        ];
        for (errno, on_connect, on_io) in cases {
            assert_eq!(classify_connect(&os(errno)), on_connect, "connect errno {errno}");
            assert_eq!(classify(&os(errno)), on_io, "io errno {errno}");
        }
    }

    #[test]
    fn tickets_are_exact_and_stop_on_demand() {
        let tickets = Tickets::new(Until::Count(3));
        assert_eq!((0..10).filter(|_| tickets.take()).count(), 3);
        assert!(!tickets.left());
        let tickets = Tickets::new(Until::Elapsed(Duration::from_secs(1)));
        assert!(tickets.take() && tickets.take());
        tickets.stop();
        assert!(!tickets.take());
    }
}
