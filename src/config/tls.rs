//! The rules for the TLS flags (`-k`, `--cacert`, `--cert`, `--key`,
//! `--tls-version`, `--tls-resume`) and `--connect-to`: files are read here,
//! bounded, so that every unreadable or oversized file is a one-line error
//! before anything starts; their contents are checked when the TLS
//! configuration is built.

use std::path::Path;

use super::url::split_host_port;
use super::{ConfigError, Url, invalid, read_at_most};
use crate::tls::{TlsOptions, TlsVersion};

/// Largest PEM file accepted (a CA bundle of the whole web is about 250 KiB).
pub const MAX_PEM_BYTES: u64 = 4 * 1024 * 1024;

/// The TLS flags as given.
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsFlags<'a> {
    pub insecure: bool,
    pub cacert: Option<&'a Path>,
    pub cert: Option<&'a Path>,
    pub key: Option<&'a Path>,
    pub version: Option<&'a str>,
    pub resume: bool,
}

/// The TLS options of a run for `url` (`None` for `http://`, where the TLS
/// flags do not apply, as with curl).
pub fn options(url: &Url, flags: &TlsFlags<'_>) -> Result<Option<TlsOptions>, ConfigError> {
    let version = flags.version.map(parse_version).transpose()?;
    let client = match (flags.cert, flags.key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => return Err(invalid("--cert", "needs --key FILE with the certificate's private key")),
        (None, Some(_)) => return Err(invalid("--key", "needs --cert FILE with the client certificate")),
    };
    if !url.tls {
        return Ok(None);
    }
    Ok(Some(TlsOptions {
        insecure: flags.insecure,
        ca_pem: flags.cacert.map(|path| read_pem("--cacert", path)).transpose()?,
        client_pem: match client {
            Some((cert, key)) => Some((read_pem("--cert", cert)?, read_pem("--key", key)?)),
            None => None,
        },
        version,
        resume: flags.resume,
    }))
}

fn parse_version(text: &str) -> Result<TlsVersion, ConfigError> {
    match text.trim().to_ascii_lowercase().trim_start_matches("tls").trim_start_matches('v') {
        "1.2" => Ok(TlsVersion::Tls12),
        "1.3" => Ok(TlsVersion::Tls13),
        _ => Err(invalid("--tls-version", format!("{text:?} is not a TLS version this client speaks; use 1.2 or 1.3"))),
    }
}

/// Reads a PEM file of at most [`MAX_PEM_BYTES`].
pub fn read_pem(flag: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let shown = path.display();
    match read_at_most(path, MAX_PEM_BYTES) {
        Ok(Some(bytes)) if bytes.is_empty() => Err(invalid(flag, format!("{shown:?} is empty; expected PEM"))),
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(invalid(flag, format!("{shown:?} is larger than 4 MiB; is it a PEM file?"))),
        Err(e) if path.is_dir() => Err(invalid(flag, format!("{shown:?} is a directory; give a PEM file ({e})"))),
        Err(e) => Err(invalid(flag, format!("cannot read {shown:?}: {e}"))),
    }
}

/// One `--connect-to`: `HOST2:PORT2` (connect there instead of the
/// URL's host and port), or curl's `HOST1:PORT1:HOST2:PORT2`, which applies
/// only to URLs of HOST1 and PORT1 (an empty one matches any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectTo {
    text: String,
    from_host: Option<String>,
    from_port: Option<u16>,
    pub to: (String, u16),
}

impl ConnectTo {
    /// Parses a `--connect-to` value. IPv6 addresses go in brackets.
    pub fn parse(text: &str) -> Result<ConnectTo, ConfigError> {
        let usage = "write HOST:PORT, or HOST1:PORT1:HOST2:PORT2 as curl does (IPv6 in brackets)";
        let parts = split_outside_brackets(text);
        let (from_host, from_port, to) = match parts.as_slice() {
            [host, port] => (None, None, format!("{host}:{port}")),
            [from_host, from_port, host, port] => {
                let from_port =
                    match *from_port {
                        "" => None,
                        p => Some(p.parse::<u16>().map_err(|_| {
                            invalid("--connect-to", format!("{text:?}: port {p:?} is not a port number"))
                        })?),
                    };
                let from_host = Some(strip_brackets(from_host).to_string()).filter(|h| !h.is_empty());
                (from_host, from_port, format!("{host}:{port}"))
            }
            _ => return Err(invalid("--connect-to", format!("{text:?}: {usage}"))),
        };
        if to.starts_with(':') || to.ends_with(':') {
            return Err(invalid(
                "--connect-to",
                format!("{text:?} needs both a host and a port to connect to; {usage}"),
            ));
        }
        let to = split_host_port(&to, 1).map_err(|why| invalid("--connect-to", format!("{text:?}: {why}")))?;
        Ok(ConnectTo { text: text.to_string(), from_host, from_port, to })
    }

    /// Whether it applies to `url`'s host and port.
    pub fn applies(&self, url: &Url) -> bool {
        self.from_host.as_ref().is_none_or(|h| h.eq_ignore_ascii_case(&url.host))
            && self.from_port.is_none_or(|p| p == url.port)
    }

    /// Where `url` connects under `all` (the first that applies), if any does.
    pub fn find<'a>(all: &'a [ConnectTo], url: &Url) -> Option<&'a ConnectTo> {
        all.iter().find(|c| c.applies(url))
    }

    /// The value as given.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Parses one `--connect-to` for `url`, refusing one that does not apply to it.
pub fn connect_to(url: &Url, text: &str) -> Result<(String, u16), ConfigError> {
    let mapping = ConnectTo::parse(text)?;
    if !mapping.applies(url) {
        return Err(invalid(
            "--connect-to",
            format!(
                "{text:?} does not apply to the URL's {}:{}; name that host and port first, or give only HOST:PORT",
                url.host, url.port
            ),
        ));
    }
    Ok(mapping.to)
}

fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

/// Splits at colons that are not inside `[...]`.
fn split_outside_brackets(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0u32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn connect_to_takes_both_forms_and_refuses_what_does_not_apply() {
        let u = url("https://example.com/");
        assert_eq!(connect_to(&u, "127.0.0.1:8443"), Ok(("127.0.0.1".into(), 8443)));
        assert_eq!(connect_to(&u, "example.com:443:127.0.0.1:8443"), Ok(("127.0.0.1".into(), 8443)));
        assert_eq!(connect_to(&u, "::[::1]:9"), Ok(("::1".into(), 9)), "empty HOST1 and PORT1 match any");
        assert_eq!(connect_to(&url("https://[::1]:8443/"), "[::1]:8443:h:1"), Ok(("h".into(), 1)));
        for (text, needle) in [
            ("other.org:443:127.0.0.1:1", "does not apply"),
            ("example.com:80:127.0.0.1:1", "does not apply"),
            ("127.0.0.1", "HOST:PORT"),
            ("a:b:c", "HOST:PORT"),
            (":443", "both a host and a port"),
            ("h:", "both a host and a port"),
            ("h:99999", "out of range"),
            ("h:x", "not a number"),
        ] {
            let err = connect_to(&u, text).expect_err(text).to_string();
            assert!(err.starts_with("--connect-to: ") && err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn tls_flags_are_checked_and_files_read_only_for_https() {
        let dir = std::env::temp_dir().join(format!("vastar-tls-flags-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pem = dir.join("ca.pem");
        std::fs::write(&pem, b"-----BEGIN CERTIFICATE-----\n").unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, b"").unwrap();
        let https = url("https://h/");
        let flags = TlsFlags { cacert: Some(&pem), version: Some("1.3"), resume: true, ..TlsFlags::default() };
        let options = options(&https, &flags).unwrap().unwrap();
        assert_eq!((options.version, options.resume, options.insecure), (Some(TlsVersion::Tls13), true, false));
        assert_eq!(options.ca_pem.as_deref(), Some(&b"-----BEGIN CERTIFICATE-----\n"[..]));
        assert!(self::options(&url("http://h/"), &flags).unwrap().is_none(), "http:// ignores TLS flags");
        let missing = dir.join("missing.pem");
        let cases = [
            (TlsFlags { cacert: Some(&missing), ..TlsFlags::default() }, "--cacert: cannot read"),
            (TlsFlags { cacert: Some(&empty), ..TlsFlags::default() }, "is empty"),
            (TlsFlags { cacert: Some(&dir), ..TlsFlags::default() }, "is a directory"),
            (TlsFlags { cert: Some(&pem), ..TlsFlags::default() }, "--cert: needs --key"),
            (TlsFlags { key: Some(&pem), ..TlsFlags::default() }, "--key: needs --cert"),
            (TlsFlags { version: Some("1.1"), ..TlsFlags::default() }, "use 1.2 or 1.3"),
        ];
        for (flags, needle) in cases {
            let err = self::options(&https, &flags).expect_err(needle).to_string();
            assert!(err.contains(needle), "{err}");
        }
        for text in ["1.2", "TLS1.2", "tlsv1.2", " 1.2 "] {
            assert_eq!(parse_version(text), Ok(TlsVersion::Tls12), "{text}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
