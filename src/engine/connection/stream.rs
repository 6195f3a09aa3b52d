//! One request in flight on a connection (a stream) and what it measured
//! so far: its deadline, its phases, the bytes that crossed the wire. Turned
//! into the request's [`Record`] when it ends.

use std::time::{Duration, Instant};

use super::meter::BodyFacts;
use super::output::{Limits, StreamId};
use crate::stats::counters::{EVENTS, GOOD, STREAMED, TOKENS, TOKENS_FROM_EVENTS, TOKENS_FROM_USAGE};
use crate::stats::metrics::{TPOT, TTFB, TTFT};
use crate::stats::{ErrorKind, Goodput, Record, Samples, Tally, nanos};

#[derive(Clone, Copy, Debug)]
pub(super) struct Stream {
    pub(super) id: StreamId,
    pub(super) hops: u8,
    pub(super) retried: bool,
    /// When the request was meant to start (the schedule's time under
    /// `--rate`; the actual start otherwise).
    intended: Instant,
    started: Instant,
    /// The request fails at this instant.
    pub(super) deadline: Option<Instant>,
    /// Start of the phase in progress.
    pub(super) mark: Instant,
    pub(super) first_byte: Option<Instant>,
    /// When this hop's response body began (see
    /// [`crate::http::ResponseReader::body_begun`]).
    pub(super) first_body: Option<Instant>,
    /// A head of this hop was announced ([`super::Event::Head`]).
    pub(super) head_seen: bool,
    /// Body bytes of this hop announced so far ([`super::Event::Body`]).
    pub(super) body_seen: u64,
    pub(super) write_ns: u64,
    /// Every send was seen to complete (see `handle_sent_unobserved`).
    pub(super) write_observed: bool,
    pub(super) wait_ns: u64,
    pub(super) read_ns: u64,
    pub(super) wire_bytes: u64,
    pub(super) body_bytes: u64,
}

impl Stream {
    /// Stream `id`, meant to start at `intended`, started at `now`.
    pub(super) fn new(id: StreamId, intended: Instant, now: Instant, limits: Limits) -> Stream {
        Stream {
            id,
            hops: 0,
            retried: false,
            intended,
            started: now,
            deadline: limits.request.map(|limit| intended + limit),
            mark: now,
            first_byte: None,
            first_body: None,
            head_seen: false,
            body_seen: 0,
            write_ns: 0,
            write_observed: true,
            wait_ns: 0,
            read_ns: 0,
            wire_bytes: 0,
            body_bytes: 0,
        }
    }

    /// When the request actually started.
    pub(super) fn started(&self) -> Instant {
        self.started
    }

    /// The first byte of the response arrived at `now` (if none had).
    pub(super) fn first_byte_at(&mut self, now: Instant) {
        if self.first_byte.is_none() {
            self.first_byte = Some(now);
            self.wait_ns += nanos(now - self.mark);
        }
    }

    /// The response's body began by `now` (`begun`), if it had not before.
    pub(super) fn first_body_at(&mut self, now: Instant, begun: bool) {
        if self.first_body.is_none() && begun {
            self.first_body = Some(now);
        }
    }

    /// The request's record, ended at `now` with `result`; `partial` bytes
    /// of an unfinished response also crossed the wire; `body` is what its
    /// body said about tokens, when it was read.
    pub(super) fn record(
        &self,
        result: Result<u16, ErrorKind>,
        now: Instant,
        partial: u64,
        body: Option<&BodyFacts>,
        goodput: Option<&Goodput>,
    ) -> Record {
        let ns = Duration::from_nanos;
        let (mut metrics, mut tally) = (Samples::default(), Tally::default());
        if result.is_ok() {
            // A body framed by the close began when the close came, if it was empty.
            let first_body = self.first_body.unwrap_or(now).saturating_duration_since(self.intended);
            metrics.set(TTFB, nanos(first_body));
            let (ttft, tpot) = body.map_or((None, None), |facts| self.tokens(facts, &mut metrics, &mut tally));
            // Only a successful answer can be good: a fast 429 or 503 is not.
            let answered = matches!(result, Ok(200..=299));
            if let Some(goodput) = goodput.filter(|_| answered) {
                tally.0[GOOD] = u32::from(goodput.met(ttft, tpot, now.saturating_duration_since(self.intended)));
            }
        }
        Record {
            result,
            latency: now - self.started,
            queued: self.started - self.intended,
            write: self.write_observed.then(|| ns(self.write_ns)),
            wait: ns(self.wait_ns),
            read: ns(self.read_ns),
            wire_bytes: self.wire_bytes + partial,
            body_bytes: self.body_bytes,
            metrics,
            tally,
        }
    }

    /// A read body's token figures, into the record's metrics and counts:
    /// (time to first token, time per output token) when there are some.
    fn tokens(
        &self,
        facts: &BodyFacts,
        metrics: &mut Samples,
        tally: &mut Tally,
    ) -> (Option<Duration>, Option<Duration>) {
        let (tokens, from_usage) = facts.tokens();
        let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        tally.0[STREAMED] = u32::from(facts.streamed);
        tally.0[EVENTS] = facts.events;
        tally.0[TOKENS] = count(tokens);
        tally.0[TOKENS_FROM_USAGE] = u32::from(from_usage);
        tally.0[TOKENS_FROM_EVENTS] = u32::from(facts.streamed && !from_usage);
        let ttft = facts.first_content.map(|first| first.saturating_duration_since(self.intended));
        if let Some(ttft) = ttft {
            metrics.set(TTFT, nanos(ttft));
        }
        let tpot = match (facts.first_content, facts.last_content) {
            (Some(first), Some(last)) if tokens > 1 => {
                let per_token = nanos(last.saturating_duration_since(first)) / (tokens - 1);
                metrics.set(TPOT, per_token);
                Some(Duration::from_nanos(per_token))
            }
            _ => None,
        };
        (ttft, tpot)
    }
}
