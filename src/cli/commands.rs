//! The subcommands' arguments (`serve`, `merge`, `diff`, `plot`,
//! `completions`): the benchmark's own flags, the most, stay in `mod.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueHint};

use crate::server::{LLM_MAX_TOKENS, ServerOptions};

/// Where each shell looks for the script (README's Install section says more).
pub const COMPLETIONS_INSTALL: &str = "Install, for example:
  vastar completions bash > ~/.local/share/bash-completion/completions/vastar
  vastar completions zsh > ~/.zfunc/_vastar   (with fpath=(~/.zfunc $fpath) before compinit)
  vastar completions fish > ~/.config/fish/completions/vastar.fish";

#[derive(Args, Debug, Clone)]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug, Clone)]
pub struct PlotArgs {
    /// Result files written with -o json (- reads standard input).
    #[arg(value_name = "FILE", required = true, value_hint = ValueHint::FilePath)]
    pub files: Vec<String>,
    /// Write the report here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct DiffArgs {
    /// The result to compare against (-o json of the earlier run).
    #[arg(value_name = "BASE", value_hint = ValueHint::FilePath)]
    pub base: String,
    /// The result to judge.
    #[arg(value_name = "NEW", value_hint = ValueHint::FilePath)]
    pub new: String,
    /// Print a Markdown table (for a pull request comment).
    #[arg(long)]
    pub markdown: bool,
    /// Exit 3 when a figure is worse beyond noise and by more than PCT
    /// percent; when the runs are too short to judge their noise, when it
    /// moved the worse way by more than PCT percent.
    #[arg(long = "fail-on-regression", value_name = "PCT", allow_negative_numbers = true)]
    pub fail_on_regression: Option<f64>,
    /// Fail (exit 3) unless this holds for NEW (as on a run).
    #[arg(long = "assert", value_name = "EXPR")]
    pub assertions: Vec<String>,
    /// No colors.
    #[arg(long)]
    pub no_color: bool,
}

#[derive(Args, Debug, Clone)]
pub struct MergeArgs {
    /// Result files written with -o json; - reads them from standard input
    /// (several documents may follow each other, as in collected logs).
    #[arg(value_name = "FILE", required = true, value_hint = ValueHint::FilePath)]
    pub files: Vec<String>,
    /// Merge results for different targets (URL or method) on purpose.
    #[arg(long)]
    pub force: bool,
    /// Output: text (the report) or json (a merged result document).
    #[arg(short = 'o', long = "output", value_name = "FORMAT", default_value = "text")]
    pub output: String,
    /// No colors in the report.
    #[arg(long)]
    pub no_color: bool,
    /// Fail (exit 3) unless this holds for the merged result (as on a run).
    #[arg(long = "assert", value_name = "EXPR")]
    pub assertions: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Size of every response body in bytes (at most 1 GiB).
    #[arg(long = "body-bytes", default_value_t = 5, value_parser = clap::value_parser!(u64).range(..=1 << 30))]
    pub body_bytes: u64,
    /// Frame response bodies with Transfer-Encoding: chunked.
    #[arg(long)]
    pub chunked: bool,
    /// Server threads (each an event loop accepting on the same socket), 1 to 1024.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: u16,
    /// Serve HTTPS: with --cert and --key, or else a self-signed certificate
    /// for localhost, 127.0.0.1 and ::1 made at startup (clients need -k,
    /// or --cacert with the file --write-cert saves).
    #[arg(long)]
    pub tls: bool,
    /// --tls: the server's certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// --tls: the certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// --tls: require client certificates that chain to a CA in this PEM file.
    #[arg(long = "client-ca", value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// --tls: save the self-signed certificate here (PEM), for clients' --cacert.
    #[arg(long = "write-cert", value_name = "FILE", conflicts_with = "cert")]
    pub write_cert: Option<PathBuf>,
    /// Speak HTTP/2 too, with the same answers (Content-Length framed).
    /// Over plain TCP to clients that start with the HTTP/2 preface (h2c
    /// with prior knowledge, as h2load and curl --http2-prior-knowledge);
    /// other connections are still served as HTTP/1.1. With --tls, h2 is
    /// offered by ALPN before http/1.1. Not with --chunked. With --llm the
    /// mock answers over HTTP/2 the same, all the events of a connection
    /// that are due at once in one write, up to 1000 streams at once per
    /// connection (128 without --llm).
    #[arg(long)]
    pub http2: bool,
    /// --http2: send GOAWAY after N streams on a connection and close it
    /// once they are answered, as nginx's keepalive_requests.
    #[arg(long = "max-streams-per-connection", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams_per_connection: Option<u32>,
    /// Be a mock LLM instead: OpenAI-compatible POST /v1/chat/completions
    /// and /v1/completions, streamed ("stream": true) as server-sent
    /// events on an exact schedule, or answered whole when the last token
    /// is due. A target for LLM clients, gateways and proxies, no GPU needed.
    #[arg(long, conflicts_with_all = ["body_bytes", "chunked"])]
    pub llm: bool,
    /// --llm: time from a request's body to its first token [default: 80ms].
    #[arg(long, value_name = "DURATION")]
    pub ttft: Option<String>,
    /// --llm: time between one event's tokens and the next's [default: 15ms].
    #[arg(long, value_name = "DURATION")]
    pub itl: Option<String>,
    /// --llm: tokens per answer, 1 to 1000000; a request's max_tokens or
    /// max_completion_tokens overrides it [default: 24].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(LLM_MAX_TOKENS)))]
    pub tokens: Option<u32>,
    /// --llm: tokens per event (as a server that batches them) [default: 1].
    #[arg(long = "tokens-per-event", value_name = "K", value_parser = clap::value_parser!(u32).range(1..=i64::from(LLM_MAX_TOKENS)))]
    pub tokens_per_event: Option<u32>,
}

impl ServeArgs {
    /// The server's options, without TLS or the mock LLM (see
    /// [`crate::run`], which adds them).
    pub fn options(&self) -> ServerOptions {
        ServerOptions {
            body_bytes: usize::try_from(self.body_bytes).unwrap_or(usize::MAX),
            chunked: self.chunked,
            threads: usize::from(self.threads),
            tls: None,
            llm: None,
            http2: self.http2,
            max_streams_per_connection: self.max_streams_per_connection,
        }
    }
}
