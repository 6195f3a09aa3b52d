//! The mock LLM's bytes on the wire: the schedule its events follow, the
//! event-stream chunks (pre-built where they repeat, so that an event costs
//! a copy and a write), the one-piece answer of a request without
//! `"stream": true`, and OpenAI-style JSON errors.
//!
//! Everything here is pure, so the truth a benchmark is compared against
//! (when each event is due, what it carries) is unit-tested without a clock.

use std::time::Duration;

/// The text of every token.
pub const TOKEN: &str = "tok ";

/// The head of a streaming answer; its chunks follow.
pub const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: vastar\r\nContent-Type: text/event-stream\r\n\
Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";

/// The event that ends every stream, as a chunk.
pub const DONE_EVENT: &[u8] = b"e\r\ndata: [DONE]\n\n\r\n";

/// The last chunk of the body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The two OpenAI-compatible endpoints the mock answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`: `delta.content` in chunks, `message` whole.
    Chat,
    /// `POST /v1/completions`: `text` in both.
    Completions,
}

impl Endpoint {
    /// The endpoint a request line names (query ignored), if any.
    pub fn of(method: &[u8], path: &[u8]) -> Option<Endpoint> {
        let path = path.split(|&b| b == b'?').next().unwrap_or_default();
        match (method, path) {
            (b"POST", b"/v1/chat/completions") => Some(Endpoint::Chat),
            (b"POST", b"/v1/completions") => Some(Endpoint::Completions),
            _ => None,
        }
    }

    /// The JSON of a chunk up to where its choice's content starts.
    fn chunk_prefix(self) -> &'static str {
        match self {
            Endpoint::Chat => {
                r#"{"id":"chatcmpl-vastar","object":"chat.completion.chunk","created":0,"model":"vastar-mock","choices":"#
            }
            Endpoint::Completions => {
                r#"{"id":"cmpl-vastar","object":"text_completion","created":0,"model":"vastar-mock","choices":"#
            }
        }
    }
}

/// When the events of an answer are due, relative to the moment its
/// request's body was complete: content event `i` at `ttft + i * itl`
/// (absolute deadlines, so sleeps never accumulate drift).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub ttft: Duration,
    pub itl: Duration,
    pub tokens_per_event: u32,
}

impl Schedule {
    /// Content events for `tokens` tokens: ceil(tokens / per event).
    pub fn events(&self, tokens: u32) -> u32 {
        tokens.div_ceil(self.tokens_per_event.max(1))
    }

    /// Tokens in content event `i` of `tokens`: full events, then the rest.
    pub fn tokens_in(&self, i: u32, tokens: u32) -> u32 {
        let per = self.tokens_per_event.max(1);
        tokens.saturating_sub(i.saturating_mul(per)).min(per)
    }

    /// When content event `i` is due.
    pub fn due(&self, i: u32) -> Duration {
        self.ttft.saturating_add(self.itl.saturating_mul(i))
    }

    /// When the whole answer of a request without streaming is due: when
    /// its last token would have been sent.
    pub fn whole_due(&self, tokens: u32) -> Duration {
        self.due(self.events(tokens).saturating_sub(1))
    }
}

/// Token counts reported in `usage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub prompt: u64,
    pub completion: u32,
}

impl Usage {
    /// The mock's prompt tokens: a fixed function of the request, one per
    /// four bytes of its body (rounded up), since it has no tokenizer.
    pub fn for_body(body_bytes: usize, completion: u32) -> Usage {
        Usage { prompt: body_bytes.div_ceil(4) as u64, completion }
    }

    fn json(&self) -> String {
        let (p, n) = (self.prompt, u64::from(self.completion));
        format!(r#""usage":{{"prompt_tokens":{p},"completion_tokens":{n},"total_tokens":{}}}"#, p + n)
    }
}

/// `data: {json}\n\n` framed as one chunk, appended to `out`.
fn push_event(out: &mut Vec<u8>, json: &[&str]) {
    let len: usize = json.iter().map(|part| part.len()).sum::<usize>() + "data: \n\n".len();
    out.extend_from_slice(format!("{len:x}\r\ndata: ").as_bytes());
    json.iter().for_each(|part| out.extend_from_slice(part.as_bytes()));
    out.extend_from_slice(b"\n\n\r\n");
}

/// A content event carrying `tokens` tokens; in chat, the first also
/// carries the assistant's role.
pub fn content_event(endpoint: Endpoint, first: bool, tokens: u32) -> Vec<u8> {
    let text = TOKEN.repeat(tokens as usize);
    let mut out = Vec::with_capacity(text.len() + 200);
    let choice = match (endpoint, first) {
        (Endpoint::Chat, true) => r#"[{"index":0,"delta":{"role":"assistant","content":""#,
        (Endpoint::Chat, false) => r#"[{"index":0,"delta":{"content":""#,
        (Endpoint::Completions, _) => r#"[{"index":0,"text":""#,
    };
    let end = match endpoint {
        Endpoint::Chat => r#""},"finish_reason":null}]}"#,
        Endpoint::Completions => r#"","finish_reason":null}]}"#,
    };
    push_event(&mut out, &[endpoint.chunk_prefix(), choice, &text, end]);
    out
}

/// The events after the last content event, up to the end of the body:
/// the finish (`"finish_reason":"length"`), the usage when asked, `[DONE]`.
pub fn closing_events(endpoint: Endpoint, usage: Option<Usage>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let finish = match endpoint {
        Endpoint::Chat => r#"[{"index":0,"delta":{},"finish_reason":"length"}]}"#,
        Endpoint::Completions => r#"[{"index":0,"text":"","finish_reason":"length"}]}"#,
    };
    push_event(&mut out, &[endpoint.chunk_prefix(), finish]);
    if let Some(usage) = usage {
        push_event(&mut out, &[endpoint.chunk_prefix(), "[],", &usage.json(), "}"]);
    }
    out.extend_from_slice(DONE_EVENT);
    out.extend_from_slice(LAST_CHUNK);
    out
}

/// The answer to a request without streaming: one JSON document with all
/// the tokens and the usage.
pub fn whole_answer(endpoint: Endpoint, usage: Usage) -> Vec<u8> {
    json_response("200 OK", &whole_body(endpoint, usage), false, false)
}

/// The JSON document of [`whole_answer`].
pub fn whole_body(endpoint: Endpoint, usage: Usage) -> String {
    let text = TOKEN.repeat(usage.completion as usize);
    let (id, object, choice) = match endpoint {
        Endpoint::Chat => ("chatcmpl-vastar", "chat.completion", r#""message":{"role":"assistant","content":""#),
        Endpoint::Completions => ("cmpl-vastar", "text_completion", r#""text":""#),
    };
    let close = if endpoint == Endpoint::Chat { "\"}" } else { "\"" };
    format!(
        r#"{{"id":"{id}","object":"{object}","created":0,"model":"vastar-mock","choices":[{{"index":0,{choice}{text}{close},"finish_reason":"length"}}],{}}}"#,
        usage.json()
    )
}

/// An OpenAI-style error answer (`{"error":{"message":..,"type":..}}`);
/// with `head_only` (a HEAD request) without its body; with `close`,
/// saying the connection ends.
pub fn error_answer(status: &str, message: &str, head_only: bool, close: bool) -> Vec<u8> {
    json_response(status, &error_body(message), head_only, close)
}

/// The JSON document of [`error_answer`].
pub fn error_body(message: &str) -> String {
    serde_json::json!({ "error": { "message": message, "type": "invalid_request_error" } }).to_string()
}

/// The event-stream bytes of `chunks` (events framed as HTTP/1.1 chunks,
/// as built here), without the framing: what HTTP/2's DATA frames carry.
/// Stops at the last chunk, or at framing not built here.
pub fn unchunked(mut chunks: &[u8], out: &mut Vec<u8>) {
    while let Some(line_end) = chunks.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&chunks[..line_end]).ok().and_then(|hex| usize::from_str_radix(hex, 16).ok());
        let start = line_end + 2;
        match size {
            Some(size) if size > 0 && chunks.len() >= start + size => {
                out.extend_from_slice(&chunks[start..start + size]);
                chunks = chunks.get(start + size + 2..).unwrap_or_default();
            }
            _ => return,
        }
    }
}

fn json_response(status: &str, body: &str, head_only: bool, close: bool) -> Vec<u8> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nServer: vastar\r\nContent-Type: application/json\r\n{connection}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// The content events every stream repeats, built once per server: an
/// event costs a copy and a write. Events with fewer tokens (a stream's
/// last, when the count does not divide) are built when needed.
pub struct Prebuilt {
    tokens_per_event: u32,
    chat_first: Vec<u8>,
    chat_next: Vec<u8>,
    completions: Vec<u8>,
}

impl Prebuilt {
    pub fn new(tokens_per_event: u32) -> Prebuilt {
        Prebuilt {
            tokens_per_event,
            chat_first: content_event(Endpoint::Chat, true, tokens_per_event),
            chat_next: content_event(Endpoint::Chat, false, tokens_per_event),
            completions: content_event(Endpoint::Completions, false, tokens_per_event),
        }
    }

    /// The content event with `tokens` tokens: pre-built, or made in `scratch`.
    pub fn content<'a>(&'a self, endpoint: Endpoint, first: bool, tokens: u32, scratch: &'a mut Vec<u8>) -> &'a [u8] {
        if tokens != self.tokens_per_event {
            *scratch = content_event(endpoint, first, tokens);
            return scratch;
        }
        match (endpoint, first) {
            (Endpoint::Chat, true) => &self.chat_first,
            (Endpoint::Chat, false) => &self.chat_next,
            (Endpoint::Completions, _) => &self.completions,
        }
    }
}
