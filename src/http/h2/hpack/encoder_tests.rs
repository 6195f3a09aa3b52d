//! The encoder against RFC 7541 C.1's integers and known blocks, and
//! seeded random requests decoded back by [`Decoder`] on connections in
//! any state: the blocks never touch the dynamic table.

use super::super::Decoder;
use super::super::test_support::xorshift;
use super::*;

fn block(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut out);
    out
}

fn decode(d: &mut Decoder, block: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut fields = Vec::new();
    d.decode(block, |n, v| fields.push((n.to_vec(), v.to_vec()))).unwrap();
    fields
}

#[test]
fn c1_integers() {
    assert_eq!(block(|o| encode_integer(10, 5, 0, o)), [10]);
    assert_eq!(block(|o| encode_integer(1337, 5, 0, o)), [31, 154, 10]);
    assert_eq!(block(|o| encode_integer(42, 8, 0, o)), [42]);
    // The prefix's maximum needs a zero continuation byte.
    assert_eq!(block(|o| encode_integer(31, 5, 0xe0, o)), [0xff, 0]);
    assert_eq!(block(|o| encode_integer(u32::MAX as usize, 7, 0, o)), [0x7f, 0x80, 0xff, 0xff, 0xff, 0x0f]);
}

#[test]
fn size_updates() {
    assert_eq!(block(|o| encode_size_update(0, o)), [0x20]);
    assert_eq!(block(|o| encode_size_update(4096, o)), [0x3f, 0xe1, 0x1f]);
}

#[test]
fn strings_take_the_shorter_form() {
    // C.4.1's authority, Huffman-coded: 12 bytes instead of 15.
    let coded = block(|o| encode_string(b"www.example.com", o));
    assert_eq!(coded[0], 0x80 | 12);
    // Bytes with long codes stay raw.
    assert_eq!(block(|o| encode_string(&[0, 1, 2], o)), [3, 0, 1, 2]);
    assert_eq!(block(|o| encode_string(b"", o)), [0]);
}

#[test]
fn static_lookups() {
    assert_eq!(static_index(b":method", b"GET"), Some((2, true)));
    assert_eq!(static_index(b":method", b"POST"), Some((3, true)));
    assert_eq!(static_index(b":method", b"PUT"), Some((2, false)));
    assert_eq!(static_index(b":path", b"/index.html"), Some((5, true)));
    assert_eq!(static_index(b"accept-encoding", b"gzip, deflate"), Some((16, true)));
    assert_eq!(static_index(b"user-agent", b"vastar"), Some((58, false)));
    assert_eq!(static_index(b"x-custom", b""), None);
}

/// C.4.1's request, in this encoder's order and without indexing.
#[test]
fn a_known_request_block() {
    let encoded = block(|o| encode_request(b"GET", b"http", b"www.example.com", b"/", &[], o));
    let mut expected = vec![0x82, 0x86, 0x01, 0x8c];
    expected.extend_from_slice(&[0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff]);
    expected.push(0x84);
    assert_eq!(encoded, expected);
}

#[test]
fn names_are_lowercased() {
    let encoded = block(|o| encode_field(b"X-Trace-ID", b"Abc", o));
    let fields = decode(&mut Decoder::new(usize::MAX), &encoded);
    assert_eq!(fields, [(b"x-trace-id".to_vec(), b"Abc".to_vec())]);
    let encoded = block(|o| encode_field(b"User-Agent", b"vastar", o));
    assert_eq!(encoded[0], 0x0f, "user-agent by static index 58");
}

/// Random requests decode back to what was encoded, on a fresh decoder and
/// on one whose table is full of other fields, and leave both tables as
/// they were.
#[test]
fn seeded_random_requests_round_trip_anywhere() {
    let mut next = xorshift(0x0123_4567_89ab_cdef);
    let mut busy = Decoder::new(usize::MAX);
    let c3 = [
        0x82, 0x86, 0x84, 0x41, 0x0f, b'w', b'w', b'w', b'.', b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b'c',
        b'o', b'm',
    ];
    busy.decode(&c3, |_, _| {}).unwrap();
    let names: [&[u8]; 8] =
        [b"accept", b"user-agent", b"x-request-id", b"content-type", b"cookie", b"accept-encoding", b"", b"x"];
    let methods: [&[u8]; 4] = [b"GET", b"POST", b"PUT", b"DELETE"];
    for _ in 0..1000 {
        let text = |max: u64, next: &mut dyn FnMut() -> u64| -> Vec<u8> {
            let len = next() % max;
            (0..len).map(|_| if next().is_multiple_of(4) { next() as u8 } else { 0x20 + (next() % 95) as u8 }).collect()
        };
        let method = methods[(next() % 4) as usize];
        let scheme: &[u8] = if next().is_multiple_of(2) { b"http" } else { b"https" };
        let authority = text(30, &mut next);
        let path = text(100, &mut next);
        let count = next() % 6;
        let mut owned = Vec::new();
        for _ in 0..count {
            let name = if next().is_multiple_of(2) {
                names[(next() % 8) as usize].to_vec()
            } else {
                text(20, &mut next).to_ascii_lowercase()
            };
            owned.push((name, text(60, &mut next)));
        }
        let fields: Vec<(&[u8], &[u8])> = owned.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        let encoded = block(|o| encode_request(method, scheme, &authority, &path, &fields, o));
        let mut expected = vec![
            (b":method".to_vec(), method.to_vec()),
            (b":scheme".to_vec(), scheme.to_vec()),
            (b":authority".to_vec(), authority.clone()),
            (b":path".to_vec(), path.clone()),
        ];
        expected.extend(owned.iter().cloned());
        let mut fresh = Decoder::new(usize::MAX);
        assert_eq!(decode(&mut fresh, &encoded), expected);
        assert_eq!(fresh.table_len(), 0);
        assert_eq!(decode(&mut busy, &encoded), expected);
        assert_eq!(busy.table_len(), 1);
    }
}
