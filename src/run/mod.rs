//! From a parsed command line to a printed report: resolve the target, pick
//! the backend, run the engine, render the result.

mod find_max;
mod machine;
mod output;
mod proxy;
mod serve;

use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::cli::{BenchArgs, Cli, Command};
use crate::config::uring::UringWithout;
use crate::config::{BackendChoice, Config, ConfigError, Stop};
use crate::cpu_busy::CpuTicks;
use crate::engine::{self, Address, Backend, Engine, EngineError, Outcome, Plan, RequestSet, TlsTarget, Until};
use crate::progress::{self, Frame, Goal, RateMeter};
use crate::result::{Meta, Target};
use crate::signals;
use crate::summary::{GeneratorCpu, Rate, RunInfo};
use crate::term;
use rustls::pki_types::ServerName;

/// Time in-flight requests get to finish after Ctrl-C before they are abandoned.
const INTERRUPT_GRACE: Duration = Duration::from_secs(1);

/// How often the monitor checks for signals and the end of the run.
const MONITOR_TICK: Duration = Duration::from_millis(20);

/// Progress redraw interval: 10 frames per second.
const FRAME_INTERVAL: Duration = Duration::from_millis(100);

/// Time allowed for the whole pre-connect phase without a connect timeout.
const PRECONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why vastar could not do what was asked.
#[derive(Debug)]
pub enum Error {
    /// Invalid input: fix the command line.
    Config(ConfigError),
    /// The host name did not resolve.
    Resolve {
        host: String,
        why: String,
    },
    /// The host has no address of the family `-4` or `-6` asked for.
    Family {
        host: String,
        why: String,
    },
    Engine(EngineError),
    /// The backend asked for cannot run here.
    Backend(String),
    /// The built-in server could not start.
    Server(io::Error),
    /// Writing the report failed (other than a closed pipe).
    Output(io::Error),
    /// A result file that cannot be read or merged.
    Input(String),
    /// The TLS settings cannot be used (a bad file, a CPU without the
    /// instructions the TLS library needs).
    Tls(String),
    /// The first handshakes failed to verify the server: the run stopped.
    Refused {
        url: String,
        why: String,
    },
    /// `--http2` over TLS, and the server did not agree to h2 in ALPN.
    NoH2 {
        url: String,
    },
    /// The proxy refused the first tunnels: the run stopped.
    ProxyRefused {
        proxy: String,
        why: String,
    },
}

impl Error {
    /// Exit status: 2 for input the user must fix, 1 for failures at run time.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Config(_) | Error::Backend(_) | Error::Input(_) | Error::Tls(_) | Error::Family { .. } => {
                ExitCode::from(2)
            }
            _ => ExitCode::from(1),
        }
    }
}

impl Error {
    /// The message as one line: any line break or control character that
    /// user input carried into it is shown escaped.
    pub fn one_line(&self) -> String {
        self.to_string()
            .chars()
            .flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] })
            .collect()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Resolve { host, why } => {
                write!(f, "cannot resolve host {host:?}: {why} (check the URL, or use an IP address)")
            }
            Error::Family { host, why } => write!(f, "{host}: {why}"),
            Error::Engine(e) => e.fmt(f),
            Error::Backend(why) => f.write_str(why),
            Error::Server(e) => write!(f, "cannot start the built-in server: {e}"),
            Error::Output(e) => write!(f, "cannot write the report: {e}"),
            Error::Input(why) => f.write_str(why),
            Error::Tls(why) => f.write_str(why),
            Error::Refused { url, why } => write!(f, "{url}: the first TLS handshakes failed, run stopped: {why}"),
            Error::ProxyRefused { proxy, why } => {
                write!(f, "{proxy}: the proxy refused the first tunnels, run stopped: {why}")
            }
            Error::NoH2 { url } => write!(
                f,
                "{url}: the server did not agree to HTTP/2 (h2) in ALPN, run stopped; leave out --http2 to use HTTP/1.1"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        Error::Engine(e)
    }
}

/// Runs what the command line asks for.
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Some(Command::Serve(args)) => serve::serve(&args),
        Some(Command::Merge(args)) => output::merge_command(&args),
        Some(Command::Diff(args)) => output::diff_command(&args),
        Some(Command::Plot(args)) => output::plot_command(&args),
        Some(Command::Completions(args)) => output::print(&crate::cli::shell::completion_script(args.shell)),
        Some(Command::Man) => output::print(&crate::cli::shell::man_page().map_err(Error::Output)?),
        None => bench(&cli.bench),
    }
}

fn bench(args: &BenchArgs) -> Result<ExitCode, Error> {
    // Chosen first, so that a refused --backend fails before anything starts.
    let choice = BackendChoice::parse(&args.backend)?;
    let without = UringWithout::parse(args.io_uring_without.as_deref(), choice)?;
    let backend = select_backend(choice, without, args.quiet)?;
    let llm = args.demo && args.llm;
    let llm_args;
    let args = if llm {
        llm_args = serve::llm_demo_args(args);
        &llm_args
    } else {
        args
    };
    let (demo, trust) = if args.demo {
        let (server, trust) = serve::demo_server(args.tls, llm, args.http2)?;
        (Some(server), trust)
    } else {
        (None, None)
    };
    let scheme = if args.tls { "https" } else { "http" };
    let path = if llm { serve::LLM_DEMO_PATH } else { "/" };
    let url = match (&demo, &args.url) {
        (Some(server), _) => format!("{scheme}://{}{path}", server.addr()),
        (None, Some(url)) => url.clone(),
        // clap requires a URL without --demo, unless --targets gives them.
        (None, None) => String::new(),
    };
    if demo.is_some() && !args.quiet {
        let server = if llm { "the built-in mock LLM (vastar serve --llm)" } else { "the built-in server" };
        eprintln!("vastar --demo: benchmarking {server} at {url}");
    }
    let mut config = args.to_config(&url)?;
    // Refused now rather than after the run: the HTML must have somewhere to go.
    let html = args.html.as_deref().map(output::html_file).transpose()?;
    if let (Some(options), Some(pem)) = (config.tls.as_mut(), trust) {
        // The demo's own certificate is trusted, unless the user chose otherwise.
        options.ca_pem.get_or_insert_with(|| pem.into_bytes());
    }
    let looked_up = Instant::now();
    let addrs = resolve(&config)?;
    let looked_up_host = config.proxy.as_ref().map_or(&config.url.host, |p| &p.host);
    let named = looked_up_host.parse::<std::net::IpAddr>().is_err() && config.unix_socket.is_none();
    let dns = named.then(|| (looked_up.elapsed(), addrs.len()));
    if let Some(find) = &config.find_max {
        let _ = signals::install();
        let exit = find_max::find_max(args, &config, find, addrs, backend);
        drop(demo);
        return exit;
    }
    let engine = Engine::new(plan(&config, addrs)?, backend);
    // Without handlers Ctrl-C still ends the process, only without a report.
    let _ = signals::install();
    let goal = match config.stop {
        Stop::Requests(n) => Goal::Requests(n),
        // The bar runs over the warm-up too.
        Stop::Duration(d) => Goal::Duration(d.saturating_add(config.warmup.unwrap_or_default())),
    };
    let ticks = CpuTicks::now();
    if let Some(at) = config.start_at.filter(|_| !args.quiet) {
        announce_start_at(at);
    }
    let (outcome, signal) = run_monitored(&engine, goal, term::stderr_is_terminal() && !args.quiet)?;
    refused(&engine, &config)?;
    let cores_busy = ticks.zip(CpuTicks::now()).and_then(|(before, after)| before.busy_share(&after, outcome.spun));
    drop(demo);
    let info = run_info(&outcome, &config, signal.is_some(), dns, cores_busy);
    let meta = Meta {
        command: output::command_line(config.proxy.as_ref()),
        target: Target { url: config.url.display_without_credentials(), method: config.request.method.clone() },
        start: outcome.started_wall,
        start_at: config.start_at,
        parts: Vec::new(),
        windows_ns: Vec::new(),
        machine: Some(machine::this()),
    };
    let passed = output::emit((&outcome.stats, &outcome.timeline), &info, meta, &config, (args, html))?;
    Ok(match signal {
        Some(signal) => ExitCode::from(128 + signal as u8),
        None if !passed => ExitCode::from(output::ASSERTION_FAILED),
        None => ExitCode::SUCCESS,
    })
}

/// Says on stderr when a `--start-at` run will start (or that the moment has passed).
fn announce_start_at(at: SystemTime) {
    let when = crate::wallclock::format_rfc3339(at);
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => eprintln!("vastar: connecting, then waiting until {when} ({:.1} s from now)", ahead.as_secs_f64()),
        Err(e) => {
            eprintln!("vastar: --start-at {when} passed {:.1} s ago; starting at once", e.duration().as_secs_f64())
        }
    }
}

/// The report's facts about a finished run.
fn run_info(
    outcome: &Outcome,
    config: &Config,
    interrupted: bool,
    dns: Option<(Duration, usize)>,
    cores_busy: Option<f64>,
) -> RunInfo {
    let warmup = config.warmup.unwrap_or_default().as_secs_f64();
    let rate = config.rate.map(|rate| {
        let shape = executed(config).0;
        // The target: the shape's mean over the measured part.
        let target = shape.as_ref().map_or(rate, |s| s.mean_from(warmup));
        let achieved = match &shape {
            // Over the shape's measured length (or less, if cut short): its
            // last requests may be due long before its end (a pause).
            Some(s) => {
                let length = s.duration_s() - warmup;
                let window = if interrupted { length.min(outcome.elapsed.as_secs_f64()) } else { length };
                outcome.stats.started as f64 / window.max(f64::MIN_POSITIVE)
            }
            None => outcome.achieved_rate(target),
        };
        Rate { target, achieved, shape, arrivals: config.arrivals.describe() }
    });
    let core_time = outcome.elapsed.as_secs_f64() * outcome.cores as f64;
    RunInfo {
        elapsed: outcome.elapsed,
        backend: outcome.backend.clone(),
        workers: outcome.workers,
        connections: outcome.connections,
        interrupted,
        rate,
        dns,
        load: GeneratorCpu {
            own: (core_time > 0.0).then(|| (outcome.cpu.as_secs_f64() / core_time).min(1.0)),
            cores: outcome.cores,
            cores_busy,
        },
        merged: None,
        stages: executed(config).1,
        warmup: config.warmup,
        requests: requests_info(config),
        goodput: config.goodput,
        protocol: match config.http2 {
            Some(h2) => crate::summary::Protocol::Http2 { streams: Some(h2.streams) },
            None => crate::summary::Protocol::Http1,
        },
        proxy: config.proxy.as_ref().map(proxy::describe),
    }
}

/// What the requests were, for a run with several targets or templates.
fn requests_info(config: &Config) -> Option<crate::summary::Requests> {
    let (facts, pool) = (&config.targets, &config.pool);
    (facts.labels.len() > 1 || facts.templated || pool.len() > 1).then(|| crate::summary::Requests {
        labels: facts.labels.clone(),
        order: facts.order.label().to_string(),
        seed: facts.seed,
        pool: pool.distinct(),
        used: pool.distinct_used(),
        templated: facts.templated,
        from_file: facts.from_file,
    })
}

/// The rate shape and connection stages as the engine runs them: from the
/// start, the warm-up (at the first rate or count) included.
fn executed(config: &Config) -> (Option<crate::stats::Shape>, Option<crate::stats::Concurrency>) {
    let warmup = config.warmup.unwrap_or_default().as_secs_f64();
    let shape = config.shape.as_ref().map(|s| s.after_constant(warmup));
    (shape, config.stages.as_ref().map(|s| s.after_constant(warmup)))
}

/// Runs the engine while a monitor thread draws progress and handles signals.
/// Returns the outcome and the signal that interrupted the run, if any.
fn run_monitored(engine: &Engine, goal: Goal, draw: bool) -> Result<(Outcome, Option<i32>), Error> {
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let monitor = std::thread::Builder::new()
            .name("vastar-monitor".into())
            .spawn_scoped(scope, || monitor(engine, goal, draw, &finished))
            .map_err(|e| Error::Engine(EngineError::Thread(e)))?;
        let outcome = engine.run();
        finished.store(true, Ordering::Release);
        let signal = monitor.join().unwrap_or(None);
        Ok((outcome?, signal))
    })
}

/// Until `finished`: redraws the progress line ten times a second (when
/// `draw`), and on the first SIGINT/SIGTERM drains the engine, then aborts
/// what is still in flight after [`INTERRUPT_GRACE`].
fn monitor(engine: &Engine, goal: Goal, draw: bool, finished: &AtomicBool) -> Option<i32> {
    let mut signal = None;
    let mut abort_at = None;
    let mut meter = RateMeter::new(Duration::from_secs(1));
    let mut next_frame = Instant::now();
    let mut stderr = io::stderr();
    signals::set_progress_shown(draw);
    while !finished.load(Ordering::Acquire) {
        std::thread::sleep(MONITOR_TICK);
        let now = Instant::now();
        if signal.is_none()
            && let Some(received) = signals::received()
        {
            signal = Some(received);
            engine.drain();
            abort_at = Some(now + INTERRUPT_GRACE);
        }
        if abort_at.is_some_and(|at| now >= at) {
            engine.abort();
            abort_at = None;
        }
        if draw && now >= next_frame {
            next_frame = now + FRAME_INTERVAL;
            let totals = engine.live().totals();
            let done = totals.responses + totals.errors;
            let elapsed = engine.started().map(|start| now.saturating_duration_since(start));
            let warmup_left = elapsed.map(|e| engine.warmup().saturating_sub(e)).filter(|left| !left.is_zero());
            let frame = Frame {
                goal,
                done,
                errors: totals.errors,
                elapsed,
                // The rate counts the warm-up's requests too: it is load.
                rate: meter.sample(now, done + totals.warmup),
                warmup_left,
            };
            let width = term::width(libc::STDERR_FILENO).unwrap_or(term::DEFAULT_WIDTH);
            let _ = write!(stderr, "{}{}", progress::ERASE, progress::render(&frame, width));
            let _ = stderr.flush();
        }
    }
    if draw {
        let _ = write!(stderr, "{}", progress::ERASE);
        let _ = stderr.flush();
    }
    signals::set_progress_shown(false);
    signal
}

/// Resolves the target once (all addresses, in the resolver's order): the
/// URL's host, or `--connect-to`'s; or the `--unix-socket`; or the proxy's.
pub fn resolve(config: &Config) -> Result<Vec<Address>, Error> {
    if let Some(path) = &config.unix_socket {
        return Ok(vec![Address::Unix(path.clone())]);
    }
    if let Some(p) = &config.proxy {
        return Ok(proxy::resolve(config, p)?.into_iter().map(Address::Tcp).collect());
    }
    let (host, port) = config.connect_to.clone().unwrap_or_else(|| (config.url.host.clone(), config.url.port));
    let fail = |why: String| Error::Resolve { host: host.clone(), why };
    let addrs: Vec<SocketAddr> = (host.as_str(), port).to_socket_addrs().map_err(|e| fail(e.to_string()))?.collect();
    if addrs.is_empty() {
        return Err(fail("no addresses".into()));
    }
    let addrs = of_family(addrs, config.family).map_err(|why| Error::Family { host: host.clone(), why })?;
    Ok(addrs.into_iter().map(Address::Tcp).collect())
}

/// The addresses of `family` (all without one), in the resolver's order;
/// why none is left, if none is.
fn of_family(addrs: Vec<SocketAddr>, family: Option<crate::config::Family>) -> Result<Vec<SocketAddr>, String> {
    let Some(family) = family else { return Ok(addrs) };
    let kept: Vec<SocketAddr> = addrs.iter().copied().filter(|a| family.holds(a)).collect();
    if kept.is_empty() {
        let found: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
        return Err(format!(
            "it has no {} address ({} found); leave out {}",
            if family == crate::config::Family::V4 { "IPv4" } else { "IPv6" },
            found.join(", "),
            family.flag()
        ));
    }
    Ok(kept)
}

/// The run's TLS target for `https://`, built once: the client
/// configuration and the name sent as SNI.
fn tls_target(config: &Config) -> Result<Option<TlsTarget>, Error> {
    let Some(options) = &config.tls else { return Ok(None) };
    tls_cpu("https://")?;
    let mut client = crate::tls::client_config(options).map_err(|e| Error::Tls(e.to_string()))?;
    if config.http2.is_some() {
        // HTTP/2 over TLS is chosen by ALPN; a server that does not agree stops the run.
        client = crate::tls::with_h2_alpn(&client);
    }
    let server = ServerName::try_from(config.url.host.clone()).map_err(|_| {
        Error::Tls(format!(
            "{:?} cannot be used as a TLS server name; use a DNS name or an IP address",
            config.url.host
        ))
    })?;
    Ok(Some(TlsTarget { config: client, server, resume: options.resume }))
}

/// Refuses TLS (`what` needs it) on a CPU without the instructions the
/// crypto library needs: it would panic on the first handshake.
fn tls_cpu(what: &str) -> Result<(), Error> {
    match crate::tls::missing_cpu_feature() {
        None => Ok(()),
        Some(feature) => Err(Error::Tls(format!(
            "{what} needs a CPU with the {feature} instructions, which this one lacks (the TLS library uses \
             them); use plain http:// instead"
        ))),
    }
}

/// The early stop of a run whose first handshakes failed verification.
fn refused(engine: &Engine, config: &Config) -> Result<(), Error> {
    let Some(kind) = engine.refused() else { return Ok(()) };
    if let (true, Some(p)) = (kind.is_proxy_refusal(), &config.proxy) {
        return Err(Error::ProxyRefused { proxy: p.display(), why: kind.label().to_string() });
    }
    if kind == crate::stats::ErrorKind::H2NotNegotiated {
        return Err(Error::NoH2 { url: config.url.display_without_credentials() });
    }
    let why = engine::verification_failure(kind).map_or_else(|| kind.label().to_string(), |f| f.to_string());
    Err(Error::Refused { url: config.url.display_without_credentials(), why })
}

/// The engine's plan for a config and resolved addresses.
pub fn plan(config: &Config, addrs: Vec<Address>) -> Result<Plan, Error> {
    let url = &config.url;
    let mut requests =
        RequestSet::new(config.pool.clone(), config.keepalive, config.follow_redirects, url.host.clone(), url.port);
    if let Some(tls) = tls_target(config)? {
        requests = requests.with_tls(tls);
    }
    requests = requests.with_proxy(proxy::opening(config)?, proxy::absolute_origin(config));
    Ok(Plan {
        addrs,
        requests,
        connections: config.connections,
        until: match config.stop {
            Stop::Requests(n) => Until::Count(n),
            Stop::Duration(d) => Until::Elapsed(d.saturating_add(config.warmup.unwrap_or_default())),
        },
        qps_per_connection: config.qps_per_connection,
        rate: config.rate,
        timeout: config.timeout,
        connect_timeout: config.connect_timeout,
        preconnect_timeout: config.connect_timeout.unwrap_or(PRECONNECT_TIMEOUT),
        start_at: config.start_at,
        interval: config.interval,
        shape: executed(config).0,
        stages: executed(config).1,
        warmup: config.warmup.unwrap_or_default(),
        goodput: config.goodput,
        arrivals: config.arrivals,
        h2_streams: config.http2.map(|h2| h2.streams),
    })
}

/// How to let io_uring through a container's seccomp filter.
const ALLOW_IO_URING: &str = "in a container, allow it with a seccomp profile that permits io_uring_setup, \
     io_uring_enter and io_uring_register, or with --security-opt seccomp=unconfined";

/// The backend for `choice`: with `auto`, io_uring where it works, else the
/// portable backend with a one-line notice saying why (unless `quiet`).
/// io_uring goes without the features in `without`.
pub fn select_backend(
    choice: BackendChoice,
    without: UringWithout,
    quiet: bool,
) -> Result<&'static dyn Backend, Error> {
    let off = engine::UringOff {
        min_wait: without.min_wait,
        incremental: without.incremental,
        multishot: without.multishot,
        defer_taskrun: without.defer_taskrun,
    };
    match (choice, engine::io_uring_without(off)) {
        (BackendChoice::Portable, _) => Ok(engine::portable()),
        (_, Ok(uring)) => Ok(uring),
        (BackendChoice::IoUring, Err(why)) if cfg!(target_os = "linux") => {
            Err(Error::Backend(format!("--backend io-uring: io_uring is not usable here: {why}; {ALLOW_IO_URING}")))
        }
        (BackendChoice::IoUring, Err(why)) => {
            Err(Error::Backend(format!("--backend io-uring: {why}; use --backend portable (or auto)")))
        }
        (BackendChoice::Auto, Err(why)) if without != UringWithout::default() => Err(Error::Backend(format!(
            "--io-uring-without: io_uring is not usable here: {why}; leave the flag out to run on the portable backend"
        ))),
        (BackendChoice::Auto, Err(why)) => {
            if cfg!(target_os = "linux") && !quiet {
                eprintln!(
                    "vastar: io_uring is not usable here ({why}); running on the portable backend; {ALLOW_IO_URING}"
                );
            }
            Ok(engine::portable())
        }
    }
}

/// Runs a benchmark for `config` on the backend it chose, and returns what it measured.
pub fn benchmark(config: &Config) -> Result<Outcome, Error> {
    benchmark_on(config, select_backend(config.backend, config.uring_without, false)?)
}

/// As [`benchmark`], on a chosen backend.
pub fn benchmark_on(config: &Config, backend: &dyn Backend) -> Result<Outcome, Error> {
    let plan = plan(config, resolve(config)?)?;
    let engine = Engine::new(plan, backend);
    let outcome = engine.run()?;
    refused(&engine, config)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Family;

    #[test]
    fn minus_4_and_minus_6_keep_their_family_in_the_resolvers_order() {
        let addrs: Vec<SocketAddr> =
            ["[::1]:80", "127.0.0.1:80", "[fe80::1]:80", "10.0.0.1:80"].iter().map(|a| a.parse().unwrap()).collect();
        assert_eq!(of_family(addrs.clone(), None), Ok(addrs.clone()));
        assert_eq!(of_family(addrs.clone(), Some(Family::V4)), Ok(vec![addrs[1], addrs[3]]));
        assert_eq!(of_family(addrs.clone(), Some(Family::V6)), Ok(vec![addrs[0], addrs[2]]));
        let err = of_family(vec![addrs[1]], Some(Family::V6)).unwrap_err();
        assert_eq!(err, "it has no IPv6 address (127.0.0.1 found); leave out -6");
    }
}
