//! HTTP/2 frames (RFC 9113 §4, §6): parsed from received bytes, encoded
//! into the bytes a client sends.
//!
//! Shaped like [`crate::http::head`]: parsing borrows the received bytes,
//! allocates nothing and answers [`Status::Partial`] until a whole frame
//! has arrived; a frame that breaks a rule of §6 on its own is a
//! [`FrameError`] naming the error code to answer with. Rules that need the
//! connection's state (which streams exist, CONTINUATION following HEADERS,
//! flow-control windows, whether push was disabled) are the connection's.
//!
//! A frame can be taken in two steps, so that the connection may stream a
//! large DATA payload instead of buffering it: [`FrameHeader::parse`] reads
//! the 9-byte header and [`FrameHeader::check`] applies every rule the
//! header alone decides (the size limit first, so that an oversized frame is
//! refused before its payload is waited for). [`parse_frame`] does both and
//! then reads the payload of every frame type.
//!
//! The encoders (client side) append to a caller's `Vec<u8>` and allocate
//! nothing else; [`set_stream_ids`] turns a HEADERS frame built once into
//! the one for the next stream.

use crate::http::head::Status;

#[path = "frame_encode.rs"]
mod encode;
#[path = "frame_error.rs"]
mod error;

pub use encode::*;
pub use error::{ErrorCode, FrameError};

/// Frame types (RFC 9113 §6, §11.2).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags; each means something only for the types named.
pub mod flag {
    /// DATA, HEADERS: the last frame the sender sends on the stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: an acknowledgement.
    pub const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION: the field block ends here.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE: a Pad Length field and padding.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: 5 bytes of (deprecated) priority fields.
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS parameter identifiers (RFC 9113 §6.5.2, RFC 8441, RFC 9218).
pub mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;
    pub const NO_RFC7540_PRIORITIES: u16 = 0x9;
}

/// What a client sends first on every HTTP/2 connection (§3.4), before its
/// SETTINGS frame.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Length of a frame header.
pub const FRAME_HEADER_BYTES: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE until the peer's SETTINGS say otherwise, and the
/// smallest value it may take.
pub const DEFAULT_MAX_FRAME_BYTES: u32 = 16_384;
/// The largest SETTINGS_MAX_FRAME_SIZE allowed (2^24-1).
pub const LARGEST_MAX_FRAME_BYTES: u32 = 16_777_215;
/// Every flow-control window's size until SETTINGS (streams) or
/// WINDOW_UPDATE (streams and the connection) change it.
pub const DEFAULT_WINDOW_BYTES: u32 = 65_535;
/// The largest a flow-control window may grow (2^31-1).
pub const MAX_WINDOW_BYTES: u32 = 0x7fff_ffff;
/// SETTINGS_HEADER_TABLE_SIZE until SETTINGS say otherwise.
pub const DEFAULT_HEADER_TABLE_BYTES: u32 = 4_096;
/// Stream ids and window increments are 31 bits; the top bit is reserved.
pub const STREAM_ID_MASK: u32 = 0x7fff_ffff;
/// Length of one SETTINGS parameter.
const SETTING_BYTES: usize = 6;
/// Length of the priority fields of HEADERS (and of PRIORITY).
const PRIORITY_BYTES: usize = 5;

/// The 9 bytes before every frame's payload (§4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length in bytes (24 bits).
    pub payload_len: u32,
    /// One of [`kind`]'s constants, or an unknown type.
    pub kind: u8,
    /// Bits of [`flag`]; those undefined for the type are ignored.
    pub flags: u8,
    /// The stream (reserved bit cleared); 0 for the connection.
    pub stream_id: u32,
}

impl FrameHeader {
    /// Reads a frame header from the start of `buf`.
    pub fn parse(buf: &[u8]) -> Status<FrameHeader> {
        let Some(b) = buf.first_chunk::<FRAME_HEADER_BYTES>() else { return Status::Partial };
        Status::Complete(FrameHeader {
            payload_len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream_id: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & STREAM_ID_MASK,
        })
    }

    /// The header's bytes. `payload_len` must fit 24 bits and `stream_id`
    /// 31; higher bits are dropped.
    pub fn encode(&self) -> [u8; FRAME_HEADER_BYTES] {
        debug_assert!(self.payload_len <= LARGEST_MAX_FRAME_BYTES && self.stream_id <= STREAM_ID_MASK);
        let [_, l0, l1, l2] = self.payload_len.to_be_bytes();
        let [s0, s1, s2, s3] = (self.stream_id & STREAM_ID_MASK).to_be_bytes();
        [l0, l1, l2, self.kind, self.flags, s0, s1, s2, s3]
    }

    /// Is `bit` (one of [`flag`]'s) set?
    pub fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }

    /// Applies every rule the header alone decides: the payload fits
    /// `max_frame_bytes` (the SETTINGS_MAX_FRAME_SIZE we announced), the
    /// stream id is 0 or not as the type requires, fixed lengths, room for
    /// mandatory fields. The rest needs the payload ([`parse_frame`]).
    pub fn check(&self, max_frame_bytes: u32) -> Result<(), FrameError> {
        if self.payload_len > max_frame_bytes {
            return Err(FrameError::FrameTooLarge);
        }
        let len = self.payload_len as usize;
        match self.kind {
            kind::DATA
            | kind::HEADERS
            | kind::PRIORITY
            | kind::RST_STREAM
            | kind::PUSH_PROMISE
            | kind::CONTINUATION
                if self.stream_id == 0 =>
            {
                Err(FrameError::StreamIdZero)
            }
            kind::SETTINGS | kind::PING | kind::GOAWAY if self.stream_id != 0 => Err(FrameError::StreamIdNonZero),
            kind::SETTINGS if self.has(flag::ACK) && len != 0 => Err(FrameError::SettingsAckLength),
            kind::SETTINGS if !len.is_multiple_of(SETTING_BYTES) => Err(FrameError::SettingsLength),
            kind::PING if len != 8 => Err(FrameError::FixedLength),
            kind::RST_STREAM | kind::WINDOW_UPDATE if len != 4 => Err(FrameError::FixedLength),
            kind::GOAWAY if len < 8 => Err(FrameError::TooShort),
            kind::DATA | kind::HEADERS | kind::PUSH_PROMISE if len < self.pad_field() + self.fixed_fields() => {
                Err(FrameError::TooShort)
            }
            _ => Ok(()),
        }
    }

    /// Length of the Pad Length field: 1 if the type may be padded and is.
    fn pad_field(&self) -> usize {
        let paddable = matches!(self.kind, kind::DATA | kind::HEADERS | kind::PUSH_PROMISE);
        usize::from(paddable && self.has(flag::PADDED))
    }

    /// Length of the fields between Pad Length and the content.
    fn fixed_fields(&self) -> usize {
        match self.kind {
            kind::HEADERS if self.has(flag::PRIORITY) => PRIORITY_BYTES,
            kind::PUSH_PROMISE => 4,
            _ => 0,
        }
    }

    /// Splits a checked payload of DATA, HEADERS or PUSH_PROMISE into its
    /// fixed fields and its content, without the padding.
    fn unpad<'a>(&self, payload: &'a [u8]) -> Result<(&'a [u8], &'a [u8]), FrameError> {
        let (pad_field, fixed) = (self.pad_field(), self.fixed_fields());
        let pad = if pad_field == 1 { usize::from(payload[0]) } else { 0 };
        let rest = &payload[pad_field..];
        let content_end = rest.len().checked_sub(pad).filter(|&end| end >= fixed).ok_or(FrameError::Padding)?;
        Ok((&rest[..fixed], &rest[fixed..content_end]))
    }

    /// The frame, from the payload of a checked header.
    fn frame<'a>(&self, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        let stream_id = self.stream_id;
        Ok(match self.kind {
            kind::DATA => Frame::Data {
                stream_id,
                data: self.unpad(payload)?.1,
                end_stream: self.has(flag::END_STREAM),
                flow_len: self.payload_len,
            },
            kind::HEADERS => Frame::Headers {
                stream_id,
                fragment: self.unpad(payload)?.1,
                end_stream: self.has(flag::END_STREAM),
                end_headers: self.has(flag::END_HEADERS),
            },
            kind::PRIORITY if payload.len() != PRIORITY_BYTES => return Err(FrameError::PriorityLength),
            kind::PRIORITY => Frame::Priority { stream_id },
            kind::RST_STREAM => Frame::RstStream { stream_id, code: ErrorCode(be32(payload)) },
            kind::SETTINGS => Frame::Settings { ack: self.has(flag::ACK), params: Params::checked(payload)? },
            kind::PUSH_PROMISE => self.push_promise(payload)?,
            kind::PING => Frame::Ping { ack: self.has(flag::ACK), data: first_8(payload) },
            kind::GOAWAY => Frame::GoAway {
                last_stream_id: be32(payload) & STREAM_ID_MASK,
                code: ErrorCode(be32(&payload[4..])),
                debug: &payload[8..],
            },
            kind::WINDOW_UPDATE => Frame::WindowUpdate { stream_id, increment: window_increment(stream_id, payload)? },
            kind::CONTINUATION => {
                Frame::Continuation { stream_id, fragment: payload, end_headers: self.has(flag::END_HEADERS) }
            }
            _ => Frame::Unknown { header: *self, payload },
        })
    }

    fn push_promise<'a>(&self, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        let (fields, fragment) = self.unpad(payload)?;
        let promised_id = be32(fields) & STREAM_ID_MASK;
        if promised_id == 0 {
            return Err(FrameError::PromisedStreamIdZero);
        }
        Ok(Frame::PushPromise {
            stream_id: self.stream_id,
            promised_id,
            fragment,
            end_headers: self.has(flag::END_HEADERS),
        })
    }
}

/// The 31-bit increment of a WINDOW_UPDATE payload, which may not be 0.
fn window_increment(stream_id: u32, payload: &[u8]) -> Result<u32, FrameError> {
    match be32(payload) & STREAM_ID_MASK {
        0 if stream_id == 0 => Err(FrameError::ConnectionWindowIncrementZero),
        0 => Err(FrameError::StreamWindowIncrementZero),
        increment => Ok(increment),
    }
}

/// The big-endian `u32` at the start of `b` (at least 4 bytes long).
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The first 8 bytes of `b` (at least 8 bytes long).
fn first_8(b: &[u8]) -> [u8; 8] {
    let mut out = [0; 8];
    out.copy_from_slice(&b[..8]);
    out
}

/// A received frame; slices borrow the parsed buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Body bytes, padding removed.
    Data {
        stream_id: u32,
        data: &'a [u8],
        end_stream: bool,
        /// The whole payload's length, padding included: what the frame
        /// takes from the stream's and the connection's windows (§6.1).
        flow_len: u32,
    },
    /// The start of a field block (padding and priority fields removed);
    /// CONTINUATION frames follow unless `end_headers`.
    Headers {
        stream_id: u32,
        fragment: &'a [u8],
        end_stream: bool,
        end_headers: bool,
    },
    /// Deprecated prioritization (§5.3.2): only its length is checked.
    Priority {
        stream_id: u32,
    },
    RstStream {
        stream_id: u32,
        code: ErrorCode,
    },
    /// The peer's parameters, or (`ack`, with none) its acknowledgement of
    /// ours. The values have been checked (§6.5.2).
    Settings {
        ack: bool,
        params: Params<'a>,
    },
    /// A pushed stream's request headers (padding removed). A client that
    /// sent SETTINGS_ENABLE_PUSH 0 must treat it as a PROTOCOL_ERROR.
    PushPromise {
        stream_id: u32,
        promised_id: u32,
        fragment: &'a [u8],
        end_headers: bool,
    },
    Ping {
        ack: bool,
        data: [u8; 8],
    },
    /// Streams above `last_stream_id` were not processed and may be retried.
    GoAway {
        last_stream_id: u32,
        code: ErrorCode,
        debug: &'a [u8],
    },
    /// `increment` is 1..=2^31-1; `stream_id` 0 means the connection.
    WindowUpdate {
        stream_id: u32,
        increment: u32,
    },
    Continuation {
        stream_id: u32,
        fragment: &'a [u8],
        end_headers: bool,
    },
    /// A type this module does not know: to be ignored (§4.1, §5.5).
    Unknown {
        header: FrameHeader,
        payload: &'a [u8],
    },
}

/// The parameters of a SETTINGS frame, in the order sent (a later value of
/// the same id replaces an earlier one). Unknown ids are included; the
/// receiver must ignore them. Cheap to copy: each copy iterates afresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params<'a> {
    raw: &'a [u8],
}

impl<'a> Params<'a> {
    /// The parameters of a payload whose length is a multiple of 6, once
    /// every known value has been checked.
    fn checked(raw: &'a [u8]) -> Result<Params<'a>, FrameError> {
        let params = Params { raw };
        for (id, value) in params {
            match id {
                setting::ENABLE_PUSH | setting::ENABLE_CONNECT_PROTOCOL | setting::NO_RFC7540_PRIORITIES
                    if value > 1 =>
                {
                    return Err(FrameError::SettingNotBoolean);
                }
                setting::INITIAL_WINDOW_SIZE if value > MAX_WINDOW_BYTES => {
                    return Err(FrameError::InitialWindowTooLarge);
                }
                setting::MAX_FRAME_SIZE if !(DEFAULT_MAX_FRAME_BYTES..=LARGEST_MAX_FRAME_BYTES).contains(&value) => {
                    return Err(FrameError::MaxFrameSize);
                }
                _ => {}
            }
        }
        Ok(params)
    }
}

/// `(identifier, value)` pairs; identifiers are [`setting`]'s constants.
impl Iterator for Params<'_> {
    type Item = (u16, u32);

    fn next(&mut self) -> Option<(u16, u32)> {
        let (param, rest) = self.raw.split_first_chunk::<SETTING_BYTES>()?;
        self.raw = rest;
        Some((u16::from_be_bytes([param[0], param[1]]), be32(&param[2..])))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.raw.len() / SETTING_BYTES;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Params<'_> {}

/// Reads one frame from the start of `buf`: the frame and the bytes it
/// takes (header included), or `Partial` until it has wholly arrived.
/// `max_frame_bytes` is the SETTINGS_MAX_FRAME_SIZE we announced
/// ([`DEFAULT_MAX_FRAME_BYTES`] until then). Errors the header alone shows
/// are reported as soon as the header is in; the others once the frame is.
pub fn parse_frame(buf: &[u8], max_frame_bytes: u32) -> Result<Status<(Frame<'_>, usize)>, FrameError> {
    let Status::Complete(header) = FrameHeader::parse(buf) else { return Ok(Status::Partial) };
    header.check(max_frame_bytes)?;
    let end = FRAME_HEADER_BYTES + header.payload_len as usize;
    let Some(payload) = buf.get(FRAME_HEADER_BYTES..end) else { return Ok(Status::Partial) };
    Ok(Status::Complete((header.frame(payload)?, end)))
}

/// For a connection that streams a padded DATA frame's payload: how many
/// data bytes follow the Pad Length field `pad_len` (the payload's first
/// byte) before the padding. `header` is a checked DATA header with the
/// PADDED flag.
pub fn padded_data_len(header: &FrameHeader, pad_len: u8) -> Result<u32, FrameError> {
    debug_assert!(header.kind == kind::DATA && header.has(flag::PADDED));
    header.payload_len.checked_sub(1 + u32::from(pad_len)).ok_or(FrameError::Padding)
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
