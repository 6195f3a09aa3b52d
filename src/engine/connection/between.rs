//! The connection's setup and the bytes that arrive when no response is
//! being read: the socket connected, the proxy's replies while a tunnel
//! opens, the server's TLS handshake flights, and whatever comes on an
//! idle connection between requests. Kept apart from the response path in
//! `mod.rs`.

use std::time::Instant;

use super::tls_layer::TlsLayer;
use super::tunnel::{Fed, TunnelLayer};
use super::{Connection, Stage};
use crate::stats::ErrorKind;

impl Connection {
    /// The socket asked for by [`Io::Connect`] connected, or could not.
    pub fn handle_connected(&mut self, result: Result<(), ErrorKind>, now: Instant) {
        if let Err(kind) = result {
            self.connect_failures = self.connect_failures.saturating_add(1);
            return self.finish(Err(kind), now);
        }
        self.connected = true;
        self.reused = false;
        self.low_water = 1;
        if let Some(opening) = &self.tunnel {
            // Through a proxy, success is the tunnel opening ([`Self::tunnel_data`]).
            self.tunnel_layer = Some(Box::new(TunnelLayer::new(opening, now)));
            self.stage = Stage::Tunneling;
            return self.outbox.set_transmit(true);
        }
        self.connect_failures = 0;
        self.secure(now)
    }

    /// The connection reaches the target (directly, or through the open
    /// tunnel): the TLS handshake begins for `https://`, else it is ready.
    pub(super) fn secure(&mut self, now: Instant) {
        let Some(target) = &self.tls else { return self.ready(now) };
        match TlsLayer::new(target, now) {
            Ok(layer) => {
                self.tls_layer = Some(Box::new(layer));
                self.stage = Stage::Handshaking;
                self.outbox.set_transmit(true);
            }
            Err(kind) => self.finish(Err(kind), now),
        }
    }

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

    /// The proxy's reply arrived, or part of it: once the tunnel is open
    /// the connection goes on to TLS or the request.
    pub(super) fn tunnel_data(&mut self, data: &[u8], now: Instant) {
        let Some(layer) = self.tunnel_layer.as_mut() else { return self.finish(Err(ErrorKind::ProxyClosed), now) };
        match layer.feed(data, now) {
            Err(kind) => self.finish(Err(kind), now),
            Ok(Fed::Pending) => self.outbox.set_transmit(layer.has_output()),
            // We speak first through the tunnel (the request, or TLS's
            // ClientHello): bytes with the reply are not the target's.
            Ok(Fed::Open { used, .. }) if data.len() > used => self.finish(Err(ErrorKind::ProxyInvalidReply), now),
            Ok(Fed::Open { ns, .. }) => {
                (self.tunnel_layer, self.tunneled) = (None, Some(ns));
                self.connect_failures = 0;
                self.secure(now);
            }
        }
    }

    /// A failure while the tunnel opens (a refusal, a garbled reply, the
    /// proxy closing, a timeout) counts as a connect failure, so that a
    /// refusing proxy gets the same [`Connection::backoff`] as a refusing target.
    pub(super) fn count_tunnel_failure(&mut self, result: &Result<u16, ErrorKind>) {
        if self.stage == Stage::Tunneling && result.is_err() {
            self.connect_failures = self.connect_failures.saturating_add(1);
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
