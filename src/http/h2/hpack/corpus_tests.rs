//! The decoder against the hpack-test-case corpus (tests/fixtures/hpack:
//! stories from several encoders, each case a block whose fields are
//! listed, some with table size changes), then against every truncation
//! and seeded random mutations of those blocks, and random bytes: the
//! answer is the fields or a clean error, never a panic.

use std::path::{Path, PathBuf};

use super::super::test_support::{unhex, xorshift};
use super::tests::{Fields, decode_all};
use super::*;

/// One case of a story: the table size setting in force (if the case
/// changes it), the block and the fields it holds.
struct Case {
    table_size: Option<usize>,
    wire: Vec<u8>,
    fields: Fields,
}

fn stories() -> Vec<(PathBuf, Vec<Case>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hpack");
    let mut paths = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if dir.is_dir() {
            for file in std::fs::read_dir(&dir).unwrap() {
                paths.push(file.unwrap().path());
            }
        }
    }
    paths.sort();
    paths.into_iter().map(|p| (p.clone(), parse(&p))).collect()
}

fn parse(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = json["cases"].as_array().unwrap();
    cases
        .iter()
        .map(|case| {
            let fields = case["headers"].as_array().unwrap().iter().flat_map(|h| h.as_object().unwrap().iter());
            Case {
                table_size: case["header_table_size"].as_u64().map(|s| s as usize),
                wire: unhex(case["wire"].as_str().unwrap()),
                fields: fields.map(|(n, v)| (n.as_bytes().to_vec(), v.as_str().unwrap().as_bytes().to_vec())).collect(),
            }
        })
        .collect()
}

/// Every case of every story decodes to its fields, in order.
#[test]
fn every_story_decodes() {
    let stories = stories();
    let encoders: std::collections::HashSet<_> = stories.iter().map(|(p, _)| p.parent().unwrap().to_owned()).collect();
    assert!(encoders.len() >= 6, "{encoders:?}");
    let mut blocks = 0;
    let mut resized = 0;
    let mut with_status = 0;
    for (path, cases) in &stories {
        let mut d = Decoder::new(usize::MAX);
        for (i, case) in cases.iter().enumerate() {
            if let Some(size) = case.table_size {
                resized += usize::from(size != DEFAULT_TABLE_SIZE);
                d.set_table_size_limit(size);
            }
            let fields = decode_all(&mut d, &case.wire).unwrap_or_else(|e| panic!("{path:?} case {i}: {e}"));
            assert_eq!(fields, case.fields, "{path:?} case {i}");
            assert!(d.table_size() <= d.table_capacity());
            with_status += usize::from(fields.iter().any(|(n, _)| n == b":status"));
            blocks += 1;
        }
    }
    assert!(blocks > 200, "{blocks}");
    assert!(resized >= 3, "{resized}");
    assert!(with_status > 100, "{with_status}");
}

/// Every case's state before its block, to decode that block again.
fn states() -> Vec<(Decoder, Case)> {
    let mut out = Vec::new();
    for (_, cases) in stories() {
        let mut d = Decoder::new(usize::MAX);
        for case in cases {
            if let Some(size) = case.table_size {
                d.set_table_size_limit(size);
            }
            let before = d.clone();
            decode_all(&mut d, &case.wire).unwrap();
            out.push((before, case));
        }
    }
    out
}

/// A block cut anywhere either ends at a field boundary, giving the first
/// fields, or ends inside a field and is refused as truncated (or lacks
/// the size update it had to start with).
#[test]
fn every_truncation_is_a_prefix_or_truncated() {
    let mut cut_inside = 0;
    for (before, case) in states() {
        for len in 0..case.wire.len() {
            let mut d = before.clone();
            match decode_all(&mut d, &case.wire[..len]) {
                Ok(fields) => assert_eq!(fields[..], case.fields[..fields.len()]),
                Err(HpackError::Truncated) => cut_inside += 1,
                // Cut before the size update a lowered setting requires.
                Err(HpackError::SizeUpdateMissing) if before.required.is_some() => {}
                Err(e) => panic!("cut at {len}: {e}"),
            }
        }
    }
    assert!(cut_inside > 10_000, "{cut_inside}");
}

/// Corpus blocks with a few bytes changed: whatever comes out, no panic,
/// and the table never outgrows its maximum size.
#[test]
fn mutated_blocks_never_panic() {
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    let mut failed = 0;
    let states = states();
    for round in 0..4 {
        for (before, case) in &states {
            let mut block = case.wire.clone();
            if block.is_empty() {
                continue;
            }
            for _ in 0..=round {
                let at = (next() % block.len() as u64) as usize;
                block[at] ^= 1 << (next() % 8);
            }
            let mut d = before.clone();
            failed += usize::from(decode_all(&mut d, &block).is_err());
            assert!(d.table_size() <= d.table_capacity());
        }
    }
    assert!(failed > 100, "{failed}");
}

/// Random bytes, block after block on one decoder (a fresh one after each
/// error, as the connection would be closed).
#[test]
fn random_bytes_never_panic() {
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    let mut d = Decoder::new(4096);
    let mut ok = 0;
    for _ in 0..20_000 {
        let len = (next() % 48) as usize;
        let block: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        match d.decode(&block, |_, _| {}) {
            Ok(()) => ok += 1,
            Err(_) => d = Decoder::new(4096),
        }
    }
    assert!(ok > 100, "{ok}");
}
