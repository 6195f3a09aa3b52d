//! Ctrl-C (SIGINT) and SIGTERM during a run.
//!
//! The first signal is only recorded here; the run's monitor sees it, stops
//! issuing requests, gives in-flight ones a short grace period and prints the
//! partial report. A second signal means "now": the handler erases the
//! progress line if one is shown and exits at once with 128 + the signal
//! number, using only async-signal-safe calls.
#![allow(unsafe_code, reason = "async-signal-safe handlers (syscalls)")]

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// The first signal received, 0 while none.
static FIRST: AtomicI32 = AtomicI32::new(0);
/// A progress line may be on stderr and must be erased on a hard exit.
static PROGRESS_SHOWN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(signal: libc::c_int) {
    if FIRST.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        return;
    }
    if PROGRESS_SHOWN.load(Ordering::SeqCst) {
        let erase = crate::progress::ERASE.as_bytes();
        // SAFETY: write(2) is async-signal-safe; the buffer is a static string.
        unsafe { libc::write(libc::STDERR_FILENO, erase.as_ptr().cast(), erase.len()) };
    }
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(128 + signal) };
}

/// Routes SIGINT and SIGTERM to the handler above.
pub fn install() -> io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid starting value; the handler is
        // an `extern "C" fn(c_int)` that only touches atomics and calls
        // async-signal-safe functions, as sigaction requires.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// The first signal received since [`install`], if any.
pub fn received() -> Option<i32> {
    match FIRST.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// Tells the handler whether a progress line must be erased on a hard exit.
pub fn set_progress_shown(shown: bool) {
    PROGRESS_SHOWN.store(shown, Ordering::SeqCst);
}
