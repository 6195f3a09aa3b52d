//! The frames a client sends, appended to a caller's buffer.
//!
//! Each encoder reserves what it writes and allocates nothing else. Stream
//! ids must fit 31 bits and payloads the peer's SETTINGS_MAX_FRAME_SIZE;
//! the encoders check neither in release builds (the connection knows both).

use super::{ErrorCode, FRAME_HEADER_BYTES, FrameHeader, SETTING_BYTES, STREAM_ID_MASK, Status, flag, kind};

/// Appends a frame header.
fn put_header(out: &mut Vec<u8>, payload_len: usize, kind: u8, flags: u8, stream_id: u32) {
    let payload_len = u32::try_from(payload_len).unwrap_or(u32::MAX);
    out.extend_from_slice(&FrameHeader { payload_len, kind, flags, stream_id }.encode());
}

/// Appends a SETTINGS frame carrying `params` as `(identifier, value)`
/// pairs (identifiers from [`super::setting`]), in order.
pub fn encode_settings(out: &mut Vec<u8>, params: &[(u16, u32)]) {
    let len = params.len() * SETTING_BYTES;
    out.reserve(FRAME_HEADER_BYTES + len);
    put_header(out, len, kind::SETTINGS, 0, 0);
    for &(id, value) in params {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// Appends the acknowledgement of the peer's SETTINGS.
pub fn encode_settings_ack(out: &mut Vec<u8>) {
    put_header(out, 0, kind::SETTINGS, flag::ACK, 0);
}

/// Appends an encoded field block as HEADERS followed by as many
/// CONTINUATION frames as `max_frame_bytes` (the peer's
/// SETTINGS_MAX_FRAME_SIZE) requires. END_STREAM (if `end_stream`) is set
/// on the HEADERS frame, END_HEADERS on the last frame.
pub fn encode_headers(out: &mut Vec<u8>, stream_id: u32, block: &[u8], end_stream: bool, max_frame_bytes: u32) {
    let first_flags = if end_stream { flag::END_STREAM } else { 0 };
    let split =
        Split { first_kind: kind::HEADERS, rest_kind: kind::CONTINUATION, first_flags, last_flags: flag::END_HEADERS };
    split.put(out, stream_id, block, max_frame_bytes);
}

/// Appends `data` as DATA frames of at most `max_frame_bytes` each (the
/// caller has already fitted `data` to the flow-control windows), with
/// END_STREAM on the last if `end_stream`. Empty `data` makes one empty
/// frame (meaningful with `end_stream`).
pub fn encode_data(out: &mut Vec<u8>, stream_id: u32, data: &[u8], end_stream: bool, max_frame_bytes: u32) {
    let last_flags = if end_stream { flag::END_STREAM } else { 0 };
    let split = Split { first_kind: kind::DATA, rest_kind: kind::DATA, first_flags: 0, last_flags };
    split.put(out, stream_id, data, max_frame_bytes);
}

/// How a payload is cut into a run of frames.
struct Split {
    first_kind: u8,
    rest_kind: u8,
    /// Flags of the first frame only.
    first_flags: u8,
    /// Flags of the last frame only (the first, if it is the only one).
    last_flags: u8,
}

impl Split {
    fn put(&self, out: &mut Vec<u8>, stream_id: u32, bytes: &[u8], max_frame_bytes: u32) {
        assert!(max_frame_bytes > 0, "a maximum frame size of 0 cannot carry anything");
        let max = max_frame_bytes as usize;
        let frames = bytes.len().div_ceil(max).max(1);
        out.reserve(bytes.len() + frames * FRAME_HEADER_BYTES);
        let mut pieces = bytes.chunks(max);
        for i in 0..frames {
            let piece = pieces.next().unwrap_or_default();
            let (kind, mut flags) = if i == 0 { (self.first_kind, self.first_flags) } else { (self.rest_kind, 0) };
            if i + 1 == frames {
                flags |= self.last_flags;
            }
            put_header(out, piece.len(), kind, flags, stream_id);
            out.extend_from_slice(piece);
        }
    }
}

/// Appends a WINDOW_UPDATE giving `increment` (1..=2^31-1) more bytes to
/// the stream, or to the connection for stream 0.
pub fn encode_window_update(out: &mut Vec<u8>, stream_id: u32, increment: u32) {
    debug_assert!((1..=STREAM_ID_MASK).contains(&increment), "window increment {increment}");
    put_with_payload(out, kind::WINDOW_UPDATE, 0, stream_id, &(increment & STREAM_ID_MASK).to_be_bytes());
}

/// Appends a PING: with `ack`, the answer to a received PING (echoing its
/// `data`), without it a PING of our own.
pub fn encode_ping(out: &mut Vec<u8>, ack: bool, data: [u8; 8]) {
    put_with_payload(out, kind::PING, if ack { flag::ACK } else { 0 }, 0, &data);
}

/// Appends an RST_STREAM closing `stream_id` with `code`.
pub fn encode_rst_stream(out: &mut Vec<u8>, stream_id: u32, code: ErrorCode) {
    put_with_payload(out, kind::RST_STREAM, 0, stream_id, &code.0.to_be_bytes());
}

/// Appends a GOAWAY: the last stream id we processed (a client, which
/// processes no pushed streams, sends 0), why, and optional debug data.
pub fn encode_goaway(out: &mut Vec<u8>, last_stream_id: u32, code: ErrorCode, debug: &[u8]) {
    out.reserve(FRAME_HEADER_BYTES + 8 + debug.len());
    put_header(out, 8 + debug.len(), kind::GOAWAY, 0, 0);
    out.extend_from_slice(&(last_stream_id & STREAM_ID_MASK).to_be_bytes());
    out.extend_from_slice(&code.0.to_be_bytes());
    out.extend_from_slice(debug);
}

fn put_with_payload(out: &mut Vec<u8>, kind: u8, flags: u8, stream_id: u32, payload: &[u8]) {
    out.reserve(FRAME_HEADER_BYTES + payload.len());
    put_header(out, payload.len(), kind, flags, stream_id);
    out.extend_from_slice(payload);
}

/// Writes `stream_id` into the header of the frame that starts at
/// `frame_offset` in `buf` (bytes 5..9 of the header; the reserved bit is
/// cleared).
pub fn set_stream_id(buf: &mut [u8], frame_offset: usize, stream_id: u32) {
    let at = frame_offset + 5;
    buf[at..at + 4].copy_from_slice(&(stream_id & STREAM_ID_MASK).to_be_bytes());
}

/// Writes `stream_id` into every frame of `frames`, a run of whole frames
/// such as a request's HEADERS, CONTINUATION and DATA built once: the
/// per-request cost is one header read and one 4-byte write per frame.
pub fn set_stream_ids(frames: &mut [u8], stream_id: u32) {
    let mut at = 0;
    while let Status::Complete(header) = FrameHeader::parse(frames.get(at..).unwrap_or_default()) {
        set_stream_id(frames, at, stream_id);
        at += FRAME_HEADER_BYTES + header.payload_len as usize;
    }
    debug_assert_eq!(at, frames.len(), "set_stream_ids over a buffer that does not end with a whole frame");
}
