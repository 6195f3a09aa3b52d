//! The scripted peer of the simulation: a server that answers each request
//! it receives with timed steps (bytes, a close, a reset), decided by a
//! function of the request, and logs everything it saw.

use std::time::Duration;

use crate::stats::ErrorKind;

/// A request as the server received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// The client's connection slot.
    pub slot: usize,
    /// Which socket of the run it came on (every accepted connect is a new one, from 0).
    pub socket: u64,
    /// Its place among the requests of that socket, from 0.
    pub nth_on_socket: u64,
    /// When it arrived, from the simulation's origin.
    pub at: Duration,
    pub bytes: Vec<u8>,
}

impl Arrival {
    /// The request line's target (`/path?query`).
    pub fn target(&self) -> &str {
        let line = self.bytes.split(|&b| b == b'\r').next().unwrap_or_default();
        std::str::from_utf8(line).unwrap_or("").split(' ').nth(1).unwrap_or("")
    }
}

/// What the server does, at a delay from the request's arrival.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerStep {
    /// Writes these bytes.
    Send(Duration, Vec<u8>),
    /// Closes its side (FIN).
    Close(Duration),
    /// Resets the connection.
    Reset(Duration),
}

/// The server's answer to one request: its steps.
type Answer = Box<dyn FnMut(&Arrival) -> Vec<ServerStep>>;

/// How the server answers, and how it accepts connections.
pub struct Script {
    answer: Answer,
    /// Time a connect takes to be accepted.
    pub connect_latency: Duration,
    /// Connects are refused (nothing listens) with this error.
    pub refuse: Option<ErrorKind>,
}

impl Script {
    /// A server that answers each request with `answer`'s steps; connects
    /// are accepted at once.
    pub fn new(answer: impl FnMut(&Arrival) -> Vec<ServerStep> + 'static) -> Script {
        Script { answer: Box::new(answer), connect_latency: Duration::ZERO, refuse: None }
    }

    /// A server that answers every request with `response` after `delay`.
    pub fn replying(delay: Duration, response: &[u8]) -> Script {
        let response = response.to_vec();
        Script::new(move |_| vec![ServerStep::Send(delay, response.clone())])
    }

    /// A server that never answers.
    pub fn silent() -> Script {
        Script::new(|_| Vec::new())
    }

    /// Nothing listens: every connect fails with `kind`.
    pub fn refusing(kind: ErrorKind) -> Script {
        Script { refuse: Some(kind), ..Script::silent() }
    }

    pub(super) fn answer(&mut self, arrival: &Arrival) -> Vec<ServerStep> {
        (self.answer)(arrival)
    }
}

/// A whole response with a `Content-Length` body.
pub fn response(status: u16, headers: &str, body: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}
