//! Completion handling for the io_uring worker: what each finished
//! operation (connect, send, receive, cancel) means for its slot.

use std::io;
use std::time::Instant;

use super::{
    OP_CANCEL, OP_CONNECT, OP_CONNECT_TIMEOUT, OP_RECV, OP_RECV_STAMPED, OP_SEND, OP_SEND_TRACKED, OP_TEARDOWN,
    RingWorker, decode,
};
use crate::engine::errno::{classify, classify_connect};
use crate::engine::uring::kernel::Cqe;

impl<M: super::RingMachine> RingWorker<'_, M> {
    pub(super) fn complete(&mut self, cqe: Cqe, now: Instant) {
        let (generation, idx, op) = decode(cqe.user_data);
        if op == OP_TEARDOWN {
            self.kernel.done();
            return;
        }
        if idx >= self.slots.len() {
            return;
        }
        let stale = self.slots[idx].generation != generation;
        match op {
            OP_CANCEL | OP_CONNECT_TIMEOUT => self.kernel.done(),
            OP_CONNECT => {
                self.kernel.done();
                if !stale {
                    self.on_connect(idx, cqe.result, now);
                }
            }
            OP_SEND | OP_SEND_TRACKED => {
                if op == OP_SEND_TRACKED {
                    self.kernel.send_done(cqe.user_data);
                }
                if stale {
                    return;
                }
                let slot = &mut self.slots[idx];
                if cqe.result < 0 && slot.waiting() {
                    let kind = classify(&io::Error::from_raw_os_error(-cqe.result));
                    slot.conn.handle_io_error(kind, now, &self.shared.plan.requests);
                    self.drive(idx, now);
                } else if op == OP_SEND_TRACKED {
                    slot.sending = false;
                    if let Some(bytes) = slot.unsent.take() {
                        self.send_tracked(idx, bytes);
                    }
                }
            }
            OP_RECV | OP_RECV_STAMPED => self.on_recv(idx, stale, cqe, now),
            _ => {}
        }
    }

    fn on_connect(&mut self, idx: usize, res: i32, now: Instant) {
        self.slots[idx].connecting = false;
        if res == 0 {
            self.dialer.connected(self.slots[idx].attempt);
            self.policy.connected(now - self.slots[idx].connect_started, now);
            self.slots[idx].conn.handle_connected(Ok(()), now);
            self.drive(idx, now);
            return;
        }
        // A connect cancelled by its linked timeout (closing the slot bumps
        // the generation, so a cancel of ours never gets here).
        let errno = if -res == libc::ECANCELED { libc::ETIMEDOUT } else { -res };
        let mut error = io::Error::from_raw_os_error(errno);
        self.close(idx);
        while let Some(next) = self.dialer.after(self.slots[idx].attempt, self.shared.plan.addrs.len()) {
            self.slots[idx].attempt = next;
            match self.open(idx) {
                Ok(()) => return,
                Err(e) => error = e,
            }
        }
        self.slots[idx].conn.handle_connected(Err(classify_connect(&error)), now);
        self.drive(idx, now);
    }

    fn on_recv(&mut self, idx: usize, stale: bool, cqe: Cqe, now: Instant) {
        if stale {
            // Only the buffer goes back.
            self.kernel.received(&cqe, |_, _| ());
            return;
        }
        // A plain receive we cancelled to arm a stamped one ends so.
        let switched = self.slots[idx].recv_switching && cqe.result == -libc::ECANCELED;
        if cqe.is_final() {
            let slot = &mut self.slots[idx];
            (slot.recv_armed, slot.recv_stamped, slot.recv_switching) = (false, false, false);
        }
        let requests = &self.shared.plan.requests;
        let slot = &mut self.slots[idx];
        // On an idle connection only TLS's own messages are expected: the
        // machine tells, and closes the connection for anything else.
        let busy = slot.waiting();
        let conn = &mut slot.conn;
        // The bytes go to the machine before their buffer is given back.
        self.kernel.received(&cqe, |data, stamp| match stamp {
            _ if data.is_empty() => {}
            Some(stamp) => conn.handle_stamped_data(data, now, stamp.instant(), requests),
            None => conn.handle_data(data, now, requests),
        });
        let res = cqe.result;
        if switched {
            // Not a failure: `drive` arms the stamped receive in its place,
            // or, if the stream ended meanwhile, this keeps watching the
            // idle connection for a close.
            if !busy && self.slots[idx].conn.is_connected() {
                self.ensure_recv(idx);
            }
        } else if res == 0 {
            self.slots[idx].conn.handle_eof(now, requests);
        } else if -res == libc::ENOBUFS {
            // Out of buffers: the pool grows (until whole), and the receive is
            // re-armed in turn once this batch has returned its buffers.
            self.kernel.out_of_buffers();
            if busy && !self.slots[idx].starved {
                self.slots[idx].starved = true;
                self.starved.push_back(idx);
            }
            return;
        } else if res < 0 {
            let kind = classify(&io::Error::from_raw_os_error(-res));
            self.slots[idx].conn.handle_io_error(kind, now, requests);
        } else if !busy && cqe.is_final() && self.slots[idx].conn.is_connected() {
            // A session ticket or the like on an idle connection: keep watching.
            self.ensure_recv(idx);
        }
        if !M::DRIVE_AFTER_BATCH {
            self.drive(idx, now);
        } else if !self.slots[idx].drive_due {
            self.slots[idx].drive_due = true;
            self.drive_due.push(idx);
        }
    }
}
