//! Wake-ups at exact instants for `--rate` on the portable backend.
//!
//! tokio's timer works in whole milliseconds and rounds every deadline up to
//! the next one, so a request scheduled with it leaves up to a millisecond
//! late, and that lateness would be reported as server latency. On Linux a
//! worker keeps one `timerfd` (nanosecond resolution) armed for the earliest
//! waiting connection and wakes every connection whose instant has come
//! when it fires. It fires [`SPIN_AHEAD`] early, and the worker then spins
//! (yielding, so I/O is still handled) until the instant: waking from a
//! sleep is itself late by tens of microseconds on a virtual machine.
//! Elsewhere (macOS, a development fallback) tokio's timer is used, and the
//! report's send-lag line shows its error.

#[cfg(target_os = "linux")]
pub use precise::Clock;

#[cfg(not(target_os = "linux"))]
pub use coarse::Clock;

#[cfg(target_os = "linux")]
mod precise {
    use std::cell::{Cell, RefCell};
    use std::cmp::Ordering;
    use std::collections::BinaryHeap;
    use std::future::poll_fn;
    use std::io;
    use std::task::{Poll, Waker};
    use std::time::{Duration, Instant};

    use crate::engine::schedule::SPIN_AHEAD;
    use crate::timerfd::TimerFd;

    /// A connection waiting for its instant.
    struct Waiter {
        at: Instant,
        waker: Waker,
    }

    impl PartialEq for Waiter {
        fn eq(&self, other: &Self) -> bool {
            self.at == other.at
        }
    }
    impl Eq for Waiter {}
    impl PartialOrd for Waiter {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Waiter {
        /// Reversed, so that the max-heap yields the earliest instant first.
        fn cmp(&self, other: &Self) -> Ordering {
            other.at.cmp(&self.at)
        }
    }

    /// One worker's precise clock (single-threaded: lives in one runtime).
    pub struct Clock {
        timer: TimerFd,
        waiters: RefCell<BinaryHeap<Waiter>>,
        /// The waiter instant the timer is set for (it fires
        /// [`SPIN_AHEAD`] before), if it is set.
        armed: Cell<Option<Instant>>,
        /// Time spent spinning before instants (not load).
        spun: Cell<Duration>,
    }

    impl Clock {
        /// Needs a tokio runtime with I/O enabled (it registers the timerfd).
        pub fn new() -> io::Result<Clock> {
            let timer = TimerFd::new()?;
            Ok(Clock { timer, waiters: RefCell::default(), armed: Cell::new(None), spun: Cell::new(Duration::ZERO) })
        }

        /// Time spent spinning so far.
        pub fn spun(&self) -> Duration {
            self.spun.get()
        }

        /// Resolves at `at` (at once if it has passed).
        pub async fn until(&self, at: Instant) {
            poll_fn(|cx| {
                if Instant::now() >= at {
                    return Poll::Ready(());
                }
                self.waiters.borrow_mut().push(Waiter { at, waker: cx.waker().clone() });
                if self.armed.get().is_none_or(|armed| at < armed) {
                    self.arm(at);
                }
                Poll::Pending
            })
            .await
        }

        /// Wakes waiters as their instants come; never returns. Must be
        /// polled alongside the connections that call [`Clock::until`].
        pub async fn drive(&self) {
            loop {
                self.timer.fired().await;
                self.armed.set(None);
                let spin_start = Instant::now();
                loop {
                    let now = Instant::now();
                    let next = self.wake_due(now);
                    match next {
                        Some(at) if at <= now + SPIN_AHEAD => tokio::task::yield_now().await,
                        Some(at) => {
                            self.arm(at);
                            break;
                        }
                        None => break,
                    }
                }
                self.spun.set(self.spun.get() + spin_start.elapsed());
            }
        }

        /// Wakes the waiters due at `now`; returns the next instant waited for.
        fn wake_due(&self, now: Instant) -> Option<Instant> {
            let mut waiters = self.waiters.borrow_mut();
            while waiters.peek().is_some_and(|w| w.at <= now) {
                if let Some(waiter) = waiters.pop() {
                    waiter.waker.wake();
                }
            }
            waiters.peek().map(|w| w.at)
        }

        /// Sets the timer for a waiter at `at`: to fire [`SPIN_AHEAD`] before
        /// it (at least 1 ns from now: a zero value would disarm it).
        fn arm(&self, at: Instant) {
            let fire = at.checked_sub(SPIN_AHEAD).unwrap_or(at);
            self.timer.set_in(fire.saturating_duration_since(Instant::now()));
            self.armed.set(Some(at));
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod coarse {
    use std::io;
    use std::time::Instant;

    /// tokio's millisecond timer.
    pub struct Clock;

    impl Clock {
        pub fn new() -> io::Result<Clock> {
            Ok(Clock)
        }

        pub async fn until(&self, at: Instant) {
            tokio::time::sleep_until(at.into()).await;
        }

        pub async fn drive(&self) {
            std::future::pending::<()>().await;
        }

        pub fn spun(&self) -> std::time::Duration {
            std::time::Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Wakes waiters at `offsets` after a common instant; returns how late
    /// each woke (never early: that is asserted) and the order they woke in
    /// (when several are due at one poll, in the order they were given).
    fn wake_all(offsets: &[u64]) -> (Vec<Duration>, Vec<usize>) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let clock = Clock::new().unwrap();
            let t0 = Instant::now() + Duration::from_millis(5);
            let order = std::cell::RefCell::new(Vec::new());
            let waits = offsets.iter().enumerate().map(|(i, &us)| {
                let (clock, order) = (&clock, &order);
                async move {
                    let at = t0 + Duration::from_micros(us);
                    clock.until(at).await;
                    let now = Instant::now();
                    assert!(now >= at, "waiter {i} woke before its instant");
                    order.borrow_mut().push(i);
                    now - at
                }
            });
            let lags = tokio::select! {
                lags = futures_util::future::join_all(waits) => lags,
                _ = clock.drive() => unreachable!(),
            };
            (lags, order.into_inner())
        })
    }

    /// Every waiter wakes, none before its instant (a behaviour, so it holds
    /// however busy the machine is; the bound only catches a lost wake-up).
    #[test]
    fn waiters_all_wake_and_never_early() {
        let offsets = [700u64, 100, 2_300, 1_500, 150];
        let (lags, order) = wake_all(&offsets);
        let mut woke = order.clone();
        woke.sort();
        assert_eq!(woke, vec![0, 1, 2, 3, 4], "woke in the order {order:?}");
        assert!(lags.iter().all(|lag| *lag < Duration::from_secs(5)), "{lags:?}");
    }

    /// Precision: far closer than tokio's millisecond timer. A measurement,
    /// not a behaviour: a busy core delays any wake-up, so it runs only on
    /// request (`cargo test -- --ignored`); the rate-mode benchmark and the
    /// "send lag" line of every `--rate` report measure it for real.
    #[test]
    #[ignore = "timing precision; run on a quiet machine"]
    fn waiters_wake_close_to_their_instants() {
        let (lags, _) = wake_all(&[700, 100, 2_300, 1_500, 150]);
        let mut sorted = lags.clone();
        sorted.sort();
        let median = sorted[sorted.len() / 2];
        let limit = if cfg!(target_os = "linux") { Duration::from_micros(300) } else { Duration::from_millis(20) };
        assert!(median < limit, "woke {lags:?} after their instants");
    }
}
