//! Bytes that arrive when no response is being read: the server's TLS
//! handshake flights, and whatever comes on an idle connection between
//! requests. Kept apart from the response path in `mod.rs`.

use std::time::Instant;

use super::Connection;
use crate::stats::ErrorKind;

impl Connection {
    /// Bytes arrived on an idle connection (no request in flight). TLS
    /// messages the server may send at any time (session tickets) are
    /// absorbed; anything else means the connection cannot be reused.
    pub(super) fn idle_data(&mut self, data: &[u8]) {
        let usable = match self.tls_layer.as_mut() {
            Some(layer) if !data.is_empty() => {
                let mut plaintext = false;
                let fed = layer.feed(data, &mut |plain| plaintext |= !plain.is_empty());
                !plaintext && fed.is_ok_and(|received| !received.closed)
            }
            _ => data.is_empty(),
        };
        if !usable {
            self.drop_connection();
        }
    }

    /// A flight of the server's handshake arrived.
    pub(super) fn handshake_data(&mut self, data: &[u8], now: Instant) {
        let Some(layer) = self.tls_layer.as_mut() else { return self.finish(Err(ErrorKind::TlsOther), now) };
        let mut plaintext = false;
        let fed = layer.feed(data, &mut |plain| plaintext |= !plain.is_empty());
        match fed {
            Err(kind) => return self.finish(Err(kind), now),
            Ok(received) if received.closed => return self.finish(Err(ErrorKind::ClosedBeforeResponse), now),
            // Nothing was asked yet: application data now is not HTTP.
            Ok(_) if plaintext => return self.finish(Err(ErrorKind::InvalidResponse), now),
            Ok(_) => {}
        }
        if layer.is_handshaking() {
            self.outbox.set_transmit(layer.has_output());
            return;
        }
        self.handshake = layer.handshake(now);
        if self.opening.is_some() && layer.has_output() {
            // Finish the handshake before the clock starts.
            self.outbox.set_transmit(true);
            return;
        }
        // A request goes out with the handshake's last flight.
        self.ready(now)
    }
}
