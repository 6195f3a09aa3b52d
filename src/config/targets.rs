//! Target files (`--targets FILE`): vegeta's HTTP format, and plain lists
//! of URLs, so that an existing vegeta file or a list of endpoints works
//! as it is.
//!
//! The format, as vegeta reads it: a target is `METHOD URL` on a line,
//! then its header lines (`Name: value`), then optionally `@path` (the body
//! is that file's bytes, and the target ends there); targets are separated
//! by blank lines, and lines starting with `#` are comments anywhere. Two
//! liberties, both of which vegeta refuses: a line holding only a URL is a
//! `GET` (so a list of URLs is a target file), and a target line directly
//! after another target's headers starts the next target.
//!
//! Parsing is pure: reading body files is the caller's closure, so every
//! rule is tested without files.

/// One target as the file gives it, not yet checked against the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetLine {
    /// The line the target starts on (from 1).
    pub line: usize,
    /// `None` for a bare URL (the run's `-m`, GET by default).
    pub method: Option<String>,
    pub url: String,
    /// Header fields in file order, names as written.
    pub headers: Vec<(String, String)>,
    /// The `@path` file's bytes, if given.
    pub body: Option<bytes::Bytes>,
}

/// Why a target file cannot be used: the line, and what is wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub line: usize,
    pub why: String,
}

/// Parses a target file's text. `read_body` reads an `@path` body (or
/// says why it cannot); `most` targets are accepted, the next is refused.
pub fn parse(
    text: &str,
    most: usize,
    read_body: &mut dyn FnMut(&str) -> Result<bytes::Bytes, String>,
) -> Result<Vec<TargetLine>, FileError> {
    let mut targets: Vec<TargetLine> = Vec::new();
    // Within a target's header lines (after its target line, before a blank line or a body).
    let mut open = false;
    for (i, raw) in text.lines().enumerate() {
        let (line, fail) = (i + 1, |why: String| FileError { line: i + 1, why });
        let text = raw.trim();
        if text.is_empty() {
            open = false;
            continue;
        }
        if text.starts_with('#') {
            continue;
        }
        if let Some((method, url)) = target_line(text).map_err(fail)? {
            if targets.len() == most {
                return Err(fail(format!(
                    "more than {most} targets; each needs a place in the request pool: raise --template-pool"
                )));
            }
            targets.push(TargetLine { line, method, url, headers: Vec::new(), body: None });
            open = true;
            continue;
        }
        let Some(target) = targets.last_mut().filter(|_| open) else {
            return Err(fail(format!(
                "{text:?} is not a target; write METHOD URL (GET http://host/path) or a URL on its own line"
            )));
        };
        if let Some(path) = text.strip_prefix('@') {
            let path = path.trim();
            if path.is_empty() {
                return Err(fail("@ needs the path of the body file after it (@/path/to/body.json)".into()));
            }
            target.body = Some(read_body(path).map_err(|why| fail(format!("body file {path:?}: {why}")))?);
            open = false;
            continue;
        }
        target.headers.push(header(text).map_err(fail)?);
    }
    if targets.is_empty() {
        return Err(FileError {
            line: text.lines().count().max(1),
            why: "holds no target; write one per line as METHOD URL or a URL".into(),
        });
    }
    Ok(targets)
}

/// A target line's method (none for a bare URL) and URL; `None` when the
/// line is not a target line (a header, a body).
fn target_line(text: &str) -> Result<Option<(Option<String>, String)>, String> {
    let is_url = |t: &str| {
        let lower = t.get(..8).unwrap_or(t).to_ascii_lowercase();
        lower.starts_with("http://") || lower.starts_with("https://")
    };
    if is_url(text) {
        return match text.split_whitespace().nth(1) {
            None => Ok(Some((None, text.to_string()))),
            Some(_) => Err(format!("{text:?}: a URL has no spaces (percent-encode them as %20)")),
        };
    }
    let Some((word, rest)) = text.split_once([' ', '\t']) else { return Ok(None) };
    // vegeta's rule: a method is upper-case ASCII followed by white space.
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_uppercase()) {
        if word.bytes().all(|b| b.is_ascii_alphabetic()) && is_url(rest.trim()) {
            return Err(format!("{word:?} is not a method; methods are upper case (GET, POST, ...)"));
        }
        return Ok(None);
    }
    let url = rest.trim();
    if url.is_empty() || !is_url(url) {
        return Err(format!("{url:?} is not a URL; write the whole URL, http://host[:port]/path"));
    }
    if url.split_whitespace().nth(1).is_some() {
        return Err(format!("{url:?}: a URL has no spaces (percent-encode them as %20)"));
    }
    Ok(Some((Some(word.to_string()), url.to_string())))
}

/// A header line: `Name: value`, both sides non-empty (as vegeta), the
/// name a token.
fn header(text: &str) -> Result<(String, String), String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(format!("{text:?} is not a header; write Name: value"));
    };
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() || value.is_empty() {
        return Err(format!("{text:?}: a header needs a name and a value"));
    }
    if !name.bytes().all(crate::http::is_tchar) {
        return Err(format!("{name:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"));
    }
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn read(text: &str) -> Result<Vec<TargetLine>, FileError> {
        parse(text, 100, &mut |path| match path {
            "/missing" => Err("No such file or directory".into()),
            other => Ok(Bytes::from(format!("body of {other}"))),
        })
    }

    fn target(
        line: usize,
        method: Option<&str>,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> TargetLine {
        TargetLine {
            line,
            method: method.map(str::to_string),
            url: url.into(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.map(|b| Bytes::from(b.to_string())),
        }
    }

    /// The examples of vegeta's README ("http format"), read as it describes them.
    #[test]
    fn vegeta_readme_examples() {
        let simple = "GET http://goku:9090/path/to/dragon?item=ball\nGET http://user:password@goku:9090/path/to\n\
                      HEAD http://goku:9090/path/to/success\n";
        assert_eq!(
            read(simple).unwrap(),
            [
                target(1, Some("GET"), "http://goku:9090/path/to/dragon?item=ball", &[], None),
                target(2, Some("GET"), "http://user:password@goku:9090/path/to", &[], None),
                target(3, Some("HEAD"), "http://goku:9090/path/to/success", &[], None),
            ]
        );
        let headers = "GET http://user:password@goku:9090/path/to\nX-Account-ID: 8675309\n\n\
                       DELETE http://goku:9090/path/to/remove\nConfirmation-Token: 90215\nAuthorization: Token DEADBEEF\n";
        assert_eq!(
            read(headers).unwrap(),
            [
                target(1, Some("GET"), "http://user:password@goku:9090/path/to", &[("X-Account-ID", "8675309")], None),
                target(
                    4,
                    Some("DELETE"),
                    "http://goku:9090/path/to/remove",
                    &[("Confirmation-Token", "90215"), ("Authorization", "Token DEADBEEF")],
                    None
                ),
            ]
        );
        let bodies = "POST http://goku:9090/things\n@/path/to/newthing.json\n\n\
                      PATCH http://goku:9090/thing/71988591\n@/path/to/thing-71988591.json\n";
        assert_eq!(
            read(bodies).unwrap(),
            [
                target(1, Some("POST"), "http://goku:9090/things", &[], Some("body of /path/to/newthing.json")),
                target(
                    4,
                    Some("PATCH"),
                    "http://goku:9090/thing/71988591",
                    &[],
                    Some("body of /path/to/thing-71988591.json")
                ),
            ]
        );
        let both = "POST http://goku:9090/things\nX-Account-ID: 99\n@/path/to/newthing.json\n";
        assert_eq!(
            read(both).unwrap(),
            [target(
                1,
                Some("POST"),
                "http://goku:9090/things",
                &[("X-Account-ID", "99")],
                Some("body of /path/to/newthing.json")
            )]
        );
        let comments = "# get a dragon ball\nGET http://goku:9090/path/to/dragon?item=ball\n# specify a test account\n\
                        X-Account-ID: 99\n";
        assert_eq!(
            read(comments).unwrap(),
            [target(2, Some("GET"), "http://goku:9090/path/to/dragon?item=ball", &[("X-Account-ID", "99")], None)]
        );
    }

    /// The cases of vegeta's own parser test (lib/targets_test.go), minus
    /// its empty-host URLs: repeated headers, custom methods, comments
    /// inside a target, indentation.
    #[test]
    fn vegeta_parser_cases() {
        let text = "  GET http://h:6060/\n  X-Header: 1\n  X-Header: 2\n\n  PUT https://h:6060/123\n\n\
                    SUBSCRIBE http://foobar.org/sub\n\n# c\nGET http://h:8000/\n# inside\nX-Header: 1\n# again\nX-Header: 2";
        assert_eq!(
            read(text).unwrap(),
            [
                target(1, Some("GET"), "http://h:6060/", &[("X-Header", "1"), ("X-Header", "2")], None),
                target(5, Some("PUT"), "https://h:6060/123", &[], None),
                target(7, Some("SUBSCRIBE"), "http://foobar.org/sub", &[], None),
                target(10, Some("GET"), "http://h:8000/", &[("X-Header", "1"), ("X-Header", "2")], None),
            ]
        );
    }

    #[test]
    fn plain_url_lists_are_gets_and_may_mix_with_methods() {
        let text = "http://h/a\nhttps://h/b?x=1\n\nPOST http://h/c\nContent-Type: application/json\nhttp://h/d\n";
        let got = read(text).unwrap();
        let summary: Vec<(Option<&str>, &str, usize)> =
            got.iter().map(|t| (t.method.as_deref(), t.url.as_str(), t.headers.len())).collect();
        assert_eq!(
            summary,
            [
                (None, "http://h/a", 0),
                (None, "https://h/b?x=1", 0),
                (Some("POST"), "http://h/c", 1),
                (None, "http://h/d", 0)
            ]
        );
    }

    #[test]
    fn bad_files_name_the_line() {
        for (text, line, needle) in [
            ("DO_WORK http://h/", 1, "not a target"),
            ("get http://h/", 1, "upper case"),
            ("GET", 1, "not a target"),
            ("GET foobar", 1, "not a URL"),
            ("GET http://h/ x", 1, "no spaces"),
            ("GET http://h/\n@/missing", 2, "No such file"),
            ("GET http://h/\n@", 2, "needs the path"),
            ("GET http://h/\nAuthorization", 2, "not a header"),
            ("GET http://h/\nAuthorization:", 2, "name and a value"),
            ("GET http://h/\n: 1234", 2, "name and a value"),
            ("GET http://h/\nBad Name: 1", 2, "not a valid header name"),
            ("GET http://h/\n\nX-A: 1", 3, "not a target"),
            ("GET http://h/\n@/b\nX-A: 1", 3, "not a target"),
            ("\n# only comments\n", 2, "no target"),
            ("", 1, "no target"),
        ] {
            let err = read(text).expect_err(text);
            assert_eq!(err.line, line, "{text:?}: {}", err.why);
            assert!(err.why.contains(needle), "{text:?}: {}", err.why);
        }
    }

    /// Every prefix of a file, and seeded garbage, parses or fails with a
    /// line inside the text; nothing panics.
    #[test]
    fn any_text_parses_or_names_a_line_in_it() {
        let file = "# c\nGET http://h:1/a?b=c\nX-A: 1\n@/b\n\nhttp://h/d\nPOST https://[::1]:8/e\n\tAuth: x y\n";
        let mut texts: Vec<String> = (0..=file.len()).map(|n| file[..n].to_string()).collect();
        let alphabet = b"GETPOSThtp:/ @#\n\t-[]{}xyz1";
        let mut random = crate::http::template::Seeded::new(5);
        for _ in 0..2000 {
            let len = random.below(60) as usize;
            texts.push((0..len).map(|_| char::from(alphabet[random.below(alphabet.len() as u64) as usize])).collect());
        }
        for text in texts {
            if let Err(e) = read(&text) {
                assert!(e.line >= 1 && e.line <= text.lines().count().max(1), "{text:?}: line {}", e.line);
            }
        }
    }

    #[test]
    fn one_target_more_than_allowed_is_refused_at_its_line() {
        let text = "http://h/1\nhttp://h/2\nhttp://h/3\n";
        assert_eq!(parse(text, 3, &mut |_| Ok(Bytes::new())).unwrap().len(), 3);
        let err = parse(text, 2, &mut |_| Ok(Bytes::new())).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.why.contains("more than 2 targets") && err.why.contains("--template-pool"), "{}", err.why);
    }
}
