//! The streams of one HTTP/2 connection as the start policy sees them:
//! each stream is a slot of its own, with its own [`SlotTiming`] (closed
//! loop per stream, `--rate` claims per stream, backoff after failures),
//! up to `--streams` of them on one [`H2Connection`]. Written once for
//! every backend: a driver moves the bytes and calls [`Streams::fill`]
//! and [`Streams::event`]; the accounting is the same everywhere.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::connection::{Event, H2Connection, StreamId};
use super::policy::{Next, Policy, SlotTiming};
use super::shared::Shared;

/// The timings of one connection's streams.
#[derive(Debug)]
pub struct Streams {
    timings: Vec<SlotTiming>,
    /// Which stream each timing carries now.
    carrying: Vec<Option<StreamId>>,
    /// Timings carrying nothing. The one asked next is at the back, and
    /// freed ones go to the front, so that a timing holding a claimed
    /// `--rate` start is the one asked again when its instant comes.
    free: VecDeque<usize>,
    /// The policy said no request is left: nothing more starts here.
    retired: bool,
}

/// What [`Streams::fill`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Filled {
    /// Streams started.
    pub started: usize,
    /// The policy asks to be asked again at this instant.
    pub wake: Option<Instant>,
}

impl Streams {
    /// Timings for `streams` streams (`--streams`).
    pub fn new(streams: usize) -> Streams {
        let streams = streams.max(1);
        Streams {
            timings: vec![SlotTiming::default(); streams],
            carrying: vec![None; streams],
            free: (0..streams).rev().collect(),
            retired: false,
        }
    }

    /// Whether one of the timings carries `stream` now.
    pub fn carries(&self, stream: StreamId) -> bool {
        self.carrying.contains(&Some(stream))
    }

    /// The policy retired this connection's streams.
    pub fn retired(&self) -> bool {
        self.retired
    }

    /// Starts streams while the connection has room and the policy says
    /// so, at `now`.
    pub fn fill(&mut self, policy: &mut Policy, conn: &mut H2Connection, now: Instant) -> Filled {
        let mut filled = Filled::default();
        while !self.retired && conn.can_start() {
            let Some(&timing) = self.free.back() else { break };
            match policy.next(&mut self.timings[timing], now) {
                Next::Retire => self.retired = true,
                Next::Wait(at) => {
                    filled.wake = Some(at);
                    break;
                }
                Next::Start { intended, pick } => {
                    self.free.pop_back();
                    self.carrying[timing] = Some(conn.start(pick, intended, now));
                    filled.started += 1;
                }
            }
        }
        filled
    }

    /// Hands one of the machine's events to the policy at `now`: whether it
    /// was the end of an opening (pre-connect).
    pub fn event(&mut self, policy: &mut Policy, conn: &H2Connection, event: Event, now: Instant) -> bool {
        match event {
            Event::Finished { stream, finished } => {
                let Some(timing) = self.carrying.iter().position(|&c| c == Some(stream)) else {
                    debug_assert!(false, "one end per started stream");
                    return false;
                };
                self.carrying[timing] = None;
                policy.finish(&mut self.timings[timing], &finished, conn.backoff(), now);
                self.free.push_front(timing);
            }
            Event::Sample { stream, metric, values, at } => {
                if let Some(timing) = self.carrying.iter().position(|&c| c == Some(stream)) {
                    policy.sampled(&self.timings[timing], metric, &values, at);
                }
            }
            Event::Opened(opened) => {
                policy.opened(&opened);
                return true;
            }
            Event::Head { .. } | Event::Body { .. } => {}
        }
        false
    }
}

/// A new HTTP/2 machine for a slot of a run with `--http2`, and its
/// streams' timings (`tls` as the worker secures connections).
pub fn h2_slot(shared: &Shared, tls: Option<super::requests::TlsTarget>) -> (H2Connection, Streams) {
    let requests = shared.h2.as_ref().map(Arc::clone).expect("an HTTP/2 run encodes its requests");
    let streams = shared.plan.h2_streams.unwrap_or(1);
    let tunnel = shared.plan.requests.tunnel.clone();
    (H2Connection::new(tls, shared.plan.limits(), requests, streams).with_tunnel(tunnel), Streams::new(streams))
}
