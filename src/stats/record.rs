//! How one request ended, as a worker records it ([`Record`]), and the
//! fixed set of reasons a request fails ([`ErrorKind`]). Everything the
//! stats keep is made of these; they depend only on the table of named
//! metrics, so every sink can use them.

use std::time::Duration;

use super::counters::Tally;
use super::metrics::Samples;

/// Why a request failed. A fixed set so that counting never allocates and a
/// flood of distinct messages cannot grow memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    ConnectRefused,
    ConnectTimeout,
    Unreachable,
    AddrNotAvailable,
    TooManyOpenFiles,
    Timeout,
    Reset,
    ClosedBeforeResponse,
    Incomplete,
    InvalidResponse,
    HeadTooLarge,
    TooManyRedirects,
    Io,
    /// An event stream sent an `error` event or a chunk with an `error`.
    StreamError,
    /// An event of the stream was not well-formed JSON.
    MalformedEvent,
    /// An OpenAI stream ended without `[DONE]`.
    StreamUnfinished,
    /// TLS: the server's certificate chain leads to no trusted root.
    TlsUnknownIssuer,
    TlsExpired,
    TlsNotYetValid,
    /// TLS: the certificate does not name the host asked for.
    TlsWrongName,
    /// TLS: any other unusable certificate.
    TlsBadCertificate,
    /// TLS: the server ended the connection with a fatal alert.
    TlsAlert,
    /// TLS: no version, cipher suite or group in common.
    TlsIncompatible,
    /// TLS: the server broke the protocol (not TLS, a bad record).
    TlsProtocol,
    TlsOther,
    /// HTTP/2: the server broke the protocol (a connection error: we sent GOAWAY).
    H2Protocol,
    /// HTTP/2: a response header block could not be decoded (HPACK out of step).
    H2Compression,
    /// HTTP/2: a frame larger than our SETTINGS_MAX_FRAME_SIZE.
    H2FrameSize,
    /// HTTP/2: a header block past our limit (CONTINUATION flood).
    H2HeaderFlood,
    /// HTTP/2: the server sent past a flow-control window.
    H2FlowControl,
    /// HTTP/2: one stream's response broke the protocol (we reset it).
    H2StreamProtocol,
    /// HTTP/2: RST_STREAM with PROTOCOL_ERROR (or another code saying the client erred).
    H2ResetProtocol,
    /// HTTP/2: RST_STREAM with INTERNAL_ERROR.
    H2ResetInternal,
    /// HTTP/2: RST_STREAM with CANCEL.
    H2ResetCancel,
    /// HTTP/2: RST_STREAM with ENHANCE_YOUR_CALM.
    H2ResetCalm,
    /// HTTP/2: RST_STREAM with any other code.
    H2ResetOther,
    /// HTTP/2: refused (not processed) too many times in a row.
    H2Refused,
    /// HTTP/2: the server never sent its SETTINGS (or sent another frame first).
    H2NoSettings,
    /// HTTP/2: the TLS server did not agree to `h2` in ALPN.
    H2NotNegotiated,
    /// The proxy answered CONNECT with 407.
    ProxyAuthRequired,
    /// The proxy answered CONNECT with 403.
    ProxyForbidden,
    /// The proxy answered CONNECT with a 5xx status.
    ProxyBadGateway,
    /// The proxy answered CONNECT with another status that is not 2xx.
    ProxyRefused,
    /// The proxy's reply to CONNECT or SOCKS5 could not be read.
    ProxyInvalidReply,
    /// The proxy closed the connection before the tunnel opened.
    ProxyClosed,
    /// SOCKS5: the CONNECT's reply codes 1 to 8 (RFC 1928 §6), one each.
    SocksGeneralFailure,
    SocksNotAllowed,
    SocksNetworkUnreachable,
    SocksHostUnreachable,
    SocksConnectionRefused,
    SocksTtlExpired,
    SocksCommandNotSupported,
    SocksAddressNotSupported,
    /// SOCKS5: the username/password authentication failed (RFC 1929).
    SocksAuthFailed,
    /// SOCKS5: no authentication method offered is acceptable (0xFF).
    SocksNoAcceptableMethod,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 55] = [
        ErrorKind::ConnectRefused,
        ErrorKind::ConnectTimeout,
        ErrorKind::Unreachable,
        ErrorKind::AddrNotAvailable,
        ErrorKind::TooManyOpenFiles,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::ClosedBeforeResponse,
        ErrorKind::Incomplete,
        ErrorKind::InvalidResponse,
        ErrorKind::HeadTooLarge,
        ErrorKind::TooManyRedirects,
        ErrorKind::Io,
        ErrorKind::StreamError,
        ErrorKind::MalformedEvent,
        ErrorKind::StreamUnfinished,
        ErrorKind::TlsUnknownIssuer,
        ErrorKind::TlsExpired,
        ErrorKind::TlsNotYetValid,
        ErrorKind::TlsWrongName,
        ErrorKind::TlsBadCertificate,
        ErrorKind::TlsAlert,
        ErrorKind::TlsIncompatible,
        ErrorKind::TlsProtocol,
        ErrorKind::TlsOther,
        ErrorKind::H2Protocol,
        ErrorKind::H2Compression,
        ErrorKind::H2FrameSize,
        ErrorKind::H2HeaderFlood,
        ErrorKind::H2FlowControl,
        ErrorKind::H2StreamProtocol,
        ErrorKind::H2ResetProtocol,
        ErrorKind::H2ResetInternal,
        ErrorKind::H2ResetCancel,
        ErrorKind::H2ResetCalm,
        ErrorKind::H2ResetOther,
        ErrorKind::H2Refused,
        ErrorKind::H2NoSettings,
        ErrorKind::H2NotNegotiated,
        ErrorKind::ProxyAuthRequired,
        ErrorKind::ProxyForbidden,
        ErrorKind::ProxyBadGateway,
        ErrorKind::ProxyRefused,
        ErrorKind::ProxyInvalidReply,
        ErrorKind::ProxyClosed,
        ErrorKind::SocksGeneralFailure,
        ErrorKind::SocksNotAllowed,
        ErrorKind::SocksNetworkUnreachable,
        ErrorKind::SocksHostUnreachable,
        ErrorKind::SocksConnectionRefused,
        ErrorKind::SocksTtlExpired,
        ErrorKind::SocksCommandNotSupported,
        ErrorKind::SocksAddressNotSupported,
        ErrorKind::SocksAuthFailed,
        ErrorKind::SocksNoAcceptableMethod,
    ];

    /// Short label for the report.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connection refused",
            ErrorKind::ConnectTimeout => "connect timeout",
            ErrorKind::Unreachable => "host or network unreachable",
            ErrorKind::AddrNotAvailable => "address not available (ephemeral ports exhausted?)",
            ErrorKind::TooManyOpenFiles => "too many open files (raise ulimit -n)",
            ErrorKind::Timeout => "request timeout",
            ErrorKind::Reset => "connection reset",
            ErrorKind::ClosedBeforeResponse => "connection closed before response",
            ErrorKind::Incomplete => "connection closed mid-response",
            ErrorKind::InvalidResponse => "invalid HTTP response",
            ErrorKind::HeadTooLarge => "response head too large",
            ErrorKind::TooManyRedirects => "too many redirects",
            ErrorKind::Io => "other I/O error",
            ErrorKind::StreamError => "error event in the stream",
            ErrorKind::MalformedEvent => "malformed JSON in a stream event",
            ErrorKind::StreamUnfinished => "stream ended before [DONE]",
            ErrorKind::TlsUnknownIssuer => "TLS: certificate signed by an unknown authority (--cacert, -k)",
            ErrorKind::TlsExpired => "TLS: certificate expired (-k)",
            ErrorKind::TlsNotYetValid => "TLS: certificate not valid yet (check the clock, -k)",
            ErrorKind::TlsWrongName => "TLS: certificate not valid for the host name (-k)",
            ErrorKind::TlsBadCertificate => "TLS: unusable certificate",
            ErrorKind::TlsAlert => "TLS: fatal alert from the server",
            ErrorKind::TlsIncompatible => "TLS: no version, cipher suite or group in common",
            ErrorKind::TlsProtocol => "TLS: protocol error (is the server speaking TLS?)",
            ErrorKind::TlsOther => "TLS: other failure",
            ErrorKind::H2Protocol => "HTTP/2: protocol error by the server (connection closed)",
            ErrorKind::H2Compression => "HTTP/2: header compression error (HPACK)",
            ErrorKind::H2FrameSize => "HTTP/2: frame larger than the maximum size",
            ErrorKind::H2HeaderFlood => "HTTP/2: header block too large (CONTINUATION flood)",
            ErrorKind::H2FlowControl => "HTTP/2: flow-control window overrun by the server",
            ErrorKind::H2StreamProtocol => "HTTP/2: malformed response on a stream (stream reset)",
            ErrorKind::H2ResetProtocol => "HTTP/2: stream reset by the server (PROTOCOL_ERROR)",
            ErrorKind::H2ResetInternal => "HTTP/2: stream reset by the server (INTERNAL_ERROR)",
            ErrorKind::H2ResetCancel => "HTTP/2: stream reset by the server (CANCEL)",
            ErrorKind::H2ResetCalm => "HTTP/2: stream reset by the server (ENHANCE_YOUR_CALM)",
            ErrorKind::H2ResetOther => "HTTP/2: stream reset by the server (other code)",
            ErrorKind::H2Refused => "HTTP/2: stream refused by the server again and again",
            ErrorKind::H2NoSettings => "HTTP/2: the server sent no SETTINGS",
            ErrorKind::H2NotNegotiated => "HTTP/2: the server did not agree to h2 in ALPN",
            ErrorKind::ProxyAuthRequired => {
                "proxy: 407, authentication required (credentials go in -x http://user:pass@host:port)"
            }
            ErrorKind::ProxyForbidden => "proxy: 403, tunnel forbidden (the proxy's rules refuse this target or port)",
            ErrorKind::ProxyBadGateway => "proxy: 5xx, the proxy could not reach the target",
            ErrorKind::ProxyRefused => "proxy: refused the tunnel (a status other than 2xx, 403, 407, 5xx)",
            ErrorKind::ProxyInvalidReply => {
                "proxy: invalid or oversized reply (is it the kind -x names, http:// or socks5://?)"
            }
            ErrorKind::ProxyClosed => "proxy: closed the connection before the tunnel opened",
            ErrorKind::SocksGeneralFailure => "SOCKS5: general failure (reply 1)",
            ErrorKind::SocksNotAllowed => "SOCKS5: connection not allowed by the proxy's rules (reply 2)",
            ErrorKind::SocksNetworkUnreachable => "SOCKS5: network unreachable (reply 3)",
            ErrorKind::SocksHostUnreachable => "SOCKS5: host unreachable (reply 4)",
            ErrorKind::SocksConnectionRefused => "SOCKS5: connection refused by the target (reply 5)",
            ErrorKind::SocksTtlExpired => "SOCKS5: TTL expired (reply 6)",
            ErrorKind::SocksCommandNotSupported => "SOCKS5: command not supported (reply 7)",
            ErrorKind::SocksAddressNotSupported => {
                "SOCKS5: address type not supported (reply 8; socks5:// sends an address, socks5h:// a name)"
            }
            ErrorKind::SocksAuthFailed => {
                "SOCKS5: username or password refused (check -x socks5://user:pass@host:port)"
            }
            ErrorKind::SocksNoAcceptableMethod => {
                "SOCKS5: the proxy accepts no method offered (does it need credentials?)"
            }
        }
    }

    /// Stable name for machine-readable output.
    pub fn id(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::AddrNotAvailable => "addr_not_available",
            ErrorKind::TooManyOpenFiles => "too_many_open_files",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::ClosedBeforeResponse => "closed_before_response",
            ErrorKind::Incomplete => "incomplete",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::HeadTooLarge => "head_too_large",
            ErrorKind::TooManyRedirects => "too_many_redirects",
            ErrorKind::Io => "io",
            ErrorKind::StreamError => "stream_error",
            ErrorKind::MalformedEvent => "malformed_event",
            ErrorKind::StreamUnfinished => "stream_unfinished",
            ErrorKind::TlsUnknownIssuer => "tls_unknown_issuer",
            ErrorKind::TlsExpired => "tls_expired",
            ErrorKind::TlsNotYetValid => "tls_not_yet_valid",
            ErrorKind::TlsWrongName => "tls_wrong_name",
            ErrorKind::TlsBadCertificate => "tls_bad_certificate",
            ErrorKind::TlsAlert => "tls_alert",
            ErrorKind::TlsIncompatible => "tls_incompatible",
            ErrorKind::TlsProtocol => "tls_protocol",
            ErrorKind::TlsOther => "tls_other",
            ErrorKind::H2Protocol => "h2_protocol",
            ErrorKind::H2Compression => "h2_compression",
            ErrorKind::H2FrameSize => "h2_frame_size",
            ErrorKind::H2HeaderFlood => "h2_header_flood",
            ErrorKind::H2FlowControl => "h2_flow_control",
            ErrorKind::H2StreamProtocol => "h2_stream_protocol",
            ErrorKind::H2ResetProtocol => "h2_reset_protocol",
            ErrorKind::H2ResetInternal => "h2_reset_internal",
            ErrorKind::H2ResetCancel => "h2_reset_cancel",
            ErrorKind::H2ResetCalm => "h2_reset_enhance_your_calm",
            ErrorKind::H2ResetOther => "h2_reset_other",
            ErrorKind::H2Refused => "h2_refused",
            ErrorKind::H2NoSettings => "h2_no_settings",
            ErrorKind::H2NotNegotiated => "h2_not_negotiated",
            ErrorKind::ProxyAuthRequired => "proxy_auth_required",
            ErrorKind::ProxyForbidden => "proxy_forbidden",
            ErrorKind::ProxyBadGateway => "proxy_bad_gateway",
            ErrorKind::ProxyRefused => "proxy_refused",
            ErrorKind::ProxyInvalidReply => "proxy_invalid_reply",
            ErrorKind::ProxyClosed => "proxy_closed",
            ErrorKind::SocksGeneralFailure => "socks_general_failure",
            ErrorKind::SocksNotAllowed => "socks_not_allowed",
            ErrorKind::SocksNetworkUnreachable => "socks_network_unreachable",
            ErrorKind::SocksHostUnreachable => "socks_host_unreachable",
            ErrorKind::SocksConnectionRefused => "socks_connection_refused",
            ErrorKind::SocksTtlExpired => "socks_ttl_expired",
            ErrorKind::SocksCommandNotSupported => "socks_command_not_supported",
            ErrorKind::SocksAddressNotSupported => "socks_address_not_supported",
            ErrorKind::SocksAuthFailed => "socks_auth_failed",
            ErrorKind::SocksNoAcceptableMethod => "socks_no_acceptable_method",
        }
    }

    /// The kind whose [`ErrorKind::id`] is `id`.
    pub fn from_id(id: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.id() == id)
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// The request ran out of time (its own deadline or the connect limit):
    /// as a user would have experienced it, it sits at that time in the
    /// corrected distribution instead of vanishing from it.
    pub fn is_timeout(self) -> bool {
        matches!(self, ErrorKind::Timeout | ErrorKind::ConnectTimeout)
    }

    /// The client refused to trust the server: every further handshake
    /// will fail the same way until a flag (`--cacert`, `-k`) changes it.
    pub fn is_tls_verification(self) -> bool {
        matches!(
            self,
            ErrorKind::TlsUnknownIssuer | ErrorKind::TlsExpired | ErrorKind::TlsNotYetValid | ErrorKind::TlsWrongName
        )
    }

    /// The proxy refused the tunnel, or is not the proxy `-x` names: every
    /// further tunnel will fail the same way until the command line changes
    /// (a proxy that closed the connection is not counted: that may pass).
    pub fn is_proxy_refusal(self) -> bool {
        let (first, last) = (ErrorKind::ProxyAuthRequired.index(), ErrorKind::SocksNoAcceptableMethod.index());
        (first..=last).contains(&self.index()) && self != ErrorKind::ProxyClosed
    }
}

/// How one request ended, as recorded by a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub result: Result<u16, ErrorKind>,
    /// From the actual start of the request to its end (uncorrected).
    pub latency: Duration,
    /// From the intended send time to the actual start: time spent waiting
    /// for a free connection under `--rate` (zero in a closed loop).
    /// `queued + latency` is the corrected latency.
    pub queued: Duration,
    /// Request write (`None` where the backend cannot observe it), wait for
    /// the first response byte, read of the rest.
    pub write: Option<Duration>,
    pub wait: Duration,
    pub read: Duration,
    pub wire_bytes: u64,
    pub body_bytes: u64,
    /// Its value of each named metric (see [`super::metrics`]), when measured.
    pub metrics: Samples,
    /// Its named counts (see [`super::counters`]): events, tokens.
    pub tally: Tally,
}

/// The requests of the unit tests, built up from a result and a latency.
#[cfg(test)]
impl Record {
    /// A request of the unit tests: its result and latency, nothing else.
    pub fn sample(result: Result<u16, ErrorKind>, latency: Duration) -> Record {
        let (zero, metrics) = (Duration::ZERO, Samples::default());
        Record {
            result,
            latency,
            queued: zero,
            write: None,
            wait: zero,
            read: zero,
            wire_bytes: 0,
            body_bytes: 0,
            metrics,
            tally: Tally::default(),
        }
    }

    /// The same request with `n` for counter `counter` (an index in
    /// [`super::counters::COUNTERS`]).
    pub fn counted(mut self, counter: usize, n: u32) -> Record {
        self.tally.0[counter] = n;
        self
    }

    /// The same request with `value` for metric `metric` (an index in
    /// [`super::metrics::METRICS`]).
    pub fn measured(mut self, metric: usize, value: Duration) -> Record {
        self.metrics.set(metric, nanos(value));
        self
    }

    /// The same request with these phases: the write (`None`: not
    /// observed), the wait for the first byte and the read of the rest.
    pub fn phased(self, write: Option<Duration>, wait: Duration, read: Duration) -> Record {
        Record { write, wait, read, ..self }
    }

    /// The same request with these bytes on the wire and of body.
    pub fn sized(self, wire_bytes: u64, body_bytes: u64) -> Record {
        Record { wire_bytes, body_bytes, ..self }
    }
}

/// Nanoseconds in `d`, saturating (a u64 holds 584 years).
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
