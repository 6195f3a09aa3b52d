//! Runs a benchmark: splits the connections over worker threads, opens them
//! before the clock starts, releases every worker at the same instant, and
//! merges what the workers measured.
//!
//! The pieces, each written once for every backend: [`plan`] (what the run
//! is asked to do), [`lifecycle`] (a worker's life, barriers and accounting), [`policy`] (when a slot starts
//! its next request, and the worker's tally), [`connection`] (the sans-I/O
//! connection machine and the streams it carries), [`requests`] (what the
//! run sends), [`schedule`] (the `--rate` timetable) and [`shared`] (the
//! state all workers share). A backend ([`portable`], [`uring`]) only moves
//! bytes; [`sim`] drives the same pieces on virtual time for the tests.
//! This module is only the entry: the children depend on each other, never
//! on it.

pub mod arrivals;
pub mod connection;
pub mod errno;
pub mod lifecycle;
pub mod plan;
pub mod policy;
pub mod portable;
pub mod requests;
pub mod schedule;
pub mod shared;
pub mod sim;
pub mod streams;
#[cfg(target_os = "linux")]
pub mod uring;

use std::time::{Duration, Instant, SystemTime};

use crate::stats::WorkerStats;
pub use connection::tls_layer::verification_failure;
pub use connection::{Connection, Limits};
pub use errno::{classify, classify_connect};
pub use lifecycle::{Backend, EngineError, Job, Worker, WorkerResult};
pub use plan::{Address, MAX_PARALLEL_CONNECTS, Plan, Until, share_of};
pub use policy::{Dialer, Next, Policy, SlotTiming};
pub use requests::{RequestSet, TlsTarget};
pub use schedule::{SPIN_AHEAD, Schedule};
pub use shared::Shared;

/// io_uring features to leave unused although the kernel has them, so that
/// what an older kernel gives can be measured on a new one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UringOff {
    /// Batched waits (minimum-wait, Linux 6.12+).
    pub min_wait: bool,
    /// Incremental buffer consumption (Linux 6.12+).
    pub incremental: bool,
    /// Multishot receives over a buffer ring; also leaves off `incremental`,
    /// which is a way of consuming that ring.
    pub multishot: bool,
    /// The SINGLE_ISSUER, DEFER_TASKRUN and COOP_TASKRUN setup flags.
    pub defer_taskrun: bool,
}

impl UringOff {
    /// A distinct number below 16 for each combination.
    #[cfg(target_os = "linux")]
    fn index(self) -> usize {
        usize::from(self.min_wait)
            | usize::from(self.incremental) << 1
            | usize::from(self.multishot) << 2
            | usize::from(self.defer_taskrun) << 3
    }
}

/// What the probed `features` come to with `off` left unused.
#[cfg(target_os = "linux")]
fn masked(features: uring::Features, off: UringOff) -> uring::Features {
    let multishot = features.multishot && !off.multishot;
    uring::Features {
        defer_taskrun: features.defer_taskrun && !off.defer_taskrun,
        multishot,
        incremental: features.incremental && multishot && !off.incremental,
        min_wait: features.min_wait && !off.min_wait,
    }
}

/// The io_uring backend if this machine allows it, probed once.
pub fn io_uring() -> Result<&'static dyn Backend, String> {
    io_uring_without(UringOff::default())
}

/// The io_uring backend without the features in `off`: one backend per
/// combination, made on first use and kept for the process's life.
#[cfg(target_os = "linux")]
pub fn io_uring_without(off: UringOff) -> Result<&'static dyn Backend, String> {
    use std::sync::OnceLock;
    static PROBED: OnceLock<Result<uring::Features, String>> = OnceLock::new();
    static MASKED: [OnceLock<uring::Uring>; 16] = [const { OnceLock::new() }; 16];
    let features = *PROBED.get_or_init(|| uring::probe().map_err(|e| e.reason)).as_ref().map_err(Clone::clone)?;
    let backend =
        MASKED[off.index()].get_or_init(|| uring::Uring { features: masked(features, off), buffer_bytes: None });
    Ok(backend)
}

/// The io_uring backend: not on this platform.
#[cfg(not(target_os = "linux"))]
pub fn io_uring_without(_off: UringOff) -> Result<&'static dyn Backend, String> {
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
    /// From the common start (the end of any warm-up) to the end of the
    /// last request.
    pub elapsed: Duration,
    /// From the common start (the end of any warm-up) to the last request's start.
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
    /// What completed in each interval of the run.
    pub timeline: crate::stats::Timeline,
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
        Engine { shared: Shared::new(plan, workers), backend, workers }
    }

    /// Live counters, for progress display while [`Engine::run`] runs.
    pub fn live(&self) -> &crate::stats::Live {
        &self.shared.live
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// How long the warm-up lasts (zero without one).
    pub fn warmup(&self) -> Duration {
        self.shared.plan.warmup
    }

    /// When the clock started (all connections open), once it has.
    pub fn started(&self) -> Option<Instant> {
        self.shared.start.started()
    }

    /// Stops issuing requests; those in flight may still finish.
    pub fn drain(&self) {
        self.shared.tickets.stop();
    }

    /// The verification failure that stopped the run before any handshake
    /// succeeded, if one did (see [`shared::Trust`]).
    pub fn refused(&self) -> Option<crate::stats::ErrorKind> {
        self.shared.trust.stopped()
    }

    /// Stops issuing and abandons requests in flight (counted as aborted).
    pub fn abort(&self) {
        self.shared.tickets.stop();
        self.shared.abort.fire();
    }

    /// Runs to the end of the plan (or [`Engine::abort`]) and merges the results.
    pub fn run(&self) -> Result<Outcome, EngineError> {
        let (workers, connections) = (self.workers, self.shared.plan.connections);
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(workers);
            for index in 0..workers {
                let share = share_of(connections, workers, index);
                let job = Job { index, connections: share, shared: &self.shared };
                let backend = self.backend;
                let spawned = std::thread::Builder::new()
                    .name(format!("vastar-worker-{index}"))
                    .spawn_scoped(scope, move || lifecycle::run_worker(backend, job));
                match spawned {
                    Ok(handle) => handles.push(handle),
                    Err(e) => {
                        // Release the workers already started, then report.
                        self.abort();
                        let abort = &self.shared.abort;
                        self.shared.prepared.release_when_arrived(handles.len(), None, abort);
                        self.shared.start.release_when_arrived(handles.len(), None, abort);
                        for h in handles {
                            let _ = h.join();
                        }
                        return Err(EngineError::Thread(e));
                    }
                }
            }
            let shared = &self.shared;
            shared.prepared.release_when_arrived(workers, None, &shared.abort);
            let (start, started_wall) = shared.start.release_when_arrived(workers, shared.plan.start_at, &shared.abort);
            let results =
                handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
            self.merge(results.collect(), start, started_wall)
        })
    }

    /// One outcome from every worker's result (the first failure, if any).
    fn merge(
        &self,
        results: Vec<Result<WorkerResult, EngineError>>,
        start: Instant,
        started_wall: SystemTime,
    ) -> Result<Outcome, EngineError> {
        let mut outcome = Outcome {
            stats: WorkerStats::new(),
            elapsed: Duration::ZERO,
            last_start: Duration::ZERO,
            workers: self.workers,
            connections: self.shared.plan.connections,
            backend: self.backend.name(),
            cpu: Duration::ZERO,
            spun: Duration::ZERO,
            cores: self.workers.min(available_cpus()),
            started_wall,
            timeline: crate::stats::Timeline::new(self.shared.plan.interval),
        };
        for result in results {
            let result = result?;
            // One run's counts stay far below 2^64: the merge cannot overflow.
            let _ = outcome.stats.merge(&result.stats);
            outcome.elapsed = outcome.elapsed.max(result.finished.saturating_duration_since(start));
            let last_start = result.last_start.map_or(Duration::ZERO, |t| t.saturating_duration_since(start));
            outcome.last_start = outcome.last_start.max(last_start);
            outcome.cpu += result.cpu;
            outcome.spun += result.spun;
        }
        // The measured run begins after the warm-up (the timeline does not).
        let warmup = self.shared.plan.warmup;
        (outcome.elapsed, outcome.last_start) =
            (outcome.elapsed.saturating_sub(warmup), outcome.last_start.saturating_sub(warmup));
        let mut timeline = self.shared.timeline.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        outcome.timeline = std::mem::replace(&mut *timeline, crate::stats::Timeline::new(self.shared.plan.interval));
        Ok(outcome)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn every_mask() -> impl Iterator<Item = UringOff> {
        (0..16).map(|bits: u8| UringOff {
            min_wait: bits & 1 != 0,
            incremental: bits & 2 != 0,
            multishot: bits & 4 != 0,
            defer_taskrun: bits & 8 != 0,
        })
    }

    #[test]
    fn each_name_clears_its_feature_and_multishot_takes_incremental_along() {
        let all = uring::Features { defer_taskrun: true, multishot: true, incremental: true, min_wait: true };
        let mut indexes = vec![];
        for off in every_mask() {
            let f = masked(all, off);
            assert_eq!(f.min_wait, !off.min_wait, "{off:?}");
            assert_eq!(f.defer_taskrun, !off.defer_taskrun, "{off:?}");
            assert_eq!(f.multishot, !off.multishot, "{off:?}");
            assert_eq!(f.incremental, !off.incremental && !off.multishot, "{off:?}");
            indexes.push(off.index());
        }
        indexes.sort_unstable();
        assert_eq!(indexes, (0..16).collect::<Vec<_>>());
        // Nothing the kernel lacks is switched on.
        let none = uring::Features { defer_taskrun: false, multishot: false, incremental: false, min_wait: false };
        assert!(every_mask().all(|off| masked(none, off) == none));
    }

    #[test]
    fn each_combination_is_one_backend_named_for_what_it_uses() {
        let Ok(full) = io_uring() else { return };
        assert!(std::ptr::addr_eq(full, io_uring_without(UringOff::default()).unwrap()));
        for off in every_mask() {
            let first = io_uring_without(off).unwrap();
            assert!(std::ptr::addr_eq(first, io_uring_without(off).unwrap()), "{off:?}: made once");
            let name = first.name();
            if off.min_wait {
                assert!(!name.contains("batched waits"), "{name}");
            }
            if off.incremental || off.multishot {
                assert!(!name.contains("incremental"), "{name}");
            }
            if off.multishot {
                assert!(name.contains("single-shot recv") && !name.contains("buffer ring"), "{name}");
            }
            if off.defer_taskrun {
                assert!(!name.contains("defer-taskrun"), "{name}");
            }
        }
    }
}
