//! How many completions the io_uring worker lets gather before it wakes.
//!
//! Woken for each completion, a worker whose server is the bottleneck
//! sleeps and wakes once per arriving segment, and on loopback part of
//! every wake-up is paid by the server: the kernel delivers our bytes and
//! wakes us inside the server's own `write`. Against nginx over h2c
//! (`-c 10 --streams 10`), nginx spent 15-20% more CPU per request under
//! vastar than under h2load, and answered fewer requests per second.
//!
//! io_uring's minimum wait (kernel 6.12+) asks for several completions but
//! returns as soon as one is there once `min_wait` has passed, so no
//! response is read more than `min_wait` after it arrived. That delay is
//! part of the latency measured, so it is bounded by the latency itself:
//! at most 1/32 of the recent mean (3.1%; half that on average, as
//! responses arrive across the wait) and never over 50 us. And it is
//! asked for only where completions come fast enough: at least half of
//! one expected within the minimum (the rate is counted over the last
//! [`RATE_WINDOW`]). A slower stream of completions has nothing to gather;
//! waiting would only delay each one and bunch the next requests.
//!
//! Why half: completions come in clusters, not evenly. nginx writes an
//! HTTP/2 response's HEADERS and DATA with two calls, so over h2c each
//! response is two segments microseconds apart; a closed loop of c
//! connections with k completions per response expects about k * c / 32
//! in its minimum, 0.94 at -c 10 over h2c. Asked to gather only from one,
//! vastar woke 1.6 times per response there, h2load 0.65 times, and nginx
//! answered 0.94x as many requests as under h2load; gathering from half
//! (with the completions of the sends it submits not counted, see
//! `Kernel::submit_and_gather`) it wakes 0.80-0.88 times, and nginx
//! answers as many requests as under h2load over h2c (0.96-1.00x) and
//! more over TLS (1.15x), -c 10 with one stream.
//!
//! One request in flight has nothing to gather with: its completions are
//! one response's, and one that takes many (a 1 MiB body is 17 or more)
//! would wait the minimum many times over while the server waits for room
//! in the socket. With 1 MiB bodies at -c 1 (0.53 expected) gathering from
//! half a completion was 10-25% slower in two of four alternated sets (and
//! level in the others).
//!
//! Kernels without minimum waits (before 6.12) get the same wait as a
//! plain timeout: the same count, or the minimum, whichever comes first
//! (`Kernel::submit_and_gather_timed`). That wait may end with nothing;
//! the worker then waits for one completion before it gathers again.
//!
//! Why 1/32 and not less: HTTPS against nginx at -c 50 (nginx the limit at
//! 30K req/s, 1.5 ms mean latency) expects 0.4 completions in 1/64 of the
//! latency, so that share never gathered and vastar woke 0.9 times per
//! response. At 1/32 it wakes 0.36 times: nginx answered 9% more requests
//! (31.2K to 34.0K req/s) and vastar's CPU per request fell from 19.6 to
//! 14.6 us; with 5 B bodies from the benchmarks' epoll server, 2-16% more
//! requests at c = 50 to 1000.

use std::time::{Duration, Instant};

/// The share of the recent latency a response may wait to be read.
const LATENCY_SHARE: u32 = 32;
/// The longest a response may wait to be read, whatever the latency.
const MAX_MIN_WAIT: Duration = Duration::from_micros(50);
/// Completions asked for: twice those expected within the minimum wait
/// (so that the minimum, not the count, usually ends the wait) ...
const WANT_PER_EXPECTED: u64 = 2;
/// ... at least two, up to this many.
const MAX_WANT: u64 = 64;
/// Completions expected within the minimum wait, in thousandths, from
/// which a wait gathers.
const GATHER_FROM_MILLI: u128 = 500;
/// How long completions are counted for their rate.
const RATE_WINDOW: Duration = Duration::from_millis(10);

/// What one wait asks of the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct WaitBatch {
    /// Completions that end the wait at once.
    pub want: u32,
    /// After this long, one completion ends it.
    pub min_wait_us: u32,
}

impl WaitBatch {
    /// Wake for the first completion.
    pub const ONE: WaitBatch = WaitBatch { want: 1, min_wait_us: 0 };
}

/// The rate of a worker's completions, and the wait it suggests.
#[derive(Debug)]
pub(super) struct Gatherer {
    window_start: Instant,
    in_window: u64,
    /// Completions per second over the last whole window.
    per_sec: u64,
}

impl Gatherer {
    pub fn new(now: Instant) -> Gatherer {
        Gatherer { window_start: now, in_window: 0, per_sec: 0 }
    }

    /// `completions` were reaped at `now`.
    pub fn reaped(&mut self, completions: usize, now: Instant) {
        self.in_window += completions as u64;
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= RATE_WINDOW {
            self.per_sec = (u128::from(self.in_window) * 1_000_000_000 / elapsed.as_nanos()) as u64;
            (self.window_start, self.in_window) = (now, 0);
        }
    }

    /// The wait of a closed loop with `in_flight` requests whose recent
    /// mean latency is `recent_latency`.
    pub fn batch(&self, recent_latency: Duration, in_flight: u64) -> WaitBatch {
        if in_flight <= 1 {
            return WaitBatch::ONE;
        }
        let min_wait = (recent_latency / LATENCY_SHARE).min(MAX_MIN_WAIT);
        let expected_milli = u128::from(self.per_sec) * min_wait.as_nanos() / 1_000_000;
        let want = (expected_milli * u128::from(WANT_PER_EXPECTED) / 1000).clamp(2, u128::from(MAX_WANT));
        match u32::try_from(min_wait.as_micros()) {
            Ok(min_wait_us @ 1..) if expected_milli >= GATHER_FROM_MILLI => {
                WaitBatch { want: want as u32, min_wait_us }
            }
            _ => WaitBatch::ONE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A gatherer that has seen `per_sec` completions a second.
    fn at_rate(per_sec: u64) -> Gatherer {
        let start = Instant::now();
        let mut gatherer = Gatherer::new(start);
        gatherer.reaped((per_sec / 100) as usize, start + RATE_WINDOW);
        gatherer
    }

    #[test]
    fn a_response_waits_at_most_a_thirty_second_of_the_latency_and_50_us() {
        // 200,000 a second: 6.25 expected in 31.25 us, 10 in 50 us.
        assert_eq!(at_rate(200_000).batch(MS, 10), WaitBatch { want: 12, min_wait_us: 31 });
        assert_eq!(at_rate(200_000).batch(10 * MS, 10), WaitBatch { want: 20, min_wait_us: 50 });
        assert_eq!(at_rate(10_000_000).batch(10 * MS, 10), WaitBatch { want: 64, min_wait_us: 50 });
    }

    #[test]
    fn completions_slower_than_the_minimum_wait_are_each_woken_for() {
        assert_eq!(at_rate(9_000).batch(3 * MS, 10), WaitBatch::ONE, "one every 111 us, 50 us to wait");
        assert_eq!(at_rate(10_000).batch(3 * MS, 10), WaitBatch { want: 2, min_wait_us: 50 }, "half expected");
        assert_eq!(at_rate(22_000).batch(3 * MS, 10), WaitBatch { want: 2, min_wait_us: 50 });
        assert_eq!(at_rate(40_000).batch(MS, 10), WaitBatch { want: 2, min_wait_us: 31 });
        assert_eq!(at_rate(30_000).batch(MS, 10), WaitBatch { want: 2, min_wait_us: 31 }, "0.94 expected in 31 us");
        assert_eq!(at_rate(15_000).batch(MS, 10), WaitBatch::ONE, "0.47 expected in 31 us");
        assert_eq!(at_rate(1_000_000).batch(Duration::from_micros(31), 10), WaitBatch::ONE, "under 1 us to gain");
        assert_eq!(Gatherer::new(Instant::now()).batch(10 * MS, 10), WaitBatch::ONE, "no rate yet");
    }

    #[test]
    fn one_request_in_flight_is_woken_for_each_completion() {
        assert_eq!(at_rate(200_000).batch(MS, 1), WaitBatch::ONE);
        assert_eq!(at_rate(200_000).batch(MS, 0), WaitBatch::ONE);
        assert_eq!(at_rate(200_000).batch(MS, 2), WaitBatch { want: 12, min_wait_us: 31 });
    }

    #[test]
    fn the_rate_is_that_of_the_last_whole_window() {
        let start = Instant::now();
        let mut gatherer = Gatherer::new(start);
        gatherer.reaped(500, start + MS);
        assert_eq!(gatherer.per_sec, 0, "a window not yet whole");
        gatherer.reaped(500, start + 2 * RATE_WINDOW);
        assert_eq!(gatherer.per_sec, 50_000);
        // An idle spell brings it down at the next reap.
        gatherer.reaped(1, start + 2 * RATE_WINDOW + Duration::from_secs(1));
        assert_eq!(gatherer.per_sec, 1);
    }
}
