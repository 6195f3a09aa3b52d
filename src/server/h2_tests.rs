//! The server connection against scripted client bytes: the handshake,
//! requests answered in any pieces, header blocks in CONTINUATION frames,
//! request bodies and our windows given back, the client's windows never
//! overrun, PING, RST_STREAM, both GOAWAYs, the stream limit, and every
//! rule a client can break ending the connection with its code.

use super::*;
use crate::http::h2::frame::{FrameError, flag, kind};
use crate::http::h2::hpack::{encode_request, encode_string};
use crate::http::h2::test_frames::{Sent, frames};

/// Takes the server's output as frames.
fn sent(conn: &mut Connection<'_>) -> Vec<Sent> {
    let bytes = conn.output().to_vec();
    conn.output_sent(bytes.len());
    frames(&bytes)
}

/// The client's bytes, frame by frame.
#[derive(Default)]
struct Script(Vec<u8>);

impl Script {
    /// The preface and SETTINGS with `params`.
    fn start(params: &[(u16, u32)]) -> Script {
        let mut script = Script(PREFACE.to_vec());
        frame::encode_settings(&mut script.0, params);
        script
    }
    fn get(&mut self, stream: u32) -> &mut Self {
        self.request(stream, b"GET", true)
    }
    fn request(&mut self, stream: u32, method: &[u8], end_stream: bool) -> &mut Self {
        let block = request_block(method);
        frame::encode_headers(&mut self.0, stream, &block, end_stream, DEFAULT_MAX_FRAME_BYTES);
        self
    }
    fn block(&mut self, stream: u32, block: &[u8], end_stream: bool, max_frame: u32) -> &mut Self {
        frame::encode_headers(&mut self.0, stream, block, end_stream, max_frame);
        self
    }
    fn data(&mut self, stream: u32, data: &[u8], end_stream: bool) -> &mut Self {
        frame::encode_data(&mut self.0, stream, data, end_stream, DEFAULT_MAX_FRAME_BYTES);
        self
    }
    fn raw(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> &mut Self {
        let header = FrameHeader { payload_len: payload.len() as u32, kind, flags, stream_id: stream };
        self.0.extend_from_slice(&header.encode());
        self.0.extend_from_slice(payload);
        self
    }
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

fn request_block(method: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    encode_request(method, b"http", b"localhost", b"/", &[(b"user-agent", b"test")], &mut block);
    block
}

/// The answer the tests serve: `body_bytes` 'x'.
struct Answer {
    block: Vec<u8>,
    body: Vec<u8>,
}

impl Answer {
    fn new(body_bytes: usize) -> Answer {
        Answer { block: response_block(body_bytes), body: vec![b'x'; body_bytes] }
    }
    fn response(&self) -> Response<'_> {
        Response { block: &self.block, body: &self.body }
    }
}

/// A connection that has read `script` and whose output so far is taken.
fn ready<'a>(answer: &'a Answer, script: &[u8]) -> Connection<'a> {
    let mut conn = Connection::new(answer.response(), None);
    conn.feed(script);
    conn
}

/// Everything the server sends until it has nothing more to send, but
/// the handshake's frames and our windows given back.
fn exchange(conn: &mut Connection<'_>) -> Vec<Sent> {
    let mut frames = Vec::new();
    loop {
        let more = sent(conn);
        if more.is_empty() {
            break;
        }
        frames.extend(more);
    }
    frames.retain(|f| f.stream != 0 || f.kind == kind::GOAWAY || f.kind == kind::PING);
    frames
}

/// The fields of a header block the server sent.
fn fields(block: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Decoder::new(usize::MAX).decode(block, |n, v| out.push((text(n), text(v)))).unwrap();
    out
}

/// The body bytes each stream received and whether END_STREAM came.
fn body_of(frames: &[Sent], stream: u32) -> (usize, bool) {
    let data = frames.iter().filter(|f| f.is(kind::DATA, stream));
    data.fold((0, false), |(n, end), f| (n + f.payload.len(), end || f.flags & flag::END_STREAM != 0))
}

fn goaway_code(frames: &[Sent]) -> Option<ErrorCode> {
    let f = frames.iter().find(|f| f.kind == kind::GOAWAY)?;
    Some(ErrorCode(u32::from_be_bytes(f.payload[4..8].try_into().unwrap())))
}

fn rst_code(frames: &[Sent], stream: u32) -> Option<ErrorCode> {
    let f = frames.iter().find(|f| f.is(kind::RST_STREAM, stream))?;
    Some(ErrorCode(u32::from_be_bytes(f.payload[..4].try_into().unwrap())))
}

#[test]
fn the_handshake_opens_our_windows_and_acknowledges_the_clients_settings() {
    let answer = Answer::new(5);
    let mut conn = Connection::new(answer.response(), None);
    let first = sent(&mut conn);
    assert_eq!(first[0].kind, kind::SETTINGS, "our SETTINGS go out first, before the client's preface");
    let params: Vec<(u16, u32)> =
        first[0].payload.chunks(6).map(|p| (u16::from_be_bytes([p[0], p[1]]), be32(&p[2..]))).collect();
    assert!(params.contains(&(setting::MAX_CONCURRENT_STREAMS, 128)));
    assert!(params.contains(&(setting::INITIAL_WINDOW_SIZE, WINDOW_BYTES)));
    assert!(first[1].is(kind::WINDOW_UPDATE, 0));
    assert_eq!(be32(&first[1].payload), WINDOW_BYTES - DEFAULT_WINDOW_BYTES);
    conn.feed(&Script::start(&[(setting::HEADER_TABLE_SIZE, 0)]).take());
    let ack = sent(&mut conn);
    assert_eq!(ack, [Sent { kind: kind::SETTINGS, flags: flag::ACK, stream: 0, payload: vec![] }]);
    assert!(!conn.is_done() && conn.error().is_none());
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().unwrap())
}

#[test]
fn a_request_is_answered_in_any_pieces() {
    let answer = Answer::new(100);
    let bytes = Script::start(&[]).get(1).get(3).take();
    for piece in [1, 7, bytes.len()] {
        let mut conn = Connection::new(answer.response(), None);
        bytes.chunks(piece).for_each(|chunk| conn.feed(chunk));
        let frames = exchange(&mut conn);
        assert_eq!(conn.take_answered(), 2, "pieces of {piece}");
        for stream in [1, 3] {
            let head = frames.iter().find(|f| f.is(kind::HEADERS, stream)).unwrap();
            assert_eq!(head.flags, flag::END_HEADERS);
            let head = fields(&head.payload);
            assert_eq!(head[0], (":status".into(), "200".into()));
            assert!(head.contains(&("content-length".into(), "100".into())));
            assert_eq!(body_of(&frames, stream), (100, true));
        }
        assert_eq!(conn.take_answered(), 0, "each answer counted once");
    }
}

#[test]
fn head_gets_the_head_alone_and_an_empty_body_ends_with_the_head() {
    let answer = Answer::new(100);
    let mut conn = ready(&answer, &Script::start(&[]).request(1, b"HEAD", true).take());
    let frames = exchange(&mut conn);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].flags, flag::END_HEADERS | flag::END_STREAM);
    assert!(fields(&frames[0].payload).contains(&("content-length".into(), "100".into())));
    let empty = Answer::new(0);
    let mut conn = ready(&empty, &Script::start(&[]).get(1).take());
    let frames = exchange(&mut conn);
    assert_eq!((frames.len(), frames[0].flags & flag::END_STREAM), (1, flag::END_STREAM));
}

#[test]
fn a_head_in_continuation_frames_is_one_request_and_an_interruption_ends_the_connection() {
    let answer = Answer::new(3);
    let block = request_block(b"GET");
    let mut conn = ready(&answer, &Script::start(&[]).block(1, &block, true, 4).take());
    assert!(block.len() > 8, "split in at least three frames");
    assert_eq!(body_of(&exchange(&mut conn), 1), (3, true));
    assert_eq!(conn.take_answered(), 1);

    let mut script = Script::start(&[]);
    script.raw(kind::HEADERS, flag::END_STREAM, 1, &block[..4]).raw(kind::PING, 0, 0, &[0; 8]);
    let mut conn = ready(&answer, &script.take());
    assert_eq!(goaway_code(&sent(&mut conn)), Some(ErrorCode::PROTOCOL_ERROR));
    assert_eq!(conn.error(), Some(ConnError::ContinuationExpected));
    assert!(conn.is_done());
}

#[test]
fn a_request_body_is_read_to_its_end_and_our_windows_given_back() {
    let answer = Answer::new(10);
    let mut conn = Connection::with_window(answer.response(), None, 100_000);
    let mut script = Script::start(&[]);
    script.request(1, b"POST", false);
    for _ in 0..3 {
        script.data(1, &[7; 16_000], false);
    }
    conn.feed(&script.take());
    let updates = |conn: &mut Connection<'_>| -> Vec<(u32, u32)> {
        sent(conn).iter().filter(|f| f.kind == kind::WINDOW_UPDATE).map(|f| (f.stream, be32(&f.payload))).collect()
    };
    assert!(exchange(&mut conn).is_empty(), "nothing before the body ends nor while our windows are above half");
    conn.feed(&Script::default().data(1, &[7; 16_000], false).take());
    assert_eq!(updates(&mut conn), [(0, 64_000), (1, 64_000)], "below half: topped back up");
    assert_eq!(conn.take_answered(), 0);
    conn.feed(&Script::default().data(1, b"end", true).take());
    assert_eq!(conn.take_answered(), 1);
    assert_eq!(body_of(&exchange(&mut conn), 1), (10, true));
    // DATA after the request ended (half-closed): the stream is reset.
    conn.feed(&Script::default().request(3, b"POST", true).data(3, b"late", true).take());
    assert_eq!(rst_code(&exchange(&mut conn), 3), Some(ErrorCode::STREAM_CLOSED));
    assert!(conn.error().is_none());
}

#[test]
fn the_clients_windows_are_never_overrun() {
    let answer = Answer::new(100);
    let mut conn = ready(&answer, &Script::start(&[(setting::INITIAL_WINDOW_SIZE, 1)]).get(1).take());
    let frames = exchange(&mut conn);
    assert_eq!(body_of(&frames, 1), (1, false), "one byte: the stream's window");
    assert!(exchange(&mut conn).is_empty(), "then nothing until the window grows");
    let mut got = 1;
    for increment in [10u32, 1, 50, 1000] {
        let mut script = Script::default();
        script.raw(kind::WINDOW_UPDATE, 0, 1, &increment.to_be_bytes());
        conn.feed(&script.take());
        let (n, end) = body_of(&exchange(&mut conn), 1);
        assert_eq!(n, (increment as usize).min(100 - got), "increment {increment}");
        got += n;
        assert_eq!(end, got == 100);
    }
    // The connection's window (65,535 until WINDOW_UPDATE) limits too, and
    // a larger SETTINGS_INITIAL_WINDOW_SIZE opens streams already waiting.
    let big = Answer::new(70_000);
    let mut conn = ready(&big, &Script::start(&[(setting::INITIAL_WINDOW_SIZE, 0)]).get(1).take());
    assert_eq!(body_of(&exchange(&mut conn), 1), (0, false));
    conn.feed(&Script::default().raw(kind::SETTINGS, 0, 0, &[0, 4, 0, 0x10, 0, 0]).take());
    assert_eq!(body_of(&exchange(&mut conn), 1), (65_535, false));
    conn.feed(&Script::default().raw(kind::WINDOW_UPDATE, 0, 0, &10_000u32.to_be_bytes()).take());
    assert_eq!(body_of(&exchange(&mut conn), 1), (70_000 - 65_535, true));
}

#[test]
fn data_frames_fit_the_clients_frame_size_and_the_output_stays_small() {
    let answer = Answer::new(1 << 20);
    let mut conn = ready(&answer, &Script::start(&[(setting::INITIAL_WINDOW_SIZE, WINDOW_BYTES)]).get(1).take());
    conn.feed(&Script::default().raw(kind::WINDOW_UPDATE, 0, 0, &(1u32 << 30).to_be_bytes()).take());
    let mut total = 0;
    loop {
        let out = conn.output().len();
        assert!(out <= 2 * OUTPUT_TARGET, "{out} bytes queued at once");
        let frames = sent(&mut conn);
        assert!(frames.iter().all(|f| f.payload.len() <= DEFAULT_MAX_FRAME_BYTES as usize));
        let (n, end) = body_of(&frames, 1);
        total += n;
        if end {
            break;
        }
        assert!(n > 0, "the body does not stall");
    }
    assert_eq!(total, 1 << 20);
}

#[test]
fn pings_are_answered_with_their_data() {
    let answer = Answer::new(1);
    let mut script = Script::start(&[]);
    script.raw(kind::PING, 0, 0, b"12345678").raw(kind::PING, flag::ACK, 0, b"ignored!");
    let mut conn = ready(&answer, &script.take());
    let frames = exchange(&mut conn);
    assert_eq!(frames, [Sent { kind: kind::PING, flags: flag::ACK, stream: 0, payload: b"12345678".to_vec() }]);
}

#[test]
fn a_reset_stream_is_dropped_and_the_others_go_on() {
    let answer = Answer::new(100);
    let mut conn = ready(&answer, &Script::start(&[(setting::INITIAL_WINDOW_SIZE, 1)]).get(1).get(3).take());
    assert_eq!(conn.take_answered(), 2);
    exchange(&mut conn);
    let mut script = Script::default();
    script.raw(kind::RST_STREAM, 0, 1, &ErrorCode::CANCEL.0.to_be_bytes());
    for stream in [1u32, 3] {
        script.raw(kind::WINDOW_UPDATE, 0, stream, &200u32.to_be_bytes());
    }
    conn.feed(&script.take());
    let frames = exchange(&mut conn);
    assert_eq!(body_of(&frames, 1), (0, false), "nothing more for the reset stream");
    assert_eq!(body_of(&frames, 3), (99, true));
    assert!(conn.error().is_none());
    // Resetting a stream never opened is a connection error.
    conn.feed(&Script::default().raw(kind::RST_STREAM, 0, 9, &[0, 0, 0, 8]).take());
    assert_eq!(conn.error(), Some(ConnError::IdleStream));
}

#[test]
fn a_bad_preface_ends_the_connection_at_once() {
    let answer = Answer::new(1);
    for bytes in [&b"GET / HTTP/1.1\r\n\r\n"[..], b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"] {
        let mut conn = Connection::new(answer.response(), None);
        sent(&mut conn);
        conn.feed(&bytes[..10]);
        conn.feed(&bytes[10..]);
        assert_eq!(conn.error(), Some(ConnError::Preface), "{:?}", String::from_utf8_lossy(bytes));
        assert_eq!(goaway_code(&sent(&mut conn)), Some(ErrorCode::PROTOCOL_ERROR));
        assert!(conn.is_done());
        conn.feed(&Script::start(&[]).get(1).take());
        assert!(sent(&mut conn).is_empty() && conn.take_answered() == 0, "nothing read after the error");
    }
}

#[test]
fn the_dynamic_table_is_followed_across_requests() {
    let answer = Answer::new(2);
    // The first request adds :authority and a header to the table (literal
    // with incremental indexing); the second names them by index.
    let mut first = vec![0x82, 0x86, 0x84]; // GET, http, /
    first.push(0x41); // :authority, indexed name 1, incremental indexing
    encode_string(b"example.org", &mut first);
    first.push(0x40);
    encode_string(b"x-custom", &mut first);
    encode_string(b"value", &mut first);
    let second = [0x82, 0x86, 0x84, 0xbf, 0xbe]; // indices 63 and 62
    let mut script = Script::start(&[]);
    script.block(1, &first, true, DEFAULT_MAX_FRAME_BYTES).block(3, &second, true, DEFAULT_MAX_FRAME_BYTES);
    let mut conn = ready(&answer, &script.take());
    assert_eq!(conn.take_answered(), 2);
    assert_eq!(conn.decoder.table_len(), 2);
    // An index past both tables leaves them out of step: COMPRESSION_ERROR.
    conn.feed(&Script::default().block(5, &[0x82, 0x86, 0x84, 0xc5], true, DEFAULT_MAX_FRAME_BYTES).take());
    assert_eq!(goaway_code(&sent(&mut conn)), Some(ErrorCode::COMPRESSION_ERROR));
}

#[test]
fn malformed_requests_reset_their_stream_only() {
    let answer = Answer::new(2);
    let no_path = [0x82, 0x86]; // GET, http
    let mut upper = vec![0x82, 0x86, 0x84, 0x00];
    encode_string(b"X-Upper", &mut upper);
    encode_string(b"v", &mut upper);
    let mut script = Script::start(&[]);
    script.block(1, &no_path, true, DEFAULT_MAX_FRAME_BYTES).block(3, &upper, true, DEFAULT_MAX_FRAME_BYTES);
    // HEADERS again on an answered stream (half-closed): STREAM_CLOSED.
    script.get(5).get(5);
    let mut conn = ready(&answer, &script.take());
    let frames = exchange(&mut conn);
    assert_eq!(rst_code(&frames, 1), Some(ErrorCode::PROTOCOL_ERROR));
    assert_eq!(rst_code(&frames, 3), Some(ErrorCode::PROTOCOL_ERROR));
    assert_eq!(rst_code(&frames, 5), Some(ErrorCode::STREAM_CLOSED));
    assert_eq!(conn.take_answered(), 1);
    assert!(conn.error().is_none());
}

#[test]
fn streams_past_the_concurrency_limit_are_refused() {
    let answer = Answer::new(1);
    let mut script = Script::start(&[]);
    for i in 0..=MAX_STREAMS {
        script.request(2 * i + 1, b"POST", false);
    }
    let mut conn = ready(&answer, &script.take());
    let frames = exchange(&mut conn);
    let last = 2 * MAX_STREAMS + 1;
    assert_eq!(frames.len(), 1, "only the stream above the limit hears back");
    assert_eq!(rst_code(&frames, last), Some(ErrorCode::REFUSED_STREAM));
    conn.feed(&Script::default().data(1, b"", true).take());
    assert_eq!(body_of(&exchange(&mut conn), 1), (1, true));
    conn.feed(&Script::default().request(last + 2, b"GET", true).take());
    assert_eq!(conn.take_answered(), 2, "a finished stream makes room");
}

#[test]
fn after_the_stream_limit_goaway_goes_out_and_the_connection_ends() {
    let answer = Answer::new(100);
    let mut conn = Connection::new(answer.response(), Some(2));
    conn.feed(&Script::start(&[(setting::INITIAL_WINDOW_SIZE, 10)]).get(1).get(3).get(5).take());
    assert_eq!(conn.take_answered(), 2, "stream 5 is above the GOAWAY's last id: not processed");
    let frames = exchange(&mut conn);
    let goaway = frames.iter().find(|f| f.kind == kind::GOAWAY).unwrap();
    assert_eq!((be32(&goaway.payload), goaway_code(&frames)), (3, Some(ErrorCode::NO_ERROR)));
    assert!(frames.iter().all(|f| f.stream != 5), "nothing for stream 5");
    assert!(!conn.is_done(), "streams 1 and 3 still owe their bodies");
    let mut script = Script::default();
    for stream in [1u32, 3, 5] {
        script.raw(kind::WINDOW_UPDATE, 0, stream, &100u32.to_be_bytes());
    }
    conn.feed(&script.take());
    let frames = exchange(&mut conn);
    assert_eq!((body_of(&frames, 1), body_of(&frames, 3)), ((90, true), (90, true)));
    assert!(conn.is_done() && conn.error().is_none());
}

#[test]
fn the_clients_goaway_lets_open_streams_finish() {
    let answer = Answer::new(20);
    let mut conn = ready(&answer, &Script::start(&[(setting::INITIAL_WINDOW_SIZE, 10)]).get(1).take());
    exchange(&mut conn);
    conn.feed(&Script::default().raw(kind::GOAWAY, 0, 0, &[0; 8]).get(3).take());
    assert_eq!(conn.take_answered(), 1, "no new stream after the client's GOAWAY");
    assert!(!conn.is_done());
    conn.feed(&Script::default().raw(kind::WINDOW_UPDATE, 0, 1, &10u32.to_be_bytes()).take());
    assert_eq!(body_of(&exchange(&mut conn), 1), (10, true));
    assert!(conn.is_done());
}

#[test]
fn broken_rules_end_the_connection_with_their_code() {
    let answer = Answer::new(1);
    let update = |stream: u32, increment: u32| {
        let mut s = Script::default();
        s.raw(kind::WINDOW_UPDATE, 0, stream, &increment.to_be_bytes());
        s.take()
    };
    let cases: Vec<(Vec<u8>, ConnError)> = vec![
        ([&PREFACE[..], &Script::default().get(1).take()].concat(), ConnError::NoSettings),
        (Script::default().get(2).take(), ConnError::StreamId),
        (Script::default().data(1, b"x", true).take(), ConnError::IdleStream),
        (Script::default().raw(kind::PUSH_PROMISE, flag::END_HEADERS, 1, &[0, 0, 0, 2]).take(), ConnError::PushPromise),
        (update(0, MAX_WINDOW_BYTES), ConnError::FlowControl),
        (
            Script::default().raw(kind::CONTINUATION, flag::END_HEADERS, 1, &[0x82]).take(),
            ConnError::ContinuationExpected,
        ),
        (Script::default().raw(kind::DATA, 0, 1, &[0; 16_385]).take(), ConnError::Frame(FrameError::FrameTooLarge)),
        (Script::default().raw(kind::PING, 0, 0, &[0; 4]).take(), ConnError::Frame(FrameError::FixedLength)),
    ];
    for (bytes, error) in cases {
        let mut conn = Connection::new(answer.response(), None);
        let start = if error == ConnError::NoSettings { Vec::new() } else { Script::start(&[]).take() };
        conn.feed(&[start, bytes].concat());
        assert_eq!(conn.error(), Some(error));
        assert_eq!(goaway_code(&sent(&mut conn)), Some(error.code()), "{error}");
        assert!(conn.is_done(), "{error}");
    }
}

#[test]
fn a_continuation_flood_is_refused() {
    let answer = Answer::new(1);
    let mut script = Script::start(&[]);
    script.raw(kind::HEADERS, 0, 1, &[0x82]);
    for _ in 0..9 {
        script.raw(kind::CONTINUATION, 0, 1, &[0x82; 16_000]);
    }
    let mut conn = ready(&answer, &script.take());
    assert_eq!(conn.error(), Some(ConnError::BlockTooLarge));
    assert_eq!(goaway_code(&sent(&mut conn)), Some(ErrorCode::ENHANCE_YOUR_CALM));
}
