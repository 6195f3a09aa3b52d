//! The requests a run sends, built before the clock starts.
//!
//! A run with one URL sends one pre-built request; a target file or a
//! template gives many. Either way the hot path only picks an entry and
//! hands its bytes to the socket: the pool is built once, read-only
//! afterwards, and picked from by a sequence number that every worker
//! claims from one counter, so round-robin order holds across workers.
//!
//! `{{seq}}` cannot be pre-built (its value is the request's own number),
//! so an entry that holds one records where its digits go, and the
//! connection writes them into its own copy of the bytes at send time. The
//! digits are fixed width and zero-padded: lengths, and so Content-Length,
//! never change.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};

/// One pre-built request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The complete request; `{{seq}}` digits, if any, are zeros here.
    pub bytes: Bytes,
    /// Where each `{{seq}}` starts in `bytes` (each [`Pool::seq_width`] long).
    seq_at: Box<[u32]>,
    /// Which target of the run this request belongs to (from 0).
    pub target: u16,
}

impl Entry {
    /// An entry without `{{seq}}`.
    pub fn new(bytes: Bytes, target: u16) -> Entry {
        Entry { bytes, seq_at: Box::default(), target }
    }

    /// An entry whose `{{seq}}` digits are where `zeros` (the request with
    /// every `{{seq}}` written as zeros) and `nines` (as nines) differ.
    pub fn with_seq(zeros: Bytes, nines: &[u8], width: usize, target: u16) -> Entry {
        let mut seq_at = Vec::new();
        let mut i = 0;
        while i < zeros.len().min(nines.len()) {
            if zeros[i] != nines[i] {
                seq_at.push(i as u32);
                i += width.max(1);
            } else {
                i += 1;
            }
        }
        Entry { bytes: zeros, seq_at: seq_at.into_boxed_slice(), target }
    }

    /// Whether the entry has `{{seq}}` digits to write at send time.
    pub fn has_seq(&self) -> bool {
        !self.seq_at.is_empty()
    }

    /// The request with `seq` written into its `{{seq}}` places, into
    /// `out` (emptied first; its allocation is reused when it has room).
    pub fn write(&self, seq: u64, width: usize, out: &mut BytesMut) {
        out.clear();
        out.extend_from_slice(&self.bytes);
        for &at in &self.seq_at {
            let at = at as usize;
            write_digits(&mut out[at..at + width], seq);
        }
    }
}

/// Writes `n` in decimal into `out`, zero-padded on the left; a number
/// too long for `out` keeps its last digits.
pub fn write_digits(out: &mut [u8], mut n: u64) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Digits in `n`'s decimal form.
pub fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The run's requests, picked in turn.
#[derive(Debug)]
pub struct Pool {
    entries: Vec<Entry>,
    /// Width of every `{{seq}}`.
    seq_width: usize,
    /// Targets the entries belong to.
    targets: usize,
    /// Whether starts must claim a number (several entries, or `{{seq}}`).
    claims: bool,
    /// The next request's number, over the whole run and every worker.
    next: AtomicU64,
}

impl Pool {
    /// A pool of one request, sent every time.
    pub fn single(bytes: Bytes) -> Pool {
        Pool::new(vec![Entry::new(bytes, 0)], 1, 1)
    }

    /// A pool of `entries` (at least one) of `targets` targets, whose
    /// `{{seq}}` are `seq_width` digits wide.
    pub fn new(entries: Vec<Entry>, seq_width: usize, targets: usize) -> Pool {
        assert!(!entries.is_empty(), "a pool holds at least one request");
        let claims = entries.len() > 1 || entries.iter().any(Entry::has_seq);
        Pool { entries, seq_width, targets: targets.max(1), claims, next: AtomicU64::new(0) }
    }

    /// The number of the request starting now (0 when every request is
    /// the same and needs none).
    #[inline]
    pub fn claim(&self) -> u64 {
        if self.claims { self.next.fetch_add(1, Ordering::Relaxed) } else { 0 }
    }

    /// The index of the entry request `number` sends.
    #[inline]
    pub fn index_of(&self, number: u64) -> usize {
        match self.entries.len() {
            1 => 0,
            len => (number % len as u64) as usize,
        }
    }

    pub fn entry(&self, index: usize) -> &Entry {
        &self.entries[index]
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn seq_width(&self) -> usize {
        self.seq_width
    }

    pub fn targets(&self) -> usize {
        self.targets
    }

    /// Numbers claimed so far: requests started (and warm-up requests).
    pub fn claimed(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }

    /// Distinct requests sent so far: with `{{seq}}` every one; otherwise
    /// the distinct pre-built requests among the entries used (entries that
    /// share their bytes are one request).
    pub fn distinct_used(&self) -> u64 {
        if self.entries.iter().any(Entry::has_seq) {
            return self.claimed();
        }
        let used = usize::try_from(self.claimed()).unwrap_or(usize::MAX).clamp(1, self.entries.len());
        distinct(&self.entries[..used]) as u64
    }

    /// Distinct pre-built requests (entries that share their bytes are one).
    pub fn distinct(&self) -> usize {
        distinct(&self.entries)
    }
}

/// Distinct requests among `entries`: those sharing bytes count once.
fn distinct(entries: &[Entry]) -> usize {
    let mut starts: Vec<*const u8> = entries.iter().map(|e| e.bytes.as_ptr()).collect();
    starts.sort_unstable();
    starts.dedup();
    starts.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_zero_padded_and_keep_the_last_ones_when_too_long() {
        let mut out = [b'x'; 4];
        for (n, want) in [(0, b"0000"), (7, b"0007"), (1234, b"1234"), (98765, b"8765")] {
            write_digits(&mut out, n);
            assert_eq!(&out, want, "{n}");
        }
        assert_eq!([0, 9, 10, 99, 100, u64::MAX].map(digits), [1, 1, 2, 2, 3, 20]);
    }

    #[test]
    fn seq_places_are_found_and_filled() {
        let zeros = Bytes::from_static(b"GET /a?id=000 HTTP/1.1\r\nX-Id: 000\r\n\r\n0000");
        let nines = b"GET /a?id=999 HTTP/1.1\r\nX-Id: 999\r\n\r\n0000";
        let entry = Entry::with_seq(zeros, nines, 3, 2);
        assert_eq!(&entry.seq_at[..], &[10, 30]);
        let mut out = BytesMut::new();
        entry.write(42, 3, &mut out);
        assert_eq!(&out[..], b"GET /a?id=042 HTTP/1.1\r\nX-Id: 042\r\n\r\n0000");
        entry.write(7, 3, &mut out);
        assert_eq!(&out[..], b"GET /a?id=007 HTTP/1.1\r\nX-Id: 007\r\n\r\n0000");
    }

    #[test]
    fn adjacent_seq_places_are_told_apart_by_width() {
        let entry = Entry::with_seq(Bytes::from_static(b"/0000"), b"/9999", 2, 0);
        assert_eq!(&entry.seq_at[..], &[1, 3]);
        let mut out = BytesMut::new();
        entry.write(5, 2, &mut out);
        assert_eq!(&out[..], b"/0505");
    }

    #[test]
    fn one_request_needs_no_numbers_and_several_are_picked_in_turn() {
        let one = Pool::single(Bytes::from_static(b"GET / HTTP/1.1\r\n\r\n"));
        assert_eq!((one.claim(), one.claim(), one.distinct_used()), (0, 0, 1));
        let entries = (0..3).map(|i| Entry::new(Bytes::from(vec![b'a' + i]), u16::from(i))).collect();
        let pool = Pool::new(entries, 1, 3);
        let picked: Vec<u8> = (0..7).map(|_| pool.entry(pool.index_of(pool.claim())).bytes[0]).collect();
        assert_eq!(picked, b"abcabca");
        assert_eq!((pool.claimed(), pool.distinct_used()), (7, 3));
        let shared = Bytes::from_static(b"GET /same HTTP/1.1\r\n\r\n");
        let twice = Pool::new(vec![Entry::new(shared.clone(), 0), Entry::new(shared, 0)], 1, 1);
        (0..5).for_each(|_| {
            twice.claim();
        });
        assert_eq!((twice.distinct_used(), twice.distinct()), (1, 1), "entries sharing their bytes are one request");
    }
}
