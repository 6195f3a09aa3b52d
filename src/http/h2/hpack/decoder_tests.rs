//! The decoder against every example of RFC 7541 Appendix C (fields and
//! dynamic table after each block) and the rules of §4.2, §5 and §6 that a
//! server can break.

use super::super::test_support::unhex;
use super::*;

pub(super) type Fields = Vec<(Vec<u8>, Vec<u8>)>;

pub(super) fn decode_all(decoder: &mut Decoder, block: &[u8]) -> Result<Fields, HpackError> {
    let mut fields = Vec::new();
    decoder.decode(block, |n, v| fields.push((n.to_vec(), v.to_vec()))).map(|()| fields)
}

fn owned(fields: &[(&str, &str)]) -> Fields {
    fields.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
}

/// Decodes `hex`, expecting `fields`, then a table of `table` (newest
/// first) whose size is `size`.
fn step(decoder: &mut Decoder, hex: &str, fields: &[(&str, &str)], table: &[(&str, &str)], size: usize) {
    assert_eq!(decode_all(decoder, &unhex(hex)).unwrap(), owned(fields), "{hex}");
    let stored: Fields = (0..decoder.table_len())
        .map(|i| decoder.table_entry(i).unwrap())
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    assert_eq!(stored, owned(table), "{hex}");
    assert_eq!(decoder.table_size(), size, "{hex}");
}

#[test]
fn c2_field_representations() {
    let mut d = Decoder::new(usize::MAX);
    step(
        &mut d,
        "400a637573746f6d2d6b65790d637573746f6d2d686561646572",
        &[("custom-key", "custom-header")],
        &[("custom-key", "custom-header")],
        55,
    );
    let mut d = Decoder::new(usize::MAX);
    step(&mut d, "040c2f73616d706c652f70617468", &[(":path", "/sample/path")], &[], 0);
    step(&mut d, "100870617373776f726406736563726574", &[("password", "secret")], &[], 0);
    step(&mut d, "82", &[(":method", "GET")], &[], 0);
}

/// C.3 and C.4: the same three requests, raw and Huffman-coded.
#[test]
fn c3_c4_requests() {
    let blocks = [
        ["828684410f7777772e6578616d706c652e636f6d", "828684418cf1e3c2e5f23a6ba0ab90f4ff"],
        ["828684be58086e6f2d6361636865", "828684be5886a8eb10649cbf"],
        [
            "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
            "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
        ],
    ];
    for huffman in [0, 1] {
        let mut d = Decoder::new(usize::MAX);
        let first = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")];
        step(&mut d, blocks[0][huffman], &first, &[(":authority", "www.example.com")], 57);
        let mut second = first.to_vec();
        second.push(("cache-control", "no-cache"));
        let table = [("cache-control", "no-cache"), (":authority", "www.example.com")];
        step(&mut d, blocks[1][huffman], &second, &table, 110);
        let third = [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ];
        let table = [("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com")];
        step(&mut d, blocks[2][huffman], &third, &table, 164);
    }
}

/// C.5 and C.6: three responses in a 256-octet table, with evictions.
#[test]
fn c5_c6_responses_with_eviction() {
    let blocks = [
        [
            "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d54\
             6e1768747470733a2f2f7777772e6578616d706c652e636f6d",
            "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f\
             0b97c8e9ae82ae43d3",
        ],
        ["4803333037c1c0bf", "4883640effc1c0bf"],
        [
            "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f\
             3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076\
             657273696f6e3d31",
            "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335df\
             dfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
        ],
    ];
    let date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
    let date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
    let location = "https://www.example.com";
    let cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
    for huffman in [0, 1] {
        let mut d = Decoder::new(usize::MAX);
        // The examples assume a 256-octet table: a block of one size update.
        assert_eq!(decode_all(&mut d, &[0x3f, 0xe1, 0x01]), Ok(vec![]));
        assert_eq!(d.table_capacity(), 256);
        let fields = [(":status", "302"), ("cache-control", "private"), ("date", date1), ("location", location)];
        let table = [("location", location), ("date", date1), ("cache-control", "private"), (":status", "302")];
        step(&mut d, blocks[0][huffman], &fields, &table, 222);
        let fields = [(":status", "307"), ("cache-control", "private"), ("date", date1), ("location", location)];
        let table = [(":status", "307"), ("location", location), ("date", date1), ("cache-control", "private")];
        step(&mut d, blocks[1][huffman], &fields, &table, 222);
        let fields = [
            (":status", "200"),
            ("cache-control", "private"),
            ("date", date2),
            ("location", location),
            ("content-encoding", "gzip"),
            ("set-cookie", cookie),
        ];
        let table = [("set-cookie", cookie), ("content-encoding", "gzip"), ("date", date2)];
        step(&mut d, blocks[2][huffman], &fields, &table, 215);
    }
}

#[test]
fn size_updates_are_bounded_by_the_setting() {
    let mut d = Decoder::new(usize::MAX);
    // 4097 and 4096 with a 5-bit prefix.
    assert_eq!(decode_all(&mut d, &[0x3f, 0xe2, 0x1f]), Err(HpackError::SizeUpdateTooLarge));
    let mut d = Decoder::new(usize::MAX);
    assert_eq!(decode_all(&mut d, &[0x3f, 0xe1, 0x1f, 0x82]), Ok(owned(&[(":method", "GET")])));
    // Two updates at the start: fine; one after a field: not.
    assert_eq!(decode_all(&mut d, &[0x20, 0x3f, 0xe1, 0x1f, 0x82]).map(|f| f.len()), Ok(1));
    assert_eq!(decode_all(&mut d, &[0x82, 0x20]), Err(HpackError::SizeUpdateNotFirst));
    // A larger setting allows larger updates.
    let mut d = Decoder::new(usize::MAX);
    d.set_table_size_limit(8192);
    assert_eq!(decode_all(&mut d, &[0x3f, 0xe1, 0x3f]), Ok(vec![]));
    assert_eq!(d.table_capacity(), 8192);
}

#[test]
fn a_lowered_setting_must_be_signalled() {
    let mut d = Decoder::new(usize::MAX);
    d.set_table_size_limit(1000);
    assert_eq!(decode_all(&mut d.clone(), &[0x82]), Err(HpackError::SizeUpdateMissing));
    // An update above the new limit is refused, one at it is enough.
    assert_eq!(decode_all(&mut d.clone(), &[0x3f, 0xe1, 0x1f, 0x82]), Err(HpackError::SizeUpdateTooLarge));
    let mut ok = d.clone();
    assert_eq!(decode_all(&mut ok, &[0x3f, 0xc9, 0x07, 0x82]).map(|f| f.len()), Ok(1));
    assert_eq!(ok.table_capacity(), 1000);
    assert_eq!(decode_all(&mut ok, &[0x82]).map(|f| f.len()), Ok(1));
    // Lowered to 1000, then raised to 2000: the update must reach 1000.
    d.set_table_size_limit(2000);
    assert_eq!(decode_all(&mut d.clone(), &[0x3f, 0xb1, 0x0f, 0x82]), Err(HpackError::SizeUpdateMissing));
    assert_eq!(decode_all(&mut d, &[0x3f, 0xc9, 0x07, 0x3f, 0xb1, 0x0f]), Ok(vec![]));
    assert_eq!(d.table_capacity(), 2000);
    // Raising the setting obliges nothing.
    d.set_table_size_limit(4096);
    assert_eq!(decode_all(&mut d, &[0x82]).map(|f| f.len()), Ok(1));
}

#[test]
fn bad_indices() {
    let mut d = Decoder::new(usize::MAX);
    assert_eq!(decode_all(&mut d, &[0x80]), Err(HpackError::BadIndex));
    assert_eq!(decode_all(&mut d, &[0xbe]), Err(HpackError::BadIndex));
    // A literal naming entry 62 of an empty dynamic table.
    assert_eq!(decode_all(&mut d, &[0x7e, 0x01, b'x']), Err(HpackError::BadIndex));
    assert_eq!(decode_all(&mut d, &[0x0f, 0x2f, 0x01, b'x']), Err(HpackError::BadIndex));
    assert_eq!(decode_all(&mut d, &[0xbd]).map(|f| f.len()), Ok(1));
}

#[test]
fn oversized_integers() {
    let mut d = Decoder::new(usize::MAX);
    // Six continuation bytes.
    assert_eq!(decode_all(&mut d, &[0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), Err(HpackError::IntegerOverflow));
    // Five, but past 2^32 - 1.
    assert_eq!(decode_all(&mut d, &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), Err(HpackError::IntegerOverflow));
    // A string length of 2^32 - 1 in a short block.
    assert_eq!(decode_all(&mut d, &[0x00, 0x7f, 0x80, 0xff, 0xff, 0xff, 0x0f]), Err(HpackError::Truncated));
    // Redundant zero continuation bytes are still a valid encoding.
    assert_eq!(decode_all(&mut d, &[0xff, 0x80, 0x80, 0x00]), Err(HpackError::BadIndex));
}

#[test]
fn truncated_fields() {
    let mut d = Decoder::new(usize::MAX);
    for block in [&[0x41][..], &[0x41, 0x05, b'a'], &[0x00, 0x01], &[0x00], &[0xff], &[0x3f], &[0x40, 0x81]] {
        assert_eq!(decode_all(&mut d, block), Err(HpackError::Truncated), "{block:02x?}");
    }
    assert_eq!(decode_all(&mut d, &[]), Ok(vec![]));
}

#[test]
fn huffman_errors_in_fields() {
    let mut d = Decoder::new(usize::MAX);
    assert_eq!(decode_all(&mut d, &[0x01, 0x81, 0xff]), Err(HpackError::HuffmanPadding));
    assert_eq!(decode_all(&mut d, &[0x01, 0x84, 0xff, 0xff, 0xff, 0xff]), Err(HpackError::HuffmanEos));
    assert_eq!(decode_all(&mut d, &[0x00, 0x81, 0x18, 0x01, b'x']), Err(HpackError::HuffmanPadding));
}

/// Past the list limit no field is handed out, but the block is decoded to
/// its end: the table stays in step and the next block decodes.
#[test]
fn header_list_limit_keeps_the_table_in_step() {
    let mut d = Decoder::new(60);
    let mut seen = Vec::new();
    let first = unhex("828684410f7777772e6578616d706c652e636f6d");
    let result = d.decode(&first, |n, v| seen.push((n.to_vec(), v.to_vec())));
    assert_eq!(result, Err(HpackError::HeaderListTooLarge));
    assert!(!result.unwrap_err().is_compression_error());
    // :method GET costs 42; :scheme http would make 85.
    assert_eq!(seen, owned(&[(":method", "GET")]));
    assert_eq!(d.table_len(), 1);
    d.set_max_list_size(usize::MAX);
    let second = decode_all(&mut d, &unhex("828684be58086e6f2d6361636865")).unwrap();
    assert_eq!(second[3], (b":authority".to_vec(), b"www.example.com".to_vec()));
    // Exactly at the limit is allowed.
    let mut d = Decoder::new(42);
    assert_eq!(decode_all(&mut d, &[0x82]).map(|f| f.len()), Ok(1));
    assert_eq!(decode_all(&mut d, &[0x82, 0x82]), Err(HpackError::HeaderListTooLarge));
}

/// Each error can be caused by a peer, and each says something different.
#[test]
fn every_error_is_reachable_and_distinct() {
    let mut lowered = Decoder::new(usize::MAX);
    lowered.set_table_size_limit(0);
    let caused = [
        decode_all(&mut Decoder::new(usize::MAX), &[0x41]),
        decode_all(&mut Decoder::new(usize::MAX), &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        decode_all(&mut Decoder::new(usize::MAX), &[0xbe]),
        decode_all(&mut Decoder::new(usize::MAX), &[0x01, 0x84, 0xff, 0xff, 0xff, 0xff]),
        decode_all(&mut Decoder::new(usize::MAX), &[0x01, 0x81, 0xff]),
        decode_all(&mut Decoder::new(usize::MAX), &[0x3f, 0xe2, 0x1f]),
        decode_all(&mut Decoder::new(usize::MAX), &[0x82, 0x20]),
        decode_all(&mut lowered, &[0x82]),
        decode_all(&mut Decoder::new(41), &[0x82]),
    ];
    let errors: Vec<HpackError> = caused.into_iter().map(Result::unwrap_err).collect();
    let texts: std::collections::HashSet<&str> = errors.iter().map(|e| e.as_str()).collect();
    assert_eq!(texts.len(), errors.len(), "{errors:?}");
    assert_eq!(errors.iter().filter(|e| e.is_compression_error()).count(), errors.len() - 1);
    assert_eq!(errors[0].to_string(), errors[0].as_str());
}
