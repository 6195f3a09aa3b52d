//! The engine's behaviour on virtual time: what loopback tests could only
//! bound (a timeout "under 2 s", a stall "near 1 s"), checked exactly.

use std::time::Duration;

use super::*;
use crate::stats::ErrorKind;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Whether a percentile read `got` for values of `want`: within the
/// histogram's bucket (1/128 of the value).
fn near(got: u64, want: u64) -> bool {
    got.abs_diff(want) <= want / 128
}

/// (responses, errors, aborted): with the exact figures virtual time
/// gives, what every request of a run came to.
fn tally(outcome: &SimOutcome) -> (u64, u64, u64) {
    let s = &outcome.stats;
    (s.responses, s.total_errors(), s.aborted)
}

#[test]
fn a_closed_loop_sends_exactly_n_and_measures_the_server_exactly() {
    let mut plan = plan(3, Until::Count(10));
    plan.timeout = Some(ms(500));
    let out = run(plan, Script::replying(ms(7), OK));
    assert_eq!(tally(&out), (10, 0, 0));
    assert_eq!(out.arrivals.len(), 10);
    assert_eq!(out.accepted, 3, "pre-opened and kept alive");
    let latency = &out.stats.latency;
    assert_eq!((latency.min_ns(), latency.max_ns()), (7_000_000, 7_000_000));
    // 10 requests on 3 connections take 4 rounds of 7 ms.
    assert_eq!(out.elapsed, ms(28));
}

#[test]
fn a_server_that_never_answers_times_out_at_t_and_its_connections_are_replaced() {
    let mut plan = plan(2, Until::Count(4));
    plan.timeout = Some(ms(300));
    let out = run(plan, Script::silent());
    assert_eq!(tally(&out), (0, 4, 0));
    assert_eq!(out.stats.error_count(ErrorKind::Timeout), 4);
    assert_eq!(out.elapsed, ms(600), "two rounds of exactly 300 ms");
    assert_eq!(out.accepted, 4, "2 pre-opened + 2 replacing the timed-out ones");
    // With -z the run ends at its duration: requests still waiting then are
    // aborted, not left to run into -t.
    let mut plan = super::plan(3, Until::Elapsed(ms(1000)));
    plan.timeout = Some(ms(400));
    let out = run(plan, Script::silent());
    assert_eq!(tally(&out), (0, 6, 3), "two timeouts per connection, then one cut off");
    assert_eq!(out.elapsed, ms(1000));
}

#[test]
fn a_slow_drip_cannot_extend_the_deadline() {
    // A valid head at once, then one body byte every 200 ms of 100.
    let drip = Script::new(|_| {
        let mut steps = vec![ServerStep::Send(ms(0), b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec())];
        steps.extend((1..=100).map(|i| ServerStep::Send(ms(200 * i), b"x".to_vec())));
        steps
    });
    let mut plan = plan(1, Until::Count(2));
    plan.timeout = Some(ms(500));
    let out = run(plan, drip);
    assert_eq!(tally(&out), (0, 2, 0));
    assert_eq!(out.stats.error_count(ErrorKind::Timeout), 2);
    assert_eq!((out.stats.corrected.min_ns(), out.stats.corrected.max_ns()), (500_000_000, 500_000_000));
}

/// A server that answers in 1 ms, except that what arrives between 1 s and
/// 2 s is answered only at the 2 s mark (a stop-the-world pause).
fn stalling() -> Script {
    Script::new(|arrival| {
        let stalled = arrival.at >= ms(1000) && arrival.at < ms(2000);
        let delay = if stalled { ms(2000) - arrival.at } else { ms(1) };
        vec![ServerStep::Send(delay, OK.to_vec())]
    })
}

#[test]
fn a_stall_shows_in_the_corrected_tail_of_a_rate_run_and_hides_in_a_closed_loop() {
    // 3 s at 200 req/s on 4 connections: the 200 requests due during the
    // stall wait for it, so a third of them waited up to the whole second.
    let mut plan = plan(4, Until::Elapsed(ms(3000)));
    plan.rate = Some(200.0);
    let open = run(plan, stalling());
    assert_eq!(tally(&open).0 + open.stats.aborted, 600);
    let (corrected, uncorrected) = (open.stats.corrected.percentile_ns(99.0), open.stats.latency.percentile_ns(99.0));
    assert!((950_000_000..=1_000_000_000).contains(&corrected), "corrected p99 {corrected} ns");
    assert!(
        near(uncorrected, 1_000_000),
        "uncorrected p99 {uncorrected} ns: only 4 requests saw the stall from the send"
    );
    // The same stall under a closed loop: 4 slow samples among thousands.
    let closed = run(super::plan(4, Until::Elapsed(ms(3000))), stalling());
    assert!(closed.stats.responses > 7_000, "{} responses", closed.stats.responses);
    assert!(near(closed.stats.corrected.percentile_ns(99.0), 1_000_000));
    assert_eq!(closed.stats.latency.max_ns(), 1_000_000_000, "the stall itself is still the maximum");
}

#[test]
fn timeouts_sit_at_their_limit_in_the_corrected_distribution() {
    // 2 connections at 20 req/s, a server that never answers, 300 ms from
    // each request's intended start: requests queue for a connection and go
    // with what is left of their time, so each ends exactly 300 ms after it
    // was due.
    let mut plan = plan(2, Until::Elapsed(ms(1500)));
    (plan.rate, plan.timeout) = (Some(20.0), Some(ms(300)));
    let out = run(plan, Script::silent());
    let s = &out.stats;
    let timeouts = s.error_count(ErrorKind::Timeout);
    assert_eq!(timeouts + s.aborted, 30, "every request due in 1.5 s is accounted for");
    assert_eq!(s.corrected.count(), timeouts);
    assert_eq!((s.corrected.min_ns(), s.corrected.max_ns()), (300_000_000, 300_000_000));
    assert_eq!(s.latency.count(), 0, "no response, no uncorrected latency");
}

#[test]
fn requests_that_cannot_be_sent_in_time_are_counted_never_skipped() {
    // Nothing listens: connects are refused and the connection backs off (up
    // to 500 ms), longer than the 100 ms timeout, so requests expire waiting.
    let mut plan = plan(1, Until::Elapsed(ms(2000)));
    (plan.rate, plan.timeout) = (Some(100.0), Some(ms(100)));
    let out = run(plan, Script::refusing(ErrorKind::ConnectRefused));
    let s = &out.stats;
    let (responses, errors, aborted) = tally(&out);
    assert_eq!((responses, errors + aborted), (0, 200), "every request due in 2 s");
    // The failed pre-connect already counts: attempts at 0, 2, 6, 14, ...,
    // 510 ms, then every 500 ms: 1010, 1510 (the next would be past 2 s).
    assert_eq!(s.error_count(ErrorKind::ConnectRefused), 11, "one per attempt of the backoff");
    assert_eq!(s.error_count(ErrorKind::Timeout), s.unsent);
    assert_eq!((s.unsent, s.aborted), (133, 56), "expired waiting, or still waiting at the end");
    assert_eq!(out.accepted, 0);
}

#[test]
fn q_paces_each_connection_on_the_run_grid() {
    let mut plan = plan(4, Until::Count(40));
    plan.qps_per_connection = Some(20.0);
    let out = run(plan, Script::replying(ms(1), OK));
    assert_eq!(tally(&out), (40, 0, 0));
    // Each connection sends at 0, 50, ..., 450 ms; the last answer 1 ms later.
    assert_eq!(out.elapsed, ms(451));
    let mut starts: Vec<Duration> = out.arrivals.iter().filter(|a| a.slot == 0).map(|a| a.at).collect();
    starts.dedup();
    assert_eq!(starts, (0..10).map(|i| ms(50 * i)).collect::<Vec<_>>());
}

#[test]
fn a_keep_alive_limit_closing_idle_connections_is_not_an_error_and_each_request_is_answered_once() {
    // The server closes each connection 2 ms after its third response, while
    // the client may already have sent the next request on it: that request
    // is retried on a new connection, never counted twice, never an error.
    let server = Script::new(|arrival| match arrival.nth_on_socket {
        0 | 1 => vec![ServerStep::Send(ms(1), OK.to_vec())],
        2 => vec![ServerStep::Send(ms(1), OK.to_vec()), ServerStep::Close(ms(3))],
        _ => Vec::new(),
    });
    let out = run(plan(2, Until::Count(60)), server);
    assert_eq!(tally(&out), (60, 0, 0));
    let answered = out.arrivals.iter().filter(|a| a.nth_on_socket < 3).count();
    assert_eq!(answered, 60, "each request answered exactly once");
    // The request sent onto a closing socket went again on a new one.
    assert_eq!(out.arrivals.len(), 60 + 20 - 2, "one resent per closed socket, but each slot's last");
    assert_eq!(out.accepted, 20, "three requests per connection");
}

#[test]
fn redirects_are_followed_and_counted_once() {
    let server = Script::new(|arrival| match arrival.target() {
        "/" => vec![ServerStep::Send(ms(1), response(302, "Location: /moved\r\n", ""))],
        _ => vec![ServerStep::Send(ms(2), OK.to_vec())],
    });
    let out = run(plan(1, Until::Count(5)), server);
    assert_eq!(tally(&out), (5, 0, 0));
    assert_eq!(out.stats.statuses().collect::<Vec<_>>(), [(200, 5)]);
    assert_eq!(out.arrivals.len(), 10);
    assert_eq!(out.stats.latency.min_ns(), 3_000_000, "both hops in one request");
}

#[test]
fn a_rate_run_sends_exactly_its_schedule_in_every_interval() {
    let mut plan = plan(10, Until::Elapsed(ms(3000)));
    plan.rate = Some(1000.0);
    let out = run(plan, Script::replying(ms(2), OK));
    assert_eq!(tally(&out), (2998, 0, 2), "the last 2 ms of starts are still in flight at the end");
    let sent: Vec<u64> = out.timeline.intervals().iter().map(|i| i.sent).collect();
    assert_eq!(sent[..3], [1000, 1000, 1000]);
    assert_eq!(out.stats.send_lag.max_ns, 0, "virtual time is never late");
    assert_eq!(out.stats.corrected.max_ns(), 2_000_000);
}

#[test]
fn connection_stages_park_and_wake_connections_without_opening_new_ones() {
    // Every response takes 20 ms: a connection carries 50 req/s, so each
    // stage's count is its connections x 50.
    let mut plan = plan(8, Until::Elapsed(ms(3000)));
    plan.stages = Some(crate::stats::Concurrency { stages: vec![(1.0, 2), (1.0, 8), (1.0, 3)] });
    let out = run(plan, Script::replying(ms(20), OK));
    assert_eq!(out.accepted, 8, "the most any stage needs, opened once before the start");
    let sent: Vec<u64> = out.timeline.intervals().iter().map(|i| i.sent).collect();
    assert_eq!(sent, [100, 400, 150]);
    let opened: Vec<u64> = out.timeline.intervals().iter().map(|i| i.connections).collect();
    assert_eq!(opened, [8, 0, 0], "opened before the start (counted in the first interval), none after");
    assert_eq!(tally(&out), (647, 0, 3), "650 sent; the last stage's 3 in flight at the end");
}

#[test]
fn a_warmup_is_tallied_apart_and_the_run_counts_from_its_end() {
    // Slow (60 ms) for the first second, then 1 ms; 1.2 s of warm-up.
    let server = Script::new(|arrival| {
        let delay = if arrival.at < ms(1000) { ms(60) } else { ms(1) };
        vec![ServerStep::Send(delay, OK.to_vec())]
    });
    let mut plan = plan(4, Until::Elapsed(ms(2700)));
    plan.warmup = ms(1200);
    let out = run(plan, server);
    let s = &out.stats;
    assert_eq!(s.latency.max_ns(), 1_000_000, "no slow warm-up response among the measured ones");
    // The warm-up: 17 rounds of 60 ms on 4 connections (the 17th ends at
    // 1.02 s), then 1 ms rounds up to 1.2 s.
    assert_eq!(s.warmup.responses, 4 * 17 + 4 * 179 + 4, "{:?}", s.warmup);
    assert_eq!(out.elapsed, ms(1500), "-z counts after the warm-up");
    assert_eq!(s.responses + s.aborted, 4 * 1500, "4 connections x 1500 rounds of 1 ms");
    let sent: Vec<u64> = out.timeline.intervals().iter().map(|i| i.sent).collect();
    assert_eq!(sent[0], 4 * 17, "the timeline keeps the warm-up's slow start");
}

#[test]
fn a_connect_slower_than_its_limit_times_out_and_a_late_one_does_not() {
    for (latency, want) in [(ms(30), (0, 3, 0)), (ms(10), (3, 0, 0))] {
        let mut plan = plan(1, Until::Count(3));
        (plan.connect_timeout, plan.requests.keepalive) = (Some(ms(20)), false);
        let mut server = Script::replying(ms(1), OK);
        server.connect_latency = latency;
        let out = run(plan, server);
        assert_eq!(tally(&out), want, "a connect of {latency:?}");
        if want.1 > 0 {
            assert_eq!(out.stats.error_count(ErrorKind::ConnectTimeout), 3);
            assert_eq!(out.stats.corrected.max_ns(), 20_000_000, "each ends at the limit");
        }
    }
}

/// An LLM endpoint streaming 24 tokens, the first 80 ms after the request
/// and one every 15 ms, with usage: every figure exact.
#[test]
fn a_token_stream_is_measured_exactly() {
    use crate::stats::counters::{EVENTS, GOOD, STREAMED, TOKENS, TOKENS_FROM_USAGE};
    use crate::stats::metrics::{ITL, TPOT, TTFT};
    let chunk = |event: String| format!("{:x}\r\n{event}\r\n", event.len()).into_bytes();
    let script = Script::new(move |_| {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut steps = vec![ServerStep::Send(ms(1), head.to_vec())];
        for i in 0..24 {
            let token = format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"t{i} \"}}}}]}}\n\n");
            steps.push(ServerStep::Send(ms(80 + 15 * i), chunk(token)));
        }
        let end = [
            chunk("data: {\"choices\":[],\"usage\":{\"completion_tokens\":24}}\n\n".into()),
            chunk("data: [DONE]\n\n".into()),
        ];
        steps.push(ServerStep::Send(ms(80 + 15 * 23), [end.concat(), b"0\r\n\r\n".to_vec()].concat()));
        steps
    });
    let mut plan = plan(4, Until::Count(40));
    plan.goodput = Some(crate::stats::Goodput { tpot: Some(ms(16)), ..Default::default() });
    let out = run(plan, script);
    assert_eq!(tally(&out), (40, 0, 0));
    let s = &out.stats;
    let metric = |m: usize| s.metrics.get(m);
    for (m, count, value) in [(TTFT, 40, ms(80)), (ITL, 40 * 23, ms(15)), (TPOT, 40, ms(15))] {
        let h = metric(m);
        assert_eq!(
            (h.count(), h.min_ns(), h.max_ns()),
            (count, value.as_nanos() as u64, value.as_nanos() as u64),
            "{m}"
        );
    }
    let counts: Vec<u64> =
        [STREAMED, EVENTS, TOKENS, TOKENS_FROM_USAGE, GOOD].iter().map(|&c| s.counts.get(c)).collect();
    assert_eq!(counts, [40, 40 * 25, 40 * 24, 40, 40]);
    assert_eq!(out.elapsed, ms(10 * 425), "10 rounds of 425 ms on 4 connections");
    let totals = out.timeline.totals().unwrap();
    assert_eq!((totals.counts.get(TOKENS), totals.metrics.get(ITL).count()), (960, 920), "the timeline has them all");
}
