//! The binary's hot code comes first (build.rs, linker/hot-text.ld): the
//! functions a plain run enters sit together in `.text.hot`, so the kernel
//! maps about 1 MiB of code for a run instead of 2 MiB. The list names
//! functions by pattern; these tests fail when it stops matching the code
//! (a renamed hot path, a new mangling scheme): run benches/hot-text.sh.
#![cfg(target_os = "linux")]

use std::ops::Range;

/// A section's name and the addresses it occupies.
struct Section {
    name: String,
    addresses: Range<u64>,
}

/// What the tests read of a binary: its sections, and its symbols (name,
/// address) when it has a symbol table (the release build is stripped).
struct Elf {
    sections: Vec<Section>,
    symbols: Vec<(String, u64)>,
}

/// A 64-bit little-endian ELF file's sections and symbols.
fn read_elf(bytes: &[u8]) -> Elf {
    let u16_at = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap()) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    assert_eq!(&bytes[..6], b"\x7fELF\x02\x01", "a 64-bit little-endian ELF file");
    let (table, entry, count, names) = (u64_at(0x28) as usize, u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let header = |index: usize| table + index * entry;
    let c_string = |at: usize| {
        let end = bytes[at..].iter().position(|&b| b == 0).unwrap();
        String::from_utf8_lossy(&bytes[at..at + end]).into_owned()
    };
    let names_at = u64_at(header(names) + 0x18) as usize;
    let mut sections = Vec::new();
    let mut symbols = Vec::new();
    for index in 0..count {
        let at = header(index);
        let (kind, address, offset, size) = (u32_at(at + 4), u64_at(at + 0x10), u64_at(at + 0x18), u64_at(at + 0x20));
        sections.push(Section { name: c_string(names_at + u32_at(at)), addresses: address..address + size });
        if kind == 2 {
            // SHT_SYMTAB: 24-byte entries, names in the section it links to.
            let strings = u64_at(header(u32_at(at + 0x28)) + 0x18) as usize;
            for symbol in (offset..offset + size).step_by(24).map(|s| s as usize) {
                symbols.push((c_string(strings + u32_at(symbol)), u64_at(symbol + 8)));
            }
        }
    }
    Elf { sections, symbols }
}

/// The binary's sections and symbols, or `None` where build.rs left the
/// script out (another linker, `VASTAR_HOT_TEXT=0`) and nothing requires it
/// (CI sets `VASTAR_REQUIRE_HOT_TEXT=1`).
fn binary() -> Option<Elf> {
    if option_env!("VASTAR_HOT_TEXT_LINKED").is_none() {
        assert!(
            std::env::var_os("VASTAR_REQUIRE_HOT_TEXT").is_none(),
            "build.rs did not pass linker/hot-text.ld (another linker, or VASTAR_HOT_TEXT=0)"
        );
        eprintln!("skipped: this build links without linker/hot-text.ld");
        return None;
    }
    let bytes = std::fs::read(env!("CARGO_BIN_EXE_vastar")).expect("the vastar binary");
    Some(read_elf(&bytes))
}

#[test]
fn hot_text_is_linked_first() {
    let Some(Elf { sections, .. }) = binary() else { return };
    let find = |name: &str| sections.iter().find(|s| s.name == name);
    let hot =
        find(".text.hot").expect("no .text.hot: build.rs did not pass linker/hot-text.ld, or nothing in it matched");
    let text = find(".text").expect(".text");
    assert!(hot.addresses.end <= text.addresses.start, "the hot code comes before the rest");
    // In the release build the section is 0.9 MiB (780 KiB of functions
    // that run, and what shares their names); the debug build's are larger.
    let hot_bytes = hot.addresses.end - hot.addresses.start;
    assert!(hot_bytes >= 512 * 1024, ".text.hot holds {hot_bytes} bytes: the list matches little of the code");
}

#[test]
fn the_hot_paths_of_every_mangling_are_in_the_hot_text() {
    let Some(Elf { sections, symbols }) = binary() else { return };
    if symbols.is_empty() {
        eprintln!("skipped: a stripped binary (the release build); the section is still checked");
        return;
    }
    let hot = &sections.iter().find(|s| s.name == ".text.hot").expect(".text.hot").addresses;
    // The worker's loop and the response parser (this crate: legacy
    // mangling), and the allocator's entry (std: v0 mangling).
    for fragment in ["RingWorker", "ResponseReader", "12___rust_alloc"] {
        let inside = symbols.iter().any(|(name, address)| name.contains(fragment) && hot.contains(address));
        assert!(inside, "no function named like {fragment} in .text.hot: run benches/hot-text.sh");
    }
}
