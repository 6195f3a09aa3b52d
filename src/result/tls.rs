//! The result's `tls` section: what the handshakes negotiated and what
//! they cost, read back exactly for merges.

use serde::{Deserialize, Serialize};

use super::PhaseDoc;
use crate::stats::{Negotiated, TlsStats};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsDoc {
    /// Protocol version, cipher suite and key-exchange group of the first
    /// handshake (`TLS 1.3`, `TLS13_AES_256_GCM_SHA384`, `X25519`).
    pub version: String,
    pub cipher_suite: String,
    pub group: String,
    /// Every completed handshake, from the TCP connection being open.
    pub handshake: PhaseDoc,
    /// Handshakes that resumed a session (`--tls-resume`).
    pub resumed: u64,
    /// Handshakes that did not (derived: `handshake.count - resumed`).
    pub full: u64,
}

impl TlsDoc {
    pub(super) fn of(tls: &TlsStats) -> Option<TlsDoc> {
        let negotiated = tls.negotiated.as_ref()?;
        Some(TlsDoc {
            version: negotiated.version.to_string(),
            cipher_suite: negotiated.suite.to_string(),
            group: negotiated.group.to_string(),
            handshake: PhaseDoc::of(&tls.handshake),
            resumed: tls.resumed,
            full: tls.full(),
        })
    }

    pub(super) fn stats(&self) -> Result<TlsStats, String> {
        if self.resumed > self.handshake.count {
            return Err("more resumed TLS handshakes than handshakes".into());
        }
        Ok(TlsStats {
            handshake: self.handshake.phase(),
            resumed: self.resumed,
            negotiated: Some(Negotiated {
                version: self.version.clone().into(),
                suite: self.cipher_suite.clone().into(),
                group: self.group.clone().into(),
            }),
        })
    }
}
