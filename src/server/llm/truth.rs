//! What the mock really sent, as opposed to what it was asked to: for each
//! stream, the time from its request's body (the arrival of its last bytes,
//! by the kernel's stamp where there is one) to the write of its first
//! content event (the server's TTFT) and the gaps between the writes of its
//! content events (the server's ITL). Timers fire late on a busy machine,
//! so a client's figures are compared with these, not with `--ttft` and
//! `--itl`. `GET /mock/truth` returns them as JSON.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::stats::{Histogram, nanos};

/// The server's side of every stream so far.
#[derive(Debug, Default)]
pub(super) struct Truth {
    sent: Mutex<Sent>,
}

/// One content event's write, as the truth records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Written {
    /// A stream's first, this long after its request's body.
    First(Duration),
    /// A later one, this long after the one before.
    Gap(Duration),
}

#[derive(Debug, Default)]
struct Sent {
    ttft: Histogram,
    itl: Histogram,
}

impl Truth {
    /// A stream's first content event was written `ttft` after its request.
    pub(super) fn first(&self, ttft: Duration) {
        self.lock().ttft.record(nanos(ttft));
    }

    /// A content event was written `gap` after the one before it.
    pub(super) fn gap(&self, gap: Duration) {
        self.lock().itl.record(nanos(gap));
    }

    /// Several writes at once (one lock for a pacer's turn).
    pub(super) fn record(&self, writes: &[Written]) {
        let mut sent = self.lock();
        for write in writes {
            match *write {
                Written::First(ttft) => sent.ttft.record(nanos(ttft)),
                Written::Gap(gap) => sent.itl.record(nanos(gap)),
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sent> {
        // A panic while recording leaves plain counts: still usable.
        self.sent.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The figures as a JSON document, times in milliseconds.
    pub(super) fn document(&self) -> Value {
        Self::figures_of(&self.lock())
    }

    /// The figures, and a new record from now on.
    pub(super) fn take(&self) -> Value {
        Self::figures_of(&std::mem::take(&mut *self.lock()))
    }

    fn figures_of(sent: &Sent) -> Value {
        json!({ "streams": sent.ttft.count(), "ttft_ms": figures(&sent.ttft), "itl_ms": figures(&sent.itl) })
    }
}

fn figures(h: &Histogram) -> Value {
    let ms = |ns: u64| ns as f64 / 1e6;
    json!({
        "count": h.count(),
        "mean": h.mean_ns() / 1e6,
        "min": ms(h.min_ns()),
        "p50": ms(h.percentile_ns(50.0)),
        "p90": ms(h.percentile_ns(90.0)),
        "p99": ms(h.percentile_ns(99.0)),
        "max": ms(h.max_ns()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_holds_what_was_recorded() {
        let truth = Truth::default();
        truth.first(Duration::from_millis(80));
        truth.first(Duration::from_millis(82));
        (0..9).for_each(|_| truth.gap(Duration::from_millis(15)));
        truth.record(&[Written::Gap(Duration::from_millis(15))]);
        let doc = truth.document();
        assert_eq!(doc["streams"], 2);
        assert_eq!((doc["ttft_ms"]["min"].as_f64(), doc["ttft_ms"]["max"].as_f64()), (Some(80.0), Some(82.0)));
        assert_eq!((doc["itl_ms"]["count"].as_u64(), doc["itl_ms"]["p50"].as_f64()), (Some(10), Some(15.0)));
        assert_eq!(truth.take(), doc, "take answers what was recorded");
        truth.first(Duration::from_millis(90));
        let after = truth.document();
        assert_eq!((after["streams"].as_u64(), after["itl_ms"]["count"].as_u64()), (Some(1), Some(0)));
        assert_eq!(after["ttft_ms"]["min"].as_f64(), Some(90.0), "a new record after take");
    }
}
