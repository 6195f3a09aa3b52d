//! A validated description of one benchmark run, and the rules that turn
//! user input (flags, files, URL) into it.
//!
//! Every rule lives here so that the CLI layer stays a thin mapping and every
//! error message is written once, saying what is wrong and how to fix it.

pub mod flags;
pub mod goodput;
pub mod protocol;
pub mod proxy;
pub mod requests;
pub mod shape;
pub mod targets;
pub mod tls;
pub mod uring;
pub mod url;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use crate::http::RequestSpec;
use crate::http::request::basic_auth;
pub use url::Url;

/// When the run stops issuing requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    /// Exactly this many requests in total.
    Requests(u64),
    /// Issue requests until this much time has passed; in-flight ones are aborted.
    Duration(Duration),
}

/// Which I/O backend to run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// io_uring where it works, else the portable backend (with a notice).
    Auto,
    IoUring,
    Portable,
}

impl BackendChoice {
    pub fn parse(text: &str) -> Result<BackendChoice, ConfigError> {
        match text {
            "auto" => Ok(BackendChoice::Auto),
            "io-uring" | "io_uring" | "uring" => Ok(BackendChoice::IoUring),
            "portable" | "tokio" => Ok(BackendChoice::Portable),
            other => Err(invalid("--backend", format!("{other:?} is not a backend; use auto, io-uring or portable"))),
        }
    }
}

/// The address family to connect over (`-4`, `-6`), for names that
/// resolve to both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Whether `addr` is of this family.
    pub fn holds(self, addr: &std::net::SocketAddr) -> bool {
        match self {
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        }
    }

    /// The flag that chose it.
    pub fn flag(self) -> &'static str {
        match self {
            Family::V4 => "-4",
            Family::V6 => "-6",
        }
    }
}

/// What the run prints on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The human report.
    Text,
    /// The result document (docs in `src/result/schema.md`); the report goes to stderr.
    Json,
    /// The percentile table; the report goes to stderr.
    Csv,
}

impl Output {
    pub fn parse(flag: &'static str, text: &str, csv_allowed: bool) -> Result<Output, ConfigError> {
        match text {
            "text" => Ok(Output::Text),
            "json" => Ok(Output::Json),
            "csv" if csv_allowed => Ok(Output::Csv),
            other => {
                let formats = if csv_allowed { "text, json or csv" } else { "text or json" };
                Err(invalid(flag, format!("{other:?} is not an output format; use {formats}")))
            }
        }
    }
}

/// Furthest ahead `--start-at` may be.
pub const MAX_START_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// Parses `--start-at`: unix seconds or an RFC 3339 time, at most a day ahead.
pub fn parse_start_at(text: &str) -> Result<std::time::SystemTime, ConfigError> {
    let at = crate::wallclock::parse(text).map_err(|why| invalid("--start-at", why))?;
    if at.duration_since(std::time::SystemTime::now()).is_ok_and(|ahead| ahead > MAX_START_AHEAD) {
        return Err(invalid("--start-at", format!("{text} is more than a day ahead; check the date and time zone")));
    }
    Ok(at)
}

/// Everything a run needs, already validated.
#[derive(Clone, Debug)]
pub struct Config {
    /// The (first) target's URL: its scheme, host and port are the run's.
    pub url: Url,
    /// The first request's spec.
    pub request: RequestSpec,
    /// Every request the run sends, pre-built.
    pub pool: std::sync::Arc<crate::http::Pool>,
    /// The targets and how their requests were made.
    pub targets: requests::Facts,
    pub connections: usize,
    pub stop: Stop,
    /// Most requests per second on each connection (hey's `-q`); `None` = unlimited.
    pub qps_per_connection: Option<f64>,
    /// Requests per second for the whole run on a fixed schedule (`--rate`).
    pub rate: Option<f64>,
    /// `--rate FROM..TO` or `--stages` of rates: the rate follows this
    /// shape (from `rate`) instead of staying constant.
    pub shape: Option<crate::stats::Shape>,
    /// `--stages` of connection counts: how many of the connections are
    /// active when (`connections` is the most).
    pub stages: Option<crate::stats::Concurrency>,
    /// `--warmup`: load before the measured run, kept out of its results
    /// (before each step of `--find-max`).
    pub warmup: Option<Duration>,
    /// `--goodput`: the limits a good request stays under.
    pub goodput: Option<crate::stats::Goodput>,
    /// `--arrivals`, `--burstiness`: how the open model's gaps are drawn.
    pub arrivals: crate::stats::Arrivals,
    /// `--find-max`: search for the highest rate that meets the SLO.
    pub find_max: Option<shape::FindMax>,
    /// Deadline for a whole request, connect to last byte, from its intended
    /// start; `None` = none.
    pub timeout: Option<Duration>,
    /// Limit on each connection attempt (`--connect-timeout`); `None` = the system's.
    pub connect_timeout: Option<Duration>,
    pub keepalive: bool,
    pub follow_redirects: bool,
    pub backend: BackendChoice,
    /// `--io-uring-without`: io_uring features left unused.
    pub uring_without: uring::UringWithout,
    pub output: Output,
    /// Wall-clock moment to start at, connections already open (`--start-at`).
    pub start_at: Option<std::time::SystemTime>,
    /// Length of the timeline's intervals (`--interval`).
    pub interval: Duration,
    /// `--assert` thresholds.
    pub assertions: Vec<crate::summary::Assertion>,
    /// The TLS choices, with their files read: `Some` exactly for `https://`.
    pub tls: Option<crate::tls::TlsOptions>,
    /// `--connect-to`: the host and port to connect to instead of the
    /// URL's (whose name still goes in Host and SNI).
    pub connect_to: Option<(String, u16)>,
    /// `-4`, `-6`: only the target's addresses of this family.
    pub family: Option<Family>,
    /// `--unix-socket`: connect to this socket instead of any host.
    pub unix_socket: Option<std::path::PathBuf>,
    /// `--http2` (and `--streams`): the run speaks HTTP/2.
    pub http2: Option<protocol::Http2>,
    /// The forward proxy connections go through (`-x`, the environment).
    pub proxy: Option<proxy::Proxy>,
}

/// Input that cannot be used, with a message that says how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    Url(String),
    Invalid {
        flag: &'static str,
        why: String,
    },
    BodyFile {
        path: String,
        why: String,
    },
    /// A target file's line that cannot be used.
    Targets {
        file: String,
        line: usize,
        why: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Url(why) => write!(f, "invalid URL {why}"),
            ConfigError::Invalid { flag, why } => write!(f, "{flag}: {why}"),
            ConfigError::BodyFile { path, why } => write!(f, "-D {path}: {why}"),
            ConfigError::Targets { file, line, why } => write!(f, "--targets {file}, line {line}: {why}"),
        }
    }
}

impl std::error::Error for ConfigError {}

fn invalid(flag: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { flag, why: why.into() }
}

/// Largest request body accepted from `-D`: the body is built into the
/// request bytes once and shared, so it must fit comfortably in memory.
pub const MAX_BODY_BYTES: u64 = 256 * 1024 * 1024;

/// Longest duration accepted for -z and -t: long enough for any soak test,
/// short enough that deadline arithmetic can never overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Shortest nonzero `-t`, `--connect-timeout` and `-z`: anything shorter is
/// a typo (a bare `-t 0.0001` is 100 µs) and would fail every request.
pub const MIN_DURATION: Duration = Duration::from_millis(1);

/// Most connections accepted for -c (each needs a socket and a local port).
pub const MAX_CONNECTIONS: u64 = 1_000_000;

/// Most requests per second per connection accepted for -q.
pub const MAX_QPS: f64 = 1_000_000.0;

/// Bounds of `--rate`: one request in 1000 s up to ten million per second.
pub const MIN_RATE: f64 = 0.001;
pub const MAX_RATE: f64 = 10_000_000.0;

/// Parses a duration such as `500ms`, `10s`, `1m30s`, `1.5h`. A bare number
/// is taken in `bare_unit` when given, and refused otherwise.
pub fn parse_duration(flag: &'static str, text: &str, bare_unit: Option<Duration>) -> Result<Duration, ConfigError> {
    let text = text.trim();
    let total = parse_duration_unchecked(flag, text, bare_unit)?;
    if total > MAX_DURATION {
        return Err(invalid(flag, format!("{text:?} is too long; the most is 366 days (8784h)")));
    }
    Ok(total)
}

fn parse_duration_unchecked(
    flag: &'static str,
    text: &str,
    bare_unit: Option<Duration>,
) -> Result<Duration, ConfigError> {
    let units = "use a number with a unit: ns, us, ms, s, m or h (for example 500ms, 10s, 1m, 1h)";
    if let (Some(unit), Ok(n)) = (bare_unit, text.parse::<f64>())
        && n.is_finite()
        && n >= 0.0
    {
        return Duration::try_from_secs_f64(unit.as_secs_f64() * n)
            .map_err(|_| invalid(flag, format!("{text:?} is too long")));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid(flag, format!("empty duration; {units}")));
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let value: f64 = num.parse().map_err(|_| invalid(flag, format!("{text:?} is not a duration; {units}")))?;
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(invalid(flag, format!("{text:?} has no unit; {units}"))),
            other => return Err(invalid(flag, format!("unknown unit {other:?} in {text:?}; {units}"))),
        };
        let too_long = || invalid(flag, format!("{text:?} is too long"));
        let part = Duration::try_from_secs_f64(value * scale).map_err(|_| too_long())?;
        total = total.checked_add(part).ok_or_else(too_long)?;
        rest = next;
    }
    Ok(total)
}

/// Parses `-H "Name: value"`, refusing anything that would break the request.
pub fn parse_header(text: &str) -> Result<(String, String), ConfigError> {
    parse_header_of("-H", text)
}

/// Parses a header field `"Name: value"` given with `flag`.
pub fn parse_header_of(flag: &'static str, text: &str) -> Result<(String, String), ConfigError> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(invalid(flag, format!("{text:?} has no colon; write it as \"Name: value\"")));
    };
    if name.is_empty() || !name.bytes().all(crate::http::is_tchar) {
        return Err(invalid(
            flag,
            format!("{name:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"),
        ));
    }
    Ok((name.to_string(), header_value(flag, value)?))
}

/// Trims a header value and refuses control characters (CR/LF would let a
/// value inject extra header lines).
fn header_value(flag: &'static str, value: &str) -> Result<String, ConfigError> {
    let value = value.trim_matches([' ', '\t']);
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(invalid(
            flag,
            format!("{value:?} contains a control character (CR, LF, NUL, ...); header values must be one line"),
        ));
    }
    Ok(value.to_string())
}

/// Validates and normalises an HTTP method (upper case, a token).
pub fn parse_method(text: &str) -> Result<String, ConfigError> {
    let method = text.to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(crate::http::is_tchar) {
        return Err(invalid("-m", format!("{text:?} is not an HTTP method (for example GET, POST, PUT)")));
    }
    Ok(method)
}

/// Splits `-a user:pass`.
pub fn parse_auth(text: &str) -> Result<(String, String), ConfigError> {
    text.split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .ok_or_else(|| invalid("-a", "expected user:password (with a colon)"))
}

/// Reads a `-D` body file, refusing empty, unreadable and oversized files.
pub fn read_body_file(path: &Path) -> Result<Bytes, ConfigError> {
    let shown = format!("{:?}", path.display().to_string());
    let fail = |why: String| ConfigError::BodyFile { path: shown.clone(), why };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read the body file: {e}")))?;
    if meta.is_dir() {
        return Err(fail("is a directory; give a file".into()));
    }
    if meta.len() > MAX_BODY_BYTES {
        return Err(fail(format!("is {} MiB; request bodies are limited to 256 MiB", meta.len() >> 20)));
    }
    // The size is checked again while reading: devices and pipes (/dev/zero)
    // report a length of 0 and may never end.
    let body = read_at_most(path, MAX_BODY_BYTES).map_err(|e| fail(format!("cannot read the body file: {e}")))?;
    let Some(body) = body else {
        return Err(fail("is larger than 256 MiB; request bodies are limited to 256 MiB".into()));
    };
    if body.is_empty() {
        return Err(fail("is empty; for a request without a body leave out -D".into()));
    }
    Ok(Bytes::from(body))
}

/// Reads a whole file of at most `limit` bytes; `None` when it holds more.
pub fn read_at_most(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(limit + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// The request's parts as the user gave them, before defaults are applied.
#[derive(Clone, Debug, Default)]
pub struct RequestInput {
    pub method: String,
    pub body: Bytes,
    /// `-T`; `None` means the default (text/html) and only with a body.
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub auth: Option<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub compression: bool,
    pub keepalive: bool,
    /// Through a proxy in absolute form: the proxy's fields (`Proxy-Authorization`,
    /// `--proxy-header`); each request target then names the origin.
    pub absolute: Option<Vec<(String, String)>>,
}

/// Methods whose requests carry a Content-Length even when empty (as Go's
/// client, and so hey, does).
fn expects_body(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH")
}

/// Builds the request spec: default fields first, user fields replacing them.
pub fn request_spec(url: &Url, input: RequestInput) -> Result<RequestSpec, ConfigError> {
    let mut defaults = vec![
        ("Host".to_string(), url.host_header()),
        ("User-Agent".to_string(), format!("vastar/{}", env!("CARGO_PKG_VERSION"))),
    ];
    if let Some(accept) = &input.accept {
        defaults.push(("Accept".into(), header_value("-A", accept)?));
    }
    let has_body = !input.body.is_empty();
    match (&input.content_type, has_body) {
        (Some(ct), _) => defaults.push(("Content-Type".into(), header_value("-T", ct)?)),
        (None, true) => defaults.push(("Content-Type".into(), "text/html".into())),
        (None, false) => {}
    }
    if has_body || expects_body(&input.method) {
        defaults.push(("Content-Length".into(), input.body.len().to_string()));
    }
    if let Some((user, pass)) = input.auth.as_ref().or(url.credentials.as_ref()) {
        defaults.push(("Authorization".into(), basic_auth(user, pass)));
    }
    if input.compression {
        defaults.push(("Accept-Encoding".into(), "gzip".into()));
    }
    if !input.keepalive {
        defaults.push(("Connection".into(), "close".into()));
    }
    let target = match input.absolute {
        Some(fields) => {
            defaults.extend(fields);
            format!("http://{}{}", url.host_header(), url.target)
        }
        None => url.target.clone(),
    };
    Ok(RequestSpec { method: input.method, target, defaults, user: input.headers, body: input.body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units() {
        let cases: &[(&str, Duration)] = &[
            ("500ms", Duration::from_millis(500)),
            ("10s", Duration::from_secs(10)),
            ("1m", Duration::from_secs(60)),
            ("1h", Duration::from_secs(3600)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5s", Duration::from_millis(1500)),
            ("250us", Duration::from_micros(250)),
        ];
        for &(text, want) in cases {
            assert_eq!(parse_duration("-z", text, None), Ok(want), "{text}");
        }
        assert_eq!(parse_duration("-t", "2.5", Some(Duration::from_secs(1))), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("-t", "0", Some(Duration::from_secs(1))), Ok(Duration::ZERO));
        assert_eq!(parse_duration("-z", "8784h", None), Ok(MAX_DURATION));
        for (text, bare) in [
            ("8785h", None),
            ("1e30", Some(Duration::from_secs(1))),
            ("99999999999999999999h", None),
            ("5000000000000000h5000000000000000h", None),
        ] {
            let err = parse_duration("-t", text, bare).expect_err(text).to_string();
            assert!(err.contains("too long"), "{text}: {err}");
        }
    }

    #[test]
    fn bad_durations_name_the_valid_units() {
        for text in ["10", "10x", "1d", "", "s", "ms10", "1..5s", "-1s"] {
            let err = parse_duration("-z", text, None).expect_err(text).to_string();
            assert!(err.starts_with("-z: ") && err.contains("ms, s, m or h"), "{text}: {err}");
        }
    }

    #[test]
    fn headers_are_checked() {
        assert_eq!(parse_header("X-A:  b c \t"), Ok(("X-A".into(), "b c".into())));
        assert_eq!(parse_header("X-Empty:"), Ok(("X-Empty".into(), "".into())));
        for (text, needle) in [
            ("NoColon", "no colon"),
            (": v", "not a valid header name"),
            ("Bad Name: v", "not a valid header name"),
            ("X: a\r\nEvil: b", "control character"),
            ("X: a\nb", "control character"),
            ("X: a\0", "control character"),
        ] {
            let err = parse_header(text).expect_err(text).to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn methods_and_auth() {
        assert_eq!(parse_method("post"), Ok("POST".into()));
        assert!(parse_method("GE T").is_err());
        assert!(parse_method("").is_err());
        assert_eq!(parse_auth("u:p:q"), Ok(("u".into(), "p:q".into())));
        assert!(parse_auth("nocolon").unwrap_err().to_string().contains("colon"));
    }

    fn spec_for(input: RequestInput) -> String {
        let url = Url::parse("http://h:8080/x").unwrap();
        String::from_utf8(request_spec(&url, input).unwrap().build().to_vec()).unwrap()
    }

    #[test]
    fn default_request_is_minimal() {
        let text =
            spec_for(RequestInput { method: "GET".into(), compression: true, keepalive: true, ..Default::default() });
        let ua = format!("vastar/{}", env!("CARGO_PKG_VERSION"));
        assert_eq!(
            text,
            format!("GET /x HTTP/1.1\r\nHost: h:8080\r\nUser-Agent: {ua}\r\nAccept-Encoding: gzip\r\n\r\n")
        );
    }

    #[test]
    fn every_option_shows_in_the_request() {
        let text = spec_for(RequestInput {
            method: "POST".into(),
            body: Bytes::from_static(b"{}"),
            content_type: Some("application/json".into()),
            accept: Some("text/plain".into()),
            auth: Some(("u".into(), "p".into())),
            headers: vec![("X-Id".into(), "7".into())],
            compression: false,
            keepalive: false,
            absolute: None,
        });
        let ua = format!("vastar/{}", env!("CARGO_PKG_VERSION"));
        assert_eq!(
            text,
            format!(
                "POST /x HTTP/1.1\r\nHost: h:8080\r\nUser-Agent: {ua}\r\nAccept: text/plain\r\nContent-Type: application/json\r\n\
                 Content-Length: 2\r\nAuthorization: Basic dTpw\r\nConnection: close\r\nX-Id: 7\r\n\r\n{{}}"
            )
        );
    }

    #[test]
    fn absolute_form_names_the_origin_and_carries_the_proxys_fields() {
        let proxy = vec![("Proxy-Authorization".to_string(), "Basic dTpw".to_string())];
        let text = spec_for(RequestInput {
            method: "GET".into(),
            keepalive: true,
            absolute: Some(proxy),
            ..Default::default()
        });
        let ua = format!("vastar/{}", env!("CARGO_PKG_VERSION"));
        assert_eq!(
            text,
            format!(
                "GET http://h:8080/x HTTP/1.1\r\nHost: h:8080\r\nUser-Agent: {ua}\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
            )
        );
    }

    #[test]
    fn empty_post_sends_a_zero_length() {
        let text = spec_for(RequestInput { method: "POST".into(), keepalive: true, ..Default::default() });
        assert!(text.contains("Content-Length: 0\r\n") && !text.contains("Content-Type"), "{text}");
    }

    #[test]
    fn body_files_are_checked() {
        let dir = std::env::temp_dir().join(format!("vastar-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty");
        std::fs::write(&empty, b"").unwrap();
        let full = dir.join("full");
        std::fs::write(&full, b"payload").unwrap();
        assert_eq!(read_body_file(&full).unwrap(), Bytes::from_static(b"payload"));
        assert!(read_body_file(&empty).unwrap_err().to_string().contains("is empty"));
        assert!(read_body_file(&dir.join("missing")).unwrap_err().to_string().contains("cannot read"));
        assert!(read_body_file(&dir).unwrap_err().to_string().contains("directory"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
