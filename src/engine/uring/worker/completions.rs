//! Completion handling for the io_uring worker: what each finished
//! operation (connect, send, receive, cancel) means for its slot.

use std::io;
use std::time::Instant;

use super::{
    OP_CANCEL, OP_CONNECT, OP_CONNECT_TIMEOUT, OP_RECV, OP_SEND, OP_SEND_TRACKED, OP_TEARDOWN, Worker, decode,
};
use crate::engine::uring::kernel::Cqe;
use crate::engine::{classify, classify_connect};

impl Worker<'_> {
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
                    let shared = self.shared;
                    let action = slot.ex.on_recv_error(kind, now, &shared.plan.template);
                    self.apply(idx, action, now);
                } else if op == OP_SEND_TRACKED {
                    slot.sending = false;
                    if let Some(bytes) = slot.unsent.take() {
                        self.send_tracked(idx, bytes);
                    }
                }
            }
            OP_RECV => self.on_recv(idx, stale, cqe, now),
            _ => {}
        }
    }

    fn on_connect(&mut self, idx: usize, res: i32, now: Instant) {
        self.slots[idx].connecting = false;
        if res == 0 {
            self.dialer.connected(self.slots[idx].attempt);
            self.policy.connected(now - self.slots[idx].connect_started, now);
            let action = self.slots[idx].ex.on_connect(Ok(()), now);
            self.apply(idx, action, now);
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
        let action = self.slots[idx].ex.on_connect(Err(classify_connect(&error)), now);
        self.apply(idx, action, now);
    }

    fn on_recv(&mut self, idx: usize, stale: bool, cqe: Cqe, now: Instant) {
        if cqe.is_final() && !stale {
            self.slots[idx].recv_armed = false;
        }
        let shared = self.shared;
        let template = &shared.plan.template;
        let slot = &mut self.slots[idx];
        let busy = slot.waiting() && !stale;
        let mut usable = true;
        // The bytes go to the machine before their buffer is given back;
        // on an idle connection only TLS's own messages are expected.
        let data = self.kernel.received(&cqe, |data| match data {
            [] => None,
            _ if busy => Some(slot.ex.on_data(data, now, template)),
            _ if !stale => {
                usable = slot.ex.on_idle_data(data);
                None
            }
            _ => None,
        });
        if stale {
            return;
        }
        let res = cqe.result;
        if res > 0 && !busy && usable {
            // A session ticket or the like: keep watching.
            if cqe.is_final() {
                self.ensure_recv(idx);
            }
            return;
        }
        let action = if res > 0 {
            data
        } else if res == 0 {
            busy.then(|| self.slots[idx].ex.on_eof(now, template))
        } else if -res == libc::ENOBUFS {
            // Out of buffers: re-armed in turn once this batch has returned its buffers.
            if busy && !self.slots[idx].starved {
                self.slots[idx].starved = true;
                self.starved.push_back(idx);
            }
            return;
        } else {
            let kind = classify(&io::Error::from_raw_os_error(-res));
            busy.then(|| self.slots[idx].ex.on_recv_error(kind, now, template))
        };
        match action {
            Some(action) => self.apply(idx, action, now),
            None => {
                // Bytes or a close on an idle connection: it cannot be reused.
                self.close(idx);
                self.slots[idx].ex.connection_lost();
            }
        }
    }
}
