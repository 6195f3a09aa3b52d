//! Socket operations of the io_uring worker: open a socket and queue its
//! connect, close a slot (cancelling what is in flight), queue the request's
//! send and arm the receive. The memory every operation uses belongs to the
//! worker's [`super::Kernel`].
#![allow(unsafe_code, reason = "socket syscalls")]

use std::io;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::{OP_CANCEL, OP_CONNECT, OP_CONNECT_TIMEOUT, OP_RECV, OP_SEND, OP_SEND_TRACKED, RingWorker, user_data};
use crate::engine::connection::Outgoing;

impl RingWorker<'_> {
    /// Opens a socket and queues its connect to the address of the slot's attempt.
    pub(super) fn open(&mut self, idx: usize) -> io::Result<()> {
        let addr = self.slots[idx].attempt.addr;
        let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: socket(2) with constant arguments.
        let fd = unsafe { libc::socket(self.kernel.addr_family(addr), flags, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        if self.kernel.addr_family(addr) != libc::AF_UNIX {
            let one: libc::c_int = 1;
            // SAFETY: `one` is a valid c_int that lives for the call.
            unsafe {
                libc::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&one as *const libc::c_int).cast(), 4)
            };
        }
        let slot = &mut self.slots[idx];
        slot.fd = fd;
        slot.connecting = true;
        slot.connect_started = Instant::now();
        let (ud, timeout_ud) =
            (user_data(slot.generation, idx, OP_CONNECT), user_data(slot.generation, idx, OP_CONNECT_TIMEOUT));
        self.kernel.connect(fd, addr, ud, timeout_ud);
        Ok(())
    }

    /// Closes the slot's socket (if any), cancelling its operations. The
    /// slot's generation moves on, so their completions are seen as stale.
    pub(super) fn close(&mut self, idx: usize) {
        let slot = &mut self.slots[idx];
        if slot.fd < 0 {
            return;
        }
        let (fd, generation) = (slot.fd, slot.generation);
        let (recv_armed, connecting) = (slot.recv_armed, slot.connecting);
        slot.fd = -1;
        slot.generation = generation.wrapping_add(1);
        slot.recv_armed = false;
        slot.connecting = false;
        slot.sending = false;
        slot.unsent = None;
        let cancel = user_data(generation, idx, OP_CANCEL);
        if recv_armed {
            self.kernel.cancel(user_data(generation, idx, OP_RECV), cancel);
        }
        if connecting {
            self.kernel.cancel(user_data(generation, idx, OP_CONNECT), cancel);
        }
        // SAFETY: the slot owned `fd`; shutdown makes a pending receive end.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        self.kernel.close_later(fd);
    }

    /// Queues what the machine has to send, with MSG_WAITALL so a short
    /// send is continued by the kernel. The connection's own bytes go one
    /// send at a time (two sends in flight on one socket may interleave);
    /// what comes meanwhile waits in the slot.
    pub(super) fn send(&mut self, idx: usize, outgoing: Outgoing) {
        let slot = &mut self.slots[idx];
        let bytes = match outgoing {
            Outgoing::Request(entry) => {
                self.kernel.send_request(slot.fd, user_data(slot.generation, idx, OP_SEND), entry);
                return;
            }
            Outgoing::Bytes(bytes) if bytes.is_empty() => return,
            Outgoing::Bytes(bytes) => bytes,
        };
        if slot.sending {
            slot.unsent = Some(match slot.unsent.take() {
                None => bytes,
                Some(waiting) => {
                    let mut joined = BytesMut::from(waiting);
                    joined.extend_from_slice(&bytes);
                    joined.freeze()
                }
            });
            return;
        }
        self.send_tracked(idx, bytes);
    }

    /// Sends the connection's own `bytes`, tracked until the send completes.
    pub(super) fn send_tracked(&mut self, idx: usize, bytes: Bytes) {
        let slot = &mut self.slots[idx];
        slot.sending = true;
        self.kernel.send_bytes(slot.fd, user_data(slot.generation, idx, OP_SEND_TRACKED), bytes);
    }

    /// Sets the socket's receive low-water mark when the machine asks for
    /// another one (see [`crate::engine::Connection::low_water_change`]).
    pub(super) fn low_water(&mut self, idx: usize) {
        let slot = &mut self.slots[idx];
        if slot.fd >= 0
            && let Some(bytes) = slot.conn.low_water_change()
        {
            crate::engine::sockopt::set_receive_low_water(slot.fd, bytes);
        }
    }

    /// Arms a receive on the slot's socket unless one is armed.
    pub(super) fn ensure_recv(&mut self, idx: usize) {
        let slot = &mut self.slots[idx];
        if slot.fd < 0 || slot.recv_armed || slot.connecting {
            return;
        }
        slot.recv_armed = true;
        self.kernel.recv(slot.fd, user_data(slot.generation, idx, OP_RECV));
    }
}
