//! The backends' multi-stream driving ([`crate::engine::streams::Streams`],
//! which the harness drives as the backends do) on virtual time: a `--rate`
//! schedule kept to the nanosecond with each stream claiming its own
//! starts, exact `-n` over many connections and streams, and the server's
//! stream limit never exceeded.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use super::harness::{Script, answer, polite, run};
use crate::engine::plan::{Plan, Until};
use crate::engine::sim::plan;
use crate::http::h2::frame::{kind, setting};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const STREAMS_100: &[(u16, u32)] = &[(setting::MAX_CONCURRENT_STREAMS, 100)];

fn h2_plan(connections: usize, until: Until, rate: Option<f64>) -> Plan {
    let mut plan = plan(connections, until);
    plan.requests.follow_redirects = false;
    plan.rate = rate;
    plan
}

#[test]
fn a_rate_schedule_is_kept_exactly_with_streams_claiming_their_own_starts() {
    // 1000 requests/s for 1 s on one connection of 10 streams; each answer
    // takes 5 ms, so about 5 streams are in flight at once: every start on
    // time, none waits, every latency exactly the server's.
    let out = run(h2_plan(1, Until::Elapsed(ms(1000)), Some(1000.0)), 10, Script::answering(ms(5), STREAMS_100));
    assert_eq!(out.stats.started, 1000, "the schedule's starts, all of them");
    assert_eq!(out.tally(), (995, 0, 5), "the last 5 in flight at the deadline are aborted");
    let corrected = &out.stats.corrected;
    assert_eq!((corrected.min_ns(), corrected.max_ns()), (5_000_000, 5_000_000), "no start late, none queued");
    assert_eq!(out.stats.send_lag.max_ns, 0, "each stream started at its instant");
}

#[test]
fn a_rate_beyond_the_streams_queues_and_the_wait_counts_as_latency() {
    // 1000/s with answers taking 20 ms needs 20 streams; 2 connections of 5
    // streams carry 10: requests wait for a stream, and their corrected
    // latency shows it while every due request is still accounted for.
    let out = run(h2_plan(2, Until::Elapsed(ms(500)), Some(1000.0)), 5, Script::answering(ms(20), STREAMS_100));
    let (responses, errors, aborted) = out.tally();
    assert_eq!(responses + errors + aborted, 500, "every scheduled request accounted for");
    assert_eq!(errors, 0);
    assert!(responses <= 500 * 10 / 20 + 10, "at most 10 in flight at 20 ms each: {responses}");
    assert_eq!(out.stats.latency.max_ns(), 20_000_000, "each stream's own time is the server's");
    assert!(out.stats.corrected.max_ns() > 200_000_000, "the queue shows in the corrected latency");
}

#[test]
fn exact_n_over_many_connections_and_streams_with_uneven_answers() {
    for (connections, streams, n) in [(1, 1, 10), (3, 7, 1000), (4, 100, 999), (5, 3, 7)] {
        let served = Rc::new(Cell::new(0u64));
        let counted = served.clone();
        let script = Script::serving(move |ctx, f| {
            if f.kind == kind::HEADERS {
                counted.set(counted.get() + 1);
                // Uneven: 1 to 13 ms, so streams end out of order.
                ctx.send(ms(1 + u64::from(f.stream) % 13), answer(f.stream, 200, "ok"));
            } else {
                polite(ctx, f, ms(1));
            }
        });
        let out = run(h2_plan(connections, Until::Count(n), None), streams, script);
        assert_eq!(out.tally(), (n, 0, 0), "-c {connections} --streams {streams} -n {n}");
        assert_eq!((out.count(kind::HEADERS) as u64, served.get()), (n, n), "each request sent once");
    }
}

#[test]
fn no_more_streams_are_in_flight_than_streams_per_connection() {
    // 500 requests of 3 ms each, 7 at a time: 72 rounds, not fewer.
    let out = run(h2_plan(1, Until::Count(500), None), 7, Script::answering(ms(3), STREAMS_100));
    assert_eq!(out.tally(), (500, 0, 0));
    assert_eq!(out.elapsed, ms(3 * 500_u64.div_ceil(7)), "7 at once, exactly");
}
