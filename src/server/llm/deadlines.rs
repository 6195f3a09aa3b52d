//! The mock's sorted deadlines: every stream of a server thread waits in
//! one queue for its next event, and the thread's pacer takes them out in
//! time order. A timer per stream (tokio's) cost a waker, a task poll and a
//! timer-wheel entry per event, and fired only on whole milliseconds.
//!
//! The deadlines arrive almost sorted: every stream is on the same
//! schedule, so a stream's next event (`itl` after the one just written,
//! itself the earliest due) comes after every other stream's next event,
//! and a new stream's first (`ttft` after now) after every other first. So
//! the queue keeps a few runs, each sorted because it only ever takes a
//! deadline at or after its last one, and a heap for the rare deadline that
//! fits no run (a stream handed back after a full socket buffer). Taking
//! and putting are then O(1), against a heap's O(log n) cache misses on
//! 10,000 streams at 200,000 events a second.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

/// Sorted runs kept; deadlines that fit none go to the heap.
const RUNS: usize = 4;

/// Items ordered by their deadlines; equal deadlines in the order put.
pub struct Deadlines<T> {
    runs: [VecDeque<Entry<T>>; RUNS],
    unsorted: BinaryHeap<Reverse<Entry<T>>>,
    /// Tie-breaker: the order of `put`.
    put_count: u64,
}

struct Entry<T> {
    at: Instant,
    order: u64,
    item: T,
}

impl<T> Entry<T> {
    fn key(&self) -> (Instant, u64) {
        (self.at, self.order)
    }
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl<T> Default for Deadlines<T> {
    fn default() -> Self {
        Deadlines { runs: Default::default(), unsorted: BinaryHeap::new(), put_count: 0 }
    }
}

impl<T> Deadlines<T> {
    /// Queues `item` for `at`.
    pub fn put(&mut self, at: Instant, item: T) {
        let entry = Entry { at, order: self.put_count, item };
        self.put_count += 1;
        // A run whose last deadline is not after `at` stays sorted with it
        // at its end: the one whose last is latest (keeping the others free
        // for smaller deadlines), else an empty one, else the heap.
        let fits = self.runs.iter().enumerate().filter_map(|(i, run)| match run.back() {
            Some(last) if last.at <= at => Some((Some(last.at), i)),
            Some(_) => None,
            None => Some((None, i)),
        });
        match fits.max() {
            Some((_, i)) => self.runs[i].push_back(entry),
            None => self.unsorted.push(Reverse(entry)),
        }
    }

    /// The earliest deadline waiting.
    pub fn next(&self) -> Option<Instant> {
        self.earliest().map(|(at, _)| at)
    }

    /// The earliest item if its deadline is at or before `now`.
    pub fn take_due(&mut self, now: Instant) -> Option<(Instant, T)> {
        let (at, source) = self.earliest().filter(|(at, _)| *at <= now)?;
        let entry = match source {
            Some(run) => self.runs[run].pop_front()?,
            None => self.unsorted.pop()?.0,
        };
        Some((at, entry.item))
    }

    /// How many items wait.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.runs.iter().map(VecDeque::len).sum::<usize>() + self.unsorted.len()
    }

    /// The earliest deadline and where it waits: a run's index, or the heap.
    fn earliest(&self) -> Option<(Instant, Option<usize>)> {
        let heads = self.runs.iter().enumerate().filter_map(|(i, run)| run.front().map(|e| (e.key(), Some(i))));
        let heap = self.unsorted.peek().map(|Reverse(e)| (e.key(), None));
        heads.chain(heap).min_by_key(|(key, _)| *key).map(|((at, _), source)| (at, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Takes everything, checking that nothing comes out before `now`.
    fn drain(queue: &mut Deadlines<u32>, now: Instant) -> Vec<(Instant, u32)> {
        std::iter::from_fn(|| queue.take_due(now)).collect()
    }

    #[test]
    fn items_come_out_in_deadline_order_whatever_the_order_put() {
        let t0 = Instant::now();
        let mut queue = Deadlines::default();
        // A deterministic shuffle, with ties, spread over runs and the heap.
        let offsets: Vec<u64> = (0..2000u64).map(|i| (i * 7919) % 997).collect();
        for (i, us) in offsets.iter().enumerate() {
            queue.put(t0 + Duration::from_micros(*us), i as u32);
        }
        assert_eq!(queue.len(), offsets.len());
        let out = drain(&mut queue, t0 + Duration::from_secs(1));
        assert_eq!(out.len(), offsets.len());
        for pair in out.windows(2) {
            let ((a, ia), (b, ib)) = (pair[0], pair[1]);
            assert!(a < b || (a == b && ia < ib), "{ia} at {a:?} came before {ib} at {b:?}");
        }
        for (at, i) in out {
            assert_eq!(at, t0 + Duration::from_micros(offsets[i as usize]));
        }
    }

    #[test]
    fn nothing_comes_out_before_its_deadline() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut queue = Deadlines::default();
        for (i, at) in [ms(80), ms(50), ms(130), ms(50), ms(0)].into_iter().enumerate() {
            queue.put(t0 + at, i as u32);
        }
        assert_eq!(queue.next(), Some(t0));
        assert_eq!(drain(&mut queue, t0 + ms(49)), [(t0, 4)]);
        assert_eq!(queue.next(), Some(t0 + ms(50)));
        let ids: Vec<u32> = drain(&mut queue, t0 + ms(80)).into_iter().map(|(_, i)| i).collect();
        assert_eq!(ids, [1, 3, 0], "ties in the order put");
        assert_eq!((queue.len(), queue.next()), (1, Some(t0 + ms(130))));
        assert_eq!(queue.take_due(t0 + ms(129)), None);
    }

    /// The mock's own pattern: streams re-queued `itl` after the event just
    /// taken, new ones `ttft` ahead, stay in the sorted runs (no heap).
    #[test]
    fn the_streams_own_pattern_never_needs_the_heap() {
        let t0 = Instant::now();
        let (ttft, itl) = (Duration::from_millis(80), Duration::from_millis(50));
        let mut queue = Deadlines::default();
        let mut now = t0;
        for step in 0..20_000u32 {
            now += Duration::from_micros(37);
            if step % 3 == 0 {
                queue.put(now + ttft, step);
            }
            while let Some((at, id)) = queue.take_due(now) {
                queue.put(at + itl, id);
            }
        }
        assert!(queue.unsorted.is_empty(), "{} deadlines fell to the heap", queue.unsorted.len());
    }
}
