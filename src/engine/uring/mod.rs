//! The io_uring backend (Linux): one thread per CPU of the process's
//! affinity mask, each pinned to its CPU and driving its share of the
//! connections from one ring with a small event loop of its own, written
//! directly on the `io-uring` crate (see README: tokio-uring measured slower
//! than plain tokio here).
//!
//! What the kernel offers is probed once at startup; missing optional
//! features degrade inside this backend (plain setup flags, single-shot
//! receives into per-connection buffers, whole-buffer consumption) before
//! io_uring is given up on altogether.

mod batch;
mod bufring;
mod kernel;
mod worker;

use std::fmt;
use std::io;

use io_uring::{IoUring, opcode};

use super::lifecycle::{Backend, Job, Worker};
use super::policy::Policy;

/// What this kernel lets the backend use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// SINGLE_ISSUER + DEFER_TASKRUN + COOP_TASKRUN setup flags.
    pub defer_taskrun: bool,
    /// Multishot receives over a provided buffer ring (kernel 6.0+).
    pub multishot: bool,
    /// Incremental buffer consumption (kernel 6.12+).
    pub incremental: bool,
    /// Waits for several completions bounded by a minimum time (kernel
    /// 6.12+; see [`batch`]).
    pub min_wait: bool,
}

/// Why io_uring cannot be used here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    pub reason: String,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Ring sizes for `connections` connections on one ring: (submission
/// entries, completion entries).
///
/// With multishot receives (they stay armed) a turn rarely queues more
/// than one submission per connection, a send; single-shot receives add a
/// receive. A full submission queue is submitted on the spot
/// (`Kernel::push`), so it holds one entry per connection, at most 4,096
/// (the opening burst of connects and their timeouts then takes a few
/// submissions instead of one). Completions are read every turn; two
/// entries per connection (up to 32,768 connections) never overflowed
/// with 5 B to 1 MiB bodies at -c 1000 and 10000. Every entry of both
/// rings is written in turn and stays resident: for 1,000 connections on
/// a ring they took 404 KiB at 4 and 8 entries per connection, 104 KiB now.
fn ring_entries(connections: usize) -> (u32, u32) {
    let sq = connections.clamp(64, 4096).next_power_of_two() as u32;
    let cq = (connections.clamp(128, 32_768) * 2).next_power_of_two() as u32;
    (sq, cq)
}

/// Creates a ring, with the fast setup flags when `defer_taskrun`.
fn build_ring(connections: usize, defer_taskrun: bool) -> io::Result<IoUring> {
    let (sq, cq) = ring_entries(connections);
    let mut builder = IoUring::builder();
    builder.setup_cqsize(cq).setup_submit_all();
    if defer_taskrun {
        builder.setup_single_issuer().setup_defer_taskrun().setup_coop_taskrun();
    }
    builder.build(sq)
}

/// Explains a failed io_uring_setup in one sentence.
fn explain(e: &io::Error) -> String {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok().map(|s| s.trim().to_string());
    match e.raw_os_error() {
        Some(libc::EPERM) if disabled.as_deref().is_some_and(|d| d != "0") => {
            format!("io_uring_setup: {e} (kernel.io_uring_disabled = {})", disabled.unwrap_or_default())
        }
        Some(libc::EPERM) | Some(libc::ENOSYS) => {
            format!(
                "io_uring_setup: {e} (blocked by a seccomp profile, as in containers, or not built into this kernel)"
            )
        }
        _ => format!("io_uring_setup: {e}"),
    }
}

/// Kernel version (major, minor) from uname.
fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Probes what io_uring offers; `Err` when it cannot be used at all.
// Allowed here, not for the whole module: an inner attribute in mod.rs
// would cover every module below it too.
#[allow(unsafe_code, reason = "test buffer rings on a probe ring")]
pub fn probe() -> Result<Features, Unavailable> {
    let (ring, defer_taskrun) = match build_ring(8, true) {
        Ok(ring) => (ring, true),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            (build_ring(8, false).map_err(|e| Unavailable { reason: explain(&e) })?, false)
        }
        Err(e) => return Err(Unavailable { reason: explain(&e) }),
    };
    if !ring.params().is_feature_ext_arg() {
        return Err(Unavailable {
            reason: "the kernel's io_uring is too old (timed waits need Linux 5.11 or newer)".into(),
        });
    }
    let mut probe = io_uring::Probe::new();
    if ring.submitter().register_probe(&mut probe).is_err() {
        return Err(Unavailable {
            reason: "the kernel cannot list its io_uring operations (IORING_REGISTER_PROBE)".into(),
        });
    }
    for (code, name) in [(opcode::Connect::CODE, "connect"), (opcode::Send::CODE, "send"), (opcode::Recv::CODE, "recv")]
    {
        if !probe.is_supported(code) {
            return Err(Unavailable { reason: format!("the kernel's io_uring lacks the {name} operation") });
        }
    }
    let probe_pool = |incremental| bufring::Shape::filled(2, 4096, incremental);
    // SAFETY: no receive is ever queued on this ring, and it is closed
    // before the buffer rings are dropped (just below).
    let plain = unsafe { bufring::BufRing::register(&ring, probe_pool(false), 0) };
    let multishot = kernel_version() >= (6, 0) && plain.is_ok();
    // SAFETY: as above.
    let inc = if multishot { unsafe { bufring::BufRing::register(&ring, probe_pool(true), 1).ok() } } else { None };
    let incremental = inc.as_ref().is_some_and(|b| b.incremental);
    let min_wait = ring.params().is_feature_min_timeout();
    drop(ring);
    drop((plain, inc));
    Ok(Features { defer_taskrun, multishot, incremental, min_wait })
}

/// The io_uring backend, for the features [`probe`] found.
pub struct Uring {
    pub features: Features,
    /// Bytes of receive buffers per ring; `None`: the default (see
    /// `worker::buffer_pool`). Tests squeeze it.
    pub buffer_bytes: Option<usize>,
}

impl Backend for Uring {
    fn name(&self) -> String {
        let f = self.features;
        let mut used = vec![];
        if f.defer_taskrun {
            used.push("defer-taskrun");
        }
        used.push(if f.multishot { "multishot recv" } else { "single-shot recv" });
        if f.multishot {
            used.push(if f.incremental { "incremental buffer ring" } else { "buffer ring" });
        }
        if f.min_wait {
            used.push("batched waits");
        }
        format!("io_uring ({})", used.join(", "))
    }

    fn workers(&self, connections: usize, cpus: usize) -> usize {
        cpus.clamp(1, connections.max(1))
    }

    fn prepare<'a>(&self, job: Job<'a>, policy: Policy<'a>) -> io::Result<Box<dyn Worker<'a> + 'a>> {
        if job.shared.h2.is_some() {
            let worker = worker::RingWorker::<worker::H2Machine>::new(job, policy, self.features, self.buffer_bytes)?;
            return Ok(Box::new(worker));
        }
        Ok(Box::new(worker::RingWorker::<worker::H1Machine>::new(job, policy, self.features, self.buffer_bytes)?))
    }
}

/// Pins the calling thread to `cpu`.
#[allow(unsafe_code, reason = "sched_setaffinity")]
fn pin_to(cpu: usize) {
    // SAFETY: the set is built on the stack and only read by the syscall.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(test)]
mod tests {
    use super::ring_entries;

    #[test]
    fn rings_hold_a_submission_and_two_completions_per_connection_within_bounds() {
        let table = [(1, (64, 256)), (50, (64, 256)), (500, (512, 1024)), (1000, (1024, 2048))];
        let more = [(10_000, (4096, 32_768)), (40_000, (4096, 65_536)), (usize::MAX, (4096, 65_536))];
        for (connections, entries) in table.into_iter().chain(more) {
            assert_eq!(ring_entries(connections), entries, "{connections} connections");
        }
    }
}
