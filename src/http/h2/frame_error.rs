//! HTTP/2 error codes (RFC 9113 §7) and what a single frame can do wrong.

use std::fmt;

/// An error code as carried by RST_STREAM and GOAWAY. Codes this crate
/// does not know stay numbers: RFC 9113 §7 says an unknown code must not
/// trigger special behaviour, so it is only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Graceful shutdown, or a stream closed for no error.
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x1);
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x2);
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x3);
    pub const SETTINGS_TIMEOUT: ErrorCode = ErrorCode(0x4);
    pub const STREAM_CLOSED: ErrorCode = ErrorCode(0x5);
    pub const FRAME_SIZE_ERROR: ErrorCode = ErrorCode(0x6);
    /// The stream was not processed at all: safe to retry.
    pub const REFUSED_STREAM: ErrorCode = ErrorCode(0x7);
    pub const CANCEL: ErrorCode = ErrorCode(0x8);
    pub const COMPRESSION_ERROR: ErrorCode = ErrorCode(0x9);
    pub const CONNECT_ERROR: ErrorCode = ErrorCode(0xa);
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(0xb);
    pub const INADEQUATE_SECURITY: ErrorCode = ErrorCode(0xc);
    pub const HTTP_1_1_REQUIRED: ErrorCode = ErrorCode(0xd);

    /// The RFC's name for the code (a report category), `None` for a code
    /// this crate does not know.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        usize::try_from(self.0).ok().and_then(|i| NAMES.get(i).copied())
    }
}

/// The name, or `0x…` for an unknown code.
impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

/// Why a received frame breaks RFC 9113 on its own, whatever the state of
/// the connection. Small and `Copy`, like [`crate::http::HttpError`].
///
/// Most are connection errors: the connection answers with GOAWAY carrying
/// [`FrameError::code`] and closes. The two for which
/// [`FrameError::is_stream_error`] is true concern one stream only: the
/// frame is whole in the buffer, and the connection may skip it
/// (`FRAME_HEADER_BYTES + payload_len` bytes, from the header) and reset
/// that stream with RST_STREAM instead (RFC 9113 §5.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameError {
    /// The payload is longer than the maximum frame size we announced
    /// (§4.2). Reported from the header alone, before the payload arrives.
    FrameTooLarge,
    /// DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE or CONTINUATION
    /// on stream 0 (§6).
    StreamIdZero,
    /// SETTINGS, PING or GOAWAY on a stream other than 0 (§6).
    StreamIdNonZero,
    /// PING not 8 bytes long, or RST_STREAM or WINDOW_UPDATE not 4 (§6.4,
    /// §6.7, §6.9).
    FixedLength,
    /// PRIORITY not 5 bytes long (§6.3): a stream error.
    PriorityLength,
    /// Too short for its mandatory fields: a padded frame without room for
    /// the Pad Length, HEADERS without room for its priority fields,
    /// PUSH_PROMISE without a promised stream id, GOAWAY under 8 bytes (§4.2).
    TooShort,
    /// The Pad Length leaves less than nothing for the content (§6.1, §6.2,
    /// §6.6).
    Padding,
    /// A SETTINGS payload that is not a whole number of 6-byte parameters (§6.5).
    SettingsLength,
    /// A SETTINGS frame with the ACK flag and a payload (§6.5).
    SettingsAckLength,
    /// SETTINGS_ENABLE_PUSH, SETTINGS_ENABLE_CONNECT_PROTOCOL or
    /// SETTINGS_NO_RFC7540_PRIORITIES other than 0 or 1 (§6.5.2, RFC 8441
    /// §3, §5.3.2).
    SettingNotBoolean,
    /// SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 (§6.5.2).
    InitialWindowTooLarge,
    /// SETTINGS_MAX_FRAME_SIZE outside 16,384..=16,777,215 (§6.5.2).
    MaxFrameSize,
    /// PUSH_PROMISE promising stream 0 (§6.6).
    PromisedStreamIdZero,
    /// WINDOW_UPDATE of 0 for the whole connection (§6.9).
    ConnectionWindowIncrementZero,
    /// WINDOW_UPDATE of 0 for one stream (§6.9): a stream error.
    StreamWindowIncrementZero,
}

impl FrameError {
    /// The error code to send in GOAWAY (or RST_STREAM for a stream error).
    pub fn code(self) -> ErrorCode {
        use FrameError::*;
        match self {
            FrameTooLarge | FixedLength | PriorityLength | TooShort | SettingsLength | SettingsAckLength => {
                ErrorCode::FRAME_SIZE_ERROR
            }
            InitialWindowTooLarge => ErrorCode::FLOW_CONTROL_ERROR,
            StreamIdZero
            | StreamIdNonZero
            | Padding
            | SettingNotBoolean
            | MaxFrameSize
            | PromisedStreamIdZero
            | ConnectionWindowIncrementZero
            | StreamWindowIncrementZero => ErrorCode::PROTOCOL_ERROR,
        }
    }

    /// Does the error concern only the frame's stream (§5.4.2)? Otherwise it
    /// is a connection error (§5.4.1).
    pub fn is_stream_error(self) -> bool {
        matches!(self, FrameError::PriorityLength | FrameError::StreamWindowIncrementZero)
    }

    /// A short, stable description of what the peer did wrong, for reports.
    pub fn as_str(self) -> &'static str {
        use FrameError::*;
        match self {
            FrameTooLarge => "frame larger than the maximum frame size",
            StreamIdZero => "stream frame sent on stream 0",
            StreamIdNonZero => "connection frame (SETTINGS, PING, GOAWAY) sent on a stream",
            FixedLength => "PING, RST_STREAM or WINDOW_UPDATE of the wrong length",
            PriorityLength => "PRIORITY frame not 5 bytes long",
            TooShort => "frame too short for its mandatory fields",
            Padding => "padding longer than the frame payload",
            SettingsLength => "SETTINGS payload not a multiple of 6 bytes",
            SettingsAckLength => "SETTINGS acknowledgement with a payload",
            SettingNotBoolean => "0-or-1 setting with another value",
            InitialWindowTooLarge => "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
            MaxFrameSize => "SETTINGS_MAX_FRAME_SIZE outside 16384..=16777215",
            PromisedStreamIdZero => "PUSH_PROMISE promising stream 0",
            ConnectionWindowIncrementZero => "connection WINDOW_UPDATE of 0",
            StreamWindowIncrementZero => "stream WINDOW_UPDATE of 0",
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for FrameError {}
