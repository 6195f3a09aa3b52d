//! A provided-buffer ring: receive buffers registered with the kernel and
//! shared by all of a ring's connections, so receive memory does not grow
//! with the number of connections or the size of the bodies.
//!
//! With incremental consumption (kernel 6.12+, `IOU_PBUF_RING_INC`) a
//! receive uses only the bytes it needs from the head buffer and the next
//! receive continues in the same buffer, so a few large buffers serve
//! hundreds of small responses; a buffer returns to the ring once the kernel
//! says it is done with it (no `IORING_CQE_F_BUF_MORE`). Without it, each
//! receive takes a whole buffer, returned as soon as its data is processed.
//!
//! The pool is small and bounded (1 MiB of incremental buffers, 1 MiB
//! written into whole ones, unless a test squeezes it): the kernel takes
//! buffers in ring order, so every buffer provided is written in turn, and
//! a pool that fits in the CPU's caches is what lets large bodies arrive
//! as fast as into the portable backend's one scratch buffer. A pool of
//! 16 MiB made 1 MiB bodies at -c 10000 20-30% slower.
//!
//! Memory follows the work: the pool's memory is reserved at once but only
//! a few buffers are provided at first ([`BufRing::START_BUFFERS`]); each
//! time a receive runs out of buffers the pool doubles what it provides,
//! up to its bound. Small responses never touch more than the first
//! buffers (the kernel cycles through only what it was given); large ones
//! grow it to the bound within a few receives.
//!
//! Whole buffers are large (a 58 KiB response in one receive) but a small
//! response writes only the first page of one, so what bounds them is the
//! bytes receives write, not the bytes provided: the pool circulates as
//! many buffers as that bound holds at the largest receive seen so far.
//! Small responses get many buffers (they run out by count, not bytes);
//! once receives fill whole buffers, the buffers past the bound are taken
//! out of circulation as they come back and their pages given back. Those
//! still in the ring are each written once more before they come back, so
//! a run whose responses grow from small to large can briefly hold the
//! whole pool (4 MiB by default); and the narrowing is never undone: one
//! large receive leaves a quarter of the buffers for the rest of the run.
#![allow(unsafe_code, reason = "memory shared with the kernel (provided-buffer ring)")]

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

/// `IOU_PBUF_RING_INC` from the kernel ABI (include/uapi/linux/io_uring.h).
const IOU_PBUF_RING_INC: u16 = 2;
/// `IORING_CQE_F_BUF_MORE`: the buffer is only partly used and stays with the kernel.
pub const IORING_CQE_F_BUF_MORE: u32 = 1 << 4;

const PAGE: usize = 4096;

/// What a pool may hold: `count` buffers of `size` bytes, of which
/// receives may write at most `touch_bytes` (whole buffers; an incremental
/// pool writes every byte it provides, so its bound is its size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub count: u16,
    pub size: u32,
    pub touch_bytes: usize,
    pub incremental: bool,
}

impl Shape {
    /// `count` buffers of `size` bytes, every byte of them usable.
    pub fn filled(count: u16, size: u32, incremental: bool) -> Shape {
        Shape { count, size, touch_bytes: usize::from(count) * size as usize, incremental }
    }
}

pub struct BufRing {
    /// Ring of entries shared with the kernel (page-aligned, `capacity` entries).
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    capacity: u16,
    /// Buffer memory: `count` buffers of `size` bytes, mapped anonymous
    /// (zero pages until written, so unprovided buffers cost nothing; the
    /// allocator would zero a page-aligned allocation by writing it).
    memory: *mut u8,
    memory_bytes: usize,
    count: u16,
    /// Buffers given to the kernel so far (ids `0..provided`); the rest of
    /// the memory is untouched until [`BufRing::grow`] provides it.
    provided: u16,
    size: u32,
    tail: u16,
    pub group: u16,
    pub incremental: bool,
    /// Bytes of each buffer already handed out (incremental mode).
    used: Vec<u32>,
    /// Bound on the bytes receives write into the pool (see [`Shape`]).
    touch_bytes: usize,
    /// The largest receive into a whole buffer so far, in bytes.
    largest_receive: u32,
    /// Buffers allowed in circulation: ids at or past it are not provided
    /// again once they come back.
    circulating: u16,
}

impl BufRing {
    /// Buffers provided at the start: 128 KiB in incremental mode (two
    /// buffers of 64 KiB hold a few hundred small responses each).
    pub const START_BUFFERS: u16 = 2;

    /// Registers group `group` for a pool of `shape` and provides its first
    /// [`BufRing::START_BUFFERS`]; consumed incrementally if the shape says
    /// so and the kernel allows it.
    ///
    /// # Safety
    /// The kernel writes into this memory for as long as `ring` lives: the
    /// caller must close `ring` before dropping the returned `BufRing`, and
    /// must not drop it at all while a receive using it may be outstanding.
    pub unsafe fn register(ring: &io_uring::IoUring, shape: Shape, group: u16) -> io::Result<BufRing> {
        let mut pool = BufRing::allocate(shape, group)?;
        let (entries, capacity) = (pool.entries, pool.capacity);
        let register = |flags| {
            // SAFETY: the entry ring is page-aligned and holds `capacity`
            // entries; it outlives the ring by this function's contract.
            unsafe { ring.submitter().register_buf_ring_with_flags(entries as u64, capacity, group, flags) }
        };
        if shape.incremental && register(IOU_PBUF_RING_INC).is_ok() {
            pool.incremental = true;
        } else {
            register(0)?;
        }
        pool.provide_up_to(Self::START_BUFFERS);
        Ok(pool)
    }

    /// The entry ring and the buffer memory, zeroed and not yet shared
    /// with the kernel (so tests can use them without one).
    fn allocate(shape: Shape, group: u16) -> io::Result<BufRing> {
        let (count, size) = (shape.count.clamp(1, 1 << 15), shape.size);
        let capacity = count.next_power_of_two();
        let invalid = |_| io::Error::from(io::ErrorKind::InvalidInput);
        let entries_layout =
            Layout::from_size_align(usize::from(capacity) * size_of::<BufRingEntry>(), PAGE).map_err(invalid)?;
        let memory_bytes = usize::from(count) * size as usize;
        if memory_bytes == 0 {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        // SAFETY: the layout has a non-zero size (capacity > 0).
        let entries = unsafe { alloc_zeroed(entries_layout).cast::<BufRingEntry>() };
        if entries.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: a new private anonymous mapping of a non-zero length
        // (checked above) at an address of the kernel's choosing: it aliases
        // no memory of this process.
        let memory = unsafe {
            libc::mmap(std::ptr::null_mut(), memory_bytes, prot, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
        };
        if memory == libc::MAP_FAILED {
            let error = io::Error::last_os_error();
            // SAFETY: allocated just above with this layout, never shared.
            unsafe { dealloc(entries.cast(), entries_layout) };
            return Err(error);
        }
        // Memory follows the work only page by page: where transparent huge
        // pages are always on, one small receive would make 2 MiB resident.
        // SAFETY: advice on the mapping just created; its contents are zeros
        // either way.
        unsafe { libc::madvise(memory, memory_bytes, libc::MADV_NOHUGEPAGE) };
        let memory = memory.cast::<u8>();
        Ok(BufRing {
            entries,
            entries_layout,
            capacity,
            memory,
            memory_bytes,
            count,
            provided: 0,
            size,
            tail: 0,
            group,
            incremental: false,
            used: vec![0; usize::from(count)],
            touch_bytes: shape.touch_bytes,
            largest_receive: 0,
            circulating: count,
        })
    }

    /// Buffers in circulation: provided to the kernel so far, and not
    /// taken out since.
    pub fn buffers(&self) -> usize {
        usize::from(self.provided.min(self.circulating))
    }

    /// Provides twice as many buffers as before, up to the pool's bound,
    /// after a receive found none; false when the pool is already whole.
    pub fn grow(&mut self) -> bool {
        let before = self.provided;
        self.provide_up_to(before.saturating_mul(2).min(self.circulating));
        self.provided > before
    }

    /// Notes a receive of `len` bytes into a whole buffer: past the
    /// largest so far, fewer buffers fit the bytes receives may write.
    fn note_receive(&mut self, len: usize) {
        if len <= self.largest_receive as usize {
            return;
        }
        self.largest_receive = len as u32;
        let pages = len.div_ceil(PAGE) * PAGE;
        let fit = (self.touch_bytes / pages).clamp(1, usize::from(self.count));
        self.circulating = self.circulating.min(fit as u16);
    }

    /// Takes buffer `bid`, back from the kernel, out of circulation: it is
    /// not provided again, and the pages wholly inside it go back to the
    /// system (a page it shares with a neighbour stays: that one may still
    /// be the kernel's).
    fn retire(&mut self, bid: u16) {
        let start = self.buffer(bid) as usize;
        let (first, end) = (start.next_multiple_of(PAGE), (start + self.size as usize) / PAGE * PAGE);
        if end > first {
            // SAFETY: first..end lies inside this buffer (`buffer` checked
            // its id) and the kernel has given the buffer back; nothing
            // reads it again, and dropped pages read as zeros if it ever were.
            unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_DONTNEED) };
        }
    }

    /// Hands the kernel buffers `provided..want` (at most the pool's count).
    fn provide_up_to(&mut self, want: u16) {
        let (from, want) = (self.provided, want.clamp(1, self.count));
        if want <= from {
            return;
        }
        self.provided = want;
        for bid in from..want {
            self.push(bid);
        }
        self.publish();
    }

    fn buffer(&self, bid: u16) -> *mut u8 {
        // Ids come from the kernel (a completion's flags): a wrong one would
        // point past the pool, so it is checked in every build. One compare
        // per receive, next to parsing what it delivered.
        assert!(bid < self.provided, "buffer id {bid} is not one of the ring's {} buffers", self.provided);
        // SAFETY: bid < provided <= count (just checked), so the buffer lies
        // inside the pool's memory.
        unsafe { self.memory.add(usize::from(bid) * self.size as usize) }
    }

    fn push(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (self.capacity - 1));
        // SAFETY: `slot` < capacity, inside the entry ring; the kernel only
        // reads entries between its head and the published tail, and this
        // one is past it (the ring never holds more than `capacity` buffers).
        let entry = unsafe { &mut *self.entries.add(slot) };
        entry.set_addr(self.buffer(bid) as u64);
        entry.set_len(self.size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes pushed entries visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail field lives in the first entry of the ring, which is
        // valid and 2-byte aligned; the kernel reads it with acquire semantics.
        let tail = unsafe { &*(BufRingEntry::tail(self.entries).cast::<AtomicU16>()) };
        tail.store(self.tail, Ordering::Release);
    }

    /// The `len` bytes a receive completion delivered in buffer `bid`.
    /// Panics when the kernel names a buffer outside the ring, or more
    /// bytes than are left in it: the ring's state is then not to be trusted.
    pub fn data(&mut self, bid: u16, len: usize) -> &[u8] {
        let buffer = self.buffer(bid);
        let start = if self.incremental { self.used[usize::from(bid)] as usize } else { 0 };
        // The kernel never writes past a buffer's end: bytes beyond it mean
        // `used` lost step with the kernel, and every byte would be wrong.
        let end = start.saturating_add(len);
        assert!(end <= self.size as usize, "{len} bytes at {start} overrun buffer {bid} of {} bytes", self.size);
        if self.incremental {
            self.used[usize::from(bid)] = end as u32;
        } else {
            self.note_receive(len);
        }
        // SAFETY: `buffer` checked bid < count, and start..end lies within
        // its `size` bytes (checked above); the kernel has finished writing
        // them (their completion arrived).
        unsafe { std::slice::from_raw_parts(buffer.add(start), len) }
    }

    /// Gives buffer `bid` back after its data was processed, unless the kernel
    /// still holds it (`flags` has BUF_MORE in incremental mode).
    pub fn release(&mut self, bid: u16, flags: u32) {
        if self.incremental && flags & IORING_CQE_F_BUF_MORE != 0 {
            return;
        }
        if bid >= self.circulating {
            self.retire(bid);
            return;
        }
        self.used[usize::from(bid)] = 0;
        self.push(bid);
        self.publish();
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: the buffers were mapped with this length and the entry
        // ring allocated with this layout; by `register`'s contract the ring that could write to
        // them is closed and no receive is outstanding.
        unsafe {
            libc::munmap(self.memory.cast(), self.memory_bytes);
            dealloc(self.entries.cast(), self.entries_layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool never registered with a kernel: `data` reads the zeroed
    /// buffers, which is all these checks need.
    fn pool(incremental: bool) -> BufRing {
        let mut pool = provided(Shape::filled(2, 64, false), 2);
        pool.incremental = incremental;
        pool
    }

    /// A pool of `shape` with its first `buffers` provided.
    fn provided(shape: Shape, buffers: u16) -> BufRing {
        let mut pool = BufRing::allocate(shape, 0).unwrap();
        pool.provide_up_to(buffers);
        pool
    }

    /// Eight whole buffers of 8 KiB whose receives may write 32 KiB: all
    /// eight while receives write a page each, four once they fill one.
    const WHOLE: Shape = Shape { count: 8, size: 8192, touch_bytes: 32 * 1024, incremental: false };

    #[test]
    fn the_pool_provides_a_few_buffers_and_doubles_up_to_its_bound() {
        let mut pool = provided(Shape::filled(11, 64, false), BufRing::START_BUFFERS);
        let mut seen = vec![pool.buffers()];
        while pool.grow() {
            seen.push(pool.buffers());
        }
        assert_eq!(seen, [2, 4, 8, 11]);
        assert_eq!(pool.tail, 11, "each buffer entered the ring once");
        assert!(!pool.grow(), "a whole pool stays whole");
    }

    #[test]
    #[should_panic(expected = "buffer id 4 is not one of the ring's 4 buffers")]
    fn a_buffer_not_yet_provided_is_refused() {
        let mut pool = provided(Shape::filled(8, 64, false), 4);
        pool.data(4, 1);
    }

    #[test]
    fn data_stays_inside_its_buffer() {
        let mut whole = pool(false);
        assert_eq!((whole.data(1, 64).len(), whole.data(1, 10).len()), (64, 10));
        let mut inc = pool(true);
        assert_eq!((inc.data(1, 40).len(), inc.data(1, 24).len()), (40, 24));
        inc.release(1, 0);
        assert_eq!(inc.data(1, 64).len(), 64);
    }

    #[test]
    #[should_panic(expected = "buffer id 2 is not one of the ring's 2 buffers")]
    fn an_unknown_buffer_id_is_refused() {
        pool(false).data(2, 1);
    }

    #[test]
    #[should_panic(expected = "65 bytes at 0 overrun buffer 0 of 64 bytes")]
    fn a_length_past_the_buffer_is_refused() {
        pool(false).data(0, 65);
    }

    #[test]
    #[should_panic(expected = "30 bytes at 40 overrun buffer 1 of 64 bytes")]
    fn an_incremental_receive_past_the_buffer_is_refused() {
        let mut inc = pool(true);
        inc.data(1, 40);
        inc.data(1, 30);
    }

    #[test]
    fn whole_buffers_circulate_as_many_as_the_largest_receive_fits_in_the_bound() {
        for (lens, circulating) in [(&[1, 100][..], 8), (&[4096], 8), (&[4097], 4), (&[100, 8192, 10], 4)] {
            let mut pool = provided(WHOLE, 8);
            for &len in lens {
                pool.data(0, len);
            }
            assert_eq!(pool.buffers(), circulating, "after receives of {lens:?} bytes");
        }
        let squeezed = Shape { count: 8, size: 8192, touch_bytes: 100, incremental: false };
        let mut pool = provided(squeezed, 8);
        pool.data(0, 1);
        assert_eq!(pool.buffers(), 1, "never none");
    }

    #[test]
    fn buffers_past_the_bound_are_not_provided_again_and_growth_stops_there() {
        let mut pool = provided(WHOLE, 8);
        pool.data(3, 8192);
        for bid in 0..8 {
            pool.release(bid, 0);
        }
        assert_eq!(pool.tail, 8 + 4, "buffers 4-7 came back and stayed out");
        assert!(!pool.grow(), "a narrowed pool does not grow past its bound");
        let mut growing = provided(WHOLE, BufRing::START_BUFFERS);
        growing.data(0, 8192);
        let mut seen = vec![growing.buffers()];
        while growing.grow() {
            seen.push(growing.buffers());
        }
        assert_eq!(seen, [2, 4]);
    }

    #[test]
    fn a_buffer_taken_out_of_circulation_gives_its_pages_back() {
        let mut pool = provided(WHOLE, 8);
        // SAFETY: buffer 5 lies inside the pool, and no kernel shares it.
        unsafe { pool.buffer(5).write_bytes(7, 8192) };
        assert!(pool.data(5, 8192).iter().all(|&b| b == 7));
        pool.release(5, 0);
        assert!(pool.data(5, 8192).iter().all(|&b| b == 0), "its pages were dropped, so they read as zeros");
    }

    #[test]
    fn a_retired_buffer_leaves_the_page_it_shares_with_a_neighbour() {
        // Buffers of a page and a half: buffer 2 starts on a page (12288)
        // and ends halfway through the next, where buffer 3 begins.
        let shape = Shape { count: 4, size: 6144, touch_bytes: 6144, incremental: false };
        let mut pool = provided(shape, 4);
        pool.data(0, 6144);
        assert_eq!(pool.buffers(), 1, "a full receive leaves one buffer in circulation");
        // SAFETY: buffers 2 and 3 lie inside the pool, and no kernel shares it.
        unsafe {
            pool.buffer(2).write_bytes(5, 6144);
            pool.buffer(3).write_bytes(7, 6144);
        }
        pool.release(2, 0);
        assert!(pool.data(3, 6144).iter().all(|&b| b == 7), "buffer 3, still out, kept its bytes");
        assert!(pool.data(2, 4096).iter().all(|&b| b == 0), "buffer 2's own page was dropped");
    }

    #[test]
    fn incremental_buffers_all_stay_in_circulation() {
        let mut inc = pool(true);
        inc.data(1, 64);
        inc.release(1, 0);
        assert_eq!((inc.buffers(), inc.tail), (2, 3));
    }
}
