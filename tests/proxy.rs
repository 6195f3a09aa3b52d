//! Through a forward proxy, on every backend, against the test proxy of
//! `common::proxy` (HTTP CONNECT, absolute form, SOCKS5): exact counts at
//! the origin and at the proxy, one tunnel per connection kept alive, the
//! target's Host and TLS name unchanged, proxy credentials only ever sent
//! to the proxy, refusals that stop the run with one line, and a proxy
//! that misbehaves costing counted errors, never a hang.

mod common;

use std::time::SystemTime;

use common::proxy::{Kind, Mode, TestProxy, field};
use common::{Reply, Scripted, accounted, backend_flags, config, each_backend, run, text};
use vastar::server::{Server, ServerOptions};
use vastar::stats::ErrorKind;

fn tls_server(cert: &vastar::tls::SelfSigned, http2: bool) -> Server {
    let tls = Some(vastar::tls::server_config(cert.identity(), None).unwrap());
    Server::start("127.0.0.1:0".parse().unwrap(), ServerOptions { tls, http2, ..ServerOptions::default() }).unwrap()
}

fn ca_file(name: &str, cert: &vastar::tls::SelfSigned) -> String {
    let dir = std::env::temp_dir().join(format!("vastar-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, cert.cert_pem()).unwrap();
    path.to_str().unwrap().to_string()
}

fn origin() -> Scripted {
    Scripted::start(|_| common::send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
}

/// Every request the scripted origin saw, as text.
fn seen(origin: &Scripted) -> Vec<String> {
    origin.seen.lock().unwrap().iter().map(|s| String::from_utf8_lossy(&s.bytes).into_owned()).collect()
}

#[test]
fn https_and_h2_go_through_one_connect_tunnel_per_connection_with_the_targets_name() {
    let cert = vastar::tls::self_signed(SystemTime::now()).unwrap();
    let ca = ca_file("connect-ca.pem", &cert);
    each_backend(|backend| {
        for http2 in [false, true] {
            let server = tls_server(&cert, http2);
            let proxy = TestProxy::start(Kind::Http, Mode::Open, Some(("u", "p:w")));
            let url = format!("https://localhost:{}/", server.addr().port());
            let x = proxy.url("http", "u:p%3Aw@");
            let mut args = vec!["-n", "600", "-c", "6", "--cacert", &ca, "-x", &x, "--proxy-header", "X-Test: 1"];
            if http2 {
                args.push("--http2");
            }
            let outcome = run(config(&args, &url), backend);
            assert_eq!(accounted(&outcome), (600, 0, 0), "http2: {http2}");
            assert_eq!(server.requests(), 600);
            assert_eq!((proxy.tunnels(), outcome.stats.tunnel.count), (6, 6), "one tunnel per connection, reused");
            assert_eq!(outcome.stats.tls.handshake.count, 6);
            for head in proxy.heads() {
                let want = format!("CONNECT localhost:{} HTTP/1.1\r\n", server.addr().port());
                assert!(head.starts_with(&want), "{head}");
                assert_eq!(field(&head, "host").unwrap(), format!("localhost:{}", server.addr().port()));
                assert_eq!(field(&head, "proxy-authorization").unwrap(), "Basic dTpwOnc=");
                assert_eq!(field(&head, "x-test").as_deref(), Some("1"));
            }
            // The ClientHello inside each tunnel names the target (SNI), not the proxy.
            let hellos = proxy.counts.first_bytes.lock().unwrap().clone();
            assert!(hellos.iter().all(|h| h.windows(9).any(|w| w == b"localhost")), "SNI is the target's name");
        }
    });
}

#[test]
fn http_goes_in_absolute_form_or_through_a_tunnel_and_credentials_stay_with_the_proxy() {
    each_backend(|backend| {
        let server = origin();
        let proxy = TestProxy::start(Kind::Http, Mode::Open, Some(("u", "p")));
        let x = proxy.url("http", "u:p@");
        let url = server.url("/x?y=1");
        let outcome = run(config(&["-n", "300", "-c", "5", "-x", &x], &url), backend);
        assert_eq!(accounted(&outcome), (300, 0, 0));
        assert_eq!((proxy.absolute(), proxy.tunnels(), server.requests()), (300, 0, 300));
        assert_eq!(outcome.stats.tunnel.count, 0, "no tunnel in absolute form");
        for head in proxy.heads() {
            assert!(head.starts_with(&format!("GET http://{}/x?y=1 HTTP/1.1\r\n", server.addr)), "{head}");
            assert_eq!(field(&head, "proxy-authorization").as_deref(), Some("Basic dTpw"));
            assert_eq!(field(&head, "host").unwrap(), server.addr.to_string());
        }

        let server = origin();
        let proxy = TestProxy::start(Kind::Http, Mode::Open, Some(("u", "p")));
        let x = proxy.url("http", "u:p@");
        let outcome = run(config(&["-n", "300", "-c", "5", "-x", &x, "--proxy-tunnel"], &server.url("/x")), backend);
        assert_eq!(accounted(&outcome), (300, 0, 0));
        assert_eq!((proxy.absolute(), proxy.tunnels(), server.requests()), (0, 5, 300));
        for request in seen(&server) {
            assert!(request.starts_with("GET /x HTTP/1.1\r\n"), "origin form inside the tunnel: {request}");
            assert!(!request.to_ascii_lowercase().contains("proxy-authorization"), "{request}");
            assert_eq!(field(&request, "host").unwrap(), server.addr.to_string());
        }
    });
}

#[test]
fn h2c_goes_through_a_tunnel_never_in_absolute_form() {
    each_backend(|backend| {
        let options = ServerOptions { http2: true, ..ServerOptions::default() };
        let server = Server::start("127.0.0.1:0".parse().unwrap(), options).unwrap();
        let proxy = TestProxy::start(Kind::Http, Mode::Open, None);
        let url = format!("http://127.0.0.1:{}/", server.addr().port());
        let x = proxy.url("http", "");
        let outcome = run(config(&["-n", "400", "-c", "4", "--http2", "--streams", "4", "-x", &x], &url), backend);
        assert_eq!(accounted(&outcome), (400, 0, 0));
        assert_eq!((server.requests(), proxy.tunnels(), proxy.absolute()), (400, 4, 0));
    });
}

#[test]
fn socks5_tunnels_with_names_resolved_here_or_by_the_proxy_and_with_authentication() {
    each_backend(|backend| {
        let server = origin();
        let url = format!("http://localhost:{}/", server.addr.port());
        let cases = [
            ("socks5h", None, "localhost"),
            ("socks5", None, "127.0.0.1"),
            ("socks5h", Some(("u", "pw")), "localhost"),
        ];
        for (scheme, creds, named) in cases {
            let proxy = TestProxy::start(Kind::Socks5, Mode::Open, creds);
            let userinfo = creds.map_or(String::new(), |(u, p)| format!("{u}:{p}@"));
            let x = proxy.url(scheme, &userinfo);
            let before = server.requests();
            let outcome = run(config(&["-n", "200", "-c", "4", "-4", "-x", &x], &url), backend);
            assert_eq!(accounted(&outcome), (200, 0, 0), "{x}");
            assert_eq!((server.requests() - before, proxy.tunnels(), outcome.stats.tunnel.count), (200, 4, 4), "{x}");
            let destinations = proxy.counts.destinations.lock().unwrap().clone();
            assert_eq!(destinations, vec![format!("{named}:{}", server.addr.port()); 4], "{x}");
        }
    });
}

#[test]
fn refused_tunnels_stop_the_run_with_one_line_naming_the_answer() {
    let server = origin();
    let url = server.url("/");
    let cases = [
        (Kind::Http, Mode::Open, Some(("u", "p")), "http", "", "407, authentication required"),
        (Kind::Http, Mode::Refuse(403), None, "http", "", "403, tunnel forbidden"),
        (Kind::Http, Mode::Refuse(502), None, "http", "", "could not reach the target"),
        (Kind::Http, Mode::Garbage, None, "http", "", "invalid or oversized reply"),
        (Kind::Http, Mode::Endless, None, "http", "", "invalid or oversized reply"),
        (Kind::Socks5, Mode::Refuse(2), None, "socks5h", "", "not allowed by the proxy's rules"),
        (Kind::Socks5, Mode::Refuse(4), None, "socks5h", "", "host unreachable"),
        (Kind::Socks5, Mode::Open, Some(("u", "p")), "socks5h", "u:bad@", "username or password refused"),
        (Kind::Socks5, Mode::Open, Some(("u", "p")), "socks5h", "", "accepts no method offered"),
        (Kind::Socks5, Mode::Garbage, None, "socks5h", "", "invalid or oversized reply"),
    ];
    for backend in backend_flags() {
        for (kind, mode, creds, scheme, userinfo, why) in cases {
            let proxy = TestProxy::start(kind, mode, creds);
            let x = proxy.url(scheme, userinfo);
            let out = common::vastar(&["--backend", backend, "-n", "2000", "-c", "4", "-p", "-x", &x, &url]);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{backend} {mode:?}: {err}");
            assert!(err.contains("the proxy refused the first tunnels, run stopped") && err.contains(why), "{err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
            assert!(!err.contains(":bad@") && !err.contains("u:p"), "no password shown: {err}");
            assert!(
                proxy.connections() < 2000,
                "{backend} {mode:?}: stopped early, {} connections",
                proxy.connections()
            );
        }
    }
}

#[test]
fn a_proxy_that_cuts_tunnels_mid_response_costs_counted_errors_and_reconnects() {
    each_backend(|backend| {
        let server = Scripted::start(|_| {
            Reply::Send(
                b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n0123456789012345678901234567890123456789".to_vec(),
            )
        });
        // Each response is 78 bytes: a tunnel dies in the middle of its third.
        let proxy = TestProxy::start(Kind::Http, Mode::CutAfter(200), None);
        let x = proxy.url("http", "");
        let outcome = run(config(&["-n", "300", "-c", "3", "-p", "-x", &x], &server.url("/")), backend);
        let (ok, errors, aborted) = accounted(&outcome);
        assert_eq!((ok + errors + aborted, aborted), (300, 0));
        assert!(errors > 0 && ok >= 2 * errors, "{ok} ok, {errors} errors");
        assert_eq!(outcome.stats.errors().map(|(k, _)| k).collect::<Vec<_>>(), vec![ErrorKind::Incomplete]);
        assert!(proxy.tunnels() as u64 >= errors, "a new tunnel after each cut: {}", proxy.tunnels());
        assert_eq!(outcome.stats.tunnel.count as usize, proxy.tunnels());
    });
}

/// Variables set, flags given, requests that went through the proxy.
type EnvCase<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], usize);

#[test]
fn the_environment_chooses_the_proxy_as_curl_does_and_no_proxy_or_noproxy_bypass_it() {
    let server = origin();
    let proxy = TestProxy::start(Kind::Http, Mode::Open, None);
    let url = server.url("/");
    let px = proxy.url("http", "");
    let cases: [EnvCase; 10] = [
        (&[("http_proxy", &px)], &[], 10),
        // Without a proxy NO_PROXY is not read; with one, only the entries it cannot use are skipped (as curl does).
        (&[("NO_PROXY", "localhost:3000")], &[], 0),
        (&[("http_proxy", &px), ("NO_PROXY", "localhost:3000, a b ,127.0.0.1")], &[], 0),
        (&[("http_proxy", &px), ("no_proxy", "localhost:3000,a b")], &[], 10),
        (&[("HTTP_PROXY", &px)], &[], 0),
        (&[("ALL_PROXY", &px)], &[], 10),
        (&[("http_proxy", &px), ("NO_PROXY", "localhost,127.0.0.0/8")], &[], 0),
        (&[("http_proxy", &px), ("no_proxy", "*")], &[], 0),
        (&[("http_proxy", &px), ("NO_PROXY", "127.0.0.1")], &["--noproxy", ""], 10),
        (&[("https_proxy", &px)], &[], 0),
    ];
    for (vars, flags, through) in cases {
        let before = proxy.absolute();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_vastar"));
        for name in
            ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"]
        {
            command.env_remove(name);
        }
        let out = command
            .envs(vars.iter().copied())
            .args(flags)
            .args(["-n", "10", "-c", "1", "-o", "json", &url])
            .output()
            .unwrap();
        assert!(out.status.success(), "{vars:?}: {}", text(&out.stderr));
        assert_eq!(proxy.absolute() - before, through, "{vars:?} {flags:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let shown = doc["run"]["proxy"].as_str().map(str::to_string);
        assert_eq!(shown.is_some(), through > 0, "{vars:?}: {shown:?}");
    }
    let out = common::vastar(&["-n", "1", "-c", "1", "-x", "http://u:secret@127.0.0.1:1", "-o", "json", &url]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("http://u:***@127.0.0.1:1") && !all.contains("secret"), "{all}");
    // However the flags are written, the recorded command line hides the proxy's secrets.
    let with_secret = proxy.url("http", "u:secret@");
    let header = "Proxy-Authorization: Basic secret";
    for flags in [
        &["-px", &with_secret][..],
        &[&format!("-px{with_secret}")],
        &["-kx", &with_secret],
        &["-x", &proxy.url("http", ""), "--proxy-header", header],
    ] {
        let out = common::vastar(&[flags, &["-n", "1", "-c", "1", "-o", "json", &url]].concat());
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let command = doc["command"].to_string();
        assert!(command.contains("***") && !command.contains("secret"), "{flags:?}: {command}");
    }
}

#[test]
fn bad_proxy_input_is_refused_with_one_line() {
    for (args, why) in [
        (&["-x", "ftp://p:21"][..], "ftp:// proxies are not supported"),
        (&["-x", "http://p:70000"], "out of range"),
        (&["-x", "http://"], "no host"),
        (&["--noproxy", "a b", "-x", "p:1"], "--noproxy: entry"),
        (&["--proxy-header", "X: 1"], "needs a proxy"),
        (&["-x", "socks5://p:1", "--proxy-header", "X: 1"], "SOCKS5 proxy has no headers"),
        (&["-x", "p:1", "--connect-to", "127.0.0.1:9"], "cannot be used with --connect-to"),
    ] {
        common::refused_with_one_line(args, why);
    }
    common::refused_with_one_line(&["--noproxy", "localhost:3000"], "--noproxy: entry \"localhost:3000\"");
}
