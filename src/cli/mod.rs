//! Command-line interface: hey's flags, parsed by clap, mapped to a [`Config`].
//!
//! This layer only names flags and hands their text to the config rules;
//! validation and messages live in [`crate::config`].

use clap::{Args, Parser, Subcommand, ValueHint};
use std::path::PathBuf;

use crate::config::{self, Config, ConfigError, flags::Flags};

mod commands;
pub mod shell;
pub use commands::{CompletionsArgs, DiffArgs, MergeArgs, PlotArgs, ServeArgs};

#[derive(Parser, Debug)]
#[command(
    name = "vastar",
    version,
    about = "HTTP/1.1 and HTTP/2 load generator: fast, exact, hey-compatible flags",
    after_help = "Examples:\n  vastar -n 10000 -c 100 http://127.0.0.1:8080/\n  vastar -z 30s -c 500 http://127.0.0.1:8080/api\n  vastar --demo -z 5s   (benchmarks a built-in server; no setup needed)",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the built-in HTTP server (a benchmark target) until interrupted.
    Serve(ServeArgs),
    /// Merge result files (-o json) from several runs into the report one run would give.
    Merge(MergeArgs),
    /// Compare two results (-o json): each figure's change and whether it is beyond noise.
    Diff(DiffArgs),
    /// Draw results (-o json) as one self-contained HTML report; several overlay.
    Plot(PlotArgs),
    /// Print a completion script for bash, zsh, fish, powershell or elvish.
    #[command(after_help = commands::COMPLETIONS_INSTALL)]
    Completions(CompletionsArgs),
    /// Print the man page (roff), e.g. vastar man > ~/.local/share/man/man1/vastar.1
    Man,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Number of requests to send in total.
    #[arg(short = 'n', value_name = "REQUESTS", default_value_t = 200)]
    pub requests: u64,
    /// Concurrent connections (hey's workers) [default: 50].
    #[arg(short = 'c', value_name = "CONCURRENCY")]
    pub concurrency: Option<u64>,
    /// Run for this long instead of a request count (e.g. 500ms, 10s, 1m, 1h). Overrides -n.
    #[arg(short = 'z', value_name = "DURATION")]
    pub duration: Option<String>,
    /// Rate limit per connection in requests/second (total = QPS x CONCURRENCY); 0 = none.
    /// A closed loop: a slow response delays that connection's next request.
    #[arg(short = 'q', value_name = "QPS", default_value_t = 0.0, allow_negative_numbers = true)]
    pub qps: f64,
    /// Requests/second for the whole run on a fixed schedule, whatever the
    /// responses do (open model; fractions such as 0.5 allowed). Latency is
    /// then measured from each request's intended send time. FROM..TO
    /// ramps linearly over -z (e.g. 100..5000).
    #[arg(long, value_name = "RATE", conflicts_with = "qps", allow_hyphen_values = true)]
    pub rate: Option<String>,
    /// A sequence of stages, run on the same connections; their total is
    /// the run's duration. Rates (open model): 30s:1000,60s:1000..5000
    /// (0 pauses). Connections (closed loop, all opened before the start,
    /// idle ones parked): 30s:c50,60s:c200.
    #[arg(long, value_name = "STAGES", conflicts_with_all = ["duration", "requests", "rate"], allow_hyphen_values = true)]
    pub stages: Option<String>,
    /// Run the load this long first and keep it out of the results (the
    /// timeline still shows it, marked); -z and -n count after it.
    #[arg(long, value_name = "DURATION")]
    pub warmup: Option<String>,
    /// Count the requests that stay under every limit, and their rate
    /// (vLLM's goodput): ttft<200ms,tpot<50ms,e2e<5s (any of the three;
    /// a bare number is milliseconds).
    #[arg(long, value_name = "LIMITS")]
    pub goodput: Option<String>,
    /// How the open model's requests arrive: constant (evenly spaced, the
    /// default) or poisson (exponential gaps around the same rate, as
    /// vLLM's benchmark; seeded by --seed). Needs --rate or --stages of rates.
    #[arg(long, value_name = "KIND")]
    pub arrivals: Option<String>,
    /// Random arrivals with gamma-distributed gaps of this shape: 1 is
    /// Poisson, above 1 more even, below 1 burstier (vLLM's --burstiness).
    #[arg(long, value_name = "K", allow_hyphen_values = true)]
    pub burstiness: Option<String>,
    /// Find the highest rate (open model) that meets --slo: climb from
    /// --find-max-start by --find-max-factor, then bisect. Each step is
    /// its own run of --find-max-step (longer for thin percentiles).
    #[arg(long = "find-max", requires = "slo", conflicts_with_all = ["requests", "duration", "rate", "stages", "qps", "assertions", "html", "start_at"])]
    pub find_max: bool,
    /// The thresholds every --find-max step must meet, in --assert's
    /// forms (e.g. 'p99<50ms,errors<1%').
    #[arg(long, value_name = "EXPR", requires = "find_max")]
    pub slo: Option<String>,
    /// --find-max: the first step's rate, requests/second.
    #[arg(long = "find-max-start", value_name = "RATE", default_value = "100")]
    pub find_max_start: String,
    /// --find-max: each climbing step's rate over the last one's.
    #[arg(long = "find-max-factor", value_name = "FACTOR", default_value = "2")]
    pub find_max_factor: String,
    /// --find-max: stop bisecting when the failing rate is within this of
    /// the passing one.
    #[arg(long = "find-max-precision", value_name = "PERCENT", default_value = "5%")]
    pub find_max_precision: String,
    /// --find-max: each step's length (at least 500ms).
    #[arg(long = "find-max-step", value_name = "DURATION", default_value = "5s")]
    pub find_max_step: String,
    /// HTTP method [default: GET].
    #[arg(short = 'm', value_name = "METHOD")]
    pub method: Option<String>,
    /// Request body.
    #[arg(short = 'd', value_name = "BODY", conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Request body from a file.
    #[arg(short = 'D', value_name = "BODY_FILE")]
    pub body_file: Option<PathBuf>,
    /// Content-Type of the body [default: text/html].
    #[arg(short = 'T', value_name = "CONTENT_TYPE")]
    pub content_type: Option<String>,
    /// Custom header "Name: value" (repeatable; replaces a default of the same name).
    #[arg(short = 'H', value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Timeout for each request in seconds (or with a unit, e.g. 500ms); 0 = none.
    #[arg(short = 't', value_name = "TIMEOUT", default_value = "20")]
    pub timeout: String,
    /// Limit on each connection attempt, in seconds or with a unit; 0 = the system's own.
    #[arg(long = "connect-timeout", value_name = "TIMEOUT", default_value = "5")]
    pub connect_timeout: String,
    /// Accept header.
    #[arg(short = 'A', value_name = "ACCEPT")]
    pub accept: Option<String>,
    /// Basic auth (user:pass).
    #[arg(short = 'a', value_name = "AUTH")]
    pub auth: Option<String>,
    /// Open a new connection for every request.
    #[arg(long)]
    pub disable_keepalive: bool,
    /// Speak HTTP/2: h2 by ALPN on https://, h2c with prior knowledge on
    /// http:// (hey's -h2 is accepted too). 3xx answers are not followed.
    #[arg(long)]
    pub http2: bool,
    /// --http2: most concurrent streams on each connection (h2load's -m;
    /// default 1, so that -c keeps its meaning). The server's
    /// SETTINGS_MAX_CONCURRENT_STREAMS may allow fewer.
    #[arg(long, value_name = "N")]
    pub streams: Option<String>,
    /// Do not send Accept-Encoding: gzip.
    #[arg(long)]
    pub disable_compression: bool,
    /// Count 3xx responses as they are instead of following them.
    #[arg(long)]
    pub disable_redirects: bool,
    /// https://: accept any certificate chain and host name (the
    /// handshake's signature is still verified, so the client's work stays
    /// realistic).
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// https://: trust the CAs in this PEM file instead of the system's.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// https://: present this client certificate (PEM; needs --key).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// https://: the client certificate's private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// https://: speak only this TLS version, 1.2 or 1.3 (default: both).
    #[arg(long = "tls-version", value_name = "VERSION")]
    pub tls_version: Option<String>,
    /// https://: resume TLS sessions when reconnecting (an abbreviated
    /// handshake instead of a full one: less CPU on both sides, one round
    /// trip less with TLS 1.2). Off by default, so that every new
    /// connection costs what a new client's would.
    #[arg(long = "tls-resume")]
    pub tls_resume: bool,
    /// Connect to HOST:PORT instead of the URL's host and port, keeping the
    /// URL's name in the Host header and TLS SNI; curl's form
    /// HOST1:PORT1:HOST2:PORT2 is accepted too.
    /// Repeat it to send several hosts of a target file to one place.
    #[arg(long = "connect-to", value_name = "HOST:PORT")]
    pub connect_to: Vec<String>,
    /// Send the requests of this target file (- reads standard input):
    /// vegeta's format (METHOD URL, header lines, @body-file; blank lines
    /// between targets) or one URL per line. Replaces the URL argument.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["url", "demo"])]
    pub targets: Option<PathBuf>,
    /// Order of a target file's requests: round-robin or random (seeded).
    #[arg(long = "targets-order", value_name = "ORDER")]
    pub targets_order: Option<String>,
    /// Seed for --targets-order random, {{rand:N}} and {{uuid}}: the same
    /// seed gives the same requests (the seed used is in -o json).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Most distinct requests pre-built for templates or a random order
    /// (cycled through; {{seq}} is written at send time and never repeats).
    #[arg(long = "template-pool", value_name = "N")]
    pub template_pool: Option<u64>,
    /// Connect to this Unix domain socket instead of the URL's host and
    /// port; the URL still gives the path and the Host header
    /// (--unix-socket /run/app.sock http://localhost/api).
    #[arg(long = "unix-socket", value_name = "PATH", conflicts_with_all = ["connect_to", "ipv4", "ipv6"])]
    pub unix_socket: Option<PathBuf>,
    /// Go through this forward proxy: http://[user:pass@]host:port (CONNECT
    /// for https://, absolute-form requests for http://), socks5:// (names
    /// resolved here) or socks5h:// (by the proxy). Without it: HTTPS_PROXY,
    /// http_proxy, ALL_PROXY, as curl reads them; "" means none.
    #[arg(short = 'x', long = "proxy", value_name = "URL")]
    pub proxy: Option<String>,
    /// A header "Name: value" for the proxy only: on CONNECT, or on
    /// absolute-form requests (repeatable).
    #[arg(long = "proxy-header", value_name = "HEADER")]
    pub proxy_headers: Vec<String>,
    /// Send http:// requests through a CONNECT tunnel too (curl's -p)
    /// instead of in absolute form.
    #[arg(short = 'p', long = "proxy-tunnel")]
    pub proxy_tunnel: bool,
    /// Hosts reached without the proxy, comma-separated: names (each with
    /// the names under it), IP addresses or CIDR ranges, * for all.
    /// Replaces NO_PROXY; "" proxies every host.
    #[arg(long = "noproxy", value_name = "LIST")]
    pub noproxy: Option<String>,
    /// Connect over IPv4 only (for a name that resolves to both families).
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Connect over IPv6 only (for a name that resolves to both families).
    #[arg(short = '6')]
    pub ipv6: bool,
    /// I/O backend: auto (io_uring where it works), io-uring, or portable (tokio).
    #[arg(long, value_name = "BACKEND", default_value = "auto")]
    pub backend: String,
    /// io_uring features to leave unused, comma-separated: min-wait,
    /// incremental, multishot (takes incremental along), defer-taskrun. For
    /// measuring the io_uring of older kernels: min-wait,incremental is what
    /// Linux 6.1-6.11 offer. io_uring only (refused with --backend portable).
    #[arg(long = "io-uring-without", value_name = "LIST")]
    pub io_uring_without: Option<String>,
    /// No colors in the report (also when NO_COLOR is set or stdout is not a terminal).
    #[arg(long)]
    pub no_color: bool,
    /// Output on stdout: text (the report), json (the full result, for
    /// vastar merge and scripts) or csv (the percentile table). With json and
    /// csv the report goes to stderr.
    #[arg(short = 'o', long = "output", value_name = "FORMAT", default_value = "text")]
    pub output: String,
    /// Start at this wall-clock moment, connections already open: unix
    /// seconds or RFC 3339 (2026-11-28T12:00:00Z). For runs on many machines.
    #[arg(long = "start-at", value_name = "TIME")]
    pub start_at: Option<String>,
    /// Fail the run (exit 3) unless this holds, e.g. p99<20ms, errors<0.1%,
    /// rps>=50000 (repeatable, or comma-separated; forms in README).
    #[arg(long = "assert", value_name = "EXPR")]
    pub assertions: Vec<String>,
    /// Length of the timeline's intervals (-o json's timeline, --html), at
    /// least 100ms. Runs longer than 4096 intervals double it as they go.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub interval: String,
    /// Nothing on stderr but errors: no progress line, no notices, and with
    /// -o json or csv no report (so that stdout and stderr can share a log).
    #[arg(long)]
    pub quiet: bool,
    /// Also write the report as one self-contained HTML file (charts of the
    /// run over time; written at the end, after Ctrl-C too).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Benchmark the built-in server on a free loopback port (no URL needed).
    #[arg(long, conflicts_with = "url")]
    pub demo: bool,
    /// --demo over HTTPS: the built-in server gets a self-signed certificate,
    /// which the client trusts (verification stays on, as for a real server).
    #[arg(long)]
    pub tls: bool,
    /// --demo against a mock LLM (vastar serve --llm's defaults): streaming
    /// chat completions, POST with a JSON body unless -m, -d, -D or -T say otherwise.
    #[arg(long)]
    pub llm: bool,
    /// Target URL (http[s]://host[:port][/path][?query]). Its path and
    /// query, -H values and the body may hold templates, filled in per
    /// request: {{seq}}, {{rand:N}}, {{uuid}}, {{line:FILE}}.
    #[arg(value_name = "URL", required_unless_present_any = ["demo", "targets"], value_hint = ValueHint::Url)]
    pub url: Option<String>,
}

impl BenchArgs {
    /// The run's config for `url`: the flags' text handed to the rules in
    /// [`crate::config::flags`].
    pub fn to_config(&self, url: &str) -> Result<Config, ConfigError> {
        if self.tls && !self.demo {
            // (clap's `requires` cannot see that: --demo's default counts as given)
            let why = "applies to --demo only; for a URL, https:// chooses TLS".to_string();
            return Err(ConfigError::Invalid { flag: "--tls", why });
        }
        if self.llm && !self.demo {
            let why = "applies to --demo only; for a mock LLM to benchmark, run vastar serve --llm".to_string();
            return Err(ConfigError::Invalid { flag: "--llm", why });
        }
        let proxy_env = config::proxy::ProxyEnv::from_process();
        config::flags::build(&Flags {
            url,
            requests: self.requests,
            concurrency: self.concurrency,
            duration: self.duration.as_deref(),
            qps: self.qps,
            rate: self.rate.as_deref(),
            stages: self.stages.as_deref(),
            warmup: self.warmup.as_deref(),
            goodput: self.goodput.as_deref(),
            arrivals: self.arrivals.as_deref(),
            burstiness: self.burstiness.as_deref(),
            find_max: self.find_max.then_some(config::shape::SearchFlags {
                slo: self.slo.as_deref(),
                start: &self.find_max_start,
                factor: &self.find_max_factor,
                precision: &self.find_max_precision,
                step: &self.find_max_step,
            }),
            method: self.method.as_deref().unwrap_or("GET"),
            body: self.body.as_deref(),
            body_file: self.body_file.as_deref(),
            content_type: self.content_type.as_deref(),
            headers: &self.headers,
            timeout: &self.timeout,
            connect_timeout: &self.connect_timeout,
            accept: self.accept.as_deref(),
            auth: self.auth.as_deref(),
            keepalive: !self.disable_keepalive,
            compression: !self.disable_compression,
            follow_redirects: !self.disable_redirects,
            backend: &self.backend,
            io_uring_without: self.io_uring_without.as_deref(),
            output: &self.output,
            start_at: self.start_at.as_deref(),
            interval: &self.interval,
            assertions: &self.assertions,
            tls: config::tls::TlsFlags {
                insecure: self.insecure,
                cacert: self.cacert.as_deref(),
                cert: self.cert.as_deref(),
                key: self.key.as_deref(),
                version: self.tls_version.as_deref(),
                resume: self.tls_resume,
            },
            targets: config::requests::RequestFlags {
                targets: self.targets.as_deref(),
                order: self.targets_order.as_deref(),
                seed: self.seed,
                pool: self.template_pool,
                connect_to: &self.connect_to,
                unix_socket: self.unix_socket.is_some(),
                proxy: None,
            },
            unix_socket: self.unix_socket.as_deref(),
            family: match (self.ipv4, self.ipv6) {
                (true, _) => Some(config::Family::V4),
                (_, true) => Some(config::Family::V6),
                _ => None,
            },
            protocol: config::protocol::ProtocolFlags { http2: self.http2, streams: self.streams.as_deref() },
            proxy: config::proxy::ProxyFlags {
                proxy: self.proxy.as_deref(),
                headers: &self.proxy_headers,
                tunnel: self.proxy_tunnel,
                noproxy: self.noproxy.as_deref(),
            },
            proxy_env: Some(&proxy_env),
        })
    }
}

/// Handles a clap failure: help and version print as usual (exit 0);
/// usage errors become one line on stderr and exit status 2.
pub fn exit_on_parse_error(e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return std::process::ExitCode::SUCCESS;
    }
    // (the message's first paragraph names what is missing; the usage after it always shows <URL>)
    let missing_url = e.to_string().split("\n\n").next().is_some_and(|first| first.contains("<URL>"));
    if e.kind() == ErrorKind::MissingRequiredArgument && missing_url {
        eprintln!(
            "vastar: no target URL; for example vastar http://127.0.0.1:8080/, or vastar --demo to try the built-in server"
        );
    } else {
        eprintln!("vastar: {}", one_line(&e.to_string()));
    }
    std::process::ExitCode::from(2)
}

/// Clap's message up to its first blank line, joined into one line without
/// the `error: ` prefix, plus a pointer to --help.
fn one_line(message: &str) -> String {
    let text: Vec<&str> = message.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
    let text = text.join(" ");
    format!("{}; see 'vastar --help'", text.strip_prefix("error: ").unwrap_or(&text))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Stop;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let cli =
            Cli::try_parse_from(std::iter::once("vastar").chain(args.iter().copied())).map_err(|e| e.to_string())?;
        let url = cli.bench.url.clone().unwrap_or_default();
        cli.bench.to_config(&url).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_match_hey() {
        let c = parse(&["http://h/"]).unwrap();
        assert_eq!((c.connections, c.stop, c.qps_per_connection), (50, Stop::Requests(200), None));
        assert_eq!((c.timeout, c.keepalive, c.follow_redirects), (Some(Duration::from_secs(20)), true, true));
        assert_eq!((c.rate, c.connect_timeout), (None, Some(Duration::from_secs(5))));
        assert_eq!(c.request.method, "GET");
    }

    #[test]
    fn flags_map_to_the_config() {
        let c = parse(&[
            "-z",
            "1m30s",
            "-c",
            "7",
            "-q",
            "2.5",
            "-t",
            "0",
            "--disable-keepalive",
            "--disable-redirects",
            "http://h/",
        ])
        .unwrap();
        assert_eq!(
            (c.connections, c.stop, c.qps_per_connection),
            (7, Stop::Duration(Duration::from_secs(90)), Some(2.5))
        );
        assert_eq!((c.timeout, c.keepalive, c.follow_redirects), (None, false, false));
        let c = parse(&["-n", "5", "-c", "1", "-t", "250ms", "http://h/"]).unwrap();
        assert_eq!((c.stop, c.timeout), (Stop::Requests(5), Some(Duration::from_millis(250))));
        let c = parse(&["--rate", "0.5", "--connect-timeout", "300ms", "http://h/"]).unwrap();
        assert_eq!((c.rate, c.connect_timeout), (Some(0.5), Some(Duration::from_millis(300))));
        let c = parse(&["--rate", "100..5000", "-z", "1m", "http://h/"]).unwrap();
        assert_eq!((c.rate, c.shape), (Some(100.0), crate::stats::Shape::ramp(100.0, 5000.0, 60.0)));
        assert_eq!(parse(&["--rate", "300", "-z", "1m", "http://h/"]).unwrap().shape, None);
        for (args, why) in [
            (&["--rate", "100..5000", "-n", "10", "http://h/"][..], "give it with -z"),
            (&["--rate", "100..", "-z", "1s", "http://h/"][..], "FROM..TO needs two rates"),
            (&["--rate", "..5", "-z", "1s", "http://h/"][..], "FROM..TO needs two rates"),
            (&["--rate", "1..2..3", "-z", "1s", "http://h/"][..], "FROM..TO needs two rates"),
            (&["--rate", "0..5", "-z", "1s", "http://h/"][..], "FROM..TO needs two rates"),
            (&["--rate", "-5", "-z", "1s", "http://h/"][..], "not a usable rate"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.starts_with("--rate: ") && err.contains(why), "{args:?}: {err}");
        }
        let c = parse(&["--connect-timeout", "0", "http://h/"]).unwrap();
        assert_eq!(c.connect_timeout, None);
        let c = parse(&["-k", "--tls-resume", "--tls-version", "1.2", "--connect-to", "127.0.0.1:8443", "https://h/"])
            .unwrap();
        let tls = c.tls.unwrap();
        assert_eq!((tls.insecure, tls.resume, tls.version), (true, true, Some(crate::tls::TlsVersion::Tls12)));
        assert_eq!((c.url.port, c.connect_to), (443, Some(("127.0.0.1".to_string(), 8443))));
        assert!(parse(&["-k", "http://h/"]).unwrap().tls.is_none(), "TLS flags do not apply to http://");
        let c = parse(&["-o", "json", "--start-at", "1795848365", "http://h/"]).unwrap();
        assert_eq!(c.output, config::Output::Json);
        assert_eq!(c.start_at, Some(std::time::UNIX_EPOCH + Duration::from_secs(1_795_848_365)));
    }

    #[test]
    fn invalid_flags_are_refused_with_a_reason() {
        let cases: &[(&[&str], &str)] = &[
            (&["-c", "0", "http://h/"], "-c: must be at least 1"),
            (&["-n", "10", "-c", "50", "http://h/"], "each connection needs at least one request"),
            (&["-n", "0", "http://h/"], "-n: must be at least 1"),
            (&["-z", "10x", "http://h/"], "unknown unit"),
            (&["-z", "0s", "http://h/"], "too short"),
            (&["-z", "10us", "http://h/"], "too short"),
            (&["-q", "1e-30", "http://h/"], "-q: 1e-30 is not a usable rate"),
            (&["-t", "1e-30", "http://h/"], "-t: \"1e-30\" is too short"),
            (&["--start-at", "99999999999999999999", "http://h/"], "too far in the future"),
            (&["-q", "-1", "http://h/"], "-q"),
            (&["-q", "1e300", "http://h/"], "-q"),
            (&["--rate", "0", "http://h/"], "--rate: \"0\" is not a usable rate"),
            (&["--rate", "-5", "http://h/"], "--rate"),
            (&["--rate", "nan", "http://h/"], "--rate"),
            (&["--rate", "1e12", "http://h/"], "--rate"),
            (&["--rate", "10", "-q", "1", "http://h/"], "cannot be used with"),
            (&["--connect-timeout", "soon", "http://h/"], "--connect-timeout"),
            (&["-o", "xml", "http://h/"], "-o: \"xml\" is not an output format; use text, json or csv"),
            (&["--start-at", "tomorrow", "http://h/"], "--start-at"),
            (&["--start-at", "2999-01-01T00:00:00Z", "http://h/"], "more than a day ahead"),
            (&["-c", "2000000", "-z", "1s", "http://h/"], "more than the 1000000 supported"),
            (&["-t", "1e30", "http://h/"], "too long"),
            (&["--backend", "epoll", "http://h/"], "not a backend"),
            (&["-H", "nocolon", "http://h/"], "no colon"),
            (&["-a", "nocolon", "http://h/"], "colon"),
            (&["-d", "x", "-D", "f", "http://h/"], "cannot be used with"),
            (&["-m", "G T", "http://h/"], "not an HTTP method"),
            (&["-t", "soon", "http://h/"], "-t"),
            (&["--tls-version", "1.0", "https://h/"], "--tls-version"),
            (&["--cert", "c.pem", "https://h/"], "needs --key"),
            (&["--cacert", "/nonexistent/ca.pem", "https://h/"], "--cacert: cannot read"),
            (&["--connect-to", "nope", "http://h/"], "--connect-to"),
            (&["h:80"], "scheme"),
            (&["http://h:70000/"], "out of range"),
            (&[], "required"),
        ];
        for &(args, needle) in cases {
            let err = parse(args).expect_err(needle);
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn demo_needs_no_url_and_serve_is_a_subcommand() {
        let cli = Cli::try_parse_from(["vastar", "--demo", "-z", "1s"]).unwrap();
        assert!(cli.bench.demo && cli.bench.url.is_none());
        let cli = Cli::try_parse_from(["vastar", "serve", "--listen", "127.0.0.1:0", "--body-bytes", "10"]).unwrap();
        match cli.command {
            Some(Command::Serve(args)) => assert_eq!(args.options().body_bytes, 10),
            _ => panic!("serve should parse as a subcommand"),
        }
        let cli = Cli::try_parse_from(["vastar", "merge", "a.json", "-", "--force", "-o", "json"]).unwrap();
        match cli.command {
            Some(Command::Merge(args)) => {
                assert_eq!((args.files.len(), args.force, args.output.as_str()), (2, true, "json"))
            }
            _ => panic!("merge should parse as a subcommand"),
        }
        assert!(Cli::try_parse_from(["vastar", "merge"]).is_err(), "merge needs a file");
        assert!(Cli::try_parse_from(["vastar", "--demo", "http://h/"]).is_err());
    }
}
