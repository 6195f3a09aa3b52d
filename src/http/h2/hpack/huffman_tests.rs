//! The Huffman code against RFC 7541 Appendix B's codes and C.4's strings,
//! every byte value, every input of one and two bytes, and bad padding.

use super::super::test_support::{unhex, xorshift};
use super::*;

fn decoded(src: &[u8]) -> Result<Vec<u8>, HpackError> {
    let mut out = Vec::new();
    decode(src, &mut out).map(|()| out)
}

fn encoded(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(src, &mut out);
    out
}

#[test]
fn derived_codes_are_appendix_b() {
    // A sample across every length band of the RFC's table.
    let expected: [(usize, u32, u32); 12] = [
        (0, 0x1ff8, 13),
        (1, 0x7fffd8, 23),
        (9, 0xffffea, 24),
        (10, 0x3ffffffc, 30),
        (b' ' as usize, 0x14, 6),
        (b'0' as usize, 0x0, 5),
        (b'a' as usize, 0x3, 5),
        (b'z' as usize, 0x7b, 7),
        (b'<' as usize, 0x7ffc, 15),
        (b'\\' as usize, 0x7fff0, 19),
        (0xff, 0x3ffffee, 26),
        (EOS, 0x3fffffff, 30),
    ];
    for (sym, code, len) in expected {
        assert_eq!((TABLES.codes[sym], u32::from(LENGTHS[sym])), (code, len), "symbol {sym}");
    }
    // Kraft's equality: a complete prefix code.
    let kraft: u64 = LENGTHS.iter().map(|&l| 1u64 << (30 - l)).sum();
    assert_eq!(kraft, 1 << 30);
}

#[test]
fn rfc_c4_strings() {
    let cases = [
        ("www.example.com", "f1e3c2e5f23a6ba0ab90f4ff"),
        ("no-cache", "a8eb10649cbf"),
        ("custom-key", "25a849e95ba97d7f"),
        ("custom-value", "25a849e95bb8e8b4bf"),
        ("302", "6402"),
        ("private", "aec3771a4b"),
        ("Mon, 21 Oct 2013 20:13:21 GMT", "d07abe941054d444a8200595040b8166e082a62d1bff"),
        ("https://www.example.com", "9d29ad171863c78f0b97c8e9ae82ae43d3"),
        ("gzip", "9bd9ab"),
    ];
    for (text, hex) in cases {
        assert_eq!(encoded(text.as_bytes()), unhex(hex), "{text}");
        assert_eq!(encoded_len(text.as_bytes()), hex.len() / 2, "{text}");
        assert_eq!(decoded(&unhex(hex)).unwrap(), text.as_bytes(), "{text}");
    }
}

#[test]
fn every_byte_value_round_trips() {
    for b in 0..=255u8 {
        for n in 1..=9 {
            let src = vec![b; n];
            let coded = encoded(&src);
            assert_eq!(coded.len(), encoded_len(&src), "byte {b} x{n}");
            assert_eq!(decoded(&coded).unwrap(), src, "byte {b} x{n}");
        }
    }
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(decoded(&encoded(&all)).unwrap(), all);
    let reversed: Vec<u8> = (0..=255).rev().collect();
    assert_eq!(decoded(&encoded(&reversed)).unwrap(), reversed);
}

/// Strings of 5-bit codes only decode to the most bytes per input byte
/// (8/5): the output must have room for all of them.
#[test]
fn the_densest_strings_round_trip() {
    for len in 0..300 {
        let src: Vec<u8> = b"012aceiost".iter().cycle().take(len).copied().collect();
        let coded = encoded(&src);
        assert_eq!(coded.len(), (len * 5).div_ceil(8));
        assert_eq!(decoded(&coded).unwrap(), src, "{len}");
    }
}

#[test]
fn empty_string() {
    assert_eq!(encoded(b""), b"");
    assert_eq!(encoded_len(b""), 0);
    assert_eq!(decoded(b"").unwrap(), b"");
}

#[test]
fn eos_in_string_is_refused() {
    // 30 ones: EOS, whatever follows.
    assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xfc]), Err(HpackError::HuffmanEos));
    assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xff]), Err(HpackError::HuffmanEos));
    // 'a' (00011) then EOS.
    assert_eq!(decoded(&[0x1f, 0xff, 0xff, 0xff, 0xfe]), Err(HpackError::HuffmanEos));
}

#[test]
fn bad_padding_is_refused() {
    // 'a' then 11 ones: padding longer than 7 bits.
    assert_eq!(decoded(&[0x1f, 0xff]), Err(HpackError::HuffmanPadding));
    // A whole byte of ones.
    assert_eq!(decoded(&[0xff]), Err(HpackError::HuffmanPadding));
    // 'a' then 000: padding that is not ones.
    assert_eq!(decoded(&[0x18]), Err(HpackError::HuffmanPadding));
    // 'a' then 110.
    assert_eq!(decoded(&[0x1e]), Err(HpackError::HuffmanPadding));
    // 'a' then 111: fine.
    assert_eq!(decoded(&[0x1f]).unwrap(), b"a");
    // 29 ones at the end: a truncated EOS, too long for padding.
    assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xf8]), Err(HpackError::HuffmanPadding));
}

/// Every valid string has exactly one encoding (the code is prefix-free
/// and padding is at most 7 ones), so whatever decodes must re-encode to
/// the same bytes; this checks all 65,792 inputs of one or two bytes.
#[test]
fn every_short_input_decodes_canonically_or_fails() {
    let mut ok = 0;
    for first in 0..=255u8 {
        let one = [first];
        if let Ok(s) = decoded(&one) {
            assert_eq!(encoded(&s), one);
            ok += 1;
        }
        for second in 0..=255u8 {
            let two = [first, second];
            if let Ok(s) = decoded(&two) {
                assert_eq!(encoded(&s), two, "{two:02x?}");
                ok += 1;
            }
        }
    }
    assert!(ok > 1000, "only {ok} valid inputs");
}

#[test]
fn seeded_random_strings_round_trip() {
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2000 {
        let len = (next() % 64) as usize;
        // Half the strings from printable ASCII, half from all bytes.
        let printable = next().is_multiple_of(2);
        let src: Vec<u8> =
            (0..len).map(|_| if printable { 0x20 + (next() % 95) as u8 } else { next() as u8 }).collect();
        let coded = encoded(&src);
        assert_eq!(coded.len(), encoded_len(&src));
        assert_eq!(decoded(&coded).unwrap(), src);
    }
}
