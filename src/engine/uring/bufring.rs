//! A provided-buffer ring: receive buffers registered with the kernel and
//! shared by all of a ring's connections, so receive memory does not grow
//! with the number of connections.
//!
//! With incremental consumption (kernel 6.12+, `IOU_PBUF_RING_INC`) a
//! receive uses only the bytes it needs from the head buffer and the next
//! receive continues in the same buffer, so a few large buffers serve
//! hundreds of small responses; a buffer returns to the ring once the kernel
//! says it is done with it (no `IORING_CQE_F_BUF_MORE`). Without it, each
//! receive takes a whole buffer, returned as soon as its data is processed.
//!
//! The pool starts small and grows, a block of buffers at a time up to a
//! cap, when the kernel runs out (ENOBUFS): small responses never touch more
//! than the first block, while many connections streaming large bodies get
//! the room they need instead of re-arming receives that fail again.
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

pub struct BufRing {
    /// Ring of entries shared with the kernel (page-aligned, `capacity` entries).
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    capacity: u16,
    /// Buffer memory, allocated a block of `block` buffers at a time.
    blocks: Vec<*mut u8>,
    block_layout: Layout,
    block: u16,
    size: u32,
    tail: u16,
    pub group: u16,
    pub incremental: bool,
    /// Bytes of each buffer already handed out (incremental mode).
    used: Vec<u32>,
}

impl BufRing {
    /// Registers group `group` with room for up to `max` buffers of `size`
    /// bytes and provides the first `block` of them; incrementally if
    /// `incremental` and the kernel allows it.
    ///
    /// # Safety
    /// The kernel writes into this memory for as long as `ring` lives: the
    /// caller must close `ring` before dropping the returned `BufRing`, and
    /// must not drop it at all while a receive using it may be outstanding.
    pub unsafe fn register(
        ring: &io_uring::IoUring,
        block: u16,
        max: u16,
        size: u32,
        group: u16,
        incremental: bool,
    ) -> io::Result<BufRing> {
        let capacity = max.max(block).next_power_of_two();
        let invalid = |_| io::Error::from(io::ErrorKind::InvalidInput);
        let entries_layout =
            Layout::from_size_align(usize::from(capacity) * size_of::<BufRingEntry>(), PAGE).map_err(invalid)?;
        let block_layout = Layout::from_size_align(usize::from(block) * size as usize, PAGE).map_err(invalid)?;
        // SAFETY: the layout has a non-zero size (capacity > 0).
        let entries = unsafe { alloc_zeroed(entries_layout).cast::<BufRingEntry>() };
        if entries.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let mut pool = BufRing {
            entries,
            entries_layout,
            capacity,
            blocks: Vec::new(),
            block_layout,
            block,
            size,
            tail: 0,
            group,
            incremental: false,
            used: Vec::new(),
        };
        let register = |flags| {
            // SAFETY: the entry ring is page-aligned and holds `capacity`
            // entries; it outlives the ring by this function's contract.
            unsafe { ring.submitter().register_buf_ring_with_flags(entries as u64, capacity, group, flags) }
        };
        if incremental && register(IOU_PBUF_RING_INC).is_ok() {
            pool.incremental = true;
        } else {
            register(0)?;
        }
        if !pool.grow() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        Ok(pool)
    }

    /// Buffers provided so far.
    fn buffers(&self) -> usize {
        self.blocks.len() * usize::from(self.block)
    }

    /// Provides another block of buffers; false at the cap or out of memory.
    pub fn grow(&mut self) -> bool {
        let first = self.buffers();
        if first + usize::from(self.block) > usize::from(self.capacity) {
            return false;
        }
        // SAFETY: the layout has a non-zero size (block and size are > 0).
        let memory = unsafe { alloc_zeroed(self.block_layout) };
        if memory.is_null() {
            return false;
        }
        self.blocks.push(memory);
        self.used.resize(self.buffers(), 0);
        for bid in first..self.buffers() {
            self.push(bid as u16);
        }
        self.publish();
        true
    }

    fn buffer(&self, bid: u16) -> *mut u8 {
        let (block, index) = (usize::from(bid / self.block), usize::from(bid % self.block));
        // SAFETY: bid < buffers(), so the block exists and the buffer lies inside it.
        unsafe { self.blocks[block].add(index * self.size as usize) }
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
    pub fn data(&mut self, bid: u16, len: usize) -> &[u8] {
        let start = if self.incremental { self.used[usize::from(bid)] as usize } else { 0 };
        let end = (start + len).min(self.size as usize);
        if self.incremental {
            self.used[usize::from(bid)] = end as u32;
        }
        // SAFETY: bid < buffers() and start..end lies within this buffer,
        // which the kernel has finished writing (its completion arrived).
        unsafe { std::slice::from_raw_parts(self.buffer(bid).add(start), end - start) }
    }

    /// Gives buffer `bid` back after its data was processed, unless the kernel
    /// still holds it (`flags` has BUF_MORE in incremental mode).
    pub fn release(&mut self, bid: u16, flags: u32) {
        if self.incremental && flags & IORING_CQE_F_BUF_MORE != 0 {
            return;
        }
        self.used[usize::from(bid)] = 0;
        self.push(bid);
        self.publish();
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: every block and the entry ring were allocated with these
        // layouts; by `register`'s contract the ring that could write to
        // them is closed and no receive is outstanding.
        unsafe {
            for &block in &self.blocks {
                dealloc(block, self.block_layout);
            }
            dealloc(self.entries.cast(), self.entries_layout);
        }
    }
}
