//! HTTP/2 (RFC 9113) for the built-in server (`vastar serve --http2`):
//! one connection's protocol state, server side, without sockets or
//! clocks. Bytes go in with [`Connection::feed`] and come out of
//! [`Connection::output`]; [`io`] only moves them, so every rule is tested
//! here against scripted client bytes.
//!
//! The server exists to be measured against, so it does the least a
//! correct HTTP/2 server does, like nginx: its SETTINGS allow 128 streams
//! at once and open its windows wide (given back as request bodies
//! arrive); every header block passes through one HPACK decoder per
//! connection, in order, so clients that use the dynamic table work; every
//! stream whose request is complete gets the same pre-built [`Response`]
//! (head encoded once, body sent as the client's windows allow, never past
//! them) and is counted. A client's protocol error ends the connection with
//! GOAWAY naming the rule; a stream's own error resets only the stream.
//! With a stream limit, GOAWAY goes out after that many streams, as nginx's
//! `keepalive_requests` does, and the connection ends once they are done.

#[path = "h2_io.rs"]
mod io;
#[path = "h2_owned.rs"]
mod owned;
#[path = "h2_parts.rs"]
mod parts;

pub(super) use io::{linger, serve_connection, speaks_h2};
pub use owned::Request;
pub use parts::{ConnError, Response, response_block};

use crate::http::h2::frame::{
    self, DEFAULT_MAX_FRAME_BYTES, DEFAULT_WINDOW_BYTES, ErrorCode, Frame, FrameHeader, MAX_WINDOW_BYTES, PREFACE,
    setting,
};
use crate::http::h2::hpack::{Decoder, HpackError};
use crate::http::h2::send_buffer::SendBuffer;
use crate::http::head::Status;
use parts::{Phase, RequestFields, Stream};

/// Streams the client may have open at once (our
/// SETTINGS_MAX_CONCURRENT_STREAMS), as nginx's default.
pub const MAX_STREAMS: u32 = 128;
/// Our windows, streams' and the connection's: the largest, so that flow
/// control never slows a request body; given back as bodies arrive.
pub const WINDOW_BYTES: u32 = MAX_WINDOW_BYTES;
/// The largest frame we accept: the default, so a partial frame never
/// holds more than 16 KiB.
const OUR_MAX_FRAME_BYTES: u32 = DEFAULT_MAX_FRAME_BYTES;
/// Our SETTINGS_MAX_HEADER_LIST_SIZE, as the HTTP/1.1 reader's head limit.
const MAX_HEADER_LIST_BYTES: u32 = crate::http::MAX_HEAD_BYTES as u32;
/// Largest header block read before it is decoded: twice the list limit
/// refuses only floods.
const MAX_BLOCK_BYTES: usize = 2 * MAX_HEADER_LIST_BYTES as usize;
/// Body bytes queued as DATA before the output is taken: what a
/// connection holds of a large body at once.
const OUTPUT_TARGET: usize = 64 * 1024;

/// One HTTP/2 connection, server side.
#[derive(Debug)]
pub struct Connection<'a> {
    response: Response<'a>,
    /// Send GOAWAY once this many streams were accepted.
    stream_limit: Option<u32>,
    /// Bytes of the client's preface still to come.
    preface_left: usize,
    /// The client's first SETTINGS arrived.
    settings_seen: bool,
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE and SETTINGS_MAX_FRAME_SIZE.
    peer_initial_window: u32,
    peer_max_frame: u32,
    /// What our DATA may still send on the connection (the client's window).
    send_window: i64,
    /// What the client may still send on the connection (our window).
    recv_window: i64,
    /// Streams open on our side, in the order opened.
    streams: Vec<Stream>,
    /// The highest stream id the client has opened.
    highest: u32,
    /// The highest stream id accepted (processed), for GOAWAY.
    last_accepted: u32,
    accepted: u32,
    /// Our graceful GOAWAY went out with this last stream id: streams
    /// above it are not processed.
    goaway_last: Option<u32>,
    /// The client sent GOAWAY: it opens no more streams.
    peer_goaway: bool,
    failed: Option<ConnError>,
    /// A header block waiting for its CONTINUATION frames: its stream,
    /// END_STREAM, and the fragments so far in `block`.
    block_open: Option<(u32, bool)>,
    block: Vec<u8>,
    decoder: Decoder,
    /// Received bytes not yet a whole frame.
    input: Vec<u8>,
    /// Bytes to send.
    out: SendBuffer,
    /// Requests answered since [`Connection::take_answered`].
    answered: u64,
    /// Our windows' full size, streams' and the connection's.
    window: u32,
    /// Our SETTINGS_MAX_CONCURRENT_STREAMS.
    max_streams: u32,
    /// With an owner, who answers the requests instead of `response`.
    owner: Option<Box<owned::Owner>>,
}

impl<'a> Connection<'a> {
    /// A connection whose first bytes out are our SETTINGS and the
    /// connection window opened to [`WINDOW_BYTES`]; with `stream_limit`,
    /// GOAWAY follows that many streams.
    pub fn new(response: Response<'a>, stream_limit: Option<u32>) -> Connection<'a> {
        Connection::build(response, stream_limit, WINDOW_BYTES, MAX_STREAMS)
    }

    /// [`Connection::new`] allowing `max_streams` open at once.
    fn with_limits(response: Response<'a>, stream_limit: Option<u32>, max_streams: u32) -> Connection<'a> {
        Connection::build(response, stream_limit, WINDOW_BYTES, max_streams)
    }

    /// [`Connection::new`] with our windows at `window` bytes (at least
    /// the default 65,535), so that tests see them given back.
    #[cfg(test)]
    fn with_window(response: Response<'a>, stream_limit: Option<u32>, window: u32) -> Connection<'a> {
        Connection::build(response, stream_limit, window, MAX_STREAMS)
    }

    fn build(response: Response<'a>, stream_limit: Option<u32>, window: u32, max_streams: u32) -> Connection<'a> {
        let window = window.clamp(DEFAULT_WINDOW_BYTES, MAX_WINDOW_BYTES);
        let mut out = Vec::with_capacity(OUTPUT_TARGET);
        frame::encode_settings(
            &mut out,
            &[
                (setting::MAX_CONCURRENT_STREAMS, max_streams),
                (setting::INITIAL_WINDOW_SIZE, window),
                (setting::MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_BYTES),
            ],
        );
        if window > DEFAULT_WINDOW_BYTES {
            frame::encode_window_update(&mut out, 0, window - DEFAULT_WINDOW_BYTES);
        }
        Connection {
            response,
            stream_limit,
            window,
            preface_left: PREFACE.len(),
            settings_seen: false,
            peer_initial_window: DEFAULT_WINDOW_BYTES,
            peer_max_frame: DEFAULT_MAX_FRAME_BYTES,
            send_window: i64::from(DEFAULT_WINDOW_BYTES),
            recv_window: i64::from(window),
            streams: Vec::new(),
            highest: 0,
            last_accepted: 0,
            accepted: 0,
            goaway_last: None,
            peer_goaway: false,
            failed: None,
            block_open: None,
            block: Vec::new(),
            decoder: Decoder::new(MAX_HEADER_LIST_BYTES as usize),
            input: Vec::new(),
            out: SendBuffer::new(out),
            answered: 0,
            max_streams,
            owner: None,
        }
    }

    /// Bytes to send now: what is queued, topped up with DATA as far as
    /// the client's windows allow (up to 64 KiB of body at a time).
    pub fn output(&mut self) -> &[u8] {
        if self.failed.is_some() {
        } else if self.is_owned() {
            self.send_held();
        } else {
            self.send_bodies();
        }
        self.out.pending()
    }

    /// `n` bytes of [`Connection::output`] were sent.
    pub fn output_sent(&mut self, n: usize) {
        let n = n.min(self.out.pending().len());
        self.out.sent(n);
        self.owned_sent(n);
    }

    /// Requests answered since the last call (each counted once).
    pub fn take_answered(&mut self) -> u64 {
        std::mem::take(&mut self.answered)
    }

    /// The connection error that ended the connection, if one did.
    pub fn error(&self) -> Option<ConnError> {
        self.failed
    }

    /// Whether the connection is finished: everything queued was sent and
    /// it failed, or a GOAWAY (ours or the client's) was sent and every
    /// stream it lets finish has.
    pub fn is_done(&self) -> bool {
        let winding_down = self.goaway_last.is_some() || self.peer_goaway;
        self.out.pending().is_empty() && (self.failed.is_some() || (winding_down && self.streams.is_empty()))
    }

    /// Reads received bytes. After a connection error (queued as GOAWAY)
    /// the rest is ignored.
    pub fn feed(&mut self, data: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        let data = match self.preface(data) {
            Ok(rest) => rest,
            Err(error) => return self.fail(error),
        };
        self.input.extend_from_slice(data);
        let input = std::mem::take(&mut self.input);
        let read = self.read_frames(&input);
        self.input = input;
        match read {
            Ok(used) => drop(self.input.drain(..used)),
            Err(error) => self.fail(error),
        }
    }

    /// Checks the bytes of the client preface in `data` and returns the rest.
    fn preface<'d>(&mut self, data: &'d [u8]) -> Result<&'d [u8], ConnError> {
        let n = self.preface_left.min(data.len());
        let expected = &PREFACE[PREFACE.len() - self.preface_left..][..n];
        if data[..n] != *expected {
            return Err(ConnError::Preface);
        }
        self.preface_left -= n;
        Ok(&data[n..])
    }

    /// Reads the whole frames at the start of `buf`: how many bytes they took.
    fn read_frames(&mut self, buf: &[u8]) -> Result<usize, ConnError> {
        let mut at = 0;
        while at < buf.len() {
            let rest = &buf[at..];
            match frame::parse_frame(rest, OUR_MAX_FRAME_BYTES) {
                Ok(Status::Complete((frame, used))) => {
                    self.on_frame(frame)?;
                    at += used;
                }
                Ok(Status::Partial) => break,
                // A stream's own error (§5.4.2): the whole frame is in, skip it.
                Err(error) if error.is_stream_error() => {
                    let Status::Complete(header) = FrameHeader::parse(rest) else { break };
                    at += frame::FRAME_HEADER_BYTES + header.payload_len as usize;
                    self.reset(header.stream_id, error.code());
                }
                Err(error) => return Err(ConnError::Frame(error)),
            }
        }
        Ok(at)
    }

    /// Ends the connection with `error`: GOAWAY goes out, nothing more is read.
    fn fail(&mut self, error: ConnError) {
        self.failed = Some(error);
        frame::encode_goaway(self.out.queue(), self.last_accepted, error.code(), error.as_str().as_bytes());
    }

    fn on_frame(&mut self, frame: Frame<'_>) -> Result<(), ConnError> {
        if !self.settings_seen && !matches!(frame, Frame::Settings { ack: false, .. }) {
            return Err(ConnError::NoSettings);
        }
        // A header block's frames come in a row, and only they are CONTINUATION.
        let (continuation, open) = match frame {
            Frame::Continuation { stream_id, .. } => (true, self.block_open.is_some_and(|(id, _)| id == stream_id)),
            _ => (false, self.block_open.is_some()),
        };
        if continuation != open {
            return Err(ConnError::ContinuationExpected);
        }
        match frame {
            Frame::Data { stream_id, data, end_stream, flow_len } => {
                self.on_data(stream_id, data, end_stream, flow_len)
            }
            Frame::Headers { stream_id, fragment, end_stream, end_headers: true } => {
                self.on_block(stream_id, fragment, end_stream)
            }
            Frame::Headers { stream_id, fragment, end_stream, end_headers: false } => {
                self.block_open = Some((stream_id, end_stream));
                self.block.clear();
                self.block.extend_from_slice(fragment);
                Ok(())
            }
            Frame::Continuation { stream_id, fragment, end_headers } => {
                self.on_continuation(stream_id, fragment, end_headers)
            }
            Frame::RstStream { stream_id, .. } => {
                self.known(stream_id)?;
                if self.position(stream_id).is_some() {
                    self.streams.retain(|s| s.id != stream_id);
                    self.note_gone(stream_id);
                }
                Ok(())
            }
            Frame::Settings { ack: false, params } => self.on_settings(params),
            Frame::Ping { ack: false, data } => {
                frame::encode_ping(self.out.queue(), true, data);
                Ok(())
            }
            Frame::GoAway { .. } => {
                self.peer_goaway = true;
                Ok(())
            }
            Frame::WindowUpdate { stream_id, increment } => self.on_window_update(stream_id, increment),
            Frame::PushPromise { .. } => Err(ConnError::PushPromise),
            Frame::Settings { ack: true, .. } | Frame::Ping { ack: true, .. } => Ok(()),
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
        }
    }

    fn on_continuation(&mut self, stream_id: u32, fragment: &[u8], end_headers: bool) -> Result<(), ConnError> {
        self.block.extend_from_slice(fragment);
        if self.block.len() > MAX_BLOCK_BYTES {
            return Err(ConnError::BlockTooLarge);
        }
        if !end_headers {
            return Ok(());
        }
        let end_stream = self.block_open.take().is_some_and(|(_, end_stream)| end_stream);
        let block = std::mem::take(&mut self.block);
        let result = self.on_block(stream_id, &block, end_stream);
        self.block = block;
        result
    }

    /// A stream id the client has opened (it may have ended since); even
    /// ids are the server's, and it opens none.
    fn known(&self, stream_id: u32) -> Result<(), ConnError> {
        if stream_id > self.highest || stream_id.is_multiple_of(2) {
            return Err(ConnError::IdleStream);
        }
        Ok(())
    }

    fn position(&self, stream_id: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == stream_id)
    }

    /// Whether frames of `stream_id` are dropped unanswered: a stream above
    /// the last id of our GOAWAY, which it said would not be processed.
    fn beyond_goaway(&self, stream_id: u32) -> bool {
        self.goaway_last.is_some_and(|last| stream_id > last)
    }

    /// A whole header block: decoded (always, to keep the table in step),
    /// then a new request, trailers, or a stream error.
    fn on_block(&mut self, stream_id: u32, block: &[u8], end_stream: bool) -> Result<(), ConnError> {
        let mut fields = RequestFields::default();
        // An owner is handed the method and path too.
        let (owned, mut head) = (self.is_owned(), (Vec::new(), Vec::new()));
        let decoded = self.decoder.decode(block, |name, value| {
            fields.read(name, value);
            match name {
                b":method" if owned => head.0 = value.to_vec(),
                b":path" if owned => head.1 = value.to_vec(),
                _ => {}
            }
        });
        if let Err(error) = decoded
            && error.is_compression_error()
        {
            return Err(ConnError::Hpack(error));
        }
        if stream_id.is_multiple_of(2) {
            return Err(ConnError::StreamId);
        }
        if stream_id > self.highest {
            let request = decoded.map_err(HpackError::as_str).and_then(|()| fields.head_method());
            self.open(stream_id, request, end_stream, head);
            return Ok(());
        }
        let receiving = self.position(stream_id).filter(|&at| matches!(self.streams[at].phase, Phase::Request { .. }));
        match receiving {
            // Trailers end the request.
            Some(at) if end_stream => self.answer(at),
            Some(_) => self.reset(stream_id, ErrorCode::PROTOCOL_ERROR),
            None if self.beyond_goaway(stream_id) => {}
            None => self.reset(stream_id, ErrorCode::STREAM_CLOSED),
        }
        Ok(())
    }

    /// HEADERS opening `stream_id`, whose fields make `request` (HEAD or
    /// not) or do not.
    fn open(&mut self, stream_id: u32, request: Result<bool, &str>, end_stream: bool, head: (Vec<u8>, Vec<u8>)) {
        self.highest = stream_id;
        if self.goaway_last.is_some() || self.peer_goaway {
            return;
        }
        let head_fields = head;
        let Ok(head) = request else {
            self.reset(stream_id, ErrorCode::PROTOCOL_ERROR);
            return;
        };
        if self.streams.len() >= self.max_streams as usize {
            self.reset(stream_id, ErrorCode::REFUSED_STREAM);
            return;
        }
        self.accepted += 1;
        self.last_accepted = stream_id;
        if self.stream_limit.is_some_and(|limit| self.accepted >= limit) {
            self.goaway_last = Some(stream_id);
            frame::encode_goaway(self.out.queue(), stream_id, ErrorCode::NO_ERROR, b"");
        }
        self.streams.push(Stream {
            id: stream_id,
            send_window: i64::from(self.peer_initial_window),
            recv_window: i64::from(self.window),
            phase: Phase::Request { head },
            held: self.held_for(head_fields),
        });
        if end_stream {
            self.answer(self.streams.len() - 1);
        }
    }

    /// The request of the stream at `at` is complete: it is counted and its
    /// head goes out; its body follows in [`Connection::output`].
    fn answer(&mut self, at: usize) {
        if self.is_owned() {
            return self.request_complete(at, false);
        }
        let stream = &mut self.streams[at];
        let Phase::Request { head } = stream.phase else { return };
        self.answered += 1;
        let head_only = head || self.response.body.is_empty();
        frame::encode_headers(self.out.queue(), stream.id, self.response.block, head_only, self.peer_max_frame);
        if head_only {
            self.streams.remove(at);
        } else {
            stream.phase = Phase::Response { sent: 0 };
        }
    }

    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool, flow_len: u32) -> Result<(), ConnError> {
        self.known(stream_id)?;
        // The connection's window counts every DATA, even of streams gone.
        self.recv_window -= i64::from(flow_len);
        if self.recv_window < 0 {
            return Err(ConnError::FlowControl);
        }
        give_back(self.out.queue(), 0, &mut self.recv_window, self.window);
        let Some(at) = self.position(stream_id) else { return Ok(()) };
        if self.drops_data(at, end_stream) {
            return Ok(());
        }
        let owned = self.is_owned();
        let stream = &mut self.streams[at];
        if !matches!(stream.phase, Phase::Request { .. }) {
            // Half-closed (remote): its request had ended (§5.1).
            self.reset(stream_id, ErrorCode::STREAM_CLOSED);
            return Ok(());
        }
        stream.recv_window -= i64::from(flow_len);
        // Windows given back at half and frames of at most 16 KiB leave an
        // honest client no way here; a dishonest one is stopped all the same.
        if stream.recv_window < 0 {
            self.reset(stream_id, ErrorCode::FLOW_CONTROL_ERROR);
        } else if owned {
            give_back(self.out.queue(), stream_id, &mut stream.recv_window, self.window);
            self.request_data(at, data, end_stream);
        } else if end_stream {
            self.answer(at);
        } else {
            give_back(self.out.queue(), stream_id, &mut stream.recv_window, self.window);
        }
        Ok(())
    }

    fn on_settings(&mut self, params: frame::Params<'_>) -> Result<(), ConnError> {
        for (id, value) in params {
            match id {
                setting::MAX_FRAME_SIZE => self.peer_max_frame = value,
                setting::INITIAL_WINDOW_SIZE => {
                    // Moves every open stream's window by the difference (§6.9.2).
                    let old = std::mem::replace(&mut self.peer_initial_window, value);
                    let delta = i64::from(value) - i64::from(old);
                    self.streams.iter_mut().for_each(|s| s.send_window += delta);
                    if self.streams.iter().any(|s| s.send_window > i64::from(MAX_WINDOW_BYTES)) {
                        return Err(ConnError::FlowControl);
                    }
                }
                // Our blocks never use the dynamic table, whatever its size;
                // we push nothing.
                _ => {}
            }
        }
        self.settings_seen = true;
        frame::encode_settings_ack(self.out.queue());
        Ok(())
    }

    fn on_window_update(&mut self, stream_id: u32, increment: u32) -> Result<(), ConnError> {
        if stream_id == 0 {
            self.send_window += i64::from(increment);
            if self.send_window > i64::from(MAX_WINDOW_BYTES) {
                return Err(ConnError::FlowControl);
            }
            return Ok(());
        }
        self.known(stream_id)?;
        let Some(at) = self.position(stream_id) else { return Ok(()) };
        let stream = &mut self.streams[at];
        stream.send_window += i64::from(increment);
        if stream.send_window > i64::from(MAX_WINDOW_BYTES) {
            self.reset(stream_id, ErrorCode::FLOW_CONTROL_ERROR);
        }
        Ok(())
    }

    /// Ends `stream_id` for a rule it broke: RST_STREAM with `code`.
    fn reset(&mut self, stream_id: u32, code: ErrorCode) {
        if self.position(stream_id).is_some() {
            self.streams.retain(|s| s.id != stream_id);
            self.note_gone(stream_id);
        }
        frame::encode_rst_stream(self.out.queue(), stream_id, code);
    }

    /// Queues the answered streams' body bytes as DATA, as far as the
    /// client's windows allow, until [`OUTPUT_TARGET`] bytes are waiting.
    fn send_bodies(&mut self) {
        let body = self.response.body;
        let mut at = 0;
        while at < self.streams.len() && self.send_window > 0 {
            let room = OUTPUT_TARGET.saturating_sub(self.out.pending().len());
            let stream = &mut self.streams[at];
            let Phase::Response { sent } = stream.phase else {
                at += 1;
                continue;
            };
            let window = self.send_window.min(stream.send_window).max(0);
            let left = body.len() - sent;
            let n = left.min(usize::try_from(window).unwrap_or(usize::MAX)).min(self.peer_max_frame as usize).min(room);
            if n == 0 {
                if room == 0 {
                    return;
                }
                at += 1;
                continue;
            }
            frame::encode_data(self.out.queue(), stream.id, &body[sent..sent + n], n == left, self.peer_max_frame);
            self.send_window -= n as i64;
            stream.send_window -= n as i64;
            stream.phase = Phase::Response { sent: sent + n };
            if n == left {
                self.streams.remove(at);
            }
        }
    }
}

/// Tops `window` (ours, of `stream_id`, 0 for the connection) back up to
/// `full` with a WINDOW_UPDATE once it is below half.
fn give_back(out: &mut Vec<u8>, stream_id: u32, window: &mut i64, full: u32) {
    let full = i64::from(full);
    if *window < full / 2 {
        frame::encode_window_update(out, stream_id, (full - *window) as u32);
        *window = full;
    }
}

#[cfg(test)]
#[path = "h2_tests.rs"]
mod tests;
