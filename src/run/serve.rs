//! The built-in server's two uses: `vastar serve` (a target to benchmark,
//! over TCP or TLS, or a mock LLM) and the server `--demo` benchmarks.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Error;
use crate::cli::{BenchArgs, ServeArgs};
use crate::config::tls::read_pem;
use crate::config::{ConfigError, parse_duration};
use crate::server::{LlmOptions, Server, ServerOptions};
use crate::tls::{SelfSigned, ServerIdentity, self_signed, server_config};

pub(super) fn serve(args: &ServeArgs) -> Result<ExitCode, Error> {
    let tls_only = [("--cert", args.cert.is_some()), ("--client-ca", args.client_ca.is_some())];
    only_with("--tls", args.tls, tls_only.into_iter().chain([("--write-cert", args.write_cert.is_some())]))?;
    let h2_only = [("--max-streams-per-connection", args.max_streams_per_connection.is_some())];
    only_with("--http2", args.http2, h2_only.into_iter())?;
    if args.http2 && args.chunked {
        let why = "cannot be used with --http2 (HTTP/2 has no chunked framing)".to_string();
        return Err(Error::Config(ConfigError::Invalid { flag: "--chunked", why }));
    }
    let mut options = args.options();
    options.llm = llm_options(args)?;
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
    let answers = match &options.llm {
        Some(llm) => format!(
            "mock LLM: POST /v1/chat/completions and /v1/completions, first token after {:?}, then every {:?}, \
             {} tokens, {} per event{}",
            llm.ttft,
            llm.itl,
            llm.tokens,
            llm.tokens_per_event,
            if args.http2 { ", HTTP/1.1 and HTTP/2" } else { "" }
        ),
        None => format!(
            "{} byte bodies{}{}",
            args.body_bytes,
            if args.chunked { ", chunked" } else { "" },
            if args.http2 { ", HTTP/1.1 and HTTP/2" } else { "" }
        ),
    };
    let server = Server::start(args.listen, options).map_err(Error::Server)?;
    println!(
        "vastar serve: listening on {}://{}/ ({answers}){note}",
        if args.tls { "https" } else { "http" },
        server.addr()
    );
    server.wait();
    Ok(ExitCode::SUCCESS)
}

/// Refuses the first of `flags` given (`true`) without `mode`.
fn only_with(mode: &'static str, on: bool, mut flags: impl Iterator<Item = (&'static str, bool)>) -> Result<(), Error> {
    match flags.find(|(_, given)| *given && !on) {
        Some((flag, _)) => Err(Error::Config(ConfigError::Invalid { flag, why: format!("needs {mode}") })),
        None => Ok(()),
    }
}

/// Longest `--ttft` or `--itl`: a mock that waits longer tests nothing.
const MAX_LLM_DELAY: Duration = Duration::from_secs(3600);

/// The mock LLM's options from `--llm` and its flags, which need it.
fn llm_options(args: &ServeArgs) -> Result<Option<LlmOptions>, Error> {
    let given = [("--ttft", args.ttft.is_some()), ("--itl", args.itl.is_some()), ("--tokens", args.tokens.is_some())];
    only_with("--llm", args.llm, given.into_iter().chain([("--tokens-per-event", args.tokens_per_event.is_some())]))?;
    if !args.llm {
        return Ok(None);
    }
    let delay = |flag: &'static str, text: &Option<String>, default: Duration| -> Result<Duration, Error> {
        let Some(text) = text else { return Ok(default) };
        let delay = parse_duration(flag, text, None)?;
        if delay > MAX_LLM_DELAY {
            return Err(Error::Config(ConfigError::Invalid {
                flag,
                why: format!("{text:?} is too long; the most is 1h"),
            }));
        }
        Ok(delay)
    };
    let defaults = LlmOptions::default();
    Ok(Some(LlmOptions {
        ttft: delay("--ttft", &args.ttft, defaults.ttft)?,
        itl: delay("--itl", &args.itl, defaults.itl)?,
        tokens: args.tokens.unwrap_or(defaults.tokens),
        tokens_per_event: args.tokens_per_event.unwrap_or(defaults.tokens_per_event),
    }))
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
/// the client to trust; with `llm`, the mock LLM with its defaults.
pub(super) fn demo_server(tls: bool, llm: bool, http2: bool) -> Result<(Server, Option<String>), Error> {
    let mut options = ServerOptions { llm: llm.then(LlmOptions::default), http2, ..ServerOptions::default() };
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

/// The path `--demo --llm` benchmarks.
pub(super) const LLM_DEMO_PATH: &str = "/v1/chat/completions";

/// The request `--demo --llm` sends: a streaming chat completion asking for
/// the usage chunk, unless the user chose the method, body or content type.
pub(super) fn llm_demo_args(args: &BenchArgs) -> BenchArgs {
    let mut args = args.clone();
    let chose_body = args.body.is_some() || args.body_file.is_some();
    args.method.get_or_insert_with(|| "POST".into());
    args.content_type.get_or_insert_with(|| "application/json".into());
    if !chose_body {
        args.body = Some(
            r#"{"model":"vastar-mock","messages":[{"role":"user","content":"bench"}],"stream":true,"stream_options":{"include_usage":true}}"#
                .into(),
        );
    }
    args
}
