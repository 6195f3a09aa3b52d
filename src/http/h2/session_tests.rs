//! The session against a scripted server: the handshake, streams answered,
//! reset, refused and cut off by GOAWAY, flow control both ways, header
//! blocks in pieces, and every rule a server can break ending in a named
//! error with every stream accounted for.

use super::*;
use crate::http::BodyFormat;
use crate::http::h2::frame::{FrameError, flag, kind};
use crate::http::h2::hpack::{encode_field, encode_size_update};
use crate::http::h2::test_frames::{Sent, frames};
use crate::http::h2::test_rng::Rng;

/// What the session told its visitor.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Head(u32, u16, BodyFormat),
    Data(u32, Vec<u8>),
    End(u32),
    Failed(u32, StreamFailure),
}

#[derive(Default)]
struct Log(Vec<Seen>);

impl SessionEvents for Log {
    fn head(&mut self, stream: u32, head: &ResponseHead) {
        self.0.push(Seen::Head(stream, head.status, head.format));
    }
    fn data(&mut self, stream: u32, data: &[u8]) {
        // Pieces of one stream's body in a row are joined: splits do not matter.
        if let Some(Seen::Data(s, bytes)) = self.0.last_mut().filter(|_| true)
            && *s == stream
        {
            bytes.extend_from_slice(data);
            return;
        }
        self.0.push(Seen::Data(stream, data.to_vec()));
    }
    fn end(&mut self, stream: u32) {
        self.0.push(Seen::End(stream));
    }
    fn failed(&mut self, stream: u32, why: StreamFailure) {
        self.0.push(Seen::Failed(stream, why));
    }
}

/// Takes the client's output as frames (the preface checked and skipped).
fn sent(session: &mut Session) -> Vec<Sent> {
    let mut bytes = session.output().to_vec();
    session.output_sent(bytes.len());
    if bytes.starts_with(PREFACE) {
        bytes.drain(..PREFACE.len());
    }
    frames(&bytes)
}

/// A scripted server's bytes.
#[derive(Default)]
struct Server(Vec<u8>);

impl Server {
    fn raw(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> &mut Self {
        let header = FrameHeader { payload_len: payload.len() as u32, kind, flags, stream_id: stream };
        self.0.extend_from_slice(&header.encode());
        self.0.extend_from_slice(payload);
        self
    }
    fn settings(&mut self, params: &[(u16, u32)]) -> &mut Self {
        frame::encode_settings(&mut self.0, params);
        self
    }
    fn head(&mut self, stream: u32, fields: &[(&str, &str)], end_stream: bool) -> &mut Self {
        let block = block(fields);
        frame::encode_headers(&mut self.0, stream, &block, end_stream, DEFAULT_MAX_FRAME_BYTES);
        self
    }
    fn data(&mut self, stream: u32, data: &[u8], end_stream: bool) -> &mut Self {
        frame::encode_data(&mut self.0, stream, data, end_stream, DEFAULT_MAX_FRAME_BYTES);
        self
    }
    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        encode_field(name.as_bytes(), value.as_bytes(), &mut block);
    }
    block
}

const OK: &[(&str, &str)] = &[(":status", "200"), ("content-type", "text/event-stream")];
const REQUEST: &[u8] = b"\x82\x86\x84\x41\x01h"; // GET, http, /, :authority h

/// A session past the handshake (the server's SETTINGS read, the client's
/// output taken).
fn ready(settings: &[(u16, u32)]) -> Session {
    let mut session = Session::default();
    session.feed(&Server::default().settings(settings).take(), &mut Log::default()).unwrap();
    sent(&mut session);
    session
}

fn feed(session: &mut Session, bytes: &[u8]) -> (Vec<Seen>, Result<(), SessionError>) {
    let mut log = Log::default();
    let result = session.feed(bytes, &mut log);
    (log.0, result)
}

#[test]
fn the_handshake_sets_large_windows_and_acknowledges_the_servers_settings() {
    let mut session = Session::default();
    assert!(session.output().starts_with(PREFACE));
    let frames = sent(&mut session);
    assert_eq!(frames.len(), 2);
    assert_eq!((frames[0].kind, frames[0].flags), (kind::SETTINGS, 0));
    let params: Vec<(u16, u32)> = frames[0]
        .payload
        .chunks(6)
        .map(|p| (u16::from_be_bytes([p[0], p[1]]), u32::from_be_bytes([p[2], p[3], p[4], p[5]])))
        .collect();
    assert!(
        params.contains(&(setting::ENABLE_PUSH, 0))
            && params.contains(&(setting::INITIAL_WINDOW_SIZE, MAX_WINDOW_BYTES))
    );
    assert_eq!((frames[1].kind, frames[1].stream), (kind::WINDOW_UPDATE, 0));
    assert_eq!(u32::from_be_bytes(frames[1].payload[..4].try_into().unwrap()), MAX_WINDOW_BYTES - DEFAULT_WINDOW_BYTES);
    assert!(!session.settings_seen());
    let (seen, result) =
        feed(&mut session, &Server::default().settings(&[(setting::MAX_CONCURRENT_STREAMS, 10)]).take());
    assert_eq!((seen, result), (vec![], Ok(())));
    assert!(session.settings_seen());
    assert_eq!(sent(&mut session), [Sent { kind: kind::SETTINGS, flags: flag::ACK, stream: 0, payload: vec![] }]);
}

#[test]
fn a_stream_is_answered_in_any_pieces() {
    let mut server = Server::default();
    server.settings(&[]).head(1, OK, false).data(1, b"data: a\n\n", false).data(1, b"", true);
    let answer = server.take();
    let want = vec![Seen::Head(1, 200, BodyFormat::EventStream), Seen::Data(1, b"data: a\n\n".to_vec()), Seen::End(1)];
    for split in 0..=answer.len() {
        let mut session = Session::default();
        assert_eq!(session.start(REQUEST, b""), Some(1));
        let frames = sent(&mut session);
        let headers = frames.iter().find(|f| f.kind == kind::HEADERS).expect("HEADERS sent");
        assert_eq!((headers.stream, headers.flags), (1, flag::END_STREAM | flag::END_HEADERS));
        assert_eq!(headers.payload, REQUEST);
        let (mut seen, first) = feed(&mut session, &answer[..split]);
        let (rest, second) = feed(&mut session, &answer[split..]);
        seen.extend(rest);
        let mut log = Log::default();
        seen.into_iter().for_each(|s| match s {
            Seen::Data(id, bytes) => log.data(id, &bytes),
            other => log.0.push(other),
        });
        assert_eq!((log.0, first, second), (want.clone(), Ok(()), Ok(())), "split at {split}");
        assert_eq!(session.open_streams(), 0);
    }
}

#[test]
fn the_servers_stream_limit_holds_and_may_shrink() {
    let mut session = ready(&[(setting::MAX_CONCURRENT_STREAMS, 2)]);
    assert_eq!((session.start(REQUEST, b""), session.start(REQUEST, b"")), (Some(1), Some(3)));
    assert!(!session.can_start());
    assert_eq!(session.start(REQUEST, b""), None);
    let mut server = Server::default();
    server.settings(&[(setting::MAX_CONCURRENT_STREAMS, 1)]).head(1, OK, true);
    feed(&mut session, &server.take()).1.unwrap();
    assert!(!session.can_start(), "one open, one allowed");
    feed(&mut session, &Server::default().head(3, OK, true).take()).1.unwrap();
    assert_eq!(session.start(REQUEST, b""), Some(5));
}

#[test]
fn a_request_body_waits_for_the_servers_windows() {
    let mut session = ready(&[(setting::INITIAL_WINDOW_SIZE, 1)]);
    let body: Vec<u8> = (0..100u8).collect();
    assert_eq!(session.start(REQUEST, &body), Some(1));
    let data = |frames: Vec<Sent>| -> (Vec<u8>, bool) {
        let data: Vec<&Sent> = frames.iter().filter(|f| f.kind == kind::DATA).collect();
        let end = data.last().is_some_and(|f| f.flags & flag::END_STREAM != 0);
        (data.iter().flat_map(|f| f.payload.clone()).collect(), end)
    };
    let (mut got, mut end) = data(sent(&mut session));
    assert_eq!((got.len(), end), (1, false), "one byte of window");
    for _ in 0..99 {
        let mut server = Server::default();
        server.raw(kind::WINDOW_UPDATE, 0, 1, &1u32.to_be_bytes());
        feed(&mut session, &server.take()).1.unwrap();
        let (more, last) = data(sent(&mut session));
        assert_eq!(more.len(), 1);
        got.extend(more);
        end = last;
    }
    assert_eq!((got, end), (body, true));
}

#[test]
fn goaway_refuses_the_streams_above_its_last_id_and_lets_the_others_finish() {
    let mut session = ready(&[]);
    for id in [1, 3, 5, 7] {
        assert_eq!(session.start(REQUEST, b""), Some(id));
    }
    let mut server = Server::default();
    server.raw(kind::GOAWAY, 0, 0, &[0, 0, 0, 3, 0, 0, 0, 0]);
    let (seen, result) = feed(&mut session, &server.take());
    assert_eq!(result, Ok(()));
    assert_eq!(seen, [Seen::Failed(5, StreamFailure::Refused), Seen::Failed(7, StreamFailure::Refused)]);
    assert_eq!((session.goaway(), session.can_start(), session.open_streams()), (Some(3), false, 2));
    let (seen, _) = feed(&mut session, &Server::default().head(1, OK, true).head(3, OK, true).take());
    assert_eq!(seen.iter().filter(|s| matches!(s, Seen::End(_))).count(), 2);
    assert_eq!(session.open_streams(), 0);
}

#[test]
fn resets_say_whether_the_stream_may_go_again() {
    let mut session = ready(&[]);
    session.start(REQUEST, b"");
    session.start(REQUEST, b"");
    let mut server = Server::default();
    server.raw(kind::RST_STREAM, 0, 1, &ErrorCode::REFUSED_STREAM.0.to_be_bytes());
    server.raw(kind::RST_STREAM, 0, 3, &ErrorCode::INTERNAL_ERROR.0.to_be_bytes());
    let (seen, result) = feed(&mut session, &server.take());
    assert_eq!(result, Ok(()));
    let reset = StreamFailure::Reset(ErrorCode::INTERNAL_ERROR);
    assert_eq!(seen, [Seen::Failed(1, StreamFailure::Refused), Seen::Failed(3, reset)]);
}

#[test]
fn pings_are_answered_even_in_a_flood() {
    let mut session = ready(&[]);
    let mut server = Server::default();
    for i in 0..1000u64 {
        server.raw(kind::PING, 0, 0, &i.to_be_bytes());
    }
    assert_eq!(feed(&mut session, &server.take()), (vec![], Ok(())));
    let acks = sent(&mut session);
    assert_eq!(acks.len(), 1000);
    assert!(acks.iter().enumerate().all(|(i, f)| f.flags == flag::ACK && f.payload == (i as u64).to_be_bytes()));
}

#[test]
fn a_head_in_continuation_frames_is_one_head_and_an_interruption_is_an_error() {
    let block = block(&[(":status", "200"), ("x-long", &"v".repeat(40))]);
    let (first, rest) = block.split_at(10);
    let (second, third) = rest.split_at(10);
    let mut server = Server::default();
    server.raw(kind::HEADERS, 0, 1, first).raw(kind::CONTINUATION, 0, 1, second);
    server.raw(kind::CONTINUATION, flag::END_HEADERS, 1, third).data(1, b"x", true);
    let mut session = ready(&[]);
    session.start(REQUEST, b"");
    let (seen, result) = feed(&mut session, &server.take());
    assert_eq!(result, Ok(()));
    assert_eq!(seen[0], Seen::Head(1, 200, BodyFormat::Opaque));

    let mut session = ready(&[]);
    session.start(REQUEST, b"");
    server.raw(kind::HEADERS, 0, 1, first).raw(kind::PING, 0, 0, &[0; 8]);
    assert_eq!(feed(&mut session, &server.take()).1, Err(SessionError::ContinuationExpected));
    let goaway = sent(&mut session).pop().expect("GOAWAY sent");
    assert_eq!((goaway.kind, &goaway.payload[4..8]), (kind::GOAWAY, &ErrorCode::PROTOCOL_ERROR.0.to_be_bytes()[..]));
    assert_eq!(feed(&mut session, b"").1, Err(SessionError::ContinuationExpected), "the error stays");
}

#[test]
fn a_continuation_flood_is_refused() {
    let mut session = ready(&[]);
    session.start(REQUEST, b"");
    let mut server = Server::default();
    server.raw(kind::HEADERS, 0, 1, &[0x88]);
    for _ in 0..10 {
        server.raw(kind::CONTINUATION, 0, 1, &[0; 16_000]);
    }
    assert_eq!(feed(&mut session, &server.take()).1, Err(SessionError::BlockTooLarge));
}

#[test]
fn table_size_updates_are_followed_and_bad_blocks_end_the_connection() {
    let mut session = ready(&[]);
    session.start(REQUEST, b"");
    session.start(REQUEST, b"");
    // A size update, then a field added to the table; the next block indexes it.
    let mut first = Vec::new();
    encode_size_update(256, &mut first);
    first.extend_from_slice(&[0x88, 0x40, 1, b'x', 1, b'y']);
    let mut server = Server::default();
    server.raw(kind::HEADERS, flag::END_HEADERS | flag::END_STREAM, 1, &first);
    server.raw(kind::HEADERS, flag::END_HEADERS | flag::END_STREAM, 3, &[0x88, 0xbe]);
    let (seen, result) = feed(&mut session, &server.take());
    assert_eq!(result, Ok(()));
    assert_eq!(seen.len(), 4);
    let mut session = ready(&[]);
    session.start(REQUEST, b"");
    let mut too_large = Vec::new();
    encode_size_update(1 << 20, &mut too_large);
    server.raw(kind::HEADERS, flag::END_HEADERS, 1, &too_large);
    let error = feed(&mut session, &server.take()).1.unwrap_err();
    assert_eq!(
        (error, error.code()),
        (SessionError::Hpack(HpackError::SizeUpdateTooLarge), ErrorCode::COMPRESSION_ERROR)
    );
}

#[test]
fn a_cancelled_streams_blocks_still_feed_the_table() {
    let mut session = ready(&[]);
    session.start(REQUEST, b"");
    session.start(REQUEST, b"");
    session.cancel(1);
    let rst: Vec<Sent> = sent(&mut session).into_iter().filter(|f| f.kind == kind::RST_STREAM).collect();
    assert_eq!((rst.len(), rst[0].stream, &rst[0].payload[..]), (1, 1, &ErrorCode::CANCEL.0.to_be_bytes()[..]));
    let mut server = Server::default();
    server.raw(kind::HEADERS, flag::END_HEADERS, 1, &[0x88, 0x40, 1, b'x', 1, b'y']).data(1, b"late", true);
    server.raw(kind::HEADERS, flag::END_HEADERS | flag::END_STREAM, 3, &[0x88, 0xbe]);
    let (seen, result) = feed(&mut session, &server.take());
    assert_eq!(result, Ok(()));
    assert_eq!(seen, [Seen::Head(3, 200, BodyFormat::Opaque), Seen::End(3)], "stream 1's frames are dropped");
}

#[test]
fn interim_heads_are_skipped_and_trailers_end_the_stream() {
    let mut session = ready(&[]);
    session.start(REQUEST, b"");
    let mut server = Server::default();
    server.head(1, &[(":status", "100")], false).head(1, OK, false).data(1, b"a", false);
    server.head(1, &[("grpc-status", "0")], true);
    let (seen, result) = feed(&mut session, &server.take());
    assert_eq!(result, Ok(()));
    assert_eq!(seen, [Seen::Head(1, 200, BodyFormat::EventStream), Seen::Data(1, b"a".to_vec()), Seen::End(1)]);
}

#[test]
fn malformed_heads_fail_their_stream_only() {
    // An uppercase name, written by hand (the encoder lowercases names).
    let uppercase = [&[0x88, 0x00, 7][..], b"X-Upper", &[1, b'v']].concat();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (block(&[("content-type", "x")]), "no :status field"),
        (block(&[(":status", "20")]), ":status is not three digits"),
        (uppercase, "an uppercase field name"),
        (block(&[("x", "y"), (":status", "200")]), "a pseudo-header field after a regular one"),
        (block(&[(":status", "200"), (":path", "/")]), "a pseudo-header field other than :status in a response"),
        (block(&[(":status", "200"), (":status", "204")]), "two :status fields"),
        (block(&[(":status", "200"), ("connection", "close")]), "a connection-specific field (RFC 9113 section 8.2.2)"),
    ];
    for (head, why) in cases {
        let mut session = ready(&[]);
        session.start(REQUEST, b"");
        let mut server = Server::default();
        server.raw(kind::HEADERS, flag::END_HEADERS | flag::END_STREAM, 1, &head);
        let (seen, result) = feed(&mut session, &server.take());
        assert_eq!((seen, result), (vec![Seen::Failed(1, StreamFailure::Malformed(why))], Ok(())), "{why}");
        let rst: Vec<Sent> = sent(&mut session).into_iter().filter(|f| f.kind == kind::RST_STREAM).collect();
        assert_eq!((rst.len(), &rst[0].payload[..]), (1, &ErrorCode::PROTOCOL_ERROR.0.to_be_bytes()[..]));
        assert!(session.can_start(), "the connection goes on");
    }
}

#[test]
fn broken_rules_end_the_connection_with_their_name() {
    let mut big = Server::default();
    big.settings(&[]).raw(kind::DATA, 0, 1, &vec![0; OUR_MAX_FRAME_BYTES as usize + 1]);
    let mut no_settings = Server::default();
    no_settings.head(1, OK, true);
    let mut idle = Server::default();
    idle.settings(&[]).head(9, OK, true);
    let mut push = Server::default();
    push.settings(&[]).raw(kind::PUSH_PROMISE, flag::END_HEADERS, 1, &[0, 0, 0, 2, 0x82]);
    let mut window = Server::default();
    window.settings(&[]).raw(kind::WINDOW_UPDATE, 0, 0, &MAX_WINDOW_BYTES.to_be_bytes());
    let mut push_on = Server::default();
    push_on.settings(&[(setting::ENABLE_PUSH, 1)]);
    let cases = [
        (push_on, SessionError::PushEnabled),
        (big, SessionError::Frame(FrameError::FrameTooLarge)),
        (no_settings, SessionError::NoSettings),
        (idle, SessionError::IdleStream),
        (push, SessionError::PushPromise),
        (window, SessionError::FlowControl),
    ];
    for (mut server, error) in cases {
        let mut session = Session::default();
        session.start(REQUEST, b"");
        assert_eq!(feed(&mut session, &server.take()).1, Err(error), "{error}");
        assert!(!session.can_start());
        let goaway = sent(&mut session).pop().expect("GOAWAY sent");
        assert_eq!((goaway.kind, &goaway.payload[4..8]), (kind::GOAWAY, &error.code().0.to_be_bytes()[..]));
    }
}

#[test]
fn a_large_download_never_stalls_on_our_windows() {
    // Windows of 100,000 bytes, so that 6.5 MB move them many times.
    const WINDOW: u32 = 100_000;
    let mut session = Session::new(WINDOW);
    session.feed(&Server::default().settings(&[]).take(), &mut Log::default()).unwrap();
    sent(&mut session);
    let streams: Vec<u32> = (0..4).map(|_| session.start(REQUEST, b"").unwrap()).collect();
    // A server that honours our windows as the client's WINDOW_UPDATEs move them.
    let (mut connection, mut windows) = (i64::from(WINDOW), [i64::from(WINDOW); 4]);
    let chunk = vec![7u8; 16_384];
    let mut received = [0u64; 4];
    let head = Server::default().head(1, OK, false).head(3, OK, false).head(5, OK, false).head(7, OK, false).take();
    feed(&mut session, &head).1.unwrap();
    for round in 0..400 {
        let i = round % 4;
        assert!(connection >= chunk.len() as i64 && windows[i] >= chunk.len() as i64, "stalled at round {round}");
        let (seen, result) = feed(&mut session, &Server::default().data(streams[i], &chunk, false).take());
        result.unwrap();
        received[i] += seen.iter().map(|s| if let Seen::Data(_, d) = s { d.len() as u64 } else { 0 }).sum::<u64>();
        connection -= chunk.len() as i64;
        windows[i] -= chunk.len() as i64;
        for update in sent(&mut session).into_iter().filter(|f| f.kind == kind::WINDOW_UPDATE) {
            let increment = i64::from(u32::from_be_bytes(update.payload[..4].try_into().unwrap()));
            match update.stream {
                0 => connection += increment,
                id => windows[(id as usize - 1) / 2] += increment,
            }
        }
    }
    assert!(received.iter().all(|&r| r == 100 * 16_384), "{received:?}");
}

/// A random server: mostly well-formed frames of every type on the
/// streams the client opened (and a few others), sometimes a byte changed.
fn random_server(rng: &mut Rng) -> Vec<u8> {
    let mut server = Server::default();
    server.settings(&[(setting::MAX_CONCURRENT_STREAMS, rng.below(8) as u32)]);
    for _ in 0..rng.below(40) {
        let stream = 1 + 2 * rng.below(6) as u32;
        match rng.below(9) {
            0 => server.head(stream, OK, rng.below(2) == 0),
            1 => server.data(stream, &vec![b'x'; rng.below(300)], rng.below(2) == 0),
            2 => server.raw(kind::RST_STREAM, 0, stream, &(rng.below(14) as u32).to_be_bytes()),
            3 => server.raw(
                kind::WINDOW_UPDATE,
                0,
                stream * (rng.below(2) as u32),
                &(rng.below(1 << 20) as u32).to_be_bytes(),
            ),
            4 => server.raw(kind::PING, 0, 0, &rng.next().to_be_bytes()),
            5 => server.raw(kind::GOAWAY, 0, 0, &[&stream.to_be_bytes()[..], &[0, 0, 0, 0]].concat()),
            6 => server.raw(kind::HEADERS, 0, stream, &block(OK)[..2]).raw(
                kind::CONTINUATION,
                flag::END_HEADERS,
                stream,
                &block(OK)[2..],
            ),
            7 => server.settings(&[(setting::INITIAL_WINDOW_SIZE, rng.below(1 << 17) as u32)]),
            _ => server.raw(rng.below(12) as u8, rng.below(256) as u8, stream, &vec![0; rng.below(12)]),
        };
    }
    let mut bytes = server.take();
    if rng.below(4) == 0 && !bytes.is_empty() {
        let at = rng.below(bytes.len());
        bytes[at] = rng.next() as u8;
    }
    bytes
}

/// Feeds `bytes` in pieces cut at `cuts`: what was seen, the first error,
/// and whether every stream opened is accounted for.
fn run(bytes: &[u8], cuts: &[usize]) -> (Vec<Seen>, Option<SessionError>, bool) {
    let mut session = Session::default();
    let opened: Vec<u32> = (0..6).filter_map(|_| session.start(REQUEST, b"body")).collect();
    let mut log = Log::default();
    let mut error = None;
    let mut from = 0;
    for &cut in cuts.iter().chain([bytes.len()].iter()) {
        if let Err(e) = session.feed(&bytes[from..cut], &mut log) {
            error = Some(e);
            break;
        }
        from = cut;
    }
    let ended = |id: u32| log.0.iter().any(|s| matches!(s, Seen::End(i) | Seen::Failed(i, _) if *i == id));
    let accounted = opened.iter().filter(|&&id| ended(id)).count() + session.open_streams() == opened.len();
    (log.0, error, accounted)
}

#[test]
fn random_servers_give_the_same_answer_whole_or_in_pieces_and_never_lose_a_stream() {
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let (mut heads, mut errors) = (0, 0);
    for round in 0..3000 {
        let bytes = random_server(&mut rng);
        let whole = run(&bytes, &[]);
        let mut cuts: Vec<usize> = (0..rng.below(6)).map(|_| rng.below(bytes.len() + 1)).collect();
        cuts.sort();
        let pieces = run(&bytes, &cuts);
        let mut joined = Log::default();
        for seen in pieces.0.clone() {
            match seen {
                Seen::Data(id, bytes) => joined.data(id, &bytes),
                other => joined.0.push(other),
            }
        }
        assert_eq!((&joined.0, pieces.1), (&whole.0, whole.1), "round {round}, cuts {cuts:?}");
        assert!(whole.2, "round {round}: a stream neither ended nor stayed open");
        heads += whole.0.iter().filter(|s| matches!(s, Seen::Head(..))).count();
        errors += usize::from(whole.1.is_some());
    }
    // The rounds reach both answered streams and connection errors.
    assert!(heads > 1000 && (300..2700).contains(&errors), "{heads} heads, {errors} errors");
}

#[test]
fn a_smaller_server_table_is_announced_once_before_the_next_request() {
    let mut session = ready(&[(setting::HEADER_TABLE_SIZE, 0)]);
    session.start(REQUEST, b"");
    session.start(REQUEST, b"");
    let blocks: Vec<Vec<u8>> =
        sent(&mut session).into_iter().filter(|f| f.kind == kind::HEADERS).map(|f| f.payload).collect();
    assert_eq!(blocks, [[&[0x20][..], REQUEST].concat(), REQUEST.to_vec()], "a size update of 0, once");
    let mut larger = ready(&[(setting::HEADER_TABLE_SIZE, 65_536)]);
    larger.start(REQUEST, b"");
    assert!(sent(&mut larger).iter().any(|f| f.kind == kind::HEADERS && f.payload == REQUEST), "nothing to say");
}

#[test]
fn an_answer_before_the_whole_body_resets_the_rest() {
    let mut session = ready(&[(setting::INITIAL_WINDOW_SIZE, 10)]);
    session.start(REQUEST, &[7; 100]);
    sent(&mut session);
    let (seen, result) = feed(&mut session, &Server::default().head(1, OK, true).take());
    assert_eq!((seen, result), (vec![Seen::Head(1, 200, BodyFormat::EventStream), Seen::End(1)], Ok(())));
    let rst: Vec<Sent> = sent(&mut session).into_iter().filter(|f| f.kind == kind::RST_STREAM).collect();
    assert_eq!((rst.len(), &rst[0].payload[..]), (1, &ErrorCode::NO_ERROR.0.to_be_bytes()[..]));
    // A window that opens later sends nothing more for it.
    let mut server = Server::default();
    server.raw(kind::WINDOW_UPDATE, 0, 0, &1000u32.to_be_bytes());
    feed(&mut session, &server.take()).1.unwrap();
    assert!(!sent(&mut session).iter().any(|f| f.kind == kind::DATA));
}

#[test]
fn heads_http2_does_not_allow_fail_their_stream() {
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[(":status", "103")], "an interim (1xx) head with END_STREAM"),
        (&[(":status", "101")], ":status 101 in HTTP/2"),
        (&[(":status", "500")], "a pseudo-header field in trailers"),
    ];
    for (fields, why) in cases {
        let mut session = ready(&[]);
        session.start(REQUEST, b"");
        let mut server = Server::default();
        if why.contains("trailers") {
            server.head(1, OK, false);
        }
        server.head(1, fields, true);
        let (seen, result) = feed(&mut session, &server.take());
        assert_eq!(seen.last(), Some(&Seen::Failed(1, StreamFailure::Malformed(why))), "{why}");
        assert_eq!(result, Ok(()));
    }
}

#[test]
fn a_connection_error_or_close_ends_every_open_stream() {
    let mut session = ready(&[]);
    let opened: Vec<u32> = (0..3).map(|_| session.start(REQUEST, b"").unwrap()).collect();
    let mut server = Server::default();
    server.raw(kind::PUSH_PROMISE, flag::END_HEADERS, 1, &[0, 0, 0, 2, 0x82]);
    let (seen, result) = feed(&mut session, &server.take());
    let failed = StreamFailure::Connection(SessionError::PushPromise);
    assert_eq!(result, Err(SessionError::PushPromise));
    assert_eq!(seen, opened.iter().map(|&id| Seen::Failed(id, failed)).collect::<Vec<_>>());
    assert_eq!(session.open_streams(), 0);

    // Closed after a GOAWAY: refused above its last id, failed at or below it.
    let mut session = ready(&[]);
    let opened: Vec<u32> = (0..3).filter_map(|_| session.start(REQUEST, b"")).collect();
    assert_eq!(opened, [1, 3, 5]);
    let mut server = Server::default();
    server.raw(kind::GOAWAY, 0, 0, &[0, 0, 0, 3, 0, 0, 0, 0]);
    let (seen, _) = feed(&mut session, &server.take());
    assert_eq!(seen, [Seen::Failed(5, StreamFailure::Refused)]);
    let mut log = Log::default();
    session.close(&mut log);
    assert_eq!(log.0, [Seen::Failed(1, StreamFailure::Closed), Seen::Failed(3, StreamFailure::Closed)]);
}

#[test]
fn stream_errors_keep_the_connections_rules() {
    // A bad PRIORITY inside a header block is a connection error.
    let mut session = ready(&[]);
    session.start(REQUEST, b"");
    let mut server = Server::default();
    server.raw(kind::HEADERS, 0, 1, &[0x88]).raw(kind::PRIORITY, 0, 1, &[0; 4]);
    assert_eq!(feed(&mut session, &server.take()).1, Err(SessionError::ContinuationExpected));
    // A zero WINDOW_UPDATE on a stream never opened, or before SETTINGS.
    let mut session = ready(&[]);
    server.raw(kind::WINDOW_UPDATE, 0, 99, &0u32.to_be_bytes());
    assert_eq!(feed(&mut session, &server.take()).1, Err(SessionError::IdleStream));
    let mut session = Session::default();
    session.start(REQUEST, b"");
    server.raw(kind::WINDOW_UPDATE, 0, 1, &0u32.to_be_bytes());
    assert_eq!(feed(&mut session, &server.take()).1, Err(SessionError::NoSettings));
    // On an open stream it fails that stream only.
    let mut session = ready(&[]);
    session.start(REQUEST, b"");
    server.raw(kind::WINDOW_UPDATE, 0, 1, &0u32.to_be_bytes());
    let (seen, result) = feed(&mut session, &server.take());
    let zero = StreamFailure::Frame(FrameError::StreamWindowIncrementZero);
    assert_eq!((seen, result), (vec![Seen::Failed(1, zero)], Ok(())));
}

#[test]
fn a_closed_window_sends_no_empty_data_frame() {
    let mut session = ready(&[(setting::INITIAL_WINDOW_SIZE, 0)]);
    session.start(REQUEST, b"body");
    assert!(!sent(&mut session).iter().any(|f| f.kind == kind::DATA), "nothing until the window opens");
    let mut server = Server::default();
    server.raw(kind::WINDOW_UPDATE, 0, 1, &4u32.to_be_bytes());
    feed(&mut session, &server.take()).1.unwrap();
    let data: Vec<Sent> = sent(&mut session).into_iter().filter(|f| f.kind == kind::DATA).collect();
    assert_eq!((data.len(), &data[0].payload[..], data[0].flags), (1, &b"body"[..], flag::END_STREAM));
}
