//! What the connection machine has for its backend, kept small: the I/O it
//! asks for as flags (a close, a connect, bytes to transmit: always carried
//! out in that order), and its events as short notes whose large payloads
//! (the finished request's record, the opening's outcome) wait in one slot
//! each. HTTP/1.1 ends at most one stream at a time, so one slot is enough.
//! Without progress events a connection's only notes are its openings and
//! its streams' ends, a couple at a time: they wait in two bytes of the
//! outbox, and the queue (whose first push takes room for four notes, 320
//! bytes, kept for the connection's life) is for the progress notes.

use std::collections::VecDeque;
use std::time::Instant;

use super::output::{Event, Finished, Opened, StreamId};
use crate::stats::Phase;

/// An event, without its large payload.
#[derive(Clone, Copy, Debug)]
enum Note {
    Opened,
    Head { stream: StreamId, status: u16, at: Instant },
    Body { stream: StreamId, bytes: u64, at: Instant },
    Sample { stream: StreamId, metric: usize, values: Phase, at: Instant },
    Finished,
}

/// Which I/O comes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pending {
    Close,
    Connect,
    Transmit,
}

/// A note without fields, small enough to wait outside the queue.
#[derive(Clone, Copy, Debug)]
enum Mark {
    Opened,
    Finished,
}

impl Mark {
    fn note(self) -> Note {
        match self {
            Mark::Opened => Note::Opened,
            Mark::Finished => Note::Finished,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Outbox {
    close: bool,
    connect: bool,
    transmit: bool,
    /// The oldest notes, while they are marks: when one is held, `notes` is
    /// empty (a note for the queue moves these into it first).
    marks: [Option<Mark>; 2],
    notes: VecDeque<Note>,
    finished: Option<(StreamId, Finished)>,
    opened: Option<Opened>,
}

impl Outbox {
    /// The socket must go.
    pub(super) fn close(&mut self) {
        self.close = true;
    }

    /// The socket must go and a new one be opened.
    pub(super) fn reconnect(&mut self) {
        (self.close, self.connect) = (true, true);
    }

    /// Bytes wait to be transmitted (or not).
    pub(super) fn set_transmit(&mut self, transmit: bool) {
        self.transmit = transmit;
    }

    #[cfg(test)]
    pub(super) fn transmit_pending(&self) -> bool {
        self.transmit
    }

    /// The next I/O, taken off.
    pub(super) fn next_step(&mut self) -> Option<Pending> {
        if std::mem::take(&mut self.close) {
            Some(Pending::Close)
        } else if std::mem::take(&mut self.connect) {
            Some(Pending::Connect)
        } else {
            std::mem::take(&mut self.transmit).then_some(Pending::Transmit)
        }
    }

    pub(super) fn head(&mut self, stream: StreamId, status: u16, at: Instant) {
        self.queue(Note::Head { stream, status, at });
    }

    pub(super) fn body(&mut self, stream: StreamId, bytes: u64, at: Instant) {
        self.queue(Note::Body { stream, bytes, at });
    }

    pub(super) fn sample(&mut self, stream: StreamId, metric: usize, values: Phase, at: Instant) {
        self.queue(Note::Sample { stream, metric, values, at });
    }

    pub(super) fn finished(&mut self, stream: StreamId, finished: Finished) {
        debug_assert!(self.finished.is_none(), "one stream ends at a time");
        self.finished = Some((stream, finished));
        self.mark(Mark::Finished);
    }

    pub(super) fn opened(&mut self, opened: Opened) {
        self.opened = Some(opened);
        self.mark(Mark::Opened);
    }

    /// The next event, taken off.
    pub(super) fn next_event(&mut self) -> Option<Event> {
        loop {
            let event = match self.take_note()? {
                Note::Head { stream, status, at } => Some(Event::Head { stream, status, at }),
                Note::Body { stream, bytes, at } => Some(Event::Body { stream, bytes, at }),
                Note::Sample { stream, metric, values, at } => Some(Event::Sample { stream, metric, values, at }),
                Note::Opened => self.opened.take().map(Event::Opened),
                Note::Finished => self.finished.take().map(|(stream, finished)| Event::Finished { stream, finished }),
            };
            if event.is_some() {
                return event;
            }
        }
    }

    /// A mark waits outside the queue while nothing waits in it.
    fn mark(&mut self, mark: Mark) {
        if self.notes.is_empty()
            && let Some(free) = self.marks.iter_mut().find(|held| held.is_none())
        {
            *free = Some(mark);
            return;
        }
        self.queue(mark.note());
    }

    /// A note for the queue, behind the marks held (which go first).
    fn queue(&mut self, note: Note) {
        for held in &mut self.marks {
            if let Some(mark) = held.take() {
                self.notes.push_back(mark.note());
            }
        }
        self.notes.push_back(note);
    }

    /// The oldest note: a held mark, or else the queue's first.
    fn take_note(&mut self) -> Option<Note> {
        match self.marks[0].take() {
            Some(mark) => {
                self.marks[0] = self.marks[1].take();
                Some(mark.note())
            }
            None => self.notes.pop_front(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::stats::Record;

    fn opened() -> Opened {
        Opened { result: Ok(()), handshake: None, tunnel: None }
    }

    fn finished(status: u16) -> Finished {
        let record = Record::sample(Ok(status), Duration::from_millis(1));
        Finished { record, handshake: None, tunnel: None, target: 0 }
    }

    /// The events as short names, in the order they are polled.
    fn drain(outbox: &mut Outbox) -> Vec<String> {
        std::iter::from_fn(|| outbox.next_event())
            .map(|event| match event {
                Event::Opened(_) => "opened".to_string(),
                Event::Head { status, .. } => format!("head {status}"),
                Event::Body { bytes, .. } => format!("body {bytes}"),
                Event::Sample { metric, .. } => format!("sample {metric}"),
                Event::Finished { finished, .. } => format!("finished {:?}", finished.record.result),
            })
            .collect()
    }

    #[test]
    fn openings_and_ends_alone_keep_their_order_without_a_queue() {
        let mut outbox = Outbox::default();
        for round in 0..3 {
            outbox.opened(opened());
            outbox.finished(StreamId(round), finished(200));
            assert_eq!(drain(&mut outbox), ["opened", "finished Ok(200)"]);
            outbox.finished(StreamId(round), finished(204));
            assert_eq!(drain(&mut outbox), ["finished Ok(204)"]);
        }
        assert_eq!(outbox.notes.capacity(), 0, "no note went to the queue");
    }

    #[test]
    fn progress_notes_queue_behind_the_marks_held_and_marks_behind_them() {
        let (mut outbox, at) = (Outbox::default(), Instant::now());
        outbox.opened(opened());
        outbox.head(StreamId(1), 200, at);
        outbox.body(StreamId(1), 5, at);
        outbox.finished(StreamId(1), finished(200));
        assert_eq!(drain(&mut outbox), ["opened", "head 200", "body 5", "finished Ok(200)"]);
        // Two marks held, then a note for the queue: the marks go first.
        outbox.opened(opened());
        outbox.finished(StreamId(2), finished(500));
        outbox.head(StreamId(3), 201, at);
        assert_eq!(drain(&mut outbox), ["opened", "finished Ok(500)", "head 201"]);
    }

    #[test]
    fn a_third_mark_goes_to_the_queue_behind_the_two_held() {
        let mut outbox = Outbox::default();
        outbox.opened(opened());
        outbox.finished(StreamId(1), finished(200));
        outbox.opened(opened()); // a second opening replaces the first's outcome
        assert_eq!(outbox.notes.len(), 3, "both marks moved into the queue, in order");
        assert_eq!(drain(&mut outbox), ["opened", "finished Ok(200)"]);
        outbox.finished(StreamId(2), finished(201));
        assert_eq!(drain(&mut outbox), ["finished Ok(201)"]);
    }
}
