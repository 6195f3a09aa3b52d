//! Nothing leaks: after runs full of timed-out and aborted requests, every
//! socket the client opened is closed (the server sees each one end), the
//! process holds no more descriptors than before, and memory does not grow
//! from run to run. One test per file, so no other test's sockets interfere.

mod common;

use std::time::Duration;

use common::{Reply, Scripted, config, each_backend, run, send};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn timeouts_and_aborts_leave_no_socket_and_no_memory_behind() {
    // Every third request gets no answer: it times out and its socket is closed.
    let server = Scripted::start(|seen| {
        if seen.on_connection % 3 == 2 { Reply::Silent } else { send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") }
    });
    let url = server.url("/");
    each_backend(|backend| {
        let round = || {
            run(config(&["-n", "60", "-c", "10", "-t", "50ms"], &url), backend);
            // A duration run that ends with requests in flight (aborted).
            run(config(&["-z", "200ms", "-c", "10", "-t", "5s"], &url), backend);
        };
        // The allocator keeps what each new worker thread's arena held (up
        // to 8 arenas per core, glibc's limit): that fills up over the first
        // ten rounds or so (measured: 6.7 MB to 13.4 MB, then 40 KB a round)
        // and then stays; a leak keeps growing after it.
        for _ in 0..12 {
            round();
        }
        assert_eq!(server.open_after(Duration::from_secs(5)), 0, "{}: sockets left open", backend.name());
        let (fds, rss) = (open_fds(), rss_kb());
        for _ in 0..8 {
            round();
        }
        assert_eq!(server.open_after(Duration::from_secs(5)), 0, "{}: sockets left open", backend.name());
        assert_eq!(open_fds(), fds, "{}: descriptors leaked", backend.name());
        let grown = rss_kb().saturating_sub(rss);
        assert!(grown < 4096, "{}: memory grew by {grown} KiB over 8 runs", backend.name());
    });
}
