//! HPACK's static Huffman code (RFC 7541 §5.2 and Appendix B).
//!
//! Servers Huffman-code most response strings, so decoding sits on the hot
//! path of every HTTP/2 response; encoding runs once per request template.
//! The code is canonical (codes of one length are consecutive, in symbol
//! order, and shorter codes come first), so the 257 code lengths are all the
//! data needed: the codes and the decoding tables are derived from them at
//! compile time. Decoding reads a 32-bit window: one table look-up on its
//! top ten bits finds every code of ten bits or fewer (all the common
//! characters of header values), and longer codes are found by comparing
//! the window with the upper bound of each longer length.

use super::HpackError;

/// The code length of each symbol: bytes 0..=255, then EOS (256).
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0x00
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 0x10
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 0x20
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 0x30
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 0x40
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 0x50
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 0x60
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 0x70
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 0x80
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 0x90
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 0xa0
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 0xb0
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 0xc0
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 0xd0
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 0xe0
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 0xf0
    30, // EOS
];

/// The symbol that may never appear in a string (its code is 30 ones).
const EOS: usize = 256;

/// The longest code, in bits.
const MAX_LEN: usize = 30;

/// Bits of the window resolved by one look-up in [`FAST`].
const FAST_BITS: u32 = 10;

/// The derived tables: codes for encoding, the canonical bounds for
/// decoding.
struct Tables {
    /// Each symbol's code, right-aligned.
    codes: [u32; 257],
    /// Symbols ordered by (length, symbol): the canonical order.
    sorted: [u16; 257],
    /// For each length: the first code of that length, right-aligned.
    first: [u32; MAX_LEN + 1],
    /// For each length: where its symbols start in `sorted`.
    offset: [u16; MAX_LEN + 1],
    /// For each length: one past its last code, left-aligned in 32 bits
    /// (so 2^32 for the longest length). A window below it and at or above
    /// the previous length's bound holds a code of this length.
    limit: [u64; MAX_LEN + 1],
    /// Indexed by a window's top [`FAST_BITS`] bits: `length << 8 | symbol`
    /// when a code of at most that many bits starts there, else 0.
    fast: [u16; 1 << FAST_BITS],
}

/// Assigns codes in canonical order and fills every table.
const fn build() -> Tables {
    let mut t = Tables {
        codes: [0; 257],
        sorted: [0; 257],
        first: [0; MAX_LEN + 1],
        offset: [0; MAX_LEN + 1],
        limit: [0; MAX_LEN + 1],
        fast: [0; 1 << FAST_BITS],
    };
    let mut code: u32 = 0;
    let mut next: usize = 0;
    let mut len = 1;
    while len <= MAX_LEN {
        t.first[len] = code;
        t.offset[len] = next as u16;
        let mut sym = 0;
        while sym < 257 {
            if LENGTHS[sym] as usize == len {
                t.codes[sym] = code;
                t.sorted[next] = sym as u16;
                if len <= FAST_BITS as usize {
                    let spread = FAST_BITS as usize - len;
                    let mut fill = 0;
                    while fill < 1 << spread {
                        t.fast[((code as usize) << spread) | fill] = ((len << 8) | sym) as u16;
                        fill += 1;
                    }
                }
                code += 1;
                next += 1;
            }
            sym += 1;
        }
        t.limit[len] = (code as u64) << (32 - len);
        code <<= 1;
        len += 1;
    }
    t
}

static TABLES: Tables = build();

/// The code of byte `b` and its length in bits (RFC 7541 Appendix B).
pub fn code(b: u8) -> (u32, u32) {
    (TABLES.codes[usize::from(b)], u32::from(LENGTHS[usize::from(b)]))
}

/// The length in bytes of `src` Huffman-coded, padding included.
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src.iter().map(|&b| usize::from(LENGTHS[usize::from(b)])).sum();
    bits.div_ceil(8)
}

/// Appends `src` Huffman-coded to `out`, padded with the most significant
/// bits of EOS (ones) to a whole byte.
pub fn encode(src: &[u8], out: &mut Vec<u8>) {
    out.reserve(encoded_len(src));
    // At most 7 + 30 bits are pending, so a u64 never loses any.
    let mut pending: u64 = 0;
    let mut bits: u32 = 0;
    for &b in src {
        let (code, len) = code(b);
        pending = (pending << len) | u64::from(code);
        bits += len;
        while bits >= 8 {
            bits -= 8;
            out.push((pending >> bits) as u8);
        }
    }
    if bits > 0 {
        out.push(((pending << (8 - bits)) as u8) | (0xff >> bits));
    }
}

/// The symbol whose code starts a left-aligned 32-bit window, and that
/// code's length.
#[inline]
fn symbol(window: u32) -> (usize, u32) {
    let entry = TABLES.fast[(window >> (32 - FAST_BITS)) as usize];
    if entry != 0 {
        return (usize::from(entry & 0xff), u32::from(entry >> 8));
    }
    let mut len = FAST_BITS as usize + 1;
    while u64::from(window) >= TABLES.limit[len] {
        len += 1;
    }
    let index = (window >> (32 - len)) - TABLES.first[len];
    (usize::from(TABLES.sorted[usize::from(TABLES.offset[len]) + index as usize]), len as u32)
}

/// Appends the Huffman-coded `src` decoded to `out`. Fails on EOS in the
/// string and on padding that is longer than 7 bits or not all ones
/// (RFC 7541 §5.2); `out` is then left as it was.
pub fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), HpackError> {
    let start = out.len();
    // The shortest code is 5 bits: at most 8/5 output bytes per input byte.
    out.resize(start + src.len() * 8 / 5, 0);
    let mut reader = Bits { src, next: 0, pending: 0, bits: 0 };
    let mut written = start;
    loop {
        reader.refill();
        if reader.bits < MAX_LEN as u32 {
            // The input is exhausted: the last few codes, then padding.
            return match reader.tail(&mut out[written..]) {
                Ok(n) => {
                    out.truncate(written + n);
                    Ok(())
                }
                Err(e) => {
                    out.truncate(start);
                    Err(e)
                }
            };
        }
        while reader.bits >= MAX_LEN as u32 {
            let (sym, len) = symbol((reader.pending >> 32) as u32);
            if sym == EOS {
                out.truncate(start);
                return Err(HpackError::HuffmanEos);
            }
            out[written] = sym as u8;
            written += 1;
            reader.pending <<= len;
            reader.bits -= len;
        }
    }
}

/// A reader of `src`'s bits, most significant first.
struct Bits<'a> {
    src: &'a [u8],
    next: usize,
    /// Unread bits, left-aligned: the first `bits` are real, the rest are
    /// zeros or, after an eight-byte load, the same stream bits that the
    /// next load puts there again.
    pending: u64,
    bits: u32,
}

impl Bits<'_> {
    /// Tops `pending` up to at least 56 bits, or to the end of the input.
    #[inline]
    fn refill(&mut self) {
        if let Some(word) = self.src.get(self.next..self.next + 8) {
            let word = u64::from_be_bytes(word.try_into().unwrap_or_default());
            self.pending |= word >> self.bits;
            let take = (63 - self.bits) / 8;
            self.next += take as usize;
            self.bits += take * 8;
            return;
        }
        while self.bits <= 56 && self.next < self.src.len() {
            self.pending |= u64::from(self.src[self.next]) << (56 - self.bits);
            self.bits += 8;
            self.next += 1;
        }
    }

    /// Decodes the fewer than 30 bits left at the end of the input into
    /// `out`, returning how many bytes it wrote: whole codes, then at most
    /// 7 bits of padding, all ones.
    fn tail(&mut self, out: &mut [u8]) -> Result<usize, HpackError> {
        let mut written = 0;
        while self.bits > 0 {
            // Read past the end as ones, the bits a valid padding is made
            // of: no code but EOS (30 bits) is all ones.
            let window = (self.pending >> 32) as u32 | (u32::MAX >> self.bits);
            let (sym, len) = symbol(window);
            if len > self.bits {
                return if self.bits <= 7 && window == u32::MAX {
                    Ok(written)
                } else {
                    Err(HpackError::HuffmanPadding)
                };
            }
            out[written] = sym as u8;
            written += 1;
            self.pending <<= len;
            self.bits -= len;
        }
        Ok(written)
    }
}

#[cfg(test)]
#[path = "huffman_tests.rs"]
mod tests;
