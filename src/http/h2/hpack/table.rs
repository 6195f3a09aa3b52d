//! HPACK's index address space: the static table (RFC 7541 Appendix A)
//! followed by the decoder's dynamic table (§2.3, §4).
//!
//! The dynamic table lives in memory allocated once per connection, so
//! adding a field on the hot path copies bytes and allocates nothing. The
//! entries' bytes (name then value) are appended to a buffer twice the
//! largest allowed table size; evicting an entry only forgets it, and when
//! the buffer's end is reached the live bytes are moved to its start. Each
//! entry's bytes stay contiguous, so a field is handed out as two plain
//! slices. The entries' positions are kept in a ring with room for the
//! most entries the size allows (each costs at least 32 octets).

use super::HpackError;

/// What each entry adds to the table's size besides its name and value
/// (RFC 7541 §4.1).
pub const ENTRY_OVERHEAD: usize = 32;

/// The static table, index 1 first.
pub static STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// Where one dynamic entry's bytes are in the buffer.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    start: usize,
    name_len: usize,
    value_len: usize,
}

/// The name of a field about to be added: bytes from outside the table, or
/// an entry's name already in the buffer (`start`, `len`), which may be
/// evicted by the very insertion that copies it (RFC 7541 §4.4).
#[derive(Clone, Copy, Debug)]
pub enum Name<'a> {
    Bytes(&'a [u8]),
    Stored(usize, usize),
}

/// The static table and the dynamic table behind it.
#[derive(Clone, Debug)]
pub struct Table {
    /// Entries' bytes; its length is twice the allowed maximum size.
    bytes: Vec<u8>,
    /// Where the next entry's bytes go.
    end: usize,
    /// A ring of entry positions; `oldest` is its first live slot.
    ring: Vec<Entry>,
    oldest: usize,
    len: usize,
    /// The table's size as RFC 7541 §4.1 counts it.
    size: usize,
    /// Its maximum size, as last set by a size update (§4.2).
    capacity: usize,
}

impl Table {
    /// An empty table of maximum size `capacity`, with memory for a
    /// maximum size up to `limit` (at least `capacity`).
    pub fn new(capacity: usize, limit: usize) -> Table {
        let limit = limit.max(capacity);
        Table {
            bytes: vec![0; 2 * limit],
            end: 0,
            ring: vec![Entry::default(); (limit / ENTRY_OVERHEAD + 1).next_power_of_two()],
            oldest: 0,
            len: 0,
            size: 0,
            capacity,
        }
    }

    /// The table's size (§4.1).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Its maximum size (§4.2).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of dynamic entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The largest maximum size the memory holds.
    fn limit(&self) -> usize {
        self.bytes.len() / 2
    }

    /// Wraps a position in the ring (whose length is a power of two).
    #[inline]
    fn slot(&self, position: usize) -> usize {
        position & (self.ring.len() - 1)
    }

    /// The `i`th dynamic entry, 0 being the newest.
    fn entry(&self, i: usize) -> Entry {
        self.ring[self.slot(self.oldest + self.len - 1 - i)]
    }

    /// The `i`th dynamic entry's name and value, 0 being the newest.
    pub fn dynamic(&self, i: usize) -> Option<(&[u8], &[u8])> {
        if i >= self.len {
            return None;
        }
        let e = self.entry(i);
        let name = &self.bytes[e.start..e.start + e.name_len];
        Some((name, &self.bytes[e.start + e.name_len..e.start + e.name_len + e.value_len]))
    }

    /// The field at HPACK index `index` (1-based, static table first).
    #[inline]
    pub fn get(&self, index: usize) -> Result<(&[u8], &[u8]), HpackError> {
        match index {
            1..=61 => Ok(STATIC[index - 1]),
            0 => Err(HpackError::BadIndex),
            _ => self.dynamic(index - 62).ok_or(HpackError::BadIndex),
        }
    }

    /// The name at HPACK index `index`, in a form [`Table::insert`] takes.
    #[inline]
    pub fn name(&self, index: usize) -> Result<Name<'static>, HpackError> {
        match index {
            1..=61 => Ok(Name::Bytes(STATIC[index - 1].0)),
            0 => Err(HpackError::BadIndex),
            _ if index - 62 < self.len => {
                let e = self.entry(index - 62);
                Ok(Name::Stored(e.start, e.name_len))
            }
            _ => Err(HpackError::BadIndex),
        }
    }

    /// The bytes of a [`Name::Stored`].
    pub fn stored(&self, start: usize, len: usize) -> &[u8] {
        &self.bytes[start..start + len]
    }

    /// Forgets the oldest entry; its bytes stay until they are overwritten.
    fn evict(&mut self) {
        let e = self.ring[self.oldest];
        self.size -= e.name_len + e.value_len + ENTRY_OVERHEAD;
        self.oldest = self.slot(self.oldest + 1);
        self.len -= 1;
    }

    /// Sets the maximum size (a size update, §4.3), evicting entries
    /// until the table fits. The caller has checked it against the limit.
    pub fn set_capacity(&mut self, capacity: usize) {
        debug_assert!(capacity <= self.limit());
        while self.size > capacity {
            self.evict();
        }
        self.capacity = capacity;
    }

    /// Makes room for a maximum size up to `limit` (cold: on a SETTINGS
    /// change), keeping the entries.
    pub fn reserve(&mut self, limit: usize) {
        if limit <= self.limit() {
            return;
        }
        let mut grown = Table::new(self.capacity, limit);
        for i in (0..self.len).rev() {
            let e = self.entry(i);
            let (name, value) = self.bytes[e.start..].split_at(e.name_len);
            grown.insert(Name::Bytes(name), &value[..e.value_len]);
        }
        *self = grown;
    }

    /// Adds a field as the newest entry, evicting old ones first (§4.4).
    /// A field larger than the maximum size empties the table.
    pub fn insert(&mut self, name: Name<'_>, value: &[u8]) {
        let name_len = match name {
            Name::Bytes(b) => b.len(),
            Name::Stored(_, len) => len,
        };
        let size = name_len + value.len() + ENTRY_OVERHEAD;
        if size > self.capacity {
            self.clear();
            return;
        }
        while self.size + size > self.capacity {
            self.evict();
        }
        let mut name = name;
        if self.end + name_len + value.len() > self.bytes.len() {
            self.compact(&mut name);
        }
        let start = self.end;
        match name {
            Name::Bytes(b) => self.bytes[start..start + name_len].copy_from_slice(b),
            Name::Stored(from, _) => self.bytes.copy_within(from..from + name_len, start),
        }
        self.bytes[start + name_len..start + name_len + value.len()].copy_from_slice(value);
        self.end = start + name_len + value.len();
        let slot = self.slot(self.oldest + self.len);
        self.ring[slot] = Entry { start, name_len, value_len: value.len() };
        self.len += 1;
        self.size += size;
    }

    /// Evicts every entry; the maximum size stays.
    fn clear(&mut self) {
        while self.len > 0 {
            self.evict();
        }
        self.end = 0;
    }

    /// Moves the live bytes (and a stored name about to be copied, which
    /// may lie before them) to the buffer's start. They fill at most the
    /// table's maximum size, so half the buffer is then free, enough for
    /// any entry that fits the table.
    fn compact(&mut self, name: &mut Name<'_>) {
        let mut from = if self.len > 0 { self.ring[self.oldest].start } else { self.end };
        if let Name::Stored(start, _) = name {
            from = from.min(*start);
            *start -= from;
        }
        self.bytes.copy_within(from..self.end, 0);
        self.end -= from;
        for i in 0..self.len {
            let slot = self.slot(self.oldest + i);
            self.ring[slot].start -= from;
        }
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
