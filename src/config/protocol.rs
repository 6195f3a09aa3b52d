//! Which HTTP version a run speaks: `--http2` and `--streams`, checked
//! against the flags that have no meaning over HTTP/2, so that a run never
//! silently does something other than what was asked.

use super::{ConfigError, invalid};

/// Most `--streams`: h2load's `-m` has no limit, but servers announce far
/// fewer (nginx 128); beyond this a run only queues streams the server
/// will not open.
pub const MAX_STREAMS: u64 = 10_000;

/// A run over HTTP/2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Http2 {
    /// `--streams`: the most streams in flight on each connection.
    pub streams: usize,
}

/// The protocol flags as given.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProtocolFlags<'a> {
    pub http2: bool,
    pub streams: Option<&'a str>,
}

/// `--http2` and `--streams`, with what they cannot go with: keep-alive
/// off (an HTTP/2 connection exists to carry many streams).
pub fn http2(flags: &ProtocolFlags, keepalive: bool) -> Result<Option<Http2>, ConfigError> {
    if !flags.http2 {
        return match flags.streams {
            Some(_) => Err(invalid("--streams", "applies to HTTP/2 only: add --http2")),
            None => Ok(None),
        };
    }
    if !keepalive {
        return Err(invalid(
            "--disable-keepalive",
            "does not go with --http2: an HTTP/2 connection carries many requests (use HTTP/1.1 for one per connection)",
        ));
    }
    let streams = match flags.streams {
        None => 1,
        Some(text) => match text.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_STREAMS).contains(&n) => n as usize,
            _ => {
                let why = format!("{text:?}: give a whole number of streams per connection from 1 to {MAX_STREAMS}");
                return Err(invalid("--streams", why));
            }
        },
    };
    Ok(Some(Http2 { streams }))
}

/// hey's `-h2`, which clap cannot take as a flag (short flags are one
/// character): the arguments with it spelled `--http2`. Only before a
/// `--`, and never as the value of a flag that takes one (`-H -h2`).
pub fn hey_spellings<I: IntoIterator<Item = std::ffi::OsString>>(args: I) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = Vec::new();
    let mut rest = false;
    for arg in args {
        let takes_value = out.last().and_then(|a| a.to_str()).is_some_and(takes_a_value);
        if !rest && !takes_value && arg == "-h2" {
            out.push("--http2".into());
            continue;
        }
        rest |= arg == "--";
        out.push(arg);
    }
    out
}

/// A short flag of hey's whose value comes as the next argument.
fn takes_a_value(arg: &str) -> bool {
    matches!(arg, "-H" | "-d" | "-D" | "-m" | "-T" | "-A" | "-a" | "-o" | "-t" | "-c" | "-n" | "-z" | "-q")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        hey_spellings(list.iter().map(|a| std::ffi::OsString::from(*a)))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn hey_h2_is_spelled_http2_except_as_a_value_or_after_a_double_dash() {
        assert_eq!(args(&["vastar", "-h2", "-c", "2", "http://h/"]), ["vastar", "--http2", "-c", "2", "http://h/"]);
        assert_eq!(args(&["vastar", "-H", "-h2", "http://h/"]), ["vastar", "-H", "-h2", "http://h/"]);
        assert_eq!(args(&["vastar", "--", "-h2"]), ["vastar", "--", "-h2"]);
        assert_eq!(args(&["vastar", "-h22"]), ["vastar", "-h22"]);
    }

    #[test]
    fn streams_need_http2_a_whole_number_in_range_and_keepalive() {
        let h2 = |streams| ProtocolFlags { http2: true, streams };
        assert_eq!(http2(&ProtocolFlags::default(), true), Ok(None));
        assert_eq!(http2(&h2(None), true), Ok(Some(Http2 { streams: 1 })));
        assert_eq!(http2(&h2(Some("100")), true), Ok(Some(Http2 { streams: 100 })));
        for bad in ["0", "-1", "1.5", "x", "10001"] {
            let err = http2(&h2(Some(bad)), true).unwrap_err().to_string();
            assert!(err.starts_with("--streams: ") && err.contains("from 1 to 10000"), "{bad}: {err}");
        }
        let err = http2(&ProtocolFlags { http2: false, streams: Some("4") }, true).unwrap_err().to_string();
        assert_eq!(err, "--streams: applies to HTTP/2 only: add --http2");
        let err = http2(&h2(None), false).unwrap_err().to_string();
        assert!(err.starts_with("--disable-keepalive: does not go with --http2"), "{err}");
    }
}
