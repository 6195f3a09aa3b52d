//! What a run is asked to do, as the engine takes it: where connections
//! go, what is sent, how many connections, when to stop, the rate and its
//! shape, the deadlines. Built once by `run` from the flags; read by every
//! part of the engine, and depending on none of them.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use super::connection::Limits;
use super::requests::RequestSet;

/// Most connection attempts in flight at once while pre-connecting, so that
/// a large -c does not overflow the server's accept backlog.
pub const MAX_PARALLEL_CONNECTS: usize = 256;

/// When workers stop taking new requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Until {
    /// This many requests in total, across all connections.
    Count(u64),
    /// Until this much time after the start; requests still in flight then are aborted.
    Elapsed(Duration),
}

/// Where a connection goes: a TCP address, or a Unix domain socket's path
/// (`--unix-socket`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    Tcp(SocketAddr),
    Unix(std::path::PathBuf),
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Self {
        Address::Tcp(addr)
    }
}

/// Everything the engine needs to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Addresses of the target, tried in order when a connect fails.
    pub addrs: Vec<Address>,
    pub requests: RequestSet,
    pub connections: usize,
    pub until: Until,
    /// Most requests per second on each connection; `None` = as fast as possible.
    pub qps_per_connection: Option<f64>,
    /// Requests per second for the whole run on a fixed schedule (open
    /// model, `--rate`); `None` = a closed loop.
    pub rate: Option<f64>,
    /// Deadline on each whole request, counted from its intended start;
    /// `None` = wait forever.
    pub timeout: Option<Duration>,
    /// Limit on each connection attempt; `None` = the system's own.
    pub connect_timeout: Option<Duration>,
    /// Limit on the whole pre-connect phase.
    pub preconnect_timeout: Duration,
    /// Wall-clock moment to start at once connected (`--start-at`).
    pub start_at: Option<SystemTime>,
    /// Length of the timeline's intervals (`--interval`).
    pub interval: Duration,
    /// `--rate FROM..TO`, `--stages` of rates: the schedule follows this
    /// shape (warm-up included) instead of `rate`.
    pub shape: Option<crate::stats::Shape>,
    /// `--stages` of connections: how many of the connections are active
    /// when, warm-up included (`connections` is the most).
    pub stages: Option<crate::stats::Concurrency>,
    /// `--warmup`: requests meant to start this soon after the start are
    /// tallied apart ([`crate::stats::Warmup`]), take no ticket from the
    /// budget, and are left out of the run's other figures (not its timeline).
    pub warmup: Duration,
    /// `--goodput`: the limits a good request stays under.
    pub goodput: Option<crate::stats::Goodput>,
    /// `--arrivals`, `--burstiness`: how the open model's gaps are drawn.
    pub arrivals: super::arrivals::Arrivals,
    /// `--http2`: the run speaks HTTP/2 with at most this many streams in
    /// flight on each connection (`--streams`); `None` = HTTP/1.1.
    pub h2_streams: Option<usize>,
}

impl Plan {
    /// The deadlines every connection of the run keeps, and what it judges
    /// each request by.
    pub fn limits(&self) -> Limits {
        Limits { request: self.timeout, handshake: self.connect_timeout, goodput: self.goodput }
    }
}

/// Part `index` of `total` split over `parts` as evenly as can be (the
/// first `total % parts` parts get one more): how connections, and the
/// connection counts of `--stages`, are spread over workers.
pub fn share_of(total: usize, parts: usize, index: usize) -> usize {
    let parts = parts.max(1);
    total / parts + usize::from(index < total % parts)
}
