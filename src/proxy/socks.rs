//! SOCKS5 (RFC 1928) with username/password authentication (RFC 1929):
//! the client's three messages, built once per run, and parsers of the
//! server's three replies. The parsers borrow the bytes received so far
//! and say `Ok(None)` until a reply is whole; they never allocate.

use std::net::IpAddr;

/// Authentication methods (RFC 1928 §3).
const NO_AUTH: u8 = 0x00;
const USER_PASS: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xff;

/// Where the tunnel goes: a name the proxy resolves (`socks5h://`), or an
/// address resolved here (`socks5://`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    Name(String),
    Ip(IpAddr),
}

/// A SOCKS reply that refuses or cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocksError {
    /// Not a SOCKS5 reply (wrong version, unknown address type, a method
    /// that was not offered).
    Invalid,
    /// The server accepts none of the methods offered (0xFF).
    NoAcceptableMethod,
    /// Username/password authentication failed (RFC 1929 status ≠ 0).
    AuthFailed,
    /// The CONNECT's reply code (RFC 1928 §6), 1 to 255.
    Reply(u8),
}

/// The method the server chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    NoAuth,
    UserPass,
}

/// The greeting: the methods offered (username/password as well when the
/// proxy URL carries credentials, as curl does).
pub fn greeting(with_auth: bool) -> Vec<u8> {
    if with_auth { vec![5, 2, NO_AUTH, USER_PASS] } else { vec![5, 1, NO_AUTH] }
}

/// The username/password request; `None` when either is over 255 bytes.
pub fn auth_request(user: &str, pass: &str) -> Option<Vec<u8>> {
    let (ulen, plen) = (u8::try_from(user.len()).ok()?, u8::try_from(pass.len()).ok()?);
    let mut out = vec![1, ulen];
    out.extend_from_slice(user.as_bytes());
    out.push(plen);
    out.extend_from_slice(pass.as_bytes());
    Some(out)
}

/// The CONNECT request to `to`:`port`; `None` for a name over 255 bytes.
pub fn connect_request(to: &Destination, port: u16) -> Option<Vec<u8>> {
    let mut out = vec![5, 1, 0];
    match to {
        Destination::Ip(IpAddr::V4(v4)) => {
            out.push(1);
            out.extend_from_slice(&v4.octets());
        }
        Destination::Ip(IpAddr::V6(v6)) => {
            out.push(4);
            out.extend_from_slice(&v6.octets());
        }
        Destination::Name(name) => {
            out.extend_from_slice(&[3, u8::try_from(name.len()).ok()?]);
            out.extend_from_slice(name.as_bytes());
        }
    }
    out.extend_from_slice(&port.to_be_bytes());
    Some(out)
}

/// The method reply (`[5, method]`); `offered_auth`: username/password was offered.
pub fn method_reply(buf: &[u8], offered_auth: bool) -> Result<Option<Method>, SocksError> {
    match *buf {
        [] | [5] => Ok(None),
        [5, NO_AUTH] => Ok(Some(Method::NoAuth)),
        [5, USER_PASS] if offered_auth => Ok(Some(Method::UserPass)),
        [5, NO_ACCEPTABLE] => Err(SocksError::NoAcceptableMethod),
        _ => Err(SocksError::Invalid),
    }
}

/// The username/password reply (`[1, status]`; some servers answer with
/// version 5 there, which is accepted).
pub fn auth_reply(buf: &[u8]) -> Result<Option<()>, SocksError> {
    match *buf {
        [] | [1 | 5] => Ok(None),
        [1 | 5, 0] => Ok(Some(())),
        [1 | 5, _] => Err(SocksError::AuthFailed),
        _ => Err(SocksError::Invalid),
    }
}

/// The CONNECT reply: its length once whole (what follows is the tunnel's).
pub fn connect_reply(buf: &[u8]) -> Result<Option<usize>, SocksError> {
    match buf {
        [] => return Ok(None),
        [5, ..] => {}
        _ => return Err(SocksError::Invalid),
    }
    match buf.get(1) {
        None => return Ok(None),
        Some(0) => {}
        Some(&code) => return Err(SocksError::Reply(code)),
    }
    let len = match (buf.get(2), buf.get(3), buf.get(4)) {
        (Some(_), Some(1), _) => 10,
        (Some(_), Some(4), _) => 22,
        (Some(_), Some(3), Some(&n)) => 7 + usize::from(n),
        (Some(_), Some(3), None) | (Some(_), None, _) | (None, _, _) => return Ok(None),
        (Some(_), Some(_), _) => return Err(SocksError::Invalid),
    };
    if buf[2] != 0 {
        return Err(SocksError::Invalid);
    }
    Ok((buf.len() >= len).then_some(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_as_the_rfcs_lay_them_out() {
        assert_eq!(greeting(false), [5, 1, 0]);
        assert_eq!(greeting(true), [5, 2, 0, 2]);
        assert_eq!(auth_request("u", "pw").unwrap(), [1, 1, b'u', 2, b'p', b'w']);
        assert!(auth_request(&"x".repeat(256), "").is_none());
        let v4 = Destination::Ip("10.0.0.1".parse().unwrap());
        assert_eq!(connect_request(&v4, 443).unwrap(), [5, 1, 0, 1, 10, 0, 0, 1, 1, 187]);
        let name = Destination::Name("ab.c".into());
        assert_eq!(connect_request(&name, 80).unwrap(), [5, 1, 0, 3, 4, b'a', b'b', b'.', b'c', 0, 80]);
        let v6 = connect_request(&Destination::Ip("::1".parse().unwrap()), 1).unwrap();
        assert_eq!((v6.len(), v6[3], v6[19]), (22, 4, 1));
        assert!(connect_request(&Destination::Name("a".repeat(256)), 1).is_none());
    }

    #[test]
    fn method_and_auth_replies_table() {
        assert_eq!(method_reply(&[], false), Ok(None));
        assert_eq!(method_reply(&[5], true), Ok(None));
        assert_eq!(method_reply(&[5, 0], true), Ok(Some(Method::NoAuth)));
        assert_eq!(method_reply(&[5, 2], true), Ok(Some(Method::UserPass)));
        assert_eq!(method_reply(&[5, 2], false), Err(SocksError::Invalid));
        assert_eq!(method_reply(&[5, 0xff], true), Err(SocksError::NoAcceptableMethod));
        assert_eq!(method_reply(&[4, 0], true), Err(SocksError::Invalid));
        assert_eq!(method_reply(b"HTTP/1.1", true), Err(SocksError::Invalid));
        assert_eq!(auth_reply(&[1]), Ok(None));
        assert_eq!(auth_reply(&[1, 0]), Ok(Some(())));
        assert_eq!(auth_reply(&[5, 0]), Ok(Some(())));
        assert_eq!(auth_reply(&[1, 1]), Err(SocksError::AuthFailed));
        assert_eq!(auth_reply(&[9, 0]), Err(SocksError::Invalid));
        assert_eq!(auth_reply(&[1, 0, 7]), Err(SocksError::Invalid));
    }

    #[test]
    fn connect_replies_table_and_every_split() {
        let v4: &[u8] = &[5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];
        let mut v6 = vec![5, 0, 0, 4];
        v6.extend_from_slice(&[0; 18]);
        let name: &[u8] = &[5, 0, 0, 3, 3, b'a', b'.', b'b', 0, 80];
        for whole in [v4, &v6, name] {
            assert_eq!(connect_reply(whole), Ok(Some(whole.len())));
            let mut more = whole.to_vec();
            more.extend_from_slice(b"tunnel bytes");
            assert_eq!(connect_reply(&more), Ok(Some(whole.len())));
            for cut in 0..whole.len() {
                assert_eq!(connect_reply(&whole[..cut]), Ok(None), "cut at {cut}");
            }
        }
        for code in 1..=8u8 {
            assert_eq!(connect_reply(&[5, code, 0, 1]), Err(SocksError::Reply(code)));
        }
        assert_eq!(connect_reply(&[4, 90]), Err(SocksError::Invalid));
        assert_eq!(connect_reply(&[5, 0, 0, 9]), Err(SocksError::Invalid));
        assert_eq!(connect_reply(&[5, 0, 1, 1]), Err(SocksError::Invalid));
    }
}
