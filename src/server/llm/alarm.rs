//! The pacer's wake-up at an exact instant. tokio's timer works in whole
//! milliseconds and rounds every deadline up to the next one: the mock's
//! first events came 1 to 2 ms after `--ttft` with nothing else running.
//! On Linux a `timerfd` (nanosecond resolution, registered with tokio's
//! reactor) wakes the pacer instead; elsewhere (macOS) tokio's timer does,
//! and the mock's truth shows its error.
#![allow(unsafe_code, reason = "timerfd syscalls (sub-millisecond wake-ups)")]

#[cfg(target_os = "linux")]
pub use precise::Alarm;

#[cfg(not(target_os = "linux"))]
pub use coarse::Alarm;

#[cfg(target_os = "linux")]
mod precise {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::{Duration, Instant};

    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    /// One timerfd, armed for one instant at a time.
    pub struct Alarm {
        timer: AsyncFd<OwnedFd>,
    }

    impl Alarm {
        /// Needs a tokio runtime with I/O enabled (it registers the timerfd).
        pub fn new() -> io::Result<Alarm> {
            let flags = libc::TFD_NONBLOCK | libc::TFD_CLOEXEC;
            // SAFETY: timerfd_create with constant arguments.
            let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, flags) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` was just created and is owned by nobody else.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: the OwnedFd keeps the descriptor open, unchanged, for
            // as long as the AsyncFd that owns it.
            let timer = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }?;
            Ok(Alarm { timer })
        }

        /// Resolves at `at` or just after (at once if it has passed). Safe
        /// to drop before then: the next call sets the timer anew, and an
        /// expiry left from an earlier call only makes it look again.
        pub async fn until(&self, at: Instant) {
            loop {
                let now = Instant::now();
                if now >= at {
                    return;
                }
                self.set(at - now);
                let Ok(mut ready) = self.timer.readable().await else { return };
                let mut expirations = 0u64;
                // SAFETY: reads 8 bytes into a u64 from a timerfd we own.
                unsafe { libc::read(self.timer.as_raw_fd(), (&mut expirations as *mut u64).cast(), 8) };
                ready.clear_ready();
            }
        }

        /// Fires the timer `wait` from now (at least 1 ns: zero disarms it).
        fn set(&self, wait: Duration) {
            let wait = wait.max(Duration::from_nanos(1));
            let spec = libc::itimerspec {
                it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
                it_value: libc::timespec { tv_sec: wait.as_secs() as _, tv_nsec: wait.subsec_nanos() as _ },
            };
            // SAFETY: a timerfd we own and a valid itimerspec; the old value is not wanted.
            unsafe { libc::timerfd_settime(self.timer.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod coarse {
    use std::io;
    use std::time::Instant;

    /// tokio's millisecond timer.
    pub struct Alarm;

    impl Alarm {
        pub fn new() -> io::Result<Alarm> {
            Ok(Alarm)
        }

        pub async fn until(&self, at: Instant) {
            tokio::time::sleep_until(at.into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Never early, whatever the machine does; a lost wake-up would hang
    /// (the bound only catches that).
    #[test]
    fn the_alarm_never_resolves_early_and_can_be_dropped_and_reset() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let alarm = Alarm::new().unwrap();
            let start = Instant::now();
            // Dropped before it fires: the later call still waits its own time.
            let early = start + Duration::from_micros(300);
            let dropped = tokio::time::timeout(Duration::from_micros(50), alarm.until(early)).await;
            assert!(dropped.is_err() || Instant::now() >= early);
            for us in [2_000u64, 700, 700, 3_100] {
                let at = Instant::now() + Duration::from_micros(us);
                alarm.until(at).await;
                let now = Instant::now();
                assert!(now >= at, "resolved {:?} early", at - now);
                assert!(now - at < Duration::from_secs(5), "{:?} late", now - at);
            }
            alarm.until(start).await;
        });
    }
}
