//! What the connection machine hands out, polled by a backend after every
//! input: I/O to carry out ([`Io`]) and stream-tagged [`Event`]s, plus the
//! limits the machine's deadlines are counted with.

use std::time::{Duration, Instant};

use super::outgoing::Outgoing;
use crate::http::HttpError;
use crate::stats::{ErrorKind, Goodput, Handshake, Phase, Record};

/// The deadlines a connection keeps, from the run's flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Each request's whole life, counted from its intended start (`-t`).
    pub request: Option<Duration>,
    /// The TLS handshake, counted from the TCP connection (`--connect-timeout`).
    pub handshake: Option<Duration>,
    /// What a request must meet to count as good (`--goodput`).
    pub goodput: Option<Goodput>,
}

/// One request on a connection. Numbered per connection, from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u64);

/// I/O the backend must carry out, in the order polled.
#[derive(Clone, Debug, PartialEq)]
pub enum Io {
    /// Close the socket if one is open; nothing more goes over it.
    Close,
    /// Open a socket (none is open), then call
    /// [`super::Connection::handle_connected`].
    Connect,
    /// Write all these bytes, then call [`super::Connection::handle_sent`].
    Transmit(Outgoing),
}

/// Something that happened on the connection or one of its streams.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// The connection asked for by [`super::Connection::open`] is ready, or
    /// failed (then an [`Io::Close`] came before this).
    Opened(Opened),
    /// A response head of `stream` was read at `at` (one per redirect
    /// hop; the last is the final response's). Only from a machine made
    /// [`super::Connection::with_progress_events`], as is [`Event::Body`].
    Head { stream: StreamId, status: u16, at: Instant },
    /// `bytes` more of `stream`'s response body arrived at `at`.
    Body { stream: StreamId, bytes: u64, at: Instant },
    /// Values of a metric measured inside `stream`'s response, of which it
    /// has many (its inter-token gaps), handed out at `at` when the
    /// response succeeded (before its [`Event::Finished`]): a group that
    /// shares a histogram bucket. `metric` is an index in
    /// [`crate::stats::METRICS`].
    Sample { stream: StreamId, metric: usize, values: Phase, at: Instant },
    /// `stream` is over: answered, or failed with the category in its
    /// record's result. Exactly one per started stream.
    Finished { stream: StreamId, finished: Finished },
}

/// How a stream ended, for the policy and the stats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Finished {
    pub record: Record,
    /// A TLS handshake that ended during the request.
    pub handshake: Option<Handshake>,
    /// A proxy tunnel that opened during the request: how long it took (ns).
    pub tunnel: Option<u64>,
    /// The target the request was for (its pool entry's).
    pub target: u16,
}

/// How the opening of a connection before the start ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Opened {
    pub result: Result<(), ErrorKind>,
    pub handshake: Option<Handshake>,
    /// The proxy tunnel's setup, when the connection has one (ns).
    pub tunnel: Option<u64>,
}

/// The failure category of a response the reader refused.
pub(super) fn http_error_kind(e: HttpError) -> ErrorKind {
    match e {
        HttpError::HeadTooLarge => ErrorKind::HeadTooLarge,
        _ => ErrorKind::InvalidResponse,
    }
}
