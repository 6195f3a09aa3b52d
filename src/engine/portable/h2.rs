//! The portable backend's HTTP/2 driver: one future per connection slot,
//! carrying up to `--streams` streams of one [`H2Connection`]. A separate
//! loop from the HTTP/1.1 one (which awaits one request at a time and is
//! the hot path this leaves untouched): here the future waits for whatever
//! comes first of the socket's data, the machine's next deadline and the
//! policy's next start, since streams start and end independently. Which
//! stream starts when is [`Streams`]'s answer, shared with every backend.

use std::io;
use std::time::Instant;

use tokio::time::sleep_until;

use super::{ConnectionDriver, Socket};
use crate::engine::connection::{H2Connection, Io, Outgoing};
use crate::engine::errno::classify;
use crate::engine::streams::{Streams, h2_slot};
use crate::stats::ErrorKind;

/// A slot's socket (if open), its machine and its streams' timings.
pub(super) type H2Slot = (Option<Socket>, H2Connection, Streams);

impl ConnectionDriver<'_> {
    pub(super) fn new_h2_slot(&self) -> H2Slot {
        let (conn, streams) = h2_slot(self.shared, self.tls.clone());
        (None, conn, streams)
    }

    /// Opens one connection before the start: connect, TLS and the
    /// server's SETTINGS, by `until`.
    pub(super) async fn preconnect_h2(&self, until: Instant) -> H2Slot {
        let mut slot = self.new_h2_slot();
        slot.1.open(Instant::now(), until);
        self.run_h2(&mut slot, true).await;
        slot
    }

    /// Runs the slot's streams until the policy retires them and the last
    /// one ended (or, `opening`, until the pre-connect's end).
    pub(super) async fn run_h2(&self, (socket, conn, streams): &mut H2Slot, opening: bool) {
        loop {
            let mut opened = false;
            loop {
                if let Some(io) = conn.poll_io() {
                    self.carry_h2(io, conn, socket).await;
                    continue;
                }
                let Some(event) = conn.poll_event() else { break };
                opened |= streams.event(&mut self.policy.borrow_mut(), conn, event, Instant::now());
            }
            if opening {
                if opened {
                    return;
                }
            } else {
                let filled = streams.fill(&mut self.policy.borrow_mut(), conn, Instant::now());
                if filled.started > 0 {
                    continue;
                }
                if streams.retired() && conn.in_flight() == 0 {
                    return;
                }
                if !self.wait_h2(conn, socket, filled.wake).await {
                    return;
                }
                continue;
            }
            if !self.wait_h2(conn, socket, None).await {
                return;
            }
        }
    }

    /// Waits for the socket's data, the machine's deadline or the policy's
    /// `wake`, whichever comes first, and hands it to the machine: false
    /// when there is nothing to wait for.
    async fn wait_h2(&self, conn: &mut H2Connection, socket: &mut Option<Socket>, wake: Option<Instant>) -> bool {
        let deadline = conn.poll_timeout();
        let reading = socket.as_ref().filter(|_| conn.wants_receive());
        if reading.is_none() && deadline.is_none() && wake.is_none() {
            if conn.in_flight() == 0 {
                return false;
            }
            // Streams in flight and nothing that could end them.
            conn.handle_io_error(ErrorKind::Io, Instant::now());
            return true;
        }
        let readable = async {
            match reading {
                Some(s) => s.readable().await,
                None => std::future::pending().await,
            }
        };
        let timed_out = async {
            match deadline {
                Some(at) => sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let woken = async {
            match wake {
                Some(at) => self.clock.until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ready = readable => match ready {
                Ok(()) => self.receive_h2(conn, socket),
                Err(e) => conn.handle_io_error(classify(&e), Instant::now()),
            },
            () = timed_out => conn.handle_timeout(Instant::now()),
            () = woken => {}
        }
        true
    }

    /// Carries out one I/O the machine asks for.
    async fn carry_h2(&self, io: Io, conn: &mut H2Connection, socket: &mut Option<Socket>) {
        match io {
            Io::Close => *socket = None,
            Io::Connect => {
                let result = self.connect().await.map(|s| *socket = Some(s));
                conn.handle_connected(result, Instant::now());
            }
            Io::Transmit(Outgoing::Bytes(bytes)) => {
                let written = match socket.as_mut() {
                    None => Err(ErrorKind::Io),
                    Some(s) => s.write_all(&bytes).await.map_err(|e| classify(&e)),
                };
                conn.handle_sent(written, Instant::now());
            }
            Io::Transmit(Outgoing::Request(_)) => unreachable!("HTTP/2 sends its own bytes"),
        }
    }

    /// Hands one read's worth to the machine.
    fn receive_h2(&self, conn: &mut H2Connection, socket: &mut Option<Socket>) {
        let Some(s) = socket.as_mut() else { return conn.handle_io_error(ErrorKind::Io, Instant::now()) };
        let mut scratch = self.scratch.borrow_mut();
        match s.try_read(&mut scratch, conn.wants_arrival_stamps()) {
            Ok((0, _)) => conn.handle_eof(Instant::now()),
            Ok((n, stamp)) => {
                let now = Instant::now();
                match stamp {
                    Some(stamp) => conn.handle_stamped_data(&scratch[..n], now, stamp.instant()),
                    None => conn.handle_data(&scratch[..n], now),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => conn.handle_io_error(classify(&e), Instant::now()),
        }
    }
}
