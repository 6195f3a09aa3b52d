//! Sans-I/O HTTP/1.1 for a load generator's client side.
//!
//! Nothing here touches a socket, a clock or the rest of the crate: the
//! parsers borrow `&[u8]` and say `Complete`/`Partial`, the reader turns a
//! stream of received chunks into finished responses, and the request builder
//! produces the bytes every connection sends ([`pool`] holds them, built
//! once, with [`template`]s filled in). Both I/O backends share it, so
//! framing is decided in exactly one place (RFC 9112 §6.3).

pub mod chunked;
pub mod h2;
pub mod head;
pub mod openai;
pub mod pool;
pub mod reader;
pub mod request;
pub mod request_head;
pub mod sse;
pub mod template;

pub use chunked::{ChunkedDecoder, Decoded};
pub use head::{BodyFormat, Head, Span, Status, TransferCoding, parse_head};
pub use pool::{Entry, Pool};
pub use reader::{Feed, Response, ResponseReader};
pub use request::RequestSpec;
pub use request_head::{RequestBody, RequestHead, parse_request_head};

/// Where `needle` first occurs in `haystack` (request building and
/// templates, before the run; the response parsers scan their own way).
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Largest response head (status line + header fields) accepted, in bytes.
/// Beyond it the response is refused instead of buffering without bound.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Largest trailer section of a chunked body, in bytes.
pub const MAX_TRAILER_BYTES: usize = 64 * 1024;

/// Longest chunk extension accepted on one chunk-size line, in bytes.
pub const MAX_CHUNK_EXT_BYTES: usize = 4 * 1024;

/// Why a response could not be parsed. Small and `Copy` so it can travel
/// through the hot path and be counted without allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpError {
    /// The status line does not start with `HTTP/1.0` or `HTTP/1.1`.
    Version,
    /// The status code is not three digits between 100 and 999.
    StatusCode,
    /// A header line has no colon, an empty name or a non-token name.
    HeaderName,
    /// A header value holds a control character.
    HeaderValue,
    /// A header line starts with whitespace (obsolete line folding).
    ObsFold,
    /// A carriage return that is not followed by a line feed.
    BareCr,
    /// Content-Length is not a number or several values disagree.
    ContentLength,
    /// The head is larger than [`MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// A chunk-size line is not hexadecimal or overflows 64 bits.
    ChunkSize,
    /// A chunk extension is longer than [`MAX_CHUNK_EXT_BYTES`].
    ChunkExtension,
    /// Chunk data is not followed by CRLF.
    ChunkDelimiter,
    /// The trailer section is larger than [`MAX_TRAILER_BYTES`].
    TrailersTooLarge,
    /// A request line is not `method SP target SP HTTP/1.x`.
    RequestLine,
    /// A request's Transfer-Encoding does not end in `chunked`: its body
    /// length cannot be known (RFC 9112 §6.3).
    TransferCoding,
}

impl HttpError {
    /// A short, stable description for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpError::Version => "not an HTTP/1.x status line",
            HttpError::StatusCode => "invalid status code",
            HttpError::HeaderName => "invalid header name",
            HttpError::HeaderValue => "invalid header value",
            HttpError::ObsFold => "obsolete header line folding",
            HttpError::BareCr => "bare carriage return",
            HttpError::ContentLength => "invalid or conflicting Content-Length",
            HttpError::HeadTooLarge => "response head larger than 64 KiB",
            HttpError::ChunkSize => "invalid chunk size",
            HttpError::ChunkExtension => "chunk extension too long",
            HttpError::ChunkDelimiter => "chunk data not followed by CRLF",
            HttpError::TrailersTooLarge => "trailers larger than 64 KiB",
            HttpError::RequestLine => "invalid request line",
            HttpError::TransferCoding => "request Transfer-Encoding does not end in chunked",
        }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for HttpError {}

/// Is `b` a `tchar` of RFC 9110 §5.6.2 (the characters of a token)?
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// [`is_tchar`] as a table: one load per byte of every field name.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(b as u8,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
            | b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        b += 1;
    }
    table
};

/// May `b` appear in a field value or reason phrase (HTAB, SP, VCHAR, obs-text)?
pub(crate) fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}
