//! The machine reading event streams and JSON answers: the times of the
//! events, the samples it hands out, what the finished record carries.

use super::*;
use crate::stats::counters::{EVENTS, GOOD, STREAMED, TOKENS, TOKENS_FROM_USAGE};
use crate::stats::metrics::{ITL, TPOT, TTFT};
use crate::stats::{Goodput, Record};

const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

/// One chunk of a chunked body holding `event`.
fn chunk(event: &str) -> Vec<u8> {
    format!("{:x}\r\n{event}\r\n", event.len()).into_bytes()
}

fn token(text: &str) -> String {
    format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n")
}

const ROLE: &str = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n";
const DONE: &str = "data: [DONE]\n\n";

/// The groups of values handed out: (metric, count, min, max, sum).
fn samples(events: &[Event]) -> Vec<(usize, u64, Duration, Duration, Duration)> {
    let each = events.iter().filter_map(|e| match *e {
        Event::Sample { metric, values: v, .. } => {
            let ns = Duration::from_nanos;
            Some((metric, v.count, ns(v.min_ns), ns(v.max_ns), ns(v.sum_ns as u64)))
        }
        _ => None,
    });
    each.collect()
}

fn finished(events: &[Event]) -> Record {
    let mut ends = events.iter().filter_map(|e| match e {
        Event::Finished { finished, .. } => Some(finished.record),
        _ => None,
    });
    ends.next().expect("a stream ended")
}

fn metric(record: &Record, metric: usize) -> Option<Duration> {
    record.metrics.get(metric).map(Duration::from_nanos)
}

/// A machine that sent its request at `t0` with these limits.
fn sent(r: &RequestSet, t0: Instant, limits: Limits) -> Connection {
    let mut c = super::connected(r, t0, limits);
    c.start(0, t0, t0, r);
    io(&mut c, r);
    c.handle_sent(Ok(()), t0, r);
    c
}

/// The stream of the tests: role at 10 ms, tokens at 80, 95 and 110 ms
/// with usage (7 tokens) and [DONE], the last chunk at 111 ms.
fn stream(c: &mut Connection, r: &RequestSet, t0: Instant, usage: bool) -> Vec<Event> {
    c.handle_data(HEAD, ms(t0, 5), r);
    c.handle_data(&chunk(ROLE), ms(t0, 10), r);
    c.handle_data(&chunk(&token("Hel")), ms(t0, 80), r);
    c.handle_data(&[chunk(&token("lo")), chunk("data: {\"choices\":[{\"delta\":")].concat(), ms(t0, 95), r);
    let usage = if usage { chunk("data: {\"choices\":[],\"usage\":{\"completion_tokens\":7}}\n\n") } else { vec![] };
    let last = [chunk("{\"content\":\"!\"}}]}\n\n"), usage, chunk(DONE)].concat();
    c.handle_data(&last, ms(t0, 110), r);
    c.handle_data(b"0\r\n\r\n", ms(t0, 111), r);
    events(c)
}

#[test]
fn a_stream_is_timed_event_by_event() {
    let (r, t0) = (requests("POST", false), Instant::now());
    let mut c = sent(&r, t0, Limits::default());
    let events = stream(&mut c, &r, t0, true);
    let ms = Duration::from_millis;
    assert_eq!(samples(&events), [(ITL, 2, ms(15), ms(15), ms(30))], "the gaps between content events");
    assert!(matches!(events.last(), Some(Event::Finished { .. })), "the gaps come before the end: {events:?}");
    let record = finished(&events);
    assert_eq!(record.result, Ok(200));
    assert_eq!(metric(&record, TTFT), Some(ms(80)));
    assert_eq!(metric(&record, TPOT), Some(ms(5)), "(110 - 80) ms over 7 - 1 tokens");
    let counts = |n: &[usize]| n.iter().map(|&i| record.tally.0[i]).collect::<Vec<_>>();
    assert_eq!(counts(&[STREAMED, EVENTS, TOKENS, TOKENS_FROM_USAGE, GOOD]), [1, 5, 7, 1, 0]);
    assert!(!closed(&mut c, &r), "the connection carries the next request");
}

#[test]
fn without_usage_the_content_events_are_the_tokens() {
    let (r, t0) = (requests("POST", false), Instant::now());
    let mut c = sent(&r, t0, Limits::default());
    let record = finished(&stream(&mut c, &r, t0, false));
    assert_eq!((record.tally.0[TOKENS], record.tally.0[TOKENS_FROM_USAGE]), (3, 0));
    assert_eq!(metric(&record, TPOT), Some(Duration::from_millis(15)));
}

#[test]
fn goodput_judges_each_request() {
    let (r, t0) = (requests("POST", false), Instant::now());
    for (limit_ms, good) in [(81, 1), (80, 0)] {
        let goodput = Goodput { ttft: Some(Duration::from_millis(limit_ms)), ..Goodput::default() };
        let mut c = sent(&r, t0, Limits { goodput: Some(goodput), ..Limits::default() });
        assert_eq!(finished(&stream(&mut c, &r, t0, true)).tally.0[GOOD], good, "ttft<{limit_ms}ms");
    }
}

#[test]
fn a_stream_that_reports_an_error_fails_and_keeps_its_connection() {
    let (r, t0) = (requests("POST", false), Instant::now());
    let mut c = sent(&r, t0, Limits::default());
    c.handle_data(HEAD, ms(t0, 1), &r);
    let body =
        [chunk(&token("a")), chunk("event: error\ndata: {\"message\":\"overloaded\"}\n\n"), b"0\r\n\r\n".to_vec()];
    c.handle_data(&body.concat(), ms(t0, 2), &r);
    let ended = events(&mut c);
    assert_eq!(samples(&ended), [], "a failed stream's gaps do not count");
    let record = finished(&ended);
    assert_eq!((record.result, record.tally), (Err(ErrorKind::StreamError), Default::default()));
    assert!(!closed(&mut c, &r), "the response was whole: the connection is reused");
    // An OpenAI stream without [DONE], and a malformed event.
    for (body, kind) in
        [(token("a"), ErrorKind::StreamUnfinished), ("data: {\"a\":\n\n".into(), ErrorKind::MalformedEvent)]
    {
        c.start(0, t0, t0, &r);
        io(&mut c, &r);
        c.handle_sent(Ok(()), t0, &r);
        c.handle_data(&[HEAD, &chunk(&body), b"0\r\n\r\n"].concat(), ms(t0, 3), &r);
        assert_eq!(finished(&events(&mut c)).result, Err(kind), "{body}");
    }
}

#[test]
fn a_stream_cut_short_is_incomplete_without_figures() {
    let (r, t0) = (requests("POST", false), Instant::now());
    let mut c = sent(&r, t0, Limits::default());
    c.handle_data(&[HEAD, &chunk(&token("a"))].concat(), ms(t0, 1), &r);
    c.handle_data(&chunk(&token("b")), ms(t0, 3), &r);
    c.handle_eof(ms(t0, 4), &r);
    let events = events(&mut c);
    assert_eq!(samples(&events), [], "a failed stream's gaps do not count");
    let record = finished(&events);
    assert_eq!(
        (record.result, metric(&record, TTFT), record.tally),
        (Err(ErrorKind::Incomplete), None, Default::default())
    );
}

#[test]
fn json_answers_are_read_for_usage_only_from_llm_endpoints() {
    let json = r#"{"choices":[],"usage":{"completion_tokens":9}}"#;
    let answer =
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}", json.len());
    let t0 = Instant::now();
    for (target, tokens) in [("/v1/chat/completions", 9), ("/v1/completions?x=1", 9), ("/api/completion", 0)] {
        let spec = crate::http::RequestSpec {
            method: "POST".into(),
            target: target.into(),
            defaults: vec![("Host".into(), "h".into())],
            user: vec![],
            body: bytes::Bytes::new(),
        };
        let pool = std::sync::Arc::new(crate::http::Pool::single(spec.build()));
        let r = RequestSet::new(pool, true, false, "h".into(), 80);
        let mut c = sent(&r, t0, Limits::default());
        c.handle_data(answer.as_bytes(), ms(t0, 7), &r);
        let record = finished(&events(&mut c));
        assert_eq!((record.result, record.tally.0[TOKENS], record.tally.0[STREAMED]), (Ok(200), tokens, 0), "{target}");
        assert_eq!(metric(&record, TTFT), None, "a whole answer has no first token");
    }
}

#[test]
fn a_stream_is_read_without_a_low_water_mark() {
    let (r, t0) = (requests("POST", false), Instant::now());
    let mut c = sent(&r, t0, Limits::default());
    c.handle_data(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 1000000\r\n\r\ndata: a\n\n",
        t0,
        &r,
    );
    assert_eq!(c.low_water_change(), None, "1 byte, as set: each event wakes the reader");
}

/// Reads with the kernel's arrival stamps: the events are timed by when
/// their bytes arrived, however late they were read; a stamp outside the
/// stream's life (a clock step) is held inside it; only an event stream
/// asks for stamps.
#[test]
fn stamped_reads_time_events_by_their_arrival() {
    let (r, t0) = (requests("POST", false), Instant::now());
    let mut c = sent(&r, t0, Limits::default());
    assert!(!c.wants_arrival_stamps(), "nothing known of the body yet");
    c.handle_data(HEAD, ms(t0, 5), &r);
    assert!(c.wants_arrival_stamps(), "an event stream");
    // Arrived at 80, 95 and 110 ms; read 4, 0 and 2 ms late.
    c.handle_stamped_data(&chunk(&token("a")), ms(t0, 84), ms(t0, 80), &r);
    c.handle_stamped_data(&chunk(&token("b")), ms(t0, 95), ms(t0, 95), &r);
    c.handle_stamped_data(
        &[chunk(&token("c")), chunk(DONE), b"0\r\n\r\n".to_vec()].concat(),
        ms(t0, 112),
        ms(t0, 110),
        &r,
    );
    let seen = events(&mut c);
    let d = Duration::from_millis;
    assert_eq!(samples(&seen), [(ITL, 2, d(15), d(15), d(30))]);
    let record = finished(&seen);
    assert_eq!((metric(&record, TTFT), metric(&record, TPOT)), (Some(d(80)), Some(d(15))));
    assert_eq!(record.latency, d(112), "the response still ends when it was read whole");
    assert!(!c.wants_arrival_stamps(), "idle between requests");

    // Stamps before the request's start or after the read are held inside.
    let mut c = sent(&r, t0, Limits::default());
    c.handle_data(HEAD, ms(t0, 5), &r);
    c.handle_stamped_data(&chunk(&token("a")), ms(t0, 20), t0 - d(50), &r);
    c.handle_stamped_data(
        &[chunk(&token("b")), chunk(DONE), b"0\r\n\r\n".to_vec()].concat(),
        ms(t0, 30),
        ms(t0, 90),
        &r,
    );
    let seen = events(&mut c);
    assert_eq!(samples(&seen), [(ITL, 1, d(30), d(30), d(30))]);
    assert_eq!(metric(&finished(&seen), TTFT), Some(d(0)));

    // A plain body never asks.
    let mut c = sent(&r, t0, Limits::default());
    c.handle_data(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", ms(t0, 5), &r);
    assert!(!c.wants_arrival_stamps());
}
