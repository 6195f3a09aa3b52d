//! Where results go: the human report, the JSON result document or the CSV
//! percentile table on stdout (the report moving to stderr for the last
//! two), the `--html` report, and the `merge`, `diff` and `plot` commands
//! that read result documents back.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use super::Error;
use crate::cli::{BenchArgs, DiffArgs, MergeArgs, PlotArgs};
use crate::config::proxy::Proxy;
use crate::config::{Config, Output};
use crate::report;
use crate::result::{Meta, ResultDoc, merge};
use crate::stats::{Timeline, WorkerStats};
use crate::summary::{RunInfo, Summary};
use crate::term::Style;

/// The command line as given, for the result's `command` field, with the
/// secrets of `proxy` hidden ([`hide_proxy_secrets`]).
pub fn command_line(proxy: Option<&Proxy>) -> Vec<String> {
    let args = hide_proxy_password(std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect());
    hide_proxy_secrets(args, proxy)
}

/// Hides the proxy's secrets by value, wherever the flags put them
/// (`-px URL`, `-kxURL`, `--proxy-header`): every occurrence of its
/// password and of its `Proxy-Authorization` field's value becomes `***`,
/// and an argument holding `user:...@` has its password hidden.
fn hide_proxy_secrets(args: Vec<String>, proxy: Option<&Proxy>) -> Vec<String> {
    let Some(proxy) = proxy else { return args };
    let mut secrets: Vec<&str> = proxy.credentials.iter().map(|(_, pass)| pass.as_str()).collect();
    secrets.extend(
        proxy.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("proxy-authorization")).map(|(_, v)| v.as_str()),
    );
    let user = proxy.credentials.as_ref().map(|(user, _)| format!("{user}:"));
    args.into_iter()
        .map(|mut arg| {
            if user.as_ref().is_some_and(|user| arg.contains(user.as_str()) && arg.contains('@')) {
                arg = crate::config::proxy::hide_password(&arg);
            }
            secrets.iter().filter(|s| !s.is_empty()).fold(arg, |arg, secret| arg.replace(secret, "***"))
        })
        .collect()
}

/// The command line with the password of a `-x`/`--proxy` URL shown as
/// `***`: result files are shared, proxy credentials are not.
fn hide_proxy_password(mut args: Vec<String>) -> Vec<String> {
    let hide = crate::config::proxy::hide_password;
    for i in 0..args.len() {
        let after_flag = i > 0 && matches!(args[i - 1].as_str(), "-x" | "--proxy");
        if after_flag {
            args[i] = hide(&args[i]);
        } else if let Some(url) = args[i].strip_prefix("--proxy=") {
            args[i] = format!("--proxy={}", hide(url));
        } else if let Some(url) = args[i].strip_prefix("-x").filter(|u| !u.is_empty()) {
            args[i] = format!("-x{}", hide(url));
        }
    }
    args
}

/// Writes `text` to stdout; a reader that went away (`| head`) is not a failure.
fn to_stdout(write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) -> Result<(), Error> {
    let mut stdout = io::stdout().lock();
    match write(&mut stdout).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Output(e)),
    }
}

/// Prints generated text as it is (a completion script, the man page).
pub fn print(text: &[u8]) -> Result<ExitCode, Error> {
    to_stdout(|out| out.write_all(text))?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a finished run in the format asked for: JSON and CSV on stdout
/// with the report on stderr (left out with `--quiet`).
/// Returns whether every `--assert` threshold held.
pub fn emit(
    (stats, timeline): (&WorkerStats, &Timeline),
    info: &RunInfo,
    meta: Meta,
    config: &Config,
    (args, html): (&BenchArgs, Option<HtmlFile>),
) -> Result<bool, Error> {
    let summary = Summary::new(stats, info).with_timeline(Some(timeline)).with_assertions(&config.assertions);
    let output = config.output;
    let label = format!("{} {}", meta.target.method, meta.target.url);
    let doc = (html.is_some() || output != Output::Text).then(|| ResultDoc::new(&summary, meta));
    if output == Output::Text {
        to_stdout(|out| report::render(out, &summary, &Style::for_stdout(args.no_color)))?;
    } else if !args.quiet {
        let mut stderr = io::stderr().lock();
        let style = Style::for_stderr(args.no_color);
        let _ = report::render(&mut stderr, &summary, &style).and_then(|()| stderr.flush());
    }
    if let Some(doc) = doc.as_ref().filter(|_| output != Output::Text) {
        to_stdout(|out| match output {
            Output::Csv => out.write_all(doc.csv().as_bytes()),
            _ => crate::result::json::write(out, doc),
        })?;
    }
    // Last: the report and the result are out even if this write fails.
    if let (Some(html), Some(doc)) = (html, &doc) {
        html.write(&[crate::html::Input { label, doc }])?;
    }
    Ok(summary.passed())
}

/// Exit status 3: a `--assert` threshold failed, or `diff --fail-on-regression`
/// found a regression.
pub const ASSERTION_FAILED: u8 = 3;

/// Every result document in `input` (several may follow each other).
fn documents(name: &str, input: &str) -> Result<Vec<ResultDoc>, Error> {
    let fail = |why: String| Error::Input(format!("{name}: {why}"));
    let mut docs = Vec::new();
    for (i, value) in serde_json::Deserializer::from_str(input).into_iter::<serde_json::Value>().enumerate() {
        let value = value.map_err(|e| fail(format!("not JSON: {e}")))?;
        let doc = ResultDoc::from_value(value).and_then(|doc| doc.stats().map(|_| doc));
        docs.push(doc.map_err(|e| fail(format!("document {}: {e}", i + 1)))?);
    }
    if docs.is_empty() {
        return Err(fail("no result in it; write results with vastar -o json".into()));
    }
    Ok(docs)
}

/// Most bytes read from one merge input (results are tens of kilobytes;
/// a collected log of thousands still fits).
const MAX_RESULT_BYTES: u64 = 256 * 1024 * 1024;

/// Every result document in `file` (`-` for standard input).
fn read_documents(file: &str) -> Result<Vec<ResultDoc>, Error> {
    let name = if file == "-" { "standard input".to_string() } else { format!("{file:?}") };
    let bytes = if file == "-" {
        let mut bytes = Vec::new();
        io::stdin().take(MAX_RESULT_BYTES + 1).read_to_end(&mut bytes).map(|_| bytes)
    } else {
        std::fs::File::open(file).and_then(|f| {
            let mut bytes = Vec::new();
            f.take(MAX_RESULT_BYTES + 1).read_to_end(&mut bytes).map(|_| bytes)
        })
    };
    let bytes = bytes.map_err(|e| Error::Input(format!("cannot read {name}: {e}")))?;
    if bytes.len() as u64 > MAX_RESULT_BYTES {
        return Err(Error::Input(format!("{name} is larger than 256 MiB; is it a result file of vastar -o json?")));
    }
    let text = String::from_utf8(bytes).map_err(|_| Error::Input(format!("{name} is not UTF-8 text")))?;
    documents(&name, &text)
}

/// `vastar merge FILE...`: one report (or document) for all the results.
pub fn merge_command(args: &MergeArgs) -> Result<ExitCode, Error> {
    let output = Output::parse("-o", &args.output, false)?;
    let assertions = crate::config::flags::assertions(&args.assertions)?;
    let mut docs = Vec::new();
    for file in &args.files {
        docs.extend(read_documents(file)?);
    }
    let merged = merge::merge(&docs, args.force, command_line(None)).map_err(Error::Input)?;
    let stats = merged.stats().map_err(Error::Input)?;
    let info = merged.run_info();
    let summary = Summary::new(&stats, &info).with_assertions(&assertions);
    match output {
        Output::Json => {
            let mut merged = merged;
            merged.assertions = crate::result::ResultDoc::assertions_of(&summary);
            to_stdout(|out| crate::result::json::write(out, &merged))?
        }
        _ => to_stdout(|out| report::render(out, &summary, &Style::for_stdout(args.no_color)))?,
    }
    Ok(if summary.passed() { ExitCode::SUCCESS } else { ExitCode::from(ASSERTION_FAILED) })
}

/// `vastar diff BASE NEW`: each figure's change and its verdict.
pub fn diff_command(args: &DiffArgs) -> Result<ExitCode, Error> {
    let assertions = crate::config::flags::assertions(&args.assertions)?;
    let fail_pct = match args.fail_on_regression {
        Some(pct) if !(pct.is_finite() && pct >= 0.0) => {
            let why = format!("{pct} is not a percentage; give 0 or more (5 means worse by more than 5%)");
            return Err(Error::Config(crate::config::ConfigError::Invalid { flag: "--fail-on-regression", why }));
        }
        pct => pct,
    };
    let one = |file: &str| -> Result<ResultDoc, Error> {
        let mut docs = read_documents(file)?;
        match docs.len() {
            1 => Ok(docs.remove(0)),
            n => Err(Error::Input(format!(
                "{file:?} holds {n} results; merge them first (vastar merge -o json) and compare the merge"
            ))),
        }
    };
    let (base, new) = (one(&args.base)?, one(&args.new)?);
    let diff = crate::diff::diff(&base, &new).map_err(Error::Input)?;
    let stats = new.stats().map_err(Error::Input)?;
    let info = new.run_info();
    let summary = Summary::new(&stats, &info).with_assertions(&assertions);
    let names = [args.base.as_str(), args.new.as_str()];
    let style = Style::for_stdout(args.no_color);
    to_stdout(|out| {
        match args.markdown {
            true => crate::diff::render::markdown(out, &diff, names)?,
            false => crate::diff::render::text(out, &diff, names, &style)?,
        }
        if let Some(pct) = fail_pct {
            crate::diff::render::gate(out, &diff, pct, args.markdown)?;
        }
        report::assertions(out, &summary, &style)
    })?;
    let regressed = fail_pct.is_some_and(|pct| diff.regressions(pct).next().is_some());
    Ok(if regressed || !summary.passed() { ExitCode::from(ASSERTION_FAILED) } else { ExitCode::SUCCESS })
}

/// A file for `--html`, created before the run so that a bad path fails
/// at once instead of after it.
pub struct HtmlFile {
    path: std::path::PathBuf,
    file: std::fs::File,
}

/// Creates the `--html` file.
pub fn html_file(path: &std::path::Path) -> Result<HtmlFile, Error> {
    let file = std::fs::File::create(path).map_err(|e| {
        Error::Config(crate::config::ConfigError::Invalid {
            flag: "--html",
            why: format!("cannot write {}: {e}", path.display()),
        })
    })?;
    Ok(HtmlFile { path: path.to_path_buf(), file })
}

impl HtmlFile {
    fn write(self, inputs: &[crate::html::Input]) -> Result<(), Error> {
        let mut out = io::BufWriter::new(self.file);
        crate::html::page(&mut out, inputs)
            .and_then(|()| out.flush())
            .map_err(|e| Error::Input(format!("cannot write the HTML report {}: {e}", self.path.display())))
    }
}

/// `vastar plot FILE...`: the HTML report of one or several results.
pub fn plot_command(args: &PlotArgs) -> Result<ExitCode, Error> {
    let mut docs: Vec<(String, ResultDoc)> = Vec::new();
    for file in &args.files {
        let found = read_documents(file)?;
        let name = if file == "-" {
            "stdin".to_string()
        } else {
            std::path::Path::new(file).file_name().map_or(file.clone(), |n| n.to_string_lossy().into_owned())
        };
        let several = found.len() > 1;
        for (i, doc) in found.into_iter().enumerate() {
            docs.push((if several { format!("{name} #{}", i + 1) } else { name.clone() }, doc));
        }
    }
    let inputs: Vec<crate::html::Input> =
        docs.iter().map(|(label, doc)| crate::html::Input { label: label.clone(), doc }).collect();
    match &args.out {
        Some(path) => html_file(path)?.write(&inputs)?,
        None => to_stdout(|out| crate::html::page(out, &inputs))?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::hide_proxy_password;

    #[test]
    fn proxy_passwords_are_hidden_in_the_recorded_command_line() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let given =
            args(&["vastar", "-x", "http://u:s3cret@p:1", "--proxy=socks5h://a:b@p:2", "-xu:pw@p:3", "-a", "x:y"]);
        let want =
            args(&["vastar", "-x", "http://u:***@p:1", "--proxy=socks5h://a:***@p:2", "-xu:***@p:3", "-a", "x:y"]);
        assert_eq!(hide_proxy_password(given), want);
        let plain = args(&["vastar", "-x", "http://p:1", "--proxy", "u@p:2"]);
        assert_eq!(hide_proxy_password(plain.clone()), plain);
    }
}
