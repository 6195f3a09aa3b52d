//! TLS handshake figures: how long handshakes took (like any other phase),
//! how many resumed an earlier session, and what the server agreed to.
//! Handshakes are recorded as they end, whether a request was waiting for
//! the connection or not (connections opened before the clock starts).

use std::borrow::Cow;

use super::histogram::{Overflow, Phase, add};

/// One finished handshake, as a worker records it (no allocation: the
/// names are the TLS library's static ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// From the TCP connection being open to the handshake's end.
    pub ns: u64,
    pub resumed: bool,
    pub version: &'static str,
    pub suite: &'static str,
    pub group: &'static str,
}

/// What the handshakes settled on: the first one's choice (every connection
/// of a run talks to the same server with the same offer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub version: Cow<'static, str>,
    pub suite: Cow<'static, str>,
    pub group: Cow<'static, str>,
}

/// A worker's (or a whole run's) handshakes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsStats {
    /// Every completed handshake, full or resumed.
    pub handshake: Phase,
    /// Handshakes that resumed a session (the rest were full).
    pub resumed: u64,
    pub negotiated: Option<Negotiated>,
}

impl TlsStats {
    #[inline]
    pub fn record(&mut self, h: &Handshake) {
        self.handshake.record(h.ns);
        self.resumed += u64::from(h.resumed);
        if self.negotiated.is_none() {
            self.negotiated = Some(Negotiated {
                version: Cow::Borrowed(h.version),
                suite: Cow::Borrowed(h.suite),
                group: Cow::Borrowed(h.group),
            });
        }
    }

    /// Handshakes that did not resume a session.
    pub fn full(&self) -> u64 {
        self.handshake.count.saturating_sub(self.resumed)
    }

    pub fn merge(&mut self, other: &TlsStats) -> Result<(), Overflow> {
        self.handshake.merge(&other.handshake)?;
        add(&mut self.resumed, other.resumed)?;
        if self.negotiated.is_none() {
            self.negotiated.clone_from(&other.negotiated);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(ns: u64, resumed: bool, version: &'static str) -> Handshake {
        Handshake { ns, resumed, version, suite: "TLS13_AES_128_GCM_SHA256", group: "X25519" }
    }

    #[test]
    fn handshakes_are_timed_split_by_resumption_and_merged() {
        let (mut a, mut b) = (TlsStats::default(), TlsStats::default());
        a.record(&handshake(300, false, "TLSv1_3"));
        a.record(&handshake(100, true, "TLSv1_2"));
        b.record(&handshake(200, false, "TLSv1_2"));
        assert_eq!((a.handshake.count, a.resumed, a.full()), (2, 1, 1));
        assert_eq!(a.negotiated.as_ref().unwrap().version, "TLSv1_3", "the first handshake's choice");
        a.merge(&b).unwrap();
        assert_eq!((a.handshake.count, a.handshake.min_ns(), a.handshake.max_ns, a.full()), (3, 100, 300, 2));
        assert_eq!(a.negotiated.as_ref().unwrap().version, "TLSv1_3");
        let mut empty = TlsStats::default();
        empty.merge(&b).unwrap();
        assert_eq!(empty.negotiated, b.negotiated, "a worker without handshakes takes the other's");
    }
}
