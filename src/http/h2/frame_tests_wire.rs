//! Runs of frames: every split point, the encoders' bytes and splits, and
//! seeded random frames parsed back in random pieces.

use super::*;
use crate::http::h2::test_rng::Rng;

/// Every whole frame at the start of `buf`, and the bytes they take.
fn parse_all(buf: &[u8]) -> Result<(Vec<Frame<'_>>, usize), FrameError> {
    let (mut frames, mut at) = (Vec::new(), 0);
    while let Status::Complete((frame, used)) = parse_frame(&buf[at..], MAX)? {
        frames.push(frame);
        at += used;
    }
    Ok((frames, at))
}

/// One frame of each type, padded where it can be, HEADERS in three pieces.
fn a_run_of_frames() -> Vec<u8> {
    let mut buf = Vec::new();
    encode_settings(&mut buf, &[(setting::INITIAL_WINDOW_SIZE, 1 << 20), (setting::MAX_FRAME_SIZE, 1 << 20)]);
    encode_settings_ack(&mut buf);
    encode_headers(&mut buf, 1, &[0x88; 40], false, 16);
    buf.extend(raw(kind::DATA, flag::PADDED | flag::END_STREAM, 1, &padded(5, b"body")));
    buf.extend(raw(kind::HEADERS, flag::PADDED | flag::PRIORITY, 3, &padded(2, b"\0\0\0\x01\x10\x82")));
    buf.extend(raw(kind::PUSH_PROMISE, flag::END_HEADERS, 3, b"\0\0\0\x02\x82"));
    buf.extend(raw(kind::PRIORITY, 0, 3, &[0; 5]));
    buf.extend(raw(0x0b, 0, 0, b"unknown"));
    encode_window_update(&mut buf, 0, 1 << 30);
    encode_ping(&mut buf, true, *b"pingpong");
    encode_rst_stream(&mut buf, 3, ErrorCode::CANCEL);
    encode_goaway(&mut buf, 0, ErrorCode::NO_ERROR, b"bye");
    buf
}

#[test]
fn every_prefix_is_partial_until_each_frame_is_whole() {
    let buf = a_run_of_frames();
    let (whole, used) = parse_all(&buf).unwrap();
    assert_eq!((whole.len(), used), (14, buf.len()));
    let mut ends = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let Status::Complete(header) = FrameHeader::parse(&buf[at..]) else { unreachable!() };
        at += FRAME_HEADER_BYTES + header.payload_len as usize;
        ends.push(at);
    }
    for n in 0..=buf.len() {
        let done = ends.iter().filter(|&&end| end <= n).count();
        let (frames, used) = parse_all(&buf[..n]).unwrap();
        assert_eq!(frames, whole[..done], "{n} bytes");
        assert_eq!(used, if done == 0 { 0 } else { ends[done - 1] }, "{n} bytes");
    }
}

#[test]
fn an_error_comes_as_soon_as_it_is_known() {
    let good = raw(kind::PING, 0, 0, b"12345678");
    // From the header alone: a PING on a stream. From the payload: a bad value.
    let on_stream = cat(&[&good, &raw(kind::PING, 0, 1, b"12345678")]);
    let bad_value = cat(&[&good, &raw(kind::SETTINGS, 0, 0, &settings_payload(&[(setting::ENABLE_PUSH, 7)]))]);
    for (buf, known_at, error) in [
        (on_stream, good.len() + FRAME_HEADER_BYTES, FrameError::StreamIdNonZero),
        (bad_value, good.len() + FRAME_HEADER_BYTES + 6, FrameError::SettingNotBoolean),
    ] {
        for n in 0..=buf.len() {
            let got = parse_all(&buf[..n]).map(|(frames, _)| frames.len());
            let want = if n >= known_at { Err(error) } else { Ok(usize::from(n >= good.len())) };
            assert_eq!(got, want, "{n} bytes");
        }
    }
}

type Encoder = fn(&mut Vec<u8>);

#[test]
fn encoders_write_the_rfc_bytes() {
    assert_eq!(PREFACE, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let cases: [(Encoder, &[u8]); 7] = [
        (
            |out| encode_settings(out, &[(3, 100), (4, 65_535)]),
            b"\0\0\x0c\x04\0\0\0\0\0\0\x03\0\0\0\x64\0\x04\0\0\xff\xff",
        ),
        (|out| encode_settings(out, &[]), b"\0\0\0\x04\0\0\0\0\0"),
        (encode_settings_ack, b"\0\0\0\x04\x01\0\0\0\0"),
        (|out| encode_window_update(out, 3, 0x0001_0000), b"\0\0\x04\x08\0\0\0\0\x03\0\x01\0\0"),
        (|out| encode_ping(out, true, *b"12345678"), b"\0\0\x08\x06\x01\0\0\0\x0012345678"),
        (|out| encode_rst_stream(out, 0x7fff_ffff, ErrorCode::CANCEL), b"\0\0\x04\x03\0\x7f\xff\xff\xff\0\0\0\x08"),
        (
            |out| encode_goaway(out, 5, ErrorCode(0x0102_0304), b"ab"),
            b"\0\0\x0a\x07\0\0\0\0\0\0\0\0\x05\x01\x02\x03\x04ab",
        ),
    ];
    for (encode, want) in cases {
        let mut out = b"kept".to_vec();
        encode(&mut out);
        assert_eq!(&out[..4], b"kept", "appends");
        assert_eq!(&out[4..], want);
        assert!(parse_all(&out[4..]).is_ok_and(|(frames, used)| frames.len() == 1 && used == want.len()));
    }
    let mut out = Vec::new();
    encode_ping(&mut out, false, [0; 8]);
    assert_eq!(one(&out), Ok(Frame::Ping { ack: false, data: [0; 8] }));
}

/// The kinds and flags of the frames in `buf`, and their payloads joined.
fn shape(buf: &[u8]) -> (Vec<(u8, u8, u32)>, Vec<u8>) {
    let (mut frames, mut joined, mut at) = (Vec::new(), Vec::new(), 0);
    while let Status::Complete(header) = FrameHeader::parse(&buf[at..]) {
        let end = at + FRAME_HEADER_BYTES + header.payload_len as usize;
        assert!(header.check(MAX).is_ok(), "{header:?}");
        frames.push((header.kind, header.flags, header.stream_id));
        joined.extend_from_slice(&buf[at + FRAME_HEADER_BYTES..end]);
        at = end;
    }
    assert_eq!(at, buf.len(), "whole frames");
    (frames, joined)
}

/// Frames as (type, flags).
type Shape<'a> = &'a [(u8, u8)];

#[test]
fn headers_and_data_are_split_by_the_maximum_frame_size() {
    const H: u8 = kind::HEADERS;
    const C: u8 = kind::CONTINUATION;
    const D: u8 = kind::DATA;
    const ES: u8 = flag::END_STREAM;
    const EH: u8 = flag::END_HEADERS;
    let cases: [(usize, bool, Shape, Shape); 7] = [
        (0, true, &[(H, ES | EH)], &[(D, ES)]),
        (1, false, &[(H, EH)], &[(D, 0)]),
        (4, true, &[(H, ES | EH)], &[(D, ES)]),
        (5, true, &[(H, ES), (C, EH)], &[(D, 0), (D, ES)]),
        (8, false, &[(H, 0), (C, EH)], &[(D, 0), (D, 0)]),
        (9, true, &[(H, ES), (C, 0), (C, EH)], &[(D, 0), (D, 0), (D, ES)]),
        (12, true, &[(H, ES), (C, 0), (C, EH)], &[(D, 0), (D, 0), (D, ES)]),
    ];
    for (len, end_stream, want_headers, want_data) in cases {
        let bytes: Vec<u8> = (0..len as u8).collect();
        let (mut headers, mut data) = (Vec::new(), Vec::new());
        encode_headers(&mut headers, 9, &bytes, end_stream, 4);
        encode_data(&mut data, 9, &bytes, end_stream, 4);
        for (buf, want) in [(headers, want_headers), (data, want_data)] {
            let (frames, joined) = shape(&buf);
            let want: Vec<_> = want.iter().map(|&(kind, flags)| (kind, flags, 9)).collect();
            assert_eq!((frames, joined), (want, bytes.clone()), "{len} bytes");
        }
    }
}

#[test]
fn a_prebuilt_request_changes_stream_cheaply() {
    let mut request = Vec::new();
    encode_headers(&mut request, 1, &[0x82; 30], false, 16);
    let data_at = request.len();
    encode_data(&mut request, 1, b"body", true, 16);
    let before = shape(&request).1;
    for stream_id in [3, 0x7fff_ffff, 5] {
        set_stream_ids(&mut request, stream_id);
        let (frames, joined) = shape(&request);
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|&(_, _, id)| id == stream_id), "{frames:?}");
        assert_eq!(joined, before, "payloads untouched");
    }
    set_stream_id(&mut request, data_at, 0xffff_fffd);
    assert_eq!(shape(&request).0.iter().map(|f| f.2).collect::<Vec<_>>(), [5, 5, 0x7fff_fffd]);
    assert_eq!(request[data_at + 5], 0x7f, "the reserved bit is written as 0");
}

/// What frames need drawn: stream ids and settings.
trait FrameDraws {
    fn stream(&mut self) -> (u32, u32);
    fn setting(&mut self) -> (u16, u32);
}

impl FrameDraws for Rng {
    /// A stream id, and how it is sent: maybe with the reserved bit set.
    fn stream(&mut self) -> (u32, u32) {
        let id = 1 + self.below(STREAM_ID_MASK as usize) as u32;
        (id, if self.coin() { id | 0x8000_0000 } else { id })
    }
    fn setting(&mut self) -> (u16, u32) {
        let id = [1, 2, 3, 4, 5, 6, 8, 9, 0, 7, 0xff][self.below(11)];
        let value = match id {
            setting::ENABLE_PUSH | setting::ENABLE_CONNECT_PROTOCOL | setting::NO_RFC7540_PRIORITIES => self.below(2),
            setting::INITIAL_WINDOW_SIZE => self.below(MAX_WINDOW_BYTES as usize + 1),
            setting::MAX_FRAME_SIZE => MAX as usize + self.below((LARGEST_MAX_FRAME_BYTES - MAX) as usize + 1),
            _ => self.next() as u32 as usize,
        };
        (id, value as u32)
    }
}

/// A frame drawn at random: its type, flags, stream id as sent, payload,
/// and what parsing it must give (as `Debug`).
type Drawn = (u8, u8, u32, Vec<u8>, String);

/// A frame of the connection's own (stream 0): SETTINGS, its ACK, PING or GOAWAY.
fn random_connection_frame(rng: &mut Rng, noise: u8, body: &[u8]) -> Drawn {
    match rng.below(4) {
        0 => {
            let want = Frame::Settings { ack: true, params: Params { raw: b"" } };
            (kind::SETTINGS, noise | flag::ACK, 0, vec![], format!("{want:?}"))
        }
        1 => {
            let params: Vec<(u16, u32)> = (0..rng.below(8)).map(|_| rng.setting()).collect();
            let payload = settings_payload(&params);
            let want = format!("{:?}", Frame::Settings { ack: false, params: Params { raw: &payload } });
            (kind::SETTINGS, noise & !flag::ACK, 0, payload, want)
        }
        2 => {
            let data = (rng.next()).to_be_bytes();
            let ack = rng.coin();
            let flags = noise & !flag::ACK | if ack { flag::ACK } else { 0 };
            (kind::PING, flags, 0, data.to_vec(), format!("{:?}", Frame::Ping { ack, data }))
        }
        _ => {
            let (last_stream_id, wire_last) = rng.stream();
            let code = ErrorCode(rng.next() as u32);
            let payload = cat(&[&wire_last.to_be_bytes(), &code.0.to_be_bytes(), body]);
            (kind::GOAWAY, noise, 0, payload, format!("{:?}", Frame::GoAway { last_stream_id, code, debug: body }))
        }
    }
}

/// A valid frame of a random type with random content, undefined flags and
/// reserved bits: its bytes, and what parsing them must give (as `Debug`).
fn random_frame(rng: &mut Rng) -> (Vec<u8>, String) {
    let (stream_id, wire_id) = rng.stream();
    let body = rng.bytes(40);
    let pad = rng.coin().then(|| rng.below(256) as u8);
    let noise = rng.next() as u8 & !(flag::PADDED | flag::PRIORITY);
    let pad_flag = if pad.is_some() { flag::PADDED } else { 0 };
    let padded_body = |fields: &[u8]| match pad {
        Some(pad) => padded(pad, &cat(&[fields, &body])),
        None => cat(&[fields, &body]),
    };
    let has = |bit| noise & bit != 0;
    let (kind, flags, wire_id, payload, want) = match rng.below(11) {
        0 => {
            let payload = padded_body(b"");
            let flow_len = payload.len() as u32;
            let want = Frame::Data { stream_id, data: &body, end_stream: has(flag::END_STREAM), flow_len };
            (kind::DATA, noise | pad_flag, wire_id, payload, format!("{want:?}"))
        }
        1 => {
            let priority: Vec<u8> = if rng.coin() { (0..5).map(|_| rng.next() as u8).collect() } else { vec![] };
            let flags = noise | pad_flag | if priority.is_empty() { 0 } else { flag::PRIORITY };
            let want = headers(stream_id, &body, has(flag::END_STREAM), has(flag::END_HEADERS));
            (kind::HEADERS, flags, wire_id, padded_body(&priority), format!("{want:?}"))
        }
        2 => (kind::PRIORITY, noise, wire_id, vec![0x80, 0, 0, 1, 255], format!("{:?}", Frame::Priority { stream_id })),
        3 => {
            let code = rng.next() as u32;
            let want = Frame::RstStream { stream_id, code: ErrorCode(code) };
            (kind::RST_STREAM, noise, wire_id, code.to_be_bytes().to_vec(), format!("{want:?}"))
        }
        4..=6 => random_connection_frame(rng, noise, &body),
        7 => {
            let (promised_id, wire_promised) = rng.stream();
            let want =
                Frame::PushPromise { stream_id, promised_id, fragment: &body, end_headers: has(flag::END_HEADERS) };
            (
                kind::PUSH_PROMISE,
                noise | pad_flag,
                wire_id,
                padded_body(&wire_promised.to_be_bytes()),
                format!("{want:?}"),
            )
        }
        8 => {
            let (increment, wire_increment) = rng.stream();
            let (stream_id, wire_id) = if rng.coin() { (0, 0) } else { (stream_id, wire_id) };
            let want = Frame::WindowUpdate { stream_id, increment };
            (kind::WINDOW_UPDATE, noise, wire_id, wire_increment.to_be_bytes().to_vec(), format!("{want:?}"))
        }
        9 => {
            let want = Frame::Continuation { stream_id, fragment: &body, end_headers: has(flag::END_HEADERS) };
            (kind::CONTINUATION, noise | pad_flag, wire_id, body.clone(), format!("{want:?}"))
        }
        _ => {
            let kind = 10 + rng.below(246) as u8;
            let header = FrameHeader { payload_len: body.len() as u32, kind, flags: noise, stream_id };
            (kind, noise, wire_id, body.clone(), format!("{:?}", Frame::Unknown { header, payload: &body }))
        }
    };
    (raw(kind, flags, wire_id, &payload), want)
}

#[test]
fn random_frames_parse_back_in_any_pieces() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for round in 0..2000 {
        let (mut wire, mut want) = (Vec::new(), Vec::new());
        for _ in 0..1 + rng.below(12) {
            let (bytes, frame) = random_frame(&mut rng);
            wire.extend(bytes);
            want.push(frame);
        }
        // As a connection reads: pieces appended, whole frames taken off.
        let (mut pending, mut got, mut rest) = (Vec::new(), Vec::new(), &wire[..]);
        while !rest.is_empty() {
            let (piece, tail) = rest.split_at(1 + rng.below(rest.len().min(80)));
            pending.extend_from_slice(piece);
            rest = tail;
            loop {
                let step = match parse_frame(&pending, MAX) {
                    Ok(Status::Complete((frame, used))) => (format!("{frame:?}"), used),
                    Ok(Status::Partial) => break,
                    Err(e) => panic!("round {round}: {e:?} in {wire:?}"),
                };
                got.push(step.0);
                pending.drain(..step.1);
            }
        }
        assert!(pending.is_empty(), "round {round}");
        assert_eq!(got, want, "round {round}: {wire:?}");
    }
}

#[test]
fn random_blocks_and_bodies_split_and_join_again() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let (stream_id, _) = rng.stream();
        let bytes = rng.bytes(300);
        let max = 1 + rng.below(64) as u32;
        let end_stream = rng.coin();
        let frames = bytes.len().div_ceil(max as usize).max(1);
        let mut out = Vec::new();
        if rng.coin() {
            encode_headers(&mut out, stream_id, &bytes, end_stream, max);
            let (got, joined) = shape(&out);
            assert_eq!(joined, bytes);
            for (i, &(kind, flags, id)) in got.iter().enumerate() {
                let want_kind = if i == 0 { kind::HEADERS } else { kind::CONTINUATION };
                let want_flags = (u8::from(i == 0 && end_stream) * flag::END_STREAM)
                    | (u8::from(i + 1 == frames) * flag::END_HEADERS);
                assert_eq!((kind, flags, id), (want_kind, want_flags, stream_id), "frame {i} of {frames}");
            }
            assert_eq!(got.len(), frames);
        } else {
            encode_data(&mut out, stream_id, &bytes, end_stream, max);
            let (got, joined) = shape(&out);
            assert_eq!(joined, bytes);
            let want: Vec<_> = (0..frames)
                .map(|i| (kind::DATA, u8::from(i + 1 == frames && end_stream) * flag::END_STREAM, stream_id))
                .collect();
            assert_eq!(got, want);
        }
        assert_eq!(out.len(), bytes.len() + frames * FRAME_HEADER_BYTES);
    }
}
