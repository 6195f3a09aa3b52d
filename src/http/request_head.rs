//! Request head parser, for the built-in server (`vastar serve`, `--demo`)
//! and test targets: request line and the fields that decide how long the
//! body is and whether the connection stays open.
//!
//! Shaped like the response side ([`super::head`]) and sharing its field
//! rules: borrows the received bytes, allocates nothing, answers `Partial`
//! until the blank line has arrived. Framing follows RFC 9112 §6.3 for
//! requests: a Transfer-Encoding whose final coding is not `chunked` cannot
//! be framed (an error: the server answers 400 and closes); Transfer-Encoding
//! with Content-Length is framed by the coding and the connection closes
//! after the response (§6.1); otherwise Content-Length, or no body.

use super::head::{Span, Status, TransferCoding, find_head_end, leading_empty_lines, lines, parse_fields};
use super::{HttpError, MAX_HEAD_BYTES, is_tchar};

/// How the request's body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestBody {
    /// This many bytes (0: no body).
    Length(u64),
    Chunked,
}

/// The parts of a request head that matter to a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// Length of the head in bytes, including leading empty lines and the
    /// terminating blank line.
    pub len: usize,
    pub method: Span,
    pub target: Span,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    pub body: RequestBody,
    /// The connection closes after the response: `Connection: close`,
    /// HTTP/1.0 without keep-alive, or ambiguous framing (TE with CL).
    pub close: bool,
}

/// Parses a request head at the start of `buf`.
pub fn parse_request_head(buf: &[u8]) -> Result<Status<RequestHead>, HttpError> {
    let skip = leading_empty_lines(buf);
    let end = match find_head_end(buf, skip) {
        Some(end) if end > MAX_HEAD_BYTES => return Err(HttpError::HeadTooLarge),
        Some(end) => end,
        None if buf.len() > MAX_HEAD_BYTES => return Err(HttpError::HeadTooLarge),
        None => return Ok(Status::Partial),
    };
    let head = &buf[skip..end];
    let mut it = lines(head);
    let (_, line) = it.next().ok_or(HttpError::RequestLine)?;
    let (method, target, minor_version) = parse_request_line(line, skip)?;
    let fields = parse_fields(it, skip)?;
    let body = match (fields.transfer_coding, fields.content_length) {
        (TransferCoding::Chunked, _) => RequestBody::Chunked,
        (TransferCoding::Other, _) => return Err(HttpError::TransferCoding),
        (TransferCoding::Absent, length) => RequestBody::Length(length.unwrap_or(0)),
    };
    let ambiguous = fields.transfer_coding != TransferCoding::Absent && fields.content_length.is_some();
    let close = fields.close || (minor_version == 0 && !fields.keep_alive) || ambiguous;
    Ok(Status::Complete(RequestHead { len: end, method, target, minor_version, body, close }))
}

/// `method SP request-target SP HTTP-version`, each part checked.
fn parse_request_line(line: &[u8], offset: usize) -> Result<(Span, Span, u8), HttpError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::RequestLine);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(HttpError::RequestLine);
    }
    if target.is_empty() || !target.iter().all(|&b| b.is_ascii_graphic() || b >= 0x80) {
        return Err(HttpError::RequestLine);
    }
    let minor = match version {
        b"HTTP/1.1" => 1,
        b"HTTP/1.0" => 0,
        _ => return Err(HttpError::RequestLine),
    };
    let method_span = Span { start: offset, end: offset + method.len() };
    let target_start = method_span.end + 1;
    Ok((method_span, Span { start: target_start, end: target_start + target.len() }, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, target_len: usize, minor: u8, body: RequestBody, close: bool) -> RequestHead {
        let method_len = method.len();
        RequestHead {
            len: 0,
            method: Span { start: 0, end: method_len },
            target: Span { start: method_len + 1, end: method_len + 1 + target_len },
            minor_version: minor,
            body,
            close,
        }
    }

    const NONE: RequestBody = RequestBody::Length(0);

    /// Complete heads, with what they mean (each head is its whole input).
    fn valid() -> Vec<(&'static [u8], RequestHead)> {
        let heads: Vec<(&'static [u8], RequestHead)> = vec![
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", head("GET", 1, 1, NONE, false)),
            (b"HEAD /a?b=c HTTP/1.1\r\n\r\n", head("HEAD", 6, 1, NONE, false)),
            (b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", head("POST", 1, 1, RequestBody::Length(3), false)),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                head("POST", 1, 1, RequestBody::Chunked, false),
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                head("POST", 1, 1, RequestBody::Chunked, true),
            ),
            (b"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", head("GET", 1, 1, NONE, true)),
            (b"GET / HTTP/1.0\r\n\r\n", head("GET", 1, 0, NONE, true)),
            (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", head("GET", 1, 0, NONE, false)),
            (b"GET / HTTP/1.1\nHost: x\n\n", head("GET", 1, 1, NONE, false)),
        ];
        heads.into_iter().map(|(input, want)| (input, RequestHead { len: input.len(), ..want })).collect()
    }

    #[test]
    fn request_heads_are_understood() {
        for (input, want) in valid() {
            assert_eq!(parse_request_head(input), Ok(Status::Complete(want)), "{:?}", String::from_utf8_lossy(input));
        }
        let with_empty_line = parse_request_head(b"\r\nGET /x HTTP/1.1\r\n\r\n").unwrap();
        let Status::Complete(h) = with_empty_line else { panic!("complete") };
        assert_eq!((h.len, h.method, h.target), (21, Span { start: 2, end: 5 }, Span { start: 6, end: 8 }));
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        let cases: &[(&[u8], HttpError)] = &[
            (b"GET / SPDY/3\r\n\r\n", HttpError::RequestLine),
            (b"GET /\r\n\r\n", HttpError::RequestLine),
            (b"GET  / HTTP/1.1\r\n\r\n", HttpError::RequestLine),
            (b"GET / HTTP/1.1 extra\r\n\r\n", HttpError::RequestLine),
            (b"G(T / HTTP/1.1\r\n\r\n", HttpError::RequestLine),
            (b"GET /\x01 HTTP/1.1\r\n\r\n", HttpError::RequestLine),
            (b"POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n", HttpError::ContentLength),
            (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", HttpError::ContentLength),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", HttpError::TransferCoding),
            (b"GET / HTTP/1.1\r\n folded: x\r\n\r\n", HttpError::ObsFold),
            (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", HttpError::HeaderName),
            (b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", HttpError::BareCr),
        ];
        for &(input, want) in cases {
            assert_eq!(parse_request_head(input), Err(want), "{:?}", String::from_utf8_lossy(input));
        }
        let huge = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &vec![b'a'; MAX_HEAD_BYTES]].concat();
        assert_eq!(parse_request_head(&huge), Err(HttpError::HeadTooLarge));
    }

    /// Every prefix of a valid head is Partial; the whole gives the same
    /// head as in one piece, with pipelined bytes after it left alone.
    #[test]
    fn every_split_offset_is_partial_until_the_head_is_complete() {
        for (input, want) in valid() {
            for cut in 0..input.len() {
                assert_eq!(parse_request_head(&input[..cut]), Ok(Status::Partial), "{input:?} cut at {cut}");
            }
            let pipelined = [input, b"GET / HTTP/1.1\r\n\r\n"].concat();
            assert_eq!(parse_request_head(&pipelined), Ok(Status::Complete(want)));
        }
    }
}
