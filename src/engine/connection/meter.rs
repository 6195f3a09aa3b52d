//! What a response's body says about tokens, read as it arrives: an event
//! stream timed event by event (the first content event, the gaps between
//! them, the usage the server reports, an error event, a malformed chunk,
//! `[DONE]`), and a JSON answer's `usage` when the run asks an LLM endpoint.
//! The gaps between content events are held until the response ends: they
//! count only if it succeeds.
//!
//! The times are those of the reads that completed each event, as the
//! backend reports them (for an event stream, when the kernel received
//! them, if it stamped them); nothing here reads a clock.

use std::time::Instant;

use crate::http::openai::{ChunkScanner, EventData};
use crate::http::sse::{EventStreamParser, EventVisitor};
use crate::http::{BodyFormat, Feed, HttpError, ResponseReader};
use crate::stats::{DeferredValues, ErrorKind, nanos};

/// The facts of one response's body so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct BodyFacts {
    /// It was an event stream.
    pub(super) streamed: bool,
    /// Events with data, `[DONE]` not counted.
    pub(super) events: u32,
    /// Events with content (a token or several).
    pub(super) content_events: u32,
    pub(super) first_content: Option<Instant>,
    pub(super) last_content: Option<Instant>,
    /// The last `usage.completion_tokens` the server reported.
    pub(super) usage_tokens: Option<u64>,
    /// An OpenAI stream (a chunk had `choices`).
    pub(super) openai: bool,
    /// `[DONE]` arrived.
    pub(super) done: bool,
    /// What makes the response a failure, though it completed.
    pub(super) failure: Option<ErrorKind>,
}

impl BodyFacts {
    /// Output tokens, and whether the count came from the server's usage.
    pub(super) fn tokens(&self) -> (u64, bool) {
        match self.usage_tokens {
            Some(n) => (n, true),
            None => (u64::from(self.content_events), false),
        }
    }

    /// The failure, if any, once the body is complete: an OpenAI stream
    /// must end with `[DONE]`.
    pub(super) fn verdict(&self) -> Option<ErrorKind> {
        self.failure.or((self.streamed && self.openai && !self.done).then_some(ErrorKind::StreamUnfinished))
    }
}

/// Reads the bodies of one connection's responses, one at a time.
#[derive(Debug, Default)]
pub(super) struct Meter {
    format: BodyFormat,
    parser: EventStreamParser,
    scanner: ChunkScanner,
    /// The current event's type, compared with `error` as it arrives:
    /// bytes matched, or `None` once it differs.
    error_type: Option<usize>,
    facts: BodyFacts,
    /// The gaps between content events, in nanoseconds.
    pub(super) token_gaps: DeferredValues,
}

const ERROR_TYPE: &[u8] = b"error";

impl Meter {
    /// Starts on a response body of `format` (the final hop's).
    pub(super) fn begin(&mut self, format: BodyFormat) {
        self.format = format;
        self.parser = EventStreamParser::new();
        self.scanner = ChunkScanner::new();
        self.error_type = None;
        self.token_gaps.clear();
        self.facts = BodyFacts { streamed: format == BodyFormat::EventStream, ..BodyFacts::default() };
    }

    /// The format of the body being read.
    pub(super) fn format(&self) -> BodyFormat {
        self.format
    }

    /// Reads a piece of the body that arrived at `now`.
    pub(super) fn feed(&mut self, bytes: &[u8], now: Instant) {
        match self.format {
            BodyFormat::EventStream => {
                let mut events = Events {
                    scanner: &mut self.scanner,
                    error_type: &mut self.error_type,
                    facts: &mut self.facts,
                    token_gaps: &mut self.token_gaps,
                    now,
                };
                self.parser.feed(bytes, &mut events);
            }
            BodyFormat::Json => self.scanner.feed(bytes),
            BodyFormat::Opaque => {}
        }
    }

    /// The body is complete: its facts.
    pub(super) fn end(&mut self) -> BodyFacts {
        if self.format == BodyFormat::Json
            && let EventData::Json(chunk) = self.scanner.finish()
        {
            self.facts.usage_tokens = chunk.completion_tokens;
        }
        self.format = BodyFormat::Opaque;
        self.facts
    }
}

/// A connection's reading of response bodies: which ones are read (event
/// streams always; JSON answers when the run asks an LLM endpoint), and
/// the meter of the one being read, made on the first such body.
#[derive(Debug, Default)]
pub(super) struct BodyMeter {
    meter: Option<Box<Meter>>,
    /// The current response's body has begun (its format is decided).
    begun: bool,
    /// JSON answers are read for `usage`.
    usage_in_json: bool,
}

impl BodyMeter {
    /// Whether JSON answers are read for `usage` (the run's requests go to
    /// an LLM endpoint).
    pub(super) fn read_usage_in_json(&mut self, read: bool) {
        self.usage_in_json = read;
    }

    /// A response (a hop of a request) is about to be read.
    pub(super) fn reset(&mut self) {
        self.begun = false;
        if let Some(meter) = self.meter.as_mut() {
            meter.format = BodyFormat::Opaque;
        }
    }

    /// Feeds `data`, arrived at `now`, to `reader`, reading the body as it
    /// passes.
    #[inline]
    pub(super) fn feed(&mut self, reader: &mut ResponseReader, data: &[u8], now: Instant) -> Result<Feed, HttpError> {
        let (meter, begun, usage_in_json) = (&mut self.meter, &mut self.begun, self.usage_in_json);
        reader.feed_with(data, |format, body| {
            if !std::mem::replace(begun, true) {
                let read = format == BodyFormat::EventStream || (format == BodyFormat::Json && usage_in_json);
                if !read {
                    return;
                }
                meter.get_or_insert_with(Box::default).begin(format);
            }
            if let Some(meter) = meter.as_mut() {
                meter.feed(body, now);
            }
        })
    }

    /// Whether the body being read is an event stream (its events must not
    /// wait for a receive low-water mark).
    pub(super) fn streaming(&self) -> bool {
        self.meter.as_ref().is_some_and(|m| m.format() == BodyFormat::EventStream)
    }

    /// The facts of the body just completed, if it was read.
    pub(super) fn end(&mut self) -> Option<BodyFacts> {
        let meter =
            self.meter.as_mut().filter(|m| std::mem::take(&mut self.begun) && m.format() != BodyFormat::Opaque)?;
        Some(meter.end())
    }

    /// The gaps between the content events of the body last read, in
    /// nanoseconds (none if it was not read).
    pub(super) fn token_gaps(&self) -> Option<&DeferredValues> {
        self.meter.as_ref().map(|m| &m.token_gaps)
    }
}

/// An event stream's visitor for one read.
struct Events<'a> {
    scanner: &'a mut ChunkScanner,
    error_type: &'a mut Option<usize>,
    facts: &'a mut BodyFacts,
    token_gaps: &'a mut DeferredValues,
    now: Instant,
}

impl EventVisitor for Events<'_> {
    fn data(&mut self, fragment: &[u8]) {
        self.scanner.feed(fragment);
    }

    fn event_type(&mut self, fragment: &[u8], first: bool) {
        let matched = if first { Some(0) } else { *self.error_type };
        *self.error_type = matched.and_then(|at| {
            let end = at + fragment.len();
            (ERROR_TYPE.get(at..end) == Some(fragment)).then_some(end)
        });
    }

    fn dispatch(&mut self) {
        let error_event = std::mem::take(self.error_type) == Some(ERROR_TYPE.len());
        let facts = &mut *self.facts;
        let content = match self.scanner.finish() {
            EventData::Done => {
                facts.done = true;
                return;
            }
            EventData::Malformed => {
                facts.failure.get_or_insert(ErrorKind::MalformedEvent);
                false
            }
            EventData::Text => true,
            EventData::Json(chunk) => {
                facts.openai |= chunk.choices;
                if chunk.completion_tokens.is_some() {
                    facts.usage_tokens = chunk.completion_tokens;
                }
                if chunk.error {
                    facts.failure.get_or_insert(ErrorKind::StreamError);
                }
                // Other streams' events count as content; OpenAI's when a choice says something.
                if chunk.choices { chunk.content } else { !chunk.error && chunk.completion_tokens.is_none() }
            }
        };
        facts.events = facts.events.saturating_add(1);
        if error_event {
            facts.failure.get_or_insert(ErrorKind::StreamError);
            return;
        }
        if content && facts.failure.is_none() {
            // Times from different reads' stamps never run backwards.
            let at = facts.last_content.map_or(self.now, |last| last.max(self.now));
            if let Some(last) = facts.last_content {
                self.token_gaps.record(nanos(at - last));
            }
            facts.first_content.get_or_insert(at);
            facts.last_content = Some(at);
            facts.content_events = facts.content_events.saturating_add(1);
        }
    }

    fn discard(&mut self) {
        *self.error_type = None;
        self.scanner.finish();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Feeds `pieces`, each arriving `ms` after the start; returns the facts
    /// and the gaps held (ms, each gap as many times as it was seen).
    fn meter(format: BodyFormat, pieces: &[(u64, &str)]) -> (BodyFacts, Vec<u64>, Instant) {
        let (start, mut meter) = (Instant::now(), Meter::default());
        meter.begin(format);
        for &(ms, piece) in pieces {
            meter.feed(piece.as_bytes(), start + Duration::from_millis(ms));
        }
        let gaps = meter.token_gaps.groups().flat_map(|g| (0..g.count).map(|_| g.min_ns / 1_000_000)).collect();
        (meter.end(), gaps, start)
    }

    const ROLE: &str = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n";
    const TOKEN: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"tok\"}}]}\n\n";
    const USAGE: &str = "data: {\"choices\":[],\"usage\":{\"completion_tokens\":7}}\n\n";
    const DONE: &str = "data: [DONE]\n\n";

    #[test]
    fn an_openai_stream_is_timed_by_its_content_events() {
        let (facts, gaps, start) = meter(
            BodyFormat::EventStream,
            &[(5, ROLE), (80, TOKEN), (95, TOKEN), (110, &format!("{TOKEN}{USAGE}{DONE}"))],
        );
        assert_eq!(gaps, vec![15, 15]);
        assert_eq!((facts.events, facts.content_events, facts.done, facts.openai), (5, 3, true, true));
        assert_eq!(facts.first_content, Some(start + Duration::from_millis(80)));
        assert_eq!(facts.last_content, Some(start + Duration::from_millis(110)));
        assert_eq!((facts.tokens(), facts.verdict()), ((7, true), None));
    }

    #[test]
    fn without_usage_tokens_are_content_events() {
        let (facts, gaps, _) = meter(BodyFormat::EventStream, &[(1, TOKEN), (3, TOKEN), (4, DONE)]);
        assert_eq!((facts.tokens(), gaps), ((2, false), vec![2]));
    }

    #[test]
    fn other_event_streams_count_every_data_event() {
        let (facts, gaps, _) = meter(
            BodyFormat::EventStream,
            &[(1, ": ping\n\nevent: token\ndata: hello\n\n"), (4, "data: {\"token\":{\"text\":\"x\"}}\n\n")],
        );
        assert_eq!((facts.content_events, facts.tokens(), facts.verdict(), gaps), (2, (2, false), None, vec![3]));
    }

    #[test]
    fn failures_in_a_stream_are_named() {
        let error_event =
            meter(BodyFormat::EventStream, &[(1, TOKEN), (2, "event: error\ndata: {\"message\":\"x\"}\n\n")]);
        assert_eq!(error_event.0.verdict(), Some(ErrorKind::StreamError));
        let error_chunk = meter(BodyFormat::EventStream, &[(1, "data: {\"error\":{\"message\":\"overloaded\"}}\n\n")]);
        assert_eq!(error_chunk.0.verdict(), Some(ErrorKind::StreamError));
        let malformed = meter(BodyFormat::EventStream, &[(1, TOKEN), (2, "data: {\"choices\":[\n\n"), (3, DONE)]);
        assert_eq!(malformed.0.verdict(), Some(ErrorKind::MalformedEvent));
        let unfinished = meter(BodyFormat::EventStream, &[(1, TOKEN)]);
        assert_eq!(unfinished.0.verdict(), Some(ErrorKind::StreamUnfinished));
        // An event type that only starts like "error" is no error.
        let errors = meter(BodyFormat::EventStream, &[(1, "event: errors\ndata: x\n\nevent: err\ndata: y\n\n")]);
        assert_eq!((errors.0.verdict(), errors.0.content_events), (None, 2));
    }

    #[test]
    fn a_json_answer_reports_its_usage() {
        let answer = r#"{"choices":[{"message":{"content":"a b"}}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#;
        let (head, tail) = answer.split_at(40);
        let (facts, gaps, _) = meter(BodyFormat::Json, &[(1, head), (2, tail)]);
        assert_eq!(
            (facts.tokens(), facts.streamed, facts.events, facts.verdict(), gaps),
            ((2, true), false, 0, None, vec![])
        );
        let (opaque, _, _) = meter(BodyFormat::Opaque, &[(1, "data: x\n\n")]);
        assert_eq!(opaque, BodyFacts::default());
    }
}
