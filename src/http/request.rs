//! Builds the request bytes once, before the run.
//!
//! Every connection sends the same pre-built `Bytes`; nothing is formatted
//! per request. Default headers come first and a user header with the same
//! name (case-insensitive) replaces the default in place rather than sending
//! it twice. Redirects to another path on the same origin rebuild the bytes
//! from the same spec.

use bytes::Bytes;

use super::find;

/// Everything needed to produce a request's bytes. Validation of names and
/// values happens where they are read (the config layer); this type trusts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    pub method: String,
    /// Request target: path and query, exactly as sent.
    pub target: String,
    /// Default header fields, in order.
    pub defaults: Vec<(String, String)>,
    /// User header fields (`-H`), replacing defaults of the same name.
    pub user: Vec<(String, String)>,
    pub body: Bytes,
}

impl RequestSpec {
    /// The complete request: request line, fields, blank line, body.
    pub fn build(&self) -> Bytes {
        let mut out = Vec::with_capacity(256 + self.body.len());
        push_all(&mut out, &[&self.method, " ", &self.target, " HTTP/1.1\r\n"]);
        for (name, value) in self.fields() {
            push_all(&mut out, &[name, ": ", value, "\r\n"]);
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        Bytes::from(out)
    }

    /// Header fields in the order they are sent: each default, or in its
    /// place the first user field of the same name; then the other user fields.
    pub fn fields(&self) -> Vec<(&str, &str)> {
        let mut replaced = vec![false; self.user.len()];
        let mut out = Vec::with_capacity(self.defaults.len() + self.user.len());
        for (name, value) in &self.defaults {
            match self.user.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some(i) => {
                    replaced[i] = true;
                    out.push((self.user[i].0.as_str(), self.user[i].1.as_str()));
                }
                None => out.push((name.as_str(), value.as_str())),
            }
        }
        let rest = self.user.iter().zip(replaced).filter(|(_, replaced)| !replaced);
        out.extend(rest.map(|((n, v), _)| (n.as_str(), v.as_str())));
        out
    }
}

/// The method of a request built here (its bytes up to the first space).
pub fn method_of(request: &[u8]) -> &[u8] {
    request.split(|&b| b == b' ').next().unwrap_or_default()
}

/// The request target of a request built here (the request line's second word).
pub fn target_of(request: &[u8]) -> &str {
    let target = request.split(|&b| b == b' ').nth(1).unwrap_or_default();
    std::str::from_utf8(target).unwrap_or("/")
}

/// The request that follows `sent` (a request built here, `{{seq}}`
/// digits and all) after a redirect with `status` to `target`: 303, and
/// 301/302 after POST, turn into a GET without body (RFC 9110 §15.4);
/// 307 and 308 repeat the method and body. The header fields stay as sent.
pub fn redirect(sent: &[u8], status: u16, target: &str) -> Bytes {
    let method = method_of(sent);
    let to_get = status == 303 && method != b"HEAD" || matches!(status, 301 | 302) && method == b"POST";
    let head_end = find(sent, b"\r\n\r\n").map_or(sent.len(), |i| i + 2);
    let line_end = find(sent, b"\r\n").map_or(head_end, |i| i + 2).min(head_end);
    let mut out = Vec::with_capacity(sent.len() + target.len());
    out.extend_from_slice(if to_get { b"GET" } else { method });
    push_all(&mut out, &[" ", target, " HTTP/1.1\r\n"]);
    for field in sent[line_end..head_end].split_inclusive(|&b| b == b'\n') {
        let name = field.split(|&b| b == b':').next().unwrap_or_default();
        let body_field = name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"content-type");
        if !(to_get && body_field) {
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(b"\r\n");
    if !to_get {
        out.extend_from_slice(sent.get(head_end + 2..).unwrap_or_default());
    }
    Bytes::from(out)
}

/// Where a redirect's Location points, as a request target, if it stays on
/// the same scheme (`http` or `https`), host and port; `None` for another origin, which
/// this client does not follow. Relative references resolve against
/// `current` (RFC 3986 §5.2, without dot-segment removal: servers see the
/// path they asked for).
pub fn resolve_location(location: &[u8], scheme: &str, host: &str, port: u16, current: &str) -> Option<String> {
    let location = std::str::from_utf8(location).ok()?;
    let location = location.split_once('#').map_or(location, |(before, _)| before);
    let authority_and_path = if let Some((their_scheme, rest)) = location.split_once("://") {
        if !their_scheme.eq_ignore_ascii_case(scheme) || their_scheme.contains(['/', '?']) {
            return None;
        }
        Some(rest)
    } else {
        location.strip_prefix("//")
    };
    let target = match authority_and_path {
        Some(rest) => {
            let split = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(split);
            let default_port = if scheme.eq_ignore_ascii_case("https") { 443 } else { 80 };
            if !same_origin(authority, host, port, default_port) {
                return None;
            }
            match path {
                "" => "/".to_string(),
                p if p.starts_with('?') => format!("/{p}"),
                p => p.to_string(),
            }
        }
        None if location.starts_with('/') => location.to_string(),
        None => {
            let path = current.split_once('?').map_or(current, |(p, _)| p);
            if location.starts_with('?') || location.is_empty() {
                format!("{path}{location}")
            } else {
                let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
                format!("{}{location}", if dir.is_empty() { "/" } else { dir })
            }
        }
    };
    target.bytes().all(|b| b > b' ' && b < 0x7f).then_some(target)
}

/// Does `authority` (`host[:port]`, IPv6 in brackets, userinfo ignored) name `host`:`port`?
fn same_origin(authority: &str, host: &str, port: u16, default_port: u16) -> bool {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (their_host, their_port) = match authority.strip_prefix('[') {
        Some(inner) => match inner.split_once(']') {
            Some((h, rest)) => (h, rest.strip_prefix(':')),
            None => return false,
        },
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let their_port = match their_port {
        None | Some("") => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(p) => p,
            Err(_) => return false,
        },
    };
    their_host.eq_ignore_ascii_case(host) && their_port == port
}

fn push_all(out: &mut Vec<u8>, parts: &[&str]) {
    for part in parts {
        out.extend_from_slice(part.as_bytes());
    }
}

/// `Basic` credentials for an Authorization field (RFC 7617).
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn spec(user: &[(&str, &str)], body: &'static [u8]) -> RequestSpec {
        RequestSpec {
            method: "POST".into(),
            target: "/a?b=c".into(),
            defaults: pairs(&[("Host", "h:8080"), ("User-Agent", "vastar/0"), ("Content-Type", "text/html")]),
            user: pairs(user),
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn builds_request_line_fields_and_body() {
        let bytes = spec(&[], b"xyz").build();
        assert_eq!(
            &bytes[..],
            b"POST /a?b=c HTTP/1.1\r\nHost: h:8080\r\nUser-Agent: vastar/0\r\nContent-Type: text/html\r\n\r\nxyz"
        );
    }

    #[test]
    fn user_headers_replace_defaults_in_place_and_extras_follow() {
        let bytes = spec(&[("X-A", "1"), ("user-agent", "mine"), ("X-A", "2")], b"").build();
        assert_eq!(
            &bytes[..],
            b"POST /a?b=c HTTP/1.1\r\nHost: h:8080\r\nuser-agent: mine\r\nContent-Type: text/html\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
        );
    }

    #[test]
    fn a_default_named_twice_by_the_user_is_sent_as_the_user_wrote_it() {
        let bytes = spec(&[("Host", "a"), ("host", "b")], b"").build();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(text.contains("\r\nHost: a\r\n") && text.contains("\r\nhost: b\r\n"), "{text}");
        assert_eq!(text.matches("h:8080").count(), 0);
    }

    #[test]
    fn redirects_follow_rfc_9110_method_rules() {
        let post = spec(&[("Content-Type", "application/json"), ("X-Id", "07")], b"{}").build();
        for (status, method, body) in
            [(301, "GET", 0), (302, "GET", 0), (303, "GET", 0), (307, "POST", 2), (308, "POST", 2)]
        {
            let next = redirect(&post, status, "/next");
            let text = String::from_utf8(next.to_vec()).unwrap();
            assert!(text.starts_with(&format!("{method} /next HTTP/1.1\r\nHost: h:8080\r\n")), "{status}: {text}");
            assert!(text.contains("\r\nX-Id: 07\r\n"), "{status}: {text}");
            let head_len = text.find("\r\n\r\n").unwrap() + 4;
            assert_eq!(text.len() - head_len, body, "status {status}");
            assert_eq!(text.contains("Content-Type"), body > 0, "{status}: {text}");
            assert_eq!((method_of(&next), target_of(&next)), (method.as_bytes(), "/next"));
        }
        let mut head = spec(&[], b"");
        head.method = "HEAD".into();
        assert_eq!(method_of(&redirect(&head.build(), 303, "/x")), b"HEAD");
        assert_eq!(target_of(&post), "/a?b=c");
    }

    #[test]
    fn locations_on_the_same_origin_resolve_to_targets() {
        let cases: &[(&str, Option<&str>)] = &[
            ("/next", Some("/next")),
            ("/next?a=1#frag", Some("/next?a=1")),
            ("http://h:8080/p", Some("/p")),
            ("HTTP://H:8080", Some("/")),
            ("http://h:8080?q", Some("/?q")),
            ("//h:8080/p", Some("/p")),
            ("http://user@h:8080/p", Some("/p")),
            ("sibling", Some("/dir/sibling")),
            ("?page=2", Some("/dir/file?page=2")),
            ("", Some("/dir/file")),
            ("http://h/p", None),
            ("http://h:9090/p", None),
            ("http://other:8080/p", None),
            ("https://h:8080/p", None),
            ("//other:8080/p", None),
            ("/with space", None),
        ];
        for &(location, want) in cases {
            let got = resolve_location(location.as_bytes(), "http", "h", 8080, "/dir/file?x=1");
            assert_eq!(got.as_deref(), want, "{location:?}");
        }
        assert_eq!(resolve_location(b"http://[::1]/x", "http", "::1", 80, "/").as_deref(), Some("/x"));
        assert_eq!(resolve_location(b"http://h/x", "http", "h", 80, "/").as_deref(), Some("/x"));
        assert_eq!(resolve_location(b"https://h/x", "https", "h", 443, "/").as_deref(), Some("/x"));
        assert_eq!(resolve_location(b"HTTPS://h:443/x", "https", "h", 443, "/").as_deref(), Some("/x"));
        assert_eq!(resolve_location(b"http://h/x", "https", "h", 443, "/"), None, "another scheme");
        assert_eq!(resolve_location(b"https://h/x", "http", "h", 80, "/"), None, "another scheme");
        assert_eq!(resolve_location(b"https://h/x", "https", "h", 8443, "/"), None, "another port");
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, out) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), out);
        }
        assert_eq!(basic_auth("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }
}
