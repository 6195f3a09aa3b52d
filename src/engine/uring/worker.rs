//! One io_uring worker: a ring, a slab of connection slots indexed by the
//! completion's `user_data`, and one loop that pushes every ready submission,
//! waits once in the ring (bounded by the next deadline or wake-up), and
//! handles every completion. Protocol decisions and deadlines are the
//! shared [`Connection`] machine's; this file only moves bytes and wakes
//! each machine at the instant it asks for.
//!
//! `user_data` = generation (32 bits) | slot (24 bits) | operation (8 bits).
//! Closing a slot's socket bumps its generation, so completions of
//! operations on an old socket are recognised as stale and only accounted.
//! Deadlines live in the machines and are swept when the earliest is due. Every operation whose completion is expected is counted in `pending`;
//! teardown waits for that count to reach zero before the buffers go away.
//! Connects carry a linked timeout (`--connect-timeout`). Under `--rate` a
//! free slot claims its next start from the worker's [`Schedule`] and waits
//! for it in the wake-up heap; the ring's timed wait is nanosecond-precise.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::batch::{Gatherer, WaitBatch};
use super::bufring::Shape;
use super::kernel::{Cqe, Kernel, raw_addr};
use super::{Features, build_ring, pin_to};
use crate::engine::connection::Io;
use crate::engine::errno::classify_connect;
use crate::engine::lifecycle::{Job, Worker};
use crate::engine::policy::{Attempt, Dialer, Policy};
use crate::engine::schedule::SPIN_AHEAD;
use crate::engine::shared::Shared;

mod completions;
mod machine;
mod ops;

use machine::Handled;
pub(super) use machine::{H1Machine, H2Machine, RingMachine};

/// Completions handled between two readings of the clock (see `reap`).
const CLOCK_EVERY: usize = 32;
/// The longest a batch of completions holds back what it queued: at
/// 10,000 event streams started together, handing the sends over only at
/// the batch's end put TTFT 1.6 ms over the server's truth; within 0.5 ms
/// with this.
const SUBMIT_EVERY: Duration = Duration::from_micros(100);

const OP_CONNECT: u64 = 1;
/// A send of the shared request, with CQE_SKIP_SUCCESS: only failures complete.
const OP_SEND: u64 = 2;
/// A send of a connection's own bytes (a redirect hop's request, TLS
/// ciphertext), tracked until it completes; one at a time per connection.
const OP_SEND_TRACKED: u64 = 3;
const OP_RECV: u64 = 4;
/// A single receive that brings the kernel's arrival stamp (event streams).
const OP_RECV_STAMPED: u64 = 8;
const OP_CANCEL: u64 = 5;
/// The timeout linked to a connect.
const OP_CONNECT_TIMEOUT: u64 = 6;
/// The cancel-all of teardown (slot 0; not tied to any slot).
const OP_TEARDOWN: u64 = 7;

/// Longest wait in the ring, so that an abort (Ctrl-C) is seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(50);
/// Longest wait for outstanding operations at teardown (beyond it their
/// memory is leaked, never freed: see [`Kernel`]).
const TEARDOWN_LIMIT: Duration = Duration::from_secs(2);

/// Most bytes of incremental receive buffers per ring unless a test squeezes them: the
/// same bound at every -c (see `bufring`: a pool that fits in the caches
/// receives large bodies fastest; the re-arm budget keeps every connection
/// progressing). The pool starts with two buffers and grows toward it only
/// when receives run out.
const POOL_BYTES: usize = 1 << 20;
/// Size of an incremental buffer: a few hundred small responses share one.
const INCREMENTAL_BUFFER_BYTES: u32 = 64 * 1024;
/// Most bytes receives write into whole buffers per ring (older kernels):
/// 16 full ones. 2 MiB (32) kept a run with 58 KiB bodies at -c 50 1 MB
/// above wrk's peak RSS, for no more requests per second (4 rounds at -c 50
/// to 10000, and 1 MiB bodies, all within the rounds' spread).
const WHOLE_TOUCH_BYTES: usize = 1 << 20;
/// Whole buffers per ring: small responses run out of buffers by count,
/// not bytes (32 made 5 B bodies at -c 10000 10% slower).
const WHOLE_BUFFERS: u16 = 64;
/// Size of a whole buffer: a 58 KiB response arrives in one receive.
const WHOLE_BUFFER_BYTES: u32 = 64 * 1024;

/// The receive buffer pool for `limit` bytes (the default when `None`).
/// Incremental buffers are shared by many receives, so they are few and
/// large. Without them (kernels before 6.12) each receive takes a whole
/// buffer, and a response takes a completion per buffer it fills: 64 KiB
/// buffers take 58 KiB bodies in one (against 32 KiB ones, in one set of
/// 5 rounds: +6% at -c 50 and 500, +1% at 1000, +18% at 10000). The pool
/// holds [`WHOLE_BUFFERS`] while responses are small and circulates only
/// what its written-bytes bound fits once receives fill them (`bufring`);
/// a test's squeeze holds twice what it fits.
fn buffer_pool(limit: Option<usize>, incremental: bool) -> Shape {
    let most = usize::from(u16::MAX >> 1);
    if incremental {
        let bytes = limit.unwrap_or(POOL_BYTES);
        let count = (bytes / INCREMENTAL_BUFFER_BYTES as usize).clamp(1, most) as u16;
        return Shape::filled(count, INCREMENTAL_BUFFER_BYTES, true);
    }
    let (count, touch_bytes) = match limit {
        None => (WHOLE_BUFFERS, WHOLE_TOUCH_BYTES),
        Some(bytes) => ((bytes.saturating_mul(2) / WHOLE_BUFFER_BYTES as usize).clamp(1, most) as u16, bytes),
    };
    Shape { count, size: WHOLE_BUFFER_BYTES, touch_bytes, incremental: false }
}

fn user_data(generation: u32, slot: usize, op: u64) -> u64 {
    (u64::from(generation) << 32) | ((slot as u64) << 8) | op
}

fn decode(user_data: u64) -> (u32, usize, u64) {
    ((user_data >> 32) as u32, ((user_data >> 8) & 0xff_ffff) as usize, user_data & 0xff)
}

impl<M: RingMachine> SocketSlot<M> {
    /// A request, or the opening of a connection before the start, waits
    /// for this slot's socket.
    fn waiting(&self) -> bool {
        !self.conn.is_idle()
    }
}

/// One connection slot: the socket and its machine.
struct SocketSlot<M> {
    fd: RawFd,
    generation: u32,
    /// The protocol machine, with the timing of what it carries.
    conn: M,
    /// A tracked send is in flight on the socket.
    sending: bool,
    /// Bytes to send once it completes (TLS output queued meanwhile).
    unsent: Option<Bytes>,
    recv_armed: bool,
    /// The armed receive is a stamped one ([`OP_RECV_STAMPED`]).
    recv_stamped: bool,
    /// The armed plain receive is being cancelled, to be replaced by a
    /// stamped one when its last completion comes.
    recv_switching: bool,
    /// Whether the socket asked the kernel for arrival stamps (`None`: not
    /// yet), and the kernel agreed.
    stamps: Option<bool>,
    /// Queued in `RingWorker::starved`.
    starved: bool,
    /// Queued in `RingWorker::drive_due`.
    drive_due: bool,
    connecting: bool,
    connect_started: Instant,
    /// The connection attempt in progress (which address, how many tried).
    attempt: Attempt,
}

pub(super) struct RingWorker<'a, M> {
    /// The ring and all memory handed to the kernel.
    kernel: Kernel,
    shared: &'a Shared,
    policy: Policy<'a>,
    dialer: Dialer,
    slots: Vec<SocketSlot<M>>,
    /// Earliest deadline among the machines, when one must be checked.
    /// The machines keep their own deadlines; a sweep happens only when
    /// this is due.
    next_check: Option<Instant>,
    wakeups: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Busy slots whose receive ended for want of buffers, oldest first:
    /// after each batch of completions the oldest are re-armed, as many as
    /// the pool has buffers, so a slot waits at most its place in this
    /// queue divided by that number of batches, whatever the others do.
    starved: VecDeque<usize>,
    /// Slots that received in this batch, to drive once it is handled
    /// ([`RingMachine::DRIVE_AFTER_BATCH`]).
    drive_due: Vec<usize>,
    cqes: Vec<Cqe>,
    /// Connections being opened before the start (at most `shared.preconnect_parallel`).
    preconnecting: usize,
    /// The rate of completions, for a closed loop to gather them.
    gatherer: Gatherer,
    /// The kernel has no minimum waits: gather with a plain timed wait.
    timed_gathering: bool,
    /// The last timed gathering ended with nothing: wait for one next.
    gathered_nothing: bool,
    /// Bytes of each stamped receive ([`RingMachine::stamped_read_bytes`]).
    stamped_read_bytes: usize,
}

impl<'a, M: RingMachine> Worker<'a> for RingWorker<'a, M> {
    fn policy(&mut self) -> &mut Policy<'a> {
        &mut self.policy
    }

    /// Opens (and secures) every connection before the start, a bounded
    /// number at a time.
    fn preconnect(&mut self) {
        let deadline = Instant::now() + self.shared.plan.preconnect_timeout;
        let mut next = 0;
        loop {
            while next < self.slots.len() && self.preconnecting < self.shared.preconnect_parallel {
                let now = Instant::now();
                if now >= deadline {
                    // Those not opened by the limit connect for their first request.
                    next = self.slots.len();
                    break;
                }
                self.preconnecting += 1;
                self.slots[next].conn.open(now, deadline);
                self.drive(next, now);
                next += 1;
            }
            let now = Instant::now();
            if next == self.slots.len() && self.preconnecting == 0 {
                return;
            }
            // The machines time out their openings at the limit.
            self.expire(now);
            let until = self.next_check.unwrap_or(deadline).min(deadline);
            self.kernel.submit_and_wait(MAX_WAIT.min(until.saturating_duration_since(now)));
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
                    self.kernel.submit_and_poll();
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
            let batch = if self.policy.scheduled() || self.gathered_nothing {
                WaitBatch::ONE
            } else {
                self.gatherer.batch(self.policy.recent_latency(), self.policy.in_flight)
            };
            let timed = self.timed_gathering && batch.want > 1;
            if timed {
                self.kernel.submit_and_gather_timed(until.saturating_duration_since(now), batch);
            } else {
                self.kernel.submit_and_gather(until.saturating_duration_since(now), batch);
            }
            self.reap(Instant::now());
            // A timed gathering that found nothing is not repeated at once:
            // the next wait is for one completion (bounded as every wait is).
            self.gathered_nothing = timed && self.cqes.is_empty();
        }
    }

    /// Closes every socket, cancels whatever is still in the kernel (sends
    /// of the run's request are not counted), and waits until every counted
    /// operation has completed, so that the memory they use can be freed.
    fn teardown(&mut self) {
        for idx in 0..self.slots.len() {
            self.close(idx);
        }
        // Let the per-slot cancels and shutdowns end every receive before a
        // cancel-all looks for leftovers. Queued with them, the cancel-all
        // meets every receive still parked (ended only when the kernel runs
        // its task work), and it is quadratic in their number: 11% of the
        // CPU time of a -c 10000 run went to it.
        let limit = Instant::now() + TEARDOWN_LIMIT;
        let mut cancelled = false;
        while self.kernel.pending() > 0 && Instant::now() < limit {
            let before = self.kernel.pending();
            self.kernel.submit_and_wait(if cancelled { MAX_WAIT } else { Duration::ZERO });
            self.reap(Instant::now());
            if !cancelled && self.kernel.pending() == before {
                self.kernel.cancel_all(user_data(0, 0, OP_TEARDOWN));
                cancelled = true;
            }
        }
        self.kernel.submit();
    }
}

impl<'a, M: RingMachine> RingWorker<'a, M> {
    /// The worker for `job`, pinned to its CPU, with its ring and buffers.
    pub(super) fn new(
        job: Job<'a>,
        policy: Policy<'a>,
        features: Features,
        buffer_bytes: Option<usize>,
    ) -> io::Result<RingWorker<'a, M>> {
        let cpus = crate::cpu_busy::allowed_cpus();
        if !cpus.is_empty() {
            pin_to(cpus[job.index % cpus.len()]);
        }
        let ring = build_ring(job.connections, features.defer_taskrun)?;
        let provided = features.multishot.then(|| buffer_pool(buffer_bytes, features.incremental));
        let plan = &job.shared.plan;
        let addrs = plan.addrs.iter().map(raw_addr).collect::<io::Result<_>>()?;
        let kernel = Kernel::new(ring, provided, addrs, plan.connect_timeout, plan.requests.pool.clone())?;
        let now = Instant::now();
        let slots = (0..job.connections)
            .map(|_| SocketSlot {
                fd: -1,
                generation: 0,
                conn: M::for_job(&job),
                sending: false,
                unsent: None,
                recv_armed: false,
                recv_stamped: false,
                recv_switching: false,
                stamps: None,
                starved: false,
                drive_due: false,
                connecting: false,
                connect_started: now,
                attempt: Attempt::default(),
            })
            .collect();
        Ok(RingWorker {
            kernel,
            shared: job.shared,
            policy,
            dialer: Dialer::default(),
            slots,
            next_check: None,
            wakeups: BinaryHeap::new(),
            starved: VecDeque::new(),
            drive_due: Vec::new(),
            cqes: Vec::new(),
            preconnecting: 0,
            gatherer: Gatherer::new(now),
            timed_gathering: !features.min_wait,
            gathered_nothing: false,
            stamped_read_bytes: M::stamped_read_bytes(&job),
        })
    }

    /// Handles every completion that has arrived.
    fn reap(&mut self, mut now: Instant) {
        self.cqes.clear();
        self.kernel.completions(&mut self.cqes);
        self.gatherer.reaped(self.cqes.len(), now);
        let mut submitted = now;
        for i in 0..self.cqes.len() {
            // A big batch takes a while to go through: the clock is read
            // again every few completions, so that an event is stamped
            // within microseconds of its reading, not the batch's start,
            // and what it queued is handed over at least every SUBMIT_EVERY.
            if i > 0 && i % CLOCK_EVERY == 0 {
                now = Instant::now();
                submitted = self.submit_if_late(submitted, now);
            }
            self.complete(self.cqes[i], now);
        }
        for i in 0..self.drive_due.len() {
            let idx = self.drive_due[i];
            self.slots[idx].drive_due = false;
            // Read for each: what a slot starts is stamped when it starts.
            let now = Instant::now();
            submitted = self.submit_if_late(submitted, now);
            self.drive(idx, now);
        }
        self.drive_due.clear();
        // After this batch gave its buffers back, in the order they starved.
        for _ in 0..self.starved.len().min(self.kernel.rearm_budget()) {
            let Some(idx) = self.starved.pop_front() else { break };
            self.slots[idx].starved = false;
            if self.slots[idx].waiting() {
                self.ensure_recv(idx);
            }
        }
    }

    /// Hands the queued operations to the kernel if the last hand-over
    /// was `SUBMIT_EVERY` or more before `now`, so that the sends of
    /// requests started early in a long batch leave then, not at its end
    /// (their latency counts from their start); returns when the last
    /// hand-over was.
    fn submit_if_late(&mut self, submitted: Instant, now: Instant) -> Instant {
        if now.saturating_duration_since(submitted) < SUBMIT_EVERY {
            return submitted;
        }
        self.kernel.submit();
        now
    }

    /// Tells the machines whose deadline passed, once the earliest is due.
    fn expire(&mut self, now: Instant) {
        if self.next_check.is_none_or(|at| at > now) {
            return;
        }
        for idx in 0..self.slots.len() {
            if self.slots[idx].conn.poll_timeout().is_some_and(|d| d <= now) {
                self.slots[idx].conn.handle_timeout(now);
                self.drive(idx, now);
            }
        }
        self.next_check = self.slots.iter().filter_map(|slot| slot.conn.poll_timeout()).min();
    }

    /// Makes sure the sweep runs by `at`.
    fn check_by(&mut self, at: Option<Instant>) {
        self.next_check = match (self.next_check, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
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

    /// Begins the slot's next request when the policy says so, and
    /// carries out what it asks for.
    fn start_next(&mut self, idx: usize, now: Instant) {
        if self.begin_next(idx, now) {
            self.drive(idx, now);
        }
    }

    /// Starts the slot's next request (or streams) if the policy says so now.
    fn begin_next(&mut self, idx: usize, now: Instant) -> bool {
        match self.slots[idx].conn.begin(&mut self.policy, now, &self.shared.plan.requests) {
            Ok(started) => started,
            Err(wake) => {
                if let Some(at) = wake {
                    self.wakeups.push(Reverse((at, idx)));
                }
                false
            }
        }
    }

    /// Carries out the machine's I/O and handles its events until it
    /// waits for the kernel, then arms what it waits with.
    pub(super) fn drive(&mut self, idx: usize, now: Instant) {
        let shared = self.shared;
        let requests = &shared.plan.requests;
        loop {
            if let Some(io) = self.slots[idx].conn.poll_io(requests) {
                match io {
                    Io::Close => self.close(idx),
                    Io::Connect => {
                        self.slots[idx].attempt = self.dialer.first();
                        if let Err(e) = self.open(idx) {
                            self.slots[idx].conn.handle_connected(Err(classify_connect(&e)), now);
                        }
                    }
                    // The send completes without a CQE on success, so the
                    // machine moves on at once (the write phase is not
                    // observed); the receive is armed right after.
                    Io::Transmit(outgoing) => {
                        self.send(idx, outgoing);
                        self.slots[idx].conn.handle_sent_unobserved(now, requests);
                    }
                }
                continue;
            }
            match self.slots[idx].conn.handle_event(&mut self.policy, now, requests) {
                None => break,
                Some(Handled::Done) => {}
                Some(Handled::Opened(ok)) => self.opened(idx, ok),
                Some(Handled::Wake(at)) => self.wakeups.push(Reverse((at, idx))),
            }
        }
        if self.slots[idx].conn.wants_receive() {
            // A receive that ran out of buffers is re-armed in its turn (`reap`).
            if !self.slots[idx].starved {
                self.ensure_recv(idx);
            }
            self.low_water(idx);
        }
        let deadline = self.slots[idx].conn.poll_timeout();
        self.check_by(deadline);
    }

    /// A connection opened before the start is ready (or failed, and was closed).
    fn opened(&mut self, idx: usize, ok: bool) {
        self.preconnecting = self.preconnecting.saturating_sub(1);
        if ok {
            // Watch the idle connection: a close or stray bytes make it unusable.
            self.ensure_recv(idx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::buffer_pool;
    use crate::engine::uring::bufring::Shape;

    #[test]
    fn the_buffer_pool_is_bounded_whatever_the_connection_count() {
        assert_eq!(buffer_pool(None, true), Shape::filled(16, 64 * 1024, true));
        let whole = Shape { count: 64, size: 64 * 1024, touch_bytes: 1 << 20, incremental: false };
        assert_eq!(buffer_pool(None, false), whole, "1 MiB written into whole buffers, 64 of them");
        assert_eq!(buffer_pool(Some(128 * 1024), true), Shape::filled(2, 64 * 1024, true), "a test's squeeze");
        assert_eq!(buffer_pool(Some(256 * 1024), false).count, 8, "a squeezed whole pool");
        assert_eq!((buffer_pool(Some(1), true).count, buffer_pool(Some(1), false).count), (1, 1), "never empty");
        assert_eq!(buffer_pool(Some(usize::MAX), false).count, u16::MAX >> 1, "at most the ring's entries");
    }
}
