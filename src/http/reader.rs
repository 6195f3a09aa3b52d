//! Turns the bytes received on a connection into one finished response.
//!
//! The reader owns the framing decision of RFC 9112 §6.3 (HEAD, 1xx, 204/304,
//! chunked, Content-Length, read-until-close) and whether the connection may
//! be reused. It keeps a carry buffer only while a head is split across reads
//! (bounded by [`MAX_HEAD_BYTES`]); bodies are counted, never stored, so
//! memory stays constant whatever the response size.

use super::head::{BodyFormat, Head, Status, TransferCoding, find_head_end, parse_head_from, plausible_prefix};
use super::{ChunkedDecoder, HttpError, MAX_HEAD_BYTES};

/// A response that has been read completely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// Final status (interim 1xx responses are skipped).
    pub status: u16,
    /// The connection may carry another request.
    pub reusable: bool,
    /// Bytes of this response as on the wire: interim heads, head, framing, body.
    pub wire_bytes: u64,
    /// Payload bytes (decoded from chunked framing).
    pub body_bytes: u64,
}

/// Result of feeding bytes to the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// The response is not complete yet.
    NeedMore,
    /// The response is complete. Bytes beyond it (never expected, since
    /// requests are not pipelined) made `reusable` false.
    Done(Response),
}

/// How the end of an unfinished response should be reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truncated {
    /// The peer closed before sending a single byte of the response.
    BeforeResponse,
    /// The peer closed in the middle of the response head or body.
    MidResponse,
    /// What arrived before the close was not HTTP.
    Invalid(HttpError),
}

#[derive(Clone, Debug)]
enum Body {
    Length { left: u64 },
    Chunked(ChunkedDecoder),
    UntilClose,
}

#[derive(Clone, Debug)]
enum State {
    Head,
    Body(Body),
    Done,
}

/// Reads one response at a time; [`ResponseReader::start`] resets it for the next.
#[derive(Debug)]
pub struct ResponseReader {
    state: State,
    head_request: bool,
    carry: Vec<u8>,
    scanned: usize,
    status: u16,
    reusable: bool,
    wire_bytes: u64,
    body_bytes: u64,
    location: Vec<u8>,
    body_format: BodyFormat,
}

impl Default for ResponseReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseReader {
    pub fn new() -> Self {
        ResponseReader {
            state: State::Done,
            head_request: false,
            carry: Vec::new(),
            scanned: 0,
            status: 0,
            reusable: false,
            wire_bytes: 0,
            body_bytes: 0,
            location: Vec::new(),
            body_format: BodyFormat::Opaque,
        }
    }

    /// Prepares for the response to a request; `head_request` when the
    /// method was HEAD (its response never has a body).
    pub fn start(&mut self, head_request: bool) {
        self.state = State::Head;
        self.head_request = head_request;
        self.carry.clear();
        self.scanned = 0;
        self.status = 0;
        self.reusable = false;
        self.wire_bytes = 0;
        self.body_bytes = 0;
        self.location.clear();
        self.body_format = BodyFormat::Opaque;
    }

    /// Bytes of the current response received so far.
    pub fn bytes_received(&self) -> u64 {
        self.wire_bytes + self.carry.len() as u64
    }

    /// Body bytes still to come of a response framed by Content-Length
    /// (`None` before its head, for chunked and close-framed bodies).
    pub fn body_left(&self) -> Option<u64> {
        match &self.state {
            State::Body(Body::Length { left }) => Some(*left),
            _ => None,
        }
    }

    /// The final response's status, once its head has been read.
    pub fn status(&self) -> Option<u16> {
        (!matches!(self.state, State::Head) && self.status != 0).then_some(self.status)
    }

    /// Body bytes of the current response read so far (decoded from
    /// chunked framing).
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// A byte of the response's body has arrived, or the response is
    /// complete (one without a body ends with its head); false while only
    /// heads, interim ones included, have arrived.
    pub fn body_begun(&self) -> bool {
        matches!(self.state, State::Done) || self.body_bytes > 0
    }

    /// Bytes held for a head split across reads (never more than
    /// [`MAX_HEAD_BYTES`] + 1; bodies are never held).
    pub fn carried(&self) -> usize {
        self.carry.len()
    }

    /// The Location of the final response, if it had one (for redirects).
    pub fn location(&self) -> Option<&[u8]> {
        (!self.location.is_empty()).then_some(&self.location[..])
    }

    /// What the final response's Content-Type says its body is (known
    /// once its head has been read).
    pub fn body_format(&self) -> BodyFormat {
        self.body_format
    }

    /// Consumes received bytes.
    pub fn feed(&mut self, data: &[u8]) -> Result<Feed, HttpError> {
        self.feed_with(data, |_, _| {})
    }

    /// [`ResponseReader::feed`], handing the final response's body (decoded
    /// from chunked framing) to `payload` piece by piece as it passes, with
    /// what its Content-Type says it is.
    #[inline]
    pub fn feed_with(
        &mut self,
        mut data: &[u8],
        mut payload: impl FnMut(BodyFormat, &[u8]),
    ) -> Result<Feed, HttpError> {
        loop {
            match &mut self.state {
                State::Head => {
                    let Some(used) = self.feed_head(data)? else { return Ok(Feed::NeedMore) };
                    data = &data[used..];
                }
                State::Body(body) => {
                    let (used, done) = match body {
                        Body::Length { left } => {
                            let take = (*left).min(data.len() as u64);
                            payload(self.body_format, &data[..take as usize]);
                            *left -= take;
                            self.body_bytes += take;
                            (take as usize, *left == 0)
                        }
                        Body::Chunked(dec) => {
                            let format = self.body_format;
                            let d = dec.decode_with(data, |piece| payload(format, piece))?;
                            self.body_bytes += d.data;
                            (d.consumed, d.done)
                        }
                        Body::UntilClose => {
                            payload(self.body_format, data);
                            self.body_bytes += data.len() as u64;
                            (data.len(), false)
                        }
                    };
                    self.wire_bytes += used as u64;
                    data = &data[used..];
                    if !done {
                        return Ok(Feed::NeedMore);
                    }
                    self.state = State::Done;
                }
                State::Done => {
                    if !data.is_empty() {
                        self.reusable = false;
                    }
                    return Ok(Feed::Done(self.response()));
                }
            }
        }
    }

    /// The peer closed the connection (FIN) while a response was expected.
    pub fn eof(&mut self) -> Result<Response, Truncated> {
        match &self.state {
            State::Body(Body::UntilClose) => {
                self.state = State::Done;
                Ok(self.response())
            }
            State::Done => Ok(self.response()),
            State::Head if self.bytes_received() == 0 => Err(Truncated::BeforeResponse),
            State::Head if !plausible_prefix(&self.carry) => Err(Truncated::Invalid(HttpError::Version)),
            _ => Err(Truncated::MidResponse),
        }
    }

    fn response(&self) -> Response {
        Response {
            status: self.status,
            reusable: self.reusable,
            wire_bytes: self.wire_bytes,
            body_bytes: self.body_bytes,
        }
    }

    /// Parses a head from the carry buffer or directly from `data`.
    /// Returns how many bytes of `data` the head used, or `None` if it needs more.
    fn feed_head(&mut self, data: &[u8]) -> Result<Option<usize>, HttpError> {
        if self.carry.is_empty() {
            return match parse_head_from(data, 0)? {
                Status::Complete(head) => {
                    self.accept_head(&head, data);
                    Ok(Some(head.len))
                }
                Status::Partial => {
                    self.carry.extend_from_slice(data);
                    self.scanned = data.len();
                    Ok(None)
                }
            };
        }
        let before = self.carry.len();
        let room = (MAX_HEAD_BYTES + 1).saturating_sub(before);
        let all = data.len().min(room);
        // Only the head's bytes are carried: the rest of `data` is body and
        // is read from `data` itself, so the carry never grows past a head
        // (a receive may hand over up to 64 KiB of body after a split head).
        // A blank line that was only leading empty lines is no head end:
        // then everything is carried, as before.
        let mut take = self.head_end_in(data).map_or(all, |end| end.min(all));
        self.carry.extend_from_slice(&data[..take]);
        loop {
            match parse_head_from(&self.carry, self.scanned.saturating_sub(3))? {
                Status::Complete(head) => {
                    let carry = std::mem::take(&mut self.carry);
                    self.accept_head(&head, &carry);
                    self.carry = carry;
                    self.carry.clear();
                    return Ok(Some(head.len - before));
                }
                Status::Partial if take < all => {
                    self.carry.extend_from_slice(&data[take..all]);
                    take = all;
                }
                Status::Partial => {
                    self.scanned = self.carry.len();
                    return Ok(None);
                }
            }
        }
    }

    /// Where in `data` the head being carried ends, if it ends there.
    fn head_end_in(&self, data: &[u8]) -> Option<usize> {
        // The terminator may straddle the carry and `data`: look at the
        // carry's last three bytes joined with the first three of `data`.
        let tail = &self.carry[self.carry.len().saturating_sub(3)..];
        let head = &data[..data.len().min(3)];
        let mut joint = [0u8; 6];
        joint[..tail.len()].copy_from_slice(tail);
        joint[tail.len()..tail.len() + head.len()].copy_from_slice(head);
        match find_head_end(&joint[..tail.len() + head.len()], 0) {
            Some(end) if end > tail.len() => Some(end - tail.len()),
            _ => find_head_end(data, 0),
        }
    }

    /// Decides framing and reuse for a parsed head.
    fn accept_head(&mut self, head: &Head, buf: &[u8]) {
        self.wire_bytes += head.len as u64;
        self.scanned = 0;
        if (100..200).contains(&head.status) && head.status != 101 {
            return; // interim response: the final one follows
        }
        self.status = head.status;
        self.body_format = head.body_format;
        self.reusable = if head.minor_version == 1 { !head.close } else { head.keep_alive && !head.close };
        if let Some(span) = head.location {
            self.location.extend_from_slice(span.slice(buf));
        }
        let no_body = self.head_request || head.status == 101 || head.status == 204 || head.status == 304;
        let body = if no_body {
            None
        } else if head.transfer_coding != TransferCoding::Absent && head.minor_version == 0 {
            // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
            Some(Body::UntilClose)
        } else if head.transfer_coding == TransferCoding::Chunked {
            if head.content_length.is_some() {
                self.reusable = false; // §6.3: possible smuggling; frame by TE, then close
            }
            Some(Body::Chunked(ChunkedDecoder::new()))
        } else if head.transfer_coding == TransferCoding::Other {
            Some(Body::UntilClose)
        } else if let Some(len) = head.content_length {
            Some(Body::Length { left: len })
        } else {
            Some(Body::UntilClose)
        };
        if head.status == 101 || matches!(body, Some(Body::UntilClose)) {
            self.reusable = false;
        }
        self.state = match body {
            None | Some(Body::Length { left: 0 }) => State::Done,
            Some(body) => State::Body(body),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (response bytes, HEAD request?, expected status, reusable, body bytes)
    type Case = (&'static [u8], bool, u16, bool, u64);

    const COMPLETE: &[Case] = &[
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 200, true, 5),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 200, true, 0),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true, 200, true, 0),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, 204, true, 0),
        (b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false, 304, true, 0),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, 200, true, 2),
        (
            b"HTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
            false, 201, true, 1,
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\nT: v\r\n\r\n", false, 200, true, 3),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false, 200, false, 3),
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 1\r\n\r\nx", false, 200, false, 1),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", false, 200, false, 1),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", false, 200, true, 1),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, 101, false, 0),
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\nbad", false, 500, true, 3),
    ];

    /// Responses framed by the connection closing: (bytes, status, body bytes).
    const UNTIL_CLOSE: &[(&[u8], u16, u64)] = &[
        (b"HTTP/1.1 200 OK\r\n\r\nuntil close", 200, 11),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz", 200, 3),
        (b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, 13),
    ];

    #[test]
    fn the_body_is_handed_over_decoded_at_every_split() {
        let cases: &[(&[u8], &[u8], BodyFormat)] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 5\r\n\r\nhello", b"hello", BodyFormat::EventStream),
            (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n",
                b"{\"a\":1}",
                BodyFormat::Json,
            ),
            (b"HTTP/1.1 200 OK\r\n\r\nuntil close", b"until close", BodyFormat::Opaque),
        ];
        for &(input, body, format) in cases {
            for cut in 0..=input.len() {
                let (mut reader, mut got) = (ResponseReader::new(), Vec::new());
                reader.start(false);
                for piece in [&input[..cut], &input[cut..]] {
                    let _ = reader.feed_with(piece, |_, bytes| got.extend_from_slice(bytes)).unwrap();
                }
                assert_eq!((&got[..], reader.body_format()), (body, format), "{input:?} cut at {cut}");
            }
        }
    }

    /// Feeds `input` split at each offset in `cuts`.
    fn feed_split(reader: &mut ResponseReader, input: &[u8], cuts: &[usize]) -> Result<Feed, HttpError> {
        let mut start = 0;
        for &end in cuts.iter().chain(std::iter::once(&input.len())) {
            if let Feed::Done(r) = reader.feed(&input[start..end])? {
                return Ok(Feed::Done(r));
            }
            start = end;
        }
        Ok(Feed::NeedMore)
    }

    fn run(input: &[u8], head_request: bool, cuts: &[usize]) -> Result<Feed, HttpError> {
        let mut reader = ResponseReader::new();
        reader.start(head_request);
        feed_split(&mut reader, input, cuts)
    }

    #[test]
    fn complete_responses_at_every_split() {
        for &(input, head_req, status, reusable, body) in COMPLETE {
            let expected = Feed::Done(Response { status, reusable, wire_bytes: input.len() as u64, body_bytes: body });
            assert_eq!(run(input, head_req, &[]), Ok(expected), "{:?}", String::from_utf8_lossy(input));
            for cut in 0..input.len() {
                assert_eq!(run(input, head_req, &[cut]), Ok(expected), "cut at {cut}");
            }
            let every: Vec<usize> = (1..input.len()).collect();
            assert_eq!(run(input, head_req, &every), Ok(expected), "one byte at a time");
        }
    }

    #[test]
    fn responses_framed_by_close_end_at_eof() {
        for &(input, status, body) in UNTIL_CLOSE {
            for cut in 0..input.len() {
                let mut reader = ResponseReader::new();
                reader.start(false);
                assert_eq!(feed_split(&mut reader, input, &[cut]), Ok(Feed::NeedMore));
                let expected = Response { status, reusable: false, wire_bytes: input.len() as u64, body_bytes: body };
                assert_eq!(reader.eof(), Ok(expected));
            }
        }
    }

    #[test]
    fn stray_bytes_after_a_response_forbid_reuse() {
        let out = run(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", true, &[]);
        assert!(matches!(out, Ok(Feed::Done(Response { reusable: false, .. }))));
        let out = run(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", false, &[]);
        assert!(matches!(out, Ok(Feed::Done(Response { reusable: false, .. }))));
    }

    #[test]
    fn truncated_responses_are_told_apart() {
        let cases: &[(&[u8], Truncated)] = &[
            (b"", Truncated::BeforeResponse),
            (b"HTTP/1.1 200 O", Truncated::MidResponse),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", Truncated::MidResponse),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", Truncated::MidResponse),
            (b"HTTP/1.1 100 Continue\r\n\r\n", Truncated::MidResponse),
        ];
        for &(input, expected) in cases {
            let mut reader = ResponseReader::new();
            reader.start(false);
            assert_eq!(reader.feed(input), Ok(Feed::NeedMore));
            assert_eq!(reader.eof(), Err(expected), "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn garbage_and_http09_are_invalid_at_once() {
        assert_eq!(run(b"<html>hello</html>", false, &[]), Err(HttpError::Version));
        assert_eq!(run(b"HTTP/1.1 2000 OK\r\n\r\n", false, &[3]), Err(HttpError::StatusCode));
        let mut reader = ResponseReader::new();
        reader.start(false);
        assert_eq!(reader.feed(b"HT"), Ok(Feed::NeedMore));
        assert_eq!(reader.feed(b"ML"), Err(HttpError::Version));
    }

    #[test]
    fn a_huge_head_in_small_pieces_is_refused_without_growing() {
        let mut reader = ResponseReader::new();
        reader.start(false);
        assert_eq!(reader.feed(b"HTTP/1.1 200 OK\r\n"), Ok(Feed::NeedMore));
        let line = [b"X-Big: ".as_slice(), &[b'a'; 1000], b"\r\n"].concat();
        let mut result = Ok(Feed::NeedMore);
        for _ in 0..1000 {
            result = reader.feed(&line);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(HttpError::HeadTooLarge));
        assert!(reader.carry.len() <= MAX_HEAD_BYTES + 1);
    }

    #[test]
    fn the_location_of_a_redirect_is_kept() {
        let mut reader = ResponseReader::new();
        reader.start(false);
        let input = b"HTTP/1.1 302 Found\r\nLocation: /there\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(feed_split(&mut reader, input, &[30]), Ok(Feed::Done(_))));
        assert_eq!(reader.location(), Some(&b"/there"[..]));
        reader.start(false);
        assert_eq!(reader.location(), None);
    }

    #[test]
    fn the_body_begins_with_its_first_byte_or_a_head_without_one() {
        let begun_after = |input: &[u8], head_request: bool| {
            let mut reader = ResponseReader::new();
            reader.start(head_request);
            let _ = reader.feed(input);
            reader.body_begun()
        };
        assert!(!begun_after(b"", false));
        assert!(!begun_after(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false));
        assert!(!begun_after(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", false));
        assert!(begun_after(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nh", false));
        assert!(begun_after(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nh", false));
        assert!(begun_after(b"HTTP/1.1 200 OK\r\n\r\nuntil close", false));
        assert!(begun_after(b"HTTP/1.1 204 No Content\r\n\r\n", false));
        assert!(begun_after(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true));
    }

    #[test]
    fn the_reader_is_reused_across_responses() {
        let mut reader = ResponseReader::new();
        for _ in 0..3 {
            reader.start(false);
            let out = reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
            assert_eq!(out, Feed::Done(Response { status: 200, reusable: true, wire_bytes: 40, body_bytes: 2 }));
        }
    }

    /// A head split across receives carries only the head: the body after
    /// it is read in place, so a connection does not keep a body-sized
    /// carry buffer (io_uring's incremental buffers split heads often, and
    /// 500 connections once kept 8 MB that way at 58 KiB bodies).
    #[test]
    fn a_split_head_carries_only_the_head() {
        let body = vec![b'x'; 60_000];
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 60000\r\n\r\n";
        for cut in [5, head.len() - 3, head.len() - 2, head.len() - 1] {
            let mut reader = ResponseReader::new();
            reader.start(false);
            assert_eq!(reader.feed(&head[..cut]), Ok(Feed::NeedMore), "cut {cut}");
            let rest = [&head[cut..], &body[..]].concat();
            let done = reader.feed(&rest).unwrap();
            assert!(matches!(done, Feed::Done(Response { status: 200, body_bytes: 60_000, .. })), "cut {cut}");
            assert!(reader.carry.capacity() < 1024, "cut {cut}: carry grew to {}", reader.carry.capacity());
        }
        // Empty lines before the status line end no head: still parsed whole.
        let mut reader = ResponseReader::new();
        reader.start(false);
        assert_eq!(reader.feed(b"\r\n"), Ok(Feed::NeedMore));
        let out = reader.feed(b"\r\nHTTP/1.1 204 No Content\r\n\r\n").unwrap();
        assert!(matches!(out, Feed::Done(Response { status: 204, .. })), "{out:?}");
    }
}
