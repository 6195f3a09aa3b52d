//! One pacer per server thread writes the events of all its streams.
//!
//! With a task and a tokio timer per stream, every event cost a timer
//! entry, a wake-up and a task poll, and tokio fires only on whole
//! milliseconds: at 10,000 streams of 20 events a second the mock wrote
//! about 90,000 events a second, in bursts, its first events 150 ms late
//! instead of 80. Here a connection's task reads the request and hands the
//! stream over (with its socket); the pacer keeps every stream in one
//! queue of [`Deadlines`], wakes at the earliest on an [`Alarm`], and
//! writes each event that is due straight to its socket without blocking,
//! then queues the stream for its next one. Only when a socket's buffer is
//! full does the stream go back to its task, which waits for room, writes
//! the rest of the event and hands the stream over again; at the end the
//! socket goes back for the connection's next request.
//!
//! Each write is timed when it returns, as before, and recorded in the
//! mock's truth: the truth never says an event left earlier than it did.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::alarm::Alarm;
use super::deadlines::Deadlines;
use super::events::{Endpoint, Schedule, Usage, closing_events};
use super::truth::Written;
use crate::server::Shared;

/// Most events written before the pacer lets the thread's other tasks run
/// (reads of new requests, accepts).
const EVENTS_PER_TURN: usize = 512;

/// A streaming answer whose head is written, and its connection.
pub(super) struct Paced {
    socket: TcpStream,
    endpoint: Endpoint,
    tokens: u32,
    usage: Option<Usage>,
    body_complete: Instant,
    /// The next content event to write.
    next: u32,
    last_write: Option<Instant>,
    back: Option<oneshot::Sender<Handback>>,
}

/// What the pacer gives back to a connection's task.
pub(super) enum Handback {
    /// Every event is written: the socket, for the next request.
    Done(TcpStream),
    /// The socket's buffer is full: these bytes, the rest of the next
    /// event, are to be written when it has room.
    Blocked(Paced, Vec<u8>),
    /// The peer is gone.
    Failed,
}

impl Paced {
    pub(super) fn new(socket: TcpStream, endpoint: Endpoint, tokens: u32, usage: Option<Usage>, body: Instant) -> Self {
        Paced { socket, endpoint, tokens, usage, body_complete: body, next: 0, last_write: None, back: None }
    }

    /// When the next event is due.
    fn due(&self, schedule: &Schedule) -> Instant {
        let offset = schedule.due(self.next);
        self.body_complete.checked_add(offset).unwrap_or_else(|| self.body_complete + Duration::from_secs(1 << 32))
    }

    /// Notes that the next event was written whole at `now`: what the
    /// truth records for it.
    pub(super) fn wrote(&mut self, now: Instant) -> Written {
        let written = match self.last_write {
            None => Written::First(now - self.body_complete),
            Some(previous) => Written::Gap(now - previous),
        };
        self.last_write = Some(now);
        self.next += 1;
        written
    }

    /// Every event is written.
    pub(super) fn finished(&self, schedule: &Schedule) -> bool {
        self.next >= schedule.events(self.tokens)
    }

    pub(super) fn socket(&mut self) -> &mut TcpStream {
        &mut self.socket
    }

    pub(super) fn into_socket(self) -> TcpStream {
        self.socket
    }

    fn hand_back(mut self, handback: impl FnOnce(Paced) -> Handback) {
        if let Some(back) = self.back.take() {
            // A task that is gone has dropped its connection: nothing to do.
            let _ = back.send(handback(self));
        }
    }
}

/// Where a thread's connections hand their streams to its pacer.
#[derive(Clone)]
pub(in crate::server) struct Inbox(mpsc::UnboundedSender<Paced>);

impl Inbox {
    /// Hands `stream` over; resolves when the pacer gives it back.
    pub(super) async fn pace(&self, mut stream: Paced) -> Handback {
        let (back, handback) = oneshot::channel();
        stream.back = Some(back);
        if self.0.send(stream).is_err() {
            return Handback::Failed;
        }
        handback.await.unwrap_or(Handback::Failed)
    }
}

/// A pacer and the inbox of its streams; `None` if it has no alarm.
pub(super) fn pacer(shared: Arc<Shared>) -> Option<(Inbox, Pacer)> {
    let alarm = Alarm::new().ok()?;
    let (inbox, streams) = mpsc::unbounded_channel();
    let pacer = Pacer { shared, alarm, streams, queue: Deadlines::default(), written: Vec::new(), last: Vec::new() };
    Some((Inbox(inbox), pacer))
}

pub(super) struct Pacer {
    shared: Arc<Shared>,
    alarm: Alarm,
    streams: mpsc::UnboundedReceiver<Paced>,
    queue: Deadlines<Paced>,
    /// Writes of this turn, recorded in the truth together.
    written: Vec<Written>,
    /// Room for a stream's last event and what closes it.
    last: Vec<u8>,
}

impl Pacer {
    /// Writes every event when it is due; returns when no connection can
    /// hand it a stream any more.
    pub(super) async fn run(mut self) {
        let Some(mock) = self.shared.llm.as_ref() else { return };
        let schedule = mock.schedule;
        loop {
            while let Ok(stream) = self.streams.try_recv() {
                self.queue.put(stream.due(&schedule), stream);
            }
            self.write_due(Instant::now());
            let Some(next) = self.queue.next() else {
                match self.streams.recv().await {
                    Some(stream) => self.queue.put(stream.due(&schedule), stream),
                    None => return,
                }
                continue;
            };
            if next <= Instant::now() {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                () = self.alarm.until(next) => {}
                stream = self.streams.recv() => match stream {
                    Some(stream) => self.queue.put(stream.due(&schedule), stream),
                    None => return,
                },
            }
        }
    }

    /// Writes the events due at `now` (up to a turn's worth).
    fn write_due(&mut self, now: Instant) {
        let shared = Arc::clone(&self.shared);
        let Some(mock) = shared.llm.as_ref() else { return };
        let schedule = mock.schedule;
        for _ in 0..EVENTS_PER_TURN {
            let Some((_, stream)) = self.queue.take_due(now) else { break };
            if let Some(stream) = self.write_next(stream) {
                self.queue.put(stream.due(&schedule), stream);
            }
        }
        if !self.written.is_empty() {
            mock.truth.record(&self.written);
            self.written.clear();
        }
    }

    /// Writes `stream`'s next event; returns the stream if it has more.
    fn write_next(&mut self, mut stream: Paced) -> Option<Paced> {
        let mock = self.shared.llm.as_ref()?;
        let schedule = &mock.schedule;
        let events = schedule.events(stream.tokens);
        let i = stream.next;
        let tokens = schedule.tokens_in(i, stream.tokens);
        let mut scratch = Vec::new();
        let event = mock.prebuilt.content(stream.endpoint, i == 0, tokens, &mut scratch);
        let bytes = if i + 1 < events {
            event
        } else {
            // The last content event and what closes the stream, in one
            // write, the request counted first (as the plain server does).
            self.last.clear();
            self.last.extend_from_slice(event);
            self.last.extend_from_slice(&closing_events(stream.endpoint, stream.usage));
            self.shared.requests.fetch_add(1, Ordering::Relaxed);
            &self.last
        };
        match stream.socket.try_write(bytes) {
            Ok(n) if n == bytes.len() => {
                self.written.push(stream.wrote(Instant::now()));
                if !stream.finished(schedule) {
                    return Some(stream);
                }
                stream.hand_back(|stream| Handback::Done(stream.socket));
            }
            Ok(n) => {
                let rest = bytes[n..].to_vec();
                stream.hand_back(|stream| Handback::Blocked(stream, rest));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let rest = bytes.to_vec();
                stream.hand_back(|stream| Handback::Blocked(stream, rest));
            }
            Err(_) => stream.hand_back(|_| Handback::Failed),
        }
        None
    }
}
