//! What an operating-system error means for a request: the fixed error
//! category it is counted in. Both backends get the same errno values (one
//! from a syscall, the other from a completion), so one table serves both.

use std::io;

use crate::stats::ErrorKind;

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
}
