//! Which bytes a stream's request sends: a pre-built entry of the run's
//! pool, the connection's own copy of one with its `{{seq}}` digits written
//! in (the copy's buffer is reused once the kernel let go of it, so steady
//! state allocates nothing), or a redirect hop built from what was sent.

use bytes::Bytes;

use crate::engine::requests::RequestSet;
use crate::http::Pool;

/// The bytes of an [`super::Io::Transmit`].
#[derive(Clone, Debug, PartialEq)]
pub enum Outgoing {
    /// A pre-built request of the run: this entry of [`RequestSet::pool`].
    Request(usize),
    /// Bytes of this connection: a redirect hop's request, a numbered
    /// copy, or ciphertext.
    Bytes(Bytes),
}

/// The request a connection is sending: its pool entry, the connection's
/// numbered copy of it, or a redirect hop.
#[derive(Debug, Default)]
pub(super) struct RequestBytes {
    entry: usize,
    pub(super) target: u16,
    /// The buffer is reused for the next copy once the kernel let go of it.
    copy: Bytes,
    use_copy: bool,
    pub(super) hop: Option<Bytes>,
}

impl RequestBytes {
    /// Request number `pick`: its entry, and the copy when it has `{{seq}}`.
    pub(super) fn pick(&mut self, pick: u64, pool: &Pool) {
        self.entry = pool.index_of(pick);
        let entry = pool.entry(self.entry);
        self.target = entry.target;
        self.use_copy = entry.has_seq();
        if self.use_copy {
            let mut buf = std::mem::take(&mut self.copy).try_into_mut().unwrap_or_default();
            entry.write(pick, pool.seq_width(), &mut buf);
            self.copy = buf.freeze();
        }
        self.hop = None;
    }

    pub(super) fn bytes<'a>(&'a self, requests: &'a RequestSet) -> &'a [u8] {
        match &self.hop {
            Some(hop) => hop,
            None if self.use_copy => &self.copy,
            None => &requests.pool.entry(self.entry).bytes,
        }
    }

    /// What a plain connection sends.
    pub(super) fn outgoing(&self) -> Outgoing {
        match &self.hop {
            Some(hop) => Outgoing::Bytes(hop.clone()),
            None if self.use_copy => Outgoing::Bytes(self.copy.clone()),
            None => Outgoing::Request(self.entry),
        }
    }
}

/// Methods that may be retried after a stale keep-alive connection
/// (RFC 9110 §9.2.2; Go's client, and so hey, retries the same set).
pub(super) fn replayable(method: &[u8]) -> bool {
    matches!(method, b"GET" | b"HEAD" | b"OPTIONS" | b"TRACE")
}
