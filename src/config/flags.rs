//! The rules that turn a run's flags, as text and numbers straight from the
//! command line, into a [`Config`]. Every value is range-checked here, before
//! any arithmetic is done with it, so that nothing downstream can overflow
//! or panic on what a user typed.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use crate::summary::{Assertion, assertion};

use super::requests::SEQ_WIDTH_OPEN;
use super::{
    BackendChoice, Config, ConfigError, MAX_CONNECTIONS, MAX_QPS, MIN_DURATION, MIN_RATE, Output, RequestInput, Stop,
    invalid, parse_auth, parse_duration, parse_header, parse_method, parse_start_at, read_body_file,
};
use crate::http::pool::digits;

/// Connections when `-c` is not given.
pub const DEFAULT_CONNECTIONS: u64 = 50;

/// A run's flags as given, not yet checked.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags<'a> {
    pub url: &'a str,
    pub requests: u64,
    /// `-c`, when given.
    pub concurrency: Option<u64>,
    pub duration: Option<&'a str>,
    pub qps: f64,
    pub rate: Option<&'a str>,
    pub stages: Option<&'a str>,
    pub warmup: Option<&'a str>,
    /// `--goodput`, when given.
    pub goodput: Option<&'a str>,
    /// `--arrivals`, `--burstiness`, when given.
    pub arrivals: Option<&'a str>,
    pub burstiness: Option<&'a str>,
    /// `--find-max` and its flags, when given.
    pub find_max: Option<super::shape::SearchFlags<'a>>,
    pub method: &'a str,
    pub body: Option<&'a str>,
    pub body_file: Option<&'a Path>,
    pub content_type: Option<&'a str>,
    pub headers: &'a [String],
    pub timeout: &'a str,
    pub connect_timeout: &'a str,
    pub accept: Option<&'a str>,
    pub auth: Option<&'a str>,
    pub keepalive: bool,
    pub compression: bool,
    pub follow_redirects: bool,
    pub backend: &'a str,
    /// `--io-uring-without`, when given.
    pub io_uring_without: Option<&'a str>,
    pub output: &'a str,
    pub start_at: Option<&'a str>,
    pub interval: &'a str,
    pub assertions: &'a [String],
    pub tls: super::tls::TlsFlags<'a>,
    /// `--targets`, `--targets-order`, `--seed`, `--template-pool`, `--connect-to`.
    pub targets: super::requests::RequestFlags<'a>,
    /// `--unix-socket`.
    pub unix_socket: Option<&'a Path>,
    /// `-4`, `-6`.
    pub family: Option<super::Family>,
    /// `--http2`, `--streams`.
    pub protocol: super::protocol::ProtocolFlags<'a>,
    /// `-x`, `--proxy-header`, `--proxy-tunnel`, `--noproxy`.
    pub proxy: super::proxy::ProxyFlags<'a>,
    /// The proxy variables of the environment (none: not read).
    pub proxy_env: Option<&'a super::proxy::ProxyEnv>,
}

/// Validates every flag and builds the run's config.
pub fn build(flags: &Flags<'_>) -> Result<Config, ConfigError> {
    let load = super::shape::load(flags.rate, flags.stages, flags.qps, duration(flags)?)?;
    let connections = match (&load.stages, flags.concurrency) {
        (Some(_), Some(_)) => {
            return Err(invalid("-c", "cannot be used with --stages of connections: the stages give the counts"));
        }
        (Some(stages), None) => stages.most(),
        (None, given) => connections(given.unwrap_or(DEFAULT_CONNECTIONS))?,
    };
    let http2 = super::protocol::http2(&flags.protocol, flags.keepalive)?;
    let timeout = limit("-t", flags.timeout)?;
    let connect_timeout = limit("--connect-timeout", flags.connect_timeout)?;
    let body = match (flags.body, flags.body_file) {
        (Some(text), _) => Bytes::from(text.as_bytes().to_vec()),
        (None, Some(path)) => read_body_file(path)?,
        (None, None) => Bytes::new(),
    };
    let stop = match load.duration {
        Some(d) => Stop::Duration(d),
        None => stop(flags)?,
    };
    let warmup = super::shape::warmup(flags.warmup)?;
    let find_max = match (&flags.find_max, Output::parse("-o", flags.output, true)?) {
        (Some(_), Output::Csv) => return Err(invalid("-o", "csv has no search table; use text or json")),
        (find, _) => find.as_ref().map(super::shape::find_max).transpose()?,
    };
    let input = RequestInput {
        method: parse_method(flags.method)?,
        body,
        content_type: flags.content_type.map(str::to_string),
        accept: flags.accept.map(str::to_string),
        auth: flags.auth.map(parse_auth).transpose()?,
        headers: flags.headers.iter().map(|h| parse_header(h)).collect::<Result<_, _>>()?,
        compression: flags.compression,
        keepalive: flags.keepalive,
        absolute: None,
    };
    // `{{seq}}` counts from 0: with -n alone its largest value is known.
    let seq_width = match (stop, warmup, &find_max) {
        (Stop::Requests(n), None, None) => digits(n.saturating_sub(1)),
        _ => SEQ_WIDTH_OPEN,
    };
    let no_env = super::proxy::ProxyEnv::default();
    let env = flags.proxy_env.unwrap_or(&no_env);
    let choice = super::requests::ProxyChoice { flags: flags.proxy, env, http2: http2.is_some() };
    let request_flags = super::requests::RequestFlags { proxy: Some(choice), ..flags.targets };
    let requests = super::requests::build(flags.url, &input, &request_flags, seq_width)?;
    let tls = super::tls::options(&requests.url, &flags.tls)?;
    let backend = BackendChoice::parse(flags.backend)?;
    let arrivals = arrivals(flags, load.rate.is_some() || load.shape.is_some(), requests.facts.seed)?;
    Ok(Config {
        request: requests.request,
        url: requests.url,
        pool: requests.pool,
        targets: requests.facts,
        connections,
        stop,
        qps_per_connection: qps(flags.qps)?,
        rate: load.rate,
        shape: load.shape,
        stages: load.stages,
        warmup,
        goodput: flags.goodput.map(super::goodput::parse).transpose()?,
        arrivals,
        find_max,
        timeout,
        connect_timeout,
        keepalive: flags.keepalive,
        follow_redirects: flags.follow_redirects,
        backend,
        uring_without: super::uring::UringWithout::parse(flags.io_uring_without, backend)?,
        output: Output::parse("-o", flags.output, true)?,
        start_at: flags.start_at.map(parse_start_at).transpose()?,
        interval: interval(flags.interval)?,
        assertions: assertions(flags.assertions)?,
        tls,
        connect_to: requests.connect_to,
        family: flags.family,
        unix_socket: flags.unix_socket.map(unix_socket).transpose()?,
        http2,
        proxy: requests.proxy,
    })
}

/// Most `--burstiness`: gaps then vary by 3% (a constant rate has none).
const MAX_BURSTINESS: f64 = 1000.0;

/// `--arrivals` and `--burstiness`: how the open model's gaps are drawn,
/// seeded by the run's seed (`--seed`). Only an open model (`--rate`,
/// `--stages` of rates) has arrivals to draw.
fn arrivals(flags: &Flags, open_model: bool, seed: u64) -> Result<crate::stats::Arrivals, ConfigError> {
    use crate::stats::Arrivals;
    let random = match flags.arrivals {
        None | Some("constant") => flags.burstiness.is_some(),
        Some("poisson") => true,
        Some(other) => return Err(invalid("--arrivals", format!("{other:?}: use constant or poisson"))),
    };
    if flags.arrivals == Some("constant") && flags.burstiness.is_some() {
        return Err(invalid("--burstiness", "draws random gaps; it does not go with --arrivals constant"));
    }
    if !random {
        return Ok(Arrivals::Even);
    }
    if !open_model {
        return Err(invalid(
            "--arrivals",
            "random arrivals need an open model: add --rate (or --stages of rates); -c alone is a closed loop",
        ));
    }
    let burstiness = match flags.burstiness {
        None => 1.0,
        Some(text) => match text.trim().parse::<f64>() {
            Ok(k) if k > 0.0 && k <= MAX_BURSTINESS => k,
            _ => {
                let why = format!("{text:?}: give a number above 0 and at most 1000 (1 is Poisson, below is burstier)");
                return Err(invalid("--burstiness", why));
            }
        },
    };
    Ok(Arrivals::Random { burstiness, seed })
}

/// Longest Unix socket path a `sockaddr_un` holds everywhere (104 bytes
/// on macOS, 108 on Linux, each with its terminating NUL).
pub const MAX_UNIX_PATH: usize = 103;

/// `--unix-socket`: a path that fits a socket address and names a socket.
fn unix_socket(path: &Path) -> Result<std::path::PathBuf, ConfigError> {
    use std::os::unix::fs::FileTypeExt;
    let shown = path.display();
    let len = path.as_os_str().len();
    if len == 0 || len > MAX_UNIX_PATH {
        return Err(invalid(
            "--unix-socket",
            format!("{shown:?} is {len} bytes; a socket path must be 1 to {MAX_UNIX_PATH} (use a shorter one)"),
        ));
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => Ok(path.to_path_buf()),
        Ok(_) => Err(invalid("--unix-socket", format!("{shown:?} is not a socket"))),
        Err(e) => Err(invalid("--unix-socket", format!("{shown:?}: {e} (is the server listening on it?)"))),
    }
}

fn connections(concurrency: u64) -> Result<usize, ConfigError> {
    if concurrency == 0 {
        return Err(invalid("-c", "must be at least 1"));
    }
    if concurrency > MAX_CONNECTIONS {
        return Err(invalid("-c", format!("{concurrency} connections is more than the {MAX_CONNECTIONS} supported")));
    }
    usize::try_from(concurrency).map_err(|_| invalid("-c", "is more than this machine can address"))
}

/// `-z`, when given.
fn duration(flags: &Flags<'_>) -> Result<Option<Duration>, ConfigError> {
    let Some(text) = flags.duration else { return Ok(None) };
    let d = parse_duration("-z", text, None)?;
    if d < MIN_DURATION {
        return Err(invalid("-z", format!("{text:?} is too short; give at least 1ms")));
    }
    Ok(Some(d))
}

fn stop(flags: &Flags<'_>) -> Result<Stop, ConfigError> {
    if let Some(d) = duration(flags)? {
        return Ok(Stop::Duration(d));
    }
    if flags.requests == 0 {
        return Err(invalid("-n", "must be at least 1"));
    }
    let concurrency = flags.concurrency.unwrap_or(DEFAULT_CONNECTIONS);
    if flags.requests < concurrency {
        return Err(invalid(
            "-n",
            format!(
                "{} requests cannot be spread over {} connections: each connection needs at least one request; \
                 lower -c or raise -n",
                flags.requests, concurrency
            ),
        ));
    }
    Ok(Stop::Requests(flags.requests))
}

/// `-q`: 0 is no limit; otherwise the same bounds as `--rate`'s lower end
/// and hey's sensible upper end.
fn qps(qps: f64) -> Result<Option<f64>, ConfigError> {
    if qps == 0.0 {
        return Ok(None);
    }
    if qps.is_finite() && (MIN_RATE..=MAX_QPS).contains(&qps) {
        return Ok(Some(qps));
    }
    Err(invalid(
        "-q",
        format!(
            "{qps:?} is not a usable rate; give requests per second per connection, {MIN_RATE} to {MAX_QPS} \
             (0 = no limit)"
        ),
    ))
}

/// Parses every `--assert` value (each one or a comma-separated list).
pub fn assertions(texts: &[String]) -> Result<Vec<Assertion>, ConfigError> {
    let mut all = Vec::new();
    for text in texts {
        all.extend(assertion::parse_list(text).map_err(|e| invalid("--assert", e.0))?);
    }
    Ok(all)
}

fn interval(text: &str) -> Result<Duration, ConfigError> {
    let d = parse_duration("--interval", text, Some(Duration::from_secs(1)))?;
    if d < crate::stats::timeline::MIN_INTERVAL {
        return Err(invalid("--interval", format!("{text:?} is too short; give at least 100ms")));
    }
    Ok(d)
}

/// A `-t` style limit: seconds or a duration with a unit; 0 = none.
fn limit(flag: &'static str, text: &str) -> Result<Option<Duration>, ConfigError> {
    let d = parse_duration(flag, text, Some(Duration::from_secs(1)))?;
    // Only a written zero means "none": a value that rounds to zero (1e-30)
    // is a limit too short to use.
    if d.is_zero() && text.chars().filter(char::is_ascii_digit).all(|c| c == '0') {
        return Ok(None);
    }
    if d < MIN_DURATION {
        return Err(invalid(flag, format!("{text:?} is too short; give at least 1ms, or 0 for no limit")));
    }
    Ok(Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_below_a_millisecond_are_refused_and_zero_means_none() {
        assert_eq!(limit("-t", "0"), Ok(None));
        assert_eq!(limit("-t", "0.0"), Ok(None));
        assert_eq!(limit("-t", "0s"), Ok(None));
        assert_eq!(limit("-t", "1ms"), Ok(Some(MIN_DURATION)));
        for text in ["1e-30", "0.0000001", "500us", "1ns"] {
            let err = limit("-t", text).expect_err(text).to_string();
            assert!(err.contains("too short"), "{text}: {err}");
        }
    }

    #[test]
    fn rates_are_bounded_on_both_sides() {
        assert_eq!(qps(0.0), Ok(None));
        assert_eq!(qps(MIN_RATE), Ok(Some(MIN_RATE)));
        for q in [1e-30, -1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(qps(q).is_err(), "-q {q}");
        }
    }
}
