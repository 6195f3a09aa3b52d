//! Server-sent events (the WHATWG `text/event-stream` format), read as the
//! body arrives.
//!
//! LLM endpoints stream their answers this way, and the time of each event
//! is what their users measure. The parser walks the body once, in whatever
//! pieces the network hands over (a line, an event or a field may be split
//! anywhere), and tells an [`EventVisitor`] what it finds: fragments of an
//! event's data and type as they pass, and the end of each event. It keeps
//! a few bytes of state and never buffers an event, so a megabyte event
//! costs no memory. Lines end with CRLF, LF or CR; a line starting with `:`
//! is a comment; `data` lines of one event are joined with `\n`; `id` and
//! `retry` are read and ignored (a load generator never reconnects a
//! stream); a leading byte order mark is skipped. An event with no `data`
//! line is not dispatched (WHATWG's "data buffer is empty" rule).

/// What the parser finds, in order.
pub trait EventVisitor {
    /// A fragment of the current event's data. The data of several `data`
    /// lines is joined by a `\n`, handed over as its own fragment.
    fn data(&mut self, fragment: &[u8]);
    /// A fragment of the current event's type. `first` starts a new value:
    /// a later `event` line replaces an earlier one.
    fn event_type(&mut self, fragment: &[u8], first: bool);
    /// A blank line ended an event that had at least one `data` line.
    fn dispatch(&mut self);
    /// A blank line ended an event without data: nothing is dispatched and
    /// its type is forgotten.
    fn discard(&mut self) {}
}

/// The field of the line being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Data,
    Event,
    /// `id`, `retry` and any field this format does not define: ignored.
    Ignored,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    /// At the start of a line.
    Start,
    /// Reading a field's name (its first bytes kept in `name`).
    Name,
    /// Just after the colon: one space there is not part of the value.
    AfterColon,
    /// Reading a field's value.
    Value,
    /// Inside a comment line.
    Comment,
}

const BOM: &[u8] = "\u{feff}".as_bytes();
/// Longest field name that means anything here (`event`, `retry`).
const NAME_BYTES: usize = 5;

/// Incremental event-stream parser; one per response body.
#[derive(Clone, Debug)]
pub struct EventStreamParser {
    line: Line,
    field: Field,
    name: [u8; NAME_BYTES],
    /// Bytes of the name so far (more than [`NAME_BYTES`]: no known field).
    name_len: usize,
    /// The last byte was a CR: an LF right after it ends no second line.
    after_cr: bool,
    /// The current event has had a `data` line.
    has_data: bool,
    /// Bytes of a byte order mark matched at the stream's start; `None`
    /// once the start is past.
    bom: Option<usize>,
}

impl Default for EventStreamParser {
    fn default() -> Self {
        Self::new()
    }
}

impl EventStreamParser {
    pub fn new() -> Self {
        EventStreamParser {
            line: Line::Start,
            field: Field::Ignored,
            name: [0; NAME_BYTES],
            name_len: 0,
            after_cr: false,
            has_data: false,
            bom: Some(0),
        }
    }

    /// Reads the next piece of the body.
    pub fn feed(&mut self, mut bytes: &[u8], visitor: &mut impl EventVisitor) {
        if let Some(matched) = self.bom {
            let Some(rest) = self.skip_bom(matched, &mut bytes, visitor) else { return };
            bytes = rest;
        }
        while !bytes.is_empty() {
            let used = match self.line {
                Line::Start => self.line_start(bytes[0], visitor),
                Line::Name => self.name_byte(bytes[0], visitor),
                Line::AfterColon => {
                    self.line = Line::Value;
                    usize::from(bytes[0] == b' ')
                }
                Line::Value => self.value(bytes, visitor),
                Line::Comment => self.comment(bytes),
            };
            bytes = &bytes[used..];
        }
    }

    /// Matches the stream's first bytes against a byte order mark; `None`
    /// when all of `bytes` was (part of) it. A partial match that fails is
    /// read as ordinary bytes.
    fn skip_bom<'a>(
        &mut self,
        matched: usize,
        bytes: &mut &'a [u8],
        visitor: &mut impl EventVisitor,
    ) -> Option<&'a [u8]> {
        let common = bytes.iter().zip(&BOM[matched..]).take_while(|(a, b)| a == b).count();
        if matched + common == BOM.len() {
            self.bom = None;
            return Some(&bytes[common..]);
        }
        if common == bytes.len() {
            self.bom = Some(matched + common);
            return None;
        }
        self.bom = None;
        self.feed(&BOM[..matched], visitor);
        Some(bytes)
    }

    fn line_start(&mut self, byte: u8, visitor: &mut impl EventVisitor) -> usize {
        if std::mem::take(&mut self.after_cr) && byte == b'\n' {
            return 1;
        }
        match byte {
            b'\r' | b'\n' => {
                self.after_cr = byte == b'\r';
                if std::mem::take(&mut self.has_data) {
                    visitor.dispatch();
                } else {
                    visitor.discard();
                }
            }
            b':' => self.line = Line::Comment,
            _ => {
                self.line = Line::Name;
                self.name_len = 0;
                return 0;
            }
        }
        1
    }

    fn name_byte(&mut self, byte: u8, visitor: &mut impl EventVisitor) -> usize {
        match byte {
            b':' => {
                self.begin_value(visitor);
                self.line = Line::AfterColon;
            }
            b'\r' | b'\n' => {
                // A line without a colon names a field with an empty value.
                self.begin_value(visitor);
                self.end_line(byte);
            }
            _ => {
                if let Some(slot) = self.name.get_mut(self.name_len) {
                    *slot = byte;
                }
                self.name_len += 1;
            }
        }
        1
    }

    /// The field's name is complete: say what a value of it starts.
    fn begin_value(&mut self, visitor: &mut impl EventVisitor) {
        let name = &self.name[..self.name_len.min(NAME_BYTES)];
        self.field = match name {
            _ if self.name_len > NAME_BYTES => Field::Ignored,
            b"data" => Field::Data,
            b"event" => Field::Event,
            _ => Field::Ignored,
        };
        match self.field {
            Field::Data => {
                if std::mem::replace(&mut self.has_data, true) {
                    visitor.data(b"\n");
                }
            }
            Field::Event => visitor.event_type(b"", true),
            Field::Ignored => {}
        }
    }

    fn value(&mut self, bytes: &[u8], visitor: &mut impl EventVisitor) -> usize {
        let end = line_end(bytes);
        let fragment = &bytes[..end.unwrap_or(bytes.len())];
        if !fragment.is_empty() {
            match self.field {
                Field::Data => visitor.data(fragment),
                Field::Event => visitor.event_type(fragment, false),
                Field::Ignored => {}
            }
        }
        match end {
            Some(at) => {
                self.end_line(bytes[at]);
                at + 1
            }
            None => bytes.len(),
        }
    }

    fn comment(&mut self, bytes: &[u8]) -> usize {
        match line_end(bytes) {
            Some(at) => {
                self.end_line(bytes[at]);
                at + 1
            }
            None => bytes.len(),
        }
    }

    fn end_line(&mut self, byte: u8) {
        self.line = Line::Start;
        self.after_cr = byte == b'\r';
    }
}

/// Where the first CR or LF in `bytes` is.
fn line_end(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n' || b == b'\r')
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
