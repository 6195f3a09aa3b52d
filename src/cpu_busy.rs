//! How busy the generator's CPUs were during a run, for the report's
//! self-diagnosis: a generator that saturates its cores (or shares them
//! with a busy server) measures itself as much as the server.
//!
//! Two figures: vastar's own CPU time, from the workers' thread clocks (in
//! the engine), and, on Linux, how busy the CPUs in vastar's affinity mask
//! were in total, from `/proc/stat` (other processes included). The second
//! tells a saturated generator apart from one starved by its neighbours.
#![allow(unsafe_code, reason = "CPU clocks and affinity (syscalls)")]

use std::time::Duration;

/// Busy and total time of the CPUs vastar may run on, in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTicks {
    busy: u64,
    total: u64,
}

impl CpuTicks {
    /// A reading now; `None` where it cannot be had (not Linux, no /proc).
    pub fn now() -> Option<CpuTicks> {
        #[cfg(target_os = "linux")]
        {
            let stat = std::fs::read_to_string("/proc/stat").ok()?;
            parse(&stat, &allowed_cpus())
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }

    /// Share of the time between `self` and `later` the CPUs were busy
    /// (0..=1), not counting `idle`: time vastar spent spinning on purpose.
    pub fn busy_share(&self, later: &CpuTicks, idle: Duration) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let busy = later.busy.checked_sub(self.busy)?;
        let busy = (busy as f64 - idle.as_secs_f64() * ticks_per_second()).max(0.0);
        (total > 0).then(|| (busy / total as f64).min(1.0))
    }
}

/// The unit of `/proc/stat`.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// CPUs in the calling thread's affinity mask, in order.
#[cfg(target_os = "linux")]
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: the zeroed set is a valid cpu_set_t; sched_getaffinity writes at
    // most size_of::<cpu_set_t>() bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize).filter(|&cpu| libc::CPU_ISSET(cpu, &set)).collect()
    }
}

/// Sums the `cpuN` lines of `/proc/stat` for `cpus` (all of them when empty).
/// Busy = user + nice + system + irq + softirq + steal; idle and iowait are not.
pub fn parse(stat: &str, cpus: &[usize]) -> Option<CpuTicks> {
    let mut ticks = CpuTicks { busy: 0, total: 0 };
    let mut seen = false;
    for line in stat.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(cpu) = fields.next().and_then(|name| name.strip_prefix("cpu")).and_then(|n| n.parse().ok()) else {
            continue;
        };
        if !cpus.is_empty() && !cpus.contains(&cpu) {
            continue;
        }
        let values: Vec<u64> = fields.take(8).map(|f| f.parse().unwrap_or(0)).collect();
        if values.len() < 8 {
            continue;
        }
        // user nice system idle iowait irq softirq steal
        ticks.busy += values[0] + values[1] + values[2] + values[5] + values[6] + values[7];
        ticks.total += values.iter().sum::<u64>();
        seen = true;
    }
    seen.then_some(ticks)
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

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 0 50 800 10 0 5 0 0 0\n\
                        cpu0 60 0 30 300 10 0 5 0 0 0\n\
                        cpu1 40 0 20 500 0 0 0 0 0 0\n\
                        intr 12345\n";

    #[test]
    fn sums_only_the_allowed_cpus() {
        assert_eq!(parse(STAT, &[1]), Some(CpuTicks { busy: 60, total: 560 }));
        assert_eq!(parse(STAT, &[]), Some(CpuTicks { busy: 155, total: 965 }));
        assert_eq!(parse(STAT, &[7]), None);
    }

    #[test]
    fn busy_share_is_the_busy_part_of_the_interval() {
        let before = CpuTicks { busy: 100, total: 1000 };
        let after = CpuTicks { busy: 190, total: 1100 };
        assert_eq!(before.busy_share(&after, Duration::ZERO), Some(0.9));
        assert_eq!(before.busy_share(&before, Duration::ZERO), None);
        // Spinning on purpose is taken out (0.3 s = 30 ticks at the usual 100 per second).
        let share = before.busy_share(&after, Duration::from_millis(300)).unwrap();
        assert!((share - (90.0 - 0.3 * ticks_per_second()) / 100.0).abs() < 1e-9, "{share}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_can_be_read() {
        assert!(CpuTicks::now().is_some());
    }
}
