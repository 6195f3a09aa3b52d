//! A Linux `timerfd` registered with tokio's reactor: wake-ups at
//! nanosecond resolution where tokio's timer rounds every deadline up to
//! the next whole millisecond. Shared by the portable backend's `--rate`
//! clock and the mock LLM's pacer. A leaf: it depends on nothing else in
//! the crate.
#![cfg(target_os = "linux")]
#![allow(unsafe_code, reason = "timerfd syscalls")]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// One monotonic one-shot timer.
pub struct TimerFd {
    timer: AsyncFd<OwnedFd>,
}

impl TimerFd {
    /// Needs a tokio runtime with I/O enabled (it registers the descriptor).
    pub fn new() -> io::Result<TimerFd> {
        let flags = libc::TFD_NONBLOCK | libc::TFD_CLOEXEC;
        // SAFETY: timerfd_create with constant arguments.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the OwnedFd keeps the descriptor open, unchanged, for as
        // long as the AsyncFd that owns it.
        let timer = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }?;
        Ok(TimerFd { timer })
    }

    /// Fires the timer `wait` from now (at least 1 ns: zero would disarm it),
    /// replacing any earlier setting.
    pub fn set_in(&self, wait: Duration) {
        let wait = wait.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec { tv_sec: wait.as_secs() as _, tv_nsec: wait.subsec_nanos() as _ },
        };
        // SAFETY: a timerfd we own and a valid itimerspec; the old value is not wanted.
        unsafe { libc::timerfd_settime(self.timer.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    }

    /// Resolves when the timer has fired (an expiry left from an earlier
    /// setting counts too), and consumes the expiry: true; false, at once,
    /// if the reactor failed.
    pub async fn fired(&self) -> bool {
        let Ok(mut ready) = self.timer.readable().await else { return false };
        let mut expirations = 0u64;
        // SAFETY: reads 8 bytes into a u64 from a timerfd we own.
        unsafe { libc::read(self.timer.as_raw_fd(), (&mut expirations as *mut u64).cast(), 8) };
        ready.clear_ready();
        true
    }
}
