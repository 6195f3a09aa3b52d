//! An nginx on a free loopback port for the tests that check vastar against
//! a server it did not write, with the configuration each test writes and
//! an access log to count requests by. Without the `nginx` binary the tests
//! say so and pass, unless `VASTAR_REQUIRE_NGINX` is set (CI sets it).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nginx, stopped (and its directory removed) when dropped.
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Nginx {
    /// Starts nginx in a fresh directory for `name`, configured by
    /// `conf(dir, port)`; `prepare(dir)` first puts any files it serves there.
    pub fn start(name: &str, prepare: impl Fn(&Path), conf: impl Fn(&Path, u16) -> String) -> Option<Nginx> {
        let binary =
            ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists());
        let Some(binary) = binary else {
            assert!(
                std::env::var_os("VASTAR_REQUIRE_NGINX").is_none(),
                "VASTAR_REQUIRE_NGINX is set but nginx is missing"
            );
            eprintln!("nginx is not installed; skipping (apt-get install nginx)");
            return None;
        };
        let dir = std::env::temp_dir().join(format!("vastar-nginx-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        prepare(&dir);
        // A free port, taken back from the kernel just before nginx binds it;
        // another process could win it in between, so a failed start is retried.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            std::fs::write(dir.join("nginx.conf"), conf(&dir, port)).unwrap();
            let mut child = Command::new(binary)
                .args(["-p", dir.to_str().unwrap(), "-c", "nginx.conf", "-e", "stderr"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nginx starts");
            if listening(&mut child, port) {
                return Some(Nginx { child, port, dir });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("nginx did not start on any of 5 ports");
    }

    /// The access log's lines: one per request.
    pub fn log(&self) -> Vec<String> {
        // nginx writes each line as the request ends; give the last a moment.
        std::thread::sleep(Duration::from_millis(100));
        let text = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
        text.lines().map(str::to_string).collect()
    }
}

/// Waits until `child` accepts on `port`; false if it exits or takes too long.
fn listening(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A whole nginx.conf for one worker in `dir`: the access log written in
/// `log_format`, then `http` (the directives of the `http` block, the
/// `server` block with them).
pub fn conf(dir: &Path, log_format: &str, http: &str) -> String {
    let d = dir.display();
    format!(
        "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
    log_format logged '{log_format}';
    access_log {d}/access.log logged;
    client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};
    {http}
}}
"
    )
}

/// A file of the test TLS fixtures (CA, server certificate and key).
pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}
