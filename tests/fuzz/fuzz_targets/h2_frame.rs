//! Any bytes as a run of HTTP/2 frames: no panic, the same frames and the
//! same error whether the bytes come whole or in pieces, the facts each
//! frame promises hold, and what the encoders can say again parses back
//! to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vastar::http::Status;
use vastar::http::h2::frame::*;

/// The frames (as `Debug`) and how the run ended: `None` at a partial
/// frame, the error otherwise.
type Outcome = (Vec<String>, Option<FrameError>);

fn whole(input: &[u8], max: u32) -> Outcome {
    let (mut frames, mut at) = (Vec::new(), 0);
    loop {
        match parse_frame(&input[at..], max) {
            Ok(Status::Complete((frame, used))) => {
                assert!(used >= FRAME_HEADER_BYTES && used <= input.len() - at);
                facts(&frame, used, max);
                frames.push(format!("{frame:?}"));
                at += used;
            }
            Ok(Status::Partial) => return (frames, None),
            Err(e) => return (frames, Some(e)),
        }
    }
}

/// As a connection reads: pieces appended, whole frames taken off.
fn in_pieces(input: &[u8], max: u32, piece: usize) -> Outcome {
    let (mut frames, mut pending) = (Vec::new(), Vec::new());
    for chunk in input.chunks(piece) {
        pending.extend_from_slice(chunk);
        loop {
            let (frame, used) = match parse_frame(&pending, max) {
                Ok(Status::Complete((frame, used))) => (format!("{frame:?}"), used),
                Ok(Status::Partial) => break,
                Err(e) => return (frames, Some(e)),
            };
            frames.push(frame);
            pending.drain(..used);
        }
    }
    (frames, None)
}

/// What a parsed frame promises, and a round trip through the encoders
/// (which write neither padding nor undefined flags).
fn facts(frame: &Frame<'_>, used: usize, max: u32) {
    let payload_len = (used - FRAME_HEADER_BYTES) as u32;
    assert!(payload_len <= max);
    let mut out = Vec::new();
    let again = match *frame {
        Frame::Data { stream_id, data, end_stream, flow_len } => {
            assert!(stream_id != 0 && stream_id <= STREAM_ID_MASK);
            assert!(flow_len == payload_len && data.len() <= payload_len as usize);
            encode_data(&mut out, stream_id, data, end_stream, max);
            Frame::Data { stream_id, data, end_stream, flow_len: data.len() as u32 }
        }
        Frame::Headers { stream_id, fragment, end_stream, .. } => {
            assert!(stream_id != 0 && fragment.len() <= payload_len as usize);
            encode_headers(&mut out, stream_id, fragment, end_stream, max);
            Frame::Headers { stream_id, fragment, end_stream, end_headers: true }
        }
        Frame::Settings { ack: true, params } => {
            assert_eq!(params.len(), 0);
            encode_settings_ack(&mut out);
            *frame
        }
        Frame::Settings { ack: false, params } => {
            encode_settings(&mut out, &params.collect::<Vec<_>>());
            *frame
        }
        Frame::Ping { ack, data } => {
            encode_ping(&mut out, ack, data);
            *frame
        }
        Frame::RstStream { stream_id, code } => {
            encode_rst_stream(&mut out, stream_id, code);
            *frame
        }
        Frame::GoAway { last_stream_id, code, debug } => {
            encode_goaway(&mut out, last_stream_id, code, debug);
            *frame
        }
        Frame::WindowUpdate { stream_id, increment } => {
            assert!((1..=MAX_WINDOW_BYTES).contains(&increment));
            encode_window_update(&mut out, stream_id, increment);
            *frame
        }
        Frame::Unknown { header, payload } => {
            assert!(header.kind > kind::CONTINUATION && payload.len() == payload_len as usize);
            return;
        }
        Frame::Priority { .. } | Frame::PushPromise { .. } | Frame::Continuation { .. } => return,
    };
    assert_eq!(parse_frame(&out, max), Ok(Status::Complete((again, out.len()))));
}

fuzz_target!(|data: &[u8]| {
    let Some((&[choice, size], input)) = data.split_first_chunk::<2>() else { return };
    let piece = usize::from(choice).max(1);
    // Small limits exercise FrameTooLarge; 16 KiB is the default.
    let max = [DEFAULT_MAX_FRAME_BYTES, 64, u32::from(size), LARGEST_MAX_FRAME_BYTES][usize::from(size) % 4];
    let at_once = whole(input, max);
    assert_eq!(at_once, in_pieces(input, max, piece));
});
