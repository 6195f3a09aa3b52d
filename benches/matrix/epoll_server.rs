//! The benchmark target: a single-threaded, level-triggered epoll HTTP/1.1
//! server with as little work per request as possible, so that the
//! generator, not the server, is what the matrix measures.
//!
//! It answers every request head (a GET: the generators send no bodies) with
//! one pre-built response, written from a shared buffer without copying, and
//! resumes partial writes of large bodies when the socket is writable again.
#![allow(unsafe_code, reason = "epoll syscalls of the benchmark target")]

use std::io;
use std::net::TcpListener;
use std::os::fd::{IntoRawFd, RawFd};

/// Per-connection state, indexed by file descriptor.
#[derive(Default)]
struct Conn {
    /// Tail of a request head split across reads (up to 3 bytes are enough
    /// to find a split "\r\n\r\n").
    carry: Vec<u8>,
    /// Responses owed and the offset into the first of them.
    owed: usize,
    offset: usize,
    want_write: bool,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
}

/// Counts request heads ("\r\n\r\n") in `data`, continuing from `carry`.
fn count_heads(carry: &mut Vec<u8>, data: &[u8]) -> usize {
    let mut joined;
    let scan: &[u8] = if carry.is_empty() {
        data
    } else {
        joined = std::mem::take(carry);
        joined.extend_from_slice(data);
        &joined
    };
    let mut count = 0;
    let mut i = 0;
    while i + 4 <= scan.len() {
        if &scan[i..i + 4] == b"\r\n\r\n" {
            count += 1;
            i += 4;
        } else {
            i += 1;
        }
    }
    let keep = (scan.len() - i).min(3);
    *carry = scan[scan.len() - keep..].to_vec();
    count
}

/// Serves on `listener` forever.
pub fn serve(listener: TcpListener, response: &[u8]) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listen_fd = listener.into_raw_fd();
    // SAFETY: plain syscalls on descriptors this function owns; the event
    // array and buffers passed to the kernel outlive each call.
    unsafe {
        let epoll = check(libc::epoll_create1(libc::EPOLL_CLOEXEC))?;
        add(epoll, listen_fd, libc::EPOLLIN as u32)?;
        let mut conns: Vec<Option<Conn>> = Vec::new();
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, -1);
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(io::Error::last_os_error());
            }
            for event in &events[..n as usize] {
                let fd = event.u64 as RawFd;
                if fd == listen_fd {
                    accept_all(epoll, listen_fd, &mut conns);
                    continue;
                }
                let alive = on_event(epoll, fd, event.events, &mut conns, &mut buf, response);
                if !alive {
                    conns[fd as usize] = None;
                    libc::close(fd);
                }
            }
        }
    }
}

unsafe fn add(epoll: RawFd, fd: RawFd, events: u32) -> io::Result<()> {
    let mut event = libc::epoll_event { events, u64: fd as u64 };
    // SAFETY: `event` lives for the call; the caller owns both descriptors.
    check(unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event) }).map(drop)
}

unsafe fn modify(epoll: RawFd, fd: RawFd, events: u32) {
    let mut event = libc::epoll_event { events, u64: fd as u64 };
    // SAFETY: as in `add`.
    unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_MOD, fd, &mut event) };
}

unsafe fn accept_all(epoll: RawFd, listen_fd: RawFd, conns: &mut Vec<Option<Conn>>) {
    loop {
        // SAFETY: accept4 with null address pointers is allowed.
        let fd = unsafe {
            libc::accept4(
                listen_fd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            return; // EAGAIN, or out of descriptors: try again on the next event
        }
        let one: libc::c_int = 1;
        // SAFETY: `one` is a valid c_int for TCP_NODELAY and lives for the call.
        unsafe {
            libc::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&one as *const libc::c_int).cast(), 4);
        }
        let index = fd as usize;
        if conns.len() <= index {
            conns.resize_with(index + 1, || None);
        }
        conns[index] = Some(Conn::default());
        // SAFETY: both descriptors are open and owned here.
        if unsafe { add(epoll, fd, libc::EPOLLIN as u32) }.is_err() {
            conns[index] = None;
            // SAFETY: fd was just accepted and is not registered anywhere.
            unsafe { libc::close(fd) };
        }
    }
}

/// Handles readiness on a connection; false when it must be closed.
unsafe fn on_event(
    epoll: RawFd,
    fd: RawFd,
    events: u32,
    conns: &mut [Option<Conn>],
    buf: &mut [u8],
    response: &[u8],
) -> bool {
    let Some(conn) = conns.get_mut(fd as usize).and_then(Option::as_mut) else { return false };
    if events & (libc::EPOLLIN as u32 | libc::EPOLLHUP as u32 | libc::EPOLLERR as u32) != 0 {
        // SAFETY: `buf` is valid for writes of its length for the call.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0 {
            return false;
        }
        if n < 0 {
            return io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock;
        }
        conn.owed += count_heads(&mut conn.carry, &buf[..n as usize]);
    }
    // SAFETY: forwarded to `flush`, which only writes from `response`.
    unsafe { flush(epoll, fd, conn, response) }
}

/// Writes owed responses until done or the socket is full.
unsafe fn flush(epoll: RawFd, fd: RawFd, conn: &mut Conn, response: &[u8]) -> bool {
    while conn.owed > 0 {
        let rest = &response[conn.offset..];
        // SAFETY: `rest` is valid for reads of its length for the call.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n < 0 {
            if io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
                return false;
            }
            if !conn.want_write {
                conn.want_write = true;
                // SAFETY: fd is registered with epoll.
                unsafe { modify(epoll, fd, (libc::EPOLLIN | libc::EPOLLOUT) as u32) };
            }
            return true;
        }
        conn.offset += n as usize;
        if conn.offset == response.len() {
            conn.offset = 0;
            conn.owed -= 1;
        }
    }
    if conn.want_write {
        conn.want_write = false;
        // SAFETY: fd is registered with epoll.
        unsafe { modify(epoll, fd, libc::EPOLLIN as u32) };
    }
    true
}
