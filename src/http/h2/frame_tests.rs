//! Frames against RFC 9113 §6 rule by rule, every split point of a run of
//! frames, the encoders' bytes, and seeded random frames parsed back.

use super::*;

const MAX: u32 = DEFAULT_MAX_FRAME_BYTES;

/// A frame as the RFC draws it, written without the module's encoder.
fn raw(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream_id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A padded payload: Pad Length, `body`, then `pad` zero bytes.
fn padded(pad: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![pad];
    out.extend_from_slice(body);
    out.resize(out.len() + usize::from(pad), 0);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Parses `bytes` as exactly one frame at the default maximum size.
fn one(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    match parse_frame(bytes, MAX)? {
        Status::Complete((frame, used)) => {
            assert_eq!(used, bytes.len(), "{frame:?} takes all of {bytes:?}");
            Ok(frame)
        }
        Status::Partial => panic!("a whole frame is partial: {bytes:?}"),
    }
}

type Case<'a> = (&'a str, Vec<u8>, Result<Frame<'a>, FrameError>);

fn run(cases: &[Case<'_>]) {
    for (name, bytes, want) in cases {
        assert_eq!(one(bytes), *want, "{name}");
    }
}

#[test]
fn the_header_alone() {
    let bytes = [0x01, 0x02, 0x03, 0xfa, 0x5a, 0x80, 0x00, 0x00, 0x07];
    let want = FrameHeader { payload_len: 0x01_0203, kind: 0xfa, flags: 0x5a, stream_id: 7 };
    assert_eq!(FrameHeader::parse(&bytes), Status::Complete(want), "the reserved bit is cleared");
    assert_eq!(FrameHeader::parse(&[&bytes[..], b"more"].concat()), Status::Complete(want));
    for n in 0..FRAME_HEADER_BYTES {
        assert_eq!(FrameHeader::parse(&bytes[..n]), Status::Partial, "{n} bytes");
    }
    assert_eq!(want.encode(), [0x01, 0x02, 0x03, 0xfa, 0x5a, 0, 0, 0, 7]);
    assert!(want.has(flag::PADDED) && !want.has(flag::END_STREAM));
}

#[test]
fn data() {
    let cases: Vec<Case> = vec![
        ("plain", raw(kind::DATA, 0, 1, b"hello"), Ok(data_frame(1, b"hello", false, 5))),
        ("end stream", raw(kind::DATA, flag::END_STREAM, 3, b""), Ok(data_frame(3, b"", true, 0))),
        ("padded", raw(kind::DATA, flag::PADDED, 5, &padded(3, b"abc")), Ok(data_frame(5, b"abc", false, 7))),
        ("zero padding", raw(kind::DATA, flag::PADDED, 5, &padded(0, b"abc")), Ok(data_frame(5, b"abc", false, 4))),
        ("all padding", raw(kind::DATA, flag::PADDED, 5, &padded(4, b"")), Ok(data_frame(5, b"", false, 5))),
        ("pad = payload", raw(kind::DATA, flag::PADDED, 5, &[2, 0]), Err(FrameError::Padding)),
        ("pad > payload", raw(kind::DATA, flag::PADDED, 5, &[200, 0, 0]), Err(FrameError::Padding)),
        ("no room for Pad Length", raw(kind::DATA, flag::PADDED, 5, b""), Err(FrameError::TooShort)),
        ("stream 0", raw(kind::DATA, 0, 0, b"x"), Err(FrameError::StreamIdZero)),
        ("other flags ignored", raw(kind::DATA, 0xf6, 1, b"x"), Ok(data_frame(1, b"x", false, 1))),
        ("reserved bit", raw(kind::DATA, 0, 0x8000_0009, b"x"), Ok(data_frame(9, b"x", false, 1))),
    ];
    run(&cases);
}

fn data_frame(stream_id: u32, data: &[u8], end_stream: bool, flow_len: u32) -> Frame<'_> {
    Frame::Data { stream_id, data, end_stream, flow_len }
}

fn headers(stream_id: u32, fragment: &[u8], end_stream: bool, end_headers: bool) -> Frame<'_> {
    Frame::Headers { stream_id, fragment, end_stream, end_headers }
}

#[test]
fn headers_frames() {
    let priority = [0x80, 0, 0, 1, 15];
    let both = flag::PADDED | flag::PRIORITY;
    let cases: Vec<Case> = vec![
        ("plain", raw(kind::HEADERS, flag::END_HEADERS, 1, b"\x82"), Ok(headers(1, b"\x82", false, true))),
        (
            "end stream, no end headers",
            raw(kind::HEADERS, flag::END_STREAM, 1, b"ab"),
            Ok(headers(1, b"ab", true, false)),
        ),
        (
            "priority",
            raw(kind::HEADERS, flag::PRIORITY, 3, &cat(&[&priority, b"ab"])),
            Ok(headers(3, b"ab", false, false)),
        ),
        ("padded", raw(kind::HEADERS, flag::PADDED, 3, &padded(2, b"ab")), Ok(headers(3, b"ab", false, false))),
        (
            "padded priority",
            raw(kind::HEADERS, both, 3, &padded(1, &cat(&[&priority, b"ab"]))),
            Ok(headers(3, b"ab", false, false)),
        ),
        (
            "padding up to priority",
            raw(kind::HEADERS, both, 3, &padded(2, &priority)),
            Ok(headers(3, b"", false, false)),
        ),
        ("padding into priority", raw(kind::HEADERS, both, 3, &padded(3, &priority)[..8]), Err(FrameError::Padding)),
        ("padding into priority 2", raw(kind::HEADERS, both, 3, &cat(&[&[1], &priority])), Err(FrameError::Padding)),
        ("short priority", raw(kind::HEADERS, flag::PRIORITY, 3, &priority[..4]), Err(FrameError::TooShort)),
        (
            "short padded priority",
            raw(kind::HEADERS, both, 3, &cat(&[&[0], &priority[..4]])),
            Err(FrameError::TooShort),
        ),
        ("stream 0", raw(kind::HEADERS, flag::END_HEADERS, 0, b"\x82"), Err(FrameError::StreamIdZero)),
    ];
    run(&cases);
}

#[test]
fn priority_rst_stream_and_continuation() {
    let cases: Vec<Case> = vec![
        ("priority", raw(kind::PRIORITY, 0, 3, &[0, 0, 0, 1, 16]), Ok(Frame::Priority { stream_id: 3 })),
        ("short priority", raw(kind::PRIORITY, 0, 3, &[0; 4]), Err(FrameError::PriorityLength)),
        ("long priority", raw(kind::PRIORITY, 0, 3, &[0; 6]), Err(FrameError::PriorityLength)),
        ("priority on stream 0", raw(kind::PRIORITY, 0, 0, &[0; 5]), Err(FrameError::StreamIdZero)),
        (
            "rst",
            raw(kind::RST_STREAM, 0, 5, &[0, 0, 0, 8]),
            Ok(Frame::RstStream { stream_id: 5, code: ErrorCode::CANCEL }),
        ),
        (
            "rst unknown code",
            raw(kind::RST_STREAM, 0, 5, &[1, 2, 3, 4]),
            Ok(Frame::RstStream { stream_id: 5, code: ErrorCode(0x0102_0304) }),
        ),
        ("short rst", raw(kind::RST_STREAM, 0, 5, &[0; 3]), Err(FrameError::FixedLength)),
        ("long rst", raw(kind::RST_STREAM, 0, 5, &[0; 5]), Err(FrameError::FixedLength)),
        ("rst on stream 0", raw(kind::RST_STREAM, 0, 0, &[0; 4]), Err(FrameError::StreamIdZero)),
        (
            "continuation",
            raw(kind::CONTINUATION, flag::END_HEADERS, 7, b"xy"),
            Ok(Frame::Continuation { stream_id: 7, fragment: b"xy", end_headers: true }),
        ),
        (
            "empty continuation",
            raw(kind::CONTINUATION, flag::PADDED, 7, b""),
            Ok(Frame::Continuation { stream_id: 7, fragment: b"", end_headers: false }),
        ),
        ("continuation on stream 0", raw(kind::CONTINUATION, 0, 0, b"xy"), Err(FrameError::StreamIdZero)),
    ];
    run(&cases);
}

fn settings_payload(params: &[(u16, u32)]) -> Vec<u8> {
    params.iter().flat_map(|&(id, value)| [&id.to_be_bytes()[..], &value.to_be_bytes()].concat()).collect()
}

/// The parameters of a SETTINGS frame, or its error.
fn settings(params: &[(u16, u32)]) -> Result<Vec<(u16, u32)>, FrameError> {
    match one(&raw(kind::SETTINGS, 0, 0, &settings_payload(params)))? {
        Frame::Settings { ack: false, params: got } => Ok(got.collect()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn settings_values() {
    use setting::*;
    let valid: &[&[(u16, u32)]] = &[
        &[],
        &[(ENABLE_PUSH, 0), (ENABLE_PUSH, 1), (ENABLE_CONNECT_PROTOCOL, 1), (NO_RFC7540_PRIORITIES, 0)],
        &[(INITIAL_WINDOW_SIZE, 0), (INITIAL_WINDOW_SIZE, MAX_WINDOW_BYTES)],
        &[(MAX_FRAME_SIZE, 16_384), (MAX_FRAME_SIZE, 16_777_215)],
        &[(HEADER_TABLE_SIZE, u32::MAX), (MAX_CONCURRENT_STREAMS, 0), (MAX_HEADER_LIST_SIZE, 1)],
        &[(0, u32::MAX), (0x7, 9), (0xa, 2), (0xffff, u32::MAX)],
    ];
    for params in valid {
        assert_eq!(settings(params).as_deref(), Ok(*params), "in order, unknown ids included");
    }
    let invalid = [
        (ENABLE_PUSH, 2, FrameError::SettingNotBoolean),
        (ENABLE_CONNECT_PROTOCOL, u32::MAX, FrameError::SettingNotBoolean),
        (NO_RFC7540_PRIORITIES, 2, FrameError::SettingNotBoolean),
        (INITIAL_WINDOW_SIZE, MAX_WINDOW_BYTES + 1, FrameError::InitialWindowTooLarge),
        (MAX_FRAME_SIZE, 16_383, FrameError::MaxFrameSize),
        (MAX_FRAME_SIZE, 0, FrameError::MaxFrameSize),
        (MAX_FRAME_SIZE, 16_777_216, FrameError::MaxFrameSize),
    ];
    for (id, value, want) in invalid {
        assert_eq!(settings(&[(HEADER_TABLE_SIZE, 0), (id, value)]), Err(want), "{id} = {value}");
    }
    assert_eq!(FrameError::InitialWindowTooLarge.code(), ErrorCode::FLOW_CONTROL_ERROR);
}

#[test]
fn settings_frames() {
    let ack = Ok(Frame::Settings { ack: true, params: Params { raw: b"" } });
    let cases: Vec<Case> = vec![
        ("ack", raw(kind::SETTINGS, flag::ACK, 0, b""), ack),
        ("ack with payload", raw(kind::SETTINGS, flag::ACK, 0, &[0; 6]), Err(FrameError::SettingsAckLength)),
        ("5 bytes", raw(kind::SETTINGS, 0, 0, &[0; 5]), Err(FrameError::SettingsLength)),
        ("13 bytes", raw(kind::SETTINGS, 0, 0, &[0; 13]), Err(FrameError::SettingsLength)),
        ("on a stream", raw(kind::SETTINGS, 0, 1, b""), Err(FrameError::StreamIdNonZero)),
    ];
    run(&cases);
    let two = raw(kind::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100, 0, 4, 0, 1, 0, 0]);
    let Ok(Frame::Settings { mut params, .. }) = one(&two) else { panic!() };
    assert_eq!(params.len(), 2);
    let want = [(setting::MAX_CONCURRENT_STREAMS, 100), (setting::INITIAL_WINDOW_SIZE, 65_536)];
    assert_eq!(params.collect::<Vec<_>>(), want);
    assert_eq!(params.next(), Some(want[0]), "a copy iterates afresh");
    assert_eq!(params.len(), 1);
}

#[test]
fn push_promise_ping_goaway() {
    let promise = |stream_id, promised_id, fragment, end_headers| {
        Ok(Frame::PushPromise { stream_id, promised_id, fragment, end_headers })
    };
    let goaway = |last_stream_id, code, debug| Ok(Frame::GoAway { last_stream_id, code, debug });
    let cases: Vec<Case> = vec![
        ("promise", raw(kind::PUSH_PROMISE, flag::END_HEADERS, 1, &[0, 0, 0, 2, 0x82]), promise(1, 2, b"\x82", true)),
        (
            "padded promise",
            raw(kind::PUSH_PROMISE, flag::PADDED, 1, &padded(2, &[0x80, 0, 0, 4, 7])),
            promise(1, 4, b"\x07", false),
        ),
        ("promise of stream 0", raw(kind::PUSH_PROMISE, 0, 1, &[0x80, 0, 0, 0]), Err(FrameError::PromisedStreamIdZero)),
        ("short promise", raw(kind::PUSH_PROMISE, 0, 1, &[0, 0, 2]), Err(FrameError::TooShort)),
        ("short padded promise", raw(kind::PUSH_PROMISE, flag::PADDED, 1, &[0, 0, 0, 2]), Err(FrameError::TooShort)),
        (
            "padding into the promise",
            raw(kind::PUSH_PROMISE, flag::PADDED, 1, &[1, 0, 0, 0, 2]),
            Err(FrameError::Padding),
        ),
        ("promise on stream 0", raw(kind::PUSH_PROMISE, 0, 0, &[0, 0, 0, 2]), Err(FrameError::StreamIdZero)),
        ("ping", raw(kind::PING, 0, 0, b"12345678"), Ok(Frame::Ping { ack: false, data: *b"12345678" })),
        ("ping ack", raw(kind::PING, flag::ACK, 0, b"abcdefgh"), Ok(Frame::Ping { ack: true, data: *b"abcdefgh" })),
        ("short ping", raw(kind::PING, 0, 0, b"1234567"), Err(FrameError::FixedLength)),
        ("long ping", raw(kind::PING, 0, 0, b"123456789"), Err(FrameError::FixedLength)),
        ("ping on a stream", raw(kind::PING, 0, 1, b"12345678"), Err(FrameError::StreamIdNonZero)),
        ("goaway", raw(kind::GOAWAY, 0, 0, &[0, 0, 0, 5, 0, 0, 0, 0]), goaway(5, ErrorCode::NO_ERROR, b"")),
        (
            "goaway debug",
            raw(kind::GOAWAY, 0, 0, b"\xff\xff\xff\xff\0\0\0\x0bcalm"),
            goaway(MAX_WINDOW_BYTES, ErrorCode::ENHANCE_YOUR_CALM, b"calm"),
        ),
        ("goaway unknown code", raw(kind::GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 1, 0]), goaway(1, ErrorCode(256), b"")),
        ("short goaway", raw(kind::GOAWAY, 0, 0, &[0; 7]), Err(FrameError::TooShort)),
        ("goaway on a stream", raw(kind::GOAWAY, 0, 3, &[0; 8]), Err(FrameError::StreamIdNonZero)),
    ];
    run(&cases);
}

#[test]
fn window_update_and_unknown_types() {
    let update = |stream_id, increment| Ok(Frame::WindowUpdate { stream_id, increment });
    let unknown = FrameHeader { payload_len: 3, kind: 0xfa, flags: 0xff, stream_id: 0 };
    let cases: Vec<Case> = vec![
        ("connection", raw(kind::WINDOW_UPDATE, 0, 0, &[0, 1, 0, 0]), update(0, 65_536)),
        (
            "stream, reserved bit",
            raw(kind::WINDOW_UPDATE, 0, 3, &[0xff, 0xff, 0xff, 0xff]),
            update(3, MAX_WINDOW_BYTES),
        ),
        ("connection 0", raw(kind::WINDOW_UPDATE, 0, 0, &[0; 4]), Err(FrameError::ConnectionWindowIncrementZero)),
        (
            "stream 0 increment",
            raw(kind::WINDOW_UPDATE, 0, 3, &[0x80, 0, 0, 0]),
            Err(FrameError::StreamWindowIncrementZero),
        ),
        ("short", raw(kind::WINDOW_UPDATE, 0, 3, &[0, 0, 1]), Err(FrameError::FixedLength)),
        ("long", raw(kind::WINDOW_UPDATE, 0, 0, &[0, 0, 0, 1, 0]), Err(FrameError::FixedLength)),
        ("unknown", raw(0xfa, 0xff, 0, b"abc"), Ok(Frame::Unknown { header: unknown, payload: b"abc" })),
        (
            "unknown on a stream",
            raw(0x0a, 0, 9, b""),
            Ok(Frame::Unknown {
                header: FrameHeader { payload_len: 0, kind: 0x0a, flags: 0, stream_id: 9 },
                payload: b"",
            }),
        ),
    ];
    run(&cases);
}

#[test]
fn the_size_limit_is_applied_from_the_header_alone() {
    let big = raw(0xfa, 0, 0, &vec![0; MAX as usize + 1]);
    for n in 0..FRAME_HEADER_BYTES {
        assert_eq!(parse_frame(&big[..n], MAX), Ok(Status::Partial), "{n} bytes");
    }
    for n in [FRAME_HEADER_BYTES, 100, big.len()] {
        assert_eq!(parse_frame(&big[..n], MAX), Err(FrameError::FrameTooLarge), "{n} bytes");
    }
    assert!(matches!(parse_frame(&big, MAX + 1), Ok(Status::Complete(_))));
    let exact = raw(kind::DATA, 0, 1, &vec![7; MAX as usize]);
    assert!(matches!(one(&exact), Ok(Frame::Data { flow_len: MAX, .. })));
    let header = FrameHeader { payload_len: LARGEST_MAX_FRAME_BYTES, kind: kind::PING, flags: 0, stream_id: 0 };
    assert_eq!(header.check(LARGEST_MAX_FRAME_BYTES), Err(FrameError::FixedLength));
    assert_eq!(header.check(MAX), Err(FrameError::FrameTooLarge), "the size first");
}

#[test]
fn errors_name_their_codes() {
    use FrameError::*;
    let all = [
        (FrameTooLarge, ErrorCode::FRAME_SIZE_ERROR),
        (StreamIdZero, ErrorCode::PROTOCOL_ERROR),
        (StreamIdNonZero, ErrorCode::PROTOCOL_ERROR),
        (FixedLength, ErrorCode::FRAME_SIZE_ERROR),
        (PriorityLength, ErrorCode::FRAME_SIZE_ERROR),
        (TooShort, ErrorCode::FRAME_SIZE_ERROR),
        (Padding, ErrorCode::PROTOCOL_ERROR),
        (SettingsLength, ErrorCode::FRAME_SIZE_ERROR),
        (SettingsAckLength, ErrorCode::FRAME_SIZE_ERROR),
        (SettingNotBoolean, ErrorCode::PROTOCOL_ERROR),
        (InitialWindowTooLarge, ErrorCode::FLOW_CONTROL_ERROR),
        (MaxFrameSize, ErrorCode::PROTOCOL_ERROR),
        (PromisedStreamIdZero, ErrorCode::PROTOCOL_ERROR),
        (ConnectionWindowIncrementZero, ErrorCode::PROTOCOL_ERROR),
        (StreamWindowIncrementZero, ErrorCode::PROTOCOL_ERROR),
    ];
    let mut messages = std::collections::HashSet::new();
    for (error, code) in all {
        assert_eq!(error.code(), code, "{error:?}");
        assert_eq!(error.is_stream_error(), matches!(error, PriorityLength | StreamWindowIncrementZero), "{error:?}");
        assert!(messages.insert(error.to_string()), "{error:?} has a message of its own");
    }
    let names = [
        (0, "NO_ERROR"),
        (1, "PROTOCOL_ERROR"),
        (6, "FRAME_SIZE_ERROR"),
        (7, "REFUSED_STREAM"),
        (0xd, "HTTP_1_1_REQUIRED"),
    ];
    for (code, name) in names {
        assert_eq!(ErrorCode(code).name(), Some(name));
        assert_eq!(ErrorCode(code).to_string(), name);
    }
    assert_eq!(ErrorCode(0xe).name(), None);
    assert_eq!(ErrorCode(0xe).to_string(), "0xe");
    assert_eq!(ErrorCode(u32::MAX).to_string(), "0xffffffff");
}

#[test]
fn padded_data_streamed_from_the_header() {
    let header = |payload_len| FrameHeader { payload_len, kind: kind::DATA, flags: flag::PADDED, stream_id: 1 };
    assert_eq!(padded_data_len(&header(10), 0), Ok(9));
    assert_eq!(padded_data_len(&header(10), 9), Ok(0));
    assert_eq!(padded_data_len(&header(10), 10), Err(FrameError::Padding));
    assert_eq!(padded_data_len(&header(1), 255), Err(FrameError::Padding));
}

#[path = "frame_tests_wire.rs"]
mod wire;
