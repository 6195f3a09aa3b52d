//! vastar's HTTP/2 client against nginx, on every backend: h2c with prior
//! knowledge (`listen ... http2`) and h2 by ALPN over TLS (`ssl http2`).
//! Counts equal nginx's access log, where every line says HTTP/2.0;
//! `keepalive_requests` (which nginx enforces with GOAWAY) is crossed
//! thousands of times with exact counts; 1 MiB bodies come through ten
//! streams of one connection (flow control keeps up); h2c also over a Unix
//! domain socket (`--unix-socket`); a 302 is followed on a new stream and
//! counted once. Needs the `nginx`
//! binary (see [`common::nginx`]).

mod common;

use std::path::Path;

use common::nginx::{Nginx, fixture};
use common::{accounted, config, each_backend, run_slow, statuses};
use vastar::engine::Outcome;

const MIB: usize = 1 << 20;

/// nginx speaking HTTP/2 only, h2c or (`tls`) h2, with `keepalive_requests`
/// of `limit`; `/` answers "hello", `/big.bin` is 1 MiB, `/old` redirects
/// to `/new` with 302.
fn h2_nginx(name: &str, tls: bool, limit: u32) -> Option<Nginx> {
    let prepare = |dir: &Path| std::fs::write(dir.join("big.bin"), vec![b'x'; MIB]).unwrap();
    Nginx::start(name, prepare, |dir, port| conf(dir, port, tls, limit, false))
}

/// [`h2_nginx`] over h2c that also listens on `h2c.sock` in its directory.
fn h2c_unix_nginx(name: &str, limit: u32) -> Option<Nginx> {
    Nginx::start(name, |_| {}, |dir, port| conf(dir, port, false, limit, true))
}

fn conf(dir: &Path, port: u16, tls: bool, limit: u32, unix: bool) -> String {
    let mut listen = if tls {
        format!(
            "listen 127.0.0.1:{port} ssl http2; ssl_certificate {}; ssl_certificate_key {};",
            fixture("server.pem"),
            fixture("server.key")
        )
    } else {
        format!("listen 127.0.0.1:{port} http2;")
    };
    if unix {
        // A start retried on another port finds the last attempt's socket.
        let _ = std::fs::remove_file(dir.join("h2c.sock"));
        listen += &format!(" listen unix:{}/h2c.sock http2;", dir.display());
    }
    let d = dir.display();
    let http = format!(
        "keepalive_requests {limit};
    server {{
        {listen}
        location = /big.bin {{ root {d}; }}
        location = /old {{ return 302 /new; }}
        location / {{ return 200 'hello'; }}
    }}"
    );
    common::nginx::conf(dir, "$server_protocol $status", &http)
}

fn url(nginx: &Nginx, tls: bool, path: &str) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://localhost:{}{path}", nginx.port)
}

/// Runs `--http2` with `args` against `path` of a fresh nginx (named
/// `name`, `keepalive_requests` of `limit`) on every backend, over h2c and
/// h2 (`tls`), and hands each outcome to `check`.
fn each_h2(name: &str, limit: u32, path: &str, args: &[&str], check: impl Fn(bool, &Outcome, &Nginx)) {
    let ca = fixture("ca.pem");
    each_backend(|backend| {
        for tls in [false, true] {
            let Some(nginx) = h2_nginx(&format!("{name}-{tls}"), tls, limit) else { return };
            let args = [&["--http2", "--cacert", &ca], args].concat();
            let outcome = run_slow(config(&args, &url(&nginx, tls, path)), backend);
            check(tls, &outcome, &nginx);
        }
    });
}

/// Asserts that nginx logged `n` requests, each over HTTP/2.0 with `200`.
fn all_http2(nginx: &Nginx, n: usize) {
    let log = nginx.log();
    assert_eq!(log.len(), n, "nginx logged every request once");
    assert!(log.iter().all(|line| line == "HTTP/2.0 200"), "{:?}", &log[..3.min(log.len())]);
}

#[test]
fn counts_equal_nginx_log_over_h2c_and_h2() {
    let ca = fixture("ca.pem");
    each_backend(|backend| {
        for tls in [false, true] {
            let Some(nginx) = h2_nginx(&format!("h2-counts-{tls}"), tls, 100_000) else { return };
            let mut logged = 0;
            for (c, streams, n) in [("1", "1", 500), ("4", "10", 3000), ("2", "100", 2001)] {
                let args = ["--http2", "--streams", streams, "-c", c, "-n", &n.to_string(), "--cacert", &ca];
                let outcome = run_slow(config(&args, &url(&nginx, tls, "/")), backend);
                assert_eq!(accounted(&outcome), (n, 0, 0), "tls {tls}, -c {c} --streams {streams}");
                logged += n as usize;
                all_http2(&nginx, logged);
            }
        }
    });
}

#[test]
fn keepalive_requests_are_crossed_thousands_of_times_with_exact_counts() {
    each_h2("h2-goaway", 100, "/", &["--streams", "10", "-c", "4", "-n", "20000"], |tls, outcome, nginx| {
        assert_eq!(accounted(outcome), (20_000, 0, 0), "tls {tls}: GOAWAY every 100 streams costs nothing");
        assert!(outcome.stats.connect.count >= 200, "{} connections", outcome.stats.connect.count);
        all_http2(nginx, 20_000);
    });
}

#[test]
fn one_mebibyte_bodies_come_through_ten_streams_of_one_connection() {
    each_h2("h2-big", 100_000, "/big.bin", &["--streams", "10", "-c", "1", "-n", "200"], |tls, outcome, nginx| {
        assert_eq!(accounted(outcome), (200, 0, 0), "tls {tls}");
        assert_eq!(statuses(outcome), vec![(200, 200)]);
        assert_eq!(outcome.stats.body_bytes, 200 * MIB as u64, "every byte of every body");
        all_http2(nginx, 200);
    });
}

#[test]
fn h2c_over_a_unix_socket_counts_what_nginx_logged() {
    each_backend(|backend| {
        let Some(nginx) = h2c_unix_nginx("h2-unix", 50) else { return };
        let socket = nginx.dir.join("h2c.sock");
        let args = ["--http2", "--streams", "5", "-c", "3", "-n", "1000", "--unix-socket", socket.to_str().unwrap()];
        let outcome = run_slow(config(&args, "http://localhost/"), backend);
        assert_eq!(accounted(&outcome), (1000, 0, 0));
        assert!(outcome.stats.connect.count >= 20, "GOAWAY every 50 streams: {}", outcome.stats.connect.count);
        all_http2(&nginx, 1000);
    });
}

#[test]
fn a_302_is_followed_over_h2c_and_h2_and_each_request_counted_once() {
    each_h2("h2-redirect", 100_000, "/old", &["--streams", "10", "-c", "2", "-n", "1000"], |tls, outcome, nginx| {
        assert_eq!(accounted(outcome), (1000, 0, 0), "tls {tls}");
        assert_eq!(statuses(outcome), vec![(200, 1000)], "tls {tls}: the final answers");
        let log = nginx.log();
        let lines = |line: &str| log.iter().filter(|l| *l == line).count();
        assert_eq!(log.len(), 2000, "tls {tls}: each request and its hop once");
        assert_eq!((lines("HTTP/2.0 302"), lines("HTTP/2.0 200")), (1000, 1000), "tls {tls}");
    });
}
