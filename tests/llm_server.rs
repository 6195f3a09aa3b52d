//! The mock LLM server (`vastar serve --llm`) over a real socket, read raw:
//! status and headers, every event's JSON, tokens per event, the usage
//! chunk only when asked, `[DONE]` last, keep-alive, the error answers,
//! and that no event arrives before it is due. Times are checked only as
//! lower bounds (the server never writes early) and one generous upper
//! bound, so a busy machine cannot make them fail.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vastar::server::{LlmOptions, Server, ServerOptions};

const TTFT: Duration = Duration::from_millis(60);
const ITL: Duration = Duration::from_millis(10);
const TOKENS: u32 = 7;
const PER_EVENT: u32 = 3;
/// Far more than any answer here needs, even on a loaded machine.
const GENEROUS: Duration = Duration::from_secs(10);

fn start() -> Server {
    start_with(LlmOptions { ttft: TTFT, itl: ITL, tokens: TOKENS, tokens_per_event: PER_EVENT })
}

fn start_with(llm: LlmOptions) -> Server {
    Server::start("127.0.0.1:0".parse().unwrap(), ServerOptions { llm: Some(llm), ..ServerOptions::default() }).unwrap()
}

/// A client connection that reads raw bytes and notes when they arrived.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    /// When the last read returned.
    arrived: Instant,
}

/// A response as read: the head, and each chunk's payload with its arrival.
struct Answer {
    head: String,
    chunks: Vec<(String, Instant)>,
}

impl Client {
    fn connect(server: &Server) -> Client {
        Client::over(TcpStream::connect(server.addr()).unwrap())
    }

    /// A connection whose receive buffer (so its window) is a few KB: a
    /// client that does not read soon holds the server's writes up.
    fn connect_with_small_window(server: &Server) -> Client {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let stream = runtime.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            socket.connect(server.addr()).await.unwrap().into_std().unwrap()
        });
        stream.set_nonblocking(false).unwrap();
        Client::over(stream)
    }

    fn over(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(GENEROUS)).unwrap();
        Client { stream, buf: Vec::new(), arrived: Instant::now() }
    }

    /// Sends a request; returns when it started to go: the server may
    /// have read it before `write_all` returns (on another core, while this
    /// thread waits for its turn), so only the time before is a bound.
    fn send(&mut self, request: &[u8]) -> Instant {
        let start = Instant::now();
        self.stream.write_all(request).unwrap();
        start
    }

    /// Reads until `buf` holds at least `n` bytes.
    fn fill(&mut self, n: usize) {
        let mut scratch = [0u8; 16 * 1024];
        while self.buf.len() < n {
            let got = self.stream.read(&mut scratch).expect("the answer comes in time");
            assert!(got > 0, "the server closed early; have {:?}", String::from_utf8_lossy(&self.buf));
            self.buf.extend_from_slice(&scratch[..got]);
            self.arrived = Instant::now();
        }
    }

    /// Takes `n` bytes off the front.
    fn take(&mut self, n: usize) -> String {
        self.fill(n);
        String::from_utf8(self.buf.drain(..n).collect()).unwrap()
    }

    /// Takes a line ending in CRLF, without it.
    fn line(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.take(end + 2);
                return line[..end].to_string();
            }
            self.fill(self.buf.len() + 1);
        }
    }

    fn head(&mut self) -> String {
        let mut head = String::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                return head;
            }
            head.push_str(&line);
            head.push('\n');
        }
    }

    /// A whole response: Content-Length or chunked.
    fn response(&mut self, head_method: bool) -> Answer {
        let head = self.head();
        let mut chunks = Vec::new();
        if let Some(length) = header(&head, "content-length").filter(|_| !head_method) {
            let body = self.take(length.parse().unwrap());
            chunks.push((body, self.arrived));
        } else if header(&head, "transfer-encoding").as_deref() == Some("chunked") {
            loop {
                let size = usize::from_str_radix(&self.line(), 16).expect("a bare chunk size");
                let payload = self.take(size + 2);
                assert!(payload.ends_with("\r\n"));
                if size == 0 {
                    break;
                }
                chunks.push((payload[..size].to_string(), self.arrived));
            }
        }
        Answer { head, chunks }
    }

    /// True when the server closes the connection next.
    fn closed(&mut self) -> bool {
        let mut scratch = [0u8; 64];
        self.buf.is_empty() && matches!(self.stream.read(&mut scratch), Ok(0))
    }
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field.eq_ignore_ascii_case(name).then(|| value.trim().to_string())
    })
}

fn post(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The JSON of each event of a stream, checking the framing of each
/// (`data: ...\n\n`, one per chunk) and that `[DONE]` is last.
fn parse_events(response: &Answer) -> Vec<(Value, Instant)> {
    let payloads: Vec<&str> = response
        .chunks
        .iter()
        .map(|(chunk, _)| {
            assert!(chunk.starts_with("data: ") && chunk.ends_with("\n\n"), "one event per chunk: {chunk:?}");
            &chunk["data: ".len()..chunk.len() - 2]
        })
        .collect();
    assert_eq!(payloads.last(), Some(&"[DONE]"), "{payloads:?}");
    payloads[..payloads.len() - 1]
        .iter()
        .zip(&response.chunks)
        .map(|(payload, (_, at))| (serde_json::from_str(payload).unwrap_or_else(|e| panic!("{payload}: {e}")), *at))
        .collect()
}

fn assert_stream_head(head: &str) {
    assert!(head.starts_with("HTTP/1.1 200 OK\n"), "{head}");
    assert_eq!(header(head, "content-type").as_deref(), Some("text/event-stream"));
    assert_eq!(header(head, "cache-control").as_deref(), Some("no-cache"));
    assert_eq!(header(head, "transfer-encoding").as_deref(), Some("chunked"));
}

/// Content events are never early: event i not before ttft + i * itl after
/// the request went out; and all of them well within the generous bound.
fn assert_on_time(content: &[(Value, Instant)], sent: Instant) {
    for (i, (_, at)) in content.iter().enumerate() {
        let after = at.duration_since(sent);
        assert!(after >= TTFT + ITL * i as u32, "event {i} came {after:?} after the request");
        assert!(after < GENEROUS, "event {i} came {after:?} after the request");
    }
}

#[test]
fn a_chat_stream_sends_every_token_on_time_then_usage_then_done_and_keeps_the_connection() {
    let server = start();
    let mut client = Client::connect(&server);
    let body = r#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#;
    let sent = client.send(&post("/v1/chat/completions?api-version=1", body));
    let response = client.response(false);
    assert_stream_head(&response.head);
    let events = parse_events(&response);
    assert_eq!(events.len(), 3 + 2, "ceil(7/3) content events, the finish, the usage: {events:?}");
    let contents: Vec<&Value> = events[..3].iter().map(|(e, _)| &e["choices"][0]["delta"]).collect();
    assert_eq!(
        contents,
        [
            &json!({"role": "assistant", "content": "tok tok tok "}),
            &json!({"content": "tok tok tok "}),
            &json!({"content": "tok "})
        ]
    );
    assert!(
        events[..3]
            .iter()
            .all(|(e, _)| e["object"] == "chat.completion.chunk" && e["choices"][0]["finish_reason"].is_null())
    );
    assert_on_time(&events[..3], sent);
    assert_eq!(events[3].0["choices"][0], json!({"index": 0, "delta": {}, "finish_reason": "length"}));
    let prompt = body.len().div_ceil(4) as u64;
    assert_eq!(events[4].0["choices"], json!([]));
    assert_eq!(
        events[4].0["usage"],
        json!({"prompt_tokens": prompt, "completion_tokens": 7, "total_tokens": prompt + 7})
    );

    // The same connection serves the next request: completions, 2 tokens, no usage.
    let sent = client.send(&post("/v1/completions", r#"{"prompt":"x","stream":true,"max_tokens":2}"#));
    let response = client.response(false);
    assert_stream_head(&response.head);
    let events = parse_events(&response);
    assert_eq!(events.len(), 2, "one content event, the finish, no usage: {events:?}");
    assert_eq!(events[0].0["choices"][0]["text"], "tok tok ");
    assert_eq!(events[1].0["choices"][0]["finish_reason"], "length");
    assert!(events.iter().all(|(e, _)| e["object"] == "text_completion" && e.get("usage").is_none()));
    assert_on_time(&events[..1], sent);
    assert_eq!(server.requests(), 2);
}

#[test]
fn without_stream_the_whole_answer_comes_when_the_last_token_is_due() {
    let server = start();
    let mut client = Client::connect(&server);
    let sent = client.send(&post("/v1/chat/completions", r#"{"messages":[]}"#));
    let response = client.response(false);
    assert!(response.head.starts_with("HTTP/1.1 200 OK\n"), "{}", response.head);
    assert_eq!(header(&response.head, "content-type").as_deref(), Some("application/json"));
    let (body, at) = &response.chunks[0];
    assert!(at.duration_since(sent) >= TTFT + 2 * ITL, "the last of 3 events is due at ttft + 2 itl");
    let doc: Value = serde_json::from_str(body).unwrap();
    assert_eq!(doc["object"], "chat.completion");
    assert_eq!(doc["choices"][0]["message"]["content"], "tok ".repeat(7));
    assert_eq!(doc["usage"]["completion_tokens"], 7);
    client.send(&post("/v1/completions", r#"{"prompt":"x","max_completion_tokens":4,"stream":false}"#));
    let doc: Value = serde_json::from_str(&client.response(false).chunks[0].0).unwrap();
    assert_eq!(
        (doc["choices"][0]["text"].as_str(), doc["usage"]["completion_tokens"].as_u64()),
        (Some("tok tok tok tok "), Some(4))
    );
}

#[test]
fn a_chunked_request_body_is_read() {
    let server = start();
    let mut client = Client::connect(&server);
    let body = r#"{"stream":true,"max_tokens":1}"#;
    let (a, b) = body.split_at(10);
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    client.send(request.as_bytes());
    let events = parse_events(&client.response(false));
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0["choices"][0]["delta"]["content"], "tok ");
}

fn assert_error(response: &Answer, status: &str, needle: &str) {
    assert!(response.head.starts_with(&format!("HTTP/1.1 {status}\n")), "{}", response.head);
    assert_eq!(header(&response.head, "content-type").as_deref(), Some("application/json"));
    let doc: Value = serde_json::from_str(&response.chunks[0].0).unwrap();
    assert_eq!(doc["error"]["type"], "invalid_request_error");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.contains(needle), "{message}");
}

#[test]
fn other_paths_methods_and_bad_bodies_get_openai_style_errors() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send(b"GET /v1/chat/completions HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_error(&client.response(false), "404 Not Found", "GET /v1/chat/completions");
    client.send(&post("/v1/models", "{}"));
    assert_error(&client.response(false), "404 Not Found", "POST /v1/models");
    client.send(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
    let head = client.response(true);
    assert!(head.head.starts_with("HTTP/1.1 404 Not Found\n") && head.chunks.is_empty());
    client.send(&post("/v1/chat/completions", "not json"));
    assert_error(&client.response(false), "400 Bad Request", "not valid JSON");
    client.send(&post("/v1/completions", r#"{"max_tokens":0}"#));
    assert_error(&client.response(false), "400 Bad Request", "max_tokens");
    // After all that the connection still streams (HEAD's answer had no body).
    client.send(&post("/v1/completions", r#"{"stream":true,"max_tokens":1}"#));
    assert_eq!(parse_events(&client.response(false)).len(), 2);
    assert_eq!(server.requests(), 6);
    // A request that is not HTTP: 400, and the connection closes.
    client.send(b"NOT HTTP AT ALL\r\n\r\n");
    let response = client.response(false);
    assert!(response.head.starts_with("HTTP/1.1 400 Bad Request\n") && response.head.contains("Connection: close"));
    assert!(client.closed());
}

#[test]
fn connection_close_is_honoured_after_a_stream() {
    let server = start();
    let mut client = Client::connect(&server);
    let body = r#"{"stream":true,"max_tokens":2}"#;
    let request = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    client.send(request.as_bytes());
    assert_eq!(parse_events(&client.response(false)).len(), 2);
    assert!(client.closed());
}

#[test]
fn the_mock_tells_what_it_really_sent() {
    let server = start();
    let mut client = Client::connect(&server);
    let body = r#"{"model":"m","messages":[],"stream":true}"#;
    for _ in 0..2 {
        client.send(&post("/v1/chat/completions", body));
        client.response(false);
    }
    client.send(b"GET /mock/truth HTTP/1.1\r\nHost: h\r\n\r\n");
    let response = client.response(false);
    assert!(response.head.starts_with("HTTP/1.1 200"), "{}", response.head);
    let truth: Value = serde_json::from_str(&response.chunks[0].0).unwrap();
    // Two streams of ceil(7/3) = 3 content events: 2 first events, 4 gaps.
    assert_eq!((truth["streams"].as_u64(), truth["itl_ms"]["count"].as_u64()), (Some(2), Some(4)));
    let ms = |v: &Value| Duration::from_secs_f64(v.as_f64().unwrap() / 1e3);
    // The first event is never early; later ones follow absolute deadlines,
    // so a gap after a late event may be short: only bounds that hold anyway.
    assert!(ms(&truth["ttft_ms"]["min"]) >= TTFT && ms(&truth["ttft_ms"]["max"]) < TTFT + GENEROUS, "{truth}");
    assert!(ms(&truth["itl_ms"]["max"]) < GENEROUS, "{truth}");
    assert_eq!(server.requests(), 3, "the truth's request counts too");
    // DELETE answers the same figures and starts a new record (a warm-up left out).
    client.send(b"DELETE /mock/truth HTTP/1.1\r\nHost: h\r\n\r\n");
    let taken: Value = serde_json::from_str(&client.response(false).chunks[0].0).unwrap();
    assert_eq!(taken, truth);
    client.send(&post("/v1/chat/completions", body));
    client.response(false);
    let after = self::truth(&server);
    assert_eq!((after["streams"].as_u64(), after["itl_ms"]["count"].as_u64()), (Some(1), Some(2)), "{after}");
}

/// The server's truth, read on a connection of its own.
fn truth(server: &Server) -> Value {
    let mut client = Client::connect(server);
    client.send(b"GET /mock/truth HTTP/1.1\r\nHost: h\r\n\r\n");
    serde_json::from_str(&client.response(false).chunks[0].0).unwrap()
}

/// Many streams at once on one server thread (one pacer writes them all):
/// each gets all its events, none early, and the truth counts every
/// stream and every gap exactly once.
#[test]
fn many_streams_at_once_each_get_every_event_on_time_and_the_truth_counts_them_all() {
    const CONNECTIONS: usize = 64;
    const ROUNDS: usize = 3;
    let server = start();
    let body = r#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#;
    std::thread::scope(|scope| {
        for _ in 0..CONNECTIONS {
            scope.spawn(|| {
                let mut client = Client::connect(&server);
                for _ in 0..ROUNDS {
                    let sent = client.send(&post("/v1/chat/completions", body));
                    let response = client.response(false);
                    assert_stream_head(&response.head);
                    let events = parse_events(&response);
                    // ceil(7/3) = 3 content events, the finish, the usage.
                    assert_eq!(events.len(), 5);
                    assert_on_time(&events[..3], sent);
                    assert_eq!(events[4].0["usage"]["completion_tokens"], 7);
                }
            });
        }
    });
    let truth = truth(&server);
    let streams = (CONNECTIONS * ROUNDS) as u64;
    assert_eq!((truth["streams"].as_u64(), truth["itl_ms"]["count"].as_u64()), (Some(streams), Some(2 * streams)));
    assert!(truth["ttft_ms"]["min"].as_f64().unwrap() >= TTFT.as_secs_f64() * 1e3, "{truth}");
    assert_eq!(server.requests(), streams + 1);
}

/// Events larger than a socket's buffers, to a client that does not read
/// for a while: the rest of each is written when there is room, every
/// byte arrives in order, and the truth still counts each event once.
#[test]
fn a_client_that_reads_late_gets_every_byte_and_the_truth_counts_each_event_once() {
    // 1 MB of "tok " per event, 4 MB in all: more than the kernel's largest
    // send buffer (which reaches megabytes at once on loopback's 64 KB MSS).
    const PER_EVENT: u32 = 250_000;
    let llm = LlmOptions { ttft: TTFT, itl: ITL, tokens: 4 * PER_EVENT, tokens_per_event: PER_EVENT };
    let server = start_with(llm);
    let mut client = Client::connect_with_small_window(&server);
    let body = r#"{"prompt":"p","stream":true}"#;
    for _ in 0..2 {
        client.send(&post("/v1/completions", body));
        std::thread::sleep(TTFT + 4 * ITL);
        let events = parse_events(&client.response(false));
        assert_eq!(events.len(), 5, "four content events and the finish");
        for (event, _) in &events[..4] {
            assert_eq!(event["choices"][0]["text"].as_str().map(str::len), Some(4 * PER_EVENT as usize));
        }
    }
    let truth = truth(&server);
    assert_eq!((truth["streams"].as_u64(), truth["itl_ms"]["count"].as_u64()), (Some(2), Some(6)), "{truth}");
    assert!(truth["ttft_ms"]["min"].as_f64().unwrap() >= TTFT.as_secs_f64() * 1e3, "{truth}");
}
