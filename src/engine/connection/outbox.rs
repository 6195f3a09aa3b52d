//! What the connection machine has for its backend, kept small: the I/O it
//! asks for as flags (a close, a connect, bytes to transmit: always carried
//! out in that order), and its events as short notes whose large payloads
//! (the finished request's record, the opening's outcome) wait in one slot
//! each. HTTP/1.1 ends at most one stream at a time, so one slot is enough;
//! the notes' queue holds a few dozen bytes once it has grown.

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

#[derive(Debug, Default)]
pub(super) struct Outbox {
    close: bool,
    connect: bool,
    transmit: bool,
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
        self.notes.push_back(Note::Head { stream, status, at });
    }

    pub(super) fn body(&mut self, stream: StreamId, bytes: u64, at: Instant) {
        self.notes.push_back(Note::Body { stream, bytes, at });
    }

    pub(super) fn sample(&mut self, stream: StreamId, metric: usize, values: Phase, at: Instant) {
        self.notes.push_back(Note::Sample { stream, metric, values, at });
    }

    pub(super) fn finished(&mut self, stream: StreamId, finished: Finished) {
        debug_assert!(self.finished.is_none(), "one stream ends at a time");
        self.finished = Some((stream, finished));
        self.notes.push_back(Note::Finished);
    }

    pub(super) fn opened(&mut self, opened: Opened) {
        self.opened = Some(opened);
        self.notes.push_back(Note::Opened);
    }

    /// The next event, taken off.
    pub(super) fn next_event(&mut self) -> Option<Event> {
        loop {
            let event = match self.notes.pop_front()? {
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
}
