//! How a result document is laid out as text: objects indented, one key
//! per line, as `serde_json`'s pretty printer does; but a list stays on one
//! line, and a list of objects puts each object on one line of its own.
//! serde_json's pretty printer gives every number its own line, which made
//! a one-hour timeline (3600 intervals of up to hundreds of histogram
//! buckets) several times larger, and unreadable for it.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

use super::ResultDoc;

/// Writes `doc`, with a final newline, as it is serialised (a one-hour
/// timeline is megabytes: no copy of the whole text is kept).
pub fn write(out: &mut impl Write, doc: &ResultDoc) -> io::Result<()> {
    let mut buffered = io::BufWriter::with_capacity(64 * 1024, out);
    doc.serialize(&mut serde_json::Serializer::with_formatter(&mut buffered, Layout::default()))
        .map_err(io::Error::other)?;
    buffered.write_all(b"\n")?;
    buffered.flush()
}

/// An object or list being written.
#[derive(Clone, Copy, Debug)]
struct Frame {
    list: bool,
    /// On one line (inside a list).
    compact: bool,
    /// Has keys (an object) or put its items on lines of their own (a list).
    broken: bool,
}

#[derive(Debug, Default)]
struct Layout {
    open: Vec<Frame>,
}

impl Layout {
    fn newline<W: ?Sized + Write>(&self, out: &mut W) -> io::Result<()> {
        out.write_all(b"\n")?;
        for _ in 0..self.open.len() {
            out.write_all(b"  ")?;
        }
        Ok(())
    }

    fn lists(&self) -> usize {
        self.open.iter().filter(|f| f.list).count()
    }
}

impl Formatter for Layout {
    fn begin_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        // An object directly in an outermost list starts a line of its own.
        if let Some(list) = self.open.last_mut().filter(|f| f.list)
            && !list.compact
        {
            list.broken = true;
            self.newline(out)?;
        }
        let compact = self.lists() > 0;
        self.open.push(Frame { list: false, compact, broken: false });
        out.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        let frame = self.open.pop().unwrap_or(Frame { list: false, compact: true, broken: false });
        if frame.broken && !frame.compact {
            self.newline(out)?;
        }
        out.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        if !first {
            out.write_all(b",")?;
        }
        let Some(frame) = self.open.last_mut() else { return Ok(()) };
        frame.broken = true;
        if frame.compact { Ok(()) } else { self.newline(out) }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        let compact = self.open.last().is_none_or(|f| f.compact);
        out.write_all(if compact { b":" } else { b": " })
    }

    fn begin_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        let compact = self.lists() > 0;
        self.open.push(Frame { list: true, compact, broken: false });
        out.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        let frame = self.open.pop().unwrap_or(Frame { list: true, compact: true, broken: false });
        if frame.broken {
            self.newline(out)?;
        }
        out.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { out.write_all(b",") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: serde_json::Value) -> String {
        let mut out = Vec::new();
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, Layout::default())).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn objects_indent_lists_stay_on_a_line_objects_in_lists_get_one_each() {
        let value = serde_json::json!({
            "schema_version": 1,
            "run": {"windows_ns": [[1, 2]], "empty": {}},
            "rows": [{"p": 50.0, "s": "a\"b"}, {"p": 99.0, "s": ""}],
            "none": []
        });
        let want = "{\n  \"none\": [],\n  \"rows\": [\n    {\"p\":50.0,\"s\":\"a\\\"b\"},\n    {\"p\":99.0,\"s\":\"\"}\n  ],\n  \"run\": {\n    \"empty\": {},\n    \"windows_ns\": [[1,2]]\n  },\n  \"schema_version\": 1\n}";
        assert_eq!(text(value.clone()), want);
        assert_eq!(serde_json::from_str::<serde_json::Value>(want).unwrap(), value);
    }
}
