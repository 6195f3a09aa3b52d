//! One client TLS connection without I/O, over rustls's buffered
//! `ClientConnection`: the backend hands in the ciphertext it received and
//! takes out the ciphertext to send; plaintext goes in as whole requests and
//! comes out as borrowed slices for the HTTP reader. No plaintext is copied
//! on the way out (rustls's reader is read in place), and the kernel never
//! sees a pointer into rustls's own buffers.

use std::io::{BufRead, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind};

use super::TlsFailure;

/// A client TLS connection.
pub struct Session {
    conn: ClientConnection,
}

/// What one call to [`Session::receive`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// The server sent close_notify: nothing more will come.
    pub closed: bool,
}

/// What the handshake settled on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub version: rustls::ProtocolVersion,
    pub suite: rustls::CipherSuite,
    pub group: Option<rustls::NamedGroup>,
    /// The handshake resumed an earlier session.
    pub resumed: bool,
}

impl Negotiated {
    /// Printable names of the version, cipher suite and key-exchange group
    /// (static, so that recording them allocates nothing).
    pub fn names(&self) -> (&'static str, &'static str, &'static str) {
        let version = match self.version {
            rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3",
            rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2",
            other => other.as_str().unwrap_or("unknown"),
        };
        let suite = self.suite.as_str().unwrap_or("unknown");
        let group = self.group.and_then(|g| g.as_str()).unwrap_or("none");
        (version, suite, group)
    }
}

impl Session {
    /// A connection to `server` (its name is sent as SNI and checked against
    /// the certificate); its ClientHello is ready in [`Session::outgoing`].
    pub fn new(config: Arc<ClientConfig>, server: ServerName<'static>) -> Result<Session, TlsFailure> {
        let mut conn = ClientConnection::new(config, server).map_err(|e| TlsFailure::of(&e))?;
        // A request is queued whole even before the handshake ends (its
        // size is bounded by the command line, not by the peer).
        conn.set_buffer_limit(None);
        Ok(Session { conn })
    }

    /// Queues request bytes; they are encrypted once the handshake allows.
    pub fn send(&mut self, plaintext: &[u8]) {
        // Cannot fail: the buffer limit is off and nothing is written yet.
        let _ = self.conn.writer().write_all(plaintext);
    }

    /// Writes the ciphertext waiting to be sent into `out` (an in-memory
    /// buffer: a writer that refuses bytes would lose them).
    pub fn outgoing(&mut self, out: &mut dyn Write) {
        while self.conn.wants_write() {
            if self.conn.write_tls(out).is_err() {
                break;
            }
        }
    }

    /// Ciphertext is waiting to be sent.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Feeds ciphertext received from the server; every piece of plaintext
    /// it decrypts goes to `plain`, in order. Bytes after close_notify are
    /// ignored.
    pub fn receive(&mut self, mut ciphertext: &[u8], plain: &mut dyn FnMut(&[u8])) -> Result<Received, TlsFailure> {
        let mut received = Received::default();
        let mut stalled = false;
        // Never called with an empty slice: rustls takes a read of 0 bytes
        // for the end of the stream.
        while !ciphertext.is_empty() && !received.closed {
            // read_tls takes at most one buffer's worth per call; what it
            // took must be processed and its plaintext drained before more.
            // It refuses (an error) when its buffer is full.
            let before = ciphertext.len();
            let _ = self.conn.read_tls(&mut ciphertext);
            let took = ciphertext.len() < before;
            if !took && stalled {
                return Err(TlsFailure::Protocol);
            }
            stalled = !took;
            self.conn.process_new_packets().map_err(|e| TlsFailure::of(&e))?;
            received.closed = self.drain(plain);
        }
        Ok(received)
    }

    /// Hands every decrypted byte to `plain`; true once close_notify came.
    fn drain(&mut self, plain: &mut dyn FnMut(&[u8])) -> bool {
        let mut reader = self.conn.reader();
        loop {
            match reader.fill_buf() {
                Ok([]) => return true,
                Ok(bytes) => {
                    let len = bytes.len();
                    plain(bytes);
                    reader.consume(len);
                }
                // WouldBlock: no more plaintext for now. UnexpectedEof is
                // only reported after the transport's EOF, which is the
                // HTTP layer's business (a body framed by close).
                Err(_) => return false,
            }
        }
    }

    /// The handshake is still going on.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The application protocol the server chose by ALPN, once it has.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// What the handshake settled on, once it is over.
    pub fn negotiated(&self) -> Option<Negotiated> {
        if self.conn.is_handshaking() {
            return None;
        }
        Some(Negotiated {
            version: self.conn.protocol_version()?,
            suite: self.conn.negotiated_cipher_suite()?.suite(),
            group: self.conn.negotiated_key_exchange_group().map(|g| g.name()),
            resumed: self.conn.handshake_kind() == Some(HandshakeKind::Resumed),
        })
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
