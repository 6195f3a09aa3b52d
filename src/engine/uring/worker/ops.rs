//! Socket operations of the io_uring worker: the connect (with its linked
//! timeout), close (cancelling what is in flight), send and receive
//! submissions for one slot, and the address form connect(2) takes.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use io_uring::{opcode, squeue, types};

use super::{OP_CANCEL, OP_CONNECT, OP_CONNECT_TIMEOUT, OP_RECV, OP_SEND, OP_SEND_TRACKED, Worker, user_data};

/// A socket address in the form connect(2) takes.
pub(super) struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
    family: libc::c_int,
}

pub(super) fn raw_addr(addr: &SocketAddr) -> RawAddr {
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

impl Worker<'_> {
    /// Opens a socket and queues its connect to the address of the slot's attempt.
    pub(super) fn open(&mut self, idx: usize) -> io::Result<()> {
        let target = &self.addrs[self.slots[idx].attempt.addr];
        let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: socket(2) with constant arguments.
        let fd = unsafe { libc::socket(target.family, flags, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let one: libc::c_int = 1;
        // SAFETY: `one` is a valid c_int that lives for the call.
        unsafe { libc::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&one as *const libc::c_int).cast(), 4) };
        let slot = &mut self.slots[idx];
        slot.fd = fd;
        slot.connecting = true;
        slot.connect_started = Instant::now();
        let ud = user_data(slot.generation, idx, OP_CONNECT);
        let storage = (&target.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr>();
        let entry = opcode::Connect::new(types::Fd(fd), storage, target.len).build().user_data(ud);
        self.pending += 1;
        match &self.connect_limit {
            Some(limit) => {
                // The kernel cancels the connect (-ECANCELED) when the linked timeout fires.
                let ud = user_data(slot.generation, idx, OP_CONNECT_TIMEOUT);
                let timeout = opcode::LinkTimeout::new(limit).build().user_data(ud);
                self.pending += 1;
                self.push_linked([entry.flags(squeue::Flags::IO_LINK), timeout]);
            }
            None => self.push(entry),
        }
        Ok(())
    }

    /// Queues two linked submissions; they must reach the kernel in one batch.
    fn push_linked(&mut self, entries: [squeue::Entry; 2]) {
        loop {
            // SAFETY: as in `push`; the linked timeout reads `connect_limit`,
            // which lives as long as the worker.
            if unsafe { self.ring.submission().push_multiple(&entries) }.is_ok() {
                return;
            }
            self.submit();
        }
    }

    /// Closes the slot's socket (if any), cancelling its operations.
    pub(super) fn close(&mut self, idx: usize) {
        let slot = &mut self.slots[idx];
        if slot.fd < 0 {
            return;
        }
        let (fd, generation) = (slot.fd, slot.generation);
        let mut cancels = Vec::with_capacity(2);
        if slot.recv_armed {
            cancels.push(user_data(generation, idx, OP_RECV));
        }
        if slot.connecting {
            cancels.push(user_data(generation, idx, OP_CONNECT));
        }
        slot.fd = -1;
        slot.generation = generation.wrapping_add(1);
        slot.recv_armed = false;
        slot.connecting = false;
        for target in cancels {
            self.pending += 1;
            self.push(opcode::AsyncCancel::new(target).build().user_data(user_data(generation, idx, OP_CANCEL)));
        }
        // SAFETY: the slot owned `fd`; shutdown makes a pending receive end.
        // The descriptor itself is closed only after the queue that may
        // still name it has been submitted (see `Worker::submit`).
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        self.closing.push(fd);
    }

    /// Queues the request's bytes, with MSG_WAITALL so a short send is
    /// continued by the kernel.
    pub(super) fn send(&mut self, idx: usize) {
        let shared = self.shared;
        let template = &shared.plan.template;
        let slot = &self.slots[idx];
        let flags = libc::MSG_WAITALL | libc::MSG_NOSIGNAL;
        let entry = match slot.ex.hop_request() {
            None => {
                let bytes = &template.request;
                let ud = user_data(slot.generation, idx, OP_SEND);
                opcode::Send::new(types::Fd(slot.fd), bytes.as_ptr(), bytes.len() as u32)
                    .flags(flags)
                    .build()
                    .flags(squeue::Flags::SKIP_SUCCESS)
                    .user_data(ud)
            }
            Some(bytes) => {
                let ud = user_data(slot.generation, idx, OP_SEND_TRACKED);
                let entry = opcode::Send::new(types::Fd(slot.fd), bytes.as_ptr(), bytes.len() as u32)
                    .flags(flags)
                    .build()
                    .user_data(ud);
                self.kept.push((ud, bytes.clone()));
                self.pending += 1;
                entry
            }
        };
        self.push(entry);
    }

    /// Arms a receive on the slot's socket unless one is armed.
    pub(super) fn ensure_recv(&mut self, idx: usize) {
        let slot = &mut self.slots[idx];
        if slot.fd < 0 || slot.recv_armed || slot.connecting {
            return;
        }
        let ud = user_data(slot.generation, idx, OP_RECV);
        let entry = match &self.bufs {
            Some(bufs) => opcode::RecvMulti::new(types::Fd(slot.fd), bufs.group).build().user_data(ud),
            None => opcode::Recv::new(types::Fd(slot.fd), slot.buf.as_mut_ptr(), slot.buf.len() as u32)
                .build()
                .user_data(ud),
        };
        slot.recv_armed = true;
        self.pending += 1;
        self.push(entry);
    }
}
