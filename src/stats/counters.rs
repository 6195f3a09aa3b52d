//! Named counts beside the named distributions: how many responses were
//! event streams, their events, the output tokens and where their count
//! came from, the requests that met `--goodput`.
//!
//! The same shape as [`super::metrics`]: one table, [`COUNTERS`]; a
//! request carries its own small counts ([`Tally`]), the stats and each
//! interval of the timeline their sums ([`CounterSums`]), and the result file,
//! its merge, the report, `diff` and `--assert` (`tokens_per_sec>1000`)
//! read them by name. Like the metrics they count successful responses.

use super::histogram::{Overflow, add};

/// One named count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    /// Its name in result files, `--assert` (with `_per_sec` for its rate)
    /// and `diff`: lower case, no dots.
    pub id: &'static str,
    /// Its name for people.
    pub label: &'static str,
    /// What it counts, in one line.
    pub meaning: &'static str,
    /// `diff` compares its rate, a higher one being better.
    pub compared: bool,
}

/// Responses whose body was an event stream.
pub const STREAMED: usize = 0;
/// Events with data, of those streams.
pub const EVENTS: usize = 1;
/// Output tokens.
pub const TOKENS: usize = 2;
/// Responses whose token count came from the server's `usage`.
pub const TOKENS_FROM_USAGE: usize = 3;
/// Streamed responses whose token count is their events with content.
pub const TOKENS_FROM_EVENTS: usize = 4;
/// Requests that met every `--goodput` limit.
pub const GOOD: usize = 5;

/// Every counter, in the order the outputs list them.
pub const COUNTERS: [Counter; 6] = [
    Counter {
        id: "streamed",
        label: "Streamed responses",
        meaning: "responses whose body was an event stream (Content-Type: text/event-stream)",
        compared: false,
    },
    Counter {
        id: "events",
        label: "Events",
        meaning: "events with data in those streams, [DONE] not counted",
        compared: false,
    },
    Counter {
        id: "tokens",
        label: "Output tokens",
        meaning: "usage.completion_tokens where the server sent it, else one per event with content",
        compared: true,
    },
    Counter {
        id: "tokens_from_usage",
        label: "Responses counted by usage",
        meaning: "responses whose output tokens came from the server's usage.completion_tokens",
        compared: false,
    },
    Counter {
        id: "tokens_from_events",
        label: "Responses counted by events",
        meaning: "streamed responses without usage, whose output tokens are their events with content",
        compared: false,
    },
    Counter { id: "good", label: "Good requests", meaning: "requests that met every --goodput limit", compared: true },
];

/// The index in [`COUNTERS`] of the counter named `id`.
pub fn find(id: &str) -> Option<usize> {
    COUNTERS.iter().position(|c| c.id == id)
}

/// One request's counts, in the order of [`COUNTERS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally(pub [u32; COUNTERS.len()]);

impl Tally {
    /// Nothing counted (a plain response).
    pub fn is_empty(&self) -> bool {
        *self == Tally::default()
    }
}

/// Sums of counts, in the order of [`COUNTERS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSums(pub [u64; COUNTERS.len()]);

impl CounterSums {
    /// Adds a request's counts.
    #[inline]
    pub fn add(&mut self, tally: &Tally) {
        if !tally.is_empty() {
            self.0.iter_mut().zip(tally.0).for_each(|(sum, n)| *sum += u64::from(n));
        }
    }

    /// Adds `other`'s sums, refusing to wrap (hostile result files).
    pub fn merge(&mut self, other: &CounterSums) -> Result<(), Overflow> {
        self.0.iter_mut().zip(other.0).try_for_each(|(a, b)| add(a, b))
    }

    pub fn get(&self, counter: usize) -> u64 {
        self.0[counter]
    }

    /// Each counter with its sum, in the order of [`COUNTERS`].
    pub fn iter(&self) -> impl Iterator<Item = (&'static Counter, u64)> + '_ {
        COUNTERS.iter().zip(self.0)
    }

    /// Nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&n| n == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_counts_add_and_merge() {
        for (i, counter) in COUNTERS.iter().enumerate() {
            assert_eq!(find(counter.id), Some(i));
            assert!(counter.id.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{}", counter.id);
            assert!(super::super::metrics::find(counter.id).is_none(), "{} is also a metric", counter.id);
        }
        let mut tally = Tally::default();
        assert!(tally.is_empty());
        tally.0[TOKENS] = 24;
        tally.0[EVENTS] = 26;
        let (mut a, mut b) = (CounterSums::default(), CounterSums::default());
        a.add(&tally);
        a.add(&Tally::default());
        b.add(&tally);
        a.merge(&b).unwrap();
        assert_eq!((a.get(TOKENS), a.get(EVENTS), a.get(GOOD)), (48, 52, 0));
        let mut full = CounterSums([u64::MAX; COUNTERS.len()]);
        assert_eq!(full.merge(&a), Err(Overflow));
    }
}
