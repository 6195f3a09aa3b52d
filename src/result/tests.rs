//! Result-file tests: exact round trips, merge exactness against raw
//! latencies, refusals, and the text report rebuilt from JSON.

use super::merge::merge;
use super::*;
use crate::stats::metrics::TTFB;
use crate::stats::{ErrorKind, Record, Recorder, Timeline};
use crate::summary::{GeneratorCpu, PERCENTILES, Rate};
use crate::term::Style;

fn record(result: Result<u16, ErrorKind>, latency_ns: u64) -> Record {
    let d = Duration::from_nanos(latency_ns);
    Record::sample(result, d).phased(Some(d / 10), d / 2, d / 5).sized(100, 7).measured(TTFB, d * 3 / 5)
}

fn info(elapsed_ms: u64) -> RunInfo {
    let load = GeneratorCpu { own: Some(0.5), cores: 1, cores_busy: None };
    RunInfo { load, ..RunInfo::sample(Duration::from_millis(elapsed_ms)) }
}

fn meta(start_s: u64, url: &str) -> Meta {
    Meta::sample(start_s, url)
}

/// Deterministic, skewed latencies (a long tail), 1 us to ~1 s.
fn latencies(n: u64, seed: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x % 1_000_000) as f64 / 1_000_000.0;
            (1_000.0 + 1e9 * u.powi(8)) as u64
        })
        .collect()
}

fn stats_of(values: &[u64]) -> WorkerStats {
    let mut s = WorkerStats::new();
    for (i, &v) in values.iter().enumerate() {
        let status = if i % 97 == 0 { 503 } else { 200 };
        s.record(&record(Ok(status), v));
        s.started += 1;
        if i % 50 == 0 {
            s.connected(v / 3 + 1);
        }
    }
    s.record(&record(Err(ErrorKind::Reset), 0));
    s
}

#[test]
fn a_document_round_trips_exactly_through_json() {
    let stats = stats_of(&latencies(5_000, 7));
    let doc = ResultDoc::new(&Summary::new(&stats, &info(2_000)), meta(1_795_848_365, "http://h/"));
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let back = ResultDoc::parse(&text).unwrap();
    assert_eq!(back, doc);
    assert_eq!(back.stats().unwrap(), stats);
    assert_eq!(back.start_utc, "2026-11-28T06:46:05.000000Z");
    assert_eq!(back.end_unix_ns - back.start_unix_ns, 2_000_000_000);
    // The same report, rebuilt from the file.
    let render = |s: &WorkerStats, i: &RunInfo| {
        let mut out = Vec::new();
        crate::report::render(&mut out, &Summary::new(s, i), &Style::plain()).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert_eq!(render(&back.stats().unwrap(), &back.run_info()), render(&stats, &info(2_000)));
}

#[test]
fn merged_percentiles_are_those_of_all_raw_latencies() {
    let parts: Vec<Vec<u64>> = (0..4).map(|i| latencies(20_000 + i * 1_000, 11 + i)).collect();
    let docs: Vec<ResultDoc> = parts
        .iter()
        .enumerate()
        .map(|(i, v)| ResultDoc::new(&Summary::new(&stats_of(v), &info(3_000)), meta(1_000 + i as u64, "http://h/")))
        .collect();
    let merged = merge(&docs, false, vec!["vastar".into(), "merge".into()]).unwrap();
    let mut all: Vec<u64> = parts.concat();
    all.sort_unstable();
    let stats = merged.stats().unwrap();
    assert_eq!(stats.responses, all.len() as u64);
    assert_eq!(merged.counts.errors, 4);
    assert_eq!(stats.latency.count(), all.len() as u64);
    assert_eq!((stats.latency.min_ns(), stats.latency.max_ns()), (all[0], all[all.len() - 1]));
    for p in PERCENTILES {
        let rank = ((p / 100.0) * all.len() as f64).ceil() as usize;
        let exact = all[rank.clamp(1, all.len()) - 1] as f64;
        let got = stats.latency.percentile_ns(p) as f64;
        assert!((got - exact).abs() / exact <= 0.004, "p{p}: merged {got}, exact {exact}");
    }
    // Starts 1 s apart, 3 s each: the union is 6 s, and the rate is over it.
    assert_eq!(merged.run.windows_ns, vec![[1_000_000_000_000, 1_006_000_000_000]]);
    assert_eq!(merged.summary.total_s, 6.0);
    assert_eq!(merged.summary.requests_per_sec, all.len() as f64 / 6.0);
    assert_eq!(merged.parts.len(), 4);
    assert_eq!(merged.run_info().merged.unwrap().start_spread, Duration::from_secs(3));
    // A merge of merges is the same as one merge of everything.
    let halves = [merge(&docs[..2], false, vec![]).unwrap(), merge(&docs[2..], false, vec![]).unwrap()];
    let again = merge(&halves, false, vec!["vastar".into(), "merge".into()]).unwrap();
    assert_eq!(again.stats().unwrap(), stats);
    assert_eq!((again.summary, again.parts.len()), (merged.summary.clone(), 4));
}

#[test]
fn different_targets_and_versions_are_refused() {
    let a = ResultDoc::new(&Summary::new(&stats_of(&[1_000]), &info(1_000)), meta(1, "http://a/"));
    let b = ResultDoc::new(&Summary::new(&stats_of(&[2_000]), &info(1_000)), meta(1, "http://b/"));
    let err = merge(&[a.clone(), b.clone()], false, vec![]).unwrap_err();
    assert!(err.contains("GET http://a/ and GET http://b/") && err.contains("--force"), "{err}");
    assert_eq!(merge(&[a.clone(), b], true, vec![]).unwrap().counts.responses, 2);
    let mut value = serde_json::to_value(&a).unwrap();
    value["schema_version"] = 2.into();
    let err = ResultDoc::from_value(value).unwrap_err();
    assert!(err.contains("schema version 2") && err.contains("reads version 1"), "{err}");
    assert!(ResultDoc::parse("{\"hello\": 1}").unwrap_err().contains("not a vastar result"));
    assert!(ResultDoc::parse("not json").unwrap_err().contains("not JSON"));
    let mut value = serde_json::to_value(&a).unwrap();
    value["histograms"]["corrected"]["count"] = 99.into();
    let doc = ResultDoc::from_value(value).unwrap();
    assert!(doc.stats().unwrap_err().contains("count says 99"));
}

#[test]
fn csv_lists_every_percentile() {
    let doc = ResultDoc::new(&Summary::new(&stats_of(&latencies(1_000, 3)), &info(1_000)), meta(1, "http://h/"));
    let csv = doc.csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "percentile,corrected_seconds,uncorrected_seconds");
    assert_eq!(lines.len(), 1 + PERCENTILES.len());
    assert!(lines[3].starts_with("50,"), "{csv}");
}

/// Every number of a real document replaced, one at a time, by values that
/// break arithmetic: reading, merging (with itself, so sums double) and
/// reporting must refuse or cope, never panic or wrap.
#[test]
fn hostile_numbers_in_a_document_never_panic() {
    // Every record also goes into a timeline, so that its numbers are
    // mutated too (seven intervals of 1 s: enough for diff to resample).
    let mut stats = WorkerStats::for_targets(3);
    let (mut recorder, mut timeline) = (Recorder::new(Duration::from_secs(1)), Timeline::new(Duration::from_secs(1)));
    let mut records: Vec<Record> =
        latencies(200, 9).iter().map(|&v| record(Ok(if v % 7 == 0 { 503 } else { 200 }), v)).collect();
    records.extend([record(Err(ErrorKind::Timeout), 5_000), record(Err(ErrorKind::Reset), 0)]);
    for (i, r) in records.iter().enumerate() {
        stats.record(r);
        stats.targets.record((i % 3) as u16, r);
        if let Some(done) = recorder.record(i as u64 * 30_000_000, r) {
            timeline.add(&done).unwrap();
        }
    }
    timeline.add(&recorder.finish().unwrap()).unwrap();
    stats.send_lag.record(1_000);
    let mut run = info(2_000);
    run.dns = Some((Duration::from_micros(300), 2));
    run.rate = Some(Rate { target: 100.0, achieved: 99.0, shape: None, arrivals: Some("poisson (seed 3)".into()) });
    run.requests = Some(crate::summary::Requests {
        labels: ["GET http://h/a", "GET http://h/b", "POST http://h/c"].map(String::from).to_vec(),
        order: "round-robin".into(),
        seed: 7,
        pool: 3,
        used: 3,
        templated: false,
        from_file: true,
    });
    let summary = Summary::new(&stats, &run).with_timeline(Some(&timeline));
    let doc = ResultDoc::new(&summary, meta(1_795_848_365, "http://h/"));
    assert_eq!(doc.timeline.as_ref().map(|t| t.intervals.len()), Some(7));
    let original = serde_json::to_value(&doc).unwrap();
    let hostile: [serde_json::Value; 8] = [
        u64::MAX.into(),
        (1u64 << 63).into(),
        0.into(),
        (-1).into(),
        1e300.into(),
        (-1e300).into(),
        0.5.into(),
        u128::MAX.to_string().parse::<serde_json::Number>().map_or(0.into(), serde_json::Value::Number),
    ];
    let mut paths = Vec::new();
    numbers(&original, &mut vec![], &mut paths);
    assert!(paths.len() > 50, "the document has {} numbers", paths.len());
    for path in &paths {
        for value in &hostile {
            let mut mutated = original.clone();
            *pointer(&mut mutated, path) = value.clone();
            let Ok(doc) = ResultDoc::from_value(mutated) else { continue };
            // The commands that read results: none may panic.
            let _ = crate::diff::diff(&doc, &doc);
            let _ = crate::html::page(&mut Vec::new(), &[crate::html::Input { label: "x".into(), doc: &doc }]);
            for set in [vec![doc.clone()], vec![doc.clone(), doc.clone()]] {
                let Ok(merged) = merge(&set, true, vec![]) else { continue };
                let Ok(stats) = merged.stats() else { continue };
                let mut out = Vec::new();
                let info = merged.run_info();
                crate::report::render(&mut out, &Summary::new(&stats, &info), &Style::plain()).unwrap();
                let _ = merged.csv();
            }
        }
    }
}

/// Paths to every number in `value` (only the first three items of an array).
fn numbers(value: &serde_json::Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        serde_json::Value::Number(_) => out.push(at.clone()),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate().take(3) {
                at.push(i.to_string());
                numbers(item, at, out);
                at.pop();
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                at.push(key.clone());
                numbers(item, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn pointer<'a>(value: &'a mut serde_json::Value, path: &[String]) -> &'a mut serde_json::Value {
    let text: String = path.iter().map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1"))).collect();
    value.pointer_mut(&text).expect("the path exists")
}

#[test]
fn tls_figures_round_trip_and_merge() {
    let mut stats = stats_of(&latencies(1_000, 3));
    for (ns, resumed) in [(900_000, false), (300_000, true)] {
        let h = crate::stats::Handshake { ns, resumed, version: "TLS 1.2", suite: "S", group: "G" };
        stats.tls.record(&h);
    }
    let doc = ResultDoc::new(&Summary::new(&stats, &info(1_000)), meta(1_000, "https://h/"));
    let tls = doc.tls.as_ref().unwrap();
    assert_eq!((tls.version.as_str(), tls.full, tls.resumed, tls.handshake.count), ("TLS 1.2", 1, 1, 2));
    let back = ResultDoc::parse(&serde_json::to_string(&doc).unwrap()).unwrap();
    assert_eq!(back.stats().unwrap(), stats);
    let merged = merge(&[doc.clone(), doc], false, vec!["vastar".into()]).unwrap().stats().unwrap();
    assert_eq!((merged.tls.handshake.count, merged.tls.resumed), (4, 2));
    // Written before TLS existed: no field at all.
    let mut value = serde_json::to_value(&back).unwrap();
    value.as_object_mut().unwrap().remove("tls");
    assert!(ResultDoc::from_value(value).unwrap().tls.is_none());
    let mut value = serde_json::to_value(&back).unwrap();
    value["tls"]["resumed"] = 9.into();
    assert!(ResultDoc::from_value(value).unwrap().stats().unwrap_err().contains("resumed"));
}

/// A run of `values` with a timeline of one-second intervals, as a document.
fn timed_doc(values: &[u64], start_s: u64) -> ResultDoc {
    let (mut stats, mut recorder) = (WorkerStats::new(), Recorder::new(Duration::from_secs(1)));
    let mut timeline = Timeline::new(Duration::from_secs(1));
    for (i, &v) in values.iter().enumerate() {
        let r = record(Ok(200), v);
        stats.record(&r);
        if let Some(done) = recorder.record(i as u64 * 10_000_000, &r) {
            timeline.add(&done).unwrap();
        }
    }
    timeline.add(&recorder.finish().unwrap()).unwrap();
    let info = info(values.len() as u64 * 10);
    ResultDoc::new(&Summary::new(&stats, &info).with_timeline(Some(&timeline)), meta(start_s, "http://h/"))
}

#[test]
fn named_metrics_round_trip_merge_and_add_up_over_the_timeline() {
    let values = latencies(500, 5);
    let doc = timed_doc(&values, 1_000);
    let ttfb = &doc.metrics["ttfb"];
    assert_eq!((ttfb.label.as_str(), ttfb.histogram.count), ("Time to first byte", 500));
    assert_eq!(ttfb.percentiles.len(), PERCENTILES.len());
    let exact = |p: f64| {
        let mut sorted: Vec<u64> = values.iter().map(|&v| v * 3 / 5).collect();
        sorted.sort_unstable();
        sorted[((p / 100.0 * 500.0).ceil() as usize).clamp(1, 500) - 1] as f64 / 1e9
    };
    for q in &ttfb.percentiles {
        assert!((q.s - exact(q.p)).abs() <= exact(q.p) * 0.004, "p{}: {} vs {}", q.p, q.s, exact(q.p));
    }
    let text = serde_json::to_string(&doc).unwrap();
    let back = ResultDoc::parse(&text).unwrap();
    // (Derived floats may differ in their last bit: serde_json parses
    // without float_roundtrip; the histograms are exact.)
    assert_eq!((&back.metrics, &back.timeline), (&doc.metrics, &doc.timeline));
    let stats = back.stats().unwrap();
    assert_eq!(stats, doc.stats().unwrap());
    assert_eq!(stats.metrics.get(TTFB).count(), 500);
    // The intervals' metrics add up to the run's.
    let total = back.timeline().unwrap().unwrap().totals().unwrap();
    assert_eq!(Some(total.metrics.get(TTFB)), Some(&crate::stats::Sparse::of(stats.metrics.get(TTFB))));
    // A merge adds them like every histogram: twice the values, the same percentiles.
    let merged = merge(&[doc.clone(), timed_doc(&values, 1_000)], false, vec![]).unwrap();
    assert_eq!(merged.metrics["ttfb"].histogram.count, 1_000);
    assert_eq!(merged.metrics["ttfb"].percentiles, ttfb.percentiles);
    let merged_total = merged.timeline().unwrap().unwrap().totals().unwrap();
    assert_eq!(merged_total.metrics.get(TTFB).count(), 1_000);
    // Written before vastar kept metrics: none, and nothing else changes.
    let mut value = serde_json::to_value(&doc).unwrap();
    value.as_object_mut().unwrap().remove("metrics");
    for interval in value["timeline"]["intervals"].as_array_mut().unwrap() {
        interval.as_object_mut().unwrap().remove("metrics");
    }
    let old = ResultDoc::from_value(value).unwrap();
    assert_eq!(old.stats().unwrap().metrics, crate::stats::Metrics::default());
    assert_eq!(old.stats().unwrap().corrected, stats.corrected);
}

#[test]
fn metric_names_this_vastar_does_not_know_are_ignored_and_bad_values_refused() {
    let doc = timed_doc(&latencies(300, 8), 1_000);
    let original = serde_json::to_value(&doc).unwrap();
    // Unknown names, at the top and in an interval, as unknown fields are.
    let mut value = original.clone();
    value["metrics"]["from_the_future"] = value["metrics"]["ttfb"].clone();
    value["timeline"]["intervals"][0]["metrics"]["from_the_future"] = 7.into();
    let read = ResultDoc::from_value(value).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read.stats().unwrap(), doc.stats().unwrap());
    // Values that cannot be: refused with a line that names the metric.
    let cases: [(&str, serde_json::Value, &str); 4] = [
        ("/metrics/ttfb/histogram/buckets/0/0", u64::MAX.into(), "histogram of metric ttfb: bucket"),
        ("/metrics/ttfb/histogram/buckets/0/1", u64::MAX.into(), "histogram of metric ttfb"),
        ("/metrics/ttfb/histogram/count", 301.into(), "histogram of metric ttfb"),
        ("/timeline/intervals/0/metrics/ttfb/buckets/0/0", 99_999.into(), "of metric ttfb: bucket"),
    ];
    for (path, bad, why) in cases {
        let mut value = original.clone();
        *value.pointer_mut(path).unwrap_or_else(|| panic!("{path}")) = bad;
        let err = ResultDoc::from_value(value).and_then(|d| d.stats().map(|_| ())).unwrap_err();
        assert!(err.contains(why) && !err.contains('\n'), "{path}: {err}");
    }
    // More values than responses, with the buckets to match.
    let mut value = original.clone();
    value["metrics"]["ttfb"]["histogram"]["buckets"][0][1] = 10_000.into();
    let count = value["metrics"]["ttfb"]["histogram"]["count"].as_u64().unwrap();
    let first = original["metrics"]["ttfb"]["histogram"]["buckets"][0][1].as_u64().unwrap();
    value["metrics"]["ttfb"]["histogram"]["count"] = (count - first + 10_000).into();
    let err = ResultDoc::from_value(value).unwrap().stats().unwrap_err();
    assert!(err.contains("metric ttfb holds") && err.contains("more than the 300 responses"), "{err}");
}

#[test]
fn the_protocol_round_trips_and_a_merge_keeps_it_or_refuses_a_mix() {
    use crate::summary::Protocol;
    let stats = stats_of(&latencies(100, 3));
    let doc = |start_s, protocol| {
        let info = RunInfo { protocol, ..info(1_000) };
        ResultDoc::new(&Summary::new(&stats, &info), meta(start_s, "http://h/"))
    };
    let h2 = |streams| Protocol::Http2 { streams: Some(streams) };
    let (a, b) = (doc(1_795_848_365, h2(10)), doc(1_795_848_366, h2(10)));
    let back = ResultDoc::parse(&serde_json::to_string(&a).unwrap()).unwrap();
    assert_eq!(back.run_info().protocol, h2(10));
    assert_eq!(merge(&[a.clone(), b], false, vec![]).unwrap().run_info().protocol, h2(10));
    let other = doc(1_795_848_366, h2(4));
    assert_eq!(
        merge(&[a.clone(), other], false, vec![]).unwrap().run_info().protocol,
        Protocol::Http2 { streams: None }
    );
    let http1 = doc(1_795_848_366, Protocol::Http1);
    for force in [false, true] {
        let err = merge(&[a.clone(), http1.clone()], force, vec![]).unwrap_err();
        assert!(err.contains("different protocols (HTTP/2 and HTTP/1.1)"), "{err}");
    }
    // Documents from before HTTP/2 have no protocol: HTTP/1.1.
    let mut old: serde_json::Value = serde_json::to_value(&http1).unwrap();
    old["run"].as_object_mut().unwrap().remove("protocol");
    assert_eq!(ResultDoc::parse(&old.to_string()).unwrap().run_info().protocol, Protocol::Http1);
}
