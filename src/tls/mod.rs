//! TLS for `https://` targets, in user space with rustls and the pure-Rust
//! graviola crypto provider (no C compiler anywhere in the build, so the
//! macOS check and the static musl image keep working; no kernel TLS).
//!
//! Like `http`, this module is sans-I/O and depends on nothing else in the
//! crate: [`Session`] turns received ciphertext into plaintext and queued
//! plaintext into ciphertext, and a backend only moves those bytes.
//! [`client_config`] builds the one rustls configuration of a run from the
//! command line's TLS options.

mod config;
mod failure;
mod selfsigned;
mod server;
mod session;
mod store;

pub use config::{ConfigError, TlsOptions, TlsVersion, client_config, for_worker, with_h2_alpn};
pub use failure::TlsFailure;
pub use selfsigned::{SelfSigned, self_signed};
pub use server::{ServerIdentity, server_config};
pub use session::{Negotiated, Received, Session};

/// The first CPU feature graviola needs that this CPU lacks, if any: it
/// would panic on its first handshake, so `https://` is refused up front.
pub fn missing_cpu_feature() -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        let features = [
            ("aes", std::arch::is_x86_feature_detected!("aes")),
            ("pclmulqdq", std::arch::is_x86_feature_detected!("pclmulqdq")),
            ("ssse3", std::arch::is_x86_feature_detected!("ssse3")),
            ("avx", std::arch::is_x86_feature_detected!("avx")),
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("bmi2", std::arch::is_x86_feature_detected!("bmi2")),
            ("adx", std::arch::is_x86_feature_detected!("adx")),
        ];
        features.into_iter().find(|(_, present)| !present).map(|(name, _)| name)
    }
    #[cfg(target_arch = "aarch64")]
    {
        let features = [
            ("aes", std::arch::is_aarch64_feature_detected!("aes")),
            ("sha2", std::arch::is_aarch64_feature_detected!("sha2")),
            ("pmull", std::arch::is_aarch64_feature_detected!("pmull")),
            ("neon", std::arch::is_aarch64_feature_detected!("neon")),
        ];
        features.into_iter().find(|(_, present)| !present).map(|(name, _)| name)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Some("an x86_64 or aarch64 CPU")
    }
}
