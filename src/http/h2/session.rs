//! An HTTP/2 client connection's protocol state (RFC 9113), without
//! sockets or clocks: bytes in, bytes out, and what happened to each
//! stream handed to a [`SessionEvents`] visitor.
//!
//! A load generator wants three things from it: many streams on one
//! connection at the cost of a frame header each, windows that never stall
//! a response (ours are set to the largest at the start and given back as
//! data is read, as h2load does), and an exact account of every stream it
//! opened: answered, reset, refused (not processed, so safe to send again:
//! above a GOAWAY's last stream id, or REFUSED_STREAM), or failed with the
//! rule the server broke. Deadlines and statistics belong to the caller.
//!
//! Every protocol violation the server commits is a [`SessionError`] that
//! names it: the session queues a GOAWAY with its code and refuses all
//! further input. Header blocks are decoded even for streams the client has
//! given up on, so HPACK's table stays in step with the server's.

#[path = "session_state.rs"]
mod state;

use super::frame::{
    self, DEFAULT_HEADER_TABLE_BYTES, DEFAULT_MAX_FRAME_BYTES, DEFAULT_WINDOW_BYTES, ErrorCode, Frame, FrameHeader,
    MAX_WINDOW_BYTES, PREFACE, setting,
};
use super::hpack::{Decoder, HpackError, encode_size_update};
use super::send_buffer::SendBuffer;
use crate::http::head::Status;
use state::{Block, HeadFields, Peer, StreamState};
pub use state::{ResponseHead, SessionError, StreamFailure};

/// The largest frame we accept (our SETTINGS_MAX_FRAME_SIZE): the default,
/// so a partial frame never holds more than 16 KiB.
pub const OUR_MAX_FRAME_BYTES: u32 = DEFAULT_MAX_FRAME_BYTES;
/// Our SETTINGS_MAX_HEADER_LIST_SIZE, as the HTTP/1.1 reader's head limit.
pub const OUR_MAX_HEADER_LIST_BYTES: u32 = crate::http::MAX_HEAD_BYTES as u32;
/// Largest header block (HEADERS and its CONTINUATIONs) read before it is
/// decoded: a literal is never much longer encoded than decoded, so twice
/// the list limit only refuses floods.
const MAX_BLOCK_BYTES: usize = 2 * OUR_MAX_HEADER_LIST_BYTES as usize;
/// Streams opened before the server's SETTINGS say how many it allows
/// (RFC 9113 §6.5.2 recommends no fewer than 100).
const STREAMS_BEFORE_SETTINGS: u32 = 100;
/// Highest client stream id (odd, 31 bits).
const LAST_STREAM_ID: u32 = (1 << 31) - 1;

/// What happened on the connection's streams, as frames are read.
pub trait SessionEvents {
    /// `stream`'s final response head (interim 1xx heads are skipped).
    fn head(&mut self, stream: u32, head: &ResponseHead);
    /// Body bytes of `stream` (padding removed).
    fn data(&mut self, stream: u32, data: &[u8]);
    /// `stream`'s response is complete (END_STREAM; trailers are read and
    /// dropped).
    fn end(&mut self, stream: u32);
    /// `stream` ended without its whole response.
    fn failed(&mut self, stream: u32, why: StreamFailure);
}

/// One HTTP/2 connection, client side.
#[derive(Debug)]
pub struct Session {
    peer: Peer,
    /// The server's first SETTINGS arrived (its connection preface).
    settings_seen: bool,
    /// What our DATA may still send on the connection (the server's window).
    send_window: i64,
    /// What the server may still send on the connection (our window).
    recv_window: i64,
    next_id: u32,
    /// Streams opened and not ended, in the order opened.
    streams: Vec<StreamState>,
    /// The lowest last stream id of the GOAWAYs received.
    goaway: Option<u32>,
    failed: Option<SessionError>,
    /// Bytes to send.
    out: SendBuffer,
    /// A frame that has not wholly arrived.
    partial: Vec<u8>,
    /// A header block waiting for its CONTINUATION frames.
    block: Block,
    decoder: Decoder,
    /// The fields of the header block being decoded (reused).
    fields: HeadFields,
    /// Our windows (stream and connection): what the server may send ahead.
    window: u32,
}

impl Default for Session {
    fn default() -> Self {
        Self::new(MAX_WINDOW_BYTES)
    }
}

impl Session {
    /// A session whose first bytes to send are the connection preface, our
    /// SETTINGS (no push, streams' windows of `window` bytes) and the
    /// connection's window opened to `window` (the largest,
    /// [`MAX_WINDOW_BYTES`], unless a test wants to see them move).
    pub fn new(window: u32) -> Session {
        // Below the default, our smaller windows would bind before the
        // server has acknowledged them (RFC 9113 section 6.9.2).
        let window = window.clamp(DEFAULT_WINDOW_BYTES, MAX_WINDOW_BYTES);
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(PREFACE);
        frame::encode_settings(
            &mut out,
            &[
                (setting::ENABLE_PUSH, 0),
                (setting::INITIAL_WINDOW_SIZE, window),
                (setting::MAX_HEADER_LIST_SIZE, OUR_MAX_HEADER_LIST_BYTES),
            ],
        );
        if window > DEFAULT_WINDOW_BYTES {
            frame::encode_window_update(&mut out, 0, window - DEFAULT_WINDOW_BYTES);
        }
        Session {
            peer: Peer::default(),
            settings_seen: false,
            send_window: i64::from(DEFAULT_WINDOW_BYTES),
            recv_window: i64::from(window.max(DEFAULT_WINDOW_BYTES)),
            next_id: 1,
            streams: Vec::new(),
            goaway: None,
            failed: None,
            out: SendBuffer::new(out),
            partial: Vec::new(),
            block: Block::default(),
            decoder: Decoder::new(OUR_MAX_HEADER_LIST_BYTES as usize),
            fields: HeadFields::default(),
            window,
        }
    }

    /// Bytes waiting to be sent.
    pub fn output(&self) -> &[u8] {
        self.out.pending()
    }

    /// `n` bytes of [`Session::output`] were sent.
    pub fn output_sent(&mut self, n: usize) {
        self.out.sent(n);
    }

    /// Whether a new stream may be opened now: the server's concurrency
    /// limit has room, no GOAWAY came, the connection did not fail and
    /// stream ids are left.
    pub fn can_start(&self) -> bool {
        let limit = if self.settings_seen { self.peer.max_streams } else { STREAMS_BEFORE_SETTINGS };
        self.failed.is_none()
            && self.goaway.is_none()
            && self.next_id <= LAST_STREAM_ID
            && (self.streams.len() as u64) < u64::from(limit)
    }

    /// Streams opened and not ended.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// The server's first SETTINGS arrived.
    pub fn settings_seen(&self) -> bool {
        self.settings_seen
    }

    /// The last stream id of a GOAWAY received, if one was.
    pub fn goaway(&self) -> Option<u32> {
        self.goaway
    }

    /// The connection error that ended the session, if one did.
    pub fn error(&self) -> Option<SessionError> {
        self.failed
    }

    /// Opens a stream sending the request `block` (an HPACK block, see
    /// [`super::hpack::encode_request`]) and `body`: its id, or `None` if
    /// [`Session::can_start`] says no. Body bytes beyond the flow-control
    /// windows wait in the session until WINDOW_UPDATEs make room.
    pub fn start(&mut self, block: &[u8], body: &[u8]) -> Option<u32> {
        if !self.can_start() {
            return None;
        }
        let id = self.next_id;
        self.next_id += 2;
        match self.peer.table_size_update.take() {
            None => frame::encode_headers(self.out.queue(), id, block, body.is_empty(), self.peer.max_frame),
            Some(size) => {
                let mut announced = Vec::with_capacity(block.len() + 6);
                encode_size_update(size as usize, &mut announced);
                announced.extend_from_slice(block);
                frame::encode_headers(self.out.queue(), id, &announced, body.is_empty(), self.peer.max_frame);
            }
        }
        let mut stream = StreamState::new(id, self.peer.initial_window, self.window);
        if !body.is_empty() {
            let n = self.sendable(&stream, body.len());
            if n > 0 {
                frame::encode_data(self.out.queue(), id, &body[..n], n == body.len(), self.peer.max_frame);
                self.spend(&mut stream, n);
            }
            stream.waiting.extend_from_slice(&body[n..]);
        }
        self.streams.push(stream);
        Some(id)
    }

    /// Gives up on `stream` (a deadline passed): RST_STREAM(CANCEL) goes
    /// out and its frames are dropped from now on.
    pub fn cancel(&mut self, stream: u32) {
        if let Some(at) = self.streams.iter().position(|s| s.id == stream) {
            self.streams.remove(at);
            if self.failed.is_none() {
                frame::encode_rst_stream(self.out.queue(), stream, ErrorCode::CANCEL);
            }
        }
    }

    /// Reads received bytes. A connection error is returned (and stays:
    /// later calls return it again); the GOAWAY it calls for is queued.
    pub fn feed(&mut self, data: &[u8], events: &mut impl SessionEvents) -> Result<(), SessionError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let read = if self.partial.is_empty() {
            let used = self.read_frames(data, events);
            self.partial.extend_from_slice(&data[used.unwrap_or(data.len())..]);
            used
        } else {
            let mut buf = std::mem::take(&mut self.partial);
            buf.extend_from_slice(data);
            let used = self.read_frames(&buf, events);
            buf.drain(..used.unwrap_or(buf.len()));
            self.partial = buf;
            used
        };
        read.map(|_| ()).map_err(|error| self.fail(error, events))
    }

    /// The server closed the connection: every stream still open ends,
    /// refused if a GOAWAY said the server never processed it, failed
    /// otherwise (it may have been processed: never sent twice).
    pub fn close(&mut self, events: &mut impl SessionEvents) {
        let last = self.goaway.unwrap_or(LAST_STREAM_ID);
        for stream in std::mem::take(&mut self.streams) {
            let why = if stream.id > last { StreamFailure::Refused } else { StreamFailure::Closed };
            events.failed(stream.id, why);
        }
    }

    /// Reads the whole frames at the start of `buf`: how many bytes they took.
    fn read_frames(&mut self, buf: &[u8], events: &mut impl SessionEvents) -> Result<usize, SessionError> {
        let mut at = 0;
        while at < buf.len() {
            let rest = &buf[at..];
            match frame::parse_frame(rest, OUR_MAX_FRAME_BYTES) {
                Ok(Status::Complete((frame, used))) => {
                    self.on_frame(frame, events)?;
                    at += used;
                }
                Ok(Status::Partial) => break,
                Err(error) if error.is_stream_error() => {
                    let Status::Complete(header) = FrameHeader::parse(rest) else { break };
                    let used = frame::FRAME_HEADER_BYTES + header.payload_len as usize;
                    if rest.len() < used {
                        break;
                    }
                    // The checks every frame gets come first (PRIORITY may name any stream).
                    self.admissible(header.kind, header.stream_id)?;
                    if header.kind != frame::kind::PRIORITY {
                        self.known(header.stream_id)?;
                    }
                    self.stream_error(header.stream_id, error.code(), StreamFailure::Frame(error), events);
                    at += used;
                }
                Err(error) => return Err(SessionError::Frame(error)),
            }
        }
        Ok(at)
    }

    /// Ends the session with `error`: GOAWAY goes out, every open stream
    /// fails with it, nothing more is read.
    fn fail(&mut self, error: SessionError, events: &mut impl SessionEvents) -> SessionError {
        if self.failed.is_none() {
            self.failed = Some(error);
            frame::encode_goaway(self.out.queue(), 0, error.code(), error.as_str().as_bytes());
            for stream in std::mem::take(&mut self.streams) {
                events.failed(stream.id, StreamFailure::Connection(error));
            }
        }
        error
    }

    /// The rules of a frame's place in the connection: the server's
    /// SETTINGS come first, and nothing but CONTINUATION of the same stream
    /// comes inside a header block.
    fn admissible(&self, kind: u8, stream_id: u32) -> Result<(), SessionError> {
        if !self.settings_seen && kind != frame::kind::SETTINGS {
            return Err(SessionError::NoSettings);
        }
        if self.block.open && (kind != frame::kind::CONTINUATION || stream_id != self.block.stream) {
            return Err(SessionError::ContinuationExpected);
        }
        Ok(())
    }

    fn on_frame(&mut self, frame: Frame<'_>, events: &mut impl SessionEvents) -> Result<(), SessionError> {
        let (kind, stream_id) = kind_and_stream(&frame);
        self.admissible(kind, stream_id)?;
        if !self.settings_seen && matches!(frame, Frame::Settings { ack: true, .. }) {
            return Err(SessionError::NoSettings);
        }
        match frame {
            Frame::Data { stream_id, data, end_stream, flow_len } => {
                self.on_data(stream_id, data, end_stream, flow_len, events)
            }
            Frame::Headers { stream_id, fragment, end_stream, end_headers } => {
                self.known(stream_id)?;
                if end_headers {
                    return self.on_block(stream_id, fragment, end_stream, events);
                }
                self.block.begin(stream_id, end_stream, fragment);
                Ok(())
            }
            Frame::Continuation { stream_id, fragment, end_headers } => {
                if !self.block.open {
                    return Err(SessionError::ContinuationExpected);
                }
                self.block.bytes.extend_from_slice(fragment);
                if self.block.bytes.len() > MAX_BLOCK_BYTES {
                    return Err(SessionError::BlockTooLarge);
                }
                if end_headers {
                    let mut block = std::mem::take(&mut self.block);
                    let result = self.on_block(stream_id, &block.bytes, block.end_stream, events);
                    block.bytes.clear();
                    block.open = false;
                    self.block = block;
                    return result;
                }
                Ok(())
            }
            Frame::RstStream { stream_id, code } => {
                self.known(stream_id)?;
                if let Some(stream) = self.take(stream_id) {
                    let why = if code == ErrorCode::REFUSED_STREAM {
                        StreamFailure::Refused
                    } else {
                        StreamFailure::Reset(code)
                    };
                    events.failed(stream.id, why);
                }
                Ok(())
            }
            Frame::Settings { ack: true, .. } | Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::Settings { ack: false, params } => self.on_settings(params),
            Frame::PushPromise { .. } => Err(SessionError::PushPromise),
            Frame::Ping { ack, data } => {
                if !ack {
                    frame::encode_ping(self.out.queue(), true, data);
                }
                Ok(())
            }
            Frame::GoAway { last_stream_id, .. } => {
                self.on_goaway(last_stream_id, events);
                Ok(())
            }
            Frame::WindowUpdate { stream_id, increment } => self.on_window_update(stream_id, increment, events),
        }
    }

    /// A stream id the server may send frames for: one we opened (it may
    /// have ended since). Others are idle or the server's own (push).
    fn known(&self, stream_id: u32) -> Result<(), SessionError> {
        if stream_id.is_multiple_of(2) || stream_id >= self.next_id {
            return Err(SessionError::IdleStream);
        }
        Ok(())
    }

    fn on_data(
        &mut self,
        stream_id: u32,
        data: &[u8],
        end_stream: bool,
        flow_len: u32,
        events: &mut impl SessionEvents,
    ) -> Result<(), SessionError> {
        self.known(stream_id)?;
        self.recv_window -= i64::from(flow_len);
        if self.recv_window < 0 {
            return Err(SessionError::FlowControl);
        }
        let (window, half) = (i64::from(self.window), i64::from(self.window / 2));
        if self.recv_window < half {
            frame::encode_window_update(self.out.queue(), 0, (window - self.recv_window) as u32);
            self.recv_window = window;
        }
        let Some(at) = self.streams.iter().position(|s| s.id == stream_id) else { return Ok(()) };
        let stream = &mut self.streams[at];
        if !stream.head_seen {
            self.stream_error(stream_id, ErrorCode::PROTOCOL_ERROR, StreamFailure::DataBeforeHeaders, events);
            return Ok(());
        }
        stream.recv_window -= i64::from(flow_len);
        if stream.recv_window < 0 {
            self.stream_error(stream_id, ErrorCode::FLOW_CONTROL_ERROR, StreamFailure::FlowControl, events);
            return Ok(());
        }
        if !end_stream && stream.recv_window < half {
            let increment = (window - stream.recv_window) as u32;
            stream.recv_window = window;
            frame::encode_window_update(self.out.queue(), stream_id, increment);
        }
        events.data(stream_id, data);
        if end_stream {
            self.finish(at, events);
        }
        Ok(())
    }

    /// The stream at `at` has its whole response. A request body still
    /// waiting for window is not needed any more: RST_STREAM(NO_ERROR)
    /// tells the server, so the stream stops counting against its limit
    /// (RFC 9113 section 8.1).
    fn finish(&mut self, at: usize, events: &mut impl SessionEvents) {
        let stream = self.streams.remove(at);
        if !stream.waiting.is_empty() {
            frame::encode_rst_stream(self.out.queue(), stream.id, ErrorCode::NO_ERROR);
        }
        events.end(stream.id);
    }

    /// A whole header block of `stream_id`: decoded (always, to keep the
    /// table in step), then a head, trailers, or an interim head to skip.
    fn on_block(
        &mut self,
        stream_id: u32,
        block: &[u8],
        end_stream: bool,
        events: &mut impl SessionEvents,
    ) -> Result<(), SessionError> {
        let fields = &mut self.fields;
        fields.clear();
        let decoded = self.decoder.decode(block, |name, value| fields.read(name, value));
        match decoded {
            Err(error) if error.is_compression_error() => return Err(SessionError::Hpack(error)),
            Err(HpackError::HeaderListTooLarge) => {
                let failure = StreamFailure::HeaderListTooLarge;
                self.stream_error(stream_id, ErrorCode::PROTOCOL_ERROR, failure, events);
                return Ok(());
            }
            _ => {}
        }
        let Some(at) = self.streams.iter().position(|s| s.id == stream_id) else { return Ok(()) };
        let stream = &mut self.streams[at];
        let head = match (stream.head_seen, self.fields.head()) {
            // Trailers end the stream, and carry no pseudo-header field.
            (true, _) if end_stream && !self.fields.has_pseudo() => Ok(None),
            (true, _) if end_stream => Err(StreamFailure::Malformed("a pseudo-header field in trailers")),
            (true, _) => Err(StreamFailure::Malformed("a second response head without END_STREAM")),
            // HTTP/2 has no 101 (RFC 9113 section 8.6); an interim head never ends a stream.
            (false, Ok(head)) if head.status == 101 => Err(StreamFailure::Malformed(":status 101 in HTTP/2")),
            (false, Ok(head)) if head.status < 200 && end_stream => {
                Err(StreamFailure::Malformed("an interim (1xx) head with END_STREAM"))
            }
            (false, Ok(head)) if head.status < 200 => return Ok(()),
            (false, head) => head.map(Some),
        };
        match head {
            Err(failure) => self.stream_error(stream_id, ErrorCode::PROTOCOL_ERROR, failure, events),
            Ok(head) => {
                if let Some(head) = head {
                    stream.head_seen = true;
                    events.head(stream_id, &head);
                }
                if end_stream {
                    self.finish(at, events);
                }
            }
        }
        Ok(())
    }

    fn on_settings(&mut self, params: frame::Params<'_>) -> Result<(), SessionError> {
        for (id, value) in params {
            match id {
                setting::MAX_CONCURRENT_STREAMS => self.peer.max_streams = value,
                setting::MAX_FRAME_SIZE => self.peer.max_frame = value,
                setting::ENABLE_PUSH if value == 1 => return Err(SessionError::PushEnabled),
                // Ours never use the table: announce it empty when it shrinks.
                setting::HEADER_TABLE_SIZE if value < DEFAULT_HEADER_TABLE_BYTES => {
                    self.peer.table_size_update = Some(0)
                }
                setting::INITIAL_WINDOW_SIZE => {
                    let delta = i64::from(value) - i64::from(self.peer.initial_window);
                    self.peer.initial_window = value;
                    for stream in &mut self.streams {
                        stream.send_window += delta;
                        if stream.send_window > i64::from(MAX_WINDOW_BYTES) {
                            return Err(SessionError::FlowControl);
                        }
                    }
                }
                _ => {}
            }
        }
        self.settings_seen = true;
        frame::encode_settings_ack(self.out.queue());
        self.send_waiting();
        Ok(())
    }

    fn on_goaway(&mut self, last_stream_id: u32, events: &mut impl SessionEvents) {
        let last = self.goaway.map_or(last_stream_id, |seen| seen.min(last_stream_id));
        self.goaway = Some(last);
        // Streams above the last id were not processed: they may go again.
        let mut at = 0;
        while at < self.streams.len() {
            if self.streams[at].id > last {
                let stream = self.streams.remove(at);
                events.failed(stream.id, StreamFailure::Refused);
            } else {
                at += 1;
            }
        }
    }

    fn on_window_update(
        &mut self,
        stream_id: u32,
        increment: u32,
        events: &mut impl SessionEvents,
    ) -> Result<(), SessionError> {
        if stream_id == 0 {
            self.send_window += i64::from(increment);
            if self.send_window > i64::from(MAX_WINDOW_BYTES) {
                return Err(SessionError::FlowControl);
            }
        } else {
            self.known(stream_id)?;
            let Some(stream) = self.streams.iter_mut().find(|s| s.id == stream_id) else { return Ok(()) };
            stream.send_window += i64::from(increment);
            if stream.send_window > i64::from(MAX_WINDOW_BYTES) {
                self.stream_error(stream_id, ErrorCode::FLOW_CONTROL_ERROR, StreamFailure::FlowControl, events);
                return Ok(());
            }
        }
        self.send_waiting();
        Ok(())
    }

    /// Ends `stream_id` for a rule it broke: RST_STREAM with `code` goes
    /// out, and the stream fails (if it was still open).
    fn stream_error(&mut self, stream_id: u32, code: ErrorCode, why: StreamFailure, events: &mut impl SessionEvents) {
        if let Some(stream) = self.take(stream_id) {
            frame::encode_rst_stream(self.out.queue(), stream.id, code);
            events.failed(stream.id, why);
        }
    }

    fn take(&mut self, stream_id: u32) -> Option<StreamState> {
        let at = self.streams.iter().position(|s| s.id == stream_id)?;
        Some(self.streams.remove(at))
    }

    /// How many of `len` body bytes the windows let `stream` send now.
    fn sendable(&self, stream: &StreamState, len: usize) -> usize {
        let window = self.send_window.min(stream.send_window).max(0);
        len.min(usize::try_from(window).unwrap_or(usize::MAX))
    }

    fn spend(&mut self, stream: &mut StreamState, n: usize) {
        self.send_window -= n as i64;
        stream.send_window -= n as i64;
    }

    /// Sends what the windows now allow of the bodies still waiting.
    fn send_waiting(&mut self) {
        for at in 0..self.streams.len() {
            if self.streams[at].waiting.is_empty() {
                continue;
            }
            let mut stream = std::mem::take(&mut self.streams[at]);
            let n = self.sendable(&stream, stream.waiting.len());
            if n > 0 {
                let end = n == stream.waiting.len();
                frame::encode_data(self.out.queue(), stream.id, &stream.waiting[..n], end, self.peer.max_frame);
                self.spend(&mut stream, n);
                stream.waiting.drain(..n);
            }
            self.streams[at] = stream;
        }
    }
}

/// A frame's type and stream, for the rules of its place in the connection.
fn kind_and_stream(frame: &Frame<'_>) -> (u8, u32) {
    use frame::kind;
    match *frame {
        Frame::Data { stream_id, .. } => (kind::DATA, stream_id),
        Frame::Headers { stream_id, .. } => (kind::HEADERS, stream_id),
        Frame::Priority { stream_id } => (kind::PRIORITY, stream_id),
        Frame::RstStream { stream_id, .. } => (kind::RST_STREAM, stream_id),
        Frame::Settings { .. } => (kind::SETTINGS, 0),
        Frame::PushPromise { stream_id, .. } => (kind::PUSH_PROMISE, stream_id),
        Frame::Ping { .. } => (kind::PING, 0),
        Frame::GoAway { .. } => (kind::GOAWAY, 0),
        Frame::WindowUpdate { stream_id, .. } => (kind::WINDOW_UPDATE, stream_id),
        Frame::Continuation { stream_id, .. } => (kind::CONTINUATION, stream_id),
        Frame::Unknown { header, .. } => (header.kind, header.stream_id),
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
