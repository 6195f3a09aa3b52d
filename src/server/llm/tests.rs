//! The mock LLM's pure parts: reading requests, the schedule, the bytes.

use std::time::Duration;

use serde_json::Value;

use super::events::*;
use super::request::*;

fn post(path: &str, body: &str) -> Vec<u8> {
    format!("POST {path} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

#[test]
fn a_request_is_taken_whole_with_its_body_and_nothing_more() {
    let mut wire = post("/v1/completions?x=1", r#"{"stream":true}"#);
    let one = wire.len();
    wire.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let (received, used) = take_request(&wire).unwrap().unwrap();
    assert_eq!((received.method.as_slice(), received.target.as_slice()), (&b"POST"[..], &b"/v1/completions?x=1"[..]));
    assert_eq!((received.body.as_slice(), used, received.close), (&br#"{"stream":true}"#[..], one, false));
    for cut in 0..one {
        assert_eq!(take_request(&wire[..cut]), Ok(None), "cut at {cut}");
    }
}

#[test]
fn a_chunked_body_is_read_through_its_framing() {
    let head = "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    let wire = format!("{head}5;ext=1\r\n{{\"str\r\n9\r\neam\":true\r\n1\r\n}}\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT");
    let (received, used) = take_request(wire.as_bytes()).unwrap().unwrap();
    assert_eq!(received.body, br#"{"stream":true}"#);
    assert_eq!(&wire.as_bytes()[used..], b"NEXT");
    for cut in head.len()..used {
        assert_eq!(take_request(&wire.as_bytes()[..cut]), Ok(None), "cut at {cut}");
    }
    assert_eq!(take_request(format!("{head}zz\r\n").as_bytes()), Err(Refusal::Malformed));
}

#[test]
fn bad_framing_and_huge_bodies_are_refused() {
    assert_eq!(take_request(b"NOT HTTP\r\n\r\n"), Err(Refusal::Malformed));
    let huge = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY_BYTES + 1);
    assert_eq!(take_request(huge.as_bytes()), Err(Refusal::TooLarge));
    let mut huge_chunk =
        format!("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\nab", MAX_BODY_BYTES + 1).into_bytes();
    assert_eq!(take_request(&huge_chunk), Ok(None), "refused once the data passes the limit");
    huge_chunk.resize(huge_chunk.len() + MAX_BODY_BYTES - 1, b'a');
    assert_eq!(take_request(&huge_chunk), Err(Refusal::TooLarge));
    let closing = b"POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    assert!(take_request(closing).unwrap().unwrap().0.close);
}

#[test]
fn the_body_fields_shape_the_answer() {
    let ask = |body: &str| read_ask(body.as_bytes(), 24);
    let plain = Ask { stream: false, tokens: 24, include_usage: false };
    assert_eq!(ask("{}"), Ok(plain));
    assert_eq!(ask(r#"{"stream":null,"max_tokens":null}"#), Ok(plain));
    assert_eq!(
        ask(r#"{"stream":true,"max_tokens":5,"stream_options":{"include_usage":true}}"#),
        Ok(Ask { stream: true, tokens: 5, include_usage: true })
    );
    assert_eq!(ask(r#"{"max_tokens":5,"max_completion_tokens":7}"#).unwrap().tokens, 7);
    assert_eq!(ask(r#"{"max_tokens":99999999999}"#).unwrap().tokens, MAX_TOKENS);
    assert!(!ask(r#"{"stream_options":{"include_usage":false}}"#).unwrap().include_usage);
    for (body, needle) in [
        ("nope", "not valid JSON"),
        ("", "not valid JSON"),
        ("[1]", "JSON object"),
        (r#"{"stream":"yes"}"#, "'stream' must be true or false"),
        (r#"{"max_tokens":0}"#, "'max_tokens' must be an integer of at least 1"),
        (r#"{"max_tokens":-3}"#, "'max_tokens'"),
        (r#"{"max_completion_tokens":2.5}"#, "'max_completion_tokens'"),
    ] {
        let err = ask(body).unwrap_err();
        assert!(err.contains(needle), "{body}: {err}");
    }
}

#[test]
fn endpoints_are_post_only_and_ignore_the_query() {
    assert_eq!(Endpoint::of(b"POST", b"/v1/chat/completions"), Some(Endpoint::Chat));
    assert_eq!(Endpoint::of(b"POST", b"/v1/completions?stream=1"), Some(Endpoint::Completions));
    for (method, path) in [("GET", "/v1/chat/completions"), ("HEAD", "/v1/completions"), ("POST", "/v1/models")] {
        assert_eq!(Endpoint::of(method.as_bytes(), path.as_bytes()), None, "{method} {path}");
    }
}

#[test]
fn the_schedule_is_exact_and_counts_events_per_batch() {
    let ms = Duration::from_millis;
    let s = Schedule { ttft: ms(80), itl: ms(15), tokens_per_event: 1 };
    assert_eq!((s.due(0), s.due(1), s.due(23)), (ms(80), ms(95), ms(80 + 23 * 15)));
    assert_eq!((s.events(24), s.whole_due(24)), (24, ms(80 + 23 * 15)));
    let batched = Schedule { tokens_per_event: 3, ..s };
    assert_eq!(batched.events(7), 3);
    let split: Vec<u32> = (0..3).map(|i| batched.tokens_in(i, 7)).collect();
    assert_eq!(split, [3, 3, 1]);
    assert_eq!((batched.events(6), batched.events(1), batched.whole_due(7)), (2, 1, ms(110)));
    let far = Schedule { ttft: Duration::MAX, ..s };
    assert_eq!(far.due(u32::MAX), Duration::MAX, "saturates instead of overflowing");
}

/// The chunks of a chunked body, each checked to be framed as one event.
fn events(body: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(body).unwrap();
    let mut rest = text;
    let mut events = Vec::new();
    loop {
        let (size, after) = rest.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size, 16).unwrap();
        if size == 0 {
            assert_eq!(after, "\r\n", "the last chunk ends the body");
            return events;
        }
        let (chunk, next) = after.split_at(size);
        assert!(chunk.starts_with("data: ") && chunk.ends_with("\n\n"), "{chunk:?}");
        events.push(chunk["data: ".len()..size - 2].to_string());
        rest = next.strip_prefix("\r\n").unwrap();
    }
}

fn json(event: &str) -> Value {
    serde_json::from_str(event).unwrap_or_else(|e| panic!("{event}: {e}"))
}

#[test]
fn a_chat_stream_is_content_then_finish_then_usage_then_done() {
    let mut body = content_event(Endpoint::Chat, true, 2);
    body.extend(content_event(Endpoint::Chat, false, 1));
    body.extend(closing_events(Endpoint::Chat, Some(Usage { prompt: 10, completion: 3 })));
    let events = events(&body);
    assert_eq!(events.len(), 5);
    let first = json(&events[0]);
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"], serde_json::json!({"role": "assistant", "content": "tok tok "}));
    assert_eq!(first["choices"][0]["finish_reason"], Value::Null);
    assert_eq!(json(&events[1])["choices"][0]["delta"], serde_json::json!({"content": "tok "}));
    let finish = json(&events[2]);
    assert_eq!(finish["choices"][0]["delta"], serde_json::json!({}));
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    let usage = json(&events[3]);
    assert_eq!(usage["choices"], serde_json::json!([]));
    assert_eq!(usage["usage"], serde_json::json!({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}));
    assert_eq!(events[4], "[DONE]");
}

#[test]
fn a_completions_stream_carries_text_and_usage_only_when_asked() {
    let mut body = content_event(Endpoint::Completions, true, 1);
    body.extend(closing_events(Endpoint::Completions, None));
    let events = events(&body);
    assert_eq!(events.len(), 3, "content, finish, [DONE]: {events:?}");
    let content = json(&events[0]);
    assert_eq!(
        (content["object"].as_str(), content["choices"][0]["text"].as_str()),
        (Some("text_completion"), Some("tok "))
    );
    assert_eq!(json(&events[1])["choices"][0]["finish_reason"], "length");
    assert_eq!(events[2], "[DONE]");
}

#[test]
fn prebuilt_events_are_the_ones_built_on_demand() {
    let prebuilt = Prebuilt::new(2);
    let mut scratch = Vec::new();
    for endpoint in [Endpoint::Chat, Endpoint::Completions] {
        for first in [true, false] {
            for tokens in [1, 2] {
                let event = prebuilt.content(endpoint, first, tokens, &mut scratch).to_vec();
                assert_eq!(event, content_event(endpoint, first, tokens), "{endpoint:?} {first} {tokens}");
            }
        }
    }
}

/// A response's head and body.
fn split(response: &[u8]) -> (&str, Value) {
    let text = std::str::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let length: usize = head.split("Content-Length: ").nth(1).unwrap().split("\r\n").next().unwrap().parse().unwrap();
    assert_eq!(length, body.len(), "{head}");
    (head, json(body))
}

#[test]
fn a_whole_answer_is_one_json_document_with_usage() {
    let usage = Usage::for_body(41, 3);
    assert_eq!(usage, Usage { prompt: 11, completion: 3 });
    let chat = whole_answer(Endpoint::Chat, usage);
    let (head, doc) = split(&chat);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("Content-Type: application/json"), "{head}");
    assert_eq!(doc["object"], "chat.completion");
    assert_eq!(doc["choices"][0]["message"], serde_json::json!({"role": "assistant", "content": "tok tok tok "}));
    assert_eq!(doc["choices"][0]["finish_reason"], "length");
    assert_eq!(doc["usage"]["total_tokens"], 14);
    let (_, doc) = split(&whole_answer(Endpoint::Completions, usage));
    assert_eq!(
        (doc["object"].as_str(), doc["choices"][0]["text"].as_str()),
        (Some("text_completion"), Some("tok tok tok "))
    );
}

#[test]
fn errors_are_openai_shaped_and_escape_what_the_client_sent() {
    let answer = error_answer("404 Not Found", "no such endpoint: GET /\"\n", false, true);
    let (head, doc) = split(&answer);
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n") && head.contains("Connection: close"), "{head}");
    assert_eq!(doc["error"]["message"], "no such endpoint: GET /\"\n");
    assert_eq!(doc["error"]["type"], "invalid_request_error");
    let head_only = error_answer("404 Not Found", "x", true, false);
    assert!(head_only.ends_with(b"\r\n\r\n") && !head_only.windows(5).any(|w| w == b"close"));
}
