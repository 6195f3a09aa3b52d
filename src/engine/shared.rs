//! State that every worker of one run shares: the request budget, the live
//! counters, the abort signal, the TLS trust verdict, the two start lines
//! and the run's timeline. Built only from atomics and std primitives, so a
//! bare thread driving io_uring and a tokio runtime use it alike (the abort
//! signal is a future on any executor and a flag for a loop that polls).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use super::plan::{MAX_PARALLEL_CONNECTS, Plan, Until};
use crate::stats::{ErrorKind, Live, Timeline, timeline::Done};

/// The request budget: a shared atomic ticket counter (never split per
/// worker, so no remainder is lost as in hey), plus the stop flag.
#[derive(Debug)]
pub struct Tickets {
    remaining: AtomicI64,
    counted: bool,
    stopped: AtomicBool,
}

impl Tickets {
    pub fn new(until: Until) -> Self {
        let remaining = match until {
            Until::Count(n) => i64::try_from(n).unwrap_or(i64::MAX),
            Until::Elapsed(_) => i64::MAX,
        };
        Tickets {
            remaining: AtomicI64::new(remaining),
            counted: matches!(until, Until::Count(_)),
            stopped: AtomicBool::new(false),
        }
    }

    /// Takes the right to send one request.
    #[inline]
    pub fn take(&self) -> bool {
        if self.stopped.load(Ordering::Relaxed) {
            return false;
        }
        !self.counted || self.remaining.fetch_sub(1, Ordering::Relaxed) > 0
    }

    /// Whether a ticket may still be had (without taking it).
    pub fn left(&self) -> bool {
        !self.stopped.load(Ordering::Relaxed) && self.remaining.load(Ordering::Relaxed) > 0
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

/// Where workers wait, until all have arrived; then all go at one instant.
#[derive(Debug, Default)]
pub struct StartLine {
    state: Mutex<(usize, Option<Instant>)>,
    changed: Condvar,
}

impl StartLine {
    /// Reports this worker arrived and blocks until the start; returns its instant.
    pub fn arrive_and_wait(&self) -> Instant {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 += 1;
        self.changed.notify_all();
        loop {
            if let Some(start) = state.1 {
                return start;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits for `workers` arrivals and then for the wall clock to reach
    /// `at` (if given; an abort ends the wait), then starts everyone.
    /// Returns the start, as an instant and as wall-clock time.
    pub fn release_when_arrived(&self, workers: usize, at: Option<SystemTime>, abort: &Abort) -> (Instant, SystemTime) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while state.0 < workers {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if let Some(at) = at {
            drop(state);
            wait_for_wall_clock(at, abort);
            state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        }
        let (start, wall) = (Instant::now(), SystemTime::now());
        state.1 = Some(start);
        self.changed.notify_all();
        (start, wall)
    }

    /// The start instant, once everyone was released.
    pub fn started(&self) -> Option<Instant> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

/// Sleeps until the wall clock reads `at` (or an abort), spinning the last
/// millisecond so that machines started together start within microseconds
/// of their clocks.
fn wait_for_wall_clock(at: SystemTime, abort: &Abort) {
    while !abort.is_set() {
        match at.duration_since(SystemTime::now()) {
            Ok(left) if left > Duration::from_millis(2) => {
                std::thread::sleep((left - Duration::from_millis(1)).min(Duration::from_millis(20)))
            }
            Ok(left) if !left.is_zero() => std::hint::spin_loop(),
            _ => return,
        }
    }
}

/// The run's abort: a flag any loop can poll, and a future any executor can await.
#[derive(Debug, Default)]
pub struct Abort {
    set: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Abort {
    pub fn fire(&self) {
        self.set.store(true, Ordering::Release);
        for waker in self.wakers.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            waker.wake();
        }
    }

    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Resolves once [`Abort::fire`] has been called.
    pub fn wait(&self) -> AbortWait<'_> {
        AbortWait { abort: self, registered: None }
    }
}

/// The future of [`Abort::wait`]. It registers its task's waker once (and
/// again only if the task changes), so polling it with every wake-up of a
/// busy worker costs an atomic load, not a lock.
pub struct AbortWait<'a> {
    abort: &'a Abort,
    registered: Option<Waker>,
}

impl Future for AbortWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.abort.is_set() {
            return Poll::Ready(());
        }
        if !self.registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            let mut wakers = self.abort.wakers.lock().unwrap_or_else(|e| e.into_inner());
            wakers.push(cx.waker().clone());
            drop(wakers);
            self.registered = Some(cx.waker().clone());
            // Fired between the first check and the registration.
            if self.abort.is_set() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

/// Whether the server's certificate was trusted yet. A run whose first
/// handshakes fail verification stops at once: every later handshake would
/// fail the same way, and one line with the fix says more than thousands
/// of identical errors. The same holds for a proxy that refuses the
/// first tunnels (`407`, a SOCKS failure).
#[derive(Debug, Default)]
pub struct Trust {
    verified: AtomicBool,
    /// A tunnel through the proxy opened.
    tunneled: AtomicBool,
    refused: OnceLock<ErrorKind>,
}

impl Trust {
    /// A handshake succeeded: later verification failures are counted, not fatal.
    pub fn verified(&self) {
        set_once(&self.verified);
    }

    /// A handshake failed verification with `kind`; true when no handshake
    /// has succeeded yet, so the run must stop.
    pub fn refused(&self, kind: ErrorKind) -> bool {
        self.refused_unless(&self.verified, kind)
    }

    /// A tunnel through the proxy opened: later refusals are counted, not fatal.
    pub fn tunneled(&self) {
        set_once(&self.tunneled);
    }

    /// The proxy refused a tunnel with `kind`; true when none has opened
    /// yet, so the run must stop.
    pub fn tunnel_refused(&self, kind: ErrorKind) -> bool {
        self.refused_unless(&self.tunneled, kind)
    }

    /// A failure with `kind`: it stops the run (true) unless `succeeded`
    /// says the same step worked before.
    fn refused_unless(&self, succeeded: &AtomicBool, kind: ErrorKind) -> bool {
        if succeeded.load(Ordering::Relaxed) {
            return false;
        }
        let _ = self.refused.set(kind);
        true
    }

    /// A handshake failed with `kind`, which stops the run whatever
    /// succeeded before (the server did not agree to HTTP/2): always true.
    pub fn refused_always(&self, kind: ErrorKind) -> bool {
        let _ = self.refused.set(kind);
        true
    }

    /// Why the run was stopped, if it was.
    pub fn stopped(&self) -> Option<ErrorKind> {
        self.refused.get().copied()
    }
}

/// Sets `flag`, without writing the shared cache line again once it is set.
fn set_once(flag: &AtomicBool) {
    if !flag.load(Ordering::Relaxed) {
        flag.store(true, Ordering::Relaxed);
    }
}

/// State shared by all workers of one run.
#[derive(Debug)]
pub struct Shared {
    pub plan: Plan,
    pub tickets: Tickets,
    pub live: Live,
    pub abort: Abort,
    pub trust: Trust,
    /// Passed once every worker has its event loop (before anyone connects,
    /// so that connections cannot use up the descriptors a loop needs).
    pub prepared: StartLine,
    /// Passed once every worker is connected: the run's clock starts.
    pub start: StartLine,
    /// Connection attempts each worker may have in flight while
    /// pre-connecting, so that a large -c does not overflow the server's
    /// accept backlog (about [`MAX_PARALLEL_CONNECTS`] in all).
    pub preconnect_parallel: usize,
    /// The run's intervals: each worker adds its finished ones (about once
    /// per interval, so the lock is never contended).
    pub timeline: Mutex<Timeline>,
    /// Worker threads in the run.
    pub workers: usize,
    /// `--http2`: the requests' header blocks, encoded once for every worker.
    pub h2: Option<std::sync::Arc<super::connection::H2Requests>>,
}

impl Shared {
    pub fn new(plan: Plan, workers: usize) -> Self {
        Shared {
            tickets: Tickets::new(plan.until),
            live: Live::new(workers),
            abort: Abort::default(),
            trust: Trust::default(),
            prepared: StartLine::default(),
            start: StartLine::default(),
            preconnect_parallel: (MAX_PARALLEL_CONNECTS / workers.max(1)).max(1),
            timeline: Mutex::new(Timeline::new(plan.interval)),
            workers,
            h2: plan.h2_streams.map(|_| std::sync::Arc::new(super::connection::H2Requests::new(&plan.requests))),
            plan,
        }
    }

    /// Adds a worker's finished interval to the run's timeline.
    pub fn interval_done(&self, done: &Done) {
        let mut timeline = self.timeline.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // One run's counts stay far below 2^64.
        let _ = timeline.add(done);
    }
}

/// A worker's passage through the two start lines. Each line is passed
/// exactly once: explicitly, or when this guard is dropped (a worker that
/// fails or panics early still arrives), so the others are never left waiting.
pub struct Arrivals<'a> {
    shared: &'a Shared,
    prepared: bool,
    started: bool,
}

impl<'a> Arrivals<'a> {
    pub fn new(shared: &'a Shared) -> Self {
        Arrivals { shared, prepared: false, started: false }
    }

    /// This worker's event loop exists (or failed); waits for everyone's.
    pub fn prepared(&mut self) {
        if !std::mem::replace(&mut self.prepared, true) {
            self.shared.prepared.arrive_and_wait();
        }
    }

    /// This worker is connected; waits for the common start and returns it.
    pub fn started(&mut self) -> Instant {
        self.prepared();
        self.started = true;
        self.shared.start.arrive_and_wait()
    }
}

impl Drop for Arrivals<'_> {
    fn drop(&mut self) {
        if !self.started {
            self.started();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_exact_and_stop_on_demand() {
        let tickets = Tickets::new(Until::Count(3));
        assert_eq!((0..10).filter(|_| tickets.take()).count(), 3);
        assert!(!tickets.left());
        let tickets = Tickets::new(Until::Elapsed(Duration::from_secs(1)));
        assert!(tickets.take() && tickets.take());
        tickets.stop();
        assert!(!tickets.take());
    }

    #[test]
    fn the_abort_future_wakes_its_task_once_fired() {
        let abort = std::sync::Arc::new(Abort::default());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let firing = abort.clone();
        let fire = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            firing.fire();
        });
        rt.block_on(async {
            // Polled many times before the fire: registers once.
            let mut wait = std::pin::pin!(abort.wait());
            for _ in 0..100 {
                tokio::select! {
                    biased;
                    _ = &mut wait => unreachable!("not fired yet"),
                    _ = tokio::task::yield_now() => {}
                }
            }
            assert_eq!(abort.wakers.lock().unwrap().len(), 1);
            wait.await;
        });
        fire.join().unwrap();
        assert!(abort.is_set());
    }
}
