//! The `vastar` binary as a user meets it: exit codes, one-line errors,
//! help and version, the built-in demo, and a report on stdout.

use std::process::{Command, Output};

fn vastar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vastar")).args(args).output().expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn invalid_input_gives_one_line_and_exit_code_2() {
    let dir = std::env::temp_dir().join(format!("vastar-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.json");
    let missing = missing.to_str().unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let garbage = garbage.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["-c", "0", "http://127.0.0.1:1/"], "-c: must be at least 1"),
        (&["-n", "10", "-c", "50", "http://127.0.0.1:1/"], "each connection needs at least one request"),
        (&["-z", "5y", "http://127.0.0.1:1/"], "unknown unit"),
        (&["-H", "NoColon", "http://127.0.0.1:1/"], "no colon"),
        (&["-H", "X: a\r\nEvil: b", "http://127.0.0.1:1/"], "control character"),
        (&["-a", "userpass", "http://127.0.0.1:1/"], "user:password"),
        (&["-D", missing, "http://127.0.0.1:1/"], "cannot read the body file"),
        (&["-d", "x", "-D", missing, "http://127.0.0.1:1/"], "cannot be used with"),
        (&["127.0.0.1:8080"], "needs a scheme"),
        (&["http:///nohost"], "no host"),
        (&["--cacert", missing, "https://127.0.0.1:1/"], "--cacert: cannot read"),
        (&["--cacert", garbage, "https://127.0.0.1:1/"], "--cacert: the file holds no certificate"),
        (&["--cert", garbage, "--key", garbage, "https://127.0.0.1:1/"], "--cert/--key: --cert holds no certificate"),
        (&["--cert", garbage, "https://127.0.0.1:1/"], "--cert: needs --key"),
        (&["--tls-version", "1.1", "https://127.0.0.1:1/"], "use 1.2 or 1.3"),
        (&["--tls", "https://127.0.0.1:1/"], "--demo"),
        (&["--connect-to", "h", "https://127.0.0.1:1/"], "--connect-to"),
        (&["ftp://127.0.0.1/"], "only http:// and https://"),
        (&["http://127.0.0.1:65536/"], "out of range"),
        (&["http://127.0.0.1:0/"], "out of range"),
        (&["-c", "abc", "http://127.0.0.1:1/"], "invalid value 'abc'"),
        (&["--no-such-flag", "http://127.0.0.1:1/"], "unexpected argument"),
        (&[], "no target URL"),
        (&["serve", "--ttft", "1s"], "--ttft: needs --llm"),
        (&["serve", "--tokens-per-event", "2"], "--tokens-per-event: needs --llm"),
        (&["serve", "--llm", "--itl", "2h"], "--itl: \"2h\" is too long"),
        (&["serve", "--llm", "--ttft", "80"], "--ttft: \"80\" has no unit"),
        (&["serve", "--llm", "--tokens", "0"], "--tokens"),
        (&["serve", "--llm", "--body-bytes", "10"], "cannot be used with"),
        (&["serve", "--http2", "--chunked"], "--chunked: cannot be used with --http2"),
        (&["serve", "--max-streams-per-connection", "5"], "--max-streams-per-connection: needs --http2"),
        (&["serve", "--http2", "--max-streams-per-connection", "0"], "--max-streams-per-connection"),
        (&["--llm", "http://127.0.0.1:1/"], "--llm: applies to --demo only"),
        (
            &["--io-uring-without", "min-wait,batched", "http://127.0.0.1:1/"],
            "--io-uring-without: \"batched\" is not an io_uring feature; use min-wait, incremental, multishot, defer-taskrun",
        ),
        (
            &["--backend", "portable", "--io-uring-without", "incremental", "http://127.0.0.1:1/"],
            "--io-uring-without: applies to io_uring only; leave it out with --backend portable",
        ),
        (&["completions", "nosuchshell"], "invalid value 'nosuchshell' for '<SHELL>' [possible values: bash,"),
        (&["completions"], "<SHELL>"),
        (&["completions", "bash", "zsh"], "unexpected argument 'zsh'"),
        (&["man", "vastar"], "unexpected argument 'vastar'"),
        (&["man", "--demo"], "unexpected argument '--demo'"),
    ];
    for &(args, needle) in cases {
        let out = vastar(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err:?}");
        assert!(err.starts_with("vastar: ") && err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unresolvable_host_is_a_runtime_error() {
    let out = vastar(&["-n", "1", "-c", "1", "http://no-such-host.invalid/"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cannot resolve host \"no-such-host.invalid\"") && err.lines().count() == 1, "{err}");
}

#[test]
fn help_and_version() {
    let out = vastar(&["-h"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for flag in [
        "-n <REQUESTS>",
        "-c <CONCURRENCY>",
        "-z <DURATION>",
        "-q <QPS>",
        "-m <METHOD>",
        "-d <BODY>",
        "-D <BODY_FILE>",
        "-T <CONTENT_TYPE>",
        "-H <HEADER>",
        "-t <TIMEOUT>",
        "-A <ACCEPT>",
        "-a <AUTH>",
        "--disable-keepalive",
        "--disable-compression",
        "--disable-redirects",
        "--demo",
        "[default: 200]",
        "[default: 50]",
        "[default: GET]",
        "[default: 20]",
    ] {
        assert!(help.contains(flag), "help lacks {flag}:\n{help}");
    }
    let out = vastar(&["-V"]);
    assert_eq!(stdout(&out).trim(), format!("vastar {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn the_demo_benchmarks_the_built_in_server() {
    let out = vastar(&["--demo", "-n", "500", "-c", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stdout(&out);
    for needle in ["Summary:", "Requests/sec:", "Status code distribution:", "[200] 500 responses", "Details"] {
        assert!(report.contains(needle), "missing {needle:?} in\n{report}");
    }
    assert!(stderr(&out).contains("built-in server"));
}

#[test]
fn the_llm_demo_streams_chat_completions_from_the_mock() {
    let out = vastar(&["--demo", "--llm", "-n", "20", "-c", "5"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("[200] 20 responses"), "{}", stdout(&out));
    assert!(stderr(&out).contains("mock LLM") && stderr(&out).contains("/v1/chat/completions"), "{}", stderr(&out));
    // The user's method wins: the mock answers GET with 404.
    let out = vastar(&["--demo", "--llm", "-n", "5", "-c", "1", "-m", "GET"]);
    assert!(stdout(&out).contains("[404] 5 responses"), "{}", stdout(&out));
}

#[test]
fn a_body_file_is_sent() {
    let dir = std::env::temp_dir().join(format!("vastar-body-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body = dir.join("body.json");
    std::fs::write(&body, br#"{"prompt":"bench"}"#).unwrap();
    let out = vastar(&[
        "--demo",
        "-n",
        "20",
        "-c",
        "2",
        "-m",
        "POST",
        "-T",
        "application/json",
        "-D",
        body.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("[200] 20 responses"));
    let huge = dir.join("huge");
    std::fs::File::create(&huge).unwrap().set_len(300 << 20).unwrap();
    let out = vastar(&["--demo", "-D", huge.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("limited to 256 MiB"), "{}", stderr(&out));
    let empty = dir.join("empty");
    std::fs::write(&empty, b"").unwrap();
    let out = vastar(&["--demo", "-D", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is empty"));
    std::fs::remove_dir_all(&dir).unwrap();
}
