//! Misbehaving servers, on every backend: resets at each point of a
//! response, a body that never ends, a client short of file descriptors.
//! In each case: no panic, no hang (every run has a hard limit), the right
//! error category, and responses + errors + aborted = requests issued.
#![allow(unsafe_code, reason = "resource limits of the child under test")]

mod common;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Reply, Scripted, accounted, config, each_backend, run};
use vastar::stats::ErrorKind;

#[test]
fn resets_before_and_during_a_response_are_counted_as_resets() {
    let cases: &[(&str, &[u8])] = &[
        ("before the response", b""),
        ("in the middle of the head", b"HTTP/1.1 200 OK\r\nContent-Le"),
        ("in the middle of the body", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"),
    ];
    each_backend(|backend| {
        for &(name, partial) in cases {
            let server = Scripted::start(move |_| Reply::SendReset(partial.to_vec()));
            let outcome = run(config(&["-n", "12", "-c", "3"], &server.url("/")), backend);
            assert_eq!(accounted(&outcome), (0, 12, 0), "{name}");
            // A reset can reach the client before or after the bytes that
            // preceded it; either way it is never a success or a parse error.
            let resets = outcome.stats.error_count(ErrorKind::Reset);
            let cut = outcome.stats.error_count(ErrorKind::Incomplete)
                + outcome.stats.error_count(ErrorKind::ClosedBeforeResponse);
            assert_eq!(resets + cut, 12, "{name}: {:?}", outcome.stats.errors().collect::<Vec<_>>());
            assert!(resets > 0, "{name}: resets are reported as such");
        }
    });
}

/// A server that answers with a chunked body that never ends.
fn endless_chunked_server() -> std::net::SocketAddr {
    common::raw_server(|mut stream| {
        let mut buf = [0u8; 4096];
        let _ = std::io::Read::read(&mut stream, &mut buf);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        let chunk = [b"4000\r\n".as_slice(), &[b'z'; 0x4000], b"\r\n"].concat();
        while stream.write_all(&chunk).is_ok() {}
    })
}

#[test]
fn an_endless_body_times_out_in_constant_memory() {
    let addr = endless_chunked_server();
    each_backend(|backend| {
        let begun = Instant::now();
        let outcome = run(config(&["-n", "4", "-c", "2", "-t", "700ms"], &format!("http://{addr}/")), backend);
        assert_eq!(accounted(&outcome), (0, 4, 0));
        assert_eq!(outcome.stats.error_count(ErrorKind::Timeout), 4);
        assert!(outcome.stats.wire_bytes > 1_000_000, "the body kept coming: {} bytes", outcome.stats.wire_bytes);
        assert!(begun.elapsed() < Duration::from_secs(4));
    });
}

#[test]
fn too_few_file_descriptors_is_its_own_category_and_the_run_completes() {
    let server = Scripted::start(|_| common::send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    for backend in ["io-uring", "portable"] {
        if backend == "io-uring" && !common::io_uring_usable() {
            continue;
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_vastar"));
        command.args(["-n", "400", "-c", "100", "-t", "5s", "--backend", backend, &server.url("/")]);
        // SAFETY: setrlimit between fork and exec, with a value on this stack.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit { rlim_cur: 48, rlim_max: 48 };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = command.output().unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", String::from_utf8_lossy(&out.stderr));
        let lines = || report.lines().map(str::trim).filter(|l| l.starts_with('['));
        let ok: u64 = lines()
            .filter(|l| l.ends_with(" responses"))
            .filter_map(|l| l.split(']').nth(1)?.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        let emfile: u64 = lines()
            .filter(|l| l.contains("too many open files"))
            .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse::<u64>().ok())
            .sum();
        assert!(emfile > 0, "{backend}: EMFILE is reported:\n{report}");
        assert!(ok > 0, "{backend}: the connections that could open still work:\n{report}");
        assert_eq!(ok + emfile, 400, "{backend}: every request is accounted for:\n{report}");
    }
}

/// The server's request count once it has stopped moving for 200 ms (at most 5 s).
fn settled(server: &vastar::server::Server) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut last = server.requests();
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let now = server.requests();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

#[test]
fn a_new_connection_per_request_at_full_speed_survives_port_pressure() {
    // Its own server address, so the TIME_WAIT sockets this leaves behind
    // never stand in the way of other tests' connections to 127.0.0.1.
    let server = vastar::server::Server::start("127.0.0.2:0".parse().unwrap(), Default::default()).unwrap();
    let url = format!("http://{}/", server.addr());
    each_backend(|backend| {
        // Requests the previous backend abandoned at its deadline may still
        // be in the server's queue: count from where the server settles.
        let before = settled(&server);
        let outcome = run(config(&["-z", "2s", "-c", "32", "--disable-keepalive"], &url), backend);
        let (ok, errors, aborted) = accounted(&outcome);
        assert!(ok > 1000, "{}: {ok} responses", backend.name());
        // Every response had a connection of its own.
        let connects = outcome.stats.connect.count;
        assert!((ok..=ok + errors + aborted).contains(&connects), "{}: {connects} connects", backend.name());
        // Running out of ports is reported as such, never as something else.
        for (kind, n) in outcome.stats.errors() {
            assert!(
                matches!(kind, ErrorKind::AddrNotAvailable | ErrorKind::ConnectTimeout),
                "{}: {n} x {kind:?}",
                backend.name()
            );
        }
        let served = server.requests() - before;
        assert!((ok..=ok + aborted).contains(&served), "{}: served {served}, counted {ok}", backend.name());
    });
}
