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
    /// Ring of entries shared with the kernel (page-aligned, `count` entries).
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    /// The buffers themselves, `count` x `size` bytes.
    memory: *mut u8,
    memory_layout: Layout,
    count: u16,
    size: u32,
    tail: u16,
    pub group: u16,
    pub incremental: bool,
    /// Bytes of each buffer already handed out (incremental mode).
    used: Box<[u32]>,
}

impl BufRing {
    /// Allocates `count` buffers of `size` bytes and registers them as group
    /// `group`, incrementally if `incremental` and the kernel allows it.
    pub fn register(
        ring: &io_uring::IoUring,
        count: u16,
        size: u32,
        group: u16,
        incremental: bool,
    ) -> io::Result<BufRing> {
        assert!(count.is_power_of_two(), "buffer rings have a power-of-two size");
        let entries_layout = Layout::from_size_align(usize::from(count) * size_of::<BufRingEntry>(), PAGE)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let memory_layout = Layout::from_size_align(usize::from(count) * size as usize, PAGE)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: both layouts have a non-zero size (count and size are > 0).
        let (entries, memory) =
            unsafe { (alloc_zeroed(entries_layout).cast::<BufRingEntry>(), alloc_zeroed(memory_layout)) };
        if entries.is_null() || memory.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let mut ring_buf = BufRing {
            entries,
            entries_layout,
            memory,
            memory_layout,
            count,
            size,
            tail: 0,
            group,
            incremental: false,
            used: vec![0; usize::from(count)].into_boxed_slice(),
        };
        let register = |flags| {
            // SAFETY: the entry ring is page-aligned, holds `count` entries and
            // is freed only in Drop, after the io_uring instance that uses it
            // has been dropped (the worker declares the ring first).
            unsafe { ring.submitter().register_buf_ring_with_flags(entries as u64, count, group, flags) }
        };
        if incremental && register(IOU_PBUF_RING_INC).is_ok() {
            ring_buf.incremental = true;
        } else {
            register(0)?;
        }
        for bid in 0..count {
            ring_buf.push(bid);
        }
        ring_buf.publish();
        Ok(ring_buf)
    }

    fn push(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (self.count - 1));
        // SAFETY: `slot` < count, inside the entry ring; the kernel only reads
        // entries between its head and the published tail, and this one is past it.
        let entry = unsafe { &mut *self.entries.add(slot) };
        // SAFETY: bid < count, so the buffer lies inside `memory`.
        entry.set_addr(unsafe { self.memory.add(usize::from(bid) * self.size as usize) } as u64);
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

    /// The `len` bytes a receive completion with `flags` delivered in buffer `bid`.
    pub fn data(&mut self, bid: u16, len: usize) -> &[u8] {
        let start = if self.incremental { self.used[usize::from(bid)] as usize } else { 0 };
        let end = (start + len).min(self.size as usize);
        if self.incremental {
            self.used[usize::from(bid)] = end as u32;
        }
        // SAFETY: bid < count and start..end lies within this buffer, which the
        // kernel has finished writing (its completion has been received).
        unsafe {
            std::slice::from_raw_parts(self.memory.add(usize::from(bid) * self.size as usize + start), end - start)
        }
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
        // SAFETY: both blocks were allocated in `register` with these layouts;
        // the io_uring instance that could still write to them has been
        // dropped before this (field order in the worker).
        unsafe {
            dealloc(self.entries.cast(), self.entries_layout);
            dealloc(self.memory, self.memory_layout);
        }
    }
}
