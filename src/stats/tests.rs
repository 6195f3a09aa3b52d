//! Unit tests of the worker stats: recording, merging, and the counts.

use std::time::Duration;

use super::*;

fn ok(status: u16, ms: u64) -> Record {
    let d = Duration::from_millis(ms);
    Record::sample(Ok(status), d).phased(Some(d / 4), d / 2, d / 4).sized(100, 5)
}

fn err(kind: ErrorKind) -> Record {
    let r = Record::sample(Err(kind), Duration::from_millis(40)).sized(3, 0);
    Record { queued: Duration::from_millis(10), ..r }
}

#[test]
fn records_split_into_statuses_errors_and_phases() {
    let mut s = WorkerStats::new();
    for r in
        [ok(200, 10), ok(200, 20), ok(503, 30), err(ErrorKind::Timeout), err(ErrorKind::Reset), err(ErrorKind::Timeout)]
    {
        s.record(&r);
    }
    s.aborted = 2;
    assert_eq!(s.statuses().collect::<Vec<_>>(), vec![(200, 2), (503, 1)]);
    assert_eq!(s.errors().collect::<Vec<_>>(), vec![(ErrorKind::Timeout, 2), (ErrorKind::Reset, 1)]);
    assert_eq!((s.responses, s.total_errors(), s.issued()), (3, 3, 8));
    assert_eq!((s.wire_bytes, s.body_bytes), (309, 15));
    assert_eq!((s.wait.min_ns(), s.wait.max_ns, s.wait.mean_ns()), (5_000_000, 15_000_000, 10_000_000));
    assert_eq!(s.latency.count(), 3);
    // Timeouts join the corrected distribution at queue + latency; other errors do not.
    assert_eq!((s.corrected.count(), s.corrected.max_ns()), (5, 50_000_000));
}

#[test]
fn corrected_latency_counts_the_wait_for_a_connection() {
    let mut s = WorkerStats::new();
    let mut late = ok(200, 2);
    late.queued = Duration::from_millis(998);
    s.record(&late);
    assert_eq!((s.latency.max_ns(), s.corrected.max_ns()), (2_000_000, 1_000_000_000));
}

#[test]
fn merge_adds_everything() {
    let (mut a, mut b) = (WorkerStats::new(), WorkerStats::new());
    a.record(&ok(200, 1));
    b.record(&ok(404, 2));
    b.record(&err(ErrorKind::ConnectRefused));
    b.aborted = 1;
    b.connected(7);
    b.unsent = 2;
    a.merge(&b).unwrap();
    assert_eq!(a.statuses().collect::<Vec<_>>(), vec![(200, 1), (404, 1)]);
    assert_eq!((a.issued(), a.aborted, a.connect.count, a.connect_latency.count(), a.unsent), (4, 1, 1, 1, 2));
    assert_eq!((a.write.count, a.read.max_ns), (2, 500_000));
}

#[test]
fn error_ids_are_unique_and_round_trip() {
    for kind in ErrorKind::ALL {
        assert_eq!(ErrorKind::from_id(kind.id()), Some(kind));
    }
    assert_eq!(ErrorKind::from_id("nope"), None);
}

#[test]
fn live_counters_sum_over_workers() {
    let live = Live::new(3);
    live.add(0, &ok(200, 1));
    live.add(2, &ok(200, 1));
    live.add(2, &err(ErrorKind::Timeout));
    assert_eq!(live.totals(), LiveTotals { responses: 2, errors: 1, body_bytes: 10, warmup: 0 });
}

/// One call puts a finished request in every sink: totals, its target's
/// row, the live counters and the timeline; a warm-up request only in the
/// warm-up counts and the timeline; a request never sent in no row.
#[test]
fn fan_out_feeds_every_sink_once() {
    let (mut stats, mut recorder, live) =
        (WorkerStats::for_targets(2), Recorder::new(Duration::from_secs(1)), Live::new(2));
    let mut handed = Vec::new();
    let requests = [
        (ok(200, 3), Some(1), 10, false),
        (err(ErrorKind::Timeout), None, 20, false),
        (ok(200, 1), Some(0), 30, true),
        (ok(503, 2), Some(0), 1_500_000_000, false),
    ];
    for (record, target, at_ns, warmup) in &requests {
        let ended = Ended { record, target: *target, at_ns: *at_ns, warmup: *warmup };
        fan_out(&ended, (&mut stats, &mut recorder), live.slot(1), |done| handed.push(done.clone()));
    }
    assert_eq!((stats.responses, stats.total_errors(), stats.warmup.responses), (2, 1, 1));
    let rows: Vec<u64> = stats.targets.rows().iter().map(|r| r.requests()).collect();
    assert_eq!(rows, [1, 1], "the warm-up's and the unsent request are in no row");
    assert_eq!(live.totals(), LiveTotals { responses: 2, errors: 1, body_bytes: 10, warmup: 1 });
    // The fourth request closed the first second: handed over once, with the
    // warm-up's request in it.
    assert_eq!(handed.len(), 1);
    let (index, first) = &handed[0];
    assert_eq!((*index, first.responses(), first.total_errors()), (0, 2, 1));
    assert_eq!(recorder.finish().map(|(i, part)| (i, part.responses())), Some((1, 1)));
}
