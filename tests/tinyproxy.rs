//! Through a real forward proxy vastar did not write: tinyproxy, started
//! unprivileged from a temporary config on a free loopback port, its log
//! counting what it relayed. `http://` goes in absolute form (one request
//! line per request in the log), `https://` through CONNECT (one per
//! tunnel, the requests inside it counted at the origin). Without the
//! binary the test says so and passes, unless `VASTAR_REQUIRE_PROXY` is set
//! (CI sets it).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, SystemTime};

use common::nginx::{installed, spawn_on_free_port, stop};
use common::{accounted, config, each_backend, run};
use vastar::server::{Server, ServerOptions};

/// A running tinyproxy, stopped (and its directory removed) when dropped.
struct Tinyproxy {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Tinyproxy {
    fn start(name: &str) -> Option<Tinyproxy> {
        let (binary, dir) = installed(&["/usr/bin/tinyproxy"], "VASTAR_REQUIRE_PROXY", "tinyproxy", name)?;
        let (child, port) = spawn_on_free_port("tinyproxy", |port| {
            let log = dir.join("tinyproxy.log");
            let conf = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Info\nMaxClients 512\nAllow 127.0.0.1\n",
                log.display()
            );
            std::fs::write(dir.join("tinyproxy.conf"), conf).unwrap();
            let mut command = Command::new(binary);
            command.args(["-d", "-c", dir.join("tinyproxy.conf").to_str().unwrap()]);
            command
        });
        Some(Tinyproxy { child, port, dir })
    }

    /// The request lines tinyproxy logged (`GET http://...`, `CONNECT host:port`).
    fn requests(&self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(100));
        let log = std::fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default();
        log.lines().filter_map(|l| l.split_once("]: Request (file descriptor ")).map(|(_, r)| r.to_string()).collect()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        stop(&mut self.child, &self.dir);
    }
}

#[test]
fn http_in_absolute_form_and_https_through_connect_are_counted_exactly_by_tinyproxy() {
    let cert = vastar::tls::self_signed(SystemTime::now()).unwrap();
    let ca = std::env::temp_dir().join(format!("vastar-tinyproxy-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, cert.cert_pem()).unwrap();
    let ca = ca.to_str().unwrap().to_string();
    each_backend(|backend| {
        let Some(proxy) = Tinyproxy::start(if backend.name().starts_with("io_uring") { "uring" } else { "portable" })
        else {
            return;
        };
        let x = format!("http://127.0.0.1:{}", proxy.port);
        let plain = Server::start("127.0.0.1:0".parse().unwrap(), ServerOptions::default()).unwrap();
        let url = format!("http://127.0.0.1:{}/plain", plain.addr().port());
        let outcome = run(config(&["-n", "300", "-c", "4", "-x", &x], &url), backend);
        assert_eq!(accounted(&outcome), (300, 0, 0));
        assert_eq!(plain.requests(), 300);
        let logged = proxy.requests();
        let absolute = logged.iter().filter(|r| r.contains(&format!("GET {url} HTTP/1.1"))).count();
        assert_eq!(absolute, 300, "{:?}", &logged[..logged.len().min(3)]);

        let tls = Some(vastar::tls::server_config(cert.identity(), None).unwrap());
        let secure =
            Server::start("127.0.0.1:0".parse().unwrap(), ServerOptions { tls, ..ServerOptions::default() }).unwrap();
        let url = format!("https://localhost:{}/", secure.addr().port());
        let outcome = run(config(&["-n", "600", "-c", "6", "--cacert", &ca, "-x", &x], &url), backend);
        assert_eq!(accounted(&outcome), (600, 0, 0));
        assert_eq!(secure.requests(), 600);
        let logged = proxy.requests();
        let connects = logged
            .iter()
            .filter(|r| r.contains(&format!("CONNECT localhost:{} HTTP/1.1", secure.addr().port())))
            .count();
        assert_eq!((connects, outcome.stats.tunnel.count), (6, 6), "one tunnel per connection, kept alive");
    });
}
