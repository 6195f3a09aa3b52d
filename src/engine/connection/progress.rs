//! What a connection tells as a response arrives, apart from its end:
//! when its first byte came, its head and body progress as events, and
//! the gaps between a stream's tokens once it has succeeded.

use std::time::Instant;

use super::Connection;
use crate::stats::metrics::ITL;

impl Connection {
    /// The first byte of the response arrived at `now` (if none had).
    pub(super) fn first_byte_at(&mut self, now: Instant) {
        if let Some(stream) = self.stream.as_mut() {
            stream.first_byte_at(now);
        }
    }

    /// Notes when the body began, and announces the response's head and
    /// new body bytes as events.
    pub(super) fn announce_progress(&mut self, at: Instant) {
        let Some(stream) = self.stream.as_mut() else { return };
        stream.first_body_at(at, self.reader.body_begun());
        if !self.progress_events {
            return;
        }
        if !stream.head_seen
            && let Some(status) = self.reader.status()
        {
            stream.head_seen = true;
            self.outbox.head(stream.id, status, at);
        }
        let body = self.reader.body_bytes();
        if body > stream.body_seen {
            self.outbox.body(stream.id, body - stream.body_seen, at);
            stream.body_seen = body;
        }
    }

    /// Hands out the gaps between the content events of the stream's
    /// response, which succeeded at `now` (a failed one's never count).
    pub(super) fn hand_out_gaps(&mut self, now: Instant) {
        let (Some(stream), Some(gaps)) = (self.stream.as_ref(), self.body_meter.token_gaps()) else { return };
        for group in gaps.groups() {
            self.outbox.sample(stream.id, ITL, *group, now);
        }
    }
}
