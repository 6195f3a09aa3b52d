//! The chunk scanner against real OpenAI chunks, malformed JSON, every
//! split point, and serde_json on random documents and token soups.

use serde_json::{Value, json};

use super::*;

fn scan_in(data: &[u8], sizes: &[usize]) -> EventData {
    let (mut scanner, mut rest) = (ChunkScanner::new(), data);
    for &size in sizes {
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        scanner.feed(piece);
        rest = tail;
    }
    scanner.feed(rest);
    scanner.finish()
}

fn scan(data: &str) -> EventData {
    scan_in(data.as_bytes(), &[])
}

fn chunk(choices: bool, content: bool, completion_tokens: Option<u64>, error: bool) -> EventData {
    EventData::Json(Chunk { choices, content, completion_tokens, error })
}

#[test]
fn what_real_chunks_say() {
    let cases: &[(&str, EventData)] = &[
        (
            r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            chunk(true, false, None, false),
        ),
        (r#"{"choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null}]}"#, chunk(true, true, None, false)),
        (r#"{"choices":[{"delta":{"content":" "}}]}"#, chunk(true, true, None, false)),
        (r#"{"choices":[{"delta":{"content":"\n"}}]}"#, chunk(true, true, None, false)),
        (r#"{"choices":[{"delta":{"content":null}}]}"#, chunk(true, false, None, false)),
        (r#"{"choices":[{"delta":{"reasoning_content":"hm"}}]}"#, chunk(true, true, None, false)),
        (r#"{"choices":[{"delta":{"reasoning":"hm","content":""}}]}"#, chunk(true, true, None, false)),
        (r#"{"choices":[{"index":0,"text":" world","finish_reason":null}]}"#, chunk(true, true, None, false)),
        (r#"{"choices":[{"index":0,"text":"","finish_reason":"length"}]}"#, chunk(true, false, None, false)),
        (r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#, chunk(true, false, None, false)),
        (r#"{"choices":[{"delta":{"content":""}},{"delta":{"content":"b"}}]}"#, chunk(true, true, None, false)),
        (
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":24,"total_tokens":33}}"#,
            chunk(true, false, Some(24), false),
        ),
        (r#"{"usage":{"completion_tokens":0}}"#, chunk(false, false, Some(0), false)),
        (r#"{"usage":{"completion_tokens":2.5}}"#, chunk(false, false, None, false)),
        (r#"{"usage":null}"#, chunk(false, false, None, false)),
        (r#"{"error":{"message":"overloaded","code":503}}"#, chunk(false, false, None, true)),
        (r#"{"error":"bad"}"#, chunk(false, false, None, true)),
        (r#"{"error":null,"choices":[]}"#, chunk(true, false, None, false)),
        (r#"{"error":false,"choices":[]}"#, chunk(true, false, None, false)),
        (r#"{"error":0}"#, chunk(false, false, None, false)),
        (r#"{"error":true}"#, chunk(false, false, None, true)),
        // The same names elsewhere say nothing.
        (r#"{"content":"x","text":"y","completion_tokens":3}"#, chunk(false, false, None, false)),
        (r#"{"choices":[{"message":{"content":"x"}}]}"#, chunk(true, false, None, false)),
        (r#"{"data":{"choices":[{"delta":{"content":"x"}}]}}"#, chunk(false, false, None, false)),
        (r#"{"choices":{"delta":{"content":"x"}}}"#, chunk(true, false, None, false)),
        (r#"{"token":{"text":"hi"}}"#, chunk(false, false, None, false)),
        (" { \"choices\" : [ { \"delta\" : { \"content\" : \"a\" } } ] } \n", chunk(true, true, None, false)),
        (r#"[1,{"a":[]},"x",true,false,null]"#, chunk(false, false, None, false)),
        ("[]", chunk(false, false, None, false)),
        ("{}", chunk(false, false, None, false)),
        ("[DONE]", EventData::Done),
        ("hello world", EventData::Text),
        ("", EventData::Text),
        ("42", EventData::Text),
        ("[DONE] ", EventData::Malformed),
        ("[DONE", EventData::Malformed),
        (r#"{"a":1"#, EventData::Malformed),
        (r#"{"a":1}}"#, EventData::Malformed),
        (r#"{"a":1} x"#, EventData::Malformed),
        (r#"{"a":tru}"#, EventData::Malformed),
        (r#"{"a":nul}"#, EventData::Malformed),
        (r#"{"a" 1}"#, EventData::Malformed),
        (r#"{"a":1,}"#, EventData::Malformed),
        (r#"{,}"#, EventData::Malformed),
        (r#"[1,]"#, EventData::Malformed),
        (r#"[1}"#, EventData::Malformed),
        (r#"{"a":[}"#, EventData::Malformed),
        (r#"{"a":"unterminated}"#, EventData::Malformed),
        ("{\"a\":\"control\u{1}\"}", EventData::Malformed),
        (r#"{a:1}"#, EventData::Malformed),
        (r#"{"a":x}"#, EventData::Malformed),
    ];
    for &(data, want) in cases {
        assert_eq!(scan(data), want, "{data}");
    }
}

#[test]
fn every_split_point_gives_the_same_facts() {
    let events = [
        r#"{"choices":[{"index":0,"delta":{"content":"Hi \"there\"\\"},"finish_reason":null}],"usage":{"completion_tokens":1234}}"#,
        r#"{"choices":[{"delta":{"content":""}}],"error":{"m":"x"}}"#,
        "[DONE]",
        r#"{"choices":[{"text":"a"}]} x"#,
    ];
    for data in events {
        let whole = scan(data);
        for at in 0..=data.len() {
            assert_eq!(scan_in(data.as_bytes(), &[at]), whole, "{data} split at {at}");
            for second in at..=data.len() {
                assert_eq!(scan_in(data.as_bytes(), &[at, second - at]), whole, "{data} split at {at}, {second}");
            }
        }
        assert_eq!(scan_in(data.as_bytes(), &vec![1; data.len()]), whole, "{data} byte by byte");
    }
}

#[test]
fn nesting_is_bounded() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert_eq!(scan(&deep(MAX_DEPTH)), chunk(false, false, None, false));
    assert_eq!(scan(&deep(MAX_DEPTH + 1)), EventData::Malformed);
    assert_eq!(scan(&deep(100_000)), EventData::Malformed);
}

#[test]
fn a_scanner_reads_one_event_after_another() {
    let mut scanner = ChunkScanner::new();
    scanner.feed(br#"{"choices":[{"text":"a"}"#);
    assert_eq!(scanner.finish(), EventData::Malformed);
    scanner.feed(br#"{"usage":{"completion_tokens":7}}"#);
    assert_eq!(scanner.finish(), chunk(false, false, Some(7), false));
    scanner.feed(b"[DONE]");
    assert_eq!(scanner.finish(), EventData::Done);
}

/// A seeded generator of small random numbers.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const KEYS: &[&str] =
    &["choices", "delta", "content", "text", "usage", "completion_tokens", "error", "reasoning_content", "role", "x"];

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    let leaf = depth >= 5 || rng.below(3) == 0;
    match rng.below(if leaf { 6 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.below(1000)),
        3 => json!(-2.5),
        4 => json!(["", "a", "q\"uote\\", "é\n"][rng.below(4) as usize]),
        5 => json!(""),
        6 => Value::Array((0..rng.below(3)).map(|_| random_value(rng, depth + 1)).collect()),
        _ => Value::Object(
            (0..rng.below(4))
                .map(|_| (KEYS[rng.below(KEYS.len() as u64) as usize].to_string(), random_value(rng, depth + 1)))
                .collect(),
        ),
    }
}

/// The facts, read off a parsed value.
fn facts(value: &Value) -> Chunk {
    let nonempty = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    let choices = value.as_object().and_then(|o| o.get("choices"));
    let content = choices.and_then(Value::as_array).is_some_and(|all| {
        all.iter().filter_map(Value::as_object).any(|choice| {
            let delta = choice.get("delta").and_then(Value::as_object);
            let said = |key| nonempty(delta.and_then(|d| d.get(key)));
            nonempty(choice.get("text")) || said("content") || said("reasoning_content") || said("reasoning")
        })
    });
    Chunk {
        choices: choices.is_some(),
        content,
        completion_tokens: value.pointer("/usage/completion_tokens").and_then(Value::as_u64),
        error: value
            .as_object()
            .and_then(|o| o.get("error"))
            .is_some_and(|e| matches!(e, Value::Object(_) | Value::Array(_) | Value::String(_) | Value::Bool(true))),
    }
}

#[test]
fn random_documents_give_the_facts_a_json_parser_reads() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..5000 {
        let value = match random_value(&mut rng, 0) {
            v @ (Value::Object(_) | Value::Array(_)) => v,
            other => json!({ "choices": [ { "delta": { "content": other } } ] }),
        };
        let text = if rng.below(2) == 0 { value.to_string() } else { serde_json::to_string_pretty(&value).unwrap() };
        let sizes: Vec<usize> = (0..rng.below(5)).map(|_| rng.below(16) as usize).collect();
        assert_eq!(scan_in(text.as_bytes(), &sizes), EventData::Json(facts(&value)), "{text}");
    }
}

#[test]
fn random_token_soup_is_well_formed_exactly_when_a_json_parser_says_so() {
    const TOKENS: &[&str] =
        &["{", "}", "[", "]", ",", ":", "\"k\"", "\"\\\"\"", "7", "12", "true", "null", "fals", " ", "\n", "\"x"];
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..20_000 {
        let mut text = String::from(["{", "["][rng.below(2) as usize]);
        (0..rng.below(12)).for_each(|_| text.push_str(TOKENS[rng.below(TOKENS.len() as u64) as usize]));
        let parsed = serde_json::from_str::<Value>(&text).is_ok();
        let scanned = !matches!(scan(&text), EventData::Malformed);
        assert_eq!(scanned, parsed, "{text:?}");
    }
}
