//! The session's parts: what the server announced, each open stream's
//! windows, a header block in pieces, a response head read from its
//! fields, and the errors, each naming what the server did wrong.

use crate::http::BodyFormat;
use crate::http::h2::frame::{DEFAULT_MAX_FRAME_BYTES, DEFAULT_WINDOW_BYTES, ErrorCode, FrameError};
use crate::http::h2::hpack::HpackError;

/// The server's settings, as they stand.
#[derive(Clone, Copy, Debug)]
pub(super) struct Peer {
    pub(super) max_streams: u32,
    pub(super) initial_window: u32,
    pub(super) max_frame: u32,
    /// The server's HEADER_TABLE_SIZE shrank: the next request block must
    /// start with a table size update at or below it, although ours never
    /// use the table (RFC 7541 section 4.2; nghttp2 refuses a block
    /// without it).
    pub(super) table_size_update: Option<u32>,
}

impl Default for Peer {
    fn default() -> Self {
        Peer {
            max_streams: u32::MAX,
            initial_window: DEFAULT_WINDOW_BYTES,
            max_frame: DEFAULT_MAX_FRAME_BYTES,
            table_size_update: None,
        }
    }
}

/// One open stream.
#[derive(Clone, Debug, Default)]
pub(super) struct StreamState {
    pub(super) id: u32,
    /// What our DATA may still send on it.
    pub(super) send_window: i64,
    /// What the server may still send on it.
    pub(super) recv_window: i64,
    /// The final response head arrived.
    pub(super) head_seen: bool,
    /// Request body bytes the windows did not let out yet.
    pub(super) waiting: Vec<u8>,
}

impl StreamState {
    /// Stream `id`, with the server's window `peer_window` and ours `window`.
    pub(super) fn new(id: u32, peer_window: u32, window: u32) -> StreamState {
        StreamState {
            id,
            send_window: i64::from(peer_window),
            recv_window: i64::from(window),
            head_seen: false,
            waiting: Vec::new(),
        }
    }
}

/// A header block that came in a HEADERS frame without END_HEADERS,
/// gathered until its last CONTINUATION.
#[derive(Clone, Debug, Default)]
pub(super) struct Block {
    pub(super) open: bool,
    pub(super) stream: u32,
    pub(super) end_stream: bool,
    pub(super) bytes: Vec<u8>,
}

impl Block {
    pub(super) fn begin(&mut self, stream: u32, end_stream: bool, fragment: &[u8]) {
        (self.open, self.stream, self.end_stream) = (true, stream, end_stream);
        self.bytes.clear();
        self.bytes.extend_from_slice(fragment);
    }
}

/// A response head: what a load generator needs of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    pub status: u16,
    /// What Content-Type says the body is.
    pub format: BodyFormat,
    /// The Location of a redirect (a 3xx head), if it had one.
    pub location: Option<&'a [u8]>,
}

/// A head's fields as they are decoded.
#[derive(Clone, Debug, Default)]
pub(super) struct HeadFields {
    status: Option<u16>,
    format: BodyFormat,
    /// The first rule the fields broke.
    malformed: Option<&'static str>,
    regular_seen: bool,
    pseudo_seen: bool,
    /// A 3xx head's Location was read into `location` (a buffer kept from
    /// block to block: only redirects fill it).
    has_location: bool,
    location: Vec<u8>,
}

impl HeadFields {
    /// Ready for the fields of another block.
    pub(super) fn clear(&mut self) {
        let location = std::mem::take(&mut self.location);
        *self = HeadFields { location, ..HeadFields::default() };
    }

    pub(super) fn read(&mut self, name: &[u8], value: &[u8]) {
        if self.malformed.is_some() {
            return;
        }
        if let Some(pseudo) = name.strip_prefix(b":") {
            self.pseudo_seen = true;
            self.malformed = match (pseudo, self.regular_seen, self.status) {
                (_, true, _) => Some("a pseudo-header field after a regular one"),
                (b"status", _, Some(_)) => Some("two :status fields"),
                (b"status", _, None) => match parse_status(value) {
                    Some(status) => {
                        self.status = Some(status);
                        None
                    }
                    None => Some(":status is not three digits"),
                },
                _ => Some("a pseudo-header field other than :status in a response"),
            };
            return;
        }
        self.regular_seen = true;
        if name.iter().any(u8::is_ascii_uppercase) {
            self.malformed = Some("an uppercase field name");
        } else if name == b"content-type" {
            self.format = BodyFormat::of(value);
        } else if name == b"location" && self.status.is_some_and(|status| (300..400).contains(&status)) {
            self.location.clear();
            self.location.extend_from_slice(value);
            self.has_location = true;
        } else if matches!(
            name,
            b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade"
        ) {
            self.malformed = Some("a connection-specific field (RFC 9113 section 8.2.2)");
        }
    }

    /// A pseudo-header field was among them (trailers must have none).
    pub(super) fn has_pseudo(&self) -> bool {
        self.pseudo_seen
    }

    /// The head, or why the fields do not make one.
    pub(super) fn head(&self) -> Result<ResponseHead<'_>, StreamFailure> {
        if let Some(why) = self.malformed {
            return Err(StreamFailure::Malformed(why));
        }
        let status = self.status.ok_or(StreamFailure::Malformed("no :status field"))?;
        Ok(ResponseHead { status, format: self.format, location: self.has_location.then_some(&self.location[..]) })
    }
}

fn parse_status(value: &[u8]) -> Option<u16> {
    match value {
        [a @ b'1'..=b'9', b, c] if b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// How a stream ended without its whole response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFailure {
    /// The server did not process it (above a GOAWAY's last stream id, or
    /// RST_STREAM with REFUSED_STREAM): it may be sent again.
    Refused,
    /// The server reset it with this code.
    Reset(ErrorCode),
    /// A frame of the stream broke a rule of its own (we reset it).
    Frame(FrameError),
    /// DATA before the response head (we reset it).
    DataBeforeHeaders,
    /// The server sent more than the stream's window.
    FlowControl,
    /// The head's fields add up past our SETTINGS_MAX_HEADER_LIST_SIZE.
    HeaderListTooLarge,
    /// The head's fields break RFC 9113 section 8: why.
    Malformed(&'static str),
    /// The connection failed with this error before the response ended.
    Connection(SessionError),
    /// The server closed the connection before the response ended (the
    /// request may have been processed).
    Closed,
}

impl StreamFailure {
    /// What happened, in a few words.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamFailure::Refused => "refused by the server (not processed)",
            StreamFailure::Reset(_) => "reset by the server (RST_STREAM)",
            StreamFailure::Frame(error) => error.as_str(),
            StreamFailure::DataBeforeHeaders => "DATA before the response head",
            StreamFailure::FlowControl => "the server sent past the stream's flow-control window",
            StreamFailure::HeaderListTooLarge => "response head larger than our SETTINGS_MAX_HEADER_LIST_SIZE",
            StreamFailure::Malformed(why) => why,
            StreamFailure::Connection(error) => error.as_str(),
            StreamFailure::Closed => "the server closed the connection before the response ended",
        }
    }
}

/// A connection error: the rule the server broke. The session answers it
/// with GOAWAY and [`SessionError::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// A frame broke a rule of its own.
    Frame(FrameError),
    /// A header block could not be decoded: the tables are out of step.
    Hpack(HpackError),
    /// The server's first frame was not SETTINGS (its connection preface).
    NoSettings,
    /// A frame other than CONTINUATION of the same stream came inside a
    /// header block, or CONTINUATION came outside one.
    ContinuationExpected,
    /// A header block longer than we read before decoding.
    BlockTooLarge,
    /// A frame for a stream we never opened (or an even, server one).
    IdleStream,
    /// PUSH_PROMISE, though our SETTINGS disabled push.
    PushPromise,
    /// SETTINGS_ENABLE_PUSH 1 from a server (RFC 9113 section 6.5.2).
    PushEnabled,
    /// The server sent past our connection window, or its WINDOW_UPDATEs
    /// or SETTINGS took a window past 2^31-1.
    FlowControl,
}

impl SessionError {
    /// The error code the GOAWAY carries.
    pub fn code(self) -> ErrorCode {
        match self {
            SessionError::Frame(error) => error.code(),
            SessionError::Hpack(_) => ErrorCode::COMPRESSION_ERROR,
            SessionError::FlowControl => ErrorCode::FLOW_CONTROL_ERROR,
            SessionError::BlockTooLarge => ErrorCode::ENHANCE_YOUR_CALM,
            SessionError::NoSettings
            | SessionError::ContinuationExpected
            | SessionError::IdleStream
            | SessionError::PushPromise
            | SessionError::PushEnabled => ErrorCode::PROTOCOL_ERROR,
        }
    }

    /// What the server did wrong.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionError::Frame(error) => error.as_str(),
            SessionError::Hpack(error) => error.as_str(),
            SessionError::NoSettings => "the server's first frame was not SETTINGS",
            SessionError::ContinuationExpected => "a header block interrupted, or CONTINUATION outside one",
            SessionError::BlockTooLarge => "a header block over 128 KiB (CONTINUATION flood)",
            SessionError::IdleStream => "a frame for a stream the client never opened",
            SessionError::PushPromise => "PUSH_PROMISE though push was disabled",
            SessionError::PushEnabled => "SETTINGS_ENABLE_PUSH 1 from the server",
            SessionError::FlowControl => "a flow-control window overrun or past 2^31-1",
        }
    }
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for SessionError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_of(fields: &mut HeadFields, read: &[(&str, &str)]) -> (u16, Option<Vec<u8>>) {
        fields.clear();
        for (name, value) in read {
            fields.read(name.as_bytes(), value.as_bytes());
        }
        let head = fields.head().unwrap();
        (head.status, head.location.map(<[u8]>::to_vec))
    }

    #[test]
    fn only_a_redirects_location_is_kept_in_a_buffer_reused_from_head_to_head() {
        let mut fields = HeadFields::default();
        let moved = head_of(&mut fields, &[(":status", "302"), ("location", "/next?a=1")]);
        assert_eq!(moved, (302, Some(b"/next?a=1".to_vec())));
        let kept = fields.location.capacity();
        assert_eq!(head_of(&mut fields, &[(":status", "201"), ("location", "/made")]), (201, None));
        assert_eq!(head_of(&mut fields, &[(":status", "304")]), (304, None), "no Location: none from before");
        assert_eq!(fields.location.capacity(), kept, "the buffer stays for the next redirect");
    }
}
