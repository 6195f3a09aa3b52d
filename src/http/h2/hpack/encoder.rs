//! Encoding request header blocks (RFC 7541 §6.1, §6.2.2).
//!
//! A load generator sends the same request many times, so its header block
//! is encoded once before the run and the same bytes are sent on every
//! connection, any number of times. That only works if the block does not
//! depend on a connection's dynamic table: every field is either an index
//! into the static table or a literal *without indexing*, whose name is a
//! static index where the static table has it. A literal string is
//! Huffman-coded when that makes it shorter.

use std::borrow::Cow;

use super::huffman;
use super::table::STATIC;

/// Appends `value` as an integer with a `prefix`-bit prefix (§5.1); `flags`
/// are the first byte's bits above the prefix.
pub fn encode_integer(value: usize, prefix: u32, flags: u8, out: &mut Vec<u8>) {
    let mask = (1usize << prefix) - 1;
    if value < mask {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Appends `s` as a string literal (§5.2), Huffman-coded if that is
/// shorter than the raw bytes.
pub fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    let coded = huffman::encoded_len(s);
    if coded < s.len() {
        encode_integer(coded, 7, 0x80, out);
        huffman::encode(s, out);
    } else {
        encode_integer(s.len(), 7, 0, out);
        out.extend_from_slice(s);
    }
}

/// Appends a dynamic table size update (§6.3). A block encoded here never
/// uses the dynamic table, but after the server lowers its
/// SETTINGS_HEADER_TABLE_SIZE its decoder may insist on seeing one (§4.2):
/// an update to 0, one byte, is always within the limit.
pub fn encode_size_update(size: usize, out: &mut Vec<u8>) {
    encode_integer(size, 5, 0x20, out);
}

/// The static table's index of `(name, value)`, or failing that of the
/// first entry named `name`, with whether the value matched too.
pub fn static_index(name: &[u8], value: &[u8]) -> Option<(usize, bool)> {
    let mut named = None;
    for (i, &(n, v)) in STATIC.iter().enumerate() {
        if n == name {
            if v == value {
                return Some((i + 1, true));
            }
            named = named.or(Some((i + 1, false)));
        }
    }
    named
}

/// Appends one field, its name lowercased (RFC 9113 §8.2.1): an indexed
/// field if the static table has both name and value, else a literal
/// without indexing (§6.2.2).
pub fn encode_field(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    let name: Cow<[u8]> = if name.iter().any(u8::is_ascii_uppercase) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    };
    match static_index(&name, value) {
        Some((index, true)) => encode_integer(index, 7, 0x80, out),
        Some((index, false)) => {
            encode_integer(index, 4, 0, out);
            encode_string(value, out);
        }
        None => {
            out.push(0);
            encode_string(&name, out);
            encode_string(value, out);
        }
    }
}

/// Appends a request's header block: the pseudo-header fields in the
/// usual order, then `fields`. Connection-specific fields (Connection,
/// Keep-Alive, Transfer-Encoding, Upgrade, Host, ...) are the caller's to
/// leave out (RFC 9113 §8.2.2, §8.3.1).
pub fn encode_request(
    method: &[u8],
    scheme: &[u8],
    authority: &[u8],
    path: &[u8],
    fields: &[(&[u8], &[u8])],
    out: &mut Vec<u8>,
) {
    encode_field(b":method", method, out);
    encode_field(b":scheme", scheme, out);
    encode_field(b":authority", authority, out);
    encode_field(b":path", path, out);
    for &(name, value) in fields {
        encode_field(name, value, out);
    }
}

#[cfg(test)]
#[path = "encoder_tests.rs"]
mod tests;
