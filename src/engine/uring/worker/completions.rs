//! Completion handling for the io_uring worker: what each finished
//! operation (connect, send, receive, cancel) means for its slot.

use std::io;
use std::time::Instant;

use io_uring::cqueue;

use super::{OP_CANCEL, OP_CONNECT, OP_CONNECT_TIMEOUT, OP_RECV, OP_SEND, OP_SEND_TRACKED, Worker, decode};
use crate::engine::exchange::Exchange;
use crate::engine::{classify, classify_connect};
use crate::stats::nanos;

impl Worker<'_> {
    pub(super) fn complete(&mut self, ud: u64, res: i32, flags: u32, now: Instant) {
        let (generation, idx, op) = decode(ud);
        if idx >= self.slots.len() {
            return;
        }
        let stale = self.slots[idx].generation != generation;
        match op {
            OP_CANCEL | OP_CONNECT_TIMEOUT => self.pending -= 1,
            OP_CONNECT => {
                self.pending -= 1;
                if !stale {
                    self.on_connect(idx, res, now);
                }
            }
            OP_SEND | OP_SEND_TRACKED => {
                if op == OP_SEND_TRACKED {
                    self.pending -= 1;
                    if let Some(pos) = self.kept.iter().position(|(k, _)| *k == ud) {
                        self.kept.swap_remove(pos);
                    }
                }
                if res < 0 && !stale && self.slots[idx].busy {
                    let kind = classify(&io::Error::from_raw_os_error(-res));
                    let shared = self.shared;
                    let action = self.slots[idx].ex.on_recv_error(kind, now, &shared.plan.template);
                    self.apply(idx, action, now);
                }
            }
            OP_RECV => self.on_recv(idx, stale, res, flags, now),
            _ => {}
        }
    }

    fn on_connect(&mut self, idx: usize, res: i32, now: Instant) {
        self.slots[idx].connecting = false;
        // Before the start only pre-connects run; after it, only busy slots connect.
        let busy = self.slots[idx].busy;
        if res == 0 {
            self.dialer.connected(self.slots[idx].attempt);
            self.policy.stats.connected(nanos(now - self.slots[idx].connect_started));
            if busy {
                let action = self.slots[idx].ex.on_connect(Ok(()), now);
                self.apply(idx, action, now);
            } else {
                self.preconnecting = self.preconnecting.saturating_sub(1);
                self.slots[idx].ex = Exchange::new(true, now);
                self.ensure_recv(idx);
            }
            return;
        }
        // A connect cancelled by its linked timeout (closing the slot bumps
        // the generation, so a cancel of ours never gets here).
        let errno = if -res == libc::ECANCELED { libc::ETIMEDOUT } else { -res };
        let mut error = io::Error::from_raw_os_error(errno);
        self.close(idx);
        while let Some(next) = self.dialer.after(self.slots[idx].attempt, self.addrs.len()) {
            self.slots[idx].attempt = next;
            match self.open(idx) {
                Ok(()) => return,
                Err(e) => error = e,
            }
        }
        if busy {
            let action = self.slots[idx].ex.on_connect(Err(classify_connect(&error)), now);
            self.apply(idx, action, now);
        } else {
            self.preconnecting = self.preconnecting.saturating_sub(1);
            self.policy.stats.preconnect_failures += 1;
        }
    }

    fn on_recv(&mut self, idx: usize, stale: bool, res: i32, flags: u32, now: Instant) {
        let more = cqueue::more(flags);
        let bid = cqueue::buffer_select(flags);
        if !more {
            self.pending -= 1;
            if !stale {
                self.slots[idx].recv_armed = false;
            }
        }
        if stale {
            if let (Some(bid), Some(bufs)) = (bid, self.bufs.as_mut()) {
                if res > 0 {
                    bufs.data(bid, res as usize);
                }
                bufs.release(bid, flags);
            }
            return;
        }
        let shared = self.shared;
        let template = &shared.plan.template;
        let busy = self.slots[idx].busy;
        let action = if res > 0 {
            let slot = &mut self.slots[idx];
            let data: &[u8] = match (bid, self.bufs.as_mut()) {
                (Some(bid), Some(bufs)) => bufs.data(bid, res as usize),
                _ => &slot.buf[..res as usize],
            };
            let action = busy.then(|| slot.ex.on_data(data, now, template));
            if let (Some(bid), Some(bufs)) = (bid, self.bufs.as_mut()) {
                bufs.release(bid, flags);
            }
            action
        } else if res == 0 {
            busy.then(|| self.slots[idx].ex.on_eof(now, template))
        } else if -res == libc::ENOBUFS {
            // Out of buffers: grow the pool (once per batch), and re-arm once
            // this batch has returned its buffers.
            if let Some(bufs) = self.bufs.as_mut().filter(|_| !self.grew) {
                self.grew = bufs.grow();
            }
            if busy {
                self.rearm.push(idx);
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
