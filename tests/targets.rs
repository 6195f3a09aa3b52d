//! Many requests instead of one: target files (vegeta's format and URL
//! lists), templates, and per-target results, on every backend, against a
//! server that records every request byte for byte.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use common::{Reply, Scripted, accounted, each_backend, run, send, text, vastar};
use vastar::cli::Cli;
use vastar::config::Config;

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Answers HEAD without a body, everything else with `ok`.
fn answer(seen: &common::Seen) -> Reply {
    if seen.bytes.starts_with(b"HEAD ") { send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n") } else { send(OK) }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vastar-targets-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A config from vastar's flags alone (a target file instead of a URL).
fn config_of(args: &[&str]) -> Config {
    let cli = Cli::try_parse_from(std::iter::once("vastar").chain(args.iter().copied())).expect("arguments parse");
    cli.bench.to_config(cli.bench.url.as_deref().unwrap_or("")).expect("arguments are valid")
}

/// Five targets with different methods, headers and bodies, and the exact
/// bytes each must arrive as.
fn five_targets(server: &Scripted, name: &str) -> (PathBuf, Vec<Vec<u8>>) {
    let dir = scratch(name);
    let body = dir.join("thing.json");
    std::fs::write(&body, "{\"name\":\"thing\"}").unwrap();
    let base = server.url("");
    let file = dir.join("targets.txt");
    let text = format!(
        "# five endpoints\nGET {base}/items?page=2\nX-Account-ID: 8675309\n\n\
         POST {base}/things\nContent-Type: application/json\n@{body}\n\n\
         PUT {base}/things/7\nX-Mode: replace\n@{body}\n\n\
         DELETE {base}/things/7\n\n{base}/health\n\nHEAD {base}/ping\n",
        body = body.display()
    );
    std::fs::write(&file, text).unwrap();
    let host = format!("Host: {}\r\nUser-Agent: vastar/{}\r\n", server.addr, env!("CARGO_PKG_VERSION"));
    let gzip = "Accept-Encoding: gzip\r\n";
    let expected = [
        format!("GET /items?page=2 HTTP/1.1\r\n{host}{gzip}X-Account-ID: 8675309\r\n\r\n"),
        format!(
            "POST /things HTTP/1.1\r\n{host}Content-Type: application/json\r\nContent-Length: 16\r\n{gzip}\r\n\
             {{\"name\":\"thing\"}}"
        ),
        format!(
            "PUT /things/7 HTTP/1.1\r\n{host}Content-Type: text/html\r\nContent-Length: 16\r\n{gzip}\
             X-Mode: replace\r\n\r\n{{\"name\":\"thing\"}}"
        ),
        format!("DELETE /things/7 HTTP/1.1\r\n{host}{gzip}\r\n"),
        format!("GET /health HTTP/1.1\r\n{host}{gzip}\r\n"),
        format!("HEAD /ping HTTP/1.1\r\n{host}{gzip}\r\n"),
    ];
    (file, expected.into_iter().map(String::into_bytes).collect())
}

#[test]
fn a_target_file_arrives_byte_exact_in_order_with_exact_counts() {
    each_backend(|backend| {
        let server = Scripted::start(answer);
        let (file, expected) = five_targets(&server, "order");
        let file = file.to_str().unwrap();
        // One connection: the server sees the announced order itself.
        let outcome = run(config_of(&["--targets", file, "-n", "60", "-c", "1"]), backend);
        assert_eq!(accounted(&outcome), (60, 0, 0));
        {
            let seen = server.seen.lock().unwrap();
            for (i, s) in seen.iter().enumerate() {
                assert_eq!(text(&s.bytes), text(&expected[i % expected.len()]), "request {i}");
            }
        }
        // Several connections and workers: the counts stay exact.
        server.seen.lock().unwrap().clear();
        let outcome = run(config_of(&["--targets", file, "-n", "600", "-c", "6"]), backend);
        assert_eq!(accounted(&outcome), (600, 0, 0));
        let seen = server.seen.lock().unwrap();
        for want in &expected {
            assert_eq!(seen.iter().filter(|s| &s.bytes == want).count(), 100, "{}", text(want));
        }
        let rows = outcome.stats.targets.rows();
        assert_eq!(rows.iter().map(|r| (r.responses, r.errors)).collect::<Vec<_>>(), vec![(100, 0); 6]);
    });
}

#[test]
fn the_per_target_table_matches_the_server_counts() {
    let server = Scripted::start(|seen| {
        if seen.target == "/missing" { send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n") } else { send(OK) }
    });
    let dir = scratch("table");
    let file = dir.join("urls.txt");
    std::fs::write(&file, format!("{0}/a\n{0}/b\n{0}/missing\n", server.url(""))).unwrap();
    for backend in common::backend_flags() {
        server.seen.lock().unwrap().clear();
        let file = file.to_str().unwrap();
        let out = vastar(&["--targets", file, "-n", "301", "-c", "3", "-o", "json", "--backend", backend, "--quiet"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut served: BTreeMap<String, u64> = BTreeMap::new();
        for s in server.seen.lock().unwrap().iter() {
            *served.entry(s.target.clone()).or_default() += 1;
        }
        let rows = doc["targets"].as_array().expect("a targets section");
        let got: Vec<(String, u64)> = rows
            .iter()
            .map(|r| {
                (r["target"].as_str().unwrap().rsplit('/').next().unwrap().to_string(), r["requests"].as_u64().unwrap())
            })
            .collect();
        let want: Vec<(String, u64)> =
            ["a", "b", "missing"].iter().map(|t| (t.to_string(), served[&format!("/{t}")])).collect();
        assert_eq!(got, want, "{backend}");
        assert_eq!(want.iter().map(|(_, n)| n).sum::<u64>(), 301);
        assert_eq!(rows[2]["status_codes"]["404"].as_u64(), Some(served["/missing"]), "{backend}");
        assert_eq!(doc["run"]["requests"]["targets"].as_array().unwrap().len(), 3);
        // Two copies merged: every target's figures add up.
        let result = dir.join(format!("result-{backend}.json"));
        std::fs::write(&result, &out.stdout).unwrap();
        let merged = vastar(&["merge", "-o", "json", result.to_str().unwrap(), result.to_str().unwrap()]);
        assert!(merged.status.success(), "{}", text(&merged.stderr));
        let merged: serde_json::Value = serde_json::from_slice(&merged.stdout).unwrap();
        let doubled: Vec<u64> =
            merged["targets"].as_array().unwrap().iter().map(|r| r["requests"].as_u64().unwrap()).collect();
        assert_eq!(doubled, want.iter().map(|(_, n)| 2 * n).collect::<Vec<_>>(), "{backend}");
        // Another list of targets does not merge row by row.
        let mut other: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        other["run"]["requests"]["targets"][0] = "GET http://elsewhere/".into();
        let other_file = dir.join(format!("other-{backend}.json"));
        std::fs::write(&other_file, other.to_string()).unwrap();
        let (a, b) = (result.to_str().unwrap(), other_file.to_str().unwrap());
        let refused = vastar(&["merge", a, b]);
        assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
        assert!(text(&refused.stderr).contains("different lists of targets"), "{}", text(&refused.stderr));
        let forced = vastar(&["merge", "--force", "-o", "json", a, b]);
        let forced: serde_json::Value = serde_json::from_slice(&forced.stdout).unwrap();
        assert!(forced.get("targets").is_none() && forced["counts"]["responses"] == 602, "{forced}");
    }
    let html = dir.join("report.html");
    let out = vastar(&[
        "--targets",
        file.to_str().unwrap(),
        "-n",
        "30",
        "-c",
        "1",
        "--no-color",
        "--html",
        html.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    let table = page.split("<h2>Targets</h2>").nth(1).expect("the HTML report has the table too");
    let row = format!("<tr><td>GET {}/missing</td><td>10</td><td>0</td>", server.url(""));
    assert!(table.contains(&row) && table.contains("404: 10"), "{table}");
    let report = text(&out.stdout);
    let table = report.split("Targets (").nth(1).expect("a Targets table");
    for (path, line) in ["/a", "/b", "/missing"].iter().zip(table.lines().skip(2)) {
        assert!(
            line.trim_start().starts_with("10 ") && line.ends_with(&format!("GET {}{path}", server.url(""))),
            "{line}"
        );
    }
    assert!(table.lines().nth(4).unwrap().contains("404:10"), "{table}");
}

/// The `{{seq}}` values the server saw, in arrival order, and their width.
fn seqs(server: &Scripted, prefix: &str) -> Vec<String> {
    server.seen.lock().unwrap().iter().map(|s| s.target.strip_prefix(prefix).unwrap().to_string()).collect()
}

#[test]
fn seq_is_unique_across_workers_without_gaps_and_fixed_width() {
    each_backend(|backend| {
        let server = Scripted::start(|_| send(OK));
        let url = server.url("/u/{{seq}}");
        let outcome = run(config_of(&["-n", "2000", "-c", "8", &url]), backend);
        assert_eq!(accounted(&outcome), (2000, 0, 0));
        let mut values = seqs(&server, "/u/");
        assert!(values.iter().all(|v| v.len() == 4), "zero-padded to the width of 1999");
        values.sort();
        let want: Vec<String> = (0..2000).map(|n| format!("{n:04}")).collect();
        assert_eq!(values, want);
    });
}

#[test]
fn seq_in_a_header_and_body_keeps_content_length_and_matches_the_target() {
    each_backend(|backend| {
        let server = Scripted::start(|_| send(OK));
        let url = server.url("/order/{{seq}}");
        let args = ["-n", "300", "-c", "3", "-m", "POST", "-d", "{\"id\":{{seq}}}", "-H", "X-Seq: {{seq}}", &url];
        assert_eq!(accounted(&run(config_of(&args), backend)), (300, 0, 0));
        let seen = server.seen.lock().unwrap();
        let mut ids = Vec::new();
        for s in seen.iter() {
            let request = text(&s.bytes);
            let id = s.target.strip_prefix("/order/").unwrap();
            assert!(request.contains(&format!("\r\nX-Seq: {id}\r\n")), "{request}");
            assert!(
                request.ends_with(&format!(
                    "\r\nContent-Length: 10\r\nAccept-Encoding: gzip\r\nX-Seq: {id}\r\n\r\n{{\"id\":{id}}}"
                )),
                "{request}"
            );
            ids.push(id.to_string());
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 300);
    });
}

#[test]
fn line_files_cycle_in_order_and_random_values_stay_in_range() {
    let dir = scratch("lines");
    let users = dir.join("users.txt");
    std::fs::write(&users, "alice\nbob\ncarol\n").unwrap();
    each_backend(|backend| {
        let server = Scripted::start(|_| send(OK));
        let url = server.url(&format!("/u/{{{{line:{}}}}}/{{{{rand:5}}}}", users.display()));
        assert_eq!(accounted(&run(config_of(&["-n", "30", "-c", "1", &url]), backend)), (30, 0, 0));
        let seen = seqs(&server, "/u/");
        for (i, path) in seen.iter().enumerate() {
            let (user, n) = path.split_once('/').unwrap();
            assert_eq!(user, ["alice", "bob", "carol"][i % 3], "request {i}");
            assert!(n.parse::<u64>().unwrap() < 5, "{path}");
        }
    });
}

#[test]
fn several_hosts_connect_to_one_place_and_keep_their_host_headers() {
    let server = Scripted::start(|_| send(OK));
    let port = server.addr.port();
    let dir = scratch("hosts");
    let file = dir.join("hosts.txt");
    std::fs::write(&file, format!("http://api.test:{port}/a\nhttp://www.test:{port}/b\n")).unwrap();
    let to = format!("127.0.0.1:{port}");
    let (api, www) = (format!("api.test:{port}:{to}"), format!("www.test:{port}:{to}"));
    let file = file.to_str().unwrap();
    each_backend(|backend| {
        server.seen.lock().unwrap().clear();
        let config = config_of(&["--targets", file, "--connect-to", &api, "--connect-to", &www, "-n", "20", "-c", "2"]);
        assert_eq!(accounted(&run(config, backend)), (20, 0, 0));
        let seen = server.seen.lock().unwrap();
        for (path, host) in [("/a", "api.test"), ("/b", "www.test")] {
            let of_path: Vec<_> = seen.iter().filter(|s| s.target == path).collect();
            assert_eq!(of_path.len(), 10);
            assert!(of_path.iter().all(|s| text(&s.bytes).contains(&format!("\r\nHost: {host}:{port}\r\n"))));
        }
    });
    let out = vastar(&["--targets", file, "-n", "2", "-c", "1"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--connect-to") && err.trim_end().lines().count() == 1, "{err}");
}

#[test]
fn a_target_file_on_standard_input_is_read() {
    let server = Scripted::start(|_| send(OK));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vastar"))
        .args(["--targets", "-", "-n", "4", "-c", "1", "-o", "json", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let file = format!("GET {}/one\n\nPATCH {}/two\nX-A: 1\n", server.url(""), server.url(""));
    child.stdin.take().unwrap().write_all(file.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen: Vec<String> =
        server.seen.lock().unwrap().iter().map(|s| text(&s.bytes).lines().next().unwrap().to_string()).collect();
    assert_eq!(seen, ["GET /one HTTP/1.1", "PATCH /two HTTP/1.1", "GET /one HTTP/1.1", "PATCH /two HTTP/1.1"]);
}

#[test]
fn bad_target_files_are_refused_with_their_file_and_line() {
    let dir = scratch("bad");
    let missing = dir.join("missing.txt");
    let cases = [
        ("no-method.txt", "http://h/\n/path/only\n".to_string(), "line 2: "),
        ("bad-url.txt", "GET http://h/\nPOST http://h:0/\n".to_string(), "line 2: "),
        ("no-body.txt", format!("POST http://h/\n@{}\n", missing.display()), "line 2: "),
        ("no-lines.txt", format!("GET http://h/\nGET http://h/{{{{line:{}}}}}\n", missing.display()), "line 2: "),
        ("too-many.txt", "http://h/1\nhttp://h/2\nhttp://h/3\n".to_string(), "line 3: more than 2 targets"),
    ];
    for (name, content, needle) in cases {
        let file = dir.join(name);
        std::fs::write(&file, content).unwrap();
        let out = vastar(&["--targets", file.to_str().unwrap(), "-n", "1", "-c", "1", "--template-pool", "2"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(needle) && err.trim_end().lines().count() == 1, "{name}: {err}");
        if needle.starts_with("line") {
            assert!(err.contains(name), "{name}: the file is named: {err}");
        }
    }
    let out = vastar(&["--targets", missing.to_str().unwrap(), "-n", "1", "-c", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.txt"));
    let out = vastar(&["--targets", missing.to_str().unwrap(), "http://127.0.0.1:9/"]);
    assert_eq!(out.status.code(), Some(2), "a URL and --targets together");
}

#[test]
fn targets_beyond_the_rows_are_counted_together_and_said_so() {
    let server = Scripted::start(|_| send(OK));
    let dir = scratch("many");
    let file = dir.join("many.txt");
    let urls: String = (0..70).map(|i| format!("{}/t{i}\n", server.url(""))).collect();
    std::fs::write(&file, urls).unwrap();
    let out = vastar(&["--targets", file.to_str().unwrap(), "-n", "700", "-c", "7", "-o", "json", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = doc["targets"].as_array().unwrap();
    assert_eq!(rows.len(), 65, "64 rows of their own, then one for the rest");
    assert!(rows[..64].iter().all(|r| r["requests"] == 10 && r["grouped"] == 0));
    assert_eq!((rows[64]["target"].as_str(), rows[64]["grouped"].as_u64()), (Some("other (6 targets)"), Some(6)));
    assert_eq!(rows[64]["requests"], 60);
    assert_eq!(server.requests(), 700);
}
