//! The HTTP/2 connection's setup before its session runs: the proxy's
//! replies while a tunnel opens, then the server's TLS handshake flights
//! (ALPN must say `h2`). Kept apart from the open session's paths in
//! `mod.rs`.

use std::time::Instant;

use super::super::tunnel::Fed;
use super::{ALPN_H2, H2Connection};
use crate::stats::ErrorKind;

impl H2Connection {
    /// The proxy's reply arrived, or part of it: once the tunnel is open
    /// the connection goes on to TLS or the session.
    pub(super) fn tunnel_data(&mut self, data: &[u8], now: Instant) {
        let Some(layer) = self.tunnel_layer.as_mut() else { return self.unusable(ErrorKind::ProxyClosed, now) };
        match layer.feed(data, now) {
            Err(kind) => self.unusable(kind, now),
            Ok(Fed::Pending) => self.io.transmit = layer.has_output(),
            // We speak first through the tunnel (TLS's ClientHello, or the
            // h2c preface, which the server's SETTINGS may await): bytes
            // with the reply are not the target's, as on HTTP/1.1.
            Ok(Fed::Open { used, .. }) if data.len() > used => self.unusable(ErrorKind::ProxyInvalidReply, now),
            Ok(Fed::Open { ns, .. }) => {
                (self.tunnel_layer, self.table.tunnel) = (None, Some(ns));
                self.secure(now);
            }
        }
    }

    /// A flight of the server's TLS handshake arrived (and perhaps, right
    /// after its end, the start of the server's HTTP/2 preface).
    pub(super) fn handshake_data(&mut self, data: &[u8], now: Instant) {
        let Some(layer) = self.tls_layer.as_mut() else { return self.unusable(ErrorKind::TlsOther, now) };
        let mut early = Vec::new();
        match layer.feed(data, &mut |plain| early.extend_from_slice(plain)) {
            Err(kind) => return self.unusable(kind, now),
            Ok(received) if received.closed => return self.unusable(ErrorKind::ClosedBeforeResponse, now),
            Ok(_) => {}
        }
        if layer.is_handshaking() {
            self.io.transmit = layer.has_output();
            return;
        }
        self.table.handshake = layer.handshake(now);
        if layer.alpn_protocol() != Some(ALPN_H2) {
            return self.unusable(ErrorKind::H2NotNegotiated, now);
        }
        self.session_ready(now);
        if !early.is_empty() {
            self.read_plain(&early, now, now);
        }
    }
}
