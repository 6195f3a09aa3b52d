//! The server connection answering through its owner instead of with one
//! pre-built [`Response`](super::Response): the mock LLM over HTTP/2.
//!
//! Each stream's request (its `:method`, `:path` and body, up to a limit)
//! is collected and handed out whole ([`Connection::take_requests`]); the
//! owner answers when it likes, with a head ([`Connection::respond`]) and
//! body pieces ([`Connection::send`]). Pieces wait in their own stream's
//! queue and go out as DATA as far as the client's windows allow, so a
//! stalled stream holds up no other; the due pieces of every stream leave
//! in the connection's one output, in one write. A piece can carry a mark,
//! handed back ([`Connection::take_written`]) once the write that carried
//! its last byte is done: the mock's truth is the time of that write.

use std::collections::VecDeque;

use super::{Connection, Phase, Response};
use crate::http::h2::frame::{self, ErrorCode};

/// A complete request, for the owner to answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub stream_id: u32,
    pub method: Vec<u8>,
    pub path: Vec<u8>,
    pub body: Vec<u8>,
    /// The body went past the limit: `body` holds only its start, the rest
    /// is dropped as it comes, and the stream is reset (NO_ERROR, RFC 9113
    /// §8.1) once the answer is out.
    pub too_large: bool,
}

/// An owned stream's bytes: its request as it arrives, then the answer
/// bytes its windows hold back.
#[derive(Debug, Default)]
pub(super) struct Held {
    request: Request,
    /// The client is still sending the request (only after a refusal).
    request_open: bool,
    queue: Vec<u8>,
    /// Bytes of `queue` already framed.
    framed: usize,
    /// Marks, each at the end of its piece in `queue`.
    marks: VecDeque<(usize, u64)>,
}

/// What an owned connection keeps besides its streams.
#[derive(Debug, Default)]
pub(super) struct Owner {
    body_limit: usize,
    requests: Vec<Request>,
    /// Streams removed by a reset (the client's or ours) since last taken.
    gone: Vec<u32>,
    /// Marks framed into the output, each with the count of output bytes
    /// (ever) up to its piece's end.
    framed: VecDeque<(u64, u64)>,
    written: Vec<u64>,
    /// Output bytes sent, ever.
    sent_total: u64,
}

impl Connection<'static> {
    /// A connection whose streams are answered by its owner; request
    /// bodies over `body_limit` bytes are refused; at most `max_streams`
    /// open at once.
    pub fn owned(stream_limit: Option<u32>, body_limit: usize, max_streams: u32) -> Connection<'static> {
        let mut conn = Connection::with_limits(Response { block: &[], body: &[] }, stream_limit, max_streams);
        conn.owner = Some(Box::new(Owner { body_limit, ..Owner::default() }));
        conn
    }
}

impl Connection<'_> {
    /// The requests complete since the last call, in the order completed.
    pub fn take_requests(&mut self) -> Vec<Request> {
        self.owner.as_mut().map(|owner| std::mem::take(&mut owner.requests)).unwrap_or_default()
    }

    /// The streams reset (by the client, or by us for a rule it broke)
    /// since the last call: their answers are no longer wanted.
    pub fn take_gone(&mut self) -> Vec<u32> {
        self.owner.as_mut().map(|owner| std::mem::take(&mut owner.gone)).unwrap_or_default()
    }

    /// Appends to `into` the marks whose pieces were written since the
    /// last call, in the order written.
    pub fn take_written(&mut self, into: &mut Vec<u64>) {
        if let Some(owner) = self.owner.as_mut() {
            into.append(&mut owner.written);
        }
    }

    /// Starts the answer of `stream_id` (a request handed out) with the
    /// header `block`; with `end_stream` it is the whole answer. False if
    /// the stream is gone or already answered.
    pub fn respond(&mut self, stream_id: u32, block: &[u8], end_stream: bool) -> bool {
        let Some(at) = self.position(stream_id).filter(|&at| self.streams[at].phase == Phase::Pending) else {
            return false;
        };
        frame::encode_headers(self.out.queue(), stream_id, block, end_stream, self.peer_max_frame);
        if end_stream {
            self.answered += 1;
            self.finish_owned(at);
        } else {
            self.streams[at].phase = Phase::Queued { end: false };
        }
        true
    }

    /// Queues `data` as the next piece of the answer of `stream_id`, with
    /// `end_stream` the last; `mark` comes back from
    /// [`Connection::take_written`] once its last byte is written. False
    /// if the stream is gone, not answered yet, or its answer has ended.
    pub fn send(&mut self, stream_id: u32, data: &[u8], end_stream: bool, mark: Option<u64>) -> bool {
        let Some(at) = self.position(stream_id) else { return false };
        let stream = &mut self.streams[at];
        if stream.phase != (Phase::Queued { end: false }) {
            return false;
        }
        let held = stream.held.get_or_insert_default();
        held.queue.extend_from_slice(data);
        if let Some(mark) = mark {
            held.marks.push_back((held.queue.len(), mark));
        }
        stream.phase = Phase::Queued { end: end_stream };
        if end_stream {
            self.answered += 1;
        }
        true
    }

    /// The held state of a new stream, on owned connections: its request's
    /// `:method` and `:path`.
    pub(super) fn held_for(&self, head: (Vec<u8>, Vec<u8>)) -> Option<Box<Held>> {
        self.owner.as_ref()?;
        let (method, path) = head;
        Some(Box::new(Held { request: Request { method, path, ..Request::default() }, ..Held::default() }))
    }

    /// Whether requests are collected for an owner.
    pub(super) fn is_owned(&self) -> bool {
        self.owner.is_some()
    }

    /// The request of the stream at `at` is complete (or refused for its
    /// size, the client still sending with `request_open`): handed out.
    pub(super) fn request_complete(&mut self, at: usize, request_open: bool) {
        let stream = &mut self.streams[at];
        let (Some(owner), Some(held)) = (self.owner.as_mut(), stream.held.as_mut()) else { return };
        stream.phase = Phase::Pending;
        held.request_open = request_open;
        let mut request = std::mem::take(&mut held.request);
        request.stream_id = stream.id;
        owner.requests.push(request);
    }

    /// Body bytes of the stream at `at`, still receiving its request.
    pub(super) fn request_data(&mut self, at: usize, data: &[u8], end_stream: bool) {
        let limit = self.owner.as_ref().map_or(0, |owner| owner.body_limit);
        let Some(held) = self.streams[at].held.as_mut() else { return };
        if held.request.body.len() + data.len() > limit {
            held.request.too_large = true;
            self.request_complete(at, !end_stream);
            return;
        }
        held.request.body.extend_from_slice(data);
        if end_stream {
            self.request_complete(at, false);
        }
    }

    /// Whether DATA for the stream at `at` is dropped: the rest of a body
    /// refused for its size. Its END_STREAM ends the wait for it.
    pub(super) fn drops_data(&mut self, at: usize, end_stream: bool) -> bool {
        let Some(held) = self.streams[at].held.as_mut().filter(|held| held.request_open) else { return false };
        held.request_open = !end_stream;
        true
    }

    /// Notes that `stream_id` was removed by a reset.
    pub(super) fn note_gone(&mut self, stream_id: u32) {
        if let Some(owner) = self.owner.as_mut() {
            owner.gone.push(stream_id);
        }
    }

    /// Frames the held answer bytes of every stream as far as the windows
    /// allow.
    pub(super) fn send_held(&mut self) {
        let mut at = 0;
        while at < self.streams.len() {
            if self.frame_held(at) {
                self.finish_owned(at);
            } else {
                at += 1;
            }
        }
    }

    /// Frames what the windows allow of the stream at `at`; true when its
    /// answer is wholly framed.
    fn frame_held(&mut self, at: usize) -> bool {
        let (Some(owner), stream) = (self.owner.as_mut(), &mut self.streams[at]) else { return false };
        let (Phase::Queued { end }, Some(held)) = (stream.phase, stream.held.as_mut()) else { return false };
        let left = held.queue.len() - held.framed;
        let window = usize::try_from(self.send_window.min(stream.send_window).max(0)).unwrap_or(usize::MAX);
        let n = left.min(window);
        if n == 0 && !(left == 0 && end) {
            return false;
        }
        let last = end && n == left;
        let data = &held.queue[held.framed..held.framed + n];
        frame::encode_data(self.out.queue(), stream.id, data, last, self.peer_max_frame);
        self.send_window -= n as i64;
        stream.send_window -= n as i64;
        held.framed += n;
        let queued_total = owner.sent_total + self.out.pending().len() as u64;
        while held.marks.front().is_some_and(|&(end, _)| end <= held.framed) {
            let Some((_, mark)) = held.marks.pop_front() else { break };
            owner.framed.push_back((queued_total, mark));
        }
        if held.framed == held.queue.len() {
            held.queue.clear();
            held.framed = 0;
        }
        last
    }

    /// The answer of the stream at `at` is wholly queued: the stream ends,
    /// reset (NO_ERROR) if the client is still sending its request.
    fn finish_owned(&mut self, at: usize) {
        let stream = self.streams.remove(at);
        if stream.held.is_some_and(|held| held.request_open) {
            frame::encode_rst_stream(self.out.queue(), stream.id, ErrorCode::NO_ERROR);
        }
    }

    /// `n` more output bytes were sent: the marks they complete are written.
    pub(super) fn owned_sent(&mut self, n: usize) {
        let Some(owner) = self.owner.as_mut() else { return };
        owner.sent_total += n as u64;
        while owner.framed.front().is_some_and(|&(end, _)| end <= owner.sent_total) {
            let Some((_, mark)) = owner.framed.pop_front() else { break };
            owner.written.push(mark);
        }
    }
}
