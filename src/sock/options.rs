//! Socket options both backends set the same way.
#![allow(unsafe_code, reason = "setsockopt")]

use std::os::fd::RawFd;

/// Sets SO_RCVLOWAT: the kernel reports the socket readable (and completes
/// a receive) only once `bytes` are queued, or at the end of the stream or
/// an error. Best effort: a refusal leaves the socket waking per segment.
pub fn set_receive_low_water(fd: RawFd, bytes: u32) {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    set_int_option(fd, libc::SOL_SOCKET, libc::SO_RCVLOWAT, value);
}

/// Sets an integer socket option; whether the kernel accepted it.
pub fn set_int_option(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> bool {
    // SAFETY: `value` is a valid c_int that lives for the call; a bad fd
    // or option only makes the call fail.
    let result = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    result == 0
}
