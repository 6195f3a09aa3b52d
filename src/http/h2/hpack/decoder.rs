//! Decoding response header blocks (RFC 7541 §3, §6).
//!
//! One [`Decoder`] per connection holds the dynamic table the server's
//! encoder builds up, so every header block the connection receives must
//! pass through it in order, including blocks of streams the client has
//! already reset. A block is decoded whole (the connection joins HEADERS
//! and CONTINUATION fragments first) and each field is handed to a
//! callback as two borrowed slices: nothing is allocated per field. Raw
//! strings are borrowed from the block, Huffman-coded ones are decoded into
//! a scratch buffer the decoder keeps, and indexed fields are borrowed from
//! the tables.

use super::HpackError;
use super::huffman;
use super::table::{ENTRY_OVERHEAD, Name, Table};

/// The dynamic table size HTTP/2 starts with (SETTINGS_HEADER_TABLE_SIZE's
/// initial value, RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// Decodes the header blocks of one connection.
#[derive(Clone, Debug)]
pub struct Decoder {
    table: Table,
    /// Huffman-decoded strings of the field being decoded.
    scratch: Vec<u8>,
    /// The SETTINGS_HEADER_TABLE_SIZE in force: no size update may exceed it.
    limit: usize,
    /// After that setting dropped below the table's maximum size: the
    /// smallest value it had, which the next block must start by
    /// signalling (a size update at or below it, §4.2).
    required: Option<usize>,
    /// SETTINGS_MAX_HEADER_LIST_SIZE: the largest sum of name + value + 32
    /// over a block's fields that is handed out.
    max_list: usize,
}

/// Where a decoded string is: bytes of the block or of the scratch buffer.
#[derive(Clone, Copy)]
enum Str {
    Block(usize, usize),
    Scratch(usize, usize),
}

impl Decoder {
    /// A decoder for a new connection, its table as RFC 9113 starts it
    /// (4096 octets) and SETTINGS_MAX_HEADER_LIST_SIZE `max_list`
    /// (`usize::MAX` for no limit). Memory for the table is allocated here,
    /// once; a larger SETTINGS_HEADER_TABLE_SIZE, applied with
    /// [`Decoder::set_table_size_limit`], grows it.
    pub fn new(max_list: usize) -> Decoder {
        Decoder {
            table: Table::new(DEFAULT_TABLE_SIZE, DEFAULT_TABLE_SIZE),
            scratch: Vec::with_capacity(256),
            limit: DEFAULT_TABLE_SIZE,
            required: None,
            max_list,
        }
    }

    /// Applies a new SETTINGS_HEADER_TABLE_SIZE of ours once the server has
    /// acknowledged it (blocks sent before the acknowledgement may still
    /// use the old one). A value below the table's maximum size obliges the
    /// server to start its next block with a size update. The table's
    /// memory grows to twice the largest limit set, so keep it modest.
    pub fn set_table_size_limit(&mut self, limit: usize) {
        self.table.reserve(limit);
        if limit < self.table.capacity() {
            self.required = Some(self.required.map_or(limit, |r| r.min(limit)));
        }
        self.limit = limit;
    }

    /// Applies a new SETTINGS_MAX_HEADER_LIST_SIZE of ours.
    pub fn set_max_list_size(&mut self, max_list: usize) {
        self.max_list = max_list;
    }

    /// The dynamic table's size as RFC 7541 §4.1 counts it.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// The dynamic table's maximum size, as the server last set it.
    pub fn table_capacity(&self) -> usize {
        self.table.capacity()
    }

    /// The number of entries in the dynamic table.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// The `i`th entry of the dynamic table, 0 being the newest.
    pub fn table_entry(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.table.dynamic(i)
    }

    /// Decodes one complete header block, calling `field(name, value)` for
    /// each field in order. On an error other than
    /// [`HpackError::HeaderListTooLarge`] the dynamic table is no longer
    /// the server's and the connection must end (COMPRESSION_ERROR). When
    /// the fields exceed the list size limit, the block is still decoded to
    /// its end, so the table stays in step, but fields past the limit are
    /// not handed out and the error comes at the end.
    pub fn decode<F: FnMut(&[u8], &[u8])>(&mut self, block: &[u8], mut field: F) -> Result<(), HpackError> {
        let mut pos = self.size_updates(block)?;
        let max_list = self.max_list;
        let mut list = 0usize;
        let mut emit = |name: &[u8], value: &[u8]| {
            list = list.saturating_add(name.len() + value.len() + ENTRY_OVERHEAD);
            if list <= max_list {
                field(name, value);
            }
        };
        while pos < block.len() {
            pos = self.field(block, pos, &mut emit)?;
        }
        if list > max_list { Err(HpackError::HeaderListTooLarge) } else { Ok(()) }
    }

    /// Applies the size updates a block starts with (§4.2) and returns
    /// where its first field starts.
    fn size_updates(&mut self, block: &[u8]) -> Result<usize, HpackError> {
        let mut pos = 0;
        while pos < block.len() && block[pos] & 0xe0 == 0x20 {
            let (size, next) = integer(block, pos, 5)?;
            if size > self.limit {
                return Err(HpackError::SizeUpdateTooLarge);
            }
            if self.required.is_some_and(|r| size <= r) {
                self.required = None;
            }
            self.table.set_capacity(size);
            pos = next;
        }
        match self.required {
            Some(_) => Err(HpackError::SizeUpdateMissing),
            None => Ok(pos),
        }
    }

    /// Decodes the field representation at `pos`, hands the field to
    /// `emit`, updates the table and returns where the next one starts.
    #[inline]
    fn field(&mut self, block: &[u8], pos: usize, emit: &mut impl FnMut(&[u8], &[u8])) -> Result<usize, HpackError> {
        let first = block[pos];
        if first & 0x80 != 0 {
            // Indexed field (§6.1).
            let (index, next) = integer(block, pos, 7)?;
            let (name, value) = self.table.get(index)?;
            emit(name, value);
            return Ok(next);
        }
        let (prefix, indexing) = match first & 0xe0 {
            0x40 | 0x60 => (6, true),
            0x20 => return Err(HpackError::SizeUpdateNotFirst),
            // Without indexing (0000) or never indexed (0001): the same to
            // a client, which forwards nothing.
            _ => (4, false),
        };
        let (index, mut pos) = integer(block, pos, prefix)?;
        let Decoder { table, scratch, .. } = self;
        scratch.clear();
        let name = if index == 0 {
            let (s, next) = string(block, pos, scratch)?;
            pos = next;
            NameOrStr::Str(s)
        } else {
            NameOrStr::Name(table.name(index)?)
        };
        let (value, next) = string(block, pos, scratch)?;
        let value = resolve(value, block, scratch);
        let name = match name {
            NameOrStr::Str(s) => Name::Bytes(resolve(s, block, scratch)),
            NameOrStr::Name(n) => n,
        };
        match name {
            Name::Bytes(n) => emit(n, value),
            Name::Stored(start, len) => emit(table.stored(start, len), value),
        }
        if indexing {
            table.insert(name, value);
        }
        Ok(next)
    }
}

/// A literal field's name: a string of the block, or an indexed name.
enum NameOrStr {
    Str(Str),
    Name(Name<'static>),
}

/// The bytes a [`Str`] stands for.
#[inline]
fn resolve<'a>(s: Str, block: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
    match s {
        Str::Block(start, end) => &block[start..end],
        Str::Scratch(start, end) => &scratch[start..end],
    }
}

/// Reads the string literal at `pos` (§5.2): raw bytes stay in the block,
/// Huffman-coded ones are decoded onto the end of `scratch`.
#[inline]
fn string(block: &[u8], pos: usize, scratch: &mut Vec<u8>) -> Result<(Str, usize), HpackError> {
    let &first = block.get(pos).ok_or(HpackError::Truncated)?;
    let (len, start) = integer(block, pos, 7)?;
    let end = start.checked_add(len).filter(|&end| end <= block.len()).ok_or(HpackError::Truncated)?;
    if first & 0x80 == 0 {
        return Ok((Str::Block(start, end), end));
    }
    let from = scratch.len();
    huffman::decode(&block[start..end], scratch)?;
    Ok((Str::Scratch(from, scratch.len()), end))
}

/// Reads the integer at `pos` with an N-bit prefix (§5.1), `pos` being in
/// the block. Values above 2^32 - 1 and encodings longer than five
/// continuation bytes are refused: no legitimate index, length or size is
/// that large, and the bound keeps every sum of them far from overflow.
#[inline]
fn integer(block: &[u8], pos: usize, prefix: u32) -> Result<(usize, usize), HpackError> {
    let mask = (1u8 << prefix) - 1;
    let small = block[pos] & mask;
    if small < mask {
        return Ok((usize::from(small), pos + 1));
    }
    let mut value = u64::from(mask);
    let mut shift = 0;
    let mut pos = pos + 1;
    loop {
        let &b = block.get(pos).ok_or(HpackError::Truncated)?;
        pos += 1;
        value += u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 28 {
            return Err(HpackError::IntegerOverflow);
        }
    }
    match usize::try_from(value) {
        Ok(v) if value <= u64::from(u32::MAX) => Ok((v, pos)),
        _ => Err(HpackError::IntegerOverflow),
    }
}

#[cfg(test)]
#[path = "decoder_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "corpus_tests.rs"]
mod corpus_tests;
