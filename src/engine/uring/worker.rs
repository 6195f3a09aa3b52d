//! One io_uring worker: a ring, a slab of connection slots indexed by the
//! completion's `user_data`, and one loop that pushes every ready submission,
//! waits once in the ring (bounded by the next deadline or wake-up), and
//! handles every completion. Protocol decisions come from the shared
//! [`Exchange`] machine; this file only moves bytes.
//!
//! `user_data` = generation (32 bits) | slot (24 bits) | operation (8 bits).
//! Closing a slot's socket bumps its generation, so completions of
//! operations on an old socket are recognised as stale and only accounted.
//! Request deadlines live in the slots and are swept when the earliest is
//! due. Every operation whose completion is expected is counted in `pending`;
//! teardown waits for that count to reach zero before the buffers go away.
//! Connects carry a linked timeout (`--connect-timeout`). Under `--rate` a
//! free slot claims its next start from the worker's [`Schedule`] and waits
//! for it in the wake-up heap; the ring's timed wait is nanosecond-precise.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use bytes::Bytes;
use io_uring::{IoUring, squeue, types};

use super::bufring::BufRing;
use super::{Features, build_ring, pin_to};
use crate::engine::exchange::{Action, Exchange, Finished};
use crate::engine::policy::Attempt;
use crate::engine::{Dialer, Job, Next, Policy, SPIN_AHEAD, Shared, SlotTiming, classify_connect};

mod completions;
mod ops;

use ops::{RawAddr, raw_addr};

const OP_CONNECT: u64 = 1;
/// A send of the shared request, with CQE_SKIP_SUCCESS: only failures complete.
const OP_SEND: u64 = 2;
/// A send of a redirect hop's own bytes, tracked until it completes.
const OP_SEND_TRACKED: u64 = 3;
const OP_RECV: u64 = 4;
const OP_CANCEL: u64 = 5;
/// The timeout linked to a connect.
const OP_CONNECT_TIMEOUT: u64 = 6;

/// Longest wait in the ring, so that an abort (Ctrl-C) is seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(50);
/// Longest wait for outstanding operations at teardown.
const TEARDOWN_LIMIT: Duration = Duration::from_secs(2);
/// Receive buffer of a slot when multishot receives are not available.
const SINGLE_SHOT_BUFFER: usize = 16 * 1024;

fn user_data(generation: u32, slot: usize, op: u64) -> u64 {
    (u64::from(generation) << 32) | ((slot as u64) << 8) | op
}

fn decode(user_data: u64) -> (u32, usize, u64) {
    ((user_data >> 32) as u32, ((user_data >> 8) & 0xff_ffff) as usize, user_data & 0xff)
}

/// One connection slot.
struct Slot {
    fd: RawFd,
    generation: u32,
    ex: Exchange,
    /// A request is in progress.
    busy: bool,
    /// When the current request times out.
    deadline: Option<Instant>,
    recv_armed: bool,
    connecting: bool,
    connect_started: Instant,
    /// The connection attempt in progress (which address, how many tried).
    attempt: Attempt,
    /// No request is left: the slot is done.
    retired: bool,
    /// When the policy lets the slot start next.
    timing: SlotTiming,
    /// Receive buffer in single-shot mode (empty with a buffer ring).
    buf: Box<[u8]>,
}

pub(super) struct Worker<'a> {
    // Field order matters: the ring is dropped before the buffers it uses.
    ring: IoUring,
    bufs: Option<BufRing>,
    shared: &'a Shared,
    policy: Policy<'a>,
    addrs: Vec<RawAddr>,
    dialer: Dialer,
    slots: Vec<Slot>,
    /// Earliest deadline among requests in flight, when one must be checked.
    /// Slots keep their own deadlines; a sweep happens only when this is
    /// due, so memory stays one `Option<Instant>` per slot.
    next_check: Option<Instant>,
    wakeups: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Completions still expected (sends of the shared request excepted).
    pending: usize,
    rearm: Vec<usize>,
    /// The buffer pool already grew during this batch of completions.
    grew: bool,
    cqes: Vec<(u64, i32, u32)>,
    /// Redirect-hop bytes handed to the kernel, by user_data, until their send completes.
    kept: Vec<(u64, Bytes)>,
    /// Connects in flight before the start (at most `shared.preconnect_parallel`).
    preconnecting: usize,
    /// Sockets given up by their slots, closed once the submissions that
    /// name them have reached the kernel (see [`Worker::submit`]).
    closing: Vec<RawFd>,
    /// `--connect-timeout`, in the form a linked timeout reads (it must
    /// outlive the submission, so it lives here).
    connect_limit: Option<types::Timespec>,
}

impl<'a> crate::engine::Worker<'a> for Worker<'a> {
    fn policy(&mut self) -> &mut Policy<'a> {
        &mut self.policy
    }

    fn preconnect(&mut self) {
        Worker::preconnect(self);
    }

    fn work(&mut self) {
        Worker::work(self);
    }

    fn teardown(&mut self) {
        Worker::teardown(self);
    }
}

impl<'a> Worker<'a> {
    /// The worker for `job`, pinned to its CPU, with its ring and buffers.
    pub(super) fn new(job: Job<'a>, policy: Policy<'a>, features: Features) -> io::Result<Worker<'a>> {
        let cpus = crate::load::allowed_cpus();
        if !cpus.is_empty() {
            pin_to(cpus[job.index % cpus.len()]);
        }
        let ring = build_ring(job.connections, features.defer_taskrun)?;
        let bufs = if features.multishot {
            // Incremental buffers are shared by many receives: few and large.
            // Either way the pool starts at 1-2 MiB and may grow to 16 MiB.
            let (block, max, size) = if features.incremental { (16, 256, 64 * 1024) } else { (512, 4096, 4 * 1024) };
            Some(BufRing::register(&ring, block, max, size, 1, features.incremental)?)
        } else {
            None
        };
        let now = Instant::now();
        let buf_len = if bufs.is_some() { 0 } else { SINGLE_SHOT_BUFFER };
        let slots = (0..job.connections)
            .map(|_| Slot {
                fd: -1,
                generation: 0,
                ex: Exchange::new(false, now),
                busy: false,
                deadline: None,
                recv_armed: false,
                connecting: false,
                connect_started: now,
                attempt: Attempt::default(),
                retired: false,
                timing: SlotTiming::default(),
                buf: vec![0; buf_len].into_boxed_slice(),
            })
            .collect();
        let plan = &job.shared.plan;
        Ok(Worker {
            ring,
            bufs,
            shared: job.shared,
            policy,
            addrs: plan.addrs.iter().map(raw_addr).collect(),
            dialer: Dialer::default(),
            slots,
            next_check: None,
            wakeups: BinaryHeap::new(),
            pending: 0,
            rearm: Vec::new(),
            grew: false,
            cqes: Vec::new(),
            kept: Vec::new(),
            preconnecting: 0,
            closing: Vec::new(),
            connect_limit: plan.connect_timeout.map(|t| types::Timespec::new().sec(t.as_secs()).nsec(t.subsec_nanos())),
        })
    }

    /// Queues a submission, flushing the queue to the kernel when it is full.
    fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: every buffer and address an entry points to outlives its
            // operation: the shared request lives in the plan for the whole
            // run, hop bytes are kept in `kept` until their completion, slot
            // buffers, addresses and the buffer ring live until teardown has
            // seen every pending completion.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
            self.submit();
        }
    }

    /// Hands every queued submission to the kernel, then closes the sockets
    /// whose last submissions have gone out. A socket closed while an entry
    /// naming its descriptor still sat in the queue could be replaced by a
    /// new socket with the same number, and the entry (a send of the old
    /// request) would then act on the new connection: the request would
    /// reach the server twice. Once submitted, an operation holds its own
    /// reference to the socket, so closing the number is safe.
    fn submit(&mut self) {
        let _ = self.ring.submit();
        self.close_submitted();
    }

    /// Closes the deferred sockets once nothing queued can name them.
    fn close_submitted(&mut self) {
        if self.closing.is_empty() || !self.ring.submission().is_empty() {
            return;
        }
        for fd in self.closing.drain(..) {
            // SAFETY: the slot gave up `fd` in `close` and nothing else owns it.
            unsafe { libc::close(fd) };
        }
    }

    /// Submits what is queued and waits for at least one completion or `wait`.
    fn submit_and_wait(&mut self, wait: Duration) {
        let ts = types::Timespec::new().sec(wait.as_secs()).nsec(wait.subsec_nanos());
        let args = types::SubmitArgs::new().timespec(&ts);
        // ETIME (the wait elapsed), EINTR and EBUSY (completions to reap first)
        // are part of normal operation; the loop reaps and comes back.
        let _ = self.ring.submitter().submit_with_args(1, &args);
        self.close_submitted();
    }

    /// Handles every completion that has arrived.
    fn reap(&mut self, now: Instant) {
        self.cqes.clear();
        self.grew = false;
        self.cqes.extend(self.ring.completion().map(|c| (c.user_data(), c.result(), c.flags())));
        for i in 0..self.cqes.len() {
            let (ud, res, flags) = self.cqes[i];
            self.complete(ud, res, flags, now);
        }
        for idx in std::mem::take(&mut self.rearm) {
            if self.slots[idx].busy {
                self.ensure_recv(idx);
            }
        }
    }

    /// Opens every connection before the start, a bounded number at a time.
    fn preconnect(&mut self) {
        let deadline = Instant::now() + self.shared.plan.preconnect_timeout;
        let mut next = 0;
        loop {
            while next < self.slots.len() && self.preconnecting < self.shared.preconnect_parallel {
                self.slots[next].attempt = self.dialer.first();
                if self.open(next).is_ok() {
                    self.preconnecting += 1;
                } else {
                    self.policy.stats.preconnect_failures += 1;
                }
                next += 1;
            }
            let now = Instant::now();
            if next == self.slots.len() && self.preconnecting == 0 {
                return;
            }
            if now >= deadline {
                for idx in 0..self.slots.len() {
                    if self.slots[idx].connecting {
                        self.close(idx);
                        self.policy.stats.preconnect_failures += 1;
                    }
                }
                self.preconnecting = 0;
                next = self.slots.len();
            }
            self.submit_and_wait(MAX_WAIT.min(deadline.saturating_duration_since(now)));
            self.reap(Instant::now());
        }
    }

    /// The run: start every slot, then turn the loop until nothing is left.
    fn work(&mut self) {
        let end = self.policy.end();
        let now = Instant::now();
        for idx in 0..self.slots.len() {
            self.start_next(idx, now);
        }
        loop {
            let now = Instant::now();
            if self.shared.abort.is_set() || end.is_some_and(|e| now >= e) {
                return;
            }
            self.expire(now);
            self.wake(now);
            if self.policy.in_flight == 0 && self.wakeups.is_empty() {
                return;
            }
            let mut wake = self.wakeups.peek().map(|w| w.0.0);
            if self.policy.scheduled() {
                if wake.is_some_and(|at| at <= now + SPIN_AHEAD) {
                    // A scheduled start is close: poll the ring without sleeping.
                    self.submit();
                    self.reap(Instant::now());
                    self.policy.spun += now.elapsed();
                    continue;
                }
                wake = wake.map(|at| at - SPIN_AHEAD);
            }
            let mut until = now + MAX_WAIT;
            until = until.min(self.next_check.unwrap_or(until));
            until = until.min(wake.unwrap_or(until));
            until = until.min(end.unwrap_or(until));
            self.submit_and_wait(until.saturating_duration_since(now));
            self.reap(Instant::now());
        }
    }

    /// Closes every socket and waits until the kernel has returned every
    /// operation, so no buffer or descriptor outlives its use.
    fn teardown(&mut self) {
        for idx in 0..self.slots.len() {
            self.close(idx);
        }
        let limit = Instant::now() + TEARDOWN_LIMIT;
        while self.pending > 0 && Instant::now() < limit {
            self.submit_and_wait(MAX_WAIT);
            self.reap(Instant::now());
        }
        self.submit();
        for fd in self.closing.drain(..) {
            // SAFETY: as in `close_submitted`; the ring is not used again.
            unsafe { libc::close(fd) };
        }
    }

    /// Times out requests whose deadline passed, once the earliest is due.
    fn expire(&mut self, now: Instant) {
        if self.next_check.is_none_or(|at| at > now) {
            return;
        }
        for idx in 0..self.slots.len() {
            let slot = &self.slots[idx];
            if slot.busy && slot.deadline.is_some_and(|d| d <= now) {
                self.close(idx);
                let finished = self.slots[idx].ex.on_timeout(now);
                self.finish(idx, finished, now);
            }
        }
        self.next_check = self.slots.iter().filter(|s| s.busy).filter_map(|s| s.deadline).min();
    }

    /// Starts the slots whose pause (pacing or backoff) is over.
    fn wake(&mut self, now: Instant) {
        while let Some(&Reverse((at, idx))) = self.wakeups.peek() {
            if at > now {
                return;
            }
            self.wakeups.pop();
            self.start_next(idx, now);
        }
    }

    /// Begins the slot's next request when the policy says so.
    fn start_next(&mut self, idx: usize, now: Instant) {
        let intended = match self.policy.next(&mut self.slots[idx].timing, now) {
            Next::Retire => {
                self.slots[idx].retired = true;
                return;
            }
            Next::Wait(at) => {
                self.wakeups.push(Reverse((at, idx)));
                return;
            }
            Next::Start { intended } => intended,
        };
        let slot = &mut self.slots[idx];
        slot.busy = true;
        slot.deadline = self.shared.plan.timeout.map(|t| intended + t);
        self.next_check = match (self.next_check, slot.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let action = slot.ex.begin(intended, now);
        self.apply(idx, action, now);
    }

    /// Carries out the machine's actions until it waits for the kernel.
    fn apply(&mut self, idx: usize, mut action: Action, now: Instant) {
        let shared = self.shared;
        let template = &shared.plan.template;
        loop {
            action = match action {
                Action::Connect => {
                    self.close(idx);
                    self.slots[idx].attempt = self.dialer.first();
                    match self.open(idx) {
                        Ok(()) => return,
                        Err(e) => self.slots[idx].ex.on_connect(Err(classify_connect(&e)), now),
                    }
                }
                // The send completes without a CQE on success, so the machine
                // moves on at once (the write phase is not observed); its Recv
                // arms the receive right after.
                Action::Send => {
                    self.send(idx);
                    self.slots[idx].ex.on_sent_unobserved(now, template)
                }
                Action::Recv => {
                    self.ensure_recv(idx);
                    return;
                }
                Action::Finish(finished) => {
                    self.finish(idx, finished, now);
                    return;
                }
            }
        }
    }

    /// Records a finished request and moves the slot on.
    fn finish(&mut self, idx: usize, finished: Finished, now: Instant) {
        let slot = &mut self.slots[idx];
        slot.busy = false;
        slot.deadline = None;
        self.policy.finish(&mut slot.timing, &finished, slot.ex.backoff(), now);
        if !finished.keep_conn {
            self.close(idx);
        }
        self.start_next(idx, now);
    }
}
