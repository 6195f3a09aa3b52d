//! The built-in server's two uses: `vastar serve` (a target to benchmark,
//! over TCP or TLS) and the server `--demo` benchmarks.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use super::Error;
use crate::cli::ServeArgs;
use crate::config::tls::read_pem;
use crate::server::{Server, ServerOptions};
use crate::tls::{SelfSigned, ServerIdentity, self_signed, server_config};

pub(super) fn serve(args: &ServeArgs) -> Result<ExitCode, Error> {
    let tls_only = [("--cert", args.cert.is_some()), ("--client-ca", args.client_ca.is_some())];
    let tls_only = tls_only.into_iter().chain([("--write-cert", args.write_cert.is_some())]);
    if let Some((flag, _)) = tls_only.filter(|_| !args.tls).find(|(_, given)| *given) {
        return Err(Error::Config(crate::config::ConfigError::Invalid { flag, why: "needs --tls".into() }));
    }
    let mut options = args.options();
    let mut note = String::new();
    if args.tls {
        let (config, made) = tls_config(args)?;
        options.tls = Some(config);
        if let Some(made) = made {
            note = match &args.write_cert {
                Some(path) => {
                    std::fs::write(path, made.cert_pem()).map_err(|e| {
                        Error::Tls(format!("--write-cert: cannot write {:?}: {e}", path.display().to_string()))
                    })?;
                    format!("; self-signed certificate saved to {} (give it to clients with --cacert)", path.display())
                }
                None => "; self-signed certificate: clients need -k (or --write-cert FILE and --cacert FILE)".into(),
            };
        }
    }
    let server = Server::start(args.listen, options).map_err(Error::Server)?;
    println!(
        "vastar serve: listening on {}://{}/ ({} byte bodies{}){note}",
        if args.tls { "https" } else { "http" },
        server.addr(),
        args.body_bytes,
        if args.chunked { ", chunked" } else { "" }
    );
    server.wait();
    Ok(ExitCode::SUCCESS)
}

/// The server's TLS configuration from `--cert`/`--key`/`--client-ca`, or
/// with a certificate made now (returned too, for `--write-cert`).
fn tls_config(args: &ServeArgs) -> Result<(Arc<rustls::ServerConfig>, Option<SelfSigned>), Error> {
    super::tls_cpu("--tls")?;
    let client_ca = args.client_ca.as_deref().map(|path| read_pem("--client-ca", path)).transpose()?;
    let (identity, made) = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            (ServerIdentity::Pem { cert: read_pem("--cert", cert)?, key: read_pem("--key", key)? }, None)
        }
        _ => {
            let made = make_certificate()?;
            (made.identity(), Some(made))
        }
    };
    let config = server_config(identity, client_ca.as_deref()).map_err(|e| Error::Tls(e.to_string()))?;
    Ok((config, made))
}

fn make_certificate() -> Result<SelfSigned, Error> {
    self_signed(SystemTime::now()).map_err(Error::Tls)
}

/// The server `--demo` benchmarks, on a free loopback port; with `tls`, over
/// HTTPS with a fresh self-signed certificate, whose PEM is returned for
/// the client to trust.
pub(super) fn demo_server(tls: bool) -> Result<(Server, Option<String>), Error> {
    let mut options = ServerOptions::default();
    let mut trust = None;
    if tls {
        super::tls_cpu("--demo --tls")?;
        let made = make_certificate()?;
        let identity = made.identity();
        options.tls = Some(server_config(identity, None).map_err(|e| Error::Tls(e.to_string()))?);
        trust = Some(made.cert_pem());
    }
    let server = Server::start(SocketAddr::from(([127, 0, 0, 1], 0)), options).map_err(Error::Server)?;
    Ok((server, trust))
}
