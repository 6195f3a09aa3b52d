//! Reading back what an HTTP/2 endpoint under test sent, frame by frame:
//! the client session's tests and the built-in server's share it.

use crate::http::h2::frame::{FRAME_HEADER_BYTES, FrameHeader};
use crate::http::head::Status;

/// A frame as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sent {
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
    pub(crate) payload: Vec<u8>,
}

impl Sent {
    pub(crate) fn is(&self, kind: u8, stream: u32) -> bool {
        self.kind == kind && self.stream == stream
    }
}

/// The frames `bytes` hold, which must end with a whole frame.
pub(crate) fn frames(bytes: &[u8]) -> Vec<Sent> {
    let mut frames = Vec::new();
    let mut rest = bytes;
    while let Status::Complete(h) = FrameHeader::parse(rest) {
        let end = FRAME_HEADER_BYTES + h.payload_len as usize;
        let payload = rest[FRAME_HEADER_BYTES..end].to_vec();
        frames.push(Sent { kind: h.kind, flags: h.flags, stream: h.stream_id, payload });
        rest = &rest[end..];
    }
    assert!(rest.is_empty(), "the output ends with a whole frame");
    frames
}
