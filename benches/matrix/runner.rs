//! Runs the matrix: options, CPU split, the target server, one measured run
//! of a generator (wait4 for CPU time and peak RSS), medians, and the
//! BENCHMARK.md / BENCHMARK.csv output.
#![allow(unsafe_code, reason = "wait4 and CPU pinning of the benchmark runner")]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tools::{self, Tool};
use super::{nginx, rate_section};

pub struct Options {
    pub full: bool,
    /// Also run the 60 s soak test (tests/soak.rs) after the matrix.
    pub soak: bool,
    pub seconds: f64,
    pub rounds: usize,
    pub chunked: bool,
    pub concurrency: Vec<usize>,
    pub bodies: Vec<usize>,
    /// vastar only, each backend closed-loop and under `--rate` far above
    /// its peak: shows what the open-model machinery costs at full speed.
    pub rate_check: bool,
    /// HTTPS against nginx (`nginx.rs`) instead of plain HTTP against the epoll server.
    pub https: bool,
    /// A new connection (and with --https a full handshake) per request;
    /// vastar also runs with --tls-resume.
    pub reconnect: bool,
}

/// The `--rate` of the rate check: beyond any peak, so the schedule is
/// always behind and every connection is always busy.
const RATE_BEYOND_PEAK: &str = "10000000";
const RATE_SUFFIX: &str = " --rate";

const FULL_CONCURRENCY: [usize; 10] = [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000];
const FULL_BODIES: [usize; 4] = [5, 1024, 58 * 1024, 1 << 20];
const QUICK_CONCURRENCY: [usize; 3] = [1, 50, 1000];

fn list(text: &str) -> Result<Vec<usize>, String> {
    text.split(',').map(|t| t.trim().parse().map_err(|_| format!("{t:?} is not a number"))).collect()
}

impl Options {
    /// `Ok(None)` when neither --quick nor --full was given (plain `cargo bench`).
    pub fn parse(args: &[String]) -> Result<Option<Options>, String> {
        let mut o = Options {
            full: false,
            soak: false,
            seconds: 0.0,
            rounds: 3,
            chunked: false,
            concurrency: vec![],
            bodies: vec![],
            rate_check: false,
            https: false,
            reconnect: false,
        };
        let mut mode = None;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || it.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--quick" => mode = Some(false),
                "--full" => mode = Some(true),
                // Whole seconds: wrk and h2load take no fractions.
                "--seconds" => {
                    o.seconds = value()?.parse::<u32>().map_err(|_| "--seconds takes a whole number")? as f64
                }
                "--rounds" => o.rounds = value()?.parse().map_err(|_| "--rounds takes a number")?,
                "--chunked" => o.chunked = true,
                "--soak" => o.soak = true,
                "--rate-check" => o.rate_check = true,
                "--https" => o.https = true,
                "--reconnect" => o.reconnect = true,
                "--concurrency" => o.concurrency = list(value()?)?,
                "--bodies" => o.bodies = list(value()?)?,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        let Some(full) = mode else { return Ok(None) };
        o.full = full;
        if o.rounds < 3 {
            return Err("each cell is a median of at least 3 rounds".into());
        }
        if o.seconds <= 0.0 {
            o.seconds = if full { 2.0 } else { 1.0 };
        }
        if o.concurrency.is_empty() {
            o.concurrency = if full { FULL_CONCURRENCY.to_vec() } else { QUICK_CONCURRENCY.to_vec() };
        }
        if o.bodies.is_empty() {
            o.bodies = if full { FULL_BODIES.to_vec() } else { vec![5] };
        }
        Ok(Some(o))
    }
}

/// CPUs in this process's affinity mask.
fn affinity_cpus() -> Vec<usize> {
    // SAFETY: the set is zero-initialised and only read through the libc macros.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize).filter(|&cpu| libc::CPU_ISSET(cpu, &set)).collect()
    }
}

/// Makes `command` run on `cpus` only.
fn pin(command: &mut Command, cpus: Vec<usize>) {
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls sched_setaffinity on a set built on its own stack.
    unsafe {
        command.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &cpu in &cpus {
                libc::CPU_SET(cpu, &mut set);
            }
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            Ok(())
        });
    }
}

enum Target {
    Epoll { child: Child, url: String },
    Nginx(nginx::Nginx),
}

impl Target {
    fn url(&self) -> &str {
        match self {
            Target::Epoll { url, .. } => url,
            Target::Nginx(nginx) => &nginx.url,
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Target::Epoll { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_target(body: usize, o: &Options, cpus: &[usize], scratch: &Path) -> Result<Target, String> {
    if o.https {
        return nginx::start(body, scratch, |command| pin(command, cpus.to_vec())).map(Target::Nginx);
    }
    let chunked = o.chunked;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command.args(["--serve-epoll", &body.to_string(), if chunked { "chunked" } else { "length" }]);
    command.stdout(Stdio::piped());
    pin(&mut command, cpus.to_vec());
    let mut child = command.spawn().map_err(|e| format!("cannot start the target server: {e}"))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no server stdout")?).read_line(&mut line).map_err(|e| e.to_string())?;
    let port: u16 = line.trim().parse().map_err(|_| format!("the target server said {line:?}"))?;
    Ok(Target::Epoll { child, url: format!("http://127.0.0.1:{port}/") })
}

/// One measured run of one generator.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    rps: f64,
    requests: u64,
    errors: u64,
    cpu_seconds: f64,
    rss_kb: u64,
}

fn run_once(tool: &Tool, url: &str, c: usize, o: &Options, cpus: &[usize], scratch: &Path) -> Result<Sample, String> {
    let out_path = scratch.join("out.txt");
    let out = File::create(&out_path).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new(&tool.program);
    let mode = tools::Mode { tls: o.https, reconnect: o.reconnect };
    command.args(tool.args(url, c, o.seconds, cpus.len(), mode)).stdin(Stdio::null()).stdout(out).stderr(err);
    pin(&mut command, cpus.to_vec());
    let child = command.spawn().map_err(|e| format!("{}: {e}", tool.name))?;
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + Duration::from_secs_f64(o.seconds + 30.0);
    // SAFETY: wait4 writes into the two locals, which outlive each call.
    let usage = unsafe {
        let mut status = 0;
        let mut usage: libc::rusage = std::mem::zeroed();
        loop {
            let rc = libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage);
            if rc == pid {
                break usage;
            }
            if Instant::now() > deadline {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut usage);
                return Err(format!("{} did not finish within {:?}", tool.name, deadline));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let text = std::fs::read_to_string(&out_path).map_err(|e| e.to_string())?;
    let parsed = tool.parse(&text, o.seconds).ok_or_else(|| {
        let tail: String = text.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        format!("{}: could not read its output ({tail})", tool.name)
    })?;
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Sample {
        rps: parsed.rps,
        requests: parsed.requests,
        errors: parsed.errors,
        cpu_seconds: secs(usage.ru_utime) + secs(usage.ru_stime),
        rss_kb: usage.ru_maxrss as u64,
    })
}

/// The median of each figure over a cell's rounds.
#[derive(Clone, Copy, Debug, Default)]
struct Cell {
    rps: f64,
    cpu_us_per_request: f64,
    rss_kb: u64,
    errors: u64,
    requests: u64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn summarize(samples: &[Sample]) -> Cell {
    let m = |f: fn(&Sample) -> f64| median(samples.iter().map(f).collect());
    Cell {
        rps: m(|s| s.rps),
        cpu_us_per_request: m(|s| if s.requests == 0 { f64::NAN } else { 1e6 * s.cpu_seconds / s.requests as f64 }),
        rss_kb: m(|s| s.rss_kb as f64) as u64,
        errors: m(|s| s.errors as f64) as u64,
        requests: m(|s| s.requests as f64) as u64,
    }
}

/// (body, concurrency, tool name) → cell.
type Results = BTreeMap<(usize, usize, String), Cell>;

pub fn run(o: &Options) -> Result<(), String> {
    let cpus = affinity_cpus();
    let (server_cpus, gen_cpus) =
        if cpus.len() >= 2 { (vec![cpus[0]], cpus[1..].to_vec()) } else { (cpus.clone(), cpus.clone()) };
    let split = if cpus.len() >= 2 {
        format!("server pinned to CPU {:?}, generators to CPUs {:?}", server_cpus, gen_cpus)
    } else {
        "only one CPU: server and generators share it (numbers are indicative only)".to_string()
    };
    println!("matrix: {split}");
    let (mut tools, mut missing) = tools::discover(PathBuf::from(env!("CARGO_BIN_EXE_vastar")));
    if o.rate_check {
        tools.retain(Tool::is_vastar);
        let rated: Vec<Tool> = tools.iter().map(|t| t.with_args(RATE_SUFFIX, &["--rate", RATE_BEYOND_PEAK])).collect();
        tools.extend(rated);
        missing.clear();
    }
    for name in &missing {
        println!("matrix: {name} is not installed; skipped");
    }
    tools.retain(|t| t.supports(tools::Mode { tls: o.https, reconnect: o.reconnect }));
    if o.https && o.reconnect {
        let resuming: Vec<Tool> =
            tools.iter().filter(|t| t.is_vastar()).map(|t| t.with_args(" resume", &["--tls-resume"])).collect();
        tools.extend(resuming);
    }
    let scratch = std::env::temp_dir().join(format!("vastar-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let mut results = Results::new();
    for &body in &o.bodies {
        let target = start_target(body, o, &server_cpus, &scratch)?;
        for &c in &o.concurrency {
            let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); tools.len()];
            for round in 0..o.rounds {
                for k in 0..tools.len() {
                    let i = (k + round) % tools.len();
                    match run_once(&tools[i], target.url(), c, o, &gen_cpus, &scratch) {
                        Ok(sample) => samples[i].push(sample),
                        Err(e) => println!("matrix: {e}"),
                    }
                }
            }
            for (tool, s) in tools.iter().zip(&samples) {
                if s.is_empty() {
                    continue;
                }
                let cell = summarize(s);
                println!(
                    "body {body:>7} B  c {c:>5}  {:<18} {:>10.0} req/s {:>7.2} us/req CPU {:>7.1} MB RSS {:>6} errors",
                    tool.name,
                    cell.rps,
                    cell.cpu_us_per_request,
                    cell.rss_kb as f64 / 1024.0,
                    cell.errors
                );
                results.insert((body, c, tool.name.clone()), cell);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let names: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
    let vastars: Vec<String> = tools.iter().filter(|t| t.is_vastar()).map(|t| t.name.clone()).collect();
    let benchmark_md = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("BENCHMARK.md");
    let existing = std::fs::read_to_string(&benchmark_md).unwrap_or_default();
    if o.rate_check {
        let section = rate_rows(&results, &tools, o);
        std::fs::write(&benchmark_md, rate_section::splice(&existing, &section)).map_err(|e| e.to_string())?;
        println!("matrix: wrote the rate-check section of {}", benchmark_md.display());
        return Ok(());
    }
    let mut md = markdown(o, &results, &names, &vastars, &split, &missing);
    if let Some(section) = rate_section::find(&existing).filter(|_| o.full) {
        md = rate_section::splice(&md, section);
    }
    let csv = csv(&results, &vastars, &names);
    let (md_path, csv_path) = if o.https {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
        let name = if o.reconnect { "bench-https-reconnect" } else { "bench-https" };
        (dir.join(format!("{name}.md")), dir.join(format!("{name}.csv")))
    } else if o.full {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        (root.join("BENCHMARK.md"), root.join("BENCHMARK.csv"))
    } else {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
        (dir.join("bench-quick.md"), dir.join("bench-quick.csv"))
    };
    std::fs::write(&md_path, md).map_err(|e| e.to_string())?;
    std::fs::write(&csv_path, csv).map_err(|e| e.to_string())?;
    println!("matrix: wrote {} and {}", md_path.display(), csv_path.display());
    if o.soak {
        soak()?;
    }
    Ok(())
}

/// The rate-check section: each vastar backend closed-loop next to itself under `--rate`.
fn rate_rows(results: &Results, tools: &[Tool], o: &Options) -> String {
    let mut rows = Vec::new();
    for &c in &o.concurrency {
        for tool in tools.iter().filter(|t| !t.name.contains("--rate")) {
            let closed = results.get(&(5, c, tool.name.clone()));
            let rated = results.get(&(5, c, format!("{}{RATE_SUFFIX}", tool.name)));
            if let (Some(closed), Some(rated)) = (closed, rated) {
                let backend = tool.name.trim_start_matches("vastar (").trim_end_matches(')').to_string();
                rows.push((backend, c, closed.rps, rated.rps, closed.cpu_us_per_request, rated.cpu_us_per_request));
            }
        }
    }
    rate_section::render(&rows, &machine(), o.seconds, o.rounds, RATE_BEYOND_PEAK)
}

/// Runs the soak test (60 s at c = 1000 on each backend) with the cargo
/// that runs this benchmark.
fn soak() -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!("matrix: soak test, about two minutes");
    let status = Command::new(cargo)
        .args(["test", "--release", "--test", "soak", "--", "--ignored", "--nocapture"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .map_err(|e| format!("cannot run the soak test: {e}"))?;
    if status.success() { Ok(()) } else { Err("the soak test failed".into()) }
}

/// Best requests/sec among the peers (not vastar) at a cell.
fn best_peer(results: &Results, body: usize, c: usize, vastars: &[String]) -> Option<f64> {
    results
        .iter()
        .filter(|((b, cc, name), _)| *b == body && *cc == c && !vastars.contains(name))
        .map(|(_, cell)| cell.rps)
        .reduce(f64::max)
}

fn ratio(results: &Results, key: (usize, usize, &str), other: &str, f: fn(&Cell) -> f64) -> Option<f64> {
    let mine = results.get(&(key.0, key.1, key.2.to_string()))?;
    let theirs = results.get(&(key.0, key.1, other.to_string()))?;
    Some(f(mine) / f(theirs))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{date}, {cpu}, {cores} CPUs, Linux {}", kernel.trim())
}

fn markdown(
    o: &Options,
    results: &Results,
    names: &[String],
    vastars: &[String],
    split: &str,
    missing: &[&str],
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# vastar benchmarks\n");
    let _ = writeln!(
        md,
        "Measured {}. The target is {}; {split}.",
        machine(),
        match (o.https, o.reconnect) {
            (false, _) => "a single-threaded epoll server (`benches/matrix/epoll_server.rs`)",
            (true, false) =>
                "nginx over HTTPS, one worker, ECDSA P-256 (`benches/matrix/nginx.rs`); no tool verifies the certificate (vastar -k, oha --insecure)",
            (true, true) =>
                "nginx over HTTPS (`benches/matrix/nginx.rs`) with a new connection and handshake per request (wrk: Connection: close; h2load cannot); vastar also with --tls-resume",
        }
    );
    let _ = writeln!(
        md,
        "Each run lasts {} s; each cell is the median of {} rounds, with the tools alternating within each round. CPU is the generator's user + system time per completed request and RSS its peak resident memory, both from `wait4`.",
        o.seconds, o.rounds
    );
    if !missing.is_empty() {
        let _ = writeln!(md, "\nNot installed, so not measured: {}.", missing.join(", "));
    }
    let mode = match (o.https, o.reconnect) {
        (false, _) => "",
        (true, false) => " --https",
        (true, true) => " --https --reconnect",
    };
    let _ = writeln!(
        md,
        "\nReproduce with `cargo bench --bench matrix -- {}{mode}`.\n",
        if o.full { "--full" } else { "--quick" }
    );
    headline(&mut md, results, vastars, o);
    for &body in &o.bodies {
        let large = body >= 58 * 1024;
        let _ = writeln!(md, "## {} bodies{}\n", size_name(body), if o.chunked { " (chunked)" } else { "" });
        let unit = if large { "MiB/s" } else { "requests/sec" };
        table(&mut md, &format!("Throughput ({unit})"), results, body, o, names, vastars, |cell| {
            if large {
                format!("{:.0}", cell.rps * body as f64 / (1024.0 * 1024.0))
            } else {
                format!("{:.0}", cell.rps)
            }
        });
        table(&mut md, "CPU per request (us)", results, body, o, names, &[], |cell| {
            format!("{:.2}", cell.cpu_us_per_request)
        });
        table(&mut md, "Peak RSS (MB)", results, body, o, names, &[], |cell| {
            format!("{:.1}", cell.rss_kb as f64 / 1024.0)
        });
        let errors: Vec<String> = results
            .iter()
            .filter(|((b, _, _), cell)| *b == body && cell.errors > 0)
            .map(|((_, c, name), cell)| format!("{name} at c={c}: {} of {}", cell.errors, cell.requests + cell.errors))
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(md, "Errors (median per run): {}.\n", errors.join("; "));
        }
    }
    md
}

fn size_name(body: usize) -> String {
    match body {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1024 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

#[allow(clippy::too_many_arguments)]
fn table(
    md: &mut String,
    title: &str,
    results: &Results,
    body: usize,
    o: &Options,
    names: &[String],
    ratio_for: &[String],
    f: impl Fn(&Cell) -> String,
) {
    let _ = writeln!(md, "### {title}\n");
    let mut header = format!("| c | {} |", names.join(" | "));
    let mut rule = format!("|---:|{}", "---:|".repeat(names.len()));
    for v in ratio_for {
        let _ = write!(header, " {v} / best peer |");
        rule.push_str("---:|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for &c in &o.concurrency {
        let mut row = format!("| {c} |");
        for name in names {
            let cell = results.get(&(body, c, name.clone())).map_or("-".to_string(), &f);
            let _ = write!(row, " {cell} |");
        }
        for v in ratio_for {
            let r = results.get(&(body, c, v.clone())).zip(best_peer(results, body, c, ratio_for));
            let _ = write!(row, " {} |", r.map_or("-".to_string(), |(cell, best)| format!("{:.2}x", cell.rps / best)));
        }
        let _ = writeln!(md, "{row}");
    }
    let _ = writeln!(md);
}

/// The ratios the performance goals are stated in, at the smallest body.
fn headline(md: &mut String, results: &Results, vastars: &[String], o: &Options) {
    let body = o.bodies[0];
    let _ = writeln!(md, "## Headline ({} bodies)\n", size_name(body));
    let _ = writeln!(
        md,
        "| vastar | c | req/s vs wrk | CPU/req vs wrk | RSS vs wrk | req/s vs hey | req/s vs oha |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for v in vastars {
        for &c in &o.concurrency {
            let key = (body, c, v.as_str());
            let show = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2}x"));
            let _ = writeln!(
                md,
                "| {v} | {c} | {} | {} | {} | {} | {} |",
                show(ratio(results, key, "wrk", |c| c.rps)),
                show(ratio(results, key, "wrk", |c| c.cpu_us_per_request)),
                show(ratio(results, key, "wrk", |c| c.rss_kb as f64)),
                show(ratio(results, key, "hey", |c| c.rps)),
                show(ratio(results, key, "oha", |c| c.rps)),
            );
        }
    }
    let _ = writeln!(md);
}

fn csv(results: &Results, vastars: &[String], _names: &[String]) -> String {
    let mut out = String::from(
        "body_bytes,concurrency,tool,requests_per_sec,mib_per_sec,cpu_us_per_request,peak_rss_kb,errors,vs_best_peer\n",
    );
    for ((body, c, name), cell) in results {
        let vs = if vastars.contains(name) {
            best_peer(results, *body, *c, vastars).map_or(String::new(), |b| format!("{:.3}", cell.rps / b))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{body},{c},{name},{:.1},{:.2},{:.3},{},{},{vs}",
            cell.rps,
            cell.rps * *body as f64 / (1024.0 * 1024.0),
            cell.cpu_us_per_request,
            cell.rss_kb,
            cell.errors
        );
    }
    out
}
