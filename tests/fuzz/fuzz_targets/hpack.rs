//! Any bytes as a run of HPACK header blocks on one connection: no panic,
//! the table within its maximum size, the list limit kept, and every block
//! that decodes re-encodes (as literals, Huffman where shorter) to a block
//! that decodes to the same fields on a fresh decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vastar::http::h2::hpack::{self, Decoder, HpackError};

const LIMITS: [usize; 4] = [0, 256, 4096, 65536];

fuzz_target!(|data: &[u8]| {
    let Some((&setup, mut rest)) = data.split_first() else { return };
    let max_list = if setup & 4 != 0 { 300 } else { usize::MAX };
    let mut decoder = Decoder::new(max_list);
    decoder.set_table_size_limit(LIMITS[usize::from(setup & 3)]);
    // Each block: a length byte, then that many bytes (or what is left).
    while let Some((&len, tail)) = rest.split_first() {
        let (block, next) = tail.split_at(usize::from(len).min(tail.len()));
        rest = next;
        let mut fields = Vec::new();
        let mut list = 0;
        let result = decoder.decode(block, |n, v| {
            list += n.len() + v.len() + 32;
            fields.push((n.to_vec(), v.to_vec()));
        });
        assert!(decoder.table_size() <= decoder.table_capacity());
        assert!(list <= max_list);
        match result {
            Ok(()) => check_reencoding(&fields),
            Err(HpackError::HeaderListTooLarge) => {}
            Err(_) => return,
        }
    }
});

fn check_reencoding(fields: &[(Vec<u8>, Vec<u8>)]) {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0);
        hpack::encode_string(name, &mut block);
        hpack::encode_string(value, &mut block);
    }
    let mut again = Vec::new();
    Decoder::new(usize::MAX).decode(&block, |n, v| again.push((n.to_vec(), v.to_vec()))).unwrap();
    assert_eq!(again, fields);
}
