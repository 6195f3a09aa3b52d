//! Values measured inside a response that count only if the response
//! succeeds (the gaps between an LLM stream's tokens: vLLM's inter-token
//! latency leaves out failed requests), held until its end.
//!
//! A stream may send thousands of tokens, so the values are not kept one
//! by one: they are grouped by the histogram bucket they fall in, each
//! group with its exact count, sum, minimum and maximum ([`Phase`]). Adding
//! the groups to a [`Histogram`] gives exactly what recording each value
//! would have. The groups are a sorted `Vec` that keeps its memory from one
//! response to the next; gaps cluster in a few buckets, so it stays small
//! (at most one group per bucket whatever the server sends, and what an
//! unusual stream grew is given back when the next one begins).

use super::histogram::{Phase, bucket_of};

/// Groups whose memory a cleared store keeps (4 KiB): what streams with
/// a steady pace need; a stream whose gaps spread over thousands of
/// buckets (up to 64 bytes each) does not pin that memory for good.
pub const KEPT_GROUPS: usize = 64;

/// Values grouped by histogram bucket, ascending.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeferredValues {
    groups: Vec<(u16, Phase)>,
}

impl DeferredValues {
    /// Holds one more value.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        // Bucket indexes are below histogram::BUCKETS (4608), so they fit in u16.
        let bucket = bucket_of(ns) as u16;
        let at = match self.groups.binary_search_by_key(&bucket, |&(b, _)| b) {
            Ok(at) => at,
            Err(at) => {
                self.groups.insert(at, (bucket, Phase::default()));
                at
            }
        };
        self.groups[at].1.record(ns);
    }

    /// The groups held: each one's values share a histogram bucket.
    pub fn groups(&self) -> impl Iterator<Item = &Phase> + '_ {
        self.groups.iter().map(|(_, phase)| phase)
    }

    /// How many values are held.
    pub fn count(&self) -> u64 {
        self.groups().map(|g| g.count).sum()
    }

    /// Forgets the values, keeping the memory of up to [`KEPT_GROUPS`].
    pub fn clear(&mut self) {
        self.groups.clear();
        self.groups.shrink_to(KEPT_GROUPS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Histogram;

    #[test]
    fn groups_rebuild_the_histogram_of_the_values_exactly() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let (mut held, mut one_by_one, mut grouped) = (DeferredValues::default(), Histogram::new(), Histogram::new());
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Gaps from 0 ns to ~67 ms, many in the same buckets.
            let ns = (seed % 4096) << (seed >> 60);
            held.record(ns);
            one_by_one.record(ns);
        }
        held.groups().for_each(|g| grouped.record_group(g));
        assert_eq!(grouped, one_by_one);
        assert_eq!(held.count(), 20_000);
        let buckets: Vec<_> = held.groups.iter().map(|&(b, _)| b).collect();
        assert!(buckets.windows(2).all(|w| w[0] < w[1]), "groups are sorted and distinct");
    }

    #[test]
    fn clear_forgets_values_and_keeps_a_little_memory() {
        let mut held = DeferredValues::default();
        (0..40).for_each(|i| held.record(i * 1_000_000));
        let capacity = held.groups.capacity();
        held.clear();
        assert_eq!((held.count(), held.groups().count(), held.groups.capacity()), (0, 0, capacity));
        (0..3000).for_each(|i| held.record(i * 100_000));
        assert!(held.groups.capacity() > 1000);
        held.clear();
        assert!(held.groups.capacity() <= KEPT_GROUPS, "{}", held.groups.capacity());
    }
}
