//! The kernel's receive timestamps, which time the events of event streams.
//!
//! A client that times an event by when it reads it adds its own lateness:
//! a sleeping client is woken a scheduler tick late now and then (on this
//! project's test VM about one read in a hundred, by up to 4 ms), a busy one
//! reads many sockets one after another. The gap before that event grows and
//! the gap after it shrinks, so the tails of inter-token latency are the
//! client's. The kernel stamps every segment when it arrives
//! (`SO_TIMESTAMPNS`, on the realtime clock); read with the data, the stamp
//! times the event when it reached this machine, whoever reads it and when.
//!
//! Linux only: elsewhere [`enable`] refuses and streams are timed by their
//! reads, as every other response is.
#![allow(unsafe_code, reason = "recvmsg and control messages")]

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Room for the control messages of one receive: a timestamp needs 32
/// bytes; as `u64` words so the headers in it are aligned.
#[cfg(target_os = "linux")]
const CONTROL_WORDS: usize = 8;

/// When the kernel received a read's last segment, on the realtime clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrivalStamp {
    since_epoch: Duration,
}

impl ArrivalStamp {
    /// The stamp on the monotonic clock: now, less how long ago the stamp
    /// was by the realtime clock (read at the same moment). A stamp from
    /// the future (a clock step) is now.
    pub fn instant(self) -> Instant {
        // The realtime reading between two monotonic ones, matched to their
        // midpoint: a preemption between two readings skews nothing.
        let before = Instant::now();
        let real_now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let now = before + (Instant::now() - before) / 2;
        now.checked_sub(real_now.saturating_sub(self.since_epoch)).unwrap_or(now)
    }
}

/// Asks the kernel to stamp the arrival of the data of socket `fd`; whether
/// it agreed (never, off Linux).
#[cfg(target_os = "linux")]
pub fn enable(fd: RawFd) -> bool {
    super::options::set_int_option(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
}

/// Asks the kernel to stamp the arrival of the data of socket `fd`; whether
/// it agreed (never, off Linux).
#[cfg(not(target_os = "linux"))]
pub fn enable(_fd: RawFd) -> bool {
    false
}

/// Reads what socket `fd` holds into `buf` without waiting (EAGAIN when it
/// holds nothing), with the stamp of its arrival if the kernel gave one
/// (never off Linux).
pub fn recv_stamped(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<ArrivalStamp>)> {
    // SAFETY: `buf` is valid for writes of its whole length during the call.
    unsafe { recv_into(fd, buf.as_mut_ptr(), buf.len()) }
}

/// [`recv_stamped`] appending at most `max` bytes to `buf`, which grows by
/// what arrived: no buffer of `max` bytes is filled or zeroed first.
pub fn recv_stamped_onto(fd: RawFd, buf: &mut Vec<u8>, max: usize) -> io::Result<(usize, Option<ArrivalStamp>)> {
    buf.reserve(max);
    let spare = buf.spare_capacity_mut();
    // SAFETY: the spare capacity is valid for writes of `max` bytes (just
    // reserved); the kernel initialises the first `n` of them, and only
    // those are taken into the vector's length.
    unsafe {
        let (n, stamp) = recv_into(fd, spare.as_mut_ptr().cast(), max)?;
        buf.set_len(buf.len() + n);
        Ok((n, stamp))
    }
}

/// Reads at most `len` bytes into `ptr` without waiting.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes for the call.
#[cfg(target_os = "linux")]
unsafe fn recv_into(fd: RawFd, ptr: *mut u8, len: usize) -> io::Result<(usize, Option<ArrivalStamp>)> {
    let mut control = [0u64; CONTROL_WORDS];
    let mut iov = libc::iovec { iov_base: ptr.cast(), iov_len: len };
    let mut header = message_header(&mut iov, &mut control);
    // SAFETY: the header points at `iov` (which points at the caller's
    // memory, valid for `len` bytes) and at `control`, alive for the call.
    let n = unsafe { libc::recvmsg(fd, &mut header, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, stamp_in(&header)))
}

/// Reads at most `len` bytes into `ptr` without waiting; off Linux there is
/// never a stamp.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes for the call.
#[cfg(not(target_os = "linux"))]
unsafe fn recv_into(fd: RawFd, ptr: *mut u8, len: usize) -> io::Result<(usize, Option<ArrivalStamp>)> {
    // SAFETY: the caller vouches for `ptr` and `len`.
    let n = unsafe { libc::recv(fd, ptr.cast(), len, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, None))
}

/// A header for a receive into `iov` with room for control messages in
/// `control`.
#[cfg(target_os = "linux")]
fn message_header(iov: &mut libc::iovec, control: &mut [u64; CONTROL_WORDS]) -> libc::msghdr {
    // SAFETY: msghdr is plain data for which all zeroes is a valid (empty) value.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = iov;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = size_of_val(control) as _;
    header
}

/// The arrival stamp among the control messages a completed receive left
/// in `header`'s control buffer.
#[cfg(target_os = "linux")]
fn stamp_in(header: &libc::msghdr) -> Option<ArrivalStamp> {
    // SAFETY: the kernel wrote `msg_controllen` bytes of well-formed control
    // messages into the buffer the header names, which is still alive; the
    // CMSG_* walk stays inside that length.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(header);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS {
                let at = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                let secs = u64::try_from(at.tv_sec).ok()?;
                let nanos = u32::try_from(at.tv_nsec).ok()?;
                return (secs > 0).then(|| ArrivalStamp { since_epoch: Duration::new(secs, nanos) });
            }
            cmsg = libc::CMSG_NXTHDR(header, cmsg);
        }
    }
    None
}

/// The memory of one receive handed to io_uring (`IORING_OP_RECVMSG`): the
/// data buffer, the control buffer for the stamp, and the header naming
/// them. The kernel writes through the header's pointers until the receive
/// completes, so the owner keeps it boxed and in place until then.
#[cfg(target_os = "linux")]
pub struct StampedRead {
    data: Box<[u8]>,
    control: [u64; CONTROL_WORDS],
    iov: libc::iovec,
    header: libc::msghdr,
}

#[cfg(target_os = "linux")]
impl StampedRead {
    /// A read of at most `len` bytes.
    pub fn new(len: usize) -> Box<StampedRead> {
        let mut iov = libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 };
        let mut control = [0u64; CONTROL_WORDS];
        let header = message_header(&mut iov, &mut control);
        let mut read = Box::new(StampedRead { data: vec![0; len].into_boxed_slice(), control, iov, header });
        // Never a pointer to the locals above: to the boxed fields.
        read.header();
        read
    }

    /// The header of a receive into this read's buffers, pointing at where
    /// they are now: valid while `self` stays where it is.
    pub fn header(&mut self) -> *mut libc::msghdr {
        self.control = [0; CONTROL_WORDS];
        self.iov = libc::iovec { iov_base: self.data.as_mut_ptr().cast(), iov_len: self.data.len() };
        self.header = message_header(&mut self.iov, &mut self.control);
        &mut self.header
    }

    /// The first `len` bytes the receive delivered.
    pub fn data(&self, len: usize) -> &[u8] {
        &self.data[..len.min(self.data.len())]
    }

    /// The stamp the completed receive delivered, if any.
    pub fn stamp(&self) -> Option<ArrivalStamp> {
        stamp_in(&self.header)
    }
}

#[cfg(all(test, target_os = "linux"))]
pub(crate) mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::thread::sleep;

    use super::*;

    /// A connected pair over loopback: (the reading end, the writing end).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let writer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (listener.accept().unwrap().0, writer)
    }

    /// A pair whose reading end gets stamps. The first socket on the
    /// machine to ask turns stamping on through a kernel work queue, a
    /// moment later: segments that arrive before it carry none.
    pub(crate) fn stamped_pair() -> (TcpStream, TcpStream) {
        let (reader, mut writer) = pair();
        assert!(enable(reader.as_raw_fd()));
        let mut buf = [0u8; 8];
        for _ in 0..200 {
            writer.write_all(b"?").unwrap();
            sleep(Duration::from_millis(5));
            if recv_stamped(reader.as_raw_fd(), &mut buf).unwrap().1.is_some() {
                return (reader, writer);
            }
        }
        panic!("the kernel gave no receive stamp within a second");
    }

    #[test]
    fn a_read_late_is_stamped_when_its_data_arrived() {
        let (reader, mut writer) = stamped_pair();
        writer.write_all(b"data: late\n\n").unwrap();
        let written = Instant::now();
        sleep(Duration::from_millis(30));
        let mut buf = [0u8; 64];
        let (n, stamp) = recv_stamped(reader.as_raw_fd(), &mut buf).unwrap();
        let read = Instant::now();
        assert_eq!(&buf[..n], b"data: late\n\n");
        let arrived = stamp.expect("the kernel stamps a socket that asked").instant();
        // Arrived around the write, not the read 30 ms later (the two
        // clocks are read apart by microseconds).
        assert!(read - arrived >= Duration::from_millis(29), "{:?} before the read", read - arrived);
        assert!(arrived <= written + Duration::from_millis(1), "{:?} after the write", arrived - written);
    }

    #[test]
    fn without_asking_there_is_no_stamp_and_nothing_to_read_would_block() {
        let (reader, mut writer) = pair();
        let mut buf = [0u8; 8];
        let empty = recv_stamped(reader.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
        writer.write_all(b"x").unwrap();
        sleep(Duration::from_millis(5));
        assert_eq!(recv_stamped(reader.as_raw_fd(), &mut buf).unwrap(), (1, None));
    }

    #[test]
    fn a_stamped_read_finds_its_stamp_in_its_own_buffers() {
        let (reader, mut writer) = stamped_pair();
        writer.write_all(b"abc").unwrap();
        sleep(Duration::from_millis(5));
        let mut read = StampedRead::new(16);
        // SAFETY: the header points into `read`, alive and unmoved for the call.
        let n = unsafe { libc::recvmsg(reader.as_raw_fd(), read.header(), libc::MSG_DONTWAIT) };
        assert_eq!(read.data(n as usize), b"abc");
        assert!(Instant::now() - read.stamp().unwrap().instant() >= Duration::from_millis(4));
    }

    #[test]
    fn a_stamp_from_the_future_is_now() {
        let ahead = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(60);
        let before = Instant::now();
        let at = ArrivalStamp { since_epoch: ahead }.instant();
        assert!(at >= before && at <= Instant::now());
    }
}
