//! The server connection's parts: the pre-built answer, one stream's
//! state, a request head read from its fields, and the connection errors,
//! each naming what the client did wrong.

use crate::http::h2::frame::{ErrorCode, FrameError};
use crate::http::h2::hpack::{HpackError, encode_field};

/// The answer every stream gets: its header block, HPACK-encoded once
/// (static table and literals without indexing, so the same bytes are
/// valid on every connection whatever its tables), and its body.
#[derive(Clone, Copy, Debug)]
pub struct Response<'a> {
    pub block: &'a [u8],
    pub body: &'a [u8],
}

/// The header block of the HTTP/1.1 answer's head as HTTP/2 says it:
/// `:status 200`, the same Server and Content-Type, and the body's length.
pub fn response_block(body_bytes: usize) -> Vec<u8> {
    let mut block = Vec::with_capacity(64);
    encode_field(b":status", b"200", &mut block);
    encode_field(b"server", b"vastar", &mut block);
    encode_field(b"content-type", b"text/plain", &mut block);
    encode_field(b"content-length", body_bytes.to_string().as_bytes(), &mut block);
    block
}

/// Where a stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// The request (its body, or trailers) is still arriving; `head` if
    /// its method is HEAD.
    Request { head: bool },
    /// Answered: the head went out and `sent` bytes of the body.
    Response { sent: usize },
    /// Owned: the request is complete (or refused for its size) and
    /// waits for the owner's answer.
    Pending,
    /// Owned: the owner's answer is under way; `end` once its last bytes
    /// are queued.
    Queued { end: bool },
}

/// One stream that is open on our side.
#[derive(Debug)]
pub(super) struct Stream {
    pub(super) id: u32,
    /// What our DATA may still send on it (the client's window).
    pub(super) send_window: i64,
    /// What the client may still send on it (our window).
    pub(super) recv_window: i64,
    pub(super) phase: Phase,
    /// Owned connections only: the request as it arrives, then the answer
    /// bytes the windows hold back.
    pub(super) held: Option<Box<super::owned::Held>>,
}

/// What the server needs of a request head, checked as RFC 9113 §8.3.1
/// asks, field by field as HPACK hands them out.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RequestFields {
    method: Option<Method>,
    scheme: bool,
    path: bool,
    authority: bool,
    regular_seen: bool,
    /// The first rule the fields broke.
    malformed: Option<&'static str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Head,
    Connect,
    Other,
}

impl RequestFields {
    pub(super) fn read(&mut self, name: &[u8], value: &[u8]) {
        if self.malformed.is_none() {
            self.malformed = self.rule_broken(name, value);
        }
    }

    fn rule_broken(&mut self, name: &[u8], value: &[u8]) -> Option<&'static str> {
        let Some(pseudo) = name.strip_prefix(b":") else {
            self.regular_seen = true;
            return regular_field_rule(name, value);
        };
        if self.regular_seen {
            return Some("a pseudo-header field after a regular one");
        }
        let seen = match pseudo {
            b"method" => {
                let method = match value {
                    b"HEAD" => Method::Head,
                    b"CONNECT" => Method::Connect,
                    _ => Method::Other,
                };
                self.method.replace(method).is_some()
            }
            b"scheme" => std::mem::replace(&mut self.scheme, true),
            b"path" if value.is_empty() => return Some("an empty :path"),
            b"path" => std::mem::replace(&mut self.path, true),
            b"authority" => std::mem::replace(&mut self.authority, true),
            _ => return Some("a pseudo-header field a request does not have"),
        };
        seen.then_some("a pseudo-header field twice")
    }

    /// Whether the request is a HEAD, or why the fields make no request.
    pub(super) fn head_method(&self) -> Result<bool, &'static str> {
        if let Some(why) = self.malformed {
            return Err(why);
        }
        match self.method {
            None => Err("no :method"),
            // CONNECT names an authority and nothing else (§8.5).
            Some(Method::Connect) if !self.authority || self.scheme || self.path => {
                Err("CONNECT without :authority or with :scheme or :path")
            }
            Some(Method::Connect) => Ok(false),
            Some(_) if !self.scheme || !self.path => Err("no :scheme or no :path"),
            Some(method) => Ok(method == Method::Head),
        }
    }
}

/// The rule a regular field breaks (§8.2), if any.
fn regular_field_rule(name: &[u8], value: &[u8]) -> Option<&'static str> {
    if name.iter().any(u8::is_ascii_uppercase) {
        return Some("an uppercase field name");
    }
    match name {
        b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade" => {
            Some("a connection-specific field")
        }
        b"te" if value != b"trailers" => Some("TE other than \"trailers\""),
        _ => None,
    }
}

/// A connection error: the rule the client broke. The connection answers
/// it with GOAWAY and [`ConnError::code`], then closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnError {
    /// The first bytes were not the client connection preface (§3.4).
    Preface,
    /// The first frame after the preface was not SETTINGS.
    NoSettings,
    /// A frame broke a rule of its own.
    Frame(FrameError),
    /// A header block could not be decoded: the tables are out of step.
    Hpack(HpackError),
    /// A frame other than CONTINUATION of the same stream came inside a
    /// header block, or CONTINUATION came outside one.
    ContinuationExpected,
    /// A header block longer than we read before decoding.
    BlockTooLarge,
    /// A frame other than HEADERS or PRIORITY for a stream the client
    /// never opened (§5.1, idle).
    IdleStream,
    /// HEADERS on an even stream id, which only a server may open (§5.1.1).
    StreamId,
    /// PUSH_PROMISE, which only a server may send (§8.4).
    PushPromise,
    /// The client sent past our connection window, or its WINDOW_UPDATEs
    /// or SETTINGS took a window of ours past 2^31-1.
    FlowControl,
}

impl ConnError {
    /// The error code the GOAWAY carries.
    pub fn code(self) -> ErrorCode {
        match self {
            ConnError::Frame(error) => error.code(),
            ConnError::Hpack(_) => ErrorCode::COMPRESSION_ERROR,
            ConnError::FlowControl => ErrorCode::FLOW_CONTROL_ERROR,
            ConnError::BlockTooLarge => ErrorCode::ENHANCE_YOUR_CALM,
            ConnError::Preface
            | ConnError::NoSettings
            | ConnError::ContinuationExpected
            | ConnError::IdleStream
            | ConnError::StreamId
            | ConnError::PushPromise => ErrorCode::PROTOCOL_ERROR,
        }
    }

    /// What the client did wrong (the GOAWAY's debug data).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnError::Preface => "not the HTTP/2 connection preface",
            ConnError::NoSettings => "the client's first frame was not SETTINGS",
            ConnError::Frame(error) => error.as_str(),
            ConnError::Hpack(error) => error.as_str(),
            ConnError::ContinuationExpected => "a header block interrupted, or CONTINUATION outside one",
            ConnError::BlockTooLarge => "a header block over 128 KiB (CONTINUATION flood)",
            ConnError::IdleStream => "a frame for a stream the client never opened",
            ConnError::StreamId => "HEADERS on an even stream id",
            ConnError::PushPromise => "PUSH_PROMISE from a client",
            ConnError::FlowControl => "a flow-control window overrun or past 2^31-1",
        }
    }
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
