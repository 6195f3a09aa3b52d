//! End-to-end runs against servers started on 127.0.0.1:0, on every backend:
//! exact counts, the request bytes on the wire, modes (-n, -z, -t), and
//! connection handling (keep-alive, close, redirects). Timing behaviour
//! (pacing, deadlines against a dribbling server, stalls) is checked
//! exactly on virtual time (`engine::sim`).

mod common;

use std::time::{Duration, Instant};

use common::{Reply, Scripted, accounted, config, each_backend, run, run_within, send, statuses};
use vastar::server::{Server, ServerOptions};
use vastar::stats::ErrorKind;

fn builtin(options: ServerOptions) -> Server {
    Server::start("127.0.0.1:0".parse().unwrap(), options).unwrap()
}

#[test]
fn exactly_n_requests_reach_the_server() {
    each_backend(|backend| {
        for (n, c) in [(1, 1), (1003, 10), (5000, 300)] {
            let server = builtin(ServerOptions::default());
            let url = format!("http://{}/", server.addr());
            let outcome = run(config(&["-n", &n.to_string(), "-c", &c.to_string()], &url), backend);
            assert_eq!(accounted(&outcome), (n, 0, 0), "n={n} c={c}");
            assert_eq!(statuses(&outcome), vec![(200, n)]);
            assert_eq!(server.requests(), n, "the server counted every request once");
            assert_eq!(outcome.stats.body_bytes, 5 * n);
            assert_eq!(outcome.stats.latency.count(), n);
            assert_eq!(outcome.connections, c as usize);
            // io_uring sees only failed sends complete: no write phase, not a row of zeros.
            let observed = if backend.name().starts_with("io_uring") { 0 } else { n };
            assert_eq!(outcome.stats.write.count, observed, "write phases recorded");
        }
    });
}

#[test]
fn chunked_and_large_bodies_are_counted_exactly() {
    each_backend(|backend| {
        for options in [
            ServerOptions { body_bytes: 58 * 1024, chunked: false, threads: 1, ..ServerOptions::default() },
            ServerOptions { body_bytes: 300_000, chunked: true, threads: 1, ..ServerOptions::default() },
            ServerOptions { body_bytes: 0, chunked: true, threads: 1, ..ServerOptions::default() },
        ] {
            let server = builtin(options.clone());
            let url = format!("http://{}/", server.addr());
            let outcome = run(config(&["-n", "200", "-c", "8"], &url), backend);
            assert_eq!(accounted(&outcome), (200, 0, 0), "{options:?}");
            assert_eq!(outcome.stats.body_bytes, 200 * options.body_bytes as u64);
            assert!(outcome.stats.wire_bytes > outcome.stats.body_bytes);
        }
    });
}

#[test]
fn duration_mode_stops_on_time_and_accounts_for_every_request() {
    each_backend(|backend| {
        let server = builtin(ServerOptions::default());
        let url = format!("http://{}/", server.addr());
        let begun = Instant::now();
        let outcome = run(config(&["-z", "700ms", "-c", "20"], &url), backend);
        let wall = begun.elapsed();
        let (ok, errors, aborted) = accounted(&outcome);
        assert!(ok > 100, "a fast local server answers many requests in 700 ms (got {ok})");
        assert_eq!(errors, 0);
        assert!(aborted <= 20, "at most one request per connection is in flight at the deadline");
        assert!(outcome.elapsed >= Duration::from_millis(700) && outcome.elapsed < Duration::from_millis(900));
        assert!(wall < Duration::from_secs(3), "took {wall:?}");
        assert!(server.requests() >= ok, "every counted response was served");
    });
}

#[test]
fn a_server_that_never_answers_times_out_at_t() {
    each_backend(|backend| {
        let server = Scripted::start(|_| Reply::Silent);
        let begun = Instant::now();
        let outcome = run(config(&["-n", "4", "-c", "2", "-t", "300ms"], &server.url("/")), backend);
        assert_eq!(accounted(&outcome), (0, 4, 0));
        assert_eq!(outcome.stats.error_count(ErrorKind::Timeout), 4);
        assert!(begun.elapsed() < Duration::from_secs(2), "two rounds of 300 ms, took {:?}", begun.elapsed());
        // A timed-out connection is closed and replaced: 2 pre-opened + 2 new
        // (one more if a late worker left its pre-opened one unused).
        assert!((4..=5).contains(&server.connections()), "{} connections", server.connections());
        // With -z the run ends at its duration: requests still waiting then
        // are aborted, not left to run into -t.
        let begun = Instant::now();
        let outcome = run(config(&["-z", "1s", "-c", "3", "-t", "400ms"], &server.url("/")), backend);
        let (ok, errors, aborted) = accounted(&outcome);
        assert_eq!((ok, aborted), (0, 3));
        assert_eq!(outcome.stats.error_count(ErrorKind::Timeout), errors);
        assert!((6..=9).contains(&errors), "two timeouts per connection in 1 s, got {errors}");
        assert!(outcome.elapsed < Duration::from_millis(1400), "ended within duration + -t: {:?}", outcome.elapsed);
        assert!(begun.elapsed() < Duration::from_secs(3), "{:?}", begun.elapsed());
    });
}

#[test]
fn request_bytes_carry_every_option() {
    each_backend(|backend| {
        let server = Scripted::start(|_| send("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"));
        let args = [
            "-n",
            "3",
            "-c",
            "1",
            "-m",
            "put",
            "-d",
            "{\"k\":1}",
            "-T",
            "application/json",
            "-H",
            "X-Trace: abc",
            "-H",
            "user-agent: custom",
            "-A",
            "application/json",
            "-a",
            "user:pa:ss",
            "--disable-compression",
        ];
        let outcome = run(config(&args, &server.url("/v1/items?id=7&x=%20y")), backend);
        assert_eq!(statuses(&outcome), vec![(201, 3)]);
        let seen = server.seen.lock().unwrap();
        let expected = format!(
            "PUT /v1/items?id=7&x=%20y HTTP/1.1\r\nHost: {}\r\nuser-agent: custom\r\nAccept: application/json\r\n\
             Content-Type: application/json\r\nContent-Length: 7\r\nAuthorization: Basic dXNlcjpwYTpzcw==\r\n\
             X-Trace: abc\r\n\r\n{{\"k\":1}}",
            server.addr
        );
        assert_eq!(seen.len(), 3);
        for request in seen.iter() {
            assert_eq!(String::from_utf8_lossy(&request.bytes), expected);
        }
    });
}

#[test]
fn default_get_request_is_exact() {
    each_backend(|backend| {
        let server = Scripted::start(|_| send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        run(config(&["-n", "1", "-c", "1", "--disable-keepalive"], &server.url("")), backend);
        let seen = server.seen.lock().unwrap();
        let expected = format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: vastar/{}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
            server.addr,
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(String::from_utf8_lossy(&seen[0].bytes), expected);
    });
}

#[test]
fn keep_alive_reuses_connections_and_disable_keepalive_does_not() {
    each_backend(|backend| {
        let server = Scripted::start(|_| send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        let outcome = run(config(&["-n", "50", "-c", "5"], &server.url("/")), backend);
        assert_eq!(accounted(&outcome), (50, 0, 0));
        assert_eq!(server.connections(), 5);
        assert_eq!(outcome.stats.connect.count, 5);
        let server = Scripted::start(|_| Reply::SendClose(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()));
        let outcome = run(config(&["-n", "30", "-c", "3", "--disable-keepalive"], &server.url("/")), backend);
        assert_eq!(accounted(&outcome), (30, 0, 0));
        assert_eq!(server.connections(), 30);
        assert_eq!(outcome.stats.connect.count, 30);
    });
}

#[test]
fn connection_close_responses_reconnect_without_errors() {
    each_backend(|backend| {
        let server = Scripted::start(|_| {
            Reply::SendClose(
                b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            )
        });
        let outcome = run(config(&["-n", "40", "-c", "4"], &server.url("/")), backend);
        assert_eq!(accounted(&outcome), (40, 0, 0));
        // One per request, plus pre-opened ones a faster worker left unused.
        assert!((40..=44).contains(&server.connections()), "{} connections", server.connections());
    });
}

#[test]
fn idle_keep_alive_closed_by_the_server_is_retried_not_an_error() {
    each_backend(|backend| {
        // Closes every connection after its third response, without saying so.
        let server = Scripted::start(|seen| {
            let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec();
            if seen.on_connection == 2 { Reply::SendClose(ok) } else { Reply::Send(ok) }
        });
        let outcome = run(config(&["-n", "60", "-c", "2"], &server.url("/")), backend);
        assert_eq!(accounted(&outcome), (60, 0, 0));
        assert_eq!(server.requests(), 60, "no request was sent twice to the server");
    });
}

/// The retry race, many times over: a server that closes silently after
/// every response makes every request after a connection's first one meet a
/// stale connection. A request must reach the server once however the close,
/// the send and the retry interleave (on io_uring a send still queued for a
/// closed descriptor once went out on the retry's new socket).
#[test]
fn stale_keep_alive_retries_never_send_a_request_twice() {
    each_backend(|backend| {
        let server = Scripted::start(|_| Reply::SendClose(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()));
        for round in 1..=25 {
            let outcome = run(config(&["-n", "200", "-c", "4"], &server.url("/")), backend);
            assert_eq!(accounted(&outcome), (200, 0, 0), "round {round}");
            assert_eq!(server.requests(), 200 * round, "round {round}: a request reached the server twice");
        }
    });
}

#[test]
fn same_origin_redirects_are_followed_once_counted() {
    each_backend(|backend| {
        let server = Scripted::start(|seen| match seen.target.as_str() {
            "/start" => send("HTTP/1.1 302 Found\r\nLocation: /middle\r\nContent-Length: 0\r\n\r\n"),
            "/middle" => send("HTTP/1.1 307 Temporary Redirect\r\nLocation: end\r\nContent-Length: 0\r\n\r\n"),
            "/end" => send("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"),
            _ => send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        });
        let outcome = run(config(&["-n", "10", "-c", "2"], &server.url("/start")), backend);
        assert_eq!(statuses(&outcome), vec![(200, 10)]);
        assert_eq!(server.requests(), 30);
        let outcome = run(config(&["-n", "10", "-c", "2", "--disable-redirects"], &server.url("/start")), backend);
        assert_eq!(statuses(&outcome), vec![(302, 10)]);
    });
}

#[test]
fn redirect_loops_end_as_errors() {
    each_backend(|backend| {
        let server = Scripted::start(|_| send("HTTP/1.1 301 Moved\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n"));
        let outcome = run(config(&["-n", "3", "-c", "1"], &server.url("/")), backend);
        assert_eq!(outcome.stats.error_count(ErrorKind::TooManyRedirects), 3);
        assert_eq!(server.requests(), 33, "each request follows 10 hops after the first response");
    });
}

#[test]
fn nothing_listening_counts_refused_per_attempt_and_ends_promptly() {
    each_backend(|backend| {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let begun = Instant::now();
        let outcome = run_within(
            Duration::from_secs(10),
            config(&["-n", "40", "-c", "4"], &format!("http://127.0.0.1:{port}/")),
            backend,
        );
        assert_eq!(accounted(&outcome), (0, 40, 0));
        assert_eq!(outcome.stats.error_count(ErrorKind::ConnectRefused), 40);
        assert_eq!(outcome.stats.preconnect_failures, 4);
        assert!(begun.elapsed() < Duration::from_secs(3), "took {:?}", begun.elapsed());
    });
}

#[test]
fn a_host_name_is_resolved_and_its_addresses_tried_in_order() {
    each_backend(|backend| {
        // "localhost" may resolve to ::1 first; the server listens on 127.0.0.1 only.
        let server = builtin(ServerOptions::default());
        let url = format!("http://localhost:{}/", server.addr().port());
        let outcome = run(config(&["-n", "20", "-c", "2"], &url), backend);
        assert_eq!(accounted(&outcome), (20, 0, 0));
    });
}

#[test]
fn mixed_statuses_resets_and_timeouts_are_counted_apart() {
    each_backend(|backend| {
        let server = Scripted::start(|seen| match seen.on_connection % 5 {
            0 => send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            1 => send("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n"),
            2 => send("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"),
            3 => Reply::Silent,
            _ => Reply::SendReset(b"HTTP/1.1 200 OK\r\nContent-Len".to_vec()),
        });
        let outcome = run(config(&["-n", "40", "-c", "1", "-t", "200ms"], &server.url("/")), backend);
        // Per connection: 200, 429, 500, then a timeout closes it (so the
        // reset case is never reached); 10 connections in all.
        assert_eq!(accounted(&outcome), (30, 10, 0));
        assert_eq!(statuses(&outcome), vec![(200, 10), (429, 10), (500, 10)]);
        assert_eq!(outcome.stats.errors().collect::<Vec<_>>(), vec![(ErrorKind::Timeout, 10)]);
        let server = Scripted::start(|seen| match seen.on_connection % 3 {
            0 => send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            1 => send("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n"),
            _ => Reply::SendReset(b"HTTP/1.1 200 OK\r\nContent-Len".to_vec()),
        });
        let outcome = run(config(&["-n", "30", "-c", "1"], &server.url("/")), backend);
        assert_eq!(accounted(&outcome), (20, 10, 0));
        assert_eq!(statuses(&outcome), vec![(200, 10), (429, 10)]);
        let reset_like = outcome.stats.error_count(ErrorKind::Reset) + outcome.stats.error_count(ErrorKind::Incomplete);
        assert_eq!(reset_like, 10, "nothing is counted twice");
    });
}

#[test]
fn ipv6_literals_are_reached() {
    let Ok(server) = Server::start("[::1]:0".parse().unwrap(), ServerOptions::default()) else {
        eprintln!("no IPv6 loopback on this machine; skipping");
        return;
    };
    each_backend(|backend| {
        let url = format!("http://[::1]:{}/x?y=1", server.addr().port());
        let outcome = run(config(&["-n", "10", "-c", "2"], &url), backend);
        assert_eq!(accounted(&outcome), (10, 0, 0));
    });
}
