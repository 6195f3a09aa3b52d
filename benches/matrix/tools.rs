//! The load generators the matrix compares: how to invoke each one for a
//! duration and a concurrency, and how to read requests/sec, the request
//! count and the errors from its text output.

use std::path::PathBuf;
use std::process::Command;

/// How the target is reached.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mode {
    /// `https://` (no tool verifies the certificate: vastar runs with -k).
    pub tls: bool,
    /// A new connection for every request.
    pub reconnect: bool,
}

/// What a generator reported about one run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Parsed {
    pub rps: f64,
    pub requests: u64,
    pub errors: u64,
}

/// One generator (or one vastar backend).
#[derive(Clone, Debug)]
pub struct Tool {
    pub name: String,
    pub program: PathBuf,
    kind: Kind,
    /// Extra arguments that select a variant (vastar's backend).
    extra: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Vastar,
    Wrk,
    Hey,
    Oha,
    H2load,
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// The generators present on this machine, vastar first; `missing` names
/// the peers that are not installed.
pub fn discover(vastar: PathBuf) -> (Vec<Tool>, Vec<&'static str>) {
    let mut tools = Vec::new();
    let help = Command::new(&vastar).arg("--help").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if help.is_ok_and(|h| h.contains("--backend")) {
        for backend in ["io-uring", "portable"] {
            let ok = Command::new(&vastar)
                .args(["--backend", backend, "--demo", "-n", "1", "-c", "1"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                let name = format!("vastar ({backend})");
                tools.push(Tool {
                    name,
                    program: vastar.clone(),
                    kind: Kind::Vastar,
                    extra: vec!["--backend".into(), backend.into()],
                });
            }
        }
    } else {
        tools.push(Tool { name: "vastar".into(), program: vastar, kind: Kind::Vastar, extra: vec![] });
    }
    let mut missing = Vec::new();
    for (name, kind) in [("wrk", Kind::Wrk), ("hey", Kind::Hey), ("oha", Kind::Oha), ("h2load", Kind::H2load)] {
        let found = which(name).or_else(|| {
            let cargo_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin").join(name));
            cargo_bin.filter(|p| p.is_file())
        });
        match found {
            Some(program) => tools.push(Tool { name: name.into(), program, kind, extra: vec![] }),
            None => missing.push(name),
        }
    }
    (tools, missing)
}

impl Tool {
    pub fn is_vastar(&self) -> bool {
        self.kind == Kind::Vastar
    }

    /// The same tool with more arguments, named with `suffix`.
    pub fn with_args(&self, suffix: &str, args: &[&str]) -> Tool {
        let mut tool = self.clone();
        tool.name.push_str(suffix);
        tool.extra.extend(args.iter().map(|a| a.to_string()));
        tool
    }

    /// Whether the tool can run in `mode` (h2load cannot reconnect per request).
    pub fn supports(&self, mode: Mode) -> bool {
        !(mode.reconnect && self.kind == Kind::H2load)
    }

    /// Arguments for a run of `seconds` at `concurrency` on `threads` CPUs.
    pub fn args(&self, url: &str, concurrency: usize, seconds: f64, threads: usize, mode: Mode) -> Vec<String> {
        let c = concurrency.to_string();
        let threads = threads.min(concurrency).max(1).to_string();
        let mut args: Vec<String> = match self.kind {
            Kind::Vastar => vec!["-z".into(), format!("{seconds}s"), "-c".into(), c, "--no-color".into()],
            Kind::Wrk => vec![format!("-t{threads}"), format!("-c{c}"), format!("-d{seconds}s"), "--latency".into()],
            Kind::Hey => vec!["-z".into(), format!("{seconds}s"), "-c".into(), c],
            Kind::Oha => vec!["-z".into(), format!("{seconds}s"), "-c".into(), c, "--no-tui".into()],
            Kind::H2load => {
                vec!["--h1".into(), "-c".into(), c, "-t".into(), threads, "-D".into(), format!("{seconds}")]
            }
        };
        let flags: &[&str] = match (self.kind, mode.tls) {
            (Kind::Vastar, true) => &["-k"],
            (Kind::Oha, true) => &["--insecure"],
            _ => &[],
        };
        args.extend(flags.iter().map(|f| f.to_string()));
        if mode.reconnect {
            let flags: &[&str] = match self.kind {
                Kind::Vastar | Kind::Oha => &["--disable-keepalive"],
                Kind::Hey => &["-disable-keepalive"],
                // wrk reconnects when the server closes: ask it to.
                Kind::Wrk => &["-H", "Connection: close"],
                Kind::H2load => &[],
            };
            args.extend(flags.iter().map(|f| f.to_string()));
        }
        args.extend(self.extra.iter().cloned());
        args.push(url.to_string());
        args
    }

    /// Reads the run's figures from the generator's output.
    pub fn parse(&self, out: &str, seconds: f64) -> Option<Parsed> {
        match self.kind {
            Kind::Vastar | Kind::Hey | Kind::Oha => parse_hey_like(out),
            Kind::Wrk => parse_wrk(out),
            Kind::H2load => parse_h2load(out, seconds),
        }
    }
}

/// The first number after `label` on the line that contains it.
fn number_after(out: &str, label: &str) -> Option<f64> {
    let line = out.lines().find(|l| l.contains(label))?;
    let rest = &line[line.find(label)? + label.len()..];
    let token = rest.split(|c: char| !(c.is_ascii_digit() || c == '.')).find(|t| !t.is_empty())?;
    token.parse().ok()
}

/// Lines `[N] ...` inside the section that starts with `heading`, summed,
/// skipping lines that contain any of `skip`.
fn bracket_counts(out: &str, heading: &str, skip: &[&str]) -> u64 {
    let Some(start) = out.find(heading) else { return 0 };
    out[start + heading.len()..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| !skip.iter().any(|s| l.contains(s)))
        .filter_map(|l| l.trim().strip_prefix('[')?.split(']').next()?.trim().parse::<u64>().ok())
        .sum()
}

/// Status lines `[200] N responses`, summed.
fn response_counts(out: &str) -> u64 {
    out.lines()
        .filter(|l| l.contains("responses") && l.trim_start().starts_with('['))
        .filter_map(|l| l.split(']').nth(1)?.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// vastar, hey and oha print hey's layout.
fn parse_hey_like(out: &str) -> Option<Parsed> {
    Some(Parsed {
        rps: number_after(out, "Requests/sec:")?,
        requests: response_counts(out),
        errors: bracket_counts(out, "Error distribution:", &["aborted"]),
    })
}

fn parse_wrk(out: &str) -> Option<Parsed> {
    let requests = out.lines().find(|l| l.contains("requests in"))?.split_whitespace().next()?.parse().ok()?;
    let socket_errors: u64 = out
        .lines()
        .find(|l| l.contains("Socket errors:"))
        .map(|l| l.split(',').filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    let non_2xx = number_after(out, "Non-2xx or 3xx responses:").unwrap_or(0.0) as u64;
    Some(Parsed { rps: number_after(out, "Requests/sec:")?, requests, errors: socket_errors + non_2xx })
}

fn parse_h2load(out: &str, seconds: f64) -> Option<Parsed> {
    let line = out.lines().find(|l| l.starts_with("requests:"))?;
    let field = |name: &str| -> Option<u64> {
        line.split(',').find(|p| p.contains(name))?.split_whitespace().find_map(|t| t.parse().ok())
    };
    let succeeded = field("succeeded")?;
    // h2load's "failed" already includes "errored" and "timeout".
    let errors = field("failed").unwrap_or(0);
    let rps = out
        .lines()
        .find(|l| l.starts_with("finished in"))
        .and_then(|l| l.split(',').nth(1)?.split_whitespace().next()?.parse().ok())
        .unwrap_or(succeeded as f64 / seconds);
    Some(Parsed { rps, requests: succeeded, errors })
}
