//! Socket options both backends set the same way.
#![allow(unsafe_code, reason = "setsockopt")]

use std::os::fd::RawFd;

/// Sets SO_RCVLOWAT: the kernel reports the socket readable (and completes
/// a receive) only once `bytes` are queued, or at the end of the stream or
/// an error. Best effort: a refusal leaves the socket waking per segment.
pub fn set_receive_low_water(fd: RawFd, bytes: u32) {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: `value` is a valid c_int that lives for the call; a bad fd
    // only makes the call fail.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}
