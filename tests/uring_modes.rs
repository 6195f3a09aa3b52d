//! The io_uring backend's degraded modes, forced by hand: without the fast
//! setup flags, with whole-buffer (not incremental) consumption, and with
//! single-shot receives into per-connection buffers. Each must count as
//! exactly as the full mode on the cases that stress receiving.

#![cfg(target_os = "linux")]

mod common;
#[path = "../benches/matrix/epoll_server.rs"]
mod epoll_server;

use common::{Reply, Scripted, accounted, config, run, statuses};
use vastar::engine::Backend;
use vastar::engine::uring::{Features, Uring};
use vastar::server::{Server, ServerOptions};
use vastar::stats::ErrorKind;

fn modes() -> Vec<&'static dyn Backend> {
    if !common::io_uring_usable() {
        return vec![];
    }
    let probed = vastar::engine::uring::probe().expect("probed once already");
    let variants = [
        Features { defer_taskrun: false, ..probed },
        Features { incremental: false, ..probed },
        Features { multishot: false, incremental: false, ..probed },
    ];
    variants
        .into_iter()
        .map(|features| &*Box::leak(Box::new(Uring { features, buffer_bytes: None })) as &'static dyn Backend)
        .collect()
}

#[test]
fn degraded_modes_count_exactly() {
    for backend in modes() {
        let name = backend.name();
        for options in [ServerOptions::default(), ServerOptions { body_bytes: 200_000, chunked: true, threads: 1 }] {
            let server = Server::start("127.0.0.1:0".parse().unwrap(), options).unwrap();
            let url = format!("http://{}/", server.addr());
            let outcome = run(config(&["-n", "503", "-c", "7"], &url), backend);
            assert_eq!(accounted(&outcome), (503, 0, 0), "{name} {options:?}");
            assert_eq!(outcome.stats.body_bytes, 503 * options.body_bytes as u64, "{name}");
            assert_eq!(server.requests(), 503, "{name}");
        }
        let closing = Scripted::start(|_| {
            Reply::SendClose(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec())
        });
        let outcome = run(config(&["-n", "30", "-c", "3"], &closing.url("/")), backend);
        assert_eq!(statuses(&outcome), vec![(200, 30)], "{name}");
        let silent = Scripted::start(|_| Reply::Silent);
        let outcome = run(config(&["-n", "4", "-c", "2", "-t", "200ms"], &silent.url("/")), backend);
        assert_eq!(outcome.stats.error_count(ErrorKind::Timeout), 4, "{name}");
    }
}

/// Under buffer pressure every connection keeps progressing: thousands
/// of connections receiving large bodies through a deliberately tiny pool
/// (four 64 KiB buffers for the whole ring) all finish, none times out.
/// Receives that ran out of buffers are re-armed oldest first, a pool's
/// worth per batch; re-arming all of them at once made every batch fail
/// thousands of receives again, and this run timed out requests.
#[test]
fn a_starved_buffer_pool_still_serves_every_connection() {
    if !common::io_uring_usable() {
        return;
    }
    let probed = vastar::engine::uring::probe().expect("probed once already");
    let tight: &'static dyn Backend = Box::leak(Box::new(Uring { features: probed, buffer_bytes: Some(256 * 1024) }));
    // The benchmarks' epoll server: one thread writing to every socket
    // that has room, so every connection has data waiting all the time.
    let body_bytes = 256 * 1024;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let response = vastar::server::response(body_bytes, false);
    // The server on one CPU, the generator (one ring) on the other: the
    // server then fills sockets faster than one ring drains them.
    std::thread::spawn(move || {
        common::pin_current_thread(0);
        epoll_server::serve(listener, &response)
    });
    common::pin_current_thread(1);
    let (requests, connections) = (STARVED_REQUESTS, STARVED_CONNECTIONS);
    let outcome = common::run_within(
        std::time::Duration::from_secs(120),
        config(&["-n", &requests.to_string(), "-c", &connections.to_string(), "-t", "10s"], &url),
        tight,
    );
    assert_eq!(outcome.stats.error_count(ErrorKind::Timeout), 0, "no connection starved");
    assert_eq!(accounted(&outcome), (requests as u64, 0, 0));
    assert_eq!(outcome.stats.body_bytes, requests as u64 * body_bytes as u64);
}

const STARVED_REQUESTS: usize = 10_000;
const STARVED_CONNECTIONS: usize = 5_000;
