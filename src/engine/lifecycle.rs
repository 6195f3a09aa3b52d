//! A worker's life, written once for every backend: create the event loop,
//! wait for every worker's, open the connections, wait for the common start,
//! work, stop the clock, tear down, and account for what never completed.
//!
//! A backend supplies only the byte-moving steps ([`Backend::prepare`] and
//! the [`Worker`] it returns); the barriers, the start instant, the CPU
//! measurement and the final accounting happen here, in this order, whatever
//! the backend does, so the rules cannot drift apart between backends.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use super::policy::Policy;
use super::shared::{Arrivals, Shared};
use crate::cpu_busy::thread_cpu;
use crate::stats::WorkerStats;

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

/// One worker's share of a run.
#[derive(Clone, Copy)]
pub struct Job<'a> {
    pub index: usize,
    /// Connections this worker drives.
    pub connections: usize,
    pub shared: &'a Shared,
}

impl Job<'_> {
    /// How this worker secures its connections (`https://`): the run's
    /// TLS target with the worker's own session cache.
    pub fn tls(&self) -> Option<super::requests::TlsTarget> {
        self.shared.plan.requests.tls.as_ref().map(super::requests::TlsTarget::for_worker)
    }
}

/// A way of moving bytes.
pub trait Backend: Sync {
    /// What the report names: the backend and the features it uses.
    fn name(&self) -> String;
    /// Worker threads for `connections` on `cpus` CPUs.
    fn workers(&self, connections: usize, cpus: usize) -> usize;
    /// Creates this worker's event loop on the calling thread (which then
    /// runs the worker to its end). Nothing may connect yet.
    fn prepare<'a>(&self, job: Job<'a>, policy: Policy<'a>) -> io::Result<Box<dyn Worker<'a> + 'a>>;
}

/// One worker's event loop and connections, driven by [`run_worker`].
pub trait Worker<'a> {
    /// The policy handed to [`Backend::prepare`], with its tally.
    fn policy(&mut self) -> &mut Policy<'a>;
    /// Opens this worker's connections before the clock starts, within the
    /// plan's pre-connect limit. A slot that fails connects again when it
    /// sends its first request (counted in `preconnect_failures`).
    fn preconnect(&mut self);
    /// Runs every slot by the policy until no request is left, the `-z`
    /// deadline ([`Policy::end`]) passes, or the run is aborted. Requests
    /// still in flight then stay counted in `Policy::in_flight`.
    fn work(&mut self);
    /// Closes every connection and returns once nothing handed to the
    /// kernel can still be in use.
    fn teardown(&mut self);
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

/// Runs one worker of `backend` on the calling thread.
pub fn run_worker(backend: &dyn Backend, job: Job<'_>) -> Result<WorkerResult, EngineError> {
    let shared = job.shared;
    let mut arrivals = Arrivals::new(shared);
    let prepared = backend.prepare(job, Policy::new(shared, job.index, job.connections));
    arrivals.prepared();
    // On failure `arrivals` still passes the start line as it is dropped.
    let mut worker = prepared.map_err(EngineError::Runtime)?;
    if shared.plan.requests.keepalive {
        worker.preconnect();
    }
    let start = arrivals.started();
    worker.policy().begin(start);
    let cpu_before = thread_cpu();
    worker.work();
    let finished = Instant::now();
    let cpu = thread_cpu().saturating_sub(cpu_before);
    worker.teardown();
    let policy = worker.policy();
    policy.close_timeline();
    let mut stats = std::mem::take(&mut policy.stats);
    stats.aborted += policy.abandoned(finished);
    stats.warmup.aborted += policy.warm_abandoned();
    let (last_start, spun) = (policy.last_start, policy.spun);
    Ok(WorkerResult { stats, finished, last_start, cpu: cpu.saturating_sub(spun), spun })
}
