//! Socket operations of the io_uring worker: open a socket and queue its
//! connect, close a slot (cancelling what is in flight), queue the request's
//! send and arm the receive. The memory every operation uses belongs to the
//! worker's [`super::Kernel`].
#![allow(unsafe_code, reason = "socket syscalls")]

use std::io;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::{
    OP_CANCEL, OP_CONNECT, OP_CONNECT_TIMEOUT, OP_RECV, OP_RECV_STAMPED, OP_SEND, OP_SEND_TRACKED, RingWorker,
    user_data,
};
use crate::engine::connection::Outgoing;
use crate::sock::stamp;

impl<M: super::RingMachine> RingWorker<'_, M> {
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
        let recv_op = if slot.recv_stamped { OP_RECV_STAMPED } else { OP_RECV };
        slot.fd = -1;
        slot.generation = generation.wrapping_add(1);
        slot.recv_armed = false;
        slot.recv_stamped = false;
        slot.recv_switching = false;
        slot.stamps = None;
        slot.connecting = false;
        slot.sending = false;
        slot.unsent = None;
        let cancel = user_data(generation, idx, OP_CANCEL);
        if recv_armed {
            self.kernel.cancel(user_data(generation, idx, recv_op), cancel);
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
            crate::sock::options::set_receive_low_water(slot.fd, bytes);
        }
    }

    /// Arms a receive on the slot's socket unless one is armed: a stamped
    /// one while the machine reads an event stream (and the kernel agrees
    /// to stamp), else the plain one. A plain receive armed when a stamped
    /// one is wanted (it brought the stream's head) is cancelled, and its
    /// last completion arms the stamped one.
    pub(super) fn ensure_recv(&mut self, idx: usize) {
        let slot = &mut self.slots[idx];
        if slot.fd < 0 || slot.connecting {
            return;
        }
        let fd = slot.fd;
        let stamped = slot.conn.wants_arrival_stamps() && *slot.stamps.get_or_insert_with(|| stamp::enable(fd));
        if slot.recv_armed {
            if stamped && !slot.recv_stamped && !slot.recv_switching {
                slot.recv_switching = true;
                let (target, cancel) =
                    (user_data(slot.generation, idx, OP_RECV), user_data(slot.generation, idx, OP_CANCEL));
                self.kernel.cancel(target, cancel);
            }
            return;
        }
        slot.recv_armed = true;
        slot.recv_stamped = stamped;
        if stamped {
            self.kernel.recv_stamped(fd, user_data(slot.generation, idx, OP_RECV_STAMPED), self.stamped_read_bytes);
        } else {
            self.kernel.recv(fd, user_data(slot.generation, idx, OP_RECV));
        }
    }
}
