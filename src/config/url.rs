//! Parsing of the target URL: `http[s]://host[:port][/path][?query]`.
//!
//! Only what an HTTP/1.1 client can honour is accepted. The path and
//! query are kept byte for byte, except that bytes which may not appear on a
//! request line (controls, space, non-ASCII) are percent-encoded. The
//! fragment is dropped, as browsers and curl do.

use std::net::{IpAddr, Ipv6Addr};

use super::ConfigError;

/// A parsed `http://` or `https://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `https://`: the connection is made over TLS.
    pub tls: bool,
    /// Host name or address as written, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// Request target: path and query, never empty.
    pub target: String,
    /// `user:password@` from the URL, if any.
    pub credentials: Option<(String, String)>,
}

impl Url {
    pub fn parse(input: &str) -> Result<Url, ConfigError> {
        let bad = |why: &str| ConfigError::Url(format!("{input:?}: {why}"));
        let Some((scheme, rest)) = input.split_once("://") else {
            return Err(bad("a URL needs a scheme and a host, for example http://127.0.0.1:8080/"));
        };
        let tls = scheme.eq_ignore_ascii_case("https");
        if !tls && !scheme.eq_ignore_ascii_case("http") {
            return Err(bad("only http:// and https:// URLs are supported"));
        }
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => {
                let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (Some((percent_decode(user), percent_decode(pass))), host_port)
            }
            None => (None, authority),
        };
        let (host, port) = split_host_port(host_port, default_port(tls)).map_err(|why| bad(&why))?;
        let target = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{}", encode_target(p)),
            p => encode_target(p),
        };
        Ok(Url { tls, host, port, target, credentials })
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// The URL as it identifies the target, without credentials (which must
    /// not end up in result files): `http://host:port/target`.
    pub fn display_without_credentials(&self) -> String {
        format!("{}://{}{}", self.scheme(), self.authority(), self.target)
    }

    /// Value of the Host header: the host (bracketed if IPv6) and the port
    /// unless it is the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == default_port(self.tls) { host } else { format!("{host}:{}", self.port) }
    }

    /// `host:port` in the form the resolver accepts.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// 443 for `https://`, 80 for `http://`.
fn default_port(tls: bool) -> u16 {
    if tls { 443 } else { 80 }
}

/// Splits `host[:port]` (IPv6 in brackets); `port` when none is written.
pub fn split_host_port(host_port: &str, port: u16) -> Result<(String, u16), String> {
    let default = port;
    let (host, port) = if let Some(inner) = host_port.strip_prefix('[') {
        let (addr, after) = inner.split_once(']').ok_or("an IPv6 address needs its closing ']'")?;
        addr.parse::<Ipv6Addr>().map_err(|_| format!("{addr:?} is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("expected ':port' after the IPv6 address")?),
        };
        (addr.to_string(), port)
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (host_port.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("the URL has no host, for example http://127.0.0.1:8080/".into());
    }
    if !host.contains(':') && host.parse::<IpAddr>().is_err() {
        let valid = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_';
        if !host.bytes().all(valid) {
            return Err(format!("{host:?} is not a valid host name (write international names in their xn-- form)"));
        }
    }
    let port = match port {
        None | Some("") => default,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => match p.parse::<u32>() {
            Ok(n @ 1..=65535) => n as u16,
            _ => return Err(format!("port {p} is out of range; use 1 to 65535")),
        },
        Some(p) => return Err(format!("port {p:?} is not a number")),
    };
    Ok((host, port))
}

/// Percent-encodes the bytes that cannot appear on a request line.
fn encode_target(path: &str) -> String {
    encode_bytes(path.as_bytes())
}

/// [`encode_target`] for bytes (a target whose templates were filled in).
pub fn encode_bytes(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path {
        if b <= b' ' || b >= 0x7f {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> Url {
        Url::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"))
    }

    #[test]
    fn accepted_urls() {
        let cases: &[(&str, &str, u16, &str, &str)] = &[
            ("http://localhost", "localhost", 80, "/", "localhost"),
            ("http://localhost:8080", "localhost", 8080, "/", "localhost:8080"),
            ("HTTP://Example.com:80/a/b?c=d&e=%20f", "Example.com", 80, "/a/b?c=d&e=%20f", "Example.com"),
            ("http://127.0.0.1:9/?q", "127.0.0.1", 9, "/?q", "127.0.0.1:9"),
            ("http://h?x=1", "h", 80, "/?x=1", "h"),
            ("http://[::1]:8080/p", "::1", 8080, "/p", "[::1]:8080"),
            ("http://[::1]/", "::1", 80, "/", "[::1]"),
            ("http://h:/p", "h", 80, "/p", "h"),
            ("http://h/p#frag", "h", 80, "/p", "h"),
            ("http://h/a b/\u{e9}", "h", 80, "/a%20b/%C3%A9", "h"),
            ("http://h/%7Euser//x;y", "h", 80, "/%7Euser//x;y", "h"),
            ("https://h/", "h", 443, "/", "h"),
            ("HTTPS://h:443/x", "h", 443, "/x", "h"),
            ("https://h:80/", "h", 80, "/", "h:80"),
            ("https://[::1]:8443/", "::1", 8443, "/", "[::1]:8443"),
        ];
        for &(input, host, port, target, host_header) in cases {
            let url = ok(input);
            assert_eq!((url.host.as_str(), url.port, url.target.as_str()), (host, port, target), "{input}");
            assert_eq!(url.host_header(), host_header);
            assert_eq!(url.tls, input.to_ascii_lowercase().starts_with("https"), "{input}");
        }
        assert_eq!(ok("https://u:p@h:8443/x?y").display_without_credentials(), "https://h:8443/x?y");
    }

    #[test]
    fn credentials_in_the_url_are_kept() {
        let url = ok("http://al%40x:se:cret@h:81/");
        assert_eq!(url.credentials, Some(("al@x".into(), "se:cret".into())));
        assert_eq!((url.host.as_str(), url.port), ("h", 81));
    }

    #[test]
    fn rejected_urls_say_why() {
        let cases: &[(&str, &str)] = &[
            ("localhost:8080", "needs a scheme"),
            ("ftp://h/", "only http:// and https://"),
            ("https://h:0/", "out of range"),
            ("http:///path", "no host"),
            ("http://:80/", "no host"),
            ("http://h:0/", "out of range"),
            ("http://h:65536/", "out of range"),
            ("http://h:99999999999/", "out of range"),
            ("http://h:http/", "not a number"),
            ("http://[::1/", "closing ']'"),
            ("http://[zz]/", "not an IPv6 address"),
            ("http://[::1]x/", "expected ':port'"),
            ("http://b\u{fc}cher.de/", "xn--"),
            ("http://a b/", "not a valid host name"),
        ];
        for &(input, needle) in cases {
            let err = Url::parse(input).expect_err(input).to_string();
            assert!(err.contains(needle), "{input}: {err}");
        }
    }
}
