//! A [`Diff`] written for a terminal or as a Markdown table for a pull
//! request comment: pure functions over `impl Write`.

use std::io::{self, Write};

use super::{Diff, Figure, RESAMPLES, Row, Verdict};
use crate::term::Style;

fn value(figure: Figure, v: f64) -> String {
    match figure {
        Figure::Rps | Figure::CounterRate(_) => format!("{v:.2}"),
        Figure::Percentile(_) | Figure::Metric(..) => format!("{:.3} ms", v * 1e3),
        Figure::ErrorRate => format!("{v:.3}%"),
        Figure::BytesPerRequest => format!("{v:.1}"),
    }
}

fn change(row: &Row) -> String {
    match row.change_pct {
        Some(pct) => format!("{pct:+.2}%"),
        None if row.new == row.base => "0.00%".into(),
        None => "from 0".into(),
    }
}

/// The line that says what was compared and how noise was judged.
fn heading(diff: &Diff, names: [&str; 2]) -> String {
    let [base, new] = names;
    let [a, b] = diff.blocks;
    match &diff.note {
        Some(note) => format!("{new} against {base} ({note})"),
        None => format!(
            "{new} against {base} (verdicts: 95% block bootstrap over {a} and {b} blocks of intervals, {RESAMPLES} resamples)"
        ),
    }
}

/// The comparison as a table for a terminal.
pub fn text(out: &mut impl Write, diff: &Diff, names: [&str; 2], style: &Style) -> io::Result<()> {
    writeln!(out, "{}", style.bold(&heading(diff, names)))?;
    writeln!(out)?;
    writeln!(out, "  {:<14} {:>14} {:>14}  {:>10}  verdict", "", "base", "new", "change")?;
    for row in &diff.rows {
        let verdict = match row.verdict {
            Verdict::Better => style.paint(34, row.verdict.label()),
            Verdict::Worse => style.paint(196, row.verdict.label()),
            other => other.label().to_string(),
        };
        let (base, new) = (value(row.figure, row.base), value(row.figure, row.new));
        writeln!(out, "  {:<14} {base:>14} {new:>14}  {:>10}  {verdict}", row.figure.name(), change(row))?;
    }
    Ok(())
}

/// The comparison as a Markdown table (GitHub's flavour).
pub fn markdown(out: &mut impl Write, diff: &Diff, names: [&str; 2]) -> io::Result<()> {
    writeln!(out, "{}", heading(diff, names).replace('|', "\\|"))?;
    writeln!(out)?;
    writeln!(out, "| figure | base | new | change | verdict |")?;
    writeln!(out, "|---|---:|---:|---:|---|")?;
    for row in &diff.rows {
        let verdict = match row.verdict {
            Verdict::Better | Verdict::Worse => format!("**{}**", row.verdict.label()),
            other => other.label().to_string(),
        };
        let (base, new) = (value(row.figure, row.base), value(row.figure, row.new));
        writeln!(out, "| {} | {base} | {new} | {} | {verdict} |", row.figure.name(), change(row))?;
    }
    Ok(())
}

/// What `--fail-on-regression PCT` decided, after the table: whether the
/// noise could be judged (if not, the change alone decided) and which
/// figures failed. In Markdown the lines are paragraphs of their own.
pub fn gate(out: &mut impl Write, diff: &Diff, pct: f64, markdown: bool) -> io::Result<()> {
    let gap = if markdown { "\n" } else { "" };
    writeln!(out)?;
    if let Some(why) = diff.unjudged() {
        writeln!(out, "noise could not be judged ({}): judged on the change alone{gap}", why.label())?;
    }
    let failed: Vec<String> =
        diff.regressions(pct).map(|row| format!("{} {}", row.figure.name(), change(row))).collect();
    match failed.is_empty() {
        true => writeln!(out, "--fail-on-regression {pct}%: no regression"),
        false => writeln!(out, "--fail-on-regression {pct}%: regression in {}", failed.join(", ")),
    }
}
