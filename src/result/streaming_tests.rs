//! The streaming figures through the result file: written, read back
//! exactly, merged by adding, goodput limits kept and checked.

use super::merge::merge;
use super::*;
use crate::stats::counters::{EVENTS, GOOD, STREAMED, TOKENS, TOKENS_FROM_USAGE};
use crate::stats::metrics::{ITL, TPOT, TTFT};
use crate::stats::{Goodput, Phase, Record, Recorder, Timeline};

/// 200 streamed responses over 2 s, 24 tokens each from usage, TTFT
/// 80 + i % 10 ms, 23 gaps of 15 ms each; half of them good.
fn streamed_doc(goodput: Option<Goodput>) -> ResultDoc {
    let (mut stats, mut recorder) = (WorkerStats::new(), Recorder::new(Duration::from_secs(1)));
    let mut timeline = Timeline::new(Duration::from_secs(1));
    let ms = Duration::from_millis;
    for i in 0..200u64 {
        let at_ns = i * 10_000_000;
        let mut gaps = Phase::default();
        (0..23).for_each(|_| gaps.record(15_000_000));
        stats.metrics.record_group(ITL, &gaps);
        if let Some(done) = recorder.sample(at_ns, ITL, &gaps) {
            timeline.add(&done).unwrap();
        }
        let record = Record::sample(Ok(200), ms(500))
            .measured(TTFT, ms(80 + i % 10))
            .measured(TPOT, ms(15))
            .counted(STREAMED, 1)
            .counted(EVENTS, 26)
            .counted(TOKENS, 24)
            .counted(TOKENS_FROM_USAGE, 1)
            .counted(GOOD, u32::from(i % 2 == 0));
        stats.record(&record);
        if let Some(done) = recorder.record(at_ns, &record) {
            timeline.add(&done).unwrap();
        }
    }
    timeline.add(&recorder.finish().unwrap()).unwrap();
    let info = RunInfo { goodput, ..RunInfo::sample(Duration::from_secs(2)) };
    ResultDoc::new(&Summary::new(&stats, &info).with_timeline(Some(&timeline)), Meta::sample(1_000, "http://h/"))
}

#[test]
fn streams_are_written_read_back_and_merged_exactly() {
    let goodput = Goodput { ttft: Some(Duration::from_millis(85)), ..Goodput::default() };
    let doc = streamed_doc(Some(goodput));
    let s = doc.streaming.as_ref().expect("a streaming object");
    assert_eq!((s.responses, s.events, s.output_tokens, s.token_source.as_str()), (200, 5200, 4800, "usage"));
    assert_eq!(s.output_tokens_per_sec, 2400.0);
    assert!((s.ttft.p50_s - 0.084).abs() < 0.001 && (s.itl.p99_s - 0.015).abs() < 0.0001, "{s:?}");
    let g = s.goodput.as_ref().expect("asked for");
    assert_eq!((g.expr.as_str(), g.requests, g.per_sec), ("ttft<85ms", 100, 50.0));
    assert_eq!(doc.counters["tokens"], 4800);
    let value = serde_json::to_value(&doc).unwrap();
    let keys: Vec<&str> = value["streaming"].as_object().unwrap().keys().map(String::as_str).collect();
    let want = [
        "events",
        "goodput",
        "itl",
        "output_tokens",
        "output_tokens_per_sec",
        "responses",
        "token_source",
        "tpot",
        "ttft",
    ];
    assert_eq!(keys, want, "the object scripts rely on");
    let intervals = value["timeline"]["intervals"].as_array().unwrap();
    let tokens: u64 = intervals.iter().filter_map(|i| i["counters"]["tokens"].as_u64()).sum();
    assert_eq!(tokens, 4800, "each interval has its own counts");

    let back = ResultDoc::parse(&serde_json::to_string(&doc).unwrap()).unwrap();
    assert_eq!(back.stats().unwrap(), doc.stats().unwrap());
    assert_eq!(back.run_info().goodput, Some(goodput));
    let total = back.timeline().unwrap().unwrap().totals().unwrap();
    assert_eq!((total.counts.get(TOKENS), total.metrics.get(ITL).count()), (4800, 4600));

    let merged = merge(&[doc.clone(), streamed_doc(Some(goodput))], false, vec![]).unwrap();
    let m = merged.streaming.as_ref().unwrap();
    assert_eq!((m.responses, m.output_tokens, m.goodput.as_ref().unwrap().requests), (400, 9600, 200));
    assert_eq!(merged.metrics["itl"].histogram.count, 9200, "many values per response, merged too");

    let other = streamed_doc(Some(Goodput { ttft: Some(Duration::from_millis(50)), ..Goodput::default() }));
    let refused = merge(&[doc.clone(), other.clone()], false, vec![]).unwrap_err();
    assert!(refused.contains("different --goodput limits"), "{refused}");
    let forced = merge(&[doc, other], true, vec![]).unwrap();
    assert_eq!(forced.streaming.as_ref().unwrap().goodput, None, "no goodput from different limits");
    assert_eq!(forced.counters.get("good"), None);
    let intervals = forced.timeline().unwrap().expect("both had a timeline");
    assert!(intervals.intervals().iter().all(|i| i.counts.get(GOOD) == 0), "nor over time");
    assert_eq!(intervals.totals().unwrap().counts.get(TOKENS), 9600, "the other counts stay");
}

#[test]
fn a_plain_run_has_no_streaming_object_and_bad_limits_are_refused() {
    let plain = streamed_doc(None);
    assert!(plain.streaming.as_ref().unwrap().goodput.is_none());
    let mut value = serde_json::to_value(&plain).unwrap();
    value["run"]["goodput"] = serde_json::json!({ "ttft_s": -1.0 });
    let refused = ResultDoc::from_value(value).unwrap_err();
    assert!(refused.contains("goodput limit"), "{refused}");
    let empty = WorkerStats::new();
    let info = RunInfo::sample(Duration::from_secs(1));
    let doc = ResultDoc::new(&Summary::new(&empty, &info), Meta::sample(1, "http://h/"));
    let text = serde_json::to_string(&doc).unwrap();
    assert!(!text.contains("\"streaming\"") && !text.contains("\"counters\""), "{text}");
}
