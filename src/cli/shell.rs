//! Shell completions and the man page, generated from the clap definitions
//! that parse the command line, so that neither can drift from the flags
//! vastar really takes: `vastar completions SHELL` and `vastar man`.
//!
//! Both are built in memory and handed back as bytes; the caller writes them
//! to stdout (where a reader that went away, as with `| head`, is not a
//! failure, and a failed write is not a panic).

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// The name the scripts complete and the man page documents.
const BIN: &str = "vastar";

/// The whole command line as clap sees it, plus what only completion
/// needs: the fixed sets of values that vastar's config rules (not clap)
/// check, offered here and not added to the parser, so that a wrong value
/// keeps the rules' own message.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command().bin_name(BIN);
    for (arg, values) in VALUE_LISTS {
        cmd = cmd.mut_arg(*arg, |a| {
            a.value_parser(clap::builder::PossibleValuesParser::new(*values)).hide_possible_values(true)
        });
    }
    cmd.mut_subcommand("merge", |sub| {
        sub.mut_arg("output", |a| {
            a.value_parser(clap::builder::PossibleValuesParser::new(["text", "json"])).hide_possible_values(true)
        })
    })
}

/// Top-level flags whose values are checked by [`crate::config`], with the
/// values it accepts (the first spelling of each, as `--help` gives it).
pub const VALUE_LISTS: &[(&str, &[&str])] = &[
    ("output", &["text", "json", "csv"]),
    ("backend", &["auto", "io-uring", "portable"]),
    ("io_uring_without", crate::config::uring::NAMES),
    ("targets_order", &["round-robin", "random"]),
    ("arrivals", &["constant", "poisson"]),
    ("tls_version", &["1.2", "1.3"]),
];

/// The completion script for `shell`.
pub fn completion_script(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    // (writing to a Vec cannot fail, so clap_complete's write never panics)
    clap_complete::generate(shell, &mut command(), BIN, &mut script);
    script
}

/// The top level's forms, for the man page's synopsis: its own list of
/// every flag would fill a screen, and OPTIONS lists them all below.
const SYNOPSIS: &str = "vastar [OPTIONS] URL
vastar [OPTIONS] --demo
vastar [OPTIONS] --targets FILE
vastar COMMAND [ARGS]";

/// README's exit codes, shortened, in roff.
const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
0
The run completed and the report was printed (check it for errors).
.TP
1
The run could not take place: the host did not resolve, a thread or event loop could not start, the first TLS handshakes failed to verify the server, a proxy refused the first tunnels.
.TP
2
Invalid command line or input file; the one\-line message on stderr says what to change.
.TP
3
An \-\-assert threshold failed, diff \-\-fail\-on\-regression found a figure worse beyond noise, or \-\-find\-max found no rate that met the SLO.
.TP
130, 143
Interrupted by Ctrl\-C (SIGINT) or SIGTERM; the partial report was printed.
"#;

/// The man page (roff, section 1): the top level's name, synopsis and
/// options; every subcommand with its own description, synopsis and
/// options; examples and exit codes. One page, so that one file installs
/// all of it.
pub fn man_page() -> io::Result<Vec<u8>> {
    let mut cmd = command().override_usage(SYNOPSIS);
    cmd.build();
    let mut page = Vec::new();
    let top = clap_mangen::Man::new(cmd.clone());
    top.render_title(&mut page)?;
    top.render_name_section(&mut page)?;
    top.render_synopsis_section(&mut page)?;
    top.render_description_section(&mut page)?;
    top.render_options_section(&mut page)?;
    writeln!(page, ".SH COMMANDS")?;
    let mut subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    subs.sort_by_key(|s| s.get_display_order());
    for sub in subs {
        // (names are plain lower-case words: nothing to escape)
        writeln!(page, ".SS \"{BIN} {}\"", sub.get_name())?;
        let man = clap_mangen::Man::new(sub.clone());
        page.extend(rendered(|w| man.render_description_section(w), sub_part)?);
        page.extend(rendered(|w| man.render_synopsis_section(w), sub_part)?);
        if sub.get_arguments().any(|a| !a.is_positional() && !a.is_hide_set()) {
            page.extend(rendered(|w| man.render_options_section(w), sub_part)?);
        }
    }
    page.extend(rendered(|w| top.render_extra_section(w), examples)?);
    page.extend_from_slice(EXIT_STATUS.as_bytes());
    top.render_version_section(&mut page)?;
    Ok(page)
}

/// A section as `render` writes it, each line put through `line`.
fn rendered(render: impl FnOnce(&mut dyn Write) -> io::Result<()>, line: fn(&[u8]) -> &[u8]) -> io::Result<Vec<u8>> {
    let mut section = Vec::new();
    render(&mut section)?;
    Ok(section.split_inclusive(|&b| b == b'\n').flat_map(line).copied().collect())
}

/// Under a subcommand's .SS heading, each part's own .SH heading becomes a
/// paragraph break.
fn sub_part(line: &[u8]) -> &[u8] {
    if line.starts_with(b".SH ") { b".PP\n" } else { line }
}

/// The top level's after-help is its examples, headed "Examples:".
fn examples(line: &[u8]) -> &[u8] {
    match line {
        b".SH EXTRA\n" => b".SH EXAMPLES\n",
        b"Examples:\n" => b"",
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use clap::{Parser, ValueHint};

    use super::*;
    use crate::config::Output;

    #[test]
    fn the_generated_command_is_consistent() {
        command().debug_assert();
    }

    /// The lists offered for completion are values vastar's rules accept:
    /// each is run through the real parser and config.
    #[test]
    fn every_completed_value_is_accepted() {
        let dir = std::env::temp_dir().join(format!("vastar-shell-values-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let targets = dir.join("targets.txt");
        std::fs::write(&targets, "GET https://h/\n").unwrap();
        let targets = targets.to_str().unwrap();
        let cmd = command();
        for (id, values) in VALUE_LISTS {
            let arg = cmd.get_arguments().find(|a| a.get_id() == *id).expect(id);
            let flag =
                arg.get_long().map(|l| format!("--{l}")).unwrap_or_else(|| format!("-{}", arg.get_short().unwrap()));
            for value in *values {
                let context: &[&str] = match *id {
                    "arrivals" => &["--rate", "10", "-z", "1s", "https://h/"],
                    "targets_order" => &["--targets", targets],
                    _ => &["https://h/"],
                };
                let args = ["vastar", flag.as_str(), value].into_iter().chain(context.iter().copied());
                let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{flag} {value}: {e}"));
                let url = cli.bench.url.clone().unwrap_or_default();
                if let Err(e) = cli.bench.to_config(&url) {
                    panic!("{flag} {value}: {e}");
                }
            }
        }
        for value in ["text", "json"] {
            assert!(Output::parse("-o", value, false).is_ok(), "merge -o {value}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_and_urls_complete_as_such() {
        let mut cmd = command();
        cmd.build();
        let hint = |cmd: &clap::Command, id: &str| {
            cmd.get_arguments().find(|a| a.get_id() == id).map(clap::Arg::get_value_hint).expect(id)
        };
        assert_eq!(hint(&cmd, "url"), ValueHint::Url);
        for id in ["body_file", "cacert", "cert", "key", "targets", "html", "unix_socket"] {
            assert!(matches!(hint(&cmd, id), ValueHint::FilePath | ValueHint::AnyPath), "{id}");
        }
        for (sub, id) in [("merge", "files"), ("diff", "base"), ("diff", "new"), ("plot", "files"), ("plot", "out")] {
            let sub = cmd.find_subcommand(sub).unwrap();
            assert!(matches!(hint(sub, id), ValueHint::FilePath | ValueHint::AnyPath), "{id}");
        }
    }

    #[test]
    fn the_man_page_has_every_command_and_section() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        for needle in [".TH vastar 1", ".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH EXAMPLES", ".SH \"EXIT STATUS\""]
        {
            assert!(page.contains(needle), "{needle}");
        }
        for sub in command().get_subcommands() {
            assert!(page.contains(&format!(".SS \"vastar {}\"", sub.get_name())), "{}", sub.get_name());
        }
        let headings = page.lines().filter(|l| l.starts_with(".SH ")).count();
        assert_eq!(headings, 8, "the subcommands' own headings are demoted");
        let cli = Cli::try_parse_from(["vastar", "man"]).expect("man parses");
        assert!(matches!(cli.command, Some(crate::cli::Command::Man)));
    }
}
