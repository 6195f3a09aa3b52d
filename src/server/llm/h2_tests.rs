//! The mock's HTTP/2 connection against scripted client bytes and made-up
//! instants: events due at their instants and not before, the due events
//! of several streams in one output, the client's windows respected
//! stream by stream, a reset stream stopped and forgotten, the JSON
//! answers and refusals, and the truth taken at the end of each write.

use std::time::{Duration, Instant};

use super::*;
use crate::http::h2::frame::{self, DEFAULT_MAX_FRAME_BYTES, ErrorCode, PREFACE, flag, kind, setting};
use crate::http::h2::hpack::{Decoder, encode_request};
use crate::http::h2::test_frames::{Sent, frames};
use crate::server::llm::LlmOptions;

const MS: Duration = Duration::from_millis(1);

fn mock(tokens: u32) -> Mock {
    Mock::new(&LlmOptions { ttft: 80 * MS, itl: 15 * MS, tokens, tokens_per_event: 1 })
}

/// The client's bytes: the preface and SETTINGS with `params`.
fn start(params: &[(u16, u32)]) -> Vec<u8> {
    let mut wire = PREFACE.to_vec();
    frame::encode_settings(&mut wire, params);
    wire
}

/// A request on `stream`: HEADERS, then `body` as one DATA frame if any.
fn request(wire: &mut Vec<u8>, stream: u32, method: &str, path: &str, body: &str) {
    let mut block = Vec::new();
    encode_request(method.as_bytes(), b"http", b"localhost", path.as_bytes(), &[], &mut block);
    frame::encode_headers(wire, stream, &block, body.is_empty(), DEFAULT_MAX_FRAME_BYTES);
    if !body.is_empty() {
        frame::encode_data(wire, stream, body.as_bytes(), true, DEFAULT_MAX_FRAME_BYTES);
    }
}

const STREAM: &str = r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#;

/// The frames the connection has to send, written at `now`; the
/// handshake's and our window updates left out.
fn written(conn: &mut H2Mock, mock: &Mock, now: Instant) -> Vec<Sent> {
    let bytes = conn.output().to_vec();
    conn.output_sent(mock, bytes.len(), now);
    let mut sent = frames(&bytes);
    sent.retain(|f| f.stream != 0);
    sent
}

fn data(sent: &[Sent], stream: u32) -> impl Iterator<Item = &Sent> {
    sent.iter().filter(move |f| f.is(kind::DATA, stream))
}

fn fields(block: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Decoder::new(usize::MAX).decode(block, |n, v| out.push((text(n), text(v)))).unwrap();
    out
}

fn status(sent: &[Sent], stream: u32) -> String {
    let head = sent.iter().find(|f| f.is(kind::HEADERS, stream)).expect("a head");
    fields(&head.payload).into_iter().find(|(n, _)| n == ":status").unwrap().1
}

/// A connection that has read `wire` at `t0`, its output so far taken.
fn connected(mock: &Mock, wire: &[u8], t0: Instant) -> (H2Mock, Vec<Sent>) {
    let mut conn = H2Mock::new(None);
    conn.feed(mock, wire, t0);
    let sent = written(&mut conn, mock, t0);
    (conn, sent)
}

#[test]
fn events_are_due_at_their_instants_and_all_streams_due_leave_in_one_output() {
    let (mock, t0) = (mock(3), Instant::now());
    let mut wire = start(&[]);
    for stream in [1, 3, 5] {
        request(&mut wire, stream, "POST", "/v1/chat/completions", STREAM);
    }
    let (mut conn, heads) = connected(&mock, &wire, t0);
    assert_eq!(heads.iter().filter(|f| f.kind == kind::HEADERS).count(), 3, "the heads at once");
    assert_eq!(status(&heads, 3), "200");
    assert_eq!(conn.next_deadline(), Some(t0 + 80 * MS));
    conn.wake(&mock, t0 + 80 * MS - Duration::from_nanos(1));
    assert!(written(&mut conn, &mock, t0 + 80 * MS).is_empty(), "nothing before it is due");
    let mut texts = vec![Vec::new(); 6];
    for (i, write_at) in [81, 96, 111].into_iter().enumerate() {
        let due = t0 + (80 + 15 * i as u32) * MS;
        assert_eq!(conn.next_deadline(), Some(due));
        conn.wake(&mock, due);
        let sent = written(&mut conn, &mock, t0 + write_at * MS);
        for stream in [1, 3, 5] {
            let frames: Vec<&Sent> = data(&sent, stream).collect();
            assert_eq!(frames.len(), 1, "event {i} of stream {stream}, in the one output");
            let end = frames[0].flags & flag::END_STREAM != 0;
            assert_eq!(end, i == 2, "only the last event ends the stream");
            texts[stream as usize].extend_from_slice(&frames[0].payload);
        }
    }
    assert_eq!((conn.next_deadline(), conn.flows(), conn.is_done()), (None, 0, false));
    let text = String::from_utf8(texts[3].clone()).unwrap();
    assert!(text.starts_with("data: {") && text.ends_with("data: [DONE]\n\n"), "{text}");
    assert_eq!(text.matches("\"content\":\"tok \"").count(), 3);
    assert!(text.contains(r#""completion_tokens":3"#), "the usage chunk: {text}");
    assert!(!text.contains("\r\n"), "no chunked framing over HTTP/2");
    let truth = mock.truth.document();
    assert_eq!((truth["streams"].as_u64(), truth["itl_ms"]["count"].as_u64()), (Some(3), Some(6)));
    assert_eq!(truth["ttft_ms"]["max"].as_f64(), Some(81.0), "from the request's arrival to the write's end");
    assert_eq!(truth["itl_ms"]["p50"].as_f64(), Some(15.0));
}

#[test]
fn a_stream_whose_window_is_shut_waits_and_holds_up_no_other() {
    let (mock, t0) = (mock(2), Instant::now());
    let mut wire = start(&[(setting::INITIAL_WINDOW_SIZE, 0)]);
    request(&mut wire, 1, "POST", "/v1/completions", STREAM);
    request(&mut wire, 3, "POST", "/v1/completions", STREAM);
    frame::encode_window_update(&mut wire, 3, 1 << 20);
    let (mut conn, _) = connected(&mock, &wire, t0);
    conn.wake(&mock, t0 + 80 * MS);
    let sent = written(&mut conn, &mock, t0 + 80 * MS);
    assert_eq!((data(&sent, 1).count(), data(&sent, 3).count()), (0, 1), "stream 1 has no window");
    conn.wake(&mock, t0 + 95 * MS);
    let sent = written(&mut conn, &mock, t0 + 95 * MS);
    assert_eq!((data(&sent, 1).count(), data(&sent, 3).count()), (0, 1));
    assert_eq!(mock.truth.document()["streams"].as_u64(), Some(1), "only what was written is true");
    // Some window: part of the first event; then all of both, in one output.
    let mut update = Vec::new();
    frame::encode_window_update(&mut update, 1, 10);
    conn.feed(&mock, &update, t0 + 100 * MS);
    let sent = written(&mut conn, &mock, t0 + 100 * MS);
    assert_eq!(data(&sent, 1).map(|f| f.payload.len()).sum::<usize>(), 10, "never past the window");
    assert_eq!(mock.truth.document()["streams"].as_u64(), Some(1), "an event is written when its last byte is");
    update.clear();
    frame::encode_window_update(&mut update, 1, 1 << 20);
    conn.feed(&mock, &update, t0 + 110 * MS);
    let sent = written(&mut conn, &mock, t0 + 110 * MS);
    let frames: Vec<&Sent> = data(&sent, 1).collect();
    assert_eq!(frames.len(), 1, "what was held back, together");
    assert_ne!(frames[0].flags & flag::END_STREAM, 0);
    let truth = mock.truth.document();
    assert_eq!((truth["streams"].as_u64(), truth["ttft_ms"]["max"].as_f64()), (Some(2), Some(110.0)));
    assert_eq!(truth["itl_ms"]["min"].as_f64(), Some(0.0), "both events of stream 1 in one write");
    assert_eq!(conn.flows(), 0);
}

#[test]
fn a_reset_stream_stops_its_events_and_is_forgotten() {
    let (mock, t0) = (mock(4), Instant::now());
    let mut wire = start(&[]);
    request(&mut wire, 1, "POST", "/v1/chat/completions", STREAM);
    request(&mut wire, 3, "POST", "/v1/chat/completions", STREAM);
    let (mut conn, _) = connected(&mock, &wire, t0);
    conn.wake(&mock, t0 + 80 * MS);
    written(&mut conn, &mock, t0 + 80 * MS);
    let mut rst = Vec::new();
    frame::encode_rst_stream(&mut rst, 1, ErrorCode::CANCEL);
    conn.feed(&mock, &rst, t0 + 90 * MS);
    assert_eq!(conn.flows(), 1, "forgotten at once");
    for i in 1..4 {
        conn.wake(&mock, t0 + (80 + 15 * i) * MS);
        let sent = written(&mut conn, &mock, t0 + (80 + 15 * i) * MS);
        assert_eq!((data(&sent, 1).count(), data(&sent, 3).count()), (0, 1), "event {i}");
    }
    assert_eq!((conn.flows(), conn.next_deadline()), (0, None));
    assert_eq!(mock.truth.document()["itl_ms"]["count"].as_u64(), Some(3), "stream 3's gaps only");
}

#[test]
fn whole_answers_refusals_and_the_truth_are_json() {
    let (mock, t0) = (mock(5), Instant::now());
    let mut wire = start(&[]);
    request(&mut wire, 1, "POST", "/v1/chat/completions", r#"{"model":"m","max_tokens":2}"#);
    request(&mut wire, 3, "GET", "/", "");
    request(&mut wire, 5, "POST", "/v1/completions", "{not json");
    request(&mut wire, 7, "GET", "/mock/truth", "");
    let (mut conn, sent) = connected(&mock, &wire, t0);
    let body = |sent: &[Sent], stream| -> serde_json::Value {
        let bytes: Vec<u8> = data(sent, stream).flat_map(|f| f.payload.clone()).collect();
        serde_json::from_slice(&bytes).unwrap()
    };
    assert_eq!((status(&sent, 3), status(&sent, 5), status(&sent, 7)), ("404".into(), "400".into(), "200".into()));
    assert!(body(&sent, 3)["error"]["message"].as_str().unwrap().contains("no such endpoint: GET /"));
    assert!(body(&sent, 5)["error"]["message"].as_str().unwrap().starts_with("the body is not valid JSON"));
    assert_eq!(body(&sent, 7)["streams"].as_u64(), Some(0));
    assert!(sent.iter().all(|f| f.stream != 1), "the whole answer waits for its last token");
    // Two tokens: the last is due at ttft + itl.
    conn.wake(&mock, t0 + 94 * MS);
    assert!(written(&mut conn, &mock, t0 + 94 * MS).is_empty());
    conn.wake(&mock, t0 + 95 * MS);
    let sent = written(&mut conn, &mock, t0 + 95 * MS);
    assert_eq!(status(&sent, 1), "200");
    let head = fields(&sent.iter().find(|f| f.is(kind::HEADERS, 1)).unwrap().payload);
    assert!(head.contains(&("content-type".into(), "application/json".into())));
    let answer = body(&sent, 1);
    assert_eq!(answer["choices"][0]["message"]["content"], "tok tok ");
    assert_eq!(answer["usage"]["completion_tokens"], 2);
    assert_eq!(conn.flows(), 0);
}

#[test]
fn a_body_past_the_limit_is_refused_and_its_stream_reset_without_error() {
    let (mock, t0) = (mock(5), Instant::now());
    let mut wire = start(&[]);
    let mut block = Vec::new();
    encode_request(b"POST", b"http", b"h", b"/v1/completions", &[], &mut block);
    frame::encode_headers(&mut wire, 1, &block, false, DEFAULT_MAX_FRAME_BYTES);
    let piece = vec![b' '; DEFAULT_MAX_FRAME_BYTES as usize];
    for _ in 0..=(MAX_BODY_BYTES / piece.len()) {
        frame::encode_data(&mut wire, 1, &piece, false, DEFAULT_MAX_FRAME_BYTES);
    }
    request(&mut wire, 3, "GET", "/mock/truth", "");
    let (mut conn, sent) = connected(&mock, &wire, t0);
    assert_eq!(status(&sent, 1), "413");
    let rst = sent.iter().find(|f| f.is(kind::RST_STREAM, 1)).expect("RST_STREAM after the answer");
    assert_eq!(rst.payload, 0u32.to_be_bytes(), "NO_ERROR: stop sending, the answer is complete");
    assert_eq!(status(&sent, 3), "200", "the connection goes on");
    let mut rest = Vec::new();
    frame::encode_data(&mut rest, 1, b"}", true, DEFAULT_MAX_FRAME_BYTES);
    conn.feed(&mock, &rest, t0);
    assert!(written(&mut conn, &mock, t0).iter().all(|f| f.kind != kind::RST_STREAM), "the rest is dropped");
}
