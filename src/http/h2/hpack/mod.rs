//! HPACK, HTTP/2's header compression (RFC 7541), for the client side.
//!
//! Responses are decoded by a per-connection [`Decoder`] that keeps the
//! server's dynamic table and hands each field to a callback as borrowed
//! slices, without allocating. Requests are encoded once, before the run,
//! into blocks that use only the static table ([`encode_request`]), so the
//! same bytes are valid on any connection at any time. Errors are small
//! [`HpackError`] values that say what the peer did wrong.

pub mod decoder;
pub mod encoder;
pub mod huffman;
mod table;
#[cfg(test)]
mod test_support;

pub use decoder::{DEFAULT_TABLE_SIZE, Decoder};
pub use encoder::{encode_field, encode_integer, encode_request, encode_size_update, encode_string, static_index};
pub use table::ENTRY_OVERHEAD;

/// Why a header block could not be decoded. All but
/// [`HpackError::HeaderListTooLarge`] leave the dynamic table out of step
/// with the server's: the connection must end with COMPRESSION_ERROR
/// (RFC 9113 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HpackError {
    /// The block ends inside a field representation.
    Truncated,
    /// An integer above 2^32 - 1 or longer than five continuation bytes.
    IntegerOverflow,
    /// Index 0, or an index past the static and dynamic tables.
    BadIndex,
    /// A Huffman-coded string contains the EOS symbol.
    HuffmanEos,
    /// A Huffman-coded string's padding is longer than 7 bits or not the
    /// most significant bits of EOS.
    HuffmanPadding,
    /// A dynamic table size update above our SETTINGS_HEADER_TABLE_SIZE.
    SizeUpdateTooLarge,
    /// A dynamic table size update after a field of the block.
    SizeUpdateNotFirst,
    /// A block after we lowered SETTINGS_HEADER_TABLE_SIZE does not start
    /// with a size update at or below the lowest value.
    SizeUpdateMissing,
    /// The fields add up to more than our SETTINGS_MAX_HEADER_LIST_SIZE
    /// (name + value + 32 each). The block was decoded to its end, so the
    /// table is in step: this can end the stream alone.
    HeaderListTooLarge,
}

impl HpackError {
    /// A short, stable description of what the peer did wrong.
    pub fn as_str(self) -> &'static str {
        match self {
            HpackError::Truncated => "HPACK block ends inside a field",
            HpackError::IntegerOverflow => "HPACK integer too large",
            HpackError::BadIndex => "HPACK index 0 or past the tables",
            HpackError::HuffmanEos => "HPACK Huffman string contains EOS",
            HpackError::HuffmanPadding => "HPACK Huffman padding too long or not all ones",
            HpackError::SizeUpdateTooLarge => "HPACK table size update above our SETTINGS_HEADER_TABLE_SIZE",
            HpackError::SizeUpdateNotFirst => "HPACK table size update after a field",
            HpackError::SizeUpdateMissing => "HPACK table size update missing after our settings shrank it",
            HpackError::HeaderListTooLarge => "header list larger than our SETTINGS_MAX_HEADER_LIST_SIZE",
        }
    }

    /// Whether the decoder's table is out of step, so the connection must
    /// end with COMPRESSION_ERROR.
    pub fn is_compression_error(self) -> bool {
        self != HpackError::HeaderListTooLarge
    }
}

impl std::fmt::Display for HpackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for HpackError {}
