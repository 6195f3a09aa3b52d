//! Everything one io_uring worker hands to the kernel, owned in one place:
//! the ring, the provided-buffer ring registered with it, the addresses and
//! timeout that connects read, the request bytes that sends read, the
//! receive buffers of single-shot mode, and the memory of timestamped
//! receives (event streams, see [`crate::sock::stamp`]). Operations are queued only through
//! this type, so the memory an operation points to is always memory this
//! type owns, and it is released only by the operation's final completion
//! (keyed by `user_data`).
//!
//! When the worker ends, the ring is closed first. If completions were still
//! outstanding then (teardown gave up waiting), the kernel may still write
//! or read that memory after the close, so it is leaked on purpose instead
//! of freed. Descriptors are closed only after every queued entry naming
//! them has been submitted (see [`Kernel::close_later`]).
#![allow(unsafe_code, reason = "submissions that hand memory to the kernel")]

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io;
use std::mem::ManuallyDrop;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use io_uring::{IoUring, cqueue, opcode, squeue, types};

use super::batch::WaitBatch;
use super::bufring::{BufRing, Shape};
use crate::engine::plan::Address;
use crate::http::Pool;
use crate::sock::stamp::{ArrivalStamp, StampedRead};

/// `IORING_ENTER_GETEVENTS` (linux/io_uring.h): run and post completions.
const ENTER_GETEVENTS: u32 = 1;

/// One completion, copied out of the completion queue.
#[derive(Clone, Copy, Debug)]
pub struct Cqe {
    pub user_data: u64,
    pub result: i32,
    pub flags: u32,
}

impl Cqe {
    /// The operation will post no further completion (multishot ends too).
    pub fn is_final(&self) -> bool {
        !cqueue::more(self.flags)
    }
}

/// How a receive gets its buffer.
enum Receive {
    /// Multishot receives that pick buffers from a registered ring.
    Provided(BufRing),
    /// One receive per arm, each into a buffer lent to it until its final
    /// completion (kernels without buffer rings), found by its user_data.
    Lent { len: usize, lent: HashMap<u64, Box<[u8]>>, spare: Vec<Box<[u8]>> },
}

/// Bytes sends read, kept until those sends complete.
struct Kept {
    sends: u32,
    _bytes: Bytes,
    more: Vec<Bytes>,
}

pub struct Kernel {
    ring: ManuallyDrop<IoUring>,
    receive: ManuallyDrop<Receive>,
    /// Read by connects until they complete.
    addrs: ManuallyDrop<Box<[RawAddr]>>,
    /// Read by the timeouts linked to connects.
    connect_limit: ManuallyDrop<Option<Box<types::Timespec>>>,
    /// The run's pre-built requests, read by sends of them.
    requests: ManuallyDrop<Arc<Pool>>,
    /// Other bytes being sent (redirect hops, TLS ciphertext), by the
    /// send's `user_data`, until every send under that key completes.
    kept: ManuallyDrop<HashMap<u64, Kept>>,
    /// Timestamped receives in flight (event streams), by `user_data`,
    /// and spare ones.
    stamped: ManuallyDrop<HashMap<u64, Box<StampedRead>>>,
    #[allow(clippy::vec_box, reason = "kept boxed: they move into `stamped` without reallocating")]
    spare_stamped: Vec<Box<StampedRead>>,
    /// Completions still expected. Sends of the run's request complete
    /// silently when they succeed and are not counted; teardown ends any
    /// still parked with a cancel-all whose completion is counted.
    pending: usize,
    /// Descriptors to close once the queue naming them is submitted.
    closing: Vec<RawFd>,
    /// Sends of bytes queued since completions were last read: each posts
    /// its completion inside the submission that hands it over when the
    /// socket has room, and it waits in the ring, unread, until then (a long
    /// batch hands its sends over before the batch's wait).
    sends_queued: usize,
}

impl Kernel {
    /// Takes ownership of `ring`; registers a buffer ring when `provided`
    /// is `Some(shape)`.
    pub fn new(
        ring: IoUring,
        provided: Option<Shape>,
        addrs: Box<[RawAddr]>,
        connect_limit: Option<Duration>,
        requests: Arc<Pool>,
    ) -> io::Result<Kernel> {
        let receive = match provided {
            Some(shape) => {
                // SAFETY: the buffer ring is kept in this Kernel, whose Drop
                // closes the ring before it frees (or leaks) the buffer ring.
                Receive::Provided(unsafe { BufRing::register(&ring, shape, 1)? })
            }
            None => Receive::Lent { len: SINGLE_SHOT_BUFFER, lent: HashMap::new(), spare: Vec::new() },
        };
        let timespec = |t: Duration| Box::new(types::Timespec::new().sec(t.as_secs()).nsec(t.subsec_nanos()));
        Ok(Kernel {
            ring: ManuallyDrop::new(ring),
            receive: ManuallyDrop::new(receive),
            addrs: ManuallyDrop::new(addrs),
            connect_limit: ManuallyDrop::new(connect_limit.map(timespec)),
            requests: ManuallyDrop::new(requests),
            kept: ManuallyDrop::new(HashMap::new()),
            stamped: ManuallyDrop::new(HashMap::new()),
            spare_stamped: Vec::new(),
            pending: 0,
            closing: Vec::new(),
            sends_queued: 0,
        })
    }

    pub fn addr_family(&self, addr: usize) -> libc::c_int {
        self.addrs[addr].family
    }

    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Queues a connect of `fd` to address `addr`, with the linked timeout
    /// (`timeout_ud`) when a connect limit is set.
    pub fn connect(&mut self, fd: RawFd, addr: usize, ud: u64, timeout_ud: u64) {
        let target = &self.addrs[addr];
        let storage = (&target.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr>();
        let entry = opcode::Connect::new(types::Fd(fd), storage, target.len).build().user_data(ud);
        self.pending += 1;
        match self.connect_limit.as_deref() {
            Some(limit) => {
                // The kernel cancels the connect (-ECANCELED) when the linked timeout fires.
                let timeout = opcode::LinkTimeout::new(limit).build().user_data(timeout_ud);
                self.pending += 1;
                self.push(&[entry.flags(squeue::Flags::IO_LINK), timeout]);
            }
            None => self.push(&[entry]),
        }
    }

    /// Queues a send of the run's pre-built request `entry` on `fd`; only
    /// a failure completes.
    pub fn send_request(&mut self, fd: RawFd, ud: u64, entry: usize) {
        let flags = libc::MSG_WAITALL | libc::MSG_NOSIGNAL;
        let bytes = &self.requests.entry(entry).bytes;
        let entry = opcode::Send::new(types::Fd(fd), bytes.as_ptr(), bytes.len() as u32)
            .flags(flags)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(ud);
        self.push(&[entry]);
    }

    /// Queues a send of `bytes` on `fd`, keeping them until it completes.
    pub fn send_bytes(&mut self, fd: RawFd, ud: u64, bytes: Bytes) {
        let flags = libc::MSG_WAITALL | libc::MSG_NOSIGNAL;
        let entry =
            opcode::Send::new(types::Fd(fd), bytes.as_ptr(), bytes.len() as u32).flags(flags).build().user_data(ud);
        match self.kept.entry(ud) {
            Entry::Vacant(entry) => {
                entry.insert(Kept { sends: 1, _bytes: bytes, more: Vec::new() });
            }
            // The worker sends one buffer at a time per connection, so a
            // key is never reused while in flight; if it were, every buffer
            // under it lives until the last of its sends completes.
            Entry::Occupied(mut entry) => {
                let kept = entry.get_mut();
                kept.sends += 1;
                kept.more.push(bytes);
            }
        }
        self.pending += 1;
        self.sends_queued += 1;
        self.push(&[entry]);
    }

    /// Arms a receive on `fd`: multishot from the buffer ring, or a single
    /// receive into a buffer lent to it until its final completion.
    pub fn recv(&mut self, fd: RawFd, ud: u64) {
        let entry = match &mut *self.receive {
            Receive::Provided(bufs) => opcode::RecvMulti::new(types::Fd(fd), bufs.group).build().user_data(ud),
            Receive::Lent { len, lent, spare } => {
                let mut buf = spare.pop().unwrap_or_else(|| vec![0; *len].into_boxed_slice());
                let entry = opcode::Recv::new(types::Fd(fd), buf.as_mut_ptr(), buf.len() as u32).build().user_data(ud);
                lent.insert(ud, buf);
                entry
            }
        };
        self.pending += 1;
        self.push(&[entry]);
    }

    /// Arms a single receive on `fd` that brings the kernel's arrival stamp
    /// with the data (the socket must have asked for stamps, see
    /// [`crate::sock::stamp::enable`]), into memory lent to it until it
    /// completes. A worker asks for one `read_bytes` throughout (spare
    /// ones are reused).
    pub fn recv_stamped(&mut self, fd: RawFd, ud: u64, read_bytes: usize) {
        let mut read = self.spare_stamped.pop().unwrap_or_else(|| StampedRead::new(read_bytes));
        let entry = opcode::RecvMsg::new(types::Fd(fd), read.header()).build().user_data(ud);
        // The box moves into the map; the memory the header points at does not.
        self.stamped.insert(ud, read);
        self.pending += 1;
        self.push(&[entry]);
    }

    /// Queues a cancel of the operation `target`.
    pub fn cancel(&mut self, target: u64, ud: u64) {
        self.pending += 1;
        self.push(&[opcode::AsyncCancel::new(target).build().user_data(ud)]);
    }

    /// Queues a cancel of every operation still in the kernel (teardown).
    pub fn cancel_all(&mut self, ud: u64) {
        self.pending += 1;
        self.push(&[opcode::AsyncCancel2::new(types::CancelBuilder::any()).build().user_data(ud)]);
    }

    /// Closes `fd` once every entry queued so far has been submitted. A
    /// descriptor closed while an entry naming it still sat in the queue
    /// could be reused by the next socket, and the entry (a send of the old
    /// request) would act on the new connection: the request would reach
    /// the server twice. A submitted operation holds its own reference to
    /// the socket, so closing the number then is safe.
    pub fn close_later(&mut self, fd: RawFd) {
        self.closing.push(fd);
    }

    fn push(&mut self, entries: &[squeue::Entry]) {
        loop {
            // SAFETY: every pointer in these entries points into memory this
            // Kernel owns (addresses, timespec, request, kept bytes, lent or
            // provided buffers), released only by the operation's final
            // completion or leaked when the ring closes with it outstanding.
            if unsafe { self.ring.submission().push_multiple(entries) }.is_ok() {
                return;
            }
            self.submit();
        }
    }

    /// Hands every queued entry to the kernel.
    pub fn submit(&mut self) {
        let _ = self.ring.submit();
        self.submitted();
    }

    /// Hands every queued entry to the kernel and has it post the
    /// completions it holds for this thread, without waiting. With
    /// DEFER_TASKRUN the kernel runs a ring's completion work only inside
    /// an enter that asks for events; a plain submit would leave responses
    /// unreaped for as long as the worker spins (it then sees them only at
    /// its next wait, so every connection stays busy in between).
    pub fn submit_and_poll(&mut self) {
        let pending = self.ring.submission().len() as u32;
        // SAFETY: no argument is passed (a null pointer of size 0), and
        // GETEVENTS with a minimum of zero completions returns at once.
        let _ = unsafe { self.ring.submitter().enter::<libc::sigset_t>(pending, 0, ENTER_GETEVENTS, None) };
        self.submitted();
    }

    /// Submits and waits for at least one completion or `wait`.
    pub fn submit_and_wait(&mut self, wait: Duration) {
        self.submit_and_gather(wait, WaitBatch::ONE);
    }

    /// Submits and waits for `batch.want` completions, or for one once
    /// `batch.min_wait_us` has passed, or `wait` (a minimum only where the
    /// kernel has minimum waits; a `min_wait_us` of 0 is a plain wait for
    /// `want`, see [`Kernel::submit_and_gather_timed`]).
    ///
    /// A gathering wait counts only completions still to come: the kernel
    /// counts every completion in the ring, and a send of bytes (a TLS
    /// record, HTTP/2 frames) into a socket with room completes inside the
    /// submission that hands it over, so as many are added to the count as
    /// such sends were queued since completions were last read (this
    /// submission's and any handed over earlier in the batch). Without
    /// that, a closed loop's wait after sending one request ended at the
    /// first segment of the response, as an ungathered wait does. A pre-built request's send posts nothing when
    /// it succeeds, and a receive that finds data at once brings a
    /// response: neither is added.
    pub fn submit_and_gather(&mut self, wait: Duration, batch: WaitBatch) {
        let ts = types::Timespec::new().sec(wait.as_secs()).nsec(wait.subsec_nanos());
        let mut args = types::SubmitArgs::new().timespec(&ts);
        let mut want = batch.want as usize;
        if want > 1 {
            want += self.sends_queued;
            if batch.min_wait_us > 0 {
                let limit = u32::try_from(wait.as_micros()).unwrap_or(u32::MAX);
                args = args.min_wait_usec(batch.min_wait_us.min(limit));
            }
        }
        // ETIME (the wait elapsed), EINTR and EBUSY (completions to reap first)
        // are part of normal operation; the loop reaps and comes back.
        let _ = self.ring.submitter().submit_with_args(want, &args);
        self.submitted();
    }

    /// Where the kernel has no minimum waits (before 6.12): submits and
    /// waits for `batch.want` completions or `batch.min_wait_us`, whichever
    /// comes first (or `wait`, if shorter). Unlike a minimum wait it may
    /// return with nothing, when nothing came within the minimum.
    pub fn submit_and_gather_timed(&mut self, wait: Duration, batch: WaitBatch) {
        let wait = wait.min(Duration::from_micros(u64::from(batch.min_wait_us)));
        self.submit_and_gather(wait, WaitBatch { want: batch.want, min_wait_us: 0 });
    }

    /// After a submission: the descriptors waiting for it are closed.
    fn submitted(&mut self) {
        if self.closing.is_empty() || !self.ring.submission().is_empty() {
            return;
        }
        for fd in self.closing.drain(..) {
            // SAFETY: the slot gave `fd` up and nothing queued names it any more.
            unsafe { libc::close(fd) };
        }
    }

    /// Moves every completion that has arrived into `out`.
    pub fn completions(&mut self, out: &mut Vec<Cqe>) {
        self.sends_queued = 0;
        out.extend(self.ring.completion().map(|c| Cqe {
            user_data: c.user_data(),
            result: c.result(),
            flags: c.flags(),
        }));
    }

    /// Hands the bytes a receive completion delivered (empty for none), and
    /// the arrival stamp of a stamped receive, to `use_bytes`, then gives
    /// back what the receive no longer needs: the provided buffer, and when
    /// the completion is final the lent memory and its place in the pending
    /// count. Call it for every receive completion, stale ones included (an
    /// incremental buffer's offset moves with each).
    pub fn received<R>(&mut self, cqe: &Cqe, use_bytes: impl FnOnce(&[u8], Option<ArrivalStamp>) -> R) -> R {
        let len = usize::try_from(cqe.result).unwrap_or(0);
        if let Some(read) = self.stamped.remove(&cqe.user_data) {
            // Single-shot: this completion is its last.
            let result = use_bytes(read.data(len), if len > 0 { read.stamp() } else { None });
            self.spare_stamped.push(read);
            self.pending -= 1;
            return result;
        }
        let result = match &mut *self.receive {
            Receive::Provided(bufs) => match cqueue::buffer_select(cqe.flags) {
                Some(bid) => {
                    let result = use_bytes(bufs.data(bid, len), None);
                    bufs.release(bid, cqe.flags);
                    result
                }
                None => use_bytes(&[], None),
            },
            Receive::Lent { lent, spare, .. } => {
                let result = match lent.get(&cqe.user_data) {
                    Some(buf) => use_bytes(&buf[..len.min(buf.len())], None),
                    None => use_bytes(&[], None),
                };
                if cqe.is_final() {
                    spare.extend(lent.remove(&cqe.user_data));
                }
                result
            }
        };
        if cqe.is_final() {
            self.pending -= 1;
        }
        result
    }

    /// Accounts the completion of a counted send of kept bytes.
    pub fn send_done(&mut self, ud: u64) {
        if let Entry::Occupied(mut entry) = self.kept.entry(ud) {
            entry.get_mut().sends -= 1;
            if entry.get().sends == 0 {
                entry.remove();
            }
        }
        self.pending -= 1;
    }

    /// Accounts the completion of a connect, a linked timeout or a cancel.
    pub fn done(&mut self) {
        self.pending -= 1;
    }

    /// A receive found no buffer: the pool provides more, up to its bound.
    pub fn out_of_buffers(&mut self) {
        if let Receive::Provided(bufs) = &mut *self.receive {
            bufs.grow();
        }
    }

    /// How many receives that ran out of buffers may be re-armed after one
    /// batch of completions: as many as the pool provides now. Re-arming
    /// every starved receive at once makes each batch issue thousands of
    /// receives that fail again: 1 MiB bodies at -c 10000 through a 1 MiB
    /// pool took 33-42 s instead of 5, and requests timed out.
    pub fn rearm_budget(&self) -> usize {
        match &*self.receive {
            Receive::Provided(bufs) => bufs.buffers(),
            Receive::Lent { .. } => usize::MAX,
        }
    }
}

/// Receive buffer of one single-shot receive.
const SINGLE_SHOT_BUFFER: usize = 16 * 1024;

impl Drop for Kernel {
    fn drop(&mut self) {
        // SAFETY: the ring is dropped exactly once, here, and never used again.
        // It goes first: after its close the kernel starts no new operation.
        unsafe { ManuallyDrop::drop(&mut self.ring) };
        for fd in self.closing.drain(..) {
            // SAFETY: the ring that could name these descriptors is closed.
            unsafe { libc::close(fd) };
        }
        if self.pending > 0 {
            // Operations outlived the teardown: the kernel may still use
            // their memory, so it is leaked, never freed.
            return;
        }
        // SAFETY: every operation completed, so the kernel holds none of this
        // memory; each field is dropped exactly once and never used again.
        unsafe {
            ManuallyDrop::drop(&mut self.receive);
            ManuallyDrop::drop(&mut self.addrs);
            ManuallyDrop::drop(&mut self.connect_limit);
            ManuallyDrop::drop(&mut self.requests);
            ManuallyDrop::drop(&mut self.kept);
            ManuallyDrop::drop(&mut self.stamped);
        }
    }
}

/// A socket address in the form connect(2) takes.
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
    family: libc::c_int,
}

/// `addr` in the form connect(2) takes; a Unix socket path too long for a
/// `sockaddr_un` is refused.
pub fn raw_addr(addr: &Address) -> io::Result<RawAddr> {
    let path = match addr {
        Address::Tcp(addr) => return Ok(raw_inet(addr)),
        Address::Unix(path) => path.as_os_str().as_bytes(),
    };
    // SAFETY: sockaddr_un is plain data for which all zeroes is valid.
    let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if path.is_empty() || path.len() >= sun.sun_path.len() || path.contains(&0) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "unusable Unix socket path"));
    }
    sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (to, &from) in sun.sun_path.iter_mut().zip(path) {
        *to = from as libc::c_char;
    }
    // SAFETY: sockaddr_storage is plain data for which all zeroes is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_un.
    unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sun) };
    // The path and its terminating NUL after the family.
    let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + path.len() + 1;
    Ok(RawAddr { storage, len: len as libc::socklen_t, family: libc::AF_UNIX })
}

/// A TCP address as a `sockaddr_in` or `sockaddr_in6`.
fn raw_inet(addr: &SocketAddr) -> RawAddr {
    // SAFETY: sockaddr_storage is plain data for which all zeroes is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let (len, family) = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            (size_of::<libc::sockaddr_in>(), libc::AF_INET)
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            (size_of::<libc::sockaddr_in6>(), libc::AF_INET6)
        }
    };
    RawAddr { storage, len: len as libc::socklen_t, family }
}

#[cfg(test)]
#[path = "kernel_tests.rs"]
mod tests;
