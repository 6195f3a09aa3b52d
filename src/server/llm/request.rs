//! What the mock LLM reads from a request: the whole request off the
//! connection's buffer (head, then a Content-Length or chunked body, which
//! the plain server skips but this one must parse), and from its JSON body
//! the three fields that shape the answer.

use serde_json::Value;

use crate::http::head::Status;
use crate::http::{ChunkedDecoder, RequestBody, parse_request_head};

/// Most tokens one answer streams, whatever `max_tokens` asks for.
pub const MAX_TOKENS: u32 = 1_000_000;

/// Largest request body accepted (a long-context prompt fits).
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// A complete request, taken off the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub method: Vec<u8>,
    /// The request target as sent (query included).
    pub target: Vec<u8>,
    pub body: Vec<u8>,
    /// The connection closes after the answer.
    pub close: bool,
}

/// Why a request cannot be read; the answer says so and the connection
/// closes, since where the next request starts is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The head or the chunked framing is not valid HTTP/1.1.
    Malformed,
    /// The body is larger than [`MAX_BODY_BYTES`].
    TooLarge,
}

/// The first complete request in `buf` and the bytes it took; `None` until
/// all of it has arrived.
pub fn take_request(buf: &[u8]) -> Result<Option<(Received, usize)>, Refusal> {
    let head = match parse_request_head(buf) {
        Ok(Status::Partial) => return Ok(None),
        Ok(Status::Complete(head)) => head,
        Err(_) => return Err(Refusal::Malformed),
    };
    let rest = &buf[head.len..];
    let (body, body_len) = match head.body {
        RequestBody::Length(length) => {
            let length = usize::try_from(length).ok().filter(|&n| n <= MAX_BODY_BYTES).ok_or(Refusal::TooLarge)?;
            if rest.len() < length {
                return Ok(None);
            }
            (rest[..length].to_vec(), length)
        }
        RequestBody::Chunked => match dechunk(rest)? {
            Some(body) => body,
            None => return Ok(None),
        },
    };
    let received = Received {
        method: head.method.slice(buf).to_vec(),
        target: head.target.slice(buf).to_vec(),
        body,
        close: head.close,
    };
    Ok(Some((received, head.len + body_len)))
}

/// A chunked body's payload and the bytes its framing took, once complete.
/// The decoder skips data in bulk, so checking a partial body again after
/// each read costs little; the payload is copied out once, at the end.
fn dechunk(wire: &[u8]) -> Result<Option<(Vec<u8>, usize)>, Refusal> {
    let decoded = ChunkedDecoder::new().decode(wire).map_err(|_| Refusal::Malformed)?;
    // Framing is at most a few bytes per data byte, or the decoder refuses it
    // (extensions and trailers are capped); the wire bound catches the rest.
    if decoded.data > MAX_BODY_BYTES as u64 || decoded.consumed > 4 * MAX_BODY_BYTES {
        return Err(Refusal::TooLarge);
    }
    if !decoded.done {
        return Ok(None);
    }
    let mut decoder = ChunkedDecoder::new();
    let mut body = Vec::with_capacity(decoded.data as usize);
    for byte in &wire[..decoded.consumed] {
        let step = decoder.decode(std::slice::from_ref(byte)).map_err(|_| Refusal::Malformed)?;
        if step.data == 1 {
            body.push(*byte);
        }
    }
    Ok(Some((body, decoded.consumed)))
}

/// What a request's JSON body asks of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ask {
    /// `"stream": true`: an event stream instead of one JSON document.
    pub stream: bool,
    /// Tokens to answer with: `max_completion_tokens`, else `max_tokens`,
    /// else the server's default; at most [`MAX_TOKENS`].
    pub tokens: u32,
    /// `"stream_options": {"include_usage": true}`: a usage chunk before `[DONE]`.
    pub include_usage: bool,
}

/// Reads the fields of a request body that shape the answer; the error is
/// the message of a 400 answer.
pub fn read_ask(body: &[u8], default_tokens: u32) -> Result<Ask, String> {
    let json: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Value::Object(fields) = json else { return Err("the body must be a JSON object".into()) };
    let present = |name: &str| fields.get(name).filter(|value| !value.is_null());
    let stream = match present("stream") {
        None => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err("'stream' must be true or false".into()),
    };
    let limit = ["max_completion_tokens", "max_tokens"].into_iter().find_map(|name| Some((name, present(name)?)));
    let tokens = match limit {
        None => default_tokens,
        Some((name, value)) => match value.as_u64() {
            Some(0) | None => return Err(format!("'{name}' must be an integer of at least 1")),
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX).min(MAX_TOKENS),
        },
    };
    let include_usage = fields.get("stream_options").and_then(|options| options.get("include_usage"));
    Ok(Ask { stream, tokens, include_usage: include_usage.and_then(Value::as_bool).unwrap_or(false) })
}
