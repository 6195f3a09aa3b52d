//! The dynamic table against a plain model (a list of owned fields) over
//! seeded random insertions, size updates and growth, plus the corner
//! cases of RFC 7541 §4.4.

use std::collections::VecDeque;

use super::super::test_support::xorshift;
use super::*;

/// What the table should hold: newest first, and its maximum size.
struct Model {
    fields: VecDeque<(Vec<u8>, Vec<u8>)>,
    capacity: usize,
}

impl Model {
    fn size(&self) -> usize {
        self.fields.iter().map(|(n, v)| n.len() + v.len() + ENTRY_OVERHEAD).sum()
    }
    fn shrink(&mut self) {
        while self.size() > self.capacity {
            self.fields.pop_back();
        }
    }
    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        self.fields.push_front((name, value));
        self.shrink();
    }
}

fn check(table: &Table, model: &Model) {
    assert_eq!(table.len(), model.fields.len());
    assert_eq!(table.size(), model.size());
    assert_eq!(table.capacity(), model.capacity);
    for (i, (n, v)) in model.fields.iter().enumerate() {
        assert_eq!(table.dynamic(i), Some((&n[..], &v[..])), "entry {i}");
        assert_eq!(table.get(62 + i).unwrap(), (&n[..], &v[..]));
    }
    assert_eq!(table.dynamic(model.fields.len()), None);
    assert_eq!(table.get(62 + model.fields.len()), Err(HpackError::BadIndex));
}

#[test]
fn static_table_ends_and_index_zero() {
    let table = Table::new(4096, 4096);
    assert_eq!(table.get(1).unwrap(), (&b":authority"[..], &b""[..]));
    assert_eq!(table.get(2).unwrap(), (&b":method"[..], &b"GET"[..]));
    assert_eq!(table.get(8).unwrap(), (&b":status"[..], &b"200"[..]));
    assert_eq!(table.get(61).unwrap(), (&b"www-authenticate"[..], &b""[..]));
    assert_eq!(table.get(0), Err(HpackError::BadIndex));
    assert_eq!(table.get(62), Err(HpackError::BadIndex));
    assert!(matches!(table.name(0), Err(HpackError::BadIndex)));
    assert!(matches!(table.name(62), Err(HpackError::BadIndex)));
}

#[test]
fn an_entry_larger_than_the_table_empties_it() {
    let mut table = Table::new(100, 100);
    table.insert(Name::Bytes(b"a"), b"b");
    assert_eq!(table.len(), 1);
    table.insert(Name::Bytes(b"name"), &[b'x'; 65]);
    assert_eq!((table.len(), table.size()), (0, 0));
    // Exactly the maximum size fits.
    table.insert(Name::Bytes(b"name"), &[b'x'; 64]);
    assert_eq!((table.len(), table.size()), (1, 100));
}

/// §4.4: the name of the entry being evicted may be the new entry's name.
#[test]
fn a_name_of_an_entry_evicted_by_its_own_insertion() {
    let mut table = Table::new(80, 80);
    table.insert(Name::Bytes(b"custom-name"), b"first");
    let Ok(name @ Name::Stored(..)) = table.name(62) else { panic!("not stored") };
    table.insert(name, b"second-value");
    assert_eq!(table.len(), 1);
    assert_eq!(table.dynamic(0), Some((&b"custom-name"[..], &b"second-value"[..])));
}

#[test]
fn capacity_zero_holds_nothing() {
    let mut table = Table::new(0, 0);
    table.insert(Name::Bytes(b""), b"");
    assert_eq!((table.len(), table.size()), (0, 0));
}

#[test]
fn shrinking_evicts_oldest_first() {
    let mut table = Table::new(4096, 4096);
    let mut model = Model { fields: VecDeque::new(), capacity: 4096 };
    for i in 0..10u8 {
        table.insert(Name::Bytes(&[b'n', i]), &[b'v'; 20]);
        model.insert(vec![b'n', i], vec![b'v'; 20]);
    }
    for capacity in [300, 160, 54, 53, 0, 4096] {
        table.set_capacity(capacity);
        model.capacity = capacity;
        model.shrink();
        check(&table, &model);
    }
}

#[test]
fn growing_keeps_the_entries() {
    let mut table = Table::new(256, 256);
    let mut model = Model { fields: VecDeque::new(), capacity: 256 };
    for i in 0..5u8 {
        table.insert(Name::Bytes(&[b'k', i]), &[i; 10]);
        model.insert(vec![b'k', i], vec![i; 10]);
    }
    table.reserve(16384);
    check(&table, &model);
    table.set_capacity(16384);
    model.capacity = 16384;
    for i in 0..200u8 {
        table.insert(Name::Bytes(&[b'g', i]), &[i; 50]);
        model.insert(vec![b'g', i], vec![i; 50]);
    }
    check(&table, &model);
}

/// Random fields, names often taken from stored entries (some about to be
/// evicted), size updates and growth: the table must always equal the
/// model, through many compactions of its buffer.
#[test]
fn seeded_random_operations_match_the_model() {
    for seed in 1..=20u64 {
        let mut next = xorshift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut limit = 512;
        let mut table = Table::new(limit, limit);
        let mut model = Model { fields: VecDeque::new(), capacity: limit };
        for step in 0..3000 {
            match next() % 20 {
                0 => {
                    let capacity = (next() % (limit as u64 + 1)) as usize;
                    table.set_capacity(capacity);
                    model.capacity = capacity;
                    model.shrink();
                }
                1 if limit < 8192 && step % 7 == 0 => {
                    limit *= 2;
                    table.reserve(limit);
                }
                _ => {
                    let value: Vec<u8> = (0..next() % 200).map(|_| next() as u8).collect();
                    let from_table = !model.fields.is_empty() && next().is_multiple_of(2);
                    if from_table {
                        let i = (next() % model.fields.len() as u64) as usize;
                        let name = model.fields[i].0.clone();
                        table.insert(table.name(62 + i).unwrap(), &value);
                        model.insert(name, value);
                    } else {
                        let name: Vec<u8> = (0..next() % 40).map(|_| b'a' + (next() % 26) as u8).collect();
                        table.insert(Name::Bytes(&name), &value);
                        model.insert(name, value);
                    }
                }
            }
            check(&table, &model);
        }
    }
}
