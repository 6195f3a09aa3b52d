//! The event-stream parser against WHATWG's cases, every split point, and
//! a plain reference parser on seeded random streams.

use super::*;

/// Events as a browser's EventSource would dispatch them: (type, data).
type Events = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Default)]
struct Recorder {
    kind: Vec<u8>,
    data: Vec<u8>,
    events: Events,
}

impl EventVisitor for Recorder {
    fn data(&mut self, fragment: &[u8]) {
        self.data.extend_from_slice(fragment);
    }
    fn event_type(&mut self, fragment: &[u8], first: bool) {
        if first {
            self.kind.clear();
        }
        self.kind.extend_from_slice(fragment);
    }
    fn dispatch(&mut self) {
        let event = (std::mem::take(&mut self.kind), std::mem::take(&mut self.data));
        self.events.push(event);
    }
    fn discard(&mut self) {
        self.kind.clear();
        self.data.clear();
    }
}

/// The parser's events for `input` fed in pieces of the given sizes (the
/// last piece takes the rest).
fn parse_in(input: &[u8], sizes: impl IntoIterator<Item = usize>) -> Events {
    let (mut parser, mut seen, mut rest) = (EventStreamParser::new(), Recorder::default(), input);
    for size in sizes {
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        parser.feed(piece, &mut seen);
        rest = tail;
    }
    parser.feed(rest, &mut seen);
    seen.events
}

/// WHATWG's algorithm written the plain way, over the whole input at once.
fn reference(input: &[u8]) -> Events {
    let input = input.strip_prefix(BOM).unwrap_or(input);
    let (mut events, mut kind, mut data) = (Events::new(), Vec::new(), Vec::<u8>::new());
    let mut has_data = false;
    let mut lines = Vec::new();
    let mut i = 0;
    let mut start = 0;
    while i < input.len() {
        match input[i] {
            b'\r' => {
                lines.push(&input[start..i]);
                i += if input.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                start = i;
            }
            b'\n' => {
                lines.push(&input[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    for line in lines {
        if line.is_empty() {
            if has_data {
                events.push((std::mem::take(&mut kind), std::mem::take(&mut data)));
            }
            (has_data, kind, data) = (false, Vec::new(), Vec::new());
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(at) => (&line[..at], line[at + 1..].strip_prefix(b" ").unwrap_or(&line[at + 1..])),
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                if has_data {
                    data.push(b'\n');
                }
                has_data = true;
                data.extend_from_slice(value);
            }
            b"event" => kind = value.to_vec(),
            _ => {}
        }
    }
    events
}

fn ev(kind: &str, data: &str) -> (Vec<u8>, Vec<u8>) {
    (kind.as_bytes().to_vec(), data.as_bytes().to_vec())
}

#[test]
fn the_format_as_whatwg_defines_it() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("data: hello\n\n", &[("", "hello")]),
        ("data:hello\n\n", &[("", "hello")]),
        ("data:  two\n\n", &[("", " two")]),
        ("data: a\ndata: b\n\n", &[("", "a\nb")]),
        ("data: a\n\ndata: b\n\n", &[("", "a"), ("", "b")]),
        ("event: add\ndata: x\n\n", &[("add", "x")]),
        ("event:a\nevent:b\ndata:x\n\n", &[("b", "x")]),
        (": a comment\ndata: x\n:another\n\n", &[("", "x")]),
        ("data: x\r\n\r\n", &[("", "x")]),
        ("data: x\r\rdata: y\r\r", &[("", "x"), ("", "y")]),
        ("data: x\r\n\ndata: y\n\r\n", &[("", "x"), ("", "y")]),
        ("data\n\n", &[("", "")]),
        ("data:\n\n", &[("", "")]),
        ("data\ndata\n\n", &[("", "\n")]),
        ("event: e\n\ndata: z\n\n", &[("", "z")]),
        ("id: 1\nretry: 10\ndata: q\n\n", &[("", "q")]),
        ("\u{feff}data: bom\n\n", &[("", "bom")]),
        ("data: no end\n", &[]),
        ("data: no end", &[]),
        ("dat: x\n\ndatas: x\n\neventful: y\ndata: z\n\n", &[("", "z")]),
        ("data: [DONE]\n\n", &[("", "[DONE]")]),
        ("\n\n\r\n:\n", &[]),
        ("data: a:b: c\n\n", &[("", "a:b: c")]),
        ("DATA: upper\n\n", &[]),
    ];
    for &(input, want) in cases {
        let want: Events = want.iter().map(|&(k, d)| ev(k, d)).collect();
        assert_eq!(parse_in(input.as_bytes(), []), want, "{input:?}");
        assert_eq!(reference(input.as_bytes()), want, "reference, {input:?}");
    }
}

#[test]
fn every_split_point_and_single_bytes_give_the_same_events() {
    let input =
        "\u{feff}: hi\r\nevent: token\r\ndata: {\"a\": 1}\r\ndata: more\r\n\r\nid: 7\rdata: x\r\rdata: [DONE]\n\n";
    let whole = parse_in(input.as_bytes(), []);
    assert_eq!(whole.len(), 3);
    for at in 0..=input.len() {
        assert_eq!(parse_in(input.as_bytes(), [at]), whole, "split at {at}");
        for second in at..=input.len() {
            assert_eq!(parse_in(input.as_bytes(), [at, second - at]), whole, "split at {at} and {second}");
        }
    }
    assert_eq!(parse_in(input.as_bytes(), std::iter::repeat_n(1, input.len())), whole, "1-byte reads");
}

#[test]
fn a_partial_byte_order_mark_is_data() {
    // The first bytes of a BOM that turns out not to be one are read as written.
    let input = b"\xef\xbbdata: x\n\ndata: y\n\n";
    for at in 0..input.len() {
        assert_eq!(parse_in(input, [at]), vec![ev("", "y")], "split at {at}");
    }
    assert_eq!(parse_in(b"\xefdata: x\n\n", [1]), Events::new(), "an unknown field");
}

#[test]
fn a_huge_event_is_never_buffered() {
    let big = "x".repeat(1 << 20);
    let input = format!("data: {big}\n\n");
    let parser = EventStreamParser::new();
    let events = parse_in(input.as_bytes(), std::iter::repeat_n(4096, 300));
    assert_eq!(events, vec![ev("", &big)]);
    assert!(
        std::mem::size_of_val(&parser) <= 48,
        "the parser is a few bytes of state: {}",
        std::mem::size_of_val(&parser)
    );
}

#[test]
fn random_streams_match_the_reference_in_any_pieces() {
    const WORDS: &[&str] = &[
        "data",
        "data:",
        "data: ",
        "event:",
        "event: ",
        "id:",
        "retry: 5",
        ":",
        " ",
        "\r",
        "\n",
        "\r\n",
        "x",
        "yz",
        "[DONE]",
        "\u{feff}",
        "dat",
        "é",
        "\n\n",
        "data: {\"choices\":[]}\n\n",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let words = 1 + next() % 40;
        let input: String = (0..words).map(|_| WORDS[(next() % WORDS.len() as u64) as usize]).collect();
        let want = reference(input.as_bytes());
        let sizes: Vec<usize> = (0..1 + next() % 6).map(|_| (next() % 12) as usize).collect();
        assert_eq!(parse_in(input.as_bytes(), sizes.clone()), want, "{input:?} in pieces {sizes:?}");
    }
}
