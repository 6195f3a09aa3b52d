//! The io_uring backend's degraded modes, forced by hand: without the fast
//! setup flags, with whole-buffer (not incremental) consumption, and with
//! single-shot receives into per-connection buffers. Each must count as
//! exactly as the full mode on the cases that stress receiving.

#![cfg(target_os = "linux")]

mod common;

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

/// Under buffer pressure every connection keeps progressing: many
/// connections receiving large bodies through a deliberately tiny buffer
/// pool (two 64 KiB buffers for the whole ring) all finish, none times out.
/// Receives that ran out of buffers are re-armed oldest first.
#[test]
fn a_starved_buffer_pool_still_serves_every_connection() {
    if !common::io_uring_usable() {
        return;
    }
    let probed = vastar::engine::uring::probe().expect("probed once already");
    let tight: &'static dyn Backend = Box::leak(Box::new(Uring { features: probed, buffer_bytes: Some(128 * 1024) }));
    let options = ServerOptions { body_bytes: 128 * 1024, chunked: false, threads: 1 };
    let server = Server::start("127.0.0.1:0".parse().unwrap(), options).unwrap();
    let url = format!("http://{}/", server.addr());
    let outcome = common::run_within(
        std::time::Duration::from_secs(60),
        config(&["-n", "3000", "-c", "1000", "-t", "20s"], &url),
        tight,
    );
    assert_eq!(outcome.stats.error_count(ErrorKind::Timeout), 0, "no connection starved");
    assert_eq!(accounted(&outcome), (3000, 0, 0));
    assert_eq!(outcome.stats.body_bytes, 3000 * 128 * 1024);
}
