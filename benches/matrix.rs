//! The comparison matrix: vastar against wrk, hey, oha and h2load, side by
//! side on one machine.
//!
//! `cargo bench --bench matrix -- --quick` (3 concurrency levels, 5 B bodies,
//! under two minutes) or `-- --full` (10 levels x 4 body sizes, writes
//! BENCHMARK.md and BENCHMARK.csv); add `--soak` to run the 60 s soak test
//! afterwards. `-- --quick --rate-check` runs vastar alone, closed-loop and
//! under `--rate` far above its peak, into target/bench-rate.md. `--https`
//! measures against nginx with TLS instead (`--reconnect`: a handshake per
//! request), into target/bench-https*.md. A plain `cargo bench` skips it.
//!
//! The target is the epoll server in `matrix/epoll_server.rs`, started by
//! re-running this binary, pinned to the first CPU of the affinity mask; the
//! generators are pinned to the other CPUs. Within each round the tools run
//! one after another in a rotating order; each cell is the median of the
//! rounds. CPU time and peak RSS come from `wait4` on the generator process.

#[cfg(target_os = "linux")]
#[path = "matrix/epoll_server.rs"]
mod epoll_server;
#[cfg(target_os = "linux")]
#[path = "matrix/nginx.rs"]
mod nginx;
#[cfg(target_os = "linux")]
#[path = "matrix/rate_section.rs"]
mod rate_section;
#[cfg(target_os = "linux")]
#[path = "matrix/runner.rs"]
mod runner;
#[cfg(target_os = "linux")]
#[path = "matrix/tools.rs"]
mod tools;

#[cfg(target_os = "linux")]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().map(String::as_str) == Some("--serve-epoll") {
        let body: usize = args.get(1).and_then(|b| b.parse().ok()).unwrap_or(5);
        let chunked = args.get(2).is_some_and(|c| c == "chunked");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        println!("{}", listener.local_addr().expect("local address").port());
        let response = vastar::server::response(body, chunked);
        if let Err(e) = epoll_server::serve(listener, &response) {
            eprintln!("epoll server: {e}");
            std::process::exit(1);
        }
        return;
    }
    match runner::Options::parse(&args) {
        Ok(Some(options)) => {
            if let Err(e) = runner::run(&options) {
                eprintln!("matrix: {e}");
                std::process::exit(1);
            }
        }
        Ok(None) => println!(
            "matrix: skipped; run `cargo bench --bench matrix -- --quick` (about 90 s) or `-- --full` (writes BENCHMARK.md)"
        ),
        Err(e) => {
            eprintln!("matrix: {e}");
            std::process::exit(2);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("matrix: the comparison harness runs on Linux only (it pins CPUs and serves with epoll)");
}
