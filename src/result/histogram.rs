//! Histograms as a result document writes them: the non-empty buckets as
//! `[index, count]` pairs with the exact count, sum, minimum and maximum,
//! and the bucket layout they follow; read back with every number checked,
//! so that a corrupt or hostile file is refused, never trusted.

use serde::{Deserialize, Serialize};

use crate::stats::{Histogram, Sparse};

/// How bucket indexes map to values (constant for a schema version).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramFormat {
    pub unit: String,
    /// Indexes below this are exact values.
    pub linear_below: u64,
    pub sub_buckets_per_octave: u64,
    pub buckets: usize,
}

impl HistogramFormat {
    pub(super) fn current() -> Self {
        HistogramFormat {
            unit: "ns".into(),
            linear_below: 256,
            sub_buckets_per_octave: 128,
            buckets: crate::stats::histogram::BUCKETS,
        }
    }
}

/// A histogram: `[index, count]` pairs of its non-empty buckets, and its
/// exact count, sum, min and max.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramDoc {
    pub count: u64,
    pub sum_ns: u128,
    pub min_ns: u64,
    pub max_ns: u64,
    pub buckets: Vec<[u64; 2]>,
}

impl HistogramDoc {
    pub(super) fn of(h: &Histogram) -> Self {
        HistogramDoc {
            count: h.count(),
            sum_ns: h.sum_ns(),
            min_ns: h.min_ns(),
            max_ns: h.max_ns(),
            buckets: h.raw_buckets().map(|(i, c)| [i as u64, c]).collect(),
        }
    }

    pub(super) fn of_sparse(h: &Sparse) -> Self {
        HistogramDoc {
            count: h.count(),
            sum_ns: h.sum_ns(),
            min_ns: h.min_ns(),
            max_ns: h.max_ns(),
            buckets: h.buckets().map(|(i, c)| [i as u64, c]).collect(),
        }
    }

    pub(super) fn histogram(&self, name: &str) -> Result<Histogram, String> {
        let buckets = self.buckets.iter().map(|&[i, c]| (usize::try_from(i).unwrap_or(usize::MAX), c));
        let h = Histogram::from_parts(buckets, self.sum_ns, self.min_ns, self.max_ns)
            .map_err(|e| format!("histogram {name}: {e}"))?;
        if h.count() != self.count {
            return Err(format!("histogram {name}: buckets hold {} values, count says {}", h.count(), self.count));
        }
        Ok(h)
    }
}
