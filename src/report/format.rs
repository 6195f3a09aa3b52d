//! How the report writes numbers that several of its sections share: a
//! duration in seconds, and a line of a distribution.

use std::io::{self, Write};

/// Nanoseconds as seconds.
pub fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The start of a distribution's line: `   99.00% in 0.0408 secs`.
pub fn percentile_line(out: &mut impl Write, p: f64, ns: u64) -> io::Result<()> {
    write!(out, "  {p:>6.2}% in {:.4} secs", secs(ns))
}
