//! `vastar completions SHELL` and `vastar man` as a user installs them: the
//! bash script is loaded into a real bash and asked to complete, the man page
//! is formatted by man-db's `man`. zsh and fish check their script's syntax
//! when installed. Without `man` the page test says so and passes, unless
//! `VASTAR_REQUIRE_MAN` is set (CI sets it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn vastar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vastar")).args(args).output().expect("the binary runs")
}

/// `args`' stdout, after checking that it succeeded quietly.
fn generated(args: &[&str]) -> String {
    let out = vastar(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.is_empty(), "{args:?}: {:?}: {err}", out.status);
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vastar-shell-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What bash's completion offers for the command line `words` (the last
/// being the word under the cursor), with the script loaded as a user's
/// shell would load it.
fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
    let line = format!(
        "source {}; COMP_WORDS=({}); COMP_CWORD={}; _vastar vastar \"${{COMP_WORDS[COMP_CWORD]}}\" \
         \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
        words.len() - 1,
    );
    let out = Command::new("bash").args(["--norc", "--noprofile", "-c", &line]).output().expect("bash runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.is_empty(), "{words:?}: {err}");
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(String::from).collect()
}

#[test]
fn bash_completes_flags_subcommands_and_their_values() {
    let dir = scratch("bash");
    let script = dir.join("vastar.bash");
    std::fs::write(&script, generated(&["completions", "bash"])).unwrap();
    std::fs::write(dir.join("body.json"), "{}").unwrap();
    let body = format!("{}/bo", dir.display());
    let cases: &[(&[&str], &[&str])] = &[
        (&["vastar", "--connect-ti"], &["--connect-timeout"]),
        (&["vastar", "--disable-k"], &["--disable-keepalive"]),
        (&["vastar", "se"], &["serve"]),
        (&["vastar", "co"], &["completions"]),
        (&["vastar", "serve", "--li"], &["--listen"]),
        (&["vastar", "diff", "--fail"], &["--fail-on-regression"]),
        (&["vastar", "completions", "z"], &["zsh"]),
        (&["vastar", "-o", ""], &["text", "json", "csv"]),
        (&["vastar", "--backend", "p"], &["portable"]),
        (&["vastar", "--io-uring-without", "m"], &["min-wait", "multishot"]),
        (&["vastar", "-D", &body], &[&format!("{}/body.json", dir.display())]),
    ];
    for &(words, expected) in cases {
        let offered = bash_completes(&script, words);
        assert_eq!(offered, expected, "{words:?}");
    }
    let everything = bash_completes(&script, &["vastar", ""]);
    for name in ["--http2", "--targets", "-n", "serve", "merge", "diff", "plot", "completions", "man"] {
        assert!(everything.iter().any(|o| o == name), "{name} in {everything:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_shell_gets_a_script_naming_the_real_flags() {
    let dir = scratch("shells");
    for (shell, checker) in
        [("bash", Some("bash")), ("zsh", Some("zsh")), ("fish", Some("fish")), ("powershell", None), ("elvish", None)]
    {
        let script = generated(&["completions", shell]);
        for needle in ["connect-timeout", "disable-keepalive", "serve", "body-bytes", "completions"] {
            assert!(script.contains(needle), "{shell}: {needle}");
        }
        let Some(checker) = checker else { continue };
        let file = dir.join(format!("vastar.{shell}"));
        std::fs::write(&file, &script).unwrap();
        match Command::new(checker).arg("-n").arg(&file).output() {
            Ok(out) => assert!(out.status.success(), "{checker} -n: {}", String::from_utf8_lossy(&out.stderr)),
            Err(_) => eprintln!("{checker} is not installed: its script's syntax is not checked"),
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// man-db's `man`, or `None` (and a note) when it is not installed.
fn man() -> Option<&'static str> {
    let found = ["/usr/bin/man", "/usr/local/bin/man"].into_iter().find(|p| Path::new(p).exists());
    if found.is_none() {
        assert!(std::env::var_os("VASTAR_REQUIRE_MAN").is_none(), "VASTAR_REQUIRE_MAN is set but man is missing");
        eprintln!("man is not installed (apt-get install man-db): the man page is not formatted");
    }
    found
}

/// Formatted text without overstrikes (what `col -b` leaves).
fn plain(formatted: &str) -> String {
    let mut text = String::new();
    for c in formatted.chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    text
}

#[test]
fn the_man_page_renders_without_warnings() {
    let page = generated(&["man"]);
    let Some(man) = man() else { return };
    let dir = scratch("man");
    let file = dir.join("vastar.1");
    std::fs::write(&file, &page).unwrap();
    let out = Command::new(man)
        .args(["--warnings", "-l"])
        .arg(&file)
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .env_remove("MANPAGER")
        .env_remove("PAGER")
        .output()
        .expect("man runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.is_empty(), "man: {err}");
    let text = plain(&String::from_utf8_lossy(&out.stdout));
    for needle in [
        "NAME",
        "SYNOPSIS",
        "vastar [OPTIONS] URL",
        "--connect-timeout <TIMEOUT>",
        "-D <BODY_FILE>",
        "COMMANDS",
        "vastar serve",
        "--listen <LISTEN>",
        "vastar completions",
        "EXAMPLES",
        "EXIT STATUS",
    ] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }
    assert!(text.lines().all(|l| l.chars().count() <= 80), "lines fit MANWIDTH");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A reader that has gone away (`vastar man | head -1`) is no failure:
/// exit 0, nothing on stderr, no panic. The pipe's reading end is closed
/// before vastar starts, so its first write fails, every time.
#[test]
fn a_closed_stdout_is_not_a_failure() {
    for args in [&["man"][..], &["completions", "bash"], &["completions", "zsh"]] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_vastar"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("the binary runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!((out.status.code(), err.as_ref()), (Some(0), ""), "{args:?}");
    }
}
