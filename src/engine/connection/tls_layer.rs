//! TLS on one connection, the layer under the [`super::Connection`]
//! machine: the session, the ciphertext waiting to be sent, and the
//! handshake's clock. Written once for every backend: a backend sends the
//! bytes the machine hands it and feeds it what it receives.
//!
//! The ciphertext to send is kept in a buffer of the connection's own (every
//! connection has its own keys, so the run's shared request bytes cannot be
//! sent as they are) and handed out as [`Bytes`]: a backend that gives them
//! to the kernel keeps them alive until the send completes, and the buffer's
//! memory is reused once it has.

use std::sync::Arc;
use std::time::Instant;

use crate::engine::requests::TlsTarget;
use crate::stats::{ErrorKind, Handshake, nanos};
use crate::tls::{Received, Session, TlsFailure};
use bytes::{BufMut, Bytes, BytesMut};

/// One connection's TLS state.
pub struct TlsLayer {
    session: Session,
    out: BytesMut,
    /// When the TCP connection opened and the handshake began.
    began: Instant,
}

impl std::fmt::Debug for TlsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsLayer").field("handshaking", &self.session.is_handshaking()).finish_non_exhaustive()
    }
}

impl TlsLayer {
    /// A new session on a connection opened at `now`; its ClientHello waits in [`TlsLayer::take`].
    pub fn new(target: &TlsTarget, now: Instant) -> Result<TlsLayer, ErrorKind> {
        let session = Session::new(Arc::clone(&target.config), target.server.clone()).map_err(error_kind)?;
        Ok(TlsLayer { session, out: BytesMut::new(), began: now })
    }

    /// Queues request bytes for encryption.
    pub fn queue(&mut self, plaintext: &[u8]) {
        self.session.send(plaintext);
    }

    /// Ciphertext is waiting to be sent.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty() || self.session.wants_write()
    }

    /// All the ciphertext waiting to be sent.
    pub fn take(&mut self) -> Bytes {
        let mut writer = (&mut self.out).writer();
        self.session.outgoing(&mut writer);
        self.out.split().freeze()
    }

    /// Feeds received ciphertext; decrypted bytes go to `plain`.
    pub fn feed(&mut self, ciphertext: &[u8], plain: &mut dyn FnMut(&[u8])) -> Result<Received, ErrorKind> {
        self.session.receive(ciphertext, plain).map_err(error_kind)
    }

    /// When the handshake began (the TCP connection opened).
    pub fn began(&self) -> Instant {
        self.began
    }

    /// The application protocol the server chose by ALPN, if it chose one.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.session.alpn_protocol()
    }

    pub fn is_handshaking(&self) -> bool {
        self.session.is_handshaking()
    }

    /// The finished handshake, for the stats (`None` while it goes on).
    pub fn handshake(&self, now: Instant) -> Option<Handshake> {
        let negotiated = self.session.negotiated()?;
        let (version, suite, group) = negotiated.names();
        Some(Handshake {
            ns: nanos(now.saturating_duration_since(self.began)),
            resumed: negotiated.resumed,
            version,
            suite,
            group,
        })
    }
}

/// The error category of a TLS failure.
pub fn error_kind(failure: TlsFailure) -> ErrorKind {
    match failure {
        TlsFailure::UnknownIssuer => ErrorKind::TlsUnknownIssuer,
        TlsFailure::Expired => ErrorKind::TlsExpired,
        TlsFailure::NotYetValid => ErrorKind::TlsNotYetValid,
        TlsFailure::WrongName => ErrorKind::TlsWrongName,
        TlsFailure::BadCertificate => ErrorKind::TlsBadCertificate,
        TlsFailure::Alert(_) => ErrorKind::TlsAlert,
        TlsFailure::Incompatible => ErrorKind::TlsIncompatible,
        TlsFailure::Protocol => ErrorKind::TlsProtocol,
        TlsFailure::Other => ErrorKind::TlsOther,
    }
}

/// The verification failure behind an error category, to explain it with
/// its fix (the reverse of [`error_kind`] for the failures that stop a run).
pub fn verification_failure(kind: ErrorKind) -> Option<TlsFailure> {
    match kind {
        ErrorKind::TlsUnknownIssuer => Some(TlsFailure::UnknownIssuer),
        ErrorKind::TlsExpired => Some(TlsFailure::Expired),
        ErrorKind::TlsNotYetValid => Some(TlsFailure::NotYetValid),
        ErrorKind::TlsWrongName => Some(TlsFailure::WrongName),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_failures_map_both_ways_and_the_rest_do_not_stop_a_run() {
        for failure in [TlsFailure::UnknownIssuer, TlsFailure::Expired, TlsFailure::NotYetValid, TlsFailure::WrongName]
        {
            let kind = error_kind(failure);
            assert!(kind.is_tls_verification() && failure.is_verification());
            assert_eq!(verification_failure(kind), Some(failure));
        }
        for failure in [TlsFailure::Alert(40), TlsFailure::Protocol, TlsFailure::BadCertificate, TlsFailure::Other] {
            let kind = error_kind(failure);
            assert!(!kind.is_tls_verification() && verification_failure(kind).is_none(), "{failure:?}");
        }
    }
}
