//! HTTP CONNECT (RFC 9110 §9.3.6): the request that asks a proxy for a
//! tunnel, built once per run, and the parser of the proxy's answer.
//!
//! The parser is shaped like httparse: it borrows the bytes received so
//! far and says whether the answer's head is complete, without allocating.
//! It checks the status line as soon as its bytes arrive, so that a peer
//! that is not an HTTP proxy is refused at its first read, and it bounds
//! the head, so that a reply that never ends cannot grow a buffer.

/// Largest CONNECT reply head accepted, in bytes: proxies answer with a
/// status line and a few fields.
pub const MAX_REPLY_HEAD: usize = 8 * 1024;

/// What a CONNECT reply head says, once complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// Bytes of the head, blank line included: what follows is the tunnel's.
    pub head_len: usize,
}

/// A CONNECT reply that cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// Not an HTTP/1.x status line, or a control byte in the head.
    Invalid,
    /// No end of head within [`MAX_REPLY_HEAD`] bytes.
    TooLarge,
}

/// The CONNECT request for `authority` (`host:port`, IPv6 in brackets):
/// `Host` names the same authority, then `Proxy-Authorization` when
/// `basic` holds credentials (`Basic ...`), then the `--proxy-header`
/// fields (one replacing a default of the same name).
pub fn connect_request(authority: &str, basic: Option<&str>, headers: &[(String, String)]) -> Vec<u8> {
    let mut defaults = vec![("Host", authority)];
    if let Some(basic) = basic {
        defaults.push(("Proxy-Authorization", basic));
    }
    let mut out = format!("CONNECT {authority} HTTP/1.1\r\n").into_bytes();
    for (name, value) in defaults {
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
    }
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Parses the reply head in `buf` (every byte received so far): `Ok(None)`
/// while it is incomplete and valid so far.
pub fn parse_reply(buf: &[u8]) -> Result<Option<Reply>, ReplyError> {
    const PREFIX: &[u8] = b"HTTP/1.";
    let n = buf.len().min(PREFIX.len());
    if buf[..n] != PREFIX[..n] {
        return Err(ReplyError::Invalid);
    }
    // "HTTP/1.x NNN": the minor digit, a space, three digits.
    let line = &buf[n..buf.len().min(12)];
    for (i, &b) in line.iter().enumerate() {
        let ok = match i {
            0 | 2..=4 => b.is_ascii_digit(),
            _ => b == b' ',
        };
        if !ok {
            return Err(ReplyError::Invalid);
        }
    }
    if let Some(&b) = buf.get(12)
        && !matches!(b, b' ' | b'\r' | b'\n')
    {
        return Err(ReplyError::Invalid);
    }
    let Some(head_len) = head_end(buf)? else {
        return if buf.len() >= MAX_REPLY_HEAD { Err(ReplyError::TooLarge) } else { Ok(None) };
    };
    if head_len > MAX_REPLY_HEAD {
        return Err(ReplyError::TooLarge);
    }
    if head_len < 13 {
        return Err(ReplyError::Invalid);
    }
    let digit = |i: usize| u16::from(buf[i] - b'0');
    Ok(Some(Reply { status: digit(9) * 100 + digit(10) * 10 + digit(11), head_len }))
}

/// The length of the head (through its blank line: CRLF, or a bare LF as
/// lenient parsers accept), if it has ended; a control byte is refused.
fn head_end(buf: &[u8]) -> Result<Option<usize>, ReplyError> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'\n' => {
                let line = &buf[line_start..i];
                if line.is_empty() || line == b"\r" {
                    return Ok(Some(i + 1));
                }
                line_start = i + 1;
            }
            b'\r' if buf.get(i + 1).is_some_and(|&next| next != b'\n') => return Err(ReplyError::Invalid),
            b'\r' | b'\t' => {}
            0..=0x1f | 0x7f => return Err(ReplyError::Invalid),
            _ => {}
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_the_authority_and_carries_credentials_and_headers() {
        let plain = connect_request("example.com:443", None, &[]);
        assert_eq!(plain, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
        let headers = vec![("X-Trace".to_string(), "1".to_string()), ("host".to_string(), "other".to_string())];
        let full = connect_request("[::1]:8443", Some("Basic dTpw"), &headers);
        assert_eq!(
            String::from_utf8(full).unwrap(),
            "CONNECT [::1]:8443 HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\nX-Trace: 1\r\nhost: other\r\n\r\n"
        );
    }

    type Parsed = Result<Option<Reply>, ReplyError>;

    #[test]
    fn replies_table() {
        let ok = |status, head_len| Ok(Some(Reply { status, head_len }));
        let cases: &[(&[u8], Parsed)] = &[
            (b"HTTP/1.1 200 Connection established\r\n\r\n", ok(200, 39)),
            (b"HTTP/1.0 200 OK\r\nProxy-Agent: x\r\n\r\n", ok(200, 35)),
            (b"HTTP/1.1 200\r\n\r\n", ok(200, 16)),
            (b"HTTP/1.1 204 \n\n", ok(204, 15)),
            (b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n", ok(407, 73)),
            (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!", ok(403, 45)),
            (b"HTTP/1.1 200 OK\r\n\r\nTLS bytes", ok(200, 19)),
            (b"", Ok(None)),
            (b"HTT", Ok(None)),
            (b"HTTP/1.1 200 OK\r\n", Ok(None)),
            (b"HTTP/1.1 200 OK\r\nVia: x\r\n\r", Ok(None)),
            (b"SSH-2.0-OpenSSH\r\n", Err(ReplyError::Invalid)),
            (b"\x05\x00", Err(ReplyError::Invalid)),
            (b"HTTP/2 200\r\n\r\n", Err(ReplyError::Invalid)),
            (b"HTTP/1.1 20x OK\r\n\r\n", Err(ReplyError::Invalid)),
            (b"HTTP/1.1  200\r\n\r\n", Err(ReplyError::Invalid)),
            (b"HTTP/1.1 2000\r\n\r\n", Err(ReplyError::Invalid)),
            (b"HTTP/1.1 200 OK\r\nX: \x00\r\n\r\n", Err(ReplyError::Invalid)),
            (b"HTTP/1.1 200 OK\rX: y\r\n\r\n", Err(ReplyError::Invalid)),
            (b"HTTP/1.1 200\n", Ok(None)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_reply(input), *want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn every_split_offset_is_partial_then_the_same_answer() {
        let inputs: &[&[u8]] = &[
            b"HTTP/1.1 200 Connection established\r\nVia: 1.1 proxy\r\n\r\n",
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n",
            b"HTTP/1.0 200 OK\n\n",
        ];
        for input in inputs {
            let whole = parse_reply(input).unwrap().unwrap();
            assert_eq!(whole.head_len, input.len());
            for cut in 0..input.len() {
                assert_eq!(parse_reply(&input[..cut]), Ok(None), "cut at {cut}");
            }
        }
    }

    #[test]
    fn a_reply_that_never_ends_is_refused_at_the_bound() {
        let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
        while endless.len() < MAX_REPLY_HEAD {
            endless.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(parse_reply(&endless), Err(ReplyError::TooLarge));
        assert_eq!(parse_reply(&endless[..MAX_REPLY_HEAD - 1]), Ok(None));
    }
}
