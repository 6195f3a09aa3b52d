//! Templates in a request's target, header values and body: `{{seq}}`,
//! `{{rand:N}}`, `{{uuid}}`, `{{line:FILE}}` and `{{line:FILE|json}}` (the line
//! escaped for the inside of a JSON string).
//!
//! Parsing is pure: it splits text into literal bytes and placeholders,
//! and only names the files that `{{line:...}}` reads. [`Filler`] gives
//! the random and per-line values when the pool is built (seeded, so a
//! run can be repeated); `{{seq}}` stays a placeholder until send time
//! (see [`super::pool`]). Text in double braces that names none of these
//! is sent as written, so JSON or Mustache in a body is left alone.

use std::fmt;

use super::find;

/// One part of a templated text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Literal(Vec<u8>),
    /// The request's number over the run (written at send time).
    Seq,
    /// A random integer in `0..N`.
    Rand(u64),
    /// A random (version 4) UUID.
    Uuid,
    /// The next line of this file, cycling.
    Line(String),
    /// The same, escaped to sit inside a JSON string (`{{line:FILE|json}}`):
    /// prompts with quotes, backslashes or tabs go into a JSON body whole.
    JsonLine(String),
}

/// A malformed placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// `{{rand:N}}` without a whole number from 1 up.
    Rand(String),
    /// `{{line:}}` without a file.
    LineFile,
    /// `{{seq`, `{{rand:…`, `{{uuid`, `{{line:…` never closed.
    Unclosed(String),
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Rand(n) => write!(f, "{{{{rand:{n}}}}}: N must be a whole number from 1 to 2^64-1"),
            TemplateError::LineFile => write!(f, "{{{{line:FILE}}}} needs a file name after the colon"),
            TemplateError::Unclosed(start) => write!(f, "{start:?} is never closed with }}}}"),
        }
    }
}

impl std::error::Error for TemplateError {}

/// Splits `text` into pieces, literal runs merged.
pub fn parse(text: &[u8]) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut literal = Vec::new();
    let mut rest = text;
    while let Some(open) = find(rest, b"{{") {
        literal.extend_from_slice(&rest[..open]);
        let inner = &rest[open + 2..];
        let known = [&b"seq"[..], b"uuid", b"rand:", b"line:"].iter().any(|name| inner.starts_with(name));
        let close = find(inner, b"}}");
        let piece = match (known, close) {
            (false, _) => None,
            (true, None) => {
                let start = String::from_utf8_lossy(&rest[open..(open + 8).min(rest.len())]).into_owned();
                return Err(TemplateError::Unclosed(start));
            }
            (true, Some(close)) => placeholder(&inner[..close])?,
        };
        match (piece, close) {
            (Some(piece), Some(close)) => {
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(piece);
                rest = &inner[close + 2..];
            }
            _ => {
                literal.extend_from_slice(b"{{");
                rest = inner;
            }
        }
    }
    literal.extend_from_slice(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// The placeholder named by the text between the braces; `None` for a
/// name that only starts like one (`{{sequence}}`), which stays literal.
fn placeholder(name: &[u8]) -> Result<Option<Piece>, TemplateError> {
    let text = String::from_utf8_lossy(name);
    Ok(match &*text {
        "seq" => Some(Piece::Seq),
        "uuid" => Some(Piece::Uuid),
        t if t.starts_with("rand:") => {
            let n = &t[5..];
            match n.parse::<u64>() {
                Ok(n) if n > 0 => Some(Piece::Rand(n)),
                _ => return Err(TemplateError::Rand(n.to_string())),
            }
        }
        t if t.starts_with("line:") => match t[5..].trim() {
            "" | "|json" => return Err(TemplateError::LineFile),
            path => match path.strip_suffix("|json") {
                Some(path) => Some(Piece::JsonLine(path.trim_end().to_string())),
                None => Some(Piece::Line(path.to_string())),
            },
        },
        _ => None,
    })
}

/// Whether any piece is a placeholder.
pub fn is_templated(pieces: &[Piece]) -> bool {
    pieces.iter().any(|p| !matches!(p, Piece::Literal(_)))
}

/// The files `{{line:...}}` names in `pieces`.
pub fn line_files(pieces: &[Piece]) -> impl Iterator<Item = &str> {
    pieces.iter().filter_map(|p| match p {
        Piece::Line(path) | Piece::JsonLine(path) => Some(path.as_str()),
        _ => None,
    })
}

/// A small seeded generator (splitmix64): the same seed gives the same values.
#[derive(Clone, Debug)]
pub struct Seeded(u64);

impl Seeded {
    pub fn new(seed: u64) -> Seeded {
        Seeded(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n` ≥ 1), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.next_u64();
            if v < zone || zone == 0 {
                return v % n;
            }
        }
    }
}

/// Gives placeholders their values while the pool is built: random ones
/// from the seeded generator, lines from files already read (in the
/// order their paths were given).
#[derive(Debug)]
pub struct Filler {
    random: Seeded,
    /// Each file's path, its lines, and the next line to give.
    files: Vec<(String, Vec<Vec<u8>>, usize)>,
}

/// A part of a text whose random and per-line values are chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Bytes(Vec<u8>),
    Seq,
}

impl Filler {
    /// `files`: each `{{line:...}}` path with its lines (at least one each).
    pub fn new(seed: u64, files: Vec<(String, Vec<Vec<u8>>)>) -> Filler {
        Filler { random: Seeded::new(seed), files: files.into_iter().map(|(p, l)| (p, l, 0)).collect() }
    }

    /// The seeded generator (also used to order targets).
    pub fn random(&mut self) -> &mut Seeded {
        &mut self.random
    }

    /// `pieces` with every value chosen except `{{seq}}`. A file that was
    /// not given counts as empty: the line is left out.
    pub fn fill(&mut self, pieces: &[Piece]) -> Vec<Part> {
        let mut parts = Vec::with_capacity(pieces.len());
        for piece in pieces {
            let bytes = match piece {
                Piece::Literal(bytes) => bytes.clone(),
                Piece::Seq => {
                    parts.push(Part::Seq);
                    continue;
                }
                Piece::Rand(n) => self.random.below(*n).to_string().into_bytes(),
                Piece::Uuid => uuid(self.random.next_u64(), self.random.next_u64()).into_bytes(),
                Piece::Line(path) => self.next_line(path),
                Piece::JsonLine(path) => json_escaped(&self.next_line(path)),
            };
            match parts.last_mut() {
                Some(Part::Bytes(last)) => last.extend_from_slice(&bytes),
                _ => parts.push(Part::Bytes(bytes)),
            }
        }
        parts
    }
}

impl Filler {
    /// The next line of file `path`, cycling (empty for a file not given).
    fn next_line(&mut self, path: &str) -> Vec<u8> {
        match self.files.iter_mut().find(|(p, _, _)| p == path) {
            Some((_, lines, next)) if !lines.is_empty() => {
                let line = lines[*next % lines.len()].clone();
                *next = (*next + 1) % lines.len();
                line
            }
            _ => Vec::new(),
        }
    }
}

/// `text` escaped for the inside of a JSON string (RFC 8259 §7): quotes,
/// backslashes and control characters; other bytes as they are.
fn json_escaped(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 8);
    for &b in text {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..0x20 | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out
}

/// `parts` with each `{{seq}}` written as `width` copies of `digit`.
pub fn render(parts: &[Part], digit: u8, width: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            Part::Bytes(bytes) => out.extend_from_slice(bytes),
            Part::Seq => out.extend(std::iter::repeat_n(digit, width)),
        }
    }
    out
}

/// A version 4 (random) UUID from 128 random bits (RFC 9562 §5.4).
pub fn uuid(high: u64, low: u64) -> String {
    let high = (high & !0xF000) | 0x4000;
    let low = (low & !(0b11 << 62)) | (0b10 << 62);
    let hex = format!("{high:016x}{low:016x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(text: &str) -> Piece {
        Piece::Literal(text.as_bytes().to_vec())
    }

    #[test]
    fn placeholders_are_parsed_and_other_braces_kept() {
        let cases: Vec<(&str, Vec<Piece>)> = vec![
            ("/plain", vec![lit("/plain")]),
            ("/u/{{seq}}", vec![lit("/u/"), Piece::Seq]),
            ("{{rand:10}}-{{uuid}}", vec![Piece::Rand(10), lit("-"), Piece::Uuid]),
            ("a{{line: ids.txt }}b", vec![lit("a"), Piece::Line("ids.txt".into()), lit("b")]),
            ("{{name}} {{sequence}}", vec![lit("{{name}} {{sequence}}")]),
            ("{\"a\":{{b}}}{{seq}}", vec![lit("{\"a\":{{b}}}"), Piece::Seq]),
            ("{{{{seq}}", vec![lit("{{"), Piece::Seq]),
            ("", vec![]),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text.as_bytes()), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn malformed_placeholders_are_refused() {
        for (text, want) in [
            ("{{rand:0}}", TemplateError::Rand("0".into())),
            ("{{rand:x}}", TemplateError::Rand("x".into())),
            ("{{rand:-1}}", TemplateError::Rand("-1".into())),
            ("{{rand:99999999999999999999}}", TemplateError::Rand("99999999999999999999".into())),
            ("{{line:}}", TemplateError::LineFile),
            ("/{{seq", TemplateError::Unclosed("{{seq".into())),
        ] {
            assert_eq!(parse(text.as_bytes()), Err(want.clone()), "{text:?}");
            assert!(!want.to_string().is_empty());
        }
    }

    #[test]
    fn values_are_seeded_and_lines_cycle() {
        let pieces = parse(b"{{rand:1000}}/{{line:f}}/{{seq}}").unwrap();
        let lines = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
        let mut one = Filler::new(7, vec![("f".into(), lines.clone())]);
        let mut two = Filler::new(7, vec![("f".into(), lines)]);
        let texts: Vec<Vec<u8>> = (0..4).map(|_| render(&one.fill(&pieces), b'0', 2)).collect();
        let again: Vec<Vec<u8>> = (0..4).map(|_| render(&two.fill(&pieces), b'0', 2)).collect();
        assert_eq!(texts, again, "same seed, same values");
        let suffixes: Vec<String> = texts
            .iter()
            .map(|t| String::from_utf8_lossy(&t[t.iter().position(|&b| b == b'/').unwrap()..]).into())
            .collect();
        assert_eq!(suffixes, ["/a/00", "/b/00", "/c/00", "/a/00"]);
        let mut seeded = Seeded::new(1);
        assert!((0..1000).all(|_| seeded.below(3) < 3));
    }

    /// Seeded garbage of braces and names: parsing never panics, and a
    /// text that parses renders back to itself where it holds no placeholder.
    #[test]
    fn any_text_parses_or_is_refused() {
        let alphabet: &[&[u8]] = &[b"{", b"}", b"{{", b"}}", b"seq", b"rand:", b"line:", b"uuid", b"7", b"x", b"\xff"];
        let mut random = Seeded::new(11);
        for _ in 0..5000 {
            let text: Vec<u8> = (0..random.below(12))
                .flat_map(|_| alphabet[random.below(alphabet.len() as u64) as usize].to_vec())
                .collect();
            if let Ok(pieces) = parse(&text)
                && !is_templated(&pieces)
            {
                let mut filler = Filler::new(1, Vec::new());
                assert_eq!(render(&filler.fill(&pieces), b'0', 3), text);
            }
        }
    }

    #[test]
    fn uuids_are_version_4_variant_1() {
        let id = uuid(u64::MAX, u64::MAX);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(uuid(0, 0), "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn a_json_line_goes_into_a_json_string_whole() {
        assert_eq!(parse(b"{{line: p.txt |json}}").unwrap(), vec![Piece::JsonLine("p.txt".into())]);
        assert_eq!(parse(b"{{line:|json}}"), Err(TemplateError::LineFile));
        let prompts = vec![b"say \"hi\"\\ then\ttab \x01 \xc3\xa9".to_vec(), b"plain".to_vec()];
        let mut filler = Filler::new(1, vec![("p.txt".into(), prompts.clone())]);
        let pieces = parse(br#"{"content":"{{line:p.txt|json}}","raw":"{{line:p.txt}}"}"#).unwrap();
        let body = render(&filler.fill(&pieces), b'0', 0);
        let value: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(value["content"].as_str().unwrap().as_bytes(), &prompts[0][..]);
        assert_eq!(value["raw"], "plain", "both forms take turns on one file");
    }
}
