//! Any bytes as an event-stream body, each event's data scanned as an
//! OpenAI chunk: no panic, and the same events with the same facts whether
//! the body comes whole or in pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vastar::http::openai::{ChunkScanner, EventData};
use vastar::http::sse::{EventStreamParser, EventVisitor};

#[derive(Default)]
struct Facts {
    scanner: ChunkScanner,
    events: Vec<EventData>,
}

impl EventVisitor for Facts {
    fn data(&mut self, fragment: &[u8]) {
        self.scanner.feed(fragment);
    }
    fn event_type(&mut self, _: &[u8], _: bool) {}
    fn dispatch(&mut self) {
        let data = self.scanner.finish();
        self.events.push(data);
    }
    fn discard(&mut self) {
        self.scanner.finish();
    }
}

fn events(input: &[u8], piece: usize) -> Vec<EventData> {
    let (mut parser, mut facts) = (EventStreamParser::new(), Facts::default());
    input.chunks(piece).for_each(|chunk| parser.feed(chunk, &mut facts));
    facts.events
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, input)) = data.split_first() else { return };
    assert_eq!(events(input, input.len().max(1)), events(input, usize::from(choice).max(1)));
});
