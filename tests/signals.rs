//! The binary under Ctrl-C and in a pipe: a partial report with the aborted
//! count and exit status 130, an immediate exit on a second Ctrl-C, and no
//! escape codes or progress line when output is not a terminal.
#![allow(unsafe_code, reason = "sending signals to the child under test")]

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Scripted, send};

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A server that answers every request after `delay`.
fn slow_server(delay: Duration) -> Scripted {
    Scripted::start(move |_| {
        std::thread::sleep(delay);
        send(OK)
    })
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_vastar"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: kill() only sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}

/// Waits for the child, failing the test if it takes longer than `limit`.
fn finish_within(mut child: Child, limit: Duration) -> Output {
    let begun = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if begun.elapsed() > limit {
            let _ = child.kill();
            panic!("vastar did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn ctrl_c_prints_a_partial_report_and_exits_130() {
    // Responses come 3 s after each request: at 4 s the first four are done
    // and four more are in flight; they cannot finish within the 1 s grace.
    let server = slow_server(Duration::from_secs(3));
    let child = spawn(&["-z", "30s", "-c", "4", &server.url("/")]);
    std::thread::sleep(Duration::from_secs(4));
    signal(&child, libc::SIGINT);
    let out = finish_within(child, Duration::from_secs(5));
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("(interrupted)"), "{report}");
    assert!(report.contains("[200] 4 responses"), "{report}");
    assert!(report.contains("Aborted:      4 in flight when interrupted"), "{report}");
    assert!(!report.contains("Error distribution"), "aborted requests are not errors:\n{report}");
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    let server = slow_server(Duration::from_secs(3));
    let child = spawn(&["-z", "30s", "-c", "2", &server.url("/")]);
    std::thread::sleep(Duration::from_millis(700));
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(100));
    let second = Instant::now();
    signal(&child, libc::SIGINT);
    let out = finish_within(child, Duration::from_secs(3));
    assert!(second.elapsed() < Duration::from_millis(500), "exited {:?} after the second signal", second.elapsed());
    assert_eq!(out.status.code(), Some(130));
    assert!(out.stdout.is_empty(), "no report after a hard exit");
}

#[test]
fn sigterm_is_graceful_too() {
    let server = slow_server(Duration::from_millis(10));
    let child = spawn(&["-z", "30s", "-c", "2", &server.url("/")]);
    std::thread::sleep(Duration::from_millis(800));
    signal(&child, libc::SIGTERM);
    let out = finish_within(child, Duration::from_secs(4));
    assert_eq!(out.status.code(), Some(143));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Summary:"));
}

#[test]
fn piped_output_has_no_escape_codes_and_no_progress() {
    let server = slow_server(Duration::ZERO);
    let out = Command::new(env!("CARGO_BIN_EXE_vastar"))
        .args(["-z", "600ms", "-c", "2", &server.url("/")])
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b));
    assert!(out.stderr.is_empty(), "nothing but the report: {}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.chars().all(|c| c.is_ascii() || c == '\u{2588}'), "only the histogram's blocks are not ASCII");
    // Without a UTF-8 locale the blocks become '#'.
    let out = Command::new(env!("CARGO_BIN_EXE_vastar"))
        .args(["-n", "50", "-c", "2", &server.url("/")])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(out.stdout.is_ascii() && String::from_utf8_lossy(&out.stdout).contains("|#"));
}

/// Runs vastar under a pseudo-terminal with `script`, returning what it printed.
fn in_terminal(args: &str, no_color_env: bool) -> Option<String> {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("`script` (util-linux) is not installed; skipping the terminal test");
        return None;
    }
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_vastar"));
    let mut script = Command::new("script");
    script.args(["-qec", &command, "/dev/null"]).env("TERM", "xterm-256color").env("LANG", "C.UTF-8");
    if no_color_env {
        script.env("NO_COLOR", "");
    } else {
        script.env_remove("NO_COLOR");
    }
    let out = script.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_terminal_gets_colors_unless_no_color_or_the_flag_says_otherwise() {
    let server = slow_server(Duration::ZERO);
    let url = server.url("/");
    let Some(colored) = in_terminal(&format!("-n 100 -c 2 {url}"), false) else { return };
    assert!(colored.contains("\x1b[38;5;22m"), "the histogram's first gradient color:\n{colored}");
    assert!(colored.contains('\u{2588}'));
    let plain_env = in_terminal(&format!("-n 100 -c 2 {url}"), true).unwrap();
    assert!(
        !plain_env.contains("\x1b[38;5") && plain_env.contains("Summary:"),
        "NO_COLOR, even empty, turns colors off"
    );
    let plain_flag = in_terminal(&format!("-n 100 -c 2 --no-color {url}"), false).unwrap();
    assert!(!plain_flag.contains("\x1b[38;5") && plain_flag.contains("Summary:"));
}

#[test]
fn ctrl_c_still_writes_the_html_report() {
    let server = slow_server(Duration::from_millis(1));
    let page = std::env::temp_dir().join(format!("vastar-signals-{}.html", std::process::id()));
    let child = spawn(&["-z", "30s", "-c", "2", "--html", page.to_str().unwrap(), &server.url("/")]);
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGINT);
    let out = finish_within(child, Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&page).expect("the report was written");
    let _ = std::fs::remove_file(&page);
    assert!(html.contains("(interrupted)") && html.contains("id=\"throughput\""), "{}", &html[..html.len().min(2000)]);
    assert!(html.trim_end().ends_with("</html>"), "the file is complete");
}

#[test]
fn ctrl_c_during_find_max_prints_what_was_found_so_far() {
    // Steps of 2 s from 100 req/s: at 3 s the first step has passed and
    // the second is under way; it ends unjudged.
    let server = Scripted::start(|_| send(OK));
    let args = ["--find-max", "--slo", "p50<50ms", "--find-max-start", "100", "--find-max-step", "2s", "-c", "4"];
    let child = spawn(&[&args[..], &[server.url("/").as_str()]].concat());
    std::thread::sleep(Duration::from_secs(3));
    signal(&child, libc::SIGINT);
    let out = finish_within(child, Duration::from_secs(5));
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        report.starts_with("Find max: interrupted; so far 100 req/s is the highest rate that met p50<50ms"),
        "{report}"
    );
    assert!(report.contains("    1  climb          100") && !report.contains("    2  climb"), "{report}");
}
