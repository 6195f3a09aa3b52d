//! Every flag of every command, given hostile values: tiny, huge, negative,
//! NaN, infinite, overlong, control characters, non-UTF-8, device files.
//! The binary must either accept the value (and then finish, or keep
//! serving for `serve`) or refuse it with exit status 2 and exactly one line
//! on stderr. It must never panic, abort, hang, or print a second line.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A target that refuses connections at once, so accepted runs end quickly.
const REFUSED: &str = "http://127.0.0.1:1/";

/// Values that break naive parsing and arithmetic.
fn hostile_values() -> Vec<OsString> {
    let text = [
        "",
        " ",
        "0",
        "-0",
        "-1",
        "1e-30",
        "1e-9",
        "0.0000001",
        "1e30",
        "1e308",
        "-1e308",
        "99999999999999999999",
        "18446744073709551616",
        "340282366920938463463374607431768211456",
        "NaN",
        "inf",
        "-inf",
        "0x10",
        "1_000",
        "1.5",
        "1..5",
        "5s5",
        "ms",
        "-5s",
        "99999999999999999999h",
        "1e30s",
        "9999-12-31T23:59:59Z",
        "2026-11-30T00:00:00é00:0",
        "2026-11-30T00:00:00.99999999999999999999Z",
        "\n",
        "a\r\nb: c",
        "é",
        "/dev/zero",
        "/",
        "http://[::1",
        "http://h:99999999999999999999/",
    ];
    let mut values: Vec<OsString> = text.iter().map(OsString::from).collect();
    values.push(OsString::from("9".repeat(4096)));
    values.push(OsString::from(format!("http://{}/", "a".repeat(4096))));
    values.push(OsString::from_vec(vec![0xff, 0xfe, b'1']));
    values
}

/// What one invocation did.
struct Ran {
    args: Vec<OsString>,
    /// Exit code; `None` when killed by a signal or still running at the limit.
    code: Option<i32>,
    timed_out: bool,
    stderr: String,
}

fn run(args: Vec<OsString>, limit: Duration) -> Ran {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vastar"))
        .args(&args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let begun = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if begun.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = String::new();
    use std::io::Read;
    let _ = child.stderr.take().expect("piped").read_to_string(&mut stderr);
    Ran { args, code: status.and_then(|s| s.code()), timed_out, stderr }
}

/// Runs every case, several at a time, and returns what each did.
fn run_all(cases: Vec<(Vec<OsString>, bool)>) -> Vec<(Ran, bool)> {
    let cases = std::sync::Mutex::new(cases.into_iter());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                loop {
                    let next = cases.lock().unwrap().next();
                    let Some((args, may_keep_running)) = next else { break };
                    let limit = if may_keep_running { Duration::from_secs(2) } else { Duration::from_secs(20) };
                    let ran = run(args, limit);
                    results.lock().unwrap().push((ran, may_keep_running));
                }
            });
        }
    });
    results.into_inner().unwrap()
}

fn args(parts: &[&str], value: &OsString, tail: &[&str]) -> Vec<OsString> {
    let mut all: Vec<OsString> = parts.iter().map(OsString::from).collect();
    all.push(value.clone());
    all.extend(tail.iter().map(OsString::from));
    all
}

/// Every (command line, may it legitimately keep running) to try.
fn corpus() -> Vec<(Vec<OsString>, bool)> {
    let bench_flags = [
        "-n",
        "-c",
        "-z",
        "-q",
        "--rate",
        "-m",
        "-d",
        "-D",
        "-T",
        "-H",
        "-t",
        "--connect-timeout",
        "-A",
        "-a",
        "--backend",
        "--io-uring-without",
        "-o",
        "--start-at",
        "--interval",
        "--assert",
        "-x",
        "--proxy-header",
        "--noproxy",
    ];
    let mut cases = Vec::new();
    for value in hostile_values() {
        for flag in bench_flags {
            // A small run by default, so that an accepted value ends quickly;
            // -n and -c themselves are given alone.
            let base: &[&str] = match flag {
                "-n" => &["-c", "1", "-t", "2s", "--connect-timeout", "1s"],
                "-c" => &["-z", "300ms", "--connect-timeout", "1s"],
                "-z" => &["-c", "1", "-t", "2s", "--connect-timeout", "1s"],
                _ => &["-n", "2", "-c", "1", "-t", "2s", "--connect-timeout", "1s"],
            };
            let mut line: Vec<&str> = base.to_vec();
            line.push(flag);
            cases.push((args(&line, &value, &[REFUSED]), false));
        }
        cases.push((args(&["-n", "1", "-c", "1"], &value, &[]), false));
        cases.push((args(&["merge"], &value, &[]), false));
        cases.push((args(&["merge", "-o"], &value, &["-"]), false));
        cases.push((args(&["merge", "--assert"], &value, &["-"]), false));
        cases.push((args(&["diff"], &value, &["/nonexistent.json"]), false));
        cases.push((
            args(&["diff", "/nonexistent.json", "/nonexistent.json", "--fail-on-regression"], &value, &[]),
            false,
        ));
        cases.push((args(&["plot"], &value, &[]), false));
        cases.push((args(&["completions"], &value, &[]), false));
        cases.push((args(&["man"], &value, &[]), false));
        for flag in ["--listen", "--body-bytes", "--threads"] {
            let listen: &[&str] = if flag == "--listen" { &["serve"] } else { &["serve", "--listen", "127.0.0.1:0"] };
            let mut line = listen.to_vec();
            line.push(flag);
            cases.push((args(&line, &value, &[]), true));
        }
    }
    cases
}

#[test]
fn hostile_arguments_get_one_line_and_exit_2_never_a_panic() {
    let results = run_all(corpus());
    let mut failures = Vec::new();
    for (ran, may_keep_running) in &results {
        let shown = format!("{:?}", ran.args).chars().take(200).collect::<String>();
        let lines = ran.stderr.lines().count();
        let problem = if ran.stderr.contains("panicked") || ran.stderr.contains("RUST_BACKTRACE") {
            Some(format!("panicked: {}", ran.stderr.lines().next().unwrap_or("")))
        } else if ran.timed_out && !may_keep_running {
            Some("did not finish within 20 s".to_string())
        } else if ran.timed_out {
            None
        } else {
            match ran.code {
                None => Some("killed by a signal (abort?)".to_string()),
                Some(2) if lines != 1 || !ran.stderr.starts_with("vastar: ") => {
                    Some(format!("exit 2 with {lines} lines on stderr: {:?}", ran.stderr))
                }
                Some(0..=2) => None,
                Some(code) => Some(format!("exit status {code}: {}", ran.stderr.lines().next().unwrap_or(""))),
            }
        };
        if let Some(problem) = problem {
            failures.push(format!("{shown}: {problem}"));
        }
    }
    assert!(results.len() > 800, "the corpus ran {} cases", results.len());
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), results.len(), failures.join("\n"));
}

/// A real result file whose named metrics (and its intervals') are made
/// hostile: bucket indexes past the last, counts that overflow alone or
/// when merged, wrong types, names no vastar knows. `merge`, `diff` and
/// `plot` must read each, or refuse it with one line and exit 2; unknown
/// names are left out, as unknown fields are.
#[test]
fn hostile_metrics_in_a_result_file_are_refused_with_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_vastar"))
        .args(["--demo", "-n", "200", "-c", "2", "--interval", "100ms", "-o", "json", "--quiet"])
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let original: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(original["metrics"]["ttfb"]["histogram"]["count"].as_u64() > Some(0), "the run measured ttfb");
    let interval = (0..).find(|&i| original["timeline"]["intervals"][i]["metrics"]["ttfb"].is_object()).unwrap();
    let ttfb = "/metrics/ttfb/histogram";
    let in_interval = format!("/timeline/intervals/{interval}/metrics/ttfb");
    let huge = serde_json::Value::from(u64::MAX);
    let cases: Vec<(String, serde_json::Value, bool)> = vec![
        (format!("{ttfb}/buckets/0/0"), huge.clone(), false),
        (format!("{ttfb}/buckets/0/0"), 4608.into(), false),
        (format!("{ttfb}/buckets/0/0"), 1e30.into(), false),
        (format!("{ttfb}/buckets/0/1"), huge.clone(), false),
        (format!("{ttfb}/count"), huge.clone(), false),
        // Half of u64::MAX more each: fits in one file, overflows when merged.
        (format!("{ttfb}/buckets/0/1"), (u64::MAX / 2 + 1).into(), false),
        (format!("{ttfb}/sum_ns"), 1e300.into(), false),
        (format!("{ttfb}/min_ns"), huge.clone(), false),
        (ttfb.to_string(), 7.into(), false),
        ("/metrics".into(), "not an object".into(), false),
        (format!("{in_interval}/buckets/0/0"), 99_999.into(), false),
        (format!("{in_interval}/buckets/0/1"), huge.clone(), false),
        (in_interval.clone(), serde_json::json!([1, 2]), false),
        // Not a metric, but `plot` once reported it as a failure to write.
        ("/histograms/corrected/count".into(), huge.clone(), false),
        // Names no vastar knows: left out, whatever they hold.
        ("/metrics/from_the_future".into(), serde_json::json!({"histogram": "?"}), true),
        (in_interval.replace("ttfb", "from_the_future"), 7.into(), true),
    ];
    let dir = std::env::temp_dir().join(format!("vastar-hostile-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (i, (path, value, readable)) in cases.iter().enumerate() {
        let mut doc = original.clone();
        match path.rsplit_once('/') {
            Some((parent, key)) if doc.pointer(path).is_none() => {
                doc.pointer_mut(parent)
                    .and_then(|p| p.as_object_mut())
                    .expect(parent)
                    .insert(key.into(), value.clone());
            }
            _ => *doc.pointer_mut(path).unwrap_or_else(|| panic!("{path}")) = value.clone(),
        }
        let file = dir.join(format!("{i}.json"));
        std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
        let file = file.to_str().unwrap();
        for args in [vec!["merge", file, file], vec!["diff", file, file], vec!["plot", file]] {
            let ran = run(args.iter().map(OsString::from).collect(), Duration::from_secs(20));
            let one_line = ran.stderr.lines().count() == 1 && ran.stderr.starts_with("vastar: ");
            let fine = match ran.code {
                Some(0) => true,
                Some(2) => one_line && !*readable,
                _ => false,
            };
            if !fine || ran.stderr.contains("panicked") {
                failures.push(format!("{path} = {value}: {args:?}: exit {:?}: {}", ran.code, ran.stderr.trim_end()));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
