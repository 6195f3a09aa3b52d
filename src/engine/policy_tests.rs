//! The start policy with fake time: tickets, `-q` pacing on the run's grid,
//! the `--rate` schedule with its waits and expiries, the pause after
//! connect failures, the tally, and the address rotation.

use std::time::{Duration, Instant};

use super::*;
use crate::engine::connection::Finished;
use crate::engine::{Plan, RequestSet};
use crate::stats::{ErrorKind, Record};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn plan(until: Until, qps: Option<f64>, rate: Option<f64>, timeout: Option<Duration>) -> Plan {
    let plan = crate::engine::sim::plan(1, until);
    Plan { qps_per_connection: qps, rate, timeout, preconnect_timeout: ms(100), ..plan }
}

fn ok() -> Finished {
    let record = Record {
        result: Ok(200),
        latency: ms(1),
        queued: Duration::ZERO,
        write: Some(Duration::ZERO),
        wait: Duration::ZERO,
        read: Duration::ZERO,
        wire_bytes: 10,
        body_bytes: 2,
        metrics: crate::stats::Samples::default(),
        tally: crate::stats::Tally::default(),
    };
    Finished { record, handshake: None, tunnel: None, target: 0 }
}

#[test]
fn a_closed_loop_starts_at_once_until_the_tickets_run_out() {
    let shared = Shared::new(plan(Until::Count(2), None, None, None), 1);
    let (mut policy, mut slot, t0) = (Policy::new(&shared, 0, 1), SlotTiming::default(), Instant::now());
    policy.begin(t0);
    assert_eq!(policy.next(&mut slot, t0), Next::Start { intended: t0, pick: 0 });
    assert_eq!(policy.next(&mut slot, t0 + ms(1)), Next::Start { intended: t0 + ms(1), pick: 0 });
    assert_eq!(policy.next(&mut slot, t0 + ms(2)), Next::Retire);
    assert_eq!((policy.in_flight, policy.stats.started, policy.last_start), (2, 2, Some(t0 + ms(1))));
    policy.finish(&mut slot, &ok(), None, t0 + ms(3));
    assert_eq!((policy.in_flight, policy.stats.responses), (1, 1));
    assert_eq!(policy.abandoned(t0 + ms(3)), 1, "the one still in flight");
}

#[test]
fn pacing_follows_the_runs_grid_and_skips_missed_ticks() {
    // -q 100: one start per 10 ms per connection, on the grid from the start.
    let shared = Shared::new(plan(Until::Count(100), Some(100.0), None, None), 1);
    let (mut policy, mut slot, t0) = (Policy::new(&shared, 0, 1), SlotTiming::default(), Instant::now());
    policy.begin(t0);
    let cases = [
        (0, Next::Start { intended: t0, pick: 0 }),
        (3, Next::Wait(t0 + ms(10))),
        (10, Next::Start { intended: t0 + ms(10), pick: 0 }),
        // Slow response: ticks at 20 and 30 ms were missed; start now, next at 40.
        (35, Next::Start { intended: t0 + ms(35), pick: 0 }),
        (36, Next::Wait(t0 + ms(40))),
        (40, Next::Start { intended: t0 + ms(40), pick: 0 }),
    ];
    for (at, want) in cases {
        assert_eq!(policy.next(&mut slot, t0 + ms(at)), want, "at {at} ms");
    }
    assert_eq!(policy.stats.started, 4);
}

#[test]
fn pacing_retires_a_slot_once_no_ticket_is_left() {
    let shared = Shared::new(plan(Until::Count(1), Some(1.0), None, None), 1);
    let (mut policy, mut slot, t0) = (Policy::new(&shared, 0, 1), SlotTiming::default(), Instant::now());
    policy.begin(t0);
    assert_eq!(policy.next(&mut slot, t0), Next::Start { intended: t0, pick: 0 });
    // The next tick is a second away, but no request is left: do not wait for it.
    assert_eq!(policy.next(&mut slot, t0 + ms(1)), Next::Retire);
}

#[test]
fn the_rate_schedule_waits_for_future_starts_and_counts_the_lag() {
    // --rate 100, one connection: due at 0, 10, 20, ... ms.
    let shared = Shared::new(plan(Until::Count(100), None, Some(100.0), Some(ms(50))), 1);
    let (mut policy, mut slot, t0) = (Policy::new(&shared, 0, 1), SlotTiming::default(), Instant::now());
    policy.begin(t0);
    assert_eq!(policy.next(&mut slot, t0), Next::Start { intended: t0, pick: 0 });
    // Free at 2 ms: the next start (10 ms) lies ahead.
    assert_eq!(policy.next(&mut slot, t0 + ms(2)), Next::Wait(t0 + ms(10)));
    // Woken 1 ms late: the generator's lag, recorded as send lag.
    assert_eq!(policy.next(&mut slot, t0 + ms(11)), Next::Start { intended: t0 + ms(10), pick: 0 });
    assert_eq!(policy.stats.send_lag.count, 1);
    assert_eq!(policy.stats.send_lag.max_ns, 1_000_000);
    // Free only at 85 ms: 20 and 30 ms waited over 50 ms (unsent timeouts);
    // 40 ms starts late, its wait counted as latency, not as send lag.
    assert_eq!(policy.next(&mut slot, t0 + ms(85)), Next::Start { intended: t0 + ms(40), pick: 0 });
    assert_eq!((policy.stats.unsent, policy.stats.error_count(ErrorKind::Timeout)), (2, 2));
    assert_eq!(policy.stats.send_lag.count, 1);
    assert_eq!(policy.stats.started, 3);
}

#[test]
fn requests_due_before_a_deadline_but_never_started_are_abandoned() {
    let shared = Shared::new(plan(Until::Elapsed(ms(100)), None, Some(100.0), None), 1);
    let (mut policy, mut slot, t0) = (Policy::new(&shared, 0, 1), SlotTiming::default(), Instant::now());
    policy.begin(t0);
    assert_eq!(policy.end(), Some(t0 + ms(100)));
    assert_eq!(policy.next(&mut slot, t0), Next::Start { intended: t0, pick: 0 });
    // That request never finished; 9 more were due before 100 ms (10..90 ms).
    assert_eq!(policy.abandoned(t0 + ms(500)), 1 + 9);
}

#[test]
fn starts_held_or_refused_at_a_deadline_are_abandoned_and_those_past_it_never_start() {
    // --rate 100 for 100 ms, two slots of the one connection share: due
    // at 0, 10, ... 90 ms.
    let shared = Shared::new(plan(Until::Elapsed(ms(100)), None, Some(100.0), None), 1);
    let (mut policy, t0) = (Policy::new(&shared, 0, 1), Instant::now());
    let (mut a, mut b) = (SlotTiming::default(), SlotTiming::default());
    policy.begin(t0);
    for i in 0..9 {
        let now = t0 + ms(10 * i);
        assert_eq!(policy.next(&mut a, now), Next::Start { intended: now, pick: 0 });
        policy.finish(&mut a, &ok(), None, now);
    }
    // Slot b claims 90 ms at 85 ms and holds it; the worker is late and
    // stops at 100 ms without having started it: one of the run's requests.
    assert_eq!(policy.next(&mut b, t0 + ms(85)), Next::Wait(t0 + ms(90)));
    assert_eq!(policy.abandoned(t0 + ms(100)), 1, "held and due");
    assert_eq!(policy.abandoned(t0 + ms(88)), 0, "held, not yet due when interrupted at 88 ms");
    // Slot a asks again: the next start (100 ms) is at the deadline, so
    // it retires without sending; nothing more is owed.
    assert_eq!(policy.next(&mut a, t0 + ms(99)), Next::Retire);
    // b wakes in time, but the run has been stopped: refused, still owed.
    shared.tickets.stop();
    assert_eq!(policy.next(&mut b, t0 + ms(90)), Next::Retire);
    assert_eq!((policy.abandoned(t0 + ms(100)), policy.stats.started), (1, 9));
}

/// Slots asked again before their claimed start (an HTTP/2 connection asks
/// whenever one of its streams ends) keep their claims as held, once each
/// and in order: every start is sent and nothing is owed at the end.
/// Taking a claim back and holding it again at the back of the queue made
/// the queue unordered, its search then missed claims that were sent, and
/// those counted as aborted at the deadline.
#[test]
fn a_slot_asked_again_before_its_claimed_start_keeps_one_claim() {
    // --rate 100 for 40 ms: due at 0, 10, 20 and 30 ms.
    let shared = Shared::new(plan(Until::Elapsed(ms(40)), None, Some(100.0), None), 1);
    let (mut policy, t0) = (Policy::new(&shared, 0, 1), Instant::now());
    let mut slots = [SlotTiming::default(); 4];
    policy.begin(t0);
    assert_eq!(policy.next(&mut slots[0], t0), Next::Start { intended: t0, pick: 0 });
    policy.finish(&mut slots[0], &ok(), None, t0 + ms(1));
    for (i, slot) in slots.iter_mut().enumerate().skip(1) {
        assert_eq!(policy.next(slot, t0 + ms(1 + i as u64)), Next::Wait(t0 + ms(10 * i as u64)));
    }
    // The first holder is asked again, early, twice.
    for early in [5, 8] {
        assert_eq!(policy.next(&mut slots[1], t0 + ms(early)), Next::Wait(t0 + ms(10)), "asked at {early} ms");
    }
    for (i, slot) in slots.iter_mut().enumerate().skip(1) {
        let due = t0 + ms(10 * i as u64);
        assert_eq!(policy.next(slot, due), Next::Start { intended: due, pick: 0 });
        policy.finish(slot, &ok(), None, due + ms(1));
    }
    assert_eq!((policy.stats.started, policy.abandoned(t0 + ms(40))), (4, 0), "nothing owed");
}

#[test]
fn a_connect_failure_pauses_the_slot_for_the_backoff() {
    let shared = Shared::new(plan(Until::Count(10), None, None, None), 1);
    let (mut policy, mut slot, t0) = (Policy::new(&shared, 0, 1), SlotTiming::default(), Instant::now());
    policy.begin(t0);
    assert_eq!(policy.next(&mut slot, t0), Next::Start { intended: t0, pick: 0 });
    let mut refused = ok();
    refused.record.result = Err(ErrorKind::ConnectRefused);
    policy.finish(&mut slot, &refused, Some(ms(4)), t0 + ms(1));
    assert_eq!(policy.next(&mut slot, t0 + ms(2)), Next::Wait(t0 + ms(5)));
    assert_eq!(policy.next(&mut slot, t0 + ms(5)), Next::Start { intended: t0 + ms(5), pick: 0 });
    assert_eq!(policy.stats.error_count(ErrorKind::ConnectRefused), 1);
}

#[test]
fn the_dialer_starts_where_it_last_succeeded_and_tries_each_address_once() {
    let mut dialer = Dialer::default();
    let first = dialer.first();
    assert_eq!(first.addr, 0);
    let second = dialer.after(first, 3).unwrap();
    let third = dialer.after(second, 3).unwrap();
    assert_eq!((second.addr, third.addr), (1, 2));
    assert_eq!(dialer.after(third, 3), None, "every address tried once");
    dialer.connected(third);
    let again = dialer.first();
    assert_eq!(again.addr, 2);
    assert_eq!(dialer.after(again, 3).map(|a| a.addr), Some(0), "wraps around");
    assert_eq!(Dialer::default().after(Dialer::default().first(), 1), None);
}

#[test]
fn connection_stages_park_busy_slots_until_the_stage_ends() {
    // Two connections: one active for 100 ms, then both.
    let stages = crate::stats::Concurrency { stages: vec![(0.1, 1), (0.1, 2)] };
    let plan = Plan { connections: 2, stages: Some(stages), ..plan(Until::Elapsed(ms(200)), None, None, None) };
    let shared = Shared::new(plan, 1);
    let (mut policy, t0) = (Policy::new(&shared, 0, 2), Instant::now());
    let (mut a, mut b) = (SlotTiming::default(), SlotTiming::default());
    policy.begin(t0);
    assert_eq!(policy.next(&mut a, t0), Next::Start { intended: t0, pick: 0 });
    assert_eq!(policy.next(&mut b, t0), Next::Wait(t0 + ms(100)), "parked: one is active");
    policy.finish(&mut a, &ok(), None, t0 + ms(5));
    assert_eq!(
        policy.next(&mut a, t0 + ms(5)),
        Next::Start { intended: t0 + ms(5), pick: 0 },
        "the active one goes on"
    );
    assert_eq!(
        policy.next(&mut b, t0 + ms(100)),
        Next::Start { intended: t0 + ms(100), pick: 0 },
        "woken by the next stage"
    );
    assert_eq!(policy.in_flight, 2);
}

#[test]
fn warmup_requests_take_no_ticket_and_are_tallied_apart() {
    let plan = Plan { warmup: ms(50), ..plan(Until::Count(1), None, None, None) };
    let shared = Shared::new(plan, 1);
    let (mut policy, mut slot, t0) = (Policy::new(&shared, 0, 1), SlotTiming::default(), Instant::now());
    policy.begin(t0);
    for i in 0..3 {
        assert_eq!(policy.next(&mut slot, t0 + ms(i)), Next::Start { intended: t0 + ms(i), pick: 0 });
        policy.finish(&mut slot, &ok(), None, t0 + ms(i));
    }
    assert_eq!((policy.stats.started, policy.stats.responses, policy.stats.warmup.responses), (0, 0, 3));
    assert_eq!(shared.live.totals().warmup, 3);
    // Started in the warm-up, still in flight when the run ends: the warm-up's.
    assert_eq!(policy.next(&mut slot, t0 + ms(49)), Next::Start { intended: t0 + ms(49), pick: 0 });
    // The one ticket: after the warm-up.
    let mut other = SlotTiming::default();
    assert_eq!(policy.next(&mut other, t0 + ms(50)), Next::Start { intended: t0 + ms(50), pick: 0 });
    assert_eq!(policy.next(&mut other, t0 + ms(51)), Next::Retire);
    assert_eq!((policy.stats.started, policy.abandoned(t0 + ms(60)), policy.warm_abandoned()), (1, 1, 1));
}

#[test]
fn starts_are_numbered_across_workers_and_finished_requests_tallied_per_target() {
    use crate::http::{Entry, Pool};
    let entries = (0..3).map(|i| Entry::new(bytes::Bytes::from(format!("GET /{i} HTTP/1.1\r\n\r\n")), i)).collect();
    let mut plan = plan(Until::Count(5), None, None, None);
    plan.requests = RequestSet::new(std::sync::Arc::new(Pool::new(entries, 1, 3)), true, true, "h".into(), 80);
    plan.connections = 2;
    let shared = Shared::new(plan, 2);
    let mut workers = [Policy::new(&shared, 0, 1), Policy::new(&shared, 1, 1)];
    let (mut slots, t0) = ([SlotTiming::default(); 2], Instant::now());
    workers.iter_mut().for_each(|w| w.begin(t0));
    let mut picks = Vec::new();
    for i in [0, 1, 0, 1, 0] {
        let Next::Start { pick, .. } = workers[i].next(&mut slots[i], t0) else { panic!("a ticket is left") };
        picks.push(pick);
        let target = shared.plan.requests.pool.entry(shared.plan.requests.pool.index_of(pick)).target;
        workers[i].finish(&mut slots[i], &Finished { target, ..ok() }, None, t0);
    }
    assert_eq!(picks, [0, 1, 2, 3, 4], "one count over both workers");
    assert_eq!(workers[1].next(&mut slots[1], t0), Next::Retire);
    let mut stats = workers[0].stats.clone();
    stats.merge(&workers[1].stats).unwrap();
    let per_target: Vec<u64> = stats.targets.rows().iter().map(|r| r.responses).collect();
    assert_eq!(per_target, [2, 2, 1]);
}
