//! The HTTPS target of the matrix: nginx with TLS, one worker process
//! pinned to the server CPU, an ECDSA P-256 certificate (the test CA's
//! fixture), session cache and tickets on, serving a body of the cell's
//! size from a file. A common, fast TLS server that vastar did not write.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nginx; killed when dropped.
pub struct Nginx {
    child: Child,
    pub url: String,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn binary() -> Option<&'static str> {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists())
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn conf(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "daemon off; master_process off; worker_processes 1; worker_rlimit_nofile 20000;
pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 16384; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};
    keepalive_requests 100000000; keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} ssl reuseport backlog=4096;
        ssl_certificate {cert}; ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:tls:10m; ssl_session_tickets on;
        root {d}/www;
        location / {{ try_files /body =404; }}
    }}
}}
",
        cert = fixture("server.pem"),
        key = fixture("server.key"),
    )
}

/// Starts nginx serving `body` bytes on a free port, run by `pin` on the
/// server CPU.
pub fn start(body: usize, scratch: &Path, pin: impl Fn(&mut Command)) -> Result<Nginx, String> {
    let binary = binary().ok_or("--https needs nginx (apt-get install nginx)")?;
    let dir = scratch.join("nginx");
    std::fs::create_dir_all(dir.join("www")).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("www/body"), vec![b'x'; body]).map_err(|e| e.to_string())?;
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?.local_addr().unwrap().port();
        std::fs::write(dir.join("nginx.conf"), conf(&dir, port)).map_err(|e| e.to_string())?;
        let mut command = Command::new(binary);
        command.args(["-p", dir.to_str().unwrap(), "-c", "nginx.conf", "-e", "stderr"]);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        pin(&mut command);
        let mut child = command.spawn().map_err(|e| format!("cannot start nginx: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Nginx { child, url: format!("https://127.0.0.1:{port}/"), dir });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    Err("nginx did not start (see its error.log under the scratch directory)".into())
}
