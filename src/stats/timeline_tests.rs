use super::*;
use crate::stats::WorkerStats;

const SECOND: u64 = 1_000_000_000;

fn record(result: Result<u16, ErrorKind>, latency_us: u64) -> Record {
    Record::sample(result, Duration::from_micros(latency_us)).sized(120, 20)
}

/// Records the same requests into a recorder (feeding `timeline`) and a
/// worker's totals.
fn feed(recorder: &mut Recorder, timeline: &mut Timeline, stats: &mut WorkerStats, at_ns: u64, r: &Record) {
    if let Some(done) = recorder.record(at_ns, r) {
        timeline.add(&done).unwrap();
    }
    stats.record(r);
}

fn some_requests() -> Vec<(u64, Record)> {
    let results =
        [Ok(200), Ok(204), Ok(301), Ok(404), Ok(503), Ok(999), Err(ErrorKind::Timeout), Err(ErrorKind::Reset)];
    (0..5_000u64)
        .map(|i| (i * 1_400_003 % (7 * SECOND), record(results[(i % 8) as usize], 50 + i * 37 % 9_000)))
        .collect()
}

#[test]
fn status_classes() {
    let cases = [(100, "1xx"), (199, "1xx"), (200, "2xx"), (302, "3xx"), (404, "4xx"), (599, "5xx"), (600, "other")];
    for (code, class) in cases {
        assert_eq!(CLASSES[class_of(code)], class, "{code}");
    }
    assert_eq!(CLASSES[class_of(999)], "other");
}

#[test]
fn intervals_add_up_to_the_totals() {
    let mut requests = some_requests();
    requests.sort_by_key(|(at, _)| *at);
    let (mut recorder, mut timeline, mut stats) =
        (Recorder::new(DEFAULT_INTERVAL), Timeline::new(DEFAULT_INTERVAL), WorkerStats::new());
    for (at, r) in &requests {
        feed(&mut recorder, &mut timeline, &mut stats, *at, r);
    }
    timeline.add(&recorder.finish().unwrap()).unwrap();
    assert_eq!(timeline.intervals().len(), 7);
    let total = timeline.totals().unwrap();
    assert_eq!(total.responses(), stats.responses);
    for (class, name) in CLASSES.iter().enumerate() {
        let want: u64 = stats.statuses().filter(|&(code, _)| class_of(code) == class).map(|(_, n)| n).sum();
        assert_eq!(total.statuses[class], want, "{name}");
    }
    assert_eq!(total.errors().collect::<Vec<_>>(), stats.errors().collect::<Vec<_>>());
    assert_eq!((total.wire_bytes, total.body_bytes), (stats.wire_bytes, stats.body_bytes));
    // Responses and timeouts, as the corrected distribution.
    assert_eq!(total.latency, Sparse::of(&stats.corrected));
    for p in [50.0, 90.0, 99.0, 99.9] {
        assert_eq!(total.latency.percentile_ns(p), stats.corrected.percentile_ns(p));
    }
}

#[test]
fn each_request_lands_in_the_interval_it_completed_in() {
    let mut recorder = Recorder::new(Duration::from_millis(100));
    let mut timeline = Timeline::new(Duration::from_millis(100));
    let ms = |n: u64| n * 1_000_000;
    for at in [ms(0), ms(99), ms(100), ms(450), ms(451), ms(452)] {
        if let Some(done) = recorder.record(at, &record(Ok(200), 10)) {
            timeline.add(&done).unwrap();
        }
    }
    if let Some(done) = recorder.connected(ms(1_000)) {
        timeline.add(&done).unwrap();
    }
    timeline.add(&recorder.finish().unwrap()).unwrap();
    assert!(recorder.finish().is_none(), "nothing counted since");
    let responses: Vec<u64> = timeline.intervals().iter().map(Interval::responses).collect();
    assert_eq!(responses, [2, 1, 0, 0, 3, 0, 0, 0, 0, 0, 0]);
    assert_eq!(timeline.intervals()[10].connections, 1);
    assert_eq!(timeline.intervals()[2], Interval::default(), "a gap is an empty interval");
}

#[test]
fn workers_add_into_one_timeline() {
    let requests = some_requests();
    let mut one = (Recorder::new(DEFAULT_INTERVAL), Timeline::new(DEFAULT_INTERVAL), WorkerStats::new());
    let mut shared = Timeline::new(DEFAULT_INTERVAL);
    let mut workers = [Recorder::new(DEFAULT_INTERVAL), Recorder::new(DEFAULT_INTERVAL)];
    let mut sorted = requests.clone();
    sorted.sort_by_key(|(at, _)| *at);
    for (i, (at, r)) in sorted.iter().enumerate() {
        feed(&mut one.0, &mut one.1, &mut one.2, *at, r);
        if let Some(done) = workers[i % 2].record(*at, r) {
            shared.add(&done).unwrap();
        }
    }
    one.1.add(&one.0.finish().unwrap()).unwrap();
    for w in &mut workers {
        shared.add(&w.finish().unwrap()).unwrap();
    }
    assert_eq!(shared, one.1);
}

#[test]
fn sparse_merge_equals_the_dense_merge() {
    let (mut a, mut b) = (Histogram::new(), Histogram::new());
    for v in 0..3_000u64 {
        a.record(v * v % 1_000_003);
        b.record(v * 7 % 20_000 + 100);
    }
    let merged = Sparse::of(&a).merged(&Sparse::of(&b)).unwrap();
    a.merge(&b).unwrap();
    assert_eq!(merged, Sparse::of(&a));
    assert_eq!(Sparse::default().merged(&merged).unwrap(), merged);
    assert_eq!(merged.merged(&Sparse::default()).unwrap(), merged);
    let rebuilt = Histogram::from_parts(merged.buckets(), merged.sum_ns(), merged.min_ns(), merged.max_ns()).unwrap();
    assert_eq!(Sparse::of(&rebuilt), merged);
}

#[test]
fn a_long_run_doubles_its_interval_and_keeps_every_count() {
    let mut recorder = Recorder::new(MIN_INTERVAL);
    let mut timeline = Timeline::new(MIN_INTERVAL);
    let step = nanos(MIN_INTERVAL);
    let count = MAX_INTERVALS as u64 * 3;
    for i in 0..count {
        if let Some(done) = recorder.record(i * step, &record(Ok(200), i % 1000 + 1)) {
            timeline.add(&done).unwrap();
        }
    }
    timeline.add(&recorder.finish().unwrap()).unwrap();
    assert_eq!(timeline.interval(), MIN_INTERVAL * 4);
    assert_eq!(timeline.intervals().len(), MAX_INTERVALS * 3 / 4);
    assert!(timeline.intervals().iter().all(|i| i.responses() == 4));
    assert_eq!(timeline.totals().unwrap().responses(), count);
}

fn timeline_of(interval: Duration, per_interval: &[u64]) -> Timeline {
    let intervals = per_interval
        .iter()
        .map(|&n| {
            let mut part = Interval::default();
            part.statuses[1] = n;
            part
        })
        .collect();
    Timeline::from_intervals(interval, intervals)
}

#[test]
fn merging_aligns_by_offset_and_by_the_longer_interval() {
    let second = Duration::from_secs(1);
    let mut a = timeline_of(second, &[1, 1, 1]);
    a.merge(&timeline_of(second, &[10, 10]), 2).unwrap();
    let responses = |t: &Timeline| t.intervals().iter().map(Interval::responses).collect::<Vec<_>>();
    assert_eq!(responses(&a), [1, 1, 11, 10]);

    let mut fine = timeline_of(second, &[1, 2, 3, 4]);
    fine.merge(&timeline_of(second * 2, &[100]), 1).unwrap();
    assert_eq!((fine.interval(), responses(&fine)), (second * 2, vec![3, 107]));

    let mut coarse = timeline_of(second * 2, &[100]);
    coarse.merge(&timeline_of(second, &[1, 2, 3, 4]), 0).unwrap();
    assert_eq!((coarse.interval(), responses(&coarse)), (second * 2, vec![103, 7]));

    let err = timeline_of(second, &[1]).merge(&timeline_of(second * 3, &[1]), 0).unwrap_err();
    assert!(err.contains("--interval"), "{err}");
}
