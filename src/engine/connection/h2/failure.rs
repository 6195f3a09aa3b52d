//! What each way an HTTP/2 stream or connection can fail counts as in the
//! report: the fixed [`ErrorKind`] categories, one per thing the server
//! did, so that a run against a misbehaving server says what went wrong.

use crate::http::h2::frame::{ErrorCode, FrameError};
use crate::http::h2::session::{SessionError, StreamFailure};
use crate::stats::ErrorKind;

/// The category of a stream the server reset with `code` (REFUSED_STREAM
/// never gets here: the stream goes again).
pub(super) fn reset_kind(code: ErrorCode) -> ErrorKind {
    match code {
        ErrorCode::INTERNAL_ERROR => ErrorKind::H2ResetInternal,
        ErrorCode::CANCEL => ErrorKind::H2ResetCancel,
        ErrorCode::ENHANCE_YOUR_CALM => ErrorKind::H2ResetCalm,
        // The server says the client broke a rule.
        ErrorCode::PROTOCOL_ERROR
        | ErrorCode::FLOW_CONTROL_ERROR
        | ErrorCode::FRAME_SIZE_ERROR
        | ErrorCode::STREAM_CLOSED
        | ErrorCode::COMPRESSION_ERROR => ErrorKind::H2ResetProtocol,
        _ => ErrorKind::H2ResetOther,
    }
}

/// The category of a connection error (the rule the server broke).
pub(super) fn session_kind(error: SessionError) -> ErrorKind {
    match error {
        SessionError::Frame(FrameError::FrameTooLarge) => ErrorKind::H2FrameSize,
        SessionError::Hpack(_) => ErrorKind::H2Compression,
        SessionError::NoSettings => ErrorKind::H2NoSettings,
        SessionError::BlockTooLarge => ErrorKind::H2HeaderFlood,
        SessionError::FlowControl => ErrorKind::H2FlowControl,
        SessionError::Frame(_)
        | SessionError::ContinuationExpected
        | SessionError::IdleStream
        | SessionError::PushPromise
        | SessionError::PushEnabled => ErrorKind::H2Protocol,
    }
}

/// The category of a stream error: a rule one stream's frames broke.
pub(super) fn stream_kind(failure: StreamFailure) -> ErrorKind {
    match failure {
        StreamFailure::HeaderListTooLarge => ErrorKind::HeadTooLarge,
        StreamFailure::Reset(code) => reset_kind(code),
        StreamFailure::Connection(error) => session_kind(error),
        StreamFailure::Closed => closed_kind(false),
        StreamFailure::Refused => ErrorKind::H2Refused,
        StreamFailure::Frame(_)
        | StreamFailure::DataBeforeHeaders
        | StreamFailure::FlowControl
        | StreamFailure::Malformed(_) => ErrorKind::H2StreamProtocol,
    }
}

/// The category of a stream the server's close cut off: before or after
/// its response began.
pub(super) fn closed_kind(response_begun: bool) -> ErrorKind {
    if response_begun { ErrorKind::Incomplete } else { ErrorKind::ClosedBeforeResponse }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h2::hpack::HpackError;

    #[test]
    fn each_failure_has_a_category_that_says_what_the_server_did() {
        let resets = [
            (ErrorCode::INTERNAL_ERROR, ErrorKind::H2ResetInternal),
            (ErrorCode::CANCEL, ErrorKind::H2ResetCancel),
            (ErrorCode::ENHANCE_YOUR_CALM, ErrorKind::H2ResetCalm),
            (ErrorCode::PROTOCOL_ERROR, ErrorKind::H2ResetProtocol),
            (ErrorCode::STREAM_CLOSED, ErrorKind::H2ResetProtocol),
            (ErrorCode::HTTP_1_1_REQUIRED, ErrorKind::H2ResetOther),
            (ErrorCode(0x99), ErrorKind::H2ResetOther),
        ];
        for (code, kind) in resets {
            assert_eq!(reset_kind(code), kind, "{code}");
        }
        assert_eq!(session_kind(SessionError::Frame(FrameError::FrameTooLarge)), ErrorKind::H2FrameSize);
        assert_eq!(session_kind(SessionError::Hpack(HpackError::BadIndex)), ErrorKind::H2Compression);
        assert_eq!(session_kind(SessionError::BlockTooLarge), ErrorKind::H2HeaderFlood);
        assert_eq!(session_kind(SessionError::PushPromise), ErrorKind::H2Protocol);
        assert_eq!(stream_kind(StreamFailure::Malformed("x")), ErrorKind::H2StreamProtocol);
        assert_eq!(stream_kind(StreamFailure::HeaderListTooLarge), ErrorKind::HeadTooLarge);
        assert_eq!((closed_kind(false), closed_kind(true)), (ErrorKind::ClosedBeforeResponse, ErrorKind::Incomplete));
        for kind in ErrorKind::ALL.into_iter().filter(|k| k.id().starts_with("h2_")) {
            assert!(kind.label().starts_with("HTTP/2: "), "{kind:?}");
            assert_eq!(ErrorKind::from_id(kind.id()), Some(kind));
        }
    }
}
