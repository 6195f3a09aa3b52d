//! Links the functions a plain HTTP/1.1 run executes next to each other,
//! ahead of the rest of the code (linker/hot-text.ld, written by
//! benches/hot-text.sh). The kernel maps code 64 KiB around each page that
//! runs, so scattered through 4 MiB they kept 2.1 MiB resident, together
//! about 0.9 MiB: a run's peak memory at 1,000 connections is a fifth lower.
//!
//! The order changes nothing else, and only the linkers known to take a
//! GNU script's `INSERT` get it: the default ones (lld, rustc's own since
//! Rust 1.90, and GNU ld). A build that chooses another linker (`linker`
//! in Cargo's config, `-C linker`, `-fuse-ld=`, `mold -run`) links without
//! it; `VASTAR_HOT_TEXT=0` leaves it out, `=1` passes it whatever the
//! linker. Cargo does not rerun this for a changed `linker` setting in its
//! config: `cargo clean -p vastar` after one.

use std::env;

/// Flags that name a linker other than the default (`-C linker-features`
/// only chooses between lld and GNU ld, which both take the script).
const OTHER_LINKER: [&str; 4] = ["linker=", "fuse-ld=", "ld-path=", "linker-flavor"];

fn main() {
    println!("cargo:rerun-if-changed=linker/hot-text.ld");
    println!("cargo:rerun-if-env-changed=VASTAR_HOT_TEXT");
    println!("cargo:rerun-if-env-changed=LD_PRELOAD");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let wanted = match env::var("VASTAR_HOT_TEXT").as_deref() {
        Ok("0") => false,
        Ok("1") => true,
        _ => default_linker(),
    };
    if wanted {
        let script = format!("{}/linker/hot-text.ld", env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
        // `-T FILE` as two arguments: compiler drivers and linkers alike take it.
        println!("cargo:rustc-link-arg-bins=-T");
        println!("cargo:rustc-link-arg-bins={script}");
        // tests/hot_text.rs checks the layout only where it was asked for.
        println!("cargo:rustc-env=VASTAR_HOT_TEXT_LINKED=1");
    }
}

/// The build links with the target's default linker.
fn default_linker() -> bool {
    // `RUSTC_LINKER`: Cargo's `linker` setting for the target.
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let preload = env::var("LD_PRELOAD").unwrap_or_default();
    env::var_os("RUSTC_LINKER").is_none()
        && !OTHER_LINKER.iter().any(|flag| flags.contains(flag))
        && !preload.contains("mold")
}
