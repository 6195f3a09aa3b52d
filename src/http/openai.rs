//! What one event of an OpenAI-compatible stream says, found without
//! building a JSON tree.
//!
//! A streaming chat or completions answer is a series of JSON chunks; to
//! time tokens, a load generator needs three facts from each: does it carry
//! output (a non-empty `choices[].delta.content`, `choices[].text`,
//! `delta.reasoning_content` or `delta.reasoning`), does it report usage
//! (`usage.completion_tokens`), is it an error (a top-level `error`). The
//! [`ChunkScanner`] reads an event's data in fragments, as the event-stream
//! parser hands them over, checks that it is well-formed JSON as it goes
//! and keeps only those facts: a few dozen bytes of state, whatever the
//! event's size. `[DONE]` (the end of an OpenAI stream) and data that is
//! not JSON at all (other event streams) are told apart from both.

/// What an event's data turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventData {
    /// `[DONE]`: an OpenAI stream's last event, with no content.
    Done,
    /// A JSON value.
    Json(Chunk),
    /// Not JSON (it does not start with `{` or `[`): a plain event.
    Text,
    /// It starts as JSON but is not well-formed (or nests deeper than
    /// [`MAX_DEPTH`]).
    Malformed,
}

/// The facts of one JSON chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    /// It has a top-level `choices`: an OpenAI chunk.
    pub choices: bool,
    /// A choice carries output text.
    pub content: bool,
    /// `usage.completion_tokens`, when it says.
    pub completion_tokens: Option<u64>,
    /// It has a top-level `error` that says something: an object, an
    /// array, a string or `true` (not `null`, `false` or a number).
    pub error: bool,
}

/// Deepest nesting followed; deeper data is [`EventData::Malformed`].
pub const MAX_DEPTH: usize = 64;
/// Longest key that can name something looked for.
const KEY_BYTES: usize = 20;

/// The keys that matter, by where they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Choices,
    Usage,
    Error,
    Text,
    Delta,
    Content,
    CompletionTokens,
    /// Any other key, an array element, or nothing yet.
    Other,
}

fn key_of(name: &[u8]) -> Key {
    match name {
        b"choices" => Key::Choices,
        b"usage" => Key::Usage,
        b"error" => Key::Error,
        b"text" => Key::Text,
        b"delta" => Key::Delta,
        b"content" | b"reasoning_content" | b"reasoning" => Key::Content,
        b"completion_tokens" => Key::CompletionTokens,
        _ => Key::Other,
    }
}

/// What the scanner expects next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Nothing seen yet (whitespace may come first).
    Start,
    Value,
    /// After `{`: a key or `}`.
    KeyOrClose,
    /// After `,` in an object.
    Key,
    Colon,
    /// After a value inside a container.
    CommaOrClose,
    /// Inside a string; `key` when it is an object's key.
    Str {
        key: bool,
        escape: bool,
    },
    Number,
    /// Inside `true`, `false` or `null`: the bytes still to come.
    Literal {
        rest: &'static [u8],
    },
    /// After `[`: a value or `]`.
    ValueOrClose,
    /// The top-level value is complete.
    End,
    /// Not JSON: the rest is not looked at.
    Text,
    Malformed,
}

/// Reads one event's data; [`ChunkScanner::finish`] says what it was.
#[derive(Clone, Debug)]
pub struct ChunkScanner {
    expect: Expect,
    /// Open containers; bit `i` set when the one at depth `i + 1` is an object.
    objects: u64,
    depth: usize,
    /// The key being read at each of the first depths (where the facts are).
    keys: [Key; 4],
    key: [u8; KEY_BYTES],
    key_len: usize,
    /// The number being read counts completion tokens.
    counting: bool,
    number: Option<u64>,
    chunk: Chunk,
    /// Bytes of the data that matched `[DONE]` so far (`None`: it is not).
    done: Option<usize>,
}

impl Default for ChunkScanner {
    fn default() -> Self {
        Self::new()
    }
}

const DONE: &[u8] = b"[DONE]";

impl ChunkScanner {
    pub fn new() -> Self {
        ChunkScanner {
            expect: Expect::Start,
            objects: 0,
            depth: 0,
            keys: [Key::Other; 4],
            key: [0; KEY_BYTES],
            key_len: 0,
            counting: false,
            number: None,
            chunk: Chunk::default(),
            done: Some(0),
        }
    }

    /// Reads the next fragment of the event's data.
    pub fn feed(&mut self, fragment: &[u8]) {
        if let Some(matched) = self.done {
            let end = matched + fragment.len();
            self.done = (DONE.get(matched..end) == Some(fragment)).then_some(end);
        }
        let mut at = 0;
        while at < fragment.len() {
            at += self.step(&fragment[at..]);
        }
    }

    /// What the event was; the scanner is ready for the next one.
    pub fn finish(&mut self) -> EventData {
        if self.expect == Expect::Number {
            self.end_number();
            self.after_value();
        }
        let data = match self.expect {
            _ if self.done == Some(DONE.len()) => EventData::Done,
            Expect::Text | Expect::Start => EventData::Text,
            Expect::End => EventData::Json(self.chunk),
            _ => EventData::Malformed,
        };
        *self = ChunkScanner::new();
        data
    }

    /// Reads from the start of `bytes`; returns how many it used.
    fn step(&mut self, bytes: &[u8]) -> usize {
        let byte = bytes[0];
        match self.expect {
            Expect::Str { key, escape } => return self.string(bytes, key, escape),
            Expect::Text | Expect::Malformed => return bytes.len(),
            Expect::Number if is_number_byte(byte) => {
                self.number_byte(byte);
                return 1;
            }
            Expect::Number => {
                self.end_number();
                self.after_value();
                return 0;
            }
            Expect::Literal { rest } => {
                self.expect = match rest.split_first() {
                    Some((&want, rest)) if want == byte && rest.is_empty() => {
                        self.after_value();
                        self.expect
                    }
                    Some((&want, rest)) if want == byte => Expect::Literal { rest },
                    _ => Expect::Malformed,
                };
                return 1;
            }
            _ => {}
        }
        if matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            return 1;
        }
        self.expect = match (self.expect, byte) {
            (Expect::ValueOrClose, b']') => return self.close(byte),
            (Expect::Start, b'{' | b'[') | (Expect::Value | Expect::ValueOrClose, _) => return self.value(byte),
            (Expect::Start, _) => Expect::Text,
            (Expect::KeyOrClose, b'}') | (Expect::CommaOrClose, b'}' | b']') => return self.close(byte),
            (Expect::KeyOrClose | Expect::Key, b'"') => {
                self.key_len = 0;
                Expect::Str { key: true, escape: false }
            }
            (Expect::Colon, b':') => Expect::Value,
            (Expect::CommaOrClose, b',') if self.in_object() => Expect::Key,
            (Expect::CommaOrClose, b',') => {
                self.set_key(Key::Other);
                Expect::Value
            }
            _ => Expect::Malformed,
        };
        1
    }

    /// A value starts with `byte`.
    fn value(&mut self, byte: u8) -> usize {
        let at = self.path();
        self.expect = match byte {
            b'{' | b'[' => return self.open(byte == b'{'),
            b'"' => Expect::Str { key: false, escape: false },
            b'-' | b'0'..=b'9' => {
                self.counting = at == Some(Fact::CompletionTokens);
                self.number = Some(0);
                self.number_byte(byte);
                Expect::Number
            }
            b't' => Expect::Literal { rest: b"rue" },
            b'f' => Expect::Literal { rest: b"alse" },
            b'n' => Expect::Literal { rest: b"ull" },
            _ => Expect::Malformed,
        };
        // An error is an object, a message or `true`; `null`, `false` and
        // numbers say there is none.
        if matches!(byte, b'"' | b't') && at == Some(Fact::Error) {
            self.chunk.error = true;
        }
        1
    }

    fn open(&mut self, object: bool) -> usize {
        if self.path() == Some(Fact::Error) {
            self.chunk.error = true;
        }
        if self.depth == MAX_DEPTH {
            self.expect = Expect::Malformed;
            return 1;
        }
        self.objects = (self.objects & !(1 << self.depth)) | (u64::from(object) << self.depth);
        self.depth += 1;
        self.set_key(Key::Other);
        self.expect = if object { Expect::KeyOrClose } else { Expect::ValueOrClose };
        1
    }

    fn close(&mut self, byte: u8) -> usize {
        if (byte == b'}') != self.in_object() {
            self.expect = Expect::Malformed;
            return 1;
        }
        self.depth -= 1;
        self.after_value();
        1
    }

    /// Inside a string: skips to its end, noting what the facts need.
    fn string(&mut self, bytes: &[u8], key: bool, mut escape: bool) -> usize {
        if !key && !escape && bytes[0] != b'"' && self.path() == Some(Fact::Content) {
            self.chunk.content = true;
        }
        for (i, &b) in bytes.iter().enumerate() {
            if escape {
                escape = false;
                self.key_len = KEY_BYTES + 1;
                continue;
            }
            match b {
                b'\\' => escape = true,
                b'"' => {
                    if key {
                        let name =
                            if self.key_len <= KEY_BYTES { key_of(&self.key[..self.key_len]) } else { Key::Other };
                        self.set_key(name);
                        self.expect = Expect::Colon;
                    } else {
                        self.after_value();
                    }
                    return i + 1;
                }
                0..0x20 => {
                    self.expect = Expect::Malformed;
                    return i + 1;
                }
                _ if key => {
                    if let Some(slot) = self.key.get_mut(self.key_len) {
                        *slot = b;
                    }
                    self.key_len += 1;
                }
                _ => {}
            }
        }
        self.expect = Expect::Str { key, escape };
        bytes.len()
    }

    fn number_byte(&mut self, byte: u8) {
        self.number = match (self.number, byte) {
            (Some(n), b'0'..=b'9') => Some(n.saturating_mul(10).saturating_add(u64::from(byte - b'0'))),
            // A sign, a fraction or an exponent: not a token count.
            _ => None,
        };
    }

    fn end_number(&mut self) {
        if std::mem::take(&mut self.counting) {
            self.chunk.completion_tokens = self.number.or(self.chunk.completion_tokens);
        }
    }

    /// A value ended: what may follow it.
    fn after_value(&mut self) {
        self.expect = if self.depth == 0 { Expect::End } else { Expect::CommaOrClose };
    }

    fn in_object(&self) -> bool {
        self.depth > 0 && self.objects & (1 << (self.depth - 1)) != 0
    }

    fn set_key(&mut self, key: Key) {
        if let Some(slot) = self.depth.checked_sub(1).and_then(|d| self.keys.get_mut(d)) {
            *slot = key;
        }
        if key == Key::Choices && self.depth == 1 {
            self.chunk.choices = true;
        }
    }

    /// Which fact a value starting now would be, from the keys above it.
    fn path(&self) -> Option<Fact> {
        let [k1, k2, k3, k4] = self.keys;
        let object = |depth: usize| self.objects & (1 << (depth - 1)) != 0;
        let choice = self.depth >= 3 && k1 == Key::Choices && object(1) && !object(2) && object(3);
        match self.depth {
            1 if k1 == Key::Error => Some(Fact::Error),
            2 if k1 == Key::Usage && object(2) && k2 == Key::CompletionTokens => Some(Fact::CompletionTokens),
            3 if choice && k3 == Key::Text => Some(Fact::Content),
            4 if choice && k3 == Key::Delta && object(4) && k4 == Key::Content => Some(Fact::Content),
            _ => None,
        }
    }
}

/// What a value at the current place would tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fact {
    Error,
    CompletionTokens,
    Content,
}

fn is_number_byte(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
}

#[cfg(test)]
#[path = "openai_tests.rs"]
mod tests;
