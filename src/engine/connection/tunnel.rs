//! The tunnel through a forward proxy, the first stage of a connection in
//! both machines (HTTP/1.1 and HTTP/2): right after TCP connects to the
//! proxy, the opening ([`crate::proxy::Opening`]) goes out and the proxy's
//! replies are fed to its [`Setup`]; once the tunnel is open the machine
//! goes on as if it had just connected to the target (TLS, then HTTP), the
//! first bytes after the proxy's reply handed on. Its time is its own
//! phase, counted from the TCP connection to the tunnel's opening, and
//! bounded by the handshake's limit (`--connect-timeout`).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::proxy::{Opening, Progress, Refusal, ReplyError, Setup, SocksError};
use crate::stats::{ErrorKind, nanos};

/// One connection's tunnel while it is being opened.
#[derive(Debug)]
pub struct TunnelLayer {
    opening: Arc<Opening>,
    setup: Setup,
    /// Bytes to send next (the opening's first, then each SOCKS step's).
    out: Option<Bytes>,
    /// When the TCP connection to the proxy opened.
    began: Instant,
}

/// What the proxy's bytes did to the setup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fed {
    /// More is awaited; something may be waiting in [`TunnelLayer::take`].
    Pending,
    /// The tunnel opened after `ns`; the read's bytes from `used` on are
    /// the target's.
    Open { used: usize, ns: u64 },
}

impl TunnelLayer {
    /// A setup on a connection to the proxy opened at `now`; its first
    /// bytes wait in [`TunnelLayer::take`].
    pub fn new(opening: &Arc<Opening>, now: Instant) -> TunnelLayer {
        let setup = Setup::new(opening);
        TunnelLayer { opening: Arc::clone(opening), setup, out: Some(opening.first()), began: now }
    }

    /// The bytes to send now (empty when none wait).
    pub fn take(&mut self) -> Bytes {
        self.out.take().unwrap_or_default()
    }

    pub fn has_output(&self) -> bool {
        self.out.is_some()
    }

    /// When the setup began (the TCP connection to the proxy opened).
    pub fn began(&self) -> Instant {
        self.began
    }

    /// Bytes the proxy sent, at `now`.
    pub fn feed(&mut self, data: &[u8], now: Instant) -> Result<Fed, ErrorKind> {
        match self.setup.feed(&self.opening, data).map_err(refusal_kind)? {
            Progress::NeedMore => Ok(Fed::Pending),
            Progress::Send(bytes) => {
                self.out = Some(bytes);
                Ok(Fed::Pending)
            }
            Progress::Open { used } => Ok(Fed::Open { used, ns: nanos(now.saturating_duration_since(self.began)) }),
        }
    }
}

/// The error category of a refused tunnel: the proxy's answer.
pub fn refusal_kind(refusal: Refusal) -> ErrorKind {
    match refusal {
        Refusal::Status(407) => ErrorKind::ProxyAuthRequired,
        Refusal::Status(403) => ErrorKind::ProxyForbidden,
        Refusal::Status(500..=599) => ErrorKind::ProxyBadGateway,
        Refusal::Status(_) => ErrorKind::ProxyRefused,
        Refusal::Reply(ReplyError::Invalid | ReplyError::TooLarge) => ErrorKind::ProxyInvalidReply,
        Refusal::Socks(error) => socks_kind(error),
    }
}

fn socks_kind(error: SocksError) -> ErrorKind {
    match error {
        SocksError::AuthFailed => ErrorKind::SocksAuthFailed,
        SocksError::NoAcceptableMethod => ErrorKind::SocksNoAcceptableMethod,
        SocksError::Reply(1) => ErrorKind::SocksGeneralFailure,
        SocksError::Reply(2) => ErrorKind::SocksNotAllowed,
        SocksError::Reply(3) => ErrorKind::SocksNetworkUnreachable,
        SocksError::Reply(4) => ErrorKind::SocksHostUnreachable,
        SocksError::Reply(5) => ErrorKind::SocksConnectionRefused,
        SocksError::Reply(6) => ErrorKind::SocksTtlExpired,
        SocksError::Reply(7) => ErrorKind::SocksCommandNotSupported,
        SocksError::Reply(8) => ErrorKind::SocksAddressNotSupported,
        // Codes the RFC does not assign.
        SocksError::Reply(_) | SocksError::Invalid => ErrorKind::ProxyInvalidReply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_answer_has_its_category_and_stops_a_run() {
        let cases = [
            (Refusal::Status(407), ErrorKind::ProxyAuthRequired),
            (Refusal::Status(403), ErrorKind::ProxyForbidden),
            (Refusal::Status(502), ErrorKind::ProxyBadGateway),
            (Refusal::Status(404), ErrorKind::ProxyRefused),
            (Refusal::Reply(ReplyError::TooLarge), ErrorKind::ProxyInvalidReply),
            (Refusal::Socks(SocksError::AuthFailed), ErrorKind::SocksAuthFailed),
            (Refusal::Socks(SocksError::NoAcceptableMethod), ErrorKind::SocksNoAcceptableMethod),
            (Refusal::Socks(SocksError::Reply(1)), ErrorKind::SocksGeneralFailure),
            (Refusal::Socks(SocksError::Reply(8)), ErrorKind::SocksAddressNotSupported),
            (Refusal::Socks(SocksError::Reply(9)), ErrorKind::ProxyInvalidReply),
        ];
        for (refusal, kind) in cases {
            assert_eq!(refusal_kind(refusal), kind);
            assert!(kind.is_proxy_refusal(), "{kind:?}");
        }
        let codes: Vec<ErrorKind> = (1..=8).map(|c| socks_kind(SocksError::Reply(c))).collect();
        let mut distinct = codes.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 8, "one category per reply code: {codes:?}");
        assert!(!ErrorKind::ProxyClosed.is_proxy_refusal() && !ErrorKind::Reset.is_proxy_refusal());
    }
}
