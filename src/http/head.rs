//! Response head parser: status line and the header fields that decide
//! framing and connection reuse. The field rules are shared with the
//! request-head parser ([`super::request_head`]).
//!
//! Shaped like httparse: it borrows the received bytes, allocates nothing,
//! and answers `Partial` until the blank line that ends the head has arrived.
//! Only the fields a load generator acts on are kept (Content-Length,
//! Transfer-Encoding, Connection, Location, and whether Content-Type names
//! an event stream or JSON); every line is still validated so
//! that garbage is reported as garbage. Lines may end in CRLF or a bare LF
//! (RFC 9112 §2.2 allows accepting LF); a bare CR anywhere is an error.

use super::{HttpError, MAX_HEAD_BYTES, is_field_byte, is_tchar};

/// Result of parsing something that may not have fully arrived yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    Complete(T),
    Partial,
}

/// Byte range of a value inside the parsed buffer (kept as offsets so the
/// head stays `Copy` and borrows nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn slice<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start..self.end]
    }
}

/// What Transfer-Encoding says about framing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransferCoding {
    /// No Transfer-Encoding field.
    #[default]
    Absent,
    /// The final coding is `chunked`.
    Chunked,
    /// Some other final coding: the body runs until the connection closes.
    Other,
}

/// What Content-Type says the body is, as far as measuring it goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BodyFormat {
    /// Anything else, or no Content-Type: the body is only counted.
    #[default]
    Opaque,
    /// `text/event-stream`: server-sent events, timed one by one.
    EventStream,
    /// `application/json` or `*/*+json`: may report token usage.
    Json,
}

impl BodyFormat {
    /// The format a Content-Type value names (parameters ignored). Most
    /// values are neither (`text/html`, `text/plain`): the first letter
    /// and the length settle those at once.
    pub(crate) fn of(value: &[u8]) -> BodyFormat {
        const EVENT_STREAM: &[u8] = b"text/event-stream";
        match value.first() {
            Some(b't' | b'T') if value.len() >= EVENT_STREAM.len() => {
                let media = value.split(|&b| b == b';').next().unwrap_or(value).trim_ascii_end();
                if media.eq_ignore_ascii_case(EVENT_STREAM) { BodyFormat::EventStream } else { BodyFormat::Opaque }
            }
            Some(b'a' | b'A') => {
                let media = value.split(|&b| b == b';').next().unwrap_or(value).trim_ascii_end();
                let ends_json = media.len() >= 5 && media[media.len() - 5..].eq_ignore_ascii_case(b"+json");
                let json = media.eq_ignore_ascii_case(b"application/json") || ends_json;
                if json { BodyFormat::Json } else { BodyFormat::Opaque }
            }
            _ => BodyFormat::Opaque,
        }
    }
}

/// The parts of a response head that matter to a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Length of the head in bytes, including the terminating blank line.
    pub len: usize,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    pub status: u16,
    pub content_length: Option<u64>,
    pub transfer_coding: TransferCoding,
    /// `Connection: close` was present (alone or in a list).
    pub close: bool,
    /// `Connection: keep-alive` was present (matters for HTTP/1.0).
    pub keep_alive: bool,
    /// Value of the Location field, trimmed.
    pub location: Option<Span>,
    pub body_format: BodyFormat,
}

/// Offset just past the blank line that ends a head, scanning from `from`
/// (a resumption point: callers pass how far they scanned before, minus 3,
/// so that a split terminator is still found and the scan stays linear).
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        let lf = i + buf[i..].iter().position(|&b| b == b'\n')?;
        match buf.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') if buf.get(lf + 2) == Some(&b'\n') => return Some(lf + 3),
            _ => i = lf + 1,
        }
    }
    None
}

/// Empty lines before a status line, which are skipped (RFC 9112 §2.2
/// allows this leniency; httparse does the same).
pub(crate) fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        if buf[i..].starts_with(b"\r\n") {
            i += 2;
        } else if buf.get(i) == Some(&b'\n') {
            i += 1;
        } else {
            return i;
        }
    }
}

/// Can `buf` still become a valid status line? Lets garbage be rejected as
/// soon as its first bytes arrive instead of after 64 KiB or a timeout.
pub fn plausible_prefix(buf: &[u8]) -> bool {
    const PREFIX: &[u8] = b"HTTP/1.";
    let buf = &buf[leading_empty_lines(buf)..];
    let n = buf.len().min(PREFIX.len());
    buf == b"\r" || buf[..n] == PREFIX[..n]
}

/// Parses a response head at the start of `buf`.
pub fn parse_head(buf: &[u8]) -> Result<Status<Head>, HttpError> {
    parse_head_from(buf, 0)
}

/// As [`parse_head`], resuming the search for the end of the head at `from`.
pub fn parse_head_from(buf: &[u8], from: usize) -> Result<Status<Head>, HttpError> {
    if !plausible_prefix(buf) {
        return Err(HttpError::Version);
    }
    let skip = leading_empty_lines(buf);
    if skip == buf.len() || &buf[skip..] == b"\r" {
        return if buf.len() > MAX_HEAD_BYTES { Err(HttpError::HeadTooLarge) } else { Ok(Status::Partial) };
    }
    match find_head_end(buf, from.max(skip)) {
        Some(end) if end > MAX_HEAD_BYTES => Err(HttpError::HeadTooLarge),
        Some(end) => parse_complete(&buf[skip..end], skip).map(Status::Complete),
        None if buf.len() > MAX_HEAD_BYTES => Err(HttpError::HeadTooLarge),
        None => Ok(Status::Partial),
    }
}

/// Splits `head` into lines without their line endings, with each line's offset.
pub(crate) fn lines(head: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= head.len() {
            return None;
        }
        let start = pos;
        let lf = head[start..].iter().position(|&b| b == b'\n')? + start;
        pos = lf + 1;
        let end = if lf > start && head[lf - 1] == b'\r' { lf - 1 } else { lf };
        Some((start, &head[start..end]))
    })
}

/// Parses a head that starts `skipped` bytes (empty lines) into the buffer.
fn parse_complete(head: &[u8], skipped: usize) -> Result<Head, HttpError> {
    let mut it = lines(head);
    let (_, status_line) = it.next().ok_or(HttpError::Version)?;
    let (minor_version, status) = parse_status_line(status_line)?;
    let fields = parse_fields(it, skipped)?;
    Ok(Head {
        len: skipped + head.len(),
        minor_version,
        status,
        content_length: fields.content_length,
        transfer_coding: fields.transfer_coding,
        close: fields.close,
        keep_alive: fields.keep_alive,
        location: fields.location,
        body_format: fields.body_format,
    })
}

/// The header fields that decide framing, reuse and redirects, of a
/// request or a response alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fields {
    pub content_length: Option<u64>,
    pub transfer_coding: TransferCoding,
    pub close: bool,
    pub keep_alive: bool,
    pub location: Option<Span>,
    pub body_format: BodyFormat,
}

/// Validates every field line up to the blank line and keeps the [`Fields`].
pub(crate) fn parse_fields<'a>(
    lines: impl Iterator<Item = (usize, &'a [u8])>,
    skipped: usize,
) -> Result<Fields, HttpError> {
    let mut fields = Fields::default();
    for (offset, line) in lines {
        if line.is_empty() {
            break;
        }
        parse_field(line, skipped + offset, &mut fields)?;
    }
    Ok(fields)
}

fn parse_status_line(line: &[u8]) -> Result<(u8, u16), HttpError> {
    if line.contains(&b'\r') {
        return Err(HttpError::BareCr);
    }
    let minor = match line.get(..8) {
        Some(b"HTTP/1.1") => 1,
        Some(b"HTTP/1.0") => 0,
        _ => return Err(HttpError::Version),
    };
    if line.get(8) != Some(&b' ') {
        return Err(HttpError::Version);
    }
    let code = line.get(9..12).ok_or(HttpError::StatusCode)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::StatusCode);
    }
    let status = code.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    if !(100..=999).contains(&status) {
        return Err(HttpError::StatusCode);
    }
    match line.get(12) {
        None => {}
        Some(b' ') if line[13..].iter().all(|&b| is_field_byte(b)) => {}
        Some(b' ') => return Err(HttpError::HeaderValue),
        Some(_) => return Err(HttpError::StatusCode),
    }
    Ok((minor, status))
}

fn parse_field(line: &[u8], offset: usize, head: &mut Fields) -> Result<(), HttpError> {
    if line[0] == b' ' || line[0] == b'\t' {
        return Err(HttpError::ObsFold);
    }
    // The name and the colon in one pass: the name ends at the first byte
    // that is not a token character, which must be the colon.
    let colon = line.iter().position(|&b| !is_tchar(b)).ok_or(HttpError::HeaderName)?;
    if colon == 0 || line[colon] != b':' {
        return Err(HttpError::HeaderName);
    }
    let name = &line[..colon];
    let raw = &line[colon + 1..];
    if !all_field_bytes(raw)
        && let Some(&bad) = raw.iter().find(|&&b| !is_field_byte(b))
    {
        return Err(if bad == b'\r' { HttpError::BareCr } else { HttpError::HeaderValue });
    }
    let (value, value_start) = trim_ows(raw, offset + colon + 1);
    if name.eq_ignore_ascii_case(b"content-length") {
        merge_content_length(head, value)?;
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        if let Some(last) = list_items(value).last() {
            head.transfer_coding =
                if last.eq_ignore_ascii_case(b"chunked") { TransferCoding::Chunked } else { TransferCoding::Other };
        }
    } else if name.eq_ignore_ascii_case(b"connection") {
        for token in list_items(value) {
            head.close |= token.eq_ignore_ascii_case(b"close");
            head.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
        }
    } else if name.eq_ignore_ascii_case(b"content-type") {
        head.body_format = BodyFormat::of(value);
    } else if name.eq_ignore_ascii_case(b"location") && head.location.is_none() {
        head.location = Some(Span { start: value_start, end: value_start + value.len() });
    }
    Ok(())
}

/// Whether every byte may appear in a field value, eight at a time: a word
/// with no byte below 0x20 and none equal to 0x7f passes at once; a word
/// with one (an HTAB, or a byte to refuse) is checked byte by byte.
fn all_field_bytes(value: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS != 0;
    let mut words = value.chunks_exact(8);
    for word in words.by_ref() {
        let x = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        let suspicious = has_below(x, 0x20) || has_below(x ^ (ONES * 0x7f), 1);
        if suspicious && !word.iter().all(|&b| is_field_byte(b)) {
            return false;
        }
    }
    words.remainder().iter().all(|&b| is_field_byte(b))
}

/// Trims optional whitespace; returns the value and its offset in the head.
fn trim_ows(raw: &[u8], raw_offset: usize) -> (&[u8], usize) {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let lead = raw.iter().take_while(|b| is_ows(b)).count();
    let trail = raw[lead..].iter().rev().take_while(|b| is_ows(b)).count();
    (&raw[lead..raw.len() - trail], raw_offset + lead)
}

/// Non-empty, trimmed elements of a comma-separated list.
fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(|item| trim_ows(item, 0).0).filter(|item| !item.is_empty())
}

/// Content-Length may repeat (in one list or several fields) only with one value.
fn merge_content_length(head: &mut Fields, value: &[u8]) -> Result<(), HttpError> {
    let mut any = false;
    for item in value.split(|&b| b == b',') {
        let item = trim_ows(item, 0).0;
        if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
            return Err(HttpError::ContentLength);
        }
        let mut n: u64 = 0;
        for d in item {
            n = n.checked_mul(10).and_then(|n| n.checked_add(u64::from(d - b'0'))).ok_or(HttpError::ContentLength)?;
        }
        match head.content_length {
            Some(prev) if prev != n => return Err(HttpError::ContentLength),
            _ => head.content_length = Some(n),
        }
        any = true;
    }
    if any { Ok(()) } else { Err(HttpError::ContentLength) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_says_whether_a_body_is_events_or_json() {
        let cases: &[(&str, BodyFormat)] = &[
            ("text/event-stream", BodyFormat::EventStream),
            ("Text/Event-Stream; charset=utf-8", BodyFormat::EventStream),
            ("text/event-stream  ", BodyFormat::EventStream),
            ("Application/JSON", BodyFormat::Json),
            ("application/json", BodyFormat::Json),
            ("application/json; charset=utf-8", BodyFormat::Json),
            ("application/problem+json", BodyFormat::Json),
            ("text/plain", BodyFormat::Opaque),
            ("text/event-streams", BodyFormat::Opaque),
            ("application/jsonl", BodyFormat::Opaque),
            ("json", BodyFormat::Opaque),
            ("", BodyFormat::Opaque),
        ];
        for &(value, want) in cases {
            let input = format!("HTTP/1.1 200 OK\r\nContent-Type: {value}\r\nContent-Length: 0\r\n\r\n");
            assert_eq!(complete(input.as_bytes()).body_format, want, "{value:?}");
        }
        assert_eq!(complete(b"HTTP/1.1 200 OK\r\n\r\n").body_format, BodyFormat::Opaque);
    }

    #[test]
    fn the_word_at_a_time_value_check_agrees_with_the_byte_rule_everywhere() {
        for b in 0..=255u8 {
            for at in 0..19 {
                let mut value = [b'x'; 19];
                value[at] = b;
                assert_eq!(all_field_bytes(&value), is_field_byte(b), "byte {b:#04x} at {at}");
            }
        }
        assert!(all_field_bytes(b"") && all_field_bytes(b"\tobs-text \x80\xff ok\t"));
    }

    fn complete(input: &[u8]) -> Head {
        match parse_head(input) {
            Ok(Status::Complete(h)) => h,
            other => panic!("expected a complete head for {:?}, got {other:?}", String::from_utf8_lossy(input)),
        }
    }

    /// (input, expected status, content-length, coding, close, keep-alive)
    type Case = (&'static [u8], u16, Option<u64>, TransferCoding, bool, bool);

    const GOOD: &[Case] = &[
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 200, Some(5), TransferCoding::Absent, false, false),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, None, TransferCoding::Absent, false, false),
        (b"HTTP/1.1 200\r\n\r\n", 200, None, TransferCoding::Absent, false, false),
        (b"HTTP/1.1 200 \r\n\r\n", 200, None, TransferCoding::Absent, false, false),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", 200, None, TransferCoding::Absent, false, true),
        (b"HTTP/1.1 200 OK\r\nConnection: foo, close\r\n\r\n", 200, None, TransferCoding::Absent, true, false),
        (b"HTTP/1.1 200 OK\r\nCONNECTION:CLOSE\r\n\r\n", 200, None, TransferCoding::Absent, true, false),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 200, None, TransferCoding::Chunked, false, false),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            200,
            None,
            TransferCoding::Chunked,
            false,
            false,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            200,
            None,
            TransferCoding::Other,
            false,
            false,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n",
            200,
            Some(7),
            TransferCoding::Absent,
            false,
            false,
        ),
        (b"HTTP/1.1 200 OK\nContent-Length: 3\n\n", 200, Some(3), TransferCoding::Absent, false, false),
        (
            b"HTTP/1.1 200 OK\r\nX-Empty:\r\nContent-Length:\t 0 \t\r\n\r\n",
            200,
            Some(0),
            TransferCoding::Absent,
            false,
            false,
        ),
        (b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n", 103, None, TransferCoding::Absent, false, false),
        (b"HTTP/1.1 999 Whatever\r\n\r\n", 999, None, TransferCoding::Absent, false, false),
        (b"HTTP/1.1 200 caf\xc3\xa9\r\n\r\n", 200, None, TransferCoding::Absent, false, false),
        (b"\r\n\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", 200, Some(1), TransferCoding::Absent, false, false),
    ];

    const BAD: &[(&[u8], HttpError)] = &[
        (b"HTTP/2.0 200 OK\r\n\r\n", HttpError::Version),
        (b"HTTP/1.2 200 OK\r\n\r\n", HttpError::Version),
        (b"HEAT/1.1 200 OK\r\n\r\n", HttpError::Version),
        (b"hello world\r\n\r\n", HttpError::Version),
        (b"HTTP/1.1 001 Odd\r\n\r\n", HttpError::StatusCode),
        (b"HTTP/1.1 99 Odd\r\n\r\n", HttpError::StatusCode),
        (b"HTTP/1.1 2000 OK\r\n\r\n", HttpError::StatusCode),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", HttpError::StatusCode),
        (b"HTTP/1.1  200 OK\r\n\r\n", HttpError::StatusCode),
        (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", HttpError::HeaderName),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", HttpError::HeaderName),
        (b"HTTP/1.1 200 OK\r\nName : x\r\n\r\n", HttpError::HeaderName),
        (b"HTTP/1.1 200 OK\r\n: x\r\n\r\n", HttpError::HeaderName),
        (b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", HttpError::HeaderValue),
        (b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", HttpError::BareCr),
        (b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n", HttpError::ObsFold),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nContent-Length: 9\r\n\r\n", HttpError::ContentLength),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 8, 9\r\n\r\n", HttpError::ContentLength),
        (b"HTTP/1.1 200 OK\r\nContent-Length: +8\r\n\r\n", HttpError::ContentLength),
        (b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", HttpError::ContentLength),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", HttpError::ContentLength),
        (b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", HttpError::ContentLength),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", HttpError::ContentLength),
    ];

    #[test]
    fn good_heads_parse_to_the_expected_fields() {
        for &(input, status, cl, coding, close, keep_alive) in GOOD {
            let head = complete(input);
            assert_eq!(head.len, input.len());
            assert_eq!(
                (head.status, head.content_length, head.transfer_coding, head.close, head.keep_alive),
                (status, cl, coding, close, keep_alive),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn bad_heads_give_their_error() {
        for &(input, err) in BAD {
            assert_eq!(parse_head(input), Err(err), "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn every_prefix_of_a_good_head_is_partial() {
        for &(input, ..) in GOOD {
            for cut in 0..input.len() {
                assert_eq!(parse_head(&input[..cut]), Ok(Status::Partial), "cut at {cut} of {input:?}");
            }
        }
    }

    #[test]
    fn resumed_scans_find_the_same_end_at_every_split() {
        for &(input, ..) in GOOD {
            let skip = leading_empty_lines(input);
            for cut in 0..=input.len() {
                let from = cut.saturating_sub(3).max(skip);
                assert_eq!(find_head_end(input, from), Some(input.len()), "resume at {from}");
            }
        }
    }

    #[test]
    fn bytes_after_the_head_are_not_part_of_it() {
        let head = complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1");
        assert_eq!(head.len, 38);
    }

    #[test]
    fn location_span_points_at_the_trimmed_value() {
        let input = b"HTTP/1.1 302 Found\r\nLocation:  /next?a=1 \r\n\r\n";
        let head = complete(input);
        assert_eq!(head.location.unwrap().slice(input), b"/next?a=1");
    }

    #[test]
    fn garbage_is_rejected_before_the_head_ends() {
        assert_eq!(parse_head(b"<html>"), Err(HttpError::Version));
        assert_eq!(parse_head(b"HTTP/1.1 200"), Ok(Status::Partial));
    }

    #[test]
    fn oversized_heads_are_refused() {
        let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
        while big.len() <= MAX_HEAD_BYTES {
            big.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(parse_head(&big), Err(HttpError::HeadTooLarge));
        big.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&big), Err(HttpError::HeadTooLarge));
    }
}
