//! Why a TLS connection failed, in a few `Copy` categories that the stats
//! can count and the report can explain with a fix.

use std::fmt;

use rustls::{AlertDescription, CertificateError};

/// A TLS failure, coarse enough to count, precise enough to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsFailure {
    /// The server's chain does not lead to a trusted root.
    UnknownIssuer,
    /// The server's certificate has expired.
    Expired,
    /// The server's certificate is not valid yet.
    NotYetValid,
    /// The certificate does not name the host that was asked for.
    WrongName,
    /// Any other problem with the certificate (encoding, signature, usage).
    BadCertificate,
    /// The server sent a fatal alert (its TLS code).
    Alert(u8),
    /// No protocol version, cipher suite or group in common.
    Incompatible,
    /// The peer broke the protocol (not TLS at all, a bad record, a bad
    /// message, a failed decryption).
    Protocol,
    /// Anything else rustls reports.
    Other,
}

impl TlsFailure {
    /// The category of a rustls error.
    pub fn of(error: &rustls::Error) -> TlsFailure {
        match error {
            rustls::Error::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer => TlsFailure::UnknownIssuer,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => TlsFailure::Expired,
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => TlsFailure::NotYetValid,
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    TlsFailure::WrongName
                }
                _ => TlsFailure::BadCertificate,
            },
            rustls::Error::NoCertificatesPresented => TlsFailure::BadCertificate,
            rustls::Error::AlertReceived(alert) => TlsFailure::Alert(u8::from(*alert)),
            rustls::Error::PeerIncompatible(_) => TlsFailure::Incompatible,
            rustls::Error::InvalidMessage(_)
            | rustls::Error::InappropriateMessage { .. }
            | rustls::Error::InappropriateHandshakeMessage { .. }
            | rustls::Error::PeerMisbehaved(_)
            | rustls::Error::DecryptError
            | rustls::Error::PeerSentOversizedRecord => TlsFailure::Protocol,
            _ => TlsFailure::Other,
        }
    }

    /// The failure is about trusting the server (a flag can change that).
    pub fn is_verification(self) -> bool {
        matches!(
            self,
            TlsFailure::UnknownIssuer | TlsFailure::Expired | TlsFailure::NotYetValid | TlsFailure::WrongName
        )
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::UnknownIssuer => f.write_str(
                "the server's certificate is signed by an unknown authority \
                 (give its CA with --cacert FILE, or skip verification with -k)",
            ),
            TlsFailure::Expired => f.write_str("the server's certificate has expired (-k skips verification)"),
            TlsFailure::NotYetValid => {
                f.write_str("the server's certificate is not valid yet: check the clock (-k skips verification)")
            }
            TlsFailure::WrongName => f.write_str(
                "the server's certificate is not valid for this host name \
                 (use the name it was issued for, or -k to skip verification)",
            ),
            TlsFailure::BadCertificate => f.write_str("the server's certificate is unusable"),
            TlsFailure::Alert(code) => {
                write!(f, "the server ended the handshake with the alert {:?}", AlertDescription::from(*code))
            }
            TlsFailure::Incompatible => {
                f.write_str("no TLS version, cipher suite or key exchange in common with the server")
            }
            TlsFailure::Protocol => f.write_str("the server broke the TLS protocol (is it speaking TLS?)"),
            TlsFailure::Other => f.write_str("TLS failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_errors_fall_into_their_categories() {
        let cases = [
            (rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer), TlsFailure::UnknownIssuer),
            (rustls::Error::InvalidCertificate(CertificateError::Expired), TlsFailure::Expired),
            (rustls::Error::InvalidCertificate(CertificateError::NotValidForName), TlsFailure::WrongName),
            (rustls::Error::InvalidCertificate(CertificateError::BadSignature), TlsFailure::BadCertificate),
            (rustls::Error::AlertReceived(AlertDescription::HandshakeFailure), TlsFailure::Alert(40)),
            (rustls::Error::DecryptError, TlsFailure::Protocol),
            (rustls::Error::General("x".into()), TlsFailure::Other),
        ];
        for (error, failure) in cases {
            assert_eq!(TlsFailure::of(&error), failure, "{error:?}");
        }
        assert!(TlsFailure::UnknownIssuer.is_verification());
        assert!(!TlsFailure::Protocol.is_verification());
        assert!(TlsFailure::UnknownIssuer.to_string().contains("--cacert"));
        assert!(TlsFailure::Alert(40).to_string().contains("HandshakeFailure"));
    }
}
