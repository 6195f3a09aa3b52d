//! HTTPS against nginx, on every backend: a server vastar did not write,
//! with OpenSSL on the other side. Counts are checked against nginx's own
//! access log, which also records whether each TLS session was resumed.
//! Needs the `nginx` binary (see [`common::nginx`]).

mod common;

use std::path::Path;

use common::nginx::{Nginx, fixture};
use common::{accounted, config, each_backend, run, statuses};

/// An nginx serving HTTPS on a free loopback port (see [`common::nginx`]).
struct Https(Nginx);

impl Https {
    /// Starts nginx with the test CA's server certificate; with `client_ca`,
    /// it requires client certificates signed by that CA.
    fn start(name: &str, client_ca: Option<&str>) -> Option<Https> {
        Nginx::start(name, |_| {}, |dir, port| conf(dir, port, client_ca)).map(Https)
    }

    fn url(&self) -> String {
        format!("https://localhost:{}/", self.0.port)
    }

    /// The access log's lines: one per request, "r" when the session was resumed.
    fn log(&self) -> Vec<String> {
        self.0.log()
    }
}

fn conf(dir: &Path, port: u16, client_ca: Option<&str>) -> String {
    let verify = match client_ca {
        Some(ca) => format!("ssl_client_certificate {ca}; ssl_verify_client on;"),
        None => String::new(),
    };
    let http = format!(
        "keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert}; ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:tls:1m; ssl_session_tickets on;
        {verify}
        location / {{ return 200 'hello'; }}
    }}",
        cert = fixture("server.pem"),
        key = fixture("server.key"),
    );
    common::nginx::conf(dir, "$ssl_session_reused $ssl_protocol", &http)
}

#[test]
fn counts_match_nginx_with_and_without_keepalive() {
    let ca = fixture("ca.pem");
    each_backend(|backend| {
        let Some(nginx) = Https::start("counts", None) else { return };
        let outcome = run(config(&["-n", "2000", "-c", "20", "--cacert", &ca], &nginx.url()), backend);
        assert_eq!(accounted(&outcome), (2000, 0, 0));
        assert_eq!(statuses(&outcome), vec![(200, 2000)]);
        assert_eq!(nginx.log().len(), 2000, "nginx logged every request once");
        let outcome =
            run(config(&["-n", "300", "-c", "10", "--cacert", &ca, "--disable-keepalive"], &nginx.url()), backend);
        assert_eq!(accounted(&outcome), (300, 0, 0));
        assert_eq!(outcome.stats.tls.handshake.count, 300);
        assert_eq!(nginx.log().len(), 2300);
    });
}

#[test]
fn versions_and_resumption_against_nginx() {
    let ca = fixture("ca.pem");
    each_backend(|backend| {
        for (version, logged) in [("1.2", "TLSv1.2"), ("1.3", "TLSv1.3")] {
            let Some(nginx) = Https::start(&format!("resume{version}"), None) else { return };
            let args = [
                "-n",
                "300",
                "-c",
                "3",
                "--cacert",
                &ca,
                "--disable-keepalive",
                "--tls-resume",
                "--tls-version",
                version,
            ];
            let outcome = run(config(&args, &nginx.url()), backend);
            assert_eq!(accounted(&outcome), (300, 0, 0));
            let log = nginx.log();
            assert_eq!(log.len(), 300);
            assert!(log.iter().all(|line| line.ends_with(logged)), "{version}: {:?}", &log[..3]);
            let resumed = log.iter().filter(|line| line.starts_with("r ")).count() as u64;
            assert!(resumed * 10 > 9 * (300 - 3), "TLS {version}: nginx saw {resumed} of 300 resumed");
            assert_eq!(outcome.stats.tls.resumed, resumed, "vastar counts what nginx saw");
        }
    });
}

#[test]
fn nginx_requiring_a_client_certificate() {
    let ca = fixture("ca.pem");
    let made = vastar::tls::self_signed(std::time::SystemTime::now()).unwrap();
    let dir = std::env::temp_dir().join(format!("vastar-nginx-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("client.pem"), dir.join("client.key"));
    std::fs::write(&cert, made.cert_pem()).unwrap();
    std::fs::write(&key, made.key_pem()).unwrap();
    each_backend(|backend| {
        let Some(nginx) = Https::start("mtls", Some(cert.to_str().unwrap())) else { return };
        let with =
            ["-n", "100", "-c", "4", "--cacert", &ca, "--cert", cert.to_str().unwrap(), "--key", key.to_str().unwrap()];
        assert_eq!(statuses(&run(config(&with, &nginx.url()), backend)), vec![(200, 100)]);
        // nginx answers a missing certificate with an HTTP 400, not an alert.
        let without = run(config(&["-n", "20", "-c", "2", "--cacert", &ca], &nginx.url()), backend);
        assert_eq!(statuses(&without), vec![(400, 20)]);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
