//! The rate-check section of BENCHMARK.md: vastar closed-loop against the
//! same backend under `--rate` far above its peak, so the schedule is always
//! behind and every connection always busy. Equal throughput means the
//! open-model bookkeeping (claims, intended times, the corrected histogram)
//! costs nothing at full speed.
//!
//! `--rate-check` writes this section into BENCHMARK.md between two markers,
//! and a `--full` run carries the section over when it rewrites the file.

use std::fmt::Write as _;

const BEGIN: &str = "<!-- rate-check: begin -->";
const END: &str = "<!-- rate-check: end -->";

/// One measured pair: (backend, c, closed req/s, rate req/s, closed CPU us/req, rate CPU us/req).
pub type Row = (String, usize, f64, f64, f64, f64);

/// The section's markdown, markers included.
pub fn render(rows: &[Row], measured: &str, seconds: f64, rounds: usize, rate: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{BEGIN}");
    let _ = writeln!(md, "## Rate mode at the peak\n");
    let _ = writeln!(
        md,
        "Measured {measured}. vastar closed-loop against the same backend with `--rate {rate}`, far above any peak: \
         the schedule is always behind, so every connection is always busy and the run goes as fast as the server \
         allows, now with every request's intended start tracked and its corrected latency recorded. 5 B bodies, \
         {seconds} s runs, medians of {rounds} rounds alternating the variants. Reproduce with \
         `cargo bench --bench matrix -- --quick --rate-check --concurrency 50,500 --seconds 2 --rounds 5`.\n"
    );
    let _ =
        writeln!(md, "| backend | c | closed req/s | --rate req/s | ratio | closed CPU us/req | --rate CPU us/req |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    for (backend, c, closed, rated, closed_cpu, rated_cpu) in rows {
        let _ = writeln!(
            md,
            "| {backend} | {c} | {closed:.0} | {rated:.0} | {:.3} | {closed_cpu:.2} | {rated_cpu:.2} |",
            rated / closed
        );
    }
    let _ = writeln!(md, "{END}");
    md
}

/// The section in an existing BENCHMARK.md, if it has one.
pub fn find(text: &str) -> Option<&str> {
    let start = text.find(BEGIN)?;
    let end = text[start..].find(END)? + start + END.len();
    Some(&text[start..end])
}

/// `text` with its section replaced by `section` (or `section` appended).
pub fn splice(text: &str, section: &str) -> String {
    match find(text) {
        Some(old) => text.replacen(old, section.trim_end(), 1),
        None => format!("{}\n\n{}", text.trim_end(), section),
    }
}
