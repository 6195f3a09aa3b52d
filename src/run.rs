//! From a parsed command line to a printed report: resolve the target, pick
//! the backend, run the engine, render the result.

use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{BenchArgs, Cli, Command, ServeArgs};
use crate::config::{Config, ConfigError, Stop};
use crate::engine::portable::Portable;
use crate::engine::{Backend, Engine, EngineError, Outcome, Plan, Template, Until};
use crate::report::{self, RunInfo};
use crate::server::{Server, ServerOptions};

/// Time allowed to open each connection before the run starts, when -t
/// does not set a shorter one.
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
    Engine(EngineError),
    /// The built-in server could not start.
    Server(io::Error),
    /// Writing the report failed (other than a closed pipe).
    Output(io::Error),
}

impl Error {
    /// Exit status: 2 for input the user must fix, 1 for failures at run time.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Config(_) => ExitCode::from(2),
            _ => ExitCode::from(1),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Resolve { host, why } => {
                write!(f, "cannot resolve host {host:?}: {why} (check the URL, or use an IP address)")
            }
            Error::Engine(e) => e.fmt(f),
            Error::Server(e) => write!(f, "cannot start the built-in server: {e}"),
            Error::Output(e) => write!(f, "cannot write the report: {e}"),
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
        Some(Command::Serve(args)) => serve(&args),
        None => bench(&cli.bench),
    }
}

fn serve(args: &ServeArgs) -> Result<ExitCode, Error> {
    let server = Server::start(args.listen, args.options()).map_err(Error::Server)?;
    println!(
        "vastar serve: listening on http://{}/ ({} byte bodies{})",
        server.addr(),
        args.body_bytes,
        if args.chunked { ", chunked" } else { "" }
    );
    server.wait();
    Ok(ExitCode::SUCCESS)
}

fn bench(args: &BenchArgs) -> Result<ExitCode, Error> {
    let demo = if args.demo {
        let server =
            Server::start(SocketAddr::from(([127, 0, 0, 1], 0)), ServerOptions::default()).map_err(Error::Server)?;
        eprintln!("vastar --demo: benchmarking the built-in server at http://{}/", server.addr());
        Some(server)
    } else {
        None
    };
    let url = match (&demo, &args.url) {
        (Some(server), _) => format!("http://{}/", server.addr()),
        (None, Some(url)) => url.clone(),
        (None, None) => unreachable!("clap requires a URL without --demo"),
    };
    let config = args.to_config(&url)?;
    let outcome = benchmark(&config)?;
    drop(demo);
    let info = RunInfo {
        elapsed: outcome.elapsed,
        backend: outcome.backend,
        workers: outcome.workers,
        connections: outcome.connections,
    };
    let mut stdout = io::stdout().lock();
    match report::render(&mut stdout, &outcome.stats, &info).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // `vastar ... | head`: the reader left; that is not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Error::Output(e)),
    }
}

/// Resolves the target once (all addresses, in the resolver's order).
pub fn resolve(config: &Config) -> Result<Vec<SocketAddr>, Error> {
    let fail = |why: String| Error::Resolve { host: config.url.host.clone(), why };
    let addrs: Vec<SocketAddr> = config.url.authority().to_socket_addrs().map_err(|e| fail(e.to_string()))?.collect();
    if addrs.is_empty() {
        return Err(fail("no addresses".into()));
    }
    Ok(addrs)
}

/// The engine's plan for a config and resolved addresses.
pub fn plan(config: &Config, addrs: Vec<SocketAddr>) -> Plan {
    let url = &config.url;
    Plan {
        addrs,
        template: Template::new(
            config.request.clone(),
            config.keepalive,
            config.follow_redirects,
            url.host.clone(),
            url.port,
        ),
        connections: config.connections,
        until: match config.stop {
            Stop::Requests(n) => Until::Count(n),
            Stop::Duration(d) => Until::Elapsed(d),
        },
        qps_per_connection: config.qps_per_connection,
        timeout: config.timeout,
        preconnect_timeout: config.timeout.map_or(PRECONNECT_TIMEOUT, |t| t.min(PRECONNECT_TIMEOUT)),
    }
}

/// Runs a benchmark for `config` and returns what it measured.
pub fn benchmark(config: &Config) -> Result<Outcome, Error> {
    benchmark_on(config, &Portable)
}

/// As [`benchmark`], on a chosen backend.
pub fn benchmark_on(config: &Config, backend: &dyn Backend) -> Result<Outcome, Error> {
    let plan = plan(config, resolve(config)?);
    Ok(Engine::new(plan, backend).run()?)
}
