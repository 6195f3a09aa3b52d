//! vastar: an HTTP/1.1 and HTTP/2 load generator.
//!
//! The binary is a thin shell over [`run`]; everything else lives here so it
//! can be tested. Layers, with dependencies pointing one way:
//! [`cli`] → [`config`]; [`run`] → [`engine`] → {[`http`], [`stats`], [`tls`], [`sock`]};
//! [`summary`] derives one model of a run from [`stats`], which [`report`]
//! (text) and [`result`] (JSON) render. [`cpu_busy`] measures how busy the CPUs were, for
//! the report's self-diagnosis. [`server`] is the built-in benchmark target
//! (over TCP or [`tls`]; its mock LLM keeps its own record in [`stats`]'
//! histograms), so [`server`] → {[`http`], [`stats`], [`tls`], [`sock`]}.
//! [`search`] decides the steps of `--find-max`, which [`run`] runs.
//! [`http`], [`stats`], [`tls`], [`sock`] (socket calls std lacks),
//! [`proxy`] (the CONNECT and SOCKS5 handshakes, used by [`engine`] and
//! [`run`]) and `timerfd` (Linux's precise timer) depend on nothing else in
//! the crate.

pub mod cli;
pub mod config;
pub mod cpu_busy;
pub mod diff;
pub mod engine;
pub mod html;
pub mod http;
pub mod progress;
pub mod proxy;
pub mod report;
pub mod result;
pub mod run;
pub mod search;
pub mod server;
pub mod signals;
pub mod sock;
pub mod stats;
pub mod summary;
pub mod term;
pub mod timerfd;
pub mod tls;
pub mod wallclock;

pub use run::{Error, benchmark, benchmark_on, run};
