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
        let paths = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"];
        let (binary, dir) = installed(&paths, "VASTAR_REQUIRE_NGINX", "nginx", name)?;
        prepare(&dir);
        let (child, port) = spawn_on_free_port("nginx", |port| {
            std::fs::write(dir.join("nginx.conf"), conf(&dir, port)).unwrap();
            let mut command = Command::new(binary);
            command.args(["-p", dir.to_str().unwrap(), "-c", "nginx.conf", "-e", "stderr"]);
            command
        });
        Some(Nginx { child, port, dir })
    }

    /// The access log's lines: one per request.
    pub fn log(&self) -> Vec<String> {
        // nginx writes each line as the request ends; give the last a moment.
        std::thread::sleep(Duration::from_millis(100));
        let text = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
        text.lines().map(str::to_string).collect()
    }
}

/// The first of `paths` that exists, and a fresh directory for the test
/// `name`; `None` (the test skips) when none exists, unless the variable
/// `require` is set: then the test fails.
pub fn installed<'a>(paths: &[&'a str], require: &str, package: &str, name: &str) -> Option<(&'a str, PathBuf)> {
    let Some(binary) = paths.iter().copied().find(|p| Path::new(p).exists()) else {
        assert!(std::env::var_os(require).is_none(), "{require} is set but {package} is missing");
        eprintln!("{package} is not installed; skipping (apt-get install {package})");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("vastar-{package}-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Some((binary, dir))
}

/// Starts the server `command(port)` gives (after writing its config for
/// `port`) on a free loopback port: one taken back from the kernel just
/// before the server binds it. Another process could win it in between,
/// so a failed start is retried.
pub fn spawn_on_free_port(name: &str, command: impl Fn(u16) -> Command) -> (Child, u16) {
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child =
            command(port).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap_or_else(|e| panic!("{name}: {e}"));
        if listening(&mut child, port) {
            return (child, port);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("{name} did not start on any of 5 ports");
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
        stop(&mut self.child, &self.dir);
    }
}

/// Stops a server the tests started and removes its directory.
pub fn stop(child: &mut Child, dir: &Path) {
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
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
