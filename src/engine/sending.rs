//! Which bytes a connection's current request sends, for
//! [`super::exchange::Exchange`]: a pre-built entry of the run's pool, this
//! connection's own copy of one with its `{{seq}}` digits written in (the
//! copy's buffer is reused once the kernel let go of it, so steady state
//! allocates nothing), or a redirect hop built from what was sent.

use bytes::Bytes;

use super::exchange::{Outgoing, Template};
use crate::http::Pool;

/// Which bytes a connection's request sends: a pool entry, this
/// connection's copy of one with its `{{seq}}` written in, or a redirect hop.
#[derive(Debug, Default)]
pub(super) struct Current {
    entry: usize,
    pub(super) target: u16,
    /// The buffer is reused for the next copy once the kernel let go of it.
    copy: Bytes,
    use_copy: bool,
    pub(super) hop: Option<Bytes>,
}

impl Current {
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

    pub(super) fn bytes<'a>(&'a self, template: &'a Template) -> &'a [u8] {
        match &self.hop {
            Some(hop) => hop,
            None if self.use_copy => &self.copy,
            None => &template.pool.entry(self.entry).bytes,
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
